//! Scenario queries and user-defined invariants (`docs/queries.md`).
//!
//! A **query** is a partial scenario: events that must happen in the given order with anything
//! in between (`events`), events that must not happen anywhere on the run (`never`), and a
//! condition on the state at the end (`end`, over the state view of [`view`]). The answer is
//! *reachable*, with the shortest run that matches, or *unreachable* (within the model's
//! bounds, after an exhaustive search), or *unknown* (a limit stopped the search).
//!
//! An **invariant** is a condition over the state view that must hold in every reachable
//! state (`always`); a counterexample is the shortest run to a state where it is false.
//!
//! Both are checked by the same breadth-first search ([`crate::search::search`]) on the
//! product of the model with a small automaton over the event sequence ([`Product`]): the
//! product's state is the model's state and the number of `events` matched so far (a ghost
//! progress counter, advanced greedily: the next expected event is matched as soon as a step
//! shows it, which finds a run whenever any run has the events as a subsequence); a step that
//! shows a `never` event is not taken. Breadth-first order makes the run found a shortest one:
//! sound (the trace is replayed on the model and re-checked) and shortest among the runs that
//! match. The product has the model's own actions, so the run's action-index path is a path of
//! the model and its trace file is an ordinary trace (`property` `query:NAME` or
//! `invariant:NAME`).

pub mod event;
pub mod view;

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use stateright::{Expectation, Model, Property};

use crate::model::client_word::ClientWord;
use crate::model::{self, RefreshModel, State};
use crate::properties::Kind;
use crate::search::{self, IndexPath, SearchConfig, Stop};
use crate::trace::{self, Trace};

/// One query or invariant as written in a model file's `queries` list or a query file.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    /// A name: letters, digits, `-` and `_` (used in trace file names,
    /// `<model>.query-<name>.json`).
    pub name: String,
    /// What the scenario is, in one sentence, and where it comes from.
    #[serde(default)]
    pub description: Option<String>,
    /// Events that must happen, in this order, with anything in between ([`event`]).
    #[serde(default)]
    pub events: Vec<String>,
    /// Events that must not happen anywhere on the run.
    #[serde(default)]
    pub never: Vec<String>,
    /// A condition on the last state ([`view`]); default `true`.
    #[serde(default)]
    pub end: Option<String>,
    /// An invariant in place of a scenario: a condition that must hold in every reachable state.
    #[serde(default)]
    pub always: Option<String>,
    /// The expected answer: `reachable` or `unreachable` (a query), `holds` or `violated` (an
    /// invariant). Without it, any answer is as expected.
    #[serde(default)]
    pub expect: Option<Answer>,
}

/// A query file (`check --query FILE`): a list of queries and invariants.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryFile {
    /// The queries, in order.
    pub queries: Vec<QuerySpec>,
}

/// The answer to a query or invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    /// A query: some run matches.
    Reachable,
    /// A query: no run within the model's bounds matches (the search was exhaustive).
    Unreachable,
    /// An invariant: it holds in every reachable state.
    Holds,
    /// An invariant: some reachable state breaks it.
    Violated,
    /// A limit stopped the search before an answer.
    Unknown,
}

impl Answer {
    /// The word reports print.
    pub fn word(self) -> &'static str {
        match self {
            Answer::Reachable => "reachable",
            Answer::Unreachable => "unreachable",
            Answer::Holds => "holds",
            Answer::Violated => "violated",
            Answer::Unknown => "unknown",
        }
    }
}

/// A query compiled: its events and conditions parsed.
#[derive(Clone)]
pub struct Query {
    /// The name.
    pub name: String,
    /// The one-line claim written into its trace (`claim`): the description, or the query's
    /// parts.
    pub claim: String,
    /// Events that must happen in order.
    pub events: Vec<event::Event>,
    /// Events that must not happen.
    pub never: Vec<event::Event>,
    /// The end condition (queries), or the invariant's condition.
    pub cond: Option<view::Expr>,
    /// The condition as written (empty without one), for errors.
    pub cond_text: String,
    /// Whether this is an invariant (`always`).
    pub invariant: bool,
    /// The expected answer, if written.
    pub expect: Option<Answer>,
    /// A property of the catalogue that must be violated at the end (the queries `compare`
    /// makes from a counterexample); `None` in written queries.
    pub violates: Option<&'static crate::properties::PropertySpec>,
    /// The run must end with the step that matches the last event (the queries `compare`
    /// makes: the end condition is judged right after the scenario's last step); false in
    /// written queries, whose run may go on after the last event.
    pub end_at_last_event: bool,
    /// The word a query file's query writes for the clients where it does not write `tab`
    /// (`process[A]`, `process A TabSendsRefresh`): a query file is read before any model, so
    /// the word is checked against each model's `browser.client_word` by [`check_names`].
    /// `None` for a model file's own queries (compiled in the model's word) and for a query
    /// that writes `tab` only.
    pub client_word: Option<ClientWord>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("name", &self.name)
            .field("claim", &self.claim)
            .field("events", &self.events)
            .field("never", &self.never)
            .field("cond", &self.cond)
            .field("invariant", &self.invariant)
            .field("expect", &self.expect)
            .field("violates", &self.violates.map(|p| p.name))
            .field("end_at_last_event", &self.end_at_last_event)
            .finish()
    }
}

/// Why a query does not compile: the field (`queries[2].events[0]`) and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    /// The field's JSON path, from the file's root.
    pub field: String,
    /// The text found.
    pub found: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field `{}`: {}; found {:?}", self.field, self.message, self.found)
    }
}

/// The most events a query may list (the progress counter is one byte).
pub const MAX_EVENTS: usize = 64;

impl Query {
    /// Compiles `spec`, the `index`-th of the list at `at` (`queries`).
    pub fn compile(spec: &QuerySpec, at: &str, index: usize) -> Result<Query, QueryError> {
        Query::compile_for(spec, at, index, &ClientWord::default())
    }

    /// [`Query::compile`] for a model whose clients are called `client` (`browser.client_word`):
    /// its events and conditions may write `client` where they would write `tab`
    /// (`process A TabSendsRefresh`, `process[A].status`).
    pub fn compile_for(spec: &QuerySpec, at: &str, index: usize, client: &ClientWord) -> Result<Query, QueryError> {
        Query::compile_in(spec, at, index, client)
            .map_err(|e| QueryError { message: client.reword_error(&e.message).into_owned(), ..e })
    }

    /// [`Query::compile_for`] with its errors in the checker's words (`tab`).
    fn compile_in(spec: &QuerySpec, at: &str, index: usize, client: &ClientWord) -> Result<Query, QueryError> {
        let here = format!("{at}[{index}]");
        let fail = |field: String, found: &str, message: String| QueryError { field, found: found.into(), message };
        let ok_name = !spec.name.is_empty()
            && spec.name.len() <= 64
            && spec.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok_name {
            return Err(fail(
                format!("{here}.name"),
                &spec.name,
                "a name of 1 to 64 letters, digits, `-` and `_`".into(),
            ));
        }
        let invariant = spec.always.is_some();
        if invariant && (!spec.events.is_empty() || !spec.never.is_empty() || spec.end.is_some()) {
            return Err(fail(
                format!("{here}.always"),
                spec.always.as_deref().unwrap_or(""),
                "an invariant (`always`) without `events`, `never` or `end`: write a scenario query or an invariant, not both".into(),
            ));
        }
        if let Some(e) = spec.expect {
            let fits = if invariant {
                matches!(e, Answer::Holds | Answer::Violated)
            } else {
                matches!(e, Answer::Reachable | Answer::Unreachable)
            };
            if !fits {
                let want = if invariant {
                    "`holds` or `violated` (an invariant)"
                } else {
                    "`reachable` or `unreachable` (a query)"
                };
                return Err(fail(format!("{here}.expect"), e.word(), format!("expected {want}")));
            }
        }
        if spec.events.len() > MAX_EVENTS {
            return Err(fail(
                format!("{here}.events"),
                &format!("{} events", spec.events.len()),
                format!("at most {MAX_EVENTS} events"),
            ));
        }
        let parse_events = |list: &[String], key: &str| -> Result<Vec<event::Event>, QueryError> {
            list.iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut ev = event::parse(&client.event_in_tab_words(t))
                        .map_err(|m| fail(format!("{here}.{key}[{i}]"), t, m))?;
                    ev.text.clone_from(t);
                    Ok(ev)
                })
                .collect()
        };
        let events = parse_events(&spec.events, "events")?;
        let never = parse_events(&spec.never, "never")?;
        let (key, text) = match (&spec.always, &spec.end) {
            (Some(a), _) => ("always", Some(a)),
            (None, e) => ("end", e.as_ref()),
        };
        let cond = match text {
            Some(t) => Some(
                view::parse_condition(&client.view_in_tab_words(t)).map_err(|m| fail(format!("{here}.{key}"), t, m))?,
            ),
            None => None,
        };
        if !invariant && events.is_empty() && cond.is_none() {
            return Err(fail(
                here,
                &spec.name,
                "a query with `events`, an `end` condition or both (or an invariant with `always`)".into(),
            ));
        }
        let claim = match &spec.description {
            Some(d) => d.clone(),
            None if invariant => format!("always {}", spec.always.as_deref().unwrap_or("")),
            None => {
                let mut parts = vec![];
                if !spec.events.is_empty() {
                    parts.push(format!("events in order: {}", spec.events.join("; ")));
                }
                if !spec.never.is_empty() {
                    parts.push(format!("never: {}", spec.never.join("; ")));
                }
                if let Some(e) = &spec.end {
                    parts.push(format!("at the end: {e}"));
                }
                parts.join("; ")
            }
        };
        Ok(Query {
            name: spec.name.clone(),
            claim,
            events,
            never,
            cond,
            cond_text: text.cloned().unwrap_or_default(),
            invariant,
            expect: spec.expect,
            violates: None,
            end_at_last_event: false,
            client_word: None,
        })
    }

    /// The trace's `property`: `query:NAME` or `invariant:NAME`.
    pub fn property(&self) -> String {
        format!("{}:{}", if self.invariant { "invariant" } else { "query" }, self.name)
    }

    /// The trace's kind: `sometimes` (a query's example) or `always` (an invariant's
    /// counterexample).
    pub fn kind(&self) -> Kind {
        if self.invariant {
            Kind::Always
        } else {
            Kind::Sometimes
        }
    }

    /// Whether a run ending in `s`, having matched `progress` events, answers the query.
    fn accepts(&self, m: &RefreshModel, s: &State, progress: u16) -> bool {
        usize::from(progress) == self.events.len()
            && self.cond.as_ref().is_none_or(|c| view::holds(c, m, s))
            && self.violates.is_none_or(|p| !(p.condition)(m, s))
    }
}

/// Compiles a list of query specs found at `at` (`queries`).
pub fn compile_all(specs: &[QuerySpec], at: &str) -> Result<Vec<Query>, QueryError> {
    compile_all_for(specs, at, &ClientWord::default())
}

/// [`compile_all`] for a model whose clients are called `client` ([`Query::compile_for`]).
pub fn compile_all_for(specs: &[QuerySpec], at: &str, client: &ClientWord) -> Result<Vec<Query>, QueryError> {
    let mut names = std::collections::BTreeSet::new();
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if !names.insert(s.name.as_str()) {
                return Err(QueryError {
                    field: format!("{at}[{i}].name"),
                    found: s.name.clone(),
                    message: "a name used by no other query of the list".into(),
                });
            }
            Query::compile_for(s, at, i, client)
        })
        .collect()
}

/// Checks that the events of `queries` (compiled in order from the list at `at`, `queries`)
/// name only actions, rules and steps that model `m` can show, and that their conditions
/// (`end`, `always`) name only tabs and devices `m` has ([`view::check_reads`]): a misspelt
/// name or a tab the model lacks would otherwise be answered as if it were there. With
/// `shared` (a query file answered on several model files) the actors an event names that a
/// model may lack (tabs, requesters, pages, nodes, a store, an attacker) are not checked
/// ([`event::Vocabulary::shared`]: such an event never happens, and the query is answered
/// `unreachable` on that model); a condition's tabs and devices are checked all the same (a
/// tab the model lacks would read `idle`, and an invariant would hold for nothing). The error
/// names the event's or condition's field (`queries[0].events[1]`, `queries[0].end`).
pub fn check_names(queries: &[Query], at: &str, m: &RefreshModel, shared: bool) -> Result<(), QueryError> {
    let vocab = event::Vocabulary { shared, ..event::Vocabulary::of(m) };
    let word = &m.cfg.client_word;
    for (i, q) in queries.iter().enumerate() {
        if let Some(w) = q.client_word.as_ref().filter(|w| *w != word) {
            return Err(other_client_word(q, &format!("{at}[{i}]"), w, word));
        }
        for (key, list) in [("events", &q.events), ("never", &q.never)] {
            for (j, e) in list.iter().enumerate() {
                vocab.check(e).map_err(|message| QueryError {
                    field: format!("{at}[{i}].{key}[{j}]"),
                    found: e.text.clone(),
                    message: word.reword_error(&message).into_owned(),
                })?;
            }
        }
        if let Some(c) = &q.cond {
            view::check_reads(c, m).map_err(|message| QueryError {
                field: format!("{at}[{i}].{}", if q.invariant { "always" } else { "end" }),
                found: q.cond_text.clone(),
                message: word.reword_error(&message).into_owned(),
            })?;
        }
    }
    Ok(())
}

/// The refusal of query `q` (at `here`, `queries[0]`) of a query file, written with the client
/// word `used`, on a model whose clients are called `model`: the first field that writes it.
fn other_client_word(q: &Query, here: &str, used: &ClientWord, model: &ClientWord) -> QueryError {
    let writes = |t: &str| t.split(|c: char| !c.is_ascii_alphabetic()).any(|x| x == used.word());
    let events = q.events.iter().map(|e| ("events", e)).chain(q.never.iter().map(|e| ("never", e)));
    let (field, found) = match events.enumerate().find(|(_, (_, e))| writes(&e.text)) {
        _ if writes(&q.cond_text) => {
            (format!("{here}.{}", if q.invariant { "always" } else { "end" }), q.cond_text.clone())
        }
        Some((_, (key, e))) => {
            let list = if key == "events" { &q.events } else { &q.never };
            let j = list.iter().position(|x| std::ptr::eq(x, e)).unwrap_or(0);
            (format!("{here}.{key}[{j}]"), e.text.clone())
        }
        None => (here.to_string(), q.name.clone()),
    };
    let expected = if model.is_tab() {
        "`tab`, the model's word for its clients (it has no `browser.client_word`)".to_string()
    } else {
        format!("`{}` (the model's `browser.client_word`) or `tab`", model.word())
    };
    QueryError { field, found, message: format!("the clients are called `{}` here, expected {expected}", used.word()) }
}

/// `error` in the file at `path` as `FILE:LINE:COLUMN: field `…`: …` (where its field
/// stands; `FILE: …` if the file cannot be read again or the field is not found).
pub fn located(path: &Path, error: &QueryError) -> String {
    let text = crate::input::read_text(path).unwrap_or_default();
    located_in(path, &text, error)
}

/// `error` in the text `text` read from `path` (a query file read once, perhaps from a pipe),
/// as [`located`] writes it.
pub fn located_in(path: &Path, text: &str, error: &QueryError) -> String {
    format!("{}{}: {error}", path.display(), crate::scenario::location_of(text, &error.field))
}

/// Reads a query file (`check --query FILE`): `{"queries": [...]}`. Errors name the file, the
/// line and the field. FILE may be a pipe (`/dev/stdin`, a FIFO, a shell's `<(…)`), read once
/// up to [`crate::input::MAX_INPUT_BYTES`] ([`crate::input::read_text_or_pipe`]).
pub fn load_file(path: &Path) -> Result<Vec<Query>, String> {
    load_file_text(path).map(|(queries, _)| queries)
}

/// [`load_file`], also returning the text read (to locate later errors without reading a pipe
/// again).
pub fn load_file_text(path: &Path) -> Result<(Vec<Query>, String), String> {
    let text = crate::input::read_text_or_pipe(path, crate::input::MAX_INPUT_BYTES)
        .map_err(|e| format!("{}: cannot read the query file: {e}", path.display()))?;
    let queries = parse_file(path, &text)?;
    Ok((queries, text))
}

fn parse_file(path: &Path, text: &str) -> Result<Vec<Query>, String> {
    let file: QueryFile = crate::jsonfile::from_str_no_null(text).map_err(|e| {
        // serde's words for a value of the wrong kind, in the query file's terms.
        let message = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|doc| {
                let schema = serde_json::to_value(schemars::schema_for!(QueryFile)).ok()?;
                crate::shape::reworded(&schema, &doc, &e.field, &e.message)
            })
            .unwrap_or(e.message);
        format!("{}:{}:{}: field `{}`: {message}", path.display(), e.line, e.column, e.field)
    })?;
    compile_file_queries(&file.queries)
        .map_err(|e| format!("{}{}: {e}", path.display(), crate::scenario::location_of(text, &e.field)))
}

/// Compiles a query file's queries, read before any model: a query that writes a word of its
/// own for the clients (`process[A]`, `process A TabSendsRefresh`) where it would write `tab`
/// is compiled in that word ([`client_word_written`]), which [`check_names`] then checks
/// against each model's `browser.client_word`.
fn compile_file_queries(specs: &[QuerySpec]) -> Result<Vec<Query>, QueryError> {
    let mut names = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        if !names.insert(spec.name.as_str()) {
            return Err(QueryError {
                field: format!("queries[{i}].name"),
                found: spec.name.clone(),
                message: "a name used by no other query of the list".into(),
            });
        }
        let q = match (Query::compile(spec, "queries", i), client_word_written(spec)) {
            (Ok(q), _) => q,
            (Err(e), None) => return Err(e),
            // Refused in the checker's word: in the query's own, or refused in that word.
            (Err(_), Some(w)) => {
                Query::compile_for(spec, "queries", i, &w).map(|q| Query { client_word: Some(w), ..q })?
            }
        };
        out.push(q);
    }
    Ok(out)
}

/// The word a query writes for the clients, if not `tab`: a lowercase word that is a valid
/// client word ([`ClientWord::new`]) and stands before `[` in its condition (`process[A]`),
/// first in one of its events (`process A …`), or in its plural before `.` or `[` in its
/// condition (`processes.logged_out`, the count over every client; `processes[A]`, refused
/// later as the plural for one client), and is none of the query language's names.
fn client_word_written(spec: &QuerySpec) -> Option<ClientWord> {
    let cond = spec.always.as_deref().or(spec.end.as_deref()).unwrap_or("");
    // The lowercase word standing alone just before each `mark` of the condition.
    let before = |mark: char| {
        cond.match_indices(mark).filter_map(move |(at, _)| {
            let head = &cond[..at];
            let start = head.rfind(|c: char| !c.is_ascii_lowercase()).map_or(0, |i| i + 1);
            let alone =
                head[..start].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
            alone.then(|| head[start..].to_string())
        })
    };
    let first_words = spec.events.iter().chain(&spec.never).filter_map(|e| e.split_whitespace().next());
    let singulars = before('.').filter_map(|w| singular_of(&w));
    // `processes[A]` is the plural written for one client: the word is `process` (the
    // condition is then refused at its own field, naming `process[A]`).
    let indexed = before('[').map(|w| singular_of(&w).filter(|s| ClientWord::new(s).is_ok()).unwrap_or(w));
    indexed
        .chain(first_words.map(str::to_string))
        .chain(singulars)
        .filter(|w| {
            !["tab", "access", "token", "server", "store", "clock", "attacker", "network", "node"].contains(&w.as_str())
        })
        .find_map(|w| ClientWord::new(&w).ok())
}

/// The word whose English plural ([`crate::model::client_word::plural`]) is `w`
/// (`processes` → `process`, `proxies` → `proxy`, `apps` → `app`), if any.
fn singular_of(w: &str) -> Option<String> {
    let candidates = [
        w.strip_suffix("ies").map(|s| format!("{s}y")),
        w.strip_suffix("es").map(str::to_string),
        w.strip_suffix('s').map(str::to_string),
    ];
    candidates.into_iter().flatten().find(|s| !s.is_empty() && crate::model::client_word::plural(s) == w)
}

/// The model searched for a query: the model's states paired with the number of `events`
/// matched so far. It has the model's actions (in the same order), so its paths are the
/// model's paths.
pub struct Product<'a> {
    /// The model.
    pub model: &'a RefreshModel,
    /// The query.
    pub query: &'a Query,
}

impl Model for Product<'_> {
    type State = (State, u16);
    type Action = model::Action;

    fn init_states(&self) -> Vec<Self::State> {
        self.model.init_states().into_iter().map(|s| (s, 0)).collect()
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        self.model.actions(&state.0, actions)
    }

    fn next_state(&self, last: &Self::State, action: Self::Action) -> Option<Self::State> {
        let q = self.query;
        let (before, progress) = last;
        let next = self.model.next_state(before, action.clone())?;
        if q.events.is_empty() && q.never.is_empty() {
            return Some((next, 0));
        }
        let shown = event::shown(self.model, before, &action, &next);
        if q.never.iter().any(|e| e.matches(&shown)) {
            return None;
        }
        let p = usize::from(*progress);
        let advanced = p < q.events.len() && q.events[p].matches(&shown);
        // With `end_at_last_event`, a step after the last event moves the counter past the
        // end (`events + 1`): the run no longer ends with the scenario's last step.
        let past = q.end_at_last_event && !advanced && p == q.events.len() && p > 0;
        Some((next, progress + u16::from(advanced || past)))
    }

    fn within_boundary(&self, state: &Self::State) -> bool {
        self.model.within_boundary(&state.0)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        if self.query.invariant {
            vec![Property {
                expectation: Expectation::Always,
                name: "invariant",
                condition: |p: &Self, s: &Self::State| {
                    p.query.cond.as_ref().is_none_or(|c| view::holds(c, p.model, &s.0))
                },
            }]
        } else {
            vec![Property {
                expectation: Expectation::Sometimes,
                name: "query",
                condition: |p: &Self, s: &Self::State| p.query.accepts(p.model, &s.0, s.1),
            }]
        }
    }
}

/// What a query's search found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The query's name.
    pub name: String,
    /// The answer.
    pub answer: Answer,
    /// The shortest matching run (a query) or counterexample (an invariant), if any.
    pub path: Option<IndexPath>,
    /// Its trace.
    pub trace: Option<Trace>,
    /// Distinct states of the product searched: a count.
    pub unique_states: u64,
    /// Why the search stopped early, if it did.
    pub stopped: Option<Stop>,
    /// The expected answer, if written.
    pub expect: Option<Answer>,
    /// Whether the query is an invariant (`always`).
    pub invariant: bool,
    /// The query's one-line claim ([`Query::claim`]).
    pub claim: String,
    /// The `status` codes its `events` and `never` patterns name that no answer of the kind
    /// the pattern names can print in this model's wording ([`unprinted_statuses`]), sorted,
    /// without repeats: such a pattern matches no step, so an unreachable answer to a query
    /// naming one comes with a hint to check the status on a trace. A status the model can
    /// print is not among them, whatever else kept the query from matching (a text filter, a
    /// refusal that no longer happens).
    pub unprinted: Vec<u16>,
}

impl Outcome {
    /// Whether the answer is the expected one (true without an expectation, unless unknown).
    pub fn as_expected(&self) -> bool {
        self.answer != Answer::Unknown && self.expect.is_none_or(|e| e == self.answer)
    }
}

/// Answers `query` on `model` (built from the model file at `model_file`, named `name`, with
/// `tabs` tabs) with a breadth-first search within the limits of `cfg` (its strategy and
/// symmetry are ignored: the search is breadth-first, without symmetry reduction, since events
/// name tabs). The run found is replayed on the model and re-checked before its trace is built.
pub fn answer(
    model: &RefreshModel,
    model_file: &Path,
    name: &str,
    tabs: u8,
    query: &Query,
    cfg: &SearchConfig<State>,
) -> Outcome {
    let product = Product { model, query };
    let pcfg = SearchConfig::<(State, u16)> {
        strategy: search::Strategy::Bfs,
        max_depth: cfg.max_depth,
        max_states: cfg.max_states,
        deadline: cfg.deadline,
        cancel: cfg.cancel.clone(),
        max_memory: cfg.max_memory,
        symmetry: None,
        progress: cfg.progress.clone(),
        threads: cfg.threads,
        partition: None,
    };
    let out = search::search(&product, &pcfg);
    let path = out.discoveries.into_iter().next().flatten();
    let answer = match (&path, query.invariant, out.exhaustive) {
        (Some(_), false, _) => Answer::Reachable,
        (Some(_), true, _) => Answer::Violated,
        (None, false, true) => Answer::Unreachable,
        (None, true, true) => Answer::Holds,
        (None, _, false) => Answer::Unknown,
    };
    let trace = path.as_ref().map(|p| {
        let t = replay_checked(model, query, p);
        debug_assert!(t.is_ok(), "a query's run re-checks: {t:?}");
        t.and_then(|()| {
            trace::build_named(model, model_file, name, tabs, (&query.property(), query.kind(), &query.claim), p)
                .map_err(|e| e.to_string())
        })
    });
    let trace = trace.and_then(Result::ok);
    Outcome {
        name: query.name.clone(),
        answer,
        path,
        trace,
        unique_states: out.unique_states,
        stopped: out.stopped,
        expect: query.expect,
        invariant: query.invariant,
        claim: query.claim.clone(),
        unprinted: unprinted_statuses(model, query),
    }
}

/// The `status` codes `query`'s events and `never` patterns name that the answers their
/// actions deliver cannot print in `model`'s wording ([`trace::printable_statuses`]): a
/// refresh's or a sign-out's answer prints the refresh's statuses, a request's or a call's the
/// call's, `*` either; a sign-in's or a follow-up's answer prints none. Sorted, without repeats.
pub fn unprinted_statuses(model: &RefreshModel, query: &Query) -> Vec<u16> {
    let refresh = trace::printable_statuses(model, false);
    let call = trace::printable_statuses(model, true);
    let mut v: Vec<u16> = query
        .events
        .iter()
        .chain(&query.never)
        .filter_map(|e| {
            let c = e.status?;
            let printable = match e.action.as_deref() {
                None => refresh.contains(&c) || call.contains(&c),
                Some("TabReceivesRefreshResponse" | "TabReceivesLogoutResponse" | "AttackerReceivesResponse") => {
                    refresh.contains(&c)
                }
                Some("TabReceivesCallResponse" | "TabReceivesResponse" | "AttackerReceivesCallResponse") => {
                    call.contains(&c)
                }
                Some(_) => false,
            };
            (!printable).then_some(c)
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Replays `path` on the model and checks that it answers `query`: the events in order, no
/// `never` event, the end condition (a query) or the condition false at the end (an invariant).
pub fn replay_checked(model: &RefreshModel, query: &Query, path: &IndexPath) -> Result<(), String> {
    let product = Product { model, query };
    let (init, steps) = search::replay(&product, path).map_err(|k| format!("the run does not replay at step {k}"))?;
    let last = steps.last().map(|(_, s)| s).unwrap_or(&init);
    let cond = query.cond.as_ref().is_none_or(|c| view::holds(c, model, &last.0));
    let ok = if query.invariant { !cond } else { query.accepts(model, &last.0, last.1) };
    if ok {
        Ok(())
    } else {
        Err(format!("the run does not answer `{}`", query.name))
    }
}

/// The trace files of query `query` of model `model_name` in `dir`:
/// `<model>.query-<name>.json` and `.md` (`invariant-<name>` for an invariant).
pub fn file_names(dir: &Path, model_name: &str, query: &Query) -> (std::path::PathBuf, std::path::PathBuf) {
    let kind = if query.invariant { "invariant" } else { "query" };
    trace::file_names(dir, model_name, &format!("{kind}-{}", query.name))
}

/// The query that asks whether the run of trace `t` can happen on another model: the steps'
/// actors and action names as events, in order (with anything in between), and, with
/// `violates`, that property violated right after the last of them. Steps of the clock and the network (ticks,
/// losses) are kept: they are part of the scenario. Rule names are not: a fix may rename or
/// replace the rules that decided. A trace of a model with a `browser.client_word` names its
/// clients in that word (`process A`): each event's actor is matched in the checker's words
/// (`tab A`, [`ClientWord::actor_in_tab_words`]) and its text keeps the trace's word.
pub fn from_trace(t: &Trace, name: &str, violates: Option<&'static crate::properties::PropertySpec>) -> Query {
    let word = t.client_word.as_deref().and_then(|w| ClientWord::new(w).ok()).unwrap_or_default();
    let events = t
        .steps
        .iter()
        .map(|s| event::Event {
            text: format!("{} {}", event::actor_words(&s.actor), s.action),
            actor: Some(word.actor_in_tab_words(&s.actor).into_owned()),
            action: Some(s.action.clone()),
            rule: None,
            step: None,
            status: None,
            contains: None,
            place: None,
        })
        .collect();
    Query {
        name: name.into(),
        claim: format!("the steps of {}'s trace for {}, in order", t.model, t.property),
        events,
        never: vec![],
        cond: None,
        cond_text: String::new(),
        invariant: false,
        expect: None,
        violates,
        end_at_last_event: true,
        client_word: None,
    }
}
