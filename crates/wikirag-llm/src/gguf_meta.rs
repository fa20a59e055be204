//! What a GGUF file carries besides its weights: the tokenizer (`tokenizer.ggml.*`) and the
//! chat template (`tokenizer.chat_template`), so a model runs from its GGUF alone.
//!
//! - `gpt2` vocabularies (byte-level BPE: SmolLM, Llama 3, Qwen2, Phi-3.5/4, StarCoder…) become
//!   a `tokenizers` BPE with the merges of the file and the pre-tokenizer that
//!   `tokenizer.ggml.pre` names (llama.cpp's names: `smollm`, `llama-bpe`, `qwen2`, …);
//! - `llama` vocabularies (SentencePiece: Llama 2, Mistral, Phi-3, Gemma…) become a BPE whose
//!   merges come from the pieces' scores (a piece made of two pieces merges at its score's
//!   rank, which is how SentencePiece's BPE merges), with byte fallback;
//! - the chat template is rendered with minijinja (Python string methods through
//!   `minijinja-contrib`'s pycompat), as Hugging Face's `apply_chat_template` does.

use candle_core::quantized::gguf_file::{Content, Value};
use serde_json::json;
use std::collections::HashMap;
use tokenizers::Tokenizer;
use wikirag_core::ChatMessage;

/// GGUF token types (llama.cpp `llama_token_type`).
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const BYTE: i32 = 6;

/// The GPT-2 split (also the fallback for a `pre` this code does not know).
const GPT2_SPLIT: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's split (`llama-bpe`, and `dbrx`, `smaug-bpe` in llama.cpp).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split: Llama 3's with single digits.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn string(content: &Content, key: &str) -> Option<String> {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .cloned()
}

fn u32_of(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

fn bool_of(content: &Content, key: &str) -> Option<bool> {
    content.metadata.get(key).and_then(|v| v.to_bool().ok())
}

fn strings(content: &Content, key: &str) -> Option<Vec<String>> {
    let values = content.metadata.get(key)?.to_vec().ok()?;
    values.iter().map(|v| v.to_string().ok().cloned()).collect()
}

fn numbers(content: &Content, key: &str) -> Option<Vec<f64>> {
    let values = content.metadata.get(key)?.to_vec().ok()?;
    values
        .iter()
        .map(|v| match v {
            Value::F32(x) => Some(f64::from(*x)),
            Value::F64(x) => Some(*x),
            Value::I32(x) => Some(f64::from(*x)),
            Value::U32(x) => Some(f64::from(*x)),
            Value::I8(x) => Some(f64::from(*x)),
            Value::U8(x) => Some(f64::from(*x)),
            _ => None,
        })
        .collect()
}

/// Whether the file carries a vocabulary this module can turn into a tokenizer.
pub(crate) fn has_tokenizer(content: &Content) -> bool {
    content.metadata.contains_key("tokenizer.ggml.tokens")
}

/// The tokenizer the GGUF describes. Errors say what is missing or unsupported.
pub(crate) fn tokenizer(content: &Content) -> Result<Tokenizer, String> {
    let model = string(content, "tokenizer.ggml.model").unwrap_or_else(|| "llama".into());
    let tokens = strings(content, "tokenizer.ggml.tokens")
        .ok_or("no tokenizer.ggml.tokens (and no tokenizer.json beside the file)")?;
    let types: Vec<i32> = numbers(content, "tokenizer.ggml.token_type")
        .map(|t| t.into_iter().map(|x| x as i32).collect())
        .unwrap_or_else(|| vec![NORMAL; tokens.len()]);
    if types.len() != tokens.len() {
        return Err(format!(
            "{} token types for {} tokens",
            types.len(),
            tokens.len()
        ));
    }
    let added: Vec<serde_json::Value> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, t))| matches!(**t, CONTROL | USER_DEFINED))
        .map(|(id, (content, t))| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": *t == CONTROL})
        })
        .collect();
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let spec = match model.as_str() {
        "gpt2" => {
            let merges = strings(content, "tokenizer.ggml.merges")
                .ok_or("a gpt2 vocabulary without tokenizer.ggml.merges")?;
            let pre = string(content, "tokenizer.ggml.pre").unwrap_or_default();
            let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false,
                                    "trim_offsets": true, "use_regex": false});
            let split = |pattern: &str| {
                json!({"type": "Split", "pattern": {"Regex": pattern},
                       "behavior": "Isolated", "invert": false})
            };
            let pre_tokenizer = match pre.as_str() {
                "smollm" => json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Digits", "individual_digits": true}, split(GPT2_SPLIT), byte_level]}),
                "llama-bpe" | "llama3" | "dbrx" | "smaug-bpe" => {
                    json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_SPLIT), byte_level]})
                }
                "qwen2" | "deepseek-r1-qwen" => {
                    json!({"type": "Sequence", "pretokenizers": [split(QWEN2_SPLIT), byte_level]})
                }
                other => {
                    if !matches!(other, "" | "default" | "gpt-2" | "gpt2" | "starcoder") {
                        tracing::warn!(
                            pre = other,
                            "unknown GGUF pre-tokenizer: splitting like GPT-2"
                        );
                    }
                    json!({"type": "Sequence", "pretokenizers": [split(GPT2_SPLIT), byte_level]})
                }
            };
            json!({
                "version": "1.0", "truncation": null, "padding": null,
                "added_tokens": added,
                "normalizer": null,
                "pre_tokenizer": pre_tokenizer,
                "post_processor": null,
                "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
                            "use_regex": true},
                "model": {"type": "BPE", "dropout": null, "unk_token": null,
                          "continuing_subword_prefix": null, "end_of_word_suffix": null,
                          "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                          "vocab": vocab, "merges": merges}
            })
        }
        "llama" => {
            let scores = numbers(content, "tokenizer.ggml.scores")
                .ok_or("a SentencePiece vocabulary without tokenizer.ggml.scores")?;
            if scores.len() != tokens.len() {
                return Err(format!(
                    "{} scores for {} tokens",
                    scores.len(),
                    tokens.len()
                ));
            }
            let merges = piece_merges(&tokens, &types, &scores);
            let unk = u32_of(content, "tokenizer.ggml.unknown_token_id")
                .and_then(|i| tokens.get(i as usize))
                .or_else(|| {
                    tokens
                        .iter()
                        .zip(&types)
                        .find(|(_, t)| **t == UNKNOWN)
                        .map(|(s, _)| s)
                })
                .cloned();
            let prefix = bool_of(content, "tokenizer.ggml.add_space_prefix").unwrap_or(true);
            let mut normalizers = Vec::new();
            if prefix {
                normalizers.push(json!({"type": "Prepend", "prepend": "▁"}));
            }
            normalizers
                .push(json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"}));
            let mut decoders = vec![
                json!({"type": "Replace", "pattern": {"String": "▁"}, "content": " "}),
                json!({"type": "ByteFallback"}),
                json!({"type": "Fuse"}),
            ];
            if prefix {
                decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
            }
            json!({
                "version": "1.0", "truncation": null, "padding": null,
                "added_tokens": added,
                "normalizer": {"type": "Sequence", "normalizers": normalizers},
                "pre_tokenizer": null,
                "post_processor": null,
                "decoder": {"type": "Sequence", "decoders": decoders},
                "model": {"type": "BPE", "dropout": null, "unk_token": unk,
                          "continuing_subword_prefix": null, "end_of_word_suffix": null,
                          "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                          "vocab": vocab, "merges": merges}
            })
        }
        other => {
            return Err(format!(
                "tokenizer.ggml.model {other:?} is not supported (gpt2, llama); put its \
                 tokenizer.json beside the file or pass --tokenizer"
            ));
        }
    };
    spec.to_string()
        .parse::<Tokenizer>()
        .map_err(|e| format!("the GGUF vocabulary does not make a tokenizer: {e}"))
}

/// SentencePiece BPE merges from piece scores: every normal piece that splits into two
/// pieces of the vocabulary is a merge, ranked by the piece's score (best first).
fn piece_merges(tokens: &[String], types: &[i32], scores: &[f64]) -> Vec<String> {
    let ids: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(types[*i], CONTROL | BYTE | UNKNOWN))
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut merges: Vec<(f64, usize, usize, String)> = Vec::new();
    for (i, piece) in tokens.iter().enumerate() {
        if types[i] != NORMAL && types[i] != USER_DEFINED {
            continue;
        }
        for (at, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(at);
            if let (Some(&l), Some(&r)) = (ids.get(left), ids.get(right)) {
                merges.push((scores[i], l, r, format!("{left} {right}")));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    merges.into_iter().map(|m| m.3).collect()
}

/// The chat template of the file, and the special tokens it may name.
#[derive(Clone, Debug)]
pub(crate) struct ChatTemplate {
    source: String,
    bos: String,
    eos: String,
}

impl ChatTemplate {
    pub(crate) fn from_gguf(content: &Content) -> Option<ChatTemplate> {
        let source = string(content, "tokenizer.chat_template")?;
        let tokens = strings(content, "tokenizer.ggml.tokens").unwrap_or_default();
        let token = |key: &str| {
            u32_of(content, key)
                .and_then(|i| tokens.get(i as usize))
                .cloned()
                .unwrap_or_default()
        };
        Some(ChatTemplate {
            source,
            bos: token("tokenizer.ggml.bos_token_id"),
            eos: token("tokenizer.ggml.eos_token_id"),
        })
    }

    /// The prompt for `messages`, ending where the assistant's answer begins.
    pub(crate) fn render(&self, messages: &[ChatMessage]) -> Result<String, String> {
        let mut env = minijinja::Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        let messages: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        env.render_str(
            &self.source,
            json!({
                "messages": messages,
                "add_generation_prompt": true,
                "bos_token": self.bos,
                "eos_token": self.eos,
            }),
        )
        .map_err(|e| format!("chat template: {e:#}"))
    }

    /// Whether the template places the BOS token itself (then it is not added again).
    pub(crate) fn names_bos(&self) -> bool {
        self.source.contains("bos_token")
            || (!self.bos.is_empty() && self.source.contains(&self.bos))
    }
}
