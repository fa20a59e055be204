//! Dense and hybrid retrieval over the core traits: an [`Embedder`] for the query, the
//! [`VectorIndex`], a BM25 [`Retriever`] and a [`SentenceLookup`] that turns positions into hits.

use crate::error::{Result, VectorError};
use crate::index::{VectorIndex, VectorSearch};
use crate::store::VectorStore;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
pub use wikirag_core::Mode;
use wikirag_core::{
    Embedder, Hit, Retriever, SearchRequest, SentenceLookup, TextRole, cap_per_page,
};

/// How two ranked lists become one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// Reciprocal rank fusion: Σ weight / (rrf_k + rank), the dense list weighted
    /// `2·dense_weight`, BM25 `2·(1 − dense_weight)` (0.5: the classic unweighted RRF).
    Rrf,
    /// Scores min-max normalised per list, then `dense_weight`·dense + (1 − dense_weight)·bm25.
    Weighted,
}

impl std::str::FromStr for Fusion {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Fusion, String> {
        match s {
            "rrf" => Ok(Fusion::Rrf),
            "weighted" => Ok(Fusion::Weighted),
            _ => Err(format!("unknown fusion {s:?} (rrf, weighted)")),
        }
    }
}

/// Retrieval knobs, all reachable from the CLI and echoed in `--json` output.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalOptions {
    pub mode: Mode,
    pub fusion: Fusion,
    /// RRF constant.
    pub rrf_k: f32,
    /// Weight of the dense list in either fusion (0.5: both lists count the same).
    pub dense_weight: f32,
    /// Candidates taken from each retriever before fusion.
    pub candidates: usize,
    /// HNSW beam width (256: recall@10 0.96 against exact search on real MiniLM vectors).
    pub ef_search: usize,
    /// Search every vector instead of the graph (the reference).
    pub exact: bool,
    /// In hybrid mode, each list's first `keep_top` sentences keep a place in the fused top k
    /// (they take the last places, from fused hits no list puts that high); 0: the fusion alone
    /// decides. A sentence one retriever ranks first is rarely wrong, but min-max fusion can
    /// push it below ten sentences both rank moderately (benches/RESULTS.md, "Keeping each
    /// list's top").
    #[serde(default)]
    pub keep_top: usize,
}

impl Default for RetrievalOptions {
    fn default() -> Self {
        RetrievalOptions {
            mode: Mode::Hybrid,
            // Measured on the standard corpora (sample + vital leads, en and fr, 319 questions,
            // multilingual-e5-small): benches/RESULTS.md, "Fusion".
            fusion: Fusion::Weighted,
            rrf_k: 60.0,
            dense_weight: DENSE_WEIGHT,
            candidates: 100,
            ef_search: 128,
            exact: false,
            keep_top: KEEP_TOP,
        }
    }
}

/// [`RetrievalOptions::dense_weight`]'s default. With a page's name scored once per sentence
/// (BM25 no longer prefers the sentence that repeats it), 0.6 is best in both languages on the
/// standard corpora with multilingual-e5-small (recall@10 / MRR: en 0.96 / 0.81, fr 0.97 /
/// 0.86; 0.8, the previous default: en 0.94 / 0.82, fr 0.95 / 0.82).
pub const DENSE_WEIGHT: f32 = 0.6;

/// [`RetrievalOptions::keep_top`]'s default: measured on the standard corpora with
/// multilingual-e5-small (benches/RESULTS.md, "Keeping each list's top").
pub const KEEP_TOP: usize = 3;

/// The query-side vector machinery: the model and the vectors it must agree with.
pub struct Dense<E: ?Sized> {
    embedder: Arc<E>,
    index: Arc<VectorIndex>,
}

impl<E: Embedder + ?Sized> Dense<E> {
    /// Fails when the vectors were made by another model.
    pub fn new(embedder: Arc<E>, index: Arc<VectorIndex>) -> Result<Dense<E>> {
        index.check_model(embedder.info())?;
        Ok(Dense { embedder, index })
    }

    pub fn index(&self) -> &VectorIndex {
        &self.index
    }

    pub fn embedder(&self) -> &E {
        &self.embedder
    }

    /// Query vectors, embedded in one call (one batch, spread over the model's workers).
    pub fn embed_queries(&self, queries: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embedder
            .embed(queries, TextRole::Query)
            .map_err(VectorError::Embed)
    }

    /// The nearest sentences to an embedded query as ((page id, ordinal), cosine), best first,
    /// at most `per_page` per page (0: no cap), `n` in all. A row covering a window of
    /// sentences stands for each of them, ranked inside it by their score in `lexical` (the
    /// BM25 list of the same query; absent counts 0, then in page order), each a hair below
    /// the one before so the order survives fusion (benches/RESULTS.md, "Fewer vectors").
    pub fn candidates(
        &self,
        q: &[f32],
        n: usize,
        per_page: usize,
        how: VectorSearch,
        lexical: &[((u64, u32), f32)],
    ) -> Result<Vec<((u64, u32), f32)>> {
        let store = self.index.store();
        let total = store.len();
        let words: HashMap<(u64, u32), f32> = if store.windowed() {
            lexical.iter().copied().collect()
        } else {
            HashMap::new()
        };
        let mut fetch = if per_page == 0 { n } else { n * 4 + 32 };
        loop {
            let rows = self.index.search(q, fetch.min(total), how)?;
            let exhausted = rows.len() < fetch || fetch >= total;
            let page_of = |(pos, _): &((u64, u32), f32)| pos.0;
            // A store of one sentence a row (most) maps rows straight to positions.
            let out = if store.windowed() {
                cap_per_page(window_sentences(store, rows, &words), page_of, per_page, n)
            } else {
                let positions = rows
                    .into_iter()
                    .map(|(row, score)| (store.position(row as usize), score));
                cap_per_page(positions, page_of, per_page, n)
            };
            if out.len() == n || exhausted {
                return Ok(out);
            }
            fetch = (fetch * 4).min(total);
        }
    }
}

/// Each row's sentences, best row first: a window's ranked inside it by `words` (their BM25
/// scores; absent counts 0, then page order), each [`WINDOW_STEP`] below the one before.
fn window_sentences<'a>(
    store: &'a VectorStore,
    rows: Vec<(u32, f32)>,
    words: &'a HashMap<(u64, u32), f32>,
) -> impl Iterator<Item = ((u64, u32), f32)> + 'a {
    rows.into_iter().flat_map(move |(row, score)| {
        let (page, span) = store.span(row as usize);
        let mut members: Vec<u32> = span.ordinals().collect();
        let word_score = |o: &u32| words.get(&(page, *o)).copied().unwrap_or(0.0);
        members.sort_by(|a, b| word_score(b).total_cmp(&word_score(a)).then(a.cmp(b)));
        members
            .into_iter()
            .enumerate()
            .map(move |(i, o)| ((page, o), score - WINDOW_STEP * i as f32))
    })
}

/// How far below its window's cosine each further sentence of a window is placed (a step no
/// real difference between two windows' cosines is likely to fall within, and far above the
/// float spacing near 1).
const WINDOW_STEP: f32 = 1e-6;

/// BM25, dense or hybrid search, by [`RetrievalOptions::mode`].
pub struct Searcher<B, E: ?Sized> {
    bm25: Arc<B>,
    dense: Option<Arc<Dense<E>>>,
    options: RetrievalOptions,
}

impl<B, E> Searcher<B, E>
where
    B: Retriever + SentenceLookup,
    E: Embedder + ?Sized,
{
    /// A searcher; without `dense` only [`Mode::Bm25`] works.
    pub fn new(bm25: Arc<B>, dense: Option<Arc<Dense<E>>>, options: RetrievalOptions) -> Self {
        Searcher {
            bm25,
            dense,
            options,
        }
    }

    pub fn options(&self) -> &RetrievalOptions {
        &self.options
    }

    /// The same searcher with other options (cheap: the parts are shared).
    pub fn with_options(&self, options: RetrievalOptions) -> Self {
        Searcher {
            bm25: self.bm25.clone(),
            dense: self.dense.clone(),
            options,
        }
    }

    pub fn has_vectors(&self) -> bool {
        self.dense.is_some()
    }

    fn dense(&self) -> Result<&Dense<E>> {
        self.dense.as_deref().ok_or(VectorError::NoVectors {
            mode: self.options.mode.name(),
        })
    }

    fn how(&self) -> VectorSearch {
        if self.options.exact {
            VectorSearch::Exact
        } else {
            VectorSearch::Hnsw {
                ef: self.options.ef_search,
            }
        }
    }

    pub fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>> {
        self.search_with(req, None)
    }

    /// Several searches; their queries are embedded together (the ask pipeline searches a
    /// question and its rewrite: one model call instead of two).
    pub fn search_many(&self, requests: &[SearchRequest]) -> Result<Vec<Vec<Hit>>> {
        if self.options.mode == Mode::Bm25 || requests.len() < 2 {
            return requests.iter().map(|r| self.search(r)).collect();
        }
        if requests.iter().any(|r| r.query.trim().is_empty()) {
            return Err(VectorError::EmptyQuery);
        }
        let texts: Vec<&str> = requests.iter().map(|r| r.query.as_str()).collect();
        let vectors = self.dense()?.embed_queries(&texts)?;
        requests
            .iter()
            .zip(&vectors)
            .map(|(r, v)| self.search_with(r, Some(v)))
            .collect()
    }

    /// A search whose query vector the caller already has (embedded by the index's model,
    /// with its query prefix): the retrieval alone, without the model call.
    pub fn search_vector(&self, req: &SearchRequest, vector: &[f32]) -> Result<Vec<Hit>> {
        self.search_with(req, Some(vector))
    }

    fn search_with(&self, req: &SearchRequest, vector: Option<&[f32]>) -> Result<Vec<Hit>> {
        if req.query.trim().is_empty() {
            return Err(VectorError::EmptyQuery);
        }
        if req.k == 0 {
            return Ok(Vec::new());
        }
        if self.options.mode == Mode::Bm25 {
            return self
                .bm25
                .search(req)
                .map_err(|e| VectorError::Bm25(Box::new(e)));
        }
        let dense = self.dense()?;
        let embedded;
        let q = match vector {
            Some(v) => v,
            None => {
                embedded = dense
                    .embed_queries(&[&req.query])?
                    .pop()
                    .unwrap_or_default();
                &embedded
            }
        };
        let wider = wikirag_core::dedupe_slack(req.k);
        let n = self.options.candidates.max(req.k);
        if self.options.mode == Mode::Dense {
            // A window's sentences are ranked inside it by the BM25 list.
            let lexical = if dense.index().store().windowed() {
                self.lexical(&req.query, n)?
            } else {
                Vec::new()
            };
            let found = dense.candidates(q, wider, req.per_page, self.how(), &lexical)?;
            return Ok(wikirag_core::dedupe_hits(
                self.fetch(&found, req.context)?,
                req.k,
            ));
        }
        let lexical = self.lexical(&req.query, n)?;
        let semantic = dense.candidates(q, n, 0, self.how(), &lexical)?;
        let fused = fuse(&lexical, &semantic, &self.options);
        let protected = list_tops(&lexical, &semantic, self.options.keep_top);
        let top = keep_tops(
            cap_per_page(fused.iter().copied(), |(pos, _)| pos.0, req.per_page, wider),
            &fused,
            &protected,
            req.k,
            req.per_page,
        );
        Ok(wikirag_core::dedupe_hits(
            self.fetch(&top, req.context)?,
            req.k,
        ))
    }

    /// The BM25 top `n` as positions only: the text of the few fused winners is fetched
    /// afterwards.
    fn lexical(&self, query: &str, n: usize) -> Result<Vec<((u64, u32), f32)>> {
        let request = SearchRequest {
            query: query.to_string(),
            k: n,
            context: 0,
            per_page: 0,
        };
        self.bm25
            .search_positions(&request)
            .map_err(|e| VectorError::Bm25(Box::new(e)))
    }

    fn fetch(&self, found: &[((u64, u32), f32)], context: usize) -> Result<Vec<Hit>> {
        let positions: Vec<(u64, u32)> = found.iter().map(|(p, _)| *p).collect();
        let mut hits = self
            .bm25
            .fetch(&positions, context)
            .map_err(VectorError::Lookup)?;
        for (hit, (_, score)) in hits.iter_mut().zip(found) {
            hit.score = *score;
        }
        Ok(hits)
    }
}

impl<B, E> Retriever for Searcher<B, E>
where
    B: Retriever + SentenceLookup,
    E: Embedder + ?Sized,
{
    type Error = VectorError;
    fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>> {
        Searcher::search(self, request)
    }
    fn search_many(&self, requests: &[SearchRequest]) -> Result<Vec<Vec<Hit>>> {
        Searcher::search_many(self, requests)
    }
    fn page_sentences(&self, page_id: u64, last: u32) -> Result<Option<Vec<(u32, String)>>> {
        self.bm25
            .page_sentences(page_id, last)
            .map_err(|e| VectorError::Lookup(Box::new(e)))
    }
    fn sentences_at(&self, positions: &[(u64, u32)], context: usize) -> Result<Option<Vec<Hit>>> {
        self.bm25
            .fetch(positions, context)
            .map(Some)
            .map_err(VectorError::Lookup)
    }
}

/// The first `n` distinct positions of each list, interleaved (first of each, then second…).
fn list_tops(
    lexical: &[((u64, u32), f32)],
    semantic: &[((u64, u32), f32)],
    n: usize,
) -> Vec<(u64, u32)> {
    let firsts = |list: &[((u64, u32), f32)]| {
        let mut seen = Vec::with_capacity(n);
        for (pos, _) in list {
            if seen.len() == n {
                break;
            }
            if !seen.contains(pos) {
                seen.push(*pos);
            }
        }
        seen
    };
    let (a, b) = (firsts(lexical), firsts(semantic));
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        for list in [&a, &b] {
            if let Some(pos) = list.get(i).filter(|p| !out.contains(*p)) {
                out.push(*pos);
            }
        }
    }
    out
}

/// `top` (fused, capped per page, best first) with every `protected` position inside its first
/// `k`: one that is not takes the place of the lowest of the first `k` that is not protected,
/// unless its page already has `per_page` of them. The first `k` keep the fused order, the
/// newcomers after them in the order the lists rank them (no score decides between them: two
/// indexes of the same pages agree even where float sums differ); the displaced lead the rest,
/// in fused order, for the duplicate filter to refill from.
fn keep_tops(
    top: Vec<((u64, u32), f32)>,
    fused: &[((u64, u32), f32)],
    protected: &[(u64, u32)],
    k: usize,
    per_page: usize,
) -> Vec<((u64, u32), f32)> {
    // Indices into `top`, in fused order.
    let first = k.min(top.len());
    let mut head: Vec<usize> = (0..first).collect();
    let mut newcomers: Vec<((u64, u32), f32)> = Vec::new();
    let mut displaced = Vec::new();
    for pos in protected {
        let placed = head.iter().map(|&i| &top[i]).chain(&newcomers);
        let (mut present, mut on_page) = (false, 0);
        for (p, _) in placed {
            present |= p == pos;
            on_page += usize::from(p.0 == pos.0);
        }
        if present || (per_page > 0 && on_page >= per_page) {
            continue;
        }
        let Some(entry) = fused.iter().find(|(p, _)| p == pos) else {
            continue;
        };
        if head.len() + newcomers.len() < k {
            newcomers.push(*entry);
            continue;
        }
        let Some(last) = head.iter().rposition(|&i| !protected.contains(&top[i].0)) else {
            break;
        };
        displaced.push(head.remove(last));
        newcomers.push(*entry);
    }
    if newcomers.is_empty() {
        return top;
    }
    displaced.sort_unstable();
    let later = (first..top.len()).filter(|&i| !newcomers.iter().any(|(p, _)| *p == top[i].0));
    let mut out: Vec<((u64, u32), f32)> = head.iter().map(|&i| top[i]).collect();
    out.extend(newcomers.iter().copied());
    out.extend(displaced.into_iter().chain(later).map(|i| top[i]));
    out
}

/// Fuses two best-first lists of (position, score) into one, best first; ties by position.
pub fn fuse(
    lexical: &[((u64, u32), f32)],
    semantic: &[((u64, u32), f32)],
    options: &RetrievalOptions,
) -> Vec<((u64, u32), f32)> {
    let mut scores: HashMap<(u64, u32), f32> = HashMap::new();
    match options.fusion {
        Fusion::Rrf => {
            // Each list's votes weighted: 2·w for dense, 2·(1 − w) for BM25 (w = 0.5: plain RRF).
            let w = options.dense_weight.clamp(0.0, 1.0);
            for (list, weight) in [(lexical, 2.0 * (1.0 - w)), (semantic, 2.0 * w)] {
                let mut seen = std::collections::HashSet::new();
                let firsts = list.iter().filter(|(pos, _)| seen.insert(*pos));
                for (rank, (pos, _)) in firsts.enumerate() {
                    *scores.entry(*pos).or_default() +=
                        weight / (options.rrf_k + rank as f32 + 1.0);
                }
            }
        }
        Fusion::Weighted => {
            let w = options.dense_weight.clamp(0.0, 1.0);
            for (list, weight) in [(lexical, 1.0 - w), (semantic, w)] {
                let max = list.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max);
                let min = list.iter().map(|x| x.1).fold(f32::INFINITY, f32::min);
                let span = max - min;
                let mut seen = std::collections::HashSet::new();
                for (pos, s) in list.iter().filter(|(pos, _)| seen.insert(*pos)) {
                    let norm = if span > 0.0 { (s - min) / span } else { 1.0 };
                    *scores.entry(*pos).or_default() += weight * norm;
                }
            }
        }
    }
    let mut out: Vec<((u64, u32), f32)> = scores.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement() {
        let a = [((1, 0), 9.0), ((2, 0), 8.0), ((3, 0), 7.0)];
        let b = [((3, 0), 0.9), ((4, 0), 0.8), ((1, 0), 0.7)];
        let plain_rrf = RetrievalOptions {
            fusion: Fusion::Rrf,
            dense_weight: 0.5,
            ..RetrievalOptions::default()
        };
        let fused = fuse(&a, &b, &plain_rrf);
        let order: Vec<u64> = fused.iter().map(|(p, _)| p.0).collect();
        // 1: 1/61 + 1/63, 3: 1/63 + 1/61 (tie, by position), then 2 (1/62) and 4 (1/62).
        assert_eq!(order, vec![1, 3, 2, 4]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-6);
    }

    #[test]
    fn rrf_weights_the_lists() {
        let a = [((1, 0), 9.0), ((2, 0), 8.0)];
        let b = [((2, 0), 0.9), ((3, 0), 0.8)];
        let dense_heavy = RetrievalOptions {
            fusion: Fusion::Rrf,
            dense_weight: 0.8,
            ..RetrievalOptions::default()
        };
        let fused = fuse(&a, &b, &dense_heavy);
        // 2: 0.4/62 + 1.6/61 > 3: 1.6/62 > 1: 0.4/61.
        let order: Vec<u64> = fused.iter().map(|(p, _)| p.0).collect();
        assert_eq!(order, vec![2, 3, 1]);
        let bm25_only = RetrievalOptions {
            fusion: Fusion::Rrf,
            dense_weight: 0.0,
            ..RetrievalOptions::default()
        };
        let fused = fuse(&a, &b, &bm25_only);
        assert_eq!(fused[0].0, (1, 0));
    }

    #[test]
    fn weighted_fusion_normalises_each_list() {
        let a = [((1, 0), 100.0), ((2, 0), 50.0)];
        let b = [((2, 0), 0.9), ((3, 0), 0.1)];
        let options = RetrievalOptions {
            fusion: Fusion::Weighted,
            dense_weight: 0.75,
            ..RetrievalOptions::default()
        };
        let fused = fuse(&a, &b, &options);
        assert_eq!(fused[0].0, (2, 0)); // 0.25·0 + 0.75·1
        assert!((fused[0].1 - 0.75).abs() < 1e-6);
        assert_eq!(fused[1].0, (1, 0)); // 0.25·1
    }

    /// A sentence BM25 ranks first but the dense list lacks is pushed below sentences both rank
    /// moderately by min-max fusion; `keep_top` gives it back a place in the top k.
    #[test]
    fn each_lists_first_keeps_a_place_in_the_top_k() {
        let x = (7, 0);
        let mut lexical = vec![(x, 10.0)];
        let mut semantic = Vec::new();
        for i in 0..5u32 {
            lexical.push(((1 + u64::from(i), 0), 5.0 - 0.1 * i as f32));
            semantic.push(((1 + u64::from(i), 0), 0.9 - 0.01 * i as f32));
        }
        lexical.push(((90, 0), 0.0));
        semantic.push(((91, 0), 0.5));
        let options = RetrievalOptions::default();
        let fused = fuse(&lexical, &semantic, &options);
        let k = 3;
        let top = cap_per_page(fused.iter().copied(), |(p, _)| p.0, 3, 20);
        // Without keeping: BM25's first (0.4) is sixth, behind five sentences both lists hold.
        assert_eq!(fused.iter().position(|(p, _)| *p == x), Some(5));
        let same = keep_tops(
            top.clone(),
            &fused,
            &list_tops(&lexical, &semantic, 0),
            k,
            3,
        );
        assert!(!same[..k].iter().any(|(p, _)| *p == x));
        assert_eq!(same, top);
        // Keeping each list's first: it takes the last place of the top 3; the one it displaced
        // leads the rest, and nothing is lost or doubled.
        let kept = keep_tops(
            top.clone(),
            &fused,
            &list_tops(&lexical, &semantic, 1),
            k,
            3,
        );
        let firsts: Vec<_> = kept.iter().map(|(p, _)| *p).collect();
        assert_eq!(firsts[..k], [top[0].0, top[1].0, x]);
        assert_eq!(firsts[k], top[2].0);
        let mut a = firsts.clone();
        a.sort();
        a.dedup();
        assert_eq!(a.len(), firsts.len());
        assert_eq!(kept.len(), top.len());
        // Scores stay in order inside the top k.
        assert!(kept[..k].windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn keeping_respects_the_page_cap_and_what_is_already_there() {
        let pos = |p: u64, s: u32| (p, s);
        let fused: Vec<_> = [(1, 0), (1, 1), (2, 0), (1, 2), (3, 0)]
            .iter()
            .enumerate()
            .map(|(i, &(p, s))| (pos(p, s), 1.0 - 0.1 * i as f32))
            .collect();
        let top = fused.clone();
        // Already in the top 3: nothing moves.
        assert_eq!(keep_tops(top.clone(), &fused, &[pos(2, 0)], 3, 2), top);
        // Page 1 holds 2 of the top 3 and the cap is 2: its third sentence stays out.
        assert_eq!(keep_tops(top.clone(), &fused, &[pos(1, 2)], 3, 2), top);
        // Unknown to the fusion: nothing to place.
        assert_eq!(keep_tops(top.clone(), &fused, &[pos(9, 9)], 3, 2), top);
        // Two newcomers displace the two lowest that no list protects and follow in the order
        // the lists give them (not by score); the displaced lead the rest in fused order.
        let kept = keep_tops(
            top.clone(),
            &fused,
            &[pos(3, 0), pos(1, 0), pos(1, 2)],
            3,
            0,
        );
        let order: Vec<_> = kept.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            order,
            [pos(1, 0), pos(3, 0), pos(1, 2), pos(1, 1), pos(2, 0)]
        );
        // Interleaved firsts of both lists, no repeats.
        let l = [(pos(1, 0), 3.0), (pos(1, 0), 2.0), (pos(2, 0), 1.0)];
        let d = [(pos(2, 0), 0.9), (pos(3, 0), 0.8)];
        assert_eq!(list_tops(&l, &d, 2), [pos(1, 0), pos(2, 0), pos(3, 0)]);
        assert!(list_tops(&l, &d, 0).is_empty());
    }
}
