//! The `wikirag` command: glue between the user and the library crates. It parses arguments,
//! draws progress, prints results; all the work happens in the libraries.

mod cmd;
mod progress;
mod retrieval;
mod terminal;

/// Cleaning makes many small short-lived strings; mimalloc measured faster than glibc's
/// malloc on the text stage (see benches/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    Index(cmd::index::IndexArgs),
    /// Bring an index up to a newer dump (a full dump, or daily adds-changes files) without
    /// rebuilding it: only new and changed pages are cleaned and embedded.
    Update(cmd::update::UpdateArgs),
    /// Search an index.
    Search(cmd::search::SearchArgs),
    /// Show what an index holds and how it was built.
    Inspect(cmd::inspect::InspectArgs),
    /// Re-link an index's HNSW graph from its stored vectors (other parameters, or an index
    /// from an older wikirag); nothing is re-read or re-embedded.
    Relink(cmd::relink::RelinkArgs),
    /// One index from shards built apart (`index --part` on the units of a distributed build).
    Merge(cmd::merge::MergeArgs),
    /// Print the cleaned text of a dump's articles (what the index sees).
    Extract(cmd::extract::ExtractArgs),
    /// Measure retrieval quality on a question set, optionally sweeping parameters.
    Eval(cmd::eval::EvalArgs),
    /// Answer a question with citations (extractive, an OpenAI-compatible server, or a local GGUF model).
    Ask(cmd::ask::AskArgs),
    /// Serve the HTTP API and the web page (and MCP at /mcp).
    Serve(cmd::serve::ServeArgs),
    /// Serve the MCP tools (search, fetch, ask) over stdio, for assistants that start their
    /// tools as processes (Claude Desktop, VS Code, Cursor).
    Mcp(cmd::mcp::McpArgs),
}

fn main() {
    // Built for x86-64-v3 (.cargo/config.toml): say so on an older CPU instead of dying on
    // an illegal instruction.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    if !wikirag_core::cpu::Simd::cpu_runs(wikirag_core::cpu::Isa::Avx2) {
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
        matches!(cli.command, Command::Serve(_) | Command::Mcp(_)),
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

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Index(args) => cmd::index::run(args),
        Command::Update(args) => cmd::update::run(args),
        Command::Search(args) => cmd::search::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Relink(args) => cmd::relink::run(args),
        Command::Merge(args) => cmd::merge::run(args),
        Command::Extract(args) => cmd::extract::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Ask(args) => cmd::ask::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Mcp(args) => cmd::mcp::run(args),
    }
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
