//! What the agent-facing endpoints (MCP tools, the ColBERT-compatible search) return: hits
//! with a stable id and a link that lands on the sentence, and a hit read again by its id —
//! the sentence with its neighbours, its section or its whole article.

use serde::Serialize;
use serde_json::{Value, json};
use wikirag_core::link::{LinkTarget, sentence_links};
use wikirag_core::{BoxError, Hit};

use crate::Backend;

/// A sentence's id: `PAGE:SENTENCE` (the page's key in the index — its wiki and page id,
/// [`wikirag_core::page_key`] — and the sentence's ordinal in its page), stable for as long
/// as the indexed revision is.
pub(crate) fn id_of(hit: &Hit) -> String {
    format!("{}:{}", hit.page_id, hit.sentence)
}

/// `PAGE:SENTENCE` back to numbers.
pub(crate) fn parse_id(id: &str) -> Result<(u64, u32), String> {
    id.trim()
        .split_once(':')
        .and_then(|(p, s)| Some((p.parse().ok()?, s.parse().ok()?)))
        .ok_or_else(|| {
            format!("unknown id {id:?}: ids look like \"12345:6\", as search returns them")
        })
}

/// The links of `hits` that land on each sentence (revision + text fragment).
pub(crate) fn links(backend: &dyn Backend, hits: &[Hit]) -> Vec<String> {
    let targets: Vec<LinkTarget<'_>> = hits
        .iter()
        .map(|h| LinkTarget {
            url: &h.url,
            revision_id: h.revision_id,
            page_id: h.page_id,
            sentence: h.sentence,
            text: &h.text,
        })
        .collect();
    sentence_links(&targets, |page_id, last| {
        backend.page_sentences(page_id, last).unwrap_or_else(|e| {
            tracing::warn!(page_id, "sentences for links: {e}");
            None
        })
    })
}

/// One search result as agents read it.
#[derive(Serialize)]
pub(crate) struct Found {
    pub id: String,
    pub title: String,
    /// The link that lands on the sentence (the article's URL when none can be made).
    pub url: String,
    pub text: String,
    pub section: String,
    pub score: f32,
}

pub(crate) fn found(backend: &dyn Backend, hits: Vec<Hit>) -> Vec<Found> {
    let links = links(backend, &hits);
    hits.into_iter()
        .zip(links)
        .map(|(h, link)| Found {
            id: id_of(&h),
            url: if link.is_empty() { h.url } else { link },
            title: h.title,
            text: h.text,
            section: h.section,
            score: h.score,
        })
        .collect()
}

/// How much of a page [`fetch`] returns around a sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scope {
    /// The sentence with `context` neighbours on each side.
    Sentence,
    /// The run of sentences of the sentence's section.
    Section,
    /// The whole article (section titles as `## Title` lines).
    Article,
}

pub(crate) const SCOPES: [&str; 3] = ["sentence", "section", "article"];

/// Most characters [`fetch`] returns; the rest is cut at a sentence and said so.
pub(crate) const MAX_FETCH_CHARS: usize = 100_000;

/// Why a fetch found nothing to return.
pub(crate) enum FetchError {
    /// The client's mistake (an id that names no sentence).
    Bad(String),
    /// The index's or the server's.
    Internal(BoxError),
}

impl From<BoxError> for FetchError {
    fn from(e: BoxError) -> FetchError {
        FetchError::Internal(e)
    }
}

/// The document of the search/fetch contract: `{id, title, text, url, metadata}`.
pub(crate) fn fetch(
    backend: &dyn Backend,
    id: &str,
    scope: Scope,
    context: usize,
) -> Result<Value, FetchError> {
    let (page_id, sentence) = parse_id(id).map_err(FetchError::Bad)?;
    let unknown = || FetchError::Bad(format!("unknown id {id:?}: no such sentence in the index"));
    let all = backend
        .page_sentences(page_id, u32::MAX)?
        .ok_or_else(|| FetchError::Internal("this index cannot look sentences up".into()))?;
    let Some(at) = all.iter().position(|(n, _)| *n == sentence) else {
        return Err(unknown());
    };
    let read = |positions: &[(u64, u32)], context: usize| -> Result<Vec<Hit>, FetchError> {
        backend
            .sentences_at(positions, context)?
            .ok_or_else(|| FetchError::Internal("this index cannot look sentences up".into()))
    };
    let hit = read(&[(page_id, sentence)], context.min(10))?
        .pop()
        .ok_or_else(unknown)?;
    let earlier: Vec<&str> = all[..at].iter().map(|(_, t)| t.as_str()).collect();
    let link = wikirag_core::link::sentence_link(&hit.url, hit.revision_id, &hit.text, &earlier);
    let (text, first, last) = match scope {
        Scope::Sentence => {
            let mut parts: Vec<&str> = hit.before.iter().map(String::as_str).collect();
            parts.push(&hit.text);
            parts.extend(hit.after.iter().map(String::as_str));
            let first = sentence.saturating_sub(hit.before.len() as u32);
            (parts.join(" "), first, sentence + hit.after.len() as u32)
        }
        Scope::Section | Scope::Article => {
            let positions: Vec<(u64, u32)> = all.iter().map(|(n, _)| (page_id, *n)).collect();
            let page = read(&positions, 0)?;
            let (lo, hi) = if scope == Scope::Section {
                let same = |h: &Hit| h.section == hit.section;
                let lo = page[..at]
                    .iter()
                    .rposition(|h| !same(h))
                    .map_or(0, |i| i + 1);
                let hi = page[at..]
                    .iter()
                    .position(|h| !same(h))
                    .map_or(page.len(), |i| at + i);
                (lo, hi)
            } else {
                (0, page.len())
            };
            let mut text = String::new();
            let mut section: Option<&str> = (scope == Scope::Section).then_some(&*hit.section);
            for h in &page[lo..hi] {
                if section != Some(&h.section) {
                    if !h.section.is_empty() {
                        text.push_str(if text.is_empty() { "## " } else { "\n\n## " });
                        text.push_str(&h.section);
                        text.push('\n');
                    }
                    section = Some(&h.section);
                } else if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&h.text);
            }
            (text, page[lo].sentence, page[hi - 1].sentence)
        }
    };
    let (text, truncated) = cut(text, MAX_FETCH_CHARS);
    Ok(json!({
        "id": id_of(&hit),
        "title": hit.title,
        "text": text,
        "url": if link.is_empty() { &hit.url } else { &link },
        "metadata": {
            "page_id": wikirag_core::page_id_of_key(page_id),
            "sentence": sentence,
            "sentence_text": hit.text,
            "section": hit.section,
            "revision_id": hit.revision_id,
            "article_url": hit.url,
            "scope": match scope {
                Scope::Sentence => "sentence",
                Scope::Section => "section",
                Scope::Article => "article",
            },
            "first_sentence": first,
            "last_sentence": last,
            "truncated": truncated,
        },
    }))
}

/// `text` cut to at most `max` characters at a sentence end (or a space) when longer.
fn cut(text: String, max: usize) -> (String, bool) {
    let Some((end, _)) = text.char_indices().nth(max) else {
        return (text, false);
    };
    let head = &text[..end];
    let at = head
        .rfind(". ")
        .map(|i| i + 1)
        .or_else(|| head.rfind(' '))
        .unwrap_or(end);
    (format!("{} …", &text[..at]), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_bad_ones_say_what_an_id_looks_like() {
        assert_eq!(parse_id("12345:6"), Ok((12345, 6)));
        assert_eq!(parse_id(" 7:0 "), Ok((7, 0)));
        for bad in [
            "",
            "12345",
            "a:b",
            "1:-2",
            "1:2:3",
            ":",
            "99999999999999999999:1",
        ] {
            let e = parse_id(bad).unwrap_err();
            assert!(e.contains("12345:6"), "{bad}: {e}");
        }
    }

    #[test]
    fn long_text_is_cut_at_a_sentence() {
        let (t, cut_short) = cut("One two. Three four. Five six.".into(), 15);
        assert!(cut_short);
        assert_eq!(t, "One two. …");
        let (t, cut_short) = cut("Short.".into(), 15);
        assert!(!cut_short);
        assert_eq!(t, "Short.");
        let (t, _) = cut("ééééééééééé ééééé".into(), 14);
        assert_eq!(t, "ééééééééééé …");
    }
}
