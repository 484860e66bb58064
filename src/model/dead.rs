//! Dead-value reduction: values of the Directus server's state that no later step and no
//! property reads again are set to a canonical one, so that states differing only in them are
//! stored once.
//!
//! [`reset`] is a function `State -> State`, composed before the symmetry representative
//! ([`reduction`]): the search stores and expands `representative(reset(s))`. It rewrites the
//! API process's state ([`ServerState`], of a model with a `server` or `session_server`
//! section), the session rows' expiries in the store and in `select` results in flight (rule
//! 5, in [`clamp_results`], the one function that touches the network); the browser, the
//! timers and the history are untouched.
//!
//! # The reset rules
//!
//! Let `now` be the server's clock and `max` the file's `time.max_ticks`: the clock never
//! exceeds `max` (its timer is armed only while `now < max`) and never goes back. Every
//! handler's `checked_at` and every tick recorded in the ghost `accepted` list is a value the
//! clock had, so it is at most `now`; a token superseded from now on is recorded with a tick
//! at least `now`. The only readers of these ghost values are the record of an answer
//! (`record_answer`, which folds a handler's `checked_at` into `accepted` by `max`) and two
//! properties: `rotated_token_expires` (violated when a token superseded at `τ` was accepted
//! at a tick `> τ + grace`) and `sp6_absolute_lifetime` (violated when a token was accepted at
//! a tick `>= time.session_lifetime`). So a recorded tick `a` of token `t` only matters through
//! whether it is *violating*: `a > τ + grace` for `t`'s recorded supersession `τ`, or
//! `a >= lifetime`. Non-violating values are interchangeable:
//!
//! 1. **Supersessions past the horizon** (`superseded`): an entry `(t, τ)` with
//!    `τ + grace >= max` is removed. No tick the clock can reach exceeds `τ + grace`, so no
//!    acceptance of `t` can violate `rotated_token_expires` because of it; a later
//!    supersession of `t` (recorded since the entry is gone) has `τ' >= τ`, so it is removed
//!    as well.
//! 2. **Non-violating acceptances** (`accepted`): an entry `(t, a)` whose `a` is not violating
//!    (for `t`'s supersession as kept by rule 1, or none) is removed. The properties hold on
//!    it either way; a later acceptance at `c` records `max(a, c)`, violating exactly when `c`
//!    is, and then equal to `c` (the one recorded without the entry). When `t` is superseded
//!    later, at `τ' >= now >= a`, `a` is still not violating.
//! 3. **Non-violating checks** (a handler's `checked_at`): set to 0 when not violating for
//!    the token its answer would record (`accepted_token`), by the same argument; 0 is itself
//!    never violating unless every tick is (`time.session_lifetime` 0, then nothing is reset).
//!    A later check overwrites it with `now`.
//! 4. **A drawn token no step will read** (a handler's `fresh`): set to 0 when no step the
//!    handler can still run reads `fresh`
//!    ([`SHandler::fresh_live_steps`](crate::protocol::sessions::SHandler::fresh_live_steps);
//!    the handler waits to run step `at` of its endpoint). Only the interpreter's `fresh` variable reads it; the
//!    server's counter `next_fresh`, which numbers the tokens, is untouched.
//!
//! 5. **Expiries past the clock's reach** (a session row's `expires`, in the store and in the
//!    `select` results in flight): set to `max` when above it. The store compares an expiry
//!    only with a clock value a statement carries (`expires >= now` of `select`, `expires <
//!    now` of the purge), at most `max`, so every expiry at or above `max` compares alike; the
//!    Directus properties read whether a row exists, never its expiry; a `select` result
//!    hands the row to the handler, which reads its expiry only through `row.expires`. So the
//!    rule applies only when no step reads `row.expires`, and, since it rewrites results in
//!    flight, only with an `unordered_nonduplicating` network and no history of messages
//!    (`time.max_in_flight_ticks` unset). Writes set an expiry whatever it was, so the
//!    expiries that statements in flight will write are clamped as well, and the clock value
//!    a rename or a claim carries (which the store ignores) is set to 0.
//!
//! Each rule keeps every property's value (they read only the entries and values kept
//! apart), and the successors of `s` and of `reset(s)`, once reset, are the same (a
//! bisimulation; action by action, except that a rewritten message in flight may be listed at
//! another place). So breadth-first search reaches the same classes at the same depths, with
//! the same verdicts and the same shortest counterexample lengths; paths are rebuilt from real
//! states (as under symmetry), and on every shipped model they and the golden traces are those
//! of the search without the reduction (`tests/dead_values.rs`). The unit tests check, on every
//! state reachable without reduction in several models, that `reset(s)` has `s`'s property
//! values, lists as many actions, and has the same successors once reset, and that every rule
//! fires.
//!
//! Queries (`--query`) search without any reduction, so this module need not keep apart what
//! their state view reads.
//!
//! Sources: the readers are `record_answer` and `interpreted` in [`super`],
//! [`super::sessions::step_deciding`] (the only reader of `fresh` and writer of `checked_at`),
//! [`super::store::StoreState::exec`] (the only reader of a row's expiry but the `row.expires`
//! variable), and `rotated_token_expires` and `sp6_absolute_lifetime` in [`crate::properties`].

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use crate::protocol::sessions::SessionProgram;

use super::system::{Net, NetKind};

use super::server::{Endpoint, Handler, Stage};
use super::store::{Row, Sql, SqlResult, StoreState};
use super::symmetry::Representative;
use super::{Msg, NodeState, ServerGhost, ServerState, State, Tick, Token};

/// What [`reset`] needs to know of the model, carried by the server's state since a reduction
/// is a plain function of the state. Constant for a model, so it is no part of the state's
/// identity: it compares equal to any other, hashes as nothing and is not serialized.
/// `Params::default()` turns the reduction off (a state built without it is left as it is).
#[derive(Clone, Copy, Debug, Default)]
pub struct Params {
    /// The model reduces dead values.
    enabled: bool,
    /// The claimed grace (`rotated_token_expires`), ticks.
    grace: Tick,
    /// `time.max_ticks`: the clock's last tick.
    max_ticks: Tick,
    /// `time.session_lifetime` (`sp6_absolute_lifetime`), ticks.
    lifetime: Option<Tick>,
    /// [`fresh_live_steps`](crate::protocol::sessions::SHandler::fresh_live_steps) of the
    /// refresh, request and sign-out endpoints.
    fresh_live: [u32; 3],
    /// Rule 5 applies: no step reads `row.expires`, the network is unordered and not
    /// duplicating, and the history records no message.
    clamp_expiry: bool,
}

impl Params {
    /// The parameters of a Directus or `session_server` model running `program`, whose clock
    /// stops at `max_ticks` and whose session lives `lifetime` ticks (`None`: unbounded).
    /// `plain_network`: the network is `unordered_nonduplicating` and `time.max_in_flight_ticks`
    /// is unset (the messages in flight are kept in one multiset and nowhere else; rule 5).
    pub fn new(program: &SessionProgram, max_ticks: Tick, lifetime: Option<Tick>, plain_network: bool) -> Params {
        Params {
            clamp_expiry: plain_network && !program.reads_row_expires(),
            enabled: true,
            grace: program.reuse_interval,
            max_ticks,
            lifetime,
            fresh_live: [
                program.refresh.fresh_live_steps(),
                program.request.fresh_live_steps(),
                program.sign_out.fresh_live_steps(),
            ],
        }
    }
}

impl PartialEq for Params {
    fn eq(&self, _: &Params) -> bool {
        true
    }
}
impl Eq for Params {}
impl Hash for Params {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}
impl PartialOrd for Params {
    fn partial_cmp(&self, other: &Params) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Params {
    fn cmp(&self, _: &Params) -> Ordering {
        Ordering::Equal
    }
}

/// The token whose acceptance a handler's answer records (`record_answer`): the presented
/// refresh token of a refresh, the session cookie's claim otherwise.
pub fn accepted_token(h: &Handler) -> Option<Token> {
    match h.endpoint {
        Endpoint::Refresh => h.cred.presented(),
        _ => h.cred.cookie.map(|j| j.session),
    }
}

/// `τ + grace` for token `t`'s recorded supersession if it is within the clock's reach
/// (`< max_ticks`), else `None` (never superseded, or past the horizon: rule 1).
fn horizon(p: &Params, g: &ServerGhost, t: Option<Token>) -> Option<u16> {
    let t = t?;
    let i = g.superseded.binary_search_by_key(&t, |&(x, _)| x).ok()?;
    let bound = u16::from(g.superseded[i].1) + u16::from(p.grace);
    (bound < u16::from(p.max_ticks)).then_some(bound)
}

/// Whether an acceptance at tick `a` violates (or would, once recorded) one of the two
/// properties that read acceptance ticks, given the token's horizon.
fn violating(p: &Params, bound: Option<u16>, a: Tick) -> bool {
    bound.is_some_and(|b| u16::from(a) > b) || p.lifetime.is_some_and(|l| a >= l)
}

/// Whether `fresh` is dead in handler `h`: no step it can still run reads it (rule 4).
fn fresh_dead(p: &Params, h: &Handler) -> bool {
    let at = match h.stage {
        Stage::Received => 0,
        Stage::Step { at, .. } => at,
    };
    let e = match h.endpoint {
        Endpoint::Refresh => 0,
        Endpoint::UsersMe => 1,
        Endpoint::Logout => 2,
    };
    u32::from(at) < 32 && p.fresh_live[e] & (1 << at) == 0
}

/// The server state with its dead values reset, or `None` if it has none to reset.
fn reset_server(x: &ServerState) -> Option<ServerState> {
    let p = &x.dead;
    if !p.enabled {
        return None;
    }
    let g = &x.ghost;
    let superseded_dead = |&(_, tau): &(Token, Tick)| u16::from(tau) + u16::from(p.grace) >= u16::from(p.max_ticks);
    let accepted_dead = |&(t, a): &(Token, Tick)| !violating(p, horizon(p, g, Some(t)), a);
    let checked_dead = |h: &Handler| h.checked_at != 0 && !violating(p, horizon(p, g, accepted_token(h)), h.checked_at);
    let fresh_reset = |h: &Handler| h.fresh != 0 && fresh_dead(p, h);
    let any = g.superseded.iter().any(superseded_dead)
        || g.accepted.iter().any(accepted_dead)
        || x.handlers.iter().any(|h| checked_dead(h) || fresh_reset(h));
    if !any {
        return None;
    }
    let mut y = x.clone();
    // Rule 2 and 3 read the horizons that rule 1 keeps: decide them on `x`, then remove.
    y.ghost.accepted.retain(|e| !accepted_dead(e));
    for h in &mut y.handlers {
        if checked_dead(h) {
            h.checked_at = 0;
        }
        if fresh_reset(h) {
            h.fresh = 0;
        }
    }
    y.ghost.superseded.retain(|e| !superseded_dead(e));
    Some(y)
}

/// A server state's memo ([`Cached::memo`](super::cached::Cached::memo)): [`reset_server`]
/// finds nothing to reset in it (a function of the state alone: the rules read only the state
/// and the model's parameters it carries).
const CLEAN: u32 = 1;

/// A store state's memo ([`Cached::memo`](super::cached::Cached::memo)): no row's expiry is
/// above `max` (rule 5 has nothing to clamp in it).
fn clean_store(max: Tick) -> u32 {
    1 << 31 | u32::from(max)
}

/// `s` with the dead values of its Directus server reset (see the module documentation);
/// `s` itself, moved, when there are none or the model does not reduce them.
///
/// A server or store state found to have nothing to reset is marked so in its memo
/// ([`Cached::memo`](super::cached::Cached::memo): [`CLEAN`] for a server, [`clean_store`] for
/// a store), so that the successors that share it unchanged (most steps change one actor) do
/// not examine it again.
pub fn reset(mut s: State) -> State {
    let mut clamp = None;
    for actor in s.actor_states.iter_mut() {
        let NodeState::Server(x) = &**actor else { continue };
        if x.dead.clamp_expiry {
            clamp = Some(x.dead.max_ticks);
        }
        if x.memo() == CLEAN {
            debug_assert!(reset_server(x).is_none(), "a server state marked clean has dead values");
            continue;
        }
        match reset_server(x) {
            Some(y) => *actor = std::sync::Arc::new(NodeState::Server(y.into())),
            None => x.set_memo(CLEAN),
        }
    }
    if let Some(max) = clamp {
        for actor in s.actor_states.iter_mut() {
            let NodeState::Store(x) = &**actor else { continue };
            if x.memo() == clean_store(max) {
                debug_assert!(x.rows.iter().all(|r| r.expires <= max), "a store marked clean has a row to clamp");
                continue;
            }
            if x.rows.iter().all(|r| r.expires <= max) {
                x.set_memo(clean_store(max));
            } else {
                let mut y: StoreState = (**x).clone();
                for r in &mut y.rows {
                    r.expires = r.expires.min(max);
                }
                *actor = std::sync::Arc::new(NodeState::Store(y.into()));
            }
        }
        if let Some(n) = clamp_results(&s.network, max) {
            s.network = n;
        }
    }
    s
}

/// Rule 5 on the network: the rows that `select` results in flight carry and the expiries
/// that statements in flight will write, clamped to `max`, and the clock value of a rename or
/// a claim in flight, which the store does not read (its `now` is kept for the trace), set to
/// 0; `None` if there is nothing to change (or the network is not a multiset).
///
/// The one function of this module that reads or rewrites the network (re-sorted as the
/// network keeps it, [`super::system::Net::map_messages`]).
fn clamp_results(network: &Net, max: Tick) -> Option<Net> {
    if network.kind() != NetKind::UnorderedNonDuplicating {
        return None;
    }
    let clamp = |m: &Msg| match *m {
        Msg::QueryResult { client, result: SqlResult::Row(Some(r)) } => {
            Msg::QueryResult { client, result: SqlResult::Row(Some(Row { expires: r.expires.min(max), ..r })) }
        }
        Msg::Query { client, seq, sql } => {
            let sql = match sql {
                Sql::Rename { from, to, expires, kind, .. } => {
                    Sql::Rename { from, to, expires: expires.min(max), kind, now: 0 }
                }
                Sql::Extend { token, expires } => Sql::Extend { token, expires: expires.min(max) },
                Sql::ClaimNext { token, next, expires, .. } => {
                    Sql::ClaimNext { token, next, expires: expires.min(max), now: 0 }
                }
                Sql::Insert { token, expires, kind } => Sql::Insert { token, expires: expires.min(max), kind },
                Sql::Upsert { token, expires, kind } => Sql::Upsert { token, expires: expires.min(max), kind },
                other => other,
            };
            Msg::Query { client, seq, sql }
        }
        m => m,
    };
    if !network.iter().any(|e| clamp(&e.msg) != e.msg) {
        return None;
    }
    let mut n = network.clone();
    n.map_messages(|e| clamp(&e.msg));
    Some(n)
}

fn reset_then_blocks<const K: u8>(s: State) -> State {
    super::symmetry::representative_blocks::<K>(reset(s))
}

fn reset_then_all(s: State) -> State {
    super::symmetry::representative(reset(s))
}

/// The reduction of `sc`'s model: the symmetry representative ([`super::symmetry`]) when
/// `symmetry` is asked and the tabs are interchangeable, composed after [`reset`] when
/// `dead_values` is asked and the model has a Directus server; `None`: neither applies.
pub fn reduction(sc: &crate::scenario::Scenario, symmetry: bool, dead_values: bool) -> Option<Representative> {
    let dead = dead_values && applies(sc);
    let blocks = if symmetry { super::symmetry::reduced_blocks(sc) } else { None };
    match (blocks, dead) {
        (None, false) => None,
        (None, true) => Some(reset),
        (Some(_), false) => super::symmetry::representative_for(sc),
        (Some(k), true) => Some(match k {
            0 => reset_then_all,
            1 => reset_then_blocks::<1>,
            2 => reset_then_blocks::<2>,
            3 => reset_then_blocks::<3>,
            4 => reset_then_blocks::<4>,
            5 => reset_then_blocks::<5>,
            6 => reset_then_blocks::<6>,
            _ => return super::symmetry::representative_for(sc),
        }),
    }
}

/// Whether [`reset`] can change a state of `sc`'s model: it has a Directus or
/// `session_server` server (authorization-server models are left as they are).
pub fn applies(sc: &crate::scenario::Scenario) -> bool {
    sc.protocol.is_none()
}

#[cfg(test)]
mod tests {
    use std::collections::{HashSet, VecDeque};

    use stateright::Model;

    use super::*;
    use crate::scenario::Scenario;

    /// The rules that changed a state, counted over a search: superseded, accepted,
    /// checked_at, fresh, expiries.
    #[derive(Debug, Default)]
    struct Fired([u64; 5]);

    fn fired(s: &State, f: &mut Fired) {
        for a in &s.actor_states {
            let NodeState::Server(x) = &**a else { continue };
            let Some(y) = reset_server(x) else { continue };
            f.0[0] += u64::from(y.ghost.superseded != x.ghost.superseded);
            f.0[1] += u64::from(y.ghost.accepted != x.ghost.accepted);
            let pairs = || x.handlers.iter().zip(&y.handlers);
            f.0[2] += u64::from(pairs().any(|(a, b)| a.checked_at != b.checked_at));
            f.0[3] += u64::from(pairs().any(|(a, b)| a.fresh != b.fresh));
        }
        let r = reset(s.clone());
        let rows = |s: &State| -> Vec<Row> {
            s.actor_states
                .iter()
                .filter_map(|a| if let NodeState::Store(x) = &**a { Some(x.rows.clone()) } else { None })
                .flatten()
                .collect()
        };
        f.0[4] += u64::from(rows(&r) != rows(s) || r.network != s.network);
    }

    fn props(m: &crate::model::RefreshModel, s: &State) -> Vec<bool> {
        crate::properties::ALL.iter().map(|p| (p.condition)(m, s)).collect()
    }

    /// Over every state reachable without reduction (up to `max` states): `reset(s)` has the
    /// property values of `s`, lists the same actions, and each action's successor, reset, is
    /// the reset successor of `s` (the bisimulation the search relies on); and resetting twice
    /// changes nothing more. Returns the states visited and the rules that fired.
    fn check_model(file: &str, tabs: Option<u8>, max: usize) -> (usize, Fired) {
        check_model_with(file, tabs, max, |_| {})
    }

    fn check_model_with(file: &str, tabs: Option<u8>, max: usize, edit: impl Fn(&mut Scenario)) -> (usize, Fired) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(file);
        let mut sc = Scenario::load(&path).unwrap();
        if let Some(t) = tabs {
            sc = sc.with_tabs(t).unwrap();
        }
        edit(&mut sc);
        assert!(applies(&sc), "{file}");
        let m = crate::model::build(&sc);
        let mut seen = HashSet::new();
        let mut queue: VecDeque<State> = m.init_states().into_iter().collect();
        let mut f = Fired::default();
        let (mut acts, mut racts) = (Vec::new(), Vec::new());
        while let Some(s) = queue.pop_front() {
            if seen.len() >= max || !seen.insert(crate::search::fingerprint(&s)) {
                continue;
            }
            let r = reset(s.clone());
            fired(&s, &mut f);
            assert_eq!(props(&m, &s), props(&m, &r), "{file}: property values differ after reset");
            assert_eq!(reset(r.clone()), r, "{file}: reset is not idempotent");
            m.actions(&s, &mut acts);
            m.actions(&r, &mut racts);
            assert_eq!(acts.len(), racts.len(), "{file}: the reset state lists other actions");
            // Each action's successor, reset, against the reset state's successors, reset: the
            // same multiset (rule 5 rewrites messages in flight, which may list them in another
            // order).
            let after = |from: &State, acts: &mut Vec<_>, keep: &mut Vec<State>| {
                let mut fps: Vec<u64> = acts
                    .drain(..)
                    .map(|a| match m.next_state(from, a) {
                        // Outside the boundary: pruned by the search, in both or neither.
                        Some(n) if !Model::within_boundary(&m, &n) => 1,
                        Some(n) => {
                            let fp = crate::search::fingerprint(&reset(n.clone()));
                            keep.push(n);
                            fp
                        }
                        None => 0,
                    })
                    .collect();
                fps.sort_unstable();
                fps
            };
            let mut next = Vec::new();
            let ours = after(&s, &mut acts, &mut next);
            let theirs = after(&r, &mut racts, &mut Vec::new());
            assert_eq!(ours, theirs, "{file}: successors differ after reset");
            queue.extend(next);
        }
        (seen.len(), f)
    }

    #[test]
    fn the_grace_window_resets_every_rule_and_keeps_properties_and_successors() {
        // Grace 1 tick, clock to 1: every supersession is past the horizon (rule 1), so every
        // acceptance and check is reset (rules 2, 3); G1's losers no longer read `fresh` (4).
        let (n, f) = check_model("directus-10.11.1-session.json", Some(2), usize::MAX);
        assert!(n > 1000, "{n} states");
        assert!(f.0.iter().all(|&k| k > 0), "a rule never fired: {f:?}");
        // Two ticks: supersessions at tick 0 are within reach.
        let (n, f) = check_model("directus-10.11.1-session-slow.json", None, 300_000);
        assert!(n > 1000 && f.0.iter().all(|&k| k > 0), "{n} states, {f:?}");
    }

    #[test]
    fn a_violated_rotation_bound_keeps_its_violating_ticks() {
        // `rotated_token_expires` is violated here: its violating acceptances are kept, the
        // others reset, and every state keeps its property values (checked in `check_model`).
        let (n, f) = check_model("directus-10.10-session-clock.json", None, usize::MAX);
        assert!(n > 100 && f.0[1] > 0 && f.0[2] > 0, "{n} states, {f:?}");
    }

    #[test]
    fn a_session_lifetime_keeps_acceptances_at_or_after_it() {
        // No shipped Directus model bounds the session's lifetime: with one of 1 tick on a
        // clock of 2, `sp6_absolute_lifetime` is violated by every acceptance at tick 1 or 2,
        // which are kept, while those at tick 0 are reset.
        let (n, f) = check_model_with("directus-10.11.1-session-slow.json", Some(1), usize::MAX, |sc| {
            sc.time.session_lifetime = Some(1)
        });
        assert!(n > 100 && f.0[1] > 0, "{n} states, {f:?}");
    }

    #[test]
    fn session_server_programs_and_other_modes_keep_properties_and_successors() {
        for file in [
            "blitz-0.23-session-renewal.json",
            "darkauth-refresh-in-one-transaction.json",
            "directus-10.11.1-json.json",
        ] {
            let (n, _) = check_model(file, None, 200_000);
            assert!(n > 10, "{file}: {n} states");
        }
    }

    #[test]
    fn fresh_is_live_until_the_claim_is_decided_in_the_grace_window_program() {
        let sc = Scenario::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/directus-10.11.1-session.json"),
        )
        .unwrap();
        let p = crate::model::session_program(&crate::model::build(&sc)).unwrap().clone();
        let live = p.refresh.fresh_live_steps();
        let name = |i: usize| p.refresh.steps[i].name.as_str();
        let live_names: Vec<&str> = (0..p.refresh.steps.len()).filter(|&i| live & (1 << i) != 0).map(name).collect();
        // The middleware and R1 lead to G1 (which claims `fresh`) and to W1's result (which
        // compares `issued == fresh`); G1's result to G3 (which inserts it). After G3, G2, G0
        // and the purge, nothing reads it.
        assert_eq!(live_names, ["session cookie", "session row", "token", "R1 result", "write result", "G1 result"]);
        assert_eq!(p.request.fresh_live_steps(), 0);
        assert_eq!(p.sign_out.fresh_live_steps(), 0);
    }
}
