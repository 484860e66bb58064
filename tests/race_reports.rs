//! Real reports of concurrent refreshes written as model files with no code change: gcx PR 522
//! (two CLI processes sharing a config file), tymondesigns/jwt-auth issue 700 (parallel
//! requests through the `jwt.refresh` middleware), Woodpecker PR 6153 against Forgejo's grant
//! counter, goiabada issue 128 (before, the fix, and the proposal the fix rejected) and Coder PR
//! 28752, remember-me cookies rotated under concurrent requests: Symfony (issues 40971 and
//! 42343, PR 47488), Halo (PRs 10005 and 10014), gbirke/rememberme (issue 27) and Coherence
//! (issues 112 and 376), and Grafana PR 98034 (a server lock whose exhausted retries revoked
//! the session). Each test checks the file's verdicts, that the search was not empty, the
//! shortest counterexample's steps (the reported interleaving), and the queries that tell a fix
//! from what it fixed.

use refresh_check::model::{self, RefreshModel, State};
use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;
use refresh_check::trace::Trace;

use crate::common::pinned;
use crate::util::{answered, checked, last_store, owned, query_trace, status, steps, trace_of};

/// Two presenters whose reads both precede the first write, then both writes: the shape of
/// every read-then-write fork below.
const BOTH_READ_THEN_BOTH_WRITE: [(&str, &str); 6] = [
    ("tab A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("tab B", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("server", "ServerWritesRefresh"),
    ("server", "ServerWritesRefresh"),
];

/// gcx PR 522: two invocations read refresh token 1 from the shared config file; the proxy
/// rotates it for the first and answers the second 401, and that invocation fails while the
/// file holds a live token. The shortest logout is that run.
#[test]
fn gcx_522_the_second_invocation_meets_the_just_rotated_token() {
    let (.., t) = pinned(
        "models/gcx-522-two-invocations-share-config.json",
        10,
        "no_spurious_logout",
        &[
            ("process A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(t.steps[1].text.contains("rule `the current refresh token: rotate`"), "{}", t.steps[1].text);
    assert!(t.steps[2].text.contains("(token=1)"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("rule `a just-rotated refresh token: 401`"), "{}", t.steps[3].text);
    assert_eq!(t.steps[4].text, "process B gets 401 unauthorized and is logged out");
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
}

/// gcx PR 522's fix: under the file lock, the waiting invocation reloads the config file, finds
/// another refresh token than the one it holds, adopts it and sends nothing; no refresh is
/// ever refused and no invocation fails.
#[test]
fn gcx_pr522_the_waiter_adopts_the_reloaded_token() {
    let (sc, _, r) = checked("models/gcx-pr522-file-lock-reload.json");
    assert!(r.unique_states > 5, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Unreached, "the lock serialises the refreshes");
    let q = query_trace(&sc, "waiter-adopts-the-stored-token");
    assert_eq!(q.steps[2].text, "process B returns from idle and waits for the refresh lock held by another process");
    assert!(
        q.steps[3]
            .text
            .contains("the stored token (2) is not the one it queued with (1): it uses it and sends no refresh"),
        "{}",
        q.steps[3].text
    );
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
    assert_eq!(answered(&sc, "no-refresh-refused").answer, Answer::Unreachable);
}

/// jwt-auth issue 700 with `blacklist_grace_period` 0: request 1 is refreshed and its token
/// blacklisted, request 2 then presents the same token and is answered 401 (the steps 3
/// to 6). Derived, not reported: both decodes may run before either blacklisting, and both get
/// a new token.
#[test]
fn jwt_auth_700_the_parallel_request_meets_the_blacklisted_token() {
    let (sc, m, r, t) = pinned(
        "models/jwt-auth-700-parallel-requests-blacklisted.json",
        50,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(t.steps[3].text.contains("rule `blacklist the old jti, a new token` → ok minted"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.contains("rule `blacklisted: TokenBlacklistedException`"), "{}", t.steps[4].text);
    assert_eq!(t.steps[5].text, "tab B gets 401 token_blacklisted and is logged out");
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(steps(&fork), owned(&BOTH_READ_THEN_BOTH_WRITE));
}

/// jwt-auth's fix for issue 700 (`blacklist_grace_period` 30 s, one tick; requests delivered
/// within the tick): the second request inside the grace gets a token of its own; no request
/// is refused, and the sibling is the grace's price.
#[test]
fn jwt_auth_700_the_grace_period_serves_the_parallel_request() {
    let (sc, _, r) = checked("models/jwt-auth-700-blacklist-grace-period.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Violated);
    let q = query_trace(&sc, "second-request-inside-the-grace-gets-a-sibling");
    assert_eq!(q.steps.len(), 6);
    assert!(
        q.steps[4].text.contains("rule `blacklisted less than 30 s ago: still valid` → continue"),
        "{}",
        q.steps[4].text
    );
    assert_eq!(
        last_store(&q),
        [
            "token=1 family=0 gen=0 superseded at 0, 1 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
}

/// Woodpecker before PR 6153 against Forgejo: both refreshes pass the grant-counter check, the
/// first signs its token before the second increments, and the first answer is written to the
/// user row last: the row keeps a token Forgejo refuses for good. The PR's own account (a
/// refused second refresh) leaves the row live.
#[test]
fn woodpecker_5839_the_last_write_keeps_a_left_behind_counter() {
    let (sc, m, r) = checked("models/woodpecker-5839-forgejo-counter-race-poisons-token.json");
    assert!(r.unique_states > 20, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds, "a refused refresh is only logged");
    let t = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    let texts: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts.len(), 10, "{texts:#?}");
    assert!(
        texts[1].contains("rule `counter matches the grant`") && texts[3].contains("rule `counter matches the grant`")
    );
    assert!(texts[4].contains("of request A's refresh") && texts[4].contains("rule `increment the grant counter`"));
    assert!(texts[5].contains("of request A's refresh") && texts[5].contains("rule `sign with the counter read now`"));
    assert!(texts[6].contains("of request B's refresh") && texts[6].contains("rule `increment the grant counter`"));
    assert_eq!(texts[8], "request B gets 200, refresh token=3; it stores it");
    assert_eq!(texts[9], "request A gets 200, refresh token=2; it stores it");
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 revoked; counter=0",
            "token=2 family=0 gen=1 parent=1 revoked; counter=1",
            "token=3 family=0 gen=1 parent=1 active; counter=2",
            "family 0: counter=2"
        ]
    );
    let refused = query_trace(&sc, "refused-second-refresh-leaves-the-row-live");
    assert_eq!(refused.steps[5].text, "request B gets 400 unauthorized_client and keeps going");
    assert_eq!(answered(&sc, "row-keeps-the-stale-counter").answer, Answer::Reachable);
}

/// Woodpecker PR 6153: one refresh per user at a time; the row never ends holding a token the
/// grant counter has left.
#[test]
fn woodpecker_pr6153_singleflight_keeps_the_row_current() {
    let (sc, _, r) = checked("models/woodpecker-pr6153-singleflight-per-user.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    for p in ["no_dead_credential_at_rest", "converges_to_live_token", "sp3_single_lineage"] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    assert_eq!(answered(&sc, "row-keeps-the-stale-counter").answer, Answer::Unreachable);
}

/// Two tokens of one family are live at once: the fork of a read-then-write rotation.
fn two_live_children(m: &RefreshModel, s: &State) -> bool {
    let auth = model::auth_server_at(s, m.cfg.server).unwrap();
    auth.rows.iter().filter(|r| r.status == refresh_check::model::oauth::TokStatus::Active).count() >= 2
}

/// goiabada issue 128, defect 1: both validation reads see the token live, both handlers write
/// Revoked and mint: the shortest fork is exactly that run.
#[test]
fn goiabada_128_both_presentations_mint() {
    let (_, _m, _r, fork) =
        pinned("models/goiabada-128-read-then-write-forks.json", 10, "sp3_single_lineage", &BOTH_READ_THEN_BOTH_WRITE);
    assert!(fork.steps[5].text.contains("rule `write Revoked, mint a new token set` → ok minted"));
    assert_eq!(
        last_store(&fork),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
}

/// goiabada's fix: no fork; a lost claim is refused and spares the winner's token; a duplicate
/// whose lookup lands after the claim revokes the family (the strict model the fix chose).
/// With the proposal the fix rejected (a cascade on the lost claim) the loser revokes the
/// winner's token, which the fix never does.
#[test]
fn goiabada_pr128_a_lost_claim_spares_the_winner_and_the_proposal_does_not() {
    let (sc, m, r) = checked("models/goiabada-pr128-claim-and-contain.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    let (path, exhaustive, _) = crate::util::shortest_to(&sc, two_live_children);
    assert!(path.is_none() && exhaustive, "no fork after the fix");
    let spared = query_trace(&sc, "lost-claim-spares-the-winner");
    assert!(spared.steps[6].text.contains("rule `lost claim: refuse, no cascade` → invalid_grant"));
    assert_eq!(spared.steps[5].text, "tab A gets 200, refresh token=2; it stores it");
    assert_eq!(answered(&sc, "lost-claim-tears-down-the-winner").answer, Answer::Unreachable);
    let late = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert!(
        late.steps[4].text.contains("rule `replay: RevokeRefreshTokenFamily` → invalid_grant"),
        "{}",
        late.steps[4].text
    );
    assert_eq!(last_store(&late), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);

    let (psc, _, _) = checked("models/goiabada-128-proposed-cascade-on-lost-claim.json");
    let torn = query_trace(&psc, "lost-claim-tears-down-the-winner");
    assert_eq!(steps(&torn), owned(&BOTH_READ_THEN_BOTH_WRITE));
    assert!(torn.steps[5].text.contains("rule `lost claim: cascade as the issue proposed` → invalid_grant"));
    assert_eq!(last_store(&torn), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
}

/// Coder before PR 28752: the loser's blind delete removes nothing and it mints anyway; after
/// the fix the delete returns no row and the loser is refused, minting nothing.
#[test]
fn coder_28752_the_blind_delete_mints_twice_and_the_returning_delete_once() {
    let (_sc, _m, _r, fork) = pinned(
        "models/coder-28752-blind-delete-mints-twice.json",
        10,
        "sp3_single_lineage",
        &BOTH_READ_THEN_BOTH_WRITE,
    );
    assert!(fork.steps[5].text.contains("of tab B's refresh, deciding on what its read saw"));
    assert!(fork.steps[5].text.contains("rule `delete the key (rows affected unchecked), mint` → ok minted"));
    assert_eq!(last_store(&fork).len(), 3);

    let (fsc, _, fr) = checked("models/coder-pr28752-delete-returning-row.json");
    assert!(fr.unique_states > 10, "searched: {}", fr.unique_states);
    assert_eq!(status(&fr, "sp3_single_lineage"), Verdict::Holds);
    let q = query_trace(&fsc, "loser-deletes-nothing-and-is-refused");
    assert_eq!(steps(&q), owned(&BOTH_READ_THEN_BOTH_WRITE));
    assert!(q.steps[5].text.contains("rule `deleted nothing: invalid_grant` → invalid_grant"));
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
}

/// The clock brought to tick 2 (the first tick at which a value set at sign-in is more than a
/// minute old), each tick settled before the next (`max_in_flight_ticks` 0).
const TO_TICK_2: [(&str, &str); 3] = [("clock", "ClockTicks"), ("clock", "ClockMayTickAgain"), ("clock", "ClockTicks")];

/// Symfony issue 40971 without a token verifier: request A regenerates the value and stores it,
/// request B then compares the old value with the row's new one, CookieTheftException deletes
/// the series and tab B is logged out: the workflow, step by step.
#[test]
fn symfony_40971_the_parallel_request_throws_cookie_theft() {
    let (sc, m, r) = checked("models/symfony-40971-no-token-verifier.json");
    assert!(r.unique_states > 1000, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let mut expected = TO_TICK_2.to_vec();
    expected.extend([
        ("tab A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab B", "TabSendsRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab B", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&t), owned(&expected));
    assert!(t.steps[4].text.contains("rule `the stored value: regenerate` → continue"), "{}", t.steps[4].text);
    assert!(t.steps[6].text.contains("rule `the row still holds the loaded value` → ok minted"), "{}", t.steps[6].text);
    assert!(t.steps[7].text.contains("(mode cookie, refresh cookie=1)"), "{}", t.steps[7].text);
    assert!(
        t.steps[7].text.contains("rule `a value the row no longer holds: CookieTheftException` → invalid_grant"),
        "{}",
        t.steps[7].text
    );
    assert_eq!(t.steps[8].text, "tab B gets 401 CookieTheftException, clears the auth cookies and is logged out");
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 revoked",
            "token=2 family=0 gen=1 parent=1 revoked",
            "family 0: current=2, deleted=1, last_used=2, stale=1"
        ]
    );
}

/// Symfony issue 42343 (5.3.6 with the CacheTokenVerifier): the loser is accepted through the
/// cache and its Set-Cookie puts the old value back after the winner's; two ticks later the
/// cache has dropped it and the next remember-me login throws CookieTheftException. The
/// model's own query pins that run (17 steps); the shortest logout is the derived fork of the
/// blind UPDATE (13 steps), asserted too.
#[test]
fn symfony_42343_the_loser_puts_the_old_value_back_in_the_jar() {
    let (sc, m, r) = checked("models/symfony-42343-loser-resets-the-old-cookie.json");
    assert!(r.unique_states > 1000, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let q = query_trace(&sc, "loser-resets-the-old-cookie");
    let mut expected = TO_TICK_2.to_vec();
    expected.extend([
        ("clock", "ClockMayTickAgain"),
        ("tab A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab B", "TabSendsRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab A", "TabReceivesRefreshResponse"),
        ("tab B", "TabReceivesRefreshResponse"),
        ("clock", "ClockTicks"),
        ("clock", "ClockMayTickAgain"),
        ("clock", "ClockTicks"),
        ("tab A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab A", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&q), owned(&expected));
    assert!(
        q.steps[8].text.contains("rule `the outdated value still in the cache` → ok presented"),
        "{}",
        q.steps[8].text
    );
    assert_eq!(q.steps[9].text, "tab A gets 200, refresh token=2; it stores it");
    assert_eq!(q.steps[10].text, "tab B gets 200, refresh token=1; it stores it");
    assert!(q.steps[14].text.contains("with the jar's refresh cookie (token=1)"), "{}", q.steps[14].text);
    assert!(q.steps[15].text.contains("CookieTheftException` → invalid_grant"), "{}", q.steps[15].text);
    assert_eq!(q.steps[16].text, "tab A gets 401 CookieTheftException, clears the auth cookies and is logged out");

    let fork = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(fork.steps.len(), 13);
    assert!(fork.steps[6].text.contains("rule `the stored value: regenerate`"), "{}", fork.steps[6].text);
    assert!(
        fork.steps[10].text.contains("rule `another request rewrote the row meanwhile: overwritten` → ok minted"),
        "{}",
        fork.steps[10].text
    );
    assert!(fork.steps[11].text.contains("refresh cookie=2"), "{}", fork.steps[11].text);
}

/// Symfony PR 47488: the loser sets no cookie, so the reported run is gone (the query is
/// unreachable on a non-empty search); the fork of the blind UPDATE is not fixed and is still
/// the shortest logout.
#[test]
fn symfony_pr47488_the_loser_keeps_the_winner_cookie_and_the_fork_stays() {
    let (sc, m, r) = checked("models/symfony-pr47488-loser-sets-no-cookie.json");
    assert!(r.unique_states > 1000, "searched: {}", r.unique_states);
    assert_eq!(answered(&sc, "loser-resets-the-old-cookie").answer, Answer::Unreachable);
    let fork = trace_of(&m, &sc, &r, "no_spurious_logout");
    let mut expected = TO_TICK_2.to_vec();
    expected.extend([
        ("tab A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab B", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("server", "ServerWritesRefresh"),
        ("tab A", "TabReceivesRefreshResponse"),
        ("tab A", "TabSendsRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab A", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&fork), owned(&expected));
    assert!(fork.steps[10].text.contains("rule `another request rewrote the row meanwhile: overwritten`"));
    assert!(fork.steps[11].text.contains("CookieTheftException` → invalid_grant"), "{}", fork.steps[11].text);
    assert_eq!(
        last_store(&fork),
        [
            "token=1 family=0 gen=0 revoked",
            "token=2 family=0 gen=1 parent=1 revoked",
            "token=3 family=0 gen=1 parent=1 revoked",
            "family 0: current=3, deleted=1, last_used=2, stale=1"
        ]
    );
}

/// A remember-me request of tab `tab` (`A`, `B`) sent and its lookup run: the first two steps
/// of every Halo and rememberme run below.
fn sent_and_read(tab: &'static str) -> [(&'static str, &'static str); 2] {
    [(if tab == "A" { "tab A" } else { "tab B" }, "TabSendsRefresh"), ("server", "ServerReceivesRefresh")]
}

/// Halo before PR 10005 (issue 9953), the run the PR describes: both requests read the current
/// value, the winner's Set-Cookie never lands, the optimistic-lock loser is answered with no
/// cookie, and after the grace the old value is taken for theft. The shortest logout needs no
/// lost answer: a value two rotations behind (the report of PR 10014).
#[test]
fn halo_9953_the_lock_loser_leaves_the_old_cookie() {
    let (sc, m, r) = checked("models/halo-9953-lock-loser-sets-no-cookie.json");
    assert!(r.unique_states > 1000, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "loser-of-the-lock-leaves-the-old-cookie");
    let mut expected = sent_and_read("A").to_vec();
    expected.extend(sent_and_read("B"));
    expected.extend([
        ("server", "ServerWritesRefresh"),
        ("network", "NetworkLosesMessage"),
        ("clock", "ClockTicks"),
        ("clock", "ClockMayTickAgain"),
        ("clock", "ClockTicks"),
        ("server", "ServerWritesRefresh"),
        ("tab B", "TabReceivesRefreshResponse"),
        ("tab B", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab B", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&q), owned(&expected));
    assert_eq!(q.steps[5].text, "the network loses server → tab A: 200, refresh token=2");
    assert!(q.steps[9]
        .text
        .contains("rule `the version read lost the lock: authenticated, no cookie` → ok access-only"));
    assert_eq!(q.steps[10].text, "tab B gets 200; it stores it");
    assert!(q.steps[11].text.contains("with the jar's refresh cookie (token=1)"), "{}", q.steps[11].text);
    assert_eq!(q.steps[13].text, "tab B gets 401 CookieTheftException, clears the auth cookies and is logged out");

    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let mut shortest = sent_and_read("A").to_vec();
    shortest.extend([
        ("tab B", "TabSendsRefresh"),
        ("server", "ServerWritesRefresh"),
        ("tab A", "TabReceivesRefreshResponse"),
        ("tab A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab B", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&t), owned(&shortest));
    assert!(t.steps[8].text.contains("(mode cookie, refresh cookie=1)"), "{}", t.steps[8].text);
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 revoked",
            "token=2 family=0 gen=1 parent=1 revoked",
            "token=3 family=0 gen=2 parent=2 revoked",
            "family 0: current=3, deleted=1, last_used=0, previous=2"
        ]
    );
}

/// Halo PR 10005: the lock loser re-reads the series and sets the current value, so the run of
/// issue 9953 is gone; the value two rotations behind still logs out (PR 10014's report).
#[test]
fn halo_pr10005_the_lock_loser_resyncs_the_jar() {
    let (sc, _, r) = checked("models/halo-pr10005-lock-loser-resends-the-current-cookie.json");
    assert!(r.unique_states > 1000, "searched: {}", r.unique_states);
    assert_eq!(answered(&sc, "loser-of-the-lock-leaves-the-old-cookie").answer, Answer::Unreachable);
    let q = query_trace(&sc, "loser-of-the-lock-resyncs-the-jar");
    assert!(
        q.steps[5]
            .text
            .contains("rule `the version read lost the lock: re-read, the current cookie` → ok family.current"),
        "{}",
        q.steps[5].text
    );
    assert_eq!(q.steps[6].text, "tab B gets 200, refresh token=2; it stores it");
    assert_eq!(answered(&sc, "theft-without-a-lost-answer").answer, Answer::Reachable);
}

/// Halo PR 10014: with the rotation cooldown no theft is found unless an answer is lost; what
/// is left is a rotating answer lost and the browser back after the cooldown.
#[test]
fn halo_pr10014_only_a_lost_answer_past_the_cooldown_logs_out() {
    let (sc, m, r) = checked("models/halo-pr10014-rotation-cooldown.json");
    assert!(r.unique_states > 1000, "searched: {}", r.unique_states);
    assert_eq!(answered(&sc, "theft-without-a-lost-answer").answer, Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let mut expected = TO_TICK_2.to_vec();
    expected.push(("clock", "ClockMayTickAgain"));
    expected.extend(sent_and_read("A"));
    expected.extend([
        ("server", "ServerWritesRefresh"),
        ("network", "NetworkLosesMessage"),
        ("clock", "ClockTicks"),
        ("clock", "ClockMayTickAgain"),
        ("clock", "ClockTicks"),
        ("tab B", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab B", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&t), owned(&expected));
    assert!(t.steps[12].text.contains("(mode cookie, refresh cookie=1)"), "{}", t.steps[12].text);
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 revoked",
            "token=2 family=0 gen=1 parent=1 revoked",
            "family 0: current=2, deleted=1, last_used=2, previous=1"
        ]
    );
}

/// gbirke/rememberme issue 27: the second request of a page looks its triplet up after the
/// first replaced it, is taken for theft, and every token of the user is deleted; with rotation
/// disabled (m-ober/rememberme 5) that cannot happen and the search still finds concurrent
/// logins.
#[test]
fn rememberme_27_the_second_request_is_taken_for_theft() {
    let (sc, m, r) = checked("models/rememberme-27-concurrent-requests-trip-theft.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let mut expected = sent_and_read("A").to_vec();
    expected.extend([
        ("tab B", "TabSendsRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab B", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&t), owned(&expected));
    assert!(t.steps[3].text.contains("rule `replaceTriplet: a new one-time token (no compare)` → ok minted"));
    assert!(
        t.steps[4].text.contains("rule `another one-time token: TRIPLET_INVALID, clean all triplets` → invalid_grant"),
        "{}",
        t.steps[4].text
    );
    assert_eq!(t.steps[5].text, "tab B gets 401 possible cookie theft, clears the auth cookies and is logged out");
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked", "family 0: current=2, deleted=1"]
    );

    let (fsc, _, fr) = checked("models/rememberme-v5-rotation-disabled.json");
    assert!(fr.unique_states > 20, "searched: {}", fr.unique_states);
    assert_eq!(status(&fr, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&fr, "concurrent_refreshes"), Verdict::Reached);
    assert_eq!(answered(&fsc, "second-request-reads-after-the-replace").answer, Answer::Unreachable);
}

/// Coherence issue 112 after its serialised callback (and issue 376): the first request
/// rotates the token, the second, sent with the old cookie before the first answer landed, is
/// validated after the update and taken for fraud. With `async_rememberable?` (ajax requests
/// keep their token) no request is refused.
#[test]
fn coherence_112_the_serialised_callback_still_refuses_the_second_request() {
    let (_sc, _m, _r, t) = pinned(
        "models/coherence-112-serialized-callback-still-refuses.json",
        20,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(
        t.steps[1].text.contains("rule `the row's token: a new token and cookie` → ok minted"),
        "{}",
        t.steps[1].text
    );
    assert!(t.steps[2].text.contains("with the jar's refresh cookie (token=1)"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("rule `the series with another token: Potential Fraud, delete all`"));
    assert_eq!(t.steps[4].text, "tab B gets 401 Potential Fraud (a redirect to logged_out_url) and is logged out");
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked", "family 0: current=2, deleted=1"]
    );

    let (_, _, fr) = checked("models/coherence-343cbb2-async-rememberable-ajax.json");
    assert!(fr.unique_states > 10, "searched: {}", fr.unique_states);
    assert_eq!(status(&fr, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&fr, "concurrent_refreshes"), Verdict::Reached);
}

/// Tab B's five acquisitions of the server lock, attempts 1 to 4 retried, as the traces print
/// them (steps of `LockExecuteAndReleaseWithRetries` while tab A's request holds the row).
fn grafana_retried_attempts(t: &Trace, first: usize) {
    for n in 1..=4 {
        let text = &t.steps[first + n - 1].text;
        assert!(text.contains(&format!("attempt {n}` of tab B's refresh")), "{text}");
        assert!(
            text.contains(&format!(
                "rule `attempt {n}: row held by another request: retryOpt({n}) nil, sleep and retry` → continue"
            )),
            "{text}"
        );
    }
}

/// Grafana before PR 98034: tab A's request takes the server lock (the `server_lock` row) and
/// is still refreshing at the IdP; tab B's request fails its five acquisitions, gets
/// `ErrCouldntRefreshToken`, and the sync hook revokes the user's session and answers 401: tab
/// B is logged out while the session was valid, and the lock is still tab A's.
#[test]
fn grafana_98034_the_waiter_exhausts_the_lock_retries_and_the_hook_revokes_the_session() {
    let (sc, _m, _r, t) = pinned(
        "models/grafana-98034-lock-retries-exhausted-revokes-session.json",
        40,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(t.steps[1].text.contains("rule `access token expired: TryTokenRefresh` → continue"), "{}", t.steps[1].text);
    assert!(t.steps[3].text.contains("rule `access token expired: TryTokenRefresh` → continue"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.contains("attempt 1` of tab A's refresh"), "{}", t.steps[4].text);
    assert!(
        t.steps[4].text.contains("rule `attempt 1: server_lock row absent: insert it, lock held`"),
        "{}",
        t.steps[4].text
    );
    grafana_retried_attempts(&t, 5);
    assert!(
        t.steps[9].text.contains(
            "rule `attempt 5: row held: ErrCouldntRefreshToken; the hook revokes the session, 401` → invalid_grant"
        ),
        "{}",
        t.steps[9].text
    );
    assert_eq!(t.steps[10].text, "tab B gets 401 oauth.expired-token and is logged out");
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 revoked", "client session 0: fresh=0, idp_rt=0, lock=1, stored_rt=0"]
    );
    let q = query_trace(&sc, "waiter-exhausts-the-retries-and-revokes-the-session");
    assert_eq!(steps(&q), steps(&t));
    assert_eq!(answered(&sc, "idp-never-sees-a-rotated-away-token").answer, Answer::Unreachable);
}

/// Grafana PR 98034: the same exhausted waiter is answered an error that revokes nothing; tab
/// A's refresh stores the IdP's new pair and releases the lock, and no tab is logged out.
#[test]
fn grafana_pr98034_the_exhausted_waiter_keeps_the_session() {
    let (sc, _, r) = checked("models/grafana-pr98034-lock-retries-exhausted-keeps-session.json");
    assert!(r.unique_states > 40, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "converges_to_live_token"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Reached);
    let q = query_trace(&sc, "waiter-exhausts-the-retries-and-keeps-the-session");
    assert_eq!(
        steps(&q),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
            ("server", "ServerWritesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(
        q.steps[4].text.contains("rule `attempt 1: server_lock row absent: insert it, lock held`"),
        "{}",
        q.steps[4].text
    );
    assert!(
        q.steps[5].text.contains("rule `IdP rotates: the stored refresh token is its current one`"),
        "{}",
        q.steps[5].text
    );
    grafana_retried_attempts(&q, 6);
    assert!(
        q.steps[10]
            .text
            .contains("rule `attempt 5: row held: ErrCouldntRefreshToken; request fails, session kept` → server_error"),
        "{}",
        q.steps[10].text
    );
    assert_eq!(q.steps[11].text, "tab B gets 500 server_error and keeps going");
    assert!(
        q.steps[12].text.contains("rule `store the new pair, delete the server_lock row` → ok presented"),
        "{}",
        q.steps[12].text
    );
    assert_eq!(q.steps[13].text, "tab A gets 200, refresh token=1; it stores it");
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 active", "client session 0: fresh=1, idp_rt=1, lock=0, stored_rt=1"]
    );
    assert_eq!(answered(&sc, "session-never-revoked").answer, Answer::Unreachable);
    assert_eq!(answered(&sc, "idp-never-sees-a-rotated-away-token").answer, Answer::Unreachable);
}
