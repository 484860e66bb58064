//! Symmetry reduction over the interchangeable tabs of a browser.
//!
//! Every tab of a browser runs the same app with the same budget (`BrowserCfg` has no per-tab
//! field), so renaming tabs maps reachable states to reachable states and keeps every property
//! (none names a tab). [`representative`] renames the tabs of each browser into a canonical
//! order: it sorts them by everything the state says about each tab, and rewrites every tab
//! index in the state to match, namely the browser's `tabs`, `lock` and `queue`, the tab timers
//! of the browser, the `tab` of every request and response of that browser in the network, the
//! `client` of every statement, result and transaction, the `client` of every handler in
//! progress (re-sorted, as the server keeps them), and the history's record of when each
//! message in flight was sent (`time.max_in_flight_ticks`, re-sorted). The attacker's index ([`ATTACKER`]) is not a
//! tab and never moves. Tokens, ticks and the store's rows name no tab and are untouched.
//!
//! Two tabs with equal sort keys are identical in every respect, so swapping them changes
//! nothing: the result is the same for every state of one orbit (full canonicalisation), and
//! the search stores one state per orbit. Paths stay real: the search replays the model from
//! real states and matches representatives (see `search::rebuild`).

use std::collections::VecDeque;

use stateright::actor::{Envelope, Id, Network, Timers};

use super::browser::{BrowserState, Tab};
use super::server::Handler;
use super::{Msg, NodeState, State, TabIx, Timer, ATTACKER};

/// Whether tabs are interchangeable in `sc`'s model, so that [`representative`] is sound:
/// not with an OAuth authorization server (its handlers and families are not renamed here) and
/// not when the first tabs are server-side render paths (`browser.ssr_paths`), whose behaviour
/// depends on the tab's index, and not with a broadcast leader, which is tab A; nor with
/// several requesters per tab or reloads, whose addresses carry the tab's index in other bits.
pub fn supported(sc: &crate::scenario::Scenario) -> bool {
    !sc.is_auth_server()
        && sc.browser.ssr_paths == 0
        && sc.browser.coordination != crate::model::policy::Coordination::BroadcastLeader
        && sc.browser.requesters_per_tab <= 1
        && sc.browser.reloads_per_tab == 0
}

/// The representative of `s`'s symmetry class under renaming each browser's tabs.
pub fn representative(s: &State) -> State {
    let mut out = s.clone();
    for (b, actor) in s.actor_states.iter().enumerate() {
        let NodeState::Browser(browser) = &**actor else { continue };
        let n = browser.tabs.len();
        if n < 2 {
            continue;
        }
        let mut keys: Vec<(TabKey, usize)> = (0..n).map(|t| (tab_key(s, b, browser, t as TabIx), t)).collect();
        keys.sort();
        // `to[old] = new`.
        let mut to = vec![0 as TabIx; n];
        for (new, (_, old)) in keys.iter().enumerate() {
            to[*old] = new as TabIx;
        }
        if to.iter().enumerate().all(|(i, t)| i == *t as usize) {
            continue;
        }
        rename(&mut out, b, &to);
    }
    out
}

/// Everything a state says about tab `t` of browser `b`, with tab indices blanked, so that
/// tabs compare by what they are and do, not by their names.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct TabKey {
    tab: Tab,
    holds_lock: bool,
    queue_position: Option<usize>,
    timers: Vec<Timer>,
    messages: Vec<(bool, Msg)>,
    /// With `time.max_in_flight_ticks`: the tick each of its messages in flight was sent at.
    sent: Vec<(bool, Msg, super::Tick)>,
    handler: Option<Handler>,
}

fn tab_key(s: &State, b: usize, browser: &BrowserState, t: TabIx) -> TabKey {
    let blank = |x: TabIx| if x == t { 0 } else { x };
    let mut timers: Vec<Timer> =
        s.timers_set[b].iter().filter(|tm| timer_tab(tm) == Some(t)).map(|tm| map_timer(tm, &|x| blank(x))).collect();
    timers.sort();
    let mut messages: Vec<(bool, Msg)> = envelopes(&s.network)
        .into_iter()
        .filter(|e| msg_tab(b, e) == Some(t))
        .map(|e| (usize::from(e.src) == b, map_msg(b, &e, &|x| blank(x))))
        .collect();
    messages.sort();
    let mut sent: Vec<(bool, Msg, super::Tick)> = history_envelopes(s)
        .filter(|(e, _)| msg_tab(b, e) == Some(t))
        .map(|(e, tick)| (usize::from(e.src) == b, map_msg(b, &e, &|x| blank(x)), tick))
        .collect();
    sent.sort();
    let handler = s.actor_states.iter().find_map(|a| match &**a {
        NodeState::Server(srv) => srv
            .handlers
            .iter()
            .find(|h| usize::from(h.client.browser) == b && h.client.tab == t)
            .map(|h| Handler { client: super::ClientKey { tab: 0, ..h.client }, ..*h }),
        _ => None,
    });
    TabKey {
        tab: browser.tabs[t as usize],
        holds_lock: browser.lock == Some(t),
        queue_position: browser.queue.iter().position(|q| *q == t),
        timers,
        messages,
        sent,
        handler,
    }
}

/// The messages in flight that the history records with the tick they were sent at (only
/// with `time.max_in_flight_ticks`; [`super::InFlight`]).
fn history_envelopes(s: &State) -> impl Iterator<Item = (Envelope<&Msg>, super::Tick)> {
    s.history
        .sent
        .iter()
        .map(|(src, dst, msg, tick)| (Envelope { src: Id::from(*src), dst: Id::from(*dst), msg }, *tick))
}

/// Every envelope in the network, repeats included ([`super::in_flight`]).
fn envelopes(net: &Network<Msg>) -> Vec<Envelope<&Msg>> {
    super::in_flight(net).into_iter().map(|(src, dst, msg)| Envelope { src, dst, msg }).collect()
}

/// The tab a browser timer belongs to.
fn timer_tab(tm: &Timer) -> Option<TabIx> {
    match *tm {
        Timer::TabRefreshes(t)
        | Timer::TabRequests(t)
        | Timer::TabSignsOut(t)
        | Timer::TabPollsLock(t)
        | Timer::TabSetsLock(t)
        | Timer::TabRetries(t)
        | Timer::StorageSyncs(t)
        | Timer::TabHangsWithLock(t)
        | Timer::TabStealsLock(t)
        | Timer::TabGetsBroadcast(t)
        | Timer::TabCloses(t)
        | Timer::TabCalls(t)
        | Timer::TabWaits(t)
        | Timer::RequesterRefreshes(t, _)
        | Timer::TabReloads(t) => Some(t),
        Timer::Tick
        | Timer::AttackerRedeems(_)
        | Timer::AttackerCalls(_)
        | Timer::BrowserTick
        | Timer::NodeServes { .. }
        | Timer::NodeReplicates(_)
        | Timer::ServerStep { .. }
        | Timer::ServerRestarts => None,
    }
}

fn map_timer(tm: &Timer, f: &dyn Fn(TabIx) -> TabIx) -> Timer {
    match *tm {
        Timer::TabRefreshes(t) => Timer::TabRefreshes(f(t)),
        Timer::TabRequests(t) => Timer::TabRequests(f(t)),
        Timer::TabSignsOut(t) => Timer::TabSignsOut(f(t)),
        Timer::TabPollsLock(t) => Timer::TabPollsLock(f(t)),
        Timer::TabSetsLock(t) => Timer::TabSetsLock(f(t)),
        Timer::TabRetries(t) => Timer::TabRetries(f(t)),
        Timer::StorageSyncs(t) => Timer::StorageSyncs(f(t)),
        Timer::TabHangsWithLock(t) => Timer::TabHangsWithLock(f(t)),
        Timer::TabStealsLock(t) => Timer::TabStealsLock(f(t)),
        Timer::TabGetsBroadcast(t) => Timer::TabGetsBroadcast(f(t)),
        Timer::TabCloses(t) => Timer::TabCloses(f(t)),
        Timer::TabWaits(t) => Timer::TabWaits(f(t)),
        Timer::TabCalls(t) => Timer::TabCalls(f(t)),
        other => other,
    }
}

/// The tab of browser `b` that an envelope concerns, if any: a request it sent, a response
/// to it, or a statement, result or transaction of a handler serving it.
fn msg_tab(b: usize, e: &Envelope<&Msg>) -> Option<TabIx> {
    let from_or_to_b = usize::from(e.src) == b || usize::from(e.dst) == b;
    let tab = match *e.msg {
        Msg::RefreshRequest { tab, .. }
        | Msg::UsersMeRequest { tab, .. }
        | Msg::LogoutRequest { tab, .. }
        | Msg::RefreshResponse { tab, .. }
        | Msg::UsersMeResponse { tab, .. }
        | Msg::LogoutResponse { tab, .. }
        | Msg::CallRequest { tab, .. }
        | Msg::CallResponse { tab, .. }
            if from_or_to_b =>
        {
            tab
        }
        Msg::Query { client, .. } | Msg::QueryResult { client, .. } if usize::from(client.browser) == b => client.tab,
        Msg::Transaction { handler, .. } | Msg::TransactionDone { handler, .. }
            if usize::from(handler.client.browser) == b =>
        {
            handler.client.tab
        }
        _ => return None,
    };
    (tab != ATTACKER).then_some(tab)
}

/// The message with the tab index of browser `b` it carries (if any) renamed by `f`.
fn map_msg(b: usize, e: &Envelope<&Msg>, f: &dyn Fn(TabIx) -> TabIx) -> Msg {
    let mut m = *e.msg;
    if msg_tab(b, e).is_none() {
        return m;
    }
    match &mut m {
        Msg::RefreshRequest { tab, .. }
        | Msg::UsersMeRequest { tab, .. }
        | Msg::LogoutRequest { tab, .. }
        | Msg::RefreshResponse { tab, .. }
        | Msg::UsersMeResponse { tab, .. }
        | Msg::LogoutResponse { tab, .. }
        | Msg::CallRequest { tab, .. }
        | Msg::CallResponse { tab, .. } => *tab = f(*tab),
        Msg::Query { client, .. } | Msg::QueryResult { client, .. } => client.tab = f(client.tab),
        Msg::Transaction { handler, .. } | Msg::TransactionDone { handler, .. } => {
            handler.client.tab = f(handler.client.tab)
        }
        Msg::ClockTicked { .. } => {}
    }
    m
}

/// Renames the tabs of browser actor `b` in `s`: tab `old` becomes `to[old]`.
fn rename(s: &mut State, b: usize, to: &[TabIx]) {
    let f = |t: TabIx| if t == ATTACKER { t } else { to[t as usize] };
    // The browser.
    let NodeState::Browser(old) = &*s.actor_states[b] else { unreachable!("actor {b} is a browser") };
    let mut browser = old.clone();
    for (i, tab) in old.tabs.iter().enumerate() {
        browser.tabs[to[i] as usize] = *tab;
    }
    browser.lock = old.lock.map(f);
    browser.queue = old.queue.iter().map(|t| f(*t)).collect();
    s.actor_states[b] = std::sync::Arc::new(NodeState::Browser(browser));
    // Its timers.
    let mut timers = Timers::new();
    for tm in s.timers_set[b].iter() {
        timers.set(map_timer(tm, &f));
    }
    s.timers_set[b] = timers;
    // Handlers serving its tabs, kept sorted by client as the server keeps them.
    for a in s.actor_states.iter_mut() {
        if let NodeState::Server(srv) = &**a {
            if srv.handlers.iter().any(|h| usize::from(h.client.browser) == b) {
                let mut srv = srv.clone();
                for h in srv.handlers.iter_mut().filter(|h| usize::from(h.client.browser) == b) {
                    h.client.tab = f(h.client.tab);
                }
                srv.handlers.sort_by_key(|h| h.client);
                *a = std::sync::Arc::new(NodeState::Server(srv));
            }
        }
    }
    // The history's record of messages in flight, kept sorted as the model keeps it.
    if !s.history.sent.is_empty() {
        let mut sent: Vec<_> = history_envelopes(s)
            .map(|(e, tick)| (usize::from(e.src), usize::from(e.dst), map_msg(b, &e, &f), tick))
            .collect();
        sent.sort();
        s.history.sent = sent;
    }
    // The network.
    let env = |e: Envelope<&Msg>| Envelope { src: e.src, dst: e.dst, msg: map_msg(b, &e, &f) };
    s.network = match &s.network {
        Network::UnorderedNonDuplicating(_) => {
            Network::new_unordered_nonduplicating(envelopes(&s.network).into_iter().map(env))
        }
        Network::UnorderedDuplicating(set, last) => Network::new_unordered_duplicating_with_last_msg(
            set.iter().map(|e| env(Envelope { src: e.src, dst: e.dst, msg: &e.msg })),
            last.as_ref().map(|e| env(Envelope { src: e.src, dst: e.dst, msg: &e.msg })),
        ),
        Network::Ordered(channels) => Network::Ordered(
            channels
                .iter()
                .map(|(&(src, dst), q): (&(Id, Id), &VecDeque<Msg>)| {
                    (
                        (src, dst),
                        q.iter().map(|m| map_msg(b, &Envelope { src, dst, msg: m }, &f)).collect::<VecDeque<Msg>>(),
                    )
                })
                .collect(),
        ),
    };
}
