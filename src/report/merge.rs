//! `matrix --merge`: combines the JSON reports of the shards of one suite (or any JSON reports
//! of `check` and `matrix`) into one suite report.
//!
//! Each model's properties are the union of what the inputs report for it. Its search counts
//! are those of the input whose search went furthest (most unique states, then most
//! transitions, then exhaustive): a breadth-first search that watches fewer properties stops
//! at or before the point where the search for all of them stops, and the shard holding the
//! property decided last stops exactly there, so the merged counts equal an unsharded run's.
//! Shard reports must come from one split: the same N, each shard once, every unit covered.
//! The reports of the partitions of a partitioned search (`check --partition`) are first
//! combined into one report per model ([`crate::partition::merge`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ModelReport, SuiteReport, SCHEMA};

/// Why reports could not be merged (bad input: exit 2).
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum MergeError {
    /// A report file cannot be read.
    #[error("{path}: cannot read the report: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// A report file is not a report of `check` or `matrix`.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// Two inputs report the same property of the same model.
    #[error("{second}: reports {model} {property}, which {first} reports too: merge the shards of one run, each once")]
    Twice { model: String, property: String, first: PathBuf, second: PathBuf },
    /// Two inputs disagree about a model (its file or tabs).
    #[error("{second}: model {model} is {what} here but {other} in {first}")]
    Disagree { model: String, what: String, other: String, first: PathBuf, second: PathBuf },
    /// The shards do not make up one whole split.
    #[error("shards: {0}")]
    Shards(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AnyReport {
    Suite(SuiteReport),
    Model(ModelReport),
}

fn read(path: &Path) -> Result<AnyReport, MergeError> {
    let text = crate::input::read_text(path).map_err(|source| MergeError::Read { path: path.into(), source })?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| MergeError::Parse { path: path.into(), message: format!("not JSON: {e}") })?;
    let parse = |what: &str, r: Result<AnyReport, serde_json::Error>| {
        r.map_err(|e| MergeError::Parse { path: path.into(), message: format!("not a {what}: {e}") })
    };
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => parse("suite report", serde_json::from_value(value).map(AnyReport::Suite)),
        Some(other) => Err(MergeError::Parse {
            path: path.into(),
            message: format!("field `schema`: found {other:?}, expected {SCHEMA:?}"),
        }),
        None => parse("one-model report", serde_json::from_value(value).map(AnyReport::Model)),
    }
}

/// Merges the report files `paths` into one suite report (without shard).
pub fn merge(paths: &[PathBuf]) -> Result<SuiteReport, MergeError> {
    let mut models: BTreeMap<String, (PathBuf, ModelReport)> = BTreeMap::new();
    let mut owner: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    let mut shards = Vec::new();
    let (mut inputs, mut partitions) = (Vec::new(), Vec::new());
    for path in paths {
        let parts = match read(path)? {
            AnyReport::Suite(s) => {
                shards.push((path.clone(), s.shard));
                s.models
            }
            AnyReport::Model(m) => {
                shards.push((path.clone(), None));
                vec![m]
            }
        };
        for m in parts {
            if m.partition.is_some() {
                partitions.push((path.clone(), m));
            } else {
                inputs.push((path.clone(), m));
            }
        }
    }
    // The shares of a partitioned search first make one report per model.
    inputs.extend(crate::partition::merge(partitions)?);
    for (path, m) in inputs {
        let path = &path;
        for p in &m.properties {
            let key = (m.model.clone(), p.name.clone());
            if let Some(first) = owner.get(&key) {
                return Err(MergeError::Twice {
                    model: key.0,
                    property: key.1,
                    first: first.clone(),
                    second: path.clone(),
                });
            }
            owner.insert(key, path.clone());
        }
        match models.get_mut(&m.model) {
            None => {
                models.insert(m.model.clone(), (path.clone(), m));
            }
            Some((first, acc)) => {
                let disagree = |what: String, other: String| MergeError::Disagree {
                    model: m.model.clone(),
                    what,
                    other,
                    first: first.clone(),
                    second: path.clone(),
                };
                if acc.file != m.file {
                    return Err(disagree(m.file.display().to_string(), acc.file.display().to_string()));
                }
                if acc.tabs != m.tabs {
                    return Err(disagree(format!("{} tabs", m.tabs), format!("{} tabs", acc.tabs)));
                }
                let further =
                    (m.unique_states, m.states, m.exhaustive) > (acc.unique_states, acc.states, acc.exhaustive);
                let mut props = std::mem::take(&mut acc.properties);
                let mut vacuous = std::mem::take(&mut acc.vacuous);
                // The search that went further reached every bound the other reached.
                let (mut bounds, other) = if further {
                    (m.bounds_hit.clone(), std::mem::take(&mut acc.bounds_hit))
                } else {
                    (std::mem::take(&mut acc.bounds_hit), m.bounds_hit.clone())
                };
                for b in other {
                    if !bounds.contains(&b) {
                        bounds.push(b);
                    }
                }
                props.extend(m.properties.iter().cloned());
                vacuous.extend(m.vacuous.iter().cloned());
                if further {
                    *acc = m;
                }
                acc.properties = props;
                acc.vacuous = vacuous;
                acc.bounds_hit = bounds;
            }
        }
    }
    check_shards(&shards)?;
    Ok(SuiteReport::new(models.into_values().map(|(_, m)| m).collect(), None))
}

fn check_shards(shards: &[(PathBuf, Option<super::ShardInfo>)]) -> Result<(), MergeError> {
    let sharded: Vec<_> = shards.iter().filter_map(|(p, s)| s.map(|s| (p, s))).collect();
    let Some((first_path, first)) = sharded.first() else { return Ok(()) };
    if sharded.len() != shards.len() {
        let whole = shards.iter().find(|(_, s)| s.is_none()).map(|(p, _)| p.display().to_string()).unwrap_or_default();
        return Err(MergeError::Shards(format!("{whole} is not a shard report, but {} is", first_path.display())));
    }
    let n = first.count;
    let mut seen: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (path, s) in &sharded {
        if s.count != n || s.units_total != first.units_total {
            return Err(MergeError::Shards(format!(
                "{} is shard {} of a split with {} units, {} is shard {} with {} units: not one run",
                path.display(),
                s.shard(),
                s.units_total,
                first_path.display(),
                first.shard(),
                first.units_total
            )));
        }
        if let Some(other) = seen.insert(s.index, path) {
            return Err(MergeError::Shards(format!(
                "shard {} appears twice ({} and {})",
                s.shard(),
                other.display(),
                path.display()
            )));
        }
    }
    let missing: Vec<String> = (1..=n).filter(|i| !seen.contains_key(i)).map(|i| format!("{i}/{n}")).collect();
    if !missing.is_empty() {
        return Err(MergeError::Shards(format!("missing shard {} (got {} of {n})", missing.join(", "), seen.len())));
    }
    let units: usize = sharded.iter().map(|(_, s)| s.units).sum();
    if units != first.units_total {
        return Err(MergeError::Shards(format!("the shards cover {units} units, the split has {}", first.units_total)));
    }
    Ok(())
}
