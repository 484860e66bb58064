//! When a requester of a tab starts a refresh (`browser.refresh_triggers`).
//!
//! Without the field every requester refreshes at any moment the search chooses (bounded by
//! `refreshes_per_tab`). Real pages mix two kinds: the browser's client code refreshes on its
//! own schedule (a timer, a visibility change, a 401), while a server-side path of the same
//! page refreshes only once the request's access-token cookie has expired and sets the new
//! cookies on its response: a Next.js middleware (F3-Nation/f3-nation `apps/me/middleware.ts`:
//! "a valid access cookie passes; otherwise refreshToken"), Auth.js's `jwt` callback run by
//! its middleware and by `/api/auth/session` (`if (Date.now() < token.expires_at * 1000)
//! return token`). [`RefreshTrigger::WhenAccessExpired`] says so for one requester.
//!
//! **What the trigger reads.** The access token's `exp` the page holds ([`super::Tab::expiry`]:
//! the sign-in's is `time.access_token_ttl`, then the one every 2xx the page takes carries,
//! the tab's or another requester's), against the browser's clock ([`super::BrowserState::now`]),
//! which may lag the authorization server's by one tick: the middleware's machine is not the
//! authorization server's, and the model has one clock for the clients. The token has expired
//! when `exp < now`, the first tick the default `request` handler refuses it (`access.exp >=
//! now`); a page that holds no expiry refreshes (no access cookie: F3's middleware refreshes).
//! With `browser.shared_storage_holds: "session"` the shared entry holds the access token and
//! its `exp` (a CLI's token file, supabase-js's `storageKey` entry), and the trigger reads the
//! stored session's `exp` ([`BrowserState::trigger_expiry`]): a client reads the entry to
//! decide, so a fresh session another client stored stops its refresh.
//!
//! What is abstracted: the margin some libraries refresh ahead of the expiry (auth-js's
//! `EXPIRY_MARGIN_MS`); a trigger with a margin would compare `exp < now + N`, as
//! `call_refresh_margin` does for calls.
//!
//! Sources: F3-Nation/f3-nation issue 375 and `apps/me/middleware.ts` at 0bc6ff6; authjs.dev
//! "Refresh token rotation" (the `jwt` callback); nextauthjs/next-auth issue 11240 (the
//! middleware's refresh and a second refresh with the same token).

use super::{BrowserCfg, BrowserState, TabIx, Tick};
use crate::model::policy::{RefreshTrigger, StorageHolds};

impl BrowserCfg {
    /// The trigger of requester `r` of tab `t` (0 is the tab itself): an index into the
    /// resolved table ([`super::tab_settings::resolve`]: the tab's own list, else the
    /// browser's, else "any-time"); the browser's list for a configuration built without one.
    pub fn trigger(&self, t: TabIx, r: u8) -> RefreshTrigger {
        let list = self.tab_settings.get(t as usize).map_or(&self.refresh_triggers, |s| &s.triggers);
        list.get(r as usize).copied().unwrap_or_default()
    }

    /// Whether some requester of some tab waits for the access token's expiry: the browser's
    /// clock then ticks, and a tab knows its sign-in access token's expiry from the start.
    pub fn refreshes_on_expiry(&self) -> bool {
        self.refresh_triggers.contains(&RefreshTrigger::WhenAccessExpired)
            || self.tab_settings.iter().any(|s| s.triggers.contains(&RefreshTrigger::WhenAccessExpired))
    }
}

impl BrowserState {
    /// The `exp` the trigger of tab `t` judges: with `browser.shared_storage_holds:
    /// "session"` the stored session's (the shared entry holds the access token and its
    /// `exp`, and every tab or process decides from it, so a fresh session another one
    /// stored counts), `None` when the entry is empty; otherwise the one the tab holds.
    pub fn trigger_expiry(&self, cfg: &BrowserCfg, t: TabIx) -> Option<Tick> {
        if cfg.storage_holds == StorageHolds::Session {
            self.stored_session.filter(|_| self.storage.is_some()).and_then(|s| s.expiry)
        } else {
            self.tabs[t as usize].expiry
        }
    }

    /// Whether the access token tab `t` judges by ([`Self::trigger_expiry`]) has expired by
    /// the browser's clock (`exp < now`), or the tab knows of none.
    pub fn access_expired(&self, cfg: &BrowserCfg, t: TabIx) -> bool {
        self.trigger_expiry(cfg, t).is_none_or(|e| e < self.now)
    }

    /// Whether requester `r` of tab `t` (0: the tab itself) may start a refresh now as far as
    /// its trigger goes: always with "any-time", once the page's access token has expired with
    /// "when-access-expired". The requester's other conditions (signed in, idle, refreshes
    /// left) are checked by the caller.
    pub fn trigger_fires(&self, cfg: &BrowserCfg, t: TabIx, r: u8) -> bool {
        if cfg.storage_holds == StorageHolds::Session && self.storage.is_none() {
            return false; // the client reads the stored session, finds none and sends nothing
        }
        match cfg.trigger(t, r) {
            RefreshTrigger::AnyTime => true,
            RefreshTrigger::WhenAccessExpired => self.access_expired(cfg, t),
        }
    }
}
