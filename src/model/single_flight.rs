//! Several requesters of one tab sharing the page's refresh in flight (`browser.single_flight`).
//!
//! Without the field every requester of a tab ([`super::requesters`]) refreshes on its own:
//! two API calls of one page that are both answered 401 each send the refresh with the cookie
//! they carry, and the one that arrives second presents a token the first already rotated
//! (drips-network/app before PR 1884). Many clients keep one refresh promise per page instead:
//! a caller that finds a refresh in flight awaits it rather than sending its own (Drips PR
//! 1884's module-level `refreshInFlight`, axios-auth-refresh's shared promise, oidc-client-ts'
//! `_refreshSignal`). `single_flight: true` says so for every tab, and
//! `tab_settings[i].single_flight` for one tab (a page whose library shares the promise beside
//! one whose does not).
//!
//! **What a single-flight requester does.** When its turn comes to refresh (the step in which
//! it would send: [`BrowserState::start_requester_refresh`] for requesters 2 to N,
//! [`BrowserState::start_refresh`] for the tab itself), it looks for a refresh of the same
//! page in flight (the tab's own, or another requester's). If there is one it sends nothing:
//! it spends one of its refreshes and awaits that refresh's outcome
//! ([`BrowserState::join_refresh_in_flight`]). The outcome is the page's: the owner's answer
//! runs the owner's reactions once (a 2xx stores the new token for the page, a refusal's
//! `log-out` logs the tab out), as `await refreshInFlight` hands every caller the same
//! settled promise. What the awaiting caller does next with its own request (Drips sends its
//! API call again) is not modelled, as a requester's calls are not. With nothing in flight it
//! refreshes as before. The promise is a variable of the page: tabs never share it, so two
//! tabs still race.
//!
//! Models without the field take none of these paths: [`BrowserCfg::single_flight_of`] is
//! false for every tab and the requesters' steps are the ones they were.

use super::{BrowserCfg, BrowserState, TabIx, TabStatus};

impl BrowserCfg {
    /// Whether tab `t`'s requesters share one refresh in flight: its own
    /// `tab_settings[t].single_flight`, else the browser's `single_flight`.
    pub fn single_flight_of(&self, t: TabIx) -> bool {
        self.tab_settings.get(t as usize).map_or(self.single_flight, |s| s.single_flight)
    }
}

impl BrowserState {
    /// The requester of tab `t` other than `r` whose refresh is in flight, the first found
    /// (0 is the tab's own refresh, 1 to N - 1 the other requesters); `None` when no other
    /// requester of the page has one in flight.
    pub fn page_refresh_in_flight(&self, t: TabIx, r: u8) -> Option<u8> {
        let tab = &self.tabs[t as usize];
        if r != 0 && matches!(tab.status, TabStatus::Refreshing { .. }) {
            return Some(0);
        }
        tab.requesters.iter().enumerate().find(|(i, q)| *i as u8 + 1 != r && q.sent.is_some()).map(|(i, _)| i as u8 + 1)
    }

    /// Requester `r` of tab `t` (0: the tab itself) is about to refresh with single-flight
    /// ([`BrowserCfg::single_flight_of`]) while another requester of the page has a refresh in
    /// flight: it sends nothing, spends one of its refreshes and awaits that refresh (see the
    /// module doc). Returns whether it did; `false` (nothing changed) without single-flight,
    /// with nothing in flight, or when the requester could not refresh now (the tab not idle,
    /// for the tab itself; its own refresh in flight, no refresh left or the tab signed out,
    /// for another requester).
    pub fn join_refresh_in_flight(&mut self, cfg: &BrowserCfg, t: TabIx, r: u8) -> bool {
        if !cfg.single_flight_of(t) || self.page_refresh_in_flight(t, r).is_none() {
            return false;
        }
        if r == 0 {
            let tab = &mut self.tabs[t as usize];
            if tab.status != TabStatus::Idle || tab.refreshes_left == 0 {
                return false;
            }
            tab.refreshes_left -= 1;
        } else {
            if !self.requester_may_start(t, r) {
                return false;
            }
            self.tabs[t as usize].requesters[(r - 1) as usize].refreshes_left -= 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::browser::Send;
    use crate::model::{HttpError, Reply, SessionJwt};

    fn cfg_of(model: &str) -> BrowserCfg {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(model);
        crate::model::browser_cfg(&crate::scenario::Scenario::load(&path).unwrap())
    }

    #[test]
    fn a_requester_awaits_the_pages_refresh_and_the_owners_refusal_is_the_pages() {
        let mut c = cfg_of("inite-641-page-fetches-race.json");
        assert!(!c.single_flight_of(0));
        c.single_flight = true;
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        assert!(!b.join_refresh_in_flight(&c, 0, 1), "nothing in flight: it refreshes itself");
        assert!(matches!(b.start_refresh(&c, 0), Some(Send::Refresh { tab: 0, .. })));
        assert_eq!(b.page_refresh_in_flight(0, 1), Some(0));
        assert!(b.join_refresh_in_flight(&c, 0, 1));
        assert_eq!((b.tabs[0].requesters[0].sent, b.tabs[0].requesters[0].refreshes_left), (None, 0));
        assert!(!b.join_refresh_in_flight(&c, 0, 1), "no refresh left");
        assert_eq!(b.on_addressed_reply(&c, 0, Reply::Err(HttpError::InvalidCredentials)), None);
        assert_eq!(b.tabs[0].status, TabStatus::LoggedOut);
    }

    #[test]
    fn the_tab_awaits_a_requesters_refresh_and_without_the_field_nobody_waits() {
        let mut c = cfg_of("inite-641-page-fetches-race.json");
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        assert!(b.start_requester_refresh(&c, 0, 1).is_some());
        assert!(!b.join_refresh_in_flight(&c, 0, 0), "no single-flight: the tab sends its own");
        c.tab_settings = vec![super::super::tab_settings::TabCfg {
            refreshes: c.refreshes,
            triggers: vec![Default::default(); usize::from(c.requesters.max(1))],
            own_refreshes: false,
            single_flight: true,
        }];
        assert!(c.single_flight_of(0));
        assert!(b.join_refresh_in_flight(&c, 0, 0));
        assert_eq!((b.tabs[0].status, b.tabs[0].refreshes_left), (TabStatus::Idle, 0));
    }
}
