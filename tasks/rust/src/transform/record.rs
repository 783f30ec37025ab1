//! One row through a mapping bound to an object: an [`Event`] or a [`Reject`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Number, Value};

use super::csv::Dialect;
use super::mapping::{Column, ColumnSpec, Format, Kind, Mapping, Part};
use super::{Event, Reason, Reject};

/// Where a source field is found in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Src {
    /// CSV field index.
    Index(usize),
    /// JSON object path.
    Path(Vec<String>),
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

/// A mapping bound to one object (CSV header resolved), with the object's seen event ids.
#[derive(Debug)]
pub struct Bound<'m> {
    mapping: &'m Mapping,
    csv: Option<(Dialect, usize)>,
    columns: Vec<(&'m ColumnSpec, Src)>,
    id: Vec<IdPart>,
    seen: HashSet<u128>,
}

impl<'m> Bound<'m> {
    /// Binds an NDJSON mapping, or a CSV mapping without a header line.
    ///
    /// # Errors
    /// When the mapping is a CSV mapping with a header (use [`Bound::with_header`]).
    pub fn new(mapping: &'m Mapping) -> Result<Self, String> {
        match &mapping.format {
            Format::Ndjson => Ok(Self::build(mapping, None, |s| {
                Some(Src::Path(s.split('.').map(str::to_owned).collect()))
            })),
            Format::Csv {
                header: false,
                columns,
                dialect,
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
        find: impl Fn(&str) -> Option<Src>,
    ) -> Self {
        let src = |s: &str| find(s).unwrap_or(Src::Index(usize::MAX));
        let columns = mapping
            .columns
            .iter()
            .map(|c| (c, src(&c.source)))
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
            seen: HashSet::new(),
        }
    }

    /// Converts one line (UTF-8, without its line ending) into an event.
    ///
    /// # Errors
    /// The [`Reject`] saying why the row goes to quarantine.
    pub fn row(&mut self, line: u64, text: &str) -> Result<Event, Reject> {
        let event = if let Some((dialect, width)) = self.csv {
            let fields = dialect.split(text)?;
            if fields.len() != width {
                return Err(Reject::new(
                    Reason::WrongFieldCount,
                    format!("expected {width} fields, got {}", fields.len()),
                ));
            }
            self.event(line, &Record::Csv(&fields))?
        } else {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| Reject::new(Reason::BadJson, format!("not JSON: {e}")))?;
            if !value.is_object() {
                return Err(Reject::new(Reason::BadJson, "expected a JSON object"));
            }
            self.event(line, &Record::Json(&value))?
        };
        if !self.seen.insert(id_hash(&event.event_id)) {
            return Err(Reject::new(
                Reason::DuplicateKey,
                format!("event_id {:?} already seen in this object", event.event_id),
            ));
        }
        Ok(event)
    }

    fn event(&self, line: u64, record: &Record<'_>) -> Result<Event, Reject> {
        let mut event = Event {
            event_id: String::new(),
            provider: self.mapping.provider.clone(),
            match_id: String::new(),
            event_type: String::new(),
            occurred_at: 0,
            team: None,
            player: None,
            odds: [None; 3],
            score: [None; 2],
            source_line: line,
        };
        for (spec, src) in &self.columns {
            let val = record.get(src);
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
            self.convert(spec, val, &mut event)?;
        }
        let mut id = String::new();
        for part in &self.id {
            match part {
                IdPart::Text(t) => id.push_str(t),
                IdPart::Field(name, src) => match record.get(src) {
                    Val::Str(s) => id.push_str(s),
                    Val::Num(n) => id.push_str(&n.to_string()),
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
        event.event_id = id;
        Ok(event)
    }

    fn convert(&self, spec: &ColumnSpec, val: Val<'_>, event: &mut Event) -> Result<(), Reject> {
        let column = spec.column.name();
        let text = |what: &str| match val {
            Val::Str(s) => Ok(Cow::Borrowed(s)),
            Val::Num(n) => Ok(Cow::Owned(n.to_string())),
            other => Err(wrong_type(column, &spec.source, what, other)),
        };
        let bad = |detail: String| Reject::new(Reason::WrongType, format!("{column}: {detail}"));
        match &spec.kind {
            Kind::Text => {
                let value = text("a string")?.into_owned();
                match spec.column {
                    Column::MatchId => event.match_id = value,
                    Column::Team => event.team = Some(value),
                    _ => event.player = Some(value),
                }
            }
            Kind::Enum {
                values,
                case_insensitive,
                ..
            } => {
                let raw = text("a string")?;
                let key = if *case_insensitive {
                    Cow::Owned(raw.to_ascii_lowercase())
                } else {
                    raw.clone()
                };
                let canonical = values.get(key.as_ref()).ok_or_else(|| {
                    Reject::new(
                        Reason::UnknownEnum,
                        format!("{column}: unknown value {raw:?} in field {:?}", spec.source),
                    )
                })?;
                event.event_type.clone_from(canonical);
            }
            Kind::Time(format) => {
                let millis = match val {
                    Val::Num(n) if format.is_epoch() => {
                        let int = n
                            .as_i64()
                            .ok_or_else(|| bad(format!("expected an epoch integer, got: {n}")))?;
                        format.from_epoch(int).map_err(bad)?
                    }
                    _ => format.parse_text(&text("a timestamp")?).map_err(bad)?,
                };
                if millis < self.mapping.valid_from || millis >= self.mapping.valid_until {
                    return Err(Reject::new(
                        Reason::TimestampOutOfRange,
                        format!(
                            "{column}: {} is outside [{}, {})",
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
    Csv(&'a [Cow<'a, str>]),
    Json(&'a Value),
}

impl Record<'_> {
    fn get(&self, src: &Src) -> Val<'_> {
        match (self, src) {
            (Self::Csv(fields), Src::Index(i)) => match fields.get(*i).map(AsRef::as_ref) {
                None | Some("") => Val::Missing,
                Some(s) => Val::Str(s),
            },
            (Self::Json(value), Src::Path(path)) => {
                let mut current = *value;
                for segment in path {
                    match current {
                        Value::Object(map) => match map.get(segment) {
                            None | Some(Value::Null) => return Val::Missing,
                            Some(next) => current = next,
                        },
                        other => return Val::Composite(json_kind(other)),
                    }
                }
                match current {
                    Value::Null => Val::Missing,
                    Value::String(s) if s.is_empty() => Val::Missing,
                    Value::String(s) => Val::Str(s),
                    Value::Number(n) => Val::Num(n),
                    Value::Bool(_) => Val::Bool,
                    other => Val::Composite(json_kind(other)),
                }
            }
            _ => Val::Missing,
        }
    }
}

const fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// 128 bits of an event id for duplicate detection (16 bytes per row of state, not the id).
fn id_hash(id: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
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
