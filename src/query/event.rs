//! Event patterns of scenario queries: what one trace step shows, matched on the step a
//! transition makes.
//!
//! ```text
//! event  := actor? ACTION filter*
//! actor  := "tab" TAB | "server" | "store" | "clock" | "attacker" | "network" | "browser" | "node"
//! ACTION := a step's action name (TabSendsRefresh, ServerReceivesRefresh, ClockTicks, …) | "*"
//! filter := "rule" QUOTED        the server's decision: the rule that held (protocol models)
//!         | "step" QUOTED        the handler step that ran (protocol models)
//!         | "status" INTEGER     the HTTP status of the answer the step delivers (200, 400, 401, 500)
//!         | "text" QUOTED        the step's sentence contains this text
//! QUOTED := `…` | "…"
//! ```
//!
//! `actor` is matched against the trace step's `actor` (`tab A`, `tab 2A` for device 2's tab A,
//! `server`, `store`, `clock`, `attacker`, `network`); `ACTION` against its `action`.

use crate::model::interpret::{decision_of, Decision};
use crate::model::{Action, Msg, Node, RefreshModel, Reply, State};

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
}

const ACTORS: &[&str] = &["server", "store", "clock", "attacker", "network", "browser", "node"];

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

/// Parses an event pattern; the error says what was found and what was expected.
pub fn parse(text: &str) -> Result<Event, String> {
    if text.len() > 1000 {
        return Err(format!("an event of {} bytes (at most 1000)", text.len()));
    }
    let w = words(text)?;
    let mut i = 0;
    let mut actor = None;
    match w.first().map(String::as_str) {
        Some("tab") => {
            let name = w.get(1).ok_or("a tab name after `tab` (A, B, … or 2A for device 2)")?;
            super::view::tab_name(name)?;
            actor = Some(format!("tab {name}"));
            i = 2;
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
    let mut ev = Event { text: text.to_string(), actor, action, rule: None, step: None, status: None, contains: None };
    while i < w.len() {
        let key = w[i].as_str();
        let val = w.get(i + 1).ok_or_else(|| format!("a value after `{key}`"))?;
        let quoted = |v: &String| match v.strip_prefix('"') {
            Some(s) => Ok(s.to_string()),
            None => Err(format!("a quoted name after `{key}` (`…` or \"…\"), found `{v}`")),
        };
        match key {
            "rule" => ev.rule = Some(quoted(val)?),
            "step" => ev.step = Some(quoted(val)?),
            "text" => ev.contains = Some(quoted(val)?),
            "status" => {
                ev.status = Some(
                    val.parse::<u16>()
                        .ok()
                        .filter(|s| (100..600).contains(s))
                        .ok_or_else(|| format!("an HTTP status (200, 400, 401, 500) after `status`, found `{val}`"))?,
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
    /// The rule that held and the step that ran, when the server decided a refresh.
    pub decision: Option<(String, String)>,
    /// The HTTP status of the answer delivered, if the step delivers one.
    pub status: Option<u16>,
}

/// What the transition `before --action--> after` shows.
pub fn shown(m: &RefreshModel, before: &State, action: &Action, after: &State) -> Shown {
    let (actor, name, text, _) = crate::trace::describe_step(m, before, action, after);
    let decision = match (m.actors.get(m.cfg.server), decision_of(m, before, action)) {
        (Some(Node::AuthServer { protocol, .. }), Some(d)) => match d {
            Decision::Rule { step, rule } => {
                let s = &protocol.refresh.steps[step];
                Some((s.rules[rule].name.clone(), s.name.clone()))
            }
            Decision::NoRule { step, no_row } => Some((
                if no_row { "no such token" } else { "no rule holds" }.to_string(),
                protocol.refresh.steps[step].name.clone(),
            )),
            Decision::LockWaits => None,
        },
        _ => None,
    };
    let status = match action {
        stateright::actor::ActorModelAction::Deliver { msg, .. } => match msg {
            Msg::RefreshResponse { reply, .. }
            | Msg::UsersMeResponse { reply, .. }
            | Msg::LogoutResponse { reply, .. } => Some(match reply {
                Reply::Ok { .. } | Reply::SignedOut => 200,
                Reply::Err(e) => e.status(),
            }),
            _ => None,
        },
        _ => None,
    };
    Shown { actor, action: name, text, decision, status }
}

impl Event {
    /// Whether a transition showing `s` matches this pattern.
    pub fn matches(&self, s: &Shown) -> bool {
        self.actor.as_ref().is_none_or(|a| *a == s.actor)
            && self.action.as_ref().is_none_or(|a| *a == s.action)
            && self.rule.as_ref().is_none_or(|r| s.decision.as_ref().is_some_and(|(x, _)| x == r))
            && self.step.as_ref().is_none_or(|r| s.decision.as_ref().is_some_and(|(_, x)| x == r))
            && self.status.is_none_or(|c| s.status == Some(c))
            && self.contains.as_ref().is_none_or(|t| s.text.contains(t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
