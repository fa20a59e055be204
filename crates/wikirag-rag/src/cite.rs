//! Citation checks: `[n]` must name a source that was sent; a quoted span must occur in the
//! source it cites.

use crate::{Citation, Source};
use unicode_normalization::UnicodeNormalization;

/// The answer with invalid citations removed, the valid ones, and what was removed and why.
#[derive(Clone, Debug, PartialEq)]
pub struct CitationCheck {
    pub text: String,
    pub citations: Vec<Citation>,
    pub invalid: Vec<String>,
}

fn fold(s: &str) -> String {
    s.nfkc()
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `[n]` / `[n, m]` marker at byte `start..end` with its numbers.
struct Marker {
    start: usize,
    end: usize,
    numbers: Vec<usize>,
}

fn markers(text: &str) -> Vec<Marker> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'['
            && let Some(close) = text[i + 1..].find(']')
        {
            let inner = &text[i + 1..i + 1 + close];
            let numbers: Option<Vec<usize>> = inner
                .split([',', ';'])
                .map(|p| p.trim().parse::<usize>().ok())
                .collect();
            if let Some(numbers) = numbers.filter(|n| !n.is_empty()) {
                out.push(Marker {
                    start: i,
                    end: i + 2 + close,
                    numbers,
                });
                i += close + 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Source text with its own bracketed numbers ("[1]", "[2, 3]": reference markers, legal or
/// mathematical notation) turned into parentheses, so text quoted from a source can never
/// pass for a citation of another source.
pub fn defuse_markers(text: &str) -> String {
    let found = markers(text);
    if found.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in found {
        out.push_str(&text[last..m.start]);
        out.push('(');
        out.push_str(&text[m.start + 1..m.end - 1]);
        out.push(')');
        last = m.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Quoted spans ("…", “…”, «…») and the byte where each ends.
fn quotes(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let pairs = [('"', '"'), ('“', '”'), ('«', '»')];
    for (open, close) in pairs {
        let mut rest = 0;
        while let Some(s) = text[rest..].find(open) {
            let start = rest + s + open.len_utf8();
            let Some(e) = text[start..].find(close) else {
                break;
            };
            let span = text[start..start + e].trim().trim_matches('\u{a0}').trim();
            let end = start + e + close.len_utf8();
            if span.chars().count() >= 3 {
                out.push((span.to_string(), end));
            }
            rest = end;
        }
    }
    out
}

/// Checks the citations of `answer` against the `sources` that were sent.
pub fn check_citations(answer: &str, sources: &[Source]) -> CitationCheck {
    let by_n = |n: usize| sources.iter().find(|s| s.n == n);
    let found = markers(answer);
    let quoted = quotes(answer);
    let mut invalid = Vec::new();
    // Markers to drop (by index), numbers to drop within a kept marker.
    let mut keep_numbers: Vec<Vec<usize>> = Vec::with_capacity(found.len());
    for m in &found {
        let mut keep = Vec::new();
        // The quote this marker closes: the last one ending before it, in the same sentence.
        let quote = quoted
            .iter()
            .filter(|(_, end)| *end <= m.start)
            .filter(|(_, end)| !answer[*end..m.start].contains(['.', '!', '?', '\n']))
            .max_by_key(|(_, end)| *end);
        for &n in &m.numbers {
            match by_n(n) {
                None => invalid.push(format!("[{n}] does not refer to a source that was sent")),
                Some(source) => {
                    if let Some((span, _)) = quote {
                        let haystack = fold(&format!(
                            "{} {} {}",
                            source.before.join(" "),
                            source.text,
                            source.after.join(" ")
                        ));
                        if !haystack.contains(&fold(span)) {
                            invalid.push(format!("[{n}] does not contain the quoted \"{span}\""));
                            continue;
                        }
                    }
                    keep.push(n);
                }
            }
        }
        keep_numbers.push(keep);
    }
    // Rebuild the text.
    let mut text = String::with_capacity(answer.len());
    let mut last = 0;
    let mut cited: Vec<usize> = Vec::new();
    for (m, keep) in found.iter().zip(&keep_numbers) {
        text.push_str(&answer[last..m.start]);
        if !keep.is_empty() {
            text.push_str(&keep.iter().map(|n| format!("[{n}]")).collect::<String>());
        } else if text.ends_with(' ') {
            text.pop();
        }
        for n in keep {
            if !cited.contains(n) {
                cited.push(*n);
            }
        }
        last = m.end;
    }
    text.push_str(&answer[last..]);
    let citations = cited
        .into_iter()
        .filter_map(by_n)
        .map(|s| Citation {
            n: s.n,
            title: s.title.clone(),
            section: s.section.clone(),
            url: s.url.clone(),
            link: s.link.clone(),
            page_id: s.page_id,
            sentence: s.sentence,
            text: s.text.clone(),
        })
        .collect();
    CitationCheck {
        text,
        citations,
        invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: usize, text: &str) -> Source {
        Source {
            n,
            title: format!("T{n}"),
            section: String::new(),
            url: String::new(),
            link: String::new(),
            revision_id: None,
            page_id: n as u64,
            sentence: 0,
            text: text.to_string(),
            before: vec![],
            after: vec![],
            score: 1.0,
            rank: n,
        }
    }

    #[test]
    fn invalid_numbers_and_quotes_are_removed() {
        let sources = [
            source(1, "Yuri Gagarin was the first human in space."),
            source(2, "Vostok 1 launched on 12 April 1961."),
        ];
        let check = check_citations(
            "Gagarin was \"the first human in space\" [1]. It flew in 1961 [2, 7]. Also [9].",
            &sources,
        );
        assert_eq!(
            check.text,
            "Gagarin was \"the first human in space\" [1]. It flew in 1961 [2]. Also."
        );
        assert_eq!(check.citations.len(), 2);
        assert_eq!(check.invalid.len(), 2, "{:?}", check.invalid);

        let check = check_citations("He said “the first dog in space” [1].", &sources);
        assert!(check.citations.is_empty());
        assert!(check.invalid[0].contains("quoted"), "{:?}", check.invalid);

        // Not citations: [a], [], a lone bracket.
        let check = check_citations("See [a] and [] and [ 1 ] [", &sources);
        assert_eq!(check.citations.len(), 1);
        assert!(check.invalid.is_empty());
    }
}
