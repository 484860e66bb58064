//! Real security reports written as model files with no code change: djangorestframework-simplejwt
//! before and after PR 866 (a logout of every device that blacklists the user's
//! `OutstandingToken` rows misses the rotated token, which has none) and django-oauth-toolkit
//! issue 1816 and PR 1818 (a refresh token revoked at sign-out is honoured inside the grace
//! window). Each test checks the file's verdicts, that the search was not empty, the shortest
//! counterexample's steps (the reported interleaving), and the queries that tell the fix from
//! what it fixed.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;

use crate::util::{answered, checked, find_step, last_store, owned, query_trace, status, steps, trace_of};

/// simplejwt 5.4.0: the tab rotates token 1 into 2, and 2 gets no `OutstandingToken` row; the
/// user logs out of every device, which blacklists the rows there are (token 1's), and a copy
/// of token 2 is rotated afterwards: the session the user ended lives on (issues 363 and 799).
#[test]
fn simplejwt_54_logout_of_every_device_misses_the_rotated_token() {
    let (sc, m, r) = checked("models/simplejwt-5.4-logout-all-misses-rotated-token.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("tab A", "TabSignsOut"),
            ("server", "ServerReceivesLogout"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    assert!(t.steps[2].text.contains("no OutstandingToken row"), "{}", t.steps[2].text);
    assert_eq!(t.steps[3].text, "tab A gets 200, refresh token=2, access token=2; it stores it");
    assert!(t.steps[4].text.contains("POST /api/logout-all/ with the access token it holds (access token=2)"));
    // The logout blacklisted the sign-in token only: token 2 is still active after it.
    assert_eq!(t.steps[5].state.store[0], "token=1 family=0 gen=0 revoked");
    assert_eq!(t.steps[5].state.store[1], "token=2 family=0 gen=1 parent=1 active");
    assert!(t.steps[6].text.contains("refresh_token=2"), "{}", t.steps[6].text);
    assert!(t.steps[7].text.contains("rule `not blacklisted`"), "{}", t.steps[7].text);
    assert_eq!(last_store(&t)[2], "token=3 family=0 gen=2 parent=2 active");
    // The shortest breach of `logout_revokes_all` is another one, derived: a refresh checked
    // before the logout writes after it (the check and the blacklist are two statements).
    let l = trace_of(&m, &sc, &r, "logout_revokes_all");
    let check = find_step(&l, "server", "ServerReceivesRefresh", "rule `not blacklisted`");
    let logout = find_step(&l, "server", "ServerReceivesLogout", "access token=1");
    let write = find_step(&l, "server", "ServerWritesRefresh", "return the rotated one");
    assert!(check < logout && logout < write);
    assert_eq!(query_trace(&sc, "rotated-token-served-after-logout-all").steps.len(), 10);
    assert_eq!(query_trace(&sc, "unrotated-token-refused-after-logout-all").steps.len(), 4);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Violated, "two refreshes of token 1 both pass the check");
}

/// simplejwt PR 866 (v5.5.0): the rotated token gets its `OutstandingToken` row, so the logout
/// of every device blacklists it; a copy presented afterwards is refused. A refresh checked
/// before the logout and written after it is still served (the residual race).
#[test]
fn simplejwt_pr866_logout_of_every_device_reaches_the_rotated_token() {
    let (sc, m, r) = checked("models/simplejwt-pr866-logout-all-reaches-rotated-token.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds);
    let q = query_trace(&sc, "rotated-token-refused-after-logout-all");
    assert_eq!(q.steps.len(), 9);
    assert!(q.steps.last().unwrap().text.contains("rule `Token is blacklisted`"));
    assert_eq!(answered(&sc, "no-refresh-passes-the-check-after-logout-all").answer, Answer::Unreachable);
    let l = trace_of(&m, &sc, &r, "logout_revokes_all");
    let check = find_step(&l, "server", "ServerReceivesRefresh", "rule `not blacklisted`");
    let logout = find_step(&l, "server", "ServerReceivesLogout", "access token=1");
    let outstand = find_step(&l, "server", "ServerWritesRefresh", "outstand()");
    assert!(check < logout && logout < outstand);
    assert_eq!(last_store(&l)[..2], ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 active"]);
}

/// django-oauth-toolkit issue 1816: the user revokes refresh token 1 at sign-out (RFC 7009);
/// inside the grace window `validate_refresh_token` honours it as if a rotation had revoked it,
/// and `_save_bearer_token` finds no previous access token and mints a fresh live pair.
#[test]
fn dot_1816_a_revoked_token_is_exchanged_inside_the_grace_window() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-1816-revoked-token-honoured-in-grace.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSignsOut"),
            ("server", "ServerReceivesLogout"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    assert_eq!(t.steps[1].state.store[0], "token=1 family=0 gen=0 revoked; revoked_at=0");
    assert!(t.steps[3].text.contains("rule `revoked inside the grace window: honoured`"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.contains("rule `revoked, no previous access token: a fresh pair` → ok minted"));
    assert_eq!(last_store(&t)[1], "token=2 family=0 gen=1 parent=1 active; revoked_at=0");
    assert_eq!(query_trace(&sc, "revoked-token-exchanged-after-sign-out").steps.len(), 6);
    // The window does end: two ticks after the revocation the token is refused.
    let w = query_trace(&sc, "revoked-token-refused-after-the-window");
    assert!(w.steps.last().unwrap().text.contains("rule `revoked, grace expired: invalid_grant`"));
}

/// django-oauth-toolkit PR 1818: inside the window only a superseded token (one whose
/// rotation's access token still exists) is honoured; a token revoked at sign-out is refused at
/// once, and the rotation retry the window is for is still answered. A refresh validated
/// before the revocation and saved after it is still served (the two are separate steps).
#[test]
fn dot_pr1818_a_revoked_token_is_refused_at_once() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-pr1818-revoked-token-refused-in-grace.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds);
    let q = query_trace(&sc, "revoked-token-refused-at-once");
    assert_eq!(q.steps.len(), 4);
    assert!(q.steps[3].text.contains("rule `revoked, grace expired or never superseded: invalid_grant`"));
    let g = query_trace(&sc, "rotation-retry-still-answered-in-grace");
    assert!(g.steps.iter().any(|s| s.text.contains("rule `previous access token exists: the pair already issued`")));
    assert_eq!(answered(&sc, "no-refresh-validated-after-revocation-served").answer, Answer::Unreachable);
    let l = trace_of(&m, &sc, &r, "logout_revokes_all");
    let validate = find_step(&l, "server", "ServerReceivesRefresh", "rule `not revoked`");
    let logout = find_step(&l, "server", "ServerReceivesLogout", "refresh_token=1");
    let save = find_step(&l, "server", "ServerWritesRefresh", "a fresh pair");
    assert!(validate < logout && logout < save);
}

/// django-oauth-toolkit issue 1617 with `REFRESH_TOKEN_REUSE_PROTECTION` (before PR 1777): the
/// tab rotates 1 -> 2 -> 3, a copy of token 1 replayed inside the grace window is honoured,
/// finds no previous access token and gets a fresh pair, and the family is never revoked.
#[test]
fn dot_1617_a_stale_replay_inside_the_window_bypasses_reuse_protection() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-1617-grace-bypasses-reuse-protection.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "reuse_detected_after_theft"), Verdict::Violated);
    let q = query_trace(&sc, "stale-replay-served-inside-the-window");
    assert_eq!(q.steps.len(), 12);
    assert_eq!(q.steps[7].text, "tab A gets 200, refresh token=3; it stores it");
    assert!(q.steps[9].text.contains("rule `revoked inside the grace window: honoured`"), "{}", q.steps[9].text);
    assert!(q.steps[10].text.contains("rule `revoked, no previous access token: a fresh pair`"));
    assert_eq!(
        last_store(&q)[2..],
        [
            "token=3 family=0 gen=2 parent=2 active; revoked_at=0",
            "token=4 family=0 gen=1 parent=1 active; revoked_at=0"
        ]
    );
    // The catalogue's shortest theft left undetected is the same replay, validated while token
    // 1 was live and saved after the second rotation.
    let t = trace_of(&m, &sc, &r, "reuse_detected_after_theft");
    let validated = find_step(
        &t,
        "server",
        "ServerReceivesRefresh",
        "attacker's POST /o/token/ (refresh_token) (mode json, refresh_token=1)",
    );
    let second = find_step(&t, "tab A", "TabReceivesRefreshResponse", "refresh token=3");
    let saved = find_step(&t, "server", "ServerWritesRefresh", "of attacker's refresh");
    assert!(validated < second && second < saved);
}

/// django-oauth-toolkit PR 1777: a token whose rotation's access token is gone is a stale
/// replay: refused, and its family revoked. What stays is the replay validated while token 1
/// was live and saved after the chain moved on (validation is outside the save's transaction).
#[test]
fn dot_pr1777_a_stale_replay_revokes_the_family() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-pr1777-stale-replay-revokes-family.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "stale-replay-revokes-the-family");
    assert_eq!(q.steps.len(), 10);
    assert!(q.steps[9].text.contains("rule `grace expired or stale replay: revoke the token family`"));
    assert!(last_store(&q).iter().take(3).all(|row| row.contains(" revoked;")), "{:?}", last_store(&q));
    assert_eq!(answered(&sc, "no-stale-replay-validated-after-two-rotations").answer, Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "sp1_immediate_predecessor");
    let validated = find_step(
        &t,
        "server",
        "ServerReceivesRefresh",
        "attacker's POST /o/token/ (refresh_token) (mode json, refresh_token=1)",
    );
    let second = find_step(&t, "server", "ServerWritesRefresh", "of tab A's refresh");
    let saved = find_step(&t, "server", "ServerWritesRefresh", "of attacker's refresh");
    assert!(t.steps[validated].text.contains("rule `not revoked`"), "{}", t.steps[validated].text);
    assert!(validated < saved && second < saved && t.steps[saved].text.contains("a fresh pair"));
}
