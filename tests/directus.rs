//! The Directus D-cases of `shared/cases/README.md` (D-E1..D-E5, D-SID's cost, D-MUTEX) and the
//! findings beyond them: one model file each, checked as the file expects, with the
//! interleaving of each violation or the state count of each exhaustive search pinned.
//! D-S1, D-S2 and D-SID's race freedom are in `scenarios.rs`.
//! See: directus/directus issue 22360, pull requests 22433, 22457, 22464, 22503, 22353.

use refresh_check::check::{CheckOptions, Outcome};
use refresh_check::model::browser::TabStatus;
use refresh_check::model::{
    self, browser_at, server_at, store_at, HttpError, Msg, RefreshModel, Reply, State, ATTACKER,
};
use refresh_check::properties::{Kind, PropertySpec, Scope};
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::search::{self, SearchConfig};
use refresh_check::trace::{self, Trace};

use crate::util::{checked_with, find_step, run, scenario, status, steps, trace_of};

/// Searches `sc`'s model for a state where `condition` holds (`Kind::Sometimes`) or fails
/// (`Kind::Always`); returns the shortest trace, if any, and the number of unique states.
fn search_for(
    sc: &Scenario,
    name: &'static str,
    kind: Kind,
    condition: fn(&RefreshModel, &State) -> bool,
) -> (Option<Trace>, u64) {
    let spec = PropertySpec { name, kind, claim: name, condition, scope: Scope::EVERY, reads: &[] };
    let m = model::build(sc).property(spec.expectation(), name, condition);
    let out = search::search(&m, &SearchConfig::default());
    let path = out.discoveries.last().cloned().flatten();
    let t = path.map(|p| trace::build(&m, &sc.path, &sc.name, sc.browser.tabs, &spec, &p).unwrap());
    (t, out.unique_states)
}

fn refreshed(s: &State, tab: usize) -> bool {
    browser_at(s, 0).tabs[tab].expiry.is_some()
}

/// D-E1: three tabs refresh one cookie at once on 10.10. At most one session row ever exists
/// (one live session); a state where all three were answered 200, one live and two orphans,
/// is reachable, and so is one 200 with two tabs logged out by 401.
#[test]
fn d_e1_three_concurrent_refreshes_leave_one_live_session_and_orphans_or_401s() {
    let (sc, _, r) = checked_with("models/directus-10.10-session-3tabs.json", None);
    assert_eq!(r.unique_states, 6_621);
    fn one_row(m: &RefreshModel, s: &State) -> bool {
        store_at(s, m.cfg.store).rows.len() <= 1
    }
    let (none, _) = search_for(&sc, "one live session", Kind::Always, one_row);
    assert!(none.is_none(), "never two rows");
    fn all_ok_two_orphans(m: &RefreshModel, s: &State) -> bool {
        (0..3).all(|t| refreshed(s, t)) && server_at(s, m.cfg.server).orphan_cookies == 2
    }
    let (t, _) = search_for(&sc, "three 200, two orphans", Kind::Sometimes, all_ok_two_orphans);
    let t = t.expect("all three answered 200 with two orphan cookies");
    assert_eq!(t.steps.last().unwrap().state.store.len(), 1);
    fn one_ok_two_401(_: &RefreshModel, s: &State) -> bool {
        let tabs = &browser_at(s, 0).tabs;
        tabs.iter().filter(|t| t.status == TabStatus::LoggedOut).count() == 2 && tabs.iter().any(|t| t.expiry.is_some())
    }
    assert!(search_for(&sc, "200,401,401", Kind::Sometimes, one_ok_two_401).0.is_some());
}

/// D-E2: on 10.11.1+, two tabs refreshing concurrently inside the grace are never logged out,
/// and every tab gets the same new token: at most one successor row is ever inserted (two
/// tabs with the clock passing the grace period, three with the clock stopped). With three
/// tabs a logout remains (`directus-10.11.1-session-3tabs`): the third tab loads with the
/// successor before its row is inserted (the G1–G3 window, see the findings below).
#[test]
fn d_e2_grace_window_concurrent_refreshes_share_one_successor() {
    let (sc2, _, r) = checked_with("models/directus-10.11.1-session.json", None);
    assert_eq!(r.unique_states, 12_229, "the state count changed, so the model changed");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let (sc3, _, r3) = checked_with("models/directus-10.11.1-session-3tabs.json", None);
    assert!(r3.exhaustive);
    assert_eq!(r3.unique_states, 62_390);
    // Every refresh of token 1 is answered with the one successor recorded in row 1's
    // `next_token` (set once by G1), whichever path it took (G1+G3, G2 or G0).
    fn same_successor(m: &RefreshModel, s: &State) -> bool {
        let b = browser_at(s, 0);
        let row1 = store_at(s, m.cfg.store).row(1).copied();
        refresh_check::model::in_flight(&s.network).into_iter().all(|(_, _, msg)| match *msg {
            Msg::RefreshResponse { tab, reply: Reply::Ok { set_cookie: Some(j), .. } }
                if b.tabs[tab as usize].status == (TabStatus::Refreshing { sent: Some(1) }) =>
            {
                row1.is_some_and(|r| r.next_token == Some(j.session))
            }
            _ => true,
        })
    }
    for sc in [&sc2, &sc3] {
        let (t, _) = search_for(sc, "same successor", Kind::Always, same_successor);
        assert!(t.is_none(), "{} tabs:\n{}", sc.browser.tabs, t.map(|t| trace::render_text(&t)).unwrap_or_default());
    }
    // Both tabs answered 200 for the same successor, one of them through the loser's path.
    fn both_on_2(_: &RefreshModel, s: &State) -> bool {
        let b = browser_at(s, 0);
        refreshed(s, 0) && refreshed(s, 1) && b.jar.session.map(|j| j.session) == Some(2)
    }
    let (t, _) = search_for(&sc2, "both on 2", Kind::Sometimes, both_on_2);
    let t = t.unwrap();
    let texts: Vec<_> = t.steps.iter().filter(|s| s.action == "TabReceivesRefreshResponse").map(|s| &s.text).collect();
    assert_eq!(texts.len(), 2);
    assert!(texts.iter().all(|x| x.contains("200, Set-Cookie session=2")), "{texts:?}");
}

/// D-E3: the old cookie replayed on 10.11.1+: inside the grace it is answered 200 with the
/// same successor; after the grace, 401. `rotated_token_expires` holds exhaustively.
#[test]
fn d_e3_old_cookie_inside_the_grace_gets_the_successor_and_after_it_401() {
    let (sc, _, r) = checked_with("models/directus-10.11.1-session-replay.json", None);
    assert_eq!(status(&r, "rotated_token_expires"), Verdict::Holds);
    assert_eq!(r.unique_states, 119_465);
    fn attacker_reply(s: &State) -> Option<Reply> {
        refresh_check::model::in_flight(&s.network).into_iter().find_map(|(_, _, msg)| match msg {
            Msg::RefreshResponse { tab: ATTACKER, reply } => Some(*reply),
            _ => None,
        })
    }
    // Inside: the tab's own refresh has landed (jar = 2), then the old cookie gets 2 again.
    fn inside(_: &RefreshModel, s: &State) -> bool {
        browser_at(s, 0).jar.session.map(|j| j.session) == Some(2)
            && matches!(attacker_reply(s), Some(Reply::Ok { set_cookie: Some(j), .. }) if j.session == 2)
    }
    let (t, _) = search_for(&sc, "inside the grace", Kind::Sometimes, inside);
    let t = t.unwrap();
    let tab_gets = find_step(&t, "tab A", "TabReceivesRefreshResponse", "200, Set-Cookie session=2");
    let g0 = find_step(&t, "store", "StoreRunsG0Extend", "WHERE token=2 for attacker");
    assert!(tab_gets < g0, "{}", trace::render_text(&t));
    // After: the rotation was learned at tick τ, the old cookie is refused at a later tick.
    fn after(m: &RefreshModel, s: &State) -> bool {
        let server = server_at(s, m.cfg.server);
        let rotated = server.ghost.superseded.iter().find(|&&(t, _)| t == 1).map(|&(_, at)| at);
        matches!(attacker_reply(s), Some(Reply::Err(HttpError::InvalidCredentials)))
            && rotated.is_some_and(|at| server.now > at + m.cfg.grace)
    }
    let (t, _) = search_for(&sc, "after the grace", Kind::Sometimes, after);
    let t = t.unwrap();
    assert!(t.steps.iter().filter(|s| s.action == "ClockTicks").count() >= 2, "{}", trace::render_text(&t));
    let last = find_step(&t, "server", "ServerReceivesResult", "no row for attacker");
    assert!(t.steps[last].text.contains("no row"));
}

/// D-E4: the session cookie's claim redeemed in json mode renames the session row in 10.10 and
/// in 10.11.1+ (the grace window does not cover json mode); with the type column of the PR
/// 22433 review the redemption is refused and `mode_binding` holds.
#[test]
fn d_e4_session_token_redeemed_in_json_mode_unless_sessions_are_type_bound() {
    for (file, len) in
        [("models/directus-10.10-session-crossmode.json", 6), ("models/directus-10.11.1-session-crossmode.json", 8)]
    {
        let (sc, m, r) = checked_with(file, None);
        assert_eq!(status(&r, "mode_binding"), Verdict::Violated);
        let t = trace_of(&m, &sc, &r, "mode_binding");
        assert_eq!(t.steps.len(), len, "{file}:\n{}", trace::render_text(&t));
        assert_eq!(steps(&t)[0], ("attacker".to_string(), "AttackerRedeems".to_string()));
        assert!(t.steps[0].text.contains("mode json, refresh_token=1"));
        let rename = find_step(&t, "store", "StoreRunsW1Rename", "WHERE token=1 for attacker");
        assert!(t.steps[rename].text.contains("token=2"));
        assert_eq!(t.steps.last().unwrap().state.store, vec!["token=2 expires=7 (json)"]);
    }
    let (_, _, r) = checked_with("models/directus-pr22433-type-bound.json", None);
    assert_eq!(status(&r, "mode_binding"), Verdict::Holds);
    assert_eq!(status(&r, "attacker_redeems"), Verdict::Unreached, "every cross-mode redemption is refused");
    assert_eq!(r.unique_states, 104);
}

/// D-E5: json mode on 10.11.1+ still renames in place: two clients with one refresh token
/// both pass R1 before either writes, and one gets an orphan token.
#[test]
fn d_e5_json_mode_keeps_the_race_after_the_fix() {
    let (sc, m, r) = checked_with("models/directus-10.11.1-json.json", None);
    assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "cookie_names_live_session");
    let a_r1 = find_step(&t, "store", "StoreRunsR1", "for tab A");
    let b_r1 = find_step(&t, "store", "StoreRunsR1", "for tab B");
    let a_w1 = find_step(&t, "store", "StoreRunsW1Rename", "WHERE token=1 for tab A");
    let b_w1 = find_step(&t, "store", "StoreRunsW1Rename", "WHERE token=1 for tab B");
    assert!(a_r1.max(b_r1) < a_w1.min(b_w1), "{}", trace::render_text(&t));
    assert!(t.steps[0].text.contains("its stored refresh token (token=1)"));
    assert!(t.steps.last().unwrap().text.contains("0 row(s) affected"));
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
}

/// D-SID's cost: with a stable session id, a copied cookie stays redeemable while the user
/// keeps refreshing, and the user never notices: the attacker refreshes with session 1, then
/// the tab refreshes with session 1 and is answered 200.
#[test]
fn d_sid_cost_a_copied_cookie_keeps_working_alongside_the_user() {
    let (sc, m, r) = checked_with("models/directus-pr22433-stable-id-attacker.json", None);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "theft_detected"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "theft_detected");
    // The attacker's refresh is answered (its write's result comes back) before tab A's
    // request arrives; then tab A's refresh of the same token succeeds too.
    let attack = find_step(&t, "server", "ServerReceivesResult", "1 row(s) affected for attacker");
    let tab = find_step(&t, "server", "ServerReceivesRefresh", "tab A's POST /auth/refresh (session=1");
    assert!(attack < tab, "{}", trace::render_text(&t));
    assert_eq!(t.steps.len(), 12);
    assert!(t.steps.last().unwrap().text.contains("1 row(s) affected for tab A"));
    // Under 10.10's rotation, with the same tab and attacker, the theft is always noticed:
    // whoever renames the row first, the other's next refresh fails.
    let (_, _, rot) = checked_with("models/directus-10.10-session-attacker.json", None);
    assert_eq!(status(&rot, "attacker_redeems"), Verdict::Reached);
    assert_eq!(status(&rot, "theft_detected"), Verdict::Holds);
    assert_eq!(rot.unique_states, 517);
}

/// D-MUTEX: with Web Locks no two refreshes of one browser are ever in flight and nothing
/// breaks (2 and 3 tabs); the localStorage fallback lets both tabs read the key free before
/// either sets it, and the 10.10 race comes back.
#[test]
fn d_mutex_web_locks_serialise_and_the_local_storage_fallback_does_not() {
    for (tabs, unique) in [(2, 40), (3, 188)] {
        let (_, _, r) = checked_with("models/directus-pr22457-weblocks.json", Some(tabs));
        assert!(r.exhaustive);
        assert_eq!(r.unique_states, unique, "{tabs} tabs");
        assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
        assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Holds);
        assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Unreached);
    }
    // A tab does wait for the lock, and a waiting tab is never left behind: whenever one
    // waits, the lock is held by a tab whose refresh is in flight.
    let wl = scenario("models/directus-pr22457-weblocks.json", None);
    fn b_waits(_: &RefreshModel, s: &State) -> bool {
        browser_at(s, 0).tabs[1].status == TabStatus::WaitingLock
    }
    let (t, _) = search_for(&wl, "B waits", Kind::Sometimes, b_waits);
    find_step(&t.unwrap(), "tab B", "TabWaitsForLock", "waits for the refresh lock");
    fn holder_refreshing(_: &RefreshModel, s: &State) -> bool {
        let b = browser_at(s, 0);
        !b.tabs.iter().any(|t| t.status == TabStatus::WaitingLock)
            || b.lock.is_some_and(|h| matches!(b.tabs[h as usize].status, TabStatus::Refreshing { .. }))
    }
    assert!(search_for(&wl, "no stuck waiter", Kind::Always, holder_refreshing).0.is_none());
    let (sc, m, r) = checked_with("models/directus-pr22457-localstorage.json", None);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 12, "{}", trace::render_text(&t));
    let a_read = find_step(&t, "tab A", "TabReadsLockFree", "");
    let b_read = find_step(&t, "tab B", "TabReadsLockFree", "");
    let a_set = find_step(&t, "tab A", "TabSetsLockAndRefreshes", "");
    let b_set = find_step(&t, "tab B", "TabSetsLockAndRefreshes", "");
    assert!(a_read.max(b_read) < a_set.min(b_set), "both read the key free before either set it");
    assert!(t.steps.last().unwrap().text.contains("401 INVALID_CREDENTIALS and is logged out"));
}

/// Finding (10.11.1+): G1 publishes `next_token` before G3 inserts its row. A refresh that
/// reaches G0 in between extends nothing (0 rows) and hands out the successor; if that tab's
/// next request (here the freshness check of PR 22464) arrives before G3, it is refused and the
/// tab is logged out.
#[test]
fn finding_successor_handed_out_before_its_row_exists_logs_a_tab_out() {
    let (sc, m, r) = checked_with("models/directus-10.11.1-session-followup.json", None);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 23, "{}", trace::render_text(&t));
    let g1 = find_step(&t, "store", "StoreRunsG1Claim", "for tab A");
    let g0 = find_step(&t, "store", "StoreRunsG0Extend", "WHERE token=2 for tab B");
    assert!(g1 < g0);
    assert!(!t.steps.iter().any(|s| s.action == "StoreRunsG3Insert"), "A's insert has not run");
    assert!(t.steps[g0 + 1].text.contains("0 row(s) affected"));
    find_step(&t, "tab B", "TabChecksFreshness", "");
    assert!(t.steps.last().unwrap().text.contains("freshness check and is logged out"));
    // The same window breaks `cookie_names_live_session` in the plain D-E2 model.
    let (_, _, e2) = checked_with("models/directus-10.11.1-session.json", None);
    assert_eq!(status(&e2, "cookie_names_live_session"), Verdict::Violated);
}

/// Finding (10.11.1+, three tabs): the third tab needs no request of its own after a refresh.
/// Tab A's G1 claims the successor (token 2); tab B's refresh of token 1 reaches G0 before A's
/// G3, extends no row (0 affected, not read) and answers 200 with a cookie for 2, which the
/// shared jar now holds; tab C loads with that cookie, and the per-request session check of
/// PR 22353 finds no row for 2: 401, C is logged out while the session is valid (23 steps,
/// the clock never ticks). With two tabs of this model no tab is logged out.
#[test]
fn finding_a_third_tab_loads_with_the_successor_before_its_row_exists() {
    let (sc, m, r) = checked_with("models/directus-10.11.1-session-3tabs.json", None);
    assert_eq!(sc.browser.tabs, 3);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 23, "{}", trace::render_text(&t));
    let g1 = find_step(&t, "store", "StoreRunsG1Claim", "WHERE token=1 AND next_token IS NULL for tab A");
    let g0 = find_step(&t, "store", "StoreRunsG0Extend", "WHERE token=2 for tab B");
    assert!(t.steps[g0 + 1].text.contains("0 row(s) affected for tab B"), "{}", trace::render_text(&t));
    let b_ok = find_step(&t, "tab B", "TabReceivesRefreshResponse", "200, Set-Cookie session=2");
    let c_sends = find_step(&t, "tab C", "TabSendsRefresh", "session=2");
    let c_check =
        find_step(&t, "store", "StoreRunsSessionCheck", "token=2 AND expires>=0 (verifySessionJWT) for tab C");
    assert!(g1 < g0 && g0 < b_ok && b_ok < c_sends && c_sends < c_check, "{}", trace::render_text(&t));
    assert!(t.steps[c_check + 1].text.contains("no row for tab C"));
    assert!(!t.steps.iter().any(|s| s.action == "StoreRunsG3Insert"), "A's insert has not run");
    assert!(!t.steps.iter().any(|s| s.action == "ClockTicks"), "no tick is needed");
    assert!(t.steps.last().unwrap().text.contains("tab C gets 401 INVALID_CREDENTIALS and is logged out"));
    // The same file with two tabs: no tab is logged out.
    let two = sc.with_tabs(2).unwrap();
    let (_, r2) = run(&two, &CheckOptions::default());
    assert!(r2.exhaustive);
    assert_eq!(r2.unique_states, 691);
    assert_eq!(status(&r2, "no_spurious_logout"), Verdict::Holds);
}

/// PR 22433's proposal (the session id stays, the row is only extended) with three tabs
/// loading at once: no tab is logged out and no cookie names a missing row, exhaustively, as
/// with two.
#[test]
fn pr22433_stable_id_holds_with_three_tabs() {
    let sc = scenario("models/directus-pr22433-stable-id.json", Some(3));
    let (_, r) = run(&sc, &CheckOptions::default());
    assert!(r.exhaustive);
    assert_eq!(r.unique_states, 20_928);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Reached);
}

/// The window of the finding above closes when the refresh handler runs as one transaction
/// (the model's `atomic` steps): no tab is logged out and no token names a missing row, with
/// two tabs or three.
#[test]
fn finding_successor_window_closes_with_one_transaction() {
    for (tabs, unique) in [(2, 368), (3, 32_504)] {
        let mut sc = scenario("models/directus-10.11.1-session-followup.json", Some(tabs));
        sc.server.steps = refresh_check::model::policy::ServerSteps::Atomic;
        let (_, r) = run(&sc, &CheckOptions::default());
        assert!(r.exhaustive);
        assert_eq!(r.unique_states, unique, "{tabs} tabs");
        assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds, "{tabs} tabs");
        assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Holds, "{tabs} tabs");
        assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Reached);
    }
}

/// Finding (10.11.1+): the grace window bounds how late a concurrent refresh may arrive. A
/// refresh with the old cookie that reaches the server more than the grace period after the
/// winner's G1 is refused and its tab is logged out.
#[test]
fn finding_a_refresh_arriving_after_the_grace_logs_its_tab_out() {
    let (sc, m, r) = checked_with("models/directus-10.11.1-session-slow.json", None);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 15, "{}", trace::render_text(&t));
    let g1 = find_step(&t, "store", "StoreRunsG1Claim", "for tab A");
    let b_check =
        find_step(&t, "store", "StoreRunsSessionCheck", "token=1 AND expires>=2 (verifySessionJWT) for tab B");
    assert!(g1 < b_check);
    assert!(t.steps.last().unwrap().text.contains("tab B gets 401 INVALID_CREDENTIALS and is logged out"));
}

/// Finding (10.11.1+): a refresh in flight when the user signs out resurrects the session:
/// its G3 inserts the successor after the sign-out deleted the old row.
#[test]
fn finding_a_refresh_in_flight_at_sign_out_resurrects_the_session() {
    let (sc, m, r) = checked_with("models/directus-10.11.1-session-signout.json", None);
    assert_eq!(status(&r, "sign_out_completes"), Verdict::Reached);
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    assert_eq!(t.steps.len(), 14, "{}", trace::render_text(&t));
    let g1 = find_step(&t, "store", "StoreRunsG1Claim", "for tab A");
    let delete = find_step(&t, "store", "StoreRunsLogoutDelete", "WHERE token=1 for tab B");
    let g3 = find_step(&t, "store", "StoreRunsG3Insert", "token=2");
    assert!(g1 < delete && delete < g3);
    assert_eq!(t.steps.last().unwrap().state.store, vec!["token=2 expires=4"]);
}

/// For comparison, 10.10 with the same timing: the refresh in flight renames a row the sign-out
/// deleted (0 rows, an orphan cookie), and no session is resurrected.
#[test]
fn sign_out_during_a_refresh_in_10_10_leaves_an_orphan_not_a_session() {
    let (sc, m, r) = checked_with("models/directus-10.10-session-signout.json", None);
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Holds);
    assert_eq!(status(&r, "sign_out_completes"), Verdict::Reached);
    assert_eq!(r.unique_states, 733);
    let t = trace_of(&m, &sc, &r, "cookie_names_live_session");
    let delete = find_step(&t, "store", "StoreRunsLogoutDelete", "WHERE token=1 for tab B");
    let rename = find_step(&t, "store", "StoreRunsW1Rename", "WHERE token=1 for tab A");
    assert!(delete < rename);
    assert!(t.steps.last().unwrap().text.contains("0 row(s) affected for tab A"));
    assert!(t.steps.last().unwrap().state.store.is_empty());
}

/// Before PR 22353 an ordinary request checks the JWT only: a cookie whose token was renamed
/// away is accepted a tick after the rotation (`rotated_token_expires`, no grace in 10.10).
/// The same in 10.11.1+ holds (see D-E3).
#[test]
fn before_the_per_request_check_a_rotated_cookie_stays_accepted() {
    let (sc, m, r) = checked_with("models/directus-10.10-session-clock.json", None);
    let t = trace_of(&m, &sc, &r, "rotated_token_expires");
    assert_eq!(t.steps.len(), 9, "{}", trace::render_text(&t));
    let rename = find_step(&t, "store", "StoreRunsW1Rename", "WHERE token=1 for tab A");
    let sent = find_step(&t, "tab B", "TabSendsRequest", "session=1");
    let tick = find_step(&t, "clock", "ClockTicks", "now = 1");
    let arrives = find_step(&t, "server", "ServerReceivesRequest", "GET /users/me (session=1");
    assert!(rename < sent && sent < tick && tick < arrives);
}

/// The store's concurrency does not matter for the race: with one connection (SQLite) the
/// statements run in issue order, and D-S1 is the same ten steps.
#[test]
fn one_connection_store_has_the_same_scenario_1() {
    let (sc, m, r) = checked_with("models/directus-10.10-session-sqlite.json", None);
    let (sc0, m0, r0) = checked_with("models/directus-10.10-session.json", None);
    let (t, t0) = (trace_of(&m, &sc, &r, "no_spurious_logout"), trace_of(&m0, &sc0, &r0, "no_spurious_logout"));
    assert_eq!(steps(&t), steps(&t0));
    assert_eq!(r.unique_states, 143, "fewer than the pool's {}", r0.unique_states);
    assert!(r.unique_states < r0.unique_states);
}

/// Every shipped model file checks as it expects, none is vacuous, and each search is small.
#[test]
fn every_shipped_model_checks_as_expected() {
    let mut files: Vec<_> = std::fs::read_dir(crate::util::root().join("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 19, "{files:?}");
    for f in files {
        let sc = Scenario::load(&f).unwrap();
        let (_, r) = run(&sc, &CheckOptions::default());
        assert_eq!(r.outcome(), Outcome::AsExpected, "{}", f.display());
        assert!(r.vacuous.is_empty(), "{}: {:?}", f.display(), r.vacuous);
        assert!(r.unique_states < 200_000, "{}: {}", f.display(), r.unique_states);
    }
}
