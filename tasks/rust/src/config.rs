//! Configuration: flags parsed by clap, env fallbacks resolved here, validated once.
//!
//! clap parses the arguments; this module applies the contract's rule "a flag wins over its
//! env fallback `RSTASK_<FLAG>`" against the environment passed to [`crate::run`] (never the
//! process's own, so tests stay in-process and parallel), and turns raw strings into typed
//! values with errors that name the flag or variable and what was expected.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::ENV_PREFIX;
use crate::error::{Result, TaskError};

/// The environment a run sees.
pub type Env = BTreeMap<String, String>;

/// Quotes a bad value for an error message, the same way in every language (JSON string).
///
/// ```
/// assert_eq!(rstask::config::quote(r#"lo"ud"#), r#""lo\"ud""#);
/// ```
#[must_use]
pub fn quote(raw: &str) -> String {
    serde_json::Value::from(raw).to_string()
}

/// The env fallback of a flag.
///
/// ```
/// assert_eq!(rstask::config::env_name("--scratch-dir"), "RSTASK_SCRATCH_DIR");
/// ```
#[must_use]
pub fn env_name(flag: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        flag.trim_start_matches('-')
            .replace('-', "_")
            .to_ascii_uppercase()
    )
}

/// A raw setting and where it came from (the flag, or its env variable), for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// The value as given.
    pub value: String,
    /// `--flag` or `RSTASK_FLAG`.
    pub source: String,
}

/// The flag's value if given, else its env fallback's, else `None`.
#[must_use]
pub fn flag_or_env(flag_value: Option<&str>, flag: &str, env: &Env) -> Option<Raw> {
    if let Some(value) = flag_value {
        return Some(Raw {
            value: value.to_owned(),
            source: flag.to_owned(),
        });
    }
    let name = env_name(flag);
    env.get(&name).map(|value| Raw {
        value: value.clone(),
        source: name,
    })
}

/// A closed set of values a setting may take, spelled as on the command line.
pub trait Choice: Sized + Copy + 'static {
    /// Every value with its spelling, in the order messages list them.
    const ALL: &'static [(&'static str, Self)];

    /// Parses `raw`, or fails naming its source and the allowed values.
    ///
    /// # Errors
    /// [`TaskError::Usage`] when `raw` is not one of [`Choice::ALL`].
    fn parse(raw: &Raw) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == raw.value)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let allowed: Vec<&str> = Self::ALL.iter().map(|(name, _)| *name).collect();
                TaskError::usage(format!(
                    "expected {} to be one of {}, got: {}",
                    raw.source,
                    allowed.join(", "),
                    quote(&raw.value)
                ))
            })
    }

    /// The spelling of this value.
    fn as_str(self) -> &'static str
    where
        Self: PartialEq,
    {
        Self::ALL
            .iter()
            .find(|(_, value)| *value == self)
            .map_or("", |(name, _)| name)
    }
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Progress (default).
    Info,
    /// Something odd that does not stop the run.
    Warn,
    /// Failures only.
    Error,
}

impl Choice for LogLevel {
    const ALL: &'static [(&'static str, Self)] = &[
        ("debug", Self::Debug),
        ("info", Self::Info),
        ("warn", Self::Warn),
        ("error", Self::Error),
    ];
}

/// A path setting: any non-empty string.
///
/// # Errors
/// [`TaskError::Usage`] when it is empty.
pub fn path(raw: &Raw) -> Result<PathBuf> {
    if raw.value.is_empty() {
        return Err(TaskError::usage(format!(
            "expected {} to be a path, got: {}",
            raw.source,
            quote(&raw.value)
        )));
    }
    Ok(PathBuf::from(&raw.value))
}

/// A whole-number setting from 0 to `max`; `unit` says what it counts, for the message.
///
/// ```
/// use rstask::config::{Raw, whole_number};
/// let raw = |value: &str| Raw { value: value.into(), source: "--hold".into() };
/// assert_eq!(whole_number(&raw("20"), 60, "seconds").unwrap(), 20);
/// assert_eq!(
///     whole_number(&raw("-1"), 60, "seconds").unwrap_err().chain(),
///     r#"expected --hold to be a whole number of seconds from 0 to 60, got: "-1""#
/// );
/// ```
///
/// # Errors
/// [`TaskError::Usage`] when `raw` is not digits only, or above `max`.
pub fn whole_number(raw: &Raw, max: u64, unit: &str) -> Result<u64> {
    // Digits only: `parse` would also take a leading `+`.
    raw.value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| raw.value.parse::<u64>().ok())
        .flatten()
        .filter(|n| *n <= max)
        .ok_or_else(|| {
            TaskError::usage(format!(
                "expected {} to be a whole number of {unit} from 0 to {max}, got: {}",
                raw.source,
                quote(&raw.value)
            ))
        })
}

/// The common flags every command takes
///
/// Field docs are the `--help` text, hence plain words, no Markdown., before or after the command name.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Default, clap::Args)]
pub struct CommonArgs {
    /// Where to write the result JSON (env RSTASK_RESULT_FILE); unset: stdout
    #[arg(long, global = true, value_name = "PATH")]
    pub result_file: Option<String>,
    /// debug, info, warn or error (env RSTASK_LOG_LEVEL; default info)
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// The only place the task writes local files (env RSTASK_SCRATCH_DIR; default /tmp)
    #[arg(long, global = true, value_name = "DIR")]
    pub scratch_dir: Option<String>,
}

/// The common settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `None`: print the result on stdout.
    pub result_file: Option<PathBuf>,
    /// Lines below this level are not written.
    pub log_level: LogLevel,
    /// Writable scratch directory.
    pub scratch_dir: PathBuf,
}

impl Settings {
    /// Applies env fallbacks and defaults to the common flags and validates them.
    ///
    /// # Errors
    /// [`TaskError::Usage`] naming the first bad setting.
    pub fn resolve(args: &CommonArgs, env: &Env) -> Result<Self> {
        let result_file = flag_or_env(args.result_file.as_deref(), "--result-file", env)
            .map(|raw| path(&raw))
            .transpose()?;
        let log_level = flag_or_env(args.log_level.as_deref(), "--log-level", env)
            .map_or(Ok(LogLevel::Info), |raw| LogLevel::parse(&raw))?;
        let scratch_dir = flag_or_env(args.scratch_dir.as_deref(), "--scratch-dir", env)
            .map_or_else(|| Ok(PathBuf::from("/tmp")), |raw| path(&raw))?;
        Ok(Self {
            result_file,
            log_level,
            scratch_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::env;

    #[test]
    fn defaults() {
        let settings = Settings::resolve(&CommonArgs::default(), &Env::new()).unwrap();
        assert_eq!(
            settings,
            Settings {
                result_file: None,
                log_level: LogLevel::Info,
                scratch_dir: PathBuf::from("/tmp"),
            }
        );
    }

    #[test]
    fn flag_wins_over_env() {
        let args = CommonArgs {
            log_level: Some("warn".into()),
            ..CommonArgs::default()
        };
        let env = env(&[
            ("RSTASK_LOG_LEVEL", "debug"),
            ("RSTASK_SCRATCH_DIR", "/scratch"),
        ]);
        let settings = Settings::resolve(&args, &env).unwrap();
        assert_eq!(settings.log_level, LogLevel::Warn);
        assert_eq!(settings.scratch_dir, PathBuf::from("/scratch"));
    }

    #[test]
    fn bad_values_name_their_source() {
        let args = CommonArgs {
            log_level: Some("loud".into()),
            ..CommonArgs::default()
        };
        let error = Settings::resolve(&args, &Env::new()).unwrap_err();
        assert_eq!(
            error.chain(),
            r#"expected --log-level to be one of debug, info, warn, error, got: "loud""#
        );
        let error = Settings::resolve(&CommonArgs::default(), &env(&[("RSTASK_RESULT_FILE", "")]))
            .unwrap_err();
        assert_eq!(
            error.chain(),
            r#"expected RSTASK_RESULT_FILE to be a path, got: """#
        );
    }

    #[test]
    fn choice_spelling_round_trips() {
        for (name, level) in LogLevel::ALL {
            assert_eq!(level.as_str(), *name);
        }
    }
}
