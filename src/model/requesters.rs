//! Several requesters inside one tab, and a page reload that cancels the tab's refresh.
//!
//! **Requesters** (`browser.requesters_per_tab`, N, default 1). A page often has several
//! independent pieces of code that each refresh on their own, with no single-flight between
//! them: in a Next.js page the middleware, the Server Components of several layouts and the
//! Route Handlers each build their own auth client from the request's cookie
//! (supabase/supabase issue 18981, `@supabase/ssr` 0.0.10); in a single-page app each API call
//! whose access token has expired runs its own refresh (an interceptor without a shared
//! promise). Requester 0 is the tab itself (every event of [`crate::model::browser`]);
//! requesters 1 to N - 1 are the others ([`Requester`]). Traces and the docs count from 1:
//! `tab A's requester 2` is index 1.
//!
//! | per requester | per tab |
//! |---|---|
//! | its refresh in flight and the token it read when it started ([`Requester::sent`]) | signed in or logged out ([`TabStatus`]) |
//! | its refreshes left ([`Requester::refreshes_left`], `refreshes_per_tab` each) | its memory (json `per-tab`: [`crate::model::browser::Tab::token`]) and the access token's expiry |
//! | its reactions: `on_requester_ok`, `on_requester_refused`, `on_requester_server_error` for requesters 2 to N (by default the tab's lists) | the tab's own (requester 1's) reactions (`on_ok`, `on_refused`, `on_server_error`) |
//!
//! A requester starts while its tab is signed in (not logged out, signing out, closed or
//! hung), whatever requester 0 is doing, and reads the token where the tab's mode keeps it
//! (the jar's cookie, tab memory, or the shared storage) at that moment. A 2xx runs
//! `on_requester_ok` (by default `on_ok`) for the tab (the last write wins); an error runs the requesters' error reactions
//! (`on_requester_refused`, `on_requester_server_error`; by default the tab's), and `log-out`
//! logs **the tab** out: the properties that judge tabs (`no_spurious_logout`,
//! `converges_to_live_token`) judge it, and every answer that reaches a logged-out tab
//! afterwards is dropped (the page has gone to the sign-in page). `concurrent_refreshes` counts
//! every requester's refresh in flight.
//!
//! **Reloads** (`browser.reloads_per_tab`, K, default 0; nhost/hasura-backend-plus issue 220).
//! While the tab's refresh is in flight the user reloads the page: the browser cancels the
//! request, so its answer, whenever it comes, is never read (its `Set-Cookie` is not applied
//! and its body not stored), and the reloaded page starts anew from its stored credential: it
//! runs its load-time refresh at once with the token it reads where the mode keeps it. A
//! client construct, not a network fault: the server serves the cancelled request as usual.
//! Every refresh of the old page (requester 0's and the other requesters') is abandoned; tab
//! memory is lost with the page, so reloads need a mode that keeps the token outside the tab
//! (cookie, or json `shared`).
//!
//! **Addresses.** The server keeps one request in progress per client ([`crate::model::ClientKey`]),
//! and an answer must reach the requester and page that sent it, so a request's `tab` field
//! carries an address ([`address`]): the tab, the requester and the page (the reloads done so
//! far, modulo 4). With one requester and no reload the address is the tab's index, so every
//! model without these constructs sends exactly the messages it sent before.
//!
//! A requester is an independent request from the page: it carries the jar's cookie as it is
//! when it is sent. A later stage of one server render that still reads the request's
//! original cookie is `next-stage-refreshes-with-original-token` instead.
//!
//! Sources: inite-ai/inite-brain-service PR 641 (two fetches of one page renew with the same
//! cookie); supabase/supabase issue 18981 and supabase/auth-helpers issue 436 (several
//! server clients of one Next.js page refresh with the same cookie); nextauthjs/next-auth
//! issue 11853; nhost/hasura-backend-plus issue 220 (the reload cancels the refresh) and
//! `src/routes/auth/token/refresh.ts` (2020).

use serde::Serialize;

use crate::model::browser::{BrowserCfg, BrowserState, Ran, Send, TabStatus};
use crate::model::policy::{OkReaction, Reaction, WrittenListener};
use crate::model::server::Credentials;
use crate::model::{Reply, TabIx, Token, ATTACKER};

/// The most requesters a tab may have (`browser.requesters_per_tab`).
pub const MAX_REQUESTERS: u8 = 4;
/// The most reloads a tab may make (`browser.reloads_per_tab`); page numbers stay below 4.
pub const MAX_RELOADS: u8 = 3;

/// The addresses of one tab's requesters and pages: tab in the low 3 bits (tabs are at most
/// 6), requester in the next 2, page (reloads done, modulo 4) in the next 2. Never
/// [`ATTACKER`].
const REQUESTER_SHIFT: u8 = 3;
const PAGE_SHIFT: u8 = 5;

/// The address of requester `r` of tab `t` on its page `page` (see the module doc).
pub fn address(t: TabIx, r: u8, page: u8) -> TabIx {
    t | (r << REQUESTER_SHIFT) | ((page & 3) << PAGE_SHIFT)
}

/// `(tab, requester, page)` of an address; `None` for the attacker. A refresh round's
/// address ([`round_address`]) is requester 0 on page 0.
pub fn split(a: TabIx) -> Option<(TabIx, u8, u8)> {
    if a == ATTACKER {
        None
    } else if a & ROUND_FLAG != 0 {
        Some((a & 7, 0, 0))
    } else {
        Some((a & 7, (a >> REQUESTER_SHIFT) & 3, (a >> PAGE_SHIFT) & 3))
    }
}

/// Marks an address that carries a refresh round ([`round_address`]) in bits 3 to 6.
const ROUND_FLAG: u8 = 0x80;

/// The address of a refresh tab `t` sends in its refresh round `round` (counted modulo 16),
/// with `browser.retries_per_tab`: a tab that retries may have requests of an earlier round
/// still in flight, and the answer to one of them must not be taken as the answer to a later
/// round's request (each `fetch` has its own response). Retries exclude requesters and reloads
/// (the model file is refused), so the round takes their bits, flagged by the top bit; never
/// [`ATTACKER`] (tab bits 7).
pub fn round_address(t: TabIx, round: u8) -> TabIx {
    t | ROUND_FLAG | ((round & 15) << REQUESTER_SHIFT)
}

/// The address `a` without its refresh round ([`round_address`]): the tab's own address, for
/// what belongs to the tab across its refreshes (the node sticky routing keeps it to). Any
/// other address unchanged.
pub fn without_round(a: TabIx) -> TabIx {
    if a != ATTACKER && a & ROUND_FLAG != 0 {
        a & 7
    } else {
        a
    }
}

/// The refresh round an address carries ([`round_address`]); `None` for any other address.
pub fn round_of(a: TabIx) -> Option<u8> {
    (a != ATTACKER && a & ROUND_FLAG != 0).then_some((a >> REQUESTER_SHIFT) & 15)
}

/// Who an address names, for traces: `tab A`, `tab A's requester 2`, `tab A (reloaded page
/// 1)`.
pub fn address_text(a: TabIx, letter: impl Fn(TabIx) -> String) -> String {
    let Some((t, r, page)) = split(a) else { return "attacker".into() };
    let mut s = format!("tab {}", letter(t));
    if r > 0 {
        s.push_str(&format!("'s requester {}", r + 1));
    }
    if page > 0 {
        s.push_str(&format!(" (reloaded page {page})"));
    }
    s
}

/// One of requesters 1 to N - 1 of a tab (requester 0 is the tab's own status).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Requester {
    /// Refreshes it may still start: a count.
    pub refreshes_left: u8,
    /// Its refresh in flight, with the token it read and presented (`Some(None)`: it found
    /// none); `None` when it has none in flight.
    pub sent: Option<Option<Token>>,
}

/// The extra requesters of a tab, requesters 1 to 3 (`MAX_REQUESTERS - 1`; unused ones stay
/// default).
pub type Requesters = [Requester; 3];

/// Whether a tab's `requesters` are all default (serialisation skips them, so traces of
/// models without extra requesters are as before).
pub fn is_unused(rs: &Requesters) -> bool {
    rs.iter().all(|r| *r == Requester::default())
}

/// Whether a tab's page number is 0 (serialisation skips it).
pub fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// The extra requesters a tab starts with: requesters 1 to `requesters - 1`, each with
/// `refreshes` refreshes.
pub fn initial(requesters: u8, refreshes: u8) -> Requesters {
    let mut rs = Requesters::default();
    for r in rs.iter_mut().take(requesters.saturating_sub(1) as usize) {
        r.refreshes_left = refreshes;
    }
    rs
}

/// A signed-in tab's requesters may act: not logged out, signing out, closed or hung.
fn signed_in(s: TabStatus) -> bool {
    !matches!(s, TabStatus::LoggedOut | TabStatus::SigningOut | TabStatus::Closed | TabStatus::Hung)
}

impl BrowserState {
    /// Whether requester `r` (1 or more) of tab `t` may start a refresh now: the tab is signed
    /// in, the requester has none in flight and has refreshes left.
    pub fn requester_may_start(&self, t: TabIx, r: u8) -> bool {
        let tab = &self.tabs[t as usize];
        let q = tab.requesters[(r - 1) as usize];
        signed_in(tab.status) && q.sent.is_none() && q.refreshes_left > 0
    }

    /// Requester `r` (1 or more) of tab `t` starts its refresh: it reads the token where the
    /// mode keeps it now and sends it, whatever else the tab has in flight (no single-flight).
    pub fn start_requester_refresh(&mut self, cfg: &BrowserCfg, t: TabIx, r: u8) -> Option<Send> {
        if r == 0 || r >= cfg.requesters || !self.requester_may_start(t, r) {
            return None;
        }
        let cred = self.refresh_cred(cfg, t);
        let page = self.tabs[t as usize].page;
        let q = &mut self.tabs[t as usize].requesters[(r - 1) as usize];
        q.refreshes_left -= 1;
        q.sent = Some(cred.presented());
        Some(Send::Refresh { tab: address(t, r, page), cred, retry: false, access: self.refresh_access(cfg, t) })
    }

    /// Whether tab `t` may reload now: its own refresh is in flight and it has reloads left.
    pub fn may_reload(&self, t: TabIx) -> bool {
        let tab = &self.tabs[t as usize];
        matches!(tab.status, TabStatus::Refreshing { .. }) && tab.reloads_left > 0
    }

    /// The user reloads tab `t` while its refresh is in flight (nhost/hasura-backend-plus
    /// issue 220): the browser cancels every request of the page, so their answers are never
    /// read: its refreshes and its ordinary call (in flight or waiting for a refresh; the
    /// call is not sent again, and the calls left are the new page's); the new page has lost
    /// the tab's memory and the access token the old page held (it holds none until its
    /// load-time refresh is answered), and that refresh sends at once the token stored where
    /// the mode keeps it. Returns that request.
    pub fn reload(&mut self, cfg: &BrowserCfg, t: TabIx) -> Option<Send> {
        if !self.may_reload(t) {
            return None;
        }
        let tab = &mut self.tabs[t as usize];
        tab.reloads_left -= 1;
        tab.page += 1;
        tab.expiry = None;
        tab.later_stage = false;
        tab.call = None; // cancelled with the page: its answer is discarded
        tab.access = None; // the old page's memory
        for q in tab.requesters.iter_mut() {
            q.sent = None; // cancelled with the page; its budget stays (the new page's code)
        }
        tab.status = TabStatus::Idle; // the new page, before its load-time refresh
        let Send::Refresh { cred, retry, access, .. } = self.send_refresh(cfg, t) else { unreachable!() };
        Some(Send::Refresh { tab: address(t, 0, self.tabs[t as usize].page), cred, retry, access })
    }

    /// The address a browser request goes out with: a refresh or an ordinary call of tab `t`
    /// carries its page ([`address`]); every other request, and the attacker's, is as sent.
    pub fn wire(&self, send: Send) -> Send {
        match send {
            Send::Refresh { tab, cred, retry, access } if tab != ATTACKER && tab < 1 << REQUESTER_SHIFT => {
                Send::Refresh { tab: address(tab, 0, self.tabs[tab as usize].page), cred, retry, access }
            }
            Send::Call { tab, access } if tab != ATTACKER && tab < 1 << REQUESTER_SHIFT => {
                Send::Call { tab: address(tab, 0, self.tabs[tab as usize].page), access }
            }
            other => other,
        }
    }

    /// The tab an answer to an ordinary call sent from address `a` is for: `None` if it was
    /// sent by a page since reloaded (the reload cancelled it: nobody reads the answer) or by
    /// the attacker.
    pub fn call_answer_tab(&self, a: TabIx) -> Option<TabIx> {
        let (t, _, page) = split(a)?;
        (page == self.tabs.get(t as usize)?.page & 3).then_some(t)
    }

    /// An answer to a refresh sent from address `a` (models with several requesters or
    /// reloads): an answer to a cancelled page's request, or reaching a logged-out tab, is
    /// dropped; requester 0's goes to [`BrowserState::on_refresh_reply`]; another requester's
    /// runs the tab's reactions ([`BrowserState::on_requester_reply`]). Returns the request it
    /// sends, if any, addressed.
    pub fn on_addressed_reply(&mut self, cfg: &BrowserCfg, a: TabIx, reply: Reply) -> Option<Send> {
        let (t, r, page) = split(a)?;
        let tab = &self.tabs[t as usize];
        if page != tab.page & 3 {
            return None; // the reload cancelled it: nobody reads this answer
        }
        if tab.status == TabStatus::LoggedOut {
            if r > 0 {
                self.tabs[t as usize].requesters[(r - 1) as usize].sent = None;
            }
            return None; // the page is on the sign-in page already
        }
        let sent =
            if r == 0 { self.on_refresh_reply(cfg, t, reply) } else { self.on_requester_reply(cfg, t, r, reply) };
        sent.map(|s| self.wire(s))
    }

    /// Requester `r` (1 or more) of tab `t` receives its refresh's answer. A 2xx runs the
    /// requesters' store reactions (`on_requester_ok`, by default the tab's `on_ok`; a
    /// server-side render path, `t < ssr_paths`, cannot write
    /// cookies: its 2xx sets nothing) and the requester is idle again; an error runs the tab's
    /// reactions, where `log-out` logs the whole tab out, `keep-going` leaves it as it is, the
    /// clearing reactions clear as for the tab, and `retry-with-stored-token` sends this
    /// requester's refresh again when the stored token differs from the one it sent.
    pub fn on_requester_reply(&mut self, cfg: &BrowserCfg, t: TabIx, r: u8, reply: Reply) -> Option<Send> {
        self.on_requester_reply_traced(cfg, t, r, reply, &mut Vec::new())
    }

    /// What requester `r` (1 or more) of tab `t` does with the error answer `reply`, reaction
    /// by reaction, run on a copy of this state ([`Ran`]; empty for a 2xx): the trace's words
    /// for the step, from the same code as the step itself. [`Ran::LoggedOut`] is the whole
    /// tab's log-out.
    pub fn requester_reply_trail(&self, cfg: &BrowserCfg, t: TabIx, r: u8, reply: Reply) -> Vec<Ran> {
        let mut trail = Vec::new();
        self.clone().on_requester_reply_traced(cfg, t, r, reply, &mut trail);
        trail
    }

    /// [`Self::on_requester_reply`], writing what each error reaction did into `trail`.
    fn on_requester_reply_traced(
        &mut self,
        cfg: &BrowserCfg,
        t: TabIx,
        r: u8,
        reply: Reply,
        trail: &mut Vec<Ran>,
    ) -> Option<Send> {
        let ix = (r - 1) as usize;
        let Some(sent) = self.tabs[t as usize].requesters[ix].sent.take() else { return None };
        match reply {
            Reply::Ok { set_cookie, token, expires_at, access } => {
                let wrote_jar =
                    t >= cfg.ssr_paths && cfg.on_requester_ok.contains(&OkReaction::StoreInCookie) && token.is_some();
                self.take_expiry(cfg, t, expires_at, wrote_jar);
                self.refreshed_ok = true;
                self.hold_access(cfg, t, access);
                if t < cfg.ssr_paths {
                    return None; // a render path: the Set-Cookie is swallowed (C05, C06)
                }
                if let Some(c) = set_cookie {
                    self.jar.session = Some(c);
                }
                for o in &cfg.on_requester_ok {
                    match (o, token) {
                        (OkReaction::StoreInTab, Some(tok)) => self.tabs[t as usize].token = Some(tok),
                        (OkReaction::StoreInCookie, Some(tok)) => self.jar.refresh = Some(tok),
                        (OkReaction::StoreShared, Some(tok)) => {
                            self.storage = Some(tok);
                            if cfg.on_stored_token_written == WrittenListener::Adopt {
                                for (u, other) in self.tabs.iter_mut().enumerate() {
                                    if u != t as usize && signed_in(other.status) {
                                        other.token = Some(tok);
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if self.records_held(cfg) {
                    if let Some(c) = set_cookie {
                        self.held.add_jwt(c);
                    }
                    if let Some(tok) = token {
                        self.held.add_token(tok);
                    }
                }
                None
            }
            Reply::SignedOut => None,
            Reply::Err(e) => {
                let reactions =
                    if e.status() >= 500 { &cfg.on_requester_server_error } else { &cfg.on_requester_refused };
                for x in reactions {
                    match x {
                        Reaction::LogOut => break,
                        Reaction::KeepGoing => {
                            trail.push(Ran::KeptGoing);
                            return None;
                        }
                        Reaction::ClearStoredToken | Reaction::ClearCookie | Reaction::ClearSharedStorage => {
                            let held = (self.jar, self.storage, self.tabs[t as usize].token);
                            self.clear(cfg, t, *x);
                            let now = (self.jar, self.storage, self.tabs[t as usize].token);
                            trail.push(Ran::Cleared(*x, held != now));
                        }
                        Reaction::IgnoreIfTokenChanged => {
                            let cred: Credentials = self.refresh_cred(cfg, t);
                            if let Some(tok) = cred.presented().filter(|_| cred.presented() != sent) {
                                trail.push(Ran::Adopted(tok));
                                return None;
                            }
                            trail.push(Ran::FoundSame(*x, cred.presented()));
                        }
                        Reaction::RetryWithStoredToken => {
                            let cred: Credentials = self.refresh_cred(cfg, t);
                            if cred.presented().is_some() && cred.presented() != sent {
                                trail.push(Ran::SentAgain(*x, cred.presented()));
                                self.tabs[t as usize].requesters[ix].sent = Some(cred.presented());
                                let page = self.tabs[t as usize].page;
                                let access = self.refresh_access(cfg, t);
                                return Some(Send::Refresh { tab: address(t, r, page), cred, retry: false, access });
                            }
                            trail.push(Ran::FoundSame(*x, cred.presented()));
                        }
                        // Refused by the model file's checks with several requesters; calls only;
                        // the tab's own lists only.
                        Reaction::Retry
                        | Reaction::RefreshAndRetry
                        | Reaction::WaitForTokenChange
                        | Reaction::SignOutRequest => {} // refused in a requester's lists
                    }
                }
                trail.push(Ran::LoggedOut);
                let tab = &mut self.tabs[t as usize];
                tab.status = TabStatus::LoggedOut;
                tab.later_stage = false;
                for q in tab.requesters.iter_mut() {
                    q.sent = None; // the page goes to the sign-in page: nobody reads the rest
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_and_default_to_the_tab_index() {
        for t in 0..6 {
            assert_eq!(address(t, 0, 0), t);
            for r in 0..MAX_REQUESTERS {
                for page in 0..=MAX_RELOADS {
                    let a = address(t, r, page);
                    assert_ne!(a, ATTACKER);
                    assert_eq!(split(a), Some((t, r, page)));
                }
            }
        }
        assert_eq!(split(ATTACKER), None);
        assert_eq!(
            address_text(address(0, 1, 1), |t| ((b'A' + t) as char).to_string()),
            "tab A's requester 2 (reloaded page 1)"
        );
    }

    #[test]
    fn initial_gives_each_extra_requester_its_budget() {
        assert!(is_unused(&initial(1, 3)));
        let rs = initial(3, 2);
        assert_eq!(rs.map(|r| r.refreshes_left), [2, 2, 0]);
    }
}

#[cfg(test)]
mod browser_tests {
    use super::*;
    use crate::model::{HttpError, SessionJwt};

    /// The browser configuration of a shipped model file.
    fn cfg_of(model: &str) -> BrowserCfg {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(model);
        crate::model::browser_cfg(&crate::scenario::Scenario::load(&path).unwrap())
    }

    fn ok(tok: Token) -> Reply {
        Reply::Ok { set_cookie: None, token: Some(tok), expires_at: Some(3), access: None }
    }

    #[test]
    fn a_requesters_refusal_logs_the_tab_out_and_the_tabs_own_answer_is_then_dropped() {
        let c = cfg_of("inite-641-page-fetches-race.json");
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        let Some(Send::Refresh { tab: 0, cred, .. }) = b.start_refresh(&c, 0) else { panic!() };
        assert_eq!(cred.presented(), Some(1));
        let Some(Send::Refresh { tab: a, cred, .. }) = b.start_requester_refresh(&c, 0, 1) else { panic!() };
        assert_eq!((a, cred.presented()), (address(0, 1, 0), Some(1)), "it reads the same cookie");
        assert!(!b.requester_may_start(0, 1), "one refresh in flight per requester");
        assert_eq!(b.on_addressed_reply(&c, a, Reply::Err(HttpError::InvalidCredentials)), None);
        assert_eq!(b.tabs[0].status, TabStatus::LoggedOut, "the requester's log-out is the tab's");
        assert_eq!(b.on_addressed_reply(&c, 0, ok(2)), None);
        assert_eq!((b.tabs[0].status, b.jar.refresh), (TabStatus::LoggedOut, Some(1)), "the page left: dropped");
    }

    #[test]
    fn a_requesters_2xx_stores_the_token_for_the_whole_tab() {
        let c = cfg_of("inite-641-page-fetches-race.json");
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        let Some(Send::Refresh { tab: a, .. }) = b.start_requester_refresh(&c, 0, 1) else { panic!() };
        assert_eq!(b.tabs[0].status, TabStatus::Idle, "the tab itself is not refreshing");
        assert_eq!(b.on_addressed_reply(&c, a, ok(2)), None);
        assert_eq!((b.jar.refresh, b.refreshed_ok, b.tabs[0].requesters[0].sent), (Some(2), true, None));
        assert_eq!(b.stored_token(&c, 0), Some(2), "the tab's next refresh reads it");
    }

    #[test]
    fn a_requester_retries_with_the_token_the_tab_stored_meanwhile() {
        let mut c = cfg_of("inite-641-page-fetches-race.json");
        c.on_requester_refused = vec![Reaction::RetryWithStoredToken, Reaction::LogOut];
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        assert!(b.start_refresh(&c, 0).is_some());
        let Some(Send::Refresh { tab: a, .. }) = b.start_requester_refresh(&c, 0, 1) else { panic!() };
        assert_eq!(b.on_addressed_reply(&c, 0, ok(2)), None);
        let again = b.on_addressed_reply(&c, a, Reply::Err(HttpError::InvalidCredentials));
        let Some(Send::Refresh { tab, cred, .. }) = again else { panic!("{again:?}") };
        assert_eq!((tab, cred.presented(), b.tabs[0].status), (a, Some(2), TabStatus::Idle));
        assert_eq!(b.tabs[0].requesters[0].sent, Some(Some(2)));
    }

    #[test]
    fn a_reload_abandons_the_answer_and_the_new_page_refreshes_with_the_stored_cookie() {
        let c = cfg_of("nhost-hbp-220-reload-cancels-refresh.json");
        let mut b = BrowserState::signed_in(&c, SessionJwt { session: 0, exp: 0 }, 1);
        assert!(!b.may_reload(0), "only while its refresh is in flight");
        let first = b.start_refresh(&c, 0).map(|s| b.wire(s));
        assert!(matches!(first, Some(Send::Refresh { tab: 0, .. })));
        let Some(Send::Refresh { tab: a, cred, .. }) = b.reload(&c, 0) else { panic!() };
        assert_eq!((a, cred.presented(), b.tabs[0].page), (address(0, 0, 1), Some(1), 1));
        assert_eq!(b.reload(&c, 0), None, "one reload");
        assert_eq!(b.on_addressed_reply(&c, 0, ok(2)), None);
        assert_eq!((b.jar.refresh, b.tabs[0].status), (Some(1), TabStatus::Refreshing { sent: Some(1) }), "never read");
        assert_eq!(b.on_addressed_reply(&c, a, Reply::Err(HttpError::InvalidCredentials)), None);
        assert_eq!(b.tabs[0].status, TabStatus::LoggedOut);
    }
}
