//! The Model Context Protocol face (the official Rust SDK, `rmcp`): three read-only tools,
//! `search`, `fetch` and `ask`, over the served index — on stdio ([`serve_stdio`]) and as
//! streamable HTTP at `/mcp` of the router (behind the same key, limits and slots as `/v1/*`).
//!
//! `search` and `fetch` follow the search/fetch contract ChatGPT connectors and deep-research
//! agents expect: `search` → `{results: [{id, title, url, …}]}`, `fetch` →
//! `{id, title, text, url, metadata}`, each as `structuredContent` and as its JSON text.
//! Parameters are plain JSON Schema (no unions, no `anyOf`: some clients refuse them). Bad
//! input is a tool error (`isError`) that says what was wrong; the session goes on.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, JsonObject, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ServerCapabilities, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wikirag_core::{Mode, SearchRequest};
use wikirag_rag::AskEvent;

use crate::limits::{StopOnDrop, ask_caught, blocking, slot};
use crate::lookup::{self, FetchError, SCOPES, Scope};
use crate::{AppState, Shared};

/// The MCP server: one per session (cheap: the state is shared).
#[derive(Clone)]
pub struct WikiTools {
    state: Shared,
}

impl WikiTools {
    pub(crate) fn new(state: Shared) -> WikiTools {
        WikiTools { state }
    }
}

const INSTRUCTIONS: &str = "Offline Wikipedia. `search` finds sentences (each with an id and a link that lands on it); `fetch` reads a result again by its id with its section or whole article; `ask` answers a question with numbered citations. Cite the url of what you use.";

/// The tools, with the schemas of their parameters and results.
fn tools(s: &AppState) -> Vec<Tool> {
    let modes: Vec<&str> = s.backend.modes().iter().map(|m| m.name()).collect();
    let mut search_props = json!({
        "query": {"type": "string", "minLength": 1, "description": "What to look for: a question or keywords, in the index's language."},
        "k": {"type": "integer", "minimum": 1, "maximum": s.config.max_k, "default": 10, "description": "How many sentences to return."},
    });
    if !modes.is_empty() {
        search_props["mode"] = json!({"type": "string", "enum": modes, "description": "Which retriever ranks: hybrid (both, the default), dense (meaning) or bm25 (words)."});
    }
    let result_item = json!({
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "url": {"type": "string"},
            "text": {"type": "string"}, "section": {"type": "string"}, "score": {"type": "number"},
        },
        "required": ["id", "title", "url", "text", "section", "score"],
    });
    let read_only = |title: &str| {
        ToolAnnotations::with_title(title)
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false)
    };
    vec![
        Tool::new(
            "search",
            "Search the offline Wikipedia index. Returns sentences, best first, each with a stable id (for fetch), the article title, its section, a url that opens the indexed revision scrolled to the sentence, and a score.",
            schema(json!({
                "type": "object",
                "properties": search_props,
                "required": ["query"],
                "additionalProperties": false,
            })),
        )
        .with_title("Search Wikipedia")
        .with_raw_output_schema(schema(json!({
            "type": "object",
            "properties": {"results": {"type": "array", "items": result_item}},
            "required": ["results"],
        })))
        .annotate(read_only("Search Wikipedia")),
        Tool::new(
            "fetch",
            "Read a search result again by its id: the sentence with its neighbours, its section (the default) or the whole article, with the url that lands on the sentence.",
            schema(json!({
                "type": "object",
                "properties": {
                    "id": {"type": "string", "minLength": 1, "description": "An id from search, like \"12345:6\"."},
                    "scope": {"type": "string", "enum": SCOPES, "default": "section", "description": "sentence (with `context` neighbours), section, or article."},
                    "context": {"type": "integer", "minimum": 0, "maximum": 10, "default": 2, "description": "Neighbouring sentences on each side, for scope sentence."},
                },
                "required": ["id"],
                "additionalProperties": false,
            })),
        )
        .with_title("Read a Wikipedia passage")
        .with_raw_output_schema(schema(json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"}, "title": {"type": "string"}, "text": {"type": "string"},
                "url": {"type": "string"}, "metadata": {"type": "object"},
            },
            "required": ["id", "title", "text", "url", "metadata"],
        })))
        .annotate(read_only("Read a Wikipedia passage")),
        Tool::new(
            "ask",
            "Answer a question from the offline Wikipedia index, citing the sentences it rests on as [1], [2]… Each citation has the id, title and a url that lands on the sentence. `abstained` is true when the sources do not answer.",
            schema(json!({
                "type": "object",
                "properties": {
                    "question": {"type": "string", "minLength": 1, "maxLength": s.config.max_question_chars, "description": "The question, in the index's language."},
                },
                "required": ["question"],
                "additionalProperties": false,
            })),
        )
        .with_title("Ask Wikipedia")
        .with_raw_output_schema(schema(json!({
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "citations": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "n": {"type": "integer"}, "id": {"type": "string"}, "title": {"type": "string"},
                        "url": {"type": "string"}, "text": {"type": "string"}, "section": {"type": "string"},
                    },
                    "required": ["n", "id", "title", "url", "text", "section"],
                }},
                "abstained": {"type": "boolean"},
                "uncited": {"type": "boolean"},
                "truncated": {"type": "boolean"},
                "backend": {"type": "string"},
            },
            "required": ["answer", "citations", "abstained", "uncited", "truncated", "backend"],
        })))
        .annotate(read_only("Ask Wikipedia").idempotent(false)),
    ]
}

fn schema(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("schemas are objects"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    k: Option<usize>,
    mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchArgs {
    id: String,
    scope: Option<String>,
    context: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskArgs {
    question: String,
}

/// A tool's failure as the model reads it: `isError` with the reason.
fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn args<T: for<'de> Deserialize<'de>>(
    tool: &str,
    arguments: Option<JsonObject>,
) -> Result<T, CallToolResult> {
    serde_json::from_value(Value::Object(arguments.unwrap_or_default()))
        .map_err(|e| tool_error(format!("{tool}: invalid arguments: {e}")))
}

fn check_text(s: &AppState, what: &str, text: &str) -> Result<(), CallToolResult> {
    crate::limits::check_text(s, what, text).map_err(|e| tool_error(e.message))
}

impl WikiTools {
    async fn search(&self, a: SearchArgs) -> Result<CallToolResult, CallToolResult> {
        let s = &self.state;
        check_text(s, "query", &a.query)?;
        let k = crate::limits::check_k(s, a.k, 10).map_err(|e| tool_error(e.message))?;
        let mode = match a.mode.as_deref() {
            None => None,
            Some(m) => {
                let offered = s.backend.modes();
                match m.parse::<Mode>() {
                    Ok(mode) if offered.contains(&mode) => Some(mode),
                    _ => {
                        let names: Vec<&str> = offered.iter().map(|m| m.name()).collect();
                        return Err(tool_error(if names.is_empty() {
                            "this server searches one way only: leave mode out".to_string()
                        } else {
                            format!("unknown mode {m:?}: one of {}", names.join(", "))
                        }));
                    }
                }
            }
        };
        let request = SearchRequest {
            query: a.query,
            k,
            context: 0,
            per_page: 3,
        };
        let permit = slot(s).await.map_err(|e| tool_error(e.message))?;
        let backend = s.backend.clone();
        let results = blocking(s, move || {
            let _permit = permit;
            let hits = backend.search_as(&request, mode)?;
            Ok::<_, wikirag_core::BoxError>(lookup::found(backend.as_ref(), hits))
        })
        .await
        .map_err(|e| tool_error(e.message))?
        .map_err(|e| internal("search", &*e))?;
        Ok(CallToolResult::structured(json!({ "results": results })))
    }

    async fn fetch(&self, a: FetchArgs) -> Result<CallToolResult, CallToolResult> {
        let s = &self.state;
        let scope = match a.scope.as_deref() {
            None => Scope::Section,
            Some(name) => serde_json::from_value(json!(name)).map_err(|_| {
                tool_error(format!(
                    "unknown scope {name:?}: one of {}",
                    SCOPES.join(", ")
                ))
            })?,
        };
        let context = a.context.unwrap_or(2);
        if context > 10 {
            return Err(tool_error("context must be between 0 and 10"));
        }
        lookup::parse_id(&a.id).map_err(tool_error)?;
        let permit = slot(s).await.map_err(|e| tool_error(e.message))?;
        let backend = s.backend.clone();
        let fetched = blocking(s, move || {
            let _permit = permit;
            lookup::fetch(backend.as_ref(), &a.id, scope, context)
        })
        .await
        .map_err(|e| tool_error(e.message))?;
        match fetched {
            Ok(doc) => Ok(CallToolResult::structured(doc)),
            Err(FetchError::Bad(message)) => Err(tool_error(message)),
            Err(FetchError::Internal(e)) => Err(internal("fetch", &*e)),
        }
    }

    async fn ask(
        &self,
        a: AskArgs,
        context: &RequestContext<RoleServer>,
        progress_token: Option<rmcp::model::ProgressToken>,
    ) -> Result<CallToolResult, CallToolResult> {
        let s = &self.state;
        check_text(s, "question", &a.question)?;
        let mut options = s.ask_options();
        options.max_question_chars = s.config.max_question_chars;
        // Set however this call ends (cancelled, timed out, answered): the model stops.
        let _stop = StopOnDrop(options.stop.clone());
        let permit = slot(s).await.map_err(|e| tool_error(e.message))?;
        let backend = s.backend.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(f64, Option<String>)>();
        let work = blocking(s, move || {
            let _permit = permit;
            let mut tokens = 0usize;
            let mut last = Instant::now();
            ask_caught(backend.as_ref(), &a.question, &options, &mut |e| match e {
                AskEvent::Sources(sources) => {
                    let _ = tx.send((1.0, Some(format!("{} sources found", sources.len()))));
                }
                AskEvent::Token(_) => {
                    tokens += 1;
                    // At most five a second: a notification per token would flood stdio.
                    if last.elapsed() >= Duration::from_millis(200) {
                        last = Instant::now();
                        let _ = tx.send((1.0 + tokens as f64, None));
                    }
                }
            })
        });
        tokio::pin!(work);
        let answer = loop {
            tokio::select! {
                done = &mut work => break done.map_err(|e| tool_error(e.message))?,
                Some((progress, message)) = rx.recv() => {
                    if let Some(token) = &progress_token {
                        let mut p = ProgressNotificationParam::new(token.clone(), progress);
                        p.message = message;
                        let _ = context.peer.notify_progress(p).await;
                    }
                }
                () = context.ct.cancelled() => {
                    // `_stop` stops the pipeline at its next step (or token); nothing is answered.
                    tracing::debug!("ask cancelled by the client");
                    return Err(tool_error("cancelled"));
                }
            }
        };
        // What the pipeline reported before it finished still goes out, before the result.
        while let Ok((progress, message)) = rx.try_recv() {
            if let Some(token) = &progress_token {
                let mut p = ProgressNotificationParam::new(token.clone(), progress);
                p.message = message;
                let _ = context.peer.notify_progress(p).await;
            }
        }
        let answer = answer.map_err(|e| tool_error(e.message))?;
        let citations: Vec<Value> = answer
            .citations
            .iter()
            .map(|c| {
                json!({
                    "n": c.n, "id": format!("{}:{}", c.page_id, c.sentence), "title": c.title, "section": c.section, "text": c.text,
                    "url": if c.link.is_empty() { &c.url } else { &c.link },
                })
            })
            .collect();
        Ok(CallToolResult::structured(json!({
            "answer": answer.answer,
            "citations": citations,
            "abstained": answer.abstained,
            "uncited": answer.uncited,
            "truncated": answer.truncated,
            "backend": answer.backend,
        })))
    }
}

fn internal(what: &str, e: &dyn std::fmt::Display) -> CallToolResult {
    tracing::error!("mcp {what}: {e}");
    tool_error(format!(
        "{what} failed: internal error (see the server log)"
    ))
}

impl ServerHandler for WikiTools {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("wikirag", env!("CARGO_PKG_VERSION"))
                    .with_title("wikirag: offline Wikipedia with cited sentences"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools(&self.state)))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools(&self.state).into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // The SDK moves the request's `_meta` into the context.
        let progress_token = context
            .meta
            .get_progress_token()
            .or_else(|| request.meta.as_ref().and_then(|m| m.get_progress_token()));
        let result = match &*request.name {
            "search" => match args("search", request.arguments) {
                Ok(a) => self.search(a).await,
                Err(e) => Err(e),
            },
            "fetch" => match args("fetch", request.arguments) {
                Ok(a) => self.fetch(a).await,
                Err(e) => Err(e),
            },
            "ask" => match args("ask", request.arguments) {
                Ok(a) => self.ask(a, &context, progress_token).await,
                Err(e) => Err(e),
            },
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other:?} (search, fetch, ask)"),
                    None,
                ));
            }
        };
        Ok(result.unwrap_or_else(|e| e).into())
    }
}

/// Serves the tools over stdin/stdout until the client closes them: only protocol on
/// stdout (logs go to stderr through `tracing`).
pub async fn serve_stdio(
    backend: Arc<dyn crate::Backend>,
    config: crate::ServerConfig,
) -> Result<(), std::io::Error> {
    use rmcp::ServiceExt;
    let server = WikiTools::new(crate::state(backend, config));
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| std::io::Error::other(format!("MCP session did not start: {e}")))?;
    running
        .waiting()
        .await
        .map_err(|e| std::io::Error::other(format!("MCP session: {e}")))?;
    Ok(())
}
