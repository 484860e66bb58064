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
//! tabs only among tabs with the same resolved settings ([`resolve`],
//! [`crate::model::symmetry::reduced_blocks`]).

use super::{BrowserCfg, BrowserState, TabIx};
use crate::model::policy::{AuthMode, RefreshTrigger};
use crate::model::Tick;

/// One tab's settings resolved (`browser.tab_settings[t]`, else the browser's): what the
/// tab does, whether its entry writes it or inherits it. Built once for every tab when the
/// model is built ([`resolve`]); the search's per-step lookups index this table
/// ([`BrowserCfg::refreshes_of`], [`BrowserCfg::trigger`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TabCfg {
    /// Refreshes the tab and each of its requesters may start: its `refreshes`, else
    /// `refreshes_per_tab`.
    pub refreshes: u8,
    /// When each requester starts a refresh (0: the tab itself), one entry per requester
    /// (`requesters_per_tab`): its `refresh_triggers`, else the browser's, else "any-time".
    pub triggers: Vec<RefreshTrigger>,
    /// Whether the tab's entry writes its own `refreshes` (its budget is quoted as
    /// `browser.tab_settings[t].refreshes`, not `refreshes_per_tab`).
    pub own_refreshes: bool,
    /// Whether the tab's requesters share one refresh in flight: its `single_flight`, else
    /// `browser.single_flight` ([`super::single_flight`]).
    pub single_flight: bool,
}

impl TabCfg {
    /// The model-file field the tab's refresh budget comes from (tab `t`, from 0):
    /// `browser.tab_settings[t].refreshes` or `browser.refreshes_per_tab`.
    pub fn refreshes_field(&self, t: usize) -> String {
        if self.own_refreshes {
            format!("browser.tab_settings[{t}].refreshes")
        } else {
            "browser.refreshes_per_tab".into()
        }
    }

    /// What makes two tabs behave differently: the budget, the triggers and the single-flight
    /// (not where the budget is written).
    pub fn behaviour(&self) -> (u8, &[RefreshTrigger], bool) {
        (self.refreshes, &self.triggers, self.single_flight)
    }
}

/// Every tab's settings resolved from the model file's `browser` section: an entry of
/// `tab_settings` overrides `refreshes_per_tab` and `refresh_triggers` for its tab; without
/// the field every tab has the browser's. One entry per tab (`browser.tabs`). The one place
/// a tab's effective budget and triggers are decided: the model ([`BrowserCfg::tab_settings`])
/// and the symmetry reduction's classes ([`crate::model::symmetry`]) read this table.
pub fn resolve(b: &crate::scenario::BrowserSection) -> Vec<TabCfg> {
    let requesters = usize::from(b.requesters_per_tab.max(1));
    (0..usize::from(b.tabs))
        .map(|t| {
            let own = b.tab_settings.as_ref().and_then(|l| l.get(t));
            let list = own.and_then(|s| s.refresh_triggers.as_ref()).or(b.refresh_triggers.as_ref());
            TabCfg {
                refreshes: own.and_then(|s| s.refreshes).unwrap_or(b.refreshes_per_tab),
                triggers: (0..requesters).map(|r| list.and_then(|l| l.get(r).copied()).unwrap_or_default()).collect(),
                own_refreshes: own.is_some_and(|s| s.refreshes.is_some()),
                single_flight: own.and_then(|s| s.single_flight).unwrap_or(b.single_flight),
            }
        })
        .collect()
}

impl BrowserCfg {
    /// The refreshes tab `t` (and each of its requesters) starts with ([`TabCfg::refreshes`]):
    /// an index into the resolved table; `refreshes_per_tab` for a configuration built without
    /// one.
    pub fn refreshes_of(&self, t: TabIx) -> u8 {
        self.tab_settings.get(t as usize).map_or(self.refreshes, |s| s.refreshes)
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
                    refreshes: 1,
                    triggers: vec![RefreshTrigger::WhenAccessExpired],
                    own_refreshes: true,
                    single_flight: false,
                },
                TabCfg {
                    refreshes: 2,
                    triggers: vec![RefreshTrigger::AnyTime],
                    own_refreshes: false,
                    single_flight: false,
                },
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
