//! Prompts and the token budget.

use crate::{Source, to_sources};
use wikirag_core::{ChatMessage, Hit, Llm, LlmError, LlmRequest};

/// A conservative token estimate for when the model's tokenizer is unknown: one token per 3
/// bytes of UTF-8 (BPE vocabularies average about 4 bytes per token on English and French;
/// a CJK character is 3 bytes and about one token), plus one.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3) + 1
}

/// Tokens a chat template adds per message (role markers, separators), counted generously.
const PER_MESSAGE: usize = 8;
/// Slack for the template's start and end.
const MARGIN: usize = 16;

/// Counts with the model's tokenizer when it has one.
pub struct TokenCounter<'a> {
    llm: Option<&'a dyn Llm>,
    estimated: std::cell::Cell<bool>,
}

impl<'a> TokenCounter<'a> {
    pub fn new(llm: &'a dyn Llm) -> TokenCounter<'a> {
        TokenCounter {
            llm: Some(llm),
            estimated: std::cell::Cell::new(false),
        }
    }

    /// Estimates only.
    pub fn estimating() -> TokenCounter<'static> {
        TokenCounter {
            llm: None,
            estimated: std::cell::Cell::new(false),
        }
    }

    pub fn count(&self, text: &str) -> usize {
        match self.llm.and_then(|l| l.count_tokens(text)) {
            Some(n) => n,
            None => {
                self.estimated.set(true);
                estimate_tokens(text)
            }
        }
    }

    /// Tokens of a whole chat prompt.
    pub fn count_messages(&self, messages: &[ChatMessage]) -> usize {
        MARGIN
            + messages
                .iter()
                .map(|m| self.count(&m.content) + PER_MESSAGE)
                .sum::<usize>()
    }

    /// Whether any count so far was an estimate.
    pub fn estimated(&self) -> bool {
        self.estimated.get()
    }
}

/// The room a prompt has.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// The model's context window.
    pub window: usize,
    /// Reserved for the answer.
    pub answer: usize,
    /// An extra cap on evidence tokens.
    pub evidence_cap: Option<usize>,
}

impl Budget {
    pub fn new(window: usize, answer: usize, evidence_cap: Option<usize>) -> Budget {
        Budget {
            window,
            answer,
            evidence_cap,
        }
    }

    /// The most tokens a prompt may have.
    pub fn prompt_limit(&self) -> usize {
        self.window.saturating_sub(self.answer)
    }
}

/// A prompt that fits.
#[derive(Clone, Debug)]
pub struct Packed {
    pub messages: Vec<ChatMessage>,
    pub sources: Vec<Source>,
    pub dropped: Vec<String>,
    pub prompt_tokens: usize,
    pub evidence_tokens: usize,
    pub evidence_budget: usize,
}

pub(crate) fn system_message(lang: &str) -> &'static str {
    match lang {
        "fr" => {
            "Tu réponds à la question uniquement à partir des sources Wikipédia numérotées ci-dessous. \
Cite chaque affirmation avec le numéro de sa source entre crochets, par exemple [1] ou [2][3]. \
N'invente rien. Si les sources ne permettent pas de répondre, dis que tu ne sais pas. Réponds en français."
        }
        "de" => {
            "Beantworte die Frage nur mit den nummerierten Wikipedia-Quellen unten. Belege jede Aussage \
mit der Nummer ihrer Quelle in eckigen Klammern, z. B. [1] oder [2][3]. Wenn die Quellen die Frage nicht \
beantworten, sage, dass du es nicht weißt. Antworte auf Deutsch."
        }
        "es" => {
            "Responde a la pregunta solo con las fuentes de Wikipedia numeradas abajo. Cita cada afirmación \
con el número de su fuente entre corchetes, por ejemplo [1] o [2][3]. Si las fuentes no responden, di que no \
lo sabes. Responde en español."
        }
        _ => {
            "You answer the question using only the numbered Wikipedia sources below. Cite every claim \
with the number of its source in square brackets, like [1] or [2][3]. Do not make anything up. If the \
sources do not answer the question, say that you don't know. Answer in English."
        }
    }
}

fn labels(lang: &str) -> (&'static str, &'static str) {
    match lang {
        "fr" => ("Sources", "Question"),
        "de" => ("Quellen", "Frage"),
        "es" => ("Fuentes", "Pregunta"),
        _ => ("Sources", "Question"),
    }
}

/// The context window a server's context-length message names: llama.cpp "exceed context
/// window of 512", OpenAI "maximum context length is 8192 tokens", "n_ctx: 2048".
pub fn window_in_message(message: &str) -> Option<usize> {
    let lower = message.to_lowercase();
    [
        "context window of",
        "maximum context length is",
        "n_ctx:",
        "n_ctx =",
        "context size of",
    ]
    .iter()
    .find_map(|key| {
        let rest = &lower[lower.find(key)? + key.len()..];
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok().filter(|&n: &usize| n > 0)
    })
}

/// "I don't know" in the question's language.
pub fn dont_know(lang: &str) -> &'static str {
    match lang {
        "fr" => "Je ne sais pas : les sources trouvées ne répondent pas à la question.",
        "de" => "Ich weiß es nicht: Die gefundenen Quellen beantworten die Frage nicht.",
        "es" => "No lo sé: las fuentes encontradas no responden a la pregunta.",
        _ => "I don't know: the sources found do not answer the question.",
    }
}

/// Whether an answer declines to answer.
pub fn is_abstention(answer: &str) -> bool {
    let a = answer.to_lowercase().replace('’', "'");
    [
        "i don't know",
        "i do not know",
        "don't know",
        "cannot answer",
        "can't answer",
        "je ne sais pas",
        "ne permettent pas de répondre",
        "weiß es nicht",
        "no lo sé",
    ]
    .iter()
    .any(|p| a.contains(p))
}

pub(crate) fn render_source(s: &Source, with_context: bool) -> String {
    let section = if s.section.is_empty() {
        String::new()
    } else {
        format!(" › {}", s.section)
    };
    let mut text = String::new();
    if with_context {
        for b in &s.before {
            text.push_str(b);
            text.push(' ');
        }
    }
    text.push_str(&s.text);
    if with_context {
        for a in &s.after {
            text.push(' ');
            text.push_str(a);
        }
    }
    format!("[{}] {}{} ({})\n{}\n\n", s.n, s.title, section, s.url, text)
}

/// Builds the prompt: sources chosen best first while they fit (a source without its context
/// sentences when only that fits), then numbered and grouped by page. `None` when not even the
/// question fits.
pub fn pack(
    counter: &TokenCounter<'_>,
    budget: &Budget,
    question: &str,
    lang: &str,
    hits: &[Hit],
) -> Option<Packed> {
    let (sources_label, question_label) = labels(lang);
    let frame = |sources: &str| -> Vec<ChatMessage> {
        vec![
            ChatMessage::new("system", system_message(lang)),
            ChatMessage::new(
                "user",
                format!("{sources_label}:\n\n{sources}{question_label}: {question}"),
            ),
        ]
    };
    let fixed = counter.count_messages(&frame(""));
    let limit = budget.prompt_limit();
    if fixed > limit {
        return None;
    }
    let mut evidence_budget = limit - fixed;
    if let Some(cap) = budget.evidence_cap {
        evidence_budget = evidence_budget.min(cap);
    }
    // Choose best first. Numbers are not known yet: cost with a wide placeholder number.
    let mut chosen: Vec<(Hit, bool)> = Vec::new();
    let mut dropped = Vec::new();
    let mut used = 0;
    for hit in hits {
        let probe = |with_context: bool| {
            let s = Source {
                n: 999,
                ..to_sources(vec![hit.clone()]).remove(0)
            };
            counter.count(&render_source(&s, with_context))
        };
        let full = probe(true);
        if used + full <= evidence_budget {
            used += full;
            chosen.push((hit.clone(), true));
            continue;
        }
        let bare = probe(false);
        if used + bare <= evidence_budget {
            used += bare;
            chosen.push((hit.clone(), false));
        } else {
            dropped.push(format!("{} #{}", hit.title, hit.sentence));
        }
    }
    let mut with_context = std::collections::HashMap::new();
    for (h, ctx) in &chosen {
        with_context.insert((h.page_id, h.sentence), *ctx);
    }
    let mut sources = to_sources(chosen.into_iter().map(|(h, _)| h).collect());
    for s in &mut sources {
        if !with_context[&(s.page_id, s.sentence)] {
            s.before.clear();
            s.after.clear();
        }
    }
    let rendered: String = sources.iter().map(|s| render_source(s, true)).collect();
    let evidence_tokens = counter.count(&rendered);
    let messages = frame(&rendered);
    let prompt_tokens = counter.count_messages(&messages);
    if prompt_tokens > limit {
        // Token counts are not additive at the edges; drop from the end until it fits.
        let mut sources = sources;
        let mut dropped = dropped;
        while let Some(last) = sources.pop() {
            dropped.push(format!("{} #{}", last.title, last.sentence));
            let rendered: String = sources.iter().map(|s| render_source(s, true)).collect();
            let messages = frame(&rendered);
            let prompt_tokens = counter.count_messages(&messages);
            if prompt_tokens <= limit {
                return Some(Packed {
                    evidence_tokens: counter.count(&rendered),
                    messages,
                    sources,
                    dropped,
                    prompt_tokens,
                    evidence_budget,
                });
            }
        }
        return None;
    }
    Some(Packed {
        messages,
        sources,
        dropped,
        prompt_tokens,
        evidence_tokens,
        evidence_budget,
    })
}

/// Asks the model for search keywords.
pub fn rewrite_with(llm: &dyn Llm, question: &str, lang: &str) -> Result<String, LlmError> {
    let instruction = match lang {
        "fr" => {
            "Transforme la question en mots-clés pour un moteur de recherche sur Wikipédia. Réponds uniquement par les mots-clés, sur une ligne."
        }
        _ => {
            "Turn the question into keywords for a Wikipedia search engine. Reply with the keywords only, on one line."
        }
    };
    let request = LlmRequest {
        messages: vec![
            ChatMessage::new("system", instruction),
            ChatMessage::new("user", question),
        ],
        max_tokens: 32,
        temperature: 0.0,
        stop: Default::default(),
    };
    let completion = llm.complete(&request, &mut |_| {})?;
    let line = completion
        .text
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if line.is_empty() {
        Err(LlmError::Other("empty rewrite".into()))
    } else {
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_named_in_context_length_messages() {
        use super::window_in_message as w;
        assert_eq!(
            w("Requested tokens (900) exceed context window of 512"),
            Some(512)
        );
        assert_eq!(
            w("This model's maximum context length is 8192 tokens. However, you requested 9000"),
            Some(8192)
        );
        assert_eq!(w("prompt too long (n_ctx: 2048)"), Some(2048));
        assert_eq!(w("the prompt is too long"), None);
    }
}
