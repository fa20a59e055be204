//! `wikirag search`: search an index and print the hits.

use crate::cmd::IndexDir;
use crate::retrieval;
use crate::terminal::safe;
use anyhow::Result;
use std::io::Write;
use std::time::Instant;
use wikirag_core::SearchRequest;

#[derive(clap::Args, Debug)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    pub index: IndexDir,
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

pub fn run(args: SearchArgs) -> Result<i32> {
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
            format!(" › {}", safe(&h.section))
        };
        writeln!(
            out,
            "{:>2}. {}{}  [{:.2}]",
            i + 1,
            safe(&h.title),
            section,
            h.score
        )?;
        for b in &h.before {
            writeln!(out, "      {}", safe(b))?;
        }
        writeln!(out, "    » {}", safe(&h.text))?;
        for a in &h.after {
            writeln!(out, "      {}", safe(a))?;
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
            writeln!(out, "      {}", safe(&h.url))?;
        }
        if !link.is_empty() && link != h.url {
            writeln!(out, "      ↳ {}", safe(&link))?;
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
