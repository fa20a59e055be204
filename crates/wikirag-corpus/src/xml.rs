//! Streaming `pages-articles` XML → [`Page`]s with quick-xml. Memory stays flat: one page at a
//! time, and a page over the size limit is skipped without being held.

use crate::error::{CorpusError, Result};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use wikirag_core::{Page, SiteInfo};

/// Default limit on one page's wikitext. Wikipedia refuses pages over 2 MiB, so anything much
/// larger is damage or an attack.
pub const DEFAULT_MAX_PAGE_BYTES: usize = 8 << 20;

/// How far into a file `<mediawiki>` and `<siteinfo>` must be read (a `<siteinfo>` is a few
/// kB): past this without the first page, the file is not a dump (`/dev/zero`, a video).
pub const MAX_PREFIX_BYTES: u64 = 8 << 20;

/// Bytes one page (or one revision of it) may take in the XML before the reader gives up on
/// the file: twice the page limit and 1 MiB of markup. Pages over the page limit but under
/// this are skipped as before; a page running past it is damage or an attack (nothing is
/// buffered beyond it, so memory stays bounded).
fn element_budget(max_page_bytes: usize) -> u64 {
    (max_page_bytes as u64)
        .saturating_mul(2)
        .saturating_add(1 << 20)
}

/// The bytes the XML parser may still read before the current element must have ended: the
/// parser buffers a whole text node, so without this an endless one (`/dev/zero`) or a 1 GB
/// `<text>` would be held in memory before any check could see it.
struct Budgeted<R> {
    inner: R,
    left: u64,
}

const BUDGET_SPENT: &str = "wikirag: element budget spent";

impl<R: BufRead> std::io::Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Budgeted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.left == 0 {
            return Err(std::io::Error::other(BUDGET_SPENT));
        }
        let left = self.left;
        let buf = self.inner.fill_buf()?;
        Ok(&buf[..buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))])
    }
    fn consume(&mut self, n: usize) {
        self.left = self.left.saturating_sub(n as u64);
        self.inner.consume(n);
    }
}

/// Reads pages from a MediaWiki XML dump.
pub struct DumpReader<R: BufRead> {
    reader: Reader<Budgeted<R>>,
    path: PathBuf,
    buf: Vec<u8>,
    site: SiteInfo,
    /// The first `<page>` start tag was consumed while reading `<siteinfo>`.
    pending_page: bool,
    finished: bool,
    /// `</mediawiki>` was seen: the file is complete.
    closed: bool,
    last_page_id: Option<u64>,
    max_page_bytes: usize,
    /// Still before the first page (the prefix budget applies).
    in_prefix: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    None,
    Title,
    Ns,
    PageId,
    RevId,
    Timestamp,
    Text,
}

impl<R: BufRead> DumpReader<R> {
    /// Starts reading; parses `<siteinfo>` (absent siteinfo gives an empty one).
    pub fn new(path: &Path, inner: R) -> Result<DumpReader<R>> {
        let mut reader = Reader::from_reader(Budgeted {
            inner,
            left: MAX_PREFIX_BYTES,
        });
        reader.config_mut().trim_text(false);
        let mut me = DumpReader {
            reader,
            path: path.to_path_buf(),
            buf: Vec::with_capacity(1 << 16),
            site: SiteInfo::default(),
            pending_page: false,
            finished: false,
            closed: false,
            last_page_id: None,
            max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
            in_prefix: true,
        };
        me.read_site_info()?;
        me.in_prefix = false;
        Ok(me)
    }

    pub fn with_max_page_bytes(mut self, limit: usize) -> Self {
        self.max_page_bytes = limit;
        self
    }

    pub fn site_info(&self) -> &SiteInfo {
        &self.site
    }

    /// Byte offset in the decompressed XML.
    pub fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    fn xml_error(&self, message: impl std::fmt::Display) -> CorpusError {
        CorpusError::Xml {
            path: self.path.clone(),
            offset: self.reader.buffer_position(),
            after: self
                .last_page_id
                .map(|id| format!(" (after page id {id})"))
                .unwrap_or_default(),
            message: message.to_string(),
        }
    }

    /// Gives the parser `bytes` more to read before the current element must end.
    fn allow(&mut self, bytes: u64) {
        self.reader.get_mut().left = bytes;
    }

    fn read_error(&self, e: quick_xml::Error) -> CorpusError {
        if let quick_xml::Error::Io(io) = &e
            && io.to_string() == BUDGET_SPENT
        {
            return if self.in_prefix {
                self.xml_error(format!(
                    "no MediaWiki page in the first {} MiB: this is not a MediaWiki XML dump",
                    MAX_PREFIX_BYTES >> 20
                ))
            } else {
                self.xml_error(format!(
                    "an element runs past {} MiB without ending (the limit is twice --max-page-bytes plus 1 MiB): the file is damaged or not a dump; the pages before it are kept",
                    element_budget(self.max_page_bytes) >> 20
                ))
            };
        }
        match e {
            quick_xml::Error::Io(io) => CorpusError::Read {
                path: self.path.clone(),
                offset: self.reader.buffer_position(),
                source: std::io::Error::new(io.kind(), io.to_string()),
            },
            other => self.xml_error(other),
        }
    }

    fn read_site_info(&mut self) -> Result<()> {
        let mut field: Option<Vec<u8>> = None;
        let mut text = Vec::new();
        let mut ns_key: Option<i32> = None;
        let mut seen_root = false;
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(quick_xml::Error::Io(io)) if io.to_string() == BUDGET_SPENT => {
                    return Err(self.read_error(quick_xml::Error::Io(io)));
                }
                Err(e) => {
                    return Err(CorpusError::Xml {
                        path: self.path.clone(),
                        offset: 0,
                        after: String::new(),
                        message: e.to_string(),
                    });
                }
            };
            match event {
                Event::Decl(d) => {
                    if let Some(Ok(enc)) = d.encoding() {
                        let enc = String::from_utf8_lossy(&enc).trim().to_string();
                        if !matches!(enc.to_ascii_lowercase().as_str(), "utf-8" | "utf8") {
                            return Err(self.xml_error(format!(
                                "the XML declaration names the encoding {enc}; wikirag reads UTF-8 dumps (as Wikimedia writes them): convert it first, e.g. `iconv -f {enc} -t UTF-8`"
                            )));
                        }
                    }
                }
                Event::Start(e) => match e.local_name().as_ref() {
                    b"mediawiki" => seen_root = true,
                    b"page" => {
                        self.pending_page = true;
                        return Ok(());
                    }
                    name @ (b"sitename" | b"dbname" | b"base" | b"namespace") => {
                        if name == b"namespace" {
                            ns_key = e
                                .try_get_attribute("key")
                                .ok()
                                .flatten()
                                .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse().ok());
                        }
                        field = Some(name.to_vec());
                        text.clear();
                    }
                    _ => {}
                },
                Event::Text(t) if field.is_some() => text.extend_from_slice(&t),
                Event::GeneralRef(r) if field.is_some() => push_ref(&mut text, &r),
                Event::End(e) => {
                    if let Some(name) = field.take() {
                        let value = String::from_utf8_lossy(&text).trim().to_string();
                        match name.as_slice() {
                            b"sitename" => self.site.sitename = Some(value),
                            b"dbname" => self.site.dbname = Some(value),
                            b"base" => self.site.base = Some(value),
                            _ => {
                                if let Some(key) = ns_key.take() {
                                    self.site.namespaces.push((key, value));
                                }
                            }
                        }
                    }
                    if e.local_name().as_ref() == b"mediawiki" {
                        self.closed = true;
                    }
                }
                Event::Empty(e) if e.local_name().as_ref() == b"namespace" => {
                    // <namespace key="0" case="first-letter" /> : the main namespace, no name.
                    if let Some(key) = e
                        .try_get_attribute("key")
                        .ok()
                        .flatten()
                        .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse().ok())
                    {
                        self.site.namespaces.push((key, String::new()));
                    }
                }
                Event::Eof if self.closed => {
                    self.finished = true;
                    return Ok(());
                }
                Event::Eof if seen_root => {
                    return Err(
                        self.xml_error("the file ends before </mediawiki>: it is truncated")
                    );
                }
                Event::Eof => {
                    return Err(
                        self.xml_error("no <mediawiki> element: this is not a MediaWiki XML dump")
                    );
                }
                _ => {}
            }
        }
    }

    /// The next page, a per-page error (skip it and go on), or a fatal error (stop).
    pub fn next_page(&mut self) -> Option<Result<Page>> {
        if self.finished {
            return None;
        }
        let result = self.read_page();
        match result {
            Ok(Some(page)) => {
                self.last_page_id = Some(page.id);
                Some(Ok(page))
            }
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                if e.is_fatal() {
                    self.finished = true;
                }
                Some(Err(e))
            }
        }
    }

    fn read_page(&mut self) -> Result<Option<Page>> {
        let budget = element_budget(self.max_page_bytes);
        // Find the next <page>.
        self.allow(budget);
        if !self.pending_page {
            loop {
                self.buf.clear();
                match self.reader.read_event_into(&mut self.buf) {
                    Ok(Event::Start(e)) if e.local_name().as_ref() == b"page" => break,
                    Ok(Event::End(e)) if e.local_name().as_ref() == b"mediawiki" => {
                        self.closed = true;
                    }
                    Ok(Event::Eof) if self.closed => return Ok(None),
                    Ok(Event::Eof) => {
                        return Err(
                            self.xml_error("the file ends before </mediawiki>: it is truncated")
                        );
                    }
                    Ok(_) => {}
                    Err(e) => return Err(self.read_error(e)),
                }
            }
        }
        self.pending_page = false;
        self.allow(budget);
        let start = self.reader.buffer_position();
        let mut page = Page {
            namespace: 0,
            ..Page::default()
        };
        let mut have_id = false;
        let mut in_revision = false;
        let mut in_contributor = false;
        let mut field = Field::None;
        let mut value: Vec<u8> = Vec::new();
        // The revision being read; a page of an adds-changes (history) file has several, and
        // the newest (highest id) wins.
        let mut text: Vec<u8> = Vec::new();
        let mut text_size: u64 = 0;
        let mut too_large = false;
        let mut rev_id: Option<u64> = None;
        let mut rev_ts: Option<String> = None;
        let mut best: Option<Revision> = None;
        let mut bad_id: Option<String> = None;
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(ev) => ev,
                Err(e) => return Err(self.read_error(e)),
            };
            match event {
                Event::Start(e) => {
                    let name = e.local_name();
                    field = match name.as_ref() {
                        b"title" if !in_revision => Field::Title,
                        b"ns" if !in_revision => Field::Ns,
                        b"id" if !in_revision && !have_id => Field::PageId,
                        b"id" if in_revision && !in_contributor && rev_id.is_none() => Field::RevId,
                        b"timestamp" if in_revision => Field::Timestamp,
                        b"text" if in_revision => Field::Text,
                        b"revision" => {
                            // Each revision of a history file gets the budget anew.
                            self.allow(budget);
                            in_revision = true;
                            text.clear();
                            text_size = 0;
                            too_large = false;
                            rev_id = None;
                            rev_ts = None;
                            Field::None
                        }
                        b"contributor" => {
                            in_contributor = true;
                            Field::None
                        }
                        _ => Field::None,
                    };
                    value.clear();
                }
                Event::Empty(e) if e.local_name().as_ref() == b"redirect" => {
                    if let Ok(Some(attr)) = e.try_get_attribute("title") {
                        page.redirect = attr
                            .decode_and_unescape_value(self.reader.decoder())
                            .ok()
                            .map(|v| v.into_owned());
                    }
                }
                Event::Text(t) => match field {
                    Field::Text => {
                        text_size += t.len() as u64;
                        if text_size as usize > self.max_page_bytes {
                            too_large = true;
                            text = Vec::new();
                        } else {
                            text.extend_from_slice(&t);
                        }
                    }
                    Field::None => {}
                    _ => value.extend_from_slice(&t),
                },
                Event::CData(t) => match field {
                    Field::Text if !too_large => text.extend_from_slice(&t),
                    Field::None | Field::Text => {}
                    _ => value.extend_from_slice(&t),
                },
                Event::GeneralRef(r) => match field {
                    Field::Text => {
                        text_size += 1;
                        if !too_large {
                            push_ref(&mut text, &r);
                        }
                    }
                    Field::None => {}
                    _ => push_ref(&mut value, &r),
                },
                Event::End(e) => {
                    let name = e.local_name();
                    match name.as_ref() {
                        b"page" => break,
                        b"revision" => {
                            in_revision = false;
                            let newer = match &best {
                                None => true,
                                Some(b) => rev_id.unwrap_or(0) >= b.id.unwrap_or(0),
                            };
                            if newer {
                                best = Some(Revision {
                                    id: rev_id,
                                    timestamp: rev_ts.take(),
                                    text: std::mem::take(&mut text),
                                    size: text_size,
                                    too_large,
                                });
                            }
                        }
                        b"contributor" => in_contributor = false,
                        _ => {}
                    }
                    let v = String::from_utf8_lossy(&value);
                    let v = v.trim();
                    match field {
                        Field::Title => page.title = v.to_string(),
                        Field::Ns => page.namespace = v.parse().unwrap_or(0),
                        // A bad id spoils this page only: read on to its end, then skip it.
                        // Above 2^40 an id cannot be part of a page key (MediaWiki's
                        // own ids are 32-bit): a bad id too.
                        Field::PageId => match v
                            .parse::<u64>()
                            .ok()
                            .filter(|&id| id <= wikirag_core::MAX_PAGE_ID)
                        {
                            Some(id) => {
                                page.id = id;
                                have_id = true;
                            }
                            None => bad_id = Some(v.to_string()),
                        },
                        Field::RevId => rev_id = v.parse().ok(),
                        Field::Timestamp => rev_ts = Some(v.to_string()),
                        Field::Text | Field::None => {}
                    }
                    field = Field::None;
                }
                Event::Eof => {
                    return Err(self.xml_error("the file ends inside a <page>"));
                }
                _ => {}
            }
        }
        if let Some(value) = bad_id {
            return Err(CorpusError::BadPageId {
                path: self.path.clone(),
                offset: start,
                title: page.title,
                value,
            });
        }
        if !have_id {
            return Err(CorpusError::MissingField {
                path: self.path.clone(),
                offset: start,
                field: "id",
            });
        }
        let Revision {
            id,
            timestamp,
            text,
            size: text_size,
            too_large,
        } = best.unwrap_or_default();
        page.revision_id = id;
        page.timestamp = timestamp;
        if too_large {
            return Err(CorpusError::PageTooLarge {
                path: self.path.clone(),
                page_id: page.id,
                title: page.title,
                offset: start,
                size: text_size,
                limit: self.max_page_bytes as u64,
            });
        }
        page.text = match String::from_utf8(text) {
            Ok(s) => s,
            Err(e) => {
                return Err(CorpusError::InvalidUtf8 {
                    path: self.path.clone(),
                    page_id: page.id,
                    title: page.title,
                    offset: start + e.utf8_error().valid_up_to() as u64,
                });
            }
        };
        Ok(Some(page))
    }
}

/// One `<revision>` of a page.
#[derive(Default)]
struct Revision {
    id: Option<u64>,
    timestamp: Option<String>,
    text: Vec<u8>,
    size: u64,
    too_large: bool,
}

fn push_ref(out: &mut Vec<u8>, r: &BytesRef<'_>) {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        let mut b = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        return;
    }
    let c = match r.as_ref() {
        b"amp" => "&",
        b"lt" => "<",
        b"gt" => ">",
        b"quot" => "\"",
        b"apos" => "'",
        other => {
            out.push(b'&');
            out.extend_from_slice(other);
            out.push(b';');
            return;
        }
    };
    out.extend_from_slice(c.as_bytes());
}

impl<R: BufRead> Iterator for DumpReader<R> {
    type Item = Result<Page>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_page()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
  <siteinfo>
    <sitename>Wikipédia</sitename>
    <dbname>frwiki</dbname>
    <base>https://fr.wikipedia.org/wiki/Wikip%C3%A9dia:Accueil_principal</base>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="14" case="first-letter">Catégorie</namespace>
    </namespaces>
  </siteinfo>
  <page>
    <title>A &amp; B</title>
    <ns>0</ns>
    <id>7</id>
    <revision>
      <id>99</id>
      <timestamp>2020-01-01T00:00:00Z</timestamp>
      <contributor><username>X</username><id>5</id></contributor>
      <text xml:space="preserve">Hello &lt;ref&gt;x&lt;/ref&gt; &#233;t&#xE9;</text>
    </revision>
  </page>
  <page>
    <title>R</title>
    <ns>0</ns>
    <id>8</id>
    <redirect title="A &amp; B" />
    <revision><id>100</id><text>#REDIRECT [[A &amp; B]]</text></revision>
  </page>
</mediawiki>"#;

    /// A dump declaring another encoding is refused with a message naming it (its pages were
    /// all skipped as bad UTF-8, and the build looked like a success).
    #[test]
    fn a_dump_in_another_encoding_is_refused_by_name() {
        let dump = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<mediawiki><siteinfo><dbname>frwiki</dbname></siteinfo>\n<page><title>Caf\xe9</title><ns>0</ns><id>1</id><revision><id>2</id><text>Un caf\xe9.</text></revision></page></mediawiki>";
        let Err(err) = DumpReader::new(Path::new("latin1.xml"), &dump[..]) else {
            panic!("refused")
        };
        let msg = err.to_string();
        assert!(
            msg.contains("ISO-8859-1") && msg.contains("latin1.xml"),
            "{msg}"
        );
        let utf8 = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><id>2</id><text>a</text></revision></page></mediawiki>";
        let mut r = DumpReader::new(Path::new("u.xml"), utf8.as_bytes()).unwrap();
        assert_eq!(r.next().unwrap().unwrap().title, "A");
    }

    /// Endless input that is not a dump (`/dev/zero`, here a gigabyte of NULs) is refused
    /// after a bounded prefix; it used to be buffered whole (~170 MB/s, for ever).
    #[test]
    fn endless_input_is_refused_after_a_bounded_prefix() {
        use std::io::Read;
        let zeros = std::io::BufReader::new(std::io::repeat(0).take(1 << 30));
        let err = DumpReader::new(Path::new("/dev/zero"), zeros)
            .err()
            .expect("refused");
        let msg = err.to_string();
        assert!(err.is_fatal() && msg.contains("first 8 MiB"), "{msg}");
    }

    /// A gigabyte `<text>`: the page limit bounds what is buffered (it was read whole into
    /// memory, 2.1 GB RSS, and then skipped). Past twice the limit the file is given up,
    /// naming the offset; the pages before it are kept, and a page just over the limit is
    /// still skipped alone.
    #[test]
    fn a_gigabyte_text_is_not_buffered() {
        use std::io::Read;
        let head = "<mediawiki><siteinfo><dbname>enwiki</dbname></siteinfo>\n<page><title>A</title><ns>0</ns><id>1</id><revision><id>5</id><text>a</text></revision></page>\n<page><title>B</title><ns>0</ns><id>2</id><revision><id>6</id><text>bb</text></revision></page>\n<page><title>Big</title><ns>0</ns><id>3</id><revision><id>7</id><text>";
        let body = std::io::repeat(b'x').take(1 << 30);
        let input = std::io::BufReader::new(head.as_bytes().chain(body));
        let mut r = DumpReader::new(Path::new("big.xml"), input)
            .unwrap()
            .with_max_page_bytes(1 << 20);
        assert_eq!(r.next().unwrap().unwrap().title, "A");
        assert_eq!(r.next().unwrap().unwrap().title, "B");
        let err = r.next().unwrap().unwrap_err();
        assert!(err.is_fatal(), "{err}");
        assert!(err.to_string().contains("runs past 3 MiB"), "{err}");
        assert!(r.position() < 4 << 20, "read {} bytes", r.position());
        assert!(r.next().is_none());
    }

    /// A page whose `<id>` is not a number is skipped like a page with bad UTF-8; the pages
    /// after it are read (it used to end the file).
    #[test]
    fn a_malformed_page_id_skips_that_page_only() {
        let dump = r#"<mediawiki><siteinfo><dbname>enwiki</dbname></siteinfo>
  <page><title>A</title><ns>0</ns><id>1</id><revision><id>5</id><text>a</text></revision></page>
  <page><title>B</title><ns>0</ns><id>15x</id><revision><id>6</id><text>b</text></revision></page>
  <page><title>C</title><ns>0</ns><id>3</id><revision><id>7</id><text>c</text></revision></page>
  <page><title>D</title><ns>0</ns><id>1099511627776</id><revision><id>8</id><text>d</text></revision></page>
  <page><title>E</title><ns>0</ns><id>1099511627775</id><revision><id>9</id><text>e</text></revision></page>
</mediawiki>"#;
        let mut r = DumpReader::new(Path::new("t.xml"), dump.as_bytes()).unwrap();
        assert_eq!(r.next().unwrap().unwrap().title, "A");
        let err = r.next().unwrap().unwrap_err();
        assert!(!err.is_fatal(), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("\"15x\"") && msg.contains("\"B\""), "{msg}");
        assert_eq!(r.next().unwrap().unwrap().title, "C");
        // Beyond 2^40 an id cannot be part of a page key: that page only is skipped.
        let err = r.next().unwrap().unwrap_err();
        assert!(
            !err.is_fatal() && err.to_string().contains("\"D\""),
            "{err}"
        );
        assert_eq!(r.next().unwrap().unwrap().id, wikirag_core::MAX_PAGE_ID);
        assert!(r.next().is_none());
    }

    /// Adds-changes files (`*-pages-meta-hist-incr.xml`) give several revisions of a page:
    /// the newest (highest id) is the page, not their concatenation nor the first.
    #[test]
    fn the_newest_of_several_revisions_wins() {
        let dump = r#"<mediawiki><siteinfo><dbname>frwiki</dbname></siteinfo>
  <page><title>P</title><ns>0</ns><id>3</id>
    <revision><id>5</id><timestamp>2026-02-01T00:00:00Z</timestamp><text>old text</text></revision>
    <revision><id>9</id><timestamp>2026-02-02T10:00:00Z</timestamp>
      <contributor><username>X</username><id>77</id></contributor><text>newest text</text></revision>
    <revision><id>7</id><timestamp>2026-02-02T09:00:00Z</timestamp><text>middle text</text></revision>
  </page>
</mediawiki>"#;
        let mut r = DumpReader::new(Path::new("t.xml"), dump.as_bytes()).unwrap();
        let p = r.next().unwrap().unwrap();
        assert_eq!(p.revision_id, Some(9));
        assert_eq!(p.text, "newest text");
        assert_eq!(p.timestamp.as_deref(), Some("2026-02-02T10:00:00Z"));
        assert!(r.next().is_none());
    }

    #[test]
    fn reads_site_info_and_pages() {
        let mut r = DumpReader::new(Path::new("t.xml"), DUMP.as_bytes()).unwrap();
        assert_eq!(r.site_info().dbname.as_deref(), Some("frwiki"));
        assert_eq!(r.site_info().namespace_name(14), Some("Catégorie"));
        assert_eq!(r.site_info().namespace_name(0), Some(""));
        let p = r.next().unwrap().unwrap();
        assert_eq!(
            (p.id, p.revision_id, p.title.as_str()),
            (7, Some(99), "A & B")
        );
        assert_eq!(p.text, "Hello <ref>x</ref> été");
        assert_eq!(p.timestamp.as_deref(), Some("2020-01-01T00:00:00Z"));
        let p = r.next().unwrap().unwrap();
        assert_eq!(p.redirect.as_deref(), Some("A & B"));
        assert!(r.next().is_none());
    }

    #[test]
    fn broken_xml_keeps_earlier_pages_and_names_offset() {
        let cut = DUMP.find("<page>\n    <title>R").unwrap() + 40;
        let broken = format!("{}<oops></wrong>", &DUMP[..cut]);
        let mut r = DumpReader::new(Path::new("t.xml"), broken.as_bytes()).unwrap();
        assert_eq!(r.next().unwrap().unwrap().id, 7);
        let err = r.next().unwrap().unwrap_err();
        assert!(err.is_fatal());
        let msg = err.to_string();
        assert!(
            msg.contains("t.xml") && msg.contains("after page id 7"),
            "{msg}"
        );
        assert!(r.next().is_none());
    }

    #[test]
    fn invalid_utf8_and_oversized_pages_are_skipped() {
        let mut bytes = DUMP.replace("Hello", "He\u{1}llo").into_bytes();
        let at = bytes.iter().position(|&b| b == 1).unwrap();
        bytes[at] = 0xFF;
        let mut r = DumpReader::new(Path::new("t.xml"), &bytes[..]).unwrap();
        let err = r.next().unwrap().unwrap_err();
        assert!(
            matches!(err, CorpusError::InvalidUtf8 { page_id: 7, .. }),
            "{err}"
        );
        assert!(!err.is_fatal());
        assert_eq!(r.next().unwrap().unwrap().id, 8);

        let mut r = DumpReader::new(Path::new("t.xml"), DUMP.as_bytes())
            .unwrap()
            .with_max_page_bytes(20);
        let err = r.next().unwrap().unwrap_err();
        assert!(
            matches!(err, CorpusError::PageTooLarge { page_id: 7, .. }),
            "{err}"
        );
        assert_eq!(r.next().unwrap().unwrap().id, 8);
    }
}
