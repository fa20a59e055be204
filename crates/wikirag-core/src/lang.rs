use serde::{Deserialize, Serialize};
use std::fmt;

/// The language of a wiki, as far as text processing cares.
///
/// Languages with dedicated rules (stemming, abbreviations) have their own variant; every other
/// wiki is [`Language::Other`] with its code, processed with language-neutral rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Language {
    English,
    French,
    German,
    Italian,
    Spanish,
    Portuguese,
    Dutch,
    /// Any other language code (`ltg`, `aa`, …).
    Other(String),
}

impl Language {
    /// Parses a wiki language code such as `en`, `fr`, `simple` or `de`.
    pub fn from_code(code: &str) -> Language {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" | "simple" | "eng" | "english" => Language::English,
            "fr" | "fra" | "fre" | "french" => Language::French,
            "de" | "deu" | "ger" | "german" => Language::German,
            "it" | "ita" | "italian" => Language::Italian,
            "es" | "spa" | "spanish" => Language::Spanish,
            "pt" | "por" | "portuguese" => Language::Portuguese,
            "nl" | "nld" | "dut" | "dutch" => Language::Dutch,
            other => Language::Other(other.to_string()),
        }
    }

    /// Guesses the language from a dump's `<dbname>` (`frwiki`) or `<base>` URL
    /// (`https://fr.wikipedia.org/wiki/...`).
    pub fn from_dbname_or_base(dbname: Option<&str>, base: Option<&str>) -> Option<Language> {
        if let Some(base) = base {
            let host = base
                .split("://")
                .nth(1)
                .unwrap_or(base)
                .split('/')
                .next()
                .unwrap_or("");
            let first = host.split('.').next().unwrap_or("");
            if host.contains(".wiki") && !first.is_empty() && first != "www" {
                return Some(Language::from_code(first));
            }
        }
        let dbname = dbname?;
        for suffix in [
            "wiktionary",
            "wikibooks",
            "wikisource",
            "wikinews",
            "wikiquote",
            "wiki",
        ] {
            if let Some(code) = dbname.strip_suffix(suffix).filter(|c| !c.is_empty()) {
                return Some(Language::from_code(&code.replace('_', "-")));
            }
        }
        None
    }

    /// The short code (`en`, `fr`, …).
    pub fn code(&self) -> &str {
        match self {
            Language::English => "en",
            Language::French => "fr",
            Language::German => "de",
            Language::Italian => "it",
            Language::Spanish => "es",
            Language::Portuguese => "pt",
            Language::Dutch => "nl",
            Language::Other(code) => code,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl From<Language> for String {
    fn from(lang: Language) -> String {
        lang.code().to_string()
    }
}

impl From<String> for Language {
    fn from(code: String) -> Language {
        Language::from_code(&code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_from_site_info() {
        let check = |db: Option<&str>, base: Option<&str>, want: Option<&str>| {
            assert_eq!(
                Language::from_dbname_or_base(db, base).map(|l| l.code().to_string()),
                want.map(str::to_string),
                "{db:?} {base:?}"
            );
        };
        check(Some("frwiki"), None, Some("fr"));
        check(
            None,
            Some("https://fr.wikipedia.org/wiki/Wikip%C3%A9dia"),
            Some("fr"),
        );
        check(
            None,
            Some("http://en.wikipedia.org/wiki/Main_Page"),
            Some("en"),
        );
        check(Some("enwiktionary"), None, Some("en"));
        check(Some("ltgwiki"), None, Some("ltg"));
        check(None, None, None);
        assert_eq!(Language::from_code("simple"), Language::English);
    }
}
