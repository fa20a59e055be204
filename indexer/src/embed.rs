//! Embedding during a build or an update: which passages, the text the model sees, the sink
//! that embeds them a chunk at a time, and the manifest's record of the vectors.

use crate::error::{IndexerError, Result};
use crate::read::Sink;
use std::path::PathBuf;
use std::sync::Arc;
use wikirag_core::{Article, Embedder, Progress, Sentence, SentenceKind, StopFlag, TextRole};
use wikirag_index::{EmbeddingRecord, IndexBuilder, Redirect};
use wikirag_vectors::{HnswParams, PassageKey, ResumableWriter, Span};

/// What to embed, with which model, and how to link the vectors.
#[derive(Clone)]
pub struct EmbedConfig {
    pub embedder: Arc<dyn Embedder>,
    /// Embed only the first N sentences of each page (infobox facts and the lead come first);
    /// BM25 still covers every sentence. `None`: all.
    pub embed_first: Option<u64>,
    /// Embed "Title: sentence" rather than the bare sentence (facts already name the title).
    pub title_context: bool,
    /// Consecutive sentences of a page embedded as one vector ("Title: s1 s2 s3"); the hit and
    /// the citation stay a sentence, found inside the window by the searcher. 1: a vector per
    /// sentence. See [`WINDOW_FOR_LARGE_DUMPS`].
    pub window: u32,
    pub hnsw: HnswParams,
    /// Sentences handed to the model at once (it sorts them by length inside).
    pub chunk: usize,
    /// Where the model was loaded from, recorded so queries can load it again.
    pub model_path: Option<PathBuf>,
}

impl EmbedConfig {
    pub fn new(embedder: Arc<dyn Embedder>) -> EmbedConfig {
        EmbedConfig {
            embedder,
            embed_first: None,
            title_context: true,
            window: 1,
            hnsw: HnswParams::default(),
            chunk: 2048,
            model_path: None,
        }
    }

    /// The passages of `article` this configuration embeds, in order: (`page`, span key — the
    /// ordinal, or the window's [`Span`] key —, title, the text the model sees), `page` being
    /// what the index stores for the article (its page key). The one place a build and an
    /// update decide it. A window holds up to `window` consecutive sentences of the scope;
    /// sentences a row cannot name (ordinal past [`wikirag_vectors::MAX_FIRST`], pages far
    /// beyond the reader's size limit) are left to BM25.
    pub(crate) fn passages(&self, article: &Article, page: u64) -> Vec<(u64, u32, String, String)> {
        let limit = self.embed_first.unwrap_or(u64::MAX);
        let window = self.window.clamp(1, wikirag_vectors::MAX_WINDOW) as usize;
        let scope: Vec<&Sentence> = article
            .sentences
            .iter()
            .filter(|s| u64::from(s.ordinal) < limit && s.ordinal <= wikirag_vectors::MAX_FIRST)
            .collect();
        if scope.len() < article.sentences.len() && self.embed_first.is_none() {
            tracing::warn!(
                page_id = article.page_id,
                title = %article.title,
                "sentences past ordinal {} are searched by BM25 only",
                wikirag_vectors::MAX_FIRST
            );
        }
        if window == 1 {
            return scope
                .into_iter()
                .map(|s| {
                    let text = passage_text(&article.title, s.kind, &s.text, self.title_context);
                    (page, s.ordinal, article.title.clone(), text)
                })
                .collect();
        }
        // Runs of consecutive ordinals, cut every `window` sentences. Infobox facts go into
        // windows like prose: kept alone (a vector each) they lost more than they won on the
        // standard corpora (benches/RESULTS.md, "Windows of sentences, built").
        let mut out = Vec::new();
        let mut run: Vec<&Sentence> = Vec::with_capacity(window);
        for s in scope {
            if run.len() == window || run.last().is_some_and(|l| l.ordinal + 1 != s.ordinal) {
                out.push(self.window_passage(article, page, &run));
                run.clear();
            }
            run.push(s);
        }
        if !run.is_empty() {
            out.push(self.window_passage(article, page, &run));
        }
        out
    }

    fn window_passage(
        &self,
        article: &Article,
        page: u64,
        run: &[&Sentence],
    ) -> (u64, u32, String, String) {
        let span = Span {
            first: run[0].ordinal,
            count: run.len() as u32,
        };
        let key = span.key().expect("a run within MAX_FIRST and MAX_WINDOW");
        let joined = run
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        // Led by the title like a sentence of prose, whatever its sentences are.
        let text = passage_text(
            &article.title,
            SentenceKind::Prose,
            &joined,
            self.title_context,
        );
        (page, key, article.title.clone(), text)
    }

    /// What a build's vectors depend on besides the passages themselves (a resumed build keeps
    /// the rows of an interrupted one only if it is the same).
    pub(crate) fn identity(&self) -> String {
        let info = self.embedder.info();
        format!(
            "{} sha256:{} dim:{} pooling:{} passage-prefix:{:?} precision:{}",
            info.name,
            info.weights_sha256,
            info.dim,
            info.pooling.name(),
            info.passage_prefix,
            self.embedder.passage_precision()
        )
    }

    /// The manifest's record of vectors made with this configuration, as `meta` says they are.
    pub(crate) fn record(&self, meta: &wikirag_vectors::VectorMeta) -> EmbeddingRecord {
        let mut record = EmbeddingRecord {
            model: meta.model.clone(),
            vectors: 0,
            embed_first: self.embed_first,
            title_context: self.title_context,
            window: self.window.max(1),
            passage_precision: self.embedder.passage_precision().to_string(),
            hnsw_m: 0,
            hnsw_ef_construction: 0,
            hnsw_ef_search: 0,
            graph_codes: false,
            graph: false,
            graph_recall_at_10: None,
            peak_rss_mb: peak_rss_mb(),
            model_path: self.model_path.as_ref().map(|p| p.display().to_string()),
        };
        record_vectors(&mut record, meta);
        record
    }
}

/// Sentences a vector for a dump this large or larger (`wikirag index --window auto`, the
/// default): measured on the standard corpora, a vector per window of 3 sentences keeps hybrid
/// retrieval within one or two questions a set of a vector per sentence with about 3× fewer
/// vectors on whole-Wikipedia articles (benches/RESULTS.md, "Fewer vectors"); smaller inputs
/// keep a vector per sentence, which dense-only retrieval needs.
pub const WINDOW_FOR_LARGE_DUMPS: u32 = 3;

/// Input bytes from which `--window auto` embeds windows: 1 GiB, so simplewiki (≈ 0.3 GB of
/// bz2) keeps a vector per sentence and frwiki / enwiki (≈ 6 / 22 GB) get windows.
pub const LARGE_DUMP_BYTES: u64 = 1 << 30;

/// Brings the manifest's record of the vectors up to what their own `meta.json` says (after a
/// build, an update or a relink): the one place the two are tied.
pub fn record_vectors(record: &mut EmbeddingRecord, meta: &wikirag_vectors::VectorMeta) {
    record.vectors = (meta.count - meta.dead.min(meta.count)) as u64;
    record.hnsw_m = meta.hnsw.m;
    record.hnsw_ef_construction = meta.hnsw.ef_construction;
    record.hnsw_ef_search = meta.hnsw.ef_search;
    record.graph = meta.graph;
    record.graph_codes = meta.graph && meta.hnsw.codes;
    record.graph_recall_at_10 = meta.graph_recall_at_10;
}

/// The text the model sees for a sentence of an article.
pub fn passage_text(title: &str, kind: SentenceKind, text: &str, title_context: bool) -> String {
    if title_context && kind != SentenceKind::Fact {
        format!("{title}: {text}")
    } else {
        text.to_string()
    }
}

/// Sentences embedded between two checks of the stop flag (about a second on two cores).
const STOP_CHECK_SENTENCES: usize = 256;

/// Feeds the index builder and embeds the sentences in scope, a chunk at a time (memory stays
/// flat; the byte progress of the read reflects the embedding speed). Each chunk's rows are
/// made durable before the next, so a build interrupted and run again embeds only the
/// passages it had not (`wikirag_vectors::ResumableWriter`).
pub(crate) struct EmbeddingSink<'a> {
    pub(crate) index: &'a mut IndexBuilder,
    pub(crate) config: &'a EmbedConfig,
    pub(crate) writer: ResumableWriter,
    pub(crate) pending: Vec<(u64, u32, String, String)>,
    /// Query-like texts from sampled passages, to measure the graph with (`calibration`).
    pub(crate) sample: Sample,
    pub(crate) stop: &'a StopFlag,
    pub(crate) progress: Arc<dyn Progress>,
}

impl EmbeddingSink<'_> {
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.stop.is_stopped() {
            return Err(IndexerError::Interrupted);
        }
        for p in &self.pending {
            self.sample.offer(&p.3);
        }
        let keys: Vec<PassageKey> = self
            .pending
            .iter()
            .map(|(page_id, ordinal, _, text)| PassageKey {
                page_id: *page_id,
                sentence: *ordinal,
                text_crc: crc32fast::hash(text.as_bytes()),
            })
            .collect();
        // The rows an interrupted build already wrote for these passages stay.
        let mut todo = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            if !self.writer.reuse(*key)? {
                todo.push(i);
            }
        }
        let texts: Vec<&str> = todo.iter().map(|&i| self.pending[i].3.as_str()).collect();
        // Handed to the model a slice at a time, with a stop check between: a chunk takes
        // tens of seconds on a CPU, and Ctrl-C must stop within a second or two.
        let mut vectors = Vec::with_capacity(texts.len());
        for (i, slice) in texts.chunks(STOP_CHECK_SENTENCES).enumerate() {
            if self.stop.is_stopped() {
                return Err(IndexerError::Interrupted);
            }
            let embedded = self
                .config
                .embedder
                .embed(slice, TextRole::Passage)
                .map_err(|e| {
                    let (page_id, _, title, _) = &self.pending[todo[i * STOP_CHECK_SENTENCES]];
                    IndexerError::Embed {
                        page_id: *page_id,
                        title: title.clone(),
                        message: e.to_string(),
                    }
                })?;
            vectors.extend(embedded);
        }
        for (&i, v) in todo.iter().zip(&vectors) {
            self.writer.add(keys[i], v)?;
        }
        self.writer.checkpoint()?;
        self.progress.items_done(self.pending.len() as u64);
        self.pending.clear();
        Ok(())
    }
}

impl Sink for EmbeddingSink<'_> {
    fn article(&mut self, article: &Article) -> Result<()> {
        self.index.add_article(article)?;
        let page = self.index.stored_page_id(article.page_id);
        self.pending.extend(self.config.passages(article, page));
        if self.pending.len() >= self.config.chunk {
            self.flush()?;
        }
        Ok(())
    }
    fn start_input(&mut self, wiki: &str) -> Result<()> {
        Ok(self.index.set_wiki(wiki)?)
    }
    fn redirect(&mut self, redirect: &Redirect<'_>) -> Result<()> {
        Ok(self.index.add_redirect_page(redirect)?)
    }
}

/// Every `every`-th passage's first words, as a question would be short: the queries a build
/// measures its graph's recall with (`wikirag_vectors::finish_build`). The sample thins
/// itself (every other kept, twice the step) to stay under [`Sample::MAX`], so it spans the
/// whole input whatever its size.
pub(crate) struct Sample {
    every: u64,
    seen: u64,
    texts: Vec<String>,
}

impl Default for Sample {
    fn default() -> Sample {
        Sample {
            every: 7,
            seen: 0,
            texts: Vec::new(),
        }
    }
}

impl Sample {
    const MAX: usize = 2048;
    /// Queries handed to the model at the end.
    const QUERIES: usize = 200;

    fn offer(&mut self, text: &str) {
        self.seen += 1;
        if !self.seen.is_multiple_of(self.every) {
            return;
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.len() < 4 {
            return;
        }
        let keep = (words.len() * 3 / 5).max(3);
        self.texts.push(words[..keep].join(" "));
        if self.texts.len() > Self::MAX {
            let mut i = 0;
            self.texts.retain(|_| {
                i += 1;
                i % 2 == 0
            });
            self.every *= 2;
        }
    }

    /// At most [`Sample::QUERIES`] of the texts, spread over the input, embedded as queries.
    pub(crate) fn embed(&self, embedder: &dyn Embedder) -> Vec<Vec<f32>> {
        let step = self.texts.len().div_ceil(Self::QUERIES).max(1);
        let texts: Vec<&str> = self
            .texts
            .iter()
            .step_by(step)
            .map(String::as_str)
            .collect();
        match embedder.embed(&texts, TextRole::Query) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "the sample queries could not be embedded; the graph is measured with its own rows");
                Vec::new()
            }
        }
    }
}

/// Peak resident memory of this process in MiB (Linux).
pub fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BuildConfig, Input, ReadConfig, build};
    use std::path::Path;
    use wikirag_index::WriterOptions;

    /// The facts of a 4-dimensional stand-in model.
    fn stand_in(name: &str) -> wikirag_core::ModelInfo {
        wikirag_core::ModelInfo {
            name: name.into(),
            dim: 4,
            pooling: wikirag_core::Pooling::Mean,
            normalized: true,
            max_tokens: 128,
            weights_sha256: "0".repeat(64),
            query_prefix: String::new(),
            passage_prefix: String::new(),
        }
    }

    /// Windows are runs of at most `window` consecutive sentences of the scope, keyed by their
    /// span and read "Title: s1 s2 s3"; a window of 1 is the sentence as before.
    #[test]
    fn windows_cut_the_scope_into_runs_of_consecutive_sentences() {
        let sentence = |ordinal: u32, kind, text: &str| Sentence {
            ordinal,
            section: String::new(),
            kind,
            text: text.into(),
        };
        let mut sentences = vec![sentence(0, SentenceKind::Fact, "T — born: 1900")];
        for o in 1..7 {
            sentences.push(sentence(o, SentenceKind::Prose, &format!("s{o}.")));
        }
        // A gap in the ordinals (never made by the cleaner) still cuts a window.
        sentences.push(sentence(9, SentenceKind::Prose, "s9."));
        let article = Article {
            page_id: 5,
            title: "T".into(),
            revision_id: None,
            timestamp: None,
            url: String::new(),
            language: wikirag_core::Language::English,
            categories: Vec::new(),
            sentences,
        };
        let embedder = Counting::new("w", &StopFlag::new(), None);
        let mut config = EmbedConfig::new(embedder);
        let spans = |config: &EmbedConfig| -> Vec<(u32, u32, String)> {
            config
                .passages(&article, 50)
                .into_iter()
                .map(|(page, key, title, text)| {
                    assert_eq!((page, title.as_str()), (50, "T"));
                    let s = Span::from_key(key);
                    (s.first, s.count, text)
                })
                .collect()
        };
        let one = spans(&config);
        assert_eq!(one.len(), 8);
        assert_eq!(one[0], (0, 1, "T — born: 1900".to_string()));
        assert_eq!(one[1], (1, 1, "T: s1.".to_string()));
        config.window = 3;
        assert_eq!(
            spans(&config),
            [
                (0, 3, "T: T — born: 1900 s1. s2.".to_string()),
                (3, 3, "T: s3. s4. s5.".to_string()),
                (6, 1, "T: s6.".to_string()),
                (9, 1, "T: s9.".to_string()),
            ]
        );
        config.embed_first = Some(5);
        config.title_context = false;
        assert_eq!(
            spans(&config),
            [
                (0, 3, "T — born: 1900 s1. s2.".to_string()),
                (3, 2, "s3. s4.".to_string()),
            ]
        );
    }

    /// A stop during embedding takes effect after the slice being embedded, not after the
    /// whole chunk (2,048 sentences took 12–55 s on a CPU before Ctrl-C was seen), and
    /// nothing is published or left behind.
    #[test]
    fn a_stop_while_embedding_takes_effect_within_a_slice() {
        let stop = StopFlag::new();
        let embedder = Counting::new("stops", &stop, Some(1));
        let dir = tempfile::tempdir().unwrap();
        let config = sample_build(&dir.path().join("idx"), embedder.clone(), true, 2048);
        let result = build(&config, Arc::new(wikirag_core::NoProgress), &stop);
        assert!(
            matches!(result, Err(IndexerError::Interrupted)),
            "{:?}",
            result.err()
        );
        let embedded = embedder.embedded.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(embedded, STOP_CHECK_SENTENCES);
        // Nothing published; only the (empty) resumable vectors stay, hidden beside it.
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, [".idx.vectors-partial"]);
    }

    /// A stand-in model: a vector from the text's CRC, counting what it embeds and raising
    /// the stop flag on its `stop_after`-th call (a kill or Ctrl-C mid-build).
    struct Counting {
        info: wikirag_core::ModelInfo,
        stop: StopFlag,
        stop_after: Option<usize>,
        calls: std::sync::atomic::AtomicUsize,
        embedded: std::sync::atomic::AtomicUsize,
    }

    impl Counting {
        fn new(name: &str, stop: &StopFlag, stop_after: Option<usize>) -> Arc<Counting> {
            Arc::new(Counting {
                info: stand_in(name),
                stop: stop.clone(),
                stop_after,
                calls: Default::default(),
                embedded: Default::default(),
            })
        }
    }

    impl Embedder for Counting {
        fn info(&self) -> &wikirag_core::ModelInfo {
            &self.info
        }
        fn embed(
            &self,
            texts: &[&str],
            _: TextRole,
        ) -> std::result::Result<Vec<Vec<f32>>, wikirag_core::BoxError> {
            use std::sync::atomic::Ordering::SeqCst;
            let call = self.calls.fetch_add(1, SeqCst) + 1;
            if self.stop_after == Some(call) {
                self.stop.stop();
            }
            self.embedded.fetch_add(texts.len(), SeqCst);
            Ok(texts
                .iter()
                .map(|t| {
                    let h = crc32fast::hash(t.as_bytes()) as f32;
                    vec![h.sin(), h.cos(), (h * 0.5).sin(), 1.0]
                })
                .collect())
        }
    }

    fn sample_build(
        out: &Path,
        embedder: Arc<Counting>,
        resume: bool,
        chunk: usize,
    ) -> BuildConfig {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
        let mut embed = EmbedConfig::new(embedder);
        embed.chunk = chunk;
        BuildConfig {
            embed: Some(embed),
            read: ReadConfig {
                inputs: vec![
                    Input::new(sample.join("enwiki-sample.xml")),
                    Input::new(sample.join("frwiki-sample.xml")),
                ],
                ..ReadConfig::default()
            },
            out: out.to_path_buf(),
            writer: WriterOptions::default(),
            resume,
        }
    }

    /// Every row of an index's vectors by (page id, sentence): its int8 bytes and its scale
    /// (the order of rows follows the order pages arrived in, which several inputs read side
    /// by side do not fix).
    fn vector_rows(index: &Path) -> std::collections::BTreeMap<(u64, u32), (Vec<u8>, [u8; 4])> {
        let read = |f: &str| std::fs::read(index.join("vectors").join(f)).unwrap();
        let (vectors, rows, scales) = (read("vectors.i8"), read("rows.bin"), read("scales.f32"));
        let n = rows.len() / 12;
        assert_eq!(vectors.len(), n * 4);
        assert_eq!(scales.len(), n * 4);
        (0..n)
            .map(|i| {
                let r = &rows[i * 12..i * 12 + 12];
                let key = (
                    u64::from_le_bytes(r[..8].try_into().unwrap()),
                    u32::from_le_bytes(r[8..].try_into().unwrap()),
                );
                let scale: [u8; 4] = scales[i * 4..i * 4 + 4].try_into().unwrap();
                (key, (vectors[i * 4..i * 4 + 4].to_vec(), scale))
            })
            .collect()
    }

    /// A build stopped after 1, 3 or 7 chunks and run again keeps every row it had made
    /// durable, embeds only the rest, and writes the same vectors, byte for byte, and the same
    /// counts as a build never stopped; `resume: false` and another model start over.
    #[test]
    fn an_interrupted_build_resumes_without_embedding_again() {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = tempfile::tempdir().unwrap();
        let progress = Arc::new(wikirag_core::NoProgress);
        let never = StopFlag::new();
        let whole = Counting::new("m", &never, None);
        let reference = build(
            &sample_build(&dir.path().join("ref"), whole.clone(), true, 8),
            progress.clone(),
            &never,
        )
        .unwrap();
        let total = whole.embedded.load(SeqCst);
        assert!(total > 40, "{total} sentences: too few for the test");
        assert_eq!(reference.resumed_vectors, 0);
        for stop_after in [1, 3, 7] {
            let out = dir.path().join(format!("stopped-{stop_after}"));
            let stop = StopFlag::new();
            let first = Counting::new("m", &stop, Some(stop_after));
            let result = build(
                &sample_build(&out, first.clone(), true, 8),
                progress.clone(),
                &stop,
            );
            assert!(
                matches!(result, Err(IndexerError::Interrupted)),
                "{:?}",
                result.err()
            );
            let before = first.embedded.load(SeqCst);
            let again = Counting::new("m", &never, None);
            let report = build(
                &sample_build(&out, again.clone(), true, 8),
                progress.clone(),
                &never,
            )
            .unwrap();
            let resumed = report.resumed_vectors as usize;
            assert_eq!(
                resumed, before,
                "stop after {stop_after}: every embedded row kept"
            );
            assert_eq!(again.embedded.load(SeqCst), total - resumed);
            let (got, want) = (vector_rows(&report.path), vector_rows(&reference.path));
            assert_eq!(got.len(), want.len(), "stop after {stop_after}");
            assert!(got == want, "stop after {stop_after}: other rows");
            assert_eq!(report.manifest.counts, reference.manifest.counts);
            assert!(!wikirag_vectors::journal_dir(&out).exists());
        }
        // Not asked to resume, or another model: everything is embedded again.
        for (name, resume) in [("m", false), ("other", true)] {
            let out = dir.path().join(format!("restart-{name}-{resume}"));
            let stop = StopFlag::new();
            let first = Counting::new("m", &stop, Some(2));
            assert!(build(&sample_build(&out, first, true, 8), progress.clone(), &stop).is_err());
            let again = Counting::new(name, &never, None);
            let report = build(
                &sample_build(&out, again.clone(), resume, 8),
                progress.clone(),
                &never,
            )
            .unwrap();
            assert_eq!(report.resumed_vectors, 0, "{name} {resume}");
            assert_eq!(again.embedded.load(SeqCst), total, "{name} {resume}");
        }
    }
}
