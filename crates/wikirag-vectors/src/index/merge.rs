//! The vectors of `wikirag merge`: the live rows of every shard copied in shard order (int8
//! bytes and per-row scales as they are: a row depends on its vector alone), the shards'
//! calibration queries kept, and one graph linked over all of them with the shards' HNSW
//! parameters (its beam width measured again, unless one was given).

use super::*;

/// Writes `index_dir/vectors` from the `vectors/` of each of `shards` (index directories) and
/// links it. All shards must hold vectors of the same model (dimension and weights).
pub fn merge(
    index_dir: &Path,
    shards: &[PathBuf],
    params: Option<HnswParams>,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<VectorMeta> {
    let mut first: Option<VectorMeta> = None;
    let mut sample = Vec::new();
    let out = index_dir.join(VECTORS_DIR);
    let mut writer: Option<VectorWriter> = None;
    for shard in shards {
        let dir = shard.join(VECTORS_DIR);
        let meta = read_meta(&dir)?;
        if meta.format > VECTOR_FORMAT || uniform_scale(&meta).is_some() {
            return Err(VectorError::BadIndex {
                path: dir.join(META_FILE),
                message: format!(
                    "vector format {} cannot be merged by this wikirag (expects {VECTOR_FORMAT}); `wikirag relink` the shard first",
                    meta.format
                ),
            });
        }
        if let Some(first) = &first
            && (first.model != meta.model || first.dim != meta.dim)
        {
            return Err(VectorError::BadIndex {
                path: dir.join(META_FILE),
                message: format!(
                    "its vectors come from another model ({} {}, dimension {}) than the first shard's ({} {}, dimension {}): shards must share one model",
                    meta.model.name,
                    &meta.model.weights_sha256[..12.min(meta.model.weights_sha256.len())],
                    meta.dim,
                    first.model.name,
                    &first.model.weights_sha256[..12.min(first.model.weights_sha256.len())],
                    first.dim
                ),
            });
        }
        let store = VectorStore::open(&dir, meta.dim, meta.count, None)?;
        let w = match writer.as_mut() {
            Some(w) => w,
            None => writer.insert(VectorWriter::create(&out, meta.dim)?),
        };
        for row in 0..store.len() {
            if store.is_dead(row) {
                continue;
            }
            let (page, sentence) = store.position(row);
            w.push_quantised(page, sentence, store.row(row), store.row_scale(row))?;
        }
        sample.extend(read_sample(&dir, meta.dim));
        if stop.is_stopped() {
            return Err(VectorError::Interrupted);
        }
        first.get_or_insert(meta);
    }
    let (Some(first), Some(writer)) = (first, writer) else {
        return Err(VectorError::BadIndex {
            path: out,
            message: "no shard to merge".into(),
        });
    };
    // The shards' beam width was measured on their own rows: measured again on all of them.
    let params = params.unwrap_or(HnswParams {
        ef_search: 0,
        ..first.hnsw
    });
    finish_build(writer, first.model, params, &sample, progress, stop)
}
