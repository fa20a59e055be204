//! Where agents look things up, with the real clients: the official MCP Python SDK (PyPI
//! `mcp`) over stdio and streamable HTTP, in both protocol generations; the MCP Inspector's
//! CLI (npm `@modelcontextprotocol/inspector`); and DSPy's ColBERTv2 retriever (PyPI `dspy`)
//! against `wikirag serve`. Each is installed by `.ci/run`; without it a test skips (and
//! fails under `WIKIRAG_REQUIRE_ALL=1`).

mod common;

use common::{sample, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_wikirag");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/agents")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The bundled sample with all-MiniLM-L6-v2 vectors (so every search mode is offered), or
/// `None` without the model.
fn sample_index(dir: &Path) -> Option<PathBuf> {
    let model = root().join("models/all-MiniLM-L6-v2");
    if !model.join("config.json").is_file() {
        wikirag_core::testing::skip("no all-MiniLM-L6-v2 in models/ (scripts/fetch-model.sh)");
        return None;
    }
    let out = dir.join("index");
    let built = Command::new(BIN)
        .arg("index")
        .args([
            sample("frwiki-sample-multistream.xml.bz2"),
            sample("enwiki-sample-multistream.xml.bz2"),
        ])
        .arg("--out")
        .arg(&out)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    Some(out)
}

fn python(module: &str) -> Option<PathBuf> {
    let py = wikirag_core::testing::python_with(module);
    if py.is_none() {
        wikirag_core::testing::skip(format!(
            "no Python with the {module} package (.ci/run installs it in .ci/py)"
        ));
    }
    py
}

/// A Python with `module`, a temporary folder and the sample index in it (`None`: skipped).
fn fixture(module: &str) -> Option<(PathBuf, tempfile::TempDir, PathBuf)> {
    let py = python(module)?;
    let dir = tempfile::tempdir().unwrap();
    let index = sample_index(dir.path())?;
    Some((py, dir, index))
}

/// A child process killed when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `wikirag serve` on `index` (killed at the end of the test) and its address.
fn serve(index: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Killed, String) {
    let (server, addr, _log) = common::serve_env(index, extra, env);
    (Killed(server), addr)
}

/// Runs one of the client scripts (`tests/agents/NAME`); it prints "ok" when every check
/// passed.
fn client_script(py: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) {
    let out = Command::new(py)
        .arg(script(name))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success() && text(&out.stdout).contains("ok"),
        "{name} {args:?}\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The MCP client script with `config`.
fn mcp_client(py: &Path, config: serde_json::Value, env: &[(&str, &str)]) {
    client_script(py, "mcp_client.py", &[&config.to_string()], env);
}

fn stdio(index: &Path, extra: &[&str]) -> serde_json::Value {
    let mut cmd = vec![BIN, "mcp", "--index", index.to_str().unwrap()];
    cmd.extend(extra);
    serde_json::json!(cmd)
}

/// Every tool, its schema, its results and its errors, through the official Python SDK: over
/// stdio (`wikirag mcp`) and over streamable HTTP (`/mcp` of `wikirag serve`), each with the
/// 2026-07-28 protocol and with the older initialize handshake.
#[test]
fn the_official_mcp_client_uses_every_tool_over_stdio_and_http() {
    let Some((py, _dir, index)) = fixture("mcp") else {
        return;
    };
    let (_server, addr) = serve(&index, &[], &[]);
    for mode in ["auto", "legacy"] {
        mcp_client(
            &py,
            serde_json::json!({"stdio": stdio(&index, &[]), "mode": mode, "check": "tools"}),
            &[],
        );
        mcp_client(
            &py,
            serde_json::json!({"url": format!("http://{addr}/mcp"), "mode": mode, "check": "tools"}),
            &[],
        );
    }
}

/// An `ask` the client abandons (its answer streams slowly from an OpenAI-compatible stub):
/// the model's stream is closed soon after the cancel, and the session answers the next call.
#[test]
fn a_cancelled_ask_stops_its_model_and_the_session_goes_on() {
    let Some((py, dir, index)) = fixture("mcp") else {
        return;
    };
    let log = dir.path().join("stub.log");
    let mut stub = Killed(
        Command::new(&py)
            .arg(script("slow_model.py"))
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(stub.0.stdout.take().unwrap()),
        &mut port,
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{}/v1", port.trim());
    // The window given: no probe of the stub for it.
    let llm = [
        "--llm",
        "openai",
        "--context-window",
        "8192",
        "--base-url",
        &base,
    ];
    let env = [("OPENAI_API_KEY", "unused")];
    let log = log.to_str().unwrap();
    let (_server, addr) = serve(&index, &llm, &env);
    for mode in ["auto", "legacy"] {
        mcp_client(
            &py,
            serde_json::json!({"stdio": stdio(&index, &llm), "mode": mode, "check": "cancel", "stub_log": log}),
            &env,
        );
        mcp_client(
            &py,
            serde_json::json!({"url": format!("http://{addr}/mcp"), "mode": mode, "check": "cancel", "stub_log": log}),
            &[],
        );
    }
    // The HTTP API too: a client that hangs up, streamed or not, stops the model.
    let q = "Qui a été la première femme Premier ministre en France ?";
    let streams = |kind: &str| -> std::collections::BTreeMap<u32, f64> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                if w.len() != 3 || w[0] != kind {
                    return None;
                }
                Some((w[1].parse().ok()?, w[2].parse().ok()?))
            })
            .collect()
    };
    for stream in [true, false] {
        for (path, body) in [
            (
                "/v1/ask",
                serde_json::json!({"question": q, "stream": stream}),
            ),
            (
                "/v1/chat/completions",
                serde_json::json!({"model": "wikirag", "stream": stream,
                    "messages": [{"role": "user", "content": q}]}),
            ),
        ] {
            let before = streams("started").keys().max().copied().unwrap_or(0);
            let started = || streams("started").range(before + 1..).next().is_some();
            let hung_up = hang_up_mid_answer(&addr, path, &body.to_string(), stream, &started);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let asked = loop {
                if let Some((&n, _)) = streams("started").range(before + 1..).next()
                    && let Some(&closed) = streams("closed").get(&n)
                {
                    break (n, closed);
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{path} (stream {stream}): the model's stream was still read 10 s after the client hung up"
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            };
            assert!(
                asked.1 - hung_up < 3.0,
                "{path} (stream {stream}): {asked:?} vs {hung_up}"
            );
        }
    }
}

/// POSTs `body` to `path`, waits until the model is generating (its words streamed back, or
/// the stub saying it `started` when the answer is not streamed), hangs up: when (Unix s).
fn hang_up_mid_answer(
    addr: &str,
    path: &str,
    body: &str,
    streamed: bool,
    started: &dyn Fn() -> bool,
) -> f64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while if streamed {
        // The stub's word, streamed back.
        !String::from_utf8_lossy(&seen).contains("Cresson")
    } else {
        !started()
    } {
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: the model never began"
        );
        if streamed {
            let n = s.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "{path}: the stream ended: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        } else {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    drop(s);
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A raw `initialize` POST to `/mcp` with the given extra header lines: the status.
fn mcp_status(addr: &str, headers: &str) -> u16 {
    use std::io::{Read, Write};
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    // An accepted session answers on a stream that may stay open: the head is enough.
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\n{headers}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = [0u8; 64];
    let n = s.read(&mut head).unwrap_or(0);
    String::from_utf8_lossy(&head[..n])
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// `/mcp` sits behind the server's bearer key like `/v1/*`, and refuses a foreign `Host`
/// (DNS rebinding) or browser `Origin`; a client with the key uses it.
#[test]
fn mcp_over_http_needs_the_key_and_a_trusted_host_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let Some(index) = sample_index(dir.path()) else {
        return;
    };
    let key = "s3cret-key";
    let (_server, addr) = serve(
        &index,
        &["--server-key-env", "WIKIRAG_TEST_KEY"],
        &[("WIKIRAG_TEST_KEY", key)],
    );
    let host = format!("Host: {addr}\r\n");
    let auth = format!("Authorization: Bearer {key}\r\n");
    assert_eq!(mcp_status(&addr, &host), 401, "no key");
    assert_eq!(
        mcp_status(&addr, &format!("{host}Authorization: Bearer wrong\r\n")),
        401
    );
    assert_eq!(
        mcp_status(&addr, &format!("Host: evil.example\r\n{auth}")),
        403,
        "a rebound name"
    );
    assert_eq!(
        mcp_status(
            &addr,
            &format!("{host}{auth}Origin: http://evil.example\r\n")
        ),
        403,
        "a foreign page"
    );
    let port = addr.rsplit(':').next().unwrap();
    assert_eq!(
        mcp_status(
            &addr,
            &format!("{host}{auth}Origin: http://localhost:{port}\r\n")
        ),
        200,
        "a loopback page"
    );
    assert_eq!(mcp_status(&addr, &format!("{host}{auth}")), 200);
    if let Some(py) = python("mcp") {
        mcp_client(
            &py,
            serde_json::json!({"url": format!("http://{addr}/mcp"), "key": key, "mode": "auto", "check": "tools"}),
            &[],
        );
    }
}

/// The MCP Inspector's CLI mode (npm, in `.ci/node`), over stdio and HTTP.
#[test]
fn the_mcp_inspector_cli_lists_and_calls_the_tools() {
    let inspector = std::env::var_os("MCP_INSPECTOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".ci/node/node_modules/.bin/mcp-inspector"));
    if !inspector.is_file() {
        wikirag_core::testing::skip(
            "no MCP Inspector (npm install --prefix .ci/node @modelcontextprotocol/inspector)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(index) = sample_index(dir.path()) else {
        return;
    };
    let run = |target: &[&str], call: &[&str]| -> serde_json::Value {
        let out = Command::new(&inspector)
            .arg("--cli")
            .args(target)
            .args(call)
            .output()
            .unwrap();
        assert!(out.status.success(), "{call:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{call:?}: {e}: {}", text(&out.stdout)))
    };
    let (_server, addr) = serve(&index, &[], &[]);
    let url = format!("http://{addr}/mcp");
    let stdio_target = [BIN, "mcp", "--index", index.to_str().unwrap()];
    let http_target = [url.as_str(), "--transport", "http"];
    for target in [&stdio_target[..], &http_target[..]] {
        let listed = run(target, &["--method", "tools/list"]);
        let names: Vec<&str> = listed["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["search", "fetch", "ask"], "{target:?}");
        let found = run(
            target,
            &[
                "--method",
                "tools/call",
                "--tool-name",
                "search",
                "--tool-arg",
                "query=highest capital city in Europe",
                "--tool-arg",
                "k=3",
            ],
        );
        let top = &found["structuredContent"]["results"][0];
        assert_eq!(top["title"], "Andorra la Vella", "{found}");
        let id = top["id"].as_str().unwrap();
        let fetch = |id: &str| {
            run(
                target,
                &[
                    "--method",
                    "tools/call",
                    "--tool-name",
                    "fetch",
                    "--tool-arg",
                    &format!("id={id}"),
                ],
            )
        };
        let doc = fetch(id);
        assert_eq!(doc["structuredContent"]["id"], id, "{doc}");
        let bad = fetch("424242:9");
        assert_eq!(bad["isError"], true, "{bad}");
    }
}

/// DSPy's ColBERTv2 client, GET and POST, and `dspy.Retrieve` configured with it, against
/// `/v1/colbert` — unchanged DSPy code searching a local Wikipedia.
#[test]
fn dspy_retrieves_from_wikirag_as_from_a_colbertv2_server() {
    let Some((py, dir, index)) = fixture("dspy") else {
        return;
    };
    let (_server, addr) = serve(&index, &[], &[]);
    let cache = dir.path().join("dspy-cache");
    // Offline: litellm's price list from the package, DSPy's cache in the test's folder.
    client_script(
        &py,
        "dspy_client.py",
        &[&format!("http://{addr}/v1/colbert")],
        &[
            ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
            ("DSPY_CACHEDIR", cache.to_str().unwrap()),
        ],
    );
}

/// `wikirag mcp` writes only protocol to stdout — one JSON-RPC message per line, even when it
/// has something to say (its banner, a warning) — so a client's reader never chokes.
#[test]
fn mcp_over_stdio_writes_only_protocol_to_stdout() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let Some(index) = sample_index(dir.path()) else {
        return;
    };
    let mut child = Command::new(BIN)
        .args(["-v", "mcp", "--index", index.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let messages = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","arguments":{"query":"Andorra","k":2}}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"fetch","arguments":{"id":"nope"}}}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ask","arguments":{"question":"Qui a été la première femme Premier ministre en France ?"}}}"#,
    ];
    let mut stdin = child.stdin.take().unwrap();
    for m in messages {
        writeln!(stdin, "{m}").unwrap();
    }
    // Requests are served concurrently: answers come in any order. Read until all five are
    // in, then close.
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut by_id = std::collections::BTreeMap::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let line = line.unwrap();
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON-RPC on stdout: {line:?}: {e}"));
            assert_eq!(v["jsonrpc"], "2.0", "{line}");
            by_id.insert(v["id"].as_u64().unwrap_or(0), line);
            if by_id.len() == 5 {
                break;
            }
        }
        by_id
    });
    let by_id = reader.join().unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        by_id.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5],
        "{by_id:?}"
    );
    assert!(by_id[&4].contains(r#""isError":true"#), "{}", by_id[&4]);
    // What it had to say went to stderr.
    assert!(text(&out.stderr).contains("MCP server on stdio"));
}
