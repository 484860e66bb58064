//! A password change on a signed-in device (`browser.re_sign_in_is: "password-change"`), with
//! access tokens and an attacker holding copies: refusal and acceptance of the field, the
//! judgement `password_change_revokes_all`, the access token's remaining lifetime as queries,
//! and the reports modelled (warmbly PR 641, better-auth `changePassword`).

use refresh_check::scenario::Verdict;

use crate::util::{answered, checked, query_trace, refused_at, status, trace_of};

/// The index of the first step at or after `from` whose actor and action are these and whose
/// sentence contains `needle`.
fn step_after(t: &refresh_check::trace::Trace, from: usize, actor: &str, action: &str, needle: &str) -> usize {
    t.steps
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, s)| s.actor == actor && s.action == action && s.text.contains(needle))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no {actor} {action} `{needle}` after step {from}: {:#?}", t.steps))
}

const SRC: &str = r#"{"name":"p","description":"d","sources":["s"],
"protocol": {
  "sign_in": { "rules": [ { "name": "revoke every session", "do": ["revoke user"], "reply": "signed_in" } ] },
  "refresh": { "rules": [ { "name": "rotate", "when": "presented.status == active", "do": ["mint child", "supersede presented"], "reply": "ok minted" },
                          { "name": "refused", "reply": "invalid_grant" } ] },
  "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] },
  "request": { "rules": [ { "name": "jwt", "when": "access.exp >= now", "reply": "ok" }, { "name": "expired", "reply": "invalid_token" } ] } },
"browser": { "tabs": 1, "refreshes_per_tab": 1, "calls_per_tab": 1,
  "re_sign_ins": 1,
  "re_sign_in_is": "password-change", "mode": "json" },
"attacker": { "attempts": 2, "modes": ["json"], "uses_access_tokens": true },
"time": { "max_ticks": 2, "access_token_ttl": 2 } }"#;

/// `re_sign_in_is` without a sign-in again is refused at its line (exit 2, the field, what is
/// expected); with `re_sign_ins`, access tokens (a `request` handler and calls) and an
/// attacker, once refused together, the file is accepted.
#[test]
fn password_change_field_is_refused_without_re_sign_ins_and_accepted_with_tokens_and_attacker() {
    let without = SRC.replace("\"re_sign_ins\": 1,", "\"re_sign_ins\": 0,");
    refused_at(
        SRC,
        &[
            (without, "\"re_sign_in_is\"", "browser.re_sign_in_is", "`browser.re_sign_ins` above 0"),
            (
                SRC.replace("\"re_sign_in_is\": \"password-change\"", "\"re_sign_in_is\": \"password\""),
                "\"re_sign_in_is\"",
                "re_sign_in_is",
                "password-change",
            ),
        ],
    );
    let files = crate::common::TempFiles::new();
    files.write("p.json", SRC);
    let out = crate::util::cli(files.path(), &["models", "validate", "p.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The `sign_in` handler is the password change, so a second device (whose start-up sign-in
/// would run the change's `revoke user` and end the first device's session before anything
/// happened) and a sign-in during the run are refused beside `re_sign_in_is`.
#[test]
fn a_password_change_with_another_sign_in_is_refused() {
    let two = SRC.replace("\"tabs\": 1,", "\"tabs\": 1, \"devices\": 2,");
    let during = SRC.replace("\"tabs\": 1,", "\"tabs\": 1, \"devices\": 2, \"sign_ins\": 1,");
    let expected = "one device and no `browser.sign_ins`";
    refused_at(
        SRC,
        &[
            (two, "\"re_sign_in_is\"", "browser.re_sign_in_is", expected),
            (during, "\"re_sign_in_is\"", "browser.re_sign_in_is", expected),
        ],
    );
}

/// An attacker who reads the storage once reads it before the password change: it never
/// copies the session the change hands the device, so a thief's refresh served after a change
/// that revokes every session is unreachable, while before the change its read is a step.
#[test]
fn an_attacker_reading_once_reads_before_the_change() {
    let once = SRC.replace("\"uses_access_tokens\": true", "\"uses_access_tokens\": true, \"steals\": \"once\"").replace(
        "\"time\":",
        r#""queries": [
  { "name": "read-after-change", "events": ["tab A TabReceivesSignInResponse", "attacker AttackerReadsStorage"], "expect": "unreachable" },
  { "name": "read-before-change", "events": ["attacker AttackerReadsStorage", "tab A DeviceSignsIn"], "expect": "reachable" },
  { "name": "thief-served-after-change", "events": ["tab A TabReceivesSignInResponse", "server ServerReceivesRefresh text `attacker` rule `rotate`"], "expect": "unreachable" } ],
"time":"#,
    );
    let sc = refresh_check::scenario::Scenario::parse(std::path::Path::new("once.json"), &once)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answered(&sc, "read-after-change").answer, refresh_check::query::Answer::Unreachable);
    assert_eq!(answered(&sc, "thief-served-after-change").answer, refresh_check::query::Answer::Unreachable);
    let t = query_trace(&sc, "read-before-change");
    let read = step_after(&t, 0, "attacker", "AttackerReadsStorage", "copies");
    step_after(&t, read, "tab A", "DeviceSignsIn", "changes the password");
}

/// A sign-in again's remaining conflicts are named together: a lossy network and restarts in
/// one refusal, at the first one's field.
#[test]
fn sign_in_conflicts_are_named_together() {
    let bad = SRC
        .replace("\"time\":", "\"lossy\": { \"messages\": \"responses\", \"max_losses\": 1 }, \"time\":")
        .replace("\"sign_out\": {", "\"restarts\": 1, \"sign_out\": {");
    refused_at(SRC, &[(bad, "\"lossy\"", "lossy", "also in conflict with `protocol.restarts`")]);
}

/// warmbly before PR 641: the change keeps the caller's session, so the thief, who copied
/// that session's refresh token before the change, refreshes after the change was answered.
/// The counterexample is that interleaving: the change, its answer, then the attacker's
/// refresh served by the rotating rule.
#[test]
fn warmbly_change_keeping_the_callers_session_lets_the_thief_refresh() {
    let (sc, m, r) = checked("models/warmbly-password-change-keeps-the-callers-session.json");
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Violated);
    // The shortest counterexample: the device's own refresh of the old session, in flight
    // across the change, is served after it.
    let t = trace_of(&m, &sc, &r, "password_change_revokes_all");
    let change = step_after(&t, 0, "tab A", "DeviceSignsIn", "changes the password on this device");
    let kept = step_after(&t, change, "server", "ServerReceivesSignIn", "the caller's session is kept");
    let served = step_after(&t, kept, "server", "ServerReceivesRefresh", "refresh_token=1");
    assert_eq!(served + 1, t.steps.len(), "the violation is the old session's refresh served");
    // The thief's refresh after the change was answered is served too.
    let q = query_trace(&sc, "attacker-refresh-served-after-change");
    let a = step_after(&q, 0, "tab A", "TabReceivesSignInResponse", "its tabs hold refresh token=2");
    step_after(&q, a, "server", "ServerReceivesRefresh", "attacker");
    // The thief's copied access token is still honoured after the change too.
    let q = query_trace(&sc, "attacker-call-served-after-change");
    let a = step_after(&q, 0, "tab A", "TabReceivesSignInResponse", "");
    step_after(&q, a, "server", "ServerReceivesCall", "attacker");
}

/// warmbly after PR 641: the change revokes every session, the caller's included, and hands
/// the device a new one; nothing issued before the change is honoured after it: no refresh,
/// and (the access token is checked against its session) no call, in a search of many states.
/// Before the change the thief's copy works (the search is not empty of theft).
#[test]
fn warmbly_reissued_session_cuts_the_thief_off_at_once() {
    let (sc, _, r) = checked("models/warmbly-pr641-password-change-reissues-session.json");
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Holds);
    assert!(r.unique_states > 100, "{}", r.unique_states);
    assert_eq!(status(&r, "attacker_redeems"), Verdict::Reached);
    for q in ["attacker-refresh-served-after-change", "attacker-call-served-after-change"] {
        assert_eq!(answered(&sc, q).answer, refresh_check::query::Answer::Unreachable, "{q}");
    }
    query_trace(&sc, "attacker-call-served-before-change");
}

/// better-auth: without `revokeOtherSessions` the thief's session outlives the change; with
/// it, the thief's session token is refused after the change, but its copy of the signed
/// session cookie cache is served for up to its lifetime (2 ticks) after the change was
/// answered, not 3: the access token's remaining lifetime, read as queries.
#[test]
fn better_auth_revoke_other_sessions_leaves_the_cookie_cache_for_its_lifetime() {
    let (_, _, r) = checked("models/better-auth-change-password-keeps-other-sessions.json");
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Violated);
    let (sc, _, r) = checked("models/better-auth-change-password-revoke-other-sessions.json");
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Holds);
    assert!(r.unique_states > 100, "{}", r.unique_states);
    assert_eq!(answered(&sc, "attacker-refresh-served-after-change").answer, refresh_check::query::Answer::Unreachable);
    let t = query_trace(&sc, "attacker-calls-2-ticks-after-change");
    let a = step_after(&t, 0, "tab A", "TabReceivesSignInResponse", "");
    let tick1 = step_after(&t, a, "clock", "ClockTicks", "");
    let tick2 = step_after(&t, tick1 + 1, "clock", "ClockTicks", "");
    step_after(&t, tick2, "server", "ServerReceivesCall", "attacker");
    assert_eq!(answered(&sc, "attacker-calls-3-ticks-after-change").answer, refresh_check::query::Answer::Unreachable);
}

const WARMBLY_OTHERS: &str = "models/warmbly-change-password-revokes-other-devices.json";

/// The shipped model with `edit` applied to its text, parsed (its `expect` is not asserted).
fn warmbly_others_with(edit: impl Fn(String) -> String) -> refresh_check::scenario::Scenario {
    let text = edit(std::fs::read_to_string(WARMBLY_OTHERS).unwrap());
    refresh_check::scenario::Scenario::parse(std::path::Path::new(WARMBLY_OTHERS), &text)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A `password_change` handler is accepted with two devices (the `sign_in` handler no longer
/// being the change); refused without `re_sign_in_is: "password-change"` (naming the handler),
/// `session_kept` outside it, and `revoke user except` anything but `family` or `session`
/// (exit 2, the file's line, the field, what is expected).
#[test]
fn password_change_handler_is_accepted_with_two_devices_and_refused_out_of_place() {
    let src = std::fs::read_to_string(WARMBLY_OTHERS).unwrap();
    let files = crate::common::TempFiles::new();
    files.write("p.json", &src);
    let out = crate::util::cli(files.path(), &["models", "validate", "p.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let no_change = src.replace("\"re_sign_in_is\": \"password-change\",", "");
    let kept_in_sign_in = src.replace("\"password_change\": {", "\"sign_in\": {");
    let nosuch = src.replace("revoke user except session", "revoke user except device");
    let sign_in_kept_expected = "`session_kept` only in a `password_change` rule";
    refused_at(
        &src,
        &[
            (
                no_change,
                "\"password_change\"",
                "protocol.password_change",
                "`browser.re_sign_in_is: \"password-change\"`",
            ),
            (kept_in_sign_in, "\"reply\": \"session_kept\"", "protocol.sign_in.rules[0].reply", sign_in_kept_expected),
            (
                nosuch,
                "revoke user except device",
                "protocol.password_change.rules[0].do[0]",
                "`revoke user except session`",
            ),
        ],
    );
}

/// warmbly's `ChangePassword` (`RevokeOtherSessions` with the caller's session id): the device
/// that changes the password keeps its session, the other device's is ended. Nothing another
/// device held before the change is served after it (`password_change_revokes_all` holds in a
/// search of many states), the other device's logout is the intended eviction
/// (`no_spurious_logout` holds), and the two queries are these interleavings: the change
/// answered `session_kept`, then device 2 refused, or device 1 served with its old token.
#[test]
fn warmbly_change_keeps_the_callers_session_and_ends_the_other_device() {
    let (sc, _, r) = checked(WARMBLY_OTHERS);
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Holds);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert!(r.unique_states > 1000, "{}", r.unique_states);
    let t = query_trace(&sc, "other-device-refused-after-change");
    let change = step_after(&t, 0, "tab 1A", "DeviceSignsIn", "changes the password on this device");
    let kept = step_after(
        &t,
        change,
        "server",
        "ServerReceivesSignIn",
        "RevokeOtherSessions(currentSessionID)` → session_kept",
    );
    let answer = step_after(&t, kept, "tab 1A", "TabReceivesSignInResponse", "the device keeps the session it held");
    let refused = step_after(
        &t,
        answer,
        "server",
        "ServerReceivesRefresh",
        "device 2 tab A's POST /auth/refresh (mode json, refresh_token=2)",
    );
    assert!(t.steps[refused].text.contains("revoked session or stale nonce"), "{}", t.steps[refused].text);
    let t = query_trace(&sc, "kept-session-refreshes-after-change");
    let answer = step_after(&t, 0, "tab 1A", "TabReceivesSignInResponse", "the device keeps the session it held");
    let served = step_after(
        &t,
        answer,
        "server",
        "ServerReceivesRefresh",
        "device 1 tab A's POST /auth/refresh (mode json, refresh_token=1)",
    );
    assert!(t.steps[served].text.contains("rotate both nonces"), "{}", t.steps[served].text);
}

/// What each part of the kept-session change does, by removing it. Without `evicts` the other
/// device's logout is spurious (the change, then device 2 refused). With `revoke user except
/// family` the change also ends the caller's old session (only the reserved family is spared),
/// so device 1's refresh after the change is never served. With no revocation, the other
/// device's old token is served after the change (`password_change_revokes_all` violated, the
/// last step that refresh). A thief holding copies of device 1's session refreshes after the
/// change, and the property, judging the other devices only, still holds.
#[test]
fn each_part_of_the_kept_session_change_has_its_effect() {
    use refresh_check::query::Answer;
    let no_evicts = warmbly_others_with(|s| s.replace("\"evicts\": \"others\",", ""));
    let (m, r) = crate::util::run(&no_evicts, &Default::default());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    // The shortest: device 1's refresh is in flight when device 2 changes the password; it
    // arrives after the change and is refused, and device 1 is logged out.
    let t = trace_of(&m, &no_evicts, &r, "no_spurious_logout");
    let change = step_after(&t, 0, "tab 2A", "DeviceSignsIn", "changes the password");
    let kept = step_after(&t, change, "server", "ServerReceivesSignIn", "→ session_kept");
    let refused = step_after(&t, kept, "server", "ServerReceivesRefresh", "device 1 tab A's POST /auth/refresh");
    assert!(t.steps[refused].text.contains("revoked session or stale nonce"), "{}", t.steps[refused].text);
    step_after(&t, refused, "tab 1A", "TabReceivesRefreshResponse", "logged out");
    assert_eq!(t.steps.len(), 5);

    let except_family = warmbly_others_with(|s| s.replace("revoke user except session", "revoke user except family"));
    let m = refresh_check::model::build(&except_family);
    let cfg = refresh_check::search::SearchConfig::default();
    let ask = |name: &str| {
        let q = except_family.queries.iter().find(|q| q.name == name).unwrap();
        refresh_check::query::answer(&m, &except_family.path, &except_family.name, 1, q, &cfg).answer
    };
    assert_eq!(ask("other-device-refused-after-change"), Answer::Reachable);
    assert_eq!(ask("kept-session-refreshes-after-change"), Answer::Unreachable);

    let nothing =
        warmbly_others_with(|s| s.replace("\"revoke user except session\"", "").replace("\"evicts\": \"others\",", ""));
    let (m, r) = crate::util::run(&nothing, &Default::default());
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Violated);
    // The shortest: device 1's refresh is in flight when device 2's change is answered; it
    // arrives after, and its token of the session before the change is rotated.
    let t = trace_of(&m, &nothing, &r, "password_change_revokes_all");
    let kept = step_after(&t, 0, "server", "ServerReceivesSignIn", "device 2 tab A's password change");
    assert!(t.steps[kept].text.contains("→ session_kept"), "{}", t.steps[kept].text);
    let served = step_after(&t, kept, "server", "ServerReceivesRefresh", "device 1 tab A's POST /auth/refresh");
    assert!(t.steps[served].text.contains("rotate both nonces"), "{}", t.steps[served].text);
    assert_eq!(served + 1, t.steps.len());

    let thief = warmbly_others_with(|s| {
        s.replace("\"time\":", "\"attacker\": { \"attempts\": 1, \"modes\": [\"json\"] },\n  \"time\":").replace(
            "\"queries\": [",
            r#""queries": [
    { "name": "thief-served-after-change",
      "events": ["tab A TabReceivesSignInResponse", "server ServerReceivesRefresh text `attacker's POST /auth/refresh (mode json, refresh_token=1)` rule `RefreshNonce matches: rotate both nonces`"],
      "expect": "reachable" },"#,
        )
    });
    let (_, r) = crate::util::run(&thief, &Default::default());
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Holds);
    let t = query_trace(&thief, "thief-served-after-change");
    let answer = step_after(&t, 0, "tab 1A", "TabReceivesSignInResponse", "keeps the session it held");
    step_after(&t, answer, "server", "ServerReceivesRefresh", "attacker");
}

/// A password change is an authenticated request from the device's first tab: a device whose
/// tab was logged out (its session revoked by the other device's change) cannot change the
/// password, so nothing "keeps" a session it no longer holds (`session_kept`); a signed-in
/// device still can, after the other device's change too.
#[test]
fn a_logged_out_device_cannot_change_the_password() {
    use refresh_check::query::Answer;
    let sc = warmbly_others_with(|s| {
        s.replacen(
            "\"queries\": [",
            r#""queries": [
    { "name": "logged-out-device-changes-password",
      "events": ["tab 2A TabReceivesRefreshResponse status 400", "tab 2A DeviceSignsIn", "server ServerReceivesSignIn"] },
    { "name": "signed-in-device-changes-after-the-other",
      "events": ["tab 1A DeviceSignsIn", "server ServerReceivesSignIn", "tab 2A DeviceSignsIn", "server ServerReceivesSignIn"] },"#,
            1,
        )
    });
    let m = refresh_check::model::build(&sc);
    let cfg = refresh_check::search::SearchConfig::default();
    let ask = |name: &str| {
        let q = sc.queries.iter().find(|q| q.name == name).unwrap();
        refresh_check::query::answer(&m, &sc.path, &sc.name, 1, q, &cfg)
    };
    let logged_out = ask("logged-out-device-changes-password");
    assert_eq!(logged_out.answer, Answer::Unreachable);
    assert!(logged_out.unique_states > 1000, "{}", logged_out.unique_states);
    assert_eq!(ask("signed-in-device-changes-after-the-other").answer, Answer::Reachable);
}
