//! Fixtures shared by the benches and the synthetic dump generator.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use wikirag_core::{NoProgress, Page, SiteInfo};
use wikirag_corpus::{DumpReader, OpenOptions};

/// The shared real dumps, if present.
pub fn shared_wiki() -> Option<PathBuf> {
    let dir = std::env::var_os("WIKIRAG_SHARED_WIKI")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/wiki"));
    dir.is_dir().then_some(dir)
}

/// The bundled sample directory.
pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample")
}

/// All pages of a dump, in memory, with its siteinfo.
pub fn load_pages(path: &Path) -> anyhow::Result<(SiteInfo, Vec<Page>)> {
    let opened = wikirag_corpus::open(path, &OpenOptions::default(), Arc::new(NoProgress))?;
    let mut reader = DumpReader::new(path, opened.reader)?;
    let site = reader.site_info().clone();
    let mut pages = Vec::new();
    while let Some(page) = reader.next_page() {
        pages.push(page?);
    }
    Ok((site, pages))
}
