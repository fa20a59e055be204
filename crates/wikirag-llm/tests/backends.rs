//! The OpenAI-compatible client against an in-process fake server, and the local GGUF backend
//! on a tiny model the test writes.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wikirag_core::{ChatMessage, Llm, LlmError, LlmRequest};
use wikirag_llm::{Azure, LocalConfig, LocalGguf, OpenAi, OpenAiConfig, write_tiny_gguf};

/// What the fake server does for each successive request.
#[derive(Clone, Debug)]
enum Reply {
    Json(&'static str),
    Stream(Vec<&'static str>),
    Status(u16, &'static str),
    Busy(Option<&'static str>),
    Sleep(Duration),
    /// An event-stream body exactly as given.
    Raw(&'static str),
}

/// (URI, Authorization header, api-key header, JSON body) of a request.
type Seen = (String, Option<String>, Option<String>, serde_json::Value);

#[derive(Default)]
struct Fake {
    script: Mutex<Vec<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

async fn handle(
    State(fake): State<Arc<Fake>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |k: &str| headers.get(k).map(|v| v.to_str().unwrap().to_string());
    fake.seen.lock().unwrap().push((
        uri.to_string(),
        header("authorization"),
        header("api-key"),
        serde_json::from_str(&body).unwrap(),
    ));
    let reply = fake.script.lock().unwrap().remove(0);
    match reply {
        Reply::Json(content) => axum::Json(serde_json::json!({
            "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3}
        }))
        .into_response(),
        Reply::Stream(pieces) => {
            let mut body = String::new();
            for p in pieces {
                let ev = serde_json::json!({"choices": [{"delta": {"content": p}, "finish_reason": null}]});
                body.push_str(&format!("data: {ev}\n\n"));
            }
            body.push_str("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
            ([("content-type", "text/event-stream")], body).into_response()
        }
        Reply::Status(code, message) => (
            StatusCode::from_u16(code).unwrap(),
            axum::Json(serde_json::json!({"error": {"message": message, "code": if message.contains("context") {"context_length_exceeded"} else {"bad"}}})),
        )
            .into_response(),
        Reply::Busy(retry_after) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
            if let Some(s) = retry_after {
                r.headers_mut().insert("retry-after", s.parse().unwrap());
            }
            r
        }
        Reply::Raw(body) => ([("content-type", "text/event-stream")], body).into_response(),
        Reply::Sleep(d) => {
            tokio::time::sleep(d).await;
            axum::Json(serde_json::json!({"choices": [{"message": {"content": "late"}}]})).into_response()
        }
    }
}

/// Starts the fake server on a free port; returns its base URL.
fn serve(script: Vec<Reply>) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        script: Mutex::new(script),
        ..Fake::default()
    });
    let app = Router::new()
        .fallback(post(handle))
        .with_state(fake.clone());
    (spawn(app), fake)
}

/// Serves `app` on a free loopback port from its own thread; returns its `/v1` base URL.
fn spawn(app: Router) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{addr}/v1")
}

fn request() -> LlmRequest {
    LlmRequest {
        messages: vec![
            ChatMessage::new("system", "Answer with sources."),
            ChatMessage::new("user", "Who was the first man in space?"),
        ],
        max_tokens: 64,
        temperature: 0.0,
        stop: Default::default(),
    }
}

fn client(base: &str, stream: bool) -> OpenAi {
    OpenAi::new(OpenAiConfig {
        api_key: Some("sk-test-secret".into()),
        stream,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        ..OpenAiConfig::new(base, "gpt-test")
    })
}

#[test]
fn plain_and_streamed_completions() {
    let (base, fake) = serve(vec![
        Reply::Json("Yuri Gagarin [1]."),
        Reply::Stream(vec!["Yuri ", "Gagarin ", "[1]."]),
    ]);
    let mut streamed = String::new();
    let c = client(&base, false)
        .complete(&request(), &mut |t| streamed.push_str(t))
        .unwrap();
    assert_eq!(c.text, "Yuri Gagarin [1].");
    assert_eq!(c.prompt_tokens, Some(11));
    assert_eq!(streamed, c.text);

    let mut pieces = Vec::new();
    let c = client(&base, true)
        .complete(&request(), &mut |t| pieces.push(t.to_string()))
        .unwrap();
    assert_eq!(pieces, vec!["Yuri ", "Gagarin ", "[1]."]);
    assert_eq!(c.text, "Yuri Gagarin [1].");
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));

    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen[0].0, "/v1/chat/completions");
    assert_eq!(seen[0].1.as_deref(), Some("Bearer sk-test-secret"));
    assert_eq!(seen[0].3["model"], "gpt-test");
    assert_eq!(
        seen[0].3["messages"][1]["content"],
        "Who was the first man in space?"
    );
    assert_eq!(seen[1].3["stream"], true);
}

#[test]
fn busy_then_success_is_retried() {
    let (base, fake) = serve(vec![
        Reply::Busy(Some("0")),
        Reply::Status(503, "overloaded"),
        Reply::Json("ok"),
    ]);
    let c = client(&base, false)
        .complete(&request(), &mut |_| {})
        .unwrap();
    assert_eq!(c.text, "ok");
    assert_eq!(fake.seen.lock().unwrap().len(), 3);

    let (base, _) = serve(vec![Reply::Busy(None); 3]);
    let mut cfg = OpenAiConfig::new(&base, "m");
    cfg.max_retries = 2;
    cfg.backoff = Duration::from_millis(5);
    let err = OpenAi::new(cfg)
        .complete(&request(), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, LlmError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("429"), "{err}");
}

#[test]
fn context_length_and_other_client_errors() {
    let (base, _) = serve(vec![
        Reply::Status(400, "This model's maximum context length is 4096 tokens"),
        Reply::Status(401, "invalid api key"),
    ]);
    let c = client(&base, false);
    let err = c.complete(&request(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, LlmError::ContextLength(_)), "{err}");
    let err = c.complete(&request(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, LlmError::Other(_)), "{err}");
    assert!(err.to_string().contains("invalid api key"));
    // The key never appears in errors or debug output.
    assert!(!format!("{err} {c:?}").contains("sk-test-secret"));
}

#[test]
fn timeouts_and_unreachable_servers() {
    let (base, _) = serve(vec![Reply::Sleep(Duration::from_secs(3))]);
    let mut cfg = OpenAiConfig::new(&base, "m");
    cfg.timeout = Duration::from_millis(300);
    cfg.max_retries = 0;
    let err = OpenAi::new(cfg)
        .complete(&request(), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, LlmError::Timeout(_)), "{err}");

    let mut cfg = OpenAiConfig::new("http://127.0.0.1:9/v1", "m");
    cfg.max_retries = 1;
    cfg.backoff = Duration::from_millis(5);
    let err = OpenAi::new(cfg)
        .complete(&request(), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, LlmError::Unavailable(_)), "{err}");
}

#[test]
fn azure_addressing() {
    let (base, fake) = serve(vec![Reply::Json("ok")]);
    let mut cfg = OpenAiConfig::new(base.trim_end_matches("/v1"), "ignored");
    cfg.api_key = Some("azure-key".into());
    cfg.stream = false;
    cfg.azure = Some(Azure {
        deployment: "gpt4o".into(),
        api_version: "2024-06-01".into(),
    });
    OpenAi::new(cfg).complete(&request(), &mut |_| {}).unwrap();
    let seen = fake.seen.lock().unwrap();
    assert_eq!(
        seen[0].0,
        "/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01"
    );
    assert_eq!(seen[0].2.as_deref(), Some("azure-key"));
    assert!(seen[0].1.is_none());
    assert!(seen[0].3.get("model").is_none());
}

const WORDS: &[&str] = &[
    "the",
    "first",
    "man",
    "in",
    "space",
    "was",
    "yuri",
    "gagarin",
    "sources",
    "question",
    "answer",
    "user",
    "system",
    "assistant",
    ":",
    "[",
    "]",
    "1",
    "2",
    ".",
    "?",
];

#[test]
fn local_gguf_loads_and_generates_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tiny_gguf(dir.path(), WORDS, 256).unwrap();
    let model = LocalGguf::load(&LocalConfig::new(&path)).unwrap();
    assert_eq!(model.context_window(), 256);
    assert!(model.count_tokens("the first man").unwrap() == 3);
    let req = LlmRequest {
        max_tokens: 12,
        ..request()
    };
    let mut streamed = String::new();
    let a = model.complete(&req, &mut |t| streamed.push_str(t)).unwrap();
    let b = model.complete(&req, &mut |_| {}).unwrap();
    let same = |c: &wikirag_core::Completion| {
        (
            c.text.clone(),
            c.prompt_tokens,
            c.completion_tokens,
            c.finish_reason.clone(),
        )
    };
    // The weights are loaded once: the second request starts from an empty KV cache too.
    assert_eq!(same(&a), same(&b), "greedy generation is deterministic");
    assert!(a.prompt_seconds.is_some() && a.generation_seconds.is_some());
    assert_eq!(streamed, a.text);
    assert!(a.completion_tokens.unwrap() <= 12);
    assert!(a.prompt_tokens.unwrap() > 10);

    // A prompt that cannot fit is a context-length error (the pipeline retries smaller).
    let long = LlmRequest {
        messages: vec![ChatMessage::new("user", "the ".repeat(300))],
        max_tokens: 8,
        temperature: 0.0,
        stop: Default::default(),
    };
    assert!(matches!(
        model.complete(&long, &mut |_| {}),
        Err(LlmError::ContextLength(_))
    ));

    // Not a GGUF file: a clear error naming it.
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"not gguf").unwrap();
    let mut cfg = LocalConfig::new(&junk);
    cfg.tokenizer_path = Some(dir.path().join("tokenizer.json"));
    let err = LocalGguf::load(&cfg).err().unwrap().to_string();
    assert!(err.contains("junk.gguf"), "{err}");
}

/// A GGUF alone (no tokenizer.json beside it): the SentencePiece vocabulary and the chat
/// template come from its metadata.
#[test]
fn a_gguf_alone_brings_its_tokenizer_and_chat_template() {
    let dir = tempfile::tempdir().unwrap();
    let path = wikirag_llm::write_tiny_gguf_self_contained(dir.path(), WORDS, 256).unwrap();
    assert!(!dir.path().join("tokenizer.json").exists());
    let model = LocalGguf::load(&LocalConfig::new(&path)).unwrap();
    assert_eq!(model.tokenizer_source(), "GGUF metadata");
    // Each word is one piece ("▁the", "▁first", "▁man").
    assert_eq!(model.count_tokens("the first man"), Some(3));
    let prompt = model
        .render(&[
            ChatMessage::new("system", " Answer with sources. "),
            ChatMessage::new("user", "Who was the first man in space?"),
        ])
        .unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nAnswer with sources.<|im_end|>\n\
         <|im_start|>user\nWho was the first man in space?<|im_end|>\n<|im_start|>assistant\n"
    );
    // The markers are single special tokens.
    let ids = model.tokens("<|im_start|>user\nthe").unwrap();
    assert_eq!(ids[0], 3, "{ids:?}");
    let a = model.complete(&request(), &mut |_| {}).unwrap();
    let b = model.complete(&request(), &mut |_| {}).unwrap();
    assert_eq!(a.text, b.text);
    // One BOS, then the template's text.
    let with_bos = model.tokens(&prompt).unwrap().len() + 1;
    assert_eq!(a.prompt_tokens, Some(with_bos));
    // The same vocabulary for exact counts against a server running the file.
    let tok = wikirag_llm::tokenizer_from_gguf(&path).unwrap();
    assert_eq!(tok.encode("the first man", false).unwrap().len(), 3);
}

/// SmolLM2-135M-Instruct (scripts/fetch-smollm2.sh): the GGUF's BPE vocabulary tokenizes
/// exactly as llama.cpp does (ids from llama-cpp-python 0.3.36, `special=True`), and its own
/// chat template renders the prompt.
#[test]
fn smollm2_tokenizes_like_llama_cpp() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !path.is_file() {
        wikirag_core::testing::skip(format_args!(
            "{} absent (run scripts/fetch-smollm2.sh)",
            path.display()
        ));
        return;
    }
    let tok = wikirag_llm::tokenizer_from_gguf(&path).unwrap();
    let cases: [(&str, &[u32]); 3] = [
        (
            "What is the capital of France? 2024 l'État",
            &[
                1780, 314, 260, 3575, 282, 4649, 47, 216, 34, 32, 34, 36, 303, 23, 39614, 100, 261,
            ],
        ),
        (
            "Élisabeth Borne, née le 18 avril 1961 à Paris, est une femme d’État française.\n\n  Indented   spaces",
            &[
                39614, 34125, 8721, 35409, 28, 304, 20174, 425, 216, 33, 40, 1113, 21933, 216, 33,
                41, 38, 33, 25782, 7042, 28, 1264, 16520, 2849, 1558, 287, 417, 39614, 100, 261,
                275, 45720, 33815, 30, 8866, 1218, 6574, 256, 5600,
            ],
        ),
        (
            "<|im_start|>user\nHi<|im_end|>\n",
            &[1, 4093, 198, 26843, 2, 198],
        ),
    ];
    for (text, ids) in cases {
        let got = tok.encode(text, false).unwrap();
        assert_eq!(got.get_ids(), ids, "{text:?}");
        assert_eq!(tok.decode(ids, false).unwrap(), text);
    }
}

/// llama.cpp's server (through llama-cpp-python) answers a streamed prompt longer than its
/// window with HTTP 200 and an empty stream: a context-length error (the pipeline retries
/// with less evidence), never an empty answer with success. A stream cut before `[DONE]` or a
/// finish reason is an error too.
#[test]
fn an_empty_or_unfinished_stream_is_an_error_not_an_empty_answer() {
    let (base, _) = serve(vec![
        Reply::Raw(""),
        Reply::Raw(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n",
        ),
        Reply::Raw(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"length\"}]}\n\n",
        ),
    ]);
    let llm = client(&base, true);
    match llm.complete(&request(), &mut |_| {}) {
        Err(LlmError::ContextLength(m)) => assert!(m.contains("without a single event"), "{m}"),
        other => panic!("{other:?}"),
    }
    match llm.complete(&request(), &mut |_| {}) {
        Err(LlmError::Other(m)) => assert!(m.contains("without [DONE]"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A finish reason without [DONE] is a complete answer.
    let c = llm.complete(&request(), &mut |_| {}).unwrap();
    assert_eq!(
        (c.text.as_str(), c.finish_reason.as_deref()),
        ("Hi", Some("length"))
    );
}

/// The prompt is budgeted to the window the server reports: llama.cpp `/props`, vLLM
/// `/v1/models` `max_model_len`, Ollama `/api/show`; the configured window when it reports
/// none.
#[test]
fn the_context_window_is_asked_from_the_server() {
    use axum::routing::get;
    let llama_cpp = spawn(Router::new().route(
        "/props",
        get(|| async {
            axum::Json(serde_json::json!({"default_generation_settings": {"n_ctx": 2048}}))
        }),
    ));
    let vllm = spawn(Router::new().route(
        "/v1/models",
        get(|| async {
            axum::Json(serde_json::json!({"data": [
                {"id": "other", "max_model_len": 1024},
                {"id": "m", "max_model_len": 4096}
            ]}))
        }),
    ));
    let silent = spawn(Router::new().route(
        "/v1/models",
        get(|| async { axum::Json(serde_json::json!({"data": [{"id": "m", "owned_by": "me"}]})) }),
    ));
    // Ollama: `num_ctx` when the model sets it, else its length capped at Ollama's default.
    let ollama = |show: serde_json::Value| {
        spawn(Router::new().route(
            "/api/show",
            axum::routing::post(move |body: axum::Json<serde_json::Value>| {
                let show = show.clone();
                async move {
                    assert_eq!(body["model"], "m");
                    axum::Json(show)
                }
            }),
        ))
    };
    let ollama_set = ollama(serde_json::json!({
        "parameters": "stop \"<|im_end|>\"\nnum_ctx                        3072",
        "model_info": {"llama.context_length": 8192}
    }));
    let ollama_default = ollama(serde_json::json!({
        "parameters": "stop \"<|im_end|>\"",
        "model_info": {"general.architecture": "llama", "llama.context_length": 131072}
    }));
    let ollama_small = ollama(serde_json::json!({"model_info": {"qwen2.context_length": 1024}}));
    let window = |base: &str| {
        OpenAi::new(OpenAiConfig::new(base, "m"))
            .with_server_window()
            .context_window()
    };
    assert_eq!(window(&llama_cpp), 2048);
    assert_eq!(window(&vllm), 4096);
    assert_eq!(window(&silent), 8192);
    assert_eq!(window(&ollama_set), 3072);
    assert_eq!(window(&ollama_default), 2048);
    assert_eq!(window(&ollama_small), 1024);
    assert_eq!(window("http://127.0.0.1:9/v1"), 8192);
}

/// llama-cpp-python sends the stream's headers, then drops the connection before any event
/// when the prompt exceeds its window: also a context-length error.
#[test]
fn a_stream_dropped_before_any_event_is_a_context_length_error() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 65536];
        let _ = conn.read(&mut buf);
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        // Dropped here: the chunked body never ends.
    });
    let llm = client(&format!("http://{addr}/v1"), true);
    match llm.complete(&request(), &mut |_| {}) {
        Err(LlmError::ContextLength(m)) => assert!(m.contains("before any event"), "{m}"),
        other => panic!("{other:?}"),
    }
}
