//! A 2xx stored as two writes (`browser.ok_writes`), and a client process that dies and starts
//! again (`browser.crashes_per_tab`).
//!
//! **Two writes.** Many native and desktop clients persist a refresh's answer as separate
//! storage writes: the access token, then the refresh token (a settings file, the keychain,
//! `SharedPreferences`, `AsyncStorage`), each its own `put`. With `ok_writes:
//! "access-then-refresh"` the step that takes the 2xx writes the access token, and the
//! refresh token (`on_ok`'s store reactions) is written in a later step of the tab's own
//! (`TabFinishesStoring`); meanwhile the tab is [`TabStatus::WritingSecond`] and starts
//! nothing. `refresh-then-access` writes the refresh token first and the access token in the
//! later step. The model does not keep a stored access token: the first write of
//! `access-then-refresh` changes nothing the properties read, only what a crash leaves.
//!
//! **Crashes.** With `crashes_per_tab: N` the tab's process may die (a crash, the user
//! quitting it, the OS killing it) up to N times, at a step boundary where it has no request
//! in flight: idle, or between the two writes. It starts again at once with what storage
//! holds: its memory (the access token, its expiry, a token not yet written) is lost, and its
//! next refresh reads the shared storage as every refresh does. Crashes need json mode with
//! `json_storage: "shared"` (a token kept only in memory is lost with the process).
//!
//! Sources: D00mch/souz `sharedLogic/src/commonJvmMain/kotlin/ru/souz/llms/codex/CodexOAuthService.kt`
//! `parseAndStoreTokens` (commit a95da554, before PR 711): `settingsProvider.codexAccessToken =
//! …` then `settingsProvider.codexRefreshToken = …`, each a separate `configStore.put`
//! (`SettingsProviderImpl.keyDelegate`); on the next start `refreshTokenIfNeeded` reads the
//! stored refresh token. The server-side analogue is `protocol.restarts` ("Restarts and
//! in-memory state").

use super::{BrowserCfg, BrowserState, TabIx, TabStatus, WrittenListener};
use crate::model::policy::OkReaction;

impl BrowserState {
    /// Whether tab `t` has the second write of a 2xx left to make ([`TabStatus::WritingSecond`]).
    pub fn may_finish_storing(&self, t: TabIx) -> bool {
        matches!(self.tabs[t as usize].status, TabStatus::WritingSecond { .. })
    }

    /// Tab `t` makes the second write of its 2xx: with `access-then-refresh` the refresh token
    /// goes where `on_ok` stores it (its own memory, the shared entry; an `adopt` listener in
    /// the other tabs hears the shared write); with `refresh-then-access` the access token,
    /// which changes nothing the model keeps. The tab is idle again. `false` and nothing done
    /// unless [`Self::may_finish_storing`].
    pub fn finish_storing(&mut self, cfg: &BrowserCfg, t: TabIx) -> bool {
        let TabStatus::WritingSecond { refresh } = self.tabs[t as usize].status else { return false };
        if let Some(tok) = refresh {
            for r in &cfg.on_ok {
                match r {
                    OkReaction::StoreInTab => self.tabs[t as usize].token = Some(tok),
                    OkReaction::StoreShared => {
                        self.storage = Some(tok);
                        if cfg.on_stored_token_written == WrittenListener::Adopt {
                            for (u, other) in self.tabs.iter_mut().enumerate() {
                                if u != t as usize && !matches!(other.status, TabStatus::LoggedOut | TabStatus::Closed)
                                {
                                    other.token = Some(tok);
                                }
                            }
                        }
                    }
                    // Refused with two writes: cookie mode, and a later render stage.
                    OkReaction::StoreInCookie | OkReaction::NextStageRefreshesWithOriginalToken => {}
                }
            }
        }
        self.tabs[t as usize].status = TabStatus::Idle;
        true
    }

    /// Whether tab `t`'s process may die now: it has a crash left, is signed in and has no
    /// request in flight (idle, or between the two writes of a 2xx).
    pub fn may_crash(&self, t: TabIx) -> bool {
        let tab = &self.tabs[t as usize];
        tab.crashes_left > 0 && matches!(tab.status, TabStatus::Idle | TabStatus::WritingSecond { .. })
    }

    /// Tab `t`'s process dies and starts again: a write not yet made is lost, and so is its
    /// memory (its own copy of the refresh token, the access token and its expiry); it is idle,
    /// signed in, and reads the shared storage when it next refreshes. `false` and nothing done
    /// unless [`Self::may_crash`].
    pub fn crash(&mut self, t: TabIx) -> bool {
        if !self.may_crash(t) {
            return false;
        }
        let tab = &mut self.tabs[t as usize];
        tab.crashes_left -= 1;
        tab.status = TabStatus::Idle;
        tab.token = None;
        tab.access = None;
        tab.expiry = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::model::browser::{AuthMode, BrowserCfg, BrowserState, Coordination, JsonStorage, Send, TabStatus};
    use crate::model::policy::{OkReaction, OkWrites};
    use crate::model::{Reply, SessionJwt};

    fn cfg(ok_writes: OkWrites) -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Json,
            storage: JsonStorage::Shared,
            ok_writes,
            crashes: 1,
            refreshes: 2,
            on_ok: vec![OkReaction::StoreShared],
            ..crate::model::browser::tests::cfg(1, Coordination::None)
        }
    }

    fn ok(token: u8) -> Reply {
        Reply::Ok { set_cookie: None, token: Some(token), expires_at: Some(3), access: None }
    }

    #[test]
    fn a_crash_between_access_then_refresh_leaves_the_old_token_stored() {
        let c = cfg(OkWrites::AccessThenRefresh);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.storage = Some(1);
        let Some(Send::Refresh { .. }) = b.start_refresh(&c, 0) else { panic!("a refresh") };
        b.on_refresh_reply(&c, 0, ok(2));
        assert_eq!(b.tabs[0].status, TabStatus::WritingSecond { refresh: Some(2) });
        assert_eq!(b.storage, Some(1), "the refresh token is not written yet");
        assert!(b.crash(0));
        assert_eq!(b.tabs[0].status, TabStatus::Idle);
        assert_eq!(b.storage, Some(1), "the restarted process reads the old token");
        assert!(!b.may_crash(0), "one crash");
        assert!(!b.finish_storing(&c, 0), "the lost write is never made");
    }

    #[test]
    fn the_second_write_stores_the_refresh_token_and_refresh_first_stores_it_at_once() {
        let c = cfg(OkWrites::AccessThenRefresh);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.storage = Some(1);
        b.start_refresh(&c, 0);
        b.on_refresh_reply(&c, 0, ok(2));
        assert!(b.finish_storing(&c, 0));
        assert_eq!((b.storage, b.tabs[0].status), (Some(2), TabStatus::Idle));

        let c = cfg(OkWrites::RefreshThenAccess);
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.storage = Some(1);
        b.start_refresh(&c, 0);
        b.on_refresh_reply(&c, 0, ok(2));
        assert_eq!((b.storage, b.tabs[0].status), (Some(2), TabStatus::WritingSecond { refresh: None }));
        assert!(b.crash(0));
        assert_eq!(b.storage, Some(2), "a crash before the access token's write keeps the new refresh token");
    }
}
