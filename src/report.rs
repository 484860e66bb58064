//! Reports of [`Results`]: a text table for people and a JSON object for machines.
//!
//! The JSON object is the contract CI relies on: `model`, `file`, `tabs`, `complete`,
//! `exhaustive`, `ending`, `states`, `unique_states`, `max_depth`, `seconds`, `vacuous`,
//! `outcome`, and `properties`, a list of `{name, kind, claim, status, expected, as_expected,
//! path, steps, trace}`. `status` is `holds`, `violated`, `reached`, `unreached` or `unknown`
//! (the search stopped before it could decide).

use std::io::{self, Write};

use serde::Serialize;

use crate::check::{Ending, Outcome, Results};
use crate::scenario::Verdict;
use crate::trace::{self, Trace};

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::Violated => "violated",
        Verdict::Reached => "reached",
        Verdict::Unreached => "unreached",
        Verdict::Unknown => "unknown",
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::AsExpected => "as_expected",
        Outcome::Differs => "differs",
        Outcome::Incomplete => "incomplete",
    }
}

fn ending_text(e: Ending) -> &'static str {
    match e {
        Ending::Exhaustive => "exhaustive",
        Ending::AllDecided => "stopped once every property was decided",
        Ending::DepthBound => "INCOMPLETE: --max-depth cut paths short",
        Ending::StateBound => "INCOMPLETE: --max-states reached",
        Ending::Timeout => "INCOMPLETE: --timeout passed",
        Ending::Interrupted => "INCOMPLETE: interrupted",
        Ending::MemoryBound => "INCOMPLETE: --max-memory reached",
    }
}

/// Writes the text report: a header, a verdict table, then each counterexample as numbered
/// steps.
pub fn text(r: &Results, traces: &[Trace], w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "{}  ({}, {} tabs)", r.model, r.file.display(), r.tabs)?;
    writeln!(
        w,
        "search: {}; {} states, {} unique, depth {}, {:.2} s",
        ending_text(r.ending),
        r.states,
        r.unique_states,
        r.max_depth,
        r.seconds
    )?;
    writeln!(w)?;
    writeln!(w, "  {:<27} {:<9} {:<9} {:<9} {:>5}  {}", "property", "kind", "verdict", "expected", "steps", "")?;
    for p in &r.properties {
        let mark = match p.as_expected {
            Some(true) => "ok",
            Some(false) => "DIFFERS",
            None => "undecided",
        };
        let expected = p.expected.map(verdict).unwrap_or("-");
        let steps = p.steps.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let kind = match p.kind {
            crate::properties::Kind::Always => "always",
            crate::properties::Kind::Sometimes => "sometimes",
        };
        writeln!(w, "  {:<27} {:<9} {:<9} {:<9} {:>5}  {}", p.name, kind, verdict(p.status), expected, steps, mark)?;
    }
    if !r.vacuous.is_empty() {
        writeln!(w, "\nwarning: sanity properties never reached ({}): the model may be vacuous", r.vacuous.join(", "))?;
    }
    if !r.bounds_hit.is_empty() {
        let hits: Vec<_> = r.bounds_hit.iter().map(|b| format!("{} = {} ({})", b.field, b.value, b.stopped)).collect();
        writeln!(
            w,
            "\nwarning: the search reached model bounds, so a violation might lie just past them: {}",
            hits.join("; ")
        )?;
    }
    for t in traces {
        let file = r.properties.iter().find(|p| p.name == t.property).and_then(|p| p.trace.as_ref());
        writeln!(w)?;
        match file {
            Some(f) => writeln!(w, "counterexample for {} ({} steps; {}):", t.property, t.steps.len(), f.display())?,
            None => writeln!(w, "counterexample for {} ({} steps):", t.property, t.steps.len())?,
        }
        write!(w, "{}", trace::render_text(t))?;
    }
    writeln!(w)?;
    writeln!(w, "outcome: {}", outcome_word(r.outcome()).replace('_', " "))?;
    Ok(())
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    results: &'a Results,
    outcome: &'static str,
}

/// Writes the JSON report: one object, then a newline.
pub fn json(r: &Results, w: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &JsonReport { results: r, outcome: outcome_word(r.outcome()) })?;
    writeln!(w)
}
