//! Sentence vectors on disk: int8, one row per embedded sentence, memory-mapped; the row's
//! (page id, sentence ordinal) beside it.
//!
//! Vectors arrive as f32 while a build embeds; they are spilled to a temporary file so the
//! quantisation scale can come from all of them (127 / the largest component), then written
//! as i8. A dot product of an f32 query with a row is `Σ q·r / scale`.

use crate::error::{Context, Result, VectorError};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub(crate) const VECTORS_FILE: &str = "vectors.i8";
pub(crate) const ROWS_FILE: &str = "rows.bin";
const SPILL_FILE: &str = "vectors.f32.tmp";
const ROW_BYTES: usize = 12;

/// Collects f32 vectors during a build.
pub struct VectorWriter {
    dir: PathBuf,
    dim: usize,
    spill: BufWriter<File>,
    rows: Vec<(u64, u32)>,
    max_abs: f32,
}

impl VectorWriter {
    pub fn create(dir: &Path, dim: usize) -> Result<VectorWriter> {
        std::fs::create_dir_all(dir).at(dir)?;
        let spill_path = dir.join(SPILL_FILE);
        let spill = BufWriter::with_capacity(1 << 20, File::create(&spill_path).at(&spill_path)?);
        Ok(VectorWriter {
            dir: dir.to_path_buf(),
            dim,
            spill,
            rows: Vec::new(),
            max_abs: 0.0,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds the vector of sentence `sentence` of page `page_id`.
    pub fn add(&mut self, page_id: u64, sentence: u32, vector: &[f32]) -> Result<()> {
        if vector.len() != self.dim {
            return Err(VectorError::Dimension {
                expected: self.dim,
                got: vector.len(),
            });
        }
        let path = self.dir.join(SPILL_FILE);
        for &x in vector {
            if !x.is_finite() {
                return Err(VectorError::BadIndex {
                    path,
                    message: format!(
                        "non-finite value in the vector of page {page_id} sentence {sentence}"
                    ),
                });
            }
            self.max_abs = self.max_abs.max(x.abs());
            self.spill.write_all(&x.to_le_bytes()).at(&path)?;
        }
        self.rows.push((page_id, sentence));
        Ok(())
    }

    /// Quantises the spilled vectors into `vectors.i8`, writes `rows.bin`; returns the scale.
    pub(crate) fn finish(self) -> Result<(usize, f32)> {
        let VectorWriter {
            dir,
            dim,
            spill,
            rows,
            max_abs,
        } = self;
        let spill_path = dir.join(SPILL_FILE);
        spill
            .into_inner()
            .map_err(|e| e.into_error())
            .at(&spill_path)?;
        let scale = if max_abs > 0.0 { 127.0 / max_abs } else { 1.0 };
        let out_path = dir.join(VECTORS_FILE);
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&out_path).at(&out_path)?);
        let mut input = BufReader::with_capacity(1 << 20, File::open(&spill_path).at(&spill_path)?);
        let mut f = vec![0u8; dim * 4];
        let mut q = vec![0u8; dim];
        for _ in 0..rows.len() {
            input.read_exact(&mut f).at(&spill_path)?;
            for (i, chunk) in f.chunks_exact(4).enumerate() {
                let x = f32::from_le_bytes(chunk.try_into().expect("4 bytes"));
                q[i] = quantize(x, scale) as u8;
            }
            out.write_all(&q).at(&out_path)?;
        }
        out.flush().at(&out_path)?;
        drop(input);
        std::fs::remove_file(&spill_path).at(&spill_path)?;
        let rows_path = dir.join(ROWS_FILE);
        let mut w = BufWriter::new(File::create(&rows_path).at(&rows_path)?);
        for (page, sentence) in &rows {
            w.write_all(&page.to_le_bytes()).at(&rows_path)?;
            w.write_all(&sentence.to_le_bytes()).at(&rows_path)?;
        }
        w.flush().at(&rows_path)?;
        Ok((rows.len(), scale))
    }
}

pub(crate) fn quantize(x: f32, scale: f32) -> i8 {
    (x * scale).round().clamp(-127.0, 127.0) as i8
}

/// The memory-mapped vectors of an index.
pub struct VectorStore {
    map: memmap2::Mmap,
    dim: usize,
    count: usize,
    scale: f32,
    rows: Vec<(u64, u32)>,
}

impl VectorStore {
    pub(crate) fn open(dir: &Path, dim: usize, count: usize, scale: f32) -> Result<VectorStore> {
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
        if bytes.len() != count * ROW_BYTES {
            return Err(VectorError::BadIndex {
                path: rows_path,
                message: format!("{} bytes, expected {count} rows", bytes.len()),
            });
        }
        let rows = bytes
            .chunks_exact(ROW_BYTES)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
                    u32::from_le_bytes(c[8..].try_into().expect("4 bytes")),
                )
            })
            .collect();
        Ok(VectorStore {
            map,
            dim,
            count,
            scale,
            rows,
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

    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The quantised vector of row `row`.
    pub fn row(&self, row: usize) -> &[i8] {
        let bytes = &self.map[row * self.dim..(row + 1) * self.dim];
        bytemuck_i8(bytes)
    }

    /// (page id, sentence ordinal) of a row.
    pub fn position(&self, row: usize) -> (u64, u32) {
        self.rows[row]
    }

    /// Cosine of an f32 (unit) query with row `row`.
    pub fn score(&self, query: &[f32], row: usize) -> f32 {
        dot_f32_i8(query, self.row(row)) / self.scale
    }

    /// Exact top `n` rows by cosine, best first (ties by row).
    pub fn exact(&self, query: &[f32], n: usize) -> Vec<(u32, f32)> {
        use rayon::prelude::*;
        const CHUNK: usize = 16_384;
        let chunks = self.count.div_ceil(CHUNK);
        let mut best: Vec<(u32, f32)> = (0..chunks)
            .into_par_iter()
            .flat_map_iter(|c| {
                let start = c * CHUNK;
                let end = (start + CHUNK).min(self.count);
                let mut top = TopN::new(n);
                for row in start..end {
                    top.push(row as u32, self.score(query, row));
                }
                top.into_vec()
            })
            .collect();
        sort_hits(&mut best);
        best.truncate(n);
        best
    }
}

/// Best-first order: score descending, then row ascending (deterministic ties).
pub(crate) fn sort_hits(hits: &mut [(u32, f32)]) {
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// Keeps the `n` best (row, score) pairs.
struct TopN {
    n: usize,
    items: Vec<(u32, f32)>,
    floor: f32,
}

impl TopN {
    fn new(n: usize) -> TopN {
        TopN {
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
            sort_hits(&mut self.items);
            self.items.truncate(self.n);
            self.floor = self.items[self.n - 1].1;
        }
    }
    fn into_vec(mut self) -> Vec<(u32, f32)> {
        sort_hits(&mut self.items);
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

fn bytemuck_i8(bytes: &[u8]) -> &[i8] {
    #[allow(unsafe_code)]
    // SAFETY: i8 and u8 have the same size, alignment and validity (every bit pattern).
    unsafe {
        std::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len())
    }
}

fn map_file(file: &File) -> std::io::Result<memmap2::Mmap> {
    #[allow(unsafe_code)]
    // SAFETY: the index directory is written once and published by rename; wikirag never
    // modifies a published vectors file. Another process truncating it would be outside the
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
