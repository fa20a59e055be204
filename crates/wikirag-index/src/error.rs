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
    #[error(
        "{path} is missing: a publish that was interrupted set the index aside at {copy}; the next `wikirag update` or `wikirag index` of {path} puts it back (or rename it yourself)"
    )]
    SetAside { path: PathBuf, copy: PathBuf },
    #[error("{path}: manifest is unreadable: {message}")]
    BadManifest { path: PathBuf, message: String },
    #[error(
        "{path}: index format {found} is not supported by this build (it reads formats {oldest} to {expected}); rebuild the index"
    )]
    FormatVersion {
        path: PathBuf,
        found: u32,
        oldest: u32,
        expected: u32,
    },
    #[error("{path} already exists; pass --force to replace it")]
    Exists { path: PathBuf },
    #[error(
        "{path} is being written by another wikirag ({holder}); wait for it to finish (a killed writer releases it at once)"
    )]
    Busy { path: PathBuf, holder: String },
    #[error("{path}: not published: {detail}; nothing was replaced, run the command again")]
    Conflict { path: PathBuf, detail: String },
    #[error(
        "{path} is not replaced: {reason}; --force replaces only a wikirag index or an empty directory (choose another --out)"
    )]
    NotReplaceable { path: PathBuf, reason: String },
    #[error("empty query")]
    EmptyQuery,
    #[error("{path} cannot be updated: {reason}")]
    NotUpdatable { path: PathBuf, reason: String },
    #[error(
        "index {path} is damaged: {detail}; `wikirag inspect --verify {path}` names the damaged file, and rebuilding the index repairs it"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error("{path}: cannot merge: {message}")]
    Merge { path: PathBuf, message: String },
    #[error(
        "{path}: the wikis {first} and {second} cannot share an index (their page keys would coincide); index them apart"
    )]
    WikiClash {
        path: PathBuf,
        first: String,
        second: String,
    },
    #[error("{path}: no sentence {sentence} in page {}", wikirag_core::page_id_of_key(*page_id))]
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
        self.map_err(|source| tantivy_error(path, source))
    }
}

/// A tantivy error, said plainly when the cause is a full disk: tantivy's writer threads
/// report only "an index writer was killed", so the file system is asked.
fn tantivy_error(path: &std::path::Path, source: tantivy::TantivyError) -> IndexError {
    const ENOSPC: i32 = 28;
    let full = match &source {
        tantivy::TantivyError::IoError(io) => io.raw_os_error() == Some(ENOSPC),
        tantivy::TantivyError::ErrorInThread(_) => free_bytes(path).is_some_and(|f| f < 4 << 20),
        _ => false,
    };
    if full {
        let free = free_bytes(path).map_or(String::new(), |f| format!(" ({f} bytes free)"));
        return IndexError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "{}{free}: free some space or build elsewhere",
                std::io::Error::from_raw_os_error(ENOSPC)
            )),
        };
    }
    IndexError::Tantivy {
        path: path.to_path_buf(),
        source,
    }
}

/// Bytes an unprivileged writer may still use on the file system holding `path`.
#[cfg(target_os = "linux")]
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let stat = rustix::fs::statvfs(existing).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(target_os = "linux"))]
fn free_bytes(_: &std::path::Path) -> Option<u64> {
    None
}
