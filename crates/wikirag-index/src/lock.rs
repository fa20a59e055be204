//! One writer at a time per index path.
//!
//! Every write of an index path (`index --force`, `update`, `relink`) holds [`WriterLock`]
//! from before it reads what it starts from until after it publishes. The lock is an advisory
//! `flock` on `.NAME.lock` beside the index (outside the directory that is swapped): the
//! kernel drops it when its process ends, however it ends, so a killed writer cannot leave it
//! stuck; the file itself holds only who took it last, for the message another writer shows.
//!
//! A writer also records what it started from ([`Snapshot`]) and refuses to publish over
//! anything else: a writer that does not take the lock (an older wikirag, a hand-made copy)
//! cannot make a concurrent update vanish silently.

use crate::error::{Context, IndexError, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The exclusive right to write the index at one path; released when dropped (or when the
/// process ends).
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    path: PathBuf,
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Removed while still locked (a killed holder leaves it; the next writer removes it).
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Whether the open `file` is the one at `path` now.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

impl WriterLock {
    /// Takes the lock of the index at `dest` for `what` ("update", "index --force", …), or
    /// says who holds it. Never waits: a second writer is refused at once, by name.
    pub fn acquire(dest: &Path, what: &str) -> Result<WriterLock> {
        let path = crate::layout::lock_file(dest);
        let (parent, _) = crate::layout::parent_and_name(dest);
        std::fs::create_dir_all(&parent).at(&parent)?;
        // The holder removes the file when it lets go; one who opened it just before may lock
        // the removed file, so a lock counts only on the file still at the path.
        for _ in 0..100 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .at(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    return Err(IndexError::Busy {
                        path: dest.to_path_buf(),
                        holder: holder.trim().chars().take(200).collect(),
                    });
                }
                // A file system without locks (some network mounts): the snapshot check at
                // publish still refuses to replace another writer's generation.
                Err(TryLockError::Error(e))
                    if e.kind() == std::io::ErrorKind::Unsupported
                        || e.raw_os_error() == Some(37) =>
                {
                    tracing::warn!(lock = %path.display(), error = %e, "the file system cannot lock: writers of this index are not excluded, only checked at publish");
                }
                Err(TryLockError::Error(e)) => return Err(e).at(&path),
            }
            if !same_file(&file, &path) {
                continue;
            }
            // Who holds it, for the message of the next writer; the lock does not depend on it.
            let who = format!("{what} (process {})\n", std::process::id());
            let _ = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(who.as_bytes()));
            return Ok(WriterLock { file, path });
        }
        Err(IndexError::Busy {
            path: dest.to_path_buf(),
            holder: "writers keep replacing its lock file".into(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What a writer found at the index path when it started: nothing, or an index with this
/// manifest checksum, or something else. Compared again just before publishing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Snapshot {
    Missing,
    Index(Vec<u8>),
    Other,
}

impl Snapshot {
    pub(crate) fn take(dest: &Path) -> Snapshot {
        match std::fs::symlink_metadata(dest) {
            Err(_) => Snapshot::Missing,
            Ok(_) => match std::fs::read(dest.join(crate::layout::MANIFEST_SUM_FILE)) {
                Ok(sum) => Snapshot::Index(sum),
                Err(_) => Snapshot::Other,
            },
        }
    }

    /// Fails unless `dest` still holds what this snapshot saw.
    pub(crate) fn still_at(&self, dest: &Path) -> Result<()> {
        let now = Snapshot::take(dest);
        if &now == self {
            return Ok(());
        }
        Err(IndexError::Conflict {
            path: dest.to_path_buf(),
            detail: match (self, &now) {
                (Snapshot::Missing, _) => "an index appeared there while this one was written",
                (_, Snapshot::Missing) => "the index was removed while this one was written",
                _ => "another writer published a new generation there while this one was written",
            }
            .into(),
        })
    }
}

/// Whether `dest` may be replaced by a new index: it is missing, an empty directory, or a
/// wikirag index (a directory with a manifest). Anything else is refused by name.
pub(crate) fn check_replaceable(dest: &Path) -> Result<()> {
    let refuse = |reason: String| {
        Err(IndexError::NotReplaceable {
            path: dest.to_path_buf(),
            reason,
        })
    };
    let meta = match std::fs::symlink_metadata(dest) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at(dest),
    };
    if meta.file_type().is_symlink() {
        return refuse("it is a symbolic link".into());
    }
    if !meta.is_dir() {
        return refuse("it is a file, not a directory".into());
    }
    if dest.join(crate::layout::MANIFEST_FILE).is_file() {
        return Ok(());
    }
    let mut entries: Vec<String> = std::fs::read_dir(dest)
        .at(dest)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    entries.sort();
    let shown: Vec<&str> = entries.iter().take(3).map(String::as_str).collect();
    refuse(format!(
        "it is a directory that holds no wikirag index ({} entr{}: {}{})",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" },
        shown.join(", "),
        if entries.len() > 3 { ", …" } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_and_the_lock_is_free_again_after_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("idx");
        let first = WriterLock::acquire(&dest, "update").unwrap();
        let err = WriterLock::acquire(&dest, "index --force").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, IndexError::Busy { .. }), "{msg}");
        assert!(msg.contains("update (process"), "{msg}");
        let lock_file = first.path().to_path_buf();
        drop(first);
        assert!(!lock_file.exists(), "removed by its holder");
        WriterLock::acquire(&dest, "update").unwrap();
    }

    #[test]
    fn only_an_index_or_an_empty_directory_is_replaceable() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        check_replaceable(&p.join("missing")).unwrap();
        std::fs::create_dir(p.join("empty")).unwrap();
        check_replaceable(&p.join("empty")).unwrap();
        std::fs::create_dir(p.join("index")).unwrap();
        std::fs::write(p.join("index/manifest.json"), "{}").unwrap();
        check_replaceable(&p.join("index")).unwrap();
        std::fs::create_dir(p.join("docs")).unwrap();
        std::fs::write(p.join("docs/file.txt"), "precious").unwrap();
        let err = check_replaceable(&p.join("docs")).unwrap_err().to_string();
        assert!(
            err.contains("file.txt") && err.contains("no wikirag index"),
            "{err}"
        );
        std::fs::write(p.join("file"), "precious").unwrap();
        let err = check_replaceable(&p.join("file")).unwrap_err().to_string();
        assert!(err.contains("is a file"), "{err}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(p.join("index"), p.join("link")).unwrap();
            let err = check_replaceable(&p.join("link")).unwrap_err().to_string();
            assert!(err.contains("symbolic link"), "{err}");
        }
    }

    #[test]
    fn a_snapshot_sees_a_new_generation() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("idx");
        let missing = Snapshot::take(&dest);
        assert_eq!(missing, Snapshot::Missing);
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join(crate::layout::MANIFEST_SUM_FILE), "a").unwrap();
        assert!(missing.still_at(&dest).is_err());
        let a = Snapshot::take(&dest);
        a.still_at(&dest).unwrap();
        std::fs::write(dest.join(crate::layout::MANIFEST_SUM_FILE), "b").unwrap();
        let err = a.still_at(&dest).unwrap_err();
        assert!(matches!(err, IndexError::Conflict { .. }), "{err}");
    }
}
