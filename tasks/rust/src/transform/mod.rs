//! The provider-feed transform: raw CSV / NDJSON rows → one event schema, or quarantine.
//!
//! * [`mapping`]: one TOML file per provider (`mappings/<provider>.toml`, embedded in the
//!   binary, overridable by a directory) declaring the format and how each source field
//!   becomes an event column;
//! * [`values`]: the typed conversions a mapping can ask for: `time` (timestamps with time
//!   zones) and `odds` (fractional odds, scores);
//! * [`csv`]: a strict CSV splitter (one record per line, or records spanning lines with
//!   a mapping's `csv.multiline`, found by its record scanner); [`lines`]: bounded line
//!   reading with gzip detection, blocks of lines or records; `json` (private): the serde
//!   projection of an NDJSON line onto the fields a mapping reads; [`record`]: one row
//!   through a bound mapping → an event or a rejection;
//! * [`dedup`]: duplicate event ids within an object, in bounded memory; its `late`
//!   submodule: the late-duplicate pass over the files of an object that spilled;
//! * [`output`]: `columns` (the events column by column, as Arrow wants them), `parquet`
//!   (the Parquet events writer) and `quarantine` (the quarantine writer);
//! * [`object`]: one whole raw object, streamed, into a staged file and a quarantine file.

pub mod csv;
pub mod dedup;
mod json;
pub mod lines;
pub mod mapping;
pub mod object;
pub mod output;
pub mod record;
pub mod values;

/// Why a row was quarantined: the `reason` of a quarantine line and the suffix of the
/// result's `quarantined_<reason>` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// CSV: a quote where none may be, an unterminated quoted field.
    BadQuoting,
    /// NDJSON: the line is not a JSON object.
    BadJson,
    /// CSV: not as many fields as the header.
    WrongFieldCount,
    /// A value that does not parse as the column's type.
    WrongType,
    /// A required value (or one the event id needs) is absent or empty.
    MissingField,
    /// The line is not UTF-8.
    InvalidUtf8,
    /// A timestamp outside the mapping's valid window.
    TimestampOutOfRange,
    /// An event id already seen earlier in the same object (the first one is kept).
    DuplicateKey,
    /// An event type the mapping does not know.
    UnknownEnum,
    /// A line longer than the reader's limit.
    LineTooLong,
}

impl Reason {
    /// Every reason, in the order counts are reported.
    pub const ALL: [Self; 10] = [
        Self::BadQuoting,
        Self::BadJson,
        Self::WrongFieldCount,
        Self::WrongType,
        Self::MissingField,
        Self::InvalidUtf8,
        Self::TimestampOutOfRange,
        Self::DuplicateKey,
        Self::UnknownEnum,
        Self::LineTooLong,
    ];

    /// The machine-readable name.
    ///
    /// ```
    /// use rstask::transform::Reason;
    /// assert_eq!(Reason::TimestampOutOfRange.as_str(), "timestamp_out_of_range");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadQuoting => "bad_quoting",
            Self::BadJson => "bad_json",
            Self::WrongFieldCount => "wrong_field_count",
            Self::WrongType => "wrong_type",
            Self::MissingField => "missing_field",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::TimestampOutOfRange => "timestamp_out_of_range",
            Self::DuplicateKey => "duplicate_key",
            Self::UnknownEnum => "unknown_enum",
            Self::LineTooLong => "line_too_long",
        }
    }

    /// The reason with this name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Position in [`Reason::ALL`], for per-reason counters.
    #[must_use]
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// A rejected row: why, and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The machine-readable reason.
    pub reason: Reason,
    /// What exactly was wrong (field, value, expectation).
    pub detail: String,
}

impl Reject {
    /// A rejection.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// One normalised event: a row of the staged Parquet object (`docs/staged-format.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique within the object (and, by the mapping's template, across the provider).
    pub event_id: String,
    /// The provider (from the raw key and the mapping).
    pub provider: String,
    /// The match the event belongs to.
    pub match_id: String,
    /// A canonical event type ([`mapping::EVENT_TYPES`]).
    pub event_type: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
    /// Team name.
    pub team: Option<String>,
    /// Player name.
    pub player: Option<String>,
    /// Decimal odds: home, draw, away.
    pub odds: [Option<f64>; 3],
    /// Score: home, away.
    pub score: [Option<u16>; 2],
    /// 1-based line number in the (decompressed) raw object.
    pub source_line: u64,
}
