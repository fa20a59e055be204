//! Which language a question is in (stop-word counts), and the words a search can drop.

/// Question and function words per language, for detection and for the heuristic rewrite.
const STOP: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "a", "an", "of", "in", "on", "at", "to", "is", "was", "were", "are", "be",
            "been", "and", "or", "for", "by", "with", "from", "as", "that", "this", "it", "its",
            "who", "what", "when", "where", "which", "why", "how", "many", "much", "did", "does",
            "do", "has", "have", "had", "there", "their", "they", "he", "she", "his", "her",
            "tell", "me", "about", "please", "can", "you", "whom", "whose",
        ],
    ),
    (
        "fr",
        &[
            "le", "la", "les", "un", "une", "des", "du", "de", "d", "l", "et", "ou", "en", "au",
            "aux", "est", "a", "ont", "été", "qui", "que", "quoi", "quel", "quelle", "quels",
            "quelles", "combien", "comment", "pourquoi", "où", "quand", "dans", "sur", "par",
            "pour", "avec", "ce", "cette", "ces", "il", "elle", "ils", "elles", "son", "sa", "ses",
            "leur", "y", "se", "s", "qu", "occupé", "fut",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "das", "und", "ist", "war", "wer", "was", "wann", "wo", "wie", "viele",
            "ein", "eine", "von", "im", "mit", "den", "dem", "des", "welche", "welcher",
        ],
    ),
    (
        "es",
        &[
            "el", "la", "los", "las", "un", "una", "de", "del", "y", "es", "fue", "quién", "qué",
            "cuándo", "dónde", "cómo", "cuántos", "cuántas", "en", "por", "con", "para",
        ],
    ),
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The language of `text` (a code of [`STOP`]); English when nothing tells.
pub fn detect(text: &str) -> &'static str {
    let lower: Vec<String> = words(&text.to_lowercase());
    let mut best = ("en", 0usize);
    for (code, stops) in STOP {
        let n = lower.iter().filter(|w| stops.contains(&w.as_str())).count();
        if n > best.1 {
            best = (code, n);
        }
    }
    best.0
}

/// Whether `word` (lower case) is a function or question word of `lang`.
pub fn is_stop_word(word: &str, lang: &str) -> bool {
    STOP.iter()
        .find(|(c, _)| *c == lang)
        .is_some_and(|(_, s)| s.contains(&word))
}

/// Keywords of a question: function and question words dropped, names and numbers kept, in
/// order. Returns the question itself when nothing would be left.
pub fn keywords(question: &str, lang: &str) -> String {
    let stops: &[&str] = STOP
        .iter()
        .find(|(c, _)| *c == lang)
        .map_or(&[], |(_, s)| s);
    let kept: Vec<String> = words(question)
        .into_iter()
        .filter(|w| {
            let lower = w.to_lowercase();
            // Elided French articles: "l'État" → "État".
            !stops.contains(&lower.as_str())
        })
        .collect();
    if kept.is_empty() {
        question.trim().to_string()
    } else {
        kept.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_rewrites() {
        let fr = "Combien de femmes ont occupé le poste de Premier ministre en France ?";
        assert_eq!(detect(fr), "fr");
        assert_eq!(keywords(fr, "fr"), "femmes poste Premier ministre France");
        let en = "Who was the first man in space?";
        assert_eq!(detect(en), "en");
        assert_eq!(keywords(en, "en"), "first man space");
        assert_eq!(keywords("Who?", "en"), "Who?");
    }
}
