//! The HTTP face of wikirag (axum):
//!
//! - `POST /v1/search` — sentences for a query;
//! - `POST /v1/ask` — a cited answer (`"stream": true`: server-sent events `sources`, `token`,
//!   `done`, `error`);
//! - `POST /v1/chat/completions` — the OpenAI chat format (streaming too), so chat front-ends
//!   can use wikirag as a model that answers from Wikipedia with sources;
//! - `GET /v1/models` — the one model (`wikirag`), as OpenAI clients list it;
//! - `GET`/`POST /v1/colbert` — a ColBERTv2 server's format, for DSPy's retriever;
//! - `/mcp` — the Model Context Protocol's streamable HTTP transport ([`mcp`]);
//! - `GET /health`, and `GET /` — a small web page.
//!
//! Limits: body size, question length, k, a per-request timeout, a time limit on receiving the
//! body, a concurrency limit with a short bounded queue in front (a request waits up to
//! `queue_wait` for a slot; past that, or with the queue full, 503), an optional bearer API key.
//! Bad requests get a 4xx JSON error; internal errors (a panic included) are logged and
//! answered with a generic 500, or an `error` event once a stream has begun. Connections are
//! [`serve`]d with their own limits ([`ConnectionLimits`]).

mod colbert;
mod error;
mod limits;
mod listen;
mod lookup;
pub mod mcp;
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
use wikirag_core::{BoxError, Hit, Mode, Retriever, SearchRequest};
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
    /// The retrievers a search may name ([`Backend::search_as`]); empty when the backend
    /// searches one way only.
    fn modes(&self) -> Vec<Mode> {
        Vec::new()
    }
    /// [`Backend::search`] through one of [`Backend::modes`] (`None`: the served default).
    fn search_as(&self, request: &SearchRequest, mode: Option<Mode>) -> Result<Vec<Hit>, BoxError> {
        match mode {
            None => self.search(request),
            Some(m) => Err(format!("this server does not search by {}", m.name()).into()),
        }
    }
    /// The sentences `0..=last` of a page, numbered ([`Retriever::page_sentences`]).
    fn page_sentences(
        &self,
        page_id: u64,
        last: u32,
    ) -> Result<Option<Vec<(u32, String)>>, BoxError> {
        let _ = (page_id, last);
        Ok(None)
    }
    /// The sentences at `(page_id, ordinal)` as hits ([`Retriever::sentences_at`]).
    fn sentences_at(
        &self,
        positions: &[(u64, u32)],
        context: usize,
    ) -> Result<Option<Vec<Hit>>, BoxError> {
        let _ = (positions, context);
        Ok(None)
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
    fn page_sentences(
        &self,
        page_id: u64,
        last: u32,
    ) -> Result<Option<Vec<(u32, String)>>, BoxError> {
        self.retriever()
            .page_sentences(page_id, last)
            .map_err(|e| Box::new(e) as BoxError)
    }
    fn sentences_at(
        &self,
        positions: &[(u64, u32)],
        context: usize,
    ) -> Result<Option<Vec<Hit>>, BoxError> {
        self.retriever()
            .sentences_at(positions, context)
            .map_err(|e| Box::new(e) as BoxError)
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
    /// `Host` values `/mcp` accepts (DNS rebinding): loopback names by default.
    pub mcp_allowed_hosts: Vec<String>,
    /// Browser `Origin`s `/mcp` accepts (a request without one passes): loopback pages by
    /// default, any other origin is refused 403.
    pub mcp_allowed_origins: Vec<String>,
}

/// The `Host` names `/mcp` accepts unless told otherwise.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// The browser origins `/mcp` accepts unless told otherwise.
pub const LOOPBACK_ORIGINS: [&str; 3] =
    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

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
            mcp_allowed_hosts: LOOPBACK_HOSTS.map(String::from).to_vec(),
            mcp_allowed_origins: LOOPBACK_ORIGINS.map(String::from).to_vec(),
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

impl AppState {
    /// The server's ask options for one request, with a stop flag of its own (a clone would
    /// share the configured one: one cancelled request would stop them all).
    fn ask_options(&self) -> AskOptions {
        AskOptions {
            stop: wikirag_core::StopFlag::new(),
            ..self.config.ask.clone()
        }
    }
}

/// The state every request and MCP session shares.
pub(crate) fn state(backend: Arc<dyn Backend>, config: ServerConfig) -> Shared {
    Arc::new(AppState {
        backend,
        slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
        queued: AtomicUsize::new(0),
        config,
        started: Instant::now(),
    })
}

/// MCP's streamable HTTP transport over `state`: a session per client (older protocol
/// versions), stateless requests for `2026-07-28`; the `Host` and `Origin` checks against DNS
/// rebinding, and the body limit, are the SDK's, set from the server's config.
fn mcp_service(
    state: &Shared,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    mcp::WikiTools,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let c = &state.config;
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(c.mcp_allowed_hosts.clone())
        .with_max_request_body_bytes(c.max_body_bytes)
        // A plain JSON answer where nothing streams before it (2026-07-28 requests; an `ask`
        // that reports progress still streams).
        .with_json_response(true)
        // No priming event before each streamed answer (nothing here is long enough to want
        // resuming after a reconnect; measured: benches/RESULTS.md, "MCP").
        .with_sse_retry(None);
    config = if c.mcp_allowed_origins.is_empty() {
        config.enforce_origin_validation()
    } else {
        config.with_allowed_origins(c.mcp_allowed_origins.clone())
    };
    let shared = state.clone();
    StreamableHttpService::new(
        move || Ok(mcp::WikiTools::new(shared.clone())),
        Default::default(),
        config,
    )
}

/// The router.
pub fn router(backend: Arc<dyn Backend>, config: ServerConfig) -> Router {
    let limit = config.max_body_bytes;
    let state = state(backend, config);
    // The API behind the key (one layer, before any body is read); the page and /health open.
    let api = Router::new()
        .route("/v1/search", post(routes::search))
        .route("/v1/ask", post(routes::ask))
        .route("/v1/chat/completions", post(openai::chat))
        .route("/v1/models", get(openai::models))
        .route("/v1/colbert", get(colbert::get).post(colbert::post))
        .route_service("/mcp", mcp_service(&state))
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
