//! A client for OpenAI-compatible chat-completions servers: OpenAI, Azure OpenAI (deployment
//! and api-version), Ollama, llama.cpp's server, vLLM. Blocking (the pipeline runs on a worker
//! thread), streaming over server-sent events, retries with backoff on 429 and 5xx.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::time::Duration;
use wikirag_core::{Completion, Llm, LlmError, LlmRequest};

/// Azure OpenAI addressing.
#[derive(Clone, Debug)]
pub struct Azure {
    pub deployment: String,
    pub api_version: String,
}

/// How to reach the server.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1` (Ollama),
    /// `http://localhost:8080/v1` (llama.cpp), or the Azure resource URL.
    pub base_url: String,
    pub model: String,
    /// Read from an environment variable by the caller; never logged or printed.
    pub api_key: Option<String>,
    pub azure: Option<Azure>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Retries after 429 / 5xx / connection errors.
    pub max_retries: u32,
    /// First backoff; doubles each retry (a Retry-After header wins, up to 30 s).
    pub backoff: Duration,
    /// The model's context window in tokens.
    pub context_window: usize,
    pub stream: bool,
    /// The model's tokenizer, for exact token counts (else a conservative estimate).
    pub tokenizer: Option<tokenizers::Tokenizer>,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("azure", &self.azure)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("context_window", &self.context_window)
            .field("stream", &self.stream)
            .finish()
    }
}

impl OpenAiConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            azure: None,
            timeout: Duration::from_secs(120),
            max_retries: 4,
            backoff: Duration::from_millis(500),
            context_window: 8192,
            stream: true,
            tokenizer: None,
        }
    }
}

/// The client.
pub struct OpenAi {
    config: OpenAiConfig,
    agent: ureq::Agent,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.config.fmt(f)
    }
}

impl OpenAi {
    pub fn new(config: OpenAiConfig) -> OpenAi {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        OpenAi { config, agent }
    }

    fn url(&self) -> String {
        let base = self.config.base_url.trim_end_matches('/');
        match &self.config.azure {
            Some(az) => format!(
                "{base}/openai/deployments/{}/chat/completions?api-version={}",
                az.deployment, az.api_version
            ),
            None => format!("{base}/chat/completions"),
        }
    }

    fn body(&self, request: &LlmRequest) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": self.config.stream,
        });
        if self.config.azure.is_some() {
            body.as_object_mut().map(|o| o.remove("model"));
        }
        body
    }

    fn send(&self, body: &Value) -> Result<ureq::http::Response<ureq::Body>, LlmError> {
        let mut req = self.agent.post(&self.url());
        if let Some(key) = &self.config.api_key {
            req = if self.config.azure.is_some() {
                req.header("api-key", key)
            } else {
                req.header("Authorization", &format!("Bearer {key}"))
            };
        }
        req.send_json(body).map_err(|e| match e {
            ureq::Error::Timeout(_) => LlmError::Timeout(self.config.timeout),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                LlmError::Timeout(self.config.timeout)
            }
            other => LlmError::Unavailable(format!("{}: {other}", self.config.base_url)),
        })
    }
}

/// The error message of an OpenAI-style error body, or the body itself (shortened).
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("message"))
                .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
        })
        .unwrap_or_else(|| body.chars().take(300).collect())
}

fn is_context_length(status: u16, body: &str) -> bool {
    if !(status == 400 || status == 413 || status == 422) {
        return false;
    }
    let b = body.to_lowercase();
    b.contains("context_length_exceeded")
        || b.contains("context length")
        || b.contains("maximum context")
        || b.contains("context size")
        || b.contains("context window")
        || b.contains("too many tokens")
        || (b.contains("prompt") && b.contains("too long"))
}

fn retry_after(resp: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let secs: f64 = resp
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs_f64(secs.clamp(0.0, 30.0)))
}

impl Llm for OpenAi {
    fn name(&self) -> String {
        format!("openai:{}", self.config.model)
    }

    fn context_window(&self) -> usize {
        self.config.context_window
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        let tok = self.config.tokenizer.as_ref()?;
        tok.encode_fast(text, false).ok().map(|e| e.len())
    }

    fn complete(
        &self,
        request: &LlmRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion, LlmError> {
        let body = self.body(request);
        let mut attempt = 0;
        loop {
            let wait = self.config.backoff * 2u32.saturating_pow(attempt);
            let resp = match self.send(&body) {
                Ok(r) => r,
                Err(LlmError::Unavailable(m)) if attempt < self.config.max_retries => {
                    tracing::warn!(attempt, "LLM server unreachable, retrying: {m}");
                    std::thread::sleep(wait);
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = resp.status().as_u16();
            if status == 429 || status >= 500 {
                let pause = retry_after(&resp).unwrap_or(wait);
                let text = resp.into_body().read_to_string().unwrap_or_default();
                if attempt < self.config.max_retries {
                    tracing::warn!(status, attempt, ?pause, "LLM server busy, retrying");
                    std::thread::sleep(pause);
                    attempt += 1;
                    continue;
                }
                return Err(LlmError::Unavailable(format!(
                    "HTTP {status} after {} attempts: {}",
                    attempt + 1,
                    error_message(&text)
                )));
            }
            if status >= 400 {
                let text = resp.into_body().read_to_string().unwrap_or_default();
                let message = format!("HTTP {status}: {}", error_message(&text));
                return Err(if is_context_length(status, &text) {
                    LlmError::ContextLength(message)
                } else {
                    LlmError::Other(message)
                });
            }
            let streamed = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            return if streamed {
                read_stream(resp, on_token, self.config.timeout)
            } else {
                let text = resp
                    .into_body()
                    .read_to_string()
                    .map_err(|e| LlmError::Other(format!("reading the response: {e}")))?;
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| LlmError::Other(format!("bad JSON from the server: {e}")))?;
                let content = v
                    .pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        LlmError::Other(format!(
                            "no choices[0].message.content in {}",
                            error_message(&text)
                        ))
                    })?
                    .to_string();
                on_token(&content);
                Ok(Completion {
                    text: content,
                    prompt_tokens: usage(&v, "prompt_tokens"),
                    completion_tokens: usage(&v, "completion_tokens"),
                    finish_reason: v
                        .pointer("/choices/0/finish_reason")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
            };
        }
    }
}

fn usage(v: &Value, key: &str) -> Option<usize> {
    v.get("usage")?.get(key)?.as_u64().map(|n| n as usize)
}

fn read_stream(
    resp: ureq::http::Response<ureq::Body>,
    on_token: &mut dyn FnMut(&str),
    timeout: Duration,
) -> Result<Completion, LlmError> {
    let reader = BufReader::new(resp.into_body().into_reader());
    let mut completion = Completion::default();
    for line in reader.lines() {
        let line = line.map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                LlmError::Timeout(timeout)
            } else {
                LlmError::Other(format!("reading the stream: {e}"))
            }
        })?;
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let data = data.trim();
        if data == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| LlmError::Other(format!("bad event in the stream: {e}")))?;
        if let Some(err) = v.get("error") {
            return Err(LlmError::Other(format!("error in the stream: {err}")));
        }
        if let Some(piece) = v
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
        {
            on_token(piece);
            completion.text.push_str(piece);
        }
        if let Some(reason) = v
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
        {
            completion.finish_reason = Some(reason.to_string());
        }
        if v.get("usage").is_some_and(|u| !u.is_null()) {
            completion.prompt_tokens = usage(&v, "prompt_tokens");
            completion.completion_tokens = usage(&v, "completion_tokens");
        }
    }
    Ok(completion)
}
