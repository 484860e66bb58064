//! The industry's refresh policies (`shared/research/industry-policies.md` §1) on the OAuth
//! authorization-server model, and the bug reports of its §2 (C-cases): each model file checks
//! as it expects, each violation has the interleaving the report describes, and each property
//! that holds was checked over a pinned, non-trivial number of states.

use refresh_check::check::CheckOptions;
use refresh_check::model::browser::TabStatus;
use refresh_check::model::oauth::TokStatus;
use refresh_check::model::{auth_server_at, browser_at, State};
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::search;
use refresh_check::trace::{self};

use crate::util::{actions, checked, find_step, run, scenario, status, steps, trace_of, SECOND_PRESENTER_REFUSED};

/// C02 (supabase/auth-js 213): strict reuse detection, two tabs with their own copies. The
/// second tab presents the rotated-away token; detection revokes the family and logs it out.
/// With the 2022 reuse interval (PR 466) and no time passing, it holds.
#[test]
fn c02_strict_detection_logs_the_second_tab_out_and_the_2022_interval_fixes_it() {
    let (sc, m, r) = checked("models/supabase-2021-strict.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), SECOND_PRESENTER_REFUSED);
    assert!(t.steps[1].text.contains("refresh_token=1") && t.steps[3].text.contains("refresh_token=1"));
    assert!(t.steps[4].text.contains("tab B gets 400 invalid_grant"), "{}", trace::render_text(&t));
    // Detection revoked the winner's token too: the whole family is dead.
    assert_eq!(t.steps[4].state.store, ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"]);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Reached);

    let (_, _, r) = checked("models/supabase-2022-interval.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Unreached);
    assert_eq!(r.unique_states, 16);
}

/// C03 (supabase/supabase 8959): under the 2022 policy a tab that rotates twice leaves another
/// tab two generations behind; its refresh revokes the family.
#[test]
fn c03_two_generations_behind_outruns_the_2022_interval() {
    let (sc, m, r) = checked("models/supabase-2022-c03.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 8, "{}", trace::render_text(&t));
    let second = find_step(&t, "server", "ServerReceivesRefresh", "refresh_token=2");
    let stale =
        find_step(&t, "server", "ServerReceivesRefresh", "tab B's POST /auth/refresh (mode json, refresh_token=1)");
    assert!(second < stale);
    assert!(t.steps[7].text.contains("tab B gets 400 invalid_grant"));
    assert!(t.steps[7].state.store.iter().all(|row| row.ends_with("revoked")), "{:?}", t.steps[7].state.store);
}

/// C03 as reported (supabase/supabase 8959): tabs that refresh once each and learn other tabs'
/// writes from late storage events. Three tabs: A rotates 1 to 2, C hears of it and rotates 2 to
/// 3, B still presents 1, two generations behind, and the family is revoked. The same file with
/// two tabs holds over its whole state space: the reporter needed three tabs.
#[test]
fn c03_three_tabs_with_late_storage_events_outrun_the_interval_and_two_do_not() {
    let (sc, m, r) = checked("models/supabase-2022-c03-three-tabs.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "StorageReachesTab",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ],
        "{}",
        trace::render_text(&t)
    );
    assert!(t.steps[3].text.contains("tab B") && t.steps[3].text.contains("token=1"), "B still holds 1");
    assert!(t.steps[5].text.contains("tab C") && t.steps[5].text.contains("token=2"), "C heard of 2");
    assert!(t.steps[6].text.contains("tab C's POST /auth/refresh (mode json, refresh_token=2)"));
    assert!(t.steps[7].text.contains("tab B's POST /auth/refresh (mode json, refresh_token=1)"));
    assert!(t.steps[8].text.starts_with("tab B gets 400 invalid_grant"));
    assert!(t.steps[8].state.store.iter().all(|row| row.ends_with("revoked")), "{:?}", t.steps[8].state.store);
    assert_eq!(r.unique_states, 491);

    let two = scenario("models/supabase-2022-c03-three-tabs.json", Some(2));
    let (_, r) = run(&two, &CheckOptions::default());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Unreached);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Reached, "the two tabs did race");
    assert_eq!(r.unique_states, 29);
}

/// C06 (next-auth 11853): the middleware and the server component of one page request both
/// refresh the request's cookie. Single-use refresh tokens refuse the second (5 steps); an IdP
/// that returns the same child inside its reuse interval (P3) keeps both paths signed in.
#[test]
fn c06_middleware_and_server_component_both_refresh_and_same_child_grace_fixes_it() {
    let (sc, m, r) = checked("models/c06-nextauth-single-use.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), SECOND_PRESENTER_REFUSED);
    assert!(t.steps[1].text.contains("refresh cookie=1") && t.steps[3].text.contains("refresh cookie=1"));
    assert!(t.steps[4].text.contains("gets 400 invalid_grant"), "{}", trace::render_text(&t));
    let (_, _, r) = checked("models/c06-nextauth-same-child-grace.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Reached);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds, "the same child: one lineage");
    assert_eq!(r.unique_states, 19);
}

/// C07 (nightscout/nocturne PRs 326, 391): a read-then-write rotation forks the lineage (two
/// reads of token 1 before either write); the atomic claim keeps one lineage but logs the loser
/// out; the successor cache holds both properties.
#[test]
fn c07_read_then_write_forks_atomic_claim_logs_out_successor_cache_holds() {
    let (sc, m, r) = checked("models/c07-nocturne-read-then-write.json");
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
    assert_eq!(
        t.steps[5].state.store,
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "token=2 family=0 gen=1 parent=1 active",
            "token=3 family=0 gen=1 parent=1 active"
        ]
    );
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);

    let (sc, m, r) = checked("models/c07-nocturne-atomic-claim.json");
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 5);
    assert!(t.steps[4].text.contains("tab B gets 400 invalid_grant"));

    let (_, _, r) = checked("models/c07-nocturne-successor-cache.json");
    for p in ["no_spurious_logout", "sp3_single_lineage", "sp2_detection_permanent"] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    assert_eq!(r.unique_states, 21);
}

/// C19 (audiobookshelf 5281, oauth2-server 1025): a client that retries with the token it
/// holds is logged out under plain rotation; under P6 (valid until the successor is used) the
/// retry gets a new pair, in every interleaving, lost responses included.
#[test]
fn c19_retry_after_a_lost_response_fails_under_rotation_and_succeeds_under_p6() {
    let (sc, m, r) = checked("models/c19-lost-response-rotate.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabRetriesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[2].text.contains("token=1"), "the retry presents the rotated-away token");
    assert!(t.steps[4].text.contains("400 invalid_grant"));

    let (_, _, r) = checked("models/c19-lost-response-until-used.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds, "latest wins: the unused child is revoked");
    assert_eq!(status(&r, "lp2_lost_response_recovery"), Verdict::Holds);
    // The retry's request is told apart from the original (ghost `retry`), so a state with both
    // in flight is not merged with one holding the same request twice.
    assert_eq!(r.unique_states, 27);
}

/// C12 (keycloak 51312): a refresh read before the sign-out's revocation writes its successor
/// after it: a token minted after the sign-out returned (SP5). The refresh lock that the
/// revocation does not take keeps refreshes from racing each other.
#[test]
fn c12_refresh_read_before_revocation_mints_after_sign_out() {
    let (sc, m, r) = checked("models/c12-revoke-during-refresh.json");
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    assert_eq!(
        actions(&t),
        ["TabSendsRefresh", "ServerReceivesRefresh", "TabSignsOut", "ServerReceivesLogout", "ServerWritesRefresh"]
    );
    assert!(
        t.steps[4].state.store.contains(&"token=2 family=0 gen=1 parent=1 active".to_string()),
        "{:?}",
        t.steps[4].state.store
    );
    // The session's refresh lock serialises refreshes: no fork, no refresh race.
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(r.unique_states, 142);
}

/// C15 (django-oauth-toolkit 1617): inside the grace a token two generations old is redeemed.
#[test]
fn c15_grace_accepts_a_token_two_generations_old() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-grace.json");
    let t = trace_of(&m, &sc, &r, "sp1_immediate_predecessor");
    assert_eq!(t.steps.len(), 7, "{}", trace::render_text(&t));
    let a2 =
        find_step(&t, "server", "ServerReceivesRefresh", "tab A's POST /auth/refresh (mode json, refresh_token=2)");
    let b1 =
        find_step(&t, "server", "ServerReceivesRefresh", "tab B's POST /auth/refresh (mode json, refresh_token=1)");
    assert_eq!((a2, b1), (4, 6));
    assert_eq!(t.steps[6].state.store.len(), 4, "token 1 got a fourth token: {:?}", t.steps[6].state.store);
    // Auth0's rule (immediate predecessor only) refuses it.
    let (_, _, r) = checked("models/auth0-leeway.json");
    assert_eq!(status(&r, "sp1_immediate_predecessor"), Verdict::Holds);
}

/// C15's companion (django-oauth-toolkit issue 702): inside the grace the retry after a lost
/// answer gets the old, revoked token back: 2xx, but not the current lineage (LP2, 4 steps).
/// PR 703's fix, the child again (`c19-lost-response-same-child`), holds LP2.
#[test]
fn c15_dot_702_grace_hands_back_the_revoked_token() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-702-grace-returns-old-token.json");
    let t = trace_of(&m, &sc, &r, "lp2_lost_response_recovery");
    assert_eq!(actions(&t), ["TabSendsRefresh", "ServerReceivesRefresh", "TabRetriesRefresh", "ServerReceivesRefresh"]);
    assert!(t.steps[3].text.contains("refresh_token=1"));
    let answer = &t.steps[3].state.in_flight;
    assert!(answer.iter().any(|msg| msg.text == "200, refresh token=1"), "{answer:?}");
    assert_eq!(t.steps[3].state.store[0], "token=1 family=0 gen=0 superseded at 0, 1 grace use(s)");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds, "inside the model's clock the old token still works");
    assert_eq!(r.unique_states, 253);
    let (_, _, r) = checked("models/c19-lost-response-same-child.json");
    assert_eq!(status(&r, "lp2_lost_response_recovery"), Verdict::Holds);
}

/// C22 (crosswithfriends PR 566): the user signs out on device 1; its other tab replays the
/// signed-out token; the server revokes every token of the user and device 2 is logged out.
#[test]
fn c22_logout_replay_revokes_the_other_device() {
    let (sc, m, r) = checked("models/c22-logout-replay-revokes-all.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let texts: Vec<_> = t.steps.iter().map(|s| s.text.as_str()).collect();
    assert!(texts[1].contains("signs out in device 1 tab B"), "{texts:?}");
    assert!(texts[3].contains("device 1 tab A's POST /auth/refresh (mode json, refresh_token=1)"), "{texts:?}");
    assert!(texts[6].starts_with("device 2 tab A gets 400 invalid_grant"), "{texts:?}");
    let t = trace_of(&m, &sc, &r, "sp9_revocation_scope");
    assert_eq!(actions(&t), ["TabSendsRefresh", "TabSignsOut", "ServerReceivesLogout", "ServerReceivesRefresh"]);
}

/// SP2 with read-then-write (derived): a refresh that read a live token before detection
/// revoked its family redeems it after.
#[test]
fn sp2_a_write_after_detection_redeems_a_revoked_family() {
    let (sc, m, r) = checked("models/p2-read-then-write-detection.json");
    let t = trace_of(&m, &sc, &r, "sp2_detection_permanent");
    assert_eq!(t.steps.len(), 10);
    let read_a =
        find_step(&t, "server", "ServerReceivesRefresh", "tab A's POST /auth/refresh (mode json, refresh_token=2)");
    let write_b = find_step(&t, "server", "ServerWritesRefresh", "tab B's refresh");
    let last = t.steps.last().unwrap();
    assert_eq!((last.action.as_str(), last.text.contains("tab A's refresh")), ("ServerWritesRefresh", true));
    assert!(read_a < write_b, "A read token 2 before B's detection");
    assert!(last.state.store.contains(&"token=3 family=0 gen=2 parent=2 active".to_string()), "{:?}", last.state.store);
}

/// No rotation (P7) and a stable session id (P8) keep every tab signed in, whatever the order,
/// over a non-trivial state space; Supabase 2023's parent-of-active replay is unbounded in time.
#[test]
fn no_rotation_and_stable_id_hold_and_parent_of_active_is_time_unbounded() {
    let (_, _, r) = checked("models/spring-as-no-rotation.json");
    assert_eq!((status(&r, "no_spurious_logout"), r.unique_states), (Verdict::Holds, 343));
    let (_, _, r) = checked("models/express-session.json");
    assert_eq!((status(&r, "no_spurious_logout"), r.unique_states), (Verdict::Holds, 618));
    let (sc, m, r) = checked("models/supabase-2023-parent-of-active.json");
    let t = trace_of(&m, &sc, &r, "rotated_token_expires");
    let tick = find_step(&t, "clock", "ClockTicks", "now = 1");
    let late = find_step(&t, "server", "ServerReceivesRefresh", "tab B's");
    assert!(tick < late);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
}

/// Supabase 2023 (PRs 1278 and 1072) in full: with tab A two rotations ahead, tab B's token 1
/// is no longer the parent of the active token; inside the reuse interval it forks a sibling
/// (SP3 and SP1's generation bound fail, 7 steps), after it the family is revoked and B is
/// logged out (10 steps, two ticks before B's refresh arrives).
#[test]
fn supabase_2023_forks_inside_the_interval_and_revokes_after_it() {
    let (sc, m, r) = checked("models/supabase-2023-parent-of-active-two-refreshes.json");
    let t = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh"
        ]
    );
    assert!(t.steps[6].text.contains("tab B's POST /auth/refresh (mode json, refresh_token=1)"));
    assert_eq!(
        t.steps[6].state.store,
        [
            "token=1 family=0 gen=0 superseded at 0, 1 grace use(s)",
            "token=2 family=0 gen=1 parent=1 superseded at 0, 0 grace use(s)",
            "token=3 family=0 gen=2 parent=2 active",
            "token=4 family=0 gen=1 parent=1 active"
        ]
    );
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 10);
    let late =
        find_step(&t, "server", "ServerReceivesRefresh", "tab B's POST /auth/refresh (mode json, refresh_token=1)");
    assert_eq!(t.steps[late].state.now, 2);
    assert!(t.steps[9].text.starts_with("tab B gets 400 invalid_grant"));
    assert_eq!(r.unique_states, 971);
}

/// Forking grace policies (Auth0 leeway, Hydra, Keycloak max reuse, Okta) keep the tabs
/// signed in but break the strict single lineage: two refreshes of token 1 both mint.
#[test]
fn fork_policies_trade_a_single_lineage_for_no_spurious_logout() {
    for f in ["auth0-leeway", "hydra-grace", "keycloak-max-reuse-1", "okta-rotate"] {
        let (sc, m, r) = checked(&format!("models/{f}.json"));
        assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds, "{f}");
        let t = trace_of(&m, &sc, &r, "sp3_single_lineage");
        assert_eq!(
            actions(&t),
            ["TabSendsRefresh", "ServerReceivesRefresh", "TabSendsRefresh", "ServerReceivesRefresh"],
            "{f}"
        );
    }
    let (_, _, r) = checked("models/keycloak-strict.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
}

/// SP4 (RFC 9700 §4.14.2) with an attacker who redeems a copied refresh token once, under
/// four policies. Reuse detection contains the theft (the second presenter revokes the family,
/// the attacker's token included); plain rotation refuses the user while the attacker's fresh
/// token stays live (4 steps: the attacker redeems token 1 first); a same-child reuse interval
/// and no rotation let the attacker and the user share the session unnoticed.
#[test]
fn sp4_detection_contains_theft_rotation_alone_does_not_and_grace_shares_the_session() {
    let (sc, m, r) = checked("models/auth0-rotation-theft.json");
    assert_eq!(status(&r, "sp4_theft_contained"), Verdict::Holds);
    assert_eq!(status(&r, "theft_detected"), Verdict::Holds);
    assert_eq!(r.unique_states, 51);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps[3].state.store.iter().filter(|row| row.ends_with("revoked")).count(), 2, "the attacker's 2 too");

    let (sc, m, r) = checked("models/spring-as-rotate-theft.json");
    let t = trace_of(&m, &sc, &r, "sp4_theft_contained");
    assert_eq!(actions(&t), ["TabSendsRefresh", "AttackerRedeems", "ServerReceivesRefresh", "ServerReceivesRefresh"]);
    assert!(t.steps[2].text.contains("attacker's POST /auth/refresh (mode json, refresh_token=1)"));
    assert!(t.steps[3].text.contains("tab A's POST /auth/refresh (mode json, refresh_token=1)"));
    assert!(t.steps[3].state.store.contains(&"token=2 family=0 gen=1 parent=1 active".to_string()));
    assert_eq!(status(&r, "theft_detected"), Verdict::Holds, "the user notices: refused");

    for f in ["supabase-2022-interval-theft", "spring-as-no-rotation-theft"] {
        let (sc, m, r) = checked(&format!("models/{f}.json"));
        let t = trace_of(&m, &sc, &r, "theft_detected");
        assert_eq!(
            actions(&t),
            ["TabSendsRefresh", "AttackerRedeems", "ServerReceivesRefresh", "ServerReceivesRefresh"],
            "{f}"
        );
        assert_eq!(
            (status(&r, "sp4_theft_contained"), status(&r, "no_spurious_logout")),
            (Verdict::Holds, Verdict::Holds)
        );
    }
}

/// Single-flight per tab (auth0-spa-js 553, PR 664): without it, two callers in one tab
/// (two tabs over one shared cache here) exchange the same cached refresh token and reuse
/// detection logs the second out (5 steps, both presenting token 1).
#[test]
fn two_callers_without_single_flight_exchange_the_same_token() {
    let (sc, m, r) = checked("models/auth0-spa-js-no-single-flight.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), SECOND_PRESENTER_REFUSED);
    assert!(t.steps[1].text.contains("refresh_token=1") && t.steps[3].text.contains("refresh_token=1"));
    assert_eq!(t.steps[4].state.store.iter().filter(|row| row.ends_with("revoked")).count(), 2);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Reached);
}

/// The theft properties judge a tab's refresh only in a family the attacker redeemed in: with
/// two devices under reuse detection, device 1's own refresh after the attacker redeemed
/// device 2's token is not shared use (a bug once counted it, comparing token numbers across
/// families). Both properties hold over the whole space; the attacker did redeem.
#[test]
fn theft_is_judged_within_the_robbed_family_only() {
    let text = r#"{"name":"two-devices-theft","description":"d","sources":["s"],
        "auth_server":{"rotation":"rotate","on_reuse":"revoke-family"},
        "browser":{"tabs":1,"refreshes_per_tab":1,"mode":"json","devices":2},
        "time":{"max_ticks":0,"refresh_token_ttl":7,"session_cookie_ttl":4},
        "attacker":{"attempts":1,"modes":["json"]}}"#;
    let sc = Scenario::parse(std::path::Path::new("two-devices-theft.json"), text).unwrap();
    let (_, r) = run(&sc, &CheckOptions::default());
    assert_eq!(status(&r, "theft_detected"), Verdict::Holds);
    assert_eq!(status(&r, "sp4_theft_contained"), Verdict::Holds);
    assert_eq!(status(&r, "attacker_redeems"), Verdict::Reached);
    assert_eq!(r.unique_states, 974);
}

/// SP3 across two nodes: with each tab kept to its own node, both nodes rotate token 1 before
/// either replicates, and token 1 has two live children, one per node (6 steps). A node that
/// has only not heard of a rotation yet does not count (the C09 files hold SP3).
#[test]
fn sp3_sees_a_fork_made_on_two_nodes() {
    let text = r#"{"name":"two-node-fork","description":"d","sources":["s"],
        "auth_server":{"rotation":"rotate","on_reuse":"revoke-family","replicas":2,"routing":"sticky"},
        "browser":{"tabs":2,"refreshes_per_tab":2,"mode":"json"},
        "time":{"max_ticks":0,"refresh_token_ttl":7,"session_cookie_ttl":4}}"#;
    let sc = Scenario::parse(std::path::Path::new("two-node-fork.json"), text).unwrap();
    let (m, r) = run(&sc, &CheckOptions::default());
    let t = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "NodeServesRequest",
            "NodeServesRequest"
        ],
        "{}",
        trace::render_text(&t)
    );
    assert!(t.steps[4].text.contains("to node 1") && t.steps[5].text.contains("to node 2"));
    assert_eq!(r.unique_states, 1985);
    for f in ["models/c09-keycloak-cluster-lagging-read.json", "models/c09-keycloak-cluster-lost-update.json"] {
        let (_, _, r) = checked(f);
        assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds, "{f}");
    }
}

/// A retry that arrives while its first attempt is between its read and its write is a
/// request of its own: both read token 1, both write, and the lineage forks (6 steps). A bug
/// once kept the retry undelivered until the first attempt was written, which hid this.
#[test]
fn a_retry_overlapping_its_first_attempt_is_served_beside_it() {
    let text = r#"{"name":"retry-read-then-write","description":"d","sources":["s"],
        "auth_server":{"rotation":"rotate","on_reuse":"revoke-user","steps":"read-then-write"},
        "browser":{"tabs":1,"refreshes_per_tab":1,"mode":"cookie","retries_per_tab":1},
        "time":{"max_ticks":0,"refresh_token_ttl":7,"session_cookie_ttl":4}}"#;
    let sc = Scenario::parse(std::path::Path::new("retry-read-then-write.json"), text).unwrap();
    let (m, r) = run(&sc, &CheckOptions::default());
    let t = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabRetriesRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh"
        ]
    );
    assert!(t.steps[5].text.contains("second request in progress"), "{}", t.steps[5].text);
    assert_eq!(status(&r, "lp2_lost_response_recovery"), Verdict::Violated);
    assert_eq!(r.unique_states, 41);
}

/// The state the properties read: after C02's trace the second tab is logged out and no token
/// of the family is live.
#[test]
fn c02_final_state_has_no_live_token() {
    let sc = scenario("models/supabase-2021-strict.json", None);
    let (m, r) = run(&sc, &CheckOptions::default());
    let p = r.properties.iter().find(|p| p.name == "no_spurious_logout").unwrap();
    let (init, steps) = search::replay(&m, p.path.as_ref().unwrap()).unwrap();
    let s: &State = steps.last().map_or(&init, |(_, s)| s);
    let auth = auth_server_at(s, m.cfg.server).unwrap();
    assert!(auth.rows.iter().all(|row| row.status == TokStatus::Revoked));
    assert_eq!(browser_at(s, 0).tabs[1].status, TabStatus::LoggedOut);
}

/// Model-file errors of the `auth_server` section name the field.
#[test]
fn auth_server_section_errors_name_the_field() {
    let base = r#"{"name":"m","description":"d","sources":["s"],
        "auth_server":{"rotation":"rotate"},"browser":{"tabs":2,"refreshes_per_tab":1,"mode":"json"},
        "time":{"refresh_token_ttl":7,"session_cookie_ttl":4}}"#;
    assert!(Scenario::parse(std::path::Path::new("m.json"), base).is_ok());
    let both = base.replace("\"auth_server\"", "\"server\":{\"session_refresh\":\"rotate\"},\"auth_server\"");
    let e = Scenario::parse(std::path::Path::new("m.json"), &both).unwrap_err().to_string();
    assert!(e.contains("field `auth_server`") && e.contains("both `server` and `auth_server`"), "{e}");
    let session = base.replace("\"mode\":\"json\"", "\"mode\":\"session\"");
    let e = Scenario::parse(std::path::Path::new("m.json"), &session).unwrap_err().to_string();
    assert!(e.contains("field `browser.mode`"), "{e}");
    let bad = base.replace("\"rotation\":\"rotate\"", "\"rotation\":\"rotate\",\"grace\":\"forever\"");
    let e = Scenario::parse(std::path::Path::new("m.json"), &bad).unwrap_err().to_string();
    assert!(e.contains("auth_server.grace"), "{e}");
    let devices = base
        .replace("\"auth_server\":{\"rotation\":\"rotate\"}", "\"server\":{\"session_refresh\":\"rotate\"}")
        .replace("\"tabs\":2", "\"tabs\":2,\"devices\":2");
    let e = Scenario::parse(std::path::Path::new("m.json"), &devices).unwrap_err().to_string();
    assert!(e.contains("browser.devices"), "{e}");
}

/// C17 (auth0-spa-js 755, WebKit 225344): with a Web Lock but localStorage writes that reach
/// the other tab late, the second tab refreshes with its stale view and reuse detection logs
/// it out; with coherent storage the same lock keeps every tab signed in.
#[test]
fn c17_a_lock_does_not_help_when_storage_reaches_the_other_tab_late() {
    let (sc, m, r) = checked("models/c17-lagging-storage-weblocks.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[3].text.contains("tab B") && t.steps[3].text.contains("token=1"), "B reads its stale view");
    assert_eq!(t.steps[5].state.jar.as_deref(), Some("localStorage refresh_token=2"), "the write happened");
    let (_, _, r) = checked("models/c17-coherent-storage-weblocks.json");
    assert_eq!((status(&r, "no_spurious_logout"), r.unique_states), (Verdict::Holds, 16));
}

/// SP6: a sliding lifetime alone accepts a refresh past the required session lifetime (the
/// refresh arrives at tick 2, the session ended at 2); Keycloak's SSO Session Max refuses it.
#[test]
fn sp6_sliding_lifetime_alone_outlives_the_session_and_an_absolute_one_does_not() {
    let (sc, m, r) = checked("models/sliding-only-no-max.json");
    let t = trace_of(&m, &sc, &r, "sp6_absolute_lifetime");
    assert_eq!(actions(&t), ["TabSendsRefresh", "ClockTicks", "ClockTicks", "ServerReceivesRefresh"]);
    assert_eq!(t.steps[3].state.now, 2);
    let (_, _, r) = checked("models/keycloak-sso-max.json");
    assert_eq!(status(&r, "sp6_absolute_lifetime"), Verdict::Holds);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(r.unique_states, 90);
}

/// C18 (supabase-js 1594, 2013; PR 2106): a Web Lock holder that hangs leaves the other tab
/// waiting forever (LP4, 3 steps); with `steal: true` the waiting tab refreshes the same token
/// while the holder's refresh runs, and strict reuse detection logs it out.
#[test]
fn c18_orphaned_lock_blocks_and_steal_loses_mutual_exclusion() {
    let (sc, m, r) = checked("models/c18-orphaned-weblock.json");
    let t = trace_of(&m, &sc, &r, "lp4_lock_not_orphaned");
    assert_eq!(actions(&t), ["TabSendsRefresh", "TabWaitsForLock", "TabHangsWithLock"]);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let (sc, m, r) = checked("models/c18-weblock-steal.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabWaitsForLock",
            "TabStealsLock",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[3].text.contains("token=1"));
    assert_eq!(status(&r, "lp4_lock_not_orphaned"), Verdict::Holds);
}

/// C13 (supabase/auth PR 1312): the family revocation is rolled back with the error, so after
/// tab B's reuse is detected tab A's next refresh still succeeds (SP2, 7 steps).
#[test]
fn c13_rolled_back_detection_has_no_effect() {
    let (sc, m, r) = checked("models/c13-supabase-rollback.json");
    let t = trace_of(&m, &sc, &r, "sp2_detection_permanent");
    assert_eq!(t.steps.len(), 7);
    let reuse =
        find_step(&t, "server", "ServerReceivesRefresh", "tab B's POST /auth/refresh (mode json, refresh_token=1)");
    let after =
        find_step(&t, "server", "ServerReceivesRefresh", "tab A's POST /auth/refresh (mode json, refresh_token=2)");
    assert_eq!((reuse, after), (5, 6));
    assert!(t.steps[6].state.store.iter().all(|row| !row.ends_with("revoked")), "{:?}", t.steps[6].state.store);
}

/// C20 (DuendeArchive/Support 1286): a replica that read the stored token before waiting for
/// the lock presents it after the holder rotated it; reading inside the lock fixes it.
#[test]
fn c20_reading_before_the_lock_presents_a_rotated_token() {
    let (sc, m, r) = checked("models/c20-bff-read-before-lock.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabWaitsForLock",
            "TabReceivesRefreshResponse",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[4].text.contains("tab B's POST /auth/refresh (mode json, refresh_token=1)"));
    assert_eq!(t.steps[4].state.jar.as_deref(), Some("localStorage refresh_token=2"), "the store had 2");
    let (_, _, r) = checked("models/c20-bff-read-inside-lock.json");
    assert_eq!((status(&r, "no_spurious_logout"), r.unique_states), (Verdict::Holds, 16));
}

/// C05/C06 (supabase 18981, next-auth 11853): a server-side render path refreshes but cannot
/// write the rotated cookie; even serialised, the browser then presents the old token after
/// the reuse interval and is logged out. When the first refresher can write the cookie, the
/// same model holds.
#[test]
fn c05_a_render_path_that_cannot_write_cookies_strands_the_browser() {
    let (sc, m, r) = checked("models/c05-ssr-cannot-write-cookies.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 8, "{}", trace::render_text(&t));
    assert!(t.steps[2].text.contains("tab A gets 200, refresh token=2 but cannot write the cookie"));
    assert_eq!(t.steps[2].state.jar.as_deref(), Some("refresh=1"));
    assert!(t.steps[3].text.contains("tab B") && t.steps[3].text.contains("token=1"));
    let (_, _, r) = checked("models/c05-cookie-written.json");
    assert_eq!((status(&r, "no_spurious_logout"), r.unique_states), (Verdict::Holds, 97));
}

/// C08 (keycloak/keycloak 16081, 14122): two tabs each logged in on their own, so two login
/// chains share one client session. Before PR 29966 the client session keeps one current
/// refresh token and one timestamp: tab A's refresh at tick 1 makes tab B's first token
/// (issued at 0, not current) a "Stale token", the client session is detached, B is logged out
/// and A's new token 3 dies with it (SP9). After PR 29966 (state per `reuse_id`) it holds.
#[test]
fn c08_per_client_session_state_makes_the_other_tabs_login_stale_and_reuse_id_fixes_it() {
    let (sc, m, r) = checked("models/c08-keycloak-per-client-session.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "TabSendsRefresh",
            "ClockTicks",
            "ServerReceivesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[3].text.contains("tab A's POST /auth/refresh (mode json, refresh_token=1)"), "{}", t.steps[3].text);
    assert_eq!(
        t.steps[3].state.store,
        [
            "token=1 family=0 gen=0 iat=0 superseded at 1, 0 grace use(s)",
            "token=2 family=1 gen=0 iat=0 active",
            "token=3 family=0 gen=1 parent=1 iat=1 active",
            "client session 0: count=1, current=1, timestamp=1"
        ]
    );
    assert!(t.steps[4].text.contains("tab B's POST /auth/refresh (mode json, refresh_token=2)"));
    // B's token 2: not the current one and issued (0) before the timestamp (1): stale, and
    // the detached client session takes tab A's token 3 with it.
    assert_eq!(
        t.steps[4].state.store,
        [
            "token=1 family=0 gen=0 iat=0 revoked",
            "token=2 family=1 gen=0 iat=0 revoked",
            "token=3 family=0 gen=1 parent=1 iat=1 revoked",
            "client session 0: count=1, current=1, timestamp=1"
        ]
    );
    assert!(t.steps[5].text.starts_with("tab B gets 400 invalid_grant"), "{}", t.steps[5].text);
    let t = trace_of(&m, &sc, &r, "sp9_revocation_scope");
    assert_eq!(actions(&t)[..], actions(&trace_of(&m, &sc, &r, "no_spurious_logout"))[..5]);
    assert_eq!(r.unique_states, 64);

    let (_, _, r) = checked("models/c08-keycloak-reuse-id.json");
    for p in ["no_spurious_logout", "sp9_revocation_scope", "sp3_single_lineage"] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    assert_eq!(status(&r, "reuse_detected"), Verdict::Unreached);
    assert_eq!(r.unique_states, 64);
}

/// C08's same-second quirk (`industry-policies.md` §1.3): Keycloak compares `iat` with the
/// client-session timestamp in whole seconds, and a token issued in the second of the last
/// refresh is not stale. With no time passing, the per-client-session model of C08 never
/// detects anything and keeps both tabs signed in.
#[test]
fn c08_a_token_issued_in_the_second_of_the_last_refresh_is_not_stale() {
    let mut sc = scenario("models/c08-keycloak-per-client-session.json", None);
    sc.time.max_ticks = 0;
    let (_, r) = run(&sc, &CheckOptions::default());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "sp9_revocation_scope"), Verdict::Holds);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Unreached);
    assert_eq!(status(&r, "refresh_succeeds"), Verdict::Reached);
    assert_eq!(r.unique_states, 20);
}

/// Model-file errors of C08's fields name the field and what is allowed.
#[test]
fn c08_fields_errors_name_the_field() {
    let base = r#"{"name":"m","description":"d","sources":["s"],
        "auth_server":{"rotation":"rotate","on_reuse":"detach-client-session","reuse_state":"per-client-session"},
        "browser":{"tabs":2,"refreshes_per_tab":1,"mode":"json","logins":"per-tab"},
        "time":{"refresh_token_ttl":7,"session_cookie_ttl":4}}"#;
    let path = std::path::Path::new("m.json");
    assert!(Scenario::parse(path, base).is_ok());
    let shared = base.replace("\"mode\":\"json\"", "\"mode\":\"json\",\"json_storage\":\"shared\"");
    let e = Scenario::parse(path, &shared).unwrap_err().to_string();
    assert!(e.starts_with("m.json:3:98: field `browser.logins`: found \"per-tab\", expected"), "{e}");
    assert!(e.contains("\"per-tab\" with an `auth_server`, `mode` \"json\" and `json_storage` \"per-tab\""), "{e}");
    let grace = base.replace("\"rotation\":\"rotate\"", "\"rotation\":\"rotate\",\"grace\":\"same-child\"");
    let e = Scenario::parse(path, &grace).unwrap_err().to_string();
    assert!(e.starts_with("m.json:2:114: field `auth_server.reuse_state`: found \"per-client-session\""), "{e}");
    let off = base.replace("\"detach-client-session\"", "\"reject\"");
    let e = Scenario::parse(path, &off).unwrap_err().to_string();
    assert!(e.contains("field `auth_server.reuse_state`") && e.contains("an `on_reuse` that detects"), "{e}");
    let bad = base.replace("\"per-client-session\"", "\"per-user\"");
    let e = Scenario::parse(path, &bad).unwrap_err().to_string();
    assert!(e.contains("auth_server.reuse_state") && e.contains("per-client-session"), "{e}");
}

/// C09 (keycloak/keycloak 14195, 23687): two nodes, each with its own copy of the session
/// entry. The tab's second refresh is routed to node 2 before node 1's write has been
/// replicated there: node 2 does not know the rotated token 2 and the tab is logged out. With
/// one node the same tab holds.
#[test]
fn c09_a_lagging_node_does_not_know_the_rotated_token() {
    let (sc, m, r) = checked("models/c09-keycloak-cluster-lagging-read.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        [
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("node 1", "NodeServesRequest"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("node 2", "NodeServesRequest"),
            ("tab A", "TabReceivesRefreshResponse")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(t.steps[6].text.contains("routes tab A's refresh (token=2) to node 2"), "{}", t.steps[6].text);
    assert_eq!(
        t.steps[6].state.store,
        [
            "node 1: token=1 family=0 gen=0 superseded at 0, 0 grace use(s)",
            "node 1: token=2 family=0 gen=1 parent=1 active",
            "node 2: token=1 family=0 gen=0 active"
        ],
        "node 2's copy has not received token 2"
    );
    assert_eq!(t.steps[6].state.handlers, ["node 1: a write not yet replicated to node 2"]);
    assert!(t.steps[7].text.starts_with("tab A gets 400 invalid_grant"));
    assert_eq!(r.unique_states, 31);

    let path = crate::util::root().join("models/c09-keycloak-cluster-lagging-read.json");
    let text = std::fs::read_to_string(&path).unwrap().replace("\"replicas\": 2", "\"replicas\": 1");
    let one = Scenario::parse(&path, &text).unwrap();
    let (_, r) = run(&one, &CheckOptions::default());
    assert_eq!((status(&r, "no_spurious_logout"), r.unique_states), (Verdict::Holds, 7));
}

/// C09 (keycloak/keycloak 50721, 23687): two login chains in one user-session entry, each tab
/// kept to its own node. Node 1 writes tab A's rotation, node 2 writes tab B's, and node 2's
/// replication overwrites node 1's whole entry: A's rotation is lost (token 1 is active again
/// on node 1, token 3 unknown), and A's next refresh, on its own node, is refused. One node
/// (the control) holds.
#[test]
fn c09_replication_overwrites_a_concurrent_write_and_one_node_holds() {
    let (sc, m, r) = checked("models/c09-keycloak-cluster-lost-update.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        [
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("node 1", "NodeServesRequest"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("node 2", "NodeServesRequest"),
            ("node 2", "NodeReplicates"),
            ("node 1", "NodeServesRequest"),
            ("tab A", "TabReceivesRefreshResponse")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(t.steps[4].text.contains("tab A's refresh (token=1) to node 1"));
    assert!(t.steps[8].text.contains("tab B's refresh (token=2) to node 2"));
    // Before the replication each node holds its own write: token 3 on node 1, token 4 on 2.
    assert!(t.steps[8].state.store.contains(&"node 1: token=3 family=0 gen=1 parent=1 active".to_string()));
    assert!(t.steps[8].state.store.contains(&"node 2: token=4 family=1 gen=1 parent=2 active".to_string()));
    assert_eq!(
        t.steps[9].state.store[..4],
        [
            "node 1: token=1 family=0 gen=0 active",
            "node 1: token=2 family=1 gen=0 superseded at 0, 0 grace use(s)",
            "node 1: token=3 unknown on this node",
            "node 1: token=4 family=1 gen=1 parent=2 active"
        ],
        "node 2's entry replaced node 1's: tab A's rotation is lost"
    );
    assert!(t.steps[10].text.contains("tab A's refresh (token=3) to node 1"));
    assert!(t.steps[11].text.starts_with("tab A gets 400 invalid_grant"));
    assert_eq!(r.unique_states, 3521);

    let (_, _, r) = checked("models/c09-keycloak-one-node.json");
    assert_eq!((status(&r, "no_spurious_logout"), r.unique_states), (Verdict::Holds, 102));
}

/// Model-file errors of C09's fields name the field and what is allowed.
#[test]
fn c09_fields_errors_name_the_field() {
    let base = r#"{"name":"m","description":"d","sources":["s"],
        "auth_server":{"rotation":"rotate","replicas":2},
        "browser":{"tabs":1,"refreshes_per_tab":1,"mode":"json"},
        "time":{"refresh_token_ttl":7,"session_cookie_ttl":4}}"#;
    let path = std::path::Path::new("m.json");
    assert!(Scenario::parse(path, base).is_ok());
    let three = base.replace("\"replicas\":2", "\"replicas\":3");
    let e = Scenario::parse(path, &three).unwrap_err().to_string();
    assert_eq!(e, "m.json:2:44: field `auth_server.replicas`: found 3, expected an integer from 1 to 2");
    let split = base.replace("\"replicas\":2", "\"replicas\":2,\"steps\":\"read-then-write\"");
    let e = Scenario::parse(path, &split).unwrap_err().to_string();
    assert!(e.contains("field `auth_server.steps`") && e.contains("\"atomic\" when `replicas` is 2"), "{e}");
    let bad = base.replace("\"replicas\":2", "\"replicas\":2,\"routing\":\"random\"");
    let e = Scenario::parse(path, &bad).unwrap_err().to_string();
    assert!(e.contains("auth_server.routing") && e.contains("sticky"), "{e}");
}

/// Issue 13, item 11: Keycloak's per-reuse-id counters with a Refresh Token Max Reuse of 1
/// could not be written (`reuse_state` demanded `grace` "none", and a `window` was refused
/// without a grace, while `window.uses` is the max reuse). `window.uses` alone is now taken:
/// with max reuse 1 two tabs sharing one login's token both redeem it (the second use counts 1,
/// not above 1); with max reuse 0 the second use detaches the client session and logs the
/// first tab out.
#[test]
fn keycloak_per_reuse_id_with_max_reuse_1_lets_two_tabs_redeem_one_token() {
    use refresh_check::check::CheckOptions;
    use refresh_check::scenario::{Scenario, Verdict};
    let file = "models/keycloak-reuse-id-max-reuse-1.json";
    let sc = crate::util::scenario(file, None);
    let (_, r) = crate::util::run(&sc, &CheckOptions::default());
    assert_eq!(crate::util::status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(crate::util::status(&r, "sp3_single_lineage"), Verdict::Violated);
    assert_eq!(crate::util::status(&r, "reuse_detected"), Verdict::Unreached);

    let dir = crate::common::TempFiles::new();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(crate::util::root().join(file)).unwrap()).unwrap();
    v["auth_server"].as_object_mut().unwrap().remove("window");
    v.as_object_mut().unwrap().remove("expect");
    let zero = dir.path().join("max-reuse-0.json");
    std::fs::write(&zero, v.to_string()).unwrap();
    let (_, r) = crate::util::run(&Scenario::load(&zero).unwrap(), &CheckOptions::default());
    assert_eq!(crate::util::status(&r, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(crate::util::status(&r, "reuse_detected"), Verdict::Reached);
}
