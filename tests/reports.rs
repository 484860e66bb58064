//! Real bug reports and fixes written in the protocol language (`models/` files whose
//! `sources` cite them): each test checks the file's verdicts, pins the shortest
//! counterexample's steps, and where the shortest one is another mechanism, finds the reported
//! interleaving with a `Sometimes` property on the built model.

use refresh_check::model::{self, oauth::TokStatus, RefreshModel, State};
use refresh_check::search;
use refresh_check::trace::Trace;

use crate::util::{actions, checked, find_step, trace_of};

/// The store rows of a trace's last state, as the trace prints them.
fn last_store(t: &Trace) -> &[String] {
    &t.steps.last().unwrap().state.store
}

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
    assert!(t.steps[3].text.contains("step `compare-and-set on the parent (own statement)` of tab A's refresh"));
    assert!(t.steps[5].text.starts_with("device 1 tab B gets 401"), "{}", t.steps[5].text);
    assert_eq!(
        last_store(&t),
        ["token=1 family=0 gen=0 revoked", "token=2 family=1 gen=0 revoked"],
        "device 2's token too"
    );
    let sp9 = trace_of(&m, &sc, &r, "sp9_revocation_scope");
    assert_eq!(actions(&sp9), LATER_READER_REVOKES[..5]);
    let survivor = trace_of(&m, &sc, &r, "sp2_detection_permanent");
    assert_eq!(actions(&survivor)[5], "ServerWritesRefresh");
    assert!(survivor.steps[5].text.contains("step `create the new token (own statement)` of tab A's"));
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
    assert!(t.steps[5].text.starts_with("device 1 tab B gets 401"), "{}", t.steps[5].text);
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
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    find_step(&t, "server", "ServerWritesRefresh", "step `mint and store the replay response` of tab B's");
    assert!(t.steps[7].text.starts_with("tab B gets 400"), "{}", t.steps[7].text);
    assert_eq!(crate::util::status(&r, "sp3_single_lineage"), refresh_check::scenario::Verdict::Holds);

    // The patch's path: a request that read the parent revoked without a stored payload
    // waits to poll (its next step re-reads the store) instead of answering 400.
    fn poller_waiting(m: &RefreshModel, s: &State) -> bool {
        let auth = model::auth_server_at(s, m.cfg.server).unwrap();
        auth.handlers.iter().any(|h| {
            h.step == 1
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
    assert!(t.steps[5].text.starts_with("tab B gets 401"), "{}", t.steps[5].text);
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
    assert!(t.steps[5].text.starts_with("tab A gets 401"), "{}", t.steps[5].text);
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
