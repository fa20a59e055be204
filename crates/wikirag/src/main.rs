//! The `wikirag` command: glue between the user and the library crates. It parses arguments,
//! draws progress, prints results; all the work happens in the libraries.

mod ask;
mod progress;
mod retrieval;
mod terminal;

/// Cleaning makes many small short-lived strings; mimalloc measured faster than glibc's
/// malloc on the text stage (see benches/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wikirag_core::{Language, NoProgress, Progress, SearchRequest, StopFlag};
use wikirag_index::WriterOptions;
use wikirag_indexer::{BuildConfig, Input, ReadConfig};
use wikirag_vectors::HnswParams;

/// Turn a Wikipedia dump into a local search index and search it.
#[derive(Parser, Debug)]
#[command(name = "wikirag", version, about)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug). Also RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a sentence index from one or more dump files (.xml, .xml.bz2, multistream, .gz).
    Index(IndexArgs),
    /// Bring an index up to a newer dump (a full dump, or daily adds-changes files) without
    /// rebuilding it: only new and changed pages are cleaned and embedded.
    Update(UpdateArgs),
    /// Search an index.
    Search(SearchArgs),
    /// Show what an index holds and how it was built.
    Inspect(InspectArgs),
    /// Re-link an index's HNSW graph from its stored vectors (other parameters, or an index
    /// from an older wikirag); nothing is re-read or re-embedded.
    Relink(RelinkArgs),
    /// Print the cleaned text of a dump's articles (what the index sees).
    Extract(ExtractArgs),
    /// Measure retrieval quality on a question set, optionally sweeping parameters.
    Eval(EvalArgs),
    /// Answer a question with citations (extractive, an OpenAI-compatible server, or a local GGUF model).
    Ask(ask::AskArgs),
    /// Serve the HTTP API and the web page.
    Serve(ask::ServeArgs),
}

#[derive(clap::Args, Debug)]
struct EvalArgs {
    /// The index directory.
    #[arg(short, long, env = "WIKIRAG_INDEX")]
    index: PathBuf,
    /// Question file: JSON lines {"question", "answers", "titles", "kind", "lang"}.
    #[arg(long, required = true)]
    qa: Vec<PathBuf>,
    /// Sweep a parameter: name=v1,v2 (k, per_page, context, mode, title_boost, fact_weight,
    /// title_words_weight, fusion, rrf_k, dense_weight, candidates, ef_search, exact; with --ask
    /// also max_context_tokens, extractive_sentences). Repeatable.
    #[arg(long)]
    sweep: Vec<String>,
    #[command(flatten)]
    retrieval: retrieval::RetrievalArgs,
    /// Hits retrieved per question.
    #[arg(short, long, default_value_t = 20, value_parser = retrieval::at_least_one)]
    k: usize,
    /// At most this many hits per page.
    #[arg(long, default_value_t = 3)]
    per_page: usize,
    /// Write results.csv, results.md, report.json and one SVG plot per swept parameter here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also measure answers: answer contains an expected string, citation precision,
    /// abstentions, failures (the backend is chosen with --llm).
    #[arg(long)]
    ask: bool,
    #[command(flatten)]
    llm: ask::LlmArgs,
    /// Print everything as one JSON object (an array of them when sweeping).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct ReadArgs {
    /// Dump files; all go into one index.
    #[arg(required = true)]
    dumps: Vec<PathBuf>,
    /// The `-multistream-index.txt[.bz2]` of a multistream dump (applies to the first dump;
    /// an index beside a dump under Wikimedia's name is found without this flag).
    #[arg(long)]
    multistream_index: Option<PathBuf>,
    /// Namespaces to keep, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    namespaces: Vec<i32>,
    /// Threads for decompression and cleaning (0 = all cores).
    #[arg(short = 'j', long, default_value_t = 0, env = "WIKIRAG_THREADS")]
    threads: usize,
    /// Force the language (en, fr, …) instead of reading it from <siteinfo>.
    #[arg(long)]
    lang: Option<String>,
    /// Pages with more wikitext than this (bytes) are skipped with a warning.
    #[arg(long, default_value_t = wikirag_corpus::DEFAULT_MAX_PAGE_BYTES)]
    max_page_bytes: usize,
    /// How long the wikitext parser may spend on one page (ms).
    #[arg(long, default_value_t = 5000)]
    parse_timeout_ms: u64,
    /// Decompress multistream bzip2 on one thread.
    #[arg(long)]
    sequential: bool,
    /// No progress bars.
    #[arg(short, long)]
    quiet: bool,
}

impl ReadArgs {
    fn config(&self) -> ReadConfig {
        let mut inputs: Vec<Input> = self.dumps.iter().map(Input::with_companion_index).collect();
        if let (Some(first), Some(index)) = (inputs.first_mut(), &self.multistream_index) {
            first.multistream_index = Some(index.clone());
        }
        ReadConfig {
            inputs,
            namespaces: self.namespaces.clone(),
            threads: self.threads,
            language: self.lang.as_deref().map(Language::from_code),
            max_page_bytes: self.max_page_bytes,
            parse_timeout: Duration::from_millis(self.parse_timeout_ms),
            parallel_decompression: !self.sequential,
        }
    }
}

#[derive(clap::Args, Debug)]
struct UpdateArgs {
    #[command(flatten)]
    read: ReadArgs,
    /// The index to update (replaced atomically when the update is complete).
    #[arg(short, long, env = "WIKIRAG_INDEX")]
    index: PathBuf,
    /// The model the index's vectors were made with (default: the one its manifest names).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The dumps are Wikimedia adds-changes files (`*-pages-meta-hist-incr.xml.bz2`, guessed
    /// from the name): they add and change pages but cannot delete any.
    #[arg(long)]
    adds_changes: bool,
    /// Delete no page, even one a full dump lacks (the dump is only a part of its wiki).
    #[arg(long)]
    keep_missing: bool,
    /// Apply a dump older than what the index holds (refused otherwise). Even then no page
    /// goes back to an older revision.
    #[arg(long)]
    allow_older: bool,
    /// Apply a full dump that deletes more than 10 % of a wiki's indexed pages (refused
    /// otherwise: a partial dump without --keep-missing would empty the index).
    #[arg(long)]
    allow_mass_delete: bool,
    /// Memory budget of the index writer (MiB).
    #[arg(long, default_value_t = 256)]
    writer_memory_mb: usize,
    /// Print the update record as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct IndexArgs {
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
    embed_first: Option<u32>,
    /// Embed the bare sentence instead of "Title: sentence".
    #[arg(long)]
    no_title_context: bool,
    /// Texts per forward pass of the model (0: 8 on CPU, 128 on GPU).
    #[arg(long, default_value_t = 0)]
    batch_size: usize,
    /// Threads running forward passes (0: all cores).
    #[arg(long, default_value_t = 0)]
    embed_workers: usize,
    /// Embed on the GPU (needs a build with --features cuda).
    #[arg(long)]
    cuda: bool,
    #[command(flatten)]
    hnsw: HnswArgs,
}

/// The HNSW graph's parameters (`index --model` and `relink`).
#[derive(clap::Args, Debug)]
struct HnswArgs {
    /// HNSW links per node (layer 0 has twice as many).
    #[arg(long, default_value_t = HnswParams::default().m)]
    hnsw_m: usize,
    /// HNSW build beam width.
    #[arg(long, default_value_t = HnswParams::default().ef_construction)]
    ef_construction: usize,
    /// Default HNSW query beam width recorded with the index.
    #[arg(long, default_value_t = HnswParams::default().ef_search)]
    ef_search: usize,
    /// Below this many vectors no HNSW graph is built (exact search is as fast).
    #[arg(long, default_value_t = HnswParams::default().min_vectors)]
    hnsw_min_vectors: usize,
}

impl HnswArgs {
    fn params(&self) -> HnswParams {
        HnswParams {
            m: self.hnsw_m,
            ef_construction: self.ef_construction,
            ef_search: self.ef_search,
            min_vectors: self.hnsw_min_vectors,
        }
    }
}

#[derive(clap::Args, Debug)]
struct SearchArgs {
    /// The index directory.
    #[arg(short, long, env = "WIKIRAG_INDEX")]
    index: PathBuf,
    /// What to look for.
    #[arg(required = true)]
    query: Vec<String>,
    /// Number of sentences to return.
    #[arg(short, long, default_value_t = 10, value_parser = retrieval::at_least_one)]
    k: usize,
    /// Neighbouring sentences to show on each side of a hit.
    #[arg(short = 'C', long, default_value_t = 0)]
    context: usize,
    /// At most this many hits per page (0 = no cap).
    #[arg(long, default_value_t = 3)]
    per_page: usize,
    /// Print one JSON object with a `hits` array.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    retrieval: retrieval::RetrievalArgs,
}

#[derive(clap::Args, Debug)]
struct InspectArgs {
    /// The index directory.
    #[arg(short, long, env = "WIKIRAG_INDEX")]
    index: PathBuf,
    /// Print the whole manifest as JSON.
    #[arg(long)]
    json: bool,
    /// Read every file of the index and compare it with the sizes and SHA-256 checksums
    /// recorded when it was published; exit 1 when anything differs.
    #[arg(long)]
    verify: bool,
}

#[derive(clap::Args, Debug)]
struct RelinkArgs {
    /// The index directory.
    #[arg(short, long, env = "WIKIRAG_INDEX")]
    index: PathBuf,
    #[command(flatten)]
    hnsw: HnswArgs,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct ExtractArgs {
    #[command(flatten)]
    read: ReadArgs,
    /// One JSON object per article instead of text.
    #[arg(long)]
    json: bool,
    /// Only the article with this exact title.
    #[arg(long)]
    title: Option<String>,
    /// Write here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

fn main() {
    // Built for x86-64-v3 (.cargo/config.toml): say so on an older CPU instead of dying on
    // an illegal instruction.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    if !std::arch::is_x86_feature_detected!("avx2") || !std::arch::is_x86_feature_detected!("fma") {
        eprintln!(
            "error: this wikirag binary was built for x86-64-v3 (AVX2, FMA) and this CPU lacks \
             them; rebuild with RUSTFLAGS=\"-C target-cpu=native\" cargo build --release"
        );
        std::process::exit(2);
    }
    let cli = Cli::parse();
    // A server's internal errors always leave a line on stderr (its clients see only
    // "internal error"); other commands print their errors themselves.
    init_tracing(log_filter(
        cli.verbose,
        matches!(cli.command, Command::Serve(_)),
    ));
    // A panic the libraries catch (tantivy on a damaged segment) is reported as the error it
    // becomes; any other is a bug, said as one (never a bare backtrace hint).
    std::panic::set_hook(Box::new(|info| {
        if wikirag_core::panic_is_caught() {
            tracing::debug!("caught panic: {info}");
        } else {
            eprintln!("error: internal error in wikirag (a bug; please report it): {info}");
        }
    }));
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!(
                "error: {}",
                progress::without_printed_warnings(&error_text(&e))
            );
            let interrupted = matches!(
                e.downcast_ref::<wikirag_indexer::IndexerError>(),
                Some(wikirag_indexer::IndexerError::Interrupted)
            ) || matches!(
                e.downcast_ref::<wikirag_vectors::VectorError>(),
                Some(wikirag_vectors::VectorError::Interrupted)
            );
            std::process::exit(if interrupted { 130 } else { 2 });
        }
    }
}

/// The error and its causes, each said once: a cause whose text the message already holds
/// (thiserror variants that show their source) is not repeated.
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The default log filter (RUST_LOG wins): quiet, but a server's internal errors always
/// leave a line on stderr.
fn log_filter(verbose: u8, serving: bool) -> &'static str {
    match (verbose, serving) {
        (0, false) => "off",
        (0, true) => "wikirag_server=error",
        (1, _) => "info",
        _ => "debug",
    }
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn stop_on_ctrl_c() -> StopFlag {
    let stop = StopFlag::new();
    let flag = stop.clone();
    let presses = std::sync::atomic::AtomicUsize::new(0);
    let _ = ctrlc::set_handler(move || {
        let press = presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if press > 0 {
            eprintln!(
                "\ninterrupted again: exiting now{}",
                if flag.is_publishing() {
                    " (the index is replaced in one step: the old or the new one is in place, whole)"
                } else {
                    "; nothing was published"
                }
            );
            std::process::exit(130);
        }
        if flag.stop() {
            eprintln!(
                "\ninterrupted: stopping, nothing will be published (Ctrl-C again to exit now)"
            );
        } else {
            eprintln!(
                "\ninterrupted while publishing: the index is being replaced in one step and will be whole; finishing (Ctrl-C again to exit now)"
            );
        }
    });
    stop
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Index(args) => index(args),
        Command::Update(args) => update(args),
        Command::Search(args) => search(args),
        Command::Inspect(args) => inspect(args),
        Command::Relink(args) => relink(args),
        Command::Extract(args) => extract(args),
        Command::Eval(args) => eval(args),
        Command::Ask(args) => ask::ask(args),
        Command::Serve(args) => ask::serve(args),
    }
}

fn reporter(quiet: bool) -> Arc<dyn Progress> {
    if quiet {
        Arc::new(NoProgress)
    } else {
        Arc::new(progress::Bars::new())
    }
}

fn index(args: IndexArgs) -> Result<i32> {
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
                    ..Default::default()
                },
            )
            .with_context(|| format!("loading the embedding model {}", dir.display()))?;
            let mut embed = wikirag_indexer::EmbedConfig::new(Arc::new(embedder));
            embed.max_sentences_per_page = args.embed_first;
            embed.title_context = !args.no_title_context;
            embed.hnsw = args.hnsw.params();
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
    };
    let bars = reporter(args.read.quiet);
    let report = wikirag_indexer::build(&config, bars.clone(), &stop);
    drop(bars);
    let report = report.with_context(|| format!("building {}", args.out.display()))?;
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
                "embedded {} sentences ({}) with {} ({} dims, {} pooling){}",
                e.vectors,
                e.scope,
                e.model.name,
                e.model.dim,
                e.model.pooling.name(),
                if e.graph {
                    format!(
                        ", HNSW m={} ef_construction={}",
                        e.hnsw_m, e.hnsw_ef_construction
                    )
                } else {
                    ", exact search (no graph for so few vectors)".to_string()
                }
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

fn update(args: UpdateArgs) -> Result<i32> {
    let stop = stop_on_ctrl_c();
    let manifest = wikirag_index::Manifest::read(&args.index)
        .with_context(|| format!("reading {}", args.index.display()))?;
    let embed = match &manifest.embedding {
        None => None,
        Some(record) => {
            let dir = match (&args.model, &record.model_path) {
                (Some(m), _) => retrieval::model_dir(m)?,
                (None, Some(p)) => PathBuf::from(p),
                (None, None) => anyhow::bail!(
                    "{} has vectors made by {}; pass --model DIR to embed the new sentences",
                    args.index.display(),
                    record.model.name
                ),
            };
            let embedder = wikirag_models::BertEmbedder::load(
                &dir,
                &wikirag_models::EmbedderOptions::default(),
            )
            .with_context(|| format!("loading the embedding model {}", dir.display()))?;
            let mut embed = wikirag_indexer::EmbedConfig::new(Arc::new(embedder));
            embed.model_path = Some(dir);
            Some(embed)
        }
    };
    let read = args.read.config();
    let kind = if args.adds_changes {
        wikirag_indexer::UpdateKind::AddsChanges
    } else {
        wikirag_indexer::UpdateKind::guess(&read.inputs)
    };
    let config = wikirag_indexer::UpdateConfig {
        index: args.index.clone(),
        read,
        kind,
        keep_missing: args.keep_missing,
        allow_older: args.allow_older,
        max_deleted_share: if args.allow_mass_delete {
            1.0
        } else {
            wikirag_indexer::DEFAULT_MAX_DELETED_SHARE
        },
        writer: WriterOptions {
            memory_mb: args.writer_memory_mb,
            ..WriterOptions::default()
        },
        embed,
    };
    let bars = reporter(args.read.quiet);
    let report = wikirag_indexer::update(&config, bars.clone(), &stop);
    drop(bars);
    let report = report
        .with_context(|| format!("updating {} (the index is unchanged)", args.index.display()))?;
    let r = &report.record;
    if args.json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        println!(
            "updated {} to generation {} ({}) in {:.1}s: {} pages added, {} changed, {} deleted, {} unchanged; {} redirects changed; {} sentences embedded",
            report.path.display(),
            r.generation,
            r.kind,
            r.seconds,
            r.pages_added,
            r.pages_changed,
            r.pages_deleted,
            r.pages_unchanged,
            r.redirects_changed,
            r.sentences_embedded,
        );
    }
    for skipped in &r.deletions_skipped {
        eprintln!("warning: {skipped}");
    }
    if r.pages_older > 0 {
        eprintln!(
            "warning: {} pages of the dumps hold an older revision than the index; the newer one is kept",
            r.pages_older
        );
    }
    if r.pages_unreadable > 0 {
        eprintln!(
            "error: {} pages of the dumps could not be read ({} of them keep their indexed version):",
            r.pages_unreadable, r.pages_kept_unreadable
        );
        for page in &r.unreadable {
            eprintln!("  {}", terminal::safe(page));
        }
        if r.pages_unreadable > r.unreadable.len() as u64 {
            eprintln!(
                "  … and {} more (`wikirag inspect --index {}`)",
                r.pages_unreadable - r.unreadable.len() as u64,
                report.path.display()
            );
        }
    }
    let failed: Vec<&str> = r
        .dumps
        .iter()
        .filter_map(|d| d.fatal_error.as_deref())
        .collect();
    for e in &failed {
        eprintln!("error: {e}");
    }
    if !failed.is_empty() {
        eprintln!("the update applied the pages read before the fault, and nothing after it");
        return Ok(1);
    }
    if r.pages_unreadable > 0 {
        eprintln!("the update applied every other page");
        return Ok(1);
    }
    Ok(0)
}

fn search(args: SearchArgs) -> Result<i32> {
    let opened = retrieval::open(&args.index, &args.retrieval)?;
    let options = args.retrieval.options(&opened);
    let searcher = opened.searcher(options)?;
    if opened.manifest.embedding.is_none() && !args.json {
        eprintln!("note: this index has no vectors; searching with BM25 only");
    }
    let query = args.query.join(" ");
    let request = SearchRequest {
        query: query.clone(),
        k: args.k,
        context: args.context,
        per_page: args.per_page,
    };
    let started = Instant::now();
    let hits = searcher.search(&request)?;
    let took = started.elapsed();
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "query": query,
            "mode": options.mode.name(),
            "retrieval": options,
            "query_precision": opened.query_precision(),
            "k": args.k,
            "context": args.context,
            "per_page": args.per_page,
            "took_ms": took.as_secs_f64() * 1e3,
            "hits": hits,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(0);
    }
    if hits.is_empty() {
        writeln!(out, "no results for {query:?}")?;
        return Ok(0);
    }
    for (i, h) in hits.iter().enumerate() {
        let section = if h.section.is_empty() {
            String::new()
        } else {
            format!(" › {}", terminal::safe(&h.section))
        };
        writeln!(
            out,
            "{:>2}. {}{}  [{:.2}]",
            i + 1,
            terminal::safe(&h.title),
            section,
            h.score
        )?;
        for b in &h.before {
            writeln!(out, "      {}", terminal::safe(b))?;
        }
        writeln!(out, "    » {}", terminal::safe(&h.text))?;
        for a in &h.after {
            writeln!(out, "      {}", terminal::safe(a))?;
        }
        // The link lands on this sentence: its start is chosen against the page's earlier ones.
        let earlier = wikirag_core::Retriever::page_sentences(
            &searcher,
            h.page_id,
            h.sentence.saturating_sub(1),
        )
        .ok()
        .flatten()
        .unwrap_or_default();
        let earlier: Vec<&str> = earlier
            .iter()
            .filter(|(n, _)| *n < h.sentence)
            .map(|(_, t)| t.as_str())
            .collect();
        let link = wikirag_core::link::sentence_link(&h.url, h.revision_id, &h.text, &earlier);
        if !h.url.is_empty() {
            writeln!(out, "      {}", terminal::safe(&h.url))?;
        }
        if !link.is_empty() && link != h.url {
            writeln!(out, "      ↳ {}", terminal::safe(&link))?;
        }
    }
    writeln!(
        out,
        "({} hits in {:.1} ms)",
        hits.len(),
        took.as_secs_f64() * 1e3
    )?;
    Ok(0)
}

fn verify(args: &InspectArgs) -> Result<i32> {
    let started = Instant::now();
    let v = wikirag_index::verify(&args.index)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for problem in &v.problems {
            println!("DAMAGED  {problem}");
        }
        if v.unrecorded && v.problems.is_empty() {
            println!(
                "{}: published before wikirag recorded checksums: nothing to compare with (rebuild or update it once to record them)",
                args.index.display()
            );
        } else if v.problems.is_empty() {
            println!(
                "ok: {} files, {:.1} MB, as published ({:.1} s)",
                v.files,
                v.bytes as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
        } else {
            println!(
                "{}: {} problem(s) in {} files read; rebuild the index (`wikirag index ... --force`)",
                args.index.display(),
                v.problems.len(),
                v.files
            );
        }
    }
    Ok(if v.problems.is_empty() && !v.unrecorded {
        0
    } else {
        1
    })
}

fn relink(args: RelinkArgs) -> Result<i32> {
    let mut manifest = wikirag_index::Manifest::read_checked(&args.index)?;
    let Some(embedding) = manifest.embedding.as_mut() else {
        bail!(
            "{}: this index has no vectors (it was built without --model); nothing to link",
            args.index.display()
        );
    };
    let stop = stop_on_ctrl_c();
    // Like every write: into a new generation beside the index (holding its writer lock),
    // swapped in whole; the published index is never written into.
    let generation = wikirag_index::Generation::begin(&args.index, "relink")?;
    let bars = reporter(args.quiet);
    let started = Instant::now();
    let meta = wikirag_vectors::relink(generation.dir(), args.hnsw.params(), bars.as_ref(), &stop)?;
    drop(bars);
    embedding.hnsw_m = meta.hnsw.m;
    embedding.hnsw_ef_construction = meta.hnsw.ef_construction;
    embedding.hnsw_ef_search = meta.hnsw.ef_search;
    embedding.graph = meta.graph;
    manifest.durations.insert(
        "relink_vectors".to_string(),
        started.elapsed().as_secs_f64(),
    );
    manifest.write(generation.dir())?;
    if !stop.begin_publish() {
        return Err(wikirag_indexer::IndexerError::Interrupted.into());
    }
    generation.publish()?;
    if meta.graph {
        println!(
            "re-linked {} vectors in {:.1} s (m={}, ef_construction={}, ef_search={})",
            meta.count,
            started.elapsed().as_secs_f64(),
            meta.hnsw.m,
            meta.hnsw.ef_construction,
            meta.hnsw.ef_search
        );
    } else {
        println!(
            "{} vectors, fewer than --hnsw-min-vectors {}: no graph, exact search",
            meta.count, meta.hnsw.min_vectors
        );
    }
    Ok(0)
}

fn inspect(args: InspectArgs) -> Result<i32> {
    if args.verify {
        return verify(&args);
    }
    let m = wikirag_index::Manifest::read(&args.index)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(0);
    }
    println!("index      {}", args.index.display());
    println!(
        "format     {} (wikirag {})",
        m.format_version, m.wikirag_version
    );
    println!("languages  {}", m.languages.join(", "));
    println!(
        "counts     {} articles, {} sentences, {} redirects, {} skipped pages",
        m.counts.articles, m.counts.sentences, m.counts.redirects, m.counts.skipped
    );
    println!(
        "params     namespaces {:?}, {} threads, writer {} MiB, max page {} bytes, parse timeout {} ms",
        m.params.namespaces,
        m.params.threads,
        m.params.writer_memory_mb,
        m.params.max_page_bytes,
        m.params.parse_timeout_ms
    );
    for (stage, secs) in &m.durations {
        println!("duration   {stage}: {secs:.2}s");
    }
    match &m.embedding {
        Some(e) => println!(
            "vectors    {} ({}), model {} ({} dims, {} pooling, max {} tokens, weights sha256 {}), title context {}, {}",
            e.vectors,
            e.scope,
            e.model.name,
            e.model.dim,
            e.model.pooling.name(),
            e.model.max_tokens,
            &e.model.weights_sha256[..e.model.weights_sha256.len().min(16)],
            e.title_context,
            if e.graph {
                format!(
                    "HNSW m={} ef_construction={} ef_search={}",
                    e.hnsw_m, e.hnsw_ef_construction, e.hnsw_ef_search
                )
            } else {
                "exact search".to_string()
            }
        ),
        None => println!("vectors    none (BM25 only)"),
    }
    for d in &m.dumps {
        println!(
            "dump       {} ({} bytes, {}, {}, lang {}): {} pages read, {} articles, {} redirects, {} other namespaces, {} skipped, {} sentences, {:.1}s",
            d.file_name,
            d.bytes,
            d.compression,
            d.mode,
            d.language,
            d.pages_read,
            d.articles,
            d.redirects,
            d.other_namespaces,
            d.skipped,
            d.sentences,
            d.seconds
        );
        if let Some(e) = &d.fatal_error {
            println!("  error    {}", terminal::safe(e));
        }
        for e in &d.page_errors {
            println!("  skipped  {}", terminal::safe(e));
        }
    }
    println!(
        "generation {} ({} update{} since the build)",
        m.generation,
        m.updates.len(),
        if m.updates.len() == 1 { "" } else { "s" }
    );
    for u in &m.updates {
        let files: Vec<String> = u
            .dumps
            .iter()
            .map(|d| match &d.date {
                Some(date) => format!("{} ({}, {date})", d.file_name, d.wiki),
                None => format!("{} ({})", d.file_name, d.wiki),
            })
            .collect();
        println!(
            "update {:<3} {} from {}: {} added, {} changed, {} deleted, {} unchanged pages, {} redirects changed, {} sentences embedded{}, {:.1}s",
            u.generation,
            u.kind,
            files.join(", "),
            u.pages_added,
            u.pages_changed,
            u.pages_deleted,
            u.pages_unchanged,
            u.redirects_changed,
            u.sentences_embedded,
            if u.vectors_compacted {
                ", vectors compacted"
            } else {
                ""
            },
            u.seconds
        );
        for d in u.dumps.iter().filter_map(|d| d.fatal_error.as_deref()) {
            println!("  error    {d}");
        }
        for s in &u.deletions_skipped {
            println!("  note     {s}");
        }
    }
    // What every search checks when it opens the index (manifest checksum, file sizes, small
    // files' checksums, segments, vectors): a damaged index is not reported as fine.
    let opened = wikirag_index::SentenceIndex::open(&args.index)
        .map(drop)
        .map_err(anyhow::Error::from)
        .and_then(|()| match &m.embedding {
            Some(_) => wikirag_vectors::VectorIndex::open(&args.index)
                .map(drop)
                .map_err(anyhow::Error::from),
            None => Ok(()),
        });
    if let Err(e) = opened {
        println!("DAMAGED    {}", terminal::safe(&error_text(&e)));
        eprintln!(
            "error: the index cannot be searched; `wikirag inspect --verify --index {}` names every damaged file",
            args.index.display()
        );
        return Ok(1);
    }
    Ok(0)
}

struct ExtractSink<W: Write> {
    out: W,
    json: bool,
    title: Option<String>,
    written: u64,
}

impl<W: Write> wikirag_indexer::Sink for ExtractSink<W> {
    fn article(&mut self, a: &wikirag_core::Article) -> wikirag_indexer::Result<()> {
        if self.title.as_ref().is_some_and(|t| t != &a.title) {
            return Ok(());
        }
        self.written += 1;
        let io =
            |e: std::io::Error| wikirag_indexer::IndexerError::Sink(format!("writing output: {e}"));
        if self.json {
            let line = serde_json::to_string(a).expect("article serialises");
            writeln!(self.out, "{line}").map_err(io)?;
        } else {
            // One line per sentence: a control character from the dump (a line end in a
            // title) can neither break the format nor drive a terminal.
            writeln!(
                self.out,
                "# {} ({})",
                terminal::safe(&a.title),
                terminal::safe(&a.url)
            )
            .map_err(io)?;
            let mut section = "";
            for s in &a.sentences {
                if s.section != section {
                    section = &s.section;
                    writeln!(self.out, "## {}", terminal::safe(section)).map_err(io)?;
                }
                writeln!(self.out, "{}", terminal::safe(&s.text)).map_err(io)?;
            }
            writeln!(self.out).map_err(io)?;
        }
        Ok(())
    }
    fn redirect(&mut self, _: &wikirag_index::Redirect<'_>) -> wikirag_indexer::Result<()> {
        Ok(())
    }
}

fn extract(args: ExtractArgs) -> Result<i32> {
    let stop = stop_on_ctrl_c();
    let config = args.read.config();
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut sink = ExtractSink {
        out,
        json: args.json,
        title: args.title.clone(),
        written: 0,
    };
    let bars = reporter(args.read.quiet || args.output.is_none());
    let records = wikirag_indexer::read_into(&config, &mut sink, bars.clone(), &stop)?;
    drop(bars);
    sink.out.flush()?;
    if let Some(t) = &args.title
        && sink.written == 0
    {
        bail!("no article titled {t:?} in the given dumps");
    }
    let mut code = 0;
    for r in &records {
        if let Some(e) = &r.fatal_error {
            eprintln!("error: {e}");
            code = 1;
        }
    }
    Ok(code)
}

/// BM25 ranking options with the swept values (`title_boost`, `fact_weight`,
/// `title_words_weight`) of one run.
fn search_options(
    extra: &std::collections::BTreeMap<String, String>,
) -> Result<wikirag_index::SearchOptions> {
    let mut options = wikirag_index::SearchOptions::default();
    for (name, value) in extra {
        let slot = match name.as_str() {
            "title_boost" => &mut options.title_boost,
            "fact_weight" => &mut options.fact_weight,
            "title_words_weight" => &mut options.title_words_weight,
            _ => continue,
        };
        *slot = value
            .parse()
            .ok()
            .filter(|v: &f32| v.is_finite() && *v >= 0.0)
            .with_context(|| format!("{name} {value:?} is not a number ≥ 0"))?;
    }
    Ok(options)
}

/// Retrieval options of one eval run: the command line's, overridden by swept values.
fn run_options(
    base: wikirag_vectors::RetrievalOptions,
    extra: &std::collections::BTreeMap<String, String>,
) -> Result<wikirag_vectors::RetrievalOptions> {
    let mut o = base;
    for (name, value) in extra {
        let bad = || format!("{name}={value:?} is not a valid value");
        match name.as_str() {
            "mode" => o.mode = value.parse().map_err(anyhow::Error::msg)?,
            "fusion" => o.fusion = value.parse().map_err(anyhow::Error::msg)?,
            "rrf_k" => o.rrf_k = value.parse().with_context(bad)?,
            "dense_weight" => o.dense_weight = value.parse().with_context(bad)?,
            "candidates" => o.candidates = value.parse().with_context(bad)?,
            "ef_search" => o.ef_search = value.parse().with_context(bad)?,
            "exact" => o.exact = value.parse().with_context(bad)?,
            _ => {}
        }
    }
    Ok(o)
}

const RETRIEVAL_PARAMS: &[&str] = &[
    "mode",
    "title_boost",
    "fact_weight",
    "title_words_weight",
    "fusion",
    "rrf_k",
    "dense_weight",
    "candidates",
    "ef_search",
    "exact",
    "max_context_tokens",
    "extractive_sentences",
];

fn eval(args: EvalArgs) -> Result<i32> {
    let sweeps_mode = args.sweep.iter().any(|s| s.starts_with("mode="));
    let mut open_args = args.retrieval.clone();
    if sweeps_mode {
        open_args.mode = None;
    }
    let opened = retrieval::open(&args.index, &open_args)?;
    let base_options = args.retrieval.options(&opened);
    let mut questions = Vec::new();
    for path in &args.qa {
        questions.extend(wikirag_eval::load_questions(path)?);
    }
    let base = wikirag_eval::Params {
        k: args.k.max(1),
        per_page: args.per_page,
        context: 0,
        extra: [("mode".to_string(), base_options.mode.name().to_string())]
            .into_iter()
            .chain(
                opened
                    .query_precision()
                    .map(|p| ("query_precision".to_string(), p.to_string())),
            )
            .collect(),
    };
    let sweeps = args
        .sweep
        .iter()
        .map(|s| wikirag_eval::parse_sweep(s))
        .collect::<Result<Vec<_>, _>>()?;
    let runs = wikirag_eval::expand_sweeps(&base, &sweeps, RETRIEVAL_PARAMS)?;
    let mut searchers = Vec::with_capacity(runs.len());
    for run in &runs {
        let options = run_options(base_options, &run.extra)?;
        let bm25_swept = ["title_boost", "fact_weight", "title_words_weight"]
            .iter()
            .any(|p| run.extra.contains_key(*p));
        let searcher = if bm25_swept {
            opened
                .with_bm25_options(&args.index, search_options(&run.extra)?)?
                .searcher(options)?
        } else {
            opened.searcher(options)?
        };
        searchers.push(searcher);
    }
    let started = Instant::now();
    let mut reports: Vec<wikirag_eval::Report> = Vec::with_capacity(runs.len());
    let llm = if args.ask { args.llm.build()? } else { None };
    for (run, searcher) in runs.iter().zip(searchers) {
        let mut report = wikirag_eval::evaluate(&searcher, &questions, run);
        if args.ask {
            let rag = wikirag_rag::Rag::new(searcher, llm.clone());
            let mut options = wikirag_rag::AskOptions {
                k: run.k,
                per_page: run.per_page,
                context: run.context,
                ..wikirag_rag::AskOptions::default()
            };
            if let Some(v) = run.extra.get("max_context_tokens") {
                options.max_context_tokens = Some(
                    v.parse()
                        .with_context(|| format!("max_context_tokens={v:?}"))?,
                );
            }
            if let Some(v) = run.extra.get("extractive_sentences") {
                options.extractive_sentences = v
                    .parse()
                    .with_context(|| format!("extractive_sentences={v:?}"))?;
            }
            report.answers = Some(wikirag_eval::evaluate_answers(
                &ask::Asker(&rag, options),
                &questions,
            ));
        }
        reports.push(report);
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        };
        write("results.csv", wikirag_eval::report::csv(&reports))?;
        write("results.md", wikirag_eval::report::markdown(&reports))?;
        write("report.json", serde_json::to_string_pretty(&reports)?)?;
        let swept: Vec<String> = sweeps.iter().map(|(n, _)| n.clone()).collect();
        wikirag_eval::report::plots(&reports, &swept, dir)?;
    }
    if args.json {
        let slim: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).expect("report serialises");
                v.as_object_mut().map(|o| o.remove("outcomes"));
                v
            })
            .collect();
        let out = if slim.len() == 1 {
            slim.into_iter().next().expect("one report")
        } else {
            serde_json::Value::Array(slim)
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    print!("{}", wikirag_eval::report::markdown(&reports));
    if let [r] = reports.as_slice() {
        println!();
        for (kind, s) in &r.per_kind {
            println!(
                "{kind:<12} n={:<3} recall@1 {:.2}  @5 {:.2}  @10 {:.2}  @20 {:.2}  MRR {:.2}",
                s.questions,
                s.recall_at[&1],
                s.recall_at[&5],
                s.recall_at[&10],
                s.recall_at[&20],
                s.mrr
            );
        }
        let misses: Vec<&wikirag_eval::Outcome> = r
            .outcomes
            .iter()
            .filter(|o| o.answer_rank.is_none_or(|rank| rank > 10))
            .collect();
        if !misses.is_empty() {
            println!("\nnot answered in the top 10 ({}):", misses.len());
            for m in misses {
                println!("  - {}", m.question);
            }
        }
    }
    println!(
        "\n{} questions x {} runs in {:.2}s",
        questions.len(),
        reports.len(),
        seconds
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_server_still_logs_its_internal_errors() {
        let filter = tracing_subscriber::EnvFilter::new(log_filter(0, true));
        assert_eq!(
            filter.max_level_hint(),
            Some(tracing_subscriber::filter::LevelFilter::ERROR)
        );
        assert_eq!(log_filter(0, false), "off");
    }
}
