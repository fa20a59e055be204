//! The OpenAI-compatible endpoints: `/v1/models` and `/v1/chat/completions` (plain and
//! streamed), so chat front ends and the official clients talk to wikirag unchanged.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use std::convert::Infallible;
use std::time::{Instant, SystemTime};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use wikirag_rag::followup::Turn;
use wikirag_rag::{Answer, AskEvent, AskOptions};

use crate::error::ApiError;
use crate::limits::{Body, StopOnDrop, ask_caught, blocking, check_text, parse, send_until, slot};
use crate::wire::{
    ChatChunk, ChatCompletion, Choice, ChunkChoice, Delta, ErrorBody, ErrorDetail, Extra, Message,
    ModelList, Usage, finish_reason,
};
use crate::{AppState, Backend, Shared};

/// `GET /v1/models`: the one model this server is, for OpenAI clients and chat front ends
/// (Open WebUI and others list models before the first question).
pub(crate) async fn models(State(s): State<Shared>) -> Result<Json<ModelList>, ApiError> {
    let created = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(s.started.elapsed().as_secs());
    Ok(Json(ModelList::one(created, s.backend.backend())))
}

#[derive(Deserialize)]
pub(crate) struct ChatBody {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<ChatMessageIn>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
}

#[derive(Deserialize, Default)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// Chat request fields this server acts on; any other is reported as ignored.
pub(crate) const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
];

/// The most answer tokens a chat request may ask for.
pub(crate) const MAX_ANSWER_TOKENS: u64 = 32_768;

#[derive(Deserialize)]
pub(crate) struct ChatMessageIn {
    role: String,
    content: Value,
}

pub(crate) fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // The array form: [{"type": "text", "text": "..."}]
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The answer followed by its sources, as chat front-ends show plain text.
pub(crate) fn with_sources(answer: &Answer) -> String {
    if answer.citations.is_empty() {
        return answer.answer.clone();
    }
    let mut s = answer.answer.clone();
    s.push_str("\n\nSources:\n");
    for c in &answer.citations {
        let section = if c.section.is_empty() {
            String::new()
        } else {
            format!(" › {}", c.section)
        };
        let link = if c.link.is_empty() { &c.url } else { &c.link };
        s.push_str(&format!("[{}] {}{} — {}\n", c.n, c.title, section, link));
    }
    s
}

/// What a chat request asks beyond its messages, checked: the options to answer with, and
/// the fields that do not apply (reported in `x-wikirag-ignored` and the answer's `wikirag`
/// object rather than silently dropped).
pub(crate) fn chat_options(
    s: &AppState,
    raw: &serde_json::Map<String, Value>,
    body: &ChatBody,
) -> Result<(AskOptions, Vec<String>), ApiError> {
    let mut options = s.ask_options();
    options.max_question_chars = s.config.max_question_chars;
    let mut ignored: Vec<String> = raw
        .keys()
        .filter(|k| !CHAT_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    if let Some(n) = body.n
        && n != 1
    {
        return Err(ApiError::bad(format!(
            "n must be 1 (got {n}): wikirag gives one answer per question"
        )));
    }
    let llm = s.backend.backend() != "extractive";
    if let Some(max) = body.max_completion_tokens.or(body.max_tokens) {
        if !(1..=MAX_ANSWER_TOKENS).contains(&max) {
            return Err(ApiError::bad(format!(
                "max_tokens must be between 1 and {MAX_ANSWER_TOKENS} (got {max})"
            )));
        }
        if llm {
            options.answer_tokens = max as usize;
        } else {
            ignored.push("max_tokens (the extractive answer is not generated)".into());
        }
    }
    if let Some(t) = body.temperature {
        if !(t.is_finite() && (0.0..=2.0).contains(&t)) {
            return Err(ApiError::bad(format!(
                "temperature must be between 0 and 2 (got {t})"
            )));
        }
        if llm {
            options.temperature = t as f32;
        } else {
            ignored.push("temperature (the extractive answer is not generated)".into());
        }
    }
    Ok((options, ignored))
}

pub(crate) async fn chat(State(s): State<Shared>, body: Body) -> Result<Response, ApiError> {
    let raw: serde_json::Map<String, Value> = parse(body)?;
    let body: ChatBody = serde_json::from_value(Value::Object(raw.clone()))
        .map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))?;
    let (options, ignored) = chat_options(&s, &raw, &body)?;
    let texts: Vec<(String, String)> = body
        .messages
        .iter()
        .map(|m| (m.role.clone(), content_text(&m.content)))
        .collect();
    let last = texts
        .iter()
        .rev()
        .find(|(role, text)| role == "user" && !text.trim().is_empty())
        .map(|(_, text)| text.clone())
        .ok_or_else(|| ApiError::bad("no user message"))?;
    check_text(&s, "the last user message", &last)?;
    let model = body.model.clone().unwrap_or_else(|| "wikirag".into());
    let include_usage = body
        .stream_options
        .as_ref()
        .is_some_and(|o| o.include_usage);
    let permit = slot(&s).await?;
    let backend = s.backend.clone();
    let max_chars = s.config.max_question_chars;
    // A follow-up ("When did he fly?") is made standalone from the conversation before it is
    // searched; the rewrite may ask the model, so it runs with the answer, under the slot.
    let standalone = move |backend: &dyn Backend| -> String {
        let turns: Vec<Turn<'_>> = texts
            .iter()
            .map(|(role, text)| Turn { role, text })
            .collect();
        let q = wikirag_core::catch_panic(|| backend.standalone(&turns))
            .ok()
            .flatten()
            .unwrap_or_else(|| last.clone());
        // The rewrite must still be a question the pipeline accepts.
        if q.chars().count() > max_chars {
            last
        } else {
            q
        }
    };
    let id = format!(
        "chatcmpl-{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let created = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ignored_header = ignored.join(", ");
    if !ignored.is_empty() {
        tracing::info!("chat request fields ignored: {ignored_header}");
    }
    let with_ignored = |mut response: Response| {
        if let Ok(v) = header::HeaderValue::from_str(&ignored_header)
            && !ignored_header.is_empty()
        {
            response.headers_mut().insert("x-wikirag-ignored", v);
        }
        response
    };
    if !body.stream {
        let _stop = StopOnDrop(options.stop.clone());
        let (question, answer) = blocking(&s, move || {
            let _permit = permit;
            let question = standalone(backend.as_ref());
            let answer = ask_caught(backend.as_ref(), &question, &options, &mut |_| {});
            (question, answer)
        })
        .await?;
        let answer = answer?;
        let content = with_sources(&answer);
        return Ok(with_ignored(
            Json(ChatCompletion {
                id: &id,
                object: "chat.completion",
                created,
                model: &model,
                choices: [Choice {
                    index: 0,
                    message: Message {
                        role: "assistant",
                        content: &content,
                    },
                    finish_reason: finish_reason(&answer),
                }],
                usage: Usage::of(&answer),
                citations: &answer.citations,
                wikirag: Extra {
                    question: &question,
                    abstained: answer.abstained,
                    uncited: answer.uncited,
                    truncated: answer.truncated,
                    ignored: &ignored,
                },
            })
            .into_response(),
        ));
    }
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    let deadline = Instant::now() + s.config.request_timeout;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // With `include_usage`, every chunk carries `"usage": null` and a last chunk with no
        // choices carries the counts (as OpenAI streams them).
        let chunk = |delta: Delta<'_>, finish: Option<&'static str>| {
            event_json(&ChatChunk {
                id: &id,
                object: "chat.completion.chunk",
                created,
                model: &model,
                choices: vec![ChunkChoice {
                    index: 0,
                    delta,
                    finish_reason: finish,
                }],
                usage: include_usage.then_some(None),
            })
        };
        // A client that is gone (or stopped reading) no longer wants the answer: the model
        // stops at its next token.
        let stop = options.stop.clone();
        let send = |e: Event| {
            if !send_until(&tx, e, deadline) {
                stop.stop();
            }
        };
        send(chunk(
            Delta {
                role: Some("assistant"),
                content: Some(""),
            },
            None,
        ));
        let result = wikirag_core::catch_panic(|| standalone(backend.as_ref()))
            .map_err(|m| ApiError::internal("follow-up rewrite panicked", &m))
            .and_then(|question| {
                ask_caught(backend.as_ref(), &question, &options, &mut |e| {
                    if let AskEvent::Token(t) = e {
                        send(chunk(
                            Delta {
                                content: Some(t),
                                ..Delta::default()
                            },
                            None,
                        ));
                    }
                })
            });
        match result {
            Ok(answer) => {
                let sources = with_sources(&answer);
                let tail = sources.strip_prefix(&answer.answer).unwrap_or("");
                if !tail.is_empty() {
                    send(chunk(
                        Delta {
                            content: Some(tail),
                            ..Delta::default()
                        },
                        None,
                    ));
                }
                send(chunk(Delta::default(), Some(finish_reason(&answer))));
                if include_usage {
                    send(event_json(&ChatChunk {
                        id: &id,
                        object: "chat.completion.chunk",
                        created,
                        model: &model,
                        choices: Vec::new(),
                        usage: Some(Some(Usage::of(&answer))),
                    }));
                }
            }
            Err(e) => {
                send(event_json(&ErrorBody {
                    error: ErrorDetail {
                        message: &e.message,
                        kind: "server_error",
                    },
                }));
            }
        }
        send(Event::default().data("[DONE]"));
    });
    Ok(with_ignored(
        Sse::new(ReceiverStream::new(rx)).into_response(),
    ))
}

/// A server-sent event carrying `value` as JSON.
fn event_json(value: &impl serde::Serialize) -> Event {
    Event::default().data(serde_json::to_string(value).expect("wire types serialise"))
}
