//! The summarising loop: when the evidence worth sending exceeds the model's budget, the
//! sources are summarised group by group (pages kept together while they fit), each summary
//! keeping the `[n]` of the sources it used, and the question is answered from the summaries.
//! Numbers stay those of the original sources, so the final answer's citations point to
//! original sentences and are checked against them like any other answer.
//!
//! Bounded: at most [`AskOptions::summary_calls`] summary calls and
//! [`AskOptions::summary_time_limit_ms`]; what is left when either runs out is reported as not
//! summarised (and is not sent).

use crate::prompt::{self, TokenCounter, render_source};
use crate::{AskOptions, Source, check_citations};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use wikirag_core::{ChatMessage, Llm, LlmError, LlmRequest};

/// What the loop did, for `--json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summaries {
    /// One per group that had something to say.
    pub notes: Vec<Note>,
    /// Summary calls made (the final answer not counted).
    pub calls: usize,
    /// Tokens of the summary prompts (as counted) and of the summaries (as reported, else
    /// counted).
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Sources not summarised ("Title #sentence"): the call or time limit was reached, or a
    /// source alone did not fit a summary prompt.
    pub unsummarised: Vec<String>,
    /// Why the loop stopped early ("call limit", "time limit"), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// A group's summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// The sources the group held.
    pub sources: Vec<usize>,
    /// The summary, citations checked against the group (unknown numbers removed).
    pub text: String,
}

/// A group's reply that says nothing relevant.
const NOTHING: &str = "NONE";

fn instruction(lang: &str) -> &'static str {
    match lang {
        "fr" => {
            "Résume ce que les sources numérotées ci-dessous disent d'utile pour répondre à la question. \
Garde après chaque fait le numéro de sa source entre crochets, par exemple [3]. N'ajoute rien qui ne soit \
dans les sources. Si aucune source n'est utile, réponds seulement NONE."
        }
        _ => {
            "Summarise what the numbered sources below say that helps answer the question. Keep the \
number of its source in square brackets after every fact, like [3]. Add nothing that is not in the \
sources. If no source helps, reply only NONE."
        }
    }
}

fn notes_label(lang: &str) -> &'static str {
    match lang {
        "fr" => "Notes tirées des sources (les numéros sont ceux des sources)",
        _ => "Notes from the sources (the numbers are the sources')",
    }
}

fn question_label(lang: &str) -> &'static str {
    match lang {
        "fr" => "Question",
        _ => "Question",
    }
}

fn summary_messages(lang: &str, question: &str, rendered: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", instruction(lang)),
        ChatMessage::new(
            "user",
            format!("Sources:\n\n{rendered}{}: {question}", question_label(lang)),
        ),
    ]
}

/// The final prompt: the answer's usual instructions over the notes.
pub(crate) fn final_messages(lang: &str, question: &str, notes: &[Note]) -> Vec<ChatMessage> {
    let body: String = notes.iter().map(|n| format!("- {}\n", n.text)).collect();
    vec![
        ChatMessage::new("system", prompt::system_message(lang)),
        ChatMessage::new(
            "user",
            format!(
                "{}:\n\n{body}\n{}: {question}",
                notes_label(lang),
                question_label(lang)
            ),
        ),
    ]
}

/// Groups of sources, in order, each fitting a summary prompt of `limit` tokens; a source that
/// fits only without its context sentences loses them, one that does not fit at all is
/// returned apart.
fn groups(
    counter: &TokenCounter<'_>,
    lang: &str,
    question: &str,
    sources: &[Source],
    limit: usize,
) -> (Vec<Vec<Source>>, Vec<Source>) {
    let fixed = counter.count_messages(&summary_messages(lang, question, ""));
    let room = limit.saturating_sub(fixed);
    let mut out: Vec<Vec<Source>> = Vec::new();
    let mut too_big = Vec::new();
    let mut group: Vec<Source> = Vec::new();
    let mut used = 0;
    for s in sources {
        let mut s = s.clone();
        let mut cost = counter.count(&render_source(&s, true));
        if cost > room {
            s.before.clear();
            s.after.clear();
            cost = counter.count(&render_source(&s, true));
        }
        if cost > room {
            too_big.push(s);
            continue;
        }
        if used + cost > room && !group.is_empty() {
            out.push(std::mem::take(&mut group));
            used = 0;
        }
        used += cost;
        group.push(s);
    }
    if !group.is_empty() {
        out.push(group);
    }
    (out, too_big)
}

fn label(s: &Source) -> String {
    format!("{} #{}", s.title, s.sentence)
}

/// Summarises `sources` group by group for `question`, within the options' bounds.
pub(crate) fn summarise(
    llm: &dyn Llm,
    counter: &TokenCounter<'_>,
    lang: &str,
    question: &str,
    sources: &[Source],
    summary_tokens: usize,
    options: &AskOptions,
) -> Result<Summaries, LlmError> {
    let started = Instant::now();
    let limit = llm.context_window().saturating_sub(summary_tokens);
    let (groups, too_big) = groups(counter, lang, question, sources, limit);
    let mut out = Summaries {
        unsummarised: too_big.iter().map(label).collect(),
        ..Summaries::default()
    };
    let time_limit = Duration::from_millis(options.summary_time_limit_ms);
    for (i, group) in groups.iter().enumerate() {
        let stop = if out.calls >= options.summary_calls {
            Some("call limit")
        } else if started.elapsed() >= time_limit {
            Some("time limit")
        } else {
            None
        };
        if let Some(why) = stop {
            out.stopped = Some(why.to_string());
            for g in &groups[i..] {
                out.unsummarised.extend(g.iter().map(label));
            }
            break;
        }
        let rendered: String = group.iter().map(|s| render_source(s, true)).collect();
        let messages = summary_messages(lang, question, &rendered);
        let prompt_tokens = counter.count_messages(&messages);
        let request = LlmRequest {
            messages,
            max_tokens: summary_tokens,
            temperature: 0.0,
            stop: options.stop.clone(),
        };
        out.calls += 1;
        let completion = match llm.complete(&request, &mut |_| {}) {
            Ok(c) => c,
            Err(LlmError::ContextLength(message)) => {
                // Counted to fit, refused anyway: this group is not summarised.
                tracing::warn!("a summary prompt was refused for length: {message}");
                out.unsummarised.extend(group.iter().map(label));
                continue;
            }
            Err(e) => return Err(e),
        };
        out.prompt_tokens += completion.prompt_tokens.unwrap_or(prompt_tokens);
        out.completion_tokens += completion
            .completion_tokens
            .unwrap_or_else(|| counter.count(&completion.text));
        let text = completion.text.trim();
        if text.is_empty() || text.starts_with(NOTHING) || prompt::is_abstention(text) {
            continue;
        }
        // Only the group's own numbers survive; a summary citing nothing is no evidence.
        let check = check_citations(text, group);
        if check.citations.is_empty() {
            tracing::debug!("a summary cited no source of its group: left out");
            continue;
        }
        out.notes.push(Note {
            sources: group.iter().map(|s| s.n).collect(),
            text: check.text.trim().to_string(),
        });
    }
    Ok(out)
}
