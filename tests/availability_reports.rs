//! Real reports of spurious logouts written as model files with no code change: an iOS app and
//! its notification extension sharing one session (matrix-rust-sdk issue 6794), a native Matrix
//! refresh that signed out on a 5xx (matrix-rust-sdk PR 7038, against Synapse's refresh), two
//! API calls of one mobile app each refreshing on its own (AppAuth-Android issue 309, with
//! AppAuth-iOS's pending actions as the single-flight answer), parallel credential renewals
//! (Auth0.Android issue 540 and PR 542's serial executor), and server-side Auth.js callers that
//! spend one single-use Keycloak refresh token (OpenBank issue 3619 and PR 3600's rotation
//! cache). Each test checks the file's verdicts, that the search was not empty, the steps of
//! the reported interleaving (the shortest counterexample or the file's query) and what tells
//! a fix from what it fixed.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;

use crate::util::{answered, checked, last_store, owned, query_trace, status, steps, trace_of};

/// The store after one rotation of token 1 that nothing revoked.
const ROTATED_ONCE: [&str; 2] =
    ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"];

/// matrix-rust-sdk issue 6794: the app holds the cross-process lock with its exchange of token 1
/// not yet at the server; the NSE takes the lapsed lock, finds no hash mismatch, refreshes and
/// stores token 2; the app's exchange of token 1 is refused and the app is logged out while
/// the session (token 2) is valid. The shortest logout is the mirror run (the NSE is refused).
#[test]
fn matrix_6794_the_nse_rotates_while_the_app_is_suspended() {
    let (sc, m, r) = checked("models/matrix-rust-sdk-6794-nse-rotates-while-app-suspended.json");
    assert!(r.unique_states > 20, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "nse-rotates-then-app-resumes");
    assert_eq!(
        steps(&q),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("tab B", "TabWaitsForLock"),
            ("tab B", "TabStealsLock"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
            ("server", "ServerReceivesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(
        q.steps[0].text.contains("POST /oauth2/token with its stored refresh token (token=1)"),
        "{}",
        q.steps[0].text
    );
    assert!(
        q.steps[2].text.contains(
            "steals the Web Lock (steal: true) and sends its refresh with its stored refresh token (token=1)"
        ),
        "{}",
        q.steps[2].text
    );
    assert_eq!(q.steps[5].text, "tab B gets 200, refresh token=2; it stores it");
    assert!(q.steps[6].text.contains("tab A's POST /oauth2/token (mode json, refresh_token=1)"), "{}", q.steps[6].text);
    assert!(q.steps[6].text.contains("rule `consumed: replay` → invalid_grant"), "{}", q.steps[6].text);
    assert_eq!(q.steps[7].text, "tab A gets 400 invalid_grant and is logged out");
    assert_eq!(last_store(&q), ROTATED_ONCE);
    assert_eq!(q.steps[7].state.jar, Some("localStorage refresh_token=2".into()));
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 7);
    assert_eq!(t.steps[3].action, "TabStealsLock");
    assert_eq!(t.steps[6].text, "tab B gets 400 invalid_grant and is logged out");
}

/// matrix-rust-sdk before PR 7038: Synapse restarts between its lookup and the new pair, the
/// refresh fails with 500 and nothing is written, and the client signs out holding a refresh
/// token Synapse still accepts.
#[test]
fn matrix_7038_a_5xx_signs_the_native_client_out() {
    let (sc, m, r) = checked("models/matrix-rust-sdk-7038-native-refresh-5xx-signs-out.json");
    assert!(r.unique_states > 5, "searched: {}", r.unique_states);
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
    assert!(t.steps[0].text.contains("POST /_matrix/client/v3/refresh"), "{}", t.steps[0].text);
    assert!(t.steps[1].text.contains("rule `unused` → continue"), "{}", t.steps[1].text);
    assert_eq!(t.steps[3].text, "tab A gets 500 server_error and is logged out");
    assert_eq!(last_store(&t)[0], "token=1 family=0 gen=0 active");
}

/// matrix-rust-sdk PR 7038: a 5xx keeps the session and the next refresh with token 1 is
/// served; a refresh whose answer was lost is refreshed again with token 1, which Synapse
/// serves because token 2 was never used. No logout is reachable. Synapse leaves token 2 valid
/// beside token 3 (derived from the code, not reported).
#[test]
fn matrix_pr7038_the_native_client_keeps_its_session() {
    let (sc, m, r) = checked("models/matrix-rust-sdk-pr7038-native-refresh-keeps-session.json");
    assert!(r.unique_states > 40, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let restart = query_trace(&sc, "restart-500-keeps-session");
    assert_eq!(restart.steps[3].text, "tab A gets 500 server_error and keeps going");
    assert_eq!(restart.steps[7].text, "tab A gets 200, refresh token=2, access token=2; it stores it");
    let lost = query_trace(&sc, "lost-answer-refreshed-again");
    assert_eq!(
        steps(&lost),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("network", "NetworkLosesMessage"),
            ("tab A", "TabRetriesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(
        lost.steps[5].text.contains("rule `used, but its next tokens unused: refresh again`"),
        "{}",
        lost.steps[5].text
    );
    assert_eq!(lost.steps[7].text, "tab A gets 200, refresh token=3, access token=3; it stores it");
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Violated);
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        &last_store(&fork)[..3],
        [
            "token=1 family=0 gen=0 superseded at 0, 1 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
}

/// AppAuth-Android issue 309: two API calls each call performActionWithFreshTokens with the
/// access token expired; the first rotates token 1, the second sends token 1 while the first
/// answer is on its way, is refused, and AuthState records the error: signed out.
#[test]
fn appauth_android_309_the_second_call_refreshes_with_the_rotated_token() {
    let (sc, m, r) = checked("models/appauth-android-309-concurrent-fresh-token-actions.json");
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
    assert!(t.steps[1].text.contains("rule `rotate` → ok minted"), "{}", t.steps[1].text);
    assert!(
        t.steps[2].text.contains("(no single-flight)") && t.steps[2].text.contains("(token=1)"),
        "{}",
        t.steps[2].text
    );
    assert!(t.steps[3].text.contains("rule `reuse` → invalid_grant"), "{}", t.steps[3].text);
    assert_eq!(t.steps[4].text, "tab A's requester 2 gets 400 invalid_grant and logs tab A out");
    assert_eq!(last_store(&t), ROTATED_ONCE);
}

/// AppAuth-iOS pending actions: the action that finds the access token stale while the refresh
/// is in flight joins it and is run with access token 2; no refresh is ever refused.
#[test]
fn appauth_ios_the_second_action_joins_the_pending_refresh() {
    let (sc, _, r) = checked("models/appauth-ios-pending-actions-single-refresh.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let q = query_trace(&sc, "second-action-joins-the-refresh");
    let joined = q.steps.iter().position(|s| s.action == "TabRefreshesBeforeCall").unwrap();
    assert!(q.steps[joined].text.contains("the call waits for the refresh in flight"), "{}", q.steps[joined].text);
    assert!(
        q.steps[joined + 1].text.ends_with("tab A sends its waiting API call with access token=2"),
        "{}",
        q.steps[joined + 1].text
    );
    assert_eq!(q.steps.iter().filter(|s| s.action == "TabSendsRefresh").count(), 1);
    assert_eq!(answered(&sc, "no-refresh-refused").answer, Answer::Unreachable);
}

/// Auth0.Android issue 540: two getCredentials calls both renew with token 1; Auth0 takes the
/// second for reuse, revokes the family (token 2 too) and the call fails.
#[test]
fn auth0_android_540_parallel_renewals_trip_reuse_detection() {
    let (sc, m, r) = checked("models/auth0-android-540-parallel-renewals.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[2].text.contains("(token=1)"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("rule `reuse` → invalid_grant"), "{}", t.steps[3].text);
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
    let dead = trace_of(&m, &sc, &r, "converges_to_live_token");
    assert_eq!(dead.steps[4].text, "tab A gets 200, refresh token=2; it stores it");
}

/// Auth0.Android PR 542: the second caller, queued on the serial executor, reads the renewed
/// credentials, finds them unexpired and sends no renewal; no renewal is ever refused.
#[test]
fn auth0_android_pr542_the_queued_caller_reads_the_renewed_credentials() {
    let (sc, _, r) = checked("models/auth0-android-pr542-serial-executor.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Unreached, "the executor serialises the renewals");
    let q = query_trace(&sc, "second-caller-reads-the-renewed-credentials");
    assert!(
        q.steps.last().unwrap().text.contains("tab B is granted the lock; the stored session is fresh"),
        "{}",
        q.steps.last().unwrap().text
    );
    assert!(q.steps.last().unwrap().text.ends_with("sends no refresh"), "{}", q.steps.last().unwrap().text);
    assert_eq!(answered(&sc, "no-renewal-refused").answer, Answer::Unreachable);
}

/// OpenBank issue 3619: the stampede (the middleware rotates token 1, /api/gate presents it
/// again and Keycloak detaches the session) and the rotation loss (/api/gate rotates, its
/// Set-Cookie is discarded, the middleware presents token 1 and is refused).
#[test]
fn open_bank_3619_server_side_callers_spend_one_token() {
    let (sc, m, r) = checked("models/open-bank-3619-auth-callers-spend-one-token.json");
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
    assert!(t.steps[3].text.contains("rule `reused: session detached` → invalid_grant"), "{}", t.steps[3].text);
    assert_eq!(t.steps[4].text, "tab A's requester 2 gets 400 invalid_grant and logs tab A out");
    let loss = query_trace(&sc, "rotation-loss-logs-out");
    assert!(loss.steps[2].text.ends_with("the new token never reaches the browser)"), "{}", loss.steps[2].text);
    assert!(loss.steps[3].text.contains("the jar's refresh cookie (token=1)"), "{}", loss.steps[3].text);
    assert_eq!(loss.steps[5].text, "tab A gets 400 invalid_grant and logs tab A out");
}

/// OpenBank PR 3600: within 120 s the rotation cache answers a spent token with its successor,
/// so both runs of issue 3619 keep the session; a cookie left stale past the cache's TTL is
/// still refused by Keycloak as reuse (derived from the TTL, not reported).
#[test]
fn open_bank_pr3600_the_rotation_cache_answers_the_spent_token() {
    let (sc, m, r) = checked("models/open-bank-pr3600-rotation-cache.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let stampede = query_trace(&sc, "stampede-served");
    assert!(
        stampede.steps[3].text.contains("rule `spent within 120 s: the remembered rotation` → ok presented.child"),
        "{}",
        stampede.steps[3].text
    );
    let recovered = query_trace(&sc, "rotation-loss-recovered");
    assert_eq!(recovered.steps[5].text, "tab A gets 200, refresh token=2; it stores it");
    assert_eq!(recovered.steps[5].state.jar, Some("refresh=2".into()));
    assert_eq!(answered(&sc, "no-logout-within-the-ttl").answer, Answer::Unreachable);
    let late = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(late.steps.iter().filter(|s| s.action == "ClockTicks").count(), 3);
    let refused = late.steps.iter().position(|s| s.text.contains("rule `spent earlier: Keycloak sees reuse`")).unwrap();
    assert!(late.steps[refused].text.contains("refresh cookie=1"), "{}", late.steps[refused].text);
    assert_eq!(late.steps.last().unwrap().text, "tab A gets 400 invalid_grant and logs tab A out");
}
