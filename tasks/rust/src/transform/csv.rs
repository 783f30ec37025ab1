//! A strict, line-based CSV splitter.
//!
//! Feeds are line-oriented: a record is one line, so a broken quote costs one row, not the
//! rest of the object (a permissive parser would run an unterminated quote on to the end
//! of the file). Quoted fields follow RFC 4180 (`""` is a quote) but may not span lines.
//! Anything else involving the quote character is [`Reason::BadQuoting`]: a quote inside
//! an unquoted field, text after a closing quote, a quote left open at the end of the line.

use std::borrow::Cow;

use super::{Reason, Reject};

/// The dialect of one provider's CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Field separator (one ASCII byte).
    pub delimiter: u8,
    /// Quote character (one ASCII byte).
    pub quote: u8,
}

impl Default for Dialect {
    fn default() -> Self {
        Self {
            delimiter: b',',
            quote: b'"',
        }
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
        let bytes = line.as_bytes();
        let (delim, quote) = (self.delimiter, self.quote);
        fields.clear();
        unescaped.clear();
        let mut pos = 0;
        loop {
            if bytes.get(pos) == Some(&quote) {
                // quoted field: up to the closing quote, "" being an escaped quote
                let start = pos + 1;
                let mut i = start;
                let mut owned: Option<usize> = None;
                let mut segment = start;
                loop {
                    match memchr::memchr(quote, &bytes[i..]) {
                        None => {
                            return Err(Reject::new(
                                Reason::BadQuoting,
                                format!("quoted field opened at byte {pos} is not closed"),
                            ));
                        }
                        Some(offset) => {
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
                            pos = at + 1;
                            break;
                        }
                    }
                }
                match bytes.get(pos) {
                    None => return Ok(()),
                    Some(b) if *b == delim => pos += 1,
                    Some(_) => {
                        return Err(Reject::new(
                            Reason::BadQuoting,
                            format!(
                                "unexpected text after the closing quote at byte {}",
                                pos - 1
                            ),
                        ));
                    }
                }
            } else {
                match memchr::memchr2(delim, quote, &bytes[pos..]) {
                    Some(offset) if bytes[pos + offset] == quote => {
                        return Err(Reject::new(
                            Reason::BadQuoting,
                            format!("quote inside an unquoted field at byte {}", pos + offset),
                        ));
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
            if field.contains([delim, quote, '\n', '\r']) {
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
            quote: b'"',
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
}
