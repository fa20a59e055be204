//! A follow-up in a conversation ("When did he fly?") made into a question that can be
//! searched alone ("When did he fly? (Charles Lindbergh)").
//!
//! The heuristic decides whether the last question leans on the conversation: it refers back
//! (a third-person pronoun or a demonstrative) or names nothing (no capitalised word past the
//! first, no number). Only then is it rewritten: by the model when there is one and its
//! answer is usable, else by adding the names of the latest earlier question that has any.

use crate::lang;
use wikirag_core::{ChatMessage, Llm, LlmError, LlmRequest};

/// One message of a conversation.
#[derive(Clone, Copy, Debug)]
pub struct Turn<'a> {
    /// "user", "assistant" (others are ignored).
    pub role: &'a str,
    pub text: &'a str,
}

/// Words that point back into the conversation.
const REFERRING: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "he", "she", "it", "they", "him", "her", "his", "hers", "its", "their", "them", "this",
            "that", "these", "those", "there", "then",
        ],
    ),
    (
        "fr",
        &[
            "il", "elle", "ils", "elles", "lui", "leur", "leurs", "son", "sa", "ses", "y", "celui",
            "celle", "ceux", "celles", "cela", "ça", "ce", "cette", "ces", "là",
        ],
    ),
    (
        "de",
        &[
            "er", "sie", "es", "ihn", "ihm", "ihr", "sein", "seine", "dort", "damals",
        ],
    ),
    (
        "es",
        &[
            "él", "ella", "ellos", "ellas", "su", "sus", "allí", "entonces",
        ],
    ),
];

/// Joins names across these (lower-case) words: "Charles de Gaulle", "Bank of England".
const CONNECTORS: &[&str] = &[
    "de", "du", "des", "la", "le", "of", "the", "von", "van", "del",
];

fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `question` leans on what was said before.
pub fn is_follow_up(question: &str) -> bool {
    let language = lang::detect(question);
    let ws = words(question);
    let referring = REFERRING
        .iter()
        .find(|(code, _)| *code == language)
        .map_or(&[][..], |(_, w)| *w);
    // "a-t-il", "l'a-t-elle": the pronoun inside a hyphenated inversion counts.
    let refers = ws.iter().any(|w| {
        w.to_lowercase()
            .split('-')
            .any(|part| referring.contains(&part))
    });
    refers || names(question).is_empty()
}

/// The names a text gives: runs of capitalised words (connectors allowed inside), numbers. A
/// capitalised first word counts only when it is not a function word ("When", "Quand").
pub fn names(text: &str) -> Vec<String> {
    let language = lang::detect(text);
    let ws = words(text);
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let flush = |run: &mut Vec<&str>, out: &mut Vec<String>| {
        while run.last().is_some_and(|w| CONNECTORS.contains(w)) {
            run.pop();
        }
        if !run.is_empty() {
            let name = run.join(" ");
            if !out.contains(&name) {
                out.push(name);
            }
        }
        run.clear();
    };
    for (i, w) in ws.iter().enumerate() {
        let capital = w.chars().next().is_some_and(char::is_uppercase);
        let number = w.chars().all(|c| c.is_ascii_digit());
        let function_word = lang::is_stop_word(&w.to_lowercase(), language);
        let in_name = (capital && !(i == 0 && function_word)) || number;
        if in_name || (!run.is_empty() && CONNECTORS.contains(w)) {
            run.push(w);
        } else {
            flush(&mut run, &mut out);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The heuristic: the follow-up with the names of the latest earlier question that names
/// something (its keywords when none does) in brackets.
pub fn standalone_heuristic(turns: &[Turn<'_>]) -> Option<String> {
    let (last, earlier) = split_last_question(turns)?;
    if earlier.is_empty() || !is_follow_up(last) {
        return Some(last.trim().to_string());
    }
    let mut context = earlier
        .iter()
        .rev()
        .map(|q| names(q))
        .find(|n| !n.is_empty());
    if context.is_none() {
        let q = earlier.last().expect("not empty");
        let kw = lang::keywords(q, lang::detect(q));
        if !kw.trim().is_empty() {
            context = Some(vec![kw]);
        }
    }
    let Some(context) = context else {
        return Some(last.trim().to_string());
    };
    // Names the follow-up already gives are not repeated.
    let have = last.to_lowercase();
    let extra: Vec<String> = context
        .into_iter()
        .filter(|n| !have.contains(&n.to_lowercase()))
        .collect();
    if extra.is_empty() {
        return Some(last.trim().to_string());
    }
    Some(format!("{} ({})", last.trim(), extra.join(", ")))
}

/// The last user message and the user messages before it.
fn split_last_question<'a>(turns: &[Turn<'a>]) -> Option<(&'a str, Vec<&'a str>)> {
    let users: Vec<&str> = turns
        .iter()
        .filter(|t| t.role == "user" && !t.text.trim().is_empty())
        .map(|t| t.text)
        .collect();
    let (last, earlier) = users.split_last()?;
    Some((last, earlier.to_vec()))
}

/// Asks the model to rewrite the last question of the conversation as a standalone one.
pub fn standalone_with(llm: &dyn Llm, turns: &[Turn<'_>]) -> Result<String, LlmError> {
    let (last, _) =
        split_last_question(turns).ok_or_else(|| LlmError::Other("no user message".into()))?;
    let language = lang::detect(last);
    let instruction = match language {
        "fr" => {
            "Réécris la dernière question de la conversation pour qu'elle se comprenne seule : remplace les pronoms par ce qu'ils désignent. Réponds uniquement par la question, sur une ligne."
        }
        _ => {
            "Rewrite the last question of the conversation so that it can be understood alone: replace pronouns with what they refer to. Reply with the question only, on one line."
        }
    };
    // The last few turns, each cut short, without the sources list of earlier answers.
    let mut lines = Vec::new();
    let recent = &turns[turns.len().saturating_sub(7)..turns.len().saturating_sub(1)];
    for t in recent {
        let who = match t.role {
            "user" => "User",
            "assistant" => "Assistant",
            _ => continue,
        };
        let text = t.text.split("\n\nSources:").next().unwrap_or("");
        let text: String = text.chars().take(600).collect();
        lines.push(format!("{who}: {}", text.replace('\n', " ")));
    }
    let prompt = format!(
        "{}\n\nLast question: {}",
        lines.join("\n"),
        last.replace('\n', " ")
    );
    let request = LlmRequest {
        messages: vec![
            ChatMessage::new("system", instruction),
            ChatMessage::new("user", prompt),
        ],
        max_tokens: 64,
        temperature: 0.0,
        stop: Default::default(),
    };
    let completion = llm.complete(&request, &mut |_| {})?;
    let line = completion.text.lines().find(|l| !l.trim().is_empty());
    let line = line.unwrap_or("").trim();
    let line = line
        .strip_prefix("Question:")
        .or_else(|| line.strip_prefix("Last question:"))
        .unwrap_or(line)
        .trim()
        .trim_matches('"');
    // A usable rewrite is a question of sensible length, not an answer or a refusal.
    let n = line.chars().count();
    if n < 3 || n > last.chars().count() * 3 + 200 {
        return Err(LlmError::Other(format!("unusable rewrite {line:?}")));
    }
    Ok(line.to_string())
}

/// The question to search for the conversation's last user message: the message itself when
/// it stands alone, else a rewrite (the model's when `llm` is given and usable, else the
/// heuristic's). `None` when there is no user message.
pub fn standalone(turns: &[Turn<'_>], llm: Option<&dyn Llm>) -> Option<String> {
    let (last, earlier) = split_last_question(turns)?;
    if earlier.is_empty() || !is_follow_up(last) {
        return Some(last.trim().to_string());
    }
    if let Some(llm) = llm {
        match standalone_with(llm, turns) {
            Ok(q) => return Some(q),
            Err(e) => tracing::warn!("the model's follow-up rewrite failed, using names: {e}"),
        }
    }
    standalone_heuristic(turns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wikirag_core::Completion;

    fn user(text: &str) -> Turn<'_> {
        Turn { role: "user", text }
    }
    fn assistant(text: &str) -> Turn<'_> {
        Turn {
            role: "assistant",
            text,
        }
    }

    #[test]
    fn names_are_runs_of_capitals_with_connectors() {
        assert_eq!(names("Who was Charles Lindbergh?"), ["Charles Lindbergh"]);
        assert_eq!(
            names("Qui était Charles de Gaulle ?"),
            ["Charles de Gaulle"]
        );
        assert_eq!(
            names("What did the Bank of England do in 1694?"),
            ["Bank of England", "1694"]
        );
        assert!(names("When did he fly?").is_empty());
        assert_eq!(names("Paris is big"), ["Paris"]);
    }

    #[test]
    fn follow_ups_are_told_from_standalone_questions() {
        assert!(is_follow_up("When did he fly?"));
        assert!(is_follow_up("Quand a-t-il été élu ?"));
        assert!(is_follow_up("And the population?"));
        assert!(!is_follow_up(
            "When did Charles Lindbergh fly across the Atlantic?"
        ));
        assert!(!is_follow_up("Quelle est la capitale de la France ?"));
    }

    #[test]
    fn the_heuristic_adds_the_earlier_question_s_names() {
        let turns = [
            user("Who was Charles Lindbergh?"),
            assistant("An American aviator [1].\n\nSources:\n[1] Charles Lindbergh"),
            user("When did he fly across the Atlantic?"),
        ];
        assert_eq!(
            standalone(&turns, None).unwrap(),
            "When did he fly across the Atlantic? (Charles Lindbergh)"
        );
        let fr = [
            user("Qui est Édith Cresson ?"),
            assistant("Une femme politique [1]."),
            user("Quand a-t-elle été nommée ?"),
        ];
        assert_eq!(
            standalone(&fr, None).unwrap(),
            "Quand a-t-elle été nommée ? (Édith Cresson)"
        );
        // A question that stands alone, or the first one, is left as it is.
        let alone = [
            user("Who was Charles Lindbergh?"),
            user("What is the capital of France?"),
        ];
        assert_eq!(
            standalone(&alone, None).unwrap(),
            "What is the capital of France?"
        );
        assert_eq!(standalone(&[user(" Hi ")], None).unwrap(), "Hi");
        assert!(standalone(&[assistant("Hello")], None).is_none());
    }

    struct Rewrites(&'static str);
    impl Llm for Rewrites {
        fn name(&self) -> String {
            "rewrites".into()
        }
        fn context_window(&self) -> usize {
            2048
        }
        fn complete(
            &self,
            request: &LlmRequest,
            _: &mut dyn FnMut(&str),
        ) -> Result<Completion, LlmError> {
            // The conversation reaches the model.
            assert!(request.messages[1].content.contains("Lindbergh"));
            Ok(Completion {
                text: self.0.into(),
                ..Completion::default()
            })
        }
    }

    #[test]
    fn the_model_rewrites_when_usable() {
        let turns = [
            user("Who was Charles Lindbergh?"),
            assistant("An American aviator [1]."),
            user("When did he fly?"),
        ];
        let good = Rewrites("When did Charles Lindbergh fly?\n");
        assert_eq!(
            standalone(&turns, Some(&good)).unwrap(),
            "When did Charles Lindbergh fly?"
        );
        // An empty rewrite falls back to the heuristic.
        let bad = Rewrites("   ");
        assert_eq!(
            standalone(&turns, Some(&bad)).unwrap(),
            "When did he fly? (Charles Lindbergh)"
        );
    }
}
