//! Sentence vectors and the searches that use them.
//!
//! - [`VectorWriter`] collects f32 vectors during a build; [`finish_build`] quantises them to
//!   int8 (memory-mapped at query time) and links an HNSW graph (our own, parallel insert,
//!   persisted and reloaded without rebuilding); [`relink`] re-links it from the stored
//!   vectors with other parameters.
//! - [`ResumableWriter`] keeps a build's rows across interruptions (a build run again embeds
//!   only what it had not).
//! - [`VectorIndex`] answers nearest-neighbour queries, by the graph or exactly (the reference).
//! - [`Searcher`] runs BM25, dense or hybrid retrieval (reciprocal rank fusion or weighted
//!   normalised scores), seeing only the core traits.

mod calibrate;
mod error;
mod hnsw;
mod index;
mod journal;
mod layout;
mod pq;
mod search;
mod span;
mod store;

pub use calibrate::TARGET_RECALL;
pub use error::{Result, VectorError};
pub use index::{
    COMPACT_DEAD_SHARE, HnswParams, VECTOR_FORMAT, VECTORS_DIR, VectorIndex, VectorMeta,
    VectorSearch, VectorUpdate, VectorUpdateReport, finish_build, merge, relink, rewalk,
};
pub use journal::{PassageKey, ResumableWriter, journal_dir};
pub use search::{DENSE_WEIGHT, Dense, Fusion, KEEP_TOP, Mode, RetrievalOptions, Searcher, fuse};
pub use span::{MAX_FIRST, MAX_WINDOW, Span};
pub use store::{VectorStore, VectorWriter};
