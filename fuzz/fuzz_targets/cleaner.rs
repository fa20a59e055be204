//! The wikitext cleaner (infoboxes, tables, lists, templates, sentence splitting) on arbitrary
//! wikitext, in English and French: an article or a per-page error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wikirag_core::{Language, Page, SiteInfo};
use wikirag_corpus::{CleanOptions, Cleaner};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (lang, text) = match text.strip_prefix("fr:") {
        Some(rest) => (Language::from_code("fr"), rest),
        None => (Language::from_code("en"), text),
    };
    let site = SiteInfo::default();
    let cleaner = Cleaner::new(&site, lang, CleanOptions::default());
    let page = Page {
        title: "Fuzz".into(),
        id: 1,
        text: text.to_string(),
        ..Page::default()
    };
    if let Ok(article) = cleaner.clean(&page) {
        for s in &article.sentences {
            assert!(!s.text.is_empty());
        }
    }
});
