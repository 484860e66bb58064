//! The actor model of one browser, the Directus API process and its session store.
//!
//! Three actors, wired by [`build`]:
//! - [`Node::Browser`]: the tabs and their shared cookie jar ([`browser`]);
//! - [`Node::Server`]: the API process, whose handlers are step machines ([`server`]), and the
//!   logical clock in ticks (the API computes `now`, as Directus does in JavaScript);
//! - [`Node::Store`]: the `directus_sessions` table ([`store`]).
//!
//! Messages are HTTP requests and responses between browser and server, and SQL statements and
//! results between server and store. Each delivery is one atomic step, so another request's
//! statement can run between two statements of one handler, as between two `await`s in
//! Node.js. Which policy the server follows is data ([`policy`]).
//!
//! Sources: `shared/research/directus-protocol.md` §1 (server) and §3 (app), read from
//! `@directus/api` 18.2.1 / 19.1.1 and `@directus/app` 12.1.1; Directus issue 22360 and PR 22433.

pub mod browser;
pub mod policy;
pub mod server;
pub mod store;

use std::borrow::Cow;

use serde::Serialize;
use stateright::actor::{
    model_timeout, Actor, ActorModel, ActorModelAction, ActorModelState, Id, LossyNetwork, Network, Out,
};

use crate::properties;
use crate::scenario::{NetworkKind, Scenario};
use browser::BrowserState;
use policy::{ServerPolicy, ServerSteps};
use server::{Endpoint, Handler, Stage, StepOut, Ttls};
use store::{Sql, SqlResult, StoreState};

/// A session token (a row's primary key; Directus uses a 64-character nanoid). Tokens are
/// numbered in the order the server mints them; the signed-in session's token is 1.
pub type Token = u8;
/// Logical time, in ticks. TTLs in model files are tick counts.
pub type Tick = u8;
/// A tab's index within its browser.
pub type TabIx = u8;

/// The session cookie `directus_session_token`: a signed (not encrypted) JWT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SessionJwt {
    /// The `session` claim: the row's token.
    pub session: Token,
    /// The `exp` claim, in ticks (`now + SESSION_COOKIE_TTL` at issue).
    pub exp: Tick,
}

/// Who sent a request: a tab of a browser actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ClientKey {
    /// The browser's actor index.
    pub browser: u8,
    /// The tab within it.
    pub tab: TabIx,
}

/// Why the server refused, with Directus's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum HttpError {
    /// 400 `INVALID_PAYLOAD`: no token in the body or cookie.
    InvalidPayload,
    /// 401 `TOKEN_EXPIRED`: the JWT is past its `exp`.
    TokenExpired,
    /// 401 `INVALID_CREDENTIALS`: no (unexpired) session row for the token.
    InvalidCredentials,
}

impl HttpError {
    /// The HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            HttpError::InvalidPayload => 400,
            HttpError::TokenExpired | HttpError::InvalidCredentials => 401,
        }
    }
}

/// An HTTP response: 2xx (with a `Set-Cookie` or none) or an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Reply {
    /// 200; `set_cookie` is the new `directus_session_token`, if the endpoint sets one.
    Ok { set_cookie: Option<SessionJwt> },
    /// 4xx.
    Err(HttpError),
}

/// Every message of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Msg {
    /// Browser → server: `POST /auth/refresh {"mode":"session"}` with the jar's cookie.
    RefreshRequest { tab: TabIx, cookie: Option<SessionJwt> },
    /// Browser → server: `GET /users/me` with the jar's cookie.
    UsersMeRequest { tab: TabIx, cookie: Option<SessionJwt> },
    /// Server → browser: the refresh's response.
    RefreshResponse { tab: TabIx, reply: Reply },
    /// Server → browser: the ordinary request's response.
    UsersMeResponse { tab: TabIx, reply: Reply },
    /// Server → store: one SQL statement of the handler serving `client`.
    Query { client: ClientKey, sql: Sql },
    /// Store → server: that statement's result.
    QueryResult { client: ClientKey, result: SqlResult },
    /// Server → store, atomic driver only: run the whole handler as one transaction.
    Transaction { handler: Handler, now: Tick },
    /// Store → server, atomic driver only: the transaction's response for `client`.
    TransactionDone { client: ClientKey, endpoint: Endpoint, reply: Reply, orphan: bool },
}

/// Every timer of the model. Timers carry no duration: a set timer may fire at any moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Timer {
    /// The tab is loaded or returns from idle, and refreshes.
    TabRefreshes(TabIx),
    /// The tab makes an ordinary request.
    TabRequests(TabIx),
    /// The server's clock advances one tick.
    Tick,
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
    /// Ghost: cookies handed out whose write matched no row (PR 22433 scenario 2), a count.
    pub orphan_cookies: u8,
}

/// One actor's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum NodeState {
    /// See [`BrowserState`].
    Browser(BrowserState),
    /// See [`ServerState`].
    Server(ServerState),
    /// See [`StoreState`].
    Store(StoreState),
}

/// An actor of the model, with its configuration.
#[derive(Clone, Debug)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Node {
    /// A browser: `tabs` tabs sharing a jar that starts with `jar`.
    Browser { server: Id, tabs: u8, refreshes: u8, requests: u8, jar: SessionJwt },
    /// The API process.
    Server { store: Id, policy: ServerPolicy, ttl: Ttls, max_ticks: Tick, first_fresh: Token },
    /// The session store, starting as `init`.
    Store { init: StoreState, policy: ServerPolicy, ttl: Ttls },
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
}

/// The stateright model checked by refresh-check.
pub type RefreshModel = ActorModel<Node, Cfg, ()>;
/// A global state of [`RefreshModel`].
pub type State = ActorModelState<Node, ()>;
/// An action of [`RefreshModel`].
pub type Action = ActorModelAction<Msg, Timer, ()>;

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
        }
        .to_string()
    }

    fn on_start(&self, _id: Id, _storage: &Option<()>, o: &mut Out<Self>) -> NodeState {
        match self {
            Node::Browser { tabs, refreshes, requests, jar, .. } => {
                let b = BrowserState::signed_in(*tabs, *refreshes, *requests, *jar);
                for t in 0..*tabs {
                    arm_tab_timers(&b, t, o);
                }
                NodeState::Browser(b)
            }
            Node::Server { max_ticks, first_fresh, .. } => {
                if *max_ticks > 0 {
                    o.set_timer(Timer::Tick, model_timeout());
                }
                NodeState::Server(ServerState { now: 0, next_fresh: *first_fresh, handlers: vec![], orphan_cookies: 0 })
            }
            Node::Store { init, .. } => NodeState::Store(init.clone()),
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<NodeState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        match self {
            Node::Browser { .. } => browser_on_msg(state, msg, o),
            Node::Server { store, policy, ttl, .. } => server_on_msg(*store, policy, ttl, state, src, msg, o),
            Node::Store { policy, ttl, .. } => {
                let NodeState::Store(s) = state.as_ref() else { return };
                match msg {
                    Msg::Query { client, sql } => {
                        let mut s = s.clone();
                        let result = s.exec(sql);
                        if &s != state.as_ref().store() {
                            *state.to_mut() = NodeState::Store(s);
                        }
                        o.send(src, Msg::QueryResult { client, result });
                    }
                    Msg::Transaction { handler, now } => {
                        let mut s = s.clone();
                        let out = server::run_atomically(policy, ttl, now, handler, &mut s);
                        if &s != state.as_ref().store() {
                            *state.to_mut() = NodeState::Store(s);
                        }
                        if let StepOut::Respond { client, endpoint, reply, orphan } = out {
                            o.send(src, Msg::TransactionDone { client, endpoint, reply, orphan });
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<NodeState>, timer: &Timer, o: &mut Out<Self>) {
        match (self, timer) {
            (Node::Browser { server, .. }, Timer::TabRefreshes(t) | Timer::TabRequests(t)) => {
                let NodeState::Browser(b) = state.as_ref() else { return };
                let mut b = b.clone();
                let sent = match timer {
                    Timer::TabRefreshes(_) => b.start_refresh(*t).map(|cookie| Msg::RefreshRequest { tab: *t, cookie }),
                    _ => b.start_request(*t).map(|cookie| Msg::UsersMeRequest { tab: *t, cookie }),
                };
                if let Some(msg) = sent {
                    o.send(*server, msg);
                    arm_tab_timers(&b, *t, o);
                    *state.to_mut() = NodeState::Browser(b);
                }
            }
            (Node::Server { max_ticks, .. }, Timer::Tick) => {
                let NodeState::Server(s) = state.to_mut() else { return };
                s.now += 1;
                if s.now < *max_ticks {
                    o.set_timer(Timer::Tick, model_timeout());
                }
            }
            _ => {}
        }
    }
}

impl NodeState {
    fn store(&self) -> &StoreState {
        match self {
            NodeState::Store(s) => s,
            _ => unreachable!("not a store"),
        }
    }
}

/// Sets the timers of tab `t` that may fire now and cancels the others: an idle tab with
/// refreshes (requests) left may refresh (request); a busy or logged-out tab may do neither.
fn arm_tab_timers(b: &BrowserState, t: TabIx, o: &mut Out<Node>) {
    let tab = &b.tabs[t as usize];
    let idle = tab.status == browser::TabStatus::Idle;
    for (timer, left) in [(Timer::TabRefreshes(t), tab.refreshes_left), (Timer::TabRequests(t), tab.requests_left)] {
        if idle && left > 0 {
            o.set_timer(timer, model_timeout());
        } else {
            o.cancel_timer(timer);
        }
    }
}

fn browser_on_msg(state: &mut Cow<NodeState>, msg: Msg, o: &mut Out<Node>) {
    let NodeState::Browser(b) = state.as_ref() else { return };
    let mut b = b.clone();
    let t = match msg {
        Msg::RefreshResponse { tab, reply } => {
            b.on_refresh_reply(tab, reply);
            tab
        }
        Msg::UsersMeResponse { tab, reply } => {
            b.on_request_reply(tab, reply);
            tab
        }
        _ => return,
    };
    arm_tab_timers(&b, t, o);
    *state.to_mut() = NodeState::Browser(b);
}

fn server_on_msg(
    store: Id,
    policy: &ServerPolicy,
    ttl: &Ttls,
    state: &mut Cow<NodeState>,
    src: Id,
    msg: Msg,
    o: &mut Out<Node>,
) {
    let NodeState::Server(s) = state.as_ref() else { return };
    let mut s = s.clone();
    let out = match msg {
        Msg::RefreshRequest { tab, cookie } | Msg::UsersMeRequest { tab, cookie } => {
            let client = ClientKey { browser: usize::from(src) as u8, tab };
            if s.handlers.iter().any(|h| h.client == client) {
                return; // a redelivered request while its first copy is still being served
            }
            let endpoint =
                if matches!(msg, Msg::RefreshRequest { .. }) { Endpoint::Refresh } else { Endpoint::UsersMe };
            let fresh = if endpoint == Endpoint::Refresh {
                s.next_fresh += 1;
                s.next_fresh - 1
            } else {
                0
            };
            let h = Handler { client, endpoint, cookie, fresh, stage: Stage::Received };
            match policy.steps {
                ServerSteps::Split => server::step(policy, ttl, s.now, h, None),
                ServerSteps::Atomic => {
                    o.send(store, Msg::Transaction { handler: h, now: s.now });
                    *state.to_mut() = NodeState::Server(s);
                    return;
                }
            }
        }
        Msg::QueryResult { client, result } => {
            let Some(i) = s.handlers.iter().position(|h| h.client == client) else { return };
            let h = s.handlers.remove(i);
            server::step(policy, ttl, s.now, h, Some(result))
        }
        Msg::TransactionDone { client, endpoint, reply, orphan } => {
            StepOut::Respond { client, endpoint, reply, orphan }
        }
        _ => return,
    };
    match out {
        StepOut::Query(h, sql) => {
            let at = s.handlers.partition_point(|x| x.client < h.client);
            s.handlers.insert(at, h);
            o.send(store, Msg::Query { client: h.client, sql });
        }
        StepOut::Respond { client, endpoint, reply, orphan } => {
            if orphan {
                s.orphan_cookies = s.orphan_cookies.saturating_add(1);
            }
            let msg = match endpoint {
                Endpoint::Refresh => Msg::RefreshResponse { tab: client.tab, reply },
                Endpoint::UsersMe => Msg::UsersMeResponse { tab: client.tab, reply },
            };
            o.send(Id::from(client.browser as usize), msg);
        }
    }
    *state.to_mut() = NodeState::Server(s);
}

/// Builds the stateright model for a validated scenario: the only place that wires actors,
/// network and properties.
pub fn build(sc: &Scenario) -> RefreshModel {
    let ttl = Ttls { refresh_token: sc.time.refresh_token_ttl, session_cookie: sc.time.session_cookie_ttl };
    let (browser, server, store) = (0usize, 1usize, 2usize);
    let jar = SessionJwt { session: 1, exp: ttl.session_cookie };
    let init_store = StoreState::signed_in(1, ttl.refresh_token);
    let cfg = Cfg { browsers: vec![browser], server, store, session_lifetime: sc.time.session_lifetime };
    let network = match sc.network {
        NetworkKind::UnorderedNonduplicating => Network::new_unordered_nonduplicating([]),
        NetworkKind::UnorderedDuplicating => Network::new_unordered_duplicating([]),
        NetworkKind::Ordered => Network::new_ordered([]),
    };
    let mut model = ActorModel::new(cfg, ())
        .actor(Node::Browser {
            server: Id::from(server),
            tabs: sc.browser.tabs,
            refreshes: sc.browser.refreshes_per_tab,
            requests: sc.browser.requests_per_tab,
            jar,
        })
        .actor(Node::Server {
            store: Id::from(store),
            policy: sc.server,
            ttl,
            max_ticks: sc.time.max_ticks,
            first_fresh: 2,
        })
        .actor(Node::Store { init: init_store, policy: sc.server, ttl })
        .init_network(network)
        .lossy_network(if sc.lossy { LossyNetwork::Yes } else { LossyNetwork::No });
    for p in properties::ALL {
        model = model.property(p.expectation(), p.name, p.condition);
    }
    model
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
