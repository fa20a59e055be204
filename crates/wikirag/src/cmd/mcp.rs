//! `wikirag mcp`: the Model Context Protocol server over stdio, for assistants that start
//! their tools as processes (Claude Desktop, VS Code, Cursor). Only protocol goes to stdout;
//! messages go to stderr.

use crate::cmd::IndexDir;
use crate::cmd::ask::{AskFlags, LlmArgs};
use crate::cmd::serve::{reloadable, served};
use crate::retrieval::RetrievalArgs;
use anyhow::{Context, Result};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct McpArgs {
    #[command(flatten)]
    pub index: IndexDir,
    /// Seconds before a tool call is answered with a time-out error.
    #[arg(long, default_value_t = 120)]
    pub timeout_s: u64,
    /// Longest query or question in characters.
    #[arg(long, default_value_t = 2000)]
    pub max_question_chars: usize,
    /// Check this often (seconds) whether `wikirag update` published a new generation of the
    /// index, and switch to it without a restart (0: never).
    #[arg(long, default_value_t = 2)]
    pub reload_s: u64,
    #[command(flatten)]
    pub ask: AskFlags,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub retrieval: RetrievalArgs,
}

pub fn run(args: McpArgs) -> Result<i32> {
    let first = served(&args.index, &args.retrieval, &args.llm)?;
    // `_wake` kept for the session: the watcher ends when nothing can wake it.
    let (backend, _wake) = reloadable(first, &args.index, args.reload_s, args.retrieval, args.llm)?;
    let config = wikirag_server::ServerConfig {
        max_question_chars: args.max_question_chars,
        request_timeout: Duration::from_secs(args.timeout_s),
        ask: args.ask.options(),
        ..wikirag_server::ServerConfig::default()
    };
    eprintln!(
        "wikirag: MCP server on stdio for {} (tools: search, fetch, ask)",
        args.index.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(wikirag_server::mcp::serve_stdio(backend, config))
        .context("MCP over stdio")?;
    Ok(0)
}
