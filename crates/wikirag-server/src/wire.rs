//! The OpenAI wire format wikirag answers in, as types: what `/v1/models` and
//! `/v1/chat/completions` (plain and streamed) send, and the error object every endpoint
//! uses. Field names and shapes follow OpenAI's API reference; the `wikirag` and `citations`
//! members are wikirag's own additions, which OpenAI clients ignore.

use serde::Serialize;
use wikirag_rag::{Answer, Citation};

/// `GET /v1/models`.
#[derive(Serialize)]
pub(crate) struct ModelList {
    pub object: &'static str,
    pub data: [Model; 1],
}

#[derive(Serialize)]
pub(crate) struct Model {
    pub id: &'static str,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
    /// What answers behind it (wikirag's addition).
    pub backend: String,
}

impl ModelList {
    pub(crate) fn one(created: u64, backend: String) -> ModelList {
        ModelList {
            object: "list",
            data: [Model {
                id: "wikirag",
                object: "model",
                created,
                owned_by: "wikirag",
                backend,
            }],
        }
    }
}

/// Token counts, as OpenAI reports them.
#[derive(Clone, Copy, Serialize)]
pub(crate) struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

impl Usage {
    /// The backend's own prompt count where it reports one, else wikirag's.
    pub(crate) fn of(answer: &Answer) -> Usage {
        let prompt = answer
            .usage
            .backend_prompt_tokens
            .unwrap_or(answer.usage.prompt_tokens);
        let completion = answer.usage.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

/// Why generation stopped: `"length"` when the answer was cut short.
pub(crate) fn finish_reason(answer: &Answer) -> &'static str {
    if answer.truncated { "length" } else { "stop" }
}

/// A whole chat completion (`"stream": false`).
#[derive(Serialize)]
pub(crate) struct ChatCompletion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: [Choice<'a>; 1],
    pub usage: Usage,
    /// The sentences the answer cites (wikirag's addition).
    pub citations: &'a [Citation],
    pub wikirag: Extra<'a>,
}

#[derive(Serialize)]
pub(crate) struct Choice<'a> {
    pub index: u32,
    pub message: Message<'a>,
    pub finish_reason: &'static str,
}

#[derive(Serialize)]
pub(crate) struct Message<'a> {
    pub role: &'static str,
    pub content: &'a str,
}

/// What wikirag adds to a completion: the question it searched (a follow-up made
/// standalone), its flags, and the request fields it ignored.
#[derive(Serialize)]
pub(crate) struct Extra<'a> {
    pub question: &'a str,
    pub abstained: bool,
    pub uncited: bool,
    pub truncated: bool,
    pub ignored: &'a [String],
}

/// One server-sent chunk of a streamed completion.
#[derive(Serialize)]
pub(crate) struct ChatChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: Vec<ChunkChoice<'a>>,
    /// With `stream_options.include_usage`: `null` on every chunk, the counts on a last one
    /// with no choices (as OpenAI streams them); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
pub(crate) struct ChunkChoice<'a> {
    pub index: u32,
    pub delta: Delta<'a>,
    pub finish_reason: Option<&'static str>,
}

/// What a chunk adds to the message.
#[derive(Default, Serialize)]
pub(crate) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
}

/// `{"error": {"message", "type"}}`: OpenAI's error object, on every endpoint.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize)]
pub(crate) struct ErrorDetail<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}
