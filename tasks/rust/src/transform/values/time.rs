//! Timestamps: formats (epoch values, RFC 3339, `strftime` patterns), time zones with their
//! DST rules, and the fast path for simple patterns with its per-hour offset cache.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// A time zone for timestamps written without an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// UTC.
    Utc,
    /// A fixed offset such as `+02:00`.
    Fixed(FixedOffset),
    /// An IANA zone with its DST rules, such as `Europe/London`.
    Named(Tz),
}

impl Zone {
    /// Parses `UTC`/`Z`, a fixed offset (`+02:00`, `-0530`) or an IANA name.
    ///
    /// # Errors
    /// A message naming the value when it is none of these.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("utc") || text == "Z" {
            return Ok(Self::Utc);
        }
        if text.starts_with(['+', '-']) {
            return parse_offset(text)
                .map(Self::Fixed)
                .ok_or_else(|| format!("expected an offset like +02:00, got: {text:?}"));
        }
        text.parse::<Tz>()
            .map(Self::Named)
            .map_err(|_| format!("expected a time zone name like Europe/London, got: {text:?}"))
    }

    /// The UTC instant of a local wall-clock time. An ambiguous time (the hour repeated when
    /// DST ends) resolves to the earlier instant; a time that does not exist (skipped when
    /// DST starts) is an error.
    ///
    /// # Errors
    /// A message when the local time does not exist in this zone.
    pub fn to_utc_millis(self, local: &NaiveDateTime) -> Result<i64, String> {
        let resolved = match self {
            Self::Utc => return Ok(local.and_utc().timestamp_millis()),
            Self::Fixed(offset) => map_local(offset.from_local_datetime(local)),
            Self::Named(tz) => map_local(tz.from_local_datetime(local)),
        };
        resolved.ok_or_else(|| format!("local time {local} does not exist in {self} (DST gap)"))
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Utc => f.write_str("UTC"),
            Self::Fixed(offset) => write!(f, "{offset}"),
            Self::Named(tz) => f.write_str(tz.name()),
        }
    }
}

fn map_local<T: TimeZone>(result: LocalResult<DateTime<T>>) -> Option<i64> {
    match result {
        LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => Some(dt.timestamp_millis()),
        LocalResult::None => None,
    }
}

fn parse_offset(text: &str) -> Option<FixedOffset> {
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let digits: String = text[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// The instant a `strftime` pattern must read back (2026-11-21T12:00:00Z: a whole minute
/// outside every DST change).
const READ_BACK_MILLIS: i64 = 1_795_262_400_000;

/// The offset RFC 3339 timestamps are written with by the generator (+01:00).
const CET: FixedOffset = match FixedOffset::east_opt(3600) {
    Some(offset) => offset,
    None => panic!("valid offset"),
};

/// How a provider writes timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// Milliseconds since the epoch (a JSON integer or a string of digits).
    EpochMillis,
    /// Seconds since the epoch.
    EpochSeconds,
    /// RFC 3339 with an offset (`2026-11-23T15:04:05.123+01:00`).
    Rfc3339,
    /// A `strftime` pattern; with a zone, the text is local time in that zone, without one
    /// the pattern must contain the offset (`%z`).
    Pattern {
        /// The chrono format string.
        pattern: String,
        /// The zone of offset-less local times.
        zone: Option<Zone>,
    },
}

impl TimeFormat {
    /// From a mapping's `timestamp` and `timezone` keys.
    ///
    /// # Errors
    /// A message when the zone is unknown or given where it means nothing.
    pub fn parse(format: &str, timezone: Option<&str>) -> Result<Self, String> {
        let zone = timezone.map(Zone::parse).transpose()?;
        let fixed = match format {
            "epoch_millis" => Some(Self::EpochMillis),
            "epoch_seconds" => Some(Self::EpochSeconds),
            "rfc3339" => Some(Self::Rfc3339),
            _ => None,
        };
        if let Some(fixed) = fixed {
            if zone.is_some() {
                return Err(format!("timezone means nothing for timestamp = {format:?}"));
            }
            return Ok(fixed);
        }
        if !format.contains('%') {
            return Err(format!(
                "expected timestamp to be epoch_millis, epoch_seconds, rfc3339 or a strftime pattern, got: {format:?}"
            ));
        }
        if zone.is_none() && !format.contains("%z") && !format.contains("%:z") {
            return Err(format!(
                "timestamp pattern {format:?} has no offset (%z): give a timezone"
            ));
        }
        if StrftimeItems::new(format).any(|item| item == Item::Error) {
            return Err(format!(
                "expected timestamp to be a strftime pattern chrono knows, got: {format:?} (an unknown or incomplete %-specifier)"
            ));
        }
        let time = Self::Pattern {
            pattern: format.to_owned(),
            zone,
        };
        time.reads_back()?;
        Ok(time)
    }

    /// Whether the pattern reads back the time it writes ([`READ_BACK_MILLIS`]): one
    /// without a whole date or time of day (`%d/%m %H:%M`, `%I` without `%p`) would reject
    /// every row of a feed as `wrong_type`.
    fn reads_back(&self) -> Result<(), String> {
        let Self::Pattern { pattern, .. } = self else {
            return Ok(());
        };
        let written = self.format(READ_BACK_MILLIS);
        match self.parse_text(&written) {
            Ok(millis) if millis == READ_BACK_MILLIS => Ok(()),
            Ok(millis) => Err(format!(
                "timestamp pattern {pattern:?} reads {written:?}, written for {}, back as {}",
                rfc3339(READ_BACK_MILLIS),
                rfc3339(millis)
            )),
            Err(e) => Err(format!(
                "timestamp pattern {pattern:?} cannot read back the times it writes, so every row would be wrong_type: it needs a whole date and a time of day ({e})"
            )),
        }
    }

    /// Whether this format takes integers (epoch values).
    #[must_use]
    pub const fn is_epoch(&self) -> bool {
        matches!(self, Self::EpochMillis | Self::EpochSeconds)
    }

    /// Milliseconds since the epoch of an epoch value.
    ///
    /// # Errors
    /// When the value overflows.
    pub fn from_epoch(&self, value: i64) -> Result<i64, String> {
        match self {
            Self::EpochSeconds => value
                .checked_mul(1000)
                .ok_or_else(|| format!("epoch seconds {value} overflow")),
            _ => Ok(value),
        }
    }

    /// Milliseconds since the epoch of a timestamp written as text.
    ///
    /// # Errors
    /// A message saying what was expected.
    pub fn parse_text(&self, text: &str) -> Result<i64, String> {
        match self {
            Self::EpochMillis | Self::EpochSeconds => {
                let value: i64 = text
                    .parse()
                    .map_err(|_| format!("expected an epoch integer, got: {text:?}"))?;
                self.from_epoch(value)
            }
            Self::Rfc3339 => DateTime::parse_from_rfc3339(text)
                .map(|dt| dt.timestamp_millis())
                .map_err(|e| format!("expected an RFC 3339 timestamp, got: {text:?} ({e})")),
            Self::Pattern {
                pattern,
                zone: Some(zone),
            } => {
                let local = NaiveDateTime::parse_from_str(text, pattern).map_err(|e| {
                    format!("expected a time like {pattern:?}, got: {text:?} ({e})")
                })?;
                zone.to_utc_millis(&local)
            }
            Self::Pattern {
                pattern,
                zone: None,
            } => DateTime::parse_from_str(text, pattern)
                .map(|dt| dt.timestamp_millis())
                .map_err(|e| format!("expected a time like {pattern:?}, got: {text:?} ({e})")),
        }
    }

    /// Formats UTC milliseconds the way this format writes them (the generator's inverse).
    #[must_use]
    pub fn format(&self, millis: i64) -> String {
        let utc = DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or_default();
        match self {
            Self::EpochMillis => millis.to_string(),
            Self::EpochSeconds => millis.div_euclid(1000).to_string(),
            Self::Rfc3339 => utc
                .with_timezone(&CET)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            Self::Pattern { pattern, zone } => match zone {
                None | Some(Zone::Utc) => utc.format(pattern).to_string(),
                Some(Zone::Fixed(offset)) => utc.with_timezone(offset).format(pattern).to_string(),
                Some(Zone::Named(tz)) => utc.with_timezone(tz).format(pattern).to_string(),
            },
        }
    }
}

/// A `strftime` pattern made only of `%Y %m %d %H %M %S` (each once) and literal bytes,
/// compiled for a strict fast path: fixed-width digits, exact literals. Text it does not
/// take exactly (other widths, out-of-range values, leap seconds…) goes to chrono, so the
/// result is always chrono's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastPattern {
    items: Vec<FastItem>,
    len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FastItem {
    Literal(u8),
    /// Which field (0 year, 1 month, 2 day, 3 hour, 4 minute, 5 second) and its digits.
    Number(usize, usize),
}

impl FastPattern {
    /// Compiles `pattern`, if it is of the simple kind.
    #[must_use]
    pub fn compile(pattern: &str) -> Option<Self> {
        let mut items = Vec::new();
        let mut seen = [false; 6];
        let mut bytes = pattern.bytes();
        while let Some(b) = bytes.next() {
            if b != b'%' {
                // a pattern space matches any whitespace in chrono, so the exact byte
                // (all the fast path takes) too
                if !b.is_ascii() {
                    return None;
                }
                items.push(FastItem::Literal(b));
                continue;
            }
            let (field, width) = match bytes.next()? {
                b'Y' => (0, 4),
                b'm' => (1, 2),
                b'd' => (2, 2),
                b'H' => (3, 2),
                b'M' => (4, 2),
                b'S' => (5, 2),
                _ => return None,
            };
            if std::mem::replace(&mut seen[field], true) {
                return None;
            }
            items.push(FastItem::Number(field, width));
        }
        if !seen.iter().all(|s| *s) {
            return None;
        }
        let len = items
            .iter()
            .map(|i| match i {
                FastItem::Literal(_) => 1,
                FastItem::Number(_, width) => *width,
            })
            .sum();
        Some(Self { items, len })
    }

    /// Seconds since the epoch of the local time written in `text`, read as if UTC;
    /// `None` when the text is not exactly of the pattern's form or not a valid time.
    #[must_use]
    pub fn local_seconds(&self, text: &str) -> Option<i64> {
        let bytes = text.as_bytes();
        if bytes.len() != self.len {
            return None;
        }
        let mut fields = [0_u32; 6];
        let mut pos = 0;
        for item in &self.items {
            match *item {
                FastItem::Literal(b) => {
                    if bytes[pos] != b {
                        return None;
                    }
                    pos += 1;
                }
                FastItem::Number(field, width) => {
                    let mut value = 0;
                    for &digit in &bytes[pos..pos + width] {
                        if !digit.is_ascii_digit() {
                            return None;
                        }
                        value = value * 10 + u32::from(digit - b'0');
                    }
                    fields[field] = value;
                    pos += width;
                }
            }
        }
        let [year, month, day, hour, minute, second] = fields;
        let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
        let time = chrono::NaiveTime::from_hms_opt(hour, minute, second)?;
        Some(date.and_time(time).and_utc().timestamp())
    }
}

/// The UTC offsets of a named zone by local hour, for [`TimeFormat::parse_text_fast`]:
/// an hour is cached only when the zone resolves its first and last second alike (one
/// offset, the same ambiguity, or both in a gap), i.e. no transition inside the hour.
#[derive(Debug, Clone)]
pub struct ZoneCache {
    slots: Vec<(i64, HourOffset)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HourOffset {
    Unknown,
    /// The offset (seconds east of UTC) of the instant chosen for every time in the hour.
    Offset(i32),
    /// Not cacheable (a gap, or a transition inside the hour): ask chrono.
    Slow,
}

impl Default for ZoneCache {
    fn default() -> Self {
        Self {
            slots: vec![(i64::MIN, HourOffset::Unknown); 64],
        }
    }
}

impl ZoneCache {
    fn offset(&mut self, tz: Tz, local_seconds: i64) -> Option<i32> {
        let hour = local_seconds.div_euclid(3600);
        let slot = usize::try_from(hour.rem_euclid(64)).unwrap_or(0);
        let (key, cached) = self.slots[slot];
        if key == hour && cached != HourOffset::Unknown {
            return match cached {
                HourOffset::Offset(offset) => Some(offset),
                _ => None,
            };
        }
        let resolve = |secs: i64| {
            let local = DateTime::from_timestamp(secs, 0)?.naive_utc();
            match tz.from_local_datetime(&local) {
                LocalResult::Single(dt) => Some((1, dt.offset().fix().local_minus_utc(), 0)),
                LocalResult::Ambiguous(early, late) => Some((
                    2,
                    early.offset().fix().local_minus_utc(),
                    late.offset().fix().local_minus_utc(),
                )),
                LocalResult::None => Some((0, 0, 0)),
            }
        };
        let first = resolve(hour * 3600);
        let last = resolve(hour * 3600 + 3599);
        let value = match (first, last) {
            (Some(a), Some(b)) if a == b && a.0 != 0 => HourOffset::Offset(a.1),
            _ => HourOffset::Slow,
        };
        self.slots[slot] = (hour, value);
        match value {
            HourOffset::Offset(offset) => Some(offset),
            _ => None,
        }
    }
}

impl TimeFormat {
    /// The fast path of this format, if it has one (a simple pattern with a zone).
    #[must_use]
    pub fn fast_pattern(&self) -> Option<FastPattern> {
        match self {
            Self::Pattern {
                pattern,
                zone: Some(_),
            } => FastPattern::compile(pattern),
            _ => None,
        }
    }

    /// [`TimeFormat::parse_text`], faster: `fast` is [`TimeFormat::fast_pattern`]'s
    /// result, `cache` the caller's. Same result as `parse_text` for every text.
    ///
    /// # Errors
    /// As [`TimeFormat::parse_text`].
    pub fn parse_text_fast(
        &self,
        fast: Option<&FastPattern>,
        cache: &mut ZoneCache,
        text: &str,
    ) -> Result<i64, String> {
        if let (
            Some(fast),
            Self::Pattern {
                zone: Some(zone), ..
            },
        ) = (fast, self)
            && let Some(local) = fast.local_seconds(text)
        {
            let offset = match zone {
                Zone::Utc => Some(0),
                Zone::Fixed(offset) => Some(offset.local_minus_utc()),
                Zone::Named(tz) => cache.offset(*tz, local),
            };
            if let Some(offset) = offset
                && let Some(millis) = (local - i64::from(offset)).checked_mul(1000)
            {
                return Ok(millis);
            }
        }
        self.parse_text(text)
    }
}

/// RFC 3339 text (UTC, milliseconds) of epoch milliseconds, for messages and defaults.
#[must_use]
pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis).map_or_else(
        || millis.to_string(),
        |dt| dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn london_local_time_follows_dst() {
        let f = TimeFormat::parse("%d/%m/%Y %H:%M:%S", Some("Europe/London")).unwrap();
        // winter: GMT = UTC
        assert_eq!(
            f.parse_text("23/11/2026 15:00:00"),
            Ok(ms("2026-11-23T15:00:00Z"))
        );
        // summer: BST = UTC+1
        assert_eq!(
            f.parse_text("01/07/2026 15:00:00"),
            Ok(ms("2026-07-01T14:00:00Z"))
        );
        // the hour repeated on 25 Oct 2026 resolves to the first (BST) instant
        assert_eq!(
            f.parse_text("25/10/2026 01:30:00"),
            Ok(ms("2026-10-25T00:30:00Z"))
        );
        // the hour skipped on 29 Mar 2026 does not exist
        let gap = f.parse_text("29/03/2026 01:30:00").unwrap_err();
        assert!(gap.contains("DST gap"), "{gap}");
        assert!(f.parse_text("2026-11-23 15:00").is_err());
    }

    #[test]
    fn fixed_offsets_utc_and_unknown_zones() {
        let f = TimeFormat::parse("%Y-%m-%d %H:%M", Some("+05:30")).unwrap();
        assert_eq!(
            f.parse_text("2026-11-23 15:00"),
            Ok(ms("2026-11-23T09:30:00Z"))
        );
        let f = TimeFormat::parse("%Y-%m-%d %H:%M", Some("UTC")).unwrap();
        assert_eq!(
            f.parse_text("2026-11-23 15:00"),
            Ok(ms("2026-11-23T15:00:00Z"))
        );
        assert!(TimeFormat::parse("%Y", Some("Mars/Olympus")).is_err());
        assert!(
            TimeFormat::parse("%Y-%m-%d", None).is_err(),
            "no offset, no zone"
        );
        assert!(TimeFormat::parse("epoch_millis", Some("UTC")).is_err());
        assert!(TimeFormat::parse("yyyy-mm-dd", None).is_err());
    }

    #[test]
    fn patterns_must_be_known_and_read_back_what_they_write() {
        for (pattern, needle) in [
            ("%d/%m/%Y %H:%M:%Q", "unknown or incomplete %-specifier"),
            ("%d/%m/%Y %H:%M:%", "unknown or incomplete %-specifier"),
            ("%d/%m/%Y", "needs a whole date and a time of day"),
            ("%H:%M:%S", "needs a whole date and a time of day"),
            ("%d/%m %H:%M", "needs a whole date and a time of day"),
            ("%Y-%m-%d %I:%M", "cannot read back"),
        ] {
            let error = TimeFormat::parse(pattern, Some("Europe/Berlin")).unwrap_err();
            assert!(error.contains(needle), "{pattern}: {error}");
            assert!(
                error.contains(&format!("{pattern:?}")),
                "{pattern}: {error}"
            );
        }
        // minutes only, 2-digit years, 12-hour clocks: whole minutes read back
        for pattern in ["%d.%m.%Y %H:%M", "%d/%m/%y %I:%M %p", "%Y%m%dT%H%M%S"] {
            let time = TimeFormat::parse(pattern, Some("America/New_York")).unwrap();
            assert_eq!(
                time.parse_text(&time.format(READ_BACK_MILLIS)),
                Ok(READ_BACK_MILLIS)
            );
        }
    }

    #[test]
    fn rfc3339_and_epochs() {
        let f = TimeFormat::Rfc3339;
        assert_eq!(
            f.parse_text("2026-11-23T15:04:05.123+01:00"),
            Ok(ms("2026-11-23T14:04:05.123Z"))
        );
        assert!(f.parse_text("2026-11-23 15:04:05").is_err());
        assert_eq!(
            TimeFormat::EpochMillis.parse_text("1795446245123"),
            Ok(1_795_446_245_123)
        );
        assert_eq!(
            TimeFormat::EpochSeconds.parse_text("1795446245"),
            Ok(1_795_446_245_000)
        );
        assert!(TimeFormat::EpochMillis.parse_text("12.5").is_err());
        assert!(TimeFormat::EpochSeconds.from_epoch(i64::MAX).is_err());
    }

    #[test]
    fn format_is_the_inverse_of_parse() {
        let millis = ms("2026-07-01T14:00:05Z");
        for format in [
            TimeFormat::EpochMillis,
            TimeFormat::Rfc3339,
            TimeFormat::parse("%d/%m/%Y %H:%M:%S", Some("Europe/London")).unwrap(),
            TimeFormat::parse("%Y-%m-%dT%H:%M:%S%z", None).unwrap(),
        ] {
            assert_eq!(
                format.parse_text(&format.format(millis)),
                Ok(millis),
                "{format:?}"
            );
        }
    }

    /// The fast path gives chrono's answer (value or message) for well-formed, malformed
    /// and out-of-range text, in DST-changing, fixed and UTC zones.
    #[test]
    fn fast_path_agrees_with_chrono() {
        let formats = [
            TimeFormat::parse("%d/%m/%Y %H:%M:%S", Some("Europe/London")).unwrap(),
            TimeFormat::parse("%Y-%m-%dT%H:%M:%S", Some("America/New_York")).unwrap(),
            TimeFormat::parse("%Y-%m-%d %H:%M:%S", Some("Australia/Lord_Howe")).unwrap(),
            TimeFormat::parse("%Y%m%d%H%M%S", Some("+05:30")).unwrap(),
            TimeFormat::parse("%d.%m.%Y %H:%M:%S", Some("UTC")).unwrap(),
        ];
        assert!(formats.iter().all(|f| f.fast_pattern().is_some()));
        assert!(
            TimeFormat::parse("%d/%m/%y %H:%M", Some("UTC"))
                .unwrap()
                .fast_pattern()
                .is_none()
        );
        let mut seed = 0x1234_5678_u64;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for format in &formats {
            let fast = format.fast_pattern();
            let mut cache = ZoneCache::default();
            for i in 0..20_000 {
                // around DST changes, and anywhere
                let base = if i % 2 == 0 {
                    1_774_746_000
                } else {
                    1_792_890_000
                };
                let secs = i64::try_from(if i % 3 == 0 {
                    next(4_000_000_000)
                } else {
                    next(4 * 86_400)
                })
                .unwrap()
                    + if i % 3 == 0 { 0 } else { base - 2 * 86_400 };
                let mut text = format.format(secs * 1000);
                if i % 7 == 0 {
                    // damage it: a digit, a separator, a length, a value out of range
                    let mut bytes = text.into_bytes();
                    let at = usize::try_from(next(bytes.len() as u64)).unwrap();
                    match next(4) {
                        0 => bytes[at] = b'9',
                        1 => bytes[at] = b' ',
                        2 => {
                            bytes.remove(at);
                        }
                        _ => bytes.insert(at, b'1'),
                    }
                    text = String::from_utf8(bytes).unwrap();
                }
                assert_eq!(
                    format.parse_text_fast(fast.as_ref(), &mut cache, &text),
                    format.parse_text(&text),
                    "{format:?} {text:?}"
                );
            }
        }
    }
}
