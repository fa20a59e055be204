//! Sentence-embedding throughput of the candle embedder: sentences/s over a file of sentences
//! (one per line), with a chosen batch size and number of worker threads (0: all cores);
//! `--candle` runs candle's BERT forward pass instead of the built-in CPU one; `--precision
//! f32|int8` the passage pass's arithmetic (default int8, as `wikirag index`;
//! `WIKIRAG_INT8_KERNEL=avx2` forces the AVX2 kernel).
//!
//! ```text
//! cargo run --release -p wikirag-benches --bin embed-throughput -- \
//!     --model models/all-MiniLM-L6-v2 --sentences /tmp/sentences.txt --batch 32 --workers 2
//! ```
//! Prints one JSON line. `benches/compare-embeddings.sh` runs it beside sentence-transformers.
//! `--out FILE` also writes the vectors (little-endian f32, one row per line, in order) and
//! `--role query` embeds the lines as queries (`benches/windows/study.py` uses both).

use std::path::PathBuf;
use std::time::Instant;
use wikirag_core::{Embedder, TextRole};
use wikirag_models::{BertEmbedder, EmbedderOptions};

fn main() {
    let mut model = PathBuf::from("models/all-MiniLM-L6-v2");
    let mut sentences = None;
    let mut batch = 8;
    let mut workers = 0;
    let mut limit = usize::MAX;
    let mut candle_cpu = false;
    let mut precision = wikirag_models::Precision::Int8;
    let mut out = None;
    let mut role = TextRole::Passage;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match a.as_str() {
            "--model" => model = PathBuf::from(value()),
            "--sentences" => sentences = Some(PathBuf::from(value())),
            "--batch" => batch = value().parse().expect("--batch N"),
            "--workers" => workers = value().parse().expect("--workers N"),
            "--limit" => limit = value().parse().expect("--limit N"),
            "--candle" => candle_cpu = true,
            "--precision" => precision = value().parse().expect("--precision int8|f32"),
            "--out" => out = Some(PathBuf::from(value())),
            "--role" => {
                role = match value().as_str() {
                    "query" => TextRole::Query,
                    "passage" => TextRole::Passage,
                    other => panic!("--role query|passage, not {other}"),
                }
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let path = sentences.expect("--sentences FILE");
    let text = std::fs::read_to_string(&path).expect("read sentences");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(limit)
        .collect();
    let embedder = BertEmbedder::load(
        &model,
        &EmbedderOptions {
            batch_size: batch,
            workers,
            candle_cpu,
            passage_precision: precision,
            ..EmbedderOptions::default()
        },
    )
    .expect("load model");
    // Warm-up.
    embedder.embed(&lines[..lines.len().min(64)], role).unwrap();
    let started = Instant::now();
    let vectors = embedder.embed(&lines, role).unwrap();
    let secs = started.elapsed().as_secs_f64();
    if let Some(out) = out {
        let bytes: Vec<u8> = vectors
            .iter()
            .flat_map(|v| v.iter().flat_map(|x| x.to_le_bytes()))
            .collect();
        std::fs::write(&out, bytes).expect("write --out");
    }
    println!(
        "{}",
        serde_json::json!({
            "tool": if candle_cpu { "wikirag (candle forward pass)" } else { "wikirag" },
            "sentences": lines.len(),
            "batch": batch,
            "workers": workers,
            "precision": embedder.passage_precision().name(),
            "kernel": wikirag_models::int8_kernel(),
            "rayon_threads": std::env::var("RAYON_NUM_THREADS").ok(),
            "seconds": secs,
            "sentences_per_s": lines.len() as f64 / secs,
        })
    );
}
