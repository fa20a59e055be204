//! The extractive answer (no model): the retrieved sentences that answer, cited `[1]`, `[2]`…
//! in the order the reader meets them, or "I don't know" when none does.

use crate::{Source, prompt};

/// Which sources the answer quotes, in the order it quotes them (at most `max`).
pub(crate) fn choose<'a>(
    _question: &str,
    _language: &str,
    sources: &'a [Source],
    max: usize,
) -> Vec<&'a Source> {
    // The best sentence, then: a sentence from a page an already chosen sentence names
    // ("… Édith Cresson and Élisabeth Borne" → their own articles), else the best sentence
    // of a page not used yet, else the next best.
    let mut by_rank: Vec<&Source> = sources.iter().collect();
    by_rank.sort_by_key(|s| s.rank);
    let mut chosen: Vec<&Source> = Vec::new();
    while chosen.len() < max {
        let text: String = chosen
            .iter()
            .map(|c| c.text.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        let fresh = |s: &&&Source| !chosen.iter().any(|c| c.page_id == s.page_id);
        let named = by_rank.iter().filter(fresh).find(|s| {
            let title = s.title.to_lowercase();
            title.chars().count() >= 4 && text.contains(&title)
        });
        let next = named
            .or_else(|| by_rank.iter().find(fresh))
            .or_else(|| by_rank.iter().find(|s| !chosen.iter().any(|c| c.n == s.n)));
        match next {
            Some(s) => chosen.push(s),
            None => break,
        }
    }
    chosen
}

/// The extractive answer over `sources` (returned as they came) and its text.
pub(crate) fn answer(
    question: &str,
    language: &str,
    sources: Vec<Source>,
    max: usize,
) -> (Vec<Source>, String) {
    let chosen = choose(question, language, &sources, max);
    let text = if chosen.is_empty() {
        prompt::dont_know(language).to_string()
    } else {
        chosen
            .iter()
            .map(|s| format!("{} [{}]", s.text, s.n))
            .collect::<Vec<_>>()
            .join(" ")
    };
    (sources, text)
}
