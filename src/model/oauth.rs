//! A second server kind: an OAuth 2.0 authorization server (AS) that redeems refresh tokens
//! (`grant_type=refresh_token`, RFC 6749 §6): its store, the state the protocol language's
//! handlers read and write ([`crate::protocol`], interpreted by [`super::interpret`]).
//!
//! The token table keeps every refresh token ever issued with its family (one per sign-in),
//! parent link, generation and status (active, superseded at a tick with a count of grace
//! uses, or revoked), and each family its sign-in and last-activity ticks for the idle and
//! absolute lifetimes, plus the fields a protocol declares per family ([`Family::fields`]) and
//! per client session ([`AsState::sessions`]).
//!
//! A refresh is two actions with `steps: read-then-write`: the read snapshots the presented
//! token's row ([`ReadView`]); the write, a later step, decides from that snapshot and writes
//! blindly, so another request's write can run in between (the read-then-write fork of
//! nightscout/nocturne PR 326, `industry-policies.md` C07). `atomic` does both in one action
//! (a serialisable transaction or a compare-and-set). A revocation (sign-out, RFC 7009) is
//! always one action.
//!
//! Families are sign-ins; the families of one device form its client session
//! ([`Family::session`]), several when each tab logged in on its own.
//!
//! With `replicas: 2` ([`Cluster`], C09) two nodes each keep their own copy of the table; a
//! request is served on the copy of the node the load balancer routes it to, and a node's
//! write reaches the other node only by a later replication action that overwrites the other
//! node's whole copy.
//!
//! Errors: every refused redemption is answered `invalid_grant` (RFC 6749 §5.2), modelled as
//! 401 [`HttpError::InvalidCredentials`]; the client treats any refusal as a logout.

use serde::Serialize;

use super::{ClientKey, ServerGhost, Tick, Token};

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
    /// Issued at (the JWT's `iat`), in ticks; recorded only when some rule of the protocol
    /// reads `presented.issued_at` (else 0).
    pub iat: Tick,
    /// The protocol's declared per-token fields (`fields.token`), in name order (0: none),
    /// all 0 at minting; unused slots stay 0.
    pub fields: Fields,
}

impl TokRow {
    /// A family's first token as a sign-in inserts it, with status `status`: no parent,
    /// generation 0, no child, unused, issued at tick 0, no declared fields set. With
    /// [`TokStatus::Unknown`] it is a row no token has yet (a token reserved for a sign-in
    /// during the run; with family `u8::MAX`, a number minted on another node and not received,
    /// or rolled back).
    pub fn first(family: u8, status: TokStatus) -> TokRow {
        TokRow { family, parent: None, gen: 0, status, child: None, used: false, iat: 0, fields: Fields::default() }
    }
}

/// An access token number: access token `n` is [`AsState::access`]`[n - 1]`.
pub type AccessId = u8;

/// One access token the authorization server issued: with each sign-in's first refresh token
/// and with every 2xx answer to a refresh. Kept only when the protocol uses access tokens
/// ([`crate::protocol::Protocol::uses_access`]) or the browser makes ordinary calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AccessRow {
    /// The refresh token it was issued with (for `ok access-only`, the presented one).
    pub refresh: Token,
    /// That refresh token's family.
    pub family: u8,
    /// Issued at, in ticks (the JWT's `iat`).
    pub issued_at: Tick,
    /// Expires at, in ticks (the JWT's `exp`): `issued_at + time.access_token_ttl`.
    pub expires_at: Tick,
    /// It has been presented in an ordinary request answered 2xx (MAS `first_used_at`).
    pub used: bool,
    /// It was revoked (`revoke access`, `revoke presented.access`, `revoke
    /// presented.child.access`); only rules that read `access.revoked` act on it.
    pub revoked: bool,
}

/// One sign-in's family (Supabase session, Auth0 family, Hydra consent grant, Keycloak
/// login chain: its `reuse_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Family {
    /// The client session the sign-in belongs to: its device (one browser's SSO session). With
    /// one login per device each client session has one family; with `browser.logins:
    /// per-tab` every tab's login is a family of its device's client session.
    pub session: u8,
    /// The OAuth client it was signed in with (`family.client`): 0, or its device with
    /// `clients: per-device`.
    pub client: u8,
    /// Sign-in tick (inherited by every token of the family).
    pub login_at: Tick,
    /// Tick of the last successful redemption (idle lifetime).
    pub last_activity: Tick,
    /// The protocol's declared per-family fields, in name order (0: none); unused slots stay 0.
    pub fields: Fields,
}

impl Family {
    /// The device (browser) the family was signed in on: its client session, or, with
    /// `clients: per-device` (every family in the user's one session, signed in with its
    /// device's client), its client.
    pub fn device(&self) -> u8 {
        if self.client != 0 {
            self.client
        } else {
            self.session
        }
    }
}

/// The values of a protocol's declared fields of one family or client session, in name order.
pub type Fields = [u8; crate::protocol::MAX_FIELDS];

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
    /// Its newest child's declared per-token fields (all 0 without a child).
    pub child_fields: Fields,
    /// Its client session's declared fields (all 0 when the protocol declares none).
    pub session: Fields,
    /// The user's declared fields (`fields.user`; all 0 when the protocol declares none).
    pub user_fields: Fields,
    /// The newest access token issued with the presented refresh token (for an ordinary
    /// request: the presented access token), if the store keeps access tokens.
    pub access: Option<(AccessId, AccessRow)>,
    /// The newest access token issued with the presented token's newest child.
    pub child_access: Option<(AccessId, AccessRow)>,
    /// The rows of the tokens the protocol's followed paths name
    /// ([`crate::protocol::Protocol::follows`], in slot order), as this read saw them: `None`
    /// when the path is `none` or names a token the store has no row for, and always `None`
    /// for a protocol that follows no path (nothing more is kept).
    pub follow: [Option<TokRow>; crate::protocol::expr::MAX_FOLLOWS],
    /// What the server knows of the user's sessions (`user.*`), as this read saw it; all zero
    /// for a protocol that reads none ([`crate::protocol::Protocol::reads_user`]).
    pub user: UserView,
    /// In a sign-out that is a revocation endpoint (`sign_out.revocation`): the token it was
    /// sent was found as an access token (`token_type == access_token`); false everywhere else.
    pub found_as_access: bool,
}

/// What the server knows of the user's sessions on a read (`user.*`): every family of every
/// device is the user's. Counts and token numbers, 0 (`none`) when there is none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct UserView {
    /// `user.active_tokens`: active refresh tokens, a count.
    pub active_tokens: u8,
    /// `user.active_families`: families with an active token, a count.
    pub active_families: u8,
    /// `user.oldest`: the lowest active token of the family with the earliest sign-in
    /// (`login_at`, then family number) among those with an active token.
    pub oldest: Token,
    /// `user.newest`: the highest active token of the family with the latest sign-in.
    pub newest: Token,
    /// `user.least_recently_used`: the lowest active token of the family whose last 2xx
    /// redemption (`last_used_at`, its sign-in tick before any) is the earliest, then by
    /// sign-in (`login_at`, then family number), among those with an active token.
    pub least_recent: Token,
    /// `user.most_recently_used`: the highest active token of the family redeemed latest, then
    /// signed in latest.
    pub most_recent: Token,
}

/// The first token of device `d`'s family, reserved at the start for a device that signs in
/// during the run (`browser.sign_ins`, one sign-in per device): token `d + 1`.
pub fn reserved_token(d: u8) -> Token {
    d + 1
}

/// What a handler serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AsEndpoint {
    /// `grant_type=refresh_token`.
    Refresh,
    /// Sign-out: revoke the presented token's family (RFC 7009).
    Revoke,
}

/// A refresh in progress: on arrival, or between two steps of its handler.
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
    /// Ghost: the user of the token's client session (its device) had signed out, by any
    /// token or none, when the request arrived, or the token's family was signed out (by
    /// another device's sign-out whose rule is marked `evicts`, too).
    pub after_user_sign_out: bool,
    /// Ghost: it arrived after a password change was answered, presenting a token of a family
    /// signed in before that change ([`AsGhost::before_password_change`]).
    pub after_password_change: bool,
    /// Ghost: the attacker's theft mark when the request arrived.
    pub theft_mark: Option<Token>,
    /// Ghost: the request is a retry re-sending the token of an attempt whose answer the
    /// client never got (LP2).
    pub retry: bool,
    /// The handler's step it runs next (0 on arrival).
    pub step: u8,
    /// The token an earlier step of this request minted, if any (`ok minted`).
    pub minted: Option<Token>,
    /// Ghost: when an earlier step of this request wrote (claimed, rotated, minted), the
    /// redemption as the store had it then: the tick, and whether the token was superseded and
    /// more than one generation behind (SP1 iii). A 2xx answered later is judged by this, not
    /// by the store at the answer.
    pub judged: Option<(Tick, bool)>,
    /// The protocol's declared per-request fields (`request.NAME`), in name order, 0 on
    /// arrival.
    pub vars: Fields,
    /// A sign-in during the run (`browser.sign_ins`), served by the `sign_in` handler: `token`
    /// is the new family's first token, reserved and not yet inserted ([`TokStatus::Unknown`])
    /// until the handler answers `signed_in`.
    pub sign_in: bool,
    /// The access token the refresh presented beside its refresh token
    /// (`refresh.presents: ["refresh_token", "access_token"]`), read as `access.*` at every
    /// step; `None` when it presents none (or the refresh presents its refresh token alone).
    pub access: Option<AccessId>,
    /// The server instance serving it (`protocol.instances`), counted from 0: the lowest
    /// instance whose lock of the family is free when it arrives under a lock of
    /// `lock_scope: instance`; 0 otherwise.
    pub instance: u8,
}

/// The value an entry of the store had before a transaction in progress first wrote it: what
/// a rollback restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Before {
    /// Token `n`'s row (`None`: the transaction inserted it).
    Row(Token, Option<TokRow>),
    /// A family.
    Family(u8, Family),
    /// A client session's declared fields.
    Session(u8, Fields),
    /// The user's declared fields (`fields.user`).
    User(Fields),
}

impl AsHandler {
    /// A refresh of `token` arriving from `client` (request `slot`; `retry`: a retry of an
    /// unanswered attempt, ghost), with the store `s` as it reads on arrival.
    pub fn arriving(s: &AsState, client: ClientKey, slot: u8, token: Token, retry: bool) -> AsHandler {
        let view = s.read(token);
        let after_sign_out = view.row.is_some_and(|r| s.as_ghost.signed_out & (1 << r.family) != 0);
        // A family a sign-out marked `evicts` ended on another device is its user's sign-out too.
        let after_user_sign_out = after_sign_out
            || view.row.is_some_and(|r| {
                s.families.get(r.family as usize).is_some_and(|f| s.as_ghost.user_signed_out & (1 << f.session) != 0)
            });
        let after_password_change = view.row.is_some_and(|r| s.as_ghost.before_password_change & (1 << r.family) != 0);
        AsHandler {
            client,
            slot,
            token,
            view,
            after_sign_out,
            after_user_sign_out,
            after_password_change,
            theft_mark: s.ghost.theft_mark,
            retry,
            step: 0,
            minted: None,
            judged: None,
            vars: Fields::default(),
            sign_in: false,
            access: None,
            instance: 0,
        }
    }

    /// The same refresh presenting access token `a` beside its refresh token: its arrival
    /// view reads `a`'s row as `access.*` (nothing when `a` is `None` or has no row).
    pub fn presenting_access(mut self, s: &AsState, a: Option<AccessId>) -> AsHandler {
        self.access = a;
        self.view.access = a.and_then(|a| s.access_row(a).map(|r| (a, r)));
        self
    }

    /// A sign-in during the run arriving for reserved token `token` (its family's first, not
    /// yet inserted): served by the `sign_in` handler.
    pub fn signing_in(s: &AsState, client: ClientKey, token: Token) -> AsHandler {
        let view = s.read_reserved(token);
        AsHandler {
            client,
            slot: 0,
            token,
            view,
            after_sign_out: false,
            after_user_sign_out: false,
            after_password_change: false,
            theft_mark: s.ghost.theft_mark,
            retry: false,
            step: 0,
            minted: None,
            judged: None,
            vars: Fields::default(),
            sign_in: true,
            access: None,
            instance: 0,
        }
    }
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
    /// Client sessions (devices) a sign-in or sign-out rule marked `evicts` ended as the
    /// protocol intends (bit per device): `no_spurious_logout` does not count their logouts.
    pub evicted: u8,
    /// Families whose first token is reserved for a sign-in during the run and not yet
    /// inserted (bit per family).
    pub pending: u8,
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
    /// Client sessions (devices) whose user has had a sign-out answered (bit per device).
    pub user_signed_out: u8,
    /// Client sessions (devices) whose latest sign-out ran a rule that keeps the acting
    /// session ([`super::interpret::keeps_acting_session`]: "sign out other devices"), bit per
    /// device: the user clicked sign out, yet the session stays valid in the ground truth
    /// ([`crate::properties::session_valid`]).
    pub kept_by_sign_out: u8,
    /// Refreshes that arrived after the user's sign-out and were answered 2xx with a refresh
    /// token that was not active at the answer: a dead cookie handed out. A count.
    pub dead_after_sign_out: u8,
    /// Refreshes that arrived after the user's sign-out and were answered 2xx with an active
    /// refresh token (or, `ok access-only`, while the presented token was active): a live
    /// session revived. A count.
    pub live_after_sign_out: u8,
    /// Families signed in before a password change on some device was answered 2xx (bit per
    /// family; `browser.re_sign_in_is: password-change` only): every token of them was issued
    /// before a change. The new session the change answered with is not among them.
    pub before_password_change: u8,
    /// Refreshes that arrived after a password change was answered and were answered 2xx for
    /// a token of a family signed in before it (`password_change_revokes_all`): a count.
    pub ok_after_password_change: u8,
    /// A refresh was answered 2xx to a client other than the one its token's family signed
    /// in with (with a request field of type `client` only; `mode_binding`): 0 or 1.
    pub cross_client: u8,
}

impl AsGhost {
    /// The user's sign-out from `device` has been served: a rule that keeps the acting session
    /// (`kept`) leaves the device's user signed in and marks the session kept; any other
    /// sign-out (one that ran no rule included: the server was asked to sign the user out and
    /// answered it did) marks the user signed out and the session no longer kept.
    pub fn record_sign_out(&mut self, device: usize, kept: bool) {
        let bit = 1u8 << device;
        if kept {
            self.kept_by_sign_out |= bit;
        } else {
            self.user_signed_out |= bit;
            self.kept_by_sign_out &= !bit;
        }
    }
}

/// One node's copy of the session entry: the token table, the families and Keycloak's
/// declared fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Table {
    /// The token table (see [`AsState::rows`]).
    pub rows: Vec<TokRow>,
    /// The families (see [`AsState::families`]).
    pub families: Vec<Family>,
    /// Declared fields per client session (see [`AsState::sessions`]).
    pub sessions: Vec<Fields>,
    /// The user's declared fields (see [`AsState::user`]).
    pub user: Fields,
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
    /// With sticky routing: the node each client was first served by, sorted by client; a
    /// retrying tab is one client whatever refresh round its request belongs to ([`sticky_key`]).
    pub affinity: Vec<(ClientKey, u8)>,
}

/// The client sticky routing keeps to one node ([`Cluster::affinity`]): the tab, whatever
/// refresh round its request belongs to ([`crate::model::browser::requesters::without_round`]).
pub fn sticky_key(client: ClientKey) -> ClientKey {
    ClientKey { tab: crate::model::browser::requesters::without_round(client.tab), ..client }
}

impl Cluster {
    /// The nodes `client`'s request may be routed to under `routing`.
    pub fn nodes_for(&self, routing: crate::protocol::Routing, client: ClientKey) -> std::ops::RangeInclusive<u8> {
        let client = sticky_key(client);
        match self.affinity.iter().find(|(c, _)| *c == client) {
            Some(&(_, n)) if routing == crate::protocol::Routing::Sticky => n..=n,
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
    /// The protocol's declared per-client-session fields, one entry per client session
    /// (device); empty when the protocol declares none.
    pub sessions: Vec<Fields>,
    /// The protocol's declared per-user fields (`fields.user`, in name order): the user row
    /// every family of every device belongs to (a `passwordChangedAt` column). All 0 when the
    /// protocol declares none, so that states are as they were.
    pub user: Fields,
    /// Refreshes between read and write, sorted by client.
    pub handlers: Vec<AsHandler>,
    /// Ghost for the properties shared with the Directus model.
    pub ghost: ServerGhost,
    /// Ghost for the authorization-server properties.
    pub as_ghost: AsGhost,
    /// The second node, with `replicas: 2`; `None` with one node. Boxed: held inline it was
    /// more than half of this state, the largest [`super::NodeState`] variant, whose size every
    /// actor state of every model is allocated at (536 bytes with it inline, 272 boxed).
    pub cluster: Option<Box<Cluster>>,
    /// Restarts the server process may still make: a count (0 unless the protocol declares
    /// `restarts`).
    pub restarts_left: u8,
    /// The undo log of the transactions in progress (handlers declared `transaction`): per
    /// request (client, slot), the entries it wrote, as they were before its first write;
    /// sorted. Empty otherwise.
    pub undo: Vec<(ClientKey, u8, Before)>,
    /// Every access token issued ([`AccessRow`]); access token `n` is `access[n - 1]`. Empty
    /// unless the store keeps access tokens (then sign-in gives each family's first refresh
    /// token access token `f + 1`).
    pub access: Vec<AccessRow>,
    /// A sign-in again is the user's password change (`browser.re_sign_in_is:
    /// password-change`): its 2xx answer marks the families signed in before it
    /// ([`AsGhost::before_password_change`]). The same in every state of a model.
    pub password_changes: bool,
}

impl AsState {
    /// `devices` client sessions with `logins` sign-ins each, all at tick 0: token `i + 1` is
    /// family `i`'s first token, and family `i` belongs to client session `i / logins`. The
    /// declared per-client-session fields are kept only if `session_fields` (the protocol
    /// declares some).
    pub fn signed_in(devices: u8, logins: u8, session_fields: bool) -> AsState {
        let families = devices * logins;
        AsState {
            now: 0,
            rows: (0..families).map(|f| TokRow::first(f, TokStatus::Active)).collect(),
            families: (0..families)
                .map(|f| Family {
                    session: f / logins,
                    client: 0,
                    login_at: 0,
                    last_activity: 0,
                    fields: Fields::default(),
                })
                .collect(),
            sessions: if session_fields { vec![Fields::default(); devices as usize] } else { vec![] },
            user: Fields::default(),
            handlers: vec![],
            ghost: ServerGhost::default(),
            as_ghost: AsGhost::default(),
            cluster: None,
            restarts_left: 0,
            undo: vec![],
            access: vec![],
            password_changes: false,
        }
    }

    /// Device `d` signs in during the run: its family's first token (token `d + 1`) is
    /// reserved, not inserted ([`TokStatus::Unknown`]: no request knows it) until its sign-in
    /// answers `signed_in` ([`AsGhost::pending`]).
    pub fn reserve_sign_in(&mut self, d: u8) {
        if let Some(r) = self.rows.get_mut(d as usize) {
            r.status = TokStatus::Unknown;
            self.as_ghost.pending |= 1 << d;
        }
    }

    /// Device `d` may sign in again during the run (`browser.re_sign_ins`): a new family of
    /// its client session, appended after every family there is, whose first token (the
    /// family's number + 1) is reserved, not inserted, until that sign-in answers `signed_in`
    /// ([`AsGhost::pending`]). Called before any token is minted, so that family `f`'s first
    /// token stays token `f + 1`.
    pub fn reserve_re_sign_in(&mut self, d: u8) {
        let f = self.families.len() as u8;
        self.families.push(Family { session: d, client: 0, login_at: 0, last_activity: 0, fields: Fields::default() });
        self.rows.push(TokRow::first(f, TokStatus::Unknown));
        self.as_ghost.pending |= 1 << f;
    }

    /// The first token reserved for device `d`'s next sign-in during the run: that of the
    /// lowest family of the device still pending ([`AsGhost::pending`]); `None` when it has
    /// none left.
    pub fn next_reserved(&self, d: u8) -> Option<Token> {
        self.families
            .iter()
            .enumerate()
            .find(|(f, fam)| self.as_ghost.pending & (1 << f) != 0 && fam.device() == d)
            .map(|(f, _)| f as Token + 1)
    }

    /// The store keeps access tokens: each family's first refresh token (token `f + 1`) gets
    /// access token `f + 1`, issued at tick 0 and expiring at `ttl`.
    /// A family whose sign-in is reserved for the run (`browser.sign_ins`, `re_sign_ins`) gets
    /// none here: its access token is issued with its sign-in's answer
    /// ([`Self::issue_access`]). Those families come after every other, so access token
    /// `f + 1` stays family `f`'s.
    pub fn keep_access_tokens(&mut self, ttl: Tick) {
        let pending = self.as_ghost.pending;
        self.access = (0..self.families.len() as u8)
            .take_while(|f| pending & (1 << f) == 0)
            .map(|f| AccessRow {
                refresh: f + 1,
                family: f,
                issued_at: 0,
                expires_at: ttl,
                used: false,
                revoked: false,
            })
            .collect();
    }

    /// The newest access token issued with refresh token `t`, if any.
    pub fn access_of(&self, t: Token) -> Option<(AccessId, AccessRow)> {
        self.access.iter().enumerate().rev().find(|(_, a)| a.refresh == t).map(|(i, a)| (i as AccessId + 1, *a))
    }

    /// Access token `a`'s row, if it exists.
    pub fn access_row(&self, a: AccessId) -> Option<AccessRow> {
        (a as usize).checked_sub(1).and_then(|i| self.access.get(i)).copied()
    }

    /// Issues an access token with refresh token `t` now, expiring `ttl` ticks later, if the
    /// store keeps access tokens; returns its number. At most 255 (then none is issued).
    pub fn issue_access(&mut self, t: Token, ttl: Tick) -> Option<AccessId> {
        if self.access.is_empty() || self.access.len() >= 255 {
            return None;
        }
        let family = self.row(t).map_or(u8::MAX, |r| r.family);
        let now = self.now;
        self.access.push(AccessRow {
            refresh: t,
            family,
            issued_at: now,
            expires_at: now.saturating_add(ttl),
            used: false,
            revoked: false,
        });
        Some(self.access.len() as AccessId)
    }

    /// Revokes every access token issued with refresh token `t`.
    pub fn revoke_access_of(&mut self, t: Token) {
        for a in self.access.iter_mut().filter(|a| a.refresh == t) {
            a.revoked = true;
        }
    }

    /// `clients: per-device` ([`crate::protocol::Clients::PerDevice`]): family `f` of device
    /// `d` is signed in with client `d`, and every family is in the one session of the user.
    pub fn clients_per_device(&mut self) {
        for f in self.families.iter_mut() {
            f.client = f.session;
            f.session = 0;
        }
        self.sessions.truncate(1);
    }

    /// Records, for request `(client, slot)`, the entries that differ between `before` (the
    /// store as it was before one of its steps) and the store now, unless it recorded them
    /// already: the undo log of its transaction.
    pub fn log_undo(&mut self, client: ClientKey, slot: u8, before: &Table) {
        let add = |s: &mut AsState, b: Before| {
            let key = |b: &Before| match *b {
                Before::Row(t, _) => (0, t),
                Before::Family(f, _) => (1, f),
                Before::Session(e, _) => (2, e),
                Before::User(_) => (3, 0),
            };
            let mine = s.undo.iter().any(|(c, n, x)| (*c, *n) == (client, slot) && key(x) == key(&b));
            if !mine {
                let at = s.undo.partition_point(|e| *e < (client, slot, b));
                s.undo.insert(at, (client, slot, b));
            }
        };
        for i in 0..self.rows.len() {
            let was = before.rows.get(i).copied();
            if was != Some(self.rows[i]) {
                add(self, Before::Row(i as Token + 1, was));
            }
        }
        for i in 0..self.families.len() {
            if before.families[i] != self.families[i] {
                add(self, Before::Family(i as u8, before.families[i]));
            }
        }
        for i in 0..self.sessions.len() {
            if before.sessions[i] != self.sessions[i] {
                add(self, Before::Session(i as u8, before.sessions[i]));
            }
        }
        if before.user != self.user {
            add(self, Before::User(before.user));
        }
    }

    /// The store's tables as they are now (for [`AsState::log_undo`]).
    pub fn table(&self) -> Table {
        Table {
            rows: self.rows.clone(),
            families: self.families.clone(),
            sessions: self.sessions.clone(),
            user: self.user,
        }
    }

    /// Rolls back the transaction of request `(client, slot)`: every entry it wrote gets its
    /// value from before its first write, except the declared fields kept in memory
    /// (`keep_family`, `keep_session`, `keep_token`: indices of the `in_memory` fields), which are not in the
    /// database; a row it inserted is gone (the store has no row for it; token numbers are not
    /// reused, as a database sequence is not rolled back). Then the log is dropped.
    pub fn roll_back(&mut self, client: ClientKey, slot: u8, keep: [&[u8]; 3]) {
        let [keep_family, keep_session, keep_token] = keep;
        let gone = TokRow::first(u8::MAX, TokStatus::Unknown);
        for (_, _, b) in self.undo.iter().filter(|(c, n, _)| (*c, *n) == (client, slot)) {
            match *b {
                Before::Row(t, was) => {
                    let now = &mut self.rows[t as usize - 1];
                    let mut was = was.unwrap_or(gone);
                    if was.status != TokStatus::Unknown {
                        for &i in keep_token {
                            was.fields[i as usize] = now.fields[i as usize];
                        }
                    }
                    *now = was;
                }
                Before::Family(f, mut was) => {
                    for &i in keep_family {
                        was.fields[i as usize] = self.families[f as usize].fields[i as usize];
                    }
                    self.families[f as usize] = was;
                }
                Before::Session(e, mut was) => {
                    for &i in keep_session {
                        was[i as usize] = self.sessions[e as usize][i as usize];
                    }
                    self.sessions[e as usize] = was;
                }
                // The user row is in the database: no field of it is kept in memory.
                Before::User(was) => self.user = was,
            }
        }
        self.commit(client, slot);
    }

    /// Drops the undo log of request `(client, slot)`: its transaction committed.
    pub fn commit(&mut self, client: ClientKey, slot: u8) {
        self.undo.retain(|(c, n, _)| (*c, *n) != (client, slot));
    }

    /// The same sign-ins on two nodes, each with its own copy of the session entry (C09).
    pub fn signed_in_cluster(devices: u8, logins: u8, session_fields: bool) -> AsState {
        let mut s = AsState::signed_in(devices, logins, session_fields);
        let second =
            Table { rows: s.rows.clone(), families: s.families.clone(), sessions: s.sessions.clone(), user: s.user };
        let minted = s.rows.len() as Token;
        s.cluster = Some(Box::new(Cluster { second, outbox: [None, None], pending: vec![], minted, affinity: vec![] }));
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
                std::mem::swap(&mut s.sessions, &mut c.second.sessions);
                std::mem::swap(&mut s.user, &mut c.second.user);
            }
        };
        if node == 1 {
            swap(self);
        }
        let table = |s: &AsState| Table {
            rows: s.rows.clone(),
            families: s.families.clone(),
            sessions: s.sessions.clone(),
            user: s.user,
        };
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
            self.sessions = t.sessions;
            self.user = t.user;
        }
        true
    }

    /// The row of token `t`, if this copy of the entry knows it.
    pub fn row(&self, t: Token) -> Option<&TokRow> {
        (t as usize).checked_sub(1).and_then(|i| self.rows.get(i)).filter(|r| r.status != TokStatus::Unknown)
    }

    /// The read step: what the row of `t` and its family look like now.
    pub fn read(&self, t: Token) -> ReadView {
        self.read_row(t, self.row(t).copied())
    }

    /// The read of a sign-in: token `t` is the new family's first, not yet inserted
    /// ([`TokStatus::Unknown`] in the store, so no other read counts it and no revocation
    /// reaches it), read with its family and client session as it will be inserted: active.
    pub fn read_reserved(&self, t: Token) -> ReadView {
        let row = (t as usize).checked_sub(1).and_then(|i| self.rows.get(i)).copied();
        self.read_row(t, row.map(|r| TokRow { status: TokStatus::Active, ..r }))
    }

    /// What the server knows of the user's sessions now ([`UserView`]).
    pub fn user_view(&self) -> UserView {
        let mut v = UserView::default();
        let mut oldest: Option<(Tick, u8, Token)> = None;
        let mut newest: Option<(Tick, u8, Token)> = None;
        let mut least_recent: Option<((Tick, Tick, u8), Token)> = None;
        let mut most_recent: Option<((Tick, Tick, u8), Token)> = None;
        for (f, fam) in self.families.iter().enumerate() {
            let live: Vec<Token> = (self.rows.iter().enumerate())
                .filter(|(_, r)| r.family as usize == f && r.status == TokStatus::Active)
                .map(|(i, _)| i as Token + 1)
                .collect();
            let (Some(&lo), Some(&hi)) = (live.first(), live.last()) else { continue };
            v.active_tokens = v.active_tokens.saturating_add(live.len() as u8);
            v.active_families += 1;
            let key = (fam.login_at, f as u8);
            if oldest.is_none_or(|(t, g, _)| key < (t, g)) {
                oldest = Some((key.0, key.1, lo));
            }
            if newest.is_none_or(|(t, g, _)| key > (t, g)) {
                newest = Some((key.0, key.1, hi));
            }
            let used = (fam.last_activity, fam.login_at, f as u8);
            if least_recent.is_none_or(|(k, _)| used < k) {
                least_recent = Some((used, lo));
            }
            if most_recent.is_none_or(|(k, _)| used > k) {
                most_recent = Some((used, hi));
            }
        }
        v.oldest = oldest.map_or(0, |x| x.2);
        v.newest = newest.map_or(0, |x| x.2);
        v.least_recent = least_recent.map_or(0, |x| x.1);
        v.most_recent = most_recent.map_or(0, |x| x.1);
        v
    }

    fn read_row(&self, t: Token, row: Option<TokRow>) -> ReadView {
        let family = row.map(|r| self.families[r.family as usize]);
        let newest_gen = row.map_or(0, |r| {
            self.rows
                .iter()
                .filter(|x| x.family == r.family && !matches!(x.status, TokStatus::Revoked | TokStatus::Unknown))
                .map(|x| x.gen)
                .max()
                .unwrap_or(r.gen)
        });
        let child_row = row.and_then(|r| r.child).and_then(|c| self.row(c));
        let child = child_row.map(|c| (c.status, c.used));
        let child_fields = child_row.map_or(Fields::default(), |c| c.fields);
        let session = family.and_then(|f| self.sessions.get(f.session as usize)).copied().unwrap_or_default();
        let (access, child_access) = if self.access.is_empty() {
            (None, None)
        } else {
            (row.and(self.access_of(t)), row.and_then(|r| r.child).and_then(|c| self.access_of(c)))
        };
        ReadView {
            row,
            family,
            newest_gen,
            child,
            child_fields,
            session,
            user_fields: self.user,
            access,
            child_access,
            follow: [None; crate::protocol::expr::MAX_FOLLOWS],
            user: UserView::default(),
            found_as_access: false,
        }
    }

    /// [`AsState::read`], also capturing the rows the token-valued paths `follows` name
    /// ([`crate::protocol::Protocol::follows`]): each path's root is taken from this same read
    /// (the presented row, its family, its client session, its newest child), for `request.F`
    /// from the request's declared fields `vars` as they are at this read, and for `minted`
    /// from the token the request minted before this read (`minted`); each link is then
    /// followed through the store as it is now, and the row of the last token is kept (`None`
    /// when a token on the way is `none` or has no row).
    pub fn read_following(
        &self,
        t: Token,
        follows: &[crate::protocol::expr::Path],
        vars: &Fields,
        minted: Option<Token>,
    ) -> ReadView {
        self.follow_paths(self.read(t), follows, vars, minted)
    }

    /// Captures, on read `view` (with its [`UserView`] already taken), the rows the
    /// token-valued paths `follows` name, as [`AsState::read_following`] does.
    pub fn follow_paths(
        &self,
        mut view: ReadView,
        follows: &[crate::protocol::expr::Path],
        vars: &Fields,
        minted: Option<Token>,
    ) -> ReadView {
        use crate::protocol::expr::{Column, Var};
        let Some(row) = view.row else { return view };
        let known = |n: Option<Token>| n.filter(|&n| n != 0).and_then(|n| self.row(n)).copied();
        for (slot, path) in view.follow.iter_mut().zip(follows) {
            let mut named = match path.root {
                Var::Parent => row.parent,
                Var::Child => row.child,
                Var::Minted => minted,
                Var::FamilyField(i) => view.family.map(|f| f.fields[i as usize]),
                Var::SessionField(i) => Some(view.session[i as usize]),
                Var::RequestField(i) => Some(vars[i as usize]),
                Var::TokenField(i) => Some(row.fields[i as usize]),
                Var::ChildField(i) => Some(view.child_fields[i as usize]),
                Var::UserOldest => Some(view.user.oldest),
                Var::UserNewest => Some(view.user.newest),
                Var::UserLeastRecentlyUsed => Some(view.user.least_recent),
                Var::UserMostRecentlyUsed => Some(view.user.most_recent),
                _ => None,
            };
            for link in path.links.iter().flatten() {
                named = known(named).and_then(|r| match *link {
                    Column::Parent => r.parent,
                    Column::Child => r.child,
                    Column::Field(i) => Some(r.fields[i as usize]),
                    _ => None,
                });
            }
            *slot = known(named);
        }
        view
    }

    /// Revokes every live token of family `f`; returns how many were live.
    pub fn revoke_family(&mut self, f: u8) -> u8 {
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

    /// Ghost: records when token `t` was first superseded.
    pub fn mark_superseded(&mut self, t: Token) {
        if let Err(at) = self.ghost.superseded.binary_search_by_key(&t, |&(x, _)| x) {
            self.ghost.superseded.insert(at, (t, self.now));
        }
    }

    /// Ghost: records the latest tick at which token `t` was accepted.
    pub fn mark_accepted(&mut self, t: Token, now: Tick) {
        match self.ghost.accepted.binary_search_by_key(&t, |&(x, _)| x) {
            Ok(i) => self.ghost.accepted[i].1 = self.ghost.accepted[i].1.max(now),
            Err(i) => self.ghost.accepted.insert(i, (t, now)),
        }
    }
}
