//! Sentence vectors and the searches that use them.
//!
//! - [`VectorWriter`] collects f32 vectors during a build; [`finish_build`] quantises them to
//!   int8 (memory-mapped at query time) and links an HNSW graph (hnsw_rs, parallel insert,
//!   persisted and reloaded without rebuilding).
//! - [`VectorIndex`] answers nearest-neighbour queries, by the graph or exactly (the reference).
//! - [`Searcher`] runs BM25, dense or hybrid retrieval (reciprocal rank fusion or weighted
//!   normalised scores), seeing only the core traits.

mod error;
mod index;
mod search;
mod store;

pub use error::{Result, VectorError};
pub use index::{
    DistI8, HnswParams, VECTOR_FORMAT, VECTORS_DIR, VectorIndex, VectorMeta, VectorSearch,
    build_graph, finish_build,
};
pub use search::{Dense, Fusion, Mode, RetrievalOptions, Searcher, fuse};
pub use store::{VectorStore, VectorWriter};
