//! The two outputs of an object: the events as Parquet and the rejected rows as NDJSON.
//!
//! Both are written to local scratch files and uploaded whole afterwards, so no partial
//! object ever appears under a final key. The Parquet writer's properties are fixed
//! (`created_by`, compression, row group size, no timestamps): the same rows give the
//! same bytes.
//!
//! * `columns`: the events column by column in Arrow's layout ([`Rows`], [`RowRef`],
//!   [`BatchRows`]) and the events [`schema`];
//! * `parquet`: the Parquet events writer, [`EventWriter`], and its fixed properties;
//! * `quarantine`: the quarantine writer, [`QuarantineWriter`], and its line encoding.
//!
//! The three are private; their items are re-exported here.

mod columns;
mod parquet;
mod quarantine;

pub use self::parquet::{BATCH_ROWS, EventWriter, ROW_GROUP_ROWS, writer_properties};
pub use columns::{BatchRows, Opt, OptStrs, RowRef, Rows, Strs, schema};
pub use quarantine::{QuarantineWriter, quarantine_line, quarantine_line_number};
