//! One raw object, streamed: lines → events (Parquet file) and rejects (NDJSON file).
//!
//! A pipeline of threads with bounded channels: the reader (S3 or file, gzip, cut into
//! [`Block`]s of whole lines, or of whole CSV records with `csv.multiline`) → mapping
//! workers (one block each at a time: lines → [`Rows`] and encoded quarantine lines) →
//! the writer (this thread: blocks back in input order, duplicate ids, the quarantine
//! file, the Parquet file in fixed-size batches).
//! At most [`Options::in_flight`] blocks exist at once, recycled through a pool, so memory
//! does not grow with the object; neither the thread count nor the block size changes
//! the output bytes.

use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::Reason;
use super::csv::RecordRules;
use super::dedup::{self, Dedup, ScratchDir, Verdict, drop_late_duplicates};
use super::lines::{self, Block, Blocks, Lines};
use super::mapping::{Format, Mapping};
use super::output::{EventWriter, QuarantineWriter, Rows, quarantine_line};
use super::record::{Bound, Scratch, duplicate_detail};

/// Longest line kept in memory; longer ones are quarantined as [`Reason::LineTooLong`].
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// How much of an over-long line the quarantine keeps in `raw`.
const TOO_LONG_RAW_BYTES: usize = 1024;
/// Default bytes of a block of lines.
pub const BLOCK_BYTES: usize = 1 << 20;

/// What one object gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Data rows read (not the header, not blank lines).
    pub rows_in: u64,
    /// Events written.
    pub rows_out: u64,
    /// Rows quarantined, per [`Reason::index`].
    pub quarantined: [u64; Reason::ALL.len()],
    /// Whether the object was gzip.
    pub gzip: bool,
}

impl Stats {
    /// Rows quarantined, all reasons.
    #[must_use]
    pub fn rows_quarantined(&self) -> u64 {
        self.quarantined.iter().sum()
    }
}

/// How to run a transform (none of it changes the output bytes).
#[derive(Debug, Clone)]
pub struct Options {
    /// Memory for duplicate-id detection, bytes (see [`dedup`]).
    pub dedup_budget: usize,
    /// Where spill files may go (a subdirectory is made when needed, removed after).
    pub scratch: PathBuf,
    /// Mapping worker threads.
    pub workers: usize,
    /// Bytes per block of lines.
    pub block_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dedup_budget: dedup::DEFAULT_BUDGET,
            scratch: std::env::temp_dir(),
            workers: default_workers(),
            block_bytes: BLOCK_BYTES,
        }
    }
}

impl Options {
    /// Blocks alive at once (being read, mapped, waiting or written).
    #[must_use]
    pub const fn in_flight(&self) -> usize {
        2 * self.workers + 2
    }
}

/// One mapping worker per available core (at least 1, at most 8).
#[must_use]
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8))
}

/// An error from the object's byte source (S3), as opposed to its content: carried inside
/// an [`io::Error`] through the decompressor and classified by the caller.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SourceError(#[from] pub anyhow::Error);

/// Why an object could not be transformed.
#[derive(Debug)]
pub enum Failure {
    /// The object itself is unusable (truncated or corrupt gzip, bad header): permanent
    /// for this object; `reason` is machine-readable.
    Object {
        /// `corrupt_gzip`, `unreadable`, `bad_header`.
        reason: &'static str,
        /// What exactly.
        detail: String,
    },
    /// Reading the bytes failed (S3, network): classified by the caller.
    Source(anyhow::Error),
    /// Writing the local files failed.
    Local(anyhow::Error),
}

/// Transforms the bytes of the object `key` with `mapping` into `staged` (Parquet) and
/// `quarantine` (NDJSON, possibly empty), with default [`Options`].
///
/// # Errors
/// A [`Failure`]; the output files are then incomplete and must not be uploaded.
pub fn transform<R: Read + Send + 'static>(
    raw: R,
    key: &str,
    mapping: &Mapping,
    staged: &Path,
    quarantine: &Path,
) -> Result<Stats, Failure> {
    transform_with(raw, key, mapping, staged, quarantine, &Options::default())
}

/// [`transform`] with explicit [`Options`].
///
/// # Errors
/// A [`Failure`]; the output files are then incomplete and must not be uploaded.
pub fn transform_with<R: Read + Send + 'static>(
    raw: R,
    key: &str,
    mapping: &Mapping,
    staged: &Path,
    quarantine: &Path,
    options: &Options,
) -> Result<Stats, Failure> {
    let opened = lines::open(raw, key).map_err(|e| read_failure(e, lines::gz_name(key)))?;
    let gzip = opened.gzip;
    let mut writer = Writer {
        events: EventWriter::create(staged).map_err(Failure::Local)?,
        rejects: QuarantineWriter::create(quarantine).map_err(Failure::Local)?,
        dedup: Dedup::new(
            options.dedup_budget,
            ScratchDir::new(options.scratch.clone()),
        ),
        stats: Stats {
            gzip,
            ..Stats::default()
        },
        buf: Vec::new(),
    };
    let mut reader = opened.reader;
    let header_needed = matches!(mapping.format, Format::Csv { header: true, .. });
    let (bound, first_line) = if header_needed {
        let mut lines = Lines::new(&mut reader, MAX_LINE_BYTES);
        match lines.next_line() {
            Ok(None) => return writer.finish(staged, quarantine),
            Err(e) => return Err(read_failure(e, gzip)),
            Ok(Some(line)) => {
                let header = std::str::from_utf8(line.bytes)
                    .ok()
                    .filter(|_| !line.truncated)
                    .ok_or_else(|| Failure::Object {
                        reason: "bad_header",
                        detail: "the header line is not UTF-8 or too long".into(),
                    })?;
                let bound =
                    Bound::with_header(mapping, header).map_err(|detail| Failure::Object {
                        reason: "bad_header",
                        detail,
                    })?;
                (bound, 2)
            }
        }
    } else {
        let bound = Bound::new(mapping).map_err(|e| Failure::Object {
            reason: "bad_mapping",
            detail: e,
        })?;
        (bound, 1)
    };
    let mut blocks = Blocks::new(
        reader,
        first_line,
        options.block_bytes.max(1),
        MAX_LINE_BYTES,
        TOO_LONG_RAW_BYTES,
    );
    if let Format::Csv {
        dialect,
        multiline: true,
        max_record_bytes,
        ..
    } = mapping.format
    {
        blocks = blocks.with_records(RecordRules {
            dialect,
            max_record_bytes,
        });
    }
    pipeline(&bound, blocks, options, &mut writer)?;
    writer.finish(staged, quarantine)
}

/// A block and what its worker made of it, recycled through the pool.
#[derive(Default)]
struct Slot {
    seq: u64,
    block: Block,
    rows: Rows,
    rows_in: u64,
    quarantined: [u64; Reason::ALL.len()],
    /// Encoded quarantine lines, in line order.
    rejects: Vec<u8>,
    /// Each quarantine line's number and end in `rejects`.
    reject_ends: Vec<(u64, usize)>,
}

fn pipeline<R: BufRead + Send>(
    bound: &Bound<'_>,
    mut blocks: Blocks<R>,
    options: &Options,
    writer: &mut Writer,
) -> Result<(), Failure> {
    let in_flight = options.in_flight();
    let (free_tx, free_rx) = sync_channel::<Box<Slot>>(in_flight);
    for _ in 0..in_flight {
        let _ = free_tx.send(Box::default());
    }
    // capacities ≥ the slots in flight: sends never block, only receives do
    let (work_tx, work_rx) = sync_channel::<Box<Slot>>(in_flight);
    let (done_tx, done_rx) = sync_channel::<Box<Slot>>(in_flight);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let read_error: Mutex<Option<io::Error>> = Mutex::new(None);
    let provider = bound.mapping().provider.clone();
    std::thread::scope(|scope| {
        let read_error = &read_error;
        std::thread::Builder::new()
            .name("rstask-read".into())
            .spawn_scoped(scope, move || {
                let mut seq = 0;
                while let Ok(mut slot) = free_rx.recv() {
                    match blocks.next_block(&mut slot.block) {
                        Ok(true) => {
                            slot.seq = seq;
                            seq += 1;
                            if work_tx.send(slot).is_err() {
                                break;
                            }
                        }
                        Ok(false) => break,
                        Err(e) => {
                            if let Ok(mut slot) = read_error.lock() {
                                *slot = Some(e);
                            }
                            break;
                        }
                    }
                }
            })
            .map_err(|e| Failure::Local(e.into()))?;
        for n in 0..options.workers.max(1) {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let provider = provider.clone();
            std::thread::Builder::new()
                .name(format!("rstask-map-{n}"))
                .spawn_scoped(scope, move || {
                    let mut scratch = Scratch::default();
                    loop {
                        let next = work_rx.lock().map(|rx| rx.recv());
                        let Ok(Ok(mut slot)) = next else { break };
                        slot.rows.provider.clone_from(&provider);
                        map_block(bound, &mut slot, &mut scratch);
                        if done_tx.send(slot).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| Failure::Local(e.into()))?;
        }
        drop(work_rx);
        drop(done_tx);
        write_in_order(&done_rx, &free_tx, writer)
    })?;
    let error = read_error.lock().ok().and_then(|mut e| e.take());
    match error {
        Some(e) => Err(read_failure(e, writer.stats.gzip)),
        None => Ok(()),
    }
}

/// Receives mapped blocks, hands them to the writer in input order, returns their slots.
fn write_in_order(
    done: &Receiver<Box<Slot>>,
    free: &SyncSender<Box<Slot>>,
    writer: &mut Writer,
) -> Result<(), Failure> {
    let mut waiting: Vec<Box<Slot>> = Vec::new();
    let mut next = 0;
    while let Ok(slot) = done.recv() {
        waiting.push(slot);
        while let Some(i) = waiting.iter().position(|s| s.seq == next) {
            let slot = waiting.swap_remove(i);
            writer.write_block(&slot)?;
            next += 1;
            // the reader may be gone (end of input): the slot is then dropped
            let _ = free.send(slot);
        }
    }
    Ok(())
}

/// A worker's job: every line of the block → rows, or encoded quarantine lines.
fn map_block(bound: &Bound<'_>, slot: &mut Slot, scratch: &mut Scratch) {
    let Slot {
        block,
        rows,
        rows_in,
        quarantined,
        rejects,
        reject_ends,
        ..
    } = slot;
    rows.clear();
    rejects.clear();
    reject_ends.clear();
    *rows_in = 0;
    *quarantined = [0; Reason::ALL.len()];
    let mut reject = |line: u64, reason: Reason, detail: &str, raw: &str| {
        quarantine_line(rejects, line, reason, detail, raw);
        reject_ends.push((line, rejects.len()));
        quarantined[reason.index()] += 1;
    };
    let data = &block.data;
    if block.too_long {
        *rows_in = 1;
        let raw = format!("{}…", String::from_utf8_lossy(data));
        let detail = format!("line longer than {MAX_LINE_BYTES} bytes");
        reject(block.first_line, Reason::LineTooLong, &detail, &raw);
        return;
    }
    if !block.records.is_empty() {
        map_records(bound, block, rows, rows_in, scratch, &mut reject);
        return;
    }
    let mut number = block.first_line;
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        let mut content = &data[start..end];
        let line_start = start;
        start = end + 1;
        let line = number;
        number += 1;
        let truncated = content.len() > MAX_LINE_BYTES;
        if !truncated {
            if let [rest @ .., b'\r'] = content {
                content = rest;
            }
            if content.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
        }
        *rows_in += 1;
        if truncated {
            let shown = &content[..MAX_LINE_BYTES.min(TOO_LONG_RAW_BYTES)];
            let raw = format!("{}…", String::from_utf8_lossy(shown));
            let detail = format!("line longer than {MAX_LINE_BYTES} bytes");
            reject(line, Reason::LineTooLong, &detail, &raw);
            continue;
        }
        map_content(bound, line, line_start, content, rows, scratch, &mut reject);
    }
}

/// The bytes of one line or record (starting at `start` in its block) → a row, or a
/// quarantine line: invalid UTF-8, or what the mapping rejects.
#[inline]
fn map_content(
    bound: &Bound<'_>,
    line: u64,
    start: usize,
    content: &[u8],
    rows: &mut Rows,
    scratch: &mut Scratch,
    reject: &mut impl FnMut(u64, Reason, &str, &str),
) {
    match std::str::from_utf8(content) {
        Err(e) => {
            let detail = format!("invalid UTF-8 at byte {}", e.valid_up_to());
            reject(
                line,
                Reason::InvalidUtf8,
                &detail,
                &String::from_utf8_lossy(content),
            );
        }
        Ok(text) => match bound.map_row(line, text, scratch, rows) {
            Ok(()) => rows.raw.push((start, content.len())),
            Err(r) => reject(line, r.reason, &r.detail, text),
        },
    }
}

/// [`map_block`] for a block of CSV records spanning lines (`csv.multiline`), found by the
/// reader: each record → a row, or a quarantine line numbered by its first line.
fn map_records(
    bound: &Bound<'_>,
    block: &Block,
    rows: &mut Rows,
    rows_in: &mut u64,
    scratch: &mut Scratch,
    reject: &mut impl FnMut(u64, Reason, &str, &str),
) {
    let data = &block.data;
    let max_record_bytes = match bound.mapping().format {
        Format::Csv {
            max_record_bytes, ..
        } => max_record_bytes,
        Format::Ndjson => 0,
    };
    for record in &block.records {
        let mut content = &data[record.start..record.end];
        if let [rest @ .., b'\r'] = content {
            content = rest;
        }
        if record.unclosed.is_none() && content.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        *rows_in += 1;
        let line = record.line;
        if content.len() > MAX_LINE_BYTES {
            // one line (a record spanning lines is shorter than the cap, at most this)
            let shown = &content[..MAX_LINE_BYTES.min(TOO_LONG_RAW_BYTES)];
            let raw = format!("{}…", String::from_utf8_lossy(shown));
            let detail = format!("line longer than {MAX_LINE_BYTES} bytes");
            reject(line, Reason::LineTooLong, &detail, &raw);
            continue;
        }
        if let Some(unclosed) = record.unclosed {
            let detail = unclosed.detail(line, max_record_bytes);
            let raw = String::from_utf8_lossy(content);
            reject(line, Reason::BadQuoting, &detail, &raw);
            continue;
        }
        map_content(bound, line, record.start, content, rows, scratch, reject);
    }
}

/// How far the writer is in a block's encoded quarantine lines.
#[derive(Default)]
struct RejectCursor {
    next: usize,
    written_to: usize,
}

impl RejectCursor {
    /// Writes the block's quarantine lines numbered below `line` not written yet.
    fn write_before(
        &mut self,
        line: u64,
        slot: &Slot,
        out: &mut QuarantineWriter,
    ) -> Result<(), Failure> {
        let from = self.next;
        while self.next < slot.reject_ends.len() && slot.reject_ends[self.next].0 < line {
            self.next += 1;
        }
        if self.next > from {
            let end = slot.reject_ends[self.next - 1].1;
            out.push_encoded(
                &slot.rejects[self.written_to..end],
                (self.next - from) as u64,
            )
            .map_err(Failure::Local)?;
            self.written_to = end;
        }
        Ok(())
    }
}

/// The writer's state: the output files and the duplicate-id detection.
struct Writer {
    events: EventWriter,
    rejects: QuarantineWriter,
    dedup: Dedup,
    stats: Stats,
    buf: Vec<u8>,
}

impl Writer {
    /// One block, in input order: rejects and rows merged by line number.
    fn write_block(&mut self, slot: &Slot) -> Result<(), Failure> {
        let local = |e: io::Error| Failure::Local(e.into());
        self.stats.rows_in += slot.rows_in;
        for (total, n) in self.stats.quarantined.iter_mut().zip(slot.quarantined) {
            *total += n;
        }
        let rows = &slot.rows;
        let mut rejected = RejectCursor::default();
        // kept rows go to the staged file in runs, between duplicates
        let mut run = 0;
        for i in 0..rows.len() {
            let line = rows.source_line[i];
            rejected.write_before(line, slot, &mut self.rejects)?;
            let verdict = self.dedup.check(rows.hash[i]).map_err(local)?;
            let raw = || {
                let (start, len) = rows.raw[i];
                std::str::from_utf8(&slot.block.data[start..start + len]).unwrap_or_default()
            };
            match verdict {
                Verdict::New => {}
                Verdict::Duplicate => {
                    self.events
                        .push_rows(rows, run, i)
                        .map_err(Failure::Local)?;
                    run = i + 1;
                    self.stats.quarantined[Reason::DuplicateKey.index()] += 1;
                    self.buf.clear();
                    let detail = duplicate_detail(rows.event_id.get(i));
                    quarantine_line(&mut self.buf, line, Reason::DuplicateKey, &detail, raw());
                    self.rejects
                        .push_encoded(&self.buf, 1)
                        .map_err(Failure::Local)?;
                }
                Verdict::Tentative { candidate } => {
                    if candidate {
                        self.dedup.keep_candidate(line, raw()).map_err(local)?;
                    }
                }
            }
        }
        self.events
            .push_rows(rows, run, rows.len())
            .map_err(Failure::Local)?;
        rejected.write_before(u64::MAX, slot, &mut self.rejects)?;
        Ok(())
    }

    /// Closes both files; in a spilled object, then drops the late duplicates.
    fn finish(self, staged: &Path, quarantine: &Path) -> Result<Stats, Failure> {
        let Self {
            events,
            rejects,
            dedup,
            mut stats,
            ..
        } = self;
        stats.rows_out = events.finish().map_err(Failure::Local)?;
        let written = rejects.finish().map_err(Failure::Local)?;
        debug_assert_eq!(written, stats.rows_quarantined());
        let resolved = dedup.finish().map_err(|e| Failure::Local(e.into()))?;
        if let Some(resolved) = resolved {
            let late = resolved.late;
            drop_late_duplicates(staged, quarantine, resolved).map_err(Failure::Local)?;
            stats.rows_out -= late;
            stats.quarantined[Reason::DuplicateKey.index()] += late;
        }
        Ok(stats)
    }
}

fn read_failure(error: io::Error, gzip: bool) -> Failure {
    if error
        .get_ref()
        .is_some_and(<dyn std::error::Error + Send + Sync>::is::<SourceError>)
    {
        let inner = error.into_inner().map_or_else(
            || anyhow::anyhow!("source read failed"),
            |e| match e.downcast::<SourceError>() {
                Ok(source) => source.0,
                Err(other) => anyhow::anyhow!(other),
            },
        );
        return Failure::Source(inner);
    }
    let (reason, what) = if gzip || error.kind() == io::ErrorKind::InvalidData {
        ("corrupt_gzip", "gzip stream")
    } else {
        ("unreadable", "object")
    };
    let detail = if error.kind() == io::ErrorKind::UnexpectedEof {
        format!("truncated {what}: {error}")
    } else {
        format!("{what}: {error}")
    };
    Failure::Object { reason, detail }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;
    use crate::transform::mapping::Mappings;

    struct Out {
        _dir: tempfile::TempDir,
        result: Result<Stats, Failure>,
        quarantine: Vec<serde_json::Value>,
    }

    fn run(provider: &str, key: &str, bytes: Vec<u8>) -> Out {
        let mapping = Mappings::embedded().unwrap().get(provider).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (s, q) = (dir.path().join("s"), dir.path().join("q"));
        let result = transform(io::Cursor::new(bytes), key, &mapping, &s, &q);
        let quarantine = std::fs::read_to_string(&q)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        Out {
            _dir: dir,
            result,
            quarantine,
        }
    }

    const HEADER: &str = "seq,fixture,event,time_local,team,player,price_home,price_draw,price_away,goals_home,goals_away\n";

    #[test]
    fn counts_every_row_and_quarantines_with_line_numbers() {
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(b"1,F,GOAL,01/07/2026 15:00:00,,,,,,,\r\n");
        text.extend_from_slice(b"\n");
        text.extend_from_slice(b"2,F,GOAL,01/07/2026 15:00:00,\xff\xfe,,,,,,\n");
        text.extend_from_slice(b"1,F,GOAL,01/07/2026 15:00:00,,,,,,,\n");
        text.extend_from_slice(
            format!(
                "3,F,GOAL,01/07/2026 15:00:00,{},,,,,,\n",
                "x".repeat(MAX_LINE_BYTES)
            )
            .as_bytes(),
        );
        text.extend_from_slice(b"4,F,GOAL,01/07/2026 15:00:00,,,,,,,");
        let out = run("acme", "raw/acme/a.csv", text);
        let stats = out.result.unwrap();
        assert_eq!(
            (stats.rows_in, stats.rows_out, stats.rows_quarantined()),
            (5, 2, 3)
        );
        let got: Vec<(u64, &str)> = out
            .quarantine
            .iter()
            .map(|q| (q["line"].as_u64().unwrap(), q["reason"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (4, "invalid_utf8"),
                (5, "duplicate_key"),
                (6, "line_too_long")
            ]
        );
        assert_eq!(
            out.quarantine[0]["raw"],
            "2,F,GOAL,01/07/2026 15:00:00,\u{fffd}\u{fffd},,,,,,"
        );
        assert!(out.quarantine[2]["raw"].as_str().unwrap().len() < 2000);
    }

    #[test]
    fn gzip_plain_and_empty_objects() {
        let body = format!("{HEADER}1,F,FT,01/07/2026 15:00:00,,,,,,,\n");
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(body.as_bytes()).unwrap();
        let out = run("acme", "raw/acme/a.csv.gz", gz.finish().unwrap());
        let stats = out.result.unwrap();
        assert!(stats.gzip);
        assert_eq!(stats.rows_out, 1);
        let empty = run("acme", "raw/acme/empty.csv", Vec::new())
            .result
            .unwrap();
        assert_eq!((empty.rows_in, empty.rows_out), (0, 0));
        let header_only = run("acme", "raw/acme/h.csv", HEADER.as_bytes().to_vec())
            .result
            .unwrap();
        assert_eq!(header_only.rows_in, 0);
    }

    #[test]
    fn object_failures() {
        let body = format!(
            "{HEADER}{}",
            "1,F,FT,01/07/2026 15:00:00,,,,,,,\n".repeat(2000)
        );
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(body.as_bytes()).unwrap();
        let data = gz.finish().unwrap();
        let truncated = run(
            "acme",
            "raw/acme/t.csv.gz",
            data[..data.len() - 20].to_vec(),
        );
        match truncated.result {
            Err(Failure::Object { reason, detail }) => {
                assert_eq!(reason, "corrupt_gzip");
                assert!(detail.contains("truncated"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let not_gzip = run("acme", "raw/acme/t.csv.gz", body.into_bytes());
        assert!(matches!(
            not_gzip.result,
            Err(Failure::Object {
                reason: "corrupt_gzip",
                ..
            })
        ));
        let bad_header = run("acme", "raw/acme/h.csv", b"a,b,c\n1,2,3\n".to_vec());
        assert!(matches!(
            bad_header.result,
            Err(Failure::Object {
                reason: "bad_header",
                ..
            })
        ));
    }

    #[test]
    fn source_errors_are_told_apart() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other(SourceError(anyhow::anyhow!(
                    "connection reset"
                ))))
            }
        }
        let mapping = Mappings::embedded().unwrap().get("betco").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let result = transform(
            Failing,
            "raw/betco/x.ndjson",
            &mapping,
            &dir.path().join("s"),
            &dir.path().join("q"),
        );
        match result {
            Err(Failure::Source(e)) => assert_eq!(e.to_string(), "connection reset"),
            other => panic!("{other:?}"),
        }
    }

    /// Transforms `bytes` with `options`; returns the staged and quarantine bytes.
    fn outputs(provider: &str, bytes: &[u8], options: &Options) -> (Stats, Vec<u8>, Vec<u8>) {
        let mapping = Mappings::embedded().unwrap().get(provider).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (s, q) = (dir.path().join("s"), dir.path().join("q"));
        let options = Options {
            scratch: dir.path().join("scratch"),
            ..options.clone()
        };
        std::fs::create_dir_all(&options.scratch).unwrap();
        let key = format!("raw/{provider}/f");
        let stats = transform_with(
            io::Cursor::new(bytes.to_vec()),
            &key,
            &mapping,
            &s,
            &q,
            &options,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let left: Vec<_> = std::fs::read_dir(&options.scratch).unwrap().collect();
        assert!(left.is_empty(), "spill files left behind: {left:?}");
        (
            stats,
            std::fs::read(&s).unwrap(),
            std::fs::read(&q).unwrap(),
        )
    }

    fn feed(provider: &str, rows: u64, duplicates: f64) -> Vec<u8> {
        let mapping = Mappings::embedded().unwrap().get(provider).unwrap();
        let spec = crate::generate::Spec {
            rows,
            seed: 11,
            bad: [
                (Reason::DuplicateKey, duplicates),
                (Reason::WrongType, 0.01),
                (Reason::InvalidUtf8, 0.005),
            ]
            .into_iter()
            .collect(),
            revision: 0,
        };
        let mut out = Vec::new();
        crate::generate::generate(&mapping, &spec, &mut out).unwrap();
        out
    }

    /// Every budget (down to none: everything spilled), block size and worker count gives
    /// the bytes of the in-memory run: the same Parquet file, the same quarantine lines in
    /// the same order, the same counts.
    #[test]
    fn spilled_runs_write_the_same_bytes_as_in_memory_runs() {
        for provider in ["acme", "betco"] {
            let bytes = feed(provider, 30_000, 0.05);
            let (want, staged, quarantine) = outputs(provider, &bytes, &Options::default());
            assert!(
                want.quarantined[Reason::DuplicateKey.index()] > 1000,
                "{want:?}"
            );
            for (budget, block_bytes, workers) in [
                (0, 4096, 1),
                (64, 100_000, 3),
                (4_000, 1 << 20, 2),
                (40_000, 7_000, 2),
                (400_000, 50_000, 1),
            ] {
                let options = Options {
                    dedup_budget: budget,
                    block_bytes,
                    workers,
                    ..Options::default()
                };
                let (got, s, q) = outputs(provider, &bytes, &options);
                let case =
                    format!("{provider} budget {budget} block {block_bytes} workers {workers}");
                assert_eq!(got, want, "{case}");
                assert!(s == staged, "{case}: staged bytes differ");
                assert!(q == quarantine, "{case}: quarantine bytes differ");
            }
        }
    }

    /// Duplicates of ids held by the set when it filled up, of ids spilled just after, and
    /// of ids on both sides: the first row always wins, with its raw line in quarantine.
    #[test]
    fn duplicates_straddling_the_budget() {
        let row = |seq: u32| format!("{seq},F,GOAL,01/07/2026 15:00:00,,,,,,,\n");
        // a budget that holds a 448-id table (7/8 of 512 slots, plus the old table)
        let budget = (512 + 256) * 17;
        let mut text = String::from(HEADER);
        let mut order: Vec<u32> = (0..1000).collect();
        // repeats: early ids (in the set), ids around the boundary, late ids (spilled)
        order.extend([0, 447, 448, 449, 450, 999, 448, 0, 700, 700, 1000]);
        order.extend(440..460);
        for seq in &order {
            text.push_str(&row(*seq));
        }
        let bytes = text.into_bytes();
        let (want, staged, quarantine) = outputs("acme", &bytes, &Options::default());
        let options = Options {
            dedup_budget: budget,
            block_bytes: 2048,
            ..Options::default()
        };
        let (got, s, q) = outputs("acme", &bytes, &options);
        assert_eq!(got, want);
        assert!(s == staged && q == quarantine);
        let dups: Vec<serde_json::Value> = String::from_utf8(q)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(dups.len(), 10 + 20);
        for dup in &dups {
            assert_eq!(dup["reason"], "duplicate_key");
            let line = usize::try_from(dup["line"].as_u64().unwrap()).unwrap();
            // line 1 is the header
            assert_eq!(dup["raw"], row(order[line - 2]).trim_end());
        }
        assert_eq!(want.rows_out, 1001);
    }

    /// The staged rows of a Parquet file: (event id, player, source line).
    fn staged_rows(path: &Path) -> Vec<(String, Option<String>, u64)> {
        crate::testing::staged_events(path)
            .into_iter()
            .map(|e| (e.event_id, e.player, e.source_line))
            .collect()
    }

    use std::fmt::Write as _;

    /// acme's mapping with `csv.multiline` (a small cap) and `csv.trim`.
    fn multiline_acme(trim: bool) -> Mapping {
        let text = EMBEDDED_ACME.replace(
            "header = true",
            &format!("header = true\nmultiline = true\nmax_record_bytes = 120\ntrim = {trim}"),
        );
        Mapping::parse(&text, "acme").unwrap()
    }

    const EMBEDDED_ACME: &str = include_str!("../../mappings/acme.toml");

    #[test]
    fn multiline_records_through_the_pipeline() {
        let mut text = HEADER.replace('\n', "\r\n");
        // lines 2-3: CRLF inside a quoted field; 4-6: escaped quotes across lines
        text.push_str("1,F,GOAL,01/07/2026 15:00:00,Arsenal,\"Saka,\r\nB\",,,,,\r\n");
        text.push_str("2,F,GOAL,01/07/2026 15:00:00,,\"He said \"\"go\r\n\r\nnow\"\"\",,,,,\r\n");
        // line 7: a quote never closed within the cap; lines 8.. read again
        text.push_str("3,F,GOAL,01/07/2026 15:00:00,,\"open,,,,,\n");
        for seq in 4..8 {
            let _ = writeln!(text, "{seq},F,GOAL,01/07/2026 15:00:00,,,,,,,");
        }
        // lines 12-13: a duplicate of lines 2-3; 14: a blank line (not counted); 15: a bad
        // row; 16: open at the end
        text.push_str("1,F,GOAL,01/07/2026 15:00:00,Arsenal,\"Saka,\r\nB\",,,,,\r\n");
        text.push_str("\n9,F,GOAL,yesterday,,,,,,,\n10,F,GOAL,01/07/2026 15:00:00,,\"x");
        let mut outputs = Vec::new();
        // the duplicate-id budget 0 spills every id: the same bytes
        for (block_bytes, workers, dedup_budget) in [
            (BLOCK_BYTES, 2, dedup::DEFAULT_BUDGET),
            (7, 1, dedup::DEFAULT_BUDGET),
            (64, 3, 0),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (s, q) = (dir.path().join("s"), dir.path().join("q"));
            let options = Options {
                block_bytes,
                workers,
                dedup_budget,
                scratch: dir.path().to_path_buf(),
            };
            let stats = transform_with(
                io::Cursor::new(text.clone().into_bytes()),
                "raw/acme/m.csv",
                &multiline_acme(false),
                &s,
                &q,
                &options,
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
            let case = format!("block {block_bytes} workers {workers} budget {dedup_budget}");
            assert_eq!(
                (stats.rows_in, stats.rows_out, stats.rows_quarantined()),
                (10, 6, 4),
                "{case}"
            );
            let staged = staged_rows(&s);
            let rows: Vec<(&str, Option<&str>, u64)> = staged
                .iter()
                .map(|(id, player, line)| (id.as_str(), player.as_deref(), *line))
                .collect();
            assert_eq!(
                rows,
                [
                    ("acme-F-1", Some("Saka,\r\nB"), 2),
                    ("acme-F-2", Some("He said \"go\r\n\r\nnow\""), 4),
                    ("acme-F-4", None, 8),
                    ("acme-F-5", None, 9),
                    ("acme-F-6", None, 10),
                    ("acme-F-7", None, 11),
                ],
                "{case}"
            );
            let quarantine: Vec<serde_json::Value> = std::fs::read_to_string(&q)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let got: Vec<(u64, &str)> = quarantine
                .iter()
                .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
                .collect();
            assert_eq!(
                got,
                [
                    (7, "bad_quoting"),
                    (12, "duplicate_key"),
                    (15, "wrong_type"),
                    (16, "bad_quoting")
                ],
                "{case}"
            );
            assert_eq!(
                quarantine[1]["raw"],
                "1,F,GOAL,01/07/2026 15:00:00,Arsenal,\"Saka,\r\nB\",,,,,"
            );
            assert_eq!(
                quarantine[0]["raw"], "3,F,GOAL,01/07/2026 15:00:00,,\"open,,,,,",
                "only the first line"
            );
            let detail = quarantine[0]["detail"].as_str().unwrap();
            assert!(
                detail.contains("line 7") && detail.contains("csv.max_record_bytes (120 bytes"),
                "{detail}"
            );
            assert!(
                quarantine[3]["detail"]
                    .as_str()
                    .unwrap()
                    .contains("end of the object")
            );
            outputs.push((std::fs::read(&s).unwrap(), std::fs::read(&q).unwrap()));
        }
        assert!(outputs.iter().all(|o| *o == outputs[0]), "outputs differ");
    }

    #[test]
    fn trim_through_the_pipeline() {
        let text = format!(
            "{HEADER} 1 , F ,GOAL , 01/07/2026 15:00:00 , \"Leeds \" ,  \"  Isco\" ,5/2 ,, , 1 , 0\n"
        );
        for trim in [true, false] {
            let mut mapping = multiline_acme(trim);
            if let Format::Csv { multiline, .. } = &mut mapping.format {
                *multiline = false;
            }
            let dir = tempfile::tempdir().unwrap();
            let (s, q) = (dir.path().join("s"), dir.path().join("q"));
            let stats = transform(
                io::Cursor::new(text.clone().into_bytes()),
                "raw/acme/t.csv",
                &mapping,
                &s,
                &q,
            )
            .unwrap();
            if trim {
                assert_eq!(stats.rows_out, 1);
                let rows = staged_rows(&s);
                assert_eq!(rows[0].0, "acme-F-1");
                assert_eq!(rows[0].1.as_deref(), Some("  Isco"), "quoted spaces stay");
            } else {
                assert_eq!(stats.quarantined[Reason::BadQuoting.index()], 1);
            }
        }
    }
}
