//! Query answers in the machine reports (issue 15): `check --format json|junit|markdown` and
//! `--report FILE` carry every answer of the model file's `queries` and of `--query FILE`
//! (name, kind, expected, answer, steps, trace file), not only the text output.

use crate::util::{cli, root};

const QUERIES: &str = r#"{"queries": [
  {"name": "b-logged-out-first", "events": ["tab B TabReceivesRefreshResponse status 401"],
   "never": ["tab A TabReceivesRefreshResponse"], "expect": "reachable"},
  {"name": "three-rows", "end": "tokens.active >= 3", "expect": "reachable"},
  {"name": "at-most-one-row", "always": "tokens.active <= 1", "expect": "holds"}
]}"#;

fn run(
    format: &str,
    report: Option<&std::path::Path>,
) -> (Option<i32>, String, std::path::PathBuf, crate::common::TempFiles) {
    let (dir, qf) = crate::common::temp_file("q.json", QUERIES);
    let traces = dir.path().join("traces");
    let mut args = vec![
        "check".to_string(),
        "models/directus-10.10-session-d-s2.json".into(),
        "--query".into(),
        qf.to_str().unwrap().into(),
        "--traces".into(),
        traces.to_str().unwrap().into(),
        "--format".into(),
        format.into(),
        "--quiet".into(),
    ];
    if let Some(r) = report {
        args.extend(["--report".to_string(), dir.path().join(r).to_str().unwrap().into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cli(&root(), &args);
    let text = match report {
        Some(r) => std::fs::read_to_string(dir.path().join(r)).unwrap(),
        None => String::from_utf8(out.stdout).unwrap(),
    };
    (out.status.code(), text, traces, dir)
}

/// JSON: the model's own query first, then the file's, each with its answer, expectation,
/// steps and trace file; a wrong expectation is `as_expected: false` and exit 1.
#[test]
fn json_reports_carry_the_query_answers() {
    let (code, text, traces, _dir) = run("json", None);
    assert_eq!(code, Some(1), "three-rows is unreachable, expected reachable: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let q = v["queries"].as_array().unwrap();
    let names: Vec<&str> = q.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["orphan-cookie-logs-a-tab-out", "b-logged-out-first", "three-rows", "at-most-one-row"]);
    assert_eq!(q[0]["kind"], "query");
    assert_eq!(q[0]["answer"], "reachable");
    assert_eq!(q[0]["expected"], "reachable");
    assert_eq!(q[0]["steps"], 17);
    let t = traces.join("directus-10.10-session-d-s2.query-orphan-cookie-logs-a-tab-out.json");
    assert_eq!(q[0]["trace"], t.to_str().unwrap());
    assert_eq!(refresh_check::trace::load(&t).unwrap().steps.len(), 17);
    assert_eq!((q[2]["answer"].as_str(), q[2]["as_expected"].as_bool()), (Some("unreachable"), Some(false)));
    assert!(q[2]["steps"].is_null() && q[2]["trace"].is_null());
    assert!(q[2]["unique_states"].as_u64().unwrap() > 100);
    assert_eq!((q[3]["kind"].as_str(), q[3]["answer"].as_str()), (Some("invariant"), Some("holds")));
    // The properties' verdicts are as expected: the difference is the query's alone.
    assert_eq!(v["outcome"], "as_expected");
}

/// JUnit: one test case per query, `query <name>`; the wrong expectation is a failure of type
/// `query`. Markdown (with `--report`): a table of the answers, the wrong one marked.
#[test]
fn junit_and_markdown_reports_carry_the_query_answers() {
    let (code, xml, _, _dir) = run("junit", None);
    assert_eq!(code, Some(1));
    assert!(
        xml.contains(
            r#"<testcase name="query orphan-cookie-logs-a-tab-out" classname="directus-10.10-session-d-s2"/>"#
        ),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="query at-most-one-row" classname="directus-10.10-session-d-s2"/>"#),
        "{xml}"
    );
    let at = xml.find(r#"<testcase name="query three-rows""#).expect(&xml);
    let case = &xml[at..at + xml[at..].find("</testcase>").unwrap()];
    assert!(case.contains(r#"type="query""#) && case.contains("expected reachable, found unreachable"), "{case}");

    let (code, md, _, _dir) = run("markdown", Some(std::path::Path::new("report.md")));
    assert_eq!(code, Some(1));
    assert!(md.contains("| model | query | kind | answer | expected | steps | states | trace |"), "{md}");
    assert!(
        md.contains(
            "| `directus-10.10-session-d-s2` | `orphan-cookie-logs-a-tab-out` | query | reachable | reachable | 17 |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| `directus-10.10-session-d-s2` | `three-rows` | query | unreachable ✗ | reachable | - |"),
        "{md}"
    );
    assert!(
        md.contains("| `directus-10.10-session-d-s2` | `at-most-one-row` | invariant | holds | holds | - |"),
        "{md}"
    );
}
