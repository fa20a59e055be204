//! The project's development question sets (`tests/eval/*.jsonl`), written over the real
//! samples in `../shared/data/wiki`: every answer is checked against the dump text, and BM25
//! must stay above a floor a little under the measured value, so regressions show.

use std::path::PathBuf;
use wikirag_eval::{Params, evaluate, load_questions, normalize};
use wikirag_index::SentenceIndex;
use wikirag_tests::{build, read_config, root, shared};

fn qa(name: &str) -> PathBuf {
    root().join("tests").join("eval").join(name)
}

struct Set {
    qa: &'static str,
    /// The corpus the set is written over, indexed together.
    dumps: &'static [&'static str],
    min_questions: usize,
    /// Kinds the set must hold.
    kinds: &'static [&'static str],
    /// Floors, a little under the values measured when the set was written
    /// (en: recall@10 0.70, MRR 0.56; fr: recall@10 0.71, MRR 0.58).
    recall_at_10: f64,
    mrr: f64,
}

const EN_SAMPLE: &str = "enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2";
const FR_SAMPLE: &str = "frwiki-2022-maain-first22pages.xml";
/// The standard evaluation corpus of a language: its real sample plus its vital-leads dump.
const EN_STANDARD: &[&str] = &[EN_SAMPLE, "enwiki-vital10k-leads.xml.bz2"];
const FR_STANDARD: &[&str] = &[FR_SAMPLE, "frwiki-vital10k-leads.xml.bz2"];
/// BM25 floors on the standard corpora, a little under the measured values (en: recall@10
/// 0.873, MRR 0.667; fr: 0.897, 0.770; benches/RESULTS.md). Dense and hybrid need the
/// multilingual model and ~17 minutes of embedding: `benches/eval-standard.sh`.
const VITAL_EN_R10: f64 = 0.84;
const VITAL_EN_MRR: f64 = 0.63;
const VITAL_FR_R10: f64 = 0.86;
const VITAL_FR_MRR: f64 = 0.73;
const VITAL_KINDS: &[&str] = &["lead", "paraphrase", "pronoun", "ambiguous"];

const SETS: &[Set] = &[
    Set {
        qa: "enwiki-2016.jsonl",
        dumps: &[EN_SAMPLE],
        min_questions: 40,
        kinds: &["infobox", "deep", "paraphrase"],
        // Measured 0.667 / 0.573.
        recall_at_10: 0.66,
        mrr: 0.54,
    },
    Set {
        qa: "frwiki-2022.jsonl",
        dumps: &[FR_SAMPLE],
        min_questions: 15,
        kinds: &["infobox", "deep", "paraphrase"],
        // Measured 0.821 / 0.660.
        recall_at_10: 0.78,
        mrr: 0.62,
    },
    // Written over the vital leads; evaluated on the standard corpus (sample + leads).
    Set {
        qa: "enwiki-vital.jsonl",
        dumps: EN_STANDARD,
        min_questions: 100,
        kinds: VITAL_KINDS,
        recall_at_10: VITAL_EN_R10,
        mrr: VITAL_EN_MRR,
    },
    Set {
        qa: "frwiki-vital.jsonl",
        dumps: FR_STANDARD,
        min_questions: 100,
        kinds: VITAL_KINDS,
        recall_at_10: VITAL_FR_R10,
        mrr: VITAL_FR_MRR,
    },
];

/// The dumps of a set, or `None` (the test says SKIPPED) when the shared data is absent.
fn dumps(set: &Set) -> Option<Vec<PathBuf>> {
    shared_all(set.dumps)
}

/// Shared dumps by name, or `None` (the test says SKIPPED) when the shared data is absent.
fn shared_all(names: &[&str]) -> Option<Vec<PathBuf>> {
    names.iter().map(|d| shared(d)).collect()
}

/// Prints a run's recall@10 and MRR; fails when either is under its floor or a question failed.
fn assert_floor(name: &str, report: &wikirag_eval::Report, r10_floor: f64, mrr_floor: f64) {
    let (r10, mrr) = (report.overall.recall_at[&10], report.overall.mrr);
    eprintln!("{name}: recall@10 {r10:.3}, MRR {mrr:.3}");
    assert!(r10 >= r10_floor, "{name}: recall@10 fell to {r10:.3}");
    assert!(mrr >= mrr_floor, "{name}: MRR fell to {mrr:.3}");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}

#[test]
fn question_sets_are_well_formed_and_mixed() {
    for set in SETS {
        let questions = load_questions(&qa(set.qa)).unwrap();
        assert!(questions.len() >= set.min_questions, "{}", set.qa);
        let kinds: std::collections::BTreeSet<_> =
            questions.iter().filter_map(|q| q.kind.clone()).collect();
        for &kind in set.kinds {
            assert!(kinds.contains(kind), "{}: no {kind} question", set.qa);
        }
    }
}

/// Every answer string occurs in the cleaned text of one of its gold articles.
#[test]
fn every_answer_is_in_its_gold_article() {
    for set in SETS {
        let Some(paths) = dumps(set) else { return };
        let paths: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
        let mut sink = wikirag_tests::Collect::default();
        wikirag_indexer::read_into(
            &read_config(&paths),
            &mut sink,
            std::sync::Arc::new(wikirag_core::NoProgress),
            &wikirag_core::StopFlag::new(),
        )
        .unwrap();
        let text: std::collections::HashMap<String, Vec<String>> = sink
            .articles
            .iter()
            .map(|a| {
                (
                    a.title.clone(),
                    a.sentences.iter().map(|s| normalize(&s.text)).collect(),
                )
            })
            .collect();
        for q in load_questions(&qa(set.qa)).unwrap() {
            let found = q.titles.iter().any(|t| {
                let sentences = text
                    .get(t)
                    .unwrap_or_else(|| panic!("{}: no article {t:?}", set.qa));
                sentences
                    .iter()
                    .any(|s| q.answers.iter().any(|a| s.contains(&normalize(a))))
            });
            assert!(
                found,
                "{}: {:?} — no gold article holds {:?}",
                set.qa, q.question, q.answers
            );
        }
    }
}

#[test]
fn bm25_stays_above_its_floor() {
    for set in SETS {
        let Some(paths) = dumps(set) else { return };
        let paths: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("idx");
        build(read_config(&paths), &out).unwrap();
        let index = SentenceIndex::open(&out).unwrap();
        let questions = load_questions(&qa(set.qa)).unwrap();
        let report = evaluate(&index, &questions, &Params::default());
        assert_floor(set.qa, &report, set.recall_at_10, set.mrr);
    }
}

/// Dense and hybrid floors on the French standard corpus with multilingual-e5-small, the model
/// the README recommends for French (`scripts/fetch-e5.sh`; skipped without it): the whole
/// corpus is embedded (29,150 sentences), the default options are
/// used, and each mode must stay a little under what `benches/eval-standard.sh` measured
/// (benches/RESULTS.md, "Title words counted once"). English dense and hybrid figures are in
/// the bench only (61 k sentences: twice the time). Minutes of embedding in an optimised build
/// (the test profile takes over 2.5 times as long), so it runs only when asked for:
/// `cargo test --release -p wikirag-tests --test eval -- --ignored` (CI does).
#[test]
#[ignore = "embeds 29 k sentences: run with `-- --ignored` (CI does)"]
fn dense_and_hybrid_stay_above_their_floors_in_french() {
    use std::sync::Arc;
    use wikirag_models::{BertEmbedder, EmbedderOptions};
    use wikirag_vectors::{Dense, Mode, RetrievalOptions, Searcher, VectorIndex};
    let Some(model_dir) =
        wikirag_tests::model_in("multilingual-e5-small-q4", "scripts/fetch-e5.sh")
    else {
        return;
    };
    let Some(paths) = shared_all(FR_STANDARD) else {
        return;
    };
    let paths: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("idx");
    let model = Arc::new(BertEmbedder::load(&model_dir, &EmbedderOptions::default()).unwrap());
    let started = std::time::Instant::now();
    wikirag_tests::build_with(
        read_config(&paths),
        &out,
        Some(wikirag_indexer::EmbedConfig::new(model.clone())),
    )
    .unwrap();
    eprintln!("embedded in {:.0} s", started.elapsed().as_secs_f64());
    let bm25 = Arc::new(SentenceIndex::open(&out).unwrap());
    let dense = Arc::new(Dense::new(model, Arc::new(VectorIndex::open(&out).unwrap())).unwrap());
    // (set, mode, recall@10 floor, MRR floor); measured: vital dense 0.948 / 0.782, hybrid
    // 0.974 / 0.879; frwiki-2022 dense 0.857 / 0.655, hybrid 0.929 / 0.759.
    let floors = [
        ("frwiki-vital.jsonl", Mode::Dense, 0.92, 0.75),
        ("frwiki-vital.jsonl", Mode::Hybrid, 0.94, 0.84),
        ("frwiki-2022.jsonl", Mode::Dense, 0.82, 0.62),
        ("frwiki-2022.jsonl", Mode::Hybrid, 0.89, 0.72),
    ];
    for (set, mode, r10_floor, mrr_floor) in floors {
        let searcher = Searcher::new(
            bm25.clone(),
            Some(dense.clone()),
            RetrievalOptions {
                mode,
                ..RetrievalOptions::default()
            },
        );
        let questions = load_questions(&qa(set)).unwrap();
        // k = 10, as the bench measures.
        let params = Params {
            k: 10,
            ..Params::default()
        };
        let report = evaluate(&searcher, &questions, &params);
        assert_floor(
            &format!("{set} {}", mode.name()),
            &report,
            r10_floor,
            mrr_floor,
        );
    }
}
