//! Symmetry reduction over tabs ([`refresh_check::model::symmetry`]) must not change any
//! verdict or the length of any shortest counterexample, on every shipped model, and must
//! store fewer states wherever there are interchangeable tabs.

use refresh_check::check::{self, CheckOptions, Results};
use refresh_check::properties::Kind;
use refresh_check::scenario::Scenario;

use crate::util::root;

fn check(sc: &Scenario, symmetry: bool) -> Results {
    check::check(sc, &CheckOptions { symmetry, ..CheckOptions::default() }).1
}

fn summary(r: &Results) -> Vec<(&'static str, String, Option<usize>)> {
    r.properties.iter().map(|p| (p.name, format!("{:?}", p.status), p.steps)).collect()
}

#[test]
fn every_shipped_model_has_the_same_verdicts_and_path_lengths_with_and_without_symmetry() {
    let files = crate::util::model_files();
    assert!(files.len() >= 2);
    let (mut reduced, mut unsupported) = (0, 0);
    for f in &files {
        let sc = Scenario::load(f).unwrap();
        let (with, without) = (check(&sc, true), check(&sc, false));
        assert_eq!(summary(&with), summary(&without), "{}", f.display());
        assert_eq!(with.complete, without.complete, "{}", f.display());
        assert!(with.unique_states <= without.unique_states, "{}", f.display());
        if !refresh_check::model::symmetry::supported(&sc) {
            // Tabs are not interchangeable here: the search runs without reduction.
            assert_eq!(with.unique_states, without.unique_states, "{}: reduced though unsupported", f.display());
            unsupported += 1;
        } else if with.exhaustive && sc.browser.tabs >= 2 {
            assert!(with.unique_states < without.unique_states, "{}: nothing reduced", f.display());
            reduced += 1;
        }
    }
    assert!(reduced >= 1, "no exhaustive multi-tab model to compare");
    assert!(unsupported >= 1, "no model where symmetry must stay off");
}

#[test]
fn symmetry_keeps_holds_verdicts_and_counts_fewer_states_as_tabs_grow() {
    let sc = Scenario::load(&root().join("models/directus-pr22433-stable-id.json")).unwrap();
    let mut last = (0, 0);
    for tabs in 2..=3 {
        let sc = sc.clone().with_tabs(tabs).unwrap();
        let (with, without) = (check(&sc, true), check(&sc, false));
        assert!(with.exhaustive && without.exhaustive);
        assert_eq!(summary(&with), summary(&without), "{tabs} tabs");
        assert!(with.unique_states > last.0 && without.unique_states > last.1);
        // Fewer states, but never fewer than one per orbit of at most tabs! states.
        let orbit = (1..=u64::from(tabs)).product::<u64>();
        assert!(with.unique_states < without.unique_states, "{tabs} tabs");
        assert!(
            with.unique_states * orbit >= without.unique_states,
            "{tabs} tabs: {} vs {}",
            with.unique_states,
            without.unique_states
        );
        last = (with.unique_states, without.unique_states);
    }
}

/// Symmetry reduction is on by default where tabs are interchangeable: the report counts
/// classes and says so; `--no-symmetry` gives the unreduced count; `--symmetry` is still
/// accepted, and the last of the two flags wins.
#[test]
fn check_reduces_by_default_and_no_symmetry_gives_the_unreduced_count() {
    let dir = crate::common::TempFiles::new();
    let model = root().join("models/directus-pr22433-stable-id.json");
    let model = model.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["check", model, "--no-traces", "--format", "json"];
        args.extend_from_slice(extra);
        let out = crate::util::cli(dir.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["unique_states"].as_u64().unwrap(), v["symmetry"].as_bool().unwrap())
    };
    let (default, with, without) = (run(&[]), run(&["--symmetry"]), run(&["--no-symmetry"]));
    assert_eq!(default, with);
    assert!(default.1 && !without.1);
    assert!(with.0 < without.0 && with.0 * 6 >= without.0, "{with:?} vs {without:?}");
    assert_eq!(run(&["--symmetry", "--no-symmetry"]), without);
    assert_eq!(run(&["--no-symmetry", "--symmetry"]), with);
    // The text report says which search it counts.
    let out = crate::util::cli(dir.path(), &["check", model, "--no-traces"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{} unique (symmetry-reduced, dead values reset)", with.0)), "{text}");
    let out = crate::util::cli(dir.path(), &["check", model, "--no-traces", "--no-dead-values"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{} unique (symmetry-reduced),", with.0)), "{text}");
    let out = crate::util::cli(dir.path(), &["check", model, "--no-traces", "--no-symmetry"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unique (dead values reset),"), "{text}");
}

/// Where a tab has a role of its own (the broadcast leader is tab A), the default search is
/// unreduced and the report says so.
#[test]
fn check_does_not_reduce_where_tabs_are_not_interchangeable() {
    let dir = crate::common::TempFiles::new();
    let model = root().join("models/broadcast-leader-closed-follower-refreshes.json");
    let sc = Scenario::load(&model).unwrap();
    assert!(!refresh_check::model::symmetry::supported(&sc));
    let out = crate::util::cli(dir.path(), &["check", model.to_str().unwrap(), "--no-traces", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["symmetry"], false);
    assert_eq!(v["unique_states"].as_u64().unwrap(), check(&sc, false).unique_states);
}

/// With `time.max_in_flight_ticks` the model's history records when each message in flight was
/// sent, tab indices included: the representative must rename it too, or the search's replay of
/// a canonical path from real states finds no matching step and panics (found on a hand-written
/// session-table server with the bound 0). Every shipped model whose tabs are interchangeable,
/// with the bound 0 and 1, keeps its verdicts and path lengths under symmetry reduction.
#[test]
fn symmetry_renames_the_in_flight_history_of_a_bounded_network() {
    let mut compared = 0;
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let sc = Scenario::load(&path).unwrap();
        if !refresh_check::model::symmetry::supported(&sc) || sc.browser.tabs < 2 {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for bound in [0, 1] {
            let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
            v["time"]["max_in_flight_ticks"] = bound.into();
            let Ok(sc) = Scenario::parse(&path, &v.to_string()) else { continue };
            let opts = |symmetry| CheckOptions { symmetry, max_states: Some(200_000), ..CheckOptions::default() };
            let with = check::check(&sc, &opts(true)).1;
            let without = check::check(&sc, &opts(false)).1;
            if !(with.exhaustive && without.exhaustive) {
                continue;
            }
            assert_eq!(summary(&with), summary(&without), "{} with max_in_flight_ticks {bound}", path.display());
            assert!(with.unique_states < without.unique_states, "{}: nothing reduced", path.display());
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} bounded models compared");
}

/// `file` with `patch` merged into it (RFC 7396) and its `expect` block dropped.
fn variant(file: &str, patch: serde_json::Value) -> Scenario {
    fn merge(t: &mut serde_json::Value, p: &serde_json::Value) {
        match (t, p) {
            (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
            (t, p) => *t = p.clone(),
        }
    }
    let path = root().join("models").join(file);
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    merge(&mut v, &patch);
    v.as_object_mut().unwrap().remove("expect");
    Scenario::parse(&path, &v.to_string()).unwrap()
}

/// Beyond the Directus-style models: authorization servers (their handlers, waiting requests,
/// sticky routes, undo logs and step timers name tabs), requesters and reloads (addresses), and
/// partial symmetry (a single broadcast leader keeps tab A; render paths are renamed only among
/// themselves). Each variant is reduced, keeps every verdict and shortest counterexample length,
/// stores strictly fewer states, and every counterexample of the reduced search replays as a
/// real action sequence of the model that ends in a state violating (or, for a reachability
/// property, satisfying) the property.
#[test]
fn reduction_beyond_directus_keeps_verdicts_lengths_and_replayable_paths() {
    use serde_json::json;
    use stateright::Model;
    let cases = [
        ("supabase-2022-c03-three-tabs.json", json!({})),
        ("c09-keycloak-cluster-lost-update.json", json!({"browser": {"logins": "per-device"}})),
        ("keycloak-6615-offline-logout-cache-only.json", json!({})),
        ("c13-supabase-rollback.json", json!({})),
        ("mas-pr3650-replay-refused-after-first-use.json", json!({"browser": {"tabs": 2}})),
        ("spring-as-rotate-theft.json", json!({"browser": {"tabs": 2}})),
        ("okta-rotate.json", json!({"time": {"max_ticks": 1, "max_in_flight_ticks": 0}})),
        ("inite-641-page-fetches-race.json", json!({"browser": {"tabs": 2}})),
        ("nhost-hbp-220-reload-cancels-refresh.json", json!({"browser": {"tabs": 2}})),
        ("oidc-client-ts-pr434-single-leader.json", json!({})),
        ("broadcast-leader-closed-follower-refreshes.json", json!({"browser": {"tabs": 3}})),
        ("broadcast-leader-closed-until-used.json", json!({"browser": {"tabs": 3}})),
        ("c05-ssr-cannot-write-cookies.json", json!({"browser": {"tabs": 3}})),
        ("c06-nextauth-single-use.json", json!({"browser": {"tabs": 3, "ssr_paths": 2}})),
    ];
    let mut violated = 0;
    for (file, patch) in cases {
        let sc = variant(file, patch);
        assert!(refresh_check::model::symmetry::supported(&sc), "{file}: not reduced");
        let (model, with) = check::check(&sc, &CheckOptions { symmetry: true, ..CheckOptions::default() });
        let without = check(&sc, false);
        assert!(with.symmetry && !without.symmetry, "{file}");
        assert!(with.exhaustive && without.exhaustive, "{file}");
        assert_eq!(summary(&with), summary(&without), "{file}");
        assert!(with.unique_states < without.unique_states, "{file}: nothing reduced");
        for p in with.properties.iter() {
            let Some(path) = &p.path else { continue };
            let (first, steps) = refresh_check::search::replay(&model, path)
                .unwrap_or_else(|k| panic!("{file} {}: step {k} does not replay", p.name));
            assert_eq!(Some(steps.len()), p.steps, "{file} {}", p.name);
            let last = steps.last().map_or(&first, |(_, s)| s);
            let property = model.properties().into_iter().find(|q| q.name == p.name).unwrap();
            let holds_at_end = (property.condition)(&model, last);
            match p.kind {
                Kind::Always => assert!(!holds_at_end, "{file} {}: the path's end satisfies it", p.name),
                Kind::Sometimes => assert!(holds_at_end, "{file} {}: the path's end does not reach it", p.name),
            }
            violated += 1;
        }
    }
    assert!(violated >= 10, "only {violated} counterexamples replayed");
}
