use std::path::PathBuf;

/// Everything that can go wrong while reading a dump or cleaning a page.
///
/// Every variant names the file, and the byte offset or page it happened at, so a user can find
/// the fault in a multi-gigabyte dump.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: read error at byte {offset} of the decompressed stream: {source}")]
    Read {
        path: PathBuf,
        /// Offset in the decompressed XML (the source names the compressed offset where it
        /// knows it).
        offset: u64,
        source: std::io::Error,
    },
    #[error("{path}: malformed XML at byte {offset} of the decompressed stream{after}: {message}")]
    Xml {
        path: PathBuf,
        /// Offset in the decompressed XML.
        offset: u64,
        /// " (after page id N)" when a page was read before the fault.
        after: String,
        message: String,
    },
    #[error("{path}: page {page_id} ({title:?}) at byte {offset}: text is not valid UTF-8")]
    InvalidUtf8 {
        path: PathBuf,
        page_id: u64,
        title: String,
        offset: u64,
    },
    #[error(
        "{path}: page {page_id} ({title:?}) at byte {offset}: text is {size} bytes, over the limit of {limit} bytes"
    )]
    PageTooLarge {
        path: PathBuf,
        page_id: u64,
        title: String,
        offset: u64,
        size: u64,
        limit: u64,
    },
    #[error(
        "{path}: page {title:?} at byte {offset}: page id {value:?} is not a number below 2^40; page skipped"
    )]
    BadPageId {
        path: PathBuf,
        offset: u64,
        title: String,
        value: String,
    },
    #[error("{path}: page at byte {offset} has no <{field}>")]
    MissingField {
        path: PathBuf,
        offset: u64,
        field: &'static str,
    },
    #[error("{path}: part {part}: {message}")]
    BadPart {
        path: PathBuf,
        part: String,
        message: String,
    },
    #[error("{path}: bad multistream index {index}: line {line}: {message}")]
    BadIndex {
        path: PathBuf,
        index: PathBuf,
        line: usize,
        message: String,
    },
    #[error("page {page_id} ({title:?}): wikitext parser gave up after {millis} ms")]
    ParseTimeout {
        page_id: u64,
        title: String,
        millis: u128,
    },
    #[error("page {page_id} ({title:?}): the wikitext parser failed: {message}")]
    ParserPanic {
        page_id: u64,
        title: String,
        message: String,
    },
}

impl CorpusError {
    /// The page a per-page error is about, when its id was read.
    pub fn page_id(&self) -> Option<u64> {
        match self {
            CorpusError::InvalidUtf8 { page_id, .. }
            | CorpusError::PageTooLarge { page_id, .. }
            | CorpusError::ParseTimeout { page_id, .. }
            | CorpusError::ParserPanic { page_id, .. } => Some(*page_id),
            _ => None,
        }
    }

    /// Whether reading can go on with the next page. A fatal error ends the file: the pages
    /// before it were delivered, the rest of the file is skipped.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            CorpusError::InvalidUtf8 { .. }
                | CorpusError::PageTooLarge { .. }
                | CorpusError::MissingField { .. }
                | CorpusError::BadPageId { .. }
                | CorpusError::ParseTimeout { .. }
                | CorpusError::ParserPanic { .. }
        )
    }
}

pub type Result<T, E = CorpusError> = std::result::Result<T, E>;
