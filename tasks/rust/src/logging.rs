//! JSON log lines on stderr, through `tracing`.
//!
//! [`JsonLayer`] is a `tracing_subscriber` layer that renders every event as one JSON
//! object per line with the contract's keys first (`ts`, `level`, `msg`, `tool`) and the
//! event's fields after them. Commands log with the ordinary macros:
//!
//! ```ignore
//! tracing::info!(table = %name, rows, "table copied");
//! ```
//!
//! [`crate::run`] installs the subscriber for the duration of one run (scoped, not global),
//! so parallel in-process tests each see their own lines.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::TOOL;
use crate::config::LogLevel;

/// Keys every line has; event fields with these names are dropped.
pub const RESERVED: [&str; 4] = ["ts", "level", "msg", "tool"];

/// Where lines go: shared, so the layer and the caller can both hold it.
pub type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Wraps a writer as a [`Sink`].
#[must_use]
pub fn sink(writer: Box<dyn Write + Send>) -> Sink {
    Arc::new(Mutex::new(writer))
}

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// RFC 3339 UTC timestamp with milliseconds.
///
/// ```
/// use rstask::logging::rfc3339_millis;
/// assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(rfc3339_millis(1_795_415_850_123), "2026-11-23T06:37:30.123Z");
/// assert_eq!(rfc3339_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
/// ```
#[must_use]
pub fn rfc3339_millis(millis: i64) -> String {
    let (secs, ms) = (millis.div_euclid(1000), millis.rem_euclid(1000));
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    )
}

// Howard Hinnant's days-since-epoch to proleptic Gregorian date.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Renders one line: the contract keys, then `fields` minus reserved names, then `\n`.
///
/// ```
/// use serde_json::{Map, json};
/// let mut fields = Map::new();
/// fields.insert("rows".into(), json!(3));
/// fields.insert("tool".into(), json!("impostor"));
/// assert_eq!(
///     rstask::logging::render_line("info", "copied", fields, 0),
///     "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"info\",\"msg\":\"copied\",\"tool\":\"rstask\",\"rows\":3}\n"
/// );
/// ```
#[must_use]
pub fn render_line(level: &str, msg: &str, fields: Map<String, Value>, millis: i64) -> String {
    let mut line = Map::new();
    line.insert("ts".into(), rfc3339_millis(millis).into());
    line.insert("level".into(), level.into());
    line.insert("msg".into(), msg.into());
    line.insert("tool".into(), TOOL.into());
    for (key, value) in fields {
        if !RESERVED.contains(&key.as_str()) {
            line.entry(key).or_insert(value);
        }
    }
    let mut text = Value::Object(line).to_string();
    text.push('\n');
    text
}

const fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

const fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    }
}

/// Collects an event's message and fields as JSON values.
#[derive(Default)]
struct Fields {
    message: String,
    fields: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// The layer writing JSON lines to a [`Sink`]. Span data is not recorded: tasks log flat
/// events with their fields.
pub struct JsonLayer {
    sink: Sink,
}

impl<S: Subscriber> Layer<S> for JsonLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = render_line(
            level_name(*event.metadata().level()),
            &fields.message,
            fields.fields,
            now_millis(),
        );
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        // Logging must never fail a task; a closed stderr loses lines, nothing else.
        let _ = sink.write_all(line.as_bytes()).and_then(|()| sink.flush());
    }
}

/// A subscriber writing lines at `level` and above to `sink`.
pub fn subscriber(level: LogLevel, sink: Sink) -> impl Subscriber + Send + Sync {
    tracing_subscriber::registry().with(JsonLayer { sink }.with_filter(level_filter(level)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Buf;

    fn lines(buf: &Buf) -> Vec<Value> {
        buf.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn events_become_json_lines_with_the_contract_keys() {
        let buf = Buf::default();
        let subscriber = subscriber(LogLevel::Info, sink(Box::new(buf.clone())));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("hidden");
            tracing::info!(table = "events", rows = 3_u64, ok = true, "table copied");
            tracing::warn!(level = "shadowed", "odd");
        });
        let lines = lines(&buf);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let keys: Vec<&str> = lines[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["ts", "level", "msg", "tool", "table", "rows", "ok"]);
        assert_eq!(lines[0]["msg"], "table copied");
        assert_eq!(lines[0]["rows"], 3);
        assert_eq!(lines[1]["level"], "warn");
    }

    #[test]
    fn timestamps_match_the_contract_format() {
        let ts = rfc3339_millis(now_millis());
        assert_eq!(ts.len(), "2026-11-23T06:37:30.123Z".len());
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    }
}
