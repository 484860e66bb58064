//! Real reports written as model files with no code change: Steward's SELECT-then-DELETE refresh
//! that forks the chain (PR 12) and its DELETE ... RETURNING; the Drips Wave app's parallel
//! calls each refreshing on their own (PR 1884) and the fix's per-page in-flight promise; Open
//! Wearables' password change that revoked no refresh token (PR 1590) and the fix's revoke-all;
//! KitchenOwl's reload that cancels a rotation (issue 400), PR 610's replacement of an unused
//! successor and the thief its review describes; the atproto OAuth provider deleting the session
//! on the retry of a lost rotation answer (issue 5411); Exceptionless deleting the grant for a
//! stale generation (PR 2404) and its reuse grace period. Each test checks the file's verdicts
//! (through `checked`), that the search was not empty, and the steps of the reported
//! interleaving (the shortest counterexample or the file's query), with the store it leaves.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;

use crate::common::pinned;
use crate::util::{answered, checked, last_store, owned, query_trace, status, steps, trace_of};

/// Steward before PR 12: both tabs pass the SELECT before either DELETE, both mint a successor
/// (the PR's "parallel successor"): the chain forks in six steps, and the query shows both
/// answers stored, the last write winning, with two active rows.
#[test]
fn steward_12_select_then_delete_forks_the_chain() {
    let (sc, m, r, t) = pinned(
        "models/steward-12-select-then-delete-forks.json",
        15,
        "sp3_single_lineage",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
        ],
    );
    assert!(t.steps[1].text.contains("rule `row found` → continue"), "{}", t.steps[1].text);
    assert!(t.steps[3].text.contains("rule `row found` → continue"), "{}", t.steps[3].text);
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
    let q = query_trace(&sc, "both-tabs-get-a-successor");
    assert_eq!(q.steps[5].text, "tab A gets 200, refresh token=2; it stores it");
    assert_eq!(q.steps[7].text, "tab B gets 200, refresh token=3; it stores it");
    assert_eq!(q.steps[7].state.jar, Some("localStorage refresh_token=3".into()));
    // The SDK's signOut() on a 401 clears the token the winner just stored.
    let logout = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(logout.steps[4].text.contains("rule `no row: 401` → invalid_grant"), "{}", logout.steps[4].text);
    assert_eq!(
        logout.steps[5].text,
        "tab B gets 401 Invalid_or_expired_refresh_token, clears the stored token and is logged out"
    );
}

/// Steward after PR 12: the DELETE ... RETURNING claims token 1 once, so the fork is gone (the
/// query is unreachable and `sp3_single_lineage` holds), while the loser's 401 still signs the
/// browser out: the client is unchanged.
#[test]
fn steward_pr12_delete_returning_claims_once() {
    let (sc, m, r) = checked("models/steward-pr12-delete-returning-claims-once.json");
    assert!(r.unique_states > 15, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    assert_eq!(answered(&sc, "both-tabs-get-a-successor").answer, Answer::Unreachable);
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
    assert!(t.steps[3].text.contains("rule `nothing returned: 401` → invalid_grant"), "{}", t.steps[3].text);
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)"]);
}

/// Drips Wave before PR 1884: the first refresh rotates cookie 1, the second call's refresh
/// still carries cookie 1, is refused, and getRefreshedAuthToken's catch logs the page out
/// while cookie 2's session is valid.
#[test]
fn drips_1884_parallel_calls_refresh_on_their_own() {
    let (_sc, _m, _r, t) = pinned(
        "models/drips-1884-parallel-calls-refresh-on-their-own.json",
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
    assert!(t.steps[0].text.contains("POST /api/auth/token/refresh with the jar's refresh cookie (token=1)"));
    assert!(t.steps[2].text.contains("no single-flight"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("rule `revoked token: refused` → invalid_grant"), "{}", t.steps[3].text);
    assert_eq!(t.steps[4].text, "tab A's requester 2 gets 401 invalid_grant and logs tab A out");
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
}

/// Drips Wave after PR 1884: inside one page a refused call refreshes once and is sent again
/// with access token 2 (the query); the in-flight promise is a module variable of each page, so
/// two tabs each refresh with cookie 1 and the second is logged out (twelve steps).
#[test]
fn drips_pr1884_in_flight_promise_is_per_tab() {
    let (sc, m, r) = checked("models/drips-pr1884-in-flight-promise-per-tab.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "one-tab-refreshes-and-retries");
    assert_eq!(
        q.steps[7].text,
        "tab A gets 200, refresh token=2, access token=2; it stores it; tab A sends its waiting API call with access token=2"
    );
    assert_eq!(q.steps[9].text, "tab A gets 200 for its API call with access token=2");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 12);
    let tail: Vec<_> = steps(&t)[3..].to_vec();
    assert_eq!(
        tail,
        owned(&[
            ("tab A", "TabSendsCall"),
            ("server", "ServerReceivesCall"),
            ("tab A", "TabReceivesCallResponse"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsCall"),
            ("server", "ServerReceivesCall"),
            ("tab B", "TabReceivesCallResponse"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[5].text.contains("it refreshes (POST /api/auth/token/refresh with token=1)"));
    assert!(t.steps[9].text.contains("it refreshes (POST /api/auth/token/refresh with token=1)"));
    assert!(t.steps[10].text.contains("rule `revoked token: refused` → invalid_grant"), "{}", t.steps[10].text);
    assert_eq!(t.steps[11].text, "tab B gets 401 invalid_grant and is logged out; tab B's waiting API call is dropped");
}

/// Open Wearables before PR 1590: the password change revokes nothing, and the other client's
/// refresh token issued before it is exchanged afterwards (the PR's manual check, the query).
#[test]
fn open_wearables_1590_password_change_keeps_refresh_tokens() {
    let (sc, m, r) = checked("models/open-wearables-1590-password-change-keeps-refresh-tokens.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "password_change_revokes_all");
    assert_eq!(t.steps.len(), 5);
    assert!(t.steps[2].text.contains("rule `update_developer_info(password): nothing revoked` → session_kept"));
    let q = query_trace(&sc, "old-token-refreshed-after-change");
    assert_eq!(
        steps(&q),
        owned(&[
            ("client 2A", "DeviceSignsIn"),
            ("server", "ServerReceivesSignIn"),
            ("client 2A", "TabReceivesSignInResponse"),
            ("client 1A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("client 1A", "TabReceivesRefreshResponse"),
        ])
    );
    assert_eq!(q.steps[6].text, "device 1 client A gets 200, refresh token=5; it stores it");
    assert_eq!(last_store(&q)[4], "token=5 family=0 gen=1 parent=1 active");
}

/// Open Wearables after PR 1590: the old token sent after the change is never served, but a
/// refresh whose SELECT ran before the revoke-all inserts its successor after it: the other
/// client keeps a live token after the change (the query).
#[test]
fn open_wearables_pr1590_revoke_all_and_the_refresh_that_inserts_after_it() {
    let (sc, m, r) = checked("models/open-wearables-pr1590-password-change-revokes-all.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Holds);
    assert_eq!(answered(&sc, "old-token-refreshed-after-change").answer, Answer::Unreachable);
    let t = query_trace(&sc, "refresh-inserts-after-revoke-all");
    let idx = |action: &str, needle: &str| {
        t.steps.iter().position(|s| s.action == action && s.text.contains(needle)).unwrap_or_else(|| panic!("{needle}"))
    };
    let selected = idx("ServerReceivesRefresh", "rule `valid token` → continue");
    let revoked = idx("ServerReceivesSignIn", "rule `update the password, revoke_all_for_developer` → session_kept");
    let inserted = idx("ServerWritesRefresh", "rule `revoke the old token, insert a new one` → ok minted");
    assert!(selected < revoked && revoked < inserted, "{selected} {revoked} {inserted}");
    assert_eq!(t.steps.last().unwrap().text, "device 1 client A gets 200, refresh token=5; it stores it");
    assert_eq!(last_store(&t)[0], "token=1 family=0 gen=0 revoked");
    assert_eq!(last_store(&t)[4], "token=5 family=0 gen=1 parent=1 active");
    // Without `evicts`, the other client's refusal after the change is reported as a logout.
    let logout = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(
        logout.steps[3].text.contains("rule `revoked or unknown: 401` → invalid_grant"),
        "{}",
        logout.steps[3].text
    );
}

/// KitchenOwl before PR 610 (issue 400): the refresh rotates at the server, the reload cancels
/// it (nginx's 499), the reloaded page presents token 1, which has a child: the family is
/// deleted and the user logged out.
#[test]
fn kitchenowl_400_reload_cancels_the_rotation() {
    let (sc, _m, _r, t) = pinned(
        "models/kitchenowl-400-reload-cancels-rotation.json",
        10,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A", "TabReloads"),
            ("server", "ServerReceivesRefresh"),
            ("tab A (reloaded page 1)", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(t.steps[3].text.contains("rule `has created a refresh token: reuse, delete the family` → invalid_grant"));
    assert_eq!(t.steps[4].text, "tab A (reloaded page 1) gets 401 Unauthorized and logs tab A out");
    assert_eq!(&last_store(&t)[..2], ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
    let q = query_trace(&sc, "reload-then-401");
    assert_eq!(q.steps.len(), 5);
}

/// KitchenOwl after PR 610: the same reload replaces the unused token 2 with token 3 and the
/// page stays signed in (the query); the cancelled request arriving after the reloaded page's
/// refresh invalidates the token the page then stores (derived, six steps).
#[test]
fn kitchenowl_pr610_the_unused_successor_is_replaced() {
    let (sc, m, r) = checked("models/kitchenowl-pr610-unused-successor-replaced.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let q = query_trace(&sc, "reload-replaces-the-unused-token");
    assert!(q.steps[3].text.contains("rule `newer token unused: invalidate it, rotate again` → ok minted"));
    assert_eq!(q.steps[4].text, "tab A (reloaded page 1) gets 200, refresh token=3, access token=3; it stores it");
    assert_eq!(
        &last_store(&q)[..3],
        [
            "token=1 family=0 gen=0 active",
            "token=2 family=0 gen=1 parent=1 revoked",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
    let late = trace_of(&m, &sc, &r, "converges_to_live_token");
    assert_eq!(late.steps[5].text, "tab A (reloaded page 1) gets 200, refresh token=2, access token=2; it stores it");
    assert_eq!(late.steps[5].state.jar, Some("localStorage refresh_token=2".into()));
}

/// KitchenOwl PR 610's review: a thief's copy of token 1 presented while the tab's token 2 is
/// unused is answered token 3, and the tab's next refresh with token 2 deletes the family.
#[test]
fn kitchenowl_pr610_a_thief_replaces_the_unused_token() {
    let (sc, m, r) = checked("models/kitchenowl-pr610-thief-replaces-unused-token.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "thief-takes-over-the-unused-successor");
    assert_eq!(q.steps[4].action, "AttackerRedeems");
    assert!(q.steps[5]
        .text
        .contains("attacker's GET /api/auth/refresh (mode json, refresh_token=1): rule `newer token unused"));
    assert!(q.steps[6].text.contains("refresh_token=2): rule `invalidated_refresh or deleted: delete the family`"));
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 8);
    assert_eq!(t.steps[4].action, "AttackerRedeems");
    assert_eq!(t.steps[7].text, "tab A gets 401 Unauthorized and is logged out");
}

/// atproto issue 5411: the rotation's answer is lost, the client presents token 1 again, the
/// provider takes it for a replay, deletes the session, and the client is logged out.
#[test]
fn atproto_5411_lost_answer_then_the_session_is_deleted() {
    let (sc, _m, _r, t) = pinned(
        "models/atproto-5411-lost-rotation-answer-ends-session.json",
        5,
        "no_spurious_logout",
        &[
            ("app A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("network", "NetworkLosesMessage"),
            ("app A", "TabRetriesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("app A", "TabReceivesRefreshResponse"),
        ],
    );
    assert_eq!(t.steps[3].text, "the network loses server → app A: 200, refresh token=2");
    assert!(t.steps[5].text.contains("rule `not current: replayed, delete the session` → invalid_grant"));
    assert_eq!(t.steps[6].text, "app A gets 400 invalid_grant and is logged out");
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
    assert_eq!(query_trace(&sc, "answer-lost-then-session-deleted").steps.len(), 7);
}

/// Exceptionless before PR 2404: process B's stale token 1 revokes the grant, process A's new
/// token 2 with it.
#[test]
fn exceptionless_2404_a_stale_generation_revokes_the_grant() {
    let (sc, _m, _r, t) = pinned(
        "models/exceptionless-2404-stale-generation-revokes-grant.json",
        5,
        "no_spurious_logout",
        &[
            ("process A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(t.steps[3].text.contains("rule `spent: replay, revoke the grant` → invalid_grant"));
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
    let q = query_trace(&sc, "stale-generation-revokes-the-grant");
    assert_eq!(q.steps.last().unwrap().text, "process B gets 400 invalid_grant and is logged out");
}

/// Exceptionless after PR 2404: inside the grace period the stale token gets token 3 beside
/// token 2 (two live tokens of one grant); two ticks after its first use it revokes the grant.
#[test]
fn exceptionless_pr2404_the_grace_period_issues_a_sibling() {
    let (sc, m, r) = checked("models/exceptionless-pr2404-reuse-grace-period.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "stale-generation-within-the-window");
    assert!(q.steps.iter().any(|s| s.text.contains("rule `spent within the grace period: a new token` → ok minted")));
    assert_eq!(
        &last_store(&q)[..3],
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(fork.steps.len(), 4);
    let late = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&late),
        owned(&[
            ("process A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabSendsRefresh"),
            ("clock", "ClockTicks"),
            ("clock", "ClockTicks"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(late.steps[5].text.contains("rule `spent after the grace period: replay, revoke the grant`"));
    assert_eq!(query_trace(&sc, "stale-generation-after-the-window").steps.len(), 7);
}
