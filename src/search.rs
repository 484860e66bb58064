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
//! - Breadth-first with [`SearchConfig::threads`] > 1: the search runs on one thread of a rayon
//!   pool. Each level is expanded in small rounds ([`ROUND`] states per thread): every pool
//!   thread computes the successors of the round's states it allocated (then takes others'),
//!   drops those already stored and evaluates the properties on the rest; the searching thread
//!   inserts the fingerprints in the order one thread would, so states, counts, verdicts and
//!   paths are the same whatever the number of threads; then each thread holds the new
//!   successors it computed for the frontier (with a pool of shared actor states of its own)
//!   and frees the others. So each thread mostly touches memory it allocated, in its own
//!   core's cache (see `expand_round`).
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
    /// Threads of the breadth-first search (and of the depth-first search's shortening of its
    /// discoveries), at least 1. The result does not depend on it: the threads compute
    /// successors, one of them inserts them in the order one thread would (see [`bfs`]).
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
        for i in 0..self.props.len() {
            if self.discovers(model, i, s) {
                self.watched[i] = false;
                self.open -= 1;
                hit(i);
            }
        }
    }

    /// Whether `s` discovers property `i` while it is watched and undiscovered: violates an
    /// `always`, satisfies a `sometimes`.
    #[inline]
    fn discovers(&self, model: &M, i: usize, s: &M::State) -> bool {
        let p = &self.props[i];
        self.watched[i]
            && match p.expectation {
                Expectation::Always => !(p.condition)(model, s),
                Expectation::Sometimes => (p.condition)(model, s),
                Expectation::Eventually => false,
            }
    }

    /// Words of property bits per state in [`Watch::hits`]: one per 64 properties, none when
    /// every property is decided.
    fn words(&self) -> usize {
        if self.open == 0 {
            0
        } else {
            self.props.len().div_ceil(64)
        }
    }

    /// Appends [`Watch::words`] words to `out`: bit `i` set if `s` discovers the watched,
    /// undiscovered property `i`. Reads only (workers call it in parallel); [`Watch::apply`]
    /// then does what [`Watch::check`] would have done.
    #[inline]
    fn hits(&self, model: &M, s: &M::State, out: &mut Vec<u64>) {
        let at = out.len();
        out.resize(at + self.words(), 0);
        if self.open == 0 {
            return;
        }
        for i in 0..self.props.len() {
            if self.discovers(model, i, s) {
                out[at + i / 64] |= 1 << (i % 64);
            }
        }
    }

    /// As [`Watch::check`], from the bits [`Watch::hits`] computed for the state (while the
    /// properties watched were at least those watched now).
    #[inline]
    fn apply(&mut self, bits: &[u64], mut hit: impl FnMut(usize)) {
        if self.open == 0 {
            return;
        }
        for (w, &word) in bits.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let i = w * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                if self.watched[i] {
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
/// States per thread of a multi-threaded breadth-first round (see [`bfs`]). Small, so that a
/// round's successors stay in the cores' caches from their computation to their insertion and
/// holding: with 1024 states per thread a round's successors (several megabytes on the
/// protocol models) left the caches, and every later touch of them (insertion, holding, the
/// allocator reusing their memory) missed, which cost more than the second thread gained
/// (measured on `directus-10.11.1-session-replay` R=2 T=2, 2 threads pinned to one core:
/// 1.57 CPU seconds with 1024, 1.25 with 64, 1.07 with 32, 1.18 with 16 (more rounds, more
/// synchronisation); 0.85 with one thread).
const ROUND: usize = 32;
/// The fewest states of a round that the pool's threads expand together: a smaller round (the
/// first levels of every search, the end of a level, and the whole of a tiny model's search)
/// is expanded on the searching thread alone, since waking the others costs more than it
/// saves. The result is the same either way.
const POOL_MIN: usize = ROUND;

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

/// A frontier entry: a held state, its state number, and the pool thread that allocated it
/// (which expands it if it can: see [`expand_round`]).
type Entry<S> = (<S as Frontier>::Held, u32, u16);

/// One unit of a breadth-first round: up to [`BATCH`] of the round's states allocated by one
/// thread, and what expanding them gave. The thread that expands a unit also holds its new
/// successors and frees the others ([`hold_units`]); the inserting thread reads only the
/// fingerprints, parent ids and property bits.
struct Unit<M: Model>
where
    M::State: Frontier,
{
    /// The states to expand (moved out of the round), in round order.
    input: Vec<Entry<M::State>>,
    /// Their successors, in expansion order.
    states: Vec<M::State>,
    /// The successors' fingerprints.
    fps: Vec<u64>,
    /// Per input state: the end of its successors in `states`.
    ends: Vec<u32>,
    /// Per input state: the transitions it generated, and [`AT_BOUND`] if it met the depth bound.
    generated: Vec<u32>,
    /// Parallel rounds only: per successor, [`Watch::words`] words of bits, bit `i` set if the
    /// successor discovers property `i` (violates an `always`, satisfies a `sometimes`), for
    /// the properties watched when the round began. Empty: not computed (one thread), the
    /// inserting thread checks each new state itself.
    hits: Vec<u64>,
    /// Per successor: its state number if it is new, [`NO_PARENT`] if it was found before.
    nids: Vec<u32>,
    /// Per input state: how many of its successors are new.
    news: Vec<u32>,
    /// The new successors, held, in insertion order.
    held: std::collections::VecDeque<Entry<M::State>>,
    /// The pool thread (its index) that expanded the unit, so allocated its successors.
    owner: u16,
}

impl<M: Model> Default for Unit<M>
where
    M::State: Frontier,
{
    fn default() -> Self {
        Unit {
            input: Vec::new(),
            states: Vec::new(),
            fps: Vec::new(),
            ends: Vec::new(),
            generated: Vec::new(),
            hits: Vec::new(),
            nids: Vec::new(),
            news: Vec::new(),
            held: Default::default(),
            owner: 0,
        }
    }
}

/// Marks, in [`Unit::generated`], a state that met the depth bound with successors left.
const AT_BOUND: u32 = 1 << 31;

/// The index of the pool thread running this code (0 outside a pool).
fn thread_index() -> u16 {
    rayon::current_thread_index().unwrap_or(0) as u16
}

impl<M: Model> Unit<M>
where
    M::State: Frontier + Hash,
{
    /// Expands the unit's states. `parallel`: also drop the successors already in the table
    /// (most of them: states of earlier levels and rounds; their slots were prefetched by
    /// `successors`) and evaluate the watched properties on the others, so the inserting thread
    /// only reads bits.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        model: &M,
        cfg: &SearchConfig<M::State>,
        at_bound: bool,
        table: &FpTable,
        watch: &Watch<M>,
        actions: &mut Vec<M::Action>,
        parallel: bool,
    ) {
        self.owner = thread_index();
        for (held, _, _) in self.input.iter_mut() {
            let (states, fps) = (&mut self.states, &mut self.fps);
            let mut stopped = None;
            // Each state is expanded once: it may be moved out of the frontier.
            let s = M::State::take(held);
            let n = successors(model, cfg, &s, at_bound, table, actions, &mut stopped, |n, fp| {
                states.push(n);
                fps.push(fp);
            });
            drop(s);
            self.generated.push(n as u32 | if stopped.is_some() { AT_BOUND } else { 0 });
            self.ends.push(self.states.len() as u32);
        }
        if parallel {
            // Keep the new successors, compacting each state's range in place.
            let (mut from, mut kept) = (0usize, 0usize);
            for end in self.ends.iter_mut() {
                for k in from..*end as usize {
                    if !table.contains(self.fps[k]) {
                        self.states.swap(kept, k);
                        self.fps[kept] = self.fps[k];
                        kept += 1;
                    }
                }
                from = *end as usize;
                *end = kept as u32;
            }
            // Freed here, on the thread that allocated them.
            self.states.truncate(kept);
            self.fps.truncate(kept);
            for n in &self.states {
                watch.hits(model, n, &mut self.hits);
            }
        }
    }

    /// Holds the new successors in `pool` (in insertion order, into `held`) and frees the
    /// others.
    fn hold(&mut self, pool: &mut <M::State as Frontier>::Pool) {
        let owner = self.owner;
        for (n, &nid) in self.states.drain(..).zip(&self.nids) {
            if nid != NO_PARENT {
                self.held.push_back((n.hold(pool), nid, owner));
            }
        }
    }

    fn clear(&mut self) {
        self.input.clear();
        self.states.clear();
        self.fps.clear();
        self.ends.clear();
        self.generated.clear();
        self.hits.clear();
        self.nids.clear();
        self.news.clear();
        self.held.clear();
    }
}

/// Runs `work` on this thread and offers it to each other thread of `pool`; returns when every
/// run has returned. `work` takes its share of a round's units until none is left, so a thread
/// of the pool that the system does not schedule in time (on a loaded machine) is not waited
/// for: its offer is run here, after the units are all taken, and returns at once. (A rayon
/// broadcast would wait for every thread to run it.)
fn on_every_thread(pool: &rayon::ThreadPool, work: impl Fn() + Sync) {
    pool.in_place_scope(|scope| {
        for _ in 1..pool.current_num_threads() {
            scope.spawn(|_| work());
        }
        work();
    });
}

/// Holds the new successors of the round's units (see [`Unit::hold`]), each with the pool of
/// the thread that expanded it: with `pool` (when the round was expanded in parallel), each
/// thread takes the units it expanded first (so it finds them in its core's cache and frees
/// the duplicates with the allocator's fast path), then the others'; else on this thread.
fn hold_units<M>(
    units: &mut [std::sync::Mutex<Unit<M>>],
    shared: &mut [std::sync::Mutex<<M::State as Frontier>::Pool>],
    pool: Option<&rayon::ThreadPool>,
) where
    M: Model,
    M::State: Frontier + Hash + Send,
{
    match pool {
        Some(pool) => {
            let mut by_owner: Vec<Vec<usize>> = vec![Vec::new(); shared.len()];
            for (k, u) in units.iter_mut().enumerate() {
                let owner = u.get_mut().unwrap_or_else(|e| e.into_inner()).owner as usize;
                by_owner[owner.min(shared.len() - 1)].push(k);
            }
            let (units, shared, by_owner) = (&*units, &*shared, &by_owner);
            let next: Vec<std::sync::atomic::AtomicUsize> = by_owner.iter().map(|_| Default::default()).collect();
            on_every_thread(pool, || {
                let me = thread_index() as usize;
                // Its own units first, then the others' (with their owners' pools).
                for t in (0..shared.len()).map(|k| (me + k) % shared.len()) {
                    while let Some(&k) = by_owner[t].get(next[t].fetch_add(1, Ordering::Relaxed)) {
                        let mut pool = shared[t].lock().unwrap_or_else(|e| e.into_inner());
                        units[k].lock().unwrap_or_else(|e| e.into_inner()).hold(&mut pool);
                    }
                }
            });
        }
        None => {
            for u in units.iter_mut() {
                let u = u.get_mut().unwrap_or_else(|e| e.into_inner());
                let lane = (u.owner as usize).min(shared.len() - 1);
                u.hold(shared[lane].get_mut().unwrap_or_else(|e| e.into_inner()));
            }
        }
    }
}

/// Where each state of a round went: `order` lists the round's positions grouped by the
/// thread that allocated them (in round order within a thread), the units take them in that
/// order, [`BATCH`] at a time, and `at[i]` is state `i`'s (unit, position in it). Buffers
/// reused from round to round.
#[derive(Default)]
struct Layout {
    order: Vec<u32>,
    at: Vec<(u32, u32)>,
    /// Per thread: its units, `first[t]..first[t + 1]`.
    first: Vec<usize>,
}

/// Expands `round` (states of one breadth-first level) into `units`, in units of at most
/// [`BATCH`] states allocated by one thread (see [`Layout`]). With a `pool` and at least
/// [`POOL_MIN`] states, each pool thread expands the units of the states it allocated, then
/// takes units of the others (so a thread slowed by other load does less, and its states
/// change hands); a thread that expands states it allocated frees them with the allocator's
/// fast path and finds them in its own core's cache. The table is only read until all are
/// done. Returns the number of units used and whether the pool's threads expanded the round.
#[allow(clippy::too_many_arguments)]
fn expand_round<M>(
    model: &M,
    cfg: &SearchConfig<M::State>,
    round: Vec<Entry<M::State>>,
    at_bound: bool,
    table: &FpTable,
    watch: &Watch<M>,
    units: &mut Vec<std::sync::Mutex<Unit<M>>>,
    layout: &mut Layout,
    pool: Option<&rayon::ThreadPool>,
    threads: usize,
) -> (usize, bool)
where
    M: Model + Sync,
    M::State: Frontier + Hash + Clone + Send + Sync,
{
    let parallel = pool.is_some() && round.len() >= POOL_MIN;
    let lanes = if parallel { threads } else { 1 };
    // Counting sort of the round's positions by owner (stable: round order within an owner).
    let lane = |o: u16| if parallel { (o as usize).min(lanes - 1) } else { 0 };
    let mut counts = vec![0usize; lanes + 1];
    for e in &round {
        counts[lane(e.2) + 1] += 1;
    }
    for t in 0..lanes {
        counts[t + 1] += counts[t];
    }
    layout.order.clear();
    layout.order.resize(round.len(), 0);
    let mut fill = counts.clone();
    for (i, e) in round.iter().enumerate() {
        let l = lane(e.2);
        layout.order[fill[l]] = i as u32;
        fill[l] += 1;
    }
    // Units: runs of up to BATCH positions of one owner.
    layout.first.clear();
    let mut n_units = 0usize;
    for t in 0..lanes {
        layout.first.push(n_units);
        n_units += (counts[t + 1] - counts[t]).div_ceil(BATCH);
    }
    layout.first.push(n_units);
    while units.len() < n_units {
        units.push(Default::default());
    }
    layout.at.clear();
    layout.at.resize(round.len(), (0, 0));
    let mut entries: Vec<Option<Entry<M::State>>> = round.into_iter().map(Some).collect();
    for t in 0..lanes {
        for (k, run) in layout.order[counts[t]..counts[t + 1]].chunks(BATCH).enumerate() {
            let u = layout.first[t] + k;
            let unit = units[u].get_mut().unwrap_or_else(|e| e.into_inner());
            for (p, &i) in run.iter().enumerate() {
                layout.at[i as usize] = (u as u32, p as u32);
                unit.input.push(entries[i as usize].take().expect("each state in one unit"));
            }
        }
    }
    drop(entries);
    match pool.filter(|_| parallel) {
        Some(pool) => {
            use std::sync::atomic::AtomicUsize;
            let next: Vec<AtomicUsize> = (0..lanes).map(|t| AtomicUsize::new(layout.first[t])).collect();
            let (first, units) = (&layout.first, &*units);
            on_every_thread(pool, || {
                let me = thread_index() as usize;
                let mut actions = Vec::new();
                // Its own units first, then the others'.
                for t in (0..lanes).map(|k| (me + k) % lanes) {
                    loop {
                        let u = next[t].fetch_add(1, Ordering::Relaxed);
                        if u >= first[t + 1] {
                            break;
                        }
                        let mut unit = units[u].lock().unwrap_or_else(|e| e.into_inner());
                        unit.expand(model, cfg, at_bound, table, watch, &mut actions, true);
                    }
                }
            });
        }
        None => {
            let mut actions = Vec::new();
            for u in units[..n_units].iter_mut() {
                let unit = u.get_mut().unwrap_or_else(|e| e.into_inner());
                unit.expand(model, cfg, at_bound, table, watch, &mut actions, false);
            }
        }
    }
    (n_units, parallel)
}

/// A breadth-first level: its states with their state numbers, in insertion order, in blocks
/// of at most `block` states (one round of [`bfs`] each). A block is freed as soon as it is
/// expanded, so the search holds the unexpanded part of one level and the part of the next
/// found so far: at most about the larger of two consecutive levels, not their sum.
struct Level<T> {
    blocks: std::collections::VecDeque<Vec<T>>,
    block: usize,
    len: usize,
}

impl<T> Level<T> {
    fn new(block: usize) -> Self {
        Level { blocks: std::collections::VecDeque::new(), block: block.max(1), len: 0 }
    }

    fn push(&mut self, item: T) {
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
    fn pop(&mut self) -> Option<Vec<T>> {
        let b = self.blocks.pop_front()?;
        self.len -= b.len();
        Some(b)
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the states for which `keep` holds (a partitioned search's share).
    fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
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
    let threads = cfg.threads.max(1);
    // Without a pool of worker threads (one thread, or none could be started), a round is one
    // batch expanded on this thread. With one, the whole search runs on a thread of the pool,
    // which takes its share of each round's chunks: `threads` threads in all, none of them
    // waiting for the others (no thread of its own that only inserts).
    let pool = (threads > 1).then(|| rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok()).flatten();
    match &pool {
        Some(p) => p.install(|| bfs_on(model, cfg, only, Some(p), threads)),
        None => bfs_on(model, cfg, only, None, 1),
    }
}

/// [`bfs`] with `pool` (of `threads` threads) or on this thread alone.
fn bfs_on<M>(
    model: &M,
    cfg: &SearchConfig<M::State>,
    only: Option<usize>,
    pool: Option<&rayon::ThreadPool>,
    threads: usize,
) -> SearchOutcome
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

    // A round's successors are allocated before the next reading of the resident memory
    // (under a memory budget): rounds are small, so they overshoot it little.
    let per_round = if pool.is_none() { BATCH } else { ROUND * threads };
    let mut units: Vec<std::sync::Mutex<Unit<M>>> = Vec::new();
    let mut layout = Layout::default();
    let mut level: Level<Entry<M::State>> = Level::new(per_round);
    let mut next: Level<Entry<M::State>> = Level::new(per_round);
    // What the held frontier states share (see [`Frontier`]): one pool per pool thread, for the
    // states that thread allocated and will expand. A thread then touches (copies, counts
    // references to) the shared parts of its own states only: parts shared by states that
    // two threads expand would bounce between their cores' caches at every copy.
    let mut shared: Vec<std::sync::Mutex<<M::State as Frontier>::Pool>> =
        (0..threads).map(|_| Default::default()).collect();
    let lane = |owner: u16| (owner as usize).min(threads - 1);
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
            let pool = shared[lane(thread_index())].get_mut().unwrap_or_else(|e| e.into_inner());
            level.push((s.hold(pool), id, thread_index()));
        }
    }
    done |= watch.all_found();

    'search: while !done && !level.is_empty() {
        let at_bound = cfg.max_depth.is_some_and(|d| depth >= d);
        if let Some(p) = cfg.partition.filter(|p| p.depth == depth) {
            // A partitioned search goes on from its share of this level only.
            level.retain(|(s, _, _)| p.owns(fingerprint(&*M::State::restore(s))));
        }
        // A level is expanded in rounds: the pool's threads compute the successors of the
        // round's states (canonical, fingerprinted, table slots prefetched, see
        // `expand_round`), then this thread inserts their fingerprints in round order, so in
        // the order one thread would and with the same outcome whatever the number of threads;
        // then each thread holds the new successors it computed and frees the others
        // (`hold_units`), and this thread appends the held ones to the next level in order.
        while let Some(round) = level.pop() {
            peak_frontier = peak_frontier.max(level.len + round.len() + next.len);
            if let Some(stop) = limits.poll(states, &table, depth) {
                stopped = Some(stop);
                level.blocks.push_front(round);
                break 'search;
            }
            let words = watch.words();
            let (n_units, parallel) =
                expand_round(model, cfg, round, at_bound, &table, &watch, &mut units, &mut layout, pool, threads);
            // Chunk by chunk of `BATCH` states in round order, as one thread would: the
            // transitions counted when a search stops early are those of the chunks up to the
            // one it stopped in, whatever the threads.
            let n = layout.at.len();
            for chunk in (0..n).step_by(BATCH).map(|c| c..(c + BATCH).min(n)) {
                for &(u, p) in &layout.at[chunk.clone()] {
                    let unit = units[u as usize].get_mut().unwrap_or_else(|e| e.into_inner());
                    let g = unit.generated[p as usize];
                    states += u64::from(g & !AT_BOUND);
                    if g & AT_BOUND != 0 {
                        stopped.get_or_insert(Stop::DepthBound);
                    }
                }
                for &(u, p) in &layout.at[chunk] {
                    let unit = units[u as usize].get_mut().unwrap_or_else(|e| e.into_inner());
                    let from = if p == 0 { 0 } else { unit.ends[p as usize - 1] as usize };
                    let id = unit.input[p as usize].1;
                    let mut new = 0;
                    for k in from..unit.ends[p as usize] as usize {
                        let nid = parents.len() as u32;
                        if !table.insert(unit.fps[k], nid) {
                            unit.nids.push(NO_PARENT);
                            continue;
                        }
                        unit.nids.push(nid);
                        new += 1;
                        parents.push(id);
                        if parallel {
                            watch.apply(&unit.hits[k * words..(k + 1) * words], |i| found[i] = Some(nid));
                        } else {
                            watch.check(model, &unit.states[k], |i| found[i] = Some(nid));
                        }
                        if watch.all_found() {
                            done = true;
                            break 'search;
                        }
                        if cfg.max_states.is_some_and(|m| table.len() >= m) || nid == NO_PARENT - 1 {
                            stopped = Some(Stop::StateBound);
                            break 'search;
                        }
                    }
                    unit.news.push(new);
                }
            }
            hold_units(&mut units[..n_units], &mut shared, pool.filter(|_| parallel));
            // The held states join the next level in insertion order.
            for &(u, p) in &layout.at {
                let unit = units[u as usize].get_mut().unwrap_or_else(|e| e.into_inner());
                for _ in 0..unit.news[p as usize] {
                    next.push(unit.held.pop_front().expect("a held state per new successor"));
                }
            }
            for u in units[..n_units].iter_mut() {
                u.get_mut().unwrap_or_else(|e| e.into_inner()).clear();
            }
        }
        if next.is_empty() {
            break;
        }
        depth += 1;
        std::mem::swap(&mut level, &mut next);
        shared.iter_mut().for_each(|p| M::State::tidy(p.get_mut().unwrap_or_else(|e| e.into_inner())));
    }
    let exhaustive = !done && stopped.is_none() && level.is_empty() && next.is_empty();
    // Freeing a large frontier takes a while (up to seconds for millions of actor states): a
    // thread of its own does it, so that a search stopped by `--timeout` returns at once.
    if level.len + next.len > 4096 {
        let units: Vec<_> = units
            .into_iter()
            .map(|u| {
                let u = u.into_inner().unwrap_or_else(|e| e.into_inner());
                (u.input, u.states, u.held)
            })
            .collect();
        let frontier = (level.blocks, next.blocks, units, shared);
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
    let frontier_bytes = (peak_frontier * std::mem::size_of::<Entry<M::State>>()) as u64;
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
                out.memory_bytes - out.peak_frontier * std::mem::size_of::<Entry<(u8, u16)>>() as u64
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
