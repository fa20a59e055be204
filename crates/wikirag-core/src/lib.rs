//! Domain types and traits shared by every wikirag crate.
//!
//! This crate owns the vocabulary of the system: a raw [`Page`] read from a dump, a cleaned
//! [`Article`] made of [`Sentence`]s, a search [`Hit`], the [`Language`] of a wiki, and the traits
//! the rest of the system is written against ([`Retriever`], [`Progress`]).
//!
//! It must never depend on tantivy, candle, quick-xml or any I/O-heavy crate: everything may
//! depend on it, it depends on nothing of ours.

mod embed;
mod lang;
mod llm;
mod progress;
mod types;

pub use embed::{BoxError, Embedder, ModelInfo, Pooling, SentenceLookup, TextRole};
pub use lang::Language;
pub use llm::{ChatMessage, Completion, Llm, LlmError, LlmRequest};
pub use progress::{NoProgress, Progress, StopFlag};
pub use types::{
    Article, Hit, Page, SearchRequest, Sentence, SentenceKind, SiteInfo, encode_title,
};

/// The first `k` of `items` (best first) with at most `per_page` from one page (0: no cap).
pub fn cap_per_page<T>(
    items: impl IntoIterator<Item = T>,
    page_of: impl Fn(&T) -> u64,
    per_page: usize,
    k: usize,
) -> Vec<T> {
    let mut counts: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(k.min(1024));
    for item in items {
        if out.len() == k {
            break;
        }
        let n = counts.entry(page_of(&item)).or_default();
        if per_page > 0 && *n >= per_page {
            continue;
        }
        *n += 1;
        out.push(item);
    }
    out
}

/// `((page_id, sentence), score)`, best first.
pub type ScoredPositions = Vec<((u64, u32), f32)>;

/// Something that finds sentences for a query: BM25, vectors, or a fusion of both.
///
/// The RAG and evaluation layers are written against this trait, never against tantivy.
pub trait Retriever: Send + Sync {
    /// The error type of this retriever.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Returns at most `request.k` hits, best first.
    fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>, Self::Error>;

    /// Several searches at once (a retriever that embeds queries batches them).
    fn search_many(&self, requests: &[SearchRequest]) -> Result<Vec<Vec<Hit>>, Self::Error> {
        requests.iter().map(|r| self.search(r)).collect()
    }

    /// The same ranking as positions `((page_id, sentence), score)` only, for fusion: a
    /// retriever that can skip loading the stored text overrides this.
    fn search_positions(&self, request: &SearchRequest) -> Result<ScoredPositions, Self::Error> {
        Ok(self
            .search(request)?
            .into_iter()
            .map(|h| ((h.page_id, h.sentence), h.score))
            .collect())
    }
}
