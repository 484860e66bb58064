//! A client reaction that sends a follow-up request (`browser.follow_up`): laravel/passport
//! PR 1790's client that revokes the refresh token it replaced, its race with another tab's
//! refresh, and the refusals of the construct.

use serde_json::Value;

use crate::util::{checked, cli, owned, steps, trace_of};

const RACE: &str = "models/laravel-passport-pr1790-client-revokes-superseded-token.json";
const LOCKED: &str = "models/laravel-passport-pr1790-client-revokes-under-web-locks.json";

/// The revocation of the superseded token races tab B's refresh that presented the same
/// token: B's `isRefreshTokenRevoked` check runs after it, B is refused and logged out. The
/// shortest counterexample is that interleaving, step by step.
#[test]
fn the_revocation_of_the_superseded_token_logs_out_the_tab_that_presented_it() {
    let (sc, m, r) = checked(RACE);
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerWritesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("server", "ServerReceivesFollowUp"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[2].text.contains("(token=1)"), "{}", t.steps[2].text);
    assert_eq!(
        t.steps[5].text,
        "tab A gets 200, refresh token=2; it stores it; it sends its follow-up: RFC 7009 revocation request with the refresh token it replaced (refresh_token=1)"
    );
    assert!(
        t.steps[6].text.contains(
            "tab A's follow-up: RFC 7009 revocation request (refresh_token=1) (a revocation, not a sign-out)"
        ) && t.steps[6].text.contains("rule `revokeRefreshToken (RFC 7009 revocation)`"),
        "{}",
        t.steps[6].text
    );
    assert!(
        t.steps[7].text.contains("refresh_token=1")
            && t.steps[7].text.contains("rule `revoked: The refresh token is invalid`"),
        "{}",
        t.steps[7].text
    );
    assert_eq!(t.steps[8].text, "tab B gets 401 invalid_request and is logged out");
}

/// The same model without the follow-up: the used token stays valid, and no tab is logged
/// out. The revocation is what logs tab B out.
#[test]
fn without_the_follow_up_no_tab_is_logged_out() {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(RACE, "plain.json", |m| {
        m["browser"].as_object_mut().unwrap().remove("follow_up");
        m.remove("expect");
        m.remove("queries");
    });
    let sc = crate::util::scenario(path.to_str().unwrap(), None);
    let (m, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let p = r.properties.iter().find(|p| p.name == "no_spurious_logout").unwrap();
    assert!(p.path.is_none(), "no logout without the revocation");
    let fork = trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert!(!steps(&fork).iter().any(|(_, a)| a.contains("FollowUp")));
}

/// Under a Web Lock no refresh presents a token another tab's answer replaced: the
/// revocation meets no refresh that needs it, and it still races the next refresh (query).
#[test]
fn under_a_web_lock_the_revocation_logs_nobody_out() {
    let (_, _, r) = checked(LOCKED);
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    assert!(r.properties.iter().find(|p| p.name == "no_spurious_logout").unwrap().path.is_none());
    // Asserts the query's answer is its expectation (reachable).
    crate::util::answered(&crate::util::scenario(LOCKED, None), "revocation-races-the-next-refresh");
}

fn refused(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(RACE, "bad.json", edit);
    let out = cli(files.path(), &["models", "validate", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.json:"), "{err}");
    err
}

fn follow_up(m: &mut serde_json::Map<String, Value>) -> &mut serde_json::Map<String, Value> {
    m["browser"]["follow_up"].as_object_mut().unwrap()
}

#[test]
fn a_follow_up_naming_a_missing_handler_is_refused() {
    let err = refused(|m| {
        follow_up(m).insert("handler".into(), "revoke".into());
    });
    assert!(err.contains("browser.follow_up.handler") && err.contains("no handler of this name"), "{err}");
    let err = refused(|m| {
        follow_up(m).insert("handler".into(), "refresh".into());
    });
    assert!(err.contains("browser.follow_up.handler") && err.contains("is not modelled"), "{err}");
}

#[test]
fn a_follow_up_with_a_token_the_client_never_held_is_refused() {
    let err = refused(|m| {
        follow_up(m).insert("presents".into(), "child".into());
    });
    assert!(err.contains("presents") && err.contains("superseded"), "{err}");
    let err = refused(|m| {
        follow_up(m).insert("after".into(), "sign-in-again".into());
    });
    assert!(err.contains("browser.follow_up.after") && err.contains("re_sign_ins"), "{err}");
}

#[test]
fn a_follow_up_in_a_mode_where_the_script_cannot_read_the_token_is_refused() {
    let err = refused(|m| {
        m["browser"]["mode"] = "cookie".into();
        m["browser"].as_object_mut().unwrap().remove("json_storage");
    });
    assert!(err.contains("browser.mode") && err.contains("HttpOnly"), "{err}");
    let err = refused(|m| {
        m["protocol"]["sign_out"]["presents"] = "access_token".into();
    });
    assert!(err.contains("protocol.sign_out.presents"), "{err}");
}

/// A follow-up revoking the superseded token after a 2xx that stores nothing (`on_ok: []`)
/// would revoke the token the tab still presents: refused, naming `presents`; with `new` it
/// is accepted.
#[test]
fn a_follow_up_revoking_the_superseded_token_needs_an_on_ok_that_stores_the_new_one() {
    let err = refused(|m| {
        m["browser"]["on_ok"] = serde_json::json!([]);
    });
    assert!(err.contains("browser.follow_up.presents") && err.contains("`on_ok` that stores nothing"), "{err}");
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(RACE, "new.json", |m| {
        m["browser"]["on_ok"] = serde_json::json!([]);
        follow_up(m).insert("presents".into(), "new".into());
    });
    let out = cli(files.path(), &["models", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A follow-up after a refresh's 2xx in a model where no tab refreshes can never be sent:
/// refused, naming `after` and what it needs.
#[test]
fn a_follow_up_after_a_refresh_needs_refreshes() {
    let err = refused(|m| {
        m["browser"]["refreshes_per_tab"] = 0.into();
    });
    assert!(err.contains("browser.follow_up.after") && err.contains("refreshes_per_tab"), "{err}");
}

/// `on_ok: []` (no follow-up): the 2xx's line says the tab stores nothing, as
/// `on_requester_ok: []` is worded, not "it stores it".
#[test]
fn a_2xx_whose_on_ok_is_empty_is_worded_as_storing_nothing() {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(RACE, "stores-nothing.json", |m| {
        m["browser"].as_object_mut().unwrap().remove("follow_up");
        m["browser"]["on_ok"] = serde_json::json!([]);
        m["browser"]["tabs"] = 1.into();
        m["queries"] = serde_json::json!([{ "name": "ok", "events": ["tab A TabReceivesRefreshResponse status 200"], "expect": "reachable" }]);
    });
    let sc = refresh_check::scenario::Scenario::load(&path).unwrap();
    let t = crate::util::query_trace(&sc, "ok");
    let last = t.steps.last().unwrap();
    assert_eq!(
        last.text,
        "tab A gets 200, refresh token=2; it stores nothing (`on_ok` is empty: the new token never reaches the browser)"
    );
}

/// Two refreshes of one tab, the second answered while the first one's follow-up is still in
/// flight: the second 2xx's line says the tab sends no follow-up and why; with a revocation
/// hint the follow-up line shows the `token_type_hint` it sends.
#[test]
fn a_follow_up_skipped_while_one_is_in_flight_and_the_hint_it_sends_are_worded() {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(RACE, "skipped.json", |m| {
        m["browser"]["tabs"] = 1.into();
        m["browser"]["refreshes_per_tab"] = 2.into();
        m["protocol"]["sign_out"]["revocation"] = serde_json::json!({ "hint": "refresh_token" });
        m["queries"] = serde_json::json!([{
            "name": "second-2xx-before-the-follow-up-arrives",
            "events": ["tab A TabReceivesRefreshResponse status 200", "tab A TabReceivesRefreshResponse status 200"],
            "never": ["ServerReceivesFollowUp"],
            "expect": "reachable"
        }]);
    });
    let sc = refresh_check::scenario::Scenario::load(&path).unwrap();
    let t = crate::util::query_trace(&sc, "second-2xx-before-the-follow-up-arrives");
    let answers: Vec<&str> =
        t.steps.iter().filter(|s| s.action == "TabReceivesRefreshResponse").map(|s| s.text.as_str()).collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(
        answers[0],
        "tab A gets 200, refresh token=2; it stores it; it sends its follow-up: RFC 7009 revocation request with the refresh token it replaced (refresh_token=1; token_type_hint=refresh_token)"
    );
    assert_eq!(
        answers[1],
        "tab A gets 200, refresh token=3; it stores it; it sends no follow-up: its follow-up (RFC 7009 revocation request) is still in flight, and a tab has at most one in flight"
    );
}
