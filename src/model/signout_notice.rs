//! A sign-out that reaches the other tabs of the browser (`browser.sign_out_notice`).
//!
//! When the signing-out tab clears its session (the sign-out's answer: supabase/auth-js
//! `_signOut` runs `_removeSession()` and `_notifyAllSubscribers('SIGNED_OUT')` after
//! `admin.signOut` returns; Auth.js `signOut` posts to `/signout` and then `broadcast()`s), it
//! tells every other open tab, by the `storage` event that removing the shared `localStorage`
//! entry fires in the other documents of the origin (HTML Living Standard §12.2.1: only when
//! the entry was there) or by a message on a `BroadcastChannel`. Each tab's notice is delivered
//! on its own, after its own delay ([`super::super::Timer::TabHearsSignOut`]), as the
//! `broadcast-leader` coordination's messages are ([`super::Tab::notice`]).
//!
//! What the receiving tab does (`browser.on_sign_out_notice`): `sign-out` drops its tokens
//! (its own refresh token, its access token, and the shared entry, as the app's local sign-out
//! does) and logs it out, whatever it is doing; a refresh, request or call in flight stays in
//! flight. `ignore` leaves it as it is. A tab that a notice logged out while its refresh was in
//! flight is marked ([`super::Tab::told_signed_out`]); what it does with that refresh's 2xx is
//! `browser.on_ok_after_sign_out_notice`: `store` runs `on_ok` and signs the tab in again with
//! the new pair (supabase/auth-js 2.61 `_callRefreshToken`: `_saveSession` after the answer,
//! whatever happened meanwhile), `drop` discards it (geolens-io/geolens PR 1446: the storage
//! listener bumps the session epoch so the in-flight refresh's write is refused). An error
//! answer to such a tab is dropped: it is on the login page already.

use super::{BrowserCfg, BrowserState, Tab, TabStatus};
use crate::model::policy::{OkAfterSignOutNotice, SignOutNotice, SignOutNoticeReaction};
use crate::model::{Reply, TabIx};

impl BrowserState {
    /// After tab `t`'s sign-out was answered and its session cleared
    /// ([`Self::on_sign_out_reply`]): the notice is sent to every other tab that is neither
    /// logged out nor closed. `had_shared`: the shared `localStorage` entry held a token before
    /// the clearing (a `storage` event fires only then). Without `browser.sign_out_notice`,
    /// nothing.
    pub fn send_sign_out_notice(&mut self, cfg: &BrowserCfg, t: TabIx, had_shared: bool) {
        let sent = match cfg.sign_out_notice {
            SignOutNotice::None => false,
            SignOutNotice::StorageEvent => had_shared,
            SignOutNotice::BroadcastChannel => true,
        };
        if !sent {
            return;
        }
        for (u, other) in self.tabs.iter_mut().enumerate() {
            if u != t as usize && !matches!(other.status, TabStatus::LoggedOut | TabStatus::Closed) {
                other.notice = true;
            }
        }
    }

    /// The sign-out notice on its way to tab `t` reaches it, and the tab reacts
    /// (`browser.on_sign_out_notice`). Returns whether anything changed (a notice was pending).
    pub fn hear_sign_out(&mut self, cfg: &BrowserCfg, t: TabIx) -> bool {
        if !self.tabs[t as usize].notice {
            return false;
        }
        self.tabs[t as usize].notice = false;
        let tab = &self.tabs[t as usize];
        if cfg.on_sign_out_notice == SignOutNoticeReaction::Ignore
            || matches!(tab.status, TabStatus::LoggedOut | TabStatus::Closed | TabStatus::Hung)
        {
            return true;
        }
        // The app's local sign-out: the shared entry (if a late answer wrote it back) goes too.
        self.storage = None;
        self.stored_session = None;
        let tab = &mut self.tabs[t as usize];
        tab.told_signed_out = matches!(tab.status, TabStatus::Refreshing { .. });
        tab.token = None;
        tab.access = None;
        tab.expiry = None;
        if tab.call.is_some_and(|c| c.awaiting_refresh) {
            tab.call = None; // a call waiting for the refresh is abandoned with the page
        }
        tab.status = TabStatus::LoggedOut;
        true
    }

    /// A refresh answer reaches tab `t`, which a sign-out notice logged out while that refresh
    /// was in flight ([`Tab::told_signed_out`]). Returns whether the tab takes it as an
    /// ordinary answer: a 2xx with `on_ok_after_sign_out_notice: store` (the tab is then idle
    /// again and runs `on_ok`). Otherwise the answer is dropped and the tab stays logged out.
    pub(super) fn take_answer_after_notice(&mut self, cfg: &BrowserCfg, t: TabIx, reply: &Reply) -> bool {
        let tab = &mut self.tabs[t as usize];
        tab.told_signed_out = false;
        let store = cfg.on_ok_after_sign_out_notice == OkAfterSignOutNotice::Store && matches!(reply, Reply::Ok { .. });
        if store {
            tab.status = TabStatus::Idle;
        }
        store
    }
}

/// The trace's words for a refresh answer that reaches a tab a sign-out notice logged out
/// while the refresh was in flight (`before`: the tab then; `after`: the tab once it took the
/// answer), given the tab's name `w` and the answer's words `answer`.
pub fn answer_after_notice_text(before: &Tab, after: &Tab, w: &str, answer: &str) -> Option<String> {
    if !before.told_signed_out {
        return None;
    }
    Some(if after.status == TabStatus::LoggedOut {
        format!(
            "{w} gets {answer}, but it was told of the sign-out while the refresh was in flight: it drops the answer and stays logged out"
        )
    } else {
        format!(
            "{w} gets {answer} after it was told of the sign-out: it stores the new tokens and is signed in again with them"
        )
    })
}

/// The trace's words for the notice reaching tab `w` (`before`: the tab then; `after`: once
/// it reacted), by how it travels (`notice`).
pub fn hear_text(notice: SignOutNotice, before: &Tab, after: &Tab, w: &str) -> String {
    let how = match notice {
        SignOutNotice::StorageEvent => "the `storage` event of the sign-out's removal of the shared session",
        _ => "the sign-out's `signed-out` BroadcastChannel message",
    };
    let what = if before.status == TabStatus::LoggedOut || before.status == after.status {
        "; it keeps what it holds".to_string()
    } else if after.told_signed_out {
        "; it drops its tokens and is logged out, with its refresh still in flight".to_string()
    } else {
        "; it drops its tokens and is logged out".to_string()
    };
    let what = if before.status == TabStatus::LoggedOut { "; it is logged out already".to_string() } else { what };
    format!("{how} reaches {w}{what}")
}
