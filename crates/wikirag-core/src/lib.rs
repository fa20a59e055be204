//! Domain types and traits shared by every wikirag crate.
//!
//! This crate owns the vocabulary of the system: a raw [`Page`] read from a dump, a cleaned
//! [`Article`] made of [`Sentence`]s, a search [`Hit`], the [`Language`] of a wiki, and the traits
//! the rest of the system is written against ([`Retriever`], [`Progress`]).
//!
//! It must never depend on tantivy, candle, quick-xml or any I/O-heavy crate: everything may
//! depend on it, it depends on nothing of ours.

pub mod blocks;
pub mod cpu;
mod embed;
mod lang;
pub mod link;
mod llm;
mod page_key;
mod panics;
mod progress;
pub mod testing;
mod types;

pub use embed::{BoxError, Embedder, ModelInfo, Pooling, SentenceLookup, TextRole};
pub use embed::{embed_scope, legacy_embed_first};
pub use lang::Language;
pub use llm::{ChatMessage, Completion, Llm, LlmError, LlmRequest};
pub use page_key::{
    MAX_PAGE_ID, PAGE_ID_BITS, PageIds, page_id_of_key, page_key, serialize_page_id, tag_clash,
    wiki_tag,
};
pub use panics::{catch_panic, panic_is_caught, panic_message};
pub use progress::{NoProgress, Progress, StopFlag};
pub use types::{
    Article, Hit, Mode, Page, SearchRequest, Sentence, SentenceKind, SiteInfo, encode_title,
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

/// Hits whose text repeats an earlier hit of the same page (a quote or a caption repeated in
/// an article) are one hit: the later copies are dropped, then the first `k` are kept.
/// Retrievers ask for a few more than `k` before calling this, so the slots refill.
pub fn dedupe_hits(hits: Vec<Hit>, k: usize) -> Vec<Hit> {
    let mut seen: std::collections::HashSet<(u64, String)> = std::collections::HashSet::new();
    hits.into_iter()
        .filter(|h| seen.insert((h.page_id, dedupe_key(&h.text))))
        .take(k)
        .collect()
}

/// The text two sentences must share to be one hit: case, spacing and punctuation aside.
fn dedupe_key(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// How many more than `k` a retriever asks for so [`dedupe_hits`] can refill the slots.
pub fn dedupe_slack(k: usize) -> usize {
    k + k.min(10)
}

/// `((page_id, sentence), score)`, best first.
pub type ScoredPositions = Vec<((u64, u32), f32)>;

/// Something that finds sentences for a query: BM25, vectors, or a fusion of both.
///
/// The RAG and evaluation layers are written against this trait, never against tantivy.
pub trait Retriever: Send + Sync {
    /// The error type of this retriever.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Returns at most `request.k` hits, best first; a sentence repeating the text of a better
    /// hit of the same page is not returned ([`dedupe_hits`]).
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

    /// The sentences `0..=last` of a page, numbered, in order: what a link to one of them
    /// needs to tell it from the page's earlier sentences ([`link::sentence_link`]). `None`
    /// when this retriever cannot tell.
    fn page_sentences(
        &self,
        page_id: u64,
        last: u32,
    ) -> Result<Option<Vec<(u32, String)>>, Self::Error> {
        let _ = (page_id, last);
        Ok(None)
    }

    /// The sentences at `(page_id, ordinal)` as hits (score 0, in the order asked) with
    /// `context` neighbours on each side: what a client that holds a hit's id reads again.
    /// `None` when this retriever cannot look sentences up.
    fn sentences_at(
        &self,
        positions: &[(u64, u32)],
        context: usize,
    ) -> Result<Option<Vec<Hit>>, Self::Error> {
        let _ = (positions, context);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(page_id: u64, sentence: u32, text: &str) -> Hit {
        Hit {
            title: format!("P{page_id}"),
            section: String::new(),
            text: text.into(),
            url: String::new(),
            page_id,
            sentence,
            score: 1.0,
            kind: SentenceKind::Prose,
            revision_id: None,
            before: Vec::new(),
            after: Vec::new(),
        }
    }

    #[test]
    fn repeated_text_of_a_page_is_one_hit() {
        let hits = vec![
            hit(1, 4, "“To be or not to be.”"),
            hit(1, 9, "to be, or not to be"),
            hit(2, 0, "To be or not to be."),
            hit(1, 12, "To be or not to be!"),
            hit(1, 2, "Another sentence."),
            hit(3, 1, "Third."),
        ];
        let kept: Vec<(u64, u32)> = dedupe_hits(hits.clone(), 10)
            .iter()
            .map(|h| (h.page_id, h.sentence))
            .collect();
        // Page 2's copy is another article's sentence: kept.
        assert_eq!(kept, vec![(1, 4), (2, 0), (1, 2), (3, 1)]);
        assert_eq!(dedupe_hits(hits, 3).len(), 3);
        assert_eq!(dedupe_slack(10), 20);
        assert_eq!(dedupe_slack(3), 6);
    }
}
