//! Everyday use: `check --accept`, `--property`, properties that do not apply to a model, and
//! `refresh-check properties`.

use std::fs;
use std::path::{Path, PathBuf};

use refresh_check::check::CheckOptions;
use refresh_check::properties::{self, Kind};
use refresh_check::scenario::Verdict;
use serde_json::Value;

use crate::util::{cli, root, run, scenario};

/// The shipped model `name`'s text.
fn shipped(name: &str) -> String {
    fs::read_to_string(root().join("models").join(name)).unwrap()
}

/// Writes `text` with its `expect` block changed by `edit` to `dir/file`; returns the path.
fn copy_with(dir: &Path, file: &str, text: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> PathBuf {
    let mut v: Value = serde_json::from_str(text).unwrap();
    edit(v.as_object_mut().unwrap());
    let path = dir.join(file);
    fs::write(&path, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
    path
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn accept_on_a_copy_without_expect_reproduces_the_shipped_file() {
    for name in ["auth0-rotation-theft.json", "c18-orphaned-weblock.json", "c07-nocturne-read-then-write.json"] {
        let dir = crate::common::TempFiles::new();
        let text = shipped(name);
        let copy = copy_with(dir.path(), name, &text, |m| {
            m.shift_remove("expect");
        });
        assert_ne!(fs::read_to_string(&copy).unwrap(), text);
        let out = cli(dir.path(), &["check", name, "--no-traces", "--accept"]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert_eq!(fs::read_to_string(&copy).unwrap(), text, "{name}: the whole file, byte for byte");
        let err = stderr(&out);
        let n = refresh_check::properties::ALL.len();
        assert!(err.contains(&format!("accept: {name}: {n} entries written")), "{err}");
        assert!(err.contains("  expect.no_spurious_logout: (no entry) -> "), "{err}");
        // Accepting again changes nothing and does not rewrite the file.
        let again = cli(dir.path(), &["check", name, "--no-traces", "--accept"]);
        assert_eq!(again.status.code(), Some(0));
        assert!(
            stderr(&again).contains(&format!("accept: {name}: expect unchanged (not rewritten)")),
            "{}",
            stderr(&again)
        );
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

#[test]
fn accept_quiet_rewrites_the_file_and_prints_nothing() {
    let name = "auth0-rotation-theft.json";
    let dir = crate::common::TempFiles::new();
    let text = shipped(name);
    let copy = copy_with(dir.path(), name, &text, |m| {
        m.shift_remove("expect");
    });
    let out = cli(dir.path(), &["check", name, "--no-traces", "--accept", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&copy).unwrap(), text, "the expectations are written");
    assert!(out.stdout.is_empty(), "no report: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stderr.is_empty(), "no summary: {}", stderr(&out));
    // Without -q the report is printed as ever.
    let loud = cli(dir.path(), &["check", name, "--no-traces", "--accept"]);
    assert!(String::from_utf8_lossy(&loud.stdout).contains("no_spurious_logout"));
}

#[test]
fn accept_with_property_writes_only_those_entries_and_says_what_changed() {
    let dir = crate::common::TempFiles::new();
    let text = shipped("auth0-rotation-theft.json");
    let copy = copy_with(dir.path(), "m.json", &text, |m| {
        let e = m["expect"].as_object_mut().unwrap();
        e["no_spurious_logout"] = "holds".into();
        e["attacker_redeems"] = "unreached".into();
    });
    let before = cli(dir.path(), &["check", "m.json", "--no-traces", "-q"]);
    assert_eq!(before.status.code(), Some(1), "the edited expectations differ");
    let out = cli(
        dir.path(),
        &["check", "m.json", "--no-traces", "--accept", "--property", "no_spurious_logout", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("accept: m.json: 1 entry written\n  expect.no_spurious_logout: holds -> violated\n"), "{err}");
    let after: Value = serde_json::from_str(&fs::read_to_string(&copy).unwrap()).unwrap();
    assert_eq!(after["expect"]["no_spurious_logout"], "violated");
    assert_eq!(after["expect"]["attacker_redeems"], "unreached", "an entry not checked is left as it was");
    let shipped: Value = serde_json::from_str(&text).unwrap();
    let keys = |v: &Value| v["expect"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&after), keys(&shipped), "catalogue order kept");
    let report = json(&out);
    let names: Vec<&str> =
        report["properties"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["no_spurious_logout"]);
    assert_eq!(report["properties"][0]["expected"], "violated");
}

#[test]
fn accept_adds_the_missing_entries_of_a_directus_model_in_catalogue_order() {
    let dir = crate::common::TempFiles::new();
    let name = "directus-10.10-session.json";
    let text = shipped(name);
    let copy = copy_with(dir.path(), name, &text, |_| {});
    let out = cli(dir.path(), &["check", name, "--no-traces", "--accept"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    // The shipped block leaves out six invariants (expected `holds` by default).
    assert!(err.contains("accept: directus-10.10-session.json: 6 entries written"), "{err}");
    assert!(err.contains("  expect.sp1_immediate_predecessor: (no entry) -> holds\n"), "{err}");
    let after: Value = serde_json::from_str(&fs::read_to_string(&copy).unwrap()).unwrap();
    let keys: Vec<&str> = after["expect"].as_object().unwrap().keys().map(String::as_str).collect();
    let all: Vec<&str> = properties::ALL.iter().map(|p| p.name).collect();
    assert_eq!(keys, all);
    let before: Value = serde_json::from_str(&text).unwrap();
    let fields = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(fields(&after), fields(&before));
    for (k, v) in before.as_object().unwrap() {
        if k != "expect" {
            assert_eq!(&after[k], v, "field `{k}` kept");
        }
    }
    for (k, v) in before["expect"].as_object().unwrap() {
        assert_eq!(&after["expect"][k], v, "expect.{k} kept");
    }
}

#[test]
fn accept_refuses_an_incomplete_search_and_writes_nothing() {
    let dir = crate::common::TempFiles::new();
    let copy = copy_with(dir.path(), "m.json", &shipped("auth0-rotation-theft.json"), |m| {
        m.shift_remove("expect");
    });
    let text = fs::read_to_string(&copy).unwrap();
    let out = cli(dir.path(), &["check", "m.json", "--no-traces", "--accept", "--max-depth", "2"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "error: --accept: nothing written: the search was incomplete for m.json (search ending: depth_bound)"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_to_string(&copy).unwrap(), text);
}

#[test]
fn accept_with_several_files_writes_nothing_unless_every_search_is_complete() {
    let dir = crate::common::TempFiles::new();
    let names = ["auth0-rotation-theft.json", "directus-10.10-session.json"];
    for n in names {
        copy_with(dir.path(), n, &shipped(n), |m| {
            m.shift_remove("expect");
        });
    }
    let texts = || names.map(|n| fs::read_to_string(dir.path().join(n)).unwrap());
    let before = texts();
    let out = cli(dir.path(), &["check", ".", "--no-traces", "--accept", "--max-states", "60"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(texts(), before, "nothing written");
    let out = cli(dir.path(), &["check", ".", "--no-traces", "--accept"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(texts()[0], shipped(names[0]));
    let n = refresh_check::properties::ALL.len();
    let written = format!("accept: directus-10.10-session.json: {n} entries written");
    assert!(stderr(&out).contains(&written), "{}", stderr(&out));
}

#[test]
fn accept_refuses_another_tab_count_and_a_shard() {
    let dir = crate::common::TempFiles::new();
    let copy = copy_with(dir.path(), "m.json", &shipped("auth0-rotation-theft.json"), |m| {
        m.shift_remove("expect");
    });
    let text = fs::read_to_string(&copy).unwrap();
    let out = cli(dir.path(), &["check", "m.json", "--no-traces", "--accept", "--tabs", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("m.json: field `browser.tabs`: found 1, expected 2 (the run's --tabs)"),
        "{}",
        stderr(&out)
    );
    let out = cli(dir.path(), &["check", "m.json", "--accept", "--shard", "1/2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("'--accept' cannot be used with '--shard <I/N>'"), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&copy).unwrap(), text, "nothing written");
    // The file's own tab count, given explicitly, is accepted.
    let out = cli(dir.path(), &["check", "m.json", "--no-traces", "--accept", "--tabs", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&copy).unwrap(), shipped("auth0-rotation-theft.json"));
}

#[cfg(unix)]
#[test]
fn accept_through_a_symbolic_link_replaces_the_file_it_names() {
    let dir = crate::common::TempFiles::new();
    fs::create_dir(dir.path().join("real")).unwrap();
    let real = copy_with(&dir.path().join("real"), "m.json", &shipped("auth0-rotation-theft.json"), |m| {
        m.shift_remove("expect");
    });
    std::os::unix::fs::symlink(&real, dir.path().join("link.json")).unwrap();
    let out = cli(dir.path(), &["check", "link.json", "--no-traces", "--accept", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(fs::symlink_metadata(dir.path().join("link.json")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_to_string(&real).unwrap(), shipped("auth0-rotation-theft.json"));
}

#[test]
fn property_checks_only_the_selected_properties_and_leaves_other_golden_traces_alone() {
    let dir = crate::common::TempFiles::new();
    let model = root().join("models/directus-10.10-session.json").display().to_string();
    // A golden trace of a property that is not selected, even a stale one, is left alone.
    fs::create_dir(dir.path().join("traces")).unwrap();
    let other = dir.path().join("traces/directus-10.10-session.cookie_names_live_session.json");
    fs::write(&other, "not a trace").unwrap();
    let out = cli(
        dir.path(),
        &[
            "check",
            &model,
            "--property",
            "no_spurious_logout",
            "--property",
            "sign_out_completes",
            "--format",
            "json",
            "--update-traces",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let names: Vec<&str> =
        report["properties"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["no_spurious_logout", "sign_out_completes"]);
    assert_eq!(report["properties"][0]["status"], "violated");
    assert_eq!(report["properties"][0]["steps"], 10);
    assert_eq!(report["properties"][1]["applies"], false);
    let mut files: Vec<String> = fs::read_dir(dir.path().join("traces"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "directus-10.10-session.cookie_names_live_session.json",
            "directus-10.10-session.no_spurious_logout.json",
            "directus-10.10-session.no_spurious_logout.md"
        ]
    );
    assert_eq!(fs::read_to_string(&other).unwrap(), "not a trace");
    // The text report and the matrix show the selected properties only.
    let text = cli(dir.path(), &["check", &model, "--no-traces", "--property", "mode_binding"]);
    assert_eq!(text.status.code(), Some(0));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("  mode_binding  ") && !text.contains("no_spurious_logout"), "{text}");
    let matrix =
        cli(dir.path(), &["matrix", &model, "--no-traces", "--property", "refresh_succeeds", "--format", "json"]);
    assert_eq!(matrix.status.code(), Some(0), "{}", stderr(&matrix));
    let m = json(&matrix);
    assert_eq!(m["totals"]["properties"], 1);
    assert_eq!(m["models"][0]["properties"][0]["name"], "refresh_succeeds");
}

#[test]
fn an_unknown_property_is_a_usage_error_that_suggests_the_closest_name() {
    let dir = crate::common::TempFiles::new();
    let model = root().join("models/directus-10.10-session.json").display().to_string();
    for cmd in ["check", "matrix"] {
        let out = cli(dir.path(), &[cmd, &model, "--property", "no_spurios_logout"]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = stderr(&out);
        assert!(err.contains("unknown property \"no_spurios_logout\" (did you mean `no_spurious_logout`?)"), "{err}");
        assert!(err.contains("expected one of: no_spurious_logout, cookie_names_live_session,"), "{err}");
    }
    let out = cli(dir.path(), &["check", &model, "--property", "zzz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("did you mean"), "{}", stderr(&out));
    assert!(!dir.path().join("traces").exists(), "nothing written");
}

#[test]
fn no_vacuity_warning_for_sanity_properties_that_cannot_apply() {
    let dir = crate::common::TempFiles::new();
    // A Directus model without attacker, sign-outs or reuse detection, its expectations of
    // those sanity properties removed: they are n/a, not vacuous, and as expected.
    copy_with(dir.path(), "m.json", &shipped("directus-10.10-session.json"), |m| {
        let e = m["expect"].as_object_mut().unwrap();
        for p in ["attacker_redeems", "sign_out_completes", "reuse_detected"] {
            e.shift_remove(p).unwrap();
        }
    });
    let out = cli(dir.path(), &["check", "m.json", "--no-traces", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["vacuous"], Value::Array(vec![]));
    for p in report["properties"].as_array().unwrap() {
        if ["attacker_redeems", "sign_out_completes", "reuse_detected"].contains(&p["name"].as_str().unwrap()) {
            assert_eq!(
                (&p["applies"], &p["status"], &p["as_expected"]),
                (&false.into(), &"unreached".into(), &true.into())
            );
        }
    }
    let text = cli(dir.path(), &["check", "m.json", "--no-traces"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(!text.contains("vacuous"), "{text}");
    let row = text.lines().find(|l| l.starts_with("  attacker_redeems ")).unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["attacker_redeems", "sometimes", "unreached", "-", "-", "n/a"],
        "{text}"
    );
    // A sanity property that applies and is never reached still warns (and differs).
    copy_with(dir.path(), "t.json", &shipped("angular-auth-oidc-client-pr2237-refresh-token-lock.json"), |m| {
        m["expect"].as_object_mut().unwrap().shift_remove("concurrent_refreshes").unwrap();
    });
    let out = cli(dir.path(), &["check", "t.json", "--no-traces", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["vacuous"], serde_json::json!(["concurrent_refreshes"]));
}

#[test]
fn a_property_that_does_not_apply_has_its_trivial_verdict_on_every_shipped_model() {
    let mut not_applying = 0;
    for entry in fs::read_dir(root().join("models")).unwrap() {
        let file = format!("models/{}", entry.unwrap().file_name().into_string().unwrap());
        let sc = scenario(&file, None);
        let (_, r) = run(&sc, &CheckOptions::default());
        for p in r.properties.iter().filter(|p| !p.applies) {
            not_applying += 1;
            let trivial = match p.kind {
                Kind::Always => Verdict::Holds,
                Kind::Sometimes => Verdict::Unreached,
            };
            assert_eq!(p.status, trivial, "{file}: {} does not apply", p.name);
        }
        assert!(r.vacuous.is_empty(), "{file}: {:?}", r.vacuous);
    }
    assert!(not_applying > 500, "{not_applying}");
    let applies = |file: &str, name: &str| properties::by_name(name).unwrap().applies(&scenario(file, None));
    assert!(!applies("models/c06-nextauth-single-use.json", "reuse_detected"), "no rule detects reuse");
    assert!(applies("models/auth0-rotation-theft.json", "reuse_detected"));
    assert!(!applies("models/directus-10.10-session.json", "reuse_detected"));
    assert!(applies("models/directus-10.10-session-attacker.json", "attacker_redeems"));
    assert!(applies("models/directus-10.10-session-signout.json", "sign_out_completes"));
    assert!(applies("models/c18-orphaned-weblock.json", "lp4_lock_not_orphaned"));
    assert!(!applies("models/auth0-rotation-theft.json", "lp4_lock_not_orphaned"));
}

#[test]
fn properties_lists_every_property_of_the_catalogue() {
    let dir = crate::common::TempFiles::new();
    let out = cli(dir.path(), &["properties", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["schema"], "refresh-check/properties/v1");
    let list = v["properties"].as_array().unwrap();
    assert_eq!(list.len(), properties::ALL.len());
    for (p, e) in properties::ALL.iter().zip(list) {
        assert_eq!(e["name"], p.name);
        assert_eq!(e["kind"], if p.kind == Kind::Always { "always" } else { "sometimes" });
        assert_eq!(e["claim"], p.claim);
        assert_eq!(e["applies_to"], p.scope.models);
        assert!(e.get("models").is_none());
    }
    let attacker = list.iter().find(|e| e["name"] == "attacker_redeems").unwrap();
    assert_eq!(attacker["applies_to"], "models with an `attacker` section");
    let text = cli(dir.path(), &["properties"]);
    let text = String::from_utf8_lossy(&text.stdout);
    for p in properties::ALL {
        assert!(text.contains(&format!("{:<27} ", p.name)) && text.contains(p.claim), "{}: {text}", p.name);
    }
    // With model files: which of them each property applies to (files sorted by path).
    let models =
        [root().join("models/directus-10.10-session.json"), root().join("models/directus-10.10-session-attacker.json")];
    let models: Vec<String> = models.iter().map(|m| m.display().to_string()).collect();
    let out = cli(dir.path(), &["properties", "--format", "json", &models[0], &models[1]]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    let of =
        |name: &str| v["properties"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap()["models"].clone();
    assert_eq!(of("attacker_redeems"), serde_json::json!(["directus-10.10-session-attacker"]));
    assert_eq!(
        of("no_spurious_logout"),
        serde_json::json!(["directus-10.10-session-attacker", "directus-10.10-session"])
    );
    assert_eq!(of("reuse_detected"), serde_json::json!([]));
    let bad = cli(dir.path(), &["properties", "--format", "yaml"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn help_lists_the_new_options() {
    let dir = crate::common::TempFiles::new();
    let check = cli(dir.path(), &["check", "--help"]);
    let check = String::from_utf8_lossy(&check.stdout);
    assert!(check.contains("--accept") && check.contains("--property <NAME>"), "{check}");
    let matrix = cli(dir.path(), &["matrix", "--help"]);
    assert!(String::from_utf8_lossy(&matrix.stdout).contains("--property <NAME>"));
    let top = cli(dir.path(), &["--help"]);
    assert!(String::from_utf8_lossy(&top.stdout).contains("properties"));
}
