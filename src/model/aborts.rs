//! A refresh the browser aborts (`browser.aborts_per_tab`, `browser.on_aborted`).
//!
//! An `AbortController` whose timeout fires, or a navigation inside the app that cancels the
//! page's fetches, rejects the tab's pending `fetch` at once with an `AbortError`: the tab
//! does not wait for an answer (as it does for a lost one, `lossy`), it runs its reactions to
//! the failure (`on_aborted`, by default its `on_server_error`) and goes on. The request
//! itself may already be on the wire: the server still serves it, and may rotate the token,
//! but its answer is read by nobody (no body stored, no `Set-Cookie` applied: the fetch was
//! cancelled before its response arrived).
//!
//! An aborted refresh's answer is told apart from a later refresh's by the tab's refresh
//! round ([`super::requesters::round_address`]): the abort ends the round, so the answer to
//! the aborted request, whenever it comes, is dropped like an answer to an earlier round of a
//! retrying tab. Aborts therefore exclude several requesters and reloads (the model file is
//! refused), whose addresses use the same bits.
//!
//! Sources: WHATWG Fetch, "abort the fetch() call" (the promise rejects with the signal's
//! abort reason; the request may have reached the server); MDN `AbortSignal.timeout()`;
//! MotWakorb/enhancedchannelmanager PR 865 ("a client never received the rotated response,
//! because a navigation or abort killed the request mid-flight"); the client's
//! `tryRefreshToken` (`frontend/src/services/httpClient.ts`: a failed fetch returns false and
//! logs nothing out).

use super::{BrowserCfg, BrowserState, Ran, Send, TabIx, TabStatus};

impl BrowserState {
    /// Whether tab `t` may abort now: its own refresh is in flight and it has an abort left.
    pub fn may_abort(&self, t: TabIx) -> bool {
        let tab = &self.tabs[t as usize];
        tab.aborts_left > 0 && matches!(tab.status, TabStatus::Refreshing { .. })
    }

    /// Tab `t` aborts its refresh in flight: the round ends (the answer is dropped when it
    /// comes) and the tab runs `on_aborted` as for a failed refresh; returns the refresh a
    /// reaction sends again (`retry`, `retry-with-stored-token`), if any. `None` and nothing
    /// done unless [`Self::may_abort`].
    pub fn abort(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        self.abort_traced(cfg, t, &mut Vec::new())
    }

    /// What tab `t`'s `on_aborted` reactions do, reaction by reaction, if it aborts now, run on
    /// a copy of this state ([`Ran`]): the trace's words for the step, from the same code as
    /// the step itself.
    pub fn abort_trail(&self, cfg: &BrowserCfg, t: TabIx) -> Vec<Ran> {
        let mut trail = Vec::new();
        self.clone().abort_traced(cfg, t, &mut trail);
        trail
    }

    /// [`Self::abort`], writing what each reaction did into `trail`.
    fn abort_traced(&mut self, cfg: &BrowserCfg, t: TabIx, trail: &mut Vec<Ran>) -> Option<Send> {
        if !self.may_abort(t) {
            return None;
        }
        let tab = &mut self.tabs[t as usize];
        tab.aborts_left -= 1;
        tab.round = (tab.round + 1) & 15;
        tab.sent_at = None;
        tab.later_stage = false;
        self.react_traced(cfg, t, &cfg.on_aborted, trail)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::browser::{AuthMode, BrowserCfg, BrowserState, Coordination, JsonStorage, Send, TabStatus};
    use crate::model::policy::{OkReaction, Reaction};
    use crate::model::SessionJwt;

    fn cfg(on_aborted: Vec<Reaction>) -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Cookie,
            storage: JsonStorage::PerTab,
            aborts: 1,
            on_aborted,
            refreshes: 2,
            on_ok: vec![OkReaction::StoreInCookie],
            ..crate::model::browser::tests::cfg(1, Coordination::None)
        }
    }

    #[test]
    fn an_abort_runs_on_aborted_and_drops_the_late_answer() {
        let c = cfg(vec![Reaction::KeepGoing]);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.jar.refresh = Some(1);
        assert!(!b.may_abort(0), "nothing in flight");
        let Some(Send::Refresh { tab: first, .. }) = b.start_refresh(&c, 0) else { panic!("a refresh") };
        assert!(b.abort(&c, 0).is_none());
        assert_eq!(b.tabs[0].status, TabStatus::Idle, "keep-going");
        assert!(!b.may_abort(0), "one abort");
        let Some(Send::Refresh { tab: second, .. }) = b.start_refresh(&c, 0) else { panic!("a refresh") };
        assert_ne!(first, second, "a new round");
        // The aborted request's answer comes to an address of an earlier round: dropped.
        assert_ne!(crate::model::browser::requesters::round_of(first), Some(b.tabs[0].round));
    }

    #[test]
    fn log_out_is_the_default_of_on_server_error() {
        let c = cfg(vec![Reaction::LogOut]);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        b.abort(&c, 0);
        assert_eq!(b.tabs[0].status, TabStatus::LoggedOut);
    }
}
