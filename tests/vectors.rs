//! Dense and hybrid retrieval end to end: the bundled sample embedded by a tiny random BERT
//! (always) and by the real all-MiniLM-L6-v2 (when scripts/fetch-model.sh has run).

use std::path::Path;
use std::sync::Arc;
use wikirag_core::{Embedder, SearchRequest};
use wikirag_index::SentenceIndex;
use wikirag_indexer::EmbedConfig;
use wikirag_models::{BertEmbedder, EmbedderOptions, write_tiny_bert, write_tiny_bert_seeded};
use wikirag_tests::{build_with, read_config, real_model, sample};
use wikirag_vectors::{
    Dense, HnswParams, Mode, RetrievalOptions, Searcher, VectorError, VectorIndex, VectorSearch,
};

const WORDS: &[&str] = &[
    "the", "capital", "city", "paris", "france", "tower", "prime", "minister", "space", "first",
    "woman", "highest", "europe", "river", "la", "de", "est",
];

fn tiny_model(dir: &Path) -> Arc<BertEmbedder> {
    write_tiny_bert(dir, 32, WORDS, false).unwrap();
    Arc::new(BertEmbedder::load(dir, &EmbedderOptions::default()).unwrap())
}

fn build_sample(
    out: &Path,
    model: Arc<BertEmbedder>,
    first: Option<u64>,
) -> wikirag_index::Manifest {
    build_sample_as(out, model, |e| e.embed_first = first)
}

fn build_sample_as(
    out: &Path,
    model: Arc<BertEmbedder>,
    configure: impl FnOnce(&mut EmbedConfig),
) -> wikirag_index::Manifest {
    let mut embed = EmbedConfig::new(model);
    configure(&mut embed);
    embed.chunk = 64;
    embed.hnsw = HnswParams {
        min_vectors: 1,
        ..HnswParams::default()
    };
    build_with(
        read_config(&[
            &sample("frwiki-sample-multistream.xml.bz2"),
            &sample("enwiki-sample.xml"),
        ]),
        out,
        Some(embed),
    )
    .unwrap()
}

type S = Searcher<SentenceIndex, BertEmbedder>;

fn searcher(dir: &Path, model: Arc<BertEmbedder>, mode: Mode) -> S {
    searcher_with(dir, model, mode, false)
}

/// `exact`: every vector searched. The graph's hits depend on the order rows were inserted,
/// and rows follow the order cleaner threads finished pages in, so over a random tiny model's
/// vectors an assertion about fused ranks needs the exact list to hold on every run.
fn searcher_with(dir: &Path, model: Arc<BertEmbedder>, mode: Mode, exact: bool) -> S {
    let bm25 = Arc::new(SentenceIndex::open(dir).unwrap());
    let vectors = Arc::new(VectorIndex::open(dir).unwrap());
    let dense = Arc::new(Dense::new(model, vectors).unwrap());
    Searcher::new(
        bm25,
        Some(dense),
        RetrievalOptions {
            mode,
            exact,
            ..RetrievalOptions::default()
        },
    )
}

#[test]
fn tiny_model_index_dense_and_hybrid() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(&tmp.path().join("model"));
    let out = tmp.path().join("index");
    let manifest = build_sample(&out, model.clone(), None);

    let e = manifest.embedding.as_ref().expect("embedding recorded");
    assert_eq!(e.model, *model.info());
    assert_eq!(e.vectors, manifest.counts.sentences);
    assert!(e.graph);
    assert_eq!(e.scope(), "all sentences");
    assert_eq!(e.embed_first, None);

    // Reloaded graph and exact search agree on a small index with a wide beam.
    let vectors = VectorIndex::open(&out).unwrap();
    assert!(vectors.has_graph());
    assert_eq!(vectors.store().len() as u64, manifest.counts.sentences);
    let q = model
        .embed(
            &["first woman prime minister"],
            wikirag_core::TextRole::Query,
        )
        .unwrap()
        .pop()
        .unwrap();
    let exact = vectors.search(&q, 10, VectorSearch::Exact).unwrap();
    let graph = vectors
        .search(&q, 10, VectorSearch::Hnsw { ef: 400 })
        .unwrap();
    let exact_rows: Vec<u32> = exact.iter().map(|h| h.0).collect();
    let found = graph.iter().filter(|h| exact_rows.contains(&h.0)).count();
    assert!(found >= 9, "HNSW found {found}/10 of the exact top 10");
    for w in exact.windows(2) {
        assert!(w[0].1 >= w[1].1, "best first");
    }

    let dense = searcher(&out, model.clone(), Mode::Dense);
    let request = SearchRequest {
        k: 8,
        per_page: 2,
        context: 1,
        ..SearchRequest::new("capital city of France")
    };
    let hits = dense.search(&request).unwrap();
    assert_eq!(hits.len(), 8);
    let mut per_page = std::collections::HashMap::new();
    for h in &hits {
        *per_page.entry(h.page_id).or_insert(0) += 1;
        assert!(!h.text.is_empty() && !h.title.is_empty() && h.url.starts_with("http"));
        assert!(h.score <= 1.0001);
    }
    assert!(per_page.values().all(|&n| n <= 2), "{per_page:?}");
    // Stored positions point at the very sentences BM25 returns for those positions.
    let bm25 = SentenceIndex::open(&out).unwrap();
    for h in &hits {
        let again = bm25.fetch_hits(&[(h.page_id, h.sentence)], 0).unwrap();
        assert_eq!(again[0].text, h.text);
    }

    let hybrid = searcher_with(&out, model.clone(), Mode::Hybrid, true);
    let hits = hybrid
        .search(&SearchRequest::new("Édith Cresson Élisabeth Borne"))
        .unwrap();
    assert!(hits.len() <= 10 && !hits.is_empty());
    // Weighted fusion (the default) of two min-max normalised lists: scores within [0, 1].
    assert!(hits.iter().all(|h| (0.0..=1.0 + 1e-6).contains(&h.score)));
    assert!(
        hits.iter().any(|h| h.text.contains("Cresson")),
        "{:#?}",
        hits.iter().map(|h| (&h.text, h.score)).collect::<Vec<_>>()
    );

    // Batched queries (one model call) give the same hits as one query at a time.
    let requests = [
        SearchRequest::new("capital city of France"),
        SearchRequest::new("first woman prime minister"),
    ];
    let together = hybrid.search_many(&requests).unwrap();
    let alone: Vec<_> = requests.iter().map(|r| hybrid.search(r).unwrap()).collect();
    assert_eq!(together, alone);

    // BM25 mode of the same searcher is plain BM25.
    let lexical = searcher(&out, model, Mode::Bm25)
        .search(&SearchRequest::new("Cresson"))
        .unwrap();
    assert_eq!(
        lexical,
        bm25.search(&SearchRequest::new("Cresson")).unwrap()
    );
}

#[test]
fn scope_limits_what_is_embedded() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(&tmp.path().join("model"));
    let out = tmp.path().join("index");
    let manifest = build_sample(&out, model, Some(2));
    let e = manifest.embedding.unwrap();
    assert_eq!(e.scope(), "the first 2 sentences of each page");
    assert_eq!(e.embed_first, Some(2));
    // An index from before `embed_first` said it in words only: read the same.
    let path = out.join("manifest.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let record = json["embedding"].as_object_mut().unwrap();
    record.remove("embed_first");
    record.insert("scope".into(), "the first 2 sentences of each page".into());
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let legacy = wikirag_index::Manifest::read(&out).unwrap();
    assert_eq!(legacy.embedding.unwrap().embed_first, Some(2));
    assert_eq!(e.vectors, 2 * manifest.counts.articles);
    assert!(e.vectors < manifest.counts.sentences);
}

/// A vector per window of 3 sentences: the rows cover every sentence once, in runs of at most
/// 3 consecutive ones; every hit is still a sentence, and a window's sentences come in the
/// order BM25 ranks them, not in page order.
#[test]
fn windows_of_sentences_are_searched_as_sentences() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(&tmp.path().join("model"));
    let out = tmp.path().join("index");
    let manifest = build_sample_as(&out, model.clone(), |e| e.window = 3);
    let e = manifest.embedding.as_ref().unwrap();
    assert_eq!(e.window, 3);
    assert_eq!(e.scope(), "all sentences, 3 sentences a vector");

    let vectors = VectorIndex::open(&out).unwrap();
    let store = vectors.store();
    assert!(store.windowed());
    assert_eq!(store.len() as u64, e.vectors);
    let mut covered = std::collections::BTreeSet::new();
    for row in 0..store.len() {
        let (page, span) = store.span(row);
        assert!((1..=3).contains(&span.count), "{span:?}");
        for o in span.ordinals() {
            assert!(covered.insert((page, o)), "({page}, {o}) in two rows");
        }
    }
    assert_eq!(covered.len() as u64, manifest.counts.sentences);
    assert!(
        e.vectors < manifest.counts.sentences,
        "{} vectors",
        e.vectors
    );
    assert!((0..store.len()).any(|r| store.span(r).1.count == 3));
    let bm25 = SentenceIndex::open(&out).unwrap();
    assert!(
        bm25.fetch_hits(&covered.iter().copied().collect::<Vec<_>>(), 0)
            .is_ok()
    );

    // The BM25 favourite for a query sits inside a window, not at its start: among the
    // window's sentences in the dense list, it comes first.
    let (query, lexical, target, page, span) = [
        "Édith Cresson Élisabeth Borne",
        "Élisabeth Borne",
        "first woman in space",
        "highest mountain",
        "Seine river",
        "Eiffel tower",
        "capitale de la France",
    ]
    .into_iter()
    .find_map(|query| {
        let lexical = bm25.search(&SearchRequest::new(query)).unwrap();
        let target = (lexical.first()?.page_id, lexical[0].sentence);
        let (page, span) = (0..store.len())
            .map(|r| store.span(r))
            .find(|(p, s)| *p == target.0 && s.ordinals().contains(&target.1))
            .unwrap();
        (span.first != target.1).then_some((query, lexical, target, page, span))
    })
    .expect("a query whose best sentence is inside its window");
    let positions: Vec<((u64, u32), f32)> = lexical
        .iter()
        .map(|h| ((h.page_id, h.sentence), h.score))
        .collect();
    let q = model
        .embed(&[query], wikirag_core::TextRole::Query)
        .unwrap()
        .pop()
        .unwrap();
    let dense = Dense::new(model.clone(), Arc::new(VectorIndex::open(&out).unwrap())).unwrap();
    let found = dense
        .candidates(&q, store.len() * 3, 0, VectorSearch::Exact, &positions)
        .unwrap();
    let mates: Vec<u32> = found
        .iter()
        .filter(|((p, o), _)| *p == page && span.ordinals().contains(o))
        .map(|((_, o), _)| *o)
        .collect();
    assert_eq!(mates.len() as u32, span.count);
    assert_eq!(mates[0], target.1, "{mates:?}");

    // Every mode answers with sentences, the per-page cap held.
    for mode in [Mode::Dense, Mode::Hybrid] {
        let searcher = searcher_with(&out, model.clone(), mode, true);
        let hits = searcher
            .search(&SearchRequest {
                k: 8,
                per_page: 2,
                ..SearchRequest::new(query)
            })
            .unwrap();
        assert_eq!(hits.len(), 8, "{mode:?}");
        let mut per_page = std::collections::HashMap::new();
        for h in &hits {
            *per_page.entry(h.page_id).or_insert(0) += 1;
            assert!(covered.contains(&(h.page_id, h.sentence)));
        }
        assert!(per_page.values().all(|&n| n <= 2), "{mode:?} {per_page:?}");
        if mode == Mode::Hybrid {
            // BM25's first keeps a place (`keep_top`).
            assert!(hits.iter().any(|h| (h.page_id, h.sentence) == target));
        }
    }
}

#[test]
fn another_model_or_a_damaged_index_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(&tmp.path().join("model"));
    let out = tmp.path().join("index");
    build_sample(&out, model, Some(3));

    let other_dir = tmp.path().join("other");
    write_tiny_bert_seeded(&other_dir, 32, WORDS, false, 1).unwrap();
    let other = Arc::new(BertEmbedder::load(&other_dir, &EmbedderOptions::default()).unwrap());
    let vectors = Arc::new(VectorIndex::open(&out).unwrap());
    let err = Dense::new(other, vectors).err().unwrap();
    assert!(matches!(err, VectorError::ModelMismatch { .. }), "{err}");
    assert!(err.to_string().contains("another model"), "{err}");

    // A BM25-only searcher refuses dense and hybrid modes with a message saying why.
    let bm25 = Arc::new(SentenceIndex::open(&out).unwrap());
    let s: S = Searcher::new(bm25, None, RetrievalOptions::default());
    let err = s.search(&SearchRequest::new("paris")).unwrap_err();
    assert!(err.to_string().contains("--model"), "{err}");

    // Truncated vectors: the file is named.
    let file = out.join("vectors").join("vectors.i8");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 7]).unwrap();
    let err = VectorIndex::open(&out).err().unwrap().to_string();
    assert!(
        err.contains("vectors.i8") && err.contains("truncated"),
        "{err}"
    );

    // A damaged graph is an error too, not a silent fallback.
    std::fs::write(&file, &bytes).unwrap();
    let graph = out.join("vectors").join("graph.bin");
    let good = std::fs::read(&graph).unwrap();
    std::fs::write(&graph, b"junk").unwrap();
    let err = VectorIndex::open(&out).err().unwrap().to_string();
    assert!(err.contains("graph.bin") && err.contains("relink"), "{err}");

    // `relink` rebuilds it from the stored vectors, with other parameters.
    let params = HnswParams {
        m: 8,
        ef_construction: 40,
        ef_search: 64,
        min_vectors: 1,
        codes: true,
    };
    let meta = wikirag_vectors::relink(
        &out,
        params,
        &wikirag_core::NoProgress,
        &wikirag_core::StopFlag::new(),
    )
    .unwrap();
    // As `wikirag relink` publishes it: checksums recorded anew.
    wikirag_index::Manifest::read(&out)
        .unwrap()
        .write(&out)
        .unwrap();
    assert!(meta.graph);
    assert_eq!(meta.hnsw, params);
    assert_ne!(
        std::fs::read(&graph).unwrap(),
        good,
        "linked with m=8, not 16"
    );
    let vectors = VectorIndex::open(&out).unwrap();
    assert!(vectors.has_graph());
    assert_eq!(vectors.meta().hnsw, params);

    // An index of the older format (an hnsw_rs graph) is told to relink, and relink fixes it.
    let meta_path = out.join("vectors").join("meta.json");
    let mut old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    old["format"] = 1.into();
    std::fs::write(&meta_path, serde_json::to_vec(&old).unwrap()).unwrap();
    std::fs::write(out.join("vectors").join("hnsw.hnsw.graph"), b"old").unwrap();
    let err = VectorIndex::open(&out).err().unwrap().to_string();
    assert!(
        err.contains("vector format 1") && err.contains("wikirag relink"),
        "{err}"
    );
    let meta = wikirag_vectors::relink(
        &out,
        HnswParams {
            min_vectors: usize::MAX,
            ..params
        },
        &wikirag_core::NoProgress,
        &wikirag_core::StopFlag::new(),
    )
    .unwrap();
    wikirag_index::Manifest::read(&out)
        .unwrap()
        .write(&out)
        .unwrap();
    // Fewer vectors than min_vectors: no graph, exact search; the old files are gone.
    assert!(!meta.graph && meta.format == wikirag_vectors::VECTOR_FORMAT);
    assert!(!graph.exists() && !out.join("vectors").join("hnsw.hnsw.graph").exists());
    let vectors = VectorIndex::open(&out).unwrap();
    assert!(!vectors.has_graph());
}

/// The real model on the bundled sample: paraphrases BM25 cannot match by words.
#[test]
fn real_model_finds_paraphrases() {
    let Some(dir) = real_model() else { return };
    let model = Arc::new(BertEmbedder::load(&dir, &EmbedderOptions::default()).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("index");
    build_sample(&out, model.clone(), None);
    let dense = searcher(&out, model.clone(), Mode::Dense);
    let top = |s: &S, q: &str| -> Vec<String> {
        s.search(&SearchRequest {
            k: 3,
            ..SearchRequest::new(q)
        })
        .unwrap()
        .into_iter()
        .map(|h| h.title)
        .collect()
    };
    // No word of the question but "capital" is in the answer sentence's page title.
    let titles = top(
        &dense,
        "which capital sits at the greatest altitude in Europe",
    );
    assert!(
        titles.contains(&"Andorra la Vella".to_string()),
        "{titles:?}"
    );
    let titles = top(&dense, "who was the first person to travel to outer space");
    assert!(
        titles
            .iter()
            .any(|t| t == "Yuri Gagarin" || t == "Vostok 1"),
        "{titles:?}"
    );
    let hybrid = searcher(&out, model, Mode::Hybrid);
    let titles = top(
        &hybrid,
        "which capital sits at the greatest altitude in Europe",
    );
    assert!(
        titles.contains(&"Andorra la Vella".to_string()),
        "{titles:?}"
    );
}

/// A sentence repeated in a page (a quote given three times) is one hit in every mode, and the
/// slots it freed go to the next sentences.
#[test]
fn repeated_text_of_a_page_is_one_hit_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let quote = "The tower is the capital of the city.";
    let text = format!(
        "{quote} Paris is a city in France. {quote}\n\nThe river runs through the city. {quote} The first tower was in Paris. The capital has a river."
    );
    let xml = format!(
        r#"<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" xml:lang="en"><siteinfo><dbname>enwiki</dbname></siteinfo>
<page><title>Tower</title><ns>0</ns><id>7</id><revision><id>70</id><text xml:space="preserve">{text}</text></revision></page>
</mediawiki>"#
    );
    let dump = dir.path().join("quote.xml");
    std::fs::write(&dump, xml).unwrap();
    let model = tiny_model(&dir.path().join("model"));
    let mut embed = EmbedConfig::new(model.clone());
    embed.hnsw = HnswParams {
        min_vectors: 1,
        ..HnswParams::default()
    };
    let out = dir.path().join("idx");
    build_with(read_config(&[&dump]), &out, Some(embed)).unwrap();
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        let s = searcher(&out, model.clone(), mode);
        let hits = s
            .search(&SearchRequest {
                k: 5,
                per_page: 0,
                ..SearchRequest::new("tower capital city")
            })
            .unwrap();
        let copies = hits.iter().filter(|h| h.text == quote).count();
        assert_eq!(copies, 1, "{mode:?}: {hits:#?}");
        assert_eq!(hits.len(), 5, "{mode:?}: the freed slots are refilled");
    }
}

/// Copies an index directory (files only, one level of subdirectories and more).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file of an index with vectors, damaged at its start, middle and end: `verify` names
/// that file and only it; opening and searching the damaged copy answers or errs but never
/// panics (tantivy panicked on a flipped byte in a segment, and `inspect` said "ok" on every
/// damaged copy). An edited manifest and a truncated file are refused on open, naming the file.
#[test]
fn damage_to_any_file_is_found_and_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(&tmp.path().join("model"));
    let out = tmp.path().join("index");
    build_sample(&out, model.clone(), None);
    let manifest = wikirag_index::Manifest::read(&out).unwrap();
    assert!(manifest.files.len() > 5, "{:?}", manifest.files.keys());
    let whole = wikirag_index::verify(&out).unwrap();
    assert!(whole.problems.is_empty() && !whole.unrecorded, "{whole:?}");
    assert_eq!(whole.files, manifest.files.len() + 1);

    let queries = [
        "capital of France",
        "première femme Premier ministre",
        "tower",
    ];
    let mut opened_damaged = 0;
    for (name, sum) in &manifest.files {
        for at in [0, sum.bytes / 2, sum.bytes.saturating_sub(1)] {
            if sum.bytes == 0 {
                continue;
            }
            let copy = tmp.path().join("damaged");
            let _ = std::fs::remove_dir_all(&copy);
            copy_dir(&out, &copy);
            let path = copy.join(name);
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[at as usize] ^= 0x5a;
            std::fs::write(&path, bytes).unwrap();

            let v = wikirag_index::verify(&copy).unwrap();
            assert_eq!(v.problems.len(), 1, "{name}@{at}: {v:?}");
            assert!(
                v.problems[0].starts_with(name.as_str()),
                "{name}@{at}: {v:?}"
            );

            // A small file is read whole on open: its damage is refused at once.
            if sum.bytes <= 1 << 20 {
                let e = SentenceIndex::open(&copy)
                    .err()
                    .unwrap_or_else(|| panic!("{name}@{at}: damage to a small file opened"));
                assert!(
                    matches!(e, wikirag_index::IndexError::Damaged { .. })
                        && e.to_string().contains(name.as_str()),
                    "{name}@{at}: {e}"
                );
            }
            // Damage no check on open can see (there before the checksums were taken):
            // searching must still never panic.
            wikirag_index::Manifest::read(&copy)
                .unwrap()
                .write(&copy)
                .unwrap();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let Ok(bm25) = SentenceIndex::open(&copy) else {
                    return false;
                };
                let bm25 = Arc::new(bm25);
                let dense = VectorIndex::open(&copy)
                    .ok()
                    .and_then(|v| Dense::new(model.clone(), Arc::new(v)).ok())
                    .map(Arc::new);
                let s = Searcher::new(
                    bm25,
                    dense,
                    RetrievalOptions {
                        mode: Mode::Hybrid,
                        ..RetrievalOptions::default()
                    },
                );
                for q in queries {
                    let _ = wikirag_core::Retriever::search(
                        &s,
                        &SearchRequest {
                            query: q.into(),
                            k: 10,
                            context: 1,
                            per_page: 3,
                        },
                    );
                }
                true
            }));
            opened_damaged += usize::from(matches!(outcome, Ok(true)));
            assert!(outcome.is_ok(), "{name}@{at}: a panic reached the caller");
        }
    }
    assert!(opened_damaged > 0);

    // Cheap checks on open: an edited manifest, a truncated file.
    let copy = tmp.path().join("edited");
    copy_dir(&out, &copy);
    let text = std::fs::read_to_string(copy.join("manifest.json")).unwrap();
    let edited = text.replacen("\"dim\": 32", "\"dim\": 33", 1);
    assert_ne!(edited, text);
    std::fs::write(copy.join("manifest.json"), edited).unwrap();
    let e = SentenceIndex::open(&copy)
        .err()
        .expect("edited manifest refused");
    assert!(
        matches!(e, wikirag_index::IndexError::Damaged { .. })
            && e.to_string().contains("manifest.json"),
        "{e}"
    );
    let copy = tmp.path().join("truncated");
    copy_dir(&out, &copy);
    let rows = copy.join("vectors").join("rows.bin");
    let len = std::fs::metadata(&rows).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&rows)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let e = SentenceIndex::open(&copy)
        .err()
        .expect("truncated file refused");
    assert!(e.to_string().contains("vectors/rows.bin"), "{e}");
}
