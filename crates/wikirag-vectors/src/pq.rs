//! Product-quantised codes: the compact first pass of a served graph.
//!
//! An int8 row is `dim` bytes (384 for MiniLM and e5-small), more than anything else a served
//! index keeps per sentence; kept resident for a whole Wikipedia that is 58 GB for 150 M
//! sentences. So the graph is walked with a code of one byte per [`SUB_DIM`] dimensions
//! (48 bytes for 384: each byte names the nearest of 256 centroids of its slice of the vector,
//! Jégou et al., 2011), scored against a table of the query's dot products with every centroid
//! (asymmetric: the query stays f32), and only the beam the walk ends with is scored again
//! against the int8 rows, read from the memory map: `ef` rows a query instead of the thousands
//! a walk touches, so the rows can stay on disk.
//!
//! - The codebook is trained by k-means (Lloyd, [`ITERATIONS`] rounds) on up to
//!   [`TRAIN_ROWS`] rows spread evenly over the store, each slice on its own; deterministic
//!   (starting centroids are rows at fixed steps, no randomness), so a build gives the same codes
//!   on any machine with the same float arithmetic.
//! - A row's code depends only on that row and the codebook: an update encodes its new rows
//!   with the codebook of the build.
//! - Centroids are stored transposed (`dim × 256`: for each dimension, its value in the 256
//!   centroids of its slice), so encoding a row and tabulating a query are both runs of
//!   256-wide multiply-adds the compiler vectorises.

use crate::error::{Context, Result, VectorError};
use crate::store::VectorStore;
use rayon::prelude::*;
use std::path::Path;

/// Centroids per slice: one byte a slice.
pub(crate) const CENTROIDS: usize = 256;
/// Dimensions per slice (the last slice takes what is left): 4, measured (benches/RESULTS.md,
/// "Compact first pass"): with 8, e5-small needs a beam of 1,024 for the recall 4 gives at 96.
pub const SUB_DIM: usize = 4;
/// Rows the codebook is trained on, at most (100 per centroid).
const TRAIN_ROWS: usize = 25_600;
const ITERATIONS: usize = 10;

pub(crate) const CODEBOOK_FILE: &str = "codebook.f32";
pub(crate) const CODES_FILE: &str = "codes.u8";

/// The slices of a `dim`-vector: `slices(dim)` of them.
pub fn slices(dim: usize) -> usize {
    dim.div_ceil(SUB_DIM).max(1)
}

/// Trained centroids for every slice of the vector.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Codebook {
    dim: usize,
    /// Slice `s` covers dimensions `bounds[s]..bounds[s + 1]`.
    bounds: Vec<usize>,
    /// `t[j * 256 + c]`: dimension `j` of centroid `c` of the slice holding `j`.
    t: Vec<f32>,
    /// `half[s * 256 + c]`: half the squared norm of centroid `c` of slice `s`.
    half: Vec<f32>,
    /// The mean of the training rows: codes quantise a row minus it.
    mean: Vec<f32>,
    /// `dim × dim`, row-major, orthonormal: the rotation applied to a row minus the mean
    /// before it is cut into slices (its principal axes, dealt round the slices).
    rotation: Vec<f32>,
    /// The same, column-major (what [`rotate`] reads: runs of multiply-adds that vectorise).
    columns: Vec<f32>,
}

impl Codebook {
    fn new(dim: usize, t: Vec<f32>, mean: Vec<f32>, rotation: Vec<f32>) -> Codebook {
        let n = slices(dim);
        let bounds: Vec<usize> = (0..=n).map(|s| (s * SUB_DIM).min(dim)).collect();
        let mut half = vec![0f32; n * CENTROIDS];
        for s in 0..n {
            for j in bounds[s]..bounds[s + 1] {
                for c in 0..CENTROIDS {
                    half[s * CENTROIDS + c] += 0.5 * t[j * CENTROIDS + c] * t[j * CENTROIDS + c];
                }
            }
        }
        let mut columns = vec![0f32; dim * dim];
        for i in 0..dim {
            for j in 0..dim {
                columns[j * dim + i] = rotation[i * dim + j];
            }
        }
        Codebook {
            dim,
            bounds,
            t,
            half,
            mean,
            rotation,
            columns,
        }
    }

    pub(crate) fn slices(&self) -> usize {
        self.bounds.len() - 1
    }

    /// Trains a codebook on the live rows of `store` (dequantised).
    pub(crate) fn train(store: &VectorStore) -> Codebook {
        let dim = store.dim();
        let live: Vec<usize> = (0..store.len()).filter(|&r| !store.is_dead(r)).collect();
        let step = live.len().div_ceil(TRAIN_ROWS).max(1);
        let mut rows: Vec<Vec<f32>> = live
            .iter()
            .step_by(step)
            .map(|&r| store.dequantized(r))
            .collect();
        // Sentence embeddings crowd in a cone (e5's tightly): their cosines to a query differ
        // by little, and codes of the vectors themselves spend their bits on the direction
        // they share. Codes of the vectors minus their mean spend them on what tells the
        // vectors apart; q·x = q·(x − mean) + q·mean ranks the same.
        let mut mean = vec![0f64; dim];
        for row in &rows {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x);
            }
        }
        let mean: Vec<f32> = mean
            .iter()
            .map(|m| (m / rows.len().max(1) as f64) as f32)
            .collect();
        for row in &mut rows {
            for (x, m) in row.iter_mut().zip(&mean) {
                *x -= m;
            }
        }
        let rotation = principal_axes(&rows, dim);
        let columns = Codebook::new(
            dim,
            vec![0.0; dim * CENTROIDS],
            mean.clone(),
            rotation.clone(),
        )
        .columns;
        let mut rotated = vec![0f32; dim];
        for row in &mut rows {
            rotate(&columns, row, &mut rotated);
            row.copy_from_slice(&rotated);
        }
        let n = slices(dim);
        let per_slice: Vec<Vec<f32>> = (0..n)
            .into_par_iter()
            .map(|s| {
                let (from, to) = ((s * SUB_DIM).min(dim), ((s + 1) * SUB_DIM).min(dim));
                simd::kmeans(&rows, from, to)
            })
            .collect();
        // Transpose each slice's centroids (c × w) into the t layout (w × 256).
        let mut t = vec![0f32; dim * CENTROIDS];
        for (s, centroids) in per_slice.iter().enumerate() {
            let from = (s * SUB_DIM).min(dim);
            let w = ((s + 1) * SUB_DIM).min(dim) - from;
            for c in 0..CENTROIDS {
                for d in 0..w {
                    t[(from + d) * CENTROIDS + c] = centroids[c * w + d];
                }
            }
        }
        Codebook::new(dim, t, mean, rotation)
    }

    /// The code of `v`: for each slice, the centroid nearest that slice of the rotated
    /// `v − mean`. `scratch`: two buffers of `dim` floats.
    #[inline(always)]
    pub(crate) fn encode(&self, v: &[f32], out: &mut [u8], scratch: &mut [Vec<f32>; 2]) {
        let [centred, y] = scratch;
        centred.resize(self.dim, 0.0);
        y.resize(self.dim, 0.0);
        for ((c, x), m) in centred.iter_mut().zip(v).zip(&self.mean) {
            *c = x - m;
        }
        rotate(&self.columns, centred, y);
        let mut acc = [0f32; CENTROIDS];
        for (s, code) in out.iter_mut().enumerate() {
            for (a, h) in acc.iter_mut().zip(&self.half[s * CENTROIDS..][..CENTROIDS]) {
                *a = -h;
            }
            self.accumulate(s, y, &mut acc);
            *code = argmax(&acc);
        }
    }

    /// `acc[c] += Σ v[j]·t[j][c]` over the dimensions `j` of slice `s`.
    #[inline(always)]
    fn accumulate(&self, s: usize, v: &[f32], acc: &mut [f32; CENTROIDS]) {
        let (from, to) = (self.bounds[s], self.bounds[s + 1]);
        for (&x, row) in v[from..to]
            .iter()
            .zip(self.t[from * CENTROIDS..to * CENTROIDS].chunks_exact(CENTROIDS))
        {
            for (a, &t) in acc.iter_mut().zip(row) {
                *a += x * t;
            }
        }
    }

    /// The query's dot product with every centroid of every slice (`slices × 256`), the
    /// query's dot product with the mean spread over the first slice's entries: the sum of a
    /// code's entries is the query's dot product with the vector the code stands for.
    #[inline(always)]
    pub(crate) fn table(&self, query: &[f32]) -> Vec<[f32; CENTROIDS]> {
        let mut table = vec![[0f32; CENTROIDS]; self.slices()];
        let at_mean: f32 = query.iter().zip(&self.mean).map(|(q, m)| q * m).sum();
        // q·x = q·mean + (R q)·(R (x − mean)), R orthonormal.
        let mut rotated = vec![0f32; self.dim];
        rotate(&self.columns, query, &mut rotated);
        let query = &rotated;
        for (s, acc) in table.iter_mut().enumerate() {
            if s == 0 {
                acc.fill(at_mean);
            }
            self.accumulate(s, query, acc);
        }
        table
    }

    /// Encodes every row of `store` (in parallel): `len × slices` bytes.
    pub(crate) fn encode_store(&self, store: &VectorStore) -> Vec<u8> {
        let n = self.slices();
        let mut codes = vec![0u8; store.len() * n];
        codes
            .par_chunks_mut(n * 1024)
            .enumerate()
            .for_each(|(chunk, out)| simd::encode_rows(self, store, chunk * 1024, out));
        codes
    }

    /// Encodes the rows from `first` into `out` (a code after another).
    #[inline(always)]
    fn encode_rows(&self, store: &VectorStore, first: usize, out: &mut [u8]) {
        let n = self.slices();
        let mut v = vec![0f32; self.dim];
        let mut scratch = [Vec::new(), Vec::new()];
        for (i, code) in out.chunks_exact_mut(n).enumerate() {
            store.dequantize_into(first + i, &mut v);
            self.encode(&v, code, &mut scratch);
        }
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let bytes: Vec<u8> = self
            .t
            .iter()
            .chain(&self.mean)
            .chain(&self.rotation)
            .flat_map(|x| x.to_le_bytes())
            .collect();
        crate::store::write_file(&dir.join(CODEBOOK_FILE), &bytes)
    }

    /// Reads the codebook of `dim`-vectors in `dir`.
    pub(crate) fn read(
        dir: &Path,
        dim: usize,
        sums: Option<&wikirag_core::blocks::BlockSums>,
    ) -> Result<Codebook> {
        let path = dir.join(CODEBOOK_FILE);
        let bytes = std::fs::read(&path).at(&path)?;
        crate::store::check_whole(sums, dir, CODEBOOK_FILE, &bytes)?;
        let expected = dim * (CENTROIDS + 1 + dim) * 4;
        if bytes.len() != expected {
            return Err(VectorError::BadIndex {
                path,
                message: format!(
                    "{} bytes, expected {} (a codebook of {dim} dimensions; `wikirag relink` rebuilds it)",
                    bytes.len(),
                    expected
                ),
            });
        }
        let mut t: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        if t.iter().any(|x| !x.is_finite()) {
            return Err(VectorError::BadIndex {
                path,
                message: "a centroid is not a number (damaged; `wikirag relink` rebuilds it)"
                    .into(),
            });
        }
        let rotation = t.split_off(dim * (CENTROIDS + 1));
        let mean = t.split_off(dim * CENTROIDS);
        Ok(Codebook::new(dim, t, mean, rotation))
    }
}

/// The codes of every row, one after another, and the table a query scores them with.
pub(crate) struct Codes {
    pub(crate) book: Codebook,
    bytes: Vec<u8>,
}

impl Codes {
    pub(crate) fn new(book: Codebook, bytes: Vec<u8>) -> Codes {
        Codes { book, bytes }
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        self.book.write(dir)?;
        crate::store::write_file(&dir.join(CODES_FILE), &self.bytes)
    }

    /// Reads the codes of `rows` rows of `dim`-vectors in `dir`.
    pub(crate) fn read(
        dir: &Path,
        dim: usize,
        rows: usize,
        sums: Option<&wikirag_core::blocks::BlockSums>,
    ) -> Result<Codes> {
        let book = Codebook::read(dir, dim, sums)?;
        let path = dir.join(CODES_FILE);
        let bytes = std::fs::read(&path).at(&path)?;
        crate::store::check_whole(sums, dir, CODES_FILE, &bytes)?;
        if bytes.len() != rows * book.slices() {
            return Err(VectorError::BadIndex {
                path,
                message: format!(
                    "{} bytes, expected {rows} codes of {} (`wikirag relink` rebuilds them)",
                    bytes.len(),
                    book.slices()
                ),
            });
        }
        Ok(Codes { book, bytes })
    }

    /// Reads the codes in `dir` for however many rows they hold (an update, which then adds
    /// its own).
    pub(crate) fn read_any(dir: &Path, dim: usize) -> Result<Codes> {
        let path = dir.join(CODES_FILE);
        let rows = std::fs::metadata(&path).at(&path)?.len() as usize / slices(dim);
        Codes::read(dir, dim, rows, None)
    }

    /// The codes of `store`'s rows past the ones held (an update's appended rows) added.
    pub(crate) fn extend(&mut self, store: &VectorStore) {
        let n = self.book.slices();
        let from = self.bytes.len() / n;
        let mut v = vec![0f32; store.dim()];
        let mut code = vec![0u8; n];
        let mut scratch = [Vec::new(), Vec::new()];
        for r in from..store.len() {
            store.dequantize_into(r, &mut v);
            self.book.encode(&v, &mut code, &mut scratch);
            self.bytes.extend_from_slice(&code);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() / self.book.slices()
    }

    /// Bytes held in memory.
    pub(crate) fn resident_bytes(&self) -> usize {
        let book = &self.book;
        self.bytes.len()
            + 4 * (book.t.len() + book.half.len() + book.mean.len() + book.rotation.len())
    }

    /// The approximate dot product of the query (through its `table`) with row `row`.
    #[inline(always)]
    pub(crate) fn score(&self, table: &[[f32; CENTROIDS]], row: u32) -> f32 {
        let n = self.book.slices();
        let code = &self.bytes[row as usize * n..][..n];
        // Eight sums side by side: one chain of dependent additions would wait on each.
        let mut sums = [0f32; 8];
        let mut codes = code.chunks_exact(8);
        let mut tables = table.chunks_exact(8);
        for (c, t) in (&mut codes).zip(&mut tables) {
            for k in 0..8 {
                // (a u8 index into 256 entries: no bounds check)
                sums[k] += t[k][usize::from(c[k])];
            }
        }
        for (&c, t) in codes.remainder().iter().zip(tables.remainder()) {
            sums[0] += t[usize::from(c)];
        }
        (sums[0] + sums[1]) + (sums[2] + sums[3]) + ((sums[4] + sums[5]) + (sums[6] + sums[7]))
    }

    /// Asks the CPU to start loading row `row`'s code (a hint).
    #[inline(always)]
    pub(crate) fn prefetch(&self, row: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let n = self.book.slices();
            let code = &self.bytes[row as usize * n..][..n];
            for line in (0..n).step_by(64) {
                #[allow(unsafe_code)]
                // SAFETY: a prefetch is a hint that never faults or reads into the program;
                // SSE is part of every x86_64 CPU; the pointer is inside the code anyway.
                unsafe {
                    _mm_prefetch::<_MM_HINT_T0>(code[line..].as_ptr().cast::<i8>());
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = row;
    }
}

/// `out = rotation · v`, the rotation given by its columns (`dim × dim`, column-major).
#[inline(always)]
fn rotate(columns: &[f32], v: &[f32], out: &mut [f32]) {
    let dim = v.len();
    out.fill(0.0);
    for (&x, column) in v.iter().zip(columns.chunks_exact(dim)) {
        for (o, &c) in out.iter_mut().zip(column) {
            *o += x * c;
        }
    }
}

/// The hot loops compiled for the CPU's vector instructions (AVX-512 or AVX2 with FMA), as
/// the graph search is; the plain build elsewhere.
mod simd {
    use super::{Codebook, VectorStore};
    #[cfg(target_arch = "x86_64")]
    use wikirag_core::cpu::{Isa, Simd};

    pub(super) fn encode_rows(book: &Codebook, store: &VectorStore, first: usize, out: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx2,fma")]
            fn avx512(b: &Codebook, s: &VectorStore, first: usize, out: &mut [u8]) {
                b.encode_rows(s, first, out)
            }
            #[target_feature(enable = "avx2,fma")]
            fn avx2(b: &Codebook, s: &VectorStore, first: usize, out: &mut [u8]) {
                b.encode_rows(s, first, out)
            }
            match Simd::best() {
                #[allow(unsafe_code)]
                Some(simd) if simd.has(Isa::Avx512) => {
                    // SAFETY: the token proves the CPU runs AVX-512 F/VL/BW, AVX2 and FMA.
                    return unsafe { avx512(book, store, first, out) };
                }
                // SAFETY: the token proves the CPU runs AVX2 and FMA.
                #[allow(unsafe_code)]
                Some(_) => return unsafe { avx2(book, store, first, out) },
                None => {}
            }
        }
        book.encode_rows(store, first, out)
    }

    pub(super) fn kmeans(rows: &[Vec<f32>], from: usize, to: usize) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx2,fma")]
            fn avx512(rows: &[Vec<f32>], from: usize, to: usize) -> Vec<f32> {
                super::kmeans(rows, from, to)
            }
            #[target_feature(enable = "avx2,fma")]
            fn avx2(rows: &[Vec<f32>], from: usize, to: usize) -> Vec<f32> {
                super::kmeans(rows, from, to)
            }
            match Simd::best() {
                // SAFETY: the token proves the CPU runs AVX-512 F/VL/BW, AVX2 and FMA.
                #[allow(unsafe_code)]
                Some(simd) if simd.has(Isa::Avx512) => return unsafe { avx512(rows, from, to) },
                // SAFETY: the token proves the CPU runs AVX2 and FMA.
                #[allow(unsafe_code)]
                Some(_) => return unsafe { avx2(rows, from, to) },
                None => {}
            }
        }
        super::kmeans(rows, from, to)
    }
}

/// The principal axes of `rows` (centred), as the rows of a rotation, dealt round the
/// slices: slice `s` gets axes `s`, `s + slices`, `s + 2·slices`, … (by falling variance), so
/// every slice holds a share of the variance and the codes spend their bytes evenly. Without
/// the rotation, codes of e5-small vectors kept the exact top 10 within their own top 100 for
/// 0.76 of sample queries; with it, 0.93 (8 dimensions a slice).
fn principal_axes(rows: &[Vec<f32>], dim: usize) -> Vec<f32> {
    // Partial sums per chunk of rows, added in chunk order: the same sum whatever threads
    // ran them (a reduction in the order work was stolen would not be).
    let partials: Vec<Vec<f64>> = rows
        .par_chunks(1024)
        .map(|chunk| {
            let mut c = vec![0f64; dim * dim];
            for row in chunk {
                for i in 0..dim {
                    let xi = f64::from(row[i]);
                    let line = &mut c[i * dim..][..=i];
                    for (cij, &xj) in line.iter_mut().zip(&row[..=i]) {
                        *cij += xi * f64::from(xj);
                    }
                }
            }
            c
        })
        .collect();
    let mut cov = vec![0f64; dim * dim];
    for partial in &partials {
        cov.iter_mut().zip(partial).for_each(|(x, y)| *x += y);
    }
    for i in 0..dim {
        for j in 0..i {
            cov[j * dim + i] = cov[i * dim + j];
        }
    }
    let eigen = nalgebra::SymmetricEigen::new(nalgebra::DMatrix::from_row_slice(dim, dim, &cov));
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| {
        eigen.eigenvalues[b]
            .total_cmp(&eigen.eigenvalues[a])
            .then(a.cmp(&b))
    });
    // Position j of the rotated vector (slice j's share) takes axis order[k].
    let n = slices(dim);
    let bounds: Vec<usize> = (0..=n).map(|s| (s * SUB_DIM).min(dim)).collect();
    let mut rotation = vec![0f32; dim * dim];
    let mut k = 0;
    for round in 0..SUB_DIM {
        for s in 0..n {
            let j = bounds[s] + round;
            if j < bounds[s + 1] {
                let axis = eigen.eigenvectors.column(order[k]);
                for (i, r) in rotation[j * dim..][..dim].iter_mut().enumerate() {
                    *r = axis[i] as f32;
                }
                k += 1;
            }
        }
    }
    rotation
}

/// The index of the largest value (the first on a tie): the maximum in lanes of 16 (which
/// vectorises), then its first place.
#[inline(always)]
fn argmax(acc: &[f32; CENTROIDS]) -> u8 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    for chunk in acc.chunks_exact(16) {
        for (l, &x) in lanes.iter_mut().zip(chunk) {
            *l = if x > *l { x } else { *l };
        }
    }
    let best = lanes
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    acc.iter().position(|&x| x == best).unwrap_or(0) as u8
}

/// k-means of the slice `from..to` of `rows`: 256 centroids, `c × w` floats.
#[inline(always)]
fn kmeans(rows: &[Vec<f32>], from: usize, to: usize) -> Vec<f32> {
    let w = to - from;
    let mut centroids = vec![0f32; CENTROIDS * w];
    if rows.is_empty() || w == 0 {
        return centroids;
    }
    // Start from rows at even steps (repeated when there are fewer rows than centroids).
    for c in 0..CENTROIDS {
        let r = c * rows.len() / CENTROIDS;
        centroids[c * w..][..w].copy_from_slice(&rows[r][from..to]);
    }
    let mut sums = vec![0f64; CENTROIDS * w];
    let mut counts = vec![0usize; CENTROIDS];
    let mut acc = [0f32; CENTROIDS];
    let mut t = vec![0f32; w * CENTROIDS];
    for _ in 0..ITERATIONS {
        let mut half = [0f32; CENTROIDS];
        for c in 0..CENTROIDS {
            for d in 0..w {
                let x = centroids[c * w + d];
                t[d * CENTROIDS + c] = x;
                half[c] += 0.5 * x * x;
            }
        }
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|n| *n = 0);
        for row in rows {
            let x = &row[from..to];
            for c in 0..CENTROIDS {
                acc[c] = -half[c];
            }
            for (d, &xd) in x.iter().enumerate() {
                let col = &t[d * CENTROIDS..][..CENTROIDS];
                for c in 0..CENTROIDS {
                    acc[c] += xd * col[c];
                }
            }
            let c = usize::from(argmax(&acc));
            counts[c] += 1;
            for (d, &xd) in x.iter().enumerate() {
                sums[c * w + d] += f64::from(xd);
            }
        }
        for c in 0..CENTROIDS {
            // An empty cluster keeps its centroid.
            if counts[c] > 0 {
                for d in 0..w {
                    centroids[c * w + d] = (sums[c * w + d] / counts[c] as f64) as f32;
                }
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::VectorWriter;

    fn store_of(dir: &Path, vectors: &[Vec<f32>]) -> VectorStore {
        let dim = vectors[0].len();
        let mut w = VectorWriter::create(dir, dim).unwrap();
        for (i, v) in vectors.iter().enumerate() {
            w.add(i as u64, 0, v).unwrap();
        }
        let n = w.finish().unwrap();
        VectorStore::open(dir, dim, n, None).unwrap()
    }

    /// Unit vectors around a few directions, as sentence embeddings crowd.
    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut z = seed;
        let mut next = move || {
            z = z
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let centres: Vec<Vec<f32>> = (0..8).map(|_| (0..dim).map(|_| next()).collect()).collect();
        (0..n)
            .map(|i| {
                let c = &centres[i % centres.len()];
                let mut v: Vec<f32> = c.iter().map(|x| x + 0.6 * next()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect()
    }

    #[test]
    fn codes_rank_like_the_vectors_and_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let dim = 38; // nine slices of 4 and one of 2
        let data = clustered(3000, dim, 11);
        let store = store_of(tmp.path(), &data);
        let book = Codebook::train(&store);
        assert_eq!(book.slices(), 10);
        // The rotation is orthonormal.
        for a in 0..dim {
            for b in 0..dim {
                let dot: f32 = (0..dim)
                    .map(|i| book.rotation[a * dim + i] * book.rotation[b * dim + i])
                    .sum();
                assert!(
                    (dot - f32::from(u8::from(a == b))).abs() < 1e-4,
                    "{a} {b} {dot}"
                );
            }
        }
        let codes = Codes::new(book.clone(), book.encode_store(&store));
        assert_eq!(codes.len(), 3000);
        // The approximate scores find most of the exact top 10 within their top 50 (of 3,000;
        // by chance 1.7 %; these vectors are mostly noise, harder than sentence embeddings).
        let queries = clustered(50, dim, 99);
        let mut found = 0;
        for q in &queries {
            let table = codes.book.table(q);
            let mut approx: Vec<(u32, f32)> =
                (0..3000u32).map(|r| (r, codes.score(&table, r))).collect();
            approx.sort_by(|a, b| b.1.total_cmp(&a.1));
            let top: Vec<u32> = approx.iter().take(50).map(|h| h.0).collect();
            found += store
                .exact(q, 10)
                .iter()
                .filter(|h| top.contains(&h.0))
                .count();
            // The table scores a code as the dot product with its centroids.
            let r = approx[0].0;
            // (decoded in the rotated space: R(x − mean) ≈ the centroids)
            let mut decoded = vec![0f32; dim];
            let n = codes.book.slices();
            for s in 0..n {
                let c = usize::from(codes.bytes[r as usize * n + s]);
                let (from, to) = (codes.book.bounds[s], codes.book.bounds[s + 1]);
                for (j, d) in decoded.iter_mut().enumerate().take(to).skip(from) {
                    *d = codes.book.t[j * CENTROIDS + c];
                }
            }
            let mut rq = vec![0f32; dim];
            rotate(&codes.book.columns, q, &mut rq);
            let at_mean: f32 = q.iter().zip(&codes.book.mean).map(|(a, b)| a * b).sum();
            let dot: f32 = at_mean + decoded.iter().zip(&rq).map(|(a, b)| a * b).sum::<f32>();
            assert!((dot - approx[0].1).abs() < 1e-4, "{dot} {}", approx[0].1);
        }
        let recall = found as f64 / (queries.len() * 10) as f64;
        assert!(
            recall >= 0.7,
            "recall@10 within the approximate top 50: {recall}"
        );
        // A row's code is its own: the same alone as among all.
        let mut one = vec![0u8; 10];
        book_encode_row(&codes.book, &store, 1234, &mut one);
        assert_eq!(one, codes.bytes[1234 * 10..1235 * 10]);
        // Written and read back, the same codes; a wrong size is an error naming the file.
        codes.write(tmp.path()).unwrap();
        let again = Codes::read(tmp.path(), dim, 3000, None).unwrap();
        assert_eq!(again.book, codes.book);
        assert_eq!(again.bytes, codes.bytes);
        let err = Codes::read(tmp.path(), dim, 2999, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(CODES_FILE) && err.contains("relink"), "{err}");
        let err = Codes::read(tmp.path(), dim + 1, 3000, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(CODEBOOK_FILE), "{err}");
        // Trained twice, the same codebook (no randomness), on one thread as on several.
        assert_eq!(Codebook::train(&store), codes.book);
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| Codebook::train(&store));
        assert_eq!(one_thread, codes.book);
    }

    fn book_encode_row(book: &Codebook, store: &VectorStore, row: usize, out: &mut [u8]) {
        let v = store.dequantized(row);
        book.encode(&v, out, &mut [Vec::new(), Vec::new()]);
    }

    #[test]
    fn fewer_rows_than_centroids_still_train() {
        let tmp = tempfile::tempdir().unwrap();
        let data = clustered(40, 16, 5);
        let store = store_of(tmp.path(), &data);
        let book = Codebook::train(&store);
        let codes = Codes::new(book.clone(), book.encode_store(&store));
        // Every row is a centroid of its own slices: its code scores it exactly (to int8).
        for r in 0..40u32 {
            let v = store.dequantized(r as usize);
            let table = book.table(&v);
            let own: f32 = v.iter().map(|x| x * x).sum();
            assert!((codes.score(&table, r) - own).abs() < 1e-3, "row {r}");
        }
    }
}
