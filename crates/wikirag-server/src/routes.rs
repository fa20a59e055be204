//! wikirag's own endpoints: `/health`, `/v1/search`, `/v1/ask`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use wikirag_core::SearchRequest;
use wikirag_rag::{AskEvent, AskOptions};

use crate::error::ApiError;
use crate::limits::{
    Body, StopOnDrop, ask_caught, blocking, check_k, check_text, parse, send_until, slot,
};
use crate::{AppState, Integrity, Shared};

pub(crate) async fn health(State(s): State<Shared>) -> (StatusCode, Json<Value>) {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchBody {
    query: String,
    k: Option<usize>,
    context: Option<usize>,
    per_page: Option<usize>,
}

pub(crate) async fn search(State(s): State<Shared>, body: Body) -> Result<Json<Value>, ApiError> {
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
pub(crate) struct AskBody {
    question: String,
    #[serde(default)]
    stream: bool,
    k: Option<usize>,
    per_page: Option<usize>,
    context: Option<usize>,
    max_context_tokens: Option<usize>,
}

pub(crate) fn ask_options(s: &AppState, body: &AskBody) -> Result<AskOptions, ApiError> {
    let mut o = s.ask_options();
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

pub(crate) async fn ask(State(s): State<Shared>, body: Body) -> Result<Response, ApiError> {
    let body: AskBody = parse(body)?;
    check_text(&s, "question", &body.question)?;
    let options = ask_options(&s, &body)?;
    let permit = slot(&s).await?;
    let backend = s.backend.clone();
    if !body.stream {
        let _stop = StopOnDrop(options.stop.clone());
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
        // A client that is gone (or stopped reading) no longer wants the answer: the model
        // stops at its next token.
        let stop = options.stop.clone();
        let send = |event: Event| {
            let sent = send_until(&tx, event, deadline);
            if !sent {
                stop.stop();
            }
            sent
        };
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
