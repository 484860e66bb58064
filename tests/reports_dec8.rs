//! Real reports written as model files with no code change: Cleanuparr's password change that
//! revoked no refresh token (PR 486) and its revoke-all; Cleanuparr's client clearing the session
//! on any refresh failure, a server restart included (PR 650), and the fix that clears it on a
//! 401 only; Nextcloud user_oidc's two requests of one session refreshing at Authentik (issue
//! 1175) and PR 1277's per-session lock, whose double-check reads the request's own copy of the
//! session; ownCloud oauth2's SELECT-then-DELETE token endpoint granting two parallel refreshes
//! (issue 70); Audiobookshelf's lost rotation answer with no grace period (issue 4630), PR 5004's
//! one minute and PR 5376's ten; Audiobookshelf's password change before and after PR 5393. Each
//! test checks the file's verdicts (through `checked`), that the search was not empty, and the
//! steps of the reported interleaving (the shortest counterexample or the file's query), with
//! the store it leaves.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;

use crate::util::{answered, checked, last_store, owned, query_trace, status, steps, trace_of};

/// Cleanuparr before PR 486: browser 2 changes the password and nothing is revoked; browser 1's
/// refresh token issued before the change is exchanged after it for a new pair.
#[test]
fn cleanuparr_486_password_change_keeps_refresh_tokens() {
    let (sc, m, r) = checked("models/cleanuparr-486-password-change-keeps-refresh-tokens.json");
    assert!(r.unique_states > 300, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "password_change_revokes_all");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab 1A", "TabSendsRefresh"),
            ("tab 2A", "DeviceSignsIn"),
            ("server", "ServerReceivesSignIn"),
            ("server", "ServerReceivesRefresh"),
        ])
    );
    assert!(t.steps[2].text.contains("rule `new hash saved, nothing revoked` → session_kept"), "{}", t.steps[2].text);
    assert!(
        t.steps[3].text.contains("rule `valid token: revoke it, add a new one` → ok minted"),
        "{}",
        t.steps[3].text
    );
    let q = query_trace(&sc, "old-token-refreshed-after-change");
    assert_eq!(
        steps(&q),
        owned(&[
            ("tab 2A", "DeviceSignsIn"),
            ("server", "ServerReceivesSignIn"),
            ("tab 2A", "TabReceivesSignInResponse"),
            ("tab 1A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab 1A", "TabReceivesRefreshResponse"),
        ])
    );
    assert_eq!(q.steps[5].text, "device 1 tab A gets 200, refresh token=5; it stores it");
    assert_eq!(last_store(&q)[1], "token=2 family=1 gen=0 active");
    assert_eq!(last_store(&q)[4], "token=5 family=0 gen=1 parent=1 active");
}

/// Cleanuparr after PR 486: the change revokes every refresh token of the user under the same
/// lock as the refresh, so the old token is never exchanged after it; the other browser's refusal
/// (written without `evicts`) and the changing browser's revoked token at rest are reported.
#[test]
fn cleanuparr_pr486_password_change_revokes_all() {
    let (sc, m, r) = checked("models/cleanuparr-pr486-password-change-revokes-all.json");
    assert!(r.unique_states > 300, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Holds);
    assert_eq!(answered(&sc, "old-token-refreshed-after-change").answer, Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab 1A", "TabSendsRefresh"),
            ("tab 2A", "DeviceSignsIn"),
            ("server", "ServerReceivesSignIn"),
            ("server", "ServerReceivesRefresh"),
            ("tab 1A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[3].text.contains("rule `revoked or unknown: 401` → invalid_grant"), "{}", t.steps[3].text);
    assert_eq!(
        t.steps[4].text,
        "device 1 tab A gets 401 Invalid_or_expired_refresh_token, clears the stored token and is logged out"
    );
    let dead = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert_eq!(dead.steps.len(), 3);
    assert_eq!(&last_store(&dead)[..2], ["token=1 family=0 gen=0 revoked", "token=2 family=1 gen=0 revoked"]);
}

/// Cleanuparr before PR 650: the server restarts between the token lookup and the save, the
/// refresh fails with a 5xx, and the client clears the refresh token the server still accepts
/// and logs out; no later refresh with that token can follow.
#[test]
fn cleanuparr_650_transient_failure_clears_the_session() {
    let (sc, m, r) = checked("models/cleanuparr-650-transient-refresh-failure-clears-session.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerRestarts"),
            ("tab A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[1].text.contains("rule `valid token` → continue"), "{}", t.steps[1].text);
    assert_eq!(t.steps[3].text, "tab A gets 500 server_error, clears the stored token and is logged out");
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 active"]);
    assert_eq!(answered(&sc, "refresh-again-after-the-failure").answer, Answer::Unreachable);
}

/// Cleanuparr after PR 650: a 5xx keeps the stored token, and the next refresh with the same
/// token is answered 200 (the PR's e2e test); every property holds.
#[test]
fn cleanuparr_pr650_only_a_401_clears_the_session() {
    let (sc, _m, r) = checked("models/cleanuparr-pr650-only-401-clears-session.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let q = query_trace(&sc, "refresh-again-after-the-failure");
    assert_eq!(
        steps(&q),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerRestarts"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
        ])
    );
    assert_eq!(q.steps[3].text, "tab A gets 500 server_error and keeps going");
    assert!(q.steps[4].text.contains("(token=1)"), "{}", q.steps[4].text);
    assert_eq!(q.steps[7].text, "tab A gets 200, refresh token=2; it stores it");
}

/// Nextcloud user_oidc before PR 1277 (issue 1175): both requests read token 1 from the session;
/// the first is answered token 2 and stores it, the second presents token 1, Authentik refuses
/// it and the session is logged out (the query, the order); the shortest logout has the
/// second request's lookup after the first's rotation; Authentik's lookup-then-save also lets
/// both requests rotate token 1.
#[test]
fn nextcloud_user_oidc_1175_parallel_requests_refresh_twice() {
    let (sc, m, r) = checked("models/nextcloud-user-oidc-1175-parallel-requests-refresh-twice.json");
    assert!(r.unique_states > 20, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "second-request-presents-the-rotated-token");
    assert_eq!(
        steps(&q),
        owned(&[
            ("request A", "TabReadsToken"),
            ("request B", "TabReadsToken"),
            ("request A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("request A", "TabReceivesRefreshResponse"),
            ("request B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("request B", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(q.steps[6].text.contains("(token=1) (the storage holds token=2 by now)"), "{}", q.steps[6].text);
    assert!(q.steps[7].text.contains("rule `revoked: invalid_grant` → invalid_grant"), "{}", q.steps[7].text);
    assert_eq!(q.steps[8].text, "request B gets 400 invalid_grant, clears the stored token and is logged out");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 8);
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert!(fork.steps[5].text.contains("rule `found, not revoked` → continue"), "{}", fork.steps[5].text);
    assert!(fork.steps[7].text.contains("rule `new refresh token saved, old one revoked` → ok minted"));
}

/// Nextcloud user_oidc after PR 1277: the waiter is granted the per-session lock when the holder
/// stores token 2, but its copy of the session still holds token 1: it refreshes with it, is
/// refused and logs out (PR 1450's account); a waiter that skips the refresh never happens.
#[test]
fn nextcloud_user_oidc_pr1277_lock_rechecks_the_request_snapshot() {
    let (sc, _, r) = checked("models/nextcloud-user-oidc-pr1277-lock-rechecks-request-snapshot.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    // The shortest spurious logout is PR 1277's bound running out (`tests/lock_wait.rs`); PR
    // 1450's stale double-check is the file's query.
    let t = query_trace(&sc, "waiter-rechecks-its-stale-copy");
    assert_eq!(
        steps(&t),
        owned(&[
            ("request A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("request B", "TabWaitsForLock"),
            ("server", "ServerWritesRefresh"),
            ("request A", "TabReceivesRefreshResponse"),
            ("server", "ServerReceivesRefresh"),
            ("request B", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(
        t.steps[4].text.contains("request B is granted the lock and sends POST /application/o/token/ (grant_type=refresh_token) with token=1"),
        "{}",
        t.steps[4].text
    );
    assert!(t.steps[5].text.contains("rule `revoked: invalid_grant` → invalid_grant"), "{}", t.steps[5].text);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    assert_eq!(answered(&sc, "waiter-skips-the-refresh").answer, Answer::Unreachable);
    assert_eq!(t.steps[6].state.tabs[1].status, "logged out");
}

/// ownCloud oauth2 issue 70: both requests pass findByToken before either DELETE, and both are
/// answered a new pair: two live refresh tokens where one was presented.
#[test]
fn owncloud_oauth2_70_parallel_refresh_both_granted() {
    let (sc, m, r) = checked("models/owncloud-oauth2-70-parallel-refresh-both-granted.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        steps(&t),
        owned(&[
            ("client A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("client B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    assert!(t.steps[3].text.contains("rule `row found` → continue"), "{}", t.steps[3].text);
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
    let q = query_trace(&sc, "both-requests-granted");
    assert_eq!(q.steps[5].text, "client A gets 200, refresh token=2; it stores it");
    assert_eq!(q.steps[7].text, "client B gets 200, refresh token=3; it stores it");
}

/// The Audiobookshelf run shared by the three models: the server rotates token 1, its answer is
/// lost, and the app gives up on the request keeping token 1.
const ABS_LOST_ANSWER: [(&str, &str); 5] = [
    ("app A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("server", "ServerWritesRefresh"),
    ("network", "NetworkLosesMessage"),
    ("app A", "TabTimesOut"),
];

/// Audiobookshelf before PR 5004 (issue 4630): the session row holds token 2 only; the app's next
/// refresh with token 1 finds no session and the app is logged out.
#[test]
fn audiobookshelf_4630_lost_rotation_answer_with_no_grace() {
    let (sc, m, r) = checked("models/audiobookshelf-4630-lost-rotation-answer-no-grace.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let mut expected = ABS_LOST_ANSWER.to_vec();
    expected.extend([
        ("app A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("app A", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&t), owned(&expected));
    assert_eq!(t.steps[3].text, "the network loses server → app A: 200, refresh token=2");
    assert!(
        t.steps[4].text.contains("the app keeps the session with its stored refresh token (token=1)"),
        "{}",
        t.steps[4].text
    );
    assert!(t.steps[6].text.contains("rule `session not found: 401` → invalid_grant"), "{}", t.steps[6].text);
    assert_eq!(t.steps[7].text, "app A gets 401 Invalid_refresh_token and is logged out");
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
    assert_eq!(steps(&query_trace(&sc, "lost-answer-then-stale-refresh")), steps(&t));
}

/// Audiobookshelf after PR 5004: a refresh with token 1 inside the minute is answered token 2;
/// two minutes after the rotation it is refused (issue 5281's steps).
#[test]
fn audiobookshelf_pr5004_one_minute_grace() {
    let (sc, m, r) = checked("models/audiobookshelf-pr5004-one-minute-grace.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let inside = query_trace(&sc, "stale-refresh-inside-the-grace-period");
    assert!(inside.steps[6].text.contains("rule `grace period: the session's current token` → ok presented.child"));
    assert_eq!(inside.steps[7].text, "app A gets 200, refresh token=2; it stores it");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let mut expected = ABS_LOST_ANSWER.to_vec();
    expected.extend([
        ("clock", "ClockTicks"),
        ("clock", "ClockMayTickAgain"),
        ("clock", "ClockTicks"),
        ("app A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("app A", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&t), owned(&expected));
    assert!(
        t.steps[9].text.contains("rule `not found or grace period expired: 401` → invalid_grant"),
        "{}",
        t.steps[9].text
    );
    assert_eq!(steps(&query_trace(&sc, "stale-refresh-after-the-grace-period")), steps(&t));
}

/// Audiobookshelf after PR 5376: the same run needs eleven minutes between the rotation and the
/// refresh; inside ten it is answered token 2.
#[test]
fn audiobookshelf_pr5376_ten_minute_grace() {
    let (sc, m, r) = checked("models/audiobookshelf-pr5376-ten-minute-grace.json");
    assert!(r.unique_states > 1000, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(steps(&t)[..5], owned(&ABS_LOST_ANSWER)[..]);
    assert_eq!(t.steps.iter().filter(|s| s.action == "ClockTicks").count(), 11);
    assert!(
        t.steps[27].text.contains("rule `not found or grace period expired: 401` → invalid_grant"),
        "{}",
        t.steps[27].text
    );
    assert_eq!(t.steps[28].text, "app A gets 401 Invalid_refresh_token and is logged out");
    let inside = query_trace(&sc, "stale-refresh-inside-the-grace-period");
    assert_eq!(inside.steps.len(), 8);
    assert_eq!(inside.steps[7].text, "app A gets 200, refresh token=2; it stores it");
}

/// Audiobookshelf before PR 5393: the password change on device 2 ends no session, and device
/// 1's token issued before it is rotated after it.
#[test]
fn audiobookshelf_5393_password_change_keeps_sessions() {
    let (sc, m, r) = checked("models/audiobookshelf-5393-password-change-keeps-sessions.json");
    assert!(r.unique_states > 300, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "password_change_revokes_all");
    assert_eq!(
        steps(&t),
        owned(&[
            ("app 1A", "TabSendsRefresh"),
            ("app 2A", "DeviceSignsIn"),
            ("server", "ServerReceivesSignIn"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    let q = query_trace(&sc, "other-device-refreshes-after-change");
    assert_eq!(
        q.steps[2].text,
        "device 2 app A gets 200: the password is changed and the device keeps the session it held"
    );
    assert_eq!(q.steps[6].text, "device 1 app A gets 200, refresh token=5; it stores it");
    assert_eq!(last_store(&q)[4], "token=5 family=0 gen=1 parent=1 active");
}

/// Audiobookshelf after PR 5393: the change rotates the calling session and destroys the others;
/// the other device's old token is refused after it (an intended eviction), while the calling
/// device's own refresh in flight across the change is refused too and logs it out.
#[test]
fn audiobookshelf_pr5393_password_change_ends_other_sessions() {
    let (sc, m, r) = checked("models/audiobookshelf-pr5393-password-change-ends-other-sessions.json");
    assert!(r.unique_states > 1000, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Holds);
    assert_eq!(status(&r, "eviction_completes"), Verdict::Holds);
    assert_eq!(answered(&sc, "other-device-refreshes-after-change").answer, Answer::Unreachable);
    let q = query_trace(&sc, "other-device-refused-after-change");
    assert!(q.steps[3].text.contains("rule `session not found: 401` → invalid_grant"), "{}", q.steps[3].text);
    assert_eq!(q.steps[5].text, "device 1 app A gets 401 Invalid_refresh_token and is logged out");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        owned(&[
            ("app 1A", "TabSendsRefresh"),
            ("app 1A", "DeviceSignsIn"),
            ("server", "ServerReceivesSignIn"),
            ("server", "ServerReceivesRefresh"),
            ("app 1A", "TabReceivesSignInResponse"),
            ("app 1A", "TabReceivesRefreshResponse"),
        ])
    );
    assert_eq!(last_store(&t)[2], "token=3 family=2 gen=0 active");
}
