//! Evaluation of retrieval quality: question sets, metrics, parameter sweeps and reports.
//!
//! This crate sees only the core [`Retriever`] trait and [`SearchRequest`]: it never knows
//! whether hits come from BM25, vectors or a fusion of both. It never prints; reports are
//! returned as data and written to files by [`report`].

pub mod report;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use unicode_normalization::UnicodeNormalization;
use wikirag_core::{Hit, Retriever, SearchRequest};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    BadQuestion {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: no questions")]
    Empty { path: PathBuf },
    #[error("unknown sweep parameter {name:?}; known: {known}")]
    UnknownParameter { name: String, known: String },
    #[error("sweep {name}: value {value:?} is not valid: {message}")]
    BadValue {
        name: String,
        value: String,
        message: String,
    },
    #[error("writing the report: {0}")]
    Plot(String),
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;

/// One line of a question file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Question {
    pub question: String,
    /// Strings any of which counts as found (case- and accent-insensitive).
    #[serde(default)]
    pub answers: Vec<String>,
    /// Gold article titles.
    #[serde(default)]
    pub titles: Vec<String>,
    /// Used to break results down ("infobox", "deep", "paraphrase", …).
    #[serde(default)]
    pub kind: Option<String>,
    /// Language of the question, for the per-language breakdown.
    #[serde(default)]
    pub lang: Option<String>,
}

/// Reads a JSON-lines question file; blank lines and lines starting with `//` are skipped.
pub fn load_questions(path: &Path) -> Result<Vec<Question>> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let bad = |message: String| EvalError::BadQuestion {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let q: Question = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        if q.question.trim().is_empty() {
            return Err(bad("empty question".into()));
        }
        if q.answers.is_empty() && q.titles.is_empty() {
            return Err(bad("needs `answers` or `titles`".into()));
        }
        out.push(q);
    }
    if out.is_empty() {
        return Err(EvalError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// Case- and accent-insensitive form used to match answers: NFD, combining marks dropped,
/// lower case, typographic apostrophes folded, whitespace collapsed.
pub fn normalize(s: &str) -> String {
    let folded: String = s
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '’' | '‘' | 'ʼ' => '\'',
            '\u{a0}' | '\u{202f}' => ' ',
            c => c,
        })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The cut-offs recall and title hits are reported at.
pub const CUTOFFS: [usize; 4] = [1, 5, 10, 20];

/// Retrieval parameters an evaluation run uses; every one can be swept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Hits retrieved per question (metrics at cut-offs above it count what was retrieved).
    pub k: usize,
    pub per_page: usize,
    pub context: usize,
    /// Retriever-level settings the caller interprets (mode, fusion, …), recorded as given.
    pub extra: BTreeMap<String, String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            k: 20,
            per_page: 3,
            context: 0,
            extra: BTreeMap::new(),
        }
    }
}

impl Params {
    /// Sets a parameter from its sweep name.
    pub fn set(&mut self, name: &str, value: &str, extra_names: &[&str]) -> Result<()> {
        let parse = |v: &str| {
            v.parse::<usize>().map_err(|e| EvalError::BadValue {
                name: name.to_string(),
                value: v.to_string(),
                message: e.to_string(),
            })
        };
        match name {
            "k" => self.k = parse(value)?.max(1),
            "per_page" => self.per_page = parse(value)?,
            "context" => self.context = parse(value)?,
            other if extra_names.contains(&other) => {
                self.extra.insert(other.to_string(), value.to_string());
            }
            other => {
                let mut known = vec!["k", "per_page", "context"];
                known.extend_from_slice(extra_names);
                return Err(EvalError::UnknownParameter {
                    name: other.to_string(),
                    known: known.join(", "),
                });
            }
        }
        Ok(())
    }

    /// Every parameter as text, for tables.
    pub fn as_map(&self) -> BTreeMap<String, String> {
        let mut m = self.extra.clone();
        m.insert("k".into(), self.k.to_string());
        m.insert("per_page".into(), self.per_page.to_string());
        m.insert("context".into(), self.context.to_string());
        m
    }
}

/// Metrics over a set of questions.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub questions: usize,
    /// k → share of questions with an answer string in a top-k sentence.
    pub recall_at: BTreeMap<usize, f64>,
    /// k → share of questions with a gold title among the top-k hits.
    pub title_hit_at: BTreeMap<usize, f64>,
    /// Mean reciprocal rank of the first sentence holding an answer (0 when none).
    pub mrr: f64,
    /// nDCG@10 with binary gains (a sentence holding an answer), ideal = the answer-holding
    /// sentences retrieved, ranked first.
    pub ndcg_at_10: f64,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub mean: f64,
}

/// What one evaluation run measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub params: BTreeMap<String, String>,
    #[serde(flatten)]
    pub overall: Summary,
    pub per_kind: BTreeMap<String, Summary>,
    pub per_language: BTreeMap<String, Summary>,
    pub latency_ms: Latency,
    /// Questions whose search failed (they count as misses), with the error.
    pub failures: Vec<String>,
    pub seconds: f64,
    /// Per-question outcome, for looking at misses.
    pub outcomes: Vec<Outcome>,
    /// Answer metrics, with `--ask`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<AnswerMetrics>,
}

/// What an answering system returned for one question (the binary adapts `wikirag ask`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AskResult {
    pub answer: String,
    /// The text of every cited sentence.
    pub cited: Vec<String>,
    pub abstained: bool,
    /// Retrieval + packing, without generation.
    pub millis_without_generation: f64,
}

/// Something that answers questions.
pub trait Answerer {
    fn answer(&self, question: &str) -> std::result::Result<AskResult, String>;
}

/// Answer quality over a question set.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct AnswerMetrics {
    pub questions: usize,
    /// Share of questions whose answer contains an expected string.
    pub answer_contains: f64,
    /// Over all citations of all answers: share of cited sentences that contain an expected
    /// string.
    pub citation_precision: f64,
    /// Mean citations per answer.
    pub citations_per_answer: f64,
    /// Share of answers that say the sources do not answer.
    pub abstentions: f64,
    /// Questions whose ask failed, with the error.
    pub failures: Vec<String>,
    /// Whole ask, generation included.
    pub latency_ms: Latency,
    /// Retrieval and packing only.
    pub latency_without_generation_ms: Latency,
}

/// Asks every question and scores the answers.
pub fn evaluate_answers<A: Answerer>(answerer: &A, questions: &[Question]) -> AnswerMetrics {
    let mut contains = 0usize;
    let mut cited = 0usize;
    let mut cited_ok = 0usize;
    let mut abstained = 0usize;
    let mut failures = Vec::new();
    let mut times = Vec::new();
    let mut inner = Vec::new();
    for q in questions {
        let answers: Vec<String> = q.answers.iter().map(|a| normalize(a)).collect();
        let holds = |text: &str| {
            let t = normalize(text);
            answers.iter().any(|a| t.contains(a.as_str()))
        };
        let t = Instant::now();
        match answerer.answer(&q.question) {
            Ok(r) => {
                times.push(t.elapsed().as_secs_f64() * 1e3);
                inner.push(r.millis_without_generation);
                if holds(&r.answer) {
                    contains += 1;
                }
                cited += r.cited.len();
                cited_ok += r.cited.iter().filter(|c| holds(c)).count();
                if r.abstained {
                    abstained += 1;
                }
            }
            Err(e) => failures.push(format!("{}: {e}", q.question)),
        }
    }
    let n = questions.len().max(1) as f64;
    AnswerMetrics {
        questions: questions.len(),
        answer_contains: contains as f64 / n,
        citation_precision: if cited == 0 {
            0.0
        } else {
            cited_ok as f64 / cited as f64
        },
        citations_per_answer: cited as f64 / n,
        abstentions: abstained as f64 / n,
        failures,
        latency_ms: latency(&mut times),
        latency_without_generation_ms: latency(&mut inner),
    }
}

fn latency(ms: &mut [f64]) -> Latency {
    ms.sort_by(f64::total_cmp);
    Latency {
        p50: percentile(ms, 0.5),
        p95: percentile(ms, 0.95),
        mean: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
    }
}

/// One question's outcome.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub question: String,
    pub kind: Option<String>,
    /// 1-based rank of the first sentence holding an answer.
    pub answer_rank: Option<usize>,
    /// 1-based rank of the first hit from a gold title.
    pub title_rank: Option<usize>,
    pub millis: f64,
    /// The top hit, as `title: sentence`.
    pub top: Option<String>,
}

struct Scored {
    outcome: Outcome,
    relevant: Vec<bool>,
    kind: String,
    lang: String,
}

fn is_relevant(hit: &Hit, answers: &[String]) -> bool {
    let text = normalize(&hit.text);
    answers.iter().any(|a| text.contains(a.as_str()))
}

/// Runs every question through `retriever` with `params`.
pub fn evaluate<R: Retriever>(retriever: &R, questions: &[Question], params: &Params) -> Report {
    let started = Instant::now();
    let mut scored = Vec::with_capacity(questions.len());
    let mut failures = Vec::new();
    for q in questions {
        let request = SearchRequest {
            query: q.question.clone(),
            k: params.k,
            context: params.context,
            per_page: params.per_page,
        };
        let t = Instant::now();
        let hits = match retriever.search(&request) {
            Ok(hits) => hits,
            Err(e) => {
                failures.push(format!("{}: {e}", q.question));
                Vec::new()
            }
        };
        let millis = t.elapsed().as_secs_f64() * 1e3;
        let answers: Vec<String> = q.answers.iter().map(|a| normalize(a)).collect();
        let titles: Vec<String> = q.titles.iter().map(|t| normalize(t)).collect();
        let relevant: Vec<bool> = hits.iter().map(|h| is_relevant(h, &answers)).collect();
        let answer_rank = relevant.iter().position(|r| *r).map(|i| i + 1);
        let title_rank = hits
            .iter()
            .position(|h| titles.contains(&normalize(&h.title)))
            .map(|i| i + 1);
        scored.push(Scored {
            outcome: Outcome {
                question: q.question.clone(),
                kind: q.kind.clone(),
                answer_rank: if answers.is_empty() {
                    None
                } else {
                    answer_rank
                },
                title_rank,
                millis,
                top: hits.first().map(|h| format!("{}: {}", h.title, h.text)),
            },
            relevant,
            kind: q.kind.clone().unwrap_or_else(|| "unspecified".into()),
            lang: q.lang.clone().unwrap_or_else(|| "unspecified".into()),
        });
    }
    let all: Vec<&Scored> = scored.iter().collect();
    let overall = summarize(&all);
    let group = |key: fn(&Scored) -> &str| {
        let mut groups: BTreeMap<String, Vec<&Scored>> = BTreeMap::new();
        for s in &scored {
            groups.entry(key(s).to_string()).or_default().push(s);
        }
        groups
            .into_iter()
            .map(|(k, v)| (k, summarize(&v)))
            .collect::<BTreeMap<_, _>>()
    };
    let per_kind = group(|s| s.kind.as_str());
    let per_language = group(|s| s.lang.as_str());
    let mut times: Vec<f64> = scored.iter().map(|s| s.outcome.millis).collect();
    times.sort_by(f64::total_cmp);
    let latency_ms = Latency {
        p50: percentile(&times, 0.50),
        p95: percentile(&times, 0.95),
        mean: times.iter().sum::<f64>() / times.len().max(1) as f64,
    };
    Report {
        params: params.as_map(),
        overall,
        per_kind,
        per_language,
        latency_ms,
        failures,
        seconds: started.elapsed().as_secs_f64(),
        outcomes: scored.into_iter().map(|s| s.outcome).collect(),
        answers: None,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summarize(items: &[&Scored]) -> Summary {
    let n = items.len().max(1) as f64;
    let mut recall_at = BTreeMap::new();
    let mut title_hit_at = BTreeMap::new();
    for k in CUTOFFS {
        let r = items
            .iter()
            .filter(|s| s.outcome.answer_rank.is_some_and(|r| r <= k))
            .count();
        let t = items
            .iter()
            .filter(|s| s.outcome.title_rank.is_some_and(|r| r <= k))
            .count();
        recall_at.insert(k, r as f64 / n);
        title_hit_at.insert(k, t as f64 / n);
    }
    let mrr = items
        .iter()
        .map(|s| s.outcome.answer_rank.map_or(0.0, |r| 1.0 / r as f64))
        .sum::<f64>()
        / n;
    let ndcg_at_10 = items.iter().map(|s| ndcg(&s.relevant, 10)).sum::<f64>() / n;
    Summary {
        questions: items.len(),
        recall_at,
        title_hit_at,
        mrr,
        ndcg_at_10,
    }
}

/// nDCG@k with binary gains; the ideal ranking puts every relevant retrieved hit first.
fn ndcg(relevant: &[bool], k: usize) -> f64 {
    let dcg: f64 = relevant
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, r)| **r)
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        .sum();
    let n_rel = relevant.iter().filter(|r| **r).count().min(k);
    let idcg: f64 = (0..n_rel).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// Every combination of the swept values, applied on top of `base`, in the order given.
pub fn expand_sweeps(
    base: &Params,
    sweeps: &[(String, Vec<String>)],
    extra_names: &[&str],
) -> Result<Vec<Params>> {
    let mut runs = vec![base.clone()];
    for (name, values) in sweeps {
        let mut next = Vec::new();
        for run in &runs {
            for v in values {
                let mut p = run.clone();
                p.set(name, v, extra_names)?;
                next.push(p);
            }
        }
        runs = next;
    }
    Ok(runs)
}

/// Parses `name=v1,v2,v3`.
pub fn parse_sweep(spec: &str) -> Result<(String, Vec<String>)> {
    let (name, values) = spec.split_once('=').ok_or_else(|| EvalError::BadValue {
        name: spec.to_string(),
        value: String::new(),
        message: "expected name=v1,v2".into(),
    })?;
    let values: Vec<String> = values
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return Err(EvalError::BadValue {
            name: name.to_string(),
            value: String::new(),
            message: "no values".into(),
        });
    }
    Ok((name.trim().to_string(), values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wikirag_core::SentenceKind;

    struct Fake;
    impl Retriever for Fake {
        type Error = std::io::Error;
        fn search(&self, r: &SearchRequest) -> Result<Vec<Hit>, std::io::Error> {
            let hit = |title: &str, text: &str| Hit {
                title: title.into(),
                section: String::new(),
                text: text.into(),
                url: String::new(),
                page_id: 1,
                sentence: 0,
                score: 1.0,
                kind: SentenceKind::Prose,
                revision_id: None,
                before: vec![],
                after: vec![],
            };
            if r.query.contains("fail") {
                return Err(std::io::Error::other("boom"));
            }
            Ok(vec![
                hit("Other", "nothing here"),
                hit(
                    "Édith Cresson",
                    "Elle est la première femme Premier ministre.",
                ),
                hit("Élisabeth Borne", "ÉLISABETH BORNE est nommée en 2022."),
            ]
            .into_iter()
            .take(r.k)
            .collect())
        }
    }

    fn q(question: &str, answers: &[&str], titles: &[&str], kind: &str) -> Question {
        Question {
            question: question.into(),
            answers: answers.iter().map(|s| s.to_string()).collect(),
            titles: titles.iter().map(|s| s.to_string()).collect(),
            kind: Some(kind.into()),
            lang: Some("fr".into()),
        }
    }

    #[test]
    fn metrics_by_hand() {
        let questions = vec![
            q("a", &["premiere femme"], &["Edith Cresson"], "x"),
            q("b", &["elisabeth borne"], &["Élisabeth Borne"], "y"),
            q("c", &["absent"], &["Nowhere"], "y"),
            q("fail", &["x"], &[], "y"),
        ];
        let r = evaluate(&Fake, &questions, &Params::default());
        // Answers at ranks 2 and 3, then two misses.
        assert_eq!(r.overall.recall_at[&1], 0.0);
        assert_eq!(r.overall.recall_at[&5], 0.5);
        assert!((r.overall.mrr - (0.5 + 1.0 / 3.0) / 4.0).abs() < 1e-9);
        assert_eq!(r.overall.title_hit_at[&5], 0.5);
        let ndcg_rank2 = 1.0 / 3f64.log2();
        let ndcg_rank3 = 1.0 / 4f64.log2();
        assert!((r.overall.ndcg_at_10 - (ndcg_rank2 + ndcg_rank3) / 4.0).abs() < 1e-9);
        assert_eq!(r.per_kind["x"].questions, 1);
        assert_eq!(r.per_kind["y"].recall_at[&5], 1.0 / 3.0);
        assert_eq!(r.failures.len(), 1);
        // k limits what is retrieved.
        let p = Params {
            k: 2,
            ..Params::default()
        };
        assert_eq!(evaluate(&Fake, &questions, &p).overall.recall_at[&5], 0.25);
    }

    #[test]
    fn normalization_and_sweeps() {
        assert_eq!(normalize("  Élisabeth\u{a0}BORNE’s "), "elisabeth borne's");
        let base = Params::default();
        let sweeps = vec![
            parse_sweep("k=5,10").unwrap(),
            parse_sweep("mode=bm25").unwrap(),
        ];
        let runs = expand_sweeps(&base, &sweeps, &["mode"]).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].k, 10);
        assert_eq!(runs[1].extra["mode"], "bm25");
        let err = expand_sweeps(&base, &[parse_sweep("nope=1").unwrap()], &["mode"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("known: k, per_page, context, mode"),
            "{err}"
        );
        assert!(parse_sweep("k").is_err());
    }
}
