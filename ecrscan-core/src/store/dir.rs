//! [`DirStore`]: objects as files in a local directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::{ObjectMeta, ObjectStore, PutMode, StoreError, StoredObject, Version};

/// A store in a local directory: one file per object, configs as
/// `<id>.json` at the top in the AWS sample's JSON, results below
/// `results/`.
///
/// - A write goes to a temporary file in the same directory, is synced, then
///   renamed over the object's file (and the directory synced), so readers
///   and crashes see either the old or the new object, never a part of one.
/// - Writes to one directory hold an exclusive lock on its `.ecrscan.lock`
///   file, so create-only and compare-and-swap writes are checked and applied
///   in one step, also between processes. An object's version is a hash of
///   its bytes.
/// - Reads are bounded, never follow symbolic links and skip anything that
///   is not a regular file (a FIFO, a device, a directory), so a stray
///   special file cannot hang or exhaust a listing. Names starting with `.`
///   are not objects.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

const TEMP_PREFIX: &str = ".tmp-";
const LOCK_FILE: &str = ".ecrscan.lock";

impl DirStore {
    /// Opens (and creates, if needed) the directory.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<DirStore, StoreError> {
        let store = DirStore { dir: dir.into() };
        tokio::fs::create_dir_all(&store.dir)
            .await
            .map_err(|err| store.io_error("cannot create the directory", err))?;
        Ok(store)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io_error(&self, what: &str, err: io::Error) -> StoreError {
        StoreError::Backend {
            store: self.describe(),
            message: format!("{what}: {err}"),
            source: Some(Box::new(err)),
        }
    }

    /// Runs blocking file work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(DirStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(store))
            .await
            .map_err(|err| StoreError::Backend {
                store: self.describe(),
                message: format!("a file operation did not finish: {err}"),
                source: None,
            })?
    }
}

/// FNV-1a over the bytes, with their length: a file's version.
fn version_of(bytes: &[u8]) -> Version {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Version(format!("{hash:016x}-{}", bytes.len()))
}

/// Opens a regular file for reading without following a symbolic link and
/// without blocking on a FIFO; `None` for anything else or nothing.
fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        // O_NOFOLLOW on a symbolic link.
        #[cfg(unix)]
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
        Err(err) if err.kind() == io::ErrorKind::IsADirectory => return Ok(None),
        Err(err) => return Err(err),
    };
    if file.metadata()?.is_file() {
        Ok(Some(file))
    } else {
        Ok(None)
    }
}

impl DirStore {
    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let valid = !key.is_empty()
            && key.split('/').all(|part| {
                !part.is_empty() && part != "." && part != ".." && !part.starts_with('.')
            });
        if valid {
            Ok(self.dir.join(key))
        } else {
            Err(StoreError::InvalidKey {
                kind: super::RecordKind::Object,
                message: format!("{key:?} is not a relative key of plain names"),
            })
        }
    }

    fn read_file(
        &self,
        path: &Path,
        key: &str,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(file) = open_regular(path)
            .map_err(|err| self.io_error(&format!("cannot read {}", path.display()), err))?
        else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|err| self.io_error(&format!("cannot read {}", path.display()), err))?;
        if bytes.len() as u64 > max_bytes {
            return Err(StoreError::TooLarge {
                store: self.describe(),
                key: key.to_owned(),
                limit: max_bytes,
            });
        }
        Ok(Some(bytes))
    }

    /// Holds the exclusive write lock of `dir` while `work` runs.
    fn locked<T>(
        &self,
        dir: &Path,
        work: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        fs::create_dir_all(dir)
            .map_err(|err| self.io_error(&format!("cannot create {}", dir.display()), err))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|err| self.io_error(&format!("cannot lock {}", dir.display()), err))?;
        lock.lock()
            .map_err(|err| self.io_error(&format!("cannot lock {}", dir.display()), err))?;
        let result = work();
        // Closing the file releases the lock, also when unlocking fails.
        let _ = lock.unlock();
        result
    }

    fn write_atomically(&self, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = target.parent().unwrap_or(&self.dir);
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object");
        let temp = dir.join(format!("{TEMP_PREFIX}{name}-{}", Uuid::new_v4()));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temp, target)
        })();
        if let Err(err) = written {
            let _ = fs::remove_file(&temp);
            return Err(self.io_error(&format!("cannot write {}", target.display()), err));
        }
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectStore for DirStore {
    fn describe(&self) -> String {
        format!("directory {}", self.dir.display())
    }

    async fn get(&self, key: &str, max_bytes: u64) -> Result<Option<StoredObject>, StoreError> {
        let path = self.path_of(key)?;
        let key = key.to_owned();
        self.blocking(move |store| {
            Ok(store
                .read_file(&path, &key, max_bytes)?
                .map(|bytes| StoredObject {
                    version: version_of(&bytes),
                    bytes,
                }))
        })
        .await
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Version, StoreError> {
        let path = self.path_of(key)?;
        let key = key.to_owned();
        self.blocking(move |store| {
            let dir = path.parent().unwrap_or(&store.dir).to_owned();
            store.locked(&dir, || {
                let allowed = match &mode {
                    PutMode::Overwrite => true,
                    // Anything at the key, even what is not a regular file, is there.
                    PutMode::Create => fs::symlink_metadata(&path).is_err(),
                    PutMode::Update(expected) => {
                        store
                            .read_file(&path, &key, super::MAX_RECORD_BYTES)?
                            .map(|bytes| version_of(&bytes))
                            .as_ref()
                            == Some(expected)
                    }
                };
                if !allowed {
                    return Err(StoreError::Conflict {
                        store: store.describe(),
                        key: key.clone(),
                    });
                }
                store.write_atomically(&path, &bytes)?;
                Ok(version_of(&bytes))
            })
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path_of(key)?;
        self.blocking(move |store| {
            let dir = path.parent().unwrap_or(&store.dir).to_owned();
            store.locked(&dir, || match fs::remove_file(&path) {
                Ok(()) => Ok(true),
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(err) => Err(store.io_error(&format!("cannot delete {}", path.display()), err)),
            })
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let dir = if prefix.is_empty() {
            self.dir.clone()
        } else {
            self.path_of(prefix.trim_end_matches('/'))?
        };
        let prefix = prefix.to_owned();
        self.blocking(move |store| {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(err) => return Err(store.io_error("cannot list the directory", err)),
            };
            let mut objects = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|err| store.io_error("cannot list the directory", err))?;
                let Ok(name) = entry.file_name().into_string() else {
                    tracing::warn!(key = %entry.path().display(), "skipping a file whose name is not UTF-8");
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                // The entry itself, not what a symbolic link points at.
                let Ok(metadata) = fs::symlink_metadata(entry.path()) else { continue };
                if !metadata.is_file() {
                    if !metadata.is_dir() {
                        tracing::warn!(key = %entry.path().display(), "skipping something that is not a regular file");
                    }
                    continue;
                }
                objects.push(ObjectMeta {
                    key: format!("{prefix}{name}"),
                    size: Some(metadata.len()),
                });
            }
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(objects)
        })
        .await
    }
}
