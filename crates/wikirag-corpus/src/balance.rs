//! Openers that are never closed, dropped before parsing.
//!
//! parse-wiki-text backtracks on an opener it cannot close: it tries the element, fails at the
//! end of the page, and parses the rest again as text. Unclosed openers inside one another make
//! that exponential: 40 `{` in a 60-byte page took the whole parse timeout (5 s) and 100 MB,
//! 78 of them in a 438-byte page 1.3 GB; 30 unclosed `<ref>`, `{{x|` or `[[File:a|` did the
//! same, and so did a run of 38 `{` even when closed. This pass finds the openers no closer
//! matches (templates and parameters `{{`/`{{{`, links `[[`, tables `{|`, extension tags such
//! as `<ref>`) and the braces of a run past six, and drops them before parsing: the parser
//! kept such openers as text and the cleaner's last pass stripped that markup, so the
//! sentences read as before, without the backtracking. The content after an opener is kept,
//! as the parser did. A page with none of these is not copied. Braces are read as the parser
//! reads them (a run is parameters `{{{` first, a parameter met by `}}` is rewound as a
//! template), and what is dropped can bring markup together, so the pass runs again until
//! the parser has nothing left to rewind (checked on every short text of braces, brackets,
//! bars, tables, tags, external links and headings in the tests). Tables, external links and
//! headings are on the same stack, read where the parser reads them (a heading from a line
//! start to its line end, rewound when its line does not end in `=`).

use crate::config::{EXTENSION_TAGS, PROTOCOLS};
use std::borrow::Cow;

/// What a link opener `[[` the parser would give up becomes: a character the parser takes as
/// text, then `[`, turned back into `[[` by the cleaner's last pass (`tidy`), which then reads
/// `[[File:a.jpg|thumb|Caption.]]` as the parser's rewound text would have read: "Caption.".
/// (Dropped, the `File:a.jpg|thumb|` before the caption would stay in the text.) The `[` left
/// stops the target of a `[[` just before it, as the original text did: with the character
/// alone, `[[[[|` became `[[` + character + `|`, a new link to give up in the next pass, and so
/// on along the run (found by fuzzing).
pub(crate) const LINK_OPENER_AS_TEXT: char = '\u{FDD0}';

/// What separates a template `{{` from the brace after it, where the parser would have read
/// the three as a parameter it must rewind: text to the parser, removed by the cleaner's last
/// pass (`tidy`).
pub(crate) const BRACE_SEPARATOR: char = '\u{FDD1}';

/// The longest run of `{` given to the parser as markup.
const MAX_BRACE_RUN: usize = 6;

/// How many times `drop_unclosed` reads a page at most.
const MAX_PASSES: usize = 4;

/// What an opener opens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A parameter `{{{` (`open` 3) or a template `{{` (`open` 2).
    Braces,
    /// A link with a `|`; `true` for a file (its caption may hold links).
    Link(bool),
    /// An extension tag (index in `EXTENSION_TAGS`).
    Tag(usize),
    /// A table `{|` (`open` 1: its `{` is dropped when it is never closed).
    Table,
    /// An external link `[http://…` (`open` 1).
    ExternalLink,
    /// A heading (`open` 0: nothing to drop; it ends at its line end).
    Heading,
}

/// An opener (braces, link, tag, table, external link or heading) still waiting for its closer.
struct Opener {
    kind: Kind,
    at: usize,
    /// 3 (a parameter `{{{`), 2 (a template `{{` or a link), or the tag's length.
    open: usize,
    /// A table's: what its last line was, as the parser's table state.
    line: TableLine,
    /// A table's: where a table may start on the line after its last line end.
    nested: NestedTable,
}

/// What a table's last line was (the parser's table state, as far as it matters here).
#[derive(Clone, Copy, PartialEq, Eq)]
enum TableLine {
    /// The `{|` line.
    Attributes,
    /// Text after the attributes line or a row line, before the next cell.
    Before,
    /// A caption's first line (`|+`), or its further lines.
    Caption { first: bool },
    /// A row line `|-`.
    Row,
    /// A cell or a heading cell, any of its lines.
    Cell,
}

/// Where the parser starts a table `{|` on a line inside a table: that depends on the table's
/// last line (found by fuzzing: after the attributes line or a row line, `\t{|` is text; in
/// a table's stray text or caption it starts a table, after tabs too).
#[derive(Clone, Copy, PartialEq, Eq)]
enum NestedTable {
    /// Only at the very line start (after the `{|` line, a `|-` row line or a caption's first
    /// line).
    AtLineStart,
    /// After any blanks (in the text before the first row, or a caption's further lines).
    AfterBlanks,
    /// At the line start or after blanks led by a space, as outside tables (in cells).
    AsOutside,
}

impl Opener {
    fn new(kind: Kind, at: usize, open: usize) -> Opener {
        Opener {
            kind,
            at,
            open,
            line: TableLine::Attributes,
            nested: NestedTable::AtLineStart,
        }
    }

    /// What dropping this opener removes: (byte offset, length) pairs, a length 0 inserting
    /// `BRACE_SEPARATOR`. An external link's `[` gives way to the separator, so the `[` before
    /// it (`[[//x`) does not make a new external link to drop in the next pass, one bracket
    /// per pass (found by fuzzing: runs `[[[[[//` left past the last pass, each rewound).
    fn dropped(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let parts = if self.kind == Kind::ExternalLink {
            2
        } else {
            1
        };
        [(self.at, self.open), (self.at + 1, 0)]
            .into_iter()
            .take(parts)
    }
}

/// Drops every opener that no closer matches; see the module comment.
///
/// Braces, links and extension tags share one stack, as in the parser: a closer closes the
/// innermost opener only. `]]` over an open template is text (the link stays open), `}}` over
/// an open link or tag gives that link or tag up (the parser rewinds it), and an end tag gives
/// up everything opened inside its tag. Found by fuzzing: a link closed only after a template
/// opened inside it, counted as closed, was rewound by the parser, which then parsed the
/// templates inside it again for every such link.
pub(crate) fn drop_unclosed<'a>(text: &'a str, file_namespaces: &[String]) -> Cow<'a, str> {
    let mut out = match drop_once(text, file_namespaces) {
        Cow::Borrowed(_) => return Cow::Borrowed(text),
        Cow::Owned(out) => out,
    };
    // What was dropped can bring markup together (`[{{[|` leaves `[[|`, a link opener): the
    // pass runs again until nothing changes, a few times at most.
    for _ in 1..MAX_PASSES {
        match drop_once(&out, file_namespaces) {
            Cow::Borrowed(_) => break,
            Cow::Owned(next) => out = next,
        }
    }
    Cow::Owned(out)
}

/// One pass of `drop_unclosed`.
fn drop_once<'a>(text: &'a str, file_namespaces: &[String]) -> Cow<'a, str> {
    let bytes = text.as_bytes();
    let mut stack: Vec<Opener> = Vec::new();
    // (byte offset, length) of every opener no closer matches: dropped before parsing (links:
    // replaced by `LINK_OPENER_AS_TEXT`).
    let mut unmatched: Vec<(usize, usize)> = Vec::new();
    // `unmatched`'s length when the open heading opened (one at most is open).
    let mut heading_mark = 0;
    let mut i = 0;
    // The end of the text ends a line too (`i == bytes.len()` reads as a line end).
    while i <= bytes.len() {
        match bytes.get(i).copied().unwrap_or(b'\n') {
            // A table starts only on a line of its own outside any other markup, and ends
            // only as the innermost markup open (found by fuzzing: `|}` inside a template
            // opened in a table is text to the parser, which then rewound the table).
            b'{' if bytes.get(i + 1) == Some(&b'|')
                && match stack.last() {
                    None => table_may_start(bytes, i),
                    Some(o) if o.kind == Kind::Table => match o.nested {
                        NestedTable::AtLineStart => at_line_start(bytes, i),
                        NestedTable::AfterBlanks => table_may_end(bytes, i),
                        NestedTable::AsOutside => table_may_start(bytes, i),
                    },
                    Some(_) => false,
                } =>
            {
                stack.push(Opener::new(Kind::Table, i, 1));
                i += 2;
            }
            b'|' if bytes.get(i + 1) == Some(&b'}')
                && stack.last().is_some_and(|o| o.kind == Kind::Table)
                && table_may_end(bytes, i) =>
            {
                stack.pop();
                i += 2;
            }
            b'{' => {
                let run = run_len(bytes, i, b'{');
                // A longer run than wikitext ever nests in one place (`{{{{{1}}}}}`) is text
                // but for its last braces: 38 in a row, closed, still took the parser
                // exponential time (found by fuzzing).
                let excess = run.saturating_sub(MAX_BRACE_RUN);
                if excess > 0 {
                    unmatched.push((i, excess));
                }
                // The parser reads a run as parameters `{{{` while three are left, then a
                // template `{{` if two are, a last single brace being text.
                let mut at = i + excess;
                let mut left = run - excess;
                while left >= 2 {
                    let open = if left >= 3 { 3 } else { 2 };
                    stack.push(Opener::new(Kind::Braces, at, open));
                    at += open;
                    left -= open;
                }
                i += run;
            }
            b'}' => {
                let run = run_len(bytes, i, b'}');
                let mut left = run;
                // Closers match the innermost opener first; a brace left alone is text. A link
                // or tag still open inside the template is given up.
                let braces_open = |stack: &[Opener]| stack.iter().any(|o| o.kind == Kind::Braces);
                while left >= 2 && braces_open(&stack) {
                    let Some(top) = stack.last() else { break };
                    if top.kind != Kind::Braces {
                        unmatched.extend(top.dropped());
                        stack.pop();
                        continue;
                    }
                    if top.open == 3 && left == 2 {
                        // A parameter met by `}}` alone: the parser rewinds it and reads its
                        // braces again from the second, as a template. Its first brace is
                        // dropped, and a separator keeps the next brace of the run from making
                        // it a parameter again (found by fuzzing: nested, such parameters were
                        // each read again for every one around them).
                        unmatched.push((top.at, 1));
                        if bytes.get(top.at + 3) == Some(&b'{') {
                            unmatched.push((top.at + 3, 0));
                        }
                    }
                    left -= top.open.min(left);
                    stack.pop();
                }
                i += run;
            }
            b'[' if bytes.get(i + 1) == Some(&b'[') => {
                // As the parser reads a link: `[[` over an open link (not a file's) gives that
                // link up; the target runs to the first `|` (an open link) or `]]` (a whole
                // link); a line end, `[`, `{`, `}` or a lone `]` first make `[[` text.
                while let Some(top) = stack.last().filter(|o| o.kind == Kind::Link(false)) {
                    unmatched.extend(top.dropped());
                    stack.pop();
                }
                let target = i
                    + 2
                    + bytes[i + 2..]
                        .iter()
                        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n'))
                        .count();
                let end = bytes[target..]
                    .iter()
                    .position(|c| matches!(c, b'\n' | b'[' | b'{' | b'}' | b']' | b'|'))
                    .map(|p| target + p);
                match end.map(|e| (e, bytes[e])) {
                    Some((e, b'|')) => {
                        let file = is_file(text, target, file_namespaces);
                        stack.push(Opener::new(Kind::Link(file), i, 2));
                        i = e + 1;
                    }
                    Some((e, b']')) if bytes.get(e + 1) == Some(&b']') => i = e + 2,
                    _ => i += 1,
                }
            }
            // An external link `[http://…` is open until a `]` met while it is the innermost
            // markup; at a line end where it is the innermost, the parser rewinds it (found by
            // fuzzing: 20 such links on one line took 1.3 s, each one more doubling it).
            b'[' if has_protocol(bytes, i + 1) => {
                stack.push(Opener::new(Kind::ExternalLink, i, 1));
                i += 1;
            }
            b'\n' => {
                // A line end ends the innermost external link (rewound) or heading. A heading
                // whose line does not end in `=` is rewound too: its line is read again as text.
                let mut rewound = false;
                while let Some(top) = stack
                    .last()
                    .filter(|o| matches!(o.kind, Kind::ExternalLink | Kind::Heading))
                {
                    if top.kind == Kind::ExternalLink {
                        unmatched.extend(top.dropped());
                        stack.pop();
                        continue;
                    }
                    let at = top.at;
                    stack.pop();
                    let end = i - bytes[..i]
                        .iter()
                        .rev()
                        .take_while(|c| matches!(c, b' ' | b'\t'))
                        .count();
                    if end < at + 3 || bytes[end - 1] != b'=' {
                        unmatched.truncate(heading_mark);
                        i = at + 1;
                        rewound = true;
                    }
                    break;
                }
                if rewound {
                    continue;
                }
                i += 1;
                // At a line end inside a table, the parser skips line ends and blanks, reads
                // the next token and moves its table on (`!`, `|`, `|+`, `|-`, or text).
                if let Some(table) = stack
                    .last_mut()
                    .filter(|o| o.kind == Kind::Table && i <= bytes.len())
                {
                    let token = i + bytes[i..]
                        .iter()
                        .take_while(|c| matches!(c, b'\n' | b' ' | b'\t'))
                        .count();
                    table.nested = match table.line {
                        TableLine::Before | TableLine::Caption { first: false } => {
                            NestedTable::AfterBlanks
                        }
                        TableLine::Cell => NestedTable::AsOutside,
                        _ => NestedTable::AtLineStart,
                    };
                    table.line = match (bytes.get(token), bytes.get(token + 1)) {
                        (Some(b'|'), Some(b'+')) => TableLine::Caption { first: true },
                        (Some(b'|'), Some(b'-')) => TableLine::Row,
                        (Some(b'|'), Some(b'}')) => table.line,
                        (Some(b'|' | b'!'), _) => TableLine::Cell,
                        _ => match table.line {
                            TableLine::Attributes | TableLine::Row => TableLine::Before,
                            TableLine::Caption { .. } => TableLine::Caption { first: false },
                            line => line,
                        },
                    };
                    // The blank lines skipped are read as one line end.
                    i += bytes[i..token]
                        .iter()
                        .rposition(|&c| c == b'\n')
                        .map_or(0, |n| n + 1);
                }
            }
            // A heading opens at a line start outside other markup (or in a table); its text
            // starts after its `=` and any blanks and line ends, so `== \n|}` holds no table
            // end (found by fuzzing).
            b'=' if at_line_start(bytes, i)
                && stack.last().is_none_or(|o| o.kind == Kind::Table) =>
            {
                heading_mark = unmatched.len();
                stack.push(Opener::new(Kind::Heading, i, 0));
                i += run_len(bytes, i, b'=').min(6);
                i += bytes[i..]
                    .iter()
                    .take_while(|c| matches!(c, b' ' | b'\t' | b'\n'))
                    .count();
            }
            // `]` closes an external link; `]]`, a link; over anything else it is text.
            b']' => match stack.last().map(|o| o.kind) {
                Some(Kind::ExternalLink) => {
                    stack.pop();
                    i += 1;
                }
                Some(Kind::Link(_)) if bytes.get(i + 1) == Some(&b']') => {
                    stack.pop();
                    i += 2;
                }
                _ => i += 1,
            },
            // A comment ends where the parser ends it: at `-->` searched from four bytes past
            // `<!--` (so `<!-->` is no end), at an end tag of an open extension tag, or at the
            // end of the text. Openers and closers inside are no markup to the parser: counted,
            // a `}}` in an unclosed comment closed a `{{` before it that the parser could not
            // close, and it backtracked on every such opener (found by fuzzing).
            b'<' if bytes[i + 1..].starts_with(b"!--") => {
                i = comment_end(bytes, i, &stack);
            }
            b'<' => {
                let closing = bytes.get(i + 1) == Some(&b'/');
                let name_at = i + 1 + usize::from(closing);
                match tag_at(bytes, name_at) {
                    Some((tag, name_len)) => {
                        let end = find(bytes, name_at + name_len, b">");
                        let self_closing = end.is_some_and(|e| bytes[e - 1] == b'/');
                        if closing {
                            // The parser takes `</ref >` as a closer but not `</ref b=c>`:
                            // only blanks between the name and `>` (found by fuzzing: 40
                            // "<ref>a</ref b=c " used the whole parse time limit).
                            let blank_to_end = end.is_some_and(|e| {
                                bytes[name_at + name_len..e]
                                    .iter()
                                    .all(|c| matches!(c, b' ' | b'\t' | b'\n'))
                            });
                            let open = stack.iter().rposition(|o| o.kind == Kind::Tag(tag));
                            if let (true, Some(at)) = (blank_to_end, open) {
                                // What was opened inside the tag and is still open is given up.
                                unmatched.extend(stack.drain(at + 1..).flat_map(|o| o.dropped()));
                                stack.pop();
                            }
                        } else if end.is_none() {
                            unmatched.push((i, 1)); // `<ref` with no `>` at all
                        } else if let Some(end) = end.filter(|_| !self_closing) {
                            stack.push(Opener::new(Kind::Tag(tag), i, end + 1 - i));
                        }
                        // A start tag runs to its `>` for the parser: closers among its
                        // attributes close nothing (found by fuzzing: `<references /|t }}}} … />`).
                        i = match end {
                            Some(end) if !closing => end + 1,
                            _ => name_at + name_len,
                        };
                    }
                    // An HTML start or end tag runs to its `>` for the parser, whatever is
                    // inside (`<s <!-->` and `</s x<!-- y>` hold no comment).
                    None if is_html_tag(bytes, name_at) => {
                        i = find(bytes, name_at, b">").map_or(i + 1, |end| end + 1);
                    }
                    None => i += 1,
                }
            }
            // Nothing happens at other bytes: on to the next byte an arm above reads (most of
            // a page is plain text; a table lookup per byte instead of the match).
            _ => i = next_markup(bytes, i + 1),
        }
    }
    unmatched.extend(
        stack
            .iter()
            .filter(|o| o.kind != Kind::Heading)
            .flat_map(Opener::dropped),
    );
    if unmatched.is_empty() {
        return Cow::Borrowed(text);
    }
    // The parser left such openers as text and the cleaner's last pass stripped them: dropped
    // here, the sentences read the same.
    unmatched.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (at, n) in unmatched {
        if at < pos {
            continue;
        }
        out.push_str(&text[pos..at]);
        if text[at..].starts_with("[[") && n == 2 {
            out.push(LINK_OPENER_AS_TEXT);
            out.push('[');
        } else if n == 0 {
            out.push(BRACE_SEPARATOR);
        }
        pos = at + n;
    }
    out.push_str(&text[pos..]);
    Cow::Owned(out)
}

/// The link target at `at` starts with a file namespace (`File:`, `Fichier:`…), in any case.
fn is_file(text: &str, at: usize, file_namespaces: &[String]) -> bool {
    let rest = &text[at..];
    file_namespaces.iter().any(|ns| {
        rest.char_indices()
            .nth(ns.chars().count())
            .is_some_and(|(end, c)| c == ':' && rest[..end].to_lowercase() == *ns)
    })
}

/// Only spaces, tabs or `:` indentation stand between the line's start and `at`.
/// `{|` at `at` can start a table: only spaces and tabs before it on its line, the first of
/// them a space (the parser reads a line starting with a tab as text).
/// The bytes an arm of [`drop_once`]'s match reads (the rest only move on).
const MARKUP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    let bytes = b"{}|[]<=\n";
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
};

/// The first offset from `from` holding a byte of [`MARKUP`], or the end of the text (which
/// reads as a line end).
fn next_markup(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| MARKUP[b as usize]))
        .map_or(bytes.len(), |p| from + p)
}

fn table_may_start(bytes: &[u8], at: usize) -> bool {
    let line = &bytes[bytes[..at]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |n| n + 1)..at];
    line.is_empty() || (line[0] == b' ' && line.iter().all(|&c| matches!(c, b' ' | b'\t')))
}

/// A protocol of an external link starts at `at` (ASCII case-insensitive, as the parser reads).
fn has_protocol(bytes: &[u8], at: usize) -> bool {
    let rest = bytes.get(at..).unwrap_or_default();
    PROTOCOLS
        .iter()
        .any(|p| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
}

/// `at` is the first byte of the text or follows a line end.
fn at_line_start(bytes: &[u8], at: usize) -> bool {
    bytes[..at].last().is_none_or(|&c| c == b'\n')
}

/// `|}` at `at` can end a table: only spaces and tabs before it on its line, after a line end.
fn table_may_end(bytes: &[u8], at: usize) -> bool {
    bytes[..at]
        .iter()
        .rev()
        .find(|&&c| !matches!(c, b' ' | b'\t'))
        .is_some_and(|&c| c == b'\n')
}

fn run_len(bytes: &[u8], from: usize, b: u8) -> usize {
    bytes[from..].iter().take_while(|&&c| c == b).count()
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes.get(from..)?, needle).map(|at| from + at)
}

/// Where scanning resumes after the comment that starts at `at` (`<!--`), as the parser ends
/// it: past the first `-->` from `at + 4`, at an end tag (`</name>`, blanks before `>`) of an
/// extension tag still open, whichever comes first, or at the end of the text.
fn comment_end(bytes: &[u8], at: usize, stack: &[Opener]) -> usize {
    let mut i = at + 4;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"-->") {
            return i + 3;
        }
        if bytes[i] == b'<' && bytes.get(i + 1) == Some(&b'/') {
            let closes_open_tag = tag_at(bytes, i + 2).is_some_and(|(tag, name_len)| {
                let open = stack.iter().any(|o| o.kind == Kind::Tag(tag));
                let after = &bytes[i + 2 + name_len..];
                let blanks = after
                    .iter()
                    .take_while(|c| matches!(c, b' ' | b'\t' | b'\n'))
                    .count();
                open && after.get(blanks) == Some(&b'>')
            });
            if closes_open_tag {
                return i;
            }
        }
        i += 1;
    }
    bytes.len()
}

/// The HTML tags the parser knows (parse-wiki-text-2's default configuration): a start tag of
/// one is markup up to its `>`.
const HTML_TAGS: &[&str] = &[
    "abbr",
    "b",
    "bdi",
    "bdo",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "data",
    "dd",
    "del",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "rb",
    "rp",
    "rt",
    "ruby",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "td",
    "th",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
];

/// An HTML tag's name starts at `at`, ended by a blank, `/`, `>` or the end of the text, as
/// the parser reads a start tag's name.
fn is_html_tag(bytes: &[u8], at: usize) -> bool {
    let rest = &bytes[at..];
    let n = rest
        .iter()
        .position(|c| matches!(c, b' ' | b'\t' | b'\n' | b'/' | b'>'))
        .unwrap_or(rest.len());
    HTML_TAGS
        .iter()
        .any(|tag| rest[..n].eq_ignore_ascii_case(tag.as_bytes()))
}

/// The extension tag whose name starts at `at` (ASCII case-insensitive, followed by a space,
/// `/` or `>`), with the name's length.
fn tag_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let rest = bytes.get(at..)?;
    EXTENSION_TAGS.iter().enumerate().find_map(|(i, name)| {
        let n = name.len();
        let matches = rest.len() > n
            && rest[..n].eq_ignore_ascii_case(name.as_bytes())
            && matches!(rest[n], b' ' | b'\t' | b'\n' | b'/' | b'>');
        matches.then_some((i, n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        drop_unclosed(text, &files()).into_owned()
    }

    fn files() -> Vec<String> {
        vec!["file".into(), "fichier".into()]
    }

    #[test]
    fn closed_openers_are_left_alone_and_not_copied() {
        for text in [
            "a {{b|{{c}}|d}} e [[f|g]] <ref name=x>h</ref> <ref name=y/> {{{1}}} <!-- {{x}} -->",
            "no markup at all",
            "a } b ]] c </ref> d", // stray closers
        ] {
            assert!(
                matches!(drop_unclosed(text, &files()), Cow::Borrowed(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn unclosed_openers_become_text() {
        assert_eq!(shown("a {{b c"), "a b c");
        // Four braces are a parameter and a text brace to the parser.
        assert_eq!(shown("a {{{{b c"), "a {b c");
        assert_eq!(shown("{{a}} {{b [[c]]"), "{{a}} b [[c]]");
        assert_eq!(shown("x [[y|w z"), "x \u{fdd0}[y|w z");
        // `[[` with no `|` or `]]` after its target is text to the parser: left alone.
        assert!(matches!(
            drop_unclosed("x [[y z", &files()),
            Cow::Borrowed(_)
        ));
        assert_eq!(shown("p<ref>q <ref>r</ref>"), "pq <ref>r</ref>");
        // Not a closer: attributes in an end tag.
        assert_eq!(shown("p<ref>q</ref x>"), "pq</ref x>");
        assert!(matches!(
            drop_unclosed("p<ref>q</ref \n>", &files()),
            Cow::Borrowed(_)
        ));
        assert_eq!(shown("p<REF name=a>q"), "pq");
        assert_eq!(shown("p <ref x"), "p ref x");
        assert_eq!(shown("é {{ ü"), "é  ü");
        // Found by fuzzing: `<!-->` is no comment to the parser, so what follows is markup.
        assert_eq!(shown("<s <!-->\n={{{{{{{{{{R"), "<s <!-->\n=R");
        assert_eq!(shown("{|\n|a\n|}\n{|\n|b"), "{|\n|a\n|}\n|\n|b");
        // After `:` (a list), `{|` is text to the parser.
        assert!(matches!(
            drop_unclosed(": {|\n|a", &files()),
            Cow::Borrowed(_)
        ));
        // Past six in a row, the first braces are text even when closed.
        assert_eq!(shown("{{{{{{{{x}}}}}}}}"), "{{{{{{x}}}}}}}}");
    }

    #[test]
    fn closers_close_only_the_innermost_opener() {
        // `]]` over an open template is text: the link stays open and is dropped.
        assert_eq!(shown("[[a|{{b]] c}}"), "\u{fdd0}[a|{{b]] c}}");
        // `}}` over an open link gives the link up.
        assert_eq!(shown("{{a|[[b|x}} c]]"), "{{a|\u{fdd0}[b|x}} c]]");
        // `[[` inside an open link gives it up, but not inside a file's caption.
        assert_eq!(shown("[[a|b [[c]] d]]"), "\u{fdd0}[a|b [[c]] d]]");
        assert!(matches!(
            drop_unclosed(
                "[[Fichier:a.jpg|b [[c]] d]] [[File:x|[[y|z]]]]\n[[Fichier:S.jpg|vignette|[[Innsbruck]].]]",
                &files()
            ),
            Cow::Borrowed(_)
        ));
        // An end tag gives up what was opened inside its tag.
        assert_eq!(shown("<ref>a {{b</ref> c}}"), "<ref>a b</ref> c}}");
        // Properly nested, nothing changes.
        assert!(matches!(
            drop_unclosed("[[a|{{b}}]] {{c|[[d]]}} <ref>{{e}}</ref>", &files()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn runs_of_braces_are_read_as_the_parser_reads_them() {
        // A parameter met by `}}` alone is read again by the parser as a template from its
        // second brace: that brace is dropped (found by fuzzing; nested, the parser read each
        // such parameter again for every one around it).
        assert_eq!(shown("{{{a}}"), "{{a}}");
        assert_eq!(shown("{{{ {{{ {{{ x }} }} }}"), "{{ {{ {{ x }} }} }}");
        // The next brace of the run would make it a parameter again: a separator keeps it out.
        assert_eq!(shown("{{{{{{a}}}b}}"), "{{\u{fdd1}{{{a}}}b}}");
        // Five braces are a parameter then a template; closed by five, nothing changes.
        assert!(matches!(
            drop_unclosed("{{{{{a}}}}} {{{{{a}}}}}", &files()),
            Cow::Borrowed(_)
        ));
    }

    /// The parser rewound something in `text`: an unclosed or wrongly closed element, or an
    /// external link or link it gave up (a `[[` it reads as text warns too, at that `[[`).
    fn rewinds(text: &str, output: &parse_wiki_text_2::Output) -> bool {
        use parse_wiki_text_2::WarningMessage::*;
        output.warnings.iter().any(|w| match w.message {
            UnexpectedEndTagRewinding | MissingEndTagRewinding => true,
            InvalidLinkSyntax => !text[w.start..].starts_with("[["),
            _ => false,
        })
    }

    /// Every text of 1 to `longest` pieces, each piece taken from `pieces`.
    fn every_text<'a>(pieces: &'a [&'a str], longest: u32) -> impl Iterator<Item = String> + 'a {
        (1..=longest).flat_map(move |len| {
            (0..pieces.len().pow(len)).map(move |n| {
                (0..len)
                    .scan(n, |n, _| {
                        let piece = pieces[*n % pieces.len()];
                        *n /= pieces.len();
                        Some(piece)
                    })
                    .collect()
            })
        })
    }

    /// Every short text of braces, brackets, bars, line ends, tables, tags, comments, external
    /// links and headings: the parser never rewinds a template, parameter, link, table or
    /// external link in what the pass leaves (each rewind reads the text after the opener
    /// again).
    #[test]
    fn the_parser_never_rewinds_after_the_pass() {
        let config = crate::config::parser_configuration(
            &wikirag_core::SiteInfo::default(),
            &wikirag_core::Language::English,
        );
        let mut checked = 0;
        let mut check = |text: String| {
            let shown = shown(&text);
            let output = config.parse(&shown).expect("no time limit");
            assert!(!rewinds(&shown, &output), "{text:?} became {shown:?}");
            checked += 1;
        };
        every_text(&["{", "}", "a"], 9).for_each(&mut check);
        every_text(&["{", "}", "[", "]", "|", "a"], 6).for_each(&mut check);
        every_text(&["{", "}", "|", "\n", " ", "!", "-", "a"], 6).for_each(&mut check);
        every_text(&["[", "//", "]", "a"], 8).for_each(&mut check);
        every_text(
            &[
                "\n{|", "\n|}", "\n", "\t", " ", "{|", "\n\t{|", "\na", "|-", "|+", "!", "|", "a",
            ],
            5,
        )
        .for_each(&mut check);
        // Sequences of up to four pieces of markup, extension tags among them.
        let pieces = [
            "{{",
            "}}",
            "{{{",
            "}}}",
            "[[a|",
            "[[File:a|",
            "]]",
            "<ref>",
            "</ref>",
            "<ref }}/>",
            "<ref x=]]>",
            "<!--",
            "-->",
            "\n{|",
            "\n|}",
            "a",
            "[http://x ",
            "[//y",
            "]",
            "\n",
            "\n== ",
            "=",
        ];
        every_text(&pieces, 4).for_each(&mut check);
        assert_eq!(
            checked,
            29_523 + 55_986 + 299_592 + 87_380 + 402_233 + 245_410
        );
    }

    #[test]
    fn a_dropped_external_link_makes_no_new_one() {
        // Found by fuzzing: each pass dropped one `[` of `[[[[[//`, and what the last pass left,
        // `[//`, the parser rewound (each such link on a line doubling the parse time).
        let shown = shown("a [[[[[//x b\nc [[http://y");
        assert!(
            !shown.contains("[//") && !shown.contains("[http"),
            "{shown:?}"
        );
        assert_eq!(
            shown.replace(BRACE_SEPARATOR, ""),
            "a [[[[//x b\nc [http://y"
        );
    }

    /// Found by fuzzing: a French page of tables and headings used the whole parse time limit.
    /// A heading opened in a table held a `|}` after its `=` and a line end, so the parser
    /// rewound the tables around it at the end of the text, each once per table around it.
    #[test]
    fn a_heading_in_a_table_holds_the_table_end_after_its_line_end() {
        let lang = wikirag_core::Language::French;
        let site = wikirag_core::SiteInfo::default();
        let config = crate::config::parser_configuration(&site, &lang);
        let files = crate::config::file_namespaces(&site, &lang);
        let found = include_str!("../../../fuzz/corpus/cleaner/cleaner-slow-unit-tables-headings");
        let text = found.strip_prefix("fr:").expect("a French unit");
        let balanced = drop_unclosed(text, &files);
        let output = config.parse(&balanced).expect("no time limit");
        assert!(!rewinds(&balanced, &output));
        // A heading's text starts after its line end: `|}` there ends no table, the table is
        // never closed.
        let heading = shown("{|\n|a\n== \n|}b ==\nc");
        assert_eq!(heading, "|\n|a\n== \n|}b ==\nc");
        let output = config.parse(&heading).expect("no time limit");
        assert!(!rewinds(&heading, &output));
        assert!(matches!(
            drop_unclosed("{|\n|a\n== b ==\n|}", &files),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn tables_start_and_end_where_the_parser_reads_them() {
        // Found by fuzzing: where a table starts after blanks inside a table depends on the
        // table's last line. In its text before the first row, after a tab too; on the line
        // after its `{|` line, only at the line start.
        assert_eq!(shown("{|\na\n\t{|\nb"), "|\na\n\t|\nb");
        assert!(matches!(
            drop_unclosed("{|\n\t{|\nb\n|}", &files()),
            Cow::Borrowed(_)
        ));
        // Found by fuzzing: `|}` inside a template opened in a table ends nothing.
        assert_eq!(shown("\n{|{{\n|}}}"), "\n|{{\n|}}}");
        // A table starts only outside other markup, on a line of its own (a space first may
        // lead it, a tab may not).
        assert!(matches!(
            drop_unclosed("{{a|\n{|\n}}", &files()),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            drop_unclosed("\t{|\na", &files()),
            Cow::Borrowed(_)
        ));
        assert_eq!(shown(" \t{|\na"), " \t|\na");
        // Tables nest, and each ends at its own `|}`.
        assert_eq!(shown("{|\n{|\n|}"), "|\n{|\n|}");
        assert!(matches!(
            drop_unclosed("{|\n|a\n{|\n|b\n|}\n|}", &files()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_given_up_link_makes_no_new_link() {
        // Found by fuzzing: a given-up `[[` turned into one character let the `[[` before it
        // reach the `|`, a new link given up in the next pass, and so on along a run of `[`.
        let config = crate::config::parser_configuration(
            &wikirag_core::SiteInfo::default(),
            &wikirag_core::Language::English,
        );
        for text in [
            format!("a {}| b", "[".repeat(30)),
            format!("a {}| b\n{}|", "[".repeat(11), "[[".repeat(9)),
        ] {
            let shown = shown(&text);
            let output = config.parse(&shown).expect("no time limit");
            assert!(!rewinds(&shown, &output), "{text:?} became {shown:?}");
        }
        assert_eq!(shown("[[[[|a"), "[[\u{fdd0}[|a");
    }

    #[test]
    fn external_links_end_on_their_line() {
        // Found by fuzzing: unclosed on its line, an external link is rewound by the parser,
        // each one more on the line doubling the time.
        assert_eq!(
            shown("a [http://x b [//y c\nd]"),
            "a \u{fdd1}http://x b \u{fdd1}//y c\nd]"
        );
        assert_eq!(shown("{{a|[http://x b}} c]"), "{{a|\u{fdd1}http://x b}} c]");
        assert!(matches!(
            drop_unclosed(
                "a [http://x b] [[c|d [HTTPS://e f]]] {{g|[//h i]}}",
                &files()
            ),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn closers_inside_a_start_tag_close_nothing() {
        // Found by fuzzing: a start tag runs to its `>` for the parser.
        assert_eq!(shown("{{a <ref x=}}>b</ref>"), "a <ref x=}}>b</ref>");
        assert_eq!(
            shown("{{a <references /|}} /> b"),
            "a <references /|}} /> b"
        );
        assert!(matches!(
            drop_unclosed("{{a <ref x=}}>b</ref> }}", &files()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn comments_end_where_the_parser_ends_them() {
        // Found by fuzzing: closers in an unclosed comment close nothing.
        assert_eq!(shown("a {{b <!-- }} c"), "a b <!-- }} c");
        assert_eq!(shown("a [[b|x <!-- ]] c"), "a \u{fdd0}[b|x <!-- ]] c");
        // Openers in a comment are no markup.
        assert!(matches!(
            drop_unclosed("a <!-- {{ [[ --> b", &files()),
            Cow::Borrowed(_)
        ));
        // `<!-->` does not end the comment it starts.
        assert_eq!(shown("{{a <!--> }} --> b"), "a <!--> }} --> b");
        // An end tag of an open extension tag ends it; the tag is then closed.
        assert!(matches!(
            drop_unclosed("<ref>a <!-- b</ref> {{c}}", &files()),
            Cow::Borrowed(_)
        ));
        // In an HTML start tag, `<!--` is no comment.
        assert_eq!(
            shown("<span title=\"<!--\">{{a }} b"),
            "<span title=\"<!--\">{{a }} b"
        );
        assert_eq!(shown("<span <!--> {{a b"), "<span <!--> a b");
        // Nor in an HTML end tag (found by fuzzing).
        assert_eq!(
            shown("s.</s XIe.<!-- an>\n==={{{{a"),
            "s.</s XIe.<!-- an>\n==={a"
        );
    }
}
