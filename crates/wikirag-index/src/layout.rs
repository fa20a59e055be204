//! Where an index's files lie: the names inside an index directory and the names of the
//! copies a writer keeps beside it. A leaf module: every other module of the crate may use
//! it; it uses none of them but the errors.

use crate::error::{Context, Result};
use std::path::{Path, PathBuf};

/// The manifest of an index: what it holds and the checksum of every other file.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The file holding the manifest's checksum.
pub const MANIFEST_SUM_FILE: &str = "manifest.sha256";

/// The directory an index lives in and its name there (temporary copies go beside it).
pub(crate) fn parent_and_name(dest: &Path) -> (PathBuf, String) {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".into());
    (parent, name)
}

/// The prefix of the temporary copies of the index `name`: `.NAME.tmp-` then the process id
/// of the writer (and `.old` for a previous generation set aside by a swap).
pub(crate) fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

/// The writer lock file of the index at `dest`, beside it.
pub(crate) fn lock_file(dest: &Path) -> PathBuf {
    let (parent, name) = parent_and_name(dest);
    parent.join(format!(".{name}.lock"))
}

/// An index that a publish interrupted between its two renames set aside beside `dest`
/// (`.NAME.old` or `.NAME.tmp-PID.old`, holding a manifest), if there is one.
pub(crate) fn set_aside_copy(dest: &Path) -> Option<PathBuf> {
    let (parent, name) = parent_and_name(dest);
    let prefix = temp_prefix(&name);
    std::fs::read_dir(&parent)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n == format!(".{name}.old") || (n.starts_with(&prefix) && n.ends_with(".old"))
            })
        })
        .find(|p| p.join(MANIFEST_FILE).is_file())
}

/// Whether a file named `name` is one a writer is still writing (never recorded).
pub(crate) fn is_partial(name: &str) -> bool {
    name.ends_with(".tmp")
}

/// Writes `bytes` to `path` through a temporary file beside it (synced, then renamed over
/// `path`): a reader finds the old file or the new one, never a part.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // `.XXXXXX.tmp`: never recorded in a manifest, even if a crash leaves it.
    let mut tmp = tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        .tempfile_in(dir)
        .at(dir)?;
    tmp.write_all(bytes).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist(path).map_err(|e| e.error).at(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_nothing_beside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("manifest.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
        // A missing directory is an error naming it, not a panic.
        let err = write_atomically(&tmp.path().join("no/such/file"), b"x").unwrap_err();
        assert!(err.to_string().contains("no/such"), "{err}");
    }

    #[test]
    fn names_beside_an_index() {
        assert_eq!(
            parent_and_name(Path::new("a/b/idx")),
            (PathBuf::from("a/b"), "idx".into())
        );
        assert_eq!(
            parent_and_name(Path::new("idx")),
            (PathBuf::from("."), "idx".into())
        );
        assert_eq!(lock_file(Path::new("a/idx")), PathBuf::from("a/.idx.lock"));
    }
}
