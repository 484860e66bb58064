//! Real reports written as model files with no code change: Macro Deck's host revoking every
//! session of the account when a client retries a rotation whose answer it lost (issue 815), and
//! PR 818's one accepted retry within a minute (a late retry still revokes every session);
//! PR 933's reuse revoking only the token's family; obsidian-mcp's replayed refresh token revoking
//! nothing (issue 182), so a thief who redeems first keeps the grant, and PR 215's family
//! revocation; Outline's OAuth provider destroying the grant when a client's second caller
//! replays the token the first caller just rotated (PR 12752), the 10-second reuse interval, and
//! the fork its read-then-destroy still allowed until PR 13417's conditional claim; Snyk's
//! go-application-framework, whose processes each refresh with their own in-memory copy (PR
//! 223), and the file lock and reload of that PR; Roundcube's concurrent requests of one session each refreshing the OAuth token they read
//! from the session, the second killing the session (issue 10140, no fix). Each test checks the
//! file's verdicts (through `checked`), that the search was not empty, and the steps of the
//! reported interleaving (the shortest counterexample or the file's query), with the store it
//! leaves.

use refresh_check::scenario::Verdict;

use crate::common::pinned;
use crate::util::{last_store, owned, query_trace, status, steps};

/// Macro Deck's lost rotation answer, up to the retry the host reads as reuse: device 1's first
/// refresh rotates token 1, its answer (token 3) is lost, and its retry with token 1 runs
/// RevokeAllForUser.
const MD_LOST_ANSWER_RETRY: [(&str, &str); 5] = [
    ("client 1A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("network", "NetworkLosesMessage"),
    ("client 1A", "TabRetriesRefresh"),
    ("server", "ServerReceivesRefresh"),
];

/// Macro Deck before PR 818 (issue 815): the retry with the rotated-out token 1 revokes every
/// token of the user; device 1 is logged out, and the query shows device 2, which did nothing
/// wrong, refused on its next refresh (the wall tablet that has to pair again).
#[test]
fn macro_deck_815_lost_rotation_answer_revokes_every_session() {
    let mut expected = MD_LOST_ANSWER_RETRY.to_vec();
    expected.push(("client 1A", "TabReceivesRefreshResponse"));
    let (sc, _m, r, t) = pinned(
        "models/macro-deck-815-lost-rotation-answer-revokes-every-session.json",
        50,
        "no_spurious_logout",
        &expected,
    );
    assert_eq!(t.steps[2].text, "the network loses server → device 1 client A: 200, refresh token=3");
    assert!(
        t.steps[4].text.contains("rule `rotated-out token presented again: RevokeAllForUser` → invalid_grant"),
        "{}",
        t.steps[4].text
    );
    assert_eq!(t.steps[5].text, "device 1 client A gets 401 Unauthorized and is logged out");
    assert_eq!(status(&r, "sp9_revocation_scope"), Verdict::Violated);
    let q = query_trace(&sc, "lost-answer-retry-signs-out-the-other-device");
    let mut expected = MD_LOST_ANSWER_RETRY.to_vec();
    expected.extend([
        ("client 2A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("client 2A", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&q), owned(&expected));
    assert!(q.steps[6].text.contains("rule `revoked by RevokeAllForUser: 401` → invalid_grant"), "{}", q.steps[6].text);
    assert_eq!(q.steps[7].text, "device 2 client A gets 401 Unauthorized and is logged out");
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 revoked", "token=2 family=1 gen=0 revoked", "token=3 family=0 gen=1 parent=1 revoked"]
    );
}

/// Macro Deck after PR 818: a retry within the minute rotates the unused successor (token 3,
/// marked rotated_by_grace) and device 1 stores token 4 while device 2 refreshes as usual; a
/// retry two minutes after the rotation (the clock advanced while nothing was in flight) still
/// revokes every session, which is the shortest spurious logout and, in the query, signs device
/// 2 out.
#[test]
fn macro_deck_pr818_lost_rotation_retry_accepted_once() {
    let (sc, _m, r, t) = pinned(
        "models/macro-deck-pr818-lost-rotation-retry-accepted-once.json",
        900,
        "no_spurious_logout",
        &[
            ("client 1A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("network", "NetworkLosesMessage"),
            ("clock", "ClockTicks"),
            ("clock", "ClockMayTickAgain"),
            ("clock", "ClockTicks"),
            ("client 1A", "TabRetriesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("client 1A", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(
        t.steps[7].text.contains("rule `later than 60 seconds: RevokeAllForUser` → invalid_grant"),
        "{}",
        t.steps[7].text
    );
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    assert_eq!(status(&r, "rotated_token_expires"), Verdict::Holds);
    let q = query_trace(&sc, "retry-within-the-minute-accepted");
    let mut expected = MD_LOST_ANSWER_RETRY.to_vec();
    expected.extend([
        ("client 1A", "TabReceivesRefreshResponse"),
        ("client 2A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("client 2A", "TabReceivesRefreshResponse"),
    ]);
    assert_eq!(steps(&q), owned(&expected));
    assert!(
        q.steps[4].text.contains("rule `successor unrevoked: rotate the successor, once` → ok minted"),
        "{}",
        q.steps[4].text
    );
    assert_eq!(q.steps[5].text, "device 1 client A gets 200, refresh token=4; it stores it");
    assert_eq!(
        last_store(&q),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s); replaced_by=3, rotated_by_grace=0",
            "token=2 family=1 gen=0 superseded at 0, 0 grace use(s); replaced_by=5, rotated_by_grace=0",
            "token=3 family=0 gen=1 parent=1 superseded at 0, 0 grace use(s); replaced_by=4, rotated_by_grace=1",
            "token=4 family=0 gen=1 parent=1 active; replaced_by=none, rotated_by_grace=0",
            "token=5 family=1 gen=1 parent=2 active; replaced_by=none, rotated_by_grace=0"
        ]
    );
    let late = query_trace(&sc, "late-retry-signs-out-the-other-device");
    assert_eq!(late.steps.len(), 11);
    assert!(
        late.steps[9].text.contains("rule `revoked, no ReplacedById: 401` → invalid_grant"),
        "{}",
        late.steps[9].text
    );
    assert_eq!(late.steps[10].text, "device 2 client A gets 401 Unauthorized and is logged out");
}

/// Roundcube issue 10140: both requests read token 1 from the session, the first refresh is
/// answered and stored, the second presents the revoked token 1 and kill_session() logs the
/// session out (the four steps, the file's query); the shortest counterexample sends the
/// second refresh before the first answer arrives.
#[test]
fn roundcube_10140_concurrent_requests_refresh_twice() {
    let (sc, _m, r, t) = pinned(
        "models/roundcube-10140-concurrent-requests-refresh-twice.json",
        15,
        "no_spurious_logout",
        &[
            ("request A", "TabReadsToken"),
            ("request B", "TabReadsToken"),
            ("request A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("request B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("request B", "TabReceivesRefreshResponse"),
        ],
    );
    assert_eq!(t.steps[6].text, "request B gets 400 invalid_grant, clears the stored token and is logged out");
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    let q = query_trace(&sc, "second-request-presents-the-rotated-token");
    assert_eq!(
        steps(&q),
        owned(&[
            ("request A", "TabReadsToken"),
            ("request B", "TabReadsToken"),
            ("request A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("request A", "TabReceivesRefreshResponse"),
            ("request B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("request B", "TabReceivesRefreshResponse"),
        ])
    );
    assert_eq!(q.steps[4].text, "request A gets 200, refresh token=2; it stores it");
    assert!(q.steps[5].text.contains("(the storage holds token=2 by now)"), "{}", q.steps[5].text);
    assert!(
        q.steps[6].text.contains("rule `revoked refresh token: invalid_grant` → invalid_grant"),
        "{}",
        q.steps[6].text
    );
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
}

/// Macro Deck with PR 933: the same late retry revokes device 1's family only; device 2's
/// refresh is answered 200 afterwards (the query), and no run leaves device 2 refused after a
/// retry by device 1: the query PR 818's file answers reachable is unreachable here.
#[test]
fn macro_deck_pr933_reuse_revokes_the_family() {
    let (sc, _m, r, t) = pinned(
        "models/macro-deck-pr933-reuse-revokes-the-family.json",
        900,
        "no_spurious_logout",
        &[
            ("client 1A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("network", "NetworkLosesMessage"),
            ("clock", "ClockTicks"),
            ("clock", "ClockMayTickAgain"),
            ("clock", "ClockTicks"),
            ("client 1A", "TabRetriesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("client 1A", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(
        t.steps[7].text.contains("rule `later than 60 seconds: RevokeFamily` → invalid_grant"),
        "{}",
        t.steps[7].text
    );
    assert_eq!(status(&r, "sp9_revocation_scope"), Verdict::Holds);
    let q = query_trace(&sc, "late-retry-signs-out-only-its-device");
    assert_eq!(q.steps.len(), 12);
    assert_eq!(q.steps[11].text, "device 2 client A gets 200, refresh token=4; it stores it");
    assert_eq!(
        crate::util::answered(&sc, "late-retry-signs-out-the-other-device").answer,
        refresh_check::query::Answer::Unreachable
    );
}

/// obsidian-mcp before PR 215 (issue 182): the attacker copies token 1 and redeems it first,
/// the client's refresh with token 1 finds no unrevoked row and is refused, and the attacker's
/// token 2 stays active: `sp4_theft_contained`'s counterexample is the run, and the
/// query shows the attacker answered 200 and the client logged out.
#[test]
fn obsidian_mcp_182_replayed_refresh_token_revokes_nothing() {
    let (sc, _m, _r, t) = pinned(
        "models/obsidian-mcp-182-replayed-refresh-token-revokes-nothing.json",
        50,
        "sp4_theft_contained",
        &[
            ("client A", "TabSendsRefresh"),
            ("attacker", "AttackerReadsStorage"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerReceivesRefresh"),
        ],
    );
    assert!(
        t.steps[3].text.contains("rule `live token: mint a pair, set revoked on the old row` → ok minted"),
        "{}",
        t.steps[3].text
    );
    assert!(t.steps[4].text.contains("rule `no unrevoked row: invalid_grant` → invalid_grant"), "{}", t.steps[4].text);
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
    let q = query_trace(&sc, "thief-redeems-first-and-keeps-the-grant");
    assert_eq!(q.steps[5].text, "attacker gets 200, refresh token=2: the copied token worked");
    assert_eq!(q.steps[6].text, "client A gets 400 invalid_grant and is logged out");
    assert_eq!(last_store(&q)[1], "token=2 family=0 gen=1 parent=1 active");
}

/// obsidian-mcp after PR 215: the same run ends with the grant family revoked, the attacker's
/// token 2 included, so `sp4_theft_contained` holds; the client is still logged out (its
/// refusal is the price of the detection).
#[test]
fn obsidian_mcp_pr215_replay_revokes_the_grant_family() {
    let (sc, _m, r) = crate::util::checked("models/obsidian-mcp-pr215-replay-revokes-the-grant-family.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sp4_theft_contained"), Verdict::Holds);
    assert_eq!(status(&r, "theft_detected"), Verdict::Holds);
    let q = query_trace(&sc, "thief-redeems-first-replay-revokes-the-grant");
    assert_eq!(
        steps(&q),
        owned(&[
            ("client A", "TabSendsRefresh"),
            ("attacker", "AttackerReadsStorage"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("attacker", "AttackerReceivesResponse"),
            ("server", "ServerReceivesRefresh"),
            ("client A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(
        q.steps[5].text.contains("rule `revoked row: replay, revoke the grant family` → invalid_grant"),
        "{}",
        q.steps[5].text
    );
    assert_eq!(last_store(&q), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
}

/// The first steps of Outline's concurrent refresh: both callers read token 1 from the shared
/// store and caller A's refresh passes getRefreshToken.
const OUTLINE_BOTH_READ: [(&str, &str); 4] = [
    ("caller A", "TabReadsToken"),
    ("caller B", "TabReadsToken"),
    ("caller A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
];

/// Outline before PR 12752: caller A's rotation commits (revokeToken's read, then destroy and
/// saveToken), caller B's replay of token 1 finds the soft-deleted row and destroys the grant,
/// token 2 with it; the query shows token 2 stored by caller A before it dies (LibreChat issue
/// 14583's run). The same server forks the chain when both callers pass revokeToken's read
/// (the race PR 13417 names).
#[test]
fn outline_12752_concurrent_refresh_revokes_the_grant() {
    let mut expected = OUTLINE_BOTH_READ.to_vec();
    expected.extend([
        ("caller B", "TabSendsRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("caller B", "TabReceivesRefreshResponse"),
    ]);
    let (sc, m, r, t) =
        pinned("models/outline-12752-concurrent-refresh-revokes-the-grant.json", 30, "no_spurious_logout", &expected);
    assert!(
        t.steps[7].text.contains("rule `soft-deleted row found: destroy the grant` → invalid_grant"),
        "{}",
        t.steps[7].text
    );
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
    let q = query_trace(&sc, "second-caller-replay-destroys-the-grant");
    assert_eq!(q.steps[7].text, "caller A gets 200, refresh token=2; it stores it");
    assert_eq!(q.steps[9].text, "caller B gets 400 invalid_grant and is logged out");
    assert_eq!(last_store(&q), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
    let fork = crate::util::trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(fork.steps.len(), 10);
    assert_eq!(
        last_store(&fork),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
}

/// Outline after PR 12752: caller B's replay right after the rotation is refused and token 2
/// stays active (the query); a replay two ticks (20 s) later still destroys the grant; and the
/// read-then-destroy race still forks the chain, one fork's write landing two ticks after the
/// rotation (`rotated_token_expires`).
#[test]
fn outline_pr12752_ten_second_reuse_interval() {
    let mut expected = OUTLINE_BOTH_READ.to_vec();
    expected.extend([
        ("caller B", "TabSendsRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("caller B", "TabReceivesRefreshResponse"),
    ]);
    let (sc, m, r, t) =
        pinned("models/outline-pr12752-ten-second-reuse-interval.json", 250, "no_spurious_logout", &expected);
    assert!(
        t.steps[7].text.contains("rule `rotated within 10 seconds: refused, grant kept` → invalid_grant"),
        "{}",
        t.steps[7].text
    );
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
    let late = query_trace(&sc, "late-replay-destroys-the-grant");
    assert_eq!(late.steps.len(), 12);
    assert_eq!(late.steps[9].text, "time passes: now = 2");
    assert_eq!(last_store(&late), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Violated);
    let stale = crate::util::trace_of(&m, &sc, &r, "rotated_token_expires");
    assert_eq!(stale.steps.len(), 14);
    assert!(
        stale.steps[13].text.contains("rule `soft-delete the old authentication, create the new one` → ok minted"),
        "{}",
        stale.steps[13].text
    );
}

/// Outline after PR 13417: the conditional destroy lets one of two racing refreshes claim token
/// 1; the other is refused at the claim (the query) and the chain no longer forks. What remains:
/// the claim and saveToken are two statements, so a replay more than 10 s after the claim
/// destroys the grant before the new authentication is created, and that one outlives the
/// detection (`sp2_detection_permanent`, 11 steps).
#[test]
fn outline_pr13417_atomic_refresh_token_claim() {
    let mut expected = OUTLINE_BOTH_READ.to_vec();
    expected.extend([
        ("server", "ServerWritesRefresh"),
        ("clock", "ClockTicks"),
        ("clock", "ClockMayTickAgain"),
        ("clock", "ClockTicks"),
        ("caller B", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("server", "ServerWritesRefresh"),
    ]);
    let (sc, _m, r, t) =
        pinned("models/outline-pr13417-atomic-refresh-token-claim.json", 400, "sp2_detection_permanent", &expected);
    assert!(t.steps[9].text.contains("rule `older replay: destroy the grant` → invalid_grant"), "{}", t.steps[9].text);
    assert!(
        t.steps[10].text.contains("rule `create the new authentication in the grant` → ok minted"),
        "{}",
        t.steps[10].text
    );
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    assert_eq!(status(&r, "rotated_token_expires"), Verdict::Holds);
    let q = query_trace(&sc, "race-loser-refused-at-the-claim");
    assert_eq!(q.steps.last().unwrap().text, "caller B gets 400 invalid_grant and is logged out");
}

/// Snyk's go-application-framework before PR 223: process A refreshes token 1 and persists
/// token 2 to the file; process B refreshes with its own in-memory copy, token 1, and is
/// refused (the query; the shortest counterexample sends B's refresh before A's answer).
#[test]
fn snyk_gaf_223_processes_refresh_their_own_copy() {
    let (sc, _m, _r, t) = pinned(
        "models/snyk-gaf-223-processes-refresh-their-own-copy.json",
        8,
        "no_spurious_logout",
        &[
            ("process A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(
        t.steps[3].text.contains("rule `a rotated refresh token: invalid_grant` → invalid_grant"),
        "{}",
        t.steps[3].text
    );
    let q = query_trace(&sc, "second-process-presents-its-stale-copy");
    assert_eq!(
        steps(&q),
        owned(&[
            ("process A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process A", "TabReceivesRefreshResponse"),
            ("process B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabReceivesRefreshResponse"),
        ])
    );
    assert_eq!(q.steps[2].text, "process A gets 200, refresh token=2; it stores it");
    assert_eq!(q.steps[5].text, "process B gets 400 invalid_grant and is logged out");
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
}

/// Snyk's go-application-framework after PR 223: process B, waiting for the file lock with
/// token 1, is granted it after process A persisted token 2, reloads it and sends no refresh;
/// every invariant holds and no process presents its stale copy after A's answer.
#[test]
fn snyk_gaf_pr223_file_lock_reload() {
    let (sc, _m, r) = crate::util::checked("models/snyk-gaf-pr223-file-lock-reload.json");
    assert!(r.unique_states > 8, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "converges_to_live_token"), Verdict::Holds);
    let q = query_trace(&sc, "second-process-adopts-the-reloaded-token");
    assert_eq!(
        steps(&q),
        owned(&[
            ("process A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabWaitsForLock"),
            ("process A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(
        q.steps[3]
            .text
            .ends_with("the stored token (2) is not the one it queued with (1): it uses it and sends no refresh"),
        "{}",
        q.steps[3].text
    );
    assert_eq!(
        crate::util::answered(&sc, "second-process-presents-its-stale-copy").answer,
        refresh_check::query::Answer::Unreachable
    );
}
