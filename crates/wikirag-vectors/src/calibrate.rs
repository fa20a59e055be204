//! The query beam width of a graph, chosen by measuring it.
//!
//! A graph linked with fixed parameters does not reach the same recall with every model:
//! anisotropic vectors (multilingual-e5's crowd in a narrow cone) need a wider beam than
//! MiniLM's for the same recall. So after linking, the graph is searched with sample queries
//! at growing beam widths, against exact search, and the narrowest width whose recall@10
//! reaches [`TARGET_RECALL`] is recorded as the index's default. The queries are what a build
//! embeds for this (the first words of sampled sentences, embedded as queries: short and
//! prefixed as real ones, so as far from the passages as real questions), kept beside the
//! vectors (`calibration.f32`) for a later relink; without them, the store's own rows (each
//! left out of its own answers), which are much easier — neighbours of a passage sit closer
//! than those of a question. Recall counts a graph hit when its
//! score reaches the tenth exact score, so repeated sentences (equal vectors, of which a
//! graph list keeps one) do not count as misses.

use crate::hnsw::Graph;
use crate::pq::Codes;
use crate::store::VectorStore;
use rayon::prelude::*;

/// The recall@10 against exact search a chosen beam width reaches on the sample: above the
/// 0.95 an index promises, since real questions sit a little farther from the passages than
/// passages from each other.
pub const TARGET_RECALL: f64 = 0.97;
/// Beam widths tried, narrowest first.
const LADDER: [usize; 9] = [64, 96, 128, 192, 256, 384, 512, 768, 1024];
const K: usize = 10;

/// The beam width to record and the recall@10 it reached on the sample: `ef` itself when
/// given (non-zero), else the narrowest width of the ladder that reaches [`TARGET_RECALL`]
/// (the widest where none does).
pub(crate) fn beam_width(
    graph: &Graph,
    store: &VectorStore,
    codes: Option<&Codes>,
    ef: usize,
    sample: &[Vec<f32>],
) -> (usize, f64) {
    let live: Vec<usize> = (0..store.len()).filter(|&r| !store.is_dead(r)).collect();
    if live.len() <= K + 1 {
        return (if ef == 0 { LADDER[0] } else { ef }, 1.0);
    }
    // Fewer queries on big stores: each costs an exact scan of every row.
    let n = match live.len() {
        0..=1_000_000 => 200,
        _ => 100,
    };
    // (the row a query was made of, left out of its answers; u32::MAX: none)
    let queries: Vec<(u32, Vec<f32>)> = if sample.iter().any(|q| q.len() == store.dim()) {
        let step = sample.len().div_ceil(n).max(1);
        sample
            .iter()
            .filter(|q| q.len() == store.dim())
            .step_by(step)
            .map(|q| (u32::MAX, q.clone()))
            .collect()
    } else {
        let step = (live.len() / n).max(1);
        live.iter()
            .step_by(step)
            .take(n)
            .map(|&r| (r as u32, store.dequantized(r)))
            .collect()
    };
    // The tenth best score of each query, itself left out.
    let floors: Vec<f32> = queries
        .par_iter()
        .map(|(row, q)| {
            let hits = store.exact(q, K + 1);
            let others: Vec<f32> = hits
                .iter()
                .filter(|h| h.0 != *row)
                .map(|h| h.1)
                .take(K)
                .collect();
            others.last().copied().unwrap_or(f32::NEG_INFINITY)
        })
        .collect();
    let recall_at = |ef: usize| -> f64 {
        let found: usize = queries
            .par_iter()
            .zip(&floors)
            .map(|((row, q), &floor)| {
                graph
                    .search(store, codes, q, ef.max(K + 1))
                    .iter()
                    .filter(|h| h.0 != *row && !store.is_dead(h.0 as usize))
                    .take(K)
                    .filter(|h| h.1 >= floor - 1e-6)
                    .count()
            })
            .sum();
        found as f64 / (queries.len() * K) as f64
    };
    if ef != 0 {
        return (ef, recall_at(ef));
    }
    let mut last = (LADDER[0], 0.0);
    for ef in LADDER {
        let recall = recall_at(ef);
        tracing::debug!(ef, recall, "graph recall@10 against exact search");
        last = (ef, recall);
        if recall >= TARGET_RECALL {
            return last;
        }
    }
    tracing::warn!(
        ef = last.0,
        recall = last.1,
        "the graph does not reach the target recall at any beam width tried; relink with a larger --hnsw-m or --ef-construction"
    );
    last
}
