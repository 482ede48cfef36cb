//! Golden files: expected output kept beside the tests that produce it.

use std::path::Path;

/// Asserts that `actual` equals the file `dir/name`, byte for byte. With
/// `UPDATE_GOLDEN` set in the environment it first writes `actual` there,
/// so a deliberate change of output is one run and a reviewed diff.
///
/// # Panics
///
/// When the file is missing or differs: this is an assertion for tests.
pub fn assert_golden(dir: &Path, name: &str, actual: &[u8]) {
    let path = dir.join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some()
        && let Err(err) = std::fs::write(&path, actual)
    {
        panic!("cannot update {}: {err}", path.display());
    }
    let expected = std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        String::from_utf8_lossy(actual),
        String::from_utf8_lossy(&expected),
        "{name} differs from its golden file {}",
        path.display()
    );
}
