//! One work unit of a distributed build: a range of the streams of a multistream dump, read
//! with the dump's head stream so the XML reader sees a whole (smaller) dump.

use super::{
    Compression, Counting, DamageLog, Located, OpenMode, OpenOptions, Opened, ParallelBzReader,
    Position, read_multistream_index,
};
use crate::error::{CorpusError, Result};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use wikirag_core::Progress;

/// A range of bzip2 streams of a multistream dump: `[start, end)` in compressed bytes, both
/// stream starts named by the dump's multistream index (`end` may be the file's size), so no
/// part splits a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub start: u64,
    pub end: u64,
}

impl std::str::FromStr for Part {
    type Err = String;
    /// `START:END` (compressed bytes; `END` may be `end`, the file's size).
    fn from_str(s: &str) -> std::result::Result<Part, String> {
        let (a, b) = s
            .split_once(':')
            .ok_or_else(|| format!("expected START:END (compressed byte offsets), got {s:?}"))?;
        let start = a
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("part start {a:?}: {e}"))?;
        let end = match b.trim() {
            "end" => u64::MAX,
            b => b
                .parse::<u64>()
                .map_err(|e| format!("part end {b:?}: {e}"))?,
        };
        if end <= start {
            return Err(format!(
                "part {s:?} is empty: its end must lie after its start"
            ));
        }
        Ok(Part { start, end })
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.end == u64::MAX {
            write!(f, "{}:end", self.start)
        } else {
            write!(f, "{}:{}", self.start, self.end)
        }
    }
}

/// [`open`] for a [`Part`]: the head stream (`<mediawiki>` and `<siteinfo>`, up to the first
/// offset of the index) decompressed, then the part's streams (in parallel where allowed),
/// then `</mediawiki>` unless the part runs to the end of the file (whose last stream holds
/// it). Both ends must be stream starts of the multistream index, which is required.
pub(super) fn open_part(
    path: &Path,
    part: Part,
    options: &OpenOptions,
    progress: Arc<dyn Progress>,
) -> Result<Opened> {
    use std::io::{Seek, SeekFrom};
    let open_err = |source| CorpusError::Open {
        path: path.to_path_buf(),
        source,
    };
    let bad_part = |message: String| CorpusError::BadPart {
        path: path.to_path_buf(),
        part: part.to_string(),
        message,
    };
    let index = options.multistream_index.as_ref().ok_or_else(|| {
        bad_part("a part needs the dump's multistream index (--multistream-index)".into())
    })?;
    let mut file = File::open(path).map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if !meta.is_file() {
        return Err(bad_part("a part is read from a regular file only".into()));
    }
    let size = meta.len();
    let offsets = read_multistream_index(path, index)?;
    let head_end = match offsets.first() {
        Some(&first) if first > 0 => first,
        _ => {
            return Err(bad_part(
                "the index names no stream after the head stream".into(),
            ));
        }
    };
    let end = part.end.min(size);
    let is_start = |at: u64| offsets.binary_search(&at).is_ok();
    if !is_start(part.start) {
        return Err(bad_part(format!(
            "no stream of the index starts at byte {} (a part starts at a stream start, never inside one)",
            part.start
        )));
    }
    if end != size && !is_start(end) {
        return Err(bad_part(format!(
            "no stream of the index starts at byte {end}, and it is not the end of the file ({size} bytes)"
        )));
    }
    // The head stream, decompressed whole (it holds `<siteinfo>` only: a few kB).
    let mut head = Vec::new();
    bzip2::read::BzDecoder::new((&mut file).take(head_end))
        .read_to_end(&mut head)
        .map_err(|e| {
            bad_part(format!(
                "its head stream (bytes 0..{head_end}) does not decompress: {e}"
            ))
        })?;
    file.seek(SeekFrom::Start(part.start)).map_err(open_err)?;
    let offset = Arc::new(std::sync::atomic::AtomicU64::new(part.start));
    let counted = Position {
        inner: Counting {
            inner: file.take(end - part.start),
            progress: progress.clone(),
            pending: 0,
        },
        offset: offset.clone(),
    };
    let damage = DamageLog::default();
    let threads = if options.threads == 0 {
        thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        options.threads
    };
    let (body, mode): (Box<dyn Read + Send>, OpenMode) = if options.parallel {
        let cuts: Vec<u64> = offsets
            .iter()
            .copied()
            .filter(|&o| o > part.start && o < end)
            .collect();
        (
            Box::new(ParallelBzReader::start(
                path.to_path_buf(),
                counted,
                part.start,
                Some(cuts),
                threads,
                damage.clone(),
            )),
            OpenMode::Bzip2Parallel { threads },
        )
    } else {
        (
            Box::new(Located {
                inner: bzip2::read::MultiBzDecoder::new(BufReader::new(counted)),
                path: path.to_path_buf(),
                offset,
            }),
            OpenMode::Bzip2Sequential,
        )
    };
    let tail: &'static [u8] = if end == size { b"" } else { b"</mediawiki>\n" };
    let reader = io::Cursor::new(head).chain(body).chain(tail);
    Ok(Opened {
        reader: Box::new(BufReader::with_capacity(1 << 20, reader)),
        compression: Compression::Bzip2,
        mode,
        size: head_end + (end - part.start),
        damage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::open;
    use std::path::PathBuf;
    use wikirag_core::NoProgress;

    fn sample(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/sample")
            .join(name)
    }

    fn read_part(part: &str, index: bool) -> Result<String> {
        let options = OpenOptions {
            multistream_index: index.then(|| sample("frwiki-sample-multistream-index.txt.bz2")),
            part: Some(part.parse().unwrap()),
            threads: 2,
            ..OpenOptions::default()
        };
        let dump = sample("frwiki-sample-multistream.xml.bz2");
        let mut opened = open(&dump, &options, Arc::new(NoProgress))?;
        let mut xml = String::new();
        opened.reader.read_to_string(&mut xml).unwrap();
        Ok(xml)
    }

    #[test]
    fn a_part_is_a_whole_smaller_dump_and_a_bad_one_is_refused() {
        // The second unit: the head, its pages, and a closing tag of its own.
        let xml = read_part("2404:6665", true).unwrap();
        assert!(xml.starts_with("<mediawiki") && xml.contains("</siteinfo>"));
        assert!(xml.trim_end().ends_with("</mediawiki>"));
        assert_eq!(xml.matches("<page>").count(), 4);
        assert!(
            xml.contains("<title>Michel Debré</title>") && xml.contains("<title>Paris</title>")
        );
        assert!(!xml.contains("<title>Georges Pompidou</title>"));
        // The last unit ends with the file's own closing stream: one closing tag.
        let xml = read_part("6665:end", true).unwrap();
        assert_eq!(xml.matches("</mediawiki>").count(), 1);

        for (part, index, says) in [
            (
                "2405:6665",
                true,
                "no stream of the index starts at byte 2405",
            ),
            (
                "2404:6000",
                true,
                "no stream of the index starts at byte 6000",
            ),
            ("2404:6665", false, "needs the dump's multistream index"),
        ] {
            let err = read_part(part, index).unwrap_err();
            assert!(matches!(err, CorpusError::BadPart { .. }), "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
        assert!("5:3".parse::<Part>().is_err() && "x:3".parse::<Part>().is_err());
        assert_eq!("5:end".parse::<Part>().unwrap().to_string(), "5:end");
    }
}
