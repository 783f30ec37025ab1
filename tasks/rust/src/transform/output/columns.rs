//! Events column by column in Arrow's layout: the column buffers a mapping worker fills
//! ([`Rows`]), one event borrowed from them ([`RowRef`]), the events schema they become
//! a record batch of, and [`BatchRows`] to read rows of such a batch back.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt16Array, UInt64Array,
};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::transform::Event;

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
    /// `event_type` (a canonical [`crate::transform::mapping::EVENT_TYPES`] value).
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
    /// 128 bits of the event id (see [`crate::transform::dedup`]); not kept by the writer.
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
    pub(super) fn extend(&mut self, other: &Self, from: usize, to: usize) {
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
    pub(super) fn text_bytes(&self, from: usize, to: usize) -> usize {
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
    pub(super) fn take_batch(&mut self, provider: &str) -> anyhow::Result<RecordBatch> {
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
