//! The Directus models reproduce the reported race, and the proposed fix removes it.
//! See: directus/directus issue 22360 and pull request 22433; `shared/cases/README.md`.

use refresh_check::check::{CheckOptions, Ending};
use refresh_check::scenario::Verdict;
use refresh_check::search::Strategy;
use refresh_check::trace;

use crate::util::{find_step, run, scenario, status, steps, trace_of};

const ROTATE: &str = "models/directus-10.10-session.json";
const STABLE: &str = "models/directus-pr22433-stable-id.json";

/// D-S1: PR 22433 scenario 1. Tab A's rename (W1) lands before tab B's lookup (R1); B's R1
/// finds no row, B gets 401 INVALID_CREDENTIALS and is logged out. Ten actions, the least
/// there are; the same with three tabs (tab C takes no part).
#[test]
fn d_s1_late_lookup_logs_tab_b_out_with_2_and_3_tabs() {
    let expected: Vec<(String, String)> = [
        ("tab A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("store", "StoreRunsR1"),
        ("server", "ServerReceivesResult"),
        ("store", "StoreRunsW1Rename"),
        ("tab B", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("store", "StoreRunsR1"),
        ("server", "ServerReceivesResult"),
        ("tab B", "TabReceivesRefreshResponse"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    for tabs in [2, 3] {
        let sc = scenario(ROTATE, Some(tabs));
        let (model, r) = run(&sc, &CheckOptions::default());
        assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated, "{tabs} tabs");
        let t = trace_of(&model, &sc, &r, "no_spurious_logout");
        assert_eq!(steps(&t), expected, "{tabs} tabs:\n{}", trace::render_text(&t));
        // B's lookup is of token 1, after A renamed 1 to 2, and finds nothing.
        let rename = find_step(&t, "store", "StoreRunsW1Rename", "token=2, expires=7 WHERE token=1 for tab A");
        let b_lookup = find_step(&t, "store", "StoreRunsR1", "token=1 AND expires>=0 for tab B");
        assert!(rename < b_lookup);
        assert!(t.steps[8].text.contains("no row for tab B"));
        assert!(t.steps[9].text.contains("401 INVALID_CREDENTIALS and is logged out"));
        // The jar still holds the original cookie: A's response has not arrived; the session
        // is valid, so the logout is spurious.
        let last = &t.steps[9].state;
        assert_eq!(last.tabs[1].status, "logged out");
        assert!(last.session_valid);
        assert_eq!(last.store, vec!["token=2 expires=7"]);
    }
}

/// D-S2: PR 22433 scenario 2. Both tabs look up token 1 before either writes; A renames it,
/// B's rename matches no row, yet B is answered 200 with a cookie for token 3: an orphan.
#[test]
fn d_s2_both_lookups_first_hand_out_an_orphan_cookie() {
    let sc = scenario(ROTATE, Some(2));
    let (model, r) = run(&sc, &CheckOptions::default());
    assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Violated);
    let t = trace_of(&model, &sc, &r, "cookie_names_live_session");
    assert_eq!(t.steps.len(), 11, "{}", trace::render_text(&t));
    let a_r1 = find_step(&t, "store", "StoreRunsR1", "for tab A");
    let b_r1 = find_step(&t, "store", "StoreRunsR1", "for tab B");
    let a_w1 = find_step(&t, "store", "StoreRunsW1Rename", "WHERE token=1 for tab A");
    let b_w1 = find_step(&t, "store", "StoreRunsW1Rename", "WHERE token=1 for tab B");
    assert!(a_r1.max(b_r1) < a_w1.min(b_w1), "both lookups precede both writes");
    assert!(t.steps[b_w1].text.contains("token=3"));
    let last = t.steps.last().unwrap();
    assert_eq!((last.actor.as_str(), last.action.as_str()), ("server", "ServerReceivesResult"));
    assert!(last.text.contains("0 row(s) affected for tab B"));
    assert_eq!(last.state.orphan_cookies, 1);
    assert_eq!(last.state.store, vec!["token=2 expires=7"], "token 3 names no row");
}

/// A bound one action short of the counterexample finds nothing, and says the search was cut
/// short rather than claiming the invariant holds.
#[test]
fn max_depth_one_short_of_the_counterexample_finds_no_violation() {
    let sc = scenario(ROTATE, Some(2));
    let (_, full) = run(&sc, &CheckOptions::default());
    let k = full.properties[0].steps.unwrap();
    assert_eq!(k, 10);
    let (_, cut) = run(&sc, &CheckOptions { max_depth: Some(k - 1), ..Default::default() });
    assert_eq!(status(&cut, "no_spurious_logout"), Verdict::Unknown);
    assert_eq!(cut.ending, Ending::DepthBound);
    assert!(!cut.complete && !cut.exhaustive);
    assert!(cut.unique_states > 50, "the bounded search explored states: {}", cut.unique_states);
    let (_, at_k) = run(&sc, &CheckOptions { max_depth: Some(k), ..Default::default() });
    assert_eq!(status(&at_k, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(at_k.properties[0].steps, Some(k));
}

/// Depth-first search finds the same shortest counterexamples after minimisation.
#[test]
fn dfs_reports_the_same_shortest_lengths_as_bfs() {
    let sc = scenario(ROTATE, Some(3));
    let (_, bfs) = run(&sc, &CheckOptions::default());
    let (_, dfs) = run(&sc, &CheckOptions { strategy: Strategy::Dfs, ..Default::default() });
    let lens = |r: &refresh_check::check::Results| r.properties.iter().map(|p| p.steps).collect::<Vec<_>>();
    assert_eq!(lens(&bfs), lens(&dfs));
    assert_eq!(lens(&bfs)[..4], [Some(10), Some(11), Some(7), Some(2)]);
    let dead = bfs.properties.iter().position(|p| p.name == "no_dead_credential_at_rest").unwrap();
    assert!(lens(&bfs)[dead].is_some(), "the orphan cookie at rest");
    assert!(
        lens(&bfs)[4..].iter().enumerate().all(|(i, l)| i + 4 == dead || l.is_none()),
        "no other property is violated or reached"
    );
}

/// D-SID: the stable id of PR 22433 removes the race: no spurious logout and no orphan with 2
/// and 3 tabs, in an exhaustive search whose state count shows it was not empty, and both
/// sanity properties are reached.
#[test]
fn d_sid_stable_id_holds_with_2_and_3_tabs() {
    for (tabs, unique) in [(2, 560), (3, 20_928)] {
        let sc = scenario(STABLE, Some(tabs));
        let (_, r) = run(&sc, &CheckOptions::default());
        assert!(r.exhaustive && r.complete, "{tabs} tabs");
        assert_eq!(r.unique_states, unique, "{tabs} tabs: the state count changed, so the model changed");
        assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
        assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Holds);
        assert_eq!(status(&r, "refresh_succeeds"), Verdict::Reached);
        assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Reached);
        assert!(r.vacuous.is_empty());
    }
}

/// Making the handler atomic (one transaction) also removes the race under rotation: the
/// later tab's lookup sees the renamed row only if it arrives after the whole refresh, and
/// then it is a sequential refresh with a stale cookie, which still logs out.
#[test]
fn atomic_rotation_still_logs_out_a_tab_that_sent_the_old_cookie() {
    let mut sc = scenario(ROTATE, Some(2));
    sc.server.steps = refresh_check::model::policy::ServerSteps::Atomic;
    let (model, r) = run(&sc, &CheckOptions::default());
    assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Holds, "no orphan without interleaved statements");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&model, &sc, &r, "no_spurious_logout");
    let a_txn = find_step(&t, "store", "StoreRunsTransaction", "tab A");
    let b_txn = find_step(&t, "store", "StoreRunsTransaction", "tab B");
    assert!(a_txn < b_txn);
    assert!(t.steps.last().unwrap().text.contains("401 INVALID_CREDENTIALS"));
}

/// The model with one extra invariant: no tab is logged out while the jar holds a cookie whose
/// session has no row (an orphan handed out by PR 22433 scenario 2).
struct OrphanLogout(refresh_check::model::RefreshModel);

impl stateright::Model for OrphanLogout {
    type State = refresh_check::model::State;
    type Action = refresh_check::model::Action;
    fn init_states(&self) -> Vec<Self::State> {
        stateright::Model::init_states(&self.0)
    }
    fn actions(&self, s: &Self::State, a: &mut Vec<Self::Action>) {
        stateright::Model::actions(&self.0, s, a)
    }
    fn next_state(&self, s: &Self::State, a: Self::Action) -> Option<Self::State> {
        stateright::Model::next_state(&self.0, s, a)
    }
    fn within_boundary(&self, s: &Self::State) -> bool {
        stateright::Model::within_boundary(&self.0, s)
    }
    fn properties(&self) -> Vec<stateright::Property<Self>> {
        use refresh_check::model::{browser::TabStatus, browser_at, server_at, store_at};
        vec![stateright::Property::always("no logout with an orphan in the jar", |m: &Self, s: &Self::State| {
            let cfg = &m.0.cfg;
            let b = browser_at(s, cfg.browsers[0]);
            let orphan_in_jar = server_at(s, cfg.server).orphan_cookies > 0
                && b.jar.session.is_some_and(|j| store_at(s, cfg.store).row(j.session).is_none());
            !(orphan_in_jar && b.tabs.iter().any(|t| t.status == TabStatus::LoggedOut))
        })]
    }
}

/// D-S2 to its end: once B's orphan cookie is the last `Set-Cookie` the browser processes, the
/// next refresh from any tab carries it and is refused, so scenario 2 too ends in a spurious
/// logout (PR 22433: "is being logged out").
#[test]
fn d_s2_the_orphan_cookie_logs_the_next_refreshing_tab_out() {
    use refresh_check::search::{search, SearchConfig};
    let mut sc = scenario(ROTATE, Some(2));
    sc.browser.refreshes_per_tab = 2;
    let model = refresh_check::model::build(&sc);
    let wrapped = OrphanLogout(refresh_check::model::build(&sc));
    let out = search(&wrapped, &SearchConfig::default());
    let path = out.discoveries[0].clone().expect("the orphan leads to a logout");
    let nsl = refresh_check::properties::by_name("no_spurious_logout").unwrap();
    let t = trace::build(&model, &sc.path, &sc.name, 2, nsl, &path).unwrap();
    let text = trace::render_text(&t);
    let orphan = find_step(&t, "server", "ServerReceivesResult", "0 row(s) affected for tab B");
    let jar_orphan = find_step(&t, "tab B", "TabReceivesRefreshResponse", "Set-Cookie session=3");
    let resend = t.steps.iter().rposition(|s| s.action == "TabSendsRefresh" && s.text.contains("session=3")).unwrap();
    let last = t.steps.last().unwrap();
    assert!(orphan < jar_orphan && jar_orphan < resend, "{text}");
    assert!(last.text.contains("401 INVALID_CREDENTIALS and is logged out"), "{text}");
    assert!(last.state.session_valid, "the logout is spurious");
    assert_eq!(last.state.store, vec!["token=2 expires=7"], "{text}");
}
