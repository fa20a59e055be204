//! `wikirag relink`: re-link the HNSW graph from the stored vectors.

use crate::cmd::{HnswArgs, IndexDir, reporter, stop_on_ctrl_c};
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub(crate) struct RelinkArgs {
    #[command(flatten)]
    pub index: IndexDir,
    #[command(flatten)]
    hnsw: HnswArgs,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: RelinkArgs) -> Result<i32> {
    let stop = stop_on_ctrl_c();
    let bars = reporter(args.quiet);
    let report = wikirag_indexer::relink(&args.index, args.hnsw.params(), bars.as_ref(), &stop)?;
    drop(bars);
    let meta = report.meta;
    if meta.graph {
        println!(
            "re-linked {} vectors in {:.1} s (m={}, ef_construction={}, ef_search={})",
            meta.count, report.seconds, meta.hnsw.m, meta.hnsw.ef_construction, meta.hnsw.ef_search
        );
    } else {
        println!(
            "{} vectors, fewer than --hnsw-min-vectors {}: no graph, exact search",
            meta.count, meta.hnsw.min_vectors
        );
    }
    Ok(0)
}
