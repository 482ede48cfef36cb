//! Name patterns: `*` matches any run of characters, `/` included (Amazon
//! Inspector's `WILDCARD` semantics), everything else matches itself.
//!
//! A pattern is checked against the naming rule of what it matches — an
//! ECR repository name or an image tag — so a pattern that can never match
//! anything (`Prod/*` with its capital letter, `a//b*`) is refused when it
//! is written, not silently useless forever.
//!
//! ```
//! use ecrscan_core::pattern::{NameKind, Pattern};
//! let prod = Pattern::parse("prod/*", NameKind::Repository).unwrap();
//! assert!(prod.matches("prod/api"));
//! assert!(prod.matches("prod/team/api"));
//! assert!(!prod.matches("staging/api"));
//! assert!(Pattern::parse("Prod/*", NameKind::Repository).is_err());
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a pattern matches, and so which names it can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// ECR repository names: 2-256 characters, lowercase `/`-separated
    /// segments of letters and digits joined by single `.`, `_` or `-`.
    Repository,
    /// Image tags: 1-128 characters of letters, digits, `_`, `.` and `-`,
    /// not starting with `.` or `-`.
    Tag,
}

impl NameKind {
    fn max_len(self) -> usize {
        match self {
            NameKind::Repository => 256,
            NameKind::Tag => 128,
        }
    }

    fn allows(self, c: char) -> bool {
        match self {
            NameKind::Repository => {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/')
            }
            NameKind::Tag => c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
        }
    }

    fn rule(self) -> &'static str {
        match self {
            NameKind::Repository => {
                "a repository pattern is an ECR repository name (lowercase letters, digits, '.', '_', '-' and '/') \
                 in which '*' stands for any run of characters"
            }
            NameKind::Tag => {
                "a tag pattern is a Docker tag (letters, digits, '_', '.' and '-', not starting with '.' or '-') \
                 in which '*' stands for any run of characters"
            }
        }
    }
}

/// A name pattern; see the [module](self) documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pattern {
    text: String,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pattern:?} can never match: {problem}")]
pub struct InvalidPattern {
    /// The pattern, cut to 80 characters.
    pub pattern: String,
    /// What is wrong, and the rule.
    pub problem: String,
}

impl Pattern {
    /// Checks `text` against the naming rule of `kind`.
    pub fn parse(text: &str, kind: NameKind) -> Result<Pattern, InvalidPattern> {
        let invalid = |problem: String| InvalidPattern {
            pattern: text.chars().take(80).collect(),
            problem,
        };
        let literal_len = text.chars().filter(|&c| c != '*').count();
        if text.is_empty() {
            return Err(invalid(format!("it is empty; {}", kind.rule())));
        }
        if text.chars().count() > kind.max_len() * 2 || literal_len > kind.max_len() {
            return Err(invalid(format!(
                "it is longer than any name ({} characters at most)",
                kind.max_len()
            )));
        }
        if let Some(bad) = text.chars().find(|&c| c != '*' && !kind.allows(c)) {
            return Err(invalid(format!("{bad:?} is in no name; {}", kind.rule())));
        }
        match kind {
            NameKind::Tag => {
                if text.starts_with(['.', '-']) {
                    return Err(invalid("tags do not start with '.' or '-'".into()));
                }
            }
            NameKind::Repository => {
                let separator = |c: char| matches!(c, '.' | '_' | '-' | '/');
                if text.starts_with(separator) || text.ends_with(separator) {
                    return Err(invalid(
                        "repository names start and end with a letter or a digit".into(),
                    ));
                }
                let chars: Vec<char> = text.chars().collect();
                if chars
                    .windows(2)
                    .any(|pair| separator(pair[0]) && separator(pair[1]))
                {
                    return Err(invalid(
                        "repository names never have two separators ('.', '_', '-', '/') in a row"
                            .into(),
                    ));
                }
            }
        }
        Ok(Pattern {
            text: text.to_owned(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has a `*`, i.e. may match more than one name.
    pub fn is_wildcard(&self) -> bool {
        self.text.contains('*')
    }

    /// Whether `name` matches: the whole name, `*` standing for any run of
    /// characters (none included).
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.text.as_bytes(), name.as_bytes())
    }
}

/// `*`-only glob matching, linear in practice: on a mismatch, the last `*`
/// takes one more character.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// A pattern read back is kept as written; whoever reads it checks it
/// against its kind ([`Pattern::parse`]) before trusting it.
impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Pattern, D::Error> {
        Ok(Pattern {
            text: String::deserialize(deserializer)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(text: &str) -> Pattern {
        Pattern::parse(text, NameKind::Repository).unwrap()
    }

    #[test]
    fn star_matches_any_run_slashes_included() {
        assert!(repo("prod/*").matches("prod/api"));
        assert!(repo("prod/*").matches("prod/team/api"));
        assert!(!repo("prod/*").matches("prod"));
        assert!(repo("*/api").matches("prod/api"));
        assert!(repo("*/api").matches("a/b/api"));
        assert!(!repo("*/api").matches("api"));
        assert!(repo("*").matches("anything/at/all"));
        assert!(repo("a*b*c").matches("abc"));
        assert!(repo("a*b*c").matches("axxbyyc"));
        assert!(!repo("a*b*c").matches("axxbyy"));
        assert!(repo("test/ubuntu").matches("test/ubuntu"));
        assert!(!repo("test/ubuntu").matches("test/ubuntu2"));
        let tag = Pattern::parse("v1.*", NameKind::Tag).unwrap();
        assert!(tag.matches("v1.4.2-rc3"));
        assert!(!tag.matches("v10.0"));
        assert!(
            Pattern::parse("release-*", NameKind::Tag)
                .unwrap()
                .matches("release-")
        );
    }

    #[test]
    fn patterns_that_can_never_match_are_refused() {
        for bad in [
            "", "Prod/*", "prod//*", "/prod*", "prod/*/", "a b*", "prod/*?", "-a*",
        ] {
            assert!(
                Pattern::parse(bad, NameKind::Repository).is_err(),
                "{bad:?}"
            );
        }
        for bad in ["", ".hidden*", "-x", "a/b*", "a:b", &"a".repeat(129)] {
            assert!(Pattern::parse(bad, NameKind::Tag).is_err(), "{bad:?}");
        }
        let err = Pattern::parse("Prod/*", NameKind::Repository).unwrap_err();
        assert!(err.to_string().contains("'P' is in no name"), "{err}");
    }
}
