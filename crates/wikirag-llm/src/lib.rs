//! LLM backends behind the core [`wikirag_core::Llm`] trait.
//!
//! - [`OpenAi`]: any OpenAI-compatible chat-completions server.
//! - [`LocalGguf`]: a quantized GGUF model of the llama / qwen2 families, run by candle.

mod local;
mod openai;

pub use local::{LocalConfig, LocalError, LocalGguf, write_tiny_gguf};
pub use openai::{Azure, OpenAi, OpenAiConfig};
pub use tokenizers::Tokenizer;
