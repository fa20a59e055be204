//! Opening dump files: format detection and decompression (plain, gzip, bzip2, bzip2
//! multistream in parallel).

use crate::error::{CorpusError, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use wikirag_core::Progress;

/// How a dump file is compressed, detected from its first bytes (never from its name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
}

/// A bzip2 stream starts byte-aligned with `BZh1`..`BZh9` then either a block header
/// (π in BCD) or, for an empty stream, the end-of-stream marker (√π).
const BLOCK_MAGIC: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const EOS_MAGIC: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];

fn is_stream_start(bytes: &[u8]) -> bool {
    bytes.len() >= 10
        && &bytes[..3] == b"BZh"
        && (b'1'..=b'9').contains(&bytes[3])
        && (bytes[4..10] == BLOCK_MAGIC || bytes[4..10] == EOS_MAGIC)
}

/// Finds the offsets of every bzip2 stream start in `bytes` (after position 0).
pub fn find_stream_starts(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut from = 1;
    while let Some(at) = find_stream_starts_from(bytes, from) {
        out.push(at);
        from = at + 1;
    }
    out
}

/// The first stream start at or after `from`.
fn find_stream_starts_from(bytes: &[u8], from: usize) -> Option<usize> {
    if from >= bytes.len() {
        return None;
    }
    memchr::memmem::find_iter(&bytes[from..], b"BZh")
        .map(|rel| from + rel)
        .find(|&at| is_stream_start(&bytes[at..]))
}

mod part;
pub use part::Part;

/// Options for opening a dump.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Threads that decompress a multistream file; 0 = all cores.
    pub threads: usize,
    /// The `-multistream-index.txt(.bz2)` companion, when the user has it.
    pub multistream_index: Option<PathBuf>,
    /// Use parallel decompression when a bzip2 file has several streams.
    pub parallel: bool,
    /// Read only the streams in this range of compressed bytes of a multistream file (with its
    /// head stream, for `<siteinfo>`): one work unit of a distributed build.
    pub part: Option<Part>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            threads: 0,
            multistream_index: None,
            parallel: true,
            part: None,
        }
    }
}

/// How a file was opened, for logs and the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenMode {
    Plain,
    Gzip,
    Bzip2Sequential,
    Bzip2Parallel { threads: usize },
}

/// An opened dump: a reader of decompressed XML.
pub struct Opened {
    pub reader: Box<dyn BufRead + Send>,
    pub compression: Compression,
    pub mode: OpenMode,
    pub size: u64,
    /// Damage read past: a multistream stream that failed to decompress in the middle of the
    /// file, whose whole pages were kept and after which reading went on with the next
    /// stream. Filled while `reader` is read; look once it is done.
    pub damage: DamageLog,
}

/// What a reader skipped over, one message per damaged part, each naming the file and the
/// compressed offset.
#[derive(Clone, Debug, Default)]
pub struct DamageLog(Arc<std::sync::Mutex<Vec<String>>>);

impl DamageLog {
    fn push(&self, message: String) {
        if let Ok(mut log) = self.0.lock() {
            log.push(message);
        }
    }

    /// The messages so far.
    pub fn messages(&self) -> Vec<String> {
        self.0.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

/// Counts the compressed bytes consumed and reports them.
struct Counting<R> {
    inner: R,
    progress: Arc<dyn Progress>,
    pending: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending += n as u64;
        if self.pending >= 1 << 16 || n == 0 {
            self.progress.bytes_read(self.pending);
            self.pending = 0;
        }
        Ok(n)
    }
}

/// Turns a decompression error into one that names the file and where it happened.
struct Located<R> {
    inner: R,
    path: PathBuf,
    offset: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Located<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let offset = self.offset.load(std::sync::atomic::Ordering::Relaxed);
            io::Error::new(
                e.kind(),
                format!(
                    "{}: decompression failed near compressed byte {offset}: {e}",
                    self.path.display()
                ),
            )
        })
    }
}

/// Tracks the position in the compressed file for [`Located`].
struct Position<R> {
    inner: R,
    offset: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Position<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.offset
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a dump file, detecting its compression, and returns a reader of its XML.
///
/// The file is opened once and read from its start to its end: a pipe, a FIFO or
/// `/dev/stdin` (`<(bzcat …)`) works like a file. The first bytes that decide the format are
/// kept and handed on, never read twice. Only a regular file is split by a multistream index
/// (that needs seeking); for anything else the streams are found by scanning.
pub fn open(path: &Path, options: &OpenOptions, progress: Arc<dyn Progress>) -> Result<Opened> {
    if let Some(part) = options.part {
        return part::open_part(path, part, options, progress);
    }
    let open_err = |source| CorpusError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if meta.is_dir() {
        return Err(open_err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    let regular = meta.is_file();
    let size = if regular { meta.len() } else { 0 };
    let mut head = vec![0u8; 10];
    let n = read_up_to(&mut file, &mut head).map_err(open_err)?;
    head.truncate(n);
    let compression = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if is_stream_start(&head) {
        Compression::Bzip2
    } else {
        Compression::None
    };
    // A bzip2 file is multistream if a second stream starts within the first
    // [`PROBE_BYTES`] (multistream dumps start with a small header stream holding
    // `<siteinfo>`): those bytes are read now and handed on with the rest.
    let probed_multistream = if compression == Compression::Bzip2 {
        head.resize(PROBE_BYTES, 0);
        let more = read_up_to(&mut file, &mut head[n..]).map_err(open_err)?;
        head.truncate(n + more);
        !find_stream_starts(&head).is_empty()
    } else {
        false
    };
    let file = io::Cursor::new(head).chain(file);
    let offset = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Position {
        inner: Counting {
            inner: file,
            progress: progress.clone(),
            pending: 0,
        },
        offset: offset.clone(),
    };
    let buf = 1 << 20;
    let damage = DamageLog::default();
    let (reader, mode): (Box<dyn BufRead + Send>, OpenMode) = match compression {
        Compression::None => (
            Box::new(BufReader::with_capacity(buf, counted)),
            OpenMode::Plain,
        ),
        Compression::Gzip => (
            Box::new(BufReader::with_capacity(
                buf,
                Located {
                    inner: flate2::read::MultiGzDecoder::new(BufReader::new(counted)),
                    path: path.to_path_buf(),
                    offset,
                },
            )),
            OpenMode::Gzip,
        ),
        Compression::Bzip2 => {
            let threads = if options.threads == 0 {
                thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                options.threads
            };
            let index = match &options.multistream_index {
                Some(_) if !regular => {
                    tracing::warn!(path = %path.display(), "not a regular file: the multistream index is not used, the streams are found by scanning");
                    None
                }
                Some(index) => match read_multistream_index(path, index) {
                    Ok(offsets) => Some(offsets),
                    // A wrong companion (shifted offsets, another dump's, not an index at
                    // all): the streams are found by scanning for their headers instead.
                    Err(e @ CorpusError::BadIndex { .. }) => {
                        tracing::warn!(error = %e, "ignoring the multistream index: scanning the dump for its streams instead");
                        None
                    }
                    Err(e) => return Err(e),
                },
                None => None,
            };
            let multistream = index.as_ref().is_some_and(|o| o.len() > 1) || probed_multistream;
            if options.parallel && multistream {
                tracing::debug!(path = %path.display(), threads, "parallel multistream decompression");
                (
                    Box::new(BufReader::with_capacity(
                        buf,
                        ParallelBzReader::start(
                            path.to_path_buf(),
                            counted,
                            0,
                            index,
                            threads,
                            damage.clone(),
                        ),
                    )),
                    OpenMode::Bzip2Parallel { threads },
                )
            } else {
                (
                    Box::new(BufReader::with_capacity(
                        buf,
                        Located {
                            inner: bzip2::read::MultiBzDecoder::new(BufReader::new(counted)),
                            path: path.to_path_buf(),
                            offset,
                        },
                    )),
                    OpenMode::Bzip2Sequential,
                )
            }
        }
    };
    Ok(Opened {
        reader,
        compression,
        mode,
        size,
        damage,
    })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

/// How far into a bzip2 file to look for a second stream before treating it as single-stream.
const PROBE_BYTES: usize = 16 << 20;

/// Reads the stream offsets from a `-multistream-index.txt[.bz2]` file (`offset:page_id:title`).
pub fn read_multistream_index(dump: &Path, index: &Path) -> Result<Vec<u64>> {
    let bad = |line: usize, message: String| CorpusError::BadIndex {
        path: dump.to_path_buf(),
        index: index.to_path_buf(),
        line,
        message,
    };
    let file = File::open(index).map_err(|source| CorpusError::Open {
        path: index.to_path_buf(),
        source,
    })?;
    let mut file = BufReader::new(file);
    let compressed = file
        .fill_buf()
        .map_err(|e| bad(0, e.to_string()))?
        .starts_with(b"BZh");
    let reader: Box<dyn BufRead> = if compressed {
        Box::new(BufReader::new(bzip2::read::MultiBzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut reader = reader;
    let mut offsets: Vec<u64> = Vec::new();
    let mut raw = Vec::new();
    for i in 0.. {
        raw.clear();
        // Lines are `offset:page_id:title` (a title is at most 255 bytes): a longer one means
        // this is not an index (`/dev/zero` would otherwise be read for ever).
        let n = (&mut reader)
            .take(MAX_INDEX_LINE as u64 + 1)
            .read_until(b'\n', &mut raw)
            .map_err(|e| bad(i + 1, e.to_string()))?;
        if n == 0 {
            break;
        }
        if raw.len() > MAX_INDEX_LINE {
            return Err(bad(
                i + 1,
                format!(
                    "a line longer than {MAX_INDEX_LINE} bytes: this is not a multistream index"
                ),
            ));
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            continue;
        }
        let off = line
            .split(':')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| {
                bad(
                    i + 1,
                    format!("expected `offset:page_id:title`, got {line:?}"),
                )
            })?;
        if offsets.last() != Some(&off) {
            if offsets.last().is_some_and(|&last| off < last) {
                return Err(bad(i + 1, format!("offset {off} goes backwards")));
            }
            offsets.push(off);
        }
    }
    check_offsets(dump, &offsets).map_err(|message| bad(0, message))?;
    Ok(offsets)
}

/// The longest line a multistream index may have.
const MAX_INDEX_LINE: usize = 4096;

/// Every offset lies in the dump, and (for up to 1,024 of them, evenly spread) a bzip2 stream
/// starts there: an index of another dump, or one shifted, is caught before it is used.
fn check_offsets(dump: &Path, offsets: &[u64]) -> std::result::Result<(), String> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(dump).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    if let Some(&last) = offsets.last()
        && last >= size
    {
        return Err(format!(
            "offset {last} lies past the end of the dump ({size} bytes): the index belongs to another file"
        ));
    }
    let step = offsets.len().div_ceil(1024).max(1);
    for &off in offsets.iter().step_by(step) {
        let mut head = [0u8; 10];
        file.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
        let n = read_up_to(&mut file, &mut head).map_err(|e| e.to_string())?;
        if !is_stream_start(&head[..n]) {
            return Err(format!(
                "no bzip2 stream starts at offset {off}: the index belongs to another file or is shifted"
            ));
        }
    }
    Ok(())
}

type Chunk = (u64, u64, Vec<u8>); // (sequence, compressed offset, bytes)

enum Msg {
    /// A stream's output; with an error, the output decoded before the fault (the whole
    /// blocks before it), then the error.
    Data(Vec<u8>, Option<io::Error>),
    /// Reading the file itself failed (or a stream was too large): nothing after this.
    Failed(io::Error),
    /// The splitter is done: `seq` of this message is the number of streams.
    End,
}
type Decoded = (u64, Msg);

/// Decompresses the streams of a multistream bzip2 file on several threads and hands out the
/// XML in file order. Memory stays bounded: at most `2 × threads` streams are in flight.
pub struct ParallelBzReader {
    results: crossbeam_channel::Receiver<Decoded>,
    /// Streams decoded ahead of `next`: output, fault, and whether reading may go on after it.
    pending: BTreeMap<u64, (Vec<u8>, Option<io::Error>, bool)>,
    /// The fault to report once `current` (what came before it) has been read.
    fault: Option<io::Error>,
    /// A damaged stream whose whole pages were handed out: if another stream follows, it is
    /// logged in `damage` and reading goes on; if none does, it ends the file like a
    /// truncation.
    skipped: Option<io::Error>,
    /// After a skipped stream: drop output up to the next `<page>` (or `</mediawiki>`).
    resync: bool,
    /// What was handed out so far ends between two pages (or after `<siteinfo>`).
    at_page_boundary: bool,
    damage: DamageLog,
    /// Number of streams, once the splitter has finished.
    end: Option<u64>,
    next: u64,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

/// A single stream larger than this is refused (real multistream dumps hold ~100 pages per
/// stream, well under a few MB).
const MAX_STREAM_BYTES: usize = 512 << 20;

impl ParallelBzReader {
    /// `base`: the file offset of `file`'s first byte (`index` holds file offsets).
    fn start<R: Read + Send + 'static>(
        path: PathBuf,
        file: R,
        base: u64,
        index: Option<Vec<u64>>,
        threads: usize,
        damage: DamageLog,
    ) -> ParallelBzReader {
        let threads = threads.max(1);
        let (job_tx, job_rx) = crossbeam_channel::bounded::<Chunk>(threads * 2);
        let (res_tx, res_rx) = crossbeam_channel::bounded::<Decoded>(threads * 2);
        for _ in 0..threads {
            let job_rx = job_rx.clone();
            let res_tx = res_tx.clone();
            let path = path.clone();
            thread::spawn(move || {
                for (seq, offset, bytes) in job_rx {
                    let (out, fault) = decode_stream(&bytes);
                    let fault = fault.map(|e| {
                        io::Error::new(
                            e.kind(),
                            format!(
                                "{}: bzip2 stream at compressed byte {offset} ({} bytes) is damaged: {e}",
                                path.display(),
                                bytes.len()
                            ),
                        )
                    });
                    if res_tx.send((seq, Msg::Data(out, fault))).is_err() {
                        break;
                    }
                }
            });
        }
        let res_tx_split = res_tx;
        thread::spawn(move || match split_streams(file, base, index, &job_tx) {
            Ok(streams) => {
                let _ = res_tx_split.send((streams, Msg::End));
            }
            Err((seq, e)) => {
                let _ = res_tx_split.send((seq, Msg::Failed(e)));
            }
        });
        ParallelBzReader {
            results: res_rx,
            pending: BTreeMap::new(),
            fault: None,
            skipped: None,
            resync: false,
            at_page_boundary: true,
            damage,
            end: None,
            next: 0,
            current: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    fn refill(&mut self) -> io::Result<bool> {
        loop {
            if let Some(fault) = self.fault.take() {
                self.done = true;
                return Err(fault);
            }
            if let Some((mut data, fault, recoverable)) = self.pending.remove(&self.next) {
                let seq = self.next;
                self.next += 1;
                if let Some(skipped) = self.skipped.take() {
                    // The damaged stream was not the last: say so, and go on from the first
                    // page this one holds.
                    tracing::warn!(error = %skipped, "damaged bzip2 stream skipped; reading goes on with the next stream");
                    self.damage.push(format!(
                        "{skipped}: its pages after its last whole block were skipped; the streams after it were read"
                    ));
                    self.resync = true;
                }
                if self.resync {
                    match first_page_start(&data) {
                        Some(at) => {
                            data.drain(..at);
                            self.resync = false;
                        }
                        None => data.clear(),
                    }
                }
                match fault {
                    // A stream of pages (not the head with `<siteinfo>`) whose output starts
                    // at a page boundary: its whole pages are kept, the page it breaks off in
                    // is dropped, and the next stream may go on.
                    Some(fault)
                        if recoverable && seq > 0 && self.at_page_boundary && !self.resync =>
                    {
                        data.truncate(last_page_end(&data));
                        self.skipped = Some(fault);
                    }
                    // What the damaged stream gave before its fault is read first, as the
                    // sequential path does; the fault ends the file after it.
                    Some(fault) => self.fault = Some(fault),
                    None => {}
                }
                if !data.is_empty() {
                    self.at_page_boundary = ends_between_pages(&data);
                }
                self.current = data;
                self.pos = 0;
                if self.current.is_empty() {
                    continue;
                }
                return Ok(true);
            }
            if self.end == Some(self.next) {
                if let Some(skipped) = self.skipped.take() {
                    // The damaged stream was the last one: the file ends there, as when it
                    // is truncated.
                    self.done = true;
                    return Err(skipped);
                }
                return Ok(false);
            }
            match self.results.recv() {
                Ok((seq, Msg::End)) => self.end = Some(seq),
                Ok((seq, Msg::Data(data, fault))) => {
                    self.pending.insert(seq, (data, fault, true));
                }
                Ok((seq, Msg::Failed(e))) => {
                    self.pending.insert(seq, (Vec::new(), Some(e), false));
                }
                // Every sender is gone without an end marker: a thread died.
                Err(_) => {
                    return Err(io::Error::other(
                        "a decompression thread stopped unexpectedly",
                    ));
                }
            }
        }
    }
}

/// Where the first `<page>` (or the closing `</mediawiki>`) starts. In XML a literal `<` in
/// text is escaped, so these can only be elements.
fn first_page_start(data: &[u8]) -> Option<usize> {
    let page = memchr::memmem::find(data, b"<page>");
    let end = memchr::memmem::find(data, b"</mediawiki>");
    match (page, end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Just after the last `</page>` (0 if none).
fn last_page_end(data: &[u8]) -> usize {
    memchr::memmem::rfind(data, b"</page>").map_or(0, |at| at + b"</page>".len())
}

/// The output ends after a whole page or after the `<siteinfo>` head.
fn ends_between_pages(data: &[u8]) -> bool {
    let trimmed = data.trim_ascii_end();
    trimmed.ends_with(b"</page>") || trimmed.ends_with(b"</siteinfo>")
}

/// A chunk's output, and the fault that ended it early (with what came before it).
fn decode_stream(bytes: &[u8]) -> (Vec<u8>, Option<io::Error>) {
    let mut out = Vec::with_capacity(bytes.len() * 5);
    // A chunk can hold several streams (an index lists no offset for the footer stream).
    let mut dec = bzip2::read::MultiBzDecoder::new(bytes);
    let fault = dec.read_to_end(&mut out).err();
    (out, fault)
}

/// Reads the compressed file sequentially and cuts it into streams, either at the index's
/// offsets or at stream headers found by scanning.
fn split_streams<R: Read>(
    mut file: R,
    base: u64,
    index: Option<Vec<u64>>,
    jobs: &crossbeam_channel::Sender<Chunk>,
) -> Result<u64, (u64, io::Error)> {
    let mut seq = 0u64;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_start = base; // file offset of buf[0]
    let mut eof = false;
    let mut cuts = index.map(|v| v.into_iter().peekable());
    let mut scan_from = 1usize;
    let mut chunk = vec![0u8; 4 << 20];
    loop {
        // Find the end of the stream starting at buf[0].
        let end = match cuts.as_mut() {
            Some(cuts) => {
                while cuts.peek().is_some_and(|&c| c <= buf_start) {
                    cuts.next();
                }
                cuts.peek()
                    .map(|&c| (c - buf_start) as usize)
                    .filter(|&e| e <= buf.len())
            }
            None => {
                // Look again only at bytes not scanned yet (a header may straddle chunks).
                let from = scan_from.saturating_sub(10).max(1);
                let found = find_stream_starts_from(&buf, from);
                if found.is_none() {
                    scan_from = buf.len().max(1);
                }
                found
            }
        };
        match end {
            Some(end) => {
                let rest = buf.split_off(end);
                let stream = std::mem::replace(&mut buf, rest);
                if jobs.send((seq, buf_start, stream)).is_err() {
                    return Ok(seq);
                }
                seq += 1;
                buf_start += end as u64;
                scan_from = 1;
            }
            None if eof => {
                if !buf.is_empty() {
                    let _ = jobs.send((seq, buf_start, std::mem::take(&mut buf)));
                    seq += 1;
                }
                return Ok(seq);
            }
            None => {
                if buf.len() > MAX_STREAM_BYTES {
                    return Err((
                        seq,
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "bzip2 stream at compressed byte {buf_start} is over {} MiB: not a multistream dump?",
                                MAX_STREAM_BYTES >> 20
                            ),
                        ),
                    ));
                }
                let n = file.read(&mut chunk).map_err(|e| (seq, e))?;
                if n == 0 {
                    eof = true;
                } else {
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }
}

impl Read for ParallelBzReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.current.len() {
            if self.done || !self.refill()? {
                self.done = true;
                return Ok(0);
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A companion index that is not one (`/dev/zero`: one endless line) or belongs to
    /// another file (offsets where no stream starts, or past the end) is refused by
    /// `read_multistream_index`, and `open` falls back to scanning the dump for its streams.
    #[test]
    fn a_wrong_multistream_index_is_refused_and_open_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("d.xml.bz2");
        let xml = b"<mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><id>2</id><text>a</text></revision></page></mediawiki>";
        let mut bytes = Vec::new();
        for part in [&xml[..40], &xml[40..]] {
            let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            std::io::Write::write_all(&mut enc, part).unwrap();
            bytes.extend(enc.finish().unwrap());
        }
        std::fs::write(&dump, &bytes).unwrap();
        let cases: [(&str, Vec<u8>, &str); 3] = [
            ("zeros", vec![0u8; 100_000], "longer than 4096"),
            (
                "shifted",
                b"3:1:A\n".to_vec(),
                "no bzip2 stream starts at offset 3",
            ),
            ("other", b"0:1:A\n999999:2:B\n".to_vec(), "past the end"),
        ];
        for (name, index, expected) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, index).unwrap();
            let err = read_multistream_index(&dump, &path).unwrap_err();
            assert!(err.to_string().contains(expected), "{name}: {err}");
            let options = OpenOptions {
                multistream_index: Some(path),
                ..OpenOptions::default()
            };
            let mut opened = open(&dump, &options, Arc::new(wikirag_core::NoProgress)).unwrap();
            let mut out = Vec::new();
            opened.reader.read_to_end(&mut out).unwrap();
            assert_eq!(out, xml, "{name}");
        }
    }

    #[test]
    fn finds_stream_headers() {
        let mut bytes = b"BZh91AY&SYxxxxxxxx".to_vec();
        let second = bytes.len();
        bytes.extend_from_slice(b"BZh91AY&SYyyyy");
        let third = bytes.len();
        bytes.extend_from_slice(b"BZh9\x17\x72\x45\x38\x50\x90");
        bytes.extend_from_slice(b"BZh9 not a header");
        assert_eq!(find_stream_starts(&bytes), vec![second, third]);
    }
}
