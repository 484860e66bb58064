//! A sign-out that takes the tab's Web Lock (`browser.sign_out_takes_lock`).
//!
//! supabase/auth-js runs `signOut` inside `_acquireLock(-1, …)`, the lock its refreshes take
//! (since v2.47.0, PR 757 "lock on external calls"); from v2.62.0 that lock is a Web Lock by
//! default in browsers (PR 807: `navigatorLock` on `navigator.locks.request`, where v2.61.0 and
//! earlier used `lockNoOp`, which orders nothing across tabs). So from v2.62.0 a sign-out in one
//! tab waits for another tab's refresh in flight to be answered and stored, and then reads the
//! session from storage (`_signOut` → `_useSession`), presenting the token that refresh stored.
//!
//! Modelled with `coordination: "web-locks"`: the signing-out tab takes the lock if it is free
//! and sends its sign-out; otherwise it queues for the lock like a refresh
//! ([`TabStatus::WaitingLock`], marked [`super::Tab::sign_out_queued`]) and, once granted, sends
//! its sign-out with the token stored then. The sign-out's answer releases the lock to the
//! next waiter ([`BrowserState::release_after_sign_out`]). The user's decision (the ground
//! truth `signed_out`, the sign-out budget) is taken at the click, as without the field.
//!
//! A tab granted the lock once the storage holds no session (the sign-out before it cleared
//! it, or a refused refresh did) sends nothing: auth-js's `_useSession` (under `signOut`) and
//! `__loadSession` (under a refresh) read the session from storage first, find none and
//! return, so neither a sign-out nor a refresh request leaves the tab; the tab holds no
//! session and is logged out ([`BrowserState::finds_no_session`]). This needs page script
//! that reads the token (`mode` "json"); in cookie and session mode the browser attaches
//! whatever cookie it holds and the request is sent.
//!
//! Sources: supabase/auth-js `src/GoTrueClient.ts` at v2.61.0 and v2.62.0 (`signOut`:
//! `return await this._acquireLock(-1, async () => { return await this._signOut(options) })`;
//! the constructor's `this.lock = settings.lock || lockNoOp` in v2.61.0, and in v2.62.0
//! `navigatorLock` when `isBrowser() && globalThis?.navigator?.locks`); `src/lib/locks.ts`
//! (v2.62.0, `navigator.locks.request(name, { mode: 'exclusive' }, …)`).

use super::{BrowserCfg, BrowserState, Send, TabIx, TabStatus};

impl BrowserState {
    /// Tab `t`'s sign-out `send`, under the Web Lock: sent now if the lock is free (the tab
    /// holds it until the answer), otherwise the tab queues for the lock and sends nothing
    /// yet (`None`).
    pub(super) fn sign_out_under_lock(&mut self, t: TabIx, send: Send) -> Option<Send> {
        if self.lock.is_none() {
            self.lock = Some(t);
            return Some(send);
        }
        self.queue.push(t);
        let tab = &mut self.tabs[t as usize];
        tab.status = TabStatus::WaitingLock;
        tab.sign_out_queued = true;
        None
    }

    /// Web Locks: waiting tab `t`, granted the lock, sends the sign-out it queued, if it
    /// queued one (`Some`); `None` for a tab that queued a refresh.
    pub(super) fn grant_sign_out(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        if !std::mem::take(&mut self.tabs[t as usize].sign_out_queued) {
            return None;
        }
        self.lock = Some(t);
        let cred = self.refresh_cred(cfg, t);
        let access = self.tabs[t as usize].access.filter(|_| cfg.sign_out_access);
        self.tabs[t as usize].status = TabStatus::SigningOut;
        Some(Send::Logout { tab: t, cred, access })
    }

    /// With `sign_out_takes_lock` (json mode): tab `t`, granted the lock, reads the session
    /// from storage first and finds none (auth-js `_useSession` / `__loadSession` return
    /// without a request): it sends neither the sign-out nor the refresh it queued, is logged
    /// out, and passes the lock on (true). False, with nothing changed, when it finds a
    /// refresh token or the option is off.
    pub fn finds_no_session(&mut self, cfg: &BrowserCfg, t: TabIx) -> bool {
        if !cfg.sign_out_takes_lock || cfg.mode != super::AuthMode::Json || self.stored_token(cfg, t).is_some() {
            return false;
        }
        let tab = &mut self.tabs[t as usize];
        tab.sign_out_queued = false;
        tab.queued_with = None;
        tab.read = None;
        tab.waited = 0;
        tab.status = TabStatus::LoggedOut;
        true
    }

    /// After tab `t`'s sign-out is answered: with `sign_out_takes_lock` the tab releases the
    /// lock it held, and the next waiter is granted it; the request that waiter sends, if any.
    pub fn release_after_sign_out(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        if !cfg.sign_out_takes_lock || self.lock != Some(t) {
            return None;
        }
        self.grant_next(cfg)
    }
}
