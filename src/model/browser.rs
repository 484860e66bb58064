//! One browser: its tabs, its shared cookie jar, and the user's ground truth.
//!
//! The browser is one actor so that jar reads and writes are atomic, as they are in a real
//! browser: a request carries the jar's cookie at the moment it is sent, and the last
//! `Set-Cookie` processed wins. Each tab runs its own copy of the Directus app
//! (`app/src/auth.ts`, `app/src/idle.ts`) and sends at most one request at a time (the app
//! pauses its request queue while `/auth/refresh` is in flight, `app/src/sdk.ts`).
//!
//! A tab refreshes on page load and on return from idle (`refresh()` in `app/src/auth.ts`,
//! unconditional in ≤ 10.11.0); both are a [`super::Timer::TabRefreshes`] event, bounded by
//! `refreshes_per_tab`. It makes ordinary requests ([`super::Timer::TabRequests`], bounded by
//! `requests_per_tab`). A refresh answered with anything but 2xx logs that tab out with
//! `reason=SESSION_EXPIRED` and no server call, so the cookie and the row stay as they were;
//! a failed ordinary request just fails (no 401 interceptor in 10.10.x–12.4.x).
//!
//! What is abstracted: page navigation, the SDK's auto-refresh timer (`SESSION_COOKIE_TTL −
//! 10 s`, beyond the bounds checked), and the cookie's max-age (the JWT's `exp` is the same
//! instant and the server rejects it, which logs the tab out just the same).
//!
//! Sources: `app/src/auth.ts`, `app/src/idle.ts`, `app/src/sdk.ts` in `@directus/app` 12.1.1
//! (directus 10.11.1); issue 22360; `shared/research/directus-protocol.md` §3.

use serde::Serialize;

use super::{Reply, SessionJwt, TabIx, Token};

/// What a tab is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum TabStatus {
    /// Signed in, no request in flight.
    Idle,
    /// `POST /auth/refresh` in flight; `sent` is the session token its cookie carried.
    Refreshing { sent: Option<Token> },
    /// `GET /users/me` in flight.
    Requesting,
    /// On the login page (`/login?reason=SESSION_EXPIRED`).
    LoggedOut,
}

/// One tab's app state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Tab {
    /// What the tab is doing.
    pub status: TabStatus,
    /// Refreshes (loads, returns from idle) it may still start: a count.
    pub refreshes_left: u8,
    /// Ordinary requests it may still start: a count.
    pub requests_left: u8,
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

/// The browser actor's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BrowserState {
    /// The tabs, indexed by [`TabIx`].
    pub tabs: Vec<Tab>,
    /// The cookie jar's `directus_session_token`, shared by every tab.
    pub jar: Option<SessionJwt>,
    /// What the user did.
    pub truth: GroundTruth,
    /// Ghost: some refresh has been answered 2xx (for the sanity property).
    pub refreshed_ok: bool,
}

impl BrowserState {
    /// A browser signed in at tick 0 with `jar` as its session cookie and every tab idle.
    pub fn signed_in(tabs: u8, refreshes: u8, requests: u8, jar: SessionJwt) -> Self {
        let tab = Tab { status: TabStatus::Idle, refreshes_left: refreshes, requests_left: requests };
        BrowserState {
            tabs: vec![tab; tabs as usize],
            jar: Some(jar),
            truth: GroundTruth { signed_in: true, signed_out: false },
            refreshed_ok: false,
        }
    }

    /// Tab `t` starts a refresh: the jar's cookie goes out with it. Returns the cookie sent, or
    /// `None` if the tab cannot start one now.
    pub fn start_refresh(&mut self, t: TabIx) -> Option<Option<SessionJwt>> {
        let jar = self.jar;
        let tab = &mut self.tabs[t as usize];
        if tab.status != TabStatus::Idle || tab.refreshes_left == 0 {
            return None;
        }
        tab.refreshes_left -= 1;
        tab.status = TabStatus::Refreshing { sent: jar.map(|j| j.session) };
        Some(jar)
    }

    /// Tab `t` starts an ordinary request with the jar's cookie.
    pub fn start_request(&mut self, t: TabIx) -> Option<Option<SessionJwt>> {
        let jar = self.jar;
        let tab = &mut self.tabs[t as usize];
        if tab.status != TabStatus::Idle || tab.requests_left == 0 {
            return None;
        }
        tab.requests_left -= 1;
        tab.status = TabStatus::Requesting;
        Some(jar)
    }

    /// Tab `t` receives its refresh's response: a 2xx sets the cookie for every tab; anything
    /// else logs this tab out (no server call).
    pub fn on_refresh_reply(&mut self, t: TabIx, reply: Reply) {
        match reply {
            Reply::Ok { set_cookie } => {
                if let Some(c) = set_cookie {
                    self.jar = Some(c);
                }
                self.refreshed_ok = true;
                self.tabs[t as usize].status = TabStatus::Idle;
            }
            Reply::Err(_) => self.tabs[t as usize].status = TabStatus::LoggedOut,
        }
    }

    /// Tab `t` receives an ordinary response: success or failure, the tab goes on.
    pub fn on_request_reply(&mut self, t: TabIx, _reply: Reply) {
        self.tabs[t as usize].status = TabStatus::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HttpError;

    #[test]
    fn last_set_cookie_wins_and_a_401_logs_only_that_tab_out() {
        let jar = SessionJwt { session: 1, exp: 4 };
        let mut b = BrowserState::signed_in(2, 1, 0, jar);
        assert_eq!(b.start_refresh(0), Some(Some(jar)));
        assert_eq!(b.start_refresh(1), Some(Some(jar)));
        assert_eq!(b.start_refresh(1), None, "one request in flight per tab");
        b.on_refresh_reply(0, Reply::Ok { set_cookie: Some(SessionJwt { session: 2, exp: 4 }) });
        b.on_refresh_reply(1, Reply::Err(HttpError::InvalidCredentials));
        assert_eq!(b.jar.map(|j| j.session), Some(2));
        assert_eq!(b.tabs[0].status, TabStatus::Idle);
        assert_eq!(b.tabs[1].status, TabStatus::LoggedOut);
    }
}
