//! Opening an index for search: BM25 always, the model and vectors when the index has them.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wikirag_index::{Manifest, SearchOptions, SentenceIndex};
use wikirag_models::{BertEmbedder, EmbedderOptions, Precision};
use wikirag_vectors::{Dense, Fusion, Mode, RetrievalOptions, Searcher, VectorIndex};

pub type WikiSearcher = Searcher<SentenceIndex, BertEmbedder>;

/// Retrieval flags shared by `search`, `eval` (and `ask`).
#[derive(clap::Args, Debug, Clone)]
pub struct RetrievalArgs {
    /// bm25, dense or hybrid (default: hybrid when the index has vectors, else bm25).
    #[arg(long)]
    pub mode: Option<Mode>,
    /// How hybrid mode fuses the two lists: weighted (min-max normalised scores, the default:
    /// measured best on the standard corpora, benches/RESULTS.md) or rrf.
    #[arg(long, default_value = "weighted")]
    pub fusion: Fusion,
    /// Reciprocal rank fusion constant.
    #[arg(long, default_value_t = 60.0, value_parser = positive)]
    pub rrf_k: f32,
    /// Weight of the dense list in either fusion (0..1; 0.5 counts both lists the same).
    #[arg(long, default_value_t = wikirag_vectors::DENSE_WEIGHT, value_parser = unit_interval)]
    pub dense_weight: f32,
    /// Candidates taken from each retriever before fusion.
    #[arg(long, default_value_t = 100)]
    pub candidates: usize,
    /// In hybrid mode, each list's first N sentences keep a place in the top k (they take the
    /// last places); 0 lets the fusion alone decide.
    #[arg(long, default_value_t = wikirag_vectors::KEEP_TOP)]
    pub keep_top: usize,
    /// HNSW beam width (default: the one recorded with the index, 128 unless `--ef-search` was
    /// given to `index` or `relink`; 128 reached recall@10 0.96 against exact search at 1 M
    /// real MiniLM vectors with m=24).
    #[arg(long)]
    pub ef_search: Option<usize>,
    /// Search every vector instead of the HNSW graph.
    #[arg(long)]
    pub exact: bool,
    /// The embedding model directory, or `hf:owner/name[@revision]` (default: the one the index
    /// was built with).
    #[arg(long, env = "WIKIRAG_EMBEDDING_MODEL")]
    pub embedding_model: Option<PathBuf>,
    /// Run the query embedding model on the GPU (needs a build with --features cuda).
    #[arg(long)]
    pub cuda: bool,
    /// Arithmetic of the query embedding on the CPU: int8 (the layers' products in int8 where
    /// the CPU has AVX-512 VNNI: 1.0 instead of 2.75 ms a query, cosine >= 0.999 with f32) or
    /// f32 (passages: `wikirag index --embed-precision`).
    #[arg(long, default_value = "int8")]
    pub query_precision: Precision,
}

impl RetrievalArgs {
    /// The options for `opened`: hybrid when it has vectors, its recorded beam width.
    pub fn options(&self, opened: &Opened) -> RetrievalOptions {
        let has_vectors = opened.dense.is_some();
        let recorded = opened
            .dense
            .as_ref()
            .map(|d| d.index().meta().hnsw.ef_search);
        RetrievalOptions {
            mode: self.mode.unwrap_or(if has_vectors {
                Mode::Hybrid
            } else {
                Mode::Bm25
            }),
            fusion: self.fusion,
            rrf_k: self.rrf_k,
            dense_weight: self.dense_weight,
            candidates: self.candidates,
            keep_top: self.keep_top,
            ef_search: self
                .ef_search
                .or(recorded)
                .unwrap_or(RetrievalOptions::default().ef_search),
            exact: self.exact,
        }
    }
}

/// The query side of an index's vectors.
pub struct Opened {
    pub bm25: Arc<SentenceIndex>,
    pub dense: Option<Arc<Dense<BertEmbedder>>>,
    pub manifest: Manifest,
}

impl Opened {
    /// Reads every block of the index that no search has read yet and checks it against the
    /// checksums recorded when it was published (the segment files, then the vectors).
    pub fn verify_blocks(&self) -> Result<()> {
        self.bm25.verify_blocks()?;
        if let Some(dense) = &self.dense {
            dense.index().verify_blocks()?;
        }
        Ok(())
    }

    /// Blocks verified so far, and in all (0, 0 for an index without block checksums).
    pub fn blocks_verified(&self) -> (usize, usize) {
        let (mut done, mut total) = self.bm25.blocks_verified();
        if let Some(dense) = &self.dense {
            let (d, t) = dense.index().store().blocks_verified();
            done += d;
            total += t;
        }
        (done, total)
    }

    /// The arithmetic query vectors are made with ("int8" or "f32"); `None` without vectors.
    pub fn query_precision(&self) -> Option<&'static str> {
        self.dense
            .as_ref()
            .map(|d| d.embedder().query_precision().name())
    }

    pub fn searcher(&self, options: RetrievalOptions) -> Result<WikiSearcher> {
        if options.mode != Mode::Bm25 && self.dense.is_none() {
            bail!(
                "--mode {} needs vectors; this index was built without --model (BM25 only): rebuild it with `wikirag index ... --model DIR`",
                options.mode.name()
            );
        }
        Ok(Searcher::new(
            self.bm25.clone(),
            self.dense.clone(),
            options,
        ))
    }

    /// The same index with other BM25 options (title boost), sharing the vectors.
    pub fn with_bm25_options(&self, index: &Path, options: SearchOptions) -> Result<Opened> {
        Ok(Opened {
            bm25: Arc::new(SentenceIndex::open(index)?.with_options(options)),
            dense: self.dense.clone(),
            manifest: self.manifest.clone(),
        })
    }
}

/// Opens an index; loads the model and vectors unless `mode` is BM25.
pub fn open(index: &Path, args: &RetrievalArgs) -> Result<Opened> {
    let bm25 = SentenceIndex::open(index)?;
    let manifest = bm25.manifest().clone();
    let bm25 = Arc::new(bm25);
    let want_vectors = args.mode != Some(Mode::Bm25);
    let dense = match (&manifest.embedding, want_vectors) {
        (Some(record), true) => {
            let model_dir = match (&args.embedding_model, &record.model_path) {
                (Some(dir), _) => model_dir(dir)?,
                (None, Some(p)) if Path::new(p).is_dir() => PathBuf::from(p),
                (None, _) => bail!(
                    "the index's vectors were made by model {:?}, which is not at {:?}: pass --embedding-model DIR (or --mode bm25)",
                    record.model.name,
                    record.model_path.as_deref().unwrap_or("?")
                ),
            };
            let embedder = BertEmbedder::load(
                &model_dir,
                &EmbedderOptions {
                    query_prefix: Some(record.model.query_prefix.clone()),
                    passage_prefix: Some(record.model.passage_prefix.clone()),
                    cuda: args.cuda,
                    query_precision: args.query_precision,
                    ..EmbedderOptions::default()
                },
            )
            .with_context(|| format!("loading the query model {}", model_dir.display()))?;
            let vectors = VectorIndex::open(index)?;
            Some(Arc::new(Dense::new(Arc::new(embedder), Arc::new(vectors))?))
        }
        (None, _) if args.mode.is_some_and(|m| m != Mode::Bm25) => {
            bail!(
                "--mode {} needs vectors; this index was built without --model (BM25 only): rebuild it with `wikirag index ... --model DIR`",
                args.mode.map_or("?", |m| m.name())
            )
        }
        _ => None,
    };
    Ok(Opened {
        bm25,
        dense,
        manifest,
    })
}

/// A model argument: a local directory, or `hf:owner/name[@revision]` to fetch from the Hugging
/// Face Hub (`HF_ENDPOINT` for a mirror; files cached under `HF_HOME`).
pub fn model_dir(arg: &Path) -> Result<PathBuf> {
    let Some(spec) = arg.to_str().and_then(|s| s.strip_prefix("hf:")) else {
        return Ok(arg.to_path_buf());
    };
    #[cfg(feature = "hub")]
    {
        let (repo, revision) = match spec.split_once('@') {
            Some((repo, rev)) => (repo, Some(rev.to_string())),
            None => (spec, None),
        };
        eprintln!("fetching {repo} from the Hugging Face Hub…");
        let options = wikirag_models::HubOptions {
            revision,
            ..Default::default()
        };
        Ok(wikirag_models::fetch_from_hub(repo, &options)?)
    }
    #[cfg(not(feature = "hub"))]
    {
        bail!(
            "{spec}: this wikirag was built without the `hub` feature; download the model and pass its directory"
        )
    }
}

/// A weight between 0 and 1 (NaN and infinities are refused, not clamped into something).
fn unit_interval(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s} is not between 0 and 1"))
    }
}

/// A finite number above 0.
fn positive(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{s} is not a finite number above 0"))
    }
}

/// A count of hits: 0 would answer nothing and say nothing (the HTTP API says 400 for it).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("0 hits asks for nothing; give 1 or more".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}
