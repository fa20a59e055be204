//! The fast-field columns a query reads (page id, sentence ordinal, sentence kind), opened
//! once per segment for the life of an open index rather than once per query or page lookup.
//!
//! Opening a column reads its block index: ≈ 20 k blocks a column at 10 M sentences, which
//! took a fifth of a query's time there (benches/RESULTS.md, "BM25 and fetches at 10 M").
//! A segment's columns never change (deletes live in its alive bitset), so a cached column is
//! right for as long as its segment is searched; segments merged away are dropped on the next
//! [`ColumnCache::keep_only`].

use std::collections::HashMap;
use std::sync::Mutex;
use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::{Searcher, SegmentReader};

/// A segment's columns (cheap to clone: the data is shared).
#[derive(Clone)]
pub(crate) struct SegmentColumns {
    pub page: Column<u64>,
    /// Only sentence documents have a value (page and alias documents have none).
    pub sentence: Column<u64>,
    /// Not a fast field in indexes made before the fact weight: all prose.
    pub kind: Option<Column<u64>>,
}

#[derive(Default)]
pub(crate) struct ColumnCache {
    segments: Mutex<HashMap<SegmentId, SegmentColumns>>,
}

impl ColumnCache {
    /// The columns of `segment`, opened on first use.
    pub(crate) fn of(&self, segment: &SegmentReader) -> tantivy::Result<SegmentColumns> {
        let id = segment.segment_id();
        if let Some(columns) = self.lock().get(&id) {
            return Ok(columns.clone());
        }
        let fast = segment.fast_fields();
        let columns = SegmentColumns {
            page: fast.u64("page_id")?,
            sentence: fast.u64("sentence")?,
            kind: fast.u64("sentence_kind").ok(),
        };
        self.lock().insert(id, columns.clone());
        Ok(columns)
    }

    /// Forgets the segments `searcher` no longer reads (merged or replaced by an update).
    pub(crate) fn keep_only(&self, searcher: &Searcher) {
        let mut segments = self.lock();
        if segments.is_empty() {
            return;
        }
        let live: Vec<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        segments.retain(|id, _| live.contains(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, SegmentColumns>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.segments
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
