//! Symmetry reduction over the interchangeable tabs of a browser.
//!
//! Every tab of a browser runs the same app with the same budget, so renaming tabs maps
//! reachable states to reachable states and keeps every property (none names a tab), except
//! where a tab has a role or settings of its own: the first `browser.ssr_paths` tabs are
//! server-side render paths, a single broadcast leader is tab A, and `browser.tab_settings`
//! may give tabs their own budget and triggers. Those tabs are renamed only among themselves
//! (partial symmetry: two blocks, [`representative_for`]); settings that do not fall into two
//! such blocks turn the reduction off.
//!
//! The representative renames the tabs of each browser into a canonical order: it sorts each
//! block's tabs by everything the state says about each tab, and rewrites every tab index in
//! the state to match, namely
//!
//! - the browser's `tabs`, `lock` and `queue`, and its tab timers (requesters' and reloads'
//!   included);
//! - the `tab` of every request and response of that browser in the network, and the `client`
//!   of every statement, result and transaction: an address whose low bits name the tab and
//!   whose other bits (requester, page) are kept ([`super::browser::requesters::address`]);
//! - the Directus server's handlers in progress (re-sorted by client, as the server keeps them);
//! - the authorization server's handlers in progress and requests waiting to be routed
//!   (re-sorted by client and slot), sticky routes (by client), the undo log of transactions in
//!   progress, and its timers that route a request or run a handler's next step;
//! - the history's record of when each message in flight was sent
//!   (`time.max_in_flight_ticks`, re-sorted).
//!
//! The attacker's index ([`super::ATTACKER`]) is not a tab and never moves. Tokens, families,
//! access tokens, ticks and the stores' rows name no tab (with one sign-in per browser) and are
//! untouched; with `browser.logins: per-tab` each tab owns a family and its first token, so
//! such models are not reduced.
//!
//! Two tabs of one block with equal sort keys are identical in every respect, so swapping them
//! changes nothing: the result is the same for every state of one orbit (full
//! canonicalisation), and the search stores one state per orbit. Paths stay real: the search
//! replays the model from real states and matches representatives (see `search::rebuild`).
//! The unit tests check, on reachable states of models of every kind, that each allowed
//! renaming keeps the representative, every property's value and the successors, and that
//! the representative is the one of the first implementation (kept as a test-only reference: one key per tab built by scanning the whole
//! state, after copying it), on every state of the symmetric search of
//! `directus-10.11.1-session` with 3 tabs and on every reachable state of ten other models.

use stateright::actor::{Envelope, Id};

use super::browser::requesters::split;
use super::browser::{BrowserState, Tab};
use super::cached::Cached;
use super::hashed::Hashed;
use super::oauth::{AsHandler, AsPending, AsState, Before};
use super::policy::{Coordination, LeaderElection, Logins};
use super::server::Handler;
use super::{ClientKey, Msg, NodeState, State, TabIx, Timer};

/// A symmetry reduction of the model's states ([`crate::search::Representative`]).
pub type Representative = fn(State) -> State;

/// The representative function for `sc`'s model, or `None` when no two of its tabs are
/// interchangeable (then the search runs unreduced). Decided from the configuration alone:
///
/// - at least two tabs, and a network that is not `ordered` (an ordered channel keeps the
///   order in which one step sent several tabs' messages, for instance the answers of a
///   restarting authorization server, which follows tab indices);
/// - not with `browser.logins: per-tab` (each tab owns a family of the authorization server
///   and its first token, which renaming tabs alone would not rename);
/// - the tabs fall into two blocks, tabs `0..K` and tabs `K..` ([`fixed_block`]), each renamed
///   only among itself: `K = browser.ssr_paths` (the server-side render paths behave alike,
///   the ordinary tabs alike), or `K = 1` with a single broadcast leader (tab A leads, the
///   followers behave alike; not reduced together with two or more render paths). At least
///   one block must hold two tabs. With `browser.tab_settings` the blocks are those of the
///   settings (tabs `0..J` alike, tabs `J..` alike), which must agree with the roles'.
pub fn representative_for(sc: &crate::scenario::Scenario) -> Option<Representative> {
    by_blocks(reduced_blocks(sc)?)
}

/// `K` of the reduction [`representative_for`] gives (tabs `0..K` and tabs `K..` are renamed
/// among themselves), or `None` when it gives none.
pub fn reduced_blocks(sc: &crate::scenario::Scenario) -> Option<u8> {
    let b = &sc.browser;
    if b.tabs < 2 || sc.network == crate::scenario::NetworkKind::Ordered || b.logins == Logins::PerTab {
        return None;
    }
    let k = settings_block(sc, fixed_block(sc)?)?;
    (k <= 6 && (k >= 2 || b.tabs - k >= 2)).then_some(k)
}

/// `K` of [`representative_for`] once `browser.tab_settings` is taken into account: tabs with
/// different settings are not interchangeable. Without the field, or with every tab's settings
/// alike, `k` (the roles' block) stands; with tabs `0..J` alike and tabs `J..` alike (and `k`
/// 0 or `J`), `J`; otherwise `None` (no reduction).
fn settings_block(sc: &crate::scenario::Scenario, k: u8) -> Option<u8> {
    let b = &sc.browser;
    if b.tab_settings.is_none() {
        return Some(k);
    }
    // What each tab does, resolved as the model resolves it.
    let resolved = super::browser::tab_settings::resolve(b);
    let list: Vec<_> = resolved.iter().map(|s| s.behaviour()).collect();
    let j = list.iter().position(|s| *s != list[0]).map_or(0, |j| j as u8);
    if j == 0 {
        return Some(k); // every tab alike
    }
    let rest_alike = list[j as usize..].iter().all(|s| *s == list[j as usize]);
    (rest_alike && (k == 0 || k == j)).then_some(j)
}

/// Whether tabs are interchangeable in `sc`'s model, so that the search reduces by symmetry
/// ([`representative_for`] gives a function).
pub fn supported(sc: &crate::scenario::Scenario) -> bool {
    representative_for(sc).is_some()
}

/// `K` of [`representative_for`]: the first block is tabs `0..K`; `None`: three or more
/// roles (a first tab with a role of its own and two or more render paths). The first tab has
/// a role of its own with a single broadcast leader, and where the user signs in again on a
/// signed-in device (`browser.re_sign_ins`: always from its first tab).
fn fixed_block(sc: &crate::scenario::Scenario) -> Option<u8> {
    let b = &sc.browser;
    let single_leader = b.coordination == Coordination::BroadcastLeader && b.leader_election == LeaderElection::Single;
    match (single_leader || b.re_sign_ins > 0, b.ssr_paths) {
        (false, k) => Some(k.min(b.tabs)),
        (true, 0 | 1) => Some(1),
        (true, _) => None,
    }
}

/// The representative function renaming tabs `0..k` among themselves and tabs `k..` among
/// themselves (`k` at most 6, the most tabs a browser has; `None` above).
fn by_blocks(k: u8) -> Option<Representative> {
    Some(match k {
        0 => representative,
        1 => representative_blocks::<1>,
        2 => representative_blocks::<2>,
        3 => representative_blocks::<3>,
        4 => representative_blocks::<4>,
        5 => representative_blocks::<5>,
        6 => representative_blocks::<6>,
        _ => return None,
    })
}

/// The representative of `s`'s symmetry class under renaming each browser's tabs, all tabs
/// interchangeable. `s` itself (moved, not copied) when its tabs are already in canonical order.
pub fn representative(s: State) -> State {
    canonical(s, 0)
}

/// The representative of `s`'s class under renaming tabs `0..K` of each browser among
/// themselves and the other tabs among themselves (partial symmetry).
pub fn representative_blocks<const K: u8>(s: State) -> State {
    canonical(s, K)
}

/// Sorts the tabs of each browser of `s`, each block by its tabs' keys, and renames them
/// ([`rename`]) unless they are already in order.
///
/// The order is that of sorting `(key, tab)` pairs, where a tab's key is everything the state
/// says about it with tab indices blanked, compared field by field in this order: its `Tab`,
/// whether it holds the lock, its position in the lock's queue, its timers, its messages in
/// flight, the history's record of when they were sent, the Directus handlers serving it, and
/// at the authorization server its handlers, waiting requests, sticky routes, undo-log entries
/// and the timers that serve it (each list sorted). Two tabs with equal keys are identical in
/// every respect; ties go to the lower index. The order is decided lazily (lexicographic
/// refinement): the tabs are sorted by the three cheap leading fields, and each further field
/// is gathered, in one pass over its part of the state bucketed by tab, only for the tabs
/// that still tie with another, then the tied runs are re-sorted by it (a stable sort, so
/// lower indices stay first). Most states need no more than the first pass. The buffers are
/// reused (one set per thread).
fn canonical(mut s: State, k: u8) -> State {
    for b in 0..s.actor_states.len() {
        let NodeState::Browser(browser) = &*s.actor_states[b] else { continue };
        let n = browser.tabs.len();
        if n < 2 {
            continue;
        }
        let k = usize::from(k).min(n);
        let to = SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            order(&s, b, browser, k, scratch).then(|| {
                // `to[old] = new`.
                let mut to = vec![0 as TabIx; n];
                for (new, &old) in scratch.order.iter().enumerate() {
                    to[usize::from(old)] = new as TabIx;
                }
                to
            })
        });
        if let Some(to) = to {
            let first = FirstPass::known(browser, k);
            rename(&mut s, b, &to);
            if let (Some(first), NodeState::Browser(renamed)) = (first, &*s.actor_states[b]) {
                renamed.set_memo(first.renamed(n).0);
            }
        }
    }
    s
}

thread_local! {
    /// The buffers of [`order`], one set per search thread.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Reused buffers of [`order`]: the tabs in the order decided so far, the runs of it that
/// still tie, and per tab (indexed by tab) each gathered field of its key.
#[derive(Default)]
struct Scratch {
    order: Vec<TabIx>,
    /// `(start, end)` ranges of `order`, two tabs or more, whose tabs tie on the fields so far.
    ties: Vec<(usize, usize)>,
    next_ties: Vec<(usize, usize)>,
    /// Per tab: whether it is in a tie (whether to gather the next field for it).
    tied: Vec<bool>,
    cheap: Vec<(Hashed<Tab>, bool, Option<usize>)>,
    timers: Vec<Vec<Timer>>,
    messages: Vec<Vec<(bool, Msg)>>,
    sent: Vec<Vec<(bool, Msg, super::Tick)>>,
    handlers: Vec<Vec<Handler>>,
    as_handlers: Vec<Vec<AsHandler>>,
    pending: Vec<Vec<AsPending>>,
    affinity: Vec<Vec<(ClientKey, u8)>>,
    undo: Vec<Vec<(ClientKey, u8, Before)>>,
    server_timers: Vec<Vec<Timer>>,
}

/// Decides the canonical order of browser `b`'s tabs (blocks `0..k` and `k..`) into
/// `scratch.order` (the tab at each new position); returns whether it differs from the
/// identity. See [`canonical`] for the order.
fn order(s: &State, b: usize, browser: &Cached<BrowserState>, k: usize, scratch: &mut Scratch) -> bool {
    let n = browser.tabs.len();
    match FirstPass::known(browser, k) {
        Some(first) => {
            debug_assert_eq!(
                Some(first),
                first_pass(browser, k, scratch),
                "a browser's memo is not its tab order's first pass"
            );
            first.unpack(n, &mut scratch.order, &mut scratch.ties);
        }
        None => {
            if let Some(first) = first_pass(browser, k, scratch) {
                browser.set_memo(first.0);
            }
        }
    }
    mark_tied(scratch);
    let blank = |_: TabIx| 0;
    // The tab of browser `b` a client (of any actor's record) is, if it is in a tie.
    let tied_client = |tied: &[bool], c: ClientKey| -> Option<usize> {
        if usize::from(c.browser) != b {
            return None;
        }
        let t = usize::from(tab_of(c.tab)?);
        tied.get(t).copied().unwrap_or(false).then_some(t)
    };
    let tied_tab = |tied: &[bool], t: Option<TabIx>| -> Option<usize> {
        let t = usize::from(t?);
        tied.get(t).copied().unwrap_or(false).then_some(t)
    };
    refine(
        scratch,
        |sc| &mut sc.timers,
        |tied, bufs| {
            for tm in s.timers.of(b) {
                if let Some(t) = tied_tab(tied, timer_tab(tm)) {
                    bufs[t].push(map_timer(tm, &blank));
                }
            }
        },
    );
    refine(
        scratch,
        |sc| &mut sc.messages,
        |tied, bufs| {
            for e in s.network.iter() {
                let e = Envelope { src: Id::from(usize::from(e.src)), dst: Id::from(usize::from(e.dst)), msg: &e.msg };
                if let Some(t) = tied_tab(tied, msg_tab(b, &e)) {
                    bufs[t].push((usize::from(e.src) == b, rename_msg(*e.msg, &blank)));
                }
            }
        },
    );
    refine(
        scratch,
        |sc| &mut sc.sent,
        |tied, bufs| {
            for (e, tick) in history_envelopes(s) {
                if let Some(t) = tied_tab(tied, msg_tab(b, &e)) {
                    bufs[t].push((usize::from(e.src) == b, map_msg(b, &e, &blank), tick));
                }
            }
        },
    );
    let blank_client = |c: ClientKey| map_client(b, c, &blank);
    refine(
        scratch,
        |sc| &mut sc.handlers,
        |tied, bufs| {
            for actor in &s.actor_states {
                let NodeState::Server(srv) = &**actor else { continue };
                for h in &srv.handlers {
                    if let Some(t) = tied_client(tied, h.client) {
                        bufs[t].push(Handler { client: blank_client(h.client), ..*h });
                    }
                }
            }
        },
    );
    refine(
        scratch,
        |sc| &mut sc.as_handlers,
        |tied, bufs| {
            for actor in &s.actor_states {
                let NodeState::AuthServer(srv) = &**actor else { continue };
                for h in &srv.handlers {
                    if let Some(t) = tied_client(tied, h.client) {
                        bufs[t].push(AsHandler { client: blank_client(h.client), ..*h });
                    }
                }
            }
        },
    );
    refine(
        scratch,
        |sc| &mut sc.pending,
        |tied, bufs| {
            for actor in &s.actor_states {
                let NodeState::AuthServer(srv) = &**actor else { continue };
                let Some(cluster) = &srv.cluster else { continue };
                for p in &cluster.pending {
                    if let Some(t) = tied_client(tied, p.client) {
                        bufs[t].push(AsPending { client: blank_client(p.client), ..*p });
                    }
                }
            }
        },
    );
    refine(
        scratch,
        |sc| &mut sc.affinity,
        |tied, bufs| {
            for actor in &s.actor_states {
                let NodeState::AuthServer(srv) = &**actor else { continue };
                let Some(cluster) = &srv.cluster else { continue };
                for &(c, node) in &cluster.affinity {
                    if let Some(t) = tied_client(tied, c) {
                        bufs[t].push((blank_client(c), node));
                    }
                }
            }
        },
    );
    refine(
        scratch,
        |sc| &mut sc.undo,
        |tied, bufs| {
            for actor in &s.actor_states {
                let NodeState::AuthServer(srv) = &**actor else { continue };
                for &(c, slot, before) in &srv.undo {
                    if let Some(t) = tied_client(tied, c) {
                        bufs[t].push((blank_client(c), slot, before));
                    }
                }
            }
        },
    );
    refine(
        scratch,
        |sc| &mut sc.server_timers,
        |tied, bufs| {
            for (a, actor) in s.actor_states.iter().enumerate() {
                if !matches!(&**actor, NodeState::Server(_) | NodeState::AuthServer(_)) {
                    continue;
                }
                for tm in s.timers.of(a) {
                    if let Some(t) = server_timer_client(tm).and_then(|c| tied_client(tied, c)) {
                        bufs[t].push(map_server_timer(b, tm, &blank));
                    }
                }
            }
        },
    );
    scratch.order.iter().enumerate().any(|(i, t)| i != usize::from(*t))
}

/// The first pass of [`order`]: sorts the tabs of each block by the cheap leading fields of
/// their keys (`Tab`, whether it holds the lock, its position in the lock's queue) into
/// `scratch.order`, and lists the runs that tie on them in `scratch.ties`. Returns the pass
/// packed for the browser's memo ([`FirstPass`]), `None` if it does not fit.
fn first_pass(browser: &BrowserState, k: usize, scratch: &mut Scratch) -> Option<FirstPass> {
    let n = browser.tabs.len();
    let Scratch { order, ties, cheap, .. } = &mut *scratch;
    cheap.clear();
    cheap.extend((0..n).map(|t| {
        let t = t as TabIx;
        (browser.tabs[usize::from(t)], browser.lock == Some(t), browser.queue.iter().position(|q| *q == t))
    }));
    order.clear();
    order.extend((0..n).map(|t| t as TabIx));
    ties.clear();
    for (start, end) in [(0, k), (k, n)] {
        order[start..end].sort_by(|x, y| cheap[usize::from(*x)].cmp(&cheap[usize::from(*y)]));
        push_ties(&order[start..end], start, ties, |x, y| cheap[usize::from(x)] == cheap[usize::from(y)]);
    }
    FirstPass::of(order, ties, k)
}

/// The first pass of a browser's tab order ([`first_pass`]) packed into a browser state's memo
/// ([`Cached::memo`]), a function of the browser state and of `k` alone: a step that leaves
/// the browser unchanged (a delivery to the server or the store, a clock tick) shares it with
/// the parent, whose memo then spares the sort (comparing whole `Tab`s, most of the pass).
/// After a renaming the new browser's tabs are in the pass's order, so its memo is the
/// identity with the same ties ([`FirstPass::renamed`]).
///
/// Bits 0 to 17: the tab at each position, 3 bits each (at most 6 tabs); bit 18 + p: positions
/// p and p + 1 tie (runs never cross the blocks' boundary); bits 23 to 25: `k`; bit 31: set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FirstPass(u32);

impl FirstPass {
    const SET: u32 = 1 << 31;

    /// The pass `order`, `ties` packed, for blocks `0..k` and `k..`; `None` with more than six
    /// tabs.
    fn of(order: &[TabIx], ties: &[(usize, usize)], k: usize) -> Option<FirstPass> {
        if order.len() > 6 || k > 6 {
            return None;
        }
        let mut x = Self::SET | (k as u32) << 23;
        for (p, &t) in order.iter().enumerate() {
            x |= u32::from(t) << (3 * p);
        }
        for &(start, end) in ties {
            for p in start..end - 1 {
                x |= 1 << (18 + p);
            }
        }
        Some(FirstPass(x))
    }

    /// The browser's memo, if it holds the first pass for `k`.
    fn known(browser: &Cached<BrowserState>, k: usize) -> Option<FirstPass> {
        let x = browser.memo();
        (x & Self::SET != 0 && (x >> 23) & 7 == k as u32).then_some(FirstPass(x))
    }

    /// Unpacks the pass of `n` tabs into `order` and `ties` (runs in order of position).
    fn unpack(self, n: usize, order: &mut Vec<TabIx>, ties: &mut Vec<(usize, usize)>) {
        order.clear();
        order.extend((0..n).map(|p| ((self.0 >> (3 * p)) & 7) as TabIx));
        ties.clear();
        let mut p = 0;
        while p < n {
            let mut q = p;
            while q + 1 < n && self.0 & (1 << (18 + q)) != 0 {
                q += 1;
            }
            if q > p {
                ties.push((p, q + 1));
            }
            p = q + 1;
        }
    }

    /// The pass of the browser of `n` tabs renamed into this pass's order: the identity, same
    /// ties.
    fn renamed(self, n: usize) -> FirstPass {
        let mut x = self.0 & !((1 << 18) - 1);
        for p in 0..n as u32 {
            x |= p << (3 * p);
        }
        FirstPass(x)
    }
}

/// Pushes onto `ties` the runs (two or more) of `order` (starting at position `start`) whose
/// neighbours are `equal`.
fn push_ties(order: &[TabIx], start: usize, ties: &mut Vec<(usize, usize)>, equal: impl Fn(TabIx, TabIx) -> bool) {
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && equal(order[i], order[j]) {
            j += 1;
        }
        if j - i >= 2 {
            ties.push((start + i, start + j));
        }
        i = j;
    }
}

/// Marks in `scratch.tied` the tabs that are in a run of `scratch.ties` (the tabs whose next
/// field [`refine`] gathers).
fn mark_tied(scratch: &mut Scratch) {
    let n = scratch.order.len();
    scratch.tied.clear();
    scratch.tied.resize(n, false);
    for &(start, end) in &scratch.ties {
        for &t in &scratch.order[start..end] {
            scratch.tied[usize::from(t)] = true;
        }
    }
}

/// One step of the lexicographic refinement of [`order`]: if some tabs still tie, gathers one
/// more field of their keys into the buffers `field` selects (`gather` pushes each element to
/// its tab's buffer, for the tabs marked tied in `scratch.tied`; each buffer is then sorted),
/// re-sorts each tied run by it (stably) and keeps the runs that still tie, updating the marks.
///
/// When no tied tab has an element of the field (most fields of most states: no handler, no
/// history, no authorization server), every tied tab's key is the empty list: the runs keep
/// their order and their ties, so the pass stops there, before any sort.
fn refine<T: Ord>(
    scratch: &mut Scratch,
    field: fn(&mut Scratch) -> &mut Vec<Vec<T>>,
    gather: impl FnOnce(&[bool], &mut [Vec<T>]),
) {
    if scratch.ties.is_empty() {
        return;
    }
    let n = scratch.order.len();
    let mut bufs = std::mem::take(field(scratch));
    if bufs.len() < n {
        bufs.resize_with(n, Vec::new);
    }
    let tied = &scratch.tied;
    for (t, buf) in bufs.iter_mut().enumerate().take(n) {
        if tied[t] {
            buf.clear();
        }
    }
    gather(tied, &mut bufs);
    let mut any = false;
    for (t, buf) in bufs.iter_mut().enumerate().take(n) {
        if tied[t] && !buf.is_empty() {
            any = true;
            buf.sort_unstable();
        }
    }
    if any {
        let Scratch { order, ties, next_ties, .. } = &mut *scratch;
        next_ties.clear();
        for &(start, end) in ties.iter() {
            let run = &mut order[start..end];
            run.sort_by(|x, y| bufs[usize::from(*x)].cmp(&bufs[usize::from(*y)]));
            push_ties(run, start, next_ties, |x, y| bufs[usize::from(x)] == bufs[usize::from(y)]);
        }
        if ties != next_ties {
            std::mem::swap(ties, next_ties);
            mark_tied(scratch);
        }
    }
    *field(scratch) = bufs;
}

/// The tab an address (a message's `tab`, a [`ClientKey::tab`]) belongs to: its tab bits
/// ([`super::browser::requesters::address`]); `None` for the attacker.
fn tab_of(a: TabIx) -> Option<TabIx> {
    split(a).map(|(t, _, _)| t)
}

/// The address `a` with its tab renamed by `f` (requester, page or refresh round kept: the
/// bits above the tab's); the attacker's unchanged.
fn rename_address(a: TabIx, f: &dyn Fn(TabIx) -> TabIx) -> TabIx {
    match split(a) {
        Some((t, _, _)) => (a & !7) | f(t),
        None => a,
    }
}

/// `c` with its tab renamed by `f` if it is a tab of browser `b`.
fn map_client(b: usize, c: ClientKey, f: &dyn Fn(TabIx) -> TabIx) -> ClientKey {
    if usize::from(c.browser) == b {
        ClientKey { tab: rename_address(c.tab, f), ..c }
    } else {
        c
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
        | Timer::TabGivesUpLock(t)
        | Timer::TabGetsBroadcast(t)
        | Timer::TabCloses(t)
        | Timer::TabHearsSignOut(t)
        | Timer::TabCalls(t)
        | Timer::TabWaits(t)
        | Timer::RequesterRefreshes(t, _)
        | Timer::TabReloads(t)
        | Timer::TabAbortsRefresh(t)
        | Timer::TabSendsReadToken(t)
        | Timer::TabRereadsToken(t)
        | Timer::TabFinishesStoring(t)
        | Timer::TabCrashes(t) => Some(t),
        Timer::Tick
        | Timer::DeviceSignsIn
        | Timer::AttackerRedeems(_)
        | Timer::AttackerCalls(_)
        | Timer::AttackerReadsStorage
        | Timer::BrowserTick
        | Timer::NodeServes { .. }
        | Timer::NodeReplicates(_)
        | Timer::ServerStep { .. }
        | Timer::ServerRestarts => None,
    }
}

/// A browser timer with its tab renamed by `f`.
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
        Timer::TabGivesUpLock(t) => Timer::TabGivesUpLock(f(t)),
        Timer::TabGetsBroadcast(t) => Timer::TabGetsBroadcast(f(t)),
        Timer::TabCloses(t) => Timer::TabCloses(f(t)),
        Timer::TabHearsSignOut(t) => Timer::TabHearsSignOut(f(t)),
        Timer::TabWaits(t) => Timer::TabWaits(f(t)),
        Timer::TabCalls(t) => Timer::TabCalls(f(t)),
        Timer::RequesterRefreshes(t, r) => Timer::RequesterRefreshes(f(t), r),
        Timer::TabReloads(t) => Timer::TabReloads(f(t)),
        Timer::TabAbortsRefresh(t) => Timer::TabAbortsRefresh(f(t)),
        Timer::TabSendsReadToken(t) => Timer::TabSendsReadToken(f(t)),
        Timer::TabRereadsToken(t) => Timer::TabRereadsToken(f(t)),
        Timer::TabFinishesStoring(t) => Timer::TabFinishesStoring(f(t)),
        Timer::TabCrashes(t) => Timer::TabCrashes(f(t)),
        other => other,
    }
}

/// The client a timer of the authorization server serves (a request routed, or the next step
/// of a handler).
fn server_timer_client(tm: &Timer) -> Option<ClientKey> {
    match *tm {
        Timer::NodeServes { client, .. } | Timer::ServerStep { client, .. } => Some(client),
        _ => None,
    }
}

/// A timer of the authorization server with the tab of browser `b` it serves renamed by `f`.
fn map_server_timer(b: usize, tm: &Timer, f: &dyn Fn(TabIx) -> TabIx) -> Timer {
    match *tm {
        Timer::NodeServes { client, slot, node } => Timer::NodeServes { client: map_client(b, client, f), slot, node },
        Timer::ServerStep { client, slot } => Timer::ServerStep { client: map_client(b, client, f), slot },
        other => other,
    }
}

/// The tab of browser `b` that an envelope concerns, if any: a request it sent, a response
/// to it, or a statement, result or transaction of a handler serving it. A message's `tab`
/// is an address ([`super::browser::requesters::address`]): its tab bits name the tab.
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
        | Msg::SignInRequest { tab }
        | Msg::SignInResponse { tab, .. }
        | Msg::FollowUpRequest { tab, .. }
        | Msg::FollowUpResponse { tab, .. }
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
    tab_of(tab)
}

/// The message with the tab of browser `b` it carries (if any) renamed by `f`.
fn map_msg(b: usize, e: &Envelope<&Msg>, f: &dyn Fn(TabIx) -> TabIx) -> Msg {
    if msg_tab(b, e).is_none() {
        return *e.msg;
    }
    rename_msg(*e.msg, f)
}

/// `m` with the tab it carries renamed by `f`, for a message that [`msg_tab`] finds a tab of
/// the browser in.
fn rename_msg(mut m: Msg, f: &dyn Fn(TabIx) -> TabIx) -> Msg {
    match &mut m {
        Msg::RefreshRequest { tab, .. }
        | Msg::UsersMeRequest { tab, .. }
        | Msg::LogoutRequest { tab, .. }
        | Msg::RefreshResponse { tab, .. }
        | Msg::UsersMeResponse { tab, .. }
        | Msg::LogoutResponse { tab, .. }
        | Msg::CallRequest { tab, .. }
        | Msg::CallResponse { tab, .. }
        | Msg::SignInRequest { tab }
        | Msg::SignInResponse { tab, .. }
        | Msg::FollowUpRequest { tab, .. }
        | Msg::FollowUpResponse { tab, .. } => *tab = rename_address(*tab, f),
        Msg::Query { client, .. } | Msg::QueryResult { client, .. } => client.tab = rename_address(client.tab, f),
        Msg::Transaction { handler, .. } | Msg::TransactionDone { handler, .. } => {
            handler.client.tab = rename_address(handler.client.tab, f)
        }
        Msg::ClockTicked { .. } => {}
    }
    m
}

/// Renames the tabs of browser actor `b` in `s`: tab `old` becomes `to[old]`.
///
/// The browser's timers are rewritten whenever its tabs are renamed, a server's whenever one of
/// them serves a tab of the browser, and the network always (each re-sorted as the state keeps
/// it, [`super::system`]). The lists kept sorted (the servers' handlers, the authorization
/// server's records, the history) are rewritten only when they name a tab that moves;
/// re-sorting an unchanged sorted list would change nothing.
fn rename(s: &mut State, b: usize, to: &[TabIx]) {
    let f = |t: TabIx| to[t as usize];
    // The browser.
    let NodeState::Browser(old) = &*s.actor_states[b] else { unreachable!("actor {b} is a browser") };
    let mut browser = old.clone();
    for (i, tab) in old.tabs.iter().enumerate() {
        browser.tabs[to[i] as usize] = *tab;
    }
    browser.lock = old.lock.map(f);
    for t in browser.queue.iter_mut() {
        *t = f(*t);
    }
    s.actor_states[b] = std::sync::Arc::new(NodeState::Browser(browser));
    // Its timers.
    let timers: Vec<Timer> = s.timers.of(b).map(|tm| map_timer(tm, &f)).collect();
    s.timers.replace(b, timers);
    let of_b = |c: ClientKey| usize::from(c.browser) == b && c.tab != super::ATTACKER;
    let moves = |c: ClientKey| usize::from(c.browser) == b && tab_of(c.tab).is_some_and(|t| f(t) != t);
    for (a, actor) in s.actor_states.iter_mut().enumerate() {
        match &**actor {
            // Handlers serving its tabs, kept sorted by client as the server keeps them.
            NodeState::Server(srv) if srv.handlers.iter().any(|h| moves(h.client)) => {
                let mut srv = srv.clone();
                for h in srv.handlers.iter_mut() {
                    h.client = map_client(b, h.client, &f);
                }
                srv.handlers.sort_by_key(|h| h.client);
                *actor = std::sync::Arc::new(NodeState::Server(srv));
            }
            NodeState::AuthServer(srv) if names_client(srv, &moves) => {
                let mut srv = srv.clone();
                rename_at_auth_server(&mut srv, b, &f);
                *actor = std::sync::Arc::new(NodeState::AuthServer(srv));
            }
            _ => {}
        }
        // The authorization server's timers that serve its tabs' requests.
        if !matches!(&**actor, NodeState::Browser(_))
            && s.timers.of(a).any(|tm| server_timer_client(tm).is_some_and(of_b))
        {
            let timers: Vec<Timer> = s.timers.of(a).map(|tm| map_server_timer(b, tm, &f)).collect();
            s.timers.replace(a, timers);
        }
    }
    // The history's record of messages in flight, kept sorted as the model keeps it.
    if history_envelopes(s).any(|(e, _)| msg_tab(b, &e).is_some_and(|t| f(t) != t)) {
        let mut sent: Vec<_> = history_envelopes(s)
            .map(|(e, tick)| (usize::from(e.src), usize::from(e.dst), map_msg(b, &e, &f), tick))
            .collect();
        sent.sort();
        s.history.sent = sent;
    }
    // The network.
    s.network.map_messages(|e| {
        map_msg(b, &Envelope { src: Id::from(usize::from(e.src)), dst: Id::from(usize::from(e.dst)), msg: &e.msg }, &f)
    });
}

/// Whether the authorization server's state names a client that `of_b` accepts: a handler in
/// progress, a request waiting to be routed, a sticky route or an undo-log entry.
fn names_client(srv: &AsState, of_b: &dyn Fn(ClientKey) -> bool) -> bool {
    srv.handlers.iter().any(|h| of_b(h.client))
        || srv.undo.iter().any(|x| of_b(x.0))
        || srv
            .cluster
            .as_ref()
            .is_some_and(|c| c.pending.iter().any(|p| of_b(p.client)) || c.affinity.iter().any(|x| of_b(x.0)))
}

/// Renames the tabs of browser `b` (by `f`) wherever the authorization server keeps a client,
/// each list re-sorted as the server keeps it: handlers and waiting requests by (client,
/// slot), sticky routes by client, the undo log whole.
fn rename_at_auth_server(srv: &mut AsState, b: usize, f: &dyn Fn(TabIx) -> TabIx) {
    for h in srv.handlers.iter_mut() {
        h.client = map_client(b, h.client, f);
    }
    srv.handlers.sort_by_key(|h| (h.client, h.slot));
    for x in srv.undo.iter_mut() {
        x.0 = map_client(b, x.0, f);
    }
    srv.undo.sort();
    if let Some(c) = srv.cluster.as_mut() {
        for p in c.pending.iter_mut() {
            p.client = map_client(b, p.client, f);
        }
        c.pending.sort_by_key(|p| (p.client, p.slot));
        for x in c.affinity.iter_mut() {
            x.0 = map_client(b, x.0, f);
        }
        c.affinity.sort_by_key(|x| x.0);
    }
}

/// The representative as it was first written (one key per tab built by scanning the whole
/// state, every key built for every state, the state copied first), kept as the reference the
/// tests hold [`canonical`] to: both must give the same state.
#[cfg(test)]
mod reference {
    use super::*;

    /// Whether `c` is (a requester or page of) tab `t` of browser `b`.
    fn is_client(b: usize, t: TabIx, c: ClientKey) -> bool {
        usize::from(c.browser) == b && tab_of(c.tab) == Some(t)
    }

    pub(super) fn canonical(s: &State, k: u8) -> State {
        let mut out = s.clone();
        for (b, actor) in s.actor_states.iter().enumerate() {
            let NodeState::Browser(browser) = &**actor else { continue };
            let n = browser.tabs.len();
            if n < 2 {
                continue;
            }
            let k = usize::from(k).min(n);
            // `to[old] = new`, each block sorted by its tabs' keys.
            let mut to = vec![0 as TabIx; n];
            for block in [0..k, k..n] {
                let start = block.start;
                let mut keys: Vec<(TabKey, usize)> = block.map(|t| (tab_key(s, b, browser, t as TabIx), t)).collect();
                keys.sort();
                for (new, (_, old)) in keys.iter().enumerate() {
                    to[*old] = (start + new) as TabIx;
                }
            }
            if to.iter().enumerate().all(|(i, t)| i == *t as usize) {
                continue;
            }
            rename(&mut out, b, &to);
        }
        out
    }

    /// Everything a state says about tab `t` of browser `b`, with tab indices blanked, so that
    /// tabs compare by what they are and do, not by their names. Two tabs of one block with equal
    /// keys are identical in every respect: swapping them changes nothing.
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct TabKey {
        tab: Tab,
        holds_lock: bool,
        queue_position: Option<usize>,
        timers: Vec<Timer>,
        messages: Vec<(bool, Msg)>,
        /// With `time.max_in_flight_ticks`: the tick each of its messages in flight was sent at.
        sent: Vec<(bool, Msg, crate::model::Tick)>,
        handlers: Vec<Handler>,
        /// Its requests at the authorization server: handlers in progress, requests waiting to be
        /// routed, sticky routes, undo-log entries, and the server's timers that serve them.
        as_handlers: Vec<AsHandler>,
        pending: Vec<AsPending>,
        affinity: Vec<(ClientKey, u8)>,
        undo: Vec<(ClientKey, u8, Before)>,
        server_timers: Vec<Timer>,
    }

    fn tab_key(s: &State, b: usize, browser: &BrowserState, t: TabIx) -> TabKey {
        let blank = |x: TabIx| if x == t { 0 } else { x };
        let mut timers: Vec<Timer> =
            s.timers.of(b).filter(|tm| timer_tab(tm) == Some(t)).map(|tm| map_timer(tm, &blank)).collect();
        timers.sort();
        let mut messages: Vec<(bool, Msg)> = envelopes(&s.network)
            .into_iter()
            .filter(|e| msg_tab(b, e) == Some(t))
            .map(|e| (usize::from(e.src) == b, map_msg(b, &e, &blank)))
            .collect();
        messages.sort();
        let mut sent: Vec<(bool, Msg, crate::model::Tick)> = history_envelopes(s)
            .filter(|(e, _)| msg_tab(b, e) == Some(t))
            .map(|(e, tick)| (usize::from(e.src) == b, map_msg(b, &e, &blank), tick))
            .collect();
        sent.sort();
        let mut handlers = Vec::new();
        let mut as_handlers = Vec::new();
        let (mut pending, mut affinity, mut undo) = (Vec::new(), Vec::new(), Vec::new());
        let mut server_timers = Vec::new();
        let mine = |c: ClientKey| is_client(b, t, c);
        let blank_client = |c: ClientKey| map_client(b, c, &blank);
        for (a, actor) in s.actor_states.iter().enumerate() {
            match &**actor {
                NodeState::Server(srv) => handlers.extend(
                    srv.handlers
                        .iter()
                        .filter(|h| mine(h.client))
                        .map(|h| Handler { client: blank_client(h.client), ..*h }),
                ),
                NodeState::AuthServer(srv) => {
                    as_handlers.extend(
                        srv.handlers
                            .iter()
                            .filter(|h| mine(h.client))
                            .map(|h| AsHandler { client: blank_client(h.client), ..*h }),
                    );
                    if let Some(c) = &srv.cluster {
                        pending.extend(
                            c.pending
                                .iter()
                                .filter(|p| mine(p.client))
                                .map(|p| AsPending { client: blank_client(p.client), ..*p }),
                        );
                        affinity.extend(c.affinity.iter().filter(|x| mine(x.0)).map(|&(c, n)| (blank_client(c), n)));
                    }
                    undo.extend(srv.undo.iter().filter(|x| mine(x.0)).map(|&(c, n, x)| (blank_client(c), n, x)));
                }
                NodeState::Browser(_) | NodeState::Store(_) => continue,
            }
            server_timers.extend(
                s.timers
                    .of(a)
                    .filter(|tm| server_timer_client(tm).is_some_and(mine))
                    .map(|tm| map_server_timer(b, tm, &blank)),
            );
        }
        handlers.sort();
        as_handlers.sort();
        pending.sort();
        affinity.sort();
        undo.sort();
        server_timers.sort();
        TabKey {
            tab: *browser.tabs[t as usize],
            holds_lock: browser.lock == Some(t),
            queue_position: browser.queue.iter().position(|q| *q == t),
            timers,
            messages,
            sent,
            handlers,
            as_handlers,
            pending,
            affinity,
            undo,
            server_timers,
        }
    }

    /// Every envelope in the network, repeats included ([`crate::model::in_flight`]).
    fn envelopes(net: &crate::model::system::Net) -> Vec<Envelope<&Msg>> {
        crate::model::in_flight(net).into_iter().map(|(src, dst, msg)| Envelope { src, dst, msg }).collect()
    }

    /// Renames the tabs of browser actor `b` in `s`: tab `old` becomes `to[old]`.
    fn rename(s: &mut State, b: usize, to: &[TabIx]) {
        let f = |t: TabIx| to[t as usize];
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
        let timers: Vec<Timer> = s.timers.of(b).map(|tm| map_timer(tm, &f)).collect();
        s.timers.replace(b, timers);
        let of_b = |c: ClientKey| usize::from(c.browser) == b && c.tab != crate::model::ATTACKER;
        for (a, actor) in s.actor_states.iter_mut().enumerate() {
            match &**actor {
                // Handlers serving its tabs, kept sorted by client as the server keeps them.
                NodeState::Server(srv) if srv.handlers.iter().any(|h| of_b(h.client)) => {
                    let mut srv = srv.clone();
                    for h in srv.handlers.iter_mut() {
                        h.client = map_client(b, h.client, &f);
                    }
                    srv.handlers.sort_by_key(|h| h.client);
                    *actor = std::sync::Arc::new(NodeState::Server(srv));
                }
                NodeState::AuthServer(srv) if names_client(srv, &of_b) => {
                    let mut srv = srv.clone();
                    rename_at_auth_server(&mut srv, b, &f);
                    *actor = std::sync::Arc::new(NodeState::AuthServer(srv));
                }
                _ => {}
            }
            // The authorization server's timers that serve its tabs' requests.
            if !matches!(&**actor, NodeState::Browser(_))
                && s.timers.of(a).any(|tm| server_timer_client(tm).is_some_and(of_b))
            {
                let timers: Vec<Timer> = s.timers.of(a).map(|tm| map_server_timer(b, tm, &f)).collect();
                s.timers.replace(a, timers);
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
        s.network.map_messages(|e| {
            map_msg(
                b,
                &Envelope { src: Id::from(usize::from(e.src)), dst: Id::from(usize::from(e.dst)), msg: &e.msg },
                &f,
            )
        });
    }
}

#[cfg(test)]
mod tests {
    //! Renaming tabs must be an automorphism of the model, and the representative a full
    //! canonicalisation: for reachable states `s` and every renaming `π` the reduction allows,
    //! `representative(π(s)) == representative(s)`, every property has the same value at `π(s)`
    //! as at `s`, and the successors of `π(s)` are (up to their representatives) those of `s`.

    use std::collections::{BTreeSet, HashSet, VecDeque};
    use std::path::Path;

    use stateright::Model;

    use super::*;
    use crate::scenario::Scenario;

    /// A hash of `s` (the same for equal states within one process).
    fn fp(s: &State) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        s.hash(&mut h);
        h.finish()
    }

    /// Every renaming of `n` tabs that keeps tabs `0..k` among themselves (identity included).
    fn renamings(n: usize, k: usize) -> Vec<Vec<TabIx>> {
        fn perms(items: &[usize]) -> Vec<Vec<usize>> {
            if items.len() <= 1 {
                return vec![items.to_vec()];
            }
            let mut out = Vec::new();
            for i in 0..items.len() {
                let mut rest = items.to_vec();
                let x = rest.remove(i);
                for mut p in perms(&rest) {
                    p.insert(0, x);
                    out.push(p);
                }
            }
            out
        }
        let k = k.min(n);
        let (low, high): (Vec<usize>, Vec<usize>) = ((0..k).collect(), (k..n).collect());
        let mut out = Vec::new();
        for a in perms(&low) {
            for b in perms(&high) {
                out.push(a.iter().chain(b.iter()).map(|&t| t as TabIx).collect());
            }
        }
        out
    }

    fn load(name: &str, patch: serde_json::Value) -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(name);
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        fn merge(t: &mut serde_json::Value, p: &serde_json::Value) {
            match (t, p) {
                (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
                    for (k, v) in p {
                        merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                    }
                }
                (t, p) => *t = p.clone(),
            }
        }
        merge(&mut v, &patch);
        if let Some(o) = v.as_object_mut() {
            o.remove("expect");
        }
        Scenario::parse(&path, &v.to_string()).unwrap()
    }

    /// Checks the automorphism and canonicalisation on the first `limit` states (breadth-first)
    /// of `sc`'s unreduced space; returns how many states it visited and how many renamed
    /// states it compared (every allowed renaming of each, the identity included).
    fn check_automorphism(sc: &Scenario, limit: usize) -> (usize, usize) {
        let rep = representative_for(sc).unwrap_or_else(|| panic!("{}: not reduced", sc.name));
        let k = fixed_block(sc).unwrap() as usize;
        let model = crate::model::build(sc);
        let browsers = model.cfg.browsers.clone();
        let succ = |s: &State| -> BTreeSet<u64> {
            let mut actions = Vec::new();
            model.actions(s, &mut actions);
            actions.into_iter().filter_map(|a| model.next_state(s, a)).map(|n| fp(&rep(n))).collect()
        };
        let mut seen = HashSet::new();
        let mut queue: VecDeque<State> = model.init_states().into_iter().collect();
        let mut compared = 0;
        while let Some(s) = queue.pop_front() {
            if seen.len() >= limit || !seen.insert(fp(&s)) {
                continue;
            }
            let (r, next) = (rep(s.clone()), succ(&s));
            for &b in &browsers {
                let NodeState::Browser(br) = &*s.actor_states[b] else { unreachable!() };
                for to in renamings(br.tabs.len(), k) {
                    let mut moved = s.clone();
                    rename(&mut moved, b, &to);
                    assert_eq!(rep(moved.clone()), r, "{}: representative differs after renaming {to:?}", sc.name);
                    for p in model.properties() {
                        assert_eq!(
                            (p.condition)(&model, &moved),
                            (p.condition)(&model, &s),
                            "{}: {} differs after renaming {to:?}",
                            sc.name,
                            p.name
                        );
                    }
                    assert_eq!(succ(&moved), next, "{}: successors differ after renaming {to:?}", sc.name);
                    compared += 1;
                }
            }
            let mut actions = Vec::new();
            model.actions(&s, &mut actions);
            queue.extend(actions.into_iter().filter_map(|a| model.next_state(&s, a)));
        }
        (seen.len(), compared)
    }

    #[test]
    fn renaming_tabs_is_an_automorphism_and_the_representative_canonical() {
        use serde_json::json;
        let cases = [
            // Authorization servers: rotation with reuse detection, two devices, a cluster of
            // two nodes with sticky routes, restarts, transactions (undo log), access tokens
            // and calls, an attacker, a bounded network's history.
            ("supabase-2022-c03-three-tabs.json", json!({})),
            ("derive-pr209-reject-without-revoke.json", json!({})),
            ("c09-keycloak-cluster-lost-update.json", json!({"browser": {"logins": "per-device"}})),
            ("keycloak-6615-offline-logout-cache-only.json", json!({})),
            ("c13-supabase-rollback.json", json!({})),
            ("mas-pr3650-replay-refused-after-first-use.json", json!({"browser": {"tabs": 2}})),
            ("cloudflare-workers-oauth-provider-kv-previous-token.json", json!({})),
            ("spring-as-rotate-theft.json", json!({"browser": {"tabs": 2}})),
            ("okta-rotate.json", json!({"time": {"max_ticks": 1, "max_in_flight_ticks": 0}})),
            // Requesters and reloads: addresses carry the tab in their low bits.
            ("inite-641-page-fetches-race.json", json!({"browser": {"tabs": 2}})),
            ("nhost-hbp-220-reload-cancels-refresh.json", json!({"browser": {"tabs": 2}})),
            // Partial symmetry: a single broadcast leader, render paths.
            ("oidc-client-ts-pr434-single-leader.json", json!({})),
            ("broadcast-leader-closed-follower-refreshes.json", json!({"browser": {"tabs": 3}})),
            ("c05-ssr-cannot-write-cookies.json", json!({"browser": {"tabs": 3}})),
            ("c06-nextauth-single-use.json", json!({"browser": {"tabs": 3, "ssr_paths": 2}})),
            // Directus: locks and queues, SQL statements of a handler in progress.
            ("directus-pr22457-weblocks.json", json!({"browser": {"tabs": 3}})),
            ("directus-10.10-session-d-s2.json", json!({})),
        ];
        for (file, patch) in cases {
            let sc = load(file, patch);
            let (states, compared) = check_automorphism(&sc, 1500);
            // Some block holds two tabs: at least one renaming besides the identity per state.
            assert!(states >= 20 && compared >= 2 * states, "{file}: {states} states, {compared} renamed states");
        }
    }

    /// The actions of `s` in the order the model lists them (deliveries, then timeouts).
    fn listed(model: &crate::model::RefreshModel, s: &State) -> Vec<crate::model::Action> {
        let mut actions = Vec::new();
        model.actions(s, &mut actions);
        actions
    }

    /// Holds [`canonical`] to the reference implementation on the states of `sc`'s model:
    /// every successor met in a breadth-first search of the space (the symmetric one, storing
    /// representatives, as `search` does, if `symmetric`; else the unreduced one), at most
    /// `limit` states stored. The representatives must be equal, hash alike and list their
    /// actions in the same order. Returns the states stored, the states compared, how many of
    /// those the representative renamed, and whether the search was exhaustive.
    fn compare_with_reference(sc: &Scenario, symmetric: bool, limit: usize) -> (usize, usize, usize, bool) {
        representative_for(sc).unwrap_or_else(|| panic!("{}: not reduced", sc.name));
        let k = fixed_block(sc).unwrap();
        let model = crate::model::build(sc);
        let (mut compared, mut renamed) = (0, 0);
        let mut check = |n: State| -> State {
            let old = reference::canonical(&n, k);
            renamed += usize::from(old != n);
            let kept = (!symmetric).then(|| n.clone());
            let new = canonical(n, k);
            assert_eq!(new, old, "{}: the representative differs from the reference", sc.name);
            assert_eq!(fp(&new), fp(&old), "{}: the representative hashes differently", sc.name);
            assert_eq!(new.history, old.history, "{}", sc.name);
            assert_eq!(
                listed(&model, &new),
                listed(&model, &old),
                "{}: the actions are listed in another order",
                sc.name
            );
            compared += 1;
            kept.unwrap_or(new)
        };
        let mut seen = HashSet::new();
        let mut queue = VecDeque::new();
        for s in model.init_states() {
            let s = check(s);
            if seen.insert(fp(&s)) {
                queue.push_back(s);
            }
        }
        let mut exhaustive = true;
        let mut actions = Vec::new();
        while let Some(s) = queue.pop_front() {
            model.actions(&s, &mut actions);
            for a in actions.drain(..) {
                let Some(n) = model.next_state(&s, a) else { continue };
                if !Model::within_boundary(&model, &n) {
                    continue;
                }
                let n = check(n);
                if seen.len() >= limit {
                    exhaustive = false;
                } else if seen.insert(fp(&n)) {
                    queue.push_back(n);
                }
            }
        }
        (seen.len(), compared, renamed, exhaustive)
    }

    #[test]
    fn the_representative_is_the_reference_ones_on_every_reachable_state() {
        use serde_json::json;
        let cases = [
            // Directus with three tabs (locks, SQL statements of handlers in progress): the
            // whole symmetric search of the `bench --protocol` question.
            ("directus-10.11.1-session.json", json!({"browser": {"tabs": 3}}), true),
            // Directus Web Locks and queues.
            ("directus-pr22457-weblocks.json", json!({"browser": {"tabs": 3}}), false),
            // Authorization servers: a single broadcast leader (blocks of 1 and 2), render
            // paths (blocks of 2 and 1), a bounded network's history, a cluster with sticky
            // routes, transactions (undo log), requesters.
            ("oidc-client-ts-pr434-single-leader.json", json!({}), false),
            ("broadcast-leader-closed-follower-refreshes.json", json!({"browser": {"tabs": 3}}), false),
            ("c06-nextauth-single-use.json", json!({"browser": {"tabs": 3, "ssr_paths": 2}}), false),
            ("convex-auth-pr555-delivered-within-a-tick.json", json!({}), false),
            ("auth0-spa-js-refresh-before-call.json", json!({"browser": {"tabs": 2}}), false),
            ("c09-keycloak-cluster-lost-update.json", json!({"browser": {"logins": "per-device"}}), false),
            ("c13-supabase-rollback.json", json!({}), false),
            ("inite-641-page-fetches-race.json", json!({"browser": {"tabs": 2}}), false),
            ("derive-pr209-reject-without-revoke.json", json!({}), false),
        ];
        for (file, patch, symmetric) in cases {
            let sc = load(file, patch);
            let (states, compared, renamed, exhaustive) = compare_with_reference(&sc, symmetric, 400_000);
            eprintln!("{file}: {states} states, {compared} compared, {renamed} renamed, exhaustive {exhaustive}");
            assert!(exhaustive, "{file}: {states} states, not exhaustive");
            // The search was not empty and some states were renamed (else the test proves little).
            assert!(states >= 50 && renamed >= 10, "{file}: {states} states, {renamed} renamed");
        }
    }

    #[test]
    fn the_configuration_decides_the_blocks() {
        use serde_json::json;
        let blocks = |file, patch| {
            let sc = load(file, patch);
            representative_for(&sc).map(|_| fixed_block(&sc).unwrap())
        };
        assert_eq!(blocks("supabase-2022-c03.json", json!({})), Some(0));
        assert_eq!(blocks("oidc-client-ts-pr434-single-leader.json", json!({})), Some(1));
        // A leader and one follower: nothing to rename.
        assert_eq!(blocks("broadcast-leader-closed-follower-refreshes.json", json!({})), None);
        // Every visible tab leads: all interchangeable.
        assert_eq!(blocks("axa-oidc-1039-two-visible-leaders.json", json!({})), Some(0));
        assert_eq!(blocks("c05-ssr-cannot-write-cookies.json", json!({})), None);
        assert_eq!(blocks("c05-ssr-cannot-write-cookies.json", json!({"browser": {"tabs": 3}})), Some(1));
        assert_eq!(blocks("c06-nextauth-single-use.json", json!({"browser": {"tabs": 3, "ssr_paths": 2}})), Some(2));
        // Each tab owns a family: not reduced.
        assert_eq!(blocks("c08-keycloak-reuse-id.json", json!({})), None);
        // An ordered network keeps the order of one step's sends to several tabs.
        assert_eq!(blocks("gotrue-js-v1-storage-listener-signs-out-every-tab.json", json!({})), None);
        assert_eq!(blocks("directus-10.11.1-session.json", json!({"network": "ordered"})), None);
    }
}
