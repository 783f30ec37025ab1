//! `selfcheck`: proves the runtime honours the task contract, touching no external service.
//!
//! Reports the version, the runtime and the configuration it sees (secrets redacted),
//! checks the scratch dir is writable, and writes a result. `--fail-with` ends on one of
//! the contract's failure outcomes so the operators' exit-code mapping can be tested
//! against real pods.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Context;
use crate::config::{Choice, flag_or_env};
use crate::error::{Result, TaskError};
use crate::result::TaskResult;
use crate::secrets::redacted_env;
use crate::{ENV_PREFIX, VERSION};

/// `selfcheck`'s own flags.
///
/// Field docs are the `--help` text, hence plain words, no Markdown.
#[allow(clippy::doc_markdown)]
#[derive(Debug, clap::Args)]
pub struct Args {
    /// End with this contract outcome: permanent, transient or nothing-to-do (env RSTASK_FAIL_WITH)
    #[arg(long, value_name = "KIND")]
    pub fail_with: Option<String>,
}

/// The outcome `--fail-with` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailWith {
    /// Exit 65.
    Permanent,
    /// Exit 75.
    Transient,
    /// Exit 99 with a `nothing_to_do` result.
    NothingToDo,
}

impl Choice for FailWith {
    const ALL: &'static [(&'static str, Self)] = &[
        ("permanent", Self::Permanent),
        ("transient", Self::Transient),
        ("nothing-to-do", Self::NothingToDo),
    ];
}

/// Creates, writes, reads back and removes a file in `dir`.
///
/// # Errors
/// [`TaskError::Permanent`] naming the directory.
pub fn check_scratch_dir(dir: &Path) -> Result<()> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let probe = dir.join(format!(".selfcheck-{}-{nanos}", std::process::id()));
    let payload = b"polyetl selfcheck\n";
    let checked = std::fs::write(&probe, payload).and_then(|()| std::fs::read(&probe));
    let _ = std::fs::remove_file(&probe);
    match checked {
        Ok(read) if read == payload => Ok(()),
        Ok(_) => Err(TaskError::permanent(format!(
            "scratch dir {} returned different bytes",
            crate::config::quote(&dir.to_string_lossy())
        ))),
        Err(e) => Err(TaskError::permanent(format!(
            "expected scratch dir {} to be writable, got: {e}",
            crate::config::quote(&dir.to_string_lossy())
        ))),
    }
}

/// Runs the checks and builds the result.
///
/// # Errors
/// A usage error for a bad `--fail-with`, a permanent one for an unusable scratch dir, or
/// the failure `--fail-with` asks for.
pub fn execute(args: &Args, ctx: &Context<'_>) -> Result<TaskResult> {
    let fail_with = flag_or_env(args.fail_with.as_deref(), "--fail-with", ctx.env)
        .map(|raw| FailWith::parse(&raw))
        .transpose()?;
    tracing::info!(version = VERSION, "selfcheck started");

    let scratch = &ctx.settings.scratch_dir;
    check_scratch_dir(scratch)?;
    tracing::debug!(scratch_dir = %scratch.display(), "scratch dir writable");

    let config: serde_json::Map<String, Value> = redacted_env(ctx.env, ENV_PREFIX)
        .into_iter()
        .map(|(name, value)| (name, Value::from(value)))
        .collect();
    let result = TaskResult::ok("selfcheck")
        .count("checks", 1)
        .count("failed", 0)
        .output(
            "runtime",
            format!("Rust {}", env!("RSTASK_BUILD_RUSTC_VERSION")),
        )
        .output("uid", rustix::process::geteuid().as_raw())
        .output("scratch_dir", scratch.to_string_lossy().into_owned())
        .output("config", config);

    match fail_with {
        Some(FailWith::Permanent) => Err(TaskError::permanent(
            "selfcheck asked to fail permanently (--fail-with permanent)",
        )),
        Some(FailWith::Transient) => Err(TaskError::transient(
            "selfcheck asked to fail transiently (--fail-with transient)",
        )),
        Some(FailWith::NothingToDo) => {
            tracing::info!(
                reason = "selfcheck asked for nothing to do (--fail-with nothing-to-do)",
                "nothing to do"
            );
            Ok(result.nothing_to_do())
        }
        None => {
            tracing::info!(checks = 1_u64, failed = 0_u64, "selfcheck done");
            Ok(result)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_dir_check_passes_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        check_scratch_dir(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn missing_scratch_dir_is_permanent_and_named() {
        let error = check_scratch_dir(Path::new("/definitely/not/a/dir")).unwrap_err();
        assert_eq!(error.kind(), "permanent");
        assert!(
            error.chain().contains("\"/definitely/not/a/dir\""),
            "{}",
            error.chain()
        );
    }
}
