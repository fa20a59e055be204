//! int8 products: the query pass, and the passage pass of a build.
//!
//! A query is one sentence of ~10 tokens, so each weight of a product is used ~10 times: the
//! f32 pass is bound by reading 42 MB of MiniLM weights (evicted from the caches by the
//! searches between queries) and by `gemm`'s packing, which is built for tall inputs. Here the
//! weights are quantised once at load, per output column (symmetric int8, 10.6 MB for MiniLM),
//! and packed in the order the kernel reads them; each input row is quantised when the product
//! runs (asymmetric u8 over the row's own range), and the products run with AVX-512 VNNI
//! (`vpdpbusd`: 64 multiply-adds per instruction, exact in i32) or, on AVX2-only CPUs, with
//! `vpmaddubsw` + `vpmaddwd` over 7-bit inputs (the same layout, 8 outputs per instruction). The few input columns with
//! outliers (BERT's hidden states have some) stay out of the int8 product and are added in
//! f32. Everything between the products — attention, softmax, GELU, layer norm, residuals,
//! pooling — stays f32.
//!
//! Measured on MiniLM (tests, `benches/RESULTS.md`): 2.75 → 1.04 ms a query; cosine to the f32
//! pass's query vector ≥ 0.9993 over 300 queries, 98 % of the exact top 10 shared, hybrid
//! eval results unchanged.
//!
//! Passages (tall inputs: a batch of 8 sentences is ~260 rows) run the same kernels: the
//! VNNI inner loop runs near the core's `vpdpbusd` rate, so what else a product does counts —
//! quantising (vectorised conversion, min/max and outlier search with the kernel's own
//! instructions) and the outlier columns (FMA, 64 outputs in registers). Every decision
//! (range, outlier columns) is made per row, so a row's result does not depend on the rows
//! beside it: a passage's vector is the same in any batch.

use wikirag_core::cpu::{Isa, Simd};

/// Outputs per panel: two 16-lane i32 accumulators per row.
const PANEL: usize = 32;
/// Rows multiplied together in the AVX2 kernel (2·4 accumulators + 2 weight registers + the
/// broadcast and the ones fit the 16 vector registers).
const ROWS_AVX2: usize = 4;
/// Rows multiplied together against one streamed panel (2·12 accumulators + 2 weight registers
/// + one broadcast fit the 32 vector registers).
const ROWS: usize = 12;

/// A fully-connected layer with int8 weights packed for [`QLinear::apply`].
pub(crate) struct QLinear {
    /// Panels of 32 outputs; in a panel, groups of 4 inputs, each group 128 bytes: outputs
    /// 0..16 (4 bytes each, one per input), then outputs 16..32. Zero past the real sizes.
    packed: Vec<i8>,
    /// Per output: the weight scale (max |w| / 127).
    scale: Vec<f32>,
    /// Per output: the sum of its quantised weights (to remove the input zero point).
    colsum: Vec<i32>,
    inputs: usize,
    /// Inputs rounded up to a multiple of 4.
    k4: usize,
    outputs: usize,
    /// Outputs rounded up to a multiple of [`PANEL`].
    n32: usize,
    kernel: Kernel,
}

/// The instructions an int8 product runs with. Each variant holds the [`Simd`] token that
/// proves this CPU runs them: a kernel can only be had from detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// AVX-512 VNNI `vpdpbusd`: u8 × i8, four products summed into i32, 64 per instruction.
    Vnni512(Simd),
    /// AVX2 `vpmaddubsw` + `vpmaddwd`: the same sums in three instructions for 8 outputs.
    /// `vpmaddubsw` saturates its i16 pair sums, so inputs are quantised to 0..=127 (7 bits)
    /// for this kernel: 2 · 127 · 127 < 32767, exact.
    Avx2(Simd),
}

impl Kernel {
    /// The largest quantised input: 255 for VNNI, 127 for AVX2 (see [`Kernel::Avx2`]).
    fn levels(self) -> f32 {
        match self {
            Kernel::Vnni512(_) => 255.0,
            Kernel::Avx2(_) => 127.0,
        }
    }

    /// Every kernel this CPU runs, best first (an AVX-512 VNNI machine runs both).
    pub(crate) fn all() -> Vec<Kernel> {
        let vnni = Simd::get(Isa::Avx512Vnni).map(Kernel::Vnni512);
        let avx2 = Simd::get(Isa::Avx2).map(Kernel::Avx2);
        vnni.into_iter().chain(avx2).collect()
    }

    /// The best kernel this CPU runs; `WIKIRAG_INT8_KERNEL=avx2` picks the AVX2 one on an
    /// AVX-512 machine (to measure and test what AVX2-only CPUs run).
    pub(crate) fn detect() -> Option<Kernel> {
        let forced = std::env::var("WIKIRAG_INT8_KERNEL").ok();
        Kernel::all()
            .into_iter()
            .find(|k| forced.as_deref() != Some("avx2") || matches!(k, Kernel::Avx2(_)))
    }
}

/// The int8 kernel queries run with here: `"avx512-vnni"`, `"avx2"`, or `None` (f32 queries).
pub fn kernel_name() -> Option<&'static str> {
    Kernel::detect().map(|k| match k {
        Kernel::Vnni512(_) => "avx512-vnni",
        Kernel::Avx2(_) => "avx2",
    })
}

/// Whether this CPU runs [`QLinear`] (x86-64 with AVX-512 VNNI, or AVX2 and FMA).
pub fn supported() -> bool {
    Kernel::detect().is_some()
}

impl QLinear {
    /// Quantises an input-major (`inputs × outputs`) f32 weight for this CPU's best kernel;
    /// `None` where [`supported`] is false.
    pub(crate) fn new(weight: &[f32], inputs: usize, outputs: usize) -> Option<QLinear> {
        Kernel::detect().map(|kernel| QLinear::with_kernel(weight, inputs, outputs, kernel))
    }

    /// The same for a given kernel.
    pub(crate) fn with_kernel(
        weight: &[f32],
        inputs: usize,
        outputs: usize,
        kernel: Kernel,
    ) -> QLinear {
        assert_eq!(weight.len(), inputs * outputs);
        let k4 = inputs.div_ceil(4) * 4;
        let n32 = outputs.div_ceil(PANEL) * PANEL;
        let mut scale = vec![1f32; n32];
        for (j, s) in scale.iter_mut().enumerate().take(outputs) {
            let max = (0..inputs)
                .map(|k| weight[k * outputs + j].abs())
                .fold(0f32, f32::max);
            if max > 0.0 {
                *s = max / 127.0;
            }
        }
        let mut packed = vec![0i8; k4 * n32];
        let mut colsum = vec![0i32; n32];
        for k in 0..inputs {
            for j in 0..outputs {
                let q = (weight[k * outputs + j] / scale[j])
                    .round()
                    .clamp(-127.0, 127.0) as i8;
                colsum[j] += q as i32;
                packed[Self::position(k4, j, k)] = q;
            }
        }
        QLinear {
            packed,
            scale,
            colsum,
            inputs,
            k4,
            outputs,
            n32,
            kernel,
        }
    }

    #[cfg(test)]
    pub(crate) fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Where weight (input `k`, output `j`) sits in `packed`.
    fn position(k4: usize, j: usize, k: usize) -> usize {
        let (panel, within) = (j / PANEL, j % PANEL);
        (panel * k4 / 4 + k / 4) * 128 + (within / 16) * 64 + (within % 16) * 4 + k % 4
    }

    /// `out = input · weight + bias` for `rows` rows (`out` rows `outputs` wide), `weight` the
    /// f32 weight this was made from (for the outlier columns); `scratch` holds the quantised
    /// inputs between calls.
    pub(crate) fn apply(
        &self,
        input: &[f32],
        out: &mut [f32],
        rows: usize,
        scratch: &mut Quantized,
        weight: &[f32],
        bias: &[f32],
    ) {
        assert!(input.len() >= rows * self.inputs && out.len() >= rows * self.outputs);
        assert_eq!(weight.len(), self.inputs * self.outputs);
        assert_eq!(bias.len(), self.outputs);
        let input = &input[..rows * self.inputs];
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: a kernel holds the `Simd` token of the instructions its product is
            // compiled for, and tokens exist only where detection found them.
            #[allow(unsafe_code)]
            unsafe {
                match self.kernel {
                    Kernel::Vnni512(_) => self.product(input, out, rows, scratch, weight, bias),
                    Kernel::Avx2(_) => self.product_avx2(input, out, rows, scratch, weight, bias),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (input, out, scratch, weight, bias);
            unreachable!("int8 products are only built where supported() is true");
        }
    }

    /// [`QLinear::apply`] compiled for AVX-512: quantise, multiply in blocks of rows, add the
    /// outlier columns in f32.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    #[allow(unsafe_code)]
    unsafe fn product(
        &self,
        input: &[f32],
        out: &mut [f32],
        rows: usize,
        scratch: &mut Quantized,
        weight: &[f32],
        bias: &[f32],
    ) {
        scratch.quantize(input, self.inputs, self.k4, self.kernel);
        let mut start = 0;
        while start < rows {
            let n = (rows - start).min(ROWS);
            // SAFETY: the caller's features; the kernels read `n` quantised rows from `start`
            // (k4 bytes each, `quantize` made them) and whole panels of `packed` (k4 · n32
            // bytes), and write only through `out` slices they index with bounds checks.
            unsafe {
                match n {
                    1 => self.block::<1>(scratch, start, out, bias),
                    2 => self.block::<2>(scratch, start, out, bias),
                    3 => self.block::<3>(scratch, start, out, bias),
                    4 => self.block::<4>(scratch, start, out, bias),
                    5 => self.block::<5>(scratch, start, out, bias),
                    6 => self.block::<6>(scratch, start, out, bias),
                    7 => self.block::<7>(scratch, start, out, bias),
                    8 => self.block::<8>(scratch, start, out, bias),
                    9 => self.block::<9>(scratch, start, out, bias),
                    10 => self.block::<10>(scratch, start, out, bias),
                    11 => self.block::<11>(scratch, start, out, bias),
                    _ => self.block::<12>(scratch, start, out, bias),
                }
            }
            start += n;
        }
        self.outliers(input, out, scratch, weight);
    }

    /// The outlier inputs of each row, left out of the int8 product, in f32 (inlined into
    /// each kernel's product, so compiled for its features, FMA included).
    #[inline(always)]
    fn outliers(&self, input: &[f32], out: &mut [f32], scratch: &Quantized, weight: &[f32]) {
        let (k, n) = (self.inputs, self.outputs);
        for (r, (x, o)) in input
            .chunks_exact(k)
            .zip(out.chunks_exact_mut(n))
            .enumerate()
        {
            let columns = scratch.outliers_of(r);
            if !columns.is_empty() {
                outlier_row(x, o, columns, weight);
            }
        }
    }

    /// [`QLinear::apply`] compiled for AVX2: inputs quantised to 7 bits, blocks of up to
    /// [`ROWS_AVX2`] rows against half panels (16 outputs), outliers in f32.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(unsafe_code)]
    unsafe fn product_avx2(
        &self,
        input: &[f32],
        out: &mut [f32],
        rows: usize,
        scratch: &mut Quantized,
        weight: &[f32],
        bias: &[f32],
    ) {
        scratch.quantize(input, self.inputs, self.k4, self.kernel);
        let mut start = 0;
        while start < rows {
            let n = (rows - start).min(ROWS_AVX2);
            // SAFETY: as in `product`: `n` quantised rows from `start`, whole panels.
            unsafe {
                match n {
                    1 => self.block_avx2::<1>(scratch, start, out, bias),
                    2 => self.block_avx2::<2>(scratch, start, out, bias),
                    3 => self.block_avx2::<3>(scratch, start, out, bias),
                    _ => self.block_avx2::<4>(scratch, start, out, bias),
                }
            }
            start += n;
        }
        self.outliers(input, out, scratch, weight);
    }

    /// `R` rows from `first` against every half panel, with `vpmaddubsw` (u8 × i8 → pairs
    /// summed in i16, exact for 7-bit inputs) and `vpmaddwd` by ones (→ sums of 4 in i32).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(unsafe_code)]
    unsafe fn block_avx2<const R: usize>(
        &self,
        q: &Quantized,
        first: usize,
        out: &mut [f32],
        bias: &[f32],
    ) {
        use std::arch::x86_64::*;
        let k4 = self.k4;
        let rows = &q.data[first * k4..(first + R) * k4];
        let ones = _mm256_set1_epi16(1);
        let mut sums = [0i32; 16];
        for panel in 0..self.n32 / PANEL {
            let weights = &self.packed[panel * k4 * PANEL..(panel + 1) * k4 * PANEL];
            for half in 0..2 {
                let mut acc = [[_mm256_setzero_si256(); 2]; R];
                for g in 0..k4 / 4 {
                    // SAFETY: `weights` holds k4/4 groups of 128 bytes (this half's 16
                    // outputs are bytes 64·half..64·half + 64) and every row k4 bytes.
                    let (w0, w1) = unsafe {
                        let p = weights.as_ptr().add(g * 128 + half * 64);
                        (
                            _mm256_loadu_si256(p.cast()),
                            _mm256_loadu_si256(p.add(32).cast()),
                        )
                    };
                    for (r, acc) in acc.iter_mut().enumerate() {
                        // SAFETY: `rows` holds R rows of k4 bytes (sliced, so checked, above)
                        // and g * 4 + 4 <= k4: the 4-byte read stays inside row r.
                        let a = unsafe {
                            _mm256_set1_epi32(
                                rows.as_ptr()
                                    .add(r * k4 + g * 4)
                                    .cast::<i32>()
                                    .read_unaligned(),
                            )
                        };
                        let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(a, w0), ones);
                        let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(a, w1), ones);
                        acc[0] = _mm256_add_epi32(acc[0], p0);
                        acc[1] = _mm256_add_epi32(acc[1], p1);
                    }
                }
                let j0 = panel * PANEL + half * 16;
                if j0 >= self.outputs {
                    continue;
                }
                let width = (self.outputs - j0).min(16);
                for (r, acc) in acc.iter().enumerate() {
                    // SAFETY: `sums` holds 16 i32.
                    unsafe {
                        _mm256_storeu_si256(sums.as_mut_ptr().cast(), acc[0]);
                        _mm256_storeu_si256(sums.as_mut_ptr().add(8).cast(), acc[1]);
                    }
                    let (zero, step) = q.params[first + r];
                    let row = &mut out[(first + r) * self.outputs..][..self.outputs];
                    for (i, o) in row[j0..j0 + width].iter_mut().enumerate() {
                        let j = j0 + i;
                        let fixed = sums[i] - self.colsum[j] * zero;
                        *o = fixed as f32 * self.scale[j] * step + bias[j];
                    }
                }
            }
        }
    }

    /// `R` rows from `first` against every panel.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[allow(unsafe_code)]
    unsafe fn block<const R: usize>(
        &self,
        q: &Quantized,
        first: usize,
        out: &mut [f32],
        bias: &[f32],
    ) {
        use std::arch::x86_64::*;
        let k4 = self.k4;
        let rows = &q.data[first * k4..(first + R) * k4];
        let mut tail = [0f32; PANEL];
        for panel in 0..self.n32 / PANEL {
            let weights = &self.packed[panel * k4 * PANEL..(panel + 1) * k4 * PANEL];
            let mut acc = [[_mm512_setzero_si512(); 2]; R];
            for g in 0..k4 / 4 {
                // SAFETY: `weights` holds k4/4 groups of 128 bytes (sliced, so checked, above):
                // both 64-byte reads of group g stay inside it.
                let (w0, w1) = unsafe {
                    let p = weights.as_ptr().add(g * 128);
                    (
                        _mm512_loadu_si512(p.cast()),
                        _mm512_loadu_si512(p.add(64).cast()),
                    )
                };
                for (r, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: `rows` holds R rows of k4 bytes (sliced, so checked, above) and
                    // g * 4 + 4 <= k4: the 4-byte read stays inside row r.
                    let a = unsafe {
                        _mm512_set1_epi32(
                            rows.as_ptr()
                                .add(r * k4 + g * 4)
                                .cast::<i32>()
                                .read_unaligned(),
                        )
                    };
                    acc[0] = _mm512_dpbusd_epi32(acc[0], a, w0);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], a, w1);
                }
            }
            let j0 = panel * PANEL;
            let width = (self.outputs - j0).min(PANEL);
            for (r, acc) in acc.iter().enumerate() {
                let (zero, step) = q.params[first + r];
                let row = &mut out[(first + r) * self.outputs..][..self.outputs];
                for (half, &sum) in acc.iter().enumerate() {
                    let j = j0 + half * 16;
                    // SAFETY: colsum and scale hold n32 values and j + 16 <= n32 (bias is read
                    // below, through a slice).
                    let v = unsafe {
                        let colsum = _mm512_loadu_si512(self.colsum.as_ptr().add(j).cast());
                        let fixed = _mm512_sub_epi32(
                            sum,
                            _mm512_mullo_epi32(colsum, _mm512_set1_epi32(zero)),
                        );
                        let scale = _mm512_mul_ps(
                            _mm512_loadu_ps(self.scale.as_ptr().add(j)),
                            _mm512_set1_ps(step),
                        );
                        _mm512_mul_ps(_mm512_cvtepi32_ps(fixed), scale)
                    };
                    // SAFETY: `tail` holds 32 floats.
                    unsafe { _mm512_storeu_ps(tail.as_mut_ptr().add(half * 16), v) };
                }
                for (o, (t, b)) in row[j0..j0 + width]
                    .iter_mut()
                    .zip(tail.iter().zip(&bias[j0..j0 + width]))
                {
                    *o = t + b;
                }
            }
        }
    }

    /// Inputs per row.
    #[cfg(test)]
    pub(crate) fn inputs(&self) -> usize {
        self.inputs
    }
}

/// An input column whose largest magnitude exceeds this many times the inputs' RMS is an
/// outlier: it stays out of the int8 product and is multiplied in f32 instead.
const OUTLIER_RMS: f32 = 6.0;
/// At most this many outlier columns per product (the largest).
const MAX_OUTLIERS: usize = 16;

/// Input rows quantised to u8, each with its zero point and step (`x ≈ (q − zero) · step`),
/// and each row's outlier columns left to f32 (quantised as the zero point, so they add
/// nothing). Everything is decided per row, so a row's result does not depend on the rows
/// multiplied with it: a passage's vector is the same whatever batch it was embedded in.
#[derive(Default)]
pub(crate) struct Quantized {
    data: Vec<u8>,
    params: Vec<(i32, f32)>,
    /// The outlier columns of every row, row after row; `spans[r]` is row r's range.
    outliers: Vec<usize>,
    spans: Vec<(usize, usize)>,
    /// The row being quantised, its outliers zeroed.
    row: Vec<f32>,
}

impl Quantized {
    /// Row `r`'s outlier columns.
    fn outliers_of(&self, r: usize) -> &[usize] {
        let (start, end) = self.spans[r];
        &self.outliers[start..end]
    }

    /// Branch-free loops over lanes so they vectorise (inlined into each kernel's caller).
    #[inline(always)]
    fn quantize(&mut self, input: &[f32], k: usize, k4: usize, kernel: Kernel) {
        let levels = kernel.levels();
        let rows = input.len() / k;
        // Every byte is written below (the row, then its padding): no need to zero them.
        self.data.resize(rows * k4, 0);
        self.params.clear();
        self.outliers.clear();
        self.spans.clear();
        for (row, q) in input.chunks_exact(k).zip(self.data.chunks_exact_mut(k4)) {
            let mut sq = [0f32; 16];
            let chunks = row.chunks_exact(16);
            let rest = chunks.remainder();
            for c in chunks {
                for l in 0..16 {
                    sq[l] += c[l] * c[l];
                }
            }
            for (l, &x) in rest.iter().enumerate() {
                sq[l] += x * x;
            }
            let rms = (sq.iter().sum::<f32>() / k.max(1) as f32).sqrt();
            let first = self.outliers.len();
            above(kernel, row, OUTLIER_RMS * rms, &mut self.outliers);
            let found = &mut self.outliers[first..];
            if found.len() > MAX_OUTLIERS {
                found.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()));
                self.outliers.truncate(first + MAX_OUTLIERS);
            }
            self.spans.push((first, self.outliers.len()));
            self.row.clear();
            self.row.extend_from_slice(row);
            for &c in &self.outliers[first..] {
                self.row[c] = 0.0;
            }
            let row = &self.row;
            // The range always holds 0, so zero inputs, the outliers (zeroed) and the padding
            // all quantise to the zero point exactly.
            let (lo, hi) = min_max(kernel, row);
            let step = if hi > lo { (hi - lo) / levels } else { 1.0 };
            let inv = 1.0 / step;
            let zero = (-lo * inv).round().clamp(0.0, levels);
            for (q, &x) in q.iter_mut().zip(row) {
                // `max` first turns NaN into 0, so `v` is finite and in 0..=levels (≤ 255).
                let v = (x * inv + zero + 0.5).max(0.0).min(levels);
                // SAFETY: `v` is finite and in 0..=255 (just above), so it fits an i32; this
                // truncates exactly as `as u8` would, and vectorises (a saturating `as` does
                // not).
                #[allow(unsafe_code)]
                let v = unsafe { v.to_int_unchecked::<i32>() };
                *q = v as u8;
            }
            q[k..].fill(zero as u8);
            self.params.push((zero as i32, step));
        }
    }
}

/// `out += Σ_c input[c] · weight[c]` over the outlier columns `c` of one row (`weight` input
/// major, `out.len()` outputs): 64 outputs at a time accumulate every outlier's contribution
/// in registers before one store.
#[inline(always)]
fn outlier_row(input: &[f32], out: &mut [f32], columns: &[usize], weight: &[f32]) {
    const LANES: usize = 64;
    let n = out.len();
    let whole = n - n % LANES;
    for j in (0..whole).step_by(LANES) {
        let acc: &mut [f32; LANES] = (&mut out[j..j + LANES])
            .try_into()
            .expect("a slice of LANES");
        let mut sum = *acc;
        for &c in columns {
            let a = input[c];
            let w: &[f32; LANES] = weight[c * n + j..c * n + j + LANES]
                .try_into()
                .expect("a slice of LANES");
            for l in 0..LANES {
                sum[l] = a.mul_add(w[l], sum[l]);
            }
        }
        *acc = sum;
    }
    for (j, o) in out.iter_mut().enumerate().skip(whole) {
        for &c in columns {
            *o = input[c].mul_add(weight[c * n + j], *o);
        }
    }
}

/// The smallest and largest of `row` and 0, with the kernel's instructions (LLVM turns the
/// portable select loop into permutes; `f32::min` stays scalar).
#[inline(always)]
fn min_max(kernel: Kernel, row: &[f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: a kernel holds the `Simd` token of its instructions (found by detection).
        #[allow(unsafe_code)]
        unsafe {
            match kernel {
                Kernel::Vnni512(_) => min_max_avx512(row),
                Kernel::Avx2(_) => min_max_avx2(row),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = kernel;
        row.iter()
            .fold((0f32, 0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)))
    }
}

/// Appends the columns of `row` whose magnitude is above `threshold` (compared a register at
/// a time; outliers are few, so the loop over set bits is short).
#[inline(always)]
fn above(kernel: Kernel, row: &[f32], threshold: f32, found: &mut Vec<usize>) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: a kernel holds the `Simd` token of its instructions (found by detection).
        #[allow(unsafe_code)]
        unsafe {
            match kernel {
                Kernel::Vnni512(_) => above_avx512(row, threshold, found),
                Kernel::Avx2(_) => above_avx2(row, threshold, found),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = kernel;
        found.extend((0..row.len()).filter(|&c| row[c].abs() > threshold));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn above_avx512(row: &[f32], threshold: f32, found: &mut Vec<usize>) {
    use std::arch::x86_64::*;
    let t = _mm512_set1_ps(threshold);
    let whole = row.len() - row.len() % 16;
    for i in (0..whole).step_by(16) {
        // SAFETY: i + 16 <= whole <= row.len().
        let v = unsafe { _mm512_abs_ps(_mm512_loadu_ps(row.as_ptr().add(i))) };
        let mut mask = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, t);
        while mask != 0 {
            found.push(i + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
    }
    found.extend((whole..row.len()).filter(|&c| row[c].abs() > threshold));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn above_avx2(row: &[f32], threshold: f32, found: &mut Vec<usize>) {
    use std::arch::x86_64::*;
    let t = _mm256_set1_ps(threshold);
    let sign = _mm256_set1_ps(-0.0);
    let whole = row.len() - row.len() % 8;
    for i in (0..whole).step_by(8) {
        // SAFETY: i + 8 <= whole <= row.len().
        let v = unsafe { _mm256_andnot_ps(sign, _mm256_loadu_ps(row.as_ptr().add(i))) };
        let mut mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(v, t)) as u32;
        while mask != 0 {
            found.push(i + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
    }
    found.extend((whole..row.len()).filter(|&c| row[c].abs() > threshold));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn min_max_avx512(row: &[f32]) -> (f32, f32) {
    use std::arch::x86_64::*;
    let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let whole = row.len() - row.len() % 16;
    for i in (0..whole).step_by(16) {
        // SAFETY: i + 16 <= whole <= row.len().
        let v = unsafe { _mm512_loadu_ps(row.as_ptr().add(i)) };
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    let (mut lo, mut hi) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
    for &x in &row[whole..] {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    (lo, hi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn min_max_avx2(row: &[f32]) -> (f32, f32) {
    use std::arch::x86_64::*;
    let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let whole = row.len() - row.len() % 8;
    for i in (0..whole).step_by(8) {
        // SAFETY: i + 8 <= whole <= row.len().
        let v = unsafe { _mm256_loadu_ps(row.as_ptr().add(i)) };
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
    }
    let (mut l, mut h) = ([0f32; 8], [0f32; 8]);
    // SAFETY: both arrays hold 8 floats.
    unsafe {
        _mm256_storeu_ps(l.as_mut_ptr(), lo);
        _mm256_storeu_ps(h.as_mut_ptr(), hi);
    }
    let (mut lo, mut hi) = (
        l.iter().copied().fold(0f32, f32::min),
        h.iter().copied().fold(0f32, f32::max),
    );
    for &x in &row[whole..] {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Odd sizes (padding of inputs and outputs), every row-block size, skewed inputs: the
    /// int8 product stays within quantisation error of the f32 one.
    /// The kernels this CPU runs (both on an AVX-512 VNNI machine: the AVX2 one is what
    /// AVX2-only CPUs run, tested here too).
    fn kernels() -> Vec<Kernel> {
        let k = Kernel::all();
        if k.is_empty() {
            wikirag_core::testing::skip("this CPU has neither AVX-512 VNNI nor AVX2");
        }
        k
    }

    #[test]
    fn matches_f32_product_within_quantisation_error() {
        for kernel in kernels() {
            matches_f32_with(kernel);
        }
    }

    fn matches_f32_with(kernel: Kernel) {
        let mut seed = 7;
        for (k, n, rows) in [(384, 1152, 11), (37, 45, 1), (64, 32, 13), (1536, 384, 25)] {
            let w: Vec<f32> = (0..k * n).map(|_| lcg(&mut seed) * 0.1).collect();
            let b: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
            // GELU-like rows: mostly small, skewed positive, and a few outlier columns (as in
            // BERT's hidden states), which go through the f32 side path.
            let x: Vec<f32> = (0..rows * k)
                .map(|i| {
                    let v = lcg(&mut seed);
                    if i % k % 97 == 3 {
                        20.0 * v
                    } else {
                        v.max(-0.2)
                    }
                })
                .collect();
            let q = QLinear::with_kernel(&w, k, n, kernel);
            assert_eq!(q.inputs(), k);
            assert_eq!(q.kernel(), kernel);
            let mut out = vec![f32::NAN; rows * n];
            let mut scratch = Quantized::default();
            q.apply(&x, &mut out, rows, &mut scratch, &w, &b);
            // In each row, the outlier columns (one in 97) that stand out of that row (above 6×
            // its RMS) take the f32 path, and nothing else does (with 37 inputs the one outlier
            // is too large a share of the RMS to stand out).
            if k >= 64 {
                for r in 0..rows {
                    let row = &x[r * k..(r + 1) * k];
                    let rms = (row.iter().map(|v| v * v).sum::<f32>() / k as f32).sqrt();
                    let want: Vec<usize> = (0..k)
                        .filter(|c| c % 97 == 3 && row[*c].abs() > 6.0 * rms)
                        .collect();
                    let mut got = scratch.outliers_of(r).to_vec();
                    got.sort();
                    assert_eq!(got, want, "k {k} row {r}");
                }
            }
            let mut err = 0f64;
            let mut norm = 0f64;
            for r in 0..rows {
                for j in 0..n {
                    let want: f32 = b[j] + (0..k).map(|i| x[r * k + i] * w[i * n + j]).sum::<f32>();
                    err += ((out[r * n + j] - want) as f64).powi(2);
                    norm += (want as f64).powi(2);
                }
            }
            let rel = (err / norm).sqrt();
            // 7-bit inputs on AVX2: about twice the error of 8 bits.
            let bound = match kernel {
                Kernel::Vnni512(_) => 0.01,
                Kernel::Avx2(_) => 0.02,
            };
            assert!(
                rel < bound,
                "{kernel:?} k {k} n {n} rows {rows}: relative error {rel}"
            );
        }
    }

    /// A row's product is the same alone and among others (outliers and ranges are decided
    /// per row), so a passage's vector does not depend on its batch.
    #[test]
    fn a_row_does_not_depend_on_the_rows_beside_it() {
        for kernel in kernels() {
            let mut seed = 11;
            let (k, n, rows) = (384, 96, 13);
            let w: Vec<f32> = (0..k * n).map(|_| lcg(&mut seed) * 0.1).collect();
            let b = vec![0.5; n];
            // Row 5 has a spike no other row has; row 9 is ten times larger than the rest.
            let mut x: Vec<f32> = (0..rows * k).map(|_| lcg(&mut seed)).collect();
            x[5 * k + 17] = 40.0;
            x[9 * k..10 * k].iter_mut().for_each(|v| *v *= 10.0);
            let q = QLinear::with_kernel(&w, k, n, kernel);
            let mut all = vec![0f32; rows * n];
            q.apply(&x, &mut all, rows, &mut Quantized::default(), &w, &b);
            for r in 0..rows {
                let mut alone = vec![0f32; n];
                let row = &x[r * k..(r + 1) * k];
                q.apply(row, &mut alone, 1, &mut Quantized::default(), &w, &b);
                assert_eq!(alone, all[r * n..(r + 1) * n], "{kernel:?} row {r}");
            }
        }
    }

    #[test]
    fn zero_rows_and_zero_weights_are_exact() {
        for kernel in kernels() {
            let q = QLinear::with_kernel(&[0.0; 6], 3, 2, kernel);
            let mut out = [0f32; 4];
            q.apply(
                &[0.5, -1.0, 2.0, 0.0, 0.0, 0.0],
                &mut out,
                2,
                &mut Quantized::default(),
                &[0.0; 6],
                &[1.0, 2.0],
            );
            assert_eq!(out, [1.0, 2.0, 1.0, 2.0], "{kernel:?}");
        }
    }

    /// Integer weights and inputs on the quantisation grid come out exact on both kernels,
    /// including the largest 7-bit inputs against ±127 weights (where an 8-bit input would
    /// saturate `vpmaddubsw`'s i16 pair sums).
    #[test]
    fn largest_products_do_not_saturate() {
        for kernel in kernels() {
            let (k, n) = (64, 40);
            // Weights ±127 (scale 1), inputs 0 and the row maximum (step 1 after quantising).
            let w: Vec<f32> = (0..k * n)
                .map(|i| if i % 3 == 0 { -127.0 } else { 127.0 })
                .collect();
            let top = kernel.levels();
            let x: Vec<f32> = (0..k).map(|i| if i % 5 == 0 { 0.0 } else { top }).collect();
            let q = QLinear::with_kernel(&w, k, n, kernel);
            let mut out = vec![0f32; n];
            q.apply(
                &x,
                &mut out,
                1,
                &mut Quantized::default(),
                &w,
                &vec![0.0; n],
            );
            for j in 0..n {
                let want: f32 = (0..k).map(|i| x[i] * w[i * n + j]).sum();
                assert_eq!(out[j], want, "{kernel:?} output {j}");
            }
        }
    }
}
