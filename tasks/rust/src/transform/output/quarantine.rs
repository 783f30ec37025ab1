//! The quarantine writer: rejected rows as NDJSON, `{"line", "reason", "detail", "raw"}`
//! one JSON object a line, and the encoding of such a line on its own.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::transform::Reason;

/// Appends one quarantine line, `{"line", "reason", "detail", "raw"}` and a newline, to
/// `out`: the bytes [`QuarantineWriter::push`] writes.
pub fn quarantine_line(out: &mut Vec<u8>, line: u64, reason: Reason, detail: &str, raw: &str) {
    use std::fmt::Write as _;
    let mut head = String::with_capacity(48);
    let _ = write!(
        head,
        "{{\"line\":{line},\"reason\":\"{}\",\"detail\":",
        reason.as_str()
    );
    out.extend_from_slice(head.as_bytes());
    json_string(out, detail);
    out.extend_from_slice(b",\"raw\":");
    json_string(out, raw);
    out.extend_from_slice(b"}\n");
}

fn json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The `line` of a quarantine line written by [`quarantine_line`].
#[must_use]
pub fn quarantine_line_number(line: &[u8]) -> Option<u64> {
    let digits = line.strip_prefix(b"{\"line\":")?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Writes quarantine lines: `{"line", "reason", "detail", "raw"}`, one JSON object each.
pub struct QuarantineWriter {
    out: BufWriter<File>,
    buf: Vec<u8>,
    rows: u64,
}

impl QuarantineWriter {
    /// Creates the file.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(256 * 1024, File::create(path)?),
            buf: Vec::new(),
            rows: 0,
        })
    }

    /// Appends one rejected row; `raw` is the original line (invalid UTF-8 replaced by
    /// U+FFFD so the line stays valid JSON).
    ///
    /// # Errors
    /// A write error.
    pub fn push(
        &mut self,
        line: u64,
        reason: Reason,
        detail: &str,
        raw: &str,
    ) -> anyhow::Result<()> {
        self.buf.clear();
        quarantine_line(&mut self.buf, line, reason, detail, raw);
        self.out.write_all(&self.buf)?;
        self.rows += 1;
        Ok(())
    }

    /// Appends lines already encoded by [`quarantine_line`]: `rows` of them.
    ///
    /// # Errors
    /// A write error.
    pub fn push_encoded(&mut self, lines: &[u8], rows: u64) -> anyhow::Result<()> {
        self.out.write_all(lines)?;
        self.rows += rows;
        Ok(())
    }

    /// Rows written so far.
    #[must_use]
    pub const fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and closes the file; returns the number of rows written.
    ///
    /// # Errors
    /// A write error.
    pub fn finish(self) -> anyhow::Result<u64> {
        let file = self
            .out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_lines_are_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.ndjson");
        let mut q = QuarantineWriter::create(&path).unwrap();
        q.push(3, Reason::WrongType, "odds_home: bad", "a,\"b\u{fffd}")
            .unwrap();
        assert_eq!(q.finish().unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"line\":3,\"reason\":\"wrong_type\",\"detail\":\"odds_home: bad\",\"raw\":\"a,\\\"b\u{fffd}\"}\n"
        );
    }
}
