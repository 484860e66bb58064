//! Explicit-state search over any stateright [`Model`]: breadth-first (shortest
//! counterexamples) and depth-first (then minimised breadth-first).
//!
//! stateright 0.31's own checkers fall short for us (see `shared/research/stateright.md` §3):
//! its BFS overwrites a discovery with later, longer paths (§3.4), ignores symmetry, and keeps
//! about 88 bytes per state; its `timeout` does nothing with one thread.
//!
//! - Breadth-first ([`Strategy::Bfs`]) searches level by level and records each property's
//!   *first* discovery, which in breadth-first order is at the least depth. It stores each
//!   state's 64-bit fingerprint with a 32-bit state number in one compact table (see
//!   [`FpTable`]), one 32-bit parent number per state (about 28 bytes per state on the oracle
//!   model, N=5, R=4), and the frontier: the unexpanded part of one level and what was found of
//!   the next, each state in the form its type's [`Frontier`] holds it (the protocol models'
//!   states share their actor states, see `model::frontier`).
//! - Depth-first ([`Strategy::Dfs`]) stores fingerprints only (about 14 bytes per state) and
//!   the current path; each discovery is then shortened by a breadth-first search bounded by
//!   its length, so reported paths are shortest too.
//! - Breadth-first with [`SearchConfig::threads`] > 1: a pool of rayon workers computes the
//!   successors of each round's chunks (and drops those already stored); the calling thread
//!   inserts them chunk by chunk in the order one thread would, so states, counts, verdicts and
//!   paths are the same whatever the number of threads.
//! - Both honour symmetry reduction ([`SearchConfig::symmetry`]): they store and expand
//!   representatives only.
//! - Both compute a state's successors together and prefetch their table slots before
//!   inserting any, so the cache and TLB misses of the probes overlap (the probes dominate:
//!   the table is far larger than the caches).
//!
//! Paths are rebuilt by replaying the model from an initial state and matching fingerprints
//! (of representatives, under symmetry), so they are real action sequences, re-checkable by
//! anyone.
//!
//! Fingerprints are 64-bit hashes (foldhash with a fixed seed); two distinct states collide with
//! probability about n²/2⁶⁵ for n states, as in stateright, Spin's hash compaction and TLC.

use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stateright::{Expectation, Model, Property};

mod table;
pub use table::FpTable;

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
    /// The wall-clock `deadline` passed.
    Timeout,
    /// The caller's cancel flag was raised (Ctrl-C, SIGTERM).
    Interrupted,
    /// The process's resident memory reached `max_memory`.
    MemoryBound,
}

/// A symmetry reduction: maps a state to the representative of its class. It takes the state
/// by value, so that a state that is already its class's representative (most are) is returned
/// as it is, without a copy.
pub type Representative<S> = fn(S) -> S;

/// How the breadth-first search holds a state it has yet to expand (the frontier): the state
/// itself ([`plain_frontier!`]), or a smaller form from which [`Frontier::restore`] rebuilds an
/// equal state, with the same behaviour (the same actions in the same order), when it is
/// expanded. The frontier of full states dominates the breadth-first search's memory on the
/// protocol models (about 2.4 KB per state, against 22 to 24 bytes per state of visited set).
pub trait Frontier: Clone + Sized {
    /// What a frontier entry holds.
    type Held: Send + Sync + 'static;
    /// What the held states share (e.g. one copy of each distinct actor state), kept by the
    /// search for its whole run and tidied with [`Frontier::tidy`] once per level.
    type Pool: Default + Send + 'static;
    /// The held form of `self`, sharing what it can with the pool.
    fn hold(self, pool: &mut Self::Pool) -> Self::Held;
    /// The state that `held` holds: equal to the one held, and acting alike.
    fn restore(held: &Self::Held) -> std::borrow::Cow<'_, Self>;
    /// As [`Frontier::restore`], for a held state about to be expanded and then dropped: it may
    /// move the state out of `held` (which is then left empty) instead of copying it.
    fn take(held: &mut Self::Held) -> std::borrow::Cow<'_, Self> {
        Self::restore(held)
    }
    /// Drops from the pool what no held state uses any more (after each level).
    fn tidy(_pool: &mut Self::Pool) {}
}

/// Implements [`Frontier`] for state types that the frontier holds as they are.
#[macro_export]
macro_rules! plain_frontier {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::search::Frontier for $t {
            type Held = $t;
            type Pool = ();
            #[inline]
            fn hold(self, _: &mut ()) -> $t {
                self
            }
            #[inline]
            fn restore(held: &$t) -> std::borrow::Cow<'_, $t> {
                std::borrow::Cow::Borrowed(held)
            }
        }
    )*};
}

/// Search parameters.
pub struct SearchConfig<S> {
    /// Search order.
    pub strategy: Strategy,
    /// Explore paths of at most this many actions.
    pub max_depth: Option<usize>,
    /// Stop after this many unique states.
    pub max_states: Option<u64>,
    /// Stop at this instant. One deadline covers the whole search, the breadth-first
    /// shortening of depth-first discoveries included (and, in `check`, every model file of a
    /// run). The clock is read at every batch of 16 states (breadth-first) or every 16 states
    /// (depth-first), so a search ends within milliseconds of it.
    pub deadline: Option<Instant>,
    /// Stop when this flag becomes true.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Stop when the process's resident memory, plus the bytes the fingerprint table would
    /// take for its next growth, reaches this many bytes ([`crate::limits::resident_bytes`],
    /// read every millisecond of search).
    pub max_memory: Option<u64>,
    /// Maps a state to the representative of its symmetry class (symmetry reduction); `None`:
    /// no reduction. It must map symmetric states to the same value and keep every property's
    /// value.
    pub symmetry: Option<Representative<S>>,
    /// Where to publish the counts while searching (every 1024 polls of the limits), for a
    /// progress display; `None`: not published.
    pub progress: Option<Arc<crate::progress::Counters>>,
    /// Worker threads of the breadth-first search (and of the depth-first search's shortening
    /// of its discoveries), at least 1. The result does not depend on it: the workers compute
    /// successors, the calling thread inserts them in the order one thread would (see [`bfs`]).
    pub threads: usize,
    /// Search only this share of a partitioned breadth-first search
    /// ([`crate::partition`]): of the states at the partition's depth, expand only those whose
    /// fingerprint it owns. `None`: the whole search. Breadth-first only (ignored depth-first).
    pub partition: Option<crate::partition::Partition>,
}

impl<S> Default for SearchConfig<S> {
    fn default() -> Self {
        SearchConfig {
            strategy: Strategy::Bfs,
            max_depth: None,
            max_states: None,
            deadline: None,
            cancel: None,
            max_memory: None,
            symmetry: None,
            progress: None,
            threads: 1,
            partition: None,
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
    /// Per property: whether its discovery (if any) is known to be a shortest path. Always
    /// true breadth-first; depth-first, false for a discovery whose shortening was stopped by a
    /// limit (it is then the depth-first path, a real but maybe longer counterexample).
    pub shortest: Vec<bool>,
    /// Why the search stopped early, if it did for a limit (not for having decided everything).
    pub stopped: Option<Stop>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Bytes held by the search's own structures at the end (fingerprint table, parent links,
    /// the largest frontier or the deepest path), as counted by the search; the process's peak
    /// RSS adds the model, the allocator and the program. A frontier state counts its own
    /// `size_of` only, not the heap memory it owns.
    pub memory_bytes: u64,
    /// Bytes of the visited set: the fingerprint table and, breadth-first, the parent links
    /// (what the search keeps per state beyond the frontier).
    pub visited_bytes: u64,
    /// The most full states held at once by the frontier: breadth-first, the unexpanded part of
    /// a level plus what was found of the next (a count); depth-first, the deepest path with
    /// the successors waiting on it.
    pub peak_frontier: u64,
}

/// The default number of search threads: every core the process may run on (1 if unknown).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The 64-bit fingerprint of a state (never 0, which marks an empty slot).
///
/// foldhash's quality variant with a fixed seed: the derived `Hash` of an actor state feeds
/// the hasher many small integers, and foldhash mixes each for less than ahash's fallback (the
/// build has no AES instructions enabled), with a final avalanche over all 64 bits.
pub fn fingerprint<T: Hash>(value: &T) -> u64 {
    use std::hash::BuildHasher;
    let fp = foldhash::quality::FixedState::with_seed(0x243f_6a88_85a3_08d3).hash_one(value);
    fp.max(1)
}

/// Runs a search. Properties with [`Expectation::Eventually`] are not supported and are never
/// discovered. A model without (supported) properties is explored exhaustively; otherwise the
/// search stops as soon as every property has a discovery.
pub fn search<M>(model: &M, cfg: &SearchConfig<M::State>) -> SearchOutcome
where
    M: Model + Sync,
    M::State: Frontier + Hash + Clone + Send + Sync + 'static,
{
    let start = Instant::now();
    let mut out = match cfg.strategy {
        Strategy::Bfs => bfs(model, cfg, None),
        Strategy::Dfs => {
            let mut dfs = dfs(model, cfg);
            // Shorten each discovery with a BFS bounded by its length, within the same limits
            // (the same deadline): a discovery left unshortened keeps its depth-first path.
            for i in 0..dfs.discoveries.len() {
                let Some(p) = &dfs.discoveries[i] else { continue };
                if p.actions.is_empty() {
                    continue;
                }
                if let Some(stop) = Limits::new(start, cfg, 1).check() {
                    dfs.shortest[i] = false;
                    dfs.stopped.get_or_insert(stop);
                    continue;
                }
                let bound = SearchConfig { max_depth: Some(p.actions.len()), ..cfg_clone(cfg) };
                let short = bfs(model, &bound, Some(i));
                match short.discoveries.into_iter().nth(i).flatten() {
                    Some(path) => dfs.discoveries[i] = Some(path),
                    None => {
                        dfs.shortest[i] = false;
                        if let Some(stop) = short.stopped.filter(|s| *s != Stop::DepthBound) {
                            dfs.stopped.get_or_insert(stop);
                        }
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
        deadline: c.deadline,
        cancel: c.cancel.clone(),
        max_memory: c.max_memory,
        symmetry: c.symmetry,
        progress: c.progress.clone(),
        threads: c.threads,
        partition: c.partition,
    }
}

/// The properties a search watches and which of them are still undiscovered.
struct Watch<M: Model> {
    props: Vec<Property<M>>,
    watched: Vec<bool>,
    open: usize,
    any: bool,
}

impl<M: Model> Watch<M> {
    fn new(model: &M, only: Option<usize>) -> Self {
        let props = model.properties();
        let watched: Vec<bool> = (0..props.len())
            .map(|i| only.is_none_or(|o| o == i) && props[i].expectation != Expectation::Eventually)
            .collect();
        let open = watched.iter().filter(|w| **w).count();
        Watch { props, watched, open, any: open > 0 }
    }

    /// Calls `hit(i)` for each watched, undiscovered property `i` that `s` discovers (violates
    /// an `always`, satisfies a `sometimes`), and stops watching it.
    #[inline]
    fn check(&mut self, model: &M, s: &M::State, mut hit: impl FnMut(usize)) {
        if self.open == 0 {
            return;
        }
        for (i, p) in self.props.iter().enumerate() {
            if self.watched[i] {
                let found = match p.expectation {
                    Expectation::Always => !(p.condition)(model, s),
                    Expectation::Sometimes => (p.condition)(model, s),
                    Expectation::Eventually => false,
                };
                if found {
                    self.watched[i] = false;
                    self.open -= 1;
                    hit(i);
                }
            }
        }
    }

    /// Every watched property has been discovered (and there was at least one).
    fn all_found(&self) -> bool {
        self.any && self.open == 0
    }
}

/// How often the resident memory is read while searching.
const MEMORY_EVERY: Duration = Duration::from_millis(1);

/// Checks the wall clock, the cancel flag and the memory budget.
struct Limits<'a> {
    deadline: Option<Instant>,
    cancel: Option<&'a AtomicBool>,
    max_memory: Option<u64>,
    progress: Option<&'a crate::progress::Counters>,
    tick: u32,
    /// Check every `every` polls (a power of two).
    every: u32,
    next_memory_read: Instant,
    /// The resident bytes at the last read, and the largest growth seen between two reads:
    /// held in reserve, since that much may be allocated before the next read (a round of a
    /// multi-threaded breadth-first level allocates all its successors at once).
    last_resident: u64,
    max_growth: u64,
}

impl<'a> Limits<'a> {
    /// Limits checked every `every` polls (a power of two).
    fn new<S>(start: Instant, cfg: &'a SearchConfig<S>, every: u32) -> Self {
        debug_assert!(every.is_power_of_two());
        Limits {
            deadline: cfg.deadline,
            cancel: cfg.cancel.as_deref(),
            max_memory: cfg.max_memory,
            progress: cfg.progress.as_deref(),
            tick: 0,
            every,
            next_memory_read: start,
            last_resident: 0,
            max_growth: 0,
        }
    }

    /// `Some(stop)` if the search was cancelled, the deadline passed or the memory budget is
    /// reached (with nothing held in reserve).
    fn check(&mut self) -> Option<Stop> {
        self.check_with(0)
    }

    /// As [`Limits::check`], counting `reserve` bytes more than the resident memory: what the
    /// search is about to allocate. The memory is read at most once a millisecond.
    fn check_with(&mut self, reserve: u64) -> Option<Stop> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Some(Stop::Interrupted);
        }
        if self.deadline.is_none() && self.max_memory.is_none() {
            return None;
        }
        let now = Instant::now();
        if self.deadline.is_some_and(|d| now >= d) {
            return Some(Stop::Timeout);
        }
        if let Some(budget) = self.max_memory {
            if now >= self.next_memory_read {
                self.next_memory_read = now + MEMORY_EVERY;
                if let Some(r) = crate::limits::resident_bytes() {
                    if self.last_resident > 0 {
                        self.max_growth = self.max_growth.max(r.saturating_sub(self.last_resident));
                    }
                    self.last_resident = r;
                    if r.saturating_add(reserve.max(self.max_growth)) >= budget {
                        return Some(Stop::MemoryBound);
                    }
                }
            }
        }
        None
    }

    /// Every `every` calls: `Some(stop)` if the search must stop ([`Limits::check_with`], with
    /// the table's next growth in reserve); every 1024 calls, publishes the counts.
    #[inline]
    fn poll(&mut self, states: u64, table: &FpTable, depth: usize) -> Option<Stop> {
        self.tick = self.tick.wrapping_add(1);
        if let Some(p) = self.progress.filter(|_| self.tick.is_multiple_of(1024)) {
            p.publish(states, table.len(), depth);
        }
        if !self.tick.is_multiple_of(self.every) {
            return None;
        }
        self.check_with(table.next_growth_bytes())
    }
}

const NO_PARENT: u32 = u32::MAX;
/// States expanded together by the breadth-first search (see [`bfs`]).
const BATCH: usize = 16;
/// States expanded by each worker of a multi-threaded breadth-first round (see [`bfs`]): large
/// enough that starting the threads costs little (a round takes milliseconds), small enough
/// that the limits are checked often and the successors held are few.
const ROUND: usize = 1024;
/// The fewest states of a round that the pool's workers expand: a smaller round (the first
/// levels of every search, and the whole of a small model's) is expanded on the calling thread,
/// since waking the workers costs more than it saves (on a loaded machine, a scheduling delay
/// per round). The result is the same either way.
const POOL_MIN: usize = 256;

/// The representative of `s` under the configured symmetry reduction (`s` itself without).
fn canonical<S>(cfg: &SearchConfig<S>, s: S) -> S {
    match cfg.symmetry {
        Some(f) => f(s),
        None => s,
    }
}

/// The successors of `s`, the one successor generation of both search orders: each within the
/// boundary, canonical (under symmetry reduction), fingerprinted, its table slot prefetched, is
/// passed to `push` in action order. At the depth bound none is passed and the bound is recorded
/// in `stopped`. `actions` is a reused buffer. Returns the transitions generated, a count.
#[inline]
#[allow(clippy::too_many_arguments)]
fn successors<M>(
    model: &M,
    cfg: &SearchConfig<M::State>,
    s: &M::State,
    at_bound: bool,
    table: &FpTable,
    actions: &mut Vec<M::Action>,
    stopped: &mut Option<Stop>,
    mut push: impl FnMut(M::State, u64),
) -> u64
where
    M: Model,
    M::State: Hash,
{
    let mut generated = 0;
    model.actions(s, actions);
    for a in actions.drain(..) {
        let Some(n) = model.next_state(s, a) else { continue };
        if !model.within_boundary(&n) {
            continue;
        }
        if at_bound {
            stopped.get_or_insert(Stop::DepthBound);
            continue;
        }
        generated += 1;
        let n = canonical(cfg, n);
        let fp = fingerprint(&n);
        table.prefetch(fp);
        push(n, fp);
    }
    generated
}

/// One chunk of a breadth-first round: its successors (state, fingerprint, parent
/// id) in expansion order, the transitions it generated, and whether it met the depth bound.
struct Worker<M: Model> {
    succ: Vec<(M::State, u64, u32)>,
    generated: u64,
    stopped: Option<Stop>,
}

impl<M: Model> Default for Worker<M> {
    fn default() -> Self {
        Worker { succ: Vec::new(), generated: 0, stopped: None }
    }
}

/// Expands `round` (states of one breadth-first level) in chunks of [`BATCH`] states, chunk
/// `k` into `slots[k]` (which must have a slot per chunk). With a `pool` and at least
/// [`POOL_MIN`] states, its threads take the chunks (work-stealing: a thread slowed by other load takes fewer), drop the successors
/// already in the table, and the table is only read until all are done.
fn expand_round<M>(
    model: &M,
    cfg: &SearchConfig<M::State>,
    round: &mut [(<M::State as Frontier>::Held, u32)],
    at_bound: bool,
    table: &FpTable,
    slots: &mut [Worker<M>],
    pool: Option<&rayon::ThreadPool>,
) where
    M: Model + Sync,
    M::State: Frontier + Hash + Clone + Send + Sync,
{
    let run = |chunk: &mut [(<M::State as Frontier>::Held, u32)],
               w: &mut Worker<M>,
               actions: &mut Vec<M::Action>,
               filter: bool| {
        for (held, id) in chunk {
            let succ = &mut w.succ;
            // Each state is expanded once: it may be moved out of the frontier.
            let s = M::State::take(held);
            w.generated +=
                successors(model, cfg, &s, at_bound, table, actions, &mut w.stopped, |n, fp| succ.push((n, fp, *id)));
        }
        // Drop here, in parallel, the successors already in the table (most of them: states
        // of earlier levels and rounds); their slots were prefetched by `expand`.
        if filter {
            w.succ.retain(|(_, fp, _)| !table.contains(*fp));
        }
    };
    match pool {
        Some(pool) if round.len() >= POOL_MIN => {
            use rayon::prelude::*;
            pool.install(|| {
                round
                    .par_chunks_mut(BATCH)
                    .zip(slots.par_iter_mut())
                    .for_each_init(Vec::new, |actions, (chunk, w)| run(chunk, w, actions, true));
            });
        }
        _ => {
            let mut actions = Vec::new();
            round.chunks_mut(BATCH).zip(slots.iter_mut()).for_each(|(chunk, w)| run(chunk, w, &mut actions, false));
        }
    }
}

/// A breadth-first level: its states with their state numbers, in insertion order, in blocks
/// of at most `block` states (one round of [`bfs`] each). A block is freed as soon as it is
/// expanded, so the search holds the unexpanded part of one level and the part of the next
/// found so far: at most about the larger of two consecutive levels, not their sum.
struct Level<S> {
    blocks: std::collections::VecDeque<Vec<(S, u32)>>,
    block: usize,
    len: usize,
}

impl<S> Level<S> {
    fn new(block: usize) -> Self {
        Level { blocks: std::collections::VecDeque::new(), block: block.max(1), len: 0 }
    }

    fn push(&mut self, item: (S, u32)) {
        match self.blocks.back_mut() {
            Some(last) if last.len() < self.block => last.push(item),
            _ => {
                let mut v = Vec::with_capacity(self.block);
                v.push(item);
                self.blocks.push_back(v);
            }
        }
        self.len += 1;
    }

    /// The first block not yet expanded, taken out of the level.
    fn pop(&mut self) -> Option<Vec<(S, u32)>> {
        let b = self.blocks.pop_front()?;
        self.len -= b.len();
        Some(b)
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the states for which `keep` holds (a partitioned search's share).
    fn retain(&mut self, mut keep: impl FnMut(&(S, u32)) -> bool) {
        for b in self.blocks.iter_mut() {
            b.retain(&mut keep);
        }
        self.blocks.retain(|b| !b.is_empty());
        self.len = self.blocks.iter().map(Vec::len).sum();
    }
}

/// Breadth-first search, level by level. Memory: the fingerprint table with a 32-bit state id
/// per entry (about 20 bytes per state, see [`table`]), one 32-bit parent id per state, and the
/// frontier of full states: what is left of the level being expanded and what was found of the
/// next (see [`Level`]). `only`: watch just that property.
fn bfs<M>(model: &M, cfg: &SearchConfig<M::State>, only: Option<usize>) -> SearchOutcome
where
    M: Model + Sync,
    M::State: Frontier + Hash + Clone + Send + Sync + 'static,
{
    let start = Instant::now();
    // A poll per round.
    let mut limits = Limits::new(start, cfg, 1);
    let canon = |s: M::State| canonical(cfg, s);
    let mut watch = Watch::new(model, only);
    let mut found: Vec<Option<u32>> = vec![None; watch.props.len()];
    let mut table = FpTable::new(true);
    let mut parents: Vec<u32> = Vec::new();

    let threads = cfg.threads.max(1);
    // Without a pool of worker threads (one thread, or none could be started), a round is one
    // batch expanded on this thread.
    let pool = (threads > 1).then(|| rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok()).flatten();
    // Under a memory budget a round is a quarter as large: its successors are allocated before
    // the next reading of the resident memory, so a smaller round overshoots the budget less.
    let round = if cfg.max_memory.is_some() { ROUND / 4 } else { ROUND };
    let per_round = if pool.is_none() { BATCH } else { round * threads };
    let mut slots: Vec<Worker<M>> = (0..per_round.div_ceil(BATCH)).map(|_| Worker::default()).collect();
    let mut level: Level<<M::State as Frontier>::Held> = Level::new(per_round);
    let mut next: Level<<M::State as Frontier>::Held> = Level::new(per_round);
    // What the held frontier states share (see [`Frontier`]).
    let mut shared = <M::State as Frontier>::Pool::default();
    let (mut states, mut depth, mut stopped, mut done) = (0u64, 0usize, None, false);
    let mut peak_frontier = 0usize;

    for s in model.init_states() {
        if !model.within_boundary(&s) {
            continue;
        }
        states += 1;
        let s = canon(s);
        let id = parents.len() as u32;
        if table.insert(fingerprint(&s), id) {
            parents.push(NO_PARENT);
            watch.check(model, &s, |i| found[i] = Some(id));
            level.push((s.hold(&mut shared), id));
        }
    }
    done |= watch.all_found();

    'search: while !done && !level.is_empty() {
        let at_bound = cfg.max_depth.is_some_and(|d| depth >= d);
        if let Some(p) = cfg.partition.filter(|p| p.depth == depth) {
            // A partitioned search goes on from its share of this level only.
            level.retain(|(s, _)| p.owns(fingerprint(&*M::State::restore(s))));
        }
        // A level is expanded in rounds of `BATCH` states per worker: each worker computes the
        // successors of its consecutive share of the round (canonical, fingerprinted, table
        // slots prefetched), then this thread inserts them worker by worker, so in the order
        // one thread would and with the same outcome whatever the number of threads.
        while let Some(mut round) = level.pop() {
            peak_frontier = peak_frontier.max(level.len + round.len() + next.len);
            if let Some(stop) = limits.poll(states, &table, depth) {
                stopped = Some(stop);
                level.blocks.push_front(round);
                break 'search;
            }
            expand_round(model, cfg, &mut round, at_bound, &table, &mut slots, pool.as_ref());
            // The round's states were allocated by the pool's threads: free them there too, in
            // parallel (a free on the allocating thread is the allocator's fast path).
            match &pool {
                Some(pool) if round.len() >= POOL_MIN => pool.install(|| {
                    use rayon::prelude::*;
                    round.into_par_iter().for_each(drop);
                }),
                _ => drop(round),
            }
            // Chunk by chunk, as one thread would: the transitions counted when a search stops
            // early are those of the chunks up to the one it stopped in, whatever the threads.
            for w in slots.iter_mut() {
                states += std::mem::take(&mut w.generated);
                if let Some(stop) = w.stopped.take() {
                    stopped.get_or_insert(stop);
                }
                for (n, fp, id) in w.succ.drain(..) {
                    let nid = parents.len() as u32;
                    if !table.insert(fp, nid) {
                        continue;
                    }
                    parents.push(id);
                    watch.check(model, &n, |i| found[i] = Some(nid));
                    if watch.all_found() {
                        done = true;
                        break 'search;
                    }
                    if cfg.max_states.is_some_and(|m| table.len() >= m) || nid == NO_PARENT - 1 {
                        stopped = Some(Stop::StateBound);
                        break 'search;
                    }
                    next.push((n.hold(&mut shared), nid));
                }
            }
        }
        if next.is_empty() {
            break;
        }
        depth += 1;
        std::mem::swap(&mut level, &mut next);
        M::State::tidy(&mut shared);
    }
    let exhaustive = !done && stopped.is_none() && level.is_empty() && next.is_empty();
    // Freeing a large frontier takes a while (up to seconds for millions of actor states): a
    // thread of its own does it, so that a search stopped by `--timeout` returns at once.
    if level.len + next.len > 4096 {
        let frontier = (level.blocks, next.blocks, slots.into_iter().map(|w| w.succ).collect::<Vec<_>>(), shared);
        let _ = std::thread::Builder::new().name("free frontier".into()).spawn(move || drop(frontier));
    }
    let discoveries = found
        .iter()
        .map(|f| {
            f.map(|target| {
                let mut chain = vec![target];
                while let Some(&p) = parents.get(*chain.last().unwrap() as usize).filter(|p| **p != NO_PARENT) {
                    chain.push(p);
                }
                chain.reverse();
                rebuild(model, cfg.symmetry, chain.len(), |k, fp| table.id(fp) == Some(chain[k]))
            })
        })
        .collect();
    let frontier_bytes = (peak_frontier * std::mem::size_of::<(<M::State as Frontier>::Held, u32)>()) as u64;
    SearchOutcome {
        shortest: vec![true; found.len()],
        discoveries,
        states,
        unique_states: table.len(),
        max_depth: depth,
        exhaustive,
        stopped,
        seconds: start.elapsed().as_secs_f64(),
        visited_bytes: table.bytes() + (parents.capacity() * 4) as u64,
        peak_frontier: peak_frontier as u64,
        memory_bytes: table.bytes() + (parents.capacity() * 4) as u64 + frontier_bytes,
    }
}

/// What [`counterexamples`] found.
#[derive(Clone, Debug)]
pub struct Counterexamples<K> {
    /// Per target property (in the order given): the counterexamples kept, in breadth-first
    /// order (so by length), each with its mechanism; the first is the shortest counterexample.
    pub found: Vec<Vec<(IndexPath, K)>>,
    /// Why the search stopped before every target had its count or the space was exhausted.
    pub stopped: Option<Stop>,
}

/// Several counterexamples per invariant, differing in mechanism: a breadth-first search that
/// does not stop at the first violation. For each target property (an index into
/// `model.properties()`, an `always` property), each state that violates it, reached by a path
/// of the breadth-first tree on which no earlier state violates it, is a counterexample: its
/// path is rebuilt and `mechanism(target, path)` computed; the path is kept if no path kept
/// for that target has an equal mechanism, until `n` are kept per target or the space is
/// exhausted. Breadth-first order makes each kept path a shortest one with its mechanism (among
/// the tree's paths), and the first one kept is the one [`search`] reports breadth-first.
///
/// The limits of `cfg` apply (deadline, states, memory, depth, cancellation; `strategy` is
/// ignored). A state violating every open target is not expanded. At most 32 targets.
pub fn counterexamples<M, K>(
    model: &M,
    cfg: &SearchConfig<M::State>,
    targets: &[usize],
    n: usize,
    mut mechanism: impl FnMut(usize, &IndexPath) -> K,
) -> Counterexamples<K>
where
    M: Model,
    M::State: Hash + Clone,
    K: PartialEq,
{
    assert!(targets.len() <= 32, "at most 32 target properties");
    let start = Instant::now();
    let mut limits = Limits::new(start, cfg, 1);
    let canon = |s: M::State| canonical(cfg, s);
    let props = model.properties();
    // The targets a state violates, as a bit mask over `targets`.
    let violated = |s: &M::State| -> u32 {
        targets.iter().enumerate().fold(0, |m, (k, &i)| {
            let p = &props[i];
            if p.expectation == Expectation::Always && !(p.condition)(model, s) {
                m | (1 << k)
            } else {
                m
            }
        })
    };
    let mut found: Vec<Vec<(IndexPath, K)>> = targets.iter().map(|_| Vec::new()).collect();
    let mut open: u32 = if n == 0 { 0 } else { ((1u64 << targets.len()) - 1) as u32 };
    let mut table = FpTable::new(true);
    let mut parents: Vec<u32> = Vec::new();
    // Per state: the targets violated on its tree path (itself included).
    let mut tainted: Vec<u32> = Vec::new();
    let mut level: Vec<(M::State, u32)> = Vec::new();
    let mut next: Vec<(M::State, u32)> = Vec::new();
    let (mut states, mut depth, mut stopped) = (0u64, 0usize, None);

    let mut consider = |id: u32, hits: u32, parents: &[u32], table: &FpTable, open: &mut u32| {
        for (k, list) in found.iter_mut().enumerate() {
            if hits & (1 << k) == 0 || *open & (1 << k) == 0 {
                continue;
            }
            let mut chain = vec![id];
            while let Some(&p) = parents.get(*chain.last().unwrap() as usize).filter(|p| **p != NO_PARENT) {
                chain.push(p);
            }
            chain.reverse();
            let path = rebuild(model, cfg.symmetry, chain.len(), |j, fp| table.id(fp) == Some(chain[j]));
            let key = mechanism(targets[k], &path);
            if !list.iter().any(|(_, m)| *m == key) {
                list.push((path, key));
                if list.len() >= n {
                    *open &= !(1 << k);
                }
            }
        }
    };

    for s in model.init_states() {
        if open == 0 {
            break;
        }
        if !model.within_boundary(&s) {
            continue;
        }
        states += 1;
        let s = canon(s);
        let id = parents.len() as u32;
        if table.insert(fingerprint(&s), id) {
            parents.push(NO_PARENT);
            let hits = violated(&s);
            tainted.push(hits);
            consider(id, hits, &parents, &table, &mut open);
            level.push((s, id));
        }
    }

    let mut actions = Vec::new();
    let mut succ: Vec<(M::State, u64, u32)> = Vec::new();
    'search: while open != 0 && !level.is_empty() {
        let at_bound = cfg.max_depth.is_some_and(|d| depth >= d);
        for batch in level.chunks(BATCH) {
            if let Some(stop) = limits.poll(states, &table, depth) {
                stopped = Some(stop);
                break 'search;
            }
            for (s, id) in batch {
                // Nothing new for any open target below a state that violated them all.
                if tainted[*id as usize] & open == open {
                    continue;
                }
                let id = *id;
                states += successors(model, cfg, s, at_bound, &table, &mut actions, &mut stopped, |n, fp| {
                    succ.push((n, fp, id))
                });
            }
            for (n, fp, id) in succ.drain(..) {
                let nid = parents.len() as u32;
                if !table.insert(fp, nid) {
                    continue;
                }
                parents.push(id);
                let before = tainted[id as usize];
                let hits = violated(&n);
                tainted.push(before | hits);
                consider(nid, hits & !before, &parents, &table, &mut open);
                if open == 0 {
                    break 'search;
                }
                if cfg.max_states.is_some_and(|m| table.len() >= m) || nid == NO_PARENT - 1 {
                    stopped = Some(Stop::StateBound);
                    break 'search;
                }
                next.push((n, nid));
            }
        }
        level.clear();
        if next.is_empty() {
            break;
        }
        depth += 1;
        std::mem::swap(&mut level, &mut next);
    }
    Counterexamples { found, stopped }
}

/// Exhaustive depth-first search. Memory: the fingerprint table alone (about 13 bytes per
/// state, see [`table`]) and the current path with the new successors of each state on it. A
/// state is marked visited when it is generated (its successors are computed together, so
/// their table probes overlap), and a discovery is the path on the stack; [`search`] then
/// shortens it.
fn dfs<M>(model: &M, cfg: &SearchConfig<M::State>) -> SearchOutcome
where
    M: Model,
    M::State: Hash + Clone,
{
    let start = Instant::now();
    // A poll per state expanded: the limits are checked every 16 states.
    let mut limits = Limits::new(start, cfg, 16);
    let canon = |s: M::State| canonical(cfg, s);
    let mut watch = Watch::new(model, None);
    let mut found: Vec<Option<Vec<u64>>> = vec![None; watch.props.len()];
    let mut table = FpTable::new(false);
    // The current path: its states and their fingerprints; `todo[d]` holds the new successors
    // of `path[d]` not yet explored (the vectors are kept and reused: no allocation in the
    // steady state).
    let mut path: Vec<M::State> = Vec::new();
    let mut fps: Vec<u64> = Vec::new();
    let mut todo: Vec<Vec<(M::State, u64)>> = Vec::new();
    let mut actions = Vec::new();
    let (mut states, mut max_depth, mut stopped, mut done) = (0u64, 0usize, None, false);

    'inits: for s in model.init_states() {
        if !model.within_boundary(&s) {
            continue;
        }
        states += 1;
        let s = canon(s);
        let fp = fingerprint(&s);
        if !table.insert(fp, 0) {
            continue;
        }
        watch.check(model, &s, |i| found[i] = Some(vec![fp]));
        if watch.all_found() {
            done = true;
            break;
        }
        path.push(s);
        fps.push(fp);
        loop {
            // Expand the state on top of the path.
            let d = path.len() - 1;
            if todo.len() <= d {
                todo.push(Vec::new());
            }
            let at_bound = cfg.max_depth.is_some_and(|m| d >= m);
            let batch = &mut todo[d];
            states += successors(model, cfg, &path[d], at_bound, &table, &mut actions, &mut stopped, |n, fp| {
                batch.push((n, fp))
            });
            let mut kept = 0;
            for k in 0..batch.len() {
                let fp = batch[k].1;
                if !table.insert(fp, 0) {
                    continue;
                }
                watch.check(model, &batch[k].0, |i| {
                    let mut p = fps.clone();
                    p.push(fp);
                    found[i] = Some(p);
                });
                batch.swap(kept, k);
                kept += 1;
                if watch.all_found() {
                    done = true;
                    break 'inits;
                }
                if cfg.max_states.is_some_and(|m| table.len() >= m) {
                    stopped = Some(Stop::StateBound);
                    break 'inits;
                }
            }
            batch.truncate(kept);
            batch.reverse();
            if let Some(stop) = limits.poll(states, &table, max_depth) {
                stopped = Some(stop);
                break 'inits;
            }
            // Descend into the next new successor, backtracking past exhausted states.
            loop {
                let d = path.len() - 1;
                if let Some((n, fp)) = todo[d].pop() {
                    path.push(n);
                    fps.push(fp);
                    max_depth = max_depth.max(d + 1);
                    break;
                }
                path.pop();
                fps.pop();
                if path.is_empty() {
                    continue 'inits;
                }
            }
        }
    }
    let exhaustive = !done && stopped.is_none() && path.is_empty();
    let discoveries =
        found.iter().map(|f| f.as_ref().map(|p| rebuild(model, cfg.symmetry, p.len(), |k, fp| fp == p[k]))).collect();
    let todo_bytes: usize = todo.iter().map(|t| t.capacity() * std::mem::size_of::<(M::State, u64)>()).sum();
    let path_bytes = path.capacity() * std::mem::size_of::<M::State>() + fps.capacity() * 8 + todo_bytes;
    // The buffers grow to the most they held: their capacities bound the peak.
    let peak_frontier = path.capacity() + todo.iter().map(Vec::capacity).sum::<usize>();
    SearchOutcome {
        shortest: vec![true; found.len()],
        discoveries,
        states,
        unique_states: table.len(),
        max_depth,
        exhaustive,
        stopped,
        seconds: start.elapsed().as_secs_f64(),
        visited_bytes: table.bytes(),
        peak_frontier: peak_frontier as u64,
        memory_bytes: table.bytes() + path_bytes as u64,
    }
}

/// Rebuilds a path of `len` states by replaying the model from an initial state: at step `k`
/// it takes the first action whose successor (its representative under symmetry) has a
/// fingerprint that `is_step(k, fingerprint)` accepts. A symmetric model replays the canonical
/// states' path from real states, so the result is a real action sequence.
fn rebuild<M>(
    model: &M,
    symmetry: Option<Representative<M::State>>,
    len: usize,
    is_step: impl Fn(usize, u64) -> bool,
) -> IndexPath
where
    M: Model,
    M::State: Hash + Clone,
{
    let key = |s: &M::State| match symmetry {
        Some(f) => fingerprint(&f(s.clone())),
        None => fingerprint(s),
    };
    let inits = model.init_states();
    let init = inits.iter().position(|s| is_step(0, key(s))).expect("the first state of a path is an initial state");
    let mut state = inits[init].clone();
    let mut path = IndexPath { init, actions: Vec::with_capacity(len.saturating_sub(1)) };
    let mut actions = Vec::new();
    for k in 1..len {
        model.actions(&state, &mut actions);
        let (ix, next) = actions
            .drain(..)
            .enumerate()
            .find_map(|(i, a)| {
                model.next_state(&state, a).filter(|n| model.within_boundary(n) && is_step(k, key(n))).map(|n| (i, n))
            })
            .expect("every step of a path is one action of the model");
        path.actions.push(ix);
        state = next;
    }
    path
}

/// Replays `path` and returns every state and action on it, or the step at which it does not
/// replay (an index out of range, or an action that changes nothing).
#[allow(clippy::type_complexity)]
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

    crate::plain_frontier!((u8, u8), (u8, u16));

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

    /// A binary tree of depth 12: level k holds 2^k states, so two whole levels are 3 * 2^11
    /// states at the last expansion.
    struct Tree;
    impl Model for Tree {
        type State = (u8, u16);
        type Action = u16;
        fn init_states(&self) -> Vec<(u8, u16)> {
            vec![(0, 0)]
        }
        fn actions(&self, s: &(u8, u16), a: &mut Vec<u16>) {
            if s.0 < 12 {
                a.extend([0, 1]);
            }
        }
        fn next_state(&self, s: &(u8, u16), a: u16) -> Option<(u8, u16)> {
            Some((s.0 + 1, s.1 * 2 + a))
        }
    }

    #[test]
    fn bfs_frees_each_expanded_block_so_the_frontier_never_holds_two_whole_levels() {
        for threads in [1, 2] {
            let out = search(&Tree, &SearchConfig { threads, ..SearchConfig::default() });
            assert!(out.exhaustive);
            assert_eq!(out.unique_states, (1 << 13) - 1);
            // At most the last level (2^12) plus the block being expanded; two whole levels
            // would be 2^11 + 2^12.
            let block = if threads == 1 { BATCH } else { ROUND * threads } as u64;
            assert!(out.peak_frontier >= 1 << 12, "{threads} threads: {}", out.peak_frontier);
            assert!(out.peak_frontier <= (1 << 12) + block, "{threads} threads: {}", out.peak_frontier);
            assert_eq!(
                out.visited_bytes,
                out.memory_bytes - out.peak_frontier * std::mem::size_of::<((u8, u16), u32)>() as u64
            );
        }
    }

    #[test]
    fn counterexamples_end_at_the_first_violation_and_differ_in_mechanism() {
        let ys = |_: usize, p: &IndexPath| replay(&Counters, p).unwrap().1.last().map(|(_, s)| s.1);
        let out = counterexamples(&Counters, &SearchConfig::default(), &[0], 10, ys);
        let found = &out.found[0];
        // x + y = 3 first at (3,0), (2,1), (1,2), (0,3); never a longer path through them.
        assert_eq!(found.iter().map(|(_, y)| y.unwrap()).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert!(found.iter().all(|(p, _)| p.actions.len() == 3));
        assert_eq!(Some(&found[0].0), search(&Counters, &SearchConfig::default()).discoveries[0].as_ref());
        assert!(out.stopped.is_none());
        let two = counterexamples(&Counters, &SearchConfig::default(), &[0], 2, ys);
        assert_eq!(two.found[0].len(), 2);
        let same = counterexamples(&Counters, &SearchConfig::default(), &[0], 10, |_, _| ());
        assert_eq!(same.found[0].len(), 1);
    }
}
