//! `wikirag inspect`: what an index holds; `--verify` reads every byte.

use crate::cmd::IndexDir;
use crate::terminal::safe;
use anyhow::Result;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    pub index: IndexDir,
    /// Print the whole manifest as JSON.
    #[arg(long)]
    json: bool,
    /// Read every file of the index and compare it with the sizes and SHA-256 checksums
    /// recorded when it was published; exit 1 when anything differs.
    #[arg(long)]
    verify: bool,
}

pub fn run(args: InspectArgs) -> Result<i32> {
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
            e.scope(),
            e.model.name,
            e.model.dim,
            e.model.pooling.name(),
            e.model.max_tokens,
            &e.model.weights_sha256[..e.model.weights_sha256.len().min(16)],
            e.title_context,
            e.graph_summary()
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
            println!("  error    {}", safe(e));
        }
        for e in &d.page_errors {
            println!("  skipped  {}", safe(e));
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
        println!("DAMAGED    {}", safe(&crate::error_text(&e)));
        eprintln!(
            "error: the index cannot be searched; `wikirag inspect --verify --index {}` names every damaged file",
            args.index.display()
        );
        return Ok(1);
    }
    Ok(0)
}

pub(crate) fn verify(args: &InspectArgs) -> Result<i32> {
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
