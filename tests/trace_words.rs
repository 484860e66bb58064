//! The words of a trace's steps, as a designer writing protocols from prose read them: every
//! reaction to a refused refresh that ran (`ignore-if-token-changed` adopting a token or
//! finding the same one, `clear-stored-token` with per-tab and shared storage), the start of a
//! tab's refresh in the model's `wording`, the actor column and self-references; and the
//! refusals that point to the docs (tabs or requesters, a cookie written by page script, a
//! deleted row).

use refresh_check::check::CheckOptions;
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::trace;
use serde_json::{json, Value};

use crate::common::TempFiles;
use crate::util::{cli, run, status, trace_of};

/// Two tabs sharing the refresh token in `localStorage`; the server rotates and refuses a
/// retired token (`revoke family` and reuse detection with `detect`); a refused refresh runs
/// `on_refused`.
fn shared_storage_model(detect: bool, on_refused: Value) -> Value {
    let retired = if detect {
        json!({ "name": "retired token back: revoke the family", "when": "presented.status == superseded",
                "reuse_detected": true, "do": ["revoke family"], "reply": "invalid_grant" })
    } else {
        json!({ "name": "retired or revoked", "reply": "invalid_grant" })
    };
    json!({
        "name": "two-tabs-shared-storage",
        "description": "Two tabs share the refresh token in localStorage; the server rotates on every use.",
        "sources": ["docs/protocol-language.md, Client reactions"],
        "protocol": {
            "refresh": { "rules": [
                { "name": "active: rotate", "when": "presented.status == active",
                  "do": ["mint child", "supersede presented"], "reply": "ok minted" },
                retired,
                { "name": "revoked", "reply": "invalid_grant" } ] },
            "sign_out": { "rules": [ { "name": "revoke the family", "do": ["revoke family"], "reply": "signed_out" } ] }
        },
        "browser": { "tabs": 2, "refreshes_per_tab": 1, "mode": "json", "json_storage": "shared",
                     "on_refused": on_refused },
        "time": { "max_ticks": 0 }
    })
}

/// Checks model `v` (written to a temporary file): its scenario, model and results.
fn check(v: &Value) -> (Scenario, refresh_check::model::RefreshModel, refresh_check::check::Results) {
    let files = TempFiles::new();
    let path = files.write("m.json", serde_json::to_string_pretty(v).unwrap());
    let sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let (m, r) = run(&sc, &CheckOptions::default());
    (sc, m, r)
}

fn texts(t: &trace::Trace) -> Vec<String> {
    t.steps.iter().map(|s| s.text.clone()).collect()
}

/// `ignore-if-token-changed` that adopted another tab's token says so (not "keeps going"
/// alone), in the reported interleaving: A rotates 1 → 2 and stores 2, B's replay of 1 is
/// refused (the family revoked), B finds token 2 stored and adopts it, a dead token.
#[test]
fn a_refusal_whose_check_adopted_another_tabs_token_says_so() {
    let (sc, m, r) = check(&shared_storage_model(true, json!(["ignore-if-token-changed", "log-out"])));
    assert_eq!(status(&r, "converges_to_live_token"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "converges_to_live_token");
    let actions: Vec<&str> = t.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
            "TabReceivesRefreshResponse"
        ]
    );
    let texts = texts(&t);
    assert!(texts[3].contains("revoke the family"), "{}", texts[3]);
    assert_eq!(texts[4], "tab A gets 200, refresh token=2; it stores it");
    assert_eq!(
        texts[5],
        "tab B gets 400 invalid_grant and finds the stored token changed: it adopts token=2 and keeps going"
    );
}

/// `ignore-if-token-changed` that ran and found the token the refused refresh sent says so
/// before the tab is logged out: B's refusal arrives before A's answer is stored.
#[test]
fn a_refusal_whose_check_found_the_same_token_says_so() {
    let (sc, m, r) = check(&shared_storage_model(false, json!(["ignore-if-token-changed", "log-out"])));
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let texts = texts(&t);
    assert_eq!(texts.len(), 5, "{texts:?}");
    assert_eq!(texts[4], "tab B gets 400 invalid_grant, finds the same token stored (token=1) and is logged out");
}

/// `clear-stored-token` is said whether the storage is shared or the tab's own (json
/// `per-tab`), and so is every other reaction of the list.
#[test]
fn clear_stored_token_is_said_with_per_tab_and_shared_storage() {
    for storage in ["shared", "per-tab"] {
        let mut v = shared_storage_model(false, json!(["clear-stored-token", "log-out"]));
        v["browser"]["json_storage"] = json!(storage);
        let (sc, m, r) = check(&v);
        assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated, "{storage}");
        let t = trace_of(&m, &sc, &r, "no_spurious_logout");
        let last = t.steps.last().unwrap();
        assert_eq!(last.action, "TabReceivesRefreshResponse", "{storage}");
        assert!(
            last.text.ends_with("gets 400 invalid_grant, clears the stored token and is logged out"),
            "{storage}: {}",
            last.text
        );
    }
    // A list that runs three reactions says the three, in order.
    let v = shared_storage_model(false, json!(["ignore-if-token-changed", "clear-stored-token", "log-out"]));
    let (sc, m, r) = check(&v);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(
        t.steps.last().unwrap().text.ends_with(
            "gets 400 invalid_grant, finds the same token stored (token=1), clears the stored token and is logged out"
        ),
        "{}",
        t.steps.last().unwrap().text
    );
}

/// `wording.refresh_start` says what starts a tab's refresh; without it the start reads as
/// before; the states and verdicts are the same.
#[test]
fn the_start_of_a_refresh_is_worded_by_the_model() {
    let plain = shared_storage_model(false, json!(["log-out"]));
    let mut worded = plain.clone();
    worded["protocol"]["wording"] = json!({ "refresh_start": "runs its refresh timer" });
    let (sc, m, r) = check(&plain);
    let first = &trace_of(&m, &sc, &r, "no_spurious_logout").steps[0].text;
    assert!(first.starts_with("tab A loads or returns from idle and sends POST /auth/refresh"), "{first}");
    let (sc2, m2, r2) = check(&worded);
    let t = trace_of(&m2, &sc2, &r2, "no_spurious_logout");
    assert!(
        t.steps[0].text.starts_with("tab A runs its refresh timer and sends POST /auth/refresh"),
        "{}",
        t.steps[0].text
    );
    assert!(!trace::render_text(&t).contains("loads or returns"));
    assert_eq!(r.unique_states, r2.unique_states);
    assert!(r2.unique_states > 10, "{}", r2.unique_states);
    // A text that is not one line is refused at its field.
    let files = TempFiles::new();
    worded["protocol"]["wording"]["refresh_start"] = json!("runs\nits timer");
    files.write("m.json", serde_json::to_string_pretty(&worded).unwrap());
    let out = cli(files.path(), &["models", "validate", "m.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("protocol.wording.refresh_start") && err.contains("one-line verb phrase"), "{err}");
}

/// The actor column is as wide as the longest actor (`tab A's requester 2`), so every step's
/// text starts in one column; a tab refused on its own is "logged out", not "logs tab A out".
#[test]
fn the_actor_column_fits_the_longest_actor_and_a_tab_is_not_said_to_log_itself_out() {
    let mut v = shared_storage_model(true, json!(["log-out"]));
    v["browser"] = json!({ "tabs": 1, "refreshes_per_tab": 1, "mode": "cookie", "requesters_per_tab": 2 });
    let (sc, m, r) = check(&v);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(t.steps.iter().any(|s| s.actor == "tab A's requester 2"), "{}", trace::render_text(&t));
    let text = trace::render_text(&t);
    let starts: Vec<usize> = t
        .steps
        .iter()
        .zip(text.lines())
        .map(|(s, line)| line.find(s.text.as_str()).unwrap_or_else(|| panic!("{line}")))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{text}");
    assert!(text.lines().all(|l| !l.contains("requester 2tab")), "{text}");
    for s in &t.steps {
        assert!(!s.text.contains(&format!("logs {} out", s.actor)), "{}", s.text);
    }
    let refused = t.steps.iter().find(|s| s.text.contains("gets 400 invalid_grant")).unwrap();
    assert!(refused.text.ends_with("is logged out") || refused.text.ends_with("logs tab A out"), "{}", refused.text);
}

/// The refusals a designer met point to what to write instead, and the docs sections they
/// name exist.
#[test]
fn refusals_point_to_the_sections_that_say_what_to_write() {
    let docs = std::fs::read_to_string(crate::util::root().join("docs/protocol-language.md")).unwrap();
    for heading in ["### Tabs or requesters", "### A cookie written by page script", "### Deleting rows"] {
        assert!(docs.lines().any(|l| l == heading), "{heading}");
    }
    assert!(docs.contains("### What a retired token gets inside the interval"));
    let files = TempFiles::new();
    let cases: [(Value, &str, &str); 4] = [
        (
            {
                let mut v = shared_storage_model(false, json!(["log-out"]));
                v["browser"]["requesters_per_tab"] = json!(2);
                v["browser"]["json_storage"] = json!("per-tab");
                v["browser"]["tabs"] = json!(1);
                v["browser"]["coordination"] = json!("web-locks");
                v
            },
            "browser.requesters_per_tab",
            "code paths of one app that share a lock are tabs: write them as `tabs`, docs/protocol-language.md, \"Tabs or requesters\"",
        ),
        (
            {
                let mut v = shared_storage_model(false, json!(["ignore-if-token-changed", "log-out"]));
                v["browser"]["mode"] = json!("cookie");
                v["browser"].as_object_mut().unwrap().remove("json_storage");
                v
            },
            "browser.on_refused[0]",
            "a cookie page script writes itself is not HttpOnly: write it as json mode with `json_storage` \"shared\", docs/protocol-language.md, \"A cookie written by page script\"",
        ),
        (
            {
                let mut v = shared_storage_model(false, json!(["log-out"]));
                v["protocol"]["sign_out"]["rules"][0]["do"] = json!(["delete user"]);
                v
            },
            "protocol.sign_out.rules[0].do[0]",
            "a deleted row is said with `revoke`: did you mean `revoke user`? (docs/protocol-language.md, \"Deleting rows\")",
        ),
        (
            {
                let mut v = shared_storage_model(false, json!(["log-out"]));
                v["browser"]["coordination"] = json!("web-locks");
                v["browser"]["retries_per_tab"] = json!(1);
                v["browser"]["retry_timeout"] = json!("after-loss");
                v["lossy"] = json!({ "messages": "responses", "endpoints": ["refresh"], "max_losses": 1 });
                v
            },
            "lossy",
            "a lost answer with the timeout that follows as `coordination` \"none\" with `lossy`, `retries_per_tab` and `retry_timeout` \"after-loss\"",
        ),
    ];
    for (v, field, says) in cases {
        files.write("m.json", serde_json::to_string_pretty(&v).unwrap());
        let out = cli(files.path(), &["models", "validate", "m.json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(field) && err.contains(says), "{field}: {err}");
    }
}
