//! One row through a mapping bound to an object: an [`Event`] or a [`Reject`].
//!
//! The hot path, [`Bound::map_row`], appends the event's columns to a [`Rows`] block
//! without allocating per field: CSV fields are byte ranges of the line, JSON lines are
//! read into just the fields the mapping asks for (the `json` module's projection, driven
//! by `serde_json`'s own parser, so exactly the lines `serde_json::Value` accepts are
//! accepted), the event id is built in a reused buffer, local times go through a per-hour
//! offset cache.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::{Number, Value};

use super::csv::{Dialect, Field};
use super::dedup::id_hash;
use super::json::{self, PVal, PlanNode, plan_path, project};
use super::mapping::{Column, ColumnSpec, EVENT_TYPES, Format, Kind, Mapping, Part};
use super::output::Rows;
use super::values::{FastPattern, ZoneCache};
use super::{Event, Reason, Reject};

/// Where a source field is found in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Src {
    /// CSV field index.
    Index(usize),
    /// JSON object path, and the projection nodes along it.
    Path(Vec<String>, Vec<usize>),
}

#[derive(Debug, Clone)]
enum IdPart {
    Text(String),
    Field(String, Src),
}

/// A source value, before conversion.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Missing,
    Str(&'a str),
    Num(&'a Number),
    Bool,
    Composite(&'static str),
}

#[derive(Debug)]
struct BoundColumn<'m> {
    spec: &'m ColumnSpec,
    src: Src,
    fast_time: Option<FastPattern>,
    /// Enum columns: provider value (lower-cased when case-insensitive) → canonical type.
    types: HashMap<String, &'static str>,
}

/// A mapping bound to one object (CSV header resolved). Shared by the mapping workers;
/// each brings its own [`Scratch`].
#[derive(Debug)]
pub struct Bound<'m> {
    mapping: &'m Mapping,
    csv: Option<(Dialect, usize)>,
    columns: Vec<BoundColumn<'m>>,
    id: Vec<IdPart>,
    plan: Vec<PlanNode>,
    /// Ids seen by [`Bound::row`] (the object pipeline dedups in its writer instead).
    seen: HashSet<u128>,
}

/// One worker's reusable buffers for [`Bound::map_row`].
#[derive(Debug, Default)]
pub struct Scratch {
    fields: Vec<Field>,
    unescaped: String,
    // `pub(super)`: the JSON projection's agreement test (`json.rs`) hands them to
    // `map_value_row`
    pub(super) id: String,
    pub(super) lower: String,
    pub(super) zones: ZoneCache,
}

/// What an event is made of before it is appended (text borrowed from the line).
struct Staged<'a> {
    match_id: Cow<'a, str>,
    event_type: &'static str,
    occurred_at: i64,
    team: Option<Cow<'a, str>>,
    player: Option<Cow<'a, str>>,
    odds: [Option<f64>; 3],
    score: [Option<u16>; 2],
}

/// The detail of a [`Reason::DuplicateKey`] rejection.
#[must_use]
pub fn duplicate_detail(event_id: &str) -> String {
    format!("event_id {event_id:?} already seen in this object")
}

impl<'m> Bound<'m> {
    /// Binds an NDJSON mapping, or a CSV mapping without a header line.
    ///
    /// # Errors
    /// When the mapping is a CSV mapping with a header (use [`Bound::with_header`]).
    pub fn new(mapping: &'m Mapping) -> Result<Self, String> {
        match &mapping.format {
            Format::Ndjson => {
                let mut plan = vec![PlanNode::default()];
                let mut bound = Self::build(mapping, None, |s| {
                    let segments: Vec<String> = s.split('.').map(str::to_owned).collect();
                    let nodes = plan_path(&mut plan, &segments);
                    Some(Src::Path(segments, nodes))
                });
                bound.plan = plan;
                Ok(bound)
            }
            Format::Csv {
                header: false,
                columns,
                dialect,
                ..
            } => Self::with_names(mapping, *dialect, columns),
            Format::Csv { header: true, .. } => Err("this mapping needs the header line".into()),
        }
    }

    /// Binds a CSV mapping to the object's header line.
    ///
    /// # Errors
    /// A message when the header is malformed or lacks a field the mapping reads.
    pub fn with_header(mapping: &'m Mapping, header: &str) -> Result<Self, String> {
        let Format::Csv { dialect, .. } = &mapping.format else {
            return Self::new(mapping);
        };
        let header = header.strip_prefix('\u{feff}').unwrap_or(header);
        let names: Vec<String> = dialect
            .split(header)
            .map_err(|r| format!("header line: {}", r.detail))?
            .into_iter()
            .map(|f| f.trim().to_owned())
            .collect();
        Self::with_names(mapping, *dialect, &names)
    }

    fn with_names(
        mapping: &'m Mapping,
        dialect: Dialect,
        names: &[String],
    ) -> Result<Self, String> {
        let missing: Vec<String> = mapping
            .sources()
            .into_iter()
            .filter(|s| !names.contains(s))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "header lacks field(s) {} (has: {})",
                missing.join(", "),
                names.join(", ")
            ));
        }
        let mut bound = Self::build(mapping, Some((dialect, names.len())), |s| {
            names.iter().position(|n| n == s).map(Src::Index)
        });
        bound.csv = Some((dialect, names.len()));
        Ok(bound)
    }

    fn build(
        mapping: &'m Mapping,
        csv: Option<(Dialect, usize)>,
        mut find: impl FnMut(&str) -> Option<Src>,
    ) -> Self {
        let mut src = |s: &str| find(s).unwrap_or(Src::Index(usize::MAX));
        let columns = mapping
            .columns
            .iter()
            .map(|spec| BoundColumn {
                spec,
                src: src(&spec.source),
                fast_time: match &spec.kind {
                    Kind::Time(format) => format.fast_pattern(),
                    _ => None,
                },
                types: match &spec.kind {
                    Kind::Enum { values, .. } => values
                        .iter()
                        .filter_map(|(from, to)| {
                            EVENT_TYPES
                                .iter()
                                .find(|t| **t == to.as_str())
                                .map(|t| (from.clone(), *t))
                        })
                        .collect(),
                    _ => HashMap::new(),
                },
            })
            .collect();
        let id = mapping
            .event_id
            .iter()
            .map(|part| match part {
                Part::Text(t) => IdPart::Text(t.clone()),
                Part::Provider => IdPart::Text(mapping.provider.clone()),
                Part::Field(f) => IdPart::Field(f.clone(), src(f)),
            })
            .collect();
        Self {
            mapping,
            csv,
            columns,
            id,
            plan: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// The mapping.
    #[must_use]
    pub const fn mapping(&self) -> &'m Mapping {
        self.mapping
    }

    /// Converts one line (UTF-8, without its line ending) into an event, rejecting an id
    /// this `Bound` has returned before (for tests and tools: one row at a time).
    ///
    /// # Errors
    /// The [`Reject`] saying why the row goes to quarantine.
    pub fn row(&mut self, line: u64, text: &str) -> Result<Event, Reject> {
        let mut rows = Rows {
            provider: self.mapping.provider.clone(),
            ..Rows::default()
        };
        self.map_row(line, text, &mut Scratch::default(), &mut rows)?;
        if !self.seen.insert(rows.hash[0]) {
            return Err(Reject::new(
                Reason::DuplicateKey,
                duplicate_detail(rows.event_id.get(0)),
            ));
        }
        Ok(rows.event(0))
    }

    /// Converts one line (UTF-8, without its line ending) and appends the event, with its
    /// id hash, to `out`; duplicates are not looked for (the caller does).
    ///
    /// # Errors
    /// The [`Reject`] saying why the row goes to quarantine (`out` is then unchanged).
    pub fn map_row(
        &self,
        line: u64,
        text: &str,
        scratch: &mut Scratch,
        out: &mut Rows,
    ) -> Result<(), Reject> {
        let Scratch {
            fields,
            unescaped,
            id,
            lower,
            zones,
        } = scratch;
        if let Some((dialect, width)) = self.csv {
            dialect.split_into(text, fields, unescaped)?;
            if fields.len() != width {
                return Err(Reject::new(
                    Reason::WrongFieldCount,
                    format!("expected {width} fields, got {}", fields.len()),
                ));
            }
            let record = Record::Csv {
                line: text,
                fields,
                unescaped,
            };
            let staged = self.event(&record, zones, lower, id)?;
            Self::append(line, &staged, id, out);
            return Ok(());
        }
        let mut values = vec![PVal::Absent; self.plan.len()];
        match project(&self.plan, text, &mut values) {
            Ok(()) => {
                if !matches!(values[0], PVal::Object) {
                    return Err(Reject::new(Reason::BadJson, "expected a JSON object"));
                }
                let staged = self.event(&Record::Json(&values), zones, lower, id)?;
                Self::append(line, &staged, id, out);
                Ok(())
            }
            // serde_json::Value has the last word (and the message)
            Err(_) => self.map_value_row(line, text, zones, lower, id, out),
        }
    }

    /// An NDJSON line through `serde_json::Value` (the projection's reference).
    pub(super) fn map_value_row(
        &self,
        line: u64,
        text: &str,
        zones: &mut ZoneCache,
        lower: &mut String,
        id: &mut String,
        out: &mut Rows,
    ) -> Result<(), Reject> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Reject::new(Reason::BadJson, format!("not JSON: {e}")))?;
        if !value.is_object() {
            return Err(Reject::new(Reason::BadJson, "expected a JSON object"));
        }
        let staged = self.event(&Record::Value(&value), zones, lower, id)?;
        Self::append(line, &staged, id, out);
        Ok(())
    }

    fn append(line: u64, staged: &Staged<'_>, id: &str, out: &mut Rows) {
        out.hash.push(id_hash(id));
        out.event_id.push(id);
        out.match_id.push(&staged.match_id);
        out.event_type.push(staged.event_type);
        out.occurred_at.push(staged.occurred_at);
        out.team.push(staged.team.as_deref());
        out.player.push(staged.player.as_deref());
        for (column, value) in out.odds.iter_mut().zip(staged.odds) {
            column.push(value);
        }
        for (column, value) in out.score.iter_mut().zip(staged.score) {
            column.push(value);
        }
        out.source_line.push(line);
    }

    fn event<'a>(
        &self,
        record: &Record<'a>,
        zones: &mut ZoneCache,
        lower: &mut String,
        id: &mut String,
    ) -> Result<Staged<'a>, Reject> {
        let mut staged = Staged {
            match_id: Cow::Borrowed(""),
            event_type: "",
            occurred_at: 0,
            team: None,
            player: None,
            odds: [None; 3],
            score: [None; 2],
        };
        for column in &self.columns {
            let spec = column.spec;
            let val = record.get(&column.src);
            if matches!(val, Val::Missing) {
                if spec.required {
                    return Err(Reject::new(
                        Reason::MissingField,
                        format!(
                            "{} (field {:?}) is missing or empty",
                            spec.column.name(),
                            spec.source
                        ),
                    ));
                }
                continue;
            }
            self.convert(column, val, &mut staged, zones, lower)?;
        }
        id.clear();
        for part in &self.id {
            match part {
                IdPart::Text(t) => id.push_str(t),
                IdPart::Field(name, src) => match record.get(src) {
                    Val::Str(s) => id.push_str(s),
                    Val::Num(n) => {
                        use std::fmt::Write as _;
                        let _ = write!(id, "{n}");
                    }
                    Val::Missing => {
                        return Err(Reject::new(
                            Reason::MissingField,
                            format!("event_id needs field {name:?}, which is missing or empty"),
                        ));
                    }
                    other => return Err(wrong_type("event_id", name, "a string or number", other)),
                },
            }
        }
        Ok(staged)
    }

    fn convert<'a>(
        &self,
        column: &BoundColumn<'_>,
        val: Val<'a>,
        event: &mut Staged<'a>,
        zones: &mut ZoneCache,
        lower: &mut String,
    ) -> Result<(), Reject> {
        let spec = column.spec;
        let name = spec.column.name();
        let text = |what: &str| match val {
            Val::Str(s) => Ok(Cow::Borrowed(s)),
            Val::Num(n) => Ok(Cow::Owned(n.to_string())),
            other => Err(wrong_type(name, &spec.source, what, other)),
        };
        let bad = |detail: String| Reject::new(Reason::WrongType, format!("{name}: {detail}"));
        match &spec.kind {
            Kind::Text => {
                let value = text("a string")?;
                match spec.column {
                    Column::MatchId => event.match_id = value,
                    Column::Team => event.team = Some(value),
                    _ => event.player = Some(value),
                }
            }
            Kind::Enum {
                case_insensitive, ..
            } => {
                let raw = text("a string")?;
                let key = if *case_insensitive {
                    lower.clear();
                    lower.push_str(&raw);
                    lower.make_ascii_lowercase();
                    lower.as_str()
                } else {
                    raw.as_ref()
                };
                let canonical = column.types.get(key).ok_or_else(|| {
                    Reject::new(
                        Reason::UnknownEnum,
                        format!("{name}: unknown value {raw:?} in field {:?}", spec.source),
                    )
                })?;
                event.event_type = canonical;
            }
            Kind::Time(format) => {
                let millis = match val {
                    Val::Num(n) if format.is_epoch() => {
                        let int = n
                            .as_i64()
                            .ok_or_else(|| bad(format!("expected an epoch integer, got: {n}")))?;
                        format.from_epoch(int).map_err(bad)?
                    }
                    _ => format
                        .parse_text_fast(column.fast_time.as_ref(), zones, &text("a timestamp")?)
                        .map_err(bad)?,
                };
                if millis < self.mapping.valid_from || millis >= self.mapping.valid_until {
                    return Err(Reject::new(
                        Reason::TimestampOutOfRange,
                        format!(
                            "{name}: {} is outside [{}, {})",
                            super::values::rfc3339(millis),
                            super::values::rfc3339(self.mapping.valid_from),
                            super::values::rfc3339(self.mapping.valid_until)
                        ),
                    ));
                }
                event.occurred_at = millis;
            }
            Kind::Odds(format) => {
                let odds = match val {
                    Val::Num(n) => {
                        super::values::decimal_odds(n.as_f64().unwrap_or(f64::NAN)).map_err(bad)?
                    }
                    _ => format.parse(&text("odds")?).map_err(bad)?,
                };
                let slot = match spec.column {
                    Column::OddsHome => 0,
                    Column::OddsDraw => 1,
                    _ => 2,
                };
                event.odds[slot] = Some(odds);
            }
            Kind::Score => {
                let score = match val {
                    Val::Num(n) => super::values::score_of_number(n).map_err(bad)?,
                    _ => super::values::parse_score(&text("a score")?).map_err(bad)?,
                };
                let slot = usize::from(spec.column != Column::ScoreHome);
                event.score[slot] = Some(score);
            }
        }
        Ok(())
    }
}

fn wrong_type(column: &str, source: &str, expected: &str, got: Val<'_>) -> Reject {
    let got = match got {
        Val::Bool => "a boolean",
        Val::Composite(kind) => kind,
        Val::Num(_) => "a number",
        Val::Str(_) => "a string",
        Val::Missing => "nothing",
    };
    Reject::new(
        Reason::WrongType,
        format!("{column}: expected {expected} in field {source:?}, got {got}"),
    )
}

enum Record<'a> {
    Csv {
        line: &'a str,
        fields: &'a [Field],
        unescaped: &'a str,
    },
    Json(&'a [PVal<'a>]),
    Value(&'a Value),
}

impl<'a> Record<'a> {
    fn get(&self, src: &Src) -> Val<'a> {
        match (self, src) {
            (
                Self::Csv {
                    line,
                    fields,
                    unescaped,
                },
                Src::Index(i),
            ) => match fields.get(*i).map(|f| f.text(line, unescaped)) {
                None | Some("") => Val::Missing,
                Some(s) => Val::Str(s),
            },
            (Self::Json(values), Src::Path(_, nodes)) => {
                let mut current = &values[0];
                for node in nodes {
                    match current {
                        PVal::Object => match &values[*node] {
                            PVal::Absent | PVal::Null => return Val::Missing,
                            next => current = next,
                        },
                        other => return Val::Composite(other.kind()),
                    }
                }
                match current {
                    PVal::Absent | PVal::Null => Val::Missing,
                    PVal::Str(s) if s.is_empty() => Val::Missing,
                    PVal::Str(s) => Val::Str(s),
                    PVal::Num(n) => Val::Num(n),
                    PVal::Bool => Val::Bool,
                    other => Val::Composite(other.kind()),
                }
            }
            (Self::Value(value), Src::Path(path, _)) => {
                let mut current: &'a Value = value;
                for segment in path {
                    match current {
                        Value::Object(map) => match map.get(segment) {
                            None | Some(Value::Null) => return Val::Missing,
                            Some(next) => current = next,
                        },
                        other => return Val::Composite(json::value_kind(other)),
                    }
                }
                match current {
                    Value::Null => Val::Missing,
                    Value::String(s) if s.is_empty() => Val::Missing,
                    Value::String(s) => Val::Str(s),
                    Value::Number(n) => Val::Num(n),
                    Value::Bool(_) => Val::Bool,
                    other => Val::Composite(json::value_kind(other)),
                }
            }
            _ => Val::Missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::mapping::Mappings;

    fn mapping(provider: &str) -> std::sync::Arc<Mapping> {
        Mappings::embedded().unwrap().get(provider).unwrap()
    }

    const ACME_HEADER: &str = "seq,fixture,event,time_local,team,player,price_home,price_draw,price_away,goals_home,goals_away";

    fn acme_row(row: &str) -> Result<Event, Reject> {
        let m = mapping("acme");
        let mut bound = Bound::with_header(&m, ACME_HEADER).unwrap();
        bound.row(2, row)
    }

    #[test]
    fn acme_row_maps_every_column() {
        let event =
            acme_row("7,F-1,goal,01/07/2026 15:00:00,Arsenal,\"Saka, B\",5/2,evens,1/2,1,0")
                .unwrap();
        assert_eq!(
            event,
            Event {
                event_id: "acme-F-1-7".into(),
                provider: "acme".into(),
                match_id: "F-1".into(),
                event_type: "goal".into(),
                occurred_at: 1_782_914_400_000, // 2026-07-01T14:00:00Z (BST)
                team: Some("Arsenal".into()),
                player: Some("Saka, B".into()),
                odds: [Some(3.5), Some(2.0), Some(1.5)],
                score: [Some(1), Some(0)],
                source_line: 2,
            }
        );
        let sparse = acme_row("8,F-1,KO,01/07/2026 15:00:00,,,,,,,").unwrap();
        assert_eq!(
            (sparse.team, sparse.odds, sparse.score),
            (None, [None; 3], [None; 2])
        );
    }

    #[test]
    fn each_reason_from_a_csv_row() {
        let cases = [
            (
                "7,F-1,GOAL,01/07/2026 15:00:00,\"Ars\"enal,,,,,,",
                Reason::BadQuoting,
            ),
            (
                "7,F-1,GOAL,01/07/2026 15:00:00,Arsenal",
                Reason::WrongFieldCount,
            ),
            (
                "7,F-1,GOAL,01/07/2026 15:00:00,,,x/2,,,,",
                Reason::WrongType,
            ),
            (
                "7,F-1,GOAL,01/07/2026 15:00:00,,,,,,two,",
                Reason::WrongType,
            ),
            ("7,F-1,GOAL,2026-07-01,,,,,,,", Reason::WrongType),
            ("7,,GOAL,01/07/2026 15:00:00,,,,,,,", Reason::MissingField),
            (",F-1,GOAL,01/07/2026 15:00:00,,,,,,,", Reason::MissingField),
            (
                "7,F-1,GOAL,01/07/1970 15:00:00,,,,,,,",
                Reason::TimestampOutOfRange,
            ),
            (
                "7,F-1,OWN_GOAL,01/07/2026 15:00:00,,,,,,,",
                Reason::UnknownEnum,
            ),
        ];
        for (row, reason) in cases {
            let reject = acme_row(row).unwrap_err();
            assert_eq!(reject.reason, reason, "{row}: {}", reject.detail);
        }
    }

    #[test]
    fn duplicates_within_the_bound_object() {
        let m = mapping("acme");
        let mut bound = Bound::with_header(&m, ACME_HEADER).unwrap();
        let row = "7,F-1,GOAL,01/07/2026 15:00:00,,,,,,,";
        assert!(bound.row(2, row).is_ok());
        let reject = bound.row(3, row).unwrap_err();
        assert_eq!(reject.reason, Reason::DuplicateKey);
        assert!(reject.detail.contains("acme-F-1-7"), "{}", reject.detail);
        // a rejected row does not claim its id
        assert!(bound.row(4, "8,F-1,XX,01/07/2026 15:00:00,,,,,,,").is_err());
        assert!(
            bound
                .row(5, "8,F-1,GOAL,01/07/2026 15:00:00,,,,,,,")
                .is_ok()
        );
    }

    #[test]
    fn header_must_have_every_field() {
        let m = mapping("acme");
        let error = Bound::with_header(&m, "seq,fixture,event").unwrap_err();
        assert!(error.contains("time_local"), "{error}");
        let reordered = "\u{feff}goals_away,goals_home,price_away,price_draw,price_home,player,team,time_local,event,fixture,seq";
        let mut bound = Bound::with_header(&m, reordered).unwrap();
        let event = bound.row(2, ",,,,,,,01/07/2026 15:00:00,FT,F-2,9").unwrap();
        assert_eq!(
            (event.event_id.as_str(), event.event_type.as_str()),
            ("acme-F-2-9", "full_time")
        );
    }

    #[test]
    fn betco_nested_json() {
        let m = mapping("betco");
        let mut bound = Bound::new(&m).unwrap();
        let line = r#"{"id":"e1","fixture":{"id":"F-9"},"kind":"booking","ts":1795446245123,"side":{"name":"Leeds"},"actor":null,"market":{"prices":{"home":2.1,"draw":"3.4","away":3}},"score":{"home":2,"away":1}}"#;
        let event = bound.row(1, line).unwrap();
        assert_eq!(event.event_id, "betco:e1");
        assert_eq!(event.match_id, "F-9");
        assert_eq!(event.event_type, "card");
        assert_eq!(event.occurred_at, 1_795_446_245_123);
        assert_eq!(
            (event.team.as_deref(), event.player.as_deref()),
            (Some("Leeds"), None)
        );
        assert_eq!(event.odds, [Some(2.1), Some(3.4), Some(3.0)]);
        assert_eq!(event.score, [Some(2), Some(1)]);

        let cases = [
            (
                r#"{"id":"e2","fixture":{"id":"F"},"kind":"goal","ts":1795446245123"#,
                Reason::BadJson,
            ),
            (r"[1,2]", Reason::BadJson),
            (
                r#"{"id":"e3","fixture":{"id":"F"},"kind":"goal","ts":"soon"}"#,
                Reason::WrongType,
            ),
            (
                r#"{"id":"e4","fixture":{"id":"F"},"kind":"goal","ts":1.5}"#,
                Reason::WrongType,
            ),
            (
                r#"{"id":"e5","fixture":{"id":{"x":1}},"kind":"goal","ts":1795446245123}"#,
                Reason::WrongType,
            ),
            (
                r#"{"id":"e6","fixture":"F","kind":"goal","ts":1795446245123}"#,
                Reason::WrongType,
            ),
            (
                r#"{"id":"e7","kind":"goal","ts":1795446245123}"#,
                Reason::MissingField,
            ),
            (
                r#"{"fixture":{"id":"F"},"kind":"goal","ts":1795446245123}"#,
                Reason::MissingField,
            ),
            (
                r#"{"id":"e8","fixture":{"id":"F"},"kind":"goal","ts":0}"#,
                Reason::TimestampOutOfRange,
            ),
            (
                r#"{"id":"e9","fixture":{"id":"F"},"kind":"var","ts":1795446245123}"#,
                Reason::UnknownEnum,
            ),
            (
                r#"{"id":"e1","fixture":{"id":"F"},"kind":"goal","ts":1795446245123}"#,
                Reason::DuplicateKey,
            ),
            (
                r#"{"id":"e10","fixture":{"id":"F"},"kind":"goal","ts":1795446245123,"score":{"home":-1}}"#,
                Reason::WrongType,
            ),
        ];
        for (line, reason) in cases {
            let reject = bound.row(2, line).unwrap_err();
            assert_eq!(reject.reason, reason, "{line}: {}", reject.detail);
        }
        let numeric_id = r#"{"id":42,"fixture":{"id":7},"kind":"goal","ts":"1795446245123"}"#;
        let event = bound.row(3, numeric_id).unwrap();
        assert_eq!(
            (event.event_id.as_str(), event.match_id.as_str()),
            ("betco:42", "7")
        );
    }

    #[test]
    fn cobra_semicolons_and_offsets() {
        let m = mapping("cobra");
        let header = "partido;evento;tipo;momento;equipo;jugador;cuota_1;cuota_x;cuota_2;goles_local;goles_visitante";
        let mut bound = Bound::with_header(&m, header).unwrap();
        let event = bound
            .row(
                2,
                "P-3;11;GOL;2026-11-23T16:04:05.250+01:00;Betis;Isco;2.5;3.1;2.9;1;0",
            )
            .unwrap();
        assert_eq!(event.event_id, "cobra:P-3:11");
        assert_eq!(event.occurred_at, 1_795_446_245_250);
        assert_eq!(event.odds, [Some(2.5), Some(3.1), Some(2.9)]);
        let reject = bound
            .row(3, "P-3;12;GOL;2026-11-23T16:04:05+01:00;;Isco;;;;;")
            .unwrap_err();
        assert_eq!(
            reject.reason,
            Reason::MissingField,
            "team is required for cobra"
        );
    }
}
