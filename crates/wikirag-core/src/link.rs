//! Links that land on a sentence: the revision that was indexed, and a [Text Fragment]
//! (`#:~:text=start,end`) that makes the browser scroll to the sentence and highlight it.
//!
//! The words are chosen to survive rendering: the page a browser shows differs from the
//! cleaned text (reference markers such as `[12]` after punctuation, numbers and units from
//! templates), so the start is the sentence's first words up to the first punctuation mark and
//! the end its last words after the last one, words with digits or brackets left out.
//!
//! [Text Fragment]: https://wicg.github.io/scroll-to-text-fragment/

/// A sentence to link to: its article, revision, place in the page and text.
#[derive(Clone, Copy, Debug)]
pub struct LinkTarget<'a> {
    pub url: &'a str,
    pub revision_id: Option<u64>,
    pub page_id: u64,
    pub sentence: u32,
    pub text: &'a str,
}

/// [`sentence_link`] for each target, the earlier sentences of each page read once through
/// `page_sentences(page_id, last)` (a page's sentences `0..=last`, numbered; `None` when they
/// cannot be had: the link is then chosen from the sentence alone).
pub fn sentence_links(
    targets: &[LinkTarget<'_>],
    mut page_sentences: impl FnMut(u64, u32) -> Option<Vec<(u32, String)>>,
) -> Vec<String> {
    let mut last: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    for t in targets.iter().filter(|t| !t.url.is_empty()) {
        let e = last.entry(t.page_id).or_insert(t.sentence);
        *e = (*e).max(t.sentence);
    }
    let pages: std::collections::HashMap<u64, Vec<(u32, String)>> = last
        .into_iter()
        .map(|(page_id, last)| (page_id, page_sentences(page_id, last).unwrap_or_default()))
        .collect();
    targets
        .iter()
        .map(|t| {
            let texts = pages.get(&t.page_id).map(Vec::as_slice).unwrap_or_default();
            let earlier: Vec<&str> = texts
                .iter()
                .filter(|(n, _)| *n < t.sentence)
                .map(|(_, text)| text.as_str())
                .collect();
            let text = texts
                .iter()
                .find(|(n, _)| *n == t.sentence)
                .map_or(t.text, |(_, text)| text.as_str());
            sentence_link(t.url, t.revision_id, text, &earlier)
        })
        .collect()
}

/// Words taken from each end of a sentence.
const WORDS: usize = 4;
/// A sentence of at most this many words is matched by its start alone.
const SHORT: usize = 2 * WORDS;

/// The link to `sentence` of the article at `article_url` (`https://host/wiki/Title`): the
/// revision `revision_id` when known (`https://host/w/index.php?title=Title&oldid=REV`), and
/// a text fragment for the sentence when one can be chosen. Empty without an article URL.
///
/// The browser scrolls to the first place its start words occur: `earlier`, the sentences of
/// the page before this one, lets the start be chosen so that it occurs nowhere before (give
/// them whenever they are at hand; without them a sentence that begins like an earlier one
/// gets a link to that one).
pub fn sentence_link(
    article_url: &str,
    revision_id: Option<u64>,
    sentence: &str,
    earlier: &[&str],
) -> String {
    if article_url.is_empty() {
        return String::new();
    }
    let page = match (revision_id, article_url.find("/wiki/")) {
        (Some(rev), Some(i)) => {
            let title = &article_url[i + "/wiki/".len()..];
            format!(
                "{}/w/index.php?title={title}&oldid={rev}",
                &article_url[..i]
            )
        }
        _ => article_url.to_string(),
    };
    match text_fragment(sentence, earlier) {
        Some(fragment) => format!("{page}#:~:text={fragment}"),
        None => page,
    }
}

/// A plain word of a sentence: its byte offset and its text without trailing punctuation.
#[derive(Clone, Copy)]
struct Word<'a> {
    at: usize,
    text: &'a str,
}

/// The `text=` value for `sentence` (`start,end` or `start`, percent-encoded), or `None` when
/// it has no run of plain words.
///
/// The start is the earliest run of words (four, more when needed, runs of two words or more
/// first) that occurs neither in `earlier` nor before it in the sentence; the end is the last
/// four words of the last run after it, left out when they also occur between the two (the
/// browser would stop there). `None` too when every start would occur in `earlier`.
pub fn text_fragment(sentence: &str, earlier: &[&str]) -> Option<String> {
    let runs = plain_runs(sentence);
    if runs.is_empty() {
        return None;
    }
    let before_sentence = earlier.join(" \n ").to_lowercase();
    let joined = |ws: &[Word<'_>]| ws.iter().map(|w| w.text).collect::<Vec<_>>().join(" ");
    let unique = |ws: &[Word<'_>]| {
        let needle = joined(ws).to_lowercase();
        !occurs(&before_sentence, &needle) && !occurs(&sentence[..ws[0].at].to_lowercase(), &needle)
    };
    // (run, first word, words): runs of two words or more first, then any.
    let mut start: Option<(usize, usize, usize)> = None;
    'passes: for min_run in [2, 1] {
        for (ri, run) in runs.iter().enumerate() {
            if run.len() < min_run {
                continue;
            }
            for p in 0..run.len() {
                let left = run.len() - p;
                for len in left.min(WORDS)..=left.min(SHORT) {
                    if unique(&run[p..p + len]) {
                        start = Some((ri, p, len));
                        break 'passes;
                    }
                }
            }
        }
    }
    // No words of the sentence occur nowhere before it (a table row or a fact repeating
    // names said earlier): a fragment would land on an earlier sentence, so there is none.
    // Without the earlier sentences, the first words are the best guess.
    let (ri, p, len) = match start {
        Some(found) => found,
        None if earlier.is_empty() => {
            let ri = runs.iter().position(|r| r.len() >= 2).unwrap_or(0);
            (ri, 0, runs[ri].len().min(WORDS))
        }
        None => return None,
    };
    let start = &runs[ri][p..p + len];
    let start_end = start[len - 1].at + start[len - 1].text.len();
    let end: &[Word<'_>] = {
        let later = runs
            .iter()
            .enumerate()
            .skip(ri + 1)
            .rev()
            .find(|(_, r)| r.len() >= 2)
            .or_else(|| runs.iter().enumerate().skip(ri + 1).next_back());
        match later {
            Some((_, r)) => &r[r.len().saturating_sub(WORDS)..],
            // The same run, when enough words follow the start.
            None if runs[ri].len() - (p + len) >= WORDS => &runs[ri][runs[ri].len() - WORDS..],
            None => &[],
        }
    };
    let end = if end.is_empty()
        || occurs(
            &sentence[start_end..end[0].at].to_lowercase(),
            &joined(end).to_lowercase(),
        ) {
        &[]
    } else {
        end
    };
    let mut out = encode(&joined(start));
    if !end.is_empty() {
        out.push(',');
        out.push_str(&encode(&joined(end)));
    }
    Some(out)
}

/// Whether `needle` occurs in `haystack` as whole words (what the browser matches).
fn occurs(haystack: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(i) = haystack[from..].find(needle) {
        let at = from + i;
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
            return true;
        }
        from = at + needle.chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Runs of consecutive plain words (letters, inner hyphens and apostrophes), split where a
/// word carries punctuation (a reference marker may follow it on the rendered page), digits or
/// brackets. Trailing punctuation is cut from the word that ends a run.
fn plain_runs(sentence: &str) -> Vec<Vec<Word<'_>>> {
    let mut runs: Vec<Vec<Word<'_>>> = Vec::new();
    let mut run: Vec<Word<'_>> = Vec::new();
    let base = sentence.as_ptr() as usize;
    for word in sentence.split_whitespace() {
        let at = word.as_ptr() as usize - base;
        let core = word.trim_end_matches(|c: char| !c.is_alphanumeric());
        let plain = !core.is_empty()
            && core
                .chars()
                .all(|c| c.is_alphabetic() || c == '-' || c == '\'' || c == '’')
            && core.chars().next().is_some_and(char::is_alphabetic);
        if !plain {
            if !run.is_empty() {
                runs.push(std::mem::take(&mut run));
            }
            continue;
        }
        run.push(Word { at, text: core });
        if core.len() != word.len() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Percent-encoding for a text directive: everything but ASCII letters, digits and `._~`
/// (the spec requires at least `&`, `-` and `,`, which delimit the directive's parts).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_the_revision_and_the_sentence() {
        let s = "Valentina Tereshkova is a retired Russian cosmonaut, engineer and politician who was the first woman in space.";
        assert_eq!(
            sentence_link(
                "https://en.wikipedia.org/wiki/Valentina_Tereshkova",
                Some(42),
                s,
                &[]
            ),
            "https://en.wikipedia.org/w/index.php?title=Valentina_Tereshkova&oldid=42\
             #:~:text=Valentina%20Tereshkova%20is%20a,first%20woman%20in%20space"
        );
        // No revision: the article; no article URL: nothing.
        assert!(
            sentence_link("https://en.wikipedia.org/wiki/X", None, s, &[])
                .starts_with("https://en.wikipedia.org/wiki/X#:~:text=")
        );
        assert_eq!(sentence_link("", Some(1), s, &[]), "");
    }

    #[test]
    fn the_start_occurs_nowhere_before_the_sentence() {
        let earlier = [
            "Michel Debré, the first holder, was appointed by Charles de Gaulle.",
            "Georges Pompidou, his successor, served for six years.",
        ];
        // "Michel Debré" alone would match the first sentence (the browser ignores the
        // comma): four words are unique here; past a repeated name, the start moves on.
        assert_eq!(
            text_fragment(
                "Michel Debré is remembered for drafting the constitution of the republic.",
                &earlier
            )
            .unwrap(),
            "Michel%20Debr%C3%A9%20is%20remembered,constitution%20of%20the%20republic"
        );
        assert_eq!(
            text_fragment(
                "Georges Pompidou, later president, died in office.",
                &earlier
            )
            .unwrap(),
            "later%20president,died%20in%20office"
        );
        // A row repeating names said before has no words of its own: no fragment (it would
        // land on the earlier sentence; the browser matches without regard to case).
        assert_eq!(
            text_fragment(
                "Name: Georges Pompidou; Start: 1962",
                &["Georges Pompidou succeeded him.", "name and start."]
            ),
            None
        );
        assert!(occurs("michel debré, the first", "michel debré"));
        assert!(!occurs("michel debréa", "michel debré"));
        assert!(!occurs("xmichel debré", "michel debré"));
    }

    #[test]
    fn fragments_avoid_numbers_punctuation_and_encode_delimiters() {
        // Start stops at the comma (a marker may follow it), numbers are left out.
        assert_eq!(
            text_fragment(
                "In 1963, aged 26, she flew Vostok 6 alone, orbiting the Earth forty-eight times over three days.",
                &[]
            )
            .unwrap(),
            "she%20flew%20Vostok,times%20over%20three%20days"
        );
        // French, with accents and an apostrophe.
        assert_eq!(
            text_fragment(
                "Édith Cresson est la première femme à occuper le poste de Premier ministre.",
                &[]
            )
            .unwrap(),
            "%C3%89dith%20Cresson%20est%20la,poste%20de%20Premier%20ministre"
        );
        // Short: the start alone.
        assert_eq!(
            text_fragment("Paris is big.", &[]).unwrap(),
            "Paris%20is%20big"
        );
        assert_eq!(text_fragment("1963 – 1997", &[]), None);
        // The delimiters of the directive are encoded.
        assert_eq!(encode("a-b,c&d é"), "a%2Db%2Cc%26d%20%C3%A9");
        assert_eq!(
            text_fragment("Rock-and-roll is loud", &[]).unwrap(),
            "Rock%2Dand%2Droll%20is%20loud"
        );
    }
}
