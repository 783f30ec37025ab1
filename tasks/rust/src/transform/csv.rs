//! A strict CSV splitter, and the scanner that finds records spanning lines.
//!
//! By default a record is one line, so a broken quote costs one row, not the rest of the
//! object (a permissive parser would run an unterminated quote on to the end of the
//! file). Quoted fields follow RFC 4180 (`""` is a quote). Anything else involving the
//! quote character is [`Reason::BadQuoting`]: a quote inside an unquoted field, text after
//! a closing quote, a quote left open at the end of the record.
//!
//! With a mapping's `csv.multiline = true`, [`RecordScanner`] lets a quoted field span
//! line breaks (LF or CRLF, kept in the field) as exports write them, within
//! `csv.max_record_bytes`: a quote still open past that (or at the end of the object)
//! costs only the record's first line, and scanning resumes on the line after it. With
//! `csv.trim = true` ([`Dialect::trim`]) ASCII whitespace around fields is dropped (not
//! inside quotes).

use std::borrow::Cow;

use super::{Reason, Reject};

/// The dialect of one provider's CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Field separator (one ASCII byte).
    pub delimiter: u8,
    /// Quote character (one ASCII byte).
    pub quote: u8,
    /// Drop ASCII whitespace (other than the delimiter) around each field, outside quotes:
    /// `a , "b c" ,d` is `a`, `b c`, `d`.
    pub trim: bool,
}

impl Default for Dialect {
    fn default() -> Self {
        Self {
            delimiter: b',',
            quote: b'"',
            trim: false,
        }
    }
}

impl Dialect {
    /// Whether `b` is whitespace [`Dialect::trim`] drops (never the delimiter).
    #[must_use]
    pub const fn is_space(self, b: u8) -> bool {
        b != self.delimiter && b.is_ascii_whitespace()
    }
}

/// Where a field split by [`Dialect::split_into`] is: a byte range of the line, or of the
/// buffer of unescaped text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `line[start..end]`.
    Line(usize, usize),
    /// `unescaped[start..end]`.
    Unescaped(usize, usize),
}

impl Field {
    /// The field's text.
    #[must_use]
    pub fn text<'a>(self, line: &'a str, unescaped: &'a str) -> &'a str {
        match self {
            Self::Line(start, end) => &line[start..end],
            Self::Unescaped(start, end) => &unescaped[start..end],
        }
    }
}

impl Dialect {
    /// Splits one line (without its line ending) into fields.
    ///
    /// ```
    /// use rstask::transform::csv::Dialect;
    /// let fields = Dialect::default().split(r#"a,"b ""c"", d",,e"#).unwrap();
    /// assert_eq!(fields, ["a", r#"b "c", d"#, "", "e"]);
    /// ```
    ///
    /// # Errors
    /// [`Reason::BadQuoting`] with the byte position of the problem.
    pub fn split<'a>(&self, line: &'a str) -> Result<Vec<Cow<'a, str>>, Reject> {
        let mut fields = Vec::with_capacity(16);
        let mut unescaped = String::new();
        self.split_into(line, &mut fields, &mut unescaped)?;
        Ok(fields
            .iter()
            .map(|f| match *f {
                Field::Line(start, end) => Cow::Borrowed(&line[start..end]),
                Field::Unescaped(start, end) => Cow::Owned(unescaped[start..end].to_owned()),
            })
            .collect())
    }

    /// [`Dialect::split`] without allocating: the fields' places go to `fields` (cleared
    /// first), the text of quoted fields with escaped quotes to `unescaped` (cleared too);
    /// [`Field::text`] reads them.
    ///
    /// # Errors
    /// As [`Dialect::split`].
    pub fn split_into(
        &self,
        line: &str,
        fields: &mut Vec<Field>,
        unescaped: &mut String,
    ) -> Result<(), Reject> {
        fields.clear();
        unescaped.clear();
        if self.trim {
            return self.split_trimmed(line, fields, unescaped);
        }
        let bytes = line.as_bytes();
        let (delim, quote) = (self.delimiter, self.quote);
        let mut pos = 0;
        loop {
            if bytes.get(pos) == Some(&quote) {
                pos = self.quoted(line, pos, fields, unescaped)?;
                match bytes.get(pos) {
                    None => return Ok(()),
                    Some(b) if *b == delim => pos += 1,
                    Some(_) => return Err(text_after_quote(pos - 1)),
                }
            } else {
                match memchr::memchr2(delim, quote, &bytes[pos..]) {
                    Some(offset) if bytes[pos + offset] == quote => {
                        return Err(quote_in_field(pos + offset));
                    }
                    Some(offset) => {
                        fields.push(Field::Line(pos, pos + offset));
                        pos += offset + 1;
                    }
                    None => {
                        fields.push(Field::Line(pos, bytes.len()));
                        return Ok(());
                    }
                }
            }
        }
    }

    /// [`Dialect::split_into`] with [`Dialect::trim`]: whitespace around fields dropped.
    fn split_trimmed(
        self,
        line: &str,
        fields: &mut Vec<Field>,
        unescaped: &mut String,
    ) -> Result<(), Reject> {
        let bytes = line.as_bytes();
        let (delim, quote) = (self.delimiter, self.quote);
        let skip_space = |mut pos: usize| {
            while pos < bytes.len() && self.is_space(bytes[pos]) {
                pos += 1;
            }
            pos
        };
        let mut pos = 0;
        loop {
            pos = skip_space(pos);
            if bytes.get(pos) == Some(&quote) {
                let closed = self.quoted(line, pos, fields, unescaped)?;
                pos = skip_space(closed);
                match bytes.get(pos) {
                    None => return Ok(()),
                    Some(b) if *b == delim => pos += 1,
                    Some(_) => return Err(text_after_quote(closed - 1)),
                }
            } else {
                let (end, next) = match memchr::memchr2(delim, quote, &bytes[pos..]) {
                    Some(offset) if bytes[pos + offset] == quote => {
                        return Err(quote_in_field(pos + offset));
                    }
                    Some(offset) => (pos + offset, Some(pos + offset + 1)),
                    None => (bytes.len(), None),
                };
                let mut trimmed = end;
                while trimmed > pos && self.is_space(bytes[trimmed - 1]) {
                    trimmed -= 1;
                }
                fields.push(Field::Line(pos, trimmed));
                match next {
                    Some(next) => pos = next,
                    None => return Ok(()),
                }
            }
        }
    }

    /// The quoted field whose opening quote is at `open`: pushed to `fields` (its text in
    /// `unescaped` when it holds escaped quotes); returns the position after the closing
    /// quote.
    #[inline]
    fn quoted(
        self,
        line: &str,
        open: usize,
        fields: &mut Vec<Field>,
        unescaped: &mut String,
    ) -> Result<usize, Reject> {
        let bytes = line.as_bytes();
        let quote = self.quote;
        // up to the closing quote, "" being an escaped quote
        let start = open + 1;
        let mut i = start;
        let mut owned: Option<usize> = None;
        let mut segment = start;
        loop {
            let Some(offset) = memchr::memchr(quote, &bytes[i..]) else {
                return Err(Reject::new(
                    Reason::BadQuoting,
                    format!(
                        "quoted field opened at byte {open} is not closed (expected a closing {:?})",
                        char::from(quote)
                    ),
                ));
            };
            let at = i + offset;
            if bytes.get(at + 1) == Some(&quote) {
                owned.get_or_insert(unescaped.len());
                unescaped.push_str(&line[segment..=at]);
                i = at + 2;
                segment = i;
                continue;
            }
            fields.push(match owned {
                Some(from) => {
                    unescaped.push_str(&line[segment..at]);
                    Field::Unescaped(from, unescaped.len())
                }
                None => Field::Line(start, at),
            });
            return Ok(at + 1);
        }
    }

    /// Writes fields as one line (quoting only where needed), the generator's inverse.
    #[must_use]
    pub fn join<S: AsRef<str>>(&self, fields: &[S]) -> String {
        let (delim, quote) = (char::from(self.delimiter), char::from(self.quote));
        let mut line = String::new();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                line.push(delim);
            }
            let field = field.as_ref();
            let padded = self.trim
                && (field.starts_with(|c: char| c.is_ascii_whitespace())
                    || field.ends_with(|c: char| c.is_ascii_whitespace()));
            if padded || field.contains([delim, quote, '\n', '\r']) {
                line.push(quote);
                line.push_str(&field.replace(quote, &format!("{quote}{quote}")));
                line.push(quote);
            } else {
                line.push_str(field);
            }
        }
        line
    }
}

/// How records are found when quoted fields may span lines (`csv.multiline = true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRules {
    /// The quoting and trimming rules (the splitter's).
    pub dialect: Dialect,
    /// Longest record spanning lines, bytes (its line breaks included, its last excluded).
    pub max_record_bytes: usize,
}

/// Why the record starting at a line was given up (only that line is then reported, as
/// [`Reason::BadQuoting`], and the next line is read again as the start of a record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unclosed {
    /// The line of the quote still open (or last opened), counted from the record's first
    /// line (0: that line).
    pub quote_line: u64,
    /// That quote's byte in its line (0-based).
    pub quote_byte: usize,
    /// Why.
    pub cause: Cause,
}

/// Why a record spanning lines was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The quoted field is still open at the end of the object.
    End,
    /// The quoted field is still open past `csv.max_record_bytes`.
    Cap,
    /// The record's quotes closed, but it is longer than `csv.max_record_bytes`.
    Long,
    /// After a line break inside quotes, a quote out of place (text after a closing quote,
    /// a quote inside an unquoted field): the quote that spanned lines was most likely a
    /// stray one, so the lines after it are better read again.
    Malformed {
        /// The line of the misplaced byte, counted from the record's first line.
        line: u64,
        /// Its byte in that line (0-based).
        byte: usize,
    },
}

impl Unclosed {
    /// The quarantine detail of the record's first line, `line`, with the cap `max`.
    #[must_use]
    pub fn detail(&self, line: u64, max: usize) -> String {
        let quote = format!(
            "quoted field opened at byte {} of line {}",
            self.quote_byte,
            line + self.quote_line
        );
        let resumes = format!(
            "only line {line} is quarantined, parsing resumes at line {}",
            line + 1
        );
        match self.cause {
            Cause::End => format!(
                "{quote} is not closed before the end of the object (expected a closing quote); only line {line} is quarantined"
            ),
            Cause::Cap => format!(
                "{quote} is not closed within csv.max_record_bytes ({max} bytes; expected a closing quote); {resumes}"
            ),
            Cause::Long => format!(
                "the record starting at line {line} spans lines (its {quote}) and is longer than csv.max_record_bytes ({max} bytes); {resumes}"
            ),
            Cause::Malformed { line: at, byte } => format!(
                "the record starting at line {line} spans lines (its {quote}), then has a quote out of place at byte {byte} of line {} (expected a delimiter or a line end after a closing quote, quotes only around whole fields); {resumes}",
                line + at
            ),
        }
    }
}

/// What [`RecordScanner::next`] found in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// `buf[start..end]` is a record (without its last line break), spanning `lines`
    /// lines; the next one starts at `next`.
    Record {
        /// First byte.
        start: usize,
        /// End (its line break excluded; a `\r` before it included).
        end: usize,
        /// Where the next record starts.
        next: usize,
        /// Lines it spans.
        lines: u64,
    },
    /// The record starting at `start` was given up: `buf[start..end]` is its first line
    /// (bad quoting); the next record starts at `next`, the line after it, re-read.
    Unclosed {
        /// First byte.
        start: usize,
        /// End of its first line.
        end: usize,
        /// Where the next record starts.
        next: usize,
        /// Why.
        why: Unclosed,
    },
    /// The rest of the buffer is the beginning of a record: more bytes are needed.
    More {
        /// Whether the record already spans lines.
        spans_lines: bool,
    },
    /// Nothing left (at the end of the input).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside quotes: at a field start or in unquoted fields.
    Outside,
    /// Inside a quoted field.
    Quoted,
    /// Just after a closing quote.
    Closed,
    /// After a quoting error: the record ends at the next line break.
    Bad,
}

/// Finds records in CSV text whose quoted fields may span line breaks, by the very rules
/// of [`Dialect::split_into`] (so a record it finds splits as it scanned): a quote opens a
/// field only at a field's start (after whitespace, with [`Dialect::trim`]); a line break
/// inside quotes continues the record, anywhere else ends it. Resumable: bytes may be
/// appended to the buffer between calls (positions stay valid).
#[derive(Debug, Clone)]
pub struct RecordScanner {
    rules: RecordRules,
    /// Start of the current record.
    start: usize,
    /// Scan position.
    pos: usize,
    /// Start of the run of unquoted fields being scanned (a field start).
    run: usize,
    /// Start of the current line.
    line_start: usize,
    state: State,
    /// The record's first line break.
    first_break: Option<usize>,
    /// Line breaks inside the record so far.
    breaks: u64,
    /// The last opening quote: (line in the record, byte in that line).
    quote: (u64, usize),
}

impl RecordScanner {
    /// A scanner whose first record starts at byte 0.
    #[must_use]
    pub const fn new(rules: RecordRules) -> Self {
        Self {
            rules,
            start: 0,
            pos: 0,
            run: 0,
            line_start: 0,
            state: State::Outside,
            first_break: None,
            breaks: 0,
            quote: (0, 0),
        }
    }

    /// Starts the next record at `at`.
    pub const fn reset(&mut self, at: usize) {
        self.start = at;
        self.pos = at;
        self.run = at;
        self.line_start = at;
        self.state = State::Outside;
        self.first_break = None;
        self.breaks = 0;
        self.quote = (0, 0);
    }

    /// Where the record being scanned starts.
    #[must_use]
    pub const fn record_start(&self) -> usize {
        self.start
    }

    /// The next record of `buf`; `eof`: no byte will be appended to it.
    pub fn next(&mut self, buf: &[u8], eof: bool) -> Found {
        let Dialect {
            delimiter, quote, ..
        } = self.rules.dialect;
        let trim = self.rules.dialect.trim;
        loop {
            if self.first_break.is_some() && self.pos - self.start > self.rules.max_record_bytes {
                return self.over_cap(buf.len());
            }
            match self.state {
                State::Outside => match memchr::memchr2(quote, b'\n', &buf[self.pos..]) {
                    None => {
                        self.pos = buf.len();
                        return self.end_of_buffer(buf.len(), eof);
                    }
                    Some(i) => {
                        let at = self.pos + i;
                        if buf[at] == b'\n' {
                            return self.record_ends(at);
                        }
                        if self.opens_field(buf, at) {
                            self.state = State::Quoted;
                            self.quote = (self.breaks, at - self.line_start);
                        } else if let Some(found) = self.bad(at) {
                            return found;
                        }
                        self.pos = at + 1;
                    }
                },
                State::Bad => match memchr::memchr(b'\n', &buf[self.pos..]) {
                    None => {
                        self.pos = buf.len();
                        return self.end_of_buffer(buf.len(), eof);
                    }
                    Some(i) => return self.record_ends(self.pos + i),
                },
                State::Quoted => match memchr::memchr2(quote, b'\n', &buf[self.pos..]) {
                    None => {
                        self.pos = buf.len();
                        return self.end_of_buffer(buf.len(), eof);
                    }
                    Some(i) => {
                        let at = self.pos + i;
                        if buf[at] == b'\n' {
                            self.first_break.get_or_insert(at);
                            self.breaks += 1;
                            self.line_start = at + 1;
                            self.pos = at + 1;
                            continue;
                        }
                        match buf.get(at + 1) {
                            Some(&b) if b == quote => self.pos = at + 2,
                            // an escaped quote or a closing one: the next byte tells
                            None if !eof => {
                                self.pos = at;
                                return self.end_of_buffer(buf.len(), eof);
                            }
                            _ => {
                                self.state = State::Closed;
                                self.pos = at + 1;
                            }
                        }
                    }
                },
                State::Closed => match buf.get(self.pos) {
                    None => return self.end_of_buffer(buf.len(), eof),
                    Some(&b) if b == delimiter => {
                        self.pos += 1;
                        self.run = self.pos;
                        self.state = State::Outside;
                    }
                    Some(b'\n') => return self.record_ends(self.pos),
                    Some(b'\r') => match buf.get(self.pos + 1) {
                        Some(b'\n') => return self.record_ends(self.pos + 1),
                        None if !eof => return self.end_of_buffer(buf.len(), eof),
                        // a last `\r` is a line ending (dropped), like any other space
                        None => self.pos += 1,
                        Some(_) if trim => self.pos += 1,
                        Some(_) => {
                            if let Some(found) = self.bad(self.pos) {
                                return found;
                            }
                        }
                    },
                    Some(&b) if trim && self.rules.dialect.is_space(b) => self.pos += 1,
                    Some(_) => {
                        if let Some(found) = self.bad(self.pos) {
                            return found;
                        }
                    }
                },
            }
        }
    }

    /// A quote out of place at `at`: on the record's first line, the record is bad quoting
    /// up to its line end (`None`: scanning goes on); after a line break inside quotes, it
    /// is given up.
    fn bad(&mut self, at: usize) -> Option<Found> {
        if self.first_break.is_some() {
            let cause = Cause::Malformed {
                line: self.breaks,
                byte: at - self.line_start,
            };
            return Some(self.unclosed(at, cause));
        }
        self.state = State::Bad;
        None
    }

    /// Whether the quote at `at` (outside quotes) opens a quoted field: it is at a field's
    /// start, after nothing but whitespace with `trim`.
    fn opens_field(&self, buf: &[u8], at: usize) -> bool {
        let dialect = &self.rules.dialect;
        let mut from = at;
        if dialect.trim {
            while from > self.run && dialect.is_space(buf[from - 1]) {
                from -= 1;
            }
        }
        from == self.run || buf[from - 1] == dialect.delimiter
    }

    /// The record ends at the line break at `at`.
    fn record_ends(&mut self, at: usize) -> Found {
        if self.first_break.is_some() && at - self.start > self.rules.max_record_bytes {
            return self.over_cap(at);
        }
        let found = Found::Record {
            start: self.start,
            end: at,
            next: at + 1,
            lines: self.breaks + 1,
        };
        self.reset(at + 1);
        found
    }

    /// The buffer (`len` bytes) is scanned: more is needed, or, at the end of the input,
    /// the last record.
    fn end_of_buffer(&mut self, len: usize, eof: bool) -> Found {
        if !eof {
            return Found::More {
                spans_lines: self.first_break.is_some(),
            };
        }
        if self.start >= len {
            return Found::Done;
        }
        if self.state == State::Quoted {
            return self.unclosed(len, Cause::End);
        }
        if self.first_break.is_some() && len - self.start > self.rules.max_record_bytes {
            return self.over_cap(len);
        }
        let found = Found::Record {
            start: self.start,
            end: len,
            next: len,
            lines: self.breaks + 1,
        };
        self.reset(len);
        found
    }

    /// The record spanning lines outgrew the cap.
    fn over_cap(&mut self, len: usize) -> Found {
        let cause = if self.state == State::Quoted {
            Cause::Cap
        } else {
            Cause::Long
        };
        self.unclosed(len, cause)
    }

    /// Gives the record up: its first line (up to `len` if it has no line break) is
    /// reported, the next record starts after it.
    fn unclosed(&mut self, len: usize, cause: Cause) -> Found {
        let end = self.first_break.unwrap_or(len);
        let next = self.first_break.map_or(len, |b| b + 1);
        let found = Found::Unclosed {
            start: self.start,
            end,
            next,
            why: Unclosed {
                quote_line: self.quote.0,
                quote_byte: self.quote.1,
                cause,
            },
        };
        self.reset(next);
        found
    }
}

fn text_after_quote(closing: usize) -> Reject {
    Reject::new(
        Reason::BadQuoting,
        format!(
            "unexpected text after the closing quote at byte {closing} (expected a delimiter or the end of the record)"
        ),
    )
}

fn quote_in_field(at: usize) -> Reject {
    Reject::new(
        Reason::BadQuoting,
        format!(
            "quote inside an unquoted field at byte {at} (expected quotes only around a whole field)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<String>, Reject> {
        Dialect::default()
            .split(line)
            .map(|f| f.into_iter().map(Cow::into_owned).collect())
    }

    #[test]
    fn plain_and_quoted_fields() {
        assert_eq!(split("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split(",").unwrap(), ["", ""]);
        assert_eq!(split(r#""a,b","""",x"#).unwrap(), ["a,b", "\"", "x"]);
        assert_eq!(split(r#""""#).unwrap(), [""]);
        assert_eq!(split(r#"a,"""quoted""""#).unwrap(), ["a", "\"quoted\""]);
        let semi = Dialect {
            delimiter: b';',
            ..Dialect::default()
        };
        assert_eq!(semi.split("a;b,c;\"d;e\"").unwrap(), ["a", "b,c", "d;e"]);
    }

    #[test]
    fn bad_quoting_is_rejected() {
        for line in [
            r#"a,"open"#,
            r#"a,b"c,d"#,
            r#""x"y,z"#,
            r#"a,"b""#.trim_end_matches('"'),
        ] {
            let reject = split(line).unwrap_err();
            assert_eq!(reject.reason, Reason::BadQuoting, "{line}");
        }
    }

    #[test]
    fn join_round_trips() {
        let d = Dialect::default();
        let fields = ["plain", "with,comma", "with \"quote\"", ""];
        let line = d.join(&fields);
        assert_eq!(split(&line).unwrap(), fields);
    }

    fn trimmed() -> Dialect {
        Dialect {
            trim: true,
            ..Dialect::default()
        }
    }

    fn split_with(dialect: Dialect, line: &str) -> Result<Vec<String>, Reject> {
        dialect
            .split(line)
            .map(|f| f.into_iter().map(Cow::into_owned).collect())
    }

    #[test]
    fn trim_drops_spaces_around_fields_not_inside_quotes() {
        let t = trimmed();
        assert_eq!(
            split_with(t, " a , \" b c \" ,d ").unwrap(),
            ["a", " b c ", "d"]
        );
        assert_eq!(split_with(t, "  ").unwrap(), [""]);
        assert_eq!(split_with(t, "a,  ,\t").unwrap(), ["a", "", ""]);
        assert_eq!(
            split_with(t, r#"  "x ""y"" "  , z z "#).unwrap(),
            [r#"x "y" "#, "z z"]
        );
        assert_eq!(split_with(t, "a\r").unwrap(), ["a"]);
        // without trim, the same spaces are kept, and a quote after one is bad
        assert_eq!(split(" a , b ").unwrap(), [" a ", " b "]);
        assert_eq!(split(r#"a, "b""#).unwrap_err().reason, Reason::BadQuoting);
        for bad in [r#""x" y,z"#, r#"a b"c,d"#, r#"  "open"#] {
            let reject = split_with(t, bad).unwrap_err();
            assert_eq!(reject.reason, Reason::BadQuoting, "{bad}");
        }
        // a tab delimiter is never trimmed away
        let tabs = Dialect {
            delimiter: b'\t',
            trim: true,
            ..Dialect::default()
        };
        assert_eq!(
            split_with(tabs, "a\t b \t\t \"c\" ").unwrap(),
            ["a", "b", "", "c"]
        );
        // join quotes padded fields, so they survive a trimming split
        let fields = [" padded ", "plain", "tab\t"];
        assert_eq!(split_with(t, &t.join(&fields)).unwrap(), fields);
    }

    /// Every record of `text` (the whole input), numbered as the blocks number them, its
    /// last `\r` dropped; given-up records with their reason.
    fn records(text: &str, max: usize, dialect: Dialect) -> Vec<(u64, String, Option<Unclosed>)> {
        let mut scanner = RecordScanner::new(RecordRules {
            dialect,
            max_record_bytes: max,
        });
        let bytes = text.as_bytes();
        let mut line = 1;
        let mut out = Vec::new();
        loop {
            let (start, end, lines, why) = match scanner.next(bytes, true) {
                Found::Record {
                    start, end, lines, ..
                } => (start, end, lines, None),
                Found::Unclosed {
                    start, end, why, ..
                } => (start, end, 1, Some(why)),
                Found::Done => return out,
                Found::More { .. } => panic!("more at the end of the input"),
            };
            let record = &text[start..end];
            out.push((
                line,
                record.strip_suffix('\r').unwrap_or(record).to_owned(),
                why,
            ));
            line += lines;
        }
    }

    fn plain(records: &[(u64, String, Option<Unclosed>)]) -> Vec<(u64, &str)> {
        records
            .iter()
            .inspect(|(line, _, why)| assert!(why.is_none(), "line {line} given up: {why:?}"))
            .map(|(line, text, _)| (*line, text.as_str()))
            .collect()
    }

    #[test]
    fn multi_line_records_are_numbered_by_their_first_line() {
        let text = "h1,h2,h3\na,\"x\ny\nz\",b\nc,d,e\n\n\"\",\"\n\",f";
        let got = records(text, 1000, Dialect::default());
        assert_eq!(
            plain(&got),
            [
                (1, "h1,h2,h3"),
                (2, "a,\"x\ny\nz\",b"),
                (5, "c,d,e"),
                (6, ""),
                (7, "\"\",\"\n\",f"),
            ]
        );
        assert_eq!(
            split(&got[1].1).unwrap(),
            ["a", "x\ny\nz", "b"],
            "the line breaks stay in the field"
        );
    }

    #[test]
    fn crlf_inside_quotes_and_escaped_quotes_across_lines() {
        let text =
            "1,\"first\r\nsecond\"\r\n2,\"he said \"\"hi\r\nthen \"\"bye\"\"\",x\r\n3,y,z\r\n";
        let got = records(text, 1000, Dialect::default());
        assert_eq!(
            plain(&got),
            [
                (1, "1,\"first\r\nsecond\""),
                (3, "2,\"he said \"\"hi\r\nthen \"\"bye\"\"\",x"),
                (5, "3,y,z"),
            ]
        );
        assert_eq!(split(&got[0].1).unwrap(), ["1", "first\r\nsecond"]);
        assert_eq!(
            split(&got[1].1).unwrap(),
            ["2", "he said \"hi\r\nthen \"bye\"", "x"]
        );
    }

    #[test]
    fn quotes_out_of_place_end_the_record_at_its_line() {
        // a quote inside an unquoted field, text after a closing quote: bad quoting for
        // that line alone, not a quoted field swallowing the next lines
        let text = "a,b\"c,d\n1,2,3\n\"x\"y,\"\n4,5,6\n";
        let got = records(text, 1000, Dialect::default());
        assert_eq!(
            plain(&got),
            [
                (1, "a,b\"c,d"),
                (2, "1,2,3"),
                (3, "\"x\"y,\""),
                (4, "4,5,6")
            ]
        );
        // a quote after spaces opens a field only with trim
        let text = "1, \"x\ny\" ,2\n3,4,5";
        assert_eq!(
            plain(&records(text, 1000, Dialect::default())),
            [(1, "1, \"x"), (2, "y\" ,2"), (3, "3,4,5")]
        );
        let got = records(text, 1000, trimmed());
        assert_eq!(plain(&got), [(1, "1, \"x\ny\" ,2"), (3, "3,4,5")]);
        assert_eq!(
            split_with(trimmed(), &got[0].1).unwrap(),
            ["1", "x\ny", "2"]
        );
    }

    #[test]
    fn an_unclosed_quote_costs_its_first_line_only() {
        // the cap: line 2's quote never closes; lines 3.. are re-read as records
        let text = "1,a,b\n2,\"open,c\n3,d,e\n4,x\n5,g,h\n";
        let got = records(text, 16, Dialect::default());
        let lines: Vec<(u64, &str, bool)> = got
            .iter()
            .map(|(l, t, why)| (*l, t.as_str(), why.is_some()))
            .collect();
        assert_eq!(
            lines,
            [
                (1, "1,a,b", false),
                (2, "2,\"open,c", true),
                (3, "3,d,e", false),
                (4, "4,x", false),
                (5, "5,g,h", false),
            ]
        );
        let why = got[1].2.unwrap();
        assert_eq!(
            why,
            Unclosed {
                quote_line: 0,
                quote_byte: 2,
                cause: Cause::Cap,
            }
        );
        let detail = why.detail(2, 16);
        assert!(
            detail.contains("byte 2 of line 2")
                && detail.contains("csv.max_record_bytes (16 bytes")
                && detail.contains("resumes at line 3"),
            "{detail}"
        );
        // at the end of the object: the same, whatever the cap
        let text = "1,a\n2,\"open\n3,x\n";
        let got = records(text, 1000, Dialect::default());
        let unclosed: Vec<(u64, &str, Option<Cause>)> = got
            .iter()
            .map(|(l, t, why)| (*l, t.as_str(), why.map(|w| w.cause)))
            .collect();
        assert_eq!(
            unclosed,
            [
                (1, "1,a", None),
                (2, "2,\"open", Some(Cause::End)),
                (3, "3,x", None),
            ]
        );
        let last = records("1,a\n4,\"y", 1000, Dialect::default());
        assert_eq!(
            last[1..],
            [(
                2,
                "4,\"y".to_owned(),
                Some(Unclosed {
                    quote_line: 0,
                    quote_byte: 2,
                    cause: Cause::End
                })
            )]
        );
        let detail = got[1].2.unwrap().detail(2, 1000);
        assert!(detail.contains("before the end of the object"), "{detail}");
        // a stray quote "closed" by another on a later line, followed by text: the record
        // is given up at once (whatever the cap), the lines in between read again
        let text = "1,\"stray\n2,b\n3,\"x\"y\n4,c\n";
        let got = records(text, 1000, Dialect::default());
        let lines: Vec<(u64, &str, Option<Cause>)> = got
            .iter()
            .map(|(l, t, why)| (*l, t.as_str(), why.map(|w| w.cause)))
            .collect();
        assert_eq!(
            lines,
            [
                (1, "1,\"stray", Some(Cause::Malformed { line: 2, byte: 3 })),
                (2, "2,b", None),
                (3, "3,\"x\"y", None),
                (4, "4,c", None),
            ]
        );
        let detail = got[0].2.unwrap().detail(1, 1000);
        assert!(detail.contains("byte 3 of line 3"), "{detail}");
    }

    #[test]
    fn the_cap_bounds_records_spanning_lines_exactly() {
        let record = "1,\"ab\ncd\"";
        let text = format!("{record}\n2,x");
        let exact = records(&text, record.len(), Dialect::default());
        assert_eq!(plain(&exact), [(1, record), (3, "2,x")]);
        let over = records(&text, record.len() - 1, Dialect::default());
        assert_eq!(
            over.iter()
                .map(|(l, t, w)| (*l, t.as_str(), w.map(|w| w.cause)))
                .collect::<Vec<_>>(),
            [
                (1, "1,\"ab", Some(Cause::Long)),
                (2, "cd\"", None),
                (3, "2,x", None)
            ]
        );
        // line 2 read again is a record of its own, with a quote out of place
        assert_eq!(split(&over[1].1).unwrap_err().reason, Reason::BadQuoting);
        let why = over[0].2.unwrap();
        assert!(why.detail(1, 8).contains("spans lines"));
        // a single line is not a record spanning lines: no cap
        let long = format!("1,\"{}\"", "x".repeat(100));
        assert_eq!(
            plain(&records(&long, 8, Dialect::default())),
            [(1, long.as_str())]
        );
    }

    #[test]
    fn the_scanner_resumes_as_bytes_arrive() {
        let text = "a,\"x\"\"\ny\",b\r\n\"q\"\r\nc,\"\"\"\",d\n";
        let whole = records(text, 1000, Dialect::default());
        let rules = RecordRules {
            dialect: Dialect::default(),
            max_record_bytes: 1000,
        };
        // bytes handed over one at a time: the same records
        let mut scanner = RecordScanner::new(rules);
        let mut got = Vec::new();
        for n in 1..=text.len() {
            let eof = n == text.len();
            loop {
                match scanner.next(&text.as_bytes()[..n], eof) {
                    Found::Record { start, end, .. } => {
                        let r = &text[start..end];
                        got.push(r.strip_suffix('\r').unwrap_or(r).to_owned());
                    }
                    Found::Unclosed { .. } => panic!("unclosed"),
                    Found::More { .. } | Found::Done => break,
                }
            }
        }
        let want: Vec<String> = whole.into_iter().map(|(_, t, _)| t).collect();
        assert_eq!(got, want);
    }
}
