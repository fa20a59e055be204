//! Local generation with candle: quantized GGUF models of the llama, qwen2, phi3 and gemma3
//! families; the tokenizer and chat template from the GGUF's metadata (or a `tokenizer.json`
//! beside it); greedy (temperature 0) or seeded sampling, streamed token by token.

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use candle_transformers::generation::LogitsProcessor;
use candle_transformers::models::{
    quantized_gemma3, quantized_llama, quantized_phi3, quantized_qwen2,
};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokenizers::Tokenizer;
use wikirag_core::{ChatMessage, Completion, Llm, LlmError, LlmRequest};

use crate::gguf_meta::{self, ChatTemplate};

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
    /// Which code runs the model.
    pub engine: LocalEngine,
}

/// Which code runs a local model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LocalEngine {
    /// Our own forward pass for llama-architecture files on the CPU (shared weights, requests
    /// run concurrently), candle for the rest.
    #[default]
    Auto,
    /// candle for every file (one request at a time).
    Candle,
}

impl LocalConfig {
    pub fn new(model_path: impl Into<PathBuf>) -> LocalConfig {
        LocalConfig {
            model_path: model_path.into(),
            tokenizer_path: None,
            context_window: None,
            seed: 299_792_458,
            cuda: false,
            engine: LocalEngine::Auto,
        }
    }
}

enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Phi3(quantized_phi3::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
}

impl Weights {
    /// Every model resets its KV cache when a sequence starts at position 0, so one set of
    /// weights serves request after request.
    fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::Llama(m) => m.forward(x, pos),
            Weights::Qwen2(m) => m.forward(x, pos),
            Weights::Phi3(m) => m.forward(x, pos),
            Weights::Gemma3(m) => m.forward(x, pos),
        }
    }
}

/// The architectures candle runs from a GGUF here (`general.architecture`).
const ARCHITECTURES: &[&str] = &["llama", "qwen2", "phi3", "gemma3"];

/// How a conversation becomes a prompt.
#[derive(Clone, Debug)]
enum Template {
    /// The GGUF's own `tokenizer.chat_template`.
    Jinja(ChatTemplate),
    ChatMl,
    Llama3,
    Plain,
}

/// What runs a loaded model.
enum Engine {
    /// Our llama forward pass: the weights are shared, each request has its own KV cache.
    Own(crate::llama::Llama),
    /// candle's models keep their KV cache inside the weights: one request at a time.
    Candle(Mutex<Weights>),
}

/// One request's hold on the engine.
enum State<'a> {
    Own(&'a crate::llama::Llama, crate::llama::Session),
    Candle(std::sync::MutexGuard<'a, Weights>),
}

/// A loaded local model: weights read once at load and reused by every request (with our
/// llama engine requests run concurrently; with candle's, one at a time).
pub struct LocalGguf {
    path: PathBuf,
    config: LocalConfig,
    tokenizer: Tokenizer,
    device: Device,
    window: usize,
    eos: Vec<u32>,
    /// Prepended to the prompt when the model wants it and the template does not place it.
    bos: Option<u32>,
    template: Template,
    name: String,
    engine: Engine,
    /// Where the tokenizer came from: "tokenizer.json" path or "GGUF metadata".
    tokenizer_source: String,
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
        let bad = |message: String| LocalError::Bad {
            path: path.clone(),
            message,
        };
        let mut file = std::fs::File::open(&path).map_err(|source| LocalError::Io {
            path: path.clone(),
            source,
        })?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| bad(format!("not a GGUF file candle can read: {e}")))?;
        let meta_string = |key: &str| {
            content
                .metadata
                .get(key)
                .and_then(|v| v.to_string().ok())
                .cloned()
        };
        let arch = meta_string("general.architecture").unwrap_or_else(|| "llama".into());
        if !ARCHITECTURES.contains(&arch.as_str()) {
            return Err(bad(format!(
                "architecture {arch:?} is not supported (supported: {})",
                ARCHITECTURES.join(", ")
            )));
        }
        let context_length = content
            .metadata
            .get(&format!("{arch}.context_length"))
            .and_then(|v| v.to_u32().ok())
            .map(|v| v as usize);
        // The tokenizer: an explicit one, else tokenizer.json beside the model, else the
        // vocabulary inside the GGUF.
        let beside = path
            .parent()
            .unwrap_or(Path::new("."))
            .join("tokenizer.json");
        let (tokenizer, tokenizer_source) = match &config.tokenizer_path {
            Some(p) => (load_tokenizer(p)?, p.display().to_string()),
            None if beside.is_file() => (load_tokenizer(&beside)?, beside.display().to_string()),
            None if gguf_meta::has_tokenizer(&content) => (
                gguf_meta::tokenizer(&content).map_err(&bad)?,
                "GGUF metadata".to_string(),
            ),
            None => {
                return Err(bad(format!(
                    "no tokenizer: the file has no tokenizer.ggml.* metadata and there is no {}",
                    beside.display()
                )));
            }
        };
        let device = if config.cuda {
            Device::new_cuda(0).map_err(|e| bad(e.to_string()))?
        } else {
            Device::Cpu
        };
        let mut window = config.context_window.or(context_length).unwrap_or(2048);
        let vocab = tokenizer.get_vocab(true);
        let template = match gguf_meta::ChatTemplate::from_gguf(&content) {
            Some(t) => Template::Jinja(t),
            None if vocab.contains_key("<|im_start|>") => Template::ChatMl,
            None if vocab.contains_key("<|start_header_id|>") => Template::Llama3,
            None => Template::Plain,
        };
        let meta_u32 = |key: &str| content.metadata.get(key).and_then(|v| v.to_u32().ok());
        let mut eos: Vec<u32> = [
            "<|im_end|>",
            "<|eot_id|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "</s>",
            "<eos>",
        ]
        .iter()
        .filter_map(|t| vocab.get(*t).copied())
        .collect();
        eos.extend(meta_u32("tokenizer.ggml.eos_token_id"));
        eos.extend(meta_u32("tokenizer.ggml.eot_token_id"));
        eos.sort_unstable();
        eos.dedup();
        let wants_bos = content
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(meta_string("tokenizer.ggml.model").as_deref() == Some("llama"));
        let bos = meta_u32("tokenizer.ggml.bos_token_id")
            .filter(|_| wants_bos && !matches!(&template, Template::Jinja(t) if t.names_bos()));
        let name = format!(
            "local:{}",
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        // The weights are read once, now: a broken file fails at start, not at the first
        // question, and no request pays for loading.
        let own = if config.engine == LocalEngine::Auto && !config.cuda {
            match crate::llama::Llama::load(&content, &mut file) {
                Ok(Ok(model)) => Some(model),
                Ok(Err(why)) => {
                    tracing::info!(model = %path.display(), why, "left to candle");
                    None
                }
                Err(e) => {
                    return Err(bad(format!(
                        "architecture {arch}: cannot read the weights: {e}"
                    )));
                }
            }
        } else {
            None
        };
        let engine = match own {
            Some(model) => {
                tracing::info!(
                    model = %path.display(),
                    kernel = model.kernel().name(),
                    weight_bytes = model.bytes(),
                    "llama forward pass"
                );
                Engine::Own(model)
            }
            None => {
                if arch == "llama" {
                    window = window.min(quantized_llama::MAX_SEQ_LEN);
                }
                let weights = read_weights(&arch, content, &mut file, &device).map_err(|e| {
                    bad(format!(
                        "architecture {arch}: candle cannot load these weights: {e}"
                    ))
                })?;
                Engine::Candle(Mutex::new(weights))
            }
        };
        tracing::info!(
            model = %path.display(),
            arch,
            window,
            tokenizer = %tokenizer_source,
            "local model loaded"
        );
        Ok(LocalGguf {
            path,
            config: config.clone(),
            tokenizer,
            device,
            window,
            eos,
            bos,
            template,
            name,
            engine,
            tokenizer_source,
        })
    }

    /// Which code runs the model: `"wikirag-llama (avx2)"`, `"wikirag-llama (scalar)"` or
    /// `"candle"`.
    pub fn engine_name(&self) -> String {
        match &self.engine {
            Engine::Own(m) => format!("wikirag-llama ({})", m.kernel().name()),
            Engine::Candle(_) => "candle".into(),
        }
    }

    /// Where the tokenizer came from: a `tokenizer.json` path, or "GGUF metadata".
    pub fn tokenizer_source(&self) -> &str {
        &self.tokenizer_source
    }

    /// The prompt text for `messages`, as the model's chat template renders it.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let mut s = String::new();
        match &self.template {
            Template::Jinja(t) => return t.render(messages).map_err(LlmError::Other),
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
        Ok(s)
    }

    /// Token ids of `text` (special tokens such as `<|im_start|>` recognised).
    pub fn tokens(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| LlmError::Other(format!("tokenizer: {e}")))
    }
}

/// The tokenizer inside a GGUF file's metadata (`tokenizer.ggml.*`), without its weights: for
/// exact token counts against a server that runs this file (`--tokenizer X.gguf`).
pub fn tokenizer_from_gguf(path: &Path) -> Result<Tokenizer, LocalError> {
    let mut file = std::fs::File::open(path).map_err(|source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| LocalError::Bad {
        path: path.to_path_buf(),
        message,
    };
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| bad(format!("not a GGUF file candle can read: {e}")))?;
    gguf_meta::tokenizer(&content).map_err(bad)
}

fn load_tokenizer(path: &Path) -> Result<Tokenizer, LocalError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return tokenizer_from_gguf(path);
    }
    Tokenizer::from_file(path).map_err(|e| LocalError::Bad {
        path: path.to_path_buf(),
        message: format!("tokenizer: {e}"),
    })
}

/// Quantisations whose dot products candle runs only as scalar code (no AVX/NEON kernel):
/// their tensors are converted to Q8_0 at load, which candle runs with SIMD. Q8_0 holds a
/// 4- or 5-bit block's values to within 1/254 of the block's range, and costs twice the
/// memory of Q4_1 (SmolLM2-135M: prompt 6× and generation 3× faster, benches/RESULTS.md).
const SLOW_QUANTS: &[GgmlDType] = &[GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1];

fn read_weights(
    arch: &str,
    content: gguf_file::Content,
    file: &mut std::fs::File,
    device: &Device,
) -> candle_core::Result<Weights> {
    let slow = content
        .tensor_infos
        .values()
        .any(|t| SLOW_QUANTS.contains(&t.ggml_dtype));
    if !slow {
        return weights_from(arch, content, file, device);
    }
    let mut tensors = Vec::with_capacity(content.tensor_infos.len());
    for name in content.tensor_infos.keys() {
        let t = content.tensor(file, name, &Device::Cpu)?;
        let t = if SLOW_QUANTS.contains(&t.dtype()) && t.shape().dims().last() != Some(&0) {
            QTensor::quantize(&t.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?
        } else {
            t
        };
        tensors.push((name.clone(), t));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut bytes = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut bytes, &metadata, &refs)?;
    drop(tensors);
    bytes.set_position(0);
    let converted = gguf_file::Content::read(&mut bytes)?;
    weights_from(arch, converted, &mut bytes, device)
}

fn weights_from<R: std::io::Read + std::io::Seek>(
    arch: &str,
    content: gguf_file::Content,
    file: &mut R,
    device: &Device,
) -> candle_core::Result<Weights> {
    Ok(match arch {
        "qwen2" => Weights::Qwen2(quantized_qwen2::ModelWeights::from_gguf(
            content, file, device,
        )?),
        "phi3" => Weights::Phi3(quantized_phi3::ModelWeights::from_gguf(
            false, content, file, device,
        )?),
        "gemma3" => Weights::Gemma3(quantized_gemma3::ModelWeights::from_gguf(
            content, file, device,
        )?),
        _ => Weights::Llama(quantized_llama::ModelWeights::from_gguf(
            content, file, device,
        )?),
    })
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
        let mut prompt = self.tokens(&self.render(&request.messages)?)?;
        if let Some(bos) = self.bos {
            prompt.insert(0, bos);
        }
        if prompt.len() + request.max_tokens > self.window {
            return Err(LlmError::ContextLength(format!(
                "{} prompt tokens + {} answer tokens > context {}",
                prompt.len(),
                request.max_tokens,
                self.window
            )));
        }
        // What runs the steps: our engine with this request's own KV cache, or candle's
        // weights (their cache inside) held for the whole request.
        let mut state = match &self.engine {
            Engine::Own(m) => State::Own(m, m.session(prompt.len() + request.max_tokens)),
            Engine::Candle(w) => State::Candle(w.lock().unwrap_or_else(|p| p.into_inner())),
        };
        let candle =
            |e: candle_core::Error| LlmError::Other(format!("{}: {e}", self.path.display()));
        let temperature = (request.temperature > 0.0).then_some(f64::from(request.temperature));
        let mut sampler = LogitsProcessor::new(self.config.seed, temperature, None);
        let mut generated: Vec<u32> = Vec::new();
        let mut shown = 0usize;
        let mut text = String::new();
        let mut finish = "length";
        let mut input = prompt.clone();
        let mut pos = 0;
        let started = std::time::Instant::now();
        let mut first_token: Option<std::time::Instant> = None;
        for _ in 0..request.max_tokens {
            let logits = match &mut state {
                State::Own(m, session) => {
                    debug_assert_eq!(session.len(), pos);
                    m.forward(session, &input)
                        .map_err(|e| LlmError::Other(format!("{}: {e}", self.path.display())))?
                }
                State::Candle(weights) => {
                    let x = Tensor::new(input.as_slice(), &self.device)
                        .and_then(|t| t.unsqueeze(0))
                        .map_err(candle)?;
                    weights
                        .forward(&x, pos)
                        .and_then(|l| l.squeeze(0))
                        .map_err(candle)?
                }
            };
            pos += input.len();
            let next = sampler.sample(&logits).map_err(candle)?;
            first_token.get_or_insert_with(std::time::Instant::now);
            if self.eos.contains(&next) {
                finish = "stop";
                break;
            }
            if request.stop.is_stopped() {
                finish = "cancelled";
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
            prompt_seconds: first_token.map(|t| (t - started).as_secs_f64()),
            generation_seconds: first_token.map(|t| t.elapsed().as_secs_f64()),
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
    write_tiny(dir, words, context_length, false)
}

/// The same model with no `tokenizer.json`: a SentencePiece vocabulary (the pieces of
/// `words`, scored so that they merge back) and a ChatML `tokenizer.chat_template` inside the
/// GGUF, as real GGUF files carry them.
pub fn write_tiny_gguf_self_contained(
    dir: &Path,
    words: &[&str],
    context_length: u32,
) -> Result<PathBuf, LocalError> {
    write_tiny(dir, words, context_length, true)
}

fn write_tiny(
    dir: &Path,
    words: &[&str],
    context_length: u32,
    self_contained: bool,
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
    // SentencePiece pieces: "<unk>", "<s>", "</s>", the markers, then every character and
    // every prefix of "▁word" (each merges from a shorter prefix and one character).
    let mut types: Vec<i32> = vec![2, 3, 3];
    if self_contained {
        vocab = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        types = vec![2, 3, 3, 3, 3];
        let mut push = |piece: String, vocab: &mut Vec<String>| {
            if !vocab.contains(&piece) {
                vocab.push(piece);
                types.push(1);
            }
        };
        for w in words {
            let piece = format!("\u{2581}{}", w.to_lowercase());
            for c in piece.chars() {
                push(c.to_string(), &mut vocab);
            }
        }
        for w in words {
            let piece = format!("\u{2581}{}", w.to_lowercase());
            let ends: Vec<usize> = piece
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .collect();
            for &end in ends.iter().skip(1) {
                push(piece[..end].to_string(), &mut vocab);
            }
        }
    } else {
        for w in words {
            if !vocab.iter().any(|v| v == w) {
                vocab.push(w.to_string());
            }
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
    if !self_contained {
        std::fs::write(&tok_path, serde_json::to_vec(&tokenizer).expect("json")).map_err(
            |source| LocalError::Io {
                path: tok_path.clone(),
                source,
            },
        )?;
    }

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
    let mut metadata = metadata;
    if self_contained {
        let n = vocab.len();
        metadata.extend([
            ("tokenizer.ggml.model", Value::String("llama".into())),
            (
                "tokenizer.ggml.tokens",
                Value::Array(vocab.iter().map(|t| Value::String(t.clone())).collect()),
            ),
            (
                "tokenizer.ggml.scores",
                // Longer pieces merge later: score −(length in characters).
                Value::Array(
                    vocab
                        .iter()
                        .map(|t| Value::F32(-(t.chars().count() as f32)))
                        .collect(),
                ),
            ),
            (
                "tokenizer.ggml.token_type",
                Value::Array(types.iter().map(|&t| Value::I32(t)).collect()),
            ),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(4)),
            ("tokenizer.ggml.unknown_token_id", Value::U32(0)),
            ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
            (
                "tokenizer.chat_template",
                Value::String(
                    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + \
                     message['content'].strip() + '<|im_end|>' + '\\n'}}{% endfor %}\
                     {% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
                        .into(),
                ),
            ),
        ]);
        debug_assert_eq!(types.len(), n);
    }
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
