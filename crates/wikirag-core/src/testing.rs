//! For the project's own tests only (never called by the libraries or the binary).
//!
//! A test that needs something a machine may lack (a fetched model, the shared dumps,
//! Chromium, a CPU feature, root) calls [`skip`] and returns. On a developer's machine that
//! prints `SKIPPED: …` and the test passes; with `WIKIRAG_REQUIRE_ALL=1` (set by `.ci/run`) it
//! fails, so a green CI cannot hide that the dense, LLM, browser and real-dump tests never ran.

/// The variable that turns every skip into a failure.
pub const REQUIRE_ALL: &str = "WIKIRAG_REQUIRE_ALL";

/// Whether skips are failures here.
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| v == "1")
}

/// Skips the calling test because `why`, or fails it under `WIKIRAG_REQUIRE_ALL=1`.
#[track_caller]
pub fn skip(why: impl std::fmt::Display) {
    if require_all() {
        panic!("{REQUIRE_ALL}=1, and this test would be skipped: {why}");
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!("SKIPPED: {why}");
    }
}

/// A Python that imports `module`: `$WIKIRAG_TEST_PYTHON`, then the project's `.ci/py`
/// (where `.ci/run` installs the Python clients the tests drive), then `python3`.
pub fn python_with(module: &str) -> Option<std::path::PathBuf> {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/py/bin/python");
    std::env::var_os("WIKIRAG_TEST_PYTHON")
        .map(Into::into)
        .into_iter()
        .chain([venv, "python3".into()])
        .find(|py| {
            std::process::Command::new(py)
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}
