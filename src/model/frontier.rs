//! How the breadth-first search holds a state of the protocol models that it has yet to expand
//! ([`crate::search::Frontier`]): a [`Held`] state, about a third of the memory of a full one.
//!
//! A full [`State`] keeps its own vector of actor states. Most of its memory is actor states:
//! a step changes one or two actors and allocates a fresh `NodeState` (272 bytes, plus its
//! tabs) for each, although few of them are new. Measured on `directus-10.11.1-session` with 3
//! tabs, 12th level (3 159 states): 1.44 actor states per frontier state by allocation, 0.22 by
//! content.
//!
//! A held state therefore keeps:
//! - one shared copy of each distinct actor state ([`Pool`]: keyed by content, looked up by
//!   the state's cached content hash, tidied after each level of what no held state uses any
//!   more);
//! - the network, the timers and the history as they are.
//!
//! [`Frontier::restore`] returns a state equal to the one held (equal fingerprint, the same
//! actions in the same order), so every count, verdict and path is as with full states.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use super::system::{Net, Timers};
use super::{InFlight, NodeState, State};
use crate::search::Frontier;

/// One distinct copy of each actor state held by the frontier, keyed by content (hashed as
/// the state's cached content hash, [`super::cached::Cached`]). A state's actor that is already
/// this pool's copy (most of them: a step changes one or two actors and the others are its
/// parent's, restored from the pool) carries the pool's mark ([`NodeState::pool`]) and is kept
/// as it is, without a lookup. The mark is only set on the copy the pool holds, and the pool
/// lets a copy go only when nothing else holds it, so an actor state with this pool's mark is
/// in this pool.
pub struct Pool {
    states: HashSet<Arc<NodeState>, ahash::RandomState>,
    /// This pool's mark, unique in the process (never 0).
    id: u32,
}

impl Default for Pool {
    fn default() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).max(1);
        Pool { states: HashSet::default(), id }
    }
}

impl Pool {
    /// The pool's copy of `s` (adding `s`, or a copy of it, if it has none).
    ///
    /// A search may keep several pools (the breadth-first search keeps one per thread, for the
    /// states that thread expands); no two pools share a copy, else [`Frontier::tidy`] would
    /// see it used and never drop it. So a state that this pool lacks is added as it is only if
    /// nothing else holds it (a fresh actor state of a successor); one held elsewhere (maybe
    /// another pool's copy, in a state expanded by another thread) is copied first.
    fn share(&mut self, s: Arc<NodeState>) -> Arc<NodeState> {
        if s.pool() == self.id {
            return s;
        }
        if let Some(c) = self.states.get(&s) {
            return Arc::clone(c);
        }
        let s = if Arc::strong_count(&s) > 1 { Arc::new(NodeState::clone(&s)) } else { s };
        s.mark_pool(self.id);
        self.states.insert(Arc::clone(&s));
        s
    }

    /// Distinct actor states in the pool: a count.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

/// What the frontier holds of a [`State`] (see the module's documentation).
pub struct Held {
    /// The actor states, shared through the [`Pool`].
    actors: Box<[Arc<NodeState>]>,
    /// The messages in flight.
    network: Net,
    /// The timers set.
    timers: Timers,
    /// The history.
    history: InFlight,
}

impl Frontier for State {
    type Held = Held;
    type Pool = Pool;

    fn hold(self, pool: &mut Pool) -> Held {
        let State { actor_states, network, timers, history } = self;
        Held { actors: actor_states.into_iter().map(|a| pool.share(a)).collect(), network, timers, history }
    }

    fn restore(h: &Held) -> Cow<'_, State> {
        Cow::Owned(State {
            actor_states: h.actors.to_vec(),
            network: h.network.clone(),
            timers: h.timers.clone(),
            history: h.history.clone(),
        })
    }

    fn take(h: &mut Held) -> Cow<'_, State> {
        let kind = h.network.kind();
        Cow::Owned(State {
            actor_states: std::mem::take(&mut h.actors).into_vec(),
            network: std::mem::replace(&mut h.network, Net::new(kind)),
            timers: std::mem::take(&mut h.timers),
            history: std::mem::take(&mut h.history),
        })
    }

    fn tidy(pool: &mut Pool) {
        pool.states.retain(|s| Arc::strong_count(s) > 1);
    }
}

/// A scenario query's product state (the model's state and the query automaton's state): the
/// model's state held as above.
impl Frontier for (State, u16) {
    type Held = (Held, u16);
    type Pool = Pool;

    fn hold(self, pool: &mut Pool) -> (Held, u16) {
        (self.0.hold(pool), self.1)
    }

    fn restore(h: &(Held, u16)) -> Cow<'_, (State, u16)> {
        Cow::Owned((State::restore(&h.0).into_owned(), h.1))
    }

    fn take(h: &mut (Held, u16)) -> Cow<'_, (State, u16)> {
        Cow::Owned((State::take(&mut h.0).into_owned(), h.1))
    }

    fn tidy(pool: &mut Pool) {
        State::tidy(pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::Model;

    /// Every actor state is allocated at the size of the largest [`NodeState`] variant (by
    /// the `Arc` of a state, and by the pool): it stays that of the authorization server
    /// without its boxed second node.
    #[test]
    fn an_actor_state_is_no_larger_than_the_largest_variant_needs() {
        use std::mem::size_of;
        let sizes = [
            size_of::<super::super::browser::BrowserState>(),
            size_of::<super::super::ServerState>(),
            size_of::<super::super::store::StoreState>(),
            size_of::<super::super::oauth::AsState>(),
        ];
        eprintln!("browser, server, store, authorization server: {sizes:?}; NodeState {}", size_of::<NodeState>());
        let largest = *sizes.iter().max().unwrap();
        // The wrapper's hash and pool flag, and the discriminant.
        assert!(size_of::<NodeState>() <= largest + 24, "{}", size_of::<NodeState>());
        assert!(size_of::<NodeState>() <= 320, "{}", size_of::<NodeState>());
    }

    /// The shipped `directus-10.11.1-session` model with 3 tabs.
    fn three_tab_model() -> super::super::RefreshModel {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/directus-10.11.1-session.json");
        let sc = crate::scenario::Scenario::load(std::path::Path::new(path)).unwrap().with_tabs(3).unwrap();
        super::super::build(&sc)
    }

    /// Held and restored, every state of the first levels of a 3-tab model is equal to the
    /// original, hashes alike and lists the same actions in the same order; the pool shares
    /// actor states.
    #[test]
    fn restored_states_equal_the_held_ones_and_act_alike() {
        let model = three_tab_model();
        let mut pool = Pool::default();
        let mut level = model.init_states();
        let (mut held, mut allocations) = (0usize, std::collections::HashSet::new());
        for _ in 0..7 {
            let mut next = Vec::new();
            for s in &level {
                let mut actions = Vec::new();
                model.actions(s, &mut actions);
                next.extend(actions.into_iter().filter_map(|a| model.next_state(s, a)));
            }
            for s in &next {
                let h = s.clone().hold(&mut pool);
                let r = State::restore(&h);
                assert_eq!(*r, *s);
                assert_eq!(crate::search::fingerprint(&*r), crate::search::fingerprint(s));
                let (mut a, mut b) = (Vec::new(), Vec::new());
                model.actions(s, &mut a);
                model.actions(&r, &mut b);
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
                let mut h2 = s.clone().hold(&mut pool);
                assert_eq!(*State::take(&mut h2), *s);
                held += h.actors.len();
                allocations.extend(h.actors.iter().map(|a| Arc::as_ptr(a) as usize));
            }
            level = next;
        }
        assert!(held > 1000, "{held}");
        // Shared: far fewer distinct actor states than actor slots.
        assert!(allocations.len() * 4 < held, "{} of {held}", allocations.len());
        drop(level);
        State::tidy(&mut pool);
        assert!(pool.is_empty(), "{} left", pool.len());
    }

    /// The breadth-first search keeps a pool per thread, and a state held by one thread's pool
    /// may be expanded by another thread and its successors held in that thread's pool: the two
    /// pools never share a copy of an actor state (else `tidy` would keep it for ever), and
    /// once no held state uses them, `tidy` empties both.
    #[test]
    fn two_pools_share_no_copy_and_tidy_empties_both() {
        let model = three_tab_model();
        let (mut a, mut b) = (Pool::default(), Pool::default());
        // Level by level, the states alternate between the pools; each is expanded from its
        // held form, so its unchanged actor states are the other pool's copies.
        let mut level: Vec<(Held, bool)> = model.init_states().into_iter().map(|s| (s.hold(&mut a), true)).collect();
        let mut held = 0;
        for _ in 0..6 {
            let mut next = Vec::new();
            for (h, in_a) in &level {
                let s = State::restore(h);
                let mut actions = Vec::new();
                model.actions(&s, &mut actions);
                for n in actions.into_iter().filter_map(|x| model.next_state(&s, x)) {
                    let pool = if *in_a { &mut b } else { &mut a };
                    let h = n.clone().hold(pool);
                    assert_eq!(*State::restore(&h), n);
                    next.push((h, !*in_a));
                    held += 1;
                }
            }
            level = next;
        }
        assert!(held > 500, "{held}");
        assert!(!a.is_empty() && !b.is_empty());
        let in_a: HashSet<usize> = a.states.iter().map(|s| Arc::as_ptr(s) as usize).collect();
        assert!(b.states.iter().all(|s| !in_a.contains(&(Arc::as_ptr(s) as usize))), "a copy in both pools");
        drop(level);
        State::tidy(&mut a);
        State::tidy(&mut b);
        assert!(a.is_empty() && b.is_empty(), "{} and {} left", a.len(), b.len());
    }
}
