//! Provider mappings as data: one TOML file per provider, `mappings/<provider>.toml`.
//!
//! The files in the repository's `mappings/` directory are embedded in the binary; a
//! directory given with `--mappings-dir` adds providers or replaces embedded ones. Adding a
//! provider is adding a file; see the crate README for the format.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::csv::Dialect;
use super::values::{OddsFormat, TimeFormat};

/// The canonical event types every provider's values are normalised to.
pub const EVENT_TYPES: [&str; 8] = [
    "kickoff",
    "goal",
    "card",
    "substitution",
    "odds",
    "half_time",
    "full_time",
    "penalty",
];

/// The mappings shipped in the binary: `(provider, TOML text)`, sorted by provider — every
/// `mappings/<provider>.toml`, listed by `build.rs` (a new file needs no edit here).
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/mappings.rs"));

/// Default valid window of `occurred_at`: `[2000-01-01, 2100-01-01)` UTC.
pub const DEFAULT_VALID_FROM: &str = "2000-01-01T00:00:00Z";
/// See [`DEFAULT_VALID_FROM`].
pub const DEFAULT_VALID_UNTIL: &str = "2100-01-01T00:00:00Z";

/// A mapping file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    provider: String,
    format: FormatName,
    #[serde(default)]
    csv: Option<CsvSection>,
    event_id: String,
    #[serde(default)]
    valid_from: Option<String>,
    #[serde(default)]
    valid_until: Option<String>,
    columns: Columns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FormatName {
    Csv,
    Ndjson,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvSection {
    #[serde(default = "comma")]
    delimiter: String,
    #[serde(default = "double_quote")]
    quote: String,
    #[serde(default = "yes")]
    header: bool,
    #[serde(default)]
    columns: Vec<String>,
    // read as any TOML value, so a wrong one is reported by name (see `flag`, `bytes`)
    #[serde(default)]
    multiline: Option<toml::Value>,
    #[serde(default)]
    max_record_bytes: Option<toml::Value>,
    #[serde(default)]
    trim: Option<toml::Value>,
}

impl Default for CsvSection {
    fn default() -> Self {
        Self {
            delimiter: comma(),
            quote: double_quote(),
            header: true,
            columns: Vec::new(),
            multiline: None,
            max_record_bytes: None,
            trim: None,
        }
    }
}

/// Default `csv.max_record_bytes`: the longest record spanning lines.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024;
/// Largest `csv.max_record_bytes` (the line limit: no record outgrows a line).
pub const MAX_RECORD_BYTES: usize = super::object::MAX_LINE_BYTES;

fn comma() -> String {
    ",".to_owned()
}
fn double_quote() -> String {
    "\"".to_owned()
}
const fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Columns {
    match_id: FieldFile,
    event_type: FieldFile,
    occurred_at: FieldFile,
    team: Option<FieldFile>,
    player: Option<FieldFile>,
    odds_home: Option<FieldFile>,
    odds_draw: Option<FieldFile>,
    odds_away: Option<FieldFile>,
    score_home: Option<FieldFile>,
    score_away: Option<FieldFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    source: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    values: Option<BTreeMap<String, String>>,
    #[serde(default)]
    case_insensitive: bool,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    odds: Option<OddsFormat>,
}

/// The event columns a mapping fills (all but `event_id`, `provider`, `source_line`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Column {
    /// `match_id`, required.
    MatchId,
    /// `event_type`, required, an enum.
    EventType,
    /// `occurred_at`, required, a timestamp.
    OccurredAt,
    /// `team`.
    Team,
    /// `player`.
    Player,
    /// `odds_home`.
    OddsHome,
    /// `odds_draw`.
    OddsDraw,
    /// `odds_away`.
    OddsAway,
    /// `score_home`.
    ScoreHome,
    /// `score_away`.
    ScoreAway,
}

impl Column {
    /// The event column's name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::MatchId => "match_id",
            Self::EventType => "event_type",
            Self::OccurredAt => "occurred_at",
            Self::Team => "team",
            Self::Player => "player",
            Self::OddsHome => "odds_home",
            Self::OddsDraw => "odds_draw",
            Self::OddsAway => "odds_away",
            Self::ScoreHome => "score_home",
            Self::ScoreAway => "score_away",
        }
    }

    /// Whether the event column is not nullable (so the value is always required).
    #[must_use]
    pub const fn always_required(self) -> bool {
        matches!(self, Self::MatchId | Self::EventType | Self::OccurredAt)
    }
}

/// How a column's source value is converted.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Kept as text (numbers are written as they are).
    Text,
    /// Looked up in the provider's values → canonical event type.
    Enum {
        /// Provider value (lower-cased when case-insensitive) → canonical value.
        values: HashMap<String, String>,
        /// Whether lookups ignore ASCII case.
        case_insensitive: bool,
        /// The values as written in the mapping, sorted (the generator's inverse).
        pairs: Vec<(String, String)>,
    },
    /// A timestamp.
    Time(TimeFormat),
    /// Odds, converted to decimal.
    Odds(OddsFormat),
    /// A score (`UInt16`).
    Score,
}

/// Where a column's value comes from and how it is converted.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// Which event column.
    pub column: Column,
    /// The source field: a CSV header name, or a dotted JSON path (`fixture.id`).
    pub source: String,
    /// An empty or absent value rejects the row (always, for non-nullable columns).
    pub required: bool,
    /// The conversion.
    pub kind: Kind,
}

/// One piece of the event id template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// `{provider}`.
    Provider,
    /// `{field}`: a source field, as text.
    Field(String),
}

/// The record format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Records of fields split by [`Dialect`]: one per line, or, with `multiline`, spanning
    /// lines inside quoted fields.
    Csv {
        /// Delimiter, quote, trimming.
        dialect: Dialect,
        /// Quoted fields may hold line breaks (RFC 4180), within `max_record_bytes`.
        multiline: bool,
        /// Longest record spanning lines, bytes (meaningful with `multiline`).
        max_record_bytes: usize,
        /// Whether the first line names the fields.
        header: bool,
        /// The field names, in file order: required without a header; with one, the order
        /// the generator writes (default: the order fields appear in the mapping).
        columns: Vec<String>,
    },
    /// One JSON object per line.
    Ndjson,
}

/// A provider mapping, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The provider (`raw/<provider>/…`).
    pub provider: String,
    /// CSV or NDJSON.
    pub format: Format,
    /// The event id template.
    pub event_id: Vec<Part>,
    /// Earliest valid `occurred_at` (epoch ms, inclusive).
    pub valid_from: i64,
    /// Latest valid `occurred_at` (epoch ms, exclusive).
    pub valid_until: i64,
    /// The columns, in event-column order.
    pub columns: Vec<ColumnSpec>,
}

impl Mapping {
    /// Parses and validates a mapping file; `expected` is the provider its name implies.
    ///
    /// # Errors
    /// A message naming the problem (TOML syntax, unknown key, bad value).
    pub fn parse(text: &str, expected: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        if file.provider != expected {
            return Err(format!(
                "provider {:?} does not match the file name ({expected:?})",
                file.provider
            ));
        }
        if !valid_provider(&file.provider) {
            return Err(format!(
                "expected provider to be lower-case letters, digits, '_' or '-', got: {:?}",
                file.provider
            ));
        }
        let format = match file.format {
            FormatName::Ndjson => {
                if file.csv.is_some() {
                    return Err("a [csv] section means nothing for format = \"ndjson\"".into());
                }
                Format::Ndjson
            }
            FormatName::Csv => csv_format(file.csv.unwrap_or_default())?,
        };
        let valid_from = window(file.valid_from.as_deref(), DEFAULT_VALID_FROM, "valid_from")?;
        let valid_until = window(
            file.valid_until.as_deref(),
            DEFAULT_VALID_UNTIL,
            "valid_until",
        )?;
        if valid_from >= valid_until {
            return Err("valid_from must be before valid_until".into());
        }
        let c = file.columns;
        let declared = [
            (Column::MatchId, Some(c.match_id)),
            (Column::EventType, Some(c.event_type)),
            (Column::OccurredAt, Some(c.occurred_at)),
            (Column::Team, c.team),
            (Column::Player, c.player),
            (Column::OddsHome, c.odds_home),
            (Column::OddsDraw, c.odds_draw),
            (Column::OddsAway, c.odds_away),
            (Column::ScoreHome, c.score_home),
            (Column::ScoreAway, c.score_away),
        ];
        let mut columns = Vec::new();
        for (column, field) in declared {
            if let Some(field) = field {
                columns.push(
                    column_spec(column, field)
                        .map_err(|e| format!("columns.{}: {e}", column.name()))?,
                );
            }
        }
        let event_id = template(&file.event_id)?;
        let mapping = Self {
            provider: file.provider,
            format,
            event_id,
            valid_from,
            valid_until,
            columns,
        };
        if let Format::Csv { columns: names, .. } = &mapping.format {
            for source in mapping.sources().into_iter().filter(|_| !names.is_empty()) {
                if !names.contains(&source) {
                    return Err(format!("field {source:?} is not one of csv.columns"));
                }
            }
        }
        Ok(mapping)
    }

    /// Every source field the mapping reads (columns first, then the id template's own),
    /// each once, in that order.
    #[must_use]
    pub fn sources(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let from_columns = self.columns.iter().map(|c| c.source.clone());
        let from_id = self.event_id.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f.clone()),
            _ => None,
        });
        for source in from_columns.chain(from_id) {
            if seen.insert(source.clone()) {
                out.push(source);
            }
        }
        out
    }

    /// The spec of one column, if mapped.
    #[must_use]
    pub fn column(&self, column: Column) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.column == column)
    }
}

/// The `[csv]` section, validated.
fn csv_format(csv: CsvSection) -> Result<Format, String> {
    let dialect = Dialect {
        delimiter: one_byte("csv.delimiter", &csv.delimiter)?,
        quote: one_byte("csv.quote", &csv.quote)?,
        trim: flag("csv.trim", csv.trim.as_ref())?,
    };
    let multiline = flag("csv.multiline", csv.multiline.as_ref())?;
    let max_record_bytes = match &csv.max_record_bytes {
        None => DEFAULT_MAX_RECORD_BYTES,
        Some(_) if !multiline => {
            return Err("csv.max_record_bytes means nothing without csv.multiline = true".into());
        }
        Some(value) => record_bytes(value)?,
    };
    if dialect.delimiter == dialect.quote {
        return Err("csv.delimiter and csv.quote must differ".into());
    }
    if !csv.header && csv.columns.is_empty() {
        return Err("csv.header = false needs csv.columns".into());
    }
    Ok(Format::Csv {
        dialect,
        multiline,
        max_record_bytes,
        header: csv.header,
        columns: csv.columns,
    })
}

fn valid_provider(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn one_byte(key: &str, text: &str) -> Result<u8, String> {
    match text.as_bytes() {
        [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ => Err(format!(
            "expected {key} to be one ASCII character, got: {text:?}"
        )),
    }
}

/// A `true` / `false` option (absent: false).
fn flag(key: &str, value: Option<&toml::Value>) -> Result<bool, String> {
    match value {
        None => Ok(false),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(other) => Err(format!(
            "expected {key} to be true or false, got: {}",
            describe(other)
        )),
    }
}

fn record_bytes(value: &toml::Value) -> Result<usize, String> {
    match value {
        toml::Value::Integer(n) => usize::try_from(*n)
            .ok()
            .filter(|n| (1..=MAX_RECORD_BYTES).contains(n)),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "expected csv.max_record_bytes to be a whole number of bytes from 1 to {MAX_RECORD_BYTES}, got: {}",
            describe(value)
        )
    })
}

/// A TOML value as written (near enough) for an error message.
fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "an array".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

fn window(text: Option<&str>, default: &str, key: &str) -> Result<i64, String> {
    let text = text.unwrap_or(default);
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|dt| dt.timestamp_millis())
        .map_err(|_| format!("expected {key} to be an RFC 3339 timestamp, got: {text:?}"))
}

fn column_spec(column: Column, field: FieldFile) -> Result<ColumnSpec, String> {
    if field.source.is_empty() {
        return Err("source is empty".into());
    }
    let only = |ok: bool, key: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{key} means nothing for this column"))
        }
    };
    only(
        column == Column::EventType || field.values.is_none(),
        "values",
    )?;
    only(
        column == Column::EventType || !field.case_insensitive,
        "case_insensitive",
    )?;
    only(
        column == Column::OccurredAt || field.timestamp.is_none(),
        "timestamp",
    )?;
    only(
        column == Column::OccurredAt || field.timezone.is_none(),
        "timezone",
    )?;
    let is_odds = matches!(
        column,
        Column::OddsHome | Column::OddsDraw | Column::OddsAway
    );
    only(is_odds || field.odds.is_none(), "odds")?;
    let kind = match column {
        Column::EventType => {
            let values = field
                .values
                .ok_or("values (provider value → event type) is required")?;
            if values.is_empty() {
                return Err("values is empty".into());
            }
            let mut map = HashMap::new();
            let pairs: Vec<(String, String)> = values.clone().into_iter().collect();
            for (from, to) in values {
                if !EVENT_TYPES.contains(&to.as_str()) {
                    return Err(format!(
                        "expected values to map to one of {}, got: {to:?}",
                        EVENT_TYPES.join(", ")
                    ));
                }
                let key = if field.case_insensitive {
                    from.to_ascii_lowercase()
                } else {
                    from
                };
                map.insert(key, to);
            }
            Kind::Enum {
                values: map,
                case_insensitive: field.case_insensitive,
                pairs,
            }
        }
        Column::OccurredAt => {
            let format = field
                .timestamp
                .ok_or("timestamp (its format) is required")?;
            Kind::Time(TimeFormat::parse(&format, field.timezone.as_deref())?)
        }
        Column::OddsHome | Column::OddsDraw | Column::OddsAway => {
            Kind::Odds(field.odds.unwrap_or(OddsFormat::Decimal))
        }
        Column::ScoreHome | Column::ScoreAway => Kind::Score,
        Column::MatchId | Column::Team | Column::Player => Kind::Text,
    };
    Ok(ColumnSpec {
        column,
        source: field.source,
        required: field.required || column.always_required(),
        kind,
    })
}

/// Parses an id template: literal text with `{provider}` and `{field}` placeholders.
///
/// ```
/// use rstask::transform::mapping::{template, Part};
/// assert_eq!(
///     template("{provider}:{id}").unwrap(),
///     [Part::Provider, Part::Text(":".into()), Part::Field("id".into())]
/// );
/// ```
///
/// # Errors
/// A message for an unclosed or empty placeholder, or a template without a field.
pub fn template(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("event_id: unclosed '{{' in {text:?}"))?;
        let name = &rest[open + 1..open + close];
        if name.is_empty() || name.contains('{') {
            return Err(format!("event_id: bad placeholder in {text:?}"));
        }
        parts.push(if name == "provider" {
            Part::Provider
        } else {
            Part::Field(name.to_owned())
        });
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("event_id: unmatched '}}' in {text:?}"));
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    if !parts.iter().any(|p| matches!(p, Part::Field(_))) {
        return Err(format!(
            "event_id: {text:?} names no field, so ids would repeat"
        ));
    }
    Ok(parts)
}

/// The known providers' mappings.
#[derive(Debug, Clone, Default)]
pub struct Mappings(BTreeMap<String, Arc<Mapping>>);

impl Mappings {
    /// The embedded mappings.
    ///
    /// # Errors
    /// A message if one of them is invalid (a bug, caught by the unit tests).
    pub fn embedded() -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for &(provider, text) in EMBEDDED {
            let mapping = Mapping::parse(text, provider)
                .map_err(|e| format!("mappings/{provider}.toml: {e}"))?;
            map.insert(provider.to_owned(), Arc::new(mapping));
        }
        Ok(Self(map))
    }

    /// The embedded mappings plus every `<provider>.toml` in `dir`, which replace embedded
    /// ones of the same provider.
    ///
    /// # Errors
    /// A message naming the unreadable or invalid file.
    pub fn with_dir(dir: Option<&Path>) -> Result<Self, String> {
        let mut mappings = Self::embedded()?;
        let Some(dir) = dir else {
            return Ok(mappings);
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("reading mappings dir {}: {e}", dir.display()))?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let provider = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let mapping =
                Mapping::parse(&text, &provider).map_err(|e| format!("{}: {e}", path.display()))?;
            mappings.0.insert(provider, Arc::new(mapping));
        }
        Ok(mappings)
    }

    /// The mapping of a provider.
    #[must_use]
    pub fn get(&self, provider: &str) -> Option<Arc<Mapping>> {
        self.0.get(provider).cloned()
    }

    /// The providers, sorted.
    #[must_use]
    pub fn providers(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
provider = "tiny"
format = "csv"
event_id = "{provider}-{id}"
[columns.match_id]
source = "m"
[columns.event_type]
source = "t"
values = { G = "goal" }
[columns.occurred_at]
source = "ts"
timestamp = "epoch_millis"
"#;

    /// The provider of every `mappings/<provider>.toml`, sorted: what `build.rs` embeds.
    fn mapping_files() -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
        let mut providers: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .map(|path| path.file_stem().unwrap().to_str().unwrap().to_owned())
            .collect();
        providers.sort();
        providers
    }

    #[test]
    fn every_mapping_file_is_embedded() {
        let providers = Mappings::embedded().unwrap().providers();
        assert_eq!(providers, mapping_files());
        for shipped in ["acme", "betco", "cobra"] {
            assert!(providers.iter().any(|p| p == shipped), "{shipped}");
        }
        let listed: Vec<&str> = EMBEDDED.iter().map(|(provider, _)| *provider).collect();
        assert_eq!(listed, providers);
    }

    #[test]
    fn embedded_mappings_are_valid_and_different() {
        let mappings = Mappings::embedded().unwrap();
        let acme = mappings.get("acme").unwrap();
        let betco = mappings.get("betco").unwrap();
        let cobra = mappings.get("cobra").unwrap();
        assert!(matches!(
            acme.format,
            Format::Csv {
                dialect: Dialect {
                    delimiter: b',',
                    ..
                },
                ..
            }
        ));
        assert_eq!(betco.format, Format::Ndjson);
        assert!(matches!(
            cobra.format,
            Format::Csv {
                dialect: Dialect {
                    delimiter: b';',
                    ..
                },
                ..
            }
        ));
        assert!(matches!(
            acme.column(Column::OccurredAt).unwrap().kind,
            Kind::Time(TimeFormat::Pattern { zone: Some(_), .. })
        ));
        assert_eq!(
            betco.column(Column::OccurredAt).unwrap().kind,
            Kind::Time(TimeFormat::EpochMillis)
        );
        assert_eq!(
            cobra.column(Column::OccurredAt).unwrap().kind,
            Kind::Time(TimeFormat::Rfc3339)
        );
        assert_eq!(
            acme.column(Column::OddsHome).unwrap().kind,
            Kind::Odds(OddsFormat::Fractional)
        );
        assert!(betco.column(Column::MatchId).unwrap().source.contains('.'));
    }

    #[test]
    fn minimal_mapping_and_defaults() {
        let m = Mapping::parse(MINIMAL, "tiny").unwrap();
        assert_eq!(
            m.event_id,
            [
                Part::Provider,
                Part::Text("-".into()),
                Part::Field("id".into())
            ]
        );
        assert_eq!(m.sources(), ["m", "t", "ts", "id"]);
        assert!(m.column(Column::MatchId).unwrap().required);
        assert!(m.column(Column::Team).is_none());
        assert_eq!(m.valid_from, 946_684_800_000);
    }

    #[test]
    fn invalid_mappings_name_the_problem() {
        let cases = [
            (MINIMAL.replace("tiny", "Tiny"), "file name"),
            (MINIMAL.replace("\"goal\"", "\"own_goal\""), "map to one of"),
            (MINIMAL.replace("epoch_millis", "%Y"), "no offset"),
            (
                MINIMAL.replace("{provider}-{id}", "{provider}"),
                "names no field",
            ),
            (
                MINIMAL.replace("{provider}-{id}", "{provider-{id}"),
                "bad placeholder",
            ),
            (
                MINIMAL.replace("source = \"m\"", "source = \"m\"\nodds = \"decimal\""),
                "odds means nothing",
            ),
            (
                MINIMAL.replace("format = \"csv\"", "format = \"xml\""),
                "unknown variant",
            ),
            (format!("{MINIMAL}\nextra = 1"), "unknown field"),
            (format!("{MINIMAL}\n[csv]\ndelimiter = \"::\""), "one ASCII"),
            (
                format!("{MINIMAL}\n[csv]\nmultiline = \"yes\""),
                "expected csv.multiline to be true or false, got: \"yes\"",
            ),
            (
                format!("{MINIMAL}\n[csv]\ntrim = 1"),
                "expected csv.trim to be true or false, got: 1",
            ),
            (
                format!("{MINIMAL}\n[csv]\nmultiline = true\nmax_record_bytes = 0"),
                "expected csv.max_record_bytes to be a whole number of bytes from 1 to 1048576, got: 0",
            ),
            (
                format!("{MINIMAL}\n[csv]\nmultiline = true\nmax_record_bytes = \"64k\""),
                "csv.max_record_bytes to be a whole number of bytes from 1 to 1048576, got: \"64k\"",
            ),
            (
                format!("{MINIMAL}\n[csv]\nmultiline = true\nmax_record_bytes = 2000000"),
                "got: 2000000",
            ),
            (
                format!("{MINIMAL}\n[csv]\nmax_record_bytes = 1000"),
                "csv.max_record_bytes means nothing without csv.multiline = true",
            ),
            (
                format!("{MINIMAL}\n[csv]\nmultiline = true\nmax_records = 1000"),
                "unknown field",
            ),
        ];
        for (text, needle) in cases {
            let error = Mapping::parse(&text, "tiny").unwrap_err();
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    #[test]
    fn csv_options_default_to_one_record_per_line_untrimmed() {
        let csv = |text: &str| match Mapping::parse(text, "tiny").unwrap().format {
            Format::Csv {
                dialect,
                multiline,
                max_record_bytes,
                ..
            } => (dialect.trim, multiline, max_record_bytes),
            Format::Ndjson => panic!("not csv"),
        };
        assert_eq!(csv(MINIMAL), (false, false, DEFAULT_MAX_RECORD_BYTES));
        assert_eq!(
            csv(&format!(
                "{MINIMAL}\n[csv]\nmultiline = false\ntrim = false"
            )),
            (false, false, 65536)
        );
        assert_eq!(
            csv(&format!(
                "{MINIMAL}\n[csv]\nmultiline = true\ntrim = true\nmax_record_bytes = 4096"
            )),
            (true, true, 4096)
        );
        for &(provider, _) in EMBEDDED {
            let mapping = Mappings::embedded().unwrap().get(provider).unwrap();
            if let Format::Csv {
                dialect, multiline, ..
            } = mapping.format
            {
                assert!(!dialect.trim && !multiline, "{provider}");
            }
        }
    }

    #[test]
    fn headerless_csv_needs_all_sources_in_columns() {
        let text = format!("{MINIMAL}\n[csv]\nheader = false\ncolumns = [\"m\", \"t\", \"ts\"]");
        let error = Mapping::parse(&text, "tiny").unwrap_err();
        assert!(error.contains("\"id\""), "{error}");
    }

    #[test]
    fn directory_mappings_add_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.toml"), MINIMAL).unwrap();
        std::fs::write(
            dir.path().join("acme.toml"),
            MINIMAL.replace("tiny", "acme"),
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let mappings = Mappings::with_dir(Some(dir.path())).unwrap();
        let mut expected = mapping_files();
        expected.push("tiny".into());
        expected.sort();
        assert_eq!(mappings.providers(), expected);
        assert!(mappings.get("acme").unwrap().column(Column::Team).is_none());
        std::fs::write(dir.path().join("bad.toml"), "provider = 1").unwrap();
        let error = Mappings::with_dir(Some(dir.path())).unwrap_err();
        assert!(error.contains("bad.toml"), "{error}");
    }
}
