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

use arrow_array::builder::{
    Float64Builder, StringBuilder, TimestampMillisecondBuilder, UInt16Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{Event, Reason};

/// Rows per Arrow batch handed to the Parquet writer.
const BATCH_ROWS: usize = 8192;
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
        .build()
}

#[derive(Default)]
struct Columns {
    event_id: StringBuilder,
    provider: StringBuilder,
    match_id: StringBuilder,
    event_type: StringBuilder,
    occurred_at: TimestampMillisecondBuilder,
    team: StringBuilder,
    player: StringBuilder,
    odds: [Float64Builder; 3],
    score: [UInt16Builder; 2],
    source_line: UInt64Builder,
}

/// Writes events to a Parquet file.
pub struct EventWriter {
    writer: ArrowWriter<BufWriter<File>>,
    columns: Columns,
    pending: usize,
    rows: u64,
}

impl EventWriter {
    /// Creates the file.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let writer = ArrowWriter::try_new(file, schema(), Some(writer_properties()))?;
        Ok(Self {
            writer,
            columns: Columns::default(),
            pending: 0,
            rows: 0,
        })
    }

    /// Appends one event.
    ///
    /// # Errors
    /// A write error when a full batch is flushed.
    pub fn push(&mut self, event: &Event) -> anyhow::Result<()> {
        let c = &mut self.columns;
        c.event_id.append_value(&event.event_id);
        c.provider.append_value(&event.provider);
        c.match_id.append_value(&event.match_id);
        c.event_type.append_value(&event.event_type);
        c.occurred_at.append_value(event.occurred_at);
        c.team.append_option(event.team.as_deref());
        c.player.append_option(event.player.as_deref());
        for (builder, value) in c.odds.iter_mut().zip(event.odds) {
            builder.append_option(value);
        }
        for (builder, value) in c.score.iter_mut().zip(event.score) {
            builder.append_option(value);
        }
        c.source_line.append_value(event.source_line);
        self.pending += 1;
        self.rows += 1;
        if self.pending >= BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> anyhow::Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let c = &mut self.columns;
        let [home, draw, away] = &mut c.odds;
        let [score_home, score_away] = &mut c.score;
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(c.event_id.finish()),
            Arc::new(c.provider.finish()),
            Arc::new(c.match_id.finish()),
            Arc::new(c.event_type.finish()),
            Arc::new(c.occurred_at.finish().with_timezone("UTC")),
            Arc::new(c.team.finish()),
            Arc::new(c.player.finish()),
            Arc::new(home.finish()),
            Arc::new(draw.finish()),
            Arc::new(away.finish()),
            Arc::new(score_home.finish()),
            Arc::new(score_away.finish()),
            Arc::new(c.source_line.finish()),
        ];
        let batch = RecordBatch::try_new(schema(), arrays)?;
        self.writer.write(&batch)?;
        self.pending = 0;
        Ok(())
    }

    /// Flushes and closes the file; returns the number of rows written.
    ///
    /// # Errors
    /// A write error.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.flush_batch()?;
        let file = self.writer.into_inner()?;
        file.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()?;
        Ok(self.rows)
    }
}

/// Writes quarantine lines: `{"line", "reason", "detail", "raw"}`, one JSON object each.
pub struct QuarantineWriter {
    out: BufWriter<File>,
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
        let record = serde_json::json!({
            "line": line,
            "reason": reason.as_str(),
            "detail": detail,
            "raw": raw,
        });
        serde_json::to_writer(&mut self.out, &record)?;
        self.out.write_all(b"\n")?;
        self.rows += 1;
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
