//! Wikitext → an [`Article`]: sections with heading paths, paragraphs, list items, table rows
//! as text and infobox fields as facts, then sentences. Refs, comments, files, navboxes and
//! category text are dropped; categories are kept as metadata.

use crate::config::parser_configuration;
use crate::error::{CorpusError, Result};
use crate::split::split_sentences;
use crate::templates::{self, Call};
use crate::tidy::{protect_plain_text_tags, tidy, unprotect};
use parse_wiki_text_2::{Configuration, Node, Parameter, TableCellType};
use std::time::Duration;
use wikirag_core::{Article, Language, Page, Sentence, SentenceKind, SiteInfo};

/// Nesting deeper than this is not rendered (pathological templates).
const MAX_DEPTH: usize = 40;

/// Sections whose content is references and links, not facts about the subject.
const DROPPED_SECTIONS: &[&str] = &[
    "references",
    "notes",
    "external links",
    "see also",
    "further reading",
    "sources",
    "citations",
    "footnotes",
    "notes and references",
    "references and notes",
    "works cited",
    "gallery",
    "external link",
    "reference",
    "related pages",
    "other websites",
    "références",
    "notes et références",
    "liens externes",
    "voir aussi",
    "articles connexes",
    "annexes",
    "galerie",
    "lien externe",
    "sources et références",
    "liens internes",
];

/// Options of the cleaner.
#[derive(Clone, Debug)]
pub struct CleanOptions {
    /// How long the wikitext parser may spend on one page.
    pub parse_timeout: Duration,
}

impl Default for CleanOptions {
    fn default() -> Self {
        CleanOptions {
            parse_timeout: Duration::from_secs(5),
        }
    }
}

/// Turns pages of one wiki into articles. Cheap to share between threads.
pub struct Cleaner {
    config: Configuration,
    /// File namespace names, lower-case (the balance pass reads links as the parser does).
    file_namespaces: Vec<String>,
    site: SiteInfo,
    lang: Language,
    options: CleanOptions,
}

impl Cleaner {
    pub fn new(site: &SiteInfo, lang: Language, options: CleanOptions) -> Cleaner {
        Cleaner {
            config: parser_configuration(site, &lang),
            file_namespaces: crate::config::file_namespaces(site, &lang),
            site: site.clone(),
            lang,
            options,
        }
    }

    pub fn language(&self) -> &Language {
        &self.lang
    }

    /// The URL of an article of this wiki.
    pub fn url(&self, title: &str) -> String {
        self.site.article_url(title).unwrap_or_else(|| {
            format!(
                "https://{}.wikipedia.org/wiki/{}",
                self.lang.code(),
                wikirag_core::encode_title(title)
            )
        })
    }

    /// Cleans one page. A panic in the parser (parse-wiki-text-2 slices inside a character
    /// when it gives up at its time limit on non-ASCII text) is that page's error: it must not
    /// take a cleaner thread, and the pages after it, with it.
    pub fn clean(&self, page: &Page) -> Result<Article> {
        wikirag_core::catch_panic(|| self.clean_unguarded(page)).unwrap_or_else(|message| {
            Err(CorpusError::ParserPanic {
                page_id: page.id,
                title: page.title.clone(),
                message,
            })
        })
    }

    fn clean_unguarded(&self, page: &Page) -> Result<Article> {
        let plain = protect_plain_text_tags(&page.text);
        let text = crate::balance::drop_unclosed(&plain, &self.file_namespaces);
        let output = self
            .config
            .parse_with_timeout(&text, self.options.parse_timeout)
            .map_err(|e| match e {
                parse_wiki_text_2::ParseError::TimedOut { execution_time, .. } => {
                    CorpusError::ParseTimeout {
                        page_id: page.id,
                        title: page.title.clone(),
                        millis: execution_time.as_millis(),
                    }
                }
            })?;
        let mut r = Renderer {
            title: &page.title,
            lang: &self.lang,
            text: &text,
            blocks: Vec::new(),
            sections: Vec::new(),
            skipping: false,
            paragraph: String::new(),
            categories: Vec::new(),
        };
        r.walk_blocks(&output.nodes, 0);
        r.flush();
        let mut sentences = Vec::new();
        for block in r.blocks {
            let pieces = match block.kind {
                SentenceKind::Prose | SentenceKind::ListItem => {
                    split_sentences(&block.text, &self.lang)
                }
                _ => split_sentences_keep_whole(&block.text, &self.lang),
            };
            for text in pieces {
                sentences.push(Sentence {
                    ordinal: sentences.len() as u32,
                    section: block.section.clone(),
                    kind: block.kind,
                    text,
                });
            }
        }
        Ok(Article {
            page_id: page.id,
            title: page.title.clone(),
            revision_id: page.revision_id,
            timestamp: page.timestamp.clone(),
            url: self.url(&page.title),
            language: self.lang.clone(),
            categories: r.categories,
            sentences,
        })
    }
}

/// Facts and table rows stay one unit unless they are over the length cap.
fn split_sentences_keep_whole(text: &str, lang: &Language) -> Vec<String> {
    if text.len() <= crate::split::MAX_SENTENCE_BYTES {
        vec![text.to_string()]
    } else {
        split_sentences(text, lang)
    }
}

struct Block {
    section: String,
    kind: SentenceKind,
    text: String,
}

struct Renderer<'a> {
    title: &'a str,
    lang: &'a Language,
    text: &'a str,
    blocks: Vec<Block>,
    /// (level, heading text, dropped)
    sections: Vec<(u8, String, bool)>,
    skipping: bool,
    paragraph: String,
    categories: Vec<String>,
}

impl Renderer<'_> {
    fn section_path(&self) -> String {
        self.sections
            .iter()
            .map(|(_, t, _)| t.as_str())
            .collect::<Vec<_>>()
            .join(" > ")
    }

    fn push_block(&mut self, kind: SentenceKind, text: &str) {
        if self.skipping {
            return;
        }
        let text = unprotect(&tidy(text, self.lang));
        if text.chars().any(char::is_alphanumeric) {
            self.blocks.push(Block {
                section: self.section_path(),
                kind,
                text,
            });
        }
    }

    fn flush(&mut self) {
        let paragraph = std::mem::take(&mut self.paragraph);
        self.push_block(SentenceKind::Prose, &paragraph);
    }

    fn walk_blocks(&mut self, nodes: &[Node<'_>], depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for node in nodes {
            match node {
                Node::Heading { level, nodes, .. } => {
                    self.flush();
                    let mut heading = String::new();
                    self.inline(nodes, &mut heading, depth + 1);
                    let heading = tidy(&heading, self.lang);
                    while self.sections.last().is_some_and(|(l, _, _)| *l >= *level) {
                        self.sections.pop();
                    }
                    let parent_dropped = self.sections.iter().any(|(_, _, d)| *d);
                    let dropped =
                        parent_dropped || DROPPED_SECTIONS.contains(&heading.to_lowercase().trim());
                    self.sections.push((*level, heading, dropped));
                    self.skipping = dropped;
                }
                Node::ParagraphBreak { .. } | Node::HorizontalDivider { .. } => self.flush(),
                Node::UnorderedList { items, .. } | Node::OrderedList { items, .. } => {
                    self.flush();
                    for item in items {
                        self.list_item(&item.nodes, depth + 1);
                    }
                }
                Node::DefinitionList { items, .. } => {
                    self.flush();
                    for item in items {
                        self.list_item(&item.nodes, depth + 1);
                    }
                }
                Node::Table { captions, rows, .. } => {
                    self.flush();
                    self.table(captions, rows, depth + 1);
                }
                Node::Preformatted { nodes, .. } => {
                    self.flush();
                    let mut s = String::new();
                    self.inline(nodes, &mut s, depth + 1);
                    self.push_block(SentenceKind::Prose, &s);
                }
                Node::Tag { name, nodes, .. }
                    if matches!(
                        name.as_ref(),
                        "div" | "blockquote" | "poem" | "center" | "section"
                    ) =>
                {
                    self.walk_blocks(nodes, depth + 1);
                }
                other => {
                    let mut s = std::mem::take(&mut self.paragraph);
                    self.inline(std::slice::from_ref(other), &mut s, depth);
                    self.paragraph = s;
                }
            }
        }
    }

    fn list_item(&mut self, nodes: &[Node<'_>], depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let mut own = String::new();
        let mut nested = Vec::new();
        for node in nodes {
            match node {
                Node::UnorderedList { .. }
                | Node::OrderedList { .. }
                | Node::DefinitionList { .. } => nested.push(node),
                other => self.inline(std::slice::from_ref(other), &mut own, depth),
            }
        }
        self.push_block(SentenceKind::ListItem, &own);
        for node in nested {
            match node {
                Node::UnorderedList { items, .. } | Node::OrderedList { items, .. } => {
                    for item in items {
                        self.list_item(&item.nodes, depth + 1);
                    }
                }
                Node::DefinitionList { items, .. } => {
                    for item in items {
                        self.list_item(&item.nodes, depth + 1);
                    }
                }
                _ => {}
            }
        }
    }

    fn table(
        &mut self,
        captions: &[parse_wiki_text_2::TableCaption<'_>],
        rows: &[parse_wiki_text_2::TableRow<'_>],
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let mut caption = String::new();
        for c in captions {
            self.inline(&c.content, &mut caption, depth + 1);
        }
        let caption = tidy(&caption, self.lang);
        if !caption.is_empty() {
            self.push_block(SentenceKind::TableRow, &caption);
        }
        let mut header: Option<Vec<String>> = None;
        for row in rows {
            let cells: Vec<(bool, String)> = row
                .cells
                .iter()
                .map(|cell| {
                    let mut s = String::new();
                    self.inline(&cell.content, &mut s, depth + 1);
                    (cell.type_ == TableCellType::Heading, tidy(&s, self.lang))
                })
                .collect();
            if cells.is_empty() {
                continue;
            }
            if cells.iter().all(|(h, _)| *h) && cells.len() > 1 {
                header = Some(cells.into_iter().map(|(_, t)| t).collect());
                continue;
            }
            let line = match &header {
                Some(names) if names.len() == cells.len() => cells
                    .iter()
                    .zip(names)
                    .filter(|((_, v), _)| !v.is_empty())
                    .map(|((_, v), k)| {
                        if k.is_empty() {
                            v.clone()
                        } else {
                            format!("{k}: {v}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                _ => {
                    // A row header followed by data ("Capital | Montgomery") reads as a fact.
                    if cells.len() == 2 && cells[0].0 && !cells[1].0 {
                        format!("{}: {}", cells[0].1, cells[1].1)
                    } else {
                        cells
                            .iter()
                            .map(|(_, t)| t.as_str())
                            .filter(|t| !t.is_empty())
                            .collect::<Vec<_>>()
                            .join(" | ")
                    }
                }
            };
            self.push_block(SentenceKind::TableRow, &line);
        }
    }

    fn infobox(&mut self, parameters: &[Parameter<'_>], depth: usize) {
        for p in parameters {
            let Some(name_nodes) = &p.name else { continue };
            let mut key = String::new();
            self.inline(name_nodes, &mut key, depth + 1);
            let key = humanize_key(key.trim());
            if key.is_empty() || templates::is_infobox_noise_key(&key) {
                continue;
            }
            let mut value = String::new();
            self.inline_list_aware(&p.value, &mut value, depth + 1);
            let value = tidy(&value, self.lang);
            // Unparsed list bullets inside a value: "* a * b" → "a, b".
            let value = value.replace(" * ", ", ").replace(" *", ", ");
            let value = value
                .trim_start_matches(['*', ' '])
                .trim_matches(|c: char| c == ',' || c.is_whitespace());
            if value.is_empty() || !value.chars().any(char::is_alphanumeric) || is_file_name(value)
            {
                continue;
            }
            // "name = <the title>" says nothing the title does not.
            if value == self.title
                && matches!(
                    key.to_lowercase().as_str(),
                    "name" | "nom" | "titre" | "title" | "post"
                )
            {
                continue;
            }
            let fact = format!("{} — {key}: {value}", self.title);
            self.push_block(SentenceKind::Fact, &fact);
        }
    }

    /// Inline rendering where list items become a comma-separated run (infobox values).
    fn inline_list_aware(&mut self, nodes: &[Node<'_>], out: &mut String, depth: usize) {
        for node in nodes {
            match node {
                Node::UnorderedList { items, .. } | Node::OrderedList { items, .. } => {
                    for item in items {
                        let mut s = String::new();
                        self.inline(&item.nodes, &mut s, depth + 1);
                        out.push_str(", ");
                        out.push_str(s.trim());
                    }
                }
                other => self.inline(std::slice::from_ref(other), out, depth),
            }
        }
    }

    fn inline(&mut self, nodes: &[Node<'_>], out: &mut String, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for node in nodes {
            match node {
                Node::Text { value, .. } => out.push_str(value),
                Node::CharacterEntity { character, .. } => out.push(*character),
                Node::Link { target, text, .. } => {
                    if is_interwiki(target) {
                    } else if text.is_empty() {
                        {
                            let shown = target.trim_start_matches(':');
                            out.push_str(shown.split('#').next().unwrap_or(shown));
                        }
                    } else {
                        self.inline(text, out, depth + 1);
                    }
                }
                Node::ExternalLink { nodes, .. } => {
                    let mut s = String::new();
                    self.inline(nodes, &mut s, depth + 1);
                    if let Some((_, label)) = s.trim().split_once(char::is_whitespace) {
                        out.push_str(label.trim());
                    }
                }
                Node::Category { target, .. } => {
                    let name = target.split_once(':').map_or(*target, |(_, n)| n).trim();
                    if !name.is_empty() {
                        self.categories.push(name.to_string());
                    }
                }
                Node::StartTag { name, .. } if name == "br" => out.push(' '),
                Node::Tag { name, nodes, .. } => match name.as_ref() {
                    "ref" | "references" | "gallery" | "timeline" | "graph" | "score"
                    | "templatedata" | "imagemap" | "mapframe" | "maplink" | "indicator"
                    | "inputbox" | "categorytree" | "charinsert" | "templatestyles"
                    | "syntaxhighlight" | "source" | "includeonly" | "hiero" | "math" | "chem"
                    | "ce" => {}
                    _ => self.inline(nodes, out, depth + 1),
                },
                Node::Template {
                    name, parameters, ..
                } => self.template(name, parameters, out, depth + 1),
                Node::Heading { nodes, .. } | Node::Preformatted { nodes, .. } => {
                    self.inline(nodes, out, depth + 1)
                }
                Node::UnorderedList { items, .. } | Node::OrderedList { items, .. } => {
                    for item in items {
                        out.push(' ');
                        self.inline(&item.nodes, out, depth + 1);
                    }
                }
                Node::DefinitionList { items, .. } => {
                    for item in items {
                        out.push(' ');
                        self.inline(&item.nodes, out, depth + 1);
                    }
                }
                Node::ParagraphBreak { .. } => out.push(' '),
                Node::Parameter { default, .. } => {
                    if let Some(default) = default {
                        self.inline(default, out, depth + 1);
                    }
                }
                Node::Table { captions, rows, .. } => {
                    // A table nested in inline content: render its rows as blocks of their own.
                    self.table(captions, rows, depth + 1);
                }
                Node::Bold { .. }
                | Node::BoldItalic { .. }
                | Node::Italic { .. }
                | Node::Comment { .. }
                | Node::Image { .. }
                | Node::MagicWord { .. }
                | Node::Redirect { .. }
                | Node::HorizontalDivider { .. }
                | Node::StartTag { .. }
                | Node::EndTag { .. } => {}
            }
        }
    }

    fn template(
        &mut self,
        name_nodes: &[Node<'_>],
        parameters: &[Parameter<'_>],
        out: &mut String,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let raw_name = match name_nodes {
            [Node::Text { value, .. }] => (*value).to_string(),
            _ => {
                let (start, end) = span(name_nodes);
                self.text.get(start..end).unwrap_or("").to_string()
            }
        };
        let name = templates::normalise_name(&raw_name);
        if templates::is_infobox(&name) {
            // An infobox in the middle of a paragraph: its facts are blocks of their own.
            let pending = std::mem::take(out);
            self.paragraph.push_str(&pending);
            self.flush();
            self.infobox(parameters, depth);
            return;
        }
        // A magic word with an argument: {{formatnum:1234}}, {{lc:ABC}}.
        if let Some((word, arg)) = name.split_once(':') {
            if matches!(word, "formatnum" | "lc" | "uc" | "lcfirst" | "ucfirst") {
                let arg_raw = raw_name.split_once(':').map_or("", |(_, a)| a);
                out.push_str(arg_raw.trim());
                let _ = arg;
            }
            return;
        }
        let mut positional = Vec::new();
        let mut named = Vec::new();
        for p in parameters {
            let mut value = String::new();
            self.inline(&p.value, &mut value, depth + 1);
            match &p.name {
                None => positional.push(value),
                Some(n) => {
                    let mut key = String::new();
                    self.inline(n, &mut key, depth + 1);
                    let key = key.trim().to_lowercase();
                    if let Ok(i) = key.parse::<usize>() {
                        // {{lang|1=fr|2=texte}} is positional.
                        if i >= 1 && i <= positional.len() + 1 {
                            if i == positional.len() + 1 {
                                positional.push(value.clone());
                            } else {
                                positional[i - 1] = value.clone();
                            }
                        }
                    }
                    named.push((key, value));
                }
            }
        }
        let call = Call {
            name: &name,
            positional: &positional,
            named: &named,
        };
        // lang-xx: {{lang-fr|texte}}
        let rendered = if name.starts_with("lang-") {
            positional.first().map(|s| s.trim().to_string())
        } else {
            templates::render(&call, self.lang, self.title)
        };
        if let Some(text) = rendered {
            out.push_str(&text);
        }
    }
}

fn span(nodes: &[Node<'_>]) -> (usize, usize) {
    use parse_wiki_text_2::Positioned;
    match (nodes.first(), nodes.last()) {
        (Some(a), Some(b)) => (a.start(), b.end()),
        _ => (0, 0),
    }
}

/// An infobox value that is an image or media file name.
fn is_file_name(value: &str) -> bool {
    let lower = value.to_lowercase();
    [
        ".svg", ".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".webp", ".ogg", ".pdf",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// Infobox keys as words: `LargestCity` → `Largest city`, `area_total_sq_mi` → `area total sq
/// mi`, so a search for "largest city" matches.
fn humanize_key(key: &str) -> String {
    let chars: Vec<char> = key.replace(['_', '-'], " ").chars().collect();
    let mut spaced = String::with_capacity(key.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                spaced.push(' ');
            }
        }
        spaced.push(c);
    }
    // Numbered keys (`fonction1`, `leader_name2`): the number orders repeated fields, it is
    // not part of the attribute's name.
    let unnumbered = |w: &str| -> String {
        let stem = w.trim_end_matches(|c: char| c.is_ascii_digit());
        let digits = w.len() - stem.len();
        match stem.chars().last() {
            Some(c) if (1..=2).contains(&digits) && c.is_lowercase() => stem.to_string(),
            _ => w.to_string(),
        }
    };
    let words: Vec<String> = spaced
        .split_whitespace()
        .map(unnumbered)
        .enumerate()
        .map(|(i, w)| {
            let acronym = w.chars().filter(|c| c.is_alphabetic()).count() > 1
                && w.chars().all(|c| !c.is_lowercase());
            if acronym || i == 0 {
                w.to_string()
            } else {
                w.to_lowercase()
            }
        })
        .collect();
    words.join(" ")
}

/// Interlanguage links (`[[fr:Paris]]`, `[[zh-yue:...]]`) carry no text for this article.
fn is_interwiki(target: &str) -> bool {
    if target.starts_with(':') {
        return false;
    }
    match target.split_once(':') {
        Some((prefix, _)) => {
            let p = prefix.trim();
            (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase())
                || (p.contains('-')
                    && p.len() <= 12
                    && p.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infobox_keys_read_as_words() {
        for (key, want) in [
            ("LargestCity", "Largest city"),
            ("TotalAreaUS", "Total area US"),
            ("ISOCode", "ISO code"),
            ("2010Pop", "2010 pop"),
            ("area_total_sq_mi", "area total sq mi"),
            ("début fonction1", "début fonction"),
            ("fonction1", "fonction"),
            ("leader_name2", "leader name"),
            ("spouse 3", "spouse 3"),
        ] {
            assert_eq!(humanize_key(key), want);
        }
    }

    #[test]
    fn tidy_mends_what_dropped_markup_leaves() {
        let en = Language::English;
        assert_eq!(
            tidy("Paris (, ; ) is  big , very\nbig .", &en),
            "Paris is big, very big."
        );
        assert_eq!(tidy("a ( b ) c ( ) d,, e", &en), "a (b) c d, e");
        assert_eq!(tidy("x ; y : z", &en), "x; y: z");
        assert_eq!(
            tidy("Il dit : oui ; non ( ) .", &Language::French),
            "Il dit : oui ; non."
        );
        assert_eq!(tidy("  (  )  ", &en), "");
    }

    #[test]
    fn residual_markup_is_stripped() {
        assert_eq!(
            tidy(
                "above $800 (${{Inflation|US|{{x|800}}|1861}} today) in [[Foo|bar]] and [[baz]] '''b'''",
                &Language::English
            ),
            "above $800 ($ today) in bar and baz b"
        );
        assert_eq!(
            tidy("unclosed {{ template [[link", &Language::English),
            "unclosed template link"
        );
        assert_eq!(
            tidy(
                "after.<ref>{{cite book|x}}</ref> Next <ref name=a/>one <br/>x < y",
                &Language::English
            ),
            "after. Next one x < y"
        );
    }

    fn clean(lang: Language, title: &str, text: &str) -> Article {
        let cleaner = Cleaner::new(&SiteInfo::default(), lang, CleanOptions::default());
        cleaner
            .clean(&Page {
                id: 1,
                title: title.into(),
                text: text.into(),
                ..Page::default()
            })
            .unwrap()
    }

    /// A template closed by `|}}` at a line start is a template, not the end of a table: on
    /// four real itwiki pages (`{{Monarca … \n|}}`, Aldo Moro's `{{Carica pubblica`) the
    /// balance pass took `|}` for a table end, dropped the template's `{{` as unclosed, and the
    /// infobox's parameters became a sentence of the article.
    #[test]
    fn a_template_closed_at_a_line_start_is_no_table_end() {
        let article = clean(
            Language::English,
            "Caligula",
            "{{Monarca\n|nome =Caligola\n|padre =[[Germanico]]\n|}}\n\nCaligula was an emperor.",
        );
        let all = texts(&article).join(" ");
        assert!(all.contains("Caligula was an emperor."), "{all}");
        assert!(!all.contains("nome") && !all.contains("Monarca"), "{all}");
    }

    /// Unclosed openers inside one another made the parser backtrack exponentially: each of
    /// these small pages used the whole parse timeout (5 s) and up to 1.3 GB, and was skipped.
    /// Now each is cleaned, the openers kept as the text they are, well inside the timeout.
    #[test]
    fn unclosed_openers_cost_no_backtracking() {
        let cleaner = Cleaner::new(
            &SiteInfo::default(),
            Language::English,
            CleanOptions {
                parse_timeout: std::time::Duration::from_secs(2),
            },
        );
        let closed_run = format!("{}}}}}t}}}} {}", "{".repeat(46), "}".repeat(42));
        for (opener, times) in [
            ("{", 80),
            ("{{x|", 80),
            ("{{{", 80),
            ("<ref>", 80),
            ("<ref name=a>", 80),
            ("<gallery>", 80),
            ("[[File:a|", 80),
            ("<ref>a</ref b=c ", 40), // fuzzing: not a closer to the parser
            (closed_run.as_str(), 1), // found by fuzzing
            ("\n{| class=\"wikitable\"\n! a\n", 40), // found by fuzzing
            (
                "<s <!-->\n={{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{Réuli f",
                1,
            ), // fuzzing
        ] {
            let text = format!(
                "Alpha beta gamma {} delta after.\n\nA second paragraph here.",
                opener.repeat(times)
            );
            let article = cleaner
                .clean(&Page {
                    id: 1,
                    title: "T".into(),
                    text,
                    ..Page::default()
                })
                .unwrap_or_else(|e| panic!("{opener} x {times}: {e}"));
            let all = texts(&article).join(" ");
            assert!(all.contains("A second paragraph here."), "{opener}: {all}");
        }
    }

    /// Closers inside a comment that is never closed close nothing for the parser: the openers
    /// before it are unclosed and must not be given to it (found by fuzzing: runs of `{` with
    /// their `}` after an unclosed `<!--` used the whole parse time limit). Nor does a closer
    /// close anything but the innermost opener (fuzzing: links closed over open templates), and
    /// a parameter closed as a template is read as one.
    #[test]
    fn closers_inside_an_unclosed_comment_close_nothing() {
        let cleaner = Cleaner::new(
            &SiteInfo::default(),
            Language::English,
            CleanOptions {
                parse_timeout: std::time::Duration::from_secs(2),
            },
        );
        let minimised =
            include_str!("../../../fuzz/corpus/cleaner/cleaner-slow-unit-unclosed-comment");
        for (text, kept) in [
            (
                format!(
                    "A second paragraph here.\n\nAlpha {} delta <!-- {} hidden",
                    "{{x|".repeat(40),
                    "}}".repeat(40)
                ),
                "A second paragraph here.",
            ),
            (
                format!(
                    "A second paragraph here.\n\nAlpha {} delta <!-- {} hidden",
                    "[[a|".repeat(40),
                    "]]".repeat(40)
                ),
                "A second paragraph here.",
            ),
            (
                format!("{minimised}\n\nA later paragraph."),
                "principal ministre.",
            ),
            (
                format!(
                    "A second paragraph here.\n\n{}",
                    include_str!(
                        "../../../fuzz/corpus/cleaner/cleaner-slow-unit-link-over-template"
                    )
                ),
                "A second paragraph here.",
            ),
            // Parameters `{{{` closed by `}}` alone, the parser rewinds each and reads it again
            // as a template, once for every such parameter around it (fuzzing: 5 s).
            (
                format!(
                    "A second paragraph here.\n\nAlpha {} delta {} gamma",
                    "{{{a ".repeat(40),
                    "}}b ".repeat(40)
                ),
                "A second paragraph here.",
            ),
            (
                format!(
                    "A second paragraph here.\n\n{}",
                    include_str!(
                        "../../../fuzz/corpus/cleaner/cleaner-slow-unit-parameter-closed-as-template"
                    )
                ),
                "A second paragraph here.",
            ),
            // External links unclosed on their line, each one more doubling the parse time; a
            // run of `[` before a `|` (fuzzing: 5 s).
            (
                format!(
                    "A second paragraph here.\n\nAlpha {} delta\n\n{}| a",
                    "[http://a.b/c d ".repeat(40),
                    "[".repeat(60)
                ),
                "A second paragraph here.",
            ),
            (
                format!(
                    "A second paragraph here.\n\nAlpha {} delta",
                    "[[[[[//a.b c ".repeat(30)
                ),
                "A second paragraph here.",
            ),
            // A table after a tab, in the text of a table before its first row: a table to the
            // parser, never closed (fuzzing: 0.2 s, doubling with each).
            (
                format!(
                    "A second paragraph here.\n\n{{|\n}}\n{}|}}\n",
                    "\t{|\n}\n".repeat(24)
                ),
                "A second paragraph here.",
            ),
            (
                format!(
                    "A second paragraph here.\n\n{}",
                    include_str!("../../../fuzz/corpus/cleaner/cleaner-slow-unit-link-run-chain")
                ),
                "A second paragraph here.",
            ),
            // Closers among a start tag's attributes, and `|}` inside a template opened in a
            // table, close nothing for the parser (fuzzing: 5 s).
            (
                format!(
                    "A second paragraph here.\n\n{}\n{}",
                    include_str!(
                        "../../../fuzz/corpus/cleaner/cleaner-slow-unit-closers-in-start-tag"
                    ),
                    include_str!("../../../fuzz/corpus/cleaner/cleaner-slow-unit-tables-and-tags")
                ),
                "A second paragraph here.",
            ),
            (
                format!(
                    "A second paragraph here.\n\nAlpha {} delta",
                    "{{a <ref x=}}>b</ref> ".repeat(40)
                ),
                "A second paragraph here.",
            ),
            (
                format!(
                    "A second paragraph here.\n\n{}",
                    "{|\n|{{a\n|}\n".repeat(40)
                ),
                "A second paragraph here.",
            ),
            (
                format!(
                    "A second paragraph here.\n\ns.</s XIe.<!-- an>\n\n==={}a",
                    "{".repeat(80)
                ),
                "A second paragraph here.",
            ),
        ] {
            let article = cleaner
                .clean(&Page {
                    id: 1,
                    title: "T".into(),
                    text: text.clone(),
                    ..Page::default()
                })
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let all = texts(&article).join(" ");
            assert!(all.contains(kept), "{all}");
            assert!(!all.contains("hidden") && !all.contains("later"), "{all}");
        }
        // A link given up (a link inside a link that is not a file's: here `Fichier:` on an
        // English wiki) reads as the parser's rewound text read: its label only.
        let article = cleaner
            .clean(&Page {
                id: 1,
                title: "T".into(),
                text: "Alpha beta gamma.\n[[Fichier:S.jpg|vignette|[[Innsbruck]] town.]]\n".into(),
                ..Page::default()
            })
            .expect("cleaned");
        let all = texts(&article).join(" ");
        assert!(
            all.contains("Innsbruck town.") && !all.contains("vignette"),
            "{all}"
        );
        // A closed comment still hides its braces, and an end tag of an open `<ref>` ends an
        // unclosed comment as the parser ends it.
        let article = cleaner
            .clean(&Page {
                id: 1,
                title: "T".into(),
                text: "Alpha {{x|y}} beta <!-- }} --> gamma. Delta<ref>r <!-- q</ref> epsilon."
                    .into(),
                ..Page::default()
            })
            .expect("cleaned");
        let all = texts(&article).join(" ");
        assert!(all.contains("gamma") && all.contains("epsilon"), "{all}");
    }

    /// parse-wiki-text-2 flushes its text at the scan position when it gives up, and that
    /// position can fall inside a character (found by fuzzing: "end byte index 3837 is not a
    /// char boundary; it is inside 'é'"). Such a page is an error of its own, never a panic.
    #[test]
    fn a_parser_panic_is_that_pages_error() {
        let cleaner = Cleaner::new(
            &SiteInfo::default(),
            Language::French,
            CleanOptions {
                parse_timeout: std::time::Duration::from_millis(1),
            },
        );
        let mut panics = 0;
        for i in 0..40 {
            let text = format!("{}{}", "é".repeat(i), "Été [[à]] ''é'' ".repeat(40_000));
            let page = Page {
                id: i as u64,
                title: "T".into(),
                text,
                ..Page::default()
            };
            match cleaner.clean(&page) {
                Err(CorpusError::ParserPanic { page_id, .. }) => {
                    assert_eq!(page_id, i as u64);
                    panics += 1;
                }
                Err(e) => assert!(!e.is_fatal(), "{e}"),
                Ok(_) => {}
            }
        }
        assert!(
            panics > 0,
            "no page made the parser panic: the test shows nothing"
        );
    }

    fn texts(a: &Article) -> Vec<String> {
        a.sentences
            .iter()
            .map(|s| format!("[{}|{:?}] {}", s.section, s.kind, s.text))
            .collect()
    }

    #[test]
    fn infobox_facts_prose_lists_and_tables() {
        let a = clean(
            Language::English,
            "Alabama",
            "{{Infobox U.S. state\n| name = Alabama\n| capital = [[Montgomery, Alabama|Montgomery]]\n| image_map = x.svg\n| area_total_sq_mi = {{convert|52419|sqmi|km2}}\n}}\n'''Alabama''' is a state<ref>Some ref</ref> in the [[Southern United States|southern]] U.S. It joined in 1819.<!-- hidden -->\n\n== History ==\n=== Early ===\n* First item with {{nowrap|10 June}}\n** Nested item\n\n{| class=\"wikitable\"\n! Year !! Event\n|-\n| 1819 || Statehood\n|}\n[[File:Map.png|thumb|A map]]\n[[Category:States]]\n[[fr:Alabama]]\n== References ==\n* Junk reference\n",
        );
        assert_eq!(
            texts(&a),
            vec![
                "[|Fact] Alabama — capital: Montgomery",
                "[|Fact] Alabama — area total sq mi: 52419 sqmi",
                "[|Prose] Alabama is a state in the southern U.S. It joined in 1819.",
                "[History > Early|ListItem] First item with 10 June",
                "[History > Early|ListItem] Nested item",
                "[History > Early|TableRow] Year: 1819; Event: Statehood",
            ]
        );
        assert_eq!(a.categories, vec!["States"]);
    }

    #[test]
    fn pathological_nesting_does_not_crash() {
        let deep = format!("{}x{}", "{{a|".repeat(3000), "}}".repeat(3000));
        let a = clean(
            Language::English,
            "T",
            &format!("Intro text.\n\n{deep}\n\nEnd text."),
        );
        assert!(a.sentences.iter().any(|s| s.text == "Intro text."));
        let links = format!("{}x{}", "[[a|".repeat(5000), "]]".repeat(5000));
        let _ = clean(Language::English, "T", &links);
    }
}

/// Every inline construct keeps the text around it: "Alpha beta X delta." must keep "Alpha
/// beta" and "delta." whatever X is (one case per construct; the expected rendering is the
/// snapshot). `<nowiki>` and `<math>` lost the text before them.
#[cfg(test)]
mod surrounding_text {
    use super::*;

    fn render(text: &str) -> String {
        let cleaner = Cleaner::new(
            &SiteInfo::default(),
            Language::English,
            CleanOptions::default(),
        );
        let a = cleaner
            .clean(&Page {
                id: 1,
                title: "T".into(),
                text: text.into(),
                ..Page::default()
            })
            .unwrap();
        a.sentences
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    }

    #[test]
    fn constructs_keep_the_text_around_them() {
        let cases: &[(&str, &str)] = &[
            ("<nowiki>gamma</nowiki>", "Alpha beta gamma delta."),
            (
                "<nowiki>[[gamma]] {{x}}</nowiki>",
                "Alpha beta [[gamma]] {{x}} delta.",
            ),
            ("<NOWIKI >gamma</NOWIKI>", "Alpha beta gamma delta."),
            ("<nowiki/>gamma", "Alpha beta gamma delta."),
            ("<math>x^2</math>", "Alpha beta delta."),
            ("<math display=\"block\">x</math>", "Alpha beta delta."),
            ("<chem>H2O</chem>", "Alpha beta delta."),
            ("<ref>cite</ref>", "Alpha beta delta."),
            ("<ref name=\"a\" />", "Alpha beta delta."),
            ("<!-- note -->", "Alpha beta delta."),
            ("gamma<br/>", "Alpha beta gamma delta."),
            ("<span style=\"x\">gamma</span>", "Alpha beta gamma delta."),
            ("<small>gamma</small>", "Alpha beta gamma delta."),
            ("<sup>2</sup>", "Alpha beta 2 delta."),
            ("<code>gamma</code>", "Alpha beta gamma delta."),
            ("<abbr title=\"g\">gamma</abbr>", "Alpha beta gamma delta."),
            ("{{unknown template|gamma}}", "Alpha beta delta."),
            ("{{nowrap|gamma}}", "Alpha beta gamma delta."),
            ("'''gamma'''", "Alpha beta gamma delta."),
            ("''gamma''", "Alpha beta gamma delta."),
            ("[[gamma]]s", "Alpha beta gammas delta."),
            ("[[Gamma|gamma]]", "Alpha beta gamma delta."),
            ("[http://example.org gamma]", "Alpha beta gamma delta."),
            ("[[File:G.png|thumb|gamma]]", "Alpha beta delta."),
            ("[[Category:Gamma]]", "Alpha beta delta."),
            ("__NOTOC__", "Alpha beta delta."),
            ("&amp; gamma", "Alpha beta & gamma delta."),
            ("<includeonly>gamma</includeonly>", "Alpha beta delta."),
            ("<noinclude>gamma</noinclude>", "Alpha beta gamma delta."),
            ("<syntaxhighlight>x</syntaxhighlight>", "Alpha beta delta."),
            ("<score>x</score>", "Alpha beta delta."),
            ("<nowiki>unclosed gamma", "Alpha beta unclosed gamma delta."),
        ];
        let mut wrong = Vec::new();
        for (construct, want) in cases {
            let got = render(&format!("Alpha beta {construct} delta."));
            if got != *want {
                wrong.push(format!("{construct:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
