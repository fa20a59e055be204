//! A vector index directory (`INDEX/vectors/`): the int8 store, the rows, the HNSW graph and
//! `meta.json` naming the model that made the vectors.

use crate::error::{Context, Result, VectorError};
use crate::hnsw::{GRAPH_FILE, Graph};
use crate::store::{VectorStore, VectorWriter, sort_hits};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use wikirag_core::{ModelInfo, Progress, StopFlag};

pub const VECTORS_DIR: &str = "vectors";
const META_FILE: &str = "meta.json";
/// Files of the hnsw_rs graph that format 1 indexes carry (removed by [`relink`]).
const OLD_GRAPH_FILES: [&str; 2] = ["hnsw.hnsw.graph", "hnsw.hnsw.data"];
/// 2: wikirag's own graph (`graph.bin`); 1: an hnsw_rs graph (`hnsw.hnsw.*`), same vectors.
pub const VECTOR_FORMAT: u32 = 2;

/// HNSW parameters, recorded in `meta.json`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Links per row on the upper layers; layer 0 has `2·m`.
    pub m: usize,
    pub ef_construction: usize,
    /// Default beam width of a query (overridable per query).
    pub ef_search: usize,
    /// Below this many vectors no graph is built: exact search is as fast.
    pub min_vectors: usize,
}

impl HnswParams {
    /// Whether `count` vectors get a graph (below `min_vectors` exact search is as fast).
    pub fn wants_graph(&self, count: usize) -> bool {
        count >= self.min_vectors.max(1)
    }
}

impl Default for HnswParams {
    fn default() -> Self {
        // Measured at 1.02 M real MiniLM vectors (benches/RESULTS.md): recall@10 0.961 at
        // ef 128 (m=16 / ef_construction=100: 0.909).
        HnswParams {
            m: 24,
            ef_construction: 200,
            ef_search: 128,
            min_vectors: 20_000,
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
    /// int8 value = round(f32 × scale).
    pub scale: f32,
    pub hnsw: HnswParams,
    /// Whether an HNSW graph was built (else search is exact).
    pub graph: bool,
    /// What was embedded, in words (for the manifest and `inspect`).
    pub scope: String,
    /// Stage → seconds.
    pub seconds: std::collections::BTreeMap<String, f64>,
}

/// Finishes a build: quantises, builds the graph (in parallel on all cores), writes meta.json.
pub fn finish_build(
    writer: VectorWriter,
    model: ModelInfo,
    params: HnswParams,
    scope: String,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<VectorMeta> {
    let dir = writer_dir(&writer);
    let dim = writer.dim();
    let started = Instant::now();
    let (count, scale) = writer.finish()?;
    let mut seconds = std::collections::BTreeMap::new();
    seconds.insert("quantize".to_string(), started.elapsed().as_secs_f64());
    let store = VectorStore::open(&dir, dim, count, scale)?;
    let graph = params.wants_graph(count);
    if graph {
        seconds.insert(
            "hnsw_build".to_string(),
            link(&dir, &store, &params, progress, stop)?,
        );
    }
    let meta = VectorMeta {
        format: VECTOR_FORMAT,
        model,
        count,
        dim,
        scale,
        hnsw: params,
        graph,
        scope,
        seconds,
    };
    write_meta(&dir, &meta)?;
    Ok(meta)
}

fn writer_dir(writer: &VectorWriter) -> PathBuf {
    writer.dir().to_path_buf()
}

/// Links the graph of `store` and writes it into `dir`; returns the seconds it took.
fn link(
    dir: &Path,
    store: &VectorStore,
    params: &HnswParams,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<f64> {
    let started = Instant::now();
    let graph = Graph::build(store, params.m, params.ef_construction, progress, stop)?;
    if stop.is_stopped() {
        return Err(VectorError::Interrupted);
    }
    graph.write(&dir.join(GRAPH_FILE))?;
    Ok(started.elapsed().as_secs_f64())
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
    let store = VectorStore::open(&dir, meta.dim, meta.count, meta.scale)?;
    meta.graph = params.wants_graph(meta.count);
    meta.seconds.remove("hnsw_build");
    if meta.graph {
        let seconds = link(&dir, &store, &params, progress, stop)?;
        meta.seconds.insert("hnsw_build".to_string(), seconds);
    } else {
        remove_if_present(&dir.join(GRAPH_FILE))?;
    }
    meta.format = VECTOR_FORMAT;
    meta.hnsw = params;
    write_meta(&dir, &meta)?;
    for old in OLD_GRAPH_FILES {
        remove_if_present(&dir.join(old))?;
    }
    Ok(meta)
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
        if meta.format > VECTOR_FORMAT || (meta.format < VECTOR_FORMAT && meta.graph) {
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
        let store = VectorStore::open(&dir, meta.dim, meta.count, meta.scale)?;
        let graph = if meta.graph {
            let started = Instant::now();
            let graph = Graph::read(&dir.join(GRAPH_FILE), meta.count)?;
            tracing::debug!(
                seconds = started.elapsed().as_secs_f64(),
                "HNSW graph loaded"
            );
            Some(graph)
        } else {
            None
        };
        Ok(VectorIndex {
            dir,
            meta,
            store,
            graph,
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
        match (how, &self.graph) {
            (VectorSearch::Hnsw { ef }, Some(graph)) => {
                // The beam's rows come scored by the f32 query against the int8 rows.
                let inv_scale = 1.0 / self.meta.scale;
                let mut hits: Vec<(u32, f32)> = graph
                    .search(&self.store, query, ef.max(n))
                    .into_iter()
                    .map(|(row, dot)| (row, dot * inv_scale))
                    .collect();
                sort_hits(&mut hits);
                hits.truncate(n);
                Ok(hits)
            }
            _ => Ok(self.store.exact(query, n)),
        }
    }
}
