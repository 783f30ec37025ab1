//! The late-duplicate pass of a spilled object: once the stream has ended and [`Resolved`]
//! knows which tentatively staged rows repeat an earlier id, the staged file is rewritten
//! without them and their quarantine lines are merged into the quarantine file, in line
//! order.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::Resolved;
use crate::transform::Reason;
use crate::transform::output::{
    BATCH_ROWS, BatchRows, EventWriter, quarantine_line, quarantine_line_number,
};
use crate::transform::record::duplicate_detail;

/// Rewrites the staged file without the late duplicates (the same writer, the same
/// batches: the bytes an in-memory run writes) and merges their quarantine lines into the
/// quarantine file in line order. Memory: one row group read back at a time.
pub(crate) fn drop_late_duplicates(
    staged: &Path,
    quarantine: &Path,
    mut resolved: Resolved,
) -> anyhow::Result<()> {
    let tentative = sibling(staged, "tentative");
    let early = sibling(quarantine, "early");
    let late_path = sibling(quarantine, "late");
    std::fs::rename(staged, &tentative)?;
    std::fs::rename(quarantine, &early)?;
    let result = (|| {
        let mut events = EventWriter::create(staged)?;
        let mut late = BufWriter::with_capacity(256 * 1024, std::fs::File::create(&late_path)?);
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&tentative)?)?
            .with_batch_size(BATCH_ROWS)
            .build()?;
        let mut buf = Vec::new();
        for batch in reader {
            let batch = BatchRows::new(&batch?)?;
            for i in 0..batch.len() {
                let row = batch.row(i);
                if resolved.next_is_duplicate()? {
                    let raw = resolved.raw_line(row.source_line)?;
                    buf.clear();
                    let detail = duplicate_detail(row.event_id);
                    quarantine_line(
                        &mut buf,
                        row.source_line,
                        Reason::DuplicateKey,
                        &detail,
                        &raw,
                    );
                    late.write_all(&buf)?;
                } else {
                    events.push_row(&row)?;
                }
            }
        }
        events.finish()?;
        late.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
        merge_quarantine(&early, &late_path, quarantine)
    })();
    for path in [&tentative, &early, &late_path] {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// `<path>.<suffix>` next to `path`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{suffix}"));
    PathBuf::from(name)
}

/// Merges two quarantine files, each in line order, into `out`, in line order.
fn merge_quarantine(a: &Path, b: &Path, out: &Path) -> anyhow::Result<()> {
    let open = |p: &Path| -> io::Result<BufReader<std::fs::File>> {
        Ok(BufReader::with_capacity(
            256 * 1024,
            std::fs::File::open(p)?,
        ))
    };
    let (mut a, mut b) = (open(a)?, open(b)?);
    let mut out = BufWriter::with_capacity(256 * 1024, std::fs::File::create(out)?);
    let next =
        |r: &mut BufReader<std::fs::File>, line: &mut Vec<u8>| -> anyhow::Result<Option<u64>> {
            line.clear();
            if r.read_until(b'\n', line)? == 0 {
                return Ok(None);
            }
            quarantine_line_number(line)
                .map(Some)
                .ok_or_else(|| anyhow::anyhow!("a quarantine line without a line number"))
        };
    let (mut line_a, mut line_b) = (Vec::new(), Vec::new());
    let (mut at_a, mut at_b) = (next(&mut a, &mut line_a)?, next(&mut b, &mut line_b)?);
    loop {
        match (at_a, at_b) {
            (None, None) => break,
            (Some(x), Some(y)) if y < x => {
                out.write_all(&line_b)?;
                at_b = next(&mut b, &mut line_b)?;
            }
            (Some(_), _) => {
                out.write_all(&line_a)?;
                at_a = next(&mut a, &mut line_a)?;
            }
            (None, Some(_)) => {
                out.write_all(&line_b)?;
                at_b = next(&mut b, &mut line_b)?;
            }
        }
    }
    out.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()?;
    Ok(())
}
