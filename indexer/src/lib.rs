//! The offline build pipeline: dump files → pages → articles → index.
//!
//! Per input file, one thread reads and decompresses (itself parallel for bzip2 multistream),
//! a pool of threads cleans wikitext and splits sentences, and the caller's thread feeds a
//! [`Sink`] (the tantivy [`IndexBuilder`], or a writer of plain text for `wikirag extract`).
//! Channels between stages are bounded, so memory stays flat whatever the dump size.
//!
//! Invariants: an index is published only whole (the builder renames a finished temporary
//! directory); a fault in one page skips that page; a fault that ends a file keeps every page
//! before it and is recorded in the manifest; a stop request (Ctrl-C) publishes nothing.

mod build;
mod embed;
mod error;
mod merge;
mod read;
mod relink;
mod update;

pub use build::{BuildConfig, BuildReport, build};
pub use embed::{
    EmbedConfig, LARGE_DUMP_BYTES, WINDOW_FOR_LARGE_DUMPS, passage_text, peak_rss_mb,
    record_vectors,
};
pub use error::{IndexerError, Result};
pub use merge::{MergeConfig, MergeReport, merge};
pub use read::{
    Input, PageFilter, ReadConfig, Sink, dump_date, read_filtered, read_into, site_info,
};
pub use relink::{RelinkReport, relink};
pub use update::{DEFAULT_MAX_DELETED_SHARE, UpdateConfig, UpdateKind, UpdateReport, update};
