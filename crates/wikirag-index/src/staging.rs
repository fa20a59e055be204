//! Build beside, then swap in: the one way anything is written to an index path.
//!
//! A writer never writes into the published directory. [`Staging::begin`] takes the path's
//! [`WriterLock`], records what is there ([`Snapshot`]) and names a temporary directory
//! beside it (`.NAME.tmp-PID`); the writer fills that directory (a new build from nothing, or
//! a [`Generation`]: a copy of the published index, tantivy's segment files hard-linked since
//! tantivy never rewrites one, the manifest and the vectors copied) and
//! [`Staging::publish`] puts it in place: one atomic `renameat2(RENAME_EXCHANGE)` over an
//! existing index (Linux; elsewhere two renames), a plain rename where there was none. Until
//! then the published index is untouched and searchable; a crash or Ctrl-C leaves only the
//! temporary directory, which the next writer of the path removes. A reader that opened the
//! old generation keeps its files (open files and maps outlive the rename).
//!
//! Used by `index` ([`crate::IndexBuilder`]), `update` ([`crate::IndexUpdater`] on a
//! [`Generation`]), `relink` and `merge`.

use crate::error::{Context, Result};
use crate::layout::{MANIFEST_FILE, parent_and_name, temp_prefix};
use crate::lock::{Snapshot, WriterLock, check_replaceable};
use crate::manifest::Manifest;
use std::path::{Path, PathBuf};

/// A temporary directory beside an index path, published in its place or removed when
/// dropped. Holds the path's writer lock until then.
#[derive(Debug)]
pub struct Staging {
    dest: PathBuf,
    tmp: PathBuf,
    published: bool,
    /// What `dest` held when the write began: published over only if it still does.
    snapshot: Snapshot,
    /// Last: no other writer of `dest` until this one is published or dropped.
    _lock: WriterLock,
}

impl Staging {
    /// Starts a write of the index path `dest` for `what` ("update", "index --force", …):
    /// takes the lock, puts back an index a killed publish set aside, removes the temporary
    /// directories of dead writers, and names an empty temporary directory (created).
    pub fn begin(dest: &Path, what: &str) -> Result<Staging> {
        let lock = WriterLock::acquire(dest, what)?;
        let (parent, name) = parent_and_name(dest);
        // First, so an index a killed publish set aside is back in place before anything
        // looks at the path.
        remove_stale_temp_dirs(&parent, &name);
        let snapshot = Snapshot::take(dest);
        std::fs::create_dir_all(&parent).at(&parent)?;
        let tmp = parent.join(format!("{}{}", temp_prefix(&name), std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        let staging = Staging {
            dest: dest.to_path_buf(),
            tmp,
            published: false,
            snapshot,
            _lock: lock,
        };
        std::fs::create_dir_all(&staging.tmp).at(&staging.tmp)?;
        Ok(staging)
    }

    /// The temporary directory being written.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// The index path this write will publish to.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Puts the temporary directory in place of `dest`, atomically, and removes what it
    /// replaced. Refused if `dest` no longer holds what it held at [`Staging::begin`]
    /// ([`crate::IndexError::Conflict`]) or is not something an index may replace.
    pub fn publish(&mut self) -> Result<PathBuf> {
        sync_dir(&self.tmp);
        self.snapshot.still_at(&self.dest)?;
        check_replaceable(&self.dest)?;
        if std::fs::symlink_metadata(&self.dest).is_ok() {
            // One atomic swap: a reader finds the old index or the new one at `dest`, never
            // nothing (a SIGKILL between two renames used to leave no index at all).
            exchange(&self.tmp, &self.dest)?;
            self.published = true;
            sync_dir(self.dest.parent().unwrap_or(Path::new(".")));
            // `tmp` now holds what was replaced.
            if let Err(e) = std::fs::remove_dir_all(&self.tmp) {
                tracing::warn!(dir = %self.tmp.display(), error = %e, "could not remove the replaced index");
            }
        } else {
            std::fs::rename(&self.tmp, &self.dest).at(&self.dest)?;
            self.published = true;
            sync_dir(self.dest.parent().unwrap_or(Path::new(".")));
        }
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published
            && let Err(e) = std::fs::remove_dir_all(&self.tmp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.tmp.display(), error = %e, "could not remove an unpublished index");
        }
    }
}

/// A new generation of a published index, written on a copy beside it.
#[derive(Debug)]
pub struct Generation {
    staging: Staging,
}

impl Generation {
    /// Copies the published index at `dest` into a temporary directory beside it, for `what`
    /// ("update", "relink"). Holds the index's writer lock until published or dropped.
    pub fn begin(dest: &Path, what: &str) -> Result<Generation> {
        let staging = Staging::begin(dest, what)?;
        Manifest::read(dest)?;
        copy_dir(dest, staging.dir(), true)?;
        Ok(Generation { staging })
    }

    /// The directory of the new generation.
    pub fn dir(&self) -> &Path {
        self.staging.dir()
    }

    /// Puts the new generation in place of the published one, atomically, and removes the
    /// old one.
    pub fn publish(mut self) -> Result<PathBuf> {
        self.staging.publish()
    }
}

/// Copies `from` into `to` (created): tantivy's immutable files hard-linked when `link`,
/// everything wikirag rewrites in place (manifest, vectors) copied; lock files left out.
fn copy_dir(from: &Path, to: &Path, link: bool) -> Result<()> {
    std::fs::create_dir_all(to).at(to)?;
    for entry in std::fs::read_dir(from).at(from)? {
        let entry = entry.at(from)?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        let src = entry.path();
        let dst = to.join(&name);
        let kind = entry.file_type().at(&src)?;
        if kind.is_dir() {
            // `vectors/`: appended to by updates, so copied.
            copy_dir(&src, &dst, false)?;
        } else if name_str.ends_with(".lock") {
            continue;
        } else if link && name_str != MANIFEST_FILE {
            if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst).at(&dst)?;
            }
        } else {
            std::fs::copy(&src, &dst).at(&dst)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Swaps two directories atomically where the system can.
fn exchange(new: &Path, dest: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, new, CWD, dest, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(()),
            // File systems without RENAME_EXCHANGE say EINVAL; fall back below.
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(std::io::Error::from(e)).at(dest),
        }
    }
    two_renames(new, dest, |a, b| std::fs::rename(a, b))
}

/// The swap where the file system cannot exchange: between the two renames the index is
/// missing for an instant (the previous generation is then at `.NAME.tmp-PID.old`, which the
/// next writer puts back, and which opening the missing index names). A second rename that
/// fails puts the previous generation back at once.
fn two_renames(
    new: &Path,
    dest: &Path,
    rename: impl Fn(&Path, &Path) -> std::io::Result<()>,
) -> Result<()> {
    let mut old = new.as_os_str().to_owned();
    old.push(".old");
    let old = PathBuf::from(old);
    rename(dest, &old).at(dest)?;
    if let Err(e) = rename(new, dest) {
        if let Err(back) = rename(&old, dest) {
            tracing::error!(index = %old.display(), error = %back, "could not put the previous index back");
        }
        return Err(e).at(dest);
    }
    rename(&old, new).at(new)?;
    Ok(())
}

/// Removes `.NAME.tmp-PID` directories left by builds that were killed (no clean-up is possible
/// on SIGKILL) when process PID no longer exists. Only where `/proc` tells.
pub(crate) fn remove_stale_temp_dirs(parent: &Path, name: &str) {
    let dest = parent.join(name);
    // A previous index set aside by a publish that was killed between its two renames (older
    // wikirag: `.NAME.old`; where the file system cannot swap atomically:
    // `.NAME.tmp-PID.old`): when the index itself is missing, it is the index.
    let mut set_aside = vec![parent.join(format!(".{name}.old"))];
    let proc = Path::new("/proc");
    let prefix = temp_prefix(name);
    let entries: Vec<_> = std::fs::read_dir(parent)
        .map(|e| e.flatten().collect())
        .unwrap_or_default();
    for entry in &entries {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let (pid, old) = match pid.strip_suffix(".old") {
            Some(pid) => (pid, true),
            None => (pid, false),
        };
        let dead = proc.is_dir() && pid.parse::<u32>().is_ok() && !proc.join(pid).exists();
        if old && dead {
            set_aside.push(entry.path());
        } else if dead {
            tracing::info!(dir = %entry.path().display(), "removing a killed build's temporary index");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    for old in set_aside.into_iter().filter(|p| p.is_dir()) {
        if !dest.exists() && old.join(MANIFEST_FILE).is_file() {
            tracing::warn!(from = %old.display(), to = %dest.display(), "restoring the index a killed publish had set aside");
            if std::fs::rename(&old, &dest).is_ok() {
                continue;
            }
        }
        tracing::info!(dir = %old.display(), "removing an index a killed publish had replaced");
        let _ = std::fs::remove_dir_all(&old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_failed_second_rename_puts_the_previous_index_back() {
        let tmp = tempfile::tempdir().unwrap();
        let (new, dest) = (tmp.path().join(".idx.tmp-1"), tmp.path().join("idx"));
        std::fs::create_dir(&new).unwrap();
        std::fs::write(new.join("which"), "new").unwrap();
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("which"), "old").unwrap();
        let calls = Cell::new(0);
        let err = two_renames(&new, &dest, |a, b| {
            calls.set(calls.get() + 1);
            if calls.get() == 2 {
                return Err(std::io::Error::other("injected"));
            }
            std::fs::rename(a, b)
        })
        .unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
        assert_eq!(std::fs::read_to_string(dest.join("which")).unwrap(), "old");
        // Without a fault: swapped.
        two_renames(&new, &dest, |a, b| std::fs::rename(a, b)).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("which")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(new.join("which")).unwrap(), "old");
    }
}
