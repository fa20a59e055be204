//! Updating a published index from a newer dump: generations and per-page replacement.
//!
//! An update never writes into the published directory. [`Generation::begin`] makes a copy
//! of it beside it (`.NAME.tmp-PID`: tantivy's segment files hard-linked, since tantivy never
//! rewrites one; the manifest and the vectors copied), the update changes the copy, and
//! [`Generation::publish`] swaps copy and published directory in one atomic
//! `renameat2(RENAME_EXCHANGE)` (Linux; elsewhere two renames). Until that call the
//! published index is untouched and searchable; a crash or Ctrl-C before it leaves only the
//! copy, which the next update or build removes. A reader that opened the old generation keeps
//! its files (open files and maps outlive the rename).

use crate::error::{Context, IndexError, Result};
use crate::manifest::Manifest;
use crate::schema::{self, Fields, KIND_ALIAS, KIND_PAGE, KIND_SENTENCE};
use crate::writer::{Redirect, WriterOptions, article_documents, redirect_document};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tantivy::collector::{Count, DocSetCollector};
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use wikirag_core::Article;

/// A new generation of an index being written beside the published one.
pub struct Generation {
    dest: PathBuf,
    tmp: PathBuf,
    published: bool,
    /// The generation this one starts from: published over only if it is still there.
    snapshot: crate::lock::Snapshot,
    /// Last: no other writer of `dest` until this generation is published or dropped.
    _lock: crate::lock::WriterLock,
}

impl Generation {
    /// Copies the published index at `dest` into a temporary directory beside it, for `what`
    /// ("update", "relink"). Holds the index's writer lock until published or dropped.
    pub fn begin(dest: &Path, what: &str) -> Result<Generation> {
        let lock = crate::lock::WriterLock::acquire(dest, what)?;
        let (parent, name) = crate::writer::parent_and_name(dest);
        // First, so an index a killed publish set aside is back in place.
        crate::writer::remove_stale_temp_dirs(&parent, &name);
        let snapshot = crate::lock::Snapshot::take(dest);
        Manifest::read(dest)?;
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        let generation = Generation {
            dest: dest.to_path_buf(),
            tmp,
            published: false,
            snapshot,
            _lock: lock,
        };
        copy_dir(dest, &generation.tmp, true)?;
        Ok(generation)
    }

    /// The directory of the new generation.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Puts the new generation in place of the published one, atomically, and removes the
    /// old one.
    pub fn publish(mut self) -> Result<PathBuf> {
        sync_dir(&self.tmp);
        self.snapshot.still_at(&self.dest)?;
        exchange(&self.tmp, &self.dest)?;
        self.published = true;
        sync_dir(self.dest.parent().unwrap_or(Path::new(".")));
        // `tmp` now holds the previous generation.
        if let Err(e) = std::fs::remove_dir_all(&self.tmp) {
            tracing::warn!(dir = %self.tmp.display(), error = %e, "could not remove the previous generation");
        }
        Ok(self.dest.clone())
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        if !self.published
            && let Err(e) = std::fs::remove_dir_all(&self.tmp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.tmp.display(), error = %e, "could not remove an unpublished generation");
        }
    }
}

/// Copies `from` into `to` (created): tantivy's immutable files hard-linked when `link`,
/// everything wikirag rewrites in place (manifest, vectors) copied; lock files left out.
fn copy_dir(from: &Path, to: &Path, link: bool) -> Result<()> {
    std::fs::create_dir_all(to).at(to)?;
    for entry in std::fs::read_dir(from).at(from)? {
        let entry = entry.at(from)?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        let src = entry.path();
        let dst = to.join(&name);
        let kind = entry.file_type().at(&src)?;
        if kind.is_dir() {
            // `vectors/`: appended to by updates, so copied.
            copy_dir(&src, &dst, false)?;
        } else if name_str.ends_with(".lock") {
            continue;
        } else if link && name_str != crate::manifest::MANIFEST_FILE {
            if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst).at(&dst)?;
            }
        } else {
            std::fs::copy(&src, &dst).at(&dst)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Swaps two directories atomically where the system can.
pub(crate) fn exchange(new: &Path, dest: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let a = std::ffi::CString::new(new.as_os_str().as_bytes()).map_err(|_| IndexError::Io {
            path: new.to_path_buf(),
            source: std::io::Error::other("path holds a NUL byte"),
        })?;
        let b =
            std::ffi::CString::new(dest.as_os_str().as_bytes()).map_err(|_| IndexError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::other("path holds a NUL byte"),
            })?;
        #[allow(unsafe_code)]
        // SAFETY: both are valid NUL-terminated paths; renameat2 reads them only.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        // File systems without RENAME_EXCHANGE say EINVAL; fall back below.
        if err.raw_os_error() != Some(libc::EINVAL) && err.raw_os_error() != Some(libc::ENOSYS) {
            return Err(err).at(dest);
        }
    }
    two_renames(new, dest, |a, b| std::fs::rename(a, b))
}

/// The swap where the file system cannot exchange: between the two renames the index is
/// missing for an instant (the previous generation is then at `.NAME.tmp-PID.old`, which the
/// next writer puts back, and which opening the missing index names). A second rename that
/// fails puts the previous generation back at once.
fn two_renames(
    new: &Path,
    dest: &Path,
    rename: impl Fn(&Path, &Path) -> std::io::Result<()>,
) -> Result<()> {
    let mut old = new.as_os_str().to_owned();
    old.push(".old");
    let old = PathBuf::from(old);
    rename(dest, &old).at(dest)?;
    if let Err(e) = rename(new, dest) {
        if let Err(back) = rename(&old, dest) {
            tracing::error!(index = %old.display(), error = %back, "could not put the previous index back");
        }
        return Err(e).at(dest);
    }
    rename(&old, new).at(new)?;
    Ok(())
}

/// What the index holds for a page before an update.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedPage {
    pub revision_id: Option<u64>,
    pub redirect: bool,
    pub title: String,
}

/// The tantivy side of an update, on a new [`Generation`].
pub struct IndexUpdater {
    index: Index,
    writer: Option<IndexWriter<TantivyDocument>>,
    fields: Fields,
    manifest: Manifest,
    pages: HashMap<(String, u64), IndexedPage>,
    max_docs_per_merge: usize,
    /// Last: dropped (and removed, when unpublished) after the writer has let go of it.
    generation: Generation,
}

impl IndexUpdater {
    /// Starts an update of the index at `dest`: copies it into a new generation and reads
    /// which pages (and revisions) it holds.
    pub fn open(dest: &Path, options: &WriterOptions) -> Result<IndexUpdater> {
        let generation = Generation::begin(dest, "update")?;
        let manifest = Manifest::read_checked(dest)?;
        let dir = generation.dir().to_path_buf();
        // Read through the block checks: damage in what the update keeps is refused.
        let (index, verified) = crate::verified::open_index(&dir)?;
        schema::register_analyzers(&index);
        let fields = Fields::for_index(&index.schema());
        if index.schema().get_field("wiki").is_err() {
            return Err(IndexError::NotUpdatable {
                path: dest.to_path_buf(),
                reason: "it was built before updates were supported (its documents do not say which wiki they come from); rebuild it once".into(),
            });
        }
        let pages =
            crate::error::guard(&dir, || read_pages(&index, &fields, &dir)).map_err(|e| {
                match verified.as_ref().and_then(|v| v.damage()) {
                    Some(damage) => IndexError::Damaged {
                        path: dest.to_path_buf(),
                        detail: format!("{damage} (damaged)"),
                    },
                    None => e,
                }
            })?;
        let memory = options.memory_mb.max(16) << 20;
        let writer = index.writer(memory).at(&dir)?;
        // Only the merges `commit` asks for: a background merge of a segment it wants to merge
        // would make that request fail.
        writer.set_merge_policy(Box::new(NoMergePolicy));
        Ok(IndexUpdater {
            generation,
            index,
            writer: Some(writer),
            fields,
            manifest,
            pages,
            max_docs_per_merge: options.max_docs_per_merge,
        })
    }

    /// The new generation's directory (vectors are updated there too).
    pub fn dir(&self) -> &Path {
        self.generation.dir()
    }

    /// The manifest before the update.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Pages (articles and redirects) the index held before the update, by (wiki, page id).
    pub fn pages(&self) -> &HashMap<(String, u64), IndexedPage> {
        &self.pages
    }

    fn writer(&self) -> &IndexWriter<TantivyDocument> {
        self.writer.as_ref().expect("writer lives until commit")
    }

    /// Removes every document of page `page_id` of `wiki` (its sentences, page and redirect
    /// documents); documents added before this call in the same update go too.
    pub fn remove_page(&self, wiki: &str, page_id: u64) -> Result<()> {
        let q: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (
                Occur::Must,
                term_query(Term::from_field_text(self.fields.wiki, wiki)),
            ),
            (
                Occur::Must,
                term_query(Term::from_field_u64(self.fields.page_id, page_id)),
            ),
        ]));
        self.writer().delete_query(q).at(self.dir())?;
        Ok(())
    }

    /// Adds an article of `wiki` (remove its previous version first).
    pub fn add_article(&self, wiki: &str, article: &Article) -> Result<()> {
        for doc in article_documents(&self.fields, wiki, article) {
            self.writer().add_document(doc).at(self.dir())?;
        }
        Ok(())
    }

    /// Adds a redirect page of `wiki`.
    pub fn add_redirect(&self, wiki: &str, redirect: &Redirect<'_>) -> Result<()> {
        let doc = redirect_document(&self.fields, wiki, redirect);
        self.writer().add_document(doc).at(self.dir())?;
        Ok(())
    }

    /// Commits the changes and merges every segment that lost documents, so BM25 statistics
    /// (document frequencies, lengths) are those of the new pages alone: a search answers
    /// exactly as on an index built from the newer dump. Returns the counts of the result.
    pub fn commit(&mut self) -> Result<crate::manifest::Counts> {
        let dir = self.dir().to_path_buf();
        let mut writer = self.writer.take().expect("commit once");
        writer.commit().at(&dir)?;
        let metas = self.index.searchable_segment_metas().at(&dir)?;
        let mut groups: Vec<Vec<tantivy::index::SegmentId>> = Vec::new();
        let mut docs = 0usize;
        for meta in metas.iter().filter(|m| m.has_deletes()) {
            if groups.is_empty() || docs + meta.num_docs() as usize > self.max_docs_per_merge {
                groups.push(Vec::new());
                docs = 0;
            }
            docs += meta.num_docs() as usize;
            groups.last_mut().expect("pushed").push(meta.id());
        }
        for group in groups {
            // A segment whose documents were all deleted is dropped at commit already; a
            // group of one is merged into itself, which purges its deletions.
            writer.merge(&group).wait().at(&dir)?;
        }
        writer.wait_merging_threads().at(&dir)?;
        counts(&self.index, &self.fields, &dir)
    }

    /// Writes the manifest into the new generation and publishes it.
    pub fn publish(self, manifest: &Manifest) -> Result<PathBuf> {
        if self.writer.is_some() {
            return Err(IndexError::Io {
                path: self.dir().to_path_buf(),
                source: std::io::Error::other("publish before commit"),
            });
        }
        manifest.write_after(self.dir(), Some(&self.manifest))?;
        drop(self.index);
        self.generation.publish()
    }
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

/// A searcher over the index as last committed.
fn searcher(index: &Index, dir: &Path) -> Result<tantivy::Searcher> {
    let reader: tantivy::IndexReader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .at(dir)?;
    Ok(reader.searcher())
}

/// (wiki, page id) → revision, kind and title of every page and redirect document.
fn read_pages(
    index: &Index,
    fields: &Fields,
    dir: &Path,
) -> Result<HashMap<(String, u64), IndexedPage>> {
    let searcher = searcher(index, dir)?;
    let mut pages = HashMap::new();
    for kind in [KIND_PAGE, KIND_ALIAS] {
        let q = TermQuery::new(
            Term::from_field_text(fields.kind, kind),
            IndexRecordOption::Basic,
        );
        for addr in searcher.search(&q, &DocSetCollector).at(dir)? {
            let doc: TantivyDocument = searcher.doc(addr).at(dir)?;
            let Some(page_id) = doc.get_first(fields.page_id).and_then(|v| v.as_u64()) else {
                // Redirects of indexes made before updates carry no page id.
                continue;
            };
            let wiki = doc
                .get_first(fields.wiki)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let title = doc
                .get_first(fields.title)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            pages.insert(
                (wiki, page_id),
                IndexedPage {
                    revision_id: doc.get_first(fields.revision_id).and_then(|v| v.as_u64()),
                    redirect: kind == KIND_ALIAS,
                    title,
                },
            );
        }
    }
    Ok(pages)
}

/// Articles, redirects and sentences (per language) of an index, counted.
pub(crate) fn counts(
    index: &Index,
    fields: &Fields,
    dir: &Path,
) -> Result<crate::manifest::Counts> {
    let searcher = searcher(index, dir)?;
    let count = |q: &dyn Query| searcher.search(q, &Count).at(dir);
    let kind = |k: &str| {
        TermQuery::new(
            Term::from_field_text(fields.kind, k),
            IndexRecordOption::Basic,
        )
    };
    let mut c = crate::manifest::Counts {
        articles: count(&kind(KIND_PAGE))? as u64,
        redirects: count(&kind(KIND_ALIAS))? as u64,
        sentences: count(&kind(KIND_SENTENCE))? as u64,
        ..Default::default()
    };
    // The languages present: the terms of the `lang` field.
    let mut langs = Vec::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(fields.lang).at(dir)?;
        let mut stream = inverted.terms().stream().at(dir)?;
        while stream.advance() {
            let lang = String::from_utf8_lossy(stream.key()).into_owned();
            if !langs.contains(&lang) {
                langs.push(lang);
            }
        }
    }
    for lang in langs {
        let q = BooleanQuery::new(vec![
            (Occur::Must, Box::new(kind(KIND_SENTENCE)) as Box<dyn Query>),
            (
                Occur::Must,
                term_query(Term::from_field_text(fields.lang, &lang)),
            ),
        ]);
        let n = count(&q)? as u64;
        if n > 0 {
            c.sentences_by_language.insert(lang, n);
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_failed_second_rename_puts_the_previous_index_back() {
        let tmp = tempfile::tempdir().unwrap();
        let (new, dest) = (tmp.path().join(".idx.tmp-1"), tmp.path().join("idx"));
        std::fs::create_dir(&new).unwrap();
        std::fs::write(new.join("which"), "new").unwrap();
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("which"), "old").unwrap();
        let calls = Cell::new(0);
        let err = two_renames(&new, &dest, |a, b| {
            calls.set(calls.get() + 1);
            if calls.get() == 2 {
                return Err(std::io::Error::other("injected"));
            }
            std::fs::rename(a, b)
        })
        .unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
        assert_eq!(std::fs::read_to_string(dest.join("which")).unwrap(), "old");
        // Without a fault: swapped.
        two_renames(&new, &dest, |a, b| std::fs::rename(a, b)).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("which")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(new.join("which")).unwrap(), "old");
    }
}
