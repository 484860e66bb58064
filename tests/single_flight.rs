//! Several requesters of one tab sharing the page's refresh in flight (`browser.single_flight`):
//! Drips PR 1884's in-flight promise in one page and in two, the field's effect against the
//! model before the PR, and its refusals.

use refresh_check::query::Answer;
use refresh_check::scenario::{Scenario, Verdict};

use crate::util::{checked, pair, refused_at, root, status, steps, trace_of};

const FIX: &str = "models/drips-pr1884-one-page-shares-the-refresh.json";
const TWO_PAGES: &str = "models/drips-pr1884-two-pages-still-race.json";
const BEFORE: &str = "models/drips-1884-parallel-calls-refresh-on-their-own.json";

/// The model file `rel` with `edit` applied to its text, loaded from a temporary file.
fn edited(rel: &str, edit: impl FnOnce(String) -> String) -> (crate::common::TempFiles, Scenario) {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    let changed = edit(text.clone());
    assert_ne!(changed, text);
    let files = crate::common::TempFiles::new();
    let path = files.write("m.json", &changed);
    let sc = Scenario::load(&path).unwrap();
    (files, sc)
}

/// The query `name` of `sc` answered by a full search.
fn answer(sc: &Scenario, name: &str) -> refresh_check::query::Outcome {
    let q = sc.queries.iter().find(|q| q.name == name).unwrap();
    let m = refresh_check::model::build(sc);
    refresh_check::query::answer(&m, &sc.path, &sc.name, sc.browser.tabs, q, &Default::default())
}

/// The PR's one-page case: with the in-flight promise the page's second call awaits the
/// first's refresh, nobody is logged out and no two refreshes of the page are ever in flight;
/// the same file without `single_flight` is the model before the PR, with its 5-step race.
#[test]
fn drips_pr1884_one_page_shares_the_refresh_and_without_the_field_races() {
    let (sc, _, r) = checked(FIX);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Unreached);
    assert_eq!(status(&r, "refresh_succeeds"), Verdict::Reached);
    assert!(r.unique_states >= 10, "the search was not empty: {}", r.unique_states);

    let o = answer(&sc, "second-call-awaits-the-first-refresh");
    assert_eq!(o.answer, Answer::Reachable);
    let t = o.trace.unwrap();
    assert_eq!(
        steps(&t),
        vec![
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A's requester 2", "RequesterAwaitsRefreshInFlight"),
            pair("tab A", "TabReceivesRefreshResponse"),
        ]
    );
    assert!(t.steps[0].text.ends_with("refresh cookie (token=1)"), "{}", t.steps[0].text);
    assert!(
        t.steps[2].text.contains("awaits the page's refresh in flight (tab A, which presented token=1)"),
        "{}",
        t.steps[2].text
    );
    assert!(t.steps[3].text.contains("gets 200, refresh token=2"), "{}", t.steps[3].text);

    // No requester sends the cookie the page's refresh in flight presents; the same query
    // on the model before the PR is reachable, so the query can fail.
    assert_eq!(answer(&sc, "a-second-refresh-with-the-rotated-cookie").answer, Answer::Unreachable);
    let (_f, plain) = edited(FIX, |s| s.replacen(",\n    \"single_flight\": true", "", 1));
    assert_eq!(answer(&plain, "a-second-refresh-with-the-rotated-cookie").answer, Answer::Reachable);
    let (_, _, before) = checked(BEFORE);
    let (_, without) = crate::util::run(&plain, &Default::default());
    assert_eq!(status(&without, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(without.unique_states, before.unique_states, "without the field: the model before the PR");
}

/// Two tabs, each page sharing its own promise: the pages still race. The counterexample is
/// the two tabs' refreshes with cookie 1; the loser is logged out.
#[test]
fn drips_pr1884_two_pages_still_race() {
    let (sc, m, r) = checked(TWO_PAGES);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        vec![
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab B", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab B", "TabReceivesRefreshResponse"),
        ]
    );
    assert!(t.steps[2].text.ends_with("(token=1)"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("rule `revoked token: refused`"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.ends_with("and is logged out"), "{}", t.steps[4].text);
    let o = answer(&sc, "pages-race-while-each-page-shares");
    assert_eq!(o.answer, Answer::Reachable);
    assert!(crate::util::actions(&o.trace.unwrap()).contains(&"RequesterAwaitsRefreshInFlight".to_string()));

    // A per-tab setting: only tab B shares; tab A's requesters still race each other.
    let (_f, mixed) = edited(TWO_PAGES, |s| {
        s.replacen(
            "\"single_flight\": true",
            "\"tab_settings\": [{\"single_flight\": false}, {}], \"single_flight\": true",
            1,
        )
    });
    let (_, r2) = crate::util::run(&mixed, &Default::default());
    assert_eq!(status(&r2, "no_spurious_logout"), Verdict::Violated);
    assert!(r2.unique_states > r.unique_states, "tabs that differ are not reduced together");
}

/// Bad input: the field without several requesters, per browser and per tab, is refused at
/// its line, naming the field (exit 2).
#[test]
fn single_flight_without_requesters_is_refused_at_its_line() {
    let src = std::fs::read_to_string(root().join(FIX)).unwrap();
    let one = src.replacen("\"requesters_per_tab\": 2", "\"requesters_per_tab\": 1", 1);
    let per_tab_one =
        one.replacen("\"single_flight\": true", "\"tab_settings\": [\n      { \"single_flight\": true }\n    ]", 1);
    refused_at(
        &src,
        &[
            (one, "\"single_flight\"", "browser.single_flight", "`requesters_per_tab` is above 1"),
            (
                per_tab_one,
                "\"single_flight\"",
                "browser.tab_settings[0].single_flight",
                "`requesters_per_tab` is above 1",
            ),
            (
                src.replacen("\"single_flight\": true", "\"single_flight\": \"yes\"", 1),
                "\"single_flight\"",
                "single_flight",
                "`true` or `false`",
            ),
        ],
    );
}
