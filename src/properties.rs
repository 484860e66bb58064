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

use crate::model::browser::{BrowserCfg, TabStatus};
use crate::model::oauth::{TokRow, TokStatus};
use crate::model::{auth_server_at, browser_at, clock_at, ghost_at, server_at, store_at, Node, RefreshModel, State};
use crate::scenario::Scenario;

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
    /// Which models the property can say something about ([`Scope`]).
    pub scope: Scope,
    /// The trace snapshot fields (`docs/trace-format.md`) that show what `condition` reads, as
    /// patterns: `*` stands for any tab's letter (`tabs[*].status`). The ghost counters a
    /// condition reads are shown by `orphan_cookies` and `session_valid`, the authorization
    /// server's rows and ghost marks by `store`. The trace explorer highlights these fields.
    pub reads: &'static [&'static str],
}

/// Which models a property *applies to*: those where it can be violated (an invariant) or
/// reached (a sanity property) at all. On any other model an invariant holds and a sanity
/// property is unreached by construction, whatever the protocol does: an attacker property
/// without an `attacker` section, a sign-out property without `browser.sign_outs`, a
/// coordination property without `browser.coordination`, an authorization-server property on
/// the Directus server, a reuse-detection property when no rule of the `protocol` (or
/// `auth_server` preset) sets `reuse_detected`.
///
/// The verdict is computed the same way either way; applicability only changes how it is
/// read: a sanity property that does not apply is not a sign of a vacuous model, reports mark
/// the property `n/a`, and without an expectation in the model file its expected verdict is
/// `unreached` (an invariant's stays `holds`).
#[derive(Clone, Copy)]
pub struct Scope {
    /// The models it applies to, in words (for `refresh-check properties`).
    pub models: &'static str,
    /// Whether it applies to a scenario.
    pub test: fn(&Scenario) -> bool,
}

impl Scope {
    /// Applies to every model.
    pub const EVERY: Scope = Scope { models: "every model", test: |_| true };
}

impl PropertySpec {
    /// Whether this property applies to `sc` ([`Scope`]).
    pub fn applies(&self, sc: &Scenario) -> bool {
        (self.scope.test)(sc)
    }
}

/// Models whose tokens are bound to where they were issued: session-table models (Directus
/// `server` presets and `session_server` sections: the auth mode), and authorization-server
/// models whose requests carry their client (a request field of type `client`).
const BINDINGS: Scope = Scope {
    models: "session-table models (a `server` or `session_server` section), and authorization-server models with a request field of type `client`",
    test: |sc| !sc.is_auth_server() || sc.protocol.as_ref().is_some_and(|p| p.sends_client()),
};

/// Whether some rule of a `session_server` program (any endpoint, the middleware too) has
/// `mark` set; a Directus `server` preset counts as marked (every preset carries `orphan` and
/// `supersedes` marks, `crate::protocol::directus`).
fn session_rules_mark(sc: &Scenario, mark: fn(&crate::protocol::sessions::SRule) -> bool) -> bool {
    sc.session_server.as_ref().is_none_or(|p| {
        [&p.refresh, &p.sign_out, &p.request].iter().any(|h| h.steps.iter().any(|s| s.rules.iter().any(mark)))
    })
}

/// Session-table models whose rules can hand out a cookie naming no row: Directus `server`
/// presets, and `session_server` sections where some rule sets `orphan: true` (the property
/// counts those answers; without a mark it could not fail).
const SESSION_TABLE_ORPHANS: Scope = Scope {
    models: "Directus models (a `server` section), and `session_server` models where some rule sets `orphan: true`",
    test: |sc| !sc.is_auth_server() && session_rules_mark(sc, |r| r.orphan),
};

/// Every model but a `session_server` one where no rule sets `supersedes: true` (the property
/// reads the supersession marks; without one it could not fail).
const SUPERSESSIONS: Scope = Scope {
    models: "every model, except `session_server` models where no rule sets `supersedes: true`",
    test: |sc| sc.is_auth_server() || session_rules_mark(sc, |r| r.supersedes),
};

/// Authorization-server models (an `auth_server` or `protocol` section).
const AUTH_SERVER: Scope = Scope {
    models: "authorization-server models (an `auth_server` or `protocol` section)",
    test: |sc| sc.is_auth_server(),
};

/// Models whose browsers have two tabs, or tabs with two requesters: the only ones in which
/// two refreshes can be in flight at once ([`concurrent_refreshes`] counts a tab's own refresh
/// and its requesters'; each browser, or device, on its own).
const CONCURRENT: Scope = Scope {
    models: "models with two tabs or more, or two requesters per tab or more",
    test: |sc| sc.browser.tabs >= 2 || sc.browser.requesters_per_tab >= 2,
};

/// Models with an attacker.
const ATTACKER: Scope = Scope { models: "models with an `attacker` section", test: |sc| sc.attacker.is_some() };

/// Authorization-server models with an attacker.
const AUTH_SERVER_ATTACKER: Scope = Scope {
    models: "authorization-server models with an `attacker` section",
    test: |sc| sc.is_auth_server() && sc.attacker.is_some(),
};

/// Models whose tabs sign out.
const SIGN_OUTS: Scope =
    Scope { models: "models with `browser.sign_outs` above 0", test: |sc| sc.browser.sign_outs > 0 };

/// Models whose sign-ins again are the user's password changes.
const PASSWORD_CHANGES: Scope = Scope {
    models: "models with `browser.re_sign_in_is: \"password-change\"`",
    test: |sc| sc.browser.re_sign_in_is == crate::model::policy::ReSignIn::PasswordChange,
};

/// Authorization-server models whose tabs sign out.
const AUTH_SERVER_SIGN_OUTS: Scope = Scope {
    models: "authorization-server models with `browser.sign_outs` above 0",
    test: |sc| sc.is_auth_server() && sc.browser.sign_outs > 0,
};

/// Authorization-server models whose `sign_in` handler has a rule marked `evicts`, whose
/// `sign_out` handler has one and whose tabs sign out ("sign out everywhere"), or whose
/// `password_change` handler has one and whose re-sign-ins are password changes.
const EVICTIONS: Scope = Scope {
    models: "`protocol` models whose `sign_in` handler has a rule marked `evicts`, whose `sign_out` handler has one and `browser.sign_outs` is above 0, or whose `password_change` handler has one and `browser.re_sign_in_is` is `password-change` with `browser.re_sign_ins` above 0",
    test: |sc| {
        let marked = |h: &crate::protocol::HandlerSpec| {
            h.rules.iter().chain(h.steps.iter().flat_map(|st| st.rules.iter())).any(|r| r.evicts.is_some())
        };
        let password_changes = sc.browser.re_sign_in_is == crate::model::policy::ReSignIn::PasswordChange
            && sc.browser.re_sign_ins > 0;
        sc.protocol_spec.as_ref().is_some_and(|p| {
            p.sign_in.as_ref().is_some_and(marked)
                || (sc.browser.sign_outs > 0 && marked(&p.sign_out))
                || (password_changes && p.password_change.as_ref().is_some_and(marked))
        })
    },
};

/// Models with cross-tab coordination.
const COORDINATION: Scope = Scope {
    models: "models with a `browser.coordination` other than `none`",
    test: |sc| sc.browser.coordination != crate::model::policy::Coordination::None,
};

/// Models with an absolute session lifetime.
const LIFETIME: Scope =
    Scope { models: "models with `time.session_lifetime`", test: |sc| sc.time.session_lifetime.is_some() };

/// Authorization-server models whose tabs retry a refresh.
const RETRIES: Scope = Scope {
    models: "authorization-server models with `browser.retries_per_tab` above 0",
    test: |sc| sc.is_auth_server() && sc.browser.retries_per_tab > 0,
};

/// Authorization-server models where reuse detection can fire.
const REUSE_DETECTION: Scope = Scope {
    models: "authorization-server models where some rule sets `reuse_detected: true` (an `auth_server` preset with `on_reuse` other than `reject`)",
    test: detects_reuse,
};

/// Authorization-server models with an attacker where reuse detection can fire.
const REUSE_DETECTION_ATTACKER: Scope = Scope {
    models: "authorization-server models with an `attacker` section where some rule sets `reuse_detected: true`",
    test: |sc| sc.attacker.is_some() && detects_reuse(sc),
};

/// Whether some rule of the scenario's authorization server (refresh or sign-out) sets
/// `reuse_detected`.
pub fn detects_reuse(sc: &Scenario) -> bool {
    sc.protocol.as_deref().is_some_and(protocol_detects_reuse)
}

/// Whether some rule of `p` (refresh or sign-out) sets `reuse_detected`.
fn protocol_detects_reuse(p: &crate::protocol::Protocol) -> bool {
    [&p.refresh, &p.sign_out].iter().any(|h| h.steps.iter().any(|s| s.rules.iter().any(|r| r.reuse_detected)))
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
        scope: Scope::EVERY,
        reads: &["tabs[*].status", "session_valid"],
    },
    PropertySpec {
        name: "cookie_names_live_session",
        kind: Kind::Always,
        claim: "every session cookie (or refresh token) the server hands out names a row that exists",
        condition: cookie_names_live_session,
        scope: SESSION_TABLE_ORPHANS,
        reads: &["orphan_cookies", "store"],
    },
    PropertySpec {
        name: "refresh_succeeds",
        kind: Kind::Sometimes,
        claim: "sanity: some refresh is answered 2xx",
        condition: refresh_succeeds,
        scope: Scope::EVERY,
        reads: &["tabs[*].status"],
    },
    PropertySpec {
        name: "concurrent_refreshes",
        kind: Kind::Sometimes,
        claim: "sanity: two tabs or requesters have refreshes of one token in flight at once (a retry beside its own first attempt does not count)",
        condition: concurrent_refreshes,
        scope: CONCURRENT,
        reads: &["tabs[*].status"],
    },
    PropertySpec {
        name: "rotated_token_expires",
        kind: Kind::Always,
        claim: "a token rotated away is not accepted more than the grace period after its rotation",
        condition: rotated_token_expires,
        scope: SUPERSESSIONS,
        reads: &["now", "store"],
    },
    PropertySpec {
        name: "mode_binding",
        kind: Kind::Always,
        claim: "a token is redeemed only where it was issued: a session-mode token not in json or cookie mode, and, where requests carry their client (a request field of type `client`), a refresh token only by the OAuth client its session signed in with (RFC 6749 §6)",
        condition: mode_binding,
        scope: BINDINGS,
        reads: &["store"],
    },
    PropertySpec {
        name: "logout_revokes_all",
        kind: Kind::Always,
        claim: "no refresh (on a session table, no request) that arrives after a sign-out was answered is answered 2xx, and once the sign-out's revocation or delete has run (answered or not) no token or session row of that session is created or renamed onto a new token",
        condition: logout_revokes_all,
        scope: SIGN_OUTS,
        reads: &["session_valid", "store"],
    },
    PropertySpec {
        name: "sign_out_no_dead_token_handed_out",
        kind: Kind::Always,
        claim: "once the user's sign-out has been answered, no refresh of any of the user's sessions is answered 2xx with a dead token (authorization-server models)",
        condition: sign_out_no_dead_token_handed_out,
        scope: AUTH_SERVER_SIGN_OUTS,
        reads: &["session_valid", "store"],
    },
    PropertySpec {
        name: "sign_out_no_session_revived",
        kind: Kind::Always,
        claim: "once the user's sign-out has been answered, no refresh of any of the user's sessions is answered 2xx with a live token (authorization server), and no refresh or request arriving later is answered 2xx on a session row its select found, with a token that names a row (session table)",
        condition: sign_out_no_session_revived,
        scope: SIGN_OUTS,
        reads: &["session_valid", "store"],
    },
    PropertySpec {
        name: "password_change_revokes_all",
        kind: Kind::Always,
        claim: "once the user's password change has been answered, no refresh that arrives later presenting a token of a session signed in before the change (the thief's copies and the device's own old session included) is answered 2xx",
        condition: password_change_revokes_all,
        scope: PASSWORD_CHANGES,
        reads: &["store"],
    },
    PropertySpec {
        name: "eviction_completes",
        kind: Kind::Always,
        claim: "once a sign-in, sign-out or password-change rule marked `evicts` has ended a device's session as the protocol intends, no token of that device's families is active when the system is at rest: no refresh that raced the eviction minted a live token",
        condition: eviction_completes,
        scope: EVICTIONS,
        reads: &["store"],
    },
    PropertySpec {
        name: "theft_detected",
        kind: Kind::Always,
        claim:
            "once the attacker has refreshed with a copied token, no tab's refresh with a token issued before succeeds",
        condition: theft_detected,
        scope: ATTACKER,
        reads: &["store"],
    },
    PropertySpec {
        name: "sp4_theft_contained",
        kind: Kind::Always,
        claim: "once the attacker has refreshed with a copied token, a tab refused for an older token leaves the attacker no unrevoked token (authorization-server models)",
        condition: sp4_theft_contained,
        scope: AUTH_SERVER_ATTACKER,
        reads: &["store"],
    },
    PropertySpec {
        name: "attacker_redeems",
        kind: Kind::Sometimes,
        claim: "sanity: the attacker's redemption of a copied token is answered 2xx",
        condition: attacker_redeems,
        scope: ATTACKER,
        // The attacker's own state is not in the snapshot: its answers are in flight first.
        reads: &["in_flight"],
    },
    PropertySpec {
        name: "sign_out_completes",
        kind: Kind::Sometimes,
        claim: "sanity: a sign-out is answered",
        condition: sign_out_completes,
        scope: SIGN_OUTS,
        reads: &["session_valid", "store"],
    },
    PropertySpec {
        name: "sp1_immediate_predecessor",
        kind: Kind::Always,
        claim: "a superseded refresh token is redeemed only if it is at most one generation behind the newest (authorization-server models)",
        condition: sp1_immediate_predecessor,
        scope: AUTH_SERVER,
        reads: &["store"],
    },
    PropertySpec {
        name: "sp2_detection_permanent",
        kind: Kind::Always,
        claim: "once reuse detection has fired in a family, no token of that family is redeemed (authorization-server models)",
        condition: sp2_detection_permanent,
        scope: REUSE_DETECTION,
        reads: &["store"],
    },
    PropertySpec {
        name: "sp3_single_lineage",
        kind: Kind::Always,
        claim: "every family has at most one active refresh token: no fork (authorization-server models)",
        condition: sp3_single_lineage,
        scope: AUTH_SERVER,
        reads: &["store"],
    },
    PropertySpec {
        name: "sp6_absolute_lifetime",
        kind: Kind::Always,
        claim: "no token is accepted at or after the session's lifetime (time.session_lifetime) from sign-in",
        condition: sp6_absolute_lifetime,
        scope: LIFETIME,
        reads: &["now", "store"],
    },
    PropertySpec {
        name: "sp9_revocation_scope",
        kind: Kind::Always,
        claim: "reuse detection never revokes a live token of another family (authorization-server models)",
        condition: sp9_revocation_scope,
        scope: REUSE_DETECTION,
        reads: &["store"],
    },
    PropertySpec {
        name: "lp4_lock_not_orphaned",
        kind: Kind::Always,
        claim: "no tab waits for a lock whose holder will never release it, or for a broadcast no leader will send",
        condition: lp4_lock_not_orphaned,
        scope: COORDINATION,
        reads: &["tabs[*].status"],
    },
    PropertySpec {
        name: "lp4_bounded_wait",
        kind: Kind::Always,
        claim: "no tab waits for a lock or a leader's broadcast more than K (browser.max_wait_steps) of its own steps",
        condition: lp4_bounded_wait,
        scope: COORDINATION,
        reads: &["tabs[*].status"],
    },
    PropertySpec {
        name: "lp2_lost_response_recovery",
        kind: Kind::Always,
        claim: "a retry re-sending the refresh token of an attempt whose answer was lost is answered 2xx with an active token of the same family (authorization-server models)",
        condition: lp2_lost_response_recovery,
        scope: RETRIES,
        reads: &["store"],
    },
    PropertySpec {
        name: "converges_to_live_token",
        kind: Kind::Always,
        claim: "whenever nothing is in flight and no tab is mid-operation, every signed-in tab of a valid session holds an active refresh token (authorization-server models)",
        condition: converges_to_live_token,
        scope: AUTH_SERVER,
        reads: &["tabs[*].status", "jar", "store", "handlers", "in_flight", "session_valid"],
    },
    PropertySpec {
        name: "no_dead_credential_at_rest",
        kind: Kind::Always,
        claim: "whenever nothing is in flight and no tab is mid-operation, no signed-in tab of a valid session holds a credential the server refuses whatever the time: none, one naming no session row, or a revoked token",
        condition: no_dead_credential_at_rest,
        scope: Scope::EVERY,
        reads: &["tabs[*].status", "jar", "store", "handlers", "in_flight", "session_valid"],
    },
    PropertySpec {
        name: "reuse_detected_after_theft",
        kind: Kind::Always,
        claim: "at the end of a run in which the attacker redeemed a copied token, the theft did not go unnoticed: reuse detection fired in its family, or the user and the attacker do not both still hold tokens of it (the user an active one, the attacker an unrevoked one) (authorization-server models with reuse detection and an attacker)",
        condition: reuse_detected_after_theft,
        scope: REUSE_DETECTION_ATTACKER,
        reads: &["tabs[*].status", "jar", "store", "handlers", "in_flight", "session_valid"],
    },
    PropertySpec {
        name: "reuse_detected",
        kind: Kind::Sometimes,
        claim: "sanity: reuse detection fires (authorization-server models)",
        condition: reuse_detected,
        scope: REUSE_DETECTION,
        reads: &["store"],
    },
];

/// Looks a property up by name.
pub fn by_name(name: &str) -> Option<&'static PropertySpec> {
    ALL.iter().find(|p| p.name == name)
}

/// Parses a property name given on the command line (`--property NAME`): a name of the
/// catalogue, or an error that suggests the closest name and lists them all.
pub fn parse_name(name: &str) -> Result<&'static str, String> {
    if let Some(p) = by_name(name) {
        return Ok(p.name);
    }
    let names = ALL.iter().map(|p| p.name);
    let hint = match crate::protocol::expr::did_you_mean(name, names.clone()) {
        Some(close) => format!(" (did you mean `{close}`?)"),
        None => String::new(),
    };
    let known: Vec<&str> = names.collect();
    Err(format!(
        "unknown property {name:?}{hint}; expected one of: {} (`refresh-check properties` lists them)",
        known.join(", ")
    ))
}

/// Ground truth: the user signed in, has not signed out (or signed out with a rule that keeps
/// the acting session, once the server has run it: [`crate::model::oauth::AsGhost::kept_by_sign_out`]),
/// and the session's lifetime (ticks from sign-in, if the model file bounds it) has not passed.
pub fn session_valid(m: &RefreshModel, s: &State, browser: usize) -> bool {
    let truth = browser_at(s, browser).truth;
    let now = clock_at(s, m.cfg.server);
    // A device whose session a sign-in ended as the protocol intends (a rule marked `evicts`,
    // judged against the ground truth: a cap's oldest session, "sign out other devices") is
    // no longer signed in; an eviction of another device by a race is not excused.
    let evicted = auth_server_at(s, m.cfg.server).is_some_and(|a| a.as_ghost.evicted & (1 << browser) != 0);
    // A sign-out whose rule kept the acting session ("sign out other devices": `revoke user
    // except session`) leaves it valid once served, though the user clicked sign out.
    let kept = auth_server_at(s, m.cfg.server).is_some_and(|a| a.as_ghost.kept_by_sign_out & (1 << browser) != 0);
    truth.signed_in && (!truth.signed_out || kept) && !evicted && m.cfg.session_lifetime.is_none_or(|l| now < l)
}

/// LP1 as an invariant: a tab on the login page while the ground truth says the session is
/// valid is a spurious logout (issue 22360; PR 22433 scenarios 1 and 2). A device whose user
/// clicked sign out is not judged, whatever the server kept: the browser logs the signing-out
/// tab out at the answer.
fn no_spurious_logout(m: &RefreshModel, s: &State) -> bool {
    m.cfg.browsers.iter().all(|&b| {
        browser_at(s, b).tabs.iter().all(|t| t.status != TabStatus::LoggedOut)
                || !session_valid(m, s, b)
                // The browser logs the signing-out tab out at the sign-out's answer whatever
                // the server kept: the user's own click, not a spurious logout.
                || browser_at(s, b).truth.signed_out
    })
}

/// Every cookie handed out names a row that exists once the handler's write is done; PR 22433
/// scenario 2's orphan (a rename that matched no row, yet answered 200) breaks it.
fn cookie_names_live_session(m: &RefreshModel, s: &State) -> bool {
    auth_server_at(s, m.cfg.server).is_some() || server_at(s, m.cfg.server).orphan_cookies == 0
}

fn refresh_succeeds(m: &RefreshModel, s: &State) -> bool {
    m.cfg.browsers.iter().any(|&b| browser_at(s, b).refreshed_ok)
}

fn concurrent_refreshes(m: &RefreshModel, s: &State) -> bool {
    m.cfg.browsers.iter().any(|&b| {
        let sent: Vec<_> = browser_at(s, b)
            .tabs
            .iter()
            .flat_map(|t| {
                let own = match t.status {
                    TabStatus::Refreshing { sent: Some(tok) } => Some(tok),
                    _ => None,
                };
                // The tab's other requesters (`browser.requesters_per_tab`) refresh on their own.
                own.into_iter().chain(t.requesters.iter().filter_map(|r| r.sent.flatten()))
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
    let ghost = ghost_at(s, m.cfg.server);
    let (accepted, superseded) = (&ghost.accepted, &ghost.superseded);
    accepted.iter().all(|&(tok, at)| match superseded.iter().find(|&&(t, _)| t == tok) {
        Some(&(_, when)) => u16::from(at) <= u16::from(when) + u16::from(m.cfg.grace),
        None => true,
    })
}

/// SP7 (mode binding, `industry-policies.md` §3; `directus-protocol.md` §6 P4, the PR 22433
/// review): no refresh in json or cookie mode is answered 2xx for a row issued in session mode;
/// and client binding (RFC 6749 §6 and §10.4: the server MUST "verify that the refresh token
/// was issued to the authenticated client"): where requests carry their client, no refresh is
/// answered 2xx to a client other than the one its token's family signed in with (the
/// attacker authenticates as a client of its own).
fn mode_binding(m: &RefreshModel, s: &State) -> bool {
    ghost_at(s, m.cfg.server).cross_mode == 0
        && auth_server_at(s, m.cfg.server).is_none_or(|a| a.as_ghost.cross_client == 0)
}

/// SP5 (logout completeness, `industry-policies.md` §3): once a sign-out has been answered,
/// no request arriving after it is answered 2xx, and once its revocation (authorization
/// server: a token minted into a revoked family) or its `DELETE` (session table: a row
/// created or renamed onto a new token) has run, no session is resurrected, whether the
/// sign-out has been answered yet or not.
fn logout_revokes_all(m: &RefreshModel, s: &State) -> bool {
    let revived = match auth_server_at(s, m.cfg.server) {
        Some(a) => a.as_ghost.revived,
        None => store_at(s, m.cfg.store).ghost.revived,
    };
    ghost_at(s, m.cfg.server).ok_after_sign_out == 0 && revived == 0
}

/// Sign-out completeness judged for the user (issue 14 item 5; SP5 of `industry-policies.md`
/// §3 widened from the signed-out family to the user): once a sign-out from a browser has
/// been answered, no refresh presenting a token of any family of that browser's client
/// session (every tab's login, the thief's copies too) that arrives later is answered 2xx.
/// This half counts the 2xx answers that hand out a token already dead at the answer (a
/// revoked or superseded token: the client holds a cookie that will not work; the server
/// still answered as if the session existed). Holds vacuously for Directus.
fn sign_out_no_dead_token_handed_out(m: &RefreshModel, s: &State) -> bool {
    auth_server_at(s, m.cfg.server).is_none_or(|a| a.as_ghost.dead_after_sign_out == 0)
}

/// The other half of sign-out completeness for the user (see
/// `sign_out_no_dead_token_handed_out`): no later refresh is answered 2xx with an active token
/// (with `ok access-only`: while the presented token is active): the session lives on after
/// the user signed out. A session a sign-in served after the sign-out starts (a sign-in
/// during the run or a sign-in again, `browser.sign_ins`, `browser.re_sign_ins`, even one sent
/// before the sign-out and answered after it) is a new session the user asked for, not a
/// revival ([`crate::model::interpret::insert_signed_in`]). On a session table (Directus, a `session_server`) the same question
/// on its state: no refresh or ordinary request that arrived after the sign-out was answered
/// is answered 2xx after its `select` of the token it presents found a row (a session row
/// that exists again after the sign-out's delete: a slow request's write re-created it, or a
/// rename or insert after the delete moved it onto a new token), unless the answer is marked
/// `orphan` (it hands out a token no row has: a dead cookie, not a live session). Answers
/// without a row read (a JWT-only check) are `logout_revokes_all`'s.
fn sign_out_no_session_revived(m: &RefreshModel, s: &State) -> bool {
    match auth_server_at(s, m.cfg.server) {
        Some(a) => a.as_ghost.live_after_sign_out == 0,
        None => ghost_at(s, m.cfg.server).live_after_sign_out == 0,
    }
}

/// Credential-change completeness (OWASP Session Management Cheat Sheet, "renew the session
/// ID after any privilege level change"; RFC 9700 §4.14; SP5 of `industry-policies.md` §3 for
/// a password change): once a password change (`browser.re_sign_in_is: password-change`) has
/// been answered 2xx, no refresh arriving later and presenting a token of a family signed in
/// before it is answered 2xx, whoever sends it (a tab, the attacker with a copied token); a
/// change answered `session_kept` (the `password_change` handler) keeps the changing device's
/// session by design and marks the other devices' families only. The
/// access tokens issued before the change are not judged here: a self-contained JWT lives to
/// its `exp` unless the `request` handler checks the store, and how long it lives after the
/// change is a query's question (`docs/protocol-language.md`, "A password change").
fn password_change_revokes_all(m: &RefreshModel, s: &State) -> bool {
    auth_server_at(s, m.cfg.server).is_none_or(|a| a.as_ghost.ok_after_password_change == 0)
}

/// Eviction completeness (sign-out completeness, SP5 of `industry-policies.md` §3, for the
/// sessions a sign-in ends: a device cap, "sign out other devices", a password change; and for
/// the other devices' sessions a "sign out everywhere" ends): once
/// a sign-in, sign-out or password-change rule marked `evicts` has ended a device's session as the ground truth intends
/// (`evicted`, the mark that excuses the device's logout from `no_spurious_logout`), no token
/// of a family of that device is active when the system is at rest. A refresh of the device
/// that read its token before the eviction and wrote after it (a read-then-write without a
/// re-check) mints a live token: the device is excused from being logged out, yet keeps a
/// working session.
fn eviction_completes(m: &RefreshModel, s: &State) -> bool {
    let Some(a) = auth_server_at(s, m.cfg.server) else { return true };
    let evicted = a.as_ghost.evicted;
    evicted == 0
        || !a.rows.iter().any(|r| {
            matches!(r.status, TokStatus::Active)
                && a.families.get(r.family as usize).is_some_and(|f| evicted & (1 << f.device()) != 0)
        })
        || !at_rest(m, s)
}

/// SP4 (theft is detected or harmless, `industry-policies.md` §3), for a system without reuse
/// detection: after the attacker's first successful redemption (a 2xx whose token names a row),
/// a tab's refresh presenting a
/// token drawn before it must fail, so the user notices (is logged out). A success means the
/// attacker and the user share the session unnoticed.
fn theft_detected(m: &RefreshModel, s: &State) -> bool {
    ghost_at(s, m.cfg.server).theft_shared == 0
}

fn attacker_redeems(m: &RefreshModel, s: &State) -> bool {
    m.cfg.browsers.iter().any(|&b| browser_at(s, b).attacker.is_some_and(|a| a.redeemed_ok))
}

fn sign_out_completes(m: &RefreshModel, s: &State) -> bool {
    ghost_at(s, m.cfg.server).signed_out
}

/// SP1 (iii) (bounded replay, `industry-policies.md` §3; Auth0's "only the immediately
/// previous token"; django-oauth-toolkit issue 1617): no 2xx redemption of a superseded token
/// that was more than one generation behind the family's newest live token when it was read.
/// The time bound (i) is `rotated_token_expires`. Holds vacuously for the Directus server.
fn sp1_immediate_predecessor(m: &RefreshModel, s: &State) -> bool {
    auth_server_at(s, m.cfg.server).is_none_or(|a| a.as_ghost.deep_replays == 0)
}

/// SP2 (detection effective and permanent, `industry-policies.md` §3; RFC 9700 §4.14.2): once
/// reuse detection has revoked a family, no later answer redeems a token of it (a refresh that
/// read before the revocation and wrote after it breaks this). Holds vacuously for Directus.
fn sp2_detection_permanent(m: &RefreshModel, s: &State) -> bool {
    auth_server_at(s, m.cfg.server).is_none_or(|a| a.as_ghost.ok_after_detection == 0)
}

/// SP3 (single lineage, `industry-policies.md` §3), strict form: in every state the active
/// refresh tokens of each family form one chain: of any two, one descends from the other by
/// parent links. On one node that is at most one active token per family (a rotation
/// supersedes the parent as it mints the child). With two nodes (C09) a token counts as active
/// if either node's copy has it active, so a node that has not yet heard of a rotation does
/// not break it (its active token is the other's ancestor), but two nodes rotating the same
/// token into two children do. Broken by read-then-write rotation (C07) and, by design, by
/// grace policies that fork (P4/P5). Holds vacuously for Directus.
fn sp3_single_lineage(m: &RefreshModel, s: &State) -> bool {
    let Some(a) = auth_server_at(s, m.cfg.server) else { return true };
    let Some(c) = &a.cluster else {
        // One node: a chain of active tokens is a single one (checked on every state: no
        // allocation).
        return (0..a.families.len())
            .all(|f| a.rows.iter().filter(|r| r.family as usize == f && r.status == TokStatus::Active).count() <= 1);
    };
    let copies: [&[TokRow]; 2] = [&a.rows, &c.second.rows];
    let len = copies.iter().map(|rows| rows.len()).max().unwrap_or(0);
    // Token `i + 1`'s row in whichever copy knows it.
    let row = |i: usize| copies.iter().filter_map(|rows| rows.get(i)).find(|r| r.status != TokStatus::Unknown);
    let active: Vec<usize> = (0..len)
        .filter(|&i| copies.iter().any(|rows| rows.get(i).is_some_and(|r| r.status == TokStatus::Active)))
        .collect();
    let descends = |mut i: usize, ancestor: usize| loop {
        if i == ancestor {
            return true;
        }
        match row(i).and_then(|r| r.parent) {
            Some(p) => i = usize::from(p) - 1,
            None => return false,
        }
    };
    active.iter().enumerate().all(|(k, &i)| {
        active[k + 1..]
            .iter()
            .all(|&j| row(i).map(|r| r.family) != row(j).map(|r| r.family) || descends(j, i) || descends(i, j))
    })
}

/// SP6 (absolute lifetime, `industry-policies.md` §3 and §1.2): with a required session
/// lifetime in the model file, no request is accepted (checked and answered 2xx) at a tick at
/// or past it; the lifetime counts from sign-in, whatever rotation happened. Read from the
/// server's ghost record of acceptances, so it applies to both server kinds (Directus has no
/// absolute lifetime by design).
fn sp6_absolute_lifetime(m: &RefreshModel, s: &State) -> bool {
    let accepted = &ghost_at(s, m.cfg.server).accepted;
    m.cfg.session_lifetime.is_none_or(|l| accepted.iter().all(|&(_, at)| at < l))
}

/// SP9 (revocation scope matches cause, `industry-policies.md` §3, C22): reuse detection
/// revokes no live token of a family other than the presented token's. Holds vacuously for
/// Directus.
fn sp9_revocation_scope(m: &RefreshModel, s: &State) -> bool {
    auth_server_at(s, m.cfg.server).is_none_or(|a| a.as_ghost.foreign_revocations == 0)
}

/// The browser configuration of actor `ix` (a browser).
fn browser_cfg(m: &RefreshModel, ix: usize) -> &BrowserCfg {
    match &m.actors[ix] {
        Node::Browser { cfg, .. } => cfg,
        _ => unreachable!("actor {ix} is not a browser"),
    }
}

/// LP4 (coordination never blocks forever, `industry-policies.md` §3, C18), as a safety
/// invariant: no tab waits on a party that cannot end its wait by itself
/// ([`BrowserState::blocked_for_good`](crate::model::browser::BrowserState::blocked_for_good)):
/// queued for the Web Lock while its holder is hung, or waiting for a leader's broadcast when
/// no message to it is pending and no leader will refresh again (closed, frozen, logged out,
/// or out of refreshes). From such a state only the tab's own fallback (a timeout, `steal`)
/// can end the wait; `lp4_bounded_wait` says how long it takes.
fn lp4_lock_not_orphaned(m: &RefreshModel, s: &State) -> bool {
    m.cfg.browsers.iter().all(|&ix| {
        let (b, cfg) = (browser_at(s, ix), browser_cfg(m, ix));
        (0..b.tabs.len()).all(|t| !b.blocked_for_good(cfg, t as u8))
    })
}

/// LP4 bounded (`industry-policies.md` §3; issue 4 item 3): no tab waits for a lock or a
/// leader's broadcast more than K of its own steps, K = `browser.max_wait_steps`.
///
/// A tab's *own step* while it waits is one run of its event loop that finds it still
/// waiting: a timer of the SDK, a user action, the follower's timeout check (one firing of
/// [`Timer::TabWaits`](crate::model::Timer::TabWaits)). The model lets a waiting tab take such
/// a step only while it is blocked for good (see `lp4_lock_not_orphaned`): while the holder's
/// or leader's refresh is still in flight the network may take any number of steps to
/// deliver it, and counting the tab's steps then would bound the network's delay, not the
/// coordination. The tab's count `waited` goes up by one per own step, saturates at K + 1
/// (which keeps the state space finite) and is reset to 0 when the wait ends (the lock is
/// granted or stolen, the broadcast arrives, or a follower's timeout makes it refresh
/// itself). The invariant is `waited <= K` for every tab: it is violated exactly when some
/// tab can take K + 1 own steps and still wait, so a fallback that acts at the tab's T-th own
/// step (`browser.follower_timeout`) satisfies it iff T <= K + 1.
fn lp4_bounded_wait(m: &RefreshModel, s: &State) -> bool {
    m.cfg.browsers.iter().all(|&ix| {
        let k = browser_cfg(m, ix).max_wait_steps;
        browser_at(s, ix).tabs.iter().all(|t| t.waited <= k)
    })
}

/// LP2 (lost-response recovery, `industry-policies.md` §3; the FAPI 2.0 condition on
/// rotation, openid/fapi issues 676 and 567; C19): if a refresh's answer is lost, a retry with
/// the previous refresh token succeeds and returns the current lineage. A *retry* is a
/// refresh a tab sends while still waiting for the answer to an earlier attempt, presenting
/// the same token (`browser.retries_per_tab`); the authorization server must answer it 2xx
/// with a refresh token of the presented token's family that is active once the answer is
/// written (the current lineage: not the superseded token presented, which
/// django-oauth-toolkit's grace path returned before PR 703). "Within W" is the model's clock
/// bound: every retry the model allows, at any tick up to `time.max_ticks`, must succeed.
/// Holds vacuously for the Directus server and without retries.
fn lp2_lost_response_recovery(m: &RefreshModel, s: &State) -> bool {
    auth_server_at(s, m.cfg.server).is_none_or(|a| a.as_ghost.refused_retries == 0)
}

/// A quiescent state ("at rest"): no message in flight, no request in progress at the server
/// (between two steps, or waiting to be routed or replicated), and no tab mid-operation
/// (waiting for an answer, a lock, a broadcast or its lagging storage, or with a sign-out
/// notice on its way to it); tabs logged out,
/// closed or hung count as at rest. Properties over whole runs are checked here.
pub fn at_rest(m: &RefreshModel, s: &State) -> bool {
    let busy_server = match auth_server_at(s, m.cfg.server) {
        Some(auth) => {
            !auth.handlers.is_empty()
                || auth.cluster.as_ref().is_some_and(|c| !c.pending.is_empty() || c.outbox.iter().any(Option::is_some))
        }
        None => !server_at(s, m.cfg.server).handlers.is_empty(),
    };
    // A self-addressed clock message (`time.max_in_flight_ticks`) is bookkeeping, not work.
    if busy_server || crate::model::any_in_flight(&s.network, |m| !matches!(m, crate::model::Msg::ClockTicked { .. })) {
        return false;
    }
    m.cfg.browsers.iter().all(|&b| {
        let Some(Node::Browser { cfg, .. }) = m.actors.get(b) else { return true };
        let br = browser_at(s, b);
        let lagging = cfg.storage == crate::model::policy::JsonStorage::SharedLagging;
        br.tabs.iter().all(|tab| {
            tab.requesters.iter().all(|r| r.sent.is_none())
                && !tab.notice
                && match tab.status {
                    TabStatus::Idle => tab.inbox.is_none() && !(lagging && tab.token != br.storage),
                    TabStatus::LoggedOut | TabStatus::Closed | TabStatus::Hung => true,
                    _ => false,
                }
        })
    })
}

/// Convergence at rest: in a quiescent state (no message in flight, no refresh between two
/// steps or waiting to be routed or replicated, no tab waiting for an answer, a lock, a
/// broadcast or its lagging storage), every tab that is signed in while its user's session is
/// valid holds an active refresh token where its app keeps it. A tab left holding a dead
/// token (a superseded or revoked one, or none) is logged out at its next refresh, beyond the
/// model's bounds: the checked form of "no tab is left with a dead credential". Holds
/// vacuously for the Directus server.
fn converges_to_live_token(m: &RefreshModel, s: &State) -> bool {
    let Some(auth) = auth_server_at(s, m.cfg.server) else { return true };
    if !at_rest(m, s) {
        return true;
    }
    for &b in &m.cfg.browsers {
        let Some(Node::Browser { cfg, .. }) = m.actors.get(b) else { continue };
        let br = browser_at(s, b);
        if !session_valid(m, s, b) {
            continue;
        }
        for (t, tab) in br.tabs.iter().enumerate() {
            if tab.status != TabStatus::Idle {
                continue;
            }
            let token = br.stored_token(cfg, t as crate::model::TabIx);
            if !token.and_then(|x| auth.row(x)).is_some_and(|r| r.status == TokStatus::Active) {
                return false;
            }
        }
    }
    true
}

/// The end of a run ("final"): the state is [`at_rest`] and no party has a step left but the
/// clock's: no tab has a refresh, request or sign-out left in its budget (or it is logged
/// out, closed or hung), the attacker has no attempt left, and no fault is pending but a
/// server restart. Read from the timers armed in the state: the browser and the server arm a
/// timer exactly for each step they may take next (`arm_browser_timers`), so a state with
/// none but [`Timer::Tick`](crate::model::Timer::Tick), `BrowserTick` and `ServerRestarts`
/// is the last state of every maximal run through it, up to ticks of the clock (which enable
/// nothing by themselves) and a restart (which loses only work in progress, and there is
/// none at rest).
pub fn run_ended(m: &RefreshModel, s: &State) -> bool {
    use crate::model::Timer;
    at_rest(m, s) && s.timers.iter().all(|(_, t)| matches!(t, Timer::Tick | Timer::BrowserTick | Timer::ServerRestarts))
}

/// The credential tab `t` of browser actor `b` would present at its next refresh, by
/// server kind: the refresh token where the app keeps it (authorization server; Directus
/// json and cookie modes), or the session cookie's `session` claim (Directus session mode).
fn held_credential(m: &RefreshModel, s: &State, b: usize, cfg: &BrowserCfg, t: usize) -> Option<crate::model::Token> {
    let br = browser_at(s, b);
    match cfg.mode {
        crate::model::policy::AuthMode::Session if auth_server_at(s, m.cfg.server).is_none() => {
            br.jar.session.map(|j| j.session)
        }
        _ => br.stored_token(cfg, t as crate::model::TabIx),
    }
}

/// No dead credential at rest (issue 15 item 4): in a quiescent state ([`at_rest`]), no tab
/// that is signed in (idle) while its user's session is valid ([`session_valid`]) holds a
/// credential that the server refuses whatever the clock says: none at all (a jar or storage
/// cleared under it), one that names no row of the session table (Directus, `session_server`:
/// a rename or delete took it away, PR 22433 scenario 2's orphan cookie), or a revoked one
/// (authorization server: reuse detection, sign-out or a revoking rule). Its next refresh or
/// request is refused and the tab logged out, whether or not the model's bounds let it
/// happen. A superseded token still inside a grace or reuse window is not dead (the server
/// may still answer it; `converges_to_live_token` asks for the active token), and a row
/// that only expired is not either: expiry is the passage of time, which the bounds cut
/// short (a tab refreshes before its expiry, `msRefreshBeforeExpires`).
fn no_dead_credential_at_rest(m: &RefreshModel, s: &State) -> bool {
    if !at_rest(m, s) {
        return true;
    }
    let auth = auth_server_at(s, m.cfg.server);
    for &b in &m.cfg.browsers {
        let Some(Node::Browser { cfg, .. }) = m.actors.get(b) else { continue };
        if !session_valid(m, s, b) {
            continue;
        }
        for (t, tab) in browser_at(s, b).tabs.iter().enumerate() {
            if tab.status != TabStatus::Idle {
                continue;
            }
            let alive = held_credential(m, s, b, cfg, t).is_some_and(|x| match auth {
                Some(a) => {
                    a.row(x).is_some_and(|r| r.status != TokStatus::Revoked)
                        || a.cluster.as_ref().is_some_and(|c| {
                            c.second
                                .rows
                                .get(usize::from(x).wrapping_sub(1))
                                .is_some_and(|r| !matches!(r.status, TokStatus::Revoked | TokStatus::Unknown))
                        })
                }
                None => store_at(s, m.cfg.store).row(x).is_some(),
            });
            if !alive {
                return false;
            }
        }
    }
    true
}

/// Reuse detection fired after a theft (issue 15 item 4; SP4 of `industry-policies.md` §3,
/// RFC 9700 §4.14.2: "if a refresh token is compromised and subsequently used by both the
/// attacker and the legitimate client, one of them will present an invalidated refresh
/// token, which will inform the authorization server of the breach"). Judged at the end of
/// a run ([`run_ended`]) in which the attacker was answered 2xx for a copied token of family
/// F: it is violated when detection has not fired in F, a token the attacker obtained in F
/// is still unrevoked, and some tab of a valid session still holds an active token of F:
/// the attacker and the user both go on with the family and the server never noticed. A
/// user left holding only a superseded token of F has not yet presented it again: at its
/// next refresh (beyond the bounds) a detecting server fires, so that run is not judged a
/// miss; a revoked family holds by construction. Holds vacuously for Directus and for a
/// protocol without a rule that sets `reuse_detected`.
fn reuse_detected_after_theft(m: &RefreshModel, s: &State) -> bool {
    let Some(a) = auth_server_at(s, m.cfg.server) else { return true };
    // Without a rule that can fire detection, there is nothing to judge (the scope's `n/a`).
    if !matches!(&m.actors[m.cfg.server], Node::AuthServer { protocol, .. } if protocol_detects_reuse(protocol)) {
        return true;
    }
    let undetected = a.as_ghost.stolen_families & !a.as_ghost.detected;
    if undetected == 0 || !run_ended(m, s) {
        return true;
    }
    let in_family = |f: u8| move |r: &&TokRow| r.family == f;
    (0..8u8).filter(|f| undetected & (1 << f) != 0).all(|f| {
        let attacker_keeps = a
            .as_ghost
            .stolen
            .iter()
            .filter_map(|&t| a.row(t))
            .filter(in_family(f))
            .any(|r| r.status != TokStatus::Revoked);
        let user_active = m.cfg.browsers.iter().any(|&b| {
            let Some(Node::Browser { cfg, .. }) = m.actors.get(b) else { return false };
            session_valid(m, s, b)
                && browser_at(s, b).tabs.iter().enumerate().any(|(t, tab)| {
                    tab.status == TabStatus::Idle
                        && held_credential(m, s, b, cfg, t)
                            .and_then(|x| a.row(x))
                            .is_some_and(|r| r.family == f && r.status == TokStatus::Active)
                })
        });
        !(attacker_keeps && user_active)
    })
}

fn reuse_detected(m: &RefreshModel, s: &State) -> bool {
    auth_server_at(s, m.cfg.server).is_some_and(|a| a.as_ghost.detected != 0)
}

/// SP4 (theft is eventually detected or harmless, `industry-policies.md` §3; RFC 9700
/// §4.14.2), its containment half for the authorization server: once the attacker has been
/// answered 2xx for a copied token, a tab's refresh refused for presenting a token issued
/// before that leaves no token the attacker obtained unrevoked. Plain rotation (P1) breaks it:
/// the user is refused and logged out while the attacker's fresh token stays live; reuse
/// detection (P2) revokes the family before it answers. The sharing half (the tab's refresh
/// succeeds alongside the attacker's) is `theft_detected`. Holds vacuously for Directus and
/// without an attacker.
fn sp4_theft_contained(m: &RefreshModel, s: &State) -> bool {
    auth_server_at(s, m.cfg.server).is_none_or(|a| a.as_ghost.uncontained == 0)
}
