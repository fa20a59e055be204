use std::path::PathBuf;
use wikirag_core::BoxError;

/// Errors of the vector index and of dense and hybrid search; each names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    BadIndex { path: PathBuf, message: String },
    #[error("{}: {detail} (damaged; `wikirag inspect --verify` names every damaged file, rebuilding the index repairs it)", path.display())]
    Damaged { path: PathBuf, detail: String },
    #[error("{}: the vectors were made by another model ({detail}); rebuild the index with this model or query with the model it was built with", path.display())]
    ModelMismatch { path: PathBuf, detail: String },
    #[error("a vector of {got} dimensions where {expected} were expected")]
    Dimension { expected: usize, got: usize },
    #[error("{}: HNSW graph: {message}", path.display())]
    Hnsw { path: PathBuf, message: String },
    #[error("mode {mode} needs a vector index; this index was built without --model (BM25 only)")]
    NoVectors { mode: &'static str },
    #[error("empty query")]
    EmptyQuery,
    #[error("embedding: {0}")]
    Embed(BoxError),
    #[error("sentence lookup: {0}")]
    Lookup(BoxError),
    #[error("BM25: {0}")]
    Bm25(BoxError),
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = VectorError> = std::result::Result<T, E>;

pub(crate) trait Context<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| VectorError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
