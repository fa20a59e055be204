//! The distributed build on a real local Ray cluster (PyPI `ray`, installed by `.ci/run`): a
//! head and two worker nodes started as separate processes on loopback, the French
//! vital-leads dump (re-packed as multistream; then the English one, in an index of its own)
//! split into four work units (and a file that is no dump) built by
//! `python -m wikirag_ray build` with a model, one worker node killed while it builds a unit,
//! and the merged index compared with one `wikirag index` of the same dump. (One wiki per
//! index: the English and French vital-leads samples reuse each other's page ids, which one
//! index of both cannot tell apart yet; see ARCHITECTURE.md, "Decisions".)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use wikirag_models::{BertEmbedder, EmbedderOptions, write_tiny_bert};

const BIN: &str = env!("CARGO_BIN_EXE_wikirag");

const WORDS: &[&str] = &[
    "the", "of", "and", "in", "is", "a", "was", "city", "country", "war", "la", "le", "de", "est",
    "et", "en", "une", "ville", "pays", "guerre",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `python -m wikirag_ray ARGS` from the checkout's `python/`.
fn driver(py: &Path) -> Command {
    let mut c = Command::new(py);
    c.env("PYTHONPATH", root().join("python"))
        .args(["-m", "wikirag_ray"]);
    c
}

/// `wikirag index DUMPS --model MODEL --out OUT` on this machine.
fn single_build(dumps: &[PathBuf], model: &Path, out: &Path) {
    let o = Command::new(BIN)
        .arg("index")
        .args(dumps)
        .arg("--model")
        .arg(model)
        .arg("--out")
        .arg(out)
        .arg("-q")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// tests/ray/cluster.py with `args` (a head and two workers, the driver run against them):
/// its JSON report and its stderr.
fn cluster(py: &Path, out: &Path, args: &[&std::ffi::OsStr]) -> (serde_json::Value, String) {
    let o = Command::new(py)
        .env("PYTHONPATH", root().join("python"))
        .arg(root().join("tests/ray/cluster.py"))
        .arg("--ray")
        .arg(py.with_file_name("ray"))
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report: {stdout}\n{stderr}"));
    (report, stderr)
}

#[test]
fn a_ray_cluster_builds_what_one_machine_builds_even_when_a_node_dies() {
    let Some(py) = wikirag_core::testing::python_with("ray") else {
        wikirag_core::testing::skip(
            "no Python with the ray package (.ci/run installs it in .ci/py)",
        );
        return;
    };
    let Some(fr) = wikirag_tests::shared("frwiki-vital10k-leads.xml.bz2") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    write_tiny_bert(&model_dir, 32, WORDS, false).unwrap();

    // Wikimedia's layout: X-multistream.xml.bz2 with X-multistream-index.txt.bz2 beside it.
    let dest = tmp.path().join("frvital-multistream.xml.bz2");
    let o = driver(&py)
        .arg("repack")
        .arg(&fr)
        .arg(&dest)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let dumps = vec![dest];

    let single = tmp.path().join("single");
    single_build(&dumps, &model_dir, &single);

    // A unit that fails on bad input is reported while the others complete.
    let garbage = tmp.path().join("garbage.xml");
    std::fs::write(&garbage, "this is not a MediaWiki dump\n").unwrap();

    let out = tmp.path().join("cluster");
    let mut args: Vec<&std::ffi::OsStr> = vec!["--kill-mid-task".as_ref()];
    args.extend(dumps.iter().map(|d| d.as_os_str()));
    args.push(garbage.as_os_str());
    for a in ["--units-per-file", "4", "--wikirag", BIN, "--model"] {
        args.push(a.as_ref());
    }
    args.push(model_dir.as_os_str());
    let (report, stderr) = cluster(&py, &out, &args);
    assert_eq!(report["rc"], 1, "{report}\n{stderr}");
    assert!(stderr.contains("unit garbage.xml FAILED"), "{stderr}");
    assert!(stderr.contains("1 units failed"), "{stderr}");
    let failed = std::fs::read_to_string(out.join("failed.json")).unwrap();
    assert!(failed.contains("garbage.xml"), "{failed}");
    assert!(
        !out.join("index").exists(),
        "nothing is merged while a unit is missing"
    );
    assert_eq!(report["killed"], true, "{report}\n{stderr}");
    // The unit the dead node was building ran again elsewhere.
    let unit = report["killed_unit"].as_str().unwrap();
    let attempts = report["attempts"].as_array().unwrap();
    let of_unit = attempts
        .iter()
        .filter(|a| a.as_str().unwrap().starts_with(&format!("{unit}@")))
        .count();
    assert!(of_unit >= 2, "{unit}: {attempts:?}\n{stderr}");
    let units = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "unit" && e["ok"] == true)
        .count();
    assert_eq!(units, 4, "{report}");
    assert!(
        stderr.contains("units,") && stderr.contains("ETA"),
        "{stderr}"
    );

    // Run again without the bad input: its plan differs (--replan), every other shard is
    // there, nothing is built again (no cluster needed), and the shards are merged.
    let o = driver(&py)
        .arg("build")
        .args(&dumps)
        .args([
            "--units-per-file",
            "4",
            "--replan",
            "--wikirag",
            BIN,
            "--out",
        ])
        .arg(&out)
        .arg("--model")
        .arg(&model_dir)
        .output()
        .unwrap();
    let stderr = text(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("4 already built, 0 to build"), "{stderr}");

    let merged = out.join("index");
    let (a, b) = (
        wikirag_index::Manifest::read(&single).unwrap(),
        wikirag_index::Manifest::read(&merged).unwrap(),
    );
    assert_eq!(a.counts, b.counts);
    assert_eq!(
        a.embedding.as_ref().map(|e| e.vectors),
        b.embedding.as_ref().map(|e| e.vectors)
    );
    let model = Arc::new(BertEmbedder::load(&model_dir, &EmbedderOptions::default()).unwrap());
    wikirag_tests::assert_same_answers(&single, &merged, &model);

    // Without --replan, a plan that differs is refused and nothing is touched.
    let o = driver(&py)
        .arg("build")
        .args(&dumps)
        .args(["--units-per-file", "3", "--wikirag", BIN, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--replan"), "{}", text(&o.stderr));
    assert_eq!(
        wikirag_index::Manifest::read(&merged).unwrap().counts,
        a.counts
    );

    // The English vital leads too, in an index of their own (the two samples reuse each
    // other's page ids): four units on the cluster, the same answers as one build.
    let en = fr.with_file_name("enwiki-vital10k-leads.xml.bz2");
    let en_dump = tmp.path().join("envital-multistream.xml.bz2");
    let o = driver(&py)
        .arg("repack")
        .arg(&en)
        .arg(&en_dump)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let en_single = tmp.path().join("en-single");
    single_build(std::slice::from_ref(&en_dump), &model_dir, &en_single);
    let en_out = tmp.path().join("en-cluster");
    let mut args: Vec<&std::ffi::OsStr> = vec![en_dump.as_os_str()];
    for a in ["--units-per-file", "4", "--wikirag", BIN, "--model"] {
        args.push(a.as_ref());
    }
    args.push(model_dir.as_os_str());
    let (report, stderr) = cluster(&py, &en_out, &args);
    assert_eq!(report["ok"], true, "{report}\n{stderr}");
    let en_merged = en_out.join("index");
    assert_eq!(
        wikirag_index::Manifest::read(&en_single).unwrap().counts,
        wikirag_index::Manifest::read(&en_merged).unwrap().counts
    );
    wikirag_tests::assert_same_answers(&en_single, &en_merged, &model);
}

/// A newer dump applied unit by unit on the cluster (`python -m wikirag_ray update`): each
/// shard is updated with the streams of the newer dump that fall in its page range (the newer
/// dump packed otherwise, so pages move between units; one page deleted), the shards merged
/// again, and the result answers like one build of the newer dump.
#[test]
fn an_update_on_the_cluster_answers_like_a_build_of_the_newer_dump() {
    let Some(py) = wikirag_core::testing::python_with("ray") else {
        wikirag_core::testing::skip(
            "no Python with the ray package (.ci/run installs it in .ci/py)",
        );
        return;
    };
    let Some(old) = wikirag_tests::shared("frwiki-2020-maain-first22pages.xml") else {
        return;
    };
    let new = old.with_file_name("frwiki-2022-maain-first22pages.xml");
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    write_tiny_bert(&model_dir, 32, WORDS, false).unwrap();

    // The newer dump without page 21 ("deleted"), in streams of 3 pages instead of 4.
    let xml = std::fs::read_to_string(&new).unwrap();
    let at = xml.find("<id>21</id>").expect("page 21");
    let (start, end) = (
        xml[..at].rfind("<page>").unwrap(),
        at + xml[at..].find("</page>").unwrap() + "</page>".len(),
    );
    let trimmed = tmp.path().join("fr2022-trimmed.xml");
    std::fs::write(&trimmed, format!("{}{}", &xml[..start], &xml[end..])).unwrap();
    let repack = |src: &Path, name: &str, per_stream: &str| {
        let dest = tmp.path().join(format!("{name}-multistream.xml.bz2"));
        let o = driver(&py)
            .arg("repack")
            .arg(src)
            .arg(&dest)
            .args(["--pages-per-stream", per_stream])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        dest
    };
    let old_dump = repack(&old, "fr2020", "4");
    let new_dump = repack(&trimmed, "fr2022", "3");

    let single = tmp.path().join("single");
    single_build(std::slice::from_ref(&new_dump), &model_dir, &single);

    let out = tmp.path().join("cluster");
    let then = serde_json::json!(["update", new_dump.to_str().unwrap(), "--wikirag", BIN]);
    let then = then.to_string();
    let mut args: Vec<&std::ffi::OsStr> = vec!["--then".as_ref(), then.as_ref()];
    args.push(old_dump.as_os_str());
    for a in ["--units-per-file", "3", "--wikirag", BIN, "--model"] {
        args.push(a.as_ref());
    }
    args.push(model_dir.as_os_str());
    let (report, stderr) = cluster(&py, &out, &args);
    assert_eq!(report["ok"], true, "{report}\n{stderr}");
    assert_eq!(report["then_rc"], 0, "{report}\n{stderr}");
    assert!(
        stderr.contains("units of fr2022-multistream.xml.bz2"),
        "{stderr}"
    );

    let merged = out.join("index");
    let (a, b) = (
        wikirag_index::Manifest::read(&single).unwrap(),
        wikirag_index::Manifest::read(&merged).unwrap(),
    );
    assert_eq!(a.counts, b.counts);
    assert!(!b.updates.is_empty(), "the units' update records are kept");
    let model = Arc::new(BertEmbedder::load(&model_dir, &EmbedderOptions::default()).unwrap());
    wikirag_tests::assert_same_answers(&single, &merged, &model);
}
