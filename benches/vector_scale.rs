//! The retrieval hot path at scale: an index of ≥ 1 M sentences (a synthetic dump from
//! `synth-dump`) with vectors from [`HashEmbedder`] (the real model would take hours here), then:
//! HNSW build time and memory, index size per sentence, HNSW recall@10 against exact search for
//! several beam widths, and single-thread latency of BM25, vector and hybrid queries.
//!
//! ```text
//! cargo run --release -p wikirag-benches --bin synth-dump -- --size-mb 240 --out /tmp/synth240.xml
//! RAYON_NUM_THREADS=2 cargo run --release -p wikirag-benches --bin vector-scale -- \
//!     --dump /tmp/synth240.xml --index /tmp/scale-index
//! ```
//! The index is reused when it exists (delete it to rebuild). `--ef 32,64,…` picks the beam
//! widths measured; `--model DIR` embeds with a real model (build and queries); `--window N`
//! embeds N sentences a vector (`wikirag index --window`); `--relink`
//! re-links the graph of an existing index from its vectors with `--m` / `--ef-construction`
//! (no re-embedding; `--graph-walk int8|codes` picks how queries walk it; `--rewalk` switches
//! an index to that walk without re-linking). `--rss` only
//! opens the index, runs the graph queries and reports what the process holds in memory
//! (anonymous and file-backed), before any exact search pages every row in. Prints a
//! markdown report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wikirag_benches::{HashEmbedder, percentile_ms};
use wikirag_core::{NoProgress, SearchRequest, StopFlag};
use wikirag_index::{SentenceIndex, WriterOptions};
use wikirag_indexer::{BuildConfig, EmbedConfig, Input, ReadConfig};
use wikirag_vectors::{
    Dense, HnswParams, Mode, RetrievalOptions, Searcher, VectorIndex, VectorSearch,
};

fn main() -> anyhow::Result<()> {
    let mut dump = None;
    let mut index = PathBuf::from("/tmp/scale-index");
    let mut queries_n = 200usize;
    let defaults = HnswParams::default();
    let mut m = defaults.m;
    let mut efc = defaults.ef_construction;
    let mut model: Option<PathBuf> = None;
    let mut efs = vec![32usize, 64, 128, 256];
    let mut relink = false;
    let mut e2e_only = false;
    let mut codes = HnswParams::default().codes;
    let mut rss_only = false;
    let mut rewalk = false;
    let mut ef_given = false;
    let mut window = 1u32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match a.as_str() {
            "--dump" => dump = Some(PathBuf::from(value())),
            "--index" => index = PathBuf::from(value()),
            "--queries" => queries_n = value().parse()?,
            "--m" => m = value().parse()?,
            "--ef-construction" => efc = value().parse()?,
            "--model" => model = Some(PathBuf::from(value())),
            "--window" => window = value().parse()?,
            "--relink" => relink = true,
            "--e2e-only" => e2e_only = true,
            "--rss" => rss_only = true,
            "--rewalk" => rewalk = true,
            "--graph-walk" => {
                codes = match value().as_str() {
                    "codes" => true,
                    "int8" => false,
                    other => anyhow::bail!("--graph-walk codes|int8, not {other}"),
                }
            }
            "--ef" => {
                ef_given = true;
                efs = value()
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    // The real model for an index built with it (`wikirag index --model`), else the stand-in.
    // With the real model, the same model with f32 queries too, to measure what the int8 query
    // pass changes (where it runs).
    let (embedder, f32_queries): (Arc<dyn wikirag_core::Embedder>, _) = match &model {
        Some(dir) => {
            let bert = wikirag_models::BertEmbedder::load(dir, &Default::default())?;
            let f32_queries = (bert.query_precision() == wikirag_models::Precision::Int8)
                .then(|| {
                    wikirag_models::BertEmbedder::load(
                        dir,
                        &wikirag_models::EmbedderOptions {
                            query_precision: wikirag_models::Precision::F32,
                            ..Default::default()
                        },
                    )
                })
                .transpose()?;
            (Arc::new(bert), f32_queries)
        }
        None => (Arc::new(HashEmbedder::new(384)), None),
    };
    if !index.join("manifest.json").exists() {
        let dump = dump.ok_or_else(|| anyhow::anyhow!("--dump FILE needed to build"))?;
        let mut embed = EmbedConfig::new(embedder.clone());
        embed.window = window;
        embed.hnsw = HnswParams {
            m,
            ef_construction: efc,
            codes,
            ..HnswParams::default()
        };
        let started = Instant::now();
        let report = wikirag_indexer::build(
            &BuildConfig {
                resume: true,
                read: ReadConfig {
                    inputs: vec![Input::new(dump)],
                    ..ReadConfig::default()
                },
                out: index.clone(),
                writer: WriterOptions::default(),
                embed: Some(embed),
            },
            Arc::new(NoProgress),
            &StopFlag::new(),
        )?;
        let e = report.manifest.embedding.as_ref().expect("vectors");
        println!(
            "built {} sentences, {} vectors in {:.1} s (stages: {:?}); peak RSS {:?} MiB",
            report.manifest.counts.sentences,
            e.vectors,
            started.elapsed().as_secs_f64(),
            report.manifest.durations,
            e.peak_rss_mb
        );
    }
    if relink {
        let started = Instant::now();
        let meta = wikirag_vectors::relink(
            &index,
            HnswParams {
                m,
                ef_construction: efc,
                codes,
                ..HnswParams::default()
            },
            &NoProgress,
            &StopFlag::new(),
        )?;
        // Re-linked in place (as `wikirag relink` does in a new generation): checksums anew.
        wikirag_index::Manifest::read(&index)?.write(&index)?;
        println!(
            "re-linked {} vectors (m={m}, ef_construction={efc}, codes {codes}) in {:.1} s; stages {:?}",
            meta.count,
            started.elapsed().as_secs_f64(),
            meta.seconds
        );
    }
    if rewalk {
        let started = Instant::now();
        let meta = wikirag_vectors::rewalk(&index, codes, 0)?;
        wikirag_index::Manifest::read(&index)?.write(&index)?;
        println!(
            "graph walked by {} from now: codes and beam width measured in {:.1} s (ef {}, recall@10 {:?})",
            if codes { "codes" } else { "int8 rows" },
            started.elapsed().as_secs_f64(),
            meta.hnsw.ef_search,
            meta.graph_recall_at_10
        );
    }
    let bm25 = Arc::new(SentenceIndex::open(&index)?);
    let t = Instant::now();
    let vectors = Arc::new(VectorIndex::open(&index)?);
    let reload = t.elapsed();
    let n = vectors.store().len();
    let dir_bytes: u64 = std::fs::read_dir(vectors.path())?
        .flatten()
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    let meta = vectors.meta().clone();
    // Bytes per sentence of the index (a vector may cover a window of sentences).
    let sentences = wikirag_index::Manifest::read(&index)?
        .counts
        .sentences
        .max(1) as usize;
    println!(
        "\n## Vector index: {n} vectors, {} dims ({sentences} sentences)",
        meta.dim
    );
    println!(
        "- HNSW m={} ef_construction={}: link {:.1} s; reload (graph + mmap) {:.2} s",
        meta.hnsw.m,
        meta.hnsw.ef_construction,
        meta.seconds.get("hnsw_build").copied().unwrap_or(0.0),
        reload.as_secs_f64()
    );
    println!(
        "- on disk: {:.0} bytes per sentence for vectors + graph ({:.1} MiB)",
        dir_bytes as f64 / sentences as f64,
        dir_bytes as f64 / 1048576.0
    );
    println!(
        "- held in memory by the vector index: {:.0} bytes per sentence (graph walked by {}; beam {} recorded, recall@10 {:?} on its sample)",
        vectors.resident_bytes() as f64 / sentences as f64,
        if meta.hnsw.codes {
            "codes"
        } else {
            "int8 rows"
        },
        meta.hnsw.ef_search,
        meta.graph_recall_at_10
    );

    // Queries: the English dev-set questions plus the opening words of sentences spread over
    // the index.
    let mut queries: Vec<String> = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/eval/enwiki-2016.jsonl"),
    )?
    .lines()
    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    .filter_map(|v| v["question"].as_str().map(str::to_string))
    .collect();
    let step = (n / queries_n.max(1)).max(1);
    let mut row = 7;
    while queries.len() < queries_n && row < n {
        let (page, span) = vectors.store().span(row);
        if let Some(h) = bm25.fetch_hits(&[(page, span.first)], 0)?.pop() {
            let words: Vec<&str> = h.text.split_whitespace().take(8).collect();
            queries.push(words.join(" "));
        }
        row += step;
    }
    let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
    let qvecs = embedder
        .embed(&refs, wikirag_core::TextRole::Query)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if rss_only {
        let before = memory_status();
        // The recorded beam, or the first of `--ef`.
        let ef = if ef_given {
            efs[0]
        } else {
            meta.hnsw.ef_search
        };
        let mut times = Vec::new();
        for q in &qvecs {
            let t = Instant::now();
            vectors.search(q, 10, VectorSearch::Hnsw { ef })?;
            times.push(t.elapsed());
        }
        println!("\n## Memory after {} graph queries (ef {ef})", qvecs.len());
        println!("- before the queries: {before}");
        println!("- after: {}", memory_status());
        latency_row(
            "graph search alone, first time (rows read and checked)",
            &mut times,
        );
        let mut times = Vec::new();
        for q in &qvecs {
            let t = Instant::now();
            vectors.search(q, 10, VectorSearch::Hnsw { ef })?;
            times.push(t.elapsed());
        }
        latency_row("graph search alone, again", &mut times);
        return Ok(());
    }

    let exact_hits = if e2e_only {
        // The HNSW hits stand in for the fetch row; no recall table.
        qvecs
            .iter()
            .map(|q| {
                vectors.search(
                    q,
                    10,
                    VectorSearch::Hnsw {
                        ef: meta.hnsw.ef_search,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        recall_table(&vectors, &qvecs, &efs)?
    };

    if let Some(f32_model) = &f32_queries {
        let q32 = f32_model.embed_texts(&refs, wikirag_core::TextRole::Query)?;
        let cosines: Vec<f32> = qvecs
            .iter()
            .zip(&q32)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum())
            .collect();
        let (mut agree, mut hnsw) = (0usize, 0usize);
        for (a, b) in qvecs.iter().zip(&q32) {
            let truth: std::collections::HashSet<u32> = vectors
                .search(b, 10, VectorSearch::Exact)?
                .iter()
                .map(|h| h.0)
                .collect();
            let exact = vectors.search(a, 10, VectorSearch::Exact)?;
            agree += exact.iter().filter(|h| truth.contains(&h.0)).count();
            let ef = meta.hnsw.ef_search;
            let approx = vectors.search(a, 10, VectorSearch::Hnsw { ef })?;
            hnsw += approx.iter().filter(|h| truth.contains(&h.0)).count();
        }
        let n = qvecs.len().max(1) as f64;
        println!(
            "\n## int8 query pass against f32 queries ({} queries)",
            qvecs.len()
        );
        println!(
            "- cosine to the f32 query vector: min {:.5}, mean {:.5}",
            cosines.iter().copied().fold(1.0, f32::min),
            cosines.iter().sum::<f32>() as f64 / n
        );
        println!(
            "- exact top 10 shared with the f32 query's: {:.3}; HNSW (ef {}) top 10 of the int8 query against the f32 query's exact top 10: {:.3}",
            agree as f64 / (10.0 * n),
            meta.hnsw.ef_search,
            hnsw as f64 / (10.0 * n)
        );
    }

    println!("\n## End to end (k=10, per_page=3, one query at a time)");
    println!("| mode | p50 ms | p95 ms |");
    println!("|---|---|---|");
    let dense = Arc::new(Dense::new(embedder.clone(), vectors.clone())?);
    if model.is_some() {
        println!("(query embedding by the real model is included below)");
        let mut times = Vec::new();
        for q in &queries {
            let t = Instant::now();
            embedder
                .embed(&[q.as_str()], wikirag_core::TextRole::Query)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed());
        }
        latency_row("query embedding alone", &mut times);
        if let Some(f32_model) = &f32_queries {
            let mut times = Vec::new();
            for q in &queries {
                let t = Instant::now();
                f32_model.embed_texts(&[q.as_str()], wikirag_core::TextRole::Query)?;
                times.push(t.elapsed());
            }
            latency_row("query embedding alone, f32 queries", &mut times);
        }
    }
    // Loading the text of 10 hits by (page, sentence): what dense and hybrid pay after ranking.
    let mut times = Vec::new();
    for hits in &exact_hits {
        let positions: Vec<(u64, u32)> = hits
            .iter()
            .map(|(r, _)| {
                let (page, span) = vectors.store().span(*r as usize);
                (page, span.first)
            })
            .collect();
        let t = Instant::now();
        bm25.fetch_hits(&positions, 0)?;
        times.push(t.elapsed());
    }
    latency_row("fetch 10 hits by position", &mut times);
    // The dense path in its parts, each timed on its own for the same queries.
    let (mut t_embed, mut t_cand, mut t_fetch) = (Vec::new(), Vec::new(), Vec::new());
    for q in &queries {
        let t = Instant::now();
        let v = dense
            .embed_queries(&[q.as_str()])?
            .pop()
            .unwrap_or_default();
        t_embed.push(t.elapsed());
        let t = Instant::now();
        let found = dense.candidates(
            &v,
            10,
            3,
            VectorSearch::Hnsw {
                ef: meta.hnsw.ef_search,
            },
            // Windows ranked in page order (the searcher ranks them by its BM25 list).
            &[],
        )?;
        t_cand.push(t.elapsed());
        let positions: Vec<(u64, u32)> = found.iter().map(|(p, _)| *p).collect();
        let t = Instant::now();
        bm25.fetch_hits(&positions, 0)?;
        t_fetch.push(t.elapsed());
    }
    for (name, times) in [
        ("dense part: embed", &mut t_embed),
        ("dense part: HNSW candidates (cap 3/page)", &mut t_cand),
        ("dense part: fetch", &mut t_fetch),
    ] {
        latency_row(name, times);
    }
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        let searcher = Searcher::new(
            bm25.clone(),
            Some(dense.clone()),
            RetrievalOptions {
                mode,
                ..RetrievalOptions::default()
            },
        );
        let mut times = Vec::new();
        for q in &queries {
            let t = Instant::now();
            searcher.search(&SearchRequest::new(q.as_str()))?;
            times.push(t.elapsed());
        }
        if mode != Mode::Bm25 {
            // The same searches with the query vectors embedded beforehand: retrieval alone.
            let mut given = Vec::new();
            for (q, v) in queries.iter().zip(&qvecs) {
                let t = Instant::now();
                searcher.search_vector(&SearchRequest::new(q.as_str()), v)?;
                given.push(t.elapsed());
            }
            latency_row(&format!("{}, query vector given", mode.name()), &mut given);
        }
        latency_row(mode.name(), &mut times);
    }
    Ok(())
}

/// The process's resident memory, anonymous and file-backed, from /proc/self/status.
fn memory_status() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("RssAnon") || l.starts_with("RssFile"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints `| name | p50 ms | p95 ms |`.
fn latency_row(name: &str, times: &mut [Duration]) {
    times.sort();
    println!(
        "| {name} | {:.2} | {:.2} |",
        percentile_ms(times, 0.5),
        percentile_ms(times, 0.95)
    );
}

/// HNSW recall@10 and latency against exact search, per beam width; returns the exact hits.
fn recall_table(
    vectors: &VectorIndex,
    qvecs: &[Vec<f32>],
    efs: &[usize],
) -> anyhow::Result<Vec<Vec<(u32, f32)>>> {
    println!(
        "\n## HNSW against exact search ({} queries, one thread)",
        qvecs.len()
    );
    println!(
        "recall@10 counts the exact top-10 rows found; tie-aware recall@10 counts HNSW hits scoring at \
least the exact 10th score (−1e-4): replicated pages make many exact ties."
    );
    println!("| ef_search | recall@10 | tie-aware recall@10 | p50 ms | p95 ms |");
    println!("|---|---|---|---|---|");
    let exact_hits: Vec<Vec<(u32, f32)>> = qvecs
        .iter()
        .map(|q| vectors.search(q, 10, VectorSearch::Exact))
        .collect::<Result<_, _>>()?;
    let exact: Vec<Vec<u32>> = exact_hits
        .iter()
        .map(|v| v.iter().map(|(r, _)| *r).collect())
        .collect();
    let mut exact_times = Vec::new();
    for q in qvecs.iter().take(50) {
        let t = Instant::now();
        vectors.search(q, 10, VectorSearch::Exact)?;
        exact_times.push(t.elapsed());
    }
    exact_times.sort();
    for &ef in efs {
        let mut found = 0usize;
        let mut tied = 0usize;
        let mut total = 0usize;
        let mut times: Vec<Duration> = Vec::new();
        for ((q, truth), truth_hits) in qvecs.iter().zip(&exact).zip(&exact_hits) {
            let t = Instant::now();
            let got = vectors.search(q, 10, VectorSearch::Hnsw { ef })?;
            times.push(t.elapsed());
            total += truth.len();
            found += got.iter().filter(|(r, _)| truth.contains(r)).count();
            let floor = truth_hits.last().map_or(f32::MIN, |h| h.1) - 1e-4;
            tied += got.iter().take(10).filter(|(_, s)| *s >= floor).count();
        }
        times.sort();
        println!(
            "| {ef} | {:.3} | {:.3} | {:.2} | {:.2} |",
            found as f64 / total.max(1) as f64,
            tied as f64 / total.max(1) as f64,
            percentile_ms(&times, 0.5),
            percentile_ms(&times, 0.95)
        );
    }
    println!(
        "| exact ({} threads) | 1.000 | 1.000 | {:.2} | {:.2} |",
        rayon::current_num_threads(),
        percentile_ms(&exact_times, 0.5),
        percentile_ms(&exact_times, 0.95)
    );

    Ok(exact_hits)
}
