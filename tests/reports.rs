//! Real bug reports and fixes written in the protocol language (`models/` files whose
//! `sources` cite them): each test checks the file's verdicts, pins the shortest
//! counterexample's steps, and where the shortest one is another mechanism, finds the reported
//! interleaving with a `Sometimes` property on the built model.

use refresh_check::model::{self, oauth::TokStatus, RefreshModel, State};
use refresh_check::search;
use refresh_check::trace::Trace;

use crate::util::{actions, checked, find_step, last_store, owned, trace_of};

/// The shortest path to a state where `cond` holds, on the model of `file` with `cond` as an
/// extra `Sometimes` property; its length and the authorization server's rows at its end.
fn reach(file: &str, cond: fn(&RefreshModel, &State) -> bool) -> (usize, Vec<TokStatus>) {
    let (sc, _, _) = checked(file);
    let (path, _, m) = crate::util::shortest_to(&sc, cond);
    let path = path.expect("the reported interleaving is reachable");
    let (_, steps) = search::replay(&m, &path).unwrap();
    let end = &steps.last().unwrap().1;
    let auth = model::auth_server_at(end, m.cfg.server).unwrap();
    (path.actions.len(), auth.rows.iter().map(|r| r.status).collect())
}

fn some_tab_logged_out(m: &RefreshModel, s: &State) -> bool {
    m.cfg
        .browsers
        .iter()
        .any(|&b| model::browser_at(s, b).tabs.iter().any(|t| t.status == model::browser::TabStatus::LoggedOut))
}

const LATER_READER_REVOKES: [&str; 6] = [
    "TabSendsRefresh",
    "ServerReceivesRefresh",
    "TabSendsRefresh",
    "ServerWritesRefresh",
    "ServerReceivesRefresh",
    "TabReceivesRefreshResponse",
];

/// HQBase issue 41: a findOne after the winner's compare-and-set deletes every token of the
/// client and user, the other device's included, and (once the winner's insert has run) the
/// winner's fresh token; the compare-and-set loser is refused with the family intact; an insert
/// after the deletion survives it (the upstream `TODO(invalidate-family-race)`).
#[test]
fn better_auth_hqbase_41_a_later_reader_deletes_every_token_of_the_user() {
    let file = "models/better-auth-oauth-provider-hqbase-41.json";
    let (sc, m, r) = checked(file);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), LATER_READER_REVOKES);
    assert!(t.steps[3]
        .text
        .contains("step `compare-and-set on the parent (own statement)` of device 1 tab A's refresh"));
    assert!(t.steps[5].text.starts_with("device 1 tab B gets 400 invalid_grant"), "{}", t.steps[5].text);
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 revoked", "token=2 family=1 gen=0 revoked"],
        "device 2's token too"
    );
    let sp9 = trace_of(&m, &sc, &r, "sp9_revocation_scope");
    assert_eq!(actions(&sp9), LATER_READER_REVOKES[..5]);
    let survivor = trace_of(&m, &sc, &r, "sp2_detection_permanent");
    assert_eq!(actions(&survivor)[5], "ServerWritesRefresh");
    assert!(survivor.steps[5].text.contains("step `create the new token (own statement)` of device 1 tab A's"));
    assert_eq!(last_store(&survivor)[2], "token=3 family=0 gen=1 parent=1 active");

    // The report: the winner's new token, created before the replay, is deleted with the rest.
    fn winner_deleted(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        auth.rows.len() == 3 && auth.rows.iter().all(|r| r.status == TokStatus::Revoked)
    }
    let (len, _) = reach(file, winner_deleted);
    assert_eq!(len, 6, "A's read, compare-and-set and insert, then B's read");

    // The compare-and-set loser: refused, nothing revoked.
    fn cas_lost(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        some_tab_logged_out(m, s) && auth.rows.iter().all(|r| r.status != TokStatus::Revoked)
    }
    let (len, rows) = reach(file, cas_lost);
    assert_eq!(len, 7, "A and B read, A's compare-and-set wins, B's loses, B is refused");
    assert_eq!(rows[0], TokStatus::Superseded { at: 0, uses: 0 });
    assert_eq!(rows[1], TokStatus::Active, "device 2's token");
}

/// derive PR 209: inside 30 s a replay is refused without deleting anything; the deletion of
/// every device's tokens needs a replay more than one tick after the rotation.
#[test]
fn derive_pr209_a_replay_inside_30s_is_refused_without_revoking() {
    let (sc, m, r) = checked("models/derive-pr209-reject-without-revoke.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), LATER_READER_REVOKES);
    assert!(t.steps[5].text.starts_with("device 1 tab B gets 400 invalid_grant"), "{}", t.steps[5].text);
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=1 gen=0 active"]
    );
    let sp9 = trace_of(&m, &sc, &r, "sp9_revocation_scope");
    assert_eq!(
        actions(&sp9),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerWritesRefresh",
            "ClockTicks",
            "ClockTicks",
            "ServerReceivesRefresh"
        ]
    );
    assert!(last_store(&sp9).iter().all(|row| row.ends_with("revoked")));
}

/// openwork PR 4441: a reader between the parent's revocation and the replay payload's write
/// gets 400; a replay after the interval revokes the family while the winner's mint is still to
/// come, and the minted token outlives the revocation (SP2).
#[test]
fn openwork_4441_a_reader_before_the_replay_payload_gets_400() {
    let (sc, m, r) = checked("models/openwork-pr4441-replay-not-yet-stored.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), LATER_READER_REVOKES);
    assert!(t.steps[3].text.contains("step `compare-and-set on the parent` of tab A's refresh"));
    assert!(t.steps[5].text.starts_with("tab B gets 400"), "{}", t.steps[5].text);
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)"], "no successor yet");
    let sp2 = trace_of(&m, &sc, &r, "sp2_detection_permanent");
    let mint = find_step(&sp2, "server", "ServerWritesRefresh", "step `mint and store the replay response` of tab A's");
    assert_eq!(mint, sp2.steps.len() - 1);
    assert_eq!(last_store(&sp2)[1], "token=2 family=0 gen=1 parent=1 active");
}

/// openwork's patch: the reader polls instead of answering 400; it still fails closed when
/// the winner has not stored the payload by its last poll, and never mints a second successor.
#[test]
fn openwork_4441_patch_polls_and_fails_closed_only_past_its_polls() {
    let (sc, m, r) = checked("models/openwork-pr4441-poll-for-replay.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerWritesRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    // A's compare-and-set wins; B reads the parent revoked without a payload and jumps to the
    // poll (`next`), past the compare-and-set; its poll finds nothing and jumps to the
    // fail-closed answer, past the mint.
    assert!(t.steps[3].text.contains("step `compare-and-set on the parent` of tab A's"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.contains("rule `inside the interval, replay response not yet stored: poll`"));
    assert!(t.steps[5].text.contains("step `poll for the replay response` of tab B's"), "{}", t.steps[5].text);
    find_step(&t, "server", "ServerWritesRefresh", "step `polls exhausted` of tab B's");
    assert!(t.steps[7].text.starts_with("tab B gets 400"), "{}", t.steps[7].text);
    assert_eq!(crate::util::status(&r, "sp3_single_lineage"), refresh_check::scenario::Verdict::Holds);

    // The patch's path: a request that read the parent revoked without a stored payload
    // waits to poll (its `next` step, the third, re-reads the store) instead of answering 400.
    fn poller_waiting(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        auth.handlers.iter().any(|h| {
            h.step == 2
                && h.view.row.is_some_and(|r| matches!(r.status, TokStatus::Superseded { .. }) && r.child.is_none())
        })
    }
    let (len, rows) = reach("models/openwork-pr4441-poll-for-replay.json", poller_waiting);
    assert_eq!(len, 5, "A reads and claims, B reads the intermediate state");
    assert_eq!(rows, [TokStatus::Superseded { at: 0, uses: 0 }]);
}

/// OpenIddict issue 916: a second redemption after the first committed revokes the
/// authorization's tokens, the fresh successor included.
#[test]
fn openiddict_916_a_second_redemption_revokes_the_fresh_successor() {
    let (sc, m, r) = checked("models/openiddict-916-redeemed-revokes-chain.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), LATER_READER_REVOKES);
    assert!(t.steps[3].text.contains("step `redeem (optimistic concurrency)` of tab A's refresh"));
    assert!(t.steps[5].text.starts_with("tab B gets 400 invalid_grant"), "{}", t.steps[5].text);
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
}

/// Matrix Authentication Service issue 2795: a retry after a lost answer presents the
/// consumed token and is refused; the consume without a state predicate forks the family.
#[test]
fn mas_2795_a_retry_after_a_lost_answer_is_refused() {
    let (sc, m, r) = checked("models/mas-2795-lost-response-logout.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabRetriesRefresh",
            "ServerWritesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[5].text.starts_with("tab A gets 400 invalid_grant"), "{}", t.steps[5].text);
    let lp2 = trace_of(&m, &sc, &r, "lp2_lost_response_recovery");
    assert_eq!(actions(&lp2), actions(&t)[..5]);
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        actions(&fork),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabRetriesRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh"
        ]
    );
    assert!(last_store(&fork)[1..].iter().all(|row| row.ends_with("parent=1 active")));
}

/// MAS PR 3650: the same retry is served (the unused successor revoked, a new pair issued);
/// the fork of two reads before either consume remains.
#[test]
fn mas_3650_the_retry_is_served_while_the_successor_is_unused() {
    let file = "models/mas-pr3650-replay-while-successor-unused.json";
    let (sc, m, r) = checked(file);
    use refresh_check::scenario::Verdict;
    for p in ["no_spurious_logout", "lp2_lost_response_recovery"] {
        assert_eq!(crate::util::status(&r, p), Verdict::Holds, "{p}");
    }
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(actions(&fork)[4..], ["ServerWritesRefresh", "ServerWritesRefresh"]);

    fn replay_served(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        auth.rows.len() == 3
            && auth.rows[1].status == TokStatus::Revoked
            && model::browser_at(s, m.cfg.browsers[0]).refreshed_ok
    }
    let (len, rows) = reach(file, replay_served);
    assert_eq!(
        len, 7,
        "A sends, the server reads and rotates, A retries, the retry's read and write, A gets the answer"
    );
    assert_eq!(rows, [TokStatus::Superseded { at: 0, uses: 1 }, TokStatus::Revoked, TokStatus::Active]);
}

/// Cloudflare workers-oauth-provider: the previous token is accepted with no time limit and
/// kills the other child; two KV locations fork the grant and lag.
#[test]
fn cloudflare_previous_token_latest_wins_on_eventually_consistent_kv() {
    let (sc, m, r) = checked("models/cloudflare-workers-oauth-provider-kv-previous-token.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "NodeServesRequest",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "NodeServesRequest",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[6].text.contains("to node 2"), "a location the write has not reached: {}", t.steps[6].text);
    let late = trace_of(&m, &sc, &r, "rotated_token_expires");
    assert_eq!(actions(&late)[5..], ["ClockTicks", "NodeServesRequest"]);
    assert!(last_store(&late).contains(&"node 1: token=2 family=0 gen=1 parent=1 revoked".to_string()), "latest wins");
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert!(fork.steps[4].text.contains("to node 1") && fork.steps[5].text.contains("to node 2"));
}

/// OpenIddict's reuse leeway: the duplicate redemption of issue 916 gets a token of its own (a
/// fork) instead of revoking the successor; the chain is revoked only by a duplicate after the
/// leeway.
#[test]
fn openiddict_leeway_forks_inside_and_revokes_the_chain_after() {
    let (sc, m, r) = checked("models/openiddict-reuse-leeway.json");
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        actions(&fork),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh"
        ]
    );
    assert!(fork.steps[5].text.contains("step `redeem and issue` of tab B's refresh"), "{}", fork.steps[5].text);
    assert!(last_store(&fork)[1..].iter().all(|row| row.ends_with("parent=1 active")), "{:?}", last_store(&fork));
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerWritesRefresh",
            "ClockTicks",
            "ClockTicks",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
}

/// Dex issue 973: the second device's sign-in with the same client deletes the first
/// device's refresh token (one slot per client and user), so the first device's next refresh
/// is refused (400) and it is logged out; with two clients each keeps its own slot.
#[test]
fn dex_973_a_sign_in_with_the_same_client_replaces_the_other_devices_token() {
    use stateright::Model;
    let file = "models/dex-973-sign-in-replaces-client-token.json";
    let (sc, m, r) = checked(file);
    let init = m.init_states();
    let auth = model::auth_server_at(&init[0], m.cfg.server).unwrap();
    let rows: Vec<TokStatus> = auth.rows.iter().map(|r| r.status).collect();
    assert_eq!(rows, [TokStatus::Revoked, TokStatus::Active], "device 2's sign-in deleted device 1's token");
    assert_eq!(auth.families.iter().map(|f| (f.session, f.client)).collect::<Vec<_>>(), [(0, 0), (1, 0)]);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), ["TabSendsRefresh", "ServerReceivesRefresh", "TabReceivesRefreshResponse"]);
    assert!(
        t.steps[1].text.contains("device 1 tab A's")
            && t.steps[1].text.contains("rule `deleted by a later sign-in` → invalid_request"),
        "{}",
        t.steps[1].text
    );
    assert!(t.steps[2].text.starts_with("device 1 tab A gets 400"), "{}", t.steps[2].text);
    assert_eq!(trace_of(&m, &sc, &r, "converges_to_live_token").steps.len(), 0, "dead at rest from the start");

    let (_, m, r) = checked("models/dex-973-two-clients-keep-their-tokens.json");
    let auth = model::auth_server_at(&m.init_states()[0], m.cfg.server).unwrap().clone();
    assert!(auth.rows.iter().all(|r| r.status == TokStatus::Active), "another client's slot is left alone");
    assert_eq!(auth.families.iter().map(|f| (f.session, f.client)).collect::<Vec<_>>(), [(0, 0), (0, 1)]);
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
}

/// Keycloak issue 26532: the revocation of client 1's offline token removes the user session
/// both clients' offline sessions hang from; client 2's refresh is then refused. After PR
/// 35696 only the token's client session goes.
#[test]
fn keycloak_26532_revoking_one_clients_offline_token_ends_the_other_clients() {
    let (sc, m, r) = checked("models/keycloak-26532-revoke-offline-kills-other-client.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "TabSignsOut",
            "ServerReceivesLogout",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[1].text.contains("signs out in device 2 tab A"), "{}", t.steps[1].text);
    assert!(t.steps[3].text.contains("device 1 tab A's") && t.steps[3].text.contains("offline user session not found"));
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=1 gen=0 revoked"]);

    // The report's order: the revocation answered first, then client 2 refreshes.
    fn refused_after_revocation(m: &RefreshModel, s: &State) -> bool {
        let b = |i: usize| model::browser_at(s, m.cfg.browsers[i]);
        let out = |i: usize| b(i).tabs[0].status == model::browser::TabStatus::LoggedOut;
        out(0) && out(1) && b(1).truth.signed_out && !b(0).truth.signed_out
    }
    let (len, rows) = reach("models/keycloak-26532-revoke-offline-kills-other-client.json", refused_after_revocation);
    assert_eq!(len, 6, "revoke, its 200, then client 2's refresh, refused");
    assert_eq!(rows, [TokStatus::Revoked, TokStatus::Revoked]);

    let (_, _, r) = checked("models/keycloak-pr35696-revoke-one-client-session.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let (path, exhaustive, _) = crate::util::shortest_to(
        &crate::util::scenario("models/keycloak-pr35696-revoke-one-client-session.json", None),
        refused_after_revocation,
    );
    assert!(path.is_none() && exhaustive, "after PR 35696 client 2 keeps refreshing");
}

/// Dex issue 2547: two concurrent downstream refreshes read the same upstream refresh token
/// before either stores its rotation; the upstream rotates it for the first and refuses the
/// second (500). After PR 2692 the upstream call is inside the storage update.
#[test]
fn dex_2547_concurrent_refreshes_burn_the_rotating_upstream_token() {
    let (sc, m, r) = checked("models/dex-2547-upstream-refreshed-per-request.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[4].text.contains("tab A's refresh") && t.steps[4].text.contains("upstream rotates its token"));
    assert!(
        t.steps[5].text.contains("tab B's refresh")
            && t.steps[5].text.contains("upstream refuses its rotated-away token` → server_error")
    );
    assert!(t.steps[6].text.starts_with("tab B gets 500"), "{}", t.steps[6].text);
    let (_, _, r) = checked("models/dex-pr2692-upstream-refreshed-inside-update.json");
    assert_eq!(crate::util::status(&r, "concurrent_refreshes"), refresh_check::scenario::Verdict::Reached);
}

/// Cogtrix issue 2164: the claim runs in the request's transaction and the expiry check after
/// it raises, so the rollback leaves the refused token unrevoked; committing the claim first
/// (the fix the issue proposes) revokes it. No catalogue property tells them apart: the query
/// does.
#[test]
fn cogtrix_2164_a_refused_token_stays_live_when_its_claim_is_rolled_back() {
    fn refused_and_still_active(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        some_tab_logged_out(m, s) && auth.rows[0].status == TokStatus::Active
    }
    let file = "models/cogtrix-2164-claim-rolled-back.json";
    let (_, _, r) = checked(file);
    assert!(r.unique_states > 10);
    let (len, rows) = reach(file, refused_and_still_active);
    assert_eq!(len, 5, "tick, send, claim, expiry check rolled back, 401");
    assert_eq!(rows, [TokStatus::Active], "the claim was undone");
    let fixed = "models/cogtrix-2164-claim-committed-on-reject.json";
    checked(fixed);
    let (path, exhaustive, _) = crate::util::shortest_to(&crate::util::scenario(fixed, None), refused_and_still_active);
    assert!(path.is_none() && exhaustive, "committed: the refused token is revoked");
    fn refused_and_claimed(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        some_tab_logged_out(m, s) && matches!(auth.rows[0].status, TokStatus::Superseded { .. })
    }
    assert_eq!(reach(fixed, refused_and_claimed).0, 5);
}

/// Bike4Mind PR 1801, defect 1: two refreshes read the same current hash and both rotate with
/// no compare-and-swap; the row keeps the last write, so the first rotation's token is a
/// secret the row no longer knows. Presented, it trips reuse detection: the session is revoked
/// and the tab logged out.
#[test]
fn bike4mind_1801_rotation_without_compare_and_swap_strands_a_token() {
    let file = "models/bike4mind-1801-rotation-without-cas.json";
    let (sc, m, r) = checked(file);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "ServerWritesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    // Both reads see token 1 as the row's current hash before either write.
    assert!(t.steps[1].text.contains("rule `the current secret`"), "{}", t.steps[1].text);
    assert!(t.steps[3].text.contains("rule `the current secret`"), "{}", t.steps[3].text);
    assert!(t.steps[7].text.contains("step `write the new hash (no compare-and-swap)` of tab B's"));
    assert!(t.steps[8].text.contains("refresh cookie=2") && t.steps[8].text.contains("no longer knows"));
    assert!(t.steps[9].text.starts_with("tab A gets 400 invalid_grant"), "{}", t.steps[9].text);
    assert_eq!(
        last_store(&t)[..3],
        [
            "token=1 family=0 gen=0 revoked",
            "token=2 family=0 gen=1 parent=1 revoked",
            "token=3 family=0 gen=1 parent=1 revoked"
        ],
        "two children of token 1: the fork, then the whole session revoked"
    );

    // The report's jar: both answers land and the last Set-Cookie is the stranded token's.
    let dead = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert_eq!(
        actions(&dead),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse",
            "TabReceivesRefreshResponse"
        ]
    );
    let end = dead.steps.last().unwrap();
    assert_eq!(end.state.jar.as_deref(), Some("refresh=2"));
    assert_eq!(end.state.store[1], "token=2 family=0 gen=1 parent=1 revoked");
    assert_eq!(end.state.store[2], "token=3 family=0 gen=1 parent=1 active");
    assert_eq!(end.state.store[3], "family 0: current=3, grace_until=1, previous=1, revoked=0");

    // And the whole report: both answers landed, the jar's stranded token is presented, the
    // session is revoked and a tab logged out, with no third rotation.
    fn reported(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        let tabs = &model::browser_at(s, m.cfg.browsers[0]).tabs;
        auth.rows.len() == 3
            && auth.rows[1].parent == Some(1)
            && auth.rows[2].parent == Some(1)
            && tabs.iter().any(|t| t.status == model::browser::TabStatus::LoggedOut)
            && tabs.iter().all(|t| !matches!(t.status, model::browser::TabStatus::Refreshing { .. }))
    }
    let (len, rows) = reach(file, reported);
    assert_eq!(
        len, 11,
        "both send, read and write; both answers land, the stranded one last; it is presented and refused"
    );
    assert!(rows.iter().all(|s| *s == TokStatus::Revoked));
}

/// Bike4Mind PR 1801's fix: the compare-and-swap lets one of two concurrent refreshes rotate;
/// the loser is coalesced (an access token, no Set-Cookie), so the jar keeps the winner's
/// token and no fork exists. What is left is a request overtaken by two rotations: its token
/// is two generations back, which the design treats as theft.
#[test]
fn bike4mind_pr1801_the_compare_and_swap_loser_is_coalesced() {
    let file = "models/bike4mind-pr1801-compare-and-swap.json";
    let (sc, m, r) = checked(file);
    assert_eq!(crate::util::status(&r, "sp3_single_lineage"), refresh_check::scenario::Verdict::Holds);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[8].text.contains("refresh cookie=1") && t.steps[8].text.contains("theft"), "{}", t.steps[8].text);
    assert_eq!(last_store(&t)[2], "token=3 family=0 gen=2 parent=2 revoked", "a chain, not a fork");

    // Both tabs' concurrent refreshes of token 1 end with one rotation and both tabs signed in.
    fn coalesced(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        let b = model::browser_at(s, m.cfg.browsers[0]);
        auth.rows.len() == 2
            && b.jar.refresh == Some(2)
            && b.tabs.iter().all(|t| t.status == model::browser::TabStatus::Idle && t.refreshes_left == 1)
    }
    let (len, rows) = reach(file, coalesced);
    assert_eq!(len, 7, "both send and read, A's compare-and-swap wins, B's loses and is coalesced, both answers land");
    assert_eq!(rows[1], TokStatus::Active);
}

/// Neon MCP server before PR 232: the client's answer is lost and it retries with the
/// just-rotated token more than 5 minutes later; the proxy has deleted the token and the
/// success cache's entry has expired: 400, re-authentication. Hydra never sees the retry.
#[test]
fn neon_232_a_retry_later_than_the_success_cache_ttl_is_refused() {
    let (sc, m, r) = checked("models/neon-mcp-232-success-cache-5-minutes.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabRetriesRefresh",
            "ClockTicks",
            "ClockTicks",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[1].text.contains("rule `Hydra rotates: save the pair and the success cache`"));
    assert!(
        t.steps[5].text.contains("refresh_token=1") && t.steps[5].text.contains("no cached pair"),
        "{}",
        t.steps[5].text
    );
    assert!(t.steps[6].text.starts_with("tab A gets 400 invalid_grant"), "{}", t.steps[6].text);
    assert_eq!(
        last_store(&t)[..2],
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"],
        "Hydra's chain is intact: the proxy refused the retry itself"
    );
    assert_eq!(crate::util::status(&r, "reuse_detected"), refresh_check::scenario::Verdict::Unreached);
}

/// After PR 232 (30 minutes) the same retry up to 15 minutes later is answered the cached
/// pair; the verdict turns on the TTL against the retry delay, so a horizon past 30 minutes
/// finds the refusal again.
#[test]
fn neon_pr232_the_30_minute_cache_covers_a_retry_inside_it_only() {
    let file = "models/neon-mcp-pr232-success-cache-30-minutes.json";
    let (_, _, r) = checked(file);
    assert_eq!(crate::util::status(&r, "no_spurious_logout"), refresh_check::scenario::Verdict::Holds);
    assert!(r.unique_states > 100, "{}", r.unique_states);

    let mut sc = crate::util::scenario(file, None);
    sc.time.max_ticks = 7;
    let (m, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    assert_eq!(crate::util::status(&r, "no_spurious_logout"), refresh_check::scenario::Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t).iter().filter(|a| *a == "ClockTicks").count(), 7, "a retry 35 minutes later");
    assert!(t.steps[t.steps.len() - 2].text.contains("no cached pair"));
}

/// ayunis-core PR 1047: the loser of the conditional update asks, in a query of its own,
/// whether the token was used within the grace and inserts a successor of its own: a new
/// sibling per replay, and (neither that query nor the insert reads revokedAt) a live token
/// after a sign-out that revoked the family in between (the PR review's finding).
#[test]
fn ayunis_core_1047_the_grace_path_inserts_a_sibling_even_after_sign_out() {
    let (sc, m, r) = checked("models/ayunis-core-pr1047-grace-inserts-a-sibling.json");
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        actions(&fork),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh"
        ]
    );
    assert!(fork.steps[5].text.contains("rule `lost: rolled back`"), "{}", fork.steps[5].text);
    assert!(fork.steps[7].text.contains("step `insert(successor) (own statement)` of tab B's"));
    assert_eq!(
        last_store(&fork)[1..],
        ["token=2 family=0 gen=1 parent=1 active", "token=3 family=0 gen=1 parent=1 active"],
        "two live children of token 1"
    );

    let revived = trace_of(&m, &sc, &r, "logout_revokes_all");
    let out = find_step(&revived, "tab A", "TabSignsOut", "signs out");
    let logout = find_step(&revived, "server", "ServerReceivesLogout", "logout");
    let grace =
        find_step(&revived, "server", "ServerWritesRefresh", "rule `used within the grace (revokedAt not read)`");
    assert!(out < logout && logout < grace, "the sign-out lands between B's lost update and its grace query");
    assert_eq!(revived.steps.len(), 11);
    assert_eq!(
        last_store(&revived),
        [
            "token=1 family=0 gen=0 revoked",
            "token=2 family=0 gen=1 parent=1 revoked",
            "token=3 family=0 gen=1 parent=1 active"
        ],
        "a live token in the family the sign-out revoked"
    );
}

/// Bike4Mind PR 1801, defect 2: an identify call sent with the sign-in access token before a
/// refresh and answered after it puts that token back over the fresh one
/// (`on_call_ok: ["store-echoed-access-token"]`); once it has expired, a call is refused and the
/// tab logged out while the refresh's access token is still valid. Without the reaction
/// neither state is reachable.
#[test]
fn bike4mind_1801_identify_echo_puts_the_stale_access_token_back() {
    let file = "models/bike4mind-1801-identify-echoes-stale-access-token.json";
    let (sc, m, r) = checked(file);
    assert!(r.unique_states > 20, "{}", r.unique_states);
    // The shortest logout is not the report: the model has no refresh before an access token
    // expires, so a tab that never refreshed calls with its expired sign-in token.
    let artifact = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&artifact),
        ["TabSendsCall", "ClockTicks", "ClockTicks", "ClockTicks", "ServerReceivesCall", "TabReceivesCallResponse"]
    );

    // The app holds access token 1 again after it held access token 2.
    fn stale_again(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        let tab = &model::browser_at(s, m.cfg.browsers[0]).tabs[0];
        auth.access.len() == 2
            && tab.access == Some(1)
            && tab.refreshes_left == 0
            && tab.status == model::browser::TabStatus::Idle
    }
    let (path, exhaustive, built) = crate::util::shortest_to(&sc, stale_again);
    assert!(exhaustive);
    let path = path.expect("the echo is reachable");
    // Along the path the tab holds access token 1, then 2 (the refresh's answer), then 1 again
    // (the call's answer), and the call that brings it back was sent before the refresh's
    // answer landed.
    let (init, steps) = search::replay(&built, &path).unwrap();
    let tab_at = |s: &State| model::browser_at(s, built.cfg.browsers[0]).tabs[0];
    let held: Vec<_> = std::iter::once(&init).chain(steps.iter().map(|(_, s)| s)).map(|s| tab_at(s).access).collect();
    let two = held.iter().position(|a| *a == Some(2)).expect("the refresh's access token is held");
    assert_eq!(held[..two].iter().filter(|a| **a != Some(1)).count(), 0, "{held:?}");
    assert_eq!(held.last(), Some(&Some(1)), "{held:?}");
    let sent = std::iter::once(&init)
        .chain(steps.iter().map(|(_, s)| s))
        .position(|s| tab_at(s).call.is_some())
        .expect("a call in flight");
    assert!(sent < two, "the call was sent before the refresh was answered: {held:?}");
    assert_eq!(steps.len(), 7, "the refresh (two server steps), the call and both answers");

    // The report to its end (the model's query): after the echo, the next call presents
    // access token 1 and is refused once it has expired, while access token 2 is valid.
    let q = sc.queries.iter().find(|q| q.name == "stale-token-refused-while-fresh-one-valid").unwrap();
    let o =
        refresh_check::query::answer(&built, &sc.path, &sc.name, sc.browser.tabs, q, &search::SearchConfig::default());
    assert_eq!(o.answer, refresh_check::query::Answer::Reachable);
    let t = o.trace.as_ref().unwrap();
    let last = t.steps.last().unwrap();
    assert!(last.text.contains("401") && last.text.contains("with access token=1"), "{}", last.text);

    // The same app without the reaction: the echoed state is unreachable.
    let mut plain = crate::util::scenario(file, None);
    plain.browser.on_call_ok.clear();
    let (none, exhaustive, _) = crate::util::shortest_to(&plain, stale_again);
    assert!(exhaustive && none.is_none());
}

/// `on_call_ok` without calls is refused with the field and what is expected (exit 2).
#[test]
fn on_call_ok_without_calls_is_refused() {
    let dir = std::env::temp_dir().join(format!("rc-on-call-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::fs::read_to_string(
        crate::util::root().join("models/bike4mind-1801-identify-echoes-stale-access-token.json"),
    )
    .unwrap();
    let bad = src.replace("\"calls_per_tab\": 2,", "\"calls_per_tab\": 0,");
    assert_ne!(bad, src);
    std::fs::write(dir.join("m.json"), bad).unwrap();
    let out = crate::util::cli(&dir, &["models", "validate", "m.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("browser.on_call_ok") && err.contains("calls_per_tab"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The trace of the shortest run matching the model file's own query `name`, which must be
/// reachable.
fn query_trace(sc: &refresh_check::scenario::Scenario, name: &str) -> Trace {
    let built = model::build(sc);
    let q = sc.queries.iter().find(|q| q.name == name).unwrap_or_else(|| panic!("no query {name}"));
    let o =
        refresh_check::query::answer(&built, &sc.path, &sc.name, sc.browser.tabs, q, &search::SearchConfig::default());
    assert_eq!(o.answer, refresh_check::query::Answer::Reachable, "{name}");
    o.trace.unwrap()
}

/// The `(actor, action)` pairs of a trace.
fn pairs(t: &Trace) -> Vec<(String, String)> {
    crate::util::steps(t)
}

/// Tractus-X EDC issue 3002: the provider rotates and overwrites the vault record, the 200
/// never reaches the consumer (a proxy's 504 on a slow refresh, a cancelled request), and the
/// consumer's retry with the token it holds is answered 401; the transfer is broken.
#[test]
fn tractusx_3002_a_lost_refresh_answer_strands_the_transfer() {
    use crate::util::pair;
    let (sc, m, r) = checked("models/tractusx-edc-3002-lost-refresh-response.json");
    // Shortest: the consumer gives up on its slow refresh before the provider has written
    // (the 504 case), the provider rotates, the retry no longer matches the record.
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        pairs(&t),
        [
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A", "TabRetriesRefresh"),
            pair("server", "ServerWritesRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A", "TabReceivesRefreshResponse"),
        ]
    );
    assert!(t.steps[3].text.contains("rule `overwrite the vault record with the new refresh token`"));
    assert!(
        t.steps[4].text.contains("refresh_token=1")
            && t.steps[4].text.contains("rule `does not match the stored refresh token`")
    );
    assert!(
        t.steps[5].text.starts_with("tab A gets 401 AuthenticationFailed and is logged out"),
        "{}",
        t.steps[5].text
    );
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 active", "family 0: current=2"]
    );

    // The report as written: the 200 is lost after the write, then the retry gets 401.
    let q = query_trace(&sc, "answer-lost-then-401");
    let lost = find_step(&q, "network", "NetworkLosesMessage", "refresh token=2");
    let retry = find_step(&q, "tab A", "TabRetriesRefresh", "token=1");
    assert!(lost < retry, "the answer is lost before the consumer retries");
    assert!(q.steps.last().unwrap().text.contains("401"));
}

/// Tractus-X EDC PR 3026: the record keeps the replaced token; the retry after the lost answer
/// is answered 200 with the token the consumer missed and nothing is written, so no consumer is
/// ever refused. Derived, not reported: a retry validated before the slow first request's
/// vault write rotates a second time, and the later write strands the token the consumer kept.
#[test]
fn tractusx_pr3026_the_retry_gets_the_token_it_missed() {
    use crate::util::{pair, status};
    use refresh_check::scenario::Verdict;
    let file = "models/tractusx-edc-pr3026-retire-on-acknowledgement.json";
    let (sc, m, r) = checked(file);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "lp2_lost_response_recovery"), Verdict::Holds);
    assert!(r.unique_states > 30, "searched: {}", r.unique_states);
    let (none, exhaustive, _) = crate::util::shortest_to(&sc, some_tab_logged_out);
    assert!(exhaustive && none.is_none(), "no consumer is ever refused");

    let q = query_trace(&sc, "answer-lost-then-current-token");
    let lost = find_step(&q, "network", "NetworkLosesMessage", "refresh token=2");
    let replayed =
        find_step(&q, "server", "ServerReceivesRefresh", "rule `the token the last rotation replaced: replayed`");
    assert!(lost < replayed);
    assert!(
        q.steps.last().unwrap().text.starts_with("tab A gets 200, refresh token=2"),
        "{}",
        q.steps.last().unwrap().text
    );
    assert_eq!(
        last_store(&q),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "family 0: current=2, previous=1"
        ],
        "nothing rotated for the retry"
    );

    let d = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert_eq!(
        pairs(&d),
        [
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A", "TabRetriesRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("server", "ServerWritesRefresh"),
            pair("tab A", "TabReceivesRefreshResponse"),
            pair("server", "ServerWritesRefresh"),
            pair("network", "NetworkLosesMessage"),
        ]
    );
    assert!(d.steps[3].text.contains("rule `the stored refresh token`"), "the retry validated before any write");
    assert!(d.steps[5].text.starts_with("tab A gets 200, refresh token=2; it stores it"), "{}", d.steps[5].text);
    assert!(d.steps[6].text.contains("rule `acknowledged after another write: rotate over it`"));
    assert_eq!(
        last_store(&d),
        [
            "token=1 family=0 gen=0 superseded at 0, 1 grace use(s)",
            "token=2 family=0 gen=1 parent=1 revoked",
            "token=3 family=0 gen=1 parent=1 active",
            "family 0: current=3, previous=1"
        ]
    );
}

/// Tractus-X EDC PR 3026 with a second refresh: the record now retires the previous token at
/// each rotation (`revoke family.previous`), and the derived race ends in a refusal: the
/// consumer refreshes with the token the overtaking write stranded and is answered 401.
#[test]
fn tractusx_pr3026_a_second_refresh_meets_the_stranded_token() {
    use crate::util::pair;
    let mut sc = crate::util::scenario("models/tractusx-edc-pr3026-retire-on-acknowledgement.json", None);
    sc.browser.refreshes_per_tab = 2;
    let (m, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        pairs(&t),
        [
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A", "TabRetriesRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("server", "ServerWritesRefresh"),
            pair("tab A", "TabReceivesRefreshResponse"),
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerWritesRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A", "TabReceivesRefreshResponse"),
        ]
    );
    assert!(t.steps[7].text.contains("rule `acknowledged after another write: rotate over it`"));
    assert!(t.steps[8].text.contains("refresh_token=2") && t.steps[8].text.contains("rule `matches neither`"));
    assert!(t.steps[9].text.starts_with("tab A gets 401"), "{}", t.steps[9].text);

    // Once the consumer acknowledged token 2 by rotating it, token 1 is retired: a rotation
    // from 2 revokes 1 (the record's previous one before the write).
    fn previous_retired(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        auth.rows.len() == 3
            && auth.rows[0].status == TokStatus::Revoked
            && matches!(auth.rows[1].status, TokStatus::Superseded { .. })
            && auth.rows[2].status == TokStatus::Active
            && auth.rows[2].parent == Some(2)
    }
    let (path, _, _) = crate::util::shortest_to(&sc, previous_retired);
    assert!(path.is_some());
}

/// The late presentation of PR 85's production evidence: worker B's refresh with token 1
/// reaches the server more than one tick (the 2-minute window) after worker A rotated it.
const LATE_PRESENTATION: [&str; 8] = [
    "TabSendsRefresh",
    "ServerReceivesRefresh",
    "TabSendsRefresh",
    "TabReceivesRefreshResponse",
    "ClockTicks",
    "ClockTicks",
    "ServerReceivesRefresh",
    "TabReceivesRefreshResponse",
];

/// OpenLore before PR 85: a presentation of a token rotated more than 2 minutes earlier
/// deletes the whole chain, the token the connection's store holds included, so every later
/// refresh is `unknown_token`; inside the window the retry gets the same successor.
#[test]
fn openlore_85_a_late_presentation_revokes_the_chain() {
    let (sc, m, r) = checked("models/openlore-85-stale-refresh-revokes-chain.json");
    let t = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert_eq!(actions(&t), LATE_PRESENTATION);
    assert_eq!(t.steps[2].actor, "tab B");
    assert!(t.steps[3].text.starts_with("tab A gets 200, refresh token=2"), "{}", t.steps[3].text);
    assert!(
        t.steps[6].text.contains("refresh_token=1")
            && t.steps[6].text.contains("rule `reuse after the window: revoke the chain`"),
        "{}",
        t.steps[6].text
    );
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);

    let q = query_trace(&sc, "retry-inside-the-window-gets-the-same-successor");
    assert!(!actions(&q).contains(&"ClockTicks".to_string()));
    find_step(&q, "server", "ServerReceivesRefresh", "rule `idempotent retry: the same successor`");
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
}

/// OpenLore PR 85: the same late presentation by a `private_key_jwt` client is refused and the
/// chain kept (the connection's token stays live); a public client still loses the chain, and
/// now also inside the window once the successor was used, which before PR 85 was a refusal
/// that kept the chain.
#[test]
fn openlore_pr85_private_key_jwt_clients_keep_the_chain_public_clients_do_not() {
    use crate::util::status;
    use refresh_check::scenario::Verdict;
    let (sc, _, r) = checked("models/openlore-pr85-private-key-jwt-keeps-chain.json");
    assert_eq!(status(&r, "no_dead_credential_at_rest"), Verdict::Holds);
    assert_eq!(status(&r, "converges_to_live_token"), Verdict::Holds);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Unreached);
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "late-presentation-refused-chain-kept");
    assert_eq!(actions(&q), LATE_PRESENTATION);
    assert!(q.steps[6].text.contains("rule `private_key_jwt client: stale, refused, chain kept`"));
    assert_eq!(
        last_store(&q),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "family 0: private_key_jwt=1"
        ]
    );

    let public = "models/openlore-pr85-public-client-revokes-chain.json";
    let (psc, pm, pr) = checked(public);
    let t = trace_of(&pm, &psc, &pr, "no_dead_credential_at_rest");
    assert_eq!(actions(&t), LATE_PRESENTATION);
    assert!(t.steps[6].text.contains("rule `public client: reuse, revoke the chain`"));

    // Three workers: the chain revoked at tick 0, inside the window (A rotates 1, C rotates
    // 2, B presents 1): reachable for a public client after PR 85, unreachable before it.
    fn revoked_inside_the_window(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        model::clock_at(s, m.cfg.server) == 0 && auth.rows.iter().any(|r| r.status == TokStatus::Revoked)
    }
    let (path, _, _) = crate::util::shortest_to(&crate::util::scenario(public, Some(3)), revoked_inside_the_window);
    assert!(path.is_some(), "PR 85, public client");
    let before = crate::util::scenario("models/openlore-85-stale-refresh-revokes-chain.json", Some(3));
    let (path, exhaustive, _) = crate::util::shortest_to(&before, revoked_inside_the_window);
    assert!(exhaustive && path.is_none(), "before PR 85 a stale retry inside the window kept the chain");
}

/// `revoke` of a declared field that holds a number, or of a misspelt field, is refused with
/// the file, line, field path and what is expected (exit 2).
#[test]
fn revoking_a_field_that_is_not_a_token_is_refused() {
    let dir = std::env::temp_dir().join(format!("rc-revoke-field-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src =
        std::fs::read_to_string(crate::util::root().join("models/tractusx-edc-pr3026-retire-on-acknowledgement.json"))
            .unwrap();
    for (field, expected) in [
        ("request.replayed", "it holds a number (tick or count); only a field of type token"),
        ("family.previus", "did you mean `family.previous`?"),
    ] {
        let bad = src.replacen("\"revoke family.previous\"", &format!("\"revoke {field}\""), 1);
        assert_ne!(bad, src);
        std::fs::write(dir.join("m.json"), bad).unwrap();
        let out = crate::util::cli(&dir, &["models", "validate", "m.json"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("m.json:80:17") && err.contains("protocol.refresh.steps[1].rules[1].do[0]"), "{err}");
        assert!(err.contains(expected), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A trace as text, for assertion messages.
fn trace_text(t: &Trace) -> String {
    refresh_check::trace::render_text(t)
}

/// The jar's cookie after each step of a trace, as the trace prints it (`"refresh=2"`,
/// `"session=2 exp=4"`, or `None` once it is cleared).
fn jars(t: &Trace) -> Vec<Option<&str>> {
    t.steps.iter().map(|s| s.state.jar.as_deref()).collect()
}

use refresh_check::check::CheckOptions;
use refresh_check::scenario::Verdict;

use crate::util::{run, status};

const SPRING_19424: &str = "models/spring-security-19424-refresh-changes-session-id.json";

/// Spring Security issue 19424: a refresh saves the refreshed OidcUser through a
/// `WebSessionServerSecurityContextRepository`, whose `save` changes the WebSession id. The
/// shortest logout is the reported race: tab A's request retrieves the session and renames it,
/// then tab B's request with the previous SESSION id retrieves nothing, is answered 401 with
/// the cookie expired, and the front-end re-authenticates.
#[test]
fn spring_security_19424_a_session_id_change_strands_a_concurrent_request() {
    let (sc, m, r) = checked(SPRING_19424);
    assert!(sc.session_server.is_some(), "written as a session_server");
    assert!(r.exhaustive && r.unique_states > 100, "{}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 10, "{}", trace_text(&t));
    let a_read = find_step(&t, "store", "StoreRunsR1", "WHERE token=1 AND expires>=0 for tab A");
    let a_rename = find_step(&t, "store", "StoreRunsW1Rename", "SET token=2, expires=4 WHERE token=1 for tab A");
    let b_sent = find_step(&t, "tab B", "TabSendsRefresh", "session=1");
    let b_read = find_step(&t, "store", "StoreRunsR1", "WHERE token=1 AND expires>=0 for tab B");
    assert!(a_read < a_rename && a_rename < b_read && b_sent < b_read, "{}", trace_text(&t));
    assert!(t.steps[b_read + 1].text.contains("no row for tab B"));
    let last = &t.steps.last().unwrap().text;
    assert!(last.contains("tab B gets 401 Unauthorized") && last.contains("logged out"), "{last}");
    assert_eq!(last_store(&t), ["token=2 expires=4"], "the session lives on under its new id");
    // Two refreshes that both retrieved the session before either renamed it: the second
    // renames nothing and its answer carries an id no session has (the modelling note).
    let t = trace_of(&m, &sc, &r, "cookie_names_live_session");
    let b_read = find_step(&t, "store", "StoreRunsR1", "for tab B");
    let a_rename = find_step(&t, "store", "StoreRunsW1Rename", "SET token=2");
    let b_rename = find_step(&t, "store", "StoreRunsW1Rename", "SET token=3");
    assert!(b_read < a_rename && a_rename < b_rename);
    assert!(t.steps.last().unwrap().text.contains("0 row(s) affected for tab B"));
    // The stranded request's 401 expires the SESSION cookie: arriving after A's Set-Cookie, it
    // also takes away the new id (no_dead_credential_at_rest: A is left with no cookie).
    let t = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    let a_cookie = find_step(&t, "tab A", "TabReceivesRefreshResponse", "Set-Cookie session=2");
    assert_eq!(jars(&t)[a_cookie], Some("session=2 exp=4"));
    assert_eq!(jars(&t).last().unwrap(), &None, "{}", trace_text(&t));
}

/// Spring Security PR 19585: the refreshed context is saved under the same session id. No tab
/// is logged out with two tabs or three, and the save is really reached: the session row is
/// renewed at tick 1 (expires 5) with both tabs answered 200.
#[test]
fn spring_security_pr19585_keeping_the_session_id_logs_no_tab_out() {
    use refresh_check::model::{browser_at, store_at, RefreshModel, State};
    let file = "models/spring-security-pr19585-session-id-kept.json";
    let (sc, _, r) = checked(file);
    assert!(r.exhaustive && r.unique_states > 100, "{}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let three = sc.clone().with_tabs(3).unwrap();
    let (_, r3) = run(&three, &CheckOptions::default());
    assert!(r3.exhaustive && r3.unique_states > r.unique_states);
    assert_eq!(status(&r3, "no_spurious_logout"), Verdict::Holds);
    fn both_answered_after_a_renewal(m: &RefreshModel, s: &State) -> bool {
        let b = browser_at(s, 0);
        store_at(s, m.cfg.store).row(1).is_some_and(|row| row.expires == 5) && b.tabs.iter().all(|t| t.expiry.is_some())
    }
    let (path, exhaustive, _) = crate::util::shortest_to(&sc, both_answered_after_a_renewal);
    assert!(exhaustive);
    assert!(path.is_some(), "the same-id save at tick 1 is reachable");
}

const REVEL_950: &str = "models/revel-950-loser-401-deletes-winner-cookie.json";

/// Revel issue 950, the reported order: tab A's refresh blacklists token 1 and its 200 sets
/// cookie 2; tab B's check then finds token 1 blacklisted, and its 401 deletes the cookies,
/// cookie 2 included; the heal retry goes out with no cookie, is refused again (the "401
/// twice"), and tab B is logged out. Tab A is left signed in with an empty jar.
#[test]
fn revel_950_the_losers_401_deletes_the_winners_cookie() {
    let (sc, m, r) = checked(REVEL_950);
    assert!(r.exhaustive);
    let t = trace_of(&m, &sc, &r, "converges_to_live_token");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerWritesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
            "TabReceivesRefreshResponse",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[4].text.contains("tab B's") && t.steps[4].text.contains("rule `blacklisted: TokenError, 401`"));
    assert!(t.steps[5].text.starts_with("tab A gets 200, refresh token=2"), "{}", t.steps[5].text);
    assert_eq!(jars(&t)[5], Some("refresh=2"), "the winner's cookie is in the jar");
    assert!(t.steps[6].text.starts_with("tab B gets 401 Token refresh failed"), "{}", t.steps[6].text);
    assert!(t.steps[6].text.contains("sends the refresh again with the stored token=none"));
    assert_eq!(jars(&t)[6], None, "the loser's 401 deleted cookie 2");
    let last = &t.steps[8].text;
    assert!(last.starts_with("tab B gets 401 No refresh token available") && last.contains("logged out"), "{last}");
    assert_eq!(last_store(&t)[1], "token=2 family=0 gen=1 parent=1 active", "the session is valid");
    // The same run is a spurious logout: the shortest one is the other order (B's 401 before
    // A's 200, the model's heal retry not waiting its 400 ms), one step shorter.
    let s = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(s.steps.len(), 8);
    assert!(!s.steps.iter().any(|st| st.text.starts_with("tab A gets 200")));
    fn wiped_and_logged_out(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        let b = model::browser_at(s, 0);
        b.jar.refresh.is_none()
            && auth.rows.len() == 2
            && auth.rows[1].status == TokStatus::Active
            && b.tabs.iter().any(|t| t.status == model::browser::TabStatus::LoggedOut)
            && b.tabs.iter().any(|t| t.status != model::browser::TabStatus::LoggedOut && t.expiry.is_some())
    }
    let (len, _) = reach(REVEL_950, wiped_and_logged_out);
    assert_eq!(len, 9, "tab A answered token 2, the jar emptied, tab B logged out");
    // Derived, not reported: the check and the blacklist write are two statements, so two
    // refreshes that both pass the check both mint (a fork).
    let f = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(actions(&f)[3..], ["ServerReceivesRefresh", "ServerWritesRefresh", "ServerWritesRefresh"]);
}

/// The change issue 950 asks for, tried on the model: without the loser's cookie delete the
/// jar is never emptied once token 2 is minted, and the heal retry can pick up the winner's
/// cookie; a spurious logout remains when the loser's retry goes out before the winner's
/// Set-Cookie lands (the 400 ms wait is a heuristic).
#[test]
fn revel_950_without_the_cookie_delete_the_jar_keeps_the_winners_cookie() {
    use refresh_check::model::policy::Reaction;
    let mut sc = crate::util::scenario(REVEL_950, None);
    sc.browser.on_refused = vec![Reaction::Retry, Reaction::LogOut];
    let (m, r) = run(&sc, &CheckOptions::default());
    assert!(r.exhaustive);
    fn jar_emptied_after_rotation(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        auth.rows.len() >= 2 && model::browser_at(s, 0).jar.refresh.is_none()
    }
    let (path, exhaustive, _) = crate::util::shortest_to(&sc, jar_emptied_after_rotation);
    assert!(exhaustive && path.is_none(), "the jar keeps a token");
    fn healed(_: &RefreshModel, s: &State) -> bool {
        let b = model::browser_at(s, 0);
        b.jar.refresh == Some(3) && b.tabs.iter().all(|t| t.status != model::browser::TabStatus::LoggedOut)
    }
    let (path, _, _) = crate::util::shortest_to(&sc, healed);
    assert!(path.is_some(), "the heal retry presents cookie 2 and is answered token 3");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(
        t.steps.iter().any(|s| s.text.contains("sends the refresh again with the stored token=1")),
        "{}",
        trace_text(&t)
    );
}

const GOMBIT_127: &str = "models/gombit-127-lost-cas-revokes-winner.json";

/// gombit issue 127, both cases the issue names: the shortest logout is the loser's lookup
/// after the winner's commit (reuse: every token of the user revoked, token 2 included); the
/// lost compare-and-swap (the loser's lookup before the commit, its UPDATE affecting no row)
/// revokes token 2 too, and the winner, answered 200, is refused at its next API call with
/// access token 2: both tabs logged out. Derived: the revocation can land between the winner's
/// commit and the cookie handler's `ParseAccess`, and the winner is answered 500.
#[test]
fn gombit_127_the_loser_revokes_the_winners_new_token() {
    let (sc, m, r) = checked(GOMBIT_127);
    assert!(r.exhaustive && r.unique_states > 100, "{}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerWritesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[3].text.contains("tab A's refresh") && t.steps[3].text.contains("rule `1 row affected: rotate`"));
    assert!(
        t.steps[4].text.contains("tab B's")
            && t.steps[4].text.contains("rule `revoked: reuse, revoke every token of the user`")
    );
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 revoked",
            "token=2 family=0 gen=1 parent=1 revoked",
            "access token=1 refresh token=1 iat=0 exp=1"
        ],
        "the winner's token 2 revoked with the rest"
    );
    let q = query_trace(&sc, "lost-cas-revokes-the-winner");
    let texts: Vec<&str> = q.steps.iter().map(|s| s.text.as_str()).collect();
    let b_lookup = texts.iter().position(|s| s.contains("tab B's") && s.contains("rule `not revoked`")).unwrap();
    let a_commit = texts.iter().position(|s| s.contains("tab A's refresh") && s.contains("1 row affected")).unwrap();
    let b_lost = texts.iter().position(|s| s.contains("tab B's refresh") && s.contains("0 rows affected")).unwrap();
    let a_refused = texts
        .iter()
        .position(|s| s.starts_with("tab A gets 401 invalid access token") && s.contains("access token=2"))
        .unwrap();
    assert!(b_lookup < a_commit && a_commit < b_lost && b_lost < a_refused, "{}", trace_text(&q));
    assert!(texts.iter().any(|s| s.starts_with("tab A gets 200, refresh token=2")));
    assert_eq!(q.steps.last().unwrap().state.tabs.iter().filter(|t| t.status == "logged out").count(), 2);
    let q = query_trace(&sc, "winner-answered-500");
    assert!(q.steps.last().unwrap().text.contains("rule `its row was revoked meanwhile: 500`"), "{}", trace_text(&q));
}

/// gombit PR 166 across processes (its scope note): a lost compare-and-swap is refused without
/// revoking, so the winner keeps token 2 and its call with access token 2 is served; a lookup
/// after the winner's commit still revokes every token of the user. The tab that lost the race
/// is still logged out, as the PR's in-process coalescing (not expressible here) would avoid.
#[test]
fn gombit_pr166_a_lost_compare_and_swap_no_longer_revokes_the_winner() {
    let (sc, m, r) = checked("models/gombit-pr166-across-processes.json");
    assert!(r.exhaustive);
    let q = query_trace(&sc, "lost-cas-refused-winner-kept");
    let last = q.steps.last().unwrap();
    assert!(last.text.starts_with("tab A gets 200 for its GET /api/v1/auth/me with access token=2"), "{}", last.text);
    assert!(last.state.store.contains(&"token=2 family=0 gen=1 parent=1 active".to_string()));
    let late = query_trace(&sc, "late-lookup-still-revokes-the-winner");
    assert!(late.steps.last().unwrap().text.starts_with("tab A gets 401 invalid access token"));
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 6);
    assert!(t.steps[4].text.contains("rule `revoked: reuse, revoke every token of the user`"));
    // The lost compare-and-swap no longer revokes: the issue's both-logged-out run needs the
    // late lookup (the file's query `lost-cas-never-revokes-the-winner` is unreachable).
    let built = model::build(&sc);
    let q = sc.queries.iter().find(|q| q.name == "lost-cas-never-revokes-the-winner").unwrap();
    let o =
        refresh_check::query::answer(&built, &sc.path, &sc.name, sc.browser.tabs, q, &search::SearchConfig::default());
    assert_eq!(o.answer, refresh_check::query::Answer::Unreachable);
}

const FLOWAY_340: &str = "models/floway-340-rotation-lost-to-quota-write.json";

/// Floway issue 340: a proxied response's quota-snapshot write lands between the rotation's
/// read of `state_json` and its compare-and-swap; the vendor has rotated, the swap fails and
/// the rotated refresh token is dropped; the next rotation presents the consumed token, gets
/// `invalid_grant`, finds the stored token unchanged and flips the account to `refresh_failed`.
/// Without the quota write (no proxied calls) no account is flipped.
#[test]
fn floway_340_a_quota_write_during_rotation_drops_the_rotated_token() {
    let (sc, m, r) = checked(FLOWAY_340);
    assert!(r.exhaustive);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 12, "{}", trace_text(&t));
    let read = find_step(
        &t,
        "server",
        "ServerReceivesRefresh",
        "rule `active: keep the stored refresh token and the blob as read`",
    );
    let quota = find_step(&t, "server", "ServerReceivesCall", "quota snapshot");
    let vendor = find_step(&t, "server", "ServerWritesRefresh", "rule `the vendor's current token: rotated`");
    let lost = find_step(
        &t,
        "server",
        "ServerWritesRefresh",
        "rule `another write changed the blob: the rotation is dropped`",
    );
    let consumed = find_step(&t, "server", "ServerWritesRefresh", "rule `a consumed token: invalid_grant`");
    let flip = find_step(
        &t,
        "server",
        "ServerWritesRefresh",
        "rule `the stored token is the one used: flip to refresh_failed`",
    );
    assert!(read < quota && quota < lost && vendor < lost && lost < consumed && consumed < flip, "{}", trace_text(&t));
    assert!(t.steps.last().unwrap().text.starts_with("tab A gets 401 refresh_failed"));
    let mut quiet = crate::util::scenario(FLOWAY_340, None);
    quiet.browser.calls_per_tab = 0;
    let (_, rq) = run(&quiet, &CheckOptions::default());
    assert!(rq.exhaustive && rq.unique_states > 10);
    assert_eq!(status(&rq, "no_spurious_logout"), Verdict::Holds, "without the quota write the rotation always lands");
}

/// Floway PR 342: the state write applies the rotation to the blob as it is now and retries a
/// lost compare-and-swap, so the same quota write no longer drops the rotated token: no account
/// is flipped, and the run with the quota write between the read and the write is reached.
#[test]
fn floway_pr342_the_retried_state_write_keeps_the_rotated_token() {
    let (sc, _, r) = checked("models/floway-pr342-state-write-retried.json");
    assert!(r.exhaustive && r.unique_states > 50, "{}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let q = query_trace(&sc, "quota-write-during-rotation-kept");
    assert!(q.steps.last().unwrap().text.contains("rule `the vendor's current token: rotated`"), "{}", trace_text(&q));
}

/// The answer to the model file's own query `name` (reachable or unreachable).
fn query_answer(sc: &refresh_check::scenario::Scenario, name: &str) -> refresh_check::query::Answer {
    let built = model::build(sc);
    let q = sc.queries.iter().find(|q| q.name == name).unwrap_or_else(|| panic!("no query {name}"));
    refresh_check::query::answer(&built, &sc.path, &sc.name, sc.browser.tabs, q, &search::SearchConfig::default())
        .answer
}

/// Verath issue 113: both requests pass `verify_refresh_token`'s `find_one` before either
/// inserts the jti, the second insert's DuplicateKeyError is swallowed, and both are answered a
/// new refresh token: the shortest fork is exactly that run. A request that reads after the
/// insert is refused 401 without any reuse detection.
#[test]
fn verath_113_both_requests_pass_the_blacklist_check_and_fork() {
    let (sc, m, r) = checked("models/verath-113-check-then-act-forks.json");
    assert!(r.exhaustive && r.unique_states > 10, "{}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh"
        ]
    );
    for i in [1, 3] {
        assert!(t.steps[i].text.contains("rule `jti not blacklisted`"), "{}", trace_text(&t));
    }
    for i in [4, 5] {
        assert!(t.steps[i].text.contains("rule `blacklist the old jti and issue a new pair`"), "{}", trace_text(&t));
    }
    assert!(t.steps[4].text.contains("tab A's") && t.steps[5].text.contains("tab B's"));
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ],
        "token 1 exchanged twice: two live successors"
    );
    let q = query_trace(&sc, "one-token-exchanged-twice");
    let n = q.steps.len();
    assert_eq!(n, 8);
    assert!(q.steps[n - 2].text.starts_with("tab A gets 200, refresh token=2"), "{}", trace_text(&q));
    assert!(q.steps[n - 1].text.starts_with("tab B gets 200, refresh token=3"), "{}", trace_text(&q));
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(t.steps[4].text.contains("rule `jti blacklisted: 401`"), "{}", trace_text(&t));
    assert!(t.steps.last().unwrap().text.starts_with("tab B gets 401 invalid_token and is logged out"));
}

/// Verath PR 206: the insert of the old jti is the first database operation and its unique
/// index admits one; the other request is refused 401 before any token is issued. The token is
/// never exchanged twice, and the loser (who holds no other token) is logged out, as the PR's
/// test of one 200 and one 401 expects.
#[test]
fn verath_pr206_insert_first_admits_one_exchange() {
    let (sc, m, r) = checked("models/verath-pr206-insert-first.json");
    assert!(r.exhaustive && r.unique_states > 5, "{}", r.unique_states);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 5);
    assert!(t.steps[3].text.contains("rule `DuplicateKeyError: 401`"), "{}", trace_text(&t));
    let q = query_trace(&sc, "one-200-one-401");
    assert!(q.steps.iter().any(|s| s.text.starts_with("tab A gets 200, refresh token=2")), "{}", trace_text(&q));
    assert_eq!(query_answer(&sc, "never-exchanged-twice"), refresh_check::query::Answer::Unreachable);
}

/// F3 Nation issue 375: the page's navigation and one of its sub-resource requests each refresh
/// in the middleware with the same refresh cookie; the server deletes the token on first use,
/// so the second is refused, and its response clears the cookies the first has just set. The
/// shortest logout is the race; the query pins the cookie the winner set being cleared.
#[test]
fn f3_nation_375_the_losing_request_clears_the_winners_cookies() {
    let (sc, m, r) = checked("models/f3-nation-375-middleware-refresh-clears-cookies.json");
    assert!(r.exhaustive && r.unique_states > 20, "{}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "RequesterSendsRefresh",
            "ServerWritesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[3].text.contains("tab A's refresh") && t.steps[3].text.contains("rule `delete and insert`"));
    assert!(
        t.steps[4].text.contains("tab A's requester 2") && t.steps[4].text.contains("rule `no row: invalid_grant`")
    );
    assert!(t.steps[5].text.contains("logs tab A out"));
    let q = query_trace(&sc, "loser-clears-the-winners-cookies");
    let jar = jars(&q);
    let n = jar.len();
    assert_eq!(jar[n - 2], Some("refresh=2"), "the winner's cookie was set: {}", trace_text(&q));
    assert_eq!(jar[n - 1], None, "the loser's response cleared it");
    assert!(q.steps[n - 1].text.starts_with("tab A's requester 2 gets 400 invalid_grant"));
    // Both requests may also select before either deletes: two new tokens, a fork.
    let f = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(f.steps.iter().filter(|s| s.text.contains("rule `delete and insert`")).count(), 2);
}

/// F3 Nation after issue 375: a sub-resource request's refusal leaves the cookies alone, and
/// the server refuses a race's loser inside 10 s without revoking: nobody is logged out and the
/// jar keeps the winner's cookie. A loser delivered later than the window is taken for a replay
/// and deletes the winner's token with the rest (derived, not reported).
#[test]
fn f3_nation_375_fix_keeps_the_winners_cookie() {
    let (sc, m, r) = checked("models/f3-nation-375-fix-subresource-401-keeps-cookies.json");
    assert!(r.exhaustive && r.unique_states > 100, "{}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    let q = query_trace(&sc, "race-loser-refused-cookies-kept");
    assert_eq!(q.steps.last().unwrap().state.jar.as_deref(), Some("refresh=2"), "{}", trace_text(&q));
    assert!(q.steps.iter().any(|s| s.text.contains("rule `0 rows, rotated within 10 s: refuse only this request`")));
    let late = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert!(
        late.steps.iter().any(|s| s.text.contains("rule `0 rows, rotated earlier: replay")),
        "{}",
        trace_text(&late)
    );
    assert_eq!(
        last_store(&late),
        ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"],
        "the winner's token deleted with the rest"
    );
    assert_eq!(late.steps.last().unwrap().state.jar.as_deref(), Some("refresh=2"));
}

/// angular-auth-oidc-client issues 1662 and 1838: two tabs renew with the one refresh token
/// in the shared localStorage; the loser's error resets the authorization data, which removes
/// the tokens the winner has just stored: both tabs are left with nothing.
#[test]
fn angular_auth_oidc_client_1838_the_losers_reset_empties_every_tab() {
    let (sc, m, r) = checked("models/angular-auth-oidc-client-1838-shared-storage-reset.json");
    assert!(r.exhaustive && r.unique_states > 5, "{}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 5);
    assert!(t.steps[3].text.contains("tab B's") && t.steps[3].text.contains("invalid_grant"));
    let q = query_trace(&sc, "loser-resets-every-tab");
    let jar = jars(&q);
    let n = jar.len();
    assert_eq!(jar[n - 2], Some("localStorage refresh_token=2"), "{}", trace_text(&q));
    assert_eq!(jar[n - 1], None);
    assert!(q.steps[n - 1].text.starts_with("tab B gets 400 invalid_grant, clears the stored token"));
}

/// angular-auth-oidc-client PR 2237: the tab that waited for the Web Lock compares, once
/// granted, the stored token with the one it queued with (`lock_granted:
/// "skip-if-token-changed"`); tab A renewed meanwhile, so tab B reuses token 2 and sends no
/// token request. No renewal is refused, nothing resets the storage, and a tab that waited
/// never presents the rotated-to token (the model on `main` rotated a second time there).
#[test]
fn angular_auth_oidc_client_pr2237_the_waiting_tab_reuses_the_stored_token() {
    let (sc, _, r) = checked("models/angular-auth-oidc-client-pr2237-refresh-token-lock.json");
    assert!(r.exhaustive);
    assert_eq!((r.states, r.unique_states), (21, 18));
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "no_dead_credential_at_rest"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Unreached);
    let q = query_trace(&sc, "waiter-reuses-the-stored-token");
    assert_eq!(
        actions(&q),
        ["TabSendsRefresh", "ServerReceivesRefresh", "TabWaitsForLock", "TabReceivesRefreshResponse"],
        "{}",
        trace_text(&q)
    );
    assert_eq!(q.steps[2].actor, "tab B");
    assert_eq!(
        q.steps[3].text,
        "tab A gets 200, refresh token=2; it stores it; tab B is granted the lock; the stored token (2) is not the one it queued with (1): it uses it and sends no refresh"
    );
    assert_eq!(query_answer(&sc, "no-second-rotation"), refresh_check::query::Answer::Unreachable);
    assert_eq!(query_answer(&sc, "no-tab-reset"), refresh_check::query::Answer::Unreachable);
}

/// RingCentral's widgets (`lockRefresh`): a tab granted the Web Lock asks whether the access
/// token in the shared cache is valid and, another tab having renewed, answers with the stored
/// data. Three tabs: the two that queued behind tab A's renewal both skip in A's answer step, and
/// a tab that queued behind a later renewal compares with the token stored when it queued.
#[test]
fn ringcentral_lock_refresh_two_waiters_reuse_one_rotation() {
    let (sc, _, r) = checked("models/ringcentral-widgets-lock-refresh-checks-token-valid.json");
    assert!(r.exhaustive);
    assert_eq!((r.states, r.unique_states), (127, 92));
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "converges_to_live_token"), Verdict::Holds);
    let q = query_trace(&sc, "two-waiters-reuse-one-rotation");
    assert_eq!(
        actions(&q),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabWaitsForLock",
            "TabWaitsForLock",
            "TabReceivesRefreshResponse"
        ],
        "{}",
        trace_text(&q)
    );
    let skip = |t: &str, now: u8, then: u8| {
        format!("{t} is granted the lock; the stored token ({now}) is not the one it queued with ({then}): it uses it and sends no refresh")
    };
    assert_eq!(
        q.steps[4].text,
        format!("tab A gets 200, refresh token=2; it stores it; {}; {}", skip("tab B", 2, 1), skip("tab C", 2, 1))
    );
    let later = query_trace(&sc, "a-later-waiter-compares-with-its-own-token");
    assert_eq!(later.steps.len(), 7, "{}", trace_text(&later));
    assert!(later.steps[6].text.ends_with(&skip("tab C", 3, 2)), "{}", later.steps[6].text);
    assert_eq!(query_answer(&sc, "no-tab-reset"), refresh_check::query::Answer::Unreachable);
}

/// angular-oauth2-oidc issue 1509: the automatic silent refresh and the application's own call
/// run `refreshToken()` in one tab with the same stored token; Keycloak (Revoke Refresh Token,
/// Max Reuse 0) rotates for the first and detaches the client session for the second, which
/// revokes the token the first has just stored. Nobody logs out on the error, so the tab is left
/// at rest holding a revoked refresh token.
#[test]
fn angular_oauth2_oidc_1509_the_second_call_revokes_the_stored_token() {
    let (sc, m, r) = checked("models/angular-oauth2-oidc-1509-refresh-without-dedup.json");
    assert!(r.exhaustive && r.unique_states > 10, "{}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let t = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "RequesterSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[2].text.contains("tab A's requester 2") && t.steps[2].text.contains("(token=1)"));
    assert!(t.steps[3].text.contains("rule `reuse`"), "{}", trace_text(&t));
    assert!(t.steps[4].text.starts_with("tab A gets 200, refresh token=2"));
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"],
        "the stored token 2 revoked by the reuse detection"
    );
    let q = query_trace(&sc, "second-call-revokes-the-stored-token");
    assert_eq!(q.steps.len(), 5, "{}", trace_text(&q));
}

/// The `(actor, action)` pairs of the report runs below: a page's two requests carry one
/// refresh cookie, and the second is refused once the first has consumed the token.
fn page_requests_race(consume: &[(&str, &str)]) -> Vec<(String, String)> {
    use crate::util::pair;
    let mut v = vec![pair("tab A", "TabSendsRefresh"), pair("server", "ServerReceivesRefresh")];
    v.push(pair("tab A's requester 2", "RequesterSendsRefresh"));
    v.extend(consume.iter().map(|(a, b)| pair(a, b)));
    v.push(pair("server", "ServerReceivesRefresh"));
    v.push(pair("tab A's requester 2", "TabReceivesRefreshResponse"));
    v
}

/// thewca/worldcubeassociation.org issue 14722: Doorkeeper revokes the presented refresh token
/// in the refresh transaction; the page's second request (Auth.js refreshes in the jwt callback
/// of every request, `cache()` dedups within one render only) presents it after the first
/// rotated it, is refused, and `sessionOrSignIn` signs the user out.
#[test]
fn wca_14722_the_second_request_of_a_page_is_refused_and_signs_out() {
    let (sc, m, r) = checked("models/wca-14722-double-refresh-logs-out.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(pairs(&t), page_requests_race(&[]));
    assert!(t.steps[1].text.contains("rule `not revoked: revoke it and create a new token (locked transaction)`"));
    assert!(t.steps[2].text.contains("with the jar's refresh cookie (token=1)"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("refresh cookie=1") && t.steps[3].text.contains("rule `revoked: invalid_grant`"));
    assert!(t.steps[4].text.contains("400 invalid_grant and logs tab A out"), "{}", t.steps[4].text);
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
}

/// WCA PR 14532: Doorkeeper's revoke-on-use (the `previous_refresh_token` column). Both of the
/// page's requests get a pair (the PR's spec), and no refresh is refused before an API call
/// presents a new access token. Derived, not reported: a request that reaches Doorkeeper only
/// after the page's API call with the winner's access token is refused (the call revoked the
/// old token), 8 steps; the old token stays valid across a tick (`rotated_token_expires`).
#[test]
fn wca_pr14532_revoke_on_use_serves_both_requests_until_the_new_access_token_is_used() {
    let (sc, m, r) = checked("models/wca-pr14532-revoke-on-use.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    assert_eq!(query_answer(&sc, "no-refusal-before-an-api-call"), refresh_check::query::Answer::Unreachable);
    let both = query_trace(&sc, "both-concurrent-refreshes-served");
    assert_eq!(
        both.steps.last().unwrap().text,
        "tab A's requester 2 gets 200, refresh token=3, access token=3; it stores it"
    );
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(pairs(&fork), page_requests_race(&[])[..4]);
    assert!(fork.steps[3].text.contains("rule `not revoked: a new token records this one as previous_refresh_token`"));
    assert_eq!(
        last_store(&fork),
        [
            "token=1 family=0 gen=0 superseded at 0, 1 grace use(s); previous_refresh_token=none",
            "token=2 family=0 gen=1 parent=1 active; previous_refresh_token=1",
            "token=3 family=0 gen=1 parent=1 active; previous_refresh_token=1",
            "access token=1 refresh token=1 iat=0 exp=4",
            "access token=2 refresh token=2 iat=0 exp=4",
            "access token=3 refresh token=3 iat=0 exp=4"
        ]
    );
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        pairs(&t),
        page_requests_race(&[
            ("tab A", "TabReceivesRefreshResponse"),
            ("tab A", "TabSendsCall"),
            ("server", "ServerReceivesCall")
        ])
    );
    assert!(t.steps[5].text.contains("(access token=2): rule `accessible: revoke the previous refresh token` → ok"));
    assert!(t.steps[6].text.contains("refresh cookie=1") && t.steps[6].text.contains("rule `revoked: invalid_grant`"));
    assert_eq!(last_store(&t)[0], "token=1 family=0 gen=0 revoked; previous_refresh_token=none");
}

/// openauth issue 2 (OpenAuth 0.3.2): the refresh grant reads the key, removes it and stores a
/// new one in three storage calls. The second request of a page read after the first removed
/// the key: 400 and the user is signed out (the report). Derived: both read before either
/// removes, and both get a new refresh token (a fork).
#[test]
fn openauth_2_single_use_keys_refuse_the_second_request_or_fork() {
    let (sc, m, r) = checked("models/openauth-2-single-use-concurrent-refresh.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(pairs(&t), page_requests_race(&[("server", "ServerWritesRefresh")]));
    assert!(t.steps[3].text.contains("step `Storage.remove the refresh key` of tab A's refresh"));
    assert!(t.steps[4].text.contains("rule `no payload: used or expired` → invalid_grant"), "{}", t.steps[4].text);
    assert!(t.steps[5].text.contains("400 invalid_grant and logs tab A out"));
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(fork.steps.len(), 8);
    let a_read = find_step(&fork, "server", "ServerReceivesRefresh", "tab A's POST");
    let b_read = find_step(&fork, "server", "ServerReceivesRefresh", "requester 2's POST");
    let a_remove = find_step(&fork, "server", "ServerWritesRefresh", "Storage.remove the refresh key` of tab A's");
    assert!(a_read < b_read && b_read < a_remove, "both read the key before either removes it");
    assert_eq!(
        &last_store(&fork)[1..],
        ["token=2 family=0 gen=1 parent=1 active", "token=3 family=0 gen=1 parent=1 active"]
    );
}

/// openauth PR 117: the first use stamps `timeUsed` and stores the successor reserved in the
/// payload; a use inside the 60 s interval gets that same successor. The page's two requests
/// both get token 2, and nothing is refused before a tick. A request that starts more than the
/// interval after the rotation (the jar still holding the old cookie because the first
/// request's answer is still to come) finds the key expired: 400, signed out (9 steps).
#[test]
fn openauth_pr117_concurrent_requests_share_the_reserved_successor() {
    let (sc, m, r) = checked("models/openauth-pr117-reuse-interval.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    assert_eq!(query_answer(&sc, "no-refusal-inside-the-interval"), refresh_check::query::Answer::Unreachable);
    let q = query_trace(&sc, "both-requests-get-the-reserved-successor");
    assert_eq!(
        last_store(&q),
        ["token=1 family=0 gen=0 superseded at 0, 1 grace use(s)", "token=2 family=0 gen=1 parent=1 active"]
    );
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let ticks = t.steps.iter().filter(|s| s.action == "ClockTicks").count();
    assert_eq!(ticks, 2, "refused only past the interval");
    let sent = find_step(&t, "tab A's requester 2", "RequesterSendsRefresh", "token=1");
    assert!(
        t.steps[..sent].iter().all(|s| s.action != "TabReceivesRefreshResponse"),
        "the first answer is still to come"
    );
    assert!(t.steps[sent + 1].text.contains("rule `past the interval: key expired (retention 0)` → invalid_grant"));
    let late = trace_of(&m, &sc, &r, "rotated_token_expires");
    assert!(late.steps.last().unwrap().text.contains("rule `store the reserved successor` → ok minted"));
}

/// Eventra issue 12794: the logout presents the access token (`sign_out.presents:
/// access_token`) and blacklists it only; a refresh token copied before the logout is rotated
/// after it (the report), and the signed-out access token is the one revoked.
#[test]
fn eventra_12794_a_logout_that_blacklists_the_access_token_leaves_the_refresh_token_live() {
    let file = "models/eventra-12794-logout-blacklists-access-token-only.json";
    let (sc, m, r) = checked(file);
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    assert_eq!(
        actions(&t),
        ["TabSignsOut", "ServerReceivesLogout", "AttackerRedeems", "ServerReceivesRefresh", "ServerWritesRefresh"]
    );
    assert_eq!(
        t.steps[0].text,
        "the user signs out in tab A: POST /api/auth/logout with the access token it holds (access token=1)"
    );
    assert_eq!(t.steps[1].text, "server receives tab A's POST /api/auth/logout (access token=1)");
    assert!(t.steps[4].text.contains("rule `rotate` → ok minted"));
    // The store's rows show the access tokens too: the one the sign-out blacklisted, and the
    // new pair's.
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "access token=1 refresh token=1 iat=0 exp=4 revoked",
            "access token=2 refresh token=2 iat=0 exp=4",
        ]
    );
    assert_eq!(t.steps[1].state.store[1], "access token=1 refresh token=1 iat=0 exp=4 revoked");
    assert_eq!(t.steps[0].state.store[1], "access token=1 refresh token=1 iat=0 exp=4");
    assert_eq!(query_trace(&sc, "refresh-after-logout-served").steps.len(), 6);

    // The effect: the sign-out revokes access token 1, and only it.
    fn blacklisted(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        auth.access.first().is_some_and(|a| a.revoked)
    }
    let (len, rows) = reach(file, blacklisted);
    assert_eq!(len, 2, "the tab signs out, the server blacklists access token 1");
    assert_eq!(rows, [TokStatus::Active], "refresh token 1 is left active");
}

/// Eventra's fix (af64a09ce): the logout also blacklists the refresh token the app sends with
/// the access token (the pair it holds): a refresh checked after the logout is refused; one
/// checked before it and written after it still gets a pair (the check and the write are two
/// steps).
#[test]
fn eventra_pr12794_the_logout_also_revokes_the_refresh_token() {
    let file = "models/eventra-pr12794-logout-revokes-refresh-token.json";
    let (sc, m, r) = checked(file);
    assert_eq!(query_answer(&sc, "no-refresh-read-after-logout-served"), refresh_check::query::Answer::Unreachable);
    assert_eq!(crate::util::status(&r, "sign_out_no_session_revived"), refresh_check::scenario::Verdict::Holds);
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    let read = find_step(&t, "server", "ServerReceivesRefresh", "rule `valid and not blacklisted`");
    let logout = find_step(&t, "server", "ServerReceivesLogout", "access token=1");
    let write = find_step(&t, "server", "ServerWritesRefresh", "rule `rotate`");
    assert!(read < logout && logout < write, "checked before the logout, written after it");
    assert_eq!(last_store(&t)[0], "token=1 family=0 gen=0 revoked");
    fn logged_out_and_revoked(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        auth.access.first().is_some_and(|a| a.revoked) && auth.rows[0].status == TokStatus::Revoked
    }
    assert_eq!(reach(file, logged_out_and_revoked).0, 2);
}

/// `presents` is refused on a refresh that would present the access token alone, and the `access.` columns in a
/// sign-out that presents the refresh token say how to present the access token; each names
/// the file, the line and the field (exit 2).
#[test]
fn sign_out_presents_is_validated() {
    let src = std::fs::read_to_string(
        crate::util::root().join("models/eventra-12794-logout-blacklists-access-token-only.json"),
    )
    .unwrap();
    let cases = [
        (
            src.replacen("\"refresh\": {\n", "\"refresh\": {\n      \"presents\": \"access_token\",\n", 1),
            "\"presents\"",
            "protocol.refresh.presents",
            "a refresh presents the refresh token; the access token only beside it",
        ),
        (
            src.replacen("      \"presents\": \"access_token\",\n", "", 1),
            "\"revoke access\"",
            "protocol.sign_out.rules[0].do[0]",
            "`\"presents\": \"access_token\"` in `sign_out`",
        ),
        (
            src.replacen("\"presents\": \"access_token\"", "\"presents\": []", 1),
            "\"presents\"",
            "protocol.sign_out.presents",
            "a list of \"refresh_token\" and \"access_token\", each at most once and at least one of them; found \"[]\"",
        ),
        (
            src.replacen("\"presents\": \"access_token\"", "\"presents\": [\"access_token\", \"access_token\"]", 1),
            "\"presents\"",
            "protocol.sign_out.presents",
            "each at most once",
        ),
        (
            src.replacen("\"presents\": \"access_token\"", "\"presents\": [\"access_token\", \"bearer\"]", 1),
            "\"presents\"",
            "protocol.sign_out.presents[1]",
            "unknown variant `bearer`, expected `refresh_token` or `access_token`",
        ),
        (
            src.replacen("\"presents\": \"access_token\"", "\"presents\": [\"access_token\", \"refresh_token\"]", 1)
                .replacen("\"name\": \"blacklist the access JWT\",", "\"name\": \"blacklist the access JWT\", \"when\": \"not presented.access.used\",", 1),
            "\"name\": \"blacklist the access JWT\"",
            "protocol.sign_out.rules[0]",
            "reads the presented access token as `access.`",
        ),
    ];
    crate::util::refused_at(&src, &cases);
}

/// laravel/passport issue 1185: two tabs refresh with the one httpOnly cookie; the grant checks
/// `isRefreshTokenRevoked`, revokes, then inserts, each its own query. The tab whose check runs
/// after the other's revocation is answered 401 and logged out (the report); two checks before
/// either revocation both get a new pair (derived).
#[test]
fn laravel_passport_1185_the_second_tab_meets_the_revoked_cookie() {
    let (sc, m, r) = checked("models/laravel-passport-1185-two-tabs-refresh-cookie.json");
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        pairs(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[2].text.contains("with the jar's refresh cookie (token=1)"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("rule `revoke the old refresh token`"), "{}", t.steps[3].text);
    assert!(
        t.steps[4].text.contains("refresh cookie=1")
            && t.steps[4].text.contains("rule `revoked: The refresh token is invalid`")
    );
    assert_eq!(t.steps[5].text, "tab B gets 401 invalid_request and is logged out");
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(fork.steps.len(), 8);
    assert!(fork.steps[3].text.contains("tab B's") && fork.steps[3].text.contains("rule `not revoked`"));
    assert_eq!(
        last_store(&fork),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
}

/// laravel/passport PR 1790's "Dead end!": the old refresh token is revoked before the answer,
/// the answer is lost, the client's retry with the token it holds is refused and it is signed
/// out. The shortest counterexample is that run, step by step.
#[test]
fn laravel_passport_pr1790_a_lost_answer_is_a_dead_end() {
    let (sc, m, r) = checked("models/laravel-passport-pr1790-lost-response-dead-end.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        pairs(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("network", "NetworkLosesMessage"),
            ("tab A", "TabRetriesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[3].text.contains("rule `persist the new pair` → ok minted"));
    assert!(t.steps[4].text.contains("200, refresh token=2"), "{}", t.steps[4].text);
    assert!(t.steps[5].text.contains("times out") && t.steps[5].text.contains("(token=1)"), "{}", t.steps[5].text);
    assert!(t.steps[6].text.contains("rule `revoked: The refresh token is invalid`"));
    assert_eq!(t.steps[7].text, "tab A gets 401 invalid_request and is logged out");
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 superseded at 0, 0 grace use(s)", "token=2 family=0 gen=1 parent=1 active"],
        "the pair the client never got is live"
    );
    let lp2 = trace_of(&m, &sc, &r, "lp2_lost_response_recovery");
    assert_eq!(pairs(&lp2), pairs(&t)[..7]);
}

/// Logto before PR 1617 (node-oidc-provider, rotation): the second tab's find after the first
/// tab's consume takes the token for reuse and revokes the grant; the first tab is then
/// answered a token of the revoked grant and holds a dead credential.
#[test]
fn logto_before_pr1617_a_consumed_token_revokes_the_grant() {
    let (sc, m, r) = checked("models/logto-pr1617-before-consumed-token-revokes-grant.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        pairs(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[3].text.contains("rule `consume the presented token`"));
    assert!(t.steps[4].text.contains("rule `consumed: destroy it, revoke the grant` → invalid_grant"));
    assert_eq!(t.steps[5].text, "tab B gets 400 invalid_grant and is logged out");
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked"]);
    let dead = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert_eq!(dead.steps[6].text, "tab A gets 200, refresh token=2; it stores it");
    assert_eq!(
        last_store(&dead),
        ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"],
        "the winner's new token went with the grant"
    );
    let q = query_trace(&sc, "winner-token-deleted-with-the-grant");
    assert_eq!(q.steps.last().unwrap().text, "tab A gets 200, refresh token=2; it stores it");
}

/// Logto PR 1617: inside the 3 s interval (one tick) the consumed token is served again with a
/// sibling; no refresh is refused unless a tick passes; a request held past the interval still
/// revokes the grant.
#[test]
fn logto_pr1617_the_reuse_interval_serves_a_sibling_inside_3s_only() {
    let (sc, m, r) = checked("models/logto-pr1617-reuse-interval.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    assert_eq!(query_answer(&sc, "no-refusal-within-the-interval"), refresh_check::query::Answer::Unreachable);
    let q = query_trace(&sc, "second-refresh-inside-3s-gets-a-sibling");
    assert!(q.steps[6].text.contains("rule `consumed less than 3 s ago: not consumed`"), "{}", q.steps[6].text);
    assert_eq!(q.steps.last().unwrap().text, "tab B gets 200, refresh token=3; it stores it");
    assert_eq!(
        last_store(&q),
        [
            "token=1 family=0 gen=0 superseded at 0, 1 grace use(s); consumed_at=0",
            "token=2 family=0 gen=1 parent=1 active; consumed_at=0",
            "token=3 family=0 gen=1 parent=1 active; consumed_at=0"
        ]
    );
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let acts = actions(&t);
    assert_eq!(acts.iter().filter(|a| *a == "ClockTicks").count(), 2, "{acts:?}");
    assert!(t.steps[6].text.contains("rule `consumed: destroy it, revoke the grant`"));
}

/// growthbook PR 6371's review ("Revoke can race refresh"): a revocation between a refresh's
/// lookup and its insert answers success, and the refresh then inserts a live refresh token of
/// the revoked grant. The shortest `logout_revokes_all` counterexample is that run.
#[test]
fn growthbook_pr6371_a_revocation_during_a_refresh_is_undone() {
    let (sc, m, r) = checked("models/growthbook-pr6371-revoke-races-refresh.json");
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    assert_eq!(
        pairs(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSignsOut"),
            ("server", "ServerReceivesLogout"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    assert!(t.steps[1].text.contains("rule `found` → continue"));
    assert!(t.steps[4].text.contains("rule `already gone: nothing to delete, go on`"));
    assert!(t.steps[5].text.contains("rule `insert the new pair` → ok minted"));
    assert_eq!(last_store(&t), ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 active"]);
    let q = query_trace(&sc, "revoked-grant-gets-a-new-refresh-token");
    assert_eq!(q.steps.last().unwrap().text, "tab A gets 200, refresh token=2; it stores it");
    // Derived: the `if (doc)` lets the loser of two concurrent refreshes mint too.
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    let texts: Vec<&str> = fork.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts.len(), 8, "{texts:#?}");
    assert_eq!(texts.iter().filter(|t| t.contains("rule `found` → continue")).count(), 2, "{texts:#?}");
    assert_eq!(
        texts.iter().filter(|t| t.contains("rule `already gone: nothing to delete, go on`")).count(),
        1,
        "{texts:#?}"
    );
    assert_eq!(texts.iter().filter(|t| t.contains("rule `insert the new pair` → ok minted")).count(), 2, "{texts:#?}");
    assert!(texts[7].contains("rule `insert the new pair`"), "{texts:#?}");
}

/// laravel/passport PR 1790's fix (`revokeRefreshTokenAfterUse = false`): the retry after a
/// lost answer is served; with no client step that revokes the old token afterwards (the PR's
/// instruction), the used token stays valid: the retry forks the lineage.
#[test]
fn laravel_passport_pr1790_keeping_the_refresh_token_serves_the_retry() {
    let (sc, m, r) = checked("models/laravel-passport-pr1790-keep-refresh-token.json");
    assert!(r.properties.iter().find(|p| p.name == "no_spurious_logout").unwrap().path.is_none(), "no logout");
    let q = query_trace(&sc, "retry-after-lost-answer-served");
    assert_eq!(q.steps.len(), 10);
    assert!(q.steps[5].text.contains("times out") && q.steps[5].text.contains("(token=1)"));
    assert_eq!(q.steps[9].text, "tab A gets 200, refresh token=3; it stores it");
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(pairs(&fork), pairs(&q)[..9]);
    assert_eq!(
        last_store(&fork),
        [
            "token=1 family=0 gen=0 superseded at 0, 1 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
}

/// The Eventra fix's model with `edit` applied to its JSON, loaded as a scenario (the query
/// and the expectations, which name the shipped file's runs, dropped).
fn eventra_fix_with(edit: impl FnOnce(&mut serde_json::Value)) -> refresh_check::scenario::Scenario {
    let file = crate::util::root().join("models/eventra-pr12794-logout-revokes-refresh-token.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("queries");
    o.remove("expect");
    edit(&mut v);
    refresh_check::scenario::Scenario::parse(&file, &serde_json::to_string_pretty(&v).unwrap()).unwrap()
}

/// A sign-out that presents both tokens reads each as the tab holds it: `presented` is the
/// refresh token, `access.*` the access token, and `access.refresh_token` the refresh token that
/// access token was issued with. Two tabs share the stored refresh token (json, shared
/// storage) and each keeps the access token of its own last answer: after tab B's refresh,
/// tab A holds access token 1 (refresh token 1's) beside refresh token 2, and its sign-out
/// revokes refresh token 2 and access token 1. Presenting the access token alone, `presented`
/// is refresh token 1 and that state is unreachable.
#[test]
fn a_sign_out_that_presents_both_tokens_reads_each_token() {
    let two_tabs = |presents: serde_json::Value| {
        eventra_fix_with(|v| {
            v["browser"] = serde_json::json!({ "tabs": 2, "refreshes_per_tab": 1, "sign_outs": 1,
                "mode": "json", "json_storage": "shared" });
            v.as_object_mut().unwrap().remove("attacker");
            v["protocol"]["sign_out"] = serde_json::json!({ "presents": presents, "rules": [
                { "name": "not a pair", "when": "access.refresh_token != presented",
                  "do": ["revoke access", "revoke presented"], "reply": "signed_out" },
                { "name": "a pair", "do": ["revoke access", "revoke presented"], "reply": "signed_out" } ] });
            v["queries"] = serde_json::json!([{ "name": "not-a-pair",
                "events": ["server ServerReceivesLogout rule `not a pair`"], "expect": "reachable" }]);
        })
    };
    let both = two_tabs(serde_json::json!(["access_token", "refresh_token"]));
    let t = query_trace(&both, "not-a-pair");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse",
            "TabSignsOut",
            "ServerReceivesLogout"
        ]
    );
    assert_eq!(
        t.steps[4].text,
        "the user signs out in tab B: POST /api/auth/logout with the access token it holds (access token=1) and its stored refresh token (token=2)"
    );
    assert_eq!(
        t.steps[5].message.as_ref().unwrap().text,
        "POST /api/auth/logout (access token=1; mode json, refresh_token=2)"
    );
    // The effect: refresh token 2 (the body's) and access token 1 (the header's) are revoked;
    // refresh token 1, which access token 1 was issued with, is left as the rotation left it.
    assert_eq!(
        last_store(&t),
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 revoked",
            "access token=1 refresh token=1 iat=0 exp=4 revoked",
            "access token=2 refresh token=2 iat=0 exp=4",
        ]
    );
    let access_only = two_tabs(serde_json::json!("access_token"));
    assert_eq!(query_answer(&access_only, "not-a-pair"), refresh_check::query::Answer::Unreachable);
}
