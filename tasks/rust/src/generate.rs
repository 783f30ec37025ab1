//! The deterministic feed generator shared by tests, benchmarks and the demo.
//!
//! Driven by the provider's mapping (so a new mapping file gets a generator for free): it
//! writes the fields the mapping reads, in the provider's format — CSV with its dialect and
//! header, or nested NDJSON — with timestamps, odds and event codes written the way the
//! mapping parses them. Chosen rows are made bad in exactly one way each, per kind and
//! fraction, and the [`Summary`] says how many of each were written, so a test can assert
//! the transform's quarantine counts exactly. Same seed, same bytes (own `SplitMix64`).
//!
//! [`generate_to`] can also list the event id and line of every good row (what the
//! transform stages), and [`Spec::revision`] > 0 re-delivers the same feed with about a
//! quarter of the good rows' values (odds, scores, players) changed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::{Map, Number, Value};

use crate::transform::Reason;
use crate::transform::mapping::{Column, ColumnSpec, Format, Kind, Mapping, Part};
use crate::transform::values::OddsFormat;

/// `SplitMix64`: tiny, fast, good enough for test data, stable across versions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub const fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    #[allow(clippy::cast_precision_loss)]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        &items[i]
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

/// The bad-row kinds the generator can write (quarantine reasons).
pub const BAD_KINDS: [Reason; 9] = [
    Reason::BadQuoting,
    Reason::BadJson,
    Reason::WrongFieldCount,
    Reason::WrongType,
    Reason::MissingField,
    Reason::InvalidUtf8,
    Reason::TimestampOutOfRange,
    Reason::DuplicateKey,
    Reason::UnknownEnum,
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Data rows (good and bad; the header is extra).
    pub rows: u64,
    /// PRNG seed.
    pub seed: u64,
    /// Fraction of rows made bad, per kind (a row is bad in one way at most).
    pub bad: BTreeMap<Reason, f64>,
    /// 0: the feed of `seed`. N > 0: the same feed (rows, ids, bad rows, lines) with about
    /// [`REVISED_SHARE`] of the good rows carrying other values, chosen by `seed`, N and
    /// the row: a provider re-delivering corrected events.
    pub revision: u64,
}

/// The share of good rows a revision changes.
pub const REVISED_SHARE: f64 = 0.25;

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Data rows written.
    pub rows: u64,
    /// Rows the transform will accept.
    pub good: u64,
    /// Bad rows per kind (what the transform will quarantine, per reason).
    pub bad: BTreeMap<Reason, u64>,
    /// Bytes written (before compression).
    pub bytes: u64,
    /// Good rows whose values the revision changed (0 for revision 0).
    pub revised: u64,
}

/// Checks that every kind applies to the mapping's format and the fractions make sense.
///
/// # Errors
/// A message naming the kind or fraction.
pub fn validate(mapping: &Mapping, spec: &Spec) -> Result<(), String> {
    let csv = matches!(mapping.format, Format::Csv { .. });
    let mut total = 0.0;
    for (kind, fraction) in &spec.bad {
        if !BAD_KINDS.contains(kind) {
            return Err(format!("cannot generate {} rows", kind.as_str()));
        }
        let csv_only = matches!(kind, Reason::BadQuoting | Reason::WrongFieldCount);
        if (csv_only && !csv) || (*kind == Reason::BadJson && csv) {
            return Err(format!(
                "{} rows do not exist in {}'s format",
                kind.as_str(),
                mapping.provider
            ));
        }
        if !(0.0..=1.0).contains(fraction) {
            return Err(format!(
                "expected a fraction from 0 to 1 for {}, got: {fraction}",
                kind.as_str()
            ));
        }
        total += fraction;
    }
    if total > 1.0 {
        return Err(format!("bad-row fractions add up to {total}, more than 1"));
    }
    Ok(())
}

const TEAMS: [&str; 8] = [
    "Arsenal",
    "Leeds United",
    "Real Betis",
    "Wolves, W.",
    "Sporting CP",
    "Ajax",
    "Brighton & Hove Albion",
    "Celta",
];
const PLAYERS: [&str; 6] = [
    "B. Saka",
    "Isco",
    "Jo \"Magic\" Silva",
    "D'Angelo",
    "N. Müller",
    "Ødegaard",
];
/// Fractional odds as (numerator, denominator).
const ODDS: [(u32, u32); 12] = [
    (1, 2),
    (4, 5),
    (1, 1),
    (6, 4),
    (2, 1),
    (5, 2),
    (3, 1),
    (7, 2),
    (4, 1),
    (9, 2),
    (11, 2),
    (10, 1),
];
/// 2026-11-21T12:00:00Z.
const BASE_MILLIS: i64 = 1_795_262_400_000;

/// A generated value before it is written.
#[derive(Debug, Clone)]
enum Gen {
    Text(String),
    Int(i64),
    Float(f64, String),
}

impl Gen {
    fn text(&self) -> String {
        match self {
            Self::Text(t) | Self::Float(_, t) => t.clone(),
            Self::Int(i) => i.to_string(),
        }
    }

    /// The text the transform reads from this value for an event id: the CSV field, or
    /// the JSON string or number (as `serde_json` writes it).
    fn id_text(&self, json: bool) -> String {
        match self {
            Self::Float(f, _) if json => {
                Number::from_f64(*f).map_or_else(String::new, |n| n.to_string())
            }
            other => other.text(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Self::Text(t) => Value::from(t.clone()),
            Self::Int(i) => Value::from(*i),
            Self::Float(f, _) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        }
    }
}

/// Writes the feed; returns what was written.
///
/// # Errors
/// A write error of `out`.
pub fn generate(mapping: &Mapping, spec: &Spec, out: &mut dyn Write) -> io::Result<Summary> {
    generate_to(mapping, spec, out, None)
}

/// [`generate`], and to `ids` one line per good row (a row the transform stages), in line
/// order: `<event_id>\t<source_line>\n`, the id exactly as the transform builds it.
///
/// # Errors
/// A write error of `out` or `ids`.
pub fn generate_to(
    mapping: &Mapping,
    spec: &Spec,
    out: &mut dyn Write,
    mut ids: Option<&mut dyn Write>,
) -> io::Result<Summary> {
    let mut rng = SplitMix64::new(spec.seed);
    let order = match &mapping.format {
        Format::Csv { columns, .. } if !columns.is_empty() => columns.clone(),
        _ => mapping.sources(),
    };
    let mut summary = Summary::default();
    let mut counting = Counting { out, bytes: 0 };
    let mut line = 0_u64;
    if let Format::Csv {
        dialect,
        header: true,
        ..
    } = &mapping.format
    {
        writeln!(counting, "{}", dialect.join(&order))?;
        line += 1;
    }
    let revisable = revisable(mapping);
    let mut last_good: Option<Vec<u8>> = None;
    for i in 0..spec.rows {
        let mut kind = choose(&mut rng, spec);
        if kind == Some(Reason::DuplicateKey) && last_good.is_none() {
            kind = None;
        }
        let mut values = good_values(mapping, &mut rng, i, id_base(spec.seed) + i + 1);
        line += 1;
        let line_bytes = match kind {
            Some(Reason::DuplicateKey) => last_good.clone().unwrap_or_default(),
            Some(kind) => bad_line(mapping, &order, &mut values, kind),
            None => {
                if spec.revision > 0 && revise(&revisable, &mut values, spec, i) {
                    summary.revised += 1;
                }
                if let Some(ids) = ids.as_deref_mut() {
                    writeln!(ids, "{}\t{line}", event_id(mapping, &values))?;
                }
                let rendered = render(mapping, &order, &values);
                last_good = Some(rendered.clone());
                rendered
            }
        };
        counting.write_all(&line_bytes)?;
        counting.write_all(b"\n")?;
        summary.rows += 1;
        match kind {
            Some(kind) => *summary.bad.entry(kind).or_default() += 1,
            None => summary.good += 1,
        }
    }
    summary.bytes = counting.bytes;
    Ok(summary)
}

/// The event id the transform builds from a good row's values (the mapping's template).
fn event_id(mapping: &Mapping, values: &BTreeMap<String, Option<Gen>>) -> String {
    let json = mapping.format == Format::Ndjson;
    let mut id = String::new();
    for part in &mapping.event_id {
        match part {
            Part::Text(text) => id.push_str(text),
            Part::Provider => id.push_str(&mapping.provider),
            Part::Field(name) => {
                if let Some(Some(value)) = values.get(name) {
                    id.push_str(&value.id_text(json));
                }
            }
        }
    }
    id
}

/// The columns a revision may change: player, odds, scores — each read from a source no
/// other column and no part of the event id reads (so the id and the rest stay).
fn revisable(mapping: &Mapping) -> Vec<ColumnSpec> {
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for column in &mapping.columns {
        *uses.entry(column.source.as_str()).or_default() += 1;
    }
    let in_id: BTreeSet<&str> = mapping
        .event_id
        .iter()
        .filter_map(|p| match p {
            Part::Field(f) => Some(f.as_str()),
            _ => None,
        })
        .collect();
    mapping
        .columns
        .iter()
        .filter(|c| {
            matches!(
                c.column,
                Column::Player
                    | Column::OddsHome
                    | Column::OddsDraw
                    | Column::OddsAway
                    | Column::ScoreHome
                    | Column::ScoreAway
            ) && uses.get(c.source.as_str()) == Some(&1)
                && !in_id.contains(c.source.as_str())
        })
        .cloned()
        .collect()
}

/// Revision `spec.revision` of good row `i`: with probability [`REVISED_SHARE`], one of
/// the `revisable` columns gets another valid value. Its own generator (from the seed, the
/// revision and the row), so the feed's rows, ids and bad rows stay those of revision 0.
/// Whether the row changed.
fn revise(
    revisable: &[ColumnSpec],
    values: &mut BTreeMap<String, Option<Gen>>,
    spec: &Spec,
    i: u64,
) -> bool {
    let mut rng = SplitMix64::new(
        spec.seed
            ^ spec.revision.wrapping_mul(0xA24B_AED4_963E_E407)
            ^ i.wrapping_mul(0x9FB2_1C65_1E98_DF25),
    );
    rng.next_u64();
    if revisable.is_empty() || !rng.chance(REVISED_SHARE) {
        return false;
    }
    let column = rng.pick(revisable);
    let current = values
        .get(&column.source)
        .and_then(Option::as_ref)
        .map(Gen::text);
    // another value than the current one: a step of 1..n-1 through the list from it
    let step = |rng: &mut SplitMix64, n: usize, at: Option<usize>| {
        let offset = usize::try_from(rng.below(n as u64 - 1)).unwrap_or(0) + 1;
        at.map_or(offset, |at| (at + offset) % n)
    };
    let value = match &column.kind {
        Kind::Odds(format) => {
            let at = ODDS.iter().position(|pair| {
                current.as_deref() == Some(odds_value(*format, *pair).text().as_str())
            });
            odds_value(*format, ODDS[step(&mut rng, ODDS.len(), at)])
        }
        Kind::Score => {
            let at = current.and_then(|c| c.parse::<usize>().ok());
            Gen::Int(i64::try_from(step(&mut rng, 6, at)).unwrap_or(0))
        }
        _ => {
            let at = PLAYERS.iter().position(|p| current.as_deref() == Some(*p));
            Gen::Text(PLAYERS[step(&mut rng, PLAYERS.len(), at)].to_owned())
        }
    };
    values.insert(column.source.clone(), Some(value));
    true
}

struct Counting<'a> {
    out: &'a mut dyn Write,
    bytes: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn choose(rng: &mut SplitMix64, spec: &Spec) -> Option<Reason> {
    let roll = rng.next_f64();
    let mut cumulative = 0.0;
    for (kind, fraction) in &spec.bad {
        cumulative += fraction;
        if roll < cumulative {
            return Some(*kind);
        }
    }
    None
}

/// Source field → value for a good row `i`.
/// Row numbers in ids a seed owns: a seed's feed numbers its rows from
/// `(seed mod 1,000,000) × 100,000,000 + 1`, so feeds of different seeds never share an event
/// id (only a `--revision` of the same seed re-delivers ids), as real providers' ids are unique.
const IDS_PER_SEED: u64 = 100_000_000;

/// The first row number (minus one) of `seed`'s ids.
///
/// ```text
/// id_base(0) = 0, id_base(7) = 700_000_000
/// ```
const fn id_base(seed: u64) -> u64 {
    (seed % 1_000_000) * IDS_PER_SEED
}

/// The values of good row `i`, whose numbered id fields are `number`.
fn good_values(
    mapping: &Mapping,
    rng: &mut SplitMix64,
    i: u64,
    number: u64,
) -> BTreeMap<String, Option<Gen>> {
    let mut values = BTreeMap::new();
    let json = mapping.format == Format::Ndjson;
    for spec in &mapping.columns {
        let optional = !spec.required;
        let value =
            match (&spec.kind, spec.column) {
                (Kind::Text, Column::MatchId) => Some(Gen::Text(format!("M-{:03}", rng.below(40)))),
                (Kind::Text, Column::Team) => (!optional || rng.chance(0.85))
                    .then(|| Gen::Text((*rng.pick(&TEAMS)).to_owned())),
                (Kind::Text, _) => (!optional || rng.chance(0.6))
                    .then(|| Gen::Text((*rng.pick(&PLAYERS)).to_owned())),
                (Kind::Enum { pairs, .. }, _) => Some(Gen::Text(rng.pick(pairs).0.clone())),
                (Kind::Time(format), _) => {
                    let offset = i64::try_from(i).unwrap_or(0) * 7_000
                        + i64::try_from(rng.below(1000)).unwrap_or(0);
                    let millis = BASE_MILLIS + offset;
                    Some(if format.is_epoch() && json {
                        Gen::Int(format.format(millis).parse().unwrap_or(millis))
                    } else {
                        Gen::Text(format.format(millis))
                    })
                }
                (Kind::Odds(format), _) => {
                    (!optional || rng.chance(0.7)).then(|| odds_value(*format, *rng.pick(&ODDS)))
                }
                (Kind::Score, _) => (!optional || rng.chance(0.8))
                    .then(|| Gen::Int(i64::try_from(rng.below(6)).unwrap_or(0))),
            };
        values.insert(spec.source.clone(), value);
    }
    for part in &mapping.event_id {
        if let Part::Field(name) = part {
            values
                .entry(name.clone())
                .or_insert_with(|| Some(Gen::Int(i64::try_from(number).unwrap_or(i64::MAX))));
        }
    }
    values
}

/// Odds `num/den` written as `format` reads them.
fn odds_value(format: OddsFormat, (num, den): (u32, u32)) -> Gen {
    let decimal = 1.0 + f64::from(num) / f64::from(den);
    match format {
        OddsFormat::Fractional if num == den => Gen::Text("evens".into()),
        OddsFormat::Fractional => Gen::Text(format!("{num}/{den}")),
        OddsFormat::Decimal => Gen::Float(decimal, format!("{decimal:.2}")),
    }
}

fn render(mapping: &Mapping, order: &[String], values: &BTreeMap<String, Option<Gen>>) -> Vec<u8> {
    match &mapping.format {
        Format::Csv { dialect, .. } => {
            let fields: Vec<String> = order
                .iter()
                .map(|name| {
                    values
                        .get(name)
                        .and_then(Option::as_ref)
                        .map(Gen::text)
                        .unwrap_or_default()
                })
                .collect();
            dialect.join(&fields).into_bytes()
        }
        Format::Ndjson => {
            let mut object = Map::new();
            for name in order {
                if let Some(Some(value)) = values.get(name) {
                    insert_path(&mut object, name, value.json());
                }
            }
            Value::Object(object).to_string().into_bytes()
        }
    }
}

fn insert_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = object
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = child {
                insert_path(map, rest, value);
            }
        }
    }
}

fn source_of(mapping: &Mapping, column: Column) -> String {
    mapping
        .column(column)
        .map(|c| c.source.clone())
        .unwrap_or_default()
}

/// Stands for the invalid UTF-8 bytes until the line is rendered.
const MARK: &str = "~~INVALID-UTF8~~";

/// A row made bad in exactly the way `kind` says.
fn bad_line(
    mapping: &Mapping,
    order: &[String],
    values: &mut BTreeMap<String, Option<Gen>>,
    kind: Reason,
) -> Vec<u8> {
    let match_id = source_of(mapping, Column::MatchId);
    let occurred = source_of(mapping, Column::OccurredAt);
    match kind {
        Reason::BadQuoting => {
            values.insert(match_id, Some(Gen::Text("M-\u{2}x".into())));
        }
        Reason::WrongType => {
            values.insert(occurred, Some(Gen::Text("yesterday".into())));
        }
        Reason::MissingField => {
            values.insert(match_id, None);
        }
        Reason::InvalidUtf8 => {
            values.insert(match_id, Some(Gen::Text(format!("M-{MARK}"))));
        }
        Reason::TimestampOutOfRange => {
            let too_early = mapping.valid_from - 86_400_000;
            let value = match mapping.column(Column::OccurredAt).map(|c| &c.kind) {
                Some(Kind::Time(format))
                    if format.is_epoch() && mapping.format == Format::Ndjson =>
                {
                    Gen::Int(format.format(too_early).parse().unwrap_or(0))
                }
                Some(Kind::Time(format)) => Gen::Text(format.format(too_early)),
                _ => Gen::Text(String::new()),
            };
            values.insert(occurred, Some(value));
        }
        Reason::UnknownEnum => {
            values.insert(
                source_of(mapping, Column::EventType),
                Some(Gen::Text("XYZZY".into())),
            );
        }
        _ => {}
    }
    let mut line = render(mapping, order, values);
    match kind {
        Reason::BadQuoting => replace(&mut line, "M-\u{2}x".as_bytes(), b"M-\"x"),
        Reason::InvalidUtf8 => replace(&mut line, MARK.as_bytes(), b"\xff\xfe"),
        Reason::BadJson => {
            line.pop();
        }
        Reason::WrongFieldCount => {
            if let Format::Csv { dialect, .. } = &mapping.format {
                let cut = line
                    .iter()
                    .rposition(|b| *b == dialect.delimiter)
                    .unwrap_or(0);
                line.truncate(cut);
            }
        }
        _ => {}
    }
    line
}

fn replace(line: &mut Vec<u8>, from: &[u8], to: &[u8]) {
    if let Some(at) = line.windows(from.len()).position(|w| w == from) {
        line.splice(at..at + from.len(), to.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::mapping::Mappings;
    use crate::transform::object;

    fn spec(rows: u64, seed: u64, kinds: &[Reason]) -> Spec {
        Spec {
            rows,
            seed,
            bad: kinds.iter().map(|k| (*k, 0.03)).collect(),
            revision: 0,
        }
    }

    /// Every embedded provider: a new mapping file is covered with no test edit.
    fn providers() -> Vec<String> {
        Mappings::embedded().unwrap().providers()
    }

    /// The kinds of bad rows the provider's format has.
    fn kinds_for(provider: &str) -> Vec<Reason> {
        let mapping = Mappings::embedded().unwrap().get(provider).unwrap();
        let csv = matches!(mapping.format, Format::Csv { .. });
        BAD_KINDS
            .into_iter()
            .filter(|k| match k {
                Reason::BadQuoting | Reason::WrongFieldCount => csv,
                Reason::BadJson => !csv,
                _ => true,
            })
            .collect()
    }

    #[test]
    fn splitmix_is_stable() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        let f = rng.next_f64();
        assert!((0.0..1.0).contains(&f));
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let mapping = Mappings::embedded().unwrap().get("acme").unwrap();
        let run = |seed| {
            let mut out = Vec::new();
            generate(&mapping, &spec(500, seed, &kinds_for("acme")), &mut out).unwrap();
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn the_transform_quarantines_exactly_what_was_generated() {
        let mappings = Mappings::embedded().unwrap();
        for provider in &providers() {
            let mapping = mappings.get(provider).unwrap();
            let spec = spec(3000, 42, &kinds_for(provider));
            validate(&mapping, &spec).unwrap();
            let mut out = Vec::new();
            let summary = generate(&mapping, &spec, &mut out).unwrap();
            assert_eq!(summary.rows, 3000);
            assert!(summary.bad.len() >= 7, "{provider}: {:?}", summary.bad);
            let dir = tempfile::tempdir().unwrap();
            let (s, q) = (dir.path().join("s"), dir.path().join("q"));
            let key = format!("raw/{provider}/f");
            let stats =
                object::transform(std::io::Cursor::new(out), &key, &mapping, &s, &q).unwrap();
            assert_eq!(stats.rows_in, summary.rows, "{provider}");
            assert_eq!(stats.rows_out, summary.good, "{provider}");
            for reason in Reason::ALL {
                let want = summary.bad.get(&reason).copied().unwrap_or(0);
                let got = stats.quarantined[reason.index()];
                assert_eq!(
                    got,
                    want,
                    "{provider} {}: {}",
                    reason.as_str(),
                    std::fs::read_to_string(&q)
                        .unwrap()
                        .lines()
                        .find(|l| !l.contains(reason.as_str()))
                        .unwrap_or("")
                );
            }
        }
    }

    /// A generated feed reads the same with the CSV options on: one line per row, no
    /// padding, a stray quote still bad for its line alone.
    #[test]
    fn csv_options_read_a_generated_feed_the_same() {
        let mut checked = 0;
        for provider in &providers() {
            let mut mapping = Mappings::embedded()
                .unwrap()
                .get(provider)
                .unwrap()
                .as_ref()
                .clone();
            let Format::Csv {
                dialect,
                multiline,
                max_record_bytes,
                ..
            } = &mut mapping.format
            else {
                continue;
            };
            dialect.trim = true;
            *multiline = true;
            *max_record_bytes = 512;
            let spec = spec(3000, 17, &kinds_for(provider));
            let mut out = Vec::new();
            let summary = generate(&mapping, &spec, &mut out).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let (s, q) = (dir.path().join("s"), dir.path().join("q"));
            let key = format!("raw/{provider}/f");
            let stats =
                object::transform(std::io::Cursor::new(out), &key, &mapping, &s, &q).unwrap();
            assert_eq!(
                (stats.rows_in, stats.rows_out),
                (summary.rows, summary.good)
            );
            for reason in Reason::ALL {
                let want = summary.bad.get(&reason).copied().unwrap_or(0);
                assert_eq!(
                    stats.quarantined[reason.index()],
                    want,
                    "{provider} {reason:?}"
                );
            }
            checked += 1;
        }
        assert!(checked >= 2, "acme and cobra at least");
    }

    #[test]
    fn kinds_must_fit_the_format() {
        let mappings = Mappings::embedded().unwrap();
        let betco = mappings.get("betco").unwrap();
        assert!(validate(&betco, &spec(1, 1, &[Reason::BadQuoting])).is_err());
        let acme = mappings.get("acme").unwrap();
        assert!(validate(&acme, &spec(1, 1, &[Reason::BadJson])).is_err());
        assert!(validate(&acme, &spec(1, 1, &[Reason::LineTooLong])).is_err());
        let too_much = Spec {
            rows: 1,
            seed: 1,
            bad: [(Reason::WrongType, 0.6), (Reason::MissingField, 0.6)].into(),
            revision: 0,
        };
        assert!(validate(&acme, &too_much).is_err());
    }

    /// Generates `spec`'s feed with its ids file, transforms it; returns the ids file's
    /// lines, the staged events and the transform's stats.
    fn generate_and_transform(
        provider: &str,
        spec: &Spec,
    ) -> (
        Vec<(String, u64)>,
        Vec<crate::transform::Event>,
        object::Stats,
    ) {
        let mapping = Mappings::embedded().unwrap().get(provider).unwrap();
        let (mut out, mut ids) = (Vec::new(), Vec::new());
        let summary = generate_to(&mapping, spec, &mut out, Some(&mut ids)).unwrap();
        let mut plain = Vec::new();
        assert_eq!(generate(&mapping, spec, &mut plain).unwrap(), summary);
        assert!(plain == out, "the ids file changes nothing in the feed");
        let dir = tempfile::tempdir().unwrap();
        let (s, q) = (dir.path().join("s"), dir.path().join("q"));
        let key = format!("raw/{provider}/f");
        let stats = object::transform(std::io::Cursor::new(out), &key, &mapping, &s, &q).unwrap();
        let ids = String::from_utf8(ids)
            .unwrap()
            .lines()
            .map(|l| {
                let (id, line) = l.split_once('\t').unwrap();
                (id.to_owned(), line.parse().unwrap())
            })
            .collect();
        (ids, crate::testing::staged_events(&s), stats)
    }

    #[test]
    fn the_ids_file_lists_exactly_the_staged_rows() {
        for provider in &providers() {
            let spec = spec(3000, 9, &kinds_for(provider));
            let (ids, events, stats) = generate_and_transform(provider, &spec);
            let staged: Vec<(String, u64)> = events
                .into_iter()
                .map(|e| (e.event_id, e.source_line))
                .collect();
            assert_eq!(staged.len() as u64, stats.rows_out, "{provider}");
            assert!(stats.rows_quarantined() > 100, "{provider}: {stats:?}");
            assert!(ids == staged, "{provider}: ids file and staged rows differ");
        }
    }

    #[test]
    fn feeds_of_other_seeds_share_no_event_id() {
        for provider in &providers() {
            let ids = |seed| -> std::collections::HashSet<String> {
                let (ids, _, _) = generate_and_transform(provider, &spec(2000, seed, &[]));
                ids.into_iter().map(|(id, _)| id).collect()
            };
            let (one, two) = (ids(1), ids(2));
            assert_eq!(one.len(), 2000, "{provider}");
            assert!(one.is_disjoint(&two), "{provider}: seeds 1 and 2 share ids");
        }
    }

    #[test]
    fn a_revision_changes_values_of_a_quarter_of_the_good_rows_only() {
        for provider in &providers() {
            let base = spec(4000, 3, &kinds_for(provider));
            let (ids0, events0, stats0) = generate_and_transform(provider, &base);
            let mapping = Mappings::embedded().unwrap().get(provider).unwrap();
            let summary0 = generate(&mapping, &base, &mut io::sink()).unwrap();
            assert_eq!(summary0.revised, 0);
            for revision in [1, 2] {
                let spec = Spec {
                    revision,
                    ..base.clone()
                };
                let (ids, events, stats) = generate_and_transform(provider, &spec);
                let case = format!("{provider} revision {revision}");
                assert!(ids == ids0, "{case}: other ids");
                assert_eq!(stats, stats0, "{case}: other counts");
                let summary = generate(&mapping, &spec, &mut io::sink()).unwrap();
                let changed = events
                    .iter()
                    .zip(&events0)
                    .filter(|(a, b)| {
                        assert_eq!(
                            (&a.event_id, a.source_line, &a.match_id, a.occurred_at),
                            (&b.event_id, b.source_line, &b.match_id, b.occurred_at),
                            "{case}"
                        );
                        a != b
                    })
                    .count() as u64;
                assert_eq!(
                    changed, summary.revised,
                    "{case}: every revised row differs"
                );
                let rows = events.len() as u64;
                assert!(
                    changed * 10 > rows * 2 && changed * 10 < rows * 3,
                    "{case}: {changed} of {rows}"
                );
            }
        }
    }
}
