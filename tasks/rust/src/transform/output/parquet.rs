//! The Parquet events writer: fixed writer properties, batches of a fixed size, encoded
//! (and compressed) by a thread of the writer's own.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::columns::{RowRef, Rows, schema};
use crate::transform::Event;

/// Rows per Arrow batch handed to the Parquet writer.
pub const BATCH_ROWS: usize = 8192;
/// Rows per Parquet row group (bounds the writer's memory).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

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
}
