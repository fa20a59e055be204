//! `relink`: the HNSW graph of an index re-linked from its stored vectors (no re-embedding),
//! on a new generation swapped in whole like every other write.

use crate::embed::record_vectors;
use crate::error::{IndexerError, Result};
use std::path::Path;
use std::time::Instant;
use wikirag_core::{Progress, StopFlag};
use wikirag_index::{Generation, Manifest};
use wikirag_vectors::{HnswParams, VectorMeta};

/// What a relink did.
#[derive(Debug)]
pub struct RelinkReport {
    /// The vectors' record as published.
    pub meta: VectorMeta,
    pub seconds: f64,
}

/// Re-links the graph of the index at `index` with `params`. Below `params.min_vectors` the
/// graph is dropped (exact search). The published index is never written into.
pub fn relink(
    index: &Path,
    params: HnswParams,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<RelinkReport> {
    let started = Instant::now();
    let mut manifest = Manifest::read_checked(index)?;
    if manifest.embedding.is_none() {
        return Err(IndexerError::NoVectors(index.to_path_buf()));
    }
    let generation = Generation::begin(index, "relink")?;
    let meta = wikirag_vectors::relink(generation.dir(), params, progress, stop)?;
    if let Some(record) = manifest.embedding.as_mut() {
        record_vectors(record, &meta);
    }
    let seconds = started.elapsed().as_secs_f64();
    manifest
        .durations
        .insert("relink_vectors".to_string(), seconds);
    manifest.write(generation.dir())?;
    if !stop.begin_publish() {
        return Err(IndexerError::Interrupted);
    }
    generation.publish()?;
    Ok(RelinkReport { meta, seconds })
}
