//! A vector index directory (`INDEX/vectors/`): the int8 store, the rows, the HNSW graph and
//! `meta.json` naming the model that made the vectors.

use crate::error::{Context, Result, VectorError};
use crate::store::{VectorStore, VectorWriter, dot_i8, quantize, sort_hits};
use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::api::AnnT;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use wikirag_core::{ModelInfo, Progress, StopFlag};

pub const VECTORS_DIR: &str = "vectors";
const META_FILE: &str = "meta.json";
const HNSW_BASENAME: &str = "hnsw";
pub const VECTOR_FORMAT: u32 = 1;

/// HNSW parameters, recorded in `meta.json`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Links per node (hnsw_rs' `max_nb_connection`).
    pub m: usize,
    pub ef_construction: usize,
    /// Default beam width of a query (overridable per query).
    pub ef_search: usize,
    /// Below this many vectors no graph is built: exact search is as fast.
    pub min_vectors: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 100,
            ef_search: 256,
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

/// Distance of two int8 vectors for HNSW: 1 − cosine, from the integer dot product.
#[derive(Clone, Copy, Debug)]
pub struct DistI8 {
    inv_scale2: f32,
}

impl Distance<i8> for DistI8 {
    fn eval(&self, va: &[i8], vb: &[i8]) -> f32 {
        (1.0 - dot_i8(va, vb) as f32 * self.inv_scale2).max(0.0)
    }
}

type Graph = Hnsw<'static, i8, DistI8>;

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
    let graph = count >= params.min_vectors.max(1);
    if graph {
        let started = Instant::now();
        let hnsw = build_graph(&store, &params, progress, stop)?;
        if stop.is_stopped() {
            return Err(VectorError::Interrupted);
        }
        hnsw.file_dump(&dir, HNSW_BASENAME)
            .map_err(|e| VectorError::Hnsw {
                path: dir.clone(),
                message: e.to_string(),
            })?;
        seconds.insert("hnsw_build".to_string(), started.elapsed().as_secs_f64());
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
    let path = dir.join(META_FILE);
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&meta).expect("meta serialises"),
    )
    .at(&path)?;
    Ok(meta)
}

fn writer_dir(writer: &VectorWriter) -> PathBuf {
    writer.dir().to_path_buf()
}

/// Builds an HNSW graph over every row of `store`.
pub fn build_graph(
    store: &VectorStore,
    params: &HnswParams,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<Graph> {
    let count = store.len();
    // hnsw_rs dumps only graphs declared with its maximum number of layers.
    let max_layer = 16;
    let hnsw = Graph::new(
        params.m.min(255),
        count,
        max_layer,
        params.ef_construction,
        DistI8 {
            inv_scale2: 1.0 / (store.scale() * store.scale()),
        },
    );
    progress.items_started("linking vectors (HNSW)", count as u64);
    const BATCH: usize = 8192;
    let mut start = 0;
    while start < count {
        if stop.is_stopped() {
            return Err(VectorError::Interrupted);
        }
        let end = (start + BATCH).min(count);
        let batch: Vec<(&[i8], usize)> = (start..end).map(|r| (store.row(r), r)).collect();
        hnsw.parallel_insert_slice(&batch);
        progress.items_done((end - start) as u64);
        start = end;
    }
    Ok(hnsw)
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
        let meta_path = dir.join(META_FILE);
        let bytes = std::fs::read(&meta_path).at(&meta_path)?;
        let meta: VectorMeta =
            serde_json::from_slice(&bytes).map_err(|e| VectorError::BadIndex {
                path: meta_path.clone(),
                message: e.to_string(),
            })?;
        if meta.format != VECTOR_FORMAT {
            return Err(VectorError::BadIndex {
                path: meta_path,
                message: format!(
                    "vector format {} (this wikirag reads {VECTOR_FORMAT}): rebuild the index",
                    meta.format
                ),
            });
        }
        let store = VectorStore::open(&dir, meta.dim, meta.count, meta.scale)?;
        let graph = if meta.graph {
            let started = Instant::now();
            // hnsw_rs ties a loaded graph's lifetime to its loader; an index is opened once
            // per process, so the (small) loader is leaked to give the graph 'static.
            let io: &'static HnswIo = Box::leak(Box::new(HnswIo::new(&dir, HNSW_BASENAME)));
            let dist = DistI8 {
                inv_scale2: 1.0 / (meta.scale * meta.scale),
            };
            // hnsw_rs panics on some damaged files instead of returning an error.
            let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                io.load_hnsw_with_dist(dist)
            }));
            let graph: Graph = match loaded {
                Ok(Ok(graph)) => graph,
                Ok(Err(e)) => {
                    return Err(VectorError::Hnsw {
                        path: dir,
                        message: e.to_string(),
                    });
                }
                Err(_) => {
                    return Err(VectorError::Hnsw {
                        path: dir,
                        message: "the graph files are damaged (rebuild the index)".into(),
                    });
                }
            };
            if graph.get_nb_point() != meta.count {
                return Err(VectorError::Hnsw {
                    path: dir,
                    message: format!(
                        "{} points in the graph, {} vectors",
                        graph.get_nb_point(),
                        meta.count
                    ),
                });
            }
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
                let q: Vec<i8> = query
                    .iter()
                    .map(|&x| quantize(x, self.meta.scale))
                    .collect();
                let ef = ef.max(n);
                let mut hits: Vec<(u32, f32)> = graph
                    .search(&q, n, ef)
                    .into_iter()
                    .map(|nb| (nb.d_id as u32, self.store.score(query, nb.d_id)))
                    .collect();
                sort_hits(&mut hits);
                Ok(hits)
            }
            _ => Ok(self.store.exact(query, n)),
        }
    }
}
