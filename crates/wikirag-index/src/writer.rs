//! Building an index from nothing: documents go into a [`Staging`] directory that is published
//! only when complete, so an interrupted build never leaves a half index in place.

use crate::documents::{Redirect, article_documents, redirect_document};
use crate::error::{Context, IndexError, Result};
use crate::lock::check_replaceable;
use crate::manifest::Manifest;
use crate::schema::{self, Fields};
use crate::staging::Staging;
use std::path::{Path, PathBuf};
use tantivy::indexer::LogMergePolicy;
use tantivy::{Index, IndexWriter, TantivyDocument};
use wikirag_core::{Article, Language};

/// Options of the index writer.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Indexing threads inside tantivy (0 = tantivy's choice, at most 4).
    pub threads: usize,
    /// Total memory budget of the writer, in MiB.
    pub memory_mb: usize,
    /// Replace an existing index at the destination.
    pub overwrite: bool,
    /// Segments holding more documents than this are not merged further.
    pub max_docs_per_merge: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            threads: 0,
            memory_mb: 256,
            overwrite: false,
            max_docs_per_merge: 1_000_000,
        }
    }
}

/// Writes one index. Dropping it without [`IndexBuilder::publish`] removes the temporary
/// directory and leaves the destination untouched.
pub struct IndexBuilder {
    writer: Option<IndexWriter<TantivyDocument>>,
    fields: Fields,
    /// The wiki of the articles being added.
    wiki: String,
    /// Every wiki met so far (their page keys must differ: [`crate::check_wikis`]).
    wikis: Vec<String>,
    /// After the writer: its directory is removed (unless published) once the writer is gone.
    staging: Staging,
}

impl IndexBuilder {
    /// Starts a build of the index at `dest`. An existing `dest` is refused unless
    /// `options.overwrite`, and even then unless it is a wikirag index or an empty directory;
    /// another writer of the same path is refused ([`IndexError::Busy`]).
    pub fn create(dest: &Path, options: &WriterOptions) -> Result<IndexBuilder> {
        let what = if options.overwrite {
            "index --force"
        } else {
            "index"
        };
        // An index a killed publish set aside is back in place after this (and protected by
        // the checks below).
        let staging = Staging::begin(dest, what)?;
        if std::fs::symlink_metadata(dest).is_ok() && !options.overwrite {
            return Err(IndexError::Exists {
                path: dest.to_path_buf(),
            });
        }
        check_replaceable(dest)?;
        let tmp = staging.dir().to_path_buf();
        let (schema, fields) = schema::build_schema();
        let index = Index::create_in_dir(&tmp, schema).at(&tmp)?;
        schema::register_analyzers(&index);
        let memory = options.memory_mb.max(16) << 20;
        let writer = if options.threads == 0 {
            index.writer(memory)
        } else {
            let threads = options.threads.min(8);
            index.writer_with_num_threads(threads, memory.max(threads * (15 << 20)))
        }
        .at(&tmp)?;
        // Merging ever-larger segments makes memory grow with the dump; segments over the cap
        // are left as they are, so the memory of a build does not depend on its size.
        let mut policy = LogMergePolicy::default();
        policy.set_max_docs_before_merge(options.max_docs_per_merge);
        writer.set_merge_policy(Box::new(policy));
        Ok(IndexBuilder {
            writer: Some(writer),
            fields,
            wiki: String::new(),
            wikis: Vec::new(),
            staging,
        })
    }

    fn writer(&self) -> &IndexWriter<TantivyDocument> {
        self.writer.as_ref().expect("writer lives until publish")
    }

    /// Sets the wiki (`frwiki`) the next articles and redirects come from; refuses one whose
    /// page keys would coincide with those of a wiki met before.
    pub fn set_wiki(&mut self, wiki: &str) -> Result<()> {
        if !self.wikis.iter().any(|w| w == wiki) {
            crate::check_wikis(
                self.staging.dest(),
                self.wikis.iter().map(String::as_str).chain([wiki]),
            )?;
            self.wikis.push(wiki.to_string());
        }
        self.wiki = wiki.to_string();
        Ok(())
    }

    /// What the index stores (and its vector rows hold) for page `page_id` of the current
    /// wiki: its page key.
    pub fn stored_page_id(&self, page_id: u64) -> u64 {
        self.fields.page_ids.stored(&self.wiki, page_id)
    }

    /// Adds an article: one document per sentence and one for the page title.
    pub fn add_article(&self, article: &Article) -> Result<()> {
        for doc in article_documents(&self.fields, &self.wiki, article) {
            self.writer().add_document(doc).at(self.staging.dir())?;
        }
        Ok(())
    }

    /// Records a redirect: a search for `alias` finds the article titled `target`.
    pub fn add_redirect(&self, alias: &str, target: &str, language: &Language) -> Result<()> {
        self.add_redirect_page(&Redirect {
            alias,
            target,
            language,
            page_id: 0,
            revision_id: None,
        })
    }

    /// Records a redirect page (its id and revision let updates replace it).
    pub fn add_redirect_page(&self, redirect: &Redirect<'_>) -> Result<()> {
        let doc = redirect_document(&self.fields, &self.wiki, redirect);
        self.writer().add_document(doc).at(self.staging.dir())?;
        Ok(())
    }

    /// Commits, merges, writes the manifest and renames the directory into place.
    pub fn publish(mut self, manifest: &Manifest) -> Result<PathBuf> {
        let mut writer = self.writer.take().expect("publish once");
        let tmp = self.staging.dir().to_path_buf();
        writer.commit().at(&tmp)?;
        writer.wait_merging_threads().at(&tmp)?;
        manifest.write(&tmp)?;
        // Only over what the build started from, and never over anything but an index.
        self.staging.publish()
    }

    /// The temporary directory being written (for tests and messages).
    pub fn temp_dir(&self) -> &Path {
        self.staging.dir()
    }
}

impl Drop for IndexBuilder {
    fn drop(&mut self) {
        // The writer's threads stop before `staging` removes their directory.
        if let Some(mut w) = self.writer.take() {
            let _ = w.rollback();
            drop(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: &str) -> Manifest {
        Manifest {
            format_version: crate::manifest::FORMAT_VERSION,
            wikirag_version: version.into(),
            created_unix: 0,
            languages: vec!["en".into()],
            dumps: Vec::new(),
            counts: Default::default(),
            params: Default::default(),
            durations: Default::default(),
            embedding: None,
            generation: 0,
            updates: Vec::new(),
            files: Default::default(),
        }
    }

    fn publish(dest: &Path, version: &str, overwrite: bool) -> Result<PathBuf> {
        let b = IndexBuilder::create(
            dest,
            &WriterOptions {
                overwrite,
                memory_mb: 16,
                threads: 1,
                ..WriterOptions::default()
            },
        )?;
        b.publish(&manifest(version))
    }

    /// A publish killed between its two renames (older wikirag) left no index, only
    /// `.NAME.old`: the next build puts it back (and then refuses to replace it without
    /// --force) instead of failing on a directory it does not name.
    #[test]
    fn an_index_set_aside_by_a_killed_publish_is_restored() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("idx");
        publish(&dest, "first", false).unwrap();
        std::fs::rename(&dest, tmp.path().join(".idx.old")).unwrap();
        // Until then, opening the path names the copy instead of "not an index".
        let err = Manifest::read(&dest).unwrap_err();
        assert!(matches!(err, IndexError::SetAside { .. }), "{err}");
        assert!(err.to_string().contains(".idx.old"), "{err}");
        let Err(err) = publish(&dest, "second", false) else {
            panic!("restored, so it exists")
        };
        assert!(matches!(err, IndexError::Exists { .. }), "{err}");
        assert_eq!(Manifest::read(&dest).unwrap().wikirag_version, "first");
        assert!(!tmp.path().join(".idx.old").exists());
        // The same for the set-aside name of a dead process's swap.
        std::fs::rename(&dest, tmp.path().join(".idx.tmp-4194303.old")).unwrap();
        assert!(publish(&dest, "third", false).is_err(), "restored");
        assert_eq!(Manifest::read(&dest).unwrap().wikirag_version, "first");
    }

    /// Replacing an index swaps the directories: afterwards only the new one is left.
    #[test]
    fn a_forced_build_replaces_the_index_and_leaves_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("idx");
        publish(&dest, "first", false).unwrap();
        publish(&dest, "second", true).unwrap();
        assert_eq!(Manifest::read(&dest).unwrap().wikirag_version, "second");
        let names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["idx"]);
    }
}
