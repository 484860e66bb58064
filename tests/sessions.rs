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
/// of every golden trace (recorded with the step machine, or since by `check` with its default
/// symmetry reduction): same number of steps, same path.
#[test]
fn every_directus_model_expands_to_a_session_server_that_searches_identically() {
    let dir = crate::common::TempFiles::new();
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
        // The golden traces are what `check` writes, with its default symmetry reduction: the
        // shortest counterexample it finds may be another of the same length.
        let (_, b) = run(&expanded, &CheckOptions { symmetry: true, ..CheckOptions::default() });
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
    let dir = crate::common::TempFiles::new();
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
    let (_dir, path) = crate::common::temp_file("edited.json", serde_json::to_string_pretty(&file).unwrap());
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
    let (dir, path) = crate::common::temp_file("bad.json", &text);
    let e = Scenario::load(&path).unwrap_err().to_string();
    let at = text.find("renme").unwrap() - 1; // the opening quote
    let line = 1 + text[..at].matches('\n').count();
    let column = 1 + text[..at].chars().rev().take_while(|c| *c != '\n').count();
    assert!(
        e.contains(&format!("bad.json:{line}:{column}: field `session_server.refresh.steps[1].rules[1].run`")),
        "{e}"
    );
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
    let (_dir, path) = crate::common::temp_file("m.json", serde_json::to_string_pretty(&file).unwrap());
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
    // that step unreachable, which is refused; going on to it is accepted, if it keeps the
    // token that `write result` answers with (`ok issued`): without a `keep` that answer
    // could only be 500.
    let e = with_r1_rule(r#"{ "name": "r", "reply": "ok presented" }"#).unwrap_err();
    assert!(e.contains("field `session_server.refresh.steps[2].name`: a step some rule leads to"), "{e}");
    let e =
        with_r1_rule(r#"{ "name": "r", "run": "rename presented to fresh expires now + 1", "next": "write result" }"#)
            .unwrap_err();
    assert!(e.contains("field `session_server.refresh.steps[2].rules[1].reply`"), "{e}");
    assert!(e.contains("no rule of this step or of a step before it keeps one"), "{e}");
    assert!(with_r1_rule(
        r#"{ "name": "r", "keep": "presented", "run": "rename presented to fresh expires now + 1", "next": "write result" }"#
    )
    .is_ok());
}

/// A model file with two server sections is refused, naming them.
#[test]
fn a_model_with_server_and_session_server_is_refused() {
    let sc = Scenario::load(&root().join("models/directus-10.10-session.json")).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&scenario::expanded_text(&sc).unwrap()).unwrap();
    file["server"] = serde_json::json!({ "session_refresh": "rotate" });
    let (_dir, path) = crate::common::temp_file("m.json", serde_json::to_string_pretty(&file).unwrap());
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
    let (_dir, path) = crate::common::temp_file("m.json", serde_json::to_string_pretty(&file).unwrap());
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
    let dir = crate::common::TempFiles::new();
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
    let (_dir, path) = crate::common::temp_file("m.json", serde_json::to_string_pretty(&file).unwrap());
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

/// Blitz.js before PR 1209 (`models/blitz-0.23-session-renewal.json`), a session-table server
/// written directly in `session_server`: past a quarter of the session lifetime every POST
/// renews the session with a new token. The shortest logout is the reported race: tab A's
/// request reads the row and renames it (new token), then tab B's request with the old cookie
/// finds no row (the hash mismatch), is answered 401 and is logged out, the shared jar's cookie
/// cleared by that answer. Two renewals that both read the row leave one cookie naming no row.
#[test]
fn blitz_renewal_with_a_new_token_logs_out_the_tab_that_reads_after_it() {
    let (sc, m, r) = crate::util::checked("models/blitz-0.23-session-renewal.json");
    assert!(sc.session_server.is_some() && sc.session_server_spec.is_some(), "written as a session_server");
    assert!(r.exhaustive);
    assert_eq!(r.unique_states, 1_110);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 12, "{}", trace::render_text(&t));
    // The renewal is due only past a quarter of the lifetime: two ticks pass before A decides.
    let second_tick = t.steps.iter().rposition(|s| s.action == "ClockTicks").unwrap();
    assert_eq!(t.steps.iter().filter(|s| s.action == "ClockTicks").count(), 2);
    let a_read = find_step(&t, "store", "StoreRunsR1", "WHERE token=1 AND expires>=0 for tab A");
    let a_renew = find_step(&t, "store", "StoreRunsW1Rename", "SET token=2, expires=6 WHERE token=1 for tab A");
    let b_read = find_step(&t, "store", "StoreRunsR1", "WHERE token=1 AND expires>=0 for tab B");
    assert!(a_read < second_tick && second_tick < a_renew && a_renew < b_read, "{}", trace::render_text(&t));
    assert!(t.steps[b_read + 1].text.contains("no row for tab B"));
    let last = &t.steps.last().unwrap().text;
    assert!(last.contains("tab B gets 401 AuthenticationError") && last.contains("logged out"), "{last}");
    // Both renewals read the row before either writes: the second renames nothing and its
    // answer carries a token no row has.
    assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "cookie_names_live_session");
    assert_eq!(t.steps.len(), 13, "{}", trace::render_text(&t));
    let b_read = find_step(&t, "store", "StoreRunsR1", "for tab B");
    let a_renew = find_step(&t, "store", "StoreRunsW1Rename", "SET token=2");
    let b_renew = find_step(&t, "store", "StoreRunsW1Rename", "SET token=3");
    assert!(b_read < a_renew && a_renew < b_renew);
    assert!(t.steps.last().unwrap().text.contains("0 row(s) affected for tab B"));
}

/// Blitz.js after PR 1209 (`models/blitz-pr1209-extend-only.json`): a renewal keeps the token
/// and only extends the row. The same two tabs (and three) are never logged out, and the
/// extension is really reached: a state where the row of token 1 expires at 6 (renewed at
/// tick 2) with both tabs answered 200.
#[test]
fn blitz_renewal_that_only_extends_the_row_logs_no_tab_out() {
    use refresh_check::model::{self, browser_at, store_at, RefreshModel, State};
    use refresh_check::properties::{Kind, PropertySpec, Scope};
    use refresh_check::search::{self, SearchConfig};
    let (sc, _, r) = crate::util::checked("models/blitz-pr1209-extend-only.json");
    assert!(sc.session_server.is_some());
    assert!(r.exhaustive);
    assert_eq!(r.unique_states, 732);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    let three = sc.clone().with_tabs(3).unwrap();
    let (_, r3) = run(&three, &CheckOptions::default());
    assert!(r3.exhaustive && r3.unique_states > r.unique_states);
    assert_eq!(status(&r3, "no_spurious_logout"), Verdict::Holds);
    fn both_renewed(m: &RefreshModel, s: &State) -> bool {
        let b = browser_at(s, 0);
        store_at(s, m.cfg.store).row(1).is_some_and(|row| row.expires == 6) && b.tabs.iter().all(|t| t.expiry.is_some())
    }
    let name = "row 1 extended, both tabs answered";
    let spec = PropertySpec {
        name,
        kind: Kind::Sometimes,
        claim: name,
        condition: both_renewed,
        scope: Scope::EVERY,
        reads: &[],
    };
    let m = model::build(&sc).property(spec.expectation(), name, both_renewed);
    let out = search::search(&m, &SearchConfig::default());
    assert!(out.discoveries.last().cloned().flatten().is_some(), "the extension is reachable");
}

/// A hand-written `session_server` that answers `ok issued` where no `keep` can have run is
/// refused with the rule's field path (it would answer 500 on every path), and the matrix
/// describes a hand-written server by its refresh steps.
#[test]
fn a_hand_written_session_server_is_checked_and_described() {
    let text = std::fs::read_to_string(root().join("models/blitz-0.23-session-renewal.json")).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rule = &mut file["session_server"]["refresh"]["steps"][1]["rules"][1];
    assert_eq!(rule["keep"], "fresh");
    rule.as_object_mut().unwrap().remove("keep");
    let (dir, _path) = crate::common::temp_file("no-keep.json", serde_json::to_string_pretty(&file).unwrap());
    let out = cli(dir.path(), &["models", "validate", "no-keep.json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no-keep.json:"), "{err}");
    assert!(err.contains("field `session_server.refresh.steps[2].rules[0].reply`"), "{err}");
    assert!(err.contains("no rule of this step or of a step before it keeps one"), "{err}");
    assert!(err.contains("found \"ok issued\""), "{err}");
    let out =
        cli(&root(), &["matrix", "models/blitz-0.23-session-renewal.json", "--format", "markdown", "--no-traces"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| `blitz-0.23-session-renewal` | session_server refresh: getSession [no session cookie; find the row by handle] → session row ["),
        "{table}"
    );
}

/// A statement's token is never the literal `none` (`upsert none …` would write a row keyed
/// by no token), and an expiry is counted up from a tick the request has: a constant or a
/// subtraction is refused, with the field and what was expected. Accepted before these checks:
/// each loaded and ran.
#[test]
fn a_statement_writing_none_or_an_expiry_in_the_past_is_refused() {
    let field = "field `session_server.refresh.steps[1].rules[1].run`";
    let rule = |run: &str| format!(r#"{{ "name": "r", "keep": "presented", "run": "{run}", "next": "write result" }}"#);
    for run in ["upsert none expires now + 1", "rename presented to none expires now + 1", "delete none"] {
        let e = with_r1_rule(&rule(run)).unwrap_err();
        assert!(e.contains(field) && e.contains("a token, not `none`: `none` names no row"), "{run}: {e}");
    }
    for run in [
        "rename presented to fresh expires now - 1",
        "rename presented to fresh expires 0",
        "extend presented expires 3",
    ] {
        let e = with_r1_rule(&rule(run)).unwrap_err();
        assert!(e.contains(field) && e.contains("an expiry counted up from a tick the request has"), "{run}: {e}");
        assert!(e.contains("to end a session, `delete` its row"), "{e}");
    }
    // The accepted forms: counted up from `now` or from the row's own expiry.
    for run in [
        "rename presented to fresh expires now + refresh_token_ttl",
        "rename presented to fresh expires row.expires + 1",
    ] {
        assert!(with_r1_rule(&rule(run)).is_ok(), "{run}");
    }
}

/// `collided` is set only by `rename` and `insert` (a write that would give two rows one
/// token); after an `upsert` it is always false, so a rule reading it there is refused, naming
/// the statement that does run. Likewise `row` after a write, `affected` after a `select`.
#[test]
fn a_result_name_the_statement_before_never_sets_is_refused() {
    // `write result` reads `collided` (its first rule) and `affected`.
    let upsert =
        r#"{ "name": "r", "keep": "presented", "run": "upsert presented expires now + 1", "next": "write result" }"#;
    let e = with_r1_rule(upsert).unwrap_err();
    assert!(e.contains("field `session_server.refresh.steps[2].rules[0].when`"), "{e}");
    assert!(
        e.contains("`collided` is set only by `rename` or `insert`, and the statement whose result this step reads is `upsert`"),
        "{e}"
    );
    // `insert` sets it: accepted.
    let insert = r#"{ "name": "r", "keep": "fresh", "run": "insert fresh expires now + 1", "next": "write result" }"#;
    assert!(with_r1_rule(insert).is_ok());
    // `row` after a write, `affected` after a select.
    let e = with_session_server(|s| {
        let steps = s["refresh"]["steps"].as_array_mut().unwrap();
        steps[2]["rules"][0]["when"] = "collided or row != none".into();
    })
    .unwrap_err();
    assert!(
        e.contains("`row` is set only by `select`, and the statement whose result this step reads is `rename`"),
        "{e}"
    );
    let e = with_session_server(|s| s["refresh"]["steps"][1]["rules"][0]["when"] = "affected == 0".into()).unwrap_err();
    assert!(e.contains("field `session_server.refresh.steps[1].rules[0].when`"), "{e}");
    assert!(e.contains("`affected` is set only by"), "{e}");
}

/// An answer with `fresh` (or with `issued` kept as `fresh`) where no statement on any path
/// writes a row for it hands out a token that names no row: refused unless marked `orphan`.
#[test]
fn an_answer_with_a_fresh_token_no_statement_wrote_is_refused_unless_marked_orphan() {
    let extend = |orphan: bool| {
        format!(
            r#"{{ "name": "r", "keep": "fresh", "run": "extend presented expires now + 1", "next": "write result", "orphan": {orphan} }}"#
        )
    };
    let e = with_session_server(|s| {
        let steps = s["refresh"]["steps"].as_array_mut().unwrap();
        steps[1]["rules"][1] = serde_json::from_str(&extend(false)).unwrap();
        steps[2]["rules"].as_array_mut().unwrap().remove(0); // reads `collided`, never set by `extend`
    })
    .unwrap_err();
    assert!(
        e.contains("field `session_server.refresh.steps[2].rules[") && e.contains("].reply`: `issued`, kept"),
        "{e}"
    );
    assert!(e.contains("`issued`, kept as `fresh`, is the token drawn for this request, and no path"), "{e}");
    assert!(e.contains("`\"orphan\": true` on this rule"), "{e}");
    let marked = with_session_server(|s| {
        let steps = s["refresh"]["steps"].as_array_mut().unwrap();
        steps[1]["rules"][1] = serde_json::from_str(&extend(true)).unwrap();
        steps[2]["rules"].as_array_mut().unwrap().remove(0);
    });
    assert!(marked.is_ok(), "{:?}", marked.err());
    let e = with_session_server(|s| {
        let last = s["refresh"]["steps"][0]["rules"].as_array_mut().unwrap().last_mut().unwrap().clone();
        s["refresh"]["steps"][0]["rules"] = serde_json::json!([{ "name": "answer", "reply": "ok fresh" }, last]);
    })
    .unwrap_err();
    assert!(e.contains("`fresh` is the token drawn for this request"), "{e}");
}

/// Step and rule names are shown in traces: at most 80 characters on one line.
#[test]
fn a_step_or_rule_name_too_long_for_a_trace_line_is_refused() {
    let long = "x".repeat(81);
    let e = with_session_server(|s| s["refresh"]["steps"][1]["name"] = long.clone().into()).unwrap_err();
    assert!(e.contains("field `session_server.refresh.steps[1].name`: a short name (shown in traces): 1 to 80"), "{e}");
    let e = with_session_server(|s| s["refresh"]["steps"][2]["rules"][1]["name"] = long.clone().into()).unwrap_err();
    assert!(e.contains("field `session_server.refresh.steps[2].rules[1].name`"), "{e}");
    let e = with_session_server(|s| s["refresh"]["steps"][2]["rules"][1]["name"] = "a\nb".into()).unwrap_err();
    assert!(e.contains("on one line"), "{e}");
    assert!(with_session_server(|s| s["refresh"]["steps"][2]["rules"][1]["name"] = "x".repeat(80).into()).is_ok());
}

/// The least `sign_out` the refusal of a missing one proposes is accepted, for either
/// language.
#[test]
fn the_proposed_sign_out_of_a_refusal_loads() {
    for (model, section) in [
        ("models/express-session-rolling-resave.json", "session_server"),
        ("models/better-auth-oauth-provider-hqbase-41.json", "protocol"),
    ] {
        let mut file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root().join(model)).unwrap()).unwrap();
        file[section].as_object_mut().unwrap().remove("sign_out");
        let (_dir, path) = crate::common::temp_file("m.json", serde_json::to_string_pretty(&file).unwrap());
        let e = Scenario::load(&path).unwrap_err().to_string();
        assert!(e.contains(&format!("field `{section}.sign_out`: missing: this field is required")), "{e}");
        let least = e.split("the least one to add: ").nth(1).unwrap().trim_end_matches(')');
        let least: serde_json::Value = serde_json::from_str(&format!("{{{least}}}")).unwrap();
        file[section]["sign_out"] = least["sign_out"].clone();
        let (_dir, path) = crate::common::temp_file("m.json", serde_json::to_string_pretty(&file).unwrap());
        let sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{section}: {e}"));
        assert!(sc.browser.sign_outs <= 1);
    }
}
