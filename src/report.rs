//! Reports of checks: what was found per model and property, in the formats people and CI
//! systems read.
//!
//! The data is [`ModelReport`] (one model file: the search's counts and one [`PropertyReport`]
//! per property) and [`SuiteReport`] (several model files, or a shard of them: totals, the
//! differences, the models). Both are serde types, read back by `matrix --merge`. Writers:
//! [`text`](mod@text) (people), [`json`] (machines), [`junit`] (CI test reports), [`github`] (GitHub
//! Actions workflow annotations), [`table`] (the `matrix` table as text or Markdown).
//!
//! In every report, what differs from the expected verdicts comes first: models with a
//! difference before the others, and within a model, differing properties before the others
//! (otherwise models by file path and properties in catalogue order).
//!
//! The JSON object of one model is the contract CI relies on: `model`, `file`, `policy`, `tabs`,
//! `complete`, `exhaustive`, `ending`, `states`, `unique_states`, `max_depth`, `seconds`,
//! `vacuous`, `outcome`, and `properties`, a list of `{name, kind, claim, applies, status,
//! expected, as_expected, path, steps, trace, golden}`. `status` is `holds`, `violated`, `reached`,
//! `unreached` or `unknown` (the search stopped before it could decide). A model with scenario
//! queries (its own `queries`, or `check --query FILE`) also has `queries`: a list of
//! [`QueryReport`] `{name, kind, claim, expected, answer, as_expected, steps, unique_states,
//! trace}`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::check::{Ending, Outcome, Results};
use crate::golden::Golden;
use crate::properties::{self, Kind};
use crate::scenario::Verdict;
use crate::suite::Shard;
use crate::trace::Trace;

pub mod github;
pub mod junit;
pub mod merge;
pub mod table;
pub mod text;

/// The schema of a suite report (several model files).
pub const SCHEMA: &str = "refresh-check/report/v1";

/// Traces found in this run, by `(model, property)`, for reports that print their steps.
pub type Traces = BTreeMap<(String, String), Trace>;

/// One property's result in a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropertyReport {
    /// The property's key.
    pub name: String,
    /// `always` or `sometimes`.
    pub kind: Kind,
    /// The claim in words.
    pub claim: String,
    /// Whether the property applies to the model ([`crate::properties::Scope`]); reports
    /// mark one that does not `n/a`. Absent in reports of earlier versions: true.
    #[serde(default = "applies_by_default")]
    pub applies: bool,
    /// What the search found.
    pub status: Verdict,
    /// What the model file expects, if it says.
    pub expected: Option<Verdict>,
    /// Whether `status` is what is expected; `None` while undecided.
    pub as_expected: Option<bool>,
    /// The action-index path of the counterexample or example (`"0/3/1/…"`).
    pub path: Option<String>,
    /// Its number of actions.
    pub steps: Option<usize>,
    /// The trace file of its counterexample, if one was written or committed.
    pub trace: Option<PathBuf>,
    /// What became of its golden trace (see [`crate::golden`]); absent when nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden: Option<Golden>,
    /// With `check --counterexamples N` (N > 1): up to N counterexamples that differ in
    /// mechanism ([`crate::trace::mechanism`]), shortest first; the first is this property's
    /// `path` and `trace`. Absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counterexamples: Vec<crate::check::Counterexample>,
}

fn applies_by_default() -> bool {
    true
}

impl PropertyReport {
    /// Whether it leaves the run incomplete: its verdict is undecided (`unknown`), or a limit
    /// stopped the shortening of its counterexample ([`crate::golden::Status::Unshortened`]),
    /// and it does not differ.
    pub fn undecided(&self) -> bool {
        !self.differs()
            && (self.as_expected.is_none()
                || self.golden.as_ref().is_some_and(|g| g.status == crate::golden::Status::Unshortened))
    }

    /// The verdict differs from the expected one, or the golden trace does.
    pub fn differs(&self) -> bool {
        self.as_expected == Some(false) || self.golden.as_ref().is_some_and(|g| g.status.fails())
    }

    /// Why it differs, in one line; `None` if it does not.
    pub fn difference(&self) -> Option<String> {
        if !self.differs() {
            return None;
        }
        let mut parts = Vec::new();
        if self.as_expected == Some(false) {
            let expected = self.expected.map(verdict).unwrap_or(match (self.kind, self.applies) {
                (Kind::Always, _) => "holds (an invariant, no expectation given)",
                (Kind::Sometimes, true) => "reached (a sanity property, no expectation given)",
                (Kind::Sometimes, false) => {
                    "unreached (a sanity property that does not apply to the model, no expectation given)"
                }
            });
            let mut s = format!("expected {expected}, found {}", verdict(self.status));
            match (self.steps, &self.trace) {
                (Some(n), Some(t)) => s += &format!(" ({n} steps; trace {})", t.display()),
                (Some(n), None) => s += &format!(" ({n} steps)"),
                _ => {}
            }
            parts.push(s);
        }
        if let Some(m) = self.golden.as_ref().filter(|g| g.status.fails()).and_then(|g| g.message.clone()) {
            parts.push(m);
        }
        Some(parts.join("; "))
    }
}

/// A bound of the model file reached on some explored path (see [`crate::bounds::BoundHit`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundReport {
    /// The model-file field, e.g. `"time.max_ticks"`.
    pub field: String,
    /// Its value.
    pub value: u64,
    /// What was stopped, in words.
    pub stopped: String,
}

/// One model file's results in a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// The model's name.
    pub model: String,
    /// The model file.
    pub file: PathBuf,
    /// The model file's `server` section in one line (`key=value ...`): the policy checked.
    #[serde(default)]
    pub policy: String,
    /// Tabs checked (per device).
    pub tabs: u8,
    /// Devices (browsers) checked, each with `tabs` tabs (`browser.devices`); absent for one,
    /// and in reports of earlier versions.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub devices: u8,
    /// The word the model's text uses for a client (`browser.client_word`); absent for `tab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_word: Option<String>,
    /// Every property has a final verdict.
    pub complete: bool,
    /// Every reachable state was explored.
    pub exhaustive: bool,
    /// Why the search ended.
    pub ending: Ending,
    /// Transitions generated: a count.
    pub states: u64,
    /// Distinct states stored: a count (of symmetry classes when `symmetry`).
    pub unique_states: u64,
    /// Whether the search was symmetry-reduced over tabs ([`crate::check::Results::symmetry`]).
    /// Absent in reports of earlier versions, whose default search was unreduced: false.
    #[serde(default)]
    pub symmetry: bool,
    /// Whether the search reset dead values ([`crate::check::Results::dead_values`]). Absent in
    /// reports of earlier versions, which had no such reduction: false.
    #[serde(default)]
    pub dead_values: bool,
    /// With `check --partition`: the share of a partitioned search this report covers
    /// ([`crate::partition`]); `matrix --merge` combines the shares. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<crate::partition::Partition>,
    /// Most actions on an explored path.
    pub max_depth: usize,
    /// Wall-clock seconds of the search.
    pub seconds: f64,
    /// Sanity properties never reached in an exhaustive search.
    pub vacuous: Vec<String>,
    /// Bounds of the model file the search reached on some path ([`crate::bounds`]).
    #[serde(default)]
    pub bounds_hit: Vec<BoundReport>,
    /// `as_expected`, `differs` or `incomplete`.
    pub outcome: Outcome,
    /// One entry per property checked.
    pub properties: Vec<PropertyReport>,
    /// With `check --counterexamples`: why the search for more counterexamples stopped early
    /// (a limit), if it did. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexamples_ending: Option<Ending>,
    /// The answers of the model file's `queries` and of `check --query FILE`, in that order.
    /// Absent when there are none (and in `--shard` runs, which answer no query).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<QueryReport>,
}

/// One scenario query's (or user-defined invariant's) answer in a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryReport {
    /// The query's name (its `name` in the model file or the query file).
    pub name: String,
    /// `query` (some run matches its events and end condition?) or `invariant` (`always`).
    pub kind: String,
    /// The query's one-line claim.
    pub claim: String,
    /// The answer the file expects (`reachable`, `unreachable`, `holds`, `violated`), if it
    /// says.
    pub expected: Option<String>,
    /// The answer: `reachable`, `unreachable` (a query), `holds`, `violated` (an invariant),
    /// or `unknown` (a limit stopped the search first).
    pub answer: String,
    /// The answer is final and the expected one (true without an expectation).
    pub as_expected: bool,
    /// Steps of the shortest matching run (a reachable query) or counterexample (a violated
    /// invariant): a count.
    pub steps: Option<usize>,
    /// Distinct states of the search (the model's states paired with the query's progress):
    /// a count.
    pub unique_states: u64,
    /// The trace file written (`<model>.query-<name>.json`), if any.
    pub trace: Option<PathBuf>,
}

fn one() -> u8 {
    1
}

fn is_one(n: &u8) -> bool {
    *n == 1
}

/// The browsers of a model in words: `2 tabs`, `1 tab`, or, with several devices
/// (`browser.devices`), `3 devices of 1 tab each`.
pub fn browsers_summary(devices: u8, tabs: u8) -> String {
    clients_summary(devices, tabs, crate::model::client_word::TAB)
}

/// [`browsers_summary`] in a model's client word (`browser.client_word`): `2 processes`,
/// `3 devices of 1 app each`.
pub fn clients_summary(devices: u8, tabs: u8, word: &str) -> String {
    let tabs =
        if tabs == 1 { format!("1 {word}") } else { format!("{tabs} {}", crate::model::client_word::plural(word)) };
    match devices {
        0 | 1 => tabs,
        d => format!("{d} devices of {tabs} each"),
    }
}

impl ModelReport {
    /// The report of `r`, with the model's policy line and each property's golden-trace result
    /// (in `r.properties` order, or empty).
    pub fn new(r: &Results, policy: String, golden: Vec<Option<Golden>>) -> ModelReport {
        let mut golden = golden.into_iter();
        let properties = r
            .properties
            .iter()
            .map(|p| {
                let golden = golden.next().flatten();
                // A golden trace that differs from (or no longer reproduces) this run's
                // counterexample is not this counterexample's file: name none.
                let trace = match &golden {
                    Some(g)
                        if !matches!(
                            g.status,
                            crate::golden::Status::Removed
                                | crate::golden::Status::Other
                                | crate::golden::Status::Unshortened
                                | crate::golden::Status::Differs
                                | crate::golden::Status::Stale
                        ) =>
                    {
                        Some(g.file.clone())
                    }
                    _ => p.trace.clone(),
                };
                PropertyReport {
                    name: p.name.into(),
                    kind: p.kind,
                    claim: match &r.client_word {
                        Some(w) => crate::model::client_word::reword(p.claim, w),
                        None => p.claim.into(),
                    },
                    applies: p.applies,
                    status: p.status,
                    expected: p.expected,
                    as_expected: p.as_expected,
                    path: p.path_encoded.clone(),
                    steps: p.steps,
                    trace: if p.status == Verdict::Violated { trace.clone() } else { None },
                    golden,
                    counterexamples: p
                        .counterexamples
                        .iter()
                        .enumerate()
                        .map(|(k, c)| {
                            let mut c = c.clone();
                            if k == 0 && c.path == p.path_encoded.clone().unwrap_or_default() {
                                c.trace = trace.clone();
                            }
                            c
                        })
                        .collect(),
                }
            })
            .collect();
        let mut m = ModelReport {
            model: r.model.clone(),
            file: r.file.clone(),
            policy,
            tabs: r.tabs,
            devices: r.devices,
            client_word: r.client_word.clone(),
            complete: r.complete,
            exhaustive: r.exhaustive,
            ending: r.ending,
            states: r.states,
            unique_states: r.unique_states,
            symmetry: r.symmetry,
            dead_values: r.dead_values,
            partition: r.partition,
            max_depth: r.max_depth,
            seconds: r.seconds,
            vacuous: r.vacuous.iter().map(|v| v.to_string()).collect(),
            bounds_hit: r
                .bounds_hit
                .iter()
                .map(|b| BoundReport { field: b.field.clone(), value: b.value, stopped: b.stopped.into() })
                .collect(),
            outcome: Outcome::AsExpected,
            properties,
            counterexamples_ending: r.counterexamples_ending,
            queries: Vec::new(),
        };
        m.settle();
        m
    }

    /// Recomputes `complete` and `outcome` and puts the properties in report order.
    pub fn settle(&mut self) {
        let rank = |name: &str| properties::ALL.iter().position(|p| p.name == name).unwrap_or(usize::MAX);
        self.properties.sort_by(|a, b| (rank(&a.name), &a.name).cmp(&(rank(&b.name), &b.name)));
        self.properties.sort_by_key(|p| !p.differs());
        self.vacuous.sort_by_key(|v| rank(v));
        self.vacuous.dedup();
        self.complete = self.properties.iter().all(|p| p.status != Verdict::Unknown);
        self.outcome = if self.properties.iter().any(PropertyReport::differs) {
            Outcome::Differs
        } else if self.properties.iter().any(PropertyReport::undecided) {
            Outcome::Incomplete
        } else {
            Outcome::AsExpected
        };
    }
}

/// The share of the suite a report covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// Which shard, from 1 to `count`.
    pub index: u32,
    /// How many shards share the suite.
    pub count: u32,
    /// `(model, property)` units this shard checked.
    pub units: usize,
    /// Units in the whole suite.
    pub units_total: usize,
}

impl ShardInfo {
    /// The shard.
    pub fn shard(&self) -> Shard {
        Shard { index: self.index, count: self.count }
    }
}

/// Counts over a suite.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Model files checked.
    pub models: usize,
    /// Properties checked (model x property units).
    pub properties: usize,
    /// Of these, as expected.
    pub as_expected: usize,
    /// Of these, differing (verdict or golden trace).
    pub differ: usize,
    /// Of these, undecided (`unknown`) and not differing.
    pub undecided: usize,
    /// Transitions generated, over all searches.
    pub states: u64,
    /// Distinct states stored, over all searches.
    pub unique_states: u64,
    /// Seconds of search, over all models.
    pub seconds: f64,
}

/// One difference from the expected verdicts or golden traces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// The model's name.
    pub model: String,
    /// The model file.
    pub file: PathBuf,
    /// The property.
    pub property: String,
    /// The expected verdict, if the model file states one.
    pub expected: Option<Verdict>,
    /// The verdict found.
    pub found: Verdict,
    /// The trace file, if any.
    pub trace: Option<PathBuf>,
    /// The golden trace's first differing step, if that is (part of) the difference.
    pub step: Option<usize>,
    /// Why, in one line.
    pub message: String,
}

/// The report of several model files (or a shard of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// `as_expected`, `differs` or `incomplete`, over every model.
    pub outcome: Outcome,
    /// The shard this report covers; `null` for the whole suite.
    pub shard: Option<ShardInfo>,
    /// Counts.
    pub totals: Totals,
    /// Every difference, first.
    pub differences: Vec<Difference>,
    /// One entry per model file.
    pub models: Vec<ModelReport>,
}

impl SuiteReport {
    /// A suite report of `models`; orders them and computes outcome, totals and differences.
    pub fn new(mut models: Vec<ModelReport>, shard: Option<ShardInfo>) -> SuiteReport {
        for m in models.iter_mut() {
            m.settle();
        }
        models.sort_by(|a, b| a.file.cmp(&b.file));
        models.sort_by_key(|m| m.outcome != Outcome::Differs);
        let props = || models.iter().flat_map(|m| m.properties.iter().map(move |p| (m, p)));
        let differences: Vec<Difference> = props()
            .filter_map(|(m, p)| {
                Some(Difference {
                    message: p.difference()?,
                    model: m.model.clone(),
                    file: m.file.clone(),
                    property: p.name.clone(),
                    expected: p.expected,
                    found: p.status,
                    trace: p.trace.clone(),
                    step: p.golden.as_ref().filter(|g| g.status.fails()).and_then(|g| g.step),
                })
            })
            .collect();
        let totals = Totals {
            models: models.len(),
            properties: props().count(),
            as_expected: props().filter(|(_, p)| p.as_expected == Some(true) && !p.differs() && !p.undecided()).count(),
            differ: differences.len(),
            undecided: props().filter(|(_, p)| p.undecided()).count(),
            states: models.iter().map(|m| m.states).sum(),
            unique_states: models.iter().map(|m| m.unique_states).sum(),
            seconds: models.iter().map(|m| m.seconds).sum(),
        };
        let outcome = if totals.differ > 0 {
            Outcome::Differs
        } else if totals.undecided > 0 {
            Outcome::Incomplete
        } else {
            Outcome::AsExpected
        };
        SuiteReport { schema: SCHEMA.into(), outcome, shard, totals, differences, models }
    }
}

/// `holds`, `violated`, … as in reports.
pub fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::Violated => "violated",
        Verdict::Reached => "reached",
        Verdict::Unreached => "unreached",
        Verdict::Unknown => "unknown",
    }
}

/// `exhaustive`, `all_decided`, `depth_bound`, … as in JSON reports.
pub fn ending_word(e: Ending) -> String {
    serde_json::to_value(e).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// `1 model`, `2 models`; `1 property`, `2 properties`.
pub fn count(n: usize, word: &str) -> String {
    match (n, word.strip_suffix('y')) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {word}s"),
    }
}

/// `as expected`, `differs`, `incomplete`.
pub fn outcome_words(o: Outcome) -> &'static str {
    match o {
        Outcome::AsExpected => "as expected",
        Outcome::Differs => "differs",
        Outcome::Incomplete => "incomplete",
    }
}

/// Writes the text report of one model's [`Results`] (no golden traces, no policy line).
pub fn text(r: &Results, traces: &[Trace], w: &mut impl Write) -> io::Result<()> {
    let map: Traces = traces.iter().map(|t| ((t.model.clone(), t.property.clone()), t.clone())).collect();
    text::model(&ModelReport::new(r, String::new(), Vec::new()), &map, w)
}

/// Writes the JSON report of one model's [`Results`]: one object, then a newline.
pub fn json(r: &Results, w: &mut impl Write) -> io::Result<()> {
    json_value(&ModelReport::new(r, String::new(), Vec::new()), w)
}

/// Writes any report as pretty JSON, then a newline.
pub fn json_value<T: Serialize>(value: &T, w: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value)?;
    writeln!(w)
}
