//! The names of the vector files inside an index (a leaf module: the store, the graph and
//! the index all use it).

/// The directory of the vectors inside an index.
pub const VECTORS_DIR: &str = "vectors";
/// wikirag's own HNSW graph (format 2 and later).
pub(crate) const GRAPH_FILE: &str = "graph.bin";
