//! Replay of a counterexample trace against a real server, to see whether the model's
//! interleaving happens there and whether the server ever does what the model forbids.
//!
//! A replay rebuilds the trace's model, extracts its HTTP exchanges and their groups
//! ([`plan`]), and computes every outcome the model allows for each group. Then, up to
//! `tries` times, it signs in afresh (the trace's initial session), sends each group's
//! requests (one group after the other; a group's requests together, from threads, the later
//! ones staggered by a delay that varies from try to try, in the trace's order on one pass
//! through the schedule and in the opposite order on the next), and compares each group's replies
//! with the model:
//! - outside the allowed outcomes: **diverged** (the server did what the model says it cannot:
//!   a model bug or a modelling gap), and the replay stops;
//! - the trace's own outcome: on to the next group; every group matched: **reproduced**;
//! - another allowed outcome (the server took another interleaving): this try ends, the next
//!   try starts; after `tries` tries: **not reproduced**.
//!
//! Replies are compared modulo the naming of tokens: model tokens are small integers in mint
//! order, real ones 64-character nanoids, so the replay keeps a bijection between model tokens
//! and real `session` claims, extended as new tokens are learned from responses, and a model
//! reply matches a real one when status, error code and (bijectively renamed) session agree.
//!
//! Time: the model's clock counts ticks from sign-in. Before a group whose server clock reads
//! `t` ticks, the replay waits until `t × tick` has passed since its sign-in.

pub mod client;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::model::policy::AuthMode;
use crate::model::server::{Credentials, Endpoint};
use crate::model::{HttpError, Node, RefreshModel, Reply, TabIx, Token, ATTACKER};
use client::{Auth, Client, ClientError, Mode, RealReply};
use plan::{Outcome, Plan, Request};

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
    access: BTreeMap<TabIx, String>,
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

/// Sends a group's requests: one directly, several from threads released together, the k-th
/// started `k × stagger` after the first, or, `reversed`, the last one first.
fn send_group(
    client: &Client,
    reqs: &[(Request, Auth)],
    stagger: Duration,
    reversed: bool,
) -> Result<Vec<RealReply>, ClientError> {
    let n = reqs.len();
    if let [(r, a)] = reqs {
        return Ok(vec![send_one(client, r, a)?]);
    }
    let barrier = Barrier::new(reqs.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = reqs
            .iter()
            .enumerate()
            .map(|(k, (r, a))| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let slot = if reversed { n - 1 - k } else { k };
                    if slot > 0 && !stagger.is_zero() {
                        std::thread::sleep(stagger * slot as u32);
                    }
                    send_one(client, r, a)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a request thread panicked")).collect()
    })
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
}

/// Replays `plan` against `client` and writes what the model and the server said to `out`.
pub fn run(
    model: &RefreshModel,
    plan: &Plan,
    client: &Client,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Summary, ReplayError> {
    let allowed: Vec<BTreeSet<Outcome>> = plan.groups.iter().map(|g| plan::allowed_outcomes(model, plan, g)).collect();
    let traced: Vec<BTreeSet<Outcome>> = plan.groups.iter().map(|g| plan::trace_outcomes(model, plan, g)).collect();
    let browser = model.cfg.browsers.first().copied().unwrap_or(0);
    let initial = match model.actors.get(browser) {
        Some(Node::Browser { cfg, token, .. }) => SignIn { mode: mode_of(cfg.mode), token: *token, tabs: cfg.tabs },
        _ => return Err(ReplayError::NoInitialSession),
    };
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
            allowed[gi].len()
        )?;
        for o in &allowed[gi] {
            writeln!(out, "    allowed: {}", outcome_text(o))?;
        }
        for o in &traced[gi] {
            writeln!(out, "    trace:   {}", outcome_text(o))?;
        }
    }
    let staggers = if opts.staggers.is_empty() { vec![Duration::ZERO] } else { opts.staggers.clone() };
    let tries = opts.tries.max(1);
    let mut summary = Summary { verdict: Verdict::NotReproduced { tries }, tries: 0, tally: BTreeMap::new() };
    let (mut first_match, mut first_divergence) = (None, None);
    for attempt in 1..=tries {
        let stagger = staggers[(attempt as usize - 1) % staggers.len()];
        // Every second pass through the schedule starts the requests in the opposite order:
        // which request's step must come first on the server is not always the one the trace's
        // server received first.
        let reversed = ((attempt as usize - 1) / staggers.len()) % 2 == 1;
        let order = if reversed { ", last request first" } else { "" };
        writeln!(out, "\ntry {attempt} of {tries} (stagger {} ms{order})", stagger.as_millis())?;
        let end = one_try(plan, &allowed, &traced, &initial, client, opts, (stagger, reversed), out)?;
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
    Ok(summary)
}

/// How one try ended.
enum TryEnd {
    /// Every group followed the trace.
    AsTraced,
    /// Group `group` took another interleaving the model allows.
    Other { group: usize, outcome: String },
    /// Group `group` got replies the model does not allow.
    Diverged { group: usize, outcome: String },
}

/// Real replies in words, sessions named by model token where bound and `new1`, `new2`, … in
/// order of appearance where not.
fn real_outcome_text(b: &Binding, real: &[RealReply]) -> String {
    let mut fresh: Vec<&str> = Vec::new();
    real.iter()
        .map(|r| {
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

/// How the trace's user is signed in at tick 0: the browser's mode, the session's model token.
struct SignIn {
    mode: Mode,
    token: Token,
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
    }
    if let Some(a) = &login.access_token {
        for t in 0..si.tabs {
            b.access.insert(t, a.clone());
        }
    }
    writeln!(out, "  sign-in ({}): {} = model token {}", si.mode.as_str(), login.text(), si.token)?;
    Ok(b)
}

/// One try: a fresh sign-in, then every group in order, until one leaves the trace.
#[allow(clippy::too_many_arguments)]
fn one_try(
    plan: &Plan,
    allowed: &[BTreeSet<Outcome>],
    traced: &[BTreeSet<Outcome>],
    initial: &SignIn,
    client: &Client,
    opts: &Options,
    (stagger, reversed): (Duration, bool),
    out: &mut dyn Write,
) -> Result<TryEnd, ReplayError> {
    let mut b = sign_in(client, opts, initial, out)?;
    let t0 = Instant::now();
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
            let r = plan.exchanges[i].request;
            let auth = b.auth_for(&r).map_err(|token| ReplayError::UnknownToken { group: gi + 1, token })?;
            reqs.push((r, auth));
        }
        let real = send_group(client, &reqs, stagger, reversed)?;
        let want: Vec<Option<Reply>> = g.exchanges.iter().map(|&i| plan.exchanges[i].reply).collect();
        let allowed_here = allowed[gi].iter().find_map(|o| {
            let w: Vec<Option<Reply>> = o.iter().copied().map(Some).collect();
            b.unify_all(&w, &real).map(|ab| (o, ab))
        });
        // Name real sessions by model tokens where the model allows the replies.
        let names = allowed_here.as_ref().map_or(&b, |(_, ab)| ab);
        writeln!(out, "  group {}:", gi + 1)?;
        for ((r, _), (w, got)) in reqs.iter().zip(want.iter().zip(&real)) {
            let named = got
                .session
                .as_deref()
                .or(got.refresh_token.as_deref())
                .and_then(|s| names.model_token(s))
                .map_or(String::new(), |m| format!(" (= model token {m})"));
            writeln!(
                out,
                "    {:<44} model: {:<34} server: {}{named} [{:.1} ms]",
                request_text(r),
                w.as_ref().map_or("(answered after the trace)".to_string(), model_reply_text),
                got.text(),
                got.millis
            )?;
        }
        let Some((which, ab)) = allowed_here else {
            let outcome = real_outcome_text(&b, &real);
            writeln!(out, "  -> DIVERGED: the model allows none of these replies ({outcome})")?;
            logout(client, &b, &real, out)?;
            return Ok(TryEnd::Diverged { group: gi + 1, outcome });
        };
        let follows = traced[gi].iter().find_map(|o| {
            let w: Vec<Option<Reply>> = o.iter().copied().map(Some).collect();
            b.unify_all(&w, &real)
        });
        match follows {
            Some(nb) => {
                b = nb;
                for ((r, _), got) in reqs.iter().zip(&real) {
                    if let Some(a) = &got.access_token {
                        b.access.insert(r.tab, a.clone());
                    }
                }
                writeln!(out, "  -> as in the trace")?;
            }
            None => {
                writeln!(out, "  -> allowed by the model ({}), but not the trace's interleaving", outcome_text(which))?;
                logout(client, &ab, &real, out)?;
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
        Reply::Ok { set_cookie: Some(SessionJwt { session: m, exp: 4 }), token: None, expires_at: Some(4) }
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
