//! Block-quantised weight matrices and their products, for the llama forward pass.
//!
//! A weight row is cut into blocks of 32 values. [`Q8`] stores each block as 32 `i8` and one
//! `f32` scale (GGML's Q8_0 with an f32 scale); [`Q4`] keeps a GGUF's Q4_1 blocks as they are
//! (32 nibbles, a scale and a minimum), because generation reads every weight once per token
//! and is bound by memory: 4-bit weights are 0.75 bytes a value here against 1.125 as int8.
//! Activations are quantised to int8 blocks (with each block's sum, for Q4_1's minimum) just
//! before a product, so a block's dot product is an exact integer sum times scales, as
//! llama.cpp does. The AVX2 kernels take one weight row against up to four activation rows at
//! once (the weight block is loaded once for all four); the scalar kernels compute the same
//! sums and are what other CPUs run (`WIKIRAG_LLM_KERNEL=scalar` forces them, to test and
//! measure them on an AVX2 machine).

use wikirag_core::cpu::{Isa, Simd};

use rayon::prelude::*;
use std::sync::OnceLock;

/// Values per block.
pub(crate) const BLOCK: usize = 32;

/// Activation rows taken together against one weight row.
const ROWS: usize = 4;

/// Tokens per parallel task in a product over many tokens (prompt processing).
const TOKENS_PER_TASK: usize = 16;

/// Weight rows per parallel task in a product for one token (generation).
const WEIGHT_ROWS_PER_TASK: usize = 32;

/// Which dot-product code this CPU runs. `Avx2` holds the [`Simd`] token that proves the CPU
/// runs AVX2 and FMA: it can only be had from detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    Avx2(Simd),
    Scalar,
}

impl Kernel {
    /// The fastest kernel this CPU runs, chosen once (`WIKIRAG_LLM_KERNEL=scalar` forces the
    /// scalar one).
    pub(crate) fn detect() -> Kernel {
        static KERNEL: OnceLock<Kernel> = OnceLock::new();
        *KERNEL.get_or_init(|| {
            let forced_scalar =
                std::env::var("WIKIRAG_LLM_KERNEL").is_ok_and(|k| k.eq_ignore_ascii_case("scalar"));
            match Simd::get(Isa::Avx2) {
                Some(simd) if !forced_scalar => Kernel::Avx2(simd),
                _ => Kernel::Scalar,
            }
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Avx2(_) => "avx2",
            Kernel::Scalar => "scalar",
        }
    }
}

/// The AVX2 kernel, where this CPU runs it (tests compare it with the scalar one).
#[cfg(test)]
fn avx2_kernel() -> Option<Kernel> {
    Simd::get(Isa::Avx2).map(Kernel::Avx2)
}

/// Rows of `cols` values (a multiple of [`BLOCK`]) in int8 blocks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Q8 {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    q: Vec<i8>,
    d: Vec<f32>,
    /// Per block: `d × Σ q` (what a Q4_1 minimum multiplies).
    s: Vec<f32>,
}

/// Rows of GGUF Q4_1 blocks: value `j` of a block is `d × nibble_j + m`, nibble `j < 16` the
/// low half of byte `j`, nibble `j ≥ 16` the high half of byte `j − 16`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Q4 {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    qs: Vec<u8>,
    d: Vec<f32>,
    m: Vec<f32>,
}

impl Q4 {
    /// Bytes of GGUF Q4_1 blocks (20 bytes each: `d` and `m` as f16, 16 bytes of nibbles)
    /// for `rows × cols` values; `None` when the length does not match.
    pub(crate) fn from_q4_1(raw: &[u8], rows: usize, cols: usize) -> Option<Q4> {
        let blocks = rows * cols / BLOCK;
        if !cols.is_multiple_of(BLOCK) || raw.len() != blocks * 20 {
            return None;
        }
        let mut m = Q4 {
            rows,
            cols,
            qs: Vec::with_capacity(blocks * 16),
            d: Vec::with_capacity(blocks),
            m: Vec::with_capacity(blocks),
        };
        for b in raw.chunks_exact(20) {
            m.d.push(half::f16::from_le_bytes([b[0], b[1]]).to_f32());
            m.m.push(half::f16::from_le_bytes([b[2], b[3]]).to_f32());
            m.qs.extend_from_slice(&b[4..]);
        }
        Some(m)
    }

    /// Appends `other`'s rows (stacking projections into one matrix).
    pub(crate) fn append(&mut self, other: Q4) {
        debug_assert_eq!(self.cols, other.cols);
        self.rows += other.rows;
        self.qs.extend(other.qs);
        self.d.extend(other.d);
        self.m.extend(other.m);
    }

    fn row(&self, r: usize) -> (&[u8], &[f32], &[f32]) {
        let b = self.cols / BLOCK;
        (
            &self.qs[r * self.cols / 2..(r + 1) * self.cols / 2],
            &self.d[r * b..(r + 1) * b],
            &self.m[r * b..(r + 1) * b],
        )
    }

    pub(crate) fn bytes(&self) -> usize {
        self.qs.len() + 4 * (self.d.len() + self.m.len())
    }

    /// Row `r` in f32.
    fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let (qs, d, m) = self.row(r);
        for (b, o) in out.chunks_exact_mut(BLOCK).enumerate() {
            let q = &qs[b * 16..(b + 1) * 16];
            for j in 0..16 {
                o[j] = f32::from(q[j] & 0x0f) * d[b] + m[b];
                o[j + 16] = f32::from(q[j] >> 4) * d[b] + m[b];
            }
        }
    }
}

/// A weight matrix in either block format.
#[derive(Clone, Debug)]
pub(crate) enum Matrix {
    Q8(Q8),
    Q4(Q4),
}

impl Matrix {
    pub(crate) fn rows(&self) -> usize {
        match self {
            Matrix::Q8(m) => m.rows,
            Matrix::Q4(m) => m.rows,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        match self {
            Matrix::Q8(m) => m.bytes(),
            Matrix::Q4(m) => m.bytes(),
        }
    }

    /// Row `r` in f32 (an embedding lookup).
    pub(crate) fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        match self {
            Matrix::Q8(m) => m.dequantize_row(r, out),
            Matrix::Q4(m) => m.dequantize_row(r, out),
        }
    }

    /// Row `r` against `R` activation rows.
    fn dot<const R: usize>(&self, kernel: Kernel, r: usize, x: [XRow<'_>; R]) -> [f32; R] {
        match self {
            Matrix::Q8(m) => {
                let (q, d) = m.row(r);
                dot::<R>(kernel, q, d, x.map(|x| (x.q, x.d)))
            }
            Matrix::Q4(m) => {
                let (qs, d, mins) = m.row(r);
                dot_q4::<R>(kernel, qs, d, mins, x)
            }
        }
    }
}

/// One quantised activation row: values, scales and `d × Σ q` per block.
#[derive(Clone, Copy)]
struct XRow<'a> {
    q: &'a [i8],
    d: &'a [f32],
    s: &'a [f32],
}

impl Q8 {
    /// Quantises `rows × cols` row-major values; `cols` must be a multiple of [`BLOCK`].
    pub(crate) fn quantize(data: &[f32], rows: usize, cols: usize) -> Q8 {
        let mut m = Q8::zeros(rows, cols);
        m.set_rows(data);
        m
    }

    pub(crate) fn zeros(rows: usize, cols: usize) -> Q8 {
        debug_assert_eq!(cols % BLOCK, 0);
        Q8 {
            rows,
            cols,
            q: vec![0; rows * cols],
            d: vec![0.0; rows * cols / BLOCK],
            s: vec![0.0; rows * cols / BLOCK],
        }
    }

    /// Re-quantises the first `data.len() / cols` rows from `data` (activations, reusing the
    /// buffers), and keeps only those rows.
    pub(crate) fn set_rows(&mut self, data: &[f32]) {
        let rows = data.len() / self.cols;
        self.rows = rows;
        let blocks = rows * self.cols / BLOCK;
        if self.q.len() < rows * self.cols {
            self.q.resize(rows * self.cols, 0);
            self.d.resize(blocks, 0.0);
            self.s.resize(blocks, 0.0);
        }
        for (((x, q), d), s) in data
            .chunks_exact(BLOCK)
            .zip(self.q.chunks_exact_mut(BLOCK))
            .zip(self.d.iter_mut())
            .zip(self.s.iter_mut())
        {
            let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            *d = scale;
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let mut sum = 0i32;
            for (q, v) in q.iter_mut().zip(x) {
                *q = (v * inv).round().clamp(-127.0, 127.0) as i8;
                sum += i32::from(*q);
            }
            *s = scale * sum as f32;
        }
    }

    fn xrow(&self, r: usize) -> XRow<'_> {
        let (q, d) = self.row(r);
        let b = self.cols / BLOCK;
        XRow {
            q,
            d,
            s: &self.s[r * b..(r + 1) * b],
        }
    }

    fn row(&self, r: usize) -> (&[i8], &[f32]) {
        let b = self.cols / BLOCK;
        (
            &self.q[r * self.cols..(r + 1) * self.cols],
            &self.d[r * b..(r + 1) * b],
        )
    }

    /// Row `r` back in f32 (an embedding lookup).
    pub(crate) fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let (q, d) = self.row(r);
        for ((o, q), d) in out
            .chunks_exact_mut(BLOCK)
            .zip(q.chunks_exact(BLOCK))
            .zip(d)
        {
            for (o, q) in o.iter_mut().zip(q) {
                *o = f32::from(*q) * d;
            }
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.q.len() + 4 * self.d.len()
    }
}

/// `out[t × w.rows + r] = w[r] · x[t]` for every activation row `t` of `x` and weight row `r`.
pub(crate) fn matmul(w: &Matrix, x: &Q8, out: &mut [f32], kernel: Kernel) {
    let m = w.rows();
    let out = &mut out[..x.rows * m];
    if x.rows == 1 {
        // One token: the weight rows are shared out.
        let xr = x.xrow(0);
        out.par_chunks_mut(WEIGHT_ROWS_PER_TASK)
            .enumerate()
            .for_each(|(c, o)| {
                for (i, o) in o.iter_mut().enumerate() {
                    *o = w.dot::<1>(kernel, c * WEIGHT_ROWS_PER_TASK + i, [xr])[0];
                }
            });
        return;
    }
    // Many tokens: each task takes a few tokens against every weight row, `ROWS` at a time.
    out.par_chunks_mut(m * TOKENS_PER_TASK)
        .enumerate()
        .for_each(|(c, o)| {
            let t0 = c * TOKENS_PER_TASK;
            let n = o.len() / m;
            for r in 0..m {
                let mut t = 0;
                while t < n {
                    let k = (n - t).min(ROWS);
                    let rows = |j: usize| x.xrow(t0 + t + j.min(k - 1));
                    let sums = w.dot::<ROWS>(kernel, r, [rows(0), rows(1), rows(2), rows(3)]);
                    for (j, s) in sums.iter().take(k).enumerate() {
                        o[(t + j) * m + r] = *s;
                    }
                    t += k;
                }
            }
        });
}

/// Dot products of one weight row with `R` activation rows.
fn dot<const R: usize>(kernel: Kernel, wq: &[i8], wd: &[f32], x: [(&[i8], &[f32]); R]) -> [f32; R] {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2(_) => {
            // The kernel reads `BLOCK` values per scale from every row: checked in every build
            // (a few comparisons per row against `BLOCK × wd.len()` multiply-adds).
            assert!(
                wq.len() >= wd.len() * BLOCK
                    && x.iter()
                        .all(|(q, d)| q.len() == wq.len() && d.len() == wd.len()),
                "q8 dot: rows of unequal lengths"
            );
            // SAFETY: `Kernel::Avx2` holds the token that proves AVX2 and FMA; every row
            // has at least `BLOCK × wd.len()` values and `wd.len()` scales (asserted above).
            #[allow(unsafe_code)]
            unsafe {
                dot_avx2::<R>(wq, wd, x)
            }
        }
        _ => dot_scalar::<R>(wq, wd, x),
    }
}

fn dot_scalar<const R: usize>(wq: &[i8], wd: &[f32], x: [(&[i8], &[f32]); R]) -> [f32; R] {
    let mut acc = [0f32; R];
    for (b, (wb, wd)) in wq.chunks_exact(BLOCK).zip(wd).enumerate() {
        for (acc, (xq, xd)) in acc.iter_mut().zip(&x) {
            let xb = &xq[b * BLOCK..(b + 1) * BLOCK];
            let sum: i32 = wb
                .iter()
                .zip(xb)
                .map(|(&w, &v)| i32::from(w) * i32::from(v))
                .sum();
            *acc += sum as f32 * (wd * xd[b]);
        }
    }
    acc
}

/// The AVX2 dot products: `vpsignb` moves the weight's sign onto the activation so that
/// `vpmaddubsw` (u8 × i8, pairs summed in i16: at most 2 × 127 × 127, no saturation) can take
/// |w|; `vpmaddwd` by ones sums to i32; each block's sum is scaled and accumulated in f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(unsafe_code)]
unsafe fn dot_avx2<const R: usize>(wq: &[i8], wd: &[f32], x: [(&[i8], &[f32]); R]) -> [f32; R] {
    use std::arch::x86_64::*;
    let blocks = wd.len();
    let mut acc = [_mm256_setzero_ps(); R];
    let ones = _mm256_set1_epi16(1);
    for b in 0..blocks {
        // SAFETY: `b < blocks`, so 32 bytes from `b * BLOCK` lie in every row.
        unsafe {
            let w = _mm256_loadu_si256(wq.as_ptr().add(b * BLOCK).cast());
            let aw = _mm256_sign_epi8(w, w);
            for r in 0..R {
                let (xq, xd) = x[r];
                let v = _mm256_loadu_si256(xq.as_ptr().add(b * BLOCK).cast());
                let sv = _mm256_sign_epi8(v, w);
                let pairs = _mm256_maddubs_epi16(aw, sv);
                let quads = _mm256_madd_epi16(pairs, ones);
                let scale = _mm256_set1_ps(*wd.get_unchecked(b) * *xd.get_unchecked(b));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(quads), scale, acc[r]);
            }
        }
    }
    let mut out = [0f32; R];
    for (o, a) in out.iter_mut().zip(acc) {
        let hi = _mm256_extractf128_ps(a, 1);
        let s = _mm_add_ps(_mm256_castps256_ps128(a), hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        *o = _mm_cvtss_f32(s);
    }
    out
}

/// Dot products of one Q4_1 weight row with `R` activation rows.
fn dot_q4<const R: usize>(
    kernel: Kernel,
    qs: &[u8],
    d: &[f32],
    m: &[f32],
    x: [XRow<'_>; R],
) -> [f32; R] {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2(_) => {
            assert!(
                qs.len() >= 16 * d.len()
                    && m.len() >= d.len()
                    && x.iter().all(|x| x.q.len() == 2 * qs.len()
                        && x.d.len() == d.len()
                        && x.s.len() >= d.len()),
                "q4 dot: rows of unequal lengths"
            );
            // SAFETY: as in `dot`: AVX2 and FMA are present; every row has at least
            // `16 × d.len()` nibble bytes, `d.len()` minimums, and per activation row
            // `32 × d.len()` values, `d.len()` scales and sums (asserted above).
            #[allow(unsafe_code)]
            unsafe {
                dot_q4_avx2::<R>(qs, d, m, x)
            }
        }
        _ => dot_q4_scalar::<R>(qs, d, m, x),
    }
}

fn dot_q4_scalar<const R: usize>(qs: &[u8], d: &[f32], m: &[f32], x: [XRow<'_>; R]) -> [f32; R] {
    let mut acc = [0f32; R];
    for (b, ((q, d), m)) in qs.chunks_exact(16).zip(d).zip(m).enumerate() {
        for (acc, x) in acc.iter_mut().zip(&x) {
            let xb = &x.q[b * BLOCK..(b + 1) * BLOCK];
            let mut sum = 0i32;
            for j in 0..16 {
                sum += i32::from(q[j] & 0x0f) * i32::from(xb[j]);
                sum += i32::from(q[j] >> 4) * i32::from(xb[j + 16]);
            }
            *acc += sum as f32 * (d * x.d[b]) + m * x.s[b];
        }
    }
    acc
}

/// Q4_1 against int8: the nibbles are unsigned, so `vpmaddubsw` takes them as they are (pairs
/// at most 2 × 15 × 127); the minimum adds `m × d_x × Σ q_x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(unsafe_code)]
unsafe fn dot_q4_avx2<const R: usize>(
    qs: &[u8],
    d: &[f32],
    m: &[f32],
    x: [XRow<'_>; R],
) -> [f32; R] {
    use std::arch::x86_64::*;
    let blocks = d.len();
    let mut acc = [_mm256_setzero_ps(); R];
    let mut mins = [0f32; R];
    let ones = _mm256_set1_epi16(1);
    let low = _mm256_set1_epi8(0x0f);
    for b in 0..blocks {
        // SAFETY: `b < blocks`: 16 nibble bytes from `16 b` and 32 values from `32 b` exist.
        unsafe {
            let packed = _mm_loadu_si128(qs.as_ptr().add(b * 16).cast());
            let both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
            let w = _mm256_and_si256(both, low);
            let (db, mb) = (*d.get_unchecked(b), *m.get_unchecked(b));
            for r in 0..R {
                let xr = x[r];
                let v = _mm256_loadu_si256(xr.q.as_ptr().add(b * BLOCK).cast());
                let pairs = _mm256_maddubs_epi16(w, v);
                let quads = _mm256_madd_epi16(pairs, ones);
                let scale = _mm256_set1_ps(db * *xr.d.get_unchecked(b));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(quads), scale, acc[r]);
                mins[r] += mb * *xr.s.get_unchecked(b);
            }
        }
    }
    let mut out = [0f32; R];
    for ((o, a), mins) in out.iter_mut().zip(acc).zip(mins) {
        let hi = _mm256_extractf128_ps(a, 1);
        let s = _mm_add_ps(_mm256_castps256_ps128(a), hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        *o = _mm_cvtss_f32(s) + mins;
    }
    out
}

/// A f32 dot product the compiler vectorises (eight partial sums).
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// Both kernels give the exact block sums (the same to rounding), and the product is the
    /// f32 product to within quantisation error, for one token and for many.
    #[test]
    fn kernels_agree_with_each_other_and_with_f32() {
        let (m, k) = (37, 96);
        let w = data(m * k, 1);
        let wq = Q8::quantize(&w, m, k);
        for n in [1, 3, 4, 5, 17, 40] {
            let x = data(n * k, n as u64 + 7);
            let xq = Q8::quantize(&x, n, k);
            let mut scalar = vec![0f32; n * m];
            matmul(&Matrix::Q8(wq.clone()), &xq, &mut scalar, Kernel::Scalar);
            // The exact product of the quantised values, and the f32 product.
            let rows = |q: &Q8| -> Vec<Vec<f32>> {
                (0..q.rows)
                    .map(|r| {
                        let mut v = vec![0f32; k];
                        q.dequantize_row(r, &mut v);
                        v
                    })
                    .collect()
            };
            let (wr, xr) = (rows(&wq), rows(&xq));
            for t in 0..n {
                for r in 0..m {
                    let got = scalar[t * m + r];
                    let exact = dot_f32(&wr[r], &xr[t]);
                    let f32 = dot_f32(&w[r * k..(r + 1) * k], &x[t * k..(t + 1) * k]);
                    assert!(
                        (got - exact).abs() < 1e-4,
                        "n={n} t={t} r={r}: {got} vs {exact}"
                    );
                    assert!((got - f32).abs() < 0.1, "n={n}: {got} vs {f32}");
                }
            }
            if let Some(avx2) = avx2_kernel() {
                let mut simd = vec![0f32; n * m];
                matmul(&Matrix::Q8(wq.clone()), &xq, &mut simd, avx2);
                for (a, b) in simd.iter().zip(&scalar) {
                    assert!((a - b).abs() < 1e-4, "n={n}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn extreme_values_do_not_saturate() {
        // Every value at ±127 after quantisation: the largest pair sums vpmaddubsw sees.
        let k = 64;
        let w: Vec<f32> = (0..k)
            .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        let x = w.clone();
        let (wq, xq) = (Q8::quantize(&w, 1, k), Q8::quantize(&x, 1, k));
        for kernel in [Some(Kernel::Scalar), avx2_kernel()].into_iter().flatten() {
            let mut out = [0f32];
            matmul(&Matrix::Q8(wq.clone()), &xq, &mut out, kernel);
            assert!((out[0] - k as f32).abs() < 1e-3, "{kernel:?}: {}", out[0]);
        }
    }

    /// Q4_1 rows (from GGUF bytes) against int8 activations: both kernels give the product of
    /// the dequantised values, for one token and for many.
    #[test]
    fn q4_1_kernels_give_the_product_of_the_stored_values() {
        let (m, k) = (11, 64);
        let mut raw = Vec::new();
        let mut seed = 5u64;
        for _ in 0..m * k / BLOCK {
            let d = half::f16::from_f32(0.01 + (seed % 7) as f32 * 0.003);
            let min = half::f16::from_f32(-0.05 * (seed % 3) as f32);
            raw.extend(d.to_le_bytes());
            raw.extend(min.to_le_bytes());
            for _ in 0..16 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                raw.push((seed & 0xff) as u8);
            }
        }
        let w = Q4::from_q4_1(&raw, m, k).expect("blocks");
        assert!(Q4::from_q4_1(&raw[1..], m, k).is_none());
        let mut wr = vec![vec![0f32; k]; m];
        for (r, row) in wr.iter_mut().enumerate() {
            w.dequantize_row(r, row);
        }
        let w = Matrix::Q4(w);
        for n in [1, 2, 4, 9] {
            let x = data(n * k, 40 + n as u64);
            let xq = Q8::quantize(&x, n, k);
            for kernel in [Some(Kernel::Scalar), avx2_kernel()].into_iter().flatten() {
                let mut out = vec![0f32; n * m];
                matmul(&w, &xq, &mut out, kernel);
                for t in 0..n {
                    let mut xr = vec![0f32; k];
                    xq.dequantize_row(t, &mut xr);
                    for r in 0..m {
                        let exact = dot_f32(&wr[r], &xr);
                        let got = out[t * m + r];
                        assert!(
                            (got - exact).abs() < 1e-4,
                            "{kernel:?} n={n}: {got} vs {exact}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rows_round_trip() {
        let x = data(64, 3);
        let q = Q8::quantize(&x, 2, 32);
        let mut back = vec![0f32; 32];
        q.dequantize_row(1, &mut back);
        for (a, b) in back.iter().zip(&x[32..]) {
            assert!((a - b).abs() < 0.005);
        }
        assert_eq!(q.bytes(), 64 + 4 * 2);
    }
}
