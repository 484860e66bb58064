//! Several requesters inside one tab and a page reload that cancels the tab's refresh (issue
//! 14 item 2; `browser.requesters_per_tab`, `browser.reloads_per_tab`): each construct in a
//! shipped model, its verdicts and the reported interleaving, its fix, and its bad input.

use refresh_check::scenario::Verdict;

use crate::util::{checked, cli, pair, root, status, steps, trace_of};

/// nhost/hasura-backend-plus issue 220: the server rotates token 1 (deletes it, answers with
/// token 2), then the user reloads the page, which cancels that request; the reloaded page
/// presents token 1, still in the jar, is refused and logged out. Five steps, the server's
/// rotation before the reload, as the issue lists them.
#[test]
fn nhost_220_the_reload_cancels_the_rotated_refresh_and_the_new_page_is_refused() {
    let (sc, m, r) = checked("models/nhost-hbp-220-reload-cancels-refresh.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        vec![
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A", "TabReloads"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A (reloaded page 1)", "TabReceivesRefreshResponse"),
        ]
    );
    assert!(t.steps[0].text.contains("refresh cookie (token=1)"), "{}", t.steps[0].text);
    assert!(t.steps[1].text.contains("refresh cookie=1): rule `rotate`"), "{}", t.steps[1].text);
    assert!(t.steps[2].text.contains("cancels the request"), "{}", t.steps[2].text);
    assert!(t.steps[2].text.ends_with("with the jar's refresh cookie (token=1)"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("refresh cookie=1): rule `reuse` → invalid_grant"), "{}", t.steps[3].text);
    assert!(
        t.steps[4].text.contains("400 invalid_grant") && t.steps[4].text.ends_with("logs tab A out"),
        "{}",
        t.steps[4].text
    );

    // The fix the title proposes: the used token stays valid for the window.
    let (_, _, fixed) = checked("models/nhost-hbp-220-proposed-grace.json");
    assert_eq!(status(&fixed, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&fixed, "converges_to_live_token"), Verdict::Holds);
    assert_eq!(status(&fixed, "sp3_single_lineage"), Verdict::Violated, "a sibling: two live tokens");
    assert!(fixed.unique_states >= 50, "the search was not empty: {}", fixed.unique_states);
}

/// inite-ai/inite-brain-service PR 641: two fetches of one page (`/api/auth/me` and a proxy
/// call) carry the same refresh cookie; the first rotates it, the second is taken for reuse,
/// the family is revoked and the page is logged out. The PR's shared rotation (the same
/// child inside the window) holds.
#[test]
fn inite_641_two_requesters_of_one_page_race_and_the_shared_rotation_holds() {
    let (sc, m, r) = checked("models/inite-641-page-fetches-race.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Reached, "requesters count as concurrent");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        vec![
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A's requester 2", "RequesterSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A's requester 2", "TabReceivesRefreshResponse"),
        ]
    );
    assert!(t.steps[1].text.contains("refresh cookie=1): rule `rotate`"), "{}", t.steps[1].text);
    assert!(t.steps[2].text.contains("no single-flight") && t.steps[2].text.contains("token=1"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.contains("requester 2's POST /auth/refresh (mode cookie, refresh cookie=1): rule `reuse`"));
    assert!(t.steps[4].text.ends_with("logs tab A out"), "{}", t.steps[4].text);
    assert_eq!(t.steps[4].state.tabs[0].status, "logged out", "the tab, not only the requester");

    let (_, _, fixed) = checked("models/inite-pr641-shared-rotation.json");
    assert_eq!(status(&fixed, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&fixed, "concurrent_refreshes"), Verdict::Reached);
    assert!(fixed.unique_states >= 50, "the search was not empty: {}", fixed.unique_states);
}

/// One requester and no reload, written out, is the model without the fields: the same
/// states, so every shipped model keeps its state count.
#[test]
fn one_requester_and_no_reload_written_out_change_nothing() {
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join("models/openrisk-700-loser-401-clears-cookies.json")).unwrap();
    let (_, _, plain) = checked("models/openrisk-700-loser-401-clears-cookies.json");
    let written = text.replacen("\"tabs\": 2,", "\"tabs\": 2, \"requesters_per_tab\": 1, \"reloads_per_tab\": 0,", 1);
    assert_ne!(written, text);
    let file = dir.path().join("openrisk-700-loser-401-clears-cookies.json");
    std::fs::write(&file, written).unwrap();
    let (_, _, same) = checked(file.to_str().unwrap());
    assert_eq!((same.unique_states, same.states), (plain.unique_states, plain.states));
    assert!(plain.unique_states > 10);
}

/// Bad input names the file, the field and what is allowed, with exit code 2.
#[test]
fn requesters_and_reloads_bad_input_is_refused_with_the_field_and_the_allowed_values() {
    let dir = crate::common::TempFiles::new();
    let base = std::fs::read_to_string(root().join("models/inite-641-page-fetches-race.json")).unwrap();
    let cases = [
        ("\"requesters_per_tab\": 2", "\"requesters_per_tab\": 5", "browser.requesters_per_tab", "from 1 to 4"),
        (
            "\"requesters_per_tab\": 2",
            "\"requesters_per_tab\": 2, \"coordination\": \"web-locks\"",
            "browser.requesters_per_tab",
            "\"none\"",
        ),
        (
            "\"requesters_per_tab\": 2",
            "\"requesters_per_tab\": 2, \"on_refused\": [\"retry\", \"log-out\"], \"retry_limit\": 1",
            "browser.on_refused[0]",
            "retry-with-stored-token",
        ),
        (
            "\"mode\": \"cookie\",\n    \"requesters_per_tab\": 2",
            "\"mode\": \"json\", \"reloads_per_tab\": 1",
            "browser.reloads_per_tab",
            "\"shared\"",
        ),
        ("\"requesters_per_tab\": 2", "\"reloads_per_tab\": 4", "browser.reloads_per_tab", "from 0 to 3"),
        (
            "\"requesters_per_tab\": 2",
            "\"on_requester_refused\": [\"keep-going\"]",
            "browser.on_requester_refused",
            "`requesters_per_tab` is above 1",
        ),
        (
            "\"requesters_per_tab\": 2",
            "\"requesters_per_tab\": 2, \"on_requester_server_error\": [\"retry\", \"log-out\"], \"retry_limit\": 1",
            "browser.on_requester_server_error[0]",
            "retry-with-stored-token",
        ),
        (
            "\"requesters_per_tab\": 2",
            "\"requesters_per_tab\": 2, \"on_requester_refused\": [\"keep-going\", \"log-out\"]",
            "browser.on_requester_refused",
            "ending with \"log-out\" or \"keep-going\"",
        ),
        (
            "\"requesters_per_tab\": 2",
            "\"on_requester_ok\": []",
            "browser.on_requester_ok",
            "`requesters_per_tab` is above 1",
        ),
        (
            "\"requesters_per_tab\": 2",
            "\"requesters_per_tab\": 2, \"on_requester_ok\": [\"store-in-cookie\", \"store-in-cookie\"]",
            "browser.on_requester_ok[1]",
            "each reaction at most once",
        ),
        (
            "\"requesters_per_tab\": 2",
            "\"requesters_per_tab\": 2, \"on_requester_ok\": [\"next-stage-refreshes-with-original-token\"]",
            "browser.on_requester_ok[0]",
            "\"store-in-cookie\"",
        ),
        // (Reloads with calls are accepted since a reload cancels the page's call and drops
        // its access token: `tests/calls.rs`.)
    ];
    for (from, to, field, allowed) in cases {
        let text = base.replacen(from, to, 1);
        assert_ne!(text, base, "{to}");
        let file = dir.path().join("bad.json");
        std::fs::write(&file, &text).unwrap();
        let out = cli(dir.path(), &["check", "bad.json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {err}");
        assert!(err.contains("bad.json") && err.contains(field) && err.contains(allowed), "{to}: {err}");
    }
}

/// `browser.on_requester_refused`: requesters 2 to N react with their own list, the tab with
/// `on_refused`. In F3 Nation's fixed proxy a losing sub-resource request leaves the cookies
/// alone and a losing navigation (the tab) still clears them: only the navigation's refusal
/// logs the tab out. Written out as the tab's own list, the model is the one without the field.
#[test]
fn the_other_requesters_react_with_their_own_list() {
    let file = "models/f3-nation-375-fix-navigation-loser-clears-cookies.json";
    let (sc, m, r) = checked(file);
    assert!(r.exhaustive && r.unique_states > 100, "{}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let last = t.steps.last().unwrap();
    assert_eq!(pair(&last.actor, &last.action), pair("tab A", "TabReceivesRefreshResponse"), "the navigation");
    assert!(last.text.ends_with("is logged out"), "{}", last.text);
    assert!(
        t.steps.iter().any(|s| s.text.contains("requester 2") && s.text.contains("1 row, insert the new token")),
        "the sub-resource request won the rotation"
    );
    // A requester's refusal never logs the tab out: its list is keep-going.
    assert!(!t.steps.iter().any(|s| s.actor.contains("requester 2") && s.text.contains("logs tab A out")));

    // Without the field, requester 2 takes the tab's list: its refusal clears the cookies too.
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let tabs = text.replacen(
        "\"on_requester_refused\": [\n      \"keep-going\"\n    ]",
        "\"on_requester_refused\": [\"clear-cookie\", \"log-out\"]",
        1,
    );
    let plain = text.replacen(",\n    \"on_requester_refused\": [\n      \"keep-going\"\n    ]", "", 1);
    assert!(tabs != text && plain != text);
    let query = sc.queries.iter().find(|q| q.name == "fetch-refusal-never-logs-out").unwrap();
    let answer = |sc: &refresh_check::scenario::Scenario| {
        let built = refresh_check::model::build(sc);
        let cfg = refresh_check::search::SearchConfig::default();
        refresh_check::query::answer(&built, &sc.path, &sc.name, sc.browser.tabs, query, &cfg).answer
    };
    assert_eq!(answer(&sc), refresh_check::query::Answer::Unreachable);
    let mut counts = vec![];
    for (name, body) in [("tabs.json", &tabs), ("plain.json", &plain)] {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        let sc2 = crate::util::scenario(f.to_str().unwrap(), None);
        let (_, r2) = crate::util::run(&sc2, &refresh_check::check::CheckOptions::default());
        assert!(r2.exhaustive);
        counts.push((r2.unique_states, r2.states));
        assert_eq!(status(&r2, "no_spurious_logout"), Verdict::Violated);
        assert_eq!(answer(&sc2), refresh_check::query::Answer::Reachable, "{name}: requester 2's refusal logs out");
    }
    assert_eq!(counts[0], counts[1], "the tab's list written out is the default");
    assert_ne!(counts[0].0, r.unique_states);
}

const SB_343: &str = "models/supabase-auth-helpers-343-server-refresh-not-passed-to-client.json";

/// `browser.on_requester_ok`: supabase/auth-helpers issue 343. The server render (requester 2)
/// refreshes the page's cookie and passes nothing back (`[]`); once the reuse interval has
/// passed, the client-side library (the tab) presents the rotated-away token, the family is
/// revoked and the tab is logged out: the reported run, step by step. Without the field the
/// render's 2xx stores the cookie as the tab's `on_ok` does and `no_spurious_logout` holds.
#[test]
fn a_server_render_that_passes_nothing_back_leaves_the_client_a_spent_token() {
    let (sc, m, r) = checked(SB_343);
    assert_eq!(sc.browser.on_requester_ok.as_deref(), Some(&[][..]));
    assert!(r.exhaustive && r.unique_states > 100, "{}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        vec![
            pair("tab A's requester 2", "RequesterSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A's requester 2", "TabReceivesRefreshResponse"),
            pair("clock", "ClockTicks"),
            pair("clock", "ClockMayTickAgain"),
            pair("clock", "ClockTicks"),
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A", "TabReceivesRefreshResponse"),
        ]
    );
    assert!(t.steps[1].text.ends_with("rule `rotate` → ok minted"), "{}", t.steps[1].text);
    assert!(
        t.steps[2]
            .text
            .ends_with("; it stores nothing (`on_requester_ok` is empty: the new token never reaches the browser)"),
        "{}",
        t.steps[2].text
    );
    assert!(t.steps[6].text.contains("refresh cookie (token=1)"), "{}", t.steps[6].text);
    assert!(t.steps[7].text.ends_with("rule `reuse` → invalid_grant"), "{}", t.steps[7].text);
    assert!(t.steps[8].text.ends_with("is logged out") && t.steps[8].state.session_valid, "{}", t.steps[8].text);

    // The render passing its cookie back (the tab's `on_ok`): the client presents token 2.
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(SB_343)).unwrap();
    let plain = text.replacen("\n    \"on_requester_ok\": [],", "", 1);
    assert_ne!(plain, text);
    let f = dir.path().join("plain.json");
    std::fs::write(&f, &plain).unwrap();
    let sc2 = crate::util::scenario(f.to_str().unwrap(), None);
    let (_, r2) = crate::util::run(&sc2, &refresh_check::check::CheckOptions::default());
    assert!(r2.exhaustive && r2.unique_states > 100, "{}", r2.unique_states);
    assert_eq!(status(&r2, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r2, "converges_to_live_token"), Verdict::Holds);
    assert_eq!(status(&r2, "refresh_succeeds"), Verdict::Reached);

    // `models expand` writes the list out (the tab's `on_ok` when absent).
    let out = cli(&root(), &["models", "expand", SB_343]);
    let expanded = String::from_utf8_lossy(&out.stdout);
    assert!(expanded.contains("\"on_requester_ok\": []"), "{expanded}");
    let out = cli(dir.path(), &["models", "expand", "plain.json"]);
    let expanded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(expanded["browser"]["on_requester_ok"], serde_json::json!(["store-in-cookie"]));
}

/// A requester other than the tab words what its reactions did as a refused refresh's step
/// does, by the requester: expensave's `on_refused: [clear-stored-token, log-out]` reads "gets
/// 401 …, clears the stored token and logs tab A out" (the clear was not said).
#[test]
fn a_requesters_refusal_names_every_reaction_it_ran() {
    let sc = refresh_check::scenario::Scenario::load(
        &crate::util::root().join("models/expensave-537-pwa-resume-parallel-refreshes.json"),
    )
    .unwrap();
    let (m, r) = crate::util::run(&sc, &Default::default());
    let t = crate::util::trace_of(&m, &sc, &r, "no_spurious_logout");
    let step = t
        .steps
        .iter()
        .find(|s| s.actor == "tab A's requester 2" && s.text.contains(" gets 4"))
        .unwrap_or_else(|| panic!("{t:#?}"));
    assert!(step.text.ends_with(", clears the stored token and logs tab A out"), "{}", step.text);
}
