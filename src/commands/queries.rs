//! The scenario queries and user-defined invariants of `check` (a model file's `queries`, and
//! `--query FILE`): answered after the properties, with their traces written as
//! `<model>.query-<name>.json` (`<model>.invariant-<name>.json`) and `.md`, overwritten at each
//! run (never compared as golden traces).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use refresh_check::query::{self, Answer, Outcome, Query};
use refresh_check::scenario::Scenario;
use refresh_check::search::SearchConfig;
use refresh_check::{exit, golden, model, output, trace};

use super::check::RunArgs;

/// One model file's answers.
pub struct Answered {
    /// The model's name.
    pub model: String,
    /// Per query: its outcome and the trace file written, if any.
    pub outcomes: Vec<(Outcome, Option<PathBuf>)>,
}

/// Answers the queries of every model file of `scenarios` (the ones the properties were
/// checked on: its own `queries`, then `extra`, those of a `--query FILE`) within the run's
/// one `deadline` (`--timeout` counts the whole command). An unwritable trace is an error
/// (exit 2). Model files without queries are skipped.
pub fn answer_all(
    scenarios: &[Scenario],
    run: &RunArgs,
    extra: &[Query],
    deadline: Option<Instant>,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> Result<Vec<Answered>> {
    let mut out = vec![];
    for sc in scenarios {
        let queries: Vec<&Query> = sc.queries.iter().chain(extra).collect();
        if queries.is_empty() {
            continue;
        }
        let m = model::build(sc);
        let cfg = SearchConfig {
            max_depth: run.max_depth,
            max_states: run.max_states,
            deadline,
            cancel: cancel.clone(),
            max_memory: run.max_memory.map(|x| x.saturating_mul(refresh_check::limits::MIB)),
            ..SearchConfig::default()
        };
        let mut outcomes = vec![];
        for q in queries {
            let o = query::answer(&m, &sc.path, &sc.name, sc.browser.tabs, q, &cfg);
            let mut written = None;
            if let (Some(t), false) = (&o.trace, run.no_traces) {
                let (json, md) = query::file_names(&run.traces, &sc.name, q);
                output::prepare_dir(&run.traces)?;
                output::write_atomic(&json, golden::to_json(t).as_bytes())
                    .and_then(|()| output::write_atomic(&md, trace::render_markdown(t).as_bytes()))
                    .with_context(|| format!("the trace of query `{}` of {}", q.name, sc.name))?;
                written = Some(json);
            }
            outcomes.push((o, written));
        }
        out.push(Answered { model: sc.name.clone(), outcomes });
    }
    Ok(out)
}

/// Puts the answers into the reports of their models (matched by model name), in the order
/// they were asked, for `--format json|junit|markdown` and `--report`.
pub fn attach(all: &[Answered], suite: &mut refresh_check::report::SuiteReport) {
    for a in all {
        let Some(m) = suite.models.iter_mut().find(|m| m.model == a.model) else { continue };
        m.queries = a
            .outcomes
            .iter()
            .map(|(o, file)| refresh_check::report::QueryReport {
                name: o.name.clone(),
                kind: if o.invariant { "invariant" } else { "query" }.into(),
                claim: o.claim.clone(),
                expected: o.expect.map(|e| e.word().into()),
                answer: o.answer.word().into(),
                as_expected: o.as_expected(),
                steps: o.path.as_ref().map(|p| p.actions.len()),
                unique_states: o.unique_states,
                trace: file.clone(),
            })
            .collect();
    }
}

/// The exit code of the answers: 1 if a decided answer differs from its expectation, else 3
/// if one is unknown, else 0 (as `check`'s: a final difference outranks an incomplete search).
pub fn exit_code(all: &[Answered]) -> u8 {
    let outcomes = || all.iter().flat_map(|a| a.outcomes.iter().map(|(o, _)| o));
    if outcomes().any(|o| o.answer != Answer::Unknown && !o.as_expected()) {
        exit::DIFFERS
    } else if outcomes().any(|o| o.answer == Answer::Unknown) {
        exit::INCOMPLETE
    } else {
        exit::AS_EXPECTED
    }
}

/// Two exit codes combined as `check` combines outcomes: a difference (1) outranks an
/// incomplete search (3), which outranks all as expected (0).
pub fn combine(a: u8, b: u8) -> u8 {
    if a == exit::DIFFERS || b == exit::DIFFERS {
        exit::DIFFERS
    } else {
        a.max(b)
    }
}

/// Writes the answers as text: one line per query, its trace's steps indented under it.
pub fn write_text(all: &[Answered], w: &mut impl Write) -> std::io::Result<()> {
    if all.is_empty() {
        return Ok(());
    }
    writeln!(w, "\nqueries:")?;
    for a in all {
        for (o, file) in &a.outcomes {
            let steps = o.path.as_ref().map(|p| format!(" in {} steps", p.actions.len())).unwrap_or_default();
            let expect = match (o.expect, o.as_expected()) {
                (_, false) if o.answer == Answer::Unknown => " (search incomplete)".to_string(),
                (Some(e), false) => format!(" — expected {}", e.word()),
                (Some(_), true) => " as expected".to_string(),
                (None, _) => String::new(),
            };
            let mark = if o.as_expected() { "✓" } else { "✗" };
            writeln!(
                w,
                "  {mark} {} {}: {}{steps}{expect} ({} states)",
                a.model,
                o.name,
                o.answer.word(),
                o.unique_states
            )?;
            if let Some(t) = &o.trace {
                let aw = refresh_check::trace::actor_width(&t.steps);
                for s in &t.steps {
                    writeln!(w, "      {:>2}. {:<aw$} {}", s.index, s.actor, s.text)?;
                }
            }
            if let Some(f) = file {
                writeln!(w, "      trace: {}", f.display())?;
            }
            // Only for a status the answer it names cannot print in the model's wording: a
            // printable status that matched nothing is the run's doing, not the status's.
            if o.answer == Answer::Unreachable && !o.unprinted.is_empty() {
                let codes: Vec<String> = o.unprinted.iter().map(|c| format!("status {c}")).collect();
                writeln!(
                    w,
                    "      hint: {} is compared with the status a trace of this model prints (an authorization \
                     server refuses a refresh with 400 invalid_grant and a call with 401 invalid_token unless its \
                     wording says otherwise): a status no answer prints matches no step; check it on a trace",
                    codes.join(", ")
                )?;
            }
        }
    }
    Ok(())
}
