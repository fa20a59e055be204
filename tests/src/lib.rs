//! Helpers shared by the end-to-end tests: where the sample and the shared dumps are, and a
//! one-call index build.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use wikirag_core::{NoProgress, StopFlag};
use wikirag_index::{Manifest, WriterOptions};
use wikirag_indexer::{BuildConfig, Input, ReadConfig};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A file of the bundled sample (`data/sample/NAME`).
pub fn sample(name: &str) -> PathBuf {
    root().join("data").join("sample").join(name)
}

/// The shared real dumps (`../shared/data/wiki`, or `$WIKIRAG_SHARED_WIKI`), if present.
pub fn shared_wiki() -> Option<PathBuf> {
    let dir = std::env::var_os("WIKIRAG_SHARED_WIKI")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("..").join("shared").join("data").join("wiki"));
    dir.is_dir().then_some(dir)
}

/// A shared dump by file name; prints why and returns `None` when the folder is absent.
pub fn shared(name: &str) -> Option<PathBuf> {
    match shared_wiki() {
        Some(dir) => Some(dir.join(name)),
        None => {
            wikirag_core::testing::skip(format_args!(
                "../shared/data/wiki is absent (set WIKIRAG_SHARED_WIKI); {name} not tested"
            ));
            None
        }
    }
}

/// A read config over the given files with test-friendly defaults.
pub fn read_config(inputs: &[&Path]) -> ReadConfig {
    ReadConfig {
        inputs: inputs.iter().map(|p| Input::new(*p)).collect(),
        threads: 2,
        ..ReadConfig::default()
    }
}

/// Builds an index of `inputs` into `out` and returns its manifest.
pub fn build(config: ReadConfig, out: &Path) -> wikirag_indexer::Result<Manifest> {
    build_with(config, out, None)
}

/// Builds an index, with vectors when `embed` is given.
pub fn build_with(
    config: ReadConfig,
    out: &Path,
    embed: Option<wikirag_indexer::EmbedConfig>,
) -> wikirag_indexer::Result<Manifest> {
    let report = wikirag_indexer::build(
        &BuildConfig {
            resume: true,
            embed,
            read: config,
            out: out.to_path_buf(),
            writer: WriterOptions {
                threads: 1,
                memory_mb: 64,
                overwrite: false,
                ..WriterOptions::default()
            },
        },
        Arc::new(NoProgress),
        &StopFlag::new(),
    )?;
    Ok(report.manifest)
}

/// The real embedding model (scripts/fetch-model.sh), if present; prints why when not.
pub fn real_model() -> Option<PathBuf> {
    model_in("all-MiniLM-L6-v2", "scripts/fetch-model.sh")
}

/// `models/NAME` when its weights are there; otherwise prints that the test is skipped and
/// which script fetches them.
pub fn model_in(name: &str, script: &str) -> Option<PathBuf> {
    let dir = root().join("models").join(name);
    if dir.join("model.safetensors").is_file() {
        Some(dir)
    } else {
        wikirag_core::testing::skip(format_args!("{} absent (run {script})", dir.display()));
        None
    }
}

/// Compresses bytes as a single bzip2 stream.
pub fn bzip2(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(bytes).expect("in-memory write");
    enc.finish().expect("in-memory write")
}

/// A sink that keeps the articles (all, or those with the given titles) and counts redirects.
#[derive(Default)]
pub struct Collect {
    pub articles: Vec<wikirag_core::Article>,
    pub redirects: usize,
    pub keep: Option<&'static [&'static str]>,
}

impl wikirag_indexer::Sink for Collect {
    fn article(&mut self, a: &wikirag_core::Article) -> wikirag_indexer::Result<()> {
        if self
            .keep
            .is_none_or(|titles| titles.contains(&a.title.as_str()))
        {
            self.articles.push(a.clone());
        }
        Ok(())
    }
    fn redirect(&mut self, _: &wikirag_index::Redirect<'_>) -> wikirag_indexer::Result<()> {
        self.redirects += 1;
        Ok(())
    }
}

/// Every question of the dev sets and the sample's questions.
pub fn dev_questions() -> Vec<String> {
    let mut out = Vec::new();
    for file in [
        "tests/eval/enwiki-vital.jsonl",
        "tests/eval/frwiki-vital.jsonl",
        "tests/eval/enwiki-2016.jsonl",
        "tests/eval/frwiki-2022.jsonl",
        "data/sample/questions.jsonl",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            out.push(v["question"].as_str().unwrap().to_string());
        }
    }
    assert!(out.len() > 300, "{}", out.len());
    out
}

/// Asserts that two indexes with vectors of `model` answer every dev question alike: the same
/// hits (page, sentence, text) in the same order, scores within 1e-4, in BM25, dense and
/// hybrid modes, dense searched exactly (a graph's answers depend on the order rows were
/// linked in).
pub fn assert_same_answers(a: &Path, b: &Path, model: &Arc<wikirag_models::BertEmbedder>) {
    use wikirag_core::{Hit, SearchRequest};
    use wikirag_index::SentenceIndex;
    use wikirag_vectors::{Dense, Mode, RetrievalOptions, Searcher, VectorIndex};
    let searcher = |dir: &Path, mode: Mode| {
        let bm25 = Arc::new(SentenceIndex::open(dir).unwrap());
        let vectors = Arc::new(VectorIndex::open(dir).unwrap());
        Searcher::new(
            bm25,
            Some(Arc::new(Dense::new(model.clone(), vectors).unwrap())),
            RetrievalOptions {
                mode,
                exact: true,
                ..RetrievalOptions::default()
            },
        )
    };
    let questions = dev_questions();
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        let (x, y) = (searcher(a, mode), searcher(b, mode));
        for q in &questions {
            let req = SearchRequest::new(q);
            let (h, g) = (x.search(&req).unwrap(), y.search(&req).unwrap());
            let key = |h: &Hit| (h.page_id, h.sentence, h.text.clone());
            assert_eq!(
                h.iter().map(key).collect::<Vec<_>>(),
                g.iter().map(key).collect::<Vec<_>>(),
                "{mode:?} {q:?}"
            );
            for (h, g) in h.iter().zip(&g) {
                assert!(
                    (h.score - g.score).abs() <= 1e-4,
                    "{mode:?} {q:?}: {} vs {}",
                    h.score,
                    g.score
                );
            }
        }
    }
}

/// A copy of the index kept in `tests/data/NAME` (made by an older wikirag) at `to`.
pub fn copy_fixture(name: &str, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(root().join("tests/data").join(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
