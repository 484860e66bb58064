//! The API process of a session-table server (Directus): what a request carries, what a
//! handler in progress holds, and what one step produces. The handlers themselves are
//! programs in the `session_server` language, run by [`super::sessions`]; a model file's
//! Directus `server` section expands into one ([`crate::protocol::directus`]).
//!
//! [`super::sessions::step`] is pure (sans-IO): it takes the handler and its input and returns
//! either the next statement to send to the store or the HTTP response. The split driver (the
//! [`super::Node::Server`] actor) sends each statement as a message, so any other request's
//! statement can run in between; the atomic driver ([`super::sessions::run_atomically`], run
//! by the store) loops over the same steps in one action.
//!
//! The tests below pin the Directus preset's statements against the store: what each version
//! writes, the grace window's claim and re-read, the unique-constraint collision observed with
//! `refresh-check replay`, and the sign-out's delete. Sources: `api/src/services/
//! authentication.ts`, `api/src/controllers/auth.ts`, `api/src/utils/verify-session-jwt.ts` in
//! `@directus/api` 18.2.1 (directus 10.10.4) and 19.1.1 (10.11.1); PR 22433, 22353, 22503.

use serde::Serialize;

use super::policy::AuthMode;
use super::store::Sql;
use super::{ClientKey, Reply, SessionJwt, Tick, Token};

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

/// Where a handler is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Stage {
    /// Just received; nothing sent to the store yet.
    Received,
    /// Awaits the result of the statement it sent, which step `at` of its endpoint's program
    /// ([`super::sessions`]) reads; `issued` is the token it keeps for its answer (0: none);
    /// `orphan` is ghost (a write of the token it will answer with affected no row).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::{ServerPolicy, ServerSteps, SessionRefresh, StoreConcurrency};
    use crate::model::store::{SqlResult, StoreState};
    use crate::model::HttpError;
    use crate::protocol::sessions::SessionProgram;

    const TTL: Ttls = Ttls { refresh_token: 7, session_cookie: 4, access_token: 2, grace: 1 };

    /// The Directus preset of `p`, compiled.
    fn program(p: &ServerPolicy) -> SessionProgram {
        SessionProgram::compile(&crate::protocol::directus::expand(p, TTL.grace), "server").unwrap()
    }

    fn step(p: &ServerPolicy, ttl: &Ttls, now: Tick, h: Handler, input: Option<SqlResult>) -> StepOut {
        crate::model::sessions::step(&program(p), ttl, now, h, input).0
    }

    fn run_atomically(p: &ServerPolicy, ttl: &Ttls, now: Tick, h: Handler, store: &mut StoreState) -> StepOut {
        crate::model::sessions::run_atomically(&program(p), ttl, now, h, store)
    }

    /// The name of the step a handler awaits in.
    fn awaits(p: &ServerPolicy, h: &Handler) -> String {
        let Stage::Step { at, .. } = h.stage else { return "received".into() };
        crate::model::sessions::handler_of(&program(p), h.endpoint).steps[usize::from(at)].name.clone()
    }

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
        Reply::Ok { set_cookie: Some(SessionJwt { session, exp }), token: None, expires_at: Some(exp), access: None }
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
        assert_eq!(awaits(&p, &b), "W3 result");
        assert!(
            matches!(b.stage, Stage::Step { issued: 2, orphan: false, .. }),
            "the loser hands out the winner's token"
        );
        assert_eq!(awaits(&p, &a), "G1 result");
    }

    #[test]
    fn json_mode_renames_in_every_version_and_mode_binding_refuses_a_session_token() {
        let mut store = StoreState::signed_in(1, 7, AuthMode::Session);
        let json = request(Endpoint::Refresh, AuthMode::Json, 1, 2);
        let out = run_atomically(&policy(SessionRefresh::GraceWindow), &TTL, 0, json, &mut store);
        assert_eq!(reply(out), Reply::Ok { set_cookie: None, token: Some(2), expires_at: Some(2), access: None });
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
        assert_eq!(reply(json), Reply::Ok { set_cookie: None, token: Some(2), expires_at: Some(2), access: None });
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
