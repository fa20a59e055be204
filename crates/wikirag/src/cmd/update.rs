//! `wikirag update`: bring an index up to newer dumps.

use crate::cmd::IndexDir;
use crate::cmd::{ReadArgs, reporter, stop_on_ctrl_c};
use crate::retrieval;
use crate::terminal::safe;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use wikirag_index::WriterOptions;

#[derive(clap::Args, Debug)]
pub(crate) struct UpdateArgs {
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    pub index: IndexDir,
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

pub fn run(args: UpdateArgs) -> Result<i32> {
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
            // New passages are embedded with the arithmetic the index's vectors were made with.
            let passage_precision = record
                .passage_precision
                .parse()
                .map_err(|e: String| anyhow::anyhow!("{}: {e}", args.index.display()))?;
            let embedder = wikirag_models::BertEmbedder::load(
                &dir,
                &wikirag_models::EmbedderOptions {
                    passage_precision,
                    ..Default::default()
                },
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
        index: args.index.index.clone(),
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
            eprintln!("  {}", safe(page));
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
