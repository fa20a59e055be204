//! The errors of the build pipeline.

use std::path::PathBuf;
use wikirag_corpus::CorpusError;
use wikirag_index::IndexError;
use wikirag_vectors::VectorError;

/// Errors that stop a build.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("interrupted: nothing was published")]
    Interrupted,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no input files given")]
    NoInput,
    #[error("{0}: this index has no vectors (it was built without --model); nothing to link")]
    NoVectors(PathBuf),
    #[error("{0}")]
    Sink(String),
    #[error("no article could be read, nothing was published: {0}")]
    NothingIndexed(String),
    #[error(transparent)]
    Vectors(#[from] VectorError),
    #[error(
        "refusing to apply an older dump of {wiki} to {index}: {detail}; nothing was changed (pass --allow-older to apply it: no page goes back to an older revision, pages it lacks are deleted)"
    )]
    OlderDump {
        index: PathBuf,
        wiki: String,
        detail: String,
    },
    #[error(
        "refusing to delete {deleted} of the {held} pages of {wiki} from {index} (more than {limit_percent}%): is the dump only a part of the wiki? nothing was changed; pass --keep-missing to delete nothing, or --allow-mass-delete if the pages are really gone"
    )]
    MassDeletion {
        index: PathBuf,
        wiki: String,
        deleted: u64,
        held: u64,
        limit_percent: u32,
    },
    #[error("embedding page {} ({title}): {message}", wikirag_core::page_id_of_key(*page_id))]
    Embed {
        page_id: u64,
        title: String,
        message: String,
    },
}

pub type Result<T, E = IndexerError> = std::result::Result<T, E>;
