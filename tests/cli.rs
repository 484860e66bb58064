//! The command line: exit codes, reports, trace files, bad input.

use std::fs;

use serde_json::Value;

use crate::util::{cli, root};

fn model(name: &str) -> String {
    root().join("models").join(name).display().to_string()
}

#[test]
fn check_writes_the_counterexample_json_and_mermaid_and_exits_0_when_as_expected() {
    let dir = crate::common::TempFiles::new();
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
    assert_eq!(names.len(), 6, "{names:?}"); // three counterexamples, each .json and .md
}

#[test]
fn written_traces_validate_and_a_tampered_one_fails_at_its_step() {
    let dir = crate::common::TempFiles::new();
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
    let dir = crate::common::TempFiles::new();
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
    let dir = crate::common::TempFiles::new();
    let text = fs::read_to_string(root().join("models/directus-10.10-session.json")).unwrap();
    let flipped = text.replace("\"no_spurious_logout\": \"violated\"", "\"no_spurious_logout\": \"holds\"");
    let file = dir.path().join("flipped.json");
    fs::write(&file, flipped).unwrap();
    let out = cli(dir.path(), &["check", file.to_str().unwrap(), "--no-traces"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with("  no_spurious_logout ")).expect("a row for no_spurious_logout");
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>()[..4],
        ["no_spurious_logout", "always", "violated", "holds"],
        "{text}"
    );
    assert!(row.ends_with("DIFFERS"), "{text}");
    // Every row's kind starts where the header's does, the longest name included (review 12).
    let header = text.lines().find(|l| l.starts_with("  property ")).unwrap();
    let col = header.find("kind").unwrap();
    let long = text.lines().find(|l| l.starts_with("  sign_out_no_dead_token_handed_out ")).expect("the longest name");
    assert_eq!(long.find("always"), Some(col), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.contains(" always ") || l.contains(" sometimes "))
            .all(|l| l.as_bytes()[col - 1] == b' '),
        "{text}"
    );
}

#[test]
fn stable_id_text_report_shows_holds_counts_and_sanity() {
    let dir = crate::common::TempFiles::new();
    let out = cli(dir.path(), &["check", &model("directus-pr22433-stable-id.json"), "--tabs", "3"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // Symmetry-reduced by default (3 interchangeable tabs); the unreduced search counts 61441
    // states, 20928 unique.
    assert!(
        text.contains("search: exhaustive; 10741 states, 3660 unique (symmetry-reduced, dead values reset)"),
        "{text}"
    );
    let full = cli(
        dir.path(),
        &["check", &model("directus-pr22433-stable-id.json"), "--tabs", "3", "--no-symmetry", "--no-dead-values"],
    );
    assert!(String::from_utf8_lossy(&full.stdout).contains("search: exhaustive; 61441 states, 20928 unique,"));
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("refresh_succeeds sometimes reached"), "{text}");
    assert!(words.contains("concurrent_refreshes sometimes reached"), "{text}");
    assert!(!dir.path().join("traces").read_dir().unwrap().any(|_| true), "no trace for a model that holds");
}

#[test]
fn unknown_field_exits_2_naming_file_field_and_expectation_and_writes_nothing() {
    let dir = crate::common::TempFiles::new();
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

/// A folder given to `check` may hold traces beside its models (`check .` where `traces/`
/// was written): a trace file is named as such, with what to give instead, not only refused
/// at its first unknown field.
#[test]
fn a_trace_file_given_as_a_model_is_named_as_a_trace() {
    let dir = crate::common::TempFiles::new();
    let trace = "traces/directus-10.10-session.no_spurious_logout.json";
    fs::copy(root().join(trace), dir.path().join("t.json")).unwrap();
    let out = cli(dir.path(), &["check", "t.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("t.json:2:") && err.contains("field `schema`: unknown field `schema`"), "{err}");
    assert!(
        err.contains("this is a trace file (`schema`: \"refresh-check/trace/v1\"), not a model file: give `check` the model files or their own folder"),
        "{err}"
    );
}

#[test]
fn malformed_json_and_bad_values_exit_2_with_position_or_range() {
    let (dir, file) =
        crate::common::temp_file("broken.json", "{\n  \"name\": \"x\",\n  \"browser\": {\"tabs\": \"two\"}\n}");
    let out = cli(dir.path(), &["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.json:3:")
            && err.contains("browser.tabs")
            && err.contains("expected an integer from 1 to 6")
            && !err.contains("u8"),
        "{err}"
    );
    let out = cli(dir.path(), &["check", &model("directus-10.10-session.json"), "--tabs", "7"]);
    assert_eq!(out.status.code(), Some(2));
    // A model's own query naming a tab that `--tabs` removed names the run's --tabs.
    let out = cli(dir.path(), &["check", &model("directus-10.10-session-d-s2.json"), "--tabs", "1", "--no-traces"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`tab B`: the model has 1 tab per device") && err.contains("(with the run's --tabs 1:"),
        "{err}"
    );
    // A `--tabs` that the file's other fields do not fit is named as the cause.
    let out = cli(dir.path(), &["check", &model("c05-ssr-cannot-write-cookies.json"), "--tabs", "1", "--no-traces"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("field `browser.ssr_paths`: found 1")
            && err.contains("(with the run's --tabs 1; the file has `browser.tabs` 2)"),
        "{err}"
    );
    let out = cli(dir.path(), &["check", "missing.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json: cannot read the model file"));
}

/// Review 11: errors speak the file's words and point into it: reactions as written (not
/// Rust's names), the section given too many named, a query object by its line, a syntax
/// error by the document, integer ranges instead of Rust's types.
#[test]
fn bad_input_errors_name_file_line_field_and_the_values_as_written() {
    let dir = crate::common::TempFiles::new();
    let base: Value =
        serde_json::from_str(&fs::read_to_string(root().join("models/directus-10.10-session.json")).unwrap()).unwrap();
    let write = |name: &str, v: &Value| {
        let f = dir.path().join(name);
        fs::write(&f, serde_json::to_string_pretty(v).unwrap()).unwrap();
        f.display().to_string()
    };
    let run = |args: &[&str]| {
        let out = cli(dir.path(), args);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    let mut v = base.clone();
    v["browser"]["on_refused"] = serde_json::json!(["log-out", "keep-going"]);
    let f = write("reactions.json", &v);
    let (code, err) = run(&["check", &f, "--no-traces"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("reactions.json:21:5: field `browser.on_refused`: found [\"log-out\",\"keep-going\"], expected at most 4 reactions"), "{err}");
    assert!(!err.contains("LogOut"), "{err}");

    let mut v: Value = serde_json::from_str(
        &fs::read_to_string(root().join("models/better-auth-oauth-provider-hqbase-41.json")).unwrap(),
    )
    .unwrap();
    let other: Value =
        serde_json::from_str(&fs::read_to_string(root().join("models/auth0-leeway.json")).unwrap()).unwrap();
    v["auth_server"] = other["auth_server"].clone();
    let f = write("two-servers.json", &v);
    let (code, err) = run(&["check", &f, "--no-traces"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "two-servers.json: field `protocol`: found both `auth_server` and `protocol`, expected exactly one of"
        ),
        "{err}"
    );

    let q = dir.path().join("q.json");
    fs::write(&q, "{\"queries\": [\n  {\"name\": \"x\"}\n]}\n").unwrap();
    let (code, err) =
        run(&["check", &model("directus-10.10-session.json"), "--query", q.to_str().unwrap(), "--no-traces"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("q.json:2:4: field `queries[0]`: a query with `events`"), "{err}");

    fs::write(&q, "{\"queries\": [{\"name\": \"x\", \"end\": \"tokens.bogus >= 1\"}]}").unwrap();
    let (code, err) =
        run(&["check", &model("directus-10.10-session.json"), "--query", q.to_str().unwrap(), "--no-traces"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`tokens.active`, `tokens.superseded` or `tokens.revoked`, found `tokens.bogus`"), "{err}");
    assert!(!err.contains("Some("), "{err}");

    fs::write(&q, "{\"queries\": [{\"name\": \"x\", \"events\": [\"*\"], \"end\": \"tabz.logged_out >= 1\"}]}")
        .unwrap();
    let (code, err) =
        run(&["check", &model("directus-10.10-session.json"), "--query", q.to_str().unwrap(), "--no-traces"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown name `tabz.logged_out` (did you mean `tabs.logged_out`?)"), "{err}");
    fs::write(&q, "{\"queries\": [{\"name\": \"x\", \"events\": [\"*\"], \"end\": \"bogusname >= 1\"}]}").unwrap();
    let (code, err) =
        run(&["check", &model("directus-10.10-session.json"), "--query", q.to_str().unwrap(), "--no-traces"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown name `bogusname` (the nearest name is `"), "{err}");

    let bad = dir.path().join("bad.json");
    fs::write(&bad, "{\n").unwrap();
    let (code, err) = run(&["trace", "validate", bad.to_str().unwrap()]);
    let all = format!(
        "{err}{}",
        String::from_utf8_lossy(&cli(dir.path(), &["trace", "validate", bad.to_str().unwrap()]).stdout)
    );
    assert_eq!(code, Some(2), "{all}");
    assert!(all.contains("bad.json:2:1: field `.`: EOF while parsing an object"), "{all}");
    assert!(!all.contains("`?`"), "{all}");
}

/// Review 12: `--threads N` with the depth-first search says what the threads do.
#[test]
fn threads_with_depth_first_search_are_explained() {
    let dir = crate::common::TempFiles::new();
    let out = cli(
        dir.path(),
        &["check", &model("directus-10.10-session.json"), "--no-traces", "-q", "--threads", "2", "--strategy", "dfs"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: --threads 2: the depth-first search runs on one thread; the threads serve only the breadth-first shortening of the counterexamples it finds"), "{err}");
    // The default (every core) was not asked for: no warning.
    let out =
        cli(dir.path(), &["check", &model("directus-10.10-session.json"), "--no-traces", "-q", "--strategy", "dfs"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("warning: --threads"), "{err}");
}

/// `check --query /dev/stdin` (and `-`) reads the query file from a pipe, bounded in size; a
/// name error in it is still located by line and field.
#[test]
fn a_query_file_is_read_from_standard_input() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = crate::common::TempFiles::new();
    let query = "{\"queries\": [{\"name\": \"signed-in\", \"events\": [\"*\"], \"end\": \"tabs.idle >= 1\", \"expect\": \"reachable\"}]}";
    for arg in ["/dev/stdin", "-"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_refresh-check"))
            .current_dir(dir.path())
            .args(["check", &model("directus-10.10-session.json"), "--query", arg, "--no-traces"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(query.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{arg}: {text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("signed-in") && text.contains("reachable"), "{arg}: {text}");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_refresh-check"))
        .current_dir(dir.path())
        .args(["check", &model("directus-10.10-session.json"), "--query", "/dev/stdin", "--no-traces"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"queries\": [\n{\"name\": \"x\", \"events\": [\"*\"], \"end\": \"tabz.logged_out >= 1\"}]}")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/dev/stdin:2:")
            && err.contains("unknown name `tabz.logged_out` (did you mean `tabs.logged_out`?)"),
        "{err}"
    );
}

/// The report's header says devices and tabs: a model of two devices with two tabs each is
/// not "2 tabs"; the JSON report carries `devices` when there are several.
#[test]
fn the_report_header_says_devices_and_tabs() {
    let dir = crate::common::TempFiles::new();
    let file = model("better-auth-oauth-provider-hqbase-41.json");
    let out = cli(dir.path(), &["check", &file, "--no-traces"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().ends_with(", 2 devices of 2 tabs each)"), "{text}");
    let out = cli(dir.path(), &["check", &file, "--no-traces", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["devices"].as_u64(), report["tabs"].as_u64()), (Some(2), Some(2)), "{report}");
    let out = cli(dir.path(), &["check", &model("directus-10.10-session.json"), "--no-traces", "--tabs", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().ends_with(", 1 tab)"), "{text}");
}

/// `check` warns once per model of calls whose access token can expire in flight (a clock past
/// the token's lifetime, a refused call that logs out, no refresh margin covering the flight),
/// naming the fields; a model with the margin does not warn, and `--quiet` says nothing.
#[test]
fn check_warns_of_calls_whose_token_can_expire_in_flight() {
    let dir = crate::util::root();
    let run = |args: &[&str]| {
        let out = crate::util::cli(&dir, args);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["check", "models/auth0-spa-js-refresh-before-call-no-margin.json", "--no-traces"]);
    // Its horizon is warned of too (a reuse window the clock stops before): `tests/horizons.rs`.
    let warnings: Vec<&str> =
        err.lines().filter(|l| l.starts_with("warning: ") && l.contains("calls with the clock running")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("auth0-spa-js-refresh-before-call-no-margin.json")
            && warnings[0].contains("`browser.call_refresh_margin` N")
            && warnings[0].contains("`time.max_in_flight_ticks` K")
            && warnings[0].contains("Here N is 0 and K is 0"),
        "{err}"
    );
    let err = run(&["check", "models/auth0-spa-js-refresh-before-call.json", "--no-traces"]);
    assert!(!err.contains("calls with the clock running"), "{err}");
    let err = run(&["check", "models/auth0-spa-js-refresh-before-call-no-margin.json", "--no-traces", "--quiet"]);
    assert!(!err.contains("warning: "), "{err}");
}
