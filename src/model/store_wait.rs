//! A refusal reaction that waits a bounded time for the stored token to change
//! (`wait-for-token-change`, with `browser.token_change_wait` N ticks).
//!
//! Two processes (or tabs) that share one credential store refresh the same token; the server
//! rotates for the first and refuses the second. A client that reads the store once when the
//! refusal comes (`ignore-if-token-changed`) adopts the winner's token only if the winner has
//! already stored it. clerk/cli PR 213 waits instead: `awaitConcurrentRefresh` reads the stored
//! session at once and again after sleeps of 25, 50 and 100 ms, and adopts the first session
//! whose refresh token differs from the one it sent; only after the last read does it delete
//! the stored session and exit with `session_expired`.
//!
//! In the model the reaction reads where the mode keeps the token at once; if it holds some
//! other token the refusal is dropped. Otherwise the tab waits
//! ([`TabStatus::WaitingForTokenChange`]): its step [`crate::model::Timer::TabRereadsToken`]
//! is enabled as soon as the stored token changed (a read during the wait finds it: the polls
//! are closer together than a tick) or once its browser clock has advanced N ticks since the
//! refusal (the last read). The step adopts a changed token, or goes on with the rest of the
//! reaction list. A winner whose write lands after the last read is not seen: with the
//! network's delays unbounded it may; `time.max_in_flight_ticks` bounds them.
//!
//! Sources: clerk/cli `packages/cli-core/src/lib/credential-store.ts` at PR 213 (2e6d03b2):
//! `INVALID_GRANT_RETRY_DELAYS_MS = [25, 50, 100]`, `awaitConcurrentRefresh` (`for delayMs of
//! [0, ...INVALID_GRANT_RETRY_DELAYS_MS]`: sleep, `getStoredSession()`, skip a missing session
//! or one with the same `refreshToken`, return the other session's access token), called by
//! `refreshStoredSession` on `invalid_grant` before `deleteToken()`.

use super::{BrowserCfg, BrowserState, Ran, Send, TabIx, TabStatus, Token};

impl BrowserState {
    /// Tab `t` reaches `wait-for-token-change` at position `at` of its reaction list
    /// (`on_server_error` when `server_error`, else `on_refused`) for a refresh that presented
    /// `sent`: it reads the stored token now. Some other token: the refusal is dropped (the tab
    /// is idle with it); returns true, the list ends. The same token or none: the tab starts
    /// waiting (returns true, the list is suspended) when the model has a wait; without
    /// `token_change_wait` (never in a valid model) it returns false and the list goes on.
    pub(super) fn start_token_wait(
        &mut self,
        cfg: &BrowserCfg,
        t: TabIx,
        sent: Option<Token>,
        at: usize,
        server_error: bool,
    ) -> bool {
        if self.token_changed(cfg, t, sent) {
            self.tabs[t as usize].status = TabStatus::Idle;
            return true;
        }
        let Some(_) = cfg.token_change_wait else { return false };
        let since = self.now;
        self.tabs[t as usize].status =
            TabStatus::WaitingForTokenChange { sent, since, resume: (at + 1) as u8, server_error };
        true
    }

    /// Whether tab `t` now reads, where its mode keeps the token, some token other than `sent`.
    fn token_changed(&self, cfg: &BrowserCfg, t: TabIx, sent: Option<Token>) -> bool {
        let stored = self.presented_now(cfg, t);
        stored.is_some() && stored != sent
    }

    /// Whether tab `t` waits for the stored token to change and its next read decides: the
    /// token changed, or the wait has run out (its browser clock reached the refusal's tick
    /// plus `token_change_wait`).
    pub fn may_reread_token(&self, cfg: &BrowserCfg, t: TabIx) -> bool {
        let TabStatus::WaitingForTokenChange { sent, since, .. } = self.tabs[t as usize].status else {
            return false;
        };
        let due = cfg.token_change_wait.is_some_and(|n| self.now >= since.saturating_add(n));
        due || self.token_changed(cfg, t, sent)
    }

    /// Tab `t` reads the stored token during its wait ([`Self::may_reread_token`]): a changed
    /// token drops the refusal (idle with it); otherwise the wait is over and the reaction list
    /// goes on from where it stopped. Returns the refresh a later reaction sends, if any;
    /// `None` and nothing done unless the read is due.
    pub fn reread_token(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        self.reread_token_traced(cfg, t, &mut Vec::new())
    }

    /// What the rest of tab `t`'s reaction list does, reaction by reaction, if its read during
    /// the wait finds no other token ([`Self::reread_token`]), run on a copy of this state
    /// ([`Ran`]; empty when the read adopts a token): the trace's words for the step, from the
    /// same code as the step itself.
    pub fn reread_trail(&self, cfg: &BrowserCfg, t: TabIx) -> Vec<Ran> {
        let mut trail = Vec::new();
        self.clone().reread_token_traced(cfg, t, &mut trail);
        trail
    }

    /// [`Self::reread_token`], writing what each reaction after the wait did into `trail`.
    fn reread_token_traced(&mut self, cfg: &BrowserCfg, t: TabIx, trail: &mut Vec<Ran>) -> Option<Send> {
        if !self.may_reread_token(cfg, t) {
            return None;
        }
        let TabStatus::WaitingForTokenChange { sent, resume, server_error, .. } = self.tabs[t as usize].status else {
            return None;
        };
        if self.token_changed(cfg, t, sent) {
            self.tabs[t as usize].status = TabStatus::Idle;
            return None;
        }
        self.tabs[t as usize].status = TabStatus::Refreshing { sent };
        let list = if server_error { &cfg.on_server_error } else { &cfg.on_refused };
        self.react_from(cfg, t, list, resume as usize, sent, trail)
    }

    /// Whether tab `t` is waiting for the stored token to change.
    pub fn waits_for_token_change(&self, t: TabIx) -> bool {
        matches!(self.tabs[t as usize].status, TabStatus::WaitingForTokenChange { .. })
    }
}

/// The words of a token a tab sent or reads: `token=N`, or `no token`.
fn token_words(tok: Option<Token>) -> String {
    tok.map_or("no token".to_string(), |x| format!("token={x}"))
}

/// The end of the trace text of a refresh answer after which tab `after` waits for the stored
/// token to change (`gets 400 …`, written by the caller before it); `None` unless it waits.
pub fn wait_started_text(cfg: &BrowserCfg, after: &super::Tab) -> Option<String> {
    let TabStatus::WaitingForTokenChange { sent, .. } = after.status else { return None };
    let n = cfg.token_change_wait.unwrap_or(0);
    Some(format!(
        "; the stored token is still the one it sent ({}): it waits up to {n} tick(s) of its clock for another to be stored (`wait-for-token-change`)",
        token_words(sent)
    ))
}

/// The trace text of tab `t`'s read during its wait ([`BrowserState::reread_token`]), from
/// the browser before and after; `who` names the tab, and `rest` is what the rest of the
/// reaction list did, in the words every reaction list's step uses
/// ([`BrowserState::reread_trail`]: `clears the stored token and is logged out`).
pub fn reread_text(
    cfg: &BrowserCfg,
    (before, after): (&BrowserState, &BrowserState),
    t: TabIx,
    who: &str,
    rest: &str,
) -> String {
    let TabStatus::WaitingForTokenChange { sent, since, .. } = before.tabs[t as usize].status else {
        return format!("{who} reads the stored token again");
    };
    let stored = before.presented_now(cfg, t);
    if stored.is_some() && stored != sent {
        return format!(
            "{who} reads the stored token again while it waits: {}, not the one it sent ({}): it takes it and drops the refusal",
            token_words(stored),
            token_words(sent)
        );
    }
    format!(
        "{who}'s wait for the stored token runs out (browser clock {since} to {}): the last read finds {}, still not another; the reactions go on: the tab {rest}",
        after.now,
        token_words(stored)
    )
}

#[cfg(test)]
mod tests {
    use crate::model::browser::{AuthMode, BrowserCfg, BrowserState, Coordination, JsonStorage, Send, TabStatus};
    use crate::model::policy::{OkReaction, Reaction};
    use crate::model::{HttpError, Reply, SessionJwt};

    fn cfg() -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Json,
            storage: JsonStorage::Shared,
            token_change_wait: Some(2),
            max_ticks: 4,
            on_ok: vec![OkReaction::StoreShared],
            on_refused: vec![Reaction::WaitForTokenChange, Reaction::ClearStoredToken, Reaction::LogOut],
            ..crate::model::browser::tests::cfg(2, Coordination::None)
        }
    }

    fn refused() -> Reply {
        Reply::Err(HttpError::InvalidCredentials)
    }

    fn ok(token: u8) -> Reply {
        Reply::Ok { set_cookie: None, token: Some(token), expires_at: None, access: None }
    }

    #[test]
    fn a_write_during_the_wait_is_adopted() {
        let c = cfg();
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        let Some(Send::Refresh { .. }) = b.start_refresh(&c, 0) else { panic!("A refreshes") };
        let Some(Send::Refresh { .. }) = b.start_refresh(&c, 1) else { panic!("B refreshes") };
        assert!(b.on_refresh_reply(&c, 1, refused()).is_none());
        assert!(b.waits_for_token_change(1), "the store still holds token 1: B waits");
        assert!(!b.may_reread_token(&c, 1), "nothing changed and no time passed");
        b.on_refresh_reply(&c, 0, ok(2));
        assert!(b.may_reread_token(&c, 1), "the winner's write is seen by the next read");
        assert!(b.reread_token(&c, 1).is_none());
        assert_eq!((b.tabs[1].status, b.storage), (TabStatus::Idle, Some(2)), "B adopts token 2");
    }

    #[test]
    fn the_wait_runs_out_and_the_list_goes_on() {
        let c = cfg();
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        b.start_refresh(&c, 1);
        b.on_refresh_reply(&c, 1, refused());
        b.now += 1;
        assert!(!b.may_reread_token(&c, 1), "one tick of a two-tick wait");
        b.now += 1;
        assert!(b.may_reread_token(&c, 1), "the last read is due");
        b.reread_token(&c, 1);
        assert_eq!((b.tabs[1].status, b.storage), (TabStatus::LoggedOut, None), "the rest of the list ran");
        b.on_refresh_reply(&c, 0, ok(2));
        assert_eq!(b.storage, Some(2), "a write after the last read is not seen by B");
    }

    #[test]
    fn a_token_already_changed_ends_the_list_at_once() {
        let c = cfg();
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        b.start_refresh(&c, 1);
        b.on_refresh_reply(&c, 0, ok(2));
        b.on_refresh_reply(&c, 1, refused());
        assert_eq!(b.tabs[1].status, TabStatus::Idle, "the first read (0 ms) finds token 2");
    }
}
