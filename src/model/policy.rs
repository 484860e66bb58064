//! Server and client policies, as data.
//!
//! Every protocol choice a model file can make is one variant here, and each variant says where
//! the behaviour comes from. The Directus preset ([`crate::protocol::directus`]) expands the
//! server's values into the `session_server` language; the step functions in
//! [`super::browser`] match on the client's. The OAuth authorization server's
//! policies (`industry-policies.md` P1–P8) are data in [`super::oauth`], beside its step
//! functions.
//!
//! Sources:
//! - Directus `api/src/services/authentication.ts`, `@directus/api` 18.2.1 (directus 10.10.4):
//!   `refresh()` renames the session row in place (steps R1, W1).
//! - `@directus/api` 19.1.1 (directus 10.11.1, PR 22503): `updateStatefulSession`, the
//!   `next_token` grace window (G0–G3, W3); same logic through 39.2.1 (directus 12.4.1).
//! - Directus pull request 22433 ("Fix race condition for concurrent /auth/refresh calls"):
//!   keep the session id in session mode; its review proposes a `type` column (mode binding).
//! - Directus pull request 22457 (closed): a cross-tab mutex around the app's refresh.
//! - `shared/research/directus-protocol.md` §1.4, §1.5, §3.3 and §6.

use serde::{Deserialize, Serialize};

/// The three Directus auth modes (`api/src/controllers/auth.ts`, all versions): how the refresh
/// token travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// `{"mode":"json","refresh_token":T}` in the body; the response body carries the new
    /// refresh token and an access token (`ACCESS_TOKEN_TTL`). The client keeps it in its own
    /// storage.
    Json,
    /// The opaque refresh token in the `directus_refresh_token` cookie; the response sets the
    /// new one and returns an access token in the body.
    Cookie,
    /// The `directus_session_token` cookie holds a JWT whose `session` claim is the token; the
    /// response sets a new JWT cookie (`SESSION_COOKIE_TTL`).
    Session,
}

/// What `POST /auth/refresh` in session mode does to the session row once R1 found it. json and
/// cookie mode always do the plain rename W1, in every version (E5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SessionRefresh {
    /// Directus 10.10.x (`@directus/api` 18.2.1, `authentication.ts` `refresh()` step 11):
    /// W1 `UPDATE directus_sessions SET token = T', expires = now + REFRESH_TOKEN_TTL
    /// WHERE token = T`; the affected-row count is ignored and the new cookie wraps T'.
    Rotate,
    /// The proposal of Directus PR 22433: "Don't refresh the session identifying token when
    /// using session mode". The write only extends the row
    /// (`UPDATE directus_sessions SET expires = now + REFRESH_TOKEN_TTL WHERE token = T`) and the
    /// new JWT wraps the same T.
    StableId,
    /// Directus 10.11.1+ (PR 22503, `@directus/api` 19.1.1 `updateStatefulSession`): if the
    /// row already has a `next_token`, G0 extends that successor and returns it; otherwise G1
    /// `UPDATE … SET next_token = T', expires = now + SESSION_REFRESH_GRACE_PERIOD WHERE token
    /// = T AND next_token IS NULL`; 1 row: G3 inserts T' (`expires = now +
    /// SESSION_COOKIE_TTL`); 0 rows: G2 re-reads `next_token` and returns the winner's. Every
    /// refresh then purges the user's expired rows (W3).
    GraceWindow,
}

impl SessionRefresh {
    /// Whether a refresh ends with W3, `DELETE FROM directus_sessions WHERE user = U AND
    /// expires < now` (added with the grace window in `@directus/api` 19.1.1, all modes; the
    /// preset [`crate::protocol::directus`] writes it).
    pub fn purges_expired(self) -> bool {
        self == SessionRefresh::GraceWindow
    }
}

/// How the server's statements for one request are scheduled against other requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ServerSteps {
    /// Each SQL statement is one atomic step; any other request's statement may run between two
    /// of them. This is what Directus does: every statement is an `await` with no transaction
    /// and no row lock (`directus-protocol.md` §1.4).
    Split,
    /// The whole handler runs as one atomic step at the store, as if it were a serialisable
    /// transaction. Not what Directus ships; offered so a designer can see what atomicity buys.
    Atomic,
}

/// How the database runs statements from different requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StoreConcurrency {
    /// PostgreSQL or MySQL behind knex's connection pool: statements of different requests run
    /// in any order, whatever order they were issued in. The default.
    #[default]
    Pool,
    /// SQLite (knex pool of one connection): statements run one at a time in the order the API
    /// process issued them. Each statement carries its issue number and the store runs only the
    /// next one.
    OneConnection,
}

/// The server's policy: one value per model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerPolicy {
    /// What a session-mode refresh writes.
    pub session_refresh: SessionRefresh,
    /// Split or atomic handlers.
    pub steps: ServerSteps,
    /// Whether every request (refresh and logout included: it is middleware) first checks that
    /// the session JWT's row exists and is unexpired. `false` is Directus ≤ 10.11.0
    /// (`get-accountability-for-token.ts` verifies the JWT only); `true` is PR 22353 (10.11.1+,
    /// `verifySessionJWT`).
    pub per_request_check: bool,
    /// The reviewers' proposal on PR 22433: a `type` column on `directus_sessions`; a token is
    /// redeemable only in the mode it was issued for (R1 finding a row of another type answers
    /// 401 `INVALID_CREDENTIALS`). Never shipped (no such migration up to 12.4.1).
    pub mode_bound: bool,
    /// Pool or one connection.
    pub store: StoreConcurrency,
}

/// What a tab that queued for the Web Lock does once it is granted it
/// (`browser.lock_granted`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LockGranted {
    /// It refreshes with the token stored now (Directus PR 22457). The default.
    #[default]
    Refresh,
    /// Double-checked locking: when it queues, the tab remembers the refresh token it would
    /// have presented then (where the mode keeps it: the jar, the shared storage, its view of
    /// lagging storage, or its own copy that a `storage` listener updates); once granted, if the token stored there now is another one (and
    /// not none), another tab refreshed while it waited: it takes over the stored token, sends
    /// no refresh, is idle again and releases the lock to the next waiter, who checks in turn.
    /// Otherwise it refreshes. damienbod/angular-auth-oidc-client PR 2237
    /// (`refresh-session-refresh-token.service.ts`, `useRefreshTokenLock`: the access token
    /// read before `navigator.locks.request`, compared once granted); supabase-js
    /// `_callRefreshToken` re-reading the session inside `_acquireLock`; auth0-spa-js
    /// `getTokenSilently` reading the cache again inside the lock.
    SkipIfTokenChanged,
    /// Expiry-based re-check: every tab that takes the lock (at once, or granted it after
    /// waiting) first reads the session stored in the shared storage (which must hold the
    /// whole session: [`StorageHolds::Session`]) and, if its access token's `exp` is not
    /// within `browser.lock_recheck_margin` ticks of the browser's clock (`exp >= now + N`),
    /// takes that session over (refresh token, access token, expiry), sends no refresh, is
    /// idle again and releases the lock to the next waiter, who checks in turn. Otherwise it
    /// refreshes with the stored refresh token. auth0/auth0-spa-js `src/Auth0Client.ts`
    /// `_getTokenSilently` (v2.15.0, PR 1530: `runWithLock` on the Web Locks API, the cache
    /// read again inside the lock with `_getEntryFromCache`, 60 s leeway); supabase/auth-js
    /// `GoTrueClient` `_autoRefreshTokenTick` and `_recoverAndRefresh` under `_acquireLock`
    /// (PR 764: "all windows will check the session, but only one will refresh").
    SkipIfStoredSessionFresh,
}

/// When a tab reads the refresh token its refresh presents (`browser.reads_token`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReadsToken {
    /// In the step that sends the refresh: what is stored then is what the request carries.
    /// The default.
    #[default]
    AtSend,
    /// In a step of its own, before the send (`TabReadsToken`): the tab reads the token where
    /// its mode keeps it (and, with Web Locks, takes the lock or is granted it first), then
    /// awaits something else (server metadata, a client id), and sends the token it read in a
    /// later step (`TabSendsRefresh`), whatever is stored by then; any other step may run in
    /// between. matrix-org/matrix-rust-sdk `refresh_access_token` before PR 6860 (fd8fc22cc):
    /// the refresh token captured from `session_tokens()`, then `server_metadata().await`,
    /// then the exchange of the captured token.
    BeforeSend,
}

impl ReadsToken {
    /// Whether it is the default, [`ReadsToken::AtSend`] (the model file leaves it out).
    pub fn is_default(&self) -> bool {
        *self == ReadsToken::AtSend
    }
}

/// How a client stores a refresh's 2xx (`browser.ok_writes`): in one write, or as two
/// storage writes with a step between them, where the client's process may die
/// (`browser.crashes_per_tab`; [`super::browser::crash`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OkWrites {
    /// The new tokens are stored in the step that takes the answer (`on_ok`). The default.
    #[default]
    One,
    /// The access token is written in the step that takes the answer, the refresh token
    /// (`on_ok`'s store reactions) in a later step of its own (`TabFinishesStoring`). D00mch/souz
    /// `CodexOAuthService.parseAndStoreTokens` before PR 711: `codexAccessToken`, then
    /// `codexRefreshToken`, each a separate `configStore.put`.
    AccessThenRefresh,
    /// The refresh token (`on_ok`'s store reactions) is written in the step that takes the
    /// answer, the access token in a later step: a crash between them leaves the new refresh
    /// token stored.
    RefreshThenAccess,
}

impl OkWrites {
    /// Whether it is the default, [`OkWrites::One`] (the model file leaves it out).
    pub fn is_default(&self) -> bool {
        *self == OkWrites::One
    }
}

/// What the shared `localStorage` entry of json mode holds (`browser.shared_storage_holds`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StorageHolds {
    /// The refresh token only; each tab keeps its own access token and expiry in memory. The
    /// default.
    #[default]
    RefreshToken,
    /// The whole session: the refresh token, the access token and its expiry, written
    /// together by `store-shared` (supabase-js `storage` under `storageKey`, auth0-spa-js
    /// `cacheLocation: "localstorage"` cache entries, oidc-client-ts `WebStorageStateStore`
    /// user). A tab reads the stored access token and expiry whenever the library reads its
    /// session: when it starts or re-sends an ordinary call, when a refresh it waited for is
    /// over, and when it skips a refresh at the lock.
    Session,
}

/// How the tabs of one browser coordinate their refreshes (the app's `refresh()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Coordination {
    /// Directus as shipped (10.10.x–12.4.x): each tab refreshes on its own. The default.
    #[default]
    None,
    /// PR 22457 with `navigator.locks.request('directus-mutex-auth_refresh', cb)`: an atomic
    /// cross-tab lock granted in request order; a waiting tab refreshes once the holder has
    /// released it, with the jar's newest cookie.
    WebLocks,
    /// PR 22457's localStorage fallback (`app/src/composables/use-mutex.ts`): read the key; if
    /// free, set it (a second, separate step), refresh, remove it. Two tabs can both read the key
    /// free before either sets it. The lock's expiry (5 s) and the retry limit (10 polls) are
    /// left out: a tab that finds the key set polls again later.
    LocalStorage,
    /// A leader tab refreshes and broadcasts the new token to the other tabs over a
    /// `BroadcastChannel`; the other tabs (followers) do not refresh, they wait for the
    /// leader's message, which reaches each of them after its own delay. authts/oidc-client-ts
    /// issue 430 (rotation makes concurrent tab refreshes fail) and PR 434 (leader election
    /// with the `broadcast-channel` package); AxaFrance/oidc-client issue 1039 (the visible tab
    /// renews, hidden tabs wait for `TOKEN_UPDATED_BY_ANOTHER_TAB`). Who leads is
    /// [`LeaderElection`]; a leader that is closed or frozen mid-refresh never broadcasts
    /// (`browser.leader_closes`, `industry-policies.md` §1.4), and a follower may give up
    /// waiting and refresh itself (`browser.follower_timeout`).
    BroadcastLeader,
}

/// How the tabs of a browser with [`Coordination::BroadcastLeader`] decide who leads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LeaderElection {
    /// One leader per browser, elected before any refresh (the `broadcast-channel` package's
    /// `createLeaderElection`, authts/oidc-client-ts PR 434): tab A leads, every other tab
    /// follows. The default.
    #[default]
    Single,
    /// Every visible tab considers itself the leader (AxaFrance/oidc-client issue 1039: the
    /// renewal runs in a tab whose `document.hidden` is false; with two windows side by side,
    /// or on two monitors, both are visible and both renew). The model's tabs are all
    /// visible, so every tab leads and broadcasts.
    Visibility,
}

/// Where a json-mode client keeps its refresh token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JsonStorage {
    /// The SDK's default in-memory storage (`sdk/src/auth/composable.ts`): each tab or client
    /// has its own copy.
    #[default]
    PerTab,
    /// One `localStorage` entry shared by every tab of the browser (a custom SDK storage).
    Shared,
    /// One `localStorage` entry, but a write reaches the other tabs only after a delay of any
    /// length: each tab reads its own view, which a later step brings up to date (Safari 14.1,
    /// WebKit bug 225344, auth0/auth0-spa-js issue 755; `industry-policies.md` C17).
    SharedLagging,
}

/// What the user's sign-in again on a signed-in device (`browser.re_sign_ins`) is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReSignIn {
    /// The user signs in again (a new login on the device). The default.
    #[default]
    SignIn,
    /// The user changes the password on this device: the server answers the change with a new
    /// session for this device (its `sign_in` handler), and every token issued before the
    /// change should be refused after it (OWASP Session Management Cheat Sheet, "renew the
    /// session after any privilege level change"; RFC 9700 §4.14). Judged by
    /// `password_change_revokes_all`; traces word the step "the user changes the password on
    /// this device".
    PasswordChange,
}

/// How the tabs of one browser signed in to an authorization server (authorization-server
/// models only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Logins {
    /// One sign-in per browser: every tab starts with the same refresh token. The default.
    #[default]
    PerDevice,
    /// Each tab did its own authorization-code login into the browser's one SSO session, so
    /// each holds the first token of its own login chain, and the chains share the client
    /// session (keycloak/keycloak issues 16081 and 14122: two tabs of one app, each with
    /// keycloak-js and its own tokens; `industry-policies.md` C08). json mode with per-tab
    /// storage only.
    PerTab,
}

/// One thing a tab does with a refresh answered with an error, in the order the model file
/// lists them (`browser.on_refused` for 4xx, `browser.on_server_error` for 5xx).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reaction {
    /// The tab is logged out (the app's default for a failed refresh: Directus `app/src/auth.ts`
    /// `logout({ reason: SESSION_EXPIRED })`; oidc-client-ts `signinSilent` errors). Ends the
    /// list.
    LogOut,
    /// The client clears where it keeps the refresh token: the jar's cookie (cookie and session
    /// mode: a 401 whose `Set-Cookie` clears the auth cookies, opendefender/OpenRisk issue
    /// 700), the shared `localStorage` entry, or the tab's own copy (json mode). Every tab
    /// that reads it from there holds nothing after. The list goes on.
    ClearStoredToken,
    /// The client reads the token where it keeps it again and, if it differs from the one the
    /// failed refresh sent (another tab stored a newer one meanwhile), sends the refresh again
    /// with it (supabase/auth-js `_callRefreshToken` re-reading storage; axios-auth-refresh
    /// interceptors); the list ends there. Otherwise the list goes on.
    RetryWithStoredToken,
    /// The client reads the token where it keeps it again and, if it is some token other than
    /// the one the failed request sent (its stored session changed since it was sent: another
    /// tab refreshed, or the user signed in again), drops the refusal: the tab stays signed
    /// in and idle with the stored token, and the list ends there. Otherwise (the same token,
    /// or none) the list goes on. Nothing is sent. umbraco/Umbraco-CMS PR 23811
    /// (`auth.context.ts` `#performRefresh`: a rejection is applied only if the session in
    /// hand is still the one the refresh was started for; issue 23536).
    IgnoreIfTokenChanged,
    /// The client waits a bounded time for the stored token to change (`browser.token_change_wait`,
    /// N ticks of the browser's clock), reading where it keeps the token at once and again at
    /// any moment of the wait: as soon as a read finds some token other than the one the
    /// failed refresh sent (another process or tab stored the token it rotated), the refusal is
    /// dropped as with [`Reaction::IgnoreIfTokenChanged`] (the tab stays signed in and idle with
    /// that token; the list ends). If the wait runs out with the same token stored (or none),
    /// the list goes on; a write that lands after that is not seen. Nothing is sent.
    /// clerk/cli PR 213 (`credential-store.ts` `awaitConcurrentRefresh`: reads the stored
    /// session at 0 ms, then after sleeps of 25, 50 and 100 ms; [`super::browser::store_wait`]).
    WaitForTokenChange,
    /// The tab stays signed in and idle, keeping what it holds (an app that ignores a failed
    /// background refresh until the next request). Ends the list.
    KeepGoing,
    /// The answer clears the auth cookies in the shared jar, whatever the mode: an error
    /// response whose `Set-Cookie` expires the refresh (and session) cookie
    /// (opendefender/OpenRisk issue 700 `middleware.ClearSessionCookies`; filiptrivan/spiderly
    /// issue 384). The list goes on.
    ClearCookie,
    /// The client removes the shared `localStorage` entry (`localStorage.removeItem`), whatever
    /// the mode. The list goes on.
    ClearSharedStorage,
    /// The tab sends the refresh again with the token where it keeps it now, if it has a retry
    /// left (`browser.retry_limit`, K); the list ends there. Without a retry left the list goes
    /// on (kurrent-io/kcap-cli PR 947: a client that replays a refresh only on a lost answer
    /// or a 5xx, never on a 4xx).
    Retry,
    /// Ordinary calls only (`browser.on_call_refused`, `on_call_server_error`): if the call
    /// has a retry left (`browser.retry_limit`, K, per call), the tab refreshes through its
    /// ordinary refresh path (or, a refresh of it already in flight, waits for that one:
    /// single-flight inside the tab) and, once the refresh is answered and the tab is still
    /// signed in, sends the call again with the access token it holds then; the list ends
    /// there. Without a retry left the list goes on. The refresh does not use up one of
    /// `refreshes_per_tab`. The SPA 401 interceptor: Flyrell/axios-auth-refresh `src/index.ts`
    /// (01df3ff) `createAuthRefreshInterceptor`: on a 401 it calls the refresh once
    /// (`createRefreshCall` shares one refresh promise), requests made meanwhile wait for it
    /// (`createRequestQueueInterceptor`), then it sends the failed request again
    /// (`axios(error.response.config)`); zitadel/zitadel issue 9331.
    RefreshAndRetry,
    /// The client sends the protocol's sign-out request with the refresh token where it keeps
    /// it now (the jar's cookie in cookie mode, the browser attaching it; the stored token in
    /// json mode), and the list goes on (end it with `log-out`): the app's `logOut()` on a
    /// failed refresh POSTs the sign-out endpoint. The `sign_out` handler as written decides
    /// and acts on that token, but no user signed out: the ground truth does not change, no
    /// family is marked signed out and no sign-out is recorded (it is served as a
    /// [`FollowUpAfter`]-style revocation, [`super::interpret::follow_up_presenting`]); its
    /// answer is ignored. At most one in flight per tab: a refusal while the tab's request is
    /// unanswered sends none. A refresh's error lists only (`on_refused`, `on_server_error`).
    /// drips-network/app `src/lib/utils/wave/auth.ts` (f0842ee^, PR 1884): the `catch` of
    /// `getRefreshedAuthToken` awaits `logOut()`, which POSTs `/api/auth/logout` with
    /// `credentials: 'include'`.
    SignOutRequest,
}

/// One thing a tab does with a refresh answered 2xx, in the order the model file lists them
/// (`browser.on_ok`). Without `on_ok` the preset of the mode and storage applies
/// ([`default_on_ok`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OkReaction {
    /// The new refresh token goes into the tab's own memory (the SDK's in-memory storage,
    /// `sdk/src/auth/composable.ts`).
    StoreInTab,
    /// The new refresh token goes into the shared `localStorage` entry; the other tabs hear the
    /// write (`browser.on_stored_token_written`).
    StoreShared,
    /// The new refresh token goes into the jar's refresh cookie (`Set-Cookie`, cookie mode).
    StoreInCookie,
    /// The request is a server-side render made of stages: after the stage that refreshed
    /// (Next.js middleware, whose response sets the new cookie), a later stage of the same
    /// request (a Server Component, which reads `cookies()` of the incoming request) still
    /// sees the original cookie and refreshes with it once more. That second refresh's 2xx
    /// sets nothing (a Server Component cannot set cookies); its refusal runs the tab's
    /// reactions. supabase/ssr issue 36 and the `@supabase/ssr` Next.js guide (middleware must
    /// pass the refreshed cookie on to the request); nextauthjs/next-auth issue 7558.
    NextStageRefreshesWithOriginalToken,
}

/// One thing a tab does with an ordinary call answered 2xx (`browser.on_call_ok`), in order.
/// Without the list a 2xx to a call changes nothing in the tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CallOkReaction {
    /// The answer's body carries the access token the call presented (an identify or `me`
    /// endpoint that echoes the request's token), and the app writes it into its token store,
    /// replacing whatever the tab holds now: a call sent before a refresh and answered after
    /// it puts the older access token back (Bike4Mind PR 1801, `/api/identify` and
    /// `UserContext`).
    StoreEchoedAccessToken,
}

/// When one requester of a tab starts a refresh (`browser.refresh_triggers`, one entry per
/// requester, requester 1 the tab itself).
///
/// A page's client code refreshes on its own schedule (a timer, a visibility change, a 401),
/// while a server-side path of the same page (a Next.js or SvelteKit middleware, the
/// `/api/auth/session` route of Auth.js) refreshes only when the request's access-token cookie
/// has expired and sets the new cookies on its response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshTrigger {
    /// At any moment the requester may start (its refreshes are bounded by
    /// `refreshes_per_tab`): the default, and every requester's behaviour without the field.
    #[default]
    AnyTime,
    /// Only once the access token the page holds has expired by the clients' clock
    /// (`exp < now`, the tick the default `request` handler first refuses it), or when the
    /// page holds none: F3-Nation/f3-nation `apps/me/middleware.ts` ("a valid access cookie
    /// passes; otherwise refreshToken"), Auth.js's `jwt` callback (`if (Date.now() <
    /// token.expires_at * 1000) return token`, authjs.dev "Refresh token rotation").
    WhenAccessExpired,
}

/// A request a tab sends of its own accord once a reaction has run (`browser.follow_up`): after
/// its refresh is answered 2xx, or after the user signed in again on its device, it sends one
/// request to a named handler of the server carrying a token it held before the reaction or
/// the new one. The follow-up races every other step; its answer is read and ignored. At most
/// one follow-up is in flight per tab: a reaction while one is in flight sends none.
///
/// laravel/passport PR 1790 ("the client manually requests the old refresh token's
/// revocation after successfully receiving the new access token and refresh token"), served
/// by an RFC 7009 revocation endpoint (thephpleague/oauth2-server
/// `src/Handlers/TokenRevocationHandler.php`, Passport `RevokeTokenController`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// When the tab sends it. `refresh-ok` needs refreshes (`refreshes_per_tab` above 0, or
    /// calls that refresh); `sign-in-again` needs `re_sign_ins` above 0.
    pub after: FollowUpAfter,
    /// The server handler that serves it: `sign_out` (the endpoint that revokes a presented
    /// refresh token, RFC 7009 §2.1), run as a revocation: the user signs out of nothing.
    pub handler: String,
    /// The token it carries. `superseded` after `refresh-ok` needs an `on_ok` that stores the
    /// new token: with `on_ok: []` the tab keeps presenting the token it refreshed with, and
    /// revoking it would revoke the token the tab still uses (refused; a client revokes the
    /// token it replaced once it has stored the new one, as Passport PR 1790's does).
    pub presents: FollowUpToken,
}

/// When a tab sends its follow-up ([`FollowUp::after`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FollowUpAfter {
    /// Once its refresh is answered 2xx and `on_ok` has run.
    RefreshOk,
    /// Once the user's sign-in again on its device (`browser.re_sign_ins`) is answered 2xx
    /// (from the device's first tab, where the sign-in starts).
    SignInAgain,
}

/// Which token a follow-up carries ([`FollowUp::presents`]): one the tab held, read where its
/// mode keeps it, by the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FollowUpToken {
    /// The refresh token the reaction replaced: the one the refresh presented (after a 2xx),
    /// or the old session's token the device held when the sign-in again was answered.
    Superseded,
    /// The refresh token the answer carried.
    New,
}

/// The preset of `browser.on_ok` for a mode and json storage: today's fixed behaviour. cookie
/// mode stores the new refresh token in the jar; otherwise the tab's copy (`per-tab`), the
/// shared entry (`shared`), or both (`shared-lagging`: the tab writes `localStorage` and its
/// own view of it is up to date).
pub fn default_on_ok(mode: AuthMode, storage: JsonStorage) -> Vec<OkReaction> {
    match (mode, storage) {
        (AuthMode::Cookie, _) => vec![OkReaction::StoreInCookie],
        (_, JsonStorage::PerTab) => vec![OkReaction::StoreInTab],
        (_, JsonStorage::Shared) => vec![OkReaction::StoreShared],
        (_, JsonStorage::SharedLagging) => vec![OkReaction::StoreShared, OkReaction::StoreInTab],
    }
}

/// When a tab waiting for its refresh's answer gives up and sends it again
/// (`browser.retry_timeout`, with `browser.retries_per_tab`): a word ([`RetryWhen`]) or a
/// number of ticks.
///
/// A number N is a client timeout: the tab may send its retry only once its browser clock
/// has advanced N ticks since it sent its last attempt and it has taken no answer; its first
/// attempt may then still be in flight, at the server, or on its way back. N is 1 to
/// [`MAX_RETRY_TIMEOUT_TICKS`] and at most `time.max_ticks` (checked by the scenario's
/// validation: a value read from the file is kept as written so that the refusal names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum RetryTimeout {
    /// `"any-moment"` or `"after-loss"`.
    When(RetryWhen),
    /// A timeout of N ticks of the browser's clock.
    Ticks(i64),
}

/// The longest retry timeout, in ticks (`browser.retry_timeout`).
pub const MAX_RETRY_TIMEOUT_TICKS: i64 = 16;

impl Default for RetryTimeout {
    fn default() -> Self {
        RetryTimeout::When(RetryWhen::AnyMoment)
    }
}

impl RetryTimeout {
    /// `"any-moment"`, the default.
    pub const ANY_MOMENT: RetryTimeout = RetryTimeout::When(RetryWhen::AnyMoment);
    /// `"after-loss"`.
    pub const AFTER_LOSS: RetryTimeout = RetryTimeout::When(RetryWhen::AfterLoss);

    /// The timeout in ticks, when it is a number in 1 to [`MAX_RETRY_TIMEOUT_TICKS`]; `None`
    /// for the words (and for a number out of range, which validation refuses).
    pub fn ticks(self) -> Option<super::Tick> {
        match self {
            RetryTimeout::Ticks(n) if (1..=MAX_RETRY_TIMEOUT_TICKS).contains(&n) => Some(n as super::Tick),
            _ => None,
        }
    }
}

/// `"any-moment"`, `"after-loss"` or an integer; another word, or another type, is an error
/// that says a word or a number of ticks is expected.
impl<'de> Deserialize<'de> for RetryTimeout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RetryTimeout;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"any-moment\", \"after-loss\" or a number of ticks from 1 to 16")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RetryTimeout, E> {
                // serde's own message would list the words only; a number is accepted too, and
                // one written as a text ("10", "10s") is the likeliest slip.
                RetryWhen::deserialize(serde::de::value::StrDeserializer::<E>::new(v)).map(RetryTimeout::When).map_err(
                    |_: E| {
                        E::custom(format!(
                            "unknown variant `{v}`, expected one of `any-moment`, `after-loss` or a number of ticks \
                             from 1 to {MAX_RETRY_TIMEOUT_TICKS} written as a JSON number (`\"retry_timeout\": 2`, \
                             no quotes and no unit)"
                        ))
                    },
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RetryTimeout, E> {
                Ok(RetryTimeout::Ticks(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RetryTimeout, E> {
                Ok(RetryTimeout::Ticks(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The words of `browser.retry_timeout`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RetryWhen {
    /// At any moment, also while its request or the answer is still on its way (a short
    /// timeout, a user who clicks again, a reload of the request by the SDK). The default.
    #[default]
    AnyMoment,
    /// Only once the answer can no longer come: nothing of its refresh is in flight (neither a
    /// request of it nor an answer to it) and the server holds no request of it in progress,
    /// so a request or an answer was lost. A client timeout longer than any delivery (a
    /// patient client on a slow, lossy network); needs `lossy`.
    AfterLoss,
}

/// What the other tabs do when a tab writes a new refresh token to the shared `localStorage`
/// entry (`browser.on_stored_token_written`; the `storage` event fires in every other tab of
/// the origin, HTML Living Standard §12.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WrittenListener {
    /// Nothing: a tab with its own copy keeps it. The default.
    #[default]
    Ignore,
    /// Every other tab that is not logged out copies the new token into its own memory
    /// (a `storage` event listener that syncs the SDK's in-memory copy: nhost/nhost-js-sdk
    /// issue 65's proposal, fliks-app/fliks PR 457).
    Adopt,
}

/// What the other tabs do when a tab clears the shared stored token (a listener on storage or
/// on the cookie, `browser.on_stored_token_cleared`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClearedListener {
    /// Nothing: each tab finds the token gone at its next refresh. The default.
    #[default]
    Ignore,
    /// Every other signed-in tab that is idle logs out at once when a tab's reaction clears
    /// the shared token (gotrue-js v1 `_listenForMultiTabEvents`: a `storage` event whose new
    /// value has no session runs `_removeSession()`). A sign-out's removal is heard through
    /// `browser.sign_out_notice` ([`SignOutNotice::StorageEvent`]).
    LogOut,
}

/// How a tab's sign-out tells the other tabs of the browser (`browser.sign_out_notice`): a
/// notice sent when the signing-out tab clears its session (the sign-out's answer), delivered
/// to each other open tab after its own delay, as a `BroadcastChannel` message is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignOutNotice {
    /// Nothing reaches the other tabs: each finds out at its next request. The default.
    #[default]
    None,
    /// The `storage` event that removing the shared `localStorage` entry fires in every other
    /// document of the origin (HTML Living Standard §12.2.1; only when the entry was there).
    StorageEvent,
    /// A `signed-out` message posted on a `BroadcastChannel` (supabase/auth-js
    /// `_notifyAllSubscribers('SIGNED_OUT')`, Auth.js `broadcast()` on `signOut`).
    BroadcastChannel,
}

/// Whether the user's sign-out sends a request (`browser.sign_out_request`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignOutRequest {
    /// The tab sends the protocol's sign-out request and clears its session at the answer.
    /// The default.
    #[default]
    Sent,
    /// Local only: the client clears its stored session (the jar, the shared entry, the tab's
    /// copy) and is logged out at the click, and tells the server nothing, so the server's
    /// session stays alive (clerk/cli before PR 418, `packages/cli-core/src/commands/auth/logout.ts`:
    /// `clerk auth logout` deleted the stored OAuth session and never called the revocation
    /// endpoint).
    None,
}

/// What a tab does when the notice of another tab's sign-out reaches it
/// (`browser.on_sign_out_notice`), whatever it is doing: idle, or with a refresh, a request or
/// a call in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignOutNoticeReaction {
    /// It signs out locally: it drops the tokens it holds (its own refresh token, its access
    /// token) and is logged out; a request in flight stays in flight. The default.
    #[default]
    SignOut,
    /// Nothing: the app hears it and the tab keeps what it holds.
    Ignore,
}

/// What a tab that a sign-out notice logged out while its refresh was in flight does with
/// that refresh's 2xx when it arrives later (`browser.on_ok_after_sign_out_notice`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OkAfterSignOutNotice {
    /// It runs `on_ok` as for any 2xx: it stores the new pair where the mode keeps it and is
    /// signed in again with it (supabase/auth-js 2.61 `_callRefreshToken`: `_saveSession`
    /// after the answer, whatever happened meanwhile). The default.
    #[default]
    Store,
    /// It drops the answer and stays logged out (geolens-io/geolens PR 1446: the storage
    /// listener bumps the session epoch, and the refresh's write is refused).
    Drop,
}

/// The default reactions to a refused or failed refresh: log the tab out.
pub fn default_reactions() -> Vec<Reaction> {
    vec![Reaction::LogOut]
}
