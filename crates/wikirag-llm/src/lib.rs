//! LLM backends behind the core [`wikirag_core::Llm`] trait.
//!
//! - [`OpenAi`]: any OpenAI-compatible chat-completions server.
//! - [`LocalGguf`]: a quantized GGUF model (llama, qwen2, phi3, gemma3), run by candle, its
//!   tokenizer and chat template read from the GGUF itself.

mod gguf_meta;
mod local;
mod openai;

pub use local::{
    LocalConfig, LocalError, LocalGguf, tokenizer_from_gguf, write_tiny_gguf,
    write_tiny_gguf_self_contained,
};
pub use openai::{Azure, OpenAi, OpenAiConfig};
pub use tokenizers::Tokenizer;
