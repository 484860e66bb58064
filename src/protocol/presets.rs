//! Presets: the options of a model file's `auth_server` section (`industry-policies.md` P1–P8
//! and the C-cases), each expanded into the protocol language ([`expand`]).
//!
//! A preset is not a second engine: [`expand`] writes the rules a designer would write, and the
//! checker interprets them like any other `protocol` section. `refresh-check models expand
//! FILE` prints the expansion, so a designer can start from the nearest preset and edit it.
//! Each option's behaviour is written in one place below ([`refresh_rules`] and [`reuse`]),
//! with its source.

use serde::{Deserialize, Serialize};

use super::{FieldType, FieldsSpec, HandlerSpec, Lock, ProtocolSpec, Reads, Routing, RuleSpec, StepSpec};
use crate::model::Tick;

/// Whether a redemption replaces the refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Rotation {
    /// P7/P8, no rotation: the same refresh token is returned and stays valid until its family
    /// expires or is revoked. Spring Authorization Server `TokenSettings.reuseRefreshTokens`
    /// (default true); Okta `rotation_type: STATIC`; Auth0 non-rotating; IdentityServer
    /// `RefreshTokenUsage.ReUse`; a classic stable session id (express-session, P8).
    None,
    /// P1–P6: each redemption of the active token issues a child and supersedes the parent
    /// (RFC 9700 §4.14.2; RFC 6819 §5.2.2.3).
    Rotate,
}

/// What the AS does when a superseded (or, with `revoked_is_reuse`, revoked) token is
/// presented outside the grace window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnReuse {
    /// P1: `invalid_grant`, nothing else changes (Spring AS with rotation, league/oauth2-server,
    /// djangorestframework-simplejwt blacklist, Directus json/cookie mode).
    Reject,
    /// P2: reuse detection revokes every token of the family (RFC 9700 §4.14.2; Auth0
    /// "Automatic Reuse Detection"; Okta `detect_reuse`; supabase/auth `RevokeTokenFamily`;
    /// Ory Hydra without grace; Keycloak "Revoke Refresh Token" detaching the client session).
    RevokeFamily,
    /// Reuse detection revokes every token of the user, every family (nightscout/nocturne PR
    /// 326 "revoke all for subject"; ScaleOvenStove/crosswithfriends PR 566).
    RevokeUser,
    /// Reuse detection revokes the family inside a transaction that then returns the error
    /// and is rolled back: the client gets `refresh_token_already_used` but every token stays
    /// valid (supabase/auth before PR 1312, commit 6e313f81; `industry-policies.md` C13).
    RevokeFamilyRolledBack,
    /// Keycloak with "Revoke Refresh Token" on: a failed reuse check detaches the *client
    /// session* from the user session (`clientSession.detachFromUserSession()` in
    /// `TokenManager.validateTokenReuseForRefresh`, before and after PR 29966), so every token
    /// of every login chain (family) of that client session dies: two tabs that each logged in
    /// share one client session (`browser.logins: per-tab`). With one login per device this is
    /// [`OnReuse::RevokeFamily`].
    DetachClientSession,
}

/// What a superseded token inside the grace window gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Grace {
    /// No grace: any reuse is handled by [`OnReuse`].
    None,
    /// P3: the child already issued, again (idempotent): supabase/auth PR 466 (2022, immediate
    /// parent within the reuse interval) and PR 1278 (parent of the active token, no time
    /// limit); Directus PR 22503 `next_token`; bluesky-social/atproto PR 657; Drupal
    /// `simple_oauth_refresh_token_buffer`. That child may itself be superseded already (the
    /// presented token is a grandparent of the active one, still inside its own window): it
    /// is answered all the same, a token the next refresh finds superseded, which
    /// `sp1_immediate_predecessor` reports.
    SameChild,
    /// P4/P5: a new child (a sibling of the earlier one) for each reuse: Auth0 `leeway`, Ory
    /// Hydra `rotation_grace_period`, django-oauth-toolkit `REFRESH_TOKEN_GRACE_PERIOD_SECONDS`,
    /// supabase/auth PR 1072 (2023), Keycloak `refreshTokenMaxReuse` (count-bounded).
    NewSibling,
    /// P6: the predecessor stays valid until its successor is first used — *redeemed*, that
    /// is presented in a refresh (`presented.child.used`), not its access token used in a call;
    /// reusing it issues a new child and revokes the unused earlier one (latest wins). (A
    /// server that retires the predecessor when the new *access token* is first used, as
    /// Doorkeeper's `refresh_token_revoked_on_use` does, is a `request` rule `revoke
    /// presented.parent`, not this preset.) Airlock IAM 7.7 single-use
    /// refresh tokens with grace; MentraOS PR 3456 `prevTokenHash`; FAPI 2.0 (openid/fapi 676).
    UntilSuccessorUsed,
    /// supabase/auth since PR 1278 (2023, commit b0426c6b; `internal/tokens/service.go`): a
    /// superseded token whose child is still active (the parent of the session's active token)
    /// gets that child again, with no time limit; any other superseded token inside the window
    /// gets a new child (a fork, `GrantRefreshTokenSwap`, kept from PR 1072); outside it,
    /// [`OnReuse`].
    ParentOfActiveElseSibling,
    /// The presented, superseded token itself comes back inside the window, with a new access
    /// token: django-oauth-toolkit before PR 703 (issue 702, "Grace period incompatible with
    /// token rotation": the grace path returned the pair (A2, R1) with the old, revoked R1), so
    /// a client that lost the first answer keeps a token that dies when the window ends.
    PresentedToken,
}

/// Bounds of the grace window; every bound given must hold (none given: unbounded, except by
/// [`Grace::UntilSuccessorUsed`]'s own condition).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Ticks since the token was superseded: reuse at `now <= presented.rotated_at + ticks`,
    /// `rotated_at` being the tick the token was superseded (Supabase `REFRESH_TOKEN_REUSE_INTERVAL`, Auth0 `leeway`, Hydra, DOT, Okta, Cognito).
    #[serde(default)]
    pub ticks: Option<Tick>,
    /// Grace uses: fewer than `uses` earlier grace redemptions of this token (Keycloak
    /// `refreshTokenMaxReuse`, Hydra `rotation_grace_reuse_count`).
    #[serde(default)]
    pub uses: Option<u8>,
    /// Generations behind the family's newest token: at most `generations` (Auth0 and
    /// Supabase 2022: the immediate predecessor only, 1).
    #[serde(default)]
    pub generations: Option<u8>,
}

/// How a refresh's read and write are scheduled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AsSteps {
    /// Read, decide and write in one action (a row lock, compare-and-set or serialisable
    /// transaction: supabase/auth PR 1202 `FOR UPDATE SKIP LOCKED`; nocturne PR 326's atomic
    /// claim). The default.
    #[default]
    Atomic,
    /// The read and the write are separate actions; any other action may run in between and
    /// the write does not re-check (nocturne before PR 326).
    ReadThenWrite,
    /// As [`AsSteps::ReadThenWrite`], but refreshes of one family are serialised by a lock
    /// held from the read to the write: a refresh that arrives while another refresh of the
    /// same family is between its read and its write waits (its request stays undelivered).
    /// Revocation does not take the lock. Keycloak: `TokenManager.refreshAccessToken` runs
    /// under the user session's refresh lock, while `/revoke` does not (keycloak/keycloak
    /// issue 51312, C12).
    LockedReadThenWrite,
}

/// Where the authorization server keeps what it checks reuse against
/// (`industry-policies.md` §1.1 P2/P5, C08).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReuseState {
    /// Each token's own status (active, superseded, revoked) decides, so each login chain is
    /// checked on its own: every policy of the catalogue but Keycloak's counters. The
    /// default.
    #[default]
    PerChain,
    /// Keycloak since PR 29966: the counters of [`ReuseState::PerClientSession`], kept per
    /// login chain instead, keyed by the refresh token's `reuse_id` claim (a new one at each
    /// code-flow login, copied into every token refreshed from it;
    /// `AccessTokenResponseBuilder.generateRefreshToken` sets the chain's last refresh to the
    /// new token's `iat`). One tab's refresh never makes another tab's token stale; within a
    /// chain the same whole-tick rules hold.
    PerReuseId,
    /// Keycloak before PR 29966 (keycloak/keycloak issues 16081 and 14122): one current
    /// refresh token, one use count and one timestamp per *client session*, shared by every
    /// login chain of the client in that SSO session. `TokenManager.validateTokenReuse`:
    /// (i) a token that is not the current one and was issued (`iat`) before the client
    /// session's timestamp is a "Stale token"; (ii) otherwise a token that is not the current
    /// one becomes current with count 0; (iii) a count above `refreshTokenMaxReuse`
    /// (`window.uses`, default 0) is "Maximum allowed refresh token reuse exceeded"; else the
    /// count goes up by one. A failure is reuse detection ([`OnReuse`]). Every successful
    /// refresh sets the timestamp to now (`refreshAccessToken`: `clientSession.setTimestamp`).
    /// Both are whole seconds (`Time.currentTime()`), ticks here: a token issued in the tick of
    /// the last refresh is not stale (ties are not stale).
    PerClientSession,
}

/// The authorization server's policy, as written in a model file's `auth_server` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthServerPolicy {
    /// Rotate or not.
    pub rotation: Rotation,
    /// Reuse outside the grace window (default `reject`).
    #[serde(default = "default_on_reuse")]
    pub on_reuse: OnReuse,
    /// What reuse inside the window gets (default `none`).
    #[serde(default = "default_grace")]
    pub grace: Grace,
    /// The window's bounds (default: none).
    #[serde(default)]
    pub window: Window,
    /// Atomic or read-then-write refreshes (default `atomic`).
    #[serde(default)]
    pub steps: AsSteps,
    /// Presenting a token revoked by sign-out counts as reuse (the server cannot tell a
    /// sign-out from a rotation: crosswithfriends PR 566, C22). Default false: `invalid_grant`.
    #[serde(default)]
    pub revoked_is_reuse: bool,
    /// Idle (sliding) lifetime in ticks: a refresh at `now > last_activity + idle` is refused
    /// (Keycloak SSO Session Idle, Auth0 `idle_token_lifetime`, express-session `rolling`).
    #[serde(default)]
    pub idle: Option<Tick>,
    /// Absolute lifetime in ticks from sign-in: a refresh at `now >= login_at + absolute` is
    /// refused; rotation inherits `login_at` (Keycloak SSO Session Max, Auth0 `token_lifetime`,
    /// Supabase `SESSIONS_TIMEBOX`).
    #[serde(default)]
    pub absolute: Option<Tick>,
    /// Where reuse is checked against (default `per-chain`).
    #[serde(default)]
    pub reuse_state: ReuseState,
    /// Server nodes, each with its own copy of the session entry: 1 (default) or 2, with a
    /// replication step between them (C09).
    #[serde(default = "one_replica")]
    pub replicas: u8,
    /// With two replicas: how the load balancer routes requests (default `any`).
    #[serde(default)]
    pub routing: Routing,
}

fn one_replica() -> u8 {
    1
}

fn default_on_reuse() -> OnReuse {
    OnReuse::Reject
}

fn default_grace() -> Grace {
    Grace::None
}

impl AuthServerPolicy {
    /// The protocol this preset stands for.
    pub fn expand(&self) -> ProtocolSpec {
        expand(self)
    }
}

fn rule(name: &str, when: &str, effects: &[&str], reply: &str, source: &str) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        when: when.into(),
        effects: effects.iter().map(|e| e.to_string()).collect(),
        reply: reply.into(),
        next: None,
        reuse_detected: false,
        rolled_back: false,
        evicts: None,
        source: (!source.is_empty()).then(|| source.into()),
    }
}

/// What reuse outside the grace window does ([`OnReuse`]), as a rule named `name` guarded by
/// `when`.
fn reuse(p: &AuthServerPolicy, name: &str, when: &str) -> RuleSpec {
    let (effects, source): (&[&str], &str) = match p.on_reuse {
        OnReuse::Reject => (&[], "RFC 6749 §5.2 invalid_grant; Spring Authorization Server, league/oauth2-server"),
        OnReuse::RevokeFamily => (
            &["revoke family"],
            "RFC 9700 §4.14.2 reuse detection; Auth0 Automatic Reuse Detection; supabase/auth RevokeTokenFamily",
        ),
        OnReuse::RevokeUser => (&["revoke user"], "nightscout/nocturne PR 326 revoke all for subject"),
        OnReuse::RevokeFamilyRolledBack => {
            (&["revoke family"], "supabase/auth before PR 1312: the revocation's transaction is rolled back")
        }
        OnReuse::DetachClientSession => (
            &["revoke session"],
            "Keycloak TokenManager.validateTokenReuseForRefresh: clientSession.detachFromUserSession()",
        ),
    };
    let mut r = rule(name, when, effects, "invalid_grant", source);
    r.reuse_detected = p.on_reuse != OnReuse::Reject;
    r.rolled_back = p.on_reuse == OnReuse::RevokeFamilyRolledBack;
    r
}

/// The grace window's bounds as a condition on a superseded presented token.
fn window(p: &AuthServerPolicy) -> String {
    let w = p.window;
    let mut parts = vec!["presented.status == superseded".to_string()];
    if let Some(t) = w.ticks {
        parts.push(format!("now <= presented.rotated_at + {t}"));
    }
    if let Some(k) = w.uses {
        parts.push(format!("presented.grace_uses < {k}"));
    }
    if let Some(g) = w.generations {
        parts.push(format!("family.newest_generation - presented.generation <= {g}"));
    }
    if p.grace == Grace::UntilSuccessorUsed {
        parts.push("presented.child.status == active and not presented.child.used".into());
    }
    parts.join(" and ")
}

/// The refresh handler's rules, first match decides. Tokens the store has no row for are
/// answered `invalid_grant` before any rule (the interpreter's fixed first step).
fn refresh_rules(p: &AuthServerPolicy) -> Vec<RuleSpec> {
    let mut rules = vec![];
    if let Some(a) = p.absolute {
        rules.push(rule(
            "absolute lifetime over",
            &format!("now >= family.login_at + {a}"),
            &[],
            "invalid_grant",
            "Keycloak SSO Session Max; Auth0 token_lifetime; Supabase SESSIONS_TIMEBOX",
        ));
    }
    if let Some(i) = p.idle {
        rules.push(rule(
            "idle lifetime over",
            &format!("now > family.last_used_at + {i}"),
            &[],
            "invalid_grant",
            "Keycloak SSO Session Idle; Auth0 idle_token_lifetime; express-session rolling",
        ));
    }
    if p.reuse_state != ReuseState::PerChain {
        // Keycloak's validateTokenReuse on the client session's (or, since PR 29966, the
        // login chain's) current token, use count and timestamp, in whole seconds (ticks).
        let s = if p.reuse_state == ReuseState::PerClientSession { "session" } else { "family" };
        let k = p.window.uses.unwrap_or(0);
        let live = "presented.status != revoked";
        let src = "Keycloak TokenManager.validateTokenReuse";
        rules.push(reuse(
            p,
            "stale token",
            &format!(
                "{live} and {s}.current != none and {s}.current != presented and presented.issued_at < {s}.timestamp"
            ),
        ));
        rules.push(reuse(
            p,
            "reuse count exceeded",
            &format!("{live} and {s}.current == presented and {s}.count > {k}"),
        ));
        rules.push(rule(
            "current token used again",
            &format!("{live} and {s}.current == presented"),
            &[
                "mint child",
                "supersede presented",
                &format!("set {s}.count = {s}.count + 1"),
                &format!("set {s}.timestamp = now"),
            ],
            "ok minted",
            src,
        ));
        rules.push(rule(
            "becomes the current token",
            live,
            &[
                "mint child",
                "supersede presented",
                &format!("set {s}.current = presented"),
                &format!("set {s}.count = 1"),
                &format!("set {s}.timestamp = now"),
            ],
            "ok minted",
            src,
        ));
    }
    if p.revoked_is_reuse {
        rules.push(reuse(p, "revoked token reused", "presented.status == revoked"));
    }
    rules.push(rule("revoked", "presented.status == revoked", &[], "invalid_grant", "RFC 6749 §5.2"));
    if p.reuse_state != ReuseState::PerChain {
        return rules; // Keycloak's counters decided every token that is not revoked
    }
    rules.push(match p.rotation {
        Rotation::None => rule(
            "no rotation",
            "presented.status == active",
            &[],
            "ok presented",
            "Spring Authorization Server reuseRefreshTokens; Okta STATIC; IdentityServer ReUse",
        ),
        Rotation::Rotate => rule(
            "rotate",
            "presented.status == active",
            &["mint child", "supersede presented"],
            "ok minted",
            "RFC 9700 §4.14.2; RFC 6819 §5.2.2.3",
        ),
    });
    if p.grace == Grace::ParentOfActiveElseSibling {
        rules.push(rule(
            "parent of the active token",
            "presented.status == superseded and presented.child.status == active",
            &["supersede presented"],
            "ok presented.child",
            "supabase/auth PR 1278 internal/tokens/service.go",
        ));
    }
    let inside = window(p);
    match p.grace {
        Grace::None => {}
        Grace::SameChild => rules.push(rule(
            "inside the reuse interval: the same child",
            &inside,
            &["supersede presented"],
            "ok presented.child",
            "supabase/auth PR 466; Directus PR 22503 next_token; atproto PR 657",
        )),
        Grace::PresentedToken => rules.push(rule(
            "inside the grace period: the presented token",
            &inside,
            &["supersede presented"],
            "ok presented",
            "django-oauth-toolkit before PR 703 (issue 702)",
        )),
        Grace::UntilSuccessorUsed => rules.push(rule(
            "successor unused: latest wins",
            &inside,
            &["revoke presented.child", "mint child", "supersede presented"],
            "ok minted",
            "Airlock IAM 7.7; MentraOS PR 3456 prevTokenHash; FAPI 2.0 (openid/fapi 676)",
        )),
        Grace::NewSibling | Grace::ParentOfActiveElseSibling => rules.push(rule(
            "inside the reuse interval: a new sibling",
            &inside,
            &["mint child", "supersede presented"],
            "ok minted",
            "Auth0 leeway; Ory Hydra rotation_grace_period; django-oauth-toolkit; supabase/auth PR 1072",
        )),
    }
    rules.push(reuse(p, "reuse", "presented.status == superseded"));
    rules
}

/// Expands a preset into the protocol language.
pub fn expand(p: &AuthServerPolicy) -> ProtocolSpec {
    let rules = refresh_rules(p);
    let read_then_write = |lock: Lock| HandlerSpec {
        lock,
        lock_scope: None,
        presents: Default::default(),
        revocation: None,
        rules: vec![],
        steps: vec![
            StepSpec {
                name: "read".into(),
                reads: Reads::Current,
                waits_until: None,
                rules: vec![rule("read the row", "true", &[], "continue", "nightscout/nocturne before PR 326")],
            },
            StepSpec { name: "write".into(), reads: Reads::Snapshot, waits_until: None, rules: rules.clone() },
        ],
        transaction: false,
    };
    let refresh = match p.steps {
        AsSteps::Atomic => HandlerSpec {
            lock: Lock::None,
            lock_scope: None,
            presents: Default::default(),
            revocation: None,
            rules: rules.clone(),
            steps: vec![],
            transaction: false,
        },
        AsSteps::ReadThenWrite => read_then_write(Lock::None),
        AsSteps::LockedReadThenWrite => read_then_write(Lock::Family),
    };
    let mut fields = FieldsSpec::default();
    let keycloak = [("count", FieldType::Count), ("current", FieldType::Token), ("timestamp", FieldType::Tick)];
    match p.reuse_state {
        ReuseState::PerChain => {}
        ReuseState::PerReuseId => fields.family = keycloak.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ReuseState::PerClientSession => fields.session = keycloak.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
    ProtocolSpec {
        fields,
        // SP1 (i) is measured against the window's tick bound; a grace without one is
        // reported as time-unbounded replay (bound 0).
        reuse_interval: if p.grace == Grace::None { 0 } else { p.window.ticks.unwrap_or(0) },
        refresh,
        sign_out: HandlerSpec {
            lock: Lock::None,
            lock_scope: None,
            presents: Default::default(),
            revocation: None,
            steps: vec![],
            rules: vec![rule("revoke the family", "true", &["revoke family"], "signed_out", "RFC 7009 §2.1")],
            transaction: false,
        },
        sign_in: None,
        password_change: None,
        request: None,
        clients: Default::default(),
        replicas: p.replicas,
        routing: p.routing,
        instances: 1,
        restarts: 0,
        wording: Default::default(),
    }
}
