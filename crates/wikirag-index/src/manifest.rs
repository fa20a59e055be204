//! `manifest.json`: what an index holds and how it was built. Written last, so an index
//! directory with a manifest is complete.

use crate::error::{Context, IndexError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Bumped whenever the on-disk layout changes incompatibly: an older wikirag refuses the
/// index rather than misreading it. 5: page numbers are page keys (wiki and page id,
/// [`wikirag_core::page_key`]); format 4 (MediaWiki ids) is still read and updated as it was
/// written ([`Manifest::page_ids`]).
pub const FORMAT_VERSION: u32 = 5;

/// The oldest format this wikirag reads.
pub const OLDEST_FORMAT_VERSION: u32 = 4;
pub use crate::layout::MANIFEST_FILE;

/// One input dump file and what came of it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DumpRecord {
    pub path: String,
    pub file_name: String,
    pub bytes: u64,
    pub compression: String,
    pub mode: String,
    pub language: String,
    pub dbname: Option<String>,
    pub base_url: Option<String>,
    /// `<page>` elements read.
    pub pages_read: u64,
    /// Articles indexed (namespace kept, not a redirect, cleaned fine).
    pub articles: u64,
    pub redirects: u64,
    /// Pages in namespaces that were not asked for.
    pub other_namespaces: u64,
    /// Pages skipped because of an error (bad UTF-8, too large, parser timeout).
    pub skipped: u64,
    pub sentences: u64,
    /// A fatal error that ended this file early: the pages before it are indexed.
    pub fatal_error: Option<String>,
    /// The wiki (`frwiki`): `<dbname>`, or made from the base URL.
    #[serde(default)]
    pub wiki: String,
    /// The dump's date (`2026-02-01`) when its file name carries Wikimedia's `-YYYYMMDD-`.
    #[serde(default)]
    pub date: Option<String>,
    /// Updates: pages whose revision the index already held (compared, not parsed).
    #[serde(default)]
    pub unchanged: u64,
    /// The range of compressed bytes read (`START:END`) when only a part of the file was:
    /// a work unit of a distributed build (`wikirag index --part`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// The first per-page errors, for the record (all are counted in `skipped`).
    pub page_errors: Vec<String>,
    pub seconds: f64,
}

/// Counts over the whole index.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub articles: u64,
    pub redirects: u64,
    pub sentences: u64,
    pub skipped: u64,
    /// Sentences per language code.
    pub sentences_by_language: BTreeMap<String, u64>,
}

/// Build parameters, recorded so a result can be reproduced.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BuildParams {
    pub namespaces: Vec<i32>,
    pub threads: usize,
    pub writer_memory_mb: usize,
    pub max_page_bytes: usize,
    pub parse_timeout_ms: u64,
    pub max_sentence_bytes: usize,
    pub language_override: Option<String>,
}

/// The sentence vectors of an index (`vectors/`), when it was built with a model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingRecord {
    pub model: wikirag_core::ModelInfo,
    /// Sentences embedded.
    pub vectors: u64,
    /// Only the first N sentences of each page were embedded (None: all of them).
    #[serde(default)]
    pub embed_first: Option<u64>,
    /// Whether each sentence was embedded with its article title before it.
    pub title_context: bool,
    /// Consecutive sentences of a page embedded as one vector (1: a vector per sentence, every
    /// index before windows). An update embeds its new pages the same way.
    #[serde(default = "one")]
    pub window: u32,
    /// The arithmetic of the passage pass: "int8" or "f32" (indexes from before it was
    /// recorded were f32). An update embeds its new passages the same way.
    #[serde(default = "f32_precision")]
    pub passage_precision: String,
    /// HNSW parameters (m, ef_construction, ef_search); `graph` false: exact search only.
    pub hnsw_m: usize,
    pub hnsw_ef_construction: usize,
    pub hnsw_ef_search: usize,
    pub graph: bool,
    /// Whether queries walk the graph by product-quantised codes (the int8 rows read for
    /// the beam only) rather than by the int8 rows.
    #[serde(default)]
    pub graph_codes: bool,
    /// Recall@10 of the graph at `hnsw_ef_search` against exact search, measured when it was
    /// linked (a sample of the index's own rows).
    #[serde(default)]
    pub graph_recall_at_10: Option<f64>,
    /// Peak resident memory of the build process in MiB, where /proc tells.
    pub peak_rss_mb: Option<u64>,
    /// The model directory the build used (absolute), where queries look for it first.
    pub model_path: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub wikirag_version: String,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
    pub languages: Vec<String>,
    pub dumps: Vec<DumpRecord>,
    pub counts: Counts,
    pub params: BuildParams,
    /// Stage → seconds.
    pub durations: BTreeMap<String, f64>,
    /// Present when the index has sentence vectors.
    #[serde(default)]
    pub embedding: Option<EmbeddingRecord>,
    /// 0 for a build, +1 per update.
    #[serde(default)]
    pub generation: u64,
    /// The updates applied since the build, oldest first (`dumps` are those of the build).
    #[serde(default)]
    pub updates: Vec<UpdateRecord>,
    /// Every other file of the index (relative path → size and SHA-256), recorded when it is
    /// published; empty for indexes published before checksums.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, crate::checksum::FileSum>,
}

/// One `wikirag update`: the dumps it read and what changed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct UpdateRecord {
    pub generation: u64,
    pub created_unix: u64,
    /// "full" (a complete newer dump: pages it lacks are deleted) or "adds-changes" (daily
    /// incremental files: they cannot delete).
    pub kind: String,
    pub dumps: Vec<DumpRecord>,
    /// Articles new to the index, articles with a newer revision, pages removed (absent from
    /// a full dump, or now a redirect or outside the namespaces), pages left as they were.
    pub pages_added: u64,
    pub pages_changed: u64,
    pub pages_deleted: u64,
    pub pages_unchanged: u64,
    pub redirects_changed: u64,
    /// Per wiki whose deletions were not applied, why (a dump that ended at a fault, a page
    /// whose id could not be read).
    pub deletions_skipped: Vec<String>,
    /// Pages the new dumps hold but that could not be read or cleaned (bad UTF-8, over the
    /// size limit, parser timeout): their indexed version, if any, is kept as it was.
    #[serde(default)]
    pub pages_unreadable: u64,
    /// Of those, the pages the index held: they keep their indexed version.
    #[serde(default)]
    pub pages_kept_unreadable: u64,
    /// The first of those pages, named with the reason.
    #[serde(default)]
    pub unreadable: Vec<String>,
    /// Pages of the dumps whose revision is older than the indexed one: the newer is kept.
    #[serde(default)]
    pub pages_older: u64,
    pub sentences_embedded: u64,
    pub vectors_removed: u64,
    pub vectors_compacted: bool,
    pub seconds: f64,
}

fn f32_precision() -> String {
    "f32".to_string()
}

fn one() -> u32 {
    1
}

impl EmbeddingRecord {
    /// "HNSW m=… ef_construction=… ef_search=… (recall@10 … against exact search)", or that the
    /// search is exact (no graph).
    pub fn graph_summary(&self) -> String {
        if !self.graph {
            return "exact search (no graph for so few vectors)".to_string();
        }
        format!(
            "HNSW m={} ef_construction={} ef_search={}, walked by {}{}",
            self.hnsw_m,
            self.hnsw_ef_construction,
            self.hnsw_ef_search,
            if self.graph_codes {
                "codes"
            } else {
                "int8 rows"
            },
            self.graph_recall_at_10
                .map(|r| format!(" (recall@10 {r:.3} against exact search)"))
                .unwrap_or_default()
        )
    }

    /// What was embedded, in words.
    pub fn scope(&self) -> String {
        let scope = wikirag_core::embed_scope(self.embed_first);
        if self.window > 1 {
            format!("{scope}, {} sentences a vector", self.window)
        } else {
            scope
        }
    }
}

impl Manifest {
    /// The manifest of a new index (a build or a merge): generation 0, no updates, this
    /// wikirag's format and version, created now; file checksums are added when it is written.
    pub fn new(
        languages: Vec<String>,
        dumps: Vec<DumpRecord>,
        counts: Counts,
        params: BuildParams,
        durations: BTreeMap<String, f64>,
        embedding: Option<EmbeddingRecord>,
    ) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            wikirag_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            languages,
            dumps,
            counts,
            params,
            durations,
            embedding,
            generation: 0,
            updates: Vec::new(),
            files: Default::default(),
        }
    }

    /// The wikis the index has read dumps of (by its build and its updates).
    pub fn wikis(&self) -> impl Iterator<Item = &str> {
        self.dumps
            .iter()
            .chain(self.updates.iter().flat_map(|u| &u.dumps))
            .map(|d| d.wiki.as_str())
    }

    /// Refuses a wiki whose pages could not be told apart from those of a wiki the index
    /// (or `others`) already holds.
    pub fn check_wiki<'a>(
        &'a self,
        path: &Path,
        wiki: &'a str,
        others: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        if self.page_ids() == wikirag_core::PageIds::Raw {
            return Ok(());
        }
        check_wikis(path, self.wikis().chain(others).chain([wiki]))
    }

    /// What the index stores as a page's number: page keys from format 5 on.
    pub fn page_ids(&self) -> wikirag_core::PageIds {
        if self.format_version >= 5 {
            wikirag_core::PageIds::Keyed
        } else {
            wikirag_core::PageIds::Raw
        }
    }

    /// Reads the manifest (no checks of the files).
    pub fn read(dir: &Path) -> Result<Manifest> {
        Ok(Self::read_bytes(dir)?.0)
    }

    /// Reads the manifest and makes the cheap checks: it matches its checksum, and every file
    /// it lists is there with its size.
    pub fn read_checked(dir: &Path) -> Result<Manifest> {
        let (manifest, bytes) = Self::read_bytes(dir)?;
        crate::checksum::check_on_open(dir, &bytes, &manifest.files)?;
        Ok(manifest)
    }

    fn read_bytes(dir: &Path) -> Result<(Manifest, Vec<u8>)> {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            if std::fs::symlink_metadata(dir).is_err()
                && let Some(copy) = crate::layout::set_aside_copy(dir)
            {
                return Err(IndexError::SetAside {
                    path: dir.to_path_buf(),
                    copy,
                });
            }
            return Err(IndexError::NotAnIndex {
                path: dir.to_path_buf(),
            });
        }
        let bytes = std::fs::read(&path).at(&path)?;
        Ok((Self::parse(dir, &bytes)?, bytes))
    }

    pub(crate) fn parse(dir: &Path, bytes: &[u8]) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| IndexError::BadManifest {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let found = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&found) {
            return Err(IndexError::FormatVersion {
                path: dir.to_path_buf(),
                found,
                oldest: OLDEST_FORMAT_VERSION,
                expected: FORMAT_VERSION,
            });
        }
        // Written before `embed_first`: the same in words.
        let legacy = value
            .get("embedding")
            .and_then(|e| e.get("scope")?.as_str())
            .and_then(wikirag_core::legacy_embed_first);
        let mut manifest: Manifest =
            serde_json::from_value(value).map_err(|e| IndexError::BadManifest {
                path,
                message: e.to_string(),
            })?;
        if let Some(e) = manifest.embedding.as_mut()
            && e.embed_first.is_none()
        {
            e.embed_first = legacy;
        }
        Ok(manifest)
    }

    /// Writes the manifest into `dir` with the size and checksum of every other file there,
    /// and its own checksum beside it (`manifest.sha256`). Each file is replaced atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        self.write_after(dir, None)
    }

    /// [`Manifest::write`] for a new generation of an index published with `previous`: a
    /// segment file it shares with the previous generation (tantivy never rewrites one) must
    /// still be what was published, or the damage would be recorded as whole.
    pub fn write_after(&self, dir: &Path, previous: Option<&Manifest>) -> Result<()> {
        let mut manifest = self.clone();
        manifest.files = crate::checksum::sum_dir(dir)?;
        if let Some(previous) = previous {
            for (name, sum) in &manifest.files {
                let immutable = !name.contains('/')
                    && !matches!(
                        name.as_str(),
                        "meta.json" | ".managed.json" | wikirag_core::blocks::BLOCKS_FILE
                    );
                if let Some(old) = previous.files.get(name)
                    && immutable
                    && old != sum
                {
                    return Err(IndexError::Damaged {
                        path: dir.to_path_buf(),
                        detail: format!(
                            "{name}: its SHA-256 is {}, published as {} (damaged before this update; nothing was published)",
                            sum.sha256, old.sha256
                        ),
                    });
                }
            }
        }
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        crate::layout::write_atomically(&dir.join(MANIFEST_FILE), &json)?;
        crate::checksum::write_manifest_sum(dir, &json)
    }
}

/// Refuses `wikis` in one index when two of them have the same tag
/// ([`wikirag_core::tag_clash`]).
pub fn check_wikis<'a>(path: &Path, wikis: impl IntoIterator<Item = &'a str>) -> Result<()> {
    match wikirag_core::tag_clash(wikis) {
        Some((first, second)) => Err(IndexError::WikiClash {
            path: path.to_path_buf(),
            first,
            second,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats 4 (bare page ids) and 5 (page keys) are read, each numbering pages its way;
    /// anything else is refused with the range this build reads.
    #[test]
    fn formats_four_and_five_are_read_others_refused() {
        let dir = Path::new("/idx");
        let manifest = Manifest::new(
            vec!["en".into()],
            Vec::new(),
            Counts::default(),
            BuildParams::default(),
            BTreeMap::new(),
            None,
        );
        let mut value = serde_json::to_value(&manifest).unwrap();
        for (version, ids) in [
            (4, Some(wikirag_core::PageIds::Raw)),
            (5, Some(wikirag_core::PageIds::Keyed)),
            (3, None),
            (6, None),
        ] {
            value["format_version"] = version.into();
            let parsed = Manifest::parse(dir, &serde_json::to_vec(&value).unwrap());
            match ids {
                Some(ids) => assert_eq!(parsed.unwrap().page_ids(), ids),
                None => {
                    let err = parsed.unwrap_err().to_string();
                    assert!(err.contains("reads formats 4 to 5"), "{err}");
                }
            }
        }
    }
}
