//! Fields kept per user (`fields.user`): nocobase's `passwordChangeTz`, stamped by the password
//! change and compared with a token's `iat` when the token is renewed (PR 9261). The model
//! pair, the race the fix leaves (a renewal checked before the change and written in a later
//! second), the effect of a user field on an ordinary call, and the refusals.

use refresh_check::scenario::Verdict;

use crate::util::{checked, owned, refused_at, status, steps, trace_of};

const BEFORE: &str = "models/nocobase-9261-renewal-skips-password-change-check.json";
const FIX: &str = "models/nocobase-pr9261-password-change-checked-before-renewal.json";

/// Before PR 9261 an expired token skips the `passwordChangeTz` check and is renewed: device
/// 1's renewal sent before the change is served after it (5 steps), and the PR's regression
/// test (device 2's expired token renewed after the change) is the query.
#[test]
fn before_the_fix_an_expired_token_is_renewed_after_the_change() {
    let (sc, m, r) = checked(BEFORE);
    assert!(r.states > 1000, "{}", r.states);
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Violated);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let t = trace_of(&m, &sc, &r, "password_change_revokes_all");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab 1A", "TabSendsRefresh"),
            ("tab 1A", "DeviceSignsIn"),
            ("server", "ServerReceivesSignIn"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    let text: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    assert!(text[3].contains("rule `expired: no passwordChangeTz check` → continue"), "{}", text[3]);
    assert!(text[4].contains("rule `1 row updated: a new jti, iat now` → ok minted"), "{}", text[4]);
    // The change stamped the user row before the renewal read it.
    let store = &t.steps[3].state.store;
    assert!(store.iter().any(|l| l == "user: password_change_tz=0, password_changed=1"), "{store:?}");
    let q = crate::util::query_trace(&sc, "other-device-renewed-after-change");
    let last = &q.steps.last().unwrap().text;
    assert!(last.contains("device 2 tab A gets 200"), "{last}");
}

/// After PR 9261 the check refuses the other device's expired token before any renewal (the
/// regression test's query), and the race the fix leaves is found: device 2's renewal passes
/// the check before the change, the clock passes a second, the renewal writes token 4 with
/// iat 1 (after the change at 0), and token 4 is renewed again after the change.
#[test]
fn after_the_fix_a_renewal_in_flight_at_the_change_outlives_it() {
    let (sc, m, r) = checked(FIX);
    assert!(r.states > 10_000, "{}", r.states);
    assert_eq!(status(&r, "password_change_revokes_all"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "password_change_revokes_all");
    assert_eq!(t.steps.len(), 10);
    let q = crate::util::query_trace(&sc, "other-device-refused-after-change");
    assert!(
        q.steps.iter().any(|s| s.text.contains("rule `User password changed, please signin again` → invalid_grant")),
        "{:#?}",
        q.steps.iter().map(|s| &s.text).collect::<Vec<_>>()
    );
    let q = crate::util::query_trace(&sc, "renewal-in-flight-outlives-change");
    assert_eq!(
        steps(&q),
        owned(&[
            ("tab 1A", "DeviceSignsIn"),
            ("tab 2A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerReceivesSignIn"),
            ("clock", "ClockTicks"),
            ("server", "ServerWritesRefresh"),
            ("tab 2A", "TabReceivesRefreshResponse"),
            ("tab 2A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    let store = &q.steps[5].state.store;
    assert!(store.iter().any(|l| l.starts_with("token=4 family=1 gen=1 parent=2 iat=1 active")), "{store:?}");
    assert!(store.iter().any(|l| l == "user: password_change_tz=0, password_changed=1"), "{store:?}");
}

/// A user field read by the `request` handler: an access token issued before the stamp is
/// refused (written as a temporary model: the nocobase fix with a call per tab and a
/// `request` rule on `access.issued_at`): after the change no call is served, since every
/// access token was issued in the change's tick or before. Without the rule one is.
#[test]
fn an_ordinary_call_reads_the_user_field() {
    let files = crate::common::TempFiles::new();
    let with_rule = |rule: bool| {
        files.copy_model(FIX, if rule { "call.json" } else { "call-plain.json" }, |v| {
            let mut rules = vec![];
            if rule {
                rules.push(serde_json::json!({ "name": "valid token issued before passwordChangeTz",
                    "when": "user.password_changed == 1 and access.issued_at <= user.password_change_tz",
                    "reply": "invalid_token" }));
            }
            rules.push(serde_json::json!({ "name": "valid token", "reply": "ok" }));
            v["protocol"]["request"] = serde_json::json!({ "rules": rules });
            v["browser"]["calls_per_tab"] = 1.into();
            v["browser"]["refreshes_per_tab"] = 0.into();
            v.remove("expect");
            v.insert(
                "queries".into(),
                serde_json::json!([{ "name": "call-served-after-change",
                    "events": ["tab 1A TabReceivesSignInResponse", "server ServerReceivesCall rule `valid token`"],
                    "expect": if rule { "unreachable" } else { "reachable" } }]),
            );
        })
    };
    let f = with_rule(true);
    let sc = refresh_check::scenario::Scenario::load(&f).unwrap();
    let o = crate::util::answered(&sc, "call-served-after-change");
    assert_eq!(o.answer, refresh_check::query::Answer::Unreachable);
    assert!(o.unique_states > 10, "{}", o.unique_states);
    let f = with_rule(false);
    let sc = refresh_check::scenario::Scenario::load(&f).unwrap();
    assert_eq!(crate::util::answered(&sc, "call-served-after-change").answer, refresh_check::query::Answer::Reachable);
}

/// Refused (exit 2, the file's line, the field, what is expected): a user field of type token,
/// a user field named like a built-in `user.` name, an undeclared `user.` name in a rule, and
/// a user field in `in_memory`.
#[test]
fn user_fields_are_refused_out_of_shape() {
    let src = std::fs::read_to_string(FIX).unwrap();
    let token = src.replace("\"password_changed\": \"count\"", "\"password_changed\": \"token\"");
    let builtin = src.replace("\"password_changed\": \"count\"", "\"oldest\": \"count\"");
    let unknown = src.replace("user.password_changed == 1 and", "user.password_changd == 1 and");
    let memory = src.replace(
        "\"password_change_tz\": \"tick\"\n      }",
        "\"password_change_tz\": \"tick\"\n      },\n      \"in_memory\": [\"user.password_change_tz\"]",
    );
    assert_ne!(memory, src);
    refused_at(
        &src,
        &[
            (token, "\"password_changed\": \"token\"", "protocol.fields.user.password_changed", "`tick` or `count`"),
            (builtin, "\"user\": {", "protocol.fields.user", "not a built-in column"),
            (unknown, "user.password_changd", "protocol.refresh.steps[0].rules[0].when", "`user.password_changed`"),
            (memory, "\"in_memory\"", "protocol.fields.in_memory[0]", "`family.NAME`, `session.NAME` or `token.NAME`"),
        ],
    );
}
