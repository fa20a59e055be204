//! The graph's file: one little-endian file, layer 0 packed (a link count per row, then the
//! links), checked on load (sizes, counts, every link in range); the padded layout of older
//! graphs still reads.

use super::*;

impl Graph {
    /// Writes the graph to `path` (through a temporary file renamed into place).
    pub(crate) fn write(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("bin.tmp");
        let file = std::fs::File::create(&tmp).at(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut header = Vec::with_capacity(HEADER_BYTES_PACKED);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for x in [
            self.layout.m as u32,
            self.layout.m0 as u32,
            self.entry,
            self.upper.len() as u32,
            0,
        ] {
            header.extend_from_slice(&x.to_le_bytes());
        }
        header.extend_from_slice(&(self.layer0.len() as u64).to_le_bytes());
        w.write_all(&header).at(&tmp)?;
        w.write_all(&self.levels).at(&tmp)?;
        for pair in self.starts.windows(2) {
            w.write_all(&((pair[1] - pair[0]) as u16).to_le_bytes())
                .at(&tmp)?;
        }
        for list in [&self.layer0, &self.upper] {
            for x in list.iter() {
                w.write_all(&x.to_le_bytes()).at(&tmp)?;
            }
        }
        w.flush().at(&tmp)?;
        drop(w);
        std::fs::rename(&tmp, path).at(path)?;
        Ok(())
    }

    /// Reads a graph written by [`Graph::write`] for a store of `rows` rows, checking it.
    pub(crate) fn read(path: &Path, rows: usize) -> Result<Graph> {
        Self::read_checked(path, rows, None)
    }

    /// [`Graph::read`], the bytes checked against the index's block checksums first.
    pub(crate) fn read_checked(
        path: &Path,
        rows: usize,
        sums: Option<&wikirag_core::blocks::BlockSums>,
    ) -> Result<Graph> {
        let bytes = std::fs::read(path).at(path)?;
        if let Some(dir) = path.parent() {
            crate::store::check_whole(sums, dir, GRAPH_FILE, &bytes)?;
        }
        let bad = |message: String| VectorError::Hnsw {
            path: path.to_path_buf(),
            message,
        };
        let packed = bytes.len() >= HEADER_BYTES_PACKED && &bytes[..8] == MAGIC;
        if !packed && (bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC_PADDED) {
            return Err(bad(
                "not a wikirag HNSW graph (rebuild it: wikirag relink)".into()
            ));
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let n = u64::from_le_bytes(bytes[8..16].try_into().expect("8")) as usize;
        let (m, m0, entry, upper_len) = (
            u32_at(16) as usize,
            u32_at(20) as usize,
            u32_at(24),
            u32_at(28) as usize,
        );
        if n != rows {
            return Err(bad(format!("{n} rows in the graph, {rows} vectors")));
        }
        let truncated = |expected: u128| {
            bad(format!(
                "{} bytes where {expected} were expected (damaged or truncated: wikirag relink)",
                bytes.len()
            ))
        };
        // (u128: sizes from a damaged header must not overflow.)
        let (header, links0) = if packed {
            let links0 = u64::from_le_bytes(bytes[36..44].try_into().expect("8"));
            (HEADER_BYTES_PACKED, links0 as u128)
        } else {
            (HEADER_BYTES, n as u128 * m0 as u128)
        };
        let counts_bytes = if packed { 2 * n } else { 0 };
        let expected =
            header as u128 + n as u128 + counts_bytes as u128 + 4 * (links0 + upper_len as u128);
        if bytes.len() as u128 != expected || m == 0 || m0 < m || (n > 0 && entry as usize >= n) {
            return Err(truncated(expected));
        }
        let links0 = links0 as usize;
        let levels = bytes[header..header + n].to_vec();
        let words = |from: usize, count: usize| -> Vec<u32> {
            bytes[from..from + 4 * count]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
                .collect()
        };
        let at_links = header + n + counts_bytes;
        let layer0 = words(at_links, links0);
        let upper = words(at_links + 4 * links0, upper_len);
        if levels.iter().any(|&l| l > MAX_LEVEL) {
            return Err(bad("a level out of range (damaged)".into()));
        }
        let (upper_start, needed) = upper_layout(&levels, m);
        if needed != upper_len {
            return Err(bad("upper layers do not match the levels (damaged)".into()));
        }
        if layer0
            .iter()
            .chain(&upper)
            .any(|&r| r != EMPTY && r as usize >= n)
        {
            return Err(bad("a link out of range (damaged)".into()));
        }
        let layout = Layout { m, m0, upper_start };
        if !packed {
            return Ok(Graph::packed(layout, entry, levels, &layer0, upper));
        }
        let mut starts = Vec::with_capacity(n + 1);
        starts.push(0u64);
        for c in bytes[header + n..header + n + counts_bytes].chunks_exact(2) {
            let count = u16::from_le_bytes([c[0], c[1]]) as usize;
            if count > m0 {
                return Err(bad(format!(
                    "a list of {count} links, at most {m0} (damaged)"
                )));
            }
            starts.push(starts.last().expect("one") + count as u64);
        }
        if starts.last().copied() != Some(links0 as u64) || layer0.contains(&EMPTY) {
            return Err(bad(
                "layer 0 does not match its link counts (damaged)".into()
            ));
        }
        Ok(Graph {
            layout,
            entry,
            levels,
            starts,
            layer0,
            upper,
        })
    }
}
