//! Sentence embeddings: any BERT-family sentence-embedding model from a local Hugging Face
//! directory (`config.json`, `tokenizer.json`, `model.safetensors`, and the sentence-transformers
//! files that say how to pool), read with candle. On the CPU the forward pass is this crate's own
//! (`cpu.rs`: packed tokens, gemm with AVX-512, fused element-wise steps; 2.2× candle's BERT
//! here); on a GPU, and on request, it is candle-transformers' BERT.
//!
//! This is the only crate that carries hardware features (`cuda`, `mkl`). It implements the
//! core [`Embedder`] trait; nothing above it sees candle.

mod cpu;
mod error;
#[cfg(feature = "hub")]
mod hub;
mod int8;
mod tiny;

pub use error::{ModelError, Result};
#[cfg(feature = "hub")]
pub use hub::{HubOptions, fetch_from_hub};
/// The int8 kernel of the query pass on this CPU (`WIKIRAG_INT8_KERNEL=avx2` forces AVX2).
pub use int8::kernel_name as int8_kernel;
/// Whether this CPU can run the int8 query pass ([`Precision::Int8`]).
pub use int8::supported as int8_supported;
pub use tiny::{write_tiny_bert, write_tiny_bert_seeded};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationParams};
use wikirag_core::{BoxError, Embedder, ModelInfo, Pooling, TextRole};

/// How to load a model.
#[derive(Clone, Debug, Default)]
pub struct EmbedderOptions {
    /// Prefix for queries ("query: " for e5); `None`: the model's own (sentence-transformers
    /// `prompts`), or none.
    pub query_prefix: Option<String>,
    /// Prefix for passages ("passage: " for e5).
    pub passage_prefix: Option<String>,
    /// Texts per forward pass (0: 8, the fastest measured on CPU: activations stay in cache).
    pub batch_size: usize,
    /// Threads running forward passes in parallel (0: all cores; 1 on a GPU).
    pub workers: usize,
    /// Run on the first CUDA device (needs the `cuda` feature).
    pub cuda: bool,
    /// On the CPU, run candle's BERT instead of the built-in forward pass (the reference the
    /// built-in one is tested against; slower, see `benches/RESULTS.md`).
    pub candle_cpu: bool,
    /// The arithmetic of query embeddings on the CPU.
    pub query_precision: Precision,
    /// The arithmetic of passage embeddings on the CPU (a build's bulk pass).
    pub passage_precision: Precision,
}

/// The arithmetic of a pass on the CPU (queries and passages each have theirs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// The layers' matrix products in int8 (AVX-512 VNNI, or AVX2 with 7-bit inputs) where
    /// the CPU has it, else f32: 2.6× faster for a query, ≈ 2.5× for passages, cosine ≥ 0.999
    /// with the f32 vector (`int8.rs`, `benches/RESULTS.md`).
    #[default]
    Int8,
    /// f32 throughout.
    F32,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Int8 => "int8",
            Precision::F32 => "f32",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "int8" => Ok(Precision::Int8),
            "f32" => Ok(Precision::F32),
            other => Err(format!("unknown precision {other:?} (int8 or f32)")),
        }
    }
}

/// Which forward pass runs the model.
enum Engine {
    /// candle's BERT: the GPU path and the reference.
    Candle(BertModel),
    /// The built-in CPU pass (`cpu.rs`).
    Cpu(cpu::CpuBert),
}

/// A BERT-family sentence embedder on candle.
pub struct BertEmbedder {
    engine: Engine,
    tokenizer: Tokenizer,
    device: Device,
    info: ModelInfo,
    batch_size: usize,
    workers: usize,
    dir: PathBuf,
    /// Queries run the int8 pass (asked for, CPU engine, CPU able).
    query_int8: bool,
    /// Passages run the int8 pass (the same conditions).
    passage_int8: bool,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize, Default)]
struct SentenceTransformersConfig {
    #[serde(default)]
    prompts: std::collections::BTreeMap<String, String>,
}

impl BertEmbedder {
    /// Loads the model in `dir`. Works offline: nothing is downloaded.
    pub fn load(dir: &Path, options: &EmbedderOptions) -> Result<BertEmbedder> {
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| ModelError::Io { path, source })
        };
        if !dir.is_dir() {
            return Err(ModelError::NotAModel {
                path: dir.to_path_buf(),
                reason: "not a directory".into(),
            });
        }
        let config_bytes = read("config.json")?;
        let raw: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|e| ModelError::BadFile {
                path: dir.join("config.json"),
                message: e.to_string(),
            })?;
        let model_type = raw
            .get("model_type")
            .and_then(|v| v.as_str())
            .unwrap_or("bert");
        let Some(family) = cpu::Family::of_supported(model_type) else {
            return Err(ModelError::Unsupported {
                path: dir.to_path_buf(),
                what: format!(
                    "model_type {model_type:?} (BERT, RoBERTa and XLM-RoBERTa encoders only)"
                ),
            });
        };
        if family == cpu::Family::Roberta && (options.cuda || options.candle_cpu) {
            return Err(ModelError::Unsupported {
                path: dir.to_path_buf(),
                what: format!(
                    "model_type {model_type:?} on candle's pass (GPU or --candle): XLM-RoBERTa runs on the built-in CPU pass only"
                ),
            });
        }
        let config: Config = serde_json::from_value(raw).map_err(|e| ModelError::BadFile {
            path: dir.join("config.json"),
            message: e.to_string(),
        })?;

        let pooling = match std::fs::read(dir.join("1_Pooling/config.json")) {
            Ok(bytes) => {
                let p: PoolingConfig =
                    serde_json::from_slice(&bytes).map_err(|e| ModelError::BadFile {
                        path: dir.join("1_Pooling/config.json"),
                        message: e.to_string(),
                    })?;
                if p.pooling_mode_max_tokens {
                    return Err(ModelError::Unsupported {
                        path: dir.to_path_buf(),
                        what: "max pooling".into(),
                    });
                }
                if p.pooling_mode_cls_token {
                    Pooling::Cls
                } else if p.pooling_mode_mean_tokens {
                    Pooling::Mean
                } else {
                    return Err(ModelError::Unsupported {
                        path: dir.to_path_buf(),
                        what: "no pooling mode set in 1_Pooling/config.json".into(),
                    });
                }
            }
            Err(_) => {
                tracing::warn!(dir = %dir.display(), "no 1_Pooling/config.json: mean pooling");
                Pooling::Mean
            }
        };
        let st_max = std::fs::read(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<SentenceBertConfig>(&b).ok())
            .and_then(|c| c.max_seq_length);
        // (XLM-)RoBERTa's position ids start after the padding index.
        let positions = match family {
            cpu::Family::Bert => config.max_position_embeddings,
            cpu::Family::Roberta => config
                .max_position_embeddings
                .saturating_sub(config.pad_token_id + 1),
        };
        let max_tokens = st_max.unwrap_or(positions).min(positions);
        let prompts = std::fs::read(dir.join("config_sentence_transformers.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<SentenceTransformersConfig>(&b).ok())
            .unwrap_or_default()
            .prompts;
        let query_prefix = options
            .query_prefix
            .clone()
            .or_else(|| prompts.get("query").cloned())
            .unwrap_or_default();
        let passage_prefix = options
            .passage_prefix
            .clone()
            .or_else(|| {
                prompts
                    .get("passage")
                    .or_else(|| prompts.get("document"))
                    .cloned()
            })
            .unwrap_or_default();

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| ModelError::BadFile {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| ModelError::BadFile {
                path: tokenizer_path,
                message: e.to_string(),
            })?;

        let weights_path = dir.join("model.safetensors");
        if !weights_path.exists() {
            return Err(ModelError::NotAModel {
                path: dir.to_path_buf(),
                reason: "no model.safetensors (convert pytorch_model.bin to safetensors)".into(),
            });
        }
        let weights = read("model.safetensors")?;
        let weights_sha256 = hex(&Sha256::digest(&weights));
        let device = if options.cuda {
            Device::new_cuda(0).map_err(|e| ModelError::Candle {
                path: dir.to_path_buf(),
                source: e,
            })?
        } else {
            Device::Cpu
        };
        let candle = |e| ModelError::Candle {
            path: weights_path.clone(),
            source: e,
        };
        let vb =
            VarBuilder::from_buffered_safetensors(weights, DType::F32, &device).map_err(candle)?;
        let engine = if options.cuda || options.candle_cpu {
            Engine::Candle(BertModel::load(vb, &config).map_err(candle)?)
        } else {
            let int8 = options.query_precision == Precision::Int8
                || options.passage_precision == Precision::Int8;
            Engine::Cpu(cpu::CpuBert::load(&vb, &config, int8).map_err(candle)?)
        };
        let has_int8 = matches!(&engine, Engine::Cpu(m) if m.has_int8());
        let query_int8 = has_int8 && options.query_precision == Precision::Int8;
        let passage_int8 = has_int8 && options.passage_precision == Precision::Int8;
        let name = model_name(dir);
        let info = ModelInfo {
            name,
            dim: config.hidden_size,
            pooling,
            normalized: true,
            max_tokens,
            weights_sha256,
            query_prefix,
            passage_prefix,
        };
        tracing::info!(model = %info.name, dim = info.dim, pooling = info.pooling.name(), max_tokens, "embedding model loaded");
        Ok(BertEmbedder {
            engine,
            tokenizer,
            device,
            info,
            batch_size: match (options.batch_size, options.cuda) {
                (0, false) => 8,
                (0, true) => 128,
                (n, _) => n,
            },
            workers: match (options.workers, options.cuda) {
                (_, true) => 1,
                (0, false) => std::thread::available_parallelism().map_or(1, |n| n.get()),
                (n, false) => n,
            },
            dir: dir.to_path_buf(),
            query_int8,
            passage_int8,
        })
    }

    /// The arithmetic queries actually run with: int8 only where it was asked for and the CPU
    /// pass can run it (f32 on a GPU, with `candle_cpu`, or without AVX-512 VNNI or AVX2).
    pub fn query_precision(&self) -> Precision {
        if self.query_int8 {
            Precision::Int8
        } else {
            Precision::F32
        }
    }

    /// The arithmetic passages actually run with (the same conditions as queries).
    pub fn passage_precision(&self) -> Precision {
        if self.passage_int8 {
            Precision::Int8
        } else {
            Precision::F32
        }
    }

    /// Embeds texts: tokenised together, run in batches of similar length (sorted, so little
    /// padding), pooled and L2-normalised; returned in the order given.
    pub fn embed_texts(&self, texts: &[&str], role: TextRole) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = match role {
            TextRole::Query => &self.info.query_prefix,
            TextRole::Passage => &self.info.passage_prefix,
        };
        let inputs: Vec<String> = texts.iter().map(|t| format!("{prefix}{t}")).collect();
        let encodings = self
            .tokenizer
            .encode_batch_fast(inputs, true)
            .map_err(|e| ModelError::Tokenize {
                path: self.dir.clone(),
                message: e.to_string(),
            })?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let batches: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        let int8 = match role {
            TextRole::Query => self.query_int8,
            TextRole::Passage => self.passage_int8,
        };
        let run = |batch: &[usize]| -> Result<Indexed> {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| encodings[i].get_ids()).collect();
            Ok(batch
                .iter()
                .copied()
                .zip(self.forward(&ids, int8)?)
                .collect())
        };
        let workers = self.workers.min(batches.len()).max(1);
        let results: Vec<Result<Indexed>> = if workers == 1 {
            batches.iter().map(|b| run(b)).collect()
        } else {
            // Data parallelism: whole batches go to worker threads, each running its products
            // single-threaded (small products scale poorly across threads; 2 workers are 1.85×
            // one on 2 cores, benches/RESULTS.md).
            let next = std::sync::atomic::AtomicUsize::new(0);
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|_| {
                        scope.spawn(|| {
                            let mut mine = Vec::new();
                            loop {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(batch) = batches.get(i) else { break };
                                mine.push(run(batch));
                            }
                            mine
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("embedding worker panicked"))
                    .collect()
            })
        };
        let mut out = vec![Vec::new(); texts.len()];
        for result in results {
            for (i, v) in result? {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Pooled, L2-normalised vectors of one batch (`int8`: the CPU pass's int8 products).
    fn forward(&self, ids: &[&[u32]], int8: bool) -> Result<Vec<Vec<f32>>> {
        let mut vectors = match &self.engine {
            Engine::Candle(model) => self.candle_pooled(model, ids)?,
            Engine::Cpu(model) => {
                model
                    .forward(ids, self.info.pooling, int8)
                    .map_err(|message| ModelError::Run {
                        path: self.dir.clone(),
                        message,
                    })?
            }
        };
        for v in &mut vectors {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(vectors)
    }

    /// Pooled (not normalised) vectors from candle's BERT: padded batch and attention mask.
    fn candle_pooled(&self, model: &BertModel, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let candle = |e| ModelError::Candle {
            path: self.dir.clone(),
            source: e,
        };
        let n = ids.len();
        let len = ids.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut flat = vec![0u32; n * len];
        let mut mask = vec![0u32; n * len];
        for (row, s) in ids.iter().enumerate() {
            flat[row * len..row * len + s.len()].copy_from_slice(s);
            mask[row * len..row * len + s.len()].fill(1);
        }
        let input = Tensor::from_vec(flat, (n, len), &self.device).map_err(candle)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device).map_err(candle)?;
        let types = input.zeros_like().map_err(candle)?;
        let hidden = model.forward(&input, &types, Some(&mask)).map_err(candle)?;
        let pooled = match self.info.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1).and_then(|t| t.squeeze(1)),
            Pooling::Mean => (|| {
                let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&m)?.sum(1)?;
                let counts = m.sum(1)?;
                summed.broadcast_div(&counts)
            })(),
        }
        .map_err(candle)?;
        pooled.to_vec2::<f32>().map_err(candle)
    }
}

impl Embedder for BertEmbedder {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn embed(
        &self,
        texts: &[&str],
        role: TextRole,
    ) -> std::result::Result<Vec<Vec<f32>>, BoxError> {
        Ok(self.embed_texts(texts, role)?)
    }

    fn passage_precision(&self) -> &'static str {
        BertEmbedder::passage_precision(self).name()
    }
}

/// Vectors with the index of the text they belong to.
type Indexed = Vec<(usize, Vec<f32>)>;

/// The model's name: its directory's, or "owner/name" for a snapshot in the Hugging Face cache
/// (`…/models--owner--name/snapshots/COMMIT`).
fn model_name(dir: &Path) -> String {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let parent = dir.parent();
    if parent
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "snapshots")
        && let Some(repo) = parent
            .and_then(|p| p.parent())
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("models--"))
    {
        return repo.replace("--", "/");
    }
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
