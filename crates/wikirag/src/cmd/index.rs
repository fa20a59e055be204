//! `wikirag index`: build an index from dump files.

use crate::cmd::{HnswArgs, ReadArgs, reporter, stop_on_ctrl_c};
use crate::retrieval;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use wikirag_index::WriterOptions;
use wikirag_indexer::BuildConfig;

#[derive(clap::Args, Debug)]
pub(crate) struct IndexArgs {
    #[command(flatten)]
    read: ReadArgs,
    /// The index directory to create.
    #[arg(short, long)]
    out: PathBuf,
    /// Replace an existing index at --out.
    #[arg(long)]
    force: bool,
    /// Memory budget of the index writer (MiB).
    #[arg(long, default_value_t = 256)]
    writer_memory_mb: usize,
    /// Print the build report as JSON.
    #[arg(long)]
    json: bool,
    /// Also embed sentences with this sentence-embedding model (a local Hugging Face
    /// directory, e.g. models/all-MiniLM-L6-v2 from scripts/fetch-model.sh, or
    /// `hf:owner/name[@revision]` to download it) for dense and hybrid search.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Embed only the first N sentences of each page (BM25 still covers all of them).
    #[arg(long)]
    embed_first: Option<u64>,
    /// Embed the bare sentence instead of "Title: sentence".
    #[arg(long)]
    no_title_context: bool,
    /// Sentences a vector: N consecutive sentences of a page embedded as one ("Title: s1 s2
    /// s3"; hits and citations stay sentences, found inside the window by BM25), or auto: 3
    /// when the dumps add up to 1 GiB or more (a whole language: ≈ 3× fewer vectors, hybrid
    /// retrieval within a question or two a set on the standard corpora), else 1 (dense-only
    /// retrieval needs a vector per sentence).
    #[arg(long, default_value = "auto", value_parser = parse_window)]
    window: Window,
    /// Texts per forward pass of the model (0: 8 on CPU, 128 on GPU).
    #[arg(long, default_value_t = 0)]
    batch_size: usize,
    /// Threads running forward passes (0: all cores).
    #[arg(long, default_value_t = 0)]
    embed_workers: usize,
    /// Embed on the GPU (needs a build with --features cuda).
    #[arg(long)]
    cuda: bool,
    /// The arithmetic of the passage pass on the CPU: int8 (AVX-512 VNNI or AVX2; ≈ 2.5× the
    /// sentences/s of f32, cosine ≥ 0.999 to the f32 vectors) or f32. CPUs without either
    /// instruction set, and GPUs, run f32.
    #[arg(long, default_value = "int8")]
    embed_precision: wikirag_models::Precision,
    /// Embed everything again instead of keeping the vectors of an interrupted build of the
    /// same output (kept by default: run the same command again to resume).
    #[arg(long)]
    no_resume: bool,
    /// Sentences embedded between two checkpoints of the resumable vectors (tests).
    #[arg(long, default_value_t = 2048, hide = true)]
    embed_chunk: usize,
    #[command(flatten)]
    hnsw: HnswArgs,
}

/// `--window`: `auto` (None) or 1..=256 sentences a vector.
#[derive(Clone, Copy, Debug)]
struct Window(Option<u32>);

fn parse_window(s: &str) -> std::result::Result<Window, String> {
    if s == "auto" {
        return Ok(Window(None));
    }
    match s.parse::<u32>() {
        Ok(n) if (1..=wikirag_vectors::MAX_WINDOW).contains(&n) => Ok(Window(Some(n))),
        _ => Err(format!(
            "expected auto or a number of sentences from 1 to {}",
            wikirag_vectors::MAX_WINDOW
        )),
    }
}

/// `--window auto`: windows for inputs of a whole language's size (the dumps' file sizes; a
/// pipe counts 0).
fn auto_window(dumps: &[PathBuf]) -> u32 {
    let bytes: u64 = dumps
        .iter()
        .filter_map(|d| std::fs::metadata(d).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    if bytes >= wikirag_indexer::LARGE_DUMP_BYTES {
        wikirag_indexer::WINDOW_FOR_LARGE_DUMPS
    } else {
        1
    }
}

pub fn run(args: IndexArgs) -> Result<i32> {
    let stop = stop_on_ctrl_c();
    let model = args
        .model
        .as_deref()
        .map(retrieval::model_dir)
        .transpose()?;
    let embed = match &model {
        None => None,
        Some(dir) => {
            let embedder = wikirag_models::BertEmbedder::load(
                dir,
                &wikirag_models::EmbedderOptions {
                    batch_size: args.batch_size,
                    workers: args.embed_workers,
                    cuda: args.cuda,
                    passage_precision: args.embed_precision,
                    ..Default::default()
                },
            )
            .with_context(|| format!("loading the embedding model {}", dir.display()))?;
            let mut embed = wikirag_indexer::EmbedConfig::new(Arc::new(embedder));
            embed.embed_first = args.embed_first;
            embed.title_context = !args.no_title_context;
            embed.window = args
                .window
                .0
                .unwrap_or_else(|| auto_window(&args.read.dumps));
            embed.hnsw = args.hnsw.params();
            embed.chunk = args.embed_chunk.max(1);
            embed.model_path = Some(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()));
            Some(embed)
        }
    };
    let config = BuildConfig {
        embed,
        read: args.read.config(),
        out: args.out.clone(),
        writer: WriterOptions {
            threads: 0,
            memory_mb: args.writer_memory_mb,
            overwrite: args.force,
            ..WriterOptions::default()
        },
        resume: !args.no_resume,
    };
    let bars = reporter(args.read.quiet);
    let report = wikirag_indexer::build(&config, bars.clone(), &stop);
    drop(bars);
    if let (Err(wikirag_indexer::IndexerError::Interrupted), Some(_)) = (&report, &config.embed) {
        let journal = wikirag_vectors::journal_dir(&args.out);
        if journal.exists() {
            eprintln!(
                "the sentence vectors embedded so far are kept in {}: run the same command again to resume",
                journal.display()
            );
        }
    }
    let report = report.with_context(|| format!("building {}", args.out.display()))?;
    if report.resumed_vectors > 0 && !args.json {
        println!(
            "resumed: {} sentence vectors of an interrupted build kept, not embedded again",
            report.resumed_vectors
        );
    }
    let m = &report.manifest;
    let failed: Vec<&str> = m
        .dumps
        .iter()
        .filter_map(|d| d.fatal_error.as_deref())
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(m)?);
    } else {
        let secs = m.durations.get("total").copied().unwrap_or(0.0);
        let pages: u64 = m.dumps.iter().map(|d| d.pages_read).sum();
        let bytes: u64 = m.dumps.iter().map(|d| d.bytes).sum();
        println!(
            "indexed {} articles, {} sentences, {} redirects into {} in {:.1}s ({:.0} pages/s, {:.1} MB/s of input)",
            m.counts.articles,
            m.counts.sentences,
            m.counts.redirects,
            report.path.display(),
            secs,
            pages as f64 / secs.max(1e-9),
            bytes as f64 / 1e6 / secs.max(1e-9),
        );
        match &m.embedding {
            Some(e) => println!(
                "embedded {} vectors ({}) with {} ({} dims, {} pooling, {} products), {}",
                e.vectors,
                e.scope(),
                e.model.name,
                e.model.dim,
                e.model.pooling.name(),
                e.passage_precision,
                e.graph_summary()
            ),
            None => {
                println!("no vectors (BM25 only; pass --model DIR for dense and hybrid search)")
            }
        }
        if m.counts.skipped > 0 {
            println!(
                "skipped {} pages with errors (see `wikirag inspect --index {}`)",
                m.counts.skipped,
                report.path.display()
            );
        }
    }
    for e in &failed {
        eprintln!("error: {e}");
    }
    if !failed.is_empty() {
        eprintln!(
            "the index was published with the pages read before the fault{}",
            if failed.len() > 1 { "s" } else { "" }
        );
        return Ok(1);
    }
    Ok(0)
}
