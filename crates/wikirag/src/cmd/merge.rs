//! `wikirag merge`: one index from shards built apart (`wikirag index --part`).

use crate::cmd::{reporter, stop_on_ctrl_c};
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(crate) struct MergeArgs {
    /// Indexes holding disjoint pages (the work units of one dump, or dumps of different
    /// wikis), built by the same wikirag with the same --model or none; their vectors are
    /// stored in this order.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Where to write the merged index (published whole, like every write).
    #[arg(short, long)]
    out: PathBuf,
    /// Replace an index already at --out.
    #[arg(long)]
    force: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: MergeArgs) -> Result<i32> {
    let stop = stop_on_ctrl_c();
    let bars = reporter(args.quiet);
    let config = wikirag_indexer::MergeConfig {
        shards: args.shards,
        out: args.out,
        overwrite: args.force,
        hnsw: None,
    };
    let report = wikirag_indexer::merge(&config, bars.as_ref(), &stop)?;
    drop(bars);
    let m = &report.manifest;
    println!(
        "merged {} shards into {}: {} articles, {} sentences, {} redirects, {} segments adopted ({} files hard-linked) in {:.1} s",
        config.shards.len(),
        report.path.display(),
        m.counts.articles,
        m.counts.sentences,
        m.counts.redirects,
        report.segments,
        report.files_linked,
        report.seconds
    );
    match &m.embedding {
        Some(e) => println!("vectors: {} ({})", e.vectors, e.graph_summary()),
        None => println!("no vectors (BM25 only)"),
    }
    Ok(0)
}
