//! Building an index: documents go into a temporary directory that is published by rename only
//! when complete, so an interrupted build never leaves a half index in place.

use crate::error::{Context, IndexError, Result};
use crate::manifest::Manifest;
use crate::schema::{self, Fields, KIND_ALIAS, KIND_PAGE, KIND_SENTENCE};
use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tantivy::indexer::LogMergePolicy;
use tantivy::tokenizer::{TextAnalyzer, TokenStream};
use tantivy::{Index, IndexWriter, TantivyDocument};
use wikirag_core::{Article, Language, SentenceKind};

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
    dest: PathBuf,
    tmp: PathBuf,
    writer: Option<IndexWriter<TantivyDocument>>,
    fields: Fields,
    published: bool,
    /// The wiki of the articles being added.
    wiki: String,
    /// What `dest` held when the build began: published over only if it still does.
    snapshot: crate::lock::Snapshot,
    /// Last: held until the build is published or dropped.
    _lock: crate::lock::WriterLock,
}

impl IndexBuilder {
    /// Starts a build of the index at `dest`. An existing `dest` is refused unless
    /// `options.overwrite`, and even then unless it is a wikirag index or an empty directory;
    /// another writer of the same path is refused ([`IndexError::Busy`]).
    pub fn create(dest: &Path, options: &WriterOptions) -> Result<IndexBuilder> {
        let (parent, name) = parent_and_name(dest);
        let lock = crate::lock::WriterLock::acquire(
            dest,
            if options.overwrite {
                "index --force"
            } else {
                "index"
            },
        )?;
        // First, so an index a killed publish set aside is back in place (and protected by
        // the check below).
        remove_stale_temp_dirs(&parent, &name);
        if std::fs::symlink_metadata(dest).is_ok() && !options.overwrite {
            return Err(IndexError::Exists {
                path: dest.to_path_buf(),
            });
        }
        crate::lock::check_replaceable(dest)?;
        let snapshot = crate::lock::Snapshot::take(dest);
        std::fs::create_dir_all(&parent).at(&parent)?;
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        std::fs::create_dir_all(&tmp).at(&tmp)?;
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
            dest: dest.to_path_buf(),
            tmp,
            writer: Some(writer),
            fields,
            published: false,
            wiki: String::new(),
            snapshot,
            _lock: lock,
        })
    }

    fn writer(&self) -> &IndexWriter<TantivyDocument> {
        self.writer.as_ref().expect("writer lives until publish")
    }

    /// Sets the wiki (`frwiki`) the next articles and redirects come from.
    pub fn set_wiki(&mut self, wiki: &str) {
        self.wiki = wiki.to_string();
    }

    /// Adds an article: one document per sentence and one for the page title.
    pub fn add_article(&self, article: &Article) -> Result<()> {
        for doc in article_documents(&self.fields, &self.wiki, article) {
            self.writer().add_document(doc).at(&self.tmp)?;
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
        self.writer().add_document(doc).at(&self.tmp)?;
        Ok(())
    }

    /// Commits, merges, writes the manifest and renames the directory into place.
    pub fn publish(mut self, manifest: &Manifest) -> Result<PathBuf> {
        let mut writer = self.writer.take().expect("publish once");
        writer.commit().at(&self.tmp)?;
        writer.wait_merging_threads().at(&self.tmp)?;
        manifest.write(&self.tmp)?;
        // Only over what the build started from, and never over anything but an index.
        self.snapshot.still_at(&self.dest)?;
        crate::lock::check_replaceable(&self.dest)?;
        if std::fs::symlink_metadata(&self.dest).is_ok() {
            // One atomic swap: a reader finds the old index or the new one at `dest`, never
            // nothing (a SIGKILL between two renames used to leave no index at all).
            crate::update::exchange(&self.tmp, &self.dest)?;
            self.published = true;
            if let Err(e) = std::fs::remove_dir_all(&self.tmp) {
                tracing::warn!(dir = %self.tmp.display(), error = %e, "could not remove the replaced index");
            }
        } else {
            std::fs::rename(&self.tmp, &self.dest).at(&self.dest)?;
            self.published = true;
        }
        Ok(self.dest.clone())
    }

    /// The temporary directory being written (for tests and messages).
    pub fn temp_dir(&self) -> &Path {
        &self.tmp
    }
}

/// The directory an index lives in and its name there (temporary copies go beside it).
pub(crate) fn parent_and_name(dest: &Path) -> (PathBuf, String) {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".into());
    (parent, name)
}

/// A redirect page.
#[derive(Clone, Copy, Debug)]
pub struct Redirect<'a> {
    pub alias: &'a str,
    pub target: &'a str,
    pub language: &'a Language,
    pub page_id: u64,
    pub revision_id: Option<u64>,
}

/// The documents of an article: one for the page (title lookup, no scored field) and one per
/// sentence.
pub(crate) fn article_documents(f: &Fields, wiki: &str, article: &Article) -> Vec<TantivyDocument> {
    let slot = schema::slot(&article.language);
    let (text_field, title_field) = f.slot_fields(slot);
    // With the analyser and the title's tokens, only where the index has the field.
    let mut title_words = f.title_words_field(slot).map(|field| {
        let mut analyzer = schema::analyzer(slot);
        let tokens = title_tokens(&mut analyzer, &article.title);
        (field, analyzer, tokens)
    });
    let lang = article.language.code();
    let mut docs = Vec::with_capacity(article.sentences.len() + 1);
    let mut page = TantivyDocument::new();
    page.add_text(f.kind, KIND_PAGE);
    page.add_text(f.lang, lang);
    // Page documents carry no scored field: sentence queries need no kind filter.
    page.add_text(f.title, &article.title);
    page.add_text(f.title_key, schema::title_key(&article.title));
    page.add_u64(f.page_id, article.page_id);
    page.add_text(f.url, &article.url);
    if let Some(rev) = article.revision_id {
        page.add_u64(f.revision_id, rev);
    }
    if let Some(ts) = &article.timestamp {
        page.add_text(f.timestamp, ts);
    }
    page.add_text(f.wiki, wiki);
    docs.push(page);
    for s in &article.sentences {
        let mut doc = TantivyDocument::new();
        doc.add_text(f.kind, KIND_SENTENCE);
        doc.add_text(f.lang, lang);
        doc.add_text(f.text, &s.text);
        // A fact is indexed whole, entity included, with the words people ask for its
        // attribute with (`facts`).
        let indexed = match s.kind {
            SentenceKind::Fact => Cow::Owned(crate::facts::indexed_fact(
                &article.language,
                &article.title,
                &s.text,
            )),
            _ => Cow::Borrowed(s.text.as_str()),
        };
        // The title field scores the page's name once for each of its sentences; its words in
        // the text count apart, so a sentence that repeats the name ("Kenya is a country…")
        // does not outrank, on the name alone, the one that answers ("Its capital is…").
        match title_words.as_mut() {
            Some((field, analyzer, tokens)) => {
                let (rest, repeated) = split_title_words(analyzer, tokens, &indexed);
                doc.add_text(text_field, rest);
                if !repeated.is_empty() {
                    doc.add_text(*field, repeated);
                }
            }
            None => doc.add_text(text_field, indexed),
        }
        doc.add_text(f.title, &article.title);
        doc.add_text(title_field, &article.title);
        doc.add_text(f.section, &s.section);
        doc.add_u64(f.page_id, article.page_id);
        doc.add_u64(f.sentence, u64::from(s.ordinal));
        doc.add_u64(f.sentence_kind, schema::sentence_kind_code(s.kind));
        if let Some(rev) = article.revision_id {
            doc.add_u64(f.revision_id, rev);
        }
        doc.add_text(f.url, &article.url);
        doc.add_text(f.wiki, wiki);
        docs.push(doc);
    }
    docs
}

/// The analysed tokens of a title (stemmed and folded as its language's text is).
fn title_tokens(analyzer: &mut TextAnalyzer, title: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut stream = analyzer.token_stream(title);
    while stream.advance() {
        out.insert(stream.token().text.clone());
    }
    out
}

/// `text` split in two: everything but its words that the analyser makes into a token of the
/// title (those blanked, the rest kept as written, so "femmes" goes with a title "Femme"), and
/// those words as written, space-separated.
pub(crate) fn split_title_words(
    analyzer: &mut TextAnalyzer,
    title: &HashSet<String>,
    text: &str,
) -> (String, String) {
    let mut rest = String::with_capacity(text.len());
    let mut repeated = String::new();
    let mut copied = 0;
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let token = stream.token();
        if !title.contains(&token.text) {
            continue;
        }
        let (from, to) = (token.offset_from, token.offset_to);
        if from < copied || to > text.len() {
            continue;
        }
        rest.push_str(&text[copied..from]);
        rest.push(' ');
        if !repeated.is_empty() {
            repeated.push(' ');
        }
        repeated.push_str(&text[from..to]);
        copied = to;
    }
    rest.push_str(&text[copied..]);
    (rest, repeated)
}

/// The document of a redirect: its alias finds the target's sentences.
pub(crate) fn redirect_document(f: &Fields, wiki: &str, r: &Redirect<'_>) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.kind, KIND_ALIAS);
    doc.add_text(f.lang, r.language.code());
    doc.add_text(f.title, r.alias);
    doc.add_text(f.alias, r.alias);
    doc.add_text(f.title_key, schema::title_key(r.alias));
    doc.add_text(f.target, r.target);
    if r.page_id != 0 {
        doc.add_u64(f.page_id, r.page_id);
    }
    if let Some(rev) = r.revision_id {
        doc.add_u64(f.revision_id, rev);
    }
    doc.add_text(f.wiki, wiki);
    doc
}

/// An index that a publish interrupted between its two renames set aside beside `dest`
/// (`.NAME.old` or `.NAME.tmp-PID.old`, holding a manifest), if there is one.
pub(crate) fn set_aside_copy(dest: &Path) -> Option<PathBuf> {
    let (parent, name) = parent_and_name(dest);
    let prefix = format!(".{name}.tmp-");
    std::fs::read_dir(&parent)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n == format!(".{name}.old") || (n.starts_with(&prefix) && n.ends_with(".old"))
            })
        })
        .find(|p| p.join(crate::manifest::MANIFEST_FILE).is_file())
}

/// Removes `.NAME.tmp-PID` directories left by builds that were killed (no clean-up is possible
/// on SIGKILL) when process PID no longer exists. Only where `/proc` tells.
pub(crate) fn remove_stale_temp_dirs(parent: &Path, name: &str) {
    let dest = parent.join(name);
    // A previous index set aside by a publish that was killed between its two renames (older
    // wikirag: `.NAME.old`; where the file system cannot swap atomically:
    // `.NAME.tmp-PID.old`): when the index itself is missing, it is the index.
    let mut set_aside = vec![parent.join(format!(".{name}.old"))];
    let proc = Path::new("/proc");
    let prefix = format!(".{name}.tmp-");
    let entries: Vec<_> = std::fs::read_dir(parent)
        .map(|e| e.flatten().collect())
        .unwrap_or_default();
    for entry in &entries {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let (pid, old) = match pid.strip_suffix(".old") {
            Some(pid) => (pid, true),
            None => (pid, false),
        };
        let dead = proc.is_dir() && pid.parse::<u32>().is_ok() && !proc.join(pid).exists();
        if old && dead {
            set_aside.push(entry.path());
        } else if dead {
            tracing::info!(dir = %entry.path().display(), "removing a killed build's temporary index");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    for old in set_aside.into_iter().filter(|p| p.is_dir()) {
        if !dest.exists() && old.join(crate::manifest::MANIFEST_FILE).is_file() {
            tracing::warn!(from = %old.display(), to = %dest.display(), "restoring the index a killed publish had set aside");
            if std::fs::rename(&old, &dest).is_ok() {
                continue;
            }
        }
        tracing::info!(dir = %old.display(), "removing an index a killed publish had replaced");
        let _ = std::fs::remove_dir_all(&old);
    }
}

impl Drop for IndexBuilder {
    fn drop(&mut self) {
        if !self.published {
            if let Some(mut w) = self.writer.take() {
                let _ = w.rollback();
                drop(w);
            }
            if let Err(e) = std::fs::remove_dir_all(&self.tmp) {
                tracing::warn!(dir = %self.tmp.display(), error = %e, "could not remove temporary index");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_words_are_split_off_as_the_analyser_sees_them() {
        let mut analyzer = schema::analyzer("fr");
        let title = title_tokens(&mut analyzer, "Péninsules de Kola");
        let (rest, words) = split_title_words(
            &mut analyzer,
            &title,
            "La péninsule de Kola borde la mer de Barents (Kolasjoki, «KOLA»).",
        );
        // Whole words, any case or inflection; "de" is a stop word, kept in the text.
        assert_eq!(rest, "La   de   borde la mer de Barents (Kolasjoki, « »).");
        assert_eq!(words, "péninsule Kola KOLA");
        let (rest, words) = split_title_words(&mut analyzer, &title, "");
        assert_eq!((rest.as_str(), words.as_str()), ("", ""));
    }

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
