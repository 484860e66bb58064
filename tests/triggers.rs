//! A refresh on the access token's expiry (`browser.refresh_triggers`): the shipped model of
//! F3 Nation issue 375 with its middleware's trigger, the construct's effect on the search,
//! and its bad input.

use refresh_check::scenario::Verdict;

use crate::util::{answered, checked, pair, query_trace, refused_at, root, run, scenario, status, steps, trace_of};

const MODEL: &str = "models/f3-nation-375-middleware-refreshes-on-expiry.json";

/// F3-Nation/f3-nation issue 375 with the middleware's "a valid access cookie passes;
/// otherwise refresh": nothing refreshes until the clocks pass the access token's expiry;
/// then the page's navigation and its sub-resource request each find the access cookie
/// expired and redeem refresh cookie 1; the server deletes it for one; the other finds no row,
/// is answered invalid_grant and its response clears the cookies: the tab is logged out.
#[test]
fn f3_375_both_middleware_requests_refresh_only_after_the_expiry_and_the_loser_logs_out() {
    let (sc, m, r) = checked(MODEL);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let s = steps(&t);
    // The clocks pass the expiry (access token 1 expires at tick 1) before any refresh.
    let first = s.iter().position(|(_, a)| a.ends_with("SendsRefresh")).unwrap();
    assert!(s[..first].iter().all(|(_, a)| a == "ClockTicks" || a == "BrowserClockTicks"), "{s:?}");
    assert!(s[..first].iter().filter(|(_, a)| a == "BrowserClockTicks").count() >= 2, "{s:?}");
    assert_eq!(
        s[first..].to_vec(),
        vec![
            pair("tab A", "TabSendsRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A's requester 2", "RequesterSendsRefresh"),
            pair("server", "ServerWritesRefresh"),
            pair("server", "ServerReceivesRefresh"),
            pair("tab A's requester 2", "TabReceivesRefreshResponse"),
        ]
    );
    let text = |i: usize| t.steps[first + i].text.clone();
    assert!(text(0).contains("finds its access token expired (exp 1, browser clock 2)"), "{}", text(0));
    assert!(text(0).contains("token=1"), "{}", text(0));
    assert!(text(1).contains("refresh cookie=1), step `select the refresh token"), "{}", text(1));
    assert!(text(2).contains("finds its access token expired (exp 1, browser clock 2)"), "{}", text(2));
    assert!(text(2).contains("token=1"), "{}", text(2));
    assert!(text(3).contains("rule `delete and insert`"), "{}", text(3));
    assert!(text(4).contains("rule `no row: invalid_grant`"), "{}", text(4));
    assert!(text(5).ends_with("logs tab A out"), "{}", text(5));

    // The queries: the race as reported, and no second refresh after the winner's cookie.
    let q = query_trace(&sc, "both-requests-after-expiry-loser-clears-cookies");
    assert!(q.steps.iter().any(|s| s.text.contains("finds its access token expired")));
    let none = answered(&sc, "no-refresh-after-the-winners-cookie");
    assert_eq!(none.answer, refresh_check::query::Answer::Unreachable);
    assert!(r.unique_states >= 30, "the search was not empty: {}", r.unique_states);
}

/// The trigger changes what is searched: without it (every requester "any-time") the same
/// file refreshes before the expiry too, a larger search; written out as "any-time" it is the
/// file without the field, state for state.
#[test]
fn the_trigger_narrows_the_search_and_any_time_written_out_changes_nothing() {
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(MODEL)).unwrap();
    let (_, _, gated) = checked(MODEL);
    let any = "\"refresh_triggers\": [\n      \"any-time\",\n      \"any-time\"\n    ]";
    let written = text.replacen(
        "\"refresh_triggers\": [\n      \"when-access-expired\",\n      \"when-access-expired\"\n    ]",
        any,
        1,
    );
    assert_ne!(written, text);
    dir.write("with-any-time.json", &written);
    let opts = refresh_check::check::CheckOptions::default();
    let (_, any_time) = run(&scenario(dir.path().join("with-any-time.json").to_str().unwrap(), None), &opts);
    let plain = written.replacen(&format!(",\n    {any}"), "", 1);
    assert_ne!(plain, written);
    dir.write("without.json", &plain);
    let (_, without) = run(&scenario(dir.path().join("without.json").to_str().unwrap(), None), &opts);
    assert_eq!((any_time.unique_states, any_time.states), (without.unique_states, without.states));
    assert_ne!(gated.unique_states, any_time.unique_states, "the trigger gates the requesters");
    // Without the trigger a refresh may start before the access token expired.
    assert_eq!(status(&any_time, "no_spurious_logout"), Verdict::Violated);
}

/// Bad input names the file, the line, the field and what is allowed, with exit code 2.
#[test]
fn refresh_triggers_bad_input_is_refused_with_the_field_and_the_line() {
    let src = std::fs::read_to_string(root().join(MODEL)).unwrap();
    let list = "\"refresh_triggers\": [\n      \"when-access-expired\",\n      \"when-access-expired\"\n    ]";
    assert!(src.contains(list));
    let with = |new: &str| src.replacen(list, new, 1);
    let cases = vec![
        (
            with("\"refresh_triggers\": [\"when-access-expired\"]"),
            "\"refresh_triggers\"",
            "browser.refresh_triggers",
            "one entry per requester: 2",
        ),
        (
            with("\"refresh_triggers\": [\"sometimes\", \"any-time\"]"),
            "\"refresh_triggers\"",
            "refresh_triggers",
            "any-time",
        ),
        (
            src.replacen("\"max_ticks\": 2", "\"max_ticks\": 1", 1),
            "\"refresh_triggers\"",
            "browser.refresh_triggers",
            "`time.max_ticks` (1) above `time.access_token_ttl` (1)",
        ),
        (
            with(&format!("{list}, \"reloads_per_tab\": 1")),
            "\"refresh_triggers\"",
            "browser.refresh_triggers",
            "no `reloads_per_tab`",
        ),
    ];
    refused_at(&src, &cases);
    // Several tabs in cookie mode are accepted: the trigger reads the jar's access cookie.
    let files = crate::common::TempFiles::new();
    files.write("two.json", &with(&format!("{list}, \"tabs\": 2")).replacen("\"tabs\": 1,", "", 1));
    let out = crate::util::cli(files.path(), &["models", "validate", "two.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
