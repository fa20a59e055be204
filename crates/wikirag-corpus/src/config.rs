//! The parse_wiki_text configuration for a wiki, built from its `<siteinfo>` and language.

use parse_wiki_text_2::{Configuration, ConfigurationSource};
use wikirag_core::{Language, SiteInfo};

pub(crate) const EXTENSION_TAGS: &[&str] = &[
    "categorytree",
    "ce",
    "charinsert",
    "chem",
    "gallery",
    "graph",
    "hiero",
    "imagemap",
    "indicator",
    "inputbox",
    "mapframe",
    "maplink",
    "math",
    "nowiki",
    "poem",
    "pre",
    "ref",
    "references",
    "score",
    "section",
    "source",
    "syntaxhighlight",
    "templatedata",
    "timeline",
    "templatestyles",
    "includeonly",
    "noinclude",
    "onlyinclude",
];

const MAGIC_WORDS: &[&str] = &[
    "DISAMBIG",
    "FORCETOC",
    "HIDDENCAT",
    "INDEX",
    "NEWSECTIONLINK",
    "NOCC",
    "NOCOLLABORATIONHUBTOC",
    "NOCONTENTCONVERT",
    "NOEDITSECTION",
    "NOGALLERY",
    "NOGLOBAL",
    "NOINDEX",
    "NONEWSECTIONLINK",
    "NOTC",
    "NOTITLECONVERT",
    "NOTOC",
    "STATICREDIRECT",
    "TOC",
    "SOMMAIRE",
    "AUCUNSOMMAIRE",
    "FORCERSOMMAIRE",
    "HOMONYMIE",
];

pub(crate) const PROTOCOLS: &[&str] = &[
    "//",
    "bitcoin:",
    "ftp://",
    "ftps://",
    "geo:",
    "git://",
    "gopher://",
    "http://",
    "https://",
    "irc://",
    "ircs://",
    "magnet:",
    "mailto:",
    "mms://",
    "news:",
    "nntp://",
    "redis://",
    "sftp://",
    "sip:",
    "sips:",
    "sms:",
    "ssh://",
    "svn://",
    "tel:",
    "telnet://",
    "urn:",
    "worldwind://",
    "xmpp:",
];

/// The file namespace names of a wiki, lower-case: from the dump (French `fichier`), plus the
/// names every wiki accepts and the language's usual ones.
pub(crate) fn file_namespaces(site: &SiteInfo, lang: &Language) -> Vec<String> {
    namespaces(site, lang).1
}

/// Category and file namespace names, lower-case, sorted, without duplicates.
fn namespaces(site: &SiteInfo, lang: &Language) -> (Vec<String>, Vec<String>) {
    let mut categories: Vec<String> = vec!["category".into()];
    let mut files: Vec<String> = vec!["file".into(), "image".into(), "media".into()];
    if let Some(name) = site.namespace_name(14) {
        categories.push(name.to_lowercase());
    }
    for key in [6, -2] {
        if let Some(name) = site.namespace_name(key) {
            files.push(name.to_lowercase());
        }
    }
    match lang {
        Language::French => {
            categories.push("catégorie".into());
            files.extend(["fichier", "image", "média"].map(String::from));
        }
        Language::German => {
            categories.push("kategorie".into());
            files.extend(["datei", "bild"].map(String::from));
        }
        Language::Italian => {
            categories.push("categoria".into());
            files.push("immagine".into());
        }
        Language::Spanish | Language::Portuguese => {
            categories.push("categoría".into());
            categories.push("categoria".into());
            files.extend(["archivo", "imagen", "ficheiro", "arquivo", "imagem"].map(String::from));
        }
        _ => {}
    }
    categories.sort();
    categories.dedup();
    files.sort();
    files.dedup();
    (categories, files)
}

/// Builds the parser configuration: category and file namespace names come from the dump (so
/// French `Catégorie:` and `Fichier:` are understood), plus the English names every wiki accepts.
pub fn parser_configuration(site: &SiteInfo, lang: &Language) -> Configuration {
    let (categories, files) = namespaces(site, lang);
    let categories: Vec<&str> = categories.iter().map(String::as_str).collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let link_trail = match lang {
        Language::English | Language::Other(_) => {
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        }
        _ => {
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzàâçéèêëîïôœùûüÿæÀÂÇÉÈÊËÎÏÔŒÙÛÜŸÆäöüßÄÖÜáíóúñãõ"
        }
    };
    let redirect: &[&str] = &[
        "#redirect",
        "#redirection",
        "#weiterleitung",
        "#rinvia",
        "#redirección",
    ];
    Configuration::new(&ConfigurationSource {
        category_namespaces: &categories,
        extension_tags: EXTENSION_TAGS,
        file_namespaces: &files,
        link_trail,
        magic_words: MAGIC_WORDS,
        protocols: PROTOCOLS,
        redirect_magic_words: redirect,
    })
}
