//! Helpers shared by the unit tests.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::config::Env;

/// A cloneable in-memory writer: hand one clone to the code, read the other.
#[derive(Clone, Default)]
pub struct Buf(pub Arc<Mutex<Vec<u8>>>);

impl Buf {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Buf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An environment from pairs.
pub fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The events of a staged Parquet file, in order.
pub fn staged_events(path: &std::path::Path) -> Vec<crate::transform::Event> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut events = Vec::new();
    for batch in reader {
        let rows = crate::transform::output::BatchRows::new(&batch.unwrap()).unwrap();
        for i in 0..rows.len() {
            let row = rows.row(i);
            events.push(crate::transform::Event {
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
            });
        }
    }
    events
}
