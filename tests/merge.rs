//! `wikirag index --part` + `wikirag merge`: the bundled multistream samples built as seven
//! work units (ranges of their bzip2 streams), merged, and compared with one build of the
//! same dumps: the same counts, and the same hits in the same order with the same scores for
//! every question of the dev sets in BM25, dense (exact) and hybrid (exact) modes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use wikirag_core::{NoProgress, SearchRequest, StopFlag};
use wikirag_corpus::Part;
use wikirag_index::{IndexError, Manifest, SentenceIndex};
use wikirag_indexer::{EmbedConfig, IndexerError, Input, MergeConfig, ReadConfig};
use wikirag_models::{BertEmbedder, EmbedderOptions, write_tiny_bert};
use wikirag_tests::{assert_same_answers, build_with, sample};
use wikirag_vectors::HnswParams;

const WORDS: &[&str] = &[
    "the",
    "capital",
    "city",
    "paris",
    "france",
    "prime",
    "minister",
    "first",
    "woman",
    "la",
    "de",
    "est",
    "république",
    "ministre",
];

/// The stream starts of a sample's multistream index.
fn starts(index: &Path) -> Vec<u64> {
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut bzip2::read::BzDecoder::new(std::fs::File::open(index).unwrap()),
        &mut text,
    )
    .unwrap();
    let mut out: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split(':').next()?.parse().ok())
        .collect();
    out.dedup();
    out
}

fn embed(model: &Arc<BertEmbedder>) -> EmbedConfig {
    let mut e = EmbedConfig::new(model.clone());
    e.chunk = 64;
    e.hnsw = HnswParams {
        min_vectors: 1,
        ..HnswParams::default()
    };
    e
}

fn config(inputs: Vec<Input>) -> ReadConfig {
    ReadConfig {
        inputs,
        threads: 2,
        ..ReadConfig::default()
    }
}

/// Each sample's streams in units of one or two streams (the last runs to the end of the
/// file, whose final stream holds `</mediawiki>`).
fn units() -> Vec<Input> {
    let mut out = Vec::new();
    for wiki in ["frwiki", "enwiki"] {
        let dump = sample(&format!("{wiki}-sample-multistream.xml.bz2"));
        let index = sample(&format!("{wiki}-sample-multistream-index.txt.bz2"));
        let s = starts(&index);
        let mut cuts: Vec<u64> = s.iter().step_by(2).copied().collect();
        cuts.push(u64::MAX);
        for w in cuts.windows(2) {
            let mut input = Input::new(&dump);
            input.multistream_index = Some(index.clone());
            input.part = Some(Part {
                start: w[0],
                end: w[1],
            });
            out.push(input);
        }
    }
    out
}

#[test]
fn a_merge_of_parts_answers_like_one_build() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_bert(&tmp.path().join("model"), 32, WORDS, false).unwrap();
    let model = Arc::new(
        BertEmbedder::load(&tmp.path().join("model"), &EmbedderOptions::default()).unwrap(),
    );

    let single = tmp.path().join("single");
    let whole: Vec<Input> = ["frwiki", "enwiki"]
        .iter()
        .map(|w| Input::with_companion_index(sample(&format!("{w}-sample-multistream.xml.bz2"))))
        .collect();
    let single_manifest = build_with(config(whole), &single, Some(embed(&model))).unwrap();

    let units = units();
    assert!(units.len() >= 4, "{} units", units.len());
    let mut shards = Vec::new();
    for (i, unit) in units.into_iter().enumerate() {
        let out = tmp.path().join(format!("shard-{i}"));
        let m = build_with(config(vec![unit]), &out, Some(embed(&model))).unwrap();
        assert!(m.dumps[0].part.is_some());
        assert_eq!(m.dumps[0].fatal_error, None, "{:?}", m.dumps[0]);
        shards.push(out);
    }
    let merged = tmp.path().join("merged");
    let report = wikirag_indexer::merge(
        &MergeConfig {
            shards: shards.clone(),
            out: merged.clone(),
            overwrite: false,
            hnsw: None,
        },
        &NoProgress,
        &StopFlag::new(),
    )
    .unwrap();
    let m = &report.manifest;
    assert_eq!(m.counts, single_manifest.counts);
    assert_eq!(m.dumps.len(), shards.len());
    let (e, e1) = (
        m.embedding.as_ref().unwrap(),
        single_manifest.embedding.as_ref().unwrap(),
    );
    assert_eq!(
        (e.vectors, &e.model, e.graph),
        (e1.vectors, &e1.model, e1.graph)
    );
    assert!(wikirag_index::verify(&merged).unwrap().problems.is_empty());

    assert_same_answers(&single, &merged, &model);

    // A redirect whose target lies in another unit still resolves: "Matignon" (last unit)
    // names the page "Hôtel de Matignon" (first unit).
    let bm25 = SentenceIndex::open(&merged).unwrap();
    let hits = bm25.search(&SearchRequest::new("Matignon")).unwrap();
    assert!(
        hits.iter().any(|h| h.title == "Hôtel de Matignon"),
        "{hits:?}"
    );

    // Overlapping shards, a shard that is the output, an existing output: clear errors, and
    // the merged index is left as it was.
    let again = |shards: Vec<PathBuf>, out: &Path, overwrite: bool| {
        wikirag_indexer::merge(
            &MergeConfig {
                shards,
                out: out.to_path_buf(),
                overwrite,
                hnsw: None,
            },
            &NoProgress,
            &StopFlag::new(),
        )
    };
    let err = again(
        vec![shards[0].clone(), single.clone()],
        &tmp.path().join("x"),
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("disjoint"), "{err}");
    assert!(!tmp.path().join("x").exists());
    let err = again(vec![shards[0].clone(), merged.clone()], &merged, true).unwrap_err();
    assert!(err.to_string().contains("output"), "{err}");
    let err = again(shards.clone(), &merged, false).unwrap_err();
    assert!(
        matches!(err, IndexerError::Index(IndexError::Exists { .. })),
        "{err}"
    );
    assert_eq!(Manifest::read(&merged).unwrap().counts, m.counts);
    // A shard of an older wikirag (format 4: bare page ids, which several wikis cannot mix).
    let old = tmp.path().join("old");
    wikirag_tests::copy_fixture("index-before-title-words", &old);
    let err = again(vec![old, shards[0].clone()], &tmp.path().join("x"), false).unwrap_err();
    assert!(err.to_string().contains("older wikirag"), "{err}");
    assert!(!tmp.path().join("x").exists());
}
