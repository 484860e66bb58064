//! The text report, for people: per model a header, a verdict table and each counterexample as
//! numbered steps; for several models, the differences first and the totals last. Also the
//! short summary `check` prints on stderr when the report goes elsewhere.

use std::io::{self, Write};

use super::{outcome_words, verdict, ModelReport, SuiteReport, Traces};
use crate::check::Ending;
use crate::message::escape_controls;
use crate::properties::Kind;
use crate::trace;

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

/// The report of one model, ending with its outcome.
pub fn model(m: &ModelReport, traces: &Traces, w: &mut impl Write) -> io::Result<()> {
    model_body(m, traces, w)?;
    writeln!(w)?;
    writeln!(w, "outcome: {}", outcome_words(m.outcome))
}

fn model_body(m: &ModelReport, traces: &Traces, w: &mut impl Write) -> io::Result<()> {
    let tabs = crate::report::clients_summary(
        m.devices,
        m.tabs,
        m.client_word.as_deref().unwrap_or(crate::model::client_word::TAB),
    );
    writeln!(w, "{}  ({}, {tabs})", m.model, escape_controls(&m.file.display().to_string()))?;
    writeln!(
        w,
        "search: {}; {} states, {} unique{}, depth {}, {:.2} s",
        ending_text(m.ending),
        m.states,
        m.unique_states,
        match (m.symmetry, m.dead_values) {
            (true, true) => " (symmetry-reduced, dead values reset)",
            (true, false) => " (symmetry-reduced)",
            (false, true) => " (dead values reset)",
            (false, false) => "",
        },
        m.max_depth,
        m.seconds
    )?;
    writeln!(w)?;
    // The name column is as wide as the longest name (at least 27): names stay in their column.
    let wn = m.properties.iter().map(|p| p.name.chars().count()).max().unwrap_or(0).max(27);
    writeln!(w, "  {:<wn$} {:<9} {:<9} {:<9} {:>5}  ", "property", "kind", "verdict", "expected", "steps")?;
    for p in &m.properties {
        let mark = match p.as_expected {
            _ if p.differs() => "DIFFERS",
            Some(true) if !p.applies => "n/a",
            Some(true) => "ok",
            Some(false) => "DIFFERS",
            None => "undecided",
        };
        let expected = p.expected.map(verdict).unwrap_or("-");
        let steps = p.steps.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let kind = match p.kind {
            Kind::Always => "always",
            Kind::Sometimes => "sometimes",
        };
        writeln!(w, "  {:<wn$} {:<9} {:<9} {:<9} {:>5}  {}", p.name, kind, verdict(p.status), expected, steps, mark)?;
    }
    if m.properties.iter().any(|p| !p.applies && !p.differs() && p.as_expected.is_some()) {
        writeln!(
            w,
            "\nn/a: the property cannot apply to this model (e.g. an attacker property without an attacker): \
             its verdict holds by construction (`refresh-check properties` lists where each applies)"
        )?;
    }
    if !m.vacuous.is_empty() {
        writeln!(
            w,
            "\nwarning: sanity properties never reached ({}): the model may be vacuous; if the protocol \
             prevents them by design (a lock keeps two refreshes of one token from being in flight at once: \
             `concurrent_refreshes`), write `\"{}\": \"unreached\"` in the model file's `expect` \
             (`check --accept` writes every verdict found)",
            m.vacuous.join(", "),
            m.vacuous[0]
        )?;
    }
    if !m.bounds_hit.is_empty() {
        let hits: Vec<_> = m.bounds_hit.iter().map(|b| format!("{} = {} ({})", b.field, b.value, b.stopped)).collect();
        writeln!(
            w,
            "\nwarning: the search reached model bounds, so a violation might lie just past them: {}",
            hits.join("; ")
        )?;
    }
    for p in &m.properties {
        if let Some(g) = p.golden.as_ref().and_then(|g| g.message.as_ref()) {
            writeln!(w, "\n{}: {}", p.name, escape_controls(g))?;
        }
    }
    for p in m.properties.iter().filter(|p| !p.counterexamples.is_empty()) {
        let n = p.counterexamples.len();
        writeln!(
            w,
            "\n{}: {n} counterexample{} differing in mechanism, shortest first:",
            p.name,
            if n == 1 { "" } else { "s" }
        )?;
        for (k, c) in p.counterexamples.iter().enumerate() {
            let file = c.trace.as_ref().map(|f| format!(" ({})", escape_controls(&f.display().to_string())));
            writeln!(w, "  {}. {} steps{}", k + 1, c.steps, file.unwrap_or_default())?;
            writeln!(w, "     mechanism: {}", escape_controls(&c.mechanism.join("; ")))?;
        }
    }
    if let Some(e) = m.counterexamples_ending {
        writeln!(w, "\nthe search for more counterexamples stopped early: {}", ending_text(e))?;
    }
    for p in &m.properties {
        let Some(t) = traces.get(&(m.model.clone(), p.name.clone())) else { continue };
        writeln!(w)?;
        match &p.trace {
            Some(f) => writeln!(
                w,
                "counterexample for {} ({} steps; {}):",
                t.property,
                t.steps.len(),
                escape_controls(&f.display().to_string())
            )?,
            None => writeln!(w, "counterexample for {} ({} steps):", t.property, t.steps.len())?,
        }
        write!(w, "{}", trace::render_text(t))?;
    }
    Ok(())
}

/// The report of several models: differences, each model, totals and outcome.
pub fn suite(s: &SuiteReport, traces: &Traces, w: &mut impl Write) -> io::Result<()> {
    differences(s, w)?;
    for m in &s.models {
        writeln!(w, "{}", "-".repeat(78))?;
        model_body(m, traces, w)?;
        writeln!(w, "\nmodel outcome: {}", outcome_words(m.outcome))?;
    }
    writeln!(w, "{}", "-".repeat(78))?;
    totals(s, w)
}

fn differences(s: &SuiteReport, w: &mut impl Write) -> io::Result<()> {
    if s.differences.is_empty() {
        return Ok(());
    }
    writeln!(w, "differences ({}):", s.differences.len())?;
    for d in &s.differences {
        writeln!(w, "  {} {}: {}", d.model, d.property, escape_controls(&d.message))?;
    }
    writeln!(w)
}

fn totals(s: &SuiteReport, w: &mut impl Write) -> io::Result<()> {
    let t = &s.totals;
    let shard = s.shard.map(|i| format!(" (shard {}/{}: {} of {} units)", i.index, i.count, i.units, i.units_total));
    writeln!(
        w,
        "{}, {}{}: {} as expected, {} differ, {} undecided; {} unique states, {:.2} s",
        super::count(t.models, "model"),
        super::count(t.properties, "property"),
        shard.unwrap_or_default(),
        t.as_expected,
        t.differ,
        t.undecided,
        t.unique_states,
        t.seconds
    )?;
    writeln!(w, "outcome: {}", outcome_words(s.outcome))
}

/// The short summary for stderr: the differences, one line per model, the totals.
pub fn summary(s: &SuiteReport, w: &mut impl Write) -> io::Result<()> {
    differences(s, w)?;
    let width = s.models.iter().map(|m| m.model.len()).max().unwrap_or(0);
    for m in &s.models {
        writeln!(
            w,
            "  {:<width$}  {:<11}  {}, {} unique states, {:.2} s",
            m.model,
            outcome_words(m.outcome),
            super::count(m.properties.len(), "property"),
            m.unique_states,
            m.seconds
        )?;
    }
    totals(s, w)
}
