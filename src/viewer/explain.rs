//! What the trace page explains beyond the trace file: each property's status at every step,
//! the state fields the trace's property reads and the steps that last changed them, and the
//! server's decision behind each answer.
//!
//! Property status needs the model: the trace is re-executed from its model file (as
//! `trace validate` does: the file named by `model_file`, found from the trace's folder, with
//! the trace's tab count; the action-index `path` replayed) and every property that applies to
//! the model is evaluated on the initial state and on the state after each step. When the
//! model file cannot be read, or the path does not replay on it, the page says why and shows
//! the rest, which comes from the trace alone.
//!
//! The fields a property reads are listed by [`fields_read`]: the snapshot fields that show
//! what its condition (`src/properties.rs`) reads, ghost counters included
//! (`orphan_cookies`, `session_valid`).

use std::path::Path;

use crate::model;
use crate::properties::{self, Kind};
use crate::scenario::Scenario;
use crate::search;
use crate::trace::{self, diff, Snapshot, Trace};

/// One property's status along a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// The property's key.
    pub name: &'static str,
    /// Invariant or reachability.
    pub kind: Kind,
    /// Its claim.
    pub claim: &'static str,
    /// The condition's value on each state: index 0 is the initial state, index `i` the state
    /// after step `i` (so `steps + 1` entries).
    pub holds: Vec<bool>,
}

impl Timeline {
    /// Whether the state after step `i` shows the property: violates an invariant or reaches a
    /// reachability property.
    pub fn shows(&self, i: usize) -> bool {
        match self.kind {
            Kind::Always => !self.holds[i],
            Kind::Sometimes => self.holds[i],
        }
    }

    /// The first step from which the property shows to the end of the trace (`None` if it does
    /// not show at the end): for a counterexample, the step that made the invariant false.
    pub fn shows_from(&self) -> Option<usize> {
        let last = self.holds.len().checked_sub(1)?;
        if !self.shows(last) {
            return None;
        }
        Some((0..=last).rev().take_while(|&i| self.shows(i)).last().unwrap_or(last))
    }
}

/// A state field the trace's property reads, and the step that last changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// The field's name, as in [`diff::Field::name`] (`orphan_cookies`, `tabs[B].status`).
    pub field: String,
    /// The last step, at or before the trace's end, that changed it; `None` if no step did.
    pub step: Option<usize>,
}

/// Everything the page explains about one trace.
#[derive(Clone, Debug, Default)]
pub struct Explanation {
    /// Each property that applies to the model, in catalogue order (empty when the model could
    /// not be re-executed: see `unavailable`).
    pub properties: Vec<Timeline>,
    /// Why property status is not shown, if it is not (the model file's error, or the step at
    /// which the path does not replay).
    pub unavailable: Option<String>,
    /// The fields the trace's property reads, with the steps that last changed them.
    pub reads: Vec<Read>,
    /// The server's decision made in each step, indexed by step (entry 0, the initial state, is
    /// `None`): the protocol's step and rule, or the Directus handler's stage.
    pub decisions: Vec<Option<String>>,
}

impl Explanation {
    /// The explanation of `t`, read from the trace file `file` (its model file is looked for
    /// from the trace's folder, as `trace validate` does).
    pub fn of(t: &Trace, file: &Path) -> Explanation {
        let mut out = Explanation {
            reads: reads(t),
            decisions: std::iter::once(None).chain((1..=t.steps.len()).map(|i| handler_stage(t, i))).collect(),
            ..Explanation::default()
        };
        match replayed(t, file) {
            Ok((properties, decisions)) => {
                out.properties = properties;
                for (i, d) in decisions.into_iter().enumerate() {
                    if d.is_some() {
                        out.decisions[i] = d;
                    }
                }
            }
            Err(why) => out.unavailable = Some(why),
        }
        out
    }

    /// The timeline of the trace's own property, if it was computed.
    pub fn own<'a>(&'a self, t: &Trace) -> Option<&'a Timeline> {
        self.properties.iter().find(|p| p.name == t.property)
    }

    /// The steps to mark as explaining the trace's end: each step that last changed a field the
    /// property reads, with those fields; and the step from which the property shows, with
    /// `None`. Sorted by step.
    pub fn causes(&self, t: &Trace) -> Vec<(usize, Vec<String>)> {
        let mut out: Vec<(usize, Vec<String>)> = Vec::new();
        for r in &self.reads {
            if let Some(s) = r.step {
                match out.iter_mut().find(|(k, _)| *k == s) {
                    Some((_, fields)) => fields.push(r.field.clone()),
                    None => out.push((s, vec![r.field.clone()])),
                }
            }
        }
        if let Some(s) = self.own(t).and_then(Timeline::shows_from).filter(|&s| s > 0) {
            if !out.iter().any(|(k, _)| *k == s) {
                out.push((s, Vec::new()));
            }
        }
        out.sort_by_key(|(k, _)| *k);
        out
    }
}

/// The snapshot fields that show what property `name`'s condition reads
/// ([`properties::PropertySpec::reads`]; `*` stands for any tab's letter); empty for an
/// unknown property.
pub fn fields_read(name: &str) -> &'static [&'static str] {
    properties::ALL.iter().find(|p| p.name == name).map_or(&[], |p| p.reads)
}

/// Whether field `name` matches `pattern` (at most one `*`, standing for any text).
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail),
    }
}

/// The states of a trace: the initial state, then the state after each step.
pub fn states(t: &Trace) -> Vec<&Snapshot> {
    std::iter::once(&t.initial).chain(t.steps.iter().map(|s| &s.state)).collect()
}

fn reads(t: &Trace) -> Vec<Read> {
    let patterns = fields_read(&t.property);
    let states = states(t);
    let last = states.last().copied().unwrap_or(&t.initial);
    diff::fields(last)
        .into_iter()
        .filter(|f| patterns.iter().any(|p| matches(p, &f.name)))
        .map(|f| {
            let step = (1..states.len())
                .rev()
                .find(|&i| diff::changes(states[i - 1], states[i]).iter().any(|c| c.name == f.name));
            Read { field: f.name, step }
        })
        .collect()
}

/// For a Directus model, whose handlers are listed in the snapshot (`tab B Refresh: W3 { … }`):
/// the stage of the handler that sent the answer step `i` sent to a tab or the attacker, as
/// `handler W3 { … }` (the snapshot's words after the colon).
fn handler_stage(t: &Trace, i: usize) -> Option<String> {
    let states = states(t);
    let (before, after) = (states[i - 1], states[i]);
    let sent =
        after.in_flight.iter().find(|m| m.from == "server" && !before.in_flight.contains(m) && m.to != "store")?;
    let prefix = format!("{} ", sent.to);
    let handler = before.handlers.iter().find(|h| h.starts_with(&prefix) && !after.handlers.contains(h))?;
    let stage = handler.split_once(": ").map(|(_, s)| s).unwrap_or(handler);
    Some(format!("handler {stage}"))
}

/// Re-executes the trace on its model: each property's timeline and each step's decision.
fn replayed(t: &Trace, file: &Path) -> Result<(Vec<Timeline>, Vec<Option<String>>), String> {
    let model_file = trace::resolve_model_file(file, &t.model_file);
    let sc = Scenario::load(&model_file)
        .and_then(|s| s.with_tabs(t.parameters.tabs))
        .map_err(|e| format!("its model file could not be read: {e}"))?;
    if sc.name != t.model {
        return Err(format!("its model file {} is of model `{}`, not `{}`", model_file.display(), sc.name, t.model));
    }
    let m = model::build(&sc);
    let path = trace::decode_path(&t.path).ok_or_else(|| format!("its path {:?} is not \"init/a1/…\"", t.path))?;
    let (init, steps) = search::replay(&m, &path)
        .map_err(|k| format!("its path does not replay on {}: step {k} is not enabled", model_file.display()))?;
    let all: Vec<_> = std::iter::once(&init).chain(steps.iter().map(|(_, s)| s)).collect();
    let timelines = properties::ALL
        .iter()
        .filter(|p| p.applies(&sc) || p.name == t.property)
        .map(|p| Timeline {
            name: p.name,
            kind: p.kind,
            claim: p.claim,
            holds: all.iter().map(|s| (p.condition)(&m, s)).collect(),
        })
        .collect();
    let mut decisions = vec![None];
    let mut before = &init;
    for (action, after) in &steps {
        decisions.push(trace::decision_phrase(&m, before, action));
        before = after;
    }
    Ok((timelines, decisions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_any_tab() {
        assert!(matches("tabs[*].status", "tabs[B].status"));
        assert!(!matches("tabs[*].status", "tabs[B].refreshes_left"));
        assert!(matches("store", "store"));
        assert!(!matches("store", "store2"));
    }

    #[test]
    fn every_property_reads_some_field() {
        for p in properties::ALL {
            assert!(!fields_read(p.name).is_empty(), "{}", p.name);
        }
    }

    #[test]
    fn shows_from_is_the_start_of_the_last_run() {
        let t = Timeline { name: "x", kind: Kind::Always, claim: "", holds: vec![true, false, true, false, false] };
        assert_eq!(t.shows_from(), Some(3));
        let t = Timeline { name: "x", kind: Kind::Always, claim: "", holds: vec![true, true] };
        assert_eq!(t.shows_from(), None);
    }
}
