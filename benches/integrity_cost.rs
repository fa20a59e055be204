//! What finding damage before it answers costs at scale: on an index built by `vector-scale`
//! (≥ 1 M sentences, vectors and HNSW graph), the time to open it (the manifest, the small
//! files and `blocks.crc32` are checked whole), the first queries (each 64 KiB block a query
//! reads for the first time is checked against its CRC-32) against later ones, and a whole
//! verification (the background pass of `serve`).
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release -p wikirag-benches --bin vector-scale -- \
//!     --dump /tmp/synth240.xml --index /tmp/scale-index
//! cargo run --release -p wikirag-benches --bin integrity-cost -- --index /tmp/scale-index
//! ```
//! With `--drop-caches` (root) the page cache is emptied first, so the first queries also
//! read from disk. Prints a markdown report.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use wikirag_benches::HashEmbedder;
use wikirag_core::{Embedder, SearchRequest, TextRole};
use wikirag_index::SentenceIndex;
use wikirag_vectors::{VectorIndex, VectorSearch};

const QUERIES: &[&str] = &[
    "river flowing through the capital city",
    "history of the ancient empire",
    "population of the largest town",
    "war between the two kingdoms",
    "music composer and his symphony",
    "mountain range in the north",
    "university founded in the century",
    "football club won the championship",
    "species of bird found in forests",
    "language spoken by the people",
    "island in the southern ocean",
    "king who ruled the country",
    "painting by the famous artist",
    "railway station opened in",
    "church built in the gothic style",
    "film directed by the actor",
    "election of the president",
    "bridge across the river",
    "temperature of the climate",
    "treaty signed after the war",
];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let mut index = PathBuf::from("/tmp/scale-index");
    let mut drop_caches = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--index" => index = PathBuf::from(args.next().expect("--index DIR")),
            "--drop-caches" => drop_caches = true,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let cold = drop_caches && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok() && {
        // Writeback first, so the drop empties what it can.
        std::process::Command::new("sync").status().is_ok()
    };
    let blocks_file = index.join(wikirag_core::blocks::BLOCKS_FILE);
    let blocks_bytes = std::fs::metadata(&blocks_file)
        .map(|m| m.len())
        .unwrap_or(0);

    let t = Instant::now();
    let bm25 = SentenceIndex::open(&index)?;
    let open_bm25 = t.elapsed();
    let t = Instant::now();
    let vectors = VectorIndex::open(&index)?;
    let open_vectors = t.elapsed();
    let sentences = bm25.manifest().counts.sentences;
    let embedder = HashEmbedder::new(vectors.meta().dim);

    let mut rows = Vec::new();
    let mut bm25_times = Vec::new();
    for q in QUERIES {
        let t = Instant::now();
        let hits = bm25.search(&SearchRequest::new(*q))?;
        bm25_times.push(ms(t.elapsed()));
        anyhow::ensure!(!hits.is_empty(), "no BM25 hit for {q:?}");
    }
    let bm25_blocks = bm25.blocks_verified();
    let texts: Vec<&str> = QUERIES.to_vec();
    let qv = embedder
        .embed(&texts, TextRole::Query)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut hnsw_times = Vec::new();
    for v in &qv {
        let t = Instant::now();
        vectors.search(v, 10, VectorSearch::Hnsw { ef: 128 })?;
        hnsw_times.push(ms(t.elapsed()));
    }
    let hnsw_blocks = vectors.store().blocks_verified();
    let mut exact_times = Vec::new();
    for v in qv.iter().take(5) {
        let t = Instant::now();
        vectors.search(v, 10, VectorSearch::Exact)?;
        exact_times.push(ms(t.elapsed()));
    }
    for (name, times) in [
        ("BM25", &bm25_times),
        ("dense, HNSW ef 128", &hnsw_times),
        ("dense, exact", &exact_times),
    ] {
        rows.push(format!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            times[0],
            times.get(1).copied().unwrap_or(f64::NAN),
            median(times[1..].to_vec())
        ));
    }
    // The background pass: every block not read yet.
    let t = Instant::now();
    bm25.verify_blocks()?;
    let verify_bm25 = t.elapsed();
    let t = Instant::now();
    vectors.verify_blocks()?;
    let verify_vectors = t.elapsed();
    let (_, bm25_total) = bm25.blocks_verified();
    let (_, vector_total) = vectors.store().blocks_verified();
    // Every block verified (what a server reaches after its background pass): a read costs
    // one load, the same queries again.
    let mut again = Vec::new();
    for (name, run) in [
        ("BM25", 0usize),
        ("dense, HNSW ef 128", 1),
        ("dense, exact", 2),
    ] {
        let mut times = Vec::new();
        for (q, v) in QUERIES.iter().zip(&qv).take(if run == 2 { 5 } else { 20 }) {
            let t = Instant::now();
            match run {
                0 => drop(bm25.search(&SearchRequest::new(*q))?),
                1 => drop(vectors.search(v, 10, VectorSearch::Hnsw { ef: 128 })?),
                _ => drop(vectors.search(v, 10, VectorSearch::Exact)?),
            }
            times.push(ms(t.elapsed()));
        }
        again.push(format!("| {name} | {:.2} |", median(times)));
    }

    println!(
        "\n## Integrity checks at {sentences} sentences ({} page cache)\n",
        if cold { "cold" } else { "warm" }
    );
    println!(
        "- `blocks.crc32`: {blocks_bytes} bytes ({} blocks of 64 KiB; {:.2} bytes per sentence)",
        bm25_total + vector_total,
        blocks_bytes as f64 / sentences.max(1) as f64
    );
    println!(
        "- open: BM25 index {:.1} ms (manifest, small files and `blocks.crc32` checked whole), vectors {:.1} ms (rows, scales, graph read and checked)",
        ms(open_bm25),
        ms(open_vectors)
    );
    println!(
        "- blocks checked by the {} BM25 queries: {} of {}; by the HNSW queries: {} of {}",
        QUERIES.len(),
        bm25_blocks.0,
        bm25_blocks.1,
        hnsw_blocks.0,
        hnsw_blocks.1
    );
    println!(
        "- whole verification of what queries had not read: segment files {:.0} ms, vectors {:.0} ms",
        ms(verify_bm25),
        ms(verify_vectors)
    );
    println!("\n| query | first (ms) | second (ms) | median of the rest (ms) |\n|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!("\n| query, every block verified | median (ms) |\n|---|---|");
    for r in again {
        println!("{r}");
    }
    Ok(())
}
