//! Sentence splitting: Unicode sentence boundaries (UAX #29) corrected by language rules for
//! abbreviations and initials, and a hard length cap for runs without punctuation.

use unicode_segmentation::UnicodeSegmentation;
use wikirag_core::Language;

/// Sentences longer than this (in bytes) are cut at `;`, `,` or a space.
pub const MAX_SENTENCE_BYTES: usize = 600;

const EN_ABBREV: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "v", "c", "ca", "cf", "no", "nos",
    "vol", "vols", "pp", "p", "fig", "figs", "gen", "col", "lt", "sgt", "capt", "cmdr", "adm",
    "gov", "sen", "rep", "rev", "hon", "mt", "ft", "inc", "ltd", "co", "corp", "bros", "jan",
    "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx", "est",
    "b", "d", "r", "fl", "ed", "eds", "trans", "al", "op", "ch", "sec", "dept", "univ", "assn",
    "e.g", "i.e", "u.s", "u.k", "u.n", "a.d", "b.c.e", "c.e", "ph.d", "d.c", "n.b", "a.k.a",
];

const FR_ABBREV: &[&str] = &[
    "m", "mm", "mme", "mmes", "mlle", "mlles", "dr", "pr", "me", "mgr", "st", "ste", "av", "apr",
    "cf", "env", "p", "pp", "vol", "n", "no", "chap", "éd", "coll", "dir", "hab", "min", "max",
    "s", "ss", "t", "vers", "etc.-", "boul", "bd", "fig", "id", "ibid", "op", "cit", "art", "janv",
    "févr", "avr", "juil", "sept", "oct", "nov", "déc", "c", "ca", "gal", "cdt", "lt", "cap",
    "sgt", "r.-v", "j.-b", "j.-p", "j.-m", "j.-j", "j.-l", "p.-s",
];

fn is_abbreviation(before: &str, lang: &Language) -> bool {
    let token = before
        .rsplit(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '«' | '"' | '“' | '\''))
        .next()
        .unwrap_or("");
    let Some(word) = token.strip_suffix('.') else {
        return false;
    };
    if word.is_empty() {
        return false;
    }
    // An initial: "J." in "John F. Kennedy" or "J. R. R. Tolkien".
    let mut chars = word.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && c.is_alphabetic()
        && c.is_uppercase()
    {
        return true;
    }
    let lower = word.to_lowercase();
    // French "av. J.-C." ends many sentences: never an abbreviation on its own.
    if lower == "j.-c" {
        return false;
    }
    let list = match lang {
        Language::French => FR_ABBREV,
        Language::English => EN_ABBREV,
        _ => &[][..],
    };
    if list.contains(&lower.as_str()) {
        return true;
    }
    // Dotted acronyms: "U.S", "e.g", "R.-U".
    lower.contains('.')
        && lower
            .split(['.', '-'])
            .all(|seg| seg.chars().count() <= 2 && seg.chars().all(char::is_alphabetic))
}

/// Splits a paragraph into sentences.
pub fn split_sentences(text: &str, lang: &Language) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for piece in text.split_sentence_bounds() {
        current.push_str(piece);
        let trimmed = current.trim_end();
        if trimmed.is_empty() {
            continue;
        }
        if is_abbreviation(trimmed, lang) {
            continue;
        }
        push_sentence(&mut out, trimmed);
        current.clear();
    }
    let trimmed = current.trim();
    if !trimmed.is_empty() {
        push_sentence(&mut out, trimmed);
    }
    out
}

fn push_sentence(out: &mut Vec<String>, s: &str) {
    let s = s.trim();
    if !s.chars().any(char::is_alphanumeric) {
        // Punctuation alone: glue it to the previous sentence, if any.
        if let Some(last) = out.last_mut() {
            last.push_str(s);
        }
        return;
    }
    if s.len() <= MAX_SENTENCE_BYTES {
        out.push(s.to_string());
        return;
    }
    let mut rest = s;
    while rest.len() > MAX_SENTENCE_BYTES {
        let window = &rest[..floor_char_boundary(rest, MAX_SENTENCE_BYTES)];
        let half = window.len() / 2;
        let cut = ["; ", ", ", " "]
            .iter()
            .find_map(|sep| {
                window
                    .rfind(sep)
                    .filter(|&i| i >= half)
                    .map(|i| i + sep.len())
            })
            .unwrap_or(window.len());
        let (head, tail) = rest.split_at(cut);
        out.push(head.trim().to_string());
        rest = tail.trim_start();
    }
    if rest.chars().any(char::is_alphanumeric) {
        out.push(rest.to_string());
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lang: Language, text: &str, expect: &[&str]) {
        assert_eq!(split_sentences(text, &lang), expect, "{text}");
    }

    #[test]
    fn english_abbreviations_and_initials() {
        check(
            Language::English,
            "Dr. Smith moved to the U.S. in 1990. He died c. 2001. John F. Kennedy was shot.",
            &[
                "Dr. Smith moved to the U.S. in 1990.",
                "He died c. 2001.",
                "John F. Kennedy was shot.",
            ],
        );
        check(
            Language::English,
            "J. R. R. Tolkien wrote it. It sold well!",
            &["J. R. R. Tolkien wrote it.", "It sold well!"],
        );
    }

    #[test]
    fn french_abbreviations() {
        check(
            Language::French,
            "M. Dupont est né en 52 av. J.-C. Il est mort. Mme Curie aussi.",
            &[
                "M. Dupont est né en 52 av. J.-C.",
                "Il est mort.",
                "Mme Curie aussi.",
            ],
        );
    }

    #[test]
    fn long_runs_are_cut() {
        let long = "alpha beta, ".repeat(200);
        let parts = split_sentences(&long, &Language::English);
        assert!(parts.len() > 3);
        assert!(
            parts.iter().all(|p| p.len() <= MAX_SENTENCE_BYTES),
            "{parts:?}"
        );
        assert_eq!(parts.concat().replace(' ', ""), long.replace(' ', ""));
        let no_space = "é".repeat(1000);
        let parts = split_sentences(&no_space, &Language::French);
        assert!(parts.iter().all(|p| p.len() <= MAX_SENTENCE_BYTES));
        assert_eq!(parts.concat(), no_space);
    }
}
