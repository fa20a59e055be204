//! LLM backends behind the core [`wikirag_core::Llm`] trait.
//!
//! - [`OpenAi`]: any OpenAI-compatible chat-completions server.
//! - [`LocalGguf`]: a quantized GGUF model (llama, qwen2, phi3, gemma3), its tokenizer and
//!   chat template read from the GGUF itself; llama-architecture files run on our own forward
//!   pass (`llama`, int8 kernels in `q8`), the others on candle.

mod gguf_meta;
mod llama;
mod local;
mod openai;
mod q8;

pub use local::{
    LocalConfig, LocalEngine, LocalError, LocalGguf, tokenizer_from_gguf, write_tiny_gguf,
    write_tiny_gguf_self_contained,
};
pub use openai::{Azure, OpenAi, OpenAiConfig};
pub use tokenizers::Tokenizer;
