//! The state view of queries and user-defined invariants: expressions over a global state of
//! the model (tabs, cookie jar, storage, token store, clock, ghost state), parsed in the style
//! of the protocol language's expressions ([`crate::protocol::expr`]) and evaluated on
//! [`crate::model::State`].
//!
//! Grammar (the same operators as guards; `docs/queries.md` is the reference):
//!
//! ```text
//! expr  := or
//! or    := and ("or" and)*
//! and   := not ("and" not)*
//! not   := "not" not | cmp
//! cmp   := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
//! sum   := atom (("+" | "-") atom)*
//! atom  := INTEGER | "true" | "false" | "none" | STATUS | TAB_STATUS | NAME | "(" expr ")"
//! NAME  := "now" | "at_rest" | "in_flight" | "requests_in_progress" | "requests_blocked"
//!        | "session_valid" DEV?
//!        | "signed_out" DEV? | "jar" DEV? ("." "status")? | "storage" DEV? ("." "status")?
//!        | "tab" "[" TAB "]" "." ("status" | "refreshes_left" | "requests_left" | "token" | "token.status"
//!                                | "access" ("." ACC)?)
//!        | "token" "[" INTEGER "]" "." ("status" | "generation" | "family" | "parent" | "child")
//!        | "access" "[" INTEGER "]" "." ACC
//!        | "tabs." TAB_STATUS | "tokens." STATUS | "orphan_cookies" | "reuse_detected"
//!        | "stolen" | "stolen_access" ("." "live")? | "stolen_tokens" ("." "live")?
//!        | "attacker_redeemed" | "refreshed_ok"
//! ACC   := "expired" | "revoked" | "used" | "exp" | "issued_at" | "refresh"
//! DEV   := "[" INTEGER "]"            (a device, from 1; default 1)
//! TAB   := LETTER | INTEGER LETTER    (tab A of device 1, or tab 2A of device 2)
//! ```
//!
//! Values are small integers: ticks, counts, token numbers and access-token numbers (`none` is
//! 0, no token; the two are numbered apart and cannot be compared), statuses
//! (`active`, `superseded`, `revoked`; a Directus session row is `active` while it exists and
//! `superseded` once it has a `next_token`), tab statuses (`idle`, `refreshing`, `requesting`,
//! `signing_out`, `waiting`, `logged_out`, `closed`, `hung`, `storing`) and booleans (0, 1). `-` stops at 0.

use crate::model::browser::TabStatus;
use crate::model::oauth::TokStatus;
use crate::model::{self, Node, RefreshModel, State, Token};
use crate::protocol::syntax::{did_you_mean, show, Grammar, Parser, Tok, Tree, Words};

/// What a name reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Read {
    /// `now`: the server's clock, in ticks.
    Now,
    /// `at_rest`: no message in flight, no request in progress at the server, no tab
    /// mid-operation ([`crate::properties::at_rest`]).
    AtRest,
    /// `in_flight`: messages in flight, a count.
    InFlight,
    /// `requests_in_progress`: requests the server is serving between two steps, a count.
    InProgress,
    /// `requests_blocked`: requests of an authorization server blocked at a step whose
    /// `waits_until` does not hold now, a count (0 for a session-table server).
    Blocked,
    /// `session_valid[D]`: the user's session on device D is valid (ground truth).
    SessionValid(u8),
    /// `signed_out[D]`: the user signed out on device D (ground truth).
    SignedOut(u8),
    /// `refreshed_ok`: some refresh was answered 2xx (any device).
    RefreshedOk,
    /// `jar[D]`: the token device D's cookie jar holds (session cookie's claim, or refresh
    /// token cookie), or none.
    Jar(u8),
    /// `storage[D]`: the token in device D's shared storage, or none.
    Storage(u8),
    /// `tab[X].status`.
    TabStatus(u8, u8),
    /// `tab[X].refreshes_left`.
    TabRefreshes(u8, u8),
    /// `tab[X].requests_left`.
    TabRequests(u8, u8),
    /// `tab[X].token`: the token tab X would present now (its app's copy, the shared storage
    /// or the jar), or none.
    TabToken(u8, u8),
    /// `tab[X].access`: the access token tab X holds ([`crate::model::oauth::AccessId`]), or
    /// none (the model keeps no access tokens, or the tab holds none).
    TabAccess(u8, u8),
    /// `token[N].status`.
    TokenStatus(Token),
    /// `token[N].generation` (authorization server).
    TokenGeneration(Token),
    /// `token[N].family` (authorization server).
    TokenFamily(Token),
    /// `token[N].parent` (authorization server).
    TokenParent(Token),
    /// `token[N].child` (authorization server).
    TokenChild(Token),
    /// `tabs.S`: tabs with status S, on every device, a count.
    TabsWith(i32),
    /// `tokens.S`: tokens (rows) with status S, a count.
    TokensWith(i32),
    /// `orphan_cookies`: (Directus, ghost) cookies handed out whose write matched no row.
    OrphanCookies,
    /// `reuse_detected`: (authorization server, ghost) times reuse detection fired.
    ReuseDetected,
    /// `stolen`: (ghost) copied tokens the attacker redeemed with a 2xx answer, a count.
    Stolen,
    /// `stolen_access`: access tokens the attacker holds (copied from the browser, or, with
    /// `keeps_tokens`, answered to it), on every device, a count; `live` counts only those
    /// neither expired nor revoked.
    StolenAccess {
        /// Count only the usable ones (unexpired, not revoked).
        live: bool,
    },
    /// `stolen_tokens`: refresh tokens (session claims in session mode) the attacker holds
    /// (copied from the browser, or, with `keeps_tokens`, answered to it), on every device, a
    /// count; `live` counts only those whose row is active.
    StolenTokens {
        /// Count only the active ones.
        live: bool,
    },
    /// `attacker_redeemed`: the attacker was answered 2xx for a copied token.
    AttackerRedeemed,
}

/// A column of an access token's row ([`crate::model::oauth::AccessRow`]), as the state view
/// reads it. An access token the store has no row for reads 0 (false, none) in every column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessField {
    /// `expired`: the clock is past its expiry (`now > exp`; the default `request` handler
    /// serves it while `access.exp >= now`).
    Expired,
    /// `revoked`: a rule revoked it.
    Revoked,
    /// `used`: it was presented in a call answered 2xx.
    Used,
    /// `exp`: its expiry tick.
    Exp,
    /// `issued_at`: its issue tick.
    IssuedAt,
    /// `refresh`: the refresh token it was issued with.
    Refresh,
}

/// The access-token columns by name, for the parser and the errors.
const ACCESS_FIELDS: &[(&str, AccessField)] = &[
    ("expired", AccessField::Expired),
    ("revoked", AccessField::Revoked),
    ("used", AccessField::Used),
    ("exp", AccessField::Exp),
    ("issued_at", AccessField::IssuedAt),
    ("refresh", AccessField::Refresh),
];

/// What a name of the state view reads: a value, the status of the token a value names
/// (`tab[A].token.status`, `jar.status`), or a column of an access token's row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Atom {
    /// The value itself.
    Read(Read),
    /// The status of the token the value names (none if it names none).
    StatusOf(Read),
    /// A column of the row of the access token the value names (`tab[A].access.revoked`).
    AccessOf(Read, AccessField),
    /// A column of access token N's row (`access[2].used`).
    Access(crate::model::oauth::AccessId, AccessField),
}

/// A parsed view expression. Booleans are 0 and 1.
pub type Expr = Tree<Atom>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Num,
    Bool,
    Token,
    Access,
    Status,
    TabStatus,
    None,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Num => "a number (ticks or a count)",
            Ty::Bool => "a condition (true or false)",
            Ty::Token => "a token",
            Ty::Access => "an access token",
            Ty::Status => "a token status (active, superseded, revoked)",
            Ty::TabStatus => {
                "a tab status (idle, refreshing, requesting, signing_out, waiting, logged_out, closed, hung, storing)"
            }
            Ty::None => "none",
        }
    }
}

/// Token statuses as values.
const ACTIVE: i32 = 1;
const SUPERSEDED: i32 = 2;
const REVOKED: i32 = 3;

/// Tab statuses as values (from 10, apart from token statuses).
const TAB_STATUSES: &[(&str, i32)] = &[
    ("idle", 10),
    ("refreshing", 11),
    ("requesting", 12),
    ("signing_out", 13),
    ("waiting", 14),
    ("logged_out", 15),
    ("closed", 16),
    ("hung", 17),
    ("storing", 18),
];

/// The value of a tab status.
fn tab_status_value(s: TabStatus) -> i32 {
    let name = match s {
        TabStatus::Idle => "idle",
        TabStatus::Refreshing { .. } | TabStatus::TokenRead => "refreshing",
        TabStatus::Requesting | TabStatus::CheckingFresh => "requesting",
        TabStatus::SigningOut => "signing_out",
        TabStatus::WaitingLock
        | TabStatus::LockSeenFree
        | TabStatus::AwaitingBroadcast
        | TabStatus::WaitingForTokenChange { .. } => "waiting",
        TabStatus::LoggedOut => "logged_out",
        TabStatus::Closed => "closed",
        TabStatus::Hung => "hung",
        TabStatus::WritingSecond { .. } => "storing",
    };
    TAB_STATUSES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).unwrap_or(0)
}

/// Every name a view expression can read (without indices), for "did you mean" and the docs.
pub const NAMES: &[&str] = &[
    "now",
    "at_rest",
    "in_flight",
    "requests_in_progress",
    "requests_blocked",
    "session_valid",
    "signed_out",
    "refreshed_ok",
    "jar",
    "jar.status",
    "storage",
    "storage.status",
    "tab[A].status",
    "tab[A].refreshes_left",
    "tab[A].requests_left",
    "tab[A].token",
    "tab[A].token.status",
    "tab[A].access",
    "tab[A].access.expired",
    "tab[A].access.revoked",
    "tab[A].access.used",
    "tab[A].access.exp",
    "tab[A].access.issued_at",
    "tab[A].access.refresh",
    "access[1].expired",
    "access[1].revoked",
    "access[1].used",
    "access[1].exp",
    "access[1].issued_at",
    "access[1].refresh",
    "token[1].status",
    "token[1].generation",
    "token[1].family",
    "token[1].parent",
    "token[1].child",
    "tabs.logged_out",
    "tokens.active",
    "orphan_cookies",
    "reuse_detected",
    "stolen",
    "stolen_access",
    "stolen_access.live",
    "stolen_tokens",
    "stolen_tokens.live",
    "attacker_redeemed",
];

/// The state view's expression language: its types and names.
struct View;

type P<'a> = Parser<'a, View>;

/// Parses a condition (an expression of type true/false) over the state view; the error says
/// what was found and what was expected.
pub fn parse_condition(text: &str) -> Result<Expr, String> {
    let mut p = Parser::new(text, Words::Indexed, &View)?;
    let (e, t) = p.expr()?;
    p.end()?;
    if t != Ty::Bool {
        return Err(format!("a condition, found {}", t.name()));
    }
    Ok(e)
}

/// `[N]` after a name: a device number from 1 (default 1).
fn device(p: &mut P) -> Result<u8, String> {
    if !p.op("[") {
        return Ok(0);
    }
    p.advance();
    let d = match p.peek() {
        Some(Tok::Int(n)) if (1..=16).contains(n) => *n as u8 - 1,
        other => return Err(format!("a device number from 1, found {}", other.map_or("the end".into(), show))),
    };
    p.advance();
    p.expect_op("]")?;
    Ok(d)
}

/// `.field` after a name, if any.
fn field(p: &mut P) -> Result<Option<String>, String> {
    if !p.op(".") {
        return Ok(None);
    }
    p.advance();
    match p.next_tok() {
        Some(Tok::Word(w)) => Ok(Some(w)),
        other => Err(format!("a field name after `.`, found {}", other.map_or("the end".into(), |t| show(&t)))),
    }
}

impl Grammar for View {
    type Var = Atom;
    type Ty = Ty;
    const BOOL: Ty = Ty::Bool;
    const NUM: Ty = Ty::Num;
    const NONE: Ty = Ty::None;

    fn ty_name(t: Ty) -> &'static str {
        t.name()
    }

    fn nullable(t: Ty) -> bool {
        matches!(t, Ty::Token | Ty::Access | Ty::Status)
    }

    fn ordered(t: Ty) -> bool {
        matches!(t, Ty::Num | Ty::Token | Ty::Access)
    }

    fn name(&self, w: &str, p: &mut P) -> Result<(Expr, Ty), String> {
        let read = |r: Read, t: Ty| Ok((Expr::Var(Atom::Read(r)), t));
        let status_of = |r: Read, p: &mut P| -> Result<(Expr, Ty), String> {
            match field(p)?.as_deref() {
                None => Ok((Expr::Var(Atom::Read(r)), Ty::Token)),
                Some("status") => Ok((Expr::Var(Atom::StatusOf(r)), Ty::Status)),
                Some(f) => Err(format!("unknown field `{f}` of a token (expected `status`)")),
            }
        };
        match w {
            "true" => Ok((Expr::Const(1), Ty::Bool)),
            "false" => Ok((Expr::Const(0), Ty::Bool)),
            "none" => Ok((Expr::Const(0), Ty::None)),
            "active" => Ok((Expr::Const(ACTIVE), Ty::Status)),
            "superseded" => Ok((Expr::Const(SUPERSEDED), Ty::Status)),
            "revoked" => Ok((Expr::Const(REVOKED), Ty::Status)),
            "now" => read(Read::Now, Ty::Num),
            "at_rest" => read(Read::AtRest, Ty::Bool),
            "in_flight" => read(Read::InFlight, Ty::Num),
            "requests_in_progress" => read(Read::InProgress, Ty::Num),
            "requests_blocked" => read(Read::Blocked, Ty::Num),
            "refreshed_ok" => read(Read::RefreshedOk, Ty::Bool),
            "orphan_cookies" => read(Read::OrphanCookies, Ty::Num),
            "reuse_detected" => read(Read::ReuseDetected, Ty::Num),
            "stolen" => read(Read::Stolen, Ty::Num),
            "stolen_access" => match field(p)?.as_deref() {
                None => read(Read::StolenAccess { live: false }, Ty::Num),
                Some("live") => read(Read::StolenAccess { live: true }, Ty::Num),
                Some(f) => Err(format!("unknown field `{f}` of `stolen_access` (expected `live`)")),
            },
            "stolen_tokens" => match field(p)?.as_deref() {
                None => read(Read::StolenTokens { live: false }, Ty::Num),
                Some("live") => read(Read::StolenTokens { live: true }, Ty::Num),
                Some(f) => Err(format!("unknown field `{f}` of `stolen_tokens` (expected `live`)")),
            },
            "attacker_redeemed" => read(Read::AttackerRedeemed, Ty::Bool),
            "session_valid" => {
                let d = device(p)?;
                read(Read::SessionValid(d), Ty::Bool)
            }
            "signed_out" => {
                let d = device(p)?;
                read(Read::SignedOut(d), Ty::Bool)
            }
            "jar" => {
                let d = device(p)?;
                status_of(Read::Jar(d), p)
            }
            "storage" => {
                let d = device(p)?;
                status_of(Read::Storage(d), p)
            }
            "tabs" => match field(p)?.as_deref() {
                Some(s) => match TAB_STATUSES.iter().find(|(n, _)| *n == s) {
                    Some((_, v)) => read(Read::TabsWith(*v), Ty::Num),
                    None => Err(format!("unknown tab status `{s}` (expected one of {})", tab_status_names())),
                },
                None if p.op("[") => Err(format!(
                    "`tabs` counts the tabs with a status (`tabs.S` with S one of {}); one tab is `tab[A]`, e.g. `tab[A].status`",
                    tab_status_names()
                )),
                None => Err(format!("`tabs` needs a status: `tabs.S` with S one of {}", tab_status_names())),
            },
            "tokens" => match field(p)?.as_deref() {
                Some("active") => read(Read::TokensWith(ACTIVE), Ty::Num),
                Some("superseded") => read(Read::TokensWith(SUPERSEDED), Ty::Num),
                Some("revoked") => read(Read::TokensWith(REVOKED), Ty::Num),
                other => Err(format!(
                    "`tokens` needs a status: `tokens.active`, `tokens.superseded` or `tokens.revoked`, found {}",
                    other.map_or("nothing".into(), |o| format!("`tokens.{o}`"))
                )),
            },
            "tab" => {
                p.expect_op("[")?;
                let (d, t) = match p.peek().cloned() {
                    Some(Tok::Word(w)) => {
                        p.advance();
                        tab_name(&w)?
                    }
                    Some(Tok::Int(n)) => {
                        // `2A` lexes as one word; a lone number is an error.
                        return Err(format!("a tab letter (A, B, …, or 2A for device 2), found `{n}`"));
                    }
                    other => {
                        return Err(format!("a tab letter, found {}", other.map_or("the end".into(), |t| show(&t))))
                    }
                };
                p.expect_op("]")?;
                match field(p)?.as_deref() {
                    Some("status") => read(Read::TabStatus(d, t), Ty::TabStatus),
                    Some("refreshes_left") => read(Read::TabRefreshes(d, t), Ty::Num),
                    Some("requests_left") => read(Read::TabRequests(d, t), Ty::Num),
                    Some("token") => status_of(Read::TabToken(d, t), p),
                    Some("access") => match field(p)? {
                        None => read(Read::TabAccess(d, t), Ty::Access),
                        Some(f) => {
                            let (f, ty) = access_field(&f)?;
                            Ok((Expr::Var(Atom::AccessOf(Read::TabAccess(d, t), f)), ty))
                        }
                    },
                    f => Err(format!(
                        "unknown field {} of a tab (expected `status`, `refreshes_left`, `requests_left`, `token`, `token.status`, `access` or `access.F`)",
                        f.map_or("(none)".into(), |f| format!("`{f}`"))
                    )),
                }
            }
            "token" => {
                p.expect_op("[")?;
                let n = match p.peek() {
                    Some(Tok::Int(n)) if *n >= 1 => *n as Token,
                    other => {
                        return Err(format!("a token number from 1, found {}", other.map_or("the end".into(), show)))
                    }
                };
                p.advance();
                p.expect_op("]")?;
                match field(p)?.as_deref() {
                    // `token[N]` alone names the token: `storage == token[2]`.
                    None => Ok((Tree::Const(i32::from(n)), Ty::Token)),
                    Some("status") => read(Read::TokenStatus(n), Ty::Status),
                    Some("generation") => read(Read::TokenGeneration(n), Ty::Num),
                    Some("family") => read(Read::TokenFamily(n), Ty::Num),
                    Some("parent") => read(Read::TokenParent(n), Ty::Token),
                    Some("child") => read(Read::TokenChild(n), Ty::Token),
                    f => Err(format!(
                        "unknown field {} of a token (expected none, to name the token, or `status`, `generation`, `family`, `parent` or `child`)",
                        f.map_or("(none)".into(), |f| format!("`{f}`"))
                    )),
                }
            }
            "access" => {
                p.expect_op("[")?;
                let n = match p.peek() {
                    Some(Tok::Int(n)) if (1..=255).contains(n) => *n as crate::model::oauth::AccessId,
                    other => {
                        return Err(format!(
                            "an access-token number from 1 to 255, found {}",
                            other.map_or("the end".into(), show)
                        ))
                    }
                };
                p.advance();
                p.expect_op("]")?;
                match field(p)? {
                    Some(f) => {
                        let (f, ty) = access_field(&f)?;
                        Ok((Expr::Var(Atom::Access(n, f)), ty))
                    }
                    None => Err(format!(
                        "`access[{n}]` needs a column: `access[{n}].F` with F one of {}",
                        access_field_names()
                    )),
                }
            }
            w => {
                if let Some((_, v)) = TAB_STATUSES.iter().find(|(n, _)| *n == w) {
                    return Ok((Expr::Const(*v), Ty::TabStatus));
                }
                let words = [
                    "active",
                    "superseded",
                    "revoked",
                    "none",
                    "true",
                    "false",
                    "tab",
                    "token",
                    "tabs",
                    "tokens",
                    "access",
                ];
                let names = NAMES.iter().copied().chain(TAB_STATUSES.iter().map(|(n, _)| *n)).chain(words);
                let all: Vec<&str> = names.collect();
                // A dotted name (`attacker.tokens`) is answered as a whole: the name a reader
                // means may be another scope's (`stolen_tokens`).
                let mut whole = w.to_string();
                while let Ok(Some(f)) = field(p) {
                    whole = format!("{whole}.{f}");
                }
                if w == "family" {
                    return Err(format!(
                        "unknown name `{whole}`: the state view has no families; a token's is `token[N].family` \
                         and its status `token[N].status` (`revoke family` marks every token of the family \
                         `revoked`), and `tokens.active`, `tokens.revoked` count them; docs/queries.md lists the \
                         state view"
                    ));
                }
                if whole != w {
                    if let Some(c) = did_you_mean(&whole, all.iter().copied()) {
                        return Err(format!(
                            "unknown name `{whole}` (did you mean `{c}`?); docs/queries.md lists the state view"
                        ));
                    }
                }
                let hint = did_you_mean(w, all.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_else(|| {
                        let near =
                            all.iter().min_by(|a, b| strsim::jaro_winkler(w, b).total_cmp(&strsim::jaro_winkler(w, a)));
                        near.map(|c| format!(" (the nearest name is `{c}`)")).unwrap_or_default()
                    });
                Err(format!("unknown name `{w}`{hint}; docs/queries.md lists the state view"))
            }
        }
    }
}

/// An access-token column by name, with its type.
fn access_field(f: &str) -> Result<(AccessField, Ty), String> {
    match ACCESS_FIELDS.iter().find(|(n, _)| *n == f) {
        Some((_, a)) => Ok((*a, access_field_ty(*a))),
        None => {
            let hint = did_you_mean(f, ACCESS_FIELDS.iter().map(|(n, _)| *n))
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            Err(format!("unknown column `{f}` of an access token{hint}; expected one of {}", access_field_names()))
        }
    }
}

fn access_field_ty(f: AccessField) -> Ty {
    match f {
        AccessField::Expired | AccessField::Revoked | AccessField::Used => Ty::Bool,
        AccessField::Exp | AccessField::IssuedAt => Ty::Num,
        AccessField::Refresh => Ty::Token,
    }
}

fn access_field_names() -> String {
    ACCESS_FIELDS.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// Column `f` of access token `a`'s row on the state's authorization server; 0 without a row.
fn access_column(m: &RefreshModel, s: &State, a: crate::model::oauth::AccessId, f: AccessField) -> i32 {
    let Some(row) = model::auth_server_at(s, m.cfg.server).and_then(|x| x.access_row(a)) else {
        return 0;
    };
    match f {
        AccessField::Expired => i32::from(model::clock_at(s, m.cfg.server) > row.expires_at),
        AccessField::Revoked => i32::from(row.revoked),
        AccessField::Used => i32::from(row.used),
        AccessField::Exp => i32::from(row.expires_at),
        AccessField::IssuedAt => i32::from(row.issued_at),
        AccessField::Refresh => i32::from(row.refresh),
    }
}

fn tab_status_names() -> String {
    TAB_STATUSES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// `A` → (device 0, tab 0); `2B` → (device 1, tab 1).
pub fn tab_name(w: &str) -> Result<(u8, u8), String> {
    let (digits, letter) = w.split_at(w.len().saturating_sub(1));
    let c = letter.chars().next().unwrap_or(' ');
    let device = if digits.is_empty() { Some(1) } else { digits.parse::<u8>().ok().filter(|d| *d >= 1) };
    match (device, c) {
        (Some(d), 'A'..='F') => Ok((d - 1, c as u8 - b'A')),
        _ => Err(format!("a tab name: a letter A to F, or a device number and a letter (2A), found `{w}`")),
    }
}

/// Checks that every tab and device `e` reads exists in model `m`: a device from 1 to the
/// model's devices, a tab among its device's tabs. Without this check a tab or device the
/// model lacks reads 0 (`idle`, false, none), and a query about it gets a plausible, wrong
/// answer. The error names the first missing one and what the model has.
pub fn check_reads(e: &Expr, m: &RefreshModel) -> Result<(), String> {
    let tabs_of = |d: u8| match m.cfg.browsers.get(d as usize).and_then(|&b| m.actors.get(b)) {
        Some(Node::Browser { cfg, .. }) => Some(cfg.tabs),
        _ => None,
    };
    let devices = m.cfg.browsers.len();
    // The attacker, if any, and whether it makes calls with access tokens.
    let attacker = m.cfg.browsers.iter().find_map(|&b| match m.actors.get(b) {
        Some(Node::Browser { cfg, .. }) => cfg.attacker.as_ref().map(|_| ((), cfg.attacker_calls)),
        _ => None,
    });
    let device_ok = |d: u8| -> Result<(), String> {
        if (d as usize) < devices {
            Ok(())
        } else {
            let has = if devices == 1 {
                "1 device (device 1)".to_string()
            } else {
                format!("{devices} devices (1 to {devices})")
            };
            Err(format!("device {}, but the model has {has}", d + 1))
        }
    };
    let read_ok = |r: &Read| -> Result<(), String> {
        match *r {
            Read::SessionValid(d) | Read::SignedOut(d) | Read::Jar(d) | Read::Storage(d) => device_ok(d),
            Read::TabStatus(d, t)
            | Read::TabRefreshes(d, t)
            | Read::TabRequests(d, t)
            | Read::TabToken(d, t)
            | Read::TabAccess(d, t) => {
                device_ok(d)?;
                let n = tabs_of(d).unwrap_or(0);
                if t < n {
                    return Ok(());
                }
                let name = |t: u8| {
                    let letter = char::from(b'A' + t);
                    if d == 0 {
                        letter.to_string()
                    } else {
                        format!("{}{letter}", d + 1)
                    }
                };
                let has = match n {
                    0 => "no tabs".to_string(),
                    1 => format!("1 tab ({})", name(0)),
                    _ => format!("{n} tabs ({} to {})", name(0), name(n - 1)),
                };
                Err(format!("tab `{}`, but device {} has {has}", name(t), d + 1))
            }
            Read::Stolen | Read::StolenTokens { .. } | Read::StolenAccess { .. } | Read::AttackerRedeemed
                if attacker.is_none() =>
            {
                Err(format!(
                    "`{}`, but the model has no attacker (section `attacker`): it would read 0 (false) in every state",
                    attacker_read_name(r)
                ))
            }
            Read::StolenAccess { .. } if !attacker.is_some_and(|((), calls)| calls) => Err(format!(
                "`{}`, but the model's attacker makes no calls with access tokens (expected `attacker.uses_access_tokens`: \
                 true): it holds none, so this reads 0 in every state",
                attacker_read_name(r)
            )),
            _ => Ok(()),
        }
    };
    // An access token read where the server issues none would read `none` (and 0 in every
    // column) in every state: an invariant over it holds for nothing.
    let keeps_access = matches!(m.actors.get(m.cfg.server), Some(Node::AuthServer { access_tokens: true, .. }));
    let access_ok = |what: String| -> Result<(), String> {
        if keeps_access {
            return Ok(());
        }
        Err(format!(
            "`{what}`, but the model keeps no access tokens: it reads none (0 in every column) in every state, so a condition over it says nothing; an authorization-server model keeps them with a `protocol.request` handler (or a rule reading an access token), `browser.calls_per_tab` above 0 or `attacker.uses_access_tokens: true` (a `when-access-expired` refresh trigger reads only the expiry a refresh's answer carried, which no query reads)"
        ))
    };
    let tab_name = |d: u8, t: u8| {
        let letter = char::from(b'A' + t);
        if d == 0 {
            format!("tab[{letter}].access")
        } else {
            format!("tab[{}{letter}].access", d + 1)
        }
    };
    match e {
        Tree::Const(_) => Ok(()),
        Tree::Var(Atom::Read(Read::TabAccess(d, t)) | Atom::AccessOf(Read::TabAccess(d, t), _)) => {
            read_ok(&Read::TabAccess(*d, *t))?;
            access_ok(tab_name(*d, *t))
        }
        Tree::Var(Atom::Read(r) | Atom::StatusOf(r) | Atom::AccessOf(r, _)) => read_ok(r),
        Tree::Var(Atom::Access(n, _)) => access_ok(format!("access[{n}]")),
        Tree::Not(a) => check_reads(a, m),
        Tree::And(a, b) | Tree::Or(a, b) | Tree::Cmp(_, a, b) | Tree::Add(a, b) | Tree::Sub(a, b) => {
            check_reads(a, m)?;
            check_reads(b, m)
        }
    }
}

/// The name a query writes for a read of the attacker's (`stolen_access.live`).
fn attacker_read_name(r: &Read) -> &'static str {
    match r {
        Read::Stolen => "stolen",
        Read::StolenAccess { live: false } => "stolen_access",
        Read::StolenAccess { live: true } => "stolen_access.live",
        Read::StolenTokens { live: false } => "stolen_tokens",
        Read::StolenTokens { live: true } => "stolen_tokens.live",
        _ => "attacker_redeemed",
    }
}

/// The status value of token `t` in the state's token store: an authorization server's row,
/// or a Directus session row (`active` while it exists, `superseded` once it names a
/// successor); 0 (none) without a row.
fn token_status(m: &RefreshModel, s: &State, t: Token) -> i32 {
    if t == 0 {
        return 0;
    }
    if let Some(a) = model::auth_server_at(s, m.cfg.server) {
        return match a.row(t).map(|r| r.status) {
            None | Some(TokStatus::Unknown) => 0,
            Some(TokStatus::Active) => ACTIVE,
            Some(TokStatus::Superseded { .. }) => SUPERSEDED,
            Some(TokStatus::Revoked) => REVOKED,
        };
    }
    match model::store_at(s, m.cfg.store).rows.iter().find(|r| r.token == t) {
        None => 0,
        Some(r) if r.next_token.is_some() => SUPERSEDED,
        Some(_) => ACTIVE,
    }
}

/// Reads one name on a state; a tab, device or token the model does not have reads 0.
pub fn read(m: &RefreshModel, s: &State, r: Read) -> i32 {
    let browser = |d: u8| m.cfg.browsers.get(d as usize).map(|&b| (b, model::browser_at(s, b)));
    let bcfg = |d: u8| match m.cfg.browsers.get(d as usize).and_then(|&b| m.actors.get(b)) {
        Some(Node::Browser { cfg, .. }) => Some(cfg),
        _ => None,
    };
    let auth = model::auth_server_at(s, m.cfg.server);
    let tok = |t: Option<Token>| i32::from(t.unwrap_or(0));
    match r {
        Read::Now => i32::from(model::clock_at(s, m.cfg.server)),
        Read::AtRest => i32::from(crate::properties::at_rest(m, s)),
        Read::InFlight => model::in_flight(&s.network).len() as i32,
        Read::InProgress => match auth {
            Some(a) => a.handlers.len() as i32,
            None => model::server_at(s, m.cfg.server).handlers.len() as i32,
        },
        Read::Blocked => match (auth, m.actors.get(m.cfg.server)) {
            (Some(a), Some(Node::AuthServer { protocol, .. })) => {
                a.handlers.iter().filter(|h| !model::interpret::wait_over(protocol, a, h)).count() as i32
            }
            _ => 0,
        },
        Read::SessionValid(d) => {
            i32::from(m.cfg.browsers.get(d as usize).is_some_and(|&b| crate::properties::session_valid(m, s, b)))
        }
        Read::SignedOut(d) => i32::from(browser(d).is_some_and(|(_, b)| b.truth.signed_out)),
        Read::RefreshedOk => i32::from(m.cfg.browsers.iter().any(|&b| model::browser_at(s, b).refreshed_ok)),
        Read::Jar(d) => browser(d).map_or(0, |(_, b)| tok(b.jar.refresh.or(b.jar.session.map(|j| j.session)))),
        Read::Storage(d) => browser(d).map_or(0, |(_, b)| tok(b.storage)),
        Read::TabStatus(d, t) => {
            browser(d).and_then(|(_, b)| b.tabs.get(t as usize)).map_or(0, |x| tab_status_value(x.status))
        }
        Read::TabRefreshes(d, t) => {
            browser(d).and_then(|(_, b)| b.tabs.get(t as usize)).map_or(0, |x| i32::from(x.refreshes_left))
        }
        Read::TabRequests(d, t) => {
            browser(d).and_then(|(_, b)| b.tabs.get(t as usize)).map_or(0, |x| i32::from(x.requests_left))
        }
        Read::TabToken(d, t) => match (browser(d), bcfg(d)) {
            (Some((_, b)), Some(cfg)) if (t as usize) < b.tabs.len() => {
                tok(b.stored_token(cfg, t).or(b.jar.session.map(|j| j.session)))
            }
            _ => 0,
        },
        Read::TabAccess(d, t) => {
            browser(d).and_then(|(_, b)| b.tabs.get(t as usize)).map_or(0, |x| i32::from(x.access.unwrap_or(0)))
        }
        Read::TokenStatus(t) => token_status(m, s, t),
        Read::TokenGeneration(t) => auth.and_then(|a| a.row(t)).map_or(0, |r| i32::from(r.gen)),
        Read::TokenFamily(t) => auth.and_then(|a| a.row(t)).map_or(0, |r| i32::from(r.family)),
        Read::TokenParent(t) => auth.and_then(|a| a.row(t)).map_or(0, |r| tok(r.parent)),
        Read::TokenChild(t) => auth.and_then(|a| a.row(t)).map_or(0, |r| tok(r.child)),
        Read::TabsWith(v) => m
            .cfg
            .browsers
            .iter()
            .map(|&b| model::browser_at(s, b).tabs.iter().filter(|x| tab_status_value(x.status) == v).count() as i32)
            .sum(),
        Read::TokensWith(v) => match auth {
            Some(a) => (1..=a.rows.len()).filter(|&t| token_status(m, s, t as Token) == v).count() as i32,
            None => {
                let rows = &model::store_at(s, m.cfg.store).rows;
                rows.iter().filter(|r| token_status(m, s, r.token) == v).count() as i32
            }
        },
        Read::OrphanCookies => match auth {
            Some(_) => 0,
            None => i32::from(model::server_at(s, m.cfg.server).orphan_cookies),
        },
        Read::ReuseDetected => auth.map_or(0, |a| i32::from(a.as_ghost.detected)),
        Read::Stolen => auth.map_or(0, |a| a.as_ghost.stolen.len() as i32),
        Read::StolenAccess { live } => {
            let held: std::collections::BTreeSet<_> =
                m.cfg.browsers.iter().flat_map(|&b| model::browser_at(s, b).held.access.iter().copied()).collect();
            let usable = |a: crate::model::oauth::AccessId| {
                access_column(m, s, a, AccessField::Expired) == 0 && access_column(m, s, a, AccessField::Revoked) == 0
            };
            held.into_iter().filter(|&a| !live || usable(a)).count() as i32
        }
        Read::StolenTokens { live } => {
            let held: std::collections::BTreeSet<Token> =
                m.cfg.browsers.iter().flat_map(|&b| model::browser_at(s, b).held.tokens.iter().copied()).collect();
            held.into_iter().filter(|&t| !live || token_status(m, s, t) == ACTIVE).count() as i32
        }
        Read::AttackerRedeemed => i32::from(
            m.cfg.browsers.iter().any(|&b| model::browser_at(s, b).attacker.as_ref().is_some_and(|a| a.redeemed_ok)),
        ),
    }
}

/// Evaluates a view expression on a state: booleans are 0 and 1.
pub fn eval(e: &Expr, m: &RefreshModel, s: &State) -> i32 {
    e.eval(&|a| match a {
        Atom::Read(r) => read(m, s, *r),
        Atom::StatusOf(r) => token_status(m, s, read(m, s, *r).clamp(0, 255) as Token),
        Atom::AccessOf(r, f) => access_column(m, s, read(m, s, *r).clamp(0, 255) as crate::model::oauth::AccessId, *f),
        Atom::Access(a, f) => access_column(m, s, *a, *f),
    })
}

/// Whether a view condition holds on a state.
pub fn holds(e: &Expr, m: &RefreshModel, s: &State) -> bool {
    eval(e, m, s) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_type_checks() {
        assert!(parse_condition("tab[A].status == logged_out and session_valid").is_ok());
        assert!(parse_condition("tab[2B].token.status == active").is_ok());
        assert!(parse_condition("jar.status == none or orphan_cookies > 0").is_ok());
        // A family's status is its tokens': the message says where to read it, not `jar.status`.
        let e = parse_condition("family.status == active").unwrap_err();
        assert!(e.contains("no families") && e.contains("token[N].status") && !e.contains("jar"), "{e}");
        assert!(parse_condition("token[3].generation - 1 >= 1").is_ok());
        let e = parse_condition("tab[A].status == active").unwrap_err();
        assert!(e.contains("cannot compare a tab status"), "{e}");
        let e = parse_condition("sesion_valid").unwrap_err();
        assert!(e.contains("did you mean `session_valid`"), "{e}");
        let e = parse_condition("now + 1").unwrap_err();
        assert!(e.contains("a condition, found a number"), "{e}");
        assert!(parse_condition("tab[G].status == idle").unwrap_err().contains("a letter A to F"));
    }

    #[test]
    fn access_tokens_are_typed_apart_from_refresh_tokens() {
        assert!(parse_condition("tab[A].access.revoked and not tab[A].access.expired").is_ok());
        assert!(parse_condition("tab[A].access == none or tab[A].access.refresh == tab[A].token").is_ok());
        assert!(parse_condition("access[2].used and access[1].exp >= now and stolen_access.live > 0").is_ok());
        let e = parse_condition("tab[A].access == tab[A].token").unwrap_err();
        assert!(e.contains("an access token") && e.contains("a token"), "{e}");
        let e = parse_condition("access[1].revokd").unwrap_err();
        assert!(e.contains("did you mean `revoked`?"), "{e}");
        assert!(parse_condition("access[1] == none").unwrap_err().contains("needs a column"));
        assert!(parse_condition("stolen_access.dead > 0").unwrap_err().contains("expected `live`"));
    }
}
