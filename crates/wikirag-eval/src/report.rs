//! Writing sweep results: a CSV, a markdown table and an SVG plot of each metric against each
//! swept parameter.

use crate::{CUTOFFS, EvalError, Report, Result};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn metric_columns(reports: &[Report]) -> Vec<String> {
    let mut cols: Vec<String> = CUTOFFS.iter().map(|k| format!("recall@{k}")).collect();
    cols.extend(CUTOFFS.iter().map(|k| format!("title_hit@{k}")));
    cols.extend(["mrr", "ndcg@10", "latency_p50_ms", "latency_p95_ms"].map(String::from));
    if reports.iter().any(|r| r.answers.is_some()) {
        cols.extend(
            [
                "answer_contains",
                "citation_precision",
                "abstentions",
                "ask_failures",
                "ask_p50_ms",
                "ask_p95_ms",
            ]
            .map(String::from),
        );
    }
    cols
}

fn metric_values(r: &Report, with_answers: bool) -> Vec<f64> {
    let mut v: Vec<f64> = CUTOFFS.iter().map(|k| r.overall.recall_at[k]).collect();
    v.extend(CUTOFFS.iter().map(|k| r.overall.title_hit_at[k]));
    v.extend([
        r.overall.mrr,
        r.overall.ndcg_at_10,
        r.latency_ms.p50,
        r.latency_ms.p95,
    ]);
    if with_answers {
        let a = r.answers.clone().unwrap_or_default();
        v.extend([
            a.answer_contains,
            a.citation_precision,
            a.abstentions,
            a.failures.len() as f64,
            a.latency_ms.p50,
            a.latency_ms.p95,
        ]);
    }
    v
}

fn param_names(reports: &[Report]) -> Vec<String> {
    reports
        .first()
        .map(|r| r.params.keys().cloned().collect())
        .unwrap_or_default()
}

/// One CSV row per run: parameters then metrics.
pub fn csv(reports: &[Report]) -> String {
    let params = param_names(reports);
    let mut out = String::new();
    let mut header = params.clone();
    header.extend(metric_columns(reports));
    let with_answers = reports.iter().any(|r| r.answers.is_some());
    out.push_str(&header.join(","));
    out.push('\n');
    for r in reports {
        let mut row: Vec<String> = params.iter().map(|p| r.params[p].clone()).collect();
        row.extend(
            metric_values(r, with_answers)
                .iter()
                .map(|v| format!("{v:.4}")),
        );
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// A markdown table of the same.
pub fn markdown(reports: &[Report]) -> String {
    let params = param_names(reports);
    let cols: Vec<String> = params
        .iter()
        .cloned()
        .chain(metric_columns(reports))
        .collect();
    let with_answers = reports.iter().any(|r| r.answers.is_some());
    let mut out = format!("| {} |\n|{}\n", cols.join(" | "), "---|".repeat(cols.len()));
    for r in reports {
        let mut row: Vec<String> = params.iter().map(|p| r.params[p].clone()).collect();
        row.extend(
            metric_values(r, with_answers)
                .iter()
                .map(|v| format!("{v:.3}")),
        );
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// For each swept parameter, an SVG of recall@k, MRR and nDCG@10 against its values (the other
/// parameters held at their first swept value). Returns the files written.
pub fn plots(reports: &[Report], swept: &[String], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for name in swept {
        let first = &reports[0].params;
        let runs: Vec<&Report> = reports
            .iter()
            .filter(|r| {
                r.params
                    .iter()
                    .all(|(k, v)| k == name || !swept.contains(k) || first[k] == *v)
            })
            .collect();
        let labels: Vec<String> = runs.iter().map(|r| r.params[name].clone()).collect();
        let path = dir.join(format!("sweep-{name}.svg"));
        draw(&path, name, &labels, &runs).map_err(|e| EvalError::Plot(e.to_string()))?;
        written.push(path);
    }
    Ok(written)
}

fn draw(
    path: &Path,
    name: &str,
    labels: &[String],
    runs: &[&Report],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = labels.len().max(2);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("retrieval metrics vs {name}"), ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..1f64)?;
    let labels_owned = labels.to_vec();
    chart
        .configure_mesh()
        .x_desc(name)
        .y_desc("score")
        .x_labels(labels.len().max(1))
        .x_label_formatter(&move |x| {
            labels_owned
                .get(x.round() as usize)
                .cloned()
                .unwrap_or_default()
        })
        .draw()?;
    let mut series: Vec<(String, Vec<f64>)> = CUTOFFS
        .iter()
        .map(|k| {
            (
                format!("recall@{k}"),
                runs.iter().map(|r| r.overall.recall_at[k]).collect(),
            )
        })
        .collect();
    series.push(("MRR".into(), runs.iter().map(|r| r.overall.mrr).collect()));
    series.push((
        "nDCG@10".into(),
        runs.iter().map(|r| r.overall.ndcg_at_10).collect(),
    ));
    for (i, (label, values)) in series.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                values.iter().enumerate().map(|(x, y)| (x as f64, *y)),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}
