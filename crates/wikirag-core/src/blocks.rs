//! Per-block checksums of an index's large files, so damage is found where a block is first
//! read — before it can answer — at a cost that does not grow with the index.
//!
//! Publishing records the CRC-32 of every [`BLOCK_BYTES`] block of every file over 1 MiB in
//! [`BLOCKS_FILE`] (the small files are checked whole on every open). A reader keeps a
//! [`BlockCheck`] per file: one bit per block, set once the block matched; the first read of a
//! block computes its CRC (≈ 10 µs for 64 KiB) and a mismatch is recorded, never served
//! silently. [`BlockCheck::check_all`] verifies a whole file (a background pass, or a new
//! generation before a server swaps it in).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// The bytes one checksum covers.
pub const BLOCK_BYTES: usize = 64 << 10;

/// The file (in the index directory) holding the block checksums.
pub const BLOCKS_FILE: &str = "blocks.crc32";

const MAGIC: &[u8; 8] = b"WRBLKS1\n";

/// The blocks of one file as published: its length and the CRC-32 of each block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileBlocks {
    pub len: u64,
    pub sums: Vec<u32>,
}

/// Computes [`FileBlocks`] from a file's bytes as they stream by.
#[derive(Default)]
pub struct BlockHasher {
    hasher: crc32fast::Hasher,
    in_block: usize,
    blocks: FileBlocks,
}

impl BlockHasher {
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.blocks.len += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (BLOCK_BYTES - self.in_block).min(bytes.len());
            self.hasher.update(&bytes[..take]);
            self.in_block += take;
            bytes = &bytes[take..];
            if self.in_block == BLOCK_BYTES {
                let full = std::mem::take(&mut self.hasher);
                self.blocks.sums.push(full.finalize());
                self.in_block = 0;
            }
        }
    }

    pub fn finish(mut self) -> FileBlocks {
        if self.in_block > 0 {
            self.blocks.sums.push(self.hasher.finalize());
        }
        self.blocks
    }
}

/// The block checksums of an index's files, by path relative to the index (`/`-separated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockSums {
    pub files: BTreeMap<String, FileBlocks>,
}

impl BlockSums {
    /// Serialised: magic, then per file its name length (u16), name, length (u64), block
    /// count (u64) and CRCs (u32), little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (name, blocks) in &self.files {
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(name.as_bytes());
            out.extend(blocks.len.to_le_bytes());
            out.extend((blocks.sums.len() as u64).to_le_bytes());
            for sum in &blocks.sums {
                out.extend(sum.to_le_bytes());
            }
        }
        out
    }

    /// Parses [`BlockSums::to_bytes`]; `Err` says what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<BlockSums, String> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not a wikirag block checksum file")?;
        let mut at = 0usize;
        let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
            let end = at.checked_add(n).filter(|&e| e <= rest.len());
            let end = end.ok_or_else(|| format!("truncated at byte {}", *at + MAGIC.len()))?;
            let slice = &rest[*at..end];
            *at = end;
            Ok(slice)
        };
        let mut files = BTreeMap::new();
        while at < rest.len() {
            let name_len = u16::from_le_bytes(take(&mut at, 2)?.try_into().expect("2")) as usize;
            let name = String::from_utf8(take(&mut at, name_len)?.to_vec())
                .map_err(|_| "a file name is not UTF-8".to_string())?;
            let len = u64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8"));
            let count = u64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8"));
            if count != len.div_ceil(BLOCK_BYTES as u64) {
                return Err(format!("{name}: {count} blocks for {len} bytes"));
            }
            let raw = take(
                &mut at,
                usize::try_from(count).map_err(|_| "too many blocks")? * 4,
            )?;
            let sums = raw
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
                .collect();
            files.insert(name, FileBlocks { len, sums });
        }
        Ok(BlockSums { files })
    }

    /// Reads the block checksums of the index at `index_dir`; `Ok(None)` when it has none
    /// (published before them).
    pub fn read(index_dir: &Path) -> std::io::Result<Option<BlockSums>> {
        let path = index_dir.join(BLOCKS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => BlockSums::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A block whose bytes do not match the checksum recorded when the index was published.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: block {block} (bytes {start}..{end}) does not match its checksum")]
pub struct BlockDamage {
    pub file: String,
    pub block: usize,
    pub start: u64,
    pub end: u64,
}

/// Verifies one file's blocks as they are first read. Shared by every reader of the file.
#[derive(Debug)]
pub struct BlockCheck {
    file: String,
    blocks: FileBlocks,
    verified: Vec<AtomicU64>,
    /// Blocks verified, and whether that is all of them: then a read costs one load.
    done: AtomicUsize,
    all: AtomicBool,
    /// The first damaged block + 1 (0: none found).
    damaged: AtomicU64,
}

impl BlockCheck {
    pub fn new(file: impl Into<String>, blocks: FileBlocks) -> BlockCheck {
        let words = blocks.sums.len().div_ceil(64);
        BlockCheck {
            file: file.into(),
            verified: (0..words).map(|_| AtomicU64::new(0)).collect(),
            all: AtomicBool::new(blocks.sums.is_empty()),
            blocks,
            done: AtomicUsize::new(0),
            damaged: AtomicU64::new(0),
        }
    }

    /// The file's length when its checksums were recorded.
    pub fn len(&self) -> u64 {
        self.blocks.len
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.len == 0
    }

    /// Checks the blocks of `data` (the whole file) that `range` touches and that no read has
    /// verified yet. Cheap once verified: one atomic load per block.
    #[inline(always)]
    pub fn check(&self, data: &[u8], range: Range<usize>) -> Result<(), BlockDamage> {
        if self.all.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.check_blocks(data, range)
    }

    #[inline]
    fn check_blocks(&self, data: &[u8], range: Range<usize>) -> Result<(), BlockDamage> {
        if range.is_empty() {
            return Ok(());
        }
        let first = range.start / BLOCK_BYTES;
        let last = (range.end - 1) / BLOCK_BYTES;
        for block in first..=last {
            if !self.is_verified(block) {
                self.verify_block(data, block)?;
            }
        }
        Ok(())
    }

    /// Verifies every block not verified yet.
    pub fn check_all(&self, data: &[u8]) -> Result<(), BlockDamage> {
        for block in 0..self.blocks.sums.len() {
            if !self.is_verified(block) {
                self.verify_block(data, block)?;
            }
        }
        Ok(())
    }

    /// Blocks verified so far, and the number of blocks.
    pub fn progress(&self) -> (usize, usize) {
        (
            self.done
                .load(Ordering::Relaxed)
                .min(self.blocks.sums.len()),
            self.blocks.sums.len(),
        )
    }

    /// The first damaged block found, if any.
    pub fn damage(&self) -> Option<BlockDamage> {
        match self.damaged.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.damage_at(n as usize - 1)),
        }
    }

    #[inline]
    fn is_verified(&self, block: usize) -> bool {
        self.verified
            .get(block / 64)
            .is_some_and(|w| w.load(Ordering::Acquire) & (1 << (block % 64)) != 0)
    }

    #[cold]
    fn verify_block(&self, data: &[u8], block: usize) -> Result<(), BlockDamage> {
        let start = block * BLOCK_BYTES;
        let end = (start + BLOCK_BYTES).min(self.blocks.len as usize);
        let matches = data.len() as u64 == self.blocks.len
            && self
                .blocks
                .sums
                .get(block)
                .is_some_and(|&sum| crc32fast::hash(&data[start..end]) == sum);
        if !matches {
            let _ = self.damaged.compare_exchange(
                0,
                block as u64 + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            return Err(self.damage_at(block));
        }
        if let Some(word) = self.verified.get(block / 64) {
            let bit = 1 << (block % 64);
            // Counted once, by the read that set the bit.
            if word.fetch_or(bit, Ordering::AcqRel) & bit == 0
                && self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.blocks.sums.len()
            {
                self.all.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    fn damage_at(&self, block: usize) -> BlockDamage {
        let start = (block * BLOCK_BYTES) as u64;
        BlockDamage {
            file: self.file.clone(),
            block,
            start,
            end: (start + BLOCK_BYTES as u64).min(self.blocks.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn streamed_sums_round_trip_and_find_one_flipped_byte() {
        let bytes = data(3 * BLOCK_BYTES + 123);
        let mut h = BlockHasher::default();
        for chunk in bytes.chunks(10_000) {
            h.update(chunk);
        }
        let blocks = h.finish();
        assert_eq!(blocks.sums.len(), 4);
        let sums = BlockSums {
            files: [("vectors/vectors.i8".to_string(), blocks.clone())].into(),
        };
        assert_eq!(BlockSums::from_bytes(&sums.to_bytes()).unwrap(), sums);
        assert!(BlockSums::from_bytes(&sums.to_bytes()[..20]).is_err());

        let check = BlockCheck::new("vectors/vectors.i8", blocks.clone());
        check.check(&bytes, 0..bytes.len()).unwrap();
        assert_eq!(check.progress(), (4, 4));

        let mut bad = bytes.clone();
        bad[2 * BLOCK_BYTES + 5] ^= 1;
        let check = BlockCheck::new("vectors/vectors.i8", blocks);
        // Blocks the read does not touch are not read.
        check.check(&bad, 0..BLOCK_BYTES).unwrap();
        assert!(check.damage().is_none());
        let err = check
            .check(&bad, 2 * BLOCK_BYTES + 10..2 * BLOCK_BYTES + 20)
            .unwrap_err();
        assert_eq!(err.block, 2);
        assert_eq!(check.damage(), Some(err));
        assert!(check.check_all(&bad).is_err());
        // A file of another length is damaged wherever it is read.
        let check = BlockCheck::new("x", sums.files["vectors/vectors.i8"].clone());
        assert!(check.check(&bytes[..100], 0..10).is_err());
    }
}
