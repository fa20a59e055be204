//! `wikirag update`: brings an index to a newer dump without rebuilding it.
//!
//! Pages are keyed by (wiki, page id). A page whose revision the index holds is compared and
//! skipped before it is cleaned; a newer revision replaces every document and vector of the
//! page; a page of a full dump's wiki that the dump lacks is removed (adds-changes files
//! cannot delete). Everything is written into a new generation of the index (a copy beside
//! it) that replaces the published one atomically at the end: a fault, a crash or Ctrl-C
//! before that leaves the previous index as it was. The manifest records the lineage.

use crate::{
    EmbedConfig, IndexerError, PageFilter, ReadConfig, Result, Sink, peak_rss_mb, read_filtered,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use wikirag_core::{Article, Page, Progress, StopFlag, TextRole};
use wikirag_index::{IndexUpdater, Manifest, Redirect, UpdateRecord, WriterOptions};
use wikirag_vectors::VectorUpdate;

/// What kind of dump an update reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    /// A complete newer dump of each of its wikis: pages it lacks are deleted.
    Full,
    /// Wikimedia's daily adds-changes files (`*-pages-meta-hist-incr.xml.bz2`): new and
    /// changed pages only, several revisions of a page possible (the newest wins).
    AddsChanges,
}

impl UpdateKind {
    /// Adds-changes when every input is named like Wikimedia's incremental files.
    pub fn guess(inputs: &[crate::Input]) -> UpdateKind {
        let incr = |p: &PathBuf| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("-hist-incr") || n.contains("adds-changes"))
        };
        if !inputs.is_empty() && inputs.iter().all(|i| incr(&i.path)) {
            UpdateKind::AddsChanges
        } else {
            UpdateKind::Full
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            UpdateKind::Full => "full",
            UpdateKind::AddsChanges => "adds-changes",
        }
    }
}

/// An update of the index at `index`.
#[derive(Clone)]
pub struct UpdateConfig {
    pub index: PathBuf,
    pub read: ReadConfig,
    pub kind: UpdateKind,
    /// Delete nothing even from a full dump (the dump is a part of its wiki).
    pub keep_missing: bool,
    /// Apply a dump older than what the index holds (by its date, or by most of its
    /// revisions). Even then no page goes back to an older revision.
    pub allow_older: bool,
    /// The largest share of a wiki's indexed pages one update may delete before it is
    /// refused ([`IndexerError::MassDeletion`]); 1.0 allows any.
    pub max_deleted_share: f64,
    pub writer: WriterOptions,
    /// The model the index's vectors were made with; required when it has vectors.
    pub embed: Option<EmbedConfig>,
}

/// What an update did.
#[derive(Debug)]
pub struct UpdateReport {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub record: UpdateRecord,
}

/// The share of a wiki's pages an update may delete unless told otherwise.
pub const DEFAULT_MAX_DELETED_SHARE: f64 = 0.10;

/// Deletions up to this many pages are never called mass deletion (a small wiki losing a
/// few pages is ordinary).
const MASS_DELETION_FLOOR: u64 = 10;

/// Per wiki: pages whose revision in the dumps is newer / older than the indexed one.
#[derive(Default, Clone, Copy)]
struct RevisionCounts {
    newer: u64,
    older: u64,
}

/// Which pages need work: newer than the index's revision, and than any revision of the
/// same page already met in this update. A page never goes back to an older revision.
struct RevisionFilter {
    indexed: HashMap<(String, u64), Option<u64>>,
    /// One lock per page read.
    state: Mutex<FilterState>,
}

#[derive(Default)]
struct FilterState {
    /// The newest revision met of each page (unreadable pages are added after the reading).
    seen: HashMap<(String, u64), Option<u64>>,
    counts: HashMap<String, RevisionCounts>,
}

impl PageFilter for RevisionFilter {
    fn wanted(&self, wiki: &str, page: &Page) -> bool {
        let key = (wiki.to_string(), page.id);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(Some(held)), Some(rev)) = (self.indexed.get(&key), page.revision_id) {
            let c = state.counts.entry(wiki.to_string()).or_default();
            if rev > *held {
                c.newer += 1;
            } else if rev < *held {
                c.older += 1;
            }
        }
        let seen = &mut state.seen;
        let newer = |held: Option<&Option<u64>>| match (held, page.revision_id) {
            (None, _) => true,
            (Some(Some(held)), Some(rev)) => rev > *held,
            // Without revision ids nothing can be compared: take the page again.
            (Some(_), _) => true,
        };
        let wanted = match seen.get(&key) {
            Some(prev) => newer(Some(prev)),
            None => newer(self.indexed.get(&key)),
        };
        if wanted || !seen.contains_key(&key) {
            seen.insert(key, page.revision_id);
        }
        wanted
    }
}

/// Counts per update.
#[derive(Default)]
struct Tally {
    added: u64,
    changed: u64,
    redirects_changed: u64,
    deleted: u64,
    embedded: u64,
}

struct UpdateSink<'a> {
    up: &'a IndexUpdater,
    wiki: String,
    vectors: Option<(&'a mut VectorUpdate, &'a EmbedConfig)>,
    /// (page id, ordinal, title, text) waiting to be embedded.
    pending: Vec<(u64, u32, String, String)>,
    /// Pages replaced in this update already (a page met twice removes its first version).
    touched: BTreeSet<(String, u64)>,
    /// Pages of the dumps that could not be read or cleaned: (wiki, page id, why).
    unreadable: Vec<(String, u64, String)>,
    /// Wikis with a page that could not be read and whose id is unknown: nothing of them
    /// may be deleted (the page could be any page).
    unknown_unreadable: BTreeMap<String, String>,
    tally: Tally,
    stop: &'a StopFlag,
    progress: Arc<dyn Progress>,
}

impl UpdateSink<'_> {
    /// Removes what the index holds of a page before its new version goes in; whether it
    /// held an article.
    fn replace(&mut self, page_id: u64) -> Result<Option<bool>> {
        let key = (self.wiki.clone(), page_id);
        let held = self.up.pages().get(&key).map(|p| !p.redirect);
        if held.is_some() || self.touched.contains(&key) {
            self.up.remove_page(&self.wiki, page_id)?;
            // Vector rows hold the page's key: another wiki's page of the same id stays.
            let page = self.up.stored_page_id(&self.wiki, page_id);
            if let Some((vectors, _)) = self.vectors.as_mut() {
                vectors.remove_page(page);
            }
            // Queued but not embedded yet: dropped.
            self.pending.retain(|p| p.0 != page);
        }
        let first_time = self.touched.insert(key);
        Ok(if first_time { held } else { Some(true) })
    }

    fn flush(&mut self) -> Result<()> {
        let Some((vectors, config)) = self.vectors.as_mut() else {
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.stop.is_stopped() {
            return Err(IndexerError::Interrupted);
        }
        let texts: Vec<&str> = self.pending.iter().map(|p| p.3.as_str()).collect();
        let embedded = config
            .embedder
            .embed(&texts, TextRole::Passage)
            .map_err(|e| IndexerError::Embed {
                page_id: self.pending[0].0,
                title: self.pending[0].2.clone(),
                message: e.to_string(),
            })?;
        for ((page_id, ordinal, _, _), v) in self.pending.iter().zip(&embedded) {
            vectors.add(*page_id, *ordinal, v)?;
        }
        self.tally.embedded += self.pending.len() as u64;
        self.progress.items_done(self.pending.len() as u64);
        self.pending.clear();
        Ok(())
    }
}

impl Sink for UpdateSink<'_> {
    fn start_input(&mut self, wiki: &str) -> Result<()> {
        self.flush()?;
        self.up
            .check_wiki(wiki, self.touched.iter().map(|(w, _)| w.as_str()))?;
        self.wiki = wiki.to_string();
        Ok(())
    }

    fn article(&mut self, article: &Article) -> Result<()> {
        match self.replace(article.page_id)? {
            None | Some(false) => self.tally.added += 1,
            Some(true) => self.tally.changed += 1,
        }
        self.up.add_article(&self.wiki, article)?;
        if let Some((_, config)) = &self.vectors {
            let page = self.up.stored_page_id(&self.wiki, article.page_id);
            self.pending.extend(config.passages(article, page));
            if self.pending.len() >= config.chunk {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn skipped(&mut self, error: &wikirag_corpus::CorpusError) -> Result<()> {
        match error.page_id() {
            Some(id) => self
                .unreadable
                .push((self.wiki.clone(), id, error.to_string())),
            None => {
                self.unknown_unreadable
                    .entry(self.wiki.clone())
                    .or_insert_with(|| error.to_string());
            }
        }
        Ok(())
    }

    fn redirect(&mut self, redirect: &Redirect<'_>) -> Result<()> {
        if self.replace(redirect.page_id)? == Some(true) {
            // An article that became a redirect.
            self.tally.deleted += 1;
        }
        self.tally.redirects_changed += 1;
        self.up.add_redirect(&self.wiki, redirect)?;
        Ok(())
    }
}

/// How many unreadable pages an update record names (all are counted).
const KEEP_UNREADABLE: usize = 20;

/// Refuses a dump older than what the index holds of its wiki: by the date in its file name
/// (Wikimedia's `-YYYYMMDD-`) against the newest date the index has read for that wiki, and
/// by its revisions (more pages older than the indexed revision than newer).
fn refuse_older(
    index: &std::path::Path,
    old: &Manifest,
    records: &[wikirag_index::DumpRecord],
    counts: &HashMap<String, RevisionCounts>,
) -> Result<()> {
    let held = old
        .dumps
        .iter()
        .chain(old.updates.iter().flat_map(|u| u.dumps.iter()));
    for r in records.iter().filter(|r| !r.wiki.is_empty()) {
        let newest = held
            .clone()
            .filter(|d| d.wiki == r.wiki)
            .filter_map(|d| d.date.as_deref().map(|date| (date, d.file_name.as_str())))
            .max();
        if let (Some(date), Some((newest, name))) = (r.date.as_deref(), newest)
            && date < newest
        {
            return Err(IndexerError::OlderDump {
                index: index.to_path_buf(),
                wiki: r.wiki.clone(),
                detail: format!(
                    "{} is dated {date}, the index holds {name} dated {newest}",
                    r.file_name
                ),
            });
        }
    }
    for (wiki, c) in counts {
        if c.older > 0 && c.older > c.newer {
            return Err(IndexerError::OlderDump {
                index: index.to_path_buf(),
                wiki: wiki.clone(),
                detail: format!(
                    "{} of its pages have an older revision than the index holds, {} a newer one",
                    c.older, c.newer
                ),
            });
        }
    }
    Ok(())
}

/// Applies newer dumps to the index at `config.index`.
pub fn update(
    config: &UpdateConfig,
    progress: Arc<dyn Progress>,
    stop: &StopFlag,
) -> Result<UpdateReport> {
    let started = Instant::now();
    let mut up = IndexUpdater::open(&config.index, &config.writer)?;
    let old = up.manifest().clone();
    // The vectors, when the index has them, with the model that made them.
    let mut vectors = None;
    let mut embed = None;
    if let Some(record) = &old.embedding {
        let Some(given) = &config.embed else {
            return Err(IndexerError::Sink(format!(
                "{} has vectors made by {}: the update needs that model to embed new sentences (pass --model)",
                config.index.display(),
                record.model.name
            )));
        };
        if let Some(detail) = record.model.mismatch(given.embedder.info()) {
            return Err(IndexerError::Sink(format!(
                "{}: its vectors were made by {}, not by the model given ({detail})",
                config.index.display(),
                record.model.name
            )));
        }
        let mut e = given.clone();
        e.title_context = record.title_context;
        e.embed_first = record.embed_first;
        e.window = record.window;
        embed = Some(e);
        vectors = Some(VectorUpdate::open(up.dir())?);
    }
    let filter = Arc::new(RevisionFilter {
        indexed: up
            .pages()
            .iter()
            .map(|(k, p)| (k.clone(), p.revision_id))
            .collect(),
        state: Mutex::new(FilterState::default()),
    });
    let mut sink = UpdateSink {
        up: &up,
        wiki: String::new(),
        vectors: vectors.as_mut().zip(embed.as_ref()),
        pending: Vec::new(),
        touched: BTreeSet::new(),
        unreadable: Vec::new(),
        unknown_unreadable: BTreeMap::new(),
        tally: Tally::default(),
        stop,
        progress: progress.clone(),
    };
    if sink.vectors.is_some() {
        progress.items_started("embedding changed sentences", 0);
    }
    let records = read_filtered(
        &config.read,
        &mut sink,
        progress.clone(),
        stop,
        Some(filter.clone() as Arc<dyn PageFilter>),
    )?;
    sink.flush()?;
    let mut tally = std::mem::take(&mut sink.tally);
    let unreadable = std::mem::take(&mut sink.unreadable);
    let unknown_unreadable = std::mem::take(&mut sink.unknown_unreadable);
    let touched = std::mem::take(&mut sink.touched);
    drop(sink);
    if records.iter().all(|r| r.pages_read == 0) {
        let errors: Vec<String> = records
            .iter()
            .filter_map(|r| r.fatal_error.clone())
            .collect();
        return Err(IndexerError::NothingIndexed(if errors.is_empty() {
            "the dumps hold no page".into()
        } else {
            errors.join("; ")
        }));
    }
    // An older dump is refused before anything is deleted.
    let revision_counts = filter
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .counts
        .clone();
    if !config.allow_older {
        refuse_older(&config.index, &old, &records, &revision_counts)?;
    }
    let pages_older: u64 = revision_counts.values().map(|c| c.older).sum();
    // Pages that could not be read keep what the index holds of them: never deleted, never
    // replaced.
    let mut pages_kept_unreadable = 0;
    let mut unreadable_names = Vec::new();
    {
        let mut state = filter.state.lock().unwrap_or_else(|p| p.into_inner());
        for (wiki, id, why) in &unreadable {
            let key = (wiki.clone(), *id);
            let held = up.pages().contains_key(&key) && !touched.contains(&key);
            if held {
                pages_kept_unreadable += 1;
            }
            state.seen.entry(key).or_insert(None);
            if unreadable_names.len() < KEEP_UNREADABLE {
                unreadable_names.push(if held {
                    format!("{why} (its indexed version is kept)")
                } else {
                    why.clone()
                });
            }
        }
    }
    // Deletions: per wiki of a full dump read to its end.
    let mut deletions_skipped = Vec::new();
    if config.kind == UpdateKind::Full && !config.keep_missing {
        let state = filter.state.lock().unwrap_or_else(|p| p.into_inner());
        let seen = &state.seen;
        let wikis: BTreeSet<&str> = records.iter().map(|r| r.wiki.as_str()).collect();
        for wiki in wikis.into_iter().filter(|w| !w.is_empty()) {
            if let Some(fault) = records
                .iter()
                .filter(|r| r.wiki == wiki)
                .find_map(|r| r.fatal_error.as_deref())
            {
                deletions_skipped.push(format!(
                    "{wiki}: no page was deleted, the dump ended at a fault ({fault})"
                ));
                continue;
            }
            if let Some(why) = unknown_unreadable.get(wiki) {
                deletions_skipped.push(format!(
                    "{wiki}: no page was deleted, a page whose id could not be read was skipped ({why})"
                ));
                continue;
            }
            let gone: Vec<(u64, bool)> = up
                .pages()
                .iter()
                .filter(|((w, id), _)| w == wiki && !seen.contains_key(&(w.clone(), *id)))
                .map(|((_, id), p)| (*id, p.redirect))
                .collect();
            let held = up.pages().keys().filter(|(w, _)| w == wiki).count() as u64;
            let deleted = gone.len() as u64;
            if deleted > MASS_DELETION_FLOOR
                && deleted as f64 > config.max_deleted_share * held as f64
            {
                return Err(IndexerError::MassDeletion {
                    index: config.index.clone(),
                    wiki: wiki.to_string(),
                    deleted,
                    held,
                    limit_percent: (config.max_deleted_share * 100.0).round() as u32,
                });
            }
            for (id, redirect) in gone {
                up.remove_page(wiki, id)?;
                if let Some(v) = vectors.as_mut() {
                    v.remove_page(up.stored_page_id(wiki, id));
                }
                if redirect {
                    tally.redirects_changed += 1;
                } else {
                    tally.deleted += 1;
                }
            }
        }
    }
    if stop.is_stopped() {
        return Err(IndexerError::Interrupted);
    }
    progress.stage("committing");
    let counts = up.commit()?;
    let mut manifest = old.clone();
    let mut vectors_removed = 0;
    let mut compacted = false;
    if let (Some(v), Some(record)) = (vectors, manifest.embedding.as_mut()) {
        let (meta, report) = v.finish(progress.as_ref(), stop)?;
        crate::record_vectors(record, &meta);
        record.peak_rss_mb = peak_rss_mb().max(record.peak_rss_mb);
        vectors_removed = report.removed as u64;
        compacted = report.compacted;
    }
    if stop.is_stopped() {
        return Err(IndexerError::Interrupted);
    }
    let unchanged: u64 = records.iter().map(|r| r.unchanged).sum();
    for lang in counts.sentences_by_language.keys() {
        if !manifest.languages.contains(lang) {
            manifest.languages.push(lang.clone());
        }
    }
    manifest.counts.articles = counts.articles;
    manifest.counts.redirects = counts.redirects;
    manifest.counts.sentences = counts.sentences;
    manifest.counts.sentences_by_language = counts.sentences_by_language;
    manifest.generation = old.generation + 1;
    let record = UpdateRecord {
        generation: manifest.generation,
        created_unix: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        kind: config.kind.name().to_string(),
        dumps: records,
        pages_added: tally.added,
        pages_changed: tally.changed,
        pages_deleted: tally.deleted,
        pages_unchanged: unchanged,
        redirects_changed: tally.redirects_changed,
        deletions_skipped,
        pages_unreadable: unreadable.len() as u64,
        pages_kept_unreadable,
        unreadable: unreadable_names,
        pages_older,
        sentences_embedded: tally.embedded,
        vectors_removed,
        vectors_compacted: compacted,
        seconds: started.elapsed().as_secs_f64(),
    };
    manifest.updates.push(record.clone());
    if !stop.begin_publish() {
        return Err(IndexerError::Interrupted);
    }
    let path = up.publish(&manifest)?;
    // As published: with the checksums of its files.
    let manifest = wikirag_index::Manifest::read(&path)?;
    Ok(UpdateReport {
        path,
        manifest,
        record,
    })
}
