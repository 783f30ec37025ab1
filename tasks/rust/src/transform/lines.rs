//! Reading an object as lines, with bounded memory: gzip detected by magic bytes (or
//! required by a `.gz` name), lines capped at a maximum length; blocks of whole lines, or
//! of whole CSV records spanning lines ([`Blocks::with_records`]).

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

use super::csv::{Found, RecordRules, RecordScanner, Unclosed};

/// Read buffer size of each layer.
const BUFFER: usize = 256 * 1024;

/// The gzip magic bytes.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A decompressed (if need be) byte stream, and whether it was gzip.
pub struct Opened {
    /// The plain bytes.
    pub reader: Box<dyn BufRead + Send>,
    /// Whether the object was gzip-compressed.
    pub gzip: bool,
}

/// Opens a raw object's bytes: gzip when they start with the gzip magic bytes. A name
/// ending in `.gz` whose bytes are not gzip is an error (a corrupt or mislabelled object).
///
/// # Errors
/// The underlying read error, or [`io::ErrorKind::InvalidData`] for a `.gz` name on
/// non-gzip bytes.
pub fn open<R: Read + Send + 'static>(raw: R, name: &str) -> io::Result<Opened> {
    let mut buffered = BufReader::with_capacity(BUFFER, raw);
    let head = buffered.fill_buf()?;
    let gzip = head.starts_with(&GZIP_MAGIC);
    if !gzip && gz_name(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "named .gz but not gzip data (no gzip magic bytes)",
        ));
    }
    let reader: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(
            BUFFER,
            MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    Ok(Opened { reader, gzip })
}

/// Whether a key or file name ends in `.gz` (any case).
#[must_use]
pub fn gz_name(name: &str) -> bool {
    std::path::Path::new(name)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gz"))
}

/// One line: its 1-based number and its bytes without the line ending (`\n` or `\r\n`);
/// `truncated` when it was longer than the limit (the bytes are then its first `limit`).
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number.
    pub number: u64,
    /// The line's bytes (at most the limit).
    pub bytes: &'a [u8],
    /// Whether the line was cut at the limit.
    pub truncated: bool,
}

/// Splits a byte stream into lines of at most `limit` bytes kept in memory.
pub struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    limit: usize,
    number: u64,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `inner`, keeping at most `limit` bytes of each.
    pub fn new(inner: R, limit: usize) -> Self {
        Self {
            inner,
            buf: Vec::with_capacity(4096),
            limit,
            number: 0,
        }
    }

    /// The next line, `None` at the end.
    ///
    /// # Errors
    /// A read (or decompression) error of the underlying stream.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut truncated = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (chunk, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            let room = self.limit.saturating_sub(self.buf.len());
            if chunk.len() > room {
                truncated = true;
            }
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let used = done.unwrap_or(available.len());
            self.inner.consume(used);
            if done.is_some() {
                break;
            }
        }
        self.number += 1;
        if !truncated && self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(Line {
            number: self.number,
            bytes: &self.buf,
            truncated,
        }))
    }
}

impl<R> Lines<R> {
    /// The underlying reader, positioned after the last line returned.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// A run of whole lines for the mapping workers: `data` holds complete lines (the last one
/// without its `\n` only at the end of the object), the first numbered `first_line`. Or,
/// when `too_long`, the first bytes of one line longer than the limit, whose rest was
/// skipped. From [`Blocks::with_records`], `records` says where each record is.
#[derive(Debug, Default)]
pub struct Block {
    /// The 1-based number of the first line.
    pub first_line: u64,
    /// Lines in `data`.
    pub lines: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// One over-long line's head.
    pub too_long: bool,
    /// The records in `data`, in order (only from [`Blocks::with_records`]; empty for an
    /// over-long line).
    pub records: Vec<Rec>,
}

/// A record of a [`Block`]: `data[start..end]`, its first line numbered `line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    /// First byte in the block's data.
    pub start: usize,
    /// End (its last line break excluded).
    pub end: usize,
    /// The 1-based number of its first line (its `source_line`).
    pub line: u64,
    /// Given up (bad quoting): `data[start..end]` is then just its first line.
    pub unclosed: Option<Unclosed>,
}

/// Cuts a byte stream into [`Block`]s of about `target` bytes at line ends, with bounded
/// memory: a line longer than `limit` is not kept whole (its first `keep` bytes are).
/// Blocks do not depend on how the underlying reads are sized.
pub struct Blocks<R> {
    inner: R,
    carry: Vec<u8>,
    target: usize,
    limit: usize,
    keep: usize,
    next_line: u64,
    done: bool,
    /// Records spanning lines: cut at record ends, not line ends.
    records: Option<RecordScanner>,
}

impl<R: BufRead> Blocks<R> {
    /// Blocks of `inner`, the first line numbered `first_line`.
    pub fn new(inner: R, first_line: u64, target: usize, limit: usize, keep: usize) -> Self {
        Self {
            inner,
            carry: Vec::new(),
            target: target.max(1),
            limit,
            keep,
            next_line: first_line,
            done: false,
            records: None,
        }
    }

    /// Blocks of whole CSV records whose quoted fields may span lines (`csv.multiline`),
    /// each listed in [`Block::records`]; a line longer than the limit outside such a
    /// record is still cut to its head (`too_long`).
    #[must_use]
    pub fn with_records(mut self, rules: RecordRules) -> Self {
        self.records = Some(RecordScanner::new(rules));
        self
    }

    /// Fills `block` (its buffer reused) with the next block; `false` at the end.
    ///
    /// # Errors
    /// A read (or decompression) error of the underlying stream.
    pub fn next_block(&mut self, block: &mut Block) -> io::Result<bool> {
        if self.done {
            return Ok(false);
        }
        if self.records.is_some() {
            return self.next_records(block);
        }
        let buf = &mut block.data;
        buf.clear();
        buf.append(&mut self.carry);
        block.too_long = false;
        let mut want = self.target.max(buf.len() + 1);
        loop {
            let mut eof = false;
            while buf.len() < want {
                let available = match self.inner.fill_buf() {
                    Ok(a) => a,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if available.is_empty() {
                    eof = true;
                    break;
                }
                let n = available.len().min(want - buf.len());
                buf.extend_from_slice(&available[..n]);
                self.inner.consume(n);
            }
            if eof {
                self.done = true;
                if buf.is_empty() {
                    return Ok(false);
                }
                let newlines = count_newlines(buf);
                let lines = newlines + u64::from(buf.last() != Some(&b'\n'));
                return Ok(self.emit(block, lines));
            }
            if let Some(last) = memchr::memrchr(b'\n', buf) {
                self.carry.extend_from_slice(&buf[last + 1..]);
                buf.truncate(last + 1);
                let lines = count_newlines(buf);
                return Ok(self.emit(block, lines));
            }
            if buf.len() > self.limit {
                // one line longer than the limit: keep its head, skip the rest
                buf.truncate(self.keep.min(self.limit));
                block.too_long = true;
                self.skip_line()?;
                return Ok(self.emit(block, 1));
            }
            want = buf.len() + self.target;
        }
    }

    /// [`Blocks::next_block`] cutting at record ends: the bytes after the last whole
    /// record (the start of the next one) are carried over and scanned again.
    fn next_records(&mut self, block: &mut Block) -> io::Result<bool> {
        let Some(mut scanner) = self.records.take() else {
            return Ok(false);
        };
        let result = self.fill_records(block, &mut scanner);
        self.records = Some(scanner);
        result
    }

    fn fill_records(&mut self, block: &mut Block, scanner: &mut RecordScanner) -> io::Result<bool> {
        let buf = &mut block.data;
        buf.clear();
        buf.append(&mut self.carry);
        block.too_long = false;
        block.records.clear();
        scanner.reset(0);
        let mut line = self.next_line;
        let mut want = self.target.max(buf.len() + 1);
        loop {
            let eof = fill(&mut self.inner, buf, want)?;
            let mut spans_lines = false;
            loop {
                match scanner.next(buf, eof) {
                    Found::Record {
                        start, end, lines, ..
                    } => {
                        block.records.push(Rec {
                            start,
                            end,
                            line,
                            unclosed: None,
                        });
                        line += lines;
                    }
                    Found::Unclosed {
                        start, end, why, ..
                    } => {
                        block.records.push(Rec {
                            start,
                            end,
                            line,
                            unclosed: Some(why),
                        });
                        line += 1;
                    }
                    Found::More { spans_lines: s } => {
                        spans_lines = s;
                        break;
                    }
                    Found::Done => break,
                }
            }
            if eof {
                self.done = true;
                if block.records.is_empty() {
                    return Ok(false);
                }
                let lines = line - self.next_line;
                return Ok(self.emit(block, lines));
            }
            if !block.records.is_empty() {
                let rest = scanner.record_start();
                self.carry.extend_from_slice(&buf[rest..]);
                buf.truncate(rest);
                let lines = line - self.next_line;
                return Ok(self.emit(block, lines));
            }
            if !spans_lines && buf.len() > self.limit {
                // one line longer than the limit (a record's first line): keep its head,
                // skip the rest
                buf.truncate(self.keep.min(self.limit));
                block.too_long = true;
                self.skip_line()?;
                return Ok(self.emit(block, 1));
            }
            want = buf.len() + self.target;
        }
    }

    fn emit(&mut self, block: &mut Block, lines: u64) -> bool {
        block.first_line = self.next_line;
        block.lines = lines;
        self.next_line += lines;
        true
    }

    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            let available = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(());
            }
            if let Some(i) = memchr::memchr(b'\n', available) {
                self.inner.consume(i + 1);
                return Ok(());
            }
            let n = available.len();
            self.inner.consume(n);
        }
    }
}

/// Reads from `inner` until `buf` holds `want` bytes; whether the input ended first.
fn fill<R: BufRead>(inner: &mut R, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    while buf.len() < want {
        let available = match inner.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(true);
        }
        let n = available.len().min(want - buf.len());
        buf.extend_from_slice(&available[..n]);
        inner.consume(n);
    }
    Ok(false)
}

fn count_newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn all(text: &[u8], limit: usize) -> Vec<(u64, String, bool)> {
        let mut lines = Lines::new(BufReader::with_capacity(3, text), limit);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push((
                line.number,
                String::from_utf8_lossy(line.bytes).into_owned(),
                line.truncated,
            ));
        }
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn splits_lines_across_buffer_refills() {
        let got = all(b"ab\r\ncdefg\n\nlast", 100);
        let want = [
            (1, "ab", false),
            (2, "cdefg", false),
            (3, "", false),
            (4, "last", false),
        ];
        assert_eq!(got, want.map(|(n, s, t)| (n, s.to_owned(), t)));
        assert!(all(b"", 10).is_empty());
        assert_eq!(all(b"x\n", 10).len(), 1);
    }

    #[test]
    fn long_lines_are_cut_and_the_next_line_is_intact() {
        let got = all(b"0123456789abcdef\nok\n", 5);
        assert_eq!(
            got,
            [(1, "01234".to_owned(), true), (2, "ok".to_owned(), false)]
        );
    }

    #[test]
    fn gzip_by_magic_and_by_name() {
        let data = gzip(b"a\nb\n");
        let mut opened = open(std::io::Cursor::new(data.clone()), "feed.csv").unwrap();
        assert!(opened.gzip);
        let mut text = String::new();
        opened.reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "a\nb\n");
        // concatenated members
        let two = [gzip(b"a\n"), gzip(b"b\n")].concat();
        let mut text = String::new();
        open(std::io::Cursor::new(two), "x.gz")
            .unwrap()
            .reader
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a\nb\n");
        let plain = open(std::io::Cursor::new(b"a\n".to_vec()), "feed.csv").unwrap();
        assert!(!plain.gzip);
        let mislabelled = open(std::io::Cursor::new(b"a\n".to_vec()), "feed.csv.gz")
            .err()
            .unwrap();
        assert_eq!(mislabelled.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn truncated_gzip_is_an_error_not_a_short_read() {
        let data = gzip(&b"some line of text\n".repeat(1000));
        let cut = data[..data.len() / 2].to_vec();
        let opened = open(std::io::Cursor::new(cut), "feed.csv.gz").unwrap();
        let mut lines = Lines::new(opened.reader, 1024);
        let error = loop {
            match lines.next_line() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a truncated gzip read to the end without an error"),
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "{error}");
    }

    /// Blocks cut anywhere give back exactly the lines (numbered) of [`Lines`], long
    /// lines as their heads, whatever the block size and the reads' sizes.
    #[test]
    fn blocks_hold_whole_lines() {
        let text = b"a\r\nbb\n\nccc\n0123456789abcdef\nd\n0123456789\nlast";
        let limit = 9;
        let want = all(text, limit);
        for target in [1, 2, 3, 5, 8, 13, 64] {
            for read in [1, 3, 100] {
                let mut blocks = Blocks::new(
                    BufReader::with_capacity(read, &text[..]),
                    1,
                    target,
                    limit,
                    4,
                );
                let mut block = Block::default();
                let mut got = Vec::new();
                while blocks.next_block(&mut block).unwrap() {
                    if block.too_long {
                        got.push((
                            block.first_line,
                            String::from_utf8_lossy(&block.data).into_owned(),
                            true,
                        ));
                        assert_eq!(block.lines, 1);
                        continue;
                    }
                    let mut number = block.first_line;
                    let body = block.data.strip_suffix(b"\n").unwrap_or(&block.data);
                    for line in body.split(|b| *b == b'\n') {
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        let truncated = line.len() > limit;
                        let kept = if truncated { &line[..4] } else { line };
                        got.push((
                            number,
                            String::from_utf8_lossy(kept).into_owned(),
                            truncated,
                        ));
                        number += 1;
                    }
                    assert_eq!(number - block.first_line, block.lines, "target {target}");
                }
                let want: Vec<_> = want
                    .iter()
                    .map(|(n, l, t)| (*n, if *t { l[..4].to_owned() } else { l.clone() }, *t))
                    .collect();
                assert_eq!(got, want, "target {target} read {read}");
            }
        }
    }

    /// Blocks of records spanning lines: the same records (numbered by their first line)
    /// whatever the block size and the reads' sizes; an over-long first line is cut to its
    /// head as in line mode; a quote left open past the cap costs its line only.
    #[test]
    fn record_blocks_hold_whole_records() {
        use crate::transform::csv::{Dialect, RecordRules};
        let text = b"a,\"x\r\ny\",b\r\n\nc,d\n0123456789abcdefghijklmnopqrstuvwxyz0123456789\ne,\"open\nf,g\nh,\"\"\"\"\n\"p\nq\",r\ns,\"end";
        let (limit, keep) = (40, 4);
        let rules = RecordRules {
            dialect: Dialect::default(),
            max_record_bytes: 12,
        };
        let run = |target: usize, read: usize| {
            let mut blocks = Blocks::new(
                BufReader::with_capacity(read, &text[..]),
                1,
                target,
                limit,
                keep,
            )
            .with_records(rules);
            let mut block = Block::default();
            let mut got = Vec::new();
            let mut next_line = 1;
            while blocks.next_block(&mut block).unwrap() {
                assert_eq!(block.first_line, next_line, "target {target} read {read}");
                next_line += block.lines;
                if block.too_long {
                    assert!(block.records.is_empty());
                    let head = String::from_utf8_lossy(&block.data).into_owned();
                    got.push((block.first_line, head, "too long".to_owned()));
                    continue;
                }
                for r in &block.records {
                    let bytes = &block.data[r.start..r.end];
                    // a long line inside a block: the worker cuts it (as in line mode)
                    if bytes.len() > limit {
                        let head = String::from_utf8_lossy(&bytes[..keep]).into_owned();
                        got.push((r.line, head, "too long".to_owned()));
                        continue;
                    }
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    let why = r
                        .unclosed
                        .map(|u| format!("{:?}", u.cause))
                        .unwrap_or_default();
                    got.push((r.line, text, why));
                }
            }
            got
        };
        let want = run(1 << 20, 100);
        let shown: Vec<(u64, &str, &str)> = want
            .iter()
            .map(|(l, t, w)| (*l, t.as_str(), w.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                (1, "a,\"x\r\ny\",b\r", ""),
                (3, "", ""),
                (4, "c,d", ""),
                (5, "0123", "too long"),
                (6, "e,\"open", "Cap"),
                (7, "f,g", ""),
                (8, "h,\"\"\"\"", ""),
                (9, "\"p\nq\",r", ""),
                (11, "s,\"end", "End"),
            ]
        );
        for target in [1, 2, 3, 5, 8, 13, 64] {
            for read in [1, 3, 100] {
                assert_eq!(run(target, read), want, "target {target} read {read}");
            }
        }
    }
}
