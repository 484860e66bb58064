//! What each step of the Directus model means in words: actor, action name, sentence, message,
//! and the snapshot of the global state. This is the only part of the trace layer that knows
//! the model's message and state types.

use stateright::actor::{ActorModelAction, Id};

use super::{tab_letter, MessageView, Snapshot, TabView};
use crate::model::browser::{BrowserState, TabStatus};
use crate::model::policy::{AuthMode, JsonStorage};
use crate::model::server::{Credentials, Handler, Stage};
use crate::model::store::{Row, Sql, SqlResult};
use crate::model::{
    self, Action, HttpError, Msg, Node, RefreshModel, Reply, SessionJwt, State, TabIx, Tick, Timer, Token, ATTACKER,
};
use crate::properties;
use crate::protocol::sessions::SessionProgram;
use crate::protocol::wording::{self, Wording};

/// Browser `browser`'s sign-ins again are the user's password changes
/// (`browser.re_sign_in_is: password-change`).
fn password_change(m: &RefreshModel, browser: usize) -> bool {
    matches!(&m.actors[browser], Node::Browser { cfg, .. } if cfg.re_sign_in_is == model::policy::ReSignIn::PasswordChange)
}

/// The model's protocol has a `password_change` handler (which serves the sign-ins again).
fn has_password_change_handler(m: &RefreshModel) -> bool {
    matches!(m.actors.get(m.cfg.server), Some(Node::AuthServer { protocol, .. }) if protocol.password_change.is_some())
}

/// What browser `browser`'s sign-in request is called in traces: `"password change"` on a
/// device signed in when the run starts whose sign-ins again are password changes, else
/// `"sign-in"`.
fn sign_in_noun(m: &RefreshModel, browser: usize) -> &'static str {
    match &m.actors[browser] {
        Node::Browser { cfg, .. }
            if cfg.re_sign_in_is == model::policy::ReSignIn::PasswordChange && !cfg.signs_in_during_run =>
        {
            "password change"
        }
        _ => "sign-in",
    }
}

fn jwt(c: &Option<SessionJwt>) -> String {
    match c {
        Some(j) => format!("session={} exp={}", j.session, j.exp),
        None => "no cookie".into(),
    }
}

/// `"tab A"`, or `"attacker"`.
fn who(tab: TabIx) -> String {
    // A tab's index, or the address of one of its requesters or reloaded pages.
    model::browser::requesters::address_text(tab, |t| tab_letter(t).to_string())
}

/// What a refresh or logout request carries, in the mode's words.
fn cred_text(c: &Credentials) -> String {
    let tok = |t: Option<u8>| t.map_or("none".to_string(), |t| t.to_string());
    match c.mode {
        AuthMode::Session => jwt(&c.cookie),
        AuthMode::Json => format!("mode json, refresh_token={}", tok(c.token)),
        AuthMode::Cookie => format!("mode cookie, refresh cookie={}", tok(c.token)),
    }
}

/// What an ordinary request carries.
fn request_cred_text(c: &Credentials) -> String {
    match (c.cookie, c.access) {
        (Some(_), _) => jwt(&c.cookie),
        (None, Some(exp)) => format!("Bearer access token exp={exp}"),
        (None, None) => "no credentials".into(),
    }
}

/// An answer in the model's words: `err` prints an error, `signed_out` a sign-out's 200
/// ([`Words::signed_out`]).
fn reply_text(r: &Reply, err: &dyn Fn(&HttpError) -> String, signed_out: &str) -> String {
    if let Reply::Ok { set_cookie, token, expires_at, access: Some(a) } = *r {
        let plain = Reply::Ok { set_cookie, token, expires_at, access: None };
        return format!("{}, access token={a}", reply_text(&plain, err, signed_out));
    }
    match r {
        Reply::Ok { set_cookie: Some(c), .. } => format!("200, Set-Cookie session={} exp={}", c.session, c.exp),
        Reply::Ok { token: Some(t), .. } => format!("200, refresh token={t}"),
        Reply::Ok { .. } => "200".into(),
        Reply::SignedOut => signed_out.into(),
        Reply::Err(e) => err(e),
    }
}

/// The words of a model's trace ([`crate::protocol::wording`]): the section's `wording` and
/// its language's table of error texts.
struct Words<'a> {
    wording: &'a Wording,
    /// The language's error reply forms with their default texts.
    errors: &'static [(&'static str, &'static str)],
    /// The model is an authorization server written in the `protocol` language.
    oauth: bool,
}

static DIRECTUS: std::sync::LazyLock<Wording> = std::sync::LazyLock::new(Wording::default);

/// The words of model `m`: its `protocol`'s or `session_server`'s `wording`.
fn words(m: &RefreshModel) -> Words<'_> {
    if let Some(p) = model::session_program(m) {
        return Words { wording: &p.wording, errors: wording::SESSION_ERRORS, oauth: false };
    }
    for a in &m.actors {
        if let Node::AuthServer { protocol, .. } = a {
            return Words { wording: &protocol.wording, errors: wording::PROTOCOL_ERRORS, oauth: true };
        }
    }
    Words { wording: &DIRECTUS, errors: wording::SESSION_ERRORS, oauth: false }
}

impl Words<'_> {
    /// The refresh request (`POST /auth/refresh`).
    fn refresh(&self) -> &str {
        self.wording.refresh.as_deref().unwrap_or(wording::REFRESH)
    }

    /// What starts a tab's `any-time` refresh (`loads or returns from idle`).
    fn refresh_start(&self) -> &str {
        self.wording.refresh_start.as_deref().unwrap_or(wording::REFRESH_START)
    }

    /// The sign-out request (`POST /auth/logout`).
    fn sign_out(&self) -> &str {
        self.wording.sign_out.as_deref().unwrap_or(wording::SIGN_OUT)
    }

    /// The sign-out's 200 as the answer says it. Directus's logout clears both of its cookies
    /// (`api/src/controllers/auth.ts`: `res.clearCookie` of the refresh and session cookies);
    /// a `protocol` server's sign-out rule answers `signed_out`, a 200 that carries no token.
    fn signed_out(&self) -> &'static str {
        if self.oauth {
            "200 signed_out"
        } else {
            "200, both cookies cleared"
        }
    }

    /// What the browser does with a sign-out's 200 in mode `mode` (`BrowserState::on_sign_out_reply`:
    /// the jar, the shared storage and the tab's refresh token are dropped and the tab is logged
    /// out), in the words of the answer that caused it.
    /// `shared`: the device's tabs keep the token in one shared storage (`json_storage:
    /// shared` or `shared-lagging`), which the sign-out clears for every tab.
    fn sign_out_reaction(&self, mode: AuthMode, shared: bool) -> &'static str {
        match (self.oauth, mode) {
            (_, AuthMode::Json) if shared => {
                "the tab drops its refresh token and clears the shared storage (until a tab stores a token again)"
            }
            (_, AuthMode::Json) => "the tab drops its refresh token",
            (false, _) => "every tab's cookies are gone",
            (true, _) => "the browser drops the refresh cookie, for every tab",
        }
    }

    /// The session check (`GET /users/me`).
    fn check(&self) -> &str {
        self.wording.request.as_deref().unwrap_or("GET /users/me")
    }

    /// An access-token call, without article (`API call`).
    fn call(&self) -> &str {
        self.wording.request.as_deref().unwrap_or("API call")
    }

    /// An access-token call with its article (`an API call`, or the request text).
    fn a_call(&self) -> String {
        self.wording.request.clone().unwrap_or_else(|| "an API call".into())
    }

    /// The printed status and code of error `e` answered to a request of kind `ordinary` (an
    /// API call or session check) or not (refresh, sign-out). The interpreter maps each error
    /// reply form of a handler to one [`HttpError`] (`model::interpret`), so the form, and its
    /// text, follow from the answer: a refresh's 401 is `invalid_grant`, a call's
    /// `invalid_token`.
    fn error(&self, e: &HttpError, ordinary: bool) -> String {
        let form = match (self.oauth, e) {
            (true, HttpError::InvalidCredentials) if ordinary => "invalid_token",
            (true, HttpError::InvalidCredentials) => "invalid_grant",
            (true, HttpError::InvalidPayload) => "invalid_request",
            (_, HttpError::Internal) => "server_error",
            (_, HttpError::InvalidPayload) => "invalid_payload",
            (_, HttpError::TokenExpired) => "token_expired",
            (false, HttpError::InvalidCredentials) => "invalid_credentials",
        };
        let table = if self.oauth && *e == HttpError::TokenExpired { wording::SESSION_ERRORS } else { self.errors };
        self.wording.error_text(table, form)
    }
}

fn sql_text(sql: &Sql) -> String {
    match sql {
        Sql::SelectSession { token, now } => format!("SELECT … WHERE token={token} AND expires>={now}"),
        Sql::Rename { from, to, expires, .. } => format!("UPDATE SET token={to}, expires={expires} WHERE token={from}"),
        Sql::Extend { token, expires } => format!("UPDATE SET expires={expires} WHERE token={token}"),
        Sql::ClaimNext { token, next, expires, .. } => {
            format!("UPDATE SET next_token={next}, expires={expires} WHERE token={token} AND next_token IS NULL")
        }
        Sql::SelectNext { token } => format!("SELECT next_token WHERE token={token}"),
        Sql::Insert { token, expires, .. } => format!("INSERT token={token}, expires={expires}"),
        Sql::Upsert { token, expires, .. } => {
            format!("UPSERT token={token}, expires={expires} (one write: inserts the row, or replaces it)")
        }
        Sql::PurgeExpired { now } => format!("DELETE WHERE expires<{now}"),
        Sql::Delete { token, .. } => format!("DELETE WHERE token={token}"),
        Sql::CacheGet { token, now } => format!("cache GET key={token} (live at {now})"),
        Sql::CacheSet { token, until, .. } => format!("cache SET key={token}{}", until_text(*until)),
        Sql::CacheAdd { token, until, .. } => {
            format!("cache ADD key={token}{} (only if the key is free: putIfAbsent)", until_text(*until))
        }
        Sql::CacheDelete { token, .. } => format!("cache DELETE key={token}"),
        Sql::CacheTombstone { token, until, .. } => format!("cache TOMBSTONE key={token}{}", until_text(*until)),
    }
}

/// ` until T`, or nothing for an entry that never expires (255).
fn until_text(until: Tick) -> String {
    if until == 255 {
        String::new()
    } else {
        format!(" until {until}")
    }
}

/// The step name of a statement, by its kind (the Directus names of
/// `directus-protocol.md` §1.4–1.5): a `select` of the presented token is R1, of another
/// token the session check (`verifySessionJWT`); an `extend` of the presented token is W1's,
/// of another token G0's (the successor).
fn sql_step_name(sql: &Sql, h: Option<&Handler>, program: Option<&SessionProgram>) -> &'static str {
    let presented_row = match (h.map(|h| (h.endpoint, h.stage)), program) {
        (Some((e, Stage::Step { at, .. })), Some(p)) => {
            model::sessions::handler_of(p, e).steps.get(usize::from(at)).is_some_and(|s| s.reads_presented_row)
        }
        _ => true,
    };
    let presented = h.and_then(|h| h.cred.presented());
    match sql {
        Sql::SelectSession { .. } if !presented_row => "StoreRunsSessionCheck",
        Sql::SelectSession { .. } => "StoreRunsR1",
        Sql::Rename { .. } => "StoreRunsW1Rename",
        Sql::Extend { token, .. } if Some(*token) != presented => "StoreRunsG0Extend",
        Sql::Extend { .. } => "StoreRunsW1Extend",
        Sql::ClaimNext { .. } => "StoreRunsG1Claim",
        Sql::SelectNext { .. } => "StoreRunsG2ReadNext",
        Sql::Insert { .. } => "StoreRunsG3Insert",
        Sql::Upsert { .. } => "StoreRunsUpsert",
        Sql::PurgeExpired { .. } => "StoreRunsW3Purge",
        Sql::Delete { sign_out: true, .. } => "StoreRunsLogoutDelete",
        Sql::Delete { sign_out: false, .. } => "StoreRunsDelete",
        Sql::CacheGet { .. } => "CacheRunsGet",
        Sql::CacheSet { .. } => "CacheRunsSet",
        Sql::CacheAdd { .. } => "CacheRunsAdd",
        Sql::CacheDelete { sign_out: true, .. } => "CacheRunsLogoutDelete",
        Sql::CacheDelete { sign_out: false, .. } => "CacheRunsDelete",
        Sql::CacheTombstone { .. } => "CacheRunsTombstone",
    }
}

/// Where a handler is: the step of its program that reads the result it awaits, with the
/// token it keeps for its answer and the ghost orphan mark.
fn stage_text(m: &RefreshModel, h: &Handler) -> String {
    let Stage::Step { at, issued, orphan } = h.stage else { return "received".into() };
    let name = model::session_program(m)
        .and_then(|p| model::sessions::handler_of(p, h.endpoint).steps.get(usize::from(at)))
        .map_or_else(|| format!("step {at}"), |s| s.name.clone());
    let mut out = format!("awaits {name}");
    if issued != 0 {
        out += &format!(" (issues {issued}{})", if orphan { ", orphan" } else { "" });
    }
    out
}

fn row_text(r: &Row) -> String {
    let mut s = format!("token={} expires={}", r.token, r.expires);
    if let Some(n) = r.next_token {
        s += &format!(" next_token={n}");
    }
    match r.kind {
        AuthMode::Session => {}
        AuthMode::Json => s += " (json)",
        AuthMode::Cookie => s += " (cookie)",
    }
    s
}

/// The cache operations (`cache set`, `cache delete`, …) whose result `client`'s handler
/// awaits in state `s`: those of the statements run by the rules that lead to the step it
/// waits in, when every one of them is a cache operation; `None` when one is a statement on
/// the table (or the handler awaits nothing).
fn cache_verbs_awaited(
    m: &RefreshModel,
    s: &State,
    client: model::ClientKey,
) -> Option<Vec<crate::protocol::sessions::CacheVerb>> {
    use crate::protocol::sessions::{Statement, Then};
    let h = model::server_at(s, m.cfg.server).handlers.iter().find(|h| h.client == client)?;
    let Stage::Step { at, .. } = h.stage else { return None };
    let program = model::sessions::handler_of(model::session_program(m)?, h.endpoint);
    let mut verbs = vec![];
    for rule in program.steps.iter().flat_map(|st| &st.rules) {
        match &rule.then {
            Then::Run(Statement::Cache(verb, ..), to) if *to == at => {
                if !verbs.contains(verb) {
                    verbs.push(*verb);
                }
            }
            Then::Run(_, to) if *to == at => return None,
            _ => {}
        }
    }
    (!verbs.is_empty()).then_some(verbs)
}

/// A store's result as a trace prints it; `cache`: the cache operations it may answer
/// ([`cache_verbs_awaited`]), whose count is of cache entries, not rows.
fn result_text(r: &SqlResult, cache: Option<Vec<crate::protocol::sessions::CacheVerb>>) -> String {
    use crate::protocol::sessions::CacheVerb;
    match r {
        SqlResult::Row(Some(row)) => format!("row {}", row_text(row)),
        SqlResult::Row(None) | SqlResult::Next(None) => "no row".into(),
        SqlResult::Next(Some(n)) => format!("next_token={n}"),
        SqlResult::Affected(n) => match cache.as_deref() {
            None => format!("{n} row(s) affected"),
            Some([CacheVerb::Set]) => "cache OK: entry written".into(),
            Some([CacheVerb::Tombstone]) => "cache OK: tombstone written".into(),
            Some([CacheVerb::Add]) if *n == 0 => "cache: key taken, nothing added".into(),
            Some([CacheVerb::Add]) => "cache OK: entry added".into(),
            Some([CacheVerb::Delete]) if *n == 0 => "cache: no entry to delete".into(),
            Some([CacheVerb::Delete]) => "cache OK: entry deleted".into(),
            Some(_) => format!("cache: {n} entr{} written or deleted", if *n == 1 { "y" } else { "ies" }),
        },
        SqlResult::UniqueViolation => "UNIQUE constraint failed".into(),
        SqlResult::Cached(Some(row)) => format!("cache hit: session {}{}", row.token, until_text(row.expires)),
        SqlResult::Cached(None) => "cache miss".into(),
    }
}

/// The HTTP status of the answer `msg` carries as the trace prints it (the model's
/// [`Words`]): 200 for a 2xx, the status of the error's printed text otherwise (a refresh's
/// `invalid_grant` is `400` by default in the `protocol` language); `None` for a message that
/// is no answer to a tab. Query `status` filters match this number, so a filter and the text
/// it filters agree.
pub(crate) fn answer_status(m: &RefreshModel, msg: &Msg) -> Option<u16> {
    let (reply, ordinary) = match msg {
        Msg::RefreshResponse { reply, .. } | Msg::LogoutResponse { reply, .. } => (reply, false),
        Msg::UsersMeResponse { reply, .. } | Msg::CallResponse { reply, .. } => (reply, true),
        _ => return None,
    };
    Some(match reply {
        Reply::Ok { .. } | Reply::SignedOut => 200,
        // `Wording::check` accepts only texts that start with a three-digit status.
        Reply::Err(e) => words(m).error(e, ordinary).get(..3).and_then(|d| d.parse().ok()).unwrap_or(e.status()),
    })
}

/// Every status [`answer_status`] can print for an answer of the model: a refresh's or a
/// sign-out's (`ordinary` false) or a request's or a call's (`ordinary` true): 200 and the
/// status of each error in the model's wording that such an answer can carry. Sorted, without
/// repeats.
pub(crate) fn printable_statuses(m: &RefreshModel, ordinary: bool) -> Vec<u16> {
    use model::HttpError::{Internal, InvalidCredentials, InvalidPayload, TokenExpired};
    // An authorization server answers an expired access token on a request or a call only: its
    // refresh refusals are its rules' (`invalid_grant`, `invalid_request`, `server_error`).
    let oauth = words(m).oauth;
    let mut v: Vec<u16> = [InvalidPayload, TokenExpired, InvalidCredentials, Internal]
        .iter()
        .filter(|e| ordinary || !oauth || **e != TokenExpired)
        .map(|e| words(m).error(e, ordinary).get(..3).and_then(|d| d.parse().ok()).unwrap_or(e.status()))
        .chain([200])
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// `; it sends its follow-up: …` when tab `t` of browser actor `browser` sent its follow-up
/// (`browser.follow_up`) in this step, `old` and `new` being the refresh tokens the reaction
/// replaced and received, with the `token_type_hint` a revocation endpoint's follow-up
/// carries; `; it sends no follow-up: …` when the reaction `reacted` (the kind of reaction
/// that ran in this step, if any) is the follow-up's but the tab's follow-up is still in
/// flight (at most one per tab); empty otherwise.
fn follow_up_sent_text(
    m: &RefreshModel,
    browser: usize,
    (b0, b1): (&model::browser::BrowserState, &model::browser::BrowserState),
    t: usize,
    reacted: Option<model::policy::FollowUpAfter>,
    old: Option<model::Token>,
    new: Option<model::Token>,
) -> String {
    let (was, is) = (b0.tabs.get(t).is_some_and(|x| x.follow_up), b1.tabs.get(t).is_some_and(|x| x.follow_up));
    let Node::Browser { cfg, .. } = &m.actors[browser] else { return String::new() };
    let Some((after, presents)) = cfg.follow_up else { return String::new() };
    if was && is && reacted == Some(after) {
        return format!(
            "; it sends no follow-up: its follow-up ({}) is still in flight, and a tab has at most one in flight",
            words(m).sign_out()
        );
    }
    if !is || was {
        return String::new();
    }
    let (which, token) = match presents {
        model::policy::FollowUpToken::Superseded => ("the refresh token it replaced", old),
        model::policy::FollowUpToken::New => ("the new refresh token", new),
    };
    let hint = match m.actors.get(m.cfg.server) {
        Some(Node::AuthServer { protocol, .. }) => {
            protocol.revocation.and_then(|r| r.hint_text()).map_or(String::new(), |h| format!("; {h}"))
        }
        _ => String::new(),
    };
    format!(
        "; it sends its follow-up: {} with {which} (refresh_token={}{hint})",
        words(m).sign_out(),
        token.map_or("none".to_string(), |x| x.to_string())
    )
}

/// With a protocol whose requests carry their client (a request field of type `client`), the
/// client the attacker authenticates as, in the step's text: `, authenticating as its own
/// registered client (client_id=2)` ([`model::interpret::client_number`]); empty otherwise.
fn attacker_client_text(m: &RefreshModel, before: &State) -> String {
    let Some(Node::AuthServer { protocol, .. }) = m.actors.get(m.cfg.server) else { return String::new() };
    let Some(auth) = model::auth_server_at(before, m.cfg.server) else { return String::new() };
    if !protocol.sends_client() {
        return String::new();
    }
    let n = model::interpret::client_number(protocol, auth, model::ClientKey { browser: 0, tab: ATTACKER });
    let fields: Vec<_> = protocol
        .request_fields
        .iter()
        .filter(|(_, t)| *t == crate::protocol::FieldType::Client)
        .map(|(name, _)| format!("{name}={n}"))
        .collect();
    format!(", authenticating as its own registered client ({})", fields.join(", "))
}

/// `: rule `NAME`` for the sign-out rule that decides a follow-up presenting `token` on the
/// authorization server in state `before` (`no rule holds`, `no such token`); empty for other
/// servers.
fn follow_up_rule_words(m: &RefreshModel, before: &State, token: Option<model::Token>) -> String {
    let Some(Node::AuthServer { protocol, .. }) = m.actors.get(m.cfg.server) else { return String::new() };
    let Some(auth) = model::auth_server_at(before, m.cfg.server) else { return String::new() };
    let rule = match model::interpret::sign_out_rule(protocol, auth, token, None) {
        Some(r) => r.name.clone(),
        None if model::interpret::sign_out_view(protocol, auth, token, None).is_some() => "no rule holds".into(),
        // A revocation endpoint that searches the hinted kind only did not look for it.
        None if protocol.revocation.is_some()
            && model::interpret::presented_view(protocol, auth, token, None).is_some() =>
        {
            return format!(
                ": {} (the server searches the hinted kind only): nothing revoked",
                crate::query::event::NOT_FOUND_UNDER_HINT
            );
        }
        None => "no such token".into(),
    };
    format!(": rule `{rule}`")
}

/// Names an actor, or a tab when the message concerns one.
struct Names<'a> {
    model: &'a RefreshModel,
    words: Words<'a>,
    /// The state before the step whose message is named, when there is one: a cache
    /// operation's result is worded as the cache's ([`result_text`]).
    before: Option<&'a State>,
}

/// Whether the refresh of address `addr` (a request or its answer) sent by the tab of browser
/// actor `browser` belongs to a refresh round the tab has left in `state`: with
/// `browser.aborts_per_tab`, a refresh it aborted ([`model::browser::aborts`]), whose answer is
/// dropped when it comes. `Some("aborted")` when the model has no retries (a round then ends
/// only by an abort or by taking its one answer), `Some("aborted or already answered")` with
/// `browser.retries_per_tab` too (a retried round's later answers are dropped as well); `None`
/// for a refresh of the tab's current round, the attacker's, or a model without aborts.
fn abandoned_refresh(m: &RefreshModel, state: &State, browser: usize, addr: TabIx) -> Option<&'static str> {
    let Some(Node::Browser { cfg, .. }) = m.actors.get(browser) else { return None };
    let timeouts = cfg.on_timeout.is_some();
    if (cfg.aborts == 0 && !timeouts) || !m.cfg.browsers.contains(&browser) {
        return None;
    }
    let round = model::browser::requesters::round_of(addr)?;
    let tab = model::browser_at(state, browser).tabs.get(usize::from(addr & 7))?;
    // With `on_timeout` every attempt has a round of its own: a round ends by its one answer,
    // an abort or a timeout.
    (tab.round != round).then_some(match (cfg.aborts > 0, timeouts, cfg.retries > 0) {
        (true, true, _) => "an aborted or timed-out",
        (false, true, _) => "a timed-out",
        (true, false, false) => "an aborted",
        (true, false, true) => "an aborted or already answered",
        (false, false, _) => unreachable!("no aborts and no timeouts returned above"),
    })
}

/// The refresh token tab `t` sent with the refresh it is abandoning (`token=1`, or `no token`),
/// read in the state before it gives up.
fn abandoned_sent(b0: &BrowserState, t: TabIx) -> String {
    match b0.tabs[usize::from(t)].status {
        TabStatus::Refreshing { sent } => sent.map_or("no token".to_string(), |x| format!("token={x}")),
        _ => "no token".into(),
    }
}

/// The answer to tab `t`'s refresh that the step abandoned (an abort or a timeout), if the
/// server has already sent it: a refresh response in flight to the tab whose round the step
/// ended, in `names`' words (`200, refresh token=2`).
fn abandoned_answer(
    m: &RefreshModel,
    names: &Names,
    before: &State,
    after: &State,
    browser: usize,
    t: TabIx,
) -> Option<String> {
    model::in_flight(&after.network).into_iter().find_map(|(src, dst, msg)| match msg {
        Msg::RefreshResponse { tab, .. }
            if usize::from(dst) == browser
                && *tab & 7 == t
                && abandoned_refresh(m, after, browser, *tab).is_some()
                && abandoned_refresh(m, before, browser, *tab).is_none() =>
        {
            Some(names.message(src, dst, msg).text)
        }
        _ => None,
    })
}

/// The step of tab `t` timing out with `browser.on_timeout` ([`model::browser::timeouts`]):
/// why it gave up (its clock, or the loss), the request it abandons and where its answer is,
/// then what its `on_timeout` reactions did: ``tab A times out (…): it gives up on its refresh
/// (sent with token=1), whose answer, if it comes, will be dropped; `on_timeout`: the tab is
/// logged out``.
fn time_out_text(m: &RefreshModel, browser: usize, before: &State, after: &State, t: TabIx, refresh: &str) -> String {
    let (b0, b1) = (model::browser_at(before, browser), model::browser_at(after, browser));
    let why = match b0.tabs[t as usize].sent_at {
        Some(at) => format!(
            "no answer {} tick{} after it sent its refresh: sent at browser clock {at}, now {}",
            b0.now - at,
            if b0.now - at == 1 { "" } else { "s" },
            b0.now
        ),
        None if m.cfg.retry_after_loss => {
            "its request or the answer was lost: nothing of its refresh is on its way".into()
        }
        None => "its client timeout fires before any answer came".into(),
    };
    let sent = abandoned_sent(b0, t);
    let names = Names { model: m, words: words(m), before: Some(after) };
    let answered = abandoned_answer(m, &names, before, after, browser, t);
    let answer = match answered {
        Some(a) => format!("the server's answer ({a}) is still on its way and will be dropped"),
        None if m.cfg.retry_after_loss => "nothing of it will come".into(),
        None => "its answer, if it comes, will be dropped".into(),
    };
    let then = match b1.tabs[t as usize].status {
        TabStatus::Refreshing { sent } => {
            format!("sends {refresh} again with token={}", sent.map_or("none".to_string(), |x| x.to_string()))
        }
        TabStatus::Idle => format!("keeps the session with {}", stored_refresh(b1, t)),
        _ => "is logged out".into(),
    };
    let then = with_clears(&trail_of(m, browser, |cfg| b0.time_out_trail(cfg, t)), then);
    format!(
        "{} times out ({why}): it gives up on its refresh (sent with {sent}); {answer}; `on_timeout`: the tab {then}",
        who(t)
    )
}

/// The mark a refresh request or answer between `src` and `dst` carries in `state` when its tab
/// has aborted that refresh ([`abandoned_refresh`]): `" (an aborted refresh: its answer will be
/// dropped)"`, `" (answer to an aborted refresh, dropped)"`; empty for any other message.
fn abort_mark(m: &RefreshModel, state: &State, src: Id, dst: Id, msg: &Msg) -> String {
    match msg {
        Msg::RefreshRequest { tab, .. } => match abandoned_refresh(m, state, usize::from(src), *tab) {
            Some(how) => format!(" ({how} refresh: its answer will be dropped)"),
            None => String::new(),
        },
        Msg::RefreshResponse { tab, .. } => match abandoned_refresh(m, state, usize::from(dst), *tab) {
            Some(how) => format!(" (answer to {how} refresh, dropped)"),
            None => String::new(),
        },
        _ => String::new(),
    }
}

/// A tab's name in snapshots, actors and message ends: its letter (`"A"`), or with several
/// devices (browsers) the device's number then the letter (`"2A"`: device 2's tab A).
fn tab_name(m: &RefreshModel, browser: usize, tab: TabIx) -> String {
    match m.cfg.browsers.iter().position(|&b| b == browser) {
        Some(d) if m.cfg.browsers.len() > 1 => format!("{}{}", d + 1, tab_letter(tab)),
        _ => tab_letter(tab).to_string(),
    }
}

impl Names<'_> {
    /// `; token_type_hint=…` when the sign-out is a revocation endpoint sent with a hint
    /// (`sign_out.revocation.hint`), else nothing.
    fn hint(&self) -> String {
        match self.model.actors.get(self.model.cfg.server) {
            Some(model::Node::AuthServer { protocol, .. }) => {
                protocol.revocation.and_then(|r| r.hint_text()).map_or(String::new(), |h| format!("; {h}"))
            }
            _ => String::new(),
        }
    }

    /// `who(tab)`, with the device's number when the model has several browsers and `end` is
    /// one of them.
    fn who_at(&self, end: Id, tab: TabIx) -> String {
        let ix = usize::from(end);
        if tab == ATTACKER || self.model.cfg.browsers.len() < 2 || !self.model.cfg.browsers.contains(&ix) {
            return who(tab);
        }
        // A requester's or reloaded page's address names its tab with the device's number.
        model::browser::requesters::address_text(tab, |t| tab_name(self.model, ix, t))
    }

    fn actor(&self, id: Id) -> String {
        let ix = usize::from(id);
        if ix == self.model.cfg.server {
            "server".into()
        } else if ix == self.model.cfg.store {
            "store".into()
        } else {
            "browser".into()
        }
    }

    /// [`Self::message`] as it is in `state`: a refresh its tab has aborted is marked
    /// ([`abort_mark`]).
    fn message_at(&self, state: &State, src: Id, dst: Id, msg: &Msg) -> MessageView {
        let mut view = self.message(src, dst, msg);
        view.text += &abort_mark(self.model, state, src, dst, msg);
        view
    }

    fn message(&self, src: Id, dst: Id, msg: &Msg) -> MessageView {
        let (from, to, text) = match msg {
            Msg::RefreshRequest { tab, cred, access: None, .. } => {
                (self.who_at(src, *tab), self.actor(dst), format!("{} ({})", self.words.refresh(), cred_text(cred)))
            }
            Msg::RefreshRequest { tab, cred, access: Some(a), .. } => (
                self.who_at(src, *tab),
                self.actor(dst),
                format!("{} (access token={a}; {})", self.words.refresh(), cred_text(cred)),
            ),
            Msg::UsersMeRequest { tab, cred } => (
                self.who_at(src, *tab),
                self.actor(dst),
                format!("{} ({})", self.words.check(), request_cred_text(cred)),
            ),
            Msg::LogoutRequest { tab, cred, access: None } => (
                self.who_at(src, *tab),
                self.actor(dst),
                format!("{} ({}{})", self.words.sign_out(), cred_text(cred), self.hint()),
            ),
            Msg::LogoutRequest { tab, cred, access: Some(a) } => {
                let both = matches!(self.model.actors.get(self.model.cfg.server),
                    Some(model::Node::AuthServer { protocol, .. })
                        if protocol.sign_out_presents == crate::protocol::Presents::Both);
                let sent =
                    if both { format!("access token={a}; {}", cred_text(cred)) } else { format!("access token={a}") };
                (self.who_at(src, *tab), self.actor(dst), format!("{} ({sent}{})", self.words.sign_out(), self.hint()))
            }
            Msg::SignInResponse { tab, reply } => (
                self.actor(src),
                self.who_at(dst, *tab),
                reply_text(reply, &|e| self.words.error(e, false), self.words.signed_out()),
            ),
            Msg::SignInRequest { tab } => {
                (self.who_at(src, *tab), self.actor(dst), sign_in_noun(self.model, usize::from(src)).to_string())
            }
            Msg::FollowUpRequest { tab, token } => (
                self.who_at(src, *tab),
                self.actor(dst),
                format!(
                    "{} (refresh_token={}{})",
                    self.words.sign_out(),
                    token.map_or("none".to_string(), |t| t.to_string()),
                    self.hint()
                ),
            ),
            Msg::FollowUpResponse { tab, reply } => (
                self.actor(src),
                self.who_at(dst, *tab),
                reply_text(reply, &|e| self.words.error(e, false), self.words.signed_out()),
            ),
            Msg::RefreshResponse { tab, reply } | Msg::LogoutResponse { tab, reply } => (
                self.actor(src),
                self.who_at(dst, *tab),
                reply_text(reply, &|e| self.words.error(e, false), self.words.signed_out()),
            ),
            Msg::UsersMeResponse { tab, reply } | Msg::CallResponse { tab, reply } => (
                self.actor(src),
                self.who_at(dst, *tab),
                reply_text(reply, &|e| self.words.error(e, true), self.words.signed_out()),
            ),
            Msg::CallRequest { tab, access } => (
                self.who_at(src, *tab),
                self.actor(dst),
                format!(
                    "{} ({})",
                    self.words.call(),
                    access.map_or("no access token".to_string(), |a| format!("access token={a}"))
                ),
            ),
            Msg::Query { client, sql, .. } => {
                (self.actor(src), self.actor(dst), format!("{} [{}]", sql_text(sql), who(client.tab)))
            }
            Msg::ClockTicked { now } => ("clock".into(), "clock".into(), format!("now = {now}")),
            Msg::QueryResult { client, result } => {
                let cache = self.before.and_then(|s| cache_verbs_awaited(self.model, s, *client));
                (self.actor(src), self.actor(dst), format!("{} [{}]", result_text(result, cache), who(client.tab)))
            }
            Msg::Transaction { handler, .. } => (
                self.actor(src),
                self.actor(dst),
                format!("run {:?} for {} atomically", handler.endpoint, who(handler.client.tab)),
            ),
            Msg::TransactionDone { handler, reply, .. } => {
                let text = reply_text(reply, &|e| self.words.error(e, false), self.words.signed_out());
                (self.actor(src), self.actor(dst), format!("{text} [{}]", who(handler.client.tab)))
            }
        };
        MessageView { from, to, text }
    }
}

/// The auth mode of the model's browsers (every browser of a model has the same).
/// The first device's tabs keep their token in one shared storage (`json_storage: shared` or
/// `shared-lagging`).
fn shared_storage(m: &RefreshModel) -> bool {
    match &m.actors[m.cfg.browsers[0]] {
        Node::Browser { cfg, .. } => matches!(cfg.storage, JsonStorage::Shared | JsonStorage::SharedLagging),
        _ => false,
    }
}

fn browser_mode(m: &RefreshModel) -> AuthMode {
    match &m.actors[m.cfg.browsers[0]] {
        Node::Browser { cfg, .. } => cfg.mode,
        _ => AuthMode::Session,
    }
}

/// Tab `i`'s status in words; `mode` names what a refresh presented (the session claim in
/// session mode, the refresh token in json and cookie mode).
fn tab_status(b: &BrowserState, i: usize, mode: AuthMode) -> String {
    tab_words(b, i, mode, "stores")
}

/// [`tab_status`] with the verb of its stored refresh token: "stores" in the snapshot,
/// "holding" inside a sentence about another step (the stored copy is what it holds, not
/// something that step stores).
fn tab_words(b: &BrowserState, i: usize, mode: AuthMode, stored: &str) -> String {
    let t = &b.tabs[i];
    let mut s: String = match t.status {
        TabStatus::Idle => "idle".into(),
        TabStatus::Refreshing { sent: Some(tok) } if mode == AuthMode::Session => {
            format!("refreshing (sent session={tok})")
        }
        TabStatus::Refreshing { sent: Some(tok) } => format!("refreshing (sent refresh token={tok})"),
        TabStatus::Refreshing { sent: None } => "refreshing (sent no cookie)".into(),
        TabStatus::TokenRead => match t.read {
            Some(tok) => format!("read refresh token={tok}, not sent yet"),
            None => "read no refresh token, not sent yet".into(),
        },
        TabStatus::Requesting => "requesting".into(),
        TabStatus::CheckingFresh => "checking freshness (GET /users/me)".into(),
        TabStatus::SigningOut => "signing out".into(),
        // `lock_granted: "skip-if-token-changed"`: the token it will compare once granted.
        TabStatus::WaitingLock => match t.queued_with {
            Some(tok) => format!("waiting for the lock (queued with token={tok})"),
            None => "waiting for the lock".into(),
        },
        TabStatus::LockSeenFree => "saw the lock free".into(),
        TabStatus::LoggedOut => "logged out".into(),
        TabStatus::Hung => "hung (holds the lock forever)".into(),
        TabStatus::AwaitingBroadcast => "waiting for the leader's broadcast".into(),
        TabStatus::Closed => "closed".into(),
        TabStatus::WritingSecond { refresh: Some(tok) } => {
            format!("between its two storage writes (refresh token={tok} not written yet)")
        }
        TabStatus::WritingSecond { refresh: None } => {
            "between its two storage writes (access token not written yet)".into()
        }
        TabStatus::WaitingForTokenChange { sent, since, .. } => match sent {
            Some(tok) => format!(
                "refused; waiting for the stored token to change from token={tok} (since browser clock {since})"
            ),
            None => format!("refused; waiting for a stored token (since browser clock {since})"),
        },
    };
    if t.waited > 0 {
        s += &format!(", waited {} own step(s)", t.waited);
    }
    if let Some(msg) = t.inbox {
        let tok = msg.token.map_or(String::new(), |x| format!(" refresh token={x}"));
        s += &format!(", broadcast pending:{tok}");
    }
    if let Some(tok) = t.token {
        s += &format!(", {stored} refresh token={tok}");
    }
    if b.lock == Some(i as TabIx) {
        s += ", holds the lock";
    }
    s
}

/// The snapshot of a global state.
pub fn snapshot(m: &RefreshModel, s: &State) -> Snapshot {
    let mut snap = snapshot_in(m, s);
    let word = &m.cfg.client_word;
    if !word.is_tab() {
        let re = |x: &mut String| *x = word.reword(x).into_owned();
        snap.tabs.iter_mut().for_each(|t| re(&mut t.status));
        snap.handlers.iter_mut().for_each(re);
        for msg in &mut snap.in_flight {
            re(&mut msg.from);
            re(&mut msg.to);
            re(&mut msg.text);
        }
    }
    snap
}

/// [`snapshot`] in the default client word.
fn snapshot_in(m: &RefreshModel, s: &State) -> Snapshot {
    let names = Names { model: m, words: words(m), before: None };
    let b: &BrowserState = model::browser_at(s, m.cfg.browsers[0]);
    if let Some(auth) = model::auth_server_at(s, m.cfg.server) {
        return auth_server_snapshot(m, s, b, auth);
    }
    let server = model::server_at(s, m.cfg.server);
    let store = model::store_at(s, m.cfg.store);
    let tabs = b
        .tabs
        .iter()
        .enumerate()
        .map(|(i, t)| TabView {
            tab: tab_letter(i as u8).to_string(),
            status: tab_status(b, i, browser_mode(m)),
            refreshes_left: t.refreshes_left,
            requests_left: t.requests_left,
        })
        .collect();
    let mut in_flight: Vec<MessageView> =
        model::in_flight(&s.network).into_iter().map(|(src, dst, msg)| names.message_at(s, src, dst, msg)).collect();
    in_flight.sort_by(|a, b| (&a.from, &a.to, &a.text).cmp(&(&b.from, &b.to, &b.text)));
    let jar = match (b.jar.session, b.jar.refresh, b.storage) {
        (Some(j), _, _) => Some(format!("session={} exp={}", j.session, j.exp)),
        (None, Some(r), _) => Some(format!("refresh={r}")),
        (None, None, Some(t)) => Some(format!("localStorage refresh_token={t}")),
        (None, None, None) => None,
    };
    Snapshot {
        now: server.now,
        tabs,
        jar,
        store: store.rows.iter().map(row_text).collect(),
        handlers: server
            .handlers
            .iter()
            .map(|h| format!("{} {:?}: {}", who(h.client.tab), h.endpoint, stage_text(m, h)))
            .collect(),
        orphan_cookies: server.orphan_cookies,
        session_valid: properties::session_valid(m, s, m.cfg.browsers[0]),
        in_flight,
    }
}

/// The snapshot of an authorization-server model: the token table in place of the store rows,
/// the refreshes between read and write in place of the handlers. With several devices
/// (browsers) the tabs are every device's, in device order, named by device and letter
/// (`1A`, `1B`, `2A`, …), and `jar` lists each device's shared token; `session_valid` is the
/// first device's.
fn auth_server_snapshot(m: &RefreshModel, s: &State, b: &BrowserState, auth: &model::oauth::AsState) -> Snapshot {
    use model::oauth::TokStatus;
    let names = Names { model: m, words: words(m), before: None };
    let tabs = m
        .cfg
        .browsers
        .iter()
        .flat_map(|&ix| {
            let b = model::browser_at(s, ix);
            b.tabs.iter().enumerate().map(move |(i, t)| TabView {
                tab: tab_name(m, ix, i as u8),
                status: tab_status(b, i, browser_mode(m)),
                refreshes_left: t.refreshes_left,
                requests_left: t.requests_left,
            })
        })
        .collect();
    let mut in_flight: Vec<MessageView> =
        model::in_flight(&s.network).into_iter().map(|(src, dst, msg)| names.message_at(s, src, dst, msg)).collect();
    in_flight.sort_by(|a, b| (&a.from, &a.to, &a.text).cmp(&(&b.from, &b.to, &b.text)));
    let jar_of = |b: &BrowserState| match (b.jar.refresh, b.storage) {
        (Some(r), _) => Some(format!("refresh={r}")),
        (None, Some(t)) => Some(format!("localStorage refresh_token={t}")),
        (None, None) => None,
    };
    let jar = if m.cfg.browsers.len() < 2 {
        jar_of(b)
    } else {
        let each: Vec<String> = (m.cfg.browsers.iter().enumerate())
            .filter_map(|(d, &ix)| jar_of(model::browser_at(s, ix)).map(|j| format!("device {}: {j}", d + 1)))
            .collect();
        (!each.is_empty()).then(|| each.join("; "))
    };
    let protocol = match m.actors.get(m.cfg.server) {
        Some(model::Node::AuthServer { protocol, .. }) => Some(protocol.clone()),
        _ => None,
    };
    let fields = |names: &[(String, crate::protocol::FieldType)], values: &model::oauth::Fields| -> String {
        names
            .iter()
            .zip(values)
            .map(|((n, t), v)| match (t, v) {
                (crate::protocol::FieldType::Token, 0) => format!("{n}=none"),
                _ => format!("{n}={v}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let table = |t: (&[model::oauth::TokRow], &[model::oauth::Family], &[model::oauth::Fields]),
                 user: &model::oauth::Fields,
                 node: &str| {
        let (rows, families, sessions) = t;
        let user_fields = protocol.as_ref().map_or(&[][..], |p| &p.user_fields[..]);
        let (issued_at, family_fields, session_fields, token_fields) = match &protocol {
            Some(p) => (p.records_issued_at, &p.family_fields[..], &p.session_fields[..], &p.token_fields[..]),
            None => (false, &[][..], &[][..], &[][..]),
        };
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                let status = match r.status {
                    TokStatus::Active => "active".to_string(),
                    TokStatus::Superseded { at, uses } => format!("superseded at {at}, {uses} grace use(s)"),
                    TokStatus::Revoked => "revoked".to_string(),
                    TokStatus::Unknown => return format!("{node}token={} unknown on this node", i + 1),
                };
                let parent = r.parent.map_or(String::new(), |p| format!(" parent={p}"));
                // The issue tick, where a rule reads it.
                let iat = if issued_at { format!(" iat={}", r.iat) } else { String::new() };
                // The declared per-token fields, where the protocol declares some.
                let declared = if token_fields.is_empty() {
                    String::new()
                } else {
                    format!("; {}", fields(token_fields, &r.fields))
                };
                format!("{node}token={} family={} gen={}{parent}{iat} {status}{declared}", i + 1, r.family, r.gen)
            })
            .chain(
                families
                    .iter()
                    .enumerate()
                    .filter(|_| !family_fields.is_empty())
                    .map(|(i, f)| format!("{node}family {i}: {}", fields(family_fields, &f.fields))),
            )
            .chain(
                sessions
                    .iter()
                    .enumerate()
                    .map(|(i, e)| format!("{node}client session {i}: {}", fields(session_fields, e))),
            )
            // The user row's declared fields (`fields.user`), where the protocol declares some.
            .chain((!user_fields.is_empty()).then(|| format!("{node}user: {}", fields(user_fields, user))))
            .collect::<Vec<String>>()
    };
    let who_sent = |c: model::ClientKey| names.who_at(Id::from(c.browser as usize), c.tab);
    let mut handlers: Vec<String> = auth
        .handlers
        .iter()
        .map(|h| {
            let step = protocol
                .as_ref()
                .and_then(|p| crate::model::interpret::handler_of(p, auth, h).steps.get(h.step as usize));
            let name = step.map_or(String::new(), |st| format!(" `{}`", st.name));
            let what = if h.sign_in { "sign-in" } else { "refresh" };
            format!("{} {what} of token={}: step{name} pending", who_sent(h.client), h.token)
        })
        .collect();
    let store = match &auth.cluster {
        None => {
            let mut lines = table((&auth.rows, &auth.families, &auth.sessions), &auth.user, "");
            lines.extend(auth.access.iter().enumerate().map(|(i, a)| access_row_text(i as u8 + 1, a)));
            lines
        }
        Some(c) => {
            // Two nodes (C09): each node's copy of the session entry, and what waits for the
            // load balancer or for replication.
            let mut lines = table((&auth.rows, &auth.families, &auth.sessions), &auth.user, "node 1: ");
            lines.extend(table((&c.second.rows, &c.second.families, &c.second.sessions), &c.second.user, "node 2: "));
            handlers.extend(c.pending.iter().map(|p| {
                let what = match p.endpoint {
                    model::oauth::AsEndpoint::Refresh => "refresh",
                    model::oauth::AsEndpoint::Revoke => "sign-out",
                };
                let tok = p.token.map_or("none".to_string(), |t| t.to_string());
                format!("{} {what} with token={tok}: waiting to be routed to a node", who_sent(p.client))
            }));
            handlers.extend(
                (0..2)
                    .filter(|&n| c.outbox[n].is_some())
                    .map(|n| format!("node {}: a write not yet replicated to node {}", n + 1, 2 - n)),
            );
            lines
        }
    };
    Snapshot {
        now: auth.now,
        tabs,
        jar,
        store,
        handlers,
        orphan_cookies: 0,
        session_valid: properties::session_valid(m, s, m.cfg.browsers[0]),
        in_flight,
    }
}

/// Describes one action taken from `before`, leading to `after`. With several browsers
/// (devices, authorization-server models) the browser concerned is the action's, and the
/// sentence names its tabs "device N tab X" (devices numbered from 1).
pub(crate) fn describe(
    m: &RefreshModel,
    before: &State,
    action: &Action,
    after: &State,
) -> (String, String, String, Option<MessageView>) {
    let (actor, name, text, message) = describe_devices(m, before, action, after);
    let word = &m.cfg.client_word;
    if word.is_tab() {
        return (actor, name, text, message);
    }
    let re = |x: &str| word.reword(x).into_owned();
    let message = message.map(|v| MessageView { from: re(&v.from), to: re(&v.to), text: re(&v.text) });
    (re(&actor), name, re(&text), message)
}

/// [`describe`] in the default client word, naming devices where the model has several.
fn describe_devices(
    m: &RefreshModel,
    before: &State,
    action: &Action,
    after: &State,
) -> (String, String, String, Option<MessageView>) {
    if m.cfg.browsers.len() < 2 {
        return describe_in(m, m.cfg.browsers[0], before, action, after);
    }
    let of = |id: &Id| m.cfg.browsers.iter().position(|&b| b == usize::from(*id));
    let device = match action {
        // A server's step names the device whose request it serves, as the request's arrival did.
        ActorModelAction::Timeout(_, Timer::ServerStep { client, .. }) => {
            m.cfg.browsers.iter().position(|&b| b == usize::from(client.browser))
        }
        ActorModelAction::Timeout(id, _) => of(id),
        ActorModelAction::Deliver { src, dst, .. } => of(src).or_else(|| of(dst)),
        ActorModelAction::Drop(env) => of(&env.src).or_else(|| of(&env.dst)),
        _ => None,
    };
    let Some(d) = device else { return describe_in(m, m.cfg.browsers[0], before, action, after) };
    let (actor, name, text, message) = describe_in(m, m.cfg.browsers[d], before, action, after);
    // The actor is the tab's snapshot name (`tab 2A`), as are the message's ends; the sentence
    // says "device 2 tab A".
    let actor = match actor.strip_prefix("tab ") {
        Some(letter) => format!("tab {}{letter}", d + 1),
        None => actor,
    };
    let text = text.replace(&format!("tab {}", d + 1), "tab ").replace("tab ", &format!("device {} tab ", d + 1));
    (actor, name, text, message)
}

fn describe_in(
    m: &RefreshModel,
    browser: usize,
    before: &State,
    action: &Action,
    after: &State,
) -> (String, String, String, Option<MessageView>) {
    let names = Names { model: m, words: words(m), before: Some(before) };
    let (refresh, sign_out) = (names.words.refresh(), names.words.sign_out());
    match action {
        ActorModelAction::Timeout(_, Timer::TabRefreshes(t)) => {
            let b0 = model::browser_at(before, browser);
            let b1 = model::browser_at(after, browser);
            let tab = who(*t);
            if let Some(text) = awaits_refresh_in_flight(m, browser, b0, b1, *t, 0) {
                return (tab, "TabAwaitsRefreshInFlight".into(), text, None);
            }
            let (action, text) = match b1.tabs[*t as usize].status {
                TabStatus::CheckingFresh => (
                    "TabChecksFreshness",
                    format!(
                        "{tab} returns from idle with a fresh token and sends {} instead of refreshing (PR 22464)",
                        names.words.check()
                    ),
                ),
                TabStatus::WaitingLock => {
                    // With `sign_out_takes_lock` the holder may be a tab signing out: say so.
                    let signing_out = b1
                        .lock
                        .filter(|h| b1.tabs.get(usize::from(*h)).is_some_and(|x| x.status == TabStatus::SigningOut));
                    let held = match signing_out {
                        Some(h) => format!("held by {}, which is signing out", who(h)),
                        None => "held by another tab".to_string(),
                    };
                    ("TabWaitsForLock", format!("{tab} returns from idle and waits for the refresh lock {held}"))
                }
                TabStatus::LockSeenFree => {
                    ("TabReadsLockFree", format!("{tab} returns from idle and reads the localStorage lock key: free"))
                }
                TabStatus::LoggedOut => (
                    // `sign_out_takes_lock`, the lock free and the storage empty: auth-js's
                    // `__loadSession` finds no session ([`BrowserState::finds_no_session`]).
                    "TabFindsNoSession",
                    format!(
                        "{tab} loads or returns from idle, takes the free Web Lock, finds no session in storage and sends nothing: it is logged out"
                    ),
                ),
                TabStatus::AwaitingBroadcast => (
                    "TabAwaitsBroadcast",
                    format!("{tab} needs a new token and, a follower, waits for the leader's broadcast"),
                ),
                TabStatus::TokenRead => {
                    let lock = if b1.lock == Some(*t) && b0.lock != Some(*t) { ", takes the Web Lock" } else { "" };
                    ("TabReadsToken", format!("{tab} {}{lock} and {}", names.words.refresh_start(), read_text(b1, *t, refresh)))
                }
                TabStatus::Idle => (
                    "TabFindsStoredSessionFresh",
                    format!(
                        "{tab} returns from idle and takes the Web Lock; the stored session is fresh ({}): it takes it over, sends no refresh and releases the lock",
                        stored_session_words(b1, m, browser)
                    ),
                ),
                _ => {
                    let sent = match model::browser_at(after, browser).tabs[*t as usize].status {
                        TabStatus::Refreshing { .. } => refresh_source(b0, m, *t),
                        _ => String::new(),
                    };
                    let ssr = match &m.actors[browser] {
                        Node::Browser { cfg, .. } => *t < cfg.ssr_paths,
                        _ => false,
                    };
                    let text = if ssr {
                        match expiry_trigger_words(m, browser, b0, *t, 0) {
                            Some(why) => format!(
                                "{tab}, a server-side render path, {why} and refreshes: {refresh} with {sent}"
                            ),
                            None => format!("{tab}, a server-side render path, refreshes: {refresh} with {sent}"),
                        }
                    } else if let Some(why) = expiry_trigger_words(m, browser, b0, *t, 0) {
                        format!("{tab} {why} and sends {refresh} with {sent}")
                    } else {
                        format!("{tab} {} and sends {refresh} with {sent}", names.words.refresh_start())
                    };
                    ("TabSendsRefresh", text)
                }
            };
            (tab, action.into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::TabRequests(t)) => {
            let jar = model::browser_at(before, browser).jar;
            (
                who(*t),
                "TabSendsRequest".into(),
                format!("{} sends {} with the jar's cookie ({})", who(*t), names.words.check(), jwt(&jar.session)),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::DeviceSignsIn) => (
            who(0),
            "DeviceSignsIn".into(),
            if model::browser_at(before, browser).sign_in.is_done() && password_change(m, browser) {
                // `browser.re_sign_in_is: password-change`.
                if has_password_change_handler(m) {
                    // The `password_change` handler says what the change keeps.
                    format!(
                        "the user changes the password on this device from {}: password-change request (the protocol's `password_change` handler serves it)",
                        who(0)
                    )
                } else {
                    format!(
                        "the user changes the password on this device from {}: password-change request (the session it holds ends by the user's own action; the answer is the device's new session)",
                        who(0)
                    )
                }
            } else if model::browser_at(before, browser).sign_in.is_done() {
                // `browser.re_sign_ins`: the device was signed in already.
                format!(
                    "the user signs in again on this device from {}: sign-in request (the session it holds ends by the user's own action)",
                    who(0)
                )
            } else {
                format!(
                    "the user signs in on this device (it signs in during the run) from {}: sign-in request",
                    who(0)
                )
            },
            None,
        ),
        ActorModelAction::Timeout(_, Timer::TabSignsOut(t))
            if model::browser_at(after, browser).tabs[*t as usize].sign_out_queued =>
        {
            let b = model::browser_at(before, browser);
            let holder = b.lock.map_or("another tab".to_string(), &who);
            (
                who(*t),
                "TabSignsOut".into(),
                format!(
                    "the user signs out in {}: the sign-out waits for the Web Lock held by {holder} (it will send {sign_out} once granted)",
                    who(*t)
                ),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabSignsOut(t)) if signs_out_locally(m, browser) => (
            who(*t),
            "TabSignsOut".into(),
            format!(
                "the user signs out in {}: the client clears its stored session and sends nothing (a local-only sign-out): it is logged out, and the server is not told",
                who(*t)
            ),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::TabSignsOut(t))
            if model::browser_at(after, browser).tabs[*t as usize].status == TabStatus::LoggedOut =>
        {
            // `sign_out_takes_lock`, the lock free and the storage empty: auth-js's `_useSession`
            // finds no session and returns ([`BrowserState::finds_no_session`]).
            (
                who(*t),
                "TabSignsOut".into(),
                format!(
                    "the user signs out in {}: it takes the free Web Lock, finds no session in storage and sends nothing: it is logged out",
                    who(*t)
                ),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabSignsOut(t)) => (
            who(*t),
            "TabSignsOut".into(),
            format!("the user signs out in {}: {sign_out} with {}", who(*t), {
                use crate::protocol::Presents;
                let b = model::browser_at(before, browser);
                let presents = match m.actors.get(m.cfg.server) {
                    Some(model::Node::AuthServer { protocol, .. }) => protocol.sign_out_presents,
                    _ => Presents::RefreshToken,
                };
                let access = b.tabs.get(*t as usize).and_then(|tab| tab.access).filter(|_| presents.access());
                let hint = match m.actors.get(m.cfg.server) {
                    Some(model::Node::AuthServer { protocol, .. }) => {
                        protocol.revocation.and_then(|r| r.hint_text()).map_or(String::new(), |h| format!(", {h}"))
                    }
                    _ => String::new(),
                };
                match (access, presents) {
                    (Some(a), Presents::Both) => {
                        format!("the access token it holds (access token={a}) and {}", stored_refresh(b, *t))
                    }
                    (Some(a), _) => format!("the access token it holds (access token={a}{hint})"),
                    (None, _) if hint.is_empty() => stored_refresh(b, *t),
                    (None, _) => format!("{} and {}", stored_refresh(b, *t), &hint[2..]),
                }
            }),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::TabPollsLock(t)) => (
            who(*t),
            "TabReadsLockFree".into(),
            format!("{} polls the localStorage lock key again: free", who(*t)),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::TabSetsLock(t)) => (
            who(*t),
            "TabSetsLockAndRefreshes".into(),
            format!(
                "{} sets the localStorage lock key and sends {refresh} with {}",
                who(*t),
                refresh_source(model::browser_at(before, browser), m, *t)
            ),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::TabCalls(t)) => {
            // What the tab holds once it started the call (with a stored session, what it
            // read from the storage; otherwise what it held before).
            let held = model::browser_at(after, browser).tabs[*t as usize].access;
            let doing = match model::browser_at(before, browser).tabs[*t as usize].status {
                TabStatus::Idle => String::new(),
                // The tab's stored copy is what it holds, not something the call stores.
                _ => format!(
                    " while it is {}",
                    tab_words(model::browser_at(before, browser), *t as usize, browser_mode(m), "holding")
                ),
            };
            let b1 = model::browser_at(after, browser);
            let waits = b1.tabs[*t as usize].call.is_some_and(|c| c.awaiting_refresh);
            // `call_refresh_margin`: the access token is about to expire (or none is held).
            let why = held.map_or("it holds no access token".to_string(), |a| {
                format!("its access token={a} expires within the margin")
            });
            let text = match (waits, b1.tabs[*t as usize].status) {
                (true, TabStatus::Refreshing { .. }) if !doing.is_empty() => {
                    format!(
                        "{} starts {}; {why}, so the call waits for the refresh in flight{doing}",
                        who(*t),
                        names.words.a_call()
                    )
                }
                (true, TabStatus::WaitingLock) if doing.is_empty() => format!(
                    "{} starts {}; {why}, so it first refreshes: it waits for the refresh lock held by another tab",
                    who(*t),
                    names.words.a_call()
                ),
                (true, _) => format!(
                    "{} starts {}; {why}, so it first sends {refresh} with {}",
                    who(*t),
                    names.words.a_call(),
                    refresh_source(model::browser_at(before, browser), m, *t)
                ),
                (false, _) => {
                    let sent = b1.tabs[*t as usize].call.and_then(|c| c.sent);
                    let held = sent.map_or("no access token".to_string(), |a| format!("access token={a}"));
                    format!("{} sends {} with {held}{doing}", who(*t), names.words.a_call())
                }
            };
            // A call that waits for a refresh sends no call now: its own action name.
            let action = if waits { "TabRefreshesBeforeCall" } else { "TabSendsCall" };
            (who(*t), action.into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::AttackerCalls(a)) => (
            "attacker".into(),
            "AttackerCalls".into(),
            format!("the attacker makes {} with a copied access token={a}", names.words.a_call()),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::AttackerRedeems(cred)) => (
            "attacker".into(),
            "AttackerRedeems".into(),
            format!(
                "the attacker redeems a copied token: {refresh} ({}){}",
                cred_text(cred),
                attacker_client_text(m, before)
            ),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::AttackerReadsStorage) => (
            "attacker".into(),
            "AttackerReadsStorage".into(),
            storage_read_text(m, browser, model::browser_at(after, browser)),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::TabAbortsRefresh(t)) => {
            let (b0, b1) = (model::browser_at(before, browser), model::browser_at(after, browser));
            let sent = abandoned_sent(b0, *t);
            let then = match b1.tabs[*t as usize].status {
                TabStatus::Refreshing { sent } => {
                    format!("sends {refresh} again with token={}", sent.map_or("none".to_string(), |x| x.to_string()))
                }
                TabStatus::Idle => format!("keeps going with {}", stored_refresh(b1, *t)),
                _ => "is logged out".into(),
            };
            let then = with_clears(&trail_of(m, browser, |cfg| b0.abort_trail(cfg, *t)), then);
            let answered = abandoned_answer(m, &names, before, after, browser, *t);
            let served = match answered {
                Some(a) => format!("the server has already answered it ({a}), and that answer will be dropped"),
                None => "the server may still serve the request and its answer will be read by nobody".into(),
            };
            (
                who(*t),
                "TabAbortsRefresh".into(),
                format!(
                    "{} aborts its refresh in flight (sent with {sent}): the fetch fails at once; {served}; `on_aborted`: the tab {then}",
                    who(*t)
                ),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabGivesUpLock(t)) => {
            let (b0, b1) = (model::browser_at(before, browser), model::browser_at(after, browser));
            let text = match &m.actors[browser] {
                Node::Browser { cfg, .. } => model::browser::lock_wait::give_up_text(cfg, b0, b1, *t, &who(*t)),
                _ => String::new(),
            };
            (who(*t), "TabGivesUpLock".into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::TabRereadsToken(t)) => {
            let (b0, b1) = (model::browser_at(before, browser), model::browser_at(after, browser));
            let text = match &m.actors[browser] {
                Node::Browser { cfg, .. } => {
                    let rest = reactions_words(&b0.reread_trail(cfg, *t)).unwrap_or_default();
                    model::browser::store_wait::reread_text(cfg, (b0, b1), *t, &who(*t), &rest)
                }
                _ => String::new(),
            };
            (who(*t), "TabRereadsToken".into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::BrowserTick) => {
            let now = model::browser_at(after, browser).now;
            ("clock".into(), "BrowserClockTicks".into(), format!("the browser's clock passes: now = {now}"), None)
        }
        ActorModelAction::Timeout(_, Timer::Tick) => {
            let now = model::clock_at(after, m.cfg.server);
            ("clock".into(), "ClockTicks".into(), format!("time passes: now = {now}"), None)
        }
        ActorModelAction::Timeout(_, Timer::TabSendsReadToken(t)) => {
            let (b0, b1) = (model::browser_at(before, browser), model::browser_at(after, browser));
            let read = b0.tabs[*t as usize].read.map_or("no token".to_string(), |x| format!("token={x}"));
            let stored = match &m.actors[browser] {
                Node::Browser { cfg, .. } => b1.stored_token(cfg, *t),
                _ => None,
            };
            let now = match stored {
                Some(x) if Some(x) != b0.tabs[*t as usize].read => format!(" (the storage holds token={x} by now)"),
                _ => String::new(),
            };
            (
                who(*t),
                "TabSendsRefresh".into(),
                format!("{} sends {refresh} with the refresh token it read ({read}){now}", who(*t)),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabHangsWithLock(t)) => (
            who(*t),
            "TabHangsWithLock".into(),
            format!("{}'s lock callback hangs: it will never release the Web Lock", who(*t)),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::TabStealsLock(t)) => {
            let (b0, b1) = (model::browser_at(before, browser), model::browser_at(after, browser));
            let text = if b1.tabs[*t as usize].status == TabStatus::Idle {
                // `lock_granted: "skip-if-token-changed"`: the stealing tab checks too.
                let mut text = format!("{} steals the Web Lock (steal: true)", who(*t))
                    + &skipped_grants_text(m, browser, b0, b1).replacen(
                        &format!("; {} is granted the lock", who(*t)),
                        "",
                        1,
                    );
                if let Some(n) = b1.lock {
                    if let TabStatus::Refreshing { sent } = b1.tabs[n as usize].status {
                        let sent = sent.map_or("none".to_string(), |x| x.to_string());
                        text += &format!("; {} is granted the lock and sends its refresh with token={sent}", who(n));
                    } else if b1.tabs[n as usize].status == TabStatus::TokenRead {
                        text += &format!("; {} is granted the lock and {}", who(n), read_text(b1, n, refresh));
                    }
                }
                text
            } else if b1.tabs[*t as usize].status == TabStatus::TokenRead {
                format!("{} steals the Web Lock (steal: true) and {}", who(*t), read_text(b1, *t, refresh))
            } else {
                format!(
                    "{} steals the Web Lock (steal: true) and sends its refresh with {}",
                    who(*t),
                    refresh_source(b0, m, *t)
                )
            };
            (who(*t), "TabStealsLock".into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::TabGetsBroadcast(t)) => {
            let b0 = model::browser_at(before, browser);
            let tab = &b0.tabs[*t as usize];
            let tok = tab.inbox.and_then(|x| x.token).map_or(String::new(), |x| format!(" refresh token={x}"));
            let end = match tab.status {
                TabStatus::AwaitingBroadcast => "; its wait ends",
                TabStatus::Idle => "; its next renewal is done",
                TabStatus::Closed | TabStatus::LoggedOut => "; it drops it",
                _ => "",
            };
            (
                who(*t),
                "TabGetsBroadcast".into(),
                format!("the leader's BroadcastChannel message reaches {}:{tok}{end}", who(*t)),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabHearsSignOut(t)) => {
            let (b0, b1) = (model::browser_at(before, browser), model::browser_at(after, browser));
            let notice = match m.actors.get(browser) {
                Some(model::Node::Browser { cfg, .. }) => cfg.sign_out_notice,
                _ => Default::default(),
            };
            let (t0, t1) = (&b0.tabs[*t as usize], &b1.tabs[*t as usize]);
            let text = model::browser::signout_notice::hear_text(notice, t0, t1, &who(*t));
            (who(*t), "TabHearsSignOut".into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::TabCloses(t)) => (
            who(*t),
            "LeaderTabCloses".into(),
            format!("{} (the leader) is closed or frozen with its refresh in flight: it will never broadcast", who(*t)),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::TabWaits(t)) => {
            let b1 = model::browser_at(after, browser);
            let tab = &b1.tabs[*t as usize];
            let (action, text) = if matches!(tab.status, TabStatus::Refreshing { .. }) {
                (
                    "FollowerTimesOut",
                    format!(
                        "{} gives up waiting for the broadcast and sends its own refresh with {}",
                        who(*t),
                        refresh_source(model::browser_at(before, browser), m, *t)
                    ),
                )
            } else {
                (
                    "TabStillWaits",
                    format!("{} takes a step of its own and still waits ({} step(s))", who(*t), tab.waited),
                )
            };
            (who(*t), action.into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::StorageSyncs(t)) => (
            who(*t),
            "StorageReachesTab".into(),
            format!(
                "the last localStorage write reaches {}: it now reads refresh_token={}",
                who(*t),
                model::browser_at(after, browser).tabs[*t as usize].token.map_or("none".into(), |x| x.to_string())
            ),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::NodeServes { client, slot, node }) => {
            let what = match model::auth_server_at(before, m.cfg.server)
                .and_then(|a| a.cluster.as_ref())
                .and_then(|c| c.pending.iter().find(|p| (p.client, p.slot) == (*client, *slot)))
            {
                Some(p) if p.endpoint == model::oauth::AsEndpoint::Revoke => "sign-out".to_string(),
                Some(p) => format!("refresh (token={})", p.token.map_or("none".into(), |t| t.to_string())),
                None => "request".to_string(),
            };
            // What the node did to its own copy: a refusal that writes nothing is not "served".
            let copy = |st: &State| {
                model::auth_server_at(st, m.cfg.server).map(|a| match (&a.cluster, node) {
                    (Some(c), 1) => (c.second.rows.clone(), c.second.families.clone(), c.second.sessions.clone()),
                    _ => (a.rows.clone(), a.families.clone(), a.sessions.clone()),
                })
            };
            let (was, is) = (copy(before), copy(after));
            let unknown = match (&was, pending_token(m, before, *client, *slot)) {
                (Some((rows, ..)), Some(t)) => (t as usize)
                    .checked_sub(1)
                    .and_then(|i| rows.get(i))
                    .is_none_or(|r| r.status == model::oauth::TokStatus::Unknown)
                    .then_some(t),
                _ => None,
            };
            let text = match unknown {
                _ if was != is => format!(
                    "the load balancer routes {}'s {what} to node {}, which serves it on its own copy of the session entry",
                    who(client.tab),
                    node + 1
                ),
                // A sign-out that finds no row runs no rule: it revokes nothing, yet answers as
                // a sign-out does (RFC 7009 §2.2), and the user is signed out all the same.
                Some(t) if what == "sign-out" => format!(
                    "the load balancer routes {}'s sign-out to node {}, whose copy of the session entry has no token={t}: it runs no sign-out rule and revokes nothing, yet answers that the user is signed out",
                    who(client.tab),
                    node + 1
                ),
                Some(t) => format!(
                    "the load balancer routes {}'s {what} to node {}, whose copy of the session entry has no token={t}: it answers without changing anything",
                    who(client.tab),
                    node + 1
                ),
                None => format!(
                    "the load balancer routes {}'s {what} to node {}, which answers from its own copy of the session entry without changing it",
                    who(client.tab),
                    node + 1
                ),
            };
            (format!("node {}", node + 1), "NodeServesRequest".into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::ServerRestarts) => {
            let lost = model::auth_server_at(before, m.cfg.server).map_or(0, |a| a.handlers.len());
            let in_flight =
                if lost > 0 { format!(", and {lost} request(s) in progress fail with 500") } else { String::new() };
            let text = match in_memory_fields(m) {
                fields if fields.is_empty() => {
                    let durable = if declares_fields(m) {
                        "the token store and its declared fields are durable"
                    } else {
                        "the token store is durable"
                    };
                    format!("the server restarts ({durable}){in_flight}")
                }
                fields => {
                    format!("the server restarts: its in-memory fields ({}) are lost{in_flight}", fields.join(", "))
                }
            };
            ("server".to_string(), "ServerRestarts".into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::ServerStep { client, .. })
            if model::auth_server_at(before, m.cfg.server)
                .is_some_and(|a| a.handlers.iter().any(|h| h.client == *client && h.sign_in)) =>
        {
            let text = format!(
                "server runs {}'s {}{}",
                who(client.tab),
                sign_in_noun(m, client.browser as usize),
                sign_in_words(m, before, action)
            );
            ("server".to_string(), "ServerRunsSignIn".into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::ServerStep { client, slot }) => {
            let (step, how) = next_step_text(m, before, *client, *slot);
            let what = if *slot > 0 { "second request in progress" } else { "refresh" };
            let decision = decision_words(m, before, action, false);
            let aborted = match abandoned_refresh(m, before, usize::from(client.browser), client.tab) {
                Some(how) => format!(" ({how} refresh: its answer will be dropped)"),
                None => String::new(),
            };
            let text = format!("server runs {step} of {}'s {what}{aborted}{how}{decision}", who(client.tab));
            ("server".to_string(), "ServerWritesRefresh".into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::NodeReplicates(from)) => (
            format!("node {}", from + 1),
            "NodeReplicates".into(),
            format!(
                "node {} replicates its session entry to node {}, overwriting that node's whole entry",
                from + 1,
                2 - from
            ),
            None,
        ),
        ActorModelAction::Timeout(_, Timer::RequesterRefreshes(t, r)) => {
            let addr =
                model::browser::requesters::address(*t, *r, model::browser_at(before, browser).tabs[*t as usize].page);
            let w = who(addr);
            let (b0, b1) = (model::browser_at(before, browser), model::browser_at(after, browser));
            if let Some(text) = awaits_refresh_in_flight(m, browser, b0, b1, *t, *r) {
                return (w, "RequesterAwaitsRefreshInFlight".into(), text, None);
            }
            (
                w.clone(),
                "RequesterSendsRefresh".into(),
                match expiry_trigger_words(m, browser, model::browser_at(before, browser), *t, *r) {
                    Some(why) => format!(
                        "{w} {why} and refreshes on its own (no single-flight): {refresh} with {}",
                        refresh_source(model::browser_at(before, browser), m, *t)
                    ),
                    None => format!(
                        "{w} refreshes on its own (no single-flight): {refresh} with {}",
                        refresh_source(model::browser_at(before, browser), m, *t)
                    ),
                },
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabFinishesStoring(t)) => {
            let b0 = model::browser_at(before, browser);
            let text = match b0.tabs[*t as usize].status {
                TabStatus::WritingSecond { refresh: Some(tok) } => format!(
                    "{} writes the new refresh token (token={tok}), the second of its two storage writes",
                    who(*t)
                ),
                _ => format!("{} writes the new access token, the second of its two storage writes", who(*t)),
            };
            (who(*t), "TabFinishesStoring".into(), text, None)
        }
        ActorModelAction::Timeout(_, Timer::TabCrashes(t)) => {
            let b0 = model::browser_at(before, browser);
            let lost = match b0.tabs[*t as usize].status {
                TabStatus::WritingSecond { refresh: Some(tok) } => {
                    format!(" between its two writes: the new refresh token (token={tok}) is never written")
                }
                TabStatus::WritingSecond { refresh: None } => {
                    " between its two writes: the new access token is never written".to_string()
                }
                _ => " while idle".to_string(),
            };
            (
                who(*t),
                "TabCrashes".into(),
                format!(
                    "{}'s process dies{lost}; it starts again with what storage holds ({}) and nothing in memory",
                    who(*t),
                    stored_refresh(model::browser_at(after, browser), *t)
                ),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabReloads(t)) => {
            let b1 = model::browser_at(after, browser);
            let page = b1.tabs[*t as usize].page;
            (
                who(*t),
                "TabReloads".into(),
                format!(
                    "the user reloads {} while its refresh is in flight: the browser cancels the request (its answer will never be read), and the reloaded page ({}) sends {refresh} with {}",
                    who(*t),
                    who(model::browser::requesters::address(*t, 0, page)),
                    // the reloaded page holds no access token: its refresh presents none
                    stored_refresh(model::browser_at(before, browser), *t)
                ),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabRetries(t)) if matches!(m.actors.get(browser), Some(Node::Browser { cfg, .. }) if cfg.on_timeout.is_some()) => {
            (who(*t), "TabTimesOut".into(), time_out_text(m, browser, before, after, *t, refresh), None)
        }
        ActorModelAction::Timeout(_, Timer::TabRetries(t)) => (
            who(*t),
            "TabRetriesRefresh".into(),
            format!(
                "{} {} and sends its refresh again with {}",
                who(*t),
                match model::browser_at(before, browser).tabs.get(*t as usize).and_then(|tab| tab.sent_at) {
                    // A timeout of N ticks (`browser.retry_timeout`): the clock it read.
                    Some(at) => {
                        let now = model::browser_at(before, browser).now;
                        format!(
                            "times out (no answer {} tick{} after it sent its refresh: sent at browser clock {at}, now {now})",
                            now - at,
                            if now - at == 1 { "" } else { "s" }
                        )
                    }
                    None if m.cfg.retry_after_loss => {
                        "times out (its request or the answer was lost: nothing of its refresh is on its way)".into()
                    }
                    None => "got no answer".into(),
                },
                refresh_source(model::browser_at(before, browser), m, *t)
            ),
            None,
        ),
        ActorModelAction::Deliver { src, dst, msg } => {
            let view = names.message_at(before, *src, *dst, msg);
            let (actor, action, text) = match msg {
                Msg::ClockTicked { now } => (
                    "clock".to_string(),
                    "ClockMayTickAgain",
                    format!("the tick to {now} is settled: the clock may advance again (max_in_flight_ticks)"),
                ),
                Msg::SignInRequest { tab } => (
                    "server".to_string(),
                    "ServerReceivesSignIn",
                    format!(
                        "server receives {}'s {}{}",
                        who(*tab),
                        sign_in_noun(m, usize::from(*src)),
                        sign_in_words(m, before, action)
                    ),
                ),
                Msg::SignInResponse { tab, reply } => {
                    let w = who(*tab);
                    let text = match reply {
                        Reply::Ok { token: Some(t), access, .. } => {
                            let access = access.map(|a| format!(" and access token={a}")).unwrap_or_default();
                            format!(
                                "{w} gets {}: the device is signed in, its tabs hold refresh token={t}{access}",
                                view.text
                            )
                        }
                        // A password change answered `session_kept`.
                        Reply::Ok { token: None, .. } => {
                            format!(
                                "{w} gets {}: the password is changed and the device keeps the session it held",
                                view.text
                            )
                        }
                        _ => match &m.actors[usize::from(*dst)] {
                            // A sign-in again (`browser.re_sign_ins`) refused: the device keeps
                            // the session it held.
                            Node::Browser { cfg, .. } if cfg.re_sign_ins > 0 => {
                                format!("{w} gets {}: the device keeps the session it held", view.text)
                            }
                            _ => format!("{w} gets {}: the device is still signed out", view.text),
                        },
                    };
                    let (b0, b1) = (model::browser_at(before, browser), model::browser_at(after, browser));
                    let old = match &m.actors[browser] {
                        Node::Browser { cfg, .. } => b0.stored_token(cfg, 0),
                        _ => None,
                    };
                    let new = match reply {
                        Reply::Ok { token, .. } => *token,
                        _ => None,
                    };
                    // The user's sign-in again, answered 2xx: the reaction a follow-up may come after.
                    let reacted = (matches!(reply, Reply::Ok { .. })
                        && b0.sign_in == model::browser::SignInStage::Sent
                        && b1.sign_in == model::browser::SignInStage::Done)
                        .then_some(model::policy::FollowUpAfter::SignInAgain);
                    let text = text + &follow_up_sent_text(m, browser, (b0, b1), usize::from(*tab), reacted, old, new);
                    (w, "TabReceivesSignInResponse", text)
                }
                Msg::RefreshRequest { tab, .. } => (
                    "server".to_string(),
                    "ServerReceivesRefresh",
                    format!("server receives {}'s {}{}", who(*tab), view.text, decision_words(m, before, action, true)),
                ),
                Msg::UsersMeRequest { tab, .. } => (
                    "server".to_string(),
                    "ServerReceivesRequest",
                    format!("server receives {}'s {}", who(*tab), view.text),
                ),
                Msg::CallRequest { tab, .. } => (
                    "server".to_string(),
                    "ServerReceivesCall",
                    format!("server receives {}'s {}{}", who(*tab), view.text, call_decision(m, before, msg)),
                ),
                Msg::CallResponse { tab, reply } => {
                    let w = who(*tab);
                    let b0 = model::browser_at(before, browser);
                    let b1 = model::browser_at(after, browser);
                    // With reloads the address carries the page; an answer to a page since
                    // reloaded is read by nobody.
                    let t = model::browser::requesters::split(*tab).map(|(t, _, _)| t as usize);
                    let cancelled = t.is_some() && b0.call_answer_tab(*tab).is_none();
                    let tail = match (t, reply) {
                        (None, _) => String::new(),
                        (Some(_), _) if cancelled => {
                            ": nobody reads it (the page that sent the call was reloaded)".to_string()
                        }
                        (Some(t), Reply::Ok { .. }) => match b1.tabs[t].access {
                            // `on_call_ok: ["store-echoed-access-token"]`
                            Some(a) if b0.tabs[t].access != b1.tabs[t].access => {
                                format!("; the answer echoes it and the app stores it: the tab holds access token={a} again")
                            }
                            _ => String::new(),
                        },
                        (Some(t), Reply::Err(_)) => {
                            let was_out = b0.tabs[t].status == TabStatus::LoggedOut;
                            let now_out = b1.tabs[t].status == TabStatus::LoggedOut;
                            // The clears and the retries with none left that ran before the
                            // reaction that ended the list, in the refusal's words.
                            let trail = trail_of(m, browser, |cfg| {
                                let ct = if cfg.reloads > 0 { b0.call_answer_tab(*tab) } else { Some(*tab) };
                                ct.map(|ct| b0.call_reply_trail(cfg, ct, *reply)).unwrap_or_default()
                            });
                            let ran: Vec<String> = trail
                                .iter()
                                .filter(|r| {
                                    matches!(r, model::browser::Ran::Cleared(..) | model::browser::Ran::NoRetryLeft)
                                })
                                .map(ran_words)
                                .collect();
                            let with_ran = |tail: String| match tail.strip_prefix(": ") {
                                Some(rest) if !ran.is_empty() && !was_out => {
                                    format!(": it {} and {rest}", ran.join(", "))
                                }
                                _ => tail,
                            };
                            with_ran(match b1.tabs[t].call {
                                _ if was_out => " (the tab is logged out already)".to_string(),
                                Some(c) if c.awaiting_refresh => match b1.tabs[t].status {
                                    TabStatus::Refreshing { sent } if b0.tabs[t].status == TabStatus::Idle => format!(
                                        ": it refreshes ({refresh} with token={}) and will send the call again",
                                        sent.map_or("none".to_string(), |x| x.to_string())
                                    ),
                                    TabStatus::WaitingLock if b0.tabs[t].status == TabStatus::Idle => {
                                        ": it queues for the refresh lock held by another tab and will send the call again"
                                            .to_string()
                                    }
                                    _ => ": it waits for the tab's refresh in flight and will send the call again"
                                        .to_string(),
                                },
                                Some(c) => format!(
                                    ": it sends the call again with {}",
                                    c.sent.map_or("no access token".to_string(), |a| format!("access token={a}"))
                                ),
                                None if now_out => ": the tab is logged out".to_string(),
                                None => ": the app keeps going".to_string(),
                            })
                        }
                        (Some(_), _) => String::new(),
                    };
                    // Web Locks: a call's log-out released the tab's lock to the next waiter.
                    let tail = match (t, b0.lock, b1.lock) {
                        (Some(t), Some(h), after) if h as usize == t && after != Some(h) => {
                            let mut s = tail + "; the page's Web Lock is released";
                            s += &skipped_grants_text(m, browser, b0, b1);
                            if let Some(n) = after {
                                if let TabStatus::Refreshing { sent } = b1.tabs[n as usize].status {
                                    s += &format!(
                                        "; {} is granted the lock and sends {refresh} with token={}",
                                        who(n),
                                        sent.map_or("none".to_string(), |x| x.to_string())
                                    );
                                } else if b1.tabs[n as usize].status == TabStatus::TokenRead {
                                    s += &format!("; {} is granted the lock and {}", who(n), read_text(b1, n, refresh));
                                }
                            }
                            s + &resumed_calls_text(b0, b1, names.words.call())
                        }
                        _ => tail,
                    };
                    let action =
                        if *tab == ATTACKER { "AttackerReceivesCallResponse" } else { "TabReceivesCallResponse" };
                    let sent = t
                        .and_then(|t| b0.tabs.get(t))
                        .and_then(|t| t.call)
                        .filter(|_| !cancelled)
                        .and_then(|c| c.sent)
                        .map_or(String::new(), |a| format!(" with access token={a}"));
                    (w.clone(), action, format!("{w} gets {} for its {}{sent}{tail}", view.text, names.words.call()))
                }
                Msg::LogoutRequest { tab, cred, access } => (
                    "server".to_string(),
                    "ServerReceivesLogout",
                    format!(
                        "server receives {}'s {}{}{}",
                        who(*tab),
                        view.text,
                        revocation_text(m, before, cred, *access),
                        sessions_ended_text(m, before, after)
                    ),
                ),
                Msg::FollowUpRequest { tab, token } => (
                    "server".to_string(),
                    "ServerReceivesFollowUp",
                    format!(
                        "server receives {}'s {}: {} ({}){}",
                        who(*tab),
                        follow_up_noun(m, browser),
                        view.text,
                        if follow_up_noun(m, browser) == "follow-up" {
                            "a revocation, not a sign-out"
                        } else {
                            "a reaction to its failed refresh, not the user's sign-out"
                        },
                        follow_up_rule_words(m, before, *token)
                    ),
                ),
                Msg::FollowUpResponse { tab, .. } => {
                    let w = who(*tab);
                    (
                        w.clone(),
                        "TabReceivesFollowUpResponse",
                        format!("{w} gets {} for its {} and ignores it", view.text, follow_up_noun(m, browser)),
                    )
                }
                Msg::Query { client, sql, .. } => {
                    let h =
                        model::server_at(before, m.cfg.server).handlers.iter().find(|h| h.client == *client).copied();
                    let name = sql_step_name(sql, h.as_ref(), model::session_program(m));
                    let what = if name == "StoreRunsSessionCheck" { " (verifySessionJWT)" } else { "" };
                    ("store".to_string(), name, format!("store runs {}{what} for {}", sql_text(sql), who(client.tab)))
                }
                Msg::QueryResult { client, result } => (
                    "server".to_string(),
                    "ServerReceivesResult",
                    format!(
                        "server gets {} for {}",
                        result_text(result, cache_verbs_awaited(m, before, *client)),
                        who(client.tab)
                    ),
                ),
                Msg::Transaction { handler, .. } => (
                    "store".to_string(),
                    "StoreRunsTransaction",
                    format!(
                        "store runs {}'s whole {:?} handler as one transaction",
                        who(handler.client.tab),
                        handler.endpoint
                    ),
                ),
                Msg::TransactionDone { handler, .. } => (
                    "server".to_string(),
                    "ServerReceivesTransactionResult",
                    format!("server gets the transaction's outcome for {}", who(handler.client.tab)),
                ),
                Msg::RefreshResponse { tab, reply } => {
                    let w = who(*tab);
                    // A retrying tab's address carries its refresh round: index by the tab bits.
                    let ti =
                        model::browser::requesters::split(*tab).map_or(usize::from(*tab), |(t, _, _)| usize::from(t));
                    let (before_b, after_b) = (model::browser_at(before, browser), model::browser_at(after, browser));
                    let addressed = requesters_response_text(m, browser, before_b, after_b, *tab, reply, &view.text);
                    let told =
                        (*tab != ATTACKER).then(|| before_b.tabs.get(ti).zip(after_b.tabs.get(ti))).flatten().and_then(
                            |(t0, t1)| model::browser::signout_notice::answer_after_notice_text(t0, t1, &w, &view.text),
                        );
                    let text = if let Some(text) = addressed {
                        text
                    } else if let Some(text) = told {
                        text
                    } else if *tab != ATTACKER
                        && before_b == after_b
                        && abandoned_refresh(m, before, browser, *tab).is_some()
                    {
                        // The answer to a refresh the tab aborted: the fetch was cancelled;
                        // or to one it gave up waiting for (`on_timeout`).
                        match abandoned_refresh(m, before, browser, *tab) {
                            Some("a timed-out") => {
                                format!(
                                    "{w} gets {}: it gave up waiting for it (timed out), nobody reads it",
                                    view.text
                                )
                            }
                            _ => format!("{w} gets {}: the fetch was cancelled, nobody reads it", view.text),
                        }
                    } else if *tab != ATTACKER && before_b == after_b {
                        // A retrying tab took an earlier answer to that refresh (or the tab is
                        // hung, closed or logged out): the answer arrives and nobody reads it.
                        format!("{w} gets {}, but nothing waits for it any more: dropped unread", view.text)
                    } else {
                        match (reply, *tab == ATTACKER) {
                            (Reply::Ok { .. }, true) => format!("{w} gets {}: the copied token worked", view.text),
                            (_, true) => format!("{w} gets {}", view.text),
                            (Reply::Ok { .. }, _) if after_b.tabs.get(ti).is_some_and(|x| x.later_stage) => {
                                let sent = match after_b.tabs[ti].status {
                                    TabStatus::Refreshing { sent } => {
                                        sent.map_or("none".to_string(), |x| x.to_string())
                                    }
                                    _ => "none".to_string(),
                                };
                                format!(
                                "{w} gets {}; it stores it, and a later stage of the same request (a Server Component) refreshes with the request's original cookie (token={sent})",
                                view.text
                            )
                            }
                            (Reply::Ok { .. }, _) if before_b.tabs.get(ti).is_some_and(|x| x.later_stage) => {
                                format!("{w}'s later render stage gets {}; it cannot set cookies", view.text)
                            }
                            (Reply::Ok { set_cookie: Some(_), .. }, _) => {
                                format!("{w} gets {}; the jar now holds it", view.text)
                            }
                            (Reply::Ok { token: Some(tok), .. }, _)
                                if before_b.jar.refresh.is_some()
                                    && after_b.jar.refresh != Some(*tok)
                                    && after_b.tabs.get(ti) != before_b.tabs.get(ti) =>
                            {
                                format!(
                                    "{w} gets {} but cannot write the cookie (a server-side render path)",
                                    view.text
                                )
                            }
                            (Reply::Ok { .. }, _) if stores_nothing(m, browser) => format!(
                                "{w} gets {}; it stores nothing (`on_ok` is empty: the new token never reaches the browser)",
                                view.text
                            ),
                            (Reply::Ok { .. }, _) => match after_b.tabs.get(ti).map(|x| x.status) {
                                // `browser.ok_writes`: the first of two storage writes.
                                Some(TabStatus::WritingSecond { refresh: Some(_) }) => format!(
                                    "{w} gets {}; it writes the new access token, the first of two storage writes (the refresh token is written in its next step; storage still holds {})",
                                    view.text,
                                    after_b.storage.map_or("no token".to_string(), |x| format!("token={x}"))
                                ),
                                Some(TabStatus::WritingSecond { refresh: None }) => format!(
                                    "{w} gets {}; it writes the new refresh token, the first of two storage writes (the access token is written in its next step)",
                                    view.text
                                ),
                                _ => format!("{w} gets {}; it stores it", view.text),
                            },
                            (Reply::Err(e), _) => match &m.actors[browser] {
                                // The tab's reactions (`browser.on_refused`, `on_server_error`),
                                // each that ran, in order.
                                Node::Browser { cfg, .. } => {
                                    let waiting = after_b
                                        .tabs
                                        .get(ti)
                                        .filter(|x| matches!(x.status, TabStatus::WaitingForTokenChange { .. }));
                                    if let Some(x) = waiting {
                                        // `wait-for-token-change`: the rest of the list runs at
                                        // the tab's `TabRereadsToken`.
                                        let waits = model::browser::store_wait::wait_started_text(cfg, x);
                                        format!("{w} gets {}{}", view.text, waits.unwrap_or_default())
                                    } else {
                                        let trail = before_b.refusal_trail(cfg, ti as TabIx, e.status());
                                        format!("{w} gets {}{}", view.text, reactions_text(&trail))
                                    }
                                }
                                _ => format!("{w} gets {}", view.text),
                            },
                            (_, _) => format!("{w} gets {}", view.text),
                        }
                    };
                    // Web Locks: the tab releases the lock and the next waiter, granted it,
                    // sends its refresh in the same step.
                    let granted = match (before_b.lock, after_b.lock) {
                        (Some(h), Some(n)) if usize::from(h) == ti && usize::from(n) != ti => {
                            after_b.tabs.get(n as usize).and_then(|x| match x.status {
                                TabStatus::Refreshing { sent } => Some((n, Some(sent))),
                                TabStatus::TokenRead => Some((n, None)),
                                _ => None,
                            })
                        }
                        _ => None,
                    };
                    let text = text + &skipped_grants_text(m, browser, before_b, after_b);
                    let text = match granted {
                        Some((n, Some(sent))) => format!(
                            "{text}; {} is granted the lock and sends {refresh} with token={}",
                            who(n),
                            sent.map_or("none".to_string(), |x| x.to_string())
                        ),
                        Some((n, None)) => {
                            format!("{text}; {} is granted the lock and {}", who(n), read_text(after_b, n, refresh))
                        }
                        None => text + &granted_sign_out_text(before_b, after_b, &sign_out, &who),
                    };
                    let text = text + &resumed_calls_text(before_b, after_b, names.words.call());
                    let sent = match before_b.tabs.get(ti).map(|x| x.status) {
                        Some(TabStatus::Refreshing { sent }) => sent,
                        _ => None,
                    };
                    let new = match reply {
                        Reply::Ok { token, .. } => *token,
                        _ => None,
                    };
                    // The tab stored the 2xx and is idle again: the reaction a follow-up may come after.
                    let reacted = (matches!(reply, Reply::Ok { .. })
                        && *tab != ATTACKER
                        && matches!(before_b.tabs.get(ti).map(|x| x.status), Some(TabStatus::Refreshing { .. }))
                        && after_b.tabs.get(ti).is_some_and(|x| x.status == TabStatus::Idle))
                    .then_some(model::policy::FollowUpAfter::RefreshOk);
                    let text = text + &follow_up_sent_text(m, browser, (before_b, after_b), ti, reacted, sent, new);
                    let action =
                        if *tab == ATTACKER { "AttackerReceivesResponse" } else { "TabReceivesRefreshResponse" };
                    (w, action, text)
                }
                Msg::UsersMeResponse { tab, reply } => {
                    let w = who(*tab);
                    let checking = model::browser_at(before, browser).tabs.get(*tab as usize).map(|t| t.status)
                        == Some(TabStatus::CheckingFresh);
                    let text = match (checking, reply) {
                        (true, Reply::Err(_)) => {
                            format!("{w} gets {} for its freshness check and is logged out", view.text)
                        }
                        (_, Reply::Ok { set_cookie: Some(_), .. })
                            if model::browser_at(after, browser).tabs.get(*tab as usize).map(|t| t.status)
                                != Some(TabStatus::Closed) =>
                        {
                            format!("{w} gets {} for {}; the jar now holds it", view.text, names.words.check())
                        }
                        _ => format!("{w} gets {} for {}", view.text, names.words.check()),
                    };
                    (w, "TabReceivesResponse", text)
                }
                Msg::LogoutResponse { tab, .. } => {
                    let w = who(*tab);
                    let (before_b, after_b) = (model::browser_at(before, browser), model::browser_at(after, browser));
                    (
                        w.clone(),
                        "TabReceivesLogoutResponse",
                        format!(
                            "{w} gets {}: {}, and is logged out{}",
                            view.text,
                            names.words.sign_out_reaction(browser_mode(m), shared_storage(m)),
                            released_by_sign_out_text(before_b, after_b, *tab, &refresh, &sign_out, &who)
                        ),
                    )
                }
            };
            (actor, action.into(), text, Some(view))
        }
        ActorModelAction::Drop(env) => {
            let view = names.message_at(before, env.src, env.dst, &env.msg);
            (
                "network".into(),
                "NetworkLosesMessage".into(),
                format!("the network loses {} → {}: {}", view.from, view.to, view.text),
                Some(view),
            )
        }
        other => ("system".into(), format!("{other:?}"), format!("{other:?}"), None),
    }
}

/// What an answer to a refresh from address `a` does, in models with several requesters per
/// tab or reloads ([`model::browser::requesters`]); `None` for other models and the attacker.
/// What became of the calls that waited for their tab's refresh, after a refresh answer
/// ([`BrowserState::resume_calls`]): `"; tab A sends its waiting API call with access
/// token=2"`, or that it was dropped; empty when no call waited.
/// `lock_granted: "skip-if-token-changed"`: the waiters granted the Web Lock in this step
/// that found another token stored than the one they queued with and sent no refresh (in
/// grant order), each as "; tab B is granted the lock; the stored token (2) is not the one it
/// queued with (1): it uses it and sends no refresh". Empty when none did.
fn skipped_grants_text(m: &RefreshModel, browser: usize, before: &BrowserState, after: &BrowserState) -> String {
    let Node::Browser { cfg, .. } = &m.actors[browser] else { return String::new() };
    let mut order: Vec<TabIx> = before.queue.clone();
    // A tab that stole the lock left the queue in the same step: it is granted first.
    order.extend(
        (0..before.tabs.len() as TabIx)
            .filter(|t| !before.queue.contains(t) && before.tabs[*t as usize].status == TabStatus::WaitingLock),
    );
    order.sort_by_key(|t| before.queue.contains(t)); // the stealing tab first
    let tok = |t: Option<u8>| t.map_or("none".to_string(), |t| t.to_string());
    let mut s = String::new();
    for t in order {
        let (b, a) = (&before.tabs[t as usize], &after.tabs[t as usize]);
        if b.status == TabStatus::WaitingLock
            && a.status == TabStatus::Idle
            && cfg.lock_granted == crate::model::policy::LockGranted::SkipIfStoredSessionFresh
        {
            s += &format!(
                "; {} is granted the lock; the stored session is fresh ({}): it takes it over and sends no refresh",
                who(t),
                stored_session_words(after, m, browser)
            );
        } else if b.status == TabStatus::WaitingLock && a.status == TabStatus::LoggedOut && cfg.sign_out_takes_lock {
            s += &no_session_text(&who(t));
        } else if b.status == TabStatus::WaitingLock && a.status == TabStatus::Idle {
            s += &format!(
                "; {} is granted the lock; the stored token ({}) is not the one it queued with ({}): it uses it and sends no refresh",
                who(t),
                tok(after.presented_now(cfg, t)),
                tok(b.queued_with)
            );
        }
    }
    s
}

/// `lock_granted: "skip-if-stored-session-fresh"`: the stored session a tab found fresh, as
/// "access token=2, exp 3; browser clock 1, margin 1".
fn stored_session_words(b: &BrowserState, m: &RefreshModel, browser: usize) -> String {
    let margin = match &m.actors[browser] {
        Node::Browser { cfg, .. } => cfg.lock_recheck_margin,
        _ => 0,
    };
    let (access, expiry) = b.stored_session.map_or((None, None), |s| (s.access, s.expiry));
    let access = access.map_or("no access token".to_string(), |a| format!("access token={a}"));
    let expiry = expiry.map_or("no exp".to_string(), |e| format!("exp {e}"));
    format!("{access}, {expiry}; browser clock {}, margin {margin}", b.now)
}

fn resumed_calls_text(before: &BrowserState, after: &BrowserState, call: &str) -> String {
    let mut s = String::new();
    for (t, (b, a)) in before.tabs.iter().zip(&after.tabs).enumerate() {
        if !b.call.is_some_and(|c| c.awaiting_refresh) {
            continue;
        }
        let w = who(t as TabIx);
        match a.call {
            Some(c) if !c.awaiting_refresh => {
                s += &format!(
                    "; {w} sends its waiting {call} with {}",
                    c.sent.map_or("no access token".to_string(), |x| format!("access token={x}"))
                )
            }
            None => s += &format!("; {w}'s waiting {call} is dropped"),
            Some(_) => {}
        }
    }
    s
}

/// Whether the user's sign-out in browser actor `browser` is local only
/// (`browser.sign_out_request: "none"`): the client clears its session and sends nothing.
fn signs_out_locally(m: &RefreshModel, browser: usize) -> bool {
    matches!(&m.actors[browser], Node::Browser { cfg, .. } if cfg.sign_out_request == model::policy::SignOutRequest::None)
}

/// What browser actor `browser`'s request to the `sign_out` handler outside a sign-out is
/// called: `follow-up` (`browser.follow_up`) or, without one, `sign-out request (after its
/// failed refresh)`, sent by the reaction `sign-out-request` (the two are not combined).
fn follow_up_noun(m: &RefreshModel, browser: usize) -> &'static str {
    match &m.actors[browser] {
        Node::Browser { cfg, .. } if cfg.follow_up.is_none() => "sign-out request (after its failed refresh)",
        _ => "follow-up",
    }
}

/// Whether the tab's reaction to a refresh's 2xx (`browser.on_ok`) of browser actor `browser`
/// stores the new token nowhere (`on_ok: []`).
fn stores_nothing(m: &RefreshModel, browser: usize) -> bool {
    use model::policy::OkReaction;
    let Node::Browser { cfg, .. } = &m.actors[browser] else { return false };
    !cfg.on_ok.iter().any(|r| matches!(r, OkReaction::StoreInTab | OkReaction::StoreShared | OkReaction::StoreInCookie))
}

/// The words for what a tab did with its refresh's error answer, reaction by reaction
/// ([`model::browser::Ran`]), after the answer's own words: `, clears the stored token and is
/// logged out`, ` and is logged out`. Every reaction that ran is said ([`reactions_words`]).
fn reactions_text(trail: &[model::browser::Ran]) -> String {
    match reactions_words(trail) {
        None => String::new(),
        Some(w) if trail.len() == 1 => format!(" and {w}"),
        Some(w) => format!(", {w}"),
    }
}

/// The reactions of a list that ran, joined: `clears the stored token and is logged out`;
/// `None` when none ran. The one wording of every step that runs a reaction list (a refusal,
/// a timeout, an abort, the end of a wait for the stored token).
fn reactions_words(trail: &[model::browser::Ran]) -> Option<String> {
    let parts: Vec<String> = trail.iter().map(ran_words).collect();
    match parts.split_last() {
        None => None,
        Some((last, [])) => Some(last.clone()),
        Some((last, rest)) => Some(format!("{} and {last}", rest.join(", "))),
    }
}

/// The words for one reaction that ran ([`model::browser::Ran`]): `clears the auth cookies`,
/// `clears the stored token (there was none)`, `is logged out`.
fn ran_words(r: &model::browser::Ran) -> String {
    use model::browser::Ran;
    use model::policy::Reaction;
    let token = |x: Option<crate::model::Token>| x.map_or("none".to_string(), |x| x.to_string());
    match r {
        Ran::Cleared(Reaction::ClearCookie, true) => "clears the auth cookies".to_string(),
        Ran::Cleared(Reaction::ClearCookie, false) => "clears the auth cookies (there were none)".to_string(),
        Ran::Cleared(Reaction::ClearSharedStorage, true) => "removes the shared localStorage entry".to_string(),
        Ran::Cleared(Reaction::ClearSharedStorage, false) => {
            "removes the shared localStorage entry (there was none)".to_string()
        }
        Ran::Cleared(_, true) => "clears the stored token".to_string(),
        Ran::Cleared(_, false) => "clears the stored token (there was none)".to_string(),
        Ran::Adopted(tok) => format!("finds the stored token changed: it adopts token={tok} and keeps going"),
        Ran::FoundSame(_, Some(tok)) => format!("finds the same token stored (token={tok})"),
        Ran::FoundSame(_, None) => "finds no token stored".to_string(),
        Ran::SentAgain(Reaction::RetryWithStoredToken, x) => {
            format!("finds the stored token changed: it sends the refresh again with the stored token={}", token(*x))
        }
        Ran::SentAgain(_, x) => format!("sends the refresh again with the stored token={}", token(*x)),
        Ran::NoRetryLeft => "has no retry left".to_string(),
        Ran::KeptGoing => "keeps going".to_string(),
        Ran::SentSignOut(x, true) => {
            format!("sends the sign-out request with the refresh token it holds now (refresh_token={})", token(*x))
        }
        Ran::SentSignOut(_, false) => {
            "sends no sign-out request (its earlier one is still in flight, and a tab has at most one in flight)"
                .to_string()
        }
        Ran::LoggedOut => "is logged out".to_string(),
    }
}

fn requesters_response_text(
    m: &RefreshModel,
    browser: usize,
    before: &BrowserState,
    after: &BrowserState,
    a: TabIx,
    reply: &Reply,
    answer: &str,
) -> Option<String> {
    let Node::Browser { cfg, .. } = &m.actors[browser] else { return None };
    if cfg.requesters <= 1 && cfg.reloads == 0 {
        return None;
    }
    let (t, r, page) = model::browser::requesters::split(a)?;
    let w = who(a);
    let tab = who(t);
    let (b, c) = (&before.tabs[t as usize], &after.tabs[t as usize]);
    if page != b.page & 3 {
        return Some(format!("{w} gets {answer}, but the reload cancelled that request: nobody reads it, and its Set-Cookie is not applied"));
    }
    if b.status == TabStatus::LoggedOut {
        return Some(format!("{w} gets {answer}; {tab} is logged out already and drops it"));
    }
    let stored = if before.jar != after.jar || before.storage != after.storage || b.token != c.token {
        "; it stores it"
    } else if matches!(reply, Reply::Ok { .. }) && t < cfg.ssr_paths {
        " but cannot write the cookie (a server-side render path)"
    } else if matches!(reply, Reply::Ok { .. }) && r > 0 && cfg.on_requester_ok.is_empty() {
        "; it stores nothing (`on_requester_ok` is empty: the new token never reaches the browser)"
    } else if matches!(reply, Reply::Ok { .. }) && r == 0 && stores_nothing(m, browser) {
        "; it stores nothing (`on_ok` is empty: the new token never reaches the browser)"
    } else {
        ""
    };
    // A requester other than the tab runs the requesters' reactions: every one that ran is
    // said, in the words of a refused refresh, and its `log-out` logs the whole tab out.
    let trail = if r > 0 && !matches!(reply, Reply::Ok { .. }) {
        before.requester_reply_trail(cfg, t, r, *reply)
    } else {
        Vec::new()
    };
    let parts: Vec<String> = trail
        .iter()
        .map(|x| match x {
            model::browser::Ran::LoggedOut => format!("logs {tab} out"),
            x => ran_words(x),
        })
        .collect();
    match parts.split_last() {
        Some((last, [])) => return Some(format!("{w} gets {answer} and {last}")),
        Some((last, rest)) => return Some(format!("{w} gets {answer}, {} and {last}", rest.join(", "))),
        None => {}
    }
    Some(match reply {
        Reply::Ok { .. } => format!("{w} gets {answer}{stored}"),
        _ if c.status == TabStatus::LoggedOut && w == tab => format!("{w} gets {answer} and is logged out"),
        _ if c.status == TabStatus::LoggedOut => format!("{w} gets {answer} and logs {tab} out"),
        _ => {
            let again = if r == 0 {
                matches!(c.status, TabStatus::Refreshing { .. })
            } else {
                c.requesters[(r - 1) as usize].sent.is_some()
            };
            if again {
                format!("{w} gets {answer} and sends the refresh again with the stored token")
            } else {
                format!("{w} gets {answer} and keeps going")
            }
        }
    })
}

/// Where tab `t`'s refresh token comes from, and its value, in the state `b`.
/// An access-token row of an authorization server's store, as a snapshot lists it after the
/// refresh-token rows: `access token=2 refresh token=2 iat=1 exp=5`, then `used` once a call
/// with it was answered 2xx and `revoked` once a rule revoked it.
fn access_row_text(id: u8, a: &model::oauth::AccessRow) -> String {
    let used = if a.used { " used" } else { "" };
    let revoked = if a.revoked { " revoked" } else { "" };
    format!("access token={id} refresh token={} iat={} exp={}{used}{revoked}", a.refresh, a.issued_at, a.expires_at)
}

/// The refresh token of `client`'s request `slot` waiting at the load balancer in `s` (two
/// nodes), if it is a refresh or a sign-out that carries one.
fn pending_token(m: &RefreshModel, s: &State, client: model::ClientKey, slot: u8) -> Option<Token> {
    let c = model::auth_server_at(s, m.cfg.server)?.cluster.as_ref()?;
    let p = c.pending.iter().find(|p| (p.client, p.slot) == (client, slot))?;
    p.token
}

/// With `browser.refresh_triggers`, why requester `r` of tab `t` (0: the tab) starts its
/// refresh when it waits for the access token's expiry: `finds its access token expired (exp
/// 1, browser clock 2)`; `None` for a requester that refreshes at any time.
fn expiry_trigger_words(m: &RefreshModel, browser: usize, b: &BrowserState, t: TabIx, r: u8) -> Option<String> {
    let Node::Browser { cfg, .. } = &m.actors[browser] else { return None };
    if cfg.trigger(t, r) != model::policy::RefreshTrigger::WhenAccessExpired {
        return None;
    }
    let stored = cfg.storage_holds == model::policy::StorageHolds::Session;
    Some(match (b.trigger_expiry(cfg, t), stored) {
        (Some(e), false) => format!("finds its access token expired (exp {e}, browser clock {})", b.now),
        (Some(e), true) => {
            format!("finds its access token expired (the stored session's exp {e}, browser clock {})", b.now)
        }
        (None, false) => "holds no access token".to_string(),
        (None, true) => "finds no stored session".to_string(),
    })
}

/// `browser.sign_out_takes_lock`: waiting tab `who`, granted the Web Lock once the storage
/// holds no session, sends nothing ([`crate::model::browser::BrowserState::finds_no_session`]),
/// as "; tab A is granted the lock, finds no session in storage and sends nothing: it is logged
/// out".
fn no_session_text(who: &str) -> String {
    format!("; {who} is granted the lock, finds no session in storage and sends nothing: it is logged out")
}

/// `browser.sign_out_takes_lock`: a tab that waited for the Web Lock to sign out and is
/// granted it in this step, as "; tab B is granted the lock and sends POST /auth/logout with
/// its stored refresh token (token=2)"; empty when none was.
fn granted_sign_out_text(
    before: &BrowserState,
    after: &BrowserState,
    sign_out: &str,
    who: &dyn Fn(TabIx) -> String,
) -> String {
    let granted = (0..after.tabs.len() as TabIx).find(|&u| {
        before.tabs[u as usize].sign_out_queued
            && !after.tabs[u as usize].sign_out_queued
            && after.tabs[u as usize].status == TabStatus::SigningOut
    });
    match granted {
        Some(u) => format!("; {} is granted the lock and sends {sign_out} with {}", who(u), stored_refresh(after, u)),
        None => String::new(),
    }
}

/// `browser.sign_out_takes_lock`: the sign-out's answer releases tab `t`'s Web Lock; the next
/// waiter, granted it, sends its refresh (or its sign-out) in the same step. Empty when the tab
/// held no lock.
fn released_by_sign_out_text(
    before: &BrowserState,
    after: &BrowserState,
    t: TabIx,
    refresh: &str,
    sign_out: &str,
    who: &dyn Fn(TabIx) -> String,
) -> String {
    let tab = model::browser::requesters::split(t).map_or(t, |(u, _, _)| u);
    if before.lock != Some(tab) || after.lock == Some(tab) {
        return String::new();
    }
    let mut s = "; its Web Lock is released".to_string();
    let mut order = before.queue.clone();
    order.retain(|&u| before.tabs[u as usize].status == TabStatus::WaitingLock);
    for u in order.into_iter().filter(|&u| after.tabs[u as usize].status == TabStatus::LoggedOut) {
        s += &no_session_text(&who(u));
    }
    if let Some(n) = after.lock {
        match after.tabs[n as usize].status {
            TabStatus::Refreshing { sent } => {
                s += &format!(
                    "; {} is granted the lock and sends {refresh} with token={}",
                    who(n),
                    sent.map_or("none".to_string(), |x| x.to_string())
                )
            }
            TabStatus::SigningOut => s += &granted_sign_out_text(before, after, sign_out, who),
            _ => {}
        }
    }
    s
}

/// What tab `t` presents when it refreshes now: its refresh token where its mode keeps it
/// and, when the protocol's refresh presents both tokens, the access token it holds.
fn refresh_source(b: &BrowserState, m: &RefreshModel, t: TabIx) -> String {
    let cfg = m.actors.iter().find_map(|n| match n {
        Node::Browser { cfg, .. } => Some(cfg),
        _ => None,
    });
    match cfg.and_then(|cfg| b.refresh_access(cfg, t)) {
        Some(a) => format!("{} and the access token it holds (access token={a})", stored_refresh(b, t)),
        None => stored_refresh(b, t),
    }
}

/// What the attacker copied when it read the browser's storage once (`attacker.steals:
/// "once"`), from its copies right after the read: "the attacker reads the browser's storage
/// once and copies refresh token=2" (or "… finds no token stored").
/// With several devices the sentence names the device read ("device 2's browser storage").
fn storage_read_text(m: &RefreshModel, browser: usize, b: &BrowserState) -> String {
    let mut what: Vec<String> = b.held.jwts.iter().map(|j| format!("the cookie {}", jwt(&Some(*j)))).collect();
    if b.held.jwts.is_empty() {
        what.extend(b.held.tokens.iter().map(|t| format!("refresh token={t}")));
    }
    what.extend(b.held.access.iter().map(|a| format!("access token={a}")));
    let whose = match m.cfg.browsers.iter().position(|&ix| ix == browser) {
        Some(d) if m.cfg.browsers.len() > 1 => format!("device {}'s browser", d + 1),
        _ => "the browser's".to_string(),
    };
    if what.is_empty() {
        format!("the attacker reads {whose} storage once and finds no token stored")
    } else {
        format!("the attacker reads {whose} storage once and copies {}", what.join(", "))
    }
}

/// `reads_token: "before-send"`: what tab `t` read in the step that left it
/// [`TabStatus::TokenRead`], as "reads its refresh token (token=1); it will send POST
/// /auth/refresh with it in a later step".
fn read_text(b: &BrowserState, t: TabIx, refresh: &str) -> String {
    let read = b.tabs[t as usize].read.map_or("no token".to_string(), |x| format!("token={x}"));
    format!("reads its refresh token ({read}); it will send {refresh} with it in a later step")
}

/// Where tab `t`'s refresh token is kept and which it is ("no token" when it holds none).
/// What a revocation endpoint (`sign_out.revocation`) made of the token a sign-out sent, on
/// the store `before` it: `: found as an access token: rule `R``, or `: not found under its
/// token_type_hint (the server searches the hinted kind only): nothing revoked`; nothing for
/// a sign-out that is no revocation endpoint, or a token the store has no row for.
fn revocation_text(
    m: &RefreshModel,
    before: &State,
    cred: &Credentials,
    access: Option<model::oauth::AccessId>,
) -> String {
    use crate::protocol::Presents;
    let Some(model::Node::AuthServer { protocol, .. }) = m.actors.get(m.cfg.server) else { return String::new() };
    let (Some(_), Some(auth)) = (protocol.revocation, model::auth_server_at(before, m.cfg.server)) else {
        return String::new();
    };
    let t = cred.presented();
    if model::interpret::presented_view(protocol, auth, t, access).is_none() {
        return String::new();
    }
    if model::interpret::sign_out_view(protocol, auth, t, access).is_none() {
        return format!(
            ": {} (the server searches the hinted kind only): nothing revoked",
            crate::query::event::NOT_FOUND_UNDER_HINT
        );
    }
    let kind = if protocol.sign_out_presents == Presents::AccessToken { "an access token" } else { "a refresh token" };
    match model::interpret::sign_out_rule(protocol, auth, t, access) {
        Some(rule) => format!(": found as {kind}: rule `{}`", rule.name),
        None => format!(": found as {kind}: no rule holds"),
    }
}

/// The other devices whose sessions a sign-out rule marked `evicts` ended (their last active
/// token revoked: "sign out everywhere"), named: `; its rules end device 1's session too (its
/// last active token is revoked)`. Empty when it ends none but the signing-out device's.
fn sessions_ended_text(m: &RefreshModel, before: &State, after: &State) -> String {
    let ended = |s: &State| model::auth_server_at(s, m.cfg.server).map_or(0, |a| a.as_ghost.evicted);
    let new = ended(after) & !ended(before);
    let names: Vec<String> = m
        .cfg
        .browsers
        .iter()
        .enumerate()
        .filter(|&(_, &b)| new & (1 << b) != 0)
        .map(|(d, _)| format!("device {}'s", d + 1))
        .collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => format!("; its rules end {one} session too (its last active token is revoked)"),
        [many @ .., last] => format!(
            "; its rules end {} and {last} sessions too (their last active tokens are revoked)",
            many.join(", ")
        ),
    }
}

/// The sentence of a step in which requester `r` of tab `t` (0: the tab itself) awaited the
/// page's refresh in flight instead of sending its own (`browser.single_flight`;
/// [`model::browser::single_flight`]): ``tab A's requester 2 awaits the page's refresh in
/// flight (tab A's, which presented token=1) instead of sending its own (single-flight)``.
/// `None` when the step sent a refresh (or the model has no single-flight).
fn awaits_refresh_in_flight(
    m: &RefreshModel,
    browser: usize,
    b0: &BrowserState,
    b1: &BrowserState,
    t: TabIx,
    r: u8,
) -> Option<String> {
    let Node::Browser { cfg, .. } = &m.actors[browser] else { return None };
    if !cfg.single_flight_of(t) {
        return None;
    }
    let owner = b0.page_refresh_in_flight(t, r)?;
    let (tab0, tab1) = (&b0.tabs[t as usize], &b1.tabs[t as usize]);
    let sent_now = if r == 0 {
        tab1.status != model::browser::TabStatus::Idle
    } else {
        tab1.requesters[(r - 1) as usize].sent.is_some()
    };
    if sent_now {
        return None;
    }
    let presented = if owner == 0 {
        match tab0.status {
            model::browser::TabStatus::Refreshing { sent } => sent,
            _ => None,
        }
    } else {
        tab0.requesters[(owner - 1) as usize].sent.flatten()
    };
    let whose = who(model::browser::requesters::address(t, owner, tab0.page));
    let carried = presented.map_or("which presented no token".to_string(), |p| format!("which presented token={p}"));
    let me = who(model::browser::requesters::address(t, r, tab0.page));
    let why = expiry_trigger_words(m, browser, b0, t, r).map_or(String::new(), |w| format!(" {w} and"));
    Some(format!(
        "{me}{why} awaits the page's refresh in flight ({whose}, {carried}) instead of sending its own (single-flight: one refresh per page)"
    ))
}

/// `then` (what ended a reaction list: `is logged out`, `sends the refresh again …`) after the
/// clearing reactions of `trail` that ran (`clear-stored-token`, `clear-cookie`,
/// `clear-shared-storage`), in the words every reaction list's step uses ([`ran_words`]):
/// `clears the auth cookies and is logged out`.
fn with_clears(trail: &[model::browser::Ran], then: String) -> String {
    let clears: Vec<String> =
        trail.iter().filter(|r| matches!(r, model::browser::Ran::Cleared(..))).map(ran_words).collect();
    if clears.is_empty() {
        then
    } else {
        format!("{} and {then}", clears.join(", "))
    }
}

/// What browser actor `browser`'s reactions do in `run` (a trail of [`BrowserState`]), empty
/// for another actor, which runs none.
fn trail_of(
    m: &RefreshModel,
    browser: usize,
    run: impl Fn(&model::browser::BrowserCfg) -> Vec<model::browser::Ran>,
) -> Vec<model::browser::Ran> {
    match &m.actors[browser] {
        Node::Browser { cfg, .. } => run(cfg),
        _ => Vec::new(),
    }
}

fn stored_refresh(b: &BrowserState, t: TabIx) -> String {
    if let Some(j) = b.jar.session {
        return format!("the jar's cookie ({})", jwt(&Some(j)));
    }
    if let Some(r) = b.jar.refresh {
        return format!("the jar's refresh cookie (token={r})");
    }
    if let Some(tok) = b.tabs[t as usize].token.or(b.storage) {
        return format!("its stored refresh token (token={tok})");
    }
    "no token".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::system::{Net, NetKind};
    use stateright::actor::Envelope;

    fn msgs() -> (Msg, Msg) {
        let cred = Credentials { mode: AuthMode::Session, cookie: None, token: None, access: None };
        (
            Msg::RefreshRequest { tab: 0, cred, retry: false, access: None },
            Msg::RefreshRequest { tab: 1, cred, retry: false, access: None },
        )
    }

    /// Every message in flight is listed once per copy: a message sent twice on an unordered
    /// network twice, an ordered queue oldest first (stateright 0.31's `Network::iter_all`
    /// listed a repeated message three times and never ended on an ordered network).
    #[test]
    fn every_message_in_flight_once_per_copy() {
        use crate::model::in_flight;
        let (a, b) = msgs();
        let (x, y) = (Id::from(0), Id::from(1));
        let mut ordered = Net::new(NetKind::Ordered);
        ordered.send(Envelope { src: x, dst: y, msg: b });
        ordered.send(Envelope { src: x, dst: y, msg: a });
        assert_eq!(in_flight(&ordered), vec![(x, y, &b), (x, y, &a)]);

        let mut unordered = Net::new(NetKind::UnorderedNonDuplicating);
        unordered.send(Envelope { src: x, dst: y, msg: a });
        unordered.send(Envelope { src: x, dst: y, msg: a });
        assert_eq!(in_flight(&unordered), vec![(x, y, &a), (x, y, &a)]);
    }

    /// Issue 13, item 6: the snapshot of an authorization-server state on an ordered network
    /// listed its messages with `Network::iter_all`, which never ends there (20 GB, then the
    /// kernel's OOM killer). Two tabs of `keycloak-strict` each send a refresh: the snapshot
    /// lists both requests, once each.
    #[test]
    fn an_authorization_server_snapshot_on_an_ordered_network_lists_each_message_once() {
        use stateright::Model;
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/keycloak-strict.json")).unwrap();
        let text = text.replacen("\"auth_server\"", "\"network\": \"ordered\",\n  \"auth_server\"", 1);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keycloak-strict.json");
        std::fs::write(&file, text).unwrap();
        let sc = crate::scenario::Scenario::load(&file).unwrap();
        let m = model::build(&sc);
        let mut s = m.init_states().remove(0);
        assert_eq!(s.network.kind(), NetKind::Ordered);
        let mut actions = Vec::new();
        for _ in 0..8 {
            if model::in_flight(&s.network).len() == 2 {
                break;
            }
            m.actions(&s, &mut actions);
            // Only the tabs' own steps (timers): no delivery, so requests pile up.
            let a = actions.drain(..).find(|a| matches!(a, ActorModelAction::Timeout(..))).expect("a tab can act");
            s = m.next_state(&s, a).expect("an enabled action");
        }
        let snap = snapshot(&m, &s);
        let texts: Vec<&str> = snap.in_flight.iter().map(|v| v.text.as_str()).collect();
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts.iter().all(|t| t.contains("refresh")), "{texts:?}");
    }
}

/// The protocol's declared fields kept in the server's memory (`fields.in_memory`), as the
/// model file names them (`family.NAME`, `session.NAME`, `token.NAME`).
fn in_memory_fields(m: &RefreshModel) -> Vec<String> {
    let Some(model::Node::AuthServer { protocol, .. }) = m.actors.get(m.cfg.server) else { return Vec::new() };
    let family = protocol.memory_family.iter().filter_map(|&i| protocol.family_fields.get(usize::from(i)));
    let session = protocol.memory_session.iter().filter_map(|&i| protocol.session_fields.get(usize::from(i)));
    let token = protocol.memory_token.iter().filter_map(|&i| protocol.token_fields.get(usize::from(i)));
    family
        .map(|(n, _)| format!("family.{n}"))
        .chain(session.map(|(n, _)| format!("session.{n}")))
        .chain(token.map(|(n, _)| format!("token.{n}")))
        .collect()
}

/// Whether the protocol declares any field (per family, client session or refresh token; a
/// request's fields end with its request).
fn declares_fields(m: &RefreshModel) -> bool {
    let Some(model::Node::AuthServer { protocol, .. }) = m.actors.get(m.cfg.server) else { return false };
    !(protocol.family_fields.is_empty() && protocol.session_fields.is_empty() && protocol.token_fields.is_empty())
}

/// The step a refresh waiting in `before` runs next (`step \`NAME\``), and whether it reads
/// the store now or decides on the request's earlier read.
fn next_step_text(m: &RefreshModel, before: &State, client: model::ClientKey, slot: u8) -> (String, &'static str) {
    let unknown = || ("the next step".to_string(), "");
    let Some(model::Node::AuthServer { protocol, .. }) = m.actors.get(m.cfg.server) else {
        return unknown();
    };
    let auth = model::auth_server_at(before, m.cfg.server);
    let waiting = auth.and_then(|a| a.handlers.iter().find(|h| (h.client, h.slot) == (client, slot)).map(|h| (a, h)));
    match waiting.and_then(|(a, h)| crate::model::interpret::handler_of(protocol, a, h).steps.get(h.step as usize)) {
        Some(st) if st.reads == crate::protocol::Reads::Snapshot => {
            (format!("step `{}`", st.name), ", deciding on what its read saw")
        }
        Some(st) if st.waits_until.is_some() => {
            (format!("step `{}`", st.name), ", its `waits_until` condition holding, reading the store as it is now")
        }
        Some(st) => (format!("step `{}`", st.name), ", reading the store as it is now"),
        None => unknown(),
    }
}

/// The protocol's decision as text: `: rule `NAME` → REPLY` (the reply as written: the
/// answer the tab gets is the next step's, e.g. 500 for `ok minted` on a request that
/// minted nothing).
/// The `request` handler's decision on an API call `msg` delivered in state `before`:
/// `: rule `R` → reply`, or `: no rule holds → invalid_token` / `: no such access token →
/// invalid_token` (the reply named as the rules name theirs).
fn call_decision(m: &RefreshModel, before: &State, msg: &Msg) -> String {
    let Some(model::Node::AuthServer { protocol, .. }) = m.actors.get(m.cfg.server) else { return String::new() };
    let (Msg::CallRequest { access, .. }, model::NodeState::AuthServer(s)) = (msg, &*before.actor_states[m.cfg.server])
    else {
        return String::new();
    };
    match crate::model::interpret::call_rule(protocol, s, *access) {
        Some(rule) => decision_text(rule),
        // No rule held (answered `invalid_token`, as the tab's step prints it in the model's
        // wording), or the token (or its refresh token's row) is unknown.
        None => match access.and_then(|a| s.access_row(a)).filter(|r| s.read(r.refresh).row.is_some()) {
            Some(_) => ": no rule holds \u{2192} invalid_token".into(),
            None => ": no such access token \u{2192} invalid_token".into(),
        },
    }
}

/// The sign-in handler's decision in `action` ([`crate::model::interpret::sign_in_decision`]):
/// the step's name first when the handler has several, then the rule and its answer.
fn sign_in_words(m: &RefreshModel, before: &State, action: &Action) -> String {
    let Some((h, step, rule)) = crate::model::interpret::sign_in_decision(m, before, action) else {
        return String::new();
    };
    let st = &h.steps[step];
    let decided = rule.map_or(": no rule holds \u{2192} invalid_grant".to_string(), |r| decision_text(&st.rules[r]));
    if h.steps.len() > 1 {
        format!(", step `{}`{decided}", st.name)
    } else {
        decided
    }
}

/// For a refresh arriving at a protocol whose refresh lock is each instance's own and that
/// runs on several instances (`protocol.instances`, `lock_scope: instance`): `, on instance N`
/// (counted from 1), the instance that serves it ([`crate::model::interpret::lock_instance`]);
/// empty otherwise.
fn instance_words(m: &RefreshModel, protocol: &crate::protocol::Protocol, before: &State, action: &Action) -> String {
    if protocol.refresh_lock_holders().is_none_or(|n| n < 2) {
        return String::new();
    }
    let ActorModelAction::Deliver { msg: model::Msg::RefreshRequest { cred, .. }, .. } = action else {
        return String::new();
    };
    let (Some(auth), Some(t)) = (model::auth_server_at(before, m.cfg.server), cred.presented()) else {
        return String::new();
    };
    match crate::model::interpret::lock_instance(protocol, auth, t) {
        Some(i) => format!(", on instance {}", i + 1),
        None => String::new(),
    }
}

fn decision_text(rule: &crate::protocol::Rule) -> String {
    format!(": rule `{}` \u{2192} {}", rule.name, rule.reply_text)
}

/// The server's decision in `action` taken in state `before`, as a phrase for the trace viewer's
/// answer arrows (`step `S`, rule `reuse` → invalid_grant`, `no such token → invalid_grant`), or `None` when
/// the action decides nothing or the model has no `protocol`.
pub(crate) fn decision_phrase(m: &RefreshModel, before: &State, action: &Action) -> Option<String> {
    let words = decision_words(m, before, action, true);
    let phrase = words.trim_start_matches([':', ',', ' ']);
    (!phrase.is_empty()).then(|| phrase.to_string())
}

/// The protocol's decision in `action` ([`crate::model::interpret::decision_of`]) as text:
/// for a refresh arriving (`arrival`) at a server whose handler has several steps, the step's
/// name first.
fn decision_words(m: &RefreshModel, before: &State, action: &Action, arrival: bool) -> String {
    use crate::model::interpret::{decision_of, Decision};
    let Some(model::Node::AuthServer { protocol, .. }) = m.actors.get(m.cfg.server) else { return String::new() };
    let steps = &protocol.refresh.steps;
    let on = if arrival { instance_words(m, protocol, before, action) } else { String::new() };
    match decision_of(m, before, action) {
        None => String::new(),
        Some(Decision::LockWaits) => ": the family's refresh lock is held, it waits".into(),
        Some(Decision::Waits { step }) => format!(
            "{on}, step `{}`: it waits until {}",
            steps[step].name,
            steps[step].waits_until_text.as_deref().unwrap_or("true")
        ),
        Some(Decision::Rule { step, rule }) => {
            let st = &steps[step];
            if arrival && steps.len() > 1 {
                format!("{on}, step `{}`{}", st.name, decision_text(&st.rules[rule]))
            } else {
                decision_text(&st.rules[rule])
            }
        }
        // Answered `invalid_grant` (the interpreter's answer when no rule decides), named as
        // the rules name their replies; the tab's step prints it in the model's wording.
        Some(Decision::NoRule { no_row: true, .. }) => ": no such token \u{2192} invalid_grant".into(),
        Some(Decision::NoRule { no_row: false, .. }) => ": no rule holds \u{2192} invalid_grant".into(),
    }
}
