//! A reaction to a refresh that timed out (`browser.on_timeout`).
//!
//! A client that waits for its refresh's answer with a timeout (OkHttp's `readTimeout`,
//! Dio's `receiveTimeout`, `URLSession`'s `timeoutIntervalForRequest`) gives up once the
//! timeout fires and no answer came: the answer was lost, or it is only slower than the
//! timeout. By default (`browser.retries_per_tab` alone) the model's tab then sends the same
//! refresh again and takes the first answer to any attempt. With `on_timeout` the tab instead
//! abandons the attempt, as an `AbortController` abandons an aborted one
//! ([`super::aborts`]): the round ends (an answer that comes later is dropped), and the tab
//! runs its `on_timeout` reactions, the vocabulary of `on_server_error`: sign the user out
//! (`log-out`), keep the session (`keep-going`), send the refresh once more (`retry`, within
//! `browser.retry_limit`), clear the stored token.
//!
//! When a tab may time out is `browser.retry_timeout` (at any moment, after a loss, or N
//! ticks of the browser's clock after it sent), and how many times `browser.retries_per_tab`:
//! the same timer ([`crate::model::Timer::TabRetries`]) fires, and this module says what the
//! tab does then.
//!
//! Sources: schulydev/Schuly issue 476 and PR 492 ("a timeout, a DNS failure or a 5xx keeps
//! the stored tokens and surfaces a retryable error instead"; before it,
//! `lib/services/auth_service.dart` `_refresh` caught every failure and returned null, and
//! `lib/services/api_client.dart`'s interceptor then called `AuthService.signOut()`);
//! DuendeArchive/IdentityServer4 issue 3368 (a read timeout after the server rotated).

use super::{BrowserCfg, BrowserState, Ran, Send, TabIx, TabStatus};

impl BrowserState {
    /// Whether tab `t` may time out now (with `on_timeout`): its refresh is in flight and it
    /// has a timeout left (`retries_per_tab`). The clock and loss conditions of
    /// `retry_timeout` are the timer's ([`crate::model::Timer::TabRetries`]).
    pub fn may_time_out(&self, t: TabIx) -> bool {
        let tab = &self.tabs[t as usize];
        tab.retries_left > 0 && matches!(tab.status, TabStatus::Refreshing { .. })
    }

    /// Tab `t` gives up waiting for its refresh's answer: the round ends (an answer that
    /// comes later is dropped) and the tab runs `on_timeout`; returns the refresh a reaction
    /// sends again (`retry`, `retry-with-stored-token`), if any. A `retry` that presents the
    /// token the abandoned attempt presented is a retry after a lost answer (the LP2 ghost's
    /// `retry`). `None` and nothing done unless [`Self::may_time_out`] and the model has
    /// `on_timeout`.
    pub fn time_out(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        self.time_out_traced(cfg, t, &mut Vec::new())
    }

    /// What tab `t`'s `on_timeout` reactions do, reaction by reaction, if it times out now,
    /// run on a copy of this state ([`Ran`]): the trace's words for the step, from the same
    /// code as the step itself.
    pub fn time_out_trail(&self, cfg: &BrowserCfg, t: TabIx) -> Vec<Ran> {
        let mut trail = Vec::new();
        self.clone().time_out_traced(cfg, t, &mut trail);
        trail
    }

    /// [`Self::time_out`], writing what each reaction did into `trail`.
    fn time_out_traced(&mut self, cfg: &BrowserCfg, t: TabIx, trail: &mut Vec<Ran>) -> Option<Send> {
        let Some(list) = cfg.on_timeout.as_ref() else { return None };
        if !self.may_time_out(t) {
            return None;
        }
        let tab = &mut self.tabs[t as usize];
        let sent = match tab.status {
            TabStatus::Refreshing { sent } => sent,
            _ => None,
        };
        tab.retries_left -= 1;
        tab.round = (tab.round + 1) & 15;
        tab.sent_at = None;
        tab.later_stage = false;
        match self.react_traced(cfg, t, list, trail) {
            Some(Send::Refresh { tab, cred, access, .. }) => {
                let retry = sent.is_some() && cred.presented() == sent;
                Some(Send::Refresh { tab, cred, retry, access })
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::browser::{AuthMode, BrowserCfg, BrowserState, Coordination, JsonStorage, Send, TabStatus};
    use crate::model::policy::{OkReaction, Reaction};
    use crate::model::SessionJwt;

    fn cfg(on_timeout: Vec<Reaction>, retry_limit: u8) -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Json,
            storage: JsonStorage::PerTab,
            retries: 2,
            retry_limit,
            on_timeout: Some(on_timeout),
            refreshes: 2,
            on_ok: vec![OkReaction::StoreInTab],
            ..crate::model::browser::tests::cfg(1, Coordination::None)
        }
    }

    #[test]
    fn a_timeout_runs_on_timeout_and_drops_the_late_answer() {
        let c = cfg(vec![Reaction::KeepGoing], 0);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert!(!b.may_time_out(0), "nothing in flight");
        let Some(Send::Refresh { tab: first, .. }) = b.start_refresh(&c, 0) else { panic!("a refresh") };
        assert!(b.time_out(&c, 0).is_none());
        assert_eq!(b.tabs[0].status, TabStatus::Idle, "keep-going");
        let Some(Send::Refresh { tab: second, .. }) = b.start_refresh(&c, 0) else { panic!("a refresh") };
        assert_ne!(first, second, "a new round");
        assert_ne!(crate::model::browser::requesters::round_of(first), Some(b.tabs[0].round));
    }

    #[test]
    fn retry_then_log_out() {
        let c = cfg(vec![Reaction::Retry, Reaction::LogOut], 1);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        let Some(Send::Refresh { retry, .. }) = b.time_out(&c, 0) else { panic!("one more try") };
        assert!(retry, "the same token again after no answer: a retry after a lost answer");
        assert!(b.time_out(&c, 0).is_none());
        assert_eq!(b.tabs[0].status, TabStatus::LoggedOut, "the second timeout signs the user out");
    }

    #[test]
    fn without_on_timeout_nothing_happens() {
        let c = BrowserCfg { on_timeout: None, ..cfg(vec![Reaction::LogOut], 0) };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        assert!(b.time_out(&c, 0).is_none());
        assert!(matches!(b.tabs[0].status, TabStatus::Refreshing { .. }));
    }
}
