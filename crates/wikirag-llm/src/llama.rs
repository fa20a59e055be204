//! Our own forward pass for llama-architecture GGUF models on the CPU.
//!
//! candle's `quantized_llama` spent its time outside the kernels: each prompt token's row went
//! through the whole weight matrix alone, and every generated token concatenated the whole KV
//! cache and copied it again for grouped-query attention (≈ 240 MB of copies per token at 1.3 k
//! tokens of context). Here:
//!
//! - weights are int8 blocks ([`Q8`]); the query, key and value projections are one matrix,
//!   and so are the gate and up projections (one product, one quantisation of the input);
//! - a prompt is one batch: each weight row meets four tokens at a time;
//! - the KV cache belongs to a [`Session`] (one request), is allocated once for the request's
//!   length and written in place; each query head reads its group's key/value head directly;
//! - the weights are shared (`&self`), so requests run concurrently, each with its session.
//!
//! It runs the files candle's `quantized_llama` runs, minus mixture-of-experts and rope
//! scaling (those stay on candle). Checked against candle's logits and greedy text
//! (`tests`, `tests/real_llm.rs`).

use crate::q8::{self, Kernel, Matrix, Q4, Q8};
use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use rayon::prelude::*;

/// One transformer block.
struct Layer {
    attn_norm: Vec<f32>,
    /// Query, key and value rows, stacked: `dim + 2 × kv_dim` rows.
    qkv: Matrix,
    wo: Matrix,
    ffn_norm: Vec<f32>,
    /// Gate and up rows, stacked: `2 × ffn` rows.
    gate_up: Matrix,
    down: Matrix,
}

/// A llama-architecture model's weights, shared by every request.
pub(crate) struct Llama {
    dim: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    ffn: usize,
    vocab: usize,
    eps: f32,
    rope_dim: usize,
    rope_base: f32,
    layers: Vec<Layer>,
    embd: Matrix,
    /// `None`: tied to the embeddings.
    output: Option<Matrix>,
    norm: Vec<f32>,
    kernel: Kernel,
}

/// One request's state: its KV cache (written in place) and how many positions it holds.
pub(crate) struct Session {
    capacity: usize,
    len: usize,
    /// `[layer][kv_head][position][head_dim]`.
    k: Vec<f32>,
    v: Vec<f32>,
}

impl Session {
    /// Positions filled so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Why this engine does not take a file (candle then runs it).
pub(crate) type Declined = String;

impl Llama {
    /// The model in `content`, or why this engine leaves it to candle.
    pub(crate) fn load<R: std::io::Read + std::io::Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
    ) -> Result<Result<Llama, Declined>, candle_core::Error> {
        let meta = |key: &str| content.metadata.get(key);
        let u32_of = |key: &str| meta(key).and_then(|v| v.to_u32().ok()).map(|v| v as usize);
        let arch = meta("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| "llama".into());
        if arch != "llama" {
            return Ok(Err(format!("architecture {arch}")));
        }
        if u32_of("llama.expert_count").unwrap_or(0) > 0 {
            return Ok(Err("mixture of experts".into()));
        }
        if content
            .metadata
            .keys()
            .any(|k| k.starts_with("llama.rope.scaling"))
        {
            return Ok(Err("rope scaling".into()));
        }
        let (Some(heads), Some(layers), Some(dim)) = (
            u32_of("llama.attention.head_count"),
            u32_of("llama.block_count"),
            u32_of("llama.embedding_length"),
        ) else {
            return Ok(Err("missing hyperparameters".into()));
        };
        let kv_heads = u32_of("llama.attention.head_count_kv").unwrap_or(heads);
        if heads == 0
            || kv_heads == 0
            || !dim.is_multiple_of(heads)
            || !heads.is_multiple_of(kv_heads)
        {
            return Ok(Err(format!(
                "{heads} heads, {kv_heads} kv heads, dim {dim}"
            )));
        }
        let head_dim = dim / heads;
        let rope_dim = u32_of("llama.rope.dimension_count").unwrap_or(head_dim);
        if rope_dim > head_dim || !rope_dim.is_multiple_of(2) {
            return Ok(Err(format!("rope dimension {rope_dim}")));
        }
        let eps = meta("llama.attention.layer_norm_rms_epsilon")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(1e-5);
        let rope_base = meta("llama.rope.freq_base")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);

        macro_rules! take {
            ($e:expr) => {
                match $e? {
                    Ok(m) => m,
                    Err(why) => return Ok(Err(why)),
                }
            };
        }
        let embd = take!(read_matrix(
            content,
            reader,
            &["token_embd.weight".into()],
            dim
        ));
        let vocab = embd.rows();
        let output = if content.tensor_infos.contains_key("output.weight") {
            Some(take!(read_matrix(
                content,
                reader,
                &["output.weight".into()],
                dim
            )))
        } else {
            None
        };
        let norm = take!(read_vector(
            content,
            reader,
            "output_norm.weight".into(),
            dim
        ));
        let mut blocks = Vec::with_capacity(layers);
        let mut ffn = 0;
        for i in 0..layers {
            let p = format!("blk.{i}");
            let qkv = take!(read_matrix(
                content,
                reader,
                &[
                    format!("{p}.attn_q.weight"),
                    format!("{p}.attn_k.weight"),
                    format!("{p}.attn_v.weight"),
                ],
                dim
            ));
            if qkv.rows() != dim + 2 * kv_heads * head_dim {
                return Ok(Err(format!("{p}: {} query/key/value rows", qkv.rows())));
            }
            let wo = take!(read_matrix(
                content,
                reader,
                &[format!("{p}.attn_output.weight")],
                dim
            ));
            let gate_up = take!(read_matrix(
                content,
                reader,
                &[format!("{p}.ffn_gate.weight"), format!("{p}.ffn_up.weight")],
                dim
            ));
            ffn = gate_up.rows() / 2;
            let down = take!(read_matrix(
                content,
                reader,
                &[format!("{p}.ffn_down.weight")],
                ffn
            ));
            if wo.rows() != dim || down.rows() != dim {
                return Ok(Err(format!(
                    "{p}: output rows {} / {}",
                    wo.rows(),
                    down.rows()
                )));
            }
            blocks.push(Layer {
                attn_norm: take!(read_vector(
                    content,
                    reader,
                    format!("{p}.attn_norm.weight"),
                    dim
                )),
                qkv,
                wo,
                ffn_norm: take!(read_vector(
                    content,
                    reader,
                    format!("{p}.ffn_norm.weight"),
                    dim
                )),
                gate_up,
                down,
            });
        }
        Ok(Ok(Llama {
            dim,
            heads,
            kv_heads,
            head_dim,
            ffn,
            vocab,
            eps,
            rope_dim,
            rope_base,
            layers: blocks,
            embd,
            output,
            norm,
            kernel: Kernel::detect(),
        }))
    }

    /// The kernel the products run with.
    pub(crate) fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Bytes of weights held.
    pub(crate) fn bytes(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| l.qkv.bytes() + l.wo.bytes() + l.gate_up.bytes() + l.down.bytes())
            .sum();
        layers + self.embd.bytes() + self.output.as_ref().map_or(0, Matrix::bytes)
    }

    /// A session for up to `capacity` positions (prompt and answer).
    pub(crate) fn session(&self, capacity: usize) -> Session {
        let n = self.layers.len() * self.kv_heads * capacity * self.head_dim;
        Session {
            capacity,
            len: 0,
            k: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// Runs `tokens` after what `session` holds; the logits of the last token.
    pub(crate) fn forward(&self, session: &mut Session, tokens: &[u32]) -> Result<Tensor, String> {
        let n = tokens.len();
        let pos0 = session.len;
        if n == 0 || pos0 + n > session.capacity {
            return Err(format!(
                "{n} tokens at position {pos0} do not fit a session of {}",
                session.capacity
            ));
        }
        let (dim, hd) = (self.dim, self.head_dim);
        let kv_dim = self.kv_heads * hd;
        let qkv_rows = dim + 2 * kv_dim;
        let mut x = vec![0f32; n * dim];
        for (row, &t) in x.chunks_exact_mut(dim).zip(tokens) {
            let t = t as usize;
            if t >= self.vocab {
                return Err(format!(
                    "token {t} outside the vocabulary of {}",
                    self.vocab
                ));
            }
            self.embd.dequantize_row(t, row);
        }
        let mut h = vec![0f32; n * dim];
        let mut hq = Q8::zeros(n, dim);
        let mut qkv = vec![0f32; n * qkv_rows];
        let mut att = vec![0f32; n * dim];
        let mut gu = vec![0f32; n * 2 * self.ffn];
        let mut act = vec![0f32; n * self.ffn];
        let mut aq = Q8::zeros(n, self.ffn);
        let mut o = vec![0f32; n * dim];
        let (cos, sin) = self.rope_tables(pos0, n);
        for (li, layer) in self.layers.iter().enumerate() {
            rms_norm(&x, &layer.attn_norm, self.eps, &mut h);
            hq.set_rows(&h);
            q8::matmul(&layer.qkv, &hq, &mut qkv, self.kernel);
            for (t, row) in qkv.chunks_exact_mut(qkv_rows).enumerate() {
                let (cos, sin) = (&cos[t * self.rope_dim / 2..], &sin[t * self.rope_dim / 2..]);
                for head in row[..dim + kv_dim].chunks_exact_mut(hd) {
                    rope(head, cos, sin, self.rope_dim);
                }
                // Keys and values go straight into the cache.
                for g in 0..self.kv_heads {
                    let at = self.cache_at(session, li, g, pos0 + t);
                    session.k[at..at + hd].copy_from_slice(&row[dim + g * hd..dim + (g + 1) * hd]);
                    session.v[at..at + hd]
                        .copy_from_slice(&row[dim + kv_dim + g * hd..dim + kv_dim + (g + 1) * hd]);
                }
            }
            self.attention(session, li, &qkv, pos0, n, &mut att);
            hq.set_rows(&att);
            q8::matmul(&layer.wo, &hq, &mut o, self.kernel);
            add(&mut x, &o);

            rms_norm(&x, &layer.ffn_norm, self.eps, &mut h);
            hq.set_rows(&h);
            q8::matmul(&layer.gate_up, &hq, &mut gu, self.kernel);
            for (a, gu) in act
                .chunks_exact_mut(self.ffn)
                .zip(gu.chunks_exact(2 * self.ffn))
            {
                let (g, u) = gu.split_at(self.ffn);
                for ((a, g), u) in a.iter_mut().zip(g).zip(u) {
                    *a = g / (1.0 + (-g).exp()) * u;
                }
            }
            aq.set_rows(&act);
            q8::matmul(&layer.down, &aq, &mut o, self.kernel);
            add(&mut x, &o);
        }
        session.len += n;
        let last = &x[(n - 1) * dim..];
        let mut normed = vec![0f32; dim];
        rms_norm(last, &self.norm, self.eps, &mut normed);
        let lq = Q8::quantize(&normed, 1, dim);
        let mut logits = vec![0f32; self.vocab];
        q8::matmul(
            self.output.as_ref().unwrap_or(&self.embd),
            &lq,
            &mut logits,
            self.kernel,
        );
        Tensor::from_vec(logits, self.vocab, &Device::Cpu).map_err(|e| e.to_string())
    }

    fn cache_at(&self, s: &Session, layer: usize, kv_head: usize, pos: usize) -> usize {
        ((layer * self.kv_heads + kv_head) * s.capacity + pos) * self.head_dim
    }

    /// cos and sin of every rotated pair for positions `pos0..pos0 + n`.
    fn rope_tables(&self, pos0: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
        let half = self.rope_dim / 2;
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for p in pos0..pos0 + n {
            for i in 0..half {
                let theta = 1.0 / self.rope_base.powf((2 * i) as f32 / self.rope_dim as f32);
                let (s, c) = (p as f32 * theta).sin_cos();
                cos.push(c);
                sin.push(s);
            }
        }
        (cos, sin)
    }

    /// Causal attention of the `n` new tokens' queries over the session's cache (which already
    /// holds their keys and values); one task per token and head.
    fn attention(
        &self,
        s: &Session,
        layer: usize,
        qkv: &[f32],
        pos0: usize,
        n: usize,
        out: &mut [f32],
    ) {
        let (dim, hd) = (self.dim, self.head_dim);
        let qkv_rows = dim + 2 * self.kv_heads * hd;
        let group = self.heads / self.kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        out[..n * dim]
            .par_chunks_mut(hd)
            .enumerate()
            .for_each(|(i, o)| {
                let (t, head) = (i / self.heads, i % self.heads);
                let q = &qkv[t * qkv_rows + head * hd..t * qkv_rows + (head + 1) * hd];
                let base = self.cache_at(s, layer, head / group, 0);
                let upto = pos0 + t + 1;
                let keys = &s.k[base..base + upto * hd];
                let values = &s.v[base..base + upto * hd];
                let mut scores: Vec<f32> = keys
                    .chunks_exact(hd)
                    .map(|k| q8::dot_f32(q, k) * scale)
                    .collect();
                let max = scores.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0.0;
                for v in &mut scores {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                o.fill(0.0);
                for (p, v) in scores.iter().zip(values.chunks_exact(hd)) {
                    let w = p / sum;
                    for (o, v) in o.iter_mut().zip(v) {
                        *o += w * v;
                    }
                }
            });
    }
}

/// A tensor's values in f32 and its dimensions.
type Values = (Vec<f32>, Vec<usize>);

/// A tensor's values in f32 and its dimensions, `None` when the file has no such tensor.
fn read_tensor<R: std::io::Read + std::io::Seek>(
    content: &gguf_file::Content,
    reader: &mut R,
    name: &str,
) -> Result<Option<Values>, candle_core::Error> {
    if !content.tensor_infos.contains_key(name) {
        return Ok(None);
    }
    let t = content
        .tensor(reader, name, &Device::Cpu)?
        .dequantize(&Device::Cpu)?;
    let dims = t.dims().to_vec();
    Ok(Some((t.flatten_all()?.to_vec1::<f32>()?, dims)))
}

/// A matrix `rows × cols` stacked from the named tensors, or why not: Q4_1 blocks kept as
/// they are when every part is Q4_1, int8 blocks otherwise.
fn read_matrix<R: std::io::Read + std::io::Seek>(
    content: &gguf_file::Content,
    reader: &mut R,
    names: &[String],
    cols: usize,
) -> Result<Result<Matrix, Declined>, candle_core::Error> {
    if !cols.is_multiple_of(q8::BLOCK) {
        return Ok(Err(format!("rows of {cols} values (not a multiple of 32)")));
    }
    for name in names {
        let Some(info) = content.tensor_infos.get(name) else {
            return Ok(Err(format!("no tensor {name}")));
        };
        let dims = info.shape.dims();
        if dims.len() != 2 || dims[1] != cols {
            return Ok(Err(format!("{name}: shape {dims:?}, expected [_, {cols}]")));
        }
    }
    let all_q4_1 = names
        .iter()
        .all(|n| content.tensor_infos[n].ggml_dtype == GgmlDType::Q4_1);
    if all_q4_1 {
        let mut stacked: Option<Q4> = None;
        for name in names {
            let t = content.tensor(reader, name, &Device::Cpu)?;
            let rows = t.shape().dims()[0];
            let Some(part) = Q4::from_q4_1(&t.data()?, rows, cols) else {
                return Ok(Err(format!("{name}: Q4_1 data of an unexpected length")));
            };
            match &mut stacked {
                Some(m) => m.append(part),
                None => stacked = Some(part),
            }
        }
        if let Some(m) = stacked {
            return Ok(Ok(Matrix::Q4(m)));
        }
    }
    let mut data = Vec::new();
    for name in names {
        if let Some((values, _)) = read_tensor(content, reader, name)? {
            data.extend(values);
        }
    }
    let rows = data.len() / cols;
    Ok(Ok(Matrix::Q8(Q8::quantize(&data, rows, cols))))
}

/// A vector of `n` values, or why not.
fn read_vector<R: std::io::Read + std::io::Seek>(
    content: &gguf_file::Content,
    reader: &mut R,
    name: String,
    n: usize,
) -> Result<Result<Vec<f32>, Declined>, candle_core::Error> {
    Ok(match read_tensor(content, reader, &name)? {
        Some((v, _)) if v.len() == n => Ok(v),
        Some((v, _)) => Err(format!("{name}: {} values, expected {n}", v.len())),
        None => Err(format!("no tensor {name}")),
    })
}

fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let dim = w.len();
    for (x, o) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let ms = q8::dot_f32(x, x) / dim as f32;
        let r = 1.0 / (ms + eps).sqrt();
        for ((o, x), w) in o.iter_mut().zip(x).zip(w) {
            *o = x * r * w;
        }
    }
}

/// Rotates the pairs `(2i, 2i + 1)` of the first `rope_dim` values (GGUF llama files store
/// the query and key rows in the order that makes this llama's rotation).
fn rope(head: &mut [f32], cos: &[f32], sin: &[f32], rope_dim: usize) {
    for i in 0..rope_dim / 2 {
        let (a, b) = (head[2 * i], head[2 * i + 1]);
        head[2 * i] = a * cos[i] - b * sin[i];
        head[2 * i + 1] = a * sin[i] + b * cos[i];
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_transformers::models::quantized_llama;

    /// The tiny random llama file, its matrices re-stored as `dtype`, without `output.weight`
    /// when `tied` (the output is then the embedding); and the same values in f32, for candle
    /// (whose Q4_1 kernel wants rows of 64 values or more).
    fn tiny(dir: &std::path::Path, dtype: GgmlDType, tied: bool) -> [std::path::PathBuf; 2] {
        use candle_core::quantized::QTensor;
        let words = [
            "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
        ];
        let path = crate::write_tiny_gguf(dir, &words, 256).expect("tiny model");
        let mut file = std::fs::File::open(&path).expect("open");
        let content = gguf_file::Content::read(&mut file).expect("gguf");
        let mut stored = Vec::new();
        let mut reference = Vec::new();
        for name in content.tensor_infos.keys() {
            if tied && name == "output.weight" {
                continue;
            }
            let t = content
                .tensor(&mut file, name, &Device::Cpu)
                .expect("tensor");
            let t = if t.shape().dims().len() == 2 {
                QTensor::quantize(&t.dequantize(&Device::Cpu).expect("f32"), dtype)
                    .expect("quantize")
            } else {
                t
            };
            let f32 = QTensor::quantize(&t.dequantize(&Device::Cpu).expect("f32"), GgmlDType::F32)
                .expect("f32");
            stored.push((name.clone(), t));
            reference.push((name.clone(), f32));
        }
        let metadata: Vec<(&str, &gguf_file::Value)> = content
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        let write = |tensors: &[(String, QTensor)], what: &str| {
            let out = dir.join(format!("tiny-{dtype:?}-{tied}-{what}.gguf"));
            let refs: Vec<(&str, &QTensor)> =
                tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let mut w = std::fs::File::create(&out).expect("create");
            gguf_file::write(&mut w, &metadata, &refs).expect("write");
            out
        };
        [write(&stored, "stored"), write(&reference, "f32")]
    }

    /// Our forward pass gives candle's logits (to int8 quantisation error) on the tiny random
    /// llama file, for a prompt and then token by token from the KV cache: with f32 weights
    /// (our int8 blocks), with Q4_1 weights (kept as Q4_1 blocks), and with tied output on the
    /// scalar kernels.
    #[test]
    fn logits_match_candles_for_a_prompt_and_each_next_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (dtype, tied) in [
            (GgmlDType::F32, false),
            (GgmlDType::Q4_1, false),
            (GgmlDType::Q4_1, true),
        ] {
            let [stored, reference] = tiny(dir.path(), dtype, tied);
            let mut file = std::fs::File::open(&stored).expect("open");
            let content = gguf_file::Content::read(&mut file).expect("gguf");
            let mut ours = Llama::load(&content, &mut file)
                .expect("read")
                .expect("our engine takes the tiny llama");
            // The scalar kernels (what CPUs without AVX2 run) for the tied case.
            if tied {
                ours.kernel = Kernel::Scalar;
            }
            let mut file = std::fs::File::open(&reference).expect("open");
            let content = gguf_file::Content::read(&mut file).expect("gguf");
            assert_eq!(
                matches!(ours.layers[0].qkv, Matrix::Q4(_)),
                dtype == GgmlDType::Q4_1
            );
            assert_eq!(ours.output.is_none(), tied);
            let mut theirs =
                quantized_llama::ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
                    .expect("candle");
            let mut session = ours.session(16);
            let steps: [&[u32]; 4] = [&[1, 5, 7, 3, 9, 4], &[6], &[2], &[8]];
            let mut pos = 0;
            for tokens in steps {
                let got = ours
                    .forward(&mut session, tokens)
                    .expect("ours")
                    .to_vec1::<f32>()
                    .expect("vec");
                let x = Tensor::new(tokens, &Device::Cpu)
                    .and_then(|t| t.unsqueeze(0))
                    .expect("input");
                let want = theirs
                    .forward(&x, pos)
                    .and_then(|l| l.squeeze(0))
                    .and_then(|l| l.to_vec1::<f32>())
                    .expect("candle");
                pos += tokens.len();
                let range = want.iter().fold(0f32, |m, v| m.max(v.abs()));
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst < 0.03 * range,
                    "{dtype:?} tied={tied} step at {pos}: worst {worst} of {range}"
                );
                let argmax = |v: &[f32]| {
                    v.iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map(|(i, _)| i)
                };
                assert_eq!(argmax(&got), argmax(&want), "{dtype:?} step at {pos}");
            }
            assert_eq!(session.len(), 9);
            // Past the session's capacity, or outside the vocabulary: an error, not a panic.
            let mut short = ours.session(2);
            assert!(ours.forward(&mut short, &[1, 2, 3]).is_err());
            assert!(ours.forward(&mut ours.session(4), &[999]).is_err());
        }
    }
}
