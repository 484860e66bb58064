//! Real reports of spurious logouts written as model files with no code change: an iOS app and
//! its notification extension sharing one session (matrix-rust-sdk issue 6794), a native Matrix
//! refresh that signed out on a 5xx (matrix-rust-sdk PR 7038, against Synapse's refresh), two
//! API calls of one mobile app each refreshing on its own (AppAuth-Android issue 309, with
//! AppAuth-iOS's pending actions as the single-flight answer), parallel credential renewals
//! (Auth0.Android issue 540 and PR 542's serial executor), and server-side Auth.js callers that
//! spend one single-use Keycloak refresh token (OpenBank issue 3619 and PR 3600's rotation
//! cache); two CLI processes where the refused one deletes the token the other just stored
//! (Clerk CLI PR 213, Buildkite CLI PR 852, and their re-read of the store), a PWA's requests on
//! resume spending a single-use refresh token (Expensave PR 537 and its shared refresh), Auth.js
//! callers racing Authentik's refresh grant (D-sektionen web issue 1230 and PR 1232's promise
//! map), and one page's refresh triggers over plain HTTP (Vikunja issue 2863 and PR 2948's
//! retry). Each test checks the file's verdicts, that the search was not empty, the steps of
//! the reported interleaving (the shortest counterexample or the file's query) and what tells
//! a fix from what it fixed.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;

use crate::common::pinned;
use crate::util::{actions, answered, checked, last_store, owned, query_trace, scenario, status, steps, trace_of};

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
    let (.., t) = pinned(
        "models/matrix-rust-sdk-7038-native-refresh-5xx-signs-out.json",
        5,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerRestarts"),
            ("tab A", "TabReceivesRefreshResponse"),
        ],
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
    let (.., t) = pinned(
        "models/appauth-android-309-concurrent-fresh-token-actions.json",
        10,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "RequesterSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "TabReceivesRefreshResponse"),
        ],
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
    let (sc, m, r, t) = pinned(
        "models/auth0-android-540-parallel-renewals.json",
        50,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
        ],
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
    let (sc, _, _, t) = pinned(
        "models/open-bank-3619-auth-callers-spend-one-token.json",
        10,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "RequesterSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(t.steps[3].text.contains("rule `reused: session detached` → invalid_grant"), "{}", t.steps[3].text);
    assert_eq!(t.steps[4].text, "tab A's requester 2 gets 400 invalid_grant and logs tab A out");
    let loss = query_trace(&sc, "rotation-loss-logs-out");
    assert!(loss.steps[2].text.ends_with("the new token never reaches the browser)"), "{}", loss.steps[2].text);
    assert!(loss.steps[3].text.contains("the jar's refresh cookie (token=1)"), "{}", loss.steps[3].text);
    assert_eq!(loss.steps[5].text, "tab A gets 400 invalid_grant and is logged out");
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
    assert_eq!(late.steps.last().unwrap().text, "tab A gets 400 invalid_grant and is logged out");
}

/// The two CLI processes' race both Clerk's and Buildkite's reports name: A sends token 1, B
/// sends token 1, A is rotated and stores token 2, B is refused.
const A_STORES_THEN_B_REFUSED: [(&str, &str); 6] = [
    ("process A", "TabSendsRefresh"),
    ("process B", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("process A", "TabReceivesRefreshResponse"),
    ("server", "ServerReceivesRefresh"),
    ("process B", "TabReceivesRefreshResponse"),
];

/// Clerk CLI issue of PR 213 (and Buildkite CLI before PR 852): the losing process deletes the
/// stored session the winner has just written, so no process holds a live token any more.
#[test]
fn clerk_213_and_buildkite_852_the_loser_deletes_the_winners_token() {
    for (file, query) in [
        ("models/clerk-cli-213-loser-deletes-the-winners-session.json", "loser-deletes-the-winners-session"),
        (
            "models/buildkite-cli-852-stale-refresh-deletes-rotated-token.json",
            "stale-refresh-deletes-the-rotated-token",
        ),
    ] {
        let (sc, m, r) = checked(file);
        assert!(r.unique_states > 10, "{file} searched: {}", r.unique_states);
        let q = query_trace(&sc, query);
        assert_eq!(steps(&q), owned(&A_STORES_THEN_B_REFUSED), "{file}");
        assert!(
            q.steps[0].text.contains("POST /oauth/token with its stored refresh token (token=1)"),
            "{}",
            q.steps[0].text
        );
        assert!(q.steps[4].text.contains("rule `rotated: invalid_grant` → invalid_grant"), "{}", q.steps[4].text);
        assert_eq!(q.steps[3].state.jar, Some("localStorage refresh_token=2".into()));
        assert_eq!(q.steps[5].text, "process B gets 400 invalid_grant, clears the stored token and is logged out");
        assert_eq!(q.steps[5].state.jar, None, "{file}: the winner's token 2 is deleted");
        assert_eq!(last_store(&q), ROTATED_ONCE, "{file}: token 2 is still valid at the server");
        // The same run is the shortest counterexample of convergence: process A holds nothing.
        let dead = trace_of(&m, &sc, &r, "converges_to_live_token");
        assert_eq!(steps(&dead).len(), 6);
        assert_eq!(dead.steps[5].text, q.steps[5].text);
    }
}

/// Clerk CLI PR 213 (and Buildkite CLI PR 852): a refusal handled after the winner stored its
/// token re-reads the store and keeps it; only a refusal handled before the winner's answer
/// still deletes (token 1) and exits, and the winner's later write leaves a live token.
#[test]
fn clerk_pr213_and_buildkite_pr852_the_loser_rereads_the_store() {
    for (file, query) in [
        ("models/clerk-cli-pr213-loser-rereads-the-store.json", "loser-adopts-the-winners-session"),
        ("models/buildkite-cli-pr852-keeps-a-rotated-token.json", "stale-refresh-adopts-the-rotated-token"),
    ] {
        let (sc, m, r) = checked(file);
        assert!(r.unique_states > 10, "{file} searched: {}", r.unique_states);
        assert_eq!(status(&r, "converges_to_live_token"), Verdict::Holds, "{file}");
        assert_eq!(status(&r, "no_dead_credential_at_rest"), Verdict::Holds, "{file}");
        let q = query_trace(&sc, query);
        assert_eq!(steps(&q), owned(&A_STORES_THEN_B_REFUSED), "{file}");
        assert_eq!(
            q.steps[5].text,
            "process B gets 400 invalid_grant and finds the stored token changed: it adopts token=2 and keeps going"
        );
        assert_eq!(q.steps[5].state.jar, Some("localStorage refresh_token=2".into()));
        // What the single re-read cannot cover: B's refusal before A's answer.
        let early = trace_of(&m, &sc, &r, "no_spurious_logout");
        assert_eq!(
            steps(&early),
            owned(&[
                ("process A", "TabSendsRefresh"),
                ("server", "ServerReceivesRefresh"),
                ("process B", "TabSendsRefresh"),
                ("server", "ServerReceivesRefresh"),
                ("process B", "TabReceivesRefreshResponse"),
            ])
        );
        assert_eq!(
            early.steps[4].text,
            "process B gets 400 invalid_grant, finds the same token stored (token=1), clears the stored token and is logged out"
        );
    }
    let sc = scenario("models/clerk-cli-pr213-loser-rereads-the-store.json", None);
    assert_eq!(answered(&sc, "winners-session-never-deleted-once-stored").answer, Answer::Unreachable);
}

/// Expensave PR 537's report: on resume the page's two requests each refresh with token 1;
/// gesdinet deletes it for the first, the second is answered 401 and UnauthorizedInterceptor
/// clears the token 2 just stored and routes to login.
#[test]
fn expensave_537_the_second_requests_401_clears_the_new_token() {
    let (sc, m, r) = checked("models/expensave-537-pwa-resume-parallel-refreshes.json");
    assert!(r.unique_states > 20, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "late-refresh-clears-the-new-token");
    assert_eq!(
        steps(&q),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "RequesterSendsRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("tab A's requester 2", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(
        q.steps[2].text.contains("(no single-flight)") && q.steps[2].text.contains("(token=1)"),
        "{}",
        q.steps[2].text
    );
    assert!(q.steps[4].text.contains("rule `not found: 401` → invalid_grant"), "{}", q.steps[4].text);
    assert_eq!(q.steps[5].state.jar, Some("localStorage refresh_token=2".into()));
    assert_eq!(
        q.steps[6].text,
        "tab A's requester 2 gets 401 JWT_Refresh_Token_Not_Found, clears the stored token and logs tab A out"
    );
    assert_eq!(q.steps[6].state.jar, None, "the interceptor cleared token 2");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 6);
    // Two requests that both pass the lookup both get a token: gesdinet forks the session.
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(fork.steps.iter().filter(|s| s.action == "ServerWritesRefresh").count(), 2);
}

/// Expensave PR 537: the request that finds the access token expired joins the resume
/// refresh; no refresh is ever refused. The logout left is the clock's, not the race's.
#[test]
fn expensave_pr537_requests_share_the_resume_refresh() {
    let (sc, m, r) = checked("models/expensave-pr537-one-shared-refresh.json");
    assert!(r.unique_states > 200, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "call-joins-the-resume-refresh");
    assert_eq!(q.steps.iter().filter(|s| s.action == "TabSendsRefresh").count(), 1);
    let joined = q.steps.iter().position(|s| s.action == "TabRefreshesBeforeCall").unwrap();
    assert!(q.steps[joined].text.contains("the call waits for the refresh in flight"), "{}", q.steps[joined].text);
    assert!(q.steps[joined + 2].text.ends_with("tab A sends its waiting GET /api/… with access token=2"));
    assert_eq!(answered(&sc, "no-refresh-refused").answer, Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(t.steps.iter().all(|s| s.action != "TabSendsRefresh"), "no refresh in the remaining logout");
    assert!(t.steps[5].text.contains("rule `JWT expired: 401`"), "{}", t.steps[5].text);
}

/// D-sektionen web issue 1230: a concurrent request reaches Authentik after the first request's
/// rotation marked token 1 revoked; invalid_grant, RefreshTokenError, redirect to /signout.
#[test]
fn dsek_1230_a_concurrent_request_finds_the_token_revoked() {
    let (sc, _, r, t) = pinned(
        "models/dsek-web-1230-authjs-callers-race-authentik.json",
        20,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "RequesterSendsRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(t.steps[2].text.contains("with the jar's refresh cookie (token=1)"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("rule `rotate (refresh_token_threshold 0)` → ok minted"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.contains("rule `revoked: invalid_grant` → invalid_grant"), "{}", t.steps[4].text);
    assert_eq!(t.steps[5].text, "tab A's requester 2 gets 400 invalid_grant and logs tab A out");
    assert_eq!(last_store(&t), ROTATED_ONCE);
    let q = query_trace(&sc, "late-request-finds-token-revoked");
    assert_eq!(q.steps[5].state.jar, Some("refresh=2".into()), "the first request's cookie landed");
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Violated, "both lookups before either write fork");
}

/// D-sektionen web PR 1232: the concurrent request awaits the first request's promise and gets
/// token 2; Authentik never sees token 1 twice.
#[test]
fn dsek_pr1232_the_concurrent_request_awaits_the_same_promise() {
    let (sc, _, r) = checked("models/dsek-web-pr1232-shared-refresh-per-token.json");
    assert!(r.unique_states > 20, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    let q = query_trace(&sc, "concurrent-request-shares-the-refresh");
    let joined = q
        .steps
        .iter()
        .position(|s| s.text.contains("rule `a promise for this token is in the map: await it`"))
        .unwrap();
    assert!(q.steps[joined].text.contains("tab A's requester 2's"), "{}", q.steps[joined].text);
    let woken = q.steps.iter().position(|s| s.text.contains("its `waits_until` condition holding")).unwrap();
    assert!(woken > joined);
    assert!(
        q.steps[woken].text.contains("rule `resolved: the new refresh token` → ok presented.child"),
        "{}",
        q.steps[woken].text
    );
    assert_eq!(q.steps.last().unwrap().text, "tab A's requester 2 gets 200, refresh token=2");
    assert_eq!(q.steps.iter().filter(|s| s.text.contains("create_refresh_response")).count(), 1);
    assert_eq!(answered(&sc, "authentik-never-refuses").answer, Answer::Unreachable);
}

/// Vikunja issue 2863: two triggers of one page over plain HTTP send cookie 1; one rotates, the
/// other is refused (its lookup misses, or its conditional UPDATE matches 0 rows) and logs out.
#[test]
fn vikunja_2863_two_triggers_spend_one_cookie() {
    let (sc, m, r) = checked("models/vikunja-2863-insecure-http-triggers-race.json");
    assert!(r.unique_states > 20, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(t.steps[4].text.contains("rule `not found: 401` → invalid_grant"), "{}", t.steps[4].text);
    assert_eq!(t.steps[5].text, "tab A's requester 2 gets 401 invalid_grant and logs tab A out");
    let q = query_trace(&sc, "loser-matches-zero-rows");
    assert_eq!(
        actions(&q),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "RequesterSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(q.steps[4].text.contains("rule `1 row: rotated` → ok minted"), "{}", q.steps[4].text);
    assert!(q.steps[5].text.contains("rule `0 rows: already used` → invalid_grant"), "{}", q.steps[5].text);
}

/// Vikunja PR 2948 across two tabs: the retry sends the rotated cookie when tab A's Set-Cookie
/// landed first; when it had not, the retry presents cookie 1 again and tab B logs out.
#[test]
fn vikunja_pr2948_the_retry_needs_the_winners_cookie() {
    let (sc, m, r) = checked("models/vikunja-pr2948-retry-once-across-tabs.json");
    assert!(r.unique_states > 20, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "retry-with-the-rotated-cookie");
    assert_eq!(q.steps[6].text, "tab B gets 401 invalid_grant and sends the refresh again with the stored token=2");
    assert_eq!(q.steps[9].text, "tab B gets 200, refresh token=3; it stores it");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 8);
    assert_eq!(t.steps[5].text, "tab B gets 401 invalid_grant and sends the refresh again with the stored token=1");
    assert!(t.steps[6].text.contains("refresh cookie=1"), "{}", t.steps[6].text);
    assert_eq!(t.steps[7].text, "tab B gets 401 invalid_grant, has no retry left and is logged out");
    assert!(t.steps.iter().all(|s| s.text != "tab A gets 200, refresh token=2; it stores it"), "before tab A's answer");
}
