//! Generates a large **synthetic** dump for throughput and memory measurements: the pages of a
//! real sample replicated with new ids and titles ("Synthetic 000042 Alabama"), labelled
//! synthetic in `<siteinfo>`, written as plain XML or bzip2 multistream (100 pages per stream,
//! compressed on all cores) with its `-multistream-index.txt.bz2`.
//!
//! cargo run --release -p wikirag-benches --bin synth-dump -- --size-mb 1024 --out /tmp/synth.xml.bz2

use anyhow::{Context, Result, bail};
use clap::Parser;
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
struct Args {
    /// Source dump whose pages are replicated (default: the shared enwiki 2016 sample).
    #[arg(long)]
    source: Option<PathBuf>,
    /// Approximate size of the uncompressed XML, in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mb: u64,
    /// Output: `.xml` for plain XML, `.bz2` for bzip2 multistream (+ index file beside it).
    #[arg(long)]
    out: PathBuf,
}

/// One compressed stream: (page id, title) of its pages, XML length, bytes on disk.
type Stream = (Vec<(u64, String)>, usize, Vec<u8>);

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn main() -> Result<()> {
    let args = Args::parse();
    let source = match args.source {
        Some(s) => s,
        None => wikirag_benches::shared_wiki()
            .context("no --source and ../shared/data/wiki is absent")?
            .join("enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2"),
    };
    let (site, pages) = wikirag_benches::load_pages(&source)?;
    let pages: Vec<_> = pages.into_iter().filter(|p| p.namespace == 0).collect();
    if pages.is_empty() {
        bail!("{} has no articles", source.display());
    }
    let base = site
        .base
        .clone()
        .unwrap_or_else(|| "https://en.wikipedia.org/wiki/Main_Page".into());
    // Every namespace of the source, as real dumps list them (tools read e.g. the Template
    // namespace name from here).
    let mut namespaces = String::new();
    for (key, name) in &site.namespaces {
        if name.is_empty() {
            namespaces.push_str(&format!(
                "      <namespace key=\"{key}\" case=\"first-letter\" />\n"
            ));
        } else {
            namespaces.push_str(&format!(
                "      <namespace key=\"{key}\" case=\"first-letter\">{}</namespace>\n",
                escape(name)
            ));
        }
    }
    let header = format!(
        "<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.10/\" version=\"0.10\" xml:lang=\"en\">\n  <siteinfo>\n    <sitename>SYNTHETIC wikirag benchmark dump (replicated from {})</sitename>\n    <dbname>{}</dbname>\n    <base>{}</base>\n    <namespaces>\n{}    </namespaces>\n  </siteinfo>\n",
        escape(&source.file_name().unwrap_or_default().to_string_lossy()),
        site.dbname.as_deref().unwrap_or("enwiki"),
        escape(&base),
        namespaces
    );
    let footer = "</mediawiki>\n";
    let target = args.size_mb << 20;
    let page_xml = |i: u64| -> (u64, String, String) {
        let p = &pages[(i as usize) % pages.len()];
        let id = 10_000_000 + i;
        let title = format!("Synthetic {i:06} {}", p.title);
        let redirect = p
            .redirect
            .as_ref()
            .map(|t| {
                format!(
                    "\n    <redirect title=\"{}\" />",
                    escape(t).replace('"', "&quot;")
                )
            })
            .unwrap_or_default();
        let xml = format!(
            "  <page>\n    <title>{}</title>\n    <ns>0</ns>\n    <id>{id}</id>{redirect}\n    <revision>\n      <id>{}</id>\n      <timestamp>2025-01-01T00:00:00Z</timestamp>\n      <text xml:space=\"preserve\">{}</text>\n    </revision>\n  </page>\n",
            escape(&title),
            id * 10,
            escape(&p.text)
        );
        (id, title, xml)
    };
    let bz2 = args.out.extension().is_some_and(|e| e == "bz2");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?,
    );
    let mut index_lines = String::new();
    let compress = |s: &[u8]| -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(9));
        e.write_all(s).expect("in memory");
        e.finish().expect("in memory")
    };
    let mut offset: u64 = 0;
    let mut written_xml: u64 = 0;
    let mut i: u64 = 0;
    let h = if bz2 {
        compress(header.as_bytes())
    } else {
        header.clone().into_bytes()
    };
    out.write_all(&h)?;
    offset += h.len() as u64;
    written_xml += header.len() as u64;
    // Batches of streams, compressed in parallel, written in order.
    const PAGES_PER_STREAM: u64 = 100;
    const STREAMS_PER_BATCH: u64 = 64;
    while written_xml < target {
        let streams: Vec<Vec<(u64, String, String)>> = (0..STREAMS_PER_BATCH)
            .map(|s| {
                (0..PAGES_PER_STREAM)
                    .map(|k| page_xml(i + s * PAGES_PER_STREAM + k))
                    .collect()
            })
            .collect();
        i += STREAMS_PER_BATCH * PAGES_PER_STREAM;
        let blobs: Vec<Stream> = streams
            .into_par_iter()
            .map(|stream| {
                let xml: String = stream.iter().map(|(_, _, x)| x.as_str()).collect();
                let ids = stream.into_iter().map(|(id, t, _)| (id, t)).collect();
                let bytes = if bz2 {
                    compress(xml.as_bytes())
                } else {
                    xml.clone().into_bytes()
                };
                (ids, xml.len(), bytes)
            })
            .collect();
        for (ids, xml_len, bytes) in blobs {
            for (id, title) in ids {
                index_lines.push_str(&format!("{offset}:{id}:{title}\n"));
            }
            out.write_all(&bytes)?;
            offset += bytes.len() as u64;
            written_xml += xml_len as u64;
        }
        eprint!("\r{} MiB of XML", written_xml >> 20);
    }
    let f = if bz2 {
        compress(footer.as_bytes())
    } else {
        footer.as_bytes().to_vec()
    };
    out.write_all(&f)?;
    out.flush()?;
    eprintln!();
    if bz2 {
        let name = args.out.file_name().unwrap_or_default().to_string_lossy();
        let stem = name.trim_end_matches(".xml.bz2").trim_end_matches(".bz2");
        // Wikimedia's naming: X-multistream.xml.bz2 → X-multistream-index.txt.bz2.
        let index = match stem.strip_suffix("-multistream") {
            Some(base) => format!("{base}-multistream-index.txt.bz2"),
            None => format!("{stem}-multistream-index.txt.bz2"),
        };
        let index = args.out.with_file_name(index);
        std::fs::write(&index, compress(index_lines.as_bytes()))?;
        println!(
            "wrote {} ({} MiB XML, {} pages) and {}",
            args.out.display(),
            written_xml >> 20,
            i,
            index.display()
        );
    } else {
        println!(
            "wrote {} ({} MiB, {} pages)",
            args.out.display(),
            written_xml >> 20,
            i
        );
    }
    Ok(())
}
