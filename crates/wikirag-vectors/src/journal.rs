//! A build's vectors kept across interruptions, so that a build run again after Ctrl-C, a kill
//! or a power loss embeds only what it had not embedded yet.
//!
//! The rows are written where the build's [`VectorWriter`] writes them anyway (`vectors.i8`,
//! so resuming costs no extra disk for the vectors), in a directory beside the index's
//! staging area that outlives the process; beside them, `journal.rows` holds each row's key
//! — page id, sentence ordinal, CRC-32 of the text the model saw — and its scale (20 bytes),
//! and `journal.json` the number of rows made durable by the last checkpoint (both files are
//! synced before it is replaced) and the identity of the embedding (model, weights,
//! arithmetic): rows past the checkpoint, torn or not, are cut off when the journal is opened
//! again, and a journal of another embedding is discarded.
//!
//! A resumed build asks [`ResumableWriter::reuse`] for each passage: a row on disk with the
//! same key is kept and the passage is not embedded again (the rows of a page are contiguous,
//! so the journal is looked up by page; the order in which pages arrive does not matter —
//! several inputs are read side by side). Rows no passage asked for (the dump or the settings
//! changed) are dropped when the build finishes. Rows are quantised from the model's vector
//! on their own, so a kept row is the byte-for-byte row an uninterrupted build writes.

use crate::error::{Context, Result, VectorError};
use crate::store::{VECTORS_FILE, VectorWriter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const ROWS_FILE: &str = "journal.rows";
const STATE_FILE: &str = "journal.json";
/// page id (8) + sentence (4) + text CRC (4) + scale (4).
const ENTRY_BYTES: usize = 20;

/// What identifies a passage's row: a resumed build keeps a row only for the same passage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassageKey {
    pub page_id: u64,
    pub sentence: u32,
    /// CRC-32 of the text the model saw.
    pub text_crc: u32,
}

#[derive(Serialize, Deserialize, PartialEq)]
struct State {
    identity: String,
    dim: usize,
    /// Rows made durable by the last checkpoint.
    committed: usize,
}

/// A [`VectorWriter`] whose rows survive the process (see the module docs).
pub struct ResumableWriter {
    writer: VectorWriter,
    entries: BufWriter<File>,
    identity: String,
    /// The rows found on disk when opened, by page: (first row, rows) runs.
    pages: HashMap<u64, Vec<(usize, usize)>>,
    /// Per row found on disk: the CRC of its text, and whether a passage asked for it.
    crcs: Vec<u32>,
    kept: Vec<bool>,
    reused: usize,
}

impl ResumableWriter {
    /// Opens the journal in `dir` and resumes from it if it was written for `identity` and
    /// `dim`; otherwise (absent, another embedding, damaged) starts an empty one there.
    pub fn open(dir: &Path, dim: usize, identity: &str) -> Result<ResumableWriter> {
        match Self::resume(dir, dim, identity) {
            Ok(Some(w)) => {
                tracing::info!(rows = w.found(), dir = %dir.display(), "resuming an interrupted build's vectors");
                return Ok(w);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "an interrupted build's vectors cannot be reused; embedding from the start");
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).at(dir)?;
        }
        let writer = VectorWriter::create(dir, dim)?;
        let path = dir.join(ROWS_FILE);
        let entries = BufWriter::with_capacity(1 << 16, File::create(&path).at(&path)?);
        let w = ResumableWriter {
            writer,
            entries,
            identity: identity.to_string(),
            pages: HashMap::new(),
            crcs: Vec::new(),
            kept: Vec::new(),
            reused: 0,
        };
        w.write_state(0)?;
        Ok(w)
    }

    /// The journal in `dir` when it matches; `None` where there is none or it is another
    /// embedding's.
    fn resume(dir: &Path, dim: usize, identity: &str) -> Result<Option<ResumableWriter>> {
        let state_path = dir.join(STATE_FILE);
        let Ok(bytes) = std::fs::read(&state_path) else {
            return Ok(None);
        };
        let state: State = serde_json::from_slice(&bytes).map_err(|e| VectorError::BadIndex {
            path: state_path.clone(),
            message: e.to_string(),
        })?;
        if state.identity != identity || state.dim != dim {
            tracing::info!(dir = %dir.display(), "an interrupted build's vectors were made by another embedding; starting over");
            return Ok(None);
        }
        let n = state.committed;
        let vectors = dir.join(VECTORS_FILE);
        let rows = dir.join(ROWS_FILE);
        let short = |path: &Path, want: usize| -> Result<()> {
            let len = std::fs::metadata(path).at(path)?.len() as usize;
            if len < want {
                return Err(VectorError::BadIndex {
                    path: path.to_path_buf(),
                    message: format!("{len} bytes, the checkpoint says {want}"),
                });
            }
            Ok(())
        };
        short(&vectors, n * dim)?;
        short(&rows, n * ENTRY_BYTES)?;
        // Rows past the checkpoint were never made durable as a whole: cut them off.
        let truncate = |path: &Path, len: usize| -> Result<File> {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .at(path)?;
            f.set_len(len as u64).at(path)?;
            f.sync_all().at(path)?;
            Ok(f)
        };
        truncate(&vectors, n * dim)?;
        let mut entries = truncate(&rows, n * ENTRY_BYTES)?;
        let mut bytes = Vec::with_capacity(n * ENTRY_BYTES);
        entries.read_to_end(&mut bytes).at(&rows)?;
        let mut crcs = Vec::with_capacity(n);
        let mut positions: Vec<(u64, u32)> = Vec::with_capacity(n);
        let mut scales = Vec::with_capacity(n);
        let mut pages: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
        for (row, e) in bytes.chunks_exact(ENTRY_BYTES).enumerate() {
            let page_id = u64::from_le_bytes(e[0..8].try_into().expect("8 bytes"));
            let sentence = u32::from_le_bytes(e[8..12].try_into().expect("4 bytes"));
            let text_crc = u32::from_le_bytes(e[12..16].try_into().expect("4 bytes"));
            let scale = f32::from_le_bytes(e[16..20].try_into().expect("4 bytes"));
            let runs = pages.entry(page_id).or_default();
            match runs.last_mut() {
                Some((first, len)) if *first + *len == row => *len += 1,
                _ => runs.push((row, 1)),
            }
            positions.push((page_id, sentence));
            crcs.push(text_crc);
            scales.push(scale);
        }
        let writer = VectorWriter::resume(dir, dim, positions, scales)?;
        let entries = OpenOptions::new().append(true).open(&rows).at(&rows)?;
        Ok(Some(ResumableWriter {
            writer,
            entries: BufWriter::with_capacity(1 << 16, entries),
            identity: identity.to_string(),
            pages,
            kept: vec![false; crcs.len()],
            crcs,
            reused: 0,
        }))
    }

    /// Rows found from an interrupted build when opened.
    pub fn found(&self) -> usize {
        self.crcs.len()
    }

    /// Rows kept from the interrupted build so far.
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// Rows written, kept ones included.
    pub fn len(&self) -> usize {
        self.writer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the interrupted build left this passage's row (then it is kept, and the
    /// passage needs no embedding).
    pub fn reuse(&mut self, key: PassageKey) -> Result<bool> {
        let Some(runs) = self.pages.get(&key.page_id) else {
            return Ok(false);
        };
        let rows = self.writer.positions();
        let found = runs
            .iter()
            .flat_map(|&(first, len)| first..first + len)
            .find(|&row| {
                rows[row].1 == key.sentence && self.crcs[row] == key.text_crc && !self.kept[row]
            });
        if let Some(row) = found {
            self.kept[row] = true;
            self.reused += 1;
        }
        Ok(found.is_some())
    }

    /// Adds a passage's vector (after every row already there).
    pub fn add(&mut self, key: PassageKey, vector: &[f32]) -> Result<()> {
        self.writer.add(key.page_id, key.sentence, vector)?;
        let scale = self.writer.last_scale().expect("a row was just added");
        let mut e = [0u8; ENTRY_BYTES];
        e[0..8].copy_from_slice(&key.page_id.to_le_bytes());
        e[8..12].copy_from_slice(&key.sentence.to_le_bytes());
        e[12..16].copy_from_slice(&key.text_crc.to_le_bytes());
        e[16..20].copy_from_slice(&scale.to_le_bytes());
        let path = self.writer.dir().join(ROWS_FILE);
        self.entries.write_all(&e).at(&path)?;
        Ok(())
    }

    /// Makes every row added so far durable: a build interrupted after this resumes with them.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.writer.sync()?;
        let path = self.writer.dir().join(ROWS_FILE);
        self.entries.flush().at(&path)?;
        self.entries.get_ref().sync_data().at(&path)?;
        self.write_state(self.writer.len())
    }

    /// The writer, its journal removed and its directory moved to `dir` (inside the index
    /// being staged), ready for [`crate::finish_build`]. Rows of the interrupted build that no
    /// passage asked for are dropped.
    pub fn into_writer(mut self, dir: &Path) -> Result<VectorWriter> {
        let unused = self.kept.iter().filter(|k| !**k).count();
        if unused > 0 {
            tracing::info!(
                unused,
                "rows of the interrupted build no passage asked for (the input changed) are dropped"
            );
            let mut keep = std::mem::take(&mut self.kept);
            keep.resize(self.writer.positions().len(), true);
            self.writer.retain(&keep)?;
        }
        let from = self.writer.dir().to_path_buf();
        drop(self.entries);
        for name in [STATE_FILE, ROWS_FILE] {
            let path = from.join(name);
            std::fs::remove_file(&path).at(&path)?;
        }
        std::fs::rename(&from, dir).at(dir)?;
        self.writer.moved_to(dir.to_path_buf());
        Ok(self.writer)
    }

    fn write_state(&self, committed: usize) -> Result<()> {
        let state = State {
            identity: self.identity.clone(),
            dim: self.writer.dim(),
            committed,
        };
        let path = self.writer.dir().join(STATE_FILE);
        crate::store::write_file(
            &path,
            &serde_json::to_vec(&state).expect("the state serialises"),
        )
    }
}

/// Where the resumable vectors of a build of `out` live: beside it, hidden.
pub fn journal_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".to_string());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    parent
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.vectors-partial"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(page_id: u64, sentence: u32) -> PassageKey {
        PassageKey {
            page_id,
            sentence,
            text_crc: (page_id as u32) * 31 + sentence,
        }
    }

    /// Rows past the last checkpoint (a crash mid-chunk, a torn write) are cut off when the
    /// journal is opened again; the checkpointed ones are kept, asked for in any order; a
    /// journal of another embedding or dimension is discarded.
    #[test]
    fn reopening_keeps_the_checkpointed_rows_only() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join(".idx.vectors-partial");
        let mut w = ResumableWriter::open(&j, 4, "model a").unwrap();
        for s in 0..3 {
            w.add(key(7, s), &[1.0, s as f32, 0.0, 0.5]).unwrap();
        }
        w.add(key(9, 0), &[0.0, 1.0, 0.0, 0.0]).unwrap();
        w.checkpoint().unwrap();
        // Not checkpointed, and then a torn entry and a torn row.
        w.add(key(11, 0), &[0.0, 0.0, 1.0, 0.0]).unwrap();
        w.entries.flush().unwrap();
        w.writer.sync().unwrap();
        drop(w);
        for (name, bytes) in [
            (ROWS_FILE, &b"\x01\x02\x03"[..]),
            (VECTORS_FILE, &b"\x7f"[..]),
        ] {
            let mut f = OpenOptions::new().append(true).open(j.join(name)).unwrap();
            f.write_all(bytes).unwrap();
        }
        let mut w = ResumableWriter::open(&j, 4, "model a").unwrap();
        assert_eq!(w.found(), 4);
        assert!(w.reuse(key(9, 0)).unwrap());
        assert!(!w.reuse(key(9, 0)).unwrap(), "a row is kept once");
        assert!(!w.reuse(key(11, 0)).unwrap(), "never checkpointed");
        assert!(
            !w.reuse(PassageKey {
                text_crc: 0,
                ..key(7, 1)
            })
            .unwrap(),
            "another text"
        );
        assert!(w.reuse(key(7, 2)).unwrap());
        assert!(w.reuse(key(7, 0)).unwrap());
        w.add(key(11, 0), &[0.0, 0.0, 1.0, 0.0]).unwrap();
        assert_eq!(w.reused(), 3);
        let out = dir.path().join("vectors");
        let writer = w.into_writer(&out).unwrap();
        // Row (7, 1) was never asked for: dropped; the journal files are gone.
        let want: Vec<(u64, u32)> = vec![(7, 0), (7, 2), (9, 0), (11, 0)];
        assert_eq!(writer.positions(), want);
        assert_eq!(writer.len(), 4);
        assert!(!j.exists());
        assert!(!out.join(ROWS_FILE).exists() && !out.join(STATE_FILE).exists());
        assert_eq!(
            std::fs::metadata(out.join(VECTORS_FILE)).unwrap().len(),
            4 * 4
        );
        drop(writer);

        // Another embedding, or another dimension: started over.
        let mut w = ResumableWriter::open(&j, 4, "model a").unwrap();
        w.add(key(1, 0), &[1.0, 0.0, 0.0, 0.0]).unwrap();
        w.checkpoint().unwrap();
        drop(w);
        assert_eq!(ResumableWriter::open(&j, 4, "model b").unwrap().found(), 0);
        let mut w = ResumableWriter::open(&j, 4, "model a").unwrap();
        w.add(key(1, 0), &[1.0, 0.0, 0.0, 0.0]).unwrap();
        w.checkpoint().unwrap();
        drop(w);
        assert_eq!(ResumableWriter::open(&j, 8, "model a").unwrap().found(), 0);
    }
}
