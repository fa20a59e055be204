//! The `wikirag` command as a user runs it.

mod common;

use common::{sample, text, wikirag};
use std::path::{Path, PathBuf};
use std::process::Command;

fn build_sample(dir: &Path) -> PathBuf {
    let out = dir.join("idx");
    let o = wikirag(&[
        "index",
        "-q",
        sample("frwiki-sample-multistream.xml.bz2")
            .to_str()
            .unwrap(),
        "--multistream-index",
        sample("frwiki-sample-multistream-index.txt.bz2")
            .to_str()
            .unwrap(),
        sample("enwiki-sample.xml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("indexed 20 articles"),
        "{}",
        text(&o.stdout)
    );
    assert!(
        o.stderr.is_empty(),
        "-q prints nothing on stderr: {}",
        text(&o.stderr)
    );
    out
}

#[test]
fn index_search_json_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let idx = build_sample(dir.path());
    let idx = idx.to_str().unwrap();
    let o = wikirag(&[
        "search",
        "--index",
        idx,
        "femmes Premier ministre France",
        "-k",
        "10",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 10);
    for key in [
        "title", "section", "text", "url", "page_id", "sentence", "score",
    ] {
        assert!(hits.iter().all(|h| h.get(key).is_some()), "missing {key}");
    }
    assert!(
        hits.iter()
            .any(|h| h["text"].as_str().unwrap().contains("Élisabeth Borne"))
    );
    assert_eq!(v["k"], 10);

    let o = wikirag(&[
        "search",
        "--index",
        idx,
        "Gagarin Vostok",
        "-k",
        "2",
        "-C",
        "1",
    ]);
    let out = text(&o.stdout);
    assert!(
        out.contains("Yuri Gagarin")
            && out.contains("https://en.wikipedia.org/wiki/")
            && out.contains("↳ https://en.wikipedia.org/w/index.php?title=")
            && out.contains("#:~:text="),
        "{out}"
    );

    let o = wikirag(&["inspect", "--index", idx]);
    let out = text(&o.stdout);
    assert!(
        out.contains("20 articles") && out.contains("languages  fr, en"),
        "{out}"
    );
    let o = wikirag(&["inspect", "--index", idx, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["counts"]["articles"], 20);
    assert!(v["dumps"][0]["mode"].as_str().unwrap().contains("Parallel"));
}

#[test]
fn extract_prints_clean_text() {
    let o = wikirag(&[
        "extract",
        sample("enwiki-sample.xml").to_str().unwrap(),
        "--title",
        "Yuri Gagarin",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("# Yuri Gagarin (https://en.wikipedia.org/wiki/Yuri_Gagarin)"),
        "{out}"
    );
    assert!(
        out.contains("Yuri Gagarin — birth date: 9 March 1934"),
        "{out}"
    );
    assert!(!out.contains("<ref") && !out.contains("{{"), "{out}");
    let o = wikirag(&[
        "extract",
        sample("enwiki-sample.xml").to_str().unwrap(),
        "--title",
        "Nope",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no article titled"));
}

#[test]
fn errors_are_clear_and_exit_codes_tell() {
    let dir = tempfile::tempdir().unwrap();
    let o = wikirag(&["search", "--index", dir.path().to_str().unwrap(), "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("not a wikirag index"),
        "{}",
        text(&o.stderr)
    );

    // -k 0 is an error (it printed nothing and exited 0), as the HTTP API's 400 says.
    for cmd in ["search", "ask"] {
        let o = wikirag(&[cmd, "--index", dir.path().to_str().unwrap(), "-k", "0", "x"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(
            text(&o.stderr).contains("0 hits"),
            "{cmd}: {}",
            text(&o.stderr)
        );
    }

    // A window of 0 or past 256 sentences is refused before anything is read.
    for window in ["0", "257", "three"] {
        let out = dir.path().join("never");
        let o = wikirag(&[
            "index",
            "missing.xml",
            "--out",
            out.to_str().unwrap(),
            "--window",
            window,
        ]);
        assert_eq!(o.status.code(), Some(2), "{window}");
        assert!(
            text(&o.stderr).contains("expected auto or a number of sentences from 1 to 256"),
            "{window}: {}",
            text(&o.stderr)
        );
        assert!(!out.exists());
    }

    // Fusion weights that are not numbers in range are refused, not clamped into something.
    for (flag, value) in [
        ("--dense-weight", "NaN"),
        ("--dense-weight", "inf"),
        ("--dense-weight", "1.5"),
        ("--rrf-k", "NaN"),
        ("--rrf-k", "0"),
    ] {
        let o = wikirag(&[
            "search",
            "--index",
            dir.path().to_str().unwrap(),
            flag,
            value,
            "x",
        ]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}");
        let err = text(&o.stderr);
        assert!(
            err.contains(flag) && err.contains(value),
            "{flag} {value}: {err}"
        );
    }

    // A truncated dump: the index is published with the pages before the fault, exit 1.
    let bytes = std::fs::read(sample("enwiki-sample-multistream.xml.bz2")).unwrap();
    let cut = dir.path().join("cut.xml.bz2");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let out = dir.path().join("idx");
    let o = wikirag(&[
        "index",
        "-q",
        cut.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("cut.xml.bz2") && err.contains("published"),
        "{err}"
    );
    assert!(out.join("manifest.json").exists());

    // Refuses to overwrite without --force.
    let o = wikirag(&[
        "index",
        "-q",
        cut.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
}

#[test]
fn eval_reports_metrics_sweeps_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let idx = build_sample(dir.path());
    let idx = idx.to_str().unwrap();
    let qa = sample("questions.jsonl");
    let qa = qa.to_str().unwrap();
    let o = wikirag(&["eval", "--index", idx, "--qa", qa, "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in [
        "recall_at",
        "title_hit_at",
        "mrr",
        "ndcg_at_10",
        "per_kind",
        "per_language",
        "latency_ms",
        "params",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(
        v["questions"], 8,
        "question count, not the per-question list"
    );
    assert!(v["recall_at"]["10"].as_f64().unwrap() >= 0.75, "{v}");
    assert_eq!(v["params"]["mode"], "bm25");
    assert!(v.get("answers").is_none());

    // --ask adds answer metrics (extractive backend).
    let o = wikirag(&["eval", "--index", idx, "--qa", qa, "--json", "--ask"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let a = &v["answers"];
    assert_eq!(a["questions"], 8, "{a}");
    assert!(a["answer_contains"].as_f64().unwrap() >= 0.5, "{a}");
    assert!(a["citation_precision"].as_f64().unwrap() > 0.0, "{a}");
    assert!(a["failures"].as_array().unwrap().is_empty(), "{a}");

    let out = dir.path().join("report");
    let o = wikirag(&[
        "eval",
        "--index",
        idx,
        "--qa",
        qa,
        "--sweep",
        "k=5,10",
        "--sweep",
        "per_page=1,3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "header + 4 runs: {csv}");
    for f in [
        "results.md",
        "report.json",
        "sweep-k.svg",
        "sweep-per_page.svg",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }

    for (args, msg) in [
        (vec!["--ask", "--llm", "local"], "--model-path"),
        (vec!["--mode", "dense"], "built without --model"),
        (vec!["--sweep", "mode=bm25,hybrid"], "built without --model"),
        (vec!["--sweep", "nope=1"], "unknown sweep parameter"),
        (
            vec!["--sweep", "title_boost=-1"],
            "title_boost \"-1\" is not a number ≥ 0",
        ),
        (vec!["--sweep", "rrf_k=abc"], "rrf_k=\"abc\""),
        (
            vec!["--ask", "--sweep", "extractive_sentences=x"],
            "extractive_sentences=\"x\"",
        ),
    ] {
        let mut all = vec!["eval", "--index", idx, "--qa", qa];
        all.extend(args);
        let o = wikirag(&all);
        assert_eq!(o.status.code(), Some(2));
        assert!(text(&o.stderr).contains(msg), "{}", text(&o.stderr));
    }
}

#[test]
fn ask_extractive_and_with_a_local_gguf_model() {
    let dir = tempfile::tempdir().unwrap();
    let idx = build_sample(dir.path());
    let idx = idx.to_str().unwrap();
    let q = "Combien de femmes ont occupé le poste de Premier ministre en France ?";

    let o = wikirag(&["ask", "--index", idx, q]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("Élisabeth Borne") && out.contains("Sources:"),
        "{out}"
    );

    let o = wikirag(&["ask", "--index", idx, q, "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in ["answer", "citations", "evidence", "usage", "timings"] {
        assert!(v.get(key).is_some(), "{key}: {v}");
    }
    assert_eq!(v["backend"], "extractive");

    // A tiny random GGUF model: loads, generates, never overflows its 256-token context.
    let model_dir = dir.path().join("tiny-llm");
    let words = [
        "femmes", "premier", "ministre", "france", "cresson", "borne", "[", "]", "1",
    ];
    let gguf = wikirag_llm::write_tiny_gguf(&model_dir, &words, 256).unwrap();
    let o = wikirag(&[
        "ask",
        "--index",
        idx,
        q,
        "--json",
        "--llm",
        "local",
        "--model-path",
        gguf.to_str().unwrap(),
        "--answer-tokens",
        "16",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["backend"], "local:tiny");
    let prompt = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(prompt + 16 <= 256, "{v}");
    assert_eq!(
        v["usage"]["estimated"], false,
        "counted with the model's tokenizer"
    );
    assert!(
        !v["dropped"].as_array().unwrap().is_empty(),
        "the sample does not fit in 256 tokens"
    );

    // Missing model file: a clear error, exit 2.
    let o = wikirag(&[
        "ask",
        "--index",
        idx,
        q,
        "--llm",
        "local",
        "--model-path",
        "/nope.gguf",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("nope.gguf"), "{}", text(&o.stderr));
}

#[test]
fn relink_rebuilds_the_graph_with_other_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    wikirag_models::write_tiny_bert(&model, 32, &["the", "capital", "city", "paris"], false)
        .unwrap();
    let out = dir.path().join("vidx");
    let o = wikirag(&[
        "index",
        "-q",
        sample("enwiki-sample.xml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--hnsw-min-vectors",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let idx = out.to_str().unwrap();
    let manifest = |key: &str| -> serde_json::Value {
        let o = wikirag(&["inspect", "--index", idx, "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["embedding"][key].clone()
    };
    assert_eq!(manifest("hnsw_m"), 24);

    let o = wikirag(&[
        "relink",
        "--index",
        idx,
        "-q",
        "--hnsw-m",
        "8",
        "--ef-construction",
        "50",
        "--ef-search",
        "40",
        "--hnsw-min-vectors",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("re-linked"), "{}", text(&o.stdout));
    assert_eq!(manifest("hnsw_m"), 8);
    assert_eq!(manifest("hnsw_ef_search"), 40);
    // The beam width recorded by relink is what a search uses unless told otherwise.
    let search = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["search", "--index", idx, "capital city", "--mode", "dense"];
        args.extend_from_slice(extra);
        args.push("--json");
        let o = wikirag(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = search(&[]);
    assert_eq!(v["retrieval"]["ef_search"], 40, "{v}");
    assert!(!v["hits"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(search(&["--ef-search", "64"])["retrieval"]["ef_search"], 64);
    // The query pass's arithmetic is reported: int8 by default where the CPU runs it.
    let want = if wikirag_models::int8_supported() {
        "int8"
    } else {
        "f32"
    };
    assert_eq!(v["query_precision"], want, "{v}");
    let f32 = search(&["--query-precision", "f32"]);
    assert_eq!(f32["query_precision"], "f32", "{f32}");
    assert!(!f32["hits"].as_array().unwrap().is_empty(), "{f32}");
    let o = wikirag(&["search", "--index", idx, "x", "--query-precision", "fp4"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("int8 or f32"),
        "{}",
        text(&o.stderr)
    );

    // An index without vectors has nothing to link: a clear error.
    let plain = build_sample(dir.path());
    let o = wikirag(&["relink", "--index", plain.to_str().unwrap(), "-q"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no vectors"),
        "{}",
        text(&o.stderr)
    );
}

/// A small dump of `pages` (id, title, revision, text) for update tests.
fn dump(pages: &[(u64, &str, u64, &str)]) -> String {
    let mut out = String::from(
        "<mediawiki xml:lang=\"en\"><siteinfo><dbname>enwiki</dbname>\
         <base>https://en.wikipedia.org/wiki/Main</base></siteinfo>\n",
    );
    for (id, title, rev, text) in pages {
        out.push_str(&format!(
            "<page><title>{title}</title><ns>0</ns><id>{id}</id><revision><id>{rev}</id>\
             <text>{text}</text></revision></page>\n"
        ));
    }
    out.push_str("</mediawiki>\n");
    out
}

/// Old and new dumps: the new one edits page 1 (a word only it has: "zeppelin"), adds page
/// 40, deletes page 2.
fn update_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let mut old: Vec<(u64, String, u64, String)> = (1..40)
        .map(|i| {
            (
                i,
                format!("Page {i}"),
                100 + i,
                format!("Page {i} is about the river number {i}. It has a bridge and a tower."),
            )
        })
        .collect();
    let as_refs = |v: &[(u64, String, u64, String)]| -> String {
        let pages: Vec<(u64, &str, u64, &str)> = v
            .iter()
            .map(|(a, b, c, d)| (*a, b.as_str(), *c, d.as_str()))
            .collect();
        dump(&pages)
    };
    let old_path = dir.join("old.xml");
    std::fs::write(&old_path, as_refs(&old)).unwrap();
    old[0].2 += 1;
    old[0].3 = "Page 1 now tells of a zeppelin over the river.".into();
    old.remove(1);
    old.push((40, "Page 40".into(), 140, "Page 40 is new.".into()));
    let new_path = dir.join("new.xml");
    std::fs::write(&new_path, as_refs(&old)).unwrap();
    (old_path, new_path)
}

fn post(addr: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    common::http(addr, "POST", path, Some(body))
}

/// `wikirag serve` answers throughout an update and then from the new generation, with no
/// restart.
#[test]
fn serve_switches_to_the_new_generation_without_dropping_a_request() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = update_pair(dir.path());
    let idx = dir.path().join("idx");
    let o = wikirag(&[
        "index",
        "-q",
        old.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (mut server, addr, log) = common::serve(&idx, &["--reload-s", "1"]);
    let search = |q: &str| post(&addr, "/v1/search", &format!("{{\"query\": \"{q}\"}}"));
    let (code, body) = search("river bridge").unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(!search("zeppelin").unwrap().1.contains("zeppelin over"));
    // Requests all along the update and the switch.
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let (ok, failed) = (
        std::sync::Arc::new(AtomicUsize::new(0)),
        std::sync::Arc::new(AtomicUsize::new(0)),
    );
    let hammer = {
        let (done, ok, failed, addr) = (done.clone(), ok.clone(), failed.clone(), addr.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                match post(&addr, "/v1/search", "{\"query\": \"river tower\"}") {
                    Ok((200, body)) if body.contains("river") => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    let o = wikirag(&[
        "update",
        "-q",
        "--index",
        idx.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let started = std::time::Instant::now();
    let mut switched = false;
    while started.elapsed() < std::time::Duration::from_secs(30) {
        if search("zeppelin")
            .unwrap()
            .1
            .contains("zeppelin over the river")
        {
            switched = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    done.store(true, Ordering::SeqCst);
    hammer.join().unwrap();
    assert!(switched, "the server never served the new generation");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during the switch"
    );
    assert!(ok.load(Ordering::SeqCst) > 0);
    // Page 2 is gone from what the server answers.
    assert!(!search("river number 2").unwrap().1.contains("Page 2 is"));
    server.kill().unwrap();
    server.wait().unwrap();
    let log: Vec<String> = log.iter().collect();
    assert!(
        log.iter().any(|l| l.contains("now serving generation 1")),
        "{log:?}"
    );
}

/// A `wikirag update` killed (SIGKILL, no clean-up) at several moments leaves an index that
/// answers exactly as before or exactly as after, never anything else; the next update
/// succeeds and removes what the killed one left.
#[test]
fn a_killed_update_leaves_the_old_or_the_new_index_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = update_pair(dir.path());
    let idx = dir.path().join("idx");
    let reference = dir.path().join("reference");
    for (dump, out) in [(&old, &idx), (&new, &reference)] {
        let o = wikirag(&[
            "index",
            "-q",
            dump.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let hits = |index: &Path| -> String {
        let o = wikirag(&[
            "search",
            "--index",
            index.to_str().unwrap(),
            "river zeppelin number 2",
            "--json",
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["hits"].to_string()
    };
    let (before, after) = (hits(&idx), hits(&reference));
    assert_ne!(before, after);
    for delay_ms in [0, 2, 5, 10, 20, 40, 80] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wikirag"))
            .args([
                "update",
                "-q",
                "--index",
                idx.to_str().unwrap(),
                new.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let now = hits(&idx);
        assert!(
            now == before || now == after,
            "after a kill at {delay_ms} ms: {now}"
        );
        if now == after {
            break;
        }
    }
    let o = wikirag(&[
        "update",
        "-q",
        "--index",
        idx.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(hits(&idx), after);
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A tiny random BERT knowing the words of [`update_pair`]'s pages, in `dir/model`.
fn tiny_model(dir: &Path) -> PathBuf {
    let model = dir.join("model");
    wikirag_models::write_tiny_bert(&model, 32, &["the", "river", "zeppelin", "number"], false)
        .unwrap();
    model
}

/// The hits of `search --json` for `query` on `idx` with `extra` flags, as JSON text (compared
/// whole: same hits, order and scores).
fn hits_of(idx: &Path, query: &str, extra: &[&str]) -> String {
    let mut args = vec!["search", "--index", idx.to_str().unwrap(), query, "--json"];
    args.extend_from_slice(extra);
    let o = wikirag(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["hits"].to_string()
}

/// The passage pass's arithmetic is recorded, and an update embeds its new passages the same
/// way: an f32 build updated gives what an f32 build of the newer dump gives (an int8 pass
/// would give other scores), and a bad `--embed-precision` is a clear error.
#[test]
fn an_update_embeds_with_the_arithmetic_of_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = update_pair(dir.path());
    let model = tiny_model(dir.path());
    let build = |dump: &Path, out: &Path, precision: &str| {
        let o = wikirag(&[
            "index",
            "-q",
            dump.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--embed-precision",
            precision,
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    };
    let precision = |idx: &Path| -> serde_json::Value {
        let o = wikirag(&["inspect", "--index", idx.to_str().unwrap(), "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["embedding"]["passage_precision"].clone()
    };
    let hits = |idx: &Path| {
        hits_of(
            idx,
            "river zeppelin number",
            &["--mode", "dense", "--exact"],
        )
    };
    let (idx, f32_rebuild) = (dir.path().join("idx"), dir.path().join("f32"));
    build(&old, &idx, "f32");
    build(&new, &f32_rebuild, "f32");
    assert_eq!(precision(&idx), "f32");
    let o = wikirag(&[
        "update",
        "-q",
        "--index",
        idx.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(precision(&idx), "f32");
    assert_eq!(hits(&idx), hits(&f32_rebuild));
    if wikirag_models::int8_supported() {
        let int8 = dir.path().join("int8");
        build(&new, &int8, "int8");
        assert_eq!(precision(&int8), "int8");
        assert_ne!(hits(&int8), hits(&f32_rebuild), "the int8 pass did not run");
    }
    let o = wikirag(&[
        "index",
        new.to_str().unwrap(),
        "--out",
        dir.path().join("bad").to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--embed-precision",
        "fp4",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("int8 or f32"),
        "{}",
        text(&o.stderr)
    );
}

/// `wikirag index --model` killed (SIGKILL) at several moments and run again: the second run
/// keeps the rows the first made durable and gives an index that answers exactly as a build
/// never killed (BM25, dense exact, hybrid); nothing of the journal is left after it.
#[test]
fn a_killed_build_with_vectors_resumes_and_answers_as_an_uninterrupted_one() {
    // A vector per sentence, and per window of 3 sentences.
    killed_builds_resume("1", "3", &[2, 8, 20, 40, 80, 150]);
    killed_builds_resume("3", "1", &[20, 40, 60, 80, 120, 150]);
}

/// `chunk`: passages between two checkpoints (windows are a third as many).
fn killed_builds_resume(window: &str, chunk: &str, delays_ms: &[u64]) {
    let dir = tempfile::tempdir().unwrap();
    let (_, dump) = update_pair(dir.path());
    let model = tiny_model(dir.path());
    let args = |out: &Path| -> Vec<String> {
        [
            "index",
            "-q",
            "--force",
            dump.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--embed-chunk",
            chunk,
            "--embed-workers",
            "1",
            "--window",
            window,
        ]
        .map(String::from)
        .to_vec()
    };
    let answers = |idx: &Path| -> Vec<String> {
        [
            &["--mode", "bm25"][..],
            &["--mode", "dense", "--exact"],
            &["--mode", "hybrid", "--exact"],
        ]
        .iter()
        .map(|mode| hits_of(idx, "river zeppelin 7", &[mode, &["-k", "20"][..]].concat()))
        .collect()
    };
    let reference = dir.path().join("reference");
    let o = Command::new(env!("CARGO_BIN_EXE_wikirag"))
        .args(args(&reference))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let want = answers(&reference);
    let mut resumed_runs = 0;
    for &delay_ms in delays_ms {
        let out = dir.path().join(format!("killed-{delay_ms}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_wikirag"))
            .args(args(&out))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_wikirag"))
            .args(args(&out))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "after a kill at {delay_ms} ms: {}",
            text(&o.stderr)
        );
        if text(&o.stdout).contains("resumed:") {
            resumed_runs += 1;
        }
        assert_eq!(answers(&out), want, "after a kill at {delay_ms} ms");
        let hidden: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(
            hidden.is_empty(),
            "after a kill at {delay_ms} ms: {hidden:?}"
        );
    }
    eprintln!(
        "window {window}: {resumed_runs} of {} killed builds resumed with rows kept",
        delays_ms.len()
    );
}

/// `wikirag index --force` over an index, killed (SIGKILL) at several moments: the path always
/// holds a whole index, the old or the new one, and the next build succeeds.
#[test]
fn a_killed_forced_build_never_leaves_the_path_without_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = update_pair(dir.path());
    let idx = dir.path().join("idx");
    let build = |dump: &Path| {
        Command::new(env!("CARGO_BIN_EXE_wikirag"))
            .args([
                "index",
                "-q",
                "--force",
                dump.to_str().unwrap(),
                "--out",
                idx.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    assert!(build(&old).wait().unwrap().success());
    let answer = || {
        let o = wikirag(&[
            "search",
            "--index",
            idx.to_str().unwrap(),
            "zeppelin river",
            "--json",
        ]);
        assert!(
            o.status.success(),
            "no whole index at the path: {}",
            text(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["hits"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    for (i, delay_ms) in [0u64, 3, 6, 10, 15, 20, 30, 45, 60, 90]
        .into_iter()
        .enumerate()
    {
        let mut child = build(if i % 2 == 0 { &new } else { &old });
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let got = answer();
        assert!(
            got.contains("zeppelin") || got.contains("river number"),
            "after a kill at {delay_ms} ms: {got:?}"
        );
    }
    assert!(build(&new).wait().unwrap().success());
    assert!(answer().contains("zeppelin"));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

/// A key variable named on the command line but unset or empty is an error, not an open
/// server (it used to serve everything to anyone, silently).
#[test]
fn serve_refuses_to_start_open_when_its_key_variable_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (old, _) = update_pair(dir.path());
    let idx = dir.path().join("idx");
    let o = wikirag(&[
        "index",
        "-q",
        old.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for (value, says) in [
        (None, "not set"),
        (Some(""), "empty"),
        (Some("  "), "empty"),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wikirag"));
        cmd.args([
            "serve",
            "--index",
            idx.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--server-key-env",
            "WIKIRAG_TEST_MISSING_KEY",
        ]);
        match value {
            None => cmd.env_remove("WIKIRAG_TEST_MISSING_KEY"),
            Some(v) => cmd.env("WIKIRAG_TEST_MISSING_KEY", v),
        };
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(
            err.contains("WIKIRAG_TEST_MISSING_KEY") && err.contains(says),
            "{err}"
        );
    }
}

/// An input that cannot be read is warned about once; the final error points at the warning
/// instead of printing the same text again. `inspect --verify` says "ok" on a whole index and
/// names a damaged file (exit 1).
#[test]
fn an_error_is_said_once_and_verify_names_damage() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothere.xml");
    let out = wikirag(&[
        "index",
        missing.to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("nothere.xml").count(), 1, "{stderr}");
    assert!(stderr.contains("see the warning above"), "{stderr}");

    let index = build_sample(dir.path());
    let ok = wikirag(&["inspect", "--index", index.to_str().unwrap(), "--verify"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    assert!(text(&ok.stdout).starts_with("ok: "), "{}", text(&ok.stdout));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(index.join("manifest.json")).unwrap()).unwrap();
    let (name, _) = manifest["files"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(n, _)| n.ends_with(".store"))
        .expect("a tantivy store file");
    let path = index.join(name);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let bad = wikirag(&["inspect", "--index", index.to_str().unwrap(), "--verify"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stdout));
    assert!(
        text(&bad.stdout).contains(&format!("DAMAGED  {name}")),
        "{}",
        text(&bad.stdout)
    );
}

/// A build that fills the disk says so (tantivy's writer only said "an index writer was
/// killed", twice) and leaves no temporary directory. Needs a small tmpfs (root); skipped
/// where it cannot be mounted.
#[test]
fn a_full_disk_is_said_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48k", "tmpfs"])
        .arg(&small)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        wikirag_core::testing::skip("cannot mount a small tmpfs here (needs root)");
        return;
    }
    let out = wikirag(&[
        "index",
        sample("enwiki-sample.xml").to_str().unwrap(),
        "--out",
        small.join("idx").to_str().unwrap(),
        "-q",
    ]);
    let left: Vec<_> = std::fs::read_dir(&small)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let _ = Command::new("umount").arg(&small).output();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.matches("No space left on device").count(),
        1,
        "{stderr}"
    );
    assert!(left.is_empty(), "left behind: {left:?}");
}
