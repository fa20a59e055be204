//! The real dump samples in `../shared/data/wiki`: every one reads without a fault, page counts
//! match SOURCES.md, and the cleaned text of real pages is pinned by snapshots.
//! Each test skips with a message when the folder is absent.

use std::path::Path;
use std::sync::Arc;
use wikirag_core::{Article, Language, NoProgress, StopFlag};
use wikirag_index::DumpRecord;
use wikirag_indexer::{Input, ReadConfig};
use wikirag_tests::{Collect, shared};

fn read(config: ReadConfig, keep: Option<&'static [&'static str]>) -> (DumpRecord, Collect) {
    let mut sink = Collect {
        keep,
        ..Collect::default()
    };
    let records =
        wikirag_indexer::read_into(&config, &mut sink, Arc::new(NoProgress), &StopFlag::new())
            .unwrap();
    (records.into_iter().next().unwrap(), sink)
}

fn config(path: &Path, namespaces: Vec<i32>) -> ReadConfig {
    ReadConfig {
        inputs: vec![Input::new(path)],
        namespaces,
        threads: 2,
        ..ReadConfig::default()
    }
}

/// (file, `<page>` count from SOURCES.md, language read from siteinfo)
const DUMPS: &[(&str, u64, &str)] = &[
    (
        "enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2",
        206,
        "en",
    ),
    (
        "enwiki-2014-uwpce-pages-articles1-p10p10000-shortened.xml.bz2",
        180,
        "en",
    ),
    ("enwiki-2013-wikibrain-en_test.xml", 44, "en"),
    ("enwiki-camchenry-bench-10k.xml.bz2", 196, "en"),
    ("enwiki-dbpedia-minidump.xml.bz2", 27, "en"),
    ("enwiki-2017-gensim-table-markup.xml.bz2", 5, "und"),
    ("simplewiki-camchenry-test.xml.bz2", 7, "en"),
    ("simplewiki-dbpedia-minidump.xml.bz2", 1, "en"),
    ("frwiki-2022-maain-first22pages.xml", 22, "fr"),
    ("frwiki-2020-maain-first22pages.xml", 22, "fr"),
    ("frwiki-dbpedia-minidump.xml.bz2", 3, "en"),
    ("dewiki-dbpedia-minidump.xml.bz2", 2, "en"),
    ("ltgwiki-2017-complete-pages-articles.xml.bz2", 2004, "ltg"),
    ("itwiki-2013-json-wikipedia-small-dump.xml.gz", 747, "it"),
    (
        "enwiktionary-20150224-pages-articles-multistream.xml.bz2",
        300,
        "en",
    ),
    (
        "enwiktionary-2018-wikitextprocessor-test-pages-articles.xml.bz2",
        1389,
        "en",
    ),
    ("aawiki-20260101-pages-meta-current.xml.bz2", 507, "aa"),
];

#[test]
fn every_shared_dump_reads_without_a_fault() {
    let Some(_) = shared("") else { return };
    let mut report = Vec::new();
    for (name, pages, lang) in DUMPS {
        let path = shared(name).unwrap();
        // Every namespace: all pages must go through the cleaner.
        let all: Vec<i32> = (-2..3000).collect();
        let mut cfg = config(&path, all);
        cfg.parse_timeout = std::time::Duration::from_secs(1);
        let (rec, sink) = read(cfg, None);
        assert!(rec.fatal_error.is_none(), "{name}: {:?}", rec.fatal_error);
        assert_eq!(rec.pages_read, *pages, "{name}");
        // ltgwiki's `Taiss:Navbox` (ns 10) once used the whole parser budget and was skipped;
        // since the balance pass closes openers as the parser does, every page goes in.
        assert_eq!(rec.skipped, 0, "{name}: {:?}", rec.page_errors);
        assert_eq!(rec.language, *lang, "{name}");
        assert_eq!(rec.articles + rec.redirects, *pages, "{name}");
        assert_eq!(sink.articles.len() as u64, rec.articles);
        // No markup survives cleaning (help pages in other namespaces show markup on purpose).
        for a in sink.articles.iter().filter(|a| !a.title.contains(':')) {
            for s in &a.sentences {
                for bad in ["{{", "}}", "[[", "]]", "<ref", "&lt;", "'''"] {
                    assert!(
                        !s.text.contains(bad),
                        "{name}: {:?} sentence {} keeps {bad:?}: {}",
                        a.title,
                        s.ordinal,
                        s.text
                    );
                }
            }
        }
        report.push(format!(
            "{name}: {} articles, {} sentences",
            rec.articles, rec.sentences
        ));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn wiktionary_multistream_with_and_without_index_agrees() {
    let Some(path) = shared("enwiktionary-20150224-pages-articles-multistream.xml.bz2") else {
        return;
    };
    let index = shared("enwiktionary-20150224-pages-articles-multistream-index.txt.bz2").unwrap();
    let mut with_index = config(&path, vec![0]);
    with_index.inputs[0].multistream_index = Some(index);
    let mut sequential = config(&path, vec![0]);
    sequential.parallel_decompression = false;
    let runs = [config(&path, vec![0]), with_index, sequential].map(|c| {
        let (rec, mut sink) = read(c, None);
        // Cleaner threads finish in any order; the index does not depend on it.
        sink.articles.sort_by_key(|a| a.page_id);
        (rec, sink)
    });
    assert!(runs[0].0.mode.contains("Parallel"), "{}", runs[0].0.mode);
    assert!(runs[2].0.mode.contains("Sequential"), "{}", runs[2].0.mode);
    for (rec, sink) in &runs {
        assert!(
            rec.fatal_error.is_none(),
            "{}: {:?}",
            rec.mode,
            rec.fatal_error
        );
        assert_eq!(rec.pages_read, 300);
        assert_eq!(rec.articles, 274);
        assert_eq!(sink.articles, runs[0].1.articles);
    }
}

/// The first sentences and every fact of a page, as a reader would check them.
fn render(a: &Article, prose: usize) -> String {
    let mut out = format!(
        "# {} ({}) — {} sentences\n",
        a.title,
        a.url,
        a.sentences.len()
    );
    let mut shown = 0;
    for s in &a.sentences {
        let keep = s.kind == wikirag_core::SentenceKind::Fact || shown < prose;
        if keep {
            if s.kind != wikirag_core::SentenceKind::Fact {
                shown += 1;
            }
            out.push_str(&format!(
                "[{}] {{{}}} {:?}: {}\n",
                s.ordinal, s.section, s.kind, s.text
            ));
        }
    }
    out.push_str(&format!("categories: {}\n", a.categories.join(" | ")));
    out
}

fn snapshot(file: &str, titles: &'static [&'static str], prose: usize) {
    let Some(path) = shared(file) else { return };
    let (_, sink) = read(config(&path, vec![0]), Some(titles));
    assert_eq!(sink.articles.len(), titles.len(), "{file}");
    for a in &sink.articles {
        let name = a.title.replace([' ', '(', ')', '\''], "_");
        insta::assert_snapshot!(name, render(a, prose));
    }
}

#[test]
fn cleaned_text_of_english_pages() {
    snapshot(
        "enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2",
        &["Alabama", "Albedo"],
        25,
    );
    snapshot(
        "enwiki-2017-gensim-table-markup.xml.bz2",
        &["Economy of Estonia"],
        30,
    );
}

#[test]
fn cleaned_text_of_french_pages() {
    snapshot(
        "frwiki-2022-maain-first22pages.xml",
        &["Antoine Meillet", "Algorithmique"],
        25,
    );
}

/// Facts that live only in an infobox are retrievable as sentences.
#[test]
fn infobox_facts_of_real_pages() {
    let Some(path) = shared("enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2")
    else {
        return;
    };
    let (_, sink) = read(config(&path, vec![0]), Some(&["Alabama"]));
    let facts: Vec<&str> = sink.articles[0]
        .sentences
        .iter()
        .filter(|s| s.kind == wikirag_core::SentenceKind::Fact)
        .map(|s| s.text.as_str())
        .collect();
    assert!(
        facts.contains(&"Alabama — Capital: Montgomery"),
        "{facts:#?}"
    );
    assert!(
        facts.iter().any(|f| f.starts_with("Alabama — Governor: ")),
        "{facts:#?}"
    );
}

/// The fast sentence scanner gives the same sentences as UAX #29 on real English and French
/// paragraphs (rebuilt by joining prose sentences), apart from its deliberate split before a
/// sentence that starts with a number.
#[test]
fn fast_sentence_split_agrees_with_uax29_on_real_text() {
    for (file, lang) in [
        (
            "enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2",
            Language::English,
        ),
        ("frwiki-2022-maain-first22pages.xml", Language::French),
    ] {
        let Some(path) = shared(file) else { return };
        let (_, sink) = read(config(&path, vec![0]), None);
        let (mut same, mut total) = (0usize, 0usize);
        for a in &sink.articles {
            let prose: Vec<&wikirag_core::Sentence> = a
                .sentences
                .iter()
                .filter(|s| s.kind == wikirag_core::SentenceKind::Prose)
                .collect();
            for chunk in prose.chunks(4) {
                let paragraph = chunk
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                total += 1;
                if wikirag_corpus::split_sentences(&paragraph, &lang)
                    == wikirag_corpus::split_sentences_uax29(&paragraph, &lang)
                {
                    same += 1;
                } else if std::env::var_os("SHOW_SPLIT_DIFF").is_some() {
                    eprintln!(
                        "DIFF\n fast: {:?}\n uax:  {:?}",
                        wikirag_corpus::split_sentences(&paragraph, &lang),
                        wikirag_corpus::split_sentences_uax29(&paragraph, &lang)
                    );
                }
            }
        }
        let rate = same as f64 / total as f64;
        eprintln!(
            "{file}: {same}/{total} paragraphs split identically ({:.3})",
            rate
        );
        assert!(rate >= 0.99, "{file}: only {rate:.4} agree");
    }
}
