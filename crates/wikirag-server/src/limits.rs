//! What every request goes through: the bearer key, a slot in the bounded queue, the body
//! limit, the time limit, and the bounds of `k` and of the texts.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::Event;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::error::{ApiError, rag_error};
use crate::{AppState, Backend, Shared};
use wikirag_rag::{Answer, AskEvent, AskOptions};

/// The bearer key check of every API route, as a layer: a request without the key is
/// answered 401 before its body is read or a slot is taken.
pub(crate) async fn require_key(
    State(s): State<Shared>,
    request: Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    authorize(&s, request.headers())?;
    Ok(next.run(request).await)
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

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A slot to serve a request in: at once when one is free, else after waiting in a bounded
/// queue (tokio's semaphore is fair: first come, first served).
pub(crate) async fn slot(s: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
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
pub(crate) struct Body(Result<Bytes, ApiError>);

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

pub(crate) fn parse<T: for<'de> Deserialize<'de>>(body: Body) -> Result<T, ApiError> {
    let body = body.0?;
    serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))
}

/// Runs blocking work with the request's time limit.
pub(crate) async fn blocking<T: Send + 'static>(
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

pub(crate) fn check_k(s: &AppState, k: Option<usize>, default: usize) -> Result<usize, ApiError> {
    let k = k.unwrap_or(default);
    if k == 0 || k > s.config.max_k {
        return Err(ApiError::bad(format!(
            "k must be between 1 and {}",
            s.config.max_k
        )));
    }
    Ok(k)
}

pub(crate) fn check_text(s: &AppState, what: &str, text: &str) -> Result<(), ApiError> {
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

/// Sends a stream event unless the client has gone or stopped reading past `deadline`: a
/// client that never reads must not hold a slot forever (a blocking send would wait for it).
pub(crate) fn send_until(
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

/// Stops a request's pipeline when dropped, however its handler ends — answered, timed out,
/// cancelled, or dropped because its client went away: work nobody will read stops at its next
/// step or token instead of holding a slot (and a model) to the end.
pub(crate) struct StopOnDrop(pub(crate) wikirag_core::StopFlag);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Runs `ask`, turning a panic into an error the client is told about (a stream that has begun
/// cannot change its status: it ends with an `error` event instead of ending silently).
pub(crate) fn ask_caught(
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
