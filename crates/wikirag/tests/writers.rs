//! Writers never lose pages, as a user meets them: an update keeps what it cannot read, two
//! writers exclude each other, an older or partial dump is refused, `--force` replaces only an
//! index; and what a dump holds cannot drive the terminal.

mod common;

use common::{sample, text, wikirag};
use std::path::{Path, PathBuf};
use std::process::Command;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `wikirag index DUMPS --out OUT -q`, which must succeed.
fn index(dumps: &[&Path], out: &Path) {
    let mut args = vec!["index", "-q"];
    args.extend(dumps.iter().map(|d| s(d)));
    args.extend(["--out", s(out)]);
    let o = wikirag(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

fn manifest(index: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(index.join("manifest.json")).unwrap()).unwrap()
}

fn articles(index: &Path) -> u64 {
    manifest(index)["counts"]["articles"].as_u64().unwrap()
}

fn search(index: &Path, query: &str) -> String {
    let o = wikirag(&["search", "--index", s(index), query, "-k", "3"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

/// The English sample with `edit` applied to its text.
fn edited_sample(dir: &Path, name: &str, edit: impl Fn(Vec<u8>) -> Vec<u8>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        edit(std::fs::read(sample("enwiki-sample.xml")).unwrap()),
    )
    .unwrap();
    path
}

fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("in the sample");
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

#[test]
fn an_update_keeps_every_page_it_cannot_read_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("k");
    let dump = sample("enwiki-sample.xml");
    index(&[&dump], &idx);
    let before = articles(&idx);
    assert!(before >= 5);
    // Every page is over the limit: nothing can be read, nothing may be deleted.
    let o = wikirag(&[
        "update",
        "--index",
        s(&idx),
        s(&dump),
        "--max-page-bytes",
        "300",
    ]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains(" 0 deleted"), "{out}");
    assert!(err.contains("could not be read"), "{err}");
    assert!(err.contains("over the limit of 300 bytes"), "{err}");
    assert!(err.contains("its indexed version is kept"), "{err}");
    assert_eq!(articles(&idx), before);
    assert!(search(&idx, "highest capital city in Europe").contains("Andorra la Vella"));
}

#[test]
fn a_newer_revision_with_bad_utf8_keeps_the_indexed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("k");
    index(&[&sample("enwiki-sample.xml")], &idx);
    let before = articles(&idx);
    let newer = edited_sample(tmp.path(), "newer.xml", |b| {
        let b = replace(&b, b"<id>20011</id>", b"<id>20012</id>");
        replace(&b, b"highest capital city", b"highest \xff capital city")
    });
    let o = wikirag(&["update", "--index", s(&idx), s(&newer)]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("Andorra la Vella") && err.contains("UTF-8"),
        "{err}"
    );
    assert!(out.contains(" 0 deleted"), "{out}");
    assert_eq!(articles(&idx), before);
    assert!(search(&idx, "highest capital city in Europe").contains("Andorra la Vella"));
}

#[test]
fn two_writers_of_one_index_exclude_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("u");
    let dump = sample("enwiki-sample.xml");
    index(&[&dump], &idx);
    // A writer holds the index (as a running update does) ...
    let held = wikirag_index::WriterLock::acquire(&idx, "update").unwrap();
    for args in [
        vec!["update", "--index", s(&idx), s(&dump)],
        vec!["index", "-q", s(&dump), "--out", s(&idx), "--force"],
        vec!["relink", "--index", s(&idx)],
    ] {
        let o = wikirag(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("is being written by another wikirag") || err.contains("no vectors"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(manifest(&idx)["generation"], 0);
    // ... and lets go when it ends.
    drop(held);
    let o = wikirag(&["update", "--index", s(&idx), s(&dump), "-q"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(manifest(&idx)["generation"], 1);
}

#[test]
fn a_killed_writer_leaves_no_stuck_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("u");
    let dump = sample("enwiki-sample.xml");
    index(&[&dump], &idx);
    // An update that waits for ever on a FIFO nobody writes.
    let fifo = tmp.path().join("dump.xml");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        wikirag_core::testing::skip("no mkfifo");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_wikirag"))
        .args(["update", "-q", "--index", s(&idx), s(&fifo)])
        .spawn()
        .unwrap();
    let lock = tmp.path().join(".u.lock");
    let pid = format!("process {})", child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&pid)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the update never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = wikirag(&["update", "--index", s(&idx), s(&dump)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&pid), "{}", text(&o.stderr));
    child.kill().unwrap();
    child.wait().unwrap();
    let o = wikirag(&["update", "--index", s(&idx), s(&dump), "-q"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn an_older_dump_is_refused_unless_asked_for_and_never_moves_a_page_back() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("o");
    index(&[&sample("enwiki-sample.xml")], &idx);
    // Every revision one older than the indexed one.
    let older = edited_sample(tmp.path(), "older.xml", |b| {
        let text = String::from_utf8(b).unwrap();
        let mut parts = text.split("<revision>");
        let mut out = parts.next().unwrap().to_string();
        for part in parts {
            let start = part.find("<id>").unwrap() + 4;
            let end = start + part[start..].find("</id>").unwrap();
            let rev: u64 = part[start..end].parse().unwrap();
            out.push_str(&format!(
                "<revision>{}{}{}",
                &part[..start],
                rev - 1,
                &part[end..]
            ));
        }
        replace(
            out.as_bytes(),
            b"highest capital city",
            b"lowest capital city",
        )
    });
    let o = wikirag(&["update", "--index", s(&idx), s(&older)]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("older dump") && err.contains("older revision"),
        "{err}"
    );
    assert_eq!(manifest(&idx)["generation"], 0);
    // Asked for: applied, but no page goes back to its older revision.
    let o = wikirag(&["update", "--index", s(&idx), s(&older), "--allow-older"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(manifest(&idx)["generation"], 1);
    assert!(search(&idx, "highest capital city in Europe").contains("Andorra la Vella"));
    assert!(!search(&idx, "lowest capital").contains("lowest"));
}

#[test]
fn a_dump_dated_before_the_index_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (new, old) = (
        tmp.path().join("enwiki-20250601-pages-articles.xml"),
        tmp.path().join("enwiki-20240101-pages-articles.xml"),
    );
    std::fs::copy(sample("enwiki-sample.xml"), &new).unwrap();
    std::fs::copy(sample("enwiki-sample.xml"), &old).unwrap();
    let idx = tmp.path().join("d");
    index(&[&new], &idx);
    let o = wikirag(&["update", "--index", s(&idx), s(&old)]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("2024-01-01") && err.contains("2025-06-01"),
        "{err}"
    );
    assert_eq!(manifest(&idx)["generation"], 0);
}

#[test]
fn a_partial_dump_cannot_empty_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("p");
    index(&[&sample("enwiki-sample.xml")], &idx);
    let before = articles(&idx);
    // The sample's head and its first page only.
    let partial = edited_sample(tmp.path(), "partial.xml", |b| {
        let end = b"</page>";
        let at = b.windows(end.len()).position(|w| w == end).unwrap() + end.len();
        [&b[..at], b"\n</mediawiki>\n".as_slice()].concat()
    });
    let o = wikirag(&["update", "--index", s(&idx), s(&partial)]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refusing to delete") && err.contains("--keep-missing"),
        "{err}"
    );
    assert_eq!(articles(&idx), before);
    let o = wikirag(&["update", "--index", s(&idx), s(&partial), "--keep-missing"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(articles(&idx), before);
    let o = wikirag(&[
        "update",
        "--index",
        s(&idx),
        s(&partial),
        "--allow-mass-delete",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(articles(&idx), 1);
}

#[test]
fn force_replaces_only_an_index_or_an_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = sample("enwiki-sample.xml");
    let force = |out: &Path| wikirag(&["index", "-q", s(&dump), "--out", s(out), "--force"]);
    // A directory of other things.
    let docs = tmp.path().join("d");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("file.txt"), "precious").unwrap();
    let o = force(&docs);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("file.txt") && err.contains("no wikirag index"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(docs.join("file.txt")).unwrap(),
        "precious"
    );
    // A regular file.
    let file = tmp.path().join("f");
    std::fs::write(&file, "precious").unwrap();
    let o = force(&file);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
    // A symbolic link, even to an index.
    let real = tmp.path().join("real");
    index(&[&dump], &real);
    let link = tmp.path().join("l");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = force(&link);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // An index and an empty directory are replaced.
    let o = force(&real);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let empty = tmp.path().join("e");
    std::fs::create_dir(&empty).unwrap();
    let o = force(&empty);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(empty.join("manifest.json").is_file());
}

#[test]
fn control_characters_from_a_dump_never_reach_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = edited_sample(tmp.path(), "evil.xml", |b| {
        let b = replace(
            &b,
            b"<title>Andorra la Vella</title>",
            b"<title>Andorra\x1b[2J la\x07 Vella\r</title>",
        );
        replace(
            &b,
            b"highest capital city",
            b"highest \x1b]0;pwned\x07capital city",
        )
    });
    let idx = tmp.path().join("c");
    index(&[&dump], &idx);
    let out = wikirag(&["search", "--index", s(&idx), "highest capital city Europe"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("Andorra"), "{shown}");
    assert!(
        !out.stdout
            .iter()
            .any(|&b| b == 0x1b || b == 0x07 || b == b'\r'),
        "{shown:?}"
    );
    assert!(shown.contains("%1B"), "the URL escapes ESC: {shown}");
    let out = wikirag(&["extract", s(&dump)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !out.stdout
            .iter()
            .any(|&b| b == 0x1b || b == 0x07 || b == b'\r')
    );
    assert!(
        text(&out.stdout).contains("\\u{1b}"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn plain_inspect_refuses_what_search_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("i");
    index(&[&sample("enwiki-sample.xml")], &idx);
    assert!(wikirag(&["inspect", "--index", s(&idx)]).status.success());
    // One flipped byte in a small recorded file.
    let m = manifest(&idx);
    let (name, _) = m["files"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, f)| f["bytes"].as_u64().unwrap() > 16)
        .min_by_key(|(_, f)| f["bytes"].as_u64().unwrap())
        .unwrap();
    let path = idx.join(name);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let search = wikirag(&["search", "--index", s(&idx), "capital"]);
    assert_eq!(search.status.code(), Some(2));
    let o = wikirag(&["inspect", "--index", s(&idx)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("DAMAGED"), "{}", text(&o.stdout));
}

fn shared_dump(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("WIKIRAG_SHARED_WIKI")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/wiki"));
    let path = dir.join(name);
    if path.is_file() {
        Some(path)
    } else {
        wikirag_core::testing::skip(format_args!(
            "{} is absent (set WIKIRAG_SHARED_WIKI)",
            path.display()
        ));
        None
    }
}

/// One byte flipped in every 64 KiB block of `file`: whatever a search reads of it is damaged.
fn damage_every_block(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    for at in (1000..bytes.len()).step_by(64 << 10) {
        bytes[at] ^= 0x55;
    }
    std::fs::write(file, bytes).unwrap();
}

fn largest_file(dir: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    common::http(addr, "GET", path, None).unwrap()
}

/// Damage in files far over the 1 MiB that opening checks whole is found where a search reads
/// it (dense, exact, BM25), `/health` says so, and a server never swaps in a damaged generation.
#[test]
fn damage_in_large_files_is_found_before_it_answers() {
    let Some(dump) = shared_dump("enwiki-vital10k-leads.xml.bz2") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    wikirag_models::write_tiny_bert(&model, 64, &["capital", "river", "city"], false).unwrap();
    let idx = tmp.path().join("v");
    let o = wikirag(&[
        "index",
        "-q",
        s(&dump),
        "--out",
        s(&idx),
        "--model",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let vectors = idx.join("vectors/vectors.i8");
    assert!(std::fs::metadata(&vectors).unwrap().len() > 2 << 20);
    let dense = |index: &Path, exact: bool| {
        let mut args = vec!["search", "--index", s(index), "capital city river"];
        args.extend(["--mode", "dense", "--embedding-model", s(&model)]);
        if exact {
            args.push("--exact");
        }
        wikirag(&args)
    };
    assert!(dense(&idx, false).status.success());
    let whole = tmp.path().join("whole");
    copy_dir(&idx, &whole);

    damage_every_block(&vectors);
    for exact in [false, true] {
        let o = dense(&idx, exact);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "exact {exact}: {err}");
        assert!(
            err.contains("vectors.i8") && err.contains("does not match its checksum"),
            "{err}"
        );
    }
    // BM25 reads no vector: it still answers.
    let o = wikirag(&[
        "search",
        "--index",
        s(&idx),
        "capital city river",
        "--mode",
        "bm25",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("»"));

    // A served damaged index: /health says so once the background pass meets it.
    let (mut server, addr, _log) = common::serve(&idx, &["--embedding-model", s(&model)]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (code, body) = loop {
        let (code, body) = get(&addr, "/health");
        if code != 200 || std::time::Instant::now() > deadline {
            break (code, body);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("\"damaged\"") && body.contains("vectors.i8"),
        "{body}"
    );

    // The segment files: BM25 fails where it reads damage.
    let bm25 = tmp.path().join("b");
    copy_dir(&whole, &bm25);
    damage_every_block(&largest_file(&bm25, ".store"));
    let o = wikirag(&[
        "search",
        "--index",
        s(&bm25),
        "capital city river",
        "--mode",
        "bm25",
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(".store") && err.contains("does not match its checksum"),
        "{err}"
    );
    // An update never carries damage into a new generation recorded as whole.
    for damaged in [&bm25, &idx] {
        let before = std::fs::read(damaged.join("manifest.json")).unwrap();
        let o = wikirag(&[
            "update",
            "-q",
            "--index",
            s(damaged),
            s(&dump),
            "--model",
            s(&model),
        ]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("damaged"), "{err}");
        assert_eq!(
            std::fs::read(damaged.join("manifest.json")).unwrap(),
            before
        );
    }

    // A server keeps its generation when the next one is damaged.
    let served = tmp.path().join("s");
    copy_dir(&whole, &served);
    let (mut server, addr, log) = common::serve(
        &served,
        &["--embedding-model", s(&model), "--reload-s", "1"],
    );
    let next = tmp.path().join("next");
    copy_dir(&whole, &next);
    let o = wikirag(&[
        "update",
        "-q",
        "--index",
        s(&next),
        s(&dump),
        "--model",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    damage_every_block(&next.join("vectors/vectors.i8"));
    std::fs::rename(&served, tmp.path().join("old")).unwrap();
    std::fs::rename(&next, &served).unwrap();
    let said = log
        .iter()
        .find(|l| l.contains("still serving the previous one") || l.contains("now serving"))
        .unwrap_or_default();
    let (code, body) = get(&addr, "/health");
    let _ = server.kill();
    let _ = server.wait();
    assert!(said.contains("still serving the previous one"), "{said}");
    assert!(said.contains("does not match its checksum"), "{said}");
    assert_eq!(code, 200, "{body}");
}
