//! `merge`: one index from shards built apart (`wikirag index --part` on the work units of a
//! distributed build). The BM25 segments are adopted as they are, the vectors copied row by
//! row and linked into one graph; the result is staged beside `out` and swapped in whole, like
//! every other write.

use crate::embed::record_vectors;
use crate::error::{IndexerError, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use wikirag_core::{Progress, StopFlag};
use wikirag_index::{Counts, IndexError, Manifest, Staging};
use wikirag_vectors::HnswParams;

/// What to merge.
#[derive(Clone, Debug)]
pub struct MergeConfig {
    /// Published indexes holding disjoint pages, in the order their rows are to be stored.
    pub shards: Vec<PathBuf>,
    pub out: PathBuf,
    /// Replace an index already at `out`.
    pub overwrite: bool,
    /// The graph's parameters; `None`: the shards' (the beam width measured again).
    pub hnsw: Option<HnswParams>,
}

/// What a merge did.
#[derive(Debug)]
pub struct MergeReport {
    pub path: PathBuf,
    /// As published, with the checksums of its files.
    pub manifest: Manifest,
    /// tantivy segments adopted, and how many files were hard-linked rather than copied.
    pub segments: usize,
    pub files_linked: usize,
    pub seconds: f64,
}

/// Merges `config.shards` into one index at `config.out`.
pub fn merge(
    config: &MergeConfig,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<MergeReport> {
    let started = Instant::now();
    if config.shards.is_empty() {
        return Err(IndexerError::NoInput);
    }
    let out_real = std::fs::canonicalize(&config.out).ok();
    let mut shards: Vec<(PathBuf, Manifest)> = Vec::with_capacity(config.shards.len());
    for shard in &config.shards {
        let manifest = Manifest::read_checked(shard)?;
        if out_real.is_some() && std::fs::canonicalize(shard).ok() == out_real {
            return Err(refuse(
                shard,
                "it is the output too: merge into another --out",
            ));
        }
        // Page keys are fixed by the wiki's name, so the shards' segments agree on them; an
        // older shard numbers pages by their ids alone, which several wikis cannot mix.
        if manifest.page_ids() != wikirag_core::PageIds::Keyed {
            return Err(refuse(
                shard,
                &format!(
                    "it was built by an older wikirag (index format {}: page ids not told apart by wiki); rebuild it",
                    manifest.format_version
                ),
            ));
        }
        if let Some((first, first_manifest)) = shards.first() {
            if first_manifest.embedding.is_some() != manifest.embedding.is_some() {
                return Err(refuse(
                    shard,
                    &format!(
                        "{} vectors and {} {}: every shard must be built with the same --model, or none",
                        if manifest.embedding.is_some() {
                            "it has"
                        } else {
                            "it has no"
                        },
                        first.display(),
                        if first_manifest.embedding.is_some() {
                            "has"
                        } else {
                            "has none"
                        },
                    ),
                ));
            }
            if let (Some(a), Some(b)) = (&first_manifest.embedding, &manifest.embedding)
                && (a.title_context != b.title_context
                    || a.embed_first != b.embed_first
                    || a.window != b.window
                    || a.passage_precision != b.passage_precision)
            {
                return Err(refuse(
                    shard,
                    &format!(
                        "its passages were embedded otherwise than {}'s (scope {} / {}, title context {} / {}, {} / {} passes)",
                        first.display(),
                        b.scope(),
                        a.scope(),
                        b.title_context,
                        a.title_context,
                        b.passage_precision,
                        a.passage_precision
                    ),
                ));
            }
            if first_manifest.params.namespaces != manifest.params.namespaces {
                return Err(refuse(
                    shard,
                    &format!(
                        "it holds namespaces {:?}, {} holds {:?}",
                        manifest.params.namespaces,
                        first.display(),
                        first_manifest.params.namespaces
                    ),
                ));
            }
        }
        shards.push((shard.clone(), manifest));
    }
    wikirag_index::check_wikis(&config.out, shards.iter().flat_map(|(_, m)| m.wikis()))?;

    progress.stage("merging");
    let mut staging = Staging::begin(
        &config.out,
        if config.overwrite {
            "merge --force"
        } else {
            "merge"
        },
    )?;
    if std::fs::symlink_metadata(&config.out).is_ok() && !config.overwrite {
        return Err(IndexError::Exists {
            path: config.out.clone(),
        }
        .into());
    }
    let bm25 = Instant::now();
    let adopted = wikirag_index::adopt_segments(staging.dir(), &shards)?;
    let bm25_secs = bm25.elapsed().as_secs_f64();
    let mut durations = BTreeMap::new();
    durations.insert("merge_bm25".to_string(), bm25_secs);

    let first = &shards[0].1;
    let embedding = match &first.embedding {
        None => None,
        Some(record) => {
            let vectors = Instant::now();
            let paths: Vec<PathBuf> = shards.iter().map(|(p, _)| p.clone()).collect();
            let meta = wikirag_vectors::merge(staging.dir(), &paths, config.hnsw, progress, stop)?;
            durations.insert("merge_vectors".to_string(), vectors.elapsed().as_secs_f64());
            let mut record = record.clone();
            record_vectors(&mut record, &meta);
            record.peak_rss_mb = crate::peak_rss_mb();
            Some(record)
        }
    };

    let mut counts = Counts::default();
    let mut languages: Vec<String> = Vec::new();
    let mut dumps = Vec::new();
    let mut shard_total = 0.0;
    let mut updates = Vec::new();
    for (_, m) in &shards {
        // Shards updated apart (a newer dump's parts, `wikirag_ray update`): their records
        // are kept, each naming the part it read.
        updates.extend(m.updates.iter().cloned());
        counts.articles += m.counts.articles;
        counts.redirects += m.counts.redirects;
        counts.sentences += m.counts.sentences;
        counts.skipped += m.counts.skipped;
        for (lang, n) in &m.counts.sentences_by_language {
            *counts
                .sentences_by_language
                .entry(lang.clone())
                .or_default() += n;
        }
        for lang in &m.languages {
            if !languages.contains(lang) {
                languages.push(lang.clone());
            }
        }
        dumps.extend(m.dumps.iter().cloned());
        shard_total += m.durations.get("total").copied().unwrap_or(0.0);
    }
    durations.insert("shards_total".to_string(), shard_total);
    durations.insert("total".to_string(), started.elapsed().as_secs_f64());
    let mut manifest = Manifest::new(
        languages,
        dumps,
        counts,
        first.params.clone(),
        durations,
        embedding,
    );
    manifest.generation = shards.iter().map(|(_, m)| m.generation).max().unwrap_or(0);
    manifest.updates = updates;
    // Every adopted segment file must still be what its shard published.
    manifest.write_after(
        staging.dir(),
        Some(&wikirag_index::adopted_manifest(first, &adopted)),
    )?;
    if !stop.begin_publish() {
        return Err(IndexerError::Interrupted);
    }
    let path = staging.publish()?;
    Ok(MergeReport {
        manifest: Manifest::read(&path)?,
        path,
        segments: adopted.segments,
        files_linked: adopted.linked,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn refuse(shard: &Path, message: &str) -> IndexerError {
    IndexError::Merge {
        path: shard.to_path_buf(),
        message: message.to_string(),
    }
    .into()
}
