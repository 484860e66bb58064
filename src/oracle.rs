//! The abstract token-refresh protocol of the cross-tool baselines, as a direct stateright
//! [`Model`]: the reference against which refresh-check's search is counted and timed.
//!
//! It mirrors `shared/baselines/TokenRefresh.tla` (and `refresh.pml`) step for step: N tabs share
//! one refresh-token cookie; a tab with refreshes left (R per tab) and no request in flight sends
//! a refresh carrying the cookie (`Send`); the server, in one atomic step, accepts the token if it
//! is the current one and the session is valid, rotating it under `rotate` and keeping it
//! otherwise, or answers invalid (`Serve`); an OK sets the cookie, an invalid logs the tab out
//! (`Deliver`); the session may end at any time (`Logout`: expiry or sign-out). The property
//! `NoSpuriousLogout`: no tab is logged out while the session is valid. Messages form an
//! unordered bag.
//!
//! Representation: TLA+'s `net` is a set of `[type, tab, tok]` records in which each tab has at
//! most one message (`Send` requires `~Busy(t)`, `Serve` replaces a tab's request by its
//! response, `Deliver` removes it), so it is stored as one optional message per tab. A tab's
//! `out`, `left` and message are packed into 16 bits, so a state is 20 bytes, `Copy`, and hashes
//! in one pass. Tabs are interchangeable: [`representative`] sorts them, which is exact symmetry
//! reduction (TLC's `Permutations(Tabs)`), because a tab's index appears nowhere but in its
//! position.
//!
//! Counting convention (checked against Spin 6.5.2 and TLC 2.15 for N=2, R=2: 170 states, 310
//! transitions, 94 with symmetry): the oracle table's *transitions* are TLC's "states
//! generated", which is the number of initial states plus one per enabled action of each
//! distinct state explored (revisits included), and equals Spin's "transitions" for this model.
//! This is [`crate::search::SearchOutcome::states`]; the table's *states* are
//! [`crate::search::SearchOutcome::unique_states`].

use std::fmt;
use std::hash::{Hash, Hasher};

use stateright::{Model, Property};

/// The most tabs an oracle state holds.
pub const MAX_TABS: usize = 8;
/// The most refreshes per tab (a tab's `left` has 4 bits).
pub const MAX_REFRESHES: u8 = 15;

/// A token value; 0 is "none" (`curTok` after `Logout`, the token of an invalid answer).
pub type Token = u8;

/// The type of a message in `net`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MsgType {
    /// `Msg("req", t, cookie)`: a refresh carrying the cookie.
    Req,
    /// `Msg("ok", t, nt)`: accepted; `Set-Cookie: nt`.
    Ok,
    /// `Msg("invalid", t, 0)`: refused.
    Invalid,
}

/// One tab's part of the state: `out[t]`, `left[t]`, and the message in `net` whose `tab` is t.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tab {
    /// `out[t]`: logged out.
    pub out: bool,
    /// `left[t]`: refreshes left, a count.
    pub left: u8,
    /// The message of this tab in `net`, with its token, if any (at most one: `Busy(t)`).
    pub msg: Option<(MsgType, Token)>,
}

impl Tab {
    /// Bits 0-3 `left`, bit 4 `out`, bits 5-6 the message type (0 none), bits 8-15 the token.
    fn pack(self) -> u16 {
        let ty = match self.msg {
            None => 0,
            Some((MsgType::Req, _)) => 1,
            Some((MsgType::Ok, _)) => 2,
            Some((MsgType::Invalid, _)) => 3,
        };
        let tok = self.msg.map_or(0, |m| m.1);
        u16::from(self.left) | (u16::from(self.out) << 4) | (ty << 5) | (u16::from(tok) << 8)
    }

    fn unpack(v: u16) -> Tab {
        let tok = (v >> 8) as u8;
        let msg = match (v >> 5) & 3 {
            0 => None,
            1 => Some((MsgType::Req, tok)),
            2 => Some((MsgType::Ok, tok)),
            _ => Some((MsgType::Invalid, tok)),
        };
        Tab { out: v & 0x10 != 0, left: (v & 0xf) as u8, msg }
    }
}

// A 24-byte `Copy` value: the breadth-first frontier holds it as it is.
crate::plain_frontier!(OracleState);

/// A state of the abstract protocol: TLA+'s `cookie, curTok, nextTok, valid, out, left, net`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OracleState {
    tabs: [u16; MAX_TABS],
    n: u8,
    /// `cookie`: the token in the cookie jar shared by all tabs.
    pub cookie: Token,
    /// `curTok`: the session's valid token (0: none).
    pub cur_tok: Token,
    /// `nextTok`: the token generator.
    pub next_tok: Token,
    /// `valid`: the session has not expired or been signed out.
    pub valid: bool,
}

impl OracleState {
    /// The number of tabs.
    pub fn tab_count(&self) -> usize {
        usize::from(self.n)
    }

    /// Tab `t` (0-based).
    pub fn tab(&self, t: usize) -> Tab {
        Tab::unpack(self.tabs[t])
    }

    fn set_tab(&mut self, t: usize, tab: Tab) {
        self.tabs[t] = tab.pack();
    }

    /// `Busy(t)`: tab t has a message in `net`.
    fn busy(&self, t: usize) -> bool {
        self.tabs[t] & (3 << 5) != 0
    }
}

/// Hashes the state as two words (the packed tabs, then the globals): one call each into the
/// hasher instead of one per field.
impl Hash for OracleState {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let mut tabs = 0u128;
        for (i, t) in self.tabs.iter().enumerate() {
            tabs |= u128::from(*t) << (16 * i);
        }
        h.write_u128(tabs);
        h.write_u64(
            u64::from(self.n)
                | u64::from(self.cookie) << 8
                | u64::from(self.cur_tok) << 16
                | u64::from(self.next_tok) << 24
                | u64::from(self.valid) << 32,
        );
    }
}

impl fmt::Debug for OracleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OracleState")
            .field("cookie", &self.cookie)
            .field("cur_tok", &self.cur_tok)
            .field("next_tok", &self.next_tok)
            .field("valid", &self.valid)
            .field("tabs", &(0..self.tab_count()).map(|t| self.tab(t)).collect::<Vec<_>>())
            .finish()
    }
}

/// An action of the abstract protocol; tabs are 0-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OracleAction {
    /// `Send(t)`.
    Send(u8),
    /// `Serve(m)` for the request of tab t.
    Serve(u8),
    /// `Deliver(m)` for the response to tab t.
    Deliver(u8),
    /// `Logout`.
    Logout,
}

/// The abstract protocol with its constants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oracle {
    /// `Tabs`: how many (1 to [`MAX_TABS`]).
    pub tabs: u8,
    /// `MaxRefresh`: refreshes per tab (0 to [`MAX_REFRESHES`]).
    pub refreshes: u8,
    /// `Rotate`: the server rotates the token on each accepted refresh.
    pub rotate: bool,
    /// Check `NoSpuriousLogout` (the oracle's rotating counts are taken with it off, over the
    /// full space).
    pub property: bool,
}

/// The name of the oracle's invariant.
pub const NO_SPURIOUS_LOGOUT: &str = "no_spurious_logout";

impl Oracle {
    /// The protocol with `tabs` tabs and `refreshes` refreshes each; an error names the
    /// constant out of range.
    pub fn new(tabs: u8, refreshes: u8, rotate: bool, property: bool) -> Result<Oracle, String> {
        if tabs == 0 || usize::from(tabs) > MAX_TABS {
            return Err(format!("tabs must be 1 to {MAX_TABS}, got {tabs}"));
        }
        if refreshes > MAX_REFRESHES {
            return Err(format!("refreshes must be 0 to {MAX_REFRESHES}, got {refreshes}"));
        }
        Ok(Oracle { tabs, refreshes, rotate, property })
    }
}

/// Symmetry reduction over tabs (TLC's `SYMMETRY Permutations(Tabs)`): the state with its tabs
/// sorted. Two states map to the same representative exactly when one is a permutation of the
/// other's tabs, so this is the canonical element of the orbit.
pub fn representative(s: OracleState) -> OracleState {
    let mut r = s;
    // Insertion sort: at most 8 keys, usually nearly sorted.
    let tabs = &mut r.tabs[..usize::from(s.n)];
    for i in 1..tabs.len() {
        let mut j = i;
        while j > 0 && tabs[j - 1] > tabs[j] {
            tabs.swap(j - 1, j);
            j -= 1;
        }
    }
    r
}

impl Model for Oracle {
    type State = OracleState;
    type Action = OracleAction;

    /// `Init`.
    fn init_states(&self) -> Vec<OracleState> {
        let mut s = OracleState { tabs: [0; MAX_TABS], n: self.tabs, cookie: 1, cur_tok: 1, next_tok: 2, valid: true };
        for t in 0..usize::from(self.tabs) {
            s.set_tab(t, Tab { out: false, left: self.refreshes, msg: None });
        }
        vec![s]
    }

    /// The enabled actions of `Next`, tab by tab (`Send`, `Serve`, `Deliver`), then `Logout`.
    fn actions(&self, s: &OracleState, actions: &mut Vec<OracleAction>) {
        for t in 0..s.n {
            let tab = s.tab(usize::from(t));
            match tab.msg {
                None if !tab.out && tab.left > 0 => actions.push(OracleAction::Send(t)),
                None => {}
                Some((MsgType::Req, _)) => actions.push(OracleAction::Serve(t)),
                Some(_) => actions.push(OracleAction::Deliver(t)),
            }
        }
        if s.valid {
            actions.push(OracleAction::Logout);
        }
    }

    fn next_state(&self, s: &OracleState, a: OracleAction) -> Option<OracleState> {
        let mut n = *s;
        match a {
            OracleAction::Send(t) => {
                let t = usize::from(t);
                let tab = s.tab(t);
                if tab.out || tab.left == 0 || s.busy(t) {
                    return None;
                }
                n.set_tab(t, Tab { left: tab.left - 1, msg: Some((MsgType::Req, s.cookie)), ..tab });
            }
            OracleAction::Serve(t) => {
                let t = usize::from(t);
                let tab = s.tab(t);
                let Some((MsgType::Req, tok)) = tab.msg else { return None };
                let reply = if s.valid && tok == s.cur_tok {
                    let nt = if self.rotate { s.next_tok } else { s.cur_tok };
                    n.cur_tok = nt;
                    if self.rotate {
                        n.next_tok = s.next_tok + 1;
                    }
                    (MsgType::Ok, nt)
                } else {
                    (MsgType::Invalid, 0)
                };
                n.set_tab(t, Tab { msg: Some(reply), ..tab });
            }
            OracleAction::Deliver(t) => {
                let t = usize::from(t);
                let tab = s.tab(t);
                match tab.msg {
                    Some((MsgType::Ok, tok)) => {
                        n.cookie = tok;
                        n.set_tab(t, Tab { msg: None, ..tab });
                    }
                    Some((MsgType::Invalid, _)) => n.set_tab(t, Tab { out: true, msg: None, ..tab }),
                    _ => return None,
                }
            }
            OracleAction::Logout => {
                if !s.valid {
                    return None;
                }
                n.valid = false;
                n.cur_tok = 0;
            }
        }
        Some(n)
    }

    /// `NoSpuriousLogout == \A t \in Tabs : out[t] => ~valid`, if enabled.
    fn properties(&self) -> Vec<Property<Self>> {
        if !self.property {
            return vec![];
        }
        vec![Property::always(NO_SPURIOUS_LOGOUT, |_, s: &OracleState| {
            !s.valid || (0..s.tab_count()).all(|t| !s.tab(t).out)
        })]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_pack_and_unpack() {
        for out in [false, true] {
            for left in 0..=MAX_REFRESHES {
                for msg in [None, Some((MsgType::Req, 3)), Some((MsgType::Ok, 200)), Some((MsgType::Invalid, 0))] {
                    let t = Tab { out, left, msg };
                    assert_eq!(Tab::unpack(t.pack()), t);
                }
            }
        }
    }

    #[test]
    fn representative_sorts_tabs_only() {
        let m = Oracle::new(3, 2, false, true).unwrap();
        let s = m.init_states()[0];
        let a = m.next_state(&s, OracleAction::Send(0)).unwrap();
        let b = m.next_state(&s, OracleAction::Send(2)).unwrap();
        assert_ne!(a, b);
        assert_eq!(representative(a), representative(b));
        assert_eq!(representative(a).cookie, 1);
    }
}

/// Whether a run of the oracle and a baseline checker's run (Spin, TLC) may be compared by
/// speed or memory: only when both explored the same state space, which their unique-state
/// counts show. `Err` says why not, naming both counts: a checker that stops at its first
/// violation (Spin without `-A`, TLC with the invariant) explores a fraction of the space, and
/// a ratio of the two runs would mislead.
pub fn comparable(tool: &str, ours: u64, theirs: u64) -> Result<(), String> {
    if ours == theirs {
        Ok(())
    } else {
        Err(format!(
            "no ratio: the state counts differ ({ours} unique states here, {theirs} for {tool}), so the runs explored different spaces"
        ))
    }
}
