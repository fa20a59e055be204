use crate::Language;
use serde::{Deserialize, Serialize};

/// What a dump says about its wiki in `<siteinfo>`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SiteInfo {
    pub sitename: Option<String>,
    pub dbname: Option<String>,
    /// The URL of the main page, e.g. `https://fr.wikipedia.org/wiki/Wikipédia:Accueil_principal`.
    pub base: Option<String>,
    /// `<namespace key="14">Catégorie</namespace>` → `(14, "Catégorie")`.
    pub namespaces: Vec<(i32, String)>,
}

impl SiteInfo {
    /// The language from dbname or base URL, if either tells.
    pub fn language(&self) -> Option<Language> {
        Language::from_dbname_or_base(self.dbname.as_deref(), self.base.as_deref())
    }

    /// The wiki a dump is of, named as Wikimedia names its databases (`frwiki`,
    /// `enwiktionary`): `<dbname>`, else made from the base URL's host (older dumps have no
    /// dbname), so the 2014 and 2016 dumps of one wiki are the same wiki.
    pub fn wiki_key(&self) -> Option<String> {
        if let Some(db) = self
            .dbname
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            return Some(db.to_string());
        }
        let base = self.base.as_deref()?;
        let host = base.split("://").nth(1)?.split('/').next()?;
        let mut parts = host.split('.');
        let (lang, project) = (parts.next()?, parts.next()?);
        let project = if project == "wikipedia" {
            "wiki"
        } else {
            project
        };
        Some(format!("{lang}{project}"))
    }

    /// The article URL prefix, e.g. `https://fr.wikipedia.org/wiki/`.
    pub fn article_url_prefix(&self) -> Option<String> {
        let base = self.base.as_deref()?.trim();
        // The dump is data, not code: only web links (a `javascript:` base would become a
        // link on the page).
        let lower = base.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return None;
        }
        let idx = base.find("/wiki/")?;
        let prefix = &base[..idx + "/wiki/".len()];
        Some(prefix.replacen("http://", "https://", 1))
    }

    /// The names of namespace `key` (the canonical name only; dumps list no aliases).
    pub fn namespace_name(&self, key: i32) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, n)| n.as_str())
    }

    /// Builds the URL of an article from the prefix and its title.
    pub fn article_url(&self, title: &str) -> Option<String> {
        self.article_url_prefix()
            .map(|p| format!("{p}{}", encode_title(title)))
    }
}

/// Encodes a title for a wiki URL: spaces become underscores, reserved characters and
/// control characters (a dump's title can hold ESC, BEL, CR, LF: none may reach a terminal or
/// a header through a URL) are escaped.
pub fn encode_title(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for c in title.chars() {
        match c {
            ' ' => out.push('_'),
            '%' | '?' | '#' | '&' | '"' | '\'' | '+' | '<' | '>' | '[' | ']' | '{' | '}' | '|' => {
                push_escaped(&mut out, c)
            }
            c if c.is_control() || c.is_whitespace() => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("%{b:02X}"));
    }
}

/// One `<page>` of a dump, as read: nothing is cleaned yet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub id: u64,
    pub title: String,
    pub namespace: i32,
    pub revision_id: Option<u64>,
    pub timestamp: Option<String>,
    /// The target title when the page is a redirect.
    pub redirect: Option<String>,
    /// Raw wikitext.
    pub text: String,
}

/// What a sentence came from, so consumers can weigh or filter it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SentenceKind {
    /// Running prose.
    Prose,
    /// A list item.
    ListItem,
    /// A table row rendered as text.
    TableRow,
    /// An infobox field rendered as a fact ("Alabama — capital: Montgomery").
    Fact,
}

/// One sentence of a cleaned article.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sentence {
    /// Ordinal in the article, from 0, in reading order.
    pub ordinal: u32,
    /// The heading path, e.g. `History > 20th century`; empty for the lead.
    pub section: String,
    pub kind: SentenceKind,
    pub text: String,
}

/// A cleaned article: the unit the index is built from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub page_id: u64,
    pub title: String,
    pub revision_id: Option<u64>,
    pub timestamp: Option<String>,
    pub url: String,
    pub language: Language,
    pub categories: Vec<String>,
    pub sentences: Vec<Sentence>,
}

/// What a search asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    pub query: String,
    /// How many hits to return.
    pub k: usize,
    /// Neighbouring sentences to attach on each side of a hit.
    pub context: usize,
    /// At most this many hits from one page (0 = no cap).
    pub per_page: usize,
}

impl SearchRequest {
    pub fn new(query: impl Into<String>) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            k: 10,
            context: 0,
            per_page: 3,
        }
    }
}

/// Which retrievers answer a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Bm25,
    Dense,
    Hybrid,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Bm25 => "bm25",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Mode, String> {
        match s {
            "bm25" => Ok(Mode::Bm25),
            "dense" => Ok(Mode::Dense),
            "hybrid" => Ok(Mode::Hybrid),
            _ => Err(format!("unknown mode {s:?} (bm25, dense, hybrid)")),
        }
    }
}

/// One sentence found by a search, with where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub title: String,
    pub section: String,
    /// The sentence itself.
    pub text: String,
    pub url: String,
    /// The page's key in the index ([`crate::page_key`]: wiki and page id; the page id alone
    /// in format-4 indexes): what finds the page again. Serialized as the MediaWiki page id.
    #[serde(serialize_with = "crate::serialize_page_id")]
    pub page_id: u64,
    /// The sentence's ordinal in its page.
    pub sentence: u32,
    pub score: f32,
    pub kind: SentenceKind,
    pub revision_id: Option<u64>,
    /// Neighbouring sentences before the hit (oldest first), when context was asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// Neighbouring sentences after the hit, when context was asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_a_url() {
        let url = encode_title("A\u{1b}[31mB\u{7}C\r\nD\u{85}E\u{2028}F\tG");
        assert_eq!(url, "A%1B%5B31mB%07C%0D%0AD%C2%85E%E2%80%A8F%09G");
        assert!(!url.chars().any(|c| c.is_control() || c.is_whitespace()));
    }

    #[test]
    fn urls_from_site_info() {
        let info = SiteInfo {
            base: Some("http://fr.wikipedia.org/wiki/Wikip\u{e9}dia:Accueil_principal".into()),
            ..SiteInfo::default()
        };
        assert_eq!(
            info.article_url("\u{c9}dith Cresson").unwrap(),
            "https://fr.wikipedia.org/wiki/\u{c9}dith_Cresson"
        );
        assert_eq!(
            info.article_url("AT&T?").unwrap(),
            "https://fr.wikipedia.org/wiki/AT%26T%3F"
        );
        assert_eq!(SiteInfo::default().article_url("X"), None);
        for hostile in [
            "javascript:alert(1)//wiki/Main",
            " JavaScript:alert(1)/wiki/x",
            "data:text/html,x/wiki/y",
        ] {
            let info = SiteInfo {
                base: Some(hostile.into()),
                ..SiteInfo::default()
            };
            assert_eq!(info.article_url("X"), None, "{hostile}");
        }
    }

    #[test]
    fn wiki_keys_from_dbname_or_host() {
        let site = |db: Option<&str>, base: &str| SiteInfo {
            dbname: db.map(String::from),
            base: Some(base.into()),
            ..SiteInfo::default()
        };
        // The 2014 enwiki sample has no dbname; the 2016 one has: the same wiki.
        assert_eq!(
            site(None, "http://en.wikipedia.org/wiki/Main_Page").wiki_key(),
            site(Some("enwiki"), "https://en.wikipedia.org/wiki/Main_Page").wiki_key()
        );
        assert_eq!(
            site(None, "https://en.wiktionary.org/wiki/W:Main_Page")
                .wiki_key()
                .as_deref(),
            Some("enwiktionary")
        );
        assert_eq!(SiteInfo::default().wiki_key(), None);
    }
}
