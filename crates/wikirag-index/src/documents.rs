//! Turning an article or a redirect into the documents of the index: one per sentence (its
//! title words split off into their own field), one for the page, one per redirect alias.
//! Used by a build ([`crate::IndexBuilder`]) and an update ([`crate::IndexUpdater`]) alike, so
//! an updated page is indexed exactly as a rebuilt one.

use crate::facts;
use crate::schema::{self, Fields, KIND_ALIAS, KIND_PAGE, KIND_SENTENCE};
use std::borrow::Cow;
use std::collections::HashSet;
use tantivy::TantivyDocument;
use tantivy::tokenizer::{TextAnalyzer, TokenStream};
use wikirag_core::{Article, Language, SentenceKind};

/// A redirect page.
#[derive(Clone, Copy, Debug)]
pub struct Redirect<'a> {
    pub alias: &'a str,
    pub target: &'a str,
    pub language: &'a Language,
    pub page_id: u64,
    pub revision_id: Option<u64>,
}

/// The documents of an article: one for the page (title lookup, no scored field) and one per
/// sentence.
pub(crate) fn article_documents(f: &Fields, wiki: &str, article: &Article) -> Vec<TantivyDocument> {
    let slot = schema::slot(&article.language);
    let (text_field, title_field) = f.slot_fields(slot);
    // With the analyser and the title's tokens, only where the index has the field.
    let mut title_words = f.title_words_field(slot).map(|field| {
        let mut analyzer = schema::analyzer(slot);
        let tokens = title_tokens(&mut analyzer, &article.title);
        (field, analyzer, tokens)
    });
    let lang = article.language.code();
    let mut docs = Vec::with_capacity(article.sentences.len() + 1);
    let mut page = TantivyDocument::new();
    page.add_text(f.kind, KIND_PAGE);
    page.add_text(f.lang, lang);
    // Page documents carry no scored field: sentence queries need no kind filter.
    page.add_text(f.title, &article.title);
    page.add_text(f.title_key, schema::title_key(&article.title));
    let page_id = f.page_ids.stored(wiki, article.page_id);
    page.add_u64(f.page_id, page_id);
    page.add_text(f.url, &article.url);
    if let Some(rev) = article.revision_id {
        page.add_u64(f.revision_id, rev);
    }
    if let Some(ts) = &article.timestamp {
        page.add_text(f.timestamp, ts);
    }
    page.add_text(f.wiki, wiki);
    docs.push(page);
    for s in &article.sentences {
        let mut doc = TantivyDocument::new();
        doc.add_text(f.kind, KIND_SENTENCE);
        doc.add_text(f.lang, lang);
        doc.add_text(f.text, &s.text);
        // A fact is indexed whole, entity included, with the words people ask for its
        // attribute with (`facts`).
        let indexed = match s.kind {
            SentenceKind::Fact => Cow::Owned(facts::indexed_fact(
                &article.language,
                &article.title,
                &s.text,
            )),
            _ => Cow::Borrowed(s.text.as_str()),
        };
        // The title field scores the page's name once for each of its sentences; its words in
        // the text count apart, so a sentence that repeats the name ("Kenya is a country…")
        // does not outrank, on the name alone, the one that answers ("Its capital is…").
        match title_words.as_mut() {
            Some((field, analyzer, tokens)) => {
                let (rest, repeated) = split_title_words(analyzer, tokens, &indexed);
                doc.add_text(text_field, rest);
                if !repeated.is_empty() {
                    doc.add_text(*field, repeated);
                }
            }
            None => doc.add_text(text_field, indexed),
        }
        doc.add_text(f.title, &article.title);
        doc.add_text(title_field, &article.title);
        doc.add_text(f.section, &s.section);
        doc.add_u64(f.page_id, page_id);
        doc.add_u64(f.sentence, u64::from(s.ordinal));
        doc.add_u64(f.sentence_kind, schema::sentence_kind_code(s.kind));
        if let Some(rev) = article.revision_id {
            doc.add_u64(f.revision_id, rev);
        }
        doc.add_text(f.url, &article.url);
        doc.add_text(f.wiki, wiki);
        docs.push(doc);
    }
    docs
}

/// The analysed tokens of a title (stemmed and folded as its language's text is).
fn title_tokens(analyzer: &mut TextAnalyzer, title: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut stream = analyzer.token_stream(title);
    while stream.advance() {
        out.insert(stream.token().text.clone());
    }
    out
}

/// `text` split in two: everything but its words that the analyser makes into a token of the
/// title (those blanked, the rest kept as written, so "femmes" goes with a title "Femme"), and
/// those words as written, space-separated.
pub(crate) fn split_title_words(
    analyzer: &mut TextAnalyzer,
    title: &HashSet<String>,
    text: &str,
) -> (String, String) {
    let mut rest = String::with_capacity(text.len());
    let mut repeated = String::new();
    let mut copied = 0;
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let token = stream.token();
        if !title.contains(&token.text) {
            continue;
        }
        let (from, to) = (token.offset_from, token.offset_to);
        if from < copied || to > text.len() {
            continue;
        }
        rest.push_str(&text[copied..from]);
        rest.push(' ');
        if !repeated.is_empty() {
            repeated.push(' ');
        }
        repeated.push_str(&text[from..to]);
        copied = to;
    }
    rest.push_str(&text[copied..]);
    (rest, repeated)
}

/// The document of a redirect: its alias finds the target's sentences.
pub(crate) fn redirect_document(f: &Fields, wiki: &str, r: &Redirect<'_>) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.kind, KIND_ALIAS);
    doc.add_text(f.lang, r.language.code());
    doc.add_text(f.title, r.alias);
    doc.add_text(f.alias, r.alias);
    doc.add_text(f.title_key, schema::title_key(r.alias));
    doc.add_text(f.target, r.target);
    if r.page_id != 0 {
        doc.add_u64(f.page_id, f.page_ids.stored(wiki, r.page_id));
    }
    if let Some(rev) = r.revision_id {
        doc.add_u64(f.revision_id, rev);
    }
    doc.add_text(f.wiki, wiki);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_words_are_split_off_as_the_analyser_sees_them() {
        let mut analyzer = schema::analyzer("fr");
        let title = title_tokens(&mut analyzer, "Péninsules de Kola");
        let (rest, words) = split_title_words(
            &mut analyzer,
            &title,
            "La péninsule de Kola borde la mer de Barents (Kolasjoki, «KOLA»).",
        );
        // Whole words, any case or inflection; "de" is a stop word, kept in the text.
        assert_eq!(rest, "La   de   borde la mer de Barents (Kolasjoki, « »).");
        assert_eq!(words, "péninsule Kola KOLA");
        let (rest, words) = split_title_words(&mut analyzer, &title, "");
        assert_eq!((rest.as_str(), words.as_str()), ("", ""));
    }
}
