//! Refusals and traces in plain words: an aborted refresh and its answer are marked where they
//! stand (steps, messages in flight, the Explorer); a model's `browser.client_word` names the
//! clients in its refusals and a query file may write it; the Explorer shows states in the
//! model's words; an out-of-range or quoted number and a list given for a section read as
//! the other refusals do (file, line, field, what was found and expected; exit 2).

use serde_json::json;

use crate::common::TempFiles;
use crate::util::{actions, checked, cli, status, trace_of};
use refresh_check::scenario::Verdict;

const ECM: &str = "models/ecm-865-aborted-refresh-strands-token.json";
const WOODPECKER: &str = "models/woodpecker-5839-forgejo-counter-race-poisons-token.json";
const NEON: &str = "models/neon-mcp-233-per-instance-singleflight.json";

/// ECM before PR 865: the server rotates, then the tab aborts; the answer already on its way
/// (the new cookie) is marked as the answer to an aborted refresh in every later state, and
/// the abort step names it.
#[test]
fn the_answer_to_an_aborted_refresh_is_marked_in_flight_and_at_the_abort() {
    let (sc, m, r) = checked(ECM);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabAbortsRefresh",
            "TabSendsRefresh",
            "ClockTicks",
            "ClockTicks",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    let abort = &t.steps[2];
    assert!(
        abort
            .text
            .contains("the server has already answered it (200, refresh token=2), and that answer will be dropped"),
        "{}",
        abort.text
    );
    let marked = "200, refresh token=2 (answer to an aborted refresh, dropped)";
    // Before the abort the answer is an ordinary one; from the abort on it is marked.
    assert!(t.steps[1].state.in_flight.iter().any(|f| f.text == "200, refresh token=2"));
    for st in &t.steps[2..] {
        assert!(st.state.in_flight.iter().any(|f| f.text == marked), "step {}: {:?}", st.index, st.state.in_flight);
    }
    // The tab's later refresh of a new round is not marked.
    assert!(t.steps[3].state.in_flight.iter().any(|f| f.text == "POST /auth/refresh (mode cookie, refresh cookie=1)"));
}

/// The aborted request itself, served after the abort: the server's step and its arrow say
/// so, and its answer in flight is marked.
#[test]
fn a_request_served_after_its_abort_is_marked_in_the_servers_step() {
    let files = TempFiles::new();
    let f = files.copy_model(ECM, "m.json", |v| {
        v.insert(
            "queries".into(),
            json!([{
                "name": "served-after-abort",
                "events": ["tab A TabAbortsRefresh", "server ServerReceivesRefresh"],
                "expect": "reachable"
            }]),
        );
    });
    let sc = refresh_check::scenario::Scenario::load(&f).unwrap();
    let t = crate::util::query_trace(&sc, "served-after-abort");
    assert_eq!(actions(&t), ["TabSendsRefresh", "TabAbortsRefresh", "ServerReceivesRefresh"]);
    let text = &t.steps[2].text;
    assert!(text.contains("(an aborted refresh: its answer will be dropped)"), "{text}");
    assert!(t.steps[1].text.contains("the server may still serve the request"), "{}", t.steps[1].text);
    assert!(t.steps[2].state.in_flight.iter().any(|f| f.text.ends_with("(answer to an aborted refresh, dropped)")));
    let chart = refresh_check::trace::render_mermaid(&t);
    assert!(chart.contains("(an aborted refresh: its answer will be dropped)"), "{chart}");
}

/// A model whose clients are requests (`client_word`): a query naming a request the model
/// lacks is refused in that word, and a misspelt name is offered the word.
#[test]
fn refusals_of_a_models_queries_name_its_clients_in_its_word() {
    let files = TempFiles::new();
    let f = files.copy_model(WOODPECKER, "m.json", |v| v["queries"][0]["end"] = json!("request[C].status == idle"));
    let out = cli(files.path(), &["check", f.to_str().unwrap(), "--no-traces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("field `queries[0].end`"), "{err}");
    assert!(err.contains("request `C`, but device 1 has 2 requests (A to B)"), "{err}");
    assert!(!err.contains("tab `C`") && !err.contains("2 tabs"), "{err}");
    // Refused while the model file is read: a name that is no tab name, in the word too.
    let g = files.copy_model(WOODPECKER, "g.json", |v| v["queries"][0]["end"] = json!("request[G].status == idle"));
    let e = refresh_check::scenario::Scenario::load(&g).unwrap_err().to_string();
    assert!(e.contains("field `queries[0].end`") && e.contains("a request name: a letter A to F"), "{e}");
    assert!(e.contains("found \"request[G].status == idle\""), "{e}");
}

/// A query file, read before any model, may write a model's client word: `request[A]` is
/// answered on the Woodpecker model (whose clients are requests), and refused on a model whose
/// clients are tabs, naming the word the model expects.
#[test]
fn a_query_file_may_write_the_models_client_word() {
    let files = TempFiles::new();
    let q = files.write(
        "q.json",
        r#"{"queries": [{"name": "stale", "events": ["request A TabReceivesRefreshResponse status 200"],
                         "end": "at_rest and request[A].status == idle", "expect": "reachable"}]}"#,
    );
    let root = crate::util::root();
    let out = cli(&root, &["check", WOODPECKER, "--query", q.to_str().unwrap(), "--no-traces", "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.to_string().contains("\"stale\""), "{report}");
    assert!(report.to_string().contains("\"reachable\""), "{report}");
    let out =
        cli(&root, &["check", "models/directus-10.10-session.json", "--query", q.to_str().unwrap(), "--no-traces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("q.json:2:"), "{err}");
    assert!(err.contains("the clients are called `request` here, expected `tab`"), "{err}");
    assert!(!err.contains("did you mean `access`"), "{err}");
}

/// A query file may write the plural of a model's client word for the counts over every
/// client (`requests.logged_out`), as a model's own queries may, alone or beside the singular;
/// on a model whose clients are tabs it is refused naming the word (it was refused as an
/// unknown name, `requests`, whatever the model).
#[test]
fn a_query_file_may_write_the_plural_of_the_models_client_word() {
    let files = TempFiles::new();
    let q = files.write(
        "q.json",
        r#"{"queries": [{"name": "none-out", "always": "requests.logged_out == 0", "expect": "holds"},
                        {"name": "both", "events": ["request A TabSendsRefresh"],
                         "end": "request[A].status != idle and requests.logged_out == 0", "expect": "reachable"}]}"#,
    );
    let root = crate::util::root();
    let out = cli(&root, &["check", WOODPECKER, "--query", q.to_str().unwrap(), "--no-traces"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{err}");
    // The Woodpecker race's loser keeps going: no request is ever logged out, over the whole
    // search (78 states); the other query's example is one step.
    assert!(text.contains("none-out: holds as expected (78 states)"), "{text}");
    assert!(text.contains("both: reachable in 1 steps as expected"), "{text}");
    let out =
        cli(&root, &["check", "models/directus-10.10-session.json", "--query", q.to_str().unwrap(), "--no-traces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("q.json:1:"), "{err}");
    assert!(err.contains("field `queries[0]`"), "{err}");
    assert!(err.contains("the clients are called `request` here, expected `tab`"), "{err}");
}

/// The Explorer's state view shows the state as a trace does, in the model's client word, then
/// the raw state with the word; its steps are the trace's sentences.
#[test]
fn the_explorer_shows_states_and_steps_in_the_models_words() {
    let (_, m, _) = checked(WOODPECKER);
    let views = refresh_check::explorer::states(&m, "/0").unwrap();
    let first = views.iter().find_map(|v| v.action.as_deref()).unwrap();
    assert!(first.starts_with("request A "), "{first}");
    let state = views[0].state.as_deref().unwrap();
    assert!(state.contains("\"in_flight\"") && state.contains("raw state:"), "{state}");
    assert!(state.contains("requests: [") && !state.contains("tabs: ["), "{state}");
    // The default word leaves the raw state as Rust writes it.
    let (_, d, _) = checked(ECM);
    let raw = refresh_check::explorer::states(&d, "/0").unwrap()[0].state.clone().unwrap();
    assert!(raw.contains("tabs: ["), "{raw}");
    // An aborted refresh's answer in flight is marked in the Explorer too (the trace's path).
    let (sc, em, er) = checked(ECM);
    let t = trace_of(&em, &sc, &er, "no_spurious_logout");
    let path: Vec<&str> = t.path.split('/').collect();
    let views = refresh_check::explorer::states(&em, &format!("/{}", path[..4].join("/"))).unwrap();
    assert!(views
        .iter()
        .any(|v| v.state.as_deref().is_some_and(|s| s.contains("(answer to an aborted refresh, dropped)"))));
}

/// A number out of range, negative, or quoted, reads `found …, expected an integer from 1 to
/// 4`, at the field's line, exit 2.
#[test]
fn numbers_out_of_range_or_quoted_are_worded_like_every_refusal() {
    let files = TempFiles::new();
    for (value, says) in [
        (json!(-1), "found -1, expected an integer from 1 to 4"),
        (json!(0), "found 0, expected an integer from 1 to 4"),
        (json!(9), "found 9, expected an integer from 1 to 4"),
        (json!("0"), "found the string \"0\", expected an integer from 1 to 4"),
    ] {
        let f = files.copy_model(NEON, "m.json", |v| v["protocol"]["instances"] = value.clone());
        let out = cli(files.path(), &["models", "validate", f.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("m.json:") && err.contains("field `protocol.instances`: ") && err.contains(says),
            "{value}: {err}"
        );
        assert!(!err.contains("invalid value") && !err.contains("found \"0\""), "{err}");
    }
    for (value, says) in [
        (json!(-3), "found -3, expected an integer from 0 to 2"),
        (json!("1"), "found the string \"1\", expected an integer from 0 to 2"),
    ] {
        let f = files.copy_model(NEON, "m.json", |v| {
            v["protocol"]["instances"] = json!(1);
            v["protocol"]["restarts"] = value.clone();
        });
        let out = cli(files.path(), &["models", "validate", f.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("field `protocol.restarts`: ") && err.contains(says), "{err}");
    }
}

/// A list given for `expect` or `browser` is refused in words that do not suggest a list
/// would do.
#[test]
fn a_list_for_a_section_is_refused_without_suggesting_a_list() {
    let files = TempFiles::new();
    for (section, value) in [("expect", json!(["violated"])), ("browser", json!([1, 1]))] {
        let f = files.copy_model(ECM, "m.json", |v| v[section] = value.clone());
        let out = cli(files.path(), &["models", "validate", f.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("field `{section}`: found a list, expected an object")), "{err}");
        assert!(err.contains("this field takes no list"), "{err}");
        assert!(!err.contains("would be read"), "{err}");
    }
}

/// A Web Lock's option without Web Locks names the option's own line (the coordination may be
/// absent, with no line to point at) and says what the coordination is.
#[test]
fn a_lock_option_without_web_locks_names_its_own_line() {
    let src = std::fs::read_to_string(crate::util::root().join("models/c18-weblock-steal.json")).unwrap();
    let written = "\"coordination\": \"web-locks\",\n    \"lock_steal\": true";
    assert!(src.contains(written));
    let cases = vec![
        (
            src.replacen(written, "\"lock_steal\": true", 1),
            "\"lock_steal\"",
            "browser.lock_steal",
            "false unless `browser.coordination` is \"web-locks\" (a Web Lock's option; the model's coordination is \"none\", the default when the field is absent)",
        ),
        (
            src.replacen(written, "\"coordination\": \"local-storage\",\n    \"lock_steal\": true", 1),
            "\"lock_steal\"",
            "browser.lock_steal",
            "the model's coordination is \"local-storage\")",
        ),
    ];
    crate::util::refused_at(&src, &cases);
}
