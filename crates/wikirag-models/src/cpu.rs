//! A BERT encoder forward pass for the CPU, built for sentence embedding.
//!
//! candle's BERT runs every element-wise step as a separate tensor op (a fresh allocation and
//! a pass over memory each: GELU through libm's scalar `erf`, softmax as five ops, masks and
//! padding), which left its matrix products at half the run time (`benches/RESULTS.md`). This
//! pass keeps the same weights and the same arithmetic but:
//!
//! - packs the tokens of all sentences in a batch back to back: no padding and no attention
//!   mask, attention runs per sentence;
//! - multiplies with the `gemm` crate directly (AVX-512 where the CPU has it), query, key and
//!   value fused into one product, bias written before the product (no extra pass);
//! - fuses residual + layer norm, computes GELU with a vectorisable rational `erf`
//!   (max error 1e-6 against libm's), and reuses its buffers through the whole pass;
//! - compiles the element-wise code for AVX-512 / AVX2 with run-time detection.
//!
//! The model is still read by candle (safetensors, name fallbacks); candle's own forward pass
//! remains the reference, the GPU path and the fallback for configurations this one does not
//! cover. Tests hold the two to cosine ≥ 0.9999 on the same inputs.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct};
use wikirag_core::Pooling;

use crate::int8::{QLinear, Quantized};

/// The encoder families this pass runs: the same layers, different embeddings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// BERT (and models saved as BERT, such as multilingual-e5 and MiniLM).
    Bert,
    /// RoBERTa, XLM-RoBERTa, CamemBERT: weights under `roberta.`, positions offset past the
    /// padding index, one token type.
    Roberta,
}

impl Family {
    /// The family of a `config.json` `model_type`, `None` for one this pass cannot run.
    pub(crate) fn of_supported(model_type: &str) -> Option<Family> {
        match model_type {
            "bert" | "distilbert_as_bert" => Some(Family::Bert),
            "roberta" | "xlm-roberta" | "camembert" => Some(Family::Roberta),
            _ => None,
        }
    }

    fn of(model_type: Option<&str>) -> Family {
        model_type
            .and_then(Family::of_supported)
            .unwrap_or(Family::Bert)
    }
}

/// A fully-connected layer; the weight is stored input-major (`inputs × outputs`).
struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    /// The same product in int8, for the query pass (`int8.rs`).
    int8: Option<QLinear>,
}

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    /// Query, key and value in one product: outputs `[q | k | v]`.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// BERT weights laid out for [`CpuBert::forward`].
pub(crate) struct CpuBert {
    hidden: usize,
    heads: usize,
    intermediate: usize,
    eps: f32,
    act: HiddenAct,
    vocab: usize,
    /// Longest input (the position table's rows past `position_offset`).
    max_positions: usize,
    /// Row of the first token's position: 0 for BERT, `pad_token_id + 1` for (XLM-)RoBERTa,
    /// whose position ids start after the padding index.
    position_offset: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    /// Token type 0 (sentence embedding never uses another).
    token_type: Vec<f32>,
    norm: Norm,
    layers: Vec<Layer>,
}

impl CpuBert {
    /// Reads the weights from a CPU `VarBuilder` (the same names candle's `BertModel` reads,
    /// with or without the `bert.` prefix, `weight`/`bias` or `gamma`/`beta` norms); `int8`
    /// also quantises the products for [`CpuBert::forward`]'s int8 pass (ignored where the CPU
    /// cannot run it: see [`CpuBert::has_int8`]).
    pub(crate) fn load(vb: &VarBuilder, config: &Config, int8: bool) -> Result<CpuBert> {
        let family = Family::of(config.model_type.as_deref());
        let vb = match (&config.model_type, family) {
            _ if vb.contains_tensor("embeddings.word_embeddings.weight") => vb.clone(),
            (_, Family::Roberta) => vb.pp("roberta"),
            (Some(prefix), Family::Bert) => vb.pp(prefix),
            (None, Family::Bert) => vb.clone(),
        };
        let position_offset = match family {
            Family::Bert => 0,
            Family::Roberta => config.pad_token_id + 1,
        };
        if position_offset >= config.max_position_embeddings {
            candle_core::bail!(
                "position offset {position_offset} leaves none of the model's {} positions",
                config.max_position_embeddings
            );
        }
        let h = config.hidden_size;
        let inter = config.intermediate_size;
        if config.num_attention_heads == 0 || !h.is_multiple_of(config.num_attention_heads) {
            candle_core::bail!(
                "hidden size {h} is not a multiple of {} attention heads",
                config.num_attention_heads
            );
        }
        let matrix = |rows: usize, cols: usize, name: &str| -> Result<Vec<f32>> {
            vb.get((rows, cols), name)?.flatten_all()?.to_vec1()
        };
        let vector = |n: usize, name: &str| -> Result<Vec<f32>> { vb.get(n, name)?.to_vec1() };
        let transposed =
            |t: Tensor| -> Result<Vec<f32>> { t.t()?.contiguous()?.flatten_all()?.to_vec1() };
        let linear = |inputs: usize, outputs: usize, prefix: &str| -> Result<Linear> {
            Ok(Linear {
                weight: transposed(vb.get((outputs, inputs), &format!("{prefix}.weight"))?)?,
                bias: vector(outputs, &format!("{prefix}.bias"))?,
                inputs,
                outputs,
                int8: None,
            })
        };
        let norm = |prefix: &str| -> Result<Norm> {
            let named = |w: &str, b: &str| -> Result<Norm> {
                Ok(Norm {
                    weight: vector(h, &format!("{prefix}.{w}"))?,
                    bias: vector(h, &format!("{prefix}.{b}"))?,
                })
            };
            named("weight", "bias").or_else(|err| named("gamma", "beta").map_err(|_| err))
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let q = linear(h, h, &format!("{p}.attention.self.query"))?;
            let k = linear(h, h, &format!("{p}.attention.self.key"))?;
            let v = linear(h, h, &format!("{p}.attention.self.value"))?;
            let mut weight = Vec::with_capacity(h * 3 * h);
            for row in 0..h {
                for part in [&q, &k, &v] {
                    weight.extend_from_slice(&part.weight[row * h..(row + 1) * h]);
                }
            }
            let bias = [q.bias, k.bias, v.bias].concat();
            layers.push(Layer {
                qkv: Linear {
                    weight,
                    bias,
                    inputs: h,
                    outputs: 3 * h,
                    int8: None,
                },
                attention_out: linear(h, h, &format!("{p}.attention.output.dense"))?,
                attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                intermediate: linear(h, inter, &format!("{p}.intermediate.dense"))?,
                output: linear(inter, h, &format!("{p}.output.dense"))?,
                output_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let token_types = matrix(
            config.type_vocab_size,
            h,
            "embeddings.token_type_embeddings.weight",
        )?;
        if int8 && crate::int8::supported() {
            for layer in &mut layers {
                for linear in [
                    &mut layer.qkv,
                    &mut layer.attention_out,
                    &mut layer.intermediate,
                    &mut layer.output,
                ] {
                    linear.int8 = QLinear::new(&linear.weight, linear.inputs, linear.outputs);
                }
            }
        }
        Ok(CpuBert {
            hidden: h,
            heads: config.num_attention_heads,
            intermediate: inter,
            eps: config.layer_norm_eps as f32,
            act: config.hidden_act,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings - position_offset,
            position_offset,
            word: matrix(config.vocab_size, h, "embeddings.word_embeddings.weight")?,
            position: matrix(
                config.max_position_embeddings,
                h,
                "embeddings.position_embeddings.weight",
            )?,
            token_type: token_types[..h].to_vec(),
            norm: norm("embeddings.LayerNorm")?,
            layers,
        })
    }

    /// Whether the int8 pass is available (asked for at load, and the CPU has AVX-512 VNNI or
    /// AVX2).
    pub(crate) fn has_int8(&self) -> bool {
        self.layers.iter().all(|l| l.qkv.int8.is_some()) && !self.layers.is_empty()
    }

    /// Pooled (not yet normalised) sentence vectors for token-id sequences of any lengths;
    /// `int8` runs the four products of each layer in int8 when [`CpuBert::has_int8`].
    pub(crate) fn forward(
        &self,
        seqs: &[&[u32]],
        pooling: Pooling,
        int8: bool,
    ) -> std::result::Result<Vec<Vec<f32>>, String> {
        for s in seqs {
            if s.is_empty() {
                return Err("empty token sequence".into());
            }
            if s.len() > self.max_positions {
                return Err(format!(
                    "{} tokens, more than the model's {} positions",
                    s.len(),
                    self.max_positions
                ));
            }
            if let Some(&id) = s.iter().find(|&&id| id as usize >= self.vocab) {
                return Err(format!(
                    "token id {id} outside the model's vocabulary of {} (tokenizer and weights do not match)",
                    self.vocab
                ));
            }
        }
        Ok(dispatch(self, seqs, pooling, int8 && self.has_int8()))
    }

    /// The pass over one batch, in `scratch`'s buffers (see [`dispatch`]).
    #[inline(always)]
    fn forward_body(
        &self,
        seqs: &[&[u32]],
        pooling: Pooling,
        int8: bool,
        scratch: &mut Scratch,
    ) -> Vec<Vec<f32>> {
        let h = self.hidden;
        let rows: usize = seqs.iter().map(|s| s.len()).sum();
        let Scratch {
            x,
            qkv,
            context,
            attended,
            inner,
            scores,
            quantized,
        } = scratch;
        // Every buffer is written whole before it is read (embeddings, products with the bias
        // written first, attention per head), so old contents never leak into a batch.
        let x = sized(x, rows * h);
        let mut row = 0;
        for s in seqs {
            for (pos, &id) in s.iter().enumerate() {
                let word = &self.word[id as usize * h..][..h];
                let position = &self.position[(pos + self.position_offset) * h..][..h];
                let out = &mut x[row * h..][..h];
                for i in 0..h {
                    out[i] = word[i] + position[i] + self.token_type[i];
                }
                layer_norm(out, &self.norm, self.eps);
                row += 1;
            }
        }
        let qkv = sized(qkv, rows * 3 * h);
        let context = sized(context, rows * h);
        let attended = sized(attended, rows * h);
        let inner = sized(inner, rows * self.intermediate);
        let max_len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let scores = sized(scores, max_len * max_len);
        let mut int8 = int8.then_some(quantized);
        for layer in &self.layers {
            layer.qkv.apply(x, qkv, rows, int8.as_deref_mut());
            self.attention(qkv, seqs, context, scores);
            layer
                .attention_out
                .apply(context, attended, rows, int8.as_deref_mut());
            add_norm(attended, x, &layer.attention_norm, self.eps, h);
            layer
                .intermediate
                .apply(attended, inner, rows, int8.as_deref_mut());
            activate(inner, self.act);
            layer.output.apply(inner, x, rows, int8.as_deref_mut());
            add_norm(x, attended, &layer.output_norm, self.eps, h);
        }
        let mut out = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for s in seqs {
            let tokens = &x[start * h..(start + s.len()) * h];
            let v = match pooling {
                Pooling::Cls => tokens[..h].to_vec(),
                Pooling::Mean => {
                    let mut sum = vec![0f32; h];
                    for t in tokens.chunks_exact(h) {
                        for i in 0..h {
                            sum[i] += t[i];
                        }
                    }
                    let n = s.len() as f32;
                    sum.iter_mut().for_each(|v| *v /= n);
                    sum
                }
            };
            out.push(v);
            start += s.len();
        }
        out
    }

    /// Scaled dot-product attention, per sentence and head, over the packed `[q | k | v]` rows:
    /// two small products per head (`Q·Kᵀ`, `P·V`) with a row softmax between them.
    #[inline(always)]
    fn attention(&self, qkv: &[f32], seqs: &[&[u32]], context: &mut [f32], scores: &mut [f32]) {
        let h = self.hidden;
        let d = h / self.heads;
        let stride = 3 * h;
        let scale = 1.0 / (d as f32).sqrt();
        let mut start = 0;
        for s in seqs {
            let len = s.len();
            let block = &qkv[start * stride..(start + len) * stride];
            let out = &mut context[start * h..(start + len) * h];
            let scores = &mut scores[..len * len];
            for head in 0..self.heads {
                let (qo, ko, vo) = (head * d, h + head * d, 2 * h + head * d);
                // scores = scale · Q Kᵀ
                matmul(
                    scores,
                    (len, len, d),
                    (len, 1),
                    false,
                    &block[qo..],
                    (stride, 1),
                    &block[ko..],
                    (1, stride),
                    scale,
                );
                for row in scores.chunks_exact_mut(len) {
                    let max = max_of(row);
                    row.iter_mut().for_each(|p| *p = exp_nonpositive(*p - max));
                    let inv = 1.0 / sum_of(row);
                    row.iter_mut().for_each(|p| *p *= inv);
                }
                // context[:, head] = P V
                matmul(
                    &mut out[qo..],
                    (len, d, len),
                    (h, 1),
                    false,
                    scores,
                    (len, 1),
                    &block[vo..],
                    (stride, 1),
                    1.0,
                );
            }
            start += len;
        }
    }
}

/// `dst = [dst +] beta · lhs · rhs` for an `m × n` result over `k`, each matrix given as a
/// slice starting at its first element and (row stride, column stride).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn matmul(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    beta: f32,
) {
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(
        last(m, n, dst_rs, dst_cs) < dst.len()
            && last(m, k, lhs_rs, lhs_cs) < lhs.len()
            && last(k, n, rhs_rs, rhs_cs) < rhs.len(),
        "matmul operands out of bounds"
    );
    // SAFETY: the assert keeps every element gemm reads or writes inside the three slices;
    // dst is a `&mut` borrow, so it cannot overlap the inputs.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

impl Linear {
    /// `out = input · weight + bias` for `rows` rows; with `int8` scratch (and int8 weights)
    /// through the int8 product.
    #[inline(always)]
    fn apply(&self, input: &[f32], out: &mut [f32], rows: usize, int8: Option<&mut Quantized>) {
        if let (Some(q), Some(scratch)) = (&self.int8, int8) {
            q.apply(input, out, rows, scratch, &self.weight, &self.bias);
            return;
        }
        let (k, n) = (self.inputs, self.outputs);
        for r in out[..rows * n].chunks_exact_mut(n) {
            r.copy_from_slice(&self.bias);
        }
        matmul(
            out,
            (rows, n, k),
            (n, 1),
            true,
            input,
            (k, 1),
            &self.weight,
            (n, 1),
            1.0,
        );
    }
}

/// A thread's buffers between batches (see [`CpuBert::forward_body`]).
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    attended: Vec<f32>,
    inner: Vec<f32>,
    scores: Vec<f32>,
    quantized: Quantized,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// `buf` as `len` floats (contents unspecified: the caller writes them all).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buf.resize(len, 0.0);
    &mut buf[..len]
}

/// Runs the forward pass compiled for the best instruction set the CPU has, in this thread's
/// buffers of the previous batch: a batch's activations are megabytes, and fresh ones cost
/// zeroing and page faults. (The buffers are taken here, outside the functions compiled for
/// AVX-512 / AVX2, so the pass itself stays inlined into them.)
fn dispatch(model: &CpuBert, seqs: &[&[u32]], pooling: Pooling, int8: bool) -> Vec<Vec<f32>> {
    SCRATCH.with(|s| {
        let scratch = &mut s.borrow_mut();
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
            fn avx512(
                model: &CpuBert,
                seqs: &[&[u32]],
                pooling: Pooling,
                int8: bool,
                scratch: &mut Scratch,
            ) -> Vec<Vec<f32>> {
                model.forward_body(seqs, pooling, int8, scratch)
            }
            #[target_feature(enable = "avx2,fma")]
            fn avx2(
                model: &CpuBert,
                seqs: &[&[u32]],
                pooling: Pooling,
                int8: bool,
                scratch: &mut Scratch,
            ) -> Vec<Vec<f32>> {
                model.forward_body(seqs, pooling, int8, scratch)
            }
            use wikirag_core::cpu::{Isa, Simd};
            match Simd::best() {
                #[allow(unsafe_code)]
                Some(simd) if simd.has(Isa::Avx512) => {
                    // SAFETY: the token proves the CPU runs AVX-512 F/VL/BW/DQ, AVX2 and FMA.
                    return unsafe { avx512(model, seqs, pooling, int8, scratch) };
                }
                // SAFETY: the token proves the CPU runs AVX2 and FMA.
                #[allow(unsafe_code)]
                Some(_) => return unsafe { avx2(model, seqs, pooling, int8, scratch) },
                None => {}
            }
        }
        model.forward_body(seqs, pooling, int8, scratch)
    })
}

/// The largest value (16 independent lanes, so it vectorises).
#[inline(always)]
fn max_of(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let chunks = x.len() / 16;
    for c in 0..chunks {
        let v = &x[c * 16..][..16];
        for l in 0..16 {
            acc[l] = if v[l] > acc[l] { v[l] } else { acc[l] };
        }
    }
    let mut max = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in &x[chunks * 16..] {
        max = max.max(v);
    }
    max
}

/// In-place layer norm of one row.
#[inline(always)]
fn layer_norm(row: &mut [f32], norm: &Norm, eps: f32) {
    let n = row.len() as f32;
    let mut acc = [0f32; 16];
    let mut acc2 = [0f32; 16];
    let chunks = row.len() / 16;
    for c in 0..chunks {
        let x = &row[c * 16..][..16];
        for l in 0..16 {
            acc[l] += x[l];
            acc2[l] += x[l] * x[l];
        }
    }
    let (mut sum, mut sum2): (f32, f32) = (acc.iter().sum(), acc2.iter().sum());
    for &x in &row[chunks * 16..] {
        sum += x;
        sum2 += x * x;
    }
    let mean = sum / n;
    let var = (sum2 / n - mean * mean).max(0.0);
    let inv = 1.0 / (var + eps).sqrt();
    for ((x, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
        *x = (*x - mean) * inv * w + b;
    }
}

/// `x = layer_norm(x + residual)`, row by row.
#[inline(always)]
fn add_norm(x: &mut [f32], residual: &[f32], norm: &Norm, eps: f32, h: usize) {
    for (row, res) in x.chunks_exact_mut(h).zip(residual.chunks_exact(h)) {
        for (a, b) in row.iter_mut().zip(res) {
            *a += b;
        }
        layer_norm(row, norm, eps);
    }
}

#[inline(always)]
fn activate(x: &mut [f32], act: HiddenAct) {
    match act {
        HiddenAct::Gelu => x
            .iter_mut()
            .for_each(|v| *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2))),
        HiddenAct::GeluApproximate => x.iter_mut().for_each(|v| {
            let y = 0.797_884_6 * (*v + 0.044_715 * *v * *v * *v);
            *v = 0.5 * *v * (1.0 + tanh(y));
        }),
        HiddenAct::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
}

/// `erf` as a rational function of x (Eigen's / XLA's float approximation: odd degree-13
/// numerator over even degree-8 denominator, clamped to ±4 where erf is ±1 in f32). Branch
/// free, so loops over it vectorise. Plain multiply-adds: `mul_add` is a libm call on CPUs
/// without FMA.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_2e-10 + 2.770_681_4e-8;
    p = x2 * p - 2.101_024e-6;
    p = x2 * p - 5.692_506_4e-5;
    p = x2 * p - 7.349_906_3e-4;
    p = x2 * p - 2.954_600_2e-3;
    p = x2 * p - 1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 - 2.133_740_6e-4;
    q = x2 * q - 1.682_827e-3;
    q = x2 * q - 7.373_329_4e-3;
    q = x2 * q - 1.426_473_9e-2;
    p / q
}

/// `e^x` for `x ≤ 0` (softmax's shifted scores), branch-free so that loops over it vectorise
/// (libm's `expf` is a call per element): Cephes' `expf` reduction and polynomial, relative
/// error < 2e-7 (tested against `f32::exp`); below -87 (where `e^x` leaves the normal floats)
/// it gives `e^-87` ≈ 1.6e-38, which a softmax row's sum of at least 1 cannot tell from 0.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    let x = x.clamp(-87.0, 0.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n from the bits of n + 1.5·2²³, whose low mantissa bits hold n (−126 ≤ n ≤ 0):
    // integer operations only, no float → int conversion.
    let magic = (n + 12_582_912.0).to_bits();
    let two_n = f32::from_bits((magic.wrapping_sub(0x4B40_0000).wrapping_add(127)) << 23);
    e * two_n
}

/// The sum of a row, in 16 partial sums (so it vectorises).
#[inline(always)]
fn sum_of(row: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let chunks = row.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..16 {
            lanes[l] += c[l];
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// `tanh` through `exp`, clamped where it saturates in f32.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let e = (2.0 * x.clamp(-10.0, 10.0)).exp();
    (e - 1.0) / (e + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_on_nonpositive_inputs() {
        let mut worst = 0f32;
        for i in 0..=870_000 {
            let x = -(i as f32) * 1e-4;
            let want = x.exp();
            let got = exp_nonpositive(x);
            if want > 1e-30 {
                worst = worst.max(((got - want) / want).abs());
            }
        }
        assert!(worst < 2e-7, "max relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(-1000.0) < 1e-37);
        assert!(exp_nonpositive(f32::NEG_INFINITY) < 1e-37);
        // The shifted scores of a softmax row are never above 0, but a NaN-free answer for a
        // positive input is still 1 (clamped), not garbage.
        assert_eq!(exp_nonpositive(3.0), 1.0);
    }

    #[test]
    fn rational_erf_matches_libm() {
        let mut worst = 0f32;
        for i in -8000..=8000 {
            let x = i as f32 / 1000.0;
            let want = libm_erf(x as f64) as f32;
            worst = worst.max((erf(x) - want).abs());
        }
        assert!(worst < 1e-6, "max |erf error| {worst}");
    }

    /// erf in f64 by its series / continued fraction (independent of the code under test).
    fn libm_erf(x: f64) -> f64 {
        // Abramowitz–Stegun 7.1.5 series converges everywhere; enough terms for |x| ≤ 8 in f64
        // would overflow, so use erfc's continued fraction beyond 3.
        if x.abs() < 3.0 {
            let mut sum = x;
            let mut term = x;
            let mut n = 0.0;
            loop {
                n += 1.0;
                term *= -x * x / n;
                let add = term / (2.0 * n + 1.0);
                sum += add;
                if add.abs() < 1e-17 {
                    break;
                }
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let ax = x.abs();
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (ax + f);
            }
            let erfc = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f);
            (1.0 - erfc).copysign(x)
        }
    }

    #[test]
    fn max_and_layer_norm_handle_ragged_lengths() {
        for n in [1usize, 15, 16, 17, 33, 384] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want = a
                .iter()
                .chain(&b)
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            let both = [a.clone(), b.clone()].concat();
            assert_eq!(max_of(&both), want);
            let norm = Norm {
                weight: vec![1.0; n],
                bias: vec![0.0; n],
            };
            let mut row = a.clone();
            layer_norm(&mut row, &norm, 1e-12);
            if n > 1 {
                let mean: f32 = row.iter().sum::<f32>() / n as f32;
                let var: f32 = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n as f32;
                assert!(
                    mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3,
                    "n {n}: {mean} {var}"
                );
            }
        }
    }
}
