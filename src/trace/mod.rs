//! Counterexample traces: our own serde type, built by replaying an action-index path on the
//! model, re-checked, and rendered as numbered text steps and as a Mermaid
//! `sequenceDiagram`.
//!
//! A trace file (`traces/<model>.<property>.json`) holds the schema version, the model file
//! and the parameters it was checked with, the property, the action-index `path` (which
//! `trace validate` replays), and one entry per action: who acted, what happened, the message
//! delivered if any, and the global state after it.

use std::path::{Path, PathBuf};

mod describe;
pub mod diff;
mod render;
pub mod schema;

pub use describe::snapshot;
pub(crate) use describe::{answer_status, decision_phrase, printable_statuses};
pub use render::{
    actor_width, jar_lifelines, jar_value, lifeline_label, lifelines, render_markdown, render_mermaid,
    render_mermaid_changes, render_text, render_text_changes, Lifeline, LifelineKind, ENVIRONMENT, JAR,
};
pub use schema::SchemaViolation;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::RefreshModel;
use crate::properties::{self, Kind, PropertySpec};
use crate::search::{self, IndexPath};
use describe::describe;

/// The trace format's version. A reader rejects any other.
pub const SCHEMA: &str = "refresh-check/trace/v1";

/// A message in flight or delivered, with actor names.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct MessageView {
    /// Sender, e.g. `"tab A"`, `"server"`.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// The message in the protocol's words, e.g. `"POST /auth/refresh (cookie session=1)"`.
    pub text: String,
}

/// The global state after a step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Snapshot {
    /// The server's clock, in ticks.
    pub now: u8,
    /// Each tab, in order A, B, …: its status and remaining budget.
    pub tabs: Vec<TabView>,
    /// The cookie jar's session cookie, e.g. `"session=2 exp=4"`, or `null`.
    pub jar: Option<String>,
    /// The rows of `directus_sessions`, e.g. `"token=2 expires=7"`; for an authorization
    /// server, its refresh-token rows, then its access-token rows where the model keeps access
    /// tokens, e.g. `"access token=2 refresh token=2 iat=1 exp=5 revoked"`.
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct TabView {
    /// `"A"`, `"B"`, …
    pub tab: String,
    /// `"idle"`, `"refreshing (sent session=1)"` (session mode; `"refreshing (sent refresh token=1)"` in json and cookie mode), `"requesting"`, `"logged out"`.
    pub status: String,
    /// Refreshes left: a count.
    pub refreshes_left: u8,
    /// Ordinary requests left: a count.
    pub requests_left: u8,
}

/// One action of a trace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Step {
    /// The step's position, 1-based.
    #[schemars(range(min = 1))]
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Parameters {
    /// Tabs.
    pub tabs: u8,
}

/// A counterexample (or example) trace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Trace {
    /// The trace format's version, `"refresh-check/trace/v1"` ([`SCHEMA`]).
    #[schemars(extend("const" = SCHEMA))]
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
    #[schemars(with = "KindName")]
    pub kind: Kind,
    /// The property's claim.
    pub claim: String,
    /// The action-index path, `"init/a1/a2/…"`: the initial state's index, then each action's
    /// index among the actions enabled before it (stateright's `Path::encode`).
    #[schemars(regex(pattern = r"^[0-9]+(/[0-9]+)*$"))]
    pub path: String,
    /// The state before the first action.
    pub initial: Snapshot,
    /// One entry per action.
    pub steps: Vec<Step>,
    /// The word the trace's text uses for a client (`browser.client_word`), e.g. `"process"`;
    /// absent for the default, `"tab"` ([`Trace::client_word`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_word: Option<String>,
}

impl Trace {
    /// The word the trace's text uses for a client: `"tab"` unless the model names another.
    pub fn client_word(&self) -> &str {
        self.client_word.as_deref().unwrap_or(crate::model::client_word::TAB)
    }
}

/// The kind of property: `always` (an invariant) or `sometimes` (reachability). (The JSON form
/// of [`Kind`], for the schema; [`Kind`] lives with the property catalogue.)
#[derive(JsonSchema)]
#[schemars(rename = "Kind")]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // only its schema is used
enum KindName {
    /// An invariant: the trace is a counterexample, its last state violates the property.
    Always,
    /// Reachability: the trace is an example, its last state satisfies the property.
    Sometimes,
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

/// Why a trace file could not be read as a trace.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum TraceFileError {
    /// The file could not be read.
    #[error("{path}: cannot read the trace file: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The file is a trace of another format version (or none): its fields are not read.
    #[error(
        "{path}: field `schema`: found {found}, expected {SCHEMA:?} (a trace file of this version of refresh-check)"
    )]
    Schema { path: PathBuf, found: String },
    /// The file is not valid JSON, or a field has the wrong type or name.
    #[error("{path}:{line}:{column}: field `{field}`: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, field: String, message: String },
    /// The file is JSON of this version but breaks the trace schema (`docs/trace.schema.json`):
    /// the first violation is named; `count` says how many there are.
    #[error("{path}: field `{}`: {} (trace schema {SCHEMA}; {count} violation(s) in all)", first.field, first.message)]
    Invalid { path: PathBuf, first: SchemaViolation, count: usize },
}

/// Reads a trace file ([`parse`]).
pub fn load(path: &Path) -> Result<Trace, TraceFileError> {
    let text = crate::input::read_text(path).map_err(|source| TraceFileError::Read { path: path.into(), source })?;
    parse(path, &text)
}

/// Parses trace-file text; `path` is used in errors. The `schema` field is read first, so a
/// file of another format version is named as such rather than by its first unknown field.
pub fn parse(path: &Path, text: &str) -> Result<Trace, TraceFileError> {
    let parse_error = |e: crate::jsonfile::JsonError| TraceFileError::Parse {
        path: path.into(),
        line: e.line,
        column: e.column,
        field: e.field,
        message: e.message,
    };
    let value: serde_json::Value = crate::jsonfile::from_str(text).map_err(parse_error)?;
    match value.get("schema") {
        Some(serde_json::Value::String(s)) if s == SCHEMA => {}
        Some(other) => return Err(TraceFileError::Schema { path: path.into(), found: other.to_string() }),
        None => return Err(TraceFileError::Schema { path: path.into(), found: "no `schema` field".into() }),
    }
    let violations = schema::check(&value);
    if let Some(first) = violations.first() {
        return Err(TraceFileError::Invalid { path: path.into(), first: first.clone(), count: violations.len() });
    }
    crate::jsonfile::from_str(text).map_err(parse_error)
}

/// Letter of tab `t`: A, B, C, …
pub fn tab_letter(t: u8) -> char {
    (b'A' + t) as char
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
    build_named(model, model_file, name, tabs, (prop.name, prop.kind, prop.claim), path)
}

/// Describes one transition as a trace step shows it: actor, action name, sentence, and the
/// message delivered, if any.
pub fn describe_step(
    model: &RefreshModel,
    before: &crate::model::State,
    action: &crate::model::Action,
    after: &crate::model::State,
) -> (String, String, String, Option<MessageView>) {
    describe(model, before, action, after)
}

/// Whether a trace's `property` names a scenario query or a user-defined invariant
/// (`query:NAME`, `invariant:NAME`, [`crate::query`]), or a path saved from the Explorer
/// (`explored:path`), rather than a property of the catalogue.
pub fn is_query(property: &str) -> bool {
    property.starts_with("query:") || property.starts_with("invariant:") || property == "explored:path"
}

/// Replays `path` and builds its trace for `(property, kind, claim)` without re-checking a
/// condition (the caller did: scenario queries and user-defined invariants).
pub fn build_named(
    model: &RefreshModel,
    model_file: &Path,
    name: &str,
    tabs: u8,
    (property, kind, claim): (&str, Kind, &str),
    path: &IndexPath,
) -> Result<Trace, TraceError> {
    let (init, steps) = search::replay(model, path).map_err(TraceError::DoesNotReplay)?;
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
        property: property.into(),
        kind,
        claim: model.cfg.client_word.reword(claim).into_owned(),
        path: path.encode(),
        initial: snapshot(model, &init),
        steps: out,
        client_word: Some(model.cfg.client_word.word().to_string()).filter(|_| !model.cfg.client_word.is_tab()),
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
    let path = decode_path(&trace.path)
        .ok_or_else(|| format!("field `path`: found {:?}, expected \"init/a1/a2/…\" of integers", trace.path))?;
    let rebuilt = if is_query(&trace.property) {
        // A query's condition lives in the model file or a query file: the steps are checked.
        let named = (trace.property.as_str(), trace.kind, trace.claim.as_str());
        build_named(model, &trace.model_file, &trace.model, trace.parameters.tabs, named, &path)
    } else {
        let prop = properties::by_name(&trace.property)
            .ok_or_else(|| TraceError::UnknownProperty(trace.property.clone()).to_string())?;
        if trace.kind != prop.kind || trace.claim != model.cfg.client_word.reword(prop.claim) {
            return Err(format!(
                "fields `kind` and `claim`: found {:?} {:?}, expected {:?} {:?} for property `{}`",
                trace.kind, trace.claim, prop.kind, prop.claim, prop.name
            ));
        }
        build(model, &trace.model_file, &trace.model, trace.parameters.tabs, prop, &path)
    }
    .map_err(|e| e.to_string())?;
    if rebuilt.initial != trace.initial {
        return Err("field `initial` differs from the model's initial state".into());
    }
    for (k, (replayed, recorded)) in rebuilt.steps.iter().zip(&trace.steps).enumerate() {
        if replayed != recorded {
            let differs = step_fields_differing(replayed, recorded);
            let (at, was, is) = first_difference(
                &serde_json::to_value(recorded).unwrap_or_default(),
                &serde_json::to_value(replayed).unwrap_or_default(),
                format!("steps[{k}]"),
            )
            .unwrap_or_else(|| (format!("steps[{k}]"), recorded.text.clone().into(), replayed.text.clone().into()));
            return Err(format!(
                "step {} differs from the replay in {} (`steps[{k}]`): at `{at}`: recorded {was}, replayed {is}",
                k + 1,
                differs.join(", "),
            ));
        }
    }
    if rebuilt.steps.len() != trace.steps.len() {
        return Err(format!(
            "the trace has {} steps; its path replays to {} (step {} is the first one missing or extra)",
            trace.steps.len(),
            rebuilt.steps.len(),
            rebuilt.steps.len().min(trace.steps.len()) + 1
        ));
    }
    Ok(())
}

/// The first place where two JSON values differ: its field path (`steps[3].state.store[0]`),
/// the value in `a` and the value in `b` (`null` where one has no such field).
fn first_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
    at: String,
) -> Option<(String, serde_json::Value, serde_json::Value)> {
    use serde_json::Value;
    match (a, b) {
        _ if a == b => None,
        (Value::Object(x), Value::Object(y)) => {
            let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
            keys.into_iter().find_map(|key| {
                let (u, v) = (x.get(key).unwrap_or(&Value::Null), y.get(key).unwrap_or(&Value::Null));
                first_difference(u, v, format!("{at}.{key}"))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (u, v))| first_difference(u, v, format!("{at}[{i}]")))
        }
        _ => Some((at, a.clone(), b.clone())),
    }
}

/// Where a trace's `model_file` is: as written if it is absolute; else the first of the
/// trace's folder and its ancestors (the repository whose `traces/` holds the trace) under
/// which it names a file, and else as written, relative to the working folder. A trace written
/// by `check` in a repository's root therefore validates from any working folder.
pub fn resolve_model_file(trace_file: &Path, model_file: &Path) -> PathBuf {
    if model_file.is_absolute() {
        return model_file.into();
    }
    let folder = trace_file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let folder = std::path::absolute(folder).unwrap_or_else(|_| folder.into());
    folder
        .ancestors()
        .map(|a| a.join(model_file))
        .find(|candidate| candidate.is_file())
        .map(|found| crate::suite::tidy(&found))
        .unwrap_or_else(|| model_file.into())
}

/// The names of the fields in which two steps differ.
fn step_fields_differing(a: &Step, b: &Step) -> Vec<&'static str> {
    let mut out = Vec::new();
    if a.index != b.index {
        out.push("`index`");
    }
    if a.actor != b.actor {
        out.push("`actor`");
    }
    if a.action != b.action {
        out.push("`action`");
    }
    if a.text != b.text {
        out.push("`text`");
    }
    if a.message != b.message {
        out.push("`message`");
    }
    if a.state != b.state {
        out.push("`state`");
    }
    out
}

/// The trace file paths for a property of a model under `dir`: `(json, md)`.
pub fn file_names(dir: &Path, model: &str, property: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{model}.{property}.json")), dir.join(format!("{model}.{property}.md")))
}

/// The trace file paths of the `k`-th counterexample (`k` ≥ 2) of a property under `dir`
/// (`check --counterexamples`): `<model>.<property>.<k>.json` and `.md`. The first is
/// [`file_names`].
pub fn numbered_file_names(dir: &Path, model: &str, property: &str, k: usize) -> (PathBuf, PathBuf) {
    (dir.join(format!("{model}.{property}.{k}.json")), dir.join(format!("{model}.{property}.{k}.md")))
}

/// The mechanism of a path, which tells counterexamples apart (`check --counterexamples`): two
/// counterexamples differ iff their mechanisms differ. Sorted, without repetitions.
///
/// - With an authorization server (a model with a `protocol`): the set of protocol decisions
///   made along the path ([`crate::model::interpret::decision_of`]): for each refresh step the
///   server runs, the rule that held, written `RULE` for a one-step handler and `RULE [STEP]`
///   for a handler with several steps; `no rule holds [STEP]` / `no such token [STEP]` when
///   the request was answered 401 for want of a rule; `lock held, waits` when a refresh waited
///   for its family's lock; for each ordinary call the server serves, the `request` handler's
///   rule that held, written `RULE [request]` (`no rule holds [request]`, or `no such access
///   token [request]` when the store has no row for the access token presented). Sign-outs,
///   client reactions and the order of the decisions are not part of it.
/// - Otherwise (the Directus models): the set of the steps' action names (`steps[].action` of
///   a trace: `TabSendsRefresh`, `StoreRunsSelect`, `ServerReceivesResult`, …).
///
/// `None` if the path does not replay.
pub fn mechanism(model: &RefreshModel, path: &IndexPath) -> Option<Vec<String>> {
    use crate::model::interpret::{decision_of, Decision};
    use std::collections::BTreeSet;
    let (init, steps) = search::replay(model, path).ok()?;
    let protocol = match model.actors.get(model.cfg.server) {
        Some(crate::model::Node::AuthServer { protocol, .. }) => Some(protocol),
        _ => None,
    };
    let mut set = BTreeSet::new();
    let mut before = &init;
    for (action, after) in &steps {
        match protocol {
            Some(p) => {
                let several = p.refresh.steps.len() > 1;
                let label = |what: &str, step: usize| match several {
                    true => format!("{what} [{}]", p.refresh.steps[step].name),
                    false => what.to_string(),
                };
                match decision_of(model, before, action) {
                    Some(Decision::Rule { step, rule }) => {
                        set.insert(label(&p.refresh.steps[step].rules[rule].name, step));
                    }
                    Some(Decision::NoRule { step, no_row }) => {
                        set.insert(label(if no_row { "no such token" } else { "no rule holds" }, step));
                    }
                    Some(Decision::LockWaits) => {
                        set.insert("lock held, waits".to_string());
                    }
                    Some(Decision::Waits { step }) => {
                        set.insert(label("waits", step));
                    }
                    None => {
                        if let Some(d) = call_decision(model, p, before, action) {
                            set.insert(d);
                        }
                    }
                }
            }
            None => {
                set.insert(describe(model, before, action, after).1);
            }
        }
        before = after;
    }
    Some(set.into_iter().collect())
}

/// The `request` handler's decision when `action`, taken in `before`, delivers an ordinary call
/// to the authorization server (one node): `RULE [request]`, `no rule holds [request]` or `no
/// such access token [request]`; `None` for any other action.
fn call_decision(
    model: &RefreshModel,
    p: &crate::protocol::Protocol,
    before: &crate::model::State,
    action: &crate::model::Action,
) -> Option<String> {
    use stateright::actor::ActorModelAction;
    let ActorModelAction::Deliver { dst, msg: crate::model::Msg::CallRequest { access, .. }, .. } = action else {
        return None;
    };
    if usize::from(*dst) != model.cfg.server {
        return None;
    }
    let auth = crate::model::auth_server_at(before, model.cfg.server)?;
    let decided = match crate::model::interpret::call_rule(p, auth, *access) {
        Some(rule) => rule.name.clone(),
        None if access.and_then(|a| auth.access_row(a)).is_none() => "no such access token".into(),
        None => "no rule holds".into(),
    };
    Some(format!("{decided} [request]"))
}

/// A walk of up to `steps` actions from the model's first initial state, each action chosen
/// among the enabled ones that change the state by a pseudo-random generator seeded with
/// `seed` (xorshift64*; the same seed gives the same walk). It ends early where no action
/// changes the state. For long traces to test viewers and replays with (`trace walk`): a
/// search reports shortest paths, and a walk is not one.
pub fn walk<M: stateright::Model>(model: &M, steps: usize, seed: u64) -> IndexPath
where
    M::State: Clone + PartialEq,
    M::Action: Clone,
{
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut path = IndexPath { init: 0, actions: Vec::with_capacity(steps) };
    let Some(mut state) = model.init_states().into_iter().next() else { return path };
    let mut actions = Vec::new();
    for _ in 0..steps {
        actions.clear();
        model.actions(&state, &mut actions);
        let moves: Vec<(usize, M::State)> = actions
            .iter()
            .enumerate()
            .filter_map(|(k, a)| model.next_state(&state, a.clone()).filter(|s| *s != state).map(|s| (k, s)))
            .collect();
        if moves.is_empty() {
            break;
        }
        let (k, s) = moves[(next() % moves.len() as u64) as usize].clone();
        path.actions.push(k);
        state = s;
    }
    path
}
