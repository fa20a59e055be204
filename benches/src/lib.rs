//! Fixtures shared by the benches and the synthetic dump generator.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use wikirag_core::{NoProgress, Page, SiteInfo};
use wikirag_corpus::{DumpReader, OpenOptions};

/// The shared real dumps, if present.
pub fn shared_wiki() -> Option<PathBuf> {
    let dir = std::env::var_os("WIKIRAG_SHARED_WIKI")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/wiki"));
    dir.is_dir().then_some(dir)
}

/// The bundled sample directory.
pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample")
}

/// All pages of a dump, in memory, with its siteinfo.
pub fn load_pages(path: &Path) -> anyhow::Result<(SiteInfo, Vec<Page>)> {
    let opened = wikirag_corpus::open(path, &OpenOptions::default(), Arc::new(NoProgress))?;
    let mut reader = DumpReader::new(path, opened.reader)?;
    let site = reader.site_info().clone();
    let mut pages = Vec::new();
    while let Some(page) = reader.next_page() {
        pages.push(page?);
    }
    Ok((site, pages))
}

/// A cheap, deterministic stand-in for a sentence-embedding model, for measurements at scales
/// where running the real model is out of reach here (1 M sentences ≈ 2 h on 2 cores): each
/// word adds a fixed pseudo-random ±1 pattern on 8 of `dim` dimensions, the sum is normalised.
/// Texts sharing words get similar vectors, so the data has the structure nearest-neighbour
/// search relies on (random vectors would not). Not a model of meaning.
pub struct HashEmbedder {
    info: wikirag_core::ModelInfo,
}

impl HashEmbedder {
    pub fn new(dim: usize) -> HashEmbedder {
        HashEmbedder {
            info: wikirag_core::ModelInfo {
                name: "hash-embedder".into(),
                dim,
                pooling: wikirag_core::Pooling::Mean,
                normalized: true,
                max_tokens: 512,
                weights_sha256: "0".repeat(64),
                query_prefix: String::new(),
                passage_prefix: String::new(),
            },
        }
    }

    pub fn vector(&self, text: &str) -> Vec<f32> {
        let dim = self.info.dim;
        let mut v = vec![0f32; dim];
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
        {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in word.to_lowercase().bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            for _ in 0..8 {
                h ^= h << 13;
                h ^= h >> 7;
                h ^= h << 17;
                let d = (h % dim as u64) as usize;
                v[d] += if h & (1 << 40) == 0 { 1.0 } else { -1.0 };
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            v[0] = 1.0;
        }
        v
    }
}

impl wikirag_core::Embedder for HashEmbedder {
    fn info(&self) -> &wikirag_core::ModelInfo {
        &self.info
    }
    fn embed(
        &self,
        texts: &[&str],
        _role: wikirag_core::TextRole,
    ) -> Result<Vec<Vec<f32>>, wikirag_core::BoxError> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }
}

/// Percentile of sorted durations in milliseconds.
pub fn percentile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}
