//! A vector index directory (`INDEX/vectors/`): the int8 store, the rows, the HNSW graph and
//! `meta.json` naming the model that made the vectors.

use crate::error::{Context, Result, VectorError};
use crate::hnsw::Graph;
use crate::layout::GRAPH_FILE;
use crate::pq::{Codebook, Codes};
use crate::store::{VectorStore, VectorWriter, write_dead};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use wikirag_core::{ModelInfo, Progress, StopFlag};

mod merge;
mod update;
pub use merge::merge;
use update::compact;
pub use update::{VectorUpdate, VectorUpdateReport};

pub use crate::layout::VECTORS_DIR;
const META_FILE: &str = "meta.json";
/// Files of the hnsw_rs graph that format 1 indexes carry (removed by [`relink`]).
const OLD_GRAPH_FILES: [&str; 2] = ["hnsw.hnsw.graph", "hnsw.hnsw.data"];
/// 3: a scale per row (`scales.f32`), rows removed by updates in `dead.bin`; 2: one scale for
/// all rows, wikirag's own graph (`graph.bin`); 1: an hnsw_rs graph (`hnsw.hnsw.*`).
pub const VECTOR_FORMAT: u32 = 3;
/// Updates compact the store (and re-link the graph) once this share of its rows is dead.
pub const COMPACT_DEAD_SHARE: f64 = 0.25;

/// HNSW parameters, recorded in `meta.json`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Links per row on the upper layers; layer 0 has `2·m`.
    pub m: usize,
    pub ef_construction: usize,
    /// Default beam width of a query (overridable per query). 0 when linking: chosen by
    /// measurement, the narrowest width whose recall@10 against exact search reaches
    /// `calibrate::TARGET_RECALL` on a sample of the index's own rows (what is recorded is
    /// the width chosen).
    pub ef_search: usize,
    /// Below this many vectors no graph is built: exact search is as fast.
    pub min_vectors: usize,
    /// Whether the graph is walked with product-quantised codes (`pq.rs`: 1 byte per 8
    /// dimensions, resident) and only the beam is scored against the int8 rows (read from
    /// disk), rather than walked with the int8 rows themselves.
    #[serde(default)]
    pub codes: bool,
}

impl HnswParams {
    #[cfg(test)]
    fn with_min(self, min_vectors: usize) -> HnswParams {
        HnswParams {
            min_vectors,
            ..self
        }
    }

    /// Whether `count` vectors get a graph (below `min_vectors` exact search is as fast).
    pub fn wants_graph(&self, count: usize) -> bool {
        count >= self.min_vectors.max(1)
    }
}

impl Default for HnswParams {
    fn default() -> Self {
        // Measured at 1.02 M real MiniLM vectors (benches/RESULTS.md): recall@10 0.961 at
        // ef 128 (m=16 / ef_construction=100: 0.909). The beam width is measured per index
        // (e5's vectors need a wider one than MiniLM's).
        HnswParams {
            m: 24,
            ef_construction: 200,
            ef_search: 0,
            min_vectors: 20_000,
            codes: true,
        }
    }
}

/// `meta.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorMeta {
    pub format: u32,
    pub model: ModelInfo,
    pub count: usize,
    pub dim: usize,
    /// Format 2 and older: int8 value = round(f32 × scale) for every row. Format 3: 0, each
    /// row has its own scale (`scales.f32`).
    pub scale: f32,
    /// Rows removed by updates and not yet compacted away (`dead.bin`).
    #[serde(default)]
    pub dead: usize,
    pub hnsw: HnswParams,
    /// Whether an HNSW graph was built (else search is exact).
    pub graph: bool,
    /// Recall@10 of the graph at `hnsw.ef_search` against exact search, measured when it was
    /// linked on a sample of its own rows (`calibrate.rs`).
    #[serde(default)]
    pub graph_recall_at_10: Option<f64>,
    /// Stage → seconds.
    pub seconds: std::collections::BTreeMap<String, f64>,
}

/// Finishes a build: quantises, builds the graph (in parallel on all cores), writes meta.json.
///
/// `sample`: query vectors the beam width is measured with (see `calibrate.rs`), kept beside
/// the vectors for later relinks; empty: the store's own rows.
pub fn finish_build(
    writer: VectorWriter,
    model: ModelInfo,
    params: HnswParams,
    sample: &[Vec<f32>],
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<VectorMeta> {
    let dir = writer_dir(&writer);
    write_sample(&dir, writer.dim(), sample)?;
    let dim = writer.dim();
    let started = Instant::now();
    let count = writer.finish()?;
    let mut seconds = std::collections::BTreeMap::new();
    seconds.insert("quantize".to_string(), started.elapsed().as_secs_f64());
    let store = VectorStore::open(&dir, dim, count, None)?;
    let graph = params.wants_graph(count);
    let mut params = params;
    let mut graph_recall_at_10 = None;
    if graph {
        let linked = link(&dir, &store, &params, progress, stop)?;
        seconds.insert("hnsw_build".to_string(), linked.seconds);
        seconds.insert("hnsw_codes".to_string(), linked.codes_seconds);
        seconds.insert("hnsw_calibrate".to_string(), linked.calibrate_seconds);
        params.ef_search = linked.ef_search;
        params.codes = linked.codes;
        graph_recall_at_10 = Some(linked.recall);
    } else if params.ef_search == 0 {
        params.ef_search = DEFAULT_EF_SEARCH;
    }
    let meta = VectorMeta {
        format: VECTOR_FORMAT,
        model,
        count,
        dim,
        scale: 0.0,
        dead: 0,
        hnsw: params,
        graph,
        graph_recall_at_10,
        seconds,
    };
    write_meta(&dir, &meta)?;
    Ok(meta)
}

fn writer_dir(writer: &VectorWriter) -> PathBuf {
    writer.dir().to_path_buf()
}

/// The calibration queries of a store (`dim` floats each, little-endian).
const SAMPLE_FILE: &str = "calibration.f32";

fn write_sample(dir: &Path, dim: usize, sample: &[Vec<f32>]) -> Result<()> {
    let bytes: Vec<u8> = sample
        .iter()
        .filter(|q| q.len() == dim)
        .flatten()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    if bytes.is_empty() {
        return Ok(());
    }
    crate::store::write_file(&dir.join(SAMPLE_FILE), &bytes)
}

/// The calibration queries kept beside the vectors (none where the file is absent or torn).
fn read_sample(dir: &Path, dim: usize) -> Vec<Vec<f32>> {
    let Ok(bytes) = std::fs::read(dir.join(SAMPLE_FILE)) else {
        return Vec::new();
    };
    if dim == 0 || bytes.len() % (dim * 4) != 0 {
        return Vec::new();
    }
    bytes
        .chunks_exact(dim * 4)
        .map(|q| {
            q.chunks_exact(4)
                .map(|x| f32::from_le_bytes(x.try_into().expect("4 bytes")))
                .collect()
        })
        .collect()
}

/// The beam width recorded where none was measured (no graph yet: an update that links one
/// later searches with it).
const DEFAULT_EF_SEARCH: usize = 128;

/// What [`link`] did.
struct Linked {
    seconds: f64,
    codes_seconds: f64,
    calibrate_seconds: f64,
    /// Whether the graph is walked by codes (asked for, and measured to reach the target).
    codes: bool,
    /// The beam width to record (measured when `params.ef_search` is 0) and its recall@10.
    ef_search: usize,
    recall: f64,
}

/// Links the graph of `store`, writes it into `dir`, and measures its recall (choosing the
/// beam width when `params.ef_search` is 0).
fn link(
    dir: &Path,
    store: &VectorStore,
    params: &HnswParams,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<Linked> {
    let started = Instant::now();
    let graph = Graph::build(store, params.m, params.ef_construction, progress, stop)?;
    if stop.is_stopped() {
        return Err(VectorError::Interrupted);
    }
    graph.write(&dir.join(GRAPH_FILE))?;
    let seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let codes = write_codes(dir, store, params.codes)?;
    let codes_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let sample = read_sample(dir, store.dim());
    let (ef_search, recall, codes) =
        measure_walk(dir, &graph, store, codes, params.ef_search, &sample)?;
    tracing::info!(
        ef_search,
        recall,
        codes,
        "graph recall@10 against exact search"
    );
    Ok(Linked {
        seconds,
        codes_seconds,
        calibrate_seconds: started.elapsed().as_secs_f64(),
        ef_search,
        recall,
        codes,
    })
}

/// The beam width and its recall (`calibrate::beam_width`), and whether the graph is walked
/// by `codes`: codes that reach [`crate::TARGET_RECALL`] at no beam width of the ladder while
/// the int8 rows reach more are dropped (vectors codes describe badly, such as hashed
/// features, are then walked by their rows: more memory, never less recall).
fn measure_walk(
    dir: &Path,
    graph: &Graph,
    store: &VectorStore,
    codes: Option<Codes>,
    ef: usize,
    sample: &[Vec<f32>],
) -> Result<(usize, f64, bool)> {
    let (width, recall) = crate::calibrate::beam_width(graph, store, codes.as_ref(), ef, sample);
    if codes.is_none() || recall >= crate::TARGET_RECALL || ef != 0 {
        return Ok((width, recall, codes.is_some()));
    }
    let (rows_width, rows_recall) = crate::calibrate::beam_width(graph, store, None, 0, sample);
    if rows_recall <= recall {
        return Ok((width, recall, true));
    }
    tracing::warn!(
        codes_recall = recall,
        rows_recall,
        "the graph's codes miss the target recall at every beam width: walking it by the int8 rows"
    );
    remove_codes(dir)?;
    Ok((rows_width, rows_recall, false))
}

/// Trains and writes the codes of `store` when `wanted` (else removes any): see `pq.rs`.
fn write_codes(dir: &Path, store: &VectorStore, wanted: bool) -> Result<Option<Codes>> {
    if !wanted {
        remove_codes(dir)?;
        return Ok(None);
    }
    let started = Instant::now();
    let book = Codebook::train(store);
    let trained = started.elapsed().as_secs_f64();
    let codes = Codes::new(book.clone(), book.encode_store(store));
    tracing::debug!(
        train_seconds = trained,
        encode_seconds = started.elapsed().as_secs_f64() - trained,
        rows = store.len(),
        "graph codes"
    );
    codes.write(dir)?;
    Ok(Some(codes))
}

fn remove_codes(dir: &Path) -> Result<()> {
    remove_if_present(&dir.join(crate::pq::CODES_FILE))?;
    remove_if_present(&dir.join(crate::pq::CODEBOOK_FILE))
}

fn read_meta(dir: &Path) -> Result<VectorMeta> {
    let meta_path = dir.join(META_FILE);
    let bytes = std::fs::read(&meta_path).at(&meta_path)?;
    serde_json::from_slice(&bytes).map_err(|e| VectorError::BadIndex {
        path: meta_path,
        message: e.to_string(),
    })
}

fn write_meta(dir: &Path, meta: &VectorMeta) -> Result<()> {
    let path = dir.join(META_FILE);
    let tmp = dir.join("meta.json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(meta).expect("meta serialises"),
    )
    .at(&tmp)?;
    std::fs::rename(&tmp, &path).at(&path)
}

/// Re-links the HNSW graph of the index at `index_dir` from its stored vectors, with
/// `params` (no re-embedding): to tune m / ef_construction, or to bring an index of an older
/// vector format up to date. Below `params.min_vectors` the graph is dropped (exact search).
pub fn relink(
    index_dir: &Path,
    params: HnswParams,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<VectorMeta> {
    let dir = index_dir.join(VECTORS_DIR);
    let mut meta = read_meta(&dir)?;
    if meta.format > VECTOR_FORMAT {
        return Err(VectorError::BadIndex {
            path: dir.join(META_FILE),
            message: format!(
                "vector format {} is newer than this wikirag ({VECTOR_FORMAT})",
                meta.format
            ),
        });
    }
    upgrade_scales(&dir, &mut meta)?;
    // Rows removed by updates go for good.
    let store = VectorStore::open(&dir, meta.dim, meta.count, None)?;
    let dead: Vec<u32> = (0..store.len() as u32)
        .filter(|&r| store.is_dead(r as usize))
        .collect();
    drop(store);
    if !dead.is_empty() {
        compact(&dir, &mut meta, &dead)?;
    }
    let store = VectorStore::open(&dir, meta.dim, meta.count, None)?;
    meta.graph = params.wants_graph(meta.count);
    for stage in ["hnsw_build", "hnsw_codes", "hnsw_calibrate"] {
        meta.seconds.remove(stage);
    }
    meta.graph_recall_at_10 = None;
    let mut params = params;
    if meta.graph {
        let linked = link(&dir, &store, &params, progress, stop)?;
        meta.seconds
            .insert("hnsw_build".to_string(), linked.seconds);
        meta.seconds
            .insert("hnsw_codes".to_string(), linked.codes_seconds);
        meta.seconds
            .insert("hnsw_calibrate".to_string(), linked.calibrate_seconds);
        params.ef_search = linked.ef_search;
        params.codes = linked.codes;
        meta.graph_recall_at_10 = Some(linked.recall);
    } else {
        remove_if_present(&dir.join(GRAPH_FILE))?;
        remove_codes(&dir)?;
        if params.ef_search == 0 {
            params.ef_search = DEFAULT_EF_SEARCH;
        }
    }
    meta.format = VECTOR_FORMAT;
    meta.hnsw = params;
    write_meta(&dir, &meta)?;
    for old in OLD_GRAPH_FILES {
        remove_if_present(&dir.join(old))?;
    }
    Ok(meta)
}

/// Switches how queries walk the graph of the index at `index_dir`, by codes or by the int8
/// rows, without re-linking it: trains (or removes) the codes, then measures the beam width
/// again (`ef_search` 0) or the recall of the one given. Writes in place: for a copy, as
/// `relink` is (the caller publishes).
pub fn rewalk(index_dir: &Path, codes: bool, ef_search: usize) -> Result<VectorMeta> {
    let dir = index_dir.join(VECTORS_DIR);
    let mut meta = read_meta(&dir)?;
    if meta.format != VECTOR_FORMAT || !meta.graph {
        return Err(VectorError::BadIndex {
            path: dir.join(META_FILE),
            message: format!(
                "vector format {}{}: re-link it instead (`wikirag relink`)",
                meta.format,
                if meta.graph { "" } else { ", no graph" }
            ),
        });
    }
    let store = VectorStore::open(&dir, meta.dim, meta.count, None)?;
    let graph = Graph::read(&dir.join(GRAPH_FILE), meta.count)?;
    let started = Instant::now();
    let codes = write_codes(&dir, &store, codes)?;
    meta.seconds
        .insert("hnsw_codes".to_string(), started.elapsed().as_secs_f64());
    let started = Instant::now();
    let sample = read_sample(&dir, meta.dim);
    let (ef, recall, codes) = measure_walk(&dir, &graph, &store, codes, ef_search, &sample)?;
    meta.seconds.insert(
        "hnsw_calibrate".to_string(),
        started.elapsed().as_secs_f64(),
    );
    meta.hnsw.codes = codes;
    meta.hnsw.ef_search = ef;
    meta.graph_recall_at_10 = Some(recall);
    write_meta(&dir, &meta)?;
    Ok(meta)
}

/// Gives a store of one scale (format 2) a scale per row, the rows keeping their bytes.
fn upgrade_scales(dir: &Path, meta: &mut VectorMeta) -> Result<()> {
    // (A store with `scales.f32` already has them: only its meta.json said otherwise.)
    if meta.format < 3 && !dir.join(crate::store::SCALES_FILE).is_file() {
        let store = VectorStore::open(dir, meta.dim, meta.count, uniform_scale(meta))?;
        let bytes: Vec<u8> = (0..meta.count)
            .flat_map(|r| store.row_scale(r).to_le_bytes())
            .collect();
        drop(store);
        crate::store::write_file(&dir.join(crate::store::SCALES_FILE), &bytes)?;
    }
    if meta.format < 3 {
        meta.format = VECTOR_FORMAT;
        meta.scale = 0.0;
    }
    Ok(())
}

/// The one scale of a store written before per-row scales, `None` for per-row ones.
fn uniform_scale(meta: &VectorMeta) -> Option<f32> {
    (meta.format < 3).then_some(meta.scale)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}

/// An open vector index.
pub struct VectorIndex {
    dir: PathBuf,
    meta: VectorMeta,
    store: VectorStore,
    graph: Option<Graph>,
    /// The codes the graph is walked with (`hnsw.codes`).
    codes: Option<Codes>,
}

/// How a query searches the vectors.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum VectorSearch {
    /// Every vector (the reference).
    Exact,
    /// The HNSW graph with this beam width (exact when the index has no graph).
    Hnsw { ef: usize },
}

impl VectorIndex {
    /// Whether `index_dir` has vectors.
    pub fn exists(index_dir: &Path) -> bool {
        index_dir.join(VECTORS_DIR).join(META_FILE).is_file()
    }

    pub fn open(index_dir: &Path) -> Result<VectorIndex> {
        let dir = index_dir.join(VECTORS_DIR);
        let meta = read_meta(&dir)?;
        let meta_path = dir.join(META_FILE);
        if meta.format > VECTOR_FORMAT || (meta.format < 2 && meta.graph) {
            return Err(VectorError::BadIndex {
                path: meta_path,
                message: format!(
                    "vector format {} (this wikirag reads {VECTOR_FORMAT}): {}",
                    meta.format,
                    if meta.format < VECTOR_FORMAT {
                        "re-link its graph with `wikirag relink --index DIR` (the vectors are kept)"
                    } else {
                        "rebuild the index"
                    }
                ),
            });
        }
        // Published with block checksums: every file is checked as it is read.
        let sums =
            wikirag_core::blocks::BlockSums::read(index_dir).map_err(|e| VectorError::Damaged {
                path: index_dir.join(wikirag_core::blocks::BLOCKS_FILE),
                detail: e.to_string(),
            })?;
        let store = VectorStore::open_checked(
            &dir,
            meta.dim,
            meta.count,
            uniform_scale(&meta),
            sums.as_ref(),
        )?;
        let graph = if meta.graph {
            let started = Instant::now();
            let graph = Graph::read_checked(&dir.join(GRAPH_FILE), meta.count, sums.as_ref())?;
            tracing::debug!(
                seconds = started.elapsed().as_secs_f64(),
                "HNSW graph loaded"
            );
            Some(graph)
        } else {
            None
        };
        let codes = if graph.is_some() && meta.hnsw.codes {
            let codes = Codes::read(&dir, meta.dim, meta.count, sums.as_ref())?;
            // Walked by codes, the int8 rows are read for a query's beam only: no read-ahead
            // of the rows around them into memory.
            store.advise_random();
            Some(codes)
        } else {
            None
        };
        Ok(VectorIndex {
            dir,
            meta,
            store,
            graph,
            codes,
        })
    }

    pub fn meta(&self) -> &VectorMeta {
        &self.meta
    }

    pub fn store(&self) -> &VectorStore {
        &self.store
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// Bytes this index holds in memory whatever it is asked (the graph, the codes, each
    /// row's position and scale); the int8 rows are memory-mapped on top of it and, when the
    /// graph is walked by codes, read only for each query's beam.
    pub fn resident_bytes(&self) -> usize {
        self.graph.as_ref().map_or(0, Graph::resident_bytes)
            + self.codes.as_ref().map_or(0, Codes::resident_bytes)
            + self.store.resident_bytes()
    }

    /// Checks that queries embedded by `model` can search these vectors.
    pub fn check_model(&self, model: &ModelInfo) -> Result<()> {
        match self.meta.model.mismatch(model) {
            None => Ok(()),
            Some(detail) => Err(VectorError::ModelMismatch {
                path: self.dir.clone(),
                detail: format!(
                    "index: {}, query model: {}; {detail}",
                    self.meta.model.name, model.name
                ),
            }),
        }
    }

    /// The `n` rows nearest `query` (a unit f32 vector), best first, scored by cosine against
    /// the stored int8 vectors.
    pub fn search(&self, query: &[f32], n: usize, how: VectorSearch) -> Result<Vec<(u32, f32)>> {
        if query.len() != self.meta.dim {
            return Err(VectorError::Dimension {
                expected: self.meta.dim,
                got: query.len(),
            });
        }
        let hits = self.search_unchecked(query, n, how);
        // A row read from a block that does not match its checksum (in this search or an
        // earlier one) makes every search fail: never a silent wrong answer.
        if let Some(damage) = self.store.damage() {
            return Err(VectorError::Damaged {
                path: self.dir.join(crate::store::VECTORS_FILE),
                detail: damage.to_string(),
            });
        }
        Ok(hits)
    }

    /// Checks every block of `vectors.i8` no search has read yet (a background pass).
    pub fn verify_blocks(&self) -> Result<()> {
        self.store
            .verify_blocks()
            .map_err(|damage| VectorError::Damaged {
                path: self.dir.join(crate::store::VECTORS_FILE),
                detail: damage.to_string(),
            })
    }

    fn search_unchecked(&self, query: &[f32], n: usize, how: VectorSearch) -> Vec<(u32, f32)> {
        match (how, &self.graph) {
            (VectorSearch::Hnsw { ef }, Some(graph)) => {
                // The beam's rows come scored by the f32 query against the int8 rows; rows an
                // update removed guide the walk but are not results (the beam is widened by
                // as many).
                let store = &self.store;
                let widen = (store.dead_count() * n).div_ceil(store.len().max(1));
                let mut hits: Vec<(u32, f32)> = graph
                    .search(store, self.codes.as_ref(), query, ef.max(n) + widen)
                    .into_iter()
                    .filter(|&(row, _)| !store.is_dead(row as usize))
                    .collect();
                store.sort_hits(&mut hits);
                hits.truncate(n);
                hits
            }
            _ => self.store.exact(query, n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wikirag_core::{ModelInfo, NoProgress, Pooling};

    fn model(dim: usize) -> ModelInfo {
        ModelInfo {
            name: "test".into(),
            dim,
            pooling: Pooling::Mean,
            normalized: true,
            max_tokens: 128,
            weights_sha256: "0".repeat(64),
            query_prefix: String::new(),
            passage_prefix: String::new(),
        }
    }

    /// A deterministic unit vector for (page, sentence, version).
    fn vector(page: u64, sentence: u32, version: u32, dim: usize) -> Vec<f32> {
        let mut z = page
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(sentence) << 20 | u64::from(version));
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                z = z
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    /// pages: (page id, sentences, version).
    fn build(index_dir: &Path, pages: &[(u64, u32, u32)], params: HnswParams) -> VectorMeta {
        let dim = 24;
        let mut w = VectorWriter::create(&index_dir.join(VECTORS_DIR), dim).unwrap();
        for &(page, n, version) in pages {
            for s in 0..n {
                w.add(page, s, &vector(page, s, version, dim)).unwrap();
            }
        }
        finish_build(w, model(dim), params, &[], &NoProgress, &StopFlag::new()).unwrap()
    }

    fn positions(index: &VectorIndex, q: &[f32], how: VectorSearch) -> Vec<((u64, u32), f32)> {
        index
            .search(q, 15, how)
            .unwrap()
            .into_iter()
            .map(|(row, s)| (index.store().position(row as usize), s))
            .collect()
    }

    /// A graph linked with `ef_search` 0 records the narrowest beam width of the ladder whose
    /// measured recall@10 reaches the target (a weak graph needs a wider one than a strong
    /// one), measured with the sample queries when given, kept for relink; an explicit width is
    /// kept as given, its recall measured.
    #[test]
    fn the_beam_width_is_measured_when_not_given() {
        let dim = 24;
        let rows = |dir: &Path| {
            let mut w = VectorWriter::create(&dir.join(VECTORS_DIR), dim).unwrap();
            for page in 0..3000u64 {
                w.add(page, 0, &vector(page, 0, 0, dim)).unwrap();
            }
            w
        };
        let sample: Vec<Vec<f32>> = (0..50u64).map(|i| vector(10_000 + i, 0, 0, dim)).collect();
        let graph = |m, efc, ef| HnswParams {
            m,
            ef_construction: efc,
            ef_search: ef,
            min_vectors: 1,
            codes: true,
        };
        let build = |params: HnswParams, sample: &[Vec<f32>]| {
            let dir = tempfile::tempdir().unwrap();
            let meta = finish_build(
                rows(dir.path()),
                model(dim),
                params,
                sample,
                &NoProgress,
                &StopFlag::new(),
            )
            .unwrap();
            (dir, meta)
        };
        let (_strong_dir, strong) = build(graph(24, 200, 0), &sample);
        let (weak_dir, weak) = build(graph(2, 4, 0), &sample);
        for meta in [&strong, &weak] {
            let recall = meta.graph_recall_at_10.unwrap();
            assert!(
                recall >= crate::TARGET_RECALL || meta.hnsw.ef_search == 1024,
                "ef {} recall {recall}",
                meta.hnsw.ef_search
            );
        }
        assert!(
            weak.hnsw.ef_search > strong.hnsw.ef_search,
            "{weak:?} {strong:?}"
        );
        assert!(
            weak_dir
                .path()
                .join(VECTORS_DIR)
                .join(SAMPLE_FILE)
                .is_file()
        );
        // A relink measures again, with the kept sample.
        let relinked = relink(
            weak_dir.path(),
            graph(24, 200, 0),
            &NoProgress,
            &StopFlag::new(),
        )
        .unwrap();
        assert_eq!(relinked.hnsw.ef_search, strong.hnsw.ef_search);
        let (_dir, fixed) = build(graph(24, 200, 40), &[]);
        assert_eq!(fixed.hnsw.ef_search, 40);
        assert!(fixed.graph_recall_at_10.is_some());
        // No graph: the default width is recorded for a graph an update links later.
        let (_dir, exact) = build(graph(24, 200, 0).with_min(1_000_000), &[]);
        assert_eq!(exact.hnsw.ef_search, DEFAULT_EF_SEARCH);
        assert_eq!(exact.graph_recall_at_10, None);
    }

    /// An update (changed, deleted and new pages) answers exactly like a fresh build of the
    /// new pages: same rows found, same order, the same scores to the bit.
    #[test]
    fn update_equals_a_fresh_build() {
        let params = HnswParams {
            min_vectors: 1_000_000,
            ..HnswParams::default()
        };
        let old: Vec<(u64, u32, u32)> = (1..=60).map(|p| (p, 1 + (p % 5) as u32, 0)).collect();
        // Page 7 and 20 change, 33 and 34 go, 61 and 62 arrive.
        let new: Vec<(u64, u32, u32)> = old
            .iter()
            .filter(|p| p.0 != 33 && p.0 != 34)
            .map(|&(p, n, v)| {
                if p == 7 || p == 20 {
                    (p, n + 1, v + 1)
                } else {
                    (p, n, v)
                }
            })
            .chain([(61, 3, 0), (62, 2, 0)])
            .collect();
        let updated = tempfile::tempdir().unwrap();
        build(updated.path(), &old, params);
        let mut up = VectorUpdate::open(updated.path()).unwrap();
        for page in [7, 20, 33, 34] {
            up.remove_page(page);
        }
        for &(page, n, version) in new.iter().filter(|p| [7, 20, 61, 62].contains(&p.0)) {
            for s in 0..n {
                up.add(page, s, &vector(page, s, version, 24)).unwrap();
            }
        }
        let (meta, report) = up.finish(&NoProgress, &StopFlag::new()).unwrap();
        // Page p has 1 + p % 5 sentences; a changed page one more.
        assert_eq!(report.added, 4 + 2 + 3 + 2);
        assert_eq!(meta.dead, 3 + 1 + 4 + 5);
        let fresh = tempfile::tempdir().unwrap();
        build(fresh.path(), &new, params);
        let (a, b) = (
            VectorIndex::open(updated.path()).unwrap(),
            VectorIndex::open(fresh.path()).unwrap(),
        );
        assert_eq!(a.store().live(), b.store().len());
        for q in 0..40u64 {
            let q = vector(1000 + q, 0, 9, 24);
            let got = positions(&a, &q, VectorSearch::Exact);
            assert!(
                got.iter().all(|h| ![33, 34].contains(&h.0.0)),
                "deleted page found"
            );
            assert_eq!(got, positions(&b, &q, VectorSearch::Exact));
        }
        // Past the compaction threshold the dead rows leave the store, answers unchanged.
        let mut up = VectorUpdate::open(updated.path()).unwrap();
        for page in 1..=20 {
            up.remove_page(page);
        }
        let (meta, report) = up.finish(&NoProgress, &StopFlag::new()).unwrap();
        assert!(report.compacted && meta.dead == 0, "{report:?}");
        let a = VectorIndex::open(updated.path()).unwrap();
        assert_eq!(a.store().len(), a.store().live());
        assert!(
            a.store().exact(&vector(5, 0, 0, 24), 100).iter().all(|h| a
                .store()
                .position(h.0 as usize)
                .0
                > 20)
        );
    }

    /// New rows linked into an existing graph are found as well as by a graph built over all
    /// rows; dead rows never come back.
    #[test]
    fn a_graph_walked_by_codes_finds_what_its_rows_find_in_less_memory() {
        let dir = tempfile::tempdir().unwrap();
        let pages: Vec<(u64, u32, u32)> = (0..2500).map(|p| (p, 2, 0)).collect();
        let params = HnswParams {
            m: 8,
            ef_construction: 64,
            ef_search: 0,
            min_vectors: 100,
            codes: true,
        };
        let meta = build(dir.path(), &pages, params);
        assert!(meta.hnsw.codes, "codes reach the target here: {meta:?}");
        assert!(meta.graph_recall_at_10.unwrap() >= crate::TARGET_RECALL);
        let index = VectorIndex::open(dir.path()).unwrap();
        let queries: Vec<Vec<f32>> = (0..40u64).map(|i| vector(90_000 + i, 0, 0, 24)).collect();
        let recall = |index: &VectorIndex| {
            let ef = index.meta().hnsw.ef_search;
            let mut found = 0;
            for q in &queries {
                let exact = index.search(q, 10, VectorSearch::Exact).unwrap();
                let graph = index.search(q, 10, VectorSearch::Hnsw { ef }).unwrap();
                // Scores are the int8 rows' (rescored), not the codes' approximations.
                for h in &graph {
                    assert_eq!(h.1, index.store().score(q, h.0 as usize));
                }
                found += graph.iter().filter(|h| exact.contains(h)).count();
            }
            found as f64 / (10 * queries.len()) as f64
        };
        let by_codes = recall(&index);
        // (uniform random vectors and queries: harder than sentence embeddings, whose
        // measured recalls are in benches/RESULTS.md)
        assert!(by_codes >= 0.9, "recall@10 walked by codes: {by_codes}");
        let with_codes = index.resident_bytes();
        let codes =
            std::fs::read(dir.path().join(VECTORS_DIR).join(crate::pq::CODES_FILE)).unwrap();
        drop(index);
        // Re-linked to walk by the rows: the codes go, the recall holds, more is read.
        let meta = relink(
            dir.path(),
            HnswParams {
                codes: false,
                ..params
            },
            &NoProgress,
            &StopFlag::new(),
        )
        .unwrap();
        assert!(!meta.hnsw.codes);
        let vectors = dir.path().join(VECTORS_DIR);
        assert!(!vectors.join(crate::pq::CODES_FILE).exists());
        assert!(!vectors.join(crate::pq::CODEBOOK_FILE).exists());
        let index = VectorIndex::open(dir.path()).unwrap();
        let by_rows = recall(&index);
        assert!(by_rows >= 0.9, "recall@10 walked by rows: {by_rows}");
        assert!(
            by_codes >= by_rows - 0.05,
            "codes {by_codes}, rows {by_rows}"
        );
        assert!(index.resident_bytes() < with_codes);
        drop(index);
        // Switched back without re-linking: the same codes (a codebook is deterministic).
        let meta = rewalk(dir.path(), true, 0).unwrap();
        assert!(meta.hnsw.codes);
        assert_eq!(
            std::fs::read(vectors.join(crate::pq::CODES_FILE)).unwrap(),
            codes
        );
        let index = VectorIndex::open(dir.path()).unwrap();
        assert!(recall(&index) >= 0.9);
        drop(index);
        // Codes that do not match the store are refused, naming the file.
        std::fs::write(vectors.join(crate::pq::CODES_FILE), b"short").unwrap();
        let err = VectorIndex::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains(crate::pq::CODES_FILE), "{err}");
    }

    #[test]
    fn rows_linked_into_a_graph_are_found() {
        let params = HnswParams {
            m: 8,
            ef_construction: 64,
            ef_search: 64,
            min_vectors: 100,
            codes: true,
        };
        let old: Vec<(u64, u32, u32)> = (0..1500).map(|p| (p, 2, 0)).collect();
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), &old, params);
        let mut up = VectorUpdate::open(dir.path()).unwrap();
        for page in 0..100 {
            up.remove_page(page);
        }
        for page in 1500..1800 {
            for s in 0..2 {
                up.add(page, s, &vector(page, s, 0, 24)).unwrap();
            }
        }
        let (meta, report) = up.finish(&NoProgress, &StopFlag::new()).unwrap();
        assert!(meta.graph && !report.compacted);
        // The new rows got codes from the build's codebook.
        let vectors = dir.path().join(VECTORS_DIR);
        assert!(meta.hnsw.codes);
        assert_eq!(
            std::fs::metadata(vectors.join(crate::pq::CODES_FILE))
                .unwrap()
                .len(),
            (meta.count * crate::pq::slices(24)) as u64
        );
        let index = VectorIndex::open(dir.path()).unwrap();
        assert!(index.has_graph());
        let (mut found, mut total) = (0, 0);
        let mut first = 0;
        for page in (1500..1800).step_by(3) {
            // A new row is its own nearest neighbour: exactly, and through the graph nearly
            // always (rows are linked in parallel, so the graph differs from run to run and
            // an approximate search may miss one now and then).
            let q = vector(page, 1, 0, 24);
            let exact = positions(&index, &q, VectorSearch::Exact);
            assert_eq!(exact[0].0, (page, 1), "new row {page} not stored");
            let hits = positions(&index, &q, VectorSearch::Hnsw { ef: 64 });
            first += usize::from(hits[0].0 == (page, 1));
            let q = vector(page + 7000, 0, 3, 24);
            let exact = index.search(&q, 10, VectorSearch::Exact).unwrap();
            let graph = index.search(&q, 10, VectorSearch::Hnsw { ef: 64 }).unwrap();
            assert!(graph.iter().all(|h| !index.store().is_dead(h.0 as usize)));
            found += graph.iter().filter(|h| exact.contains(h)).count();
            total += exact.len();
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.9, "recall@10 after linking new rows: {recall}");
        assert!(
            first >= 97,
            "{first} of 100 new rows found first through the graph"
        );
    }
}
