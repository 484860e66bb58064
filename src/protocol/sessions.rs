//! The protocol language for a server that keeps sessions in a database table and talks to
//! it one statement at a time (Directus's `directus_sessions`, an express-session store, any
//! cookie-session server): the `session_server` section of a model file.
//!
//! The table has one row per session token: `token` (the primary key), `expires` (a tick; a
//! lookup finds only unexpired rows), `next` (a successor token or none) and `mode` (the auth
//! mode the row was written for). A handler is a list of named **steps**; a step is a list of
//! **rules**, and the first rule whose `when` holds decides. A rule either answers (`reply`),
//! or sends one **statement** to the store (`run`) and waits for its result, which the rules of
//! its `next` step read (`row`, `row.next`, `affected`, `collided`), or goes on at once to its
//! `next` step. Each statement is one round trip (two deliveries: the statement, its result),
//! so any other request's statement may run between two statements of one handler, unless the
//! store runs a whole handler as one transaction.
//!
//! ```json
//! "session_server": {
//!   "store": { "concurrency": "pool" },
//!   "refresh": { "steps": [
//!     { "name": "R1", "rules": [
//!         { "name": "no token", "when": "presented == none", "reply": "invalid_payload" },
//!         { "name": "select", "run": "select presented" } ] },
//!     { "name": "W1", "rules": [
//!         { "name": "no session", "when": "row == none", "reply": "invalid_credentials" },
//!         { "name": "rename", "keep": "fresh",
//!           "run": "rename presented to fresh expires now + refresh_token_ttl" } ] },
//!     { "name": "answer", "rules": [ { "name": "ok", "reply": "ok issued" } ] } ] },
//!   "sign_out": { "steps": [ … ] }, "request": { "steps": [ … ] }
//! }
//! ```
//!
//! Layout: [`SessionServerSpec`] is the section as written (serde, unknown fields refused);
//! [`SessionProgram::compile`] parses and checks it; [`crate::model::sessions`] interprets it
//! as the API-process actor, sending each statement to the store actor
//! ([`crate::model::store`]). [`super::directus`] expands the Directus `server` section into
//! it. `docs/protocol-language.md`, "Session-table servers", is the reference.

use serde::{Deserialize, Serialize};

use super::syntax::{did_you_mean, Grammar, Parser, Tok, Tree, Words};
use crate::model::policy::StoreConcurrency;
use crate::model::Tick;

/// The most steps a session-server handler (with the middleware) may have.
pub const MAX_SESSION_STEPS: usize = 16;
/// The most rules a step may have.
pub const MAX_SESSION_RULES: usize = 16;

/// How the store runs statements (`session_server.store`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    /// `pool` (default: a connection pool, PostgreSQL or MySQL: statements of different
    /// requests run in any order) or `one-connection` (SQLite with one connection: statements
    /// run one at a time in the order the server issued them).
    #[serde(default, skip_serializing_if = "is_default")]
    pub concurrency: StoreConcurrency,
    /// `statement` (default: each statement is its own atomic action, no transaction) or
    /// `handler` (the whole handler runs as one serialisable transaction at the store).
    #[serde(default, skip_serializing_if = "is_default")]
    pub transactions: Transactions,
}

/// What one atomic action of the store covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Transactions {
    /// Each statement (Directus: every `await` of knex, no transaction). The default.
    #[default]
    Statement,
    /// A whole handler, as one serialisable transaction.
    Handler,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A cache in front of the session table (`session_server.cache`): Django's `cached_db`
/// session backend, Keycloak's Infinispan cache in front of persistent user sessions, any
/// read-through cache. Its presence lets steps run `cache …` operations; sign-in writes the new
/// session into it (Django: `SessionStore.save` is `super().save()` then `cache.set`; Keycloak
/// creates the session in the cache and the database).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// The entries' lifetime in ticks, when a `cache set`, `cache add` or `cache tombstone`
    /// gives no `expires` (and for the entry sign-in writes); none: entries never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Tick>,
}

/// One rule of a session-server step, as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRuleSpec {
    /// A short name, shown in `models expand` and traces.
    pub name: String,
    /// The guard, a condition (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Sets the request's `issued` token (the one a later `ok issued` answers with) to this
    /// token expression, before `run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<String>,
    /// One statement sent to the store; its result is read by the `next` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// The step that goes on: after `run`, the step that reads its result (default: the
    /// following step); without `run`, a later step that runs at once, in the same action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The answer: `ok`, `ok TOKEN`, `invalid_payload`, `token_expired`,
    /// `invalid_credentials`, `server_error`, `signed_out`; in the middleware also `pass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Ghost: the token this request answers with names no row (its write affected none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub orphan: bool,
    /// Ghost: the presented token is superseded now (read by `rotated_token_expires`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub supersedes: bool,
    /// Where this behaviour comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One step, as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStepSpec {
    /// A short name, unique in its handler (the middleware's and the endpoint's together).
    pub name: String,
    /// The rules, first match decides; none matching answers `server_error`.
    pub rules: Vec<SessionRuleSpec>,
}

/// A handler, as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionHandlerSpec {
    /// The steps; the first runs when the request arrives (after the middleware).
    pub steps: Vec<SessionStepSpec>,
}

/// The `session_server` section of a model file: a server that keeps one row per session in
/// a table (Directus's kind: a session cookie or an opaque refresh token names the row),
/// written in the protocol language as handlers of steps that run statements on the table
/// (docs/protocol-language.md, "Session-table servers").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionServerSpec {
    /// How the store runs statements.
    #[serde(default, skip_serializing_if = "is_default")]
    pub store: StoreSpec,
    /// The claimed grace in ticks: how long a superseded token may still be redeemed
    /// (`rotated_token_expires`; default 0).
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(extend("default" = 0))]
    pub reuse_interval: Tick,
    /// A cache in front of the table (read-through, written or deleted by `cache …`
    /// operations, each its own round trip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSpec>,
    /// Steps run before every endpoint; `pass` goes on to the endpoint's first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middleware: Option<SessionHandlerSpec>,
    /// The refresh endpoint (`POST /auth/refresh`).
    pub refresh: SessionHandlerSpec,
    /// The sign-out endpoint (`POST /auth/logout`).
    pub sign_out: SessionHandlerSpec,
    /// An ordinary authenticated request (`GET /users/me`).
    pub request: SessionHandlerSpec,
    /// How traces name the requests and error answers (default: the Directus words and codes;
    /// [`super::wording`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub wording: super::wording::Wording,
}

/// The types of session-language expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum STy {
    /// Ticks and counts.
    Num,
    /// A condition.
    Bool,
    /// A token or `none`.
    Token,
    /// An auth mode: `json`, `cookie`, `session`.
    Mode,
    /// The literal `none`.
    None,
}

impl STy {
    fn name(self) -> &'static str {
        match self {
            STy::Num => "a number (ticks or a count)",
            STy::Bool => "a condition (true or false)",
            STy::Token => "a token",
            STy::Mode => "a mode (json, cookie, session)",
            STy::None => "none",
        }
    }
}

/// A name an expression reads: the request, the clock, the TTLs, the request's registers and
/// the result of the statement the step reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SVar {
    /// `now`, ticks.
    Now,
    /// `mode`: the request's auth mode (the body's `mode`).
    Mode,
    /// `presented`: the refresh token the request's mode carries: the session cookie's claim
    /// (session mode) or the opaque refresh token (json: the body; cookie: the refresh cookie).
    Presented,
    /// `session_cookie`: the session cookie's claim (a token), none without the cookie.
    SessionCookie,
    /// `session_cookie.exp`: the session JWT's `exp`, ticks (0 without the cookie).
    SessionCookieExp,
    /// `refresh_token`: the opaque refresh token the request carries, or none.
    RefreshToken,
    /// `access`: the request carries an access token.
    Access,
    /// `access.exp`: its `exp`, ticks.
    AccessExp,
    /// `fresh`: the token drawn for this request on arrival.
    Fresh,
    /// `issued`: the token the request keeps for its answer (`keep`), none at first.
    Issued,
    /// `row`: the token of the row the last `select` found, none if it found none.
    Row,
    /// `row.next`: that row's `next` (or a `select next of` result), none if null.
    RowNext,
    /// `row.mode`: that row's mode.
    RowMode,
    /// `row.expires`: that row's expiry tick.
    RowExpires,
    /// `affected`: the last write's affected-row count.
    Affected,
    /// `collided`: the last write would have given two rows one token and changed nothing.
    Collided,
    /// `cached`: the token of the live entry the last `cache get` found, none on a miss.
    Cached,
    /// `refresh_token_ttl`, `session_cookie_ttl`, `access_token_ttl`, `grace_period`: the
    /// `time` section's TTLs, ticks.
    Ttl(TtlName),
}

/// A TTL of the `time` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum TtlName {
    RefreshToken,
    SessionCookie,
    AccessToken,
    Grace,
}

/// Auth modes as values.
pub const MODE_JSON: i32 = 1;
/// `cookie`.
pub const MODE_COOKIE: i32 = 2;
/// `session`.
pub const MODE_SESSION: i32 = 3;

/// A parsed expression.
pub type SExpr = Tree<SVar>;

/// One statement to the store, compiled: each operand an expression.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Statement {
    /// `select T`: the row of token T if it is unexpired (`expires >= now`).
    Select(SExpr),
    /// `select next of T`: T's `next`, whatever its expiry (none if no row).
    SelectNext(SExpr),
    /// `rename T to U expires E`: the row of T gets token U, expiry E and the request's mode;
    /// `collided` if U names another row.
    Rename(SExpr, SExpr, SExpr),
    /// `extend T expires E`.
    Extend(SExpr, SExpr),
    /// `claim next of T as U expires E`: sets T's `next` to U and its expiry to E only if its
    /// `next` is none (one row affected) or not (none).
    Claim(SExpr, SExpr, SExpr),
    /// `insert U expires E`: a new row in the request's mode; `collided` if U exists.
    Insert(SExpr, SExpr),
    /// `upsert U expires E`: U's row, written whole in one round trip (Redis `SET key value EX
    /// ttl`, a session store's `set`): inserted if there is none, replaced otherwise (expiry E,
    /// the request's mode, no `next`); `affected` 1, never `collided`.
    Upsert(SExpr, SExpr),
    /// `purge expired`: deletes the user's rows with `expires < now`.
    Purge,
    /// `delete T`.
    Delete(SExpr),
    /// `cache VERB T [expires E]`: one operation on the cache in front of the table. After
    /// compilation the expiry is always set (the section's `ttl`, or 255: no expiry).
    Cache(CacheVerb, SExpr, Option<SExpr>),
}

/// A cache operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheVerb {
    /// `cache get T`: `cached` is T if the cache holds a live entry for it, else none.
    Get,
    /// `cache set T`: write T's entry whatever the key holds (`cache.set`); `affected` 1.
    Set,
    /// `cache add T`: write it only if the key holds no live entry or tombstone
    /// (`putIfAbsent`, memcached `add`); `affected` 1 or 0.
    Add,
    /// `cache delete T`: remove the key; `affected` 1 or 0.
    Delete,
    /// `cache tombstone T`: a marker that reads as a miss and makes an `add` fail, until it
    /// expires (Keycloak PR 53045); `affected` 1.
    Tombstone,
}

impl CacheVerb {
    /// The word written after `cache`.
    pub fn word(self) -> &'static str {
        match self {
            CacheVerb::Get => "get",
            CacheVerb::Set => "set",
            CacheVerb::Add => "add",
            CacheVerb::Delete => "delete",
            CacheVerb::Tombstone => "tombstone",
        }
    }

    /// Whether the operation writes an entry with an expiry (`expires E` allowed).
    pub fn writes(self) -> bool {
        matches!(self, CacheVerb::Set | CacheVerb::Add | CacheVerb::Tombstone)
    }
}

/// A rule's answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SReply {
    /// `ok`: 2xx carrying no credential.
    Ok,
    /// `ok T`: 2xx carrying T where the request's mode keeps it.
    OkToken(SExpr),
    /// `invalid_payload`: 400.
    InvalidPayload,
    /// `token_expired`: 401.
    TokenExpired,
    /// `invalid_credentials`: 401.
    InvalidCredentials,
    /// `server_error`: 500.
    ServerError,
    /// `signed_out`: the sign-out's 200, clearing the cookies.
    SignedOut,
}

/// What a rule does after its `keep`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Then {
    /// Answer.
    Reply(SReply),
    /// Send the statement; the step at this index reads its result.
    Run(Statement, u8),
    /// Go on at once with the step at this index (a later one).
    Goto(u8),
}

/// A compiled rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SRule {
    /// Its name.
    pub name: String,
    /// The guard.
    pub when: SExpr,
    /// The `issued` token to keep.
    pub keep: Option<SExpr>,
    /// What follows.
    pub then: Then,
    /// Ghost marks.
    pub orphan: bool,
    /// Ghost: the presented token is superseded now.
    pub supersedes: bool,
}

/// A compiled step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SStep {
    /// Its name.
    pub name: String,
    /// Its rules.
    pub rules: Vec<SRule>,
    /// Some rule runs `select presented` into this step: the row it finds is the presented
    /// token's (ghost: its mode is recorded for `mode_binding`).
    pub reads_presented_row: bool,
}

/// A compiled endpoint: the middleware's steps, then the endpoint's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SHandler {
    /// The steps; step 0 runs on arrival.
    pub steps: Vec<SStep>,
    /// Some expression reads `fresh`: a token is drawn on arrival.
    pub draws_fresh: bool,
}

/// A compiled `session_server`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionProgram {
    /// The refresh endpoint.
    pub refresh: SHandler,
    /// The sign-out endpoint.
    pub sign_out: SHandler,
    /// The ordinary request.
    pub request: SHandler,
    /// The claimed grace, ticks.
    pub reuse_interval: Tick,
    /// The cache in front of the table, if the section declares one.
    pub cache: Option<CacheSpec>,
    /// How traces name the requests and error answers.
    pub wording: super::wording::Wording,
}

/// An error in a `session_server` section: the field path, the text found, what is wrong.
pub use super::ProtocolError as SessionError;

// ---------------------------------------------------------------------------------------------
// Expressions.

/// Every name an expression may read, for "did you mean".
pub const SESSION_NAMES: &[&str] = &[
    "now",
    "mode",
    "presented",
    "session_cookie",
    "session_cookie.exp",
    "refresh_token",
    "access",
    "access.exp",
    "fresh",
    "issued",
    "row",
    "row.next",
    "row.mode",
    "row.expires",
    "affected",
    "collided",
    "cached",
    "refresh_token_ttl",
    "session_cookie_ttl",
    "access_token_ttl",
    "grace_period",
];

/// Words a statement uses as keywords: an operand stops before them.
const KEYWORDS: &[&str] = &["to", "expires", "as", "of"];

/// The `session_server` expression language: its types and names.
struct Session;

impl Grammar for Session {
    type Var = SVar;
    type Ty = STy;
    const BOOL: STy = STy::Bool;
    const NUM: STy = STy::Num;
    const NONE: STy = STy::None;

    fn ty_name(t: STy) -> &'static str {
        t.name()
    }

    fn nullable(t: STy) -> bool {
        t == STy::Token
    }

    fn name(&self, w: &str, _: &mut Parser<'_, Self>) -> Result<(SExpr, STy), String> {
        name(w)
    }
}

type P = Parser<'static, Session>;

fn name(w: &str) -> Result<(SExpr, STy), String> {
    let v = |v: SVar, t: STy| Ok((SExpr::Var(v), t));
    match w {
        "true" => Ok((SExpr::Const(1), STy::Bool)),
        "false" => Ok((SExpr::Const(0), STy::Bool)),
        "none" => Ok((SExpr::Const(0), STy::None)),
        "json" => Ok((SExpr::Const(MODE_JSON), STy::Mode)),
        "cookie" => Ok((SExpr::Const(MODE_COOKIE), STy::Mode)),
        "session" => Ok((SExpr::Const(MODE_SESSION), STy::Mode)),
        "now" => v(SVar::Now, STy::Num),
        "mode" => v(SVar::Mode, STy::Mode),
        "presented" => v(SVar::Presented, STy::Token),
        "session_cookie" => v(SVar::SessionCookie, STy::Token),
        "session_cookie.exp" => v(SVar::SessionCookieExp, STy::Num),
        "refresh_token" => v(SVar::RefreshToken, STy::Token),
        "access" => v(SVar::Access, STy::Bool),
        "access.exp" => v(SVar::AccessExp, STy::Num),
        "fresh" => v(SVar::Fresh, STy::Token),
        "issued" => v(SVar::Issued, STy::Token),
        "row" => v(SVar::Row, STy::Token),
        "row.next" => v(SVar::RowNext, STy::Token),
        "row.mode" => v(SVar::RowMode, STy::Mode),
        "row.expires" => v(SVar::RowExpires, STy::Num),
        "affected" => v(SVar::Affected, STy::Num),
        "collided" => v(SVar::Collided, STy::Bool),
        "cached" => v(SVar::Cached, STy::Token),
        "refresh_token_ttl" => v(SVar::Ttl(TtlName::RefreshToken), STy::Num),
        "session_cookie_ttl" => v(SVar::Ttl(TtlName::SessionCookie), STy::Num),
        "access_token_ttl" => v(SVar::Ttl(TtlName::AccessToken), STy::Num),
        "grace_period" => v(SVar::Ttl(TtlName::Grace), STy::Num),
        _ => {
            let all = SESSION_NAMES.iter().copied().chain(["true", "false", "none", "json", "cookie", "session"]);
            let hint = did_you_mean(w, all).map_or(String::new(), |c| format!("; did you mean `{c}`?"));
            Err(format!("unknown name `{w}` (expected one of {}{hint})", SESSION_NAMES.join(", ")))
        }
    }
}

fn parser(text: &str) -> Result<P, String> {
    Parser::new(text, Words::Dotted, &Session)
}

/// Parses a whole expression of type `ty`.
pub fn parse_expr(text: &str, ty: STy) -> Result<SExpr, String> {
    let mut p = parser(text)?;
    let (e, t) = p.expr()?;
    p.end()?;
    if t == ty || (ty == STy::Token && t == STy::None) {
        Ok(e)
    } else {
        Err(format!("expected {}, found {}", ty.name(), t.name()))
    }
}

/// A token or number operand of a statement: a sum, stopping before a keyword.
fn operand(p: &mut P, ty: STy) -> Result<SExpr, String> {
    if let Some(Tok::Word(w)) = p.peek() {
        if KEYWORDS.contains(&w.as_str()) {
            return Err(format!("expected {} before `{w}`", ty.name()));
        }
    }
    let (e, t) = p.sum()?;
    if t == ty || (ty == STy::Token && t == STy::None) {
        Ok(e)
    } else {
        Err(format!("expected {}, found {}", ty.name(), t.name()))
    }
}

/// The statement forms, for errors.
pub const STATEMENTS: &str = "`select T`, `select next of T`, `rename T to U expires E`, `extend T expires E`, `claim next of T as U expires E`, `insert U expires E`, `upsert U expires E`, `purge expired`, `delete T`, and on the cache `cache get T`, `cache set T [expires E]`, `cache add T [expires E]`, `cache delete T`, `cache tombstone T [expires E]`";

/// Parses a statement.
pub fn parse_statement(text: &str) -> Result<Statement, String> {
    let mut p = parser(text)?;
    let Some(Tok::Word(verb)) = p.next_tok() else {
        return Err(format!("expected a statement: {STATEMENTS}"));
    };
    let tok = |p: &mut P| operand(p, STy::Token);
    let num = |p: &mut P| operand(p, STy::Num);
    let st = match verb.as_str() {
        "select" if p.word("next") => {
            p.advance();
            p.expect_word("of")?;
            Statement::SelectNext(tok(&mut p)?)
        }
        "select" => Statement::Select(tok(&mut p)?),
        "rename" => {
            let from = tok(&mut p)?;
            p.expect_word("to")?;
            let to = tok(&mut p)?;
            p.expect_word("expires")?;
            Statement::Rename(from, to, num(&mut p)?)
        }
        "extend" => {
            let t = tok(&mut p)?;
            p.expect_word("expires")?;
            Statement::Extend(t, num(&mut p)?)
        }
        "claim" => {
            p.expect_word("next")?;
            p.expect_word("of")?;
            let t = tok(&mut p)?;
            p.expect_word("as")?;
            let u = tok(&mut p)?;
            p.expect_word("expires")?;
            Statement::Claim(t, u, num(&mut p)?)
        }
        "insert" => {
            let t = tok(&mut p)?;
            p.expect_word("expires")?;
            Statement::Insert(t, num(&mut p)?)
        }
        "upsert" => {
            let t = tok(&mut p)?;
            p.expect_word("expires")?;
            Statement::Upsert(t, num(&mut p)?)
        }
        "purge" => {
            p.expect_word("expired")?;
            Statement::Purge
        }
        "delete" => Statement::Delete(tok(&mut p)?),
        "cache" => {
            let verbs = [CacheVerb::Get, CacheVerb::Set, CacheVerb::Add, CacheVerb::Delete, CacheVerb::Tombstone];
            let verb = match p.next_tok() {
                Some(Tok::Word(w)) => match verbs.iter().find(|v| v.word() == w) {
                    Some(v) => *v,
                    None => {
                        let words = verbs.iter().map(|v| v.word());
                        let hint = did_you_mean(&w, words).map_or(String::new(), |c| format!("; did you mean `{c}`?"));
                        return Err(format!(
                            "unknown cache operation `{w}` (expected `cache get`, `cache set`, `cache add`, \
                             `cache delete` or `cache tombstone`{hint})"
                        ));
                    }
                },
                _ => return Err("expected a cache operation after `cache`: get, set, add, delete or tombstone".into()),
            };
            let t = tok(&mut p)?;
            let expires = if p.word("expires") {
                if !verb.writes() {
                    return Err(format!(
                        "`cache {}` takes no `expires` (only `cache set`, `cache add` and `cache tombstone` write an entry)",
                        verb.word()
                    ));
                }
                p.advance();
                Some(num(&mut p)?)
            } else {
                None
            };
            Statement::Cache(verb, t, expires)
        }
        other => {
            let verbs = ["select", "rename", "extend", "claim", "insert", "upsert", "purge", "delete", "cache"];
            let hint = did_you_mean(other, verbs).map_or(String::new(), |c| format!("; did you mean `{c}`?"));
            return Err(format!("unknown statement `{other}` (expected {STATEMENTS}{hint})"));
        }
    };
    p.end()?;
    Ok(st)
}

/// Parses a reply (`pass` is [`None`]).
fn parse_reply(text: &str, middleware: bool) -> Result<Option<SReply>, String> {
    let t = text.trim();
    Ok(Some(match t {
        "ok" => SReply::Ok,
        "invalid_payload" => SReply::InvalidPayload,
        "token_expired" => SReply::TokenExpired,
        "invalid_credentials" => SReply::InvalidCredentials,
        "server_error" => SReply::ServerError,
        "signed_out" => SReply::SignedOut,
        "pass" if middleware => return Ok(None),
        _ => match t.strip_prefix("ok ") {
            Some(e) => SReply::OkToken(parse_expr(e, STy::Token)?),
            None => {
                let mut all =
                    vec!["ok", "invalid_payload", "token_expired", "invalid_credentials", "server_error", "signed_out"];
                if middleware {
                    all.push("pass");
                }
                let hint =
                    did_you_mean(t, all.iter().copied()).map_or(String::new(), |c| format!("; did you mean `{c}`?"));
                return Err(format!("unknown reply (expected `ok`, `ok TOKEN`, {}{hint})", all[1..].join(", ")));
            }
        },
    }))
}

fn reads_fresh(e: &SExpr) -> bool {
    reads(e, &SVar::Fresh)
}

/// Whether `e` reads the variable `v` anywhere.
fn reads(e: &SExpr, v: &SVar) -> bool {
    e.find_var(|x| (x == v).then_some(())).is_some()
}

/// The names of a statement's result (`row`, `row.next`, `row.mode`, `row.expires`,
/// `affected`, `collided`, `cached`) that `e` reads, in order, each once.
fn results_read(e: &SExpr) -> Vec<&'static str> {
    let mut names = Vec::new();
    e.visit_vars(&mut |v| {
        let name = match v {
            SVar::Row => "row",
            SVar::RowNext => "row.next",
            SVar::RowMode => "row.mode",
            SVar::RowExpires => "row.expires",
            SVar::Affected => "affected",
            SVar::Collided => "collided",
            SVar::Cached => "cached",
            _ => return,
        };
        if !names.contains(&name) {
            names.push(name);
        }
    });
    names
}

/// The expressions of a statement, in order.
fn statement_exprs(s: &Statement) -> Vec<&SExpr> {
    match s {
        Statement::Select(a) | Statement::SelectNext(a) | Statement::Delete(a) => vec![a],
        Statement::Extend(a, b) | Statement::Insert(a, b) | Statement::Upsert(a, b) => vec![a, b],
        Statement::Rename(a, b, c) | Statement::Claim(a, b, c) => vec![a, b, c],
        Statement::Purge => vec![],
        Statement::Cache(_, a, e) => std::iter::once(a).chain(e).collect(),
    }
}

/// Whether `e` subtracts anywhere.
fn subtracts(e: &SExpr) -> bool {
    match e {
        SExpr::Sub(..) => true,
        SExpr::Const(_) | SExpr::Var(_) => false,
        SExpr::Not(a) => subtracts(a),
        SExpr::And(a, b) | SExpr::Or(a, b) | SExpr::Cmp(_, a, b) | SExpr::Add(a, b) => subtracts(a) || subtracts(b),
    }
}

/// The names that hold a tick: an expiry is counted from one of them.
const TIMES: &str = "`now`, `row.expires`, `session_cookie.exp`, `access.exp`";

/// The name of a variable that holds a tick of the clock ([`TIMES`]), `None` for others.
fn time_name(v: &SVar) -> Option<&'static str> {
    match v {
        SVar::Now => Some("now"),
        SVar::RowExpires => Some("row.expires"),
        SVar::SessionCookieExp => Some("session_cookie.exp"),
        SVar::AccessExp => Some("access.exp"),
        _ => None,
    }
}

/// Checks a statement's operands beyond their types: no token operand is the literal `none`
/// (it names no row: `upsert none …` would write a row whose key is no token), and every
/// expiry is counted from a tick the request has ([`TIMES`]) without a subtraction (a
/// constant is the same tick in every run; `now - 1` writes a row already expired, except at
/// tick 0 where the subtraction stops at 0 and the row would be live). The error says what
/// was expected.
fn check_statement(st: &Statement) -> Result<(), String> {
    let (tokens, expiry): (Vec<&SExpr>, Option<&SExpr>) = match st {
        Statement::Select(a) | Statement::SelectNext(a) | Statement::Delete(a) => (vec![a], None),
        Statement::Extend(a, e) | Statement::Insert(a, e) | Statement::Upsert(a, e) => (vec![a], Some(e)),
        Statement::Rename(a, b, e) | Statement::Claim(a, b, e) => (vec![a, b], Some(e)),
        Statement::Purge => (vec![], None),
        Statement::Cache(_, a, e) => (vec![a], e.as_ref()),
    };
    if tokens.iter().any(|t| **t == SExpr::Const(0)) {
        return Err("a token, not `none`: `none` names no row, so the statement would read or write a row whose \
                    key is no token (expected a token the request has or read: `presented`, `fresh`, `issued`, \
                    `row`, `row.next`, `session_cookie`, `refresh_token`)"
            .into());
    }
    if let Some(e) = expiry {
        let mut times = vec![];
        e.visit_vars(&mut |v| {
            if let Some(name) = time_name(v) {
                times.push(name);
            }
        });
        if times.len() > 1 {
            return Err(format!(
                "an expiry counted up from one tick the request has, plus TTLs or numbers: `{}` adds {} ticks \
                 ({}), a sum that is no tick of the clock (e.g. `now + now` is twice the time); expected one of \
                 {TIMES} plus ticks, e.g. `now + refresh_token_ttl`, `row.expires + 1`",
                times.join(" + "),
                times.len(),
                times.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        if subtracts(e) || times.is_empty() {
            return Err(format!(
                "an expiry counted up from a tick the request has ({TIMES}), e.g. `now + refresh_token_ttl` \
                 or `now + 2`: a constant is the same tick in every run, and a subtraction (`now - 1`) would \
                 write a row already expired, yet live at tick 0 where it stops at 0; to end a session, \
                 `delete` its row"
            ));
        }
    }
    Ok(())
}

/// Which statements' results a step may read, one bit per verb ([`verb_bit`]).
type Verbs = u16;

const VERBS: [&str; 14] = [
    "select",
    "select next of",
    "rename",
    "extend",
    "claim",
    "insert",
    "upsert",
    "purge",
    "delete",
    "cache get",
    "cache set",
    "cache add",
    "cache delete",
    "cache tombstone",
];

fn verb_bit(s: &Statement) -> Verbs {
    1 << match s {
        Statement::Select(_) => 0,
        Statement::SelectNext(_) => 1,
        Statement::Rename(..) => 2,
        Statement::Extend(..) => 3,
        Statement::Claim(..) => 4,
        Statement::Insert(..) => 5,
        Statement::Upsert(..) => 6,
        Statement::Purge => 7,
        Statement::Delete(_) => 8,
        Statement::Cache(verb, ..) => match verb {
            CacheVerb::Get => 9,
            CacheVerb::Set => 10,
            CacheVerb::Add => 11,
            CacheVerb::Delete => 12,
            CacheVerb::Tombstone => 13,
        },
    }
}

/// The statements whose result sets the result name `name` (`row`, `collided`, …).
fn verbs_setting(name: &str) -> Verbs {
    let of = |names: &[&str]| names.iter().map(|n| 1 << VERBS.iter().position(|v| v == n).unwrap()).sum::<Verbs>();
    match name {
        "row" | "row.mode" | "row.expires" => of(&["select"]),
        "row.next" => of(&["select", "select next of"]),
        "collided" => of(&["rename", "insert"]),
        "cached" => of(&["cache get"]),
        _ => of(&[
            "rename",
            "extend",
            "claim",
            "insert",
            "upsert",
            "purge",
            "delete",
            "cache set",
            "cache add",
            "cache delete",
            "cache tombstone",
        ]),
    }
}

/// The verbs of `verbs`, as text (`upsert`, `select and delete`).
fn verb_list(verbs: Verbs) -> String {
    let names: Vec<String> =
        VERBS.iter().enumerate().filter(|(i, _)| verbs & (1 << i) != 0).map(|(_, v)| format!("`{v}`")).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Whether the statement writes a row keyed by a token that reads `fresh` (`rename … to
/// fresh`, `insert fresh`, `upsert fresh`; a `claim` only names it as a row's `next`).
fn writes_fresh_row(s: &Statement) -> bool {
    match s {
        Statement::Rename(_, to, _) => reads_fresh(to),
        Statement::Insert(t, _) | Statement::Upsert(t, _) => reads_fresh(t),
        _ => false,
    }
}

/// Whether `s` takes away the row of `fresh`: `delete fresh`, or `rename fresh to` a token
/// that is not `fresh`.
fn removes_fresh_row(s: &Statement) -> bool {
    match s {
        Statement::Delete(SExpr::Var(SVar::Fresh)) => true,
        Statement::Rename(SExpr::Var(SVar::Fresh), to, _) => !reads_fresh(to),
        _ => false,
    }
}

fn statement_reads_fresh(s: &Statement) -> bool {
    statement_reads(s, &SVar::Fresh)
}

fn statement_reads(s: &Statement, v: &SVar) -> bool {
    match s {
        Statement::Select(a) | Statement::SelectNext(a) | Statement::Delete(a) => reads(a, v),
        Statement::Extend(a, b) | Statement::Insert(a, b) | Statement::Upsert(a, b) => reads(a, v) || reads(b, v),
        Statement::Rename(a, b, c) | Statement::Claim(a, b, c) => reads(a, v) || reads(b, v) || reads(c, v),
        Statement::Purge => false,
        Statement::Cache(_, a, e) => reads(a, v) || e.as_ref().is_some_and(|e| reads(e, v)),
    }
}

/// Whether rule `r` reads `v` in its guard, its `keep`, its statement or its `ok` reply.
fn rule_reads(r: &SRule, v: &SVar) -> bool {
    reads(&r.when, v)
        || r.keep.as_ref().is_some_and(|k| reads(k, v))
        || match &r.then {
            Then::Run(st, _) => statement_reads(st, v),
            Then::Reply(SReply::OkToken(e)) => reads(e, v),
            _ => false,
        }
}

impl SessionProgram {
    /// Whether some rule of any endpoint reads `v` ([`rule_reads`]).
    fn any_rule_reads(&self, v: &SVar) -> bool {
        [&self.refresh, &self.sign_out, &self.request]
            .iter()
            .flat_map(|h| h.steps.iter())
            .flat_map(|s| s.rules.iter())
            .any(|r| rule_reads(r, v))
    }

    /// Whether some guard, `keep`, statement or reply of any endpoint reads `grace_period`
    /// (`SESSION_REFRESH_GRACE_PERIOD`, the model's `ttl.grace` ticks).
    pub fn reads_grace_period(&self) -> bool {
        self.any_rule_reads(&SVar::Ttl(TtlName::Grace))
    }

    /// Whether some guard, `keep`, statement or reply of any endpoint reads `row.expires` (a
    /// row's expiry as a number, beyond the store's own comparisons with the clock).
    pub fn reads_row_expires(&self) -> bool {
        self.any_rule_reads(&SVar::RowExpires)
    }
}

impl SHandler {
    /// The steps from which `fresh` may still be read: bit `i` is set when step `i`, or a step
    /// it can lead to (`run … next`, `next`, the middleware's `pass`), has a guard, `keep`,
    /// statement or `ok` reply that reads `fresh`. A handler waiting to run step `i` with the
    /// bit clear never reads its drawn token again ([`crate::model::dead`]). Steps only go
    /// forward, so one backward pass decides it. At most [`MAX_SESSION_STEPS`] steps.
    pub fn fresh_live_steps(&self) -> u32 {
        let v = SVar::Fresh;
        let mut live = 0u32;
        for (i, step) in self.steps.iter().enumerate().rev() {
            let here = step.rules.iter().any(|r| {
                let next = match &r.then {
                    // A step that led backwards (the compiler refuses it) counts as live.
                    Then::Run(_, n) | Then::Goto(n) => usize::from(*n) <= i || live & (1u32 << n) != 0,
                    Then::Reply(_) => false,
                };
                next || rule_reads(r, &v)
            });
            if here {
                live |= 1 << i;
            }
        }
        live
    }
}

impl SessionServerSpec {
    /// The first statement (middleware, refresh, sign-out, request, in file order) whose
    /// expiry counts up from a tick no request of the model carries: `session_cookie.exp`
    /// when no request is in session mode (json and cookie mode carry no session cookie: it
    /// reads 0), `access.exp` when every request is (session mode carries no access token).
    /// `session_mode` and `token_modes`: some request of the model is in session mode, in
    /// json or cookie mode. Returns the `run` field's path under `at`, its text and the tick's
    /// name; `None` when every expiry has its tick (or a statement does not parse: compiling
    /// reports that).
    pub fn expiry_without_its_tick(
        &self,
        at: &str,
        session_mode: bool,
        token_modes: bool,
    ) -> Option<(String, String, &'static str)> {
        let handlers = [
            ("middleware", self.middleware.as_ref()),
            ("refresh", Some(&self.refresh)),
            ("sign_out", Some(&self.sign_out)),
            ("request", Some(&self.request)),
        ];
        for (name, h) in handlers {
            for (si, step) in h.iter().flat_map(|h| h.steps.iter()).enumerate() {
                for (ri, rule) in step.rules.iter().enumerate() {
                    let Some(run) = &rule.run else { continue };
                    let Ok(st) = parse_statement(run) else { continue };
                    let expiry = match &st {
                        Statement::Extend(_, e)
                        | Statement::Insert(_, e)
                        | Statement::Upsert(_, e)
                        | Statement::Rename(_, _, e)
                        | Statement::Claim(_, _, e)
                        | Statement::Cache(_, _, Some(e)) => e,
                        _ => continue,
                    };
                    let missing = expiry.find_var(|v| match v {
                        SVar::SessionCookieExp if !session_mode => Some("session_cookie.exp"),
                        SVar::AccessExp if !token_modes => Some("access.exp"),
                        _ => None,
                    });
                    if let Some(tick) = missing {
                        return Some((format!("{at}.{name}.steps[{si}].rules[{ri}].run"), run.clone(), tick));
                    }
                }
            }
        }
        None
    }
}

impl SessionProgram {
    /// Parses and checks every guard, statement and reply of `spec`; `at` is the section's
    /// field path (`session_server`, or `server` for the expanded Directus preset).
    pub fn compile(spec: &SessionServerSpec, at: &str) -> Result<SessionProgram, SessionError> {
        if spec.cache.is_some() && spec.store.concurrency == StoreConcurrency::OneConnection {
            return Err(SessionError {
                field: format!("{at}.cache"),
                found: "a cache with `store.concurrency: one-connection`".into(),
                message: "a cache with the default pool (`store.concurrency: pool`): cache operations do not queue \
                          behind the database's one connection, and the model orders only the connection's statements"
                    .into(),
            });
        }
        if spec.cache.is_some() && spec.store.transactions == Transactions::Handler {
            return Err(SessionError {
                field: format!("{at}.cache"),
                found: "a cache with `store.transactions: handler`".into(),
                message: "a cache with statements that are their own transactions (`store.transactions: statement`, the default): a cache is not part of a database transaction nor rolled back with it, and the races a cache brings (Keycloak issue 51127: a cache write between the database's delete and its commit) need each cache operation to be its own step"
                    .into(),
            });
        }
        let handler =
            |name: &str, h: &SessionHandlerSpec| compile_handler(at, spec.middleware.as_ref(), spec.cache, name, h);
        Ok(SessionProgram {
            refresh: handler("refresh", &spec.refresh)?,
            sign_out: handler("sign_out", &spec.sign_out)?,
            request: handler("request", &spec.request)?,
            reuse_interval: spec.reuse_interval,
            cache: spec.cache,
            wording: {
                spec.wording.check(&format!("{at}.wording"), super::wording::SESSION_ERRORS)?;
                spec.wording.clone()
            },
        })
    }
}

/// What a step's or rule's name must be (it is shown in traces).
const NAME_EXPECTED: &str = "a short name (shown in traces): 1 to 80 characters on one line, no backtick";
/// The expiry a cache write without `expires` gets: `now + ttl`, or 255 (no expiry).
fn default_cache_expiry(cache: CacheSpec) -> SExpr {
    match cache.ttl {
        Some(t) => SExpr::Add(Box::new(SExpr::Var(SVar::Now)), Box::new(SExpr::Const(i32::from(t)))),
        None => SExpr::Const(255),
    }
}

/// What a `keep` set on a path through a handler's steps ([`FreshPath`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kept {
    /// No `keep` yet: `issued` is none.
    Nothing,
    /// The last `keep` kept `fresh`.
    Fresh,
    /// The last `keep` kept another token.
    Other,
}

/// One path through a handler's steps, as the load-time check of answers with `fresh` sees
/// it: what it kept, whether a statement on it wrote a row for `fresh`, and whether a rule on
/// it is marked `orphan`. The paths into a step are a set of these, 12 bits ([`FreshPath::bit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FreshPath {
    kept: Kept,
    written: bool,
    orphan: bool,
}

impl FreshPath {
    /// The path into a handler's first step.
    const START: FreshPath = FreshPath { kept: Kept::Nothing, written: false, orphan: false };

    fn bit(self) -> u16 {
        let kept = match self.kept {
            Kept::Nothing => 0,
            Kept::Fresh => 1,
            Kept::Other => 2,
        };
        1 << (kept * 4 + 2 * u16::from(self.written) + u16::from(self.orphan))
    }

    /// The paths of a set of bits.
    fn each(bits: u16) -> impl Iterator<Item = FreshPath> + Clone {
        [Kept::Nothing, Kept::Fresh, Kept::Other]
            .into_iter()
            .flat_map(|kept| {
                [(false, false), (false, true), (true, false), (true, true)].map(|(written, orphan)| FreshPath {
                    kept,
                    written,
                    orphan,
                })
            })
            .filter(move |p| bits & p.bit() != 0)
    }

    /// The path once rule `r` decided: its `keep` and its `orphan` mark.
    fn through(self, r: &SRule) -> FreshPath {
        let kept = match &r.keep {
            Some(k) if reads_fresh(k) => Kept::Fresh,
            Some(_) => Kept::Other,
            None => self.kept,
        };
        FreshPath { kept, orphan: self.orphan || r.orphan, ..self }
    }

    /// The path once statement `st` ran: a row for `fresh` written (`rename … to fresh`,
    /// `insert fresh`, `upsert fresh`), or no longer there (`delete fresh`, `rename fresh to …`
    /// another token), or as it was.
    fn writing(self, st: &Statement) -> FreshPath {
        let written = if writes_fresh_row(st) {
            true
        } else if removes_fresh_row(st) {
            false
        } else {
            self.written
        };
        FreshPath { written, ..self }
    }
}

fn compile_handler(
    at: &str,
    middleware: Option<&SessionHandlerSpec>,
    cache: Option<CacheSpec>,
    endpoint: &str,
    h: &SessionHandlerSpec,
) -> Result<SHandler, SessionError> {
    let fail = |field: String, found: &str, message: String| SessionError { field, found: found.into(), message };
    let mw: &[SessionStepSpec] = middleware.map_or(&[], |m| &m.steps);
    // (field path of the step, is middleware, step)
    let all: Vec<(String, bool, &SessionStepSpec)> = mw
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{at}.middleware.steps[{i}]"), true, s))
        .chain(h.steps.iter().enumerate().map(|(i, s)| (format!("{at}.{endpoint}.steps[{i}]"), false, s)))
        .collect();
    if h.steps.is_empty() {
        return Err(fail(format!("{at}.{endpoint}.steps"), "no steps", "at least one step".into()));
    }
    if all.len() > MAX_SESSION_STEPS {
        return Err(fail(
            format!("{at}.{endpoint}.steps"),
            &format!("{} steps with the middleware's", all.len()),
            format!("at most {MAX_SESSION_STEPS}"),
        ));
    }
    let first_endpoint = mw.len() as u8;
    let index_of = |name: &str, field: &str| -> Result<u8, SessionError> {
        // A middleware step may name only middleware steps; an endpoint step only its own.
        let in_mw = field.contains(".middleware.");
        let range = if in_mw { 0..mw.len() } else { mw.len()..all.len() };
        match all[range.clone()].iter().position(|(_, _, s)| s.name == name) {
            Some(i) => Ok((range.start + i) as u8),
            None => {
                let names = all[range].iter().map(|(_, _, s)| s.name.as_str());
                let hint = did_you_mean(name, names).map_or(String::new(), |c| format!("; did you mean `{c}`?"));
                Err(fail(format!("{field}.next"), name, format!("no step of this name in the handler{hint}")))
            }
        }
    };
    // Names first: a `next` is resolved by name, so a name refused is reported as itself.
    for (path, _, s) in &all {
        if !super::name_ok(&s.name) {
            return Err(fail(format!("{path}.name"), &s.name, NAME_EXPECTED.into()));
        }
        if let Some(ri) = s.rules.iter().position(|r| !super::name_ok(&r.name)) {
            return Err(fail(format!("{path}.rules[{ri}].name"), &s.rules[ri].name, NAME_EXPECTED.into()));
        }
    }
    let mut steps: Vec<SStep> = Vec::new();
    let mut draws_fresh = false;
    for (ix, (path, in_mw, s)) in all.iter().enumerate() {
        if all[..ix].iter().any(|(p, _, o)| o.name == s.name && p.contains(".middleware.") == *in_mw) {
            return Err(fail(format!("{path}.name"), &s.name, "a second step of this name in the handler".into()));
        }
        if s.rules.is_empty() || s.rules.len() > MAX_SESSION_RULES {
            return Err(fail(
                format!("{path}.rules"),
                &format!("{} rules", s.rules.len()),
                format!("1 to {MAX_SESSION_RULES} rules"),
            ));
        }
        let mut rules = Vec::new();
        for (ri, r) in s.rules.iter().enumerate() {
            let field = format!("{path}.rules[{ri}]");
            let when = match &r.when {
                Some(w) => parse_expr(w, STy::Bool).map_err(|m| fail(format!("{field}.when"), w, m))?,
                None => SExpr::Const(1),
            };
            let keep = match &r.keep {
                Some(k) => Some(parse_expr(k, STy::Token).map_err(|m| fail(format!("{field}.keep"), k, m))?),
                None => None,
            };
            draws_fresh |= reads_fresh(&when) || keep.as_ref().is_some_and(reads_fresh);
            let then = match (&r.reply, &r.run) {
                (Some(_), Some(_)) => {
                    return Err(fail(
                        field,
                        &r.name,
                        "a rule either answers (`reply`) or runs a statement (`run`), not both".into(),
                    ))
                }
                (Some(reply), None) => {
                    if r.next.is_some() {
                        return Err(fail(format!("{field}.next"), reply, "no `next` after a reply".into()));
                    }
                    match parse_reply(reply, *in_mw).map_err(|m| fail(format!("{field}.reply"), reply, m))? {
                        Some(SReply::OkToken(e)) => {
                            draws_fresh |= reads_fresh(&e);
                            Then::Reply(SReply::OkToken(e))
                        }
                        Some(rep) => Then::Reply(rep),
                        None => Then::Goto(first_endpoint),
                    }
                }
                (None, Some(run)) => {
                    let mut st = parse_statement(run)
                        .and_then(|st| check_statement(&st).map(|()| st))
                        .map_err(|m| fail(format!("{field}.run"), run, m))?;
                    if let Statement::Cache(verb, _, expires) = &mut st {
                        let Some(cache) = cache else {
                            return Err(fail(
                                format!("{field}.run"),
                                run,
                                format!(
                                    "`cache {}` needs a cache in front of the table (expected a `cache` section in \
                                     `{at}`: `\"cache\": {{}}`, or `{{ \"ttl\": N }}` for entries that expire N ticks \
                                     after they are written)",
                                    verb.word()
                                ),
                            ));
                        };
                        if verb.writes() && expires.is_none() {
                            *expires = Some(default_cache_expiry(cache));
                        }
                    }
                    draws_fresh |= statement_reads_fresh(&st);
                    let next = match &r.next {
                        Some(n) => index_of(n, &field)?,
                        None => {
                            let following = ix + 1;
                            let ends = following >= all.len() || (*in_mw && following >= mw.len());
                            if ends {
                                return Err(fail(
                                    field,
                                    &r.name,
                                    "`run` in the last step needs a `next` step to read its result".into(),
                                ));
                            }
                            following as u8
                        }
                    };
                    if usize::from(next) <= ix {
                        return Err(fail(
                            format!("{field}.next"),
                            r.next.as_deref().unwrap_or(""),
                            "a later step (a handler runs forward)".into(),
                        ));
                    }
                    Then::Run(st, next)
                }
                (None, None) => {
                    let Some(n) = &r.next else {
                        return Err(fail(field, &r.name, "a `reply`, a `run` or a `next` step".into()));
                    };
                    let next = index_of(n, &field)?;
                    if usize::from(next) <= ix {
                        return Err(fail(format!("{field}.next"), n, "a later step (a handler runs forward)".into()));
                    }
                    Then::Goto(next)
                }
            };
            if matches!(then, Then::Reply(SReply::SignedOut)) && (endpoint != "sign_out" || *in_mw) {
                return Err(fail(
                    format!("{field}.reply"),
                    r.reply.as_deref().unwrap_or(""),
                    "`signed_out` only in the sign_out endpoint's own steps (it answers a sign-out); a refresh or \
                     request answers `ok`, `ok TOKEN` or an error"
                        .into(),
                ));
            }
            rules.push(SRule { name: r.name.clone(), when, keep, then, orphan: r.orphan, supersedes: r.supersedes });
        }
        steps.push(SStep { name: s.name.clone(), rules, reads_presented_row: false });
    }
    // Every step but the first is led to by a rule (`run`, `next`, or the middleware's `pass`),
    // and a step reads a statement's result (`row`, `affected`, …) only if some statement's
    // result can reach it: a `run` into it, or a `next` from a step that has one.
    // Likewise a step may answer `ok issued` only if some path into it, or the rule itself,
    // ran a `keep`: otherwise `issued` is none there and the answer is always 500. (Steps only
    // go forward, so `led_to` and `kept` of a step are final when it is reached here; a step
    // no rule leads to is reported below instead.)
    //
    // What a step's rules read is also checked against what can reach it: a result name is
    // set only by some statements (`collided` by `rename` and `insert`, `row` by `select`,
    // [`verbs_setting`]), so reading it where none of them runs before is refused; and an
    // answer with `fresh` (directly, or as the `issued` token a `keep` of `fresh` set) on a
    // path to it where no statement wrote a row for `fresh` hands out a token that names no
    // row, refused unless a rule on that path marks it `orphan`: the row must be written on
    // every path to the answer.
    let n = steps.len();
    let mut led_to = vec![false; n];
    // The statements whose result a step may read (0: none runs before it).
    let mut results: Vec<Verbs> = vec![0; n];
    // Some path into the step kept a token.
    let mut kept = vec![false; n];
    // The paths into each step, as a set of [`FreshPath`] bits: what each path kept, whether
    // it wrote a row for `fresh` and whether a rule on it is marked `orphan`.
    let mut paths: Vec<u16> = vec![0; n];
    paths[0] = FreshPath::START.bit();
    led_to[0] = true;
    for (ix, st) in steps.iter().enumerate() {
        for (ri, r) in st.rules.iter().enumerate() {
            let keeps = r.keep.is_some() || kept[ix];
            // The paths leaving this step through this rule, before its statement runs.
            let through = FreshPath::each(paths[ix]).map(|p| p.through(r)).fold(0, |m, p| m | p.bit());
            let (path, _, spec) = &all[ix];
            let reply_text = || spec.rules[ri].reply.as_deref().unwrap_or("");
            match &r.then {
                Then::Run(st, to) => {
                    let to = usize::from(*to);
                    led_to[to] = true;
                    results[to] |= verb_bit(st);
                    kept[to] |= keeps;
                    paths[to] |= FreshPath::each(through).map(|p| p.writing(st)).fold(0, |m, p| m | p.bit());
                }
                Then::Goto(to) => {
                    let to = usize::from(*to);
                    led_to[to] = true;
                    results[to] |= results[ix];
                    kept[to] |= keeps;
                    paths[to] |= through;
                }
                Then::Reply(SReply::OkToken(e)) if led_to[ix] && !keeps && reads(e, &SVar::Issued) => {
                    return Err(fail(
                        format!("{path}.rules[{ri}].reply"),
                        reply_text(),
                        "`issued` is the token a `keep` set, and no rule of this step or of a step before it \
                         keeps one, so this answer is always 500 (expected a `keep` on this rule or on the rule \
                         that leads here, e.g. `\"keep\": \"fresh\"` beside the `run` that writes it, or \
                         `ok presented` / `ok fresh` to answer with that token)"
                            .into(),
                    ));
                }
                Then::Reply(SReply::OkToken(e))
                    if led_to[ix]
                        && FreshPath::each(through).any(|p| {
                            !p.written
                                && !p.orphan
                                && (reads_fresh(e) || (reads(e, &SVar::Issued) && p.kept == Kept::Fresh))
                        }) =>
                {
                    let how = if reads_fresh(e) { "`fresh`" } else { "`issued`, kept as `fresh`," };
                    let paths_into = FreshPath::each(through).filter(|p| p.kept != Kept::Other || reads_fresh(e));
                    let some = if paths_into.clone().any(|p| p.written) { "some path" } else { "no path" };
                    return Err(fail(
                        format!("{path}.rules[{ri}].reply"),
                        reply_text(),
                        format!(
                            "{how} is the token drawn for this request, and {some} to this answer writes a row \
                             for it, but a token answered must name a row on every path to the answer, or the \
                             answer hands out a token that names no row (expected a `rename … to fresh`, \
                             `insert fresh …` or `upsert fresh …` on every path of steps before this one, or \
                             `\"orphan\": true` on this rule, or on the rules of the paths that write no row, if \
                             the server does answer with a token it never stored; a `delete fresh` after the write \
                             takes the row away again)"
                        ),
                    ));
                }
                Then::Reply(_) => {}
            }
        }
    }
    for (ix, (path, _, spec)) in all.iter().enumerate() {
        if !led_to[ix] {
            return Err(fail(
                format!("{path}.name"),
                &spec.name,
                "a step some rule leads to (a `run` or a `next` naming it, or the middleware's `pass` for the \
                 endpoint's first step); no rule does, so it never runs"
                    .into(),
            ));
        }
        for (ri, r) in steps[ix].rules.iter().enumerate() {
            let field = format!("{path}.rules[{ri}]");
            let mut parts: Vec<(&str, &SExpr, &str)> =
                vec![("when", &r.when, spec.rules[ri].when.as_deref().unwrap_or(""))];
            if let Some(k) = &r.keep {
                parts.push(("keep", k, spec.rules[ri].keep.as_deref().unwrap_or("")));
            }
            match &r.then {
                Then::Run(st, _) => {
                    let text = spec.rules[ri].run.as_deref().unwrap_or("");
                    parts.extend(statement_exprs(st).into_iter().map(|e| ("run", e, text)));
                }
                Then::Reply(SReply::OkToken(e)) => {
                    parts.push(("reply", e, spec.rules[ri].reply.as_deref().unwrap_or("")))
                }
                _ => {}
            }
            for (key, e, text) in parts {
                for name in results_read(e) {
                    let message = if results[ix] == 0 {
                        format!(
                            "`{name}` reads the result of a statement, and no statement runs before this step \
                             (expected it in a step that a `run` leads to, or a name the request has: {})",
                            "now, mode, presented, session_cookie, refresh_token, access, fresh, issued, the TTLs"
                        )
                    } else if results[ix] & verbs_setting(name) == 0 {
                        format!(
                            "`{name}` is set only by {}, and the statement whose result this step reads is {}, \
                             which never sets it, so it is always {} here (expected it after a statement that \
                             sets it)",
                            verb_list(verbs_setting(name)),
                            verb_list(results[ix]),
                            match name {
                                "collided" => "false",
                                "affected" | "row.expires" => "0",
                                "row.mode" => "no mode",
                                _ => "none",
                            }
                        )
                    } else {
                        continue;
                    };
                    return Err(fail(format!("{field}.{key}"), text, message));
                }
            }
        }
    }
    let targets: Vec<u8> = steps
        .iter()
        .flat_map(|s| s.rules.iter())
        .filter_map(|r| match &r.then {
            Then::Run(Statement::Select(SExpr::Var(SVar::Presented)), n) => Some(*n),
            Then::Run(Statement::Cache(CacheVerb::Get, SExpr::Var(SVar::Presented), _), n) => Some(*n),
            _ => None,
        })
        .collect();
    for n in targets {
        steps[usize::from(n)].reads_presented_row = true;
    }
    Ok(SHandler { steps, draws_fresh })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_parse_with_their_operands() {
        let s = parse_statement("rename presented to row.next expires now + refresh_token_ttl").unwrap();
        assert!(matches!(s, Statement::Rename(SExpr::Var(SVar::Presented), SExpr::Var(SVar::RowNext), SExpr::Add(..))));
        assert_eq!(parse_statement("purge expired").unwrap(), Statement::Purge);
        assert!(matches!(parse_statement("select next of presented").unwrap(), Statement::SelectNext(_)));
        let e = parse_statement("renme presented to fresh expires 1").unwrap_err();
        assert!(e.contains("did you mean `rename`"), "{e}");
        let e = parse_statement("extend presented expires fresh").unwrap_err();
        assert!(e.contains("expected a number"), "{e}");
    }

    #[test]
    fn expressions_type_check() {
        assert!(parse_expr("row.mode != mode and session_cookie.exp < now", STy::Bool).is_ok());
        let e = parse_expr("row == 1", STy::Bool).unwrap_err();
        assert!(e.contains("cannot compare"), "{e}");
        let e = parse_expr("row.nxt == none", STy::Bool).unwrap_err();
        assert!(e.contains("did you mean `row.next`"), "{e}");
    }
}
