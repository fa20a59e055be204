//! Local generation with candle: quantized GGUF models of the llama and qwen2 families, their
//! `tokenizer.json`, greedy (temperature 0) or seeded sampling, streamed token by token.

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::LogitsProcessor;
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokenizers::Tokenizer;
use wikirag_core::{ChatMessage, Completion, Llm, LlmError, LlmRequest};

/// Errors loading a local model; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Bad { path: PathBuf, message: String },
}

/// How to load a local model.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    pub model_path: PathBuf,
    /// Default: `tokenizer.json` beside the model.
    pub tokenizer_path: Option<PathBuf>,
    /// Default: the GGUF's `context_length` (at most 4096 for llama in candle).
    pub context_window: Option<usize>,
    pub seed: u64,
    pub cuda: bool,
}

impl LocalConfig {
    pub fn new(model_path: impl Into<PathBuf>) -> LocalConfig {
        LocalConfig {
            model_path: model_path.into(),
            tokenizer_path: None,
            context_window: None,
            seed: 299_792_458,
            cuda: false,
        }
    }
}

enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
}

impl Weights {
    fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::Llama(m) => m.forward(x, pos),
            Weights::Qwen2(m) => m.forward(x, pos),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Template {
    ChatMl,
    Llama3,
    Plain,
}

/// A loaded local model. Generation is serialised (one at a time).
pub struct LocalGguf {
    path: PathBuf,
    config: LocalConfig,
    tokenizer: Tokenizer,
    device: Device,
    window: usize,
    eos: Vec<u32>,
    template: Template,
    /// `general.architecture` of the GGUF ("llama" or "qwen2"), read once at load.
    arch: String,
    name: String,
    /// Reloaded per request: candle's quantized models keep a KV cache that must start empty.
    gguf: Mutex<()>,
}

impl LocalGguf {
    pub fn load(config: &LocalConfig) -> Result<LocalGguf, LocalError> {
        let path = config.model_path.clone();
        if !path.is_file() {
            return Err(LocalError::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such GGUF file"),
            });
        }
        let tokenizer_path = config.tokenizer_path.clone().unwrap_or_else(|| {
            path.parent()
                .unwrap_or(Path::new("."))
                .join("tokenizer.json")
        });
        let tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| LocalError::Bad {
            path: tokenizer_path.clone(),
            message: format!("tokenizer: {e}"),
        })?;
        let device = if config.cuda {
            Device::new_cuda(0).map_err(|e| LocalError::Bad {
                path: path.clone(),
                message: e.to_string(),
            })?
        } else {
            Device::Cpu
        };
        // Read the header once to check the architecture and context length.
        let (arch, context_length) = {
            let mut file = std::fs::File::open(&path).map_err(|source| LocalError::Io {
                path: path.clone(),
                source,
            })?;
            let content = gguf_file::Content::read(&mut file).map_err(|e| LocalError::Bad {
                path: path.clone(),
                message: format!("not a GGUF file: {e}"),
            })?;
            let arch = content
                .metadata
                .get("general.architecture")
                .and_then(|v| v.to_string().ok())
                .cloned()
                .unwrap_or_else(|| "llama".into());
            let ctx = content
                .metadata
                .get(&format!("{arch}.context_length"))
                .and_then(|v| v.to_u32().ok())
                .map(|v| v as usize);
            (arch, ctx)
        };
        if !matches!(arch.as_str(), "llama" | "qwen2") {
            return Err(LocalError::Bad {
                path,
                message: format!("architecture {arch:?} is not supported (llama, qwen2)"),
            });
        }
        let mut window = config.context_window.or(context_length).unwrap_or(2048);
        if arch == "llama" {
            window = window.min(quantized_llama::MAX_SEQ_LEN);
        }
        let vocab = tokenizer.get_vocab(true);
        let template = if vocab.contains_key("<|im_start|>") {
            Template::ChatMl
        } else if vocab.contains_key("<|start_header_id|>") {
            Template::Llama3
        } else {
            Template::Plain
        };
        let eos: Vec<u32> = ["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>", "<eos>"]
            .iter()
            .filter_map(|t| vocab.get(*t).copied())
            .collect();
        let name = format!(
            "local:{}",
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let model = LocalGguf {
            path,
            config: config.clone(),
            tokenizer,
            device,
            window,
            eos,
            template,
            arch,
            name,
            gguf: Mutex::new(()),
        };
        // Load the weights once now so a broken file fails at start, not at the first question.
        model.weights()?;
        Ok(model)
    }

    fn weights(&self) -> Result<Weights, LocalError> {
        let bad = |e: candle_core::Error| LocalError::Bad {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let mut file = std::fs::File::open(&self.path).map_err(|source| LocalError::Io {
            path: self.path.clone(),
            source,
        })?;
        let content = gguf_file::Content::read(&mut file).map_err(bad)?;
        Ok(if self.arch == "qwen2" {
            Weights::Qwen2(
                quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &self.device)
                    .map_err(bad)?,
            )
        } else {
            Weights::Llama(
                quantized_llama::ModelWeights::from_gguf(content, &mut file, &self.device)
                    .map_err(bad)?,
            )
        })
    }

    fn render(&self, messages: &[ChatMessage]) -> String {
        let mut s = String::new();
        match self.template {
            Template::ChatMl => {
                for m in messages {
                    s.push_str(&format!(
                        "<|im_start|>{}\n{}<|im_end|>\n",
                        m.role, m.content
                    ));
                }
                s.push_str("<|im_start|>assistant\n");
            }
            Template::Llama3 => {
                s.push_str("<|begin_of_text|>");
                for m in messages {
                    s.push_str(&format!(
                        "<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>",
                        m.role, m.content
                    ));
                }
                s.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
            Template::Plain => {
                for m in messages {
                    s.push_str(&format!("{}: {}\n", m.role, m.content));
                }
                s.push_str("assistant: ");
            }
        }
        s
    }

    fn tokens(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| LlmError::Other(format!("tokenizer: {e}")))
    }
}

impl Llm for LocalGguf {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn context_window(&self) -> usize {
        self.window
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.tokenizer.encode(text, false).ok().map(|e| e.len())
    }

    fn complete(
        &self,
        request: &LlmRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion, LlmError> {
        let prompt = self.tokens(&self.render(&request.messages))?;
        if prompt.len() + request.max_tokens > self.window {
            return Err(LlmError::ContextLength(format!(
                "{} prompt tokens + {} answer tokens > context {}",
                prompt.len(),
                request.max_tokens,
                self.window
            )));
        }
        let _one_at_a_time = self.gguf.lock().unwrap_or_else(|p| p.into_inner());
        let candle =
            |e: candle_core::Error| LlmError::Other(format!("{}: {e}", self.path.display()));
        let mut weights = self.weights().map_err(|e| LlmError::Other(e.to_string()))?;
        let temperature = (request.temperature > 0.0).then_some(f64::from(request.temperature));
        let mut sampler = LogitsProcessor::new(self.config.seed, temperature, None);
        let mut generated: Vec<u32> = Vec::new();
        let mut shown = 0usize;
        let mut text = String::new();
        let mut finish = "length";
        let mut input = prompt.clone();
        let mut pos = 0;
        for _ in 0..request.max_tokens {
            let x = Tensor::new(input.as_slice(), &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(candle)?;
            let logits = weights
                .forward(&x, pos)
                .and_then(|l| l.squeeze(0))
                .map_err(candle)?;
            pos += input.len();
            let next = sampler.sample(&logits).map_err(candle)?;
            if self.eos.contains(&next) {
                finish = "stop";
                break;
            }
            generated.push(next);
            // Decode the whole answer and emit what is new (tokens may split characters).
            let decoded = self
                .tokenizer
                .decode(&generated, true)
                .map_err(|e| LlmError::Other(format!("tokenizer: {e}")))?;
            if decoded.len() > shown && decoded.is_char_boundary(shown) {
                on_token(&decoded[shown..]);
                shown = decoded.len();
            }
            text = decoded;
            input = vec![next];
        }
        Ok(Completion {
            text,
            prompt_tokens: Some(prompt.len()),
            completion_tokens: Some(generated.len()),
            finish_reason: Some(finish.to_string()),
        })
    }
}

/// Writes a tiny random llama-architecture GGUF model and its `tokenizer.json` (a word-level
/// vocabulary of `words` plus ChatML markers) into `dir`, for tests. Returns the model path.
pub fn write_tiny_gguf(
    dir: &Path,
    words: &[&str],
    context_length: u32,
) -> Result<PathBuf, LocalError> {
    use candle_core::quantized::{GgmlDType, QTensor, gguf_file::Value};
    use candle_core::{DType, Tensor};
    let bad = |e: candle_core::Error| LocalError::Bad {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|source| LocalError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut vocab: Vec<String> = ["[UNK]", "<|im_start|>", "<|im_end|>"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for w in words {
        if !vocab.iter().any(|v| v == w) {
            vocab.push(w.to_string());
        }
    }
    let vocab_json: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, w)| (w.clone(), serde_json::Value::from(i)))
        .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [
            {"id": 1, "content": "<|im_start|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 2, "content": "<|im_end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
        ],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab_json, "unk_token": "[UNK]"}
    });
    let tok_path = dir.join("tokenizer.json");
    std::fs::write(&tok_path, serde_json::to_vec(&tokenizer).expect("json")).map_err(|source| {
        LocalError::Io {
            path: tok_path.clone(),
            source,
        }
    })?;

    let (hidden, heads, kv_heads, layers, ffn) = (32usize, 4usize, 2usize, 2usize, 64usize);
    let head_dim = hidden / heads;
    let v = vocab.len();
    let dev = Device::Cpu;
    let mut seed = 0x5eed_u64;
    let mut rand = |shape: (usize, usize), scale: f32| -> Result<QTensor, LocalError> {
        // A fixed pseudo-random sequence: the same model every time.
        let n = shape.0 * shape.1;
        let data: Vec<f32> = (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed % 2001) as f32 / 1000.0 - 1.0) * scale
            })
            .collect();
        let t = Tensor::from_vec(data, shape, &dev).map_err(bad)?;
        QTensor::quantize(&t, GgmlDType::F32).map_err(bad)
    };
    let ones = |n: usize| -> Result<QTensor, LocalError> {
        let t = Tensor::ones(n, DType::F32, &dev).map_err(bad)?;
        QTensor::quantize(&t, GgmlDType::F32).map_err(bad)
    };
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), rand((v, hidden), 0.5)?),
        ("output_norm.weight".into(), ones(hidden)?),
        ("output.weight".into(), rand((v, hidden), 0.5)?),
    ];
    for i in 0..layers {
        let p = format!("blk.{i}");
        tensors.push((format!("{p}.attn_q.weight"), rand((hidden, hidden), 0.2)?));
        tensors.push((
            format!("{p}.attn_k.weight"),
            rand((kv_heads * head_dim, hidden), 0.2)?,
        ));
        tensors.push((
            format!("{p}.attn_v.weight"),
            rand((kv_heads * head_dim, hidden), 0.2)?,
        ));
        tensors.push((
            format!("{p}.attn_output.weight"),
            rand((hidden, hidden), 0.2)?,
        ));
        tensors.push((format!("{p}.ffn_gate.weight"), rand((ffn, hidden), 0.2)?));
        tensors.push((format!("{p}.ffn_up.weight"), rand((ffn, hidden), 0.2)?));
        tensors.push((format!("{p}.ffn_down.weight"), rand((hidden, ffn), 0.2)?));
        tensors.push((format!("{p}.attn_norm.weight"), ones(hidden)?));
        tensors.push((format!("{p}.ffn_norm.weight"), ones(hidden)?));
    }
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("llama".into())),
        ("general.name", Value::String("wikirag-tiny-test".into())),
        ("llama.context_length", Value::U32(context_length)),
        ("llama.attention.head_count", Value::U32(heads as u32)),
        ("llama.attention.head_count_kv", Value::U32(kv_heads as u32)),
        ("llama.block_count", Value::U32(layers as u32)),
        ("llama.embedding_length", Value::U32(hidden as u32)),
        ("llama.rope.dimension_count", Value::U32(head_dim as u32)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
    ];
    let path = dir.join("tiny.gguf");
    let mut file = std::fs::File::create(&path).map_err(|source| LocalError::Io {
        path: path.clone(),
        source,
    })?;
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut file, &md, &ts).map_err(bad)?;
    Ok(path)
}
