//! The verdict matrix of `matrix`: one row per model (with its policy and state count), one
//! column per property, each cell the verdict found (`!` marks a difference from the expected
//! verdict, with the number of steps of a counterexample in brackets; a property that cannot
//! apply to the model shows its verdict too, by construction `holds` or `unreached`); the
//! differences come first, and the trace file of each violation follows the table. As text or
//! Markdown.

use std::io::{self, Write};

use super::{outcome_words, verdict, ModelReport, SuiteReport};
use crate::properties;

fn columns(s: &SuiteReport) -> Vec<String> {
    let rank = |name: &str| properties::ALL.iter().position(|p| p.name == name).unwrap_or(usize::MAX);
    let mut names: Vec<String> = s.models.iter().flat_map(|m| m.properties.iter().map(|p| p.name.clone())).collect();
    names.sort_by(|a, b| (rank(a), a).cmp(&(rank(b), b)));
    names.dedup();
    names
}

fn cell(m: &ModelReport, name: &str) -> String {
    let Some(p) = m.properties.iter().find(|p| p.name == name) else { return "-".into() };
    let mut c = verdict(p.status).to_string();
    if let Some(n) = p.steps.filter(|_| p.trace.is_some() || p.kind == crate::properties::Kind::Always) {
        c += &format!(" ({n})");
    }
    if p.differs() {
        c += " !";
    }
    c
}

fn rows(s: &SuiteReport, cols: &[String]) -> Vec<Vec<String>> {
    s.models
        .iter()
        .map(|m| {
            let mut r = vec![m.model.clone(), m.policy.clone(), m.unique_states.to_string()];
            r.extend(cols.iter().map(|c| cell(m, c)));
            r
        })
        .collect()
}

fn header(cols: &[String]) -> Vec<String> {
    let mut h = vec!["model".to_string(), "policy".into(), "states".into()];
    h.extend(cols.iter().cloned());
    h
}

fn traces(s: &SuiteReport) -> Vec<(String, String, String)> {
    s.models
        .iter()
        .flat_map(|m| {
            m.properties
                .iter()
                .filter_map(move |p| Some((m.model.clone(), p.name.clone(), p.trace.as_ref()?.display().to_string())))
        })
        .collect()
}

fn footer(s: &SuiteReport) -> String {
    let t = &s.totals;
    format!(
        "{}, {}: {} as expected, {} differ, {} undecided; {} unique states, {:.2} s; outcome: {}",
        super::count(t.models, "model"),
        super::count(t.properties, "property"),
        t.as_expected,
        t.differ,
        t.undecided,
        t.unique_states,
        t.seconds,
        outcome_words(s.outcome)
    )
}

/// The matrix as aligned text.
pub fn text(s: &SuiteReport, w: &mut impl Write) -> io::Result<()> {
    if !s.differences.is_empty() {
        writeln!(w, "differences from the expected verdicts ({}):", s.differences.len())?;
        for d in &s.differences {
            writeln!(w, "  {} {}: {}", d.model, d.property, d.message)?;
        }
        writeln!(w)?;
    }
    let cols = columns(s);
    let mut table = vec![header(&cols)];
    table.extend(rows(s, &cols));
    let widths: Vec<usize> =
        (0..table[0].len()).map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for r in &table {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 2 { format!("{c:>w$}", w = widths[i]) } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        writeln!(w, "{}", line.join("  ").trim_end())?;
    }
    let tr = traces(s);
    if !tr.is_empty() {
        writeln!(w, "\ntraces:")?;
        for (m, p, f) in tr {
            writeln!(w, "  {m} {p}: {f}")?;
        }
    }
    writeln!(w, "\n{}", footer(s))
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The matrix as a Markdown table (GitHub-flavoured), for a README or a job summary.
pub fn markdown(s: &SuiteReport, w: &mut impl Write) -> io::Result<()> {
    if !s.differences.is_empty() {
        writeln!(w, "**Differences from the expected verdicts ({}):**\n", s.differences.len())?;
        for d in &s.differences {
            writeln!(w, "- `{}` `{}`: {}", d.model, d.property, md(&d.message))?;
        }
        writeln!(w)?;
    }
    let cols = columns(s);
    let h = header(&cols);
    writeln!(w, "| {} |", h.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | "))?;
    let align: Vec<&str> = (0..h.len()).map(|i| if i == 2 { "--:" } else { "---" }).collect();
    writeln!(w, "|{}|", align.join("|"))?;
    for r in rows(s, &cols) {
        let cells: Vec<String> =
            r.iter().enumerate().map(|(i, c)| if i == 0 { format!("`{c}`") } else { md(c) }).collect();
        writeln!(w, "| {} |", cells.join(" | "))?;
    }
    let tr = traces(s);
    if !tr.is_empty() {
        writeln!(w, "\nTraces:\n")?;
        for (m, p, f) in tr {
            writeln!(w, "- `{m}` `{p}`: [{f}]({f})")?;
        }
    }
    queries_markdown(s, w)?;
    writeln!(w, "\n{}", md(&footer(s)))
}

/// The scenario queries' answers as a Markdown table (nothing when no model has any): model,
/// query, kind, answer, expected, steps, states and trace file; an answer other than the
/// expected one is marked `✗`.
fn queries_markdown(s: &SuiteReport, w: &mut impl Write) -> io::Result<()> {
    if s.models.iter().all(|m| m.queries.is_empty()) {
        return Ok(());
    }
    writeln!(w, "\nQueries:\n")?;
    writeln!(w, "| model | query | kind | answer | expected | steps | states | trace |")?;
    writeln!(w, "|---|---|---|---|---|--:|--:|---|")?;
    for m in &s.models {
        for q in &m.queries {
            let mark = if q.as_expected { "" } else { " ✗" };
            let trace = q.trace.as_ref().map(|f| format!("[{0}]({0})", f.display())).unwrap_or_else(|| "-".into());
            writeln!(
                w,
                "| `{}` | `{}` | {} | {}{mark} | {} | {} | {} | {trace} |",
                m.model,
                md(&q.name),
                q.kind,
                q.answer,
                q.expected.as_deref().unwrap_or("-"),
                q.steps.map_or("-".into(), |n| n.to_string()),
                q.unique_states,
            )?;
        }
    }
    Ok(())
}
