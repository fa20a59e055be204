//! `wikirag ask` and `wikirag serve`: the LLM backend from flags, the pipeline over the index.

use crate::cmd::IndexDir;
use crate::retrieval::{self, RetrievalArgs, WikiSearcher};
use crate::terminal::{safe, safe_lines};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wikirag_core::Llm;
use wikirag_llm::{Azure, LocalConfig, LocalGguf, OpenAi, OpenAiConfig};
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

#[derive(clap::Args, Debug, Clone)]
pub struct LlmArgs {
    /// The answering backend.
    #[arg(long, value_enum, default_value = "extractive")]
    pub llm: LlmKind,
    /// Model name on the server (openai).
    #[arg(long, default_value = "gpt-4o-mini")]
    pub model: String,
    /// Server base URL (openai): https://api.openai.com/v1, http://localhost:11434/v1 (Ollama),
    /// http://localhost:8080/v1 (llama.cpp), or an Azure resource URL.
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub base_url: String,
    /// Environment variable holding the API key (the key itself is never a flag or logged).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// Azure OpenAI deployment (with --azure-api-version).
    #[arg(long)]
    pub azure_deployment: Option<String>,
    #[arg(long, default_value = "2024-06-01")]
    pub azure_api_version: String,
    /// The model's context window in tokens (openai: default 8192; local: from the GGUF).
    #[arg(long)]
    pub context_window: Option<usize>,
    /// The model's tokenizer.json, or its GGUF file (the vocabulary inside), for exact token
    /// counts (openai; local: beside the GGUF, else inside it).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Seconds before an LLM request is abandoned.
    #[arg(long, default_value_t = 120)]
    pub llm_timeout_s: u64,
    /// The GGUF file (local).
    #[arg(long)]
    pub model_path: Option<PathBuf>,
    /// Run the local model on the GPU (needs a build with --features cuda).
    #[arg(long)]
    pub llm_cuda: bool,
}

impl LlmArgs {
    pub fn build(&self) -> Result<Option<Arc<dyn Llm>>> {
        Ok(match self.llm {
            LlmKind::Extractive => None,
            LlmKind::Openai => {
                let mut config = OpenAiConfig::new(&self.base_url, &self.model);
                config.api_key = std::env::var(&self.api_key_env)
                    .ok()
                    .filter(|k| !k.is_empty());
                if config.api_key.is_none() && self.base_url.contains("openai.com") {
                    bail!(
                        "no API key: set {} (or --api-key-env NAME) for {}",
                        self.api_key_env,
                        self.base_url
                    );
                }
                config.azure = self.azure_deployment.as_ref().map(|d| Azure {
                    deployment: d.clone(),
                    api_version: self.azure_api_version.clone(),
                });
                if let Some(w) = self.context_window {
                    config.context_window = w;
                }
                config.timeout = Duration::from_secs(self.llm_timeout_s);
                if let Some(t) = &self.tokenizer {
                    config.tokenizer = Some(
                        tokenizers_from(t).with_context(|| format!("loading {}", t.display()))?,
                    );
                }
                let client = OpenAi::new(config);
                // Without --context-window, budget to the window the server reports.
                Some(Arc::new(match self.context_window {
                    Some(_) => client,
                    None => client.with_server_window(),
                }))
            }
            LlmKind::Local => {
                let path = self
                    .model_path
                    .clone()
                    .context("--llm local needs --model-path FILE.gguf")?;
                let mut config = LocalConfig::new(path);
                config.tokenizer_path = self.tokenizer.clone();
                config.context_window = self.context_window;
                config.cuda = self.llm_cuda;
                Some(Arc::new(LocalGguf::load(&config)?))
            }
        })
    }
}

pub(crate) fn tokenizers_from(path: &std::path::Path) -> Result<wikirag_llm::Tokenizer> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return Ok(wikirag_llm::tokenizer_from_gguf(path)?);
    }
    wikirag_llm::Tokenizer::from_file(path).map_err(|e| anyhow::anyhow!("{e}"))
}

#[derive(clap::Args, Debug, Clone)]
pub struct AskFlags {
    /// Sentences retrieved.
    #[arg(short, long, default_value_t = 12, value_parser = retrieval::at_least_one)]
    pub k: usize,
    /// At most this many per page.
    #[arg(long, default_value_t = 3)]
    pub per_page: usize,
    /// Neighbouring sentences sent with each hit.
    #[arg(short = 'C', long, default_value_t = 1)]
    pub context: usize,
    /// A cap on evidence tokens, below what the model's context allows.
    #[arg(long)]
    pub max_context_tokens: Option<usize>,
    /// Tokens reserved for the answer.
    #[arg(long, default_value_t = 512)]
    pub answer_tokens: usize,
    /// Search only the question, not also its keyword rewrite.
    #[arg(long)]
    pub no_rewrite: bool,
    /// Let the LLM write the search keywords.
    #[arg(long)]
    pub llm_rewrite: bool,
    /// At most this many sentences in an extractive answer (it quotes one or two, as the
    /// evidence says).
    #[arg(long, default_value_t = 2)]
    pub extractive_sentences: usize,
    /// Replace a model's answer that cites no source by the extractive answer over the same
    /// evidence (or an abstention when there is none).
    #[arg(long)]
    pub require_citations: bool,
    /// When the evidence worth sending exceeds the model's budget, summarise it page group
    /// by page group with the model and answer from the summaries (LLM backends).
    #[arg(long)]
    pub summarise: bool,
    /// At most this many summary calls per question (with --summarise).
    #[arg(long, default_value_t = 8, value_parser = retrieval::at_least_one)]
    pub summary_calls: usize,
    /// Stop making summary calls after this many seconds (with --summarise).
    #[arg(long, default_value_t = 120)]
    pub summary_time_limit_s: u64,
}

impl AskFlags {
    pub fn options(&self) -> AskOptions {
        AskOptions {
            k: self.k,
            per_page: self.per_page,
            context: self.context,
            rewrite: !self.no_rewrite,
            llm_rewrite: self.llm_rewrite,
            max_context_tokens: self.max_context_tokens,
            answer_tokens: self.answer_tokens,
            extractive_sentences: self.extractive_sentences,
            require_citations: self.require_citations,
            summarise: self.summarise,
            summary_calls: self.summary_calls,
            summary_time_limit_ms: self.summary_time_limit_s.saturating_mul(1000),
            ..AskOptions::default()
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct AskArgs {
    #[command(flatten)]
    pub index: IndexDir,
    /// The question.
    #[arg(required = true)]
    pub question: Vec<String>,
    /// Print {answer, citations, evidence, usage, timings, ...} as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub ask: AskFlags,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub retrieval: RetrievalArgs,
}

/// The pipeline over an opened index.
pub fn pipeline(
    index: &std::path::Path,
    retrieval_args: &RetrievalArgs,
    llm: &LlmArgs,
) -> Result<Rag<WikiSearcher>> {
    Ok(open_rag(index, retrieval_args, llm)?.0)
}

pub(crate) fn open_rag(
    index: &std::path::Path,
    retrieval_args: &RetrievalArgs,
    llm: &LlmArgs,
) -> Result<(Rag<WikiSearcher>, retrieval::Opened)> {
    let opened = retrieval::open(index, retrieval_args)?;
    let searcher = opened.searcher(retrieval_args.options(&opened))?;
    Ok((Rag::new(searcher, llm.build()?), opened))
}

pub fn run(args: AskArgs) -> Result<i32> {
    let rag = pipeline(&args.index, &args.retrieval, &args.llm)?;
    let question = args.question.join(" ");
    let options = args.ask.options();
    let mut out = std::io::stdout().lock();
    let answer = if args.json {
        rag.ask(&question, &options, &mut |_| {})?
    } else {
        let answer = rag.ask(&question, &options, &mut |e| {
            if let AskEvent::Token(t) = e {
                let _ = write!(std::io::stdout(), "{}", safe_lines(t));
                let _ = std::io::stdout().flush();
            }
        })?;
        writeln!(out)?;
        answer
    };
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
        return Ok(0);
    }
    if answer.model_answer.is_some() {
        writeln!(
            out,
            "\n(the model cited no source; answering from the sources instead)\n{}",
            safe_lines(&answer.answer)
        )?;
    } else if answer.uncited {
        writeln!(
            out,
            "\n(warning: this answer cites no source; nothing in it is checked against the evidence)"
        )?;
    }
    if answer.truncated {
        writeln!(
            out,
            "(the answer was cut at the token limit: --answer-tokens)"
        )?;
    }
    if !answer.invalid_citations.is_empty() {
        writeln!(
            out,
            "\n(removed {} invalid citations: {})",
            answer.invalid_citations.len(),
            answer.invalid_citations.join("; ")
        )?;
        writeln!(out, "corrected answer: {}", safe_lines(&answer.answer))?;
    }
    writeln!(out, "\nSources:")?;
    for c in &answer.citations {
        let section = if c.section.is_empty() {
            String::new()
        } else {
            format!(" › {}", safe(&c.section))
        };
        writeln!(
            out,
            "  [{}] {}{} — {}",
            c.n,
            safe(&c.title),
            section,
            safe(&c.url)
        )?;
        writeln!(out, "      {}", safe(&c.text))?;
        // The sentence itself: the indexed revision, scrolled to and highlighted.
        if !c.link.is_empty() && c.link != c.url {
            writeln!(out, "      ↳ {}", safe(&c.link))?;
        }
    }
    if let Some(s) = &answer.summaries {
        writeln!(
            out,
            "(the evidence did not fit: {} summary calls, {} notes from {} sources{}{})",
            s.calls,
            s.notes.len(),
            answer.evidence.len() - s.unsummarised.len(),
            if s.unsummarised.is_empty() {
                String::new()
            } else {
                format!(", {} sources not summarised", s.unsummarised.len())
            },
            s.stopped
                .as_deref()
                .map_or(String::new(), |why| format!(", stopped at the {why}"))
        )?;
    } else if !answer.dropped.is_empty() {
        writeln!(
            out,
            "({} retrieved sentences did not fit the model's context; --summarise keeps them)",
            answer.dropped.len()
        )?;
    }
    writeln!(
        out,
        "({}, retrieval {:.1} ms, generation {:.1} ms)",
        answer.backend, answer.timings.retrieval_ms, answer.timings.generation_ms
    )?;
    Ok(0)
}

/// `wikirag eval --ask`: the pipeline as the evaluation harness sees it.
pub struct Asker<'a>(pub &'a Rag<WikiSearcher>, pub AskOptions);

impl wikirag_eval::Answerer for Asker<'_> {
    fn answer(&self, question: &str) -> Result<wikirag_eval::AskResult, String> {
        let a = self
            .0
            .ask(question, &self.1, &mut |_| {})
            .map_err(|e| e.to_string())?;
        Ok(wikirag_eval::AskResult {
            cited: a.citations.iter().map(|c| c.text.clone()).collect(),
            abstained: a.abstained,
            millis_without_generation: a.timings.total_ms - a.timings.generation_ms,
            answer: a.answer,
        })
    }
}
