//! Checking a suite of model files: which files, which share of the work (`--shard I/N`), and
//! the checks of one model with its golden traces.
//!
//! The work of a suite is the list of **units** `(model file, property)`: model files sorted by
//! path, and for each the properties in catalogue order ([`crate::properties::ALL`]). With
//! `--shard I/N` the list is cut into N consecutive runs of ⌊U/N⌋ or ⌈U/N⌉ units (U units in
//! all; the first U mod N runs are the longer ones) and shard I (1-based) checks the I-th run.
//! Consecutive runs keep a model's properties together as far as the cut allows, so a model is
//! searched by at most a few shards, and each searches only for its own properties (the search
//! stops once those are decided). The assignment depends only on the sorted file list and the
//! catalogue, so every job of a CI matrix computes the same split.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use crate::properties;
use crate::scenario::{Scenario, ScenarioError};

/// Why the suite could not be assembled (bad input: exit 2).
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum SuiteError {
    /// A path given on the command line does not exist or cannot be read.
    #[error("{path}: cannot read the {what}: {source}")]
    Read { path: PathBuf, what: &'static str, source: std::io::Error },
    /// A folder holds no `*.json` file.
    #[error("{path}: no *.json files in this folder")]
    EmptyFolder { path: PathBuf },
    /// A model file is invalid.
    #[error(transparent)]
    Model(#[from] ScenarioError),
    /// A folder holds a symbolic link back to itself or to a folder above it: walking it would
    /// read the same files again and again.
    #[error("{path}: a symbolic link loop (it leads back to {target}); expected a tree of folders")]
    Loop { path: PathBuf, target: PathBuf },
    /// Two model files share a `name`, so their trace files would overwrite each other.
    #[error("{second}: field `name`: found {name:?}, expected a name no other model file uses ({first} uses it; trace files are named after it)")]
    DuplicateName { name: String, first: PathBuf, second: PathBuf },
}

/// `path` without `.` components, and relative to the working folder when it lies inside it,
/// so that reports and trace files name `models/x.json` however the folder was written.
pub fn tidy(path: &Path) -> PathBuf {
    let path = match std::env::current_dir() {
        Ok(cwd) if path.is_absolute() => path.strip_prefix(&cwd).map(Path::to_path_buf).unwrap_or(path.into()),
        _ => path.to_path_buf(),
    };
    let tidy: PathBuf = path.components().filter(|c| *c != Component::CurDir).collect();
    if tidy.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        tidy
    }
}

/// Expands files and folders into `*.json` files: a file is taken as given, a folder gives every
/// `*.json` file under it (sub-folders included). The result is sorted by path and has no
/// duplicates.
/// `what` names them in errors (`"model file"`).
pub fn json_files(args: &[PathBuf], what: &'static str) -> Result<Vec<PathBuf>, SuiteError> {
    let mut out = Vec::new();
    for arg in args {
        let meta = std::fs::metadata(arg).map_err(|source| SuiteError::Read { path: arg.clone(), what, source })?;
        if meta.is_dir() {
            let before = out.len();
            let mut above = Vec::new();
            walk(arg, what, &mut above, &mut out)?;
            if out.len() == before {
                return Err(SuiteError::EmptyFolder { path: arg.clone() });
            }
        } else {
            out.push(tidy(arg));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Walks `dir`; `above` holds the canonical paths of the folders being walked (`dir`'s
/// ancestors in the walk), so that a link back to one of them is found.
fn walk(dir: &Path, what: &'static str, above: &mut Vec<PathBuf>, out: &mut Vec<PathBuf>) -> Result<(), SuiteError> {
    let read = |source| SuiteError::Read { path: dir.into(), what, source };
    let canonical = dir.canonicalize().map_err(read)?;
    if above.contains(&canonical) {
        return Err(SuiteError::Loop { path: tidy(dir), target: canonical });
    }
    above.push(canonical);
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        let is_dir = match std::fs::metadata(&path) {
            Ok(m) => m.is_dir(),
            Err(source) if is_link_loop(&source) => return Err(SuiteError::Read { path: tidy(&path), what, source }),
            Err(_) => false,
        };
        if is_dir {
            walk(&path, what, above, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(tidy(&path));
        }
    }
    above.pop();
    Ok(())
}

/// Whether `e` says that a path's symbolic links loop (`ELOOP`).
fn is_link_loop(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(libc::ELOOP);
    #[cfg(not(unix))]
    return false;
}

/// Loads every model file (see [`json_files`]), each with `tabs` if given; rejects two files
/// with one `name`.
pub fn load(args: &[PathBuf], tabs: Option<u8>) -> Result<Vec<Scenario>, SuiteError> {
    let mut out: Vec<Scenario> = Vec::new();
    for file in json_files(args, "model file")? {
        let mut sc = Scenario::load(&file)?;
        if let Some(t) = tabs {
            sc = sc.with_tabs(t)?;
        }
        if let Some(first) = out.iter().find(|o| o.name == sc.name) {
            return Err(SuiteError::DuplicateName { name: sc.name, first: first.path.clone(), second: sc.path });
        }
        out.push(sc);
    }
    Ok(out)
}

/// One share of a suite: shard `index` of `count`, 1-based (`--shard 2/3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// Which shard, from 1 to `count`.
    pub index: u32,
    /// How many shards share the suite.
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("found {s:?}, expected I/N with 1 <= I <= N, e.g. 2/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse::<u32>().map_err(|_| bad())?, n.trim().parse::<u32>().map_err(|_| bad())?);
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The work of a suite for one shard (or all of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Per model (index into the suite's scenarios, in order): the properties to check. Models
    /// with nothing to check are left out.
    pub models: Vec<(usize, Vec<&'static str>)>,
    /// Units in this plan.
    pub units: usize,
    /// Units in the whole suite.
    pub units_total: usize,
}

/// The units of shard `shard` (all units for `None`) of a suite of `models` model files.
pub fn plan(models: usize, shard: Option<Shard>) -> Plan {
    plan_of(models, shard, &[])
}

/// The units of shard `shard` of a suite of `models` model files, each checked for the
/// properties `only` (`--property`; empty: the whole catalogue). The units are the model files
/// times those properties, in catalogue order, so shards share only the selected work.
pub fn plan_of(models: usize, shard: Option<Shard>, only: &[&str]) -> Plan {
    let selected: Vec<&'static str> =
        properties::ALL.iter().map(|p| p.name).filter(|n| only.is_empty() || only.contains(n)).collect();
    let per = selected.len();
    let total = models * per;
    let (lo, hi) = match shard {
        None => (0, total),
        Some(Shard { index, count }) => {
            let (i, n) = (index as usize - 1, count as usize);
            let start = |k: usize| k * (total / n) + k.min(total % n);
            (start(i), start(i + 1))
        }
    };
    let mut out: Vec<(usize, Vec<&'static str>)> = Vec::new();
    for u in lo..hi {
        let (m, p) = (u / per, selected[u % per]);
        match out.last_mut() {
            Some((last, props)) if *last == m => props.push(p),
            _ => out.push((m, vec![p])),
        }
    }
    Plan { models: out, units: hi - lo, units_total: total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cut_the_units_into_consecutive_runs_that_cover_each_unit_once() {
        let per = properties::ALL.len();
        for models in 1..5 {
            for n in 1..(2 * models * per + 2) as u32 {
                let mut seen = Vec::new();
                let mut sizes = Vec::new();
                for i in 1..=n {
                    let p = plan(models, Some(Shard { index: i, count: n }));
                    assert_eq!(p.units_total, models * per);
                    sizes.push(p.units);
                    for (m, props) in p.models {
                        for q in props {
                            seen.push((m, properties::ALL.iter().position(|x| x.name == q).unwrap()));
                        }
                    }
                }
                let all: Vec<_> = (0..models).flat_map(|m| (0..per).map(move |q| (m, q))).collect();
                assert_eq!(seen, all, "{models} models, {n} shards: in order, each once");
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "balanced: {sizes:?}");
            }
        }
        assert_eq!(plan(3, None).units, 3 * per);
    }

    #[test]
    fn a_selection_of_properties_is_all_the_units_and_shards_split_it() {
        let only = ["sign_out_completes", "no_spurious_logout"];
        let p = plan_of(2, None, &only);
        assert_eq!(p.units_total, 4);
        assert_eq!(
            p.models,
            vec![
                (0, vec!["no_spurious_logout", "sign_out_completes"]),
                (1, vec!["no_spurious_logout", "sign_out_completes"])
            ]
        );
        let second = plan_of(2, Some(Shard { index: 2, count: 2 }), &only);
        assert_eq!(second.models, vec![(1, vec!["no_spurious_logout", "sign_out_completes"])]);
    }

    #[test]
    fn shard_syntax_is_checked() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("expected I/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn tidy_drops_dot_components() {
        assert_eq!(tidy(Path::new("./models/./a.json")), PathBuf::from("models/a.json"));
    }
}
