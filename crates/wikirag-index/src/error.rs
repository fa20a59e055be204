use std::path::PathBuf;

/// Errors of the on-disk index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("index {path}: {source}")]
    Tantivy {
        path: PathBuf,
        source: tantivy::TantivyError,
    },
    #[error("{path} is not a wikirag index (no manifest.json); build one with `wikirag index`")]
    NotAnIndex { path: PathBuf },
    #[error("{path}: manifest is unreadable: {message}")]
    BadManifest { path: PathBuf, message: String },
    #[error(
        "{path}: index format {found} is not supported by this build (expects {expected}); rebuild the index"
    )]
    FormatVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path} already exists; pass --force to replace it")]
    Exists { path: PathBuf },
    #[error("empty query")]
    EmptyQuery,
    #[error("{path} cannot be updated: {reason}")]
    NotUpdatable { path: PathBuf, reason: String },
    #[error(
        "index {path} is damaged: {detail}; `wikirag inspect --verify {path}` names the damaged file, and rebuilding the index repairs it"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error("{path}: no sentence {sentence} in page {page_id}")]
    NoSuchSentence {
        path: PathBuf,
        page_id: u64,
        sentence: u32,
    },
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// Runs `f` on the index at `path`; a panic inside tantivy (it panics on some damaged segment
/// files) becomes [`IndexError::Damaged`] instead of reaching the user.
pub(crate) fn guard<T>(path: &std::path::Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    wikirag_core::catch_panic(f).unwrap_or_else(|detail| {
        Err(IndexError::Damaged {
            path: path.to_path_buf(),
            detail: format!("reading it panicked ({detail})"),
        })
    })
}

pub(crate) trait Context<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, tantivy::TantivyError> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| IndexError::Tantivy {
            path: path.to_path_buf(),
            source,
        })
    }
}
