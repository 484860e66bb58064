//! The properties checked on every model: invariants (`always`) and sanity reachability
//! (`sometimes`).
//!
//! Properties read the global state: the tabs and the user's ground truth (ghost state in the
//! browser), the server's clock and ghost counters, the store. They never read the network, so
//! that stateright's pruning of no-op deliveries cannot hide a violation.
//!
//! Sources: the property catalogue of `shared/research/industry-policies.md` §3 (LP1 "no
//! spurious logout" checked as a safety invariant; SP3-style lineage) and
//! `shared/research/directus-protocol.md` §6 (P1, P2).

use serde::{Deserialize, Serialize};
use stateright::Expectation;

use crate::model::browser::TabStatus;
use crate::model::{browser_at, server_at, RefreshModel, State};

/// What kind of property: an invariant that must hold in every reachable state, or a
/// condition that must hold in some reachable state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An invariant; a counterexample is a path to a state where it is false.
    Always,
    /// Reachability; an example is a path to a state where it is true.
    Sometimes,
}

/// One property: its name (the key used in model files and reports), kind and condition.
#[derive(Clone, Copy)]
pub struct PropertySpec {
    /// Key in model files, reports and trace file names.
    pub name: &'static str,
    /// Invariant or reachability.
    pub kind: Kind,
    /// The claim, in one sentence, for reports.
    pub claim: &'static str,
    /// The condition evaluated on a global state.
    pub condition: fn(&RefreshModel, &State) -> bool,
}

impl PropertySpec {
    /// The stateright expectation for this kind.
    pub fn expectation(&self) -> Expectation {
        match self.kind {
            Kind::Always => Expectation::Always,
            Kind::Sometimes => Expectation::Sometimes,
        }
    }
}

/// Every property, in report order.
pub const ALL: &[PropertySpec] = &[
    PropertySpec {
        name: "no_spurious_logout",
        kind: Kind::Always,
        claim: "no tab is logged out while the user's session is valid",
        condition: no_spurious_logout,
    },
    PropertySpec {
        name: "cookie_names_live_session",
        kind: Kind::Always,
        claim: "every session cookie the server hands out names a row that exists",
        condition: cookie_names_live_session,
    },
    PropertySpec {
        name: "refresh_succeeds",
        kind: Kind::Sometimes,
        claim: "sanity: some refresh is answered 2xx",
        condition: refresh_succeeds,
    },
    PropertySpec {
        name: "concurrent_refreshes",
        kind: Kind::Sometimes,
        claim: "sanity: two refreshes of one token are in flight at once",
        condition: concurrent_refreshes,
    },
];

/// Looks a property up by name.
pub fn by_name(name: &str) -> Option<&'static PropertySpec> {
    ALL.iter().find(|p| p.name == name)
}

/// Ground truth: the user signed in, has not signed out, and the session's lifetime (ticks from
/// sign-in, if the model file bounds it) has not passed.
pub fn session_valid(m: &RefreshModel, s: &State, browser: usize) -> bool {
    let truth = browser_at(s, browser).truth;
    let now = server_at(s, m.cfg.server).now;
    truth.signed_in && !truth.signed_out && m.cfg.session_lifetime.map_or(true, |l| now < l)
}

/// LP1 as an invariant: a tab on the login page while the ground truth says the session is
/// valid is a spurious logout (issue 22360; PR 22433 scenarios 1 and 2).
fn no_spurious_logout(m: &RefreshModel, s: &State) -> bool {
    m.cfg
        .browsers
        .iter()
        .all(|&b| browser_at(s, b).tabs.iter().all(|t| t.status != TabStatus::LoggedOut) || !session_valid(m, s, b))
}

/// Every cookie handed out names a row that exists once the handler's write is done; PR 22433
/// scenario 2's orphan (a rename that matched no row, yet answered 200) breaks it.
fn cookie_names_live_session(m: &RefreshModel, s: &State) -> bool {
    server_at(s, m.cfg.server).orphan_cookies == 0
}

fn refresh_succeeds(m: &RefreshModel, s: &State) -> bool {
    m.cfg.browsers.iter().any(|&b| browser_at(s, b).refreshed_ok)
}

fn concurrent_refreshes(m: &RefreshModel, s: &State) -> bool {
    m.cfg.browsers.iter().any(|&b| {
        let sent: Vec<_> = browser_at(s, b)
            .tabs
            .iter()
            .filter_map(|t| match t.status {
                TabStatus::Refreshing { sent: Some(tok) } => Some(tok),
                _ => None,
            })
            .collect();
        sent.iter().enumerate().any(|(i, a)| sent[i + 1..].contains(a))
    })
}
