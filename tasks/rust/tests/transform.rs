//! `rstask transform` end to end against the project's S3 server: generated feeds of the
//! three providers in, exact quarantine counts, readable and deterministic Parquet out, one
//! bad object failing alone, network errors as transient.

mod support;

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMillisecondType, UInt16Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use support::{S3, log_lines, rstask, rstask_result};

const REASONS: [&str; 10] = [
    "bad_quoting",
    "bad_json",
    "wrong_field_count",
    "wrong_type",
    "missing_field",
    "invalid_utf8",
    "timestamp_out_of_range",
    "duplicate_key",
    "unknown_enum",
    "line_too_long",
];

/// Generates a feed with the real binary; returns its bytes and the generate result.
fn generate(
    provider: &str,
    rows: u64,
    seed: u64,
    bad: &str,
    gzip: bool,
    dir: &Path,
) -> (Vec<u8>, Value) {
    let out = dir.join(format!("{provider}-{seed}.feed"));
    let rows = rows.to_string();
    let seed = seed.to_string();
    let mut args = vec![
        "generate",
        "--provider",
        provider,
        "--rows",
        &rows,
        "--seed",
        &seed,
        "--output",
        out.to_str().unwrap(),
    ];
    if !bad.is_empty() {
        args.extend(["--bad", bad]);
    }
    if gzip {
        args.push("--gzip");
    }
    let (output, result) = rstask_result(&args, &[], dir);
    assert_exit(&output, 0);
    (std::fs::read(&out).unwrap(), result.unwrap())
}

const CSV_BAD: &str = "bad_quoting=0.01,wrong_field_count=0.01,wrong_type=0.01,missing_field=0.01,invalid_utf8=0.01,timestamp_out_of_range=0.01,duplicate_key=0.01,unknown_enum=0.01";
const JSON_BAD: &str = "bad_json=0.01,wrong_type=0.01,missing_field=0.01,invalid_utf8=0.01,timestamp_out_of_range=0.01,duplicate_key=0.01,unknown_enum=0.01";

/// The process exited with `code`; its stderr is the failure message otherwise.
fn assert_exit(output: &std::process::Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn manifest(s3: &S3, bucket: &str, key: &str, raw_keys: &[&str]) {
    let objects: Vec<Value> = raw_keys
        .iter()
        .map(|k| serde_json::json!({"key": k, "size": 0, "etag": "x"}))
        .collect();
    let body = serde_json::json!({"run_id": "test", "batch": 1, "objects": objects});
    s3.put(bucket, key, body.to_string().into_bytes());
}

fn read_parquet(bytes: bytes::Bytes) -> Vec<RecordBatch> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    assert_eq!(
        builder.metadata().file_metadata().created_by(),
        Some("rstask 0.1.0")
    );
    builder.build().unwrap().map(Result::unwrap).collect()
}

#[test]
fn three_providers_exact_counts_readable_and_deterministic() {
    let s3 = S3::start();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let feeds = [
        ("acme", "raw/acme/2026/11/23/feed-001.csv.gz", CSV_BAD, true),
        (
            "betco",
            "raw/betco/2026/11/23/feed-001.ndjson",
            JSON_BAD,
            false,
        ),
        (
            "cobra",
            "raw/cobra/2026/11/23/feed-001.csv.gz",
            CSV_BAD,
            true,
        ),
    ];
    let mut expected = Vec::new();
    for (i, (provider, key, bad, gzip)) in feeds.iter().enumerate() {
        let (bytes, result) = generate(provider, 20_000, 11 + i as u64, bad, *gzip, dir.path());
        s3.put(&bucket, key, bytes);
        expected.push(result);
    }
    let keys: Vec<&str> = feeds.iter().map(|f| f.1).collect();
    manifest(&s3, &bucket, "manifests/test/batch-0001.json", &keys);

    let env = s3.env(&bucket);
    let args = ["transform", "--manifest", "manifests/test/batch-0001.json"];
    let (output, result) = rstask_result(&args, &env, dir.path());
    assert_exit(&output, 0);
    let result = result.unwrap();
    let counts = &result["counts"];
    let sum = |name: &str| {
        expected
            .iter()
            .map(|r| r["counts"][name].as_u64().unwrap())
            .sum::<u64>()
    };
    for name in ["rows_in", "rows_out", "rows_quarantined"] {
        assert_eq!(counts[name].as_u64(), Some(sum(name)), "{name}");
    }
    for reason in REASONS {
        let name = format!("quarantined_{reason}");
        assert_eq!(counts[&name].as_u64(), Some(sum(&name)), "{name}");
    }
    assert!(counts["quarantined_duplicate_key"].as_u64().unwrap() > 0);
    assert_eq!(
        counts["rows_in"].as_u64().unwrap(),
        counts["rows_out"].as_u64().unwrap() + counts["rows_quarantined"].as_u64().unwrap()
    );
    assert_eq!(
        (
            counts["objects"].as_u64(),
            counts["objects_failed"].as_u64()
        ),
        (Some(3), Some(0))
    );
    assert_eq!(result["outputs"]["staged"].as_array().unwrap().len(), 3);
    assert_eq!(result["outputs"]["quarantine"].as_array().unwrap().len(), 3);

    let mut first_run = Vec::new();
    for ((provider, key, _, _), want) in feeds.iter().zip(&expected) {
        first_run.push(check_object(&s3, &bucket, provider, key, want));
    }

    // a second run writes byte-identical objects
    let (again, _) = rstask_result(&args, &env, dir.path());
    assert_eq!(again.status.code(), Some(0));
    for ((_, key, _, _), before) in feeds.iter().zip(&first_run) {
        let staged_key = format!("staged/{}.parquet", key.strip_prefix("raw/").unwrap());
        assert_eq!(
            &s3.get(&bucket, &staged_key).unwrap(),
            before,
            "{staged_key}"
        );
    }
}

#[test]
fn a_truncated_gzip_fails_alone_with_exit_65() {
    let s3 = S3::start();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = generate("acme", 2000, 1, "", true, dir.path());
    let (whole, _) = generate("cobra", 2000, 2, "", true, dir.path());
    let truncated = whole[..whole.len() * 2 / 3].to_vec();
    s3.put(&bucket, "raw/acme/good.csv.gz", good);
    s3.put(&bucket, "raw/cobra/cut.csv.gz", truncated);
    let keys = [
        "raw/cobra/cut.csv.gz",
        "raw/acme/good.csv.gz",
        "raw/nobody/x.csv",
        "raw/acme/missing.csv",
    ];
    manifest(&s3, &bucket, "manifests/t/batch-0001.json", &keys);
    let env = s3.env(&bucket);
    let (output, result) = rstask_result(
        &["transform", "--manifest", "manifests/t/batch-0001.json"],
        &env,
        dir.path(),
    );
    assert_exit(&output, 65);
    assert!(result.is_none(), "no result on failure (task contract)");
    let lines = log_lines(&output);
    let failed: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["msg"] == "object failed")
        .map(|l| (l["key"].as_str().unwrap(), l["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        failed,
        [
            ("raw/cobra/cut.csv.gz", "corrupt_gzip"),
            ("raw/nobody/x.csv", "unknown_provider"),
            ("raw/acme/missing.csv", "not_found")
        ]
    );
    let error = lines.last().unwrap();
    assert_eq!(
        (error["error_kind"].as_str(), error["exit_code"].as_u64()),
        (Some("permanent"), Some(65))
    );
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("3 of 4 objects failed"),
        "{error}"
    );
    assert!(
        s3.get(&bucket, "staged/acme/good.csv.gz.parquet").is_some(),
        "the good object is done"
    );
    assert!(
        s3.get(&bucket, "staged/cobra/cut.csv.gz.parquet").is_none(),
        "nothing for the bad one"
    );
    assert!(
        s3.get(&bucket, "quarantine/cobra/cut.csv.gz.ndjson")
            .is_none()
    );
}

#[test]
fn single_key_and_stale_quarantine_removed() {
    let s3 = S3::start();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let (feed, _) = generate("betco", 500, 5, "", false, dir.path());
    s3.put(&bucket, "raw/betco/one.ndjson", feed);
    s3.put(
        &bucket,
        "quarantine/betco/one.ndjson.ndjson",
        b"{\"stale\":true}\n".to_vec(),
    );
    let env = s3.env(&bucket);
    let (output, result) = rstask_result(
        &["transform", "--key", "raw/betco/one.ndjson"],
        &env,
        dir.path(),
    );
    assert_exit(&output, 0);
    let result = result.unwrap();
    assert_eq!(result["counts"]["rows_out"], 500);
    assert_eq!(result["outputs"]["quarantine"], serde_json::json!([]));
    assert!(
        s3.get(&bucket, "quarantine/betco/one.ndjson.ndjson")
            .is_none()
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains(&s3.secret_key));
}

#[test]
fn unreachable_s3_is_transient_and_missing_settings_are_usage() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env: Vec<(String, String)> = [
        ("RSTASK_S3_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("RSTASK_BUCKET", "b".into()),
        ("RSTASK_S3_ACCESS_KEY_ID", "k".into()),
        ("RSTASK_S3_SECRET_ACCESS_KEY", "s".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let output = rstask(&["transform", "--manifest", "m.json"], &env);
    assert_exit(&output, 75);
    assert_eq!(
        log_lines(&output).last().unwrap()["error_kind"],
        "transient"
    );

    let output = rstask(&["transform", "--manifest", "m.json"], &env[..3]);
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("RSTASK_S3_SECRET_ACCESS_KEY"));
    let output = rstask(&["transform"], &env);
    assert_eq!(output.status.code(), Some(64));
}

/// Checks an object's staged Parquet (schema, rows, values) and quarantine (count per
/// reason) against what the generator wrote; returns the staged bytes.
fn check_object(s3: &S3, bucket: &str, provider: &str, key: &str, want: &Value) -> bytes::Bytes {
    let staged_key = format!("staged/{}.parquet", key.strip_prefix("raw/").unwrap());
    let staged = s3.get(bucket, &staged_key).expect("staged object");
    let staged_bytes = staged.clone();
    let batches = read_parquet(staged);
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "event_id",
            "provider",
            "match_id",
            "event_type",
            "occurred_at",
            "team",
            "player",
            "odds_home",
            "odds_draw",
            "odds_away",
            "score_home",
            "score_away",
            "source_line"
        ]
    );
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(
        rows as u64,
        want["counts"]["rows_out"].as_u64().unwrap(),
        "{provider}"
    );
    let batch = &batches[0];
    assert_eq!(batch.column(1).as_string::<i32>().value(0), provider);
    assert!(
        batch
            .column(0)
            .as_string::<i32>()
            .value(0)
            .contains(provider)
            || provider == "betco"
    );
    let occurred = batch.column(4).as_primitive::<TimestampMillisecondType>();
    // the generator starts at 2026-11-21T12:00:00Z, 7 s per row
    assert!(
        (1_795_262_400_000..1_795_262_400_000 + 20_000 * 7_000 + 1000).contains(&occurred.value(0))
    );
    let lines = batch.column(12).as_primitive::<UInt64Type>();
    let header = u64::from(provider != "betco");
    assert!(lines.value(0) > header);
    assert!(
        batch
            .column(7)
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .all(|o| o >= 1.0)
    );
    assert!(
        batch
            .column(10)
            .as_primitive::<UInt16Type>()
            .iter()
            .flatten()
            .all(|s| s <= 5)
    );
    let event_types = batch.column(3).as_string::<i32>();
    assert!(
        event_types
            .iter()
            .flatten()
            .all(|t| rstask::transform::mapping::EVENT_TYPES.contains(&t))
    );

    let quarantine_key = format!("quarantine/{}.ndjson", key.strip_prefix("raw/").unwrap());
    let quarantine = s3.get(bucket, &quarantine_key).expect("quarantine object");
    let text = String::from_utf8(quarantine.to_vec()).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        records.len() as u64,
        want["counts"]["rows_quarantined"].as_u64().unwrap()
    );
    for reason in REASONS {
        let n = records.iter().filter(|r| r["reason"] == reason).count() as u64;
        assert_eq!(
            n,
            want["counts"][format!("quarantined_{reason}")]
                .as_u64()
                .unwrap(),
            "{provider} {reason}"
        );
    }
    let first = &records[0];
    assert!(
        first["line"].as_u64().unwrap() >= 1
            && first["raw"].is_string()
            && first["detail"].is_string()
    );
    staged_bytes
}

#[test]
fn local_input_file_mode_matches_the_generator_without_s3() {
    let dir = tempfile::tempdir().unwrap();
    for (provider, bad, gzip, name) in [
        ("acme", CSV_BAD, true, "feed.csv.gz"),
        ("betco", JSON_BAD, false, "feed.ndjson"),
    ] {
        let (bytes, want) = generate(provider, 5_000, 3, bad, gzip, dir.path());
        let input = dir.path().join(name);
        std::fs::write(&input, &bytes).unwrap();
        let staged = dir.path().join(format!("{provider}.parquet"));
        let args = [
            "transform",
            "--input-file",
            input.to_str().unwrap(),
            "--provider",
            provider,
            "--output-file",
            staged.to_str().unwrap(),
        ];
        // no S3 settings at all: local mode never touches S3
        let (output, result) = rstask_result(&args, &[], dir.path());
        assert_exit(&output, 0);
        let counts = &result.unwrap()["counts"];
        for name in ["rows_in", "rows_out", "rows_quarantined"] {
            assert_eq!(counts[name], want["counts"][name], "{provider} {name}");
        }
        for reason in REASONS {
            let name = format!("quarantined_{reason}");
            assert_eq!(counts[&name], want["counts"][&name], "{provider} {name}");
        }
        assert_eq!(counts["bytes_in"].as_u64(), Some(bytes.len() as u64));
        let batches = read_parquet(bytes::Bytes::from(std::fs::read(&staged).unwrap()));
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(Some(rows as u64), want["counts"]["rows_out"].as_u64());
        let quarantine =
            std::fs::read_to_string(format!("{}.quarantine.ndjson", staged.to_str().unwrap()))
                .unwrap();
        assert_eq!(
            Some(quarantine.lines().count() as u64),
            want["counts"]["rows_quarantined"].as_u64()
        );
    }
    // local mode and the S3 flags' sources do not mix
    let output = rstask(
        &["transform", "--input-file", "x", "--key", "raw/acme/a.csv"],
        &[],
    );
    assert_eq!(output.status.code(), Some(64));
}

#[test]
fn local_mode_spills_duplicate_ids_with_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    // a duplicate-id budget of 0 spills every id to the scratch dir: the same bytes, and
    // nothing left there; the flag wins over RSTASK_DEDUP_MEMORY_MB
    let (bytes, _) = generate("acme", 20_000, 5, "duplicate_key=0.05", false, dir.path());
    let input = dir.path().join("dups.csv");
    std::fs::write(&input, &bytes).unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut outputs = Vec::new();
    for (n, (flag, env)) in [(None, None), (Some("0"), Some("64")), (None, Some("0"))]
        .into_iter()
        .enumerate()
    {
        let staged = dir.path().join(format!("dups-{n}.parquet"));
        let mut args = vec![
            "transform",
            "--input-file",
            input.to_str().unwrap(),
            "--provider",
            "acme",
            "--output-file",
            staged.to_str().unwrap(),
            "--scratch-dir",
            scratch.to_str().unwrap(),
            "--log-level",
            "debug",
        ];
        args.extend(flag.map(|f| ["--dedup-memory-mb", f]).into_iter().flatten());
        let env: Vec<(String, String)> = env
            .map(|v| ("RSTASK_DEDUP_MEMORY_MB".to_owned(), v.to_owned()))
            .into_iter()
            .collect();
        let (output, result) = rstask_result(&args, &env, dir.path());
        assert_exit(&output, 0);
        assert!(
            result.unwrap()["counts"]["quarantined_duplicate_key"]
                .as_u64()
                .unwrap()
                > 500
        );
        let spilled = log_lines(&output)
            .iter()
            .any(|l| l["msg"] == "duplicate-id set full: spilling");
        assert_eq!(spilled, n > 0, "run {n}");
        let quarantine = std::fs::read(format!("{}.quarantine.ndjson", staged.to_str().unwrap()));
        outputs.push((std::fs::read(&staged).unwrap(), quarantine.unwrap()));
        assert_eq!(
            std::fs::read_dir(&scratch).unwrap().count(),
            0,
            "scratch left"
        );
    }
    assert!(
        outputs.iter().all(|o| *o == outputs[0]),
        "spilled runs differ"
    );
    let output = rstask(
        &[
            "transform",
            "--input-file",
            "x",
            "--provider",
            "acme",
            "--output-file",
            "y",
            "--dedup-memory-mb",
            "lots",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(64));
}
