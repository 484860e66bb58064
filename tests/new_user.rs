//! What a designer who knew only the README and the docs met when writing four protocols from
//! prose: `compare` on a model with a `browser.client_word`, the scope of `eviction_completes`
//! on `password_change` rules, `models validate` in the model's word, suggestions that name the
//! field a reader means, a query over access tokens in a model that keeps none, a sign-out
//! notice refused with a lock (and what to write instead), `browser.re_sign_in_from`, and the
//! expiry trigger reading a stored session.

use refresh_check::check::CheckOptions;
use refresh_check::properties;
use refresh_check::scenario::{Scenario, Verdict};
use serde_json::json;

use crate::common::TempFiles;
use crate::util::{cli, owned, root, run, status, steps, trace_of};

/// The password change the designer wrote: device 1 changes the password, the server ends
/// every other device's session (`revoke user except session`, `evicts: "others"`) and keeps
/// device 1's; device 2's refresh checks its token outside the rotation's transaction and
/// rotates without checking again.
fn password_change_model() -> serde_json::Value {
    json!({
        "name": "password-change-keeps-session-inflight",
        "description": "A password change ends the other devices' sessions and keeps the acting one; another device's refresh checks its token, then rotates without a re-check.",
        "sources": ["docs/protocol-language.md, A change that keeps the acting session"],
        "protocol": {
            "refresh": { "steps": [
                { "name": "check", "rules": [
                    { "name": "active", "when": "presented.status == active", "reply": "continue" },
                    { "name": "not active", "reply": "invalid_grant" } ] },
                { "name": "rotate", "reads": "snapshot", "rules": [
                    { "name": "rotate", "do": ["mint child", "supersede presented"], "reply": "ok minted" } ] } ] },
            "sign_out": { "rules": [ { "name": "revoke the family", "do": ["revoke family"], "reply": "signed_out" } ] },
            "password_change": { "rules": [
                { "name": "end the other devices' sessions", "do": ["revoke user except session"],
                  "evicts": "others", "reply": "session_kept" } ] }
        },
        "browser": { "devices": 2, "tabs": 1, "refreshes_per_tab": 1, "mode": "json",
                     "re_sign_ins": 1, "re_sign_in_is": "password-change" },
        "time": { "max_ticks": 0 }
    })
}

fn write(files: &TempFiles, name: &str, v: &serde_json::Value) -> std::path::PathBuf {
    files.write(name, serde_json::to_string_pretty(v).unwrap())
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `compare` replays A's counterexamples on B in the checker's words: a model whose clients
/// are processes (`client_word`) compared with itself leaves every counterexample by the same
/// rules, and none is "not comparable".
#[test]
fn compare_replays_the_counterexamples_of_a_model_with_a_client_word() {
    let files = TempFiles::new();
    let a = files.copy_model("models/gcx-522-two-invocations-share-config.json", "a.json", |_| {});
    let b = files.copy_model("models/gcx-522-two-invocations-share-config.json", "b.json", |m| {
        m.insert("name".into(), "gcx-522-again".into());
    });
    let out = cli(files.path(), &["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    let t = text(&out);
    assert!(!t.contains("not comparable"), "{t}");
    assert!(
        t.contains("no_spurious_logout #1 (5 steps): B runs these steps and still violates `no_spurious_logout` at their end (5 steps): left (by the same rules:"),
        "{t}"
    );
    // The steps are shown in the model's word.
    assert!(t.contains("process A TabSendsRefresh → "), "{t}");
}

/// `eviction_completes` applies to a `password_change` rule marked `evicts`: `properties`
/// lists it for the model, the claim names the password change, the report does not mark it
/// `n/a`, and it is violated by device 2's refresh racing the change (the reported
/// interleaving: the refresh checks token 2, the change revokes it, the rotation mints token 4
/// and device 2 stores it).
#[test]
fn eviction_completes_applies_to_a_password_change_rule_marked_evicts() {
    let files = TempFiles::new();
    let file = write(&files, "b.json", &password_change_model());
    let spec = properties::by_name("eviction_completes").unwrap();
    assert!(spec.claim.contains("password-change rule marked `evicts`"), "{}", spec.claim);
    let sc = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert!(spec.applies(&sc));

    let out = cli(files.path(), &["properties", "b.json"]);
    let t = text(&out);
    let block: Vec<&str> = t.lines().skip_while(|l| !l.starts_with("eviction_completes")).take(3).collect();
    assert!(
        block.len() == 3 && block[2].contains("of the models given: password-change-keeps-session-inflight"),
        "{t}"
    );

    let (m, r) = run(&sc, &CheckOptions::default());
    let p = r.properties.iter().find(|p| p.name == "eviction_completes").unwrap();
    assert!(p.applies);
    assert_eq!(p.status, Verdict::Violated);
    let tr = trace_of(&m, &sc, &r, "eviction_completes");
    assert_eq!(steps(&tr), owned(EVICTION_RACE), "{}", refresh_check::trace::render_text(&tr));

    // Without the mark the property does not apply.
    let mut unmarked = password_change_model();
    unmarked["protocol"]["password_change"]["rules"][0].as_object_mut().unwrap().remove("evicts");
    write(&files, "u.json", &unmarked);
    let sc = Scenario::load(&files.path().join("u.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!spec.applies(&sc));
}

/// The shortest violation of `eviction_completes` on [`password_change_model`]: device 1's
/// refresh checks token 1, device 2 changes the password (ending device 1's session), the
/// rotation mints a token from what its read saw and device 1 stores it.
const EVICTION_RACE: &[(&str, &str)] = &[
    ("tab 1A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("tab 2A", "DeviceSignsIn"),
    ("server", "ServerReceivesSignIn"),
    ("tab 2A", "TabReceivesSignInResponse"),
    ("server", "ServerWritesRefresh"),
    ("tab 1A", "TabReceivesRefreshResponse"),
];

/// `models validate` says what a model has in the model's word for its clients.
#[test]
fn models_validate_counts_clients_in_the_models_word() {
    let files = TempFiles::new();
    files.copy_model("models/gcx-522-two-invocations-share-config.json", "m.json", |_| {});
    let out = cli(files.path(), &["models", "validate", "m.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(
            "(gcx-522-two-invocations-share-config, 2 processes, 1 refresh and 0 requests per process, 0 ticks)"
        ),
        "{t}"
    );
    assert!(!t.contains(" tab"), "{t}");
}

/// A misspelt name is answered with the field a reader means: a family has no status (its
/// tokens do, and `revoke family` marks every one), and the attacker's tokens are the stolen
/// ones.
#[test]
fn suggestions_name_the_field_a_reader_means() {
    let files = TempFiles::new();
    files.copy_model("models/gcx-522-two-invocations-share-config.json", "f.json", |m| {
        m["protocol"]["refresh"]["rules"][0]["when"] = "family.status == active".into();
    });
    let out = cli(files.path(), &["models", "validate", "f.json"]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(t.contains("unknown name `family.status`") && t.contains("a family has no status column"), "{t}");
    assert!(t.contains("`presented.status`") && t.contains("`revoke family` marks every token"), "{t}");
    assert!(!t.contains("did you mean `family.last_used_at`"), "{t}");

    files.copy_model("models/auth0-rotation-theft.json", "a.json", |m| {
        m.remove("queries");
        m.insert("queries".into(), json!([{ "name": "q", "end": "attacker.tokens > 0" }]));
    });
    let out = cli(files.path(), &["models", "validate", "a.json"]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(t.contains("unknown name `attacker.tokens` (did you mean `stolen_tokens`?)"), "{t}");
}

/// A query that reads access tokens in a model that keeps none is refused with what to add;
/// the same query on a model with a `request` handler is accepted.
#[test]
fn a_query_over_access_tokens_needs_a_model_that_keeps_them() {
    let files = TempFiles::new();
    let query = json!([{ "name": "no-tab-keeps-a-working-session",
        "always": "not (at_rest and tab[A].access != none and not tab[A].access.expired)" }]);
    let q = query.clone();
    files.copy_model("models/gcx-522-two-invocations-share-config.json", "m.json", move |m| {
        m.insert("queries".into(), q);
    });
    let out = cli(files.path(), &["models", "validate", "m.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("m.json:") && t.contains("queries[0].always"), "{t}");
    assert!(t.contains("`process[A].access`, but the model keeps no access tokens"), "{t}");
    assert!(t.contains("`protocol.request` handler"), "{t}");
    let q = query.clone();
    files.copy_model("models/signout-broadcast-late-refresh-stored.json", "ok.json", move |m| {
        m.insert("queries".into(), q);
    });
    let out = cli(files.path(), &["models", "validate", "ok.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A sign-out notice with a lock is refused, and the refusal says what to write instead.
#[test]
fn a_sign_out_notice_with_a_lock_says_what_to_write_instead() {
    let files = TempFiles::new();
    files.copy_model("models/supabase-auth-js-2.62-sign-out-under-web-lock.json", "m.json", |m| {
        m["browser"]["sign_out_notice"] = "broadcast-channel".into();
    });
    let out = cli(files.path(), &["models", "validate", "m.json"]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(t.contains("browser.sign_out_notice") && t.contains("not modelled together with it"), "{t}");
    assert!(t.contains("write instead, as two models: one without `sign_out_notice`"), "{t}");
    assert!(t.contains("`coordination: \"none\"`"), "{t}");
}

/// `browser.re_sign_in_from` says which device changes the password: refused outside the
/// devices, without `re_sign_ins` and on a device that signs in during the run; with it only
/// that device's user signs in again.
#[test]
fn re_sign_in_from_is_validated_and_takes_effect() {
    let files = TempFiles::new();
    let refused = |edit: &dyn Fn(&mut serde_json::Value), hint: &str| {
        let mut m = password_change_model();
        edit(&mut m);
        write(&files, "m.json", &m);
        let out = cli(files.path(), &["models", "validate", "m.json"]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains("m.json:") && t.contains("browser.re_sign_in_from") && t.contains(hint), "{hint}: {t}");
    };
    refused(&|m| m["browser"]["re_sign_in_from"] = 3.into(), "a device from 1 to 2");
    refused(&|m| m["browser"]["re_sign_in_from"] = 0.into(), "a device from 1 to 2");
    refused(
        &|m| {
            m["browser"]["re_sign_in_from"] = 1.into();
            m["browser"]["re_sign_ins"] = 0.into();
            m["browser"].as_object_mut().unwrap().remove("re_sign_in_is");
        },
        "`re_sign_ins` above 0",
    );
    refused(
        &|m| {
            m["browser"]["re_sign_in_from"] = 2.into();
            m["browser"]["sign_ins"] = 1.into();
        },
        "a device signed in when the run starts, from 1 to 1",
    );

    // Accepted; each device in turn is the one that changes the password.
    for (from, other) in [(1, 2), (2, 1)] {
        let mut m = password_change_model();
        m["browser"]["re_sign_in_from"] = from.into();
        let file = write(&files, &format!("from{from}.json"), &m);
        let sc = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let (model, r) = run(&sc, &CheckOptions::default());
        assert!(r.unique_states > 0);
        assert_eq!(status(&r, "eviction_completes"), Verdict::Violated);
        let tr = trace_of(&model, &sc, &r, "eviction_completes");
        let changes: Vec<&str> =
            tr.steps.iter().filter(|s| s.action == "DeviceSignsIn").map(|s| s.actor.as_str()).collect();
        assert_eq!(changes, [format!("tab {from}A")], "{}", refresh_check::trace::render_text(&tr));
        assert!(tr.steps.iter().any(|s| s.actor == format!("tab {other}A") && s.action == "TabSendsRefresh"));
        // No step of the search lets the other device change the password.
        let q = refresh_check::query::Query::compile(
            &serde_json::from_value(json!({ "name": "other", "events": [format!("tab {other}A DeviceSignsIn")] }))
                .unwrap(),
            "queries",
            0,
        )
        .unwrap();
        let o = refresh_check::query::answer(&model, &sc.path, &sc.name, 1, &q, &Default::default());
        assert_eq!(o.answer, refresh_check::query::Answer::Unreachable);
    }
}

/// With `shared_storage_holds: "session"` the expiry trigger reads the stored session: a call
/// that reads the credentials after another call's renewal saved them finds them fresh and
/// does not renew (the model file's query, unreachable), while two calls that read the expired
/// credentials before either renewal is saved still race (issue 540, `no_spurious_logout`).
#[test]
fn the_expiry_trigger_reads_the_stored_session() {
    let file = "models/auth0-android-540-renewal-on-stored-expiry.json";
    let sc = Scenario::load(&root().join(file)).unwrap_or_else(|e| panic!("{e}"));
    let (m, r) = run(&sc, &CheckOptions::default());
    assert!(r.unique_states > 0);
    assert_eq!(r.outcome(), refresh_check::check::Outcome::AsExpected, "{:?}", r.properties);
    let none = crate::util::answered(&sc, "renewal-after-fresh-credentials-saved");
    assert_eq!(none.answer, refresh_check::query::Answer::Unreachable);
    assert!(none.unique_states > 0);
    crate::util::query_trace(&sc, "both-renew-before-either-saves");
    let tr = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(steps(&tr), owned(RENEWAL_RACE), "{}", refresh_check::trace::render_text(&tr));
    // B reads the stored session, which A's renewal has not yet saved.
    assert!(
        tr.steps[7].text.contains("finds its access token expired (the stored session's exp 1, browser clock 2)"),
        "{}",
        tr.steps[7].text
    );
}

/// The shortest `no_spurious_logout` counterexample of the renewal model: both clocks pass
/// the stored expiry, both calls read the expired credentials and renew with token 1, Auth0
/// rotates for A and takes B's for reuse, and B is logged out.
const RENEWAL_RACE: &[(&str, &str)] = &[
    ("clock", "ClockTicks"),
    ("clock", "ClockMayTickAgain"),
    ("clock", "BrowserClockTicks"),
    ("clock", "ClockTicks"),
    ("clock", "BrowserClockTicks"),
    ("tab A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("tab B", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("tab B", "TabReceivesRefreshResponse"),
];
