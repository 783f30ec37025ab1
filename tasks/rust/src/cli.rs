//! The entry point's logic: parse, resolve settings, run the command, report, exit code.

use std::io::Write;

use clap::error::ErrorKind as ClapErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser};

use crate::commands::{Command, Context};
use crate::config::{CommonArgs, Env, LogLevel, Settings};
use crate::error::{Exit, TaskError};
use crate::logging::{self, Sink};
use crate::result::{self, Status};

/// `rstask <command> [flags]`: polyetl's Rust task steps (see docs/task-contract.md)
#[derive(Debug, Parser)]
#[command(
    name = "rstask",
    version,
    disable_help_subcommand = true,
    subcommand_required = true
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

/// Runs one invocation: `argv` without the program name, the environment it sees, and
/// where stdout and stderr go. Returns the exit code; never exits the process.
pub fn run(
    argv: &[String],
    env: &Env,
    stdout: &mut dyn Write,
    stderr: Box<dyn Write + Send>,
) -> Exit {
    let sink = logging::sink(stderr);
    let command_name = command_of(argv);
    let parsed = Cli::command()
        .try_get_matches_from(std::iter::once("rstask").chain(argv.iter().map(String::as_str)))
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion
            ) =>
        {
            return match write!(stdout, "{}", e.render()) {
                Ok(()) => Exit::Ok,
                Err(_) => Exit::Internal,
            };
        }
        Err(e) => {
            return report(
                &usage_error(&e),
                command_name.as_deref(),
                LogLevel::Info,
                sink,
            );
        }
    };
    let settings = match Settings::resolve(&cli.common, env) {
        Ok(settings) => settings,
        Err(e) => return report(&e, command_name.as_deref(), LogLevel::Info, sink),
    };

    let level = settings.log_level;
    let name = cli.command.name();
    let outcome =
        tracing::subscriber::with_default(logging::subscriber(level, sink.clone()), || {
            let result_file = settings.result_file.clone();
            let ctx = Context { settings, env };
            let result = cli.command.execute(&ctx)?;
            result::write(&result, result_file.as_deref(), stdout)?;
            Ok::<_, TaskError>(result.status)
        });
    match outcome {
        Ok(Status::Ok) => Exit::Ok,
        Ok(Status::NothingToDo) => Exit::NothingToDo,
        Err(e) => report(&e, Some(name), level, sink),
    }
}

/// Logs the one error line of a failed run and returns its exit code.
fn report(error: &TaskError, command: Option<&str>, level: LogLevel, sink: Sink) -> Exit {
    let exit = error.exit();
    let msg = if exit == Exit::Usage {
        "bad usage"
    } else {
        "command failed"
    };
    tracing::subscriber::with_default(logging::subscriber(level, sink), || {
        let (kind, code, chain) = (error.kind(), exit.code(), error.chain());
        if let Some(command) = command {
            tracing::error!(
                error_kind = kind,
                exit_code = code,
                command,
                error = chain,
                "{msg}"
            );
        } else {
            tracing::error!(error_kind = kind, exit_code = code, error = chain, "{msg}");
        }
    });
    exit
}

/// clap's first message line, or the contract's wording where clap has none.
fn usage_error(error: &clap::Error) -> TaskError {
    if error.kind() == ClapErrorKind::MissingSubcommand {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        return TaskError::usage(format!("expected a command, one of: {}", names.join(", ")));
    }
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    TaskError::usage(first.strip_prefix("error: ").unwrap_or(first))
}

/// For error lines only: the first argument naming a known command.
fn command_of(argv: &[String]) -> Option<String> {
    let cli = Cli::command();
    argv.iter()
        .find(|arg| cli.get_subcommands().any(|c| c.get_name() == arg.as_str()))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Buf, env};

    struct Run {
        exit: Exit,
        stdout: String,
        lines: Vec<serde_json::Value>,
    }

    fn invoke(args: &[&str], pairs: &[(&str, &str)]) -> Run {
        let arguments: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let vars = env(pairs);
        let err = Buf::default();
        let mut out = Vec::new();
        let exit = run(&arguments, &vars, &mut out, Box::new(err.clone()));
        let stderr = err.text();
        Run {
            exit,
            stdout: String::from_utf8(out).unwrap(),
            lines: stderr
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        }
    }

    #[test]
    fn help_and_version_go_to_stdout() {
        let help = invoke(&["--help"], &[]);
        assert_eq!(help.exit, Exit::Ok);
        assert!(help.stdout.contains("selfcheck"), "{}", help.stdout);
        assert!(help.lines.is_empty());
        let version = invoke(&["--version"], &[]);
        assert_eq!(
            (version.exit, version.stdout.as_str()),
            (Exit::Ok, "rstask 0.1.0\n")
        );
    }

    #[test]
    fn unknown_flag_is_one_usage_line_naming_it() {
        let run = invoke(&["selfcheck", "--nope"], &[]);
        assert_eq!(run.exit, Exit::Usage);
        assert_eq!(run.lines.len(), 1);
        let line = &run.lines[0];
        assert_eq!(
            (line["level"].as_str(), line["error_kind"].as_str()),
            (Some("error"), Some("usage"))
        );
        assert_eq!(line["exit_code"], 64);
        assert_eq!(line["command"], "selfcheck");
        assert!(line["error"].as_str().unwrap().contains("--nope"), "{line}");
    }

    #[test]
    fn missing_command_lists_the_commands() {
        let run = invoke(&["--log-level", "debug"], &[]);
        assert_eq!(run.exit, Exit::Usage);
        // The shipped commands, in --help order; a new one (listed after them) needs no edit.
        let error = run.lines[0]["error"].as_str().unwrap();
        let listed: Vec<&str> = error
            .strip_prefix("expected a command, one of: ")
            .unwrap_or_else(|| panic!("{error}"))
            .split(", ")
            .collect();
        assert_eq!(
            listed[..4],
            ["selfcheck", "generate", "check-mapping", "transform"]
        );
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let run = invoke(&["selfcheck"], &[("RSTASK_LOG_LEVEL", "loud")]);
        assert_eq!(run.exit, Exit::Usage);
        assert!(
            run.lines[0]["error"]
                .as_str()
                .unwrap()
                .starts_with("expected RSTASK_LOG_LEVEL")
        );
    }

    #[test]
    fn selfcheck_prints_the_result_with_secrets_redacted() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_str().unwrap();
        let run = invoke(
            &["--scratch-dir", dir, "selfcheck"],
            &[("RSTASK_DEMO_PASSWORD", "s3cr3t-value"), ("HOME", "/root")],
        );
        assert_eq!(run.exit, Exit::Ok);
        let result: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(result["status"], "ok");
        assert_eq!(result["outputs"]["scratch_dir"], dir);
        assert_eq!(result["outputs"]["held_s"], 0);
        assert_eq!(
            result["outputs"]["config"],
            serde_json::json!({"RSTASK_DEMO_PASSWORD": "[redacted]"})
        );
        let msgs: Vec<&str> = run
            .lines
            .iter()
            .map(|l| l["msg"].as_str().unwrap())
            .collect();
        assert_eq!(msgs, ["selfcheck started", "selfcheck done"]);
        assert!(!run.stdout.contains("s3cr3t"));
    }

    #[test]
    fn fail_with_maps_to_exit_codes() {
        for (kind, exit) in [
            ("permanent", Exit::Permanent),
            ("transient", Exit::Transient),
            ("nothing-to-do", Exit::NothingToDo),
        ] {
            let run = invoke(&["selfcheck", "--fail-with", kind], &[]);
            assert_eq!(run.exit, exit, "{kind}");
            let wrote_result = !run.stdout.is_empty();
            assert_eq!(wrote_result, exit == Exit::NothingToDo, "{kind}");
        }
        let from_env = invoke(&["selfcheck"], &[("RSTASK_FAIL_WITH", "transient")]);
        assert_eq!(from_env.exit, Exit::Transient);
        assert_eq!(from_env.lines.last().unwrap()["error_kind"], "transient");
    }

    #[test]
    fn hold_is_a_whole_number_of_seconds_up_to_a_day() {
        for bad in ["-1", "abc", "86401", "+5", "1.5", ""] {
            let run = invoke(&["selfcheck", "--hold", bad], &[]);
            assert_eq!(run.exit, Exit::Usage, "{bad}");
            assert_eq!(run.lines.len(), 1, "{bad}");
            assert_eq!(
                run.lines[0]["error"],
                format!(
                    "expected --hold to be a whole number of seconds from 0 to 86400, got: {}",
                    crate::config::quote(bad)
                )
            );
        }
        let from_env = invoke(&["selfcheck"], &[("RSTASK_HOLD", "soon")]);
        assert_eq!(from_env.exit, Exit::Usage);
        assert!(
            from_env.lines[0]["error"]
                .as_str()
                .unwrap()
                .starts_with("expected RSTASK_HOLD to be a whole number")
        );
    }

    #[test]
    fn hold_waits_then_goes_on_as_without() {
        let started = std::time::Instant::now();
        let run = invoke(
            &["selfcheck", "--fail-with", "nothing-to-do"],
            &[("RSTASK_HOLD", "1")],
        );
        assert!(started.elapsed() >= std::time::Duration::from_secs(1));
        assert_eq!(run.exit, Exit::NothingToDo);
        let msgs: Vec<&str> = run
            .lines
            .iter()
            .map(|l| l["msg"].as_str().unwrap())
            .collect();
        assert_eq!(
            msgs,
            ["selfcheck started", "selfcheck holding", "nothing to do"]
        );
        assert_eq!(run.lines[1]["seconds"], 1);
        let result: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(result["outputs"]["held_s"], 1);
    }

    #[test]
    fn log_level_filters_lines() {
        let run = invoke(&["selfcheck", "--log-level", "error"], &[]);
        assert_eq!(run.exit, Exit::Ok);
        assert!(run.lines.is_empty());
    }
}
