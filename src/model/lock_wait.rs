//! A wait for the Web Lock with a time limit, then a fallback (`browser.lock_wait_ticks` N
//! ticks, `browser.on_lock_timeout`).
//!
//! With `coordination: "web-locks"` a tab that finds the refresh lock held queues for it and,
//! by default, waits until it is granted. A client whose lock wait is bounded gives up once
//! the bound has passed: nextcloud/user_oidc PR 1277 (`lib/Service/TokenService.php` at
//! fe548e15, `refresh`) retries `acquireLock` on the per-session key 50 times, 100 ms apart,
//! and after the last failure logs 'Failed to acquire lock after retries, returning old
//! token' and returns the expired token it was given, without a request to the provider;
//! `checkLoginToken` then finds that token still expired and `reauthenticate()` logs the
//! session out.
//!
//! In the model the tab records the browser clock's tick when it queues
//! ([`super::Tab::queued_at`]); its step [`crate::model::Timer::TabGivesUpLock`] is enabled
//! while it still waits and its clock has advanced N ticks since. The step takes it out of the
//! lock's queue (the holder keeps the lock) and runs `on_lock_timeout`, a list of clears ending
//! with `log-out` or `keep-going`: nothing is sent. A grant before the bound ends the wait as
//! usual. A tick is the time unit of the model's clock (for PR 1277, the 5 s the retries take).

use super::{BrowserCfg, BrowserState, TabIx, TabStatus};

impl BrowserState {
    /// Whether tab `t` may give up its wait for the Web Lock now: it waits for a lock another
    /// tab holds and its browser clock has advanced `lock_wait_ticks` since it queued.
    pub fn may_give_up_lock(&self, cfg: &BrowserCfg, t: TabIx) -> bool {
        let tab = &self.tabs[t as usize];
        let Some(n) = cfg.lock_wait_ticks else { return false };
        tab.status == TabStatus::WaitingLock
            && self.lock.is_some_and(|h| h != t)
            && tab.queued_at.is_some_and(|at| self.now >= at.saturating_add(n))
    }

    /// Tab `t` gives up its wait for the Web Lock ([`Self::may_give_up_lock`]): it leaves the
    /// queue, forgets what it read or queued with, and runs `on_lock_timeout`. Returns whether
    /// anything changed (nothing unless the wait has run out).
    pub fn give_up_lock(&mut self, cfg: &BrowserCfg, t: TabIx) -> bool {
        if !self.may_give_up_lock(cfg, t) {
            return false;
        }
        self.queue.retain(|&x| x != t);
        let tab = &mut self.tabs[t as usize];
        tab.queued_at = None;
        tab.queued_with = None;
        tab.read = None;
        tab.waited = 0;
        // The list holds clears and ends with `log-out` or `keep-going` (validated): it sends
        // nothing.
        let sent = self.react(cfg, t, &cfg.on_lock_timeout);
        debug_assert!(sent.is_none());
        true
    }
}

/// The trace text of tab `t` giving up its wait for the lock, from the browser before and
/// after; `who` names the tab.
pub fn give_up_text(cfg: &BrowserCfg, before: &BrowserState, after: &BrowserState, t: TabIx, who: &str) -> String {
    let since = before.tabs[t as usize].queued_at.unwrap_or(0);
    let n = cfg.lock_wait_ticks.unwrap_or(0);
    let cleared = if before.storage != after.storage
        || before.jar != after.jar
        || before.tabs[t as usize].token != after.tabs[t as usize].token
    {
        "clears the stored token and "
    } else {
        ""
    };
    let then = match after.tabs[t as usize].status {
        TabStatus::Idle => "keeps going with what it holds",
        _ => "is logged out",
    };
    format!(
        "{who}'s wait for the refresh lock runs out (browser clock {since} to {}, at most {n} tick(s)): it gives up the wait, no refresh request is sent; `on_lock_timeout`: it {cleared}{then}",
        before.now
    )
}

#[cfg(test)]
mod tests {
    use crate::model::browser::{AuthMode, BrowserCfg, BrowserState, Coordination, JsonStorage, Send, TabStatus};
    use crate::model::policy::{OkReaction, Reaction};
    use crate::model::{Reply, SessionJwt};

    fn cfg() -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Json,
            storage: JsonStorage::Shared,
            lock_wait_ticks: Some(1),
            on_lock_timeout: vec![Reaction::ClearStoredToken, Reaction::LogOut],
            max_ticks: 2,
            on_ok: vec![OkReaction::StoreShared],
            ..crate::model::browser::tests::cfg(2, Coordination::WebLocks)
        }
    }

    fn ok(token: u8) -> Reply {
        Reply::Ok { set_cookie: None, token: Some(token), expires_at: None, access: None }
    }

    #[test]
    fn a_waiter_gives_up_once_its_clock_passed_the_bound() {
        let c = cfg();
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        let Some(Send::Refresh { .. }) = b.start_refresh(&c, 0) else { panic!("A takes the lock and refreshes") };
        assert!(b.start_refresh(&c, 1).is_none(), "B queues");
        assert_eq!(b.tabs[1].queued_at, Some(0));
        assert!(!b.may_give_up_lock(&c, 1), "no time passed");
        assert!(!b.give_up_lock(&c, 1));
        b.now += 1;
        assert!(b.may_give_up_lock(&c, 1), "one tick: the bound");
        assert!(b.give_up_lock(&c, 1));
        assert_eq!((b.tabs[1].status, b.storage), (TabStatus::LoggedOut, None), "cleared and logged out");
        assert!(b.queue.is_empty() && b.lock == Some(0), "A keeps the lock; B left the queue");
        b.on_refresh_reply(&c, 0, ok(2));
        assert_eq!(b.lock, None, "A's answer releases the lock to nobody");
    }

    #[test]
    fn a_grant_before_the_bound_ends_the_wait() {
        let c = cfg();
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        b.start_refresh(&c, 1);
        let sent = b.on_refresh_reply(&c, 0, ok(2));
        assert!(matches!(sent, Some(Send::Refresh { .. })), "B is granted the lock and refreshes");
        assert_eq!(b.tabs[1].queued_at, None);
        b.now += 1;
        assert!(!b.may_give_up_lock(&c, 1), "B holds the lock: no wait to give up");
    }

    #[test]
    fn without_the_bound_nobody_gives_up() {
        let c = BrowserCfg { lock_wait_ticks: None, on_lock_timeout: vec![], ..cfg() };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        b.start_refresh(&c, 0);
        b.start_refresh(&c, 1);
        assert_eq!(b.tabs[1].queued_at, None, "no state added without the field");
        b.now += 2;
        assert!(!b.may_give_up_lock(&c, 1));
    }
}
