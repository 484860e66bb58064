//! The multi-threaded breadth-first search (`--threads N`, [`refresh_check::search`]) must give
//! the same result as one thread: on every shipped model, the same transitions and unique
//! states, the same verdicts and the same shortest counterexamples, action by action.

use refresh_check::check::{self, CheckOptions, Results};
use refresh_check::scenario::Scenario;

use crate::util::root;

fn check(sc: &Scenario, threads: usize) -> Results {
    check::check(sc, &CheckOptions { threads, ..CheckOptions::default() }).1
}

type Summary = (u64, u64, bool, Vec<(&'static str, String, Option<String>)>);

fn summary(r: &Results) -> Summary {
    let props = r.properties.iter().map(|p| (p.name, format!("{:?}", p.status), p.path_encoded.clone())).collect();
    (r.states, r.unique_states, r.exhaustive, props)
}

#[test]
fn every_shipped_model_has_the_same_counts_verdicts_and_paths_whatever_the_thread_count() {
    let files = crate::util::model_files();
    assert!(files.len() >= 80, "{} model files", files.len());
    let mut violated = 0;
    for f in &files {
        let sc = Scenario::load(f).unwrap();
        let one = summary(&check(&sc, 1));
        // 3 workers on a 2-core machine: more threads than cores, so the chunks are taken
        // in varying orders from run to run.
        let three = summary(&check(&sc, 3));
        assert_eq!(one, three, "{}", f.display());
        assert!(one.1 > 0, "{}: nothing searched", f.display());
        violated += one.3.iter().filter(|p| p.2.is_some()).count();
    }
    // The comparison covers real counterexamples, not only empty results.
    assert!(violated >= 100, "{violated} paths compared");
}

/// A search large enough for many multi-threaded rounds (a few hundred thousand states):
/// the same counts and paths with 1 and 4 threads.
#[test]
fn a_large_search_is_the_same_with_one_and_four_threads() {
    let sc = Scenario::load(&root().join("models/directus-10.11.1-session.json")).unwrap().with_tabs(3).unwrap();
    let opts = |threads| CheckOptions { threads, max_states: Some(300_000), ..CheckOptions::default() };
    let (_, one) = check::check(&sc, &opts(1));
    let (_, four) = check::check(&sc, &opts(4));
    assert_eq!(one.unique_states, 300_000);
    assert_eq!(summary(&one), summary(&four));
}
