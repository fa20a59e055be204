//! Updating a published index from a newer dump: per-page replacement on a new generation.
//!
//! [`IndexUpdater`] works on a [`crate::Generation`] (a copy of the published index beside it,
//! see [`crate::staging`]): it deletes a changed page's documents and adds its new ones (built
//! by [`crate::documents`], as a build would), then the generation is published in one swap.

use crate::documents::{Redirect, article_documents, redirect_document};
use crate::error::{Context, IndexError, Result};
use crate::manifest::Manifest;
use crate::schema::{self, Fields, KIND_ALIAS, KIND_PAGE, KIND_SENTENCE};
use crate::staging::Generation;
use crate::writer::WriterOptions;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tantivy::collector::{Count, DocSetCollector};
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use wikirag_core::Article;

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
        let mut fields = Fields::for_index(&index.schema());
        fields.page_ids = manifest.page_ids();
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

    /// What the index stores (and its vector rows hold) for page `page_id` of `wiki`: its page
    /// key, or the id itself in a format-4 index.
    pub fn stored_page_id(&self, wiki: &str, page_id: u64) -> u64 {
        self.fields.page_ids.stored(wiki, page_id)
    }

    /// Refuses a wiki whose page keys would coincide with those of a wiki of the index or of
    /// `others` (the update's dumps read before).
    pub fn check_wiki<'a>(
        &'a self,
        wiki: &'a str,
        others: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        self.manifest.check_wiki(self.dir(), wiki, others)
    }

    /// Removes every document of page `page_id` of `wiki` (its sentences, page and redirect
    /// documents); documents added before this call in the same update go too.
    pub fn remove_page(&self, wiki: &str, page_id: u64) -> Result<()> {
        let page_id = self.stored_page_id(wiki, page_id);
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
pub(crate) fn read_pages(
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
            let Some(stored) = doc.get_first(fields.page_id).and_then(|v| v.as_u64()) else {
                // Redirects of indexes made before updates carry no page id.
                continue;
            };
            let page_id = match fields.page_ids {
                wikirag_core::PageIds::Keyed => wikirag_core::page_id_of_key(stored),
                wikirag_core::PageIds::Raw => stored,
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
