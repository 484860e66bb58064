//! Runs every property of one scenario and turns the search's outcome into [`Results`]:
//! one verdict per property, compared with the verdict the model file expects.
//!
//! Verdicts are honest about incomplete searches: an invariant is `holds` and a reachability
//! property `unreached` only when the search was exhaustive; otherwise they are `unknown`.
//! `violated` and `reached` come with a path and are final whatever stopped the search.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::bounds::{BoundHit, BoundWatch};
use crate::model::{self, RefreshModel};
use crate::properties::{self, Kind};
use crate::scenario::{Scenario, Verdict};
use crate::search::{self, IndexPath, SearchConfig, Stop, Strategy};

/// How to search.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Search order.
    pub strategy: Strategy,
    /// Paths of at most this many actions.
    pub max_depth: Option<usize>,
    /// At most this many unique states.
    pub max_states: Option<u64>,
    /// Stop at this instant (`--timeout`: one deadline for the whole run, see
    /// [`SearchConfig::deadline`]).
    pub deadline: Option<Instant>,
    /// Raised to interrupt the search.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Check only these properties (by name; `--shard` gives each shard its share); `None`:
    /// every property of the catalogue. The search stops once these are decided.
    pub properties: Option<Vec<String>>,
    /// Where the search publishes its counts while it runs, for a progress display.
    pub progress: Option<Arc<crate::progress::Counters>>,
    /// Symmetry reduction over each browser's tabs ([`model::symmetry`]), where the model's tabs
    /// are interchangeable ([`model::symmetry::supported`]; otherwise the search runs without
    /// it): one state per class of states that differ only in tab names. Verdicts and shortest
    /// path lengths are the same with and without it. Off in `CheckOptions::default()`, so that
    /// the library's counts are those of the full space unless asked; the command line turns it
    /// on (`check`, `matrix`; `--no-symmetry` turns it off). [`Results::symmetry`] says which
    /// search a count measures.
    pub symmetry: bool,
    /// Dead-value reduction ([`model::dead`]) where the model has a Directus or
    /// `session_server` server ([`model::dead::applies`]): states that differ only in values no
    /// later step and no property reads are stored once. Verdicts, shortest path lengths and
    /// paths are the same with and without it. Off in `CheckOptions::default()`, like
    /// `symmetry`; the command line turns it on (`--no-dead-values` turns it off).
    /// [`Results::dead_values`] says whether it applied.
    pub dead_values: bool,
    /// Stop once the process's resident memory reaches this many bytes.
    pub max_memory: Option<u64>,
    /// Up to this many counterexamples per violated invariant, differing in mechanism
    /// ([`crate::trace::mechanism`]; `--counterexamples`): with more than 1, a second
    /// breadth-first search ([`search::counterexamples`]) looks for them after the check.
    pub counterexamples: usize,
    /// Worker threads of the breadth-first search ([`SearchConfig::threads`]; at least 1).
    /// Verdicts, counts and counterexamples do not depend on it.
    pub threads: usize,
    /// Search only this share of a partitioned breadth-first search ([`crate::partition`];
    /// `--partition`); `None`: the whole search.
    pub partition: Option<crate::partition::Partition>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            strategy: Strategy::Bfs,
            max_depth: None,
            max_states: None,
            deadline: None,
            cancel: None,
            properties: None,
            progress: None,
            symmetry: false,
            dead_values: false,
            max_memory: None,
            counterexamples: 1,
            threads: 1,
            partition: None,
        }
    }
}

/// One property's result.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyResult {
    /// The property's key.
    pub name: &'static str,
    /// `always` or `sometimes`.
    pub kind: Kind,
    /// The claim in words.
    pub claim: &'static str,
    /// Whether the property applies to this model ([`properties::Scope`]): if not, an
    /// invariant holds and a sanity property is unreached by construction.
    pub applies: bool,
    /// What the search found.
    pub status: Verdict,
    /// What the model file expects, if it says.
    pub expected: Option<Verdict>,
    /// Whether `status` is what is expected (without an expectation: `holds` for an
    /// invariant, `reached` for a sanity property that applies to the model, `unreached` for
    /// one that does not). `None` while undecided (`unknown`).
    pub as_expected: Option<bool>,
    /// The shortest counterexample (violated) or example (reached), as action indices.
    #[serde(skip)]
    pub path: Option<IndexPath>,
    /// That path's action-index encoding (`"0/3/1/…"`).
    #[serde(rename = "path")]
    pub path_encoded: Option<String>,
    /// Its number of actions.
    pub steps: Option<usize>,
    /// Whether `path` is known to be a shortest one; false when a limit stopped the shortening
    /// of a depth-first discovery ([`crate::search::SearchOutcome::shortest`]).
    #[serde(skip)]
    pub shortest: bool,
    /// The trace file written for it, if any.
    pub trace: Option<PathBuf>,
    /// With `--counterexamples N` (N > 1), for a violated invariant: up to N counterexamples
    /// that differ in mechanism, each the shortest of its kind, the first the shortest of all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub counterexamples: Vec<Counterexample>,
}

/// One of several counterexamples of a property (`--counterexamples`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counterexample {
    /// The action-index path (`"0/3/1/…"`).
    pub path: String,
    /// Its number of actions.
    pub steps: usize,
    /// Its mechanism ([`crate::trace::mechanism`]): the protocol decisions made along it, or
    /// (without a protocol) the action names of its steps.
    pub mechanism: Vec<String>,
    /// Its trace file, once written.
    pub trace: Option<PathBuf>,
}

/// Why the search ended, for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Every reachable state was explored.
    Exhaustive,
    /// Every property was decided before the whole space was explored.
    AllDecided,
    /// `--max-depth` cut some path short.
    DepthBound,
    /// `--max-states` was reached.
    StateBound,
    /// `--timeout` passed.
    Timeout,
    /// Interrupted by a signal.
    Interrupted,
    /// `--max-memory` was reached.
    MemoryBound,
}

/// The results of checking one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    /// The model's name.
    pub model: String,
    /// The model file.
    pub file: PathBuf,
    /// Tabs checked (per device).
    pub tabs: u8,
    /// Devices (browsers) checked, each with `tabs` tabs (`browser.devices`).
    pub devices: u8,
    /// The word the model's text uses for a client (`browser.client_word`); absent for `tab`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_word: Option<String>,
    /// Every property has a final verdict (none is `unknown`).
    pub complete: bool,
    /// Every reachable state was explored.
    pub exhaustive: bool,
    /// Why the search ended.
    pub ending: Ending,
    /// Transitions generated (revisits included): a count.
    pub states: u64,
    /// Distinct states stored: a count (of symmetry classes when [`Results::symmetry`]).
    pub unique_states: u64,
    /// Whether the search was symmetry-reduced: it stored one state per class of states that
    /// differ only in tab names, so `states` and `unique_states` count classes. False when not
    /// asked, with one tab, and when the model's tabs are not interchangeable
    /// ([`model::symmetry::supported`]).
    pub symmetry: bool,
    /// Whether the search reset dead values ([`CheckOptions::dead_values`], where
    /// [`model::dead::applies`]): `unique_states` then counts states that differ in a value some
    /// later step or property reads.
    pub dead_values: bool,
    /// The share of a partitioned search this is ([`crate::partition`]), if it is one: its
    /// verdicts and counts are those of the share (`matrix --merge` combines the shares).
    pub partition: Option<crate::partition::Partition>,
    /// Most actions on an explored path.
    pub max_depth: usize,
    /// Wall-clock seconds of the search.
    pub seconds: f64,
    /// Sanity (`sometimes`) properties that apply to the model ([`properties::Scope`]) and were
    /// never reached in an exhaustive search, unless the model file expects them unreached:
    /// the model may be vacuous. A sanity property that cannot apply (the attacker's, in a
    /// model without one) is never listed.
    pub vacuous: Vec<&'static str>,
    /// Bounds of the model file that the search reached on some path: a violation might lie
    /// just past them ([`crate::bounds`]).
    pub bounds_hit: Vec<BoundHit>,
    /// One entry per property, in catalogue order.
    pub properties: Vec<PropertyResult>,
    /// With `--counterexamples`: why the search for more counterexamples stopped before it
    /// was done (a limit), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexamples_ending: Option<Ending>,
    /// Bytes of the search's visited set ([`search::SearchOutcome::visited_bytes`]; not in
    /// reports).
    #[serde(skip)]
    pub visited_bytes: u64,
    /// The most full states the search's frontier held at once
    /// ([`search::SearchOutcome::peak_frontier`]; not in reports): a count.
    #[serde(skip)]
    pub peak_frontier: u64,
}

/// How the verdicts compare with what is expected; this sets the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every verdict is final and as expected.
    AsExpected,
    /// Some final verdict differs from what is expected.
    Differs,
    /// Nothing differs, but some verdict is `unknown` because a limit stopped the search.
    Incomplete,
}

impl Results {
    /// The overall outcome.
    pub fn outcome(&self) -> Outcome {
        if self.properties.iter().any(|p| p.as_expected == Some(false)) {
            Outcome::Differs
        } else if self.properties.iter().any(|p| p.as_expected.is_none()) {
            Outcome::Incomplete
        } else {
            Outcome::AsExpected
        }
    }
}

/// The verdict expected of a property the model file says nothing about: `holds` for an
/// invariant; for a sanity property, `reached` if it applies to the model
/// ([`properties::Scope`]), else `unreached`.
pub fn default_expectation(kind: Kind, applies: bool) -> Verdict {
    match (kind, applies) {
        (Kind::Always, _) => Verdict::Holds,
        (Kind::Sometimes, true) => Verdict::Reached,
        (Kind::Sometimes, false) => Verdict::Unreached,
    }
}

/// Builds the model for `sc` and checks every property (or only `opts.properties`).
pub fn check(sc: &Scenario, opts: &CheckOptions) -> (RefreshModel, Results) {
    let mut model = model::build(sc);
    if let Some(only) = &opts.properties {
        model.properties.retain(|p| only.iter().any(|o| o == p.name));
    }
    let specs: Vec<&'static properties::PropertySpec> =
        model.properties.iter().filter_map(|p| properties::by_name(p.name)).collect();
    // With one tab there is nothing to rename.
    let representative = model::dead::reduction(sc, opts.symmetry, opts.dead_values);
    let symmetry = opts.symmetry && model::symmetry::supported(sc);
    let dead_values = opts.dead_values && model::dead::applies(sc);
    let cfg = SearchConfig {
        strategy: opts.strategy,
        max_depth: opts.max_depth,
        max_states: opts.max_states,
        deadline: opts.deadline,
        cancel: opts.cancel.clone(),
        symmetry: representative,
        max_memory: opts.max_memory,
        progress: opts.progress.clone(),
        threads: opts.threads,
        partition: opts.partition,
    };
    // A share records how this build fingerprints the model (see `Partition`).
    let partition = opts.partition.map(|p| crate::partition::Partition {
        initial_fingerprint: stateright::Model::init_states(&model).first().map(search::fingerprint),
        file_hash: std::fs::read(&sc.path).ok().map(|bytes| search::fingerprint(&bytes)),
        ..p
    });
    let watch = BoundWatch::new(&model, sc);
    let out = search::search(&watch, &cfg);
    let bounds_hit = watch.hits();
    let ending = match out.stopped {
        Some(stop) => ending_of(stop),
        None if out.exhaustive => Ending::Exhaustive,
        None => Ending::AllDecided,
    };
    let decided = out.exhaustive;
    let properties: Vec<PropertyResult> = specs
        .into_iter()
        .zip(out.discoveries.into_iter().zip(out.shortest))
        .map(|(p, (found, shortest))| {
            let status = match (p.kind, &found, decided) {
                (Kind::Always, Some(_), _) => Verdict::Violated,
                (Kind::Always, None, true) => Verdict::Holds,
                (Kind::Sometimes, Some(_), _) => Verdict::Reached,
                (Kind::Sometimes, None, true) => Verdict::Unreached,
                (_, None, false) => Verdict::Unknown,
            };
            let expected = sc.expect.get(p.name).copied();
            let applies = p.applies(sc);
            let wanted = expected.unwrap_or(default_expectation(p.kind, applies));
            PropertyResult {
                name: p.name,
                kind: p.kind,
                claim: p.claim,
                applies,
                status,
                expected,
                as_expected: (status != Verdict::Unknown).then_some(status == wanted),
                path_encoded: found.as_ref().map(IndexPath::encode),
                steps: found.as_ref().map(|f| f.actions.len()),
                shortest: shortest || found.is_none(),
                path: found,
                trace: None,
                counterexamples: Vec::new(),
            }
        })
        .collect();
    let mut properties = properties;
    let mut counterexamples_ending = None;
    if opts.counterexamples > 1 {
        let targets: Vec<usize> = (0..properties.len())
            .filter(|&i| properties[i].status == Verdict::Violated && properties[i].kind == Kind::Always)
            .collect();
        if !targets.is_empty() {
            let more = search::counterexamples(&model, &cfg, &targets, opts.counterexamples, |_, path| {
                crate::trace::mechanism(&model, path).unwrap_or_default()
            });
            counterexamples_ending = more.stopped.map(ending_of);
            for (&i, list) in targets.iter().zip(more.found) {
                properties[i].counterexamples = list
                    .into_iter()
                    .map(|(path, mechanism)| Counterexample {
                        path: path.encode(),
                        steps: path.actions.len(),
                        mechanism,
                        trace: None,
                    })
                    .collect();
            }
        }
    }
    let vacuous = properties
        .iter()
        .filter(|p| {
            p.kind == Kind::Sometimes
                && p.applies
                && p.status == Verdict::Unreached
                && p.expected != Some(Verdict::Unreached)
        })
        .map(|p| p.name)
        .collect();
    let results = Results {
        model: sc.name.clone(),
        file: sc.path.clone(),
        tabs: sc.browser.tabs,
        devices: sc.browser.devices,
        client_word: sc.browser.client_word.as_ref().filter(|w| !w.is_tab()).map(|w| w.word().to_string()),
        complete: properties.iter().all(|p| p.status != Verdict::Unknown),
        exhaustive: out.exhaustive,
        ending,
        states: out.states,
        unique_states: out.unique_states,
        symmetry,
        dead_values,
        partition,
        max_depth: out.max_depth,
        seconds: out.seconds,
        vacuous,
        bounds_hit,
        properties,
        counterexamples_ending,
        visited_bytes: out.visited_bytes,
        peak_frontier: out.peak_frontier,
    };
    (model, results)
}

/// The report's ending for a search stopped by `stop`.
fn ending_of(stop: Stop) -> Ending {
    match stop {
        Stop::DepthBound => Ending::DepthBound,
        Stop::StateBound => Ending::StateBound,
        Stop::Timeout => Ending::Timeout,
        Stop::Interrupted => Ending::Interrupted,
        Stop::MemoryBound => Ending::MemoryBound,
    }
}
