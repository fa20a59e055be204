//! Sentence vectors on disk: int8, one row per embedded sentence, memory-mapped; the row's
//! (page id, sentence ordinal) and its scale beside it.
//!
//! Each row is quantised on its own (`int8 = round(x × 127 / max |x|)`, the factor back to f32
//! kept per row in `scales.f32`), so a row's bytes depend only on its own vector: an index
//! updated from a newer dump holds, for every sentence, exactly the row a fresh build would
//! (and per-row scales lose less than one scale for all). Rows removed by an update are listed
//! in `dead.bin` and never returned. A dot product of an f32 query with a row is
//! `Σ q·r × scale(row)`.

use crate::error::{Context, Result, VectorError};
use crate::layout::{GRAPH_FILE, VECTORS_DIR};
use crate::span::Span;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use wikirag_core::blocks::{BlockCheck, BlockSums};

pub(crate) const VECTORS_FILE: &str = "vectors.i8";
pub(crate) const ROWS_FILE: &str = "rows.bin";
pub(crate) const SCALES_FILE: &str = "scales.f32";
pub(crate) const DEAD_FILE: &str = "dead.bin";
const ROW_BYTES: usize = 12;

/// Writes int8 rows during a build (or an update, after the rows already there).
pub struct VectorWriter {
    dir: PathBuf,
    dim: usize,
    out: BufWriter<File>,
    rows: Vec<(u64, u32)>,
    scales: Vec<f32>,
    /// Rows that were in the store before this writer (an update appends after them).
    existing: usize,
}

impl VectorWriter {
    pub fn create(dir: &Path, dim: usize) -> Result<VectorWriter> {
        std::fs::create_dir_all(dir).at(dir)?;
        let path = dir.join(VECTORS_FILE);
        let out = BufWriter::with_capacity(1 << 20, File::create(&path).at(&path)?);
        Ok(VectorWriter {
            dir: dir.to_path_buf(),
            dim,
            out,
            rows: Vec::new(),
            scales: Vec::new(),
            existing: 0,
        })
    }

    /// Appends to the store in `dir` (a per-row-scaled one of `count` rows): for updates, on
    /// a copy of the store, never on a published one.
    pub(crate) fn append(dir: &Path, dim: usize, count: usize) -> Result<VectorWriter> {
        let store = VectorStore::open(dir, dim, count, None)?;
        let rows = store.rows.clone();
        let scales = store.scales.clone();
        drop(store);
        VectorWriter::appending(dir, dim, rows, scales, count)
    }

    /// A writer appending to `dir`'s `vectors.i8`, which holds the rows given.
    fn appending(
        dir: &Path,
        dim: usize,
        rows: Vec<(u64, u32)>,
        scales: Vec<f32>,
        existing: usize,
    ) -> Result<VectorWriter> {
        let path = dir.join(VECTORS_FILE);
        let file = OpenOptions::new().append(true).open(&path).at(&path)?;
        Ok(VectorWriter {
            dir: dir.to_path_buf(),
            dim,
            out: BufWriter::with_capacity(1 << 20, file),
            rows,
            scales,
            existing,
        })
    }

    /// A writer over the rows an interrupted build left in `dir` (`vectors.i8` holding exactly
    /// `positions.len()` rows): new rows append after them (see `journal.rs`).
    pub(crate) fn resume(
        dir: &Path,
        dim: usize,
        positions: Vec<(u64, u32)>,
        scales: Vec<f32>,
    ) -> Result<VectorWriter> {
        VectorWriter::appending(dir, dim, positions, scales, 0)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The scale of the row added last.
    pub(crate) fn last_scale(&self) -> Option<f32> {
        self.scales.last().copied()
    }

    /// Makes the rows written so far durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        let path = self.dir.join(VECTORS_FILE);
        self.out.flush().at(&path)?;
        self.out.get_ref().sync_data().at(&path)
    }

    /// The (page id, sentence) of every row written, in order.
    pub(crate) fn positions(&self) -> &[(u64, u32)] {
        &self.rows
    }

    /// Keeps only the rows whose `keep` is true (of a build's writer, whose every row is its
    /// own), rewriting the rows file in order.
    pub(crate) fn retain(&mut self, keep: &[bool]) -> Result<()> {
        assert_eq!(keep.len(), self.rows.len());
        let path = self.dir.join(VECTORS_FILE);
        self.out.flush().at(&path)?;
        let old = std::fs::read(&path).at(&path)?;
        let mut bytes = Vec::with_capacity(old.len());
        for (row, k) in old.chunks_exact(self.dim).zip(keep) {
            if *k {
                bytes.extend_from_slice(row);
            }
        }
        write_file(&path, &bytes)?;
        let file = OpenOptions::new().append(true).open(&path).at(&path)?;
        self.out = BufWriter::with_capacity(1 << 20, file);
        let mut k = keep.iter();
        self.rows.retain(|_| *k.next().expect("one per row"));
        let mut k = keep.iter();
        self.scales.retain(|_| *k.next().expect("one per row"));
        Ok(())
    }

    /// The writer's directory was renamed to `dir` (its open file follows the rename).
    pub(crate) fn moved_to(&mut self, dir: PathBuf) {
        self.dir = dir;
    }

    /// Rows written by this writer (not counting those already in the store).
    pub fn len(&self) -> usize {
        self.rows.len() - self.existing
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the vector of page `page_id`'s sentence `sentence`, or of the window whose
    /// [`Span`](crate::Span) key it is.
    pub fn add(&mut self, page_id: u64, sentence: u32, vector: &[f32]) -> Result<()> {
        if vector.len() != self.dim {
            return Err(VectorError::Dimension {
                expected: self.dim,
                got: vector.len(),
            });
        }
        let path = self.dir.join(VECTORS_FILE);
        let mut q = vec![0u8; self.dim];
        let scale = quantize_row(vector, &mut q).map_err(|()| VectorError::BadIndex {
            path: path.clone(),
            message: format!(
                "non-finite value in the vector of page {page_id} sentence {sentence}"
            ),
        })?;
        self.out.write_all(&q).at(&path)?;
        self.rows.push((page_id, sentence));
        self.scales.push(scale);
        Ok(())
    }

    /// Adds a row already quantised (compaction copies rows as they are).
    pub(crate) fn push_quantised(
        &mut self,
        page_id: u64,
        sentence: u32,
        row: &[i8],
        scale: f32,
    ) -> Result<()> {
        let path = self.dir.join(VECTORS_FILE);
        let bytes: Vec<u8> = row.iter().map(|&x| x as u8).collect();
        self.out.write_all(&bytes).at(&path)?;
        self.rows.push((page_id, sentence));
        self.scales.push(scale);
        Ok(())
    }

    /// Flushes the rows and writes `rows.bin` and `scales.f32`; returns the row count.
    pub(crate) fn finish(self) -> Result<usize> {
        let VectorWriter {
            dir,
            out,
            rows,
            scales,
            ..
        } = self;
        let path = dir.join(VECTORS_FILE);
        let file = out.into_inner().map_err(|e| e.into_error()).at(&path)?;
        file.sync_all().at(&path)?;
        let mut bytes = Vec::with_capacity(rows.len() * ROW_BYTES);
        for (page, sentence) in &rows {
            bytes.extend_from_slice(&page.to_le_bytes());
            bytes.extend_from_slice(&sentence.to_le_bytes());
        }
        write_file(&dir.join(ROWS_FILE), &bytes)?;
        let bytes: Vec<u8> = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        write_file(&dir.join(SCALES_FILE), &bytes)?;
        Ok(rows.len())
    }
}

/// Writes a whole file through a temporary one renamed into place.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).at(&tmp)?;
    f.write_all(bytes).at(&tmp)?;
    f.sync_all().at(&tmp)?;
    drop(f);
    std::fs::rename(&tmp, path).at(path)
}

/// Quantises one vector into `out` (int8 as bytes); returns the factor back to f32.
pub(crate) fn quantize_row(vector: &[f32], out: &mut [u8]) -> std::result::Result<f32, ()> {
    let mut max_abs = 0f32;
    for &x in vector {
        if !x.is_finite() {
            return Err(());
        }
        max_abs = max_abs.max(x.abs());
    }
    let scale = if max_abs > 0.0 { 127.0 / max_abs } else { 1.0 };
    for (o, &x) in out.iter_mut().zip(vector) {
        *o = quantize(x, scale) as u8;
    }
    Ok(1.0 / scale)
}

pub(crate) fn quantize(x: f32, scale: f32) -> i8 {
    (x * scale).round().clamp(-127.0, 127.0) as i8
}

/// The memory-mapped vectors of an index.
pub struct VectorStore {
    map: memmap2::Mmap,
    dim: usize,
    count: usize,
    /// Per row: f32 value = int8 × scale.
    scales: Vec<f32>,
    rows: Vec<(u64, u32)>,
    /// Whether some row covers a window of sentences rather than one (`span.rs`).
    windowed: bool,
    /// Rows removed by updates (`dead.bin`); empty when none.
    dead: Vec<bool>,
    dead_count: usize,
    /// `vectors.i8` checked block by block as rows are first read (a published index with
    /// block checksums).
    check: Option<BlockCheck>,
}

/// Checks a file read whole against its block checksums, when the index has them.
pub(crate) fn check_whole(
    sums: Option<&BlockSums>,
    dir: &Path,
    file: &str,
    bytes: &[u8],
) -> Result<()> {
    let Some(blocks) = sums.and_then(|s| s.files.get(&format!("{VECTORS_DIR}/{file}"))) else {
        return Ok(());
    };
    BlockCheck::new(format!("{VECTORS_DIR}/{file}"), blocks.clone())
        .check_all(bytes)
        .map_err(|d| VectorError::Damaged {
            path: dir.join(file),
            detail: if file == GRAPH_FILE {
                format!("{d}; `wikirag relink` rebuilds the graph from the vectors")
            } else {
                d.to_string()
            },
        })
}

impl VectorStore {
    /// Opens the store of `count` rows in `dir`. `uniform`: the one scale of a store written
    /// before per-row scales (vector format 2); `None` reads `scales.f32`.
    pub(crate) fn open(
        dir: &Path,
        dim: usize,
        count: usize,
        uniform: Option<f32>,
    ) -> Result<VectorStore> {
        Self::open_checked(dir, dim, count, uniform, None)
    }

    /// [`VectorStore::open`], checking every file against the index's block checksums: the
    /// files read whole now, `vectors.i8` block by block as rows are first read.
    pub(crate) fn open_checked(
        dir: &Path,
        dim: usize,
        count: usize,
        uniform: Option<f32>,
        sums: Option<&BlockSums>,
    ) -> Result<VectorStore> {
        let path = dir.join(VECTORS_FILE);
        let file = File::open(&path).at(&path)?;
        let len = file.metadata().at(&path)?.len() as usize;
        if len != dim * count {
            return Err(VectorError::BadIndex {
                path,
                message: format!(
                    "{len} bytes, expected {count} vectors of {dim} (truncated or wrong file)"
                ),
            });
        }
        let map = map_file(&file).at(&path)?;
        let rows_path = dir.join(ROWS_FILE);
        let bytes = std::fs::read(&rows_path).at(&rows_path)?;
        check_whole(sums, dir, ROWS_FILE, &bytes)?;
        if bytes.len() != count * ROW_BYTES {
            return Err(VectorError::BadIndex {
                path: rows_path,
                message: format!("{} bytes, expected {count} rows", bytes.len()),
            });
        }
        let rows: Vec<(u64, u32)> = bytes
            .chunks_exact(ROW_BYTES)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
                    u32::from_le_bytes(c[8..].try_into().expect("4 bytes")),
                )
            })
            .collect();
        let scales = match uniform {
            Some(scale) if scale > 0.0 && scale.is_finite() => vec![1.0 / scale; count],
            Some(scale) => {
                return Err(VectorError::BadIndex {
                    path: dir.join("meta.json"),
                    message: format!("scale {scale} is not a positive number"),
                });
            }
            None => {
                let path = dir.join(SCALES_FILE);
                let bytes = std::fs::read(&path).at(&path)?;
                check_whole(sums, dir, SCALES_FILE, &bytes)?;
                if bytes.len() != count * 4 {
                    return Err(VectorError::BadIndex {
                        path,
                        message: format!("{} bytes, expected {count} scales", bytes.len()),
                    });
                }
                let scales: Vec<f32> = bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect();
                if let Some(row) = scales.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
                    return Err(VectorError::BadIndex {
                        path,
                        message: format!("row {row}: scale {} (damaged)", scales[row]),
                    });
                }
                scales
            }
        };
        let (dead, dead_count) = read_dead(dir, count, sums)?;
        let check = sums
            .and_then(|s| s.files.get(&format!("{VECTORS_DIR}/{VECTORS_FILE}")))
            .map(|blocks| BlockCheck::new(format!("{VECTORS_DIR}/{VECTORS_FILE}"), blocks.clone()));
        let windowed = rows.iter().any(|&(_, key)| Span::from_key(key).count > 1);
        Ok(VectorStore {
            map,
            dim,
            count,
            scales,
            rows,
            windowed,
            dead,
            dead_count,
            check,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows searches can return (all rows less those removed by updates).
    pub fn live(&self) -> usize {
        self.count - self.dead_count
    }

    /// Rows removed by updates, still in the file until the store is compacted.
    pub fn dead_count(&self) -> usize {
        self.dead_count
    }

    /// Whether an update removed row `row`.
    #[inline(always)]
    pub fn is_dead(&self, row: usize) -> bool {
        self.dead.get(row).copied().unwrap_or(false)
    }

    /// The quantised vector of row `row`. Its block is checked against the published
    /// checksum the first time any row of it is read; a mismatch is recorded (searches then
    /// fail with [`VectorError::Damaged`], see [`VectorStore::damage`]).
    #[inline]
    pub fn row(&self, row: usize) -> &[i8] {
        let range = row * self.dim..(row + 1) * self.dim;
        if let Some(check) = &self.check {
            let _ = check.check(&self.map, range.clone());
        }
        bytemuck::cast_slice(&self.map[range])
    }

    /// The first damaged block of `vectors.i8` a read found.
    pub fn damage(&self) -> Option<wikirag_core::blocks::BlockDamage> {
        self.check.as_ref()?.damage()
    }

    /// Checks every block of `vectors.i8` that no search has read yet.
    pub fn verify_blocks(&self) -> std::result::Result<(), wikirag_core::blocks::BlockDamage> {
        match &self.check {
            Some(check) => check.check_all(&self.map),
            None => Ok(()),
        }
    }

    /// Blocks of `vectors.i8` verified, and in all (0, 0 without checksums).
    pub fn blocks_verified(&self) -> (usize, usize) {
        self.check.as_ref().map_or((0, 0), |c| c.progress())
    }

    /// The factor from row `row`'s int8 values back to f32.
    #[inline(always)]
    pub fn row_scale(&self, row: usize) -> f32 {
        self.scales[row]
    }

    /// Tells the kernel rows are read at random (no read-ahead around a row read).
    pub(crate) fn advise_random(&self) {
        #[cfg(unix)]
        if let Err(e) = self.map.advise(memmap2::Advice::Random) {
            tracing::debug!(error = %e, "madvise(RANDOM) on the vectors failed");
        }
    }

    /// Bytes held in memory besides the memory-mapped rows (positions, scales, dead flags).
    pub fn resident_bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<(u64, u32)>()
            + self.scales.capacity() * 4
            + self.dead.capacity()
    }

    /// Row `row` back in f32 (its int8 values times its scale).
    pub fn dequantized(&self, row: usize) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        self.dequantize_into(row, &mut v);
        v
    }

    /// [`VectorStore::dequantized`] into `out` (`dim` floats).
    pub fn dequantize_into(&self, row: usize, out: &mut [f32]) {
        let scale = self.scales[row];
        for (o, &x) in out.iter_mut().zip(self.row(row)) {
            *o = f32::from(x) * scale;
        }
    }

    /// (page id, span key) of a row: for a store of one sentence a row (not
    /// [`windowed`](Self::windowed)), the sentence's ordinal.
    pub fn position(&self, row: usize) -> (u64, u32) {
        self.rows[row]
    }

    /// The page and the sentences a row covers.
    pub fn span(&self, row: usize) -> (u64, Span) {
        let (page, key) = self.rows[row];
        (page, Span::from_key(key))
    }

    /// Whether some row covers a window of sentences (searches then rank a window's sentences
    /// inside it).
    pub fn windowed(&self) -> bool {
        self.windowed
    }

    /// Cosine of an f32 (unit) query with row `row`.
    #[inline(always)]
    pub fn score(&self, query: &[f32], row: usize) -> f32 {
        dot_f32_i8(query, self.row(row)) * self.scales[row]
    }

    /// Cosine of two rows.
    #[inline(always)]
    pub(crate) fn similarity(&self, a: usize, b: usize) -> f32 {
        dot_i8(self.row(a), self.row(b)) as f32 * (self.scales[a] * self.scales[b])
    }

    /// Best-first order: score descending, then (page id, sentence) ascending, so equal scores
    /// come out in the same order whatever rows the vectors sit in (a build and an update
    /// place them differently).
    pub fn sort_hits(&self, hits: &mut [(u32, f32)]) {
        hits.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.rows[a.0 as usize].cmp(&self.rows[b.0 as usize]))
        });
    }

    /// Exact top `n` live rows by cosine, best first.
    pub fn exact(&self, query: &[f32], n: usize) -> Vec<(u32, f32)> {
        use rayon::prelude::*;
        const CHUNK: usize = 16_384;
        let chunks = self.count.div_ceil(CHUNK);
        let mut best: Vec<(u32, f32)> = (0..chunks)
            .into_par_iter()
            .flat_map_iter(|c| {
                let start = c * CHUNK;
                let end = (start + CHUNK).min(self.count);
                let mut top = TopN::new(self, n);
                for row in start..end {
                    if !self.is_dead(row) {
                        top.push(row as u32, self.score(query, row));
                    }
                }
                top.into_vec()
            })
            .collect();
        self.sort_hits(&mut best);
        best.truncate(n);
        best
    }
}

/// Reads `dead.bin` (u32 rows, little-endian) into a flag per row.
fn read_dead(dir: &Path, count: usize, sums: Option<&BlockSums>) -> Result<(Vec<bool>, usize)> {
    let path = dir.join(DEAD_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e).at(&path),
    };
    check_whole(sums, dir, DEAD_FILE, &bytes)?;
    if bytes.len() % 4 != 0 {
        return Err(VectorError::BadIndex {
            path,
            message: format!("{} bytes, not a list of rows (damaged)", bytes.len()),
        });
    }
    let mut dead = vec![false; count];
    let mut n = 0;
    for c in bytes.chunks_exact(4) {
        let row = u32::from_le_bytes(c.try_into().expect("4 bytes")) as usize;
        match dead.get_mut(row) {
            Some(flag) if !*flag => {
                *flag = true;
                n += 1;
            }
            Some(_) => {}
            None => {
                return Err(VectorError::BadIndex {
                    path,
                    message: format!("dead row {row} of {count} (damaged)"),
                });
            }
        }
    }
    Ok((dead, n))
}

/// Writes `dead.bin`: the rows updates removed.
pub(crate) fn write_dead(dir: &Path, rows: &[u32]) -> Result<()> {
    let bytes: Vec<u8> = rows.iter().flat_map(|r| r.to_le_bytes()).collect();
    write_file(&dir.join(DEAD_FILE), &bytes)
}

/// Keeps the `n` best (row, score) pairs.
struct TopN<'a> {
    store: &'a VectorStore,
    n: usize,
    items: Vec<(u32, f32)>,
    floor: f32,
}

impl<'a> TopN<'a> {
    fn new(store: &'a VectorStore, n: usize) -> TopN<'a> {
        TopN {
            store,
            n,
            items: Vec::with_capacity(2 * n + 1),
            floor: f32::NEG_INFINITY,
        }
    }
    fn push(&mut self, row: u32, score: f32) {
        if self.n == 0 || score < self.floor {
            return;
        }
        self.items.push((row, score));
        if self.items.len() >= 2 * self.n {
            self.store.sort_hits(&mut self.items);
            self.items.truncate(self.n);
            self.floor = self.items[self.n - 1].1;
        }
    }
    fn into_vec(mut self) -> Vec<(u32, f32)> {
        self.store.sort_hits(&mut self.items);
        self.items.truncate(self.n);
        self.items
    }
}

/// Dot product of two int8 vectors, in i32 (vectorised by the compiler: 16 lanes at a time;
/// inlined so callers compiled for AVX2/AVX-512 get those instructions).
#[inline(always)]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let chunks_a = a.chunks_exact(16);
    let chunks_b = b.chunks_exact(16);
    let tail: i32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..16 {
            acc[i] += i32::from(ca[i]) * i32::from(cb[i]);
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// Dot product of an f32 vector with an int8 one.
#[inline(always)]
pub(crate) fn dot_f32_i8(a: &[f32], b: &[i8]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks_a = a.chunks_exact(16);
    let chunks_b = b.chunks_exact(16);
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * f32::from(*y))
        .sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..16 {
            acc[i] += ca[i] * f32::from(cb[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn map_file(file: &File) -> std::io::Result<memmap2::Mmap> {
    #[allow(unsafe_code)]
    // SAFETY: the index directory is written once and published by rename; wikirag never
    // modifies a published vectors file (an update appends to a copy in a new generation). Another process truncating it would be outside the
    // index's contract (the same contract tantivy's own memory-mapped segments rely on).
    unsafe {
        memmap2::Mmap::map(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_products_match_scalar() {
        let a: Vec<i8> = (0..389).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..389).map(|i| ((i * 11) % 255 - 127) as i8).collect();
        let scalar: i32 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| i32::from(*x) * i32::from(*y))
            .sum();
        assert_eq!(dot_i8(&a, &b), scalar);
        let f: Vec<f32> = (0..389).map(|i| i as f32 / 389.0 - 0.5).collect();
        let scalar: f32 = f.iter().zip(&b).map(|(x, y)| x * f32::from(*y)).sum();
        assert!((dot_f32_i8(&f, &b) - scalar).abs() < 1e-2);
    }

    #[test]
    fn quantisation_clamps_and_rounds() {
        assert_eq!(quantize(1.0, 127.0), 127);
        assert_eq!(quantize(-2.0, 127.0), -127);
        assert_eq!(quantize(0.004, 127.0), 1);
    }
}
