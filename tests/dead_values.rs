//! Dead-value reduction ([`refresh_check::model::dead`]) must not change any verdict, any
//! shortest counterexample or any golden trace's path, on every shipped model, and must store
//! fewer states where the server keeps values no step or property reads again.

use refresh_check::check::{self, CheckOptions, Results};
use refresh_check::model::dead;
use refresh_check::scenario::Scenario;

use crate::util::{root, scenario};

fn check(sc: &Scenario, symmetry: bool, dead_values: bool) -> Results {
    check::check(sc, &CheckOptions { symmetry, dead_values, ..CheckOptions::default() }).1
}

/// Every property's verdict, path length and path.
fn summary(r: &Results) -> Vec<(&'static str, String, Option<usize>, Option<String>)> {
    r.properties.iter().map(|p| (p.name, format!("{:?}", p.status), p.steps, p.path_encoded.clone())).collect()
}

#[test]
fn every_shipped_model_has_the_same_verdicts_and_paths_with_and_without_dead_values() {
    let files = crate::util::model_files();
    assert!(files.len() >= 100, "{} model files", files.len());
    let (mut reduced, mut untouched, mut goldens) = (0, 0, 0);
    for f in &files {
        let sc = Scenario::load(f).unwrap();
        // As `check` runs by default (symmetry where tabs are interchangeable).
        let (with, without) = (check(&sc, true, true), check(&sc, true, false));
        assert_eq!(summary(&with), summary(&without), "{}", f.display());
        assert_eq!((with.complete, with.exhaustive), (without.complete, without.exhaustive), "{}", f.display());
        assert_eq!(with.max_depth, without.max_depth, "{}", f.display());
        assert!(with.unique_states <= without.unique_states, "{}", f.display());
        assert_eq!(with.dead_values, dead::applies(&sc), "{}", f.display());
        if !dead::applies(&sc) {
            assert_eq!(with.unique_states, without.unique_states, "{}: reduced though not applicable", f.display());
            untouched += 1;
        } else if with.unique_states < without.unique_states {
            reduced += 1;
        }
        // The golden traces are the paths found.
        for p in &with.properties {
            let golden = root().join(format!("traces/{}.{}.json", sc.name, p.name));
            let Ok(g) = std::fs::read_to_string(&golden) else { continue };
            let g: serde_json::Value = serde_json::from_str(&g).unwrap();
            assert_eq!(p.path_encoded.as_deref(), g["path"].as_str(), "{}.{}", sc.name, p.name);
            goldens += 1;
        }
    }
    // Measured on the 135 shipped models: 13 reduced, 230 505 unique states in all without
    // the reduction and 101 201 with it.
    assert!(reduced >= 10, "only {reduced} models reduced");
    assert!(untouched >= 10, "{untouched} authorization-server models");
    assert!(goldens >= 50, "{goldens} golden traces compared");
}

#[test]
fn the_three_tab_directus_question_stores_a_seventh_of_the_states() {
    let sc = scenario("models/directus-10.11.1-session.json", Some(3));
    let (with, without) = (check(&sc, true, true), check(&sc, true, false));
    assert!(with.exhaustive && without.exhaustive);
    assert_eq!(summary(&with), summary(&without));
    // Measured: 388 420 symmetry classes without the reduction, 52 625 with it (7.4 times
    // fewer), the transitions 1 190 244 and 161 150.
    assert_eq!((without.unique_states, without.states), (388_420, 1_190_244));
    assert_eq!((with.unique_states, with.states), (52_625, 161_150));
    assert_eq!(with.max_depth, 41);
}

#[test]
fn dead_values_alone_keep_verdicts_and_paths_without_symmetry() {
    // json mode renames rows (W1): no value of its 2-tab search is dead, nothing is reduced.
    for (file, tabs, fewer) in [
        ("models/directus-10.11.1-session.json", 2, true),
        ("models/directus-10.10-session-clock.json", 2, true),
        ("models/directus-10.11.1-json.json", 2, false),
        ("models/directus-10.11.1-session-slow.json", 2, true),
    ] {
        let sc = scenario(file, Some(tabs));
        let (with, without) = (check(&sc, false, true), check(&sc, false, false));
        assert!(with.exhaustive && !with.symmetry && with.dead_values, "{file}");
        assert_eq!(summary(&with), summary(&without), "{file}");
        assert_eq!(
            with.unique_states < without.unique_states,
            fewer,
            "{file}: {} and {}",
            with.unique_states,
            without.unique_states
        );
        assert!(with.unique_states <= without.unique_states, "{file}");
    }
}

#[test]
fn the_command_line_resets_dead_values_unless_told_not_to() {
    let dir = crate::common::TempFiles::new();
    let m = root().join("models/directus-10.11.1-session.json");
    let m = m.to_str().unwrap();
    let count = |extra: &[&str]| {
        let mut args = vec!["check", m, "--tabs", "3", "--no-traces", "--format", "json"];
        args.extend_from_slice(extra);
        let out = crate::util::cli(dir.path(), &args);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["unique_states"].as_u64().unwrap(), v["dead_values"].as_bool().unwrap(), v["symmetry"].as_bool().unwrap())
    };
    assert_eq!(count(&[]), (52_625, true, true));
    assert_eq!(count(&["--no-dead-values"]), (388_420, false, true));
    // Dead values alone: 298 779 states, against 2 261 462 with neither reduction.
    assert_eq!(count(&["--no-symmetry"]), (298_779, true, false));
}
