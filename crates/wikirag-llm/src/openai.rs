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

    /// Asks the server for its context window (llama.cpp `/props`, vLLM `/v1/models`, Ollama
    /// `/api/show`) and
    /// budgets prompts to it; keeps the configured window when the server reports none.
    pub fn with_server_window(mut self) -> OpenAi {
        let probe: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        match server_window(
            &probe,
            &self.config.base_url,
            &self.config.model,
            self.config.api_key.as_deref(),
        ) {
            Some(n) => {
                tracing::info!(window = n, "context window reported by the server");
                self.config.context_window = n;
            }
            None => tracing::debug!(
                window = self.config.context_window,
                "the server reports no context window; keeping the configured one"
            ),
        }
        self
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
                read_stream(resp, on_token, self.config.timeout, &request.stop)
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
                    ..Completion::default()
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
    stop: &wikirag_core::StopFlag,
) -> Result<Completion, LlmError> {
    let reader = BufReader::new(resp.into_body().into_reader());
    let mut completion = Completion::default();
    let (mut events, mut done) = (0usize, false);
    for line in reader.lines() {
        if stop.is_stopped() {
            // Dropping the response closes the connection: the server stops generating.
            completion.finish_reason = Some("cancelled".into());
            return Ok(completion);
        }
        let line = match line {
            Ok(line) => line,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(LlmError::Timeout(timeout));
            }
            // llama-cpp-python also drops the connection before the first event when the
            // prompt exceeds its window ("Requested tokens … exceed context window").
            Err(e) if events == 0 => {
                return Err(LlmError::ContextLength(format!(
                    "the server closed the stream before any event ({e}); llama.cpp does this \
                     when the prompt exceeds its context window"
                )));
            }
            Err(e) => return Err(LlmError::Other(format!("reading the stream: {e}"))),
        };
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let data = data.trim();
        if data == "[DONE]" {
            done = true;
            break;
        }
        events += 1;
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
    // A stream is complete with `[DONE]` or a finish reason. llama.cpp's server (through
    // llama-cpp-python) answers a prompt longer than its window with HTTP 200 and an empty
    // stream: that is a context-length failure (the pipeline retries with less evidence),
    // never an empty answer.
    if !done && completion.finish_reason.is_none() {
        return Err(if events == 0 {
            LlmError::ContextLength(
                "the server closed the stream without a single event (llama.cpp does this \
                 when the prompt exceeds its context window)"
                    .into(),
            )
        } else {
            LlmError::Other(format!(
                "the stream ended after {events} events without [DONE] or a finish reason"
            ))
        });
    }
    Ok(completion)
}

/// The context window a server reports for `model`: llama.cpp's `/props`
/// (`default_generation_settings.n_ctx`), vLLM's `/v1/models` (`max_model_len`), or Ollama's
/// `/api/show` (`num_ctx`, else the model's length capped at Ollama's default).
/// `None` when it reports none (OpenAI, llama-cpp-python) or cannot be reached.
pub(crate) fn server_window(
    agent: &ureq::Agent,
    base_url: &str,
    model: &str,
    api_key: Option<&str>,
) -> Option<usize> {
    let base = base_url.trim_end_matches('/');
    let root = base.strip_suffix("/v1").unwrap_or(base);
    let get = |url: &str| -> Option<Value> {
        let mut req = agent.get(url);
        if let Some(key) = api_key {
            req = req.header("Authorization", &format!("Bearer {key}"));
        }
        let resp = req.call().ok()?;
        if resp.status().as_u16() != 200 {
            return None;
        }
        serde_json::from_str(&resp.into_body().read_to_string().ok()?).ok()
    };
    let positive = |v: Option<&Value>| v.and_then(Value::as_u64).filter(|&n| n > 0);
    if let Some(props) = get(&format!("{root}/props"))
        && let Some(n) = positive(props.pointer("/default_generation_settings/n_ctx"))
            .or_else(|| positive(props.get("n_ctx")))
    {
        return Some(n as usize);
    }
    if let Some(models) = get(&format!("{base}/models"))
        && let Some(list) = models.get("data").and_then(Value::as_array)
        && let Some(entry) = list
            .iter()
            .find(|m| m.get("id").and_then(Value::as_str) == Some(model))
            .or(list.first())
        && let Some(n) = positive(entry.get("max_model_len"))
    {
        return Some(n as usize);
    }
    // Ollama: `POST /api/show`. Its OpenAI endpoint runs with the model's `num_ctx` parameter
    // when one is set, else with Ollama's own default, and cuts a longer prompt silently: the
    // window is that parameter, else the smaller of the model's length and 2048 (the default
    // of most releases; newer ones use more, and a smaller budget is only safe).
    let mut req = agent.post(&format!("{root}/api/show"));
    if let Some(key) = api_key {
        req = req.header("Authorization", &format!("Bearer {key}"));
    }
    let resp = req
        .header("Content-Type", "application/json")
        .send(serde_json::json!({ "model": model }).to_string())
        .ok()?;
    if resp.status().as_u16() != 200 {
        return None;
    }
    let show: Value = serde_json::from_str(&resp.into_body().read_to_string().ok()?).ok()?;
    let num_ctx = show
        .get("parameters")
        .and_then(Value::as_str)
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some("num_ctx")).then(|| parts.next()?.parse::<usize>().ok())?
            })
        })
        .filter(|&n| n > 0);
    if num_ctx.is_some() {
        return num_ctx;
    }
    let trained = show
        .get("model_info")
        .and_then(Value::as_object)
        .and_then(|info| {
            info.iter()
                .find(|(k, _)| k.ends_with(".context_length"))
                .and_then(|(_, v)| positive(Some(v)))
        })?;
    Some((trained as usize).min(OLLAMA_DEFAULT_NUM_CTX))
}

/// The context Ollama gives a model with no `num_ctx` parameter (most releases).
const OLLAMA_DEFAULT_NUM_CTX: usize = 2048;
