//! `selfcheck`: proves the runtime honours the task contract, touching no external service.
//!
//! Reports the version, the runtime and the configuration it sees (secrets redacted),
//! checks the scratch dir is writable, and writes a result. `--hold` first waits (a task
//! that runs for a while, for fault tests); `--fail-with` ends on one of the contract's
//! failure outcomes so the operators' exit-code mapping can be tested against real pods.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Context;
use crate::config::{Choice, flag_or_env, whole_number};
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
    /// Wait this long after the checks, 0 to 86400, logging every 5 s, so fault tests can act while a task runs (env RSTASK_HOLD; default 0)
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub hold: Option<String>,
}

/// Longest `--hold`: a day.
pub const HOLD_MAX_S: u64 = 86_400;
/// How often a hold says how long is left.
pub const HELD_EVERY_S: u64 = 5;

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

/// Waits `seconds` through `sleep`, saying so every [`HELD_EVERY_S`]; nothing at all for 0.
/// SIGTERM needs no check here: its thread ends the process mid-sleep ([`crate::signals`]).
pub fn hold(seconds: u64, mut sleep: impl FnMut(Duration)) {
    if seconds == 0 {
        return;
    }
    tracing::info!(seconds, "selfcheck holding");
    let mut remaining = seconds;
    while remaining > 0 {
        let step = remaining.min(HELD_EVERY_S);
        sleep(Duration::from_secs(step));
        remaining -= step;
        if remaining > 0 {
            tracing::info!(remaining_s = remaining, "selfcheck held");
        }
    }
}

/// Runs the checks and builds the result.
///
/// # Errors
/// A usage error for a bad `--fail-with` or `--hold`, a permanent one for an unusable
/// scratch dir, or the failure `--fail-with` asks for.
pub fn execute(args: &Args, ctx: &Context<'_>) -> Result<TaskResult> {
    let fail_with = flag_or_env(args.fail_with.as_deref(), "--fail-with", ctx.env)
        .map(|raw| FailWith::parse(&raw))
        .transpose()?;
    let hold_s = flag_or_env(args.hold.as_deref(), "--hold", ctx.env)
        .map_or(Ok(0), |raw| whole_number(&raw, HOLD_MAX_S, "seconds"))?;
    tracing::info!(version = VERSION, "selfcheck started");

    let scratch = &ctx.settings.scratch_dir;
    check_scratch_dir(scratch)?;
    tracing::debug!(scratch_dir = %scratch.display(), "scratch dir writable");
    hold(hold_s, std::thread::sleep);

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
        .output("held_s", hold_s)
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
    use crate::config::LogLevel;
    use crate::logging;
    use crate::testing::Buf;

    #[test]
    fn hold_says_how_long_is_left_every_five_seconds() {
        let buf = Buf::default();
        let mut slept = Vec::new();
        let subscriber = logging::subscriber(LogLevel::Info, logging::sink(Box::new(buf.clone())));
        tracing::subscriber::with_default(subscriber, || {
            hold(12, |d| slept.push(d.as_secs()));
        });
        assert_eq!(slept, [5, 5, 2]);
        let lines: Vec<serde_json::Value> = buf
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let seen: Vec<(&str, &Value, &Value)> = lines
            .iter()
            .map(|l| (l["msg"].as_str().unwrap(), &l["seconds"], &l["remaining_s"]))
            .collect();
        assert_eq!(
            seen,
            [
                ("selfcheck holding", &Value::from(12), &Value::Null),
                ("selfcheck held", &Value::Null, &Value::from(7)),
                ("selfcheck held", &Value::Null, &Value::from(2)),
            ]
        );
    }

    #[test]
    fn no_hold_sleeps_and_logs_nothing() {
        let buf = Buf::default();
        let subscriber = logging::subscriber(LogLevel::Debug, logging::sink(Box::new(buf.clone())));
        tracing::subscriber::with_default(subscriber, || {
            hold(0, |_| panic!("no sleep for a zero hold"));
        });
        assert_eq!(buf.text(), "");
    }

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
