//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use refresh_check::check::{self, CheckOptions, Outcome, Results};
use refresh_check::model::RefreshModel;
use refresh_check::properties;
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::trace::{self, Trace};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Loads a model file (path relative to the repository root), with an optional tab count.
/// Every `.json` file directly under `dir` (relative to the repository), sorted by path.
pub fn json_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// Every shipped model file (`models/*.json`), sorted by path.
pub fn model_files() -> Vec<PathBuf> {
    json_files("models")
}

pub fn scenario(rel: &str, tabs: Option<u8>) -> Scenario {
    let sc = Scenario::load(&root().join(rel)).unwrap_or_else(|e| panic!("{e}"));
    match tabs {
        Some(t) => sc.with_tabs(t).unwrap(),
        None => sc,
    }
}

/// Checks a scenario with default options.
pub fn run(sc: &Scenario, opts: &CheckOptions) -> (RefreshModel, Results) {
    check::check(sc, opts)
}

/// The re-checked trace of property `name` in `results`.
pub fn trace_of(model: &RefreshModel, sc: &Scenario, results: &Results, name: &str) -> Trace {
    let p = results.properties.iter().find(|p| p.name == name).unwrap();
    let path = p.path.as_ref().unwrap_or_else(|| panic!("{name} has no path: {:?}", p.status));
    trace::build(model, &sc.path, &sc.name, sc.browser.tabs, properties::by_name(name).unwrap(), path).unwrap()
}

/// `(actor, action)` of each step.
pub fn steps(t: &Trace) -> Vec<(String, String)> {
    t.steps.iter().map(|s| (s.actor.clone(), s.action.clone())).collect()
}

/// Expected `(actor, action)` pairs of [`steps`], written as string slices.
pub fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// One expected `(actor, action)` of [`steps`].
pub fn pair(actor: &str, action: &str) -> (String, String) {
    (actor.to_string(), action.to_string())
}

/// Runs the binary in `dir` with `args`.
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_refresh-check")).current_dir(dir).args(args).output().unwrap()
}

/// The index (0-based) of the first step matching `actor` and `action` whose text contains
/// `needle`.
pub fn find_step(t: &Trace, actor: &str, action: &str, needle: &str) -> usize {
    t.steps
        .iter()
        .position(|s| s.actor == actor && s.action == action && s.text.contains(needle))
        .unwrap_or_else(|| panic!("no step {actor} {action} ~ {needle:?} in\n{}", trace::render_text(t)))
}

/// The verdict found for property `name`.
pub fn status(r: &Results, name: &str) -> Verdict {
    r.properties.iter().find(|p| p.name == name).unwrap().status
}

/// Checks a shipped model file (with an optional tab count): every verdict is what the file
/// expects.
pub fn checked_with(file: &str, tabs: Option<u8>) -> (Scenario, RefreshModel, Results) {
    let sc = scenario(file, tabs);
    let (m, r) = run(&sc, &CheckOptions::default());
    assert_eq!(r.outcome(), Outcome::AsExpected, "{file}: {:?}", r.properties);
    (sc, m, r)
}

/// Checks a shipped model file with its own tab count: every verdict is what the file expects.
pub fn checked(file: &str) -> (Scenario, RefreshModel, Results) {
    checked_with(file, None)
}

/// The action name of each step.
pub fn actions(t: &Trace) -> Vec<String> {
    steps(t).into_iter().map(|(_, a)| a).collect()
}

/// The authorization server's race between two tabs that present one token: both send, the
/// server answers each on arrival, and the second is refused.
pub const SECOND_PRESENTER_REFUSED: [&str; 5] = [
    "TabSendsRefresh",
    "ServerReceivesRefresh",
    "TabSendsRefresh",
    "ServerReceivesRefresh",
    "TabReceivesRefreshResponse",
];

/// A query on a scenario's model: the shortest path to a state where `cond` holds (a
/// `Sometimes` property added to the built model), whether the search was exhaustive, and the
/// model it searched (to replay the path).
pub fn shortest_to(
    sc: &Scenario,
    cond: fn(&RefreshModel, &refresh_check::model::State) -> bool,
) -> (Option<refresh_check::search::IndexPath>, bool, RefreshModel) {
    use stateright::Model;
    let m = refresh_check::model::build(sc).property(stateright::Expectation::Sometimes, "query", cond);
    let out = refresh_check::search::search(&m, &refresh_check::search::SearchConfig::default());
    let i = m.properties().iter().position(|p| p.name == "query").unwrap();
    (out.discoveries[i].clone(), out.exhaustive, m)
}

/// The model file's own query `name` of `sc`, answered by a full search; asserts the answer is
/// the one the file expects.
pub fn answered(sc: &Scenario, name: &str) -> refresh_check::query::Outcome {
    let q = sc.queries.iter().find(|q| q.name == name).unwrap();
    let m = refresh_check::model::build(sc);
    let cfg = refresh_check::search::SearchConfig::default();
    let o = refresh_check::query::answer(&m, &sc.path, &sc.name, sc.browser.tabs, q, &cfg);
    assert_eq!(o.expect, Some(o.answer), "{} {name}", sc.name);
    o
}

/// The store rows of a trace's last state, as the trace prints them.
pub fn last_store(t: &Trace) -> &[String] {
    &t.steps.last().unwrap().state.store
}

/// The trace of the model file's own query `name`, which the file expects reachable.
pub fn query_trace(sc: &Scenario, name: &str) -> Trace {
    let o = answered(sc, name);
    assert_eq!(o.answer, refresh_check::query::Answer::Reachable, "{name}");
    o.trace.unwrap()
}

/// Each case `(bad, at, field, expected)`: the model file text `bad` (an edit of `src`) is
/// refused by `models validate` with exit 2, at the line of the first occurrence of `at`, naming
/// `field` and saying `expected`.
pub fn refused_at(src: &str, cases: &[(String, &str, &str, &str)]) {
    let files = crate::common::TempFiles::new();
    let line_of = |text: &str, needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() + 1;
    for (bad, at, field, expected) in cases {
        assert_ne!(bad, src, "{field}");
        files.write("m.json", bad);
        let out = cli(files.path(), &["models", "validate", "m.json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("m.json:{}:", line_of(bad, at))), "{field}: {err}");
        assert!(err.contains(field) && err.contains(expected), "{err}");
    }
}
