//! `generate`: writes a deterministic raw feed for a provider (tests, benchmarks, demo).
//!
//! `rstask generate --provider acme --rows 100000 --seed 7 --bad wrong_type=0.01,duplicate_key=0.005 --gzip --output feed.csv.gz`
//! The result's counts are named as `transform`'s and are exactly what transforming this
//! feed must report: `rows_in`, `rows_out`, `rows_quarantined`, `quarantined_<reason>`.
//! `--ids-file` lists the event id and line of every good row; `--revision N` writes the
//! same feed with about a quarter of the good rows' values changed.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::Context;
use crate::config::{flag_or_env, path, quote};
use crate::error::{Classify, Result, TaskError};
use crate::generate::{self, BAD_KINDS, Spec};
use crate::result::TaskResult;
use crate::transform::Reason;
use crate::transform::mapping::Mappings;

/// `generate`'s own flags.
///
/// Field docs are the `--help` text, hence plain words, no Markdown.
#[allow(clippy::doc_markdown)]
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Provider whose mapping shapes the feed
    #[arg(long, value_name = "NAME")]
    pub provider: String,
    /// Data rows to write (good and bad)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub rows: u64,
    /// PRNG seed: same seed, same bytes
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Bad rows per kind, KIND=FRACTION, comma-separated or repeated (kinds: bad_quoting, bad_json, wrong_field_count, wrong_type, missing_field, invalid_utf8, timestamp_out_of_range, duplicate_key, unknown_enum)
    #[arg(long, value_name = "KIND=FRACTION", value_delimiter = ',')]
    pub bad: Vec<String>,
    /// gzip the output
    #[arg(long)]
    pub gzip: bool,
    /// Where to write the feed; - for stdout (then --result-file is required)
    #[arg(long, value_name = "PATH")]
    pub output: String,
    /// Directory of <provider>.toml mappings that add to or replace the built-in ones (env RSTASK_MAPPINGS_DIR)
    #[arg(long, value_name = "DIR")]
    pub mappings_dir: Option<String>,
    /// Also write one line per good row (one the transform stages), in line order: <event_id><TAB><source_line>, the id exactly as the transform builds it
    #[arg(long, value_name = "PATH")]
    pub ids_file: Option<String>,
    /// 0: the feed of --seed. N > 0: the same feed (same rows, event ids, bad rows, lines) with a deterministic ~25 % of the good rows carrying changed values (odds, a score or the player), like a provider re-delivering corrected events; the result then counts them in rows_revised
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub revision: u64,
}

fn parse_bad(items: &[String]) -> Result<BTreeMap<Reason, f64>> {
    let mut bad = BTreeMap::new();
    for item in items.iter().filter(|i| !i.is_empty()) {
        let parsed = item.split_once('=').and_then(|(kind, fraction)| {
            let kind = Reason::from_name(kind.trim()).filter(|k| BAD_KINDS.contains(k))?;
            let fraction: f64 = fraction.trim().parse().ok()?;
            Some((kind, fraction))
        });
        let (kind, fraction) = parsed.ok_or_else(|| {
            let kinds: Vec<&str> = BAD_KINDS.iter().map(|k| k.as_str()).collect();
            TaskError::usage(format!(
                "expected --bad to be KIND=FRACTION with KIND one of {}, got: {}",
                kinds.join(", "),
                quote(item)
            ))
        })?;
        bad.insert(kind, fraction);
    }
    Ok(bad)
}

/// Writes the feed.
///
/// # Errors
/// Usage errors for bad flags; permanent when the output cannot be written.
pub fn execute(args: &Args, ctx: &Context<'_>) -> Result<TaskResult> {
    let mappings_dir = flag_or_env(args.mappings_dir.as_deref(), "--mappings-dir", ctx.env)
        .map(|raw| path(&raw))
        .transpose()?;
    let mappings = Mappings::with_dir(mappings_dir.as_deref()).map_err(TaskError::usage)?;
    let mapping = mappings.get(&args.provider).ok_or_else(|| {
        TaskError::usage(format!(
            "expected --provider to be one of {}, got: {}",
            mappings.providers().join(", "),
            quote(&args.provider)
        ))
    })?;
    let spec = Spec {
        rows: args.rows,
        seed: args.seed,
        bad: parse_bad(&args.bad)?,
        revision: args.revision,
    };
    generate::validate(&mapping, &spec).map_err(|e| TaskError::usage(format!("--bad: {e}")))?;
    if args.output == "-" && ctx.settings.result_file.is_none() {
        return Err(TaskError::usage(
            "expected --result-file with --output - (stdout carries the feed)",
        ));
    }
    if args.output.is_empty() {
        return Err(TaskError::usage(
            "expected --output to be a path or -, got: \"\"",
        ));
    }
    if let Some(ids) = &args.ids_file
        && (ids.is_empty() || ids == "-" || *ids == args.output)
    {
        return Err(TaskError::usage(format!(
            "expected --ids-file to be a path other than --output's, got: {}",
            quote(ids)
        )));
    }
    tracing::info!(
        provider = args.provider.as_str(),
        rows = args.rows,
        seed = args.seed,
        revision = args.revision,
        "generate started"
    );
    let mut ids = args
        .ids_file
        .as_ref()
        .map(|path| {
            std::fs::File::create(path)
                .map(|f| std::io::BufWriter::with_capacity(1 << 20, f))
                .map_err(|e| TaskError::permanent(format!("creating {}: {e}", quote(path))))
        })
        .transpose()?;
    let mut sink: Box<dyn Write> = if args.output == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        let file = std::fs::File::create(&args.output)
            .map_err(|e| TaskError::permanent(format!("creating {}: {e}", quote(&args.output))))?;
        Box::new(std::io::BufWriter::with_capacity(1 << 20, file))
    };
    let ids_sink = ids.as_mut().map(|w| w as &mut dyn Write);
    let summary = if args.gzip {
        let mut gz = GzEncoder::new(sink, Compression::new(6));
        let summary = generate::generate_to(&mapping, &spec, &mut gz, ids_sink).permanent()?;
        sink = gz.finish().permanent()?;
        summary
    } else {
        generate::generate_to(&mapping, &spec, &mut sink, ids_sink).permanent()?
    };
    sink.flush().permanent()?;
    drop(sink);
    if let Some(mut ids) = ids {
        ids.flush().permanent()?;
    }

    Ok(result_of(args, &summary))
}

/// The result: counts named as transform's (what transforming this feed must report).
fn result_of(args: &Args, summary: &generate::Summary) -> TaskResult {
    let mut result = TaskResult::ok("generate")
        .count("rows_in", summary.rows)
        .count("rows_out", summary.good)
        .count("rows_quarantined", summary.rows - summary.good)
        .count("bytes", summary.bytes);
    for kind in Reason::ALL {
        let count = summary.bad.get(&kind).copied().unwrap_or(0);
        result = result.count(&format!("quarantined_{}", kind.as_str()), count);
    }
    // only with the new flags, so revision 0's result stays what it always was
    if args.revision > 0 {
        result = result.count("rows_revised", summary.revised);
    }
    tracing::info!(
        rows_in = summary.rows,
        rows_out = summary.good,
        "generate done"
    );
    let mut result = result
        .output("provider", args.provider.clone())
        .output("seed", args.seed)
        .output("gzip", args.gzip)
        .output("output", args.output.clone());
    if args.revision > 0 {
        result = result.output("revision", args.revision);
    }
    if let Some(ids) = &args.ids_file {
        result = result.output("ids_file", ids.clone());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_flag_parsing() {
        let parsed = parse_bad(&["wrong_type=0.1".into(), "duplicate_key=0.05".into()]).unwrap();
        assert_eq!(
            parsed,
            [(Reason::WrongType, 0.1), (Reason::DuplicateKey, 0.05)].into()
        );
        for bad in [
            "wrong_type",
            "nope=0.1",
            "wrong_type=x",
            "line_too_long=0.1",
        ] {
            let error = parse_bad(&[bad.into()]).unwrap_err();
            assert_eq!(error.kind(), "usage", "{bad}");
        }
    }
}
