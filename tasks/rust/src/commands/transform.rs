//! `transform`: raw provider objects → staged Parquet events + quarantined rows.
//!
//! For every raw object of `--manifest` (or each `--key`): the provider's mapping (from
//! `raw/<provider>/…`) turns each row into an event or a rejection. The object is streamed
//! from S3 (bounded memory whatever its size) into two local scratch files, then uploaded
//! whole: `quarantine/<path>.ndjson` first (or deleted when no row was rejected, so a re-run
//! leaves no stale rejects), then `staged/<path>.parquet`. Same input, same bytes.
//!
//! An unusable object (truncated or corrupt gzip, missing, unknown provider, bad header)
//! fails alone: the others are still transformed, then the command exits 65 naming every
//! failed object. S3 network errors stop the command with exit 75.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;

use super::Context;
use crate::config::{flag_or_env, path, whole_number};
use crate::error::{Result, TaskError};
use crate::result::TaskResult;
use crate::s3::{self, S3Args, S3Settings};
use crate::transform::Reason;
use crate::transform::mapping::Mappings;
use crate::transform::object::{self, Failure, Options, SourceError, Stats};

/// `transform`'s own flags.
///
/// Field docs are the `--help` text, hence plain words, no Markdown.
#[allow(clippy::doc_markdown)]
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Batch manifest key written by extask discover (env RSTASK_MANIFEST)
    #[arg(long, value_name = "KEY")]
    pub manifest: Option<String>,
    /// Transform this raw object instead of a manifest's (repeatable)
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
    /// Directory of <provider>.toml mappings that add to or replace the built-in ones (env RSTASK_MAPPINGS_DIR)
    #[arg(long, value_name = "DIR")]
    pub mappings_dir: Option<String>,
    /// Local mode (benchmarks, no S3): transform this local raw file (CSV or NDJSON, gzip or not) with the same streaming path; needs --provider and --output-file
    #[arg(long, value_name = "PATH", conflicts_with_all = ["manifest", "keys"], requires_all = ["provider", "output_file"])]
    pub input_file: Option<String>,
    /// Local mode: the provider whose mapping reads --input-file
    #[arg(long, value_name = "NAME", requires = "input_file")]
    pub provider: Option<String>,
    /// Local mode: where to write the staged Parquet events
    #[arg(long, value_name = "PATH", requires = "input_file")]
    pub output_file: Option<String>,
    /// Local mode: where to write quarantined rows (default: <output-file>.quarantine.ndjson; removed when no row was rejected)
    #[arg(long, value_name = "PATH", requires = "input_file")]
    pub quarantine_file: Option<String>,
    /// Memory for finding duplicate event ids in one object, MiB: beyond it ids spill to files in the scratch dir and duplicates are resolved after the stream, with the same output (env RSTASK_DEDUP_MEMORY_MB; default 128)
    #[arg(long, value_name = "MIB")]
    pub dedup_memory_mb: Option<String>,
    #[allow(missing_docs)] // flattened: its fields carry the help text
    #[command(flatten)]
    pub s3: S3Args,
}

/// Largest `--dedup-memory-mb`.
const MAX_DEDUP_MEMORY_MB: u64 = 1 << 16;

/// The transform options of the flags: the duplicate-id budget, scratch under `scratch`.
fn options(args: &Args, ctx: &Context<'_>, scratch: &Path) -> Result<Options> {
    let mut options = Options {
        scratch: scratch.to_path_buf(),
        ..Options::default()
    };
    if let Some(raw) = flag_or_env(
        args.dedup_memory_mb.as_deref(),
        "--dedup-memory-mb",
        ctx.env,
    ) {
        let mib = whole_number(&raw, MAX_DEDUP_MEMORY_MB, "MiB")?;
        options.dedup_budget = usize::try_from(mib << 20).unwrap_or(usize::MAX);
    }
    Ok(options)
}

/// Where the transform puts the events of a raw object (`pytask.clickhouse.events.staged_key`).
///
/// ```
/// use rstask::commands::transform::staged_key;
/// assert_eq!(
///     staged_key("raw/acme/2026/11/23/feed-001.csv.gz").as_deref(),
///     Some("staged/acme/2026/11/23/feed-001.csv.gz.parquet")
/// );
/// assert_eq!(staged_key("other/x.csv"), None);
/// ```
#[must_use]
pub fn staged_key(raw_key: &str) -> Option<String> {
    raw_key
        .strip_prefix("raw/")
        .map(|rest| format!("staged/{rest}.parquet"))
}

/// Where the rejected rows of a raw object go.
///
/// ```
/// use rstask::commands::transform::quarantine_key;
/// assert_eq!(
///     quarantine_key("raw/acme/a.csv").as_deref(),
///     Some("quarantine/acme/a.csv.ndjson")
/// );
/// ```
#[must_use]
pub fn quarantine_key(raw_key: &str) -> Option<String> {
    raw_key
        .strip_prefix("raw/")
        .map(|rest| format!("quarantine/{rest}.ndjson"))
}

/// The provider of a raw key: `raw/<provider>/<something>`.
fn provider_of(raw_key: &str) -> Option<&str> {
    let rest = raw_key.strip_prefix("raw/")?;
    let (provider, path) = rest.split_once('/')?;
    (!provider.is_empty() && !path.is_empty() && !path.ends_with('/')).then_some(provider)
}

#[derive(Debug)]
enum Outcome {
    Done {
        stats: Stats,
        staged: String,
        quarantine: Option<String>,
        bytes: u64,
    },
    Failed {
        reason: &'static str,
        detail: String,
    },
}

/// The totals of a run.
#[derive(Debug, Default)]
struct Totals {
    objects: u64,
    failed: Vec<(String, &'static str, String)>,
    rows_in: u64,
    rows_out: u64,
    quarantined: [u64; Reason::ALL.len()],
    bytes_in: u64,
    staged: Vec<String>,
    quarantine: Vec<String>,
}

/// Runs the transform.
///
/// # Errors
/// Usage errors for bad flags; permanent when the manifest is unusable or any object
/// failed; transient on S3 network errors; internal if rows went missing.
pub fn execute(args: &Args, ctx: &Context<'_>) -> Result<TaskResult> {
    if let Some(input) = &args.input_file {
        return execute_local(args, input, ctx);
    }
    let manifest = flag_or_env(args.manifest.as_deref(), "--manifest", ctx.env)
        .filter(|raw| !raw.value.is_empty())
        .map(|raw| raw.value);
    match (&manifest, args.keys.is_empty()) {
        (None, true) => {
            return Err(TaskError::usage(
                "expected --manifest (or RSTASK_MANIFEST) or --key to be set, got none",
            ));
        }
        (Some(_), false) => {
            return Err(TaskError::usage(
                "expected either --manifest or --key, got both",
            ));
        }
        _ => {}
    }
    // Every flag is checked before any I/O: a bad one is a usage error, never a read of S3.
    let mut options = options(args, ctx, &ctx.settings.scratch_dir)?;
    let mappings_dir = flag_or_env(args.mappings_dir.as_deref(), "--mappings-dir", ctx.env)
        .map(|raw| path(&raw))
        .transpose()?;
    let mappings = Mappings::with_dir(mappings_dir.as_deref()).map_err(TaskError::usage)?;
    let settings = S3Settings::resolve(&args.s3, ctx.env)?;
    let store = settings.store()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rstask-io")
        .enable_all()
        .build()
        .map_err(|e| {
            TaskError::Internal(anyhow::Error::new(e).context("starting the I/O runtime"))
        })?;

    let keys = match &manifest {
        Some(key) => runtime.block_on(read_manifest(store.as_ref(), key))?,
        None => args.keys.clone(),
    };
    tracing::info!(
        bucket = settings.bucket.as_str(),
        manifest = manifest.as_deref().unwrap_or(""),
        objects = keys.len(),
        "transform started"
    );
    let scratch = Scratch::create(&ctx.settings.scratch_dir)?;
    options.scratch.clone_from(&scratch.dir);
    let mut totals = Totals::default();
    for (n, key) in keys.iter().enumerate() {
        let outcome = transform_one(&runtime, &store, &mappings, key, &options, n)?;
        totals.add(key, outcome);
    }
    totals.into_result(&settings.bucket, manifest)
}

/// Local mode: one local file through exactly the S3 path's streaming transform
/// ([`object::transform`]: reader → lines → parser → mapping → Parquet writer), no S3.
fn execute_local(args: &Args, input: &str, ctx: &Context<'_>) -> Result<TaskResult> {
    let (Some(provider), Some(output)) = (args.provider.as_deref(), args.output_file.as_deref())
    else {
        return Err(TaskError::usage(
            "expected --provider and --output-file with --input-file",
        ));
    };
    let mappings_dir = flag_or_env(args.mappings_dir.as_deref(), "--mappings-dir", ctx.env)
        .map(|raw| path(&raw))
        .transpose()?;
    let mappings = Mappings::with_dir(mappings_dir.as_deref()).map_err(TaskError::usage)?;
    let mapping = mappings.get(provider).ok_or_else(|| {
        TaskError::usage(format!(
            "expected --provider to be one of {}, got: {}",
            mappings.providers().join(", "),
            crate::config::quote(provider)
        ))
    })?;
    let options = options(args, ctx, &ctx.settings.scratch_dir)?;
    let input_path = PathBuf::from(input);
    let staged_file = PathBuf::from(output);
    let quarantine_file = args.quarantine_file.as_ref().map_or_else(
        || PathBuf::from(format!("{output}.quarantine.ndjson")),
        PathBuf::from,
    );
    let file = std::fs::File::open(&input_path).map_err(|e| {
        TaskError::permanent(format!(
            "expected --input-file {} to be readable, got: {e}",
            crate::config::quote(input)
        ))
    })?;
    let bytes = file.metadata().map_or(0, |m| m.len());
    let name = input_path
        .file_name()
        .map_or_else(|| "input".into(), |n| n.to_string_lossy().into_owned());
    // The key only names the object (gzip required for a `.gz` name, messages).
    let key = format!("raw/{provider}/{name}");
    tracing::info!(
        input = input,
        provider,
        bytes,
        "transform started (local file)"
    );
    let stats = match object::transform_with(
        file,
        &key,
        &mapping,
        &staged_file,
        &quarantine_file,
        &options,
    ) {
        Ok(stats) => stats,
        Err(failure) => {
            remove(&[&staged_file, &quarantine_file]);
            return Err(match failure {
                Failure::Object { reason, detail } => {
                    TaskError::permanent(format!("{input}: {reason}: {detail}"))
                }
                Failure::Source(e) | Failure::Local(e) => {
                    TaskError::Permanent(e.context(format!("transforming {input}")))
                }
            });
        }
    };
    let quarantine = if stats.rows_quarantined() > 0 {
        Some(quarantine_file.to_string_lossy().into_owned())
    } else {
        remove(&[&quarantine_file]);
        None
    };
    let mut totals = Totals::default();
    totals.add(
        &key,
        Outcome::Done {
            stats,
            staged: staged_file.to_string_lossy().into_owned(),
            quarantine,
            bytes,
        },
    );
    totals.into_result("", None)
}

impl Totals {
    fn add(&mut self, key: &str, outcome: Outcome) {
        self.objects += 1;
        match outcome {
            Outcome::Done {
                stats,
                staged,
                quarantine,
                bytes,
            } => {
                tracing::info!(
                    key,
                    staged = staged.as_str(),
                    rows_in = stats.rows_in,
                    rows_out = stats.rows_out,
                    rows_quarantined = stats.rows_quarantined(),
                    gzip = stats.gzip,
                    "object transformed"
                );
                self.rows_in += stats.rows_in;
                self.rows_out += stats.rows_out;
                self.bytes_in += bytes;
                for (total, count) in self.quarantined.iter_mut().zip(stats.quarantined) {
                    *total += count;
                }
                self.staged.push(staged);
                self.quarantine.extend(quarantine);
            }
            Outcome::Failed { reason, detail } => {
                tracing::warn!(key, reason, detail = detail.as_str(), "object failed");
                self.failed.push((key.to_owned(), reason, detail));
            }
        }
    }

    /// Checks the row balance, then: the result, or the permanent failure naming every
    /// failed object.
    fn into_result(self, bucket: &str, manifest: Option<String>) -> Result<TaskResult> {
        let rows_quarantined: u64 = self.quarantined.iter().sum();
        if self.rows_in != self.rows_out + rows_quarantined {
            return Err(TaskError::Internal(anyhow::anyhow!(
                "rows_in ({}) != rows_out ({}) + rows_quarantined ({rows_quarantined})",
                self.rows_in,
                self.rows_out
            )));
        }
        tracing::info!(
            objects = self.objects,
            objects_failed = self.failed.len() as u64,
            rows_in = self.rows_in,
            rows_out = self.rows_out,
            rows_quarantined,
            "transform done"
        );
        if !self.failed.is_empty() {
            let listed: Vec<String> = self
                .failed
                .iter()
                .map(|(key, reason, detail)| format!("{key} ({reason}: {detail})"))
                .collect();
            return Err(TaskError::permanent(format!(
                "{} of {} objects failed permanently: {}",
                self.failed.len(),
                self.objects,
                listed.join("; ")
            )));
        }
        let mut result = TaskResult::ok("transform")
            .count("objects", self.objects)
            .count("objects_failed", 0)
            .count("rows_in", self.rows_in)
            .count("rows_out", self.rows_out)
            .count("rows_quarantined", rows_quarantined)
            .count("bytes_in", self.bytes_in);
        for reason in Reason::ALL {
            let name = format!("quarantined_{}", reason.as_str());
            result = result.count(&name, self.quarantined[reason.index()]);
        }
        let result = result
            .output("bucket", bucket)
            .output("manifest", manifest.map_or(Value::Null, Value::from))
            .output("staged", self.staged)
            .output("quarantine", self.quarantine)
            .output("failed", Vec::<Value>::new());
        if self.objects == 0 {
            tracing::info!(reason = "the manifest lists no objects", "nothing to do");
            return Ok(result.nothing_to_do());
        }
        Ok(result)
    }
}

/// The raw keys a batch manifest lists (`{"objects": [{"key": …}, …]}`).
async fn read_manifest(store: &dyn ObjectStore, key: &str) -> Result<Vec<String>> {
    let what = format!("reading manifest {key}");
    let got = store
        .get(&s3::object_path(key))
        .await
        .map_err(|e| s3::classify(&e, &what))?;
    let bytes = got.bytes().await.map_err(|e| s3::classify(&e, &what))?;
    let parsed: Value = serde_json::from_slice(&bytes)
        .map_err(|e| TaskError::permanent(format!("manifest {key} is not JSON: {e}")))?;
    let objects = parsed
        .get("objects")
        .and_then(Value::as_array)
        .ok_or_else(|| TaskError::permanent(format!("manifest {key} has no \"objects\" list")))?;
    objects
        .iter()
        .map(|o| {
            o.get("key")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    TaskError::permanent(format!("manifest {key}: an object without a \"key\""))
                })
        })
        .collect()
}

fn transform_one(
    runtime: &tokio::runtime::Runtime,
    store: &Arc<dyn ObjectStore>,
    mappings: &Mappings,
    key: &str,
    options: &Options,
    n: usize,
) -> Result<Outcome> {
    let scratch = options.scratch.as_path();
    let failed = |reason, detail: String| Ok(Outcome::Failed { reason, detail });
    let (Some(provider), Some(staged), Some(quarantine)) =
        (provider_of(key), staged_key(key), quarantine_key(key))
    else {
        return failed("bad_key", "expected a key raw/<provider>/<path>".into());
    };
    let Some(mapping) = mappings.get(provider) else {
        return failed(
            "unknown_provider",
            format!(
                "no mapping for provider {provider:?} (known: {})",
                mappings.providers().join(", ")
            ),
        );
    };
    let got = match runtime.block_on(store.get(&s3::object_path(key))) {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => {
            return failed("not_found", "no such object".into());
        }
        Err(e) => return Err(s3::classify(&e, &format!("reading {key}"))),
    };
    let bytes = got.meta.size;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut stream = got.into_stream();
    runtime.spawn(async move {
        while let Some(chunk) = stream.next().await {
            let stop = chunk.is_err();
            if tx.send(chunk).await.is_err() || stop {
                break;
            }
        }
    });
    let reader = ChannelReader {
        rx,
        current: Bytes::new(),
    };
    let staged_file = scratch.join(format!("{n}.parquet"));
    let quarantine_file = scratch.join(format!("{n}.ndjson"));
    let result = object::transform_with(
        reader,
        key,
        &mapping,
        &staged_file,
        &quarantine_file,
        options,
    );
    let stats = match result {
        Ok(stats) => stats,
        Err(Failure::Object { reason, detail }) => {
            remove(&[&staged_file, &quarantine_file]);
            return failed(reason, detail);
        }
        Err(Failure::Source(e)) => {
            remove(&[&staged_file, &quarantine_file]);
            let what = format!("reading {key}");
            return Err(match e.downcast::<object_store::Error>() {
                Ok(e) => s3::classify(&e, &what),
                Err(e) => TaskError::Transient(e.context(what)),
            });
        }
        Err(Failure::Local(e)) => {
            remove(&[&staged_file, &quarantine_file]);
            return Err(TaskError::Permanent(e.context("writing scratch files")));
        }
    };
    if stats.rows_in != stats.rows_out + stats.rows_quarantined() {
        return Err(TaskError::Internal(anyhow::anyhow!(
            "{key}: rows_in ({}) != rows_out ({}) + rows_quarantined ({})",
            stats.rows_in,
            stats.rows_out,
            stats.rows_quarantined()
        )));
    }
    let quarantine_written = runtime.block_on(async {
        if stats.rows_quarantined() > 0 {
            s3::upload_file(store.as_ref(), &quarantine, &quarantine_file).await?;
            Ok::<_, TaskError>(Some(quarantine.clone()))
        } else {
            match store.delete(&s3::object_path(&quarantine)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(s3::classify(&e, &format!("removing stale {quarantine}"))),
            }
        }
    });
    let uploaded = quarantine_written.and_then(|q| {
        runtime.block_on(s3::upload_file(store.as_ref(), &staged, &staged_file))?;
        Ok(q)
    });
    remove(&[&staged_file, &quarantine_file]);
    Ok(Outcome::Done {
        stats,
        staged,
        quarantine: uploaded?,
        bytes,
    })
}

fn remove(files: &[&Path]) {
    for file in files {
        let _ = std::fs::remove_file(file);
    }
}

/// A per-run directory under the scratch dir, removed at the end.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn create(base: &Path) -> Result<Self> {
        let dir = base.join(format!("rstask-transform-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| {
            TaskError::permanent(format!(
                "expected scratch dir {} to be writable, got: {e}",
                crate::config::quote(&base.to_string_lossy())
            ))
        })?;
        Ok(Self { dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The GET body as a blocking reader: chunks arrive through a bounded channel from the
/// I/O runtime, so download and parsing overlap and at most 8 chunks wait in memory.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<object_store::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(io::Error::other(SourceError(anyhow::Error::new(e)))),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// Per-reason counts of a result, by name (for tests and callers).
#[must_use]
pub fn quarantine_counts(result: &TaskResult) -> BTreeMap<String, u64> {
    Reason::ALL
        .iter()
        .map(|r| {
            let name = format!("quarantined_{}", r.as_str());
            let value = result.counts.get(&name).copied().unwrap_or(0);
            (r.as_str().to_owned(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_providers() {
        assert_eq!(provider_of("raw/acme/a.csv"), Some("acme"));
        assert_eq!(provider_of("raw/acme/2026/11/a.csv.gz"), Some("acme"));
        for bad in [
            "raw/acme",
            "raw//a.csv",
            "raw/acme/",
            "staged/acme/a.csv",
            "acme/a.csv",
        ] {
            assert_eq!(provider_of(bad), None, "{bad}");
        }
        assert_eq!(
            staged_key("raw/betco/x.ndjson").as_deref(),
            Some("staged/betco/x.ndjson.parquet")
        );
    }
}
