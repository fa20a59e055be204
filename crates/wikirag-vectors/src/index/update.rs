//! Updates of the vectors: rows of changed and deleted pages marked dead, new rows appended,
//! the graph extended (re-linked when a quarter of the rows are dead, after compaction).

use super::*;

/// What [`VectorUpdate::finish`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VectorUpdateReport {
    pub added: usize,
    pub removed: usize,
    /// Whether dead rows were dropped from the store (and the graph re-linked from scratch).
    pub compacted: bool,
    pub seconds: f64,
}

/// Changes the vectors of an index copy (a new generation being written, never a published
/// one): rows of changed and deleted pages are marked dead, new rows are appended and linked
/// into the existing graph.
pub struct VectorUpdate {
    dir: PathBuf,
    meta: VectorMeta,
    writer: VectorWriter,
    /// Live rows by page id.
    by_page: std::collections::HashMap<u64, Vec<u32>>,
    dead: Vec<u32>,
    removed: usize,
}

impl VectorUpdate {
    /// Opens the vectors of the index copy at `index_dir` for changes.
    pub fn open(index_dir: &Path) -> Result<VectorUpdate> {
        let dir = index_dir.join(VECTORS_DIR);
        let mut meta = read_meta(&dir)?;
        if meta.format > VECTOR_FORMAT || (meta.format < 2 && meta.graph) {
            return Err(VectorError::BadIndex {
                path: dir.join(META_FILE),
                message: format!(
                    "vector format {} cannot be updated by this wikirag (reads {VECTOR_FORMAT}): rebuild the index",
                    meta.format
                ),
            });
        }
        let format = meta.format;
        upgrade_scales(&dir, &mut meta)?;
        // Every row the update keeps is read once against the published block checksums
        // first: damage is refused, never carried into the next generation and recorded as
        // whole there.
        let sums = if meta.format == format {
            wikirag_core::blocks::BlockSums::read(index_dir).map_err(|e| VectorError::Damaged {
                path: index_dir.join(wikirag_core::blocks::BLOCKS_FILE),
                detail: e.to_string(),
            })?
        } else {
            None
        };
        let store = VectorStore::open_checked(&dir, meta.dim, meta.count, None, sums.as_ref())?;
        store
            .verify_blocks()
            .map_err(|damage| VectorError::Damaged {
                path: dir.join(crate::store::VECTORS_FILE),
                detail: damage.to_string(),
            })?;
        let mut by_page: std::collections::HashMap<u64, Vec<u32>> = Default::default();
        let mut dead = Vec::new();
        for row in 0..store.len() {
            if store.is_dead(row) {
                dead.push(row as u32);
            } else {
                by_page
                    .entry(store.position(row).0)
                    .or_default()
                    .push(row as u32);
            }
        }
        drop(store);
        let writer = VectorWriter::append(&dir, meta.dim, meta.count)?;
        Ok(VectorUpdate {
            dir,
            meta,
            writer,
            by_page,
            dead,
            removed: 0,
        })
    }

    pub fn meta(&self) -> &VectorMeta {
        &self.meta
    }

    /// Marks every row of page `page_id` dead (a changed or deleted page).
    pub fn remove_page(&mut self, page_id: u64) {
        if let Some(rows) = self.by_page.remove(&page_id) {
            self.removed += rows.len();
            self.dead.extend(rows);
        }
    }

    /// Appends the vector of sentence `sentence` of page `page_id`.
    pub fn add(&mut self, page_id: u64, sentence: u32, vector: &[f32]) -> Result<()> {
        let row = (self.meta.count + self.writer.len()) as u32;
        self.writer.add(page_id, sentence, vector)?;
        // A page seen twice in one update (several revisions) replaces its own new rows too.
        self.by_page.entry(page_id).or_default().push(row);
        Ok(())
    }

    /// Writes the rows, the dead list and the graph; compacts when a quarter of the rows are
    /// dead.
    pub fn finish(
        self,
        progress: &dyn Progress,
        stop: &StopFlag,
    ) -> Result<(VectorMeta, VectorUpdateReport)> {
        let started = Instant::now();
        let VectorUpdate {
            dir,
            mut meta,
            writer,
            mut dead,
            removed,
            ..
        } = self;
        let added = writer.len();
        let old_count = meta.count;
        let count = writer.finish()?;
        dead.sort_unstable();
        dead.dedup();
        write_dead(&dir, &dead)?;
        meta.count = count;
        meta.dead = dead.len();
        let compacted = count > 0 && dead.len() as f64 >= COMPACT_DEAD_SHARE * count as f64;
        if compacted {
            compact(&dir, &mut meta, &dead)?;
        }
        let store = VectorStore::open(&dir, meta.dim, meta.count, None)?;
        let params = meta.hnsw;
        let had_graph = meta.graph && !compacted;
        meta.graph = params.wants_graph(store.live());
        meta.seconds.remove("hnsw_build");
        let graph_path = dir.join(GRAPH_FILE);
        if meta.graph {
            let graph = if had_graph {
                Graph::read(&graph_path, old_count)?.extend(
                    &store,
                    params.ef_construction,
                    progress,
                    stop,
                )?
            } else {
                Graph::build(&store, params.m, params.ef_construction, progress, stop)?
            };
            if stop.is_stopped() {
                return Err(VectorError::Interrupted);
            }
            graph.write(&graph_path)?;
            // New rows get codes from the build's codebook (a row's code is its own); a
            // graph new to this index gets a codebook of its own.
            let had_codes = had_graph && dir.join(crate::pq::CODES_FILE).is_file();
            match (params.codes, had_codes) {
                (true, true) => {
                    let mut codes = Codes::read_any(&dir, meta.dim)?;
                    codes.extend(&store);
                    codes.write(&dir)?;
                }
                (wanted, _) => {
                    write_codes(&dir, &store, wanted)?;
                }
            }
        } else {
            remove_if_present(&graph_path)?;
            remove_codes(&dir)?;
        }
        write_meta(&dir, &meta)?;
        let report = VectorUpdateReport {
            added,
            removed,
            compacted,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok((meta, report))
    }
}

/// Rewrites the store of `dir` without its `dead` rows.
pub(super) fn compact(dir: &Path, meta: &mut VectorMeta, dead: &[u32]) -> Result<()> {
    let store = VectorStore::open(dir, meta.dim, meta.count, None)?;
    let dead: HashSet<u32> = dead.iter().copied().collect();
    let tmp = dir.join("compact.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).at(&tmp)?;
    }
    let mut out = VectorWriter::create(&tmp, meta.dim)?;
    for row in 0..store.len() {
        if !dead.contains(&(row as u32)) {
            let (page, sentence) = store.position(row);
            out.push_quantised(page, sentence, store.row(row), store.row_scale(row))?;
        }
    }
    let count = out.finish()?;
    drop(store);
    for file in [
        crate::store::VECTORS_FILE,
        crate::store::ROWS_FILE,
        crate::store::SCALES_FILE,
    ] {
        std::fs::rename(tmp.join(file), dir.join(file)).at(&dir.join(file))?;
    }
    std::fs::remove_dir_all(&tmp).at(&tmp)?;
    remove_if_present(&dir.join(crate::store::DEAD_FILE))?;
    meta.count = count;
    meta.dead = 0;
    Ok(())
}
