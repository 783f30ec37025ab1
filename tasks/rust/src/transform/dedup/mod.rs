//! Duplicate event ids within one object, exactly, in memory bounded by a budget.
//!
//! Each accepted row's event id is reduced to 128 bits ([`id_hash`]); the first row with a
//! hash wins, later ones are quarantined as [`super::Reason::DuplicateKey`].
//!
//! * **In memory** (every object whose distinct ids fit the budget — about 3.6 M ids in the
//!   default 128 MiB): an exact hash set; duplicates are decided as the rows stream by.
//! * **Spilled** (beyond that): the set is frozen, still catching every duplicate of the
//!   rows it holds. Every later row is written to the staged file *tentatively* and its
//!   `(hash, row index)` appended to one of [`FANOUT`] hash-partitioned scratch files; a
//!   Bloom filter (the rest of the budget) over those rows picks the rows that *may*
//!   repeat an earlier one, whose raw lines are kept in a candidates file (a duplicate is
//!   always a candidate; false positives cost disk only). After the stream, each partition
//!   is read back in row order through a fresh set (a partition too big for the budget is
//!   split again by further hash bits), and the rows it finds again are marked in a
//!   disk-backed bitmap of row indices. [`Resolved`] then lets the late-duplicate pass
//!   (submodule `late`) filter the tentative rows out of the staged file and quarantine the
//!   late duplicates in line order, with their raw lines.
//!
//! Memory: the set (its table, 17 bytes per slot, power-of-two slots, counting the old
//! table while it grows) plus, once spilled, the Bloom filter stay within the budget; the
//! resolution reuses the budget after both are dropped; partition writers take
//! `FANOUT × 64 KiB` more.

mod late;

pub(crate) use late::drop_late_duplicates;

use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Default budget of the duplicate-id state, bytes.
pub const DEFAULT_BUDGET: usize = 128 << 20;
/// Hash partitions of the spill.
pub const FANOUT: usize = 64;
const FANOUT_BITS: u32 = FANOUT.trailing_zeros();
/// Bytes of one spill record: hash (16) + row index (8).
const RECORD: usize = 24;
/// Write buffer of each partition file.
const PARTITION_BUFFER: usize = 64 << 10;
/// Bytes of a hash-set slot (16-byte hash + 1 control byte).
const SLOT: usize = 17;
/// Budget of one partition's set while resolving, at least (a tiny budget would split
/// partitions without end).
const MIN_RESOLVE_BUDGET: usize = 1 << 16;
/// Marked rows buffered before they are applied to the bitmap file.
const MARK_BATCH: usize = 1 << 16;
/// Bytes of the bitmap file read and written at once.
const BITMAP_PAGE: u64 = 4096;

/// 128 bits of an event id (16 bytes of state per row instead of the id): XXH3-128, one
/// pass over the bytes. Only ever kept in memory and in this run's scratch files, so the
/// function may change between versions.
#[must_use]
pub fn id_hash(id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

/// The hashes are already uniform: the set uses their low 64 bits as they are.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        // truncation intended: the low half of a uniform hash
        #[allow(clippy::cast_possible_truncation)]
        let low = n as u64;
        self.0 = low;
    }
}

type IdSet = HashSet<u128, BuildHasherDefault<IdentityHasher>>;

/// Table bytes of a set holding `capacity` ids (hashbrown: slots = next power of two of
/// capacity × 8/7, at least 4).
const fn table_bytes(capacity: usize) -> usize {
    let slots = if capacity < 8 {
        if capacity < 4 { 4 } else { 8 }
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    slots * SLOT
}

/// A set that refuses to grow beyond `budget` bytes (old + new table while growing).
struct BoundedSet {
    set: IdSet,
    budget: usize,
}

impl BoundedSet {
    fn new(budget: usize) -> Self {
        Self {
            set: IdSet::default(),
            budget,
        }
    }

    /// `Some(true)` if new (inserted), `Some(false)` if present, `None` if new but the
    /// set is full.
    fn insert(&mut self, hash: u128) -> Option<bool> {
        if self.set.len() == self.set.capacity() {
            if self.set.contains(&hash) {
                return Some(false);
            }
            let now = self.set.capacity();
            let next = (now * 2).max(8);
            let growing = if now == 0 { 0 } else { table_bytes(now) };
            if growing + table_bytes(next) > self.budget {
                return None;
            }
            self.set.reserve(next - self.set.len());
        }
        Some(self.set.insert(hash))
    }

    fn contains(&self, hash: u128) -> bool {
        self.set.contains(&hash)
    }

    fn bytes(&self) -> usize {
        if self.set.capacity() == 0 {
            0
        } else {
            table_bytes(self.set.capacity())
        }
    }
}

/// What to do with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first row with this id: keep it.
    New,
    /// An id seen earlier: quarantine it now.
    Duplicate,
    /// Spilled: keep it tentatively; it may still turn out to be a duplicate. When
    /// `candidate`, its raw line must be given to [`Dedup::keep_candidate`].
    Tentative {
        /// Whether the row may repeat an earlier spilled row.
        candidate: bool,
    },
}

/// Where a transform may put scratch files: a directory created on first use under
/// `base`, removed when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    base: PathBuf,
    dir: Option<PathBuf>,
}

impl ScratchDir {
    /// A scratch directory to be made under `base` when needed.
    #[must_use]
    pub const fn new(base: PathBuf) -> Self {
        Self { base, dir: None }
    }

    /// The directory, created now if need be.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn path(&mut self) -> io::Result<&Path> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        if self.dir.is_none() {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = self
                .base
                .join(format!("rstask-dedup-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            self.dir = Some(dir);
        }
        Ok(self.dir.as_deref().unwrap_or(&self.base))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

struct Spill {
    dir: PathBuf,
    partitions: Vec<BufWriter<File>>,
    bloom: Vec<u64>,
    candidates: BufWriter<File>,
    /// Index (in the staged rows) of the first tentative row.
    first_row: u64,
    tentative: u64,
    candidate_rows: u64,
}

/// Duplicate detection for one object (see the module docs).
pub struct Dedup {
    set: BoundedSet,
    budget: usize,
    scratch: ScratchDir,
    spill: Option<Spill>,
    /// Rows kept (or tentatively kept) so far: the next row's index in the staged file.
    rows: u64,
}

impl Dedup {
    /// Duplicate detection within `budget` bytes, spilling under `scratch` beyond it.
    #[must_use]
    pub fn new(budget: usize, scratch: ScratchDir) -> Self {
        Self {
            set: BoundedSet::new(budget),
            budget,
            scratch,
            spill: None,
            rows: 0,
        }
    }

    /// Decides a row that mapped to an event whose id hashes to `hash`.
    ///
    /// # Errors
    /// Writing the spill files.
    pub fn check(&mut self, hash: u128) -> io::Result<Verdict> {
        if self.spill.is_none() {
            match self.set.insert(hash) {
                Some(true) => {
                    self.rows += 1;
                    return Ok(Verdict::New);
                }
                Some(false) => return Ok(Verdict::Duplicate),
                None => self.start_spill()?,
            }
        } else if self.set.contains(hash) {
            return Ok(Verdict::Duplicate);
        }
        let Some(spill) = &mut self.spill else {
            return Err(io::Error::other("spill not started"));
        };
        let partition = usize::try_from(hash >> (128 - FANOUT_BITS)).unwrap_or(0);
        let mut record = [0_u8; RECORD];
        record[..16].copy_from_slice(&hash.to_le_bytes());
        record[16..].copy_from_slice(&self.rows.to_le_bytes());
        spill.partitions[partition].write_all(&record)?;
        let candidate = bloom_insert(&mut spill.bloom, hash);
        spill.tentative += 1;
        self.rows += 1;
        Ok(Verdict::Tentative { candidate })
    }

    /// Keeps the raw line of a candidate row (line numbers must increase).
    ///
    /// # Errors
    /// Writing the candidates file.
    pub fn keep_candidate(&mut self, line: u64, raw: &str) -> io::Result<()> {
        let Some(spill) = &mut self.spill else {
            return Ok(());
        };
        let len = u32::try_from(raw.len()).map_err(io::Error::other)?;
        spill.candidates.write_all(&line.to_le_bytes())?;
        spill.candidates.write_all(&len.to_le_bytes())?;
        spill.candidates.write_all(raw.as_bytes())?;
        spill.candidate_rows += 1;
        Ok(())
    }

    /// Whether the set overflowed and rows were kept tentatively.
    #[must_use]
    pub const fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    fn start_spill(&mut self) -> io::Result<()> {
        let dir = self.scratch.path()?.to_path_buf();
        let partitions = (0..FANOUT)
            .map(|p| {
                File::create(dir.join(format!("part-{p}.bin")))
                    .map(|f| BufWriter::with_capacity(PARTITION_BUFFER, f))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let candidates =
            BufWriter::with_capacity(PARTITION_BUFFER, File::create(dir.join("candidates.bin"))?);
        // the Bloom filter gets what the frozen set leaves of the budget (a power of two
        // of 64-bit words, at least one)
        let free_words = (self.budget.saturating_sub(self.set.bytes()) / 8).max(1);
        let words = if free_words.is_power_of_two() {
            free_words
        } else {
            free_words.next_power_of_two() / 2
        };
        tracing::debug!(
            ids = self.set.set.len() as u64,
            set_bytes = self.set.bytes() as u64,
            bloom_bytes = (words * 8) as u64,
            "duplicate-id set full: spilling"
        );
        self.spill = Some(Spill {
            dir,
            partitions,
            bloom: vec![0; words],
            candidates,
            first_row: self.rows,
            tentative: 0,
            candidate_rows: 0,
        });
        Ok(())
    }

    /// Ends the stream: `None` when every verdict was final; else the late duplicates,
    /// found partition by partition.
    ///
    /// # Errors
    /// Reading or writing the spill files.
    pub fn finish(mut self) -> io::Result<Option<Resolved>> {
        let Some(spill) = self.spill.take() else {
            return Ok(None);
        };
        let Spill {
            dir,
            partitions,
            bloom,
            candidates,
            first_row,
            tentative,
            candidate_rows,
        } = spill;
        drop(bloom);
        drop(std::mem::replace(&mut self.set, BoundedSet::new(0)));
        for mut writer in partitions {
            writer.flush()?;
        }
        let mut candidates = candidates;
        candidates.flush()?;
        drop(candidates);
        let bitmap_path = dir.join("late.bitmap");
        let mut bitmap = Bitmap::create(&bitmap_path, self.rows)?;
        let mut late = 0;
        let resolve_budget = self.budget.max(MIN_RESOLVE_BUDGET);
        for p in 0..FANOUT {
            let path = dir.join(format!("part-{p}.bin"));
            late += resolve_partition(&path, FANOUT_BITS, resolve_budget, &mut bitmap)?;
        }
        bitmap.flush()?;
        tracing::debug!(
            tentative,
            candidates = candidate_rows,
            late_duplicates = late,
            "duplicate ids resolved"
        );
        if late == 0 {
            return Ok(None);
        }
        Ok(Some(Resolved {
            late,
            first_row,
            bitmap: BufReader::with_capacity(PARTITION_BUFFER, File::open(&bitmap_path)?),
            bits: 0,
            bits_left: 0,
            candidates: BufReader::with_capacity(
                PARTITION_BUFFER,
                File::open(dir.join("candidates.bin"))?,
            ),
            _scratch: self.scratch,
        }))
    }
}

/// Sets the row's bits in the Bloom filter; whether they were all set already.
fn bloom_insert(bloom: &mut [u64], hash: u128) -> bool {
    let bits = bloom.len() as u64 * 64;
    let mut seen = true;
    for k in 0..4 {
        // 32 bits of the hash per probe; the set uses the low 64 and the partition the
        // top bits, which does not matter here
        #[allow(clippy::cast_possible_truncation)] // 32 bits of the hash, by design
        let piece = u64::from((hash >> (32 * k)) as u32)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(17 * k);
        let bit = piece & (bits - 1);
        let (word, mask) = (usize::try_from(bit / 64).unwrap_or(0), 1_u64 << (bit % 64));
        seen &= bloom[word] & mask != 0;
        bloom[word] |= mask;
    }
    seen
}

/// Finds the rows of one partition file whose hash occurred earlier in it (the file is in
/// row order) and marks them; splits the file by further hash bits if its distinct hashes
/// do not fit the budget. Returns how many rows it marked.
fn resolve_partition(
    path: &Path,
    used_bits: u32,
    budget: usize,
    bitmap: &mut Bitmap,
) -> io::Result<u64> {
    let mut set = BoundedSet::new(budget);
    let mut reader = BufReader::with_capacity(PARTITION_BUFFER, File::open(path)?);
    let mut record = [0_u8; RECORD];
    // a row whose hash came earlier in the file is a duplicate whatever happens next, so
    // it is marked at once (marking is idempotent: a split pass marks it again)
    let mut late = 0;
    let mut fits = true;
    while read_record(&mut reader, &mut record)? {
        let (hash, row) = parse_record(&record);
        match set.insert(hash) {
            Some(true) => {}
            Some(false) => {
                bitmap.mark(row)?;
                late += 1;
            }
            None => {
                fits = false;
                break;
            }
        }
    }
    if fits {
        let _ = std::fs::remove_file(path);
        return Ok(late);
    }
    if used_bits >= 128 {
        return Err(io::Error::other(
            "duplicate-id partition exceeds the budget",
        ));
    }
    drop(set);
    // split by the next FANOUT_BITS bits of the hash and resolve each part
    let bits = FANOUT_BITS.min(128 - used_bits);
    let mut parts = (0..1_usize << bits)
        .map(|i| {
            File::create(path.with_extension(format!("{i}.bin")))
                .map(|f| BufWriter::with_capacity(PARTITION_BUFFER, f))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut reader = BufReader::with_capacity(PARTITION_BUFFER, File::open(path)?);
    while read_record(&mut reader, &mut record)? {
        let (hash, _) = parse_record(&record);
        let part = usize::try_from((hash << used_bits) >> (128 - bits)).unwrap_or(0);
        parts[part].write_all(&record)?;
    }
    for mut part in parts {
        part.flush()?;
    }
    let _ = std::fs::remove_file(path);
    let mut late = 0;
    for i in 0..1_usize << bits {
        late += resolve_partition(
            &path.with_extension(format!("{i}.bin")),
            used_bits + bits,
            budget,
            bitmap,
        )?;
    }
    Ok(late)
}

fn read_record(reader: &mut impl Read, record: &mut [u8; RECORD]) -> io::Result<bool> {
    match reader.read_exact(record) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn parse_record(record: &[u8; RECORD]) -> (u128, u64) {
    let mut hash = [0_u8; 16];
    hash.copy_from_slice(&record[..16]);
    let mut row = [0_u8; 8];
    row.copy_from_slice(&record[16..]);
    (u128::from_le_bytes(hash), u64::from_le_bytes(row))
}

/// One bit per staged row, on disk; marks are buffered and applied page by page.
struct Bitmap {
    file: File,
    pending: Vec<u64>,
}

impl Bitmap {
    fn create(path: &Path, rows: u64) -> io::Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(rows.div_ceil(8))?;
        Ok(Self {
            file,
            pending: Vec::new(),
        })
    }

    fn mark(&mut self, row: u64) -> io::Result<()> {
        self.pending.push(row);
        if self.pending.len() >= MARK_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.pending.sort_unstable();
        let len = self.file.metadata()?.len();
        let mut page = vec![0_u8; usize::try_from(BITMAP_PAGE).unwrap_or(4096)];
        let mut i = 0;
        while i < self.pending.len() {
            let start = (self.pending[i] / 8) / BITMAP_PAGE * BITMAP_PAGE;
            let size = usize::try_from(BITMAP_PAGE.min(len - start)).unwrap_or(0);
            let page = &mut page[..size];
            self.file.read_exact_at(page, start)?;
            while i < self.pending.len() && self.pending[i] / 8 < start + BITMAP_PAGE {
                let byte = usize::try_from(self.pending[i] / 8 - start).unwrap_or(0);
                page[byte] |= 1 << (self.pending[i] % 8);
                i += 1;
            }
            self.file.write_all_at(page, start)?;
        }
        self.pending.clear();
        Ok(())
    }
}

/// The late duplicates of a spilled object: which staged rows to drop (asked in row
/// order) and their raw lines (asked in line order).
pub struct Resolved {
    /// How many rows turned out to be duplicates.
    pub late: u64,
    first_row: u64,
    bitmap: BufReader<File>,
    bits: u8,
    bits_left: u32,
    candidates: BufReader<File>,
    _scratch: ScratchDir,
}

impl Resolved {
    /// Whether the next staged row (rows are asked for in order, from row 0) is a late
    /// duplicate.
    ///
    /// # Errors
    /// Reading the bitmap.
    pub fn next_is_duplicate(&mut self) -> io::Result<bool> {
        if self.bits_left == 0 {
            let mut byte = [0_u8; 1];
            self.bitmap.read_exact(&mut byte)?;
            self.bits = byte[0];
            self.bits_left = 8;
        }
        let bit = self.bits & 1 == 1;
        self.bits >>= 1;
        self.bits_left -= 1;
        Ok(bit)
    }

    /// The staged row index of the first tentative row (rows before it are final).
    #[must_use]
    pub const fn first_tentative_row(&self) -> u64 {
        self.first_row
    }

    /// The raw line of the late duplicate at `line` (asked in increasing line order).
    ///
    /// # Errors
    /// Reading the candidates file, or the line is not a candidate (a bug).
    pub fn raw_line(&mut self, line: u64) -> io::Result<String> {
        loop {
            let mut head = [0_u8; 12];
            self.candidates.read_exact(&mut head)?;
            let mut number = [0_u8; 8];
            number.copy_from_slice(&head[..8]);
            let mut len = [0_u8; 4];
            len.copy_from_slice(&head[8..]);
            let len = usize::try_from(u32::from_le_bytes(len)).map_err(io::Error::other)?;
            let number = u64::from_le_bytes(number);
            if number == line {
                let mut raw = vec![0; len];
                self.candidates.read_exact(&mut raw)?;
                return String::from_utf8(raw).map_err(io::Error::other);
            }
            if number > line {
                return Err(io::Error::other(format!(
                    "late duplicate at line {line} has no kept raw line"
                )));
            }
            io::copy(
                &mut (&mut self.candidates).take(len as u64),
                &mut io::sink(),
            )?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(budget: usize, ids: &[u32]) -> (Vec<Verdict>, Option<Vec<bool>>) {
        let dir = tempfile::tempdir().unwrap();
        let mut dedup = Dedup::new(budget, ScratchDir::new(dir.path().to_path_buf()));
        let mut verdicts = Vec::new();
        for (line, id) in ids.iter().enumerate() {
            let v = dedup.check(id_hash(&id.to_string())).unwrap();
            if let Verdict::Tentative { candidate: true } = v {
                dedup
                    .keep_candidate(line as u64, &format!("row {id}"))
                    .unwrap();
            }
            verdicts.push(v);
        }
        let kept = verdicts
            .iter()
            .filter(|v| !matches!(v, Verdict::Duplicate))
            .count();
        let late = dedup.finish().unwrap().map(|mut r| {
            (0..kept)
                .map(|_| r.next_is_duplicate().unwrap())
                .collect::<Vec<_>>()
        });
        (verdicts, late)
    }

    /// Which rows are duplicates, whatever the budget.
    fn duplicates(budget: usize, ids: &[u32]) -> Vec<bool> {
        let (verdicts, late) = run(budget, ids);
        let mut late = late.unwrap_or_default().into_iter();
        verdicts
            .iter()
            .map(|v| match v {
                Verdict::Duplicate => true,
                Verdict::New => {
                    late.next();
                    false
                }
                Verdict::Tentative { .. } => late.next().unwrap_or(false),
            })
            .collect()
    }

    #[test]
    fn bounded_set_stays_within_its_budget() {
        let mut set = BoundedSet::new(table_bytes(1000) + table_bytes(500));
        let mut n = 0_u128;
        while set
            .insert(n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
            .is_some()
        {
            n += 1;
        }
        assert!(n >= 500 && set.bytes() <= set.budget, "{n} {}", set.bytes());
        assert!(!set.contains(n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)));
        assert_eq!(
            set.insert(0),
            Some(false),
            "present ids are still found when full"
        );
    }

    #[test]
    fn spilled_and_in_memory_find_the_same_duplicates() {
        let mut ids = Vec::new();
        let mut x = 7_u64;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ids.push(u32::try_from(x >> 50).unwrap()); // ~16 K distinct: many repeats
        }
        let exact = duplicates(DEFAULT_BUDGET, &ids);
        assert!(exact.iter().filter(|d| **d).count() > 1000);
        for budget in [0, 64, 4096, 40_000, 300_000] {
            assert_eq!(duplicates(budget, &ids), exact, "budget {budget}");
        }
        // the first row of each id wins
        let mut seen = std::collections::HashSet::new();
        for (id, dup) in ids.iter().zip(&exact) {
            assert_eq!(*dup, !seen.insert(id));
        }
    }

    #[test]
    fn tiny_budget_splits_partitions_and_finds_raw_lines() {
        let ids: Vec<u32> = (0..5000).chain(0..5000).chain([7, 7, 7]).collect();
        let dir = tempfile::tempdir().unwrap();
        let mut dedup = Dedup::new(256, ScratchDir::new(dir.path().to_path_buf()));
        let mut candidates = 0;
        for (line, id) in ids.iter().enumerate() {
            match dedup.check(id_hash(&id.to_string())).unwrap() {
                Verdict::Tentative { candidate: true } => {
                    candidates += 1;
                    dedup
                        .keep_candidate(line as u64, &format!("row {id}"))
                        .unwrap();
                }
                Verdict::Tentative { candidate: false } | Verdict::New | Verdict::Duplicate => {}
            }
        }
        assert!(dedup.spilled());
        assert!(candidates >= 5003);
        let mut resolved = dedup.finish().unwrap().unwrap();
        // a 256-byte budget holds no table: every row was spilled, row index = line
        assert_eq!(resolved.first_tentative_row(), 0);
        let mut late_lines = Vec::new();
        for row in 0..ids.len() as u64 {
            if resolved.next_is_duplicate().unwrap() {
                late_lines.push(row);
            }
        }
        assert_eq!(late_lines.len(), 5003);
        assert_eq!(resolved.late, 5003);
        for &row in &late_lines {
            let id = ids[usize::try_from(row).unwrap()];
            assert_eq!(resolved.raw_line(row).unwrap(), format!("row {id}"));
        }
    }

    /// A partition whose distinct ids do not fit the budget is split by further hash bits
    /// until they do; the duplicates found are the same.
    #[test]
    fn big_partitions_are_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.bin");
        let mut file = BufWriter::new(File::create(&path).unwrap());
        let ids: Vec<u32> = (0..3000).chain(0..3000).chain(100..200).collect();
        for (row, id) in ids.iter().enumerate() {
            let mut record = [0_u8; RECORD];
            record[..16].copy_from_slice(&id_hash(&id.to_string()).to_le_bytes());
            record[16..].copy_from_slice(&(row as u64).to_le_bytes());
            file.write_all(&record).unwrap();
        }
        file.flush().unwrap();
        drop(file);
        let mut bitmap = Bitmap::create(&dir.path().join("b"), ids.len() as u64).unwrap();
        // 4 KiB holds at most 112 ids: the 3000 are split twice
        let late = resolve_partition(&path, FANOUT_BITS, 4096, &mut bitmap).unwrap();
        bitmap.flush().unwrap();
        assert_eq!(late, 3100);
        let bits = std::fs::read(dir.path().join("b")).unwrap();
        for row in 0..ids.len() {
            let marked = bits[row / 8] >> (row % 8) & 1 == 1;
            assert_eq!(marked, row >= 3000, "row {row}");
        }
    }
}
