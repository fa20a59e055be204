//! The dump reader on arbitrary bytes: every page it hands out or error it reports, never a
//! panic, a hang or unbounded memory (the page limit is small so the budget path is reached).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use wikirag_corpus::DumpReader;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = DumpReader::new(Path::new("fuzz.xml"), data) else {
        return;
    };
    let mut reader = reader.with_max_page_bytes(4096);
    let _ = reader.site_info();
    let mut n = 0;
    while let Some(item) = reader.next_page() {
        n += 1;
        if let Err(e) = item {
            let _ = e.to_string();
            if e.is_fatal() {
                break;
            }
        }
        assert!(n < 1_000_000, "pages without end");
    }
});
