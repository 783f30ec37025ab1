//! `transform`: raw provider objects → staged Parquet events + quarantined rows.
//!
//! For every raw object of `--manifest` (or each `--key`): the provider's mapping (from
//! `raw/<provider>/…`) turns each row into an event or a rejection. The object is streamed
//! from S3 (bounded memory whatever its size) into two local scratch files, then uploaded
//! whole: `quarantine/<path>.ndjson` first (or deleted when no row was rejected, so a re-run
//! leaves no stale rejects), then `staged/<path>.parquet`. Same input, same bytes.
//!
//! A *poison object* — one that cannot be read as a whole: truncated or corrupt gzip, a bad
//! header, an unknown provider, a malformed `raw/…` key, unreadable bytes — does not fail
//! the batch: its reason goes to the sidecar `quarantine/_reasons/<rest>.json` (`<rest>` =
//! the key without `raw/`; the key, the manifest's etag and size, reason, detail, where
//! archive will put the object, the manifest, when), any stale staged or row-quarantine
//! object of that key is deleted, it is counted in `objects_quarantined` and listed in the
//! outputs' `quarantined_objects`, and the others are transformed (exit 0). A successful
//! transform of a key deletes a stale sidecar before uploading the staged object, so a
//! fixed object put back under `raw/` loads normally. A missing object or a key outside
//! `raw/` still fails the command (exit 65, after the others); S3 network errors stop it
//! with exit 75.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};
use serde_json::Value;

use super::Context;
use crate::config::{Raw, flag_or_env, path, whole_number};
use crate::error::{Result, TaskError};
use crate::result::TaskResult;
use crate::s3::{self, S3Args, S3Settings};
use crate::transform::Reason;
use crate::transform::mapping::{Mapping, Mappings};
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

/// Where the transform records why a raw object is a poison object (the sidecar that
/// load and archive read).
///
/// ```
/// use rstask::commands::transform::reasons_key;
/// assert_eq!(
///     reasons_key("raw/acme/a.csv.gz").as_deref(),
///     Some("quarantine/_reasons/acme/a.csv.gz.json")
/// );
/// ```
#[must_use]
pub fn reasons_key(raw_key: &str) -> Option<String> {
    raw_key
        .strip_prefix("raw/")
        .map(|rest| format!("quarantine/_reasons/{rest}.json"))
}

/// Where archive puts a poison object (named in its sidecar; the transform copies nothing).
///
/// ```
/// use rstask::commands::transform::quarantined_object_key;
/// assert_eq!(
///     quarantined_object_key("raw/acme/a.csv.gz").as_deref(),
///     Some("quarantine/_objects/acme/a.csv.gz")
/// );
/// ```
#[must_use]
pub fn quarantined_object_key(raw_key: &str) -> Option<String> {
    raw_key
        .strip_prefix("raw/")
        .map(|rest| format!("quarantine/_objects/{rest}"))
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
    /// A poison object: its sidecar is written, its stale outputs deleted.
    Quarantined {
        reason: &'static str,
        detail: String,
    },
    Failed {
        reason: &'static str,
        detail: String,
    },
}

/// One object to transform: a manifest entry (its etag, unquoted, and size), or a `--key`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    key: String,
    etag: Option<String>,
    size: Option<u64>,
}

impl Target {
    fn key(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            etag: None,
            size: None,
        }
    }
}

/// The totals of a run.
#[derive(Debug, Default)]
struct Totals {
    objects: u64,
    failed: Vec<(String, &'static str, String)>,
    poisoned: Vec<(String, &'static str, String)>,
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
/// Usage errors for bad flags; permanent when the manifest is unusable or an object is
/// missing or outside `raw/` (poison objects are quarantined, not failed); transient on
/// S3 network errors; internal if rows went missing.
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

    let targets = match &manifest {
        Some(key) => runtime.block_on(read_manifest(store.as_ref(), key))?,
        None => args.keys.iter().map(|k| Target::key(k)).collect(),
    };
    tracing::info!(
        bucket = settings.bucket.as_str(),
        manifest = manifest.as_deref().unwrap_or(""),
        objects = targets.len(),
        "transform started"
    );
    let scratch = Scratch::create(&ctx.settings.scratch_dir)?;
    options.scratch.clone_from(&scratch.dir);
    let mut totals = Totals::default();
    let run = Run {
        runtime: &runtime,
        store: &store,
        mappings: &mappings,
        options: &options,
        manifest: manifest.as_deref(),
    };
    for (n, target) in targets.iter().enumerate() {
        let outcome = run.transform_one(target, n)?;
        totals.add(&target.key, outcome);
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
    let staged_file = PathBuf::from(output);
    let quarantine_file = args.quarantine_file.as_ref().map_or_else(
        || PathBuf::from(format!("{output}.quarantine.ndjson")),
        PathBuf::from,
    );
    let input_raw = Raw {
        value: input.to_owned(),
        source: "--input-file".to_owned(),
    };
    let LocalFile { key, stats, bytes } = transform_file(
        &input_raw,
        &mapping,
        &staged_file,
        &quarantine_file,
        &options,
    )?;
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

/// What [`transform_file`] read and wrote.
#[derive(Debug)]
pub struct LocalFile {
    /// The object key the file stands for: `raw/<provider>/<file name>`.
    pub key: String,
    /// The transform's counts (and whether the file was gzip).
    pub stats: Stats,
    /// The file's size.
    pub bytes: u64,
}

/// One local raw file (`input`: the path, and the flag or variable that named it) through
/// exactly the S3 path's streaming transform ([`object::transform_with`]: reader → lines →
/// parser → mapping → Parquet writer), no S3: the events into `staged`, the rejected rows
/// into `quarantine` (both removed on failure). The file stands for the object
/// `raw/<provider>/<its name>`, so a `.gz` name must hold gzip, as under `raw/`.
///
/// # Errors
/// Permanent when the file cannot be opened, cannot be read as a whole (corrupt gzip, a
/// header without the mapping's fields: `<input>: <reason>: <detail>`), or the outputs
/// cannot be written.
pub fn transform_file(
    input: &Raw,
    mapping: &Mapping,
    staged: &Path,
    quarantine: &Path,
    options: &Options,
) -> Result<LocalFile> {
    let path = Path::new(&input.value);
    let file = std::fs::File::open(path).map_err(|e| {
        TaskError::permanent(format!(
            "expected {} {} to be readable, got: {e}",
            input.source,
            crate::config::quote(&input.value)
        ))
    })?;
    let bytes = file.metadata().map_or(0, |m| m.len());
    let name = path
        .file_name()
        .map_or_else(|| "input".into(), |n| n.to_string_lossy().into_owned());
    // The key only names the object (gzip required for a `.gz` name, messages).
    let key = format!("raw/{}/{name}", mapping.provider);
    tracing::info!(
        input = input.value.as_str(),
        provider = mapping.provider.as_str(),
        bytes,
        "transform started (local file)"
    );
    match object::transform_with(file, &key, mapping, staged, quarantine, options) {
        Ok(stats) => Ok(LocalFile { key, stats, bytes }),
        Err(failure) => {
            remove(&[staged, quarantine]);
            let input = &input.value;
            Err(match failure {
                Failure::Object { reason, detail } => {
                    TaskError::permanent(format!("{input}: {reason}: {detail}"))
                }
                Failure::Source(e) | Failure::Local(e) => {
                    TaskError::Permanent(e.context(format!("transforming {input}")))
                }
            })
        }
    }
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
            Outcome::Quarantined { reason, detail } => {
                tracing::warn!(key, reason, detail = detail.as_str(), "object quarantined");
                self.poisoned.push((key.to_owned(), reason, detail));
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
            objects_quarantined = self.poisoned.len() as u64,
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
            .count("objects_quarantined", self.poisoned.len() as u64)
            .count("rows_in", self.rows_in)
            .count("rows_out", self.rows_out)
            .count("rows_quarantined", rows_quarantined)
            .count("bytes_in", self.bytes_in);
        for reason in Reason::ALL {
            let name = format!("quarantined_{}", reason.as_str());
            result = result.count(&name, self.quarantined[reason.index()]);
        }
        let quarantined_objects: Vec<Value> = self
            .poisoned
            .into_iter()
            .map(|(key, reason, detail)| {
                serde_json::json!({"key": key, "reason": reason, "detail": detail})
            })
            .collect();
        let result = result
            .output("bucket", bucket)
            .output("manifest", manifest.map_or(Value::Null, Value::from))
            .output("staged", self.staged)
            .output("quarantine", self.quarantine)
            .output("quarantined_objects", quarantined_objects)
            .output("failed", Vec::<Value>::new());
        if self.objects == 0 {
            tracing::info!(reason = "the manifest lists no objects", "nothing to do");
            return Ok(result.nothing_to_do());
        }
        Ok(result)
    }
}

/// The objects a batch manifest lists (`{"objects": [{"key", "etag", "size", …}, …]}`):
/// each key with its etag (quotes stripped) and size, when the manifest gives them.
async fn read_manifest(store: &dyn ObjectStore, key: &str) -> Result<Vec<Target>> {
    let what = format!("reading manifest {key}");
    let got = store
        .get(&s3::object_path(key))
        .await
        .map_err(|e| s3::classify(&e, &what))?;
    let bytes = got.bytes().await.map_err(|e| s3::classify(&e, &what))?;
    parse_manifest(&bytes, key)
}

fn parse_manifest(bytes: &[u8], key: &str) -> Result<Vec<Target>> {
    let parsed: Value = serde_json::from_slice(bytes)
        .map_err(|e| TaskError::permanent(format!("manifest {key} is not JSON: {e}")))?;
    let objects = parsed
        .get("objects")
        .and_then(Value::as_array)
        .ok_or_else(|| TaskError::permanent(format!("manifest {key} has no \"objects\" list")))?;
    objects
        .iter()
        .map(|o| {
            let raw_key = o.get("key").and_then(Value::as_str).ok_or_else(|| {
                TaskError::permanent(format!("manifest {key}: an object without a \"key\""))
            })?;
            let etag = match o.get("etag") {
                None | Some(Value::Null) => None,
                Some(Value::String(etag)) => Some(unquote(etag).to_owned()),
                Some(other) => {
                    return Err(TaskError::permanent(format!(
                        "manifest {key}: expected the \"etag\" of {raw_key} to be a string, got: {other}"
                    )));
                }
            };
            let size = match o.get("size") {
                None | Some(Value::Null) => None,
                Some(value) => Some(value.as_u64().ok_or_else(|| {
                    TaskError::permanent(format!(
                        "manifest {key}: expected the \"size\" of {raw_key} to be a whole number, got: {value}"
                    ))
                })?),
            };
            Ok(Target {
                key: raw_key.to_owned(),
                etag,
                size,
            })
        })
        .collect()
}

/// An etag without its quotes (S3 sends `"…"`; manifests and sidecars hold it bare).
fn unquote(etag: &str) -> &str {
    etag.trim_matches('"')
}

/// What every object of a run shares.
struct Run<'a> {
    runtime: &'a tokio::runtime::Runtime,
    store: &'a Arc<dyn ObjectStore>,
    mappings: &'a Mappings,
    options: &'a Options,
    manifest: Option<&'a str>,
}

impl Run<'_> {
    fn transform_one(&self, target: &Target, n: usize) -> Result<Outcome> {
        let Self {
            runtime,
            store,
            mappings,
            options,
            ..
        } = self;
        let key = target.key.as_str();
        let scratch = options.scratch.as_path();
        let failed = |reason, detail: String| Ok(Outcome::Failed { reason, detail });
        let (Some(staged), Some(quarantine)) = (staged_key(key), quarantine_key(key)) else {
            // not a raw object at all: a wrong manifest, not a poison object
            return failed("bad_key", "expected a key raw/<provider>/<path>".into());
        };
        // Poison objects known from the key alone; the object must exist all the same.
        let poison = key_poison(key, mappings);
        if let Some((reason, detail)) = poison {
            let meta = match runtime.block_on(store.head(&s3::object_path(key))) {
                Ok(meta) => meta,
                Err(object_store::Error::NotFound { .. }) => {
                    return failed("not_found", "no such object".into());
                }
                Err(e) => return Err(s3::classify(&e, &format!("reading {key}"))),
            };
            let (etag, size) = (meta.e_tag.as_deref(), meta.size);
            return self.quarantine_object(target, etag, size, reason, detail);
        }
        let mapping = provider_of(key)
            .and_then(|provider| mappings.get(provider))
            .ok_or_else(|| TaskError::Internal(anyhow::anyhow!("{key}: no mapping")))?;
        let got = match runtime.block_on(store.get(&s3::object_path(key))) {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return failed("not_found", "no such object".into());
            }
            Err(e) => return Err(s3::classify(&e, &format!("reading {key}"))),
        };
        let bytes = got.meta.size;
        let etag = got.meta.e_tag.clone();
        let reader = ChannelReader::spawn(runtime, got);
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
                return self.quarantine_object(target, etag.as_deref(), bytes, reason, detail);
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
        let uploaded = runtime.block_on(async {
            let written = if stats.rows_quarantined() > 0 {
                s3::upload_file(store.as_ref(), &quarantine, &quarantine_file).await?;
                Some(quarantine.clone())
            } else {
                delete_if_present(store.as_ref(), &quarantine).await?;
                None
            };
            // a fixed object put back: its old poison verdict goes before it is staged
            if let Some(sidecar) = reasons_key(key) {
                delete_if_present(store.as_ref(), &sidecar).await?;
            }
            s3::upload_file(store.as_ref(), &staged, &staged_file).await?;
            Ok::<_, TaskError>(written)
        });
        remove(&[&staged_file, &quarantine_file]);
        Ok(Outcome::Done {
            stats,
            staged,
            quarantine: uploaded?,
            bytes,
        })
    }

    /// A poison object: writes its sidecar (the manifest's etag and size when it has
    /// them, else `etag` / `size`, the object's own), then deletes the stale staged and
    /// row-quarantine objects of its key.
    fn quarantine_object(
        &self,
        target: &Target,
        etag: Option<&str>,
        size: u64,
        reason: &'static str,
        detail: String,
    ) -> Result<Outcome> {
        let key = target.key.as_str();
        let (Some(sidecar), Some(staged), Some(quarantine), Some(archived)) = (
            reasons_key(key),
            staged_key(key),
            quarantine_key(key),
            quarantined_object_key(key),
        ) else {
            return Err(TaskError::Internal(anyhow::anyhow!(
                "{key}: a poison object outside raw/"
            )));
        };
        let etag = target
            .etag
            .as_deref()
            .or(etag)
            .map(unquote)
            .unwrap_or_default();
        let body = serde_json::json!({
            "key": key,
            "etag": etag,
            "size": target.size.unwrap_or(size),
            "reason": reason,
            "detail": detail,
            "quarantine_key": archived,
            "manifest": self.manifest,
            "detected_at": crate::logging::rfc3339_millis(crate::logging::now_millis()),
        });
        let store = self.store.as_ref();
        self.runtime.block_on(async {
            let attributes = Attributes::from_iter([(Attribute::ContentType, "application/json")]);
            store
                .put_opts(
                    &s3::object_path(&sidecar),
                    PutPayload::from(body.to_string().into_bytes()),
                    PutOptions::from(attributes),
                )
                .await
                .map_err(|e| s3::classify(&e, &format!("writing {sidecar}")))?;
            // an earlier good version's outputs must never be loaded for this one
            delete_if_present(store, &staged).await?;
            delete_if_present(store, &quarantine).await
        })?;
        Ok(Outcome::Quarantined { reason, detail })
    }
}

/// Why a key alone makes its object a poison object: not `raw/<provider>/<path>`, or a
/// provider without a mapping.
fn key_poison(key: &str, mappings: &Mappings) -> Option<(&'static str, String)> {
    match provider_of(key) {
        None => Some((
            "bad_key",
            "expected a key raw/<provider>/<path> (a provider, then a file path)".to_owned(),
        )),
        Some(provider) if mappings.get(provider).is_none() => Some((
            "unknown_provider",
            format!(
                "expected a provider with a mapping (one of {}), got: {provider:?}",
                mappings.providers().join(", ")
            ),
        )),
        Some(_) => None,
    }
}

/// Deletes an object; one that is not there is fine.
async fn delete_if_present(store: &dyn ObjectStore, key: &str) -> Result<()> {
    match store.delete(&s3::object_path(key)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(s3::classify(&e, &format!("removing stale {key}"))),
    }
}

fn remove(files: &[&Path]) {
    for file in files {
        let _ = std::fs::remove_file(file);
    }
}

/// A per-run directory under the scratch dir, removed at the end.
pub(super) struct Scratch {
    pub(super) dir: PathBuf,
}

impl Scratch {
    pub(super) fn create(base: &Path) -> Result<Self> {
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

impl ChannelReader {
    /// Streams the body of `got` on the I/O runtime into a new reader.
    fn spawn(runtime: &tokio::runtime::Runtime, got: object_store::GetResult) -> Self {
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
        Self {
            rx,
            current: Bytes::new(),
        }
    }
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
        assert_eq!(reasons_key("other/x"), None);
        assert_eq!(quarantined_object_key("other/x"), None);
    }

    #[test]
    fn manifest_objects_with_etag_and_size() {
        let body = br#"{"objects": [
            {"key": "raw/acme/a.csv", "etag": "\"abc\"", "size": 12, "arrived_at": "x"},
            {"key": "raw/acme/b.csv", "etag": "def", "size": 0},
            {"key": "raw/acme/c.csv"}
        ]}"#;
        let targets = parse_manifest(body, "m.json").unwrap();
        assert_eq!(
            targets,
            [
                Target {
                    key: "raw/acme/a.csv".into(),
                    etag: Some("abc".into()),
                    size: Some(12)
                },
                Target {
                    key: "raw/acme/b.csv".into(),
                    etag: Some("def".into()),
                    size: Some(0)
                },
                Target::key("raw/acme/c.csv"),
            ]
        );
        for (bad, needle) in [
            (r#"{"objects": [{"etag": "x"}]}"#, "without a \"key\""),
            (
                r#"{"objects": [{"key": "k", "size": -1}]}"#,
                "\"size\" of k",
            ),
            (r#"{"objects": [{"key": "k", "etag": 1}]}"#, "\"etag\" of k"),
            (r#"{"items": []}"#, "no \"objects\" list"),
            ("nope", "not JSON"),
        ] {
            let error = parse_manifest(bad.as_bytes(), "m.json").unwrap_err();
            assert_eq!(error.kind(), "permanent", "{bad}");
            assert!(error.chain().contains(needle), "{bad}: {}", error.chain());
        }
    }
}
