//! Typed conversions a mapping can ask for: timestamps (formats, time zones with DST,
//! epoch values), odds (decimal or fractional) and scores.
//!
//! * `time`: timestamp formats, time zones, the fast path for simple patterns;
//! * `odds`: odds and scores.
//!
//! Both are private; their items are re-exported here, so `values::TimeFormat` and
//! `values::OddsFormat` are the paths to use.

mod odds;
mod time;

pub use odds::{OddsFormat, decimal_odds, parse_score, score_of_number};
pub use time::{FastPattern, TimeFormat, Zone, ZoneCache, rfc3339};
