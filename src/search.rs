//! Explicit-state search over any stateright [`Model`]: breadth-first (shortest
//! counterexamples) and depth-first (then minimised breadth-first).
//!
//! stateright 0.31's own checkers fall short for us (see `shared/research/stateright.md` §3):
//! its BFS overwrites a discovery with later, longer paths (§3.4), ignores symmetry, and keeps
//! about 88 bytes per state; its `timeout` does nothing with one thread. This module keeps one
//! map from a state's 64-bit fingerprint to its parent's fingerprint, searches level by level,
//! and records each property's *first* discovery, which in breadth-first order is at the least
//! depth. Paths are rebuilt by replaying the model from an initial state and matching
//! fingerprints, so they are real action sequences, re-checkable by anyone.
//!
//! Fingerprints are 64-bit hashes (ahash with fixed seeds); two distinct states collide with
//! probability about n²/2⁶⁵ for n states, as in stateright, Spin's hash compaction and TLC.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nohash_hasher::NoHashHasher;
use stateright::{Expectation, Model};

/// Search order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Breadth-first: every discovery is a shortest path.
    Bfs,
    /// Depth-first; discoveries are then shortened by a breadth-first search bounded by their
    /// length, so reported paths are still shortest.
    Dfs,
}

/// Why a search stopped before it was exhaustive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// `max_depth` actions were reached on some path with successors left unexplored.
    DepthBound,
    /// `max_states` unique states were stored.
    StateBound,
    /// The wall-clock `timeout` passed.
    Timeout,
    /// The caller's cancel flag was raised (Ctrl-C, SIGTERM).
    Interrupted,
    /// The process's resident memory reached `max_memory`.
    MemoryBound,
}

/// Search parameters.
pub struct SearchConfig<S> {
    /// Search order.
    pub strategy: Strategy,
    /// Explore paths of at most this many actions.
    pub max_depth: Option<usize>,
    /// Stop after this many unique states.
    pub max_states: Option<u64>,
    /// Stop after this much wall-clock time.
    pub timeout: Option<Duration>,
    /// Stop when this flag becomes true.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Stop when the process's resident memory reaches this many bytes
    /// ([`crate::limits::resident_bytes`], read with the cancel flag, every 1024 states).
    pub max_memory: Option<u64>,
    /// Maps a state to the representative of its symmetry class (symmetry reduction); `None`:
    /// no reduction. It must map symmetric states to the same value and keep every property's
    /// value.
    pub symmetry: Option<fn(&S) -> S>,
}

impl<S> Default for SearchConfig<S> {
    fn default() -> Self {
        SearchConfig {
            strategy: Strategy::Bfs,
            max_depth: None,
            max_states: None,
            timeout: None,
            cancel: None,
            max_memory: None,
            symmetry: None,
        }
    }
}

/// A path: the index of the initial state, then the index of each action in the (sorted)
/// action list of the state it leaves. The same encoding as stateright's `Path::encode`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IndexPath {
    /// Index into `init_states()`.
    pub init: usize,
    /// Action indices, one per step.
    pub actions: Vec<usize>,
}

impl IndexPath {
    /// `"init/a1/a2/…"`, as in stateright's Explorer URLs.
    pub fn encode(&self) -> String {
        std::iter::once(self.init)
            .chain(self.actions.iter().copied())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// What a search found.
#[derive(Clone, Debug)]
pub struct SearchOutcome {
    /// Per property (in `model.properties()` order): the first discovery, a shortest path to
    /// a state violating an `always` or satisfying a `sometimes` property.
    pub discoveries: Vec<Option<IndexPath>>,
    /// Transitions generated within the boundary (revisits included): a count.
    pub states: u64,
    /// Distinct states stored (after symmetry reduction, if any): a count.
    pub unique_states: u64,
    /// The most actions on any explored path.
    pub max_depth: usize,
    /// Whether every reachable state was explored.
    pub exhaustive: bool,
    /// Why the search stopped early, if it did for a limit (not for having decided everything).
    pub stopped: Option<Stop>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

type FpMap = HashMap<u64, u64, BuildHasherDefault<NoHashHasher<u64>>>;

/// The 64-bit fingerprint of a state (never 0, which marks "no parent").
pub fn fingerprint<T: Hash>(value: &T) -> u64 {
    let fp = ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
    .hash_one(value);
    fp.max(1)
}

/// Runs a search. Properties with [`Expectation::Eventually`] are not supported and are never
/// discovered.
pub fn search<M>(model: &M, cfg: &SearchConfig<M::State>) -> SearchOutcome
where
    M: Model,
    M::State: Hash + Clone,
{
    let start = Instant::now();
    let mut out = match cfg.strategy {
        Strategy::Bfs => run(model, cfg, &Frontier::Queue, None),
        Strategy::Dfs => {
            let mut dfs = run(model, cfg, &Frontier::Stack, None);
            // Shorten each discovery with a BFS bounded by its length.
            for i in 0..dfs.discoveries.len() {
                if let Some(p) = &dfs.discoveries[i] {
                    let bound = SearchConfig { max_depth: Some(p.actions.len()), ..cfg_clone(cfg) };
                    if let Some(short) = run(model, &bound, &Frontier::Queue, Some(i)).discoveries[i].take() {
                        dfs.discoveries[i] = Some(short);
                    }
                }
            }
            dfs
        }
    };
    out.seconds = start.elapsed().as_secs_f64();
    out
}

fn cfg_clone<S>(c: &SearchConfig<S>) -> SearchConfig<S> {
    SearchConfig {
        strategy: c.strategy,
        max_depth: c.max_depth,
        max_states: c.max_states,
        timeout: c.timeout,
        cancel: c.cancel.clone(),
        max_memory: c.max_memory,
        symmetry: c.symmetry,
    }
}

enum Frontier {
    Queue,
    Stack,
}

fn run<M>(model: &M, cfg: &SearchConfig<M::State>, order: &Frontier, only: Option<usize>) -> SearchOutcome
where
    M: Model,
    M::State: Hash + Clone,
{
    let start = Instant::now();
    let props = model.properties();
    let canon = |s: M::State| match cfg.symmetry {
        Some(f) => f(&s),
        None => s,
    };
    let watched = |i: usize| only.map_or(true, |o| o == i) && props[i].expectation != Expectation::Eventually;
    let mut found: Vec<Option<u64>> = vec![None; props.len()];
    let mut open = props.iter().enumerate().filter(|(i, _)| watched(*i)).count();
    let mut parents: FpMap = FpMap::default();
    let mut frontier: VecDeque<(M::State, u32)> = VecDeque::new();
    let (mut states, mut max_depth, mut stopped) = (0u64, 0usize, None);

    let visit = |s: &M::State, fp: u64, found: &mut Vec<Option<u64>>, open: &mut usize| {
        for (i, p) in props.iter().enumerate() {
            if found[i].is_none() && watched(i) {
                let hit = match p.expectation {
                    Expectation::Always => !(p.condition)(model, s),
                    Expectation::Sometimes => (p.condition)(model, s),
                    Expectation::Eventually => false,
                };
                if hit {
                    found[i] = Some(fp);
                    *open -= 1;
                }
            }
        }
    };

    for s in model.init_states() {
        if !model.within_boundary(&s) {
            continue;
        }
        let s = canon(s);
        let fp = fingerprint(&s);
        if parents.insert(fp, 0).is_none() {
            states += 1;
            visit(&s, fp, &mut found, &mut open);
            frontier.push_back((s, 0));
        }
    }

    let mut actions = Vec::new();
    let mut tick = 0u32;
    'search: while open > 0 {
        let next = match order {
            Frontier::Queue => frontier.pop_front(),
            Frontier::Stack => frontier.pop_back(),
        };
        let Some((s, depth)) = next else { break };
        tick = tick.wrapping_add(1);
        if tick % 1024 == 0 {
            if cfg.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                stopped = Some(Stop::Interrupted);
                break;
            }
            if cfg.timeout.is_some_and(|t| start.elapsed() >= t) {
                stopped = Some(Stop::Timeout);
                break;
            }
            if cfg.max_memory.is_some_and(crate::limits::memory_reached) {
                stopped = Some(Stop::MemoryBound);
                break;
            }
        }
        max_depth = max_depth.max(depth as usize);
        let parent_fp = fingerprint(&s);
        model.actions(&s, &mut actions);
        let at_bound = cfg.max_depth.is_some_and(|d| depth as usize >= d);
        for a in actions.drain(..) {
            let Some(n) = model.next_state(&s, a) else { continue };
            if !model.within_boundary(&n) {
                continue;
            }
            if at_bound {
                stopped.get_or_insert(Stop::DepthBound);
                continue;
            }
            states += 1;
            let n = canon(n);
            let fp = fingerprint(&n);
            if parents.contains_key(&fp) {
                continue;
            }
            parents.insert(fp, parent_fp);
            visit(&n, fp, &mut found, &mut open);
            if cfg.max_states.is_some_and(|m| parents.len() as u64 >= m) {
                stopped = Some(Stop::StateBound);
                break 'search;
            }
            frontier.push_back((n, depth + 1));
        }
    }
    // Exhaustive: nothing left to explore and no limit cut a path short. A search that
    // stopped because every property was decided is not exhaustive, and stopped for no limit.
    let exhaustive = frontier.is_empty() && stopped.is_none();
    let discoveries = found.iter().map(|f| f.map(|fp| rebuild(model, &parents, fp, cfg.symmetry))).collect();
    SearchOutcome {
        discoveries,
        states,
        unique_states: parents.len() as u64,
        max_depth,
        exhaustive,
        stopped,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Rebuilds the path to the state with fingerprint `target` by walking parent links back to an
/// initial state, then replaying forward and choosing, at each step, the first action whose
/// successor has the next fingerprint.
fn rebuild<M>(model: &M, parents: &FpMap, target: u64, symmetry: Option<fn(&M::State) -> M::State>) -> IndexPath
where
    M: Model,
    M::State: Hash + Clone,
{
    let mut chain = vec![target];
    let mut fp = target;
    while let Some(&p) = parents.get(&fp) {
        if p == 0 {
            break;
        }
        chain.push(p);
        fp = p;
    }
    chain.reverse();
    let key = |s: &M::State| match symmetry {
        Some(f) => fingerprint(&f(s)),
        None => fingerprint(s),
    };
    let inits = model.init_states();
    let init =
        inits.iter().position(|s| key(s) == chain[0]).expect("the first fingerprint of a chain is an initial state");
    let mut state = inits[init].clone();
    let mut path = IndexPath { init, actions: Vec::with_capacity(chain.len() - 1) };
    let mut actions = Vec::new();
    for &want in &chain[1..] {
        model.actions(&state, &mut actions);
        let (ix, next) = actions
            .drain(..)
            .enumerate()
            .find_map(|(i, a)| {
                model.next_state(&state, a).filter(|n| model.within_boundary(n) && key(n) == want).map(|n| (i, n))
            })
            .expect("every parent link is one action of the model");
        path.actions.push(ix);
        state = next;
    }
    path
}

/// Replays `path` and returns every state and action on it, or the step at which it does not
/// replay (an index out of range, or an action that changes nothing).
pub fn replay<M: Model>(model: &M, path: &IndexPath) -> Result<(M::State, Vec<(M::Action, M::State)>), usize>
where
    M::State: Clone,
    M::Action: Clone,
{
    let mut inits = model.init_states();
    if path.init >= inits.len() {
        return Err(0);
    }
    let init = inits.swap_remove(path.init);
    let mut state = init.clone();
    let mut steps = Vec::with_capacity(path.actions.len());
    let mut actions = Vec::new();
    for (k, &ix) in path.actions.iter().enumerate() {
        actions.clear();
        model.actions(&state, &mut actions);
        let Some(a) = actions.get(ix).cloned() else { return Err(k + 1) };
        let Some(next) = model.next_state(&state, a.clone()) else { return Err(k + 1) };
        steps.push((a, next.clone()));
        state = next;
    }
    Ok((init, steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::Property;

    /// Two counters, each incremented up to 3; the invariant `x + y < 3` fails first after
    /// three increments. stateright 0.31's BFS reports an 11-action path for a model like this
    /// (research note §3.4); ours must report 3.
    struct Counters;
    impl Model for Counters {
        type State = (u8, u8);
        type Action = u8;
        fn init_states(&self) -> Vec<(u8, u8)> {
            vec![(0, 0)]
        }
        fn actions(&self, s: &(u8, u8), a: &mut Vec<u8>) {
            if s.0 < 3 {
                a.push(0);
            }
            if s.1 < 3 {
                a.push(1);
            }
        }
        fn next_state(&self, s: &(u8, u8), a: u8) -> Option<(u8, u8)> {
            Some(if a == 0 { (s.0 + 1, s.1) } else { (s.0, s.1 + 1) })
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![
                Property::always("sum below 3", |_, s: &(u8, u8)| s.0 + s.1 < 3),
                Property::sometimes("y reaches 2", |_, s: &(u8, u8)| s.1 == 2),
                Property::always("sum at most 6", |_, s: &(u8, u8)| s.0 + s.1 <= 6),
            ]
        }
    }

    #[test]
    fn bfs_finds_shortest_paths_and_counts_the_whole_space() {
        let out = search(&Counters, &SearchConfig::default());
        assert_eq!(out.discoveries[0].as_ref().map(|p| p.actions.len()), Some(3));
        assert_eq!(out.discoveries[1].as_ref().map(|p| p.actions.clone()), Some(vec![1, 1]));
        assert!(out.discoveries[2].is_none());
        assert_eq!(out.unique_states, 16);
        assert!(out.exhaustive);
    }
}
