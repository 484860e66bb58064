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
use crate::model::{browser_at, server_at, store_at, RefreshModel, State};

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
        claim: "every session cookie (or refresh token) the server hands out names a row that exists",
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
    PropertySpec {
        name: "rotated_token_expires",
        kind: Kind::Always,
        claim: "a token rotated away is not accepted more than the grace period after its rotation",
        condition: rotated_token_expires,
    },
    PropertySpec {
        name: "mode_binding",
        kind: Kind::Always,
        claim: "a session-mode token is not redeemable in json or cookie mode",
        condition: mode_binding,
    },
    PropertySpec {
        name: "logout_revokes_all",
        kind: Kind::Always,
        claim: "once sign-out has returned, no token of that session yields a 2xx or a new token",
        condition: logout_revokes_all,
    },
    PropertySpec {
        name: "theft_detected",
        kind: Kind::Always,
        claim:
            "once the attacker has refreshed with a copied token, no tab's refresh with a token issued before succeeds",
        condition: theft_detected,
    },
    PropertySpec {
        name: "attacker_redeems",
        kind: Kind::Sometimes,
        claim: "sanity: the attacker's redemption of a copied token is answered 2xx",
        condition: attacker_redeems,
    },
    PropertySpec {
        name: "sign_out_completes",
        kind: Kind::Sometimes,
        claim: "sanity: a sign-out is answered",
        condition: sign_out_completes,
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
    truth.signed_in && !truth.signed_out && m.cfg.session_lifetime.is_none_or(|l| now < l)
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

/// SP1 (bounded replay of a superseded token, `industry-policies.md` §3; `directus-protocol.md`
/// §6 P3): a token superseded at tick τ (renamed away by W1, or given a `next_token` by G1) is
/// not accepted (checked and then answered 2xx, by any endpoint) after τ + grace, where grace
/// is `SESSION_REFRESH_GRACE_PERIOD` with the grace window and 0 otherwise. Reads the server's
/// ghost records of the last acceptance per token and of supersessions.
fn rotated_token_expires(m: &RefreshModel, s: &State) -> bool {
    let ghost = &server_at(s, m.cfg.server).ghost;
    let (accepted, superseded) = (&ghost.accepted, &ghost.superseded);
    accepted.iter().all(|&(tok, at)| match superseded.iter().find(|&&(t, _)| t == tok) {
        Some(&(_, when)) => u16::from(at) <= u16::from(when) + u16::from(m.cfg.grace),
        None => true,
    })
}

/// SP7 (mode binding, `industry-policies.md` §3; `directus-protocol.md` §6 P4, the PR 22433
/// review): no refresh in json or cookie mode is answered 2xx for a row issued in session mode.
fn mode_binding(m: &RefreshModel, s: &State) -> bool {
    server_at(s, m.cfg.server).ghost.cross_mode == 0
}

/// SP5 (logout completeness, `industry-policies.md` §3): once a sign-out has been answered,
/// no request arriving after it is answered 2xx, and once its `DELETE` has run no row is
/// created or renamed onto a new token (no session is resurrected).
fn logout_revokes_all(m: &RefreshModel, s: &State) -> bool {
    server_at(s, m.cfg.server).ghost.ok_after_sign_out == 0 && store_at(s, m.cfg.store).ghost.revived == 0
}

/// SP4 (theft is detected or harmless, `industry-policies.md` §3), for a system without reuse
/// detection: after the attacker's first successful redemption (a 2xx whose token names a row),
/// a tab's refresh presenting a
/// token drawn before it must fail, so the user notices (is logged out). A success means the
/// attacker and the user share the session unnoticed.
fn theft_detected(m: &RefreshModel, s: &State) -> bool {
    server_at(s, m.cfg.server).ghost.theft_shared == 0
}

fn attacker_redeems(m: &RefreshModel, s: &State) -> bool {
    m.cfg.browsers.iter().any(|&b| browser_at(s, b).attacker.is_some_and(|a| a.redeemed_ok))
}

fn sign_out_completes(m: &RefreshModel, s: &State) -> bool {
    server_at(s, m.cfg.server).ghost.signed_out
}
