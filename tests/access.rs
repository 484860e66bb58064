//! Access tokens and ordinary calls in the protocol language: the `request` handler, tabs that
//! call with the access token they hold (`browser.calls_per_tab`) and react to the answer,
//! and the reports written by their own mechanism (ZITADEL issue 9331, MAS PR 3650 with
//! access-token first use). Each test pins verdicts, counterexample steps, and that the
//! search was not empty.

use refresh_check::model::{self, RefreshModel, State};
use refresh_check::query::{self, Answer};
use refresh_check::scenario::Verdict;
use refresh_check::search::SearchConfig;

use crate::util::{actions, checked, shortest_to, status, trace_of};

const ZITADEL: &str = "models/zitadel-9331-refresh-revokes-in-flight-access-token.json";

/// The call's 401 after the refresh revoked the access token it carries, as ZITADEL issue
/// 9331 reports it: the call is in flight while the background refresh is served.
const CALL_REFUSED_AFTER_REFRESH: [&str; 5] =
    ["TabSendsRefresh", "ServerReceivesRefresh", "TabSendsCall", "ServerReceivesCall", "TabReceivesCallResponse"];

fn auth(m: &RefreshModel, s: &State) -> model::oauth::AsState {
    model::auth_server_at(s, m.cfg.server).unwrap().clone()
}

/// ZITADEL issue 9331: the refresh revokes access token 1, the call carrying it is refused
/// by introspection, and the tab is logged out while the session is valid.
#[test]
fn zitadel_9331_the_background_refresh_revokes_the_in_flight_calls_access_token() {
    let (sc, m, r) = checked(ZITADEL);
    assert!(r.unique_states > 5, "{} states", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), CALL_REFUSED_AFTER_REFRESH);
    assert!(
        t.steps[1].text.contains("rule `rotate and invalidate the previous access token` → ok minted"),
        "{}",
        t.steps[1].text
    );
    assert!(t.steps[2].text.contains("API call with access token=1 while it is refreshing"), "{}", t.steps[2].text);
    assert!(t.steps[3].text.ends_with("rule `introspection: inactive` → invalid_token"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.ends_with("with access token=1: the tab is logged out"), "{}", t.steps[4].text);
}

/// The server that keeps the previous access token valid until it expires serves the call in
/// flight: no spurious logout, and the call with access token 1 is served after the refresh.
#[test]
fn zitadel_9331_keeping_the_previous_access_token_serves_the_call() {
    let file = "models/zitadel-9331-previous-access-token-kept.json";
    let (sc, _, r) = checked(file);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert!(r.complete && r.unique_states > 5, "{} states", r.unique_states);
    fn old_token_served_after_refresh(m: &RefreshModel, s: &State) -> bool {
        let a = auth(m, s);
        a.rows.len() == 2 && a.access.len() == 2 && a.access[0].used && !a.access[0].revoked
    }
    let (path, _, _) = shortest_to(&sc, old_token_served_after_refresh);
    assert!(path.is_some(), "the call with the previous access token is served after the rotation");
}

/// The client-side retry with the access token held now recovers when the refresh's answer
/// comes first, and does not when the 401 comes first: same 5-step counterexample.
#[test]
fn zitadel_9331_retrying_with_the_current_access_token_does_not_close_the_race() {
    let file = "models/zitadel-9331-client-retries-with-current-access-token.json";
    let (sc, m, r) = checked(file);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), CALL_REFUSED_AFTER_REFRESH);
    let o = query(file, "refused-call-retried-with-new-access-token");
    let t = o.trace.as_ref().unwrap();
    assert_eq!(
        actions(t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsCall",
            "ServerReceivesCall",
            "TabReceivesRefreshResponse",
            "TabReceivesCallResponse",
            "ServerReceivesCall",
            "TabReceivesCallResponse"
        ]
    );
}

fn query(file: &str, name: &str) -> query::Outcome {
    let (sc, _, _) = checked(file);
    let q = sc.queries.iter().find(|q| q.name == name).unwrap();
    let m = model::build(&sc);
    let o = query::answer(&m, &sc.path, &sc.name, sc.browser.tabs, q, &SearchConfig::default());
    assert_eq!(o.expect, Some(o.answer), "{file} {name}");
    o
}

/// MAS PR 3650 with first use: a replay of the consumed token is served only while the
/// successor's access token is unused; once the tab's call with access token 2 is served,
/// the replay is refused.
#[test]
fn mas_3650_a_replay_is_refused_once_the_successors_access_token_was_used() {
    let file = "models/mas-pr3650-replay-refused-after-first-use.json";
    let (_, _, r) = checked(file);
    assert!(r.unique_states > 100, "{} states", r.unique_states);
    assert_eq!(status(&r, "attacker_redeems"), Verdict::Reached);
    let before = query(file, "replay-before-first-use-takes-over");
    let t = before.trace.as_ref().unwrap();
    let check = t.steps.iter().position(|s| s.text.contains("rule `consumed, successor pair unused")).unwrap();
    let call = t
        .steps
        .iter()
        .position(|s| s.text.contains("API call (access token=2): rule `introspection: inactive`"))
        .unwrap();
    assert!(check < call, "the replay is checked before the tab's first call with access token 2");
    assert!(t.steps.last().unwrap().text.ends_with("with access token=2: the tab is logged out"));
    let after = query(file, "replay-after-first-use-refused");
    let t = after.trace.as_ref().unwrap();
    let used =
        t.steps.iter().position(|s| s.text.contains("rule `introspection: active (marks it used)` → ok")).unwrap();
    let refused = t
        .steps
        .iter()
        .position(|s| s.text.contains("rule `consumed, successor used: replay` → invalid_grant"))
        .unwrap();
    assert!(used < refused);
    assert_eq!(query(file, "no-replay-served-after-first-use").answer, Answer::Unreachable);
}

/// A protocol model with the given refresh rule, `request` section and browser section.
fn model_text(refresh_rule: &str, request: &str, browser: &str) -> String {
    format!(
        r#"{{"name":"p","description":"d","sources":["s"],
"protocol": {{
  "refresh": {{ "rules": [
{refresh_rule}
  ] }},
  "sign_out": {{ "rules": [ {{ "name": "revoke", "do": ["revoke family"], "reply": "signed_out" }} ] }}{request}
}},
"browser":{browser},
"time":{{"refresh_token_ttl":7,"session_cookie_ttl":4}}}}"#
    )
}

/// Access-token names, effects and replies where they do not belong, a misspelt access
/// column, and calls a model cannot make are refused with the file, line, field and what was
/// expected; the CLI exits 2.
#[test]
fn access_token_errors_name_file_line_field_and_what_was_expected() {
    let rotate =
        r#"{ "name": "rotate", "when": "presented.status == active", "do": ["mint child"], "reply": "ok minted" }"#;
    let tab = r#"{"tabs":1,"refreshes_per_tab":1,"mode":"json","calls_per_tab":1}"#;
    let cases = [
        (
            model_text(r#"{ "name": "r", "when": "access.used", "reply": "invalid_grant" }"#, "", tab),
            "field `protocol.refresh.rules[0].when`",
            "readable only in the `request` handler",
        ),
        (
            model_text(r#"{ "name": "r", "do": ["revoke access"], "reply": "invalid_grant" }"#, "", tab),
            "field `protocol.refresh.rules[0].do[0]`",
            "`revoke access` only in the `request` handler: a refresh revokes `presented.access`",
        ),
        (
            model_text(r#"{ "name": "r", "when": "presented.child.acess.used", "reply": "invalid_grant" }"#, "", tab),
            "field `protocol.refresh.rules[0].when`",
            "did you mean `presented.child.access.used`?",
        ),
        (
            model_text(r#"{ "name": "r", "reply": "invalid_token" }"#, "", tab),
            "field `protocol.refresh.rules[0].reply`",
            "a refresh's answer",
        ),
        (
            model_text(
                rotate,
                ",\n  \"request\": { \"rules\": [ { \"name\": \"x\", \"reply\": \"signed_out\" } ] }",
                tab,
            ),
            "field `protocol.request.rules[0].reply`",
            "expected `ok`, `invalid_token`, `invalid_request` or `server_error` (an ordinary request's answer)",
        ),
        (
            model_text(
                rotate,
                ",\n  \"request\": { \"rules\": [ { \"name\": \"x\", \"do\": [\"mint child\"], \"reply\": \"ok\" } ] }",
                tab,
            ),
            "field `protocol.request.rules[0].do[0]`",
            "a `revoke` or a `set` (an ordinary request mints and rotates nothing)",
        ),
        (
            model_text(
                rotate,
                "",
                r#"{"tabs":2,"refreshes_per_tab":1,"mode":"json","calls_per_tab":1,"coordination":"local-storage"}"#,
            ),
            "field `browser.coordination`",
            "found \"local-storage\", expected \"none\" or \"web-locks\" when `calls_per_tab` is above 0",
        ),
        (
            model_text(rotate, "", r#"{"tabs":1,"refreshes_per_tab":1,"mode":"json","calls_per_tab":5}"#),
            "field `browser.calls_per_tab`",
            "an integer from 0 to 4",
        ),
    ];
    let dir = crate::common::TempFiles::new();
    for (text, field, hint) in cases {
        let file = dir.path().join("p.json");
        std::fs::write(&file, &text).unwrap();
        let e = refresh_check::scenario::Scenario::load(&file).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:", file.display())) && e.contains(field), "{e}");
        if field.contains("protocol.refresh") {
            // The rule stands on line 4; the column is where its offending string starts.
            assert!(e.starts_with(&format!("{}:4:", file.display())), "{e}");
        }
        assert!(e.contains(hint), "{e}");
        let out = crate::util::cli(dir.path(), &["models", "validate", "p.json"]);
        assert_eq!(out.status.code(), Some(2), "{e}");
    }
    // A Directus model cannot make calls: they present an authorization server's access tokens.
    let directus = r#"{"name":"d","description":"d","sources":["s"],"server":{"session_refresh":"rotate"},
"browser":{"tabs":1,"refreshes_per_tab":1,"calls_per_tab":1},"time":{"refresh_token_ttl":7,"session_cookie_ttl":4}}"#;
    let file = dir.path().join("d.json");
    std::fs::write(&file, directus).unwrap();
    let e = refresh_check::scenario::Scenario::load(&file).unwrap_err().to_string();
    assert!(e.contains("field `browser.calls_per_tab`") && e.contains("`protocol` or `auth_server`"), "{e}");
}

/// The model-file schema knows the `request` handler, `calls_per_tab` and
/// `uses_access_tokens`, and accepts the access-token models.
#[test]
fn the_schema_covers_access_tokens() {
    let out = crate::util::cli(&crate::util::root(), &["models", "schema"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for field in ["\"request\"", "\"calls_per_tab\"", "\"uses_access_tokens\""] {
        assert!(text.contains(field), "{field}");
    }
    let out = crate::util::cli(&crate::util::root(), &["models", "expand", ZITADEL]);
    assert_eq!(out.status.code(), Some(0));
    let expanded = String::from_utf8(out.stdout).unwrap();
    assert!(
        expanded.contains("\"revoke presented.access\"") && expanded.contains("\"calls_per_tab\": 1"),
        "{expanded}"
    );
}

/// The query state view reads access tokens (issue 14 review): a tab's access token and its
/// row (expired, revoked, used), any access token's row, and the attacker's stolen access
/// tokens. On ZITADEL 9331 the refresh revokes the tab's unexpired access token 1 and issues
/// access token 2 with refresh token 2; with `uses_access_tokens` the attacker holds (copies)
/// access token 1 from the start, which stops being usable at that step, and access token 2
/// once the tab holds it.
#[test]
fn the_query_state_view_reads_access_tokens() {
    let files = crate::common::TempFiles::new();
    let file = files.copy_model(ZITADEL, "z.json", |m| {
        m.insert(
            "attacker".into(),
            serde_json::json!({ "attempts": 1, "modes": ["json"], "uses_access_tokens": true }),
        );
        m.shift_remove("expect");
        m.insert(
            "queries".into(),
            serde_json::json!([
                { "name": "call-carries-revoked-access",
                  "events": ["TabSendsCall", "ServerReceivesCall"],
                  "end": "access[1].revoked and not access[2].revoked and tab[A].access.revoked and not tab[A].access.expired \
                          and not tab[A].access.used and access[2].refresh != none and access[2].exp == 4 \
                          and not access[2].used and access[1].issued_at == 0",
                  "expect": "reachable" },
                { "name": "tab-access-never-revoked", "always": "not tab[A].access.revoked", "expect": "violated" },
                { "name": "attacker-holds-at-most-two", "always": "stolen_access >= 1 and stolen_access <= 2", "expect": "holds" },
                { "name": "attacker-copies-the-new-one", "end": "stolen_access == 2 and stolen_access.live == 1", "expect": "reachable" },
                { "name": "stolen-access-stays-live", "always": "stolen_access.live == 1", "expect": "violated" }
            ]),
        );
    });
    let sc = refresh_check::scenario::Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let m = model::build(&sc);
    let answer = |name: &str| {
        let q = sc.queries.iter().find(|q| q.name == name).unwrap();
        let o = query::answer(&m, &sc.path, &sc.name, sc.browser.tabs, q, &SearchConfig::default());
        assert_eq!(o.expect, Some(o.answer), "{name}");
        o
    };
    let o = answer("call-carries-revoked-access");
    assert_eq!(
        actions(o.trace.as_ref().unwrap()),
        ["TabSendsRefresh", "ServerReceivesRefresh", "TabSendsCall", "ServerReceivesCall"]
    );
    for name in ["tab-access-never-revoked", "stolen-access-stays-live"] {
        let o = answer(name);
        assert_eq!(actions(o.trace.as_ref().unwrap()), ["TabSendsRefresh", "ServerReceivesRefresh"], "{name}");
    }
    let o = answer("attacker-holds-at-most-two");
    assert!(o.unique_states > 10, "{} states", o.unique_states);
    let o = answer("attacker-copies-the-new-one");
    assert_eq!(
        actions(o.trace.as_ref().unwrap()),
        ["TabSendsRefresh", "ServerReceivesRefresh", "TabReceivesRefreshResponse"]
    );
    // Reading an access token as a refresh token is refused when the file is loaded.
    let bad = files.copy_model(ZITADEL, "bad.json", |m| {
        m.insert("queries".into(), serde_json::json!([{ "name": "x", "always": "tab[A].access == tab[A].token" }]));
    });
    let e = refresh_check::scenario::Scenario::load(&bad).unwrap_err().to_string();
    assert!(e.contains("queries[0].always") && e.contains("an access token"), "{e}");
}

/// `models validate`'s summary names the calls (issue 14 review): `browser.calls_per_tab`,
/// whose request handler serves them, and the attacker's calls; a model without calls keeps
/// the summary it had.
#[test]
fn models_validate_summarises_the_calls() {
    let files = crate::common::TempFiles::new();
    files.copy_model(ZITADEL, "default.json", |m| {
        m["protocol"].as_object_mut().unwrap().shift_remove("request");
        m.insert(
            "attacker".into(),
            serde_json::json!({ "attempts": 1, "modes": ["json"], "uses_access_tokens": true }),
        );
        m.insert("name".into(), "default".into());
        m.shift_remove("expect");
    });
    let zitadel = crate::util::root().join(ZITADEL);
    let directus = crate::util::root().join("models/directus-10.10-session.json");
    let devices = crate::util::root().join("models/c22-logout-replay-revokes-all.json");
    let out = crate::util::cli(
        files.path(),
        &[
            "models",
            "validate",
            zitadel.to_str().unwrap(),
            "default.json",
            directus.to_str().unwrap(),
            devices.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    // Files are validated in sorted order; each line starts with its file.
    let line = |file: &str| text.lines().find(|l| l.contains(file)).unwrap_or_else(|| panic!("{text}"));
    assert!(
        line("zitadel-9331-refresh-revokes").ends_with(
            "1 tab, 1 refresh and 0 requests per tab, 0 ticks; calls: 1 per tab, the request handler of the file (2 rules))"
        ),
        "{text}"
    );
    assert!(
        line("default.json").ends_with(
            "0 ticks; calls: 1 per tab, the default request handler, the attacker calls with the access tokens it copied)"
        ),
        "{text}"
    );
    assert!(
        line("directus-10.10-session.json").ends_with("2 tabs, 1 refresh and 0 requests per tab, 0 ticks)"),
        "{text}"
    );
    // Several devices are named as such, not as the tabs of one.
    assert!(line("c22-logout-replay-revokes-all.json").contains(", 2 devices of 2 tabs each, "), "{text}");
}

/// With no rule for a refused access token (the `invalid_token` fallback removed), the server's
/// step says "no rule holds" and names the answer as the tab then prints it (`401
/// invalid_token`), not a fixed "401" that could contradict the model's wording.
#[test]
fn a_call_no_rule_decides_is_named_as_the_answer_the_tab_gets() {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(ZITADEL, "no-fallback.json", |m| {
        m["protocol"]["request"]["rules"].as_array_mut().unwrap().truncate(1);
        m.remove("expect");
    });
    let sc = refresh_check::scenario::Scenario::load(&path).unwrap();
    let (m, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), CALL_REFUSED_AFTER_REFRESH);
    assert!(t.steps[3].text.ends_with("(access token=1): no rule holds → invalid_token"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.contains("gets 401 invalid_token for its API call"), "{}", t.steps[4].text);
}

/// The freshness check is Directus's `GET /users/me` probe: an authorization-server model is
/// told to use calls instead (its `request` rules would not decide the probe).
#[test]
fn the_freshness_check_is_refused_on_an_authorization_server() {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(ZITADEL, "fresh.json", |m| {
        m["browser"]["freshness_check"] = serde_json::Value::Bool(true);
    });
    let e = refresh_check::scenario::Scenario::load(&path).unwrap_err().to_string();
    assert!(e.contains("field `browser.freshness_check`: found true, expected false with a `protocol`"), "{e}");
    assert!(e.contains("fresh.json:"), "{e}");
}

const TWEETBOOK: &str = "models/tweetbook-refresh-pair-check-shared-refresh-token.json";

/// The Tweetbook refresh (`refresh.presents: ["refresh_token", "access_token"]`) checks that
/// the stored refresh token's JwtId is the presented access token's jti. With the refresh token
/// in shared localStorage and each tab's access token in its memory, tab B presents its own
/// access token 1 beside the refresh token 2 tab A stored, the pair check refuses it and tab B
/// is logged out; the shortest logout is still the double use of refresh token 1.
#[test]
fn tweetbook_the_pair_check_refuses_an_older_access_token_beside_a_newer_refresh_token() {
    let (sc, m, r) = checked(TWEETBOOK);
    assert!(r.unique_states > 10, "{} states", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let used = crate::util::find_step(&t, "server", "ServerReceivesRefresh", "rule `This refresh token has been used`");
    assert!(t.steps[used].text.contains("(access token=1; mode json, refresh_token=1)"), "{}", t.steps[used].text);

    let o = crate::util::answered(&sc, "pair-mismatch-logs-out-a-tab");
    let t = o.trace.expect("a run");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(
        t.steps[4].text.contains("tab B")
            && t.steps[4].text.contains("(token=2) and the access token it holds (access token=1)"),
        "{}",
        t.steps[4].text
    );
    let mismatch = crate::util::find_step(
        &t,
        "server",
        "ServerReceivesRefresh",
        "rule `This refresh token does not match this JWT`",
    );
    assert_eq!(mismatch, 5);
    assert!(t.steps[5].text.contains("(access token=1; mode json, refresh_token=2)"), "{}", t.steps[5].text);
    assert!(t.steps[6].text.contains("tab B gets 400 Bad Request and is logged out"), "{}", t.steps[6].text);
    assert_eq!(crate::util::answered(&sc, "matching-pair-served").answer, Answer::Reachable);
}

/// The same server with the whole session in one shared entry (`shared_storage_holds:
/// "session"`): the refresh reads the stored session to present its access token, so the pair
/// always matches; a tab refreshing after another presents the new pair and is served.
#[test]
fn tweetbook_a_stored_session_presents_a_matching_pair() {
    let (sc, _m, r) = checked("models/tweetbook-refresh-pair-check-shared-session.json");
    assert!(r.unique_states > 10, "{} states", r.unique_states);
    assert_eq!(crate::util::answered(&sc, "pair-mismatch-unreachable").answer, Answer::Unreachable);
    let t = crate::util::answered(&sc, "later-tab-presents-the-new-pair").trace.expect("a run");
    let served = crate::util::find_step(&t, "server", "ServerReceivesRefresh", "rule `the pair matches`");
    let later = t.steps.iter().rposition(|s| s.action == "ServerReceivesRefresh").unwrap();
    assert!(served <= later && t.steps[later].text.contains("(access token=2; mode json, refresh_token=2)"));
}

/// Two nodes serving a one-step refresh that presents both tokens.
const TWO_NODES: &str = r#"{
  "name": "two-nodes", "description": "two nodes", "sources": ["a test"],
  "protocol": {
    "replicas": 2,
    "refresh": {
      "presents": ["refresh_token", "access_token"],
      "rules": [ { "name": "rotate", "do": ["supersede presented", "mint child"], "reply": "ok minted" } ]
    },
    "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke presented"], "reply": "signed_out" } ] }
  },
  "browser": { "tabs": 1, "refreshes_per_tab": 1, "mode": "json" },
  "time": { "max_ticks": 0, "access_token_ttl": 1 }
}"#;

/// A refresh presenting both tokens reads the presented access token as `access.*` and may
/// `revoke access`; what it may not say is refused at load with the file, the line and the
/// field (exit 2).
#[test]
fn refresh_presents_is_validated() {
    let files = crate::common::TempFiles::new();
    let src = std::fs::read_to_string(crate::util::root().join(TWEETBOOK)).unwrap();
    let both = "\"presents\": [\n        \"refresh_token\",\n        \"access_token\"\n      ],\n";
    assert!(src.contains(both));
    let accepted = src.replacen(
        "\"when\": \"access.refresh_token != presented\",",
        "\"when\": \"access.refresh_token != presented or access.revoked or access.exp < now\", \"do\": [\"revoke access\"],",
        1,
    );
    assert_ne!(accepted, src);
    files.write("ok.json", &accepted);
    let out = crate::util::cli(files.path(), &["models", "validate", "ok.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let cases = [
        (
            src.replacen(both, "", 1),
            "\"access.refresh_token != presented\"",
            "protocol.refresh.steps[0].rules[2].when",
            "`\"presents\": [\"refresh_token\", \"access_token\"]` in `refresh`",
        ),
        (
            src.replacen(both, "\"presents\": \"access_token\",\n", 1),
            "\"presents\"",
            "protocol.refresh.presents",
            "a refresh presents the refresh token; the access token only beside it",
        ),
        (
            src.replacen(both, "\"presents\": [\"refresh_token\", \"refresh_token\"],\n", 1),
            "\"presents\"",
            "protocol.refresh.presents",
            "each at most once",
        ),
        (
            src.replacen("\"access.refresh_token != presented\"", "\"not presented.access.used\"", 1),
            "\"name\": \"This refresh token does not match this JWT\"",
            "protocol.refresh.steps[0].rules[2]",
            "a refresh that presents both tokens reads the presented access token as `access.`",
        ),
        (
            TWO_NODES.to_string(),
            "\"presents\"",
            "protocol.refresh.presents",
            "\"refresh_token\" when `replicas` is 2 (access tokens are kept by one node)",
        ),
    ];
    crate::util::refused_at(&src, &cases);
}
