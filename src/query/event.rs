//! Event patterns of scenario queries: what one trace step shows, matched on the step a
//! transition makes.
//!
//! ```text
//! event  := actor? ACTION filter*
//! actor  := "tab" TAB ("requester" N)? ("page" N)? | "node" N | "server" | "store" | "clock"
//!         | "attacker" | "network"
//! ACTION := a step's action name (TabSendsRefresh, ServerReceivesRefresh, ClockTicks, …) | "*"
//! filter := "rule" QUOTED        the server's decision: the rule that held
//!         | "step" QUOTED        the handler step that ran
//!         | "status" INTEGER     the HTTP status of the answer the step delivers, as printed (200, 400, …);
//!                                only on actions that deliver an answer (`Tab…Response`,
//!                                `Attacker…Response`): elsewhere it is refused
//!         | "text" QUOTED        the step's sentence contains this text
//! QUOTED := `…` | "…"
//! ```
//!
//! `actor` is matched against the trace step's `actor` (`tab A`, `tab 2A` for device 2's tab A,
//! `server`, `store`, `clock`, `attacker`, `network`); `ACTION` against its `action`.

use crate::model::browser::requesters::{address, address_text, MAX_RELOADS, MAX_REQUESTERS};
use crate::model::interpret::{decision_of, Decision};
use crate::model::{Action, Msg, Node, RefreshModel, State};

/// One event pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The text it was parsed from.
    pub text: String,
    /// The step's actor (`tab A`, `server`, …), if given.
    pub actor: Option<String>,
    /// The step's action name; `None` for `*`.
    pub action: Option<String>,
    /// The rule that decided, if required.
    pub rule: Option<String>,
    /// The handler step that ran, if required.
    pub step: Option<String>,
    /// The answer's HTTP status, if required.
    pub status: Option<u16>,
    /// Text the step's sentence must contain.
    pub contains: Option<String>,
    /// Where a `tab` or `node` actor stands, as written, for [`Vocabulary::check`] to compare
    /// with the model's tabs, requesters, pages and nodes; `None` for the other actors (and
    /// for the events [`super::from_trace`] makes from a trace's own steps).
    pub place: Option<Place>,
}

/// A `tab` or `node` actor of an event, as numbers: tab `tab` (0 = A) of device `device` (0 =
/// the first), its requester `requester` (0 = the tab itself) on page `page` (0 = before any
/// reload); or node `node` (0 = node 1) of a replicated authorization server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Place {
    Tab { device: u8, tab: u8, requester: u8, page: u8 },
    Node { node: u8 },
}

const ACTORS: &[&str] = &["server", "store", "clock", "attacker", "network"];

/// The actor of each action, by the action name's first word (`Server…` is the server's):
/// `tab` for a tab, its requesters and pages; `node` for a replicated server's nodes.
fn actor_kind_of(action: &str) -> &'static str {
    const KINDS: &[(&str, &str)] = &[
        ("Tab", "tab"),
        ("Requester", "tab"),
        ("Leader", "tab"),
        ("Follower", "tab"),
        ("Storage", "tab"),
        ("Server", "server"),
        ("Store", "store"),
        ("Clock", "clock"),
        ("Browser", "clock"),
        ("Attacker", "attacker"),
        ("Network", "network"),
        ("Node", "node"),
    ];
    let word: String =
        action.chars().take(1).chain(action.chars().skip(1).take_while(|c| c.is_ascii_lowercase())).collect();
    KINDS.iter().find(|(w, _)| *w == word).map_or("", |(_, k)| k)
}

/// The actions that deliver an answer to a tab or the attacker: the only ones a `status`
/// filter can match.
pub const ANSWER_ACTIONS: &[&str] = &[
    "TabReceivesRefreshResponse",
    "TabReceivesCallResponse",
    "TabReceivesLogoutResponse",
    "TabReceivesFollowUpResponse",
    "TabReceivesResponse",
    "TabReceivesSignInResponse",
    "AttackerReceivesResponse",
    "AttackerReceivesCallResponse",
];

/// Every action name a trace step can show ([`crate::trace::describe_step`]): an event's
/// `ACTION` must be one of them (or `*`).
pub const ACTION_NAMES: &[&str] = &[
    "AttackerCalls",
    "AttackerReceivesCallResponse",
    "AttackerReadsStorage",
    "AttackerReceivesResponse",
    "AttackerRedeems",
    "BrowserClockTicks",
    "ClockMayTickAgain",
    "ClockTicks",
    "DeviceSignsIn",
    "FollowerTimesOut",
    "LeaderTabCloses",
    "NetworkLosesMessage",
    "NodeReplicates",
    "NodeServesRequest",
    "ServerReceivesCall",
    "RequesterSendsRefresh",
    "RequesterAwaitsRefreshInFlight",
    "ServerReceivesFollowUp",
    "ServerReceivesLogout",
    "ServerReceivesRefresh",
    "ServerReceivesRequest",
    "ServerReceivesResult",
    "ServerReceivesSignIn",
    "ServerReceivesTransactionResult",
    "ServerRestarts",
    "ServerRunsSignIn",
    "CacheRunsAdd",
    "CacheRunsDelete",
    "CacheRunsGet",
    "CacheRunsLogoutDelete",
    "CacheRunsSet",
    "CacheRunsTombstone",
    "ServerWritesRefresh",
    "StorageReachesTab",
    "StoreRunsDelete",
    "StoreRunsG0Extend",
    "StoreRunsG1Claim",
    "StoreRunsG2ReadNext",
    "StoreRunsG3Insert",
    "StoreRunsLogoutDelete",
    "StoreRunsR1",
    "StoreRunsSessionCheck",
    "StoreRunsTransaction",
    "StoreRunsUpsert",
    "StoreRunsW1Extend",
    "StoreRunsW1Rename",
    "StoreRunsW3Purge",
    "TabAbortsRefresh",
    "TabAwaitsBroadcast",
    "TabCrashes",
    "TabAwaitsRefreshInFlight",
    "TabChecksFreshness",
    "TabFindsNoSession",
    "TabFindsStoredSessionFresh",
    "TabFinishesStoring",
    "TabGetsBroadcast",
    "TabGivesUpLock",
    "TabHangsWithLock",
    "TabHearsSignOut",
    "TabReadsLockFree",
    "TabReadsToken",
    "TabReceivesCallResponse",
    "TabReceivesFollowUpResponse",
    "TabReceivesLogoutResponse",
    "TabReceivesRefreshResponse",
    "TabReceivesResponse",
    "TabReceivesSignInResponse",
    "TabRefreshesBeforeCall",
    "TabReloads",
    "TabRereadsToken",
    "TabRetriesRefresh",
    "TabSendsCall",
    "TabSendsRefresh",
    "TabSendsRequest",
    "TabSetsLockAndRefreshes",
    "TabSignsOut",
    "TabStealsLock",
    "TabStillWaits",
    "TabTimesOut",
    "TabWaitsForLock",
];

/// The actions of features model `m` lacks on every device, with what it lacks: a query
/// event naming one could only be answered `unreachable`, whatever the protocol does, so it is
/// refused instead (as an action of an absent attacker or store is).
fn absent_actions(m: &RefreshModel) -> Vec<(&'static str, &'static str)> {
    use crate::model::policy::{Coordination, SignOutNotice};
    let cfgs: Vec<&crate::model::browser::BrowserCfg> = m
        .cfg
        .browsers
        .iter()
        .filter_map(|b| match m.actors.get(*b) {
            Some(Node::Browser { cfg, .. }) => Some(cfg),
            _ => None,
        })
        .collect();
    let none = |f: &dyn Fn(&crate::model::browser::BrowserCfg) -> bool| !cfgs.iter().any(|c| f(c));
    let mut out = vec![];
    if none(&|c| c.sends_follow_ups()) {
        for a in ["ServerReceivesFollowUp", "TabReceivesFollowUpResponse"] {
            out.push((a, "has no follow-up request (`browser.follow_up`) and no reaction \"sign-out-request\""));
        }
    }
    if none(&|c| c.sign_out_notice != SignOutNotice::None) {
        out.push(("TabHearsSignOut", "has no sign-out notice (`browser.sign_out_notice`)"));
    }
    if none(&|c| c.coordination != Coordination::None) {
        for a in [
            "TabWaitsForLock",
            "TabReadsLockFree",
            "TabSetsLockAndRefreshes",
            "TabStealsLock",
            "TabHangsWithLock",
            "TabStillWaits",
            "TabAwaitsBroadcast",
            "TabGetsBroadcast",
            "LeaderTabCloses",
            "FollowerTimesOut",
        ] {
            out.push((a, "has no coordination between tabs (`browser.coordination`: a lock or a broadcast leader)"));
        }
    }
    if none(&|c| c.single_flight || c.tab_settings.iter().any(|s| s.single_flight)) {
        for a in ["TabAwaitsRefreshInFlight", "RequesterAwaitsRefreshInFlight"] {
            out.push((a, "has no requesters sharing a refresh (`browser.single_flight`)"));
        }
    }
    if none(&|c| c.on_timeout.is_some()) {
        out.push(("TabTimesOut", "has no reaction to a timeout (`browser.on_timeout`)"));
    }
    if none(&|c| c.lock_wait_ticks.is_some()) {
        out.push(("TabGivesUpLock", "has no time limit on a wait for the lock (`browser.lock_wait_ticks`)"));
    }
    if none(&|c| c.token_change_wait.is_some()) {
        out.push(("TabRereadsToken", "has no wait for the stored token to change (`wait-for-token-change`)"));
    }
    if none(&|c| c.crashes > 0) {
        out.push(("TabCrashes", "has no crashing client (`browser.crashes_per_tab`)"));
    }
    if none(&|c| !c.ok_writes.is_default()) {
        out.push(("TabFinishesStoring", "stores a 2xx in one write (`browser.ok_writes` is \"one\")"));
    }
    if none(&|c| c.aborts > 0) {
        out.push(("TabAbortsRefresh", "has no aborted refresh (`browser.aborts_per_tab`)"));
    }
    if none(&|c| c.reads_token == crate::model::policy::ReadsToken::BeforeSend) {
        out.push(("TabReadsToken", "reads the refresh token as it sends it (`browser.reads_token` is \"at-send\")"));
    }
    if none(&|c| c.attacker_reads_once) {
        out.push(("AttackerReadsStorage", "has no attacker who reads storage once (`attacker.steals: \"once\"`)"));
    }
    if none(&|c| c.max_ticks > 0) {
        out.push(("ClockTicks", "has no clock (`time.max_ticks` is 0)"));
    }
    if !m.is_lossy() {
        out.push(("NetworkLosesMessage", "has a network that loses nothing (no `lossy` section)"));
    }
    out
}

/// The names a model gives its events' `rule` and `step` filters: the refresh and sign-out
/// steps and rules of an authorization server's `protocol` (and the two decisions without a
/// rule), or every handler's of a `session_server`; and the names that exist but no step shows
/// (sign-in rules), each with why.
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    /// Rule names a step can show.
    pub rules: Vec<String>,
    /// Step names a step can show.
    pub steps: Vec<String>,
    /// Rule names of the model that no step shows, with the reason (`a sign-out rule`).
    pub unshown_rules: Vec<(String, &'static str)>,
    /// Why the model shows no decision at all (a `session_server` model), if so.
    pub no_decisions: Option<&'static str>,
    /// Per device (browser), its tabs, requesters per tab and reloads per tab: counts.
    pub devices: Vec<(u8, u8, u8)>,
    /// The authorization server's nodes (replicas), 0 without replication: a count.
    pub nodes: u8,
    /// The model has a session store actor (a `session_server` model).
    pub store: bool,
    /// Some device has an attacker.
    pub attacker: bool,
    /// Actions no step of this model can show because a feature they belong to is absent,
    /// each with what the model lacks (`TabHearsSignOut`: "has no sign-out notice (...)").
    pub absent_actions: Vec<(&'static str, &'static str)>,
    /// The events are those of a query file shared by several model files (`check FOLDER
    /// --query FILE`): the checks of what this model has (its tabs, requesters, pages, nodes,
    /// store, attacker) are skipped, so an event naming another model's actor is answered
    /// `unreachable` here rather than refusing the whole run.
    pub shared: bool,
}

impl Vocabulary {
    /// The names of model `m`'s server, and its devices' tabs and its nodes.
    pub fn of(m: &RefreshModel) -> Vocabulary {
        let mut v = Vocabulary::names_of(m);
        v.devices = m
            .cfg
            .browsers
            .iter()
            .filter_map(|b| match m.actors.get(*b) {
                Some(Node::Browser { cfg, .. }) => Some((cfg.tabs, cfg.requesters.max(1), cfg.reloads)),
                _ => None,
            })
            .collect();
        v.store = m.actors.iter().any(|a| matches!(a, Node::Store { .. }));
        v.attacker = m.actors.iter().any(|a| matches!(a, Node::Browser { cfg, .. } if cfg.attacker.is_some()));
        v.absent_actions = absent_actions(m);
        v.nodes = match m.actors.get(m.cfg.server) {
            Some(Node::AuthServer { protocol, .. }) if protocol.replicas > 1 => protocol.replicas,
            _ => 0,
        };
        v
    }

    fn names_of(m: &RefreshModel) -> Vocabulary {
        match m.actors.get(m.cfg.server) {
            Some(Node::AuthServer { protocol, access_tokens, .. }) => {
                let mut v = Vocabulary::default();
                for s in &protocol.refresh.steps {
                    v.steps.push(s.name.clone());
                    v.rules.extend(s.rules.iter().map(|r| r.name.clone()));
                }
                for s in &protocol.sign_out.steps {
                    v.steps.push(s.name.clone());
                    v.rules.extend(s.rules.iter().map(|r| r.name.clone()));
                }
                if *access_tokens {
                    // The `request` handler's rules show only when calls can be made.
                    for s in &protocol.request.steps {
                        v.rules.extend(s.rules.iter().map(|r| r.name.clone()));
                    }
                    v.rules.push("no such access token".into());
                }
                v.rules.push("no rule holds".into());
                v.rules.push("no such token".into());
                if protocol.revocation.is_some() {
                    v.rules.push(NOT_FOUND_UNDER_HINT.into());
                }
                let unshown = |h: &crate::protocol::Handler, why: &'static str| {
                    h.steps.iter().flat_map(|s| s.rules.iter().map(move |r| (r.name.clone(), why))).collect::<Vec<_>>()
                };
                if let Some(h) = &protocol.sign_in {
                    v.unshown_rules.extend(unshown(
                        h,
                        "a sign-in rule (a sign-in before the run happens before the first step; one during the run is matched by its actions, ServerReceivesSignIn and ServerRunsSignIn)",
                    ));
                }
                v.unshown_rules.retain(|(n, _)| !v.rules.contains(n));
                v
            }
            Some(Node::Server { program, .. }) => {
                let mut v = Vocabulary::default();
                for h in [&program.refresh, &program.sign_out, &program.request] {
                    for st in &h.steps {
                        if !v.steps.contains(&st.name) {
                            v.steps.push(st.name.clone());
                        }
                        for r in &st.rules {
                            if !v.rules.contains(&r.name) {
                                v.rules.push(r.name.clone());
                            }
                        }
                    }
                }
                v.rules.push("no rule holds".into());
                v
            }
            _ => Vocabulary {
                no_decisions: Some(
                    "this model's server decides no rules (expected a `protocol` or a `session_server`)",
                ),
                ..Vocabulary::default()
            },
        }
    }

    /// Checks that a `tab` or `node` actor of `ev` is one the model has: the device, the tab,
    /// the requester (`browser.requesters_per_tab`), the page (`browser.reloads_per_tab`), the
    /// node (`replicas`).
    /// Checks that the model has `ev`'s actor ([`Vocabulary::check_actor`]) and the actor of
    /// its action (a store, an attacker, nodes).
    fn model_has(&self, ev: &Event) -> Result<(), String> {
        self.check_actor(ev)?;
        if let Some(a) = &ev.action {
            let absent = match actor_kind_of(a) {
                "store" if !self.store => Some("has no session store (a `session_server` model's)"),
                "attacker" if !self.attacker => Some("has no attacker (section `attacker`)"),
                "node" if self.nodes == 0 => Some("has no nodes (an authorization server with `replicas: 2`)"),
                _ => None,
            };
            let absent = absent.or_else(|| self.absent_actions.iter().find(|(x, _)| x == a).map(|(_, why)| *why));
            if let Some(why) = absent {
                return Err(format!("`{a}`: no step of this model shows it: the model {why}"));
            }
        }
        Ok(())
    }

    fn check_actor(&self, ev: &Event) -> Result<(), String> {
        let actor = ev.actor.as_deref().unwrap_or_default();
        match ev.place {
            Some(Place::Tab { device, tab, requester, page }) => {
                let Some(&(tabs, requesters, reloads)) = self.devices.get(usize::from(device)) else {
                    return Err(format!(
                        "`{actor}`: the model has {} device{}, so no device {}",
                        self.devices.len(),
                        if self.devices.len() == 1 { "" } else { "s" },
                        device + 1
                    ));
                };
                if tab >= tabs {
                    return Err(format!(
                        "`{actor}`: the model has {tabs} {} per device (A to {})",
                        if tabs == 1 { "tab" } else { "tabs" },
                        char::from(b'A' + tabs.saturating_sub(1))
                    ));
                }
                if requester >= requesters {
                    return Err(format!(
                        "`{actor}`: the model's tabs have {requesters} {} (`browser.requesters_per_tab`; requester 1 is the tab itself)",
                        if requesters == 1 { "requester" } else { "requesters" }
                    ));
                }
                if page > reloads {
                    return Err(format!(
                        "`{actor}`: the model's tabs reload at most {reloads} time(s) (`browser.reloads_per_tab`), so no page {page}"
                    ));
                }
                Ok(())
            }
            None if actor == "store" && !self.store => {
                Err("`store`: the model has no session store (a `session_server` model's)".into())
            }
            None if actor == "attacker" && !self.attacker => {
                Err("`attacker`: the model has no attacker (section `attacker`)".into())
            }
            Some(Place::Node { node }) if node >= self.nodes => Err(format!(
                "`{actor}`: the model's server has {} (nodes are those of an authorization server with `replicas: 2`)",
                if self.nodes == 0 { "no nodes".to_string() } else { format!("{} nodes", self.nodes) }
            )),
            _ => Ok(()),
        }
    }

    /// Checks that `ev` names only actions, rules and steps the model can show; the error says
    /// what was found and what was expected, with the nearest name.
    pub fn check(&self, ev: &Event) -> Result<(), String> {
        use crate::protocol::expr::did_you_mean;
        let hint = |w: &str, all: &mut dyn Iterator<Item = &str>| {
            did_you_mean(w, all).map_or(String::new(), |c| format!("; did you mean `{c}`?"))
        };
        if let Some(a) = &ev.action {
            if !ACTION_NAMES.contains(&a.as_str()) {
                return Err(format!(
                    "unknown action `{a}` (expected a step's action name, as traces show it, or `*`{})",
                    hint(a, &mut ACTION_NAMES.iter().copied())
                ));
            }
            if ev.status.is_some() && !ANSWER_ACTIONS.contains(&a.as_str()) {
                return Err(format!(
                    "a `status` filter on `{a}`, which delivers no answer: `status` matches the answer a step delivers ({}); the server's decision on a request is matched with `rule`",
                    ANSWER_ACTIONS.join(", ")
                ));
            }
        }
        if !self.shared {
            self.model_has(ev)?;
        }
        if let (Some(actor), Some(a)) = (&ev.actor, &ev.action) {
            let kind = match ev.place {
                Some(Place::Tab { .. }) => "tab",
                Some(Place::Node { .. }) => "node",
                None => actor.as_str(),
            };
            let of = actor_kind_of(a);
            // A tab's own steps are requester 1's; `Requester…` steps are requesters 2 to 4's.
            if let Some(Place::Tab { requester, .. }) = ev.place {
                if requester == 0 && a.starts_with("Requester") {
                    return Err(format!(
                        "`{actor}` never takes `{a}`: it is a step of another requester (`{actor} requester 2 {a}`); the tab's own refresh is `TabSendsRefresh`"
                    ));
                }
                if requester > 0 && of == "tab" && !a.starts_with("Requester") && !a.ends_with("Response") {
                    return Err(format!(
                        "`{actor}` never takes `{a}`: a requester sends with `RequesterSendsRefresh` and gets `TabReceivesRefreshResponse`; the other steps are the tab's own"
                    ));
                }
            }
            if !of.is_empty() && of != kind {
                let whose = match of {
                    "tab" => "a tab's (`tab A …`)",
                    "node" => "a node's (`node 1 …`)",
                    other => other,
                };
                return Err(format!("`{actor}` never takes `{a}`: it is a step of {whose}; give that actor or none"));
            }
        }
        let filters = [("rule", &ev.rule, &self.rules), ("step", &ev.step, &self.steps)];
        for (key, want, names) in filters {
            let Some(want) = want else { continue };
            if let Some(why) = self.no_decisions {
                return Err(format!("a `{key}` filter (`{want}`): {why}"));
            }
            if names.contains(want) {
                continue;
            }
            if let Some((_, why)) = self.unshown_rules.iter().find(|(n, _)| key == "rule" && n == want) {
                return Err(format!(
                    "`{want}` is {why}, which no step of a run shows; `rule` matches the rules of the refresh and sign-out handlers: {}",
                    self.rules.join(", ")
                ));
            }
            return Err(format!(
                "unknown {key} `{want}` (expected one of the model's {key}s: {}{})",
                names.join(", "),
                hint(want, &mut names.iter().map(String::as_str))
            ));
        }
        Ok(())
    }
}

/// Splits an event's text into words and quoted strings (kept with a leading `"`).
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '`' || c == '"' {
            chars.next();
            let mut s = String::from("\"");
            loop {
                match chars.next() {
                    Some(x) if x == c => break,
                    Some(x) => s.push(x),
                    None => return Err(format!("a quoted text opened with {c} is not closed")),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&x) = chars.peek() {
                if x.is_whitespace() || x == '`' || x == '"' {
                    break;
                }
                s.push(x);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok(out)
}

/// A trace step's actor (`tab A's requester 2 (reloaded page 1)`, `server`) in the words of
/// an event pattern (`tab A requester 2 page 1`, `server`): what [`parse`] reads back.
pub fn actor_words(actor: &str) -> String {
    let mut out = actor.to_string();
    if let Some((head, page)) = out.strip_suffix(')').and_then(|s| s.split_once(" (reloaded page ")) {
        out = format!("{head} page {page}");
    }
    out.replacen("'s requester ", " requester ", 1)
}

/// Parses an event pattern; the error says what was found and what was expected.
pub fn parse(text: &str) -> Result<Event, String> {
    if text.len() > 1000 {
        return Err(format!("an event of {} bytes (at most 1000)", text.len()));
    }
    let w = words(text)?;
    let mut i = 0;
    let mut actor = None;
    let mut place = None;
    match w.first().map(String::as_str) {
        Some("tab") => {
            let name = w.get(1).ok_or("a tab name after `tab` (A, B, … or 2A for device 2)")?;
            super::view::tab_name(name)?;
            i = 2;
            // `requester N` and `page N`: one of the tab's requesters, a reloaded page.
            let mut requester = 0;
            let mut page = 0;
            for (key, max, first) in [("requester", MAX_REQUESTERS, 2), ("page", MAX_RELOADS, 1)] {
                if w.get(i).map(String::as_str) != Some(key) {
                    continue;
                }
                let n = w
                    .get(i + 1)
                    .and_then(|v| v.parse::<u8>().ok())
                    .filter(|n| (first..=max).contains(n))
                    .ok_or_else(|| {
                        let found = w.get(i + 1).map_or("nothing".to_string(), |v| format!("`{v}`"));
                        match key {
                            "requester" => format!("a requester number from 2 to {max} after `requester` (requester 1 is the tab itself), found {found}"),
                            _ => format!("a page number from 1 to {max} after `page` (the page after that many reloads), found {found}"),
                        }
                    })?;
                if key == "requester" {
                    requester = n - 1;
                } else {
                    page = n;
                }
                i += 2;
            }
            actor = Some(address_text(address(0, requester, page), |_| name.clone()));
            let (device, tab) = super::view::tab_name(name)?;
            place = Some(Place::Tab { device, tab, requester, page });
        }
        Some("node") => {
            let n = w
                .get(1)
                .and_then(|v| v.parse::<u8>().ok())
                .filter(|n| (1..=2).contains(n))
                .ok_or_else(|| {
                    let found = w.get(1).map_or("nothing".to_string(), |v| format!("`{v}`"));
                    format!("a node number (1 or 2) after `node` (a replicated server's node, as traces show `node 1`), found {found}")
                })?;
            actor = Some(format!("node {n}"));
            place = Some(Place::Node { node: n - 1 });
            i = 2;
        }
        Some("browser") => {
            return Err(
                "an actor that traces show: no step is the browser's own (its clock's steps are `clock`, BrowserClockTicks; a tab's are `tab A`)"
                    .into(),
            )
        }
        Some(a) if ACTORS.contains(&a) => {
            actor = Some(a.to_string());
            i = 1;
        }
        _ => {}
    }
    let action = match w.get(i).map(String::as_str) {
        Some("*") => None,
        Some(a) if a.starts_with(|c: char| c.is_ascii_uppercase()) && a.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Some(a.to_string())
        }
        Some(a) => {
            return Err(format!(
                "an action name (TabSendsRefresh, ServerReceivesRefresh, TabReceivesRefreshResponse, ClockTicks, … or `*`){}, found `{}`",
                if actor.is_none() { " after an optional actor (tab A, server, store, clock, attacker, network)" } else { "" },
                a.trim_start_matches('"')
            ))
        }
        None => return Err("an action name (TabSendsRefresh, … or `*`), found nothing".into()),
    };
    i += 1;
    let mut ev =
        Event { text: text.to_string(), actor, action, rule: None, step: None, status: None, contains: None, place };
    while i < w.len() {
        let key = w[i].as_str();
        if !["rule", "step", "text", "status"].contains(&key) {
            // After `status 400`, a word is most likely the error code written with it.
            let after_status = i >= 2 && w[i - 2] == "status";
            return Err(format!(
                "unknown filter `{}` (expected `rule`, `step`, `status` or `text`){}",
                key.trim_start_matches('"'),
                if after_status {
                    "; `status` takes the HTTP status code alone (`status 400`): the code's words are matched with `text`"
                } else {
                    ""
                }
            ));
        }
        let val = w.get(i + 1).ok_or_else(|| format!("a value after `{key}`"))?;
        let quoted = |v: &String| match v.strip_prefix('"') {
            Some(s) => Ok(s.to_string()),
            None => Err(format!("a quoted name after `{key}` (`…` or \"…\"), found `{v}`")),
        };
        let given = match key {
            "rule" => ev.rule.is_some(),
            "step" => ev.step.is_some(),
            "text" => ev.contains.is_some(),
            "status" => ev.status.is_some(),
            _ => false,
        };
        if given {
            return Err(format!(
                "each filter at most once: `{key}` is given twice (a step has one rule, step, status and text)"
            ));
        }
        match key {
            "rule" => ev.rule = Some(quoted(val)?),
            "step" => ev.step = Some(quoted(val)?),
            "text" => ev.contains = Some(quoted(val)?),
            "status" => {
                ev.status = Some(
                    val.parse::<u16>()
                        .ok()
                        .filter(|s| (100..600).contains(s))
                        .ok_or_else(|| match val.strip_prefix('"') {
                            // A quoted text: shown as written, without the quote the lexer keeps.
                            Some(text) => format!("an HTTP status from 100 to 599 after `status`, unquoted (`status 400`), found the quoted text `{text}`; the code's words are matched with `text`"),
                            None => format!("an HTTP status from 100 to 599 after `status` (200, 400, 401, 500, or one a model's `wording` names), found `{val}`"),
                        })?,
                )
            }
            k => {
                return Err(format!(
                    "unknown filter `{}` (expected `rule`, `step`, `status` or `text`)",
                    k.trim_start_matches('"')
                ))
            }
        }
        i += 2;
    }
    Ok(ev)
}

/// What a transition shows, computed once per transition and matched by several patterns.
pub struct Shown {
    /// The trace step's actor.
    pub actor: String,
    /// The trace step's action name.
    pub action: String,
    /// The trace step's sentence.
    pub text: String,
    /// The rules that held and the steps that ran (rule, step), in order, when the server
    /// decided: a refresh step of a `protocol` server; each step a `session_server` handler
    /// ran in this action (a rule `no rule holds` when none did).
    pub decisions: Vec<(String, String)>,
    /// The HTTP status of the answer delivered, if the step delivers one.
    pub status: Option<u16>,
}

/// The sign-out rule that decides when `action` delivers a sign-out to a single-node
/// authorization server in state `before` ([`crate::model::interpret::sign_out`]: the first
/// sign-out rule whose guard holds for a known token; `no rule holds` when none does, `no such
/// token` for an unknown one or none), with the sign-out step's name.
fn sign_out_decision(
    m: &RefreshModel,
    protocol: &crate::protocol::Protocol,
    before: &State,
    action: &Action,
) -> Option<(String, String)> {
    let (dst, t, access) = match action {
        stateright::actor::ActorModelAction::Deliver { dst, msg: Msg::LogoutRequest { cred, access, .. }, .. } => {
            (dst, cred.presented(), access)
        }
        // A follow-up (`browser.follow_up`) is decided by the sign-out's rules too.
        stateright::actor::ActorModelAction::Deliver { dst, msg: Msg::FollowUpRequest { token, .. }, .. } => {
            (dst, *token, &None)
        }
        _ => return None,
    };
    let auth = crate::model::auth_server_at(before, m.cfg.server)?;
    if usize::from(*dst) != m.cfg.server || auth.cluster.is_some() {
        return None;
    }
    let step = protocol.sign_out.steps.first()?;
    let rule = match crate::model::interpret::sign_out_rule(protocol, auth, t, *access) {
        Some(r) => r.name.clone(),
        None if crate::model::interpret::sign_out_view(protocol, auth, t, *access).is_some() => {
            "no rule holds".to_string()
        }
        None if crate::model::interpret::presented_view(protocol, auth, t, *access).is_some() => {
            NOT_FOUND_UNDER_HINT.to_string()
        }
        None if protocol.sign_out_presents == crate::protocol::Presents::AccessToken => {
            "no such access token".to_string()
        }
        None => "no such token".to_string(),
    };
    Some((rule, step.name.clone()))
}

/// The decision named when a revocation endpoint (`sign_out.revocation`) searches the hinted
/// kind only and does not find the token it was sent (it names a token of the other kind): no
/// rule runs, and the answer is 200 (RFC 7009 §2.2).
pub const NOT_FOUND_UNDER_HINT: &str = "not found under its token_type_hint";

/// The `request` rule that decides when `action` delivers an API call to an authorization
/// server in state `before` (`no such access token` when the access token has no row), with
/// the handler's step name (`serve`).
fn call_decision(
    m: &RefreshModel,
    protocol: &crate::protocol::Protocol,
    before: &State,
    action: &Action,
) -> Option<(String, String)> {
    let stateright::actor::ActorModelAction::Deliver { dst, msg: Msg::CallRequest { access, .. }, .. } = action else {
        return None;
    };
    let auth = crate::model::auth_server_at(before, m.cfg.server)?;
    if usize::from(*dst) != m.cfg.server {
        return None;
    }
    let step = protocol.request.steps.first()?;
    let rule = crate::model::interpret::call_rule(protocol, auth, *access)
        .map_or("no such access token".to_string(), |r| r.name.clone());
    Some((rule, step.name.clone()))
}

/// What the transition `before --action--> after` shows.
pub fn shown(m: &RefreshModel, before: &State, action: &Action, after: &State) -> Shown {
    let (actor, name, text, _) = crate::trace::describe_step(m, before, action, after);
    // Events name a client `tab A` (a query's `process A` is read so); the sentence, matched by
    // `text`, stays in the model's client word.
    let actor = m.cfg.client_word.actor_in_tab_words(&actor).into_owned();
    let decisions = match m.actors.get(m.cfg.server) {
        Some(Node::AuthServer { protocol, .. }) => match decision_of(m, before, action) {
            Some(Decision::Rule { step, rule }) => {
                let s = &protocol.refresh.steps[step];
                vec![(s.rules[rule].name.clone(), s.name.clone())]
            }
            Some(Decision::NoRule { step, no_row }) => vec![(
                if no_row { "no such token" } else { "no rule holds" }.to_string(),
                protocol.refresh.steps[step].name.clone(),
            )],
            Some(Decision::LockWaits | Decision::Waits { .. }) => vec![],
            None => sign_out_decision(m, protocol, before, action)
                .or_else(|| call_decision(m, protocol, before, action))
                .into_iter()
                .collect(),
        },
        Some(Node::Server { program, .. }) => crate::model::sessions::decisions_of(m, before, action)
            .into_iter()
            .map(|(e, step, rule)| {
                let st = &crate::model::sessions::handler_of(program, e).steps[usize::from(step)];
                let rule = rule.map_or("no rule holds".to_string(), |r| st.rules[usize::from(r)].name.clone());
                (rule, st.name.clone())
            })
            .collect(),
        _ => vec![],
    };
    // The status as the trace prints it (the model's wording, `crate::protocol::wording`).
    let status = match action {
        stateright::actor::ActorModelAction::Deliver { msg, .. } => crate::trace::answer_status(m, msg),
        _ => None,
    };
    Shown { actor, action: name, text, decisions, status }
}

/// Whether two actors are one: equal, or equal once the first device's number is dropped (a
/// trace of a model with several devices prints `tab 1A`, which `tab A` names too).
fn same_actor(a: &str, b: &str) -> bool {
    fn first_device(x: &str) -> std::borrow::Cow<'_, str> {
        match x.strip_prefix("tab 1") {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_uppercase()) => format!("tab {rest}").into(),
            _ => x.into(),
        }
    }
    a == b || first_device(a) == first_device(b)
}

impl Event {
    /// Whether a transition showing `s` matches this pattern.
    pub fn matches(&self, s: &Shown) -> bool {
        self.actor.as_ref().is_none_or(|a| same_actor(a, &s.actor))
            && self.action.as_ref().is_none_or(|a| *a == s.action)
            && (self.rule.is_none() && self.step.is_none()
                || s.decisions.iter().any(|(rule, step)| {
                    self.rule.as_ref().is_none_or(|r| r == rule) && self.step.as_ref().is_none_or(|x| x == step)
                }))
            && self.status.is_none_or(|c| s.status == Some(c))
            && self.contains.as_ref().is_none_or(|t| s.text.contains(t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/queries.md` ("Actions") names every action an event may match, and no other.
    #[test]
    fn every_action_is_documented_in_the_query_guide() {
        let doc = include_str!("../../docs/queries.md");
        let section =
            doc.split("### Actions").nth(1).and_then(|s| s.split("\n## ").next()).expect("an Actions section");
        let missing: Vec<&str> =
            ACTION_NAMES.iter().copied().filter(|a| !section.contains(&format!("`{a}`"))).collect();
        assert!(missing.is_empty(), "actions missing from docs/queries.md's Actions section: {missing:?}");
        let listed: Vec<&str> = section
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|w| {
                w.len() > 4
                    && w.chars().all(|c| c.is_ascii_alphanumeric())
                    && w.starts_with(char::is_uppercase)
                    && w.chars().any(|c| c.is_ascii_lowercase())
            })
            .collect();
        let unknown: Vec<&str> = listed.into_iter().filter(|w| !ACTION_NAMES.contains(w)).collect();
        assert!(unknown.is_empty(), "docs/queries.md lists actions no step shows: {unknown:?}");
    }

    /// Every actor a trace names, requesters and reloaded pages included, reads back from its
    /// pattern words (`compare` writes a trace's steps as events this way); bad numbers are
    /// refused with the range.
    #[test]
    fn trace_actors_read_back_from_their_pattern_words() {
        for actor in [
            "tab A",
            "tab 2B",
            "tab A's requester 2",
            "tab C (reloaded page 1)",
            "tab 2A's requester 4 (reloaded page 3)",
            "server",
            "attacker",
        ] {
            let words = actor_words(actor);
            let ev = parse(&format!("{words} *")).unwrap_or_else(|e| panic!("{words}: {e}"));
            assert_eq!(ev.actor.as_deref(), Some(actor), "{words}");
        }
        assert_eq!(actor_words("tab A's requester 2 (reloaded page 1)"), "tab A requester 2 page 1");
        let e = parse("tab A requester 1 *").unwrap_err();
        assert!(e.contains("a requester number from 2 to 4") && e.contains("found `1`"), "{e}");
        let e = parse("tab A page 4 *").unwrap_err();
        assert!(e.contains("a page number from 1 to 3 after `page`") && e.contains("found `4`"), "{e}");
        let e = parse("tab A page").unwrap_err();
        assert!(e.contains("found nothing"), "{e}");
        // A replicated server's node is `node N`, as traces print it; no step is the browser's.
        assert_eq!(parse("node 2 NodeServesRequest").unwrap().actor.as_deref(), Some("node 2"));
        assert!(parse("node NodeServesRequest").unwrap_err().contains("a node number (1 or 2) after `node`"));
        assert!(parse("browser BrowserClockTicks").unwrap_err().contains("its clock's steps are `clock`"));
        // A status's code words are not a filter.
        let e = parse("tab A TabReceivesRefreshResponse status 400 invalid_grant").unwrap_err();
        assert!(
            e.contains("unknown filter `invalid_grant`") && e.contains("`status` takes the HTTP status code alone"),
            "{e}"
        );
        let e = parse("tab A TabReceivesRefreshResponse status `400 invalid_grant`").unwrap_err();
        assert!(
            e.contains("unquoted (`status 400`), found the quoted text `400 invalid_grant`;") && !e.contains("`\"400"),
            "{e}"
        );
    }

    /// Every action name the trace sentences give (`src/trace/describe.rs`) is one an event may
    /// name: a new action left out of [`ACTION_NAMES`] would be refused as unknown.
    #[test]
    fn every_described_action_is_a_known_action_name() {
        let text = include_str!("../trace/describe.rs");
        let prefixes = [
            "Tab",
            "Server",
            "Store",
            "Clock",
            "Browser",
            "Attacker",
            "Network",
            "Node",
            "Leader",
            "Follower",
            "Requester",
            "Storage",
        ];
        let mut found = 0;
        for quoted in text.split('"') {
            let is_action = prefixes.iter().any(|p| quoted.starts_with(p))
                && quoted.len() > 6
                && quoted.chars().all(|c| c.is_ascii_alphanumeric());
            if is_action {
                found += 1;
                assert!(ACTION_NAMES.contains(&quoted), "`{quoted}` is missing from ACTION_NAMES");
            }
        }
        assert!(found >= 40, "{found} action names found in describe.rs");
        let e = Vocabulary::default().check(&parse("tab A TabSendRefresh").unwrap()).unwrap_err();
        assert!(e.contains("did you mean `TabSendsRefresh`?"), "{e}");
    }

    #[test]
    fn parses_events() {
        let e = parse("tab B TabReceivesRefreshResponse status 401").unwrap();
        assert_eq!(e.actor.as_deref(), Some("tab B"));
        assert_eq!(e.action.as_deref(), Some("TabReceivesRefreshResponse"));
        assert_eq!(e.status, Some(401));
        let e = parse("server ServerReceivesRefresh rule `inactive: reuse`").unwrap();
        assert_eq!(e.rule.as_deref(), Some("inactive: reuse"));
        let e = parse("* text \"orphan\"").unwrap();
        assert_eq!((e.actor, e.action, e.contains.as_deref()), (None, None, Some("orphan")));
        assert!(parse("tab B sends").unwrap_err().contains("an action name"));
        assert!(parse("server ServerReceivesRefresh rule x").unwrap_err().contains("a quoted name"));
        assert!(parse("tab B TabSendsRefresh when 3").unwrap_err().contains("unknown filter `when`"));
        assert!(parse("tab B TabSendsRefresh text `x").unwrap_err().contains("not closed"));
        // A repeated filter is refused, not overwritten by the last one.
        for twice in ["text `a` text `b`", "status 500 status 200", "rule `a` rule `b`", "step `a` step `b`"] {
            let e = parse(&format!("tab A TabReceivesRefreshResponse {twice}")).unwrap_err();
            assert!(e.contains("at most once"), "{twice}: {e}");
        }
    }
}
