//! A second server kind: an OAuth 2.0 authorization server (AS) that redeems refresh tokens
//! (`grant_type=refresh_token`, RFC 6749 §6) under one of the industry's rotation policies.
//!
//! The Directus model ([`super::server`]) stays faithful to Directus; this module models the
//! policies of `shared/research/industry-policies.md` §1 as data ([`AuthServerPolicy`]) and one
//! sans-IO step function per server action. The token table keeps every refresh token ever
//! issued with its family (one per sign-in), parent link, generation and status (active,
//! superseded at a tick with a count of grace uses, or revoked), and each family its sign-in
//! and last-activity ticks for the idle and absolute lifetimes.
//!
//! A refresh is two actions with [`AsSteps::ReadThenWrite`]: the read snapshots the presented
//! token's row ([`ReadView`]); the write, a later step, decides from that snapshot and writes
//! blindly, so another request's write can run in between (the read-then-write fork of
//! nightscout/nocturne PR 326, `industry-policies.md` C07). [`AsSteps::Atomic`] does both in
//! one action (a serialisable transaction or a compare-and-set). A revocation (sign-out, RFC
//! 7009) is always one action.
//!
//! Where reuse is checked against is [`ReuseState`]: each token's own status (the default), or
//! Keycloak's current token, use count and timestamp, per client session before PR 29966
//! (C08) or per login chain since, which read each token's issue tick. Families are sign-ins; the families of one
//! device form its client session ([`Family::session`]), several when each tab logged in on
//! its own.
//!
//! With `replicas: 2` ([`Cluster`], C09) two nodes each keep their own copy of the table; a
//! request is served on the copy of the node the load balancer routes it to, and a node's
//! write reaches the other node only by a later replication action that overwrites the other
//! node's whole copy.
//!
//! Errors: every refused redemption is answered `invalid_grant` (RFC 6749 §5.2), modelled as
//! 401 [`HttpError::InvalidCredentials`]; the client treats any refusal as a logout.

use serde::{Deserialize, Serialize};

use super::{ClientKey, HttpError, Reply, ServerGhost, Tick, Token};

/// Whether a redemption replaces the refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grace {
    /// No grace: any reuse is handled by [`OnReuse`].
    None,
    /// P3: the child already issued, again (idempotent): supabase/auth PR 466 (2022, immediate
    /// parent within the reuse interval) and PR 1278 (parent of the active token, no time
    /// limit); Directus PR 22503 `next_token`; bluesky-social/atproto PR 657; Drupal
    /// `simple_oauth_refresh_token_buffer`.
    SameChild,
    /// P4/P5: a new child (a sibling of the earlier one) for each reuse: Auth0 `leeway`, Ory
    /// Hydra `rotation_grace_period`, django-oauth-toolkit `REFRESH_TOKEN_GRACE_PERIOD_SECONDS`,
    /// supabase/auth PR 1072 (2023), Keycloak `refreshTokenMaxReuse` (count-bounded).
    NewSibling,
    /// P6: the predecessor stays valid until its successor is first used; reusing it issues a
    /// new child and revokes the unused earlier one (latest wins): Airlock IAM 7.7 single-use
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Ticks since the token was superseded: reuse at `now <= superseded_at + ticks`
    /// (Supabase `REFRESH_TOKEN_REUSE_INTERVAL`, Auth0 `leeway`, Hydra, DOT, Okta, Cognito).
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// replication step between them ([`Cluster`]; C09).
    #[serde(default = "one_replica")]
    pub replicas: u8,
    /// With two replicas: how the load balancer routes requests (default `any`).
    #[serde(default)]
    pub routing: Routing,
}

/// How a load balancer in front of two nodes routes requests (C09).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Routing {
    /// Any request may go to either node (round robin, no affinity). The default.
    #[default]
    Any,
    /// Session affinity per client: a tab's first request may go to either node, and every
    /// later request of that tab goes to the same node. Two tabs (two clients of one SSO
    /// session, keycloak/keycloak issue 50721) may still be served by different nodes.
    Sticky,
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

/// A refresh token's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum TokStatus {
    /// Redeemable: the newest of its lineage (or a live fork).
    Active,
    /// A child was issued at tick `at`; `uses` grace redemptions since (a count).
    Superseded { at: Tick, uses: u8 },
    /// Dead for good (reuse detection or sign-out).
    Revoked,
    /// With two replicas: minted on the other node, and this node's copy of the session
    /// entry has not received it (yet, or it was overwritten by a replication). The node
    /// answers it as it answers a token it has no row for.
    Unknown,
}

/// One issued refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TokRow {
    /// Its family (index into [`AsState::families`]): one per sign-in.
    pub family: u8,
    /// The token it was issued for, `None` at sign-in.
    pub parent: Option<Token>,
    /// Generation: 0 at sign-in, parent's + 1.
    pub gen: u8,
    /// Status.
    pub status: TokStatus,
    /// The newest child issued for it.
    pub child: Option<Token>,
    /// It has been redeemed successfully at least once (P6: the successor "is used").
    pub used: bool,
    /// Issued at (the JWT's `iat`), in ticks; recorded only with Keycloak's counters
    /// ([`ReuseState::PerClientSession`], [`ReuseState::PerReuseId`]), which read it (else 0).
    pub iat: Tick,
}

/// One sign-in's family (Supabase session, Auth0 family, Hydra consent grant, Keycloak
/// login chain: its `reuse_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Family {
    /// The client session the sign-in belongs to: its device (one browser's SSO session). With
    /// one login per device each client session has one family; with `browser.logins:
    /// per-tab` every tab's login is a family of its device's client session.
    pub session: u8,
    /// The index in [`AsState::reuse`] of the reuse state its tokens are checked against: its
    /// client session ([`ReuseState::PerClientSession`]) or its own (`reuse_id`,
    /// [`ReuseState::PerReuseId`]); 0 and unused with [`ReuseState::PerChain`].
    pub reuse_key: u8,
    /// Sign-in tick (inherited by every token of the family).
    pub login_at: Tick,
    /// Tick of the last successful redemption (idle lifetime).
    pub last_activity: Tick,
}

/// Keycloak's reuse state of one client session ([`ReuseState::PerClientSession`]:
/// `AuthenticatedClientSessionModel` `currentRefreshToken`, `currentRefreshTokenUseCount` and
/// `timestamp`) or of one login chain ([`ReuseState::PerReuseId`]: the `reuse_id` notes
/// `refreshToken`, `refreshTokenUseCount`, `refreshTokenLastRefresh`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ReuseEntry {
    /// The current refresh token (`None` until the first refresh after sign-in).
    pub current: Option<Token>,
    /// Uses of the current token: a count.
    pub count: u8,
    /// The client session's timestamp (the chain's last refresh): the tick of its last
    /// sign-in or refresh.
    pub timestamp: Tick,
}

/// What a refresh's read step saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ReadView {
    /// The presented token's row, if it exists.
    pub row: Option<TokRow>,
    /// Its family.
    pub family: Option<Family>,
    /// The highest generation of a live (not revoked) token in that family.
    pub newest_gen: u8,
    /// The status of its newest child, and whether that child was used.
    pub child: Option<(TokStatus, bool)>,
    /// Its client session's reuse state ([`ReuseState::PerClientSession`] only).
    pub reuse: Option<ReuseEntry>,
}

/// What a handler serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AsEndpoint {
    /// `grant_type=refresh_token`.
    Refresh,
    /// Sign-out: revoke the presented token's family (RFC 7009).
    Revoke,
}

/// A refresh in progress between its read and its write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AsHandler {
    /// Who sent it.
    pub client: ClientKey,
    /// Which of that client's requests in progress: 0, or the lowest number free when a retry
    /// arrives while an earlier attempt of the same tab is still served (the two are separate
    /// HTTP requests).
    pub slot: u8,
    /// The presented refresh token.
    pub token: Token,
    /// What the read saw.
    pub view: ReadView,
    /// Ghost: the token's family had been signed out when the request arrived.
    pub after_sign_out: bool,
    /// Ghost: the attacker's theft mark when the request arrived.
    pub theft_mark: Option<Token>,
    /// Ghost: the request is a retry re-sending the token of an attempt whose answer the
    /// client never got (LP2).
    pub retry: bool,
}

/// Ghost bookkeeping of the AS for the catalogue's properties (never read by a step).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AsGhost {
    /// Families whose sign-out has run (bit per family).
    pub signed_out: u8,
    /// Families where reuse detection fired (bit per family).
    pub detected: u8,
    /// Tokens minted into a family after its sign-out: a count (SP5).
    pub revived: u8,
    /// 2xx answers, after detection fired in the family, for a token of that family (SP2).
    pub ok_after_detection: u8,
    /// 2xx redemptions of a superseded token more than one generation behind (SP1 iii).
    pub deep_replays: u8,
    /// Live tokens of another family revoked by a detection (SP9): a count.
    pub foreign_revocations: u8,
    /// Tokens the attacker obtained by a 2xx redemption, sorted (SP4).
    pub stolen: Vec<Token>,
    /// Families in which the attacker was answered 2xx (bit per family): the theft properties
    /// judge only the user's refreshes in those families.
    pub stolen_families: u8,
    /// Tab refreshes refused for presenting a token issued before the attacker's first
    /// success while a token the attacker obtained was still unrevoked: the user is locked out
    /// and the attacker keeps the session (SP4): a count.
    pub uncontained: u8,
    /// Retries re-sending the token of an attempt whose answer was lost, answered with an
    /// error or a token of another family (LP2): a count.
    pub refused_retries: u8,
}

/// One node's copy of the session entry: the token table, the families and Keycloak's
/// reuse state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Table {
    /// The token table (see [`AsState::rows`]).
    pub rows: Vec<TokRow>,
    /// The families (see [`AsState::families`]).
    pub families: Vec<Family>,
    /// Reuse state per client session (see [`AsState::reuse`]).
    pub reuse: Vec<ReuseEntry>,
}

/// A request that reached the cluster's load balancer and waits to be routed to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AsPending {
    /// Who sent it.
    pub client: ClientKey,
    /// Which of that client's waiting requests (see [`AsHandler::slot`]).
    pub slot: u8,
    /// Refresh or sign-out.
    pub endpoint: AsEndpoint,
    /// The presented refresh token, if any.
    pub token: Option<Token>,
    /// Ghost: a retry of an unanswered refresh (LP2).
    pub retry: bool,
}

/// Two server nodes (Keycloak with embedded Infinispan: keycloak/keycloak issues 23687,
/// 50721, 14195; `industry-policies.md` C09). Each node keeps its own copy of the user-session
/// entry; node 1's copy is [`AsState`]'s own table, node 2's is [`Cluster::second`]. A request
/// is served by whichever node the load balancer routes it to (an action), and reads and
/// writes that node's copy only. A node's write reaches the other node only by a later
/// replication action, which overwrites the other node's whole entry with the entry as the
/// writer left it (last writer wins, no merge): a read on a node the replication has not
/// reached does not know the rotated token, and of two writes on different nodes one is lost.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Cluster {
    /// Node 2's copy of the session entry.
    pub second: Table,
    /// Per node, its entry as its last write left it, not yet replicated to the other node.
    pub outbox: [Option<Table>; 2],
    /// Requests waiting to be routed, sorted by client.
    pub pending: Vec<AsPending>,
    /// Tokens minted so far by either node (tokens are numbered across the cluster).
    pub minted: Token,
    /// With [`Routing::Sticky`]: the node each client was first served by, sorted by client.
    pub affinity: Vec<(ClientKey, u8)>,
}

impl Cluster {
    /// The nodes `client`'s request may be routed to under `routing`.
    pub fn nodes_for(&self, routing: Routing, client: ClientKey) -> std::ops::RangeInclusive<u8> {
        match self.affinity.iter().find(|(c, _)| *c == client) {
            Some(&(_, n)) if routing == Routing::Sticky => n..=n,
            _ => 0..=1,
        }
    }
}

/// The AS's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AsState {
    /// The clock, in ticks.
    pub now: Tick,
    /// Every refresh token issued; token `n` is `rows[n - 1]`.
    pub rows: Vec<TokRow>,
    /// The families.
    pub families: Vec<Family>,
    /// Keycloak's reuse state, indexed by [`Family::reuse_key`]: one per client session or
    /// one per login chain; empty with [`ReuseState::PerChain`].
    pub reuse: Vec<ReuseEntry>,
    /// Refreshes between read and write, sorted by client.
    pub handlers: Vec<AsHandler>,
    /// Ghost for the properties shared with the Directus model.
    pub ghost: ServerGhost,
    /// Ghost for the authorization-server properties.
    pub as_ghost: AsGhost,
    /// The second node, with `replicas: 2`; `None` with one node.
    pub cluster: Option<Cluster>,
}

/// The decision of a refresh's write step, from what its read saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `invalid_grant`, no write.
    Reject,
    /// Reuse detected: revoke by [`OnReuse`], then `invalid_grant`.
    Detect,
    /// No rotation: the same token, activity bumped.
    Keep,
    /// P3: the existing child again.
    SameChild(Token),
    /// Mint a child of the presented token; `grace_use` counts a use of a superseded token;
    /// `replace` revokes its earlier child (P6, latest wins). With
    /// [`ReuseState::PerClientSession`] the client session's reuse state is written too.
    Mint {
        /// The presented token was superseded (a grace redemption).
        grace_use: bool,
        /// Revoke the earlier child.
        replace: bool,
    },
}

impl AsState {
    /// `devices` client sessions with `logins` sign-ins each, all at tick 0: token `i + 1` is
    /// family `i`'s first token, and family `i` belongs to client session `i / logins`. The
    /// reuse state per client session is kept only if `reuse` is
    /// [`ReuseState::PerClientSession`].
    pub fn signed_in(devices: u8, logins: u8, reuse: ReuseState) -> AsState {
        let families = devices * logins;
        AsState {
            now: 0,
            rows: (0..families)
                .map(|f| TokRow {
                    family: f,
                    parent: None,
                    gen: 0,
                    status: TokStatus::Active,
                    child: None,
                    used: false,
                    iat: 0,
                })
                .collect(),
            families: (0..families)
                .map(|f| Family {
                    session: f / logins,
                    reuse_key: match reuse {
                        ReuseState::PerChain => 0,
                        ReuseState::PerClientSession => f / logins,
                        ReuseState::PerReuseId => f,
                    },
                    login_at: 0,
                    last_activity: 0,
                })
                .collect(),
            reuse: match reuse {
                ReuseState::PerChain => vec![],
                ReuseState::PerClientSession => vec![ReuseEntry::default(); devices as usize],
                ReuseState::PerReuseId => vec![ReuseEntry::default(); families as usize],
            },
            handlers: vec![],
            ghost: ServerGhost::default(),
            as_ghost: AsGhost::default(),
            cluster: None,
        }
    }

    /// The same sign-ins on two nodes, each with its own copy of the session entry (C09).
    pub fn signed_in_cluster(devices: u8, logins: u8, reuse: ReuseState) -> AsState {
        let mut s = AsState::signed_in(devices, logins, reuse);
        let second = Table { rows: s.rows.clone(), families: s.families.clone(), reuse: s.reuse.clone() };
        let minted = s.rows.len() as Token;
        s.cluster = Some(Cluster { second, outbox: [None, None], pending: vec![], minted, affinity: vec![] });
        s
    }

    /// The number the next minted token gets: numbered across the cluster.
    pub fn next_token(&self) -> Token {
        match &self.cluster {
            Some(c) => c.minted + 1,
            None => self.rows.len() as Token + 1,
        }
    }

    /// Runs `f` on node `node` (0 or 1): with node 1 (index 1) the state's own table is
    /// swapped with the second node's copy for the duration of `f`. A write marks the node's
    /// entry for replication.
    pub fn on_node<R>(&mut self, node: u8, f: impl FnOnce(&mut AsState) -> R) -> R {
        let swap = |s: &mut AsState| {
            if let Some(c) = s.cluster.as_mut() {
                std::mem::swap(&mut s.rows, &mut c.second.rows);
                std::mem::swap(&mut s.families, &mut c.second.families);
                std::mem::swap(&mut s.reuse, &mut c.second.reuse);
            }
        };
        if node == 1 {
            swap(self);
        }
        let table = |s: &AsState| Table { rows: s.rows.clone(), families: s.families.clone(), reuse: s.reuse.clone() };
        let before = table(self);
        let out = f(self);
        let after = table(self);
        if let Some(c) = self.cluster.as_mut() {
            if after != before {
                c.outbox[node as usize] = Some(after);
            }
        }
        if node == 1 {
            swap(self);
        }
        out
    }

    /// Replication: node `from`'s entry, as its last write left it, overwrites the other
    /// node's whole entry. Returns whether there was anything to replicate.
    pub fn replicate(&mut self, from: u8) -> bool {
        let Some(c) = self.cluster.as_mut() else { return false };
        let Some(t) = c.outbox[from as usize].take() else { return false };
        if from == 0 {
            c.second = t;
        } else {
            self.rows = t.rows;
            self.families = t.families;
            self.reuse = t.reuse;
        }
        true
    }

    /// The row of token `t`, if this copy of the entry knows it.
    pub fn row(&self, t: Token) -> Option<&TokRow> {
        (t as usize).checked_sub(1).and_then(|i| self.rows.get(i)).filter(|r| r.status != TokStatus::Unknown)
    }

    /// The read step: what the row of `t` and its family look like now.
    pub fn read(&self, t: Token) -> ReadView {
        let row = self.row(t).copied();
        let family = row.map(|r| self.families[r.family as usize]);
        let newest_gen = row.map_or(0, |r| {
            self.rows
                .iter()
                .filter(|x| x.family == r.family && !matches!(x.status, TokStatus::Revoked | TokStatus::Unknown))
                .map(|x| x.gen)
                .max()
                .unwrap_or(r.gen)
        });
        let child = row.and_then(|r| r.child).and_then(|c| self.row(c)).map(|c| (c.status, c.used));
        let reuse = family.and_then(|f| self.reuse.get(f.reuse_key as usize)).copied();
        ReadView { row, family, newest_gen, child, reuse }
    }

    /// Revokes every live token of family `f`; returns how many were live.
    fn revoke_family(&mut self, f: u8) -> u8 {
        let mut n = 0;
        for r in self
            .rows
            .iter_mut()
            .filter(|r| r.family == f && !matches!(r.status, TokStatus::Revoked | TokStatus::Unknown))
        {
            r.status = TokStatus::Revoked;
            n += 1;
        }
        n
    }

    fn mark_superseded(&mut self, t: Token) {
        if let Err(at) = self.ghost.superseded.binary_search_by_key(&t, |&(x, _)| x) {
            self.ghost.superseded.insert(at, (t, self.now));
        }
    }

    fn mark_accepted(&mut self, t: Token) {
        let now = self.now;
        match self.ghost.accepted.binary_search_by_key(&t, |&(x, _)| x) {
            Ok(i) => self.ghost.accepted[i].1 = self.ghost.accepted[i].1.max(now),
            Err(i) => self.ghost.accepted.insert(i, (t, now)),
        }
    }
}

/// Whether a superseded token read as `view` is inside the grace window at `now`.
fn in_window(p: &AuthServerPolicy, view: &ReadView, at: Tick, uses: u8, now: Tick) -> bool {
    let Some(row) = view.row else { return false };
    let w = p.window;
    let bounds = w.ticks.is_none_or(|g| u16::from(now) <= u16::from(at) + u16::from(g))
        && w.uses.is_none_or(|k| uses < k)
        && w.generations.is_none_or(|l| view.newest_gen.saturating_sub(row.gen) <= l);
    match p.grace {
        Grace::None => false,
        Grace::SameChild | Grace::NewSibling | Grace::ParentOfActiveElseSibling | Grace::PresentedToken => bounds,
        // The successor exists, is live and has not been redeemed yet.
        Grace::UntilSuccessorUsed => bounds && matches!(view.child, Some((TokStatus::Active, false))),
    }
}

/// Keycloak's `validateTokenReuse` ([`ReuseState::PerClientSession`] before PR 29966,
/// [`ReuseState::PerReuseId`] since) for token `t` read as `view` (a live token): the reuse
/// state (of its client session, or of its chain) after a successful use, or `None` for
/// "Stale token" or "Maximum allowed refresh token reuse exceeded".
pub fn client_session_reuse(p: &AuthServerPolicy, view: &ReadView, t: Token, now: Tick) -> Option<ReuseEntry> {
    let row = view.row?;
    let e = view.reuse.unwrap_or_default();
    // (i) `currentRefreshToken != null && jti != current && iat < timestamp` (whole seconds:
    // a tie is not stale). The cluster-startup-time clause is left out (no restarts here).
    if e.current.is_some_and(|c| c != t) && row.iat < e.timestamp {
        return None;
    }
    // (ii) another token becomes current with count 0.
    let count = if e.current == Some(t) { e.count } else { 0 };
    // (iii) `count > refreshTokenMaxReuse` fails; the caller then counts the use.
    if count > p.window.uses.unwrap_or(0) {
        return None;
    }
    Some(ReuseEntry { current: Some(t), count: count.saturating_add(1), timestamp: now })
}

/// The write step's decision for token `t`, a pure function of the policy, the read and the
/// clock.
pub fn decide(p: &AuthServerPolicy, view: &ReadView, t: Token, now: Tick) -> Decision {
    let (Some(row), Some(fam)) = (view.row, view.family) else { return Decision::Reject };
    if p.absolute.is_some_and(|a| u16::from(now) >= u16::from(fam.login_at) + u16::from(a))
        || p.idle.is_some_and(|i| u16::from(now) > u16::from(fam.last_activity) + u16::from(i))
    {
        return Decision::Reject;
    }
    let reuse = match p.on_reuse {
        OnReuse::Reject => Decision::Reject,
        OnReuse::RevokeFamily
        | OnReuse::RevokeUser
        | OnReuse::RevokeFamilyRolledBack
        | OnReuse::DetachClientSession => Decision::Detect,
    };
    if p.reuse_state != ReuseState::PerChain && row.status != TokStatus::Revoked {
        // Keycloak checks the client session's state, not the token's: a rotated-away token
        // may become current again (a tie), and each accepted use mints a new token.
        return match client_session_reuse(p, view, t, now) {
            None => reuse,
            Some(_) => Decision::Mint { grace_use: matches!(row.status, TokStatus::Superseded { .. }), replace: false },
        };
    }
    match row.status {
        TokStatus::Revoked if p.revoked_is_reuse => reuse,
        TokStatus::Revoked | TokStatus::Unknown => Decision::Reject,
        TokStatus::Active => match p.rotation {
            Rotation::None => Decision::Keep,
            Rotation::Rotate => Decision::Mint { grace_use: false, replace: false },
        },
        TokStatus::Superseded { .. }
            if p.grace == Grace::ParentOfActiveElseSibling && matches!(view.child, Some((TokStatus::Active, _))) =>
        {
            row.child.map_or(Decision::Reject, Decision::SameChild)
        }
        TokStatus::Superseded { at, uses } if in_window(p, view, at, uses, now) => match (p.grace, row.child) {
            (Grace::SameChild, Some(c)) => Decision::SameChild(c),
            (Grace::PresentedToken, _) => Decision::SameChild(t),
            (Grace::UntilSuccessorUsed, _) => Decision::Mint { grace_use: true, replace: true },
            _ => Decision::Mint { grace_use: true, replace: false },
        },
        TokStatus::Superseded { .. } => reuse,
    }
}

/// The write step: applies `decide(view)` for `h` to the table (blindly: it does not re-read)
/// and returns the answer. Records the ghost bookkeeping.
pub fn write(p: &AuthServerPolicy, access_ttl: Tick, s: &mut AsState, h: &AsHandler) -> Reply {
    let now = s.now;
    let t = h.token;
    let d = decide(p, &h.view, t, now);
    let Some(read) = h.view.row else { return Reply::Err(HttpError::InvalidCredentials) };
    let f = read.family;
    let issued = match d {
        Decision::Reject => None,
        Decision::Detect => {
            s.as_ghost.detected |= 1 << f;
            if p.on_reuse == OnReuse::RevokeFamilyRolledBack {
                return Reply::Err(HttpError::InvalidCredentials); // the revocation is rolled back
            }
            s.revoke_family(f);
            let session = s.families[f as usize].session;
            let others: Vec<u8> = (0..s.families.len() as u8)
                .filter(|&o| {
                    o != f
                        && match p.on_reuse {
                            OnReuse::RevokeUser => true,
                            OnReuse::DetachClientSession => s.families[o as usize].session == session,
                            _ => false,
                        }
                })
                .collect();
            for other in others {
                let n = s.revoke_family(other);
                s.as_ghost.foreign_revocations = s.as_ghost.foreign_revocations.saturating_add(n);
            }
            None
        }
        Decision::Keep => Some(t),
        Decision::SameChild(c) => {
            if let TokStatus::Superseded { at, uses } = read.status {
                s.rows[t as usize - 1].status = TokStatus::Superseded { at, uses: uses.saturating_add(1) };
            }
            Some(c)
        }
        Decision::Mint { grace_use, replace } => {
            let n = s.next_token();
            // A token minted on the other node that this copy has not received.
            while (s.rows.len() as Token) < n - 1 {
                let unknown = TokRow {
                    family: u8::MAX,
                    parent: None,
                    gen: 0,
                    status: TokStatus::Unknown,
                    child: None,
                    used: false,
                    iat: 0,
                };
                s.rows.push(unknown);
            }
            if let Some(c) = s.cluster.as_mut() {
                c.minted = n;
            }
            let keycloak = p.reuse_state != ReuseState::PerChain;
            s.rows.push(TokRow {
                family: f,
                parent: Some(t),
                gen: read.gen + 1,
                status: TokStatus::Active,
                child: None,
                used: false,
                iat: if keycloak { now } else { 0 },
            });
            if let Some(e) = keycloak.then(|| client_session_reuse(p, &h.view, t, now)).flatten() {
                // A blind write of what the read saw, as for the token's row.
                let key = s.families[f as usize].reuse_key as usize;
                s.reuse[key] = e;
            }
            if s.as_ghost.signed_out & (1 << f) != 0 {
                s.as_ghost.revived = s.as_ghost.revived.saturating_add(1);
            }
            if replace {
                if let Some(old) = read.child {
                    s.rows[old as usize - 1].status = TokStatus::Revoked;
                }
            }
            let row = &mut s.rows[t as usize - 1];
            row.child = Some(n);
            if row.status != TokStatus::Revoked {
                // A blind write of what the read saw, plus one: a lost update under
                // read-then-write.
                row.status = match (grace_use, read.status) {
                    (true, TokStatus::Superseded { at, uses }) => {
                        TokStatus::Superseded { at, uses: uses.saturating_add(1) }
                    }
                    _ => TokStatus::Superseded { at: now, uses: 0 },
                };
            }
            s.mark_superseded(t);
            Some(n)
        }
    };
    let Some(tok) = issued else { return Reply::Err(HttpError::InvalidCredentials) };
    // Success: record it.
    s.rows[t as usize - 1].used = true;
    let fam = &mut s.families[f as usize];
    fam.last_activity = fam.last_activity.max(now);
    s.mark_accepted(t);
    if let TokStatus::Superseded { .. } = read.status {
        if h.view.newest_gen.saturating_sub(read.gen) > 1 {
            s.as_ghost.deep_replays = s.as_ghost.deep_replays.saturating_add(1);
        }
    }
    if s.as_ghost.detected & (1 << f) != 0 {
        s.as_ghost.ok_after_detection = s.as_ghost.ok_after_detection.saturating_add(1);
    }
    if h.after_sign_out {
        s.ghost.ok_after_sign_out = s.ghost.ok_after_sign_out.saturating_add(1);
    }
    Reply::Ok { set_cookie: None, token: Some(tok), expires_at: Some(now.saturating_add(access_ttl)) }
}

/// Sign-out (RFC 7009 revocation of the presented refresh token and its family), one action.
pub fn revoke(s: &mut AsState, t: Option<Token>) -> Reply {
    if let Some(f) = t.and_then(|t| s.row(t)).map(|r| r.family) {
        s.revoke_family(f);
        s.as_ghost.signed_out |= 1 << f;
    }
    s.ghost.signed_out = true;
    Reply::SignedOut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rotation: Rotation, on_reuse: OnReuse, grace: Grace, window: Window) -> AuthServerPolicy {
        AuthServerPolicy {
            rotation,
            on_reuse,
            grace,
            window,
            steps: AsSteps::Atomic,
            revoked_is_reuse: false,
            idle: None,
            absolute: None,
            reuse_state: ReuseState::PerChain,
            replicas: 1,
            routing: Routing::Any,
        }
    }

    fn handler(s: &AsState, token: Token) -> AsHandler {
        AsHandler {
            client: ClientKey { browser: 0, tab: 0 },
            slot: 0,
            token,
            view: s.read(token),
            after_sign_out: false,
            theft_mark: None,
            retry: false,
        }
    }

    fn redeem(p: &AuthServerPolicy, s: &mut AsState, t: Token) -> Option<Token> {
        let h = handler(s, t);
        match write(p, 1, s, &h) {
            Reply::Ok { token, .. } => token,
            _ => None,
        }
    }

    #[test]
    fn reuse_detection_revokes_the_whole_family() {
        let p = policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::None, Window::default());
        let mut s = AsState::signed_in(1, 1, ReuseState::PerChain);
        assert_eq!(redeem(&p, &mut s, 1), Some(2));
        assert_eq!(redeem(&p, &mut s, 1), None, "reuse of 1");
        assert_eq!(s.rows[1].status, TokStatus::Revoked, "the active child dies too");
        assert_eq!(redeem(&p, &mut s, 2), None);
        assert_eq!(s.as_ghost.detected, 1);
    }

    #[test]
    fn same_child_grace_returns_the_child_inside_the_window_only() {
        let w = Window { ticks: Some(1), uses: None, generations: Some(1) };
        let p = policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::SameChild, w);
        let mut s = AsState::signed_in(1, 1, ReuseState::PerChain);
        assert_eq!(redeem(&p, &mut s, 1), Some(2));
        s.now = 1;
        assert_eq!(redeem(&p, &mut s, 1), Some(2), "inside the window: the same child");
        s.now = 2;
        assert_eq!(redeem(&p, &mut s, 1), None, "outside: detection");
        assert_eq!(s.as_ghost.detected, 1);
    }

    #[test]
    fn new_sibling_grace_forks_and_generation_bound_limits_it() {
        let w = Window { ticks: Some(5), uses: None, generations: Some(1) };
        let p = policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::NewSibling, w);
        let mut s = AsState::signed_in(1, 1, ReuseState::PerChain);
        assert_eq!(redeem(&p, &mut s, 1), Some(2));
        assert_eq!(redeem(&p, &mut s, 2), Some(3));
        assert_eq!(redeem(&p, &mut s, 2), Some(4), "immediate predecessor: a sibling of 3");
        assert_eq!(redeem(&p, &mut s, 1), None, "two generations behind: detection");
        let unbounded =
            policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::NewSibling, Window { generations: None, ..w });
        let mut s = AsState::signed_in(1, 1, ReuseState::PerChain);
        redeem(&unbounded, &mut s, 1);
        redeem(&unbounded, &mut s, 2);
        assert_eq!(redeem(&unbounded, &mut s, 1), Some(4), "django-oauth-toolkit 1617");
        assert_eq!(s.as_ghost.deep_replays, 1);
    }

    #[test]
    fn until_successor_used_latest_wins() {
        let p = policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::UntilSuccessorUsed, Window::default());
        let mut s = AsState::signed_in(1, 1, ReuseState::PerChain);
        assert_eq!(redeem(&p, &mut s, 1), Some(2));
        assert_eq!(redeem(&p, &mut s, 1), Some(3), "2 unused: a retry succeeds");
        assert_eq!(s.rows[1].status, TokStatus::Revoked, "the earlier child is replaced");
        assert_eq!(redeem(&p, &mut s, 3), Some(4));
        assert_eq!(redeem(&p, &mut s, 1), None, "the successor was used");
    }

    #[test]
    fn parent_of_active_gets_the_active_child_forever_and_older_tokens_fork_inside_the_window() {
        let w = Window { ticks: Some(1), uses: None, generations: None };
        let p = policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::ParentOfActiveElseSibling, w);
        let mut s = AsState::signed_in(1, 1, ReuseState::PerChain);
        assert_eq!(redeem(&p, &mut s, 1), Some(2));
        s.now = 5;
        assert_eq!(redeem(&p, &mut s, 1), Some(2), "parent of the active token: its child, however late");
        assert_eq!(redeem(&p, &mut s, 2), Some(3));
        assert_eq!(redeem(&p, &mut s, 2), Some(3), "2 is now the parent of the active token");
        assert_eq!(redeem(&p, &mut s, 1), None, "1's child 2 is superseded and 1 is outside the window");
        assert_eq!(s.as_ghost.detected, 1);
        let mut s = AsState::signed_in(1, 1, ReuseState::PerChain);
        redeem(&p, &mut s, 1);
        redeem(&p, &mut s, 2);
        s.now = 1;
        assert_eq!(redeem(&p, &mut s, 1), Some(4), "inside the window: a fork, a sibling of 2");
        assert_eq!(s.as_ghost.deep_replays, 1);
    }

    #[test]
    fn read_then_write_forks_a_lineage() {
        let p = policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::None, Window::default());
        let mut s = AsState::signed_in(1, 1, ReuseState::PerChain);
        let (a, b) = (handler(&s, 1), handler(&s, 1));
        assert!(matches!(write(&p, 1, &mut s, &a), Reply::Ok { token: Some(2), .. }));
        assert!(matches!(write(&p, 1, &mut s, &b), Reply::Ok { token: Some(3), .. }));
        let active = s.rows.iter().filter(|r| r.status == TokStatus::Active).count();
        assert_eq!(active, 2, "two live siblings");
    }

    #[test]
    fn keycloak_client_session_state_stale_tie_and_max_reuse() {
        // Two login chains (tokens 1 and 2) in one client session (Keycloak before PR 29966).
        let mut p = policy(Rotation::Rotate, OnReuse::DetachClientSession, Grace::None, Window::default());
        p.reuse_state = ReuseState::PerClientSession;
        let mut s = AsState::signed_in(1, 2, p.reuse_state);
        assert_eq!(redeem(&p, &mut s, 1), Some(3), "no current token yet: 1 becomes current");
        assert_eq!(s.reuse[0], ReuseEntry { current: Some(1), count: 1, timestamp: 0 });
        assert_eq!(redeem(&p, &mut s, 2), Some(4), "issued in the tick of the last refresh: not stale");
        assert_eq!(s.reuse[0], ReuseEntry { current: Some(2), count: 1, timestamp: 0 });
        assert_eq!(redeem(&p, &mut s, 1), Some(5), "a tie again: token 1, rotated away, is current once more");
        s.now = 1;
        assert_eq!(redeem(&p, &mut s, 5), Some(6), "token 5 was never current and not issued before 0");
        assert_eq!(redeem(&p, &mut s, 4), None, "token 4: issued at 0 < timestamp 1 and not current: stale");
        assert!(s.rows.iter().all(|r| r.status == TokStatus::Revoked), "the client session is detached");
        assert_eq!(s.as_ghost.foreign_revocations, 4, "tokens 1, 3, 5 and 6 of the other chain, not yet revoked");

        // Max reuse 1: the current token may be used twice, the third use fails.
        p.window.uses = Some(1);
        let mut s = AsState::signed_in(1, 1, p.reuse_state);
        assert_eq!(redeem(&p, &mut s, 1), Some(2));
        assert_eq!(redeem(&p, &mut s, 1), Some(3), "count 1 is not above max reuse 1");
        assert_eq!(redeem(&p, &mut s, 1), None, "count 2 > 1: Maximum allowed refresh token reuse exceeded");
    }

    #[test]
    fn keycloak_reuse_id_keeps_chains_apart_but_ties_within_a_chain_fork() {
        let mut p = policy(Rotation::Rotate, OnReuse::DetachClientSession, Grace::None, Window::default());
        p.reuse_state = ReuseState::PerReuseId;
        let mut s = AsState::signed_in(1, 2, p.reuse_state);
        assert_eq!(redeem(&p, &mut s, 1), Some(3));
        s.now = 1;
        assert_eq!(redeem(&p, &mut s, 3), Some(4), "chain 0 moves on at tick 1");
        assert_eq!(redeem(&p, &mut s, 2), Some(5), "chain 1 has its own state: token 2 is not stale");
        assert_eq!(
            s.reuse,
            [
                ReuseEntry { current: Some(3), count: 1, timestamp: 1 },
                ReuseEntry { current: Some(2), count: 1, timestamp: 1 }
            ]
        );
        assert_eq!(redeem(&p, &mut s, 1), None, "token 1: issued at 0 < chain 0's last refresh 1: stale");
        assert!(s.rows.iter().all(|r| r.status == TokStatus::Revoked), "the client session is detached");

        // Within one chain and one tick, a rotated-away token is not stale: it is current
        // again and forks the chain.
        let mut s = AsState::signed_in(1, 1, p.reuse_state);
        assert_eq!(redeem(&p, &mut s, 1), Some(2));
        assert_eq!(redeem(&p, &mut s, 2), Some(3));
        assert_eq!(redeem(&p, &mut s, 1), Some(4), "iat 0 is not before the last refresh 0");
        let active = s.rows.iter().filter(|r| r.status == TokStatus::Active).count();
        assert_eq!(active, 2, "tokens 3 and 4 both live");
    }

    #[test]
    fn two_nodes_number_tokens_across_the_cluster_and_replication_overwrites_the_entry() {
        let p = policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::None, Window::default());
        let mut s = AsState::signed_in_cluster(1, 2, ReuseState::PerChain);
        assert_eq!(s.on_node(0, |s| redeem(&p, s, 1)), Some(3));
        assert_eq!(s.on_node(1, |s| redeem(&p, s, 2)), Some(4), "numbered after node 1's token 3");
        assert_eq!(s.on_node(1, |s| redeem(&p, s, 3)), None, "node 2 has not received token 3");
        let c = s.cluster.as_ref().unwrap();
        assert_eq!(c.second.rows[2].status, TokStatus::Unknown);
        assert!(c.outbox[0].is_some() && c.outbox[1].is_some());
        assert!(s.replicate(1), "node 2's entry overwrites node 1's");
        assert_eq!(s.row(3), None, "node 1 lost its own write");
        assert_eq!(s.rows[0].status, TokStatus::Active, "token 1 is active again on node 1");
        assert!(!s.replicate(1), "nothing left to replicate from node 2");
        assert!(s.replicate(0), "node 1's last write is still to be sent");
        assert_eq!(s.cluster.as_ref().unwrap().second.rows.len(), 3, "and it overwrites node 2's");
    }

    #[test]
    fn lifetimes_refuse_and_no_rotation_keeps_the_token() {
        let mut p = policy(Rotation::None, OnReuse::Reject, Grace::None, Window::default());
        p.idle = Some(2);
        p.absolute = Some(6);
        let mut s = AsState::signed_in(1, 1, ReuseState::PerChain);
        s.now = 2;
        assert_eq!(redeem(&p, &mut s, 1), Some(1));
        s.now = 5;
        assert_eq!(redeem(&p, &mut s, 1), None, "idle: 5 > 2 + 2");
        s.families[0].last_activity = 5;
        s.now = 6;
        assert_eq!(redeem(&p, &mut s, 1), None, "absolute: 6 >= 0 + 6");
    }
}
