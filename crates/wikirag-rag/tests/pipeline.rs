//! The pipeline against an in-memory retriever and scripted models.

use proptest::prelude::*;
use std::sync::{Arc, Mutex};
use wikirag_core::{
    Completion, Hit, Llm, LlmError, LlmRequest, Retriever, SearchRequest, SentenceKind,
};
use wikirag_rag::{AskEvent, AskOptions, Budget, Rag, TokenCounter, estimate_tokens};

fn hit(page: u64, sentence: u32, title: &str, text: &str) -> Hit {
    Hit {
        title: title.into(),
        section: "History".into(),
        text: text.into(),
        url: format!("https://en.wikipedia.org/wiki/{}", title.replace(' ', "_")),
        page_id: page,
        sentence,
        score: 1.0,
        kind: SentenceKind::Prose,
        revision_id: None,
        before: vec!["Before.".into()],
        after: vec!["After.".into()],
    }
}

/// Returns its hits for every query (and records the queries).
struct Fixed {
    hits: Vec<Hit>,
    queries: Mutex<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Retriever for Fixed {
    type Error = Never;
    fn search(&self, r: &SearchRequest) -> Result<Vec<Hit>, Never> {
        self.queries.lock().unwrap().push(r.query.clone());
        Ok(self.hits.iter().take(r.k).cloned().collect())
    }
}

fn fixed(hits: Vec<Hit>) -> Fixed {
    Fixed {
        hits,
        queries: Mutex::new(Vec::new()),
    }
}

/// A model with a window, counting tokens as words, replying with a script; records prompts.
struct Scripted {
    window: usize,
    replies: Mutex<Vec<Result<String, LlmError>>>,
    prompts: Mutex<Vec<usize>>,
}

impl Llm for Scripted {
    fn name(&self) -> String {
        "scripted".into()
    }
    fn context_window(&self) -> usize {
        self.window
    }
    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(text.split_whitespace().count())
    }
    fn complete(
        &self,
        req: &LlmRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion, LlmError> {
        let counted: usize = req
            .messages
            .iter()
            .map(|m| m.content.split_whitespace().count())
            .sum();
        self.prompts.lock().unwrap().push(counted);
        let reply = self.replies.lock().unwrap().remove(0)?;
        for piece in reply.split_inclusive(' ') {
            on_token(piece);
        }
        Ok(Completion {
            text: reply,
            ..Completion::default()
        })
    }
}

fn many_hits(n: usize, words: usize) -> Vec<Hit> {
    (0..n)
        .map(|i| {
            hit(
                i as u64 / 2,
                i as u32,
                &format!("Page {}", i / 2),
                &"word ".repeat(words),
            )
        })
        .collect()
}

#[test]
fn extractive_answer_cites_the_best_sentences() {
    let rag = Rag::new(
        fixed(vec![
            hit(
                1,
                5,
                "Yuri Gagarin",
                "Yuri Gagarin was the first human in space.",
            ),
            hit(1, 6, "Yuri Gagarin", "He flew Vostok 1."),
            hit(2, 0, "Vostok 1", "Vostok 1 launched on 12 April 1961."),
        ]),
        None,
    );
    let mut tokens = String::new();
    let mut saw_sources = false;
    let answer = rag
        .ask(
            "Who was the first man in space?",
            &AskOptions::default(),
            &mut |e| match e {
                AskEvent::Sources(s) => saw_sources = !s.is_empty(),
                AskEvent::Token(t) => tokens.push_str(t),
            },
        )
        .unwrap();
    assert!(saw_sources);
    assert_eq!(answer.backend, "extractive");
    assert_eq!(answer.rewritten.as_deref(), Some("first man space"));
    // The question does not name Gagarin's page: the two best sentences, numbered as read,
    // the one that does not say whom it is about led by its page's title.
    assert_eq!(
        answer.answer,
        "Yuri Gagarin was the first human in space. [1] Yuri Gagarin — He flew Vostok 1. [2]"
    );
    assert_eq!(tokens, answer.answer);
    assert!(answer.invalid_citations.is_empty() && !answer.abstained);
    let cited: Vec<(usize, u64, u32)> = answer
        .citations
        .iter()
        .map(|c| (c.n, c.page_id, c.sentence))
        .collect();
    assert_eq!(cited, vec![(1, 1, 5), (2, 1, 6)]);
    // Sources are grouped by page and numbered in order, the quoted ones first.
    let ns: Vec<(usize, u64, u32)> = answer
        .evidence
        .iter()
        .map(|s| (s.n, s.page_id, s.sentence))
        .collect();
    assert_eq!(ns, vec![(1, 1, 5), (2, 1, 6), (3, 2, 0)]);
}

/// Answers the question with one list and its keyword rewrite with another.
struct TwoLists {
    question: Vec<Hit>,
    rewrite: Vec<Hit>,
}

impl Retriever for TwoLists {
    type Error = Never;
    fn search(&self, r: &SearchRequest) -> Result<Vec<Hit>, Never> {
        Ok(if r.query.ends_with('?') {
            self.question.clone()
        } else {
            self.rewrite.clone()
        })
    }
}

/// (answer, citations as (n, page, sentence), evidence as (n, page, sentence)).
type Quoted = (String, Vec<(usize, u64, u32)>, Vec<(usize, u64, u32)>);

fn extractive(question: &str, lists: TwoLists) -> Quoted {
    let a = Rag::new(lists, None)
        .ask(question, &AskOptions::default(), &mut |_| {})
        .unwrap();
    let cited = a
        .citations
        .iter()
        .map(|c| (c.n, c.page_id, c.sentence))
        .collect();
    let evidence = a
        .evidence
        .iter()
        .map(|s| (s.n, s.page_id, s.sentence))
        .collect();
    (a.answer, cited, evidence)
}

/// How many sentences the extractive answer quotes is the evidence's call: one when both
/// searches put it first and the question names its page; two when they disagree, when the
/// question does not name it, or when the best is a page's lead and the next is on that page;
/// none when the best shares no word with the question. Quoted sentences are numbered [1],
/// [2] in the order they are read, whatever order the sources came in.
#[test]
fn the_extractive_answer_quotes_what_the_evidence_supports() {
    let vostok = hit(2, 3, "Vostok 1", "Vostok 1 launched on 12 April 1961.");
    let gagarin = hit(1, 5, "Yuri Gagarin", "Yuri Gagarin flew Vostok 1.");
    let (answer, cited, _) = extractive(
        "When was Vostok 1 launched?",
        TwoLists {
            question: vec![vostok.clone(), gagarin.clone()],
            rewrite: vec![vostok.clone(), gagarin.clone()],
        },
    );
    assert_eq!(answer, "Vostok 1 launched on 12 April 1961. [1]");
    assert_eq!(cited, vec![(1, 2, 3)]);

    // The searches disagree on the best: two.
    let (_, cited, _) = extractive(
        "When was Vostok 1 launched?",
        TwoLists {
            question: vec![vostok.clone(), gagarin.clone()],
            rewrite: vec![gagarin.clone(), vostok.clone()],
        },
    );
    assert_eq!(cited.len(), 2, "{cited:?}");

    // A lead sentence, then its page's next one: both.
    let lead = hit(
        7,
        0,
        "Alpha Centauri",
        "Alpha Centauri is the nearest star system.",
    );
    let next = hit(
        7,
        1,
        "Alpha Centauri",
        "It is 4.37 light-years from the Sun.",
    );
    let (answer, cited, _) = extractive(
        "How far is Alpha Centauri?",
        TwoLists {
            question: vec![lead.clone(), next.clone(), gagarin.clone()],
            rewrite: vec![lead.clone(), next.clone(), gagarin.clone()],
        },
    );
    assert_eq!(cited, vec![(1, 7, 0), (2, 7, 1)], "{answer}");

    // Read in rank order, numbered as read: the page's later sentence ranks first, so it is
    // [1] and the sources are renumbered to match.
    let (answer, cited, evidence) = extractive(
        "Who flew Vostok 1?",
        TwoLists {
            question: vec![
                hit(1, 6, "Yuri Gagarin", "He flew Vostok 1."),
                gagarin.clone(),
            ],
            rewrite: vec![
                hit(1, 6, "Yuri Gagarin", "He flew Vostok 1."),
                gagarin.clone(),
            ],
        },
    );
    assert_eq!(
        answer,
        "Yuri Gagarin — He flew Vostok 1. [1] Yuri Gagarin flew Vostok 1. [2]"
    );
    assert_eq!(cited, vec![(1, 1, 6), (2, 1, 5)]);
    assert_eq!(evidence, vec![(1, 1, 6), (2, 1, 5)]);

    // Nothing shares a word with the question: "I don't know", the sources still shown.
    let a = Rag::new(
        TwoLists {
            question: vec![vostok.clone()],
            rewrite: vec![vostok.clone()],
        },
        None,
    )
    .ask(
        "Who painted the Zorblat ceiling?",
        &AskOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(a.abstained && a.citations.is_empty(), "{a:?}");
    assert!(a.answer.starts_with("I don't know"), "{}", a.answer);
    assert_eq!(a.evidence.len(), 1);
}

#[test]
fn empty_or_overlong_questions_are_refused() {
    let rag = Rag::new(fixed(vec![]), None);
    assert!(rag.ask("  ", &AskOptions::default(), &mut |_| {}).is_err());
    let long = "why ".repeat(1000);
    let err = rag
        .ask(&long, &AskOptions::default(), &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");
    // Nothing found: the extractive answer says so.
    let answer = rag
        .ask("What is x?", &AskOptions::default(), &mut |_| {})
        .unwrap();
    assert!(answer.abstained && answer.citations.is_empty());
}

/// Asks "what about word" over `k` hits of 60 words (no per-page cap) of a scripted model;
/// the answer and the prompt sizes the model saw.
fn ask_scripted(
    window: usize,
    replies: Vec<Result<String, LlmError>>,
    k: usize,
) -> (wikirag_rag::Answer, Vec<usize>) {
    let llm = Arc::new(Scripted {
        window,
        replies: Mutex::new(replies),
        prompts: Mutex::new(vec![]),
    });
    let rag = Rag::new(fixed(many_hits(k, 60)), Some(llm.clone() as Arc<dyn Llm>));
    let options = AskOptions {
        k,
        per_page: 0,
        ..AskOptions::default()
    };
    let answer = rag.ask("what about word", &options, &mut |_| {}).unwrap();
    let prompts = llm.prompts.lock().unwrap().clone();
    (answer, prompts)
}

#[test]
fn context_length_error_is_retried_with_a_smaller_budget() {
    let (answer, prompts) = ask_scripted(
        4000,
        vec![
            Err(LlmError::ContextLength(
                "maximum context length is 1000".into(),
            )),
            Err(LlmError::ContextLength("still too long".into())),
            Ok("Page 0 says word [1] and [42].".into()),
        ],
        40,
    );
    assert_eq!(answer.retries, 2);
    assert!(
        prompts[1] < prompts[0] && prompts[2] < prompts[1],
        "{prompts:?}"
    );
    assert!(!answer.dropped.is_empty());
    assert_eq!(answer.answer, "Page 0 says word [1] and.");
    assert_eq!(answer.invalid_citations.len(), 1);
    assert_eq!(answer.citations.len(), 1);
    assert!(!answer.usage.estimated);
}

/// A server whose window is far smaller than the assumed one (llama.cpp at `--n_ctx 512`
/// while 8192 is assumed): each retry sends less evidence than the last prompt held (not half
/// of an unused budget, which sent the same prompt again), and a window the server names in
/// its message bounds the next prompt.
#[test]
fn retries_shrink_the_evidence_actually_sent() {
    let (answer, prompts) = ask_scripted(
        8192,
        vec![
            Err(LlmError::ContextLength(
                "the server closed the stream".into(),
            )),
            Err(LlmError::ContextLength(
                "Requested tokens (700) exceed context window of 250".into(),
            )),
            Ok("Page 0 [1].".into()),
        ],
        8,
    );
    assert_eq!(answer.retries, 2);
    assert!(prompts[1] < prompts[0], "{prompts:?}");
    assert!(prompts[2] <= 250, "{prompts:?}");
    assert!(!answer.evidence.is_empty());
}

#[test]
fn other_llm_errors_fail_clearly_and_abstentions_are_flagged() {
    let llm = Arc::new(Scripted {
        window: 4000,
        replies: Mutex::new(vec![
            Err(LlmError::Unavailable("503".into())),
            Ok("I don't know.".into()),
        ]),
        prompts: Mutex::new(vec![]),
    });
    let rag = Rag::new(fixed(many_hits(3, 5)), Some(llm as Arc<dyn Llm>));
    let err = rag
        .ask("q word", &AskOptions::default(), &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
    // The backend's message is in the error once: not also its `source` (a report walking
    // the chain printed "connection refused" twice).
    assert_eq!(err.to_string().matches("503").count(), 1, "{err}");
    assert!(std::error::Error::source(&err).is_none());
    let answer = rag
        .ask("q word", &AskOptions::default(), &mut |_| {})
        .unwrap();
    assert!(answer.abstained);
}

#[test]
fn a_window_too_small_for_the_question_is_an_error_not_an_overflow() {
    let llm = Arc::new(Scripted {
        window: 40,
        replies: Mutex::new(vec![]),
        prompts: Mutex::new(vec![]),
    });
    let rag = Rag::new(fixed(many_hits(3, 5)), Some(llm as Arc<dyn Llm>));
    let err = rag
        .ask("q word", &AskOptions::default(), &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("cannot hold"), "{err}");
}

/// Replies with a fixed text and finish reason.
struct Reply(&'static str, &'static str);

impl Llm for Reply {
    fn name(&self) -> String {
        "reply".into()
    }
    fn context_window(&self) -> usize {
        4000
    }
    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(text.split_whitespace().count())
    }
    fn complete(
        &self,
        _: &LlmRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion, LlmError> {
        on_token(self.0);
        Ok(Completion {
            text: self.0.into(),
            finish_reason: Some(self.1.into()),
            ..Completion::default()
        })
    }
}

fn gagarin() -> Vec<Hit> {
    vec![
        hit(
            1,
            5,
            "Yuri Gagarin",
            "Yuri Gagarin was the first human in space.",
        ),
        hit(2, 0, "Vostok 1", "Vostok 1 launched on 12 April 1961."),
    ]
}

#[test]
fn an_answer_citing_nothing_is_flagged_and_can_be_replaced_by_the_extractive_one() {
    let llm: Arc<dyn Llm> = Arc::new(Reply("It was Gagarin, in 1961.", "stop"));
    let rag = Rag::new(fixed(gagarin()), Some(llm));
    let q = "Who was the first man in space?";
    let answer = rag.ask(q, &AskOptions::default(), &mut |_| {}).unwrap();
    assert!(answer.uncited && !answer.abstained && !answer.truncated);
    assert!(answer.citations.is_empty());
    assert_eq!(answer.answer, "It was Gagarin, in 1961.");
    assert_eq!(answer.model_answer, None);

    let strict = AskOptions {
        require_citations: true,
        ..AskOptions::default()
    };
    let answer = rag.ask(q, &strict, &mut |_| {}).unwrap();
    assert_eq!(
        answer.model_answer.as_deref(),
        Some("It was Gagarin, in 1961.")
    );
    assert!(
        answer.answer.contains("first human in space. [1]"),
        "{}",
        answer.answer
    );
    assert!(!answer.citations.is_empty() && !answer.abstained);
    // The citations point into the evidence the answer carries.
    for c in &answer.citations {
        let s = answer.evidence.iter().find(|s| s.n == c.n).unwrap();
        assert_eq!((s.page_id, s.sentence), (c.page_id, c.sentence));
    }
    // A cited answer is left alone; an abstention is not "uncited".
    let llm: Arc<dyn Llm> = Arc::new(Reply("Yuri Gagarin [1].", "stop"));
    let answer = Rag::new(fixed(gagarin()), Some(llm))
        .ask(q, &strict, &mut |_| {})
        .unwrap();
    assert!(!answer.uncited && answer.model_answer.is_none());
    let llm: Arc<dyn Llm> = Arc::new(Reply("I don't know.", "stop"));
    let answer = Rag::new(fixed(gagarin()), Some(llm))
        .ask(q, &strict, &mut |_| {})
        .unwrap();
    assert!(answer.abstained && !answer.uncited && answer.model_answer.is_none());
}

#[test]
fn an_answer_cut_at_the_token_limit_is_flagged_truncated() {
    let llm: Arc<dyn Llm> = Arc::new(Reply("Yuri Gagarin [1] was the first to", "length"));
    let answer = Rag::new(fixed(gagarin()), Some(llm))
        .ask(
            "Who was the first man in space?",
            &AskOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    assert!(answer.truncated && !answer.uncited);
}

#[test]
fn a_bracketed_number_in_source_text_cannot_forge_a_citation() {
    let hits = vec![
        hit(
            1,
            5,
            "Yuri Gagarin",
            "Gagarin flew first [2] in 1961 [2, 3].",
        ),
        hit(2, 0, "Vostok 1", "Vostok 1 launched on 12 April 1961."),
    ];
    let options = AskOptions {
        extractive_sentences: 1,
        ..AskOptions::default()
    };
    let answer = Rag::new(fixed(hits.clone()), None)
        .ask("Who flew first?", &options, &mut |_| {})
        .unwrap();
    assert_eq!(answer.answer, "Gagarin flew first (2) in 1961 (2, 3). [1]");
    let cited: Vec<usize> = answer.citations.iter().map(|c| c.n).collect();
    assert_eq!(cited, vec![1]);
    assert!(answer.invalid_citations.is_empty());
    // The model sees the defused text too, so it cannot copy the marker.
    let llm = Arc::new(Scripted {
        window: 4000,
        replies: Mutex::new(vec![Ok("Gagarin [1].".into())]),
        prompts: Mutex::new(vec![]),
    });
    let answer = Rag::new(fixed(hits), Some(llm as Arc<dyn Llm>))
        .ask("Who flew first?", &AskOptions::default(), &mut |_| {})
        .unwrap();
    assert!(answer.evidence.iter().all(|s| !s.text.contains("[2")));
}

#[test]
fn a_small_window_shrinks_the_answer_reserve_instead_of_refusing() {
    let llm = Arc::new(Scripted {
        window: 512,
        replies: Mutex::new(vec![Ok("Page 0 [1].".into())]),
        prompts: Mutex::new(vec![]),
    });
    let rag = Rag::new(fixed(many_hits(6, 10)), Some(llm.clone() as Arc<dyn Llm>));
    let answer = rag
        .ask("q word", &AskOptions::default(), &mut |_| {})
        .unwrap();
    assert!(!answer.evidence.is_empty());
    assert!(
        answer.usage.prompt_tokens + 128 <= 512,
        "{:?}",
        answer.usage
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever the evidence, the prompt fits the declared context with room for the answer.
    #[test]
    fn the_prompt_always_fits(
        n in 0usize..60,
        words in 1usize..400,
        window in 300usize..8000,
        answer in 16usize..256,
        estimate in any::<bool>(),
    ) {
        let hits = many_hits(n, words);
        let budget = Budget::new(window, answer, None);
        let scripted = Scripted { window, replies: Mutex::new(vec![]), prompts: Mutex::new(vec![]) };
        let counter = if estimate { TokenCounter::estimating() } else { TokenCounter::new(&scripted) };
        if let Some(packed) = wikirag_rag::prompt_pack(&counter, &budget, "what is word", "en", &hits) {
            let total = counter.count_messages(&packed.messages);
            prop_assert!(total + answer <= window, "{total} + {answer} > {window}");
            prop_assert_eq!(packed.sources.len() + packed.dropped.len(), n);
            if estimate {
                let chars: usize = packed.messages.iter().map(|m| estimate_tokens(&m.content)).sum();
                prop_assert!(chars <= total);
            }
        }
    }
}

/// A model for the summarising loop: a summary call reports the fact with the number of the
/// source that holds it (else NONE); the final call answers from a note that has the fact.
/// Tokens are words; every request is recorded.
struct Summarising {
    requests: Mutex<Vec<LlmRequest>>,
}

const FACT: &str = "The launch code was XYZZY-42.";

impl Llm for Summarising {
    fn name(&self) -> String {
        "summarising".into()
    }
    fn context_window(&self) -> usize {
        400
    }
    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(text.split_whitespace().count())
    }
    fn complete(
        &self,
        req: &LlmRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion, LlmError> {
        let words: usize = req
            .messages
            .iter()
            .map(|m| m.content.split_whitespace().count())
            .sum();
        assert!(
            words + req.max_tokens <= 400,
            "{words} + {} over the window",
            req.max_tokens
        );
        self.requests.lock().unwrap().push(req.clone());
        let user = &req.messages[1].content;
        let reply = if req.messages[0].content.starts_with("Summarise") {
            // "[n] Title (url)\ntext": the number of the source whose text has the fact.
            let mut n = None;
            let mut current = None;
            for line in user.lines() {
                if let Some(rest) = line.strip_prefix('[') {
                    current = rest.split(']').next().and_then(|d| d.parse::<usize>().ok());
                } else if line.contains("XYZZY-42") {
                    n = current;
                }
            }
            match n {
                Some(n) => format!("The launch code was XYZZY-42 [{n}]. Also [999]."),
                None => "NONE".to_string(),
            }
        } else {
            // The final answer: the note's fact and number, if a note has it.
            match user.lines().find(|l| l.contains("XYZZY-42")) {
                Some(note) => {
                    let n = note.split('[').nth(1).unwrap().split(']').next().unwrap();
                    format!("The code was XYZZY-42 [{n}].")
                }
                None => "I don't know.".to_string(),
            }
        };
        on_token(&reply);
        Ok(Completion {
            text: reply,
            ..Completion::default()
        })
    }
}

/// Many hits; the fact is only in the last, lowest-ranked one, far past what the budget holds.
fn hits_with_a_late_fact() -> Vec<Hit> {
    let mut hits = many_hits(30, 40);
    hits.push(hit(77, 12, "Launch", FACT));
    hits
}

/// The seed's missing step: a fact present only in evidence that did not fit the budget
/// reaches the final answer, cited with the number of its original sentence, within the call
/// limit; invalid numbers in a summary are dropped; without the loop the fact is lost.
#[test]
fn summarising_brings_a_fact_that_did_not_fit_into_the_answer() {
    let options = AskOptions {
        k: 40,
        per_page: 40,
        summarise: true,
        summary_calls: 20,
        answer_tokens: 64,
        ..AskOptions::default()
    };
    let llm = Arc::new(Summarising {
        requests: Mutex::new(Vec::new()),
    });
    let rag = Rag::new(fixed(hits_with_a_late_fact()), Some(llm.clone()));
    let answer = rag
        .ask("What was the launch code?", &options, &mut |_| {})
        .unwrap();
    assert!(answer.answer.contains("XYZZY-42"), "{answer:#?}");
    assert_eq!(answer.citations.len(), 1, "{answer:#?}");
    let c = &answer.citations[0];
    assert_eq!((c.page_id, c.sentence, c.text.as_str()), (77, 12, FACT));
    assert!(answer.invalid_citations.is_empty(), "{answer:#?}");
    let summaries = answer.summaries.as_ref().expect("the loop ran");
    assert!(
        summaries.calls >= 2 && summaries.calls <= 20,
        "{summaries:#?}"
    );
    assert_eq!(summaries.notes.len(), 1, "{summaries:#?}");
    // The summary's made-up [999] did not survive.
    assert!(!summaries.notes[0].text.contains("999"), "{summaries:#?}");
    assert!(summaries.unsummarised.is_empty(), "{summaries:#?}");
    assert!(summaries.prompt_tokens > 0 && summaries.completion_tokens > 0);
    // Every source was sent to a summary call; the final call got notes, not sources.
    let requests = llm.requests.lock().unwrap();
    assert_eq!(requests.len(), summaries.calls + 1);
    assert!(
        !requests.last().unwrap().messages[1]
            .content
            .contains("word word")
    );

    // Without the loop: the fact does not fit, and the answer cannot have it.
    let plain = Rag::new(
        fixed(hits_with_a_late_fact()),
        Some(Arc::new(Summarising {
            requests: Mutex::new(Vec::new()),
        }) as Arc<dyn Llm>),
    );
    let answer = plain
        .ask(
            "What was the launch code?",
            &AskOptions {
                summarise: false,
                ..options.clone()
            },
            &mut |_| {},
        )
        .unwrap();
    assert!(!answer.answer.contains("XYZZY-42"), "{}", answer.answer);
    assert!(answer.dropped.iter().any(|d| d == "Launch #12"));
}

/// The loop is bounded: past the call limit the rest is reported as not summarised, and with
/// no relevant note the answer is a clear abstention, made without a final call.
#[test]
fn summarising_stops_at_its_call_limit_and_abstains_clearly() {
    let llm = Arc::new(Summarising {
        requests: Mutex::new(Vec::new()),
    });
    let rag = Rag::new(fixed(hits_with_a_late_fact()), Some(llm.clone()));
    let options = AskOptions {
        k: 40,
        per_page: 40,
        summarise: true,
        summary_calls: 1,
        answer_tokens: 64,
        ..AskOptions::default()
    };
    let answer = rag
        .ask("What was the launch code?", &options, &mut |_| {})
        .unwrap();
    let summaries = answer.summaries.as_ref().unwrap();
    assert_eq!(summaries.calls, 1);
    assert_eq!(summaries.stopped.as_deref(), Some("call limit"));
    assert!(summaries.unsummarised.iter().any(|d| d == "Launch #12"));
    assert!(
        answer.abstained && answer.citations.is_empty(),
        "{answer:#?}"
    );
    assert_eq!(llm.requests.lock().unwrap().len(), 1);

    // A time limit of zero: no call at all.
    let answer = rag
        .ask(
            "What was the launch code?",
            &AskOptions {
                summary_time_limit_ms: 0,
                summary_calls: 20,
                ..options
            },
            &mut |_| {},
        )
        .unwrap();
    let summaries = answer.summaries.as_ref().unwrap();
    assert_eq!(
        (summaries.calls, summaries.stopped.as_deref()),
        (0, Some("time limit"))
    );
    assert!(answer.abstained);
}
