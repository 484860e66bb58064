//! The shipped models that use the language's rarer constructs (issue 14, "every construct is
//! used by at least one shipped model file and one test"): each test checks the file's
//! verdicts, pins the shortest counterexample's steps and reads the state the mechanism of the
//! cited source leaves.

use refresh_check::model;
use refresh_check::scenario::{NetworkKind, Verdict};

use crate::util::{actions, checked, shortest_to, status, trace_of};

/// DarkAuth's refresh after its issue 79, one transaction (`store.transactions: handler`): the
/// store runs each tab's whole refresh handler (conditional consume, insert, delete) as one
/// action, so of two tabs presenting the jar's cookie exactly one rotates and the other is
/// refused and logged out, with the winner's session row alive.
#[test]
fn darkauth_one_transaction_rotates_once_and_refuses_the_other_tab() {
    let (sc, m, r) = checked("models/darkauth-refresh-in-one-transaction.json");
    assert!(r.exhaustive && r.unique_states == 79, "{} states", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Reached);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "StoreRunsTransaction",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "StoreRunsTransaction",
            "ServerReceivesTransactionResult",
            "TabReceivesRefreshResponse",
        ]
    );
    assert!(t.steps[2].text.contains("tab A's whole Refresh handler as one transaction"), "{}", t.steps[2].text);
    assert!(t.steps[5].text.contains("tab B's whole Refresh handler as one transaction"), "{}", t.steps[5].text);
    let end = &t.steps.last().unwrap();
    assert_eq!(end.actor, "tab B");
    assert!(end.text.contains("401"), "{}", end.text);
    // The winner's transaction inserted the new session and deleted the old one: one row.
    assert_eq!(end.state.store, ["token=2 expires=7 (cookie)"]);
    assert!(end.state.session_valid);
}

/// gotrue-js v1's storage listener (`browser.on_stored_token_cleared: log-out`) on an ordered
/// network (`network: ordered`): the loser of two concurrent refreshes removes the stored
/// session after its reuse 401, and the `storage` event logs the winner out too, the winner
/// having just stored its fresh token. In order: the winner's 200 is answered before the
/// loser's 401, as auth-js issue 213 reports.
#[test]
fn gotrue_v1_storage_listener_logs_the_winner_out_in_order() {
    let (sc, m, r) = checked("models/gotrue-js-v1-storage-listener-signs-out-every-tab.json");
    assert_eq!(sc.network, NetworkKind::Ordered);
    assert!(r.exhaustive && r.unique_states == 24, "{} states", r.unique_states);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Reached);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let steps: Vec<(String, String)> = t.steps.iter().map(|s| (s.actor.clone(), s.action.clone())).collect();
    let want = [
        ("tab A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab B", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab A", "TabReceivesRefreshResponse"),
        ("tab B", "TabReceivesRefreshResponse"),
    ];
    assert_eq!(steps, want.map(|(a, b)| (a.to_string(), b.to_string())));
    assert!(t.steps[3].text.contains("rule `reuse revokes the family`"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.contains("tab A gets 200"), "{}", t.steps[4].text);
    assert!(
        t.steps[5].text.contains("400 invalid_grant")
            && t.steps[5].text.contains("removes the shared localStorage entry")
    );
    // After the loser's 401 the winner, which got only a 200, is logged out by its listener.
    let before = &t.steps[4].state.tabs[0];
    let end = &t.steps[5].state.tabs[0];
    assert!(!before.status.contains("logged out"), "{}", before.status);
    assert!(end.status.starts_with("logged out"), "{}", end.status);
    assert!(t.steps[5].state.tabs[1].status.starts_with("logged out"));

    // Without the listener (the construct's default, `ignore`) no run logs both tabs out: the
    // winner, answered 200, stays signed in; it is the listener that ends its session.
    fn both_logged_out(m: &model::RefreshModel, s: &model::State) -> bool {
        m.cfg
            .browsers
            .iter()
            .all(|&b| model::browser_at(s, b).tabs.iter().all(|t| t.status == model::browser::TabStatus::LoggedOut))
    }
    let (path, exhaustive, _) = shortest_to(&sc, both_logged_out);
    assert_eq!(path.map(|p| p.actions.len()), Some(6));
    let mut quiet = sc.clone();
    quiet.browser.on_stored_token_cleared = model::policy::ClearedListener::Ignore;
    let (path, exhaustive_quiet, _) = shortest_to(&quiet, both_logged_out);
    assert!(exhaustive && exhaustive_quiet);
    assert!(path.is_none(), "without the listener the winner is never logged out");
}
