//! Client reactions as composable parts of the model file (issue 14 item 2) and sign-out
//! completeness judged for the user (item 5): each new reaction in a shipped model, its
//! verdicts and the reported interleaving.

use refresh_check::scenario::{Scenario, Verdict};

use crate::util::{checked, cli, pair, root, status, steps, trace_of};

/// next-auth issue 11853 (`on_ok: [store-in-cookie, next-stage-refreshes-with-original-token]`):
/// the middleware's refresh is answered 200 and sets the new cookie, the Server Component of
/// the same request refreshes with the request's original cookie, the provider detects reuse
/// and revokes the family, and the tab is logged out: five steps, in that order. Forwarding the
/// refreshed cookie on the request (the fix) holds on a search that is not empty.
#[test]
fn nextauth_11853_the_server_component_refreshes_with_the_original_cookie_and_the_fix_holds() {
    let (sc, m, r) = checked("models/nextauth-11853-server-component-old-cookie.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Reached);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        vec![
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A", "TabReceivesRefreshResponse"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A", "TabReceivesRefreshResponse"),
        ]
    );
    assert!(t.steps[1].text.contains("refresh cookie=1): rule `rotate`"), "{}", t.steps[1].text);
    assert!(t.steps[2].text.contains("refreshes with the request's original cookie (token=1)"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("refresh cookie=1): rule `reuse`"), "{}", t.steps[3].text);
    assert!(
        t.steps[4].text.contains("400 invalid_grant") && t.steps[4].text.ends_with("is logged out"),
        "{}",
        t.steps[4].text
    );

    let (_, _, fixed) = checked("models/nextauth-11853-request-cookie-forwarded.json");
    assert_eq!(status(&fixed, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&fixed, "reuse_detected"), Verdict::Unreached);
    assert!(fixed.unique_states >= 5, "the search was not empty: {}", fixed.unique_states);
}

/// OpenRisk issue 700 (`on_refused: [clear-cookie, log-out]`): the winner's 200 and the
/// loser's 401, which revokes the family and clears the jar; the shortest counterexample is the
/// reported race, and the winner is left with no cookie (`converges_to_live_token`).
#[test]
fn openrisk_700_the_losers_401_revokes_the_family_and_clears_the_jar() {
    let (sc, m, r) = checked("models/openrisk-700-loser-401-clears-cookies.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(status(&r, "converges_to_live_token"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 5);
    assert!(t.steps[1].text.contains("tab A's POST /auth/refresh (mode cookie, refresh cookie=1): rule `rotate`"));
    assert!(t.steps[3].text.contains("tab B's POST /auth/refresh (mode cookie, refresh cookie=1): rule `reuse`"));
    assert!(t.steps[4].text.starts_with("tab B gets 400 invalid_grant"), "{}", t.steps[4].text);
    assert!(t.steps[4].text.ends_with("clears the auth cookies and is logged out"), "{}", t.steps[4].text);
    let (before, after) = (&t.steps[3].state.jar, &t.steps[4].state.jar);
    assert!(before.as_deref().is_some_and(|j| j.contains('1')) && after.is_none(), "{before:?} → {after:?}");
}

/// Keycloak KEYCLOAK-6615: after the restart the signed-out offline token is answered 2xx with
/// a live token: a live session revived, not a dead token handed out; the fix (PR 5001) holds
/// both. The two properties are n/a where no tab signs out.
#[test]
fn sign_out_completeness_for_the_user_tells_a_revived_session_from_a_dead_token() {
    let (_, _, r) = checked("models/keycloak-6615-offline-logout-cache-only.json");
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Violated);
    assert_eq!(status(&r, "sign_out_no_dead_token_handed_out"), Verdict::Holds);
    let (_, _, fixed) = checked("models/keycloak-pr5001-offline-logout-persisted.json");
    assert_eq!(status(&fixed, "sign_out_no_session_revived"), Verdict::Holds);
    assert!(fixed.unique_states > 100);
    let no_sign_out = Scenario::load(&root().join("models/openrisk-700-loser-401-clears-cookies.json")).unwrap();
    let p = refresh_check::properties::by_name("sign_out_no_session_revived").unwrap();
    assert!(!p.applies(&no_sign_out));
    let with = Scenario::load(&root().join("models/keycloak-pr5001-offline-logout-persisted.json")).unwrap();
    assert!(p.applies(&with));
}

/// `models expand` writes the client reactions out with their presets: the mode's `on_ok`
/// and the default lists and listeners; a reaction that needs a bound or a mode is refused
/// with the field and what is expected.
#[test]
fn expand_prints_the_reaction_presets_and_bad_reactions_are_refused() {
    let out = cli(&root(), &["models", "expand", "models/c06-nextauth-single-use.json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["browser"]["on_ok"], serde_json::json!(["store-in-cookie"]));
    assert_eq!(v["browser"]["on_refused"], serde_json::json!(["log-out"]));
    assert_eq!(v["browser"]["on_stored_token_written"], serde_json::json!("ignore"));
    let out = cli(&root(), &["models", "expand", "models/c17-lagging-storage-weblocks.json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["browser"]["on_ok"], serde_json::json!(["store-shared", "store-in-tab"]));

    let base = std::fs::read_to_string(root().join("models/openrisk-700-loser-401-clears-cookies.json")).unwrap();
    let dir = crate::common::TempFiles::new();
    for (from, to, field) in [
        (r#""clear-cookie","#, r#""retry","#, "browser.retry_limit"),
        (
            r#""mode": "cookie","#,
            r#""mode": "json", "on_stored_token_written": "adopt","#,
            "browser.on_stored_token_written",
        ),
        // Tabs that read the shared storage directly have no copy of their own to adopt into.
        (
            r#""mode": "cookie","#,
            r#""mode": "json", "json_storage": "shared", "on_stored_token_written": "adopt","#,
            "browser.on_stored_token_written",
        ),
    ] {
        let file = dir.path().join("m.json");
        std::fs::write(&file, base.replace(from, to)).unwrap();
        let e = Scenario::load(&file).unwrap_err().to_string();
        assert!(e.contains(&format!("field `{field}`")), "{e}");
    }
}

/// kcap-cli issue 946 (`on_server_error: [keep-going]`): the exchange commits, its reply fails
/// with a 5xx, the client keeps its stored token and presents it again after WorkOS's replay
/// window: reuse, the family is revoked, the client is signed out. PR 947
/// (`on_server_error: [retry, keep-going]`, `retry_limit: 1`) replays the same token at once:
/// the first replay is answered with the same rotated pair; what is left is a failure answered
/// after the window, so the replay itself arrives late.
#[test]
fn kcap_cli_946_a_5xx_after_the_commit_signs_out_and_pr_947_replays_inside_the_window() {
    let (sc, m, r) = checked("models/kcap-cli-946-transport-failure-not-replayed.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let actions: Vec<_> = steps(&t).into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        actions,
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ClockTicks",
            "ClockTicks",
            "ServerRestarts",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[1].text.contains("rule `rotate` → continue"), "{}", t.steps[1].text);
    // The model keeps no field in memory: the restart loses only the request in progress.
    assert_eq!(
        t.steps[4].text,
        "the server restarts (the token store is durable), and 1 request(s) in progress fail with 500"
    );
    assert!(t.steps[5].text.contains("500") && t.steps[5].text.ends_with("keeps going"), "{}", t.steps[5].text);
    assert!(t.steps[6].text.contains("(token=1)"), "{}", t.steps[6].text);
    assert!(t.steps[7].text.contains("rule `reuse`"), "{}", t.steps[7].text);

    let (sc, m, r) = checked("models/kcap-cli-pr947-replay-5xx-in-window.json");
    // The replay inside the window is answered with the same rotated pair.
    fn replayed_ok(m: &refresh_check::model::RefreshModel, s: &refresh_check::model::State) -> bool {
        let b = refresh_check::model::browser_at(s, m.cfg.browsers[0]);
        b.tabs[0].reaction_retries_left == 0 && b.tabs[0].token == Some(2) && b.refreshed_ok
    }
    let (path, exhaustive, _) = crate::util::shortest_to(&sc, replayed_ok);
    assert!(path.is_some() && exhaustive, "the replay stores the rotated token");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let replay = t.steps.iter().position(|s| s.text.contains("sends the refresh again with the stored token=1"));
    let replay = replay.expect("the counterexample goes through the replay");
    assert!(
        t.steps[..replay].iter().filter(|s| s.action == "ClockTicks").count() == 2,
        "the 5xx came after the window"
    );
    assert!(t.steps[replay + 1].text.contains("rule `reuse`"), "{}", t.steps[replay + 1].text);
}

/// fliks PR 457: before, two tabs with their own in-memory tokens race and the lagging tab's
/// replay revokes every token of the user (`on_refused: [clear-shared-storage, log-out]`);
/// after, Web Locks, the storage listener (`on_stored_token_written: adopt` with
/// `on_ok: [store-in-tab, store-shared]`) and a grace that rejects without revoking hold. The
/// listener is what makes the fix: without it the tab granted the lock presents its stale copy,
/// and is logged out.
#[test]
fn fliks_457_the_storage_listener_adopts_the_sibling_tabs_rotation() {
    let (sc, m, r) = checked("models/fliks-457-multi-tab-replay-revokes-user.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 5);
    assert!(t.steps[3].text.contains("tab B's POST /auth/refresh (mode json, refresh_token=1): rule `replay`"));

    let (sc, _, fixed) = checked("models/fliks-pr457-weblocks-storage-listener.json");
    assert_eq!(status(&fixed, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&fixed, "converges_to_live_token"), Verdict::Holds);
    assert!(fixed.unique_states >= 20, "{}", fixed.unique_states);
    // Tab B holds tab A's rotated token before it refreshed itself: adopted from the listener.
    fn adopted(m: &refresh_check::model::RefreshModel, s: &refresh_check::model::State) -> bool {
        let b = refresh_check::model::browser_at(s, m.cfg.browsers[0]);
        b.tabs[1].token == Some(2) && b.tabs[1].refreshes_left == 1
    }
    let (path, _, _) = crate::util::shortest_to(&sc, adopted);
    assert!(path.is_some(), "the listener copies the sibling's token");

    let text = std::fs::read_to_string(&sc.path).unwrap().replace(r#""adopt""#, r#""ignore""#);
    let no_listener = Scenario::parse(&sc.path, &text).unwrap();
    let (_, r) = crate::util::run(&no_listener, &Default::default());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated, "without the listener the stale copy is refused");
}

/// `time.max_in_flight_ticks`: convex-auth after PR 555 logs a tab out only through a refresh
/// that stays in the network past the 10 s window (one tick); with every message delivered
/// before the clock advances again (K = 0) that logout is gone and the response-order race
/// remains. The bounded search is not empty, each tick is settled by a `ClockMayTickAgain`
/// step, and a bound with a lossy network is refused.
#[test]
fn the_in_flight_bound_removes_the_logout_that_needs_a_refresh_delayed_past_the_window() {
    let (sc, m, r) = checked("models/convex-auth-pr555-access-token-only.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    // The refused refresh was sent before a tick and delivered after it.
    let refused = t.steps.iter().rposition(|s| s.action == "ServerReceivesRefresh").unwrap();
    let sent = t.steps[..refused].iter().rposition(|s| s.action == "TabSendsRefresh").unwrap();
    assert!(
        t.steps[sent..refused].iter().any(|s| s.action == "ClockTicks"),
        "{}",
        refresh_check::trace::render_text(&t)
    );

    let (sc, m, bounded) = checked("models/convex-auth-pr555-delivered-within-a-tick.json");
    assert_eq!(sc.time.max_in_flight_ticks, Some(0));
    assert_eq!(status(&bounded, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&bounded, "converges_to_live_token"), Verdict::Violated);
    assert!(bounded.unique_states > 1000 && bounded.unique_states < r.unique_states);
    let t = trace_of(&m, &sc, &bounded, "rotated_token_expires");
    for (i, s) in t.steps.iter().enumerate().filter(|(_, s)| s.action == "ClockTicks") {
        assert!(
            s.state.in_flight.iter().all(|f| f.from == "clock"),
            "step {}: nothing else in flight at a tick",
            i + 1
        );
        let next_tick =
            t.steps[i + 1..].iter().position(|s| s.action == "ClockTicks").map_or(t.steps.len(), |j| i + 1 + j);
        if next_tick < t.steps.len() {
            assert!(t.steps[i + 1..next_tick].iter().any(|s| s.action == "ClockMayTickAgain"), "step {}", i + 1);
        }
    }

    // With `lossy` a lost message leaves the history of messages in flight, so the two combine
    // (tests/faults.rs).
    let text = std::fs::read_to_string(&sc.path).unwrap().replacen(r#""name":"#, r#""lossy": true, "name":"#, 1);
    let lossy = Scenario::parse(&sc.path, &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lossy.time.max_in_flight_ticks, Some(0));
}
