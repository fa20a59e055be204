//! Bad input: a clear error naming the file and offset (or page), never a panic, and every
//! whole page before the fault still indexed.

use wikirag_index::SentenceIndex;
use wikirag_tests::{build, read_config, sample};

fn sample_xml() -> String {
    std::fs::read_to_string(sample("enwiki-sample.xml")).unwrap()
}

/// Index `bytes` written as `name`; returns the manifest's single dump record.
fn index_bytes(name: &str, bytes: &[u8]) -> (wikirag_index::DumpRecord, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = dir.path().join("idx");
    let m = build(read_config(&[&path]), &out).unwrap();
    SentenceIndex::open(&out).expect("an index is published even after a fault");
    (m.dumps[0].clone(), dir)
}

fn total_articles() -> u64 {
    let dir = tempfile::tempdir().unwrap();
    build(
        read_config(&[&sample("enwiki-sample.xml")]),
        &dir.path().join("i"),
    )
    .unwrap()
    .counts
    .articles
}

#[test]
fn truncated_multistream_bz2_keeps_earlier_pages() {
    let bytes = std::fs::read(sample("enwiki-sample-multistream.xml.bz2")).unwrap();
    let cut = bytes.len() * 6 / 10;
    let (rec, _dir) = index_bytes("cut-multistream.xml.bz2", &bytes[..cut]);
    let err = rec
        .fatal_error
        .clone()
        .expect("a truncated file is an error");
    assert!(err.contains("cut-multistream.xml.bz2"), "{err}");
    assert!(err.contains("compressed byte"), "{err}");
    assert!(
        rec.articles > 0 && rec.articles < total_articles(),
        "{rec:?}"
    );
    // The count the message gives is what was kept (it used to be taken before the cleaners
    // had handed over every page read before the fault).
    assert!(
        err.contains(&format!(
            "the {} articles and {} redirects before the fault were kept",
            rec.articles, rec.redirects
        )),
        "{err} / {rec:?}"
    );
}

/// The sample's pages repeated under new ids and titles, so the XML spans several bzip2
/// blocks (bzip2 cannot give back anything of a block it did not read whole).
fn large_xml(copies: usize) -> String {
    let xml = sample_xml();
    let start = xml.find("  <page>").unwrap();
    let end = xml.rfind("</mediawiki>").unwrap();
    let (head, pages) = (&xml[..start], &xml[start..end]);
    let mut out = head.to_string();
    for c in 0..copies {
        out.push_str(
            &pages
                .replace("<id>20", &format!("<id>{}", 100 + c))
                .replace("<title>", &format!("<title>Copy {c} ")),
        );
    }
    out.push_str("</mediawiki>\n");
    out
}

#[test]
fn truncated_single_stream_bz2_keeps_earlier_pages() {
    let xml = large_xml(40);
    assert!(xml.len() > 500_000);
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    std::io::Write::write_all(&mut enc, xml.as_bytes()).unwrap();
    let bytes = enc.finish().unwrap();
    let (rec, _dir) = index_bytes("cut.xml.bz2", &bytes[..bytes.len() * 7 / 10]);
    let err = rec
        .fatal_error
        .clone()
        .expect("a truncated file is an error");
    assert!(err.contains("cut.xml.bz2"), "{err}");
    assert!(rec.articles > 0, "{rec:?}");
}

/// A multistream file whose damaged stream holds several bzip2 blocks (as the enwiktionary
/// sample cut at 230,542 bytes): the parallel path keeps every page of the whole blocks before
/// the fault, exactly as the sequential path does (it used to publish nothing: "malformed XML
/// at byte 0").
#[test]
fn a_damaged_multistream_stream_keeps_its_whole_blocks_in_parallel_too() {
    let xml = large_xml(40);
    let start = xml.find("  <page>").unwrap();
    let end = xml.rfind("</mediawiki>").unwrap();
    let mut bytes = Vec::new();
    for part in [&xml[..start], &xml[start..end], &xml[end..]] {
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        std::io::Write::write_all(&mut enc, part.as_bytes()).unwrap();
        bytes.extend(enc.finish().unwrap());
    }
    let cut = &bytes[..bytes.len() * 7 / 10];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut-multistream.xml.bz2");
    std::fs::write(&path, cut).unwrap();
    let mut records = Vec::new();
    for parallel in [true, false] {
        let mut config = read_config(&[&path]);
        config.parallel_decompression = parallel;
        let m = build(config, &dir.path().join(format!("idx-{parallel}"))).unwrap();
        let rec = m.dumps[0].clone();
        assert!(rec.fatal_error.is_some(), "{rec:?}");
        assert!(rec.articles > 0, "parallel {parallel}: {rec:?}");
        records.push((rec.articles, rec.redirects, m.counts.sentences));
    }
    assert_eq!(records[0], records[1], "parallel vs sequential");
}

/// A damaged stream in the middle of a multistream dump (Wikimedia's layout: a head stream
/// with `<siteinfo>`, streams of whole pages, a footer): the parallel path keeps every page of
/// every other stream, before and after it, and says which stream was damaged (it used to
/// stop there and lose the rest of the file). The sequential path still stops at the damage.
#[test]
fn a_damaged_stream_in_the_middle_loses_only_its_own_pages() {
    let xml = large_xml(12);
    let start = xml.find("  <page>").unwrap();
    let end = xml.rfind("</mediawiki>").unwrap();
    let pages: Vec<&str> = xml[start..end].split_inclusive("  </page>\n").collect();
    let mut parts = vec![&xml[..start]];
    let chunk = pages.len().div_ceil(8); // 8 page streams
    let groups: Vec<String> = pages.chunks(chunk).map(|c| c.concat()).collect();
    parts.extend(groups.iter().map(String::as_str));
    parts.push(&xml[end..]);
    let mut bytes = Vec::new();
    let mut damaged_at = 0;
    for (i, part) in parts.iter().enumerate() {
        let mut stream = wikirag_tests::bzip2(part.as_bytes());
        if i == 4 {
            // Inside the block's data, past its header: the block fails its checks.
            let at = stream.len() / 2;
            for b in &mut stream[at..at + 8] {
                *b ^= 0x5A;
            }
            damaged_at = bytes.len();
        }
        bytes.extend(stream);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged-multistream.xml.bz2");
    std::fs::write(&path, &bytes).unwrap();
    let titles = |path: &std::path::Path, parallel: bool| {
        let mut config = read_config(&[path]);
        config.parallel_decompression = parallel;
        let mut sink = wikirag_tests::Collect::default();
        let records = wikirag_indexer::read_into(
            &config,
            &mut sink,
            std::sync::Arc::new(wikirag_core::NoProgress),
            &wikirag_core::StopFlag::new(),
        )
        .unwrap();
        let titles: std::collections::BTreeSet<String> =
            sink.articles.into_iter().map(|a| a.title).collect();
        (titles, records[0].clone())
    };
    let whole_path = dir.path().join("whole.xml");
    std::fs::write(&whole_path, &xml).unwrap();
    let (whole, _) = titles(&whole_path, true);
    let lost: Vec<&str> = groups[3]
        .match_indices("<title>")
        .map(|(at, _)| {
            let rest = &groups[3][at + 7..];
            &rest[..rest.find("</title>").unwrap()]
        })
        .filter(|t| whole.contains(*t))
        .collect();
    assert!(!lost.is_empty());
    let (kept, rec) = titles(&path, true);
    let err = rec.fatal_error.clone().expect("the damage is reported");
    assert!(
        err.contains(&format!("compressed byte {damaged_at}")) && err.contains("damaged"),
        "{err}"
    );
    assert!(err.contains("the streams after it were read"), "{err}");
    let expected: std::collections::BTreeSet<String> = whole
        .iter()
        .filter(|t| !lost.contains(&t.as_str()))
        .cloned()
        .collect();
    assert_eq!(kept, expected);
    // The published index has the same articles.
    let m = build(read_config(&[&path]), &dir.path().join("idx")).unwrap();
    assert_eq!(m.counts.articles, kept.len() as u64);
    assert!(m.dumps[0].fatal_error.is_some());
    // Sequentially, the damage ends the file (bzip2 cannot find the next stream itself).
    let (sequential, rec) = titles(&path, false);
    assert!(sequential.len() < kept.len() && rec.fatal_error.is_some());
}

#[test]
fn xml_breaking_mid_file_names_the_offset_and_last_page() {
    let xml = sample_xml();
    let cut = xml.find("<title>Madrid</title>").unwrap();
    let broken = format!("{}<page><title>oops</wrong>", &xml[..cut]);
    let (rec, _dir) = index_bytes("broken.xml", broken.as_bytes());
    let err = rec.fatal_error.clone().unwrap();
    assert!(err.contains("broken.xml") && err.contains("byte"), "{err}");
    assert!(err.contains("after page id"), "{err}");
    assert!(rec.articles >= 3, "{rec:?}");
}

#[test]
fn a_file_that_just_stops_is_truncated_not_complete() {
    let xml = sample_xml();
    let cut = xml.find("<title>Madrid</title>").unwrap() - "  <page>\n    ".len();
    let (rec, _dir) = index_bytes("stops.xml", &xml.as_bytes()[..cut]);
    let err = rec.fatal_error.clone().unwrap();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn invalid_utf8_skips_only_that_page() {
    let xml = sample_xml();
    let mut bytes = xml.clone().into_bytes();
    let at = xml.find("Prado Museum").unwrap();
    bytes[at] = 0xFF;
    bytes[at + 1] = 0xFE;
    let (rec, _dir) = index_bytes("bad-utf8.xml", &bytes);
    assert_eq!(rec.skipped, 1, "{rec:?}");
    assert_eq!(rec.articles, total_articles() - 1);
    assert!(rec.fatal_error.is_none());
    assert!(
        rec.page_errors[0].contains("Madrid") && rec.page_errors[0].contains("UTF-8"),
        "{:?}",
        rec.page_errors
    );
}

#[test]
fn a_10_mb_page_is_skipped_with_its_id() {
    let xml = sample_xml();
    let huge = "Lorem ipsum dolor sit amet. ".repeat(10 * 1024 * 1024 / 28 + 1);
    let xml = xml.replacen(
        "The Prado Museum holds",
        &format!("{huge} The Prado Museum holds"),
        1,
    );
    let (rec, _dir) = index_bytes("huge.xml", xml.as_bytes());
    assert_eq!(rec.skipped, 1, "{rec:?}");
    assert!(
        rec.page_errors[0].contains("over the limit"),
        "{:?}",
        rec.page_errors
    );
    assert!(
        rec.page_errors[0].contains("Madrid"),
        "{:?}",
        rec.page_errors
    );
    assert_eq!(rec.articles, total_articles() - 1);
}

#[test]
fn pathological_wikitext_does_not_crash() {
    let xml = sample_xml();
    let nasty = [
        format!("{}x{}", "{{a|".repeat(20_000), "}}".repeat(20_000)),
        "{{".repeat(50_000),
        "[[".repeat(50_000),
        format!("{}cell", "{|\n|".repeat(5_000)),
        "'''''".repeat(20_000),
        "<ref>".repeat(20_000),
        format!("{}deep", "*".repeat(10_000)),
    ]
    .join("\n\n")
    .replace('&', "&amp;")
    .replace('<', "&lt;");
    let xml = xml.replacen(
        "The Prado Museum holds",
        &format!("{nasty} The Prado Museum holds"),
        1,
    );
    let (rec, _dir) = index_bytes("nasty.xml", xml.as_bytes());
    assert!(rec.fatal_error.is_none(), "{rec:?}");
    assert_eq!(rec.articles + rec.skipped, total_articles());
}

#[test]
fn not_a_dump_at_all() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("noise.xml", &b"this is not xml <<<< at all"[..]),
        (
            "random.bz2",
            &[b'B', b'Z', b'h', b'9', 1, 2, 3, 4, 5, 6, 7, 8, 9][..],
        ),
        ("empty.xml", &b""[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = build(read_config(&[&path]), &dir.path().join("idx")).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
        assert!(!dir.path().join("idx").exists());
    }
}

#[test]
fn a_bad_file_among_good_ones_loses_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<mediawiki><siteinfo>").unwrap();
    let m = build(
        read_config(&[&bad, &sample("frwiki-sample.xml")]),
        &dir.path().join("idx"),
    )
    .unwrap();
    assert!(
        m.dumps[0]
            .fatal_error
            .as_deref()
            .unwrap()
            .contains("bad.xml")
    );
    assert_eq!(m.dumps[1].articles, 9);
}

/// A build in which every page was skipped (Latin-1 text, no declaration) fails and says
/// why; it used to publish an empty index and exit 0.
#[test]
fn a_build_that_skipped_every_page_fails_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.xml");
    let mut dump = b"<mediawiki><siteinfo><dbname>frwiki</dbname></siteinfo>\n".to_vec();
    for i in 1..=3 {
        dump.extend_from_slice(
            format!(
                "<page><title>P{i}</title><ns>0</ns><id>{i}</id><revision><id>9</id><text>Un caf"
            )
            .as_bytes(),
        );
        dump.extend_from_slice(b"\xe9 chaud.</text></revision></page>\n");
    }
    dump.extend_from_slice(b"</mediawiki>\n");
    std::fs::write(&path, &dump).unwrap();
    let out = dir.path().join("idx");
    let err = build(read_config(&[&path]), &out).unwrap_err().to_string();
    assert!(
        err.contains("3 pages read: 3 skipped") && err.contains("UTF-8"),
        "{err}"
    );
    assert!(!out.exists(), "nothing published");
}

/// The same dump given twice (here as XML and as bz2 multistream) is indexed once: the
/// second copy's pages are counted as unchanged, not added again (every hit came twice).
#[test]
fn the_same_dump_given_twice_is_indexed_once() {
    let dir = tempfile::tempdir().unwrap();
    let once = build(
        read_config(&[&sample("frwiki-sample.xml")]),
        &dir.path().join("once"),
    )
    .unwrap();
    let twice = build(
        read_config(&[
            &sample("frwiki-sample.xml"),
            &sample("frwiki-sample-multistream.xml.bz2"),
        ]),
        &dir.path().join("twice"),
    )
    .unwrap();
    assert_eq!(twice.counts, once.counts);
    assert_eq!(twice.dumps[1].articles, 0);
    assert_eq!(
        twice.dumps[1].unchanged,
        once.dumps[0].articles + once.dumps[0].redirects
    );
    let index = wikirag_index::SentenceIndex::open(&dir.path().join("twice")).unwrap();
    let hits = index
        .search(&wikirag_core::SearchRequest {
            query: "Premier ministre".into(),
            k: 20,
            context: 0,
            per_page: 20,
        })
        .unwrap();
    let mut keys: Vec<_> = hits.iter().map(|h| (h.page_id, h.sentence)).collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "duplicate hits");
}
