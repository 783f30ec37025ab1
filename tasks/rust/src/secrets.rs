//! Secrets: recognised by name, read from env or from a file, never shown.
//!
//! A config key is secret when its name ends in `_PASSWORD`, `_SECRET`, `_TOKEN` or `_KEY`.
//! `<NAME>_FILE` names a file holding the value (a Kubernetes Secret volume).

use std::collections::BTreeMap;
use std::fmt;

use crate::config::Env;
use crate::error::{Result, TaskError};

/// What is shown in place of a secret value.
pub const REDACTED: &str = "[redacted]";

const SECRET_SUFFIXES: [&str; 4] = ["_PASSWORD", "_SECRET", "_TOKEN", "_KEY"];

/// Whether a config key holds a secret.
///
/// ```
/// use rstask::secrets::is_secret;
/// assert!(is_secret("RSTASK_S3_SECRET_ACCESS_KEY"));
/// assert!(is_secret("RSTASK_DEST_PASSWORD"));
/// assert!(!is_secret("RSTASK_DEST_PASSWORD_FILE"));
/// assert!(!is_secret("RSTASK_LOG_LEVEL"));
/// ```
#[must_use]
pub fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_SUFFIXES.iter().any(|suffix| upper.ends_with(suffix))
}

/// Every variable under `prefix`, sorted, with secret values replaced by [`REDACTED`].
#[must_use]
pub fn redacted_env(env: &Env, prefix: &str) -> BTreeMap<String, String> {
    env.iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, value)| {
            let shown = if is_secret(name) { REDACTED } else { value };
            (name.clone(), shown.to_owned())
        })
        .collect()
}

/// A secret value: its `Debug` and `Display` never show it; [`Secret::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub const fn new(value: String) -> Self {
        Self(value)
    }

    /// The value itself, for the one place that must send it (an auth header, a DSN).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Reads the secret `name` from `env`, or from the file `<name>_FILE` names (trailing
/// newline stripped). Setting both is a usage error, as is an unreadable file; the error
/// names the variables and the path, never the value.
///
/// # Errors
/// [`TaskError::Usage`] when both are set or the file cannot be read.
pub fn secret(env: &Env, name: &str) -> Result<Option<Secret>> {
    let file_var = format!("{name}_FILE");
    match (env.get(name), env.get(&file_var)) {
        (Some(_), Some(_)) => Err(TaskError::usage(format!(
            "expected only one of {name} and {file_var} to be set, got both"
        ))),
        (Some(value), None) => Ok(Some(Secret::new(value.clone()))),
        (None, Some(path)) => {
            let content = std::fs::read_to_string(path).map_err(|e| {
                TaskError::usage(format!(
                    "expected {file_var} to name a readable file, got: {} ({e})",
                    crate::config::quote(path)
                ))
            })?;
            let value = content.strip_suffix('\n').unwrap_or(&content);
            let value = value.strip_suffix('\r').unwrap_or(value);
            Ok(Some(Secret::new(value.to_owned())))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::env;

    #[test]
    fn redacts_secrets_and_keeps_file_paths() {
        let env = env(&[
            ("RSTASK_API_TOKEN", "t0k"),
            ("RSTASK_DB_PASSWORD_FILE", "/run/secrets/pw"),
            ("RSTASK_LOG_LEVEL", "debug"),
            ("OTHER_PASSWORD", "x"),
        ]);
        let shown = redacted_env(&env, "RSTASK_");
        assert_eq!(
            shown.into_iter().collect::<Vec<_>>(),
            vec![
                ("RSTASK_API_TOKEN".to_owned(), REDACTED.to_owned()),
                (
                    "RSTASK_DB_PASSWORD_FILE".to_owned(),
                    "/run/secrets/pw".to_owned()
                ),
                ("RSTASK_LOG_LEVEL".to_owned(), "debug".to_owned()),
            ]
        );
    }

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secret_from_env_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "from-file\n").unwrap();
        let path = path.to_str().unwrap();

        let direct = secret(&env(&[("X_PASSWORD", "direct")]), "X_PASSWORD").unwrap();
        assert_eq!(direct.unwrap().expose(), "direct");
        let filed = secret(&env(&[("X_PASSWORD_FILE", path)]), "X_PASSWORD").unwrap();
        assert_eq!(filed.unwrap().expose(), "from-file");
        assert!(secret(&env(&[]), "X_PASSWORD").unwrap().is_none());
    }

    #[test]
    fn secret_errors_name_variables_not_values() {
        let both = env(&[("X_PASSWORD", "v4lue"), ("X_PASSWORD_FILE", "/nope")]);
        let message = secret(&both, "X_PASSWORD").unwrap_err().chain();
        assert!(message.contains("X_PASSWORD_FILE"), "{message}");
        assert!(!message.contains("v4lue"), "{message}");

        let missing = env(&[("X_PASSWORD_FILE", "/definitely/not/here")]);
        let error = secret(&missing, "X_PASSWORD").unwrap_err();
        assert_eq!(error.kind(), "usage");
        assert!(
            error.chain().contains("\"/definitely/not/here\""),
            "{}",
            error.chain()
        );
    }
}
