//! Checksums of an index's files. Publishing records every file's size and SHA-256 in the
//! manifest (`files`) and the manifest's own SHA-256 beside it (`manifest.sha256`, in
//! `sha256sum -c` form). Opening checks what is cheap: the manifest's checksum, every file's
//! size and the checksums of the small files. [`verify`] (`wikirag inspect --verify`) reads
//! every byte.

use crate::error::{Context, IndexError, Result};
use crate::layout::{MANIFEST_FILE, MANIFEST_SUM_FILE, is_partial, write_atomically};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use wikirag_core::blocks::{BLOCKS_FILE, BlockHasher, BlockSums, FileBlocks};

/// A file of the index as it was published.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileSum {
    pub bytes: u64,
    pub sha256: String,
}

/// Whether `name` (relative, `/`-separated) is recorded: everything but the manifest, its
/// checksum and tantivy's lock files (created and removed by readers and writers).
fn recorded(name: &str) -> bool {
    name != MANIFEST_FILE
        && name != MANIFEST_SUM_FILE
        && !(name.starts_with(".tantivy-") && name.ends_with(".lock"))
        && !is_partial(name)
}

/// Every recorded file under `dir`, relative with `/`, sorted.
pub(crate) fn list(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for entry in std::fs::read_dir(&here).at(&here)? {
            let entry = entry.at(&here)?;
            let rel = rel.join(entry.file_name());
            let kind = entry.file_type().at(&entry.path())?;
            if kind.is_dir() {
                stack.push(rel);
            } else {
                let name = rel.to_string_lossy().replace('\\', "/");
                if recorded(&name) {
                    out.push(name);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let (bytes, sha256, _) = hash_file(path, false)?;
    Ok((bytes, sha256))
}

/// Size and SHA-256 of a file, and with `blocks` its block checksums, in one read.
fn hash_file(path: &Path, blocks: bool) -> Result<(u64, String, Option<FileBlocks>)> {
    let mut file = std::fs::File::open(path).at(path)?;
    let mut hasher = Sha256::new();
    let mut block_hasher = blocks.then(BlockHasher::default);
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(b) = block_hasher.as_mut() {
            b.update(&buf[..n]);
        }
        bytes += n as u64;
    }
    Ok((
        bytes,
        hex(&hasher.finalize()),
        block_hasher.map(BlockHasher::finish),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sizes and checksums of the files under `dir` (what publishing records), and the block
/// checksums of every file, written to [`BLOCKS_FILE`] (itself recorded, and checked whole on
/// every open): what is too large to be checked whole on open is checked by block as it is
/// read.
pub(crate) fn sum_dir(dir: &Path) -> Result<BTreeMap<String, FileSum>> {
    let mut files = BTreeMap::new();
    let mut blocks = BlockSums::default();
    for name in list(dir)?.into_iter().filter(|n| n != BLOCKS_FILE) {
        let (bytes, sha256, file_blocks) = hash_file(&dir.join(&name), true)?;
        if let Some(b) = file_blocks {
            blocks.files.insert(name.clone(), b);
        }
        files.insert(name, FileSum { bytes, sha256 });
    }
    let blocks_path = dir.join(BLOCKS_FILE);
    if blocks.files.is_empty() {
        if blocks_path.exists() {
            std::fs::remove_file(&blocks_path).at(&blocks_path)?;
        }
    } else {
        write_atomically(&blocks_path, &blocks.to_bytes())?;
        let (bytes, sha256) = sha256_file(&blocks_path)?;
        files.insert(BLOCKS_FILE.to_string(), FileSum { bytes, sha256 });
    }
    Ok(files)
}

/// Writes `manifest.sha256` for the manifest bytes just written.
pub(crate) fn write_manifest_sum(dir: &Path, manifest_bytes: &[u8]) -> Result<()> {
    let line = format!(
        "{}  {MANIFEST_FILE}\n",
        hex(&Sha256::digest(manifest_bytes))
    );
    write_atomically(&dir.join(MANIFEST_SUM_FILE), line.as_bytes())
}

pub(crate) fn damaged(dir: &Path, file: &str, detail: String) -> IndexError {
    IndexError::Damaged {
        path: dir.to_path_buf(),
        detail: format!("{file}: {detail}"),
    }
}

/// The manifest matches `manifest.sha256` (when there is one; `required`: there must be).
pub(crate) fn check_manifest_sum(dir: &Path, manifest_bytes: &[u8], required: bool) -> Result<()> {
    let sum_path = dir.join(MANIFEST_SUM_FILE);
    match std::fs::read_to_string(&sum_path) {
        Ok(line) => {
            let expected = line.split_whitespace().next().unwrap_or("");
            let found = hex(&Sha256::digest(manifest_bytes));
            if expected != found {
                return Err(damaged(
                    dir,
                    MANIFEST_FILE,
                    format!(
                        "its SHA-256 is {found}, {MANIFEST_SUM_FILE} says {expected:?} (edited or damaged)"
                    ),
                ));
            }
            Ok(())
        }
        Err(_) if required => Err(damaged(
            dir,
            MANIFEST_SUM_FILE,
            "missing (the manifest lists checksums, so it was published with one)".into(),
        )),
        Err(_) => Ok(()),
    }
}

/// The cheap checks made on every open: the manifest matches its checksum, every recorded
/// file is there with its size, and the small ones (up to [`OPEN_CHECK_FILE_BYTES`], at most
/// [`OPEN_CHECK_BYTES`] in all) match their checksums. Indexes published before checksums pass.
pub(crate) fn check_on_open(
    dir: &Path,
    manifest_bytes: &[u8],
    files: &BTreeMap<String, FileSum>,
) -> Result<()> {
    check_manifest_sum(dir, manifest_bytes, !files.is_empty())?;
    for (name, sum) in files {
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Ok(m) if m.len() == sum.bytes => {}
            Ok(m) => {
                return Err(damaged(
                    dir,
                    name,
                    format!("{} bytes, published with {}", m.len(), sum.bytes),
                ));
            }
            Err(e) => return Err(damaged(dir, name, format!("cannot be read ({e})"))),
        }
    }
    // Small files are read whole: a flipped byte in a row map or a graph header would
    // otherwise give different results in silence until `verify`.
    // The block checksums of the large files are read whole too, whatever their size (one
    // 4-byte checksum per 64 KiB: 6 MB for 100 GB of index).
    let mut budget = OPEN_CHECK_BYTES;
    for (name, sum) in files {
        if name != BLOCKS_FILE {
            if sum.bytes > OPEN_CHECK_FILE_BYTES || sum.bytes > budget {
                continue;
            }
            budget -= sum.bytes;
        }
        let (_, sha256) = sha256_file(&dir.join(name))?;
        if sha256 != sum.sha256 {
            return Err(damaged(
                dir,
                name,
                format!(
                    "its SHA-256 is {sha256}, published as {} (damaged; `wikirag inspect --verify` checks every file)",
                    sum.sha256
                ),
            ));
        }
    }
    Ok(())
}

/// Files up to this size are checksummed on every open…
const OPEN_CHECK_FILE_BYTES: u64 = 1 << 20;
/// …up to this many bytes in all (tens of milliseconds).
const OPEN_CHECK_BYTES: u64 = 16 << 20;
