//! tantivy reads a published index through [`VerifyingDirectory`]: the first read of each
//! 64 KiB block of a segment file is checked against the block checksums recorded when the
//! index was published (`wikirag_core::blocks`), so a damaged file is an error where it is
//! read, never a silent wrong answer — and opening costs nothing more, however large the index.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tantivy::HasLen;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, WatchCallback,
    WatchHandle, WritePtr,
};
use wikirag_core::blocks::{BlockCheck, BlockDamage, BlockSums};

/// Opens the tantivy index in `dir` through a [`VerifyingDirectory`] when the index has block
/// checksums (an index published before them opens as it always did).
pub(crate) fn open_index(
    dir: &Path,
) -> crate::Result<(tantivy::Index, Option<VerifyingDirectory>)> {
    use crate::error::Context;
    let sums = BlockSums::read(dir).map_err(|e| crate::IndexError::Damaged {
        path: dir.to_path_buf(),
        detail: format!("{}: {e}", wikirag_core::blocks::BLOCKS_FILE),
    })?;
    let verified = sums
        .map(|sums| VerifyingDirectory::open(dir, &sums))
        .transpose()
        .at(dir)?;
    let index = match &verified {
        Some(directory) => tantivy::Index::open(directory.clone()).at(dir)?,
        None => tantivy::Index::open_in_dir(dir).at(dir)?,
    };
    Ok((index, verified))
}

/// An [`MmapDirectory`] whose files are checked block by block as they are read.
#[derive(Clone, Debug)]
pub(crate) struct VerifyingDirectory {
    inner: MmapDirectory,
    checks: Arc<HashMap<PathBuf, Arc<BlockCheck>>>,
    /// Set when any block did not match: every search asks, so one load, not one per file.
    damaged: Arc<AtomicBool>,
}

impl VerifyingDirectory {
    /// The directory `dir` with the checks of the files `sums` lists at its top level.
    pub(crate) fn open(dir: &Path, sums: &BlockSums) -> tantivy::Result<VerifyingDirectory> {
        let checks = sums
            .files
            .iter()
            .filter(|(name, _)| !name.contains('/'))
            .map(|(name, blocks)| {
                (
                    PathBuf::from(name),
                    Arc::new(BlockCheck::new(name.clone(), blocks.clone())),
                )
            })
            .collect();
        Ok(VerifyingDirectory {
            inner: MmapDirectory::open(dir)?,
            checks: Arc::new(checks),
            damaged: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Checks every block of every file not read yet (a background pass).
    pub(crate) fn verify_all(&self) -> Result<(), BlockDamage> {
        for (path, check) in self.checks.iter() {
            let bytes = self
                .inner
                .get_file_handle(path)
                .and_then(|h| {
                    h.read_bytes(0..h.len())
                        .map_err(|io_error| OpenReadError::IoError {
                            io_error: Arc::new(io_error),
                            filepath: path.clone(),
                        })
                })
                .map_err(|_| BlockDamage {
                    file: path.display().to_string(),
                    block: 0,
                    start: 0,
                    end: check.len(),
                })?;
            check
                .check_all(bytes.as_slice())
                .inspect_err(|_| self.damaged.store(true, Ordering::Release))?;
        }
        Ok(())
    }

    /// Blocks verified and blocks in all.
    pub(crate) fn progress(&self) -> (usize, usize) {
        self.checks.values().fold((0, 0), |(d, t), c| {
            let (done, total) = c.progress();
            (d + done, t + total)
        })
    }

    /// The first damage any read found.
    pub(crate) fn damage(&self) -> Option<BlockDamage> {
        if !self.damaged.load(Ordering::Acquire) {
            return None;
        }
        self.checks.values().find_map(|c| c.damage())
    }
}

impl Directory for VerifyingDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let inner = self.inner.get_file_handle(path)?;
        Ok(match self.checks.get(path) {
            Some(check) => Arc::new(VerifiedHandle {
                inner,
                check: check.clone(),
                damaged: self.damaged.clone(),
            }),
            None => inner,
        })
    }
    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }
    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }
    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.inner.open_write(path)
    }
    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }
    fn atomic_write(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        self.inner.atomic_write(path, data)
    }
    fn sync_directory(&self) -> std::io::Result<()> {
        self.inner.sync_directory()
    }
    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }
    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

/// A file whose blocks are checked before their bytes are handed out.
#[derive(Debug)]
struct VerifiedHandle {
    inner: Arc<dyn FileHandle>,
    check: Arc<BlockCheck>,
    damaged: Arc<AtomicBool>,
}

impl HasLen for VerifiedHandle {
    fn len(&self) -> usize {
        self.inner.len()
    }
}

impl FileHandle for VerifiedHandle {
    fn read_bytes(&self, range: Range<usize>) -> std::io::Result<OwnedBytes> {
        // A memory map: the whole file is a view, only the blocks in `range` are read.
        let all = self.inner.read_bytes(0..self.inner.len())?;
        self.check
            .check(all.as_slice(), range.clone())
            .map_err(|d| {
                self.damaged.store(true, Ordering::Release);
                std::io::Error::new(std::io::ErrorKind::InvalidData, d.to_string())
            })?;
        Ok(all.slice(range))
    }
}
