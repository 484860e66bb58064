//! The model side of a replay: which HTTP exchanges a trace makes, which of them the trace's
//! server handles at the same time, and every outcome the model allows for each such group.
//!
//! An *exchange* is one HTTP request as the trace's server handled it: the step at which the
//! server received it, and the step at which the server emitted its response (if the trace
//! gets that far), with the reply. Two exchanges whose server-side intervals overlap have
//! handlers that interleave, so they belong to one *group* and must be in flight together on
//! the real server. Groups are disjoint in time and ordered: the replay sends them one after
//! the other, and the exchanges of a group concurrently.
//!
//! The *allowed outcomes* of a group are found by exploring the model from the state before the
//! group's first request reaches the server, letting only the group's requests (with the very
//! messages the trace sent) and the server's and store's internal steps happen, until every
//! request of the group has its response. Each distinct vector of replies is one outcome the
//! model allows. A real outcome outside that set is a divergence: the server did something
//! the model says it cannot.
//!
//! Only the request and response messages are read here ([`request_of`], [`response_of`]);
//! SQL messages and timers are the model's own business and are explored as they are.

use std::collections::{BTreeSet, HashSet};

use stateright::actor::{ActorModelAction, Id};
use stateright::Model;

use crate::model::server::{Credentials, Endpoint};
use crate::model::{Action, Msg, RefreshModel, Reply, State, TabIx, Tick, Timer, Token};
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
        Msg::LogoutRequest { tab, cred } => Some(Request { endpoint: Endpoint::Logout, tab, cred }),
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
    /// The 1-based trace step at which the server received it; one past the last step for a
    /// request still in flight when the trace ends.
    pub received: usize,
    /// The 1-based trace step at which the server emitted the response, if the trace does.
    pub completed: Option<usize>,
    /// The reply the trace's server gave, if it did.
    pub reply: Option<Reply>,
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
}

/// Why a trace cannot be replayed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// The path does not replay on the model.
    #[error("the trace's path does not replay on its model: step {0} is not an enabled action")]
    DoesNotReplay(usize),
    /// The clock advances while requests are being handled: real requests take milliseconds,
    /// so such an interleaving cannot be forced on a real server.
    #[error(
        "step {0}: the clock advances while the server handles requests, which a real server cannot be made to do"
    )]
    TickInsideGroup(usize),
    /// The model has no server actor.
    #[error("the model has no server actor")]
    NoServer,
    /// The trace sends no HTTP request: there is nothing to replay.
    #[error("the trace sends no HTTP request: nothing to replay")]
    NoExchange,
}

/// The server's actor index.
fn server_id(model: &RefreshModel) -> Result<Id, PlanError> {
    let ix = model.cfg.server;
    if ix < model.actors.len() {
        Ok(Id::from(ix))
    } else {
        Err(PlanError::NoServer)
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

/// Builds the plan of a trace's path on its model.
pub fn plan(model: &RefreshModel, path: &IndexPath) -> Result<Plan, PlanError> {
    let server = server_id(model)?;
    let (init, steps) = search::replay(model, path).map_err(PlanError::DoesNotReplay)?;
    let mut exchanges: Vec<Exchange> = Vec::new();
    let mut states_before: Vec<State> = Vec::new(); // per exchange: the state before it was received
    let mut ticks: Vec<usize> = Vec::new(); // steps at which the clock advanced
    let mut before = init.clone();
    for (i, (action, after)) in steps.iter().enumerate() {
        let step = i + 1;
        match action {
            ActorModelAction::Deliver { src, dst, msg } if *dst == server => {
                if let Some(request) = request_of(msg) {
                    exchanges.push(Exchange { client: *src, request, received: step, completed: None, reply: None });
                    states_before.push(before.clone());
                }
            }
            ActorModelAction::Timeout(_, Timer::Tick) => ticks.push(step),
            _ => {}
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
    for (client, request) in requests(&before) {
        exchanges.push(Exchange { client, request, received: end, completed: None, reply: None });
        states_before.push(before.clone());
    }
    if exchanges.is_empty() {
        return Err(PlanError::NoExchange);
    }
    // Group exchanges whose [received, completed] intervals overlap (an open interval runs to
    // the end of the trace, and requests still in flight then join it).
    let mut groups: Vec<Group> = Vec::new();
    let mut reach = 0usize; // the latest completion of the current group
    for (i, x) in exchanges.iter().enumerate() {
        let done = x.completed.unwrap_or(end);
        match groups.last_mut() {
            Some(g) if x.received < reach || (x.received == end && reach == end) => {
                g.exchanges.push(i);
                reach = reach.max(done);
            }
            _ => {
                let clock = server_now(model, &states_before[i])?;
                groups.push(Group { exchanges: vec![i], before: states_before[i].clone(), clock });
                reach = done;
            }
        }
    }
    for g in &groups {
        let first = exchanges[g.exchanges[0]].received;
        let last = g.exchanges.iter().map(|&i| exchanges[i].completed.unwrap_or(end)).max().unwrap_or(first);
        if let Some(&t) = ticks.iter().find(|&&t| t > first && t < last) {
            return Err(PlanError::TickInsideGroup(t));
        }
    }
    Ok(Plan { initial: init, last: before, steps: steps.len(), exchanges, groups })
}

/// One outcome of a group: the reply to each of its exchanges, in group order.
pub type Outcome = Vec<Reply>;

/// Every outcome the model allows for `group`: explores from the state before it, letting
/// only its requests (the trace's messages, each once) and the other actors' internal steps
/// happen, and collects the replies once every request of the group has been answered.
/// Responses are not delivered and no other request is started; the clock does not advance.
/// Outcomes equal up to the naming of the tokens minted within the group are one outcome.
pub fn allowed_outcomes(model: &RefreshModel, plan: &Plan, group: &Group) -> BTreeSet<Outcome> {
    let n = group.exchanges.len();
    let first_fresh = crate::model::server_at(&group.before, model.cfg.server).next_fresh;
    explore(model, &wanted(plan, group), group.before.clone(), vec![false; n], vec![None; n])
        .into_iter()
        .map(|o| canonical(o, first_fresh))
        .collect()
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
        .into_iter()
        .map(|o| canonical(o, first_fresh))
        .collect()
}

fn wanted(plan: &Plan, group: &Group) -> Vec<(Id, Request)> {
    group.exchanges.iter().map(|&i| (plan.exchanges[i].client, plan.exchanges[i].request)).collect()
}

/// Explores from `start`, where `received[k]` says whether request `k` of `wanted` has reached
/// the server and `replies[k]` its reply so far, until every request is answered.
fn explore(
    model: &RefreshModel,
    wanted: &[(Id, Request)],
    start: State,
    received: Vec<bool>,
    replies: Vec<Option<Reply>>,
) -> BTreeSet<Outcome> {
    let n = wanted.len();
    // Search node: the state, which requests have been received, and the replies so far.
    type Node = (State, Vec<bool>, Vec<Option<Reply>>);
    let mut out = BTreeSet::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut stack: Vec<Node> = vec![(start, received, replies)];
    let mut actions: Vec<Action> = Vec::new();
    while let Some((s, received, replies)) = stack.pop() {
        if !seen.insert(search::fingerprint(&(&s, &received, &replies))) {
            continue;
        }
        if replies.iter().all(Option::is_some) {
            out.insert(replies.into_iter().flatten().collect());
            continue;
        }
        model.actions(&s, &mut actions);
        for a in actions.drain(..) {
            let mut received = received.clone();
            match &a {
                ActorModelAction::Deliver { msg, .. } if response_of(msg).is_some() => continue,
                ActorModelAction::Deliver { src, msg, .. } => {
                    if let Some(r) = request_of(msg) {
                        // Only the group's requests, each once.
                        match (0..n).find(|&k| !received[k] && wanted[k] == (*src, r)) {
                            Some(k) => received[k] = true,
                            None => continue,
                        }
                    }
                }
                ActorModelAction::Timeout(_, Timer::Tick) => continue,
                ActorModelAction::Timeout(..) => {}
                _ => continue,
            }
            let Some(next) = model.next_state(&s, a.clone()) else { continue };
            // A timeout may only send a request of the group not yet in flight or received.
            if let ActorModelAction::Timeout(..) = a {
                let sent = new_in(&requests(&s), &requests(&next));
                let in_flight = requests(&s);
                let ok = !sent.is_empty()
                    && sent.iter().all(|x| {
                        let already = in_flight.iter().filter(|y| *y == x).count()
                            + (0..n).filter(|&k| received[k] && wanted[k] == *x).count();
                        let wanted_count = wanted.iter().filter(|y| *y == x).count();
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
                        && wanted[k].0 == dst
                        && wanted[k].1.tab == tab
                        && wanted[k].1.endpoint == endpoint
                }) {
                    replies[k] = Some(reply);
                }
            }
            stack.push((next, received, replies));
        }
    }
    out
}

/// Renames the tokens minted within the group (those from `first_fresh` on) in order of first
/// appearance, so that outcomes equal up to the naming of new tokens are one outcome. Tokens
/// minted earlier keep their names: they are bound to real sessions already.
fn canonical(mut o: Outcome, first_fresh: Token) -> Outcome {
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
    o
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
        Reply::Ok { set_cookie: Some(SessionJwt { session, exp: 4 }), token: None, expires_at: Some(4) }
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
        let allowed = allowed_outcomes(&model, &p, &p.groups[0]);
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
        assert_eq!(trace_outcomes(&model, &p, &p.groups[0]), allowed_outcomes(&model, &p, &p.groups[0]));
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
        let allowed = allowed_outcomes(&model, &p, &p.groups[0]);
        let observed = vec![ok(2), Reply::Err(HttpError::Internal)];
        assert!(allowed.contains(&observed), "{allowed:?}");
    }

    #[test]
    fn canonical_renames_only_new_tokens_in_order_of_appearance() {
        assert_eq!(canonical(vec![ok(3), ok(2)], 2), vec![ok(2), ok(3)]);
        assert_eq!(canonical(vec![ok(5), ok(5), ok(1)], 2), vec![ok(2), ok(2), ok(1)]);
    }

    #[test]
    fn new_in_is_a_multiset_difference() {
        assert_eq!(new_in(&[1, 2, 2], &[2, 2, 2, 3]), vec![2, 3]);
        assert_eq!(new_in(&[1], &[]), Vec::<i32>::new());
    }
}
