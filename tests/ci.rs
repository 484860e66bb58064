//! refresh-check in a CI pipeline: several model files, JUnit / GitHub / JSON reports, golden
//! traces, shards and their merge, the verdict matrix, progress. See issue 6.
//!
//! Each test works in a temporary folder holding copies of the shipped Directus model files
//! (and, where it says so, their golden traces), as a CI job's checkout would.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use serde_json::Value;

use crate::util::{cli, root, run, scenario};
use refresh_check::check::CheckOptions;
use refresh_check::properties;
use refresh_check::scenario::Verdict;

const ROTATE: &str = "directus-10.10-session";
const STABLE: &str = "directus-pr22433-stable-id";

/// A CI checkout: `models/` with the two Directus model files and, if `goldens`, `traces/`
/// with their committed traces.
fn checkout(goldens: bool) -> crate::common::TempFiles {
    let dir = crate::common::TempFiles::new();
    fs::create_dir(dir.path().join("models")).unwrap();
    for m in [ROTATE, STABLE] {
        let f = format!("models/{m}.json");
        fs::copy(root().join(&f), dir.path().join(&f)).unwrap();
    }
    if goldens {
        fs::create_dir(dir.path().join("traces")).unwrap();
        for e in fs::read_dir(root().join("traces")).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_str().unwrap().starts_with(&format!("{ROTATE}.")) {
                fs::copy(&p, dir.path().join("traces").join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    dir
}

fn edit(dir: &Path, model: &str, from: &str, to: &str) {
    let f = dir.join(format!("models/{model}.json"));
    let text = fs::read_to_string(&f).unwrap();
    assert!(text.contains(from), "{from} in {model}");
    fs::write(&f, text.replace(from, to)).unwrap();
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Done when (issue 6): changing one policy in a model file makes `check models/ --format
/// junit` fail with a JUnit file naming the model, the property, the expected and the found
/// verdict, and the trace.
#[test]
fn changing_one_policy_fails_the_junit_report_naming_model_property_verdicts_and_trace() {
    let dir = checkout(true);
    let args = ["check", "models/", "--format", "junit", "--report", "target/ci/junit.xml"];
    let ok = cli(dir.path(), &args);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let xml = fs::read_to_string(dir.path().join("target/ci/junit.xml")).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(report.tests, 2 * properties::ALL.len());
    assert_eq!((report.failures, report.errors), (0, 0));

    // PR 22433's stable id reverted to 10.10's rotation: the race is back.
    edit(dir.path(), STABLE, "\"session_refresh\": \"stable-id\"", "\"session_refresh\": \"rotate\"");
    let out = cli(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "the report goes to the file");
    assert!(stderr(&out).starts_with("differences (3):\n"), "summary on stderr:\n{}", stderr(&out));
    let xml = fs::read_to_string(dir.path().join("target/ci/junit.xml")).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    assert_eq!((report.tests, report.failures, report.errors), (2 * properties::ALL.len(), 3, 0));
    let suite = &report.test_suites[0];
    assert_eq!(suite.name.as_str(), STABLE, "the differing model comes first");
    let case = &suite.test_cases[0];
    assert_eq!((case.classname.as_ref().unwrap().as_str(), case.name.as_str()), (STABLE, "no_spurious_logout"));
    let TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, message, ty, description, .. } = &case.status
    else {
        panic!("{:?}", case.status)
    };
    let trace = format!("traces/{STABLE}.no_spurious_logout.json");
    assert_eq!(
        message.as_ref().unwrap().as_str(),
        format!("{STABLE} no_spurious_logout: expected holds, found violated (10 steps; trace {trace})")
    );
    assert_eq!(ty.as_ref().unwrap().as_str(), "verdict");
    let text = description.as_ref().unwrap().as_str();
    for needle in [
        "model: directus-pr22433-stable-id (models/directus-pr22433-stable-id.json, 2 tabs;",
        "session_refresh=rotate",
        "property: no_spurious_logout (always): no tab is logged out while the user's session is valid",
        "expected: holds\nfound: violated\n",
        "trace: traces/directus-pr22433-stable-id.no_spurious_logout.json (10 steps)",
        "10. tab B    tab B gets 401 INVALID_CREDENTIALS and is logged out",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
    let second = &suite.test_cases[1];
    assert_eq!(second.name.as_str(), "cookie_names_live_session");
    assert!(matches!(second.status, TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, .. }));
    let third = &suite.test_cases[2];
    assert_eq!(third.name.as_str(), "no_dead_credential_at_rest");
    assert!(matches!(third.status, TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, .. }));
    assert!(suite.test_cases[3..].iter().all(|c| matches!(c.status, TestCaseStatus::Success { .. })));
    assert!(report.test_suites[1].test_cases.iter().all(|c| matches!(c.status, TestCaseStatus::Success { .. })));
    // The trace the failure names was written, replays, and shows the 401.
    let t: Value = serde_json::from_str(&fs::read_to_string(dir.path().join(&trace)).unwrap()).unwrap();
    assert_eq!(t["steps"].as_array().unwrap().len(), 10);
    assert_eq!(t["steps"][9]["action"], "TabReceivesRefreshResponse");
    let v = cli(dir.path(), &["trace", "validate", &trace]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
}

/// A model change that stops a golden trace from reproducing fails, naming the trace and the
/// first step that differs; the committed files are left alone; `--update-traces` rewrites them
/// and removes the stale one; `trace validate traces/` agrees at each stage.
#[test]
fn a_golden_trace_that_no_longer_reproduces_fails_at_its_first_differing_step_until_updated() {
    let dir = checkout(true);
    let golden = dir.path().join(format!("traces/{ROTATE}.no_spurious_logout.json"));
    let committed = fs::read_to_string(&golden).unwrap();
    // One transaction per handler: no orphan cookie any more, and a shorter logout.
    edit(dir.path(), ROTATE, "\"steps\": \"split\"", "\"steps\": \"atomic\"");
    edit(dir.path(), ROTATE, "\"cookie_names_live_session\": \"violated\"", "\"cookie_names_live_session\": \"holds\"");
    edit(
        dir.path(),
        ROTATE,
        "\"no_dead_credential_at_rest\": \"violated\"",
        "\"no_dead_credential_at_rest\": \"holds\"",
    );
    let model = format!("models/{ROTATE}.json");
    let out = cli(dir.path(), &["check", &model, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["outcome"], "differs");
    let p = &r["properties"][0];
    assert_eq!(
        (p["name"].as_str(), p["status"].as_str(), p["as_expected"].as_bool()),
        (Some("no_spurious_logout"), Some("violated"), Some(true))
    );
    assert_eq!(p["steps"], 8, "the atomic handler logs B out in 8 steps");
    assert_eq!(p["golden"]["status"], "differs");
    assert_eq!(p["golden"]["step"], 2);
    let msg = p["golden"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!("golden trace traces/{ROTATE}.no_spurious_logout.json no longer reproduces: step 2 (server: server receives tab A's POST /auth/refresh")),
        "{msg}"
    );
    assert!(
        msg.contains(
            "the state after it differs in `handlers`: recorded [\"tab A Refresh: awaits R1 result\"], replayed []"
        ),
        "{msg}"
    );
    let stale = &r["properties"][1];
    assert_eq!((stale["name"].as_str(), stale["status"].as_str()), (Some("cookie_names_live_session"), Some("holds")));
    assert_eq!(stale["golden"]["status"], "stale");
    assert!(stale["golden"]["message"].as_str().unwrap().contains("`cookie_names_live_session` now holds"));
    assert_eq!(fs::read_to_string(&golden).unwrap(), committed, "a differing golden trace is left alone");

    // The JUnit failure says the same.
    let out = cli(dir.path(), &["check", &model, "--format", "junit", "-q"]);
    let report = Report::deserialize_from_str(&stdout(&out)).unwrap();
    let case = &report.test_suites[0].test_cases[0];
    let TestCaseStatus::NonSuccess { message, ty, description, .. } = &case.status else { panic!() };
    assert_eq!(ty.as_ref().unwrap().as_str(), "golden-trace");
    assert!(message.as_ref().unwrap().as_str().contains("no longer reproduces: step 2"));
    assert!(description
        .as_ref()
        .unwrap()
        .as_str()
        .contains(&format!("golden trace: traces/{ROTATE}.no_spurious_logout.json first differs at step 2")));

    let v = cli(dir.path(), &["trace", "validate", "traces/"]);
    assert_eq!(v.status.code(), Some(1));
    assert!(stdout(&v).contains(&format!("traces/{ROTATE}.no_spurious_logout.json: FAILED")), "{}", stdout(&v));

    let up = cli(dir.path(), &["check", &model, "--update-traces", "-q"]);
    assert_eq!(up.status.code(), Some(0), "{}", stdout(&up));
    let t: Value = serde_json::from_str(&fs::read_to_string(&golden).unwrap()).unwrap();
    assert_eq!(t["steps"].as_array().unwrap().len(), 8);
    assert_eq!(t["steps"][2]["action"], "StoreRunsTransaction");
    assert!(!dir.path().join(format!("traces/{ROTATE}.cookie_names_live_session.json")).exists());
    assert!(!dir.path().join(format!("traces/{ROTATE}.cookie_names_live_session.md")).exists());
    let v = cli(dir.path(), &["trace", "validate", "traces"]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    // A run with other parameters neither compares nor overwrites the golden traces.
    let before = fs::read(&golden).unwrap();
    let three = cli(dir.path(), &["check", &model, "--tabs", "3", "--format", "json"]);
    assert_eq!(three.status.code(), Some(0), "{}", stderr(&three));
    let r: Value = serde_json::from_slice(&three.stdout).unwrap();
    assert_eq!(r["properties"][0]["golden"]["status"], "other");
    assert!(r["properties"][0]["golden"]["message"]
        .as_str()
        .unwrap()
        .contains("was made with 2 tabs, this check used 3"));
    assert_eq!(fs::read(&golden).unwrap(), before);
    let again = cli(dir.path(), &["check", &model, "--format", "json"]);
    assert_eq!(again.status.code(), Some(0));
    let r: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(r["properties"][0]["golden"]["status"], "matches");
}

/// Every value of a JSON report except wall-clock seconds.
fn without_seconds(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter().filter(|(k, _)| *k != "seconds").map(|(k, v)| (k.clone(), without_seconds(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_seconds).collect()),
        other => other.clone(),
    }
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    match fs::read_dir(dir) {
        Err(_) => BTreeMap::new(),
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
            .collect(),
    }
}

/// Done when (issue 6): the union of the shards' reports equals the unsharded run: verdicts,
/// paths, counts, trace files. Each shard runs in a checkout of its own, as CI jobs do.
#[test]
fn the_union_of_the_shards_reports_equals_the_unsharded_run() {
    let whole = checkout(false);
    let out = cli(whole.path(), &["check", "models", "--format", "json", "--report", "r.json", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected: Value = serde_json::from_str(&fs::read_to_string(whole.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(expected["totals"]["properties"], 2 * properties::ALL.len());
    let units = 2 * properties::ALL.len();
    let mut split_counts_differ = false;
    for n in [2, 3, units + 1] {
        let jobs: Vec<crate::common::TempFiles> = (0..n).map(|_| checkout(false)).collect();
        let mut reports: Vec<PathBuf> = Vec::new();
        let mut traces = BTreeMap::new();
        let mut own = 0;
        for (i, job) in jobs.iter().enumerate() {
            let shard = format!("{}/{n}", i + 1);
            let out = cli(
                job.path(),
                &["check", "models", "--shard", &shard, "--format", "json", "--report", "r.json", "-q"],
            );
            assert_eq!(out.status.code(), Some(0), "{shard}: {}", stderr(&out));
            let r: Value = serde_json::from_str(&fs::read_to_string(job.path().join("r.json")).unwrap()).unwrap();
            assert_eq!(r["shard"]["units_total"], units);
            own += r["shard"]["units"].as_u64().unwrap();
            for (name, bytes) in files(&job.path().join("traces")) {
                assert!(traces.insert(name.clone(), bytes).is_none(), "{name} written by two shards");
            }
            reports.push(job.path().join("r.json"));
        }
        assert_eq!(own as usize, units, "{n} shards: every unit once");
        let mut args = vec!["matrix", "--format", "json", "-q", "--merge"];
        let paths: Vec<String> = reports.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        let merged = cli(whole.path(), &args);
        assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
        let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
        assert_eq!(without_seconds(&merged), without_seconds(&expected), "{n} shards");
        assert_eq!(traces, files(&whole.path().join("traces")), "{n} shards: the same trace files");
        // Shards that share a model search it for fewer properties and may stop earlier; the
        // merge takes the counts of the search that went furthest (the unsharded run's).
        let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for r in &reports {
            let r: Value = serde_json::from_str(&fs::read_to_string(r).unwrap()).unwrap();
            for m in r["models"].as_array().unwrap() {
                counts
                    .entry(m["model"].as_str().unwrap().into())
                    .or_default()
                    .push(m["unique_states"].as_u64().unwrap());
            }
        }
        split_counts_differ |= counts.values().any(|c| c.iter().any(|x| *x != c[0]));
        if n == 3 {
            // A missing shard is an error, not a smaller suite.
            let partial = cli(whole.path(), &["matrix", "--merge", &paths[0], &paths[2]]);
            assert_eq!(partial.status.code(), Some(2));
            assert!(stderr(&partial).contains("missing shard 2/3 (got 2 of 3)"), "{}", stderr(&partial));
        }
    }
    assert!(split_counts_differ, "some model's shards stopped at different counts, and the merge chose");
}

/// `matrix --merge` also combines one-model reports of separate `check` runs into the suite
/// report of checking them together.
#[test]
fn merging_one_model_reports_equals_checking_the_folder() {
    let dir = checkout(false);
    let whole = cli(dir.path(), &["check", "models", "--format", "json", "--no-traces", "-q"]);
    let expected: Value = serde_json::from_slice(&whole.stdout).unwrap();
    let mut args = vec!["matrix".to_string(), "--format".into(), "json".into(), "-q".into(), "--merge".into()];
    for m in [STABLE, ROTATE] {
        let one = cli(
            dir.path(),
            &[
                "check",
                &format!("models/{m}.json"),
                "--format",
                "json",
                "--no-traces",
                "--report",
                &format!("{m}.report.json"),
            ],
        );
        assert_eq!(one.status.code(), Some(0));
        let r: Value =
            serde_json::from_str(&fs::read_to_string(dir.path().join(format!("{m}.report.json"))).unwrap()).unwrap();
        assert_eq!(r["model"], m, "one model file: one object, as before");
        args.push(format!("{m}.report.json"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let merged = cli(dir.path(), &args);
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(without_seconds(&merged), without_seconds(&expected));
    // The same report twice is not a merge of shards.
    let twice =
        cli(dir.path(), &["matrix", "--merge", &format!("{ROTATE}.report.json"), &format!("{ROTATE}.report.json")]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(stderr(&twice).contains(&format!("reports {ROTATE} no_spurious_logout, which")), "{}", stderr(&twice));
}

/// Several model files: the differing ones first in every report, and the exit code of the
/// worst: 1 for a difference, 2 for bad input (nothing written), 3 for a limit.
#[test]
fn several_model_files_list_differences_first_and_exit_by_the_worst_outcome() {
    let dir = checkout(false);
    edit(dir.path(), STABLE, "\"session_refresh\": \"stable-id\"", "\"session_refresh\": \"rotate\"");
    let out = cli(dir.path(), &["check", "models", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["schema"], "refresh-check/report/v1");
    assert_eq!(r["outcome"], "differs");
    assert_eq!(r["totals"]["models"], 2);
    assert_eq!(r["totals"]["differ"], 3);
    assert_eq!(r["totals"]["as_expected"], 2 * properties::ALL.len() - 3);
    assert_eq!(r["differences"][0]["model"], STABLE);
    assert_eq!(r["differences"][0]["property"], "no_spurious_logout");
    assert_eq!(
        (r["differences"][0]["expected"].as_str(), r["differences"][0]["found"].as_str()),
        (Some("holds"), Some("violated"))
    );
    assert_eq!(r["models"][0]["model"], STABLE, "the differing model first, though it sorts second");
    assert_eq!(r["models"][1]["model"], ROTATE);
    let text = cli(dir.path(), &["check", "models"]);
    assert!(
        stdout(&text).starts_with(
            "differences (3):\n  directus-pr22433-stable-id no_spurious_logout: expected holds, found violated"
        ),
        "{}",
        stdout(&text)
    );

    // GitHub annotations point at the model file's `expect` line.
    let gh = cli(dir.path(), &["check", "models", "--format", "github", "-q"]);
    let file = format!("models/{STABLE}.json");
    let line = fs::read_to_string(dir.path().join(&file))
        .unwrap()
        .lines()
        .position(|l| l.contains("\"no_spurious_logout\": \"holds\""))
        .unwrap()
        + 1;
    assert!(
        stdout(&gh).starts_with(&format!("::error file={file},line={line},title=refresh-check%3A {STABLE} no_spurious_logout::no tab is logged out while the user's session is valid: expected holds, found violated (10 steps; trace traces/{STABLE}.no_spurious_logout.json)\n")),
        "{}",
        stdout(&gh)
    );

    // A limit: exit 3 when nothing differs.
    let clean = checkout(false);
    let cut = cli(clean.path(), &["check", "models", "--max-depth", "3", "--format", "json", "--no-traces"]);
    assert_eq!(cut.status.code(), Some(3));
    let r: Value = serde_json::from_slice(&cut.stdout).unwrap();
    assert_eq!(r["outcome"], "incomplete");
    assert!(r["totals"]["undecided"].as_u64().unwrap() >= 2);
    let junit = cli(clean.path(), &["check", "models", "--max-depth", "3", "--format", "junit", "--no-traces", "-q"]);
    assert_eq!(junit.status.code(), Some(3));
    let report = Report::deserialize_from_str(&stdout(&junit)).unwrap();
    assert_eq!((report.failures, report.errors), (0, r["totals"]["undecided"].as_u64().unwrap() as usize));
    let undecided = report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .find(|c| !matches!(c.status, TestCaseStatus::Success { .. }))
        .unwrap();
    let TestCaseStatus::NonSuccess { kind: NonSuccessKind::Error, ty, message, .. } = &undecided.status else {
        panic!()
    };
    assert_eq!(ty.as_ref().unwrap().as_str(), "incomplete");
    assert!(message.as_ref().unwrap().as_str().contains("unknown: the search stopped (depth_bound) before deciding"));

    // Bad input in one file: exit 2, nothing checked, nothing written.
    fs::write(clean.path().join("models/zz-broken.json"), "{\"name\": ").unwrap();
    let bad = cli(clean.path(), &["check", "models", "--report", "out/r.json"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("models/zz-broken.json:1:"), "{}", stderr(&bad));
    assert!(!clean.path().join("traces").exists() && !clean.path().join("out").exists());
    // Two files with one name would overwrite each other's traces.
    fs::remove_file(clean.path().join("models/zz-broken.json")).unwrap();
    fs::create_dir(clean.path().join("models/copy")).unwrap();
    fs::copy(clean.path().join(format!("models/{ROTATE}.json")), clean.path().join("models/copy/again.json")).unwrap();
    let dup = cli(clean.path(), &["check", "models"]);
    assert_eq!(dup.status.code(), Some(2));
    assert!(stderr(&dup).contains("models/directus-10.10-session.json: field `name`"), "{}", stderr(&dup));
}

/// `matrix`: model and policy x property, with verdicts, state counts (those of the search)
/// and the trace file of each violation.
#[test]
fn matrix_prints_each_model_policy_and_property_with_counts_and_traces() {
    let dir = checkout(false);
    let out = cli(dir.path(), &["matrix"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    let mut want = vec!["model", "policy", "states"];
    want.extend(properties::ALL.iter().map(|p| p.name));
    assert_eq!(header, want);
    for (name, first) in [(ROTATE, "violated (10)"), (STABLE, "holds")] {
        // The command line's default search: symmetry-reduced where tabs are interchangeable,
        // dead values reset.
        let cli_default = CheckOptions { symmetry: true, dead_values: true, ..CheckOptions::default() };
        let (_, r) = run(&scenario(&format!("models/{name}.json"), None), &cli_default);
        let row = lines.iter().find(|l| l.starts_with(name)).unwrap();
        let cells: Vec<&str> = row.split("  ").filter(|c| !c.trim().is_empty()).map(str::trim).collect();
        assert!(cells[1].contains("session_refresh="), "{row}");
        assert_eq!(cells[2], r.unique_states.to_string(), "{row}");
        assert!(r.unique_states > 50, "the search was not empty: {}", r.unique_states);
        assert_eq!(cells[3], first, "no_spurious_logout: {row}");
        // Every cell is the verdict the search found, with a counterexample's length.
        let want: Vec<String> = r
            .properties
            .iter()
            .map(|p| match (p.status, p.steps) {
                (Verdict::Violated, Some(n)) => format!("violated ({n})"),
                (v, _) => serde_json::to_value(v).unwrap().as_str().unwrap().to_string(),
            })
            .collect();
        assert_eq!(cells[3..], want.iter().map(String::as_str).collect::<Vec<_>>()[..], "{row}");
    }
    assert!(
        text.contains(&format!("traces:\n  {ROTATE} no_spurious_logout: traces/{ROTATE}.no_spurious_logout.json\n")),
        "{text}"
    );
    let md = cli(dir.path(), &["matrix", "--format", "markdown", "-q"]);
    assert!(stdout(&md).starts_with("| model | policy | states | no_spurious_logout |"), "{}", stdout(&md));
    assert!(stdout(&md).contains("| `directus-pr22433-stable-id` | "));
}

/// Progress goes to stderr when asked (plain lines off a terminal), never with `--quiet`.
#[test]
fn progress_is_shown_when_asked_and_silenced_by_quiet() {
    let dir = checkout(false);
    let model = format!("models/{ROTATE}.json");
    // The command line's default search: symmetry-reduced where tabs are interchangeable,
    // dead values reset.
    let (_, r) =
        run(&scenario(&model, None), &CheckOptions { symmetry: true, dead_values: true, ..CheckOptions::default() });
    let out = cli(dir.path(), &["check", &model, "--progress", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("progress: [1/1] {ROTATE}: {} states ({} unique),", r.states, r.unique_states)),
        "{err}"
    );
    assert!(err.contains(&format!("depth {}", r.max_depth)) && err.contains("(done)"), "{err}");
    let piped = cli(dir.path(), &["check", &model, "--format", "json"]);
    assert!(!stderr(&piped).contains("progress:"), "off a terminal without --progress");
    let quiet = cli(dir.path(), &["check", "models", "--quiet", "--format", "json", "--report", "r.json"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stderr.is_empty() && quiet.stdout.is_empty(), "{}", stderr(&quiet));
    assert!(cli(dir.path(), &["check", &model, "--quiet", "--progress"]).status.code() == Some(2));
}
