//! Reading dumps: one thread per input file reads and decompresses, a pool cleans wikitext
//! and splits sentences, and the caller's thread feeds a [`Sink`] in page order (the order of
//! the dump: pages the cleaners finish early wait for those before them).

use crate::error::{IndexerError, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, bounded};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wikirag_core::{Article, Language, Page, Progress, StopFlag};
use wikirag_corpus::{CleanOptions, Cleaner, CorpusError, DumpReader, OpenOptions, Part};
use wikirag_index::{DumpRecord, IndexBuilder, Redirect};

/// One input file.
#[derive(Clone, Debug)]
pub struct Input {
    pub path: PathBuf,
    /// Its `-multistream-index.txt[.bz2]`, if any.
    pub multistream_index: Option<PathBuf>,
    /// Only these streams of a multistream file (a distributed build's work unit).
    pub part: Option<Part>,
}

impl Input {
    pub fn new(path: impl Into<PathBuf>) -> Input {
        Input {
            path: path.into(),
            multistream_index: None,
            part: None,
        }
    }

    /// An empty record naming this input.
    fn record(&self) -> DumpRecord {
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        DumpRecord {
            path: self.path.display().to_string(),
            date: dump_date(&file_name),
            file_name,
            part: self.part.map(|p| p.to_string()),
            ..DumpRecord::default()
        }
    }

    /// An input with its companion index when one lies beside it under Wikimedia's name
    /// (`X-multistream.xml.bz2` → `X-multistream-index.txt.bz2`).
    pub fn with_companion_index(path: impl Into<PathBuf>) -> Input {
        let path = path.into();
        let companion = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix("-multistream.xml.bz2"))
            .map(|stem| path.with_file_name(format!("{stem}-multistream-index.txt.bz2")))
            .filter(|p| p.is_file());
        Input {
            path,
            multistream_index: companion,
            part: None,
        }
    }
}

/// The date in a Wikimedia dump's name (`frwiki-20260201-pages-articles.xml.bz2` →
/// `2026-02-01`).
pub fn dump_date(file_name: &str) -> Option<String> {
    file_name.split(['-', '.', '_']).find_map(|part| {
        let ok = part.len() == 8
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part.starts_with("19") || part.starts_with("20"))
            && (1..=12).contains(&part[4..6].parse::<u32>().ok()?)
            && (1..=31).contains(&part[6..8].parse::<u32>().ok()?);
        ok.then(|| format!("{}-{}-{}", &part[..4], &part[4..6], &part[6..8]))
    })
}

/// What to read and how.
#[derive(Clone, Debug)]
pub struct ReadConfig {
    pub inputs: Vec<Input>,
    /// Namespaces to keep (default: articles, 0).
    pub namespaces: Vec<i32>,
    /// Cleaner threads and decompression threads; 0 = all cores.
    pub threads: usize,
    /// Force a language instead of reading it from `<siteinfo>`.
    pub language: Option<Language>,
    pub max_page_bytes: usize,
    pub parse_timeout: Duration,
    /// Decompress multistream bzip2 in parallel.
    pub parallel_decompression: bool,
}

impl Default for ReadConfig {
    fn default() -> Self {
        ReadConfig {
            inputs: Vec::new(),
            namespaces: vec![0],
            threads: 0,
            language: None,
            max_page_bytes: wikirag_corpus::DEFAULT_MAX_PAGE_BYTES,
            parse_timeout: Duration::from_secs(5),
            parallel_decompression: true,
        }
    }
}

impl ReadConfig {
    pub(crate) fn threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        }
    }
}

/// Where articles go.
pub trait Sink {
    /// A new input file begins; its articles and redirects come from `wiki` (`frwiki`).
    fn start_input(&mut self, _wiki: &str) -> Result<()> {
        Ok(())
    }
    fn article(&mut self, article: &Article) -> Result<()>;
    fn redirect(&mut self, redirect: &Redirect<'_>) -> Result<()>;
    /// A page of the current input could not be read or cleaned (it is counted and reported
    /// already); an update keeps what the index holds of it.
    fn skipped(&mut self, _error: &CorpusError) -> Result<()> {
        Ok(())
    }
}

impl Sink for IndexBuilder {
    fn start_input(&mut self, wiki: &str) -> Result<()> {
        Ok(self.set_wiki(wiki)?)
    }
    fn article(&mut self, article: &Article) -> Result<()> {
        Ok(self.add_article(article)?)
    }
    fn redirect(&mut self, redirect: &Redirect<'_>) -> Result<()> {
        Ok(self.add_redirect_page(redirect)?)
    }
}

/// Decides, before a page is cleaned, whether it needs to be (an update skips the pages whose
/// revision the index already holds). Called from the reading thread, in dump order.
pub trait PageFilter: Send + Sync {
    fn wanted(&self, wiki: &str, page: &Page) -> bool;
}

/// A build keeps the first copy of each (wiki, page id): the same dump given twice (or as
/// `.xml` and `.bz2`) is indexed once; later copies are counted as `unchanged`. One bit per
/// page id and wiki (10 MB for enwiki's ids); ids past 2³² are not tracked.
#[derive(Default)]
pub(crate) struct FirstOfEachPage {
    seen: std::sync::Mutex<std::collections::HashMap<String, Vec<u64>>>,
}

impl PageFilter for FirstOfEachPage {
    fn wanted(&self, wiki: &str, page: &Page) -> bool {
        let Ok(id) = usize::try_from(page.id) else {
            return true;
        };
        if id > u32::MAX as usize {
            return true;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let bits = match seen.get_mut(wiki) {
            Some(bits) => bits,
            None => seen.entry(wiki.to_string()).or_default(),
        };
        let (word, bit) = (id / 64, 1u64 << (id % 64));
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let first = bits[word] & bit == 0;
        bits[word] |= bit;
        if !first {
            tracing::debug!(wiki, page_id = page.id, title = %page.title, "a page met again (the same dump given twice?): the first copy is kept");
        }
        first
    }
}

struct RedirectPage {
    alias: String,
    target: String,
    page_id: u64,
    revision_id: Option<u64>,
}

enum Out {
    Article(Box<Article>),
    Redirect(RedirectPage),
    Unchanged,
    OtherNamespace,
    Skipped(CorpusError),
    Fatal(CorpusError),
}

/// How many per-page errors a dump record keeps verbatim (all are counted).
const KEEP_PAGE_ERRORS: usize = 20;

/// Reads every input and feeds `sink`. Returns one record per input.
pub fn read_into(
    config: &ReadConfig,
    sink: &mut dyn Sink,
    progress: Arc<dyn Progress>,
    stop: &StopFlag,
) -> Result<Vec<DumpRecord>> {
    read_filtered(config, sink, progress, stop, None)
}

/// [`read_into`], with pages the filter does not want counted as unchanged and not cleaned.
pub fn read_filtered(
    config: &ReadConfig,
    sink: &mut dyn Sink,
    progress: Arc<dyn Progress>,
    stop: &StopFlag,
    filter: Option<Arc<dyn PageFilter>>,
) -> Result<Vec<DumpRecord>> {
    if config.inputs.is_empty() {
        return Err(IndexerError::NoInput);
    }
    let mut records = Vec::new();
    for input in &config.inputs {
        match read_one(config, input, sink, progress.clone(), stop, filter.clone()) {
            Ok(record) => records.push(record),
            // A file that cannot be opened or has no readable header is recorded as failed;
            // the other inputs still go in.
            Err(IndexerError::Corpus(e)) => {
                let msg = e.to_string();
                tracing::error!("{msg}");
                progress.warning(&msg);
                records.push(DumpRecord {
                    fatal_error: Some(msg),
                    ..input.record()
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(records)
}

/// What the reader thread learns from a dump's head before any page.
struct Head {
    size: u64,
    compression: wikirag_corpus::Compression,
    mode: wikirag_corpus::OpenMode,
    site: wikirag_core::SiteInfo,
    damage: wikirag_corpus::input::DamageLog,
}

/// How often a thread waiting on input looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The language a dump is read in: the user's, else its `<siteinfo>`'s (None: neither).
fn dump_language(config: &ReadConfig, site: &wikirag_core::SiteInfo) -> Option<Language> {
    config.language.clone().or_else(|| site.language())
}

/// The key of the wiki a dump belongs to.
fn dump_wiki(config: &ReadConfig, site: &wikirag_core::SiteInfo) -> String {
    site.wiki_key().unwrap_or_else(|| {
        dump_language(config, site).map_or_else(|| "und".to_string(), |l| l.code().to_string())
    })
}

fn read_one(
    config: &ReadConfig,
    input: &Input,
    sink: &mut dyn Sink,
    progress: Arc<dyn Progress>,
    stop: &StopFlag,
    filter: Option<Arc<dyn PageFilter>>,
) -> Result<DumpRecord> {
    let started = Instant::now();
    let threads = config.threads();
    let open_options = OpenOptions {
        threads,
        multistream_index: input.multistream_index.clone(),
        parallel: config.parallel_decompression,
        part: input.part,
    };
    let (head_tx, head_rx) = bounded::<std::result::Result<Head, CorpusError>>(1);
    let (page_tx, page_rx) = bounded::<(u64, Page)>(threads * 64);
    let (out_tx, out_rx) = bounded::<(u64, Out)>(threads * 64);
    // Everything that waits on the input (opening it, its head, its pages) happens on the
    // reader thread, and the caller only ever waits with a timeout: a FIFO with no writer or a
    // stalled pipe cannot keep Ctrl-C from stopping the build.
    let reader_thread = spawn_reader(ReaderJob {
        config: config.clone(),
        path: input.path.clone(),
        open_options,
        progress: progress.clone(),
        stop: stop.clone(),
        filter,
        head: head_tx,
        pages: page_tx,
        out: out_tx.clone(),
    });
    let Head {
        size,
        compression,
        mode,
        site,
        damage,
    } = wait_for_head(&head_rx, stop, &input.path)?;
    progress.input_started(
        &input.path.display().to_string(),
        (size > 0).then_some(size),
    );
    let language = match dump_language(config, &site) {
        Some(lang) => lang,
        None => {
            let msg = format!(
                "{}: <siteinfo> names no language; indexing without stemming (pass --lang to choose)",
                input.path.display()
            );
            tracing::warn!("{msg}");
            progress.warning(&msg);
            Language::Other("und".into())
        }
    };
    let wiki = dump_wiki(config, &site);
    tracing::info!(path = %input.path.display(), %language, %wiki, ?mode, "reading dump");
    sink.start_input(&wiki)?;
    let mut record = DumpRecord {
        wiki: wiki.clone(),
        bytes: size,
        compression: format!("{compression:?}").to_lowercase(),
        mode: format!("{mode:?}"),
        language: language.code().to_string(),
        dbname: site.dbname.clone(),
        base_url: site.base.clone(),
        ..input.record()
    };
    let cleaner = Arc::new(Cleaner::new(
        &site,
        language.clone(),
        CleanOptions {
            parse_timeout: config.parse_timeout,
        },
    ));
    let workers = spawn_cleaners(threads, &page_rx, &out_tx, &cleaner);
    drop(out_tx);
    drop(page_rx);
    let mut sink_error = None;
    let mut fatal = None;
    let mut in_order = InOrder::default();
    let mut ended = false;
    while !ended && !stop.is_stopped() && sink_error.is_none() {
        let ready: Vec<Out> = match out_rx.recv_timeout(STOP_POLL) {
            Ok((seq, out)) => in_order.add(seq, out),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                ended = true;
                in_order.rest()
            }
        };
        for out in ready {
            if stop.is_stopped() {
                break;
            }
            let result = take(
                out,
                &mut record,
                &mut fatal,
                sink,
                &language,
                progress.as_ref(),
            );
            progress.page_done();
            if let Err(e) = result {
                sink_error = Some(e);
                break;
            }
        }
    }
    drop(out_rx);
    if stop.is_stopped() {
        // Not waited for: the reader may be blocked on input that never comes.
        return Err(IndexerError::Interrupted);
    }
    let _ = reader_thread.join();
    for w in workers {
        let _ = w.join();
    }
    if let Some(e) = sink_error {
        return Err(e);
    }
    finish_record(&mut record, fatal, &damage, progress.as_ref());
    record.seconds = started.elapsed().as_secs_f64();
    progress.input_finished(&record.path);
    Ok(record)
}

/// The cleaners finish pages out of order; the sink gets them in dump order (so the output of
/// `extract` and the order of an index's documents are the same on every run). Held back: what
/// the cleaners finished while an earlier page was still being cleaned — at most the pages of
/// one parse timeout.
#[derive(Default)]
struct InOrder {
    held: std::collections::BTreeMap<u64, Out>,
    next: u64,
}

impl InOrder {
    /// Item `seq` has come: every item now due, in order.
    fn add(&mut self, seq: u64, out: Out) -> Vec<Out> {
        self.held.insert(seq, out);
        let mut ready = Vec::new();
        while let Some(out) = self.held.remove(&self.next) {
            ready.push(out);
            self.next += 1;
        }
        ready
    }

    /// Every thread is done: whatever is held, in order, even past a number that never came
    /// (a cleaner that died), so nothing is dropped.
    fn rest(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.held).into_values().collect()
    }
}

/// What the reader thread needs: the input, where its head, pages and other items go.
struct ReaderJob {
    config: ReadConfig,
    path: PathBuf,
    open_options: OpenOptions,
    progress: Arc<dyn Progress>,
    stop: StopFlag,
    filter: Option<Arc<dyn PageFilter>>,
    head: crossbeam_channel::Sender<std::result::Result<Head, CorpusError>>,
    /// Pages to clean, numbered in reading order.
    pages: crossbeam_channel::Sender<(u64, Page)>,
    /// Everything else, numbered in the same order as the pages.
    out: crossbeam_channel::Sender<(u64, Out)>,
}

/// The reader thread: opens the input, sends its head, then routes every page (to the
/// cleaners, or straight out: other namespaces, pages the filter passes over, redirects,
/// faults).
fn spawn_reader(job: ReaderJob) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("wikirag-read".into())
        .spawn(move || read_pages(job))
        .expect("spawn reader thread")
}

fn read_pages(job: ReaderJob) {
    let ReaderJob {
        config,
        path,
        open_options,
        progress,
        stop,
        filter,
        head: head_tx,
        pages: page_tx,
        out,
    } = job;
    let opened = match wikirag_corpus::open(&path, &open_options, progress) {
        Ok(opened) => opened,
        Err(e) => {
            let _ = head_tx.send(Err(e));
            return;
        }
    };
    let (size, compression, mode, damage) =
        (opened.size, opened.compression, opened.mode, opened.damage);
    let reader = match DumpReader::new(&path, opened.reader) {
        Ok(reader) => reader.with_max_page_bytes(config.max_page_bytes),
        Err(e) => {
            let _ = head_tx.send(Err(e));
            return;
        }
    };
    let site = reader.site_info().clone();
    let wiki = dump_wiki(&config, &site);
    let head = Head {
        size,
        compression,
        mode,
        site,
        damage,
    };
    if head_tx.send(Ok(head)).is_err() {
        return;
    }
    let mut reader = reader;
    let mut seq = 0u64;
    while let Some(item) = reader.next_page() {
        if stop.is_stopped() {
            break;
        }
        let n = seq;
        seq += 1;
        let sent = match item {
            Ok(page) if !config.namespaces.contains(&page.namespace) => {
                out.send((n, Out::OtherNamespace)).is_ok()
            }
            Ok(page) if filter.as_ref().is_some_and(|f| !f.wanted(&wiki, &page)) => {
                out.send((n, Out::Unchanged)).is_ok()
            }
            Ok(Page {
                title,
                redirect: Some(target),
                id,
                revision_id,
                ..
            }) => out
                .send((
                    n,
                    Out::Redirect(RedirectPage {
                        alias: title,
                        target,
                        page_id: id,
                        revision_id,
                    }),
                ))
                .is_ok(),
            Ok(page) => page_tx.send((n, page)).is_ok(),
            Err(e) if e.is_fatal() => {
                let _ = out.send((n, Out::Fatal(e)));
                break;
            }
            Err(e) => out.send((n, Out::Skipped(e))).is_ok(),
        };
        if !sent {
            break;
        }
    }
}

/// The dump's head from the reader thread, waiting only with a timeout so a stop is seen.
fn wait_for_head(
    head_rx: &Receiver<std::result::Result<Head, CorpusError>>,
    stop: &StopFlag,
    path: &Path,
) -> Result<Head> {
    loop {
        match head_rx.recv_timeout(STOP_POLL) {
            Ok(head) => return Ok(head?),
            Err(RecvTimeoutError::Timeout) if stop.is_stopped() => {
                // The reader may be blocked in `open` or `read`: it is left behind, not waited
                // for; it holds nothing that is published.
                return Err(IndexerError::Interrupted);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(IndexerError::Sink(format!(
                    "{}: the reader stopped before the dump's head was read",
                    path.display()
                )));
            }
        }
    }
}

/// The cleaner threads: pages in, articles (or the page's error) out.
fn spawn_cleaners(
    threads: usize,
    pages: &Receiver<(u64, Page)>,
    out: &crossbeam_channel::Sender<(u64, Out)>,
    cleaner: &Arc<Cleaner>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..threads)
        .map(|i| {
            let pages = pages.clone();
            let out = out.clone();
            let cleaner = cleaner.clone();
            std::thread::Builder::new()
                .name(format!("wikirag-clean-{i}"))
                // Deeply nested wikitext makes deep trees; give the renderer room.
                .stack_size(64 << 20)
                .spawn(move || {
                    for (n, page) in pages {
                        let item = match cleaner.clean(&page) {
                            Ok(article) => Out::Article(Box::new(article)),
                            Err(e) => Out::Skipped(e),
                        };
                        if out.send((n, item)).is_err() {
                            break;
                        }
                    }
                })
                .expect("spawn cleaner thread")
        })
        .collect()
}

/// One item of the dump, counted in `record` and handed to the sink.
fn take(
    out: Out,
    record: &mut DumpRecord,
    fatal: &mut Option<CorpusError>,
    sink: &mut dyn Sink,
    language: &Language,
    progress: &dyn Progress,
) -> Result<()> {
    record.pages_read += 1;
    match out {
        Out::Article(article) => {
            record.articles += 1;
            record.sentences += article.sentences.len() as u64;
            sink.article(&article)
        }
        Out::Redirect(r) => {
            record.redirects += 1;
            sink.redirect(&Redirect {
                alias: &r.alias,
                target: &r.target,
                language,
                page_id: r.page_id,
                revision_id: r.revision_id,
            })
        }
        Out::Unchanged => {
            record.unchanged += 1;
            Ok(())
        }
        Out::OtherNamespace => {
            record.other_namespaces += 1;
            Ok(())
        }
        Out::Skipped(e) => {
            record.skipped += 1;
            let msg = e.to_string();
            tracing::warn!("skipped page: {msg}");
            progress.warning(&format!("skipped: {msg}"));
            if record.page_errors.len() < KEEP_PAGE_ERRORS {
                record.page_errors.push(msg);
            }
            sink.skipped(&e)
        }
        Out::Fatal(e) => {
            // The fault is not a page (every page before it has been taken, in order).
            record.pages_read -= 1;
            *fatal = Some(e);
            Ok(())
        }
    }
}

/// The end of a file's record: a fault that ended it, and damaged streams read past.
fn finish_record(
    record: &mut DumpRecord,
    fatal: Option<CorpusError>,
    damage: &wikirag_corpus::input::DamageLog,
    progress: &dyn Progress,
) {
    if let Some(e) = fatal {
        let msg = format!(
            "{e}; the {} articles and {} redirects before the fault were kept, the rest of the file was skipped",
            record.articles, record.redirects
        );
        tracing::error!("{msg}");
        progress.warning(&msg);
        record.fatal_error = Some(msg);
    }
    // Damaged streams read past: their pages are missing, so the dump is not whole.
    for msg in damage.messages() {
        tracing::error!("{msg}");
        progress.warning(&msg);
        record.fatal_error = Some(match record.fatal_error.take() {
            Some(before) => format!("{before}; {msg}"),
            None => msg,
        });
    }
}

/// Reads the `<siteinfo>` of a dump without reading its pages.
pub fn site_info(path: &Path) -> Result<wikirag_core::SiteInfo> {
    let opened = wikirag_corpus::open(
        path,
        &OpenOptions::default(),
        Arc::new(wikirag_core::NoProgress),
    )?;
    Ok(DumpReader::new(path, opened.reader)?.site_info().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects the titles it is given.
    #[derive(Default)]
    struct Titles(Vec<String>);

    impl Sink for Titles {
        fn article(&mut self, article: &Article) -> Result<()> {
            self.0.push(article.title.clone());
            Ok(())
        }
        fn redirect(&mut self, redirect: &Redirect<'_>) -> Result<()> {
            self.0.push(format!("→ {}", redirect.alias));
            Ok(())
        }
    }

    /// What a whole read gives the sink (titles, "→ alias" for redirects, in the order given)
    /// and its records.
    fn titles_read(config: &ReadConfig) -> (Vec<String>, Vec<DumpRecord>) {
        let mut titles = Titles::default();
        let records = read_into(
            config,
            &mut titles,
            Arc::new(wikirag_core::NoProgress),
            &StopFlag::new(),
        )
        .unwrap();
        (titles.0, records)
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo");
        assert!(status.success());
    }

    /// Runs `f` on a thread and waits at most `limit` for it.
    fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(limit)
            .unwrap_or_else(|_| panic!("still running after {limit:?}"))
    }

    fn sample(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/sample")
            .join(name)
    }

    /// A FIFO nobody writes to blocks `open` for ever: Ctrl-C must still stop the build at
    /// once (it waited for a writer that never came).
    #[test]
    fn a_stop_takes_effect_while_a_fifo_waits_for_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("dump.xml");
        mkfifo(&fifo);
        let stop = StopFlag::new();
        let stopper = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            stopper.stop();
        });
        let config = ReadConfig {
            inputs: vec![Input::new(&fifo)],
            ..ReadConfig::default()
        };
        let result = within(Duration::from_secs(10), move || {
            read_into(
                &config,
                &mut Titles::default(),
                Arc::new(wikirag_core::NoProgress),
                &stop,
            )
            .map(|_| ())
        });
        assert!(
            matches!(result, Err(IndexerError::Interrupted)),
            "{result:?}"
        );
    }

    /// A dump through a pipe (`<(cat dump.xml.bz2)`) is read once from its start: the bytes
    /// that tell its format are not lost to a second `open`, and a multistream index, which
    /// needs seeking, is set aside. It gives exactly what the file gives.
    #[test]
    fn a_dump_through_a_fifo_gives_what_the_file_gives() {
        let dump = sample("enwiki-sample-multistream.xml.bz2");
        let index = sample("enwiki-sample-multistream-index.txt.bz2");
        let read = move |path: &Path| {
            let config = ReadConfig {
                inputs: vec![Input {
                    path: path.to_path_buf(),
                    multistream_index: Some(index.clone()),
                    part: None,
                }],
                ..ReadConfig::default()
            };
            let (mut titles, records) = titles_read(&config);
            titles.sort();
            (titles, records[0].fatal_error.clone())
        };
        let (from_file, fault) = read(&dump);
        assert!(from_file.len() > 10 && fault.is_none(), "{fault:?}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("dump.xml.bz2");
        mkfifo(&fifo);
        let writer_fifo = fifo.clone();
        let bytes = std::fs::read(&dump).unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_fifo)
                .unwrap();
            let _ = w.write_all(&bytes);
        });
        let (from_fifo, fault) = within(Duration::from_secs(30), move || read(&fifo));
        assert_eq!(fault, None);
        assert_eq!(from_fifo, from_file);
    }

    /// The cleaners finish pages out of order (a long page keeps its thread busy while the
    /// others finish short ones); the sink still gets every page in dump order, redirects (sent
    /// straight by the reader) in their places, whatever the threads.
    #[test]
    fn the_sink_gets_pages_in_dump_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dump.xml");
        let mut xml = String::from(
            r#"<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en"><siteinfo><sitename>Wikipedia</sitename><dbname>enwiki</dbname><base>https://en.wikipedia.org/wiki/Main_Page</base><case>first-letter</case><namespaces><namespace key="0" case="first-letter" /></namespaces></siteinfo>"#,
        );
        let mut want = Vec::new();
        for i in 0..240 {
            let title = format!("Page {i}");
            let (redirect, body) = if i % 7 == 3 {
                (
                    r#"<redirect title="Page 0" />"#,
                    "#REDIRECT [[Page 0]]".to_string(),
                )
            } else if i % 40 == 0 {
                ("", "A long page says one thing again. ".repeat(12_000))
            } else {
                ("", format!("Page {i} is a short page."))
            };
            xml.push_str(&format!(
                "<page><title>{title}</title><ns>0</ns><id>{}</id>{redirect}<revision><id>{}</id><timestamp>2025-01-01T00:00:00Z</timestamp><text>{body}</text></revision></page>",
                i + 1,
                1000 + i
            ));
            want.push(if redirect.is_empty() {
                title
            } else {
                format!("→ {title}")
            });
        }
        xml.push_str("</mediawiki>");
        std::fs::write(&path, xml).unwrap();
        for threads in [1, 2, 4] {
            let config = ReadConfig {
                inputs: vec![Input::new(&path)],
                threads,
                ..ReadConfig::default()
            };
            let (titles, records) = titles_read(&config);
            assert_eq!(records[0].pages_read, 240);
            assert_eq!(titles, want, "{threads} threads");
        }
    }

    #[test]
    fn dates_from_wikimedia_names() {
        assert_eq!(
            dump_date("frwiki-20260201-pages-articles-multistream.xml.bz2").as_deref(),
            Some("2026-02-01")
        );
        assert_eq!(
            dump_date("frwiki-20260202-pages-meta-hist-incr.xml.bz2").as_deref(),
            Some("2026-02-02")
        );
        assert_eq!(
            dump_date("enwiki-2016-gensim-pages-articles1-p10p30302.xml"),
            None
        );
        assert_eq!(dump_date("x-12345678-y.xml"), None);
    }
}
