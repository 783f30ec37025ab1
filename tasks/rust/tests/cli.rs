//! The real `rstask` binary, run as a process with a clean environment: what `main` adds
//! to `run` (arguments, environment, streams, exit status) is checked here.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn rstask(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rstask"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("rstask runs")
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stderr.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn a_bad_flag_fails_before_any_io() {
    // The S3 endpoint is a closed port: reading the manifest first would be a transient
    // network failure (75) after retries, not the usage error the flag deserves.
    let out = rstask(
        &[
            "transform",
            "--manifest",
            "manifests/x.json",
            "--dedup-memory-mb",
            "lots",
        ],
        &[
            ("RSTASK_BUCKET", "polyetl"),
            ("RSTASK_S3_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("RSTASK_S3_ACCESS_KEY_ID", "AKID"),
            ("RSTASK_S3_SECRET_ACCESS_KEY", "s3cr3t"),
        ],
    );
    assert_eq!(out.status.code(), Some(64));
    let error = lines(&out).pop().unwrap();
    assert_eq!(error["error_kind"], "usage");
    assert!(
        error["error"].as_str().unwrap().contains("\"lots\""),
        "{error}"
    );
}

#[test]
fn version_and_help() {
    let version = rstask(&["--version"], &[]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(version.stdout, b"rstask 0.1.0\n");
    let help = rstask(&["selfcheck", "-h"], &[]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--fail-with <KIND>"));
    assert!(help.stderr.is_empty());
}

#[test]
fn bad_flag_exits_64_with_one_json_line() {
    let out = rstask(&["--bogus", "selfcheck"], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());
    let lines = lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["error_kind"], "usage");
    assert!(lines[0]["error"].as_str().unwrap().contains("--bogus"));
}

#[test]
fn selfcheck_writes_the_result_file_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("airflow/xcom/return.json");
    let secret_file = dir.path().join("pw");
    std::fs::write(&secret_file, "file-secret-value\n").unwrap();
    let out = rstask(
        &["selfcheck", "--result-file", result.to_str().unwrap()],
        &[
            ("RSTASK_SCRATCH_DIR", dir.path().to_str().unwrap()),
            ("RSTASK_S3_SECRET_ACCESS_KEY", "env-secret-value"),
            ("RSTASK_DB_PASSWORD_FILE", secret_file.to_str().unwrap()),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "the result goes to the file only");
    let parsed: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(
        parsed["counts"],
        serde_json::json!({"checks": 1, "failed": 0})
    );
    assert_eq!(
        parsed["outputs"]["config"]["RSTASK_S3_SECRET_ACCESS_KEY"],
        "[redacted]"
    );
    assert_eq!(
        parsed["outputs"]["config"]["RSTASK_DB_PASSWORD_FILE"],
        secret_file.to_str().unwrap()
    );
    assert!(
        parsed["outputs"]["runtime"]
            .as_str()
            .unwrap()
            .starts_with("Rust 1.")
    );
    assert!(parsed["outputs"]["uid"].is_u64());
    for text in [
        std::fs::read_to_string(&result).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    ] {
        assert!(!text.contains("secret-value"), "{text}");
    }
}

#[test]
fn unusable_scratch_dir_is_permanent() {
    let out = rstask(
        &[
            "selfcheck",
            "--scratch-dir",
            "/proc/definitely-not-writable",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(65));
    let lines = lines(&out);
    let error = lines.last().unwrap();
    assert_eq!(error["error_kind"], "permanent");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("/proc/definitely-not-writable")
    );
    assert!(!Path::new("/proc/definitely-not-writable").exists());
}

#[test]
fn nothing_to_do_exits_99_and_still_writes_the_result() {
    let out = rstask(&["selfcheck", "--fail-with", "nothing-to-do"], &[]);
    assert_eq!(out.status.code(), Some(99));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["status"], "nothing_to_do");
}

#[test]
fn sigterm_stops_a_hold_at_once_with_143_and_no_result() {
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("return.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstask"))
        .args(["selfcheck", "--hold", "60", "--result-file"])
        .arg(&result)
        .env_clear()
        .env("RSTASK_SCRATCH_DIR", dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rstask runs");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    // Up to the holding line: the handler is installed by then.
    while lines
        .last()
        .is_none_or(|l: &Value| l["msg"] != "selfcheck holding")
    {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{lines:?}");
        lines.push(serde_json::from_str(&line).unwrap());
    }
    let sent = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(sent.elapsed() < Duration::from_secs(5), "still holding");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143));
    let rest: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
        .collect();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(
        (&rest[0]["level"], &rest[0]["msg"], &rest[0]["signal"]),
        (
            &Value::from("warn"),
            &Value::from("terminated"),
            &Value::from("SIGTERM")
        )
    );
    assert!(!result.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `generate` a feed of a shipped provider with bad rows of known kinds, then
/// `check-mapping` it against the mapping file: the report shows staged rows and every
/// reason with the generator's counts, and the result (the last line of stdout without
/// `--result-file`) counts what `transform` would.
#[test]
fn check_mapping_reports_what_the_generator_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = [("RSTASK_SCRATCH_DIR", dir.path().to_str().unwrap())];
    let mapping = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/cobra.toml");
    let mapping = mapping.to_str().unwrap();
    let feed = dir.path().join("feed.csv.gz");
    let generated = dir.path().join("generated.json");
    let out = rstask(
        &[
            "generate",
            "--provider",
            "cobra",
            "--rows",
            "400",
            "--seed",
            "4",
            "--bad",
            "wrong_type=0.05,unknown_enum=0.03,duplicate_key=0.02,bad_quoting=0.01",
            "--gzip",
            "--output",
            feed.to_str().unwrap(),
            "--result-file",
            generated.to_str().unwrap(),
        ],
        &scratch,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated: Value = serde_json::from_slice(&std::fs::read(&generated).unwrap()).unwrap();

    let args = [
        "check-mapping",
        "--mapping",
        mapping,
        "--sample",
        feed.to_str().unwrap(),
        "--rows",
        "3",
    ];
    let out = rstask(&args, &scratch);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let (report, result) = stdout.trim_end().rsplit_once('\n').unwrap();
    let result: Value = serde_json::from_str(result).unwrap();
    assert_eq!(result["command"], "check-mapping");
    for (name, want) in generated["counts"].as_object().unwrap() {
        if name != "bytes" {
            assert_eq!(&result["counts"][name], want, "{name}");
        }
    }
    assert_eq!(result["outputs"]["gzip"], true);
    let table: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.starts_with("First 3 rows as staged"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(table.len(), 4, "{report}");
    assert!(table[0].starts_with("event_id "), "{report}");
    assert!(table[1].starts_with("cobra:"), "{report}");
    for reason in ["wrong_type", "unknown_enum", "duplicate_key", "bad_quoting"] {
        let count = &generated["counts"][format!("quarantined_{reason}")];
        assert!(count.as_u64().unwrap() > 0, "{reason}");
        assert!(
            report.lines().any(|l| l
                .split_whitespace()
                .take(2)
                .eq([reason, &count.to_string()])),
            "{reason} {count}: {report}"
        );
    }
    let msgs: Vec<Value> = lines(&out);
    let msgs: Vec<&str> = msgs.iter().map(|l| l["msg"].as_str().unwrap()).collect();
    assert_eq!(
        msgs,
        [
            "check-mapping started",
            "transform started (local file)",
            "check-mapping done"
        ]
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "scratch left clean"
    );
}

#[test]
fn check_mapping_exits_64_for_a_bad_mapping_and_65_when_nothing_stages() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = [("RSTASK_SCRATCH_DIR", dir.path().to_str().unwrap())];
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/acme.toml");
    let mapping = dir.path().join("acme.toml");
    let text = std::fs::read_to_string(shipped).unwrap();
    std::fs::write(&mapping, text.replace("Europe/London", "Europe/Lodnon")).unwrap();
    let feed = dir.path().join("feed.csv");
    std::fs::write(&feed, "seq,fixture,event\n1,F,GOAL\n").unwrap();
    let args = [
        "check-mapping",
        "--mapping",
        mapping.to_str().unwrap(),
        "--sample",
        feed.to_str().unwrap(),
    ];
    let out = rstask(&args, &scratch);
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());
    let error = lines(&out).pop().unwrap();
    assert_eq!(error["error_kind"], "usage");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .ends_with("columns.occurred_at: expected a time zone name like Europe/London, got: \"Europe/Lodnon\""),
        "{error}"
    );

    // the shipped mapping, a sample whose every row is bad: the report, then exit 65
    std::fs::write(&mapping, &text).unwrap();
    let header = "seq,fixture,event,time_local,team,player,price_home,price_draw,price_away,goals_home,goals_away";
    std::fs::write(
        &feed,
        format!("{header}\n1,F,GOL,01/07/2026 15:00:00,,,,,,,\n2,F,GOAL,tomorrow,,,,,,,\n"),
    )
    .unwrap();
    let out = rstask(&args, &scratch);
    assert_eq!(out.status.code(), Some(65));
    let report = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(report.contains("No staged rows."), "{report}");
    assert!(!report.contains("\"status\""), "no result: {report}");
    let error = lines(&out).pop().unwrap();
    assert_eq!(error["error_kind"], "permanent");
    assert_eq!(
        error["error"],
        "the mapping stages none of the sample's 2 rows: all quarantined (wrong_type 1, unknown_enum 1)"
    );
}
