//! `wikirag eval`: retrieval (and answer) quality on a question set, with sweeps.

use crate::cmd::IndexDir;
use crate::retrieval;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    pub index: IndexDir,
    /// Question file: JSON lines {"question", "answers", "titles", "kind", "lang"}.
    #[arg(long, required = true)]
    qa: Vec<PathBuf>,
    /// Sweep a parameter: name=v1,v2 (k, per_page, context, mode, title_boost, fact_weight,
    /// title_words_weight, fusion, rrf_k, dense_weight, candidates, keep_top, ef_search, exact; with --ask
    /// also max_context_tokens, extractive_sentences). Repeatable.
    #[arg(long)]
    sweep: Vec<String>,
    #[command(flatten)]
    retrieval: retrieval::RetrievalArgs,
    /// Hits retrieved per question.
    #[arg(short, long, default_value_t = 20, value_parser = retrieval::at_least_one)]
    k: usize,
    /// At most this many hits per page.
    #[arg(long, default_value_t = 3)]
    per_page: usize,
    /// Write results.csv, results.md, report.json and one SVG plot per swept parameter here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also measure answers: answer contains an expected string, citation precision,
    /// abstentions, failures (the backend is chosen with --llm).
    #[arg(long)]
    ask: bool,
    #[command(flatten)]
    llm: crate::cmd::ask::LlmArgs,
    /// Print everything as one JSON object (an array of them when sweeping).
    #[arg(long)]
    json: bool,
}

/// What a swept parameter sets.
#[derive(Clone, Copy)]
enum Sets {
    /// A BM25 weight ≥ 0 (the searcher is reopened with it).
    Bm25(fn(&mut wikirag_index::SearchOptions) -> &mut f32),
    /// A dense / hybrid retrieval option.
    Retrieval(fn(&mut wikirag_vectors::RetrievalOptions, &str) -> Result<(), String>),
    /// An answer option (with `--ask`).
    Answer(fn(&mut wikirag_rag::AskOptions, &str) -> Result<(), String>),
}

fn parsed<T: std::str::FromStr>(value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| e.to_string())
}

/// Every parameter `--sweep` varies and what it sets: the one list (besides `k`, `per_page`
/// and `context`, which every run has).
const SWEPT: &[(&str, Sets)] = &[
    (
        "mode",
        Sets::Retrieval(|o, v| parsed(v).map(|x| o.mode = x)),
    ),
    ("title_boost", Sets::Bm25(|o| &mut o.title_boost)),
    ("fact_weight", Sets::Bm25(|o| &mut o.fact_weight)),
    (
        "title_words_weight",
        Sets::Bm25(|o| &mut o.title_words_weight),
    ),
    (
        "fusion",
        Sets::Retrieval(|o, v| parsed(v).map(|x| o.fusion = x)),
    ),
    (
        "rrf_k",
        Sets::Retrieval(|o, v| parsed(v).map(|x| o.rrf_k = x)),
    ),
    (
        "dense_weight",
        Sets::Retrieval(|o, v| parsed(v).map(|x| o.dense_weight = x)),
    ),
    (
        "candidates",
        Sets::Retrieval(|o, v| parsed(v).map(|x| o.candidates = x)),
    ),
    (
        "keep_top",
        Sets::Retrieval(|o, v| parsed(v).map(|x| o.keep_top = x)),
    ),
    (
        "ef_search",
        Sets::Retrieval(|o, v| parsed(v).map(|x| o.ef_search = x)),
    ),
    (
        "exact",
        Sets::Retrieval(|o, v| parsed(v).map(|x| o.exact = x)),
    ),
    (
        "max_context_tokens",
        Sets::Answer(|o, v| parsed(v).map(|x| o.max_context_tokens = Some(x))),
    ),
    (
        "extractive_sentences",
        Sets::Answer(|o, v| parsed(v).map(|x| o.extractive_sentences = x)),
    ),
];

/// The swept values of one run, each with what it sets.
fn swept(
    extra: &std::collections::BTreeMap<String, String>,
) -> impl Iterator<Item = (&'static str, Sets, &str)> {
    SWEPT
        .iter()
        .filter_map(|(name, sets)| extra.get(*name).map(|value| (*name, *sets, value.as_str())))
}

/// BM25 ranking options with the swept values of one run; `None` when it sweeps none.
pub(crate) fn search_options(
    extra: &std::collections::BTreeMap<String, String>,
) -> Result<Option<wikirag_index::SearchOptions>> {
    let mut options = wikirag_index::SearchOptions::default();
    let mut any = false;
    for (name, sets, value) in swept(extra) {
        if let Sets::Bm25(field) = sets {
            *field(&mut options) = value
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite() && *v >= 0.0)
                .with_context(|| format!("{name} {value:?} is not a number ≥ 0"))?;
            any = true;
        }
    }
    Ok(any.then_some(options))
}

/// `options` with the swept values of one run that `pick` says set them.
fn with_swept<O>(
    mut options: O,
    extra: &std::collections::BTreeMap<String, String>,
    pick: impl Fn(Sets) -> Option<fn(&mut O, &str) -> Result<(), String>>,
) -> Result<O> {
    for (name, sets, value) in swept(extra) {
        if let Some(set) = pick(sets) {
            set(&mut options, value).map_err(|e| anyhow::anyhow!("{name}={value:?}: {e}"))?;
        }
    }
    Ok(options)
}

/// Retrieval options of one eval run: the command line's, overridden by swept values.
pub(crate) fn run_options(
    base: wikirag_vectors::RetrievalOptions,
    extra: &std::collections::BTreeMap<String, String>,
) -> Result<wikirag_vectors::RetrievalOptions> {
    with_swept(base, extra, |sets| match sets {
        Sets::Retrieval(set) => Some(set),
        _ => None,
    })
}

/// Answer options of one eval run, overridden by swept values.
fn ask_options(
    base: wikirag_rag::AskOptions,
    extra: &std::collections::BTreeMap<String, String>,
) -> Result<wikirag_rag::AskOptions> {
    with_swept(base, extra, |sets| match sets {
        Sets::Answer(set) => Some(set),
        _ => None,
    })
}

pub fn run(args: EvalArgs) -> Result<i32> {
    let sweeps_mode = args.sweep.iter().any(|s| s.starts_with("mode="));
    let mut open_args = args.retrieval.clone();
    if sweeps_mode {
        open_args.mode = None;
    }
    let opened = retrieval::open(&args.index, &open_args)?;
    let base_options = args.retrieval.options(&opened);
    let mut questions = Vec::new();
    for path in &args.qa {
        questions.extend(wikirag_eval::load_questions(path)?);
    }
    let base = wikirag_eval::Params {
        k: args.k.max(1),
        per_page: args.per_page,
        context: 0,
        extra: [("mode".to_string(), base_options.mode.name().to_string())]
            .into_iter()
            .chain(
                opened
                    .query_precision()
                    .map(|p| ("query_precision".to_string(), p.to_string())),
            )
            .collect(),
    };
    let sweeps = args
        .sweep
        .iter()
        .map(|s| wikirag_eval::parse_sweep(s))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<&str> = SWEPT.iter().map(|(name, _)| *name).collect();
    let runs = wikirag_eval::expand_sweeps(&base, &sweeps, &names)?;
    let mut searchers = Vec::with_capacity(runs.len());
    for run in &runs {
        let options = run_options(base_options, &run.extra)?;
        let searcher = if let Some(bm25) = search_options(&run.extra)? {
            opened
                .with_bm25_options(&args.index, bm25)?
                .searcher(options)?
        } else {
            opened.searcher(options)?
        };
        searchers.push(searcher);
    }
    let started = Instant::now();
    let mut reports: Vec<wikirag_eval::Report> = Vec::with_capacity(runs.len());
    let llm = if args.ask { args.llm.build()? } else { None };
    for (run, searcher) in runs.iter().zip(searchers) {
        let mut report = wikirag_eval::evaluate(&searcher, &questions, run);
        if args.ask {
            let rag = wikirag_rag::Rag::new(searcher, llm.clone());
            let options = ask_options(
                wikirag_rag::AskOptions {
                    k: run.k,
                    per_page: run.per_page,
                    context: run.context,
                    ..wikirag_rag::AskOptions::default()
                },
                &run.extra,
            )?;
            report.answers = Some(wikirag_eval::evaluate_answers(
                &crate::cmd::ask::Asker(&rag, options),
                &questions,
            ));
        }
        reports.push(report);
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        };
        write("results.csv", wikirag_eval::report::csv(&reports))?;
        write("results.md", wikirag_eval::report::markdown(&reports))?;
        write("report.json", serde_json::to_string_pretty(&reports)?)?;
        let swept: Vec<String> = sweeps.iter().map(|(n, _)| n.clone()).collect();
        wikirag_eval::report::plots(&reports, &swept, dir)?;
    }
    if args.json {
        let slim: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).expect("report serialises");
                v.as_object_mut().map(|o| o.remove("outcomes"));
                v
            })
            .collect();
        let out = if slim.len() == 1 {
            slim.into_iter().next().expect("one report")
        } else {
            serde_json::Value::Array(slim)
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    print!("{}", wikirag_eval::report::markdown(&reports));
    if let [r] = reports.as_slice() {
        println!();
        for (kind, s) in &r.per_kind {
            println!(
                "{kind:<12} n={:<3} recall@1 {:.2}  @5 {:.2}  @10 {:.2}  @20 {:.2}  MRR {:.2}",
                s.questions,
                s.recall_at[&1],
                s.recall_at[&5],
                s.recall_at[&10],
                s.recall_at[&20],
                s.mrr
            );
        }
        let misses: Vec<&wikirag_eval::Outcome> = r
            .outcomes
            .iter()
            .filter(|o| o.answer_rank.is_none_or(|rank| rank > 10))
            .collect();
        if !misses.is_empty() {
            println!("\nnot answered in the top 10 ({}):", misses.len());
            for m in misses {
                println!("  - {}", m.question);
            }
        }
    }
    println!(
        "\n{} questions x {} runs in {:.2}s",
        questions.len(),
        reports.len(),
        seconds
    );
    Ok(0)
}
