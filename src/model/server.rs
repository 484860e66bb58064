//! The Directus API process: request handlers as explicit step machines.
//!
//! A handler is created when a request arrives and advances one step per database reply.
//! [`step`] is pure (sans-IO): it takes the handler and its input and returns either the next
//! statement to send to the store or the HTTP response. The split driver (the
//! [`super::Node::Server`] actor) sends each statement as a message, so any other request's
//! statement can run in between; the atomic driver ([`run_atomically`], run by the store) loops
//! over the same steps in one action.
//!
//! Middleware, before every endpoint (`api/src/app.ts` order; `extract-token.ts`,
//! `authenticate.ts`): a session cookie past its `exp` → 401 `TOKEN_EXPIRED`
//! (`verifyAccessJWT`, synchronous); with the per-request check (PR 22353, 10.11.1+)
//! `verifySessionJWT` selects the cookie's row, none → 401 `INVALID_CREDENTIALS`. This runs
//! for `/auth/refresh` and `/auth/logout` too.
//!
//! `POST /auth/refresh` (names from `directus-protocol.md` §1.4–1.5): the token comes from the
//! body (json), the refresh cookie (cookie) or the session JWT's claim (session); none → 400
//! `INVALID_PAYLOAD`. R1 selects the row; none → 401 `INVALID_CREDENTIALS`; a row of another
//! mode with mode-bound sessions → 401. Then the write, by mode and [`SessionRefresh`]: W1
//! rename (count ignored), the PR 22433 extension, or the grace window G0/G1/G2/G3; with the
//! grace window every refresh ends with W3. The response sets the new session cookie (session),
//! the refresh cookie (cookie) or returns the token in the body (json).
//!
//! `GET /users/me`: authenticated by the session cookie (the middleware above) or by an access
//! token (json and cookie mode: a JWT checked for `exp` only); neither → 401.
//! `POST /auth/logout {mode}`: deletes the presented token's row and clears both cookies.
//!
//! Sources: `api/src/services/authentication.ts`, `api/src/controllers/auth.ts`,
//! `api/src/utils/get-accountability-for-token.ts`, `api/src/utils/verify-session-jwt.ts` in
//! `@directus/api` 18.2.1 (directus 10.10.4) and 19.1.1 (10.11.1); PR 22433, 22353, 22503.

use serde::Serialize;

use super::policy::{AuthMode, ServerPolicy, SessionRefresh};
use super::store::{Sql, SqlResult, StoreState};
use super::{ClientKey, HttpError, Reply, SessionJwt, Tick, Token};

/// The endpoint a handler serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Endpoint {
    /// `POST /auth/refresh` with `{"mode": …}`.
    Refresh,
    /// `GET /users/me`: an ordinary authenticated request.
    UsersMe,
    /// `POST /auth/logout` with `{"mode": …}`.
    Logout,
}

/// What a request carries: its mode and the credentials that travel with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Credentials {
    /// `body.mode` of a refresh or logout (ordinary requests: the client's mode).
    pub mode: AuthMode,
    /// The `directus_session_token` cookie, if the request carries one.
    pub cookie: Option<SessionJwt>,
    /// The opaque refresh token: the body's `refresh_token` (json) or the
    /// `directus_refresh_token` cookie (cookie mode).
    pub token: Option<Token>,
    /// A Bearer access token (json and cookie mode), by its `exp` in ticks.
    pub access: Option<Tick>,
}

impl Credentials {
    /// The refresh token the endpoint uses: the session claim in session mode, the opaque
    /// token otherwise (`api/src/controllers/auth.ts`).
    pub fn presented(&self) -> Option<Token> {
        match self.mode {
            AuthMode::Session => self.cookie.map(|j| j.session),
            AuthMode::Json | AuthMode::Cookie => self.token,
        }
    }
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
    /// Awaits W1 (rename) or the PR 22433 extension; `issues` is the token the response carries.
    Write { issues: Token },
    /// Awaits G0, the successor's extension; the response carries `issues`.
    G0 { issues: Token },
    /// Awaits G1, the conditional claim of `next_token`.
    G1,
    /// Awaits G2, the loser's re-read of `next_token`.
    G2,
    /// Awaits G3, the insert of the successor `issues`.
    G3 { issues: Token },
    /// Awaits W3, the purge of expired rows; then answers with `issues`.
    W3 { issues: Token, orphan: bool },
    /// Awaits the sign-out's `DELETE`.
    Logout,
    /// A handler run by the `session_server` interpreter ([`super::sessions`]): awaits the
    /// result that step `at` of its endpoint's program reads; `issued` is the token it keeps for
    /// its answer (0: none); `orphan` is ghost (its write affected no row).
    Step { at: u8, issued: Token, orphan: bool },
}

/// One request in progress inside the API process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Handler {
    /// Who sent the request (the reply goes back there).
    pub client: ClientKey,
    /// What was asked.
    pub endpoint: Endpoint,
    /// What the request carried.
    pub cred: Credentials,
    /// The fresh token this handler will mint if it rotates (Directus calls `nanoid(64)` after
    /// R1; drawing it at arrival is indistinguishable, since it is secret until sent).
    pub fresh: Token,
    /// Progress.
    pub stage: Stage,
    /// Ghost: the mode R1's row was issued for.
    pub row_kind: Option<AuthMode>,
    /// Ghost: the request arrived after a sign-out had been answered.
    pub after_sign_out: bool,
    /// Ghost: the tick at which the presented token was last checked (on arrival, or the clock
    /// value R1 compared `expires` with): when it was accepted, if the answer is 2xx.
    pub checked_at: Tick,
    /// Ghost: the attacker's theft mark when the request arrived (see
    /// [`super::ServerGhost::theft_mark`]).
    pub theft_mark: Option<Token>,
}

/// What one step produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum StepOut {
    /// Send this statement and wait for its result.
    Query(Handler, Sql),
    /// Answer the client; the handler `h` is finished. `orphan` is ghost state: the token
    /// handed out names no row (its write affected none; the server itself ignores the count).
    Respond { h: Handler, reply: Reply, orphan: bool },
}

/// The time-to-live values a handler uses, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ttls {
    /// `REFRESH_TOKEN_TTL`: a row's lifetime after sign-in, and after a rotation (W1).
    pub refresh_token: Tick,
    /// `SESSION_COOKIE_TTL`: the session JWT's `exp`, the cookie's max-age, and (10.11.1+) the
    /// successor row's lifetime.
    pub session_cookie: Tick,
    /// `ACCESS_TOKEN_TTL`: an access token's `exp` in json and cookie mode.
    pub access_token: Tick,
    /// `SESSION_REFRESH_GRACE_PERIOD` (10.11.1+): how long a superseded row stays redeemable.
    pub grace: Tick,
}

/// Advances `h` by one step. `input` is `None` when the request has just arrived, otherwise
/// the result of the statement the handler awaited. `now` is the API process's clock.
pub fn step(policy: &ServerPolicy, ttl: &Ttls, now: Tick, mut h: Handler, input: Option<SqlResult>) -> StepOut {
    let err = |h: Handler, e: HttpError| StepOut::Respond { h, reply: Reply::Err(e), orphan: false };
    match (h.stage, input) {
        (Stage::Received, _) => {
            h.checked_at = now;
            if let Some(jwt) = h.cred.cookie {
                if jwt.exp < now {
                    return err(h, HttpError::TokenExpired);
                }
                if policy.per_request_check {
                    h.stage = Stage::SessionCheck;
                    return StepOut::Query(h, Sql::SelectSession { token: jwt.session, now });
                }
            }
            after_middleware(now, h)
        }
        (Stage::SessionCheck, Some(SqlResult::Row(row))) => match row {
            Some(_) => after_middleware(now, h),
            None => err(h, HttpError::InvalidCredentials),
        },
        (Stage::R1, Some(SqlResult::Row(row))) => {
            let (Some(row), Some(token)) = (row, h.cred.presented()) else {
                return err(h, HttpError::InvalidCredentials);
            };
            h.row_kind = Some(row.kind);
            if policy.mode_bound && row.kind != h.cred.mode {
                return err(h, HttpError::InvalidCredentials);
            }
            let mode = h.cred.mode;
            let rename = |h: &mut Handler, to: Token| {
                let expires = now.saturating_add(ttl.refresh_token);
                h.stage = Stage::Write { issues: to };
                Sql::Rename { from: token, to, expires, kind: mode, now }
            };
            let sql = match (mode, policy.session_refresh) {
                // 10.11.1+ (`@directus/api` 19.1.1 `refresh()`): `newRefreshToken =
                // record.session_next_token ?? nanoid(64)` in every mode, so a json or cookie
                // refresh of a token inside its grace window renames the row onto its
                // successor's token: SQLITE_CONSTRAINT UNIQUE once G3 has inserted it.
                (AuthMode::Json | AuthMode::Cookie, SessionRefresh::GraceWindow) => {
                    let to = row.next_token.unwrap_or(h.fresh);
                    rename(&mut h, to)
                }
                (AuthMode::Json | AuthMode::Cookie, _) | (AuthMode::Session, SessionRefresh::Rotate) => {
                    let to = h.fresh;
                    rename(&mut h, to)
                }
                (AuthMode::Session, SessionRefresh::StableId) => {
                    h.stage = Stage::Write { issues: token };
                    Sql::Extend { token, expires: now.saturating_add(ttl.refresh_token) }
                }
                (AuthMode::Session, SessionRefresh::GraceWindow) => match row.next_token {
                    Some(next) => {
                        h.stage = Stage::G0 { issues: next };
                        Sql::Extend { token: next, expires: now.saturating_add(ttl.session_cookie) }
                    }
                    None => {
                        h.stage = Stage::G1;
                        Sql::ClaimNext { token, next: h.fresh, expires: now.saturating_add(ttl.grace), now }
                    }
                },
            };
            StepOut::Query(h, sql)
        }
        (Stage::Write { issues } | Stage::G0 { issues }, Some(SqlResult::Affected(n))) => {
            finish(policy, ttl, now, h, issues, n == 0)
        }
        (Stage::G1, Some(SqlResult::Affected(n))) => {
            let token = h.cred.presented().expect("G1 follows R1 of a presented token");
            if n == 1 {
                h.stage = Stage::G3 { issues: h.fresh };
                let expires = now.saturating_add(ttl.session_cookie);
                StepOut::Query(h, Sql::Insert { token: h.fresh, expires, kind: AuthMode::Session })
            } else {
                h.stage = Stage::G2;
                StepOut::Query(h, Sql::SelectNext { token })
            }
        }
        (Stage::G2, Some(SqlResult::Next(next))) => match next {
            Some(next) => finish(policy, ttl, now, h, next, false),
            // `const { next_token } = await …first()` on a row deleted meanwhile: a TypeError,
            // answered 500 by the error handler.
            None => err(h, HttpError::Internal),
        },
        (Stage::G3 { issues }, Some(SqlResult::Affected(_))) => finish(policy, ttl, now, h, issues, false),
        // The rename (W1) or the insert (G3) collided with an existing token: an uncaught
        // SQLITE_CONSTRAINT, answered 500 by the error handler.
        (Stage::Write { .. } | Stage::G3 { .. }, Some(SqlResult::UniqueViolation)) => err(h, HttpError::Internal),
        (Stage::W3 { issues, orphan }, Some(SqlResult::Affected(_))) => respond_grant(ttl, now, h, issues, orphan),
        (Stage::Logout, Some(SqlResult::Affected(_))) => StepOut::Respond { h, reply: Reply::SignedOut, orphan: false },
        (stage, input) => unreachable!("handler at {stage:?} cannot take {input:?}"),
    }
}

/// The endpoint's own work, after the middleware let the request through.
fn after_middleware(now: Tick, mut h: Handler) -> StepOut {
    match h.endpoint {
        Endpoint::UsersMe => {
            let reply = match (h.cred.cookie, h.cred.access) {
                (Some(_), _) => Reply::Ok { set_cookie: None, token: None, expires_at: None },
                (None, Some(exp)) if exp >= now => Reply::Ok { set_cookie: None, token: None, expires_at: None },
                (None, Some(_)) => Reply::Err(HttpError::TokenExpired),
                (None, None) => Reply::Err(HttpError::InvalidCredentials),
            };
            StepOut::Respond { h, reply, orphan: false }
        }
        Endpoint::Refresh | Endpoint::Logout => {
            let Some(token) = h.cred.presented() else {
                return StepOut::Respond { h, reply: Reply::Err(HttpError::InvalidPayload), orphan: false };
            };
            if h.endpoint == Endpoint::Refresh {
                h.stage = Stage::R1;
                h.checked_at = now;
                StepOut::Query(h, Sql::SelectSession { token, now })
            } else {
                h.stage = Stage::Logout;
                StepOut::Query(h, Sql::Delete { token })
            }
        }
    }
}

/// After the write: W3 if the version purges, then the response.
fn finish(policy: &ServerPolicy, ttl: &Ttls, now: Tick, mut h: Handler, issues: Token, orphan: bool) -> StepOut {
    if policy.session_refresh.purges_expired() {
        h.stage = Stage::W3 { issues, orphan };
        StepOut::Query(h, Sql::PurgeExpired { now })
    } else {
        respond_grant(ttl, now, h, issues, orphan)
    }
}

/// The 200 of a refresh that hands out `issues`, by mode (`api/src/controllers/auth.ts`).
fn respond_grant(ttl: &Ttls, now: Tick, h: Handler, issues: Token, orphan: bool) -> StepOut {
    let reply = match h.cred.mode {
        AuthMode::Session => {
            let exp = now.saturating_add(ttl.session_cookie);
            Reply::Ok { set_cookie: Some(SessionJwt { session: issues, exp }), token: None, expires_at: Some(exp) }
        }
        AuthMode::Json | AuthMode::Cookie => {
            Reply::Ok { set_cookie: None, token: Some(issues), expires_at: Some(now.saturating_add(ttl.access_token)) }
        }
    };
    StepOut::Respond { h, reply, orphan }
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
    use crate::model::policy::{ServerSteps, StoreConcurrency};

    const TTL: Ttls = Ttls { refresh_token: 7, session_cookie: 4, access_token: 2, grace: 1 };

    fn policy(session_refresh: SessionRefresh) -> ServerPolicy {
        ServerPolicy {
            session_refresh,
            steps: ServerSteps::Split,
            per_request_check: false,
            mode_bound: false,
            store: StoreConcurrency::Pool,
        }
    }

    fn request(endpoint: Endpoint, mode: AuthMode, token: Token, fresh: Token) -> Handler {
        let cookie = (mode == AuthMode::Session).then_some(SessionJwt { session: token, exp: 4 });
        let opaque = (mode != AuthMode::Session).then_some(token);
        Handler {
            client: ClientKey { browser: 0, tab: 0 },
            endpoint,
            cred: Credentials { mode, cookie, token: opaque, access: None },
            fresh,
            stage: Stage::Received,
            row_kind: None,
            after_sign_out: false,
            checked_at: 0,
            theft_mark: None,
        }
    }

    fn refresh(token: Token) -> Handler {
        request(Endpoint::Refresh, AuthMode::Session, token, 2)
    }

    fn reply(out: StepOut) -> Reply {
        match out {
            StepOut::Respond { reply, .. } => reply,
            StepOut::Query(..) => panic!("not finished"),
        }
    }

    fn cookie(session: Token, exp: Tick) -> Reply {
        Reply::Ok { set_cookie: Some(SessionJwt { session, exp }), token: None, expires_at: Some(exp) }
    }

    #[test]
    fn rotate_renames_the_row_and_issues_the_fresh_token() {
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        let out = run_atomically(&policy(SessionRefresh::Rotate), &TTL, 0, refresh(1), &mut store);
        assert_eq!(reply(out), cookie(2, 4));
        assert!(matches!(out, StepOut::Respond { orphan: false, .. }));
        assert!(store.row(1).is_none() && store.row(2).is_some());
    }

    #[test]
    fn rotate_after_a_rename_is_unauthorized() {
        let mut store = StoreState::signed_in(2, 7, AuthMode::Session);
        let out = run_atomically(&policy(SessionRefresh::Rotate), &TTL, 0, refresh(1), &mut store);
        assert_eq!(reply(out), Reply::Err(HttpError::InvalidCredentials));
    }

    #[test]
    fn stable_id_keeps_the_token() {
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        let out = run_atomically(&policy(SessionRefresh::StableId), &TTL, 1, refresh(1), &mut store);
        assert_eq!(reply(out), cookie(1, 5));
        assert_eq!(store.row(1).map(|r| r.expires), Some(8));
    }

    #[test]
    fn grace_window_hands_every_refresh_inside_the_grace_the_same_successor() {
        let p = policy(SessionRefresh::GraceWindow);
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        assert_eq!(reply(run_atomically(&p, &TTL, 0, refresh(1), &mut store)), cookie(2, 4));
        let row1 = *store.row(1).unwrap();
        assert_eq!((row1.next_token, row1.expires), (Some(2), 1), "G1: next_token set, expires = now + grace");
        // A second refresh with the old cookie, one tick later: G0 returns 2 and extends it.
        let mut again = refresh(1);
        again.fresh = 3;
        assert_eq!(reply(run_atomically(&p, &TTL, 1, again, &mut store)), cookie(2, 5));
        assert_eq!(store.row(2).map(|r| r.expires), Some(5));
        // Two ticks after the rotation the grace is over: R1 finds no unexpired row.
        let mut late = refresh(1);
        late.fresh = 4;
        assert_eq!(reply(run_atomically(&p, &TTL, 2, late, &mut store)), Reply::Err(HttpError::InvalidCredentials));
    }

    #[test]
    fn grace_window_loser_rereads_the_winner() {
        let p = policy(SessionRefresh::GraceWindow);
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        // Both pass R1 before either claims.
        let StepOut::Query(a, r1a) = step(&p, &TTL, 0, refresh(1), None) else { panic!() };
        let mut b = refresh(1);
        b.fresh = 3;
        let StepOut::Query(b, r1b) = step(&p, &TTL, 0, b, None) else { panic!() };
        let (ra, rb) = (store.exec(r1a), store.exec(r1b));
        let StepOut::Query(a, g1a) = step(&p, &TTL, 0, a, Some(ra)) else { panic!() };
        let StepOut::Query(b, g1b) = step(&p, &TTL, 0, b, Some(rb)) else { panic!() };
        let (ga, gb) = (store.exec(g1a), store.exec(g1b));
        assert_eq!((ga, gb), (SqlResult::Affected(1), SqlResult::Affected(0)));
        let StepOut::Query(b, g2) = step(&p, &TTL, 0, b, Some(gb)) else { panic!() };
        assert_eq!(g2, Sql::SelectNext { token: 1 });
        let StepOut::Query(b, w3) = step(&p, &TTL, 0, b, Some(store.exec(g2))) else { panic!() };
        assert_eq!(w3, Sql::PurgeExpired { now: 0 });
        assert_eq!(b.stage, Stage::W3 { issues: 2, orphan: false }, "the loser hands out the winner's token");
        assert_eq!(a.stage, Stage::G1);
    }

    #[test]
    fn json_mode_renames_in_every_version_and_mode_binding_refuses_a_session_token() {
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        let json = request(Endpoint::Refresh, AuthMode::Json, 1, 2);
        let out = run_atomically(&policy(SessionRefresh::GraceWindow), &TTL, 0, json, &mut store);
        assert_eq!(reply(out), Reply::Ok { set_cookie: None, token: Some(2), expires_at: Some(2) });
        assert_eq!(store.row(2).map(|r| r.kind), Some(AuthMode::Json));
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        let bound = ServerPolicy { mode_bound: true, ..policy(SessionRefresh::GraceWindow) };
        let out = run_atomically(&bound, &TTL, 0, json, &mut store);
        assert_eq!(reply(out), Reply::Err(HttpError::InvalidCredentials));
        assert!(store.row(1).is_some());
    }

    /// Observed by `refresh-check replay` on Directus 10.11.1 and 12.4.1: a session refresh and
    /// a json refresh of the same token at once; the session refresh (G1, G3) finishes first, the
    /// json refresh then renames the old row onto its `next_token` and the server logs
    /// `SQLITE_CONSTRAINT: UNIQUE constraint failed: directus_sessions.token` and answers 500.
    #[test]
    fn json_refresh_inside_the_grace_window_collides_with_the_successor() {
        let p = policy(SessionRefresh::GraceWindow);
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        assert_eq!(reply(run_atomically(&p, &TTL, 0, refresh(1), &mut store)), cookie(2, 4));
        let json = request(Endpoint::Refresh, AuthMode::Json, 1, 3);
        assert_eq!(reply(run_atomically(&p, &TTL, 0, json, &mut store)), Reply::Err(HttpError::Internal));
        assert_eq!(store.rows.iter().map(|r| r.token).collect::<Vec<_>>(), vec![1, 2], "nothing changed");
        // The other order: the json refresh renames 1 onto 2 between G1 and G3, and G3's INSERT
        // of 2 collides.
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        let StepOut::Query(a, r1) = step(&p, &TTL, 0, refresh(1), None) else { panic!() };
        let StepOut::Query(a, g1) = step(&p, &TTL, 0, a, Some(store.exec(r1))) else { panic!() };
        assert!(matches!(g1, Sql::ClaimNext { token: 1, next: 2, .. }));
        let claimed = store.exec(g1);
        let json = run_atomically(&p, &TTL, 0, request(Endpoint::Refresh, AuthMode::Json, 1, 3), &mut store);
        assert_eq!(reply(json), Reply::Ok { set_cookie: None, token: Some(2), expires_at: Some(2) });
        let StepOut::Query(a, g3) = step(&p, &TTL, 0, a, Some(claimed)) else { panic!() };
        assert_eq!(g3, Sql::Insert { token: 2, expires: 4, kind: AuthMode::Session });
        assert_eq!(reply(step(&p, &TTL, 0, a, Some(store.exec(g3)))), Reply::Err(HttpError::Internal));
    }

    #[test]
    fn logout_deletes_the_presented_row() {
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        let out = run_atomically(
            &policy(SessionRefresh::GraceWindow),
            &TTL,
            0,
            request(Endpoint::Logout, AuthMode::Session, 1, 2),
            &mut store,
        );
        assert_eq!(reply(out), Reply::SignedOut);
        assert!(store.rows.is_empty() && store.ghost.signed_out);
    }
}
