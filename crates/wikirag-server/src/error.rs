//! The error responses of the API: OpenAI's `{"error": {"message", "type"}}` shape.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use wikirag_rag::RagError;

/// A JSON error response: `{"error": {"message", "type"}}` (OpenAI's shape).
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub(crate) fn internal(context: &str, error: &dyn std::fmt::Display) -> ApiError {
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
            Json(crate::wire::ErrorBody {
                error: crate::wire::ErrorDetail {
                    message: &self.message,
                    kind,
                },
            }),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

pub(crate) fn rag_error(e: RagError) -> ApiError {
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
        // Only a request that is gone sets the stop: no client reads this.
        RagError::Cancelled => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "cancelled"),
    }
}
