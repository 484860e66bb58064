//! The model-file format: one JSON file per protocol, named after the system and version it
//! models, and its validation into a [`Scenario`].
//!
//! A model file states which protocol is checked (the server policy, the tabs and their bounds,
//! the clock and TTLs in ticks, the network), where that protocol comes from (`sources`), and
//! the verdicts it expects (`expect`). Unknown fields are errors. Every error names the file,
//! the field path, what was found and what was expected.
//!
//! ```json
//! {
//!   "name": "directus-10.10-session",
//!   "description": "Directus 10.10.x, session mode: rename in place",
//!   "sources": ["@directus/api 18.2.1 api/src/services/authentication.ts"],
//!   "server": { "session_refresh": "rotate" },
//!   "browser": { "tabs": 2, "refreshes_per_tab": 1 },
//!   "time": { "refresh_token_ttl": 7, "session_cookie_ttl": 4 },
//!   "expect": { "no_spurious_logout": "violated" }
//! }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::policy::{
    AuthMode, Coordination, JsonStorage, LeaderElection, LockGranted, Logins, Reaction, ServerPolicy, ServerSteps,
    SessionRefresh, StorageHolds, StoreConcurrency,
};
use crate::model::Tick;
use crate::properties::{self, Kind};
use crate::protocol::presets::{AsSteps, AuthServerPolicy, Grace, OnReuse, ReuseState, Rotation, Window};
use crate::protocol::sessions::{SessionProgram, SessionServerSpec};
use crate::protocol::{Protocol, ProtocolSpec, Routing};

/// The most tabs a browser may have.
pub const MAX_TABS: u8 = 6;
/// The most refreshes (or ordinary requests) a tab may start.
pub const MAX_PER_TAB: u8 = 4;
/// The largest clock bound, in ticks.
pub const MAX_TICKS: Tick = 16;

/// A verdict, expected (in a model file) or found (in a report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// An invariant holds in every reachable state (exhaustive search).
    Holds,
    /// An invariant is false in some reachable state (a counterexample exists).
    Violated,
    /// A reachability property is true in some reachable state.
    Reached,
    /// A reachability property is false in every reachable state (exhaustive search).
    Unreached,
    /// The search stopped before it could decide (a limit was hit). Never expected.
    Unknown,
}

/// The network between actors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    /// Any message may overtake any other, each delivered once: HTTP requests and responses
    /// racing over separate connections. The default.
    #[default]
    UnorderedNonduplicating,
    /// As above, and any message may be delivered again: retries and replays.
    UnorderedDuplicating,
    /// Per sender-receiver pair, first in first out.
    Ordered,
}

/// The file's `lossy`: whether and which messages the network may lose.
///
/// `false` (the default): none. `true`: any message in flight, any number of times
/// (stateright's lossy network). An object ([`LossFaults`]): only the messages it names, at most
/// `max_losses` of them in a run. A message the clock sends itself (`ClockMayTickAgain`, with
/// `time.max_in_flight_ticks`) is never lost: it is not a network message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Lossy {
    /// `false`: no message is lost; `true`: any message may be lost, any number of times.
    Any(bool),
    /// Only some messages, at most some number of times.
    Faults(LossFaults),
}

impl Default for Lossy {
    fn default() -> Self {
        Lossy::Any(false)
    }
}

/// `true`, `false` or an object; an object's fields are checked as [`LossFaults`]'s (unknown
/// fields are errors naming the field).
impl<'de> Deserialize<'de> for Lossy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Lossy;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or an object {\"messages\": …, \"endpoints\": […], \"max_losses\": N}")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Lossy, E> {
                Ok(Lossy::Any(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Lossy, A::Error> {
                LossFaults::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Lossy::Faults)
            }
        }
        d.deserialize_any(V)
    }
}

impl Lossy {
    /// Whether the network may lose any message at all.
    pub fn is_lossy(&self) -> bool {
        !matches!(self, Lossy::Any(false))
    }

    /// The model's loss policy: `None` for `false`; `true` is every message, unbounded.
    pub fn losses(&self) -> Option<crate::model::faults::Losses> {
        use crate::model::faults::Losses;
        match self {
            Lossy::Any(false) => None,
            Lossy::Any(true) => Some(Losses::ANY),
            Lossy::Faults(f) => {
                Some(Losses::new(f.messages, f.endpoints.as_deref().unwrap_or(&[]), f.max_losses.map(|n| n as u8)))
            }
        }
    }
}

/// The object form of `lossy`: which messages the network may lose, and how many in a run.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossFaults {
    /// Which direction: `all` (the default: every message, also the server's SQL statements to
    /// its store and their results), `requests` (the browser's and the attacker's requests to
    /// the server) or `responses` (the server's answers to them).
    #[serde(default)]
    pub messages: LostMessages,
    /// Only the requests and answers of these endpoints (`refresh`, `call`: an ordinary request
    /// or API call, `sign-out`); absent: every endpoint. With it, the server's messages to its
    /// store are never lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<LossEndpoint>>,
    /// At most this many messages are lost in a run, 1 to [`MAX_LOSSES`]; absent: any number.
    /// The count of losses so far becomes part of the state. (Read as any integer, so that a
    /// value out of range is refused with the range this field allows.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_LOSSES))]
    pub max_losses: Option<i64>,
}

/// The most losses `lossy.max_losses` may allow.
pub const MAX_LOSSES: u8 = 4;

/// `lossy.messages`: which messages may be lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LostMessages {
    /// Every message (requests, answers, the server's SQL statements and their results).
    #[default]
    All,
    /// Requests to the server only (refresh, ordinary request or call, sign-out).
    Requests,
    /// The server's answers to them only (a proxy's 504 or a cancelled fetch after the server
    /// has acted).
    Responses,
}

/// `lossy.endpoints`: an endpoint whose requests and answers may be lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LossEndpoint {
    /// The refresh (`POST /auth/refresh`, the token endpoint's refresh grant).
    Refresh,
    /// An ordinary request (`GET /users/me`) or API call with an access token.
    Call,
    /// The sign-out (`POST /auth/logout`, revocation).
    SignOut,
}

/// The `server` section: the Directus server's session-refresh policy as preset options,
/// expanded into a `session_server` when the file is read (`refresh-check models expand FILE`
/// prints the expansion). Give exactly one of `server`, `auth_server`, `protocol` and
/// `session_server`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// What a session-mode refresh writes: `rotate`, `stable-id` or `grace-window`.
    pub session_refresh: SessionRefresh,
    /// `split` (default: each SQL statement is its own step) or `atomic`.
    #[serde(default = "default_steps")]
    pub steps: ServerSteps,
    /// Whether every request checks the session row (Directus 10.11.1+, PR 22353).
    #[serde(default)]
    pub per_request_check: bool,
    /// Mode-bound sessions: the `type` column proposed in the PR 22433 review.
    #[serde(default)]
    pub mode_bound: bool,
    /// `pool` (default: PostgreSQL, MySQL) or `one-connection` (SQLite).
    #[serde(default)]
    pub store: StoreConcurrency,
}

fn default_steps() -> ServerSteps {
    ServerSteps::Split
}

/// One entry of `browser.tab_settings`: what one tab does differently from the browser's
/// settings (docs/protocol-language.md, "Clients that differ").
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TabSettings {
    /// Refreshes this tab (and each of its requesters) may start, 0 to [`MAX_PER_TAB`];
    /// absent: `refreshes_per_tab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = MAX_PER_TAB))]
    pub refreshes: Option<u8>,
    /// When each requester of this tab starts a refresh, one entry per requester, as
    /// `browser.refresh_triggers`; absent: the browser's `refresh_triggers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_triggers: Option<Vec<crate::model::policy::RefreshTrigger>>,
    /// Whether this tab's requesters share one refresh in flight, as `browser.single_flight`
    /// (which it overrides for this tab); absent: the browser's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_flight: Option<bool>,
}

/// The `browser` section: one browser with a shared cookie jar.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrowserSection {
    /// Tabs, 1 to [`MAX_TABS`]: the clients of one device that share its storage and cookie
    /// jar. A tab stands for whatever runs the client's code with that storage: a browser tab,
    /// a process of an app (an app and its background worker sharing a keychain entry: json
    /// mode, `json_storage: "shared"`), or a request a backend-for-frontend serves with the
    /// session it stores (README, C20). Two code paths of one app that refresh on their own
    /// are tabs when they share a lock or storage that orders them (`coordination`), and
    /// requesters (`requesters_per_tab`) when nothing orders them (docs/protocol-language.md,
    /// "Tabs or requesters"). Traces name them tab A, tab B, ….
    #[schemars(range(min = 1, max = MAX_TABS))]
    pub tabs: u8,
    /// Refreshes (page loads, returns from idle) each tab may start, 0 to [`MAX_PER_TAB`].
    #[schemars(range(max = MAX_PER_TAB))]
    pub refreshes_per_tab: u8,
    /// Ordinary requests (`GET /users/me`) each tab may start, 0 to [`MAX_PER_TAB`].
    #[serde(default)]
    #[schemars(range(max = MAX_PER_TAB))]
    pub requests_per_tab: u8,
    /// Ordinary calls (API requests presenting the tab's access token, served by the
    /// protocol's `request` handler) each tab may make, 0 (default) to [`MAX_PER_TAB`]; a call
    /// may be in flight while the tab refreshes. `protocol` or `auth_server` models only.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(extend("default" = 0), range(max = MAX_PER_TAB))]
    pub calls_per_tab: u8,
    /// Sign-outs the user may start, from any idle tab (not from a tab whose own refresh is in
    /// flight: it signs out once that is answered), 0 to 2 (default 0).
    #[serde(default)]
    #[schemars(range(max = 2))]
    pub sign_outs: u8,
    /// Authorization-server models with several devices: the device the sign-outs start on
    /// (1 to `devices`, as traces number them: `device 2`); the other devices never sign out.
    /// Without it (default) the user signs out from any idle tab of any device. Needs
    /// `sign_outs`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::jsonfile::not_null")]
    #[schemars(range(min = 1, max = 3))]
    pub sign_out_from: Option<u8>,
    /// Devices that sign in during the run (authorization-server models): the last
    /// `sign_ins` devices start signed out and the user signs in on each once, at any moment,
    /// racing every other step; the protocol's `sign_in` handler (which may then have several
    /// steps) serves it, and the new family's first token goes to the device's tabs. 0
    /// (default) to `devices - 1`.
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "sign_ins_count")]
    #[schemars(range(max = 2), extend("default" = 0))]
    pub sign_ins: u8,
    /// Sign-ins again during the run (authorization-server models): on every device signed in
    /// when the run starts, the user may sign in again, from its first tab, up to
    /// `re_sign_ins` times, at any moment (also while a refresh of that device is in flight).
    /// Each such sign-in is a new family, served by the protocol's `sign_in` handler; its
    /// first token goes to the device's tabs. The old session ends by the user's own action:
    /// while the sign-in is in flight the device is between two sessions, and once it is
    /// answered the device is signed in with the new family. 0 (default) to 2.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(extend("default" = 0), range(max = 2))]
    pub re_sign_ins: u8,
    /// What each sign-in again (`re_sign_ins`) is: `sign-in` (default: the user signs in
    /// again) or `password-change` (the user changes the password on this device: the
    /// server's `sign_in` handler answers it with a new session for the device, and
    /// `password_change_revokes_all` judges that no refresh token issued before the change is
    /// honoured after it). Needs `re_sign_ins` above 0.
    #[serde(default, skip_serializing_if = "is_default")]
    pub re_sign_in_is: crate::model::policy::ReSignIn,
    /// Authorization-server models with several devices: the device the sign-ins again
    /// (`re_sign_ins`, password changes included) start on (1 to `devices`, as traces number
    /// them: `device 2`); the other devices never sign in again. Without it (default) every
    /// device signed in when the run starts may. Needs `re_sign_ins`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3))]
    pub re_sign_in_from: Option<u8>,
    /// The auth mode the app uses: `session` (default), `cookie` or `json`.
    #[serde(default = "default_mode")]
    pub mode: AuthMode,
    /// json mode: `per-tab` (default: the SDK's in-memory storage) or `shared` (localStorage).
    #[serde(default)]
    pub json_storage: JsonStorage,
    /// Cross-tab coordination of refreshes: `none` (default), `web-locks`, `local-storage`
    /// (PR 22457), `broadcast-leader` (authts/oidc-client-ts PR 434).
    #[serde(default)]
    pub coordination: Coordination,
    /// PR 22464 (10.11.1+): a tab whose token is still fresh calls `GET /users/me` instead of
    /// refreshing, and is logged out if that fails.
    #[serde(default)]
    pub freshness_check: bool,
    /// Authorization-server models: browsers (devices), each signed in with its own session
    /// (token family), 1 to 3 (default 1). Directus models have one browser.
    #[serde(default = "one_device")]
    #[schemars(range(min = 1, max = 3))]
    pub devices: u8,
    /// Retries a tab may send for a refresh that got no answer, 0 to 2 (default 0: Directus's
    /// app does not retry).
    #[serde(default)]
    #[schemars(range(max = 2))]
    pub retries_per_tab: u8,
    /// With `retries_per_tab`: when a waiting tab gives up and sends its refresh again:
    /// `any-moment` (default: also while the answer is still on its way), `after-loss` (only
    /// once its request or answer was lost; needs `lossy`) or a number N of ticks, 1 to 16 and
    /// at most `time.max_ticks` (a client timeout: only once its clock advanced N ticks since
    /// it sent its last attempt).
    #[serde(default)]
    pub retry_timeout: crate::model::policy::RetryTimeout,
    /// With `web-locks`: how many times a lock holder may hang for good, 0 or 1 (default 0;
    /// C18).
    #[serde(default)]
    #[schemars(range(max = 1))]
    pub lock_hangs: u8,
    /// With `web-locks`: a waiting tab may steal the lock (`steal: true`; default false; C18).
    #[serde(default)]
    pub lock_steal: bool,
    /// With `web-locks`: a tab reads its refresh token before it queues for the lock and
    /// presents that copy once granted (default false; C20).
    #[serde(default)]
    pub read_before_lock: bool,
    /// When a tab reads the refresh token its refresh presents: `at-send` (default: in the
    /// step that sends it) or `before-send` (in a step of its own, `TabReadsToken`, after it
    /// took or was granted the lock; it sends the token it read in a later step, whatever is
    /// stored by then). json mode, `coordination` "none" or "web-locks"
    /// (docs/protocol-language.md, "A step between reading the token and sending it").
    #[serde(default, skip_serializing_if = "crate::model::policy::ReadsToken::is_default")]
    pub reads_token: crate::model::policy::ReadsToken,
    /// With `web-locks`: what a tab that queued for the lock does once granted it:
    /// `refresh` (default) or `skip-if-token-changed` (double-checked locking: it sends no
    /// refresh when the stored token is not the one it queued with;
    /// [`crate::model::policy::LockGranted`]).
    #[serde(default)]
    pub lock_granted: LockGranted,
    /// With `lock_granted: "skip-if-stored-session-fresh"`: N ticks, 0 to [`MAX_TICKS`]
    /// (default 0): the tab that takes the lock skips its refresh when the stored access
    /// token's `exp` is at least the browser's `now + N`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "tick_margin")]
    #[schemars(range(max = MAX_TICKS))]
    pub lock_recheck_margin: Option<Tick>,
    /// json mode with `json_storage: "shared"`: what the shared entry holds, `refresh-token`
    /// (default) or `session` (the refresh token, the access token and its expiry;
    /// [`crate::model::policy::StorageHolds`]).
    #[serde(default)]
    pub shared_storage_holds: StorageHolds,
    /// The first `ssr_paths` tabs are server-side render paths that can refresh but cannot
    /// write cookies (cookie mode only; default 0; C05, C06), 0 to `tabs - 1`.
    #[serde(default)]
    #[schemars(range(max = 5))]
    pub ssr_paths: u8,
    /// With `broadcast-leader`: `single` (default: tab A leads, authts/oidc-client-ts PR 434)
    /// or `visibility` (every visible tab leads: AxaFrance/oidc-client issue 1039).
    #[serde(default)]
    pub leader_election: LeaderElection,
    /// With `broadcast-leader`: how many times a leader may be closed or frozen for good while
    /// its refresh is in flight, 0 or 1 (default 0).
    #[serde(default)]
    #[schemars(range(max = 1))]
    pub leader_closes: u8,
    /// With `broadcast-leader`: a follower waiting for the leader's broadcast gives up at this
    /// many of its own steps (see `properties::lp4_bounded_wait`) and refreshes itself with the
    /// token it holds, 0 to 3 (default 0: it waits for ever).
    #[serde(default)]
    #[schemars(range(max = 3))]
    pub follower_timeout: u8,
    /// K of the bounded LP4 property `lp4_bounded_wait`: no tab waits for a lock or a
    /// leader's broadcast more than K of its own steps, 0 to 3 (default 2).
    #[serde(default = "default_max_wait_steps")]
    #[schemars(range(max = 3))]
    pub max_wait_steps: u8,
    /// Authorization-server models: `per-device` (default: one sign-in per browser, every tab
    /// starts with its token) or `per-tab` (each tab logged in on its own into the browser's
    /// client session; json mode with per-tab storage; C08).
    #[serde(default)]
    pub logins: Logins,
    /// What a tab does when its refresh is refused (4xx), in order (default `["log-out"]`);
    /// the list ends with `log-out` or `keep-going` ([`Reaction`]).
    #[serde(default = "crate::model::policy::default_reactions")]
    pub on_refused: Vec<Reaction>,
    /// What a tab does when its refresh fails with a 5xx, in order (default `["log-out"]`).
    #[serde(default = "crate::model::policy::default_reactions")]
    pub on_server_error: Vec<Reaction>,
    /// What the other tabs do when a tab's reaction clears the shared stored token: `ignore`
    /// (default) or `log-out` ([`crate::model::policy::ClearedListener`]).
    #[serde(default)]
    pub on_stored_token_cleared: crate::model::policy::ClearedListener,
    /// What a tab does when its refresh is answered 2xx, in order: where it stores the new
    /// token (`store-in-tab`, `store-shared`, `store-in-cookie`) and whether a later stage of
    /// the same server-side render refreshes with the request's original cookie. Absent: the
    /// preset of `mode` and `json_storage` ([`crate::model::policy::default_on_ok`]), filled
    /// in when the file is read (`models expand` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_ok: Option<Vec<crate::model::policy::OkReaction>>,
    /// What a tab does when an ordinary call (`calls_per_tab`) is answered 2xx, in order
    /// (default none: nothing): `store-echoed-access-token`
    /// ([`crate::model::policy::CallOkReaction`]). Needs `calls_per_tab`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_call_ok: Vec<crate::model::policy::CallOkReaction>,
    /// A request the tab sends of its own accord once a reaction has run (default none):
    /// `{"after": "refresh-ok" | "sign-in-again", "handler": "sign_out", "presents":
    /// "superseded" | "new"}`: after its refresh's 2xx (or the user's sign-in again) it sends
    /// the refresh token it replaced, or the new one, to the server's `sign_out` handler run as
    /// a revocation (RFC 7009), racing every other step; the answer is ignored, and at most one
    /// is in flight per tab ([`crate::model::policy::FollowUp`]; docs/protocol-language.md, "A
    /// follow-up request"). `protocol` or `auth_server` models, `mode` "json".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<crate::model::policy::FollowUp>,
    /// What the other tabs do when a tab writes a new token to the shared storage: `ignore`
    /// (default) or `adopt` ([`crate::model::policy::WrittenListener`]).
    #[serde(default)]
    pub on_stored_token_written: crate::model::policy::WrittenListener,
    /// How a tab's sign-out tells the other tabs of the browser when it clears its session:
    /// `none` (default), `storage-event` (removing the shared `localStorage` entry fires
    /// `storage` in the others) or `broadcast-channel` (a `signed-out` message), each
    /// delivered to each other open tab after its own delay
    /// ([`crate::model::policy::SignOutNotice`]). Needs `sign_outs`.
    #[serde(default)]
    pub sign_out_notice: crate::model::policy::SignOutNotice,
    /// What a tab does when another tab's sign-out notice reaches it, idle or with a refresh,
    /// request or call in flight: `sign-out` (default: it drops its tokens and is logged out)
    /// or `ignore` ([`crate::model::policy::SignOutNoticeReaction`]). Needs `sign_out_notice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_sign_out_notice: Option<crate::model::policy::SignOutNoticeReaction>,
    /// What a tab that a sign-out notice logged out while its refresh was in flight does with
    /// that refresh's 2xx: `store` (default: it stores the pair and is signed in again with
    /// it) or `drop` ([`crate::model::policy::OkAfterSignOutNotice`]). Needs `sign_out_notice`
    /// and `on_sign_out_notice` `sign-out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_ok_after_sign_out_notice: Option<crate::model::policy::OkAfterSignOutNotice>,
    /// K of the `retry` reaction: refreshes answered with an error each tab may send again,
    /// 0 to 2 (default 0); 1 or 2 when a reaction list has `retry` or `refresh-and-retry`.
    #[serde(default)]
    #[schemars(range(max = 2))]
    pub retry_limit: u8,
    /// Independent requesters inside each tab, each refreshing on its own with no
    /// single-flight (middleware, Server Components, Route Handlers; API calls each with
    /// their own 401 interceptor), 1 to 4 (default 1: the tab alone). Each has
    /// `refreshes_per_tab` refreshes; they share the tab's memory, reactions and signed-in
    /// state (docs/protocol-language.md, "Requesters and reloads"). Authorization-server
    /// models, no `coordination`: code paths that share a lock are `tabs` ("Tabs or
    /// requesters").
    #[serde(default = "one_requester")]
    #[schemars(range(min = 1, max = crate::model::browser::requesters::MAX_REQUESTERS))]
    pub requesters_per_tab: u8,
    /// Reloads each tab may make while its refresh is in flight, 0 to 3 (default 0): the
    /// reload cancels the page's requests (their answers are never read) and the new page
    /// refreshes at once with its stored credential (nhost/hasura-backend-plus issue 220).
    /// Authorization-server models, `mode` "cookie" or json `shared`.
    #[serde(default)]
    #[schemars(range(max = crate::model::browser::requesters::MAX_RELOADS))]
    pub reloads_per_tab: u8,
    /// Refreshes each tab may abort while they are in flight, 0 to 2 (default 0): an
    /// `AbortController` timeout or a navigation inside the app. The fetch fails at once and
    /// the tab runs `on_aborted`; the server still serves the request (it may rotate) and its
    /// answer is read by nobody (docs/protocol-language.md, "A request the browser aborts").
    /// Authorization-server models, `coordination` "none", one requester, no reloads.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(max = 2))]
    pub aborts_per_tab: u8,
    /// What a tab does when its refresh is aborted (a fetch error, no answer), in order: the
    /// reactions of `on_server_error`, ending with `log-out` or `keep-going`. Absent: the tab's
    /// `on_server_error`. Needs `aborts_per_tab` above 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_aborted: Option<Vec<Reaction>>,
    /// How a tab stores its refresh's 2xx: `one` (default: in the step that takes the
    /// answer), `access-then-refresh` (the access token then, the refresh token, `on_ok`, in a
    /// later step of its own) or `refresh-then-access` (the refresh token then, the access
    /// token later). json mode with `json_storage` "shared"
    /// (docs/protocol-language.md, "A 2xx stored as two writes, and a client that crashes").
    #[serde(default, skip_serializing_if = "crate::model::policy::OkWrites::is_default")]
    pub ok_writes: crate::model::policy::OkWrites,
    /// Times each tab's process may die and start again, 0 to 2 (default 0): at a step where
    /// it has no request in flight (idle, or between the two writes of `ok_writes`), it loses
    /// its memory and starts again, signed in, with what storage holds. json mode with
    /// `json_storage` "shared".
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(max = 2))]
    pub crashes_per_tab: u8,
    /// What a tab does when it times out waiting for its refresh's answer (the answer was
    /// lost or comes later than the client's timeout), in order: the reactions of
    /// `on_server_error`, ending with `log-out` or `keep-going`. The tab abandons the attempt
    /// (an answer that comes later is dropped). When it may time out is `retry_timeout`, how
    /// many times `retries_per_tab` (needed, 1 or 2). Absent: a timeout sends the same
    /// refresh again (docs/protocol-language.md, "A refresh that timed out").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<Vec<Reaction>>,
    /// With the reaction `wait-for-token-change` in `on_refused` or `on_server_error`: how long
    /// the tab waits for the stored token to change before the rest of the list runs, N ticks
    /// of the browser's clock, 1 to 16 and at most `time.max_ticks` (clerk/cli PR 213 polls
    /// the credential store for 175 ms). Needed by the reaction, refused without it; json
    /// mode, an authorization-server model, `coordination` "none", no requesters, reloads,
    /// aborts, retries, calls or sign-out notice (docs/protocol-language.md, "A refusal that
    /// waits for the stored token to change").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_TICKS))]
    pub token_change_wait: Option<Tick>,
    /// With `coordination` "web-locks": how long a tab waits for the refresh lock another tab
    /// holds, N ticks of the browser's clock, 1 to 16 and at most `time.max_ticks`; once its
    /// clock has advanced N ticks since it queued and it is still waiting, it gives up the wait
    /// and runs `on_lock_timeout` (nextcloud/user_oidc PR 1277: `acquireLock` retried 50 times
    /// every 100 ms, then 'returning old token'). Absent: a waiter waits until it is granted
    /// the lock (docs/protocol-language.md, "A lock wait with a time limit").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_TICKS))]
    pub lock_wait_ticks: Option<Tick>,
    /// With `lock_wait_ticks`: what a tab whose wait for the lock ran out does, in order:
    /// `clear-stored-token`, `clear-cookie`, `clear-shared-storage`, then `log-out` or
    /// `keep-going` (it sent nothing, so no reaction that re-reads or re-sends a refused
    /// token). Needed with `lock_wait_ticks`, refused without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_lock_timeout: Option<Vec<Reaction>>,
    /// What requesters 2 to N of a tab (`requesters_per_tab`) do when their refresh is
    /// answered 2xx, in order: where they store the new token (`store-in-tab`, `store-shared`,
    /// `store-in-cookie`, each at most once); `[]` stores nothing (a server-side render whose
    /// refreshed session never reaches the browser). Absent: the tab's `on_ok`. Needs
    /// `requesters_per_tab` above 1 (docs/protocol-language.md, "Requesters and reloads").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_requester_ok: Option<Vec<crate::model::policy::OkReaction>>,
    /// What requesters 2 to N of a tab (`requesters_per_tab`) do when their refresh is refused
    /// (4xx), in order; absent: the tab's `on_refused`. The tab itself (requester 1) keeps
    /// `on_refused`: a page's navigation and its sub-resource fetches, or a library's timer and
    /// its session-change handler, react differently (docs/protocol-language.md, "Requesters
    /// and reloads"). Needs `requesters_per_tab` above 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_requester_refused: Option<Vec<Reaction>>,
    /// What requesters 2 to N of a tab do when their refresh fails with a 5xx, in order;
    /// absent: the tab's `on_server_error`. Needs `requesters_per_tab` above 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_requester_server_error: Option<Vec<Reaction>>,
    /// A sign-out takes the Web Lock the tab's refreshes take (`coordination` "web-locks"): it
    /// waits for another tab's refresh in flight to be answered and then presents the token
    /// stored then, and its answer releases the lock (supabase/auth-js from v2.62.0, `signOut`
    /// under `_acquireLock` with `navigatorLock`). Default false: a sign-out is sent at once
    /// (docs/protocol-language.md, "A sign-out under the Web Lock").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sign_out_takes_lock: bool,
    /// Whether the user's sign-out sends a request: `sent` (default: the protocol's sign-out
    /// request, the session cleared at its answer) or `none` (local only: the client clears
    /// its stored session at the click and tells the server nothing; clerk/cli before PR 418).
    /// Needs `sign_outs` (docs/protocol-language.md, "A sign-out that stays in the client").
    #[serde(default, skip_serializing_if = "crate::scenario::is_default")]
    pub sign_out_request: crate::model::policy::SignOutRequest,
    /// When each requester of a tab starts a refresh, one entry per requester (requester 1,
    /// the tab itself, first; as many entries as `requesters_per_tab`): "any-time" (default)
    /// or "when-access-expired", only once the access token the page holds has expired by the
    /// clients' clock (a middleware that refreshes when the request's access cookie has
    /// expired). Absent: every requester "any-time". Authorization-server models, a clock
    /// that runs past the access token's lifetime, no reloads (docs/protocol-language.md,
    /// "A refresh on the access token's expiry").
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::jsonfile::not_null")]
    pub refresh_triggers: Option<Vec<crate::model::policy::RefreshTrigger>>,
    /// Settings that differ from tab to tab, one entry per tab (tab A first, as many entries
    /// as `tabs`): each entry may set the tab's own `refreshes` (instead of
    /// `refreshes_per_tab`, for each of its requesters), `refresh_triggers` and `single_flight`
    /// (instead of the browser's); an empty entry `{}` keeps the browser's settings. Tabs with different
    /// settings are not interchangeable (docs/protocol-language.md, "Clients that differ").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tab_settings: Option<Vec<TabSettings>>,
    /// The requesters of a tab (`requesters_per_tab` above 1) share one refresh in flight: a
    /// requester whose turn comes to refresh while another requester of the same page has a
    /// refresh in flight awaits that refresh instead of sending its own (one refresh promise
    /// per page: drips-network/app PR 1884). Tabs never share it. Default false: each
    /// requester refreshes on its own (docs/protocol-language.md, "Several requesters sharing
    /// the page's refresh").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single_flight: bool,
    /// What a tab does when an ordinary call is refused (4xx), in order; absent: the
    /// refresh's `on_refused` (docs/protocol-language.md, "A call's own reactions"). Also
    /// `refresh-and-retry`. Needs `calls_per_tab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_call_refused: Option<Vec<Reaction>>,
    /// What a tab does when an ordinary call fails with a 5xx, in order; absent: the
    /// refresh's `on_server_error`. Needs `calls_per_tab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_call_server_error: Option<Vec<Reaction>>,
    /// N, in ticks, 0 to [`MAX_TICKS`]: a tab whose access token expires within N ticks of
    /// its clock (`exp < now + N`; N = 0: only an expired one), or that holds none, refreshes
    /// before it sends a call and sends the call with the new access token (auth0-spa-js
    /// `getTokenSilently`, 60 s). Absent: the tab sends the access token it holds. Needs
    /// `calls_per_tab`; turns on the browser's clock.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "tick_margin")]
    #[schemars(range(max = MAX_TICKS))]
    pub call_refresh_margin: Option<Tick>,
    /// The word every text a person reads uses for a client (trace steps and actors, Mermaid
    /// lifelines, claims, reports, query errors): `"tab"` (default), or a short lowercase word
    /// for clients that are not browser tabs, e.g. `"process"` for a CLI or `"app"` for a
    /// mobile app (2 to 12 letters a-z; not a word traces use for another actor). Queries may
    /// write it in place of `tab` (`process[A].status`, `process A TabSendsRefresh`). It changes
    /// no state, step or verdict ([`crate::model::client_word`]).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "client_word")]
    #[schemars(with = "Option<String>")]
    pub client_word: Option<crate::model::client_word::ClientWord>,
}

/// `browser.client_word` as written: a validated [`crate::model::client_word::ClientWord`].
fn client_word<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::model::client_word::ClientWord>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v.as_str() {
        Some(w) => crate::model::client_word::ClientWord::new(w).map(Some).map_err(serde::de::Error::custom),
        None => Err(serde::de::Error::custom(format!(
            "found {v}, expected a short lowercase word naming the clients, e.g. \"process\" (leave the field out for \"tab\")"
        ))),
    }
}

/// A margin in ticks written in the file (`lock_recheck_margin`, `call_refresh_margin`): an
/// integer from 0 to [`MAX_TICKS`]. A field left out is no margin; `null`, a negative number,
/// a larger one or another type is refused with the same message, naming that range.
fn tick_margin<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Tick>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v.as_u64().filter(|&n| n <= u64::from(MAX_TICKS)) {
        Some(n) => Ok(Some(n as Tick)),
        None => {
            let absent = if v.is_null() { " (leave the field out for no margin)" } else { "" };
            Err(serde::de::Error::custom(format!("found {v}, expected an integer from 0 to {MAX_TICKS}{absent}")))
        }
    }
}

/// `browser.sign_ins` as written: an integer from 0 to `devices` - 1 (validation names the
/// model's own bound); a negative number, a larger one or another type is refused naming that
/// range, not the type's.
fn sign_ins_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    v.as_u64().and_then(|n| u8::try_from(n).ok()).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "found {v}, expected an integer from 0 to `browser.devices` - 1 (the devices that sign in during the \
             run; at least one device is signed in when it starts)"
        ))
    })
}

fn one_requester() -> u8 {
    1
}

fn default_max_wait_steps() -> u8 {
    2
}

fn one_device() -> u8 {
    1
}

fn default_mode() -> AuthMode {
    AuthMode::Session
}

/// The `attacker` section: a party that copies any token the browser ever held.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttackerSection {
    /// Redemptions it may try, 1 to 3.
    #[schemars(range(min = 1, max = 3))]
    pub attempts: u8,
    /// The modes it may redeem in (`POST /auth/refresh {mode}`), at least one.
    pub modes: Vec<AuthMode>,
    /// It keeps the refresh tokens it is answered with and redeems them too, as a thief who
    /// shadows the user would (default false: it redeems only what it copied from the
    /// browser).
    #[serde(default)]
    pub keeps_tokens: bool,
    /// It also makes ordinary calls with the access tokens it copied from the browser (and,
    /// with `keeps_tokens`, those it is answered with), each call one of its `attempts`
    /// (default false). `protocol` or `auth_server` models only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub uses_access_tokens: bool,
    /// What it copies: `every-token` (default), every token the browser ever held, whenever it
    /// held it; `once`, what the browser's storage holds at the one moment it reads it
    /// (`AttackerReadsStorage`: tab memory and the shared `localStorage` entry in json mode,
    /// the cookie jar in cookie and session mode), and nothing before
    /// (docs/protocol-language.md, "An attacker who reads storage once").
    #[serde(default, skip_serializing_if = "Steals::is_default")]
    pub steals: Steals,
}

/// `attacker.steals`: when the attacker copies the browser's tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Steals {
    /// Every token the browser ever held, as soon as it held it (an over-approximation: tokens
    /// that were never stored at the same moment).
    #[default]
    EveryToken,
    /// What the browser's storage holds at one moment of the run, chosen by the search (an
    /// XSS payload or a malicious extension that runs once, a stolen laptop's disk).
    Once,
}

impl Steals {
    fn is_default(&self) -> bool {
        *self == Steals::EveryToken
    }
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// A field left at its default is not written back.
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The `time` section: the clock bound and the TTLs, in ticks.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeSection {
    /// The clock runs from 0 to `max_ticks` (0: time does not pass), at most [`MAX_TICKS`].
    #[serde(default)]
    #[schemars(range(max = MAX_TICKS))]
    pub max_ticks: Tick,
    /// `REFRESH_TOKEN_TTL`: a session row's lifetime after sign-in or refresh, 1 to 200.
    /// Required where it is read: a `server` (Directus) or `session_server` model (the sign-in
    /// row expires at it). A `protocol` or `auth_server` model never reads it and may leave it
    /// out ([`UNUSED_TTL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200))]
    pub refresh_token_ttl: Option<Tick>,
    /// `SESSION_COOKIE_TTL`: the session JWT's and cookie's lifetime, 1 to 200. Required where
    /// it is read: a `server` or `session_server` model in session mode (the sign-in's JWT
    /// expires at it) or whose statements read `session_cookie_ttl`. Elsewhere it may be left
    /// out ([`UNUSED_TTL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200))]
    pub session_cookie_ttl: Option<Tick>,
    /// `ACCESS_TOKEN_TTL`: an access token's lifetime in json and cookie mode (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 200))]
    pub access_token_ttl: Tick,
    /// `SESSION_REFRESH_GRACE_PERIOD` (10.11.1+, default 10 s): 1 tick unless given. Read by a
    /// `server` (Directus) model and by a `session_server` model whose statements read
    /// `grace_period`; refused elsewhere (a `protocol` or `auth_server` model writes a grace
    /// window as a `refresh` rule and `reuse_interval`).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 200))]
    pub session_refresh_grace_period: Tick,
    /// The app's margin before expiry (`msRefreshBeforeExpires`, 10 s): 1 tick unless given.
    /// Read only by Directus's freshness check (`browser.freshness_check` true, a `server` or
    /// `session_server` model); refused without it (a call's refresh before expiry is
    /// `browser.call_refresh_margin`).
    #[serde(default = "one")]
    #[schemars(range(max = 200))]
    pub refresh_margin: Tick,
    /// Ground truth: the session's lifetime from sign-in, in ticks; absent: it does not end
    /// within the bounds unless the user signs out.
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub session_lifetime: Option<Tick>,
    /// A bound on the network's delay, K ticks: the clock may not advance more than K ticks
    /// past the tick a message still in flight was sent at (0: every message sent is delivered
    /// before the clock next advances). Absent: delays are unbounded. With `lossy`, a lost
    /// message is no longer in flight and does not hold the clock back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = MAX_TICKS))]
    pub max_in_flight_ticks: Option<Tick>,
}

fn one() -> Tick {
    1
}

/// The value of `time.refresh_token_ttl` or `time.session_cookie_ttl` left out of a model that
/// never reads it (so it changes nothing): 1 tick.
pub const UNUSED_TTL: Tick = 1;

/// A model file, as written.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// The model's name: the system and version it models. Used in trace file names.
    pub name: String,
    /// One paragraph: what protocol this is.
    pub description: String,
    /// Where the modelled behaviour comes from (file and version, PR, RFC section).
    pub sources: Vec<String>,
    /// The Directus server's policy; absent in an authorization-server model.
    #[serde(default)]
    pub server: Option<ServerSection>,
    /// An OAuth authorization server's policy as preset options ([`AuthServerPolicy`]), in
    /// place of `server`; expanded into the protocol language.
    #[serde(default)]
    pub auth_server: Option<AuthServerPolicy>,
    /// An OAuth authorization server written in the protocol language ([`ProtocolSpec`]), in
    /// place of `server` and `auth_server`.
    #[serde(default)]
    pub protocol: Option<ProtocolSpec>,
    /// A session-table server (Directus's kind) written in the protocol language
    /// ([`SessionServerSpec`]), in place of `server`; the `server` section expands into it.
    #[serde(default)]
    pub session_server: Option<SessionServerSpec>,
    /// The browser.
    pub browser: BrowserSection,
    /// Clock and TTLs.
    pub time: TimeSection,
    /// The network (default `unordered_nonduplicating`).
    #[serde(default)]
    pub network: NetworkKind,
    /// Whether and which messages may be lost (default false; [`Lossy`]).
    #[serde(default)]
    pub lossy: Lossy,
    /// An attacker holding copies of the browser's tokens (default: none).
    #[serde(default)]
    pub attacker: Option<AttackerSection>,
    /// Expected verdict per property name.
    #[serde(default)]
    pub expect: BTreeMap<String, Verdict>,
    /// Scenario queries and user-defined invariants checked with the model
    /// ([`crate::query`], `docs/queries.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<crate::query::QuerySpec>,
}

/// A validated model file, ready to build.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it was read from.
    pub path: PathBuf,
    /// `name` from the file.
    pub name: String,
    /// `description` from the file.
    pub description: String,
    /// `sources` from the file.
    pub sources: Vec<String>,
    /// The Directus server policy (in an authorization-server model: Directus's defaults,
    /// unused).
    pub server: ServerPolicy,
    /// The authorization server's preset options, if the file has an `auth_server` section.
    pub auth_server: Option<AuthServerPolicy>,
    /// The authorization server in the protocol language: the file's `protocol` section, or
    /// its `auth_server` preset expanded. The model is built from it instead of the Directus
    /// server.
    pub protocol_spec: Option<ProtocolSpec>,
    /// [`Scenario::protocol_spec`], compiled.
    pub protocol: Option<std::sync::Arc<Protocol>>,
    /// The session-table server in the protocol language: the file's `session_server` section,
    /// or its `server` section expanded ([`crate::protocol::directus`]).
    pub session_server_spec: Option<SessionServerSpec>,
    /// [`Scenario::session_server_spec`] compiled, when the file has a `session_server`
    /// section. `None` for a `server` section: the model compiles its expansion (from
    /// [`Scenario::server`], so a test may change the policy after loading). Either way the
    /// interpreter ([`crate::model::sessions`]) runs it.
    pub session_server: Option<std::sync::Arc<SessionProgram>>,
    /// The browser.
    pub browser: BrowserSection,
    /// Clock and TTLs.
    pub time: TimeSection,
    /// The network.
    pub network: NetworkKind,
    /// Which messages the network may lose ([`Lossy`]).
    pub lossy: Lossy,
    /// The attacker, if any.
    pub attacker: Option<AttackerSection>,
    /// Expected verdicts.
    pub expect: BTreeMap<String, Verdict>,
    /// The file's `queries`, compiled.
    pub queries: Vec<crate::query::Query>,
}

/// The JSON Schema of model files, generated from [`ModelFile`] (`refresh-check models schema`).
pub fn schema() -> schemars::Schema {
    let mut schema = schemars::schema_for!(ModelFile);
    schema.insert("title".into(), "refresh-check model file".into());
    schema
}

/// For an unknown top-level field of a model file that is a field of one of its sections (say
/// `max_in_flight_ticks`, a field of `time`), where it belongs: `"it is a field of `time`"`.
/// `field` and `message` are the parse error's field path and message; `None` otherwise.
fn section_hint(field: &str, message: &str) -> Option<String> {
    let name = message.strip_prefix("unknown field `")?.split('`').next()?;
    if field.contains('.') {
        return None;
    }
    let schema = serde_json::to_value(schema()).ok()?;
    let sections: Vec<String> = schema["properties"]
        .as_object()?
        .iter()
        .filter(|(_, sub)| {
            let def = sub["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")).map(|d| &schema["$defs"][d]);
            def.is_some_and(|d| d["properties"].get(name).is_some())
        })
        .map(|(section, _)| format!("`{section}`"))
        .collect();
    (!sections.is_empty()).then(|| format!("it is a field of {}", sections.join(" or ")))
}

/// serde's "unknown variant" message for a reaction list other than a call's own
/// (`on_call_refused`, `on_call_server_error`), without `refresh-and-retry` among the names it
/// expects: that reaction is refused in every other list. Any other message is returned as it is.
fn without_call_only_reactions(field: &str, message: String) -> String {
    let reaction_list = field.starts_with("browser.on_") && field.ends_with(']');
    if !reaction_list || field.starts_with("browser.on_call_") || !message.starts_with("unknown variant `") {
        return message;
    }
    message.replace(", `refresh-and-retry`", "").replace("`refresh-and-retry`, ", "")
}

/// For an unknown field naming a grace period (`protocol.grace_period`, `time.grace_seconds`),
/// how a grace window is written: a `refresh` rule whose guard is the window, with
/// `reuse_interval` the claim `rotated_token_expires` checks; in `time`, also which model reads
/// Directus's `session_refresh_grace_period`. `None` for any other error.
fn grace_field_hint(field: &str, message: &str) -> Option<String> {
    let name = message.strip_prefix("unknown field `")?.split('`').next()?;
    let section = field.split('.').next()?;
    if !name.contains("grace") || !["protocol", "auth_server", "time"].contains(&section) {
        return None;
    }
    let rule = "a grace window is a `refresh` rule whose guard is the window, e.g. `presented.status == superseded \
                and now <= presented.rotated_at + N` answering `ok presented.child` (docs/protocol-language.md, \
                \"What a retired token gets inside the interval\"), and `protocol.reuse_interval` N (ticks) is the \
                claim `rotated_token_expires` checks";
    Some(match section {
        "auth_server" => format!("the preset's `grace` option writes such a rule; {rule}"),
        "time" => format!(
            "`time.session_refresh_grace_period` is Directus's, read only by a `server` or `session_server` model; {rule}"
        ),
        _ => rule.to_string(),
    })
}

/// For a file refused at its `schema` field: when it is a file this tool writes (a trace,
/// `refresh-check/trace/v1`, or another `refresh-check/…` format), says so and what to do
/// (a folder given to `check` may hold traces beside its models). `None` otherwise.
fn other_file_hint(field: &str, text: &str) -> Option<String> {
    if field != "schema" {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let schema = value.get("schema")?.as_str()?;
    let what = if schema.starts_with("refresh-check/trace/") {
        "a trace file"
    } else if schema.starts_with("refresh-check/") {
        "a file refresh-check writes"
    } else {
        return None;
    };
    Some(format!(
        "this is {what} (`schema`: {schema:?}), not a model file: give `check` the model files or their own folder (`check models/`); `trace validate` reads traces"
    ))
}

/// For serde's message on an integer field read as an integer type ("…, expected an integer
/// from 0 to 255": the type's range), the message with the range the model-file schema gives
/// that field (`browser.tabs`: 1 to 6) instead; `None` when the message names no type range or
/// the schema gives the field none. serde's "invalid value: integer `-1`" reads `found -1`.
/// `field` is the parse error's field path.
fn field_range_message(field: &str, message: &str) -> Option<String> {
    let (head, _) = message.split_once("expected an integer from 0 to 255")?;
    let schema = serde_json::to_value(schema()).ok()?;
    fn follow<'a>(schema: &'a serde_json::Value, mut node: &'a serde_json::Value) -> &'a serde_json::Value {
        while let Some(r) = node["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
            node = &schema["$defs"][r];
        }
        node
    }
    let resolve = |node| follow(&schema, node);
    let mut node = resolve(&schema);
    for part in field.split('.') {
        let (name, indexed) = match part.split_once('[') {
            Some((name, _)) => (name, true),
            None => (part, false),
        };
        // An optional section is `anyOf` its type and null.
        let alternatives = node["anyOf"].as_array().into_iter().flatten().map(&resolve);
        node = std::iter::once(node).chain(alternatives).find_map(|n| n["properties"].get(name)).map(&resolve)?;
        if indexed {
            node = resolve(&node["items"]);
        }
    }
    let (lo, hi) = (node["minimum"].as_i64()?, node["maximum"].as_i64()?);
    // serde's "invalid value: integer `-1`, " says what was found as the other errors do.
    let head = match head.strip_prefix("invalid value: integer `").and_then(|r| r.split_once("`, ")) {
        Some((n, "")) => format!("found {n}, "),
        _ => head.to_string(),
    };
    Some(format!("{head}expected an integer from {lo} to {hi}"))
}

/// A refusal of a server section's field (`protocol`, `session_server`) where it stands in
/// the file `text` (parsed as `doc`). A field that holds a number the refusal quotes (an
/// out-of-range `protocol.instances`) reads as the other range errors do, `found 0, expected
/// an integer from 1 to 4`, not as a quoted text (`found "0"`).
fn protocol_error(
    path: &Path,
    text: &str,
    doc: Option<&serde_json::Value>,
    field: String,
    found: String,
    message: String,
) -> ScenarioError {
    let at = location_of(text, &field);
    let number = doc.and_then(|d| crate::shape::value_at(d, &field)).filter(|v| v.is_number());
    match number {
        Some(n) if n.to_string() == found => {
            let expected = message.strip_prefix("expected ").map_or(message.clone(), str::to_string);
            ScenarioError::Invalid { path: path.into(), at, field, found, expected }
        }
        _ => ScenarioError::Protocol { path: path.into(), at, field, found, message },
    }
}

/// For a server section's missing `sign_out` handler, the least one to add, as JSON: a
/// `protocol` sign-out that revokes the presented token's family (RFC 7009 §2.1), or a
/// `session_server` sign-out that deletes the presented session's row. `field` and `message`
/// are the parse error's; `None` for any other error.
fn missing_sign_out_hint(field: &str, message: &str) -> Option<String> {
    if !message.starts_with("missing: this field is required") {
        return None;
    }
    let least = match field {
        "protocol.sign_out" => {
            r#""sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] }"#
        }
        "session_server.sign_out" => {
            r#""sign_out": { "steps": [ { "name": "destroy", "rules": [ { "name": "DELETE", "run": "delete presented", "next": "done" } ] }, { "name": "done", "rules": [ { "name": "signed out", "reply": "signed_out" } ] } ] }"#
        }
        _ => return None,
    };
    Some(format!(
        "every server has a sign-out, run by `browser.sign_outs` and judged by `logout_revokes_all` and the \
         `sign_out_*` properties; the least one to add: {least}"
    ))
}

/// For serde's "unknown variant `X`, expected one of `a`, `b`" or "unknown field `X`, expected
/// one of …", the listed name nearest to X when it is a likely misspelling: `"did you mean
/// `log-out`?"`. `None` otherwise.
fn nearest_name_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown variant `").or_else(|| message.strip_prefix("unknown field `"))?;
    let (found, rest) = rest.split_once('`')?;
    let listed = rest.split_once("expected one of ")?.1;
    let names: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
    crate::protocol::expr::did_you_mean(found, names.iter().copied()).map(|c| format!("did you mean `{c}`?"))
}

/// The model file of `sc` with its `auth_server` preset replaced, in place, by the `protocol`
/// section it expands to, or its Directus `server` section by the `session_server` section it
/// expands to ([`crate::protocol::directus`]), and the `browser` section's client reactions
/// (`on_ok`, `on_refused`, `on_server_error` and the two storage listeners) written out with
/// their presets, and the requesters per tab and reloads with their defaults, as pretty JSON with a final newline; a file already in the language keeps its
/// server section as it is. Errors: a file that cannot be read again.
pub fn expanded_text(sc: &Scenario) -> Result<String, String> {
    let (keys, section, value) = if let Some(spec) = &sc.protocol_spec {
        (["auth_server", "protocol"], "protocol", serde_json::to_value(spec).map_err(|e| e.to_string())?)
    } else if let Some(spec) = &sc.session_server_spec {
        (["server", "session_server"], "session_server", serde_json::to_value(spec).map_err(|e| e.to_string())?)
    } else {
        return Err("the model has no server section to expand".into());
    };
    let text = std::fs::read_to_string(&sc.path).map_err(|e| format!("cannot read the model file again: {e}"))?;
    let file: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(file) = file else { return Err("not a JSON object".into()) };
    let mut out = serde_json::Map::new();
    for (k, v) in file {
        if keys.contains(&k.as_str()) {
            out.insert(section.into(), value.clone());
        } else if let (true, serde_json::Value::Object(mut browser)) = (k == "browser", v.clone()) {
            // The client reactions, with the presets of the mode and storage written out.
            let b = &sc.browser;
            let mut reactions = vec![
                ("on_ok", serde_json::to_value(&b.on_ok)),
                ("on_refused", serde_json::to_value(&b.on_refused)),
                ("on_server_error", serde_json::to_value(&b.on_server_error)),
                ("on_stored_token_cleared", serde_json::to_value(b.on_stored_token_cleared)),
                ("on_stored_token_written", serde_json::to_value(b.on_stored_token_written)),
                ("requesters_per_tab", serde_json::to_value(b.requesters_per_tab)),
                ("reloads_per_tab", serde_json::to_value(b.reloads_per_tab)),
            ];
            if b.aborts_per_tab > 0 {
                // An aborted refresh's reactions: by default the 5xx list.
                reactions
                    .push(("on_aborted", serde_json::to_value(b.on_aborted.as_ref().unwrap_or(&b.on_server_error))));
            }
            if let Some(list) = &b.on_timeout {
                reactions.push(("on_timeout", serde_json::to_value(list)));
            }
            if b.requesters_per_tab > 1 {
                // The other requesters' reactions: by default the tab's lists.
                reactions
                    .push(("on_requester_ok", serde_json::to_value(b.on_requester_ok.as_ref().or(b.on_ok.as_ref()))));
                let refused = b.on_requester_refused.as_ref().unwrap_or(&b.on_refused);
                let failed = b.on_requester_server_error.as_ref().unwrap_or(&b.on_server_error);
                reactions.push(("on_requester_refused", serde_json::to_value(refused)));
                reactions.push(("on_requester_server_error", serde_json::to_value(failed)));
            }
            if b.calls_per_tab > 0 {
                // A call's own reactions: by default the refresh's lists.
                let refused = b.on_call_refused.as_ref().unwrap_or(&b.on_refused);
                let failed = b.on_call_server_error.as_ref().unwrap_or(&b.on_server_error);
                reactions.push(("on_call_refused", serde_json::to_value(refused)));
                reactions.push(("on_call_server_error", serde_json::to_value(failed)));
            }
            for (name, value) in reactions {
                if !browser.contains_key(name) {
                    browser.insert(name.into(), value.map_err(|e| e.to_string())?);
                }
            }
            out.insert(k, serde_json::Value::Object(browser));
        } else {
            out.insert(k, v);
        }
    }
    let mut s = serde_json::to_string_pretty(&serde_json::Value::Object(out)).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok(s)
}

/// Where a field stands in a model file: the 1-based line and column (in characters) of the
/// opening quote of its string value (or of its key). Line 0: not found (a field a preset's
/// expansion wrote); it then prints as nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// 1-based line; 0 when the field was not found.
    pub line: usize,
    /// 1-based column, in characters (not bytes); 0 when the field was not found.
    pub column: usize,
}

impl std::fmt::Display for Location {
    /// `:LINE:COLUMN` (to follow a file name), or nothing when not found.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            Ok(())
        } else {
            write!(f, ":{}:{}", self.line, self.column)
        }
    }
}

/// Every string literal of a JSON text (keys and values), in order: its byte offset (the
/// opening quote) and its decoded value, so that a value written with escapes (`"\u00e9"`,
/// `"\/"`) is found by what it means. A literal that does not decode is skipped.
fn string_literals(text: &str) -> Vec<(usize, String)> {
    let bytes = text.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(bytes.len());
        if let Ok(v) = serde_json::from_str::<String>(&text[start..end]) {
            out.push((start, v));
        }
        i = end;
    }
    out
}

/// The location in `text` (a model file) of the field at `field` (a path such as
/// `protocol.refresh.steps[1].rules[0].reply`): where its string value stands, or, for a value
/// that is not a string, its key; for an object without a key of its own (an element of a
/// list), its first key. Escaped characters in the file are compared by what they mean.
/// [`Location::default`] (line 0) if it cannot be found.
pub(crate) fn location_of(text: &str, field: &str) -> Location {
    use serde_json::Value;
    // Every key and string of the document in order, with the path of the value it belongs to
    // and whether it is the key (true) or the value (false).
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, bool, String)>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    out.push((p.clone(), true, k.clone()));
                    walk(x, &p, out);
                }
            }
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| walk(x, &format!("{path}[{i}]"), out)),
            Value::String(s) => out.push((path.to_string(), false, s.clone())),
            _ => {}
        }
    }
    let Ok(doc) = serde_json::from_str::<Value>(text) else { return Location::default() };
    let mut tokens = vec![];
    walk(&doc, "", &mut tokens);
    let target = tokens
        .iter()
        .position(|(p, key, _)| p == field && !key)
        .or_else(|| tokens.iter().position(|(p, key, _)| p == field && *key))
        // An object in a list (`queries[0]`) has no key of its own: its first key inside.
        .or_else(|| {
            tokens.iter().position(|(p, _, _)| p.strip_prefix(field).is_some_and(|r| r.starts_with(['.', '['])))
        });
    let Some(at) = target else { return Location::default() };
    let wanted = &tokens[at].2;
    let nth = tokens[..at].iter().filter(|(_, _, s)| s == wanted).count();
    let Some(&(offset, _)) = string_literals(text).iter().filter(|(_, s)| s == wanted).nth(nth) else {
        return Location::default();
    };
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    Location { line: 1 + text[..offset].matches('\n').count(), column: 1 + text[line_start..offset].chars().count() }
}

/// The longest model name, in bytes: trace file names are `<name>.<property>.json`, and most
/// file systems allow 255 bytes per file name.
pub const MAX_NAME_LEN: usize = 100;

/// Why a model file was rejected.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read the model file: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The file is not valid JSON, or a field has the wrong type or name.
    #[error("{path}:{line}:{column}: field `{field}`: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, field: String, message: String },
    /// A field the model reads is missing (`time.refresh_token_ttl` of a Directus model);
    /// `at` is where its section stands (printed as nothing if the section is absent).
    #[error("{path}{at}: field `{field}`: missing; expected {expected}")]
    Missing { path: PathBuf, at: Location, field: String, expected: String },
    /// A field has a value out of range or that makes no sense with another; `at` is where
    /// the field stands in the file (its value, or its key for a number or a section; printed
    /// as nothing when it is not in the file, e.g. a default or the CLI's `--tabs`).
    #[error("{path}{at}: field `{field}`: found {found}, expected {expected}")]
    Invalid { path: PathBuf, at: Location, field: String, found: String, expected: String },
    /// A guard, effect or reply of the `protocol` section (or a query) does not parse or
    /// type-check; `at` is where the text found stands in the file (line and column; printed
    /// as nothing if not found).
    #[error("{path}{at}: field `{field}`: {message}; found {found:?}")]
    Protocol { path: PathBuf, at: Location, field: String, found: String, message: String },
}

impl ScenarioError {
    /// The error with what it says of the clients in the model's client word `word`
    /// (`browser.client_word`, [`crate::model::client_word::ClientWord::reword_error`]): what
    /// was expected, or the message; the field and the text found are quoted as written.
    pub fn in_client_word(self, word: &crate::model::client_word::ClientWord) -> ScenarioError {
        let re = |t: String| word.reword_error(&t).into_owned();
        match self {
            ScenarioError::Parse { path, line, column, field, message } => {
                ScenarioError::Parse { path, line, column, field, message: re(message) }
            }
            ScenarioError::Missing { path, at, field, expected } => {
                ScenarioError::Missing { path, at, field, expected: re(expected) }
            }
            ScenarioError::Invalid { path, at, field, found, expected } => {
                ScenarioError::Invalid { path, at, field, found, expected: re(expected) }
            }
            ScenarioError::Protocol { path, at, field, found, message } => {
                ScenarioError::Protocol { path, at, field, found, message: re(message) }
            }
            e => e,
        }
    }

    /// The error with the place of its field in the model file's `text` filled in, where the
    /// error has a field that the file holds and no place yet.
    fn located(self, text: &str) -> ScenarioError {
        match self {
            ScenarioError::Invalid { path, at, field, found, expected } if at.line == 0 => {
                let at = location_of(text, &field);
                ScenarioError::Invalid { path, at, field, found, expected }
            }
            e => e,
        }
    }
}

impl Scenario {
    /// Reads and validates a model file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = crate::input::read_text(path).map_err(|source| ScenarioError::Read { path: path.into(), source })?;
        Scenario::parse(path, &text)
    }

    /// Parses and validates model-file text; `path` is used in errors. A refusal of a model
    /// with `browser.client_word` names its clients in that word
    /// ([`ScenarioError::in_client_word`]).
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse_in_tab_words(path, text).map_err(|e| {
            let word = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|d| d.pointer("/browser/client_word").and_then(|w| w.as_str()).map(str::to_string))
                .and_then(|w| crate::model::client_word::ClientWord::new(&w).ok());
            match word {
                Some(w) => e.in_client_word(&w),
                None => e,
            }
        })
    }

    /// [`Scenario::parse`], its refusals in the checker's own words (`tab`).
    fn parse_in_tab_words(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let doc = serde_json::from_str::<serde_json::Value>(text).ok();
        let schema = serde_json::to_value(schema()).unwrap_or_default();
        if let Some(doc) = &doc {
            if let Some(field) = crate::jsonfile::array_for_object(&schema, doc) {
                let object = crate::shape::nodes_at(&schema, &field)
                    .map(|nodes| {
                        let object = |n: &&serde_json::Value| {
                            n.get("properties").is_some()
                                || n.get("additionalProperties").is_some_and(|a| a.is_object())
                        };
                        nodes.into_iter().filter(object).collect::<Vec<_>>()
                    })
                    .and_then(|nodes| crate::shape::expected(&schema, &nodes))
                    .unwrap_or_else(|| "an object `{…}`".into());
                return Err(ScenarioError::Invalid {
                    path: path.into(),
                    at: location_of(text, &field),
                    field,
                    found: "a list".into(),
                    expected: format!(
                        "{object}, each field written by its name (this field takes no list, not even one whose \
                         items are the fields' values in order)"
                    ),
                });
            }
        }
        let file: ModelFile = crate::jsonfile::from_str_no_null(text).map_err(|e| {
            let message = doc
                .as_ref()
                .and_then(|doc| crate::shape::reworded(&schema, doc, &e.field, &e.message))
                .or_else(|| field_range_message(&e.field, &e.message))
                .unwrap_or(e.message);
            let message = without_call_only_reactions(&e.field, message);
            let hint = other_file_hint(&e.field, text)
                .or_else(|| section_hint(&e.field, &message))
                .or_else(|| grace_field_hint(&e.field, &message))
                .or_else(|| nearest_name_hint(&message))
                .or_else(|| missing_sign_out_hint(&e.field, &message));
            let message = match hint {
                Some(hint) => format!("{message} ({hint})"),
                None => message,
            };
            ScenarioError::Parse { path: path.into(), line: e.line, column: e.column, field: e.field, message }
        })?;
        let sections =
            [file.server.is_some(), file.auth_server.is_some(), file.protocol.is_some(), file.session_server.is_some()];
        let server = match sections.iter().filter(|x| **x).count() {
            1 => file.server.clone().unwrap_or(ServerSection {
                session_refresh: SessionRefresh::Rotate,
                steps: match file.session_server.as_ref().map(|s| s.store.transactions) {
                    Some(crate::protocol::sessions::Transactions::Handler) => ServerSteps::Atomic,
                    _ => ServerSteps::Split,
                },
                per_request_check: false,
                mode_bound: false,
                store: file.session_server.as_ref().map_or(StoreConcurrency::Pool, |s| s.store.concurrency),
            }),
            n => {
                let names: Vec<&str> = ["`server`", "`auth_server`", "`protocol`", "`session_server`"]
                    .into_iter()
                    .zip(sections)
                    .filter_map(|(name, on)| on.then_some(name))
                    .collect();
                return Err(ScenarioError::Invalid {
                    path: path.into(),
                    at: Location::default(),
                    // The second section given is the one too many (none given: `server`).
                    field: names.get(1).map_or("server", |n| n.trim_matches('`')).into(),
                    found: if n == 0 { "none of them".to_string() } else { format!("both {}", names.join(" and ")) },
                    expected: "exactly one of `server` (Directus), `auth_server` (an authorization server's preset options), `protocol` (an authorization server in the protocol language) and `session_server` (a session-table server in the protocol language)"
                        .into(),
                });
            }
        };
        let client_word = file.browser.client_word.clone().unwrap_or_default();
        let sc = Scenario {
            path: path.into(),
            name: file.name,
            description: file.description,
            sources: file.sources,
            server: ServerPolicy {
                session_refresh: server.session_refresh,
                steps: server.steps,
                per_request_check: server.per_request_check,
                mode_bound: server.mode_bound,
                store: server.store,
            },
            protocol_spec: file.protocol.or_else(|| file.auth_server.map(|p| p.expand())),
            auth_server: file.auth_server,
            protocol: None,
            session_server_spec: None,
            session_server: None,
            browser: {
                let mut b = file.browser;
                // The preset of `on_ok`: where today's mode and storage keep the token.
                b.on_ok.get_or_insert_with(|| crate::model::policy::default_on_ok(b.mode, b.json_storage));
                b
            },
            time: file.time,
            network: file.network,
            lossy: file.lossy,
            attacker: file.attacker,
            expect: file.expect,
            queries: crate::query::compile_all_for(&file.queries, "queries", &client_word).map_err(|e| {
                ScenarioError::Protocol {
                    path: path.into(),
                    at: location_of(text, &e.field),
                    field: e.field,
                    found: e.found,
                    message: e.message,
                }
            })?,
        };
        let mut sc = sc;
        sc.validate().map_err(|e| e.located(text))?;
        if let Some(spec) = &sc.protocol_spec {
            let at = if sc.auth_server.is_some() { "auth_server" } else { "protocol" };
            let compiled = Protocol::compile(spec, at)
                .map_err(|e| protocol_error(path, text, doc.as_ref(), e.field, e.found, e.message))?;
            sc.check_token_bound(&compiled).map_err(|e| e.located(text))?;
            sc.protocol = Some(std::sync::Arc::new(compiled));
        }
        sc.validate_sign_ins().map_err(|e| e.located(text))?;
        sc.validate_follow_up().map_err(|e| e.located(text))?;
        sc.validate_sign_out_reaction().map_err(|e| e.located(text))?;
        if let Some(spec) = file.session_server {
            let compiled = SessionProgram::compile(&spec, "session_server")
                .map_err(|e| protocol_error(path, text, doc.as_ref(), e.field, e.found, e.message))?;
            let modes = || std::iter::once(sc.browser.mode).chain(sc.attacker.iter().flat_map(|a| a.modes.clone()));
            let session_mode = modes().any(|m| m == AuthMode::Session);
            let token_modes = modes().any(|m| m != AuthMode::Session);
            if let Some((field, run, tick)) = spec.expiry_without_its_tick("session_server", session_mode, token_modes)
            {
                let (carries, modes_here) = if tick == "session_cookie.exp" {
                    (
                        "the session cookie's `exp`, which only a session-mode request carries",
                        "no request is in session mode",
                    )
                } else {
                    (
                        "the access token's `exp`, which a session-mode request does not carry",
                        "every request is in session mode",
                    )
                };
                return Err(ScenarioError::Protocol {
                    path: path.into(),
                    at: location_of(text, &field),
                    field,
                    found: run,
                    message: format!(
                        "an expiry counted up from a tick the request has: `{tick}` is {carries}, and {modes_here} \
                         (`browser.mode`{}), so it reads 0 and the row would expire at a constant tick (expected \
                         `now + …`, or `row.expires + …` after a `select`)",
                        if sc.attacker.is_some() { " and `attacker.modes`" } else { "" }
                    ),
                });
            }
            sc.session_server = Some(std::sync::Arc::new(compiled));
            sc.session_server_spec = Some(spec);
        } else if file.server.is_some() {
            sc.session_server_spec =
                Some(crate::protocol::directus::expand(&sc.server, sc.time.session_refresh_grace_period));
        }
        sc.require_read_ttls(path, text)?;
        sc.refuse_unread_time_fields(doc.as_ref()).map_err(|e| e.located(text))?;
        Ok(sc)
    }

    /// What `check` warns of before checking this model (stderr, once per model): a model
    /// that loads but may not say what its designer meant. Today one trap: ordinary calls
    /// (`browser.calls_per_tab`) with the clock running past the access token's lifetime,
    /// where a call refused with 401 logs the tab out (`on_call_refused`, by default the
    /// refresh's `on_refused`, has `log-out` and no `refresh-and-retry`), and the tab does not
    /// refresh before a call whose token expires within the time a call can take:
    /// `browser.call_refresh_margin` N is absent, or `time.max_in_flight_ticks` K is, or N is
    /// below K + 1 (the browser's clock lags the server's by up to one tick, and a call may be
    /// in flight K ticks). Then an access token can expire while its call is in flight: a
    /// logout of the protocol if its client does not refresh before a call, of the model if
    /// it does and the fields were left out.
    ///
    /// Also a clock that stops before a tick the model file itself lets one compute
    /// ([`Scenario::horizon_warnings`]).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = self.in_flight_expiry_warnings();
        out.extend(self.horizon_warnings());
        out
    }

    /// The ticks a model file's own durations say something first changes at, and the
    /// warnings for a `time.max_ticks` that stops the clock before them (one tick before a
    /// change is not enough: the default `request` rule accepts an access token while
    /// `access.exp >= now`, and a window guard `now <= presented.rotated_at + W` accepts until
    /// the tick after its last):
    /// - with calls or ordinary requests, an access token of the sign-in (tick 0, lifetime L
    ///   = `time.access_token_ttl`) is first refused at tick L + 1;
    /// - with a claimed reuse interval W (`reuse_interval`), a token superseded at the earliest
    ///   rotation R ([`Scenario::earliest_rotation`]) is first refused at tick R + W + 1; a
    ///   model whose clock never runs (`max_ticks` 0) is warned too, as its window never
    ///   closes, and a model where nothing refreshes is not.
    ///
    /// Each warning names `time.max_ticks`, its value and the value needed (and says when that
    /// is beyond [`MAX_TICKS`]).
    pub fn horizon_warnings(&self) -> Vec<String> {
        let (b, t) = (&self.browser, &self.time);
        let (max, ttl) = (u16::from(t.max_ticks), u16::from(t.access_token_ttl));
        let cap = u16::from(MAX_TICKS);
        let beyond = |needed: u16| {
            if needed > cap {
                format!(" (beyond the largest `time.max_ticks`, {cap}: shorten the lifetimes or the window in ticks to see it)")
            } else {
                String::new()
            }
        };
        let mut out = Vec::new();
        let reads_access = self.is_auth_server() && b.mode != AuthMode::Session;
        if max > 0 && reads_access && (b.calls_per_tab > 0 || b.requests_per_tab > 0) && max < ttl + 1 {
            out.push(format!(
                "the clock stops before any access token expires: `time.max_ticks` is {max}, and the sign-in's \
                 access token (`time.access_token_ttl` {ttl}, minted at tick 0) is accepted while its `exp` >= now, \
                 so first refused at tick {}: set `time.max_ticks` to at least {} to see a call or request refused \
                 for an expired token{}",
                ttl + 1,
                ttl + 1,
                beyond(ttl + 1)
            ));
        }
        let window = self
            .protocol_spec
            .as_ref()
            .map(|p| p.reuse_interval)
            .or_else(|| self.session_server_spec.as_ref().map(|s| s.reuse_interval))
            .unwrap_or(0);
        if window == 0 {
            return out;
        }
        let Some((rotation, why)) = self.earliest_rotation() else { return out };
        let closes = rotation + u16::from(window) + 1;
        if max == 0 {
            out.push(format!(
                "the clock never runs (`time.max_ticks` 0), so the reuse window ({window} tick(s)) never closes: \
                 a token a rotation supersedes is answered for the whole run; {why}, so it is first refused at tick \
                 {closes}: set `time.max_ticks` to at least {closes}{} to explore requests arriving after it (with \
                 0, every request arrives inside the window, and the verdicts assume so)",
                beyond(closes)
            ));
        } else if max < closes {
            out.push(format!(
                "the clock stops before a reuse window can close: `time.max_ticks` is {max}; {why}, and a token \
                 it supersedes is answered for the reuse window ({window} tick(s)) after it, so first refused at \
                 tick {closes}: set `time.max_ticks` to at least {closes}{} (a request arriving after the window \
                 is otherwise never explored)",
                beyond(closes)
            ));
        }
        out
    }

    /// The earliest tick at which a refresh can rotate a token, with its reason in words, for
    /// [`Scenario::horizon_warnings`]; `None` when nothing in the model refreshes. Tick 0 unless
    /// the only refreshes are a call's: before a call whose token expires within
    /// `call_refresh_margin` N ticks (from tick `access_token_ttl` + 1 - N) or after a refused
    /// call (`refresh-and-retry`, from tick `access_token_ttl` + 1, when the sign-in's access
    /// token is first refused).
    fn earliest_rotation(&self) -> Option<(u16, String)> {
        let b = &self.browser;
        let ttl = u16::from(self.time.access_token_ttl);
        let reads_access = self.is_auth_server() && b.mode != AuthMode::Session;
        let budgets = crate::model::browser::tab_settings::resolve(b).iter().any(|s| s.refreshes > 0);
        let other = budgets
            || b.reloads_per_tab > 0
            || b.retries_per_tab > 0
            || b.requests_per_tab > 0
            || self.attacker.is_some()
            || !reads_access;
        if other {
            return Some((0, "a rotation can happen at tick 0".to_string()));
        }
        if b.calls_per_tab == 0 {
            return None;
        }
        let retried =
            b.on_call_refused.iter().chain(&b.on_call_server_error).flatten().any(|r| *r == Reaction::RefreshAndRetry);
        let by_margin = b.call_refresh_margin.map(|n| (ttl + 1).saturating_sub(u16::from(n)));
        let by_refusal = retried.then_some(ttl + 1);
        let at = by_margin.into_iter().chain(by_refusal).min()?;
        let how = match (by_margin, by_refusal) {
            (Some(m), _) if m == at => format!(
                "the earliest rotation is at tick {at} (a refresh starts only before a call whose access token \
                 expires within `browser.call_refresh_margin` {} tick(s))",
                b.call_refresh_margin.unwrap_or(0)
            ),
            _ => format!(
                "the earliest rotation is at tick {at} (a refresh starts only when a call is refused, and the \
                 sign-in's access token is first refused then)"
            ),
        };
        Some((at, how))
    }

    /// The warning of [`Scenario::warnings`] for calls whose access token can expire in flight.
    fn in_flight_expiry_warnings(&self) -> Vec<String> {
        let (b, t) = (&self.browser, &self.time);
        let refused = b.on_call_refused.as_ref().unwrap_or(&b.on_refused);
        let logs_out = refused.contains(&Reaction::LogOut) && !refused.contains(&Reaction::RefreshAndRetry);
        let expires = t.max_ticks > t.access_token_ttl;
        let covered =
            matches!((b.call_refresh_margin, t.max_in_flight_ticks), (Some(n), Some(k)) if u16::from(n) > u16::from(k));
        if b.calls_per_tab == 0 || !logs_out || !expires || covered {
            return vec![];
        }
        let margin = b.call_refresh_margin.map_or("absent".to_string(), |n| n.to_string());
        let flight = t.max_in_flight_ticks.map_or("absent".to_string(), |k| k.to_string());
        vec![format!(
            "calls with the clock running: an access token lives {} tick(s) and the clock runs to {}, so a \
             call's token can expire while the call is in flight (or by the server's clock, up to one tick \
             ahead of the browser's) and the 401 logs the tab out. If the client refreshes before a call \
             whose token is about to expire, say so with `browser.call_refresh_margin` N and \
             `time.max_in_flight_ticks` K (a call is delivered within K ticks), N at least K + 1; if it \
             does not, such a logout is the protocol's. Here N is {margin} and K is {flight}",
            t.access_token_ttl, t.max_ticks
        )]
    }

    /// Refuses a protocol model that could mint more tokens than token numbers exist (1 to
    /// 255): sign-ins, plus every refresh, retry and attacker attempt times the minting steps
    /// of one request.
    fn check_token_bound(&self, p: &Protocol) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let devices = u16::from(b.devices);
        let logins = if b.logins == Logins::PerTab { u16::from(b.tabs) } else { 1 };
        // Each tab's own refresh budget (`tab_settings`, else `refreshes_per_tab`).
        let refreshes: u16 =
            crate::model::browser::tab_settings::resolve(b).iter().map(|t| u16::from(t.refreshes)).sum();
        let requests = devices
            * (refreshes * u16::from(b.requesters_per_tab.max(1))
                + u16::from(b.tabs)
                    * (u16::from(b.retries_per_tab) + u16::from(b.reloads_per_tab) + self.call_refreshes_per_tab()))
            + self.attacker.as_ref().map_or(0, |a| u16::from(a.attempts) * devices);
        let bound = devices * logins + requests * p.mints_per_request();
        if bound > 255 {
            return Err(self.invalid(
                "browser",
                format!("bounds under which up to {bound} tokens can be minted"),
                "at most 255 tokens (sign-ins, plus refreshes, retries and attacker attempts times the steps of a refresh that mint): fewer tabs, devices or refreshes",
            ));
        }
        Ok(())
    }

    /// The most refreshes a tab's calls may start (`call_refresh_margin`: one before each
    /// call; `refresh-and-retry`: one per retry of each call), a count.
    fn call_refreshes_per_tab(&self) -> u16 {
        let b = &self.browser;
        let lists = b.on_call_refused.iter().chain(&b.on_call_server_error);
        let retries = lists.flatten().any(|r| *r == Reaction::RefreshAndRetry);
        let per_call = u16::from(b.call_refresh_margin.is_some()) + if retries { u16::from(b.retry_limit) } else { 0 };
        u16::from(b.calls_per_tab) * per_call
    }

    /// Checks of a call's own reactions (`on_call_refused`, `on_call_server_error`) and of
    /// `call_refresh_margin`: each needs calls; `refresh-and-retry` only in a call's lists.
    fn validate_call_reactions(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let call_fields = [
            (
                "browser.on_call_refused",
                b.on_call_refused.as_ref().map(|l| serde_json::to_string(l).unwrap_or_default()),
            ),
            (
                "browser.on_call_server_error",
                b.on_call_server_error.as_ref().map(|l| serde_json::to_string(l).unwrap_or_default()),
            ),
            ("browser.call_refresh_margin", b.call_refresh_margin.map(|n| n.to_string())),
        ];
        for (field, found) in call_fields {
            if let (Some(found), 0) = (found, b.calls_per_tab) {
                return Err(self.invalid(
                    field,
                    found,
                    "no value unless `calls_per_tab` is above 0 (it is a reaction of the tab's ordinary calls)",
                ));
            }
        }
        if let Some(n) = b.call_refresh_margin {
            if n > MAX_TICKS {
                return Err(self.invalid(
                    "browser.call_refresh_margin",
                    n,
                    &format!("an integer from 0 to {MAX_TICKS}"),
                ));
            }
        }
        let aborted = b.on_aborted.as_ref().map(|l| ("on_aborted", l));
        let timed_out = b.on_timeout.as_ref().map(|l| ("on_timeout", l));
        // `clear-cookie` is an answer's `Set-Cookie` expiring the auth cookies (RFC 6265 §5.3:
        // only a response sets or expires a cookie; page script cannot touch an HttpOnly one):
        // an aborted or timed-out refresh has no answer the tab reads.
        // In cookie and session mode `clear-stored-token` is that same `Set-Cookie`.
        let expires_cookie = |r: &Reaction| {
            *r == Reaction::ClearCookie || (*r == Reaction::ClearStoredToken && b.mode != AuthMode::Json)
        };
        for (name, list) in aborted.into_iter().chain(timed_out) {
            if let Some(i) = list.iter().position(expires_cookie) {
                let (found, what) = if list[i] == Reaction::ClearCookie {
                    ("\"clear-cookie\"", "\"clear-cookie\" is")
                } else {
                    ("\"clear-stored-token\"", "\"clear-stored-token\" is, in cookie and session mode,")
                };
                return Err(self.invalid(
                    &format!("browser.{name}[{i}]"),
                    found,
                    &format!(
                        "a reaction the tab can take with no answer: {what} an answer's `Set-Cookie` \
                         expiring the auth cookies, and `{name}` runs when no answer came (page script cannot clear \
                         an HttpOnly cookie; a sign-out request can)"
                    ),
                ));
            }
        }
        // Without `on_aborted` an aborted refresh runs `on_server_error`: the same refusal, at
        // the list the abort runs.
        if b.on_aborted.is_none() && b.aborts_per_tab > 0 {
            if let Some(i) = b.on_server_error.iter().position(expires_cookie) {
                let found = if b.on_server_error[i] == Reaction::ClearCookie {
                    "\"clear-cookie\""
                } else {
                    "\"clear-stored-token\""
                };
                return Err(self.invalid(
                    &format!("browser.on_server_error[{i}]"),
                    found,
                    "a reaction the tab can take with no answer, or an `on_aborted` list of its own: without \
                     `on_aborted` an aborted refresh (`aborts_per_tab`) runs `on_server_error`, and \"clear-cookie\" \
                     (or \"clear-stored-token\" in cookie and session mode) is an answer's `Set-Cookie` expiring the auth cookies, which an aborted fetch never reads (page \
                     script cannot clear an HttpOnly cookie; a sign-out request can)",
                ));
            }
        }
        for (name, list) in [("on_refused", &b.on_refused), ("on_server_error", &b.on_server_error)]
            .into_iter()
            .chain(aborted)
            .chain(timed_out)
        {
            if let Some(i) = list.iter().position(|r| *r == Reaction::RefreshAndRetry) {
                let also = if b.calls_per_tab > 0 {
                    " (for a call, list it in `on_call_refused` or `on_call_server_error`)"
                } else {
                    ""
                };
                return Err(self.invalid(
                    &format!("browser.{name}[{i}]"),
                    "\"refresh-and-retry\"",
                    &format!("a reaction to a refresh, not \"refresh-and-retry\", which is a reaction of an ordinary call{also}"),
                ));
            }
        }
        Ok(())
    }

    /// Ordinary calls with access tokens (`browser.calls_per_tab`, `attacker.uses_access_tokens`)
    /// need an authorization server of one node and tabs without cross-tab coordination or
    /// with Web Locks (a call's log-out releases the page's lock).
    /// `browser.sign_ins` and a `sign_in` handler of several steps.
    fn validate_sign_ins(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let steps = self.protocol.as_ref().and_then(|p| p.sign_in.as_ref()).map_or(0, |h| h.steps.len());
        if b.re_sign_in_is != crate::model::policy::ReSignIn::SignIn && b.re_sign_ins == 0 {
            return Err(self.invalid(
                "browser.re_sign_in_is",
                "\"password-change\"",
                "`browser.re_sign_ins` above 0 (the password change is a sign-in again on a signed-in device), or no `re_sign_in_is`",
            ));
        }
        // The `sign_in` handler is the password change: the start-up sign-in of a second device
        // and a sign-in during the run would run the change's rules too (`revoke user` ending
        // the other device's session before anything happens).
        let change_handler = self.protocol.as_ref().is_some_and(|p| p.password_change.is_some());
        if change_handler && b.re_sign_in_is != crate::model::policy::ReSignIn::PasswordChange {
            return Err(self.invalid(
                "protocol.password_change",
                "a `password_change` handler",
                "`browser.re_sign_in_is: \"password-change\"` and `browser.re_sign_ins` above 0 (the handler serves the user's password changes, and this model has none)",
            ));
        }
        // Without a `password_change` handler the `sign_in` handler is the change.
        if !change_handler
            && b.re_sign_in_is == crate::model::policy::ReSignIn::PasswordChange
            && (b.devices > 1 || b.sign_ins > 0)
        {
            return Err(self.invalid(
                "browser.re_sign_in_is",
                "\"password-change\"",
                "one device and no `browser.sign_ins` (the `sign_in` handler is the password change: every other sign-in, the start-up sign-in of a second device or a sign-in during the run, would run its rules too), or a `protocol.password_change` handler for the change",
            ));
        }
        if b.sign_ins == 0 && b.re_sign_ins == 0 {
            if steps > 1 {
                return Err(self.invalid(
                    "protocol.sign_in.steps",
                    format!("{steps} steps"),
                    "`rules` (one step), or `browser.sign_ins` above 0, or `browser.re_sign_ins` above 0: a sign-in of several steps races other steps only when a device signs in during the run (sign-ins before the run happen in order, before anything else)",
                ));
            }
            return Ok(());
        }
        let (field, found) =
            if b.sign_ins > 0 { ("browser.sign_ins", b.sign_ins) } else { ("browser.re_sign_ins", b.re_sign_ins) };
        if !self.is_auth_server() || self.protocol.is_none() {
            return Err(self.invalid(
                field,
                found,
                "0 unless the model has a `protocol` or `auth_server` section (the sign-in is served by its `sign_in` handler)",
            ));
        }
        if b.re_sign_ins > 2 {
            return Err(self.invalid("browser.re_sign_ins", b.re_sign_ins, "an integer from 0 to 2"));
        }
        // With `re_sign_in_from` one device signs in again; otherwise each signed in at the start.
        let signing_again = if b.re_sign_in_from.is_some() { 1 } else { b.devices.saturating_sub(b.sign_ins) };
        let families = u16::from(b.devices) + u16::from(signing_again) * u16::from(b.re_sign_ins);
        if families > 8 {
            return Err(self.invalid(
                "browser.re_sign_ins",
                b.re_sign_ins,
                &format!(
                    "at most 8 families in all: `devices` + `re_sign_ins` for each device signed in at the start, or for the device `re_sign_in_from` names ({families} here)"
                ),
            ));
        }
        if b.sign_ins >= b.devices {
            return Err(self.invalid(
                "browser.sign_ins",
                found,
                &format!(
                    "an integer from 0 to {} (`devices` - 1: at least one device is signed in when the run starts)",
                    b.devices.saturating_sub(1)
                ),
            ));
        }
        let p = self.protocol.as_ref().expect("checked above");
        // Every conflict, in this order: the first is reported at its field, the others are
        // named with it, so one run shows all that must change.
        let re_sign_in_mode = b.re_sign_ins > 0
            && !(b.mode == AuthMode::Cookie
                || (b.mode == AuthMode::Json && matches!(b.json_storage, JsonStorage::PerTab | JsonStorage::Shared)));
        let conflicts: Vec<(&str, &str, &str)> = [
            (
                b.logins == crate::model::policy::Logins::PerTab,
                ("browser.logins", "per-tab", "\"per-device\" (one sign-in per device)"),
            ),
            (
                self.lossy.is_lossy(),
                (
                    "lossy",
                    "a lossy network",
                    "false with `browser.sign_ins` or `browser.re_sign_ins` (a lost sign-in is not modelled)",
                ),
            ),
            (
                p.restarts > 0,
                (
                    "protocol.restarts",
                    "restarts",
                    "0 with `browser.sign_ins` or `browser.re_sign_ins` (a sign-in lost by a restart is not modelled)",
                ),
            ),
            (p.replicas > 1, ("protocol.replicas", "2", "1 with `browser.sign_ins` or `browser.re_sign_ins`")),
            (
                re_sign_in_mode,
                (
                    "browser.re_sign_ins",
                    "a sign-in again in this mode",
                    "json mode with `per-tab` or `shared` storage, or cookie mode, with `browser.re_sign_ins` (where the new token goes)",
                ),
            ),
        ]
        .into_iter()
        .filter_map(|(on, c)| on.then_some(c))
        .collect();
        if let Some(&(field, found, expected)) = conflicts.first() {
            let others: Vec<String> = conflicts[1..].iter().map(|(f, found, _)| format!("`{f}` ({found})")).collect();
            let expected = if others.is_empty() {
                expected.to_string()
            } else {
                format!("{expected}; the sign-ins are also in conflict with {}", others.join(", "))
            };
            return Err(self.invalid(field, found, &expected));
        }
        Ok(())
    }

    /// `browser.follow_up`: a handler the protocol has, a token the client held and can read,
    /// and the client constructs it is combined with.
    fn validate_follow_up(&self) -> Result<(), ScenarioError> {
        use crate::model::policy::FollowUpAfter;
        let b = &self.browser;
        let Some(f) = &b.follow_up else { return Ok(()) };
        let Some(p) = self.protocol.as_ref() else {
            return Err(self.invalid(
                "browser.follow_up",
                "a follow-up",
                "no follow-up unless the model has a `protocol` or `auth_server` section (the follow-up is served by one of its handlers)",
            ));
        };
        match f.handler.as_str() {
            "sign_out" => {}
            "refresh" | "sign_in" | "request" => {
                return Err(self.invalid(
                    "browser.follow_up.handler",
                    format!("{:?}", f.handler),
                    "\"sign_out\": a follow-up revokes a token (RFC 7009 §2.1) through the protocol's `sign_out` handler; a refresh, a sign-in or an ordinary call as a follow-up is not modelled",
                ))
            }
            other => {
                return Err(self.invalid(
                    "browser.follow_up.handler",
                    format!("{other:?}"),
                    "the name of a handler of the protocol that revokes a presented token: \"sign_out\" (the protocol has no handler of this name)",
                ))
            }
        }
        if b.mode != AuthMode::Json {
            return Err(self.invalid(
                "browser.mode",
                format!("{:?}", b.mode).to_lowercase(),
                "\"json\" with `browser.follow_up`: in cookie or session mode the refresh token is an HttpOnly cookie the script cannot read, so it cannot put it in a follow-up's body",
            ));
        }
        if p.sign_out_presents != crate::protocol::Presents::RefreshToken {
            return Err(self.invalid(
                "protocol.sign_out.presents",
                "the access token",
                "\"refresh_token\" (the default) with `browser.follow_up`: a follow-up carries a refresh token only",
            ));
        }
        let stores = b.on_ok.iter().flatten().any(|r| {
            use crate::model::policy::OkReaction::{StoreInCookie, StoreInTab, StoreShared};
            matches!(r, StoreInTab | StoreShared | StoreInCookie)
        });
        if f.after == FollowUpAfter::RefreshOk
            && f.presents == crate::model::policy::FollowUpToken::Superseded
            && !stores
        {
            return Err(self.invalid(
                "browser.follow_up.presents",
                "\"superseded\" with an `on_ok` that stores nothing",
                "\"new\", or an `on_ok` list that stores the new token (\"store-in-tab\", \"store-shared\" or \"store-in-cookie\"): with `on_ok: []` the tab keeps presenting the token it refreshed with, and the follow-up would revoke that very token (a client revokes the token it replaced once it has stored the new one: laravel/passport PR 1790)",
            ));
        }
        if f.after == FollowUpAfter::RefreshOk && b.refreshes_per_tab == 0 && self.call_refreshes_per_tab() == 0 {
            return Err(self.invalid(
                "browser.follow_up.after",
                "\"refresh-ok\" with no refresh (`refreshes_per_tab` 0, and no call that refreshes)",
                "`browser.refreshes_per_tab` above 0 (or calls that refresh: `call_refresh_margin`, `refresh-and-retry`), or \"sign-in-again\" with `re_sign_ins`: a follow-up after a refresh's 2xx is never sent when no tab refreshes",
            ));
        }
        if f.after == FollowUpAfter::SignInAgain && b.re_sign_ins == 0 {
            return Err(self.invalid(
                "browser.follow_up.after",
                "\"sign-in-again\"",
                "\"refresh-ok\", or `browser.re_sign_ins` above 0: the client holds an old session's token only once the user signs in again",
            ));
        }
        let conflict = if b.requesters_per_tab > 1 {
            Some(("browser.requesters_per_tab", b.requesters_per_tab.to_string()))
        } else if b.reloads_per_tab > 0 {
            Some(("browser.reloads_per_tab", b.reloads_per_tab.to_string()))
        } else if p.replicas > 1 {
            Some(("protocol.replicas", "2".to_string()))
        } else if b.coordination == Coordination::BroadcastLeader {
            Some(("browser.coordination", "\"broadcast-leader\"".to_string()))
        } else {
            None
        };
        if let Some((field, found)) = conflict {
            return Err(self.invalid(
                field,
                found,
                "the default with `browser.follow_up` (a follow-up with several requesters, reloads, two server nodes or a broadcast leader is not modelled)",
            ));
        }
        Ok(())
    }

    fn validate_calls(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        if b.freshness_check && self.is_auth_server() {
            return Err(self.invalid(
                "browser.freshness_check",
                "true",
                "false with a `protocol` or `auth_server` section (the freshness check is Directus PR 22464's `GET /users/me` probe, which the authorization server's `request` rules do not decide; a tab of an authorization server calls with its access token through `calls_per_tab` and `call_refresh_margin`)",
            ));
        }
        if b.calls_per_tab > MAX_PER_TAB {
            return Err(self.invalid(
                "browser.calls_per_tab",
                b.calls_per_tab,
                &format!("an integer from 0 to {MAX_PER_TAB}"),
            ));
        }
        self.validate_call_reactions()?;
        let attacker_calls = self.attacker.as_ref().is_some_and(|a| a.uses_access_tokens);
        if b.calls_per_tab == 0 && !attacker_calls {
            return Ok(());
        }
        let (field, found) = if b.calls_per_tab > 0 {
            ("browser.calls_per_tab", b.calls_per_tab.to_string())
        } else {
            ("attacker.uses_access_tokens", "true".to_string())
        };
        if !self.is_auth_server() {
            return Err(self.invalid(
                field,
                found,
                "0 (false) unless the model has a `protocol` or `auth_server` section (calls present its access tokens)",
            ));
        }
        if self.protocol_spec.as_ref().is_some_and(|p| p.replicas > 1) {
            return Err(self.invalid(field, found, "0 (false) with two nodes (access tokens are kept by one node)"));
        }
        if b.calls_per_tab > 0 && !matches!(b.coordination, Coordination::None | Coordination::WebLocks) {
            return Err(self.invalid(
                "browser.coordination",
                serde_json::to_string(&b.coordination).unwrap_or_default(),
                "\"none\" or \"web-locks\" when `calls_per_tab` is above 0 (a call's refusal may log a tab out while it owns the localStorage lock key, which the page's unload does not remove, or while it leads the broadcasts; not modelled)",
            ));
        }
        Ok(())
    }

    /// Whether the model is an authorization server (an `auth_server` or `protocol` section)
    /// rather than Directus.
    pub fn is_auth_server(&self) -> bool {
        self.protocol_spec.is_some()
    }

    /// Sets the number of tabs (the CLI's `--tabs`), with the same checks as the file's field.
    ///
    /// # Errors
    /// The file's fields that do not fit `tabs` tabs (e.g. more `browser.ssr_paths` than tabs):
    /// the error names the field and says that the run's `--tabs`, not the file, set the count.
    pub fn with_tabs(mut self, tabs: u8) -> Result<Scenario, ScenarioError> {
        let own = self.browser.tabs;
        self.browser.tabs = tabs;
        self.validate().map_err(|e| match e {
            ScenarioError::Invalid { path, at, field, found, expected } => ScenarioError::Invalid {
                path,
                at,
                field,
                found,
                expected: format!("{expected} (with the run's --tabs {tabs}; the file has `browser.tabs` {own})"),
            },
            e => e,
        })?;
        Ok(self)
    }

    /// `browser.lock_granted: "skip-if-token-changed"` needs a Web Lock and a stored token the
    /// other tabs' refreshes write (the jar, shared storage, or a tab's own copy that a
    /// `storage` listener updates), and is refused where the tab
    /// would have to take over an access token's expiry the model does not store with the
    /// token (the freshness check, ordinary requests with the tab's access token, ordinary
    /// calls unless the shared storage holds the whole session). Checks the stored-session
    /// fields first ([`Self::validate_storage_holds`], `lock_recheck_margin`) and the expiry
    /// re-check's own needs ([`Self::validate_session_recheck`]).
    fn validate_lock_granted(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        self.validate_storage_holds()?;
        if let Some(n) = b.lock_recheck_margin {
            if b.lock_granted != LockGranted::SkipIfStoredSessionFresh {
                return Err(self.invalid(
                    "browser.lock_recheck_margin",
                    n,
                    "no value unless `lock_granted` is \"skip-if-stored-session-fresh\" (the margin of the expiry re-check inside the lock)",
                ));
            }
            if n > MAX_TICKS {
                return Err(self.invalid(
                    "browser.lock_recheck_margin",
                    n,
                    &format!("an integer from 0 to {MAX_TICKS}"),
                ));
            }
        }
        if b.lock_granted == LockGranted::Refresh {
            return Ok(());
        }
        let field = "browser.lock_granted";
        if b.lock_granted == LockGranted::SkipIfStoredSessionFresh {
            return self.validate_session_recheck();
        }
        let found = |with: String| format!("\"skip-if-token-changed\" with {with}");
        if b.coordination != Coordination::WebLocks {
            return Err(self.invalid(
                field,
                found(format!("`coordination` {}", serde_json::to_string(&b.coordination).unwrap_or_default())),
                "\"refresh\" (the default) unless `coordination` is \"web-locks\" (only a tab queued for the Web Lock is granted it later)",
            ));
        }
        let adopts = b.on_stored_token_written == crate::model::policy::WrittenListener::Adopt;
        if b.mode == AuthMode::Json && b.json_storage == JsonStorage::PerTab && !adopts {
            return Err(self.invalid(
                field,
                found("`json_storage` \"per-tab\" and no `on_stored_token_written: \"adopt\"`".into()),
                "`json_storage` \"shared\" or \"shared-lagging\", or per-tab storage with `on_stored_token_written: \"adopt\"` (the libraries re-read the shared session once granted; a tab's own in-memory token that no listener updates cannot change while it waits, so the check would never skip)",
            ));
        }
        if b.freshness_check {
            return Err(self.invalid(
                field,
                found("`freshness_check` true".into()),
                "`freshness_check` false (a tab that skips takes over the stored session, whose access-token expiry the model does not store with the token)",
            ));
        }
        if b.calls_per_tab > 0 && (b.shared_storage_holds != StorageHolds::Session || b.lock_steal) {
            return Err(self.invalid(
                field,
                found(format!("`calls_per_tab` {}", b.calls_per_tab)),
                "`shared_storage_holds: \"session\"` and no `lock_steal` when the tabs make calls (a tab that skips sends its waiting call with the access token it takes over, which only a stored session keeps with the refresh token)",
            ));
        }
        if b.requests_per_tab > 0 && b.mode != AuthMode::Session {
            return Err(self.invalid(
                field,
                found(format!("`requests_per_tab` {}", b.requests_per_tab)),
                "`requests_per_tab` 0 in json and cookie mode (a tab that skips would present the access token the other tab stored, whose expiry the model does not store with the token)",
            ));
        }
        Ok(())
    }

    /// `browser.shared_storage_holds: "session"` needs an authorization-server model (whose
    /// answers carry access tokens) in json mode with `json_storage: "shared"` and a 2xx
    /// reaction that writes the shared entry (`store-shared`).
    fn validate_storage_holds(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        if b.shared_storage_holds == StorageHolds::RefreshToken {
            return Ok(());
        }
        let field = "browser.shared_storage_holds";
        let found = "\"session\"";
        if !self.is_auth_server() {
            return Err(self.invalid(
                field,
                found,
                "\"refresh-token\" (the default) unless the model has a `protocol` or `auth_server` section (the stored session holds the access token its answers carry)",
            ));
        }
        if b.mode != AuthMode::Json || b.json_storage != JsonStorage::Shared {
            return Err(self.invalid(
                field,
                format!(
                    "\"session\" with `mode` {} and `json_storage` {}",
                    serde_json::to_string(&b.mode).unwrap_or_default(),
                    serde_json::to_string(&b.json_storage).unwrap_or_default()
                ),
                "\"refresh-token\" unless `mode` is \"json\" and `json_storage` \"shared\" (the whole session is kept in the one shared `localStorage` entry)",
            ));
        }
        for (name, n) in [("requesters_per_tab", b.requesters_per_tab), ("reloads_per_tab", b.reloads_per_tab)] {
            if n > u8::from(name == "requesters_per_tab") {
                return Err(self.invalid(
                    field,
                    format!("\"session\" with `{name}` {n}"),
                    &format!("\"refresh-token\" with `{name}` {n} (the stored session is read by the tab's own refresh path and calls; other requesters and reloaded pages are not modelled with it)"),
                ));
            }
        }
        if !b.on_call_ok.is_empty() {
            return Err(self.invalid(
                field,
                "\"session\" with `on_call_ok`",
                "no `on_call_ok` reaction (the echoed access token would be kept in the tab's memory while the library reads the stored session)",
            ));
        }
        if b.on_ok.as_ref().is_some_and(|l| !l.contains(&crate::model::policy::OkReaction::StoreShared)) {
            return Err(self.invalid(
                field,
                "\"session\" with `on_ok` that never writes the shared entry",
                "an `on_ok` list with \"store-shared\" (the 2xx writes the new session to the shared storage)",
            ));
        }
        Ok(())
    }

    /// `browser.lock_granted: "skip-if-stored-session-fresh"` needs a Web Lock, a shared
    /// storage that holds the whole session (whose expiry it judges) and none of the
    /// constructs it cannot go with: the freshness check (Directus's own expiry probe) and a
    /// lock steal together with calls (the stealing tab that skips would send its waiting
    /// call in the same step).
    fn validate_session_recheck(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let field = "browser.lock_granted";
        let found = |with: String| format!("\"skip-if-stored-session-fresh\" with {with}");
        if b.coordination != Coordination::WebLocks {
            return Err(self.invalid(
                field,
                found(format!("`coordination` {}", serde_json::to_string(&b.coordination).unwrap_or_default())),
                "\"refresh\" (the default) unless `coordination` is \"web-locks\" (the re-check runs inside the Web Lock)",
            ));
        }
        if b.shared_storage_holds != StorageHolds::Session {
            return Err(self.invalid(
                field,
                found("`shared_storage_holds` \"refresh-token\"".into()),
                "`shared_storage_holds: \"session\"` (the re-check reads the stored access token's expiry, which a storage of the refresh token alone does not keep)",
            ));
        }
        if b.freshness_check {
            return Err(self.invalid(
                field,
                found("`freshness_check` true".into()),
                "`freshness_check` false (Directus PR 22464's probe is another expiry check, outside the lock)",
            ));
        }
        if b.lock_steal && b.calls_per_tab > 0 {
            return Err(self.invalid(
                field,
                found("`lock_steal` true and `calls_per_tab` above 0".into()),
                "`lock_steal` false when the tabs make calls (a stealing tab that skips its refresh would have to send its waiting call in the same step; not modelled)",
            ));
        }
        Ok(())
    }

    /// Whether the model has a shared `localStorage` entry for a sign-out or a reaction to
    /// clear: json `shared` or `shared-lagging` storage, or a 2xx reaction `store-shared`.
    fn has_shared_storage_entry(&self) -> bool {
        use crate::model::policy::OkReaction;
        let b = &self.browser;
        let shared_mode =
            b.mode == AuthMode::Json && matches!(b.json_storage, JsonStorage::Shared | JsonStorage::SharedLagging);
        let writes = b.on_ok.iter().chain(&b.on_requester_ok).flatten().any(|r| *r == OkReaction::StoreShared);
        shared_mode || writes
    }

    /// Checks of the sign-out notice (`browser.sign_out_notice`, `on_sign_out_notice`,
    /// `on_ok_after_sign_out_notice`) and of the cleared-token listener it relates to
    /// (`on_stored_token_cleared`).
    fn validate_sign_out_notice(&self) -> Result<(), ScenarioError> {
        use crate::model::policy::{
            ClearedListener, OkAfterSignOutNotice, Reaction, SignOutNotice, SignOutNoticeReaction,
        };
        let b = &self.browser;
        let shared = self.has_shared_storage_entry();
        if b.on_stored_token_cleared == ClearedListener::LogOut {
            // What a reaction can clear that the other tabs share: the jar (`clear-cookie`;
            // `clear-stored-token` outside json mode), the shared entry (`clear-shared-storage`;
            // `clear-stored-token` with shared json storage).
            let shared_json =
                b.mode == AuthMode::Json && matches!(b.json_storage, JsonStorage::Shared | JsonStorage::SharedLagging);
            let clears = b
                .on_refused
                .iter()
                .chain(&b.on_server_error)
                .chain(b.on_requester_refused.iter().flatten())
                .chain(b.on_requester_server_error.iter().flatten())
                .chain(b.on_call_refused.iter().flatten())
                .chain(b.on_call_server_error.iter().flatten())
                .any(|r| match r {
                    Reaction::ClearCookie => true,
                    Reaction::ClearSharedStorage => shared,
                    Reaction::ClearStoredToken => b.mode != AuthMode::Json || shared_json,
                    _ => false,
                });
            if !clears {
                return Err(self.invalid(
                    "browser.on_stored_token_cleared",
                    "\"log-out\"",
                    "\"ignore\" unless a reaction clears what the tabs share: the jar (\"clear-cookie\", or \"clear-stored-token\" in cookie or session mode) or a shared `localStorage` entry (\"clear-shared-storage\" where one exists, or \"clear-stored-token\" with json `shared` or `shared-lagging` storage): with per-tab storage and nothing else nothing can fire the listener",
                ));
            }
            if b.sign_outs > 0 && shared && b.sign_out_notice == SignOutNotice::None {
                return Err(self.invalid(
                    "browser.on_stored_token_cleared",
                    "\"log-out\" with `sign_outs` and no `sign_out_notice`",
                    "`sign_out_notice: \"storage-event\"` as well: a sign-out removes the shared entry too and the browser fires the same `storage` event in the other tabs; say what they do with it with `on_sign_out_notice` (`on_stored_token_cleared` covers the clearing by a reaction only)",
                ));
            }
        }
        if b.sign_out_notice == SignOutNotice::None {
            if b.on_sign_out_notice.is_some() {
                return Err(self.invalid(
                    "browser.on_sign_out_notice",
                    serde_json::to_string(&b.on_sign_out_notice).unwrap_or_default(),
                    "no reaction to a sign-out notice without one: set `sign_out_notice` (\"storage-event\" or \"broadcast-channel\"), or leave `on_sign_out_notice` out",
                ));
            }
            if b.on_ok_after_sign_out_notice.is_some() {
                return Err(self.invalid(
                    "browser.on_ok_after_sign_out_notice",
                    serde_json::to_string(&b.on_ok_after_sign_out_notice).unwrap_or_default(),
                    "nothing to decide without a sign-out notice: set `sign_out_notice` (\"storage-event\" or \"broadcast-channel\"), or leave `on_ok_after_sign_out_notice` out",
                ));
            }
            return Ok(());
        }
        let notice = serde_json::to_string(&b.sign_out_notice).unwrap_or_default();
        if b.on_sign_out_notice == Some(SignOutNoticeReaction::Ignore)
            && b.on_ok_after_sign_out_notice == Some(OkAfterSignOutNotice::Drop)
        {
            return Err(self.invalid(
                "browser.on_ok_after_sign_out_notice",
                "\"drop\" with `on_sign_out_notice: \"ignore\"`",
                "`on_sign_out_notice: \"sign-out\"`: a tab that ignores the notice is not signed out, so its refresh's answer is an ordinary 2xx",
            ));
        }
        if b.sign_outs == 0 {
            return Err(self.invalid(
                "browser.sign_out_notice",
                &notice,
                "\"none\" without `sign_outs` (no sign-out to tell the other tabs of): set `sign_outs` to 1 or more",
            ));
        }
        if b.sign_out_notice == SignOutNotice::StorageEvent && !shared {
            return Err(self.invalid(
                "browser.sign_out_notice",
                &notice,
                "\"broadcast-channel\" (or \"none\"): a `storage` event fires only when the sign-out removes a shared `localStorage` entry, and this model has none (json `shared` or `shared-lagging` storage, or \"store-shared\" in `on_ok`)",
            ));
        }
        if !self.is_auth_server() {
            return Err(self.invalid(
                "browser.sign_out_notice",
                &notice,
                "\"none\" with a Directus `server` or a `session_server` (the notice is modelled for `auth_server` and `protocol` models)",
            ));
        }
        let conflicts: [(&str, bool); 6] = [
            ("`coordination` other than \"none\"", b.coordination != Coordination::None),
            ("`requesters_per_tab` above 1", b.requesters_per_tab > 1),
            ("`reloads_per_tab`", b.reloads_per_tab > 0),
            ("`retries_per_tab`", b.retries_per_tab > 0),
            ("`sign_ins` or `re_sign_ins`", b.sign_ins > 0 || b.re_sign_ins > 0),
            ("`ssr_paths`", b.ssr_paths > 0),
        ];
        if let Some((what, _)) = conflicts.iter().find(|(_, on)| *on) {
            // What the designer can write instead: each half in a model of its own.
            let instead = if b.coordination != Coordination::None {
                "; write instead, as two models: one without `sign_out_notice`, where the other tabs learn of the sign-out by reading the shared storage it empties (with `json_storage: \"shared\"` and `sign_out_takes_lock: true`, a tab granted the lock after the sign-out finds no token and its refresh, presenting none, is refused; a query or an invariant over `storage` and `tabs.logged_out` asks what the notice would settle), and one with the notice and `coordination: \"none\"`, for the notice's race with a refresh no lock orders (docs/protocol-language.md, \"A sign-out under the Web Lock\")".to_string()
            } else {
                format!("; write instead two models: one without `sign_out_notice`, and one with the notice and without {what}")
            };
            return Err(self.invalid(
                "browser.sign_out_notice",
                &notice,
                &format!("\"none\" with {what}: a sign-out notice is not modelled together with it{instead}"),
            ));
        }
        Ok(())
    }

    /// Checks of `browser.sign_out_from`: a device of an authorization-server model (1 to
    /// `devices`) that signs out (`sign_outs` above 0).
    fn validate_sign_out_from(&self) -> Result<(), ScenarioError> {
        let Some(d) = self.browser.sign_out_from else { return Ok(()) };
        let nothing = "`sign_outs` above 0 with it (it says which device signs out; nothing signs out here)";
        self.validate_acting_device("browser.sign_out_from", d, self.browser.sign_outs == 0, nothing, None)
    }

    /// Checks of `browser.re_sign_in_from`: a device of an authorization-server model (1 to
    /// `devices`) that signs in again (`re_sign_ins` above 0) and is signed in when the run
    /// starts (not one of the last `sign_ins` devices, which sign in during the run).
    fn validate_re_sign_in_from(&self) -> Result<(), ScenarioError> {
        let Some(d) = self.browser.re_sign_in_from else { return Ok(()) };
        let b = &self.browser;
        let nothing = "`re_sign_ins` above 0 with it (it says which device signs in again or changes the password; nothing does here)";
        let late = format!(
            "a device signed in when the run starts, from 1 to {} (device {d} is one of the last `sign_ins` devices, which sign in during the run and never again)",
            b.devices.saturating_sub(b.sign_ins)
        );
        self.validate_acting_device(
            "browser.re_sign_in_from",
            d,
            b.re_sign_ins == 0,
            nothing,
            Some((late, d + b.sign_ins > b.devices)),
        )
    }

    /// The checks `sign_out_from` and `re_sign_in_from` share: `field` names device `d` of an
    /// authorization-server model (1 to `devices`) for an act the model has (`absent` with
    /// `nothing` when it has none); `extra`, a further condition in words and whether it is
    /// broken. The first broken one is refused.
    fn validate_acting_device(
        &self,
        field: &str,
        d: u8,
        absent: bool,
        nothing: &str,
        extra: Option<(String, bool)>,
    ) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let name = field.trim_start_matches("browser.");
        let conflicts: Vec<(String, bool)> = [
            (
                format!(
                    "no `{name}` in a Directus model (it has one browser; the field names a device of an \
                     `auth_server` or `protocol` model)"
                ),
                !self.is_auth_server(),
            ),
            (nothing.to_string(), absent),
            (
                format!("a device from 1 to {} (`browser.devices`; traces number devices from 1)", b.devices),
                d == 0 || d > b.devices,
            ),
        ]
        .into_iter()
        .chain(extra)
        .collect();
        self.refuse_first(field, &d.to_string(), &conflicts, str::to_string)
    }

    fn invalid(&self, field: &str, found: impl ToString, expected: &str) -> ScenarioError {
        ScenarioError::Invalid {
            path: self.path.clone(),
            at: Location::default(),
            field: field.into(),
            found: found.to_string(),
            expected: expected.into(),
        }
    }

    /// Checks of the free-text fields and of the network, beyond their types.
    fn validate_texts_and_network(&self) -> Result<(), ScenarioError> {
        if self.name.len() > MAX_NAME_LEN {
            let found = format!("a name of {} bytes", self.name.len());
            return Err(self.invalid("name", found, &format!("at most {MAX_NAME_LEN} bytes (it names trace files)")));
        }
        if self.description.trim().is_empty() {
            return Err(self.invalid("description", "an empty text", "one paragraph on what protocol is modelled"));
        }
        if let Some(i) = self.sources.iter().position(|s| s.trim().is_empty()) {
            return Err(self.invalid(
                &format!("sources[{i}]"),
                "an empty text",
                "a source: a file and version, a pull request, an RFC section",
            ));
        }
        // A server handler takes each SQL result once; a network that
        // delivers a result twice drives it into a stage it cannot be in (found by fuzzing;
        // see docs/robustness.md). Refused until the server model handles duplicates.
        if self.network == NetworkKind::UnorderedDuplicating {
            return Err(self.invalid(
                "network",
                "\"unordered_duplicating\"",
                "\"unordered_nonduplicating\" or \"ordered\" (duplicated deliveries are not supported by the server model yet)",
            ));
        }
        Ok(())
    }

    /// Checks of the `auth_server` preset's options beyond their types.
    fn validate_preset(&self, p: &AuthServerPolicy) -> Result<(), ScenarioError> {
        let in_range = |field: &str, v: u8, lo: u8, hi: u8| {
            if v < lo || v > hi {
                Err(self.invalid(field, v, &format!("an integer from {lo} to {hi}")))
            } else {
                Ok(())
            }
        };
        in_range("auth_server.replicas", p.replicas, 1, 2)?;
        if p.replicas > 1 && p.steps != AsSteps::Atomic {
            return Err(self.invalid(
                "auth_server.steps",
                "\"read-then-write\"",
                "\"atomic\" when `replicas` is 2 (each node serves a request in one action)",
            ));
        }
        if p.reuse_state != ReuseState::PerChain
            && (p.rotation != Rotation::Rotate || p.grace != Grace::None || p.on_reuse == OnReuse::Reject)
        {
            let found =
                if p.reuse_state == ReuseState::PerClientSession { "per-client-session" } else { "per-reuse-id" };
            return Err(self.invalid(
                "auth_server.reuse_state",
                format!("\"{found}\""),
                "\"per-chain\", or Keycloak's \"per-client-session\" or \"per-reuse-id\" with `rotation` \"rotate\", `grace` \"none\" and an `on_reuse` that detects (Keycloak's Revoke Refresh Token; its Refresh Token Max Reuse is `window.uses`, default 0, the one window bound it takes)",
            ));
        }
        if p.routing == Routing::Sticky && p.replicas < 2 {
            return Err(self.invalid(
                "auth_server.routing",
                "\"sticky\" with one node",
                "\"any\" unless `replicas` is 2 (routing chooses between nodes)",
            ));
        }
        // Keycloak's counters read `window.uses` as its max reuse, without a grace.
        let max_reuse_only =
            p.reuse_state != ReuseState::PerChain && p.window == Window { uses: p.window.uses, ..Window::default() };
        if p.grace == Grace::None && p.window != Window::default() && !max_reuse_only {
            return Err(self.invalid(
                "auth_server.window",
                "a window with `grace` \"none\"",
                "no `window` unless a `grace` is set (the window bounds grace redemptions), or `window.uses` alone with Keycloak's \"per-client-session\" or \"per-reuse-id\" (its Refresh Token Max Reuse)",
            ));
        }
        if p.rotation == Rotation::None && (p.grace != Grace::None || p.on_reuse != OnReuse::Reject) {
            return Err(self.invalid(
                "auth_server.rotation",
                "\"none\" with a `grace` or an `on_reuse`",
                "\"rotate\" when `grace` or `on_reuse` is set (without rotation no token is ever superseded)",
            ));
        }
        for (field, v) in [
            ("auth_server.window.ticks", p.window.ticks),
            ("auth_server.window.uses", p.window.uses),
            ("auth_server.window.generations", p.window.generations),
            ("auth_server.idle", p.idle),
            ("auth_server.absolute", p.absolute),
        ] {
            if let Some(v) = v {
                in_range(field, v, 1, 200)?;
            }
        }
        Ok(())
    }

    /// Checks of `aborts_per_tab` and `on_aborted` ([`crate::model::browser`], `abort`): an
    /// aborted refresh's answer is told apart by the tab's refresh round, whose address bits
    /// requesters and reloads use for themselves.
    fn validate_aborts(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        if b.aborts_per_tab > 2 {
            return Err(self.invalid("browser.aborts_per_tab", b.aborts_per_tab, "an integer from 0 to 2"));
        }
        if let (Some(list), 0) = (&b.on_aborted, b.aborts_per_tab) {
            return Err(self.invalid(
                "browser.on_aborted",
                serde_json::to_string(list).unwrap_or_default(),
                "no value unless `aborts_per_tab` is above 0 (it is the reaction to an aborted refresh)",
            ));
        }
        if b.aborts_per_tab == 0 {
            return Ok(());
        }
        let n = b.aborts_per_tab;
        let refuse = |why: &str| Err(self.invalid("browser.aborts_per_tab", n, &format!("0 {why}")));
        if !self.is_auth_server() {
            return refuse("in a Directus model (aborts are modelled against an `auth_server` or `protocol`)");
        }
        if b.coordination != Coordination::None {
            return refuse("with a `coordination` (an aborted holder's lock is not modelled: `coordination` \"none\")");
        }
        if b.requesters_per_tab > 1 || b.reloads_per_tab > 0 {
            return refuse("with `requesters_per_tab` above 1 or `reloads_per_tab` (an aborted refresh is told apart by the tab's refresh round, which takes the requester and page bits of an answer's address)");
        }
        Ok(())
    }

    /// Checks of `ok_writes` and `crashes_per_tab` ([`crate::model::browser::crash`]): both
    /// need a token stored where a restarted process finds it (json mode, `json_storage`
    /// "shared", the entry holding the refresh token only) and a tab whose steps with a
    /// request in flight are only its refresh's (none of the options that cancel, re-send or
    /// add requests, or coordinate tabs).
    fn validate_crashes(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        if b.crashes_per_tab > 2 {
            return Err(self.invalid("browser.crashes_per_tab", b.crashes_per_tab, "an integer from 0 to 2"));
        }
        let on_ok = b.on_ok.clone().unwrap_or_else(|| crate::model::policy::default_on_ok(b.mode, b.json_storage));
        let conflicts = |field: &str| {
            [
                ("a Directus model (modelled against an `auth_server` or `protocol`)", !self.is_auth_server()),
                ("`mode` \"cookie\" or \"session\" (the browser applies a response's Set-Cookie headers itself, and the jar outlives a tab)", b.mode != AuthMode::Json),
                ("`json_storage` other than \"shared\" (a token kept only in a tab's memory is lost with the process; lagging storage is not modelled with it)", b.json_storage != JsonStorage::Shared),
                ("`shared_storage_holds` \"session\" (the whole session is one write)", b.shared_storage_holds != StorageHolds::RefreshToken),
                ("`coordination` other than \"none\" (a process that dies holding a lock is not modelled)", b.coordination != Coordination::None),
                ("`retries_per_tab` above 0", b.retries_per_tab > 0),
                ("`requesters_per_tab` above 1", b.requesters_per_tab > 1),
                ("`reloads_per_tab` above 0", b.reloads_per_tab > 0),
                ("`aborts_per_tab` above 0", b.aborts_per_tab > 0),
                ("`calls_per_tab` above 0", b.calls_per_tab > 0),
                ("`follow_up`", b.follow_up.is_some()),
                ("`sign_out_notice`", b.sign_out_notice != crate::model::policy::SignOutNotice::None),
                ("`reads_token` \"before-send\"", b.reads_token != crate::model::policy::ReadsToken::AtSend),
                ("`refresh_triggers`", b.refresh_triggers.is_some()),
                ("`tab_settings`", b.tab_settings.is_some()),
                ("an `on_ok` that stores in the cookie jar or starts a later render stage (json mode stores with `store-shared` and `store-in-tab`)", field == "browser.ok_writes" && on_ok.iter().any(|r| matches!(r, crate::model::policy::OkReaction::StoreInCookie | crate::model::policy::OkReaction::NextStageRefreshesWithOriginalToken))),
                ("an `on_ok` without `store-shared` (the two writes are of the stored refresh token and access token: with nothing written to storage there is no second write)", field == "browser.ok_writes" && !on_ok.contains(&crate::model::policy::OkReaction::StoreShared)),
                ("the reaction `sign-out-request` (its request shares the follow-up's path, and a process that dies with it in flight is not modelled)", field == "browser.crashes_per_tab" && b.on_refused.iter().chain(&b.on_server_error).any(|r| *r == Reaction::SignOutRequest)),
            ]
            .map(|(what, on)| (what.to_string(), on))
        };
        if !b.ok_writes.is_default() {
            let found = serde_json::to_string(&b.ok_writes).unwrap_or_default();
            self.refuse_first("browser.ok_writes", &found, &conflicts("browser.ok_writes"), |what| {
                format!("\"one\" with {what}: two writes are not modelled together with it")
            })?;
        }
        if b.crashes_per_tab > 0 {
            let n = b.crashes_per_tab.to_string();
            self.refuse_first("browser.crashes_per_tab", &n, &conflicts("browser.crashes_per_tab"), |what| {
                format!("0 with {what}: a crash is not modelled together with it")
            })?;
        }
        Ok(())
    }

    /// Checks of `on_timeout` ([`crate::model::browser::timeouts`]): the reaction to a
    /// timeout needs timeouts to happen, which `retries_per_tab` counts (its other checks, a
    /// Directus model, requesters and reloads, are those of `retries_per_tab`).
    fn validate_timeouts(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        if let (Some(list), 0) = (&b.on_timeout, b.retries_per_tab) {
            return Err(self.invalid(
                "browser.on_timeout",
                serde_json::to_string(list).unwrap_or_default(),
                "no value unless `retries_per_tab` is above 0 (it counts the times a tab may time out; `retry_timeout` says when)",
            ));
        }
        Ok(())
    }

    /// The refusal of `field` (holding `found`) for the first of `conflicts` that holds: each
    /// entry is what the field needs (or may not be combined with) in words, and whether the
    /// model breaks it; the message is `expected(words)`. `Ok` when none holds. The shape
    /// shared by the checks of the newer browser options ([`Self::validate_reads_token`],
    /// [`Self::validate_sign_out_lock`], [`Self::validate_refresh_triggers`]).
    fn refuse_first(
        &self,
        field: &str,
        found: &str,
        conflicts: &[(String, bool)],
        expected: impl Fn(&str) -> String,
    ) -> Result<(), ScenarioError> {
        match conflicts.iter().find(|(_, on)| *on) {
            Some((what, _)) => Err(self.invalid(field, found, &expected(what))),
            None => Ok(()),
        }
    }

    /// Checks of `reads_token` ([`crate::model::browser::token_read`]): a read of its own
    /// needs a token page script can read (json mode) and a refresh path whose sends all start
    /// a refresh (no retries, requesters, reloads or aborts, which re-send or cancel one).
    fn validate_reads_token(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        if b.reads_token == crate::model::policy::ReadsToken::AtSend {
            return Ok(());
        }
        let conflicts = [
            ("a Directus model (a read of its own is modelled against an `auth_server` or `protocol`)", !self.is_auth_server()),
            ("`mode` \"cookie\" or \"session\" (the refresh token is an HttpOnly cookie the browser attaches when it sends the request: page script cannot read it first, RFC 6265 §5.2.6)", b.mode != AuthMode::Json),
            ("`coordination` \"local-storage\" or \"broadcast-leader\" (the read is modelled with no coordination and with Web Locks)", !matches!(b.coordination, Coordination::None | Coordination::WebLocks)),
            ("`read_before_lock` (that copy is read before the tab queues; `before-send` reads after it holds the lock)", b.read_before_lock),
            ("`retries_per_tab` above 0", b.retries_per_tab > 0),
            ("`requesters_per_tab` above 1", b.requesters_per_tab > 1),
            ("`reloads_per_tab` above 0", b.reloads_per_tab > 0),
            ("`aborts_per_tab` above 0", b.aborts_per_tab > 0),
            ("`calls_per_tab` above 0", b.calls_per_tab > 0),
            ("`sign_out_notice`", b.sign_out_notice != crate::model::policy::SignOutNotice::None),
            ("`ssr_paths` above 0", b.ssr_paths > 0),
            ("`sign_out_takes_lock`", b.sign_out_takes_lock),
            ("`refresh_triggers`", b.refresh_triggers.is_some()),
            ("`tab_settings`", b.tab_settings.is_some()),
        ]
        .map(|(what, on)| (what.to_string(), on));
        self.refuse_first("browser.reads_token", "\"before-send\"", &conflicts, |what| {
            format!("\"at-send\" with {what}: a read of its own is not modelled together with it")
        })
    }

    /// Refuses `reaction` (written `found`) in every reaction list other than a refresh's own
    /// error lists (`on_refused`, `on_server_error`): `what` names what it does, modelled for the
    /// tab's own refresh only. The error names the list entry (`browser.on_timeout[1]`).
    fn only_in_refresh_error_lists(&self, reaction: Reaction, found: &str, what: &str) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let others = [
            ("on_requester_refused", b.on_requester_refused.as_ref()),
            ("on_requester_server_error", b.on_requester_server_error.as_ref()),
            ("on_call_refused", b.on_call_refused.as_ref()),
            ("on_call_server_error", b.on_call_server_error.as_ref()),
            ("on_aborted", b.on_aborted.as_ref()),
            ("on_timeout", b.on_timeout.as_ref()),
        ];
        for (name, list) in others {
            if let Some(i) = list.and_then(|l| l.iter().position(|r| *r == reaction)) {
                return Err(self.invalid(
                    &format!("browser.{name}[{i}]"),
                    found,
                    &format!(
                        "a reaction of a refresh's error lists only (`on_refused`, `on_server_error`): {what} is modelled for the tab's own refresh"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks of the reaction `wait-for-token-change` and `browser.token_change_wait`
    /// ([`crate::model::browser::store_wait`]): the reaction only in a refresh's error lists
    /// (`on_refused`, `on_server_error`), in json mode (page script reads the token), with the
    /// wait's length; the length only with the reaction, within the clock's horizon; and none
    /// of the options whose reactions or rounds the wait is not modelled with.
    fn validate_store_wait(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let wait = Reaction::WaitForTokenChange;
        let found = "\"wait-for-token-change\"";
        self.only_in_refresh_error_lists(wait, found, "the wait for the stored token")?;
        let own = [("on_refused", &b.on_refused), ("on_server_error", &b.on_server_error)];
        let at =
            own.iter().find_map(|(name, l)| l.iter().position(|r| *r == wait).map(|i| format!("browser.{name}[{i}]")));
        let Some(n) = b.token_change_wait else {
            return match at {
                Some(field) => Err(self.invalid(
                    &field,
                    found,
                    "a reaction with `browser.token_change_wait` set (N ticks of the browser's clock the tab waits for the stored token to change, 1 to 16)",
                )),
                None => Ok(()),
            };
        };
        let Some(field) = at else {
            return Err(self.invalid(
                "browser.token_change_wait",
                n,
                "no value unless `on_refused` or `on_server_error` has \"wait-for-token-change\" (it is that reaction's wait)",
            ));
        };
        if b.mode != AuthMode::Json {
            return Err(self.invalid(
                &field,
                found,
                "a reaction page script can perform: in cookie and session mode the refresh token is an HttpOnly cookie that script cannot read (RFC 6265 §5.2.6); json mode keeps it where script can",
            ));
        }
        for (name, list) in own {
            if let Some(i) = list.iter().enumerate().filter(|(_, r)| **r == wait).nth(1).map(|(i, _)| i) {
                return Err(self.invalid(
                    &format!("browser.{name}[{i}]"),
                    found,
                    "the reaction at most once in a list: one wait of `token_change_wait` ticks (the source's \
                     polls are one wait); a second would start only after the first ran out, past where the \
                     clock may stop",
                ));
            }
        }
        if b.json_storage == JsonStorage::PerTab {
            return Err(self.invalid(
                &field,
                found,
                "a reaction with a store another client writes (json `shared` or `shared-lagging`): with \
                 `per-tab` storage no other tab writes the token this tab re-reads, so the wait could only run out",
            ));
        }
        if n == 0 || n > MAX_TICKS || n > self.time.max_ticks {
            return Err(self.invalid(
                "browser.token_change_wait",
                n,
                &format!(
                    "an integer from 1 to {} and at most `time.max_ticks` ({}): the browser's clock never passes the horizon, so a longer wait would never run out",
                    MAX_TICKS, self.time.max_ticks
                ),
            ));
        }
        let conflicts = [
            ("a Directus model (the wait is modelled against an `auth_server` or `protocol`)", !self.is_auth_server()),
            ("a `coordination` (a lock held through the wait is not modelled)", b.coordination != Coordination::None),
            ("`requesters_per_tab` above 1", b.requesters_per_tab > 1),
            ("`reloads_per_tab` above 0", b.reloads_per_tab > 0),
            ("`aborts_per_tab` above 0", b.aborts_per_tab > 0),
            ("`retries_per_tab` above 0", b.retries_per_tab > 0),
            ("`calls_per_tab` above 0", b.calls_per_tab > 0),
            ("`sign_out_notice`", b.sign_out_notice != crate::model::policy::SignOutNotice::None),
            ("`ssr_paths` above 0", b.ssr_paths > 0),
            ("`tab_settings`", b.tab_settings.is_some()),
        ]
        .map(|(what, on)| (what.to_string(), on));
        self.refuse_first("browser.token_change_wait", &n.to_string(), &conflicts, |what| {
            format!("no value with {what}: the wait is not modelled together with it")
        })
    }

    /// Checks of `browser.lock_wait_ticks` and `browser.on_lock_timeout`
    /// ([`crate::model::browser::lock_wait`]): both or neither; a Web Lock to wait for; a wait
    /// within the clock's horizon; a reaction list that needs no answer and ends the tab's
    /// refresh; and none of the options the bounded wait is not modelled with.
    fn validate_lock_wait(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let (n, list) = match (b.lock_wait_ticks, &b.on_lock_timeout) {
            (None, None) => return Ok(()),
            (None, Some(l)) => {
                return Err(self.invalid(
                    "browser.on_lock_timeout",
                    serde_json::to_string(l).unwrap_or_default(),
                    "no value unless `browser.lock_wait_ticks` is set (it is what a tab does when that wait runs out)",
                ))
            }
            (Some(n), None) => {
                return Err(self.invalid(
                    "browser.lock_wait_ticks",
                    n,
                    "a value with `browser.on_lock_timeout` set (what a tab whose wait for the lock ran out does: e.g. [\"clear-stored-token\", \"log-out\"])",
                ))
            }
            (Some(n), Some(l)) => (n, l),
        };
        if b.coordination != Coordination::WebLocks {
            return Err(self.invalid(
                "browser.lock_wait_ticks",
                n,
                "no value unless `coordination` is \"web-locks\" (it bounds a tab's wait for the refresh lock)",
            ));
        }
        if n == 0 || n > MAX_TICKS || n > self.time.max_ticks {
            return Err(self.invalid(
                "browser.lock_wait_ticks",
                n,
                &format!(
                    "an integer from 1 to {} and at most `time.max_ticks` ({}): the browser's clock never passes the horizon, so a longer wait would never run out",
                    MAX_TICKS, self.time.max_ticks
                ),
            ));
        }
        for (i, r) in list.iter().enumerate() {
            let allowed = matches!(
                r,
                Reaction::ClearStoredToken
                    | Reaction::ClearCookie
                    | Reaction::ClearSharedStorage
                    | Reaction::LogOut
                    | Reaction::KeepGoing
            );
            if !allowed {
                return Err(self.invalid(
                    &format!("browser.on_lock_timeout[{i}]"),
                    serde_json::to_string(r).unwrap_or_default(),
                    "\"clear-stored-token\", \"clear-cookie\", \"clear-shared-storage\", \"log-out\" or \"keep-going\": a tab whose wait for the lock ran out sent nothing, so there is no refused token to re-read, wait on or send again",
                ));
            }
            let ends = matches!(r, Reaction::LogOut | Reaction::KeepGoing);
            if ends && i + 1 != list.len() {
                return Err(self.invalid(
                    &format!("browser.on_lock_timeout[{}]", i + 1),
                    serde_json::to_string(&list[i + 1]).unwrap_or_default(),
                    "nothing after \"log-out\" or \"keep-going\" (each ends the list)",
                ));
            }
        }
        if !list.last().is_some_and(|r| matches!(r, Reaction::LogOut | Reaction::KeepGoing)) {
            return Err(self.invalid(
                "browser.on_lock_timeout",
                serde_json::to_string(list).unwrap_or_default(),
                "a list ending with \"log-out\" or \"keep-going\" (what becomes of the tab once it gave up the wait)",
            ));
        }
        let conflicts = [
            ("`lock_steal` (a waiter that may steal the lock and also give up is not modelled)", b.lock_steal),
            ("`sign_out_takes_lock` (a sign-out waiting for the lock gives up no wait)", b.sign_out_takes_lock),
            ("`requesters_per_tab` above 1", b.requesters_per_tab > 1),
            ("`reloads_per_tab` above 0", b.reloads_per_tab > 0),
            ("`calls_per_tab` above 0", b.calls_per_tab > 0),
            ("`tab_settings`", b.tab_settings.is_some()),
        ]
        .map(|(what, on)| (what.to_string(), on));
        self.refuse_first("browser.lock_wait_ticks", &n.to_string(), &conflicts, |what| {
            format!("no value with {what}: the bounded wait is not modelled together with it")
        })
    }

    /// Checks of `browser.sign_out_takes_lock` ([`crate::model::browser::signout_lock`]): a
    /// Web Lock to take, a sign-out to take it, and none of the lock's faults or calls (a
    /// sign-out holding a lock that hangs, is stolen or is released by a call's log-out is
    /// not modelled).
    fn validate_sign_out_lock(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        if !b.sign_out_takes_lock {
            return Ok(());
        }
        let conflicts = [
            (
                "`coordination` \"web-locks\" (the lock the sign-out takes is the one the tab's refreshes take)",
                b.coordination != Coordination::WebLocks,
            ),
            ("`sign_outs` above 0 (no sign-out would take the lock)", b.sign_outs == 0),
            (
                "no `lock_hangs` or `lock_steal` (a sign-out holding a lock that hangs or is stolen is not modelled)",
                b.lock_hangs > 0 || b.lock_steal,
            ),
            (
                "no `calls_per_tab` (a call's log-out releasing the lock a sign-out waits for is not modelled)",
                b.calls_per_tab > 0,
            ),
        ]
        .map(|(what, on)| (what.to_string(), on));
        self.refuse_first("browser.sign_out_takes_lock", "true", &conflicts, |why| format!("false unless {why}"))
    }

    /// Checks of `browser.sign_out_request`: a local-only sign-out needs a sign-out to make
    /// local, and none of the options that act at the sign-out's answer (the lock it releases,
    /// the notice it sends), which a sign-out that sends nothing never gets.
    fn validate_sign_out_request(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        if b.sign_out_request == crate::model::policy::SignOutRequest::Sent {
            return Ok(());
        }
        let conflicts = [
            ("`sign_outs` above 0 (no sign-out would be local)", b.sign_outs == 0),
            (
                "no `sign_out_takes_lock` (a sign-out that sends nothing has no answer to release the Web Lock)",
                b.sign_out_takes_lock,
            ),
            (
                "no `sign_out_notice` (the notice is sent at the sign-out's answer, which a local-only sign-out never gets)",
                b.sign_out_notice != crate::model::policy::SignOutNotice::None,
            ),
        ]
        .map(|(what, on)| (what.to_string(), on));
        self.refuse_first("browser.sign_out_request", "\"none\"", &conflicts, |why| format!("\"sent\" unless {why}"))
    }

    /// Checks of the reaction `sign-out-request`: a refresh's error lists only (`on_refused`,
    /// `on_server_error`), at most once in a list and not as its last entry (the list ends
    /// with `log-out` or `keep-going`), a `protocol` or `auth_server` whose `sign_out` handler
    /// serves it presenting a refresh token, and none of the options the follow-up it shares
    /// its path with is not modelled with (`browser.follow_up` itself, requesters, reloads, two
    /// server nodes, a broadcast leader).
    fn validate_sign_out_reaction(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let r = Reaction::SignOutRequest;
        let found = "\"sign-out-request\"";
        self.only_in_refresh_error_lists(r, found, "the sign-out request a refused refresh sends")?;
        let own = [("on_refused", &b.on_refused), ("on_server_error", &b.on_server_error)];
        let mut at = None;
        for (name, list) in own {
            let mut hits = list.iter().enumerate().filter(|(_, x)| **x == r).map(|(i, _)| i);
            if let Some(i) = hits.next() {
                at.get_or_insert(format!("browser.{name}[{i}]"));
            }
            if let Some(i) = hits.next() {
                return Err(self.invalid(
                    &format!("browser.{name}[{i}]"),
                    found,
                    "the reaction at most once in a list (a tab has one sign-out request in flight at most)",
                ));
            }
        }
        let Some(field) = at else { return Ok(()) };
        let Some(p) = self.protocol.as_ref() else {
            return Err(self.invalid(
                &field,
                found,
                "a reaction of a model with a `protocol` or `auth_server` section (its `sign_out` handler serves the request)",
            ));
        };
        if p.sign_out_presents != crate::protocol::Presents::RefreshToken {
            return Err(self.invalid(
                "protocol.sign_out.presents",
                "the access token",
                "\"refresh_token\" (the default) with the reaction \"sign-out-request\": the request carries the refresh token the tab holds",
            ));
        }
        let conflicts = [
            (
                "no `follow_up` (the two share the tab's one request in flight; not modelled together)",
                b.follow_up.is_some(),
            ),
            ("`requesters_per_tab` 1", b.requesters_per_tab > 1),
            ("no `reloads_per_tab`", b.reloads_per_tab > 0),
            ("one server node (`protocol.replicas` 1)", p.replicas > 1),
            ("a `coordination` other than \"broadcast-leader\"", b.coordination == Coordination::BroadcastLeader),
        ]
        .map(|(what, on)| (what.to_string(), on));
        self.refuse_first(&field, found, &conflicts, |why| format!("a reaction used with {why}"))
    }

    /// Checks of `browser.refresh_triggers` and of each `browser.tab_settings[i].refresh_triggers`
    /// ([`crate::model::browser::triggers`]): one entry per requester; with
    /// "when-access-expired", an authorization-server model whose clock runs past the access
    /// token's lifetime (otherwise the requester could never refresh), `coordination` "none",
    /// no reloads, and one tab in session mode.
    fn validate_refresh_triggers(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        if let Some(list) = &b.refresh_triggers {
            self.validate_trigger_list("browser.refresh_triggers", list)?;
        }
        for (i, s) in b.tab_settings.iter().flatten().enumerate() {
            if let Some(list) = &s.refresh_triggers {
                self.validate_trigger_list(&format!("browser.tab_settings[{i}].refresh_triggers"), list)?;
            }
        }
        Ok(())
    }

    /// One list of refresh triggers, written at `field` (see [`Self::validate_refresh_triggers`]).
    fn validate_trigger_list(
        &self,
        field: &str,
        list: &[crate::model::policy::RefreshTrigger],
    ) -> Result<(), ScenarioError> {
        use crate::model::policy::RefreshTrigger;
        let b = &self.browser;
        let found = serde_json::to_string(list).unwrap_or_default();
        let per_requester = [(
            format!(
                "one entry per requester: {} (`requesters_per_tab`), requester 1 (the tab itself) first",
                b.requesters_per_tab
            ),
            list.len() != usize::from(b.requesters_per_tab),
        )];
        self.refuse_first(field, &found, &per_requester, str::to_string)?;
        if !list.contains(&RefreshTrigger::WhenAccessExpired) {
            return Ok(());
        }
        let conflicts = [
            (
                "an `auth_server` or `protocol` model (the access token's expiry is the one a refresh's 2xx carries)".to_string(),
                !self.is_auth_server(),
            ),
            (
                format!(
                    "`time.max_ticks` ({}) above `time.access_token_ttl` ({}): no access token expires within the run, so a requester that waits for the expiry would never refresh",
                    self.time.max_ticks, self.time.access_token_ttl
                ),
                self.time.max_ticks <= self.time.access_token_ttl,
            ),
            (
                "`coordination` \"none\" (a refresh on expiry is not modelled behind a cross-tab lock or leader)".into(),
                b.coordination != Coordination::None,
            ),
            (
                "one tab in `mode` \"session\" (the session cookie's expiry is not the access token's the \
                 trigger reads)"
                    .into(),
                b.mode == AuthMode::Session && b.tabs > 1,
            ),
            (
                "no `reloads_per_tab` (a reloaded page's access token is not modelled for the trigger)".into(),
                b.reloads_per_tab > 0,
            ),
        ];
        self.refuse_first(field, &found, &conflicts, |why| format!("\"when-access-expired\" only with {why}"))
    }

    /// Checks of `browser.tab_settings` ([`crate::model::browser::tab_settings`]): one entry
    /// per tab, each `refreshes` from 0 to [`MAX_PER_TAB`]; the entries' trigger lists are
    /// checked with the browser's ([`Self::validate_refresh_triggers`]).
    fn validate_tab_settings(&self) -> Result<(), ScenarioError> {
        let b = &self.browser;
        let Some(list) = &b.tab_settings else { return Ok(()) };
        if list.len() != usize::from(b.tabs) {
            return Err(self.invalid(
                "browser.tab_settings",
                format!("{} entries", list.len()),
                &format!(
                    "one entry per tab: {} (`browser.tabs`), tab A first; `{{}}` keeps the browser's settings",
                    b.tabs
                ),
            ));
        }
        for (i, s) in list.iter().enumerate() {
            if let (Some(v), true) = (s.single_flight, b.requesters_per_tab < 2) {
                return Err(self.invalid(
                    &format!("browser.tab_settings[{i}].single_flight"),
                    v,
                    "no value unless `requesters_per_tab` is above 1 (single-flight is shared by the requesters of one tab; a tab alone has one refresh in flight at a time)",
                ));
            }
            if let Some(n) = s.refreshes {
                if n > MAX_PER_TAB {
                    return Err(self.invalid(
                        &format!("browser.tab_settings[{i}].refreshes"),
                        n,
                        &format!("an integer from 0 to {MAX_PER_TAB}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks of `requesters_per_tab` and `reloads_per_tab`
    /// ([`crate::model::browser::requesters`]).
    fn validate_requesters(&self) -> Result<(), ScenarioError> {
        use crate::model::browser::requesters::{MAX_RELOADS, MAX_REQUESTERS};
        use crate::model::policy::{OkReaction, Reaction};
        let b = &self.browser;
        let in_range = |field: &str, v: u8, lo: u8, hi: u8| {
            if v < lo || v > hi {
                Err(self.invalid(field, v, &format!("an integer from {lo} to {hi}")))
            } else {
                Ok(())
            }
        };
        in_range("browser.requesters_per_tab", b.requesters_per_tab, 1, MAX_REQUESTERS)?;
        if b.single_flight && b.requesters_per_tab < 2 {
            return Err(self.invalid(
                "browser.single_flight",
                true,
                "false unless `requesters_per_tab` is above 1 (single-flight is shared by the requesters of one tab; a tab alone has one refresh in flight at a time)",
            ));
        }
        in_range("browser.reloads_per_tab", b.reloads_per_tab, 0, MAX_RELOADS)?;
        for (field, n, what) in
            [("browser.requesters_per_tab", b.requesters_per_tab, 1), ("browser.reloads_per_tab", b.reloads_per_tab, 0)]
        {
            if n == what {
                continue;
            }
            if !self.is_auth_server() {
                return Err(self.invalid(
                    field,
                    n,
                    &format!("{what} in a Directus model (requesters and reloads are modelled against an `auth_server` or `protocol`)"),
                ));
            }
            if b.coordination != Coordination::None {
                return Err(self.invalid(
                    field,
                    n,
                    &format!("{what} with a `coordination` (requesters and reloads are for pages without single-flight: `coordination` \"none\"; code paths of one app that share a lock are tabs: write them as `tabs`, docs/protocol-language.md, \"Tabs or requesters\")"),
                ));
            }
            if b.retries_per_tab > 0 {
                return Err(self.invalid(
                    field,
                    n,
                    &format!(
                        "{what} with `retries_per_tab` ({})",
                        if field == "browser.reloads_per_tab" {
                            "a retry and a reload both abandon the answer; model one of them"
                        } else {
                            "a retry is the tab's own: several requesters of one tab share no retry budget; write \
                             code paths that each retry as `tabs` sharing the storage (`json_storage` \"shared\", or \
                             cookie mode) without a `coordination`, each tab with its own `retries_per_tab`, or leave \
                             `retries_per_tab` at 0"
                        }
                    ),
                ));
            }
        }
        let requester_lists = [
            ("on_requester_refused", &b.on_requester_refused),
            ("on_requester_server_error", &b.on_requester_server_error),
        ];
        for (name, list) in requester_lists {
            let Some(list) = list else { continue };
            if b.requesters_per_tab < 2 {
                return Err(self.invalid(
                    &format!("browser.{name}"),
                    serde_json::to_string(list).unwrap_or_default(),
                    "no value unless `requesters_per_tab` is above 1 (it is the reaction of requesters 2 to N; the tab itself keeps `on_refused` and `on_server_error`)",
                ));
            }
            if let Some(i) = list.iter().position(|r| matches!(r, Reaction::Retry | Reaction::RefreshAndRetry)) {
                return Err(self.invalid(
                    &format!("browser.{name}[{i}]"),
                    serde_json::to_string(&list[i]).unwrap_or_default(),
                    "one of \"log-out\", \"keep-going\", \"clear-stored-token\", \"clear-cookie\", \"clear-shared-storage\", \"retry-with-stored-token\", \"ignore-if-token-changed\" (\"retry\" is refused with several requesters: the retry budget is the tab's; \"refresh-and-retry\" is a reaction of an ordinary call)",
                ));
            }
        }
        if let Some(list) = &b.on_requester_ok {
            if b.requesters_per_tab < 2 {
                return Err(self.invalid(
                    "browser.on_requester_ok",
                    serde_json::to_string(list).unwrap_or_default(),
                    "no value unless `requesters_per_tab` is above 1 (it is the 2xx reaction of requesters 2 to N; the tab itself keeps `on_ok`)",
                ));
            }
            for (i, r) in list.iter().enumerate() {
                let why = if *r == OkReaction::NextStageRefreshesWithOriginalToken {
                    Some("\"store-in-tab\", \"store-shared\" or \"store-in-cookie\" (a later render stage is a reaction of one requester's `on_ok`, not combined with several requesters)")
                } else if list[..i].contains(r) {
                    Some("each reaction at most once")
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(self.invalid(
                        &format!("browser.on_requester_ok[{i}]"),
                        serde_json::to_string(r).unwrap_or_default(),
                        why,
                    ));
                }
            }
        }
        if b.requesters_per_tab > 1 {
            let lists = [("on_refused", &b.on_refused), ("on_server_error", &b.on_server_error)];
            for (name, list) in lists {
                if let Some(i) = list.iter().position(|r| *r == Reaction::Retry) {
                    return Err(self.invalid(
                        &format!("browser.{name}[{i}]"),
                        "\"retry\"",
                        "a reaction other than \"retry\" with `requesters_per_tab` above 1 (the retry budget is the tab's); one of \"log-out\", \"keep-going\", \"clear-stored-token\", \"clear-cookie\", \"clear-shared-storage\", \"retry-with-stored-token\"",
                    ));
                }
            }
            let on_ok = b.on_ok.as_deref().unwrap_or(&[]);
            if let Some(i) = on_ok.iter().position(|r| *r == OkReaction::NextStageRefreshesWithOriginalToken) {
                return Err(self.invalid(
                    &format!("browser.on_ok[{i}]"),
                    "\"next-stage-refreshes-with-original-token\"",
                    "no later render stage with `requesters_per_tab` above 1 (the two are not combined: concurrent fetches of one page are requesters, a server render's later stage that reads the request's original cookie is this reaction with one requester)",
                ));
            }
        }
        if b.reloads_per_tab > 0 {
            let outside_tab =
                b.mode == AuthMode::Cookie || (b.mode == AuthMode::Json && b.json_storage == JsonStorage::Shared);
            if !outside_tab {
                return Err(self.invalid(
                    "browser.reloads_per_tab",
                    b.reloads_per_tab,
                    "0 unless `mode` is \"cookie\" or json with `json_storage` \"shared\" (a reload loses the tab's memory; the new page reads the token where it outlives the page)",
                ));
            }
        }
        Ok(())
    }

    /// Checks of the 2xx reactions and their listeners, beyond their types.
    fn validate_reactions(&self) -> Result<(), ScenarioError> {
        use crate::model::policy::{OkReaction, Reaction, WrittenListener};
        let b = &self.browser;
        if b.retry_limit > 2 {
            return Err(self.invalid("browser.retry_limit", b.retry_limit, "an integer from 0 to 2"));
        }
        let call_lists = b.on_call_refused.iter().chain(&b.on_call_server_error).flatten();
        let retries = b
            .on_refused
            .iter()
            .chain(&b.on_server_error)
            .chain(call_lists)
            .chain(b.on_aborted.iter().flatten())
            .chain(b.on_timeout.iter().flatten())
            .any(|r| matches!(r, Reaction::Retry | Reaction::RefreshAndRetry));
        if retries && b.retry_limit == 0 {
            return Err(self.invalid(
                "browser.retry_limit",
                0,
                "1 or 2 when a reaction is \"retry\" or \"refresh-and-retry\" (K, the retries each tab, or each call, may send)",
            ));
        }
        // Page script reads the refresh token again only where it keeps it itself: in cookie
        // and session mode it is an HttpOnly cookie (Directus `REFRESH_TOKEN_COOKIE_HTTPONLY`,
        // `SESSION_COOKIE_HTTPONLY`; RFC 6265 §5.2.6: not exposed to `document.cookie`), so a
        // comparison of the token sent with the token kept cannot be written.
        if b.mode != AuthMode::Json {
            let mode = if b.mode == AuthMode::Cookie { "cookie" } else { "session" };
            let lists = [
                ("on_refused", Some(&b.on_refused)),
                ("on_server_error", Some(&b.on_server_error)),
                ("on_requester_refused", b.on_requester_refused.as_ref()),
                ("on_requester_server_error", b.on_requester_server_error.as_ref()),
                ("on_aborted", b.on_aborted.as_ref()),
                ("on_timeout", b.on_timeout.as_ref()),
            ];
            for (name, list) in lists {
                let Some(i) = list.and_then(|l| l.iter().position(|r| *r == Reaction::IgnoreIfTokenChanged)) else {
                    continue;
                };
                return Err(self.invalid(
                    &format!("browser.{name}[{i}]"),
                    "\"ignore-if-token-changed\"",
                    &format!(
                        "a reaction page script can perform in {} mode: \"ignore-if-token-changed\" reads the refresh \
                         token where it is kept and compares it with the one sent, and in {} mode it is an HttpOnly \
                         cookie that script cannot read (json mode keeps it where script can; a call's lists, \
                         which compare access tokens, may use it in every mode; a cookie page script writes itself \
                         is not HttpOnly: write it as json mode with `json_storage` \"shared\", docs/protocol-language.md, \
                         \"A cookie written by page script\")",
                        mode, mode
                    ),
                ));
            }
        }
        if !b.on_call_ok.is_empty() && b.calls_per_tab == 0 {
            return Err(self.invalid(
                "browser.on_call_ok",
                "[\"store-echoed-access-token\"]",
                "no reaction to a call's 2xx without calls: set `calls_per_tab` (1 to 4), or leave `on_call_ok` out",
            ));
        }
        if b.on_call_ok.len() > 1 {
            return Err(self.invalid("browser.on_call_ok", b.on_call_ok.len(), "each reaction at most once"));
        }
        let on_ok = b.on_ok.as_deref().unwrap_or(&[]);
        let mut seen = vec![];
        for (i, r) in on_ok.iter().enumerate() {
            if seen.contains(r) {
                return Err(self.invalid(
                    &format!("browser.on_ok[{i}]"),
                    serde_json::to_string(r).unwrap_or_default(),
                    "each reaction at most once",
                ));
            }
            seen.push(*r);
        }
        if on_ok.contains(&OkReaction::NextStageRefreshesWithOriginalToken)
            && (b.mode != AuthMode::Cookie || !self.is_auth_server())
        {
            return Err(self.invalid(
                "browser.on_ok",
                "\"next-stage-refreshes-with-original-token\"",
                "a later render stage only with an `auth_server` or `protocol` and `mode` \"cookie\" (the stage reads the request's cookie)",
            ));
        }
        let own_copy_and_shared = on_ok.contains(&OkReaction::StoreShared) && on_ok.contains(&OkReaction::StoreInTab);
        if b.on_stored_token_written == WrittenListener::Adopt && !own_copy_and_shared {
            return Err(self.invalid(
                "browser.on_stored_token_written",
                "\"adopt\"",
                "\"ignore\" unless `on_ok` has both \"store-shared\" (the listener hears writes to the shared storage) and \"store-in-tab\" (each tab has its own copy to update; a tab that reads the shared storage directly has nothing to adopt)",
            ));
        }
        Ok(())
    }

    /// `time.refresh_token_ttl` and `time.session_cookie_ttl` are required only where the model
    /// reads them: a Directus (`server`) or `session_server` model reads the first at sign-in,
    /// and the second at sign-in in session mode or wherever a statement names it. Missing
    /// there: [`ScenarioError::Missing`], at the `time` section's line.
    /// Refuses a Directus-only `time` field written in a model that never reads it, rather
    /// than ignoring it: `session_refresh_grace_period` is read by a `server` model and by a
    /// `session_server` model whose statements read `grace_period`; `refresh_margin` only by
    /// the freshness check (`browser.freshness_check`, Directus PR 22464), which a `protocol`
    /// or `auth_server` model does not have. `doc` is the file as JSON (a field left out is
    /// not refused).
    fn refuse_unread_time_fields(&self, doc: Option<&serde_json::Value>) -> Result<(), ScenarioError> {
        let written = |f: &str| doc.and_then(|d| d.pointer(&format!("/time/{f}"))).map(|v| v.to_string());
        let kind = if self.auth_server.is_some() {
            "an `auth_server`"
        } else if self.protocol_spec.is_some() {
            "a `protocol`"
        } else if self.session_server.is_some() {
            "a `session_server`"
        } else {
            "a `server`"
        };
        if let Some(found) = written("session_refresh_grace_period") {
            let reads = match &self.session_server {
                Some(program) => program.reads_grace_period(),
                None => !self.is_auth_server(),
            };
            if !reads {
                let instead = if self.is_auth_server() {
                    "a grace window is a `refresh` rule, e.g. `presented.status == superseded and now <= \
                     presented.rotated_at + N` (or the `auth_server` preset's `grace`), with `reuse_interval` N"
                } else {
                    "a statement reads it as `grace_period`; write it only where one does"
                };
                return Err(self.invalid(
                    "time.session_refresh_grace_period",
                    found,
                    &format!(
                        "no such field in {kind} model: it is Directus's `SESSION_REFRESH_GRACE_PERIOD`, read by a \
                         `server` model and by `session_server` statements reading `grace_period`, and this model \
                         would ignore it ({instead})"
                    ),
                ));
            }
        }
        if let (Some(found), false) = (written("refresh_margin"), self.browser.freshness_check) {
            let instead = if self.is_auth_server() {
                "a tab that refreshes before a call whose token is about to expire is `browser.call_refresh_margin`"
            } else {
                "set `browser.freshness_check` true for that check, or leave the field out"
            };
            return Err(self.invalid(
                "time.refresh_margin",
                found,
                &format!(
                    "no such field in {kind} model without `browser.freshness_check`: it is the margin of Directus's \
                     freshness check (PR 22464, `msRefreshBeforeExpires`), read by nothing else, and this model would \
                     ignore it ({instead})"
                ),
            ));
        }
        Ok(())
    }

    fn require_read_ttls(&self, path: &Path, text: &str) -> Result<(), ScenarioError> {
        let Some(spec) = &self.session_server_spec else { return Ok(()) };
        let statements = serde_json::to_string(spec).unwrap_or_default();
        let missing = |field: &str, why: &str| ScenarioError::Missing {
            path: path.into(),
            at: location_of(text, "time"),
            field: format!("time.{field}"),
            expected: format!("an integer from 1 to 200 (ticks): {why}"),
        };
        if self.time.refresh_token_ttl.is_none() {
            return Err(missing("refresh_token_ttl", "the sign-in's session row expires at it"));
        }
        if self.time.session_cookie_ttl.is_none() {
            if self.browser.mode == AuthMode::Session {
                return Err(missing("session_cookie_ttl", "in session mode the sign-in's session JWT expires at it"));
            }
            if statements.contains("session_cookie_ttl") {
                return Err(missing("session_cookie_ttl", "a statement of the server reads it"));
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let in_range = |field: &str, v: u8, lo: u8, hi: u8| {
            if v < lo || v > hi {
                Err(self.invalid(field, v, &format!("an integer from {lo} to {hi}")))
            } else {
                Ok(())
            }
        };
        if self.name.trim().is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(self.invalid(
                "name",
                format!("{:?}", self.name),
                "a non-empty name of letters, digits, '-', '_' and '.' (it names trace files)",
            ));
        }
        if self.sources.is_empty() {
            return Err(self.invalid("sources", "an empty list", "at least one source for the modelled behaviour"));
        }
        self.validate_texts_and_network()?;
        in_range("browser.tabs", self.browser.tabs, 1, MAX_TABS)?;
        in_range("browser.refreshes_per_tab", self.browser.refreshes_per_tab, 0, MAX_PER_TAB)?;
        in_range("browser.requests_per_tab", self.browser.requests_per_tab, 0, MAX_PER_TAB)?;
        self.validate_calls()?;
        in_range("time.max_ticks", self.time.max_ticks, 0, MAX_TICKS)?;
        if let Some(ttl) = self.time.refresh_token_ttl {
            in_range("time.refresh_token_ttl", ttl, 1, 200)?;
        }
        if let Some(ttl) = self.time.session_cookie_ttl {
            in_range("time.session_cookie_ttl", ttl, 1, 200)?;
        }
        in_range("time.access_token_ttl", self.time.access_token_ttl, 1, 200)?;
        in_range("time.session_refresh_grace_period", self.time.session_refresh_grace_period, 1, 200)?;
        in_range("time.refresh_margin", self.time.refresh_margin, 0, 200)?;
        in_range("browser.sign_outs", self.browser.sign_outs, 0, 2)?;
        self.validate_sign_out_from()?;
        self.validate_re_sign_in_from()?;
        in_range("browser.retries_per_tab", self.browser.retries_per_tab, 0, 2)?;
        in_range("browser.lock_hangs", self.browser.lock_hangs, 0, 1)?;
        self.validate_requesters()?;
        self.validate_tab_settings()?;
        self.validate_refresh_triggers()?;
        self.validate_sign_out_lock()?;
        self.validate_sign_out_request()?;
        self.validate_aborts()?;
        self.validate_crashes()?;
        self.validate_timeouts()?;
        self.validate_reads_token()?;
        self.validate_store_wait()?;
        self.validate_lock_wait()?;
        if self.browser.ssr_paths > 0 {
            in_range("browser.ssr_paths", self.browser.ssr_paths, 0, self.browser.tabs.saturating_sub(1))?;
            if self.browser.mode != AuthMode::Cookie {
                return Err(self.invalid(
                    "browser.mode",
                    format!("{:?}", self.browser.mode).to_lowercase(),
                    "\"cookie\" when `ssr_paths` is set (a render path carries the cookie)",
                ));
            }
        }
        // Named by the lock option written (the coordination may be absent: no line to point at).
        let lock_option = [
            ("browser.lock_hangs", self.browser.lock_hangs > 0, self.browser.lock_hangs.to_string(), "0"),
            ("browser.lock_steal", self.browser.lock_steal, "true".to_string(), "false"),
            ("browser.read_before_lock", self.browser.read_before_lock, "true".to_string(), "false"),
        ]
        .into_iter()
        .find(|(_, on, _, _)| *on);
        if let Some((field, _, found, off)) = lock_option {
            if self.browser.coordination != Coordination::WebLocks {
                let coordination = serde_json::to_string(&self.browser.coordination).unwrap_or_default();
                let coordination = coordination.trim_matches('"');
                return Err(self.invalid(
                    field,
                    found,
                    &format!(
                        "{off} unless `browser.coordination` is \"web-locks\" (a Web Lock's option; the model's \
                         coordination is \"{coordination}\"{})",
                        if coordination == "none" { ", the default when the field is absent" } else { "" }
                    ),
                ));
            }
        }
        self.validate_lock_granted()?;
        in_range("browser.leader_closes", self.browser.leader_closes, 0, 1)?;
        in_range("browser.follower_timeout", self.browser.follower_timeout, 0, 3)?;
        in_range("browser.max_wait_steps", self.browser.max_wait_steps, 0, 3)?;
        let leader_options = self.browser.leader_election != LeaderElection::Single
            || self.browser.leader_closes > 0
            || self.browser.follower_timeout > 0;
        if leader_options && self.browser.coordination != Coordination::BroadcastLeader {
            return Err(self.invalid(
                "browser.coordination",
                format!("{:?}", self.browser.coordination).to_lowercase(),
                "\"broadcast-leader\" when `leader_election`, `leader_closes` or `follower_timeout` is set",
            ));
        }
        if self.browser.coordination == Coordination::BroadcastLeader {
            // The leader posts the refresh token it got: something only a client that keeps the
            // token in its own storage needs (a shared cookie jar already has it), and each tab
            // holds one login's token (oidc-client-ts, AxaFrance/oidc-client).
            if !self.is_auth_server() || self.browser.mode != AuthMode::Json {
                return Err(self.invalid(
                    "browser.coordination",
                    "\"broadcast-leader\"",
                    "\"broadcast-leader\" only with an `auth_server` and `mode` \"json\" (the leader posts the refresh token to tabs that keep their own copy)",
                ));
            }
            if self.browser.logins == Logins::PerTab {
                return Err(self.invalid(
                    "browser.logins",
                    "\"per-tab\" with `broadcast-leader`",
                    "\"per-device\" with a broadcast leader (followers take the leader's token, one login)",
                ));
            }
            if self.browser.leader_election == LeaderElection::Visibility && self.browser.follower_timeout > 0 {
                return Err(self.invalid(
                    "browser.follower_timeout",
                    self.browser.follower_timeout,
                    "0 with `leader_election` \"visibility\" (every tab leads, none follows)",
                ));
            }
        }
        if self.browser.retries_per_tab > 0 {
            // The Directus server keys a request in progress by its tab, and Directus's app does
            // not retry; the authorization server serves a retry beside its first attempt.
            if !self.is_auth_server() {
                return Err(self.invalid(
                    "browser.retries_per_tab",
                    self.browser.retries_per_tab,
                    "0 in a Directus model (Directus's app does not retry; retries are modelled against an `auth_server`)",
                ));
            }
        }
        if self.browser.retry_timeout == crate::model::policy::RetryTimeout::AFTER_LOSS {
            let refresh_never_lost = matches!(&self.lossy, Lossy::Faults(f)
                if f.endpoints.as_ref().is_some_and(|e| !e.contains(&LossEndpoint::Refresh)));
            let why = if self.browser.retries_per_tab == 0 {
                Some("\"any-moment\" (the default) unless `retries_per_tab` is above 0: it says when a tab's retry is sent")
            } else if !self.lossy.is_lossy() || refresh_never_lost {
                Some("\"any-moment\" (the default) unless the network may lose a refresh's request or answer (`lossy`, its `endpoints` naming \"refresh\"): \"after-loss\" retries only after such a loss, which never happens here")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(self.invalid("browser.retry_timeout", "\"after-loss\"", why));
            }
        }
        if let crate::model::policy::RetryTimeout::Ticks(n) = self.browser.retry_timeout {
            use crate::model::policy::MAX_RETRY_TIMEOUT_TICKS;
            let field = "browser.retry_timeout";
            if !(1..=MAX_RETRY_TIMEOUT_TICKS).contains(&n) {
                return Err(self.invalid(
                    field,
                    n,
                    &format!("a number of ticks from 1 to {MAX_RETRY_TIMEOUT_TICKS} (a timeout of 0 ticks is no timeout: write \"any-moment\" for a retry at any moment)"),
                ));
            }
            if self.browser.retries_per_tab == 0 {
                return Err(self.invalid(
                    field,
                    n,
                    "\"any-moment\" (the default) unless `retries_per_tab` is above 0: it says when a tab's retry is sent",
                ));
            }
            if n > i64::from(self.time.max_ticks) {
                return Err(self.invalid(
                    field,
                    n,
                    &format!(
                        "at most `time.max_ticks` ({}): the browser's clock never advances further, so the retry could never be sent",
                        self.time.max_ticks
                    ),
                ));
            }
        }
        if let Lossy::Faults(f) = &self.lossy {
            if let Some(n) = f.max_losses {
                if !(1..=i64::from(MAX_LOSSES)).contains(&n) {
                    return Err(self.invalid("lossy.max_losses", n, &format!("an integer from 1 to {MAX_LOSSES}")));
                }
            }
            let endpoints = f.endpoints.as_deref().unwrap_or(&[]);
            if f.endpoints.as_ref().is_some_and(|e| e.is_empty()) {
                return Err(self.invalid(
                    "lossy.endpoints",
                    "[]",
                    "at least one of \"refresh\", \"call\", \"sign-out\" (leave the field out for every endpoint; `lossy: false` for no loss)",
                ));
            }
            if let Some(i) = (1..endpoints.len()).find(|&i| endpoints[..i].contains(&endpoints[i])) {
                return Err(self.invalid(
                    &format!("lossy.endpoints[{i}]"),
                    serde_json::to_string(&endpoints[i]).unwrap_or_default(),
                    "each endpoint once (\"refresh\", \"call\", \"sign-out\")",
                ));
            }
        }
        if self.lossy.is_lossy() && self.browser.coordination != Coordination::None {
            // A lost request or answer leaves the lock holder or leader waiting for ever, which
            // the properties cannot tell from a hang; `lock_hangs` and `leader_closes` model that.
            return Err(self.invalid(
                "lossy",
                serde_json::to_string(&self.lossy).unwrap_or_default(),
                "false with a `coordination` (a lost message would leave the lock holder or leader waiting for ever: a timeout that releases the lock, as a fetch with `AbortSignal.timeout` inside `navigator.locks.request` does, is not modelled with a loss; write a holder that never answers as `lock_hangs` (or `leader_closes`), the lock with a timeout and no loss as `retries_per_tab` with `retry_timeout` N, and a lost answer with the timeout that follows as `coordination` \"none\" with `lossy`, `retries_per_tab` and `retry_timeout` \"after-loss\")",
            ));
        }
        if self.browser.logins == Logins::PerTab
            && (!self.is_auth_server()
                || self.browser.mode != AuthMode::Json
                || self.browser.json_storage != JsonStorage::PerTab)
        {
            return Err(self.invalid(
                "browser.logins",
                "\"per-tab\"",
                "\"per-device\", or \"per-tab\" with an `auth_server`, `mode` \"json\" and `json_storage` \"per-tab\" (each tab keeps its own login's token)",
            ));
        }
        if self.is_auth_server() {
            in_range("browser.devices", self.browser.devices, 1, 3)?;
            let sign_ins = u16::from(self.browser.devices) * u16::from(self.browser.tabs);
            if self.browser.logins == Logins::PerTab && sign_ins > 8 {
                // The server's ghost records keep one bit per family.
                return Err(self.invalid(
                    "browser.logins",
                    format!("\"per-tab\" with {sign_ins} sign-ins (devices x tabs)"),
                    "at most 8 sign-ins in all (one family each)",
                ));
            }
            if let Some(p) = &self.auth_server {
                self.validate_preset(p)?;
            }
            if let Some(a) = &self.attacker {
                if a.modes.contains(&AuthMode::Session) {
                    return Err(self.invalid(
                        "attacker.modes",
                        "\"session\"",
                        "\"json\" or \"cookie\" with an `auth_server` (it has no session mode)",
                    ));
                }
            }
            if self.browser.mode == AuthMode::Session {
                return Err(self.invalid(
                    "browser.mode",
                    "\"session\"",
                    "\"json\" or \"cookie\" with an `auth_server` (an OAuth refresh token travels in the body or a cookie)",
                ));
            }
        } else if self.browser.devices != 1 {
            return Err(self.invalid("browser.devices", self.browser.devices, "1 (a Directus model has one browser)"));
        }
        let b = &self.browser;
        let call_lists = [
            ("browser.on_call_refused", &b.on_call_refused),
            ("browser.on_call_server_error", &b.on_call_server_error),
        ];
        let requester_lists = [
            ("browser.on_requester_refused", &b.on_requester_refused),
            ("browser.on_requester_server_error", &b.on_requester_server_error),
        ];
        let call_lists = call_lists
            .into_iter()
            .chain(requester_lists)
            .chain([("browser.on_aborted", &b.on_aborted), ("browser.on_timeout", &b.on_timeout)])
            .filter_map(|(f, l)| l.as_ref().map(|l| (f, l)));
        for (field, list) in [("browser.on_refused", &b.on_refused), ("browser.on_server_error", &b.on_server_error)]
            .into_iter()
            .chain(call_lists)
        {
            let ends = |r: &Reaction| matches!(r, Reaction::LogOut | Reaction::KeepGoing);
            if list.len() > 4 || !list.last().is_some_and(ends) || list[..list.len().saturating_sub(1)].iter().any(ends)
            {
                return Err(self.invalid(
                    field,
                    serde_json::to_string(list).unwrap_or_default(),
                    "at most 4 reactions ending with \"log-out\" or \"keep-going\" (and neither before the end)",
                ));
            }
        }
        self.validate_reactions()?;
        self.validate_sign_out_notice()?;
        if let Some(k) = self.time.max_in_flight_ticks {
            // With `lossy`, a lost message leaves the history of messages in flight
            // ([`crate::model::faults`]): it does not hold the clock back.
            in_range("time.max_in_flight_ticks", k, 0, MAX_TICKS)?;
        }
        if let Some(l) = self.time.session_lifetime {
            in_range("time.session_lifetime", l, 1, 200)?;
        }
        if let Some(a) = &self.attacker {
            in_range("attacker.attempts", a.attempts, 1, 3)?;
            if a.modes.is_empty() {
                return Err(self.invalid(
                    "attacker.modes",
                    "an empty list",
                    "at least one of \"json\", \"cookie\", \"session\"",
                ));
            }
        }
        for (name, verdict) in &self.expect {
            let field = format!("expect.{name}");
            let Some(p) = properties::by_name(name) else {
                let known: Vec<_> = properties::ALL.iter().map(|p| p.name).collect();
                let hint = crate::protocol::expr::did_you_mean(name, known.iter().copied())
                    .map_or(String::new(), |c| format!(" (did you mean `{c}`?)"));
                return Err(self.invalid(
                    &field,
                    format!("{name:?}{hint}"),
                    &format!("one of the properties {}", known.join(", ")),
                ));
            };
            let ok = match p.kind {
                Kind::Always => matches!(verdict, Verdict::Holds | Verdict::Violated),
                Kind::Sometimes => matches!(verdict, Verdict::Reached | Verdict::Unreached),
            };
            if !ok {
                let expected = match p.kind {
                    Kind::Always => "\"holds\" or \"violated\" (an always property)",
                    Kind::Sometimes => "\"reached\" or \"unreached\" (a sometimes property)",
                };
                return Err(self.invalid(&field, format!("{verdict:?}").to_lowercase(), expected));
            }
        }
        self.validate_fields_that_need_another()
    }

    /// Settings that cannot matter without another field, refused with what they need (as
    /// `on_requester_ok` without `requesters_per_tab`): `json_storage` outside json mode,
    /// `retry_limit` without a `retry` or `refresh-and-retry` reaction, `max_wait_steps`
    /// without a lock or a leader to wait for, and `time.max_in_flight_ticks` or
    /// `time.session_lifetime` with a clock that never runs (`max_ticks` 0).
    fn validate_fields_that_need_another(&self) -> Result<(), ScenarioError> {
        let (b, t) = (&self.browser, &self.time);
        if b.mode != AuthMode::Json && b.json_storage != JsonStorage::PerTab {
            return Err(self.invalid(
                "browser.json_storage",
                serde_json::to_string(&b.json_storage).unwrap_or_default(),
                "no value unless `mode` is \"json\" (it says where a json-mode app keeps the refresh token; in cookie and session mode the jar holds it)",
            ));
        }
        let lists = [
            &b.on_refused,
            &b.on_server_error,
            b.on_requester_refused.as_ref().unwrap_or(&b.on_refused),
            b.on_requester_server_error.as_ref().unwrap_or(&b.on_server_error),
            b.on_call_refused.as_ref().unwrap_or(&b.on_refused),
            b.on_call_server_error.as_ref().unwrap_or(&b.on_server_error),
            b.on_aborted.as_ref().unwrap_or(&b.on_server_error),
            b.on_timeout.as_ref().unwrap_or(&b.on_server_error),
        ];
        let retries = lists.iter().any(|l| l.iter().any(|r| matches!(r, Reaction::Retry | Reaction::RefreshAndRetry)));
        if b.retry_limit > 0 && !retries {
            return Err(self.invalid(
                "browser.retry_limit",
                b.retry_limit,
                "0 (the default) unless a reaction list has \"retry\" or \"refresh-and-retry\" (it bounds those retries)",
            ));
        }
        if b.coordination == Coordination::None && b.max_wait_steps != default_max_wait_steps() {
            return Err(self.invalid(
                "browser.max_wait_steps",
                b.max_wait_steps,
                "the default (2) unless `coordination` is \"web-locks\", \"local-storage\" or \"broadcast-leader\" (it bounds a wait for a lock or a leader's broadcast, and without coordination no tab waits)",
            ));
        }
        if t.max_ticks == 0 {
            for (field, value) in
                [("time.max_in_flight_ticks", t.max_in_flight_ticks), ("time.session_lifetime", t.session_lifetime)]
            {
                if let Some(v) = value {
                    return Err(self.invalid(
                        field,
                        v,
                        "no value unless `time.max_ticks` is above 0 (with `max_ticks` 0 the clock never runs, so no delay or lifetime counts)",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"name":"m","description":"d","sources":["s"],
        "server":{"session_refresh":"rotate"},"browser":{"tabs":2,"refreshes_per_tab":1},
        "time":{"refresh_token_ttl":7,"session_cookie_ttl":4}}"#;

    /// A section's field written at the top level says which section it belongs to.
    #[test]
    fn a_sections_field_at_the_top_level_names_its_section() {
        let text = GOOD.replacen('{', "{\"max_in_flight_ticks\":1,", 1);
        let e = Scenario::parse(Path::new("m.json"), &text).unwrap_err().to_string();
        assert!(e.contains("unknown field `max_in_flight_ticks`") && e.contains("it is a field of `time`"), "{e}");
        let hint = nearest_name_hint("unknown variant `logout`, expected one of `log-out`, `keep-going`, `retry`");
        assert_eq!(hint.as_deref(), Some("did you mean `log-out`?"));
        assert_eq!(nearest_name_hint("unknown variant `zzz`, expected one of `log-out`, `retry`"), None);
        let text = GOOD.replacen('{', "{\"no_such_field\":1,", 1);
        let e = Scenario::parse(Path::new("m.json"), &text).unwrap_err().to_string();
        assert!(!e.contains("it is a field of"), "{e}");
    }

    #[test]
    fn a_number_or_boolean_where_a_named_value_is_expected_names_the_values() {
        for bad in ["5", "true", "null"] {
            let text = GOOD.replace("\"session_refresh\":\"rotate\"", &format!("\"session_refresh\":{bad}"));
            let e = Scenario::parse(Path::new("m.json"), &text).unwrap_err().to_string();
            let want = format!(
                "field `server.session_refresh`: found {bad}, expected one of `rotate`, `stable-id`, `grace-window`"
            );
            assert!(e.contains(&want), "{e}");
        }
    }

    #[test]
    fn a_minimal_file_loads_with_defaults() {
        let sc = Scenario::parse(Path::new("m.json"), GOOD).unwrap();
        assert_eq!(sc.server.steps, ServerSteps::Split);
        assert_eq!(sc.network, NetworkKind::UnorderedNonduplicating);
        assert_eq!(sc.browser.requests_per_tab, 0);
    }

    #[test]
    fn unknown_field_names_file_field_and_position() {
        let text = GOOD.replace("\"tabs\":2", "\"tabs\":2,\"tab\":3");
        let e = Scenario::parse(Path::new("m.json"), &text).unwrap_err().to_string();
        assert!(e.starts_with("m.json:2:"), "{e}");
        assert!(e.contains("field `browser.tab`") && e.contains("unknown field `tab`"), "{e}");
    }

    #[test]
    fn out_of_range_tabs_is_rejected_with_the_range() {
        let text = GOOD.replace("\"tabs\":2", "\"tabs\":0");
        let e = Scenario::parse(Path::new("m.json"), &text).unwrap_err().to_string();
        assert_eq!(e, "m.json:2:58: field `browser.tabs`: found 0, expected an integer from 1 to 6");
    }

    #[test]
    fn directus_knobs_load_and_an_attacker_needs_a_mode() {
        let text = GOOD.replace(
            "\"session_refresh\":\"rotate\"",
            "\"session_refresh\":\"grace-window\",\"mode_bound\":true,\"store\":\"one-connection\"",
        );
        let text = text.replace(
            "\"refreshes_per_tab\":1",
            "\"refreshes_per_tab\":1,\"mode\":\"json\",\"json_storage\":\"shared\",\"coordination\":\"web-locks\"",
        );
        let sc = Scenario::parse(Path::new("m.json"), &text).unwrap();
        assert_eq!(sc.server.session_refresh, SessionRefresh::GraceWindow);
        assert!(sc.server.mode_bound && sc.server.store == StoreConcurrency::OneConnection);
        assert_eq!((sc.browser.mode, sc.browser.json_storage), (AuthMode::Json, JsonStorage::Shared));
        assert_eq!(sc.browser.coordination, Coordination::WebLocks);
        assert_eq!((sc.time.session_refresh_grace_period, sc.time.refresh_margin), (1, 1));
        let bad = GOOD.replace("\"time\"", "\"attacker\":{\"attempts\":1,\"modes\":[]},\"time\"");
        let e = Scenario::parse(Path::new("m.json"), &bad).unwrap_err().to_string();
        assert!(e.contains("field `attacker.modes`: found an empty list"), "{e}");
        let bad = GOOD.replace("\"session_refresh\":\"rotate\"", "\"session_refresh\":\"grace\"");
        let e = Scenario::parse(Path::new("m.json"), &bad).unwrap_err().to_string();
        assert!(e.contains("server.session_refresh") && e.contains("grace-window"), "{e}");
    }

    #[test]
    fn wrong_verdict_kind_is_rejected() {
        let text = GOOD.replace("\"time\"", "\"expect\":{\"refresh_succeeds\":\"holds\"},\"time\"");
        let e = Scenario::parse(Path::new("m.json"), &text).unwrap_err().to_string();
        assert!(e.contains("expect.refresh_succeeds") && e.contains("a sometimes property"), "{e}");
    }
}
