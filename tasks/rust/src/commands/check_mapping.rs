//! `check-mapping`: a provider mapping checked against a sample of its feed before it ships.
//!
//! `rstask check-mapping --mapping mappings/zeta.toml --sample feed.csv.gz` loads the mapping
//! file with every check an embedded mapping gets (its provider is its file name), runs the
//! transform's own streaming path on the local sample ([`transform_file`], as `transform
//! --input-file`: CSV or NDJSON per the mapping, gzip or not, no S3) into the scratch dir,
//! and prints a report on stdout: the first `--rows` rows as they will be staged (the staged
//! columns, `occurred_at` in UTC) and every quarantine reason found, with its count, its
//! first lines and the first one's detail and raw text. The result follows as usual (the
//! last line of stdout without `--result-file`), its counts named as `transform`'s.
//!
//! Exit 0 when the mapping stages rows of the sample, whether some were quarantined or not
//! (the report says why); 64 when the mapping does not load (the message names the key and
//! what was expected); 65 when the sample cannot be read as a whole (corrupt gzip, a header
//! without the mapping's fields), holds no rows, or none of its rows can be staged.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context as _;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use super::Context;
use super::transform::{LocalFile, Scratch, transform_file};
use crate::config::{Raw, flag_or_env, path, quote, whole_number};
use crate::error::{Classify, Result, TaskError};
use crate::result::TaskResult;
use crate::transform::Reason;
use crate::transform::mapping::{Column, Format, Kind, Mapping};
use crate::transform::object::{Options, Stats};
use crate::transform::output::{BatchRows, RowRef, schema};
use crate::transform::values::{TimeFormat, rfc3339};

/// `check-mapping`'s own flags.
///
/// Field docs are the `--help` text, hence plain words, no Markdown.
#[allow(clippy::doc_markdown)]
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mapping file to check, <provider>.toml: its name is the provider, e.g. mappings/zeta.toml (env RSTASK_MAPPING)
    #[arg(long, value_name = "PATH")]
    pub mapping: Option<String>,
    /// A sample of the provider's feed as it arrives under raw/<provider>/: CSV or NDJSON per the mapping, gzip or not (a .gz name must be gzip) (env RSTASK_SAMPLE)
    #[arg(long, value_name = "PATH")]
    pub sample: Option<String>,
    /// Staged rows to print, 0 to 1000 (env RSTASK_ROWS; default 10)
    #[arg(long, value_name = "N")]
    pub rows: Option<String>,
}

/// Default `--rows`.
pub const DEFAULT_ROWS: u64 = 10;
/// Largest `--rows`.
pub const MAX_ROWS: u64 = 1000;
/// Quarantined lines listed per reason.
pub const LINES_SHOWN: usize = 5;
/// Longest table cell, characters; longer values are cut with `…`.
const CELL_CHARS: usize = 40;
/// Longest raw line shown, characters.
const RAW_CHARS: usize = 160;
/// How a null staged value is shown.
const NULL: &str = "null";

/// One quarantine reason the sample gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The reason.
    pub reason: Reason,
    /// Rows quarantined for it.
    pub count: u64,
    /// The first [`LINES_SHOWN`] of their lines.
    pub lines: Vec<u64>,
    /// The first one's detail.
    pub detail: String,
    /// The first one's raw text.
    pub raw: String,
}

/// What the sample gave: the transform's counts, the first staged rows and every reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The transform's counts.
    pub stats: Stats,
    /// The sample's size.
    pub bytes: u64,
    /// The first staged rows, one text cell per staged column.
    pub staged: Vec<Vec<String>>,
    /// Every reason found, in [`Reason::ALL`] order.
    pub reasons: Vec<Found>,
}

/// The flag's value, else its env fallback's; required.
fn required(flag_value: Option<&str>, flag: &str, ctx: &Context<'_>) -> Result<Raw> {
    let raw = flag_or_env(flag_value, flag, ctx.env).ok_or_else(|| {
        TaskError::usage(format!(
            "expected {flag} (or {}) to be set, got none",
            crate::config::env_name(flag)
        ))
    })?;
    path(&raw)?;
    Ok(raw)
}

/// Loads a mapping file as an embedded one loads: its provider is its file name.
///
/// # Errors
/// A usage error naming the file and what is wrong with it.
pub fn load(raw: &Raw) -> Result<Mapping> {
    let file = path(raw)?;
    let provider = file
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_suffix(".toml"))
        .ok_or_else(|| {
            TaskError::usage(format!(
                "expected {} to be a <provider>.toml file, got: {}",
                raw.source,
                quote(&raw.value)
            ))
        })?;
    let text = std::fs::read_to_string(&file).map_err(|e| {
        TaskError::usage(format!(
            "expected {} {} to be a readable mapping file, got: {e}",
            raw.source,
            quote(&raw.value)
        ))
    })?;
    Mapping::parse(&text, provider)
        .map_err(|e| TaskError::usage(format!("mapping {}: {e}", quote(&raw.value))))
}

/// Transforms the sample with `mapping` into files under `scratch` and reads back the
/// first `rows` staged rows and every quarantine reason.
///
/// # Errors
/// Permanent when the sample cannot be read as a whole or the outputs cannot be written
/// or read back.
pub fn check(mapping: &Mapping, sample: &Raw, scratch: &Path, rows: usize) -> Result<Check> {
    let staged = scratch.join("staged.parquet");
    let quarantine = scratch.join("quarantine.ndjson");
    let options = Options {
        scratch: scratch.to_path_buf(),
        ..Options::default()
    };
    let LocalFile { stats, bytes, .. } =
        transform_file(sample, mapping, &staged, &quarantine, &options)?;
    let first = first_staged(&staged, rows)
        .context("reading back the staged rows")
        .permanent()?;
    let reasons = reasons(&stats, &quarantine)
        .context("reading back the quarantined rows")
        .permanent()?;
    Ok(Check {
        stats,
        bytes,
        staged: first,
        reasons,
    })
}

/// The first `rows` rows of a staged Parquet file, as text cells.
fn first_staged(staged: &Path, rows: usize) -> anyhow::Result<Vec<Vec<String>>> {
    let mut cells = Vec::new();
    if rows == 0 {
        return Ok(cells);
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(staged)?)?
        .with_batch_size(rows)
        .build()?;
    for batch in reader {
        let batch = BatchRows::new(&batch?)?;
        for i in 0..batch.len().min(rows - cells.len()) {
            cells.push(row_cells(&batch.row(i)));
        }
        if cells.len() == rows {
            break;
        }
    }
    Ok(cells)
}

/// A staged row as text, column by column: `occurred_at` in RFC 3339 UTC, nulls as `null`.
fn row_cells(row: &RowRef<'_>) -> Vec<String> {
    let text = |value: Option<&str>| value.map_or_else(|| NULL.to_owned(), |v| clip(v, CELL_CHARS));
    let mut cells = vec![
        clip(row.event_id, CELL_CHARS),
        clip(row.provider, CELL_CHARS),
        clip(row.match_id, CELL_CHARS),
        clip(row.event_type, CELL_CHARS),
        rfc3339(row.occurred_at),
        text(row.team),
        text(row.player),
    ];
    cells.extend(
        row.odds
            .iter()
            .map(|odds| odds.map_or_else(|| NULL.to_owned(), |o| format!("{o:?}"))),
    );
    cells.extend(
        row.score
            .iter()
            .map(|score| score.map_or_else(|| NULL.to_owned(), |s| s.to_string())),
    );
    cells.push(row.source_line.to_string());
    cells
}

/// `text` on one line (control characters escaped), cut to `max` characters with `…`.
fn clip(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n + 1 == max && text.chars().nth(max).is_some() {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every reason in the quarantine file: the counts of `stats`, the first lines and the
/// first example from the file.
fn reasons(stats: &Stats, quarantine: &Path) -> anyhow::Result<Vec<Found>> {
    let mut found: Vec<Found> = Reason::ALL
        .iter()
        .filter(|reason| stats.quarantined[reason.index()] > 0)
        .map(|&reason| Found {
            reason,
            count: stats.quarantined[reason.index()],
            lines: Vec::new(),
            detail: String::new(),
            raw: String::new(),
        })
        .collect();
    if found.is_empty() {
        return Ok(found);
    }
    for line in BufReader::new(File::open(quarantine)?).lines() {
        let record: Value = serde_json::from_str(&line?)?;
        let reason = record["reason"].as_str().and_then(Reason::from_name);
        let Some(entry) = found.iter_mut().find(|f| Some(f.reason) == reason) else {
            anyhow::bail!("a quarantine line of a reason not counted: {record}");
        };
        if entry.lines.is_empty() {
            let text = |key: &str| record[key].as_str().unwrap_or_default();
            text("detail").clone_into(&mut entry.detail);
            text("raw").clone_into(&mut entry.raw);
        }
        if entry.lines.len() < LINES_SHOWN {
            entry.lines.extend(record["line"].as_u64());
        }
    }
    Ok(found)
}

/// A CSV delimiter or quote as written in the mapping (`\t` for a tab).
fn shown(byte: u8) -> String {
    match char::from(byte) {
        c if c.is_ascii_graphic() => c.to_string(),
        c => c.escape_default().to_string(),
    }
}

/// `1 row`, `2 rows`.
fn rows(n: u64) -> String {
    format!("{n} row{}", if n == 1 { "" } else { "s" })
}

/// How the mapping reads the feed, in a line or two of the report.
fn describe(mapping: &Mapping) -> Vec<String> {
    let format = match &mapping.format {
        Format::Ndjson => "format: ndjson, one JSON object per line".to_owned(),
        Format::Csv {
            dialect,
            multiline,
            header,
            ..
        } => {
            let (delimiter, quote) = (shown(dialect.delimiter), shown(dialect.quote));
            let mut text = format!("format: csv, delimiter '{delimiter}', quote '{quote}'");
            text.push_str(if *header {
                ", header row"
            } else {
                ", no header (csv.columns)"
            });
            if *multiline {
                text.push_str(", quoted line breaks");
            }
            if dialect.trim {
                text.push_str(", fields trimmed");
            }
            text
        }
    };
    let time = match mapping.column(Column::OccurredAt).map(|c| &c.kind) {
        Some(Kind::Time(TimeFormat::Pattern {
            pattern,
            zone: Some(zone),
        })) => format!("{pattern:?}, local time in {zone}"),
        Some(Kind::Time(TimeFormat::Pattern {
            pattern,
            zone: None,
        })) => format!("{pattern:?}, with its offset"),
        Some(Kind::Time(TimeFormat::Rfc3339)) => "rfc3339, with its offset".to_owned(),
        Some(Kind::Time(TimeFormat::EpochMillis)) => "epoch_millis".to_owned(),
        Some(Kind::Time(TimeFormat::EpochSeconds)) => "epoch_seconds".to_owned(),
        _ => "?".to_owned(),
    };
    vec![format, format!("occurred_at: {time} (shown below in UTC)")]
}

/// Writes the report: the mapping, the counts, the first staged rows as a table, then
/// every quarantine reason with its count, first lines and first example.
///
/// # Errors
/// A write error of `out`.
pub fn write_report(
    out: &mut dyn Write,
    mapping: &Mapping,
    names: (&str, &str),
    check: &Check,
) -> std::io::Result<()> {
    let (mapping_file, sample) = names;
    let stats = &check.stats;
    writeln!(
        out,
        "mapping {} ({}) on sample {}",
        mapping.provider,
        quote(mapping_file),
        quote(sample)
    )?;
    for line in describe(mapping) {
        writeln!(out, "  {line}")?;
    }
    writeln!(
        out,
        "  sample: {} ({}, {} bytes): {} staged, {} quarantined",
        rows(stats.rows_in),
        if stats.gzip { "gzip" } else { "plain" },
        check.bytes,
        stats.rows_out,
        stats.rows_quarantined()
    )?;
    writeln!(out)?;
    if stats.rows_out == 0 {
        writeln!(out, "No staged rows.")?;
    } else if check.staged.is_empty() {
        writeln!(out, "Staged rows not shown (--rows 0).")?;
    } else {
        writeln!(
            out,
            "First {} as staged (the staged Parquet's columns):",
            rows(check.staged.len() as u64)
        )?;
        let header: Vec<String> = schema().fields().iter().map(|f| f.name().clone()).collect();
        write_table(out, &header, &check.staged)?;
    }
    writeln!(out)?;
    if check.reasons.is_empty() {
        writeln!(out, "No quarantined rows.")?;
    } else {
        writeln!(
            out,
            "Quarantined: {}, by reason (count, first lines, the first one's detail and raw text):",
            rows(stats.rows_quarantined())
        )?;
        for found in &check.reasons {
            let mut lines: Vec<String> = found.lines.iter().map(u64::to_string).collect();
            if found.count > found.lines.len() as u64 {
                lines.push("…".into());
            }
            let first = found.lines.first().copied().unwrap_or_default();
            writeln!(
                out,
                "  {:<22} {:>6}  lines {}",
                found.reason.as_str(),
                found.count,
                lines.join(", ")
            )?;
            writeln!(out, "    line {first}: {}", clip(&found.detail, RAW_CHARS))?;
            writeln!(out, "    raw: {}", clip(&found.raw, RAW_CHARS))?;
        }
    }
    writeln!(out)
}

/// Columns left-aligned, two spaces apart, no trailing spaces.
fn write_table(
    out: &mut dyn Write,
    header: &[String],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Checks the mapping against the sample, printing the report on stdout.
///
/// # Errors
/// Usage errors for bad flags or a mapping that does not load; permanent when the sample
/// cannot be read as a whole, holds no rows, or none can be staged.
pub fn execute(args: &Args, ctx: &Context<'_>) -> Result<TaskResult> {
    run(args, ctx, &mut std::io::stdout().lock())
}

/// [`execute`], the report written to `out`.
fn run(args: &Args, ctx: &Context<'_>, out: &mut dyn Write) -> Result<TaskResult> {
    let mapping_file = required(args.mapping.as_deref(), "--mapping", ctx)?;
    let sample = required(args.sample.as_deref(), "--sample", ctx)?;
    let rows = flag_or_env(args.rows.as_deref(), "--rows", ctx.env)
        .map_or(Ok(DEFAULT_ROWS), |raw| whole_number(&raw, MAX_ROWS, "rows"))?;
    let mapping = load(&mapping_file)?;
    tracing::info!(
        mapping = mapping_file.value.as_str(),
        sample = sample.value.as_str(),
        provider = mapping.provider.as_str(),
        "check-mapping started"
    );
    let scratch = Scratch::create(&ctx.settings.scratch_dir)?;
    let shown = usize::try_from(rows).unwrap_or(usize::MAX);
    let check = check(&mapping, &sample, &scratch.dir, shown)?;
    drop(scratch);
    write_report(out, &mapping, (&mapping_file.value, &sample.value), &check)
        .and_then(|()| out.flush())
        .context("writing the report")
        .permanent()?;
    let stats = &check.stats;
    if stats.rows_in == 0 {
        return Err(TaskError::permanent(format!(
            "expected the sample {} to hold rows, got none: nothing to check the mapping against",
            quote(&sample.value)
        )));
    }
    if stats.rows_out == 0 {
        let reasons: Vec<String> = check
            .reasons
            .iter()
            .map(|f| format!("{} {}", f.reason.as_str(), f.count))
            .collect();
        return Err(TaskError::permanent(format!(
            "the mapping stages none of the sample's {} rows: all quarantined ({})",
            stats.rows_in,
            reasons.join(", ")
        )));
    }
    tracing::info!(
        rows_in = stats.rows_in,
        rows_out = stats.rows_out,
        rows_quarantined = stats.rows_quarantined(),
        "check-mapping done"
    );
    let mut result = TaskResult::ok("check-mapping")
        .count("rows_in", stats.rows_in)
        .count("rows_out", stats.rows_out)
        .count("rows_quarantined", stats.rows_quarantined())
        .count("bytes_in", check.bytes);
    for reason in Reason::ALL {
        let name = format!("quarantined_{}", reason.as_str());
        result = result.count(&name, stats.quarantined[reason.index()]);
    }
    Ok(result
        .output("provider", mapping.provider.clone())
        .output("mapping", mapping_file.value)
        .output("sample", sample.value)
        .output("gzip", stats.gzip))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::PathBuf;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;
    use crate::config::{Env, LogLevel, Settings};
    use crate::testing::env;

    /// A CSV mapping unlike the shipped ones: `|`, minutes only, New York local time.
    const ZETA: &str = r#"
provider = "zeta"
format = "csv"
event_id = "{provider}-{id}"
[csv]
delimiter = "|"
columns = ["id", "match", "type", "at", "team", "player", "home", "draw", "away", "sh", "sa"]
[columns.match_id]
source = "match"
[columns.event_type]
source = "type"
values = { G = "goal", K = "kickoff" }
[columns.occurred_at]
source = "at"
timestamp = "%d.%m.%Y %H:%M"
timezone = "America/New_York"
[columns.team]
source = "team"
[columns.player]
source = "player"
[columns.odds_home]
source = "home"
odds = "fractional"
[columns.odds_draw]
source = "draw"
[columns.odds_away]
source = "away"
[columns.score_home]
source = "sh"
[columns.score_away]
source = "sa"
"#;
    const HEADER: &str = "id|match|type|at|team|player|home|draw|away|sh|sa\n";

    fn raw(value: &str, source: &str) -> Raw {
        Raw {
            value: value.to_owned(),
            source: source.to_owned(),
        }
    }

    /// A directory with `zeta.toml` and the sample `name` holding `body`.
    fn files(name: &str, body: &[u8]) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let mapping = dir.path().join("zeta.toml");
        std::fs::write(&mapping, ZETA).unwrap();
        let sample = dir.path().join(name);
        std::fs::write(&sample, body).unwrap();
        (dir, mapping, sample)
    }

    struct Ran {
        result: Result<TaskResult>,
        report: String,
        scratch: tempfile::TempDir,
    }

    fn run_with(args: &[(&str, &str)], pairs: &[(&str, &str)]) -> Ran {
        let scratch = tempfile::tempdir().unwrap();
        let get = |flag: &str| {
            args.iter()
                .find(|(f, _)| *f == flag)
                .map(|(_, v)| (*v).to_owned())
        };
        let args = Args {
            mapping: get("--mapping"),
            sample: get("--sample"),
            rows: get("--rows"),
        };
        let env: Env = env(pairs);
        let ctx = Context {
            settings: Settings {
                result_file: None,
                log_level: LogLevel::Info,
                scratch_dir: scratch.path().to_path_buf(),
            },
            env: &env,
        };
        let mut out = Vec::new();
        let result = run(&args, &ctx, &mut out);
        Ran {
            result,
            report: String::from_utf8(out).unwrap(),
            scratch,
        }
    }

    const SAMPLE: &str = "\
1|M1|G|21.11.2026 07:00|Leeds||5/2|3.1|2.9|1|0
2|M1|K|21.11.2026 07:01|Celta|\"Jo \"\"Magic\"\" Silva\"|evens|||0|0
3|M1|X|21.11.2026 07:02|||||||
4|M1|G|yesterday|||||||
5||G|21.11.2026 07:04|||||||
6|M1|G|21.11.2026 07:05|||||||
7|M1|Q|21.11.2026 07:06|||||||
";

    #[test]
    fn a_sample_with_bad_rows_shows_the_staged_rows_and_every_reason() {
        let (_dir, mapping, sample) = files("feed.csv", format!("{HEADER}{SAMPLE}").as_bytes());
        let mapping = load(&raw(mapping.to_str().unwrap(), "--mapping")).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let sample = raw(sample.to_str().unwrap(), "--sample");
        let check = check(&mapping, &sample, scratch.path(), 2).unwrap();
        assert_eq!(
            (
                check.stats.rows_in,
                check.stats.rows_out,
                check.stats.rows_quarantined()
            ),
            (7, 3, 4)
        );
        assert_eq!(
            check.staged,
            [
                [
                    "zeta-1",
                    "zeta",
                    "M1",
                    "goal",
                    "2026-11-21T12:00:00.000Z",
                    "Leeds",
                    "null",
                    "3.5",
                    "3.1",
                    "2.9",
                    "1",
                    "0",
                    "2"
                ],
                [
                    "zeta-2",
                    "zeta",
                    "M1",
                    "kickoff",
                    "2026-11-21T12:01:00.000Z",
                    "Celta",
                    "Jo \"Magic\" Silva",
                    "2.0",
                    "null",
                    "null",
                    "0",
                    "0",
                    "3"
                ],
            ]
        );
        let got: Vec<(Reason, u64, Vec<u64>)> = check
            .reasons
            .iter()
            .map(|f| (f.reason, f.count, f.lines.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (Reason::WrongType, 1, vec![5]),
                (Reason::MissingField, 1, vec![6]),
                (Reason::UnknownEnum, 2, vec![4, 8]),
            ]
        );
        assert_eq!(check.reasons[2].raw, "3|M1|X|21.11.2026 07:02|||||||");
        assert!(check.reasons[0].detail.contains("yesterday"), "{check:?}");
        assert_eq!(
            std::fs::read_dir(scratch.path()).unwrap().count(),
            2,
            "the staged and quarantine files only"
        );
    }

    #[test]
    fn the_report_prints_the_table_and_the_reasons() {
        let (_dir, mapping, sample) = files("feed.csv", format!("{HEADER}{SAMPLE}").as_bytes());
        let ran = run_with(
            &[
                ("--mapping", mapping.to_str().unwrap()),
                ("--sample", sample.to_str().unwrap()),
            ],
            &[("RSTASK_ROWS", "1")],
        );
        let result = ran.result.unwrap();
        assert_eq!(
            (result.counts["rows_in"], result.counts["rows_out"]),
            (7, 3)
        );
        assert_eq!(result.counts["quarantined_unknown_enum"], 2);
        assert_eq!(result.outputs["provider"], "zeta");
        let report = ran.report;
        assert!(
            report.contains("format: csv, delimiter '|', quote '\"', header row"),
            "{report}"
        );
        assert!(
            report.contains(
                "occurred_at: \"%d.%m.%Y %H:%M\", local time in America/New_York (shown below in UTC)"
            ),
            "{report}"
        );
        assert!(
            report.contains("sample: 7 rows (plain, 306 bytes): 3 staged, 4 quarantined\n"),
            "{report}"
        );
        let table: Vec<&str> = report
            .lines()
            .skip_while(|l| !l.starts_with("First 1 row as staged"))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(table.len(), 2, "{report}");
        let header: Vec<&str> = table[0].split_whitespace().collect();
        assert_eq!(header.first(), Some(&"event_id"));
        assert_eq!(header.last(), Some(&"source_line"));
        assert_eq!(header.len(), 13);
        assert!(table[1].starts_with("zeta-1    zeta"), "{report}");
        assert!(
            report.contains("  unknown_enum                2  lines 4, 8\n"),
            "{report}"
        );
        assert!(
            report.contains("    raw: 4|M1|G|yesterday|||||||\n"),
            "{report}"
        );
        assert_eq!(
            std::fs::read_dir(ran.scratch.path()).unwrap().count(),
            0,
            "the scratch files are removed"
        );
        let none = run_with(
            &[
                ("--mapping", mapping.to_str().unwrap()),
                ("--sample", sample.to_str().unwrap()),
                ("--rows", "0"),
            ],
            &[("RSTASK_ROWS", "5")],
        );
        assert!(none.result.is_ok());
        assert!(
            none.report
                .contains("\nStaged rows not shown (--rows 0).\n"),
            "{}",
            none.report
        );
    }

    #[test]
    fn nothing_staged_or_no_rows_is_permanent_after_the_report() {
        let every_row_bad = format!("{HEADER}1|M1|X|21.11.2026 07:00|||||||\n2|M1|G|soon|||||||\n");
        let (_dir, mapping, sample) = files("feed.csv", every_row_bad.as_bytes());
        let args = [
            ("--mapping", mapping.to_str().unwrap()),
            ("--sample", sample.to_str().unwrap()),
        ];
        let ran = run_with(&args, &[]);
        let error = ran.result.unwrap_err();
        assert_eq!(error.kind(), "permanent");
        assert_eq!(
            error.chain(),
            "the mapping stages none of the sample's 2 rows: all quarantined (wrong_type 1, unknown_enum 1)"
        );
        assert!(ran.report.contains("No staged rows."), "{}", ran.report);
        assert!(ran.report.contains("  wrong_type  "), "{}", ran.report);

        std::fs::write(&sample, HEADER).unwrap();
        let ran = run_with(&args, &[]);
        let error = ran.result.unwrap_err();
        assert_eq!(error.kind(), "permanent");
        assert!(
            error.chain().contains("to hold rows, got none"),
            "{}",
            error.chain()
        );
    }

    #[test]
    fn an_unreadable_sample_is_permanent_and_named() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(format!("{HEADER}{SAMPLE}").as_bytes())
            .unwrap();
        let data = gz.finish().unwrap();
        let (_dir, mapping, sample) = files("feed.csv.gz", &data[..data.len() - 10]);
        let mapping = mapping.to_str().unwrap();
        let ran = run_with(
            &[
                ("--mapping", mapping),
                ("--sample", sample.to_str().unwrap()),
            ],
            &[],
        );
        let error = ran.result.unwrap_err();
        assert_eq!(error.kind(), "permanent");
        assert!(error.chain().contains("corrupt_gzip"), "{}", error.chain());
        assert!(ran.report.is_empty());

        let (_dir, _, other) = files("other.csv", b"a|b|c\n1|2|3\n");
        let ran = run_with(
            &[
                ("--mapping", mapping),
                ("--sample", other.to_str().unwrap()),
            ],
            &[],
        );
        let chain = ran.result.unwrap_err().chain();
        assert!(chain.contains("bad_header"), "{chain}");

        let ran = run_with(
            &[
                ("--mapping", mapping),
                ("--sample", "/definitely/not/here.csv"),
            ],
            &[],
        );
        let chain = ran.result.unwrap_err().chain();
        assert!(
            chain.starts_with("expected --sample \"/definitely/not/here.csv\" to be readable"),
            "{chain}"
        );
    }

    #[test]
    fn bad_flags_and_mappings_are_usage_errors_naming_them() {
        let (dir, mapping, sample) = files("feed.csv", HEADER.as_bytes());
        let sample = sample.to_str().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let cases = [
            (
                vec![("--sample", sample)],
                "expected --mapping (or RSTASK_MAPPING) to be set, got none".to_owned(),
            ),
            (
                vec![("--mapping", mapping.to_str().unwrap())],
                "expected --sample (or RSTASK_SAMPLE) to be set, got none".to_owned(),
            ),
        ];
        for (args, want) in cases {
            let error = run_with(&args, &[]).result.unwrap_err();
            assert_eq!((error.kind(), error.chain()), ("usage", want));
        }
        let renamed = write("other.toml", ZETA);
        let no_date = write(
            "nodate.toml",
            &ZETA
                .replace("\"zeta\"", "\"nodate\"")
                .replace("%d.%m.%Y %H:%M", "%H:%M"),
        );
        let no_zone = write(
            "nozone.toml",
            &ZETA
                .replace("\"zeta\"", "\"nozone\"")
                .replace("timezone = \"America/New_York\"\n", ""),
        );
        let bad_zone = write(
            "badzone.toml",
            &ZETA
                .replace("\"zeta\"", "\"badzone\"")
                .replace("America/New_York", "America/Springfield"),
        );
        let not_toml = write("zeta.txt", ZETA);
        for (file, rows, needle) in [
            (
                renamed.as_str(),
                "3",
                "provider \"zeta\" does not match the file name (\"other\")",
            ),
            (
                no_date.as_str(),
                "3",
                "cannot read back the times it writes",
            ),
            (no_zone.as_str(), "3", "has no offset (%z): give a timezone"),
            (
                bad_zone.as_str(),
                "3",
                "expected a time zone name like Europe/London, got: \"America/Springfield\"",
            ),
            (
                not_toml.as_str(),
                "3",
                "expected --mapping to be a <provider>.toml file",
            ),
            ("/no/such/zeta.toml", "3", "to be a readable mapping file"),
            (
                mapping.to_str().unwrap(),
                "1001",
                "expected --rows to be a whole number of rows from 0 to 1000, got: \"1001\"",
            ),
        ] {
            let error = run_with(
                &[("--mapping", file), ("--sample", sample), ("--rows", rows)],
                &[],
            )
            .result
            .unwrap_err();
            assert_eq!(error.kind(), "usage", "{file}");
            assert!(error.chain().contains(needle), "{file}: {}", error.chain());
        }
        let from_env = run_with(
            &[],
            &[("RSTASK_MAPPING", &renamed), ("RSTASK_SAMPLE", sample)],
        );
        let chain = from_env.result.unwrap_err().chain();
        assert!(chain.starts_with("mapping \""), "{chain}");
    }

    #[test]
    fn cells_are_clipped_to_one_line() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("a\r\nb", 10), "a\\r\\nb");
        assert_eq!(clip("abcdefghij", 10), "abcdefghij");
        assert_eq!(clip("abcdefghijk", 10), "abcdefghi…");
    }
}
