//! A full index build: read every input into a new index (embedding as it goes when a
//! model is given), then publish it whole.

use crate::embed::{EmbedConfig, EmbeddingSink};
use crate::error::{IndexerError, Result};
use crate::read::{FirstOfEachPage, ReadConfig, read_filtered};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use wikirag_core::{Progress, StopFlag};
use wikirag_index::{BuildParams, Counts, DumpRecord, IndexBuilder, Manifest, WriterOptions};
use wikirag_vectors::ResumableWriter;

/// A full index build.
#[derive(Clone)]
pub struct BuildConfig {
    pub read: ReadConfig,
    pub out: PathBuf,
    pub writer: WriterOptions,
    /// Also embed sentences and build a vector index.
    pub embed: Option<EmbedConfig>,
    /// Keep the vectors of an interrupted build of the same output and embed only the rest
    /// (`false`: discard them and embed everything).
    pub resume: bool,
}

/// What a build did.
#[derive(Debug)]
pub struct BuildReport {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Sentence vectors kept from an interrupted build instead of embedded again.
    pub resumed_vectors: u64,
}

/// Builds and publishes an index.
pub fn build(
    config: &BuildConfig,
    progress: Arc<dyn Progress>,
    stop: &StopFlag,
) -> Result<BuildReport> {
    let started = Instant::now();
    let mut builder = IndexBuilder::create(&config.out, &config.writer)?;
    let mut embedding_secs = 0.0;
    let mut vectors = None;
    let mut resumed = 0;
    let records = match &config.embed {
        None => read_filtered(
            &config.read,
            &mut builder,
            progress.clone(),
            stop,
            Some(Arc::new(FirstOfEachPage::default())),
        )?,
        Some(embed) => {
            let journal = wikirag_vectors::journal_dir(&config.out);
            if !config.resume && journal.exists() {
                std::fs::remove_dir_all(&journal).map_err(|source| IndexerError::Io {
                    path: journal.clone(),
                    source,
                })?;
            }
            let writer =
                ResumableWriter::open(&journal, embed.embedder.info().dim, &embed.identity())?;
            if writer.found() > 0 {
                progress.stage(&format!(
                    "resuming: {} sentence vectors of an interrupted build kept",
                    writer.found()
                ));
            }
            let mut sink = EmbeddingSink {
                index: &mut builder,
                config: embed,
                writer,
                pending: Vec::new(),
                sample: Default::default(),
                stop,
                progress: progress.clone(),
            };
            progress.items_started("embedding sentences", 0);
            let records = read_filtered(
                &config.read,
                &mut sink,
                progress.clone(),
                stop,
                Some(Arc::new(FirstOfEachPage::default())),
            )?;
            sink.flush()?;
            let sample = sink.sample.embed(embed.embedder.as_ref());
            let journal = sink.writer;
            resumed = journal.reused() as u64;
            let writer =
                journal.into_writer(&builder.temp_dir().join(wikirag_vectors::VECTORS_DIR))?;
            let embedded = writer.len();
            let linking = Instant::now();
            let meta = wikirag_vectors::finish_build(
                writer,
                embed.embedder.info().clone(),
                embed.hnsw,
                &sample,
                progress.as_ref(),
                stop,
            )?;
            embedding_secs = linking.elapsed().as_secs_f64();
            tracing::info!(embedded, graph = meta.graph, "vectors written");
            vectors = Some(embed.record(&meta));
            records
        }
    };
    // A work unit of a distributed build may hold no article (only redirects, or pages of
    // other namespaces): read to its end without a fault, it is a shard like any other.
    let whole_parts = records
        .iter()
        .all(|r| r.part.is_some() && r.fatal_error.is_none());
    if records.iter().all(|r| r.articles == 0) && !whole_parts {
        return Err(IndexerError::NothingIndexed(why_nothing(
            &records,
            &config.read.namespaces,
        )));
    }
    let read_secs = started.elapsed().as_secs_f64();
    progress.stage("committing");
    let mut counts = Counts::default();
    let mut languages: Vec<String> = Vec::new();
    for r in &records {
        counts.articles += r.articles;
        counts.redirects += r.redirects;
        counts.sentences += r.sentences;
        counts.skipped += r.skipped;
        *counts
            .sentences_by_language
            .entry(r.language.clone())
            .or_default() += r.sentences;
        if !r.language.is_empty() && !languages.contains(&r.language) {
            languages.push(r.language.clone());
        }
    }
    let mut durations = BTreeMap::new();
    if vectors.is_some() {
        // Embedding runs inline with reading (one chunk at a time).
        durations.insert(
            "read_clean_add_embed".to_string(),
            read_secs - embedding_secs,
        );
        durations.insert("quantize_link_vectors".to_string(), embedding_secs);
    } else {
        durations.insert("read_clean_add".to_string(), read_secs);
    }
    let mut manifest = Manifest::new(
        languages,
        records,
        counts,
        BuildParams {
            namespaces: config.read.namespaces.clone(),
            threads: config.read.threads(),
            writer_memory_mb: config.writer.memory_mb,
            max_page_bytes: config.read.max_page_bytes,
            parse_timeout_ms: config.read.parse_timeout.as_millis() as u64,
            max_sentence_bytes: wikirag_corpus::MAX_SENTENCE_BYTES,
            language_override: config.read.language.as_ref().map(|l| l.code().to_string()),
        },
        durations,
        vectors,
    );
    // Everything but the commit is measured; the manifest is written once, inside the
    // directory that is then swapped in (rewriting it after publishing would open a window
    // where it and its checksum disagree).
    manifest
        .durations
        .insert("total".to_string(), started.elapsed().as_secs_f64());
    if !stop.begin_publish() {
        return Err(IndexerError::Interrupted);
    }
    let path = builder.publish(&manifest)?;
    // As published: with the checksums of its files.
    let manifest = Manifest::read(&path)?;
    Ok(BuildReport {
        path,
        manifest,
        resumed_vectors: resumed,
    })
}

/// Why a build found no article: the inputs' faults, else what became of their pages (an
/// index of nothing is a failure, not a quiet success: a Latin-1 dump used to give one).
fn why_nothing(records: &[DumpRecord], namespaces: &[i32]) -> String {
    let errors: Vec<String> = records
        .iter()
        .filter_map(|r| r.fatal_error.clone())
        .collect();
    if !errors.is_empty() {
        return errors.join("; ");
    }
    let (read, skipped, other, redirects) = records.iter().fold((0, 0, 0, 0), |a, r| {
        (
            a.0 + r.pages_read,
            a.1 + r.skipped,
            a.2 + r.other_namespaces,
            a.3 + r.redirects,
        )
    });
    let first_error = records
        .iter()
        .flat_map(|r| r.page_errors.first())
        .next()
        .map(|e| format!(" (first: {e})"))
        .unwrap_or_default();
    format!(
        "{read} pages read: {skipped} skipped with errors{first_error}, {other} outside namespaces {namespaces:?}, {redirects} redirects"
    )
}
