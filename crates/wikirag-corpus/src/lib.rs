//! Reading MediaWiki dumps and turning wikitext into clean, sentence-split articles.
//!
//! This crate owns everything between a dump file on disk and an [`Article`]: format detection,
//! decompression (parallel for bzip2 multistream), streaming XML, wikitext cleaning with
//! parse-wiki-text-2, and sentence splitting. It is pure and synchronous: no index, no model,
//! no printing (it emits `tracing` events and reports through [`wikirag_core::Progress`]).

mod balance;
mod clean;
mod config;
mod error;
pub mod input;
mod split;
mod templates;
mod tidy;
mod xml;

pub use clean::{CleanOptions, Cleaner};
pub use error::{CorpusError, Result};
pub use input::{Compression, OpenMode, OpenOptions, Opened, Part, open};
pub use split::{MAX_SENTENCE_BYTES, split_sentences, split_sentences_uax29};
pub use tidy::tidy;
pub use xml::{DEFAULT_MAX_PAGE_BYTES, DumpReader};

pub use wikirag_core::{Article, Page, SiteInfo};
