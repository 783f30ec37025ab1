//! Property tests of the normaliser: many generated cases per property, drawn with the
//! crate's own `SplitMix64` over fixed seeds (deterministic, no extra dependency). A
//! failure names the seed, so a case can be replayed by running only that seed.

use std::collections::BTreeMap;
use std::io::Cursor;

use rstask::generate::{self, BAD_KINDS, Spec, SplitMix64};
use rstask::transform::csv::{Dialect, RecordRules};
use rstask::transform::lines::{self, Block, Blocks, Lines};
use rstask::transform::mapping::{Column, Format, Kind, Mapping, Mappings};
use rstask::transform::object::{self, Stats};
use rstask::transform::record::Bound;
use rstask::transform::values::{OddsFormat, TimeFormat};
use rstask::transform::{Reason, mapping};

/// Every embedded provider (`mappings/*.toml`): a new mapping file is covered with no edit.
fn providers() -> Vec<String> {
    Mappings::embedded().unwrap().providers()
}

fn mapping(provider: &str) -> std::sync::Arc<Mapping> {
    Mappings::embedded().unwrap().get(provider).unwrap()
}

fn is_csv(mapping: &Mapping) -> bool {
    matches!(mapping.format, Format::Csv { .. })
}

/// A random bad-row mix valid for the mapping's format: a few kinds, fractions summing to
/// at most 0.9.
fn random_mix(rng: &mut SplitMix64, mapping: &Mapping) -> BTreeMap<Reason, f64> {
    let csv = is_csv(mapping);
    let kinds: Vec<Reason> = BAD_KINDS
        .into_iter()
        .filter(|k| match k {
            Reason::BadQuoting | Reason::WrongFieldCount => csv,
            Reason::BadJson => !csv,
            _ => true,
        })
        .collect();
    let mut bad = BTreeMap::new();
    let mut budget = 0.9 * rng.next_f64();
    for kind in kinds {
        if rng.chance(0.5) {
            let fraction = budget * rng.next_f64();
            budget -= fraction;
            bad.insert(kind, fraction);
        }
    }
    bad
}

fn generate_feed(mapping: &Mapping, spec: &Spec) -> (Vec<u8>, generate::Summary) {
    let mut bytes = Vec::new();
    let summary = generate::generate(mapping, spec, &mut bytes).unwrap();
    (bytes, summary)
}

fn transform_bytes(
    mapping: &Mapping,
    key: &str,
    bytes: Vec<u8>,
) -> (Stats, Vec<serde_json::Value>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (staged, quarantine) = (dir.path().join("s.parquet"), dir.path().join("q.ndjson"));
    let stats = object::transform(Cursor::new(bytes), key, mapping, &staged, &quarantine)
        .unwrap_or_else(|e| panic!("{key}: {e:?}"));
    let rejects = std::fs::read_to_string(&quarantine)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let file = std::fs::File::open(&staged).unwrap();
    let rows = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .metadata()
        .file_metadata()
        .num_rows();
    (stats, rejects, u64::try_from(rows).unwrap())
}

/// For any seed and bad-row mix of any provider: `rows_in == rows_out + quarantined`, each
/// quarantined row has exactly one known reason and its own line, every count is exactly
/// what the generator wrote, and the Parquet file holds `rows_out` rows.
#[test]
fn any_seed_and_mix_balances_and_counts_exactly() {
    for provider in &providers() {
        let mapping = mapping(provider);
        for seed in 0..24_u64 {
            let mut rng = SplitMix64::new(seed ^ 0xC0FF_EE00);
            let spec = Spec {
                rows: 1 + rng.below(400),
                seed,
                bad: random_mix(&mut rng, &mapping),
                revision: 0,
            };
            let (bytes, summary) = generate_feed(&mapping, &spec);
            let key = format!("raw/{provider}/seed-{seed}");
            let (stats, rejects, parquet_rows) = transform_bytes(&mapping, &key, bytes);
            let case = format!("{provider} seed {seed} mix {:?}", spec.bad);
            assert_eq!(stats.rows_in, summary.rows, "{case}");
            assert_eq!(
                stats.rows_in,
                stats.rows_out + stats.rows_quarantined(),
                "{case}"
            );
            assert_eq!(stats.rows_out, summary.good, "{case}");
            assert_eq!(parquet_rows, stats.rows_out, "{case}");
            for reason in Reason::ALL {
                let want = summary.bad.get(&reason).copied().unwrap_or(0);
                assert_eq!(stats.quarantined[reason.index()], want, "{case} {reason:?}");
            }
            assert_eq!(rejects.len() as u64, stats.rows_quarantined(), "{case}");
            let mut last_line = 0;
            for reject in &rejects {
                let reason = reject["reason"].as_str().unwrap();
                assert!(Reason::from_name(reason).is_some(), "{case}: {reason}");
                let line = reject["line"].as_u64().unwrap();
                assert!(line > last_line, "{case}: one reject per line");
                last_line = line;
            }
        }
    }
}

/// Any generated row, good or made bad in one way, and any random mutation of it: the
/// bound mapping returns an event or one rejection (never panics), a good row always an
/// event with a canonical type inside the valid window, a bad one the reason it was made
/// bad with.
#[test]
fn every_row_is_an_event_or_exactly_one_reason() {
    for provider in &providers() {
        let mapping = mapping(provider);
        for seed in 0..40_u64 {
            let mut rng = SplitMix64::new(seed.wrapping_mul(0x9E37_79B9));
            // one kind (or none) for the whole feed, so each row's expected fate is known
            let kinds: Vec<Reason> = BAD_KINDS
                .into_iter()
                .filter(|k| *k != Reason::DuplicateKey)
                .filter(|k| match k {
                    Reason::BadQuoting | Reason::WrongFieldCount => is_csv(&mapping),
                    Reason::BadJson => !is_csv(&mapping),
                    _ => true,
                })
                .collect();
            let kind = rng.chance(0.8).then(|| *rng.pick(&kinds));
            let bad = kind.map(|k| (k, 1.0)).into_iter().collect();
            let spec = Spec {
                rows: 50,
                seed,
                bad,
                revision: 0,
            };
            let (bytes, summary) = generate_feed(&mapping, &spec);
            assert_eq!(summary.rows, 50);
            let mut lines = Lines::new(Cursor::new(bytes), 1 << 20);
            let needs_header = matches!(mapping.format, Format::Csv { header: true, .. });
            let (mut bound, mut fuzz) = if needs_header {
                (None, None)
            } else {
                (
                    Some(Bound::new(&mapping).unwrap()),
                    Some(Bound::new(&mapping).unwrap()),
                )
            };
            while let Some(line) = lines.next_line().unwrap() {
                let Ok(text) = std::str::from_utf8(line.bytes) else {
                    assert_eq!(kind, Some(Reason::InvalidUtf8), "{provider} seed {seed}");
                    continue;
                };
                let (Some(bound), Some(fuzz)) = (&mut bound, &mut fuzz) else {
                    bound = Some(Bound::with_header(&mapping, text).unwrap());
                    fuzz = Some(Bound::with_header(&mapping, text).unwrap());
                    continue;
                };
                check_row(bound, &mapping, line.number, text, kind, provider, seed);
                // a mutated copy: flip, drop or insert a few bytes; must not panic
                let mut mutated = text.as_bytes().to_vec();
                for _ in 0..=rng.below(3) {
                    let at = usize::try_from(rng.below(mutated.len() as u64 + 1)).unwrap();
                    match rng.below(3) {
                        0 if at < mutated.len() => mutated[at] = *rng.pick(b"\",;{}:[]x9/ "),
                        1 if at < mutated.len() => {
                            mutated.remove(at);
                        }
                        _ => mutated.insert(at, *rng.pick(b"\",;{}0.-")),
                    }
                }
                if let Ok(text) = std::str::from_utf8(&mutated) {
                    let _ = fuzz.row(line.number, text);
                }
            }
        }
    }
}

fn check_row(
    bound: &mut Bound<'_>,
    mapping: &Mapping,
    number: u64,
    text: &str,
    kind: Option<Reason>,
    provider: &str,
    seed: u64,
) {
    match (bound.row(number, text), kind) {
        (Ok(event), None) => {
            assert!(
                mapping::EVENT_TYPES.contains(&event.event_type.as_str()),
                "{provider} seed {seed}: {event:?}"
            );
            assert!(
                (mapping.valid_from..mapping.valid_until).contains(&event.occurred_at),
                "{provider} seed {seed}: {event:?}"
            );
            assert!(!event.event_id.is_empty() && !event.match_id.is_empty());
            assert!(event.odds.iter().flatten().all(|o| *o >= 1.0));
        }
        (Err(reject), Some(kind)) => {
            assert_eq!(reject.reason, kind, "{provider} seed {seed}: {text}");
        }
        (got, want) => panic!("{provider} seed {seed} line {number}: {got:?}, expected {want:?}"),
    }
}

/// Fractional odds: `n/d` (any `d` up to 100) parses to `1 + n/d`, its formatting parses
/// back to the same decimal, and formatting a parsed value is stable.
#[test]
fn fractional_odds_round_trip() {
    let mut rng = SplitMix64::new(42);
    for _ in 0..20_000 {
        let num = rng.below(500);
        let den = 1 + rng.below(100);
        let text = format!("{num}/{den}");
        #[allow(clippy::cast_precision_loss)]
        let want = 1.0 + num as f64 / den as f64;
        let decimal = OddsFormat::Fractional.parse(&text).unwrap();
        assert!((decimal - want).abs() < 1e-12, "{text}");
        let written = OddsFormat::Fractional.format(decimal);
        let again = OddsFormat::Fractional.parse(&written).unwrap();
        assert!((again - decimal).abs() < 1e-9, "{text} → {written}");
        assert_eq!(OddsFormat::Fractional.format(again), written, "{text}");
        // decimal odds: two places survive
        let cents = 100 + rng.below(100_000);
        #[allow(clippy::cast_precision_loss)]
        let dec = cents as f64 / 100.0;
        let text = OddsFormat::Decimal.format(dec);
        assert!((OddsFormat::Decimal.parse(&text).unwrap() - dec).abs() < 1e-9);
    }
    for bad in ["", "/", "1/0", "-1/2", "x/2", "2/", "1.5/2", "1/2/3"] {
        assert!(OddsFormat::Fractional.parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(OddsFormat::Fractional.parse("EVENS"), Ok(2.0));
}

/// Any whole-second instant in the default window survives format → parse in every
/// timestamp format the mappings use; local time in a DST zone is exact except in the
/// repeated hour when DST ends, where the earlier instant is taken (one hour before).
#[test]
fn timestamps_in_window_survive_time_zone_conversion() {
    let formats = [
        TimeFormat::parse("%d/%m/%Y %H:%M:%S", Some("Europe/London")).unwrap(),
        TimeFormat::parse("%d/%m/%Y %H:%M:%S", Some("America/New_York")).unwrap(),
        TimeFormat::parse("%Y-%m-%d %H:%M:%S", Some("+05:30")).unwrap(),
        TimeFormat::parse("%Y-%m-%d %H:%M:%S", Some("UTC")).unwrap(),
        TimeFormat::parse("%Y-%m-%dT%H:%M:%S%z", None).unwrap(),
        TimeFormat::Rfc3339,
        TimeFormat::EpochMillis,
        TimeFormat::EpochSeconds,
    ];
    let acme = mapping("acme");
    let (from, until) = (acme.valid_from, acme.valid_until);
    let mut rng = SplitMix64::new(7);
    let mut ambiguous = 0;
    for i in 0..40_000_u64 {
        let span = u64::try_from(until - from).unwrap() / 1000;
        let mut millis = from + i64::try_from(rng.below(span)).unwrap() * 1000;
        if i % 50 == 0 {
            // land near a DST change: last Sunday of March / October, around 01:00 UTC
            let year = 2000 + i64::try_from(rng.below(99)).unwrap();
            let month = if rng.chance(0.5) { 3 } else { 10 };
            let day =
                chrono::NaiveDate::from_ymd_opt(i32::try_from(year).unwrap(), month, 31).unwrap();
            let back = i64::from(chrono::Datelike::weekday(&day).num_days_from_sunday());
            let sunday = day - chrono::Duration::days(back);
            let base = sunday
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis();
            millis = base + i64::try_from(rng.below(4 * 3600)).unwrap() * 1000;
        }
        for format in &formats {
            let text = format.format(millis);
            let parsed = format
                .parse_text(&text)
                .unwrap_or_else(|e| panic!("{format:?} {millis} {text}: {e}"));
            if parsed != millis {
                assert!(
                    matches!(format, TimeFormat::Pattern { zone: Some(_), .. }),
                    "{format:?} {millis} {text} → {parsed}"
                );
                assert_eq!(parsed, millis - 3_600_000, "{format:?} {text}");
                assert_eq!(format.format(parsed), text, "the same local time");
                ambiguous += 1;
            }
        }
    }
    assert!(ambiguous > 0, "the DST-end hour was exercised");
    // the mappings' own timestamp columns round-trip too
    for provider in &providers() {
        let m = mapping(provider);
        let Kind::Time(format) = &m.column(Column::OccurredAt).unwrap().kind else {
            panic!("{provider}: occurred_at is not a timestamp");
        };
        let millis = 1_795_262_400_000;
        assert_eq!(format.parse_text(&format.format(millis)), Ok(millis));
    }
}

/// Arbitrary bytes never make the line reader, the gzip opener, the CSV splitter or a
/// bound mapping panic; a split that succeeds re-joins to fields that split the same.
#[test]
fn arbitrary_bytes_never_panic() {
    const ALPHABET: &[u8] = b"\"\",,;;  ab1\r\n\t{}[]:.-/\xc3\xa9\xff\x1f\x8b\x00";
    let dialects = [
        Dialect::default(),
        Dialect {
            delimiter: b';',
            ..Dialect::default()
        },
        Dialect {
            delimiter: b'\t',
            quote: b'\'',
            trim: true,
        },
    ];
    let acme = mapping("acme");
    let betco = mapping("betco");
    let header = "seq,fixture,event,time_local,team,player,price_home,price_draw,price_away,goals_home,goals_away";
    let mut csv_row = Bound::with_header(&acme, header).unwrap();
    let mut json_row = Bound::new(&betco).unwrap();
    let mut rng = SplitMix64::new(1);
    let mut spanning = 0;
    for case in 0..30_000_u64 {
        let len = usize::try_from(rng.below(if case % 100 == 0 { 4000 } else { 80 })).unwrap();
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if rng.chance(0.8) {
                    *rng.pick(ALPHABET)
                } else {
                    u8::try_from(rng.below(256)).unwrap()
                }
            })
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        for dialect in &dialects {
            if let Ok(fields) = dialect.split(&text) {
                let joined = dialect.join(&fields);
                let again = dialect
                    .split(&joined)
                    .unwrap_or_else(|e| panic!("case {case}: {joined:?} does not split: {e:?}"));
                assert_eq!(again, fields, "case {case}");
            }
        }
        let _ = csv_row.row(case, &text);
        let _ = json_row.row(case, &text);
        // records spanning lines: numbered in order, inside the block; one that spans
        // lines and was not given up has no quote out of place
        for dialect in &dialects {
            let rules = RecordRules {
                dialect: *dialect,
                max_record_bytes: 1 + usize::try_from(rng.below(64)).unwrap(),
            };
            let target = 1 + usize::try_from(rng.below(100)).unwrap();
            let mut blocks =
                Blocks::new(Cursor::new(bytes.clone()), 1, target, 200, 10).with_records(rules);
            let mut block = Block::default();
            let mut line = 1;
            while blocks.next_block(&mut block).unwrap() {
                assert_eq!(block.first_line, line, "case {case}");
                for record in &block.records {
                    assert!(record.line >= line && record.end <= block.data.len());
                    line = record.line;
                    let content = &block.data[record.start..record.end];
                    let content = content.strip_suffix(b"\r").unwrap_or(content);
                    if record.unclosed.is_none() && content.contains(&b'\n') {
                        spanning += 1;
                        let text = String::from_utf8_lossy(content);
                        if let Err(e) = dialect.split(&text) {
                            assert_ne!(e.reason, Reason::BadQuoting, "case {case}: {text:?}");
                        }
                    }
                }
                line = block.first_line + block.lines;
            }
        }
        // line reader with a small limit: every byte but line endings is accounted for
        let limit = 1 + usize::try_from(rng.below(64)).unwrap();
        let mut reader = Lines::new(Cursor::new(bytes.clone()), limit);
        let mut seen = 0_u64;
        while let Some(line) = reader.next_line().unwrap() {
            seen += 1;
            assert_eq!(line.number, seen);
            assert!(line.bytes.len() <= limit);
        }
        assert!(seen <= bytes.split(|b| *b == b'\n').count() as u64);
        // gzip-looking bytes: an error, never a panic
        let mut gz = lines::GZIP_MAGIC.to_vec();
        gz.extend_from_slice(&bytes);
        if let Ok(opened) = lines::open(Cursor::new(gz), "x.gz") {
            let mut all = Lines::new(opened.reader, 1 << 20);
            while let Ok(Some(_)) = all.next_line() {}
        }
    }
    assert!(
        spanning > 100,
        "records spanning lines were exercised: {spanning}"
    );
}
