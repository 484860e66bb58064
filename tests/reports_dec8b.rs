//! Real reports written as model files with no code change: palaia's grace-windowed rotation
//! whose in-grace replay mints a live successor and whose post-grace replay revokes nothing
//! (issue 346), and VilnaCRM user-service's grace reuse that forks the session undetected
//! because the victim's fresh successor has no rotation time (issue 474, open); and Ansari's
//! concurrent 401s that each refresh on their own and log the user out (issue 69). Each test checks
//! the file's verdicts (through `checked`), that the search was not empty, and the steps of the
//! reported interleaving (the shortest counterexample or the file's query), with the store it
//! leaves.

use refresh_check::scenario::Verdict;

use crate::util::{answered, checked, last_store, owned, query_trace, status, steps, trace_of};

/// palaia before any fix (issue 346, point 2): the client rotates token 1 into 2 and a leaked
/// copy of 1 replayed inside the grace window gets a successor of its own; both successors stay
/// active (the shortest `sp3_single_lineage` counterexample, five steps), and the query shows the
/// client storing 2 while the attacker is answered 3.
#[test]
fn palaia_346_in_grace_replay_leaves_two_live_successors() {
    let (sc, m, r) = checked("models/palaia-346-grace-replay-forks-no-revocation.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        steps(&t),
        owned(&[
            ("client A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("attacker", "AttackerReadsStorage"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
        ])
    );
    assert!(t.steps[1].text.contains("rule `live: spend and mint a successor`"), "{}", t.steps[1].text);
    assert!(
        t.steps[4].text.contains("attacker's")
            && t.steps[4].text.contains("rule `replayed inside the grace window: another successor`"),
        "{}",
        t.steps[4].text
    );
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
    let q = query_trace(&sc, "leaked-token-replayed-inside-the-window");
    assert_eq!(q.steps[3].text, "client A gets 200, refresh token=2; it stores it");
    assert_eq!(q.steps[6].text, "attacker gets 200, refresh token=3: the copied token worked");
    // No rule of the store detects reuse: the theft claims fail.
    assert_eq!(status(&r, "theft_detected"), Verdict::Violated);
    assert_eq!(status(&r, "sp4_theft_contained"), Verdict::Violated);
}

/// palaia before any fix (issue 346, point 1): a copy of token 1 replayed after the window is
/// refused with invalid_grant and the grant is kept: the client's token 2 stays the one active
/// row, nothing is revoked.
#[test]
fn palaia_346_post_grace_replay_revokes_nothing() {
    let (sc, _m, r) = checked("models/palaia-346-grace-replay-forks-no-revocation.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "replay-past-the-window-keeps-the-grant");
    assert_eq!(q.steps[5].action, "ClockTicks");
    assert_eq!(q.steps[6].action, "ClockTicks");
    assert!(
        q.steps[7].text.contains("rule `replayed past the grace window: refused, grant kept` → invalid_grant"),
        "{}",
        q.steps[7].text
    );
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
}

/// VilnaCRM user-service (issue 474): the client rotates token 1 into 2, stores it, and the
/// attacker's copy of 1 replayed inside the window finds no later rotation (token 2 was never
/// rotated) and an unused grace: it gets token 3, and `reuse_detected_after_theft` fails in the
/// reported seven steps, leaving two active tokens of the session.
#[test]
fn vilnacrm_474_grace_reuse_forks_the_session_undetected() {
    let (sc, m, r) = checked("models/vilnacrm-474-grace-reuse-forks-undetected.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "reuse_detected_after_theft");
    assert_eq!(
        steps(&t),
        owned(&[
            ("client A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("attacker", "AttackerReadsStorage"),
            ("client A", "TabReceivesRefreshResponse"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("attacker", "AttackerReceivesResponse"),
        ])
    );
    assert!(t.steps[1].text.contains("rule `active: mark rotated, issue a new token`"), "{}", t.steps[1].text);
    assert!(
        t.steps[5].text.contains("rule `rotated, first reuse inside the window: a new token`"),
        "{}",
        t.steps[5].text
    );
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 superseded at 0, 1 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Violated);
    let q = query_trace(&sc, "replay-inside-the-window-forks-the-session");
    assert_eq!(q.steps[6].text, "attacker gets 200, refresh token=3: the copied token worked");
}

/// VilnaCRM's guards do fire where the report says they do: a replay past the window is theft
/// and revokes the session (`reuse_detected` is reached), so the model is not one that never
/// detects; the shortest `no_dead_credential_at_rest` run is that revocation.
#[test]
fn vilnacrm_474_post_window_replay_is_detected() {
    let (sc, m, r) = checked("models/vilnacrm-474-grace-reuse-forks-undetected.json");
    assert_eq!(status(&r, "reuse_detected"), Verdict::Reached);
    let t = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert!(
        t.steps[7].text.contains("rule `rotated, past the grace window: theft` → invalid_grant"),
        "{}",
        t.steps[7].text
    );
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
}

/// Ansari before PR 71 (issue 69): the tab's first refresh rotates token 1 into 2; a second
/// concurrent 401's refresh, with no single-flight, presents the deleted token 1, gets 401
/// "Refresh token not found", and removeTokens() + resetAuth() log the tab out (five steps),
/// while token 2 is active.
#[test]
fn ansari_69_concurrent_refresh_loser_logs_the_tab_out() {
    let (sc, m, r) = checked("models/ansari-69-concurrent-401s-refresh-on-their-own.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "RequesterSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[1].text.contains("rule `rotate: delete the old token, issue a new one`"), "{}", t.steps[1].text);
    assert!(t.steps[3].text.contains("refresh_token=1"), "{}", t.steps[3].text);
    assert!(t.steps[3].text.contains("rule `deleted token: 401 not found` → invalid_grant"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.contains("401 Refresh_token_not_found"), "{}", t.steps[4].text);
    assert_eq!(t.steps[4].state.jar, None);
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
}

/// Ansari after PR 71: the module-level `refreshTokenPromise` makes the page's second 401 await
/// the first's refresh instead of presenting token 1 again; nobody is logged out and no two
/// refreshes of the page are in flight. The same file without `browser.single_flight` is the
/// model before the PR: its "token 1 presented twice" query becomes reachable and the tab is
/// logged out, so the unreachable answer is the field's doing.
#[test]
fn ansari_pr71_second_401_awaits_the_refresh_in_flight() {
    const FIX: &str = "models/ansari-pr71-module-level-single-flight.json";
    let (sc, _, r) = checked(FIX);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Unreached);
    assert!(r.unique_states >= 10, "searched: {}", r.unique_states);
    let t = query_trace(&sc, "second-401-awaits-the-refresh-in-flight");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "RequesterAwaitsRefreshInFlight"),
            ("tab A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[2].text.contains("which presented token=1"), "{}", t.steps[2].text);
    assert_eq!(
        answered(&sc, "the-deleted-token-is-never-presented-again").answer,
        refresh_check::query::Answer::Unreachable
    );

    let files = crate::common::TempFiles::new();
    let path = files.copy_model(FIX, "before.json", |m| {
        m.get_mut("browser").and_then(|b| b.as_object_mut()).unwrap().remove("single_flight");
    });
    let before = refresh_check::scenario::Scenario::load(&path).unwrap();
    let q = before.queries.iter().find(|q| q.name == "the-deleted-token-is-never-presented-again").unwrap();
    let m = refresh_check::model::build(&before);
    let cfg = refresh_check::search::SearchConfig::default();
    let o = refresh_check::query::answer(&m, &before.path, &before.name, before.browser.tabs, q, &cfg);
    assert_eq!(o.answer, refresh_check::query::Answer::Reachable, "without the field the race is back");
}
