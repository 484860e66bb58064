//! More real security reports written as model files with no code change, each before and after
//! its fix: artifact-keeper issue 1807 and PR 1811 (a logout that revokes nothing, then the
//! family), three.ws PR 6 (an unguarded select-insert-update rotation, then an atomic claim with a
//! race-loser window), tiled issue 602 and PR 607 (a logout that leaves the session open, then a
//! revoked session), Containarium PR 1866 (mint before revoke, then a claim before minting) and
//! istSOS4 issue 150 and PRs 76/116 (a refresh that never reads the revocation list, then one that
//! does). Each test checks the file's verdicts, that the search was not empty, the shortest
//! counterexample's steps (the reported interleaving) and the queries that tell the fix from what
//! it fixed.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;

use crate::common::pinned;
use crate::util::{answered, checked, find_step, last_store, owned, query_trace, status, steps, trace_of};

/// The reported run of a logout that does not end the session: the user signs out, the server
/// answers, and a copy of refresh token 1 is redeemed afterwards.
const COPY_AFTER_LOGOUT: [(&str, &str); 4] = [
    ("tab A", "TabSignsOut"),
    ("server", "ServerReceivesLogout"),
    ("attacker", "AttackerRedeems"),
    ("server", "ServerReceivesRefresh"),
];

/// artifact-keeper before PR 1811: the logout clears cookies and revokes nothing, so a copy of
/// the refresh token passes the `refresh_token_jti` select, is marked consumed and rotates.
#[test]
fn artifact_keeper_1807_a_logout_revokes_nothing() {
    let (sc, m, r) = checked("models/artifact-keeper-1807-logout-revokes-nothing.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    let mut expected = owned(&COPY_AFTER_LOGOUT);
    expected.extend(owned(&[("server", "ServerWritesRefresh"), ("server", "ServerWritesRefresh")]));
    assert_eq!(steps(&t), expected);
    assert!(t.steps[1].text.contains("POST /api/v1/auth/logout"), "{}", t.steps[1].text);
    assert_eq!(t.steps[1].state.store, ["token=1 family=0 gen=0 active"], "the logout revoked nothing");
    assert!(t.steps[3].text.contains("refresh_token=1") && t.steps[3].text.contains("rule `neither set`"));
    assert!(t.steps[4].text.contains("rule `mark consumed`"), "{}", t.steps[4].text);
    assert_eq!(last_store(&t)[1], "token=2 family=0 gen=1 parent=1 active");
    assert_eq!(query_trace(&sc, "copy-rotates-after-logout").steps.len(), 7);
    // Derived, not reported: the consumed_at UPDATE's row count is not read, so two refreshes that
    // both passed the select both mint (a fork).
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Violated);
    let f = trace_of(&m, &sc, &r, "sp1_immediate_predecessor");
    assert!(f.steps.iter().any(|s| s.text.contains("rule `0 rows affected, not read`")));
}

/// artifact-keeper PR 1811: the logout revokes the family, so a copy presented afterwards is
/// refused. A refresh that passed its select before the logout inserts its jti row after the
/// family UPDATE, live, and that token rotates after the logout (the residual race).
#[test]
fn artifact_keeper_pr1811_the_logout_revokes_the_family() {
    let (sc, m, r) = checked("models/artifact-keeper-pr1811-logout-revokes-family.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "copy-refused-after-logout");
    assert!(q.steps.last().unwrap().text.contains("rule `revoked_at set: Refresh token has been revoked`"));
    assert_eq!(answered(&sc, "copy-rotates-after-logout").answer, Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    let select = find_step(&t, "server", "ServerReceivesRefresh", "rule `neither set`");
    let logout = find_step(&t, "server", "ServerReceivesLogout", "refresh_token=1");
    let insert = find_step(&t, "server", "ServerWritesRefresh", "rule `mint the pair in the same family`");
    assert!(select < logout && logout < insert);
    assert_eq!(t.steps[logout].state.store, ["token=1 family=0 gen=0 revoked"]);
    assert_eq!(t.steps[insert].state.store[1], "token=2 family=0 gen=1 parent=1 active", "inserted after the UPDATE");
    assert!(t.steps.last().unwrap().text.contains("of attacker's refresh"));
    assert_eq!(last_store(&t)[2], "token=3 family=0 gen=2 parent=2 active");
    assert_eq!(query_trace(&sc, "insert-after-the-family-update-survives").steps.len(), 10);
}

/// three.ws before PR 6: the thief's replay and the user's refresh both pass the select before
/// either updates the row; both insert a child and both update, two live tokens, no reuse found.
#[test]
fn three_ws_6_a_replay_forks_the_chain_undetected() {
    let (sc, m, r) = checked("models/three-ws-6-rotation-race-forks-the-chain.json");
    assert!(r.unique_states > 200, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "replay-forks-the-chain");
    assert_eq!(
        steps(&q),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    assert!(q.steps[3].text.contains("attacker's") && q.steps[3].text.contains("rule `revoked_at is null`"));
    assert_eq!(
        last_store(&q),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
    assert_eq!(status(&r, "reuse_detected_after_theft"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "reuse_detected_after_theft");
    assert!(!t.steps.iter().any(|s| s.text.contains("rule `revoked_at set: reuse, revoke the chain`")));
}

/// three.ws PR 6 as proposed: the conditional UPDATE lets one redemption rotate (no fork); a replay
/// inside the 10 s window is refused without revoking the chain, so a thief who redeems first
/// keeps the chain and the user's refresh is the one refused.
#[test]
fn three_ws_pr6_the_claim_stops_the_fork_and_the_window_shelters_a_first_thief() {
    let (sc, m, r) = checked("models/three-ws-pr6-atomic-claim-race-loser.json");
    assert!(r.unique_states > 1000, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    assert_eq!(answered(&sc, "no-fork").answer, Answer::Holds);
    let w = query_trace(&sc, "replay-inside-window-refused-undetected");
    assert!(w.steps.last().unwrap().text.contains("rule `rotated under 10 s ago: refresh_race_lost`"));
    let t = trace_of(&m, &sc, &r, "sp4_theft_contained");
    let claim = find_step(&t, "server", "ServerReceivesRefresh", "rule `claimed`");
    let lost = find_step(&t, "server", "ServerWritesRefresh", "rule `rotated under 10 s ago: refresh_race_lost`");
    assert!(t.steps[claim].text.contains("attacker's") && t.steps[lost].text.contains("tab A's"));
    assert_eq!(last_store(&t)[1], "token=2 family=0 gen=1 parent=1 active; replaced_by=none");
    assert_eq!(query_trace(&sc, "replay-before-replaced-by-revokes-the-chain").steps.len(), 5);
}

/// tiled before PR 607: `/auth/logout` deletes a cookie, the Session row stays, and a restored
/// copy of the refresh token refreshes the session afterwards.
#[test]
fn tiled_602_a_logout_leaves_the_session_open() {
    let (sc, m, r) = checked("models/tiled-602-logout-leaves-session-open.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    let mut expected = owned(&COPY_AFTER_LOGOUT);
    expected.push(("server".into(), "ServerWritesRefresh".into()));
    assert_eq!(steps(&t), expected);
    assert_eq!(t.steps[1].state.store, ["token=1 family=0 gen=0 active", "family 0: revoked=0"]);
    assert!(t.steps[3].text.contains("rule `valid session`"), "{}", t.steps[3].text);
    assert_eq!(last_store(&t)[1], "token=2 family=0 gen=1 parent=1 active");
    assert_eq!(query_trace(&sc, "copy-refreshes-after-logout").steps.len(), 7);
}

/// tiled PR 607: the logout revokes the session, so no refresh arriving after it gets a live
/// token; a refresh looked up before the revocation is answered a token refused at first use.
#[test]
fn tiled_pr607_the_logout_revokes_the_session() {
    let (sc, _m, r) = checked("models/tiled-pr607-logout-revokes-session.json");
    assert!(r.unique_states > 400, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds);
    let q = query_trace(&sc, "copy-refused-after-logout");
    assert!(q.steps.last().unwrap().text.contains("rule `revoked: Session has expired`"));
    assert_eq!(answered(&sc, "copy-refreshes-after-logout").answer, Answer::Unreachable);
    let d = query_trace(&sc, "lookup-before-revoke-mints-a-dead-token");
    assert_eq!(d.steps.len(), 5);
    assert_eq!(
        last_store(&d),
        ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked", "family 0: revoked=1"]
    );
}

/// Containarium before PR 1866: the operator's refresh and a stolen copy both pass
/// ValidateRefreshToken before either lists the jti, and both are minted a pair.
#[test]
fn containarium_1866_two_exchanges_of_one_token_both_mint() {
    let (sc, _m, _r, t) = pinned(
        "models/containarium-1866-mint-before-revoke.json",
        100,
        "sp3_single_lineage",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
        ],
    );
    assert!(t.steps[1].text.contains("tab A's") && t.steps[3].text.contains("attacker's"));
    assert_eq!(
        last_store(&t)[1..],
        ["token=2 family=0 gen=1 parent=1 active", "token=3 family=0 gen=1 parent=1 active"]
    );
    assert_eq!(query_trace(&sc, "replay-and-rotation-both-served").steps.len(), 8);
}

/// Containarium PR 1866: only the claim's winner mints, and a failed claim revokes the family,
/// so a thief who redeems first loses its pair as soon as the operator refreshes.
#[test]
fn containarium_pr1866_the_claim_revokes_the_family() {
    let (sc, _m, r) = checked("models/containarium-pr1866-claim-before-mint.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    assert_eq!(status(&r, "sp4_theft_contained"), Verdict::Holds);
    assert_eq!(answered(&sc, "no-fork").answer, Answer::Holds);
    let q = query_trace(&sc, "replay-revokes-the-family");
    assert_eq!(q.steps.len(), 8);
    assert!(q.steps[6].text.contains("rule `claim failed`"), "{}", q.steps[6].text);
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked", "family 0: revoked=1"]
    );
}

/// istSOS4 before PRs 76/116: `/Refresh` never reads the Redis entry, so the token the user logged
/// out is refreshed into a live one.
#[test]
fn istsos4_150_a_logged_out_token_is_refreshed() {
    let (sc, _m, _r, t) = pinned(
        "models/istsos4-150-refresh-skips-revocation.json",
        200,
        "sign_out_no_session_revived",
        &COPY_AFTER_LOGOUT,
    );
    assert_eq!(t.steps[1].state.store, ["token=1 family=0 gen=0 revoked"], "logged_out in Redis");
    assert!(t.steps[3].text.contains("rule `decode; set refreshed; create_refresh_token` → ok minted"));
    assert_eq!(last_store(&t)[1], "token=2 family=0 gen=1 parent=1 active");
    assert_eq!(query_trace(&sc, "logged-out-token-refreshed").steps.len(), 5);
    assert_eq!(query_trace(&sc, "refreshed-token-refreshed-again").steps.len(), 6);
}

/// istSOS4 PRs 76/116: the logged-out token is refused at `/Refresh`; the check and the set are
/// two Redis calls, so a refresh that read no entry before the logout is still answered after it.
#[test]
fn istsos4_pr116_the_refresh_reads_the_revocation_list() {
    let (sc, m, r) = checked("models/istsos4-pr116-refresh-checks-revocation.json");
    assert!(r.unique_states > 200, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "logged-out-token-refused");
    assert!(q.steps.last().unwrap().text.contains("rule `an entry: Token has been revoked`"));
    assert_eq!(answered(&sc, "logged-out-token-refreshed").answer, Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    let get =
        find_step(&t, "server", "ServerReceivesRefresh", "refresh_token=1), step `redis.get(token)`: rule `no entry`");
    let logout = find_step(&t, "server", "ServerReceivesLogout", "refresh_token=1");
    let set = find_step(&t, "server", "ServerWritesRefresh", "rule `set refreshed, issue a new token`");
    assert!(get < logout && logout < set);
    assert_eq!(query_trace(&sc, "check-then-set-forks").steps.len(), 6);
}
