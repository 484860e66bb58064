//! Partitioned search: one breadth-first search split over several machines (or processes),
//! each run by an existing job runner (a CI matrix, a batch scheduler), with the reports merged
//! afterwards by `matrix --merge`. No process talks to another.
//!
//! Partition `I` of `N` at depth `D` (`check --partition I/N --partition-depth D`) searches
//! breadth-first exactly as the whole search does up to level `D` (the *prefix*: every state
//! within `D` actions of an initial state), then keeps, of level `D`'s states (the *frontier*),
//! only those whose fingerprint ([`crate::search::fingerprint`], of the representative under
//! symmetry reduction) is `I - 1` modulo `N`, and goes on breadth-first from them alone. The
//! idea is that of hash-partitioned distributed state-space search (Stern and Dill, "Parallelizing
//! the Murφ verifier", CAV 1997), without its message passing: the split is by the frontier
//! state's hash once, so the partitions never exchange states, at the price that a state
//! reachable from the frontiers of two partitions is searched by both.
//!
//! Why the merged verdicts are those of the whole search (with [`merge`]):
//! - Every reachable state at depth `d > D` (its least number of actions) has a shortest path,
//!   whose state after `D` actions is a frontier state (a prefix of a shortest path is a
//!   shortest path), owned by exactly one partition, which therefore reaches the state at the
//!   same depth `d`. States at depth `<= D` are searched by every partition. So the partitions
//!   together explore every reachable state: an invariant that holds in every partition's
//!   (exhaustive) search holds, and one violated in some partition is violated.
//! - Each partition reports the shortest path, within what it searches, to a violation; every
//!   such path is a real path of the whole model (the prefix is the whole search's), and the
//!   partition owning the frontier state of a globally shortest counterexample finds one of
//!   that length. So the shortest of the partitions' counterexamples has the length of the
//!   whole search's shortest counterexample (when every partition either found one or was
//!   exhaustive; a partition stopped by a limit leaves the verdict final but the length
//!   unproven, and the merged report then says `unknown` for a property no partition decided).
//!   The path itself may differ from the whole search's (another of equal length), which is
//!   why partition runs are made with `--no-traces` (or each with its own `--traces` folder).
//!
//! Counts: a merged report's `states` and `unique_states` are the partitions' sums, so the
//! prefix (stored by every partition) and states reachable from two partitions' frontiers are
//! counted more than once; `seconds` is the longest partition's (they run at the same time).
//!
//! Only breadth-first search is partitioned (`--strategy bfs`, the default).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::check::{default_expectation, Ending};
use crate::report::merge::MergeError;
use crate::report::{ModelReport, PropertyReport};
use crate::scenario::Verdict;

/// The default frontier depth (`--partition-depth`): deep enough that the frontier of the
/// protocol models holds thousands of states, so that a hash splits it evenly (on
/// `directus-10.11.1-session --tabs 3`, level 12 holds tens of thousands), shallow enough that
/// the prefix every partition repeats is a small share of the search.
pub const DEFAULT_DEPTH: usize = 12;

/// One share of a partitioned breadth-first search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Which partition, from 1 to `count`.
    pub index: u32,
    /// How many partitions share the search (at least 1).
    pub count: u32,
    /// The frontier depth: the breadth-first level, in actions from an initial state, whose
    /// states are split by fingerprint.
    pub depth: usize,
    /// The fingerprint this build gives the model's initial state (set by the search): a
    /// partition owns states by fingerprint, so shares made by builds that fingerprint
    /// differently own overlapping and missing states, and `matrix --merge` refuses to combine
    /// them. `None` in a report made before this field existed (merged only with others
    /// without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_fingerprint: Option<u64>,
    /// A hash of the model file's bytes as the search read them (set by the search): shares of
    /// one path whose file changed between runs are different models, and `matrix --merge`
    /// refuses to combine them. `None` if the file could not be read again, or in a report made
    /// before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_hash: Option<u64>,
}

impl Partition {
    /// Whether this partition searches on from the frontier state with fingerprint `fp`.
    pub fn owns(&self, fp: u64) -> bool {
        // The fingerprint's high bits: ahash mixes them as well as the low ones, and the
        // fingerprint table indexes by the low ones.
        (fp >> 32) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

/// `I/N`, as given to `--partition` (the depth comes from `--partition-depth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionArg {
    /// Which partition, from 1 to `count`.
    pub index: u32,
    /// How many partitions.
    pub count: u32,
}

impl FromStr for PartitionArg {
    type Err = String;
    fn from_str(s: &str) -> Result<PartitionArg, String> {
        let shard: crate::suite::Shard = s.parse()?;
        Ok(PartitionArg { index: shard.index, count: shard.count })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} at depth {}", self.index, self.count, self.depth)
    }
}

/// Merges the reports of the partitions of each model into one report per model (in model
/// name order): `reports` holds every input report of a model that carries a partition, with
/// the file it came from. Errors (bad input, exit 2): partitions that disagree about the
/// model (file, tabs, symmetry, split), a partition given twice, or one missing.
pub fn merge(reports: Vec<(PathBuf, ModelReport)>) -> Result<Vec<(PathBuf, ModelReport)>, MergeError> {
    let mut by_model: BTreeMap<String, Vec<(PathBuf, ModelReport)>> = BTreeMap::new();
    for (path, m) in reports {
        by_model.entry(m.model.clone()).or_default().push((path, m));
    }
    by_model.into_values().map(merge_one).collect()
}

fn merge_one(mut parts: Vec<(PathBuf, ModelReport)>) -> Result<(PathBuf, ModelReport), MergeError> {
    parts.sort_by_key(|(_, m)| m.partition.map(|p| p.index));
    let (first_path, first) = &parts[0];
    let split = first.partition.expect("only partition reports are merged here");
    let name = first.model.clone();
    for (path, m) in &parts[1..] {
        let disagree = |what: String, other: String| MergeError::Disagree {
            model: name.clone(),
            what,
            other,
            first: first_path.clone(),
            second: path.clone(),
        };
        let p = m.partition.expect("only partition reports are merged here");
        if m.file != first.file {
            return Err(disagree(m.file.display().to_string(), first.file.display().to_string()));
        }
        if m.tabs != first.tabs {
            return Err(disagree(format!("{} tabs", m.tabs), format!("{} tabs", first.tabs)));
        }
        if m.symmetry != first.symmetry {
            let words = |s: bool| if s { "symmetry-reduced" } else { "unreduced" }.to_string();
            return Err(disagree(words(m.symmetry), words(first.symmetry)));
        }
        if m.dead_values != first.dead_values {
            let words = |s: bool| if s { "with dead values reset" } else { "without dead-value reduction" }.to_string();
            return Err(disagree(words(m.dead_values), words(first.dead_values)));
        }
        if (p.count, p.depth) != (split.count, split.depth) {
            return Err(disagree(format!("partition {p}"), format!("partition {split}")));
        }
        if p.file_hash != split.file_hash {
            let words = |f: Option<u64>| match f {
                Some(f) => format!("the file's content hashed as {f:016x}"),
                None => "no record of the file's content".to_string(),
            };
            return Err(disagree(
                format!("{} (the model file changed between the shares' runs)", words(p.file_hash)),
                words(split.file_hash),
            ));
        }
        if p.initial_fingerprint != split.initial_fingerprint {
            let words = |f: Option<u64>| match f {
                Some(f) => format!("a build that fingerprints the initial state as {f:016x}"),
                None => "a build that does not record its fingerprints".to_string(),
            };
            return Err(disagree(
                format!("{} (every share must come from one build of refresh-check)", words(p.initial_fingerprint)),
                words(split.initial_fingerprint),
            ));
        }
    }
    let seen: Vec<u32> = parts.iter().map(|(_, m)| m.partition.map_or(0, |p| p.index)).collect();
    for w in seen.windows(2) {
        if w[0] == w[1] {
            return Err(MergeError::Shards(format!("{name}: partition {}/{} appears twice", w[0], split.count)));
        }
    }
    let missing: Vec<String> = (1..=split.count).filter(|i| !seen.contains(i)).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        return Err(MergeError::Shards(format!(
            "{name}: missing partition {} of {} (got {})",
            missing.join(", "),
            split.count,
            seen.len()
        )));
    }

    let mut names: Vec<String> = Vec::new();
    for (_, m) in &parts {
        for p in &m.properties {
            if !names.contains(&p.name) {
                names.push(p.name.clone());
            }
        }
    }
    let properties: Vec<PropertyReport> = names
        .iter()
        .map(|n| {
            let each: Vec<&PropertyReport> =
                parts.iter().filter_map(|(_, m)| m.properties.iter().find(|p| &p.name == n)).collect();
            merge_property(&each, each.len() == parts.len())
        })
        .collect();

    let exhaustive = parts.iter().all(|(_, m)| m.exhaustive);
    let ending = if exhaustive {
        Ending::Exhaustive
    } else {
        parts
            .iter()
            .map(|(_, m)| m.ending)
            .find(|e| !matches!(e, Ending::Exhaustive | Ending::AllDecided))
            .unwrap_or(Ending::AllDecided)
    };
    let mut bounds = Vec::new();
    for (_, m) in &parts {
        for b in &m.bounds_hit {
            if !bounds.contains(b) {
                bounds.push(b.clone());
            }
        }
    }
    let mut merged = ModelReport {
        model: name,
        file: first.file.clone(),
        policy: first.policy.clone(),
        tabs: first.tabs,
        devices: first.devices,
        client_word: first.client_word.clone(),
        complete: false,
        exhaustive,
        ending,
        states: parts.iter().map(|(_, m)| m.states).sum(),
        unique_states: parts.iter().map(|(_, m)| m.unique_states).sum(),
        symmetry: first.symmetry,
        dead_values: first.dead_values,
        partition: None,
        max_depth: parts.iter().map(|(_, m)| m.max_depth).max().unwrap_or(0),
        seconds: parts.iter().map(|(_, m)| m.seconds).fold(0.0, f64::max),
        vacuous: Vec::new(),
        bounds_hit: bounds,
        outcome: crate::check::Outcome::AsExpected,
        properties,
        counterexamples_ending: None,
        // Every share answers the queries over the whole model: the first share's answers.
        queries: first.queries.clone(),
    };
    merged.vacuous = merged
        .properties
        .iter()
        .filter(|p| {
            p.kind == crate::properties::Kind::Sometimes
                && p.applies
                && p.status == Verdict::Unreached
                && p.expected != Some(Verdict::Unreached)
        })
        .map(|p| p.name.clone())
        .collect();
    merged.settle();
    Ok((first_path.clone(), merged))
}

/// One property over the partitions that report it (`all`: every partition does): found
/// (violated, reached) if some partition found it, with the shortest of their paths (the first
/// partition's among equals); holds or unreached only if every partition says so; otherwise
/// unknown.
fn merge_property(each: &[&PropertyReport], all: bool) -> PropertyReport {
    let first = each[0];
    let found = each
        .iter()
        .filter(|p| matches!(p.status, Verdict::Violated | Verdict::Reached))
        .min_by_key(|p| p.steps.unwrap_or(usize::MAX));
    let status = match found {
        Some(p) => p.status,
        None if all && each.iter().all(|p| p.status == first.status) && first.status != Verdict::Unknown => {
            first.status
        }
        None => Verdict::Unknown,
    };
    let wanted = first.expected.unwrap_or(default_expectation(first.kind, first.applies));
    PropertyReport {
        name: first.name.clone(),
        kind: first.kind,
        claim: first.claim.clone(),
        applies: first.applies,
        status,
        expected: first.expected,
        as_expected: (status != Verdict::Unknown).then_some(status == wanted),
        path: found.and_then(|p| p.path.clone()),
        steps: found.and_then(|p| p.steps),
        trace: found.and_then(|p| p.trace.clone()),
        golden: None,
        counterexamples: Vec::new(),
    }
}
