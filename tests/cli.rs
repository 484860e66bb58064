//! The command line: exit codes, reports, trace files, bad input.

use std::fs;

use serde_json::Value;

use crate::util::{cli, root};

fn model(name: &str) -> String {
    root().join("models").join(name).display().to_string()
}

#[test]
fn check_writes_the_counterexample_json_and_mermaid_and_exits_0_when_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["check", &model("directus-10.10-session.json"), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["model", "complete", "states", "unique_states", "max_depth", "seconds", "properties"] {
        assert!(report.get(key).is_some(), "JSON report lacks `{key}`");
    }
    assert_eq!(report["model"], "directus-10.10-session");
    assert_eq!(report["outcome"], "as_expected");
    let p = &report["properties"][0];
    assert_eq!(
        (p["name"].as_str(), p["kind"].as_str(), p["status"].as_str()),
        (Some("no_spurious_logout"), Some("always"), Some("violated"))
    );
    assert_eq!(p["steps"], 10);
    let json = dir.path().join("traces/directus-10.10-session.no_spurious_logout.json");
    let md = dir.path().join("traces/directus-10.10-session.no_spurious_logout.md");
    let trace: Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(trace["schema"], "refresh-check/trace/v1");
    assert_eq!(trace["steps"].as_array().unwrap().len(), 10);
    assert_eq!(trace["path"], p["path"]);
    let md = fs::read_to_string(md).unwrap();
    assert!(md.contains("```mermaid\nsequenceDiagram\n"));
    assert_eq!(md.matches("-->>TabB: ").count(), 1, "one arrow for B's 401:\n{md}");
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(dir.path().join("traces")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn written_traces_validate_and_a_tampered_one_fails_at_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("directus-10.10-session.json");
    assert_eq!(cli(dir.path(), &["check", &m]).status.code(), Some(0));
    let file = dir.path().join("traces/directus-10.10-session.cookie_names_live_session.json");
    let ok = cli(dir.path(), &["trace", "validate", file.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    let mut t: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    t["steps"][4]["text"] = "tab B does something else".into();
    fs::write(&file, serde_json::to_string(&t).unwrap()).unwrap();
    let bad = cli(dir.path(), &["trace", "validate", file.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("step 5 differs"),
        "{}",
        String::from_utf8_lossy(&bad.stdout)
    );
}

#[test]
fn max_depth_one_short_exits_3_and_reports_unknown_not_holds() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        cli(dir.path(), &["check", &model("directus-10.10-session.json"), "--max-depth", "9", "--format", "json"]);
    assert_eq!(out.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["complete"], false);
    assert_eq!(report["properties"][0]["status"], "unknown");
    assert!(!dir.path().join("traces/directus-10.10-session.no_spurious_logout.json").exists());
}

#[test]
fn a_differing_verdict_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(root().join("models/directus-10.10-session.json")).unwrap();
    let flipped = text.replace("\"no_spurious_logout\": \"violated\"", "\"no_spurious_logout\": \"holds\"");
    let file = dir.path().join("flipped.json");
    fs::write(&file, flipped).unwrap();
    let out = cli(dir.path(), &["check", file.to_str().unwrap(), "--no-traces"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no_spurious_logout          always    violated  holds") && text.contains("DIFFERS"),
        "{text}"
    );
}

#[test]
fn stable_id_text_report_shows_holds_counts_and_sanity() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["check", &model("directus-pr22433-stable-id.json"), "--tabs", "3"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("search: exhaustive; 61441 states, 20928 unique"), "{text}");
    assert!(text.contains("refresh_succeeds            sometimes reached"), "{text}");
    assert!(text.contains("concurrent_refreshes        sometimes reached"), "{text}");
    assert!(!dir.path().join("traces").read_dir().unwrap().any(|_| true), "no trace for a model that holds");
}

#[test]
fn unknown_field_exits_2_naming_file_field_and_expectation_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(root().join("models/directus-10.10-session.json")).unwrap();
    let file = dir.path().join("bad.json");
    fs::write(&file, text.replace("\"refreshes_per_tab\"", "\"refreshes_per_tabs\"")).unwrap();
    let out = cli(dir.path(), &["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json:") && err.contains("field `browser.refreshes_per_tabs`"), "{err}");
    assert!(err.contains("unknown field `refreshes_per_tabs`, expected one of"), "{err}");
    assert!(!dir.path().join("traces").exists(), "nothing written for bad input");
}

#[test]
fn malformed_json_and_bad_values_exit_2_with_position_or_range() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    fs::write(&file, "{\n  \"name\": \"x\",\n  \"browser\": {\"tabs\": \"two\"}\n}").unwrap();
    let out = cli(dir.path(), &["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.json:3:") && err.contains("browser.tabs") && err.contains("expected u8"), "{err}");
    let out = cli(dir.path(), &["check", &model("directus-10.10-session.json"), "--tabs", "7"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cli(dir.path(), &["check", "missing.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json: cannot read the model file"));
}
