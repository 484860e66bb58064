//! Golden traces: the counterexample traces committed under `traces/`, compared with what
//! `check` finds now.
//!
//! For each invariant that is violated, `check` looks for `<traces>/<model>.<property>.json`:
//! - none there: it writes the trace (`.json` and `.md`): status `new`;
//! - one there, made with the same parameters, equal in substance (parameters, property and
//!   its claim, path, initial state and every step; not the model file's spelling): it leaves
//!   it alone (`matches`; the derived `.md` is refreshed if it differs);
//! - one there that differs: the check fails (`differs`), naming the trace file and the first
//!   step that differs, and the file is left alone. The first step is where the committed trace
//!   stops reproducing on the current model (its path no longer replays, or a replayed step or
//!   state differs from the recorded one); if it still reproduces, where it departs from the
//!   shortest counterexample found now.
//!
//! For an invariant that now holds (or a reachability property, which has no trace), a trace
//! file still there is `stale` and fails the check. With `--update-traces`, `check` writes
//! every trace it finds (`updated` or `matches`) and removes stale ones (`removed`). A trace
//! made with other parameters (another `--tabs`) is left alone and not compared (`other`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::RefreshModel;
use crate::output::{self, OutputError};
use crate::properties::{Kind, PropertySpec};
use crate::scenario::Verdict;
use crate::trace::{self, Trace};

/// What became of a property's golden trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No trace file was there; the counterexample was written.
    New,
    /// The trace file equals the counterexample found (rewritten with `--update-traces`).
    Matches,
    /// `--update-traces` rewrote a trace file that differed.
    Updated,
    /// The trace file differs from the counterexample found: the check fails.
    Differs,
    /// A trace file is there, but the property is no longer violated: the check fails.
    Stale,
    /// `--update-traces` removed a stale trace file.
    Removed,
    /// The trace file was made with other parameters (tabs); not compared, left alone.
    Other,
    /// A limit (`--timeout`, an interruption, `--max-memory`) stopped the shortening of the
    /// depth-first counterexample: the trace file was neither compared nor written, and the
    /// run is incomplete.
    Unshortened,
}

impl Status {
    /// Whether this fails the check.
    pub fn fails(self) -> bool {
        matches!(self, Status::Differs | Status::Stale)
    }
}

/// A property's golden-trace result, as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Golden {
    /// What happened.
    pub status: Status,
    /// The trace file.
    pub file: PathBuf,
    /// For `differs` and `stale`: the first step (1-based; 0 is the initial state) that differs.
    pub step: Option<usize>,
    /// For `differs`, `stale` and `other`: why, in words, naming the trace file.
    pub message: Option<String>,
}

/// Whether to compare with the trace files or rewrite them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Compare; write only traces that are not there yet.
    Compare,
    /// Write every trace found and remove stale ones (`--update-traces`).
    Update,
}

/// The golden-trace result of a counterexample that a limit left unshortened
/// ([`Status::Unshortened`]): nothing is compared or written.
pub fn unshortened(dir: &Path, model_name: &str, spec: &PropertySpec) -> Golden {
    let (json, _) = trace::file_names(dir, model_name, spec.name);
    let message = format!(
        "a limit stopped the search before this depth-first counterexample was shortened: {} was neither compared nor written",
        json.display()
    );
    Golden { status: Status::Unshortened, file: json, step: None, message: Some(message) }
}

/// Settles the golden trace of one property of one model: `found` is the counterexample found
/// now (for a violated invariant). Returns `None` when there is nothing to say (no trace file
/// and none found, or an undecided verdict).
pub fn settle(
    model: &RefreshModel,
    dir: &Path,
    model_name: &str,
    spec: &PropertySpec,
    status: Verdict,
    found: Option<&Trace>,
    mode: Mode,
) -> Result<Option<Golden>, OutputError> {
    let (json, md) = trace::file_names(dir, model_name, spec.name);
    let golden = |status, step, message| Some(Golden { status, file: json.clone(), step, message });
    let existing = match crate::input::read_text(&json) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(OutputError::Read { path: json, source }),
    };
    let Some(t) = found else {
        let decided = matches!(status, Verdict::Holds | Verdict::Unreached | Verdict::Reached);
        if existing.is_none() || !decided {
            return Ok(None);
        }
        if mode == Mode::Update {
            for f in [&json, &md] {
                match std::fs::remove_file(f) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(OutputError::Write { path: f.clone(), source: e })
                    }
                    _ => {}
                }
            }
            return Ok(golden(Status::Removed, None, None));
        }
        let (step, detail) = match parse(existing.as_deref().unwrap_or_default()) {
            Ok(o) => match reproduces(model, &o, spec) {
                Err((k, why)) => (Some(k), format!(" ({why})")),
                Ok(()) => (Some(o.steps.len()), String::new()),
            },
            Err(e) => (None, format!(" (and it cannot be read: {e})")),
        };
        let msg = format!(
            "golden trace {} no longer reproduces: `{}` now {}{detail}; `check --update-traces` removes it",
            json.display(),
            spec.name,
            verdict_word(status),
        );
        return Ok(golden(Status::Stale, step, Some(msg)));
    };
    let write = || -> Result<(), OutputError> {
        output::write_atomic(&json, to_json(t).as_bytes())?;
        output::write_atomic(&md, trace::render_markdown(t).as_bytes())
    };
    let Some(text) = existing else {
        write()?;
        return Ok(golden(Status::New, None, None));
    };
    let old = parse(&text);
    if mode == Mode::Update {
        let same = old.as_ref().is_ok_and(|o| same_substance(o, t));
        write()?;
        return Ok(golden(if same { Status::Matches } else { Status::Updated }, None, None));
    }
    let old = match old {
        Ok(o) => o,
        Err(e) => {
            let msg =
                format!("golden trace {} cannot be read ({e}); `check --update-traces` rewrites it", json.display());
            return Ok(golden(Status::Differs, None, Some(msg)));
        }
    };
    if old.parameters != t.parameters {
        let msg = format!(
            "golden trace {} was made with {} tabs, this check used {}: not compared, left alone",
            json.display(),
            old.parameters.tabs,
            t.parameters.tabs
        );
        return Ok(golden(Status::Other, None, Some(msg)));
    }
    if same_substance(&old, t) {
        let rendered = trace::render_markdown(t);
        if crate::input::read_text(&md).ok().as_deref() != Some(rendered.as_str()) {
            output::write_atomic(&md, rendered.as_bytes())?;
        }
        return Ok(golden(Status::Matches, None, None));
    }
    if old.claim != t.claim && old.steps == t.steps && old.path == t.path {
        let msg = format!(
            "golden trace {} states the claim {:?}, the property now claims {:?}; `check --update-traces` rewrites it",
            json.display(),
            old.claim,
            t.claim
        );
        return Ok(golden(Status::Differs, None, Some(msg)));
    }
    let (step, why) = match reproduces(model, &old, spec) {
        Err((k, why)) => (k, format!("no longer reproduces: {why}")),
        Ok(()) => {
            let (k, why) = departs(&old, t);
            (k, format!("still reproduces, but the shortest counterexample found now departs from it: {why}"))
        }
    };
    let msg = format!(
        "golden trace {} {why}; `check --update-traces` rewrites it (a model's traces in the traces folder are its golden \
         traces, compared at every check: while the model is being written, `--update-traces` keeps them current, or \
         `--no-traces` leaves the folder alone)",
        json.display()
    );
    Ok(golden(Status::Differs, Some(step), Some(msg)))
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::Violated => "is violated",
        Verdict::Reached => "is reached",
        Verdict::Unreached => "is unreached",
        Verdict::Unknown => "is unknown",
    }
}

fn parse(text: &str) -> Result<Trace, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// The JSON text of a trace file, as `check` writes it.
pub fn to_json(t: &Trace) -> String {
    let mut s = serde_json::to_string_pretty(t).expect("a trace serializes");
    s.push('\n');
    s
}

/// Equal in what a trace shows: parameters, property and its claim, path, initial state, steps.
pub fn same_substance(a: &Trace, b: &Trace) -> bool {
    a.parameters == b.parameters
        && a.property == b.property
        && a.kind == b.kind
        && a.claim == b.claim
        && a.path == b.path
        && a.initial == b.initial
        && a.steps == b.steps
}

/// Whether a recorded trace still reproduces on `model`: its path replays, every replayed step
/// and state equals the recorded one, and its last state still shows the property's claim.
/// Otherwise the first step (0: the initial state) that does not, and why.
pub fn reproduces(model: &RefreshModel, old: &Trace, spec: &PropertySpec) -> Result<(), (usize, String)> {
    let Some(path) = trace::decode_path(&old.path) else {
        return Err((0, format!("its path {:?} is not \"init/a1/a2/…\" of integers", old.path)));
    };
    // Replay without judging the last state: a property that is "violated" everywhere.
    let anything =
        PropertySpec { name: spec.name, kind: Kind::Always, claim: spec.claim, condition: |_, _| false, ..*spec };
    let build = |p: &crate::search::IndexPath| {
        trace::build(model, &old.model_file, &old.model, old.parameters.tabs, &anything, p)
    };
    let replayed = match build(&path) {
        Ok(r) => r,
        Err(trace::TraceError::DoesNotReplay(k)) => {
            // The steps before `k` replay; one of them may already differ.
            let prefix =
                crate::search::IndexPath { init: path.init, actions: path.actions[..k.saturating_sub(1)].to_vec() };
            if let Ok(r) = build(&prefix) {
                if r.initial != old.initial {
                    return Err((
                        0,
                        format!(
                            "the initial state differs{}",
                            state_diff(&old.initial, &r.initial, "recorded", "replayed")
                        ),
                    ));
                }
                if let Some((r, o)) = r.steps.iter().zip(&old.steps).find(|(r, o)| r != o) {
                    return Err((o.index, step_diff(o, r, "recorded", "replayed")));
                }
            }
            return Err((k, format!("step {k} is no longer an enabled action of the model")));
        }
        Err(e) => return Err((0, e.to_string())),
    };
    if replayed.initial != old.initial {
        return Err((
            0,
            format!("the initial state differs{}", state_diff(&old.initial, &replayed.initial, "recorded", "replayed")),
        ));
    }
    for (r, o) in replayed.steps.iter().zip(&old.steps) {
        if r != o {
            return Err((o.index, step_diff(o, r, "recorded", "replayed")));
        }
    }
    if replayed.steps.len() != old.steps.len() {
        return Err((replayed.steps.len().min(old.steps.len()) + 1, "its step count differs from its path".into()));
    }
    let last = old.steps.len();
    trace::validate(model, old).map_err(|_| {
        let what = if spec.kind == Kind::Always { "violates" } else { "shows" };
        (last, format!("its {last} steps replay, but the last state no longer {what} `{}`", spec.name))
    })
}

/// The first step at which `old` and `new` depart, and how.
fn departs(old: &Trace, new: &Trace) -> (usize, String) {
    if old.initial != new.initial {
        return (0, format!("the initial state differs{}", state_diff(&old.initial, &new.initial, "golden", "now")));
    }
    for (o, n) in old.steps.iter().zip(&new.steps) {
        if o != n {
            return (o.index, step_diff(o, n, "golden", "now"));
        }
    }
    let k = old.steps.len().min(new.steps.len());
    (k + 1, format!("the golden trace has {} steps, the one found now {}", old.steps.len(), new.steps.len()))
}

fn step_diff(a: &trace::Step, b: &trace::Step, an: &str, bn: &str) -> String {
    if (&a.actor, &a.action, &a.text) != (&b.actor, &b.action, &b.text) {
        format!("step {} differs: {an} \"{}: {}\", {bn} \"{}: {}\"", a.index, a.actor, a.text, b.actor, b.text)
    } else if a.message != b.message {
        format!("step {} ({}: {}) delivers another message", a.index, a.actor, a.text)
    } else {
        format!(
            "step {} ({}: {}): the state after it differs{}",
            a.index,
            a.actor,
            a.text,
            state_diff(&a.state, &b.state, an, bn)
        )
    }
}

/// `` in `field`: <an> X, <bn> Y`` for the first top-level field of two snapshots that differs.
fn state_diff(a: &trace::Snapshot, b: &trace::Snapshot, an: &str, bn: &str) -> String {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return String::new();
    };
    a.iter()
        .find(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| format!(" in `{k}`: {an} {v}, {bn} {}", b.get(k).unwrap_or(&serde_json::Value::Null)))
        .unwrap_or_default()
}
