//! The `session_server` language: the Directus `server` section is a preset that expands into
//! it, the expansion searches identically, and a designer can edit one statement of it.

use refresh_check::check::{CheckOptions, Outcome};
use refresh_check::scenario::{self, Scenario, Verdict};
use refresh_check::trace;

use crate::util::{cli, find_step, root, run, status, trace_of};

/// `(model, states, unique states)` of every shipped Directus model as the Directus step
/// machine (the Rust handlers this language replaced) searched it, from the baseline report
/// `check models/ --format json --no-traces` before the change.
const STEP_MACHINE: &[(&str, u64, u64)] = &[
    ("directus-10.10-session-3tabs", 14539, 6621),
    ("directus-10.10-session-attacker", 851, 517),
    ("directus-10.10-session-clock", 17466, 9842),
    ("directus-10.10-session-crossmode", 262, 169),
    ("directus-10.10-session-signout", 1175, 733),
    ("directus-10.10-session-sqlite", 213, 143),
    ("directus-10.10-session", 257, 167),
    ("directus-10.11.1-json", 461, 274),
    ("directus-10.11.1-session-crossmode", 758, 441),
    ("directus-10.11.1-session-followup", 3481, 1902),
    ("directus-10.11.1-session-replay", 239497, 119465),
    ("directus-10.11.1-session-signout", 4205, 2355),
    ("directus-10.11.1-session-slow", 158095, 69919),
    ("directus-10.11.1-session", 27565, 12229),
    ("directus-pr22433-stable-id-attacker", 439, 250),
    ("directus-pr22433-stable-id", 1105, 560),
    ("directus-pr22433-type-bound", 192, 104),
    ("directus-pr22457-localstorage", 519, 329),
    ("directus-pr22457-weblocks", 53, 40),
];

/// Every shipped Directus model, expanded by `models expand` into a `session_server` section
/// and run by the interpreter, searches as many states (states, unique states) as the Directus
/// step machine did, to the verdicts the model file expects, with the shortest counterexample
/// of every golden trace (recorded with the step machine): same number of steps, same path.
#[test]
fn every_directus_model_expands_to_a_session_server_that_searches_identically() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for &(name, states, unique) in STEP_MACHINE {
        let path = root().join(format!("models/{name}.json"));
        let sc = Scenario::load(&path).unwrap();
        assert!(sc.session_server.is_none() && !sc.is_auth_server(), "{name} is a `server` model");
        let text = scenario::expanded_text(&sc).unwrap();
        assert!(text.contains("\"session_server\"") && !text.contains("\"server\""), "{name}");
        let out = dir.path().join(path.file_name().unwrap());
        std::fs::write(&out, &text).unwrap();
        let expanded = Scenario::load(&out).unwrap_or_else(|e| panic!("{e}"));
        assert!(expanded.session_server.is_some());
        let (_, b) = run(&expanded, &CheckOptions::default());
        assert_eq!((b.states, b.unique_states), (states, unique), "{name}");
        assert_eq!(b.outcome(), Outcome::AsExpected, "{name}: {:?}", b.properties);
        for p in &b.properties {
            let golden = root().join(format!("traces/{name}.{}.json", p.name));
            let Ok(g) = std::fs::read_to_string(&golden) else { continue };
            let g: serde_json::Value = serde_json::from_str(&g).unwrap();
            assert_eq!(p.steps, Some(g["steps"].as_array().unwrap().len()), "{name}.{}", p.name);
            assert_eq!(p.path_encoded.as_deref(), g["path"].as_str(), "{name}.{}", p.name);
            n += 1;
        }
    }
    assert!(n >= 33, "only {n} golden traces compared");
}

/// `models expand` prints a Directus model's `server` section as the statements Directus runs
/// (R1, the G1 claim, W3), and expanding the expansion changes nothing.
#[test]
fn expand_prints_a_directus_model_as_statements() {
    let out = cli(&root(), &["models", "expand", "models/directus-10.11.1-session.json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        r#""run": "select presented""#,
        r#""run": "claim next of presented as fresh expires now + grace_period""#,
        r#""run": "insert fresh expires now + session_cookie_ttl""#,
        r#""run": "purge expired""#,
        r#""run": "select session_cookie""#,
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.json"), &text).unwrap();
    let again = cli(dir.path(), &["models", "expand", "d.json"]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text, "expanding an expansion changes nothing");
}

/// A designer starts from Directus 10.11.1 and edits one rule: G0's extension of a successor
/// whose row is not inserted yet (0 rows affected) answers 500 instead of handing out a
/// cookie that names no row. The dead cookie is gone (`cookie_names_live_session` holds), and
/// the search shows what the fix costs: tab B, whose refresh raced tab A's between G1 and G3,
/// is logged out by the 500 while its session is valid (16 steps).
#[test]
fn editing_one_rule_of_the_directus_preset_trades_the_dead_cookie_for_a_logout() {
    let sc = Scenario::load(&root().join("models/directus-10.11.1-session.json")).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&scenario::expanded_text(&sc).unwrap()).unwrap();
    let steps = file["session_server"]["refresh"]["steps"].as_array_mut().unwrap();
    let g0 = steps.iter_mut().find(|s| s["name"] == "G0 result").unwrap();
    let rule = &mut g0["rules"][0];
    assert_eq!(rule["when"], "affected == 0");
    *rule = serde_json::json!({ "name": "no row extended", "when": "affected == 0", "reply": "server_error" });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let ed = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let (m, r) = run(&ed, &CheckOptions::default());
    assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Holds);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert!(r.unique_states > 1000);
    let t = trace_of(&m, &ed, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 16, "{}", trace::render_text(&t));
    let g1 = find_step(&t, "store", "StoreRunsG1Claim", "for tab A");
    let g0 = find_step(&t, "store", "StoreRunsG0Extend", "WHERE token=2 for tab B");
    let none = find_step(&t, "server", "ServerReceivesResult", "0 row(s) affected for tab B");
    assert!(g1 < g0 && g0 < none, "{}", trace::render_text(&t));
    assert!(!t.steps.iter().any(|s| s.action == "StoreRunsG3Insert"), "A's insert has not run");
    assert!(t.steps.last().unwrap().text.contains("tab B gets 500"), "{}", trace::render_text(&t));
}

/// A misspelt statement is refused with the file, the line, the field and the nearest verb.
#[test]
fn a_misspelt_statement_names_file_line_field_and_the_nearest_verb() {
    let sc = Scenario::load(&root().join("models/directus-10.10-session.json")).unwrap();
    let text = scenario::expanded_text(&sc).unwrap().replace("rename presented", "renme presented");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, &text).unwrap();
    let e = Scenario::load(&path).unwrap_err().to_string();
    let line = 1 + text[..text.find("renme").unwrap()].matches('\n').count();
    assert!(e.contains(&format!("bad.json:{line}: field `session_server.refresh.steps[1].rules[1].run`")), "{e}");
    assert!(e.contains("did you mean `rename`"), "{e}");
    let out = cli(dir.path(), &["models", "validate", "bad.json"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The model-file schema accepts every Directus model's expansion.
#[test]
fn the_schema_accepts_every_directus_expansion() {
    let out = cli(&root(), &["models", "schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    for &(name, ..) in STEP_MACHINE {
        let sc = Scenario::load(&root().join(format!("models/{name}.json"))).unwrap();
        let value: serde_json::Value = serde_json::from_str(&scenario::expanded_text(&sc).unwrap()).unwrap();
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

/// The Directus 10.10 expansion with one rule replaced by `rule` (a JSON object) in the step
/// `R1 result`, loaded: its error, if any.
fn with_r1_rule(rule: &str) -> Result<Scenario, String> {
    let sc = Scenario::load(&root().join("models/directus-10.10-session.json")).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&scenario::expanded_text(&sc).unwrap()).unwrap();
    let steps = file["session_server"]["refresh"]["steps"].as_array_mut().unwrap();
    let r1 = steps.iter_mut().find(|s| s["name"] == "R1 result").unwrap();
    r1["rules"][1] = serde_json::from_str(rule).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    Scenario::load(&path).map_err(|e| e.to_string())
}

/// What a rule may not be: each refused with the field and what was expected.
#[test]
fn a_session_rule_is_refused_with_its_field_and_what_was_expected() {
    let field = "field `session_server.refresh.steps[1].rules[1]";
    let cases = [
        (r#"{ "name": "r", "reply": "ok issued", "run": "purge expired" }"#, "either answers (`reply`) or runs"),
        (r#"{ "name": "r", "run": "purge expired", "next": "token" }"#, "a later step"),
        (r#"{ "name": "r", "run": "purge expired", "next": "write reslt" }"#, "did you mean `write result`"),
        (r#"{ "name": "r", "reply": "ok isued" }"#, "did you mean `issued`"),
        (r#"{ "name": "r", "reply": "pass" }"#, "unknown reply"),
        (r#"{ "name": "r", "when": "row.mode == 1", "reply": "ok" }"#, "cannot compare a mode"),
        (r#"{ "name": "r" }"#, "a `reply`, a `run` or a `next` step"),
    ];
    for (rule, needle) in cases {
        let e = with_r1_rule(rule).unwrap_err();
        assert!(e.contains(field) && e.contains(needle), "{rule}: {e}");
    }
    // The rule replaced was the only one leading to `write result`: answering at once leaves
    // that step unreachable, which is refused; going on to it is accepted.
    let e = with_r1_rule(r#"{ "name": "r", "reply": "ok presented" }"#).unwrap_err();
    assert!(e.contains("field `session_server.refresh.steps[2].name`: a step some rule leads to"), "{e}");
    assert!(
        with_r1_rule(r#"{ "name": "r", "run": "extend presented expires now + 1", "next": "write result" }"#).is_ok()
    );
}

/// A model file with two server sections is refused, naming them.
#[test]
fn a_model_with_server_and_session_server_is_refused() {
    let sc = Scenario::load(&root().join("models/directus-10.10-session.json")).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&scenario::expanded_text(&sc).unwrap()).unwrap();
    file["server"] = serde_json::json!({ "session_refresh": "rotate" });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let e = Scenario::load(&path).unwrap_err().to_string();
    assert!(e.contains("both `server` and `session_server`"), "{e}");
}

/// A refresh handler that deletes a row (here: the presented token, when its select found no
/// live row) is not a sign-out: only the sign-out endpoint's `delete` marks the user signed
/// out, so with no sign-outs the store's sign-out mark is never set and `logout_revokes_all`
/// holds in a search that does run the refresh handler's delete.
#[test]
fn a_refresh_handlers_delete_is_not_a_sign_out() {
    let sc = Scenario::load(&root().join("models/directus-10.10-session.json")).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&scenario::expanded_text(&sc).unwrap()).unwrap();
    let steps = file["session_server"]["refresh"]["steps"].as_array_mut().unwrap();
    let r1 = steps.iter_mut().find(|s| s["name"] == "R1 result").unwrap();
    r1["rules"][0] = serde_json::json!({
        "name": "no session: delete the presented token",
        "when": "row == none",
        "run": "delete presented",
        "next": "refused"
    });
    steps.push(
        serde_json::json!({ "name": "refused", "rules": [{ "name": "refused", "reply": "invalid_credentials" }] }),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let sc = Scenario::load(&path).unwrap();
    fn marked_signed_out(m: &refresh_check::model::RefreshModel, s: &refresh_check::model::State) -> bool {
        refresh_check::model::store_at(s, m.cfg.store).ghost.signed_out
    }
    let (signed_out, exhaustive, _) = crate::util::shortest_to(&sc, marked_signed_out);
    assert!(exhaustive);
    assert!(signed_out.is_none(), "a refresh handler's delete marked the user signed out");
    // The delete does run: the trace of the 401 shows the statement.
    let (m, r) = run(&sc, &CheckOptions::default());
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Holds);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    find_step(&t, "store", "StoreRunsDelete", "DELETE WHERE token=1");
}

/// `cookie_names_live_session` counts the answers of rules marked `orphan`, and
/// `rotated_token_expires` reads the `supersedes` marks: in a `session_server` model without
/// such marks they could not fail, so they do not apply (reported `n/a`, not a silent
/// "holds"). The Directus expansion carries both marks and both apply.
#[test]
fn the_properties_read_from_marks_do_not_apply_without_the_marks() {
    let sc = Scenario::load(&root().join("models/directus-10.11.1-session.json")).unwrap();
    let text = scenario::expanded_text(&sc).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let load = |text: &str| {
        let path = dir.path().join("m.json");
        std::fs::write(&path, text).unwrap();
        Scenario::load(&path).unwrap()
    };
    let applies = |sc: &Scenario, name: &str| refresh_check::properties::by_name(name).unwrap().applies(sc);
    let marked = load(&text);
    assert!(applies(&marked, "cookie_names_live_session") && applies(&marked, "rotated_token_expires"));
    assert!(text.contains(r#""orphan": true"#) && text.contains(r#""supersedes": true"#));
    let unmarked = load(&text.replace(r#""orphan": true"#, r#""orphan": false"#));
    assert!(!applies(&unmarked, "cookie_names_live_session"));
    assert!(applies(&unmarked, "rotated_token_expires"));
    let unmarked = load(&text.replace(r#""supersedes": true"#, r#""supersedes": false"#));
    assert!(!applies(&unmarked, "rotated_token_expires"));
    // The shipped Directus model (a `server` preset) keeps both.
    assert!(applies(&sc, "cookie_names_live_session") && applies(&sc, "rotated_token_expires"));
}

/// The Directus 10.10 expansion edited by `edit` on its `session_server` section, loaded: its
/// error, if any.
fn with_session_server(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Scenario, String> {
    let sc = Scenario::load(&root().join("models/directus-10.10-session.json")).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&scenario::expanded_text(&sc).unwrap()).unwrap();
    edit(&mut file["session_server"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    Scenario::load(&path).map_err(|e| e.to_string())
}

/// Meaningless handlers are refused with the field and what was expected: a statement's
/// result read before any statement ran, a refresh answering `signed_out`, a step no rule
/// leads to.
#[test]
fn meaningless_session_handlers_are_refused() {
    let first = |f: &str| {
        let f = f.to_string();
        move |s: &mut serde_json::Value| s["refresh"]["steps"][0]["rules"][0]["when"] = f.into()
    };
    for name in ["affected", "row"] {
        let when = if name == "row" { "row != none" } else { "affected == 1" };
        let e = with_session_server(first(when)).unwrap_err();
        assert!(e.contains("field `session_server.refresh.steps[0].rules[0].when`"), "{e}");
        assert!(
            e.contains(&format!("`{name}` reads the result of a statement, and no statement runs before this step")),
            "{e}"
        );
    }
    let e = with_session_server(|s| {
        let steps = s["refresh"]["steps"].as_array_mut().unwrap();
        let last = steps.last_mut().unwrap();
        last["rules"][0]["reply"] = "signed_out".into();
    })
    .unwrap_err();
    assert!(e.contains(".reply`: `signed_out` only in the sign_out endpoint's own steps"), "{e}");
    assert!(e.contains("field `session_server.refresh.steps["), "{e}");
    let mut n = 0;
    let e = with_session_server(|s| {
        let steps = s["refresh"]["steps"].as_array_mut().unwrap();
        n = steps.len();
        steps.push(serde_json::json!({ "name": "never run", "rules": [{ "name": "r", "reply": "ok" }] }));
    })
    .unwrap_err();
    assert!(e.contains(&format!("field `session_server.refresh.steps[{n}].name`: a step some rule leads to")), "{e}");
    assert!(e.contains("never run"), "{e}");
    // The expansion as shipped loads.
    assert!(with_session_server(|_| {}).is_ok());
}
