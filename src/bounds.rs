//! Which bounds of a model file a search ran into: a model-level self-check.
//!
//! A model file bounds the behaviour it explores: the clock stops at `time.max_ticks`, a tab
//! refreshes at most `browser.refreshes_per_tab` times and makes at most
//! `browser.requests_per_tab` ordinary requests, the attacker tries at most `attacker.attempts`
//! redemptions. A verdict is only as wide as its bounds: when
//! the search reaches a state where a bound stopped something that could otherwise have
//! happened (the clock at its last tick; an idle, signed-in tab with no refresh or request
//! left; an idle attacker with no attempt left), a violation might lie just past it, and `check` says so.
//!
//! [`BoundWatch`] wraps the model for the search and records the bounds reached while the
//! search generates states: it forwards every [`Model`] call unchanged (the same actions in the
//! same order, so paths and counts are those of the bare model) and looks at each new state
//! until every bound of the file has been seen. A bound the file sets to zero is a choice, not
//! a limit ("time does not pass", "no ordinary requests"), and is not reported.
//!
//! The model has no separate bound on token generations: each refresh mints one token, so
//! `browser.refreshes_per_tab` bounds them.

use std::sync::atomic::{AtomicU8, Ordering};

use serde::Serialize;
use stateright::{Model, Property};

use crate::model::browser::TabStatus;
use crate::model::{browser_at, clock_at, Action, RefreshModel, State};
use crate::scenario::Scenario;

/// A bound of the model file reached on some explored path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BoundHit {
    /// The model-file field, e.g. `"time.max_ticks"`, `"browser.tab_settings[1].refreshes"`.
    pub field: String,
    /// Its value in the file (or on the command line).
    pub value: u64,
    /// What was stopped, in words.
    pub stopped: &'static str,
}

const CLOCK: u8 = 1;
const REFRESHES: u8 = 2;
const REQUESTS: u8 = 4;
const ATTEMPTS: u8 = 8;
const TOKEN_WAIT: u8 = 16;

/// The model under search, with a record of the bounds its states reach.
pub struct BoundWatch<'m> {
    model: &'m RefreshModel,
    props: Vec<Property<RefreshModel>>,
    max_ticks: u8,
    /// Each tab's refresh budget and the field it comes from ([`crate::model::browser::tab_settings::resolve`]).
    refreshes: Vec<(u8, String)>,
    requests: u8,
    attempts: u8,
    /// `browser.token_change_wait` (ticks of a tab's clock), 0 without one.
    token_wait: u8,
    watched: u8,
    hits: AtomicU8,
    /// The tabs (bit `t`) seen idle and signed in with no refresh left of a budget above 0.
    refresh_hits: AtomicU8,
    /// The tabs whose budget is above 0: the refresh bound is fully seen once every field
    /// quoting such a budget has a tab in `refresh_hits`.
    refresh_fields: Vec<u8>,
}

impl<'m> BoundWatch<'m> {
    /// Wraps `model`, built from `sc`.
    pub fn new(model: &'m RefreshModel, sc: &Scenario) -> Self {
        let props = model.properties();
        assert!(props.len() <= FORWARD.len(), "BoundWatch forwards at most {} properties", FORWARD.len());
        let (max_ticks, requests) = (sc.time.max_ticks, sc.browser.requests_per_tab);
        // Each tab's budget as the model resolves it (`tab_settings` may give tabs their own).
        let refreshes: Vec<(u8, String)> = crate::model::browser::tab_settings::resolve(&sc.browser)
            .iter()
            .enumerate()
            .map(|(t, s)| (s.refreshes, s.refreshes_field(t)))
            .collect();
        // For each field quoting a budget above 0, the tabs (a bit mask) whose budget it is.
        let mut refresh_fields: Vec<(String, u8)> = Vec::new();
        for (t, (_, field)) in refreshes.iter().enumerate().filter(|(_, (n, _))| *n > 0) {
            match refresh_fields.iter_mut().find(|(f, _)| f == field) {
                Some((_, mask)) => *mask |= 1 << t,
                None => refresh_fields.push((field.clone(), 1 << t)),
            }
        }
        let refresh_fields = refresh_fields.into_iter().map(|(_, mask)| mask).collect::<Vec<_>>();
        let budgeted = u8::from(!refresh_fields.is_empty());
        let attempts = sc.attacker.as_ref().map_or(0, |a| a.attempts);
        // A wait cut short by the clock is a hit only where the clock stops.
        let token_wait = sc.browser.token_change_wait.filter(|_| max_ticks > 0).unwrap_or(0);
        let watched = [
            (CLOCK, max_ticks),
            (REFRESHES, budgeted),
            (REQUESTS, requests),
            (ATTEMPTS, attempts),
            (TOKEN_WAIT, token_wait),
        ]
        .iter()
        .filter(|(_, v)| *v > 0)
        .fold(0, |acc, (bit, _)| acc | bit);
        BoundWatch {
            model,
            props,
            max_ticks,
            refreshes,
            requests,
            attempts,
            token_wait,
            watched,
            hits: AtomicU8::new(0),
            refresh_hits: AtomicU8::new(0),
            refresh_fields,
        }
    }

    /// The bounds reached so far, in model-file order.
    pub fn hits(&self) -> Vec<BoundHit> {
        let h = self.hits.load(Ordering::Relaxed);
        let mut out = Vec::new();
        if h & CLOCK != 0 {
            out.push(BoundHit {
                field: "time.max_ticks".into(),
                value: self.max_ticks.into(),
                stopped: "the clock stopped at its last tick",
            });
        }
        // One hit per field whose budget some tab ran out of, in tab order.
        let tabs = self.refresh_hits.load(Ordering::Relaxed);
        for (t, (n, field)) in self.refreshes.iter().enumerate() {
            if tabs & (1 << t) != 0 && !out.iter().any(|b| b.field == *field) {
                out.push(BoundHit {
                    field: field.clone(),
                    value: (*n).into(),
                    stopped: "a signed-in tab had no refresh left",
                });
            }
        }
        if h & REQUESTS != 0 {
            out.push(BoundHit {
                field: "browser.requests_per_tab".into(),
                value: self.requests.into(),
                stopped: "a signed-in tab had no ordinary request left",
            });
        }
        if h & ATTEMPTS != 0 {
            out.push(BoundHit {
                field: "attacker.attempts".into(),
                value: self.attempts.into(),
                stopped: "the attacker had no redemption left",
            });
        }
        if h & TOKEN_WAIT != 0 {
            out.push(BoundHit {
                field: "browser.token_change_wait".into(),
                value: self.token_wait.into(),
                stopped: "a tab's `wait-for-token-change` started too late to run out before the clock stopped (the rest of its reaction list never ran)",
            });
        }
        out
    }

    fn observe(&self, s: &State) {
        let seen = self.hits.load(Ordering::Relaxed);
        if seen == self.watched {
            return;
        }
        let mut h = seen;
        let mut tabs = 0u8;
        let m = &self.model.cfg;
        let stopped = self.max_ticks > 0 && clock_at(s, m.server) >= self.max_ticks;
        if stopped {
            h |= CLOCK;
        }
        for &b in &m.browsers {
            let browser = browser_at(s, b);
            // A wait for the stored token that cannot run out: its tab's clock is short of the
            // refusal's tick plus the wait, and the clock has stopped.
            let cut_short = |t: &crate::model::browser::Tab| {
                matches!(t.status, TabStatus::WaitingForTokenChange { since, .. }
                    if browser.now < since.saturating_add(self.token_wait))
            };
            if stopped && self.token_wait > 0 && browser.tabs.iter().any(|t| cut_short(t)) {
                h |= TOKEN_WAIT;
            }
            if browser.attacker.is_some_and(|a| !a.busy && a.attempts_left == 0) {
                h |= ATTEMPTS;
            }
            for (i, t) in browser.tabs.iter().enumerate().filter(|(_, t)| t.status == TabStatus::Idle) {
                if self.refreshes.get(i).is_some_and(|(n, _)| *n > 0) && t.refreshes_left == 0 {
                    tabs |= 1 << i;
                }
                if self.requests > 0 && t.requests_left == 0 {
                    h |= REQUESTS;
                }
            }
        }
        if tabs != 0 {
            let all = self.refresh_hits.fetch_or(tabs, Ordering::Relaxed) | tabs;
            if self.refresh_fields.iter().all(|mask| all & mask != 0) {
                h |= REFRESHES;
            }
        }
        self.hits.fetch_or(h, Ordering::Relaxed);
    }
}

impl Model for BoundWatch<'_> {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let inits = self.model.init_states();
        inits.iter().for_each(|s| self.observe(s));
        inits
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.model.actions(state, actions)
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let next = self.model.next_state(last, action);
        if let Some(n) = &next {
            self.observe(n);
        }
        next
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.props
            .iter()
            .zip(FORWARD)
            .map(|(p, condition)| Property { expectation: p.expectation.clone(), name: p.name, condition })
            .collect()
    }

    fn within_boundary(&self, state: &State) -> bool {
        self.model.within_boundary(state)
    }
}

/// A property's condition on the wrapper: the `I`-th condition of the wrapped model.
/// (stateright's conditions are `fn` pointers, so each index needs its own function.)
fn forward<const I: usize>(w: &BoundWatch<'_>, s: &State) -> bool {
    (w.props[I].condition)(w.model, s)
}

type Condition = for<'a, 'b, 'c> fn(&'a BoundWatch<'b>, &'c State) -> bool;

const FORWARD: [Condition; 32] = [
    forward::<0>,
    forward::<1>,
    forward::<2>,
    forward::<3>,
    forward::<4>,
    forward::<5>,
    forward::<6>,
    forward::<7>,
    forward::<8>,
    forward::<9>,
    forward::<10>,
    forward::<11>,
    forward::<12>,
    forward::<13>,
    forward::<14>,
    forward::<15>,
    forward::<16>,
    forward::<17>,
    forward::<18>,
    forward::<19>,
    forward::<20>,
    forward::<21>,
    forward::<22>,
    forward::<23>,
    forward::<24>,
    forward::<25>,
    forward::<26>,
    forward::<27>,
    forward::<28>,
    forward::<29>,
    forward::<30>,
    forward::<31>,
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::search::{self, SearchConfig};

    fn scenario(extra_time: &str, per_tab: &str) -> Scenario {
        let text = format!(
            r#"{{"name":"m","description":"d","sources":["s"],
            "server":{{"session_refresh":"stable-id"}},"browser":{{"tabs":2,{per_tab}}},
            "time":{{"refresh_token_ttl":7,"session_cookie_ttl":4{extra_time}}}}}"#
        );
        Scenario::parse(Path::new("m.json"), &text).unwrap()
    }

    #[test]
    fn the_watch_forwards_properties_and_finds_the_same_paths_and_counts() {
        let sc = scenario(",\"max_ticks\":2", "\"refreshes_per_tab\":1,\"requests_per_tab\":1");
        let model = crate::model::build(&sc);
        let bare = search::search(&model, &SearchConfig::default());
        let watch = BoundWatch::new(&model, &sc);
        let watched = search::search(&watch, &SearchConfig::default());
        assert_eq!(watch.properties().len(), model.properties().len());
        assert_eq!(bare.discoveries, watched.discoveries);
        assert_eq!((bare.states, bare.unique_states), (watched.states, watched.unique_states));
        assert!(watched.unique_states > 100, "{}", watched.unique_states);
        let fields: Vec<_> = watch.hits().iter().map(|h| h.field.clone()).collect();
        assert_eq!(fields, ["time.max_ticks", "browser.refreshes_per_tab", "browser.requests_per_tab"]);
    }

    #[test]
    fn bounds_set_to_zero_are_choices_not_hits() {
        let sc = scenario("", "\"refreshes_per_tab\":1");
        let model = crate::model::build(&sc);
        let watch = BoundWatch::new(&model, &sc);
        search::search(&watch, &SearchConfig::default());
        let fields: Vec<_> = watch.hits().iter().map(|h| h.field.clone()).collect();
        assert_eq!(fields, ["browser.refreshes_per_tab"]);
        assert_eq!(watch.hits()[0].value, 1);
    }

    #[test]
    fn a_bound_not_reached_is_not_reported() {
        // Two refreshes per tab, stopped after a handful of states: no tab has used both.
        let sc = scenario("", "\"refreshes_per_tab\":2");
        let model = crate::model::build(&sc);
        let watch = BoundWatch::new(&model, &sc);
        search::search(&watch, &SearchConfig { max_states: Some(3), ..SearchConfig::default() });
        assert!(watch.hits().is_empty(), "{:?}", watch.hits());
    }
}
