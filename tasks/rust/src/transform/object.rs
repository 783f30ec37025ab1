//! One raw object, streamed: lines → events (Parquet file) and rejects (NDJSON file).

use std::io::{self, Read};
use std::path::Path;

use super::Reason;
use super::lines::{self, Lines};
use super::mapping::{Format, Mapping};
use super::output::{EventWriter, QuarantineWriter};
use super::record::Bound;

/// Longest line kept in memory; longer ones are quarantined as [`Reason::LineTooLong`].
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// How much of an over-long line the quarantine keeps in `raw`.
const TOO_LONG_RAW_BYTES: usize = 1024;

/// What one object gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Data rows read (not the header, not blank lines).
    pub rows_in: u64,
    /// Events written.
    pub rows_out: u64,
    /// Rows quarantined, per [`Reason::index`].
    pub quarantined: [u64; Reason::ALL.len()],
    /// Whether the object was gzip.
    pub gzip: bool,
}

impl Stats {
    /// Rows quarantined, all reasons.
    #[must_use]
    pub fn rows_quarantined(&self) -> u64 {
        self.quarantined.iter().sum()
    }
}

/// An error from the object's byte source (S3), as opposed to its content: carried inside
/// an [`io::Error`] through the decompressor and classified by the caller.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SourceError(#[from] pub anyhow::Error);

/// Why an object could not be transformed.
#[derive(Debug)]
pub enum Failure {
    /// The object itself is unusable (truncated or corrupt gzip, bad header): permanent
    /// for this object; `reason` is machine-readable.
    Object {
        /// `corrupt_gzip`, `unreadable`, `bad_header`.
        reason: &'static str,
        /// What exactly.
        detail: String,
    },
    /// Reading the bytes failed (S3, network): classified by the caller.
    Source(anyhow::Error),
    /// Writing the local files failed.
    Local(anyhow::Error),
}

/// Transforms the bytes of the object `key` with `mapping` into `staged` (Parquet) and
/// `quarantine` (NDJSON, possibly empty).
///
/// # Errors
/// A [`Failure`]; the output files are then incomplete and must not be uploaded.
pub fn transform<R: Read + Send + 'static>(
    raw: R,
    key: &str,
    mapping: &Mapping,
    staged: &Path,
    quarantine: &Path,
) -> Result<Stats, Failure> {
    let opened = lines::open(raw, key).map_err(|e| read_failure(e, lines::gz_name(key)))?;
    let gzip = opened.gzip;
    let mut lines = Lines::new(opened.reader, MAX_LINE_BYTES);
    let mut events = EventWriter::create(staged).map_err(Failure::Local)?;
    let mut rejects = QuarantineWriter::create(quarantine).map_err(Failure::Local)?;
    let mut stats = Stats {
        gzip,
        ..Stats::default()
    };

    let header_needed = matches!(mapping.format, Format::Csv { header: true, .. });
    let mut bound = if header_needed {
        None
    } else {
        Some(Bound::new(mapping).map_err(|e| Failure::Object {
            reason: "bad_mapping",
            detail: e,
        })?)
    };
    loop {
        let line = match lines.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => return Err(read_failure(e, gzip)),
        };
        let Some(bound) = &mut bound else {
            {
                let header = std::str::from_utf8(line.bytes)
                    .ok()
                    .filter(|_| !line.truncated)
                    .ok_or_else(|| Failure::Object {
                        reason: "bad_header",
                        detail: "the header line is not UTF-8 or too long".into(),
                    })?;
                bound = Some(Bound::with_header(mapping, header).map_err(|detail| {
                    Failure::Object {
                        reason: "bad_header",
                        detail,
                    }
                })?);
                continue;
            }
        };
        if !line.truncated && line.bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        stats.rows_in += 1;
        let outcome = if line.truncated {
            let shown = &line.bytes[..line.bytes.len().min(TOO_LONG_RAW_BYTES)];
            Err((
                super::Reject::new(
                    Reason::LineTooLong,
                    format!("line longer than {MAX_LINE_BYTES} bytes"),
                ),
                format!("{}…", String::from_utf8_lossy(shown)),
            ))
        } else {
            match std::str::from_utf8(line.bytes) {
                Err(e) => Err((
                    super::Reject::new(
                        Reason::InvalidUtf8,
                        format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                    ),
                    String::from_utf8_lossy(line.bytes).into_owned(),
                )),
                Ok(text) => bound
                    .row(line.number, text)
                    .map_err(|r| (r, text.to_owned())),
            }
        };
        match outcome {
            Ok(event) => events.push(&event).map_err(Failure::Local)?,
            Err((reject, raw)) => {
                stats.quarantined[reject.reason.index()] += 1;
                rejects
                    .push(line.number, reject.reason, &reject.detail, &raw)
                    .map_err(Failure::Local)?;
            }
        }
    }
    stats.rows_out = events.finish().map_err(Failure::Local)?;
    let written = rejects.finish().map_err(Failure::Local)?;
    debug_assert_eq!(written, stats.rows_quarantined());
    Ok(stats)
}

fn read_failure(error: io::Error, gzip: bool) -> Failure {
    if error
        .get_ref()
        .is_some_and(<dyn std::error::Error + Send + Sync>::is::<SourceError>)
    {
        let inner = error.into_inner().map_or_else(
            || anyhow::anyhow!("source read failed"),
            |e| match e.downcast::<SourceError>() {
                Ok(source) => source.0,
                Err(other) => anyhow::anyhow!(other),
            },
        );
        return Failure::Source(inner);
    }
    let (reason, what) = if gzip || error.kind() == io::ErrorKind::InvalidData {
        ("corrupt_gzip", "gzip stream")
    } else {
        ("unreadable", "object")
    };
    let detail = if error.kind() == io::ErrorKind::UnexpectedEof {
        format!("truncated {what}: {error}")
    } else {
        format!("{what}: {error}")
    };
    Failure::Object { reason, detail }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;
    use crate::transform::mapping::Mappings;

    struct Out {
        _dir: tempfile::TempDir,
        result: Result<Stats, Failure>,
        quarantine: Vec<serde_json::Value>,
    }

    fn run(provider: &str, key: &str, bytes: Vec<u8>) -> Out {
        let mapping = Mappings::embedded().unwrap().get(provider).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (s, q) = (dir.path().join("s"), dir.path().join("q"));
        let result = transform(io::Cursor::new(bytes), key, &mapping, &s, &q);
        let quarantine = std::fs::read_to_string(&q)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        Out {
            _dir: dir,
            result,
            quarantine,
        }
    }

    const HEADER: &str = "seq,fixture,event,time_local,team,player,price_home,price_draw,price_away,goals_home,goals_away\n";

    #[test]
    fn counts_every_row_and_quarantines_with_line_numbers() {
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(b"1,F,GOAL,01/07/2026 15:00:00,,,,,,,\r\n");
        text.extend_from_slice(b"\n");
        text.extend_from_slice(b"2,F,GOAL,01/07/2026 15:00:00,\xff\xfe,,,,,,\n");
        text.extend_from_slice(b"1,F,GOAL,01/07/2026 15:00:00,,,,,,,\n");
        text.extend_from_slice(
            format!(
                "3,F,GOAL,01/07/2026 15:00:00,{},,,,,,\n",
                "x".repeat(MAX_LINE_BYTES)
            )
            .as_bytes(),
        );
        text.extend_from_slice(b"4,F,GOAL,01/07/2026 15:00:00,,,,,,,");
        let out = run("acme", "raw/acme/a.csv", text);
        let stats = out.result.unwrap();
        assert_eq!(
            (stats.rows_in, stats.rows_out, stats.rows_quarantined()),
            (5, 2, 3)
        );
        let got: Vec<(u64, &str)> = out
            .quarantine
            .iter()
            .map(|q| (q["line"].as_u64().unwrap(), q["reason"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (4, "invalid_utf8"),
                (5, "duplicate_key"),
                (6, "line_too_long")
            ]
        );
        assert_eq!(
            out.quarantine[0]["raw"],
            "2,F,GOAL,01/07/2026 15:00:00,\u{fffd}\u{fffd},,,,,,"
        );
        assert!(out.quarantine[2]["raw"].as_str().unwrap().len() < 2000);
    }

    #[test]
    fn gzip_plain_and_empty_objects() {
        let body = format!("{HEADER}1,F,FT,01/07/2026 15:00:00,,,,,,,\n");
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(body.as_bytes()).unwrap();
        let out = run("acme", "raw/acme/a.csv.gz", gz.finish().unwrap());
        let stats = out.result.unwrap();
        assert!(stats.gzip);
        assert_eq!(stats.rows_out, 1);
        let empty = run("acme", "raw/acme/empty.csv", Vec::new())
            .result
            .unwrap();
        assert_eq!((empty.rows_in, empty.rows_out), (0, 0));
        let header_only = run("acme", "raw/acme/h.csv", HEADER.as_bytes().to_vec())
            .result
            .unwrap();
        assert_eq!(header_only.rows_in, 0);
    }

    #[test]
    fn object_failures() {
        let body = format!(
            "{HEADER}{}",
            "1,F,FT,01/07/2026 15:00:00,,,,,,,\n".repeat(2000)
        );
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(body.as_bytes()).unwrap();
        let data = gz.finish().unwrap();
        let truncated = run(
            "acme",
            "raw/acme/t.csv.gz",
            data[..data.len() - 20].to_vec(),
        );
        match truncated.result {
            Err(Failure::Object { reason, detail }) => {
                assert_eq!(reason, "corrupt_gzip");
                assert!(detail.contains("truncated"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let not_gzip = run("acme", "raw/acme/t.csv.gz", body.into_bytes());
        assert!(matches!(
            not_gzip.result,
            Err(Failure::Object {
                reason: "corrupt_gzip",
                ..
            })
        ));
        let bad_header = run("acme", "raw/acme/h.csv", b"a,b,c\n1,2,3\n".to_vec());
        assert!(matches!(
            bad_header.result,
            Err(Failure::Object {
                reason: "bad_header",
                ..
            })
        ));
    }

    #[test]
    fn source_errors_are_told_apart() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other(SourceError(anyhow::anyhow!(
                    "connection reset"
                ))))
            }
        }
        let mapping = Mappings::embedded().unwrap().get("betco").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let result = transform(
            Failing,
            "raw/betco/x.ndjson",
            &mapping,
            &dir.path().join("s"),
            &dir.path().join("q"),
        );
        match result {
            Err(Failure::Source(e)) => assert_eq!(e.to_string(), "connection reset"),
            other => panic!("{other:?}"),
        }
    }
}
