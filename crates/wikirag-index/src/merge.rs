//! The tantivy side of `wikirag merge`: one index from shards built apart (the work units of
//! a distributed build). Segments are adopted, not rewritten: each shard's immutable segment
//! files are hard-linked (copied across file systems) into the staging directory and one
//! `meta.json` lists them all. BM25 statistics are summed over segments at search time, so
//! the merged index scores every sentence as one build of the same pages would.

use crate::checksum::FileSum;
use crate::error::{Context, IndexError, Result};
use crate::manifest::Manifest;
use crate::schema::Fields;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tantivy::{Index, IndexMeta};

/// What adopting the shards' segments did.
#[derive(Debug)]
pub struct Adopted {
    /// Segment files adopted, with the size and SHA-256 their shard published for them (the
    /// merged manifest must find them unchanged).
    pub files: BTreeMap<String, FileSum>,
    /// Segments adopted.
    pub segments: usize,
    /// Files hard-linked rather than copied.
    pub linked: usize,
}

/// Adopts every segment of `shards` (published indexes, their manifests read and checked by
/// the caller as `manifests`) into the empty directory `dir`. Refuses shards whose schemas
/// differ or that hold the same page of the same wiki (each page must come from one unit).
pub fn adopt_segments(dir: &Path, shards: &[(PathBuf, Manifest)]) -> Result<Adopted> {
    let mut metas: Vec<IndexMeta> = Vec::with_capacity(shards.len());
    let mut owner: HashMap<(String, u64), usize> = HashMap::new();
    for (i, (shard, _)) in shards.iter().enumerate() {
        let index = Index::open_in_dir(shard).at(shard)?;
        let meta = index.load_metas().at(shard)?;
        if let Some(first) = metas.first()
            && serde_json::to_value(&first.schema).ok() != serde_json::to_value(&meta.schema).ok()
        {
            return Err(IndexError::Merge {
                path: shard.clone(),
                message: format!(
                    "its schema differs from {}'s (built by another wikirag version?)",
                    shards[0].0.display()
                ),
            });
        }
        let fields = Fields::for_index(&index.schema());
        for (key, _) in crate::update::read_pages(&index, &fields, shard)? {
            if let Some(&other) = owner.get(&key) {
                return Err(IndexError::Merge {
                    path: shard.clone(),
                    message: format!(
                        "page {} of {} is also in {}: shards must hold disjoint pages (parts of one dump, or dumps of different wikis)",
                        key.1,
                        if key.0.is_empty() { "its wiki" } else { &key.0 },
                        shards[other].0.display()
                    ),
                });
            }
            owner.insert(key, i);
        }
        metas.push(meta);
    }
    let mut files = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut linked = 0;
    let mut segments = Vec::new();
    for ((shard, manifest), meta) in shards.iter().zip(&metas) {
        for segment in &meta.segments {
            let mut parts: Vec<PathBuf> = segment.list_files().into_iter().collect();
            parts.sort();
            for rel in parts {
                let from = shard.join(&rel);
                if !from.exists() {
                    continue; // components a segment does not have (no deletes, …)
                }
                let name = rel.to_string_lossy().into_owned();
                let to = dir.join(&rel);
                if std::fs::hard_link(&from, &to).is_ok() {
                    linked += 1;
                } else {
                    std::fs::copy(&from, &to).at(&to)?;
                }
                if let Some(sum) = manifest.files.get(&name) {
                    files.insert(name.clone(), sum.clone());
                }
                names.push(name);
            }
            segments.push(segment.clone());
        }
    }
    let first = metas.first().ok_or_else(|| IndexError::Merge {
        path: dir.to_path_buf(),
        message: "no shard to merge".into(),
    })?;
    let merged = IndexMeta {
        index_settings: first.index_settings.clone(),
        segments,
        schema: first.schema.clone(),
        opstamp: metas.iter().map(|m| m.opstamp).max().unwrap_or(0),
        payload: None,
    };
    let count = merged.segments.len();
    let mut json = serde_json::to_vec_pretty(&merged).expect("index meta serialises");
    json.push(b'\n');
    crate::layout::write_atomically(&dir.join("meta.json"), &json)?;
    // tantivy's list of the files it manages: a later update's merges delete adopted
    // segments it replaced only if they are listed here.
    names.push("meta.json".to_string());
    let managed = serde_json::to_vec(&names).expect("names serialise");
    crate::layout::write_atomically(&dir.join(".managed.json"), &managed)?;
    Ok(Adopted {
        files,
        segments: count,
        linked,
    })
}

/// The published files of the shards a merged index took unchanged, as a manifest the
/// merged one is written after ([`Manifest::write_after`] refuses one that changed since
/// its shard was published).
pub fn adopted_manifest(template: &Manifest, adopted: &Adopted) -> Manifest {
    let mut m = template.clone();
    m.files = adopted.files.clone();
    m
}
