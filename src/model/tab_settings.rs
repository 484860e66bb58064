//! Clients that differ from each other (`browser.tab_settings`).
//!
//! Without the field every tab of a browser runs the same client: one refresh budget
//! (`refreshes_per_tab`) and one list of triggers (`refresh_triggers`). A designer's protocol
//! often has clients that are not alike: a server-side render path that refreshes only when
//! the request's access cookie has expired, once per page, beside a browser tab whose client
//! library refreshes on its own schedule (supabase/auth-helpers issue 343: SvelteKit's
//! `getServerSession` beside supabase-js in the page; nextauthjs/next-auth issue 11240: the
//! middleware's `jwt` callback beside the client's `/api/auth/session`). `tab_settings` gives
//! each tab its own budget ([`TabCfg::refreshes`]) and triggers ([`TabCfg::refresh_triggers`]).
//!
//! **The jar's access cookie.** A trigger reads the expiry of the access token the page holds
//! ([`super::Tab::expiry`]). In cookie mode with several tabs that is the jar's access cookie,
//! which every tab's request carries: a 2xx whose `Set-Cookie` the jar takes renews it for every
//! tab, and a render path's 2xx, whose `Set-Cookie` is swallowed, renews it for nobody
//! ([`BrowserState::take_expiry`]). Models without a trigger in that setting keep one expiry per
//! tab, as before.
//!
//! **Symmetry.** Tabs with different settings are not interchangeable: the reduction renames
//! tabs only among tabs with the same settings ([`crate::model::symmetry::reduced_blocks`]).

use super::{BrowserCfg, BrowserState, TabIx};
use crate::model::policy::{AuthMode, RefreshTrigger};
use crate::model::Tick;

/// One tab's own settings (`browser.tab_settings[t]`); `None` keeps the browser's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TabCfg {
    /// Refreshes the tab and each of its requesters may start (instead of `refreshes_per_tab`).
    pub refreshes: Option<u8>,
    /// When each of its requesters starts a refresh (instead of `refresh_triggers`).
    pub refresh_triggers: Option<Vec<RefreshTrigger>>,
    /// Whether this tab's requesters share one refresh in flight (instead of
    /// `browser.single_flight`; [`super::single_flight`]).
    pub single_flight: Option<bool>,
}

impl TabCfg {
    /// The configuration of one model-file entry.
    pub fn from_section(s: &crate::scenario::TabSettings) -> Self {
        TabCfg { refreshes: s.refreshes, refresh_triggers: s.refresh_triggers.clone(), single_flight: s.single_flight }
    }
}

impl BrowserCfg {
    /// The refreshes tab `t` (and each of its requesters) starts with: its own `refreshes`,
    /// else `refreshes_per_tab`.
    pub fn refreshes_of(&self, t: TabIx) -> u8 {
        self.tab_settings.get(t as usize).and_then(|s| s.refreshes).unwrap_or(self.refreshes)
    }

    /// Whether the tabs' access-token expiry is the jar's access cookie, one for every tab:
    /// cookie mode, several tabs, and some requester refreshes on the expiry.
    pub fn expiry_is_the_jars(&self) -> bool {
        self.mode == AuthMode::Cookie && self.tabs > 1 && self.refreshes_on_expiry()
    }
}

impl BrowserState {
    /// Tab `t` takes a 2xx carrying an access token that expires at `expires_at`. Each tab
    /// keeps its own expiry, except where the expiry is the jar's access cookie
    /// ([`BrowserCfg::expiry_is_the_jars`]): then every tab's is renewed if the answer's
    /// `Set-Cookie` reached the jar (`wrote_jar`), and none if it did not (a render path).
    pub fn take_expiry(&mut self, cfg: &BrowserCfg, t: TabIx, expires_at: Option<Tick>, wrote_jar: bool) {
        if !cfg.expiry_is_the_jars() {
            self.tabs[t as usize].expiry = expires_at;
        } else if wrote_jar {
            for tab in &mut self.tabs {
                tab.expiry = expires_at;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(tabs: u8, mode: AuthMode) -> BrowserCfg {
        BrowserCfg {
            mode,
            refreshes: 2,
            tab_settings: vec![
                TabCfg {
                    refreshes: Some(1),
                    refresh_triggers: Some(vec![RefreshTrigger::WhenAccessExpired]),
                    single_flight: None,
                },
                TabCfg::default(),
            ],
            ..crate::model::browser::tests::cfg(tabs, crate::model::policy::Coordination::None)
        }
    }

    #[test]
    fn each_tab_has_its_budget_and_trigger_and_the_rest_the_browsers() {
        let c = cfg(2, AuthMode::Cookie);
        assert_eq!((c.refreshes_of(0), c.refreshes_of(1)), (1, 2));
        assert_eq!((c.trigger(0, 0), c.trigger(1, 0)), (RefreshTrigger::WhenAccessExpired, RefreshTrigger::AnyTime));
        assert!(c.refreshes_on_expiry());
        assert!(c.expiry_is_the_jars());
        assert!(!cfg(2, AuthMode::Json).expiry_is_the_jars());
    }
}
