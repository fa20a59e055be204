//! The on-disk sentence index: a tantivy index with one document per sentence (plus page and
//! redirect-alias documents), and a `manifest.json` that says what it holds.
//!
//! This crate owns the index layout and BM25 search. It must never parse dumps or clean
//! wikitext (that is `wikirag-corpus`), and it never prints. An index directory is published
//! only whole: it is built in a temporary directory and renamed into place with its manifest.

mod checksum;
mod collect;
mod columns;
mod documents;
mod error;
pub mod facts;
mod layout;
mod lock;
pub mod manifest;
mod merge;
mod reader;
pub mod schema;
mod staging;
mod update;
mod verified;
mod verify;
mod writer;

pub use checksum::FileSum;
pub use documents::Redirect;
pub use error::{IndexError, Result};
pub use layout::{MANIFEST_FILE, MANIFEST_SUM_FILE};
pub use lock::WriterLock;
pub use manifest::{
    BuildParams, Counts, DumpRecord, EmbeddingRecord, FORMAT_VERSION, Manifest, UpdateRecord,
    check_wikis,
};
pub use merge::{Adopted, adopt_segments, adopted_manifest};
pub use reader::{SearchOptions, SentenceIndex};
pub use staging::{Generation, Staging};
pub use update::{IndexUpdater, IndexedPage};
pub use verify::{Verification, verify};
pub use writer::{IndexBuilder, WriterOptions};
