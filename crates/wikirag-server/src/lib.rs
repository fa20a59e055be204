//! The HTTP face of wikirag (axum):
//!
//! - `POST /v1/search` — sentences for a query;
//! - `POST /v1/ask` — a cited answer (`"stream": true`: server-sent events `sources`, `token`,
//!   `done`, `error`);
//! - `POST /v1/chat/completions` — the OpenAI chat format (streaming too), so chat front-ends
//!   can use wikirag as a model that answers from Wikipedia with sources;
//! - `GET /v1/models` — the one model (`wikirag`), as OpenAI clients list it;
//! - `GET /health`, and `GET /` — a small web page.
//!
//! Limits: body size, question length, k, a per-request timeout, a time limit on receiving the
//! body, a concurrency limit with a short bounded queue in front (a request waits up to
//! `queue_wait` for a slot; past that, or with the queue full, 503), an optional bearer API key.
//! Bad requests get a 4xx JSON error; internal errors (a panic included) are logged and
//! answered with a generic 500, or an `error` event once a stream has begun. Connections are
//! [`serve`]d with their own limits ([`ConnectionLimits`]).

mod listen;
mod page;

pub use listen::{ConnectionLimits, serve};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use wikirag_core::{BoxError, Hit, Retriever, SearchRequest};
use wikirag_rag::followup::Turn;
use wikirag_rag::{Answer, AskEvent, AskOptions, Rag, RagError};

/// What the server serves: search and ask, behind an object-safe face.
pub trait Backend: Send + Sync + 'static {
    fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>, BoxError>;
    fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        on_event: &mut dyn FnMut(AskEvent<'_>),
    ) -> Result<Answer, RagError>;
    /// The answering backend's name ("extractive", "openai:gpt-4o-mini").
    fn backend(&self) -> String;
    /// How far the served index has been checked against its block checksums.
    fn integrity(&self) -> Integrity {
        Integrity::Unchecked
    }
    /// The question a conversation's last user message asks, standing alone (a follow-up
    /// such as "When did he fly?" rewritten); `None` without a user message.
    fn standalone(&self, turns: &[Turn<'_>]) -> Option<String> {
        wikirag_rag::followup::standalone(turns, None)
    }
}

/// What `/health` says of the served index's bytes: a background pass reads every block of
/// it once against the checksums recorded when it was published (searches check the blocks
/// they read themselves, so damage never answers silently either way).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Integrity {
    /// Nothing to check against (an index published without block checksums).
    Unchecked,
    /// The background pass is under way.
    Verifying { blocks_done: usize, blocks: usize },
    /// Every block matched.
    Verified { blocks: usize },
    /// A block did not match: the index must be rebuilt (`/health` answers 503).
    Damaged { detail: String },
}

impl<R: Retriever + 'static> Backend for Rag<R> {
    fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>, BoxError> {
        self.retriever()
            .search(request)
            .map_err(|e| Box::new(e) as BoxError)
    }
    fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        on_event: &mut dyn FnMut(AskEvent<'_>),
    ) -> Result<Answer, RagError> {
        Rag::ask(self, question, options, on_event)
    }
    fn backend(&self) -> String {
        self.backend_name()
    }
    fn standalone(&self, turns: &[Turn<'_>]) -> Option<String> {
        self.standalone_question(turns)
    }
}

/// Server limits and defaults.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub max_body_bytes: usize,
    pub max_question_chars: usize,
    pub max_k: usize,
    pub request_timeout: Duration,
    /// Requests served at once; more wait in the queue.
    pub max_concurrent: usize,
    /// How long a request may wait for a slot before it is answered 503.
    pub queue_wait: Duration,
    /// Requests waiting at once; more are answered 503 at once.
    pub max_queued: usize,
    /// Time to receive a request's body once its head has arrived.
    pub body_timeout: Duration,
    /// Required as `Authorization: Bearer KEY` on /v1/* when set.
    pub api_key: Option<String>,
    pub ask: AskOptions,
    /// Shown by /health.
    pub index_name: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 64 * 1024,
            max_question_chars: 2000,
            max_k: 100,
            request_timeout: Duration::from_secs(120),
            max_concurrent: 32,
            queue_wait: Duration::from_secs(5),
            max_queued: 256,
            body_timeout: Duration::from_secs(10),
            api_key: None,
            ask: AskOptions::default(),
            index_name: String::new(),
        }
    }
}

struct AppState {
    backend: Arc<dyn Backend>,
    config: ServerConfig,
    slots: Arc<Semaphore>,
    /// Requests waiting for a slot.
    queued: AtomicUsize,
    started: Instant,
}

type Shared = Arc<AppState>;

/// A JSON error response: `{"error": {"message", "type"}}` (OpenAI's shape).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    fn internal(context: &str, error: &dyn std::fmt::Display) -> ApiError {
        tracing::error!("{context}: {error}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = match self.status.as_u16() {
            401 => "authentication_error",
            413 => "request_too_large",
            429 | 503 => "overloaded",
            504 => "timeout",
            500..=599 => "server_error",
            _ => "invalid_request_error",
        };
        let mut r = (
            self.status,
            Json(json!({"error": {"message": self.message, "type": kind}})),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

/// The router.
pub fn router(backend: Arc<dyn Backend>, config: ServerConfig) -> Router {
    let limit = config.max_body_bytes;
    let state = Arc::new(AppState {
        backend,
        slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
        queued: AtomicUsize::new(0),
        config,
        started: Instant::now(),
    });
    Router::new()
        .route("/", get(|| async { Html(page::INDEX) }))
        .route("/health", get(health))
        .route("/v1/search", post(search))
        .route("/v1/ask", post(ask))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// `GET /v1/models`: the one model this server is, for OpenAI clients and chat front ends
/// (Open WebUI and others list models before the first question).
async fn models(State(s): State<Shared>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers)?;
    let created = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(s.started.elapsed().as_secs());
    Ok(Json(json!({
        "object": "list",
        "data": [{
            "id": "wikirag",
            "object": "model",
            "created": created,
            "owned_by": "wikirag",
            "backend": s.backend.backend(),
        }],
    })))
}

async fn health(State(s): State<Shared>) -> (StatusCode, Json<Value>) {
    let integrity = s.backend.integrity();
    let (status, code) = match integrity {
        Integrity::Damaged { .. } => ("damaged", StatusCode::SERVICE_UNAVAILABLE),
        _ => ("ok", StatusCode::OK),
    };
    (
        code,
        Json(json!({
            "status": status,
            "index": s.config.index_name,
            "integrity": integrity,
            "backend": s.backend.backend(),
            "uptime_s": s.started.elapsed().as_secs(),
            "available_slots": s.slots.available_permits(),
            "queued": s.queued.load(Ordering::Relaxed),
        })),
    )
}

fn authorize(s: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = &s.config.api_key else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), key.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key (Authorization: Bearer ...)",
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A slot to serve a request in: at once when one is free, else after waiting in a bounded
/// queue (tokio's semaphore is fair: first come, first served).
async fn slot(s: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    if let Ok(permit) = s.slots.clone().try_acquire_owned() {
        return Ok(permit);
    }
    let busy = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is busy; retry shortly",
        )
    };
    struct Waiting<'a>(&'a AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    if s.queued.fetch_add(1, Ordering::Relaxed) >= s.config.max_queued {
        s.queued.fetch_sub(1, Ordering::Relaxed);
        return Err(busy());
    }
    let _waiting = Waiting(&s.queued);
    match tokio::time::timeout(s.config.queue_wait, s.slots.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(busy()),
    }
}

/// A request body received within `body_timeout` (a client that sends its body slowly, or
/// never, does not hold the connection forever), or why not.
struct Body(Result<Bytes, ApiError>);

impl FromRequest<Shared> for Body {
    type Rejection = Infallible;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Infallible> {
        let limit = state.config.body_timeout;
        Ok(Body(
            match tokio::time::timeout(limit, Bytes::from_request(req, state)).await {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                )),
                Ok(Err(e)) => Err(ApiError::bad(format!("unreadable body: {e}"))),
                Err(_) => Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within {} s",
                        limit.as_secs()
                    ),
                )),
            },
        ))
    }
}

/// Runs `ask`, turning a panic into an error the client is told about (a stream that has begun
/// cannot change its status: it ends with an `error` event instead of ending silently).
fn ask_caught(
    backend: &dyn Backend,
    question: &str,
    options: &AskOptions,
    on_event: &mut dyn FnMut(AskEvent<'_>),
) -> Result<Answer, ApiError> {
    match wikirag_core::catch_panic(|| backend.ask(question, options, on_event)) {
        Ok(result) => result.map_err(rag_error),
        Err(message) => Err(ApiError::internal("ask panicked", &message)),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: Body) -> Result<T, ApiError> {
    let body = body.0?;
    serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))
}

/// Runs blocking work with the request's time limit.
async fn blocking<T: Send + 'static>(
    s: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::time::timeout(s.config.request_timeout, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if e.is_panic() => Err(ApiError::internal(
            "request panicked",
            &wikirag_core::panic_message(e.into_panic().as_ref()),
        )),
        Ok(Err(e)) => Err(ApiError::internal("worker", &e)),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the request took longer than {} s",
                s.config.request_timeout.as_secs()
            ),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    query: String,
    k: Option<usize>,
    context: Option<usize>,
    per_page: Option<usize>,
}

fn check_k(s: &AppState, k: Option<usize>, default: usize) -> Result<usize, ApiError> {
    let k = k.unwrap_or(default);
    if k == 0 || k > s.config.max_k {
        return Err(ApiError::bad(format!(
            "k must be between 1 and {}",
            s.config.max_k
        )));
    }
    Ok(k)
}

fn check_text(s: &AppState, what: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::bad(format!("{what} is empty")));
    }
    let n = text.chars().count();
    if n > s.config.max_question_chars {
        return Err(ApiError::bad(format!(
            "{what} is too long ({n} characters, at most {})",
            s.config.max_question_chars
        )));
    }
    Ok(())
}

async fn search(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers)?;
    let body: SearchBody = parse(body)?;
    check_text(&s, "query", &body.query)?;
    let request = SearchRequest {
        query: body.query.clone(),
        k: check_k(&s, body.k, 10)?,
        context: body.context.unwrap_or(0).min(10),
        per_page: body.per_page.unwrap_or(3),
    };
    let permit = slot(&s).await?;
    let backend = s.backend.clone();
    let started = Instant::now();
    let hits = blocking(&s, move || {
        let _permit = permit;
        backend.search(&request)
    })
    .await?
    .map_err(|e| ApiError::internal("search", &e))?;
    Ok(Json(json!({
        "query": body.query,
        "took_ms": started.elapsed().as_secs_f64() * 1e3,
        "hits": hits,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskBody {
    question: String,
    #[serde(default)]
    stream: bool,
    k: Option<usize>,
    per_page: Option<usize>,
    context: Option<usize>,
    max_context_tokens: Option<usize>,
}

fn ask_options(s: &AppState, body: &AskBody) -> Result<AskOptions, ApiError> {
    let mut o = s.config.ask.clone();
    o.k = check_k(s, body.k, o.k)?;
    if let Some(p) = body.per_page {
        o.per_page = p;
    }
    if let Some(c) = body.context {
        o.context = c.min(10);
    }
    if body.max_context_tokens.is_some() {
        o.max_context_tokens = body.max_context_tokens;
    }
    o.max_question_chars = s.config.max_question_chars;
    Ok(o)
}

fn rag_error(e: RagError) -> ApiError {
    match e {
        RagError::EmptyQuestion | RagError::QuestionTooLong { .. } | RagError::NoRoom { .. } => {
            ApiError::bad(e.to_string())
        }
        RagError::Llm { .. } => {
            tracing::error!("ask: {e}");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "the language model did not answer; see the server log",
            )
        }
        RagError::Retrieval(_) => ApiError::internal("ask", &e),
    }
}

async fn ask(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let body: AskBody = parse(body)?;
    check_text(&s, "question", &body.question)?;
    let options = ask_options(&s, &body)?;
    let permit = slot(&s).await?;
    let backend = s.backend.clone();
    if !body.stream {
        let answer = blocking(&s, move || {
            let _permit = permit;
            ask_caught(backend.as_ref(), &body.question, &options, &mut |_| {})
        })
        .await??;
        return Ok(Json(answer).into_response());
    }
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    let timeout = s.config.request_timeout;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let deadline = Instant::now() + timeout;
        let send = |event: Event| send_until(&tx, event, deadline);
        let result = ask_caught(backend.as_ref(), &body.question, &options, &mut |e| {
            if Instant::now() > deadline {
                return;
            }
            let event = match e {
                AskEvent::Sources(sources) => Event::default()
                    .event("sources")
                    .json_data(sources)
                    .expect("sources serialise"),
                AskEvent::Token(t) => Event::default()
                    .event("token")
                    .json_data(json!({ "text": t }))
                    .expect("token serialises"),
            };
            let _ = send(event);
        });
        let last = match result {
            Ok(answer) => Event::default()
                .event("done")
                .json_data(&answer)
                .expect("answer serialises"),
            Err(e) => Event::default()
                .event("error")
                .json_data(json!({"error": {"message": e.message, "status": e.status.as_u16()}}))
                .expect("error serialises"),
        };
        let _ = send(last);
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[derive(Deserialize)]
struct ChatBody {
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
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// Chat request fields this server acts on; any other is reported as ignored.
const CHAT_FIELDS: &[&str] = &[
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
const MAX_ANSWER_TOKENS: u64 = 32_768;

#[derive(Deserialize)]
struct ChatMessageIn {
    role: String,
    content: Value,
}

fn content_text(v: &Value) -> String {
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
fn with_sources(answer: &Answer) -> String {
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
fn chat_options(
    s: &AppState,
    raw: &serde_json::Map<String, Value>,
    body: &ChatBody,
) -> Result<(AskOptions, Vec<String>), ApiError> {
    let mut options = s.config.ask.clone();
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

fn usage_json(answer: &Answer) -> Value {
    let prompt = answer
        .usage
        .backend_prompt_tokens
        .unwrap_or(answer.usage.prompt_tokens);
    let completion = answer.usage.completion_tokens.unwrap_or(0);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion
    })
}

async fn chat(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
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
        let (question, answer) = blocking(&s, move || {
            let _permit = permit;
            let question = standalone(backend.as_ref());
            let answer = ask_caught(backend.as_ref(), &question, &options, &mut |_| {});
            (question, answer)
        })
        .await?;
        let answer = answer?;
        return Ok(with_ignored(
            Json(json!({
                "id": id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": with_sources(&answer)},
                    "finish_reason": if answer.truncated { "length" } else { "stop" }
                }],
                "usage": usage_json(&answer),
                "citations": answer.citations,
                "wikirag": {
                    "question": question,
                    "abstained": answer.abstained,
                    "uncited": answer.uncited,
                    "truncated": answer.truncated,
                    "ignored": ignored,
                },
            }))
            .into_response(),
        ));
    }
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    let deadline = Instant::now() + s.config.request_timeout;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // With `include_usage`, every chunk carries `"usage": null` and a last chunk with no
        // choices carries the counts (as OpenAI streams them).
        let chunk = |delta: Value, finish: Option<&str>| {
            let mut v = json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
            });
            if include_usage {
                v["usage"] = Value::Null;
            }
            Event::default().data(v.to_string())
        };
        let send = |e: Event| {
            send_until(&tx, e, deadline);
        };
        send(chunk(json!({"role": "assistant", "content": ""}), None));
        let result = wikirag_core::catch_panic(|| standalone(backend.as_ref()))
            .map_err(|m| ApiError::internal("follow-up rewrite panicked", &m))
            .and_then(|question| {
                ask_caught(backend.as_ref(), &question, &options, &mut |e| {
                    if let AskEvent::Token(t) = e {
                        send(chunk(json!({ "content": t }), None));
                    }
                })
            });
        match result {
            Ok(answer) => {
                let sources = with_sources(&answer);
                let tail = sources.strip_prefix(&answer.answer).unwrap_or("");
                if !tail.is_empty() {
                    send(chunk(json!({ "content": tail }), None));
                }
                let finish = if answer.truncated { "length" } else { "stop" };
                send(chunk(json!({}), Some(finish)));
                if include_usage {
                    send(
                        Event::default().data(
                            json!({
                                "id": id, "object": "chat.completion.chunk", "created": created,
                                "model": model, "choices": [], "usage": usage_json(&answer)
                            })
                            .to_string(),
                        ),
                    );
                }
            }
            Err(e) => {
                send(Event::default().data(
                    json!({"error": {"message": e.message, "type": "server_error"}}).to_string(),
                ));
            }
        }
        send(Event::default().data("[DONE]"));
    });
    Ok(with_ignored(
        Sse::new(ReceiverStream::new(rx)).into_response(),
    ))
}

/// Sends a stream event unless the client has gone or stopped reading past `deadline`: a
/// client that never reads must not hold a slot forever (a blocking send would wait for it).
fn send_until(
    tx: &mpsc::Sender<Result<Event, Infallible>>,
    event: Event,
    deadline: Instant,
) -> bool {
    let mut event = Ok(event);
    loop {
        match tx.try_send(event) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(back)) => {
                if Instant::now() >= deadline {
                    tracing::warn!("a stream's client stopped reading: the rest is dropped");
                    return false;
                }
                event = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
