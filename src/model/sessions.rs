//! The interpreter of the `session_server` language ([`crate::protocol::sessions`]): the API
//! process's handlers as compiled step programs over the session store ([`super::store`]).
//!
//! [`step`] is pure (sans-IO): it takes a handler and
//! the result of the statement it awaited (`None` on arrival) and returns the next statement to
//! send or the answer. A handler's place is [`Stage::Step`]: the step that reads the awaited
//! result, the `issued` token it keeps for its answer, and the ghost `orphan` mark. Steps
//! without a statement between them run in the same action; each statement is one message to
//! the store and one back (pool: in any order; one connection: in issue order), or, with
//! `transactions: handler`, [`run_atomically`] runs them all in one action at the store.

use crate::protocol::sessions::{CacheVerb, SExpr, SHandler, SReply, SVar, SessionProgram, Statement, Then, TtlName};
use crate::protocol::sessions::{MODE_COOKIE, MODE_JSON, MODE_SESSION};

use super::policy::AuthMode;
use super::server::{Endpoint, Handler, Stage, StepOut, Ttls};
use super::store::{Sql, SqlResult, StoreState};
use super::{HttpError, Reply, SessionJwt, Tick, Token};

/// The program of an endpoint.
pub fn handler_of(p: &SessionProgram, e: Endpoint) -> &SHandler {
    match e {
        Endpoint::Refresh => &p.refresh,
        Endpoint::UsersMe => &p.request,
        Endpoint::Logout => &p.sign_out,
    }
}

fn mode_value(m: AuthMode) -> i32 {
    match m {
        AuthMode::Json => MODE_JSON,
        AuthMode::Cookie => MODE_COOKIE,
        AuthMode::Session => MODE_SESSION,
    }
}

struct View<'a> {
    h: &'a Handler,
    now: Tick,
    ttl: &'a Ttls,
    issued: Token,
    input: Option<&'a SqlResult>,
}

impl View<'_> {
    fn var(&self, v: SVar) -> i32 {
        let c = &self.h.cred;
        let row = match self.input {
            Some(SqlResult::Row(r)) => *r,
            _ => None,
        };
        let tok = |t: Option<Token>| i32::from(t.unwrap_or(0));
        match v {
            SVar::Now => i32::from(self.now),
            SVar::Mode => mode_value(c.mode),
            SVar::Presented => tok(c.presented()),
            SVar::SessionCookie => tok(c.cookie.map(|j| j.session)),
            SVar::SessionCookieExp => i32::from(c.cookie.map_or(0, |j| j.exp)),
            SVar::RefreshToken => tok(c.token),
            SVar::Access => i32::from(c.access.is_some()),
            SVar::AccessExp => i32::from(c.access.unwrap_or(0)),
            SVar::Fresh => i32::from(self.h.fresh),
            SVar::Issued => i32::from(self.issued),
            SVar::Row => tok(row.map(|r| r.token)),
            SVar::RowNext => match self.input {
                Some(SqlResult::Next(n)) => tok(*n),
                _ => tok(row.and_then(|r| r.next_token)),
            },
            SVar::RowMode => row.map_or(0, |r| mode_value(r.kind)),
            SVar::RowExpires => i32::from(row.map_or(0, |r| r.expires)),
            SVar::Affected => match self.input {
                Some(SqlResult::Affected(n)) => i32::from(*n),
                _ => 0,
            },
            SVar::Collided => i32::from(self.input == Some(&SqlResult::UniqueViolation)),
            SVar::Cached => match self.input {
                Some(SqlResult::Cached(hit)) => tok(hit.map(|r| r.token)),
                _ => 0,
            },
            SVar::Ttl(t) => i32::from(match t {
                TtlName::RefreshToken => self.ttl.refresh_token,
                TtlName::SessionCookie => self.ttl.session_cookie,
                TtlName::AccessToken => self.ttl.access_token,
                TtlName::Grace => self.ttl.grace,
            }),
        }
    }

    fn eval(&self, e: &SExpr) -> i32 {
        e.eval(&|v| self.var(*v))
    }

    fn small(&self, e: &SExpr) -> u8 {
        self.eval(e).clamp(0, 255) as u8
    }

    fn sql(&self, st: &Statement) -> Sql {
        let (now, kind) = (self.now, self.h.cred.mode);
        match st {
            Statement::Select(t) => Sql::SelectSession { token: self.small(t), now },
            Statement::SelectNext(t) => Sql::SelectNext { token: self.small(t) },
            Statement::Rename(f, t, e) => {
                Sql::Rename { from: self.small(f), to: self.small(t), expires: self.small(e), kind, now }
            }
            Statement::Extend(t, e) => Sql::Extend { token: self.small(t), expires: self.small(e) },
            Statement::Claim(t, u, e) => {
                Sql::ClaimNext { token: self.small(t), next: self.small(u), expires: self.small(e), now }
            }
            Statement::Insert(t, e) => Sql::Insert { token: self.small(t), expires: self.small(e), kind },
            Statement::Upsert(t, e) => Sql::Upsert { token: self.small(t), expires: self.small(e), kind },
            Statement::Purge => Sql::PurgeExpired { now },
            Statement::Delete(t) => {
                Sql::Delete { token: self.small(t), sign_out: self.h.endpoint == super::server::Endpoint::Logout }
            }
            Statement::Cache(verb, t, e) => {
                let (token, until) = (self.small(t), e.as_ref().map_or(255, |e| self.small(e)));
                let sign_out = self.h.endpoint == super::server::Endpoint::Logout;
                match verb {
                    CacheVerb::Get => Sql::CacheGet { token, now },
                    CacheVerb::Set => Sql::CacheSet { token, until, kind },
                    CacheVerb::Add => Sql::CacheAdd { token, until, kind, now },
                    CacheVerb::Delete => Sql::CacheDelete { token, sign_out },
                    CacheVerb::Tombstone => Sql::CacheTombstone { token, until, sign_out },
                }
            }
        }
    }

    fn reply(&self, r: &SReply) -> Reply {
        let err = Reply::Err;
        match r {
            SReply::Ok => Reply::Ok { set_cookie: None, token: None, expires_at: None, access: None },
            SReply::OkToken(e) => {
                let t = self.small(e);
                if t == 0 {
                    return err(HttpError::Internal);
                }
                // Where the request's mode keeps the token (`api/src/controllers/auth.ts`):
                // a new session JWT cookie, or the token with an access token.
                match self.h.cred.mode {
                    AuthMode::Session => {
                        let exp = self.now.saturating_add(self.ttl.session_cookie);
                        Reply::Ok {
                            set_cookie: Some(SessionJwt { session: t, exp }),
                            token: None,
                            expires_at: Some(exp),
                            access: None,
                        }
                    }
                    AuthMode::Json | AuthMode::Cookie => Reply::Ok {
                        set_cookie: None,
                        token: Some(t),
                        expires_at: Some(self.now.saturating_add(self.ttl.access_token)),
                        access: None,
                    },
                }
            }
            SReply::InvalidPayload => err(HttpError::InvalidPayload),
            SReply::TokenExpired => err(HttpError::TokenExpired),
            SReply::InvalidCredentials => err(HttpError::InvalidCredentials),
            SReply::ServerError => err(HttpError::Internal),
            SReply::SignedOut => Reply::SignedOut,
        }
    }
}

/// What a step reports beside its output (ghost, for the server's bookkeeping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// A rule marked `supersedes` decided: the presented token is superseded now.
    pub superseded: bool,
}

/// Advances `h` by one step of its endpoint's program. `input` is `None` when the request has
/// just arrived, otherwise the result of the statement it awaited. `now` is the API process's
/// clock.
pub fn step(p: &SessionProgram, ttl: &Ttls, now: Tick, h: Handler, input: Option<SqlResult>) -> (StepOut, Marks) {
    step_deciding(p, ttl, now, h, input, &mut |_, _| {})
}

/// [`step`], telling `decided` each step it runs (an index into the endpoint's steps, the
/// middleware's first) and the rule that held there (an index into the step's rules; `None`:
/// no rule held, answered 500), in order: the decisions of one action.
pub fn step_deciding(
    p: &SessionProgram,
    ttl: &Ttls,
    now: Tick,
    mut h: Handler,
    input: Option<SqlResult>,
    decided: &mut dyn FnMut(u8, Option<u8>),
) -> (StepOut, Marks) {
    let prog = handler_of(p, h.endpoint);
    let mut marks = Marks::default();
    let (mut at, mut issued, mut orphan) = match (h.stage, input) {
        (Stage::Step { at, issued, orphan }, Some(_)) => (at, issued, orphan),
        _ => {
            h.checked_at = now;
            (0, 0, false)
        }
    };
    if let (true, Some(SqlResult::Row(Some(row)) | SqlResult::Cached(Some(row)))) =
        (prog.steps[usize::from(at)].reads_presented_row, input)
    {
        h.row_kind = Some(row.kind);
    }
    loop {
        let s = &prog.steps[usize::from(at)];
        let view = View { h: &h, now, ttl, issued, input: input.as_ref() };
        let Some(ri) = s.rules.iter().position(|r| view.eval(&r.when) != 0) else {
            // No rule holds: an unhandled case, answered 500 by an error handler.
            decided(at, None);
            return (StepOut::Respond { h, reply: Reply::Err(HttpError::Internal), orphan }, marks);
        };
        decided(at, Some(ri as u8));
        let rule = &s.rules[ri];
        marks.superseded |= rule.supersedes;
        orphan |= rule.orphan;
        if let Some(k) = &rule.keep {
            issued = view.small(k);
        }
        let view = View { h: &h, now, ttl, issued, input: input.as_ref() };
        match &rule.then {
            Then::Reply(r) => {
                let reply = view.reply(r);
                return (StepOut::Respond { h, reply, orphan }, marks);
            }
            Then::Run(st, next) => {
                let sql = view.sql(st);
                if matches!(sql, Sql::SelectSession { .. } | Sql::CacheGet { .. }) {
                    h.checked_at = now;
                }
                h.stage = Stage::Step { at: *next, issued, orphan };
                return (StepOut::Query(h, sql), marks);
            }
            Then::Goto(next) => at = *next,
        }
    }
}

/// Runs every step of `h` against `store` in one action (`transactions: handler`) and returns
/// the final answer (a [`StepOut::Respond`]).
pub fn run_atomically(p: &SessionProgram, ttl: &Ttls, now: Tick, h: Handler, store: &mut StoreState) -> StepOut {
    run_atomically_deciding(p, ttl, now, h, store, &mut |_, _| {})
}

/// [`run_atomically`], telling `decided` every step run and the rule that held ([`step_deciding`]).
pub fn run_atomically_deciding(
    p: &SessionProgram,
    ttl: &Ttls,
    now: Tick,
    h: Handler,
    store: &mut StoreState,
    decided: &mut dyn FnMut(u8, Option<u8>),
) -> StepOut {
    let (mut out, _) = step_deciding(p, ttl, now, h, None, decided);
    while let StepOut::Query(h, sql) = out {
        let result = store.exec(sql);
        out = step_deciding(p, ttl, now, h, Some(result), decided).0;
    }
    out
}

/// The decisions of the `session_server` that `action`, taken in state `before`, makes on
/// model `m`: for each step of a handler the action runs, the endpoint, the step (an index
/// into [`handler_of`]'s steps) and the rule that held (`None`: none held, answered 500), in
/// order. A request arriving at the server runs its first steps (with `transactions: handler`,
/// none: the store runs them all, in the action that delivers the transaction); a statement's
/// result delivered to the server runs the steps that read it. Empty for any other action and
/// for models whose server is not a `session_server`. The interpreter is re-run on `before`
/// ([`step_deciding`]), so these are the decisions the transition made.
pub fn decisions_of(
    m: &super::RefreshModel,
    before: &super::State,
    action: &super::Action,
) -> Vec<(Endpoint, u8, Option<u8>)> {
    use stateright::actor::ActorModelAction;
    let Some(super::Node::Server { store, policy, ttl, program, .. }) = m.actors.get(m.cfg.server) else {
        return vec![];
    };
    let mut out = vec![];
    let ActorModelAction::Deliver { src, dst, msg } = action else { return out };
    let server = super::server_at(before, m.cfg.server);
    match msg {
        super::Msg::Transaction { handler, now } if *dst == *store => {
            let mut s = super::store_at(before, usize::from(*store)).clone();
            let e = handler.endpoint;
            run_atomically_deciding(program, ttl, *now, *handler, &mut s, &mut |st, r| out.push((e, st, r)));
        }
        super::Msg::QueryResult { client, result } if usize::from(*dst) == m.cfg.server => {
            if let Some(h) = server.handlers.iter().find(|h| h.client == *client) {
                let e = h.endpoint;
                step_deciding(program, ttl, server.now, *h, Some(*result), &mut |st, r| out.push((e, st, r)));
            }
        }
        _ if usize::from(*dst) == m.cfg.server && policy.steps == super::policy::ServerSteps::Split => {
            if let Some(h) = super::arriving_handler(server, program, *src, msg) {
                let e = h.endpoint;
                step_deciding(program, ttl, server.now, h, None, &mut |st, r| out.push((e, st, r)));
            }
        }
        _ => {}
    }
    out
}
