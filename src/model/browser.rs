//! One browser: its tabs, its shared cookie jar and storage, the user's ground truth, and an
//! optional attacker who copies what the browser holds.
//!
//! The browser is one actor so that jar reads and writes are atomic, as they are in a real
//! browser: a request carries the jar's cookies at the moment it is sent, and the last
//! `Set-Cookie` processed wins. Each tab runs its own copy of the Directus app
//! (`app/src/auth.ts`, `app/src/idle.ts`) and sends at most one request at a time (the app
//! pauses its request queue while `/auth/refresh` is in flight, `app/src/sdk.ts`).
//!
//! How the token travels ([`AuthMode`]): session mode, a JWT cookie in the shared jar; cookie
//! mode, an opaque refresh-token cookie in the jar; json mode, the refresh token in the
//! client's storage (the SDK's in-memory storage, one per tab, or a shared `localStorage`).
//!
//! Tab events (each bounded by the model file):
//! - [`super::Timer::TabRefreshes`]: the tab is loaded or returns from idle and runs the app's
//!   `refresh()`. With the freshness check of PR 22464 (10.11.1+), a tab whose
//!   `accessTokenExpiry` is still more than the margin ahead calls `GET /users/me` instead, and
//!   a failure logs it out. With the mutex of PR 22457 the refresh first takes the cross-tab
//!   lock ([`Coordination`]).
//! - [`super::Timer::TabRequests`]: an ordinary request; a failure just fails (no 401
//!   interceptor in 10.10.x–12.4.x).
//! - [`super::Timer::TabSignsOut`]: the user signs out (`POST /auth/logout {mode}`); the
//!   response clears both cookies for every tab, and the ground truth records the sign-out.
//! - With a broadcast leader ([`Coordination::BroadcastLeader`]; authts/oidc-client-ts issue
//!   430 and PR 434, AxaFrance/oidc-client issue 1039): a follower's refresh waits for the
//!   leader's message instead; [`super::Timer::TabGetsBroadcast`] delivers the leader's
//!   `BroadcastChannel` message to one tab, [`super::Timer::TabCloses`] closes (or freezes for
//!   good) a leader mid-refresh.
//! - [`super::Timer::TabWaits`]: a tab waiting on a party that can no longer end its wait (a
//!   hung lock holder, a closed leader) takes one of its own steps and still waits (LP4
//!   bounded), or, a follower with a timeout, refreshes itself.
//!
//! A refresh answered with anything but 2xx runs the tab's reactions (`browser.on_refused`,
//! `on_server_error`; [`Reaction`]); by default it logs that tab out with
//! `reason=SESSION_EXPIRED` and no server call, so the cookie and the row stay as they were.
//!
//! The attacker may copy any token the browser ever held (the cookie JWT, its `session` claim,
//! a json or cookie-mode refresh token) and redeem it with `POST /auth/refresh` in any mode it
//! is allowed, a bounded number of times. What the browser held is recorded as ghost state when
//! the browser receives it; the app never reads that record.
//!
//! The browser's clock (for the freshness check only) ticks on its own and may lag the
//! server's by at most one tick (`within_boundary` in [`super::build`]): two machines' clocks.
//!
//! What is abstracted: page navigation, the SDK's auto-refresh timer (`SESSION_COOKIE_TTL −
//! 10 s`, beyond the bounds checked), the cookie's max-age (the JWT's `exp` is the same instant
//! and the server rejects it, which logs the tab out just the same).
//!
//! Sources: `app/src/auth.ts`, `app/src/idle.ts`, `app/src/sdk.ts` in `@directus/app` 12.1.1
//! (directus 10.11.1); `sdk/src/auth/composable.ts` in `@directus/sdk` 16.0.1; PR 22457
//! `app/src/composables/use-mutex.ts`; issue 22360; `shared/research/directus-protocol.md` §3.

use serde::Serialize;

#[path = "requesters.rs"]
pub mod requesters;

#[path = "signout_notice.rs"]
pub mod signout_notice;

#[path = "aborts.rs"]
pub mod aborts;

#[path = "crash.rs"]
pub mod crash;

#[path = "timeouts.rs"]
pub mod timeouts;

#[path = "storage_theft.rs"]
pub mod storage_theft;

#[path = "token_read.rs"]
pub mod token_read;

#[path = "triggers.rs"]
pub mod triggers;

#[path = "signout_lock.rs"]
pub mod signout_lock;

#[path = "tab_settings.rs"]
pub mod tab_settings;

#[path = "single_flight.rs"]
pub mod single_flight;

use super::hashed::{Hashed, Seal};

#[path = "store_wait.rs"]
pub mod store_wait;

#[path = "lock_wait.rs"]
pub mod lock_wait;

use super::policy::{
    AuthMode, Coordination, FollowUpAfter, FollowUpToken, JsonStorage, LeaderElection, LockGranted, Logins, OkReaction,
    Reaction, StorageHolds, WrittenListener,
};
use super::server::Credentials;
use super::{Reply, SessionJwt, TabIx, Tick, Token};

/// What a tab is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum TabStatus {
    /// Signed in, no request in flight.
    Idle,
    /// `POST /auth/refresh` in flight; `sent` is the token it presented.
    Refreshing { sent: Option<Token> },
    /// With `browser.reads_token: "before-send"` ([`token_read`]): the tab has read the refresh
    /// token its refresh will present ([`Tab::read`]) and sends it in a later step of its own
    /// ([`super::Timer::TabSendsReadToken`]); it holds the Web Lock if it took it.
    TokenRead,
    /// An ordinary `GET /users/me` in flight.
    Requesting,
    /// PR 22464: `GET /users/me` in flight in place of a refresh; a failure logs the tab out.
    CheckingFresh,
    /// `POST /auth/logout` in flight.
    SigningOut,
    /// PR 22457: waiting for the lock (Web Locks: queued; localStorage: polling the key).
    WaitingLock,
    /// PR 22457 localStorage fallback: read the key free; setting it is the next step.
    LockSeenFree,
    /// On the login page (`/login?reason=SESSION_EXPIRED`, or after signing out).
    LoggedOut,
    /// Web Locks: the tab holds the lock and its callback never resolves (double mount, hot
    /// reload, hung storage: supabase/supabase-js issues 1594 and 2013); it never releases
    /// the lock and ignores any answer.
    Hung,
    /// Broadcast leader: a follower that needs a new token waits for the leader's
    /// `BroadcastChannel` message instead of refreshing (authts/oidc-client-ts PR 434;
    /// AxaFrance/oidc-client issue 1039, hidden tabs wait for the visible one).
    AwaitingBroadcast,
    /// Broadcast leader: the leader was closed, or frozen for good by the browser (Page
    /// Lifecycle), while its refresh was in flight: it never reads the answer and never
    /// broadcasts (`industry-policies.md` §1.4). Not a logout: the user closed a tab.
    Closed,
    /// With the reaction `wait-for-token-change` ([`store_wait`]): the tab's refresh was
    /// answered with an error, the token stored then was still the one it `sent`, and it waits
    /// for the stored token to change until its browser clock reaches `since` +
    /// `browser.token_change_wait`; then it goes on with its reaction list from position
    /// `resume` of `on_server_error` (`server_error`) or `on_refused`.
    WaitingForTokenChange { sent: Option<Token>, since: Tick, resume: u8, server_error: bool },
    /// With `browser.ok_writes` other than `one` ([`crash`]): the tab took its refresh's 2xx and
    /// made the first of its two storage writes; the second is its next step
    /// (`TabFinishesStoring`). `refresh` is the new refresh token still to be written
    /// (`access-then-refresh`), or `None` when only the access token is left
    /// (`refresh-then-access`).
    WritingSecond { refresh: Option<Token> },
}

/// A `BroadcastChannel` message from a leader tab, not yet delivered to a tab: the refreshed
/// refresh token and the access token's expiry (`postMessage` of the renewed user).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Broadcast {
    /// The new refresh token (`None` when the mode keeps it in the shared jar).
    pub token: Option<Token>,
    /// The new access token's `exp`, in ticks.
    pub expiry: Option<Tick>,
    /// How many leader messages this one stands for: a later message sent before the earlier
    /// one was delivered replaces it (the tab would apply both in order; the later wins) and
    /// adds one. A count, at least 1.
    pub count: u8,
}

/// The rest of the session the shared `localStorage` entry holds next to the refresh token
/// ([`BrowserState::storage`]) when the model stores whole sessions
/// (`browser.shared_storage_holds: "session"`, [`StorageHolds::Session`]): written by the same
/// `store-shared` write as the token, read by a tab whenever its library reads its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StoredSession {
    /// The access token ([`super::oauth::AccessId`]); `None` when the answer carried none.
    pub access: Option<super::oauth::AccessId>,
    /// The access token's `exp`, in ticks.
    pub expiry: Option<Tick>,
}

/// One tab's app and SDK state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Tab {
    /// What the tab is doing.
    pub status: TabStatus,
    /// Refreshes (loads, returns from idle) it may still start: a count.
    pub refreshes_left: u8,
    /// Ordinary requests it may still start: a count.
    pub requests_left: u8,
    /// json mode with per-tab storage: the SDK's in-memory refresh token.
    pub token: Option<Token>,
    /// The app's `accessTokenExpiry` (in json and cookie mode also the access token's `exp`),
    /// in ticks; `None` until the tab's first refresh.
    pub expiry: Option<Tick>,
    /// Retries of an unanswered refresh it may still send: a count (0 unless the model file
    /// sets `retries_per_tab`).
    pub retries_left: u8,
    /// With a retry timeout of N ticks (`browser.retry_timeout`): the browser clock's tick at
    /// which the tab sent its last refresh attempt, until it takes an answer. Always `None`
    /// without the field, so the field adds no state to other models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Tick>,
    /// With `read_before_lock`: the refresh token it read before it queued for the lock, which
    /// it presents once granted (C20). With `reads_token: "before-send"`: while the tab is
    /// [`TabStatus::TokenRead`], the token it read, which its send presents.
    pub read: Option<Token>,
    /// With `lock_granted: "skip-if-token-changed"`: while the tab waits for the lock, the
    /// refresh token it would have presented when it queued (the stored one then), which it
    /// compares with the stored one once granted. `None` otherwise (always `None` without the
    /// field, so the field adds no state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_with: Option<Token>,
    /// With `browser.lock_wait_ticks`: while the tab waits for the Web Lock, the browser
    /// clock's tick at which it queued ([`lock_wait`]). Always `None` without the field, so
    /// the field adds no state to other models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<Tick>,
    /// Broadcast leader: the leader messages sent to this tab and not yet delivered, folded
    /// into the newest ([`Broadcast::count`]).
    pub inbox: Option<Broadcast>,
    /// Own steps this tab has taken while waiting and blocked for good (see
    /// [`BrowserState::wait_step`]): a count, saturating at `max_wait_steps + 1`, reset to 0
    /// when the wait ends.
    pub waited: u8,
    /// Retries the `retry` reaction may still send: a count (from `browser.retry_limit`).
    pub reaction_retries_left: u8,
    /// The refresh in flight is a later stage of a server-side render that presents the
    /// request's original cookie ([`OkReaction::NextStageRefreshesWithOriginalToken`]): its
    /// 2xx sets nothing and starts no further stage.
    pub later_stage: bool,
    /// Requesters 1 to N - 1 of the tab (`browser.requesters_per_tab`; [`requesters`]): each
    /// one's refresh in flight and budget. All default with one requester.
    #[serde(skip_serializing_if = "requesters::is_unused")]
    pub requesters: requesters::Requesters,
    /// Reloads the user may still make while the tab's refresh is in flight
    /// (`browser.reloads_per_tab`; [`BrowserState::reload`]): a count.
    #[serde(skip_serializing_if = "requesters::is_zero")]
    pub reloads_left: u8,
    /// Reloads done: the page's number, which the addresses of its requests carry so that an
    /// answer to a cancelled page is dropped ([`requesters::address`]). 0 without reloads.
    #[serde(skip_serializing_if = "requesters::is_zero")]
    pub page: u8,
    /// With `browser.retries_per_tab`: refresh answers the tab has taken, modulo 16: the
    /// round its next refresh request belongs to ([`requesters::round_address`]). An answer to
    /// a request of an earlier round comes after the tab took that round's first answer, and
    /// is dropped. 0 without retries.
    #[serde(skip_serializing_if = "requesters::is_zero")]
    pub round: u8,
    /// Aborts of its refresh in flight the tab may still make (`browser.aborts_per_tab`;
    /// [`aborts`]): a count, 0 without the field.
    #[serde(skip_serializing_if = "requesters::is_zero")]
    pub aborts_left: u8,
    /// Crashes (with restart) of the tab's process it may still undergo
    /// (`browser.crashes_per_tab`; [`crash`]): a count, 0 without the field.
    #[serde(skip_serializing_if = "requesters::is_zero")]
    pub crashes_left: u8,
    /// The access token the tab holds ([`super::oauth::AccessId`]), when the authorization
    /// server keeps access tokens: its family's sign-in access token at first, then the one of
    /// its last refresh answered 2xx. `None` otherwise.
    pub access: Option<super::oauth::AccessId>,
    /// Ordinary calls (`browser.calls_per_tab`) it may still start: a count.
    pub calls_left: u8,
    /// The ordinary call in flight, if any: the access token it presented. A call is
    /// independent of the tab's status (a refresh may be in flight at the same time).
    pub call: Option<Call>,
    /// The tab's follow-up (`browser.follow_up`) is in flight: sent and not yet answered.
    /// Independent of the tab's status; at most one per tab. Always false without the field.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub follow_up: bool,
    /// With `browser.sign_out_notice`: the notice of another tab's sign-out is on its way to
    /// this tab, not yet delivered ([`signout_notice`]). Always false without the field.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub notice: bool,
    /// With `browser.sign_out_notice`: the notice logged this tab out while its refresh was in
    /// flight, whose answer has not arrived; `browser.on_ok_after_sign_out_notice` says what
    /// the tab does with a 2xx. Always false without the field.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub told_signed_out: bool,
    /// With `browser.sign_out_takes_lock`: the tab waits for the Web Lock to send the user's
    /// sign-out, not a refresh ([`signout_lock`]). Always false without the field.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sign_out_queued: bool,
}

/// An ordinary call in flight (an API request presenting the tab's access token, RFC 6750).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Call {
    /// The access token it presented (`None`: the tab held none).
    pub sent: Option<super::oauth::AccessId>,
    /// Retries the `retry` and `refresh-and-retry` reactions may still send for it: a count.
    pub retries_left: u8,
    /// The call is not in flight: it waits for the tab's refresh to be answered and is then
    /// sent with the access token the tab holds ([`Reaction::RefreshAndRetry`], or
    /// `browser.call_refresh_margin`: a refresh before the call). `sent` is what it presented
    /// last (`None` if it was never sent).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_refresh: bool,
    /// With `browser.on_call_ok: ["store-echoed-access-token"]`: the expiry (a tick) of the
    /// access token `sent`, as the tab knew it when it sent the call, so that the tab holding
    /// the echoed token again also holds its expiry (`call_refresh_margin` judges by it);
    /// `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_expiry: Option<Tick>,
}

/// The expiry a call records with the access token it sends: the tab's, when the app stores
/// the token a call's answer echoes ([`Call::sent_expiry`]); otherwise none is kept.
fn echo_expiry(cfg: &BrowserCfg, tab: &Tab) -> Option<Tick> {
    if cfg.call_ok_stores_echo {
        tab.expiry
    } else {
        None
    }
}

/// Whether a tab with this status has a refresh under way: in flight, or waiting for the
/// lock or the leader's broadcast (a call that needs a refresh waits for it).
fn refresh_under_way(s: TabStatus) -> bool {
    matches!(
        s,
        TabStatus::Refreshing { .. }
            | TabStatus::TokenRead
            | TabStatus::WaitingLock
            | TabStatus::LockSeenFree
            | TabStatus::AwaitingBroadcast
    )
}

/// The cookie jar of the origin, shared by every tab.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Jar {
    /// `directus_session_token`: the session JWT (session mode).
    pub session: Option<SessionJwt>,
    /// `directus_refresh_token`: the opaque refresh token (cookie mode).
    pub refresh: Option<Token>,
}

/// The user's ground truth (ghost state, never read by the protocol): what the user did.
/// "The session is valid" is defined by this and by the clock, not by tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GroundTruth {
    /// The user signed in (at tick 0).
    pub signed_in: bool,
    /// The user signed out.
    pub signed_out: bool,
}

/// Ghost: every credential the browser ever held, as an attacker could copy it (and, with
/// `attacker.keeps_tokens`, the refresh tokens the attacker was answered with). Recorded only
/// when the model has an attacker. Sorted, without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Held {
    /// Session JWTs (cookies) held.
    pub jwts: Vec<SessionJwt>,
    /// Opaque tokens held: json and cookie-mode refresh tokens, and every JWT's `session` claim.
    pub tokens: Vec<Token>,
    /// Access tokens held (only with `attacker.uses_access_tokens`).
    pub access: Vec<super::oauth::AccessId>,
}

impl Held {
    fn add_jwt(&mut self, j: SessionJwt) {
        if let Err(at) = self.jwts.binary_search(&j) {
            self.jwts.insert(at, j);
        }
        self.add_token(j.session);
    }

    fn add_token(&mut self, t: Token) {
        if let Err(at) = self.tokens.binary_search(&t) {
            self.tokens.insert(at, t);
        }
    }

    fn add_access(&mut self, a: super::oauth::AccessId) {
        if let Err(at) = self.access.binary_search(&a) {
            self.access.insert(at, a);
        }
    }
}

/// The attacker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Attacker {
    /// Redemptions it may still try: a count.
    pub attempts_left: u8,
    /// A redemption is in flight.
    pub busy: bool,
    /// Ghost: some redemption was answered 2xx.
    pub redeemed_ok: bool,
    /// With `attacker.steals: "once"`: it has read the browser's storage
    /// ([`storage_theft`]). Always false otherwise.
    pub has_read: bool,
}

/// The browser's configuration, from the model file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrowserCfg {
    /// Tabs sharing the jar.
    pub tabs: u8,
    /// Refreshes each tab may start.
    pub refreshes: u8,
    /// Ordinary requests each tab may start.
    pub requests: u8,
    /// Sign-outs the user may start (from any tab).
    pub sign_outs: u8,
    /// This device signs in during the run (`browser.sign_ins`): it starts signed out, its
    /// tabs holding the token reserved for its sign-in, and does nothing until the user signs
    /// in ([`super::Timer::DeviceSignsIn`]) and the answer arrives.
    pub signs_in_during_run: bool,
    /// Sign-ins again the user may make on this device during the run
    /// (`browser.re_sign_ins`): a count, 0 for a device that signs in during the run.
    pub re_sign_ins: u8,
    /// What each sign-in again is (`browser.re_sign_in_is`): a sign-in or the user's password
    /// change (traces word it so).
    pub re_sign_in_is: super::policy::ReSignIn,
    /// The auth mode the app uses.
    pub mode: AuthMode,
    /// json mode: where the refresh token is kept.
    pub storage: JsonStorage,
    /// Cross-tab coordination of refreshes.
    pub coordination: Coordination,
    /// PR 22464's freshness check.
    pub freshness_check: bool,
    /// The app's margin (`msRefreshBeforeExpires`, 10 s), in ticks.
    pub margin: Tick,
    /// The browser clock's bound (the model's `max_ticks`).
    pub max_ticks: Tick,
    /// The attacker: attempts and the modes it may redeem in (`None`: no attacker).
    pub attacker: Option<(u8, Vec<AuthMode>)>,
    /// The attacker keeps the refresh tokens it is answered with and may redeem them.
    pub attacker_keeps_tokens: bool,
    /// `attacker.steals: "once"`: the attacker copies only what the browser's storage holds
    /// at the one moment it reads it ([`storage_theft`]); false: every token the browser held.
    pub attacker_reads_once: bool,
    /// Aborts of its refresh in flight each tab may make (`browser.aborts_per_tab`; 0: none).
    pub aborts: u8,
    /// What a tab does when it aborts its refresh (`browser.on_aborted`; by default the tab's
    /// `on_server_error`).
    pub on_aborted: Vec<Reaction>,
    /// Retries each tab may send for a refresh that got no answer (C19; 0 for Directus's app,
    /// which does not retry); with `on_timeout`, the times each tab may time out.
    pub retries: u8,
    /// What a tab does when it times out waiting for its refresh's answer
    /// (`browser.on_timeout`, [`timeouts`]); `None`: it sends the same refresh again.
    pub on_timeout: Option<Vec<Reaction>>,
    /// With the reaction `wait-for-token-change`: how long a tab waits for the stored token to
    /// change, N ticks of the browser's clock (`browser.token_change_wait`, [`store_wait`]).
    /// `None` without the field.
    pub token_change_wait: Option<Tick>,
    /// Web Locks: how long a tab waits for the lock, N ticks of the browser's clock, before it
    /// gives up and runs [`Self::on_lock_timeout`] (`browser.lock_wait_ticks`, [`lock_wait`]).
    /// `None`: it waits until granted.
    pub lock_wait_ticks: Option<Tick>,
    /// What a tab whose wait for the Web Lock ran out does (`browser.on_lock_timeout`): clears
    /// and then `log-out` or `keep-going`. Empty without `lock_wait_ticks`.
    pub on_lock_timeout: Vec<Reaction>,
    /// `browser.retry_timeout` as a number N of ticks: a tab may send a retry only once its
    /// browser clock has advanced N ticks since it sent its last attempt
    /// ([`Tab::sent_at`]). `None`: `any-moment` or `after-loss`.
    pub retry_after_ticks: Option<Tick>,
    /// Web Locks: how many times a lock holder may hang (C18), 0 or 1.
    pub lock_hangs: u8,
    /// Web Locks: a waiting tab may take the lock with `steal: true` (supabase/supabase-js PR
    /// 2106) while the holder still runs.
    pub lock_steal: bool,
    /// Web Locks: a tab reads the refresh token before it queues for the lock and presents
    /// that copy once granted (DuendeArchive/Support issue 1286; C20).
    pub read_before_lock: bool,
    /// When a tab reads the refresh token its refresh presents (`browser.reads_token`;
    /// [`token_read`]).
    pub reads_token: super::policy::ReadsToken,
    /// How a tab stores a refresh's 2xx: one write, or two with a step between them
    /// (`browser.ok_writes`; [`crash`]).
    pub ok_writes: super::policy::OkWrites,
    /// Times each tab's process may die and start again (`browser.crashes_per_tab`; [`crash`]):
    /// a count, 0 without the field.
    pub crashes: u8,
    /// Web Locks: what a tab that queued does once granted the lock (`browser.lock_granted`).
    pub lock_granted: LockGranted,
    /// With [`LockGranted::SkipIfStoredSessionFresh`]: N ticks; the tab that takes the lock
    /// skips its refresh when the stored access token's `exp >= now + N` by the browser's
    /// clock (`browser.lock_recheck_margin`, default 0).
    pub lock_recheck_margin: Tick,
    /// What the shared storage holds (`browser.shared_storage_holds`).
    pub storage_holds: StorageHolds,
    /// The first `ssr_paths` tabs are server-side render paths: they send the jar's cookie and
    /// can refresh, but cannot write cookies, so a rotated token they receive is discarded
    /// (Next.js Server Components, `@supabase/ssr` `setAll`; C05, C06).
    pub ssr_paths: u8,
    /// Broadcast leader: who leads.
    pub leader_election: LeaderElection,
    /// Broadcast leader: how many times a leader may be closed mid-refresh, 0 or 1.
    pub leader_closes: u8,
    /// Broadcast leader: a waiting follower refreshes itself at this many own steps (0: never).
    pub follower_timeout: u8,
    /// K of `lp4_bounded_wait`: the own steps a tab may wait; its counter saturates at K + 1.
    pub max_wait_steps: u8,
    /// Authorization-server models: one sign-in per browser, or one per tab (C08).
    pub logins: Logins,
    /// What a tab does with a refused (4xx) refresh, in order.
    pub on_refused: Vec<Reaction>,
    /// What a tab does with a failed (5xx) refresh, in order.
    pub on_server_error: Vec<Reaction>,
    /// What the other tabs do when a tab clears the shared stored token.
    pub on_stored_token_cleared: super::policy::ClearedListener,
    /// What a tab does with a refresh answered 2xx, in order (the preset of the mode and
    /// storage unless the model file lists them: [`super::policy::default_on_ok`]).
    pub on_ok: Vec<OkReaction>,
    /// How a tab's sign-out tells the other tabs (`browser.sign_out_notice`; [`signout_notice`]).
    pub sign_out_notice: super::policy::SignOutNotice,
    /// What a tab does when another tab's sign-out notice reaches it (`browser.on_sign_out_notice`).
    pub on_sign_out_notice: super::policy::SignOutNoticeReaction,
    /// What a tab the notice logged out does with its refresh's later 2xx
    /// (`browser.on_ok_after_sign_out_notice`).
    pub on_ok_after_sign_out_notice: super::policy::OkAfterSignOutNotice,
    /// What the other tabs do when a tab writes a new token to the shared storage.
    pub on_stored_token_written: WrittenListener,
    /// K of the `retry` reaction: retries each tab may send for refreshes answered with an
    /// error, a count.
    pub retry_limit: u8,
    /// Ordinary calls each tab may make with its access token (`browser.calls_per_tab`).
    pub calls: u8,
    /// A call answered 2xx puts the access token it presented back into the tab
    /// (`browser.on_call_ok: ["store-echoed-access-token"]`).
    pub call_ok_stores_echo: bool,
    /// The authorization server keeps access tokens: tabs hold them and calls present them.
    pub access_tokens: bool,
    /// A sign-out presents the tab's access token (`protocol.sign_out.presents`
    /// `access_token`), not its refresh token.
    pub sign_out_access: bool,
    /// A refresh presents the tab's access token beside its refresh token
    /// (`protocol.refresh.presents: ["refresh_token", "access_token"]`).
    pub refresh_access: bool,
    /// The attacker also makes ordinary calls with the access tokens it copied
    /// (`attacker.uses_access_tokens`).
    pub attacker_calls: bool,
    /// Independent requesters per tab, 1 to [`requesters::MAX_REQUESTERS`] (1: the tab alone).
    pub requesters: u8,
    /// Reloads each tab may make while its refresh is in flight (0: none).
    pub reloads: u8,
    /// What requesters 2 to N of a tab do with a refused (4xx) refresh, in order
    /// (`browser.on_requester_refused`; by default the tab's `on_refused`).
    pub on_requester_refused: Vec<Reaction>,
    /// What requesters 2 to N of a tab do with a 2xx, in order (`browser.on_requester_ok`; by
    /// default the tab's `on_ok`; empty: they store nothing).
    pub on_requester_ok: Vec<OkReaction>,
    /// What requesters 2 to N of a tab do with a failed (5xx) refresh, in order
    /// (`browser.on_requester_server_error`; by default the tab's `on_server_error`).
    pub on_requester_server_error: Vec<Reaction>,
    /// What a tab does when an ordinary call is refused (4xx), in order
    /// (`browser.on_call_refused`; by default the refresh's `on_refused`).
    pub on_call_refused: Vec<Reaction>,
    /// What a tab does when an ordinary call fails with a 5xx, in order
    /// (`browser.on_call_server_error`; by default the refresh's `on_server_error`).
    pub on_call_server_error: Vec<Reaction>,
    /// `browser.call_refresh_margin`, N ticks: a tab whose access token's `exp` is less than
    /// its clock's `now + N` (or that holds none) refreshes before it sends a call. `None`:
    /// it sends the access token it holds, whatever its expiry.
    pub call_refresh_margin: Option<Tick>,
    /// `time.access_token_ttl`, in ticks: the sign-in access token's `exp` (it is issued at
    /// tick 0), which a tab with `call_refresh_margin` knows from the sign-in.
    pub access_ttl: Tick,
    /// `browser.follow_up`: when a tab sends its follow-up and which token it carries (the
    /// handler is always `sign_out`); `None` without the field.
    pub follow_up: Option<(super::policy::FollowUpAfter, super::policy::FollowUpToken)>,
    /// `browser.refresh_triggers`: when each requester (0: the tab itself) starts a refresh
    /// ([`triggers`]); empty without the field (every requester at any time).
    pub refresh_triggers: Vec<super::policy::RefreshTrigger>,
    /// `browser.tab_settings`: each tab's budget and triggers resolved, one entry per tab
    /// ([`tab_settings::resolve`]); empty without the field (every tab has the browser's).
    pub tab_settings: Vec<tab_settings::TabCfg>,
    /// `browser.single_flight`: a tab's requesters share one refresh in flight (each tab's own
    /// `tab_settings[t].single_flight` overrides it; [`single_flight`]).
    pub single_flight: bool,
    /// `browser.sign_out_takes_lock`: a sign-out takes the Web Lock its tab's refreshes take
    /// ([`signout_lock`]).
    pub sign_out_takes_lock: bool,
    /// `browser.sign_out_request`: whether the user's sign-out sends a request, or clears the
    /// client's session locally and tells the server nothing ([`BrowserState::start_sign_out`]).
    pub sign_out_request: super::policy::SignOutRequest,
}

impl BrowserCfg {
    /// Whether a tab may send a request to the `sign_out` handler outside a sign-out: a
    /// follow-up (`browser.follow_up`) or the reaction `sign-out-request` to a failed refresh.
    pub fn sends_follow_ups(&self) -> bool {
        self.follow_up.is_some()
            || self.on_refused.contains(&Reaction::SignOutRequest)
            || self.on_server_error.contains(&Reaction::SignOutRequest)
    }

    /// Whether a tab's refresh requests carry its refresh round
    /// ([`requesters::round_address`]): with retries or aborts, an answer to an abandoned
    /// request must not be taken for a later one's.
    pub fn rounds(&self) -> bool {
        self.retries > 0 || self.aborts > 0
    }

    /// Whether a tab reads the browser's clock (the freshness check, `call_refresh_margin`,
    /// the expiry re-check inside the lock, or a retry timeout of N ticks), so that the clock
    /// ticks.
    pub fn reads_browser_clock(&self) -> bool {
        self.freshness_check
            || self.call_refresh_margin.is_some()
            || self.lock_granted == LockGranted::SkipIfStoredSessionFresh
            || self.retry_after_ticks.is_some()
            || self.token_change_wait.is_some()
            || self.lock_wait_ticks.is_some()
            || self.refreshes_on_expiry()
    }

    /// Whether tab `t` leads the refreshes ([`Coordination::BroadcastLeader`] only).
    pub fn is_leader(&self, t: TabIx) -> bool {
        match self.leader_election {
            LeaderElection::Single => t == 0,
            LeaderElection::Visibility => true,
        }
    }
}

/// What one reaction of a tab's list did with its refresh's error answer
/// ([`BrowserState::refusal_trail`]), in the order it ran: the trace's words for the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ran {
    /// `clear-stored-token`, `clear-cookie` or `clear-shared-storage` ran; `true` if there was
    /// something to clear. The list goes on.
    Cleared(Reaction, bool),
    /// `ignore-if-token-changed` found another token where the tab keeps it and adopted it:
    /// the tab stays signed in (the list ends).
    Adopted(Token),
    /// `ignore-if-token-changed` or `retry-with-stored-token` read the token where the tab
    /// keeps it and found the one the refused refresh sent (`Some`), or none: the list goes on.
    FoundSame(Reaction, Option<Token>),
    /// `retry-with-stored-token` (the stored token changed) or `retry` sent the refresh again
    /// with this token (the list ends).
    SentAgain(Reaction, Option<Token>),
    /// `retry` had no retry left (`browser.retry_limit`): the list goes on.
    NoRetryLeft,
    /// `keep-going`: the tab stays signed in with what it holds (the list ends).
    KeptGoing,
    /// `log-out`, or the end of the list: the tab is logged out.
    LoggedOut,
    /// `sign-out-request` sent the sign-out request with this refresh token (where the tab
    /// keeps it now; `None`: it holds none), or, `false`, sent nothing because the tab's
    /// earlier one is still in flight. The list goes on.
    SentSignOut(Option<Token>, bool),
}

/// The browser actor's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BrowserState {
    /// The tabs, indexed by [`TabIx`], each with its content hash once sealed
    /// ([`super::hashed`]).
    pub tabs: Vec<Hashed<Tab>>,
    /// The cookie jar, shared by every tab.
    pub jar: Jar,
    /// json mode with shared storage: the `localStorage` refresh token.
    pub storage: Option<Token>,
    /// With `shared_storage_holds: "session"`: the access token and expiry stored with
    /// [`Self::storage`] (`None` when the storage is empty, and always without the field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_session: Option<StoredSession>,
    /// PR 22457: the tab holding the lock (Web Locks), or owning the localStorage key.
    pub lock: Option<TabIx>,
    /// PR 22457 Web Locks: tabs waiting for the lock, in request order.
    pub queue: Vec<TabIx>,
    /// Web Locks: lock-holder hangs that may still happen (C18): a count.
    pub hangs_left: u8,
    /// Broadcast leader: leader closes that may still happen: a count.
    pub closes_left: u8,
    /// Sign-outs the user may still start: a count.
    pub sign_outs_left: u8,
    /// The browser's clock, in ticks (only with the freshness check; else 0).
    pub now: Tick,
    /// The attacker, if the model has one.
    pub attacker: Option<Attacker>,
    /// What the user did.
    pub truth: GroundTruth,
    /// Ghost: some tab's refresh has been answered 2xx (for the sanity property).
    pub refreshed_ok: bool,
    /// Ghost: what the attacker can copy.
    pub held: Held,
    /// Where the device's sign-in during the run stands (`Done` for a device signed in
    /// before the run).
    #[serde(skip_serializing_if = "SignInStage::is_done")]
    pub sign_in: SignInStage,
    /// Sign-ins again the user may still make on this device (`browser.re_sign_ins`): a
    /// count, always 0 without the field (so the field adds no state).
    #[serde(skip_serializing_if = "is_zero_u8")]
    pub re_sign_ins_left: u8,
    /// A follow-up a reaction has just decided to send (`browser.follow_up`), taken by the
    /// actor in the same step ([`Self::take_follow_up`]): always `None` in a stored state.
    #[serde(skip)]
    pub follow_up_out: Option<Send>,
}

/// A new browser state keeps the content hash of each of its tabs, so that its own content
/// hash, and its children's, hash an unchanged tab as one word ([`super::hashed`]).
impl Seal for BrowserState {
    fn seal(&mut self) {
        for tab in &mut self.tabs {
            tab.seal();
        }
    }
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

/// A device's sign-in during the run (`browser.sign_ins`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum SignInStage {
    /// Signed in (before the run, or its sign-in was answered).
    Done,
    /// Not signed in yet: the user may sign in at any moment.
    Pending,
    /// The sign-in request is on its way or being served.
    Sent,
}

impl SignInStage {
    /// Signed in.
    pub fn is_done(&self) -> bool {
        *self == SignInStage::Done
    }
}

/// A request a browser event sends: which endpoint, from whom, with what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Send {
    /// A refresh presenting `cred`; `access` is the access token the tab holds when the
    /// protocol's refresh presents it beside the refresh token, else `None`.
    Refresh {
        tab: TabIx,
        cred: Credentials,
        retry: bool,
        access: Option<super::oauth::AccessId>,
    },
    UsersMe {
        tab: TabIx,
        cred: Credentials,
    },
    Logout {
        tab: TabIx,
        cred: Credentials,
        access: Option<super::oauth::AccessId>,
    },
    Call {
        tab: TabIx,
        access: Option<super::oauth::AccessId>,
    },
    /// A follow-up (`browser.follow_up`) presenting refresh token `token`.
    FollowUp {
        tab: TabIx,
        token: Option<Token>,
    },
}

impl BrowserState {
    /// A browser signed in at tick 0 in `cfg.mode`: session mode holds `jwt` in the jar,
    /// cookie mode `token` in the refresh cookie, json mode `token` in every tab's storage (or
    /// the shared storage); with [`Logins::PerTab`] tab `t` holds `token + t`. Every tab is
    /// idle and has not refreshed yet.
    pub fn signed_in(cfg: &BrowserCfg, jwt: SessionJwt, token: Token) -> Self {
        let per_tab =
            cfg.mode == AuthMode::Json && matches!(cfg.storage, JsonStorage::PerTab | JsonStorage::SharedLagging);
        let tab = Tab {
            status: TabStatus::Idle,
            refreshes_left: cfg.refreshes,
            requests_left: cfg.requests,
            token: per_tab.then_some(token),
            expiry: None,
            retries_left: cfg.retries,
            sent_at: None,
            read: None,
            queued_with: None,
            queued_at: None,
            inbox: None,
            waited: 0,
            reaction_retries_left: cfg.retry_limit,
            later_stage: false,
            access: None,
            calls_left: cfg.calls,
            call: None,
            follow_up: false,
            requesters: requesters::initial(cfg.requesters, cfg.refreshes),
            reloads_left: cfg.reloads,
            page: 0,
            round: 0,
            aborts_left: cfg.aborts,
            crashes_left: cfg.crashes,
            notice: false,
            told_signed_out: false,
            sign_out_queued: false,
        };
        let jar = Jar {
            session: (cfg.mode == AuthMode::Session).then_some(jwt),
            refresh: (cfg.mode == AuthMode::Cookie).then_some(token),
        };
        let per_tab_login = |t: u8| if cfg.logins == Logins::PerTab { token + t } else { token };
        // The sign-in's access token: family `f`'s is access token `f + 1`, as its first
        // refresh token is token `f + 1`.
        // A device that signs in during the run holds none until its sign-in is answered.
        let access = |t: u8| (cfg.access_tokens && !cfg.signs_in_during_run).then_some(per_tab_login(t));
        // A tab that refreshes before a call knows when its sign-in access token expires
        // (`expires_in` of the sign-in's token response); otherwise the field stays as it was.
        let expiry = if cfg.call_refresh_margin.is_some() || cfg.refreshes_on_expiry() {
            Some(cfg.access_ttl)
        } else {
            tab.expiry
        };
        let mut b = BrowserState {
            tabs: (0..cfg.tabs)
                .map(|t| {
                    Hashed::new(Tab {
                        token: tab.token.map(|_| per_tab_login(t)),
                        access: access(t),
                        expiry,
                        refreshes_left: cfg.refreshes_of(t),
                        requesters: requesters::initial(cfg.requesters, cfg.refreshes_of(t)),
                        ..tab
                    })
                })
                .collect(),
            jar,
            storage: (cfg.mode == AuthMode::Json
                && matches!(cfg.storage, JsonStorage::Shared | JsonStorage::SharedLagging))
            .then_some(token),
            // The sign-in's token response is the first stored session: family 1's access
            // token (token 1's) and its `exp`, `access_token_ttl` (issued at tick 0).
            stored_session: (cfg.storage_holds == StorageHolds::Session)
                .then(|| StoredSession { access: access(0), expiry: Some(cfg.access_ttl) }),
            lock: None,
            queue: vec![],
            hangs_left: cfg.lock_hangs,
            closes_left: cfg.leader_closes,
            sign_outs_left: cfg.sign_outs,
            now: 0,
            attacker: cfg.attacker.as_ref().map(|(n, _)| Attacker {
                attempts_left: *n,
                busy: false,
                redeemed_ok: false,
                has_read: false,
            }),
            truth: GroundTruth { signed_in: !cfg.signs_in_during_run, signed_out: false },
            refreshed_ok: false,
            held: Held::default(),
            sign_in: if cfg.signs_in_during_run { SignInStage::Pending } else { SignInStage::Done },
            re_sign_ins_left: cfg.re_sign_ins,
            follow_up_out: None,
        };
        // The attacker of a device that signs in during the run copies what its sign-in hands
        // out ([`Self::on_sign_in_reply`]), not the token reserved for it.
        if b.records_held(cfg) && !cfg.signs_in_during_run {
            match cfg.mode {
                AuthMode::Session => b.held.add_jwt(jwt),
                AuthMode::Json | AuthMode::Cookie => (0..cfg.tabs).for_each(|t| b.held.add_token(per_tab_login(t))),
            }
            if cfg.attacker_calls {
                (0..cfg.tabs).filter_map(access).for_each(|a| b.held.add_access(a));
            }
        }
        b
    }

    /// The user signs in on this device during the run: the sign-in request is sent (from the
    /// first tab). False (nothing happens) unless the device has yet to sign in, or is signed
    /// in, has not signed out and has a sign-in again left (`browser.re_sign_ins`). A sign-in
    /// again ends the device's session by the user's own action: until it is answered the
    /// ground truth says the device is not signed in.
    pub fn start_sign_in(&mut self, cfg: &BrowserCfg) -> bool {
        match self.sign_in {
            SignInStage::Pending => {}
            SignInStage::Done if self.can_sign_in_again(cfg) => {
                self.re_sign_ins_left -= 1;
                self.truth.signed_in = false;
            }
            _ => return false,
        }
        self.sign_in = SignInStage::Sent;
        true
    }

    /// The user may sign in again on this device now (`browser.re_sign_ins`): it is signed in,
    /// no sign-in is in flight, the user has not signed out and has one left. A password change
    /// (`browser.re_sign_in_is: "password-change"`) is an authenticated request made from the
    /// first tab: that tab must still hold the session (not logged out or closed), or there is
    /// no session to change the password of (or to keep, with `session_kept`).
    pub fn can_sign_in_again(&self, cfg: &BrowserCfg) -> bool {
        self.sign_in == SignInStage::Done
            && self.re_sign_ins_left > 0
            && !self.truth.signed_out
            && (cfg.re_sign_in_is != super::policy::ReSignIn::PasswordChange
                || self.tabs.first().is_some_and(|t| !matches!(t.status, TabStatus::LoggedOut | TabStatus::Closed)))
    }

    /// The sign-in's answer: a 2xx signs the device in. Its tabs (their storage, the shared
    /// storage or the jar, by mode) already hold the token reserved for the sign-in, which the
    /// answer carries; the user is signed in from now on. An error leaves the device signed
    /// out, and the user may sign in again.
    ///
    /// With `browser.re_sign_ins` the answer's token goes where the mode keeps it (the jar's
    /// refresh cookie, the shared storage, every tab's own copy), and every tab of the device
    /// is signed in with it: a tab on the login page is idle again (the user signed in there).
    /// An error to a sign-in again (the server ended nothing it did not say) leaves the device
    /// with the session it held: signed in again for the ground truth, so a later logout by a
    /// race is still spurious.
    pub fn on_sign_in_reply(&mut self, cfg: &BrowserCfg, reply: Reply) {
        if self.sign_in != SignInStage::Sent {
            return;
        }
        match reply {
            // A password change answered `session_kept`: 200 with no token, and the device
            // keeps the session it holds (its tabs keep their tokens).
            Reply::Ok { token: None, .. } if cfg.re_sign_ins > 0 => {
                self.sign_in = SignInStage::Done;
                self.truth.signed_in = true;
            }
            Reply::Ok { token, access, expires_at, .. } => {
                self.sign_in = SignInStage::Done;
                self.truth.signed_in = true;
                self.take_signed_in_access(cfg, access, expires_at);
                if self.copies_for_attacker(cfg) {
                    // A first sign-in during the run (a sign-in again ends the copying).
                    token.into_iter().for_each(|t| self.held.add_token(t));
                    access.filter(|_| cfg.attacker_calls).into_iter().for_each(|a| self.held.add_access(a));
                }
                if cfg.re_sign_ins > 0 {
                    // The old session's token, where the mode keeps it, as the first tab
                    // (where the sign-in starts) reads it.
                    let old = self.stored_token(cfg, 0);
                    self.take_signed_in_token(cfg, token);
                    self.follow_up(cfg, 0, FollowUpAfter::SignInAgain, old, token);
                }
            }
            Reply::SignedOut | Reply::Err(_) if cfg.re_sign_ins > 0 => {
                self.sign_in = SignInStage::Done;
                self.truth.signed_in = true;
            }
            Reply::SignedOut | Reply::Err(_) => self.sign_in = SignInStage::Pending,
        }
    }

    /// Tab `t`'s reaction of kind `after` has run, replacing refresh token `old` with `new`:
    /// with `browser.follow_up` of that kind it sends its follow-up, carrying `old` or `new`,
    /// unless one is already in flight (one per tab). The request waits in
    /// [`Self::follow_up_out`] for the actor to send it in the same step.
    fn follow_up(&mut self, cfg: &BrowserCfg, t: TabIx, after: FollowUpAfter, old: Option<Token>, new: Option<Token>) {
        let Some((when, presents)) = cfg.follow_up else { return };
        if when != after || self.tabs[t as usize].follow_up {
            return;
        }
        let token = match presents {
            FollowUpToken::Superseded => old,
            FollowUpToken::New => new,
        };
        self.tabs[t as usize].follow_up = true;
        self.follow_up_out = Some(Send::FollowUp { tab: t, token });
    }

    /// The reaction `sign-out-request` of tab `t`: the protocol's sign-out request presenting
    /// refresh token `token`, served as a revocation (no user signs out), unless the tab's
    /// earlier one is still in flight (one per tab, as a follow-up). It waits in
    /// [`Self::follow_up_out`] for the actor to send it in the same step. Returns whether it
    /// was sent.
    fn sign_out_request(&mut self, t: TabIx, token: Option<Token>) -> bool {
        if self.tabs[t as usize].follow_up {
            return false;
        }
        self.tabs[t as usize].follow_up = true;
        self.follow_up_out = Some(Send::FollowUp { tab: t, token });
        true
    }

    /// The follow-up a reaction of this step decided to send, if any ([`Self::follow_up_out`]).
    pub fn take_follow_up(&mut self) -> Option<Send> {
        self.follow_up_out.take()
    }

    /// Tab `t` receives its follow-up's answer: whatever it says, the app ignores it; the tab
    /// may send another follow-up from now on.
    pub fn on_follow_up_reply(&mut self, t: TabIx) {
        if let Some(tab) = self.tabs.get_mut(t as usize) {
            tab.follow_up = false;
        }
    }

    /// A sign-in's token `t` goes where the mode keeps the refresh token, and every tab on the
    /// login page is idle again.
    fn take_signed_in_token(&mut self, cfg: &BrowserCfg, t: Option<Token>) {
        match cfg.mode {
            AuthMode::Cookie => self.jar.refresh = t,
            AuthMode::Json if cfg.storage == JsonStorage::Shared => self.storage = t,
            AuthMode::Json => self.tabs.iter_mut().for_each(|tab| tab.token = t),
            AuthMode::Session => {}
        }
        for tab in self.tabs.iter_mut().filter(|tab| tab.status == TabStatus::LoggedOut) {
            tab.status = TabStatus::Idle;
        }
    }

    /// The sign-in's access token `access` (expiring at `expires_at`), when the store keeps
    /// access tokens: every tab of the device holds it from now on (the sign-in's token
    /// response, as for its refresh token), and the stored session is that response.
    fn take_signed_in_access(
        &mut self,
        cfg: &BrowserCfg,
        access: Option<super::oauth::AccessId>,
        expires_at: Option<Tick>,
    ) {
        let Some(a) = access else { return };
        for tab in self.tabs.iter_mut() {
            tab.access = Some(a);
            if cfg.call_refresh_margin.is_some() {
                tab.expiry = expires_at;
            }
        }
        if cfg.storage_holds == StorageHolds::Session {
            self.stored_session = Some(StoredSession { access: Some(a), expiry: expires_at });
        }
    }

    /// The attacker copies what the device holds now: there is an attacker, and the user has
    /// not started a sign-in again on this device (`browser.re_sign_ins`). The theft happened
    /// before the user's sign-in again (say, a password change made because of it): what the
    /// device is handed from then on is out of the attacker's reach; it keeps what it copied
    /// and, with `attacker.keeps_tokens`, what its own redemptions are answered with.
    fn copies_for_attacker(&self, cfg: &BrowserCfg) -> bool {
        self.records_held(cfg) && self.re_sign_ins_left == cfg.re_sign_ins
    }

    /// The refresh token tab `t` would present now, by mode.
    fn refresh_cred(&self, cfg: &BrowserCfg, t: TabIx) -> Credentials {
        let token = match cfg.mode {
            AuthMode::Session => None,
            AuthMode::Cookie => self.jar.refresh,
            AuthMode::Json => match cfg.storage {
                JsonStorage::PerTab | JsonStorage::SharedLagging => self.tabs[t as usize].token,
                JsonStorage::Shared => self.storage,
            },
        };
        Credentials { mode: cfg.mode, cookie: self.jar.session, token, access: None }
    }

    /// The refresh token tab `t` would present now: the jar's cookie (cookie mode), the shared
    /// storage's entry, or its own copy (json mode); `None` in session mode or when it holds
    /// none.
    pub fn stored_token(&self, cfg: &BrowserCfg, t: TabIx) -> Option<Token> {
        self.refresh_cred(cfg, t).token
    }

    /// The refresh token tab `t` would present now, in every mode (session mode: the jar
    /// cookie's `session` claim); `None` when it holds none.
    pub fn presented_now(&self, cfg: &BrowserCfg, t: TabIx) -> Option<Token> {
        self.refresh_cred(cfg, t).presented()
    }

    /// Tab `t` sends its refresh now, with the jar's (or storage's) current token.
    fn send_refresh(&mut self, cfg: &BrowserCfg, t: TabIx) -> Send {
        if cfg.refresh_access {
            // A refresh that presents the access token reads the session to send it.
            self.load_stored_session(cfg, t);
        }
        let mut cred = self.refresh_cred(cfg, t);
        if self.tabs[t as usize].status == TabStatus::TokenRead {
            cred.token = self.tabs[t as usize].read.take(); // read in a step of its own
        } else if let Some(tok) = self.tabs[t as usize].read.take() {
            cred.token = Some(tok); // read before the lock (C20)
        }
        // Ghost (LP2): a tab still waiting for an answer that presents the token it sent
        // before re-sends a refresh whose answer it never got.
        let retry = self.tabs[t as usize].status == TabStatus::Refreshing { sent: cred.presented() }
            && cred.presented().is_some();
        self.tabs[t as usize].status = TabStatus::Refreshing { sent: cred.presented() };
        self.tabs[t as usize].waited = 0; // whatever it waited for, it waits no more
        if cfg.retry_after_ticks.is_some() {
            self.tabs[t as usize].sent_at = Some(self.now); // its timeout starts now
        }
        let tab = if cfg.rounds() { requesters::round_address(t, self.tabs[t as usize].round) } else { t };
        Send::Refresh { tab, cred, retry, access: self.refresh_access(cfg, t) }
    }

    /// The access token tab `t`'s refresh presents beside its refresh token: the one it holds
    /// when the protocol's refresh presents both ([`BrowserCfg::refresh_access`]), else `None`.
    /// With `shared_storage_holds: "session"` the library reads the stored session to send
    /// both, so it is the stored access token (none once the entry is removed).
    pub fn refresh_access(&self, cfg: &BrowserCfg, t: TabIx) -> Option<super::oauth::AccessId> {
        if !cfg.refresh_access {
            return None;
        }
        if cfg.storage_holds == StorageHolds::Session {
            return self.stored_session.filter(|_| self.storage.is_some()).and_then(|s| s.access);
        }
        self.tabs[t as usize].access
    }

    /// The credentials of an ordinary request: the jar's cookie (session mode) or the tab's
    /// access token (json and cookie mode).
    fn request_cred(&self, cfg: &BrowserCfg, t: TabIx) -> Credentials {
        let access = if cfg.mode == AuthMode::Session { None } else { self.tabs[t as usize].expiry };
        Credentials { mode: cfg.mode, cookie: self.jar.session, token: None, access }
    }

    /// Tab `t` is loaded or returns from idle: the app's `refresh()`. Returns the request sent,
    /// if any; `None` if the tab cannot start one now or now waits for the lock.
    pub fn start_refresh(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        let tab = &mut self.tabs[t as usize];
        if tab.status != TabStatus::Idle || tab.refreshes_left == 0 {
            return None;
        }
        tab.refreshes_left -= 1;
        // PR 22464 (`app/src/auth.ts`, 10.11.1+): `if (accessTokenExpiry && now <
        // accessTokenExpiry - 10 s) { await readMe(); return; }`.
        if cfg.freshness_check {
            if let Some(e) = tab.expiry {
                if self.now.saturating_add(cfg.margin) < e {
                    tab.status = TabStatus::CheckingFresh;
                    return Some(Send::UsersMe { tab: t, cred: self.request_cred(cfg, t) });
                }
            }
        }
        self.begin_refresh(cfg, t)
    }

    /// Idle tab `t`'s refresh path, once it has decided to refresh (its own `refresh()`, or a
    /// refresh before or after an ordinary call): with the tab's coordination it sends the
    /// refresh now, or queues for the lock, polls the lock key, or waits for the leader.
    /// Returns the request sent, if any.
    fn begin_refresh(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        match cfg.coordination {
            Coordination::None => self.send_or_read(cfg, t),
            Coordination::WebLocks => {
                if self.lock.is_none() {
                    if cfg.lock_granted == LockGranted::SkipIfStoredSessionFresh && self.stored_session_fresh(cfg) {
                        // It takes the lock, reads the stored session, finds it fresh and
                        // releases the lock at once.
                        self.adopt_stored_session(cfg, t);
                        return None;
                    }
                    if self.finds_no_session(cfg, t) {
                        return None; // it took the free lock, read no session and sends nothing
                    }
                    self.lock = Some(t);
                    self.send_or_read(cfg, t)
                } else {
                    self.queue.push(t);
                    if cfg.read_before_lock {
                        self.tabs[t as usize].read = self.refresh_cred(cfg, t).token;
                    }
                    if cfg.lock_granted == LockGranted::SkipIfTokenChanged {
                        self.tabs[t as usize].queued_with = self.presented_now(cfg, t);
                    }
                    if cfg.lock_wait_ticks.is_some() {
                        self.tabs[t as usize].queued_at = Some(self.now);
                    }
                    self.tabs[t as usize].status = TabStatus::WaitingLock;
                    None
                }
            }
            Coordination::LocalStorage => {
                // `localStorage.getItem(key)`; the `setItem` is a separate step.
                self.tabs[t as usize].status =
                    if self.lock.is_none() { TabStatus::LockSeenFree } else { TabStatus::WaitingLock };
                None
            }
            Coordination::BroadcastLeader if cfg.is_leader(t) => Some(self.send_refresh(cfg, t)),
            Coordination::BroadcastLeader => {
                self.tabs[t as usize].status = TabStatus::AwaitingBroadcast;
                None
            }
        }
    }

    /// Whether tab `t` waits (for the Web Lock, or for a leader's broadcast) on a party that
    /// cannot end the wait by itself: the lock's holder is hung (C18); or no leader will
    /// broadcast to it, because no message to it is pending and every leader is closed,
    /// logged out, or idle with no refresh left to make. A holder or leader whose refresh is
    /// in flight can still end the wait: the network delivers every message eventually.
    pub fn blocked_for_good(&self, cfg: &BrowserCfg, t: TabIx) -> bool {
        let tab = &self.tabs[t as usize];
        match tab.status {
            TabStatus::WaitingLock => self.lock.is_some_and(|h| self.tabs[h as usize].status == TabStatus::Hung),
            TabStatus::AwaitingBroadcast => {
                tab.inbox.is_none()
                    && self.tabs.iter().enumerate().filter(|&(u, _)| cfg.is_leader(u as TabIx)).all(|(_, l)| {
                        match l.status {
                            TabStatus::Closed | TabStatus::LoggedOut | TabStatus::Hung => true,
                            TabStatus::Idle => l.refreshes_left == 0,
                            _ => false,
                        }
                    })
            }
            _ => false,
        }
    }

    /// One own step of tab `t` while it waits and is blocked for good
    /// ([`Self::blocked_for_good`]): its event loop runs (a timer of the SDK, a user action)
    /// and finds it still waiting, so its counter `waited` goes up by one, saturating at
    /// `max_wait_steps + 1`. A follower with `follower_timeout` T gives up at its T-th such
    /// step instead and refreshes itself with the token it holds (a re-election: it leads this
    /// refresh), which is returned. Returns whether anything changed, and the request sent.
    pub fn wait_step(&mut self, cfg: &BrowserCfg, t: TabIx) -> (bool, Option<Send>) {
        if !self.blocked_for_good(cfg, t) {
            return (false, None);
        }
        let tab = &mut self.tabs[t as usize];
        let timeout = cfg.follower_timeout;
        if tab.status == TabStatus::AwaitingBroadcast && timeout > 0 && tab.waited + 1 >= timeout {
            return (true, Some(self.send_refresh(cfg, t)));
        }
        // The counter must reach K + 1 (the property's violation) and T - 1 (the timeout).
        if tab.waited >= cfg.max_wait_steps.saturating_add(1).max(timeout.saturating_sub(1)) {
            return (false, None);
        }
        tab.waited += 1;
        (true, None)
    }

    /// Broadcast leader: leader `t`, with its refresh in flight, is closed or frozen for good.
    /// Returns whether it changed anything.
    pub fn close_leader(&mut self, cfg: &BrowserCfg, t: TabIx) -> bool {
        let tab = &mut self.tabs[t as usize];
        let refreshing = matches!(tab.status, TabStatus::Refreshing { .. });
        if cfg.coordination != Coordination::BroadcastLeader
            || !cfg.is_leader(t)
            || !refreshing
            || self.closes_left == 0
        {
            return false;
        }
        self.closes_left -= 1;
        tab.status = TabStatus::Closed;
        tab.inbox = None;
        true
    }

    /// Broadcast leader: the pending leader messages reach tab `t`. It stores the newest token
    /// (its own copy: the SDK's per-tab storage, or its view of lagging storage) and expiry.
    /// Each message is one renewal the tab no longer needs to make: a waiting follower's wait
    /// ends (the renewal it waited for), and every other message uses up one of its refreshes
    /// (the tab's expiry timer restarts from the new token, so the refresh it would have
    /// started then does not happen). A closed or logged-out tab drops them. Returns whether
    /// it changed anything.
    pub fn deliver_broadcast(&mut self, cfg: &BrowserCfg, t: TabIx) -> bool {
        let tab = &mut self.tabs[t as usize];
        let Some(msg) = tab.inbox.take() else { return false };
        if matches!(tab.status, TabStatus::Closed | TabStatus::LoggedOut) {
            return true;
        }
        if let Some(tok) = msg.token {
            if matches!(cfg.storage, JsonStorage::PerTab | JsonStorage::SharedLagging) {
                tab.token = Some(tok);
            }
        }
        tab.expiry = msg.expiry;
        let mut renewals = msg.count;
        if tab.status == TabStatus::AwaitingBroadcast {
            tab.status = TabStatus::Idle;
            tab.waited = 0;
            renewals -= 1;
        }
        tab.refreshes_left = tab.refreshes_left.saturating_sub(renewals);
        true
    }

    /// PR 22457 localStorage fallback: a polling tab reads the key again. Returns whether it
    /// changed anything (it did if it found the key free).
    pub fn poll_lock(&mut self, t: TabIx) -> bool {
        if self.tabs[t as usize].status == TabStatus::WaitingLock && self.lock.is_none() {
            self.tabs[t as usize].status = TabStatus::LockSeenFree;
            true
        } else {
            false
        }
    }

    /// PR 22457 localStorage fallback: a tab that read the key free sets it (whatever it holds
    /// now) and refreshes.
    pub fn set_lock(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        if self.tabs[t as usize].status != TabStatus::LockSeenFree {
            return None;
        }
        self.lock = Some(t);
        Some(self.send_refresh(cfg, t))
    }

    /// Tab `t`, still waiting for its refresh's answer, gives up and sends the refresh again
    /// with the token it holds now (a client that never learnt the rotated token presents the
    /// old one again: `industry-policies.md` C19, audiobookshelf issue 5281,
    /// thephpleague/oauth2-server issue 1025). Returns the request, if it sent one.
    pub fn retry_refresh(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        let tab = &mut self.tabs[t as usize];
        if !matches!(tab.status, TabStatus::Refreshing { .. }) || tab.retries_left == 0 {
            return None;
        }
        tab.retries_left -= 1;
        Some(self.send_refresh(cfg, t))
    }

    /// Lagging shared storage: tab `t`'s view of `localStorage` catches up with the last write.
    /// Returns whether it changed.
    pub fn sync_storage(&mut self, t: TabIx) -> bool {
        let tab = &mut self.tabs[t as usize];
        if tab.token == self.storage {
            return false;
        }
        tab.token = self.storage;
        true
    }

    /// C18: tab `t`, holding the Web Lock with its refresh in flight, hangs for good. Returns
    /// whether it changed anything.
    pub fn hang(&mut self, t: TabIx) -> bool {
        let refreshing = matches!(self.tabs[t as usize].status, TabStatus::Refreshing { .. });
        if self.lock != Some(t) || !refreshing || self.hangs_left == 0 {
            return false;
        }
        self.hangs_left -= 1;
        self.tabs[t as usize].status = TabStatus::Hung;
        true
    }

    /// C18 with `steal: true` (supabase/supabase-js PR 2106): waiting tab `t` takes the lock
    /// from its holder, which keeps running, and refreshes now; with `lock_granted:
    /// "skip-if-token-changed"` it checks first ([`Self::grant`]) and, if it skips, releases
    /// the lock to the next waiter at once. Returns whether anything changed, and the request
    /// sent.
    pub fn steal_lock(&mut self, cfg: &BrowserCfg, t: TabIx) -> (bool, Option<Send>) {
        if self.tabs[t as usize].status != TabStatus::WaitingLock || self.lock.is_none() {
            return (false, None);
        }
        self.queue.retain(|&x| x != t);
        match self.grant(cfg, t) {
            Some(sent) => (true, Some(sent)),
            None if self.holds_read_token(t) => (true, None),
            None => (true, self.grant_next(cfg)),
        }
    }

    /// Web Locks: waiting tab `t` (already out of the queue) is granted the lock. With
    /// `lock_granted: "refresh"` it refreshes (returned). With `"skip-if-token-changed"`
    /// (double-checked locking, [`LockGranted::SkipIfTokenChanged`]) it first reads the token
    /// stored now: if it is some token other than the one it queued with, another tab
    /// refreshed while it waited, so it takes that token over, sends no refresh and is idle
    /// again (`None` is returned; the caller releases the lock); otherwise it refreshes.
    fn grant(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        self.tabs[t as usize].queued_at = None;
        if self.finds_no_session(cfg, t) {
            return None;
        }
        if let Some(sign_out) = self.grant_sign_out(cfg, t) {
            return Some(sign_out);
        }
        self.lock = Some(t);
        let queued_with = self.tabs[t as usize].queued_with.take();
        let skip = match cfg.lock_granted {
            LockGranted::Refresh => false,
            LockGranted::SkipIfTokenChanged => {
                let stored = self.presented_now(cfg, t);
                stored.is_some() && stored != queued_with
            }
            LockGranted::SkipIfStoredSessionFresh => self.stored_session_fresh(cfg),
        };
        if skip {
            self.adopt_stored_session(cfg, t);
            return None;
        }
        self.send_or_read(cfg, t)
    }

    /// Whether the stored session is fresh for [`LockGranted::SkipIfStoredSessionFresh`]: the
    /// shared storage holds a refresh token and an access token whose `exp` is at least the
    /// browser's `now + lock_recheck_margin` (auth0-spa-js `_getEntryFromCache`: an entry
    /// expiring within the leeway is not returned).
    pub fn stored_session_fresh(&self, cfg: &BrowserCfg) -> bool {
        let expiry = self.stored_session.filter(|_| self.storage.is_some()).and_then(|s| s.expiry);
        expiry.is_some_and(|e| e >= self.now.saturating_add(cfg.lock_recheck_margin))
    }

    /// Tab `t`, having taken the lock, sends no refresh: it is idle again with the session
    /// stored now (the token where its mode keeps it; with a stored session also the access
    /// token and expiry: [`Self::load_stored_session`]).
    fn adopt_stored_session(&mut self, cfg: &BrowserCfg, t: TabIx) {
        let tab = &mut self.tabs[t as usize];
        tab.status = TabStatus::Idle;
        tab.read = None;
        tab.waited = 0;
        self.load_stored_session(cfg, t);
    }

    /// With `shared_storage_holds: "session"`: tab `t`'s library reads its session from the
    /// shared storage, so the tab holds the stored access token and expiry (none when the
    /// storage is empty). Does nothing otherwise.
    pub fn load_stored_session(&mut self, cfg: &BrowserCfg, t: TabIx) {
        if cfg.storage_holds != StorageHolds::Session {
            return;
        }
        let s = self.stored_session.filter(|_| self.storage.is_some());
        let tab = &mut self.tabs[t as usize];
        tab.access = s.and_then(|s| s.access);
        tab.expiry = s.and_then(|s| s.expiry);
    }

    /// Web Locks: the holder releases the lock; the waiters are granted it in request order
    /// ([`Self::grant`]) until one refreshes (returned), or the queue is empty and the lock
    /// is free.
    fn grant_next(&mut self, cfg: &BrowserCfg) -> Option<Send> {
        while !self.queue.is_empty() {
            let next = self.queue.remove(0);
            if let Some(sent) = self.grant(cfg, next) {
                return Some(sent);
            }
            if self.holds_read_token(next) {
                return None; // it holds the lock and sends what it read in a later step
            }
        }
        self.lock = None;
        None
    }

    /// Tab `t` starts an ordinary request.
    pub fn start_request(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        let tab = &mut self.tabs[t as usize];
        if tab.status != TabStatus::Idle || tab.requests_left == 0 {
            return None;
        }
        tab.requests_left -= 1;
        tab.status = TabStatus::Requesting;
        Some(Send::UsersMe { tab: t, cred: self.request_cred(cfg, t) })
    }

    /// The user signs out in tab `t`: `POST /auth/logout {mode}` with the tab's token, and
    /// with the access token it holds when the sign-out presents it ([`BrowserCfg::sign_out_access`]).
    /// With `browser.sign_out_request: "none"` the client clears its session at once, as at a
    /// sign-out's answer ([`Self::on_sign_out_reply`]), and sends nothing.
    pub fn start_sign_out(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        if self.tabs[t as usize].status != TabStatus::Idle || self.sign_outs_left == 0 {
            return None;
        }
        self.sign_outs_left -= 1;
        self.truth.signed_out = true;
        if cfg.sign_out_request == super::policy::SignOutRequest::None {
            // Local only: the client clears what it holds and sends nothing.
            self.on_sign_out_reply(t);
            return None;
        }
        let cred = self.refresh_cred(cfg, t);
        let access = self.tabs[t as usize].access.filter(|_| cfg.sign_out_access);
        self.tabs[t as usize].status = TabStatus::SigningOut;
        let send = Send::Logout { tab: t, cred, access };
        if cfg.sign_out_takes_lock {
            if self.lock.is_none() && self.finds_no_session(cfg, t) {
                return None; // it took the free lock, read no session and sends nothing
            }
            return self.sign_out_under_lock(t, send);
        }
        Some(send)
    }

    /// Tab `t` receives its refresh's response: a 2xx stores the new token (the jar for every
    /// tab, or the storage) and the expiry; anything else logs this tab out (no server call).
    /// Then the lock, if the tab holds it, is released; a Web Locks waiter is granted it and
    /// refreshes, which is returned (with `lock_granted: "skip-if-token-changed"`, waiters
    /// that find the stored token changed skip and pass it on: [`Self::grant_next`]).
    pub fn on_refresh_reply(&mut self, cfg: &BrowserCfg, t: TabIx, reply: Reply) -> Option<Send> {
        // A client that retries has abandoned its earlier attempt: it takes the first answer
        // while it waits and drops any answer that comes after (as does one that aborted).
        if cfg.rounds() {
            if !matches!(self.tabs[t as usize].status, TabStatus::Refreshing { .. }) {
                return None;
            }
            // The answer taken ends the round: a later answer to this round's requests is
            // dropped even once the tab refreshes again ([`requesters::round_address`]).
            let tab = &mut self.tabs[t as usize];
            tab.round = (tab.round + 1) & 15;
            tab.sent_at = None; // answered: no timeout runs
        }
        if matches!(self.tabs[t as usize].status, TabStatus::Hung | TabStatus::Closed) {
            return None; // the hung callback, or the closed tab, never sees it
        }
        if self.tabs[t as usize].told_signed_out && !self.take_answer_after_notice(cfg, t, &reply) {
            return None; // a sign-out notice logged the tab out while this refresh was in flight
        }
        if cfg.calls > 0 && self.tabs[t as usize].status == TabStatus::LoggedOut {
            return None; // a call's refusal logged the tab out while its refresh was in flight
        }
        match reply {
            Reply::Ok { set_cookie, token, expires_at, .. } if t < cfg.ssr_paths => {
                // A server-side render path: the Set-Cookie is swallowed (C05, C06).
                let _ = (set_cookie, token);
                self.take_expiry(cfg, t, expires_at, false);
                self.refreshed_ok = true;
                self.tabs[t as usize].status = TabStatus::Idle;
            }
            Reply::Ok { expires_at, .. } if self.tabs[t as usize].later_stage => {
                // A later render stage (a Server Component) cannot set cookies: its 2xx is
                // swallowed, as a render path's is.
                self.tabs[t as usize].later_stage = false;
                self.tabs[t as usize].expiry = expires_at;
                self.refreshed_ok = true;
                self.tabs[t as usize].status = TabStatus::Idle;
            }
            Reply::Ok { set_cookie, token, expires_at, access } => {
                let sent = match self.tabs[t as usize].status {
                    TabStatus::Refreshing { sent } => sent,
                    _ => None,
                };
                if let Some(c) = set_cookie {
                    self.jar.session = Some(c);
                }
                let mut next_stage = false;
                // `access-then-refresh`: the store reactions wait for the second write.
                let deferred = cfg.ok_writes == super::policy::OkWrites::AccessThenRefresh;
                for r in cfg.on_ok.iter().filter(|_| !deferred) {
                    match (r, token) {
                        (OkReaction::StoreInTab, Some(tok)) => self.tabs[t as usize].token = Some(tok),
                        (OkReaction::StoreInCookie, Some(tok)) => self.jar.refresh = Some(tok),
                        (OkReaction::StoreShared, Some(tok)) => {
                            self.storage = Some(tok);
                            if cfg.storage_holds == StorageHolds::Session {
                                self.stored_session = Some(StoredSession { access, expiry: expires_at });
                            }
                            if cfg.on_stored_token_written == WrittenListener::Adopt {
                                // The `storage` event reaches every other open tab.
                                for (u, other) in self.tabs.iter_mut().enumerate() {
                                    if u != t as usize
                                        && !matches!(other.status, TabStatus::LoggedOut | TabStatus::Closed)
                                    {
                                        other.token = Some(tok);
                                    }
                                }
                            }
                        }
                        (OkReaction::NextStageRefreshesWithOriginalToken, _) => next_stage = sent.is_some(),
                        (_, None) => {}
                    }
                }
                if next_stage {
                    // The same request's next stage reads the incoming request's cookie: the
                    // token this refresh presented, not the one its response set.
                    let tab = &mut self.tabs[t as usize];
                    tab.expiry = expires_at;
                    tab.later_stage = true;
                    self.refreshed_ok = true;
                    let cred = Credentials { mode: cfg.mode, cookie: self.jar.session, token: sent, access: None };
                    return Some(Send::Refresh { tab: t, cred, retry: false, access: self.refresh_access(cfg, t) });
                }
                if self.copies_for_attacker(cfg) {
                    if let Some(c) = set_cookie {
                        self.held.add_jwt(c);
                    }
                    if let Some(tok) = token {
                        self.held.add_token(tok);
                    }
                }
                self.hold_access(cfg, t, access);
                let wrote_jar = cfg.on_ok.contains(&OkReaction::StoreInCookie) && token.is_some();
                self.take_expiry(cfg, t, expires_at, wrote_jar);
                self.refreshed_ok = true;
                self.tabs[t as usize].status = match cfg.ok_writes {
                    super::policy::OkWrites::One => TabStatus::Idle,
                    super::policy::OkWrites::AccessThenRefresh => TabStatus::WritingSecond { refresh: token },
                    super::policy::OkWrites::RefreshThenAccess => TabStatus::WritingSecond { refresh: None },
                };
                self.follow_up(cfg, t, FollowUpAfter::RefreshOk, sent, token);
                if cfg.coordination == Coordination::BroadcastLeader {
                    // `channel.postMessage(user)`: to every other open tab, each delivered later.
                    let token = token.filter(|_| cfg.mode == AuthMode::Json);
                    for (u, other) in self.tabs.iter_mut().enumerate() {
                        if u != t as usize && !matches!(other.status, TabStatus::Closed | TabStatus::LoggedOut) {
                            let count = other.inbox.map_or(1, |m| m.count.saturating_add(1));
                            other.inbox = Some(Broadcast { token, expiry: expires_at, count });
                        }
                    }
                }
            }
            Reply::SignedOut => {
                self.tabs[t as usize].later_stage = false;
                self.tabs[t as usize].status = TabStatus::LoggedOut;
            }
            Reply::Err(e) => {
                self.tabs[t as usize].later_stage = false;
                let reactions = if e.status() >= 500 { &cfg.on_server_error } else { &cfg.on_refused };
                if let Some(send) = self.react(cfg, t, reactions) {
                    return Some(send); // a retry keeps the lock, if the tab holds it
                }
            }
        }
        if self.lock != Some(t) {
            return None;
        }
        match cfg.coordination {
            Coordination::WebLocks => self.grant_next(cfg),
            _ => {
                // `localStorage.removeItem(key)`.
                self.lock = None;
                None
            }
        }
    }

    /// Tab `t` runs `reactions` to its refresh's error answer ([`Reaction`]); returns the retry
    /// it sends, if any.
    fn react(&mut self, cfg: &BrowserCfg, t: TabIx, reactions: &[Reaction]) -> Option<Send> {
        self.react_traced(cfg, t, reactions, &mut Vec::new())
    }

    /// What tab `t` does, reaction by reaction, with its refresh's error answer of HTTP
    /// `status` (`browser.on_refused` for 4xx, `on_server_error` for 5xx), run on a copy of
    /// this state: the state the answer arrives in. The trace's words for the step
    /// ([`Ran`]); the same code as the step itself.
    pub fn refusal_trail(&self, cfg: &BrowserCfg, t: TabIx, status: u16) -> Vec<Ran> {
        let reactions = if status >= 500 { &cfg.on_server_error } else { &cfg.on_refused };
        let mut trail = Vec::new();
        self.clone().react_traced(cfg, t, reactions, &mut trail);
        trail
    }

    /// [`Self::react`], writing what each reaction did into `trail`, in order.
    pub(super) fn react_traced(
        &mut self,
        cfg: &BrowserCfg,
        t: TabIx,
        reactions: &[Reaction],
        trail: &mut Vec<Ran>,
    ) -> Option<Send> {
        let sent = match self.tabs[t as usize].status {
            TabStatus::Refreshing { sent } => sent,
            _ => None,
        };
        self.react_from(cfg, t, reactions, 0, sent, trail)
    }

    /// Tab `t` runs `reactions` from position `start` on, for an error answer to its refresh
    /// that presented `sent`, writing what each reaction did into `trail`; returns the retry it
    /// sends, if any.
    pub(super) fn react_from(
        &mut self,
        cfg: &BrowserCfg,
        t: TabIx,
        reactions: &[Reaction],
        start: usize,
        sent: Option<Token>,
        trail: &mut Vec<Ran>,
    ) -> Option<Send> {
        for (i, r) in reactions.iter().enumerate().skip(start) {
            match r {
                Reaction::WaitForTokenChange => {
                    let server_error = std::ptr::eq(reactions, cfg.on_server_error.as_slice());
                    if self.start_token_wait(cfg, t, sent, i, server_error) {
                        return None;
                    }
                }
                Reaction::LogOut => break,
                Reaction::KeepGoing => {
                    self.tabs[t as usize].status = TabStatus::Idle;
                    trail.push(Ran::KeptGoing);
                    return None;
                }
                Reaction::ClearStoredToken | Reaction::ClearCookie | Reaction::ClearSharedStorage => {
                    let held = (self.jar, self.storage, self.tabs[t as usize].token);
                    self.clear(cfg, t, *r);
                    let now = (self.jar, self.storage, self.tabs[t as usize].token);
                    trail.push(Ran::Cleared(*r, held != now));
                }
                Reaction::RetryWithStoredToken => {
                    let stored = self.presented_now(cfg, t);
                    if stored.is_some() && stored != sent {
                        trail.push(Ran::SentAgain(*r, stored));
                        return Some(self.send_refresh(cfg, t));
                    }
                    trail.push(Ran::FoundSame(*r, stored));
                }
                Reaction::IgnoreIfTokenChanged => {
                    let stored = self.presented_now(cfg, t);
                    if let Some(tok) = stored.filter(|_| stored != sent) {
                        self.tabs[t as usize].status = TabStatus::Idle;
                        trail.push(Ran::Adopted(tok));
                        return None;
                    }
                    trail.push(Ran::FoundSame(*r, stored));
                }
                Reaction::RefreshAndRetry => {} // calls only (refused in a refresh's lists)
                Reaction::SignOutRequest => {
                    let token = self.presented_now(cfg, t);
                    let sent = self.sign_out_request(t, token);
                    trail.push(Ran::SentSignOut(token, sent));
                }
                Reaction::Retry => {
                    let tab = &mut self.tabs[t as usize];
                    if tab.reaction_retries_left > 0 {
                        tab.reaction_retries_left -= 1;
                        let Send::Refresh { tab, cred, access, .. } = self.send_refresh(cfg, t) else { unreachable!() };
                        trail.push(Ran::SentAgain(*r, cred.presented()));
                        // Not an LP2 retry: the tab got its answer (an error) and sends anew.
                        return Some(Send::Refresh { tab, cred, retry: false, access });
                    }
                    trail.push(Ran::NoRetryLeft);
                }
            }
        }
        self.tabs[t as usize].status = TabStatus::LoggedOut;
        trail.push(Ran::LoggedOut);
        None
    }

    /// The other tabs' listeners (`browser.on_stored_token_cleared`) hear that tab `t`
    /// cleared the shared token (`cleared`: something was there).
    fn hear_cleared(&mut self, cfg: &BrowserCfg, t: TabIx, cleared: bool) {
        if cleared && cfg.on_stored_token_cleared == super::policy::ClearedListener::LogOut {
            for (u, other) in self.tabs.iter_mut().enumerate() {
                if u != t as usize && other.status == TabStatus::Idle {
                    other.status = TabStatus::LoggedOut;
                }
            }
        }
    }

    /// Tab `t` receives a `GET /users/me` response: an ordinary request goes on whatever the
    /// answer; the freshness check (PR 22464) logs the tab out on failure. A 2xx that sets a
    /// session cookie (`ok TOKEN` to a session-mode request: express-session's `rolling: true`
    /// re-sends `Set-Cookie` on every response) writes it into the jar, as a refresh's does,
    /// unless the tab was closed: the browser applies a `Set-Cookie` before the page sees the
    /// answer (so also after a sign-out cleared the jar).
    pub fn on_request_reply(&mut self, cfg: &BrowserCfg, t: TabIx, reply: Reply) {
        let open = self.tabs[t as usize].status != TabStatus::Closed;
        if let (Reply::Ok { set_cookie: Some(c), .. }, true) = (reply, open) {
            self.jar.session = Some(c);
            if self.records_held(cfg) {
                self.held.add_jwt(c);
            }
        }
        let tab = &mut self.tabs[t as usize];
        tab.status = match (tab.status, reply) {
            // A sign-out notice logged the tab out while the request was in flight.
            (TabStatus::LoggedOut, _) => TabStatus::LoggedOut,
            (TabStatus::CheckingFresh, Reply::Err(_)) => TabStatus::LoggedOut,
            _ => TabStatus::Idle,
        };
    }

    /// Tab `t` receives the sign-out's response: whatever it says, the app clears the tab and
    /// the server's `Set-Cookie`s (or the app) clear both cookies for every tab.
    pub fn on_sign_out_reply(&mut self, t: TabIx) {
        self.jar = Jar::default();
        self.storage = None;
        self.stored_session = None;
        let tab = &mut self.tabs[t as usize];
        tab.token = None;
        tab.status = TabStatus::LoggedOut;
    }

    /// The attacker's possible redemptions now: every copied credential in every allowed mode
    /// (none while one is in flight or no attempt is left).
    pub fn attacks(&self, cfg: &BrowserCfg) -> Vec<Credentials> {
        match self.attacker {
            Some(a) if !a.busy && a.attempts_left > 0 => self.copied_credentials(cfg),
            _ => vec![],
        }
    }

    /// Every credential the attacker could present, from what the browser ever held, in every
    /// mode the model allows it.
    pub fn copied_credentials(&self, cfg: &BrowserCfg) -> Vec<Credentials> {
        let Some((_, modes)) = &cfg.attacker else { return vec![] };
        let mut out = vec![];
        for &mode in modes {
            match mode {
                AuthMode::Session => out.extend(self.held.jwts.iter().map(|&j| Credentials {
                    mode,
                    cookie: Some(j),
                    token: None,
                    access: None,
                })),
                AuthMode::Json | AuthMode::Cookie => out.extend(self.held.tokens.iter().map(|&t| Credentials {
                    mode,
                    cookie: None,
                    token: Some(t),
                    access: None,
                })),
            }
        }
        out
    }

    /// The attacker sends a redemption with `cred`, one of [`Self::attacks`]. Returns whether
    /// it could.
    pub fn start_attack(&mut self, cfg: &BrowserCfg, cred: Credentials) -> bool {
        if !self.attacks(cfg).contains(&cred) {
            return false;
        }
        let a = self.attacker.as_mut().expect("attacks() is empty without an attacker");
        a.attempts_left -= 1;
        a.busy = true;
        true
    }

    /// The attacker receives its answer.
    pub fn on_attack_reply(&mut self, cfg: &BrowserCfg, reply: Reply) {
        if let Some(a) = &mut self.attacker {
            a.busy = false;
            if matches!(reply, Reply::Ok { .. }) {
                a.redeemed_ok = true;
            }
        }
        if let (true, Reply::Ok { token: Some(t), .. }) = (cfg.attacker_keeps_tokens, reply) {
            self.held.add_token(t); // it redeems its own loot next
        }
        if let (true, true, Reply::Ok { access: Some(a), .. }) = (cfg.attacker_keeps_tokens, cfg.attacker_calls, reply)
        {
            self.held.add_access(a);
        }
    }
}

/// Ordinary calls with access tokens (`browser.calls_per_tab`): a tab presents the access
/// token it holds to the resource server, independently of its refreshes; the answer class
/// runs the tab's reactions (`on_refused`, `on_server_error`).
impl BrowserState {
    /// Tab `t` (or the attacker) is answered 2xx with access token `access`: the tab holds it
    /// from now on, and the attacker can copy it.
    /// A clearing reaction of tab `t` (`clear-stored-token`: the refresh credential where the
    /// mode keeps it; `clear-cookie`: the jar; `clear-shared-storage`: the shared storage),
    /// for a refresh, a requester's refresh or a call alike; the other tabs' listeners hear a
    /// shared copy removed. Any other reaction does nothing here.
    fn clear(&mut self, cfg: &BrowserCfg, t: TabIx, r: Reaction) {
        let shared = match (r, cfg.mode, cfg.storage) {
            (Reaction::ClearCookie, _, _) => self.jar.refresh.take().is_some() | self.jar.session.take().is_some(),
            (Reaction::ClearSharedStorage, _, _) => self.storage.take().is_some(),
            (Reaction::ClearStoredToken, AuthMode::Session, _) => self.jar.session.take().is_some(),
            (Reaction::ClearStoredToken, AuthMode::Cookie, _) => self.jar.refresh.take().is_some(),
            (Reaction::ClearStoredToken, AuthMode::Json, JsonStorage::PerTab) => {
                self.tabs[t as usize].token = None;
                false
            }
            (Reaction::ClearStoredToken, AuthMode::Json, JsonStorage::Shared) => self.storage.take().is_some(),
            (Reaction::ClearStoredToken, AuthMode::Json, JsonStorage::SharedLagging) => {
                self.tabs[t as usize].token = None;
                self.storage.take().is_some()
            }
            _ => return,
        };
        if self.storage.is_none() {
            self.stored_session = None; // removed with the entry
        }
        self.hear_cleared(cfg, t, shared);
    }

    fn hold_access(&mut self, cfg: &BrowserCfg, t: TabIx, access: Option<super::oauth::AccessId>) {
        let Some(a) = access else { return };
        self.tabs[t as usize].access = Some(a);
        if cfg.attacker_calls && self.copies_for_attacker(cfg) {
            self.held.add_access(a);
        }
    }

    /// Tab `t` starts an ordinary call with the access token it holds: it must be signed in
    /// (not logged out, closed, hung or signing out), have no call in flight or waiting and
    /// calls left. A refresh of the tab may be in flight (a background refresh timer and an
    /// API call are two requesters of one app: ZITADEL issue 9331). With
    /// `call_refresh_margin` N, a tab whose access token's `exp` is less than its clock's
    /// `now + N`, or that holds none, refreshes first instead (auth0-spa-js
    /// `getTokenSilently`): the call waits for the refresh ([`Self::refresh_for_call`]) and
    /// is sent once it is answered ([`Self::resume_calls`]). Returns the request sent, if any.
    pub fn start_call(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        if !self.may_call(t) {
            return None;
        }
        // `getSession()` / `getTokenSilently()`: a stored session is read first.
        self.load_stored_session(cfg, t);
        let now = self.now;
        let tab = &mut self.tabs[t as usize];
        tab.calls_left -= 1;
        let call = Call {
            sent: tab.access,
            retries_left: cfg.retry_limit,
            awaiting_refresh: false,
            sent_expiry: echo_expiry(cfg, tab),
        };
        if let Some(n) = cfg.call_refresh_margin {
            let stale = tab.access.is_none() || tab.expiry.is_none_or(|e| e < now.saturating_add(n));
            if stale {
                let waiting = Call { sent: None, awaiting_refresh: true, sent_expiry: None, ..call };
                if let Some(sent) = self.refresh_for_call(cfg, t, waiting) {
                    return sent;
                }
            }
        }
        self.tabs[t as usize].call = Some(call);
        Some(Send::Call { tab: t, access: call.sent })
    }

    /// Whether tab `t` may start a call now ([`Self::start_call`]).
    pub fn may_call(&self, t: TabIx) -> bool {
        let tab = &self.tabs[t as usize];
        let signed_in =
            !matches!(tab.status, TabStatus::LoggedOut | TabStatus::Closed | TabStatus::Hung | TabStatus::SigningOut);
        signed_in && tab.call.is_none() && tab.calls_left > 0
    }

    /// Tab `t`'s `call` (marked as waiting) waits for a refresh of the tab: an idle tab starts
    /// one through its ordinary refresh path ([`Self::begin_refresh`]; it does not use up one
    /// of `refreshes_per_tab`); a tab whose refresh is already under way (in flight, or waiting
    /// for a lock or a leader) starts none, and the call waits for that one (single-flight
    /// inside the tab, axios-auth-refresh `createRefreshCall`). Returns `Some(request sent)`,
    /// or `None` when the tab cannot refresh now (it is doing something else), leaving `call`
    /// unset.
    fn refresh_for_call(&mut self, cfg: &BrowserCfg, t: TabIx, call: Call) -> Option<Option<Send>> {
        let status = self.tabs[t as usize].status;
        if refresh_under_way(status) {
            self.tabs[t as usize].call = Some(call);
            return Some(None);
        }
        if status != TabStatus::Idle {
            return None;
        }
        self.tabs[t as usize].call = Some(call);
        let sent = self.begin_refresh(cfg, t);
        if sent.is_none() && self.tabs[t as usize].status == TabStatus::Idle {
            // `lock_granted: "skip-if-stored-session-fresh"`: the tab took the lock, found the
            // stored session fresh and took it over; the call goes now with its access token.
            let tab = &mut self.tabs[t as usize];
            let access = tab.access;
            let sent_expiry = echo_expiry(cfg, tab);
            tab.call = Some(Call { sent: access, awaiting_refresh: false, sent_expiry, ..call });
            return Some(Some(Send::Call { tab: t, access }));
        }
        Some(sent)
    }

    /// The calls waiting for a refresh whose tab's refresh is over: each is sent with the
    /// access token its tab holds now (the new one after a 2xx; after an error that left the
    /// tab signed in, the one it held), or dropped if its tab is logged out, closed or hung
    /// (the page went to the sign-in page). Run after every refresh answer. Returns the
    /// calls sent.
    pub fn resume_calls(&mut self, cfg: &BrowserCfg) -> Vec<Send> {
        let mut sent = vec![];
        if cfg.storage_holds == StorageHolds::Session {
            // The resumed call reads the stored session (its own refresh's, or another
            // tab's written meanwhile).
            for t in 0..self.tabs.len() {
                let tab = &self.tabs[t];
                if tab.call.is_some_and(|c| c.awaiting_refresh) && !refresh_under_way(tab.status) {
                    self.load_stored_session(cfg, t as TabIx);
                }
            }
        }
        for (t, tab) in self.tabs.iter_mut().enumerate() {
            let Some(call) = tab.call.filter(|c| c.awaiting_refresh) else { continue };
            match tab.status {
                TabStatus::LoggedOut | TabStatus::Closed | TabStatus::Hung => tab.call = None,
                s if refresh_under_way(s) => {}
                _ => {
                    let sent_expiry = echo_expiry(cfg, tab);
                    tab.call = Some(Call { sent: tab.access, awaiting_refresh: false, sent_expiry, ..call });
                    sent.push(Send::Call { tab: t as TabIx, access: tab.access });
                }
            }
        }
        sent
    }

    /// Tab `t` receives its call's answer. 2xx: the call is done (with `on_call_ok:
    /// ["store-echoed-access-token"]` the tab holds the access token the call presented
    /// again). An error runs the tab's
    /// call reactions to the answer class (`on_call_refused` for 4xx, `on_call_server_error`
    /// for 5xx; by default the refresh's lists): `log-out` logs the tab out, `keep-going`
    /// drops the call, `clear-*` clear as for a refresh, `retry-with-stored-token` sends the
    /// call again if the tab holds another access token than the one it sent (a refresh
    /// answered meanwhile) and ends the list, `retry` sends it again with the access token it
    /// holds if the call has a retry left (`browser.retry_limit`) and ends the list,
    /// `refresh-and-retry` (with a retry left, and the tab idle or refreshing) refreshes and
    /// sends it again once the refresh is answered, and ends the list. A list that runs out
    /// logs the tab out. Returns the request sent (the call again, or the refresh), if any. A
    /// tab logged out meanwhile ignores the answer.
    pub fn on_call_reply(&mut self, cfg: &BrowserCfg, t: TabIx, reply: Reply) -> Option<Send> {
        self.on_call_reply_traced(cfg, t, reply, &mut Vec::new())
    }

    /// What tab `t`'s call reactions do with the answer `reply`, reaction by reaction, run on
    /// a copy of this state ([`Ran`]: the clears, a retry with none left, `keep-going`, the
    /// log-out; a reaction that sends the call again or refreshes ends the list, as the step's
    /// own words say): the trace's words for the step, from the same code as the step itself.
    pub fn call_reply_trail(&self, cfg: &BrowserCfg, t: TabIx, reply: Reply) -> Vec<Ran> {
        let mut trail = Vec::new();
        self.clone().on_call_reply_traced(cfg, t, reply, &mut trail);
        trail
    }

    /// [`Self::on_call_reply`], writing what each reaction did into `trail`.
    fn on_call_reply_traced(&mut self, cfg: &BrowserCfg, t: TabIx, reply: Reply, trail: &mut Vec<Ran>) -> Option<Send> {
        let tab = &mut self.tabs[t as usize];
        let Some(call) = tab.call.take() else { return None };
        if call.awaiting_refresh {
            tab.call = Some(call); // not in flight: this answer is not its (never sent)
            return None;
        }
        if matches!(tab.status, TabStatus::LoggedOut | TabStatus::Closed | TabStatus::Hung) {
            return None;
        }
        let Reply::Err(e) = reply else {
            if cfg.call_ok_stores_echo {
                // The answer echoes the access token the call presented; the app stores it.
                tab.access = call.sent;
                tab.expiry = call.sent_expiry;
            }
            return None;
        };
        // The reactions read the session where the library keeps it.
        self.load_stored_session(cfg, t);
        let reactions = if e.status() >= 500 { &cfg.on_call_server_error } else { &cfg.on_call_refused };
        for r in reactions {
            match r {
                Reaction::LogOut => break,
                Reaction::KeepGoing => {
                    trail.push(Ran::KeptGoing);
                    return None;
                }
                Reaction::IgnoreIfTokenChanged => {
                    let held = self.tabs[t as usize].access;
                    if held.is_some() && held != call.sent {
                        return None;
                    }
                }
                Reaction::RetryWithStoredToken => {
                    let held = self.tabs[t as usize].access;
                    if held.is_some() && held != call.sent {
                        let sent_expiry = echo_expiry(cfg, &self.tabs[t as usize]);
                        self.tabs[t as usize].call = Some(Call { sent: held, sent_expiry, ..call });
                        return Some(Send::Call { tab: t, access: held });
                    }
                }
                Reaction::Retry => {
                    if call.retries_left > 0 {
                        let held = self.tabs[t as usize].access;
                        let again = Call {
                            sent: held,
                            retries_left: call.retries_left - 1,
                            awaiting_refresh: false,
                            sent_expiry: echo_expiry(cfg, &self.tabs[t as usize]),
                        };
                        self.tabs[t as usize].call = Some(again);
                        return Some(Send::Call { tab: t, access: held });
                    }
                    trail.push(Ran::NoRetryLeft);
                }
                Reaction::WaitForTokenChange | Reaction::SignOutRequest => {} // refused in a call's lists
                Reaction::RefreshAndRetry => {
                    if call.retries_left > 0 {
                        let waiting = Call { retries_left: call.retries_left - 1, awaiting_refresh: true, ..call };
                        if let Some(sent) = self.refresh_for_call(cfg, t, waiting) {
                            return sent;
                        }
                    } else {
                        trail.push(Ran::NoRetryLeft);
                    }
                }
                Reaction::ClearStoredToken | Reaction::ClearCookie | Reaction::ClearSharedStorage => {
                    let held = (self.jar, self.storage, self.tabs[t as usize].token);
                    self.clear(cfg, t, *r);
                    let now = (self.jar, self.storage, self.tabs[t as usize].token);
                    trail.push(Ran::Cleared(*r, held != now));
                }
            }
        }
        // The app's login redirect: whatever the tab was doing, it is logged out (a refresh
        // in flight is dropped: its answer is ignored).
        trail.push(Ran::LoggedOut);
        self.log_out_for_call(cfg, t)
    }

    /// A call's reactions log tab `t` out: the page goes to the sign-in page. With Web Locks
    /// the navigation ends the page's lock requests (Web Locks API: a lock is released when
    /// its document is unloaded): a queued request is dropped, and a held lock is released
    /// to the next waiter ([`Self::grant_next`]), whose refresh, if it sends one, is
    /// returned.
    fn log_out_for_call(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        let tab = &mut self.tabs[t as usize];
        tab.status = TabStatus::LoggedOut;
        if cfg.coordination != Coordination::WebLocks {
            return None;
        }
        tab.read = None;
        tab.queued_with = None;
        tab.queued_at = None;
        self.queue.retain(|&x| x != t);
        if self.lock == Some(t) {
            return self.grant_next(cfg);
        }
        None
    }

    /// The attacker's possible ordinary calls now: every access token it copied (none while
    /// a request of it is in flight or no attempt is left).
    pub fn attacker_calls(&self, cfg: &BrowserCfg) -> Vec<super::oauth::AccessId> {
        match self.attacker {
            Some(a) if cfg.attacker_calls && !a.busy && a.attempts_left > 0 => self.held.access.clone(),
            _ => vec![],
        }
    }

    /// The attacker makes an ordinary call with access token `a`, one of
    /// [`Self::attacker_calls`]. Returns whether it could.
    pub fn start_attacker_call(&mut self, cfg: &BrowserCfg, a: super::oauth::AccessId) -> bool {
        if !self.attacker_calls(cfg).contains(&a) {
            return false;
        }
        let at = self.attacker.as_mut().expect("attacker_calls() is empty without an attacker");
        at.attempts_left -= 1;
        at.busy = true;
        true
    }

    /// The attacker receives its call's answer.
    pub fn on_attacker_call_reply(&mut self) {
        if let Some(a) = &mut self.attacker {
            a.busy = false;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::HttpError;

    /// A browser of `tabs` tabs in session mode, one refresh each, nothing else.
    pub(super) fn cfg(tabs: u8, coordination: Coordination) -> BrowserCfg {
        BrowserCfg {
            tabs,
            refreshes: 1,
            requests: 0,
            sign_outs: 0,
            signs_in_during_run: false,
            re_sign_ins: 0,
            re_sign_in_is: Default::default(),
            mode: AuthMode::Session,
            storage: JsonStorage::PerTab,
            coordination,
            freshness_check: false,
            margin: 1,
            max_ticks: 0,
            attacker: None,
            attacker_keeps_tokens: false,
            attacker_reads_once: false,
            aborts: 0,
            on_aborted: crate::model::policy::default_reactions(),
            retries: 0,
            on_timeout: None,
            retry_after_ticks: None,
            token_change_wait: None,
            lock_wait_ticks: None,
            on_lock_timeout: vec![],
            lock_hangs: 0,
            lock_steal: false,
            read_before_lock: false,
            reads_token: crate::model::policy::ReadsToken::AtSend,
            ok_writes: crate::model::policy::OkWrites::One,
            crashes: 0,
            lock_granted: LockGranted::Refresh,
            lock_recheck_margin: 0,
            storage_holds: StorageHolds::RefreshToken,
            ssr_paths: 0,
            leader_election: LeaderElection::Single,
            leader_closes: 0,
            follower_timeout: 0,
            max_wait_steps: 2,
            logins: Logins::PerDevice,
            on_refused: crate::model::policy::default_reactions(),
            on_server_error: crate::model::policy::default_reactions(),
            on_stored_token_cleared: Default::default(),
            on_ok: crate::model::policy::default_on_ok(AuthMode::Session, JsonStorage::PerTab),
            sign_out_notice: Default::default(),
            on_sign_out_notice: Default::default(),
            on_ok_after_sign_out_notice: Default::default(),
            on_stored_token_written: WrittenListener::Ignore,
            retry_limit: 0,
            calls: 0,
            call_ok_stores_echo: false,
            access_tokens: false,
            sign_out_access: false,
            refresh_access: false,
            attacker_calls: false,
            requesters: 1,
            reloads: 0,
            on_call_refused: crate::model::policy::default_reactions(),
            on_call_server_error: crate::model::policy::default_reactions(),
            on_requester_refused: crate::model::policy::default_reactions(),
            on_requester_ok: crate::model::policy::default_on_ok(AuthMode::Session, JsonStorage::PerTab),
            on_requester_server_error: crate::model::policy::default_reactions(),
            call_refresh_margin: None,
            access_ttl: 1,
            follow_up: None,
            refresh_triggers: vec![],
            tab_settings: vec![],
            sign_out_takes_lock: false,
            sign_out_request: Default::default(),
            single_flight: false,
        }
    }

    fn follow_up_cfg(after: FollowUpAfter, presents: FollowUpToken) -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Json,
            storage: JsonStorage::Shared,
            on_ok: vec![OkReaction::StoreShared],
            follow_up: Some((after, presents)),
            ..cfg(2, Coordination::None)
        }
    }

    #[test]
    fn a_2xx_sends_one_follow_up_with_the_superseded_or_the_new_token_and_its_answer_frees_the_tab() {
        for (presents, want) in [(FollowUpToken::Superseded, 1), (FollowUpToken::New, 2)] {
            let c = follow_up_cfg(FollowUpAfter::RefreshOk, presents);
            let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
            assert!(b.start_refresh(&c, 0).is_some());
            assert_eq!(b.on_refresh_reply(&c, 0, ok_token(2)), None);
            assert_eq!(b.storage, Some(2), "on_ok ran first");
            assert_eq!(b.take_follow_up(), Some(Send::FollowUp { tab: 0, token: Some(want) }));
            assert_eq!(b.take_follow_up(), None, "taken once: never kept in a state");
            assert!(b.tabs[0].follow_up);
            // A second 2xx while the follow-up is in flight sends none (one per tab).
            b.tabs[0].refreshes_left = 1;
            assert!(b.start_refresh(&c, 0).is_some());
            b.on_refresh_reply(&c, 0, ok_token(3));
            assert_eq!(b.take_follow_up(), None);
            b.on_follow_up_reply(0);
            assert!(!b.tabs[0].follow_up);
            assert_eq!(b.tabs[0].status, TabStatus::Idle, "the answer is ignored");
        }
        // An error answer sends no follow-up, and a model without the field never does.
        let c = follow_up_cfg(FollowUpAfter::RefreshOk, FollowUpToken::Superseded);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        b.on_refresh_reply(&c, 0, Reply::Err(HttpError::InvalidCredentials));
        assert_eq!(b.take_follow_up(), None);
        let plain = BrowserCfg { follow_up: None, ..c.clone() };
        let mut b = BrowserState::signed_in(&plain, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&plain, 0);
        b.on_refresh_reply(&plain, 0, ok_token(2));
        assert_eq!(b.take_follow_up(), None);
    }

    #[test]
    fn a_sign_in_again_sends_the_old_sessions_token_from_the_first_tab() {
        let c = BrowserCfg { re_sign_ins: 1, ..follow_up_cfg(FollowUpAfter::SignInAgain, FollowUpToken::Superseded) };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        // A refresh's 2xx is not this follow-up's reaction.
        b.start_refresh(&c, 1);
        b.on_refresh_reply(&c, 1, ok_token(2));
        assert_eq!(b.take_follow_up(), None);
        assert!(b.start_sign_in(&c));
        b.on_sign_in_reply(&c, ok_token(5));
        assert_eq!(b.storage, Some(5));
        assert_eq!(b.take_follow_up(), Some(Send::FollowUp { tab: 0, token: Some(2) }), "the token held before");
    }

    fn ok(session: Token) -> Reply {
        Reply::Ok { set_cookie: Some(SessionJwt { session, exp: 4 }), token: None, expires_at: Some(4), access: None }
    }

    #[test]
    fn last_set_cookie_wins_and_a_401_logs_only_that_tab_out() {
        let c = cfg(2, Coordination::None);
        let jar = SessionJwt { session: 1, exp: 4 };
        let mut b = BrowserState::signed_in(&c, jar, 1);
        assert!(matches!(b.start_refresh(&c, 0), Some(Send::Refresh { tab: 0, .. })));
        assert!(matches!(b.start_refresh(&c, 1), Some(Send::Refresh { tab: 1, .. })));
        assert_eq!(b.start_refresh(&c, 1), None, "one request in flight per tab");
        b.on_refresh_reply(&c, 0, ok(2));
        b.on_refresh_reply(&c, 1, Reply::Err(HttpError::InvalidCredentials));
        assert_eq!(b.jar.session.map(|j| j.session), Some(2));
        assert_eq!(b.tabs[0].status, TabStatus::Idle);
        assert_eq!(b.tabs[1].status, TabStatus::LoggedOut);
    }

    #[test]
    fn a_request_answer_that_sets_a_cookie_writes_the_jar_even_after_a_sign_out() {
        let c = cfg(2, Coordination::None);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.on_request_reply(&c, 0, ok(2));
        assert_eq!(b.jar.session, Some(SessionJwt { session: 2, exp: 4 }));
        assert_eq!(b.tabs[0].status, TabStatus::Idle);
        // A plain 2xx (`ok`, Directus's `GET /users/me`) leaves the jar as it was.
        b.on_request_reply(&c, 1, Reply::Ok { set_cookie: None, token: None, expires_at: None, access: None });
        assert_eq!(b.jar.session.map(|j| j.session), Some(2));
        // The sign-out clears the jar; a late rolling `Set-Cookie` writes it again.
        b.on_sign_out_reply(1);
        assert_eq!(b.jar.session, None);
        b.on_request_reply(&c, 0, ok(1));
        assert_eq!(b.jar.session.map(|j| j.session), Some(1));
    }

    #[test]
    fn a_sign_out_notice_logs_a_busy_tab_out_and_its_late_answers_are_taken_as_configured() {
        use crate::model::policy::{OkAfterSignOutNotice, SignOutNotice};
        let c = BrowserCfg { sign_out_notice: SignOutNotice::BroadcastChannel, ..cfg(3, Coordination::None) };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert!(b.start_refresh(&c, 1).is_some());
        b.tabs[2].status = TabStatus::Requesting;
        b.on_sign_out_reply(0);
        b.send_sign_out_notice(&c, 0, false);
        assert!(!b.tabs[0].notice && b.tabs[1].notice && b.tabs[2].notice);
        assert!(b.hear_sign_out(&c, 1) && b.hear_sign_out(&c, 2));
        assert!(!b.hear_sign_out(&c, 2), "nothing pending any more");
        assert_eq!((b.tabs[1].status, b.tabs[1].told_signed_out), (TabStatus::LoggedOut, true));
        assert_eq!((b.tabs[2].status, b.tabs[2].told_signed_out), (TabStatus::LoggedOut, false));
        // The request's answer leaves the tab logged out.
        b.on_request_reply(&c, 2, Reply::Ok { set_cookie: None, token: None, expires_at: None, access: None });
        assert_eq!(b.tabs[2].status, TabStatus::LoggedOut);
        // `store` (the default): the refresh's 2xx signs tab B in again and sets the jar.
        let mut stored = b.clone();
        stored.on_refresh_reply(&c, 1, ok(2));
        assert_eq!(stored.tabs[1].status, TabStatus::Idle);
        assert_eq!(stored.jar.session.map(|j| j.session), Some(2));
        // `drop`: the 2xx is discarded; a refusal is dropped either way.
        let d = BrowserCfg { on_ok_after_sign_out_notice: OkAfterSignOutNotice::Drop, ..c.clone() };
        let mut dropped = b.clone();
        dropped.on_refresh_reply(&d, 1, ok(2));
        assert_eq!((dropped.tabs[1].status, dropped.jar.session), (TabStatus::LoggedOut, None));
        assert!(!dropped.tabs[1].told_signed_out);
        let mut refused = b.clone();
        refused.on_refresh_reply(&c, 1, Reply::Err(crate::model::HttpError::InvalidCredentials));
        assert_eq!(refused.tabs[1].status, TabStatus::LoggedOut);
        // A `storage` event fires only when the entry was there.
        let s = BrowserCfg { sign_out_notice: SignOutNotice::StorageEvent, ..c.clone() };
        let mut quiet = BrowserState::signed_in(&s, SessionJwt { session: 1, exp: 4 }, 1);
        quiet.send_sign_out_notice(&s, 0, false);
        assert!(quiet.tabs.iter().all(|t| !t.notice));
    }

    #[test]
    fn web_locks_queue_the_second_tab_and_it_refreshes_with_the_newest_cookie() {
        let c = cfg(2, Coordination::WebLocks);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert!(b.start_refresh(&c, 0).is_some());
        assert_eq!(b.start_refresh(&c, 1), None);
        assert_eq!(b.tabs[1].status, TabStatus::WaitingLock);
        let Some(Send::Refresh { tab: 1, cred, .. }) = b.on_refresh_reply(&c, 0, ok(2)) else { panic!() };
        assert_eq!(cred.presented(), Some(2));
        assert_eq!(b.lock, Some(1));
    }

    fn recheck_cfg(tabs: u8) -> BrowserCfg {
        BrowserCfg { lock_granted: LockGranted::SkipIfTokenChanged, ..cfg(tabs, Coordination::WebLocks) }
    }

    /// Double-checked locking: the two waiters queued with token 1; the holder's 2xx stores
    /// token 2, so each in turn is granted the lock, finds token 2, sends no refresh and passes
    /// the lock on; the lock ends free.
    #[test]
    fn waiters_that_find_another_stored_token_skip_in_turn_and_the_lock_ends_free() {
        let c = recheck_cfg(3);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert!(b.start_refresh(&c, 0).is_some());
        assert_eq!((b.start_refresh(&c, 1), b.start_refresh(&c, 2)), (None, None));
        assert_eq!((b.tabs[1].queued_with, b.tabs[2].queued_with), (Some(1), Some(1)));
        assert_eq!(b.on_refresh_reply(&c, 0, ok(2)), None, "no waiter refreshes");
        assert_eq!([b.tabs[1].status, b.tabs[2].status], [TabStatus::Idle; 2]);
        assert_eq!((b.tabs[1].queued_with, b.tabs[2].queued_with), (None, None));
        assert_eq!((b.lock, b.queue.len()), (None, 0));
        assert_eq!((b.presented_now(&c, 1), b.tabs[1].refreshes_left), (Some(2), 0), "it uses token 2");
    }

    /// The stored token unchanged (the holder was refused and kept it), or gone (cleared):
    /// the waiter refreshes with what is stored, as with `lock_granted: "refresh"`.
    #[test]
    fn a_waiter_that_finds_the_token_it_queued_with_or_none_refreshes() {
        for (on_refused, presents) in [(vec![Reaction::KeepGoing], Some(1)), (vec![Reaction::ClearStoredToken], None)] {
            let c = BrowserCfg { on_refused, ..recheck_cfg(2) };
            let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
            assert!(b.start_refresh(&c, 0).is_some());
            assert_eq!(b.start_refresh(&c, 1), None);
            let sent = b.on_refresh_reply(&c, 0, Reply::Err(HttpError::InvalidCredentials));
            let Some(Send::Refresh { tab: 1, cred, .. }) = sent else { panic!("{sent:?}") };
            assert_eq!(cred.presented(), presents);
            assert_eq!(b.lock, Some(1));
        }
    }

    /// A waiter that steals the lock checks too. A holds the lock with token 1 in flight; C
    /// and B queue with token 1; B steals (token 1 still stored: it refreshes); A's 2xx stores
    /// token 2 (A no longer holds the lock); C steals, finds token 2, sends no refresh and
    /// releases the lock, which is free with no waiter left.
    #[test]
    fn a_stealing_waiter_checks_too_and_releases_the_lock_when_it_skips() {
        let c = BrowserCfg { lock_steal: true, ..recheck_cfg(3) };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert!(b.start_refresh(&c, 0).is_some());
        assert_eq!((b.start_refresh(&c, 2), b.start_refresh(&c, 1)), (None, None));
        let (changed, sent) = b.steal_lock(&c, 1);
        let Some(Send::Refresh { tab: 1, cred, .. }) = sent else { panic!("{sent:?}") };
        assert!(changed && cred.presented() == Some(1) && b.lock == Some(1));
        assert_eq!(b.on_refresh_reply(&c, 0, ok(2)), None, "A's answer releases nothing");
        assert_eq!(b.steal_lock(&c, 2), (true, None));
        assert_eq!((b.tabs[2].status, b.lock, b.queue.len()), (TabStatus::Idle, None, 0));
        assert_eq!(b.presented_now(&c, 2), Some(2));
    }

    /// Two json tabs over a shared storage that holds the whole session, with Web Locks and
    /// the expiry re-check (margin 1), access tokens of two ticks, calls with a margin of 1.
    fn session_cfg(margin: Tick) -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Json,
            storage: JsonStorage::Shared,
            on_ok: vec![OkReaction::StoreShared],
            lock_granted: LockGranted::SkipIfStoredSessionFresh,
            lock_recheck_margin: margin,
            storage_holds: StorageHolds::Session,
            access_tokens: true,
            access_ttl: 2,
            calls: 1,
            call_refresh_margin: Some(1),
            on_call_refused: vec![Reaction::LogOut],
            ..cfg(2, Coordination::WebLocks)
        }
    }

    fn ok_session(tok: Token, expires_at: Tick) -> Reply {
        Reply::Ok { set_cookie: None, token: Some(tok), expires_at: Some(expires_at), access: Some(tok) }
    }

    /// `shared_storage_holds: "session"`: the sign-in is the first stored session (access
    /// token 1, `exp` = `access_token_ttl`); a 2xx with `store-shared` writes the token, the
    /// access token and the expiry together; a tab that starts a call reads them.
    #[test]
    fn a_stored_session_is_written_whole_and_read_when_a_call_starts() {
        let c = session_cfg(1);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert_eq!(b.stored_session, Some(StoredSession { access: Some(1), expiry: Some(2) }));
        b.now = 2; // access token 1 (exp 2) is within the margin: tab A refreshes
        assert!(b.start_refresh(&c, 0).is_some());
        assert_eq!(b.on_refresh_reply(&c, 0, ok_session(2, 3)), None);
        assert_eq!((b.storage, b.stored_session), (Some(2), Some(StoredSession { access: Some(2), expiry: Some(3) })));
        assert_eq!(b.tabs[1].access, Some(1), "tab B has not read the storage yet");
        assert_eq!(b.start_call(&c, 1), Some(Send::Call { tab: 1, access: Some(2) }));
        assert_eq!((b.tabs[1].access, b.tabs[1].expiry), (Some(2), Some(3)));
        // Clearing the shared entry removes the whole session.
        b.clear(&c, 0, Reaction::ClearSharedStorage);
        assert_eq!((b.storage, b.stored_session), (None, None));
    }

    /// The expiry re-check: a tab that takes a free lock while the stored session is fresh
    /// sends no refresh and leaves the lock free; at `exp == now + margin` the session is
    /// still fresh, one tick later it is stale and the tab refreshes with the stored token.
    #[test]
    fn a_tab_taking_a_free_lock_skips_while_the_stored_session_is_fresh() {
        let c = BrowserCfg { refreshes: 2, ..session_cfg(1) };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.now = 1; // exp 2 == now 1 + margin 1: fresh
        assert_eq!(b.start_refresh(&c, 0), None);
        assert_eq!((b.tabs[0].status, b.lock, b.tabs[0].refreshes_left), (TabStatus::Idle, None, 1));
        b.now = 2; // exp 2 < 2 + 1: stale
        let sent = b.start_refresh(&c, 0);
        let Some(Send::Refresh { tab: 0, cred, .. }) = sent else { panic!("{sent:?}") };
        assert_eq!((cred.presented(), b.lock), (Some(1), Some(0)));
    }

    /// A waiter granted the lock after the holder stored a fresh session takes it over and
    /// sends no refresh; its call that waited for the refresh goes with the stored access
    /// token. With a stale stored session (the holder was refused and kept nothing new) it
    /// refreshes with the stored token.
    #[test]
    fn a_granted_waiter_takes_over_a_fresh_stored_session_and_sends_its_waiting_call() {
        let c = session_cfg(1);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.now = 2; // access token 1 (exp 2) is within the margin for both tabs
        let sent = b.start_call(&c, 0);
        assert!(matches!(sent, Some(Send::Refresh { tab: 0, .. })), "{sent:?}");
        assert_eq!(b.start_call(&c, 1), None, "tab B queues for the lock");
        assert_eq!((b.tabs[1].status, b.queue.clone()), (TabStatus::WaitingLock, vec![1]));
        assert_eq!(b.on_refresh_reply(&c, 0, ok_session(2, 4)), None, "tab B sends no refresh");
        assert_eq!((b.tabs[1].status, b.lock, b.tabs[1].access), (TabStatus::Idle, None, Some(2)));
        let calls = b.resume_calls(&c);
        assert_eq!(calls, vec![Send::Call { tab: 0, access: Some(2) }, Send::Call { tab: 1, access: Some(2) }]);

        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.now = 2;
        assert!(b.start_call(&c, 0).is_some() && b.start_call(&c, 1).is_none());
        let c_keep = BrowserCfg { on_refused: vec![Reaction::KeepGoing], ..c };
        let sent = b.on_refresh_reply(&c_keep, 0, Reply::Err(HttpError::InvalidCredentials));
        let Some(Send::Refresh { tab: 1, cred, .. }) = sent else { panic!("{sent:?}") };
        assert_eq!((cred.presented(), b.lock), (Some(1), Some(1)));
    }

    /// Calls with Web Locks: a call's log-out sends the page to the sign-in page, which ends
    /// its lock requests: a held lock passes to the next waiter (whose refresh is returned),
    /// and a queued request of a logged-out tab is dropped.
    #[test]
    fn a_calls_log_out_releases_the_lock_and_drops_a_queued_request() {
        let c = BrowserCfg {
            calls: 1,
            access_tokens: true,
            on_call_refused: vec![Reaction::LogOut],
            ..cfg(3, Coordination::WebLocks)
        };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert!(b.start_refresh(&c, 0).is_some());
        assert_eq!((b.start_refresh(&c, 1), b.start_refresh(&c, 2)), (None, None));
        assert_eq!(b.start_call(&c, 1), Some(Send::Call { tab: 1, access: Some(1) }));
        assert_eq!(b.on_call_reply(&c, 1, Reply::Err(HttpError::InvalidCredentials)), None);
        assert_eq!((b.tabs[1].status, b.queue.clone()), (TabStatus::LoggedOut, vec![2]), "B's request dropped");
        assert_eq!(b.start_call(&c, 0), Some(Send::Call { tab: 0, access: Some(1) }));
        let sent = b.on_call_reply(&c, 0, Reply::Err(HttpError::InvalidCredentials));
        assert!(matches!(sent, Some(Send::Refresh { tab: 2, .. })), "{sent:?}");
        assert_eq!((b.tabs[0].status, b.lock, b.queue.len()), (TabStatus::LoggedOut, Some(2), 0));
        assert_eq!(b.on_refresh_reply(&c, 0, ok(2)), None, "the logged-out page's answer is dropped");
        assert_eq!(b.lock, Some(2));
    }

    fn leader_cfg(tabs: u8, refreshes: u8) -> BrowserCfg {
        BrowserCfg {
            refreshes,
            mode: AuthMode::Json,
            leader_closes: 1,
            follower_timeout: 2,
            ..cfg(tabs, Coordination::BroadcastLeader)
        }
    }

    fn ok_token(t: Token) -> Reply {
        Reply::Ok { set_cookie: None, token: Some(t), expires_at: Some(3), access: None }
    }

    #[test]
    fn the_leader_broadcasts_and_two_undelivered_messages_count_as_two_renewals() {
        let c = leader_cfg(2, 2);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        for tok in [2, 3] {
            assert!(matches!(b.start_refresh(&c, 0), Some(Send::Refresh { tab: 0, .. })), "tab A leads");
            assert_eq!(b.on_refresh_reply(&c, 0, ok_token(tok)), None);
        }
        assert_eq!(b.tabs[1].inbox, Some(Broadcast { token: Some(3), expiry: Some(3), count: 2 }));
        assert!(b.deliver_broadcast(&c, 1));
        assert_eq!((b.tabs[1].token, b.tabs[1].refreshes_left), (Some(3), 0), "both renewals done");
    }

    #[test]
    fn a_follower_waits_for_a_closed_leader_then_times_out_at_its_second_own_step() {
        let c = leader_cfg(2, 1);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        assert!(b.start_refresh(&c, 0).is_some());
        assert_eq!(b.start_refresh(&c, 1), None);
        assert_eq!(b.tabs[1].status, TabStatus::AwaitingBroadcast);
        assert!(!b.blocked_for_good(&c, 1), "the leader's refresh is in flight");
        assert_eq!(b.wait_step(&c, 1), (false, None));
        assert!(b.close_leader(&c, 0));
        assert!(b.blocked_for_good(&c, 1));
        assert_eq!(b.wait_step(&c, 1), (true, None));
        assert_eq!(b.tabs[1].waited, 1);
        let (changed, sent) = b.wait_step(&c, 1);
        assert!(changed && matches!(sent, Some(Send::Refresh { tab: 1, retry: false, .. })));
        assert_eq!((b.tabs[1].status, b.tabs[1].waited), (TabStatus::Refreshing { sent: Some(1) }, 0));
        assert_eq!(b.on_refresh_reply(&c, 0, ok_token(2)), None, "the closed leader never reads its answer");
        assert_eq!(b.tabs[0].status, TabStatus::Closed);
    }

    #[test]
    fn local_storage_lets_two_tabs_both_see_the_key_free() {
        let c = cfg(2, Coordination::LocalStorage);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert_eq!(b.start_refresh(&c, 0), None);
        assert_eq!(b.start_refresh(&c, 1), None);
        assert_eq!([b.tabs[0].status, b.tabs[1].status], [TabStatus::LockSeenFree; 2]);
        assert!(b.set_lock(&c, 0).is_some() && b.set_lock(&c, 1).is_some(), "both refresh at once");
    }

    fn call_cfg(margin: Option<Tick>) -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Json,
            calls: 2,
            access_tokens: true,
            retry_limit: 1,
            on_call_refused: vec![Reaction::RefreshAndRetry, Reaction::LogOut],
            call_refresh_margin: margin,
            access_ttl: 2,
            ..cfg(1, Coordination::None)
        }
    }

    fn ok_access(t: Token, access: super::super::oauth::AccessId) -> Reply {
        Reply::Ok { set_cookie: None, token: Some(t), expires_at: Some(4), access: Some(access) }
    }

    /// A call's answer that echoes the access token it presented puts that token back with
    /// its own expiry, so a later call within the margin of that expiry refreshes first.
    #[test]
    fn an_echoed_access_token_comes_back_with_its_own_expiry() {
        let c = BrowserCfg { call_ok_stores_echo: true, ..call_cfg(Some(1)) };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        assert_eq!(b.tabs[0].expiry, Some(2));
        assert_eq!(b.start_call(&c, 0), Some(Send::Call { tab: 0, access: Some(1) }));
        assert!(b.start_refresh(&c, 0).is_some());
        b.on_refresh_reply(&c, 0, ok_access(2, 2));
        assert_eq!((b.tabs[0].access, b.tabs[0].expiry), (Some(2), Some(4)));
        b.on_call_reply(&c, 0, Reply::Ok { set_cookie: None, token: None, expires_at: None, access: None });
        assert_eq!((b.tabs[0].access, b.tabs[0].expiry), (Some(1), Some(2)), "token 1 with token 1's expiry");
        b.now = 2;
        assert!(
            !matches!(b.start_call(&c, 0), Some(Send::Call { .. })),
            "token 1 expires at 2, within the margin: the tab refreshes before the call"
        );
    }

    #[test]
    fn a_refused_call_waits_for_the_refresh_in_flight_and_is_sent_with_the_new_access_token() {
        let c = call_cfg(None);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        assert!(b.start_refresh(&c, 0).is_some());
        assert_eq!(b.start_call(&c, 0), Some(Send::Call { tab: 0, access: Some(1) }));
        // The 401 while the refresh is in flight: no second refresh (single-flight), the call waits.
        assert_eq!(b.on_call_reply(&c, 0, Reply::Err(HttpError::InvalidCredentials)), None);
        assert!(b.tabs[0].call.is_some_and(|c| c.awaiting_refresh && c.retries_left == 0));
        assert_eq!(b.resume_calls(&c), vec![], "the refresh is still in flight");
        b.on_refresh_reply(&c, 0, ok_access(2, 2));
        assert_eq!(b.resume_calls(&c), vec![Send::Call { tab: 0, access: Some(2) }]);
        // Refused again with no retry left: the rest of the list logs the tab out.
        assert_eq!(b.on_call_reply(&c, 0, Reply::Err(HttpError::InvalidCredentials)), None);
        assert_eq!(b.tabs[0].status, TabStatus::LoggedOut);
    }

    #[test]
    fn an_idle_tab_refreshes_for_a_refused_call_without_using_up_a_refresh() {
        let c = call_cfg(None);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        assert!(b.start_call(&c, 0).is_some());
        let sent = b.on_call_reply(&c, 0, Reply::Err(HttpError::InvalidCredentials));
        assert!(matches!(sent, Some(Send::Refresh { tab: 0, retry: false, .. })), "{sent:?}");
        assert_eq!((b.tabs[0].status, b.tabs[0].refreshes_left), (TabStatus::Refreshing { sent: Some(1) }, 1));
        // The refresh is refused and logs the tab out: the waiting call is dropped.
        b.on_refresh_reply(&c, 0, Reply::Err(HttpError::InvalidCredentials));
        assert_eq!(b.resume_calls(&c), vec![]);
        assert_eq!(b.tabs[0].call, None);
    }

    #[test]
    fn a_call_refreshes_first_when_its_access_token_expires_within_the_margin() {
        let c = call_cfg(Some(1));
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        assert_eq!(b.tabs[0].expiry, Some(2), "the sign-in's access token expires at access_ttl");
        b.now = 1; // exp 2 is not below now + 1: fresh enough
        assert_eq!(b.start_call(&c, 0), Some(Send::Call { tab: 0, access: Some(1) }));
        b.on_call_reply(&c, 0, Reply::Ok { set_cookie: None, token: None, expires_at: None, access: None });
        b.now = 2; // exp 2 < now + 1: refresh first
        assert!(matches!(b.start_call(&c, 0), Some(Send::Refresh { tab: 0, .. })));
        assert!(b.tabs[0].call.is_some_and(|c| c.awaiting_refresh && c.sent.is_none()));
        b.on_refresh_reply(&c, 0, ok_access(2, 2));
        assert_eq!(b.resume_calls(&c), vec![Send::Call { tab: 0, access: Some(2) }]);
    }
}
