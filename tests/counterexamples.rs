//! `check --counterexamples N`: several counterexamples per violated invariant, differing in
//! mechanism (the protocol decisions along the path; without a protocol, the action names),
//! each the shortest of its kind.

use refresh_check::check::{self, CheckOptions, Counterexample};
use refresh_check::{properties, trace};

/// The counterexamples of `property` found with `--counterexamples n` (the library call).
fn counterexamples(file: &str, property: &str, n: usize) -> (Vec<Counterexample>, Option<String>) {
    let sc = crate::util::scenario(file, None);
    let opts = CheckOptions { counterexamples: n, properties: Some(vec![property.into()]), ..Default::default() };
    let (_, r) = check::check(&sc, &opts);
    let p = r.properties.iter().find(|p| p.name == property).unwrap();
    (p.counterexamples.clone(), p.path_encoded.clone())
}

fn trace_at(file: &str, property: &str, path: &str) -> trace::Trace {
    let sc = crate::util::scenario(file, None);
    let m = refresh_check::model::build(&sc);
    let path = trace::decode_path(path).unwrap();
    trace::build(&m, &sc.path, &sc.name, sc.browser.tabs, properties::by_name(property).unwrap(), &path).unwrap()
}

/// Ory Hydra 3004: the shortest logout is the sequential reuse (B's check runs after A's
/// commit, rule `inactive: reuse`); the second mechanism is the race of the report: both checks
/// pass, A rotates, B's transaction finds the row no longer active and B is answered 400.
#[test]
fn hydra_3004_second_counterexample_is_the_race_loser_answered_400() {
    const FILE: &str = "models/hydra-3004-check-outside-transaction.json";
    let (cx, shortest) = counterexamples(FILE, "no_spurious_logout", 3);
    assert_eq!(cx.len(), 2, "exactly two mechanisms in the whole space: {cx:?}");
    assert_eq!(Some(&cx[0].path), shortest.as_ref(), "the first is today's shortest counterexample");
    assert_eq!(cx[0].steps, 6);
    assert_eq!(
        cx[0].mechanism,
        [
            "active [check (outside the transaction)]",
            "inactive: reuse [check (outside the transaction)]",
            "still active [rotate (transaction)]"
        ]
    );
    assert_eq!(cx[1].steps, 7);
    assert_eq!(
        cx[1].mechanism,
        [
            "active [check (outside the transaction)]",
            "no longer active [rotate (transaction)]",
            "still active [rotate (transaction)]"
        ]
    );
    let t = trace_at(FILE, "no_spurious_logout", &cx[1].path);
    let race = crate::util::find_step(&t, "server", "ServerWritesRefresh", "rule `no longer active`");
    assert!(t.steps[race].text.ends_with("rule `no longer active` → invalid_request"), "{}", t.steps[race].text);
    assert!(t.steps[6].text.starts_with("tab B gets 400"), "{}", t.steps[6].text);
    assert!(t.steps.iter().all(|s| !s.text.contains("inactive: reuse")), "no reuse detection in the race");
}

/// A Directus model (no protocol: the mechanism is the set of action names): the shortest
/// orphan cookie needs no response to reach a tab; the second needs one.
#[test]
fn directus_second_counterexample_adds_a_tab_receiving_its_response() {
    const FILE: &str = "models/directus-10.10-session-3tabs.json";
    let (cx, shortest) = counterexamples(FILE, "cookie_names_live_session", 5);
    assert_eq!(cx.len(), 2, "{cx:?}");
    assert_eq!(Some(&cx[0].path), shortest.as_ref());
    assert_eq!((cx[0].steps, cx[1].steps), (11, 13));
    assert_eq!(
        cx[0].mechanism,
        ["ServerReceivesRefresh", "ServerReceivesResult", "StoreRunsR1", "StoreRunsW1Rename", "TabSendsRefresh"]
    );
    assert!(!cx[0].mechanism.iter().any(|a| a == "TabReceivesRefreshResponse"));
    assert!(cx[1].mechanism.iter().any(|a| a == "TabReceivesRefreshResponse"));
    let t = trace_at(FILE, "cookie_names_live_session", &cx[1].path);
    assert_eq!(t.steps.len(), 13);
}

/// The command: numbered trace files for the k-th counterexamples that `trace validate`
/// accepts, a `counterexamples` array in the JSON report, the first trace the golden one.
#[test]
fn cli_writes_numbered_traces_and_reports_each_mechanism() {
    let root = crate::util::root();
    let dir = crate::common::TempFiles::new();
    let traces = dir.path().to_str().unwrap();
    let model = "models/hydra-3004-check-outside-transaction.json";
    let out = crate::util::cli(
        &root,
        &["check", model, "--property", "no_spurious_logout", "--counterexamples", "3", "--traces", traces],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("no_spurious_logout: 2 counterexamples differing in mechanism, shortest first:"), "{text}");
    assert!(text.contains("  2. 7 steps ("), "{text}");
    assert!(text.contains("mechanism: active [check (outside the transaction)]; no longer active"), "{text}");

    let first = dir.path().join("hydra-3004-check-outside-transaction.no_spurious_logout.json");
    let second = dir.path().join("hydra-3004-check-outside-transaction.no_spurious_logout.2.json");
    assert!(second.with_extension("md").exists());
    assert!(!dir.path().join("hydra-3004-check-outside-transaction.no_spurious_logout.3.json").exists());
    let golden =
        trace::load(&root.join("traces/hydra-3004-check-outside-transaction.no_spurious_logout.json")).unwrap();
    let written = trace::load(&first).unwrap();
    assert_eq!((written.path, written.steps), (golden.path, golden.steps));
    let v = crate::util::cli(&root, &["trace", "validate", second.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stderr));

    // Again, in JSON, with the golden traces of the repository: the numbered files are not golden
    // traces (written again, never compared), and the first still matches.
    let out = crate::util::cli(
        &root,
        &[
            "check",
            model,
            "--property",
            "no_spurious_logout",
            "--counterexamples",
            "3",
            "--traces",
            traces,
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cx = report["properties"][0]["counterexamples"].as_array().unwrap();
    assert_eq!(cx.len(), 2);
    assert_eq!(cx[0]["steps"], 6);
    assert_eq!(cx[1]["trace"].as_str().unwrap(), second.to_str().unwrap());
    assert!(cx[1]["mechanism"].as_array().unwrap().iter().any(|m| m == "no longer active [rotate (transaction)]"));
}

/// `--counterexamples 1` is today's check: the same report (but for the time taken), no
/// `counterexamples` key, no numbered trace files.
#[test]
fn one_counterexample_is_the_usual_check() {
    let root = crate::util::root();
    let dir = crate::common::TempFiles::new();
    let traces = dir.path().to_str().unwrap();
    let model = "models/hydra-3004-check-outside-transaction.json";
    let report = |extra: &[&str]| {
        let mut args = vec!["check", model, "--traces", traces, "--format", "json"];
        args.extend_from_slice(extra);
        let out = crate::util::cli(&root, &args);
        assert_eq!(out.status.code(), Some(0));
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        v
    };
    report(&[]); // writes the traces: `new` the first time, `matches` after
    let plain = report(&[]);
    let one = report(&["--counterexamples", "1"]);
    assert_eq!(plain, one);
    assert!(plain["properties"].as_array().unwrap().iter().all(|p| p.get("counterexamples").is_none()));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(names.iter().all(|n| n.to_str().unwrap().matches('.').count() == 2), "{names:?}");
    let (cx, _) = counterexamples(model, "no_spurious_logout", 1);
    assert!(cx.is_empty());
}

/// A counterexample made only of ordinary calls has a mechanism (it printed empty): the
/// `request` handler's rule, `RULE [request]`. ZITADEL issue 9331's app without a refresh:
/// the call is in flight while the clock passes its access token's expiry, it is refused by
/// introspection, and the tab is logged out while the session is valid. With the refresh
/// back, the race of the report adds the refresh rule to the call's.
#[test]
fn a_counterexample_of_ordinary_calls_only_has_the_request_rule_as_mechanism() {
    const ZITADEL: &str = "models/zitadel-9331-refresh-revokes-in-flight-access-token.json";
    let files = crate::common::TempFiles::new();
    let file = files.copy_model(ZITADEL, "calls-only.json", |m| {
        m["browser"]["refreshes_per_tab"] = 0.into();
        m["time"]["max_ticks"] = 2.into();
        m["time"]["access_token_ttl"] = 1.into();
        m.shift_remove("expect");
    });
    let sc = refresh_check::scenario::Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let opts =
        CheckOptions { counterexamples: 3, properties: Some(vec!["no_spurious_logout".into()]), ..Default::default() };
    let (_, r) = check::check(&sc, &opts);
    let cx = &r.properties.iter().find(|p| p.name == "no_spurious_logout").unwrap().counterexamples;
    assert_eq!(cx.len(), 1, "{cx:?}");
    assert_eq!(cx[0].mechanism, ["introspection: inactive [request]"]);
    let m = refresh_check::model::build(&sc);
    let path = trace::decode_path(&cx[0].path).unwrap();
    let t = trace::build(&m, &sc.path, &sc.name, 1, properties::by_name("no_spurious_logout").unwrap(), &path).unwrap();
    assert_eq!(
        crate::util::actions(&t),
        ["TabSendsCall", "ClockTicks", "ClockTicks", "ServerReceivesCall", "TabReceivesCallResponse"]
    );
    let (cx, _) = counterexamples(ZITADEL, "no_spurious_logout", 3);
    assert_eq!(
        cx[0].mechanism,
        ["introspection: inactive [request]", "rotate and invalidate the previous access token"]
    );
}

/// With several devices, a server's step names the device whose request it serves, as the
/// request's arrival does (`server receives device 1 tab A's …`, then `server runs step … of
/// device 1 tab A's refresh`).
#[test]
fn a_server_step_names_the_device_of_its_request() {
    let (sc, m, r) = crate::util::checked("models/derive-pr209-reject-without-revoke.json");
    assert!(sc.browser.devices > 1);
    let t = crate::util::trace_of(&m, &sc, &r, "no_spurious_logout");
    let text = trace::render_text(&t);
    let steps: Vec<_> = t.steps.iter().filter(|s| s.action == "ServerWritesRefresh").collect();
    assert!(!steps.is_empty(), "{text}");
    for s in steps {
        assert!(s.text.contains(" of device ") && s.text.contains(" tab A's refresh"), "{}\n{text}", s.text);
    }
    assert!(t.steps.iter().any(|s| s.action == "ServerReceivesRefresh" && s.text.contains("device ")), "{text}");
}
