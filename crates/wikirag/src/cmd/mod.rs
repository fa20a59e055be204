//! One module per subcommand, each with its own arguments; the arguments several share are
//! defined here once.

pub mod ask;
pub mod eval;
pub mod extract;
pub mod index;
pub mod inspect;
pub mod mcp;
pub mod merge;
pub mod relink;
pub mod search;
pub mod serve;
pub mod update;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wikirag_core::{Language, NoProgress, Progress, StopFlag};
use wikirag_indexer::{Input, ReadConfig};
use wikirag_vectors::HnswParams;

/// The index a command reads or writes (`WIKIRAG_INDEX` names it once for every command).
#[derive(clap::Args, Debug, Clone)]
pub struct IndexDir {
    /// The index directory.
    #[arg(short, long = "index", env = "WIKIRAG_INDEX")]
    pub index: PathBuf,
}

impl std::ops::Deref for IndexDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.index
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct ReadArgs {
    /// Dump files; all go into one index.
    #[arg(required = true)]
    dumps: Vec<PathBuf>,
    /// The `-multistream-index.txt[.bz2]` of a multistream dump (applies to the first dump;
    /// an index beside a dump under Wikimedia's name is found without this flag).
    #[arg(long)]
    multistream_index: Option<PathBuf>,
    /// Read only the bzip2 streams in this range of compressed bytes of the first dump
    /// (`START:END`, both stream starts of its multistream index; `END` may be `end`): one
    /// work unit of a distributed build, merged with the others by `wikirag merge`.
    #[arg(long)]
    part: Option<wikirag_corpus::Part>,
    /// Namespaces to keep, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    namespaces: Vec<i32>,
    /// Threads for decompression and cleaning (0 = all cores).
    #[arg(short = 'j', long, default_value_t = 0, env = "WIKIRAG_THREADS")]
    threads: usize,
    /// Force the language (en, fr, …) instead of reading it from <siteinfo>.
    #[arg(long)]
    lang: Option<String>,
    /// Pages with more wikitext than this (bytes) are skipped with a warning.
    #[arg(long, default_value_t = wikirag_corpus::DEFAULT_MAX_PAGE_BYTES)]
    max_page_bytes: usize,
    /// How long the wikitext parser may spend on one page (ms).
    #[arg(long, default_value_t = 5000)]
    parse_timeout_ms: u64,
    /// Decompress multistream bzip2 on one thread.
    #[arg(long)]
    sequential: bool,
    /// No progress bars.
    #[arg(short, long)]
    quiet: bool,
}

impl ReadArgs {
    fn config(&self) -> ReadConfig {
        let mut inputs: Vec<Input> = self.dumps.iter().map(Input::with_companion_index).collect();
        if let (Some(first), Some(index)) = (inputs.first_mut(), &self.multistream_index) {
            first.multistream_index = Some(index.clone());
        }
        if let Some(first) = inputs.first_mut() {
            first.part = self.part;
        }
        ReadConfig {
            inputs,
            namespaces: self.namespaces.clone(),
            threads: self.threads,
            language: self.lang.as_deref().map(Language::from_code),
            max_page_bytes: self.max_page_bytes,
            parse_timeout: Duration::from_millis(self.parse_timeout_ms),
            parallel_decompression: !self.sequential,
        }
    }
}

/// The HNSW graph's parameters (`index --model` and `relink`).
#[derive(clap::Args, Debug)]
pub(crate) struct HnswArgs {
    /// HNSW links per node (layer 0 has twice as many).
    #[arg(long, default_value_t = HnswParams::default().m)]
    hnsw_m: usize,
    /// HNSW build beam width.
    #[arg(long, default_value_t = HnswParams::default().ef_construction)]
    ef_construction: usize,
    /// Default HNSW query beam width recorded with the index (0: the narrowest whose
    /// recall@10 against exact search reaches 0.97 on a sample of the index's rows, measured
    /// after linking).
    #[arg(long, default_value_t = HnswParams::default().ef_search)]
    ef_search: usize,
    /// Below this many vectors no HNSW graph is built (exact search is as fast).
    #[arg(long, default_value_t = HnswParams::default().min_vectors)]
    hnsw_min_vectors: usize,
    /// How a query walks the graph: `codes` (product-quantised, 1 byte per 8 dimensions kept
    /// in memory; only the beam is scored against the int8 rows, which stay on disk) or
    /// `int8` (the rows themselves, all of them paged into memory over time).
    #[arg(long, value_enum, default_value_t = GraphWalk::Codes)]
    graph_walk: GraphWalk,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphWalk {
    Codes,
    Int8,
}

impl HnswArgs {
    fn params(&self) -> HnswParams {
        HnswParams {
            m: self.hnsw_m,
            ef_construction: self.ef_construction,
            ef_search: self.ef_search,
            min_vectors: self.hnsw_min_vectors,
            codes: self.graph_walk == GraphWalk::Codes,
        }
    }
}

pub(crate) fn stop_on_ctrl_c() -> StopFlag {
    let stop = StopFlag::new();
    let flag = stop.clone();
    let presses = std::sync::atomic::AtomicUsize::new(0);
    let _ = ctrlc::set_handler(move || {
        let press = presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if press > 0 {
            eprintln!(
                "\ninterrupted again: exiting now{}",
                if flag.is_publishing() {
                    " (the index is replaced in one step: the old or the new one is in place, whole)"
                } else {
                    "; nothing was published"
                }
            );
            std::process::exit(130);
        }
        if flag.stop() {
            eprintln!(
                "\ninterrupted: stopping, nothing will be published (Ctrl-C again to exit now)"
            );
        } else {
            eprintln!(
                "\ninterrupted while publishing: the index is being replaced in one step and will be whole; finishing (Ctrl-C again to exit now)"
            );
        }
    });
    stop
}

pub(crate) fn reporter(quiet: bool) -> Arc<dyn Progress> {
    if quiet {
        Arc::new(NoProgress)
    } else {
        Arc::new(crate::progress::Bars::new())
    }
}
