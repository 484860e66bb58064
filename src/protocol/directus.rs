//! The Directus preset: a model file's `server` section (Directus 10.10, 10.11.1+, PR 22433)
//! expanded into the `session_server` language ([`super::sessions`]), step by step as the API
//! runs it, one statement per round trip to `directus_sessions`.
//!
//! Statement names are those of `shared/research/directus-protocol.md` §1.4–1.5: R1 (the
//! session select), W1 (the rename), G0–G3 (the 10.11.1 grace window), W3 (the purge).
//!
//! Sources: `api/src/services/authentication.ts` (`refresh()`, `updateStatefulSession`,
//! `logout()`), `api/src/controllers/auth.ts`, `api/src/middleware/extract-token.ts`,
//! `api/src/middleware/authenticate.ts`, `api/src/utils/get-accountability-for-token.ts` and
//! `api/src/utils/verify-session-jwt.ts` in `@directus/api` 18.2.1 (directus 10.10.4) and
//! 19.1.1 (10.11.1); Directus PR 22353 (per-request session check), PR 22433 (stable session
//! id, and the `type` column of its review), PR 22503 (the grace window).

use super::sessions::{
    SessionHandlerSpec, SessionRuleSpec, SessionServerSpec, SessionStepSpec, StoreSpec, Transactions,
};
use crate::model::policy::{ServerPolicy, ServerSteps, SessionRefresh};

const AUTH: &str = "@directus/api 19.1.1 api/src/services/authentication.ts";

fn rule(name: &str) -> SessionRuleSpec {
    SessionRuleSpec {
        name: name.into(),
        when: None,
        keep: None,
        run: None,
        next: None,
        reply: None,
        orphan: false,
        supersedes: false,
        source: None,
    }
}

impl SessionRuleSpec {
    fn when(mut self, w: &str) -> Self {
        self.when = Some(w.into());
        self
    }
    fn keep(mut self, k: &str) -> Self {
        self.keep = Some(k.into());
        self
    }
    fn run(mut self, st: &str, next: &str) -> Self {
        self.run = Some(st.into());
        self.next = Some(next.into());
        self
    }
    fn reply(mut self, r: &str) -> Self {
        self.reply = Some(r.into());
        self
    }
    fn source(mut self, s: &str) -> Self {
        self.source = Some(s.into());
        self
    }
}

fn step(name: &str, rules: Vec<SessionRuleSpec>) -> SessionStepSpec {
    SessionStepSpec { name: name.into(), rules }
}

/// Expands a Directus server policy into the language; `grace` is
/// `SESSION_REFRESH_GRACE_PERIOD` in ticks (the claimed reuse interval of the grace window).
pub fn expand(p: &ServerPolicy, grace_ticks: crate::model::Tick) -> SessionServerSpec {
    let grace = p.session_refresh.purges_expired();
    // Every refresh of the grace-window versions ends with W3, then answers.
    let finish = |r: SessionRuleSpec| if grace { r.run("purge expired", "W3 result") } else { r.reply("ok issued") };

    // Middleware, before every endpoint (`app.ts` order: `extract-token.ts`, `authenticate.ts`).
    let mut mw = vec![rule("expired session cookie")
        .when("session_cookie != none and session_cookie.exp < now")
        .reply("token_expired")
        .source("verifyAccessJWT: a session JWT past its exp is 401 TOKEN_EXPIRED")];
    let mut mw_steps = vec![];
    if p.per_request_check {
        mw.push(
            rule("check the session row")
                .when("session_cookie != none")
                .run("select session_cookie", "session row")
                .source("PR 22353 (10.11.1+) verifySessionJWT: SELECT the cookie's unexpired row"),
        );
        mw_steps.push(step(
            "session row",
            vec![rule("no session row").when("row == none").reply("invalid_credentials"), rule("pass").reply("pass")],
        ));
    }
    mw.push(rule("pass").reply("pass"));
    mw_steps.insert(0, step("session cookie", mw));

    // `POST /auth/refresh`: the token from the body (json), the refresh cookie (cookie) or the
    // session JWT's claim (session).
    let mut r1 = vec![rule("no session").when("row == none").reply("invalid_credentials")];
    if p.mode_bound {
        r1.push(
            rule("another mode")
                .when("row.mode != mode")
                .reply("invalid_credentials")
                .source("PR 22433 review: a `type` column; a token is redeemable only in its own mode"),
        );
    }
    let ttl = "now + refresh_token_ttl";
    let w1 = |name: &str, to: &str| {
        rule(name)
            .keep(to)
            .run(&format!("rename presented to {to} expires {ttl}"), "write result")
            .source("W1: UPDATE directus_sessions SET token = T', expires = now + REFRESH_TOKEN_TTL WHERE token = T")
    };
    match p.session_refresh {
        SessionRefresh::Rotate => r1.push(w1("W1 rename", "fresh").source("@directus/api 18.2.1 refresh() step 11")),
        SessionRefresh::StableId => {
            r1.push(
                rule("extend the session")
                    .when("mode == session")
                    .keep("presented")
                    .run(&format!("extend presented expires {ttl}"), "write result")
                    .source("PR 22433: keep the session token in session mode, only extend its row"),
            );
            r1.push(w1("W1 rename", "fresh"));
        }
        SessionRefresh::GraceWindow => {
            r1.push(
                w1("W1 rename onto next_token", "row.next")
                    .when("mode != session and row.next != none")
                    .source(&format!("{AUTH} refresh(): newRefreshToken = record.session_next_token ?? nanoid(64)")),
            );
            r1.push(w1("W1 rename", "fresh").when("mode != session"));
            r1.push(
                rule("G0 extend the successor")
                    .when("row.next != none")
                    .keep("row.next")
                    .run("extend row.next expires now + session_cookie_ttl", "G0 result")
                    .source(&format!("{AUTH} updateStatefulSession: a row with next_token hands it out")),
            );
            r1.push(
                rule("G1 claim")
                    .run("claim next of presented as fresh expires now + grace_period", "G1 result")
                    .source(&format!(
                        "{AUTH} updateStatefulSession: UPDATE … SET next_token, expires = now + GRACE WHERE token = T AND next_token IS NULL"
                    )),
            );
        }
    }
    let mut refresh = vec![
        step(
            "token",
            vec![
                rule("no token").when("presented == none").reply("invalid_payload"),
                rule("R1 select")
                    .run("select presented", "R1 result")
                    .source("R1: SELECT … FROM directus_sessions WHERE token = T AND expires >= now"),
            ],
        ),
        step("R1 result", r1),
        step(
            "write result",
            vec![
                rule("collision")
                    .when("collided")
                    .reply("server_error")
                    .source("SQLITE_CONSTRAINT UNIQUE, uncaught: 500 (observed with refresh-check replay)"),
                SessionRuleSpec { orphan: true, ..finish(rule("no row written").when("affected == 0")) },
                SessionRuleSpec { supersedes: true, ..finish(rule("rotated").when("issued == fresh")) },
                finish(rule("written")),
            ],
        ),
    ];
    if grace {
        refresh.extend([
            step(
                "G0 result",
                vec![
                    SessionRuleSpec { orphan: true, ..finish(rule("no row extended").when("affected == 0")) },
                    finish(rule("extended")),
                ],
            ),
            step(
                "G1 result",
                vec![
                    SessionRuleSpec {
                        supersedes: true,
                        ..rule("G3 insert the successor")
                            .when("affected == 1")
                            .keep("fresh")
                            .run("insert fresh expires now + session_cookie_ttl", "G3 result")
                    },
                    rule("G2 re-read next_token").run("select next of presented", "G2 result"),
                ],
            ),
            step(
                "G2 result",
                vec![
                    rule("row deleted meanwhile")
                        .when("row.next == none")
                        .reply("server_error")
                        .source(&format!("{AUTH}: destructuring the missing row throws: 500")),
                    finish(rule("the winner's successor").keep("row.next")),
                ],
            ),
            step(
                "G3 result",
                vec![
                    rule("collision").when("collided").reply("server_error").source("SQLITE_CONSTRAINT UNIQUE: 500"),
                    finish(rule("inserted")),
                ],
            ),
            step(
                "W3 result",
                vec![rule("answer").reply("ok issued").source(&format!(
                    "{AUTH}: DELETE FROM directus_sessions WHERE user = U AND expires < now, then the answer"
                ))],
            ),
        ]);
    }

    SessionServerSpec {
        store: StoreSpec {
            concurrency: p.store,
            transactions: match p.steps {
                ServerSteps::Split => Transactions::Statement,
                ServerSteps::Atomic => Transactions::Handler,
            },
        },
        reuse_interval: if grace { grace_ticks } else { 0 },
        cache: None,
        middleware: Some(SessionHandlerSpec { steps: mw_steps }),
        refresh: SessionHandlerSpec { steps: refresh },
        sign_out: SessionHandlerSpec {
            steps: vec![
                step(
                    "token",
                    vec![
                        rule("no token").when("presented == none").reply("invalid_payload"),
                        rule("delete")
                            .run("delete presented", "deleted")
                            .source("AuthenticationService.logout: DELETE FROM directus_sessions WHERE token = T"),
                    ],
                ),
                step("deleted", vec![rule("signed out").reply("signed_out").source("both cookies cleared")]),
            ],
        },
        request: SessionHandlerSpec {
            steps: vec![step(
                "authenticate",
                vec![
                    rule("session cookie").when("session_cookie != none").reply("ok"),
                    rule("access token").when("access and access.exp >= now").reply("ok"),
                    rule("expired access token").when("access").reply("token_expired"),
                    rule("no credentials").reply("invalid_credentials"),
                ],
            )],
        },
        wording: Default::default(),
    }
}
