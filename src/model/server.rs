//! The Directus API process: request handlers as explicit step machines.
//!
//! A handler is created when a request arrives and advances one step per database reply.
//! [`step`] is pure (sans-IO): it takes the handler and its input and returns either the next
//! statement to send to the store or the HTTP response. The split driver (the
//! [`super::Node::Server`] actor) sends each statement as a message, so any other request's
//! statement can run in between; the atomic driver ([`run_atomically`], run by the store) loops
//! over the same steps in one action.
//!
//! Steps of `POST /auth/refresh` in session mode (names from `directus-protocol.md` §1.4):
//! - cookie check: no cookie → 400 `INVALID_PAYLOAD`; JWT past `exp` → 401 `TOKEN_EXPIRED`
//!   (`verifyAccessJWT` in `api/src/controllers/auth.ts`, synchronous);
//! - optional session check (PR 22353, 10.11.1+): `verifySessionJWT`, a `SELECT` of the row;
//!   no row → 401 `INVALID_CREDENTIALS`;
//! - R1: `SELECT … WHERE token = T AND expires >= now`; no row → 401 `INVALID_CREDENTIALS`;
//! - the write, by [`SessionRefresh`]: W1 (rename, count ignored) or the PR 22433 extension;
//! - 200 with `Set-Cookie: directus_session_token=<JWT{session: T', exp: now + SESSION_COOKIE_TTL}>`.
//!
//! `GET /users/me` (any ordinary request) checks the JWT only before 10.11.1, and the row too
//! with the per-request check (`api/src/utils/get-accountability-for-token.ts`).
//!
//! Sources: `api/src/services/authentication.ts` and `api/src/controllers/auth.ts` in
//! `@directus/api` 18.2.1 (directus 10.10.4) and 19.1.1 (10.11.1); Directus PR 22433, PR 22353.

use serde::Serialize;

use super::policy::{ServerPolicy, SessionRefresh};
use super::store::{Sql, SqlResult, StoreState};
use super::{ClientKey, HttpError, Reply, SessionJwt, Tick, Token};

/// The endpoint a handler serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Endpoint {
    /// `POST /auth/refresh` with `{"mode": "session"}`.
    Refresh,
    /// `GET /users/me`: an ordinary authenticated request.
    UsersMe,
}

/// Where a handler is: the statement whose reply it awaits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Stage {
    /// Just received; nothing sent to the store yet.
    Received,
    /// Awaits `verifySessionJWT`'s `SELECT` (PR 22353).
    SessionCheck,
    /// Awaits R1.
    R1,
    /// Awaits the write; `issues` is the token the new cookie will wrap.
    Write { issues: Token },
}

/// One request in progress inside the API process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Handler {
    /// Who sent the request (the reply goes back there).
    pub client: ClientKey,
    /// What was asked.
    pub endpoint: Endpoint,
    /// The cookie the request carried, if any.
    pub cookie: Option<SessionJwt>,
    /// The fresh token this handler will mint if it rotates (Directus calls `nanoid(64)` after
    /// R1; drawing it at arrival is indistinguishable, since it is secret until sent).
    pub fresh: Token,
    /// Progress.
    pub stage: Stage,
}

/// What one step produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum StepOut {
    /// Send this statement and wait for its result.
    Query(Handler, Sql),
    /// Answer the client; the handler is finished. `orphan` is ghost state: the cookie handed
    /// out names a token whose write affected no row (the server itself ignores the count).
    Respond { client: ClientKey, endpoint: Endpoint, reply: Reply, orphan: bool },
}

/// The time-to-live values a handler uses, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ttls {
    /// `REFRESH_TOKEN_TTL`: the row's `expires` after a refresh.
    pub refresh_token: Tick,
    /// `SESSION_COOKIE_TTL`: the session JWT's `exp` and the cookie's max-age.
    pub session_cookie: Tick,
}

/// Advances `h` by one step. `input` is `None` when the request has just arrived, otherwise
/// the result of the statement the handler awaited. `now` is the API process's clock.
pub fn step(policy: &ServerPolicy, ttl: &Ttls, now: Tick, mut h: Handler, input: Option<SqlResult>) -> StepOut {
    let respond =
        |reply: Reply, orphan: bool| StepOut::Respond { client: h.client, endpoint: h.endpoint, reply, orphan };
    match (h.stage, input) {
        (Stage::Received, _) => {
            let Some(jwt) = h.cookie else {
                return respond(Reply::Err(HttpError::InvalidPayload), false);
            };
            if jwt.exp < now {
                return respond(Reply::Err(HttpError::TokenExpired), false);
            }
            if policy.per_request_check {
                h.stage = Stage::SessionCheck;
                return StepOut::Query(h, Sql::SelectSession { token: jwt.session, now });
            }
            after_session_check(h, jwt, now)
        }
        (Stage::SessionCheck, Some(SqlResult::Row(row))) => match (row, h.cookie) {
            (Some(_), Some(jwt)) => after_session_check(h, jwt, now),
            _ => respond(Reply::Err(HttpError::InvalidCredentials), false),
        },
        (Stage::R1, Some(SqlResult::Row(row))) => {
            let (Some(_), Some(jwt)) = (row, h.cookie) else {
                return respond(Reply::Err(HttpError::InvalidCredentials), false);
            };
            let expires = now.saturating_add(ttl.refresh_token);
            let (issues, sql) = match policy.session_refresh {
                SessionRefresh::Rotate => (h.fresh, Sql::Rename { from: jwt.session, to: h.fresh, expires }),
                SessionRefresh::StableId => (jwt.session, Sql::Extend { token: jwt.session, expires }),
            };
            h.stage = Stage::Write { issues };
            StepOut::Query(h, sql)
        }
        (Stage::Write { issues }, Some(SqlResult::Affected(n))) => {
            let cookie = SessionJwt { session: issues, exp: now.saturating_add(ttl.session_cookie) };
            respond(Reply::Ok { set_cookie: Some(cookie) }, n == 0)
        }
        (stage, input) => unreachable!("handler at {stage:?} cannot take {input:?}"),
    }
}

/// The part after the (optional) per-request session check.
fn after_session_check(mut h: Handler, jwt: SessionJwt, now: Tick) -> StepOut {
    match h.endpoint {
        Endpoint::UsersMe => StepOut::Respond {
            client: h.client,
            endpoint: h.endpoint,
            reply: Reply::Ok { set_cookie: None },
            orphan: false,
        },
        Endpoint::Refresh => {
            h.stage = Stage::R1;
            StepOut::Query(h, Sql::SelectSession { token: jwt.session, now })
        }
    }
}

/// The atomic driver: runs every step of `h` against `store` in one action and returns the
/// final response (a [`StepOut::Respond`]).
pub fn run_atomically(policy: &ServerPolicy, ttl: &Ttls, now: Tick, h: Handler, store: &mut StoreState) -> StepOut {
    let mut out = step(policy, ttl, now, h, None);
    while let StepOut::Query(h, sql) = out {
        let result = store.exec(sql);
        out = step(policy, ttl, now, h, Some(result));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::ServerSteps;

    const TTL: Ttls = Ttls { refresh_token: 7, session_cookie: 4 };

    fn policy(session_refresh: SessionRefresh) -> ServerPolicy {
        ServerPolicy { session_refresh, steps: ServerSteps::Split, per_request_check: false }
    }

    fn refresh(token: Token) -> Handler {
        Handler {
            client: ClientKey { browser: 0, tab: 0 },
            endpoint: Endpoint::Refresh,
            cookie: Some(SessionJwt { session: token, exp: 4 }),
            fresh: 2,
            stage: Stage::Received,
        }
    }

    #[test]
    fn rotate_renames_the_row_and_issues_the_fresh_token() {
        let mut store = StoreState::signed_in(1, 7);
        let out = run_atomically(&policy(SessionRefresh::Rotate), &TTL, 0, refresh(1), &mut store);
        let ok = Reply::Ok { set_cookie: Some(SessionJwt { session: 2, exp: 4 }) };
        assert_eq!(
            out,
            StepOut::Respond {
                client: ClientKey { browser: 0, tab: 0 },
                endpoint: Endpoint::Refresh,
                reply: ok,
                orphan: false
            }
        );
        assert!(store.row(1).is_none() && store.row(2).is_some());
    }

    #[test]
    fn rotate_after_a_rename_is_unauthorized() {
        let mut store = StoreState::signed_in(2, 7);
        let out = run_atomically(&policy(SessionRefresh::Rotate), &TTL, 0, refresh(1), &mut store);
        assert!(matches!(out, StepOut::Respond { reply: Reply::Err(HttpError::InvalidCredentials), .. }));
    }

    #[test]
    fn stable_id_keeps_the_token() {
        let mut store = StoreState::signed_in(1, 7);
        let out = run_atomically(&policy(SessionRefresh::StableId), &TTL, 1, refresh(1), &mut store);
        assert!(matches!(
            out,
            StepOut::Respond { reply: Reply::Ok { set_cookie: Some(SessionJwt { session: 1, exp: 5 }) }, .. }
        ));
        assert_eq!(store.row(1).map(|r| r.expires), Some(8));
    }
}
