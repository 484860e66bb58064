//! An attacker who reads the browser's storage once (`attacker.steals: "once"`).
//!
//! By default the attacker copies every token the browser ever held, as soon as the browser
//! held it: an over-approximation that finds "thefts" of tokens that were never stored at the
//! same moment, and that cannot say "the attacker got the tokens at moment T, then the victim
//! went on". With `steals: "once"` the attacker copies nothing as the browser receives tokens;
//! instead, at one moment of the run that the search chooses, it reads what the browser's
//! storage holds at that instant ([`super::super::Timer::AttackerReadsStorage`]) and from then
//! on redeems only those copies (and, with `keeps_tokens`, what it is answered with):
//!
//! - json mode: every open, signed-in tab's memory (the SDK's in-memory token: an XSS payload
//!   runs in the page) and the shared `localStorage` entry;
//! - cookie and session mode: the cookie jar. Page script cannot read an HttpOnly cookie
//!   (RFC 6265 §5.2.6), so this is a reader of the cookie store itself: a malicious extension
//!   with the `cookies` permission, the profile on a stolen laptop's disk;
//! - with `uses_access_tokens`, the access tokens those tabs hold.
//!
//! Sources: RFC 9700 §4.14.2 (refresh token rotation: "if a refresh token is compromised and
//! subsequently used by both the attacker and the legitimate client, one of them will present
//! an invalidated refresh token"); OWASP HTML5 Security Cheat Sheet, Local Storage ("a single
//! Cross Site Scripting can be used to steal all the data in these objects").

use super::{BrowserCfg, BrowserState, TabStatus};

impl BrowserState {
    /// Whether tokens the browser receives go to the attacker's copies at once: there is an
    /// attacker, and it copies every token (`steals: "every-token"`).
    pub(super) fn records_held(&self, cfg: &BrowserCfg) -> bool {
        self.attacker.is_some() && !cfg.attacker_reads_once
    }

    /// Whether the attacker may read the storage now: `steals: "once"`, it has not read it,
    /// and the user has not started a sign-in again on this device (`browser.re_sign_ins`,
    /// a password change with `re_sign_in_is`): the theft happened before it, as with
    /// `steals: "every-token"`, whose copying stops there too.
    pub fn may_read_storage(&self, cfg: &BrowserCfg) -> bool {
        cfg.attacker_reads_once
            && self.attacker.is_some_and(|a| !a.has_read)
            && self.re_sign_ins_left == cfg.re_sign_ins
    }

    /// The attacker reads the browser's storage once (see the module doc) and copies what it
    /// holds now into [`BrowserState::held`]. False (nothing happens) unless
    /// [`Self::may_read_storage`].
    pub fn read_storage(&mut self, cfg: &BrowserCfg) -> bool {
        if !self.may_read_storage(cfg) {
            return false;
        }
        if let Some(a) = &mut self.attacker {
            a.has_read = true;
        }
        if let Some(j) = self.jar.session {
            self.held.add_jwt(j);
        }
        if let Some(t) = self.jar.refresh {
            self.held.add_token(t);
        }
        if let Some(t) = self.storage {
            self.held.add_token(t);
        }
        let open = |s: TabStatus| !matches!(s, TabStatus::LoggedOut | TabStatus::Closed);
        let tabs: Vec<_> = self.tabs.iter().filter(|x| open(x.status)).map(|x| (x.token, x.access)).collect();
        for (token, access) in tabs {
            if let Some(t) = token {
                self.held.add_token(t);
            }
            if let (Some(a), true) = (access, cfg.attacker_calls) {
                self.held.add_access(a);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::model::browser::{AuthMode, BrowserCfg, BrowserState, Coordination, JsonStorage, Send};
    use crate::model::{Reply, SessionJwt};

    fn cfg() -> BrowserCfg {
        BrowserCfg {
            mode: AuthMode::Json,
            storage: JsonStorage::PerTab,
            attacker: Some((1, vec![AuthMode::Json])),
            attacker_reads_once: true,
            on_ok: vec![crate::model::policy::OkReaction::StoreInTab],
            ..crate::model::browser::tests::cfg(1, Coordination::None)
        }
    }

    #[test]
    fn it_copies_only_what_memory_holds_when_it_reads() {
        let c = cfg();
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert!(b.held.tokens.is_empty() && b.attacks(&c).is_empty(), "nothing copied before the read");
        assert!(matches!(b.start_refresh(&c, 0), Some(Send::Refresh { .. })));
        b.on_refresh_reply(&c, 0, Reply::Ok { set_cookie: None, token: Some(2), expires_at: None, access: None });
        assert!(b.held.tokens.is_empty(), "a token received is not copied");
        assert!(b.read_storage(&c));
        assert_eq!(b.held.tokens, vec![2], "token 1 is no longer stored");
        assert!(!b.read_storage(&c), "once");
        assert_eq!(b.attacks(&c).len(), 1);
    }

    #[test]
    fn every_token_is_the_default() {
        let c = BrowserCfg { attacker_reads_once: false, ..cfg() };
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 1, exp: 4 }, 1);
        assert!(!b.may_read_storage(&c));
        b.start_refresh(&c, 0);
        b.on_refresh_reply(&c, 0, Reply::Ok { set_cookie: None, token: Some(2), expires_at: None, access: None });
        assert_eq!(b.held.tokens, vec![1, 2]);
    }
}
