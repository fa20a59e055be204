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
    dump: &'static str,
    min_questions: usize,
    /// Floors, a little under the values measured when the set was written
    /// (en: recall@10 0.70, MRR 0.56; fr: recall@10 0.71, MRR 0.58).
    recall_at_10: f64,
    mrr: f64,
}

const SETS: &[Set] = &[
    Set {
        qa: "enwiki-2016.jsonl",
        dump: "enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2",
        min_questions: 40,
        recall_at_10: 0.66,
        mrr: 0.50,
    },
    Set {
        qa: "frwiki-2022.jsonl",
        dump: "frwiki-2022-maain-first22pages.xml",
        min_questions: 15,
        recall_at_10: 0.66,
        mrr: 0.52,
    },
];

#[test]
fn question_sets_are_well_formed_and_mixed() {
    for set in SETS {
        let questions = load_questions(&qa(set.qa)).unwrap();
        assert!(questions.len() >= set.min_questions, "{}", set.qa);
        let kinds: std::collections::BTreeSet<_> =
            questions.iter().filter_map(|q| q.kind.clone()).collect();
        for kind in ["infobox", "deep", "paraphrase"] {
            assert!(kinds.contains(kind), "{}: no {kind} question", set.qa);
        }
    }
}

/// Every answer string occurs in the cleaned text of one of its gold articles.
#[test]
fn every_answer_is_in_its_gold_article() {
    for set in SETS {
        let Some(path) = shared(set.dump) else { return };
        let mut sink = wikirag_tests::Collect::default();
        wikirag_indexer::read_into(
            &read_config(&[&path]),
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
        let Some(path) = shared(set.dump) else { return };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("idx");
        build(read_config(&[&path]), &out).unwrap();
        let index = SentenceIndex::open(&out).unwrap();
        let questions = load_questions(&qa(set.qa)).unwrap();
        let report = evaluate(&index, &questions, &Params::default());
        let (r10, mrr) = (report.overall.recall_at[&10], report.overall.mrr);
        eprintln!("{}: recall@10 {r10:.3}, MRR {mrr:.3}", set.qa);
        assert!(
            r10 >= set.recall_at_10,
            "{}: recall@10 fell to {r10:.3}",
            set.qa
        );
        assert!(mrr >= set.mrr, "{}: MRR fell to {mrr:.3}", set.qa);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }
}
