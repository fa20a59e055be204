//! Ask end to end on the bundled sample, the HTTP router in-process, and the web page in
//! headless Chromium.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use wikirag_core::{
    BoxError, Completion, Hit, Llm, LlmError, LlmRequest, Retriever, SearchRequest,
};
use wikirag_index::SentenceIndex;
use wikirag_rag::{Answer, AskEvent, AskOptions, Rag, RagError};
use wikirag_server::{Backend, ConnectionLimits, ServerConfig, router, serve};
use wikirag_tests::{build, read_config, sample};

const SEED: &str = "Combien de femmes ont occupé le poste de Premier ministre en France ?";

fn sample_index(parent: &Path) -> SentenceIndex {
    let dir = &parent.join("index");
    build(
        read_config(&[
            &sample("frwiki-sample-multistream.xml.bz2"),
            &sample("enwiki-sample.xml"),
        ]),
        dir,
    )
    .unwrap();
    SentenceIndex::open(dir).unwrap()
}

/// The seed case: the French question, extractive backend, on the bundled sample. The
/// sentence that answers — 72 sentences into a long page, naming both women — is quoted
/// first as [1], not the infobox lines that only say "Premier ministre" (issue 31).
#[test]
fn seed_case_answer_quotes_the_sentence_naming_both_women_first() {
    let dir = tempfile::tempdir().unwrap();
    let rag = Rag::new(sample_index(dir.path()), None);
    let answer = rag.ask(SEED, &AskOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(answer.language, "fr");
    assert!(
        answer.answer.starts_with("Seules deux femmes") && answer.answer.contains("[1]"),
        "{}",
        answer.answer
    );
    assert!(answer.answer.contains("Édith Cresson"), "{}", answer.answer);
    assert!(
        answer.answer.contains("Élisabeth Borne"),
        "{}",
        answer.answer
    );
    let first = &answer.citations[0];
    assert_eq!(first.n, 1);
    assert!(
        first.text.contains("Cresson") && first.text.contains("Borne") && first.sentence > 50,
        "{:#?}",
        answer.citations
    );
    assert!(answer.citations.len() <= 2, "{:#?}", answer.citations);
    for (i, c) in answer.citations.iter().enumerate() {
        assert_eq!(c.n, i + 1, "numbered as read");
        assert!(answer.answer.contains(&format!("[{}]", c.n)));
        assert!(
            c.url.starts_with("https://fr.wikipedia.org/wiki/"),
            "{}",
            c.url
        );
    }
    assert!(answer.invalid_citations.is_empty());
}

/// A model that answers with a fixed text, for the router's LLM paths.
struct Canned(&'static str);

impl Llm for Canned {
    fn name(&self) -> String {
        "canned".into()
    }
    fn context_window(&self) -> usize {
        4096
    }
    fn complete(
        &self,
        _: &LlmRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion, LlmError> {
        for piece in self.0.split_inclusive(' ') {
            on_token(piece);
        }
        Ok(Completion {
            text: self.0.into(),
            ..Completion::default()
        })
    }
}

/// Sleeps before searching: to fill the server's slots.
struct Slow(SentenceIndex, Duration);

impl Retriever for Slow {
    type Error = wikirag_index::IndexError;
    fn search(&self, r: &SearchRequest) -> Result<Vec<Hit>, Self::Error> {
        std::thread::sleep(self.1);
        self.0.search(r)
    }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_endpoints_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample_index(dir.path());
    let config = ServerConfig {
        max_question_chars: 200,
        max_body_bytes: 4096,
        ..ServerConfig::default()
    };
    let app = router(Arc::new(Rag::new(index, None)), config.clone());

    let (s, body) = call(&app, "GET", "/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json_of(&body)["backend"], "extractive");

    let (s, body) = call(&app, "GET", "/", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("<form id=\"ask\""));

    let (s, body) = call(
        &app,
        "POST",
        "/v1/search",
        Some(json!({"query": "Cresson", "k": 3, "context": 1})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v = json_of(&body);
    assert_eq!(v["hits"].as_array().unwrap().len(), 3);
    assert!(v["hits"][0]["text"].as_str().unwrap().contains("Cresson"));

    let (s, body) = call(
        &app,
        "POST",
        "/v1/ask",
        Some(json!({"question": SEED})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v = json_of(&body);
    assert!(v["answer"].as_str().unwrap().contains("Borne"));
    for key in ["answer", "citations", "evidence", "usage", "timings"] {
        assert!(v.get(key).is_some(), "{key}");
    }

    // Streamed: sources, tokens, done.
    let (s, body) = call(
        &app,
        "POST",
        "/v1/ask",
        Some(json!({"question": SEED, "stream": true})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let sources = body.find("event: sources").expect("sources event");
    let token = body.find("event: token").expect("token event");
    let done = body.find("event: done").expect("done event");
    assert!(sources < token && token < done, "{body}");

    // OpenAI chat format, plain and streamed.
    let chat = json!({"model": "wikirag", "messages": [
        {"role": "system", "content": "ignored"},
        {"role": "user", "content": [{"type": "text", "text": SEED}]}
    ]});
    let (s, body) = call(
        &app,
        "POST",
        "/v1/chat/completions",
        Some(chat.clone()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v = json_of(&body);
    assert_eq!(v["object"], "chat.completion");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains("Sources:")
            && content.contains("https://fr.wikipedia.org/w/index.php?title=")
            && content.contains("#:~:text="),
        "{content}"
    );
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let (s, body) = call(&app, "POST", "/v1/chat/completions", Some(streamed), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("chat.completion.chunk") && body.trim_end().ends_with("data: [DONE]"),
        "{body}"
    );

    // OpenAI clients and chat front ends list the models first.
    let (s, body) = call(&app, "GET", "/v1/models", None, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v = json_of(&body);
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "wikirag");
    assert_eq!(v["data"][0]["object"], "model");

    // Bad requests: clear 4xx JSON errors.
    for (uri, body, status, needle) in [
        ("/v1/ask", json!({"question": ""}), 400, "empty"),
        (
            "/v1/ask",
            json!({"question": "x".repeat(300)}),
            400,
            "too long",
        ),
        ("/v1/ask", json!({"nope": 1}), 400, "invalid JSON"),
        (
            "/v1/search",
            json!({"query": "a", "k": 0}),
            400,
            "k must be",
        ),
        (
            "/v1/search",
            json!({"query": "a", "k": 1000}),
            400,
            "k must be",
        ),
        (
            "/v1/search",
            json!({"query": "x".repeat(5000)}),
            413,
            "too large",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": []}),
            400,
            "no user message",
        ),
    ] {
        let (s, text) = call(&app, "POST", uri, Some(body), None).await;
        assert_eq!(s.as_u16(), status, "{uri}: {text}");
        assert!(
            json_of(&text)["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{text}"
        );
    }
    let (s, _) = call(&app, "GET", "/v2/nothing", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Bearer key.
    let index = SentenceIndex::open(&dir.path().join("index")).unwrap();
    let locked = router(
        Arc::new(Rag::new(index, None)),
        ServerConfig {
            api_key: Some("s3cret".into()),
            ..config.clone()
        },
    );
    let q = json!({"query": "Paris"});
    assert_eq!(
        call(&locked, "POST", "/v1/search", Some(q.clone()), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &locked,
            "POST",
            "/v1/search",
            Some(q.clone()),
            Some("wrong")
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&locked, "POST", "/v1/search", Some(q), Some("s3cret"))
            .await
            .0,
        StatusCode::OK
    );
    // One layer checks the key of every API route before any body is read (a body over the
    // limit without the key is 401, not 413); the page and /health stay open.
    let huge = json!({"query": "x".repeat(config.max_body_bytes + 1)});
    assert_eq!(
        call(&locked, "POST", "/v1/ask", Some(huge), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&locked, "GET", "/v1/models", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &locked,
            "POST",
            "/v1/chat/completions",
            Some(json!({})),
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&locked, "GET", "/health", None, None).await.0,
        StatusCode::OK
    );

    // Overload: one slot, held by a slow request. With no time to wait in the queue the next
    // request gets 503 with Retry-After; with the default queue it waits for the slot and is
    // served; with the queue full it gets 503 at once.
    let index = SentenceIndex::open(&dir.path().join("index")).unwrap();
    let slow_search = Arc::new(Rag::new(Slow(index, Duration::from_millis(600)), None));
    for (queue_wait, max_queued, second) in [
        (Duration::ZERO, 256, StatusCode::SERVICE_UNAVAILABLE),
        (Duration::from_secs(5), 256, StatusCode::OK),
        (Duration::from_secs(5), 0, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let busy = router(
            slow_search.clone(),
            ServerConfig {
                max_concurrent: 1,
                queue_wait,
                max_queued,
                ..config.clone()
            },
        );
        let first = {
            let busy = busy.clone();
            tokio::spawn(async move {
                call(
                    &busy,
                    "POST",
                    "/v1/search",
                    Some(json!({"query": "Paris"})),
                    None,
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (s, body) = call(
            &busy,
            "POST",
            "/v1/search",
            Some(json!({"query": "Paris"})),
            None,
        )
        .await;
        assert_eq!(s, second, "queue {queue_wait:?}/{max_queued}: {body}");
        assert_eq!(first.await.unwrap().0, StatusCode::OK);
    }

    // Timeout: 504.
    let index = SentenceIndex::open(&dir.path().join("index")).unwrap();
    let slow = router(
        Arc::new(Rag::new(Slow(index, Duration::from_millis(1500)), None)),
        ServerConfig {
            request_timeout: Duration::from_millis(200),
            ..config.clone()
        },
    );
    assert_eq!(
        call(
            &slow,
            "POST",
            "/v1/search",
            Some(json!({"query": "Paris"})),
            None
        )
        .await
        .0,
        StatusCode::GATEWAY_TIMEOUT
    );

    // An LLM answer with a made-up citation: removed and reported.
    let index = SentenceIndex::open(&dir.path().join("index")).unwrap();
    let llm = router(
        Arc::new(Rag::new(
            index,
            Some(Arc::new(Canned("Deux femmes [6] et [99].")) as Arc<dyn Llm>),
        )),
        config,
    );
    let (s, body) = call(
        &llm,
        "POST",
        "/v1/ask",
        Some(json!({"question": SEED})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v = json_of(&body);
    assert_eq!(v["answer"], "Deux femmes [6] et.");
    assert_eq!(v["invalid_citations"].as_array().unwrap().len(), 1);
    assert_eq!(v["backend"], "canned");
}

/// Chromium and playwright-core, when both are installed (`.ci/run` installs them).
fn headless_chromium() -> Option<(&'static str, std::path::PathBuf)> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let playwright = std::env::var_os("PLAYWRIGHT_CORE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| wikirag_tests::root().join(".ci/node/node_modules"));
    let node = std::process::Command::new("node").arg("--version").output();
    let (Some(chromium), true, Ok(_)) =
        (chromium, playwright.join("playwright-core").is_dir(), node)
    else {
        wikirag_core::testing::skip(format_args!(
            "needs chromium, node and playwright-core in {} (.ci/run installs them)",
            playwright.display()
        ));
        return None;
    };
    Some((chromium, playwright))
}

/// A sentence as a Wikipedia page shows it: reference markers after punctuation
/// (`Paris,[3] the capital`, `… in 1889.[4]`), names as links.
fn rendered(sentence: &str, marker: &mut usize) -> String {
    let mut out = String::new();
    for (i, word) in sentence.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let escaped = word
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let core = escaped.trim_end_matches([',', ';', '.', ':', '!', '?']);
        let punct = &escaped[core.len()..];
        if i > 0 && core.chars().next().is_some_and(char::is_uppercase) {
            out.push_str(&format!("<a href=\"/wiki/{core}\">{core}</a>"));
        } else {
            out.push_str(core);
        }
        out.push_str(punct);
        if !punct.is_empty() {
            *marker += 1;
            out.push_str(&format!(
                "<sup class=\"reference\"><a href=\"#cite_note-{marker}\">[{marker}]</a></sup>"
            ));
        }
    }
    out
}

/// Every sentence of five sample articles (French and English), cited by its link: opened in
/// headless Chromium on a rendering of the article with reference markers and links in it, the
/// text fragment scrolls to that very sentence (`tests/browser/fragment.mjs`).
#[test]
fn text_fragments_land_on_the_cited_sentence_in_headless_chromium() {
    let Some((chromium, playwright)) = headless_chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let index = sample_index(dir.path());
    let mut links = Vec::new();
    let mut no_fragment = Vec::new();
    for title in [
        "Premier ministre français",
        "Femmes ministres en France",
        "Valentina Tereshkova",
        "Marie Curie",
        "Eiffel Tower",
    ] {
        let hit = index
            .search(&SearchRequest {
                query: title.into(),
                k: 50,
                context: 0,
                per_page: 50,
            })
            .unwrap()
            .into_iter()
            .find(|h| h.title == title)
            .unwrap_or_else(|| panic!("{title} not found"));
        assert!(hit.revision_id.is_some(), "{title}: no revision");
        let sentences = index.sentences(hit.page_id, 0, u32::MAX).unwrap();
        assert!(sentences.len() >= 5, "{title}: {}", sentences.len());
        let mut marker = 0;
        let mut html = String::from(
            "<!doctype html><meta charset=utf-8><body><div style=\"height:3000px\"></div>",
        );
        for (n, text) in &sentences {
            html.push_str(&format!(
                "<p id=\"s{n}\" style=\"margin:0 0 2000px 0\">{}</p>",
                rendered(text, &mut marker)
            ));
        }
        let file = dir.path().join(format!("{}.html", hit.page_id));
        std::fs::write(&file, html).unwrap();
        for (i, (n, text)) in sentences.iter().enumerate() {
            let earlier: Vec<&str> = sentences[..i].iter().map(|(_, t)| t.as_str()).collect();
            let link = wikirag_core::link::sentence_link(&hit.url, hit.revision_id, text, &earlier);
            assert!(
                link.contains(&format!("oldid={}", hit.revision_id.unwrap())),
                "{link}"
            );
            let Some((_, fragment)) = link.split_once('#') else {
                // No words of its own (a table row repeating names said before): no fragment
                // rather than one landing on an earlier sentence.
                no_fragment.push(format!("{title} #{n}: {text}"));
                continue;
            };
            links.push(json!({
                "id": format!("s{n}"),
                "title": title,
                "text": text,
                "url": format!("file://{}#{fragment}", file.display()),
            }));
        }
    }
    let list = dir.path().join("links.json");
    std::fs::write(&list, serde_json::to_vec(&links).unwrap()).unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new("node")
        .arg(wikirag_tests::root().join("tests/browser/fragment.mjs"))
        .arg(&list)
        .env("PLAYWRIGHT_CORE_DIR", &playwright)
        .env("CHROMIUM", chromium)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen.len(), links.len());
    eprintln!(
        "Chromium opened {} links in {:.1?}",
        links.len(),
        started.elapsed()
    );
    let missed: Vec<String> = seen
        .iter()
        .zip(&links)
        .filter(|(s, _)| s["landed"] != s["id"])
        .map(|(s, l)| {
            format!(
                "{} {}: landed {} — {}",
                l["title"], s["id"], s["landed"], l["url"]
            )
        })
        .collect();
    eprintln!(
        "{} of {} sentence links landed on their sentence; {} sentences without words of \
         their own got no fragment:\n{}",
        links.len() - missed.len(),
        links.len(),
        no_fragment.len(),
        no_fragment.join("\n")
    );
    assert!(missed.is_empty(), "{}", missed.join("\n"));
    // Only rows and facts that repeat what the page said before go without.
    assert!(
        no_fragment.len() * 10 <= links.len(),
        "{}",
        no_fragment.join("\n")
    );
    assert!(
        no_fragment.iter().all(|s| s.contains(": ")),
        "{}",
        no_fragment.join("\n")
    );
}

/// The web page in headless Chromium, driven by playwright-core (`tests/browser/ask.mjs`):
/// type the question, click Ask, get a streamed answer with clickable citations, screenshot.
/// Then on a server with an API key: the page asks for the key (it used to get 401 on every
/// question), keeps it, and answers.
#[test]
fn web_page_in_headless_chromium() {
    let Some((chromium, playwright)) = headless_chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let index = Arc::new(Rag::new(sample_index(dir.path()), None));
    for key in [None, Some("s3cret")] {
        web_page_asks(&dir, index.clone(), key, chromium, &playwright);
    }
}

fn web_page_asks(
    dir: &tempfile::TempDir,
    backend: Arc<Rag<SentenceIndex>>,
    key: Option<&str>,
    chromium: &str,
    playwright: &Path,
) {
    let config = ServerConfig {
        api_key: key.map(str::to_string),
        ..ServerConfig::default()
    };
    let app = router(backend, config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app).await.unwrap();
            })
    });
    let shot = std::env::var_os("WIKIRAG_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("page.png"));
    let out = std::process::Command::new("node")
        .arg(wikirag_tests::root().join("tests/browser/ask.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(SEED)
        .arg(&shot)
        .args(key)
        .env("PLAYWRIGHT_CORE_DIR", playwright)
        .env("CHROMIUM", chromium)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "done", "{v}");
    assert_eq!(v["askedForKey"], key.is_some(), "{v}");
    let answer = v["answer"].as_str().unwrap();
    assert!(
        answer.contains("Édith Cresson") && answer.contains("Élisabeth Borne"),
        "{v}"
    );
    assert!(!v["citationLinks"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["hash"].as_str().unwrap().starts_with("#src-"), "{v}");
    let cited: Vec<&str> = v["cited"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(cited.first(), Some(&"Premier ministre français"), "{v}");
    assert_eq!(v["hash"], "#src-1", "{v}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "screenshot written"
    );
}

/// The official `openai` Python client (PyPI) against `wikirag serve` on loopback: chat front
/// ends list models first, then ask plainly or streamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_talks_to_wikirag() {
    let Some(py) = wikirag_core::testing::python_with("openai") else {
        wikirag_core::testing::skip("no Python with the openai package (pip install openai)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = router(
        Arc::new(Rag::new(sample_index(dir.path()), None)),
        ServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let script = r#"
import sys
from openai import OpenAI
c = OpenAI(base_url=f"http://127.0.0.1:{sys.argv[1]}/v1", api_key="unused", max_retries=0)
ids = [m.id for m in c.models.list()]
assert ids == ["wikirag"], ids
q = [{"role": "user", "content": "Qui a été la première femme Premier ministre en France ?"}]
r = c.chat.completions.create(model="wikirag", messages=q)
text = r.choices[0].message.content
assert "Cresson" in text and "Sources:" in text, text
assert r.choices[0].finish_reason == "stop", r
chunks = list(c.chat.completions.create(model="wikirag", messages=q, stream=True))
streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
assert "Cresson" in streamed, streamed
print("ok")
"#;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&py)
            .args(["-c", script, &port.to_string()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A backend that panics (as tantivy does on a damaged segment), after a first token.
struct Panics;

impl Backend for Panics {
    fn search(&self, _: &SearchRequest) -> Result<Vec<Hit>, BoxError> {
        panic!("damaged segment")
    }
    fn ask(
        &self,
        _: &str,
        _: &AskOptions,
        on_event: &mut dyn FnMut(AskEvent<'_>),
    ) -> Result<Answer, RagError> {
        on_event(AskEvent::Token("partial "));
        panic!("damaged segment")
    }
    fn backend(&self) -> String {
        "panics".into()
    }
}

/// A panic behind the router is a 500 with a JSON error, and a stream that has begun ends with
/// an error event (it used to end with 200 and nothing after the first events).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_an_error_answer_and_an_error_event() {
    let app = router(Arc::new(Panics), ServerConfig::default());
    let q = json!({"question": SEED});
    for (uri, body) in [
        ("/v1/search", json!({"query": "Paris"})),
        ("/v1/ask", q.clone()),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": SEED}]}),
        ),
    ] {
        let (s, text) = call(&app, "POST", uri, Some(body), None).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{uri}: {text}");
        assert_eq!(json_of(&text)["error"]["type"], "server_error", "{uri}");
    }
    let (s, text) = call(
        &app,
        "POST",
        "/v1/ask",
        Some(json!({"question": SEED, "stream": true})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        text.contains("event: token") && text.contains("event: error"),
        "{text}"
    );
    let (_, text) = call(
        &app,
        "POST",
        "/v1/chat/completions",
        Some(json!({"stream": true, "messages": [{"role": "user", "content": SEED}]})),
        None,
    )
    .await;
    assert!(
        text.contains("partial")
            && text.contains("\"error\"")
            && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
}

/// Sends a raw request and reads the answer until the server closes (or `wait` passes).
async fn raw(addr: std::net::SocketAddr, request: &[u8], wait: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    if stream.write_all(request).await.is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Idle sockets, a slowloris client and more connections than the cap: the idle and slow ones
/// are closed after the head timeout, the ones over the cap are refused at once, a slow body
/// gets 408, and `/health` keeps answering (with `axum::serve` the idle sockets stayed open
/// for ever and, past the open-file limit, the server could no longer accept anything).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed_and_health_still_answers() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = ServerConfig {
        body_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    };
    let app = router(Arc::new(Panics), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ConnectionLimits {
        max_connections: 40,
        header_timeout: Duration::from_millis(800),
        shutdown_grace: Duration::from_secs(1),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app, limits, async {
        let _ = stopped.await;
    }));
    let health = b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

    // A slowloris client: a byte of its head every 100 ms, never the end.
    let slowloris = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let started = std::time::Instant::now();
        s.write_all(b"GET /health HTTP/1.1\r\nx-slow: ")
            .await
            .unwrap();
        while started.elapsed() < Duration::from_secs(10) {
            if s.write_all(b"a").await.is_err() {
                break;
            }
            let mut byte = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(100), s.read(&mut byte)).await
            {
                break;
            }
        }
        started.elapsed()
    });
    // Idle sockets, many more than the cap.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Over the cap: refused at once with a 503, not left hanging.
    let refused = raw(addr, health, Duration::from_secs(2)).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");

    // Within a few head timeouts the idle sockets are closed and /health answers again.
    let started = std::time::Instant::now();
    let answered = loop {
        let r = raw(addr, health, Duration::from_secs(2)).await;
        if r.starts_with("HTTP/1.1 200") || started.elapsed() > Duration::from_secs(6) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(started.elapsed() < Duration::from_secs(4));
    for (i, s) in idle.iter_mut().enumerate() {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
        // Closed: end of file (idle), or the 503 then end of file (refused over the cap).
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(n)) => assert!(
                String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 503")
                    || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
                "idle socket {i} got {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => panic!("idle socket {i} still open"),
        }
    }
    let slow_for = slowloris.await.unwrap();
    assert!(
        slow_for < Duration::from_secs(3),
        "the slowloris client was served for {slow_for:?}"
    );

    // A body that never comes: 408 once the body timeout passes.
    let r = raw(
        addr,
        b"POST /v1/search HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
        Duration::from_secs(3),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");

    // Shutdown: returns promptly.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("shut down in time")
        .unwrap()
        .unwrap();
}

/// Records what the chat endpoint asked of the model, answers citing [1], stops at the limit.
#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<LlmRequest>>);

impl Llm for Recording {
    fn name(&self) -> String {
        "recording".into()
    }
    fn context_window(&self) -> usize {
        4096
    }
    fn complete(
        &self,
        request: &LlmRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion, LlmError> {
        self.0.lock().unwrap().push(request.clone());
        let text = if request.max_tokens == 64 {
            // The follow-up rewrite.
            "When did Valentina Tereshkova fly into space?"
        } else {
            "She flew in 1963 [1]"
        };
        on_token(text);
        Ok(Completion {
            text: text.into(),
            finish_reason: Some("length".into()),
            prompt_tokens: Some(321),
            completion_tokens: Some(7),
            ..Completion::default()
        })
    }
}

/// `/v1/chat/completions` follows the conversation (a follow-up is searched with what it
/// refers to), honours `max_tokens` and `temperature` or says it ignores them, refuses `n` > 1,
/// reports usage (streamed too, with `stream_options.include_usage`) and a cut answer as
/// `finish_reason: "length"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_follows_the_conversation_and_honours_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let conversation = json!([
        {"role": "user", "content": "Who was Valentina Tereshkova?"},
        {"role": "assistant", "content": "A Soviet cosmonaut [1].\n\nSources:\n[1] Valentina Tereshkova"},
        {"role": "user", "content": "When did she fly?"}
    ]);

    // Extractive: the heuristic rewrite; generation options are reported as ignored.
    let app = router(
        Arc::new(Rag::new(sample_index(dir.path()), None)),
        ServerConfig::default(),
    );
    let req = Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"messages": conversation, "temperature": 0.5, "max_tokens": 50,
                   "tools": []})
            .to_string(),
        ))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ignored = resp.headers()["x-wikirag-ignored"]
        .to_str()
        .unwrap()
        .to_string();
    for field in ["tools", "temperature", "max_tokens"] {
        assert!(ignored.contains(field), "{ignored}");
    }
    let v = json_of(&String::from_utf8_lossy(
        &resp.into_body().collect().await.unwrap().to_bytes(),
    ));
    assert_eq!(
        v["wikirag"]["question"],
        "When did she fly? (Valentina Tereshkova)"
    );
    assert!(
        v["citations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["title"] == "Valentina Tereshkova"),
        "{:#}",
        v["citations"]
    );

    // Bad options are refused, not dropped.
    for (body, needle) in [
        (json!({"messages": conversation, "n": 2}), "n must be 1"),
        (
            json!({"messages": conversation, "max_tokens": 0}),
            "max_tokens",
        ),
        (
            json!({"messages": conversation, "temperature": 7}),
            "temperature",
        ),
    ] {
        let (s, text) = call(&app, "POST", "/v1/chat/completions", Some(body), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{text}");
        assert!(text.contains(needle), "{text}");
    }

    // With a model: its rewrite, the request's limits, usage and the cut answer.
    let llm = Arc::new(Recording::default());
    let index = SentenceIndex::open(&dir.path().join("index")).unwrap();
    let app = router(
        Arc::new(Rag::new(index, Some(llm.clone() as Arc<dyn Llm>))),
        ServerConfig::default(),
    );
    let body = json!({"messages": conversation, "temperature": 0.7, "max_tokens": 40, "n": 1});
    let (s, text) = call(
        &app,
        "POST",
        "/v1/chat/completions",
        Some(body.clone()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let v = json_of(&text);
    assert_eq!(
        v["wikirag"]["question"],
        "When did Valentina Tereshkova fly into space?"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["prompt_tokens"], 321);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    assert_eq!(v["usage"]["total_tokens"], 328);
    {
        let asked = llm.0.lock().unwrap();
        let answer = asked.last().unwrap();
        assert_eq!(answer.max_tokens, 40);
        assert!((answer.temperature - 0.7).abs() < 1e-6);
        assert!(
            answer.messages[1].content.contains("Tereshkova"),
            "{:?}",
            answer.messages
        );
    }
    let mut streamed = body;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (s, text) = call(&app, "POST", "/v1/chat/completions", Some(streamed), None).await;
    assert_eq!(s, StatusCode::OK);
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(json_of)
        .collect();
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]), "{text}");
    assert_eq!(last["usage"]["total_tokens"], 328);
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["usage"].is_null())
    );
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "length"),
        "{text}"
    );
}
