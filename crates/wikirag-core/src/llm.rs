//! Language models as a trait: the RAG pipeline is written against [`Llm`], the backends
//! (an OpenAI-compatible server, a local GGUF model) live in their own crate.

use serde::{Deserialize, Serialize};

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// A generation request.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmRequest {
    pub messages: Vec<ChatMessage>,
    /// Most tokens to generate.
    pub max_tokens: usize,
    pub temperature: f32,
    /// Set by whoever asked when the answer is no longer wanted (a cancelled request): the
    /// backend stops generating at its next token.
    pub stop: crate::StopFlag,
}

/// What came back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub prompt_tokens: Option<usize>,
    pub completion_tokens: Option<usize>,
    /// "stop", "length", …
    pub finish_reason: Option<String>,
    /// Seconds spent reading the prompt (to the first generated token), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_seconds: Option<f64>,
    /// Seconds spent generating after the first token, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_seconds: Option<f64>,
}

/// Why a generation failed; the pipeline reacts to [`LlmError::ContextLength`] by retrying
/// with less evidence.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the prompt is longer than the model's context: {0}")]
    ContextLength(String),
    #[error("the model server is unavailable: {0}")]
    Unavailable(String),
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("{0}")]
    Other(String),
}

/// A chat model.
pub trait Llm: Send + Sync {
    /// A name for reports ("openai:gpt-4o-mini", "local:qwen2.5-0.5b").
    fn name(&self) -> String;
    /// The context window in tokens.
    fn context_window(&self) -> usize;
    /// Tokens in `text` with this model's tokenizer, when it is known.
    fn count_tokens(&self, _text: &str) -> Option<usize> {
        None
    }
    /// Generates an answer; `on_token` receives the text as it streams.
    fn complete(
        &self,
        request: &LlmRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion, LlmError>;
}
