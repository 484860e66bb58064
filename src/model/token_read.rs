//! A step between reading the refresh token and sending it (`browser.reads_token:
//! "before-send"`).
//!
//! By default a tab reads its refresh token where its mode keeps it in the step that sends the
//! refresh, so the request carries what is stored at that moment. Many clients read the token
//! first and then await something else before the request leaves: server metadata, a client
//! id, a crypto store. With `before-send` a tab's refresh is two steps of its own: it reads the
//! token (after taking the Web Lock, or being granted it, and after `lock_granted`'s check),
//! keeps the value ([`super::Tab::read`], status [`TabStatus::TokenRead`]), and sends that
//! value in a later step ([`super::super::Timer::TabSendsReadToken`]), whatever is stored by
//! then. Any other step may run in between: another tab (or process) can rotate the token and
//! store the new one, and the tab still sends the one it read.
//!
//! Only a refresh a tab *starts* reads in a step of its own (its own refresh, a grant of the
//! lock, a steal); a reaction that sends the refresh again (`retry`, `retry-with-stored-token`)
//! reads as it sends. The model file is refused with retries, requesters, reloads, aborts,
//! calls and a sign-out notice, and outside json mode (an HttpOnly cookie is attached by the
//! browser when the request leaves; no script reads it first).
//!
//! Sources: matrix-org/matrix-rust-sdk `crates/matrix-sdk/src/authentication/oauth/mod.rs`
//! `refresh_access_token` before PR 6860 (fd8fc22cc^: the cross-process lock and the session
//! hash check, then `session_tokens()` captured, then `server_metadata().await`, then
//! `refresh_access_token_inner` exchanging the captured token) and after it (the metadata
//! fetched before the lock; the token read after the hash check, right before the exchange);
//! issue 6794.

use super::{BrowserCfg, BrowserState, Send, TabIx, TabStatus};
use crate::model::policy::ReadsToken;

impl BrowserState {
    /// Tab `t` goes on with a refresh it starts now: with `reads_token: "at-send"` it sends it
    /// (returned); with `"before-send"` it reads the token where its mode keeps it, keeps it,
    /// and sends nothing now (`None`; [`Self::send_read_token`] sends it later).
    pub(super) fn send_or_read(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        if cfg.reads_token == ReadsToken::AtSend {
            return Some(self.send_refresh(cfg, t));
        }
        let token = self.stored_token(cfg, t);
        let tab = &mut self.tabs[t as usize];
        tab.read = token;
        tab.status = TabStatus::TokenRead;
        tab.waited = 0; // whatever it waited for, it waits no more
        None
    }

    /// Whether tab `t` has read its refresh token and not sent it yet.
    pub fn holds_read_token(&self, t: TabIx) -> bool {
        self.tabs[t as usize].status == TabStatus::TokenRead
    }

    /// Tab `t` sends the refresh token it read in an earlier step (whatever is stored now),
    /// which is returned; `None` and nothing done unless [`Self::holds_read_token`].
    pub fn send_read_token(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        if !self.holds_read_token(t) {
            return None;
        }
        Some(self.send_refresh(cfg, t))
    }
}

#[cfg(test)]
mod tests {
    use crate::model::browser::{AuthMode, BrowserCfg, BrowserState, Coordination, JsonStorage, Send, TabStatus};
    use crate::model::policy::{LockGranted, OkReaction, ReadsToken};
    use crate::model::{Reply, SessionJwt};

    fn cfg(coordination: Coordination) -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Json,
            storage: JsonStorage::Shared,
            reads_token: ReadsToken::BeforeSend,
            on_ok: vec![OkReaction::StoreShared],
            ..crate::model::browser::tests::cfg(2, coordination)
        }
    }

    fn ok(token: u8) -> Reply {
        Reply::Ok { set_cookie: None, token: Some(token), expires_at: None, access: None }
    }

    #[test]
    fn the_send_presents_the_token_read_even_after_another_tab_stored_a_new_one() {
        let c = cfg(Coordination::None);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert!(b.start_refresh(&c, 0).is_none(), "the first step only reads");
        assert_eq!((b.tabs[0].status, b.tabs[0].read), (TabStatus::TokenRead, Some(1)));
        // Tab B refreshes meanwhile and stores token 2.
        assert!(b.start_refresh(&c, 1).is_none());
        let Some(Send::Refresh { cred, .. }) = b.send_read_token(&c, 1) else { panic!("B sends") };
        assert_eq!(cred.token, Some(1));
        b.on_refresh_reply(&c, 1, ok(2));
        assert_eq!(b.storage, Some(2));
        let Some(Send::Refresh { cred, .. }) = b.send_read_token(&c, 0) else { panic!("A sends") };
        assert_eq!(cred.token, Some(1), "the token read, not the one stored now");
        assert_eq!(b.tabs[0].status, TabStatus::Refreshing { sent: Some(1) });
        assert!(b.send_read_token(&c, 0).is_none(), "one send per read");
    }

    #[test]
    fn a_tab_granted_the_lock_reads_and_keeps_it_until_its_answer() {
        let c = cfg(Coordination::WebLocks);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        assert_eq!(b.lock, Some(0), "it took the lock before reading");
        b.start_refresh(&c, 1);
        assert_eq!(b.tabs[1].status, TabStatus::WaitingLock);
        b.send_read_token(&c, 0);
        // A's answer releases the lock: B is granted it and reads the stored token 2.
        assert!(b.on_refresh_reply(&c, 0, ok(2)).is_none(), "B reads, it does not send yet");
        assert_eq!((b.lock, b.tabs[1].status, b.tabs[1].read), (Some(1), TabStatus::TokenRead, Some(2)));
        assert!(b.queue.is_empty());
    }

    #[test]
    fn a_stealing_tab_reads_and_keeps_the_lock() {
        let c = BrowserCfg {
            lock_steal: true,
            lock_granted: LockGranted::SkipIfTokenChanged,
            ..cfg(Coordination::WebLocks)
        };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        b.start_refresh(&c, 1);
        assert_eq!(b.steal_lock(&c, 1), (true, None));
        assert_eq!((b.lock, b.tabs[1].status, b.tabs[1].read), (Some(1), TabStatus::TokenRead, Some(1)));
        assert_eq!(b.tabs[0].status, TabStatus::TokenRead, "the holder it stole from still runs");
    }
}
