//! The two outputs of an object: the events as Parquet and the rejected rows as NDJSON.
//!
//! Both are written to local scratch files and uploaded whole afterwards, so no partial
//! object ever appears under a final key. The Parquet writer's properties are fixed
//! (`created_by`, compression, row group size, no timestamps): the same rows give the
//! same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow_array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt16Array, UInt64Array,
};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::{Event, Reason};

/// Rows per Arrow batch handed to the Parquet writer.
pub const BATCH_ROWS: usize = 8192;
/// Rows per Parquet row group (bounds the writer's memory).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The staged events schema (`docs/staged-format.md`; `pytask.clickhouse.events`).
#[must_use]
pub fn schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("event_id", false),
        text("provider", false),
        text("match_id", false),
        text("event_type", false),
        Field::new(
            "occurred_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        text("team", true),
        text("player", true),
        Field::new("odds_home", DataType::Float64, true),
        Field::new("odds_draw", DataType::Float64, true),
        Field::new("odds_away", DataType::Float64, true),
        Field::new("score_home", DataType::UInt16, true),
        Field::new("score_away", DataType::UInt16, true),
        Field::new("source_line", DataType::UInt64, false),
    ]))
}

/// The fixed writer properties: zstd level 3, 128 Ki-row row groups, `created_by` without
/// a library version, so output bytes depend only on the rows.
///
/// # Panics
/// Never: the zstd level is a valid constant.
#[must_use]
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_created_by(format!("rstask {}", crate::VERSION))
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid zstd level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // unique per row: a dictionary would only be built to be given up
        .set_column_dictionary_enabled(ColumnPath::from("event_id"), false)
        .set_column_dictionary_enabled(ColumnPath::from("occurred_at"), false)
        .set_column_dictionary_enabled(ColumnPath::from("source_line"), false)
        .build()
}

/// Largest text of one string column in one batch (Arrow's 32-bit offsets).
const BATCH_TEXT_BYTES: usize = 1 << 30;

/// Strings of one column: the text of every row, concatenated, and Arrow offsets.
#[derive(Debug, Clone)]
pub struct Strs {
    text: String,
    offsets: Vec<i32>,
}

impl Default for Strs {
    fn default() -> Self {
        Self {
            text: String::new(),
            offsets: vec![0],
        }
    }
}

impl Strs {
    /// Appends one value.
    ///
    /// # Panics
    /// When the column's text passes 2 GiB (a block or batch never holds that much).
    pub fn push(&mut self, value: &str) {
        self.text.push_str(value);
        self.offsets
            .push(i32::try_from(self.text.len()).expect("string column below 2 GiB"));
    }

    /// The value of row `i`.
    #[must_use]
    pub fn get(&self, i: usize) -> &str {
        &self.text[self.start(i)..self.start(i + 1)]
    }

    fn start(&self, i: usize) -> usize {
        usize::try_from(self.offsets[i]).unwrap_or(0)
    }

    /// Bytes of rows `from..to`.
    fn bytes(&self, from: usize, to: usize) -> usize {
        self.start(to) - self.start(from)
    }

    fn extend(&mut self, other: &Self, from: usize, to: usize) {
        let (start, end) = (other.start(from), other.start(to));
        let base = i32::try_from(self.text.len()).expect("string column below 2 GiB")
            - other.offsets[from];
        self.text.push_str(&other.text[start..end]);
        self.offsets
            .extend(other.offsets[from + 1..=to].iter().map(|o| o + base));
    }

    fn clear(&mut self) {
        self.text.clear();
        self.offsets.truncate(1);
    }

    fn take_array(&mut self) -> StringArray {
        let Self { text, offsets } = std::mem::take(self);
        StringArray::new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(text.into_bytes()),
            None,
        )
    }
}

/// Nullable strings of one column.
#[derive(Debug, Default, Clone)]
pub struct OptStrs {
    values: Strs,
    valid: Vec<bool>,
}

impl OptStrs {
    /// Appends one value or null.
    pub fn push(&mut self, value: Option<&str>) {
        self.values.push(value.unwrap_or(""));
        self.valid.push(value.is_some());
    }

    /// The value of row `i`.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&str> {
        self.valid[i].then(|| self.values.get(i))
    }

    fn extend(&mut self, other: &Self, from: usize, to: usize) {
        self.values.extend(&other.values, from, to);
        self.valid.extend_from_slice(&other.valid[from..to]);
    }

    fn clear(&mut self) {
        self.values.clear();
        self.valid.clear();
    }

    fn take_array(&mut self) -> StringArray {
        let nulls = nulls(&std::mem::take(&mut self.valid));
        let values = self.values.take_array();
        let (offsets, bytes, _) = values.into_parts();
        StringArray::new(offsets, bytes, nulls)
    }
}

/// Nullable numbers of one column.
#[derive(Debug, Default, Clone)]
pub struct Opt<T> {
    values: Vec<T>,
    valid: Vec<bool>,
}

impl<T: Copy + Default> Opt<T> {
    /// Appends one value or null.
    pub fn push(&mut self, value: Option<T>) {
        self.values.push(value.unwrap_or_default());
        self.valid.push(value.is_some());
    }

    /// The value of row `i`.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<T> {
        self.valid[i].then(|| self.values[i])
    }

    fn extend(&mut self, other: &Self, from: usize, to: usize) {
        self.values.extend_from_slice(&other.values[from..to]);
        self.valid.extend_from_slice(&other.valid[from..to]);
    }

    fn clear(&mut self) {
        self.values.clear();
        self.valid.clear();
    }

    fn take(&mut self) -> (ScalarBuffer<T>, Option<NullBuffer>)
    where
        T: arrow_buffer::ArrowNativeType,
    {
        let Self { values, valid } = std::mem::take(self);
        (ScalarBuffer::from(values), nulls(&valid))
    }
}

/// A validity bitmap, or none when every value is there (as Arrow's builders do).
fn nulls(valid: &[bool]) -> Option<NullBuffer> {
    if valid.iter().all(|v| *v) {
        None
    } else {
        Some(NullBuffer::from(valid))
    }
}

/// Events, column by column, in Arrow's layout: a mapping worker's output for one block
/// (besides each row's event-id hash, for duplicate detection, and where its line is in
/// the block, for the raw text of a duplicate's quarantine line), and the writer's batch
/// being filled (turned into a record batch without copying).
#[derive(Debug, Default, Clone)]
pub struct Rows {
    /// The provider of every row.
    pub provider: String,
    /// `event_id`.
    pub event_id: Strs,
    /// `match_id`.
    pub match_id: Strs,
    /// `event_type` (a canonical [`super::mapping::EVENT_TYPES`] value).
    pub event_type: Strs,
    /// `occurred_at`, epoch ms.
    pub occurred_at: Vec<i64>,
    /// `team`.
    pub team: OptStrs,
    /// `player`.
    pub player: OptStrs,
    /// `odds_home`, `odds_draw`, `odds_away`.
    pub odds: [Opt<f64>; 3],
    /// `score_home`, `score_away`.
    pub score: [Opt<u16>; 2],
    /// `source_line`.
    pub source_line: Vec<u64>,
    /// 128 bits of the event id (see [`super::dedup`]); not kept by the writer.
    pub hash: Vec<u128>,
    /// Byte range of the row's line in its block; not kept by the writer.
    pub raw: Vec<(usize, usize)>,
}

impl Rows {
    /// Rows held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.source_line.len()
    }

    /// Whether no row is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.source_line.is_empty()
    }

    /// Empties the columns, keeping their allocations.
    pub fn clear(&mut self) {
        self.event_id.clear();
        self.match_id.clear();
        self.event_type.clear();
        self.occurred_at.clear();
        self.team.clear();
        self.player.clear();
        for odds in &mut self.odds {
            odds.clear();
        }
        for score in &mut self.score {
            score.clear();
        }
        self.source_line.clear();
        self.hash.clear();
        self.raw.clear();
    }

    /// Appends one event (not its hash or raw range).
    pub fn push(&mut self, row: &RowRef<'_>) {
        self.event_id.push(row.event_id);
        self.match_id.push(row.match_id);
        self.event_type.push(row.event_type);
        self.occurred_at.push(row.occurred_at);
        self.team.push(row.team);
        self.player.push(row.player);
        for (column, value) in self.odds.iter_mut().zip(row.odds) {
            column.push(value);
        }
        for (column, value) in self.score.iter_mut().zip(row.score) {
            column.push(value);
        }
        self.source_line.push(row.source_line);
    }

    /// Appends the events of rows `from..to` of `other` (not their hashes or raw ranges).
    fn extend(&mut self, other: &Self, from: usize, to: usize) {
        self.event_id.extend(&other.event_id, from, to);
        self.match_id.extend(&other.match_id, from, to);
        self.event_type.extend(&other.event_type, from, to);
        self.occurred_at
            .extend_from_slice(&other.occurred_at[from..to]);
        self.team.extend(&other.team, from, to);
        self.player.extend(&other.player, from, to);
        for (column, source) in self.odds.iter_mut().zip(&other.odds) {
            column.extend(source, from, to);
        }
        for (column, source) in self.score.iter_mut().zip(&other.score) {
            column.extend(source, from, to);
        }
        self.source_line
            .extend_from_slice(&other.source_line[from..to]);
    }

    /// The largest string-column text of rows `from..to`.
    fn text_bytes(&self, from: usize, to: usize) -> usize {
        [
            self.event_id.bytes(from, to),
            self.match_id.bytes(from, to),
            self.team.values.bytes(from, to),
            self.player.values.bytes(from, to),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    /// Row `i`.
    #[must_use]
    pub fn row(&self, i: usize) -> RowRef<'_> {
        RowRef {
            event_id: self.event_id.get(i),
            provider: &self.provider,
            match_id: self.match_id.get(i),
            event_type: self.event_type.get(i),
            occurred_at: self.occurred_at[i],
            team: self.team.get(i),
            player: self.player.get(i),
            odds: [
                self.odds[0].get(i),
                self.odds[1].get(i),
                self.odds[2].get(i),
            ],
            score: [self.score[0].get(i), self.score[1].get(i)],
            source_line: self.source_line[i],
        }
    }

    /// Row `i` as an owned [`Event`].
    #[must_use]
    pub fn event(&self, i: usize) -> Event {
        let row = self.row(i);
        Event {
            event_id: row.event_id.to_owned(),
            provider: row.provider.to_owned(),
            match_id: row.match_id.to_owned(),
            event_type: row.event_type.to_owned(),
            occurred_at: row.occurred_at,
            team: row.team.map(str::to_owned),
            player: row.player.map(str::to_owned),
            odds: row.odds,
            score: row.score,
            source_line: row.source_line,
        }
    }

    /// The rows as a record batch of the events schema (the columns are moved out).
    fn take_batch(&mut self, provider: &str) -> anyhow::Result<RecordBatch> {
        let rows = self.len();
        let mut providers = Strs::default();
        for _ in 0..rows {
            providers.push(provider);
        }
        let [home, draw, away] = &mut self.odds;
        let [score_home, score_away] = &mut self.score;
        let float = |o: &mut Opt<f64>| -> ArrayRef {
            let (values, nulls) = o.take();
            Arc::new(Float64Array::new(values, nulls))
        };
        let small = |o: &mut Opt<u16>| -> ArrayRef {
            let (values, nulls) = o.take();
            Arc::new(UInt16Array::new(values, nulls))
        };
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.take_array()),
            Arc::new(providers.take_array()),
            Arc::new(self.match_id.take_array()),
            Arc::new(self.event_type.take_array()),
            Arc::new(
                TimestampMillisecondArray::new(
                    ScalarBuffer::from(std::mem::take(&mut self.occurred_at)),
                    None,
                )
                .with_timezone("UTC"),
            ),
            Arc::new(self.team.take_array()),
            Arc::new(self.player.take_array()),
            float(home),
            float(draw),
            float(away),
            small(score_home),
            small(score_away),
            Arc::new(UInt64Array::new(
                ScalarBuffer::from(std::mem::take(&mut self.source_line)),
                None,
            )),
        ];
        self.clear();
        Ok(RecordBatch::try_new(schema(), arrays)?)
    }
}

/// One event, borrowed: a row of [`Rows`], an [`Event`] or a row read back from Parquet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowRef<'a> {
    /// `event_id`.
    pub event_id: &'a str,
    /// `provider`.
    pub provider: &'a str,
    /// `match_id`.
    pub match_id: &'a str,
    /// `event_type`.
    pub event_type: &'a str,
    /// `occurred_at`.
    pub occurred_at: i64,
    /// `team`.
    pub team: Option<&'a str>,
    /// `player`.
    pub player: Option<&'a str>,
    /// Odds: home, draw, away.
    pub odds: [Option<f64>; 3],
    /// Score: home, away.
    pub score: [Option<u16>; 2],
    /// `source_line`.
    pub source_line: u64,
}

impl<'a> From<&'a Event> for RowRef<'a> {
    fn from(event: &'a Event) -> Self {
        Self {
            event_id: &event.event_id,
            provider: &event.provider,
            match_id: &event.match_id,
            event_type: &event.event_type,
            occurred_at: event.occurred_at,
            team: event.team.as_deref(),
            player: event.player.as_deref(),
            odds: event.odds,
            score: event.score,
            source_line: event.source_line,
        }
    }
}

/// A record batch of the events schema, its columns downcast, to read rows back.
pub struct BatchRows {
    text: [StringArray; 6],
    occurred_at: TimestampMillisecondArray,
    odds: [Float64Array; 3],
    score: [UInt16Array; 2],
    source_line: UInt64Array,
    len: usize,
}

impl BatchRows {
    /// Downcasts the columns of a batch read from a staged file.
    ///
    /// # Errors
    /// When the batch does not have the events schema.
    pub fn new(batch: &RecordBatch) -> anyhow::Result<Self> {
        fn col<T: Clone + 'static>(batch: &RecordBatch, i: usize) -> anyhow::Result<T> {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<T>()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("column {i} of a staged batch has another type"))
        }
        Ok(Self {
            text: [
                col(batch, 0)?,
                col(batch, 1)?,
                col(batch, 2)?,
                col(batch, 3)?,
                col(batch, 5)?,
                col(batch, 6)?,
            ],
            occurred_at: col(batch, 4)?,
            odds: [col(batch, 7)?, col(batch, 8)?, col(batch, 9)?],
            score: [col(batch, 10)?, col(batch, 11)?],
            source_line: col(batch, 12)?,
            len: batch.num_rows(),
        })
    }

    /// Rows in the batch.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch is empty.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Row `i`.
    #[must_use]
    pub fn row(&self, i: usize) -> RowRef<'_> {
        fn opt(a: &StringArray, i: usize) -> Option<&str> {
            (!a.is_null(i)).then(|| a.value(i))
        }
        let t = &self.text;
        RowRef {
            event_id: t[0].value(i),
            provider: t[1].value(i),
            match_id: t[2].value(i),
            event_type: t[3].value(i),
            occurred_at: self.occurred_at.value(i),
            team: opt(&t[4], i),
            player: opt(&t[5], i),
            odds: self
                .odds
                .each_ref()
                .map(|a| (!a.is_null(i)).then(|| a.value(i))),
            score: self
                .score
                .each_ref()
                .map(|a| (!a.is_null(i)).then(|| a.value(i))),
            source_line: self.source_line.value(i),
        }
    }
}

/// Writes events to a Parquet file, in batches of exactly [`BATCH_ROWS`] rows (the last
/// one excepted, and one whose text would pass 1 GiB in a column) whatever the caller's
/// chunking: the bytes depend only on the rows. The batches are encoded (and compressed)
/// by a thread of the writer's own, two at most waiting for it.
pub struct EventWriter {
    pending: Rows,
    provider: Option<String>,
    rows: u64,
    batches: Option<SyncSender<RecordBatch>>,
    encoder: Option<JoinHandle<anyhow::Result<()>>>,
}

impl EventWriter {
    /// Creates the file.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let mut writer = ArrowWriter::try_new(file, schema(), Some(writer_properties()))?;
        let (batches, rx) = sync_channel::<RecordBatch>(2);
        let encoder = std::thread::Builder::new()
            .name("rstask-parquet".into())
            .spawn(move || {
                while let Ok(batch) = rx.recv() {
                    writer.write(&batch)?;
                }
                let file = writer.into_inner()?;
                file.into_inner()
                    .map_err(std::io::IntoInnerError::into_error)?
                    .sync_all()?;
                Ok(())
            })?;
        Ok(Self {
            pending: Rows::default(),
            provider: None,
            rows: 0,
            batches: Some(batches),
            encoder: Some(encoder),
        })
    }

    /// Appends one event.
    ///
    /// # Errors
    /// A write error when a full batch is flushed.
    pub fn push(&mut self, event: &Event) -> anyhow::Result<()> {
        self.push_row(&RowRef::from(event))
    }

    /// Appends one event.
    ///
    /// # Errors
    /// A write error (of an earlier batch) when a full batch is handed on.
    pub fn push_row(&mut self, row: &RowRef<'_>) -> anyhow::Result<()> {
        self.set_provider(row.provider)?;
        let text = [
            row.event_id,
            row.match_id,
            row.team.unwrap_or(""),
            row.player.unwrap_or(""),
        ]
        .iter()
        .map(|s| s.len())
        .max()
        .unwrap_or(0);
        if !self.pending.is_empty()
            && self.pending.text_bytes(0, self.pending.len()) + text > BATCH_TEXT_BYTES
        {
            self.flush_batch()?;
        }
        self.pending.push(row);
        self.rows += 1;
        if self.pending.len() >= BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Appends rows `from..to` of `rows`: the same as pushing them one by one.
    ///
    /// # Errors
    /// A write error (of an earlier batch) when a full batch is handed on.
    pub fn push_rows(&mut self, rows: &Rows, mut from: usize, to: usize) -> anyhow::Result<()> {
        if from < to {
            self.set_provider(&rows.provider)?;
        }
        while from < to {
            let room = BATCH_ROWS - self.pending.len();
            let mut end = to.min(from + room);
            let held = self.pending.text_bytes(0, self.pending.len());
            if held + rows.text_bytes(from, end) > BATCH_TEXT_BYTES {
                // rare: giant values; one row at a time decides where the batch ends
                let row = rows.row(from);
                self.push_row(&row)?;
                from += 1;
                continue;
            }
            self.pending.extend(rows, from, end);
            self.rows += (end - from) as u64;
            if self.pending.len() >= BATCH_ROWS {
                self.flush_batch()?;
            }
            std::mem::swap(&mut from, &mut end);
        }
        Ok(())
    }

    fn set_provider(&mut self, provider: &str) -> anyhow::Result<()> {
        match &self.provider {
            Some(p) if p == provider => Ok(()),
            Some(p) => Err(anyhow::anyhow!(
                "one staged file, one provider: {p:?}, then {provider:?}"
            )),
            None => {
                self.provider = Some(provider.to_owned());
                Ok(())
            }
        }
    }

    /// Rows appended so far.
    #[must_use]
    pub const fn rows(&self) -> u64 {
        self.rows
    }

    fn flush_batch(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let provider = self.provider.clone().unwrap_or_default();
        let batch = self.pending.take_batch(&provider)?;
        let sent = self.batches.as_ref().map(|tx| tx.send(batch));
        if matches!(sent, Some(Ok(()))) {
            return Ok(());
        }
        // the encoder stopped: its error says why
        self.batches = None;
        self.join()?;
        Err(anyhow::anyhow!("the Parquet encoder stopped"))
    }

    fn join(&mut self) -> anyhow::Result<()> {
        match self.encoder.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(anyhow::anyhow!("the Parquet encoder panicked")),
        }
    }

    /// Flushes and closes the file; returns the number of rows written.
    ///
    /// # Errors
    /// A write error.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.flush_batch()?;
        self.batches = None;
        self.join()?;
        Ok(self.rows)
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        self.batches = None;
        let _ = self.join();
    }
}

/// Appends one quarantine line, `{"line", "reason", "detail", "raw"}` and a newline, to
/// `out`: the bytes [`QuarantineWriter::push`] writes.
pub fn quarantine_line(out: &mut Vec<u8>, line: u64, reason: Reason, detail: &str, raw: &str) {
    use std::fmt::Write as _;
    let mut head = String::with_capacity(48);
    let _ = write!(
        head,
        "{{\"line\":{line},\"reason\":\"{}\",\"detail\":",
        reason.as_str()
    );
    out.extend_from_slice(head.as_bytes());
    json_string(out, detail);
    out.extend_from_slice(b",\"raw\":");
    json_string(out, raw);
    out.extend_from_slice(b"}\n");
}

fn json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The `line` of a quarantine line written by [`quarantine_line`].
#[must_use]
pub fn quarantine_line_number(line: &[u8]) -> Option<u64> {
    let digits = line.strip_prefix(b"{\"line\":")?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Writes quarantine lines: `{"line", "reason", "detail", "raw"}`, one JSON object each.
pub struct QuarantineWriter {
    out: BufWriter<File>,
    buf: Vec<u8>,
    rows: u64,
}

impl QuarantineWriter {
    /// Creates the file.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(256 * 1024, File::create(path)?),
            buf: Vec::new(),
            rows: 0,
        })
    }

    /// Appends one rejected row; `raw` is the original line (invalid UTF-8 replaced by
    /// U+FFFD so the line stays valid JSON).
    ///
    /// # Errors
    /// A write error.
    pub fn push(
        &mut self,
        line: u64,
        reason: Reason,
        detail: &str,
        raw: &str,
    ) -> anyhow::Result<()> {
        self.buf.clear();
        quarantine_line(&mut self.buf, line, reason, detail, raw);
        self.out.write_all(&self.buf)?;
        self.rows += 1;
        Ok(())
    }

    /// Appends lines already encoded by [`quarantine_line`]: `rows` of them.
    ///
    /// # Errors
    /// A write error.
    pub fn push_encoded(&mut self, lines: &[u8], rows: u64) -> anyhow::Result<()> {
        self.out.write_all(lines)?;
        self.rows += rows;
        Ok(())
    }

    /// Rows written so far.
    #[must_use]
    pub const fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and closes the file; returns the number of rows written.
    ///
    /// # Errors
    /// A write error.
    pub fn finish(self) -> anyhow::Result<u64> {
        let file = self
            .out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::{IntType, LogicalType, TimeUnit as PqTimeUnit, TimestampType};

    use super::*;

    fn event(n: u64) -> Event {
        Event {
            event_id: format!("e{n}"),
            provider: "acme".into(),
            match_id: "F-1".into(),
            event_type: "goal".into(),
            occurred_at: 1_795_446_245_123,
            team: (n.is_multiple_of(2)).then(|| "Arsenal".into()),
            player: None,
            odds: [Some(3.5), None, Some(1.5)],
            score: [Some(65535), None],
            source_line: n + 1,
        }
    }

    fn write(path: &Path, rows: u64) {
        let mut writer = EventWriter::create(path).unwrap();
        for n in 0..rows {
            writer.push(&event(n)).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), rows);
    }

    #[test]
    fn parquet_schema_types_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.parquet");
        write(&path, 10_000);
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let meta = builder.metadata().file_metadata();
        assert_eq!(meta.created_by(), Some("rstask 0.1.0"));
        assert_eq!(meta.num_rows(), 10_000);
        let descr = meta.schema_descr();
        let names: Vec<&str> = descr.columns().iter().map(|c| c.name()).collect();
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
        assert_eq!(
            descr.column(4).logical_type_ref(),
            Some(&LogicalType::Timestamp(TimestampType {
                is_adjusted_to_u_t_c: true,
                unit: PqTimeUnit::MILLIS
            }))
        );
        assert_eq!(
            descr.column(10).logical_type_ref(),
            Some(&LogicalType::Integer(IntType {
                bit_width: 16,
                is_signed: false
            }))
        );
        assert!(descr.column(10).self_type().is_optional());
        assert!(!descr.column(12).self_type().is_optional());
        let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
        assert_eq!(batches[0].schema(), schema());
        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(total, 10_000);
    }

    #[test]
    fn same_rows_same_bytes_and_empty_files_are_valid() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write(&a, 20_000);
        write(&b, 20_000);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let empty = dir.path().join("empty");
        write(&empty, 0);
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&empty).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    }

    #[test]
    fn quarantine_lines_are_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.ndjson");
        let mut q = QuarantineWriter::create(&path).unwrap();
        q.push(3, Reason::WrongType, "odds_home: bad", "a,\"b\u{fffd}")
            .unwrap();
        assert_eq!(q.finish().unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"line\":3,\"reason\":\"wrong_type\",\"detail\":\"odds_home: bad\",\"raw\":\"a,\\\"b\u{fffd}\"}\n"
        );
    }
}
