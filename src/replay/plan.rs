//! The model side of a replay: which HTTP exchanges a trace makes, which of them the trace's
//! server handles at the same time, which answers a request waits for, and every outcome (and
//! session table) the model allows for each such group.
//!
//! An *exchange* is one HTTP request as the trace's server handled it: the step at which the
//! browser sent it, the step at which the server received it, the server's clock then, and the
//! step at which the server emitted its response (if the trace gets that far), with the reply.
//! Two exchanges whose server-side intervals overlap and that the server received at the same
//! clock reading have handlers that interleave, so they belong to one *group* and must be in
//! flight together on the real server. Groups are ordered: the replay sends them one after the
//! other, and the exchanges of a group concurrently, except that a request the trace sends only
//! after another exchange's answer reached its browser waits for that answer ([`Exchange::after`]).
//!
//! A request received before the clock advances and answered after it (its handler spans a
//! tick) is sent before the tick: a real handler takes milliseconds and cannot be held over a
//! tick. Its group is explored without the tick; when the trace's own answer needs the tick,
//! [`check_replayable`] refuses the trace.
//!
//! The *allowed outcomes* of a group are found by exploring the model from the state before the
//! group's first request reaches the server, letting only the group's requests (with the very
//! messages the trace sent), the answers they wait for, and the server's and store's internal
//! steps happen, until every request of the group has its response. Each distinct vector of
//! replies is one outcome the model allows, and with it the session tables the store can hold
//! once the server has run every statement it had issued ([`Allowed::stores`]). A real outcome
//! outside that set is a divergence: the server did something the model says it cannot.
//!
//! Only the request and response messages are read here ([`request_of`], [`response_of`]);
//! SQL messages and timers are the model's own business and are explored as they are.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use stateright::actor::{ActorModelAction, Id};
use stateright::Model;

use crate::model::server::{Credentials, Endpoint};
use crate::model::store::Row;
use crate::model::{Action, Msg, Node, RefreshModel, Reply, State, TabIx, Tick, Timer, Token};
use crate::search::{self, IndexPath};

/// A request as the model sends it: who, which endpoint, which credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Request {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The tab that sent it.
    pub tab: TabIx,
    /// What it carried: mode, session cookie, refresh token, access token.
    pub cred: Credentials,
}

/// The request carried by a message, if it is one.
pub fn request_of(msg: &Msg) -> Option<Request> {
    match *msg {
        Msg::RefreshRequest { tab, cred, .. } => Some(Request { endpoint: Endpoint::Refresh, tab, cred }),
        Msg::UsersMeRequest { tab, cred } => Some(Request { endpoint: Endpoint::UsersMe, tab, cred }),
        Msg::LogoutRequest { tab, cred, .. } => Some(Request { endpoint: Endpoint::Logout, tab, cred }),
        _ => None,
    }
}

/// The response carried by a message, if it is one: endpoint, tab, reply.
pub fn response_of(msg: &Msg) -> Option<(Endpoint, TabIx, Reply)> {
    match *msg {
        Msg::RefreshResponse { tab, reply } => Some((Endpoint::Refresh, tab, reply)),
        Msg::UsersMeResponse { tab, reply } => Some((Endpoint::UsersMe, tab, reply)),
        Msg::LogoutResponse { tab, reply } => Some((Endpoint::Logout, tab, reply)),
        _ => None,
    }
}

/// One HTTP exchange of a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange {
    /// The actor that sent the request (a browser).
    pub client: Id,
    /// The request.
    pub request: Request,
    /// The 1-based trace step at which the browser sent it (0: in flight at the start).
    pub sent: usize,
    /// The 1-based trace step at which the server received it; one past the last step for a
    /// request still in flight when the trace ends.
    pub received: usize,
    /// The server's clock when it received the request, in ticks since sign-in.
    pub clock: Tick,
    /// The 1-based trace step at which the server emitted the response, if the trace does.
    pub completed: Option<usize>,
    /// The reply the trace's server gave, if it did.
    pub reply: Option<Reply>,
    /// The 1-based trace step at which the response reached the browser, if it did.
    pub delivered: Option<usize>,
    /// Exchanges of the same group (indices into [`Plan::exchanges`]) whose answers reached
    /// their browsers before this request was sent: the replay sends it only once the real
    /// answers to all of them have arrived.
    pub after: Vec<usize>,
}

/// Exchanges that the trace's server handles at the same time, in the order it received them.
#[derive(Clone, Debug)]
pub struct Group {
    /// Indices into [`Plan::exchanges`], in the order the server received them.
    pub exchanges: Vec<usize>,
    /// The global state just before the server received the group's first request.
    pub before: State,
    /// The server's clock then, in ticks since sign-in.
    pub clock: Tick,
}

/// What a trace asks of a real server.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The initial state of the trace.
    pub initial: State,
    /// The trace's last state.
    pub last: State,
    /// The trace's number of steps.
    pub steps: usize,
    /// Every exchange, in the order the server received them.
    pub exchanges: Vec<Exchange>,
    /// The groups, in time order.
    pub groups: Vec<Group>,
    /// The server's clock at the trace's last state, in ticks: the latest tick the trace reaches.
    pub last_clock: Tick,
    /// The 1-based steps at which the server's clock advanced.
    pub ticks: Vec<usize>,
    /// Whether [`settle`] moved handler steps before a tick (0: the trace as written); the
    /// plan's step numbers are then the settled trace's.
    pub settled: usize,
}

/// Why a trace cannot be replayed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// The path does not replay on the model.
    #[error("the trace's path does not replay on its model: step {0} is not an enabled action")]
    DoesNotReplay(usize),
    /// The trace's answer to a request needs the clock to advance while its handler runs:
    /// real requests take milliseconds, so such an interleaving cannot be forced on a real
    /// server.
    #[error(
        "step {step}: the trace's answer to {who} (received at step {received}) needs the clock to advance while the server handles it (step {tick}), which a real server cannot be made to do"
    )]
    TickInsideHandler {
        /// The step of the answer.
        step: usize,
        /// The sender, in words.
        who: String,
        /// The step at which the server received the request.
        received: usize,
        /// A tick between the two.
        tick: usize,
    },
    /// The model's server is not Directus (an OAuth authorization server of the protocol
    /// language): replay speaks Directus's HTTP API only.
    #[error(
        "field `server` of its model: the server is {0}, not Directus; replay talks to a Directus server only (models whose `server` has `session_refresh`)"
    )]
    NotDirectus(&'static str),
    /// The model has no server actor.
    #[error("the model has no server actor")]
    NoServer,
    /// The trace sends no HTTP request: there is nothing to replay.
    #[error("the trace sends no HTTP request: nothing to replay")]
    NoExchange,
}

/// The server's actor index; the server must be Directus's API process.
fn server_id(model: &RefreshModel) -> Result<Id, PlanError> {
    let ix = model.cfg.server;
    match model.actors.get(ix) {
        Some(Node::Server { .. }) => Ok(Id::from(ix)),
        Some(Node::AuthServer { .. }) => Err(PlanError::NotDirectus("an OAuth authorization server (`protocol`)")),
        Some(_) => Err(PlanError::NotDirectus("not a server actor")),
        None => Err(PlanError::NoServer),
    }
}

fn server_now(model: &RefreshModel, s: &State) -> Result<Tick, PlanError> {
    Ok(crate::model::server_at(s, usize::from(server_id(model)?)).now)
}

/// The response envelopes in the network, as a sorted list (a multiset).
fn responses(s: &State) -> Vec<(Id, TabIx, Endpoint, Reply)> {
    let mut v: Vec<_> = crate::model::in_flight(&s.network)
        .into_iter()
        .filter_map(|(_, dst, m)| response_of(m).map(|(ep, tab, r)| (dst, tab, ep, r)))
        .collect();
    v.sort();
    v
}

/// The request envelopes in the network, as a sorted list (a multiset).
fn requests(s: &State) -> Vec<(Id, Request)> {
    let mut v: Vec<_> = crate::model::in_flight(&s.network)
        .into_iter()
        .filter_map(|(src, _, m)| request_of(m).map(|r| (src, r)))
        .collect();
    v.sort();
    v
}

/// The elements of `after` not in `before`, as multisets.
fn new_in<T: Ord + Clone>(before: &[T], after: &[T]) -> Vec<T> {
    let mut b = before.to_vec();
    let mut out = Vec::new();
    for x in after {
        if let Some(i) = b.iter().position(|y| y == x) {
            b.swap_remove(i);
        } else {
            out.push(x.clone());
        }
    }
    out
}

/// Whose handler an SQL message between the server and the store belongs to, and which way
/// it goes; `None` for every other message.
fn internal_key(msg: &Msg) -> Option<(u8, crate::model::ClientKey)> {
    match msg {
        Msg::Query { client, .. } => Some((0, *client)),
        Msg::QueryResult { client, .. } => Some((1, *client)),
        Msg::Transaction { handler, .. } => Some((2, handler.client)),
        Msg::TransactionDone { handler, .. } => Some((3, handler.client)),
        _ => None,
    }
}

/// Whether `candidate`, enabled now, stands for the trace's action `original`: the same
/// action, or the same delivery with contents the settling changed (an SQL message of the same
/// handler, a response to the same tab and endpoint).
fn stands_for(original: &Action, candidate: &Action) -> bool {
    if original == candidate {
        return true;
    }
    match (original, candidate) {
        (
            ActorModelAction::Deliver { src: s1, dst: d1, msg: m1 },
            ActorModelAction::Deliver { src: s2, dst: d2, msg: m2 },
        ) if s1 == s2 && d1 == d2 => match (internal_key(m1), internal_key(m2)) {
            (Some(k1), Some(k2)) => k1 == k2,
            (None, None) => match (response_of(m1), response_of(m2)) {
                (Some((e1, t1, _)), Some((e2, t2, _))) => e1 == e2 && t1 == t2,
                _ => false,
            },
            _ => false,
        },
        _ => false,
    }
}

/// The trace as a real server can run it: before every tick of the server's clock, the server
/// and the store run every statement already issued (a real handler takes milliseconds and
/// cannot be held over a tick); the trace's later steps of those handlers are then left out,
/// and its other steps follow as they were (an SQL message or a response whose contents the
/// earlier run changed stands for the trace's). Returns the initial state, the settled steps,
/// and how many handler steps moved before a tick.
pub fn settle(model: &RefreshModel, path: &IndexPath) -> Result<(State, Vec<(Action, State)>, usize), PlanError> {
    let (init, steps) = search::replay(model, path).map_err(PlanError::DoesNotReplay)?;
    let internal = |a: &Action| matches!(a, ActorModelAction::Deliver { msg, .. } if internal_key(msg).is_some());
    let mut out: Vec<(Action, State)> = Vec::new();
    let mut s = init.clone();
    let mut moved = 0usize;
    let mut actions: Vec<Action> = Vec::new();
    for (i, (original, _)) in steps.iter().enumerate() {
        if matches!(original, ActorModelAction::Timeout(_, Timer::Tick)) {
            // Run what the server and the store still have to do, the trace's order first.
            loop {
                model.actions(&s, &mut actions);
                let pending: Vec<Action> = actions.drain(..).filter(internal).collect();
                let next = steps[i + 1..]
                    .iter()
                    .filter(|(a, _)| internal(a))
                    .find_map(|(a, _)| pending.iter().find(|c| stands_for(a, c)))
                    .or(pending.first())
                    .and_then(|a| model.next_state(&s, a.clone()).map(|n| (a.clone(), n)));
                let Some((a, n)) = next else { break };
                out.push((a, n.clone()));
                s = n;
                moved += 1;
                if moved > 10_000 {
                    break;
                }
            }
        }
        model.actions(&s, &mut actions);
        let found = actions
            .drain(..)
            .filter(|c| stands_for(original, c))
            .find_map(|c| model.next_state(&s, c.clone()).map(|n| (c, n)));
        match found {
            Some((a, n)) => {
                out.push((a, n.clone()));
                s = n;
            }
            // A step of a handler that already ran before a tick.
            None if internal(original) && moved > 0 => {}
            None => return Err(PlanError::DoesNotReplay(i + 1)),
        }
    }
    Ok((init, out, moved))
}

/// The exchanges of a path, each with the state before the server received it; the steps at
/// which the clock advanced; the last state.
type Extracted = (Vec<Exchange>, Vec<State>, Vec<usize>, State);

fn extract(model: &RefreshModel, server: Id, init: &State, steps: &[(Action, State)]) -> Result<Extracted, PlanError> {
    let mut exchanges: Vec<Exchange> = Vec::new();
    let mut states_before: Vec<State> = Vec::new(); // per exchange: the state before it was received
    let mut ticks: Vec<usize> = Vec::new(); // steps at which the clock advanced
                                            // Requests sent and not yet received, with the step that sent them (in sending order).
    let mut unreceived: Vec<(Id, Request, usize)> = requests(init).into_iter().map(|(c, r)| (c, r, 0)).collect();
    let mut before = init.clone();
    for (i, (action, after)) in steps.iter().enumerate() {
        let step = i + 1;
        match action {
            ActorModelAction::Deliver { src, dst, msg } if *dst == server => {
                if let Some(request) = request_of(msg) {
                    let sent = unreceived
                        .iter()
                        .position(|(c, r, _)| c == src && *r == request)
                        .map_or(0, |k| unreceived.remove(k).2);
                    let clock = server_now(model, &before)?;
                    exchanges.push(Exchange {
                        client: *src,
                        request,
                        sent,
                        received: step,
                        clock,
                        completed: None,
                        reply: None,
                        delivered: None,
                        after: Vec::new(),
                    });
                    states_before.push(before.clone());
                }
            }
            ActorModelAction::Deliver { dst, msg, .. } => {
                if let Some((endpoint, tab, _)) = response_of(msg) {
                    if let Some(x) = exchanges.iter_mut().find(|x| {
                        x.completed.is_some()
                            && x.delivered.is_none()
                            && x.client == *dst
                            && x.request.tab == tab
                            && x.request.endpoint == endpoint
                    }) {
                        x.delivered = Some(step);
                    }
                }
            }
            ActorModelAction::Timeout(_, Timer::Tick) => ticks.push(step),
            _ => {}
        }
        for (c, r) in new_in(&requests(&before), &requests(after)) {
            unreceived.push((c, r, step));
        }
        for (dst, tab, endpoint, reply) in new_in(&responses(&before), &responses(after)) {
            if let Some(x) = exchanges.iter_mut().find(|x| {
                x.completed.is_none() && x.client == dst && x.request.tab == tab && x.request.endpoint == endpoint
            }) {
                x.completed = Some(step);
                x.reply = Some(reply);
            }
        }
        before = after.clone();
    }
    // Requests still in flight at the end were sent within the trace: they are part of it.
    let end = steps.len() + 1;
    let last_clock = server_now(model, &before)?;
    for (client, request, sent) in unreceived {
        exchanges.push(Exchange {
            client,
            request,
            sent,
            received: end,
            clock: last_clock,
            completed: None,
            reply: None,
            delivered: None,
            after: Vec::new(),
        });
        states_before.push(before.clone());
    }
    Ok((exchanges, states_before, ticks, before))
}

/// Builds the plan of a trace's path on its model (settled, [`settle`]).
pub fn plan(model: &RefreshModel, path: &IndexPath) -> Result<Plan, PlanError> {
    let server = server_id(model)?;
    let (init, steps, settled) = settle(model, path)?;
    let (mut exchanges, states_before, ticks, before) = extract(model, server, &init, &steps)?;
    if settled > 0 {
        // The trace's own answers must survive the settling: an answer that needed the clock
        // to advance inside its handler cannot be had from a real server.
        let (orig_init, orig_steps) = search::replay(model, path).map_err(PlanError::DoesNotReplay)?;
        let (orig, _, orig_ticks, _) = extract(model, server, &orig_init, &orig_steps)?;
        for (x, o) in exchanges.iter().zip(&orig) {
            if let (Some(done), Some(want)) = (o.completed, o.reply) {
                if x.reply != Some(want) {
                    let tick = orig_ticks.iter().copied().find(|&t| t > o.received && t < done).unwrap_or(done);
                    return Err(PlanError::TickInsideHandler {
                        step: done,
                        who: super::sender_text(o.request.tab),
                        received: o.received,
                        tick,
                    });
                }
            }
        }
    }
    if exchanges.is_empty() {
        return Err(PlanError::NoExchange);
    }
    let end = steps.len() + 1;
    let last_clock = server_now(model, &before)?;
    // Group exchanges whose [received, completed] intervals overlap (an open interval runs to
    // the end of the trace, and requests still in flight then join it) and that the server
    // received at the same clock reading.
    let mut groups: Vec<Group> = Vec::new();
    let mut reach = 0usize; // the latest completion of the current group
    for (i, x) in exchanges.iter().enumerate() {
        let done = x.completed.unwrap_or(end);
        match groups.last_mut() {
            Some(g) if g.clock == x.clock && (x.received < reach || (x.received == end && reach == end)) => {
                g.exchanges.push(i);
                reach = reach.max(done);
            }
            _ => {
                groups.push(Group { exchanges: vec![i], before: states_before[i].clone(), clock: x.clock });
                reach = done;
            }
        }
    }
    // Answer ordering: within a group, a request waits for the answers its browser had before
    // it was sent.
    for g in &groups {
        for &k in &g.exchanges {
            let sent = exchanges[k].sent;
            let after: Vec<usize> = g
                .exchanges
                .iter()
                .copied()
                .filter(|&j| j != k && exchanges[j].delivered.is_some_and(|d| d < sent))
                .collect();
            exchanges[k].after = after;
        }
    }
    Ok(Plan { initial: init, last: before, steps: steps.len(), exchanges, groups, last_clock, ticks, settled })
}

/// Refuses a plan whose trace answers a request only because the clock advanced while its
/// handler ran: for every group whose replies the trace gives in full, the trace's replies
/// must be among the outcomes the model allows without a tick.
pub fn check_replayable(model: &RefreshModel, plan: &Plan, allowed: &[Allowed]) -> Result<(), PlanError> {
    for (g, a) in plan.groups.iter().zip(allowed) {
        let replies: Vec<Option<Reply>> = g.exchanges.iter().map(|&i| plan.exchanges[i].reply).collect();
        if replies.iter().any(Option::is_none) {
            continue;
        }
        let first_fresh = crate::model::server_at(&g.before, model.cfg.server).next_fresh;
        let (traced, _) = canonical(replies.into_iter().flatten().collect(), first_fresh);
        if a.outcomes.contains_key(&traced) {
            continue;
        }
        // Name the first exchange answered after a tick that followed its receipt.
        for &i in &g.exchanges {
            let x = &plan.exchanges[i];
            let Some(done) = x.completed else { continue };
            if let Some(&tick) = plan.ticks.iter().find(|&&t| t > x.received && t < done) {
                return Err(PlanError::TickInsideHandler {
                    step: done,
                    who: super::sender_text(x.request.tab),
                    received: x.received,
                    tick,
                });
            }
        }
    }
    Ok(())
}

/// One outcome of a group: the reply to each of its exchanges, in group order.
pub type Outcome = Vec<Reply>;

/// A session table as the model's store holds it: its rows, sorted by token.
pub type Table = Vec<Row>;

/// What the model allows for a group: each outcome, with the session tables the store can
/// hold once every statement issued so far has run (no request pending at the store).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    /// Outcome → the tables that go with it. Tokens minted within the group are renamed as in
    /// [`canonical`], in the outcome and in its tables alike.
    pub outcomes: BTreeMap<Outcome, BTreeSet<Table>>,
}

impl Allowed {
    /// The outcomes, without their tables.
    pub fn outcome_set(&self) -> BTreeSet<Outcome> {
        self.outcomes.keys().cloned().collect()
    }
}

/// Every outcome the model allows for `group`: explores from the state before it, letting
/// only its requests (the trace's messages, each once), the responses later requests of the
/// group wait for, and the other actors' internal steps happen, and collects the replies once
/// every request of the group has been answered, with the store's tables once the server's
/// pending statements have run. No other request is started; the clock does not advance.
/// Outcomes equal up to the naming of the tokens minted within the group are one outcome.
pub fn allowed_outcomes(model: &RefreshModel, plan: &Plan, group: &Group) -> Allowed {
    let n = group.exchanges.len();
    let first_fresh = crate::model::server_at(&group.before, model.cfg.server).next_fresh;
    let mut out = Allowed::default();
    for (o, tables) in explore(model, &wanted(plan, group), group.before.clone(), vec![false; n], vec![None; n]) {
        let (o, map) = canonical(o, first_fresh);
        let entry = out.outcomes.entry(o).or_default();
        for t in tables {
            entry.insert(rename_table(t, &map, first_fresh));
        }
    }
    out
}

/// The outcomes of `group` that follow the trace: its own replies, and for the requests the
/// trace leaves unanswered (only in the last group), every way the model can answer them from
/// the trace's last state. Tokens keep the trace's names, except those minted after its end.
pub fn trace_outcomes(model: &RefreshModel, plan: &Plan, group: &Group) -> BTreeSet<Outcome> {
    let replies: Vec<Option<Reply>> = group.exchanges.iter().map(|&i| plan.exchanges[i].reply).collect();
    if replies.iter().all(Option::is_some) {
        return [replies.into_iter().flatten().collect()].into_iter().collect();
    }
    let received = group.exchanges.iter().map(|&i| plan.exchanges[i].received <= plan.steps).collect();
    let first_fresh = crate::model::server_at(&plan.last, model.cfg.server).next_fresh;
    explore(model, &wanted(plan, group), plan.last.clone(), received, replies)
        .into_keys()
        .map(|o| canonical(o, first_fresh).0)
        .collect()
}

/// The group's requests, each with the indices (within the group) of the exchanges whose
/// answers it waits for.
fn wanted(plan: &Plan, group: &Group) -> Vec<Wanted> {
    group
        .exchanges
        .iter()
        .map(|&i| {
            let x = &plan.exchanges[i];
            let after = x.after.iter().filter_map(|j| group.exchanges.iter().position(|k| k == j)).collect();
            Wanted { client: x.client, request: x.request, after }
        })
        .collect()
}

/// A request of a group, as the exploration looks for it.
struct Wanted {
    client: Id,
    request: Request,
    /// Positions within the group of the exchanges whose answers it waits for.
    after: Vec<usize>,
}

impl Wanted {
    fn is(&self, x: &(Id, Request)) -> bool {
        self.client == x.0 && self.request == x.1
    }
}

/// Explores from `start`, where `received[k]` says whether request `k` of `wanted` has reached
/// the server and `replies[k]` its reply so far, until every request is answered; then lets
/// the server and the store run what they still have to (no request, no tick) and collects
/// the store's table at every state where nothing of theirs is left.
fn explore(
    model: &RefreshModel,
    wanted: &[Wanted],
    start: State,
    received: Vec<bool>,
    replies: Vec<Option<Reply>>,
) -> BTreeMap<Outcome, BTreeSet<Table>> {
    let n = wanted.len();
    // Responses that a later request of the group waits for may be delivered.
    let awaited: Vec<bool> = (0..n).map(|k| wanted.iter().any(|w| w.after.contains(&k))).collect();
    // Search node: the state, which requests have been received, and the replies so far.
    type Node = (State, Vec<bool>, Vec<Option<Reply>>);
    let mut out: BTreeMap<Outcome, BTreeSet<Table>> = BTreeMap::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut stack: Vec<Node> = vec![(start, received, replies)];
    let mut actions: Vec<Action> = Vec::new();
    while let Some((s, received, replies)) = stack.pop() {
        if !seen.insert(search::fingerprint(&(&s, &received, &replies))) {
            continue;
        }
        if replies.iter().all(Option::is_some) {
            let tables = drain(model, s);
            out.entry(replies.into_iter().flatten().collect()).or_default().extend(tables);
            continue;
        }
        model.actions(&s, &mut actions);
        for a in actions.drain(..) {
            let mut received = received.clone();
            let mut sends_allowed_empty = true;
            match &a {
                ActorModelAction::Deliver { dst, msg, .. } if response_of(msg).is_some() => {
                    // Only an answer a later request waits for, once it has been given.
                    let (endpoint, tab, _) = response_of(msg).expect("checked above");
                    let ok = (0..n).any(|k| {
                        awaited[k]
                            && replies[k].is_some()
                            && wanted[k].client == *dst
                            && wanted[k].request.tab == tab
                            && wanted[k].request.endpoint == endpoint
                    });
                    if !ok {
                        continue;
                    }
                }
                ActorModelAction::Deliver { src, msg, .. } => {
                    if let Some(r) = request_of(msg) {
                        // Only the group's requests, each once, and only after the answers
                        // it waits for.
                        match (0..n).find(|&k| !received[k] && wanted[k].is(&(*src, r))) {
                            Some(k) if wanted[k].after.iter().all(|&j| replies[j].is_some()) => received[k] = true,
                            _ => continue,
                        }
                    }
                }
                ActorModelAction::Timeout(_, Timer::Tick) => continue,
                ActorModelAction::Timeout(..) => sends_allowed_empty = false,
                _ => continue,
            }
            let Some(next) = model.next_state(&s, a.clone()) else { continue };
            // A browser's step may only send requests of the group not yet in flight or
            // received (a timeout must send one).
            let sent = new_in(&requests(&s), &requests(&next));
            if !sent.is_empty() || !sends_allowed_empty {
                let in_flight = requests(&s);
                let ok = (sends_allowed_empty || !sent.is_empty())
                    && sent.iter().all(|x| {
                        let already = in_flight.iter().filter(|y| *y == x).count()
                            + (0..n).filter(|&k| received[k] && wanted[k].is(x)).count();
                        let wanted_count = wanted.iter().filter(|w| w.is(x)).count();
                        already < wanted_count
                    });
                if !ok {
                    continue;
                }
            }
            let mut replies = replies.clone();
            for (dst, tab, endpoint, reply) in new_in(&responses(&s), &responses(&next)) {
                if let Some(k) = (0..n).find(|&k| {
                    received[k]
                        && replies[k].is_none()
                        && wanted[k].client == dst
                        && wanted[k].request.tab == tab
                        && wanted[k].request.endpoint == endpoint
                }) {
                    replies[k] = Some(reply);
                }
            }
            stack.push((next, received, replies));
        }
    }
    out
}

/// The store's tables at every state reachable from `start` by the server's and the store's
/// own steps (statements and their results; no request, response or timer) where none of
/// those is left.
fn drain(model: &RefreshModel, start: State) -> BTreeSet<Table> {
    let (server, store) = (Id::from(model.cfg.server), Id::from(model.cfg.store));
    let mut out = BTreeSet::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut stack = vec![start];
    let mut actions: Vec<Action> = Vec::new();
    while let Some(s) = stack.pop() {
        if !seen.insert(search::fingerprint(&s)) {
            continue;
        }
        model.actions(&s, &mut actions);
        let mut moved = false;
        for a in actions.drain(..) {
            let internal = matches!(&a, ActorModelAction::Deliver { src, dst, msg }
                if (*src == server && *dst == store || *src == store && *dst == server)
                    && request_of(msg).is_none() && response_of(msg).is_none());
            if !internal {
                continue;
            }
            if let Some(next) = model.next_state(&s, a) {
                moved = true;
                stack.push(next);
            }
        }
        if !moved {
            out.insert(crate::model::store_at(&s, model.cfg.store).rows.clone());
        }
    }
    out
}

/// Renames the tokens minted within the group (those from `first_fresh` on) in order of first
/// appearance, so that outcomes equal up to the naming of new tokens are one outcome. Tokens
/// minted earlier keep their names: they are bound to real sessions already. Returns the
/// renamed outcome and the renaming (old, new).
fn canonical(mut o: Outcome, first_fresh: Token) -> (Outcome, Vec<(Token, Token)>) {
    let mut map: Vec<(Token, Token)> = Vec::new();
    for r in &mut o {
        if let Reply::Ok { set_cookie, token, .. } = r {
            let slots = set_cookie.as_mut().map(|j| &mut j.session).into_iter().chain(token.as_mut());
            for t in slots {
                if *t >= first_fresh {
                    let next = first_fresh + map.len() as Token;
                    *t = match map.iter().find(|(from, _)| *from == *t) {
                        Some(&(_, to)) => to,
                        None => {
                            map.push((*t, next));
                            next
                        }
                    };
                }
            }
        }
    }
    (o, map)
}

/// A table renamed as its outcome was: tokens in `map` take their new names, other minted
/// tokens (never handed out) names after those, in token order.
fn rename_table(mut t: Table, map: &[(Token, Token)], first_fresh: Token) -> Table {
    let mut map = map.to_vec();
    let mut minted: Vec<Token> =
        t.iter().flat_map(|r| std::iter::once(r.token).chain(r.next_token)).filter(|&x| x >= first_fresh).collect();
    minted.sort_unstable();
    minted.dedup();
    for x in minted {
        if !map.iter().any(|(from, _)| *from == x) {
            let next = first_fresh.saturating_add(map.len() as Token);
            map.push((x, next));
        }
    }
    let ren = |x: Token| map.iter().find(|(from, _)| *from == x).map_or(x, |&(_, to)| to);
    for r in &mut t {
        r.token = ren(r.token);
        r.next_token = r.next_token.map(ren);
    }
    t.sort();
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HttpError, SessionJwt};
    use crate::scenario::Scenario;
    use crate::trace::decode_path;

    fn load(trace: &str) -> (RefreshModel, IndexPath) {
        let text = std::fs::read_to_string(format!("traces/{trace}.json")).unwrap();
        let t: crate::trace::Trace = serde_json::from_str(&text).unwrap();
        let sc = Scenario::load(&t.model_file).unwrap().with_tabs(t.parameters.tabs).unwrap();
        (crate::model::build(&sc), decode_path(&t.path).unwrap())
    }

    fn ok(session: u8) -> Reply {
        Reply::Ok { set_cookie: Some(SessionJwt { session, exp: 4 }), token: None, expires_at: Some(4), access: None }
    }

    #[test]
    fn scenario_1_is_one_group_of_two_refreshes_with_the_late_read_answered_401() {
        let (model, path) = load("directus-10.10-session.no_spurious_logout");
        let p = plan(&model, &path).unwrap();
        assert_eq!(p.exchanges.len(), 2);
        assert_eq!(p.groups.len(), 1);
        assert_eq!(p.groups[0].exchanges, vec![0, 1]);
        let (a, b) = (&p.exchanges[0], &p.exchanges[1]);
        assert_eq!((a.request.tab, a.request.cred.cookie.map(|c| c.session)), (0, Some(1)));
        assert_eq!((b.request.tab, b.request.cred.cookie.map(|c| c.session)), (1, Some(1)));
        assert_eq!(a.reply, None, "tab A's write is never answered within the trace");
        assert_eq!(b.reply, Some(Reply::Err(HttpError::InvalidCredentials)));
        // Tab A's rename is done when B reads: A can only be answered 200 with token 2.
        let traced: BTreeSet<Outcome> = [vec![ok(2), Reply::Err(HttpError::InvalidCredentials)]].into_iter().collect();
        assert_eq!(trace_outcomes(&model, &p, &p.groups[0]), traced);
        let allowed = allowed_outcomes(&model, &p, &p.groups[0]).outcome_set();
        // Outcomes are named up to the naming of new tokens (the server draws a refresh's
        // fresh token when the request arrives, so either tab may hold token 2).
        let e = Reply::Err(HttpError::InvalidCredentials);
        let want: BTreeSet<Outcome> = [
            vec![ok(2), ok(3)], // both read first: the later writer's cookie is an orphan
            vec![ok(2), e],     // B reads after A's rename
            vec![e, ok(2)],     // A reads after B's rename
        ]
        .into_iter()
        .collect();
        assert_eq!(allowed, want);
    }

    #[test]
    fn scenario_2_is_one_group_where_both_refreshes_succeed_with_different_tokens() {
        let (model, path) = load("directus-10.10-session.cookie_names_live_session");
        let p = plan(&model, &path).unwrap();
        assert_eq!(p.groups.len(), 1);
        let replies: Vec<_> = p.exchanges.iter().map(|x| x.reply).collect();
        assert_eq!(replies, vec![None, Some(ok(3))], "B's answer is emitted, A's write result is not yet delivered");
        // A has renamed the row already: the only way on is A's 200 with token 2, beside B's
        // orphan 3. A 401 for A (which the wildcard reading of "no reply yet" would accept) is
        // another interleaving.
        let want: BTreeSet<Outcome> = [vec![ok(2), ok(3)]].into_iter().collect();
        assert_eq!(trace_outcomes(&model, &p, &p.groups[0]), want);
    }

    #[test]
    fn requests_in_flight_at_the_end_are_replayed_as_one_group() {
        let sc = Scenario::load("models/directus-10.10-session.json".as_ref()).unwrap();
        let model = crate::model::build(&sc);
        let (_, results) = crate::check::check(&sc, &crate::check::CheckOptions::default());
        let path = results.properties.iter().find(|p| p.name == "concurrent_refreshes").unwrap().path.clone().unwrap();
        let p = plan(&model, &path).unwrap();
        assert_eq!(p.exchanges.len(), 2);
        assert_eq!(p.groups.len(), 1);
        assert_eq!(p.groups[0].exchanges.len(), 2);
        assert!(p.exchanges.iter().all(|x| x.reply.is_none()));
        // Nothing is decided yet: every allowed outcome follows the trace.
        assert_eq!(trace_outcomes(&model, &p, &p.groups[0]), allowed_outcomes(&model, &p, &p.groups[0]).outcome_set());
    }

    /// The divergence `refresh-check replay` found on Directus 10.11.1 and 12.4.1 (tab A's
    /// session refresh 200, the attacker's json refresh of the same token 500) is now an
    /// outcome the model allows.
    #[test]
    fn the_cross_mode_race_allows_the_observed_500_for_the_json_refresh() {
        let sc = Scenario::load("models/directus-10.11.1-session-crossmode.json".as_ref()).unwrap();
        let (model, results) = crate::check::check(&sc, &crate::check::CheckOptions::default());
        let path = results.properties.iter().find(|p| p.name == "no_spurious_logout").unwrap().path.clone().unwrap();
        let p = plan(&model, &path).unwrap();
        assert_eq!(p.groups.len(), 1);
        let allowed = allowed_outcomes(&model, &p, &p.groups[0]).outcome_set();
        let observed = vec![ok(2), Reply::Err(HttpError::Internal)];
        assert!(allowed.contains(&observed), "{allowed:?}");
    }

    /// Issue 17, item 5: a trace whose clock advances while tab A's refresh is between its G1
    /// and G3 was refused. It is now settled: A's handler runs to its end before the first
    /// tick, and tab B's refresh, received at tick 2, is a group of its own, answered 401.
    #[test]
    fn a_handler_in_flight_over_a_tick_is_settled_before_it() {
        let (model, path) = load("directus-10.11.1-session-slow.no_spurious_logout");
        let p = plan(&model, &path).unwrap();
        assert!(p.settled > 0, "A's G3 and W3 move before the tick");
        assert_eq!(p.last_clock, 2);
        let clocks: Vec<Tick> = p.groups.iter().map(|g| g.clock).collect();
        assert_eq!(clocks, vec![0, 2]);
        let a = &p.exchanges[p.groups[0].exchanges[0]];
        assert_eq!(a.reply, Some(ok(2)), "settled, A's refresh is answered before the tick");
        let b = &p.exchanges[p.groups[1].exchanges[0]];
        assert_eq!((b.request.tab, b.reply), (1, Some(Reply::Err(HttpError::InvalidCredentials))));
        // The store the model allows after B's 401: the grace row (expired at tick 2) and its
        // successor, inserted at tick 0 with SESSION_COOKIE_TTL = 4.
        let allowed = allowed_outcomes(&model, &p, &p.groups[1]);
        let tables = &allowed.outcomes[&vec![Reply::Err(HttpError::InvalidCredentials)]];
        let rows: Vec<(Token, Tick, Option<Token>)> =
            tables.iter().next().unwrap().iter().map(|r| (r.token, r.expires, r.next_token)).collect();
        assert_eq!(tables.len(), 1);
        assert_eq!(rows, vec![(1, 1, Some(2)), (2, 4, None)]);
        assert_eq!(check_replayable(&model, &p, &[allowed_outcomes(&model, &p, &p.groups[0]), allowed]), Ok(()));
    }

    /// Issue 17, item 5: in the follow-up trace tab B's `GET /users/me` carries the cookie of
    /// B's own refresh answer; it must wait for that answer, and the model's outcomes for the
    /// group let that answer reach B first.
    #[test]
    fn a_request_sent_after_an_answer_waits_for_it() {
        let (model, path) = load("directus-10.11.1-session-followup.no_spurious_logout");
        let p = plan(&model, &path).unwrap();
        assert_eq!(p.groups.len(), 1);
        let g = &p.groups[0];
        assert_eq!(g.exchanges.len(), 3);
        let me = &p.exchanges[g.exchanges[2]];
        assert_eq!(me.request.endpoint, Endpoint::UsersMe);
        assert_eq!(me.after, vec![g.exchanges[1]], "B's /users/me waits for B's refresh answer");
        assert!(p.exchanges[g.exchanges[0]].after.is_empty() && p.exchanges[g.exchanges[1]].after.is_empty());
        let allowed = allowed_outcomes(&model, &p, g).outcome_set();
        // The trace's outcome for B (200 with the successor, then 401) is among them, and so is
        // the one where A's insert lands first (B's /users/me 200).
        let ok_plain = Reply::Ok { set_cookie: None, token: None, expires_at: None, access: None };
        assert!(
            allowed.iter().any(|o| o[1] == ok(2) && o[2] == Reply::Err(HttpError::InvalidCredentials)),
            "{allowed:?}"
        );
        assert!(allowed.iter().any(|o| o[0] == ok(2) && o[1] == ok(2) && o[2] == ok_plain), "{allowed:?}");
    }

    /// Issue 14, item 1: what the replay can see of the store's concurrency. For the PR 22433
    /// race, the model with one connection (statements one at a time, in issue order) allows
    /// the very outcomes and session tables that the pool allows: the awaits between R1 and W1
    /// are enough, so HTTP replies and the table between groups cannot tell the two apart.
    #[test]
    fn one_connection_and_the_pool_allow_the_same_outcomes_for_the_race() {
        let (pool, pool_path) = load("directus-10.10-session.no_spurious_logout");
        let (one, one_path) = load("directus-10.10-session-sqlite.no_spurious_logout");
        let (pp, op) = (plan(&pool, &pool_path).unwrap(), plan(&one, &one_path).unwrap());
        let a = allowed_outcomes(&pool, &pp, &pp.groups[0]);
        let b = allowed_outcomes(&one, &op, &op.groups[0]);
        assert_eq!(a.outcome_set().len(), 3);
        assert_eq!(a, b);
    }

    #[test]
    fn a_model_without_a_directus_server_is_refused() {
        let (model, path) = load("auth0-leeway.sp3_single_lineage");
        let e = plan(&model, &path).unwrap_err();
        assert!(matches!(e, PlanError::NotDirectus(_)), "{e:?}");
        assert!(e.to_string().starts_with("field `server` of its model: the server is an OAuth authorization server"));
    }

    #[test]
    fn canonical_renames_only_new_tokens_in_order_of_appearance() {
        assert_eq!(canonical(vec![ok(3), ok(2)], 2).0, vec![ok(2), ok(3)]);
        assert_eq!(canonical(vec![ok(5), ok(5), ok(1)], 2).0, vec![ok(2), ok(2), ok(1)]);
    }

    #[test]
    fn new_in_is_a_multiset_difference() {
        assert_eq!(new_in(&[1, 2, 2], &[2, 2, 2, 3]), vec![2, 3]);
        assert_eq!(new_in(&[1], &[]), Vec::<i32>::new());
    }
}
