//! The top sentences of a BM25 query, cut where the index's layout cannot move the cut.
//!
//! tantivy's `TopDocs` keeps the best `k` raw scores and breaks ties by document address, so
//! two indexes holding the same documents in other segments (an updated index and a fresh
//! build; two builds whose cleaner threads finished in another order) keep different members
//! of a tie that straddles the cut. Ties are common: every sentence of a page matched only by
//! its title scores the same. [`RankCollector`] ranks by the weighted score rounded to 1e-4
//! (facts × `fact_weight`), then page id, then sentence ordinal, and still prunes with
//! block-max WAND: its threshold sits just below the `k`-th score, so a tie is always
//! collected whole before it is cut.

use crate::columns::ColumnCache;
use crate::schema;
use std::cmp::Ordering;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::Weight;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// A score rounded to 1e-4, for ordering (BM25 scores are under 10⁵): the same document can
/// score a few ulps apart in two indexes (the terms' contributions summed in another order),
/// and that must not reorder it.
pub(crate) fn score_key(score: f32) -> i64 {
    (f64::from(score) * 1e4).round() as i64
}

/// A ranked sentence document: weighted score, page id, sentence ordinal, address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ranked {
    pub score: f32,
    pub page: u64,
    pub sentence: u64,
    pub addr: DocAddress,
}

fn order(a: &Ranked, b: &Ranked) -> Ordering {
    score_key(b.score)
        .cmp(&score_key(a.score))
        .then(a.page.cmp(&b.page))
        .then(a.sentence.cmp(&b.sentence))
}

/// Sorts best first and keeps `k`.
fn cut(items: &mut Vec<Ranked>, k: usize) {
    items.sort_unstable_by(order);
    items.truncate(k);
}

/// The best `k` sentence documents in (score to 1e-4, page, sentence) order.
pub(crate) struct RankCollector<'a> {
    pub k: usize,
    pub fact_weight: f32,
    pub columns: &'a ColumnCache,
}

impl Collector for RankCollector<'_> {
    type Fruit = Vec<Ranked>;
    type Child = RankSegment;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<RankSegment> {
        let columns = self.columns.of(reader)?;
        Ok(RankSegment {
            k: self.k,
            fact_weight: self.fact_weight,
            segment_ord,
            page: columns.page,
            sentence: columns.sentence,
            kind: columns.kind,
            fact: schema::sentence_kind_code(wikirag_core::SentenceKind::Fact),
            items: Vec::with_capacity(2 * self.k.min(1 << 16) + 1),
            threshold: Score::MIN,
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Ranked>>) -> tantivy::Result<Vec<Ranked>> {
        let mut all: Vec<Ranked> = fruits.into_iter().flatten().collect();
        cut(&mut all, self.k);
        Ok(all)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Vec<Ranked>> {
        let mut segment = self.for_segment(segment_ord, reader)?;
        if self.k == 0 {
            return Ok(Vec::new());
        }
        let alive = reader.alive_bitset();
        weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                segment.collect(doc, score);
            }
            segment.threshold
        })?;
        Ok(segment.harvest())
    }
}

pub(crate) struct RankSegment {
    k: usize,
    fact_weight: f32,
    segment_ord: SegmentOrdinal,
    page: Column<u64>,
    sentence: Column<u64>,
    kind: Option<Column<u64>>,
    fact: u64,
    items: Vec<Ranked>,
    /// Raw scores at or below this cannot enter the top `k` (pruning bound for WAND).
    threshold: Score,
}

impl SegmentCollector for RankSegment {
    type Fruit = Vec<Ranked>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.k == 0 || score <= self.threshold {
            return;
        }
        let is_fact = self
            .kind
            .as_ref()
            .and_then(|k| k.first(doc))
            .is_some_and(|k| k == self.fact);
        self.items.push(Ranked {
            score: if is_fact {
                score * self.fact_weight
            } else {
                score
            },
            page: self.page.first(doc).unwrap_or(0),
            sentence: self.sentence.first(doc).unwrap_or(0),
            addr: DocAddress::new(self.segment_ord, doc),
        });
        if self.items.len() >= 2 * self.k {
            cut(&mut self.items, self.k);
            // A weighted score is at most raw × max(1, fact_weight); 2e-4 below the k-th
            // keeps every document that could round to the k-th score's key.
            let floor = self.items[self.k - 1].score;
            self.threshold = floor / self.fact_weight.max(1.0) - 2e-4;
        }
    }

    fn harvest(mut self) -> Vec<Ranked> {
        cut(&mut self.items, self.k);
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_a_few_ulps_apart_order_as_equal() {
        let a = 14.337_8_f32;
        let b = f32::from_bits(a.to_bits() + 3);
        assert_ne!(a, b);
        assert_eq!(score_key(a), score_key(b));
        assert!(score_key(14.3379) > score_key(a));
    }

    #[test]
    fn a_tie_is_cut_by_page_and_sentence_whatever_the_arrival_order() {
        let at = |score: f32, page: u64, sentence: u64| Ranked {
            score,
            page,
            sentence,
            addr: DocAddress::new(0, (page * 100 + sentence) as u32),
        };
        let mut a = vec![at(2.0, 9, 1), at(1.0, 3, 0), at(1.0, 1, 4), at(1.0, 1, 2)];
        let mut b: Vec<Ranked> = a.iter().rev().copied().collect();
        cut(&mut a, 3);
        cut(&mut b, 3);
        let key = |v: &[Ranked]| v.iter().map(|r| (r.page, r.sentence)).collect::<Vec<_>>();
        assert_eq!(key(&a), vec![(9, 1), (1, 2), (1, 4)]);
        assert_eq!(key(&a), key(&b));
    }
}
