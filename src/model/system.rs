//! The model's global state and its steps: actors that exchange messages over a network and set
//! timers ([`System`], [`State`]).
//!
//! The steps are those of stateright's actor model (`stateright` 0.31, `src/actor/model.rs`:
//! `ActorModel`'s `actions` and `next_state`), on a state type of our own. Its containers are
//! sorted vectors rather than hash tables, so a successor costs three allocations (the actor
//! vector, the network, the timers) instead of one per actor and per table, and hashing it
//! hashes a few words per message and timer. The semantics are the same, step for step:
//!
//! - **Actions, in order.** Every message that may be delivered next, once per distinct
//!   envelope: with a lossy network first its loss (`Drop`, only of the messages the loss
//!   policy names and while it has losses left: [`super::faults`]), then its delivery
//!   (`Deliver`), each group ordered by (sender, receiver, message); then every timer set
//!   (`Timeout`), ordered by (actor, timer). stateright sorts its actions into exactly this
//!   order; the sorted containers list them in it.
//! - **Network kinds** ([`NetKind`], the model file's `network`): unordered non-duplicating (a
//!   multiset: a delivery or a loss removes one copy); unordered duplicating (a set: a delivery
//!   leaves the message in flight for ever, and the last envelope delivered is part of the
//!   state; a loss removes it); ordered (one FIFO queue per sender and receiver: only the head
//!   may be delivered or lost).
//! - **A delivery** runs the receiver's `on_msg`. If the actor neither changed its state nor
//!   produced a command, there is no step (except on an ordered network, where the message is
//!   consumed). Otherwise the message leaves the network (as the kind says), the history records
//!   it, the actor's new state replaces the old, and its commands run in order: each message sent
//!   is recorded in the history and joins the network; a timer set joins the actor's timers (a
//!   set: setting it twice is setting it once); a timer cancelled leaves them.
//! - **A timeout** runs the actor's `on_timeout`. If the actor neither changed its state nor did
//!   anything but set the same timer again, there is no step. Otherwise the timer is cancelled,
//!   then the new state and the commands apply as for a delivery.
//! - **No crashes, recoveries or random choices** (no model uses them): such actions are never
//!   listed, and [`System::next_state`] has no successor for them.
//! - **Boundary and properties:** as stateright's: `within_boundary(cfg, state)` and the
//!   properties given to [`System::property`].

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use stateright::actor::{is_no_op, is_no_op_with_timer, Actor, ActorModelAction, Command, Envelope, Id, Out};
use stateright::{Expectation, Model, Property};

use super::faults::Losses;
use super::{Cfg, InFlight, Msg, Node, NodeState, Timer};

/// How the network delivers messages (the model file's `network` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum NetKind {
    /// Any message in flight may be delivered next, each copy once.
    UnorderedNonDuplicating,
    /// Any message in flight may be delivered next, any number of times.
    UnorderedDuplicating,
    /// Per sender and receiver, messages are delivered in the order sent.
    Ordered,
}

/// The messages in flight.
///
/// `envelopes` is sorted by (sender, receiver, message), repeats included, for the unordered
/// kinds (the duplicating kind has no repeats); for the ordered kind it is sorted by (sender,
/// receiver) and, within one pair, in the order sent (the head first).
///
/// The network hashes as its kind, the last envelope delivered and `sum`, the wrapping sum of
/// every envelope's own hash (foldhash, fixed seed), kept up to date as messages come and go: a
/// successor's fingerprint costs a few words for the network, not a pass over every message in
/// flight (the sum of a multiset's elements' hashes is a function of the multiset). An ordered
/// network hashes its envelopes in order instead, since a queue's order is part of the state.
#[derive(Clone, Serialize)]
pub struct Net {
    kind: NetKind,
    envelopes: Vec<Sent>,
    /// Duplicating kind only: the last envelope delivered (a delivery that changes nothing else
    /// still makes another state, as in stateright).
    last: Option<Sent>,
    #[serde(skip)]
    sum: u64,
}

impl PartialEq for Net {
    fn eq(&self, other: &Self) -> bool {
        self.sum == other.sum && self.kind == other.kind && self.last == other.last && self.envelopes == other.envelopes
    }
}

impl Eq for Net {}

/// The kind and the messages (and the last delivered, if any), without the hash bookkeeping.
impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Net");
        d.field("kind", &self.kind).field("in_flight", &self.envelopes);
        if let Some(last) = &self.last {
            d.field("last_delivered", last);
        }
        d.finish()
    }
}

impl std::hash::Hash for Net {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.kind.hash(h);
        self.last.hash(h);
        match self.kind {
            // A queue's order is part of the state.
            NetKind::Ordered => self.envelopes.hash(h),
            _ => h.write_u64(self.sum),
        }
    }
}

/// A message in flight: its sender and receiver (actor numbers) and the message. Ordered by
/// (sender, receiver, message), as stateright orders envelopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Sent {
    /// The sender's actor number.
    pub src: u8,
    /// The receiver's actor number.
    pub dst: u8,
    /// The message.
    pub msg: Msg,
}

impl Sent {
    /// `e` (its actors' numbers are below 256: [`System::actor`] admits no more actors).
    fn of(e: &Envelope<Msg>) -> Sent {
        Sent { src: usize::from(e.src) as u8, dst: usize::from(e.dst) as u8, msg: e.msg }
    }

    /// As stateright's envelope.
    pub fn envelope(&self) -> Envelope<Msg> {
        Envelope { src: Id::from(usize::from(self.src)), dst: Id::from(usize::from(self.dst)), msg: self.msg }
    }
}

/// The hash of one element of a multiset (a message in flight, a timer set): foldhash with a
/// fixed seed over the element's packed encoding ([`super::packed`]), so equal elements hash
/// alike within a run.
fn element_hash<T: std::hash::Hash>(x: &T) -> u64 {
    super::packed::hash_packed(0x2545_f491_4f6c_dd1d, x)
}

impl Net {
    /// An empty network of `kind`.
    pub fn new(kind: NetKind) -> Self {
        Net { kind, envelopes: Vec::new(), last: None, sum: 0 }
    }

    /// The network's kind.
    pub fn kind(&self) -> NetKind {
        self.kind
    }

    /// Every message in flight, repeats included, in the order described on [`Net`].
    pub fn iter(&self) -> impl Iterator<Item = &Sent> {
        self.envelopes.iter()
    }

    /// Messages in flight, repeats included: a count.
    pub fn len(&self) -> usize {
        self.envelopes.len()
    }

    /// Whether no message is in flight.
    pub fn is_empty(&self) -> bool {
        self.envelopes.is_empty()
    }

    /// The messages that may be delivered (or lost) next, each distinct envelope once, ordered
    /// by (sender, receiver, message): every distinct message of an unordered network, the
    /// head of each queue of an ordered one.
    pub fn deliverable(&self) -> impl Iterator<Item = &Sent> {
        let kind = self.kind;
        self.envelopes
            .iter()
            .enumerate()
            .filter(move |&(i, e)| {
                i == 0 || {
                    let prev = &self.envelopes[i - 1];
                    match kind {
                        NetKind::Ordered => (prev.src, prev.dst) != (e.src, e.dst),
                        _ => prev != e,
                    }
                }
            })
            .map(|(_, e)| e)
    }

    /// Sends `e`: it joins the network where the order on [`Net`] puts it (an ordered queue's
    /// tail; a duplicating network keeps one copy).
    pub fn send(&mut self, e: Envelope<Msg>) {
        let e = Sent::of(&e);
        let h = element_hash(&e);
        match self.kind {
            NetKind::UnorderedNonDuplicating => {
                let at = self.envelopes.partition_point(|x| x <= &e);
                self.envelopes.insert(at, e);
                self.sum = self.sum.wrapping_add(h);
            }
            NetKind::UnorderedDuplicating => {
                if let Err(at) = self.envelopes.binary_search(&e) {
                    self.envelopes.insert(at, e);
                    self.sum = self.sum.wrapping_add(h);
                }
            }
            NetKind::Ordered => {
                let at = self.envelopes.partition_point(|x| (x.src, x.dst) <= (e.src, e.dst));
                self.envelopes.insert(at, e);
                self.sum = self.sum.wrapping_add(h);
            }
        }
    }

    /// Removes one copy of `e` (the first of its queue on an ordered network). Returns `false`
    /// if `e` is not in flight.
    fn remove(&mut self, e: &Sent) -> bool {
        let at = match self.kind {
            NetKind::Ordered => self.envelopes.iter().position(|x| x == e),
            _ => self.envelopes.binary_search(e).ok(),
        };
        match at {
            Some(i) => {
                self.envelopes.remove(i);
                self.sum = self.sum.wrapping_sub(element_hash(e));
                true
            }
            None => false,
        }
    }

    /// `e` is delivered: removed (one copy), or on a duplicating network kept and remembered as
    /// the last delivered.
    pub fn on_deliver(&mut self, e: Envelope<Msg>) {
        let e = Sent::of(&e);
        match self.kind {
            NetKind::UnorderedDuplicating => self.last = Some(e),
            _ => {
                let found = self.remove(&e);
                debug_assert!(found, "delivered envelope not in flight: {e:?}");
            }
        }
    }

    /// `e` is lost: one copy removed (a duplicating network's only copy).
    pub fn on_drop(&mut self, e: Envelope<Msg>) {
        let e = Sent::of(&e);
        let found = self.remove(&e);
        debug_assert!(found, "lost envelope not in flight: {e:?}");
    }

    /// Maps every message in flight (and the last delivered) with `f`, keeping senders and
    /// receivers, and restores the order described on [`Net`] (a queue keeps its order).
    pub fn map_messages(&mut self, mut f: impl FnMut(&Sent) -> Msg) {
        for e in self.envelopes.iter_mut() {
            e.msg = f(e);
        }
        if let Some(e) = &mut self.last {
            e.msg = f(e);
        }
        match self.kind {
            NetKind::Ordered => {}
            NetKind::UnorderedNonDuplicating => self.envelopes.sort_unstable(),
            NetKind::UnorderedDuplicating => {
                self.envelopes.sort_unstable();
                self.envelopes.dedup();
            }
        }
        self.sum = self.envelopes.iter().fold(0, |a, e| a.wrapping_add(element_hash(e)));
    }
}

/// The timers set, of every actor: `(actor, timer)` pairs, sorted, each at most once, with the
/// wrapping sum of their hashes (which is what the timers hash as, as for [`Net`]).
#[derive(Clone, Default, Serialize)]
pub struct Timers {
    set: Vec<(u8, Timer)>,
    #[serde(skip)]
    sum: u64,
}

impl PartialEq for Timers {
    fn eq(&self, other: &Self) -> bool {
        self.sum == other.sum && self.set == other.set
    }
}

impl Eq for Timers {}

/// The `(actor, timer)` pairs, without the hash bookkeeping.
impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.set).finish()
    }
}

impl std::hash::Hash for Timers {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.sum);
    }
}

impl Timers {
    /// The timers actor `actor` has set, in order.
    pub fn of(&self, actor: usize) -> impl Iterator<Item = &Timer> {
        let a = actor as u8;
        let from = self.set.partition_point(|x| x.0 < a);
        self.set[from..].iter().take_while(move |x| x.0 == a).map(|x| &x.1)
    }

    /// Every `(actor, timer)` set, in order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Timer)> {
        self.set.iter().map(|(a, t)| (usize::from(*a), t))
    }

    /// Sets `timer` for `actor` (no change if it is set).
    pub fn set(&mut self, actor: usize, timer: Timer) {
        let x = (actor as u8, timer);
        if let Err(at) = self.set.binary_search(&x) {
            self.sum = self.sum.wrapping_add(element_hash(&x));
            self.set.insert(at, x);
        }
    }

    /// Cancels `actor`'s `timer` (no change if it is not set).
    pub fn cancel(&mut self, actor: usize, timer: &Timer) {
        if let Ok(at) = self.set.binary_search(&(actor as u8, *timer)) {
            let x = self.set.remove(at);
            self.sum = self.sum.wrapping_sub(element_hash(&x));
        }
    }

    /// Replaces `actor`'s timers with `timers` (any order, repeats ignored).
    pub fn replace(&mut self, actor: usize, timers: impl IntoIterator<Item = Timer>) {
        let a = actor as u8;
        self.set.retain(|x| x.0 != a);
        self.set.extend(timers.into_iter().map(|t| (a, t)));
        self.set.sort_unstable();
        self.set.dedup();
        self.sum = self.set.iter().fold(0, |s, x| s.wrapping_add(element_hash(x)));
    }
}

/// A global state: every actor's state (indexed by actor number), the messages in flight, the
/// timers set and the history ([`InFlight`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct State {
    /// Actor `i`'s state, shared with the parent state when the step left it unchanged.
    pub actor_states: Vec<Arc<NodeState>>,
    /// The messages in flight.
    pub network: Net,
    /// The timers set.
    pub timers: Timers,
    /// The history: when each message in flight was sent (empty without
    /// `time.max_in_flight_ticks`).
    pub history: InFlight,
}

/// An action: a message lost or delivered, or a timer that fires (stateright's action type;
/// its crash, recovery and random-choice variants never occur).
pub type Action = ActorModelAction<Msg, Timer, ()>;

/// Whether a timer set (of an actor, by its number) may fire in a state ([`System::timers_enabled`]).
type TimerEnabled = fn(&Cfg, &State, usize, &Timer) -> bool;

/// Records a message sent or delivered in the history: `None` leaves it unchanged.
type Record = fn(&Cfg, &InFlight, Envelope<&Msg>) -> Option<InFlight>;

/// The model: the actors (indexed by actor number), the configuration their steps and the
/// properties read, the network's kind and whether it loses messages, the boundary and the
/// properties.
pub struct System {
    /// Actor `i`'s behaviour and fixed configuration.
    pub actors: Vec<Node>,
    /// The configuration shared by the boundary, the history and the properties.
    pub cfg: Cfg,
    net: NetKind,
    lossy: Option<Losses>,
    within: fn(&Cfg, &State) -> bool,
    timer_enabled: TimerEnabled,
    record_out: Record,
    record_in: Record,
    /// The properties checked, in the order added ([`System::property`]).
    pub properties: Vec<Property<System>>,
}

impl System {
    /// A model with no actors yet, a non-lossy network of kind `net`, every state within the
    /// boundary and nothing recorded in the history.
    pub fn new(cfg: Cfg, net: NetKind) -> Self {
        System {
            actors: Vec::new(),
            cfg,
            net,
            lossy: None,
            within: |_, _| true,
            timer_enabled: |_, _, _, _| true,
            record_out: |_, _, _| None,
            record_in: |_, _, _| None,
            properties: Vec::new(),
        }
    }

    /// Adds an actor (numbered in the order added). At most 256 actors (messages in flight
    /// name their actors in a byte); a model file cannot ask for more.
    pub fn actor(mut self, a: Node) -> Self {
        assert!(self.actors.len() < 256, "at most 256 actors");
        self.actors.push(a);
        self
    }

    /// Whether the network may lose messages (`lossy` in the model file).
    pub fn is_lossy(&self) -> bool {
        self.lossy.is_some()
    }

    /// Which messages the network may lose, and how many ([`Losses`]); `None`: none.
    pub fn lossy(mut self, lossy: Option<Losses>) -> Self {
        self.lossy = lossy;
        self
    }

    /// The states the search explores: those for which `f` holds (others are not expanded).
    pub fn within_boundary(mut self, f: fn(&Cfg, &State) -> bool) -> Self {
        self.within = f;
        self
    }

    /// Which timers set may fire in a state (by default every one): a timer for which `f` is
    /// false is listed as no action and has no successor, as if not yet due.
    pub fn timers_enabled(mut self, f: TimerEnabled) -> Self {
        self.timer_enabled = f;
        self
    }

    /// How the history records each message sent (`out`) and delivered (`into`).
    pub fn record(mut self, out: Record, into: Record) -> Self {
        self.record_out = out;
        self.record_in = into;
        self
    }

    /// Adds a property.
    pub fn property(
        mut self,
        expectation: Expectation,
        name: &'static str,
        condition: fn(&System, &State) -> bool,
    ) -> Self {
        self.properties.push(Property { expectation, name, condition });
        self
    }

    /// Applies actor `id`'s commands to `state`, in order, and gives `out`'s buffer back to
    /// the thread ([`recycle`]).
    fn apply(&self, id: Id, out: Out<Node>, state: &mut State) {
        let index = usize::from(id);
        // Unadvanced, so collected in place: the same buffer, no allocation.
        let mut commands: Commands = out.into_iter().collect();
        for c in commands.drain(..) {
            match c {
                Command::Send(dst, msg) => {
                    let e = Envelope { src: id, dst, msg };
                    if let Some(h) =
                        (self.record_out)(&self.cfg, &state.history, Envelope { src: id, dst, msg: &e.msg })
                    {
                        state.history = h;
                    }
                    state.network.send(e);
                }
                Command::SetTimer(timer, _) => state.timers.set(index, timer),
                Command::CancelTimer(timer) => state.timers.cancel(index, &timer),
                Command::ChooseRandom(..) | Command::Save(_) => {
                    unreachable!("no actor of the model chooses at random or saves storage")
                }
            }
        }
        recycle_buffer(commands);
    }

    /// The successor in which actor `index` has taken a step to `actor` with commands `out`,
    /// after `change` (the network's or the timers' part of the step).
    fn successor(
        &self,
        last: &State,
        index: usize,
        actor: Cow<NodeState>,
        out: Out<Node>,
        change: impl FnOnce(&mut State),
    ) -> State {
        let mut next = last.clone();
        change(&mut next);
        if let Cow::Owned(mut a) = actor {
            // Its unchanged parts keep their hashes; the changed ones are hashed once, here.
            a.seal();
            next.actor_states[index] = Arc::new(a);
        }
        self.apply(Id::from(index), out, &mut next);
        next
    }
}

/// The commands of one step (stateright's [`Out`] holds them in a `Vec`).
type Commands = Vec<Command<Msg, Timer, <Node as Actor>::Random, <Node as Actor>::Storage>>;

thread_local! {
    /// The command buffer of a step, reused from step to step (one per search thread): a step
    /// of a browser emits a command per timer of each tab, and a buffer grown from empty for
    /// every successor was an allocation and a reallocation or two per step.
    static COMMANDS: std::cell::RefCell<Commands> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty [`Out`] holding this thread's reused command buffer (collected in place from the
/// empty buffer: no allocation once the buffer has grown).
fn out_buffer() -> Out<Node> {
    COMMANDS.with(|c| std::mem::take(&mut *c.borrow_mut())).into_iter().collect()
}

/// Gives `commands`' buffer (emptied) back to this thread for its next step.
fn recycle_buffer(mut commands: Commands) {
    commands.clear();
    COMMANDS.with(|c| {
        let mut c = c.borrow_mut();
        if commands.capacity() > c.capacity() {
            *c = commands;
        }
    });
}

/// Gives the buffer of a step's `out` that was not applied back to this thread.
fn recycle(out: Out<Node>) {
    recycle_buffer(out.into_iter().collect());
}

impl Model for System {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let mut s = State {
            actor_states: Vec::with_capacity(self.actors.len()),
            network: Net::new(self.net),
            timers: Timers::default(),
            history: InFlight::default(),
        };
        for (i, a) in self.actors.iter().enumerate() {
            let id = Id::from(i);
            let mut out = Out::new();
            let mut state = a.on_start(id, &None, &mut out);
            state.seal();
            s.actor_states.push(Arc::new(state));
            self.apply(id, out, &mut s);
        }
        vec![s]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        if let Some(l) = self.lossy.filter(|l| l.left(&state.history)) {
            let lost = state.network.deliverable().filter(|e| l.may_lose(&e.msg));
            actions.extend(lost.map(|e| ActorModelAction::Drop(e.envelope())));
        }
        let n = self.actors.len();
        actions.extend(state.network.deliverable().filter(|e| usize::from(e.dst) < n).map(|e| {
            let e = e.envelope();
            ActorModelAction::Deliver { src: e.src, dst: e.dst, msg: e.msg }
        }));
        let enabled = |&(a, t): &(usize, &Timer)| (self.timer_enabled)(&self.cfg, state, a, t);
        actions.extend(state.timers.iter().filter(enabled).map(|(a, t)| ActorModelAction::Timeout(Id::from(a), *t)));
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        match action {
            ActorModelAction::Drop(e) => {
                let l = self.lossy.filter(|l| l.may_lose(&e.msg) && l.left(&last.history))?;
                let mut next = last.clone();
                l.record(&self.cfg, &mut next.history, Envelope { src: e.src, dst: e.dst, msg: &e.msg });
                next.network.on_drop(e);
                Some(next)
            }
            ActorModelAction::Deliver { src, dst, msg } => {
                let index = usize::from(dst);
                let mut actor = Cow::Borrowed(&**last.actor_states.get(index)?);
                let mut out = out_buffer();
                self.actors[index].on_msg(dst, &mut actor, src, msg, &mut out);
                if is_no_op(&actor, &out) && self.net != NetKind::Ordered {
                    recycle(out);
                    return None;
                }
                let history = (self.record_in)(&self.cfg, &last.history, Envelope { src, dst, msg: &msg });
                Some(self.successor(last, index, actor, out, |next| {
                    next.network.on_deliver(Envelope { src, dst, msg });
                    if let Some(h) = history {
                        next.history = h;
                    }
                }))
            }
            ActorModelAction::Timeout(id, timer) => {
                let index = usize::from(id);
                if !(self.timer_enabled)(&self.cfg, last, index, &timer) {
                    return None;
                }
                let mut actor = Cow::Borrowed(&*last.actor_states[index]);
                let mut out = out_buffer();
                self.actors[index].on_timeout(id, &mut actor, &timer, &mut out);
                if is_no_op_with_timer(&actor, &out, &timer) {
                    recycle(out);
                    return None;
                }
                Some(self.successor(last, index, actor, out, |next| next.timers.cancel(index, &timer)))
            }
            ActorModelAction::Crash(_) | ActorModelAction::Recover(_) | ActorModelAction::SelectRandom { .. } => None,
        }
    }

    fn format_action(&self, action: &Action) -> String {
        match action {
            ActorModelAction::Deliver { src, dst, msg } => format!("{src:?} → {msg:?} → {dst:?}"),
            _ => format!("{action:?}"),
        }
    }

    fn format_step(&self, last: &State, action: Action) -> Option<String> {
        let (index, before) = match &action {
            ActorModelAction::Deliver { dst, .. } => (usize::from(*dst), last.actor_states.get(usize::from(*dst))?),
            ActorModelAction::Timeout(id, _) => (usize::from(*id), last.actor_states.get(usize::from(*id))?),
            ActorModelAction::Drop(e) => return Some(format!("DROP: {e:?}")),
            _ => return None,
        };
        let mut actor = Cow::Borrowed(&**before);
        let mut out = Out::new();
        match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                self.actors[index].on_msg(dst, &mut actor, src, msg, &mut out)
            }
            ActorModelAction::Timeout(id, timer) => self.actors[index].on_timeout(id, &mut actor, &timer, &mut out),
            _ => {}
        }
        Some(match actor {
            Cow::Owned(next) => format!("OUT: {out:?}\n\nNEXT_STATE: {next:#?}\n\nPREV_STATE: {before:#?}\n"),
            Cow::Borrowed(_) => format!("OUT: {out:?}\n\nUNCHANGED: {before:#?}\n"),
        })
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.properties.clone()
    }

    fn within_boundary(&self, state: &State) -> bool {
        (self.within)(&self.cfg, state)
    }
}

#[cfg(test)]
mod tests {
    //! The steps of [`System`] are stateright's: on reachable states of shipped models of every
    //! network kind, stateright's own `ActorModel`, built from the same actors, lists the same
    //! actions in the same order and reaches the same successors.
    use super::*;
    use stateright::actor::{ActorModel, ActorModelState, LossyNetwork, Network};
    use std::collections::HashSet;

    /// stateright's actor model of `m`'s actors, network and history (no boundary: both are
    /// compared on every state generated).
    fn stateright_model(m: &System) -> ActorModel<Node, Cfg, InFlight> {
        let network = match m.net {
            NetKind::UnorderedNonDuplicating => Network::new_unordered_nonduplicating([]),
            NetKind::UnorderedDuplicating => Network::new_unordered_duplicating([]),
            NetKind::Ordered => Network::new_ordered([]),
        };
        let mut sr = ActorModel::new(m.cfg.clone(), InFlight::default())
            .init_network(network)
            .lossy_network(if m.lossy == Some(Losses::ANY) { LossyNetwork::Yes } else { LossyNetwork::No })
            .record_msg_out(m.record_out)
            .record_msg_in(m.record_in);
        for a in &m.actors {
            sr = sr.actor(a.clone());
        }
        sr
    }

    /// Whether our state and stateright's hold the same actors, messages (as multisets, and
    /// each ordered queue in order), timers and history.
    fn same(ours: &State, theirs: &ActorModelState<Node, InFlight>) -> bool {
        let mut a: Vec<_> = ours.network.iter().map(|e| e.envelope()).map(|e| (e.src, e.dst, e.msg)).collect();
        let mut b: Vec<_> = match &theirs.network {
            Network::UnorderedNonDuplicating(m) => {
                m.iter().flat_map(|(e, &n)| std::iter::repeat_n((e.src, e.dst, e.msg), n)).collect()
            }
            Network::UnorderedDuplicating(set, _) => set.iter().map(|e| (e.src, e.dst, e.msg)).collect(),
            Network::Ordered(flows) => {
                flows.iter().flat_map(|(&(s, d), q)| q.iter().map(move |m| (s, d, *m))).collect()
            }
        };
        if !matches!(theirs.network, Network::Ordered(_)) {
            a.sort();
            b.sort();
        }
        let last = match &theirs.network {
            Network::UnorderedDuplicating(_, last) => *last,
            _ => None,
        };
        let timers: Vec<(usize, Timer)> = ours.timers.iter().map(|(i, t)| (i, *t)).collect();
        let mut theirs_timers: Vec<(usize, Timer)> =
            theirs.timers_set.iter().enumerate().flat_map(|(i, ts)| ts.iter().map(move |t| (i, *t))).collect();
        theirs_timers.sort();
        ours.actor_states == theirs.actor_states
            && a == b
            && ours.network.last.map(|e| e.envelope()) == last
            && timers == theirs_timers
            && ours.history == theirs.history
    }

    /// Breadth-first over both models in lockstep, at most `limit` states: the same actions in
    /// the same order, and the same successor (or none) for each. Returns the states compared.
    fn lockstep(file: &str, tabs: Option<u8>, net: Option<&str>, limit: usize) -> usize {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        if let Some(net) = net {
            let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
            v["network"] = serde_json::Value::from(net);
            text = v.to_string();
        }
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(file);
        std::fs::write(&copy, text).unwrap();
        let mut sc = crate::scenario::Scenario::load(&copy).unwrap();
        if let Some(t) = tabs {
            sc = sc.with_tabs(t).unwrap();
        }
        let ours = super::super::build(&sc);
        let theirs = stateright_model(&ours);
        let mut queue: std::collections::VecDeque<(State, ActorModelState<Node, InFlight>)> =
            ours.init_states().into_iter().zip(theirs.init_states()).collect();
        let mut seen = HashSet::new();
        let mut compared = 0;
        while let Some((s, t)) = queue.pop_front() {
            assert!(same(&s, &t), "{file}: states differ\n{s:?}\n{t:?}");
            if !seen.insert(crate::search::fingerprint(&s)) {
                continue;
            }
            compared += 1;
            if compared >= limit {
                break;
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            ours.actions(&s, &mut a);
            theirs.actions(&t, &mut b);
            assert_eq!(a, b, "{file}: actions differ");
            for x in a {
                match (ours.next_state(&s, x.clone()), theirs.next_state(&t, x.clone())) {
                    (Some(n), Some(m)) => queue.push_back((n, m)),
                    (None, None) => {}
                    (n, m) => panic!("{file}: {x:?}: one successor only: {:?} {:?}", n.is_some(), m.is_some()),
                }
            }
        }
        compared
    }

    #[test]
    fn steps_are_stateright_actor_models_steps() {
        let cases: [(&str, Option<u8>, Option<&str>); 8] = [
            ("directus-10.11.1-session.json", Some(3), None),
            ("directus-10.11.1-session-replay.json", None, None),
            ("directus-pr22457-weblocks.json", Some(3), None),
            ("directus-10.10-session-clock.json", None, None),
            ("keycloak-strict.json", Some(3), Some("ordered")),
            ("c09-keycloak-cluster-lost-update.json", None, None),
            ("tractusx-edc-3002-lost-refresh-response.json", None, None),
            ("cloudflare-workers-oauth-provider-kv-previous-token.json", None, None),
        ];
        for (file, tabs, net) in cases {
            let n = lockstep(file, tabs, net, 3000);
            assert!(n >= 40, "{file}: only {n} states compared");
        }
    }

    fn env(src: usize, dst: usize, tab: u8) -> Envelope<Msg> {
        Envelope { src: Id::from(src), dst: Id::from(dst), msg: Msg::ClockTicked { now: tab } }
    }

    /// Equal content, equal hash, whatever the order the messages were sent in; a delivery
    /// removes one copy; the duplicating kind keeps a delivered message and remembers it.
    #[test]
    fn networks_of_equal_content_are_equal_and_hash_alike() {
        let fp = |n: &Net| crate::search::fingerprint(n);
        let mut a = Net::new(NetKind::UnorderedNonDuplicating);
        let mut b = Net::new(NetKind::UnorderedNonDuplicating);
        for e in [env(0, 1, 1), env(1, 0, 2), env(0, 1, 1)] {
            a.send(e);
        }
        for e in [env(0, 1, 1), env(0, 1, 1), env(1, 0, 2)] {
            b.send(e);
        }
        assert_eq!(a, b);
        assert_eq!(fp(&a), fp(&b));
        assert_eq!(a.deliverable().count(), 2, "one delivery per distinct message");
        a.on_deliver(env(0, 1, 1));
        assert_eq!(a.len(), 2);
        assert_ne!(fp(&a), fp(&b));
        b.on_drop(env(0, 1, 1));
        assert_eq!((a.clone(), fp(&a)), (b.clone(), fp(&b)));

        let mut d = Net::new(NetKind::UnorderedDuplicating);
        d.send(env(0, 1, 1));
        d.send(env(0, 1, 1));
        assert_eq!(d.len(), 1);
        let before = d.clone();
        d.on_deliver(env(0, 1, 1));
        assert_eq!(d.len(), 1);
        assert_ne!(d, before, "the last delivery is part of the state");

        // An ordered queue: only its head is deliverable, and order matters to equality and hash.
        let (mut o, mut p) = (Net::new(NetKind::Ordered), Net::new(NetKind::Ordered));
        o.send(env(0, 1, 1));
        o.send(env(0, 1, 2));
        p.send(env(0, 1, 2));
        p.send(env(0, 1, 1));
        assert_ne!(o, p);
        assert_ne!(fp(&o), fp(&p));
        assert_eq!(o.deliverable().map(|e| e.msg).collect::<Vec<_>>(), vec![Msg::ClockTicked { now: 1 }]);
        o.on_deliver(env(0, 1, 1));
        p.on_drop(env(0, 1, 2));
        p.send(env(0, 1, 2));
        p.on_deliver(env(0, 1, 1));
        assert_eq!((o.clone(), fp(&o)), (p.clone(), fp(&p)));
    }

    #[test]
    fn timers_are_a_set_per_actor() {
        let fp = |t: &Timers| crate::search::fingerprint(t);
        let (mut a, mut b) = (Timers::default(), Timers::default());
        a.set(2, Timer::Tick);
        a.set(0, Timer::TabRefreshes(1));
        a.set(0, Timer::TabRefreshes(1));
        b.set(0, Timer::TabRefreshes(1));
        b.set(2, Timer::Tick);
        assert_eq!((a.clone(), fp(&a)), (b.clone(), fp(&b)));
        assert_eq!(a.of(0).collect::<Vec<_>>(), vec![&Timer::TabRefreshes(1)]);
        assert_eq!(a.of(1).count(), 0);
        a.cancel(2, &Timer::Tick);
        a.cancel(2, &Timer::Tick);
        assert_eq!(a.iter().count(), 1);
        b.replace(2, []);
        assert_eq!((a.clone(), fp(&a)), (b.clone(), fp(&b)));
        // What the explorer and the traces' debug views show: the timers, not the bookkeeping.
        assert_eq!(format!("{a:?}"), "[(0, TabRefreshes(1))]");
        let mut n = Net::new(NetKind::UnorderedNonDuplicating);
        n.send(env(0, 1, 1));
        assert!(!format!("{n:?}").contains("sum"), "{n:?}");
    }
}
