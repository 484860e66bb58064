//! Partitioned search ([`refresh_check::partition`]): the merged reports of the partitions of a
//! search have the whole search's verdicts and shortest counterexample lengths, on every
//! shipped model; the command line refuses what it cannot split, and `matrix --merge`
//! refuses an incomplete set of partitions.

use std::path::PathBuf;

use refresh_check::check::{self, CheckOptions};
use refresh_check::partition::{self, Partition};
use refresh_check::report::ModelReport;
use refresh_check::scenario::{Scenario, Verdict};
use serde_json::Value;

use crate::util::{cli, root};

fn report(sc: &Scenario, partition: Option<Partition>) -> ModelReport {
    let opts = CheckOptions { symmetry: true, partition, ..CheckOptions::default() };
    ModelReport::new(&check::check(sc, &opts).1, String::new(), Vec::new())
}

fn summary(m: &ModelReport) -> Vec<(String, Verdict, Option<usize>)> {
    m.properties.iter().map(|p| (p.name.clone(), p.status, p.steps)).collect()
}

#[test]
fn every_shipped_model_has_the_whole_searchs_verdicts_and_path_lengths_when_split_in_three() {
    let files = crate::util::model_files();
    assert!(files.len() >= 100);
    let (mut split, mut violated) = (0, 0);
    for f in &files {
        let sc = Scenario::load(f).unwrap();
        let whole = report(&sc, None);
        // A shallow split, so that the small models are split too.
        let parts: Vec<(PathBuf, ModelReport)> = (1..=3)
            .map(|index| {
                (
                    f.clone(),
                    report(
                        &sc,
                        Some(Partition { index, count: 3, depth: 4, initial_fingerprint: None, file_hash: None }),
                    ),
                )
            })
            .collect();
        let shares: Vec<u64> = parts.iter().map(|(_, m)| m.unique_states).collect();
        let merged = partition::merge(parts).unwrap();
        assert_eq!(merged.len(), 1);
        let merged = &merged[0].1;
        assert_eq!(summary(merged), summary(&whole), "{}", f.display());
        assert_eq!((merged.complete, merged.outcome), (whole.complete, whole.outcome), "{}", f.display());
        if whole.exhaustive {
            assert!(merged.exhaustive, "{}", f.display());
            // Together the partitions store every state of the whole search at least once.
            assert!(merged.unique_states >= whole.unique_states, "{}", f.display());
            if whole.max_depth > 6 && shares.iter().all(|s| *s < whole.unique_states) {
                split += 1;
            }
        }
        if whole.properties.iter().any(|p| p.status == Verdict::Violated) {
            violated += 1;
        }
    }
    assert!(split >= 20, "only {split} exhaustive models were split so that each partition searched less");
    assert!(violated >= 20, "only {violated} models with a counterexample to compare");
}

fn json(out: &std::process::Output) -> Value {
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn verdicts(v: &Value) -> Vec<(String, String, Option<u64>)> {
    let mut out: Vec<_> = v["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (p["name"].as_str().unwrap().to_string(), p["status"].as_str().unwrap().to_string(), p["steps"].as_u64())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn two_partition_runs_merged_by_matrix_give_the_whole_checks_verdicts() {
    let dir = crate::common::TempFiles::new();
    let m = root().join("models/directus-10.11.1-session.json");
    let m = m.to_str().unwrap();
    let base = ["check", m, "--tabs", "2", "--no-traces", "--format", "json"];
    let whole = json(&cli(dir.path(), &base));
    let mut files = Vec::new();
    let mut shares = Vec::new();
    for i in 1..=2 {
        let mut args = base.to_vec();
        let p = format!("{i}/2");
        args.extend(["--partition", &p, "--partition-depth", "6"]);
        let part = json(&cli(dir.path(), &args));
        assert_eq!(part["partition"]["index"], i);
        assert_eq!(part["partition"]["depth"], 6);
        shares.push(part["unique_states"].as_u64().unwrap());
        let f = dir.path().join(format!("part-{i}.json"));
        std::fs::write(&f, serde_json::to_vec(&part).unwrap()).unwrap();
        files.push(f.to_str().unwrap().to_string());
    }
    let whole_unique = whole["unique_states"].as_u64().unwrap();
    assert!(whole["exhaustive"].as_bool().unwrap() && whole_unique > 1000, "{whole_unique}");
    assert!(shares.iter().all(|s| *s < whole_unique), "{shares:?} vs {whole_unique}: nothing was split");
    let mut args = vec!["matrix", "--format", "json", "-q", "--merge"];
    args.extend(files.iter().map(String::as_str));
    let merged = json(&cli(dir.path(), &args));
    let model = &merged["models"][0];
    assert_eq!(verdicts(model), verdicts(&whole));
    assert_eq!(model["exhaustive"], true);
    assert_eq!(model["outcome"], whole["outcome"]);
    assert!(model.get("partition").is_none());

    // One partition alone is not the whole search: refused, naming what is missing.
    let out = cli(dir.path(), &["matrix", "--merge", &files[0]]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing partition 2 of 2"), "{err}");
    // The same partition twice.
    let out = cli(dir.path(), &["matrix", "--merge", &files[0], &files[0]]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("appears twice"));
    // Share 2 with its recorded `field` changed, merged with share 1: refused, with `why`.
    let refused_with = |field: &str, why: &str| {
        let mut other: Value = serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
        let v = other["partition"][field].as_u64().unwrap_or_else(|| panic!("a share records its {field}"));
        other["partition"][field] = Value::from(v ^ 1);
        let f = dir.path().join(format!("part-2-other-{field}.json"));
        std::fs::write(&f, serde_json::to_vec(&other).unwrap()).unwrap();
        let out = cli(dir.path(), &["matrix", "--merge", &files[0], f.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{err}");
    };
    // A share made by a build that fingerprints states differently owns other states: merged
    // with this build's share it would lose some and repeat others (another build would record
    // another fingerprint of the initial state).
    refused_with("initial_fingerprint", "every share must come from one build");
    // A share of the same path whose file changed between the runs is another model.
    refused_with("file_hash", "the model file changed between the shares' runs");
}

#[test]
fn what_cannot_be_partitioned_is_refused_before_the_search() {
    let dir = crate::common::TempFiles::new();
    let m = root().join("models/directus-10.11.1-session.json");
    let m = m.to_str().unwrap();
    for (args, says) in [
        (vec!["check", m, "--partition", "1/2", "--no-traces", "--strategy", "dfs"], "only a breadth-first search"),
        (vec!["check", m, "--partition", "1/2", "--no-traces", "--counterexamples", "2"], "--counterexamples"),
        (vec!["check", m, "--partition", "1/2"], "--no-traces"),
        (vec!["check", m, "--partition", "3/2", "--no-traces"], "expected I/N with 1 <= I <= N"),
        (vec!["check", m, "--partition-depth", "3", "--no-traces"], "--partition"),
    ] {
        let out = cli(dir.path(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
