//! `wikirag inspect --verify`: every byte of an index read and compared with what was
//! published (the cheap checks made on every open are in [`crate::checksum`]).

use crate::checksum::{check_manifest_sum, list, sha256_file};
use crate::error::{Context, IndexError, Result};
use crate::layout::{MANIFEST_FILE, MANIFEST_SUM_FILE};
use crate::manifest::Manifest;
use serde::Serialize;
use std::path::Path;

/// What `verify` found.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Verification {
    /// Files read and compared (the manifest included).
    pub files: usize,
    pub bytes: u64,
    /// One line per damaged, missing or unexpected file; empty when the index is whole.
    pub problems: Vec<String>,
    /// The index was published before checksums: only the manifest could be read.
    pub unrecorded: bool,
}

/// Reads every byte of the index at `dir` and compares it with what was published.
pub fn verify(dir: &Path) -> Result<Verification> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest_bytes = std::fs::read(&manifest_path).at(&manifest_path)?;
    let mut v = Verification {
        files: 1,
        bytes: manifest_bytes.len() as u64,
        ..Verification::default()
    };
    if let Err(e) = check_manifest_sum(dir, &manifest_bytes, false) {
        v.problems.push(match e {
            IndexError::Damaged { detail, .. } => detail,
            other => other.to_string(),
        });
    }
    let manifest = match Manifest::parse(dir, &manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            v.problems.push(e.to_string());
            return Ok(v);
        }
    };
    if manifest.files.is_empty() {
        v.unrecorded = true;
        return Ok(v);
    }
    if !dir.join(MANIFEST_SUM_FILE).is_file() {
        v.problems.push(format!(
            "{MANIFEST_SUM_FILE}: missing (the manifest lists checksums, so it was published with one)"
        ));
    }
    for (name, sum) in &manifest.files {
        let path = dir.join(name);
        match sha256_file(&path) {
            Ok((bytes, sha256)) => {
                v.files += 1;
                v.bytes += bytes;
                if bytes != sum.bytes {
                    v.problems.push(format!(
                        "{name}: {bytes} bytes, published with {}",
                        sum.bytes
                    ));
                } else if sha256 != sum.sha256 {
                    v.problems
                        .push(format!("{name}: content differs from what was published (SHA-256 {sha256}, expected {})", sum.sha256));
                }
            }
            Err(e) => v.problems.push(format!("{name}: cannot be read ({e})")),
        }
    }
    for name in list(dir)? {
        if !manifest.files.contains_key(&name) {
            v.problems
                .push(format!("{name}: not part of the published index"));
        }
    }
    Ok(v)
}
