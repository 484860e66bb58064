//! What a model file's own durations say about its horizon, and fields a model would ignore:
//! `check` names the `time.max_ticks` a reuse window or an access token's lifetime needs
//! (docs/protocol-language.md, "What a tick means": lifetime + window + 2), refuses Directus's
//! `time` fields in a model that never reads them, and its refusals say what to write instead.

use std::path::Path;

use refresh_check::check::CheckOptions;
use refresh_check::scenario::{Scenario, Verdict};
use serde_json::json;

use crate::common::TempFiles;
use crate::util::{cli, run, status, trace_of};

/// The SPA of the docs' example: the refresh token in shared `localStorage`, a refresh only on
/// a call's 401 (then the call again), rotation on every use, and for `window` ticks after it
/// the retired token answered with the child already issued (`reuse_interval` = the window).
fn spa(ttl: u8, window: u8, max_ticks: u8) -> serde_json::Value {
    json!({
        "name": "spa-grace-on-401",
        "description": "An SPA refreshes on a call's 401 and calls again; the server rotates on every use and answers the retired token with its child for a window.",
        "sources": ["docs/protocol-language.md, What a retired token gets inside the interval"],
        "protocol": {
            "reuse_interval": window,
            "wording": { "refresh": "POST /oauth/token", "request": "GET /api/data" },
            "refresh": { "rules": [
                { "name": "rotate", "when": "presented.status == active",
                  "do": ["mint child", "supersede presented"], "reply": "ok minted" },
                { "name": "grace", "when": format!("presented.status == superseded and now <= presented.rotated_at + {window}"),
                  "do": ["supersede presented"], "reply": "ok presented.child" },
                { "name": "refused", "reply": "invalid_grant" } ] },
            "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] }
        },
        "browser": { "tabs": 2, "refreshes_per_tab": 0, "calls_per_tab": 1, "mode": "json",
                     "json_storage": "shared", "retry_limit": 1,
                     "on_call_refused": ["refresh-and-retry", "log-out"] },
        "time": { "max_ticks": max_ticks, "access_token_ttl": ttl }
    })
}

fn parse(v: &serde_json::Value) -> Scenario {
    Scenario::parse(Path::new("m.json"), &v.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// The docs' example (lifetime 2, window 1): the earliest rotation is at tick 3 (the sign-in's
/// token is first refused then), the window answers token 1 until tick 4, and a refresh with it
/// is first refused at tick 5. With `max_ticks` 4 (the formula's old + 1) every property holds
/// over a real search and `check` names the 5 needed; with 5 the two-tab race is found, step
/// by step, and nothing is said.
#[test]
fn a_clock_that_stops_before_a_window_closes_is_named_with_the_ticks_it_needs() {
    let short = parse(&spa(2, 1, 4));
    let warnings = short.horizon_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("`time.max_ticks` is 4")
            && warnings[0].contains("the earliest rotation is at tick 3")
            && warnings[0].contains("the reuse window (1 tick(s))")
            && warnings[0].contains("set `time.max_ticks` to at least 5"),
        "{}",
        warnings[0]
    );
    let (_, results) = run(&short, &CheckOptions::default());
    assert_eq!(status(&results, "no_spurious_logout"), Verdict::Holds);
    assert!(results.unique_states > 100, "{}", results.unique_states);

    let enough = parse(&spa(2, 1, 5));
    assert!(enough.horizon_warnings().is_empty(), "{:?}", enough.horizon_warnings());
    let (model, results) = run(&enough, &CheckOptions::default());
    assert_eq!(status(&results, "no_spurious_logout"), Verdict::Violated);
    let texts: Vec<String> =
        trace_of(&model, &enough, &results, "no_spurious_logout").steps.iter().map(|s| s.text.clone()).collect();
    let expected = [
        "tab A sends GET /api/data with access token=1",
        "tab B sends GET /api/data with access token=1",
        "time passes: now = 1",
        "time passes: now = 2",
        "time passes: now = 3",
        "server receives tab A's GET /api/data (access token=1): rule `expired or revoked` → invalid_token",
        "server receives tab B's GET /api/data (access token=1): rule `expired or revoked` → invalid_token",
        "tab A gets 401 invalid_token",
        "server receives tab A's POST /oauth/token (mode json, refresh_token=1): rule `rotate` → ok minted",
        "tab B gets 401 invalid_token",
        "time passes: now = 4",
        "time passes: now = 5",
        "rule `refused` → invalid_grant",
        "logged out",
    ];
    // The race: both calls refused at tick 3, tab A's refresh rotates, tab B's refresh with
    // token 1 arrives at tick 5, past the window, and is refused.
    assert_eq!(texts.len(), 14, "{texts:#?}");
    assert!(texts[12].contains("tab B's POST") && texts[12].contains("refresh_token=1"), "{texts:#?}");
    let mut at = 0;
    for e in expected {
        at += texts[at..].iter().position(|t| t.contains(e)).unwrap_or_else(|| panic!("{e}: {texts:#?}")) + 1;
    }
}

/// An access token that outlives the clock: calls with a lifetime of 3 and `max_ticks` 3 never
/// see one refused; `check` says so on stderr, naming the 4 needed; `--quiet` says nothing.
#[test]
fn a_clock_that_stops_before_any_access_token_expires_is_named() {
    let mut v = spa(3, 0, 3);
    v["protocol"].as_object_mut().unwrap().remove("reuse_interval");
    let files = TempFiles::new();
    files.write("m.json", v.to_string());
    let out = cli(files.path(), &["check", "m.json", "--no-traces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("the clock stops before")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].starts_with("warning: m.json: the clock stops before any access token expires")
            && warnings[0].contains("`time.max_ticks` is 3")
            && warnings[0].contains("set `time.max_ticks` to at least 4"),
        "{err}"
    );
    let out = cli(files.path(), &["check", "m.json", "--no-traces", "--quiet"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning: "));
}

/// Directus's `time` fields in a model that would ignore them are refused at their line (exit
/// 2), saying which models read them and what to write instead; where they are read (a Directus
/// `server` with the freshness check) they load as before.
#[test]
fn directus_time_fields_are_refused_where_nothing_reads_them() {
    let src = serde_json::to_string_pretty(&spa(1, 1, 4)).unwrap();
    let with = |field: &str| src.replace("\"max_ticks\": 4", &format!("\"max_ticks\": 4,\n    \"{field}\": 2"));
    crate::util::refused_at(
        &src,
        &[
            (
                with("refresh_margin"),
                "\"refresh_margin\"",
                "time.refresh_margin",
                "no such field in a `protocol` model without `browser.freshness_check`",
            ),
            (
                with("session_refresh_grace_period"),
                "\"session_refresh_grace_period\"",
                "time.session_refresh_grace_period",
                "a grace window is a `refresh` rule",
            ),
        ],
    );
    let dir = crate::util::root();
    let files = TempFiles::new();
    for (field, value) in [("refresh_margin", 2), ("session_refresh_grace_period", 2)] {
        let model = files.copy_model("models/directus-10.11.1-session.json", "d.json", |m| {
            m["time"][field] = json!(value);
        });
        let out = cli(&dir, &["models", "validate", model.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{field}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Refusals that say what to write first: a `grace_period` field points to the rule and
/// `reuse_interval`; `on_timeout` does not list `refresh-and-retry` (refused there); an `ok`
/// reply naming no token leads with the forms it takes; requesters with retries say how to
/// write code paths that each retry.
#[test]
fn refusals_say_what_to_write_instead() {
    let src = serde_json::to_string_pretty(&spa(1, 1, 4)).unwrap();
    let files = TempFiles::new();
    let err_of = |text: String| {
        files.write("m.json", text);
        let out = cli(files.path(), &["models", "validate", "m.json"]);
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = err_of(src.replace("\"reuse_interval\": 1", "\"grace_period\": 1"));
    assert!(
        err.contains("unknown field `grace_period`")
            && err.contains("a grace window is a `refresh` rule whose guard is the window")
            && err.contains("`protocol.reuse_interval` N"),
        "{err}"
    );
    let err =
        err_of(src.replace(
            "\"retry_limit\": 1",
            "\"retry_limit\": 1, \"retries_per_tab\": 1, \"on_timeout\": [\"retry-once\"]",
        ));
    assert!(
        err.contains("field `browser.on_timeout[0]`: unknown variant `retry-once`") && err.contains("`retry`"),
        "{err}"
    );
    assert!(!err.contains("refresh-and-retry"), "{err}");
    let err = err_of(src.replace("\"reply\": \"ok presented.child\"", "\"reply\": \"ok child\""));
    let line = err.lines().next().unwrap();
    assert!(line.contains("a 2xx answers `ok minted`"), "{err}");
    assert!(line.find("a 2xx answers").unwrap() < line.find("unknown name `child`").unwrap(), "{err}");
    let err = err_of(
        src.replace("\"tabs\": 2", "\"tabs\": 1, \"requesters_per_tab\": 2")
            .replace("\"retry_limit\": 1", "\"retry_limit\": 1, \"retries_per_tab\": 1"),
    );
    assert!(
        err.contains("several requesters of one tab share no retry budget; write code paths that each retry as `tabs`"),
        "{err}"
    );
}

/// The earliest rotation is counted from what can start a refresh: a call's refresh margin N
/// starts one at tick `access_token_ttl` + 1 - N; nothing that refreshes means no warning; a
/// clock that never runs is named (its window never closes); a tick count beyond the largest
/// `max_ticks` is said to be.
#[test]
fn the_earliest_rotation_is_what_the_model_can_start() {
    // Lifetime 1, margin 0, no retry: a refresh before a call at tick 2 at the earliest, the
    // window of 1 answers until tick 3, first refused at tick 4.
    let mut m = spa(1, 1, 3);
    m["browser"]["call_refresh_margin"] = json!(0);
    m["browser"]["on_call_refused"] = json!(["log-out"]);
    m["browser"].as_object_mut().unwrap().remove("retry_limit");
    let w = parse(&m).horizon_warnings();
    assert!(
        w.len() == 1
            && w[0].contains("the earliest rotation is at tick 2")
            && w[0].contains("call_refresh_margin` 0")
            && w[0].contains("set `time.max_ticks` to at least 4"),
        "{w:?}"
    );
    m["time"]["max_ticks"] = json!(4);
    assert!(parse(&m).horizon_warnings().is_empty(), "{:?}", parse(&m).horizon_warnings());

    // No margin and no refresh after a refused call: nothing rotates, nothing to warn of.
    let mut none = spa(1, 1, 1);
    none["browser"]["on_call_refused"] = json!(["log-out"]);
    none["browser"].as_object_mut().unwrap().remove("retry_limit");
    assert!(
        parse(&none).horizon_warnings().iter().all(|w| !w.contains("reuse window")),
        "{:?}",
        parse(&none).horizon_warnings()
    );

    // A clock that never runs: the window never closes.
    let w = parse(&spa(2, 1, 0)).horizon_warnings();
    assert!(
        w.len() == 1 && w[0].contains("the clock never runs") && w[0].contains("set `time.max_ticks` to at least 5"),
        "{w:?}"
    );

    // A lifetime beyond the clock's largest horizon is said to be.
    let w = parse(&spa(16, 1, 16)).horizon_warnings();
    assert!(
        w.iter().any(|w| w.contains("at least 17") && w.contains("beyond the largest `time.max_ticks`, 16")),
        "{w:?}"
    );
}
