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
        let bytes = line.as_bytes();
        let (delim, quote) = (self.delimiter, self.quote);
        let mut fields = Vec::with_capacity(16);
        let mut pos = 0;
        loop {
            if bytes.get(pos) == Some(&quote) {
                // quoted field: up to the closing quote, "" being an escaped quote
                let start = pos + 1;
                let mut i = start;
                let mut owned: Option<String> = None;
                let mut segment = start;
                loop {
                    match bytes[i..].iter().position(|b| *b == quote) {
                        None => {
                            return Err(Reject::new(
                                Reason::BadQuoting,
                                format!("quoted field opened at byte {pos} is not closed"),
                            ));
                        }
                        Some(offset) => {
                            let at = i + offset;
                            if bytes.get(at + 1) == Some(&quote) {
                                owned
                                    .get_or_insert_with(String::new)
                                    .push_str(&line[segment..=at]);
                                i = at + 2;
                                segment = i;
                                continue;
                            }
                            let field = match owned.take() {
                                Some(mut s) => {
                                    s.push_str(&line[segment..at]);
                                    Cow::Owned(s)
                                }
                                None => Cow::Borrowed(&line[start..at]),
                            };
                            fields.push(field);
                            pos = at + 1;
                            break;
                        }
                    }
                }
                match bytes.get(pos) {
                    None => return Ok(fields),
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
                let end = bytes[pos..]
                    .iter()
                    .position(|b| *b == delim)
                    .map_or(bytes.len(), |offset| pos + offset);
                if let Some(offset) = bytes[pos..end].iter().position(|b| *b == quote) {
                    return Err(Reject::new(
                        Reason::BadQuoting,
                        format!("quote inside an unquoted field at byte {}", pos + offset),
                    ));
                }
                fields.push(Cow::Borrowed(&line[pos..end]));
                if end == bytes.len() {
                    return Ok(fields);
                }
                pos = end + 1;
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
