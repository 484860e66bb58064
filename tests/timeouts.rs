//! A reaction to a refresh that timed out (`browser.on_timeout`): Schuly issue 476 and PR 492
//! with their verdicts and the interleaving the issue describes, the default that changes
//! nothing, and bad input.

use refresh_check::scenario::Verdict;

use refresh_check::check::CheckOptions;
use serde_json::json;

use crate::common::TempFiles;
use crate::util::{checked, pair, root, run, scenario, status, steps, trace_of};

/// Schuly before PR 492: a refresh that times out is tried once more, and a second timeout
/// signs the user out with a valid session. After it, a timeout keeps the session.
#[test]
fn schuly_476_two_timeouts_sign_out_and_pr_492_keeps_the_session() {
    let (sc, m, r) = checked("models/schuly-476-timeout-signs-out.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(steps(&t), SCHULY_STEPS.iter().map(|(a, b)| pair(a, b)).collect::<Vec<_>>());
    let text = |i: usize| t.steps[i].text.clone();
    assert!(text(0).contains("token=1"), "{}", text(0));
    assert!(text(1).contains("rule `rotate`"), "{}", text(1));
    assert!(text(4).contains("times out (no answer 1 tick after it sent its refresh"), "{}", text(4));
    assert!(text(4).contains("gives up on its refresh (sent with token=1)"), "{}", text(4));
    assert!(text(4).contains("the server's answer (200, refresh token=2) is still on its way and will be dropped"));
    assert!(text(4).ends_with("`on_timeout`: the tab sends POST /auth/refresh again with token=1"), "{}", text(4));
    assert!(text(5).contains("rule `reuse` → invalid_grant"), "{}", text(5));
    assert!(text(6).ends_with("gets 400 invalid_grant and is logged out"), "{}", text(6));
    assert_eq!(t.steps[6].state.tabs[0].status, "logged out, stores refresh token=1");

    let (_, _, fixed) = checked("models/schuly-pr492-timeout-keeps-session.json");
    assert_eq!(status(&fixed, "no_spurious_logout"), Verdict::Holds);
    assert!(fixed.unique_states >= 10, "the search was not empty: {}", fixed.unique_states);
}

/// What PR 492 leaves: the server rotated before the app gave up; the app keeps token 1,
/// which the server no longer accepts, and the late answer is dropped unread.
#[test]
fn schuly_pr492_keeps_a_rotated_token_and_drops_the_late_answer() {
    let (sc, m, r) = checked("models/schuly-pr492-timeout-keeps-session.json");
    assert_eq!(status(&r, "converges_to_live_token"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "converges_to_live_token");
    assert_eq!(steps(&t), KEPT_STEPS.iter().map(|(a, b)| pair(a, b)).collect::<Vec<_>>());
    let text = |i: usize| t.steps[i].text.clone();
    assert!(text(1).contains("rule `rotate`"), "{}", text(1));
    assert!(text(4).ends_with("the tab keeps the session with its stored refresh token (token=1)"), "{}", text(4));
    assert!(
        text(5).contains(
            "(answer to a timed-out refresh, dropped): it gave up waiting for it (timed out), nobody reads it"
        ),
        "{}",
        text(5)
    );
    assert_eq!(t.steps[5].state.tabs[0].status, "idle, stores refresh token=1");
}

/// Without `on_timeout` a timeout sends the same refresh again (`TabRetriesRefresh`): the
/// field is what changes the step, and writing the default out is the model without it.
#[test]
fn without_on_timeout_the_tab_sends_the_refresh_again() {
    let src = std::fs::read_to_string(root().join("models/schuly-pr492-timeout-keeps-session.json")).unwrap();
    // The same model without the field (and without its queries, which name `TabTimesOut`).
    let mut doc: serde_json::Value = serde_json::from_str(&src).unwrap();
    assert!(doc["browser"].as_object_mut().unwrap().remove("on_timeout").is_some());
    doc.as_object_mut().unwrap().remove("queries");
    doc.as_object_mut().unwrap().remove("expect");
    let plain = serde_json::to_string_pretty(&doc).unwrap();
    let files = crate::common::TempFiles::new();
    files.write("plain.json", &plain);
    let sc = crate::util::scenario(files.path().join("plain.json").to_str().unwrap(), None);
    let (m, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(t.steps.iter().any(|s| s.action == "TabRetriesRefresh"));
    assert!(!t.steps.iter().any(|s| s.action == "TabTimesOut"));
}

/// Bad input names the file, the line, the field and what is allowed, with exit code 2.
#[test]
fn on_timeout_bad_input_is_refused_with_the_field() {
    let src = std::fs::read_to_string(root().join("models/schuly-476-timeout-signs-out.json")).unwrap();
    let cases = [
        (
            src.replace("\"retries_per_tab\": 2,", "\"retries_per_tab\": 0,").replace("\"retry_timeout\": 1,", ""),
            "\"on_timeout\"",
            "browser.on_timeout",
            "no value unless `retries_per_tab` is above 0",
        ),
        (
            src.replace("\"log-out\"\n", "\"clear-stored-token\"\n"),
            "\"on_timeout\"",
            "browser.on_timeout",
            "ending with \"log-out\" or \"keep-going\"",
        ),
        (
            src.replace("\"retry\",", "\"refresh-and-retry\","),
            "\"refresh-and-retry\"",
            "browser.on_timeout[0]",
            "a reaction to a refresh",
        ),
        (src.replace("\"retry_limit\": 1", "\"retry_limit\": 0"), "\"retry_limit\"", "browser.retry_limit", "1 or 2"),
        // No answer came: no `Set-Cookie` can expire the jar's cookies.
        (
            src.replace("\"retry\",", "\"clear-cookie\",").replace("\"retry_limit\": 1", "\"retry_limit\": 0"),
            "\"clear-cookie\"",
            "browser.on_timeout[0]",
            "a reaction the tab can take with no answer",
        ),
        (
            src.replace("\"on_timeout\": [\n      \"retry\",\n      \"log-out\"\n    ]", "\"on_timeout\": null"),
            "\"on_timeout\"",
            "browser.on_timeout",
            "found null, expected a value (or leave the field out)",
        ),
    ];
    let cases: Vec<(String, &str, &str, &str)> = cases.into_iter().collect();
    crate::util::refused_at(&src, &cases);
}

/// `no_spurious_logout` on `schuly-476-timeout-signs-out`: the server rotates, the answer is
/// slower than the timeout, the app's one more try presents token 1 and is refused.
const SCHULY_STEPS: [(&str, &str); 7] = [
    ("tab A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("clock", "ClockTicks"),
    ("clock", "BrowserClockTicks"),
    ("tab A", "TabTimesOut"),
    ("server", "ServerReceivesRefresh"),
    ("tab A", "TabReceivesRefreshResponse"),
];

/// `converges_to_live_token` on `schuly-pr492-timeout-keeps-session`: the app keeps token 1
/// after the server rotated it, and the answer carrying token 2 is dropped.
const KEPT_STEPS: [(&str, &str); 6] = [
    ("tab A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("clock", "ClockTicks"),
    ("clock", "BrowserClockTicks"),
    ("tab A", "TabTimesOut"),
    ("tab A", "TabReceivesRefreshResponse"),
];

/// A list that clears the stored token before it logs out: the timeout's step, and an abort's,
/// names both reactions (as a refused refresh's step does), and the tab is left with nothing.
#[test]
fn a_timeouts_and_an_aborts_step_name_every_reaction_they_ran() {
    let files = TempFiles::new();
    let timeout = files.copy_model("models/schuly-476-timeout-signs-out.json", "t.json", |v| {
        v["browser"]["on_timeout"] = json!(["clear-stored-token", "log-out"]);
        v["browser"].as_object_mut().unwrap().remove("retry_limit");
    });
    let abort = files.copy_model("models/ecm-865-aborted-refresh-strands-token.json", "a.json", |v| {
        v["browser"]["mode"] = json!("json");
        v["browser"]["on_aborted"] = json!(["clear-stored-token", "log-out"]);
    });
    for (path, action, list) in [(timeout, "TabTimesOut", "on_timeout"), (abort, "TabAbortsRefresh", "on_aborted")] {
        let sc = scenario(path.to_str().unwrap(), None);
        let (m, r) = run(&sc, &CheckOptions::default());
        assert!(r.unique_states > 5, "searched: {}", r.unique_states);
        let t = trace_of(&m, &sc, &r, "no_spurious_logout");
        let i = t.steps.iter().position(|s| s.action == action).unwrap_or_else(|| panic!("{action} in {t:?}"));
        let end = format!("`{list}`: the tab clears the stored token and is logged out");
        assert!(t.steps[i].text.ends_with(&end), "{}", t.steps[i].text);
        assert!(t.steps[i].state.tabs[0].status.starts_with("logged out"), "{}", t.steps[i].state.tabs[0].status);
        assert!(!t.steps[i].state.tabs[0].status.contains("token="), "{}", t.steps[i].state.tabs[0].status);
    }
}

/// One text for one reaction: a timeout's and an abort's step word each clearing reaction as a
/// refused refresh's does (`clear-shared-storage` is "removes the shared localStorage entry",
/// with "(there was none)" once it is gone), not as "clears the stored token" or not at all.
#[test]
fn a_timeouts_and_an_aborts_clears_are_worded_as_a_refusals() {
    let files = TempFiles::new();
    let timeout = files.copy_model("models/schuly-476-timeout-signs-out.json", "t.json", |v| {
        v["browser"]["json_storage"] = json!("shared");
        v["browser"]["on_timeout"] = json!(["clear-shared-storage", "log-out"]);
        v["browser"].as_object_mut().unwrap().remove("retry_limit");
    });
    let abort = files.copy_model("models/ecm-865-aborted-refresh-strands-token.json", "a.json", |v| {
        v["browser"]["mode"] = json!("json");
        v["browser"]["json_storage"] = json!("shared");
        v["browser"]["on_aborted"] = json!(["clear-shared-storage", "clear-stored-token", "log-out"]);
    });
    for (path, action, end) in [
        (timeout, "TabTimesOut", "`on_timeout`: the tab removes the shared localStorage entry and is logged out"),
        (
            abort,
            "TabAbortsRefresh",
            "`on_aborted`: the tab removes the shared localStorage entry, clears the stored token (there was none) and is logged out",
        ),
    ] {
        let sc = scenario(path.to_str().unwrap(), None);
        let (m, r) = run(&sc, &CheckOptions::default());
        assert!(r.unique_states > 5, "searched: {}", r.unique_states);
        let t = trace_of(&m, &sc, &r, "no_spurious_logout");
        let i = t.steps.iter().position(|s| s.action == action).unwrap_or_else(|| panic!("{action} in {t:?}"));
        assert!(t.steps[i].text.ends_with(end), "{}", t.steps[i].text);
    }
}

/// Without `on_aborted` an aborted refresh runs `on_server_error`: a `clear-cookie` there is
/// refused in a model with aborts, at its line in `on_server_error`, as it is in `on_aborted`
/// written out; the same list without aborts is accepted (a 5xx is an answer).
#[test]
fn clear_cookie_in_the_on_server_error_an_abort_runs_is_refused_there() {
    let src = std::fs::read_to_string(root().join("models/ecm-865-aborted-refresh-strands-token.json")).unwrap();
    let inherited = src.replace(
        "\"on_aborted\": [\n      \"keep-going\"\n    ]",
        "\"on_server_error\": [\n      \"clear-cookie\",\n      \"log-out\"\n    ]",
    );
    assert_ne!(inherited, src);
    let cases = vec![(
        inherited.clone(),
        "\"clear-cookie\"",
        "browser.on_server_error[0]",
        "without `on_aborted` an aborted refresh (`aborts_per_tab`) runs `on_server_error`",
    )];
    crate::util::refused_at(&src, &cases);
    let files = TempFiles::new();
    let without_aborts = files.write("m.json", inherited.replace("\"aborts_per_tab\": 1,", ""));
    let out = crate::util::cli(files.path(), &["models", "validate", without_aborts.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// In cookie mode `clear-stored-token` is the answer's `Set-Cookie` expiring the auth cookies,
/// as `clear-cookie` is: in `on_aborted` (no answer came) it is refused at its line; the same
/// list in json mode empties the page's own storage and is accepted.
#[test]
fn clear_stored_token_with_no_answer_is_refused_in_cookie_mode() {
    let src = std::fs::read_to_string(root().join("models/ecm-865-aborted-refresh-strands-token.json")).unwrap();
    let cleared = src.replace(
        "\"on_aborted\": [\n      \"keep-going\"\n    ]",
        "\"on_aborted\": [\n      \"clear-stored-token\",\n      \"log-out\"\n    ]",
    );
    assert_ne!(cleared, src);
    let cases = vec![(
        cleared.clone(),
        "\"clear-stored-token\",",
        "browser.on_aborted[0]",
        "\"clear-stored-token\" is, in cookie and session mode, an answer's `Set-Cookie`",
    )];
    crate::util::refused_at(&src, &cases);
    let files = TempFiles::new();
    let json = files.write("m.json", cleared.replace("\"mode\": \"cookie\"", "\"mode\": \"json\""));
    let out = crate::util::cli(files.path(), &["models", "validate", json.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
