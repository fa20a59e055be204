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

mod error;
mod limits;
mod listen;
mod openai;
mod page;
mod reload;
mod routes;
mod wire;

pub use error::ApiError;
pub use reload::{RELOAD_SETTLE, Reload, Reloadable, watch_generations};

pub use listen::{ConnectionLimits, serve};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
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
    // The API behind the key (one layer, before any body is read); the page and /health open.
    let api = Router::new()
        .route("/v1/search", post(routes::search))
        .route("/v1/ask", post(routes::ask))
        .route("/v1/chat/completions", post(openai::chat))
        .route("/v1/models", get(openai::models))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::require_key,
        ));
    Router::new()
        .route("/", get(|| async { Html(page::INDEX) }))
        .route("/health", get(routes::health))
        .merge(api)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
