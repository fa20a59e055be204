//! The wikitext cleaner (infoboxes, tables, lists, templates, sentence splitting) on arbitrary
//! wikitext, in English and French: an article or a per-page error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wikirag_core::{Language, Page, SiteInfo};
use wikirag_corpus::{CleanOptions, Cleaner};

/// One cleaner per language for the whole run: building the parser's configuration costs far
/// more than cleaning a small input, and it is built once per dump in the indexer too.
fn cleaner(code: &str) -> &'static Cleaner {
    static EN: OnceLock<Cleaner> = OnceLock::new();
    static FR: OnceLock<Cleaner> = OnceLock::new();
    let cell = if code == "fr" { &FR } else { &EN };
    cell.get_or_init(|| {
        Cleaner::new(
            &SiteInfo::default(),
            Language::from_code(code),
            CleanOptions::default(),
        )
    })
}

fuzz_target!(
    init: {
        // libFuzzer's hook aborts on every panic; a panic the cleaner catches (the parser's,
        // turned into that page's error) is not a crash.
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !wikirag_core::panic_is_caught() {
                abort(info);
            }
        }));
    },
    |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let (cleaner, text) = match text.strip_prefix("fr:") {
            Some(rest) => (cleaner("fr"), rest),
            None => (cleaner("en"), text),
        };
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
    }
);
