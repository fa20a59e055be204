//! `wikirag update`: an index updated from a newer dump answers exactly like an index built
//! from that dump (real successive snapshots and synthetic pairs, with and without vectors);
//! deletions, renames, redirects, adds-changes files, several wikis in one index; faults leave
//! the previous generation whole.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wikirag_core::{Embedder, Hit, NoProgress, Progress, SearchRequest, StopFlag, TextRole};
use wikirag_index::{Manifest, SentenceIndex, WriterOptions};
use wikirag_indexer::{EmbedConfig, IndexerError, UpdateConfig, UpdateKind, UpdateReport};
use wikirag_models::{BertEmbedder, EmbedderOptions, write_tiny_bert};
use wikirag_tests::{build, build_with, read_config, shared};
use wikirag_vectors::{Dense, HnswParams, Mode, RetrievalOptions, Searcher, VectorIndex};

/// A page of a synthetic dump: (id, title, revision, wikitext).
type P<'a> = (u64, &'a str, u64, &'a str);

/// A dump of `wiki` (`frwiki`, `enwiki`); a text `#REDIRECT [[X]]` makes a redirect.
fn dump(wiki: &str, pages: &[P<'_>]) -> String {
    let lang = &wiki[..2];
    let mut out = format!(
        "<mediawiki xml:lang=\"{lang}\"><siteinfo><dbname>{wiki}</dbname>\
         <base>https://{lang}.wikipedia.org/wiki/Main</base></siteinfo>\n"
    );
    for (id, title, rev, text) in pages {
        let redirect = text
            .strip_prefix("#REDIRECT [[")
            .and_then(|t| t.strip_suffix("]]"))
            .map(|t| format!("<redirect title=\"{t}\"/>"))
            .unwrap_or_default();
        out.push_str(&format!(
            "<page><title>{title}</title><ns>0</ns><id>{id}</id>{redirect}<revision><id>{rev}</id>\
             <timestamp>2026-01-01T00:00:00Z</timestamp><text>{text}</text></revision></page>\n"
        ));
    }
    out.push_str("</mediawiki>\n");
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn update_config(index: &Path, inputs: &[&Path], embed: Option<EmbedConfig>) -> UpdateConfig {
    UpdateConfig {
        index: index.to_path_buf(),
        read: read_config(inputs),
        kind: UpdateKind::Full,
        keep_missing: false,
        allow_older: false,
        max_deleted_share: wikirag_indexer::DEFAULT_MAX_DELETED_SHARE,
        writer: WriterOptions {
            memory_mb: 64,
            ..WriterOptions::default()
        },
        embed,
    }
}

fn update(config: &UpdateConfig) -> wikirag_indexer::Result<UpdateReport> {
    wikirag_indexer::update(config, Arc::new(NoProgress), &StopFlag::new())
}

/// A hit as compared: page, sentence, title, text, score × 10⁴ rounded.
type Answer = (u64, u32, String, String, i64);

/// What a search answers, scores rounded to what float noise cannot change.
fn answers(hits: Vec<Hit>) -> Vec<Answer> {
    hits.into_iter()
        .map(|h| {
            (
                h.page_id,
                h.sentence,
                h.title,
                h.text,
                (f64::from(h.score) * 1e4).round() as i64,
            )
        })
        .collect()
}

fn bm25(dir: &Path, queries: &[String]) -> Vec<Vec<Answer>> {
    let index = SentenceIndex::open(dir).unwrap();
    queries
        .iter()
        .map(|q| {
            let mut req = SearchRequest::new(q.clone());
            req.context = 1;
            answers(index.search(&req).unwrap())
        })
        .collect()
}

fn questions(set: &str) -> Vec<String> {
    let text = std::fs::read_to_string(wikirag_tests::root().join("tests/eval").join(set)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let start = l.find("\"question\": \"").unwrap() + 13;
            l[start..][..l[start..].find('"').unwrap()].to_string()
        })
        .collect()
}

fn same_counts(a: &Manifest, b: &Manifest) {
    assert_eq!(a.counts.articles, b.counts.articles);
    assert_eq!(a.counts.redirects, b.counts.redirects);
    assert_eq!(a.counts.sentences, b.counts.sentences);
    assert_eq!(
        a.counts.sentences_by_language,
        b.counts.sentences_by_language
    );
}

/// index(old) + update(new) == index(new), on the real successive snapshots.
fn real_pair(old: &str, new: &str, set: &str, unchanged_at_least: u64) {
    let (Some(old), Some(new)) = (shared(old), shared(new)) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (updated, fresh) = (tmp.path().join("updated"), tmp.path().join("fresh"));
    build(read_config(&[&old]), &updated).unwrap();
    let fresh_manifest = build(read_config(&[&new]), &fresh).unwrap();
    let report = update(&update_config(&updated, &[&new], None)).unwrap();
    let r = &report.record;
    assert_eq!(report.manifest.generation, 1);
    assert!(r.pages_unchanged >= unchanged_at_least, "{r:?}");
    assert!(r.pages_changed + r.pages_added > 0, "{r:?}");
    same_counts(&report.manifest, &fresh_manifest);
    let queries = questions(set);
    assert!(queries.len() >= 10);
    let (a, b) = (bm25(&updated, &queries), bm25(&fresh, &queries));
    for ((q, a), b) in queries.iter().zip(&a).zip(&b) {
        assert_eq!(a, b, "{q}");
    }
}

/// The real French pair with vectors: dense and hybrid answers to the dev questions, hit for
/// hit and score for score.
#[test]
fn frwiki_2020_updated_to_2022_with_vectors_answers_like_a_2022_build() {
    let (Some(old), Some(new)) = (
        shared("frwiki-2020-maain-first22pages.xml"),
        shared("frwiki-2022-maain-first22pages.xml"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let queries = questions("frwiki-2022.jsonl");
    let dir = tmp.path().join("model");
    let words: Vec<String> = queries
        .iter()
        .flat_map(|q| q.split(|c: char| !c.is_alphabetic()))
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    write_tiny_bert(&dir, 32, &words, false).unwrap();
    let model = Arc::new(BertEmbedder::load(&dir, &EmbedderOptions::default()).unwrap());
    // A vector per sentence, and per window of 3 (the update is handed a model configured
    // for one sentence a vector: it must embed as the index records, in windows).
    for window in [1, 3] {
        let mut embed = EmbedConfig::new(model.clone());
        embed.chunk = 256;
        embed.window = window;
        let (updated, fresh) = (
            tmp.path().join(format!("updated-{window}")),
            tmp.path().join(format!("fresh-{window}")),
        );
        build_with(read_config(&[&old]), &updated, Some(embed.clone())).unwrap();
        build_with(read_config(&[&new]), &fresh, Some(embed.clone())).unwrap();
        embed.window = 1;
        let report = update(&update_config(&updated, &[&new], Some(embed))).unwrap();
        assert!(report.record.sentences_embedded > 0);
        assert_eq!(report.manifest.embedding.as_ref().unwrap().window, window);
        assert_eq!(
            VectorIndex::open(&updated).unwrap().store().windowed(),
            window > 1
        );
        same_answers(&model, &queries, &updated, &fresh);
    }
}

/// Dense and hybrid answers of two indexes to every query, compared one by one.
fn same_answers(model: &Arc<BertEmbedder>, queries: &[String], updated: &Path, fresh: &Path) {
    for mode in [Mode::Dense, Mode::Hybrid] {
        let run = |dir: &Path| {
            let s = Searcher::new(
                Arc::new(SentenceIndex::open(dir).unwrap()),
                Some(Arc::new(
                    Dense::new(model.clone(), Arc::new(VectorIndex::open(dir).unwrap())).unwrap(),
                )),
                RetrievalOptions {
                    mode,
                    ..RetrievalOptions::default()
                },
            );
            queries
                .iter()
                .map(|q| answers(s.search(&SearchRequest::new(q.clone())).unwrap()))
                .collect::<Vec<_>>()
        };
        let (a, b) = (run(updated), run(fresh));
        for ((q, a), b) in queries.iter().zip(&a).zip(&b) {
            assert_eq!(a, b, "{mode:?}: {q}");
        }
    }
}

#[test]
fn frwiki_2020_updated_to_2022_answers_like_a_2022_build() {
    real_pair(
        "frwiki-2020-maain-first22pages.xml",
        "frwiki-2022-maain-first22pages.xml",
        "frwiki-2022.jsonl",
        1,
    );
}

#[test]
fn enwiki_2014_updated_to_2016_answers_like_a_2016_build() {
    // The 2014 sample names no dbname: its wiki comes from the base URL (enwiki).
    real_pair(
        "enwiki-2014-uwpce-pages-articles1-p10p10000-shortened.xml.bz2",
        "enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2",
        "enwiki-2016.jsonl",
        0,
    );
}

const OLD: &[P<'static>] = &[
    (
        1,
        "Paris",
        10,
        "Paris is the capital of France. The Seine river crosses Paris.",
    ),
    (
        2,
        "Lyon",
        20,
        "Lyon is a city on the Rhone river. Lyon is known for its food.",
    ),
    (
        3,
        "Marseille",
        30,
        "Marseille is a port on the Mediterranean sea.",
    ),
    (
        4,
        "Old name",
        40,
        "The tower of the old name stands near the river.",
    ),
    (5, "Capital", 50, "#REDIRECT [[Paris]]"),
    (6, "Town", 60, "#REDIRECT [[Lyon]]"),
];

/// Paris edited, Marseille deleted, "Old name" renamed (same id), the "Town" redirect now
/// aims at Marseille's replacement, Nice new, Lyon unchanged.
const NEW: &[P<'static>] = &[
    (
        1,
        "Paris",
        11,
        "Paris is the capital and largest city of France. The Seine river crosses Paris.",
    ),
    (
        2,
        "Lyon",
        20,
        "Lyon is a city on the Rhone river. Lyon is known for its food.",
    ),
    (
        4,
        "New name",
        41,
        "The tower of the new name stands near the river.",
    ),
    (5, "Capital", 50, "#REDIRECT [[Paris]]"),
    (6, "Town", 61, "#REDIRECT [[Nice]]"),
    (
        7,
        "Nice",
        70,
        "Nice is a city on the French Riviera by the sea.",
    ),
];

const QUERIES: &[&str] = &[
    "capital of France",
    "largest city",
    "river",
    "port Mediterranean",
    "old name tower",
    "new name tower",
    "town",
    "Nice sea",
    "Lyon food",
    "capital",
];

#[test]
fn edits_deletions_renames_and_redirects_match_a_fresh_build() {
    let tmp = tempfile::tempdir().unwrap();
    let old = write(tmp.path(), "old.xml", &dump("enwiki", OLD));
    let new = write(tmp.path(), "new.xml", &dump("enwiki", NEW));
    let (updated, fresh) = (tmp.path().join("updated"), tmp.path().join("fresh"));
    build(read_config(&[&old]), &updated).unwrap();
    let fresh_manifest = build(read_config(&[&new]), &fresh).unwrap();
    let report = update(&update_config(&updated, &[&new], None)).unwrap();
    let r = &report.record;
    assert_eq!(
        (
            r.pages_added,
            r.pages_changed,
            r.pages_deleted,
            r.pages_unchanged
        ),
        (1, 2, 1, 2),
        "{r:?}"
    );
    assert_eq!(r.redirects_changed, 1);
    same_counts(&report.manifest, &fresh_manifest);
    let queries: Vec<String> = QUERIES.iter().map(|q| q.to_string()).collect();
    assert_eq!(bm25(&updated, &queries), bm25(&fresh, &queries));
    let index = SentenceIndex::open(&updated).unwrap();
    let hits = index.search(&SearchRequest::new("Marseille port")).unwrap();
    assert!(
        hits.iter()
            .all(|h| h.page_id != wikirag_core::page_key("enwiki", 3)),
        "deleted page found"
    );
    let hits = index.search(&SearchRequest::new("tower")).unwrap();
    assert_eq!(hits[0].title, "New name");
    assert!(hits[0].url.ends_with("/New_name"), "{}", hits[0].url);
    // The redirect now leads to Nice.
    let hits = index.search(&SearchRequest::new("town")).unwrap();
    assert_eq!(hits[0].title, "Nice", "{hits:?}");
    // Lineage.
    let m = Manifest::read(&updated).unwrap();
    assert_eq!(m.generation, 1);
    assert_eq!(m.updates.len(), 1);
    assert_eq!(m.updates[0].kind, "full");
    assert_eq!(m.updates[0].dumps[0].wiki, "enwiki");
    assert_eq!(m.dumps[0].file_name, "old.xml");
}

#[test]
fn adds_changes_files_take_the_newest_revision_and_delete_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let old = write(tmp.path(), "old.xml", &dump("enwiki", OLD));
    let index = tmp.path().join("index");
    build(read_config(&[&old]), &index).unwrap();
    // Paris twice in the file (older revision after the newer one), Nice new.
    let incr = dump(
        "enwiki",
        &[
            (1, "Paris", 12, "Paris hosted the summer games."),
            (
                7,
                "Nice",
                70,
                "Nice is a city on the French Riviera by the sea.",
            ),
            (1, "Paris", 11, "Paris had an older text."),
        ],
    )
    .replace(
        // Several revisions in one page element as well: the newest wins.
        "<revision><id>70</id>",
        "<revision><id>69</id><text>Nice draft.</text></revision><revision><id>70</id>",
    );
    let incr = write(
        tmp.path(),
        "enwiki-20260102-pages-meta-hist-incr.xml",
        &incr,
    );
    let mut config = update_config(&index, &[&incr], None);
    config.kind = UpdateKind::guess(&config.read.inputs);
    assert_eq!(config.kind, UpdateKind::AddsChanges);
    let report = update(&config).unwrap();
    assert_eq!(report.record.kind, "adds-changes");
    assert_eq!(report.record.pages_deleted, 0);
    let index = SentenceIndex::open(&index).unwrap();
    let text = |q: &str| {
        index
            .search(&SearchRequest::new(q))
            .unwrap()
            .into_iter()
            .map(|h| h.text)
            .collect::<Vec<_>>()
    };
    assert_eq!(text("summer games"), ["Paris hosted the summer games."]);
    assert!(text("older text").is_empty());
    assert!(
        text("capital France")
            .iter()
            .all(|t| !t.contains("Paris is"))
    );
    assert!(text("draft").is_empty());
    assert_eq!(text("Riviera").len(), 1);
    // Marseille is absent from the file but an adds-changes file deletes nothing.
    assert_eq!(text("Mediterranean").len(), 1);
}

#[test]
fn a_french_dump_never_deletes_english_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let en = write(tmp.path(), "en.xml", &dump("enwiki", OLD));
    // The same page ids in French.
    let fr_old = write(
        tmp.path(),
        "fr-old.xml",
        &dump(
            "frwiki",
            &[
                (1, "Paris", 5, "Paris est la capitale de la France."),
                (2, "Lyon", 6, "Lyon est une ville."),
            ],
        ),
    );
    let fr_new = write(
        tmp.path(),
        "fr-new.xml",
        &dump(
            "frwiki",
            &[(
                1,
                "Paris",
                7,
                "Paris est la capitale et la plus grande ville de la France.",
            )],
        ),
    );
    let (updated, fresh) = (tmp.path().join("updated"), tmp.path().join("fresh"));
    build(read_config(&[&en, &fr_old]), &updated).unwrap();
    let fresh_manifest = build(read_config(&[&en, &fr_new]), &fresh).unwrap();
    let report = update(&update_config(&updated, &[&fr_new], None)).unwrap();
    let r = &report.record;
    assert_eq!((r.pages_changed, r.pages_deleted), (1, 1), "{r:?}");
    same_counts(&report.manifest, &fresh_manifest);
    let index = SentenceIndex::open(&updated).unwrap();
    let titles = |q: &str| -> Vec<String> {
        index
            .search(&SearchRequest::new(q))
            .unwrap()
            .into_iter()
            .map(|h| format!("{} {}", h.url, h.text))
            .collect()
    };
    // English Lyon (page 2 too) is still there; French Lyon is gone.
    assert!(
        titles("Lyon food")
            .iter()
            .any(|t| t.contains("en.wikipedia.org/wiki/Lyon"))
    );
    assert!(
        titles("Lyon ville")
            .iter()
            .all(|t| !t.contains("fr.wikipedia.org/wiki/Lyon"))
    );
    assert!(
        titles("Paris capital France")
            .iter()
            .any(|t| t.contains("en.wikipedia.org/wiki/Paris"))
    );
}

/// English and French pages with the same ids (page ids are unique per wiki only).
const EN_SAME_IDS: &[P<'static>] = OLD.split_at(2).0;
const FR_SAME_IDS: &[P<'static>] = &[
    (
        1,
        "Tokyo",
        5,
        "Tokyo est la capitale du Japon. La baie de Tokyo borde la ville.",
    ),
    (
        2,
        "Rome",
        6,
        "Rome est la capitale de l'Italie. Le Tibre traverse Rome.",
    ),
];

/// What several wikis in one index must keep apart: every sentence has its vector, every
/// live row holds the vector of the sentence its position names, and a page's sentences read
/// by its number are all of its own wiki.
fn rows_match_their_sentences(dir: &Path, model: &BertEmbedder) {
    let manifest = Manifest::read(dir).unwrap();
    let index = SentenceIndex::open(dir).unwrap();
    let vectors = VectorIndex::open(dir).unwrap();
    let store = vectors.store();
    assert_eq!(
        store.live() as u64,
        manifest.counts.sentences,
        "sentences without a live vector"
    );
    let french = |text: &str| FR_SAME_IDS.iter().any(|p| p.3.contains(text));
    for row in (0..store.len()).filter(|&r| !store.is_dead(r)) {
        let (page, sentence) = store.position(row);
        let hit = index.fetch_hits(&[(page, sentence)], 0).unwrap().remove(0);
        let passage = wikirag_indexer::passage_text(&hit.title, hit.kind, &hit.text, true);
        let want = model
            .embed(&[passage.as_str()], TextRole::Passage)
            .unwrap()
            .remove(0);
        let got = store.dequantized(row);
        let dot: f32 = want.iter().zip(&got).map(|(a, b)| a * b).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let cos = dot / (norm(&want) * norm(&got));
        assert!(
            cos > 0.999,
            "row {row} at ({page}, {sentence}) is not the vector of {:?} (cosine {cos})",
            hit.text
        );
        let wiki_is_french = hit.url.contains("fr.wikipedia");
        assert_eq!(french(&hit.text), wiki_is_french, "{hit:?}");
        for (_, text) in index.sentences(page, 0, u32::MAX).unwrap() {
            assert_eq!(french(&text), wiki_is_french, "{text:?} in {hit:?}'s page");
        }
    }
}

/// Page ids are unique per wiki, not per index: the vectors of an English and a French page
/// of the same id are told apart (each row found again as its own sentence), and updating
/// the English one leaves the French one's vectors live.
#[test]
fn two_wikis_with_the_same_page_ids_keep_their_own_sentences_and_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let en = write(tmp.path(), "en.xml", &dump("enwiki", EN_SAME_IDS));
    let fr = write(tmp.path(), "fr.xml", &dump("frwiki", FR_SAME_IDS));
    let mut en_new_pages = EN_SAME_IDS.to_vec();
    en_new_pages[0] = (
        1,
        "Paris",
        11,
        "Paris is the capital and largest city of France. The Seine river crosses Paris.",
    );
    let en_new = write(tmp.path(), "en-new.xml", &dump("enwiki", &en_new_pages));
    let (model, embed) = tiny_embedder_of(
        &tmp.path().join("model"),
        EN_SAME_IDS.iter().chain(FR_SAME_IDS).chain(&en_new_pages),
    );
    let idx = tmp.path().join("idx");
    build_with(read_config(&[&en, &fr]), &idx, Some(embed.clone())).unwrap();
    rows_match_their_sentences(&idx, &model);
    let report = update(&update_config(&idx, &[&en_new], Some(embed))).unwrap();
    assert_eq!(report.record.pages_changed, 1, "{:?}", report.record);
    rows_match_their_sentences(&idx, &model);
}

/// Two wikis whose page keys would coincide are refused in one index, naming both.
#[test]
fn wikis_whose_page_keys_clash_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // Found by trying names in turn.
    let clash = "xx4306400wiki";
    assert_eq!(
        wikirag_core::wiki_tag(clash),
        wikirag_core::wiki_tag("enwiki")
    );
    let en = write(tmp.path(), "en.xml", &dump("enwiki", EN_SAME_IDS));
    let other = write(tmp.path(), "other.xml", &dump(clash, FR_SAME_IDS));
    let err = build(read_config(&[&en, &other]), &tmp.path().join("idx"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("enwiki") && err.contains(clash) && err.contains("apart"),
        "{err}"
    );
    assert!(!tmp.path().join("idx").exists());
    // An update bringing the clashing wiki into an index of the other is refused too.
    build(read_config(&[&en]), &tmp.path().join("idx")).unwrap();
    let before = std::fs::read(tmp.path().join("idx/manifest.json")).unwrap();
    let err = update(&update_config(&tmp.path().join("idx"), &[&other], None))
        .unwrap_err()
        .to_string();
    assert!(err.contains(clash), "{err}");
    assert_eq!(
        std::fs::read(tmp.path().join("idx/manifest.json")).unwrap(),
        before
    );
}

/// Stops the update after `after` progress events (Ctrl-C at a chosen point).
struct StopAfter {
    after: usize,
    seen: AtomicUsize,
    stop: StopFlag,
}

impl StopAfter {
    fn tick(&self) {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            self.stop.stop();
        }
    }
}

impl Progress for StopAfter {
    fn page_done(&self) {
        self.tick();
    }
    fn stage(&self, _: &str) {
        self.tick();
    }
    fn items_started(&self, _: &str, _: u64) {
        self.tick();
    }
    fn items_done(&self, _: u64) {
        self.tick();
    }
}

fn tiny_embedder(dir: &Path) -> (Arc<BertEmbedder>, EmbedConfig) {
    let words: Vec<&str> = QUERIES
        .iter()
        .chain(["the", "is", "city", "paris", "lyon", "france", "seine"].iter())
        .flat_map(|q| q.split_whitespace())
        .collect();
    tiny_embedder_with(dir, &words)
}

/// A tiny model knowing the words of `pages`.
fn tiny_embedder_of<'a>(
    dir: &Path,
    pages: impl Iterator<Item = &'a P<'a>>,
) -> (Arc<BertEmbedder>, EmbedConfig) {
    let text: String = pages
        .flat_map(|p| [p.1, " ", p.3, " "])
        .collect::<String>()
        .to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    tiny_embedder_with(dir, &words)
}

fn tiny_embedder_with(dir: &Path, words: &[&str]) -> (Arc<BertEmbedder>, EmbedConfig) {
    write_tiny_bert(dir, 32, words, false).unwrap();
    let model = Arc::new(BertEmbedder::load(dir, &EmbedderOptions::default()).unwrap());
    let mut embed = EmbedConfig::new(model.clone());
    embed.chunk = 3;
    embed.hnsw = HnswParams::default();
    (model, embed)
}

#[test]
fn an_interrupted_or_failed_update_leaves_the_index_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let old = write(tmp.path(), "old.xml", &dump("enwiki", OLD));
    let new = write(tmp.path(), "new.xml", &dump("enwiki", NEW));
    let (_, embed) = tiny_embedder(&tmp.path().join("model"));
    let index = tmp.path().join("index");
    build_with(read_config(&[&old]), &index, Some(embed.clone())).unwrap();
    let queries: Vec<String> = QUERIES.iter().map(|q| q.to_string()).collect();
    let before = bm25(&index, &queries);
    let manifest_before = std::fs::read(index.join("manifest.json")).unwrap();
    // Stopped at every point from the first page to the publication.
    for after in 1..40 {
        let progress = Arc::new(StopAfter {
            after,
            seen: AtomicUsize::new(0),
            stop: StopFlag::new(),
        });
        let stop = progress.stop.clone();
        let result = wikirag_indexer::update(
            &update_config(&index, &[&new], Some(embed.clone())),
            progress.clone(),
            &stop,
        );
        if result.is_ok() {
            // Past the last check: the update went through; nothing more to interrupt.
            assert!(after > 5, "stopped after {after} events yet published");
            break;
        }
        assert!(
            matches!(result, Err(IndexerError::Interrupted)),
            "after {after}: {result:?}"
        );
        assert_eq!(
            std::fs::read(index.join("manifest.json")).unwrap(),
            manifest_before
        );
        assert_eq!(bm25(&index, &queries), before, "after {after}");
        VectorIndex::open(&index).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".index"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    // A killed update leaves its copy behind: the next update removes it and succeeds.
    let stale = tmp.path().join(".index.tmp-4194303");
    std::fs::create_dir_all(&stale).unwrap();
    let fresh = tmp.path().join("fresh");
    build_with(read_config(&[&new]), &fresh, Some(embed.clone())).unwrap();
    let mut config = update_config(&index, &[&new], Some(embed.clone()));
    config.read.threads = 1;
    update(&config).ok();
    assert!(!stale.exists());
    assert_eq!(bm25(&index, &queries), bm25(&fresh, &queries));
}

#[test]
fn a_truncated_dump_applies_nothing_past_the_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let old = write(tmp.path(), "old.xml", &dump("enwiki", OLD));
    let index = tmp.path().join("index");
    build(read_config(&[&old]), &index).unwrap();
    let full = dump("enwiki", NEW);
    // Cut inside the page of "New name" (the third): Paris and Lyon come before it.
    let cut = full.find("The tower of the new").unwrap();
    let truncated = write(tmp.path(), "new.xml", &full[..cut]);
    let report = update(&update_config(&index, &[&truncated], None)).unwrap();
    let r = &report.record;
    assert!(r.dumps[0].fatal_error.is_some(), "{r:?}");
    assert_eq!(r.pages_deleted, 0, "no deletion after a fault");
    assert_eq!(r.deletions_skipped.len(), 1, "{r:?}");
    let index = SentenceIndex::open(&index).unwrap();
    let texts: Vec<String> = index
        .search(&SearchRequest::new("largest city"))
        .unwrap()
        .into_iter()
        .map(|h| h.text)
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("largest city")),
        "Paris before the fault applied"
    );
    // Marseille (absent after the fault) and the old name stay.
    assert!(
        !index
            .search(&SearchRequest::new("Mediterranean"))
            .unwrap()
            .is_empty()
    );
    assert!(
        !index
            .search(&SearchRequest::new("old name tower"))
            .unwrap()
            .is_empty()
    );
}

/// A page skipped before its id could be read could be any page: nothing of its wiki is
/// deleted, and the update says why.
#[test]
fn a_page_whose_id_cannot_be_read_stops_every_deletion_of_its_wiki() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let old = write(tmp.path(), "old.xml", &dump("enwiki", OLD));
    build(read_config(&[&old]), &index).unwrap();
    let new = dump("enwiki", NEW).replace("<id>7</id>", "<id>seven</id>");
    let new = write(tmp.path(), "new.xml", &new);
    let report = update(&update_config(&index, &[&new], None)).unwrap();
    let r = &report.record;
    assert_eq!(r.pages_deleted, 0, "{r:?}");
    assert_eq!(r.deletions_skipped.len(), 1, "{r:?}");
    assert!(
        r.deletions_skipped[0].contains("id could not be read"),
        "{r:?}"
    );
    // Marseille, which the new dump lacks, stays; Paris's edit is applied.
    let index = SentenceIndex::open(&index).unwrap();
    assert!(
        !index
            .search(&SearchRequest::new("Mediterranean"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(r.pages_changed, 2, "{r:?}");
}

#[test]
fn an_update_with_vectors_answers_like_a_fresh_build() {
    let tmp = tempfile::tempdir().unwrap();
    let old = write(tmp.path(), "old.xml", &dump("enwiki", OLD));
    let new = write(tmp.path(), "new.xml", &dump("enwiki", NEW));
    let (model, embed) = tiny_embedder(&tmp.path().join("model"));
    let (updated, fresh) = (tmp.path().join("updated"), tmp.path().join("fresh"));
    build_with(read_config(&[&old]), &updated, Some(embed.clone())).unwrap();
    let fresh_manifest = build_with(read_config(&[&new]), &fresh, Some(embed.clone())).unwrap();
    let report = update(&update_config(&updated, &[&new], Some(embed.clone()))).unwrap();
    let r = &report.record;
    // Only the new and changed pages' sentences: Paris (2), New name (1), Nice (1).
    assert_eq!(r.sentences_embedded, 4, "{r:?}");
    assert_eq!(
        report.manifest.embedding.as_ref().unwrap().vectors,
        fresh_manifest.embedding.as_ref().unwrap().vectors
    );
    let queries: Vec<String> = QUERIES.iter().map(|q| q.to_string()).collect();
    for mode in [Mode::Dense, Mode::Hybrid] {
        let run = |dir: &Path| {
            let s = Searcher::new(
                Arc::new(SentenceIndex::open(dir).unwrap()),
                Some(Arc::new(
                    Dense::new(model.clone(), Arc::new(VectorIndex::open(dir).unwrap())).unwrap(),
                )),
                RetrievalOptions {
                    mode,
                    ..RetrievalOptions::default()
                },
            );
            queries
                .iter()
                .map(|q| answers(s.search(&SearchRequest::new(q.clone())).unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&updated), run(&fresh), "{mode:?}");
    }
}

/// An index made before a sentence's title words were indexed apart (wikirag 0.1.0 of
/// 2026-11-30, `tests/data/index-before-title-words`) still searches, and an update adds
/// documents in its own layout instead of failing on fields it does not have.
#[test]
fn an_index_from_before_the_title_words_field_searches_and_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    wikirag_tests::copy_fixture("index-before-title-words", &idx);
    let first = |index: &SentenceIndex, q: &str| -> String {
        let mut req = SearchRequest::new(q);
        req.k = 1;
        index.search(&req).unwrap().remove(0).text
    };
    let index = SentenceIndex::open(&idx).unwrap();
    assert_eq!(first(&index, "Addis Ababa"), "Its capital is Addis Ababa.");
    drop(index);
    let newer = write(
        tmp.path(),
        "newer.xml",
        &dump(
            "enwiki",
            &[
                (
                    1,
                    "Kenya",
                    11,
                    "Kenya is a country in East Africa. Its capital city is Nairobi, on the Athi River.",
                ),
                (
                    2,
                    "Ethiopia",
                    20,
                    "Ethiopia is a country in the Horn of Africa. Its capital is Addis Ababa.",
                ),
            ],
        ),
    );
    let report = update(&update_config(&idx, &[&newer], None)).unwrap();
    assert_eq!(report.record.pages_changed, 1, "{:?}", report.record);
    let index = SentenceIndex::open(&idx).unwrap();
    assert_eq!(
        first(&index, "Athi River"),
        "Its capital city is Nairobi, on the Athi River."
    );
    // Still format 4: its pages are numbered by their ids alone, as they were written.
    assert_eq!(Manifest::read(&idx).unwrap().format_version, 4);
    let mut req = SearchRequest::new("Athi River");
    req.k = 1;
    assert_eq!(index.search(&req).unwrap()[0].page_id, 1);
}

/// A tie that straddles the cut (the candidates hybrid search takes from BM25) keeps the same
/// members in two indexes holding the same pages in another order: the cut goes by (score,
/// page, sentence), not by where a document happens to sit.
#[test]
fn a_tie_at_the_cut_keeps_the_same_members_whatever_the_document_order() {
    let tmp = tempfile::tempdir().unwrap();
    let titles: Vec<String> = (1..=30).map(|i| format!("Town {i}")).collect();
    let pages: Vec<P<'_>> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                i as u64 + 1,
                t.as_str(),
                1,
                "The old mill stands by the river.",
            )
        })
        .collect();
    let reversed: Vec<P<'_>> = pages.iter().rev().copied().collect();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    build(
        read_config(&[&write(tmp.path(), "a.xml", &dump("enwiki", &pages))]),
        &a,
    )
    .unwrap();
    build(
        read_config(&[&write(tmp.path(), "b.xml", &dump("enwiki", &reversed))]),
        &b,
    )
    .unwrap();
    let mut req = SearchRequest::new("mill river");
    (req.k, req.per_page, req.context) = (7, 0, 0);
    let cut = |dir: &Path| {
        use wikirag_core::Retriever;
        SentenceIndex::open(dir)
            .unwrap()
            .search_positions(&req)
            .unwrap()
            .into_iter()
            .map(|(pos, _)| pos)
            .collect::<Vec<_>>()
    };
    let expected: Vec<(u64, u32)> = (1..=7)
        .map(|p| (wikirag_core::page_key("enwiki", p), 0))
        .collect();
    assert_eq!(cut(&a), expected);
    assert_eq!(cut(&b), expected);
}
