//! `wikirag serve`: the HTTP API and web page over an index, reloaded when a new generation
//! is published.

use crate::cmd::IndexDir;
use crate::cmd::ask::{AskFlags, LlmArgs, open_rag};
use crate::retrieval::{self, RetrievalArgs, WikiSearcher};
use anyhow::{Context, Result, bail};
use std::sync::Arc;
use std::time::Duration;
use wikirag_rag::{AskEvent, AskOptions, Rag};

/// Which model answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LlmKind {
    /// No LLM: the best evidence sentences, cited.
    Extractive,
    /// An OpenAI-compatible chat-completions server (OpenAI, Azure, Ollama, llama.cpp, vLLM).
    Openai,
    /// A local GGUF model (llama on our own CPU pass; qwen2, phi3, gemma3 on candle); its
    /// tokenizer and chat template come from the GGUF unless a tokenizer.json is beside it.
    Local,
}

/// A generation being served: its pipeline, and the check of its bytes.
#[derive(Clone)]
pub(crate) struct Served {
    rag: Arc<Rag<WikiSearcher>>,
    checks: Arc<BlockChecks>,
}

pub(crate) fn served(
    index: &std::path::Path,
    retrieval_args: &RetrievalArgs,
    llm: &LlmArgs,
) -> Result<Served> {
    let (rag, opened) = open_rag(index, retrieval_args, llm)?;
    Ok(Served {
        rag: Arc::new(rag),
        checks: Arc::new(BlockChecks {
            opened,
            outcome: std::sync::Mutex::new(None),
        }),
    })
}

/// Every block of a served generation read once against its published checksums (in the
/// background at start; before a new generation is swapped in), for `/health`.
pub(crate) struct BlockChecks {
    opened: retrieval::Opened,
    /// `None` while the pass runs.
    outcome: std::sync::Mutex<Option<std::result::Result<(), String>>>,
}

impl BlockChecks {
    fn run(&self) -> std::result::Result<(), String> {
        let outcome = self.opened.verify_blocks().map_err(|e| format!("{e:#}"));
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome.clone());
        outcome
    }

    fn integrity(&self) -> wikirag_server::Integrity {
        use wikirag_server::Integrity;
        let (done, total) = self.opened.blocks_verified();
        match &*self.outcome.lock().unwrap_or_else(|p| p.into_inner()) {
            _ if total == 0 => Integrity::Unchecked,
            Some(Err(detail)) => Integrity::Damaged {
                detail: detail.clone(),
            },
            Some(Ok(())) => Integrity::Verified { blocks: total },
            None => Integrity::Verifying {
                blocks_done: done,
                blocks: total,
            },
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub index: IndexDir,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Environment variable holding a bearer key required on /v1/*. Named here, it must be set
    /// and non-empty (the server refuses to start open by mistake); not named, the key is
    /// `WIKIRAG_API_KEY` when that is set, else there is none.
    #[arg(long)]
    pub server_key_env: Option<String>,
    /// Requests served at once; more wait in a queue.
    #[arg(long, default_value_t = 32)]
    pub max_concurrent: usize,
    /// Milliseconds a request may wait in the queue for a slot before it is answered 503.
    #[arg(long, default_value_t = 5000)]
    pub queue_wait_ms: u64,
    /// Requests waiting at once; more are answered 503 at once.
    #[arg(long, default_value_t = 256)]
    pub max_queued: usize,
    /// Connections open at once (idle ones included); one more is answered 503 and closed.
    /// Keep it under the open-file limit (`ulimit -n`).
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's head (and its body), and how long an idle
    /// connection is kept open.
    #[arg(long, default_value_t = 10)]
    pub header_timeout_s: u64,
    /// Seconds before a request is answered 504.
    #[arg(long, default_value_t = 120)]
    pub timeout_s: u64,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 65536)]
    pub max_body_bytes: usize,
    /// Longest question in characters.
    #[arg(long, default_value_t = 2000)]
    pub max_question_chars: usize,
    /// Check this often (seconds) whether `wikirag update` published a new generation of the
    /// index, and switch to it without a restart (0: only on SIGHUP).
    #[arg(long, default_value_t = 2)]
    pub reload_s: u64,
    /// A `Host` name /mcp accepts besides loopback's (`localhost`, `127.0.0.1`, `::1`): the
    /// name clients reach the server by when it listens beyond loopback (DNS rebinding
    /// protection; repeat for several).
    #[arg(long = "mcp-allowed-host", value_name = "HOST")]
    pub mcp_allowed_hosts: Vec<String>,
    /// A browser `Origin` /mcp accepts besides loopback pages, with its scheme
    /// (`https://app.example.com:443`, `:*` for any port; repeat for several).
    #[arg(long = "mcp-allowed-origin", value_name = "ORIGIN")]
    pub mcp_allowed_origins: Vec<String>,
    #[command(flatten)]
    pub ask: AskFlags,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub retrieval: RetrievalArgs,
}

impl wikirag_server::Backend for Served {
    fn search(
        &self,
        request: &wikirag_core::SearchRequest,
    ) -> std::result::Result<Vec<wikirag_core::Hit>, wikirag_core::BoxError> {
        wikirag_server::Backend::search(&*self.rag, request)
    }
    fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        on_event: &mut dyn FnMut(AskEvent<'_>),
    ) -> std::result::Result<wikirag_rag::Answer, wikirag_rag::RagError> {
        self.rag.ask(question, options, on_event)
    }
    fn backend(&self) -> String {
        self.rag.backend_name()
    }
    fn integrity(&self) -> wikirag_server::Integrity {
        self.checks.integrity()
    }
    fn standalone(&self, turns: &[wikirag_rag::followup::Turn<'_>]) -> Option<String> {
        wikirag_server::Backend::standalone(&*self.rag, turns)
    }
    fn modes(&self) -> Vec<wikirag_core::Mode> {
        use wikirag_core::Mode;
        if self.rag.retriever().has_vectors() {
            vec![Mode::Hybrid, Mode::Dense, Mode::Bm25]
        } else {
            vec![Mode::Bm25]
        }
    }
    fn search_as(
        &self,
        request: &wikirag_core::SearchRequest,
        mode: Option<wikirag_core::Mode>,
    ) -> std::result::Result<Vec<wikirag_core::Hit>, wikirag_core::BoxError> {
        let searcher = self.rag.retriever();
        match mode {
            Some(mode) if mode != searcher.options().mode => {
                let options = wikirag_vectors::RetrievalOptions {
                    mode,
                    ..*searcher.options()
                };
                Ok(searcher.with_options(options).search(request)?)
            }
            _ => Ok(searcher.search(request)?),
        }
    }
    fn page_sentences(
        &self,
        page_id: u64,
        last: u32,
    ) -> std::result::Result<Option<Vec<(u32, String)>>, wikirag_core::BoxError> {
        wikirag_server::Backend::page_sentences(&*self.rag, page_id, last)
    }
    fn sentences_at(
        &self,
        positions: &[(u64, u32)],
        context: usize,
    ) -> std::result::Result<Option<Vec<wikirag_core::Hit>>, wikirag_core::BoxError> {
        wikirag_server::Backend::sentences_at(&*self.rag, positions, context)
    }
}

/// A new generation of the index, read whole against its checksums before it answers
/// anything, with its number from the (typed) manifest.
fn open_generation(
    index: &std::path::Path,
    retrieval: &RetrievalArgs,
    llm: &LlmArgs,
) -> std::result::Result<(Served, u64), String> {
    let opened = served(index, retrieval, llm).map_err(|e| format!("{e:#}"))?;
    opened.checks.run()?;
    let generation = wikirag_index::Manifest::read(index)
        .map(|m| m.generation)
        .map_err(|e| e.to_string())?;
    Ok((opened, generation))
}

/// What `serve` and `mcp` answer from: the generation being served, swapped when a new one is
/// published.
pub(crate) type ServedBackend = Arc<wikirag_server::Reloadable<Served>>;

/// `first` served until `wikirag update` publishes a new generation of the index, then that
/// one (checked every `reload_s` seconds; 0: only when the returned sender is signalled, as
/// SIGHUP does; the watcher ends when the sender is dropped and nothing else wakes it).
pub(crate) fn reloadable(
    first: Served,
    index: &std::path::Path,
    reload_s: u64,
    retrieval: RetrievalArgs,
    llm: LlmArgs,
) -> Result<(ServedBackend, std::sync::mpsc::Sender<()>)> {
    let served = Arc::new(wikirag_server::Reloadable::new(first));
    let (wake, woken) = std::sync::mpsc::channel();
    let backend = served.clone();
    let index = index.to_path_buf();
    let every = (reload_s > 0).then(|| Duration::from_secs(reload_s));
    std::thread::Builder::new()
        .name("wikirag-generations".into())
        .spawn(move || {
            let manifest = index.join(wikirag_index::MANIFEST_FILE);
            wikirag_server::watch_generations(
                &backend,
                || std::fs::read(&manifest).ok(),
                || open_generation(&index, &retrieval, &llm),
                every,
                &woken,
                |reload| match reload {
                    wikirag_server::Reload::Swapped { generation } => eprintln!(
                        "wikirag: now serving generation {generation} of {}",
                        index.display()
                    ),
                    wikirag_server::Reload::Refused { error } => eprintln!(
                        "wikirag: warning: could not open the new generation of {} ({error}); still serving the previous one",
                        index.display()
                    ),
                },
            )
        })?;
    Ok((served, wake))
}

/// The server's API key: a variable named by `--server-key-env` must hold one.
pub(crate) fn server_key(named: Option<&str>) -> Result<Option<String>> {
    match named {
        Some(name) => match std::env::var(name) {
            Ok(key) if !key.trim().is_empty() => Ok(Some(key)),
            Ok(_) => bail!(
                "--server-key-env {name}: the variable is empty; set it to the key clients must send (the server does not start open by mistake)"
            ),
            Err(_) => bail!(
                "--server-key-env {name}: the variable is not set; set it to the key clients must send (the server does not start open by mistake)"
            ),
        },
        None => Ok(std::env::var("WIKIRAG_API_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty())),
    }
}

pub fn run(args: ServeArgs) -> Result<i32> {
    let api_key = server_key(args.server_key_env.as_deref())?;
    let first = served(&args.index, &args.retrieval, &args.llm)?;
    {
        // Damage is found where a search reads it; this pass finds the rest, for /health.
        let checks = first.checks.clone();
        let index = args.index.clone();
        std::thread::Builder::new()
            .name("wikirag-verify".into())
            .spawn(move || {
                if let Err(detail) = checks.run() {
                    eprintln!(
                        "wikirag: error: {} is damaged ({detail}); searches that read the damage fail, /health says 503: rebuild the index",
                        index.display()
                    );
                }
            })?;
    }
    let config = wikirag_server::ServerConfig {
        max_body_bytes: args.max_body_bytes,
        max_question_chars: args.max_question_chars,
        request_timeout: Duration::from_secs(args.timeout_s),
        max_concurrent: args.max_concurrent,
        queue_wait: Duration::from_millis(args.queue_wait_ms),
        max_queued: args.max_queued,
        body_timeout: Duration::from_secs(args.header_timeout_s.max(1)),
        api_key,
        ask: args.ask.options(),
        // The directory's name only: /health must not tell the machine's layout.
        index_name: args
            .index
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "index".into()),
        mcp_allowed_hosts: wikirag_server::LOOPBACK_HOSTS
            .map(String::from)
            .into_iter()
            .chain(args.mcp_allowed_hosts.iter().cloned())
            .collect(),
        mcp_allowed_origins: wikirag_server::LOOPBACK_ORIGINS
            .map(String::from)
            .into_iter()
            .chain(args.mcp_allowed_origins.iter().cloned())
            .collect(),
        ..wikirag_server::ServerConfig::default()
    };
    let (backend, wake) = reloadable(first, &args.index, args.reload_s, args.retrieval, args.llm)?;
    let app = wikirag_server::router(backend, config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    #[cfg(unix)]
    runtime.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            while hup.recv().await.is_some() {
                let _ = wake.send(());
            }
        }
    });
    #[cfg(not(unix))]
    drop(wake);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("listening on {}", args.addr))?;
        eprintln!(
            "wikirag serving {} on http://{}",
            args.index.display(),
            listener.local_addr()?
        );
        let limits = wikirag_server::ConnectionLimits {
            max_connections: args.max_connections.max(1),
            header_timeout: Duration::from_secs(args.header_timeout_s.max(1)),
            ..Default::default()
        };
        wikirag_server::serve(listener, app, limits, shutdown_signal())
            .await
            .context("serving")?;
        eprintln!("wikirag: shut down");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
