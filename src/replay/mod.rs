//! Replay of a trace against a real server, to see whether the model's interleaving happens
//! there and whether the server ever does what the model forbids.
//!
//! A replay rebuilds the trace's model, extracts its HTTP exchanges and their groups
//! ([`plan`]), and computes every outcome the model allows for each group, with the session
//! tables that go with it. Then, up to `tries` times, it signs in afresh (the trace's initial
//! session), sends each group's requests (one group after the other; a group's requests
//! together, from threads, the later ones staggered by a delay that varies from try to try, in
//! the trace's order on one pass through the schedule and in the opposite order on the next; a
//! request the trace sends only after an answer reached its browser waits for the real
//! answer, and carries what that answer carried), and compares each group's replies with the
//! model:
//! - outside the allowed outcomes: **diverged** (the server did what the model says it cannot:
//!   a model bug or a modelling gap), and the replay stops;
//! - the trace's own outcome: on to the next group; every group matched: **reproduced**;
//! - another allowed outcome (the server took another interleaving): this try ends, the next
//!   try starts; after `tries` tries: **not reproduced**.
//!
//! After each group, with `--database`, the server's `directus_sessions` is read (read-only,
//! [`db`]) and must be one of the tables the model allows with the observed outcome; and every
//! session cookie or access token the model says is live then is used once (`GET /users/me`)
//! and must be accepted. A difference in either is a divergence too.
//!
//! Replies are compared modulo the naming of tokens: model tokens are small integers in mint
//! order, real ones 64-character nanoids, so the replay keeps a bijection between model tokens
//! and real `session` claims, extended as new tokens are learned from responses, and a model
//! reply matches a real one when status, error code and (bijectively renamed) session agree.
//!
//! Time: the model's clock counts ticks from sign-in. Before a group whose server clock reads
//! `t` ticks, the replay waits until `t × tick` has passed since its sign-in; requests the trace
//! keeps in flight while the clock advances are sent when the trace's server receives them.
//! [`timing`] checks the tick against the server's configured durations first.

pub mod client;
pub mod db;
pub mod plan;
pub mod timing;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Barrier, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::model::policy::AuthMode;
use crate::model::server::{Credentials, Endpoint};
use crate::model::{HttpError, Node, RefreshModel, Reply, TabIx, Token, ATTACKER};
use client::{Auth, Client, ClientError, Mode, RealReply};
use db::{Clock, Db, RealRow};
use plan::{Allowed, Outcome, Plan, Request, Table};

/// How a replay runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The throwaway admin's e-mail.
    pub email: String,
    /// Its password.
    pub password: String,
    /// Tries at most: each is a fresh sign-in and a full replay of the trace.
    pub tries: u32,
    /// Wall-clock length of one model tick.
    pub tick: Duration,
    /// Delays between the starts of a group's requests; try `i` uses entry `i mod len`.
    pub staggers: Vec<Duration>,
    /// Make every try, even after a reproduction or a divergence, and tally the outcomes.
    pub all_tries: bool,
    /// The server's SQLite file, read after every group; `None`: no observation.
    pub database: Option<Db>,
}

/// The default stagger schedule, in milliseconds: 0 (together), then widening gaps, so that
/// both "both read before either writes" and "one reads after the other's write" occur within
/// a few tries on a server whose read-to-write window is a few milliseconds
/// (`directus-protocol.md` §5, E1b: 2–5 ms on this kind of machine).
pub const DEFAULT_STAGGERS_MS: [u64; 8] = [0, 1, 2, 4, 8, 16, 0, 32];

/// The result of a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every group matched the trace's outcome in try `at`.
    Reproduced {
        /// 1-based try.
        at: u32,
    },
    /// Every reply was allowed by the model, but no try followed the trace's interleaving.
    NotReproduced {
        /// Tries made.
        tries: u32,
    },
    /// In try `at`, group `group` got replies the model does not allow.
    Diverged {
        /// 1-based try.
        at: u32,
        /// 1-based group.
        group: usize,
    },
}

/// Why a replay could not run: the server could not be reached, or refused the sign-in.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Transport failure.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Sign-in refused.
    #[error("sign-in refused: {0} (check --email and --password)")]
    SignIn(String),
    /// The trace sends a cookie for a token the replay never learned.
    #[error("group {group}: the trace sends a cookie for model token {token}, which no reply has named")]
    UnknownToken {
        /// 1-based group.
        group: usize,
        /// The model token.
        token: Token,
    },
    /// The model has no browser to sign in for.
    #[error("the model has no browser; nothing to sign in for")]
    NoInitialSession,
    /// Writing the report failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The trace cannot be replayed.
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    /// The server's session table could not be read.
    #[error(transparent)]
    Db(#[from] db::DbError),
}

/// The directus error code of a model error.
pub fn error_code(e: HttpError) -> &'static str {
    match e {
        HttpError::InvalidPayload => "INVALID_PAYLOAD",
        HttpError::TokenExpired => "TOKEN_EXPIRED",
        HttpError::InvalidCredentials => "INVALID_CREDENTIALS",
        HttpError::Internal => "INTERNAL_SERVER_ERROR",
    }
}

/// A model reply in words.
pub fn model_reply_text(r: &Reply) -> String {
    match r {
        Reply::Ok { set_cookie, token, .. } => {
            let mut s = "200".to_string();
            if let Some(c) = set_cookie {
                s.push_str(&format!(", Set-Cookie session={}", c.session));
            }
            if let Some(t) = token {
                s.push_str(&format!(", refresh_token={t}"));
            }
            s
        }
        Reply::SignedOut => "204 signed out".into(),
        Reply::Err(e) => format!("{} {}", e.status(), error_code(*e)),
    }
}

/// An outcome in words: the replies, in group order.
pub fn outcome_text(o: &[Reply]) -> String {
    o.iter().map(model_reply_text).collect::<Vec<_>>().join(" / ")
}

/// The client's mode for a model mode.
pub fn mode_of(m: AuthMode) -> Mode {
    match m {
        AuthMode::Json => Mode::Json,
        AuthMode::Cookie => Mode::Cookie,
        AuthMode::Session => Mode::Session,
    }
}

/// Who sent a request, in words: `tab A`, or `attacker`.
pub fn sender_text(tab: TabIx) -> String {
    if tab == ATTACKER {
        "attacker".into()
    } else {
        format!("tab {}", crate::trace::tab_letter(tab))
    }
}

/// A request in words.
pub fn request_text(r: &Request) -> String {
    let what = match r.endpoint {
        Endpoint::Refresh => format!("POST /auth/refresh {}", r.cred.mode_str()),
        Endpoint::UsersMe => "GET /users/me".into(),
        Endpoint::Logout => format!("POST /auth/logout {}", r.cred.mode_str()),
    };
    let mut with = Vec::new();
    if let Some(c) = r.cred.cookie {
        with.push(format!("cookie session={}", c.session));
    }
    if let Some(t) = r.cred.token {
        with.push(format!("refresh_token={t}"));
    }
    if r.cred.access.is_some() {
        with.push("access token".into());
    }
    let with = if with.is_empty() { "nothing".to_string() } else { with.join(", ") };
    format!("{} {what} ({with})", sender_text(r.tab))
}

trait ModeStr {
    fn mode_str(&self) -> &'static str;
}

impl ModeStr for Credentials {
    fn mode_str(&self) -> &'static str {
        mode_of(self.mode).as_str()
    }
}

/// The bijection between model tokens and real session row tokens (a session JWT's `session`
/// claim, or a json or cookie-mode refresh token: the same column), the latest real session
/// cookie (JWT) known for each model token, and each sender's latest access token.
#[derive(Clone, Debug, Default)]
pub struct Binding {
    to_real: BTreeMap<Token, String>,
    to_model: BTreeMap<String, Token>,
    cookie: BTreeMap<Token, String>,
    /// The model's `exp` of the session JWT of each model token, in ticks.
    exp: BTreeMap<Token, crate::model::Tick>,
    access: BTreeMap<TabIx, String>,
    /// The model's `exp` of each sender's latest access token, in ticks.
    access_exp: BTreeMap<TabIx, crate::model::Tick>,
}

impl Binding {
    /// Binds model token `m` to real token `r`; false if either is bound to another.
    pub fn bind(&mut self, m: Token, r: &str) -> bool {
        match (self.to_real.get(&m), self.to_model.get(r)) {
            (Some(x), _) if x != r => false,
            (_, Some(y)) if *y != m => false,
            _ => {
                self.to_real.insert(m, r.to_owned());
                self.to_model.insert(r.to_owned(), m);
                true
            }
        }
    }

    /// The model token bound to a real token, if any.
    pub fn model_token(&self, real: &str) -> Option<Token> {
        self.to_model.get(real).copied()
    }

    /// The real token bound to model token `m`.
    pub fn real_token(&self, m: Token) -> Option<&str> {
        self.to_real.get(&m).map(String::as_str)
    }

    /// The latest real session cookie for model token `m`.
    pub fn cookie(&self, m: Token) -> Option<&str> {
        self.cookie.get(&m).map(String::as_str)
    }

    /// Whether `real` is what the model's `reply` says, under this binding extended as needed.
    pub fn unify(&mut self, reply: &Reply, real: &RealReply) -> bool {
        match reply {
            Reply::Ok { set_cookie, token, .. } => {
                if real.status != 200 {
                    return false;
                }
                let cookie_ok = match (set_cookie, &real.session, &real.cookie) {
                    (None, None, _) => true,
                    (Some(jwt), Some(session), Some(cookie)) => {
                        let ok = self.bind(jwt.session, session);
                        if ok {
                            self.cookie.insert(jwt.session, cookie.clone());
                            self.exp.insert(jwt.session, jwt.exp);
                        }
                        ok
                    }
                    _ => false,
                };
                let token_ok = match (token, &real.refresh_token) {
                    (None, None) => true,
                    (Some(m), Some(r)) => self.bind(*m, r),
                    _ => false,
                };
                cookie_ok && token_ok
            }
            Reply::SignedOut => real.status == 204 || real.status == 200,
            Reply::Err(e) => real.status == e.status() && real.code.as_deref() == Some(error_code(*e)),
        }
    }

    /// Unifies a whole group; `None` entries (no reply within the trace) match anything.
    pub fn unify_all(&self, want: &[Option<Reply>], real: &[RealReply]) -> Option<Binding> {
        let mut b = self.clone();
        want.iter().zip(real).all(|(w, r)| w.as_ref().is_none_or(|w| b.unify(w, r))).then_some(b)
    }

    /// Unifies the replies of the requests that were sent (`Some` in `real`); `None` entries
    /// of `want` (no reply within the trace) match anything.
    pub fn unify_some(&self, want: &[Option<Reply>], real: &[Option<RealReply>]) -> Option<Binding> {
        let mut b = self.clone();
        want.iter()
            .zip(real)
            .all(|(w, r)| match (w, r) {
                (Some(w), Some(r)) => b.unify(w, r),
                _ => true,
            })
            .then_some(b)
    }

    /// The real credentials for a model request, or the model token no reply has named yet.
    fn auth_for(&self, r: &Request) -> Result<Auth, Token> {
        let mut a = Auth::default();
        if let Some(jwt) = r.cred.cookie {
            a.session_cookie = Some(self.cookie(jwt.session).ok_or(jwt.session)?.to_owned());
        }
        if let Some(t) = r.cred.token {
            a.refresh_token = Some(self.real_token(t).ok_or(t)?.to_owned());
        }
        if r.cred.access.is_some() {
            // The model names an access token only by its expiry: the sender's latest.
            a.bearer = self.access.get(&r.tab).cloned();
        }
        Ok(a)
    }
}

/// Sends one request.
fn send_one(client: &Client, r: &Request, auth: &Auth) -> Result<RealReply, ClientError> {
    let mode = mode_of(r.cred.mode);
    match r.endpoint {
        Endpoint::Refresh => client.refresh(mode, auth),
        Endpoint::UsersMe => client.users_me(auth),
        Endpoint::Logout => client.logout(mode, auth),
    }
}

/// One request of a group as the replay sends it.
struct Outgoing {
    request: Request,
    /// Its credentials, when known before the group starts; `None` for a request that waits
    /// for answers ([`plan::Exchange::after`]) and takes its credentials from them.
    auth: Option<Auth>,
    /// Positions within the group of the answers it waits for.
    after: Vec<usize>,
}

/// What the threads of a group share: each request's result (`None`: not yet, or not sent).
type Results = Mutex<Vec<Option<Option<Result<RealReply, String>>>>>;

/// Sends a group's requests: one directly, several from threads released together; a request
/// without answers to wait for starts `slot × stagger` after the first (slots in the group's
/// order, or `reversed`, the last one first); a request that waits for answers starts when
/// they have arrived, with the credentials they carried (the trace's replies `traced` say which
/// model token each real answer names). Returns each request's reply, `None` for a request not
/// sent because an answer it waited for did not carry what the trace's did.
fn send_group(
    client: &Client,
    b: &Binding,
    reqs: &[Outgoing],
    traced: &[Option<Reply>],
    stagger: Duration,
    reversed: bool,
) -> Result<Vec<Option<RealReply>>, ClientError> {
    let n = reqs.len();
    if let [Outgoing { request, auth: Some(a), .. }] = reqs {
        return Ok(vec![Some(send_one(client, request, a)?)]);
    }
    let independent: Vec<usize> = (0..n).filter(|&k| reqs[k].after.is_empty()).collect();
    let barrier = Barrier::new(n);
    let results: Results = Mutex::new(vec![None; n]);
    let arrived = Condvar::new();
    let errors: Mutex<Option<ClientError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for (k, o) in reqs.iter().enumerate() {
            let (barrier, results, arrived, errors, independent) =
                (&barrier, &results, &arrived, &errors, &independent);
            s.spawn(move || {
                barrier.wait();
                let auth = if o.after.is_empty() {
                    let pos = independent.iter().position(|&i| i == k).unwrap_or(0);
                    let slot = if reversed { independent.len() - 1 - pos } else { pos };
                    if slot > 0 && !stagger.is_zero() {
                        std::thread::sleep(stagger * slot as u32);
                    }
                    o.auth.clone()
                } else {
                    let mut got = results.lock().expect("no thread panics holding it");
                    while o.after.iter().any(|&j| got[j].is_none()) {
                        got = arrived.wait(got).expect("no thread panics holding it");
                    }
                    // Learn what the answers waited for carried, as the trace's replies name it.
                    let mut nb = b.clone();
                    for &j in &o.after {
                        if let (Some(want), Some(Some(Ok(real)))) = (&traced[j], &got[j]) {
                            if nb.unify(want, real) {
                                if let Some(a) = &real.access_token {
                                    nb.access.insert(reqs[j].request.tab, a.clone());
                                }
                            }
                        }
                    }
                    drop(got);
                    nb.auth_for(&o.request).ok()
                };
                let result = match auth {
                    Some(a) => Some(send_one(client, &o.request, &a).map_err(|e| {
                        let text = e.to_string();
                        errors.lock().expect("no thread panics holding it").get_or_insert(e);
                        text
                    })),
                    None => None,
                };
                results.lock().expect("no thread panics holding it")[k] = Some(result);
                arrived.notify_all();
            });
        }
    });
    if let Some(e) = errors.into_inner().expect("no thread panicked") {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .expect("no thread panicked")
        .into_iter()
        .map(|r| r.flatten().and_then(Result::ok))
        .collect())
}

/// What a replay found: the verdict, and how each try ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The verdict.
    pub verdict: Verdict,
    /// Tries made.
    pub tries: u32,
    /// How many tries ended each way, by description.
    pub tally: BTreeMap<String, u32>,
    /// Session-table observations made, and how many matched a table the model allows.
    pub observations: (u32, u32),
    /// Live credentials used, and how many the server accepted.
    pub live_checks: (u32, u32),
    /// Groups whose answers arrived after the next tick was due.
    pub late: u32,
}

/// What the model says of the whole trace, computed once for every try.
struct Expect<'a> {
    model: &'a RefreshModel,
    plan: &'a Plan,
    allowed: Vec<Allowed>,
    traced: Vec<BTreeSet<Outcome>>,
    initial: SignIn,
    per_request_check: bool,
}

/// Replays `plan` against `client` and writes what the model and the server said to `out`.
pub fn run(
    model: &RefreshModel,
    plan: &Plan,
    client: &Client,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Summary, ReplayError> {
    let allowed: Vec<Allowed> = plan.groups.iter().map(|g| plan::allowed_outcomes(model, plan, g)).collect();
    plan::check_replayable(model, plan, &allowed)?;
    let traced: Vec<BTreeSet<Outcome>> = plan.groups.iter().map(|g| plan::trace_outcomes(model, plan, g)).collect();
    let browser = model.cfg.browsers.first().copied().unwrap_or(0);
    let initial = match model.actors.get(browser) {
        Some(Node::Browser { cfg, token, jwt, .. }) => {
            SignIn { mode: mode_of(cfg.mode), token: *token, exp: jwt.exp, tabs: cfg.tabs }
        }
        _ => return Err(ReplayError::NoInitialSession),
    };
    let per_request_check =
        matches!(model.actors.get(model.cfg.server), Some(Node::Server { policy, .. }) if policy.per_request_check);
    for (gi, g) in plan.groups.iter().enumerate() {
        let first = plan.exchanges[g.exchanges[0]].received;
        let last = g.exchanges.iter().filter_map(|&i| plan.exchanges[i].completed).max();
        writeln!(
            out,
            "group {}: {} request(s){} at tick {} (trace steps {}–{}); the model allows {} outcome(s)",
            gi + 1,
            g.exchanges.len(),
            if g.exchanges.len() > 1 { " in flight together" } else { "" },
            g.clock,
            first,
            last.map_or("end".to_string(), |l| l.to_string()),
            allowed[gi].outcomes.len()
        )?;
        for (pos, &i) in g.exchanges.iter().enumerate() {
            let x = &plan.exchanges[i];
            if !x.after.is_empty() {
                let names: Vec<String> = x
                    .after
                    .iter()
                    .filter_map(|j| g.exchanges.iter().position(|k| k == j))
                    .map(|p| format!("request {}", p + 1))
                    .collect();
                writeln!(
                    out,
                    "    request {} ({}) waits for the answer to {}",
                    pos + 1,
                    request_text(&x.request),
                    names.join(", ")
                )?;
            }
        }
        for o in allowed[gi].outcomes.keys() {
            writeln!(out, "    allowed: {}", outcome_text(o))?;
        }
        for o in &traced[gi] {
            writeln!(out, "    trace:   {}", outcome_text(o))?;
        }
    }
    if plan.last_clock > 0 {
        writeln!(out, "the trace's clock reaches tick {}: 1 tick = {} s", plan.last_clock, opts.tick.as_secs_f64())?;
    }
    let expect = Expect { model, plan, allowed, traced, initial, per_request_check };
    let staggers = if opts.staggers.is_empty() { vec![Duration::ZERO] } else { opts.staggers.clone() };
    let tries = opts.tries.max(1);
    let mut summary = Summary {
        verdict: Verdict::NotReproduced { tries },
        tries: 0,
        tally: BTreeMap::new(),
        observations: (0, 0),
        live_checks: (0, 0),
        late: 0,
    };
    let (mut first_match, mut first_divergence) = (None, None);
    for attempt in 1..=tries {
        let stagger = staggers[(attempt as usize - 1) % staggers.len()];
        // Every second pass through the schedule starts the requests in the opposite order:
        // which request's step must come first on the server is not always the one the trace's
        // server received first.
        let reversed = ((attempt as usize - 1) / staggers.len()) % 2 == 1;
        let order = if reversed { ", last request first" } else { "" };
        writeln!(out, "\ntry {attempt} of {tries} (stagger {} ms{order})", stagger.as_millis())?;
        let end = one_try(&expect, client, opts, (stagger, reversed), &mut summary, out)?;
        summary.tries = attempt;
        let key = match &end {
            TryEnd::AsTraced => "as in the trace".to_string(),
            TryEnd::Other { group, outcome } => format!("group {group}: another allowed outcome: {outcome}"),
            TryEnd::Diverged { group, outcome } => format!("group {group}: DIVERGED: {outcome}"),
        };
        *summary.tally.entry(key).or_insert(0) += 1;
        match end {
            TryEnd::AsTraced => {
                first_match.get_or_insert(attempt);
            }
            TryEnd::Diverged { group, .. } => {
                first_divergence.get_or_insert((attempt, group));
            }
            TryEnd::Other { .. } => {}
        }
        if !opts.all_tries && (first_match.is_some() || first_divergence.is_some()) {
            break;
        }
    }
    summary.verdict = match (first_divergence, first_match) {
        (Some((at, group)), _) => Verdict::Diverged { at, group },
        (None, Some(at)) => Verdict::Reproduced { at },
        (None, None) => Verdict::NotReproduced { tries },
    };
    writeln!(out, "\n{} tr{}:", summary.tries, if summary.tries == 1 { "y" } else { "ies" })?;
    for (k, n) in &summary.tally {
        writeln!(out, "  {n:>3} × {k}")?;
    }
    writeln!(out)?;
    match opts.database {
        Some(_) => writeln!(
            out,
            "database: {} observation(s) of directus_sessions, {} as the model's store",
            summary.observations.0, summary.observations.1
        )?,
        None => writeln!(out, "database: not observed (no --database)")?,
    }
    writeln!(
        out,
        "live tokens: {} used once, {} accepted by the server",
        summary.live_checks.0, summary.live_checks.1
    )?;
    if summary.late > 0 {
        writeln!(
            out,
            "late: {} group(s) answered after the next tick was due: --tick-seconds is too short for this server",
            summary.late
        )?;
    }
    Ok(summary)
}

/// How one try ended.
enum TryEnd {
    /// Every group followed the trace.
    AsTraced,
    /// Group `group` took another interleaving the model allows.
    Other { group: usize, outcome: String },
    /// Group `group` got replies, a session table or a refusal the model does not allow.
    Diverged { group: usize, outcome: String },
}

/// Real replies in words, sessions named by model token where bound and `new1`, `new2`, … in
/// order of appearance where not; a request not sent is `not sent`.
fn real_outcome_text(b: &Binding, real: &[Option<RealReply>]) -> String {
    let mut fresh: Vec<&str> = Vec::new();
    real.iter()
        .map(|r| {
            let Some(r) = r else { return "not sent".to_string() };
            let mut s = r.status.to_string();
            if let Some(c) = &r.code {
                s.push(' ');
                s.push_str(c);
            }
            for (label, sess) in
                [("Set-Cookie session", r.session.as_deref()), ("refresh_token", r.refresh_token.as_deref())]
            {
                let Some(sess) = sess else { continue };
                let name = match b.model_token(sess) {
                    Some(m) => m.to_string(),
                    None => {
                        let k = fresh.iter().position(|x| *x == sess).unwrap_or_else(|| {
                            fresh.push(sess);
                            fresh.len() - 1
                        });
                        format!("new{}", k + 1)
                    }
                };
                s.push_str(&format!(", {label}={name}"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// How the trace's user is signed in at tick 0: the browser's mode, the session's model token
/// and its JWT's `exp`.
struct SignIn {
    mode: Mode,
    token: Token,
    exp: crate::model::Tick,
    tabs: u8,
}

/// Signs in as the trace's initial state says and binds the session to its model token.
fn sign_in(client: &Client, opts: &Options, si: &SignIn, out: &mut dyn Write) -> Result<Binding, ReplayError> {
    let login = client.login(si.mode, &opts.email, &opts.password)?;
    let mut b = Binding::default();
    let real = match si.mode {
        Mode::Session => login.session.clone(),
        Mode::Json | Mode::Cookie => login.refresh_token.clone(),
    };
    let Some(real) = real.filter(|_| login.status == 200) else {
        return Err(ReplayError::SignIn(login.text()));
    };
    b.bind(si.token, &real);
    if let Some(c) = &login.cookie {
        b.cookie.insert(si.token, c.clone());
        b.exp.insert(si.token, si.exp);
    }
    if let Some(a) = &login.access_token {
        for t in 0..si.tabs {
            b.access.insert(t, a.clone());
        }
    }
    writeln!(out, "  sign-in ({}): {} = model token {}", si.mode.as_str(), login.text(), si.token)?;
    Ok(b)
}

/// The wall-clock time now, in milliseconds since the Unix epoch.
fn epoch_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The try's rows of the real table: those whose token was not there before its sign-in.
fn own_rows(db: &Db, before: &BTreeSet<String>) -> Result<Vec<RealRow>, ReplayError> {
    Ok(db.rows()?.into_iter().filter(|r| !before.contains(&r.token)).collect())
}

/// Observes the session table and compares it with `tables` (the model's, for the observed
/// outcome); returns the table that matched, or the difference in words.
fn observe(
    db: &Db,
    before: &BTreeSet<String>,
    tables: &BTreeSet<Table>,
    b: &Binding,
    clock: &Clock,
    ticks: (crate::model::Tick, crate::model::Tick),
    out: &mut dyn Write,
) -> Result<Result<Table, String>, ReplayError> {
    let real = own_rows(db, before)?;
    let mut why = None;
    for t in tables {
        match db::matches(&real, t, &b.to_real, clock, ticks) {
            Ok(()) => {
                writeln!(
                    out,
                    "    db: {} (as the model's store: {})",
                    db::real_text(&real, &b.to_real, clock),
                    db::model_text(t)
                )?;
                return Ok(Ok(t.clone()));
            }
            Err(e) => {
                why.get_or_insert(e);
            }
        }
    }
    let model: Vec<String> = tables.iter().map(|t| db::model_text(t)).collect();
    let text = format!(
        "the session table {} is none the model allows ({}): {}",
        db::real_text(&real, &b.to_real, clock),
        model.join(" | "),
        why.unwrap_or_else(|| "the model allows no table here".into())
    );
    writeln!(out, "    db: DIFFERS: {text}")?;
    Ok(Err(text))
}

/// Uses once every credential the model says is live at tick `now` and that has not been used
/// yet: each session cookie whose JWT has not expired and (with the per-request check) whose
/// row is live in `table`, each access token not expired. Returns the refusals, in words.
#[allow(clippy::too_many_arguments)]
fn check_live(
    client: &Client,
    b: &Binding,
    table: Option<&Table>,
    per_request_check: bool,
    now: crate::model::Tick,
    used: &mut BTreeSet<String>,
    summary: &mut Summary,
    out: &mut dyn Write,
) -> Result<Vec<String>, ReplayError> {
    let mut refused = Vec::new();
    let mut creds: Vec<(String, Auth)> = Vec::new();
    for (&m, cookie) in &b.cookie {
        let Some(&exp) = b.exp.get(&m) else { continue };
        let row_live = match table {
            Some(t) => t.iter().any(|r| r.token == m && r.expires >= now),
            None => false,
        };
        if exp >= now && (!per_request_check || row_live) {
            creds.push((
                format!("session cookie of token {m}"),
                Auth { session_cookie: Some(cookie.clone()), ..Auth::default() },
            ));
        }
    }
    for (&tab, access) in &b.access {
        if b.access_exp.get(&tab).is_some_and(|&exp| exp >= now) {
            creds.push((
                format!("{}'s access token", sender_text(tab)),
                Auth { bearer: Some(access.clone()), ..Auth::default() },
            ));
        }
    }
    for (name, auth) in creds {
        let key = format!("{:?}{:?}", auth.session_cookie, auth.bearer);
        if !used.insert(key) {
            continue;
        }
        let r = client.users_me(&auth)?;
        summary.live_checks.0 += 1;
        if r.status == 200 {
            summary.live_checks.1 += 1;
            writeln!(out, "    live: {name}: GET /users/me 200")?;
        } else {
            writeln!(out, "    live: {name}: GET /users/me {} — the model says it is live", r.text())?;
            refused.push(format!("{name}, live in the model, refused: {}", r.text()));
        }
    }
    Ok(refused)
}

/// One try: a fresh sign-in, then every group in order, until one leaves the trace.
fn one_try(
    e: &Expect,
    client: &Client,
    opts: &Options,
    (stagger, reversed): (Duration, bool),
    summary: &mut Summary,
    out: &mut dyn Write,
) -> Result<TryEnd, ReplayError> {
    let plan = e.plan;
    let before_rows: BTreeSet<String> = match &opts.database {
        Some(db) => db.rows()?.into_iter().map(|r| r.token).collect(),
        None => BTreeSet::new(),
    };
    let mut b = sign_in(client, opts, &e.initial, out)?;
    let t0 = Instant::now();
    let clock = Clock { t0_ms: epoch_ms(), tick_ms: opts.tick.as_secs_f64() * 1000.0 };
    let mut used: BTreeSet<String> = BTreeSet::new();
    let last_clock = plan.last_clock;
    if let Some(db) = &opts.database {
        let init = crate::model::store_at(&plan.initial, e.model.cfg.store).rows.clone();
        summary.observations.0 += 1;
        match observe(db, &before_rows, &[init].into_iter().collect(), &b, &clock, (0, last_clock), out)? {
            Ok(_) => summary.observations.1 += 1,
            Err(why) => {
                logout(client, &b, &[], out)?;
                return Ok(TryEnd::Diverged { group: 0, outcome: format!("after the sign-in: {why}") });
            }
        }
    }
    for (gi, g) in plan.groups.iter().enumerate() {
        let wait = opts.tick * u32::from(g.clock);
        if let Some(left) = wait.checked_sub(t0.elapsed()) {
            if !left.is_zero() {
                writeln!(out, "  wait {:.1} s: the model's clock reads {} tick(s)", left.as_secs_f64(), g.clock)?;
                std::thread::sleep(left);
            }
        }
        let mut reqs = Vec::new();
        for &i in &g.exchanges {
            let x = &plan.exchanges[i];
            let after: Vec<usize> = x.after.iter().filter_map(|j| g.exchanges.iter().position(|k| k == j)).collect();
            let auth = if after.is_empty() {
                Some(b.auth_for(&x.request).map_err(|token| ReplayError::UnknownToken { group: gi + 1, token })?)
            } else {
                None
            };
            reqs.push(Outgoing { request: x.request, auth, after });
        }
        let want: Vec<Option<Reply>> = g.exchanges.iter().map(|&i| plan.exchanges[i].reply).collect();
        let real = send_group(client, &b, &reqs, &want, stagger, reversed)?;
        let elapsed = t0.elapsed();
        let allowed = &e.allowed[gi];
        let allowed_here = allowed.outcomes.iter().find_map(|(o, tables)| {
            let w: Vec<Option<Reply>> = o.iter().copied().map(Some).collect();
            b.unify_some(&w, &real).map(|ab| (o, tables, ab))
        });
        // Name real sessions by model tokens where the model allows the replies.
        let names = allowed_here.as_ref().map_or(&b, |(_, _, ab)| ab);
        writeln!(out, "  group {}:", gi + 1)?;
        for (o, (w, got)) in reqs.iter().zip(want.iter().zip(&real)) {
            let model = w.as_ref().map_or("(answered after the trace)".to_string(), model_reply_text);
            let Some(got) = got else {
                writeln!(
                    out,
                    "    {:<44} model: {model:<34} server: not sent (an answer it waits for differs)",
                    request_text(&o.request)
                )?;
                continue;
            };
            let named = got
                .session
                .as_deref()
                .or(got.refresh_token.as_deref())
                .and_then(|s| names.model_token(s))
                .map_or(String::new(), |m| format!(" (= model token {m})"));
            let waited = if o.after.is_empty() { "" } else { " [after its answer]" };
            writeln!(
                out,
                "    {:<44} model: {model:<34} server: {}{named} [{:.1} ms]{waited}",
                request_text(&o.request),
                got.text(),
                got.millis
            )?;
        }
        if g.clock < last_clock && elapsed > opts.tick * (u32::from(g.clock) + 1) {
            summary.late += 1;
            writeln!(
                out,
                "  late: the answers came {:.2} s after the sign-in, after tick {} was due",
                elapsed.as_secs_f64(),
                g.clock + 1
            )?;
        }
        let Some((which, tables, ab)) = allowed_here else {
            let outcome = real_outcome_text(&b, &real);
            writeln!(out, "  -> DIVERGED: the model allows none of these replies ({outcome})")?;
            let sent: Vec<RealReply> = real.into_iter().flatten().collect();
            logout(client, &b, &sent, out)?;
            return Ok(TryEnd::Diverged { group: gi + 1, outcome });
        };
        // The model's view of the group's end, with the bindings its replies taught.
        let mut seen = ab.clone();
        for (o, got) in reqs.iter().zip(&real) {
            if let Some(a) = got.as_ref().and_then(|g| g.access_token.as_ref()) {
                seen.access.insert(o.request.tab, a.clone());
            }
        }
        for (k, (r, got)) in which.iter().zip(&real).enumerate() {
            if let (Reply::Ok { expires_at: Some(exp), .. }, Some(got)) = (r, got) {
                if got.access_token.is_some() {
                    seen.access_exp.insert(reqs[k].request.tab, *exp);
                }
            }
        }
        let mut table = None;
        if let Some(db) = &opts.database {
            summary.observations.0 += 1;
            match observe(db, &before_rows, tables, &seen, &clock, (g.clock, last_clock.max(g.clock)), out)? {
                Ok(t) => {
                    summary.observations.1 += 1;
                    table = Some(t);
                }
                Err(why) => {
                    writeln!(out, "  -> DIVERGED: {why}")?;
                    logout(client, &seen, &[], out)?;
                    return Ok(TryEnd::Diverged { group: gi + 1, outcome: format!("session table: {why}") });
                }
            }
        } else if tables.len() == 1 {
            table = tables.iter().next().cloned();
        }
        let refused = check_live(client, &seen, table.as_ref(), e.per_request_check, g.clock, &mut used, summary, out)?;
        if !refused.is_empty() {
            let why = refused.join("; ");
            writeln!(out, "  -> DIVERGED: {why}")?;
            logout(client, &seen, &[], out)?;
            return Ok(TryEnd::Diverged { group: gi + 1, outcome: format!("live token refused: {why}") });
        }
        let follows = e.traced[gi].iter().find_map(|o| {
            let w: Vec<Option<Reply>> = o.iter().copied().map(Some).collect();
            b.unify_some(&w, &real)
        });
        match follows.filter(|_| real.iter().all(Option::is_some)) {
            Some(mut nb) => {
                nb.access = seen.access.clone();
                nb.access_exp = seen.access_exp.clone();
                b = nb;
                writeln!(out, "  -> as in the trace")?;
            }
            None => {
                writeln!(out, "  -> allowed by the model ({}), but not the trace's interleaving", outcome_text(which))?;
                let sent: Vec<RealReply> = real.into_iter().flatten().collect();
                logout(client, &seen, &sent, out)?;
                return Ok(TryEnd::Other { group: gi + 1, outcome: outcome_text(which) });
            }
        }
    }
    logout(client, &b, &[], out)?;
    Ok(TryEnd::AsTraced)
}

/// Signs out of every session learned in this try (and of any cookie in `extra`), so that
/// tries leave no live session behind. Best effort: the replies are printed, not judged, and a
/// sign-out that fails below HTTP (a reset connection, a timeout) is printed too and does not
/// end the replay, whose tries so far stand.
fn logout(client: &Client, b: &Binding, extra: &[RealReply], out: &mut dyn Write) -> Result<(), ReplayError> {
    let mut said = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    // A session-mode session signs out with its cookie, another with its refresh token.
    let mut creds: Vec<(String, Mode, Auth)> = Vec::new();
    for (m, real) in &b.to_real {
        let auth = match b.cookie(*m) {
            Some(c) => (Mode::Session, Auth { session_cookie: Some(c.to_owned()), ..Auth::default() }),
            None => (Mode::Json, Auth { refresh_token: Some(real.clone()), ..Auth::default() }),
        };
        creds.push((format!("token {m}"), auth.0, auth.1));
    }
    for r in extra {
        if let Some(c) = &r.cookie {
            creds.push(("other".into(), Mode::Session, Auth { session_cookie: Some(c.clone()), ..Auth::default() }));
        } else if let Some(t) = &r.refresh_token {
            creds.push(("other".into(), Mode::Json, Auth { refresh_token: Some(t.clone()), ..Auth::default() }));
        }
    }
    for (name, mode, auth) in creds {
        let key = format!("{:?}{:?}", auth.session_cookie, auth.refresh_token);
        if done.insert(key) {
            match client.logout(mode, &auth) {
                Ok(r) => said.push(format!("{name}: {}", r.status)),
                Err(e) => said.push(format!("{name}: not signed out ({e})")),
            }
        }
    }
    writeln!(out, "  sign-out: {}", said.join(", "))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionJwt;

    fn real(status: u16, code: Option<&str>, session: Option<&str>) -> RealReply {
        RealReply {
            status,
            code: code.map(str::to_owned),
            cookie: session.map(|s| format!("jwt-{s}")),
            session: session.map(str::to_owned),
            refresh_token: None,
            access_token: None,
            millis: 0.0,
        }
    }

    fn ok(m: Token) -> Reply {
        Reply::Ok {
            set_cookie: Some(SessionJwt { session: m, exp: 4 }),
            token: None,
            expires_at: Some(4),
            access: None,
        }
    }

    #[test]
    fn tokens_unify_bijectively() {
        let mut b = Binding::default();
        assert!(b.bind(1, "s1"));
        // Two different model tokens cannot be one real session, and vice versa.
        let two_new = [Some(ok(2)), Some(ok(3))];
        assert!(b.unify_all(&two_new, &[real(200, None, Some("x")), real(200, None, Some("y"))]).is_some());
        assert!(b.unify_all(&two_new, &[real(200, None, Some("x")), real(200, None, Some("x"))]).is_none());
        assert!(b
            .unify_all(&[Some(ok(2)), Some(ok(2))], &[real(200, None, Some("x")), real(200, None, Some("y"))])
            .is_none());
        // A new model token cannot be the sign-in session.
        assert!(b.unify_all(&[Some(ok(2))], &[real(200, None, Some("s1"))]).is_none());
        let nb = b.unify_all(&[Some(ok(2))], &[real(200, None, Some("x"))]).unwrap();
        assert_eq!(nb.cookie(2), Some("jwt-x"));
        assert_eq!(nb.model_token("x"), Some(2));
    }

    #[test]
    fn errors_unify_by_status_and_code_and_unknown_replies_match_anything() {
        let b = Binding::default();
        let e = Some(Reply::Err(HttpError::InvalidCredentials));
        assert!(b.unify_all(&[e], &[real(401, Some("INVALID_CREDENTIALS"), None)]).is_some());
        assert!(b.unify_all(&[e], &[real(401, Some("TOKEN_EXPIRED"), None)]).is_none());
        assert!(b.unify_all(&[e], &[real(200, None, Some("x"))]).is_none());
        assert!(b.unify_all(&[None], &[real(500, Some("INTERNAL"), None)]).is_some());
    }
}
