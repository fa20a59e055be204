//! The extractive answer (no model): the retrieved sentences that answer, cited `[1]`, `[2]`…
//! in the order the reader meets them, or "I don't know" when none does.

use crate::{Source, prompt};
use std::collections::HashSet;

/// Which sources the answer quotes, in the order it quotes them (at most `max`). Decided on
/// whole dev sets (benches/RESULTS.md, "Extractive answers"), not per question:
///
/// - Nothing when the best sentence — with its title and neighbours — shares no word of the
///   question (compared by their first five letters, accents and case folded): the sources
///   found do not answer.
/// - When another sentence holds more of the question's words (in its text or title) than
///   the best one, it goes first and the best one second: "How many women have been Prime
///   Minister?" is answered by the sentence about women, not by an infobox line that only
///   says "Prime Minister".
/// - Else the best sentence alone when the evidence agrees on it: both searches (the question
///   and its keyword rewrite) rank it first (`top_agreed`) and the question names its page.
/// - Else the two best. Also when the best is its page's first sentence and the second comes
///   from the same page: a lead sentence introduces ("Alpha Centauri is the nearest star
///   system") and the next one answers ("It is 4.37 light-years from the Sun").
pub(crate) fn choose<'a>(
    question: &str,
    language: &str,
    sources: &'a [Source],
    top_agreed: bool,
    max: usize,
) -> Vec<&'a Source> {
    let mut by_rank: Vec<&Source> = sources.iter().collect();
    by_rank.sort_by_key(|s| s.rank);
    let Some(&best) = by_rank.first() else {
        return Vec::new();
    };
    let asked: Vec<String> = words(question)
        .into_iter()
        .filter(|w| !crate::lang::is_stop_word(w, language))
        .collect();
    let stems: HashSet<String> = asked.iter().map(|w| stem(w)).collect();
    let context = best.before.iter().chain(&best.after);
    if !holds_a_word(&stems, [&best.text, &best.title].into_iter().chain(context)) {
        return Vec::new();
    }
    let covered = |s: &Source| {
        let found: HashSet<String> = [&s.text, &s.title]
            .into_iter()
            .flat_map(|t| words(t))
            .map(|w| stem(&w))
            .collect();
        stems.intersection(&found).count()
    };
    let widest = by_rank
        .iter()
        .copied()
        .max_by_key(|s| (covered(s), std::cmp::Reverse(s.rank)))
        .unwrap_or(best);
    if widest.n != best.n {
        let mut chosen = vec![widest, best];
        chosen.truncate(max);
        return chosen;
    }
    let named = {
        // "Canton (Chine)" is named by "Canton".
        let title: Vec<String> = words(short_title(&best.title))
            .into_iter()
            .filter(|w| !crate::lang::is_stop_word(w, language))
            .collect();
        !title.is_empty() && title.iter().all(|w| asked.contains(w))
    };
    let lead_then_page = by_rank
        .get(1)
        .is_some_and(|second| best.sentence == 0 && second.page_id == best.page_id);
    let n = if top_agreed && named && !lead_then_page {
        1
    } else {
        2
    };
    by_rank.truncate(n.min(max));
    by_rank
}

/// A title without its disambiguation: "Canton (Chine)" → "Canton".
fn short_title(title: &str) -> &str {
    title.split(" (").next().unwrap_or(title)
}

/// How a quoted sentence reads in the answer: led by its page's title when it has no word of
/// it, by stem ("Gagarin flew first" names "Yuri Gagarin"; "He won two Olympic gold medals"
/// becomes "Haile Gebrselassie — He won…"), so the answer says who or what it is about
/// without the reader opening the source.
fn quote(s: &Source, language: &str) -> String {
    let title = short_title(&s.title);
    let said: HashSet<String> = words(&s.text).iter().map(|w| stem(w)).collect();
    let title_words: Vec<String> = words(title)
        .into_iter()
        .filter(|w| !crate::lang::is_stop_word(w, language))
        .collect();
    if title_words.is_empty() || title_words.iter().any(|w| said.contains(&stem(w))) {
        format!("{} [{}]", s.text, s.n)
    } else {
        format!("{title} — {} [{}]", s.text, s.n)
    }
}

/// The first five letters of a word: "assassiné" meets "assassinat", "painted" "painter".
fn stem(word: &str) -> String {
    word.chars().take(5).collect()
}

/// Whether `texts` hold a word whose stem is in `stems`.
fn holds_a_word<'t>(stems: &HashSet<String>, texts: impl IntoIterator<Item = &'t String>) -> bool {
    texts
        .into_iter()
        .flat_map(|t| words(t))
        .any(|w| stems.contains(&stem(&w)))
}

/// Words of `text`, accents and case folded.
fn words(text: &str) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = text
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The extractive answer over `sources`: the sources renumbered so that the quoted ones come
/// first, `[1]`, `[2]`… in the order the answer quotes them (the others after, in their
/// order), and the answer's text.
pub(crate) fn answer(
    question: &str,
    language: &str,
    sources: Vec<Source>,
    top_agreed: bool,
    max: usize,
) -> (Vec<Source>, String) {
    let order: Vec<usize> = choose(question, language, &sources, top_agreed, max)
        .iter()
        .map(|s| s.n)
        .collect();
    if order.is_empty() {
        return (sources, prompt::dont_know(language).to_string());
    }
    let (mut quoted, rest): (Vec<Source>, Vec<Source>) =
        sources.into_iter().partition(|s| order.contains(&s.n));
    quoted.sort_by_key(|s| order.iter().position(|&n| n == s.n));
    let mut sources = quoted;
    sources.extend(rest);
    for (i, s) in sources.iter_mut().enumerate() {
        s.n = i + 1;
    }
    let text = sources[..order.len()]
        .iter()
        .map(|s| quote(s, language))
        .collect::<Vec<_>>()
        .join(" ");
    (sources, text)
}
