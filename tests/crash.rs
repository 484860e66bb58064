//! A 2xx stored as two writes and a client process that dies between them
//! (`browser.ok_writes`, `browser.crashes_per_tab`: D00mch/souz PR 711), and a response whose
//! `Set-Cookie` is never written (`browser.on_requester_ok: []`: vercel/next.js issue 81570).
//! Each test checks the file's verdicts (through `checked`), that the search was not empty, and
//! the steps of the reported interleaving; the variants show the construct decides the verdict.

use refresh_check::scenario::Verdict;

use crate::util::{checked, owned, query_trace, root, status, steps};

const SOUZ: &str = "models/souz-codex-oauth-crash-between-token-writes.json";

/// The model file `file` with `from` replaced by `to`, searched from a temporary copy.
fn variant(
    file: &str,
    from: &str,
    to: &str,
) -> (refresh_check::scenario::Scenario, refresh_check::model::RefreshModel, refresh_check::check::Results) {
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let edited = text.replacen(from, to, 1);
    assert_ne!(edited, text, "{from}");
    let copy = dir.path().join("variant.json");
    std::fs::write(&copy, edited).unwrap();
    // The edit changes verdicts the file expects: the results are read, not compared.
    let sc = crate::util::scenario(copy.to_str().unwrap(), None);
    let (m, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    (sc, m, r)
}

/// souz before PR 711: the access token is written, the process dies before the refresh
/// token's write, and the next start refreshes with the rotated-away token and is logged out.
#[test]
fn souz_crash_between_the_two_writes_logs_out_with_the_retired_token() {
    let (_, _, _, t) = crate::common::pinned(
        SOUZ,
        50,
        "no_spurious_logout",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("tab A", "TabCrashes"),
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
        ],
    );
    assert!(t.steps[0].text.ends_with("(token=1)"), "{}", t.steps[0].text);
    assert!(t.steps[1].text.contains("rule `rotate` → ok minted"), "{}", t.steps[1].text);
    assert_eq!(
        t.steps[2].text,
        "tab A gets 200, refresh token=2; it writes the new access token, the first of two storage writes (the refresh token is written in its next step; storage still holds token=1)"
    );
    assert_eq!(
        t.steps[3].text,
        "tab A's process dies between its two writes: the new refresh token (token=2) is never written; it starts again with what storage holds (its stored refresh token (token=1)) and nothing in memory"
    );
    assert!(t.steps[4].text.ends_with("with its stored refresh token (token=1)"), "{}", t.steps[4].text);
    assert!(t.steps[5].text.contains("refresh_token=1): rule `reuse` → invalid_grant"), "{}", t.steps[5].text);
    assert_eq!(t.steps[6].text, "tab A gets 400 invalid_grant and is logged out");
}

/// The construct decides the verdict: the same process and crash with the refresh token
/// written first, or with one write, keeps the user signed in; without the crash, the two
/// writes alone log nobody out. Every variant searched states.
#[test]
fn souz_write_order_one_write_or_no_crash_keeps_the_session() {
    let (_, _, fixed) = checked("models/souz-codex-oauth-refresh-token-written-first.json");
    assert_eq!(status(&fixed, "no_spurious_logout"), Verdict::Holds);
    assert!(fixed.unique_states > 50, "searched: {}", fixed.unique_states);
    for (from, to) in
        [("\"ok_writes\": \"access-then-refresh\",", ""), ("\"crashes_per_tab\": 1", "\"crashes_per_tab\": 0")]
    {
        let (_, _, r) = variant(SOUZ, from, to);
        assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds, "{from} -> {to}");
        assert_eq!(status(&r, "converges_to_live_token"), Verdict::Holds, "{from} -> {to}");
        assert_eq!(status(&r, "refresh_succeeds"), Verdict::Reached, "{from} -> {to}");
        assert!(r.unique_states > 20, "{from}: searched {}", r.unique_states);
    }
}

/// Bad input names the file, the line, the field and what is allowed, with exit code 2.
#[test]
fn two_writes_and_crashes_bad_input_is_refused_with_the_field() {
    let src = std::fs::read_to_string(root().join(SOUZ)).unwrap();
    let cases = [
        (
            src.replace("\"crashes_per_tab\": 1", "\"crashes_per_tab\": 3"),
            "\"crashes_per_tab\"",
            "browser.crashes_per_tab",
            "0 to 2",
        ),
        (
            src.replace("\"access-then-refresh\"", "\"refresh-first\""),
            "\"refresh-first\"",
            "ok_writes",
            "access-then-refresh",
        ),
        (
            src.replace("\"json_storage\": \"shared\"", "\"json_storage\": \"per-tab\""),
            "\"ok_writes\"",
            "browser.ok_writes",
            "`json_storage` other than \"shared\"",
        ),
        (
            src.replace("\"mode\": \"json\",", "\"mode\": \"json\", \"coordination\": \"web-locks\","),
            "\"ok_writes\"",
            "browser.ok_writes",
            "`coordination` other than \"none\"",
        ),
        (
            src.replace("\"ok_writes\": \"access-then-refresh\",", "\"reloads_per_tab\": 1,"),
            "\"crashes_per_tab\"",
            "browser.crashes_per_tab",
            "`reloads_per_tab` above 0",
        ),
        // Nothing written to storage: no second write to make (the trace would claim one).
        (
            src.replace(
                "\"ok_writes\": \"access-then-refresh\",",
                "\"ok_writes\": \"access-then-refresh\", \"on_ok\": [],",
            ),
            "\"ok_writes\"",
            "browser.ok_writes",
            "an `on_ok` without `store-shared`",
        ),
        (
            src.replace(
                "\"ok_writes\": \"access-then-refresh\",",
                "\"ok_writes\": \"access-then-refresh\", \"on_ok\": [\"store-in-tab\"],",
            ),
            "\"ok_writes\"",
            "browser.ok_writes",
            "an `on_ok` without `store-shared`",
        ),
        // A crash with a sign-out request in flight would leave it to the restarted process.
        (
            src.replace(
                "\"ok_writes\": \"access-then-refresh\",",
                "\"on_refused\": [\"sign-out-request\", \"keep-going\"],",
            ),
            "\"crashes_per_tab\"",
            "browser.crashes_per_tab",
            "the reaction `sign-out-request`",
        ),
    ];
    let cases: Vec<(String, &str, &str, &str)> = cases.into_iter().collect();
    crate::util::refused_at(&src, &cases);
}

/// next.js issue 81570: the Server Component's refresh is answered 200 and writes no cookie;
/// the page's next refresh presents the blacklisted cookie 1 and the tab is logged out.
#[test]
fn nextjs_81570_server_component_rotation_never_reaches_the_jar() {
    let (sc, _, r) = checked("models/nextjs-81570-server-component-refresh-not-written.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "refresh-after-the-server-component-refresh");
    assert_eq!(
        steps(&q),
        owned(&[
            ("tab A's requester 2", "RequesterSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "TabReceivesRefreshResponse"),
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(
        q.steps[2]
            .text
            .ends_with("it stores nothing (`on_requester_ok` is empty: the new token never reaches the browser)"),
        "{}",
        q.steps[2].text
    );
    assert!(q.steps[3].text.ends_with("with the jar's refresh cookie (token=1)"), "{}", q.steps[3].text);
    assert!(q.steps[4].text.contains("rule `reuse` → invalid_grant"), "{}", q.steps[4].text);
    assert_eq!(q.steps[5].text, "tab A gets 400 invalid_grant and is logged out");
}

/// Refreshing where cookies can be set (the requesters' 2xx stores the cookie): the report's
/// interleaving is unreachable; the only logout left is two refreshes in flight at once.
#[test]
fn nextjs_81570_refresh_that_sets_the_cookie_leaves_only_the_race() {
    let (sc, m, r) = checked("models/nextjs-81570-fix-refresh-in-route-handler.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let o = crate::util::answered(&sc, "refresh-after-the-server-component-refresh");
    assert_eq!(o.answer, refresh_check::query::Answer::Unreachable);
    let t = crate::util::trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "RequesterSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A's requester 2", "TabReceivesRefreshResponse"),
        ])
    );
}
