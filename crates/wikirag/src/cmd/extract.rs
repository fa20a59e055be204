//! `wikirag extract`: the cleaned text of a dump, as the index sees it.

use crate::cmd::{ReadArgs, reporter, stop_on_ctrl_c};
use crate::terminal::safe;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(crate) struct ExtractArgs {
    #[command(flatten)]
    read: ReadArgs,
    /// One JSON object per article instead of text.
    #[arg(long)]
    json: bool,
    /// Only the article with this exact title.
    #[arg(long)]
    title: Option<String>,
    /// Write here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub(crate) struct ExtractSink<W: Write> {
    out: W,
    json: bool,
    title: Option<String>,
    written: u64,
}

impl<W: Write> wikirag_indexer::Sink for ExtractSink<W> {
    fn article(&mut self, a: &wikirag_core::Article) -> wikirag_indexer::Result<()> {
        if self.title.as_ref().is_some_and(|t| t != &a.title) {
            return Ok(());
        }
        self.written += 1;
        let io =
            |e: std::io::Error| wikirag_indexer::IndexerError::Sink(format!("writing output: {e}"));
        if self.json {
            let line = serde_json::to_string(a).expect("article serialises");
            writeln!(self.out, "{line}").map_err(io)?;
        } else {
            // One line per sentence: a control character from the dump (a line end in a
            // title) can neither break the format nor drive a terminal.
            writeln!(self.out, "# {} ({})", safe(&a.title), safe(&a.url)).map_err(io)?;
            let mut section = "";
            for s in &a.sentences {
                if s.section != section {
                    section = &s.section;
                    writeln!(self.out, "## {}", safe(section)).map_err(io)?;
                }
                writeln!(self.out, "{}", safe(&s.text)).map_err(io)?;
            }
            writeln!(self.out).map_err(io)?;
        }
        Ok(())
    }
    fn redirect(&mut self, _: &wikirag_index::Redirect<'_>) -> wikirag_indexer::Result<()> {
        Ok(())
    }
}

pub fn run(args: ExtractArgs) -> Result<i32> {
    let stop = stop_on_ctrl_c();
    let config = args.read.config();
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut sink = ExtractSink {
        out,
        json: args.json,
        title: args.title.clone(),
        written: 0,
    };
    let bars = reporter(args.read.quiet || args.output.is_none());
    let records = wikirag_indexer::read_into(&config, &mut sink, bars.clone(), &stop)?;
    drop(bars);
    sink.out.flush()?;
    if let Some(t) = &args.title
        && sink.written == 0
    {
        bail!("no article titled {t:?} in the given dumps");
    }
    let mut code = 0;
    for r in &records {
        if let Some(e) = &r.fatal_error {
            eprintln!("error: {e}");
            code = 1;
        }
    }
    Ok(code)
}
