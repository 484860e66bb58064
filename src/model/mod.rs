//! The actor model of one browser, the Directus API process and its session store.
//!
//! Three actors, wired by [`build`]:
//! - [`Node::Browser`]: the tabs, their shared cookie jar and storage, and the optional
//!   attacker who copies what the browser held ([`browser`]);
//! - [`Node::Server`]: the API process, whose handlers are `session_server` programs run by
//!   the interpreter ([`sessions`]; Directus's `server` section is a preset of it), and the
//!   logical clock in ticks (the API computes `now`, as Directus does in JavaScript);
//! - [`Node::Store`]: the `directus_sessions` table ([`store`]).
//!
//! Messages are HTTP requests and responses between browser and server, and SQL statements and
//! results between server and store. Each delivery is one atomic step, so another request's
//! statement can run between two statements of one handler, as between two `await`s in
//! Node.js. Which policy the server follows is data ([`policy`]).
//!
//! Ghost state (the user's ground truth, what the browser held, which tokens were superseded or
//! accepted when, what happened after a sign-out) sits beside the protocol state and is never
//! read by a handler or by the app; the properties read it.
//!
//! A model file with an `auth_server` section builds a second kind instead ([`build`]): one
//! browser per device and an OAuth authorization server ([`Node::AuthServer`], [`oauth`]) that
//! keeps its token table itself, each refresh's read and write being one or two actions (with
//! two replicas: a routing action, then the read and write on one node's copy, and replication
//! actions between the copies).
//!
//! Sources: `shared/research/directus-protocol.md` §1 (server) and §3 (app), read from
//! `@directus/api` 18.2.1 / 19.1.1 and `@directus/app` 12.1.1; Directus issue 22360 and pull
//! requests 22433, 22353, 22457, 22464, 22503.

mod auth_actor;
pub mod browser;
pub mod cached;
pub mod client_word;
pub mod dead;
pub mod faults;
pub mod frontier;
pub mod hashed;
pub mod interpret;
pub mod oauth;
pub mod packed;
pub mod policy;
pub mod server;
pub mod sessions;
pub mod store;
pub mod symmetry;
pub mod system;

use std::borrow::Cow;

use serde::Serialize;
use stateright::actor::{model_timeout, Actor, Id, Out};

use crate::properties;
use crate::protocol::sessions::SessionProgram;
use crate::scenario::{NetworkKind, Scenario};
use browser::{BrowserCfg, BrowserState, Send};
use cached::Cached;
use policy::{AuthMode, ServerPolicy, ServerSteps, StoreConcurrency};
use server::{Credentials, Endpoint, Handler, Stage, StepOut, Ttls};
use store::{Sql, SqlResult, StoreState};

/// A session token (a row's primary key; Directus uses a 64-character nanoid). Tokens are
/// numbered in the order the server mints them; the signed-in session's token is 1.
pub type Token = u8;
/// Logical time, in ticks. TTLs in model files are tick counts.
pub type Tick = u8;
/// A tab's index within its browser.
pub type TabIx = u8;

/// The [`ClientKey::tab`] (and message `tab`) of the attacker's requests: not a tab of the
/// browser, but whoever copied its tokens.
pub const ATTACKER: TabIx = u8::MAX;

/// The session cookie `directus_session_token`: a signed (not encrypted) JWT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SessionJwt {
    /// The `session` claim: the row's token.
    pub session: Token,
    /// The `exp` claim, in ticks (`now + SESSION_COOKIE_TTL` at issue).
    pub exp: Tick,
}

/// Who sent a request: a tab of a browser actor, or the attacker ([`ATTACKER`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ClientKey {
    /// The browser's actor index.
    pub browser: u8,
    /// The tab within it, or [`ATTACKER`].
    pub tab: TabIx,
}

/// Why the server refused, with Directus's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum HttpError {
    /// 400 `INVALID_PAYLOAD`: no token in the body or cookie.
    InvalidPayload,
    /// 401 `TOKEN_EXPIRED`: the JWT is past its `exp`.
    TokenExpired,
    /// 401 `INVALID_CREDENTIALS`: no (unexpired) session row for the token, or (mode-bound
    /// sessions) a row of another mode.
    InvalidCredentials,
    /// 500 `INTERNAL_SERVER_ERROR`: G2 found no row (it was deleted meanwhile) and the
    /// destructuring of `undefined` throws (`@directus/api` 19.1.1 `updateStatefulSession`).
    Internal,
}

impl HttpError {
    /// The HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            HttpError::InvalidPayload => 400,
            HttpError::TokenExpired | HttpError::InvalidCredentials => 401,
            HttpError::Internal => 500,
        }
    }
}

/// An HTTP response: 2xx (with what it sets) or an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Reply {
    /// A 200. `set_cookie` is the new `directus_session_token` (session mode). `token` is the
    /// new refresh token, in the body (json) or in `Set-Cookie: directus_refresh_token`
    /// (cookie mode). `expires_at` is the tick the app records as `accessTokenExpiry`.
    /// `access` is the access token it carries when the authorization server keeps access
    /// tokens ([`oauth::AccessRow`]; `None` otherwise).
    Ok {
        set_cookie: Option<SessionJwt>,
        token: Option<Token>,
        expires_at: Option<Tick>,
        access: Option<oauth::AccessId>,
    },
    /// 200 of the sign-out (`POST /auth/logout`): the browser drops its refresh token or
    /// cookies and the tab is logged out (Directus clears both of its cookies).
    SignedOut,
    /// 4xx or 5xx.
    Err(HttpError),
}

/// Every message of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Msg {
    /// Browser → server: `POST /auth/refresh {"mode": …}` with what `cred` carries. Ghost
    /// `retry`: the tab sends again the token of an earlier attempt whose answer it has not
    /// received (C19; read only by the LP2 bookkeeping).
    RefreshRequest { tab: TabIx, cred: Credentials, retry: bool, access: Option<oauth::AccessId> },
    /// Browser → server: `GET /users/me` with the jar's cookie or the tab's access token.
    UsersMeRequest { tab: TabIx, cred: Credentials },
    /// Server → browser: the refresh's response.
    RefreshResponse { tab: TabIx, reply: Reply },
    /// Server → browser: the ordinary request's response.
    UsersMeResponse { tab: TabIx, reply: Reply },
    /// Browser → authorization server: an ordinary call (an API request) presenting access
    /// token `access` (`None`: the tab holds none), served by the protocol's `request`
    /// handler.
    CallRequest { tab: TabIx, access: Option<oauth::AccessId> },
    /// Authorization server → browser: the call's answer (2xx, or an error).
    CallResponse { tab: TabIx, reply: Reply },
    /// Server → store: one SQL statement of the handler serving `client`; `seq` is its issue
    /// number (one connection) or 0 (pool).
    Query { client: ClientKey, seq: u8, sql: Sql },
    /// Store → server: that statement's result.
    QueryResult { client: ClientKey, result: SqlResult },
    /// Server → store, atomic driver only: run the whole handler as one transaction.
    Transaction { handler: Handler, now: Tick },
    /// Store → server, atomic driver only: the transaction's response for `handler`.
    TransactionDone { handler: Handler, reply: Reply, orphan: bool },
    /// Browser → server: `POST /auth/logout {"mode": …}`; `access`: the access token it
    /// presents when the protocol's sign-out presents one (`sign_out.presents`), else `None`.
    LogoutRequest { tab: TabIx, cred: Credentials, access: Option<oauth::AccessId> },
    /// Server → browser: the sign-out's response.
    LogoutResponse { tab: TabIx, reply: Reply },
    /// Browser → authorization server: tab `tab`'s follow-up (`browser.follow_up`): refresh
    /// token `token` presented to the `sign_out` handler, run as a revocation (RFC 7009): no
    /// user signs out.
    FollowUpRequest { tab: TabIx, token: Option<Token> },
    /// Authorization server → browser: the follow-up's answer, which the tab ignores.
    FollowUpResponse { tab: TabIx, reply: Reply },
    /// Browser → authorization server: the user signs in on this device during the run
    /// (`browser.sign_ins`), from tab `tab`; served by the protocol's `sign_in` handler.
    SignInRequest { tab: TabIx },
    /// Authorization server → browser: the sign-in's answer (2xx with the new family's first
    /// refresh token).
    SignInResponse { tab: TabIx, reply: Reply },
    /// Server → itself, only with `time.max_in_flight_ticks`: the clock has just advanced to
    /// `now`. Sending it records the tick in the model's history ([`InFlight`]); delivering it
    /// re-arms the clock. Not a protocol message.
    ClockTicked { now: Tick },
}

/// The model's history (stateright's recorded message traffic), used only with
/// `time.max_in_flight_ticks` and `lossy.max_losses`: the clock as the history saw it tick,
/// when each message in flight was sent, and how many messages were lost. Empty (and never
/// changed) without either, so the search is as before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct InFlight {
    /// The clock, in ticks: one more per [`Msg::ClockTicked`] sent.
    pub now: Tick,
    /// `(sender, receiver, message, tick sent)` of every message in flight but the clock's,
    /// sorted.
    pub sent: Vec<(usize, usize, Msg, Tick)>,
    /// Messages lost so far: a count, kept only with `lossy.max_losses` ([`faults::Losses`]);
    /// 0 otherwise.
    pub losses: u8,
}

/// Records a message sent, with the clock's tick ([`InFlight`]); a [`Msg::ClockTicked`] sent
/// advances the recorded clock.
fn record_sent(cfg: &Cfg, h: &InFlight, e: stateright::actor::Envelope<&Msg>) -> Option<InFlight> {
    cfg.max_in_flight_ticks?;
    let mut h = h.clone();
    match e.msg {
        Msg::ClockTicked { now } => h.now = *now,
        m => {
            let entry = (usize::from(e.src), usize::from(e.dst), *m, h.now);
            let at = h.sent.partition_point(|x| x < &entry);
            h.sent.insert(at, entry);
        }
    }
    Some(h)
}

/// Records a message delivered: of identical copies in flight, the one sent first (a copy is
/// indistinguishable from another, and delivering the oldest leaves the most room).
fn record_delivered(cfg: &Cfg, h: &InFlight, e: stateright::actor::Envelope<&Msg>) -> Option<InFlight> {
    cfg.max_in_flight_ticks?;
    if matches!(e.msg, Msg::ClockTicked { .. }) {
        return None;
    }
    let mut h = h.clone();
    let key = (usize::from(e.src), usize::from(e.dst), *e.msg);
    if let Some(i) = h.sent.iter().position(|x| (x.0, x.1, x.2) == key) {
        h.sent.remove(i); // sorted by tick within equal messages: the oldest
    }
    Some(h)
}

/// Every timer of the model. Timers carry no duration: a set timer may fire at any moment.
#[allow(missing_docs)] // variant fields are described in each variant's doc
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Timer {
    /// The tab is loaded or returns from idle, and runs the app's `refresh()`.
    TabRefreshes(TabIx),
    /// The tab makes an ordinary request.
    TabRequests(TabIx),
    /// The tab makes an ordinary call with its access token (`browser.calls_per_tab`).
    TabCalls(TabIx),
    /// The attacker makes an ordinary call with a copied access token.
    AttackerCalls(oauth::AccessId),
    /// The server's clock advances one tick.
    Tick,
    /// The user signs out in this tab.
    TabSignsOut(TabIx),
    /// The user signs in on a device that signs in during the run (`browser.sign_ins`), from
    /// its first tab.
    DeviceSignsIn,
    /// PR 22457 localStorage fallback: a waiting tab reads the lock key again.
    TabPollsLock(TabIx),
    /// PR 22457 localStorage fallback: a tab that read the key free sets it and refreshes.
    TabSetsLock(TabIx),
    /// The attacker redeems a copied credential.
    AttackerRedeems(Credentials),
    /// With `attacker.steals: "once"`: the attacker reads the browser's storage and copies
    /// what it holds now ([`browser::storage_theft`]).
    AttackerReadsStorage,
    /// The tab aborts its refresh in flight (`browser.aborts_per_tab`; [`browser::aborts`]).
    TabAbortsRefresh(TabIx),
    /// With `browser.reads_token: "before-send"`: the tab sends the refresh token it read in
    /// an earlier step ([`browser::token_read`]).
    TabSendsReadToken(TabIx),
    /// The browser's clock advances one tick (freshness check only).
    BrowserTick,
    /// A tab whose refresh got no answer (yet) gives up waiting and sends it again, with the
    /// token it holds now (`industry-policies.md` C19).
    TabRetries(TabIx),
    /// Lagging shared storage: the last `localStorage` write reaches this tab's view.
    StorageSyncs(TabIx),
    /// C18: the tab holding the Web Lock hangs.
    TabHangsWithLock(TabIx),
    /// C18: a waiting tab steals the Web Lock.
    TabStealsLock(TabIx),
    /// With `browser.lock_wait_ticks`: a tab whose wait for the Web Lock ran out gives it up
    /// and runs `browser.on_lock_timeout` ([`browser::lock_wait`]).
    TabGivesUpLock(TabIx),
    /// Broadcast leader: the pending `BroadcastChannel` message reaches this tab.
    TabGetsBroadcast(TabIx),
    /// Broadcast leader: this leader, with its refresh in flight, is closed or frozen for good.
    TabCloses(TabIx),
    /// The notice of another tab's sign-out (`browser.sign_out_notice`: its `storage` event
    /// or `BroadcastChannel` message) reaches this tab.
    TabHearsSignOut(TabIx),
    /// A waiting tab blocked for good takes one of its own steps and finds itself still
    /// waiting (LP4 bounded; a follower's timeout).
    TabWaits(TabIx),
    /// C09, two server nodes: the load balancer routes `client`'s pending request to `node`
    /// (0 or 1), which serves it on its own copy of the session entry.
    NodeServes { client: ClientKey, slot: u8, node: u8 },
    /// C09: node `0` or `1` replicates its last write to the other node, overwriting that
    /// node's whole entry.
    NodeReplicates(u8),
    /// The authorization server's process restarts: it loses its in-memory fields and every
    /// request in progress.
    ServerRestarts,
    /// The authorization server runs the next step of the refresh serving `client` (request
    /// `slot`): a handler of several steps hands itself on as a timer, which a lossy network
    /// cannot lose.
    ServerStep { client: ClientKey, slot: u8 },
    /// Requester `.1` (1 or more) of tab `.0` starts its own refresh with the token it reads
    /// now, whatever else the tab has in flight (`browser.requesters_per_tab`;
    /// [`browser::requesters`]).
    RequesterRefreshes(TabIx, u8),
    /// With the reaction `wait-for-token-change`: a tab waiting for the stored token to change
    /// reads it again, and the read decides: the token changed, or the wait ran out
    /// ([`browser::store_wait`]).
    TabRereadsToken(TabIx),
    /// The user reloads the tab while its refresh is in flight: the request is cancelled and
    /// the new page refreshes with its stored credential (`browser.reloads_per_tab`;
    /// nhost/hasura-backend-plus issue 220).
    TabReloads(TabIx),
    /// With `browser.ok_writes` other than `one`: the tab makes the second storage write of
    /// its 2xx ([`browser::crash`]).
    TabFinishesStoring(TabIx),
    /// With `browser.crashes_per_tab`: the tab's process dies and starts again with what
    /// storage holds ([`browser::crash`]).
    TabCrashes(TabIx),
}

/// Ghost bookkeeping of the API process (never read by a handler).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ServerGhost {
    /// `(token, tick)`: when each token was first superseded (W1 renamed it away, or G1 set its
    /// `next_token`), by the server's clock when it learned the write affected a row (at or
    /// after the write ran). Sorted by token. Split handlers only.
    pub superseded: Vec<(Token, Tick)>,
    /// `(token, tick)`: the latest tick at which a request presenting `token` (refresh token or
    /// session claim) was checked by a handler that then answered 2xx. Sorted by token.
    pub accepted: Vec<(Token, Tick)>,
    /// Refreshes in json or cookie mode answered 2xx for a row issued in session mode: a count.
    pub cross_mode: u8,
    /// A sign-out has been answered.
    pub signed_out: bool,
    /// Requests that arrived after a sign-out was answered and were answered 2xx: a count.
    pub ok_after_sign_out: u8,
    /// Of those, on a session table, the refreshes and ordinary requests whose `select` of the
    /// token they present found its row (live: present and not expired) after the sign-out
    /// was answered, and whose answer is not marked `orphan` (it names a row): the session
    /// lives on (`sign_out_no_session_revived`). A count.
    pub live_after_sign_out: u8,
    /// The first token number not yet drawn when the attacker was first answered 2xx with a
    /// token that names a row (not an orphan).
    pub theft_mark: Option<Token>,
    /// Tab refreshes that arrived after that and were answered 2xx, presenting a token drawn
    /// before it: a count.
    pub theft_shared: u8,
}

/// The API process's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ServerState {
    /// The clock, in ticks.
    pub now: Tick,
    /// The next token `nanoid(64)` will return.
    pub next_fresh: Token,
    /// Requests in progress, sorted by client.
    pub handlers: Vec<Handler>,
    /// One connection: the issue number of the next statement. Always 0 with a pool.
    pub next_seq: u8,
    /// Ghost: tokens handed out whose write matched no row (PR 22433 scenario 2), a count.
    pub orphan_cookies: u8,
    /// Ghost bookkeeping for the properties.
    pub ghost: ServerGhost,
    /// What the dead-value reduction needs of the model ([`dead::Params`]): constant, no part
    /// of the state's identity.
    #[serde(skip)]
    pub dead: dead::Params,
}

/// One actor's state. Each hashes as its content's hash, computed once per distinct state
/// ([`Cached`]), so that fingerprinting a successor re-hashes only the actors its step changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum NodeState {
    /// See [`BrowserState`].
    Browser(Cached<BrowserState>),
    /// See [`ServerState`].
    Server(Cached<ServerState>),
    /// See [`StoreState`].
    Store(Cached<StoreState>),
    /// See [`oauth::AsState`].
    AuthServer(Cached<oauth::AsState>),
}

/// An actor of the model, with its configuration.
#[derive(Clone, Debug)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Node {
    /// A browser, signed in with `jwt` (session mode) or `token` (json, cookie mode).
    Browser { server: Id, cfg: BrowserCfg, jwt: SessionJwt, token: Token },
    /// The API process; its handlers are `program` ([`sessions`]); `policy` says whether each
    /// statement is its own action or a handler one transaction, and how the store runs them;
    /// `bounded_flight`: `time.max_in_flight_ticks` is set.
    Server {
        store: Id,
        policy: ServerPolicy,
        ttl: Ttls,
        max_ticks: Tick,
        first_fresh: Token,
        program: std::sync::Arc<SessionProgram>,
        bounded_flight: bool,
        /// Carried into the server's state for the dead-value reduction.
        dead: dead::Params,
    },
    /// The session store, starting as `init`; `program` as the server's (for transactions).
    Store { init: StoreState, policy: ServerPolicy, ttl: Ttls, program: std::sync::Arc<SessionProgram> },
    /// An OAuth authorization server ([`oauth`]) running `protocol` ([`interpret`]) with
    /// `devices` client sessions of `logins` sign-ins each at tick 0; access tokens live
    /// `access_ttl` ticks.
    AuthServer {
        protocol: std::sync::Arc<crate::protocol::Protocol>,
        access_ttl: Tick,
        /// The store keeps access tokens ([`keeps_access_tokens`]).
        access_tokens: bool,
        max_ticks: Tick,
        devices: u8,
        logins: u8,
        /// The last `sign_ins` devices sign in during the run (`browser.sign_ins`): their
        /// families' first tokens are reserved, not inserted, at the start.
        sign_ins: u8,
        /// Sign-ins again per device signed in at the start (`browser.re_sign_ins`): a family
        /// each, reserved after the devices' own at the start.
        re_sign_ins: u8,
        /// The device (numbered from 1) whose user signs in again (`browser.re_sign_in_from`);
        /// `None`: every device signed in at the start.
        re_sign_in_from: Option<u8>,
        /// Each sign-in again is the user's password change (`browser.re_sign_in_is`).
        password_changes: bool,
        bounded_flight: bool,
    },
}

/// What properties need from the model file; the model's `cfg`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cfg {
    /// Actor indices of the browsers.
    pub browsers: Vec<usize>,
    /// Actor index of the server.
    pub server: usize,
    /// Actor index of the store.
    pub store: usize,
    /// The ground-truth session lifetime in ticks from sign-in (`None`: it does not end within
    /// the bounds unless the user signs out).
    pub session_lifetime: Option<Tick>,
    /// How long a superseded token stays redeemable: `SESSION_REFRESH_GRACE_PERIOD` with the
    /// grace window, else 0 ticks.
    pub grace: Tick,
    /// The browser keeps a clock (freshness check), which may lag the server's by one tick.
    pub browser_clock: bool,
    /// `time.max_in_flight_ticks`: the clock may not advance more than this many ticks past
    /// the tick a message still in flight was sent at ([`InFlight`]); `None`: unbounded.
    pub max_in_flight_ticks: Option<Tick>,
    /// `browser.retry_timeout: after-loss`: a tab's retry ([`Timer::TabRetries`]) is enabled
    /// only once nothing of its refresh is in flight or in progress ([`timer_enabled`]).
    pub retry_after_loss: bool,
    /// `browser.on_timeout`: a timeout ends the tab's refresh round ([`browser::timeouts`]),
    /// so under `after-loss` only the requests and answers of its current round keep it
    /// waiting (an abandoned round's answer is dropped when it comes).
    pub timeout_ends_round: bool,
    /// The word texts use for a client (`browser.client_word`; default `tab`); it changes no
    /// state or step.
    pub client_word: client_word::ClientWord,
}

/// The model checked by refresh-check ([`system::System`]).
pub type RefreshModel = system::System;
/// A global state of [`RefreshModel`].
pub type State = system::State;
/// An action of [`RefreshModel`].
pub type Action = system::Action;

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type State = NodeState;
    type Storage = ();
    type Random = ();

    fn name(&self) -> String {
        match self {
            Node::Browser { .. } => "browser",
            Node::Server { .. } => "server",
            Node::Store { .. } => "store",
            Node::AuthServer { .. } => "server",
        }
        .to_string()
    }

    fn on_start(&self, _id: Id, _storage: &Option<()>, o: &mut Out<Self>) -> NodeState {
        match self {
            Node::Browser { cfg, jwt, token, .. } => {
                let b = BrowserState::signed_in(cfg, *jwt, *token);
                arm_browser_timers(&b, cfg, o);
                NodeState::Browser(b.into())
            }
            Node::Server { max_ticks, first_fresh, dead, .. } => {
                if *max_ticks > 0 {
                    o.set_timer(Timer::Tick, model_timeout());
                }
                NodeState::Server(
                    ServerState {
                        now: 0,
                        next_fresh: *first_fresh,
                        handlers: vec![],
                        next_seq: 0,
                        orphan_cookies: 0,
                        ghost: ServerGhost::default(),
                        dead: *dead,
                    }
                    .into(),
                )
            }
            Node::Store { init, .. } => NodeState::Store(init.clone().into()),
            Node::AuthServer {
                protocol,
                max_ticks,
                devices,
                logins,
                access_tokens,
                access_ttl,
                sign_ins,
                re_sign_ins,
                re_sign_in_from,
                password_changes,
                ..
            } => {
                if *max_ticks > 0 {
                    o.set_timer(Timer::Tick, model_timeout());
                }
                let session_fields = !protocol.session_fields.is_empty();
                let mut s = if protocol.replicas > 1 {
                    oauth::AsState::signed_in_cluster(*devices, *logins, session_fields)
                } else {
                    let mut s = oauth::AsState::signed_in(*devices, *logins, session_fields);
                    for d in 0..devices.saturating_sub(*sign_ins) {
                        if re_sign_in_from.is_some_and(|from| from != d + 1) {
                            continue;
                        }
                        for _ in 0..*re_sign_ins {
                            s.reserve_re_sign_in(d);
                        }
                    }
                    if protocol.clients == crate::protocol::Clients::PerDevice {
                        s.clients_per_device();
                    }
                    for d in devices.saturating_sub(*sign_ins)..*devices {
                        s.reserve_sign_in(d);
                    }
                    interpret::sign_ins(protocol, &mut s);
                    s
                };
                if *access_tokens {
                    s.keep_access_tokens(*access_ttl);
                }
                s.password_changes = *password_changes;
                s.restarts_left = protocol.restarts;
                if s.restarts_left > 0 {
                    o.set_timer(Timer::ServerRestarts, model_timeout());
                }
                NodeState::AuthServer(s.into())
            }
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<NodeState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        match self {
            Node::Browser { server, cfg, .. } => browser_on_msg(*server, cfg, state, msg, o),
            Node::Server { max_ticks, .. } | Node::AuthServer { max_ticks, .. }
                if matches!(msg, Msg::ClockTicked { .. }) =>
            {
                let Msg::ClockTicked { now } = msg else { return };
                rearm_clock(now, *max_ticks, o);
            }
            Node::Server { store, policy, ttl, program, .. } => {
                server_on_msg(*store, policy, ttl, program, state, src, msg, o)
            }
            Node::AuthServer { protocol, access_ttl, .. } => {
                auth_actor::on_msg(protocol, *access_ttl, state, src, msg, o)
            }
            Node::Store { policy, ttl, program, .. } => {
                let NodeState::Store(s) = state.as_ref() else { return };
                match msg {
                    Msg::Query { client, seq, sql } => {
                        let one = policy.store == StoreConcurrency::OneConnection;
                        if one && seq != s.next_seq {
                            return; // not this statement's turn: a no-op, pruned
                        }
                        let mut s = s.clone();
                        let result = s.exec(sql);
                        if one {
                            s.next_seq += 1;
                        }
                        if *s != *state.as_ref().store() {
                            *state = Cow::Owned(NodeState::Store(s));
                        }
                        o.send(src, Msg::QueryResult { client, result });
                    }
                    Msg::Transaction { handler, now } => {
                        let mut s = s.clone();
                        let out = sessions::run_atomically(program, ttl, now, handler, &mut s);
                        if *s != *state.as_ref().store() {
                            *state = Cow::Owned(NodeState::Store(s));
                        }
                        if let StepOut::Respond { h, reply, orphan } = out {
                            o.send(src, Msg::TransactionDone { handler: h, reply, orphan });
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<NodeState>, timer: &Timer, o: &mut Out<Self>) {
        match (self, timer) {
            (Node::Server { max_ticks, bounded_flight, .. }, Timer::Tick) => {
                let NodeState::Server(s) = state.to_mut() else { return };
                s.now += 1;
                tick_out(s.now, *max_ticks, *bounded_flight, id, o);
            }
            (Node::AuthServer { max_ticks, bounded_flight, .. }, Timer::Tick) => {
                let NodeState::AuthServer(s) = state.to_mut() else { return };
                s.now += 1;
                tick_out(s.now, *max_ticks, *bounded_flight, id, o);
            }
            (Node::AuthServer { protocol, access_ttl, .. }, Timer::NodeServes { .. } | Timer::NodeReplicates(_)) => {
                auth_actor::on_cluster_timer(protocol, *access_ttl, state, timer, o)
            }
            (Node::AuthServer { protocol, access_ttl, .. }, Timer::ServerStep { client, slot }) => {
                auth_actor::on_server_step(protocol, *access_ttl, state, *client, *slot, o)
            }
            (Node::AuthServer { protocol, .. }, Timer::ServerRestarts) => auth_actor::on_restart(protocol, state, o),
            (Node::Browser { server, cfg, .. }, _) => {
                let NodeState::Browser(before) = state.as_ref() else { return };
                let mut b = before.clone();
                let (changed, sent) = match *timer {
                    Timer::DeviceSignsIn => {
                        if b.start_sign_in(cfg) {
                            o.send(*server, Msg::SignInRequest { tab: 0 });
                            arm_browser_timers(&b, cfg, o);
                            *state = Cow::Owned(NodeState::Browser(b));
                        }
                        return;
                    }
                    Timer::TabRefreshes(t) => {
                        if cfg.requesters > 1 && b.join_refresh_in_flight(cfg, t, 0) {
                            (true, None) // single-flight: it awaits the page's refresh in flight
                        } else {
                            let sent = b.start_refresh(cfg, t);
                            (b != *before, sent)
                        }
                    }
                    Timer::TabRequests(t) => {
                        let sent = b.start_request(cfg, t);
                        (sent.is_some(), sent)
                    }
                    Timer::TabCalls(t) => {
                        // A call may wait for a refresh already in flight and send nothing.
                        let left = b.tabs[t as usize].calls_left;
                        let sent = b.start_call(cfg, t);
                        (b.tabs[t as usize].calls_left != left, sent)
                    }
                    Timer::AttackerCalls(a) => {
                        let sent =
                            b.start_attacker_call(cfg, a).then_some(Send::Call { tab: ATTACKER, access: Some(a) });
                        (sent.is_some(), sent)
                    }
                    Timer::TabSignsOut(t) => {
                        // Under the Web Lock the sign-out may queue and send nothing yet: a
                        // sign-out that starts always spends one of the device's.
                        let sent = b.start_sign_out(cfg, t);
                        (b.sign_outs_left != before.sign_outs_left, sent)
                    }
                    Timer::TabPollsLock(t) => {
                        if !b.poll_lock(t) {
                            o.set_timer(*timer, model_timeout()); // still taken: a pruned no-op
                            return;
                        }
                        (true, None)
                    }
                    Timer::TabSetsLock(t) => {
                        let sent = b.set_lock(cfg, t);
                        (sent.is_some(), sent)
                    }
                    Timer::AttackerRedeems(cred) => {
                        let sent = b.start_attack(cfg, cred).then_some(Send::Refresh {
                            tab: ATTACKER,
                            cred,
                            retry: false,
                            access: None,
                        });
                        (sent.is_some(), sent)
                    }
                    Timer::AttackerReadsStorage => (b.read_storage(cfg), None),
                    Timer::TabAbortsRefresh(t) => {
                        let could = b.may_abort(t);
                        let sent = b.abort(cfg, t);
                        (could, sent)
                    }
                    Timer::TabSendsReadToken(t) => {
                        let sent = b.send_read_token(cfg, t);
                        (sent.is_some(), sent)
                    }
                    Timer::TabRereadsToken(t) => {
                        let could = b.may_reread_token(cfg, t);
                        let sent = b.reread_token(cfg, t);
                        (could, sent)
                    }
                    Timer::BrowserTick => {
                        b.now += 1;
                        (true, None)
                    }
                    Timer::TabRetries(t) if cfg.on_timeout.is_some() => {
                        let could = b.may_time_out(t);
                        let sent = b.time_out(cfg, t);
                        (could, sent)
                    }
                    Timer::TabRetries(t) => {
                        let sent = b.retry_refresh(cfg, t);
                        (sent.is_some(), sent)
                    }
                    Timer::StorageSyncs(t) => (b.sync_storage(t), None),
                    Timer::TabHangsWithLock(t) => (b.hang(t), None),
                    Timer::TabStealsLock(t) => b.steal_lock(cfg, t),
                    Timer::TabGivesUpLock(t) => (b.give_up_lock(cfg, t), None),
                    Timer::TabGetsBroadcast(t) => (b.deliver_broadcast(cfg, t), None),
                    Timer::TabCloses(t) => (b.close_leader(cfg, t), None),
                    Timer::TabHearsSignOut(t) => (b.hear_sign_out(cfg, t), None),
                    Timer::TabWaits(t) => b.wait_step(cfg, t),
                    Timer::RequesterRefreshes(t, r) => {
                        if b.join_refresh_in_flight(cfg, t, r) {
                            (true, None) // single-flight: it awaits the page's refresh in flight
                        } else {
                            let sent = b.start_requester_refresh(cfg, t, r);
                            (sent.is_some(), sent)
                        }
                    }
                    Timer::TabReloads(t) => {
                        let sent = b.reload(cfg, t);
                        (sent.is_some(), sent)
                    }
                    Timer::TabFinishesStoring(t) => (b.finish_storing(cfg, t), None),
                    Timer::TabCrashes(t) => (b.crash(t), None),
                    Timer::Tick
                    | Timer::NodeServes { .. }
                    | Timer::NodeReplicates(_)
                    | Timer::ServerStep { .. }
                    | Timer::ServerRestarts => (false, None),
                };
                if !changed {
                    return;
                }
                if let Some(send) = sent {
                    o.send(*server, request_msg(b.wire(send)));
                }
                arm_browser_timers(&b, cfg, o);
                *state = Cow::Owned(NodeState::Browser(b));
            }
            _ => {}
        }
    }
}

/// After the clock advanced to `now`: re-arm it while `now < max_ticks`; with the in-flight
/// bound, announce the tick to the history instead ([`Msg::ClockTicked`], whose delivery
/// re-arms it).
fn tick_out(now: Tick, max_ticks: Tick, bounded_flight: bool, id: Id, o: &mut Out<Node>) {
    if bounded_flight {
        o.send(id, Msg::ClockTicked { now });
    } else if now < max_ticks {
        o.set_timer(Timer::Tick, model_timeout());
    }
}

/// Delivery of [`Msg::ClockTicked`] to the server: the clock may tick again (a command either
/// way, so the delivery is never a pruned no-op).
fn rearm_clock(now: Tick, max_ticks: Tick, o: &mut Out<Node>) {
    if now < max_ticks {
        o.set_timer(Timer::Tick, model_timeout());
    } else {
        o.cancel_timer(Timer::Tick);
    }
}

impl NodeState {
    /// The frontier pool that keeps this allocation as its shared copy, 0 if none
    /// ([`Cached::pool`]).
    pub fn pool(&self) -> u32 {
        match self {
            NodeState::Browser(x) => x.pool(),
            NodeState::Server(x) => x.pool(),
            NodeState::Store(x) => x.pool(),
            NodeState::AuthServer(x) => x.pool(),
        }
    }

    /// Marks this allocation as the shared copy of pool `id` ([`Cached::mark_pool`]).
    pub fn mark_pool(&self, id: u32) {
        match self {
            NodeState::Browser(x) => x.mark_pool(id),
            NodeState::Server(x) => x.mark_pool(id),
            NodeState::Store(x) => x.mark_pool(id),
            NodeState::AuthServer(x) => x.mark_pool(id),
        }
    }

    /// Keeps the content hashes of the state's parts ([`hashed::Seal`]): a browser's tabs.
    /// The content is unchanged.
    pub fn seal(&mut self) {
        use hashed::Seal;
        if let NodeState::Browser(b) = self {
            b.seal();
        }
    }

    fn store(&self) -> &StoreState {
        match self {
            NodeState::Store(s) => s,
            _ => unreachable!("not a store"),
        }
    }
}

fn request_msg(send: Send) -> Msg {
    match send {
        Send::Refresh { tab, cred, retry, access } => Msg::RefreshRequest { tab, cred, retry, access },
        Send::UsersMe { tab, cred } => Msg::UsersMeRequest { tab, cred },
        Send::Logout { tab, cred, access } => Msg::LogoutRequest { tab, cred, access },
        Send::Call { tab, access } => Msg::CallRequest { tab, access },
        Send::FollowUp { tab, token } => Msg::FollowUpRequest { tab, token },
    }
}

/// Sets the browser's timers that may fire now and cancels the others: an idle tab with
/// budget left may refresh, request or sign out; a waiting tab may poll or set the
/// localStorage lock; the attacker may redeem any copied credential while it has attempts.
fn arm_browser_timers(b: &BrowserState, cfg: &BrowserCfg, o: &mut Out<Node>) {
    use browser::TabStatus;
    let mut set = |timer: Timer, on: bool| {
        if on {
            o.set_timer(timer, model_timeout());
        } else {
            o.cancel_timer(timer);
        }
    };
    if cfg.signs_in_during_run {
        // A device that signs in during the run does nothing else until it has signed in.
        set(Timer::DeviceSignsIn, b.sign_in == browser::SignInStage::Pending);
        if b.sign_in != browser::SignInStage::Done {
            return;
        }
    }
    if cfg.re_sign_ins > 0 {
        // The user may sign in again on this device at any moment (`browser.re_sign_ins`).
        set(Timer::DeviceSignsIn, b.can_sign_in_again(cfg));
    }
    for (t, tab) in b.tabs.iter().enumerate() {
        let t = t as TabIx;
        let idle = tab.status == TabStatus::Idle;
        set(Timer::TabRefreshes(t), idle && tab.refreshes_left > 0 && b.trigger_fires(cfg, t, 0));
        set(Timer::TabRequests(t), idle && tab.requests_left > 0);
        if cfg.calls > 0 {
            set(Timer::TabCalls(t), b.may_call(t));
        }
        if cfg.sign_outs > 0 {
            set(Timer::TabSignsOut(t), idle && b.sign_outs_left > 0);
        }
        if cfg.coordination == policy::Coordination::LocalStorage {
            set(Timer::TabPollsLock(t), tab.status == TabStatus::WaitingLock);
            set(Timer::TabSetsLock(t), tab.status == TabStatus::LockSeenFree);
        }
    }
    if let (Some(a), Some((_, modes))) = (b.attacker, &cfg.attacker) {
        set(Timer::AttackerReadsStorage, b.may_read_storage(cfg));
        let armed = a.attempts_left > 0 && !a.busy && !modes.is_empty();
        // Every credential it could redeem; the held lists only grow, so this covers every
        // timer armed before.
        for cred in b.copied_credentials(cfg) {
            set(Timer::AttackerRedeems(cred), armed);
        }
        if cfg.attacker_calls {
            for &acc in &b.held.access {
                set(Timer::AttackerCalls(acc), armed);
            }
        }
    }
    if cfg.reads_browser_clock() {
        set(Timer::BrowserTick, b.now < cfg.max_ticks);
    }
    if cfg.mode == AuthMode::Json && cfg.storage == policy::JsonStorage::SharedLagging {
        for (t, tab) in b.tabs.iter().enumerate() {
            set(Timer::StorageSyncs(t as TabIx), tab.token != b.storage);
        }
    }
    if cfg.lock_hangs > 0 || cfg.lock_steal {
        for (t, tab) in b.tabs.iter().enumerate() {
            let t = t as TabIx;
            let holding = b.lock == Some(t) && matches!(tab.status, TabStatus::Refreshing { .. });
            set(Timer::TabHangsWithLock(t), cfg.lock_hangs > 0 && holding && b.hangs_left > 0);
            let waiting = tab.status == TabStatus::WaitingLock && b.lock.is_some();
            set(Timer::TabStealsLock(t), cfg.lock_steal && waiting);
        }
    }
    if cfg.lock_wait_ticks.is_some() {
        for t in 0..b.tabs.len() as TabIx {
            set(Timer::TabGivesUpLock(t), b.may_give_up_lock(cfg, t));
        }
    }
    if cfg.retries > 0 {
        for (t, tab) in b.tabs.iter().enumerate() {
            let waiting = matches!(tab.status, TabStatus::Refreshing { .. });
            // With a timeout of N ticks, only once its clock has advanced N since its last
            // attempt was sent.
            let timed_out =
                cfg.retry_after_ticks.is_none_or(|n| tab.sent_at.is_some_and(|at| b.now >= at.saturating_add(n)));
            set(Timer::TabRetries(t as TabIx), waiting && tab.retries_left > 0 && timed_out);
        }
    }
    if cfg.coordination == policy::Coordination::BroadcastLeader {
        for (t, tab) in b.tabs.iter().enumerate() {
            let t = t as TabIx;
            set(Timer::TabGetsBroadcast(t), tab.inbox.is_some());
            let refreshing = matches!(tab.status, TabStatus::Refreshing { .. });
            set(Timer::TabCloses(t), b.closes_left > 0 && cfg.is_leader(t) && refreshing);
        }
    }
    if cfg.sign_out_notice != policy::SignOutNotice::None {
        for (t, tab) in b.tabs.iter().enumerate() {
            set(Timer::TabHearsSignOut(t as TabIx), tab.notice);
        }
    }
    if cfg.requesters > 1 {
        for t in 0..b.tabs.len() as TabIx {
            for r in 1..cfg.requesters {
                set(Timer::RequesterRefreshes(t, r), b.requester_may_start(t, r) && b.trigger_fires(cfg, t, r));
            }
        }
    }
    if cfg.reloads > 0 {
        for t in 0..b.tabs.len() as TabIx {
            set(Timer::TabReloads(t), b.may_reload(t));
        }
    }
    if cfg.aborts > 0 {
        for t in 0..b.tabs.len() as TabIx {
            set(Timer::TabAbortsRefresh(t), b.may_abort(t));
        }
    }
    if !cfg.ok_writes.is_default() {
        for t in 0..b.tabs.len() as TabIx {
            set(Timer::TabFinishesStoring(t), b.may_finish_storing(t));
        }
    }
    if cfg.crashes > 0 {
        for t in 0..b.tabs.len() as TabIx {
            set(Timer::TabCrashes(t), b.may_crash(t));
        }
    }
    if cfg.token_change_wait.is_some() {
        for t in 0..b.tabs.len() as TabIx {
            set(Timer::TabRereadsToken(t), b.may_reread_token(cfg, t));
        }
    }
    if cfg.reads_token == policy::ReadsToken::BeforeSend {
        for t in 0..b.tabs.len() as TabIx {
            set(Timer::TabSendsReadToken(t), b.holds_read_token(t));
        }
    }
    // LP4 bounded: a tab blocked for good may take own steps until its counter saturates (or,
    // a follower, until its timeout). Only Web Locks and the broadcast leader can block for
    // good.
    if matches!(cfg.coordination, policy::Coordination::WebLocks | policy::Coordination::BroadcastLeader) {
        let cap = cfg.max_wait_steps.saturating_add(1).max(cfg.follower_timeout.saturating_sub(1));
        for (t, tab) in b.tabs.iter().enumerate() {
            let t = t as TabIx;
            let timeout_due = tab.status == TabStatus::AwaitingBroadcast
                && cfg.follower_timeout > 0
                && tab.waited + 1 >= cfg.follower_timeout;
            set(Timer::TabWaits(t), b.blocked_for_good(cfg, t) && (tab.waited < cap || timeout_due));
        }
    }
}

fn browser_on_msg(server: Id, cfg: &BrowserCfg, state: &mut Cow<NodeState>, msg: Msg, o: &mut Out<Node>) {
    let NodeState::Browser(b) = state.as_ref() else { return };
    let mut b = b.clone();
    match msg {
        Msg::RefreshResponse { tab: ATTACKER, reply } => b.on_attack_reply(cfg, reply),
        Msg::RefreshResponse { tab, reply } if cfg.requesters > 1 || cfg.reloads > 0 => {
            // Several requesters or reloads: the answer goes to the requester and page that
            // sent it, or is dropped ([`browser::requesters`]).
            if let Some(send) = b.on_addressed_reply(cfg, tab, reply) {
                o.send(server, request_msg(send));
            }
            send_resumed_calls(server, cfg, &mut b, o);
        }
        Msg::RefreshResponse { tab, reply } => {
            // With retries the address carries the refresh round: an answer to an earlier
            // round's request arrives and is dropped unread, as an answer reaching a tab that
            // waits for none is ([`browser::requesters::round_address`]).
            let current = match browser::requesters::round_of(tab) {
                Some(round) => b.tabs.get(usize::from(tab & 7)).is_some_and(|x| x.round == round).then_some(tab & 7),
                None => Some(tab),
            };
            if let Some(send) = current.and_then(|tab| b.on_refresh_reply(cfg, tab, reply)) {
                o.send(server, request_msg(send));
            }
            send_resumed_calls(server, cfg, &mut b, o);
        }
        Msg::UsersMeResponse { tab, reply } => b.on_request_reply(cfg, tab, reply),
        Msg::CallResponse { tab: ATTACKER, .. } => b.on_attacker_call_reply(),
        Msg::CallResponse { tab, reply } => {
            // With reloads the address carries the page: a cancelled page's answer is dropped.
            let t = if cfg.reloads > 0 { b.call_answer_tab(tab) } else { Some(tab) };
            if let Some(send) = t.and_then(|t| b.on_call_reply(cfg, t, reply)) {
                o.send(server, request_msg(b.wire(send)));
            }
            if cfg.coordination == policy::Coordination::WebLocks {
                // A call's log-out released the Web Lock: a waiter that skipped its refresh
                // sends the call that waited for it.
                send_resumed_calls(server, cfg, &mut b, o);
            }
        }
        Msg::LogoutResponse { tab, .. } => {
            let had_shared = b.storage.is_some();
            b.on_sign_out_reply(tab);
            b.send_sign_out_notice(cfg, tab, had_shared);
            // `browser.sign_out_takes_lock`: the answer releases the Web Lock to the next waiter.
            if let Some(send) = b.release_after_sign_out(cfg, tab) {
                o.send(server, request_msg(send));
            }
        }
        Msg::SignInResponse { reply, .. } => b.on_sign_in_reply(cfg, reply),
        Msg::FollowUpResponse { tab, .. } => b.on_follow_up_reply(tab),
        _ => return,
    }
    // A reaction of this step that sends a follow-up (`browser.follow_up`).
    if let Some(send) = b.take_follow_up() {
        o.send(server, request_msg(send));
    }
    arm_browser_timers(&b, cfg, o);
    *state = Cow::Owned(NodeState::Browser(b));
}

/// After a refresh answer: the calls that waited for their tab's refresh are sent
/// ([`BrowserState::resume_calls`]), each addressed with its page.
fn send_resumed_calls(server: Id, cfg: &BrowserCfg, b: &mut BrowserState, o: &mut Out<Node>) {
    for send in b.resume_calls(cfg) {
        o.send(server, request_msg(b.wire(send)));
    }
}

/// Ghost bookkeeping when the server answers: which token was accepted when, cross-mode
/// redemptions, answers after a sign-out, and the attacker's success. Never read by a handler.
fn record_answer(s: &mut ServerState, h: &Handler, reply: &Reply, orphan: bool) {
    if orphan {
        s.orphan_cookies = s.orphan_cookies.saturating_add(1);
    }
    let g = &mut s.ghost;
    if h.endpoint == Endpoint::Logout {
        g.signed_out = true;
        return;
    }
    if !matches!(reply, Reply::Ok { .. }) {
        return;
    }
    let presented = dead::accepted_token(h);
    if let Some(tok) = presented {
        match g.accepted.binary_search_by_key(&tok, |&(t, _)| t) {
            Ok(i) => g.accepted[i].1 = g.accepted[i].1.max(h.checked_at),
            Err(i) => g.accepted.insert(i, (tok, h.checked_at)),
        }
    }
    if h.after_sign_out {
        g.ok_after_sign_out = g.ok_after_sign_out.saturating_add(1);
        if h.row_kind.is_some() && !orphan {
            g.live_after_sign_out = g.live_after_sign_out.saturating_add(1);
        }
    }
    if h.endpoint == Endpoint::Refresh {
        if h.cred.mode != AuthMode::Session && h.row_kind == Some(AuthMode::Session) {
            g.cross_mode = g.cross_mode.saturating_add(1);
        }
        if h.client.tab == ATTACKER {
            if !orphan {
                g.theft_mark.get_or_insert(s.next_fresh);
            }
        } else if let (Some(mark), Some(tok)) = (h.theft_mark, presented) {
            if tok < mark {
                g.theft_shared = g.theft_shared.saturating_add(1);
            }
        }
    }
}

/// One step of a handler, with its ghost mark: a rule marked `supersedes` records the
/// presented token as superseded now, by the server's clock when it learned the write affected
/// a row (at or after the write ran).
fn interpreted(s: &mut ServerState, p: &SessionProgram, ttl: &Ttls, h: Handler, input: Option<SqlResult>) -> StepOut {
    let (out, marks) = sessions::step(p, ttl, s.now, h, input);
    if marks.superseded {
        if let Some(tok) = h.cred.presented() {
            if let Err(at) = s.ghost.superseded.binary_search_by_key(&tok, |&(t, _)| t) {
                s.ghost.superseded.insert(at, (tok, s.now));
            }
        }
    }
    out
}

/// The handler of a request `msg` from `src` arriving at the API process in state `s`: its
/// endpoint, the token drawn for it (`fresh`, the server's `next_fresh` when the endpoint
/// reads it, else 0) and its ghost marks. `None` for another message, or a request of a client
/// whose earlier copy is still being served (a redelivery, a no-op).
pub(crate) fn arriving_handler(s: &ServerState, program: &SessionProgram, src: Id, msg: &Msg) -> Option<Handler> {
    let (tab, cred, endpoint) = match msg {
        Msg::RefreshRequest { tab, cred, .. } => (*tab, *cred, Endpoint::Refresh),
        Msg::UsersMeRequest { tab, cred } => (*tab, *cred, Endpoint::UsersMe),
        Msg::LogoutRequest { tab, cred, .. } => (*tab, *cred, Endpoint::Logout),
        _ => return None,
    };
    let client = ClientKey { browser: usize::from(src) as u8, tab };
    if s.handlers.iter().any(|h| h.client == client) {
        return None;
    }
    let fresh = if sessions::handler_of(program, endpoint).draws_fresh { s.next_fresh } else { 0 };
    Some(Handler {
        client,
        endpoint,
        cred,
        fresh,
        stage: Stage::Received,
        row_kind: None,
        after_sign_out: s.ghost.signed_out,
        checked_at: s.now,
        theft_mark: s.ghost.theft_mark,
    })
}

#[allow(clippy::too_many_arguments)]
fn server_on_msg(
    store: Id,
    policy: &ServerPolicy,
    ttl: &Ttls,
    program: &SessionProgram,
    state: &mut Cow<NodeState>,
    src: Id,
    msg: Msg,
    o: &mut Out<Node>,
) {
    let NodeState::Server(s) = state.as_ref() else { return };
    let mut s = s.clone();
    let out = match msg {
        Msg::RefreshRequest { .. } | Msg::UsersMeRequest { .. } | Msg::LogoutRequest { .. } => {
            // None: a redelivered request while its first copy is still being served.
            let Some(h) = arriving_handler(&s, program, src, &msg) else { return };
            if sessions::handler_of(program, h.endpoint).draws_fresh {
                s.next_fresh += 1;
            }
            match policy.steps {
                ServerSteps::Split => interpreted(&mut s, program, ttl, h, None),
                ServerSteps::Atomic => {
                    o.send(store, Msg::Transaction { handler: h, now: s.now });
                    *state = Cow::Owned(NodeState::Server(s));
                    return;
                }
            }
        }
        Msg::QueryResult { client, result } => {
            let Some(i) = s.handlers.iter().position(|h| h.client == client) else { return };
            let h = s.handlers.remove(i);
            interpreted(&mut s, program, ttl, h, Some(result))
        }
        Msg::TransactionDone { handler, reply, orphan } => StepOut::Respond { h: handler, reply, orphan },
        _ => return,
    };
    match out {
        StepOut::Query(h, sql) => {
            let at = s.handlers.partition_point(|x| x.client < h.client);
            s.handlers.insert(at, h);
            let seq = if policy.store == StoreConcurrency::OneConnection {
                s.next_seq += 1;
                s.next_seq - 1
            } else {
                0
            };
            o.send(store, Msg::Query { client: h.client, seq, sql });
        }
        StepOut::Respond { h, reply, orphan } => {
            record_answer(&mut s, &h, &reply, orphan);
            let tab = h.client.tab;
            let msg = match h.endpoint {
                Endpoint::Refresh => Msg::RefreshResponse { tab, reply },
                Endpoint::UsersMe => Msg::UsersMeResponse { tab, reply },
                Endpoint::Logout => Msg::LogoutResponse { tab, reply },
            };
            o.send(Id::from(h.client.browser as usize), msg);
        }
    }
    *state = Cow::Owned(NodeState::Server(s));
}

/// The browser's clock lags the server's by at most one tick (only with a browser clock);
/// with `time.max_in_flight_ticks` K, no message in flight was sent more than K ticks ago.
/// Whether timer `timer` of actor `actor` may fire in `s`. Every timer may, except a tab's
/// retry under `browser.retry_timeout: after-loss`: the tab gives up waiting only once its
/// answer can no longer come, that is when no request of its refresh and no answer to it is
/// in flight and the authorization server holds no request of it in progress or waiting to
/// be routed to a node (one was lost).
fn timer_enabled(cfg: &Cfg, s: &State, actor: usize, timer: &Timer) -> bool {
    // A retrying tab's requests carry their refresh round: any round's is the tab's.
    let tab_of = |a: TabIx| browser::requesters::split(a).map_or(a, |(t, _, _)| t);
    let Timer::TabRetries(t) = *timer else { return true };
    if !cfg.retry_after_loss {
        return true;
    }
    // With `on_timeout`, an abandoned round's messages no longer belong to the tab's refresh.
    let round = browser_at(s, actor).tabs.get(t as usize).map(|tab| tab.round);
    let current =
        |a: TabIx| !cfg.timeout_ends_round || browser::requesters::round_of(a).is_none_or(|r| Some(r) == round);
    let of_tab = |a: TabIx| tab_of(a) == t && current(a);
    let in_flight = s.network.iter().any(|e| match e.msg {
        Msg::RefreshRequest { tab, .. } => usize::from(e.src) == actor && of_tab(tab),
        Msg::RefreshResponse { tab, .. } => usize::from(e.dst) == actor && of_tab(tab),
        _ => false,
    });
    let mine = |c: &ClientKey| usize::from(c.browser) == actor && of_tab(c.tab);
    let in_progress = auth_server_at(s, cfg.server).is_some_and(|a| {
        a.handlers.iter().any(|h| mine(&h.client))
            || a.cluster.as_ref().is_some_and(|c| c.pending.iter().any(|p| mine(&p.client)))
    });
    !in_flight && !in_progress
}

fn within_boundary(cfg: &Cfg, s: &State) -> bool {
    if let Some(k) = cfg.max_in_flight_ticks {
        let h = &s.history;
        if h.sent.iter().any(|x| u16::from(h.now) > u16::from(x.3) + u16::from(k)) {
            return false;
        }
    }
    if !cfg.browser_clock {
        return true;
    }
    let server = clock_at(s, cfg.server);
    cfg.browsers.iter().all(|&b| {
        let b = browser_at(s, b).now;
        b <= server && server <= b.saturating_add(1)
    })
}

/// The browser configuration a model file describes.
fn browser_cfg(sc: &Scenario) -> BrowserCfg {
    BrowserCfg {
        tabs: sc.browser.tabs,
        refreshes: sc.browser.refreshes_per_tab,
        requests: sc.browser.requests_per_tab,
        sign_outs: sc.browser.sign_outs,
        signs_in_during_run: false,
        re_sign_ins: sc.browser.re_sign_ins,
        re_sign_in_is: sc.browser.re_sign_in_is,
        mode: sc.browser.mode,
        storage: sc.browser.json_storage,
        coordination: sc.browser.coordination,
        freshness_check: sc.browser.freshness_check,
        margin: sc.time.refresh_margin,
        max_ticks: sc.time.max_ticks,
        attacker: sc.attacker.as_ref().map(|a| (a.attempts, a.modes.clone())),
        attacker_keeps_tokens: sc.attacker.as_ref().is_some_and(|a| a.keeps_tokens),
        attacker_reads_once: sc.attacker.as_ref().is_some_and(|a| a.steals == crate::scenario::Steals::Once),
        aborts: sc.browser.aborts_per_tab,
        on_aborted: sc.browser.on_aborted.clone().unwrap_or_else(|| sc.browser.on_server_error.clone()),
        retries: sc.browser.retries_per_tab,
        on_timeout: sc.browser.on_timeout.clone(),
        retry_after_ticks: sc.browser.retry_timeout.ticks(),
        token_change_wait: sc.browser.token_change_wait,
        lock_wait_ticks: sc.browser.lock_wait_ticks,
        on_lock_timeout: sc.browser.on_lock_timeout.clone().unwrap_or_default(),
        lock_hangs: sc.browser.lock_hangs,
        lock_steal: sc.browser.lock_steal,
        read_before_lock: sc.browser.read_before_lock,
        reads_token: sc.browser.reads_token,
        ok_writes: sc.browser.ok_writes,
        crashes: sc.browser.crashes_per_tab,
        lock_granted: sc.browser.lock_granted,
        lock_recheck_margin: sc.browser.lock_recheck_margin.unwrap_or(0),
        storage_holds: sc.browser.shared_storage_holds,
        ssr_paths: sc.browser.ssr_paths,
        leader_election: sc.browser.leader_election,
        leader_closes: sc.browser.leader_closes,
        follower_timeout: sc.browser.follower_timeout,
        max_wait_steps: sc.browser.max_wait_steps,
        logins: sc.browser.logins,
        on_refused: sc.browser.on_refused.clone(),
        on_server_error: sc.browser.on_server_error.clone(),
        on_stored_token_cleared: sc.browser.on_stored_token_cleared,
        sign_out_notice: sc.browser.sign_out_notice,
        on_sign_out_notice: sc.browser.on_sign_out_notice.unwrap_or_default(),
        on_ok_after_sign_out_notice: sc.browser.on_ok_after_sign_out_notice.unwrap_or_default(),
        on_ok: sc
            .browser
            .on_ok
            .clone()
            .unwrap_or_else(|| policy::default_on_ok(sc.browser.mode, sc.browser.json_storage)),
        on_stored_token_written: sc.browser.on_stored_token_written,
        retry_limit: sc.browser.retry_limit,
        calls: sc.browser.calls_per_tab,
        call_ok_stores_echo: sc.browser.on_call_ok.contains(&policy::CallOkReaction::StoreEchoedAccessToken),
        follow_up: sc.browser.follow_up.as_ref().map(|f| (f.after, f.presents)),
        access_tokens: keeps_access_tokens(sc),
        sign_out_access: sc.protocol.as_ref().is_some_and(|p| p.sign_out_presents.access()),
        refresh_access: sc.protocol.as_ref().is_some_and(|p| p.refresh_presents.access()),
        attacker_calls: sc.attacker.as_ref().is_some_and(|a| a.uses_access_tokens),
        requesters: sc.browser.requesters_per_tab,
        reloads: sc.browser.reloads_per_tab,
        on_requester_ok: (sc.browser.on_requester_ok.clone().or_else(|| sc.browser.on_ok.clone()))
            .unwrap_or_else(|| policy::default_on_ok(sc.browser.mode, sc.browser.json_storage)),
        on_requester_refused: sc.browser.on_requester_refused.clone().unwrap_or_else(|| sc.browser.on_refused.clone()),
        on_requester_server_error: sc
            .browser
            .on_requester_server_error
            .clone()
            .unwrap_or_else(|| sc.browser.on_server_error.clone()),
        on_call_refused: sc.browser.on_call_refused.clone().unwrap_or_else(|| sc.browser.on_refused.clone()),
        on_call_server_error: sc
            .browser
            .on_call_server_error
            .clone()
            .unwrap_or_else(|| sc.browser.on_server_error.clone()),
        call_refresh_margin: sc.browser.call_refresh_margin,
        refresh_triggers: sc.browser.refresh_triggers.clone().unwrap_or_default(),
        // Resolved once here: the search indexes the table.
        tab_settings: if sc.browser.tab_settings.is_some() {
            browser::tab_settings::resolve(&sc.browser)
        } else {
            Vec::new()
        },
        sign_out_takes_lock: sc.browser.sign_out_takes_lock,
        sign_out_request: sc.browser.sign_out_request,
        single_flight: sc.browser.single_flight,
        access_ttl: sc.time.access_token_ttl,
    }
}

/// The authorization server keeps a row per access token ([`oauth::AccessRow`]) and tabs hold
/// them: the protocol declares a `request` handler or reads an access token, or the browser
/// makes ordinary calls, or the attacker uses access tokens. Otherwise no access token is
/// recorded and the search is as it was before access tokens were modelled.
pub fn keeps_access_tokens(sc: &Scenario) -> bool {
    sc.protocol.as_ref().is_some_and(|p| p.uses_access)
        || sc.browser.calls_per_tab > 0
        || sc.attacker.as_ref().is_some_and(|a| a.uses_access_tokens)
}

/// Every message in flight, repeats included: `(sender, receiver, message)`, ordered as the
/// network keeps them ([`system::Net`]).
pub fn in_flight(network: &system::Net) -> Vec<(Id, Id, &Msg)> {
    network.iter().map(|e| (Id::from(usize::from(e.src)), Id::from(usize::from(e.dst)), &e.msg)).collect()
}

/// Whether some message in flight satisfies `f` (as [`in_flight`], without collecting them).
pub fn any_in_flight(network: &system::Net, mut f: impl FnMut(&Msg) -> bool) -> bool {
    network.iter().any(|e| f(&e.msg))
}

/// The network kind a model file names.
fn network_of(sc: &Scenario) -> system::NetKind {
    match sc.network {
        NetworkKind::UnorderedNonduplicating => system::NetKind::UnorderedNonDuplicating,
        NetworkKind::UnorderedDuplicating => system::NetKind::UnorderedDuplicating,
        NetworkKind::Ordered => system::NetKind::Ordered,
    }
}

/// Builds the model of an authorization-server file: `browser.devices` browsers (actors
/// `0..devices`, each signed in with its own family: browser `i` holds token `i + 1`; with
/// `browser.logins: per-tab` each tab has its own family in its browser's client session, and
/// tab `t` of browser `i` holds token `i * tabs + t + 1`) and the authorization server (actor
/// `devices`). There is no separate store: the token table lives in the server's state and
/// each read or write is one action.
fn build_auth_server(sc: &Scenario, protocol: std::sync::Arc<crate::protocol::Protocol>) -> RefreshModel {
    let devices = sc.browser.devices;
    let logins = if sc.browser.logins == policy::Logins::PerTab { sc.browser.tabs } else { 1 };
    let server = devices as usize;
    // SP1 (i) is measured against the protocol's claimed reuse interval.
    let grace = protocol.reuse_interval;
    let cfg = Cfg {
        browsers: (0..server).collect(),
        server,
        store: server,
        session_lifetime: sc.time.session_lifetime,
        grace,
        // A tab that refreshes before a call, or re-checks the stored session's expiry inside
        // the lock, reads its own clock.
        browser_clock: sc.browser.freshness_check
            || sc.browser.call_refresh_margin.is_some()
            || sc.browser.lock_granted == policy::LockGranted::SkipIfStoredSessionFresh
            || sc.browser.retry_timeout.ticks().is_some()
            || sc.browser.token_change_wait.is_some()
            || sc.browser.lock_wait_ticks.is_some()
            || sc.browser.refresh_triggers.iter().flatten().any(|t| *t == policy::RefreshTrigger::WhenAccessExpired)
            || sc
                .browser
                .tab_settings
                .iter()
                .flatten()
                .filter_map(|s| s.refresh_triggers.as_ref())
                .flatten()
                .any(|t| *t == policy::RefreshTrigger::WhenAccessExpired),
        max_in_flight_ticks: sc.time.max_in_flight_ticks,
        retry_after_loss: sc.browser.retry_timeout == policy::RetryTimeout::AFTER_LOSS,
        timeout_ends_round: sc.browser.on_timeout.is_some(),
        client_word: sc.browser.client_word.clone().unwrap_or_default(),
    };
    let bcfg = browser_cfg(sc);
    let mut model = system::System::new(cfg, network_of(sc));
    for i in 0..devices {
        let jwt = SessionJwt { session: 0, exp: 0 }; // json and cookie mode carry no session JWT
        let token = i * logins + 1;
        // The last `browser.sign_ins` devices sign in during the run.
        // The last `browser.sign_ins` devices sign in during the run; the others may sign in
        // again (`browser.re_sign_ins`).
        let during = i + sc.browser.sign_ins >= devices;
        // `browser.re_sign_in_from`: only that device's user signs in again.
        let re_sign_ins = match sc.browser.re_sign_in_from {
            _ if during => 0,
            Some(d) if d != i + 1 => 0,
            _ => bcfg.re_sign_ins,
        };
        // `browser.sign_out_from`: only that device's user signs out.
        let sign_outs = match sc.browser.sign_out_from {
            Some(d) if d != i + 1 => 0,
            _ => bcfg.sign_outs,
        };
        let cfg = BrowserCfg { signs_in_during_run: during, re_sign_ins, sign_outs, ..bcfg.clone() };
        model = model.actor(Node::Browser { server: Id::from(server), cfg, jwt, token });
    }
    let mut model = model
        .actor(Node::AuthServer {
            access_tokens: keeps_access_tokens(sc),
            protocol,
            access_ttl: sc.time.access_token_ttl,
            max_ticks: sc.time.max_ticks,
            devices,
            logins,
            sign_ins: sc.browser.sign_ins,
            re_sign_ins: sc.browser.re_sign_ins,
            re_sign_in_from: sc.browser.re_sign_in_from,
            password_changes: sc.browser.re_sign_in_is == policy::ReSignIn::PasswordChange,
            bounded_flight: sc.time.max_in_flight_ticks.is_some(),
        })
        .lossy(sc.lossy.losses())
        .within_boundary(within_boundary)
        .timers_enabled(timer_enabled)
        .record(record_sent, record_delivered);
    for p in properties::ALL {
        model = model.property(p.expectation(), p.name, p.condition);
    }
    model
}

/// Builds the stateright model for a validated scenario: the only place that wires actors,
/// network and properties.
pub fn build(sc: &Scenario) -> RefreshModel {
    if let Some(protocol) = &sc.protocol {
        return build_auth_server(sc, protocol.clone());
    }
    let ttl = Ttls {
        refresh_token: sc.time.refresh_token_ttl.unwrap_or(crate::scenario::UNUSED_TTL),
        session_cookie: sc.time.session_cookie_ttl.unwrap_or(crate::scenario::UNUSED_TTL),
        access_token: sc.time.access_token_ttl,
        grace: sc.time.session_refresh_grace_period,
    };
    let (browser, server, store) = (0usize, 1usize, 2usize);
    let mode = sc.browser.mode;
    let jwt = SessionJwt { session: 1, exp: ttl.session_cookie };
    // Sign-in (`api/src/auth/drivers/local.ts`, all versions): a row expiring at
    // REFRESH_TOKEN_TTL, whatever the mode.
    let mut init_store = StoreState::signed_in(1, ttl.refresh_token, mode);
    // The file's `session_server` section, or its Directus `server` section expanded.
    let program = sc.session_server.clone().unwrap_or_else(|| {
        let spec = crate::protocol::directus::expand(&sc.server, ttl.grace);
        std::sync::Arc::new(SessionProgram::compile(&spec, "server").expect("the Directus preset compiles"))
    });
    // With a cache in front of the table, sign-in writes the session there too (Django's
    // `cached_db` `save`: the row, then `cache.set`; Keycloak: the cache and the database).
    if let Some(cache) = program.cache {
        let until = cache.ttl.unwrap_or(255);
        init_store.cache.push(store::CacheEntry { token: 1, until, kind: mode, tombstone: false });
    }
    let grace = program.reuse_interval;
    let cfg = Cfg {
        browsers: vec![browser],
        server,
        store,
        session_lifetime: sc.time.session_lifetime,
        grace,
        browser_clock: sc.browser.freshness_check,
        max_in_flight_ticks: sc.time.max_in_flight_ticks,
        retry_after_loss: sc.browser.retry_timeout == policy::RetryTimeout::AFTER_LOSS,
        timeout_ends_round: sc.browser.on_timeout.is_some(),
        client_word: sc.browser.client_word.clone().unwrap_or_default(),
    };
    let bcfg = browser_cfg(sc);
    let mut model = system::System::new(cfg, network_of(sc))
        .actor(Node::Browser { server: Id::from(server), cfg: bcfg, jwt, token: 1 })
        .actor(Node::Server {
            store: Id::from(store),
            policy: sc.server,
            ttl,
            max_ticks: sc.time.max_ticks,
            first_fresh: 2,
            program: program.clone(),
            bounded_flight: sc.time.max_in_flight_ticks.is_some(),
            dead: dead::Params::new(
                &program,
                sc.time.max_ticks,
                sc.time.session_lifetime,
                sc.network == NetworkKind::UnorderedNonduplicating && sc.time.max_in_flight_ticks.is_none(),
            ),
        })
        .actor(Node::Store { init: init_store, policy: sc.server, ttl, program })
        .lossy(sc.lossy.losses())
        .within_boundary(within_boundary)
        .timers_enabled(timer_enabled)
        .record(record_sent, record_delivered);
    for p in properties::ALL {
        model = model.property(p.expectation(), p.name, p.condition);
    }
    model
}

/// The server's clock in a global state (either server kind).
pub fn clock_at(s: &State, ix: usize) -> Tick {
    match &*s.actor_states[ix] {
        NodeState::Server(x) => x.now,
        NodeState::AuthServer(x) => x.now,
        other => unreachable!("actor {ix} is not a server: {other:?}"),
    }
}

/// The server's ghost bookkeeping shared by both server kinds.
pub fn ghost_at(s: &State, ix: usize) -> &ServerGhost {
    match &*s.actor_states[ix] {
        NodeState::Server(x) => &x.ghost,
        NodeState::AuthServer(x) => &x.ghost,
        other => unreachable!("actor {ix} is not a server: {other:?}"),
    }
}

/// The session-server program the API process of `m` runs, if `m` is a session-table model.
pub fn session_program(m: &RefreshModel) -> Option<&SessionProgram> {
    m.actors.iter().find_map(|a| match a {
        Node::Server { program, .. } => Some(&**program),
        _ => None,
    })
}

/// The authorization server's state, if actor `ix` is one (`None` for the Directus server).
pub fn auth_server_at(s: &State, ix: usize) -> Option<&oauth::AsState> {
    match &*s.actor_states[ix] {
        NodeState::AuthServer(x) => Some(x),
        _ => None,
    }
}

/// The browser state of actor `ix` in a global state.
pub fn browser_at(s: &State, ix: usize) -> &BrowserState {
    match &*s.actor_states[ix] {
        NodeState::Browser(b) => b,
        other => unreachable!("actor {ix} is not a browser: {other:?}"),
    }
}

/// The server state in a global state.
pub fn server_at(s: &State, ix: usize) -> &ServerState {
    match &*s.actor_states[ix] {
        NodeState::Server(x) => x,
        other => unreachable!("actor {ix} is not the server: {other:?}"),
    }
}

/// The store state in a global state.
pub fn store_at(s: &State, ix: usize) -> &StoreState {
    match &*s.actor_states[ix] {
        NodeState::Store(x) => x,
        other => unreachable!("actor {ix} is not the store: {other:?}"),
    }
}
