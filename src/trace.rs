//! Counterexample traces: our own serde type, built by replaying an action-index path on the
//! model, re-checked, and rendered as numbered text steps and as a Mermaid
//! `sequenceDiagram`.
//!
//! A trace file (`traces/<model>.<property>.json`) holds the schema version, the model file
//! and the parameters it was checked with, the property, the action-index `path` (which
//! `trace validate` replays), and one entry per action: who acted, what happened, the message
//! delivered if any, and the global state after it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stateright::actor::{ActorModelAction, Id};

use crate::model::browser::{BrowserState, TabStatus};
use crate::model::server::Handler;
use crate::model::store::{Row, Sql, SqlResult};
use crate::model::{self, Action, Msg, RefreshModel, Reply, SessionJwt, State, Timer};
use crate::properties::{self, Kind, PropertySpec};
use crate::search::{self, IndexPath};

/// The trace format's version. A reader rejects any other.
pub const SCHEMA: &str = "refresh-check/trace/v1";

/// A message in flight or delivered, with actor names.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MessageView {
    /// Sender, e.g. `"tab A"`, `"server"`.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// The message in the protocol's words, e.g. `"POST /auth/refresh (cookie session=1)"`.
    pub text: String,
}

/// The global state after a step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// The server's clock, in ticks.
    pub now: u8,
    /// Each tab, in order A, B, …: its status and remaining budget.
    pub tabs: Vec<TabView>,
    /// The cookie jar's session cookie, e.g. `"session=2 exp=4"`, or `null`.
    pub jar: Option<String>,
    /// The rows of `directus_sessions`, e.g. `"token=2 expires=7"`.
    pub store: Vec<String>,
    /// The server's handlers in progress, e.g. `"tab A: awaiting R1"`.
    pub handlers: Vec<String>,
    /// Ghost: cookies handed out that name no row.
    pub orphan_cookies: u8,
    /// Ground truth: the user's session is valid.
    pub session_valid: bool,
    /// Messages in flight.
    pub in_flight: Vec<MessageView>,
}

/// One tab in a snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TabView {
    /// `"A"`, `"B"`, …
    pub tab: String,
    /// `"idle"`, `"refreshing (sent session=1)"`, `"requesting"`, `"logged out"`.
    pub status: String,
    /// Refreshes left: a count.
    pub refreshes_left: u8,
    /// Ordinary requests left: a count.
    pub requests_left: u8,
}

/// One action of a trace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// 1-based.
    pub index: usize,
    /// Who acted: `"tab A"`, `"server"`, `"store"`, `"clock"`, `"network"`.
    pub actor: String,
    /// The action, actor then event: `TabSendsRefresh`, `ServerReceivesRefresh`,
    /// `StoreRunsR1`, `TabReceivesRefreshResponse`, …
    pub action: String,
    /// One sentence for people.
    pub text: String,
    /// The message delivered by this action, if it is a delivery.
    pub message: Option<MessageView>,
    /// The state after the action.
    pub state: Snapshot,
}

/// The parameters a trace was checked with, beyond the model file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Parameters {
    /// Tabs.
    pub tabs: u8,
}

/// A counterexample (or example) trace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Trace {
    /// [`SCHEMA`].
    pub schema: String,
    /// The model's name.
    pub model: String,
    /// The model file, as given on the command line.
    pub model_file: PathBuf,
    /// Parameters beyond the model file.
    pub parameters: Parameters,
    /// The property's key.
    pub property: String,
    /// `always` (a counterexample) or `sometimes` (an example).
    pub kind: Kind,
    /// The property's claim.
    pub claim: String,
    /// The action-index path, `"init/a1/a2/…"`.
    pub path: String,
    /// The state before the first action.
    pub initial: Snapshot,
    /// One entry per action.
    pub steps: Vec<Step>,
}

/// Why a trace could not be built or does not hold.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The path does not replay on the model.
    #[error("the path does not replay: step {0} is not an enabled action of the model")]
    DoesNotReplay(usize),
    /// The path replays but its last state does not show what the trace claims.
    #[error("the path replays but its last state does not {0}")]
    NotReproduced(String),
    /// An unknown property.
    #[error("unknown property `{0}`")]
    UnknownProperty(String),
}

/// Letter of tab `t`: A, B, C, …
pub fn tab_letter(t: u8) -> char {
    (b'A' + t) as char
}

fn jwt(c: &Option<SessionJwt>) -> String {
    match c {
        Some(j) => format!("session={} exp={}", j.session, j.exp),
        None => "no cookie".into(),
    }
}

fn reply_text(r: &Reply) -> String {
    match r {
        Reply::Ok { set_cookie: Some(c) } => format!("200, Set-Cookie session={} exp={}", c.session, c.exp),
        Reply::Ok { set_cookie: None } => "200".into(),
        Reply::Err(e) => format!("{} {}", e.status(), error_code(e)),
    }
}

fn error_code(e: &crate::model::HttpError) -> &'static str {
    match e {
        crate::model::HttpError::InvalidPayload => "INVALID_PAYLOAD",
        crate::model::HttpError::TokenExpired => "TOKEN_EXPIRED",
        crate::model::HttpError::InvalidCredentials => "INVALID_CREDENTIALS",
    }
}

fn sql_text(sql: &Sql) -> String {
    match sql {
        Sql::SelectSession { token, now } => format!("SELECT … WHERE token={token} AND expires>={now}"),
        Sql::Rename { from, to, expires } => format!("UPDATE SET token={to}, expires={expires} WHERE token={from}"),
        Sql::Extend { token, expires } => format!("UPDATE SET expires={expires} WHERE token={token}"),
    }
}

fn sql_step_name(sql: &Sql, h: Option<&Handler>) -> &'static str {
    use crate::model::server::Stage;
    match (sql, h.map(|h| h.stage)) {
        (Sql::SelectSession { .. }, Some(Stage::SessionCheck)) => "StoreRunsSessionCheck",
        (Sql::SelectSession { .. }, _) => "StoreRunsR1",
        (Sql::Rename { .. }, _) => "StoreRunsW1Rename",
        (Sql::Extend { .. }, _) => "StoreRunsW1Extend",
    }
}

fn result_text(r: &SqlResult) -> String {
    match r {
        SqlResult::Row(Some(Row { token, expires })) => format!("row token={token} expires={expires}"),
        SqlResult::Row(None) => "no row".into(),
        SqlResult::Affected(n) => format!("{n} row(s) affected"),
    }
}

/// Names an actor, or a tab when the message concerns one.
struct Names<'a> {
    model: &'a RefreshModel,
}

impl Names<'_> {
    fn actor(&self, id: Id) -> String {
        let ix = usize::from(id);
        if ix == self.model.cfg.server {
            "server".into()
        } else if ix == self.model.cfg.store {
            "store".into()
        } else {
            "browser".into()
        }
    }

    fn message(&self, src: Id, dst: Id, msg: &Msg) -> MessageView {
        let (from, to, text) = match msg {
            Msg::RefreshRequest { tab, cookie } => {
                (format!("tab {}", tab_letter(*tab)), self.actor(dst), format!("POST /auth/refresh ({})", jwt(cookie)))
            }
            Msg::UsersMeRequest { tab, cookie } => {
                (format!("tab {}", tab_letter(*tab)), self.actor(dst), format!("GET /users/me ({})", jwt(cookie)))
            }
            Msg::RefreshResponse { tab, reply } | Msg::UsersMeResponse { tab, reply } => {
                (self.actor(src), format!("tab {}", tab_letter(*tab)), reply_text(reply))
            }
            Msg::Query { client, sql } => {
                (self.actor(src), self.actor(dst), format!("{} [tab {}]", sql_text(sql), tab_letter(client.tab)))
            }
            Msg::QueryResult { client, result } => {
                (self.actor(src), self.actor(dst), format!("{} [tab {}]", result_text(result), tab_letter(client.tab)))
            }
            Msg::Transaction { handler, .. } => (
                self.actor(src),
                self.actor(dst),
                format!("run {:?} for tab {} atomically", handler.endpoint, tab_letter(handler.client.tab)),
            ),
            Msg::TransactionDone { client, reply, .. } => {
                (self.actor(src), self.actor(dst), format!("{} [tab {}]", reply_text(reply), tab_letter(client.tab)))
            }
        };
        MessageView { from, to, text }
    }
}

/// The snapshot of a global state.
pub fn snapshot(m: &RefreshModel, s: &State) -> Snapshot {
    let names = Names { model: m };
    let b: &BrowserState = model::browser_at(s, m.cfg.browsers[0]);
    let server = model::server_at(s, m.cfg.server);
    let store = model::store_at(s, m.cfg.store);
    let tabs = b
        .tabs
        .iter()
        .enumerate()
        .map(|(i, t)| TabView {
            tab: tab_letter(i as u8).to_string(),
            status: match t.status {
                TabStatus::Idle => "idle".into(),
                TabStatus::Refreshing { sent: Some(tok) } => format!("refreshing (sent session={tok})"),
                TabStatus::Refreshing { sent: None } => "refreshing (sent no cookie)".into(),
                TabStatus::Requesting => "requesting".into(),
                TabStatus::LoggedOut => "logged out".into(),
            },
            refreshes_left: t.refreshes_left,
            requests_left: t.requests_left,
        })
        .collect();
    let mut in_flight: Vec<MessageView> = s.network.iter_all().map(|e| names.message(e.src, e.dst, e.msg)).collect();
    in_flight.sort_by(|a, b| (&a.from, &a.to, &a.text).cmp(&(&b.from, &b.to, &b.text)));
    Snapshot {
        now: server.now,
        tabs,
        jar: b.jar.map(|j| format!("session={} exp={}", j.session, j.exp)),
        store: store.rows.iter().map(|r| format!("token={} expires={}", r.token, r.expires)).collect(),
        handlers: server
            .handlers
            .iter()
            .map(|h| format!("tab {} {:?}: {:?}", tab_letter(h.client.tab), h.endpoint, h.stage))
            .collect(),
        orphan_cookies: server.orphan_cookies,
        session_valid: properties::session_valid(m, s, m.cfg.browsers[0]),
        in_flight,
    }
}

/// Describes one action taken from `before`, leading to `after`.
fn describe(
    m: &RefreshModel,
    before: &State,
    action: &Action,
    after: &State,
) -> (String, String, String, Option<MessageView>) {
    let names = Names { model: m };
    match action {
        ActorModelAction::Timeout(_, Timer::TabRefreshes(t)) => {
            let jar = model::browser_at(before, m.cfg.browsers[0]).jar;
            (
                format!("tab {}", tab_letter(*t)),
                "TabSendsRefresh".into(),
                format!(
                    "tab {} loads or returns from idle and sends POST /auth/refresh with the jar's cookie ({})",
                    tab_letter(*t),
                    jwt(&jar)
                ),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabRequests(t)) => {
            let jar = model::browser_at(before, m.cfg.browsers[0]).jar;
            (
                format!("tab {}", tab_letter(*t)),
                "TabSendsRequest".into(),
                format!("tab {} sends GET /users/me with the jar's cookie ({})", tab_letter(*t), jwt(&jar)),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::Tick) => {
            let now = model::server_at(after, m.cfg.server).now;
            ("clock".into(), "ClockTicks".into(), format!("time passes: now = {now}"), None)
        }
        ActorModelAction::Deliver { src, dst, msg } => {
            let view = names.message(*src, *dst, msg);
            let (actor, action, text) = match msg {
                Msg::RefreshRequest { tab, .. } => (
                    "server".to_string(),
                    "ServerReceivesRefresh",
                    format!("server receives tab {}'s {}", tab_letter(*tab), view.text),
                ),
                Msg::UsersMeRequest { tab, .. } => (
                    "server".to_string(),
                    "ServerReceivesRequest",
                    format!("server receives tab {}'s {}", tab_letter(*tab), view.text),
                ),
                Msg::Query { client, sql } => {
                    let h =
                        model::server_at(before, m.cfg.server).handlers.iter().find(|h| h.client == *client).copied();
                    (
                        "store".to_string(),
                        sql_step_name(sql, h.as_ref()),
                        format!("store runs {} for tab {}", sql_text(sql), tab_letter(client.tab)),
                    )
                }
                Msg::QueryResult { client, result } => (
                    "server".to_string(),
                    "ServerReceivesResult",
                    format!("server gets {} for tab {}", result_text(result), tab_letter(client.tab)),
                ),
                Msg::Transaction { handler, .. } => (
                    "store".to_string(),
                    "StoreRunsTransaction",
                    format!(
                        "store runs tab {}'s whole {:?} handler as one transaction",
                        tab_letter(handler.client.tab),
                        handler.endpoint
                    ),
                ),
                Msg::TransactionDone { client, .. } => (
                    "server".to_string(),
                    "ServerReceivesTransactionResult",
                    format!("server gets the transaction's outcome for tab {}", tab_letter(client.tab)),
                ),
                Msg::RefreshResponse { tab, reply } => {
                    let who = format!("tab {}", tab_letter(*tab));
                    let text = match reply {
                        Reply::Ok { .. } => format!("{who} gets {}; the jar now holds it", view.text),
                        Reply::Err(_) => format!("{who} gets {} and is logged out", view.text),
                    };
                    (who, "TabReceivesRefreshResponse", text)
                }
                Msg::UsersMeResponse { tab, .. } => {
                    let who = format!("tab {}", tab_letter(*tab));
                    let text = format!("{who} gets {} for GET /users/me", view.text);
                    (who, "TabReceivesResponse", text)
                }
            };
            (actor, action.into(), text, Some(view))
        }
        ActorModelAction::Drop(env) => {
            let view = names.message(env.src, env.dst, &env.msg);
            (
                "network".into(),
                "NetworkLosesMessage".into(),
                format!("the network loses {} → {}: {}", view.from, view.to, view.text),
                Some(view),
            )
        }
        other => ("system".into(), format!("{other:?}"), format!("{other:?}"), None),
    }
}

/// Replays `path` on `model`, checks that its last state violates (for `always`) or satisfies
/// (for `sometimes`) `prop`, and builds the trace.
pub fn build(
    model: &RefreshModel,
    model_file: &Path,
    name: &str,
    tabs: u8,
    prop: &PropertySpec,
    path: &IndexPath,
) -> Result<Trace, TraceError> {
    let (init, steps) = search::replay(model, path).map_err(TraceError::DoesNotReplay)?;
    let last = steps.last().map(|(_, s)| s).unwrap_or(&init);
    let holds = (prop.condition)(model, last);
    let shows = match prop.kind {
        Kind::Always => !holds,
        Kind::Sometimes => holds,
    };
    if !shows {
        let what = match prop.kind {
            Kind::Always => format!("violate `{}`", prop.name),
            Kind::Sometimes => format!("reach `{}`", prop.name),
        };
        return Err(TraceError::NotReproduced(what));
    }
    let mut before = init.clone();
    let mut out = Vec::with_capacity(steps.len());
    for (i, (action, after)) in steps.iter().enumerate() {
        let (actor, action_name, text, message) = describe(model, &before, action, after);
        out.push(Step { index: i + 1, actor, action: action_name, text, message, state: snapshot(model, after) });
        before = after.clone();
    }
    Ok(Trace {
        schema: SCHEMA.into(),
        model: name.into(),
        model_file: model_file.into(),
        parameters: Parameters { tabs },
        property: prop.name.into(),
        kind: prop.kind,
        claim: prop.claim.into(),
        path: path.encode(),
        initial: snapshot(model, &init),
        steps: out,
    })
}

/// Parses `"init/a1/…"`.
pub fn decode_path(s: &str) -> Option<IndexPath> {
    let mut it = s.split('/').map(|x| x.parse::<usize>().ok());
    let init = it.next()??;
    let actions = it.collect::<Option<Vec<_>>>()?;
    Some(IndexPath { init, actions })
}

/// Checks that a trace replays on `model` to what it claims, and that its recorded steps are
/// the ones the replay produces. Returns the first step that differs.
pub fn validate(model: &RefreshModel, trace: &Trace) -> Result<(), String> {
    if trace.schema != SCHEMA {
        return Err(format!("field `schema`: found {:?}, expected {SCHEMA:?}", trace.schema));
    }
    let prop = properties::by_name(&trace.property)
        .ok_or_else(|| TraceError::UnknownProperty(trace.property.clone()).to_string())?;
    let path = decode_path(&trace.path)
        .ok_or_else(|| format!("field `path`: found {:?}, expected \"init/a1/a2/…\" of integers", trace.path))?;
    let rebuilt =
        build(model, &trace.model_file, &trace.model, trace.parameters.tabs, prop, &path).map_err(|e| e.to_string())?;
    if rebuilt.initial != trace.initial {
        return Err("field `initial` differs from the model's initial state".into());
    }
    if rebuilt.steps.len() != trace.steps.len() {
        return Err(format!("the trace has {} steps; its path replays to {}", trace.steps.len(), rebuilt.steps.len()));
    }
    for (a, b) in rebuilt.steps.iter().zip(&trace.steps) {
        if a != b {
            return Err(format!(
                "step {} differs from the replay: recorded {:?}, replayed {:?}",
                b.index, b.text, a.text
            ));
        }
    }
    Ok(())
}

/// Numbered steps for people.
pub fn render_text(t: &Trace) -> String {
    let mut s = String::new();
    for st in &t.steps {
        let _ = writeln!(s, "  {:>2}. {:<8} {}", st.index, st.actor, st.text);
    }
    s
}

/// A Mermaid `sequenceDiagram`: a lifeline per tab, the jar, the server and the store; one
/// arrow per delivered message; notes for tab events, jar writes and the violation.
pub fn render_mermaid(t: &Trace) -> String {
    let mut s = String::from("sequenceDiagram\n");
    let tabs: Vec<String> = t.initial.tabs.iter().map(|x| x.tab.clone()).collect();
    for tab in &tabs {
        let _ = writeln!(s, "    participant Tab{tab} as tab {tab}");
    }
    s.push_str("    participant Jar as cookie jar\n    participant Server as server\n    participant Store as store\n");
    let lane = |who: &str| -> String {
        match who {
            "server" => "Server".into(),
            "store" => "Store".into(),
            "clock" | "network" | "system" | "browser" => "Server".into(),
            w => w.strip_prefix("tab ").map(|l| format!("Tab{l}")).unwrap_or_else(|| "Server".into()),
        }
    };
    let mut jar = t.initial.jar.clone();
    for st in &t.steps {
        match &st.message {
            Some(m) if st.action != "NetworkLosesMessage" => {
                let arrow =
                    if m.to.starts_with("tab") || m.to == "server" && m.from == "store" { "-->>" } else { "->>" };
                let _ = writeln!(
                    s,
                    "    {}{}{}: {}. {}",
                    lane(&m.from),
                    arrow,
                    lane(&m.to),
                    st.index,
                    mermaid_escape(&m.text)
                );
            }
            _ => {
                let _ = writeln!(s, "    Note over {}: {}. {}", lane(&st.actor), st.index, mermaid_escape(&st.action));
            }
        }
        if st.state.jar != jar {
            jar = st.state.jar.clone();
            let _ = writeln!(s, "    Note over Jar: {}", mermaid_escape(jar.as_deref().unwrap_or("empty")));
        }
    }
    if let Some(last) = t.steps.last() {
        let verb = if t.kind == Kind::Always { "violated" } else { "reached" };
        let _ = writeln!(s, "    Note over {}: ✗ {} {verb}", lane(&last.actor), t.property);
    }
    s
}

fn mermaid_escape(text: &str) -> String {
    text.replace(';', ",").replace('#', "").replace('\n', " ")
}

/// The Markdown file written beside a trace: a heading, the claim, the diagram and the steps.
pub fn render_markdown(t: &Trace) -> String {
    format!(
        "# {} — `{}` {}\n\nModel file: `{}` ({} tabs). Claim: {}.\nShortest {} found: {} steps. Action-index path: `{}`.\n\n```mermaid\n{}```\n\n## Steps\n\n```text\n{}```\n",
        t.model,
        t.property,
        if t.kind == Kind::Always { "violated" } else { "reached" },
        t.model_file.display(),
        t.parameters.tabs,
        t.claim,
        if t.kind == Kind::Always { "counterexample" } else { "example" },
        t.steps.len(),
        t.path,
        render_mermaid(t),
        render_text(t)
    )
}

/// The trace file paths for a property of a model under `dir`: `(json, md)`.
pub fn file_names(dir: &Path, model: &str, property: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{model}.{property}.json")), dir.join(format!("{model}.{property}.md")))
}
