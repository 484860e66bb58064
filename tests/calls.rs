//! A call's own reactions (issue 14, item 2): `browser.on_call_refused` and
//! `on_call_server_error` (by default the refresh's lists), `refresh-and-retry` (the SPA 401
//! interceptor: refresh through the tab's refresh path, then send the call again),
//! `browser.call_refresh_margin` (refresh before a call whose access token is about to
//! expire), and a reload that cancels the page's call and drops its access token. Each test
//! pins verdicts, counterexample or query steps, and the state count of the search.

use refresh_check::model;
use refresh_check::query::Answer;
use refresh_check::scenario::{Scenario, Verdict};

use crate::util::{actions, answered, checked, cli, root, status, trace_of};

const INTERCEPTOR: &str = "models/zitadel-9331-interceptor-refreshes-and-retries.json";
const RETRY_BOUND: &str = "models/zitadel-9331-interceptor-retry-bound.json";
const MARGIN: &str = "models/auth0-spa-js-refresh-before-call.json";
const NO_MARGIN: &str = "models/auth0-spa-js-refresh-before-call-no-margin.json";

/// ZITADEL issue 9331 with the 401 interceptor: the background refresh still revokes the
/// access token of the call in flight, but the call's 401 makes the tab wait for that refresh
/// (or refresh once more) and send the call again, which is served. No spurious logout.
#[test]
fn zitadel_9331_the_interceptor_refreshes_and_sends_the_call_again() {
    let (sc, _, r) = checked(INTERCEPTOR);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert!(r.complete);
    assert_eq!(r.unique_states, 29, "the search of the model as shipped");
    let waits = answered(&sc, "refused-call-waits-for-the-refresh-in-flight");
    let t = waits.trace.as_ref().unwrap();
    assert_eq!(
        actions(t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsCall",
            "ServerReceivesCall",
            "TabReceivesCallResponse",
            "TabReceivesRefreshResponse",
            "ServerReceivesCall",
            "TabReceivesCallResponse"
        ]
    );
    assert!(
        t.steps[4]
            .text
            .ends_with("with access token=1: it waits for the tab's refresh in flight and will send the call again"),
        "{}",
        t.steps[4].text
    );
    assert!(t.steps[5].text.ends_with("tab A sends its waiting API call with access token=2"), "{}", t.steps[5].text);
    assert!(t.steps[6].text.ends_with("rule `introspection: active` → ok"), "{}", t.steps[6].text);
    let again = answered(&sc, "refused-call-refreshes-again");
    let t = again.trace.as_ref().unwrap();
    assert_eq!(
        actions(t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsCall",
            "ServerReceivesCall",
            "TabReceivesRefreshResponse",
            "TabReceivesCallResponse",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
            "ServerReceivesCall",
            "TabReceivesCallResponse"
        ]
    );
    assert!(
        t.steps[5].text.ends_with("it refreshes (POST /oauth/v2/token with token=2) and will send the call again"),
        "{}",
        t.steps[5].text
    );
}

/// The interceptor retries a call once: a second background refresh revokes the access
/// token the retried call carries, the retry is refused too, and the list goes on to
/// `log-out`.
#[test]
fn zitadel_9331_a_call_refused_again_after_the_retry_bound_logs_out() {
    let (sc, m, r) = checked(RETRY_BOUND);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(r.unique_states, 95);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsCall",
            "ServerReceivesCall",
            "TabReceivesCallResponse",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerReceivesCall",
            "TabReceivesCallResponse"
        ]
    );
    assert!(t.steps[5].text.ends_with("sends its waiting API call with access token=2"), "{}", t.steps[5].text);
    assert!(t.steps[6].text.contains("(token=2)"), "{}", t.steps[6].text);
    assert!(t.steps[8].text.contains("(access token=2): rule `introspection: inactive`"), "{}", t.steps[8].text);
    // The retry the list tried first is named (it has none left), then the log-out.
    assert!(
        t.steps[9].text.ends_with("with access token=2: it has no retry left and the tab is logged out"),
        "{}",
        t.steps[9].text
    );
}

/// auth0-spa-js: with a margin of one tick the tab refreshes before a call whose access token
/// is about to expire, and no call is refused; with no margin the browser's clock, one tick
/// behind the server's, sends an access token the server finds expired.
#[test]
fn auth0_spa_js_refreshes_before_a_call_within_the_margin() {
    let (sc, _, r) = checked(MARGIN);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert!(r.complete);
    assert_eq!(r.unique_states, 155);
    let o = answered(&sc, "call-waits-for-a-refresh-near-expiry");
    let t = o.trace.as_ref().unwrap();
    assert_eq!(
        actions(t),
        [
            "ClockTicks",
            "BrowserClockTicks",
            "TabRefreshesBeforeCall",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
            "ServerReceivesCall",
            "TabReceivesCallResponse"
        ]
    );
    assert!(t.steps[2]
        .text
        .contains("its access token=1 expires within the margin, so it first sends POST /auth/refresh"));

    let (sc, m, r) = checked(NO_MARGIN);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(r.unique_states, 97);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "ClockTicks",
            "ClockMayTickAgain",
            "BrowserClockTicks",
            "ClockTicks",
            "TabSendsCall",
            "ServerReceivesCall",
            "TabReceivesCallResponse"
        ]
    );
    assert!(t.steps[4].text.ends_with("sends an API call with access token=1"), "{}", t.steps[4].text);
    assert!(t.steps[6].text.ends_with("the tab is logged out"), "{}", t.steps[6].text);
}

/// A call's own reaction lists default to the refresh's: written out, the model and its
/// search are the same, and `models expand` writes them for a model with calls.
#[test]
fn a_calls_reactions_written_out_as_the_refreshs_change_nothing() {
    let file = "models/zitadel-9331-client-retries-with-current-access-token.json";
    let (_, _, before) = checked(file);
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let written = text.replacen(
        "\"on_refused\": [",
        "\"on_call_refused\": [\"retry-with-stored-token\", \"log-out\"], \"on_call_server_error\": [\"log-out\"], \"on_refused\": [",
        1,
    );
    assert_ne!(written, text);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("written.json");
    std::fs::write(&path, &written).unwrap();
    let sc = Scenario::load(&path).unwrap();
    let (_, after) = crate::util::run(&sc, &Default::default());
    assert_eq!((after.unique_states, after.states), (before.unique_states, before.states));
    for p in &before.properties {
        assert_eq!(status(&after, &p.name), p.status, "{}", p.name);
    }
    let out = cli(&root(), &["models", "expand", file]);
    let expanded = String::from_utf8(out.stdout).unwrap();
    assert!(expanded.contains("\"on_call_refused\": [\n      \"retry-with-stored-token\""), "{expanded}");
}

/// A reload cancels the page's call: the old page's 401 (its access token was revoked by the
/// refresh) is read by nobody, so the old page's call never logs the reloaded page out; the
/// new page holds no access token and waits for its load-time refresh before it calls.
/// (Without a reload the model has ZITADEL 9331's race: its counterexample has no reload;
/// and the cancelled refresh, still served by the server, may revoke the new page's access
/// token, so a call of the new page can be refused.)
#[test]
fn a_reload_cancels_the_pages_call_and_drops_its_access_token() {
    let text = r#"{"name":"reload-cancels-call","description":"d","sources":["s"],
"protocol": {
  "refresh": { "rules": [
    { "name": "new access token", "when": "presented.status == active", "do": ["revoke presented.access"], "reply": "ok access-only" },
    { "name": "revoked", "reply": "invalid_grant" } ] },
  "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] },
  "request": { "rules": [
    { "name": "active", "when": "access.exp >= now and not access.revoked", "reply": "ok" },
    { "name": "inactive", "reply": "invalid_token" } ] }
},
"browser": {"tabs":1,"refreshes_per_tab":1,"calls_per_tab":1,"mode":"cookie","reloads_per_tab":1,"call_refresh_margin":0},
"time": {"access_token_ttl":4,"refresh_token_ttl":7,"session_cookie_ttl":4},
"queries": [
  {"name":"old-call-discarded","description":"the old page's call is refused after the reload and nobody reads the answer",
   "events":["tab A TabReloads","tab A TabReceivesCallResponse status 401 text `nobody reads it`"],"expect":"reachable"},
  {"name":"new-page-waits","description":"the reloaded page's call waits for its load-time refresh",
   "events":["tab A TabReloads","tab A TabRefreshesBeforeCall text `so the call waits for the refresh in flight`",
             "TabReceivesRefreshResponse status 200 text `sends its waiting API call with access token=3`"],
   "expect":"reachable"},
  {"name":"no-logout-after-reload","description":"the old page's call (the tab's only one) never logs the tab out once the page is reloaded",
   "events":["tab A TabSendsCall","tab A TabReloads","TabReceivesCallResponse text `the tab is logged out`"],"expect":"unreachable"}]}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reload.json");
    std::fs::write(&path, text).unwrap();
    let sc = Scenario::load(&path).unwrap();
    let (m, r) = crate::util::run(&sc, &Default::default());
    assert!(r.complete && r.unique_states > 20, "{} states", r.unique_states);
    let race = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&race),
        ["TabSendsRefresh", "ServerReceivesRefresh", "TabSendsCall", "ServerReceivesCall", "TabReceivesCallResponse"]
    );
    assert_eq!(answered(&sc, "no-logout-after-reload").answer, Answer::Unreachable);
    let o = answered(&sc, "old-call-discarded");
    let t = o.trace.as_ref().unwrap();
    assert_eq!(
        actions(t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsCall",
            "ServerReceivesCall",
            "TabReloads",
            "TabReceivesCallResponse"
        ]
    );
    assert!(t.steps[3].text.ends_with("rule `inactive` → invalid_token"), "{}", t.steps[3].text);
    assert!(
        t.steps[5].text.ends_with("nobody reads it (the page that sent the call was reloaded)"),
        "{}",
        t.steps[5].text
    );
    assert_eq!(answered(&sc, "new-page-waits").answer, Answer::Reachable);
    // The reloaded page never holds or presents the old page's access token (1), and is seen
    // holding none. (Access tokens are numbered in issue order: the server may serve the
    // reloaded page's refresh first, so token 2 may be the new page's.)
    fn old_access_on_new_page(m: &model::RefreshModel, s: &model::State) -> bool {
        let t = model::browser_at(s, m.cfg.browsers[0]).tabs[0];
        t.page == 1 && (t.access == Some(1) || t.call.is_some_and(|c| c.sent == Some(1)))
    }
    let (path, exhaustive, _) = crate::util::shortest_to(&sc, old_access_on_new_page);
    assert!(path.is_none() && exhaustive);
    fn new_page_holds_none(m: &model::RefreshModel, s: &model::State) -> bool {
        let t = model::browser_at(s, m.cfg.browsers[0]).tabs[0];
        t.page == 1 && t.access.is_none() && t.call.is_none()
    }
    assert!(crate::util::shortest_to(&sc, new_page_holds_none).0.is_some());
    let _ = m;
}

/// A call's reactions where they do not belong, and bounds out of range, are refused with
/// the file, the field and what is allowed; the CLI exits 2.
#[test]
fn call_reaction_bad_input_is_refused_with_the_field_and_the_allowed_values() {
    let base = std::fs::read_to_string(root().join(INTERCEPTOR)).unwrap();
    let cases = [
        ("\"calls_per_tab\": 1,", "", "browser.on_call_refused", "unless `calls_per_tab` is above 0"),
        (
            "\"on_call_refused\": [",
            "\"on_refused\": [\"refresh-and-retry\", \"log-out\"], \"on_call_refused\": [",
            "browser.on_refused[0]",
            "a reaction of an ordinary call",
        ),
        ("\"retry_limit\": 1,", "", "browser.retry_limit", "\"refresh-and-retry\""),
        (
            "\"retry_limit\": 1,",
            "\"retry_limit\": 1, \"call_refresh_margin\": 17,",
            "browser.call_refresh_margin",
            "from 0 to 16",
        ),
        (
            "\"refresh-and-retry\",\n      \"log-out\"",
            "\"log-out\", \"refresh-and-retry\"",
            "browser.on_call_refused",
            "ending with \"log-out\" or \"keep-going\"",
        ),
        ("\"refresh-and-retry\"", "\"refresh-and-retyr\"", "on_call_refused", "refresh-and-retry"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (from, to, field, allowed) in cases {
        let text = base.replacen(from, to, 1);
        assert_ne!(text, base, "{from}");
        std::fs::write(dir.path().join("bad.json"), &text).unwrap();
        let out = cli(dir.path(), &["check", "bad.json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {err}");
        assert!(err.contains("bad.json") && err.contains(field) && err.contains(allowed), "{to}: {err}");
    }
}

/// A refused call's step names every reaction of `on_call_refused` that ran before the one that
/// ended the list, in a refused refresh's words: `clear-stored-token` then `log-out` reads "it
/// clears the stored token and the tab is logged out" (it read "the tab is logged out").
#[test]
fn a_refused_calls_step_names_the_clears_it_ran() {
    let files = crate::common::TempFiles::new();
    let f = files.copy_model("models/auth0-spa-js-refresh-before-call-no-margin.json", "m.json", |v| {
        v["browser"]["on_call_refused"] = serde_json::json!(["clear-stored-token", "log-out"]);
        v.remove("expect");
    });
    let sc = Scenario::load(&f).unwrap();
    let (m, r) = crate::util::run(&sc, &Default::default());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let last = &t.steps.last().unwrap().text;
    assert!(
        last.ends_with("for its API call with access token=1: it clears the stored token and the tab is logged out"),
        "{last}"
    );
}
