//! The sentence splitters on arbitrary text: pieces that are non-empty, bounded and in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wikirag_core::Language;
use wikirag_corpus::{MAX_SENTENCE_BYTES, split_sentences, split_sentences_uax29};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for code in ["en", "fr", "ja"] {
        let lang = Language::from_code(code);
        for pieces in [
            split_sentences(text, &lang),
            split_sentences_uax29(text, &lang),
        ] {
            for p in &pieces {
                assert!(!p.trim().is_empty(), "empty sentence from {text:?}");
                assert!(p.len() <= MAX_SENTENCE_BYTES + 4, "{} bytes", p.len());
            }
        }
    }
});
