//! Ask: a question in, a cited answer out.
//!
//! 1. Rewrite the question into search keywords (a language-aware heuristic, or the LLM);
//!    both the question and the rewrite are searched and the lists fused.
//! 2. Retrieve sentences (whatever [`Retriever`] the caller gives: hybrid when vectors exist),
//!    a per-page cap, neighbouring sentences as context, duplicates removed.
//! 3. Fill a token budget best-evidence-first: the prompt never exceeds the model's context
//!    (the model's tokenizer counts when known, a conservative estimate otherwise); what does
//!    not fit is reported. A context-length error from a server is retried with half the budget.
//! 4. Prompt in the question's language with numbered sources grouped by page.
//! 5. Check citations: every `[n]` must name a source that was sent, a quoted span must occur
//!    in the source it cites; invalid ones are removed and reported.
//!
//! Without an LLM the answer is extractive: the best evidence sentences, with the same citations.
//! This crate sees only the core traits.

mod cite;
mod extractive;
pub mod followup;
mod lang;
mod prompt;
pub mod summarise;

pub use cite::{CitationCheck, check_citations};
pub use lang::{detect as detect_language, keywords};
pub use prompt::{Budget, Packed, TokenCounter, estimate_tokens, pack as prompt_pack};

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use wikirag_core::{Hit, Llm, LlmError, LlmRequest, Retriever, SearchRequest, cap_per_page};

/// Errors of the ask pipeline.
#[derive(Debug, thiserror::Error)]
pub enum RagError {
    #[error("empty question")]
    EmptyQuestion,
    #[error("question too long ({len} characters, at most {max})")]
    QuestionTooLong { len: usize, max: usize },
    #[error("retrieval: {0}")]
    Retrieval(Box<dyn std::error::Error + Send + Sync>),
    /// The message includes the backend's error; it is not also a `source` (a report that
    /// walks the chain would print it twice).
    #[error("LLM {backend}: {error}")]
    Llm { backend: String, error: LlmError },
    #[error(
        "the model's context ({window} tokens) cannot hold the question and an answer of {answer} tokens"
    )]
    NoRoom { window: usize, answer: usize },
    /// [`AskOptions::stop`] was set: the answer is no longer wanted.
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = RagError> = std::result::Result<T, E>;

/// Knobs of one question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AskOptions {
    /// Sentences retrieved.
    pub k: usize,
    /// At most this many per page.
    pub per_page: usize,
    /// Neighbouring sentences sent with each hit, on each side.
    pub context: usize,
    /// Also search a keyword rewrite of the question.
    pub rewrite: bool,
    /// Ask the LLM for the rewrite (else the heuristic).
    pub llm_rewrite: bool,
    /// A cap on the tokens of evidence, below what the model's context allows.
    pub max_context_tokens: Option<usize>,
    /// Tokens reserved for the answer.
    pub answer_tokens: usize,
    /// At most this many sentences in an extractive answer (it quotes one or two, as the
    /// evidence says: `extractive::choose`).
    pub extractive_sentences: usize,
    pub temperature: f32,
    /// Retries with half the budget after a context-length error.
    pub max_retries: usize,
    /// Longest question accepted, in characters.
    pub max_question_chars: usize,
    /// A model's answer that cites no source (and does not abstain) is replaced by the
    /// extractive answer over the same evidence (the model's text kept in
    /// [`Answer::model_answer`]).
    pub require_citations: bool,
    /// When the evidence worth sending exceeds the model's budget, summarise it group by
    /// group and answer from the summaries ([`summarise`]); LLM backends only.
    pub summarise: bool,
    /// At most this many summary calls per question.
    pub summary_calls: usize,
    /// Summary calls stop being made past this time (ms).
    pub summary_time_limit_ms: u64,
    /// Set when the answer is no longer wanted (a cancelled request): the pipeline stops at its
    /// next step, a model at its next token, and the ask ends in [`RagError::Cancelled`].
    #[serde(skip)]
    pub stop: wikirag_core::StopFlag,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            k: 12,
            per_page: 3,
            context: 1,
            rewrite: true,
            llm_rewrite: false,
            max_context_tokens: None,
            answer_tokens: 512,
            extractive_sentences: 2,
            temperature: 0.0,
            max_retries: 3,
            max_question_chars: 2000,
            require_citations: false,
            summarise: false,
            summary_calls: 8,
            summary_time_limit_ms: 120_000,
            stop: wikirag_core::StopFlag::default(),
        }
    }
}

/// A numbered source sent to the model (or used by the extractive answer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub n: usize,
    pub title: String,
    pub section: String,
    /// The article.
    pub url: String,
    /// The sentence: the indexed revision with a text fragment that scrolls to and
    /// highlights it ([`wikirag_core::link::sentence_link`]); empty without an article URL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub link: String,
    /// The revision that was indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<u64>,
    /// The page's key in the index ([`Hit::page_id`]); serialized as the MediaWiki page id.
    #[serde(serialize_with = "wikirag_core::serialize_page_id")]
    pub page_id: u64,
    pub sentence: u32,
    /// The retrieved sentence.
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    pub score: f32,
    /// Rank in retrieval (1 = best).
    pub rank: usize,
}

/// A citation of the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub n: usize,
    pub title: String,
    pub section: String,
    /// The article.
    pub url: String,
    /// The sentence in the indexed revision (see [`Source::link`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub link: String,
    /// The page's key in the index ([`Hit::page_id`]); serialized as the MediaWiki page id.
    #[serde(serialize_with = "wikirag_core::serialize_page_id")]
    pub page_id: u64,
    pub sentence: u32,
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt as counted (or estimated) before sending.
    pub prompt_tokens: usize,
    /// As reported by the backend, when it does.
    pub backend_prompt_tokens: Option<usize>,
    pub completion_tokens: Option<usize>,
    pub context_window: usize,
    /// Tokens available to evidence.
    pub evidence_budget: usize,
    pub evidence_tokens: usize,
    /// The counts come from an estimate, not the model's tokenizer.
    pub estimated: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub rewrite_ms: f64,
    pub retrieval_ms: f64,
    pub packing_ms: f64,
    pub generation_ms: f64,
    pub total_ms: f64,
}

/// The result of a question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub question: String,
    pub language: String,
    /// The keyword rewrite that was searched too.
    pub rewritten: Option<String>,
    pub answer: String,
    pub citations: Vec<Citation>,
    /// Every source sent, numbered.
    pub evidence: Vec<Source>,
    /// Retrieved sentences left out because the budget was full ("Title #sentence").
    pub dropped: Vec<String>,
    /// Citations removed from the answer, and why.
    pub invalid_citations: Vec<String>,
    /// The answer says the sources do not answer.
    pub abstained: bool,
    /// The model answered without citing any source it was given (nothing in the answer is
    /// backed by a citation).
    #[serde(default)]
    pub uncited: bool,
    /// The model stopped at the answer's token limit: the answer may be cut short.
    #[serde(default)]
    pub truncated: bool,
    /// The model's own answer when [`AskOptions::require_citations`] replaced it (uncited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_answer: Option<String>,
    pub backend: String,
    /// Context-length retries.
    pub retries: usize,
    /// What the summarising loop did, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summaries: Option<summarise::Summaries>,
    pub usage: Usage,
    pub timings: Timings,
}

/// What a streaming caller sees before the answer is complete.
#[derive(Debug)]
pub enum AskEvent<'a> {
    /// The sources, once chosen.
    Sources(&'a [Source]),
    /// A piece of the answer as it is generated.
    Token(&'a str),
}

/// The pipeline: a retriever and, optionally, a model.
pub struct Rag<R> {
    retriever: R,
    llm: Option<Arc<dyn Llm>>,
}

impl<R: Retriever> Rag<R> {
    pub fn new(retriever: R, llm: Option<Arc<dyn Llm>>) -> Rag<R> {
        Rag { retriever, llm }
    }

    pub fn retriever(&self) -> &R {
        &self.retriever
    }

    /// The question to answer for a conversation's last user message: itself, or a
    /// standalone rewrite when it is a follow-up ([`followup::standalone`], with the model
    /// when there is one).
    pub fn standalone_question(&self, turns: &[followup::Turn<'_>]) -> Option<String> {
        followup::standalone(turns, self.llm.as_deref())
    }

    pub fn backend_name(&self) -> String {
        self.llm
            .as_ref()
            .map_or_else(|| "extractive".to_string(), |l| l.name())
    }

    /// Answers `question`, streaming events to `on_event`.
    pub fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        on_event: &mut dyn FnMut(AskEvent<'_>),
    ) -> Result<Answer> {
        let started = Instant::now();
        let question = question.trim();
        if question.is_empty() {
            return Err(RagError::EmptyQuestion);
        }
        let len = question.chars().count();
        if len > options.max_question_chars {
            return Err(RagError::QuestionTooLong {
                len,
                max: options.max_question_chars,
            });
        }
        let mut timings = Timings::default();
        let language = lang::detect(question).to_string();

        // 1. Rewrite.
        let t = Instant::now();
        let rewritten = if !options.rewrite {
            None
        } else {
            let heuristic = lang::keywords(question, &language);
            let llm_rewrite = match (&self.llm, options.llm_rewrite) {
                (Some(llm), true) => prompt::rewrite_with(llm.as_ref(), question, &language)
                    .map_err(|e| tracing::warn!("LLM rewrite failed, using keywords: {e}"))
                    .ok(),
                _ => None,
            };
            Some(llm_rewrite.unwrap_or(heuristic)).filter(|r| r != question)
        };
        timings.rewrite_ms = ms(t);

        // 2. Retrieve.
        let cancelled = || match options.stop.is_stopped() {
            true => Err(RagError::Cancelled),
            false => Ok(()),
        };
        cancelled()?;
        let t = Instant::now();
        let (hits, top_agreed) = self.retrieve(question, rewritten.as_deref(), options)?;
        timings.retrieval_ms = ms(t);
        cancelled()?;

        // 3.–5. Pack, generate, check.
        let (answer, packed_timings) = match &self.llm {
            None => self.extractive(
                question,
                &language,
                rewritten.clone(),
                (hits, top_agreed),
                options,
                on_event,
            ),
            Some(llm) => self.generate(
                llm.as_ref(),
                question,
                &language,
                rewritten.clone(),
                hits,
                options,
                on_event,
            )?,
        };
        // A model stopped mid-answer returns what it had: not an answer to give.
        cancelled()?;
        let mut answer = answer;
        timings.packing_ms = packed_timings.packing_ms;
        timings.generation_ms = packed_timings.generation_ms;
        timings.total_ms = ms(started);
        answer.timings = timings;
        Ok(answer)
    }

    /// Links that land on each source's sentence, chosen against the sentences before it on
    /// its page (when the retriever can give them; else from the sentence alone).
    fn link_sources(&self, sources: &mut [Source]) {
        let targets: Vec<wikirag_core::link::LinkTarget<'_>> = sources
            .iter()
            .map(|s| wikirag_core::link::LinkTarget {
                url: &s.url,
                revision_id: s.revision_id,
                page_id: s.page_id,
                sentence: s.sentence,
                text: &s.text,
            })
            .collect();
        let links = wikirag_core::link::sentence_links(&targets, |page_id, last| {
            self.retriever
                .page_sentences(page_id, last)
                .unwrap_or_else(|e| {
                    tracing::warn!(page_id, "sentences for links: {e}");
                    None
                })
        });
        for (s, link) in sources.iter_mut().zip(links) {
            s.link = link;
        }
    }

    /// The hits for the question (and its rewrite, the two lists fused), and whether both
    /// searches put the same sentence first (one search: it did).
    fn retrieve(
        &self,
        question: &str,
        rewritten: Option<&str>,
        options: &AskOptions,
    ) -> Result<(Vec<Hit>, bool)> {
        let request = |q: &str| SearchRequest {
            query: q.to_string(),
            k: options.k,
            context: options.context,
            per_page: options.per_page,
        };
        let mut requests = vec![request(question)];
        if let Some(r) = rewritten {
            requests.push(request(r));
        }
        let mut lists = self
            .retriever
            .search_many(&requests)
            .map_err(|e| RagError::Retrieval(Box::new(e)))?
            .into_iter();
        let first = lists.next().unwrap_or_default();
        let Some(second) = lists.next() else {
            return Ok((first, true));
        };
        let top = |l: &[Hit]| l.first().map(|h| (h.page_id, h.sentence));
        let agreed = top(&first).is_some() && top(&first) == top(&second);
        // Reciprocal rank fusion of the two lists, then the per-page cap again.
        let mut fused: HashMap<(u64, u32), (f32, Hit)> = HashMap::new();
        for list in [first, second] {
            for (rank, hit) in list.into_iter().enumerate() {
                let entry = fused
                    .entry((hit.page_id, hit.sentence))
                    .or_insert_with(|| (0.0, hit));
                entry.0 += 1.0 / (60.0 + rank as f32 + 1.0);
            }
        }
        let mut all: Vec<(f32, Hit)> = fused.into_values().collect();
        all.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(a.1.page_id.cmp(&b.1.page_id))
                .then(a.1.sentence.cmp(&b.1.sentence))
        });
        let hits = cap_per_page(
            all.into_iter().map(|(score, hit)| Hit { score, ..hit }),
            |h| h.page_id,
            options.per_page,
            options.k,
        );
        Ok((hits, agreed))
    }

    fn extractive(
        &self,
        question: &str,
        language: &str,
        rewritten: Option<String>,
        (hits, top_agreed): (Vec<Hit>, bool),
        options: &AskOptions,
        on_event: &mut dyn FnMut(AskEvent<'_>),
    ) -> (Answer, Timings) {
        let t = Instant::now();
        let (mut sources, text) = extractive::answer(
            question,
            language,
            to_sources(hits),
            top_agreed,
            options.extractive_sentences,
        );
        self.link_sources(&mut sources);
        on_event(AskEvent::Sources(&sources));
        on_event(AskEvent::Token(&text));
        let check = check_citations(&text, &sources);
        let answer = Answer {
            question: question.to_string(),
            language: language.to_string(),
            rewritten,
            abstained: check.citations.is_empty(),
            answer: check.text,
            citations: check.citations,
            evidence: sources,
            dropped: Vec::new(),
            invalid_citations: check.invalid,
            uncited: false,
            truncated: false,
            model_answer: None,
            backend: "extractive".to_string(),
            retries: 0,
            summaries: None,
            usage: Usage::default(),
            timings: Timings::default(),
        };
        let timings = Timings {
            packing_ms: ms(t),
            ..Timings::default()
        };
        (answer, timings)
    }

    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        llm: &dyn Llm,
        question: &str,
        language: &str,
        rewritten: Option<String>,
        hits: Vec<Hit>,
        options: &AskOptions,
        on_event: &mut dyn FnMut(AskEvent<'_>),
    ) -> Result<(Answer, Timings)> {
        let mut timings = Timings::default();
        let counter = TokenCounter::new(llm);
        let window = llm.context_window();
        // A small window (a 512-token server) keeps at most a quarter for the answer rather
        // than refusing: 512 → 128 answer tokens, 2048 and up keep the default 512.
        let answer_tokens = options.answer_tokens.min(window / 4).max(1);
        let mut cap = options.max_context_tokens;
        let mut retries = 0;
        loop {
            let t = Instant::now();
            let budget = Budget::new(window, answer_tokens, cap);
            let mut packed = prompt::pack(&counter, &budget, question, language, &hits).ok_or(
                RagError::NoRoom {
                    window,
                    answer: answer_tokens,
                },
            )?;
            self.link_sources(&mut packed.sources);
            timings.packing_ms += ms(t);
            if retries == 0 && options.summarise && !packed.dropped.is_empty() {
                return self.answer_from_summaries(
                    llm,
                    &counter,
                    question,
                    language,
                    rewritten,
                    &hits,
                    answer_tokens,
                    options,
                    on_event,
                    timings,
                );
            }
            if retries == 0 {
                on_event(AskEvent::Sources(&packed.sources));
            }
            let request = LlmRequest {
                messages: packed.messages.clone(),
                max_tokens: answer_tokens,
                temperature: options.temperature,
                stop: options.stop.clone(),
            };
            let t = Instant::now();
            let result = llm.complete(&request, &mut |tok| on_event(AskEvent::Token(tok)));
            timings.generation_ms += ms(t);
            match result {
                Ok(completion) => {
                    let check = check_citations(&completion.text, &packed.sources);
                    let abstained = prompt::is_abstention(&check.text);
                    let uncited = !abstained && check.citations.is_empty();
                    let truncated = completion.finish_reason.as_deref() == Some("length");
                    let mut answer = Answer {
                        question: question.to_string(),
                        language: language.to_string(),
                        rewritten,
                        answer: check.text,
                        citations: check.citations,
                        evidence: packed.sources,
                        dropped: packed.dropped,
                        invalid_citations: check.invalid,
                        abstained,
                        uncited,
                        truncated,
                        model_answer: None,
                        backend: llm.name(),
                        retries,
                        summaries: None,
                        usage: Usage {
                            prompt_tokens: packed.prompt_tokens,
                            backend_prompt_tokens: completion.prompt_tokens,
                            completion_tokens: completion.completion_tokens,
                            context_window: window,
                            evidence_budget: packed.evidence_budget,
                            evidence_tokens: packed.evidence_tokens,
                            estimated: counter.estimated(),
                        },
                        timings: Timings::default(),
                    };
                    if uncited && options.require_citations {
                        // The extractive answer over the evidence the model was given: every
                        // sentence of it cited, or "I don't know" when there is none.
                        let mut by_rank: Vec<&Source> = answer.evidence.iter().collect();
                        by_rank.sort_by_key(|s| s.rank);
                        let hits: Vec<Hit> = by_rank.into_iter().map(source_hit).collect();
                        let (extractive, _) =
                            // Whether the searches agreed is not known here: it quotes two.
                            self.extractive(
                                question,
                                language,
                                None,
                                (hits, false),
                                options,
                                &mut |_| {},
                            );
                        tracing::warn!("the model cited no source: answering extractively");
                        answer.model_answer = Some(std::mem::take(&mut answer.answer));
                        answer.answer = extractive.answer;
                        answer.citations = extractive.citations;
                        answer.abstained = extractive.abstained;
                        answer.evidence = extractive.evidence;
                    }
                    return Ok((answer, timings));
                }
                Err(LlmError::ContextLength(message)) if retries < options.max_retries => {
                    retries += 1;
                    // Half the evidence actually sent (the budget may be far larger than what
                    // was used: halving it would send the same prompt again), and no more than
                    // a window the server named in its message allows.
                    let mut half = (packed.evidence_tokens / 2).max(1);
                    if let Some(named) = prompt::window_in_message(&message) {
                        let fixed = packed.prompt_tokens.saturating_sub(packed.evidence_tokens);
                        let room = named
                            .saturating_sub(fixed)
                            .saturating_sub(answer_tokens.min(named / 4));
                        half = half.min(room.max(1));
                    }
                    tracing::warn!(
                        retries,
                        half,
                        "context-length error, retrying with a smaller budget: {message}"
                    );
                    cap = Some(half);
                }
                Err(source) => {
                    return Err(RagError::Llm {
                        backend: llm.name(),
                        error: source,
                    });
                }
            }
        }
    }
}

impl<R: Retriever> Rag<R> {
    /// The summarising loop's answer: every retrieved source summarised group by group, the
    /// question answered from the notes; only sources a note cites can be cited.
    #[allow(clippy::too_many_arguments)]
    fn answer_from_summaries(
        &self,
        llm: &dyn Llm,
        counter: &TokenCounter<'_>,
        question: &str,
        language: &str,
        rewritten: Option<String>,
        hits: &[Hit],
        answer_tokens: usize,
        options: &AskOptions,
        on_event: &mut dyn FnMut(AskEvent<'_>),
        mut timings: Timings,
    ) -> Result<(Answer, Timings)> {
        let window = llm.context_window();
        let llm_error = |error| RagError::Llm {
            backend: llm.name(),
            error,
        };
        let mut all = to_sources(hits.to_vec());
        self.link_sources(&mut all);
        on_event(AskEvent::Sources(&all));
        let t = Instant::now();
        let mut summaries = summarise::summarise(
            llm,
            counter,
            language,
            question,
            &all,
            answer_tokens,
            options,
        )
        .map_err(llm_error)?;
        // The notes that fit the final prompt, best groups first (groups follow the ranking).
        let limit = window.saturating_sub(answer_tokens);
        let mut notes = summaries.notes.clone();
        let mut messages = summarise::final_messages(language, question, &notes);
        while counter.count_messages(&messages) > limit && !notes.is_empty() {
            let left_out = notes.pop().expect("not empty");
            summaries.unsummarised.extend(
                all.iter()
                    .filter(|s| left_out.sources.contains(&s.n))
                    .map(|s| format!("{} #{}", s.title, s.sentence)),
            );
            messages = summarise::final_messages(language, question, &notes);
        }
        // What the notes cite is what the answer may cite.
        let cited: std::collections::HashSet<usize> = notes
            .iter()
            .flat_map(|n| check_citations(&n.text, &all).citations)
            .map(|c| c.n)
            .collect();
        let allowed: Vec<Source> = all
            .iter()
            .filter(|s| cited.contains(&s.n))
            .cloned()
            .collect();
        let prompt_tokens = counter.count_messages(&messages);
        let notes_tokens: usize = notes.iter().map(|n| counter.count(&n.text)).sum();
        let (text, completion) = if notes.is_empty() {
            // Nothing relevant was found in any group: a clear abstention, no final call.
            let text = prompt::dont_know(language).to_string();
            on_event(AskEvent::Token(&text));
            (text, None)
        } else {
            let request = LlmRequest {
                messages,
                max_tokens: answer_tokens,
                temperature: options.temperature,
                stop: options.stop.clone(),
            };
            let c = llm
                .complete(&request, &mut |tok| on_event(AskEvent::Token(tok)))
                .map_err(llm_error)?;
            (c.text.clone(), Some(c))
        };
        timings.generation_ms += ms(t);
        let check = check_citations(&text, &allowed);
        let abstained = prompt::is_abstention(&check.text);
        let uncited = !abstained && check.citations.is_empty();
        let answer = Answer {
            question: question.to_string(),
            language: language.to_string(),
            rewritten,
            answer: check.text,
            citations: check.citations,
            evidence: all,
            dropped: summaries.unsummarised.clone(),
            invalid_citations: check.invalid,
            abstained,
            uncited,
            truncated: completion
                .as_ref()
                .is_some_and(|c| c.finish_reason.as_deref() == Some("length")),
            model_answer: None,
            backend: llm.name(),
            retries: 0,
            usage: Usage {
                prompt_tokens,
                backend_prompt_tokens: completion.as_ref().and_then(|c| c.prompt_tokens),
                completion_tokens: completion.as_ref().and_then(|c| c.completion_tokens),
                context_window: window,
                evidence_budget: limit,
                evidence_tokens: notes_tokens,
                estimated: counter.estimated(),
            },
            summaries: Some(summaries),
            timings: Timings::default(),
        };
        Ok((answer, timings))
    }
}

/// A source back as the hit it came from (its rank as its score, so the order holds).
fn source_hit(s: &Source) -> Hit {
    Hit {
        page_id: s.page_id,
        sentence: s.sentence,
        title: s.title.clone(),
        section: s.section.clone(),
        url: s.url.clone(),
        text: s.text.clone(),
        before: s.before.clone(),
        after: s.after.clone(),
        score: -(s.rank as f32),
        kind: wikirag_core::SentenceKind::Prose,
        revision_id: s.revision_id,
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Hits, best first, as numbered sources: grouped by page (pages in the order of their best
/// hit, sentences in page order), numbered in that order.
fn to_sources(hits: Vec<Hit>) -> Vec<Source> {
    let mut page_rank: HashMap<u64, usize> = HashMap::new();
    for (i, h) in hits.iter().enumerate() {
        page_rank.entry(h.page_id).or_insert(i);
    }
    let mut ranked: Vec<(usize, Hit)> = hits.into_iter().enumerate().collect();
    // Duplicates (the same sentence twice) keep their best rank.
    let mut seen = std::collections::HashSet::new();
    ranked.retain(|(_, h)| seen.insert((h.page_id, h.sentence)));
    ranked.sort_by_key(|(_, h)| (page_rank[&h.page_id], h.sentence));
    ranked
        .into_iter()
        .enumerate()
        .map(|(i, (rank, h))| Source {
            n: i + 1,
            // Filled by `Rag::link_sources` once the sources are chosen (it needs the page).
            link: String::new(),
            revision_id: h.revision_id,
            title: h.title,
            section: h.section,
            url: h.url,
            page_id: h.page_id,
            sentence: h.sentence,
            // Source text cannot forge a citation: its own "[n]" become "(n)".
            text: cite::defuse_markers(&h.text),
            before: h.before.iter().map(|t| cite::defuse_markers(t)).collect(),
            after: h.after.iter().map(|t| cite::defuse_markers(t)).collect(),
            score: h.score,
            rank: rank + 1,
        })
        .collect()
}
