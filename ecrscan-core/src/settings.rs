//! Settings read from the environment, each validated: a value that is set
//! but cannot be used is an error naming the variable and its rule, never
//! silently the default.
//!
//! Every variable any of ecrscan's programs reads is listed in
//! [`ENVIRONMENT`], the table the README prints.

use std::num::{NonZeroU32, NonZeroUsize};

/// An environment setting that is set but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?} is not valid: {rule}")]
pub struct InvalidSetting {
    /// The variable.
    pub name: &'static str,
    /// Its value, cut to 40 characters.
    pub value: String,
    /// What it must be.
    pub rule: String,
}

/// One environment variable ecrscan reads: its name, which programs read
/// it, and what it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvironmentSetting {
    /// The variable.
    pub name: &'static str,
    /// Who reads it: `cli`, `lambda` (every function) or a function's binary.
    pub read_by: &'static str,
    /// What it must be, and its default.
    pub rule: &'static str,
}

/// Every environment variable ecrscan's programs read, besides the AWS
/// SDK's own (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`,
/// `AWS_MAX_ATTEMPTS`, …) and `RUST_LOG`.
pub const ENVIRONMENT: &[EnvironmentSetting] = &[
    EnvironmentSetting {
        name: "ECRSCAN_STORE",
        read_by: "cli, lambda",
        rule: "where configs and results are kept: s3://bucket[/prefix], file:///dir, memory:// or a path",
    },
    EnvironmentSetting {
        name: "ECR_SCAN_CONFIG_BUCKET",
        read_by: "cli, lambda",
        rule: "the AWS sample's variable: a bucket name, meaning s3://bucket (used when ECRSCAN_STORE is not set)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_CALLS_PER_SECOND",
        read_by: "cli, lambda",
        rule: "a hard ceiling of calls a second per ECR action, account and region: a whole number from 1 to 10000 (default: none, the rate adapts)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_ASSUME_ROLE",
        read_by: "cli, lambda",
        rule: "the role to assume in registries of other accounts: an ARN template with {account} (and optionally {partition}), e.g. arn:{partition}:iam::{account}:role/ecrscan-reader (default: none, the caller's credentials everywhere)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_EXTERNAL_ID",
        read_by: "cli, lambda",
        rule: "the external id those roles ask for: 2-1224 characters of letters, digits and +=,.@:/_- (default: none)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_CONCURRENCY",
        read_by: "cli, ecrscan-api",
        rule: "AWS calls in flight: a whole number from 1 to 1024 (default 32)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_RESULT_HISTORY",
        read_by: "cli, lambda",
        rule: "complete results kept per image digest: a whole number from 1 to 100 (default 2)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_API_URL",
        read_by: "cli, lambda",
        rule: "the deployed API's URL, for links in notifications and their CloudEvents source (default: none)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_WORK_QUEUE_URL",
        read_by: "ecrscan-start-scan, ecrscan-scan-worker",
        rule: "the SQS queue the scheduled scan is planned onto (default: none, scans start in the scheduled function)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_DEAD_LETTER_QUEUE_URL",
        read_by: "ecrscan-scan-worker",
        rule: "the work queue's dead-letter queue; set with ECRSCAN_MAX_RECEIVES",
    },
    EnvironmentSetting {
        name: "ECRSCAN_MAX_RECEIVES",
        read_by: "ecrscan-scan-worker",
        rule: "the work queue's maxReceiveCount: a whole number from 1 to 1000; set with ECRSCAN_DEAD_LETTER_QUEUE_URL",
    },
    EnvironmentSetting {
        name: "ECRSCAN_LISTEN",
        read_by: "ecrscan-api",
        rule: "outside Lambda, the address to listen on (default 127.0.0.1:3000)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_API_TOKEN",
        read_by: "ecrscan-api",
        rule: "outside Lambda, the bearer token every request must carry; required to listen on an address other than loopback (at least 16 characters)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_ALLOWED_HOSTS",
        read_by: "ecrscan-api",
        rule: "outside Lambda, comma-separated host names requests may name in Host besides the listen address (default: none)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_PUBLIC_URL",
        read_by: "ecrscan-api",
        rule: "the API's public base URL, for the feeds' self links (default: from API Gateway)",
    },
    EnvironmentSetting {
        name: "ECRSCAN_CORS_ALLOW_ORIGIN",
        read_by: "ecrscan-api",
        rule: "the one origin allowed to call the API from a browser (default: none)",
    },
];

/// A variable's value; an empty value counts as not set.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Parses the variable `name` with `parse` when it is set (an empty value
/// included: a number that is set must be one); a value `parse` refuses is
/// [`InvalidSetting`] with `rule`.
pub fn parse_var<T>(
    name: &'static str,
    rule: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, InvalidSetting> {
    let value = match std::env::var(name) {
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(value)) => value.to_string_lossy().into_owned(),
    };
    parse(value.trim()).map(Some).ok_or_else(|| InvalidSetting {
        name,
        value: value.chars().take(40).collect(),
        rule: rule.to_owned(),
    })
}

/// A whole number in `range`, as a `u64`.
pub fn whole_number_in(range: std::ops::RangeInclusive<u64>) -> impl Fn(&str) -> Option<u64> {
    move |value: &str| value.parse::<u64>().ok().filter(|n| range.contains(n))
}

/// `ECRSCAN_CALLS_PER_SECOND`: 1 to 10,000, or not set.
pub fn calls_per_second() -> Result<Option<NonZeroU32>, InvalidSetting> {
    parse_var(
        "ECRSCAN_CALLS_PER_SECOND",
        "a whole number of calls a second from 1 to 10000",
        |value| parse_calls_per_second(value).ok(),
    )
}

/// Parses a calls-a-second ceiling: a whole number from 1 to 10,000.
pub fn parse_calls_per_second(value: &str) -> Result<NonZeroU32, String> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("{value:?} is not a whole number from 1 to 10000"))
}

/// `ECRSCAN_CONCURRENCY`: 1 to 1,024, or not set.
pub fn concurrency() -> Result<Option<NonZeroUsize>, InvalidSetting> {
    parse_var(
        "ECRSCAN_CONCURRENCY",
        "a whole number of calls in flight from 1 to 1024",
        |value| parse_concurrency(value).ok(),
    )
}

/// Parses a number of calls in flight: a whole number from 1 to 1,024.
pub fn parse_concurrency(value: &str) -> Result<NonZeroUsize, String> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=1024).contains(n))
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| format!("{value:?} is not a whole number from 1 to 1024"))
}

/// Parses a role ARN template: `arn:` and an IAM role, with `{account}`
/// (and optionally `{partition}`) to fill in.
pub fn parse_role_template(value: &str) -> Result<String, String> {
    let value = value.trim();
    let filled = value
        .replace("{account}", "123456789012")
        .replace("{partition}", "aws");
    let parts: Vec<&str> = filled.splitn(6, ':').collect();
    let valid = value.contains("{account}")
        && value.len() <= 2048
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[5].starts_with("role/")
        && parts[5].len() > "role/".len()
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{:?} is not a role ARN template with {{account}}, e.g. arn:{{partition}}:iam::{{account}}:role/ecrscan-reader",
            value.chars().take(80).collect::<String>()
        ))
    }
}

/// Parses an external id: 2-1224 characters of letters, digits and
/// `+=,.@:/_-`, as STS allows.
pub fn parse_external_id(value: &str) -> Result<String, String> {
    let valid = (2..=1224).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
    if valid {
        Ok(value.to_owned())
    } else {
        Err("an external id is 2-1224 characters of letters, digits and +=,.@:/_-".into())
    }
}

/// `ECRSCAN_ASSUME_ROLE`, or not set (an empty value too: the template
/// passes its empty default).
pub fn assume_role() -> Result<Option<String>, InvalidSetting> {
    var("ECRSCAN_ASSUME_ROLE")
        .map(|value| {
            parse_role_template(&value).map_err(|rule| InvalidSetting {
                name: "ECRSCAN_ASSUME_ROLE",
                value: value.chars().take(40).collect(),
                rule,
            })
        })
        .transpose()
}

/// `ECRSCAN_EXTERNAL_ID`, or not set (an empty value too).
pub fn external_id() -> Result<Option<String>, InvalidSetting> {
    var("ECRSCAN_EXTERNAL_ID")
        .map(|value| {
            parse_external_id(&value).map_err(|rule| InvalidSetting {
                name: "ECRSCAN_EXTERNAL_ID",
                value: "(not shown)".into(),
                rule,
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_and_concurrency_refuse_zero_words_and_huge_numbers() {
        assert_eq!(parse_calls_per_second("20").map(NonZeroU32::get), Ok(20));
        assert_eq!(parse_calls_per_second(" 1 ").map(NonZeroU32::get), Ok(1));
        for bad in ["0", "abc", "-1", "10001", "1.5", ""] {
            assert!(parse_calls_per_second(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_concurrency("32").map(NonZeroUsize::get), Ok(32));
        for bad in ["0", "many", "1025", "-3"] {
            assert!(parse_concurrency(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_templates_and_external_ids() {
        assert!(parse_role_template("arn:{partition}:iam::{account}:role/ecrscan-reader").is_ok());
        assert!(parse_role_template("arn:aws:iam::{account}:role/path/reader").is_ok());
        for bad in [
            "arn:aws:iam::123456789012:role/fixed",
            "ecrscan-reader",
            "arn:aws:s3:::{account}",
            "arn:aws:iam::{account}:user/x",
            "arn:aws:iam::{account}:role/",
        ] {
            assert!(parse_role_template(bad).is_err(), "{bad}");
        }
        assert!(parse_external_id("ecrscan-7f3a").is_ok());
        assert!(parse_external_id("x").is_err());
        assert!(parse_external_id("has space").is_err());
    }

    #[test]
    fn the_readmes_environment_table_is_this_table() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("the workspace README");
        let start =
            "<!-- environment table: generated from ecrscan-core/src/settings.rs ENVIRONMENT -->";
        let table = readme
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once("<!-- end of environment table -->"))
            .map(|(table, _)| table)
            .expect("the README's environment table between its markers");
        let rows: Vec<&str> = table
            .lines()
            .filter(|line| line.starts_with("| `"))
            .collect();
        let expected: Vec<String> = ENVIRONMENT
            .iter()
            .map(|s| format!("| `{}` | {} | {} |", s.name, s.read_by, s.rule))
            .collect();
        assert_eq!(rows, expected, "update the README's table from ENVIRONMENT");
    }

    #[test]
    fn every_setting_a_program_reads_is_in_the_table() {
        let names: Vec<&str> = ENVIRONMENT.iter().map(|s| s.name).collect();
        for name in [
            "ECRSCAN_STORE",
            "ECR_SCAN_CONFIG_BUCKET",
            "ECRSCAN_CALLS_PER_SECOND",
            "ECRSCAN_CONCURRENCY",
            "ECRSCAN_RESULT_HISTORY",
            "ECRSCAN_API_URL",
            "ECRSCAN_WORK_QUEUE_URL",
            "ECRSCAN_DEAD_LETTER_QUEUE_URL",
            "ECRSCAN_MAX_RECEIVES",
        ] {
            assert!(names.contains(&name), "{name}");
        }
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a variable is listed twice");
    }
}
