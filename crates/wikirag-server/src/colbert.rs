//! `GET`/`POST /v1/colbert`: the wire format of a ColBERTv2 server, so DSPy's retriever
//! (`dspy.ColBERTv2(url=…)`, and `dspy.Retrieve` configured with it) searches a local
//! Wikipedia unchanged.
//!
//! Request: `query` and `k` (`k ≤ max_k`, 100 by default, as the hosted server allowed), in
//! the query string (`GET`, DSPy's default) or a JSON body (`POST`, DSPy's
//! `post_requests=True`). Answer: `{"query", "topk": [{"text", "pid", "rank", "score",
//! "prob", "long_text", …}]}`, each passage `"Title | text"` as in DSPy's Wikipedia abstracts,
//! the text being the found sentence with a neighbour on each side. Errors are
//! `{"error": true, "message"}` with a 4xx/5xx status (DSPy raises on the status).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wikirag_core::SearchRequest;

use crate::error::ApiError;
use crate::limits::{Body, blocking, check_k, check_text, parse, slot};
use crate::{Shared, lookup};

#[derive(Deserialize)]
pub(crate) struct ColbertQuery {
    #[serde(default)]
    query: String,
    /// A number in either form: DSPy sends it as a query-string string or a JSON number.
    #[serde(default)]
    k: Option<serde_json::Value>,
}

/// A passage in ColBERT's shape, with wikirag's own fields beside.
#[derive(Serialize)]
struct Passage {
    text: String,
    long_text: String,
    pid: String,
    rank: usize,
    score: f32,
    prob: f64,
    title: String,
    url: String,
    sentence: String,
}

/// ColBERT's error body, with the status the error deserves.
struct ColbertError(ApiError);

impl IntoResponse for ColbertError {
    fn into_response(self) -> Response {
        let status = self.0.status;
        let mut r = (
            status,
            Json(json!({"error": true, "message": self.0.message})),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        r
    }
}

pub(crate) async fn get(
    State(s): State<Shared>,
    query: Result<Query<ColbertQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(Query(q)) => answer(s, q).await,
        Err(e) => ColbertError(ApiError::bad(format!("bad query string: {e}"))).into_response(),
    }
}

pub(crate) async fn post(State(s): State<Shared>, body: Body) -> Response {
    match parse::<ColbertQuery>(body) {
        Ok(q) => answer(s, q).await,
        Err(e) => ColbertError(e).into_response(),
    }
}

fn k_of(v: Option<&serde_json::Value>) -> Result<Option<usize>, ApiError> {
    let bad = || ApiError::bad("k must be a whole number");
    match v {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|k| Some(k as usize)).ok_or_else(bad),
        Some(serde_json::Value::String(t)) => t.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

async fn answer(s: Shared, q: ColbertQuery) -> Response {
    match topk(s, q).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => ColbertError(e).into_response(),
    }
}

async fn topk(s: Shared, q: ColbertQuery) -> Result<serde_json::Value, ApiError> {
    check_text(&s, "query", &q.query)?;
    let k = check_k(&s, k_of(q.k.as_ref())?, 10)?;
    let request = SearchRequest {
        query: q.query.clone(),
        k,
        context: 1,
        per_page: 3,
    };
    let permit = slot(&s).await?;
    let backend = s.backend.clone();
    let hits = blocking(&s, move || {
        let _permit = permit;
        let hits = backend.search(&request)?;
        let links = lookup::links(backend.as_ref(), &hits);
        Ok::<_, wikirag_core::BoxError>((hits, links))
    })
    .await?
    .map_err(|e| ApiError::internal("colbert search", &e))?;
    let (hits, links) = hits;
    // ColBERT's server: a softmax over the scores of the top k.
    let top = hits.iter().map(|h| h.score).fold(f32::MIN, f32::max);
    let weights: Vec<f64> = hits
        .iter()
        .map(|h| f64::from(h.score - top).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let topk: Vec<Passage> = hits
        .into_iter()
        .zip(links)
        .zip(weights)
        .enumerate()
        .map(|(i, ((h, link), w))| {
            let mut passage: Vec<&str> = h.before.iter().map(String::as_str).collect();
            passage.push(&h.text);
            passage.extend(h.after.iter().map(String::as_str));
            let text = format!("{} | {}", h.title, passage.join(" "));
            Passage {
                long_text: text.clone(),
                text,
                pid: lookup::id_of(&h),
                rank: i + 1,
                score: h.score,
                prob: w / total,
                url: if link.is_empty() { h.url } else { link },
                title: h.title,
                sentence: h.text,
            }
        })
        .collect();
    Ok(json!({ "query": q.query, "topk": topk }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_comes_as_a_string_or_a_number() {
        assert_eq!(k_of(None).unwrap(), None);
        assert_eq!(k_of(Some(&json!(7))).unwrap(), Some(7));
        assert_eq!(k_of(Some(&json!("12"))).unwrap(), Some(12));
        for bad in [json!(-1), json!(2.5), json!("ten"), json!([3])] {
            assert!(k_of(Some(&bad)).is_err(), "{bad}");
        }
    }
}
