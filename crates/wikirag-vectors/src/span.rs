//! What a vector row covers: one sentence, or a window of consecutive sentences of a page
//! (`wikirag index --window`: fewer vectors for whole-language dumps, benches/RESULTS.md
//! "Fewer vectors").
//!
//! `rows.bin` keeps a (page id, u32) per row. The u32 is a [`Span`]'s key: the first sentence's
//! ordinal in its low 24 bits, the window's length − 1 in its high 8. A row of one sentence
//! has the ordinal itself as its key, so every store written before windows reads as it
//! always did, and the key travels unchanged wherever rows are copied (updates, compaction,
//! merges, the build journal).

use std::ops::Range;

/// The largest ordinal a row can start at (2²⁴ − 1: a page of 8 MiB, the reader's default
/// limit, holds at most a few million sentences).
pub const MAX_FIRST: u32 = (1 << 24) - 1;

/// The most sentences one row can cover.
pub const MAX_WINDOW: u32 = 256;

/// The sentences `first .. first + count` of a page, covered by one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub first: u32,
    pub count: u32,
}

impl Span {
    /// One sentence.
    pub fn sentence(ordinal: u32) -> Span {
        Span {
            first: ordinal,
            count: 1,
        }
    }

    /// The key stored for this span; `None` when it cannot be stored (`first` past
    /// [`MAX_FIRST`], `count` 0 or past [`MAX_WINDOW`]).
    pub fn key(self) -> Option<u32> {
        (self.first <= MAX_FIRST && (1..=MAX_WINDOW).contains(&self.count))
            .then(|| self.first | ((self.count - 1) << 24))
    }

    /// The span a stored key names.
    pub fn from_key(key: u32) -> Span {
        Span {
            first: key & MAX_FIRST,
            count: (key >> 24) + 1,
        }
    }

    /// The ordinals of its sentences.
    pub fn ordinals(self) -> Range<u32> {
        self.first..self.first + self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_is_its_own_key_and_windows_round_trip() {
        for o in [0, 1, 7, 1000, MAX_FIRST] {
            assert_eq!(Span::sentence(o).key(), Some(o));
            assert_eq!(Span::from_key(o), Span::sentence(o));
        }
        for (first, count) in [(0, 3), (3, 3), (9, 2), (MAX_FIRST, MAX_WINDOW), (12, 1)] {
            let s = Span { first, count };
            assert_eq!(Span::from_key(s.key().unwrap()), s);
        }
        assert_eq!(
            Span { first: 6, count: 3 }.ordinals().collect::<Vec<_>>(),
            [6, 7, 8]
        );
        assert_eq!(Span::sentence(MAX_FIRST + 1).key(), None);
        assert_eq!(Span { first: 0, count: 0 }.key(), None);
        assert_eq!(
            Span {
                first: 0,
                count: MAX_WINDOW + 1
            }
            .key(),
            None
        );
    }
}
