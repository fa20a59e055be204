//! criterion harness: `cargo bench -p wikirag-benches`.
//!
//! - `clean`: wikitext → sentences throughput (MB/s of wikitext) on real enwiki and frwiki pages.
//! - `split`: sentence splitting alone.
//! - `read`: decompression + XML of the Wiktionary multistream sample, parallel vs sequential.
//! - `index`: sentences/s added to a tantivy index (commit included).
//! - `search`: BM25 query latency on an index of the real enwiki sample.
//!
//! Real samples come from `../shared/data/wiki`; without it the benches use the bundled sample.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use wikirag_benches::{load_pages, sample_dir, shared_wiki};
use wikirag_core::{Article, Language, NoProgress, Page, SearchRequest, SiteInfo};
use wikirag_corpus::{CleanOptions, Cleaner, OpenOptions};

fn en_dump() -> PathBuf {
    shared_wiki()
        .map(|d| d.join("enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2"))
        .unwrap_or_else(|| sample_dir().join("enwiki-sample.xml"))
}

fn fr_dump() -> PathBuf {
    shared_wiki()
        .map(|d| d.join("frwiki-2022-maain-first22pages.xml"))
        .unwrap_or_else(|| sample_dir().join("frwiki-sample.xml"))
}

fn articles_of<'a>(site: &SiteInfo, pages: &'a [Page]) -> (Cleaner, Vec<&'a Page>) {
    let lang = site.language().unwrap_or(Language::English);
    let cleaner = Cleaner::new(site, lang, CleanOptions::default());
    let pages = pages
        .iter()
        .filter(|p| p.namespace == 0 && p.redirect.is_none())
        .collect();
    (cleaner, pages)
}

fn clean(c: &mut Criterion) {
    let mut group = c.benchmark_group("clean");
    group.sample_size(10);
    for (name, path) in [("enwiki", en_dump()), ("frwiki", fr_dump())] {
        let (site, pages) = load_pages(&path).expect("load dump");
        let (cleaner, pages) = articles_of(&site, &pages);
        let bytes: usize = pages.iter().map(|p| p.text.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(BenchmarkId::new("clean_split_1thread", name), |b| {
            b.iter(|| {
                let mut n = 0;
                for p in &pages {
                    n += cleaner.clean(p).map(|a| a.sentences.len()).unwrap_or(0);
                }
                black_box(n)
            })
        });
    }
    group.finish();
}

fn split(c: &mut Criterion) {
    let (site, pages) = load_pages(&en_dump()).expect("load dump");
    let (cleaner, pages) = articles_of(&site, &pages);
    let paragraphs: Vec<String> = pages
        .iter()
        .filter_map(|p| cleaner.clean(p).ok())
        .flat_map(|a| a.sentences.into_iter().map(|s| s.text))
        .collect::<Vec<_>>()
        .chunks(5)
        .map(|c| c.join(" "))
        .collect();
    let bytes: usize = paragraphs.iter().map(String::len).sum();
    let mut group = c.benchmark_group("split");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("split_sentences_en", |b| {
        b.iter(|| {
            let n: usize = paragraphs
                .iter()
                .map(|p| wikirag_corpus::split_sentences(p, &Language::English).len())
                .sum();
            black_box(n)
        })
    });
    group.finish();
}

fn read(c: &mut Criterion) {
    let Some(dir) = shared_wiki() else { return };
    let path = dir.join("enwiktionary-20150224-pages-articles-multistream.xml.bz2");
    let size = std::fs::metadata(&path).expect("wiktionary sample").len();
    let mut group = c.benchmark_group("read");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(size));
    for (name, parallel, threads) in [
        ("sequential", false, 1),
        ("parallel_1", true, 1),
        ("parallel_2", true, 2),
    ] {
        group.bench_function(BenchmarkId::new("multistream_bz2", name), |b| {
            b.iter(|| {
                let opts = OpenOptions {
                    threads,
                    parallel,
                    multistream_index: None,
                    part: None,
                };
                let opened = wikirag_corpus::open(&path, &opts, Arc::new(NoProgress)).unwrap();
                let mut r = wikirag_corpus::DumpReader::new(&path, opened.reader).unwrap();
                let mut n = 0;
                while let Some(p) = r.next_page() {
                    n += p.unwrap().text.len();
                }
                black_box(n)
            })
        });
    }
    group.finish();
}

fn cleaned(path: &std::path::Path) -> Vec<Article> {
    let (site, pages) = load_pages(path).expect("load dump");
    let (cleaner, pages) = articles_of(&site, &pages);
    pages.iter().filter_map(|p| cleaner.clean(p).ok()).collect()
}

fn index(c: &mut Criterion) {
    let articles = cleaned(&en_dump());
    let sentences: usize = articles.iter().map(|a| a.sentences.len()).sum();
    let mut group = c.benchmark_group("index");
    group.sample_size(10);
    group.throughput(Throughput::Elements(sentences as u64));
    group.bench_function("add_and_commit_sentences", |b| {
        b.iter_with_large_drop(|| {
            let dir = tempfile::tempdir().unwrap();
            let builder = wikirag_index::IndexBuilder::create(
                &dir.path().join("i"),
                &wikirag_index::WriterOptions::default(),
            )
            .unwrap();
            for a in &articles {
                builder.add_article(a).unwrap();
            }
            let manifest = empty_manifest();
            builder.publish(&manifest).unwrap();
            dir
        })
    });
    group.finish();
}

fn empty_manifest() -> wikirag_index::Manifest {
    wikirag_index::Manifest {
        format_version: wikirag_index::FORMAT_VERSION,
        wikirag_version: "bench".into(),
        created_unix: 0,
        languages: vec!["en".into()],
        dumps: vec![],
        counts: Default::default(),
        params: Default::default(),
        durations: Default::default(),
        embedding: None,
        generation: 0,
        updates: Vec::new(),
        files: Default::default(),
    }
}

fn search(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("idx");
    wikirag_indexer::build(
        &wikirag_indexer::BuildConfig {
            resume: true,
            embed: None,
            read: wikirag_indexer::ReadConfig {
                inputs: vec![wikirag_indexer::Input::new(en_dump())],
                ..Default::default()
            },
            out: out.clone(),
            writer: Default::default(),
        },
        Arc::new(NoProgress),
        &wikirag_core::StopFlag::new(),
    )
    .unwrap();
    let index = wikirag_index::SentenceIndex::open(&out).unwrap();
    let queries = [
        "capital of Alabama",
        "who was the father of anarchism",
        "albedo of fresh snow",
        "Academy Award for Best Actor winner",
        "when did Abraham Lincoln die",
    ];
    let mut group = c.benchmark_group("search");
    group.throughput(Throughput::Elements(queries.len() as u64));
    for context in [0, 2] {
        group.bench_function(BenchmarkId::new("bm25_k10_context", context), |b| {
            b.iter(|| {
                for q in queries {
                    let mut req = SearchRequest::new(q);
                    req.context = context;
                    black_box(index.search(&req).unwrap());
                }
            })
        });
    }
    group.finish();
}

/// Dense and hybrid queries over the same index with vectors from the hash embedder (the real
/// model would take minutes to embed it; its query cost is measured separately below), and the
/// real model's query embedding when `models/all-MiniLM-L6-v2` is there.
fn hybrid(c: &mut Criterion) {
    use wikirag_vectors::{Dense, HnswParams, Mode, RetrievalOptions, Searcher, VectorIndex};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("idx");
    let embedder = Arc::new(wikirag_benches::HashEmbedder::new(384));
    let mut embed = wikirag_indexer::EmbedConfig::new(embedder.clone());
    embed.hnsw = HnswParams {
        min_vectors: 1,
        ..HnswParams::default()
    };
    wikirag_indexer::build(
        &wikirag_indexer::BuildConfig {
            resume: true,
            embed: Some(embed),
            read: wikirag_indexer::ReadConfig {
                inputs: vec![wikirag_indexer::Input::new(en_dump())],
                ..Default::default()
            },
            out: out.clone(),
            writer: Default::default(),
        },
        Arc::new(NoProgress),
        &wikirag_core::StopFlag::new(),
    )
    .unwrap();
    let bm25 = Arc::new(wikirag_index::SentenceIndex::open(&out).unwrap());
    let vectors = Arc::new(VectorIndex::open(&out).unwrap());
    let dense = Arc::new(Dense::new(embedder, vectors).unwrap());
    let queries = [
        "capital of Alabama",
        "who was the father of anarchism",
        "albedo of fresh snow",
        "Academy Award for Best Actor winner",
        "when did Abraham Lincoln die",
    ];
    let mut group = c.benchmark_group("retrieval");
    group.throughput(Throughput::Elements(queries.len() as u64));
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        for exact in [false, true] {
            if mode == Mode::Bm25 && exact {
                continue;
            }
            let searcher = Searcher::new(
                bm25.clone(),
                Some(dense.clone()),
                RetrievalOptions {
                    mode,
                    exact,
                    ..RetrievalOptions::default()
                },
            );
            let name = format!("{}{}", mode.name(), if exact { "_exact" } else { "" });
            group.bench_function(BenchmarkId::new(name, "k10"), |b| {
                b.iter(|| {
                    for q in queries {
                        black_box(searcher.search(&SearchRequest::new(q)).unwrap());
                    }
                })
            });
        }
    }
    let model_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2");
    if model_dir.join("model.safetensors").exists() {
        use wikirag_core::Embedder;
        // The built-in CPU forward pass (default: int8 products for queries where the CPU has
        // AVX-512 VNNI), the same in f32, and candle's, one query per call.
        use wikirag_models::Precision;
        for (name, candle_cpu, query_precision) in [
            ("embed_query_minilm", false, Precision::Int8),
            ("embed_query_minilm_f32", false, Precision::F32),
            ("embed_query_minilm_candle", true, Precision::F32),
        ] {
            let options = wikirag_models::EmbedderOptions {
                candle_cpu,
                query_precision,
                ..Default::default()
            };
            let model = wikirag_models::BertEmbedder::load(&model_dir, &options).unwrap();
            group.bench_function(name, |b| {
                b.iter(|| {
                    for q in queries {
                        black_box(model.embed(&[q], wikirag_core::TextRole::Query).unwrap());
                    }
                })
            });
        }
    } else {
        eprintln!("SKIPPED embed_query_minilm: run scripts/fetch-model.sh");
    }
    // The multilingual model (12 layers, SentencePiece): its query cost, int8 and f32.
    let e5_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/multilingual-e5-small-q4");
    if e5_dir.join("model.safetensors").exists() {
        use wikirag_core::Embedder;
        use wikirag_models::Precision;
        for (name, query_precision) in [
            ("embed_query_e5", Precision::Int8),
            ("embed_query_e5_f32", Precision::F32),
        ] {
            let options = wikirag_models::EmbedderOptions {
                query_precision,
                ..Default::default()
            };
            let model = wikirag_models::BertEmbedder::load(&e5_dir, &options).unwrap();
            group.bench_function(name, |b| {
                b.iter(|| {
                    for q in queries {
                        black_box(model.embed(&[q], wikirag_core::TextRole::Query).unwrap());
                    }
                })
            });
        }
    } else {
        eprintln!("SKIPPED embed_query_e5: run scripts/fetch-e5.sh");
    }
    group.finish();
}

criterion_group!(benches, clean, split, read, index, search, hybrid);
criterion_main!(benches);
