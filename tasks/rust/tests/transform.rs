//! `rstask transform` end to end against the project's S3 server: generated feeds of every
//! embedded provider in, exact quarantine counts, readable and deterministic Parquet out,
//! poison objects quarantined with their sidecar, missing objects failing, network errors
//! as transient.

mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMillisecondType, UInt16Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rstask::transform::mapping::{Format, Mapping, Mappings, Part};
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

/// The embedded mapping of a provider.
fn mapping(provider: &str) -> Arc<Mapping> {
    Mappings::embedded().unwrap().get(provider).unwrap()
}

fn is_csv(provider: &str) -> bool {
    matches!(mapping(provider).format, Format::Csv { .. })
}

/// How the mapping's template starts every event id: `acme-`, `betco:`, `cobra:`.
fn id_prefix(provider: &str) -> String {
    mapping(provider)
        .event_id
        .iter()
        .map_while(|part| match part {
            Part::Text(text) => Some(text.as_str()),
            Part::Provider => Some(provider),
            Part::Field(_) => None,
        })
        .collect()
}

/// Every embedded provider (`mappings/*.toml`, so a new one is covered with no edit here),
/// each with a feed of its format: CSV gzipped with every CSV kind of bad row, NDJSON plain
/// with every NDJSON kind.
#[test]
fn every_provider_exact_counts_readable_and_deterministic() {
    let s3 = S3::start();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let feeds: Vec<(String, String, &str, bool)> = Mappings::embedded()
        .unwrap()
        .providers()
        .into_iter()
        .map(|provider| {
            let csv = is_csv(&provider);
            let name = if csv {
                "feed-001.csv.gz"
            } else {
                "feed-001.ndjson"
            };
            let key = format!("raw/{provider}/2026/11/23/{name}");
            (provider, key, if csv { CSV_BAD } else { JSON_BAD }, csv)
        })
        .collect();
    assert!(feeds.len() >= 3, "acme, betco and cobra at least");
    let mut expected = Vec::new();
    for (i, (provider, key, bad, gzip)) in feeds.iter().enumerate() {
        let (bytes, result) = generate(provider, 20_000, 11 + i as u64, bad, *gzip, dir.path());
        s3.put(&bucket, key, bytes);
        expected.push(result);
    }
    let keys: Vec<&str> = feeds.iter().map(|f| f.1.as_str()).collect();
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
        (Some(feeds.len() as u64), Some(0))
    );
    let listed = |name: &str| result["outputs"][name].as_array().unwrap().len();
    assert_eq!(listed("staged"), feeds.len());
    assert_eq!(listed("quarantine"), feeds.len());

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

fn manifest_with_etags(s3: &S3, bucket: &str, key: &str, objects: &[(&str, &str, u64)]) {
    let objects: Vec<Value> = objects
        .iter()
        .map(|(k, etag, size)| serde_json::json!({"key": k, "size": size, "etag": etag}))
        .collect();
    let body = serde_json::json!({"run_id": "test", "batch": 1, "objects": objects});
    s3.put(bucket, key, body.to_string().into_bytes());
}

/// The sidecar of a poison object, parsed, with its fields in order.
fn sidecar(s3: &S3, bucket: &str, rest: &str) -> Option<serde_json::Map<String, Value>> {
    let bytes = s3.get(bucket, &format!("quarantine/_reasons/{rest}.json"))?;
    match serde_json::from_slice(&bytes).unwrap() {
        Value::Object(map) => Some(map),
        other => panic!("sidecar is not an object: {other}"),
    }
}

const SIDECAR_FIELDS: [&str; 8] = [
    "key",
    "etag",
    "size",
    "reason",
    "detail",
    "quarantine_key",
    "manifest",
    "detected_at",
];

/// `2026-12-06T14:00:00.123Z`: RFC 3339 UTC, exactly 3 fractional digits.
fn is_rfc3339_millis(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && b[20..23].iter().all(u8::is_ascii_digit)
}

#[test]
fn poison_objects_are_quarantined_and_the_others_transformed() {
    let s3 = S3::start();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = generate("acme", 2000, 1, "", true, dir.path());
    let (whole, _) = generate("cobra", 2000, 2, "", true, dir.path());
    let truncated = whole[..whole.len() * 2 / 3].to_vec();
    let truncated_len = truncated.len() as u64;
    s3.put(&bucket, "raw/acme/good.csv.gz", good);
    s3.put(&bucket, "raw/cobra/cut.csv.gz", truncated);
    s3.put(&bucket, "raw/nobody/x.csv", b"a,b\n1,2\n".to_vec());
    s3.put(&bucket, "raw/acme/header.csv", b"a,b,c\n1,2,3\n".to_vec());
    // outputs of an earlier, good version of the poison key: never to be loaded for it
    s3.put(
        &bucket,
        "staged/cobra/cut.csv.gz.parquet",
        b"old staged".to_vec(),
    );
    s3.put(
        &bucket,
        "quarantine/cobra/cut.csv.gz.ndjson",
        b"{\"old\":1}\n".to_vec(),
    );
    let objects = [
        ("raw/cobra/cut.csv.gz", "\"etag-cut\"", truncated_len),
        ("raw/acme/good.csv.gz", "etag-good", 1),
        ("raw/nobody/x.csv", "etag-nobody", 8),
        ("raw/acme/header.csv", "etag-header", 12),
    ];
    let manifest_key = "manifests/t/batch-0001.json";
    manifest_with_etags(&s3, &bucket, manifest_key, &objects);
    let env = s3.env(&bucket);
    let (output, result) =
        rstask_result(&["transform", "--manifest", manifest_key], &env, dir.path());
    assert_exit(&output, 0);
    let result = result.unwrap();
    let counts = &result["counts"];
    assert_eq!(
        (
            counts["objects"].as_u64(),
            counts["objects_quarantined"].as_u64(),
            counts["objects_failed"].as_u64(),
            counts["rows_out"].as_u64()
        ),
        (Some(4), Some(3), Some(0), Some(2000)),
        "rows of a poison object count nowhere"
    );
    assert_eq!(counts["rows_in"], counts["rows_out"]);
    let listed: Vec<(&str, &str)> = result["outputs"]["quarantined_objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert!(!o["detail"].as_str().unwrap().is_empty(), "{o}");
            (o["key"].as_str().unwrap(), o["reason"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("raw/cobra/cut.csv.gz", "corrupt_gzip"),
            ("raw/nobody/x.csv", "unknown_provider"),
            ("raw/acme/header.csv", "bad_header"),
        ]
    );
    assert_eq!(
        result["outputs"]["staged"],
        serde_json::json!(["staged/acme/good.csv.gz.parquet"])
    );
    let quarantined_logs = log_lines(&output)
        .into_iter()
        .filter(|l| l["msg"] == "object quarantined" && l["level"] == "warn")
        .count();
    assert_eq!(quarantined_logs, 3);

    check_sidecars(&s3, &bucket, manifest_key, truncated_len);
    assert!(sidecar(&s3, &bucket, "acme/good.csv.gz").is_none());
    assert!(
        s3.get(&bucket, "staged/acme/good.csv.gz.parquet").is_some(),
        "the good object is done"
    );
    for stale in [
        "staged/cobra/cut.csv.gz.parquet",
        "quarantine/cobra/cut.csv.gz.ndjson",
        "staged/acme/header.csv.parquet",
    ] {
        assert!(s3.get(&bucket, stale).is_none(), "{stale} left");
    }
    assert!(
        s3.get(&bucket, "quarantine/_objects/cobra/cut.csv.gz")
            .is_none(),
        "the transform copies nothing (archive does)"
    );

    by_key_and_put_back(&s3, &bucket, dir.path(), whole, truncated_len);
}

/// The sidecars of the poison objects of `poison_objects_are_quarantined_…`.
fn check_sidecars(s3: &S3, bucket: &str, manifest_key: &str, truncated_len: u64) {
    let cut = sidecar(s3, bucket, "cobra/cut.csv.gz").expect("sidecar");
    let fields: Vec<&str> = cut.keys().map(String::as_str).collect();
    assert_eq!(fields, SIDECAR_FIELDS);
    assert_eq!(
        s3.content_type(bucket, "quarantine/_reasons/cobra/cut.csv.gz.json")
            .as_deref(),
        Some("application/json")
    );
    assert_eq!(cut["key"], "raw/cobra/cut.csv.gz");
    assert_eq!(cut["etag"], "etag-cut", "the manifest's ETag, unquoted");
    assert_eq!(cut["size"].as_u64(), Some(truncated_len));
    assert_eq!(cut["reason"], "corrupt_gzip");
    assert!(
        cut["detail"].as_str().unwrap().contains("truncated"),
        "{cut:?}"
    );
    assert_eq!(
        cut["quarantine_key"],
        "quarantine/_objects/cobra/cut.csv.gz"
    );
    assert_eq!(cut["manifest"], manifest_key);
    assert!(
        is_rfc3339_millis(cut["detected_at"].as_str().unwrap()),
        "{cut:?}"
    );
    let header = sidecar(s3, bucket, "acme/header.csv").unwrap();
    assert_eq!(
        (header["etag"].as_str(), header["size"].as_u64()),
        (Some("etag-header"), Some(12))
    );
    let detail = header["detail"].as_str().unwrap();
    assert!(
        detail.contains("time_local") && detail.contains("has: a, b, c"),
        "{detail}"
    );
    let nobody = sidecar(s3, bucket, "nobody/x.csv").unwrap();
    assert!(
        nobody["detail"].as_str().unwrap().contains("\"nobody\""),
        "{nobody:?}"
    );
}

/// `--key` on poison objects (the etag and size are the object's own, no manifest), then
/// the fixed object put back: transformed, its sidecar removed.
fn by_key_and_put_back(s3: &S3, bucket: &str, dir: &Path, whole: Vec<u8>, truncated_len: u64) {
    let env = s3.env(bucket);
    let (output, result) =
        rstask_result(&["transform", "--key", "raw/cobra/cut.csv.gz"], &env, dir);
    assert_exit(&output, 0);
    assert_eq!(result.unwrap()["counts"]["objects_quarantined"], 1);
    let by_key = sidecar(s3, bucket, "cobra/cut.csv.gz").unwrap();
    let etag = by_key["etag"].as_str().unwrap();
    assert!(
        !etag.is_empty() && !etag.contains('"') && etag != "etag-cut",
        "{etag}"
    );
    assert_eq!(by_key["size"].as_u64(), Some(truncated_len));
    assert_eq!(by_key["manifest"], Value::Null);
    let nobody = rstask_result(&["transform", "--key", "raw/nobody/x.csv"], &env, dir);
    assert_exit(&nobody.0, 0);
    let nobody = sidecar(s3, bucket, "nobody/x.csv").unwrap();
    assert_eq!(
        nobody["size"].as_u64(),
        Some(8),
        "from a HEAD of the object"
    );
    assert!(!nobody["etag"].as_str().unwrap().is_empty());

    // the fixed object put back: transformed, and its sidecar goes
    s3.put(bucket, "raw/cobra/cut.csv.gz", whole);
    let (output, result) =
        rstask_result(&["transform", "--key", "raw/cobra/cut.csv.gz"], &env, dir);
    assert_exit(&output, 0);
    let counts = &result.unwrap()["counts"];
    assert_eq!(
        (
            counts["objects_quarantined"].as_u64(),
            counts["rows_out"].as_u64()
        ),
        (Some(0), Some(2000))
    );
    assert!(
        sidecar(s3, bucket, "cobra/cut.csv.gz").is_none(),
        "sidecar left"
    );
    assert!(s3.get(bucket, "staged/cobra/cut.csv.gz.parquet").is_some());
}

#[test]
fn missing_objects_and_keys_outside_raw_fail_with_exit_65() {
    let s3 = S3::start();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = generate("acme", 500, 1, "", false, dir.path());
    s3.put(&bucket, "raw/acme/good.csv", good);
    s3.put(&bucket, "raw/acme/bad.csv.gz", b"not gzip".to_vec());
    let keys = [
        "raw/acme/missing.csv",
        "raw/acme/good.csv",
        "other/x.csv",
        "raw/nobody/missing.csv",
        "raw/acme/bad.csv.gz",
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
    let logged = |msg: &str| -> Vec<(String, String)> {
        lines
            .iter()
            .filter(|l| l["msg"] == msg)
            .map(|l| {
                (
                    l["key"].as_str().unwrap().to_owned(),
                    l["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        logged("object failed"),
        pairs(&[
            ("raw/acme/missing.csv", "not_found"),
            ("other/x.csv", "bad_key"),
            ("raw/nobody/missing.csv", "not_found"),
        ])
    );
    assert_eq!(
        logged("object quarantined"),
        pairs(&[("raw/acme/bad.csv.gz", "corrupt_gzip")])
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
            .contains("3 of 5 objects failed"),
        "{error}"
    );
    assert!(s3.get(&bucket, "staged/acme/good.csv.parquet").is_some());
    assert!(sidecar(&s3, &bucket, "acme/bad.csv.gz").is_some());
    assert!(sidecar(&s3, &bucket, "acme/missing.csv").is_none());
    assert!(sidecar(&s3, &bucket, "nobody/missing.csv").is_none());
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
    let prefix = id_prefix(provider);
    let id = batch.column(0).as_string::<i32>().value(0);
    assert!(
        id.starts_with(&prefix),
        "{provider}: {id} (expected {prefix}…)"
    );
    let occurred = batch.column(4).as_primitive::<TimestampMillisecondType>();
    // the generator starts at 2026-11-21T12:00:00Z, 7 s per row
    assert!(
        (1_795_262_400_000..1_795_262_400_000 + 20_000 * 7_000 + 1000).contains(&occurred.value(0))
    );
    let lines = batch.column(12).as_primitive::<UInt64Type>();
    let header = u64::from(is_csv(provider));
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

const EXPORTER: &str = r#"
provider = "exporter"
format = "csv"
event_id = "{provider}-{id}"

[csv]
multiline = true
trim = true
max_record_bytes = 256

[columns.match_id]
source = "match"

[columns.event_type]
source = "type"
values = { goal = "goal", card = "card" }

[columns.occurred_at]
source = "at"
timestamp = "rfc3339"

[columns.player]
source = "player"

[columns.score_home]
source = "home"
"#;

/// A feed as an export writes it: quoted fields over lines (CRLF), padded fields, a quote
/// left open on line 7 (past the cap) and on line 17 (at the end).
fn export_feed() -> String {
    let mut feed = String::from("id,match,type,at,player,home\r\n");
    feed.push_str("1,M1,goal,2026-11-23T16:04:05Z,\"Saka,\r\nBukayo\",1\r\n");
    feed.push_str(
        "2, M1 , card , 2026-11-23T16:05:00Z , \"He said \"\"no\"\"\r\n\r\nthen left \" , \r\n",
    );
    feed.push_str("3,M1,goal,2026-11-23T16:06:00Z,\"open,2\r\n");
    for id in 4..13 {
        let _ = write!(feed, "{id},M2,goal,2026-11-23T17:00:00Z,,{}\r\n", id % 5);
    }
    feed.push_str("13,M2,goal,2026-11-23T18:00:00Z,\"end");
    feed
}

/// CSV as exports write it (quoted fields over several lines, CRLF, padded fields),
/// through `--input-file` and a `--mappings-dir` mapping with `csv.multiline` and
/// `csv.trim`: records numbered by their first line, an unclosed quote costing one line.
#[test]
fn local_mode_reads_multiline_csv_with_a_mappings_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mappings = dir.path().join("mappings");
    std::fs::create_dir_all(&mappings).unwrap();
    std::fs::write(mappings.join("exporter.toml"), EXPORTER).unwrap();
    let feed = export_feed();
    let input = dir.path().join("export.csv");
    std::fs::write(&input, &feed).unwrap();
    let staged = dir.path().join("export.parquet");
    let args = [
        "transform",
        "--input-file",
        input.to_str().unwrap(),
        "--provider",
        "exporter",
        "--output-file",
        staged.to_str().unwrap(),
        "--mappings-dir",
        mappings.to_str().unwrap(),
    ];
    let (output, result) = rstask_result(&args, &[], dir.path());
    assert_exit(&output, 0);
    let counts = &result.unwrap()["counts"];
    assert_eq!(
        (
            counts["rows_in"].as_u64(),
            counts["rows_out"].as_u64(),
            counts["quarantined_bad_quoting"].as_u64(),
            counts["rows_quarantined"].as_u64()
        ),
        (Some(13), Some(11), Some(2), Some(2))
    );
    let batches = read_parquet(bytes::Bytes::from(std::fs::read(&staged).unwrap()));
    let batch = &batches[0];
    let ids = batch.column(0).as_string::<i32>();
    let players = batch.column(6).as_string::<i32>();
    let lines = batch.column(12).as_primitive::<UInt64Type>();
    let scores = batch.column(10).as_primitive::<UInt16Type>();
    let head: Vec<(&str, Option<&str>, u64, Option<u16>)> = (0..3)
        .map(|i| {
            (
                ids.value(i),
                players.is_valid(i).then(|| players.value(i)),
                lines.value(i),
                scores.is_valid(i).then(|| scores.value(i)),
            )
        })
        .collect();
    assert_eq!(
        head,
        [
            ("exporter-1", Some("Saka,\r\nBukayo"), 2, Some(1)),
            (
                "exporter-2",
                Some("He said \"no\"\r\n\r\nthen left "),
                4,
                None
            ),
            ("exporter-4", None, 8, Some(4)),
        ]
    );
    assert_eq!(lines.value(10), 16, "the last good record");
    let quarantine =
        std::fs::read_to_string(format!("{}.quarantine.ndjson", staged.to_str().unwrap())).unwrap();
    let rejects: Vec<Value> = quarantine
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(u64, &str, &str)> = rejects
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap(),
                r["raw"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (7, "bad_quoting", "3,M1,goal,2026-11-23T16:06:00Z,\"open,2"),
            (17, "bad_quoting", "13,M2,goal,2026-11-23T18:00:00Z,\"end"),
        ]
    );
    let detail = rejects[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("byte 31 of line 7") && detail.contains("(256 bytes"),
        "{detail}"
    );
}

/// `generate --ids-file` lists exactly the (event id, source line) pairs the transform
/// stages; `--revision 1` keeps them (and every count) and changes values of ~25 % of rows.
#[test]
fn generate_ids_file_and_revisions_match_the_transform() {
    let dir = tempfile::tempdir().unwrap();
    for (provider, bad, name) in [
        ("acme", CSV_BAD, "feed.csv"),
        ("betco", JSON_BAD, "feed.ndjson"),
    ] {
        let mut runs = Vec::new();
        for revision in ["0", "1"] {
            let feed = dir.path().join(format!("{revision}-{name}"));
            let ids = dir.path().join(format!("{revision}-{provider}.ids"));
            let args = [
                "generate",
                "--provider",
                provider,
                "--rows",
                "3000",
                "--seed",
                "21",
                "--bad",
                bad,
                "--output",
                feed.to_str().unwrap(),
                "--ids-file",
                ids.to_str().unwrap(),
                "--revision",
                revision,
            ];
            let (output, generated) = rstask_result(&args, &[], dir.path());
            assert_exit(&output, 0);
            let generated = generated.unwrap();
            assert_eq!(generated["outputs"]["ids_file"], ids.to_str().unwrap());
            let staged = dir.path().join(format!("{revision}-{provider}.parquet"));
            let transform = [
                "transform",
                "--input-file",
                feed.to_str().unwrap(),
                "--provider",
                provider,
                "--output-file",
                staged.to_str().unwrap(),
            ];
            let (output, result) = rstask_result(&transform, &[], dir.path());
            assert_exit(&output, 0);
            let mut counts = result.unwrap()["counts"].clone();
            // the changed values change the bytes, nothing else
            counts.as_object_mut().unwrap().remove("bytes_in");
            let batches = read_parquet(bytes::Bytes::from(std::fs::read(&staged).unwrap()));
            let mut rows = Vec::new();
            for batch in &batches {
                let ids = batch.column(0).as_string::<i32>();
                let lines = batch.column(12).as_primitive::<UInt64Type>();
                let players = batch.column(6).as_string::<i32>();
                for i in 0..batch.num_rows() {
                    // every value a revision may change: player, three odds, two scores
                    let mut values = format!("{:?}", players.is_valid(i).then(|| players.value(i)));
                    for c in 7..10 {
                        let odds = batch.column(c).as_primitive::<Float64Type>();
                        let _ = write!(values, " {:?}", odds.is_valid(i).then(|| odds.value(i)));
                    }
                    for c in 10..12 {
                        let score = batch.column(c).as_primitive::<UInt16Type>();
                        let _ = write!(values, " {:?}", score.is_valid(i).then(|| score.value(i)));
                    }
                    rows.push((format!("{}\t{}", ids.value(i), lines.value(i)), values));
                }
            }
            let listed = std::fs::read_to_string(&ids).unwrap();
            let staged_ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
            assert_eq!(
                listed.lines().collect::<Vec<_>>(),
                staged_ids,
                "{provider} revision {revision}"
            );
            assert_eq!(
                counts["rows_out"], generated["counts"]["rows_out"],
                "{provider}"
            );
            runs.push((listed, rows, counts, generated));
        }
        let (ids0, rows0, counts0, generated0) = &runs[0];
        let (ids1, rows1, counts1, generated1) = &runs[1];
        assert_eq!(ids0, ids1, "{provider}: the same ids and lines");
        assert_eq!(counts0, counts1, "{provider}: the same counts");
        assert!(generated0["counts"].get("rows_revised").is_none());
        assert!(generated0["outputs"].get("revision").is_none());
        let changed = rows0.iter().zip(rows1).filter(|(a, b)| a.1 != b.1).count();
        let revised = generated1["counts"]["rows_revised"].as_u64().unwrap();
        assert_eq!(
            changed as u64, revised,
            "{provider}: every revised row differs"
        );
        let rows = rows0.len();
        assert!(
            changed * 10 > rows * 2 && changed * 10 < rows * 3,
            "{provider}: {changed} of {rows}"
        );
        assert_eq!(generated1["outputs"]["revision"], 1);
    }
}
