//! The interpreter of the protocol language ([`crate::protocol`]) on the authorization server's
//! store ([`super::oauth::AsState`]).
//!
//! A refresh: a token the store has no row for is answered `invalid_grant` (401); otherwise the
//! first rule whose guard holds on the read view decides, its effects are applied in order to
//! the store as it is now (blind writes: every expression reads the read view, so with
//! `read-then-write` steps a write made between the read and the write is overwritten), and
//! its reply is the answer; no rule matching is `invalid_grant`. A 2xx answer records the
//! redemption in the store (`presented.used`, `family.last_used_at`) and the ghost bookkeeping
//! of the properties.
//!
//! A sign-out presenting a known token runs the first matching sign-out rule and marks its
//! family signed out (ghost); it is answered `signed_out` whatever it revokes (RFC 7009 §2.2:
//! an invalid token is no error).

use super::oauth::{AsHandler, AsState, Family, Fields, ReadView, TokRow, TokStatus};
use super::{HttpError, Reply, Tick, Token};
use crate::protocol::expr::{
    Around, Column, Effect, ReplyForm, RevokeScope, Scope, Var, STATUS_ACTIVE, STATUS_REVOKED, STATUS_SUPERSEDED,
};
use crate::protocol::{Presents, Protocol, Reads, Rule};

fn status_value(s: TokStatus) -> i32 {
    match s {
        TokStatus::Active => STATUS_ACTIVE,
        TokStatus::Superseded { .. } => STATUS_SUPERSEDED,
        TokStatus::Revoked => STATUS_REVOKED,
        TokStatus::Unknown => 0,
    }
}

/// The value of column `col` of token row `r` (a status as its number, a token as its
/// number, `none` as 0).
fn column(r: &TokRow, col: Column) -> i32 {
    let tok = |t: Option<Token>| t.map_or(0, i32::from);
    match col {
        Column::Status => status_value(r.status),
        Column::Generation => i32::from(r.gen),
        Column::RotatedAt => match r.status {
            TokStatus::Superseded { at, .. } => i32::from(at),
            _ => 0,
        },
        Column::GraceUses => match r.status {
            TokStatus::Superseded { uses, .. } => i32::from(uses),
            _ => 0,
        },
        Column::Used => i32::from(r.used),
        Column::IssuedAt => i32::from(r.iat),
        Column::Parent => tok(r.parent),
        Column::Child => tok(r.child),
        Column::Field(i) => i32::from(r.fields[i as usize]),
    }
}

/// The value of `v` on a read view of a known token `t` (row `row`, family `fam`); `minted` is
/// the token the request minted so far, if any, and `vars` its declared request fields.
fn read(
    view: &ReadView,
    row: &TokRow,
    fam: &Family,
    (t, minted, vars): (Token, Option<Token>, &Fields),
    now: Tick,
    v: Var,
) -> i32 {
    let tok = |t: Option<Token>| t.map_or(0, i32::from);
    match v {
        Var::Now => i32::from(now),
        Var::Presented => i32::from(t),
        Var::Status => column(row, Column::Status),
        Var::Generation => column(row, Column::Generation),
        Var::RotatedAt => column(row, Column::RotatedAt),
        Var::GraceUses => column(row, Column::GraceUses),
        Var::Used => column(row, Column::Used),
        Var::IssuedAt => column(row, Column::IssuedAt),
        Var::Parent => column(row, Column::Parent),
        Var::Child => column(row, Column::Child),
        Var::ChildStatus => view.child.map_or(0, |(s, _)| status_value(s)),
        Var::ChildUsed => i32::from(view.child.is_some_and(|(_, used)| used)),
        Var::LoginAt => i32::from(fam.login_at),
        Var::LastUsedAt => i32::from(fam.last_activity),
        Var::NewestGeneration => i32::from(view.newest_gen),
        Var::FamilyField(i) => i32::from(fam.fields[i as usize]),
        Var::SessionField(i) => i32::from(view.session[i as usize]),
        Var::UserField(i) => i32::from(view.user_fields[i as usize]),
        Var::RequestField(i) => i32::from(vars[i as usize]),
        Var::TokenField(i) => i32::from(row.fields[i as usize]),
        Var::ChildField(i) => i32::from(view.child_fields[i as usize]),
        Var::Client => i32::from(fam.client),
        Var::Minted => tok(minted),
        Var::PresentedAccessUsed | Var::AccessUsed => i32::from(view.access.is_some_and(|(_, a)| a.used)),
        Var::PresentedAccessRevoked | Var::AccessRevoked => i32::from(view.access.is_some_and(|(_, a)| a.revoked)),
        Var::ChildAccessUsed => i32::from(view.child_access.is_some_and(|(_, a)| a.used)),
        Var::ChildAccessRevoked => i32::from(view.child_access.is_some_and(|(_, a)| a.revoked)),
        Var::AccessExp => view.access.map_or(0, |(_, a)| i32::from(a.expires_at)),
        Var::AccessIssuedAt => view.access.map_or(0, |(_, a)| i32::from(a.issued_at)),
        Var::AccessRefreshToken => view.access.map_or(0, |(_, a)| i32::from(a.refresh)),
        // Set by [`presented_view`] in a revocation sign-out sent an access token.
        Var::TokenType => {
            if view.found_as_access {
                crate::protocol::expr::KIND_ACCESS
            } else {
                crate::protocol::expr::KIND_REFRESH
            }
        }
        Var::UserActiveTokens => i32::from(view.user.active_tokens),
        Var::UserActiveFamilies => i32::from(view.user.active_families),
        Var::UserOldest => i32::from(view.user.oldest),
        Var::UserNewest => i32::from(view.user.newest),
        Var::UserLeastRecentlyUsed => i32::from(view.user.least_recent),
        Var::UserMostRecentlyUsed => i32::from(view.user.most_recent),
        Var::Follow(slot, col) => view.follow.get(slot as usize).copied().flatten().map_or(0, |r| column(&r, col)),
    }
}

/// The OAuth client that `client` (a tab of a device, or the attacker) authenticates as, in
/// the numbering of a `client` field ([`crate::protocol::FieldType::Client`]): device `d`
/// (its browser actor index, from 0) is client `d + 1` with `clients: per-device` and client 1
/// with `clients: one`; the attacker is the client numbered after the devices' last (a client
/// of its own, registered with the server: frappe issue 41534's "another registered
/// client").
pub fn client_number(p: &Protocol, s: &AsState, client: super::ClientKey) -> u8 {
    let per_device = p.clients == crate::protocol::Clients::PerDevice;
    if client.tab == super::ATTACKER {
        let devices = s.families.iter().map(|f| f.device() + 1).max().unwrap_or(1);
        if per_device {
            devices + 1
        } else {
            2
        }
    } else if per_device {
        client.browser + 1
    } else {
        1
    }
}

/// The request fields a request from `client` arrives with: each declared request field of
/// type `client` holds the sender's client ([`client_number`]), every other field 0. All 0 for
/// a protocol that declares no such field.
pub fn sender_fields(p: &Protocol, s: &AsState, client: super::ClientKey) -> Fields {
    let mut vars = Fields::default();
    for (i, (_, t)) in p.request_fields.iter().enumerate() {
        if *t == crate::protocol::FieldType::Client {
            vars[i] = client_number(p, s, client);
        }
    }
    vars
}

/// The read view of token `t` for protocol `p` on store `s`: its row (for a sign-in during the
/// run, `reserved`: the new family's reserved first token, not yet inserted), what the server
/// knows of the user's sessions when the protocol reads it (`user.*`), and the rows of the
/// followed paths; `vars` are the request's fields and `minted` what it minted so far.
pub fn view_of(p: &Protocol, s: &AsState, t: Token, vars: &Fields, minted: Option<Token>, reserved: bool) -> ReadView {
    let mut view = if reserved { s.read_reserved(t) } else { s.read(t) };
    if p.reads_user {
        view.user = s.user_view();
    }
    s.follow_paths(view, &p.follows, vars, minted)
}

/// The read view of request `h` on store `s`, as [`view_of`] reads it, with the access token
/// the refresh presented as `access.*` when the protocol's refresh presents both tokens.
pub fn handler_view(p: &Protocol, s: &AsState, h: &AsHandler) -> ReadView {
    let mut view = view_of(p, s, h.token, &h.vars, h.minted, h.sign_in);
    if p.refresh_presents == Presents::Both && !h.sign_in {
        view.access = h.access.and_then(|a| s.access_row(a).map(|r| (a, r)));
    }
    view
}

/// The handler that serves `h`: for a sign-in during the run the sign-in handler
/// ([`sign_in_handler`]), the refresh handler otherwise.
pub fn handler_of<'p>(p: &'p Protocol, s: &AsState, h: &AsHandler) -> &'p crate::protocol::Handler {
    match (h.sign_in, sign_in_handler(p, s, h.token)) {
        (true, Some(si)) => si,
        _ => &p.refresh,
    }
}

/// The handler that serves the sign-in whose reserved first token is `t`: the
/// `password_change` handler for a sign-in again (the device holds a family signed in before,
/// [`signs_in_again`]) when the protocol has one, else the `sign_in` handler; `None` when
/// there is neither (the sign-in inserts its token and leaves the others alone).
pub fn sign_in_handler<'p>(p: &'p Protocol, s: &AsState, t: Token) -> Option<&'p crate::protocol::Handler> {
    match &p.password_change {
        Some(pc) if signs_in_again(s, t) => Some(pc),
        _ => p.sign_in.as_ref(),
    }
}

/// Whether the sign-in whose reserved first token is `t` is a sign-in again: its family's
/// device holds another family already signed in (not pending).
pub fn signs_in_again(s: &AsState, t: Token) -> bool {
    let f = t.saturating_sub(1) as usize;
    let Some(d) = s.families.get(f).map(|fam| fam.device()) else { return false };
    s.families.iter().enumerate().any(|(g, fam)| g != f && fam.device() == d && s.as_ghost.pending & (1 << g) == 0)
}

/// Inserts the reserved first token `t` of a family signing in during the run: active, issued
/// now, the family's sign-in tick now. Its fields, as the sign-in's rules set them, are kept.
/// The device it signs in on is no longer marked evicted (an eviction ends the families it
/// revoked; a later sign-in on that device, its own sign-in again included, is a new valid
/// session), nor signed out by its user ([`super::oauth::AsGhost::user_signed_out`]): a
/// sign-in served after the device's sign-out (one sent before the sign-out and answered after
/// it included) is a new session the user asked for, not the signed-out one revived; the
/// families the sign-out ended stay marked ([`super::oauth::AsGhost::signed_out`]).
pub fn insert_signed_in(p: &Protocol, s: &mut AsState, t: Token) {
    let now = s.now;
    let Some(row) = (t as usize).checked_sub(1).and_then(|i| s.rows.get_mut(i)) else { return };
    row.status = TokStatus::Active;
    row.iat = if p.records_issued_at { now } else { 0 };
    let f = row.family;
    if let Some(fam) = s.families.get_mut(f as usize) {
        fam.login_at = now;
        fam.last_activity = now;
        s.as_ghost.evicted &= !(1u8 << fam.device());
        s.as_ghost.user_signed_out &= !(1u8 << fam.session);
    }
    s.as_ghost.pending &= !(1u8 << f);
}

/// A sign-in during the run answered 2xx: its reserved first token `t` is inserted
/// ([`insert_signed_in`]) and handed out with an access token issued with it now, expiring
/// `access_ttl` ticks later, when the store keeps access tokens. With
/// [`AsState::password_changes`], a sign-in again (the device had a family signed in before)
/// marks every family signed in before it ([`super::oauth::AsGhost::before_password_change`]).
pub fn answer_sign_in(p: &Protocol, s: &mut AsState, t: Token, access_ttl: Tick) -> Reply {
    insert_signed_in(p, s, t);
    // Read once inserted: a reserved row reads as no row.
    let f = s.row(t).map(|r| r.family);
    let device = f.and_then(|f| s.families.get(f as usize)).map(|fam| fam.device());
    if let (true, Some(f), Some(d)) = (s.password_changes, f, device) {
        let pending = s.as_ghost.pending;
        let before =
            (0..s.families.len() as u8).filter(|&g| g != f && pending & (1 << g) == 0).fold(0u8, |m, g| m | 1 << g);
        let again =
            s.families.iter().enumerate().any(|(g, fam)| g as u8 != f && fam.device() == d && pending & (1 << g) == 0);
        if again {
            s.as_ghost.before_password_change |= before;
        }
    }
    let access = s.issue_access(t, access_ttl);
    let expires_at = access.map(|_| s.now.saturating_add(access_ttl));
    Reply::Ok { set_cookie: None, token: Some(t), expires_at, access }
}

/// A password change answered `session_kept` (the `password_change` handler): 200 with no
/// token, and the device keeps the session it holds; its reserved family stays unsigned (no
/// row). With [`AsState::password_changes`], every family signed in before it on *another*
/// device is marked ([`super::oauth::AsGhost::before_password_change`]): the device's own
/// session is the one the change keeps, so `password_change_revokes_all` judges the others.
pub fn answer_session_kept(s: &mut AsState, t: Token) -> Reply {
    let f = t.saturating_sub(1) as usize;
    if let (true, Some(d)) = (s.password_changes, s.families.get(f).map(|fam| fam.device())) {
        let pending = s.as_ghost.pending;
        let others = s
            .families
            .iter()
            .enumerate()
            .filter(|&(g, fam)| fam.device() != d && pending & (1 << g) == 0)
            .fold(0u8, |m, (g, _)| m | 1 << g);
        s.as_ghost.before_password_change |= others;
    }
    Reply::Ok { set_cookie: None, token: None, expires_at: None, access: None }
}

/// The client sessions (devices) with an active token, a bit each: what an eviction ends.
/// A superseded token does not keep a device's session in being (a rule that revokes the
/// oldest session's active token ends it even where its rotated-away parent is still
/// within a reuse interval: the protocol meant to end it).
fn live_sessions(s: &AsState) -> u8 {
    s.rows
        .iter()
        .filter(|r| matches!(r.status, TokStatus::Active))
        .filter_map(|r| s.families.get(r.family as usize))
        .fold(0, |m, f| m | 1u8 << f.device())
}

/// Ghost: the devices an `evicts` rule of the sign-in of family `own` ended (`before`: the
/// devices live before its effects) that the ground truth says it is meant to end: with
/// `oldest`, the device of the family signed in earliest (sign-in tick, then family number)
/// among the other families signed in, not signed out and not evicted before; with
/// `least-recently-used`, among the same, the device of the family redeemed least recently
/// (`last_used_at`, then sign-in tick, then family number), as the store has it when the rule
/// runs; with `others`, every other device.
fn record_eviction(s: &mut AsState, evicts: crate::protocol::Evicts, own: u8, before: u8) {
    let ended = before & !live_sessions(s);
    let own_device = s.families.get(own as usize).map_or(0, |f| f.device());
    let g = &s.as_ghost;
    let candidates = || {
        s.families.iter().enumerate().filter(|&(f, fam)| {
            f as u8 != own
                && g.pending & (1 << f) == 0
                && g.signed_out & (1 << f) == 0
                && g.user_signed_out & (1 << fam.device()) == 0
                && g.evicted & (1 << fam.device()) == 0
        })
    };
    let device = |(_, fam): (usize, &Family)| 1u8 << fam.device();
    let intended = match evicts {
        crate::protocol::Evicts::Others => !(1u8 << own_device),
        crate::protocol::Evicts::Oldest => candidates().min_by_key(|&(f, fam)| (fam.login_at, f)).map_or(0, device),
        crate::protocol::Evicts::LeastRecentlyUsed => {
            candidates().min_by_key(|&(f, fam)| (fam.last_activity, fam.login_at, f)).map_or(0, device)
        }
    };
    s.as_ghost.evicted |= ended & intended;
}

/// Ghost: the other devices a sign-out rule marked `evicts` ("sign out everywhere": `revoke
/// user`, "sign out other devices") presenting a token of family `own` ended (`before`: the
/// devices live before its effects), recorded as a sign-in's eviction is ([`record_eviction`]):
/// their logouts are the user's intent, and `eviction_completes` requires that no token of
/// theirs is active at rest. Every family of a device it ended is marked signed out
/// ([`super::oauth::AsGhost::signed_out`]), as the presented token's family is:
/// `logout_revokes_all` counts a token minted into one afterwards (a refresh that read before
/// the sign-out and writes after it) and a refresh arriving later answered 2xx;
/// `sign_out_no_session_revived` and `sign_out_no_dead_token_handed_out` judge the refreshes
/// arriving later. The signing-out device is the browser's own ground truth
/// ([`super::browser::GroundTruth::signed_out`]).
fn record_sign_out_eviction(s: &mut AsState, evicts: crate::protocol::Evicts, own: u8, before: u8) {
    let evicted = s.as_ghost.evicted;
    record_eviction(s, evicts, own, before);
    let ended = s.as_ghost.evicted & !evicted;
    let pending = s.as_ghost.pending;
    for (f, fam) in s.families.iter().enumerate() {
        if ended & (1 << fam.device()) != 0 && pending & (1 << f) == 0 {
            s.as_ghost.signed_out |= 1 << f;
        }
    }
}

fn revoke_token(s: &mut AsState, t: Token) {
    if let Some(r) = (t as usize).checked_sub(1).and_then(|i| s.rows.get_mut(i)) {
        if !matches!(r.status, TokStatus::Revoked | TokStatus::Unknown) {
            r.status = TokStatus::Revoked;
        }
    }
}

/// Applies `rule`'s effects for presented token `t` read as `view`, after the request minted
/// `earlier` (in an earlier step); `vars` are the request's declared fields, read as they
/// were before the rule and written by `set request.F`. Returns the token it minted, if any.
fn apply(
    p: &Protocol,
    s: &mut AsState,
    rule: &Rule,
    view: &ReadView,
    (t, earlier): (Token, Option<Token>),
    vars: &mut Fields,
) -> Option<Token> {
    let (Some(read_row), Some(fam)) = (view.row, view.family) else { return None };
    let now = s.now;
    let f = read_row.family;
    let mut minted = None;
    let read_vars = *vars;
    for e in &rule.effects {
        let var = |v: &Var| read(view, &read_row, &fam, (t, minted.or(earlier), &read_vars), now, *v);
        match e {
            Effect::MintChild { revoked } => {
                let n = s.next_token();
                // A token minted on the other node that this copy has not received.
                while (s.rows.len() as Token) < n - 1 {
                    s.rows.push(TokRow::first(u8::MAX, TokStatus::Unknown));
                }
                if let Some(c) = s.cluster.as_mut() {
                    c.minted = n;
                }
                s.rows.push(TokRow {
                    family: f,
                    parent: Some(t),
                    gen: read_row.gen + 1,
                    status: if *revoked { TokStatus::Revoked } else { TokStatus::Active },
                    child: None,
                    used: false,
                    iat: if p.records_issued_at { now } else { 0 },
                    fields: Fields::default(),
                });
                // A row born revoked is no session: no handler will accept it.
                if !*revoked && s.as_ghost.signed_out & (1 << f) != 0 {
                    s.as_ghost.revived = s.as_ghost.revived.saturating_add(1);
                }
                s.rows[t as usize - 1].child = Some(n);
                minted = Some(n);
            }
            Effect::SupersedePresented => {
                let row = &mut s.rows[t as usize - 1];
                if row.status != TokStatus::Revoked {
                    // A blind write of what the read saw: a lost update under read-then-write.
                    row.status = match read_row.status {
                        TokStatus::Superseded { at, uses } => {
                            TokStatus::Superseded { at, uses: uses.saturating_add(1) }
                        }
                        _ => TokStatus::Superseded { at: now, uses: 0 },
                    };
                }
                s.mark_superseded(t);
            }
            Effect::Revoke(scope) => match scope {
                RevokeScope::Presented => revoke_token(s, t),
                RevokeScope::Child => {
                    if let Some(c) = read_row.child {
                        revoke_token(s, c);
                    }
                }
                RevokeScope::Descendants => {
                    // Tokens are numbered in minting order, so a child's number is above its
                    // parent's: one pass in order finds the whole subtree.
                    let mut subtree = vec![t];
                    for i in t as usize..s.rows.len() {
                        if s.rows[i].parent.is_some_and(|p| subtree.contains(&p)) {
                            let n = (i + 1) as Token; // row i is token i + 1
                            subtree.push(n);
                            revoke_token(s, n);
                        }
                    }
                }
                RevokeScope::Family => {
                    s.revoke_family(f);
                }
                RevokeScope::Access => {
                    if let Some(a) = view.access.and_then(|(id, _)| s.access.get_mut(id as usize - 1)) {
                        a.revoked = true;
                    }
                }
                RevokeScope::PresentedAccess => s.revoke_access_of(t),
                RevokeScope::ChildAccess => {
                    if let Some(c) = read_row.child {
                        s.revoke_access_of(c);
                    }
                }
                RevokeScope::Field(scope, i) => {
                    let named = match scope {
                        Scope::Family => var(&Var::FamilyField(*i)),
                        Scope::Session => var(&Var::SessionField(*i)),
                        // A user field holds a tick or a count, never a token.
                        Scope::User => 0,
                        Scope::Request => var(&Var::RequestField(*i)),
                        Scope::Presented => var(&Var::TokenField(*i)),
                        Scope::Child => var(&Var::ChildField(*i)),
                        // The parser refuses `revoke minted.F` (`minted.F` is not read).
                        Scope::Minted => 0,
                    };
                    if let Ok(n @ 1..) = Token::try_from(named) {
                        let foreign =
                            s.rows.get(n as usize - 1).is_some_and(|r| r.family != f && r.status != TokStatus::Revoked);
                        revoke_token(s, n);
                        if foreign && rule.reuse_detected {
                            s.as_ghost.foreign_revocations = s.as_ghost.foreign_revocations.saturating_add(1);
                        }
                    }
                }
                RevokeScope::UserExceptFamily | RevokeScope::UserExceptSession => {
                    // Every other family of the user: the presented family (and, for `except
                    // session`, every family of its client session) is spared.
                    let session = s.families[f as usize].session;
                    for o in 0..s.families.len() as u8 {
                        let spared = o == f
                            || (*scope == RevokeScope::UserExceptSession && s.families[o as usize].session == session);
                        if !spared {
                            let n = s.revoke_family(o);
                            if rule.reuse_detected {
                                s.as_ghost.foreign_revocations = s.as_ghost.foreign_revocations.saturating_add(n);
                            }
                        }
                    }
                }
                RevokeScope::Session | RevokeScope::Client | RevokeScope::User => {
                    s.revoke_family(f);
                    let (session, client) = (s.families[f as usize].session, s.families[f as usize].client);
                    for o in 0..s.families.len() as u8 {
                        let within = match scope {
                            RevokeScope::Session => s.families[o as usize].session == session,
                            RevokeScope::Client => s.families[o as usize].client == client,
                            _ => true,
                        };
                        if o != f && within {
                            let n = s.revoke_family(o);
                            if rule.reuse_detected {
                                s.as_ghost.foreign_revocations = s.as_ghost.foreign_revocations.saturating_add(n);
                            }
                        }
                    }
                }
            },
            Effect::RevokeToken(x) => {
                if let Ok(n @ 1..) = Token::try_from(x.eval(&var)) {
                    let foreign =
                        s.rows.get(n as usize - 1).is_some_and(|r| r.family != f && r.status != TokStatus::Revoked);
                    revoke_token(s, n);
                    if foreign && rule.reuse_detected {
                        s.as_ghost.foreign_revocations = s.as_ghost.foreign_revocations.saturating_add(1);
                    }
                }
            }
            Effect::RevokeAround(around, x) => {
                let named = Token::try_from(x.eval(&var)).ok().filter(|&n| n != 0);
                let of = named.and_then(|n| s.row(n)).map(|r| r.family);
                if let Some(g) = of {
                    let session = s.families[g as usize].session;
                    for o in 0..s.families.len() as u8 {
                        let within = match around {
                            Around::Family => o == g,
                            Around::Session => s.families[o as usize].session == session,
                        };
                        if within {
                            let n = s.revoke_family(o);
                            if o != f && rule.reuse_detected {
                                s.as_ghost.foreign_revocations = s.as_ghost.foreign_revocations.saturating_add(n);
                            }
                        }
                    }
                }
            }
            Effect::SupersedeToken(x, slot) => {
                let seen = view.follow.get(*slot as usize).copied().flatten().map(|r| r.status);
                if let Ok(n @ 1..) = Token::try_from(x.eval(&var)) {
                    let live = s.rows.get_mut(n as usize - 1).filter(|r| r.status != TokStatus::Unknown);
                    if let Some(row) = live {
                        if row.status != TokStatus::Revoked {
                            row.status = match seen {
                                Some(TokStatus::Superseded { at, uses }) => {
                                    TokStatus::Superseded { at, uses: uses.saturating_add(1) }
                                }
                                _ => TokStatus::Superseded { at: now, uses: 0 },
                            };
                        }
                        s.mark_superseded(n);
                    }
                }
            }
            Effect::SetToken(token, i, x) => {
                let v = x.eval(&var).clamp(0, 255) as u8;
                if let Ok(n @ 1..) = Token::try_from(token.eval(&var)) {
                    if let Some(r) = s.rows.get_mut(n as usize - 1).filter(|r| r.status != TokStatus::Unknown) {
                        r.fields[*i as usize] = v;
                    }
                }
            }
            Effect::Set(scope, i, x) => {
                let v = x.eval(&var).clamp(0, 255) as u8;
                match scope {
                    Scope::Family => s.families[f as usize].fields[*i as usize] = v,
                    Scope::Session => {
                        if let Some(e) = s.sessions.get_mut(fam.session as usize) {
                            e[*i as usize] = v;
                        }
                    }
                    Scope::User => s.user[*i as usize] = v,
                    Scope::Request => vars[*i as usize] = v,
                    Scope::Presented => s.rows[t as usize - 1].fields[*i as usize] = v,
                    Scope::Child => {
                        if let Some(r) = read_row.child.and_then(|c| s.rows.get_mut(c as usize - 1)) {
                            r.fields[*i as usize] = v;
                        }
                    }
                    Scope::Minted => {
                        if let Some(r) = minted.or(earlier).and_then(|m| s.rows.get_mut(m as usize - 1)) {
                            r.fields[*i as usize] = v;
                        }
                    }
                }
            }
        }
    }
    minted
}

/// The first rule of `rules` whose guard holds for token `t` read as `view`.
pub fn decide<'p>(rules: &'p [Rule], view: &ReadView, t: Token, now: Tick) -> Option<&'p Rule> {
    decide_after(rules, view, (t, None, &Fields::default()), now)
}

/// [`decide`] for a request that has minted `minted` in an earlier step and holds `vars` in its
/// declared request fields.
pub fn decide_after<'p>(
    rules: &'p [Rule],
    view: &ReadView,
    (t, minted, vars): (Token, Option<Token>, &Fields),
    now: Tick,
) -> Option<&'p Rule> {
    let (row, fam) = (view.row?, view.family?);
    let var = |v: &Var| read(view, &row, &fam, (t, minted, vars), now, *v);
    rules.iter().find(|r| r.when.eval(&var) != 0)
}

/// What a step of a refresh did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// The request is answered.
    Answer(Reply),
    /// The request goes on to its handler's next step ([`AsHandler::step`] advanced).
    Continue,
    /// The step's `waits_until` condition does not hold on the store now: nothing ran, the
    /// request waits at this step ([`AsHandler::step`] unchanged).
    Blocked,
}

/// Whether refresh `h` may run its next step now: the step has no `waits_until`, or its
/// condition holds on the store as it is now (read with the request's minted token and
/// declared fields). A token the store has no row for does not wait: its step answers
/// `invalid_grant` before any rule runs.
pub fn wait_over(p: &Protocol, s: &AsState, h: &AsHandler) -> bool {
    let Some(cond) = handler_of(p, s, h).steps.get(h.step as usize).and_then(|st| st.waits_until.as_ref()) else {
        return true;
    };
    let view = handler_view(p, s, h);
    let (Some(row), Some(fam)) = (view.row, view.family) else { return true };
    cond.eval(&|v: &Var| read(&view, &row, &fam, (h.token, h.minted, &h.vars), s.now, *v)) != 0
}

/// The instance that serves a refresh of `token` arriving now, counted from 0, or `None` while
/// the refresh lock keeps it waiting ([`Protocol::refresh_lock_holders`]): without a lock, or
/// for a token with no row, instance 0; under a global lock, 0 unless another refresh of the
/// family is in progress; under a lock of each instance, the lowest instance serving no refresh
/// of the family (a load balancer may route the request to any instance, and one whose lock is
/// held would only make it wait until the lock is free, which the network's delay covers).
pub fn lock_instance(p: &Protocol, s: &AsState, token: Token) -> Option<u8> {
    let Some(holders) = p.refresh_lock_holders() else { return Some(0) };
    let Some(family) = s.row(token).map(|r| r.family) else { return Some(0) };
    let busy = s.handlers.iter().filter(|h| h.view.row.is_some_and(|r| r.family == family)).map(|h| h.instance);
    let free = (0..p.instances.max(1)).find(|i| !busy.clone().any(|b| b == *i))?;
    (busy.count() < holders).then_some(free)
}

/// Runs step `h.step` of the refresh handler for `h` ([`StepOutcome::Blocked`], changing
/// nothing, while the step's `waits_until` does not hold): reads (the store now, or the request's
/// snapshot), decides, applies the effects, and answers (2xx with the token and an access
/// token expiring `access_ttl` ticks from now, or an error) or continues. Records the ghost
/// bookkeeping of an answer.
pub fn run_step(p: &Protocol, access_ttl: Tick, s: &mut AsState, h: &mut AsHandler) -> StepOutcome {
    let now = s.now;
    let t = h.token;
    let handler = handler_of(p, s, h);
    let Some(step) = handler.steps.get(h.step as usize) else {
        return StepOutcome::Answer(Reply::Err(HttpError::Internal));
    };
    if !wait_over(p, s, h) {
        return StepOutcome::Blocked;
    }
    // Ghost truth: the store as it is before this step's effects, whatever the step reads.
    let truth = handler_view(p, s, h);
    if step.reads == Reads::Current {
        h.view = truth;
    }
    let (Some(read_row), Some(fam)) = (h.view.row, h.view.family) else {
        return StepOutcome::Answer(Reply::Err(HttpError::InvalidCredentials));
    };
    let f = read_row.family;
    let Some(rule) = decide_after(&step.rules, &h.view, (t, h.minted, &h.vars), now) else {
        roll_back_if_open(p, s, h);
        return StepOutcome::Answer(Reply::Err(HttpError::InvalidCredentials));
    };
    if rule.reuse_detected {
        s.as_ghost.detected |= 1 << f;
    }
    // SP1 (iii) and acceptance judge the token as the store had it when the request first
    // acted on it: at its first step whose rule writes (a claim, a rotation, a mint), or else
    // at the answer (a blind write deciding on an older read redeems what the store holds at
    // the write).
    let deep = matches!(truth.row.map(|r| r.status), Some(TokStatus::Superseded { .. }))
        && truth.newest_gen.saturating_sub(read_row.gen) > 1;
    let logs = handler.transaction
        || (rule.rolled_back
            && !(p.memory_family.is_empty() && p.memory_session.is_empty() && p.memory_token.is_empty()));
    if logs && !rule.effects.is_empty() {
        // A transaction's writes, or a rolled-back rule's that may write in-memory fields:
        // applied with an undo log.
        let before = s.table();
        if !rule.rolled_back {
            h.judged.get_or_insert((now, deep));
        }
        if let Some(n) = apply(p, s, rule, &h.view, (t, h.minted), &mut h.vars) {
            h.minted = Some(n);
        }
        s.log_undo(h.client, h.slot, &before);
    } else if !rule.rolled_back && !rule.effects.is_empty() {
        h.judged.get_or_insert((now, deep));
        let live = rule.evicts.map(|_| live_sessions(s));
        if let Some(n) = apply(p, s, rule, &h.view, (t, h.minted), &mut h.vars) {
            h.minted = Some(n);
        }
        if let (Some(evicts), Some(before)) = (rule.evicts, live) {
            record_eviction(s, evicts, f, before);
        }
    }
    if rule.rolled_back {
        roll_back_if_open(p, s, h);
    } else if !matches!(rule.reply, ReplyForm::Continue) {
        s.commit(h.client, h.slot);
    }
    let error = |e: HttpError| StepOutcome::Answer(Reply::Err(e));
    if h.sign_in && rule.reply == ReplyForm::SignedIn {
        // The sign-in's answer: its family's first token is inserted now and handed out.
        return StepOutcome::Answer(answer_sign_in(p, s, t, access_ttl));
    }
    if h.sign_in && rule.reply == ReplyForm::SessionKept {
        // A password change that keeps the device's session: nothing is inserted.
        return StepOutcome::Answer(answer_session_kept(s, t));
    }
    let issued = match &rule.reply {
        ReplyForm::Continue => {
            h.step = rule.next.unwrap_or(h.step + 1);
            return StepOutcome::Continue;
        }
        ReplyForm::OkMinted => h.minted,
        ReplyForm::OkAccessOnly => Some(0),
        ReplyForm::Ok(x) => {
            let var = |v: &Var| read(&h.view, &read_row, &fam, (t, h.minted, &h.vars), now, *v);
            match x.eval(&var) {
                0 => None,
                n => Some(n.clamp(1, 255) as Token),
            }
        }
        ReplyForm::InvalidGrant => return error(HttpError::InvalidCredentials),
        ReplyForm::InvalidRequest => return error(HttpError::InvalidPayload),
        ReplyForm::ServerError
        | ReplyForm::SignedOut
        | ReplyForm::SignedIn
        | ReplyForm::SessionKept
        | ReplyForm::OkServed
        | ReplyForm::InvalidToken => return error(HttpError::Internal),
    };
    let Some(tok) = issued else { return error(HttpError::Internal) };
    // Success: the store records the redemption.
    s.rows[t as usize - 1].used = true;
    let fam = &mut s.families[f as usize];
    fam.last_activity = fam.last_activity.max(now);
    let (at, deep) = h.judged.unwrap_or((now, deep));
    s.mark_accepted(t, at);
    if deep {
        s.as_ghost.deep_replays = s.as_ghost.deep_replays.saturating_add(1);
    }
    if s.as_ghost.detected & (1 << f) != 0 {
        s.as_ghost.ok_after_detection = s.as_ghost.ok_after_detection.saturating_add(1);
    }
    if h.after_sign_out {
        s.ghost.ok_after_sign_out = s.ghost.ok_after_sign_out.saturating_add(1);
    }
    // `ok access-only` (token 0): an access token and no refresh token.
    let token = (tok != 0).then_some(tok);
    // The access token it carries is issued with the refresh token answered (the presented
    // one for `ok access-only`), when the store keeps access tokens.
    let access = s.issue_access(token.unwrap_or(t), access_ttl);
    StepOutcome::Answer(Reply::Ok { set_cookie: None, token, expires_at: Some(now.saturating_add(access_ttl)), access })
}

/// An ordinary call presenting access token `a`, served in one action by the protocol's
/// `request` handler: an access token the store has no row for (or none) is answered 401
/// before any rule runs; otherwise `presented` is the refresh token the access token was
/// issued with and `access.*` read the access token; the first rule whose guard holds
/// decides, its effects apply, and its reply is the answer (no rule holding: 401). A 2xx marks
/// the access token used (MAS: introspection records `first_used_at`).
pub fn serve_call(p: &Protocol, s: &mut AsState, a: Option<super::oauth::AccessId>) -> Reply {
    let Some((rule, t, view)) = call_view(p, s, a) else { return Reply::Err(HttpError::InvalidCredentials) };
    let id = view.access.map_or(0, |(id, _)| id);
    apply(p, s, rule, &view, (t, None), &mut Fields::default());
    match rule.reply {
        ReplyForm::OkServed => {
            s.access[id as usize - 1].used = true;
            Reply::Ok { set_cookie: None, token: None, expires_at: None, access: None }
        }
        ReplyForm::InvalidRequest => Reply::Err(HttpError::InvalidPayload),
        ReplyForm::InvalidToken | ReplyForm::InvalidGrant => Reply::Err(HttpError::InvalidCredentials),
        _ => Reply::Err(HttpError::Internal),
    }
}

/// The rule of the `request` handler that decides an API call presenting access token `a` on
/// store `s` (for traces); `None` when the access token (or its refresh token) has no row or
/// no rule holds (401).
pub fn call_rule<'p>(p: &'p Protocol, s: &AsState, a: Option<super::oauth::AccessId>) -> Option<&'p Rule> {
    call_view(p, s, a).map(|(r, _, _)| r)
}

/// The deciding rule, the refresh token and the read view of an API call presenting `a`.
fn call_view<'p>(
    p: &'p Protocol,
    s: &AsState,
    a: Option<super::oauth::AccessId>,
) -> Option<(&'p Rule, Token, ReadView)> {
    let (id, row) = a.and_then(|a| s.access_row(a).map(|r| (a, r)))?;
    let t = row.refresh;
    let mut view = view_of(p, s, t, &Fields::default(), None, false);
    view.row?;
    view.access = Some((id, row));
    let rules = p.request.steps.first().map_or(&[][..], |st| &st.rules[..]);
    let rule = decide(rules, &view, t, s.now)?;
    Some((rule, t, view))
}

/// Rolls back what request `h` wrote in its open transaction, if any (its undo log; the
/// `in_memory` fields keep their values). A step where no rule holds answers an error, which
/// in a transaction rolls it back too.
pub fn roll_back_if_open(p: &Protocol, s: &mut AsState, h: &AsHandler) {
    if s.undo.iter().any(|(c, n, _)| (*c, *n) == (h.client, h.slot)) {
        s.roll_back(h.client, h.slot, [&p.memory_family, &p.memory_session, &p.memory_token]);
        // A row the rollback removed at the end of the table is no row at all (the token
        // numbers it took are free again, as with no write).
        // (A first token reserved for a sign-in during the run is no such row: it stays.)
        while s.cluster.is_none()
            && s.rows.len() > s.families.len()
            && s.rows.last().is_some_and(|r| r.status == TokStatus::Unknown)
        {
            s.rows.pop();
        }
    }
}

/// The sign-ins, in order, each running the protocol's sign-in rules (if any) with
/// `presented` the new family's first token: sign-in `f` (token `f + 1`) runs on the store of
/// the sign-ins before it, and its effects spare its own family (the new token is inserted
/// after them: Dex's `handleAuthCode` deletes the client's old refresh token, then stores the
/// new one). One node only.
pub fn sign_ins(p: &Protocol, s: &mut AsState) {
    let Some(h) = &p.sign_in else { return };
    let (rows, families) = (std::mem::take(&mut s.rows), std::mem::take(&mut s.families));
    for (f, (row, fam)) in rows.into_iter().zip(families).enumerate() {
        s.families.push(fam);
        if s.as_ghost.pending & (1 << f) != 0 {
            s.rows.push(row);
            continue; // signs in during the run (`browser.sign_ins`)
        }
        // The new token is inserted after the rules: until then no read counts it and no
        // revocation reaches it.
        s.rows.push(TokRow { status: TokStatus::Unknown, ..row });
        let t = f as Token + 1;
        // A sign-in of several steps runs them all, in order, with nothing in between.
        let device = s.families[f].device();
        let mut vars = sender_fields(p, s, super::ClientKey { browser: device, tab: 0 });
        let mut step = 0usize;
        while let Some(st) = h.steps.get(step) {
            let view = view_of(p, s, t, &vars, None, true);
            let Some(rule) = decide_after(&st.rules, &view, (t, None, &vars), s.now) else { break };
            let live = live_sessions(s);
            apply(p, s, rule, &view, (t, None), &mut vars);
            if let Some(evicts) = rule.evicts {
                record_eviction(s, evicts, f as u8, live);
            }
            match rule.reply {
                ReplyForm::Continue => step = rule.next.map_or(step + 1, usize::from),
                _ => break,
            }
        }
        // The new token, inserted with its own fields as its rules set them.
        s.rows[f] = TokRow { fields: s.rows[f].fields, ..row };
    }
}

/// A whole refresh of `h` run step after step with no other action in between (the steps of
/// a handler written as one transaction; used by tests of the rules).
pub fn redeem(p: &Protocol, access_ttl: Tick, s: &mut AsState, h: &AsHandler) -> Reply {
    let mut h = *h;
    loop {
        if let StepOutcome::Answer(r) = run_step(p, access_ttl, s, &mut h) {
            return r;
        }
    }
}

/// Sign-out with token `t` (if any), one action.
pub fn sign_out(p: &Protocol, s: &mut AsState, t: Option<Token>) -> Reply {
    sign_out_presenting(p, s, t, None)
}

/// Sign-out presenting what `p.sign_out_presents` says of refresh token `t` and access token
/// `a` (each the one the tab holds, if any), one action: the rules decide on the view
/// [`sign_out_view`] reads, and their effects are applied unless the rule is `rolled_back`.
/// A request whose tokens have no row, or that a revocation endpoint does not find under its
/// hint ([`crate::protocol::Revocation::finds`]), changes nothing; the user's sign-out is
/// recorded either way, and the family of the refresh token the request names (the one
/// presented, or the one the presented access token was issued with) is marked signed out:
/// the ghost follows what the user did, not what the server found. A rule that keeps the
/// acting session ([`keeps_acting_session`]: "sign out other devices") leaves that family
/// unmarked.
pub fn sign_out_presenting(
    p: &Protocol,
    s: &mut AsState,
    t: Option<Token>,
    a: Option<super::oauth::AccessId>,
) -> Reply {
    sign_out_keeping(p, s, t, a).0
}

/// [`sign_out_presenting`], also telling whether the rule applied kept the acting session
/// ([`keeps_acting_session`]): the caller then does not record the device's user as signed
/// out ([`super::oauth::AsGhost::user_signed_out`]).
pub fn sign_out_keeping(
    p: &Protocol,
    s: &mut AsState,
    t: Option<Token>,
    a: Option<super::oauth::AccessId>,
) -> (Reply, bool) {
    let mut kept = false;
    if let Some((t, view)) = presented_view(p, s, t, a) {
        if found(p) {
            let rules = p.sign_out.steps.first().map_or(&[][..], |st| &st.rules[..]);
            if let Some(rule) = decide(rules, &view, t, s.now) {
                if !rule.rolled_back {
                    let live = live_sessions(s);
                    apply(p, s, rule, &view, (t, None), &mut Fields::default());
                    if let (Some(evicts), Some(row)) = (rule.evicts, view.row) {
                        record_sign_out_eviction(s, evicts, row.family, live);
                    }
                    kept = keeps_acting_session(rule);
                }
            }
        }
        if let Some(row) = view.row.filter(|_| !kept) {
            s.as_ghost.signed_out |= 1 << row.family;
        }
    }
    s.ghost.signed_out = true;
    (Reply::SignedOut, kept)
}

/// Whether a sign-out rule keeps the acting session: its `do` revokes the user's other
/// sessions and spares the presented family (`revoke user except family`) or the device's
/// client session (`revoke user except session`), as better-auth's `revokeOtherSessions` and
/// warmbly's `RevokeOtherSessions(ctx, userID, currentSessionID)` do
/// (docs/protocol-language.md, "A change that keeps the acting session"). The ground truth
/// keeps that session alive: its family is not marked signed out, so a later refresh of it
/// answered 2xx is no revival. A rule that also revokes the family, the session, the user or
/// the client (`revoke family` beside `revoke user except session`) does not keep it.
pub fn keeps_acting_session(rule: &Rule) -> bool {
    use crate::protocol::expr::RevokeScope::{Client, Family, Session, User, UserExceptFamily, UserExceptSession};
    let spares = rule.effects.iter().any(|e| matches!(e, Effect::Revoke(UserExceptFamily | UserExceptSession)));
    // A rule that also revokes the acting family or session (or every one of the user or the
    // client) ends it whatever its `except` spared.
    let ends = rule.effects.iter().any(|e| matches!(e, Effect::Revoke(Family | Session | User | Client)));
    spares && !ends
}

/// A client's follow-up (`browser.follow_up`) presenting refresh token `t` to the `sign_out`
/// handler, one action: its rules decide and act as for a sign-out presenting `t`
/// ([`sign_out_presenting`]), but it is a revocation (RFC 7009 §2.1), not the user's sign-out:
/// no family is marked signed out and no sign-out is recorded. Answered 200 whatever it
/// revokes (RFC 7009 §2.2), as the sign-out is.
pub fn follow_up_presenting(p: &Protocol, s: &mut AsState, t: Option<Token>) -> Reply {
    if let Some((t, view)) = sign_out_view(p, s, t, None) {
        let rules = p.sign_out.steps.first().map_or(&[][..], |st| &st.rules[..]);
        if let Some(rule) = decide(rules, &view, t, s.now) {
            if !rule.rolled_back {
                apply(p, s, rule, &view, (t, None), &mut Fields::default());
            }
        }
    }
    Reply::SignedOut
}

/// Sign-out presenting access token `a` alone (`sign_out.presents: access_token`), one
/// action: [`sign_out_presenting`] without a refresh token.
pub fn sign_out_with_access(p: &Protocol, s: &mut AsState, a: Option<super::oauth::AccessId>) -> Reply {
    sign_out_presenting(p, s, None, a)
}

/// The sign-out rule that decides a sign-out presenting refresh token `t` and access token `a`
/// (as [`Protocol::sign_out_presents`] says) on store `s` (for traces and queries); `None`
/// when the tokens the rules read have no row or no rule holds.
pub fn sign_out_rule<'p>(
    p: &'p Protocol,
    s: &AsState,
    t: Option<Token>,
    a: Option<super::oauth::AccessId>,
) -> Option<&'p Rule> {
    let (t, view) = sign_out_view(p, s, t, a)?;
    decide(p.sign_out.steps.first().map_or(&[][..], |st| &st.rules[..]), &view, t, s.now)
}

/// The sign-out rule that decides a sign-out presenting access token `a` on store `s` (for
/// traces); `None` when the access token (or its refresh token) has no row or no rule holds.
pub fn sign_out_access_rule<'p>(p: &'p Protocol, s: &AsState, a: Option<super::oauth::AccessId>) -> Option<&'p Rule> {
    sign_out_rule(p, s, None, a)
}

/// What a sign-out's rules read, by [`Protocol::sign_out_presents`] ([`presented_view`]):
/// `None` also when a revocation endpoint does not find the presented token under its hint
/// (`sign_out.revocation` with `search: hinted`): no rule runs then.
pub fn sign_out_view(
    p: &Protocol,
    s: &AsState,
    t: Option<Token>,
    a: Option<super::oauth::AccessId>,
) -> Option<(Token, ReadView)> {
    presented_view(p, s, t, a).filter(|_| found(p))
}

/// Whether the sign-out finds the token it is sent: always, unless it is a revocation endpoint
/// that searches the hinted kind only and the hint names the other kind.
fn found(p: &Protocol) -> bool {
    p.revocation.is_none_or(|r| r.finds(p.sign_out_presents))
}

/// What a sign-out request names, by [`Protocol::sign_out_presents`]: the refresh token its
/// rules call `presented` and the read view of it, `None` when that token has no row.
///
/// - refresh token: `t`, read as a refresh reads it;
/// - access token: the refresh token access token `a` was issued with, and `a`'s row as
///   `access.*` (`None` also when `a` has no row);
/// - both: `t`, with `a`'s row as `access.*` (`access.*` read 0 and `revoke access` revokes
///   nothing when the tab holds no access token or it has no row).
pub fn presented_view(
    p: &Protocol,
    s: &AsState,
    t: Option<Token>,
    a: Option<super::oauth::AccessId>,
) -> Option<(Token, ReadView)> {
    match p.sign_out_presents {
        Presents::RefreshToken => {
            let t = t?;
            let view = view_of(p, s, t, &Fields::default(), None, false);
            view.row?;
            Some((t, view))
        }
        Presents::AccessToken => access_view(p, s, a),
        Presents::Both => {
            let t = t?;
            let mut view = view_of(p, s, t, &Fields::default(), None, false);
            view.row?;
            view.access = a.and_then(|a| s.access_row(a).map(|r| (a, r)));
            Some((t, view))
        }
    }
}

/// The refresh token access token `a` was issued with, and the read view of it with the
/// access token's row (`access.*`); `None` when either has no row.
fn access_view(p: &Protocol, s: &AsState, a: Option<super::oauth::AccessId>) -> Option<(Token, ReadView)> {
    let (id, row) = a.and_then(|a| s.access_row(a).map(|r| (a, r)))?;
    let t = row.refresh;
    let mut view = view_of(p, s, t, &Fields::default(), None, false);
    view.row?;
    view.access = Some((id, row));
    view.found_as_access = true;
    Some((t, view))
}

#[cfg(test)]
mod tests {
    use super::super::oauth::AsHandler;
    use super::super::ClientKey;
    use super::*;
    use crate::protocol::presets::{AsSteps, AuthServerPolicy, Grace, OnReuse, ReuseState, Rotation, Window};
    use crate::protocol::Routing;

    fn policy(rotation: Rotation, on_reuse: OnReuse, grace: Grace, window: Window) -> AuthServerPolicy {
        AuthServerPolicy {
            rotation,
            on_reuse,
            grace,
            window,
            steps: AsSteps::Atomic,
            revoked_is_reuse: false,
            idle: None,
            absolute: None,
            reuse_state: ReuseState::PerChain,
            replicas: 1,
            routing: Routing::Any,
        }
    }

    fn compile(p: &AuthServerPolicy) -> Protocol {
        Protocol::compile(&p.expand(), "auth_server").unwrap()
    }

    fn signed_in(p: &Protocol, devices: u8, logins: u8) -> AsState {
        AsState::signed_in(devices, logins, !p.session_fields.is_empty())
    }

    fn handler(s: &AsState, token: Token) -> AsHandler {
        AsHandler::arriving(s, ClientKey { browser: 0, tab: 0 }, 0, token, false)
    }

    fn redeem_now(p: &Protocol, s: &mut AsState, t: Token) -> Option<Token> {
        let h = handler(s, t);
        match redeem(p, 1, s, &h) {
            Reply::Ok { token, .. } => token,
            _ => None,
        }
    }

    #[test]
    fn reuse_detection_revokes_the_whole_family() {
        let p = compile(&policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::None, Window::default()));
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        assert_eq!(redeem_now(&p, &mut s, 1), None, "reuse of 1");
        assert_eq!(s.rows[1].status, TokStatus::Revoked, "the active child dies too");
        assert_eq!(redeem_now(&p, &mut s, 2), None);
        assert_eq!(s.as_ghost.detected, 1);
    }

    #[test]
    fn same_child_grace_returns_the_child_inside_the_window_only() {
        let w = Window { ticks: Some(1), uses: None, generations: Some(1) };
        let p = compile(&policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::SameChild, w));
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        s.now = 1;
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2), "inside the window: the same child");
        s.now = 2;
        assert_eq!(redeem_now(&p, &mut s, 1), None, "outside: detection");
        assert_eq!(s.as_ghost.detected, 1);
    }

    #[test]
    fn new_sibling_grace_forks_and_generation_bound_limits_it() {
        let w = Window { ticks: Some(5), uses: None, generations: Some(1) };
        let p = compile(&policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::NewSibling, w));
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        assert_eq!(redeem_now(&p, &mut s, 2), Some(3));
        assert_eq!(redeem_now(&p, &mut s, 2), Some(4), "immediate predecessor: a sibling of 3");
        assert_eq!(redeem_now(&p, &mut s, 1), None, "two generations behind: detection");
        let unbounded = compile(&policy(
            Rotation::Rotate,
            OnReuse::RevokeFamily,
            Grace::NewSibling,
            Window { generations: None, ..w },
        ));
        let mut s = signed_in(&unbounded, 1, 1);
        redeem_now(&unbounded, &mut s, 1);
        redeem_now(&unbounded, &mut s, 2);
        assert_eq!(redeem_now(&unbounded, &mut s, 1), Some(4), "django-oauth-toolkit 1617");
        assert_eq!(s.as_ghost.deep_replays, 1);
    }

    #[test]
    fn until_successor_used_latest_wins() {
        let p = compile(&policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::UntilSuccessorUsed, Window::default()));
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        assert_eq!(redeem_now(&p, &mut s, 1), Some(3), "2 unused: a retry succeeds");
        assert_eq!(s.rows[1].status, TokStatus::Revoked, "the earlier child is replaced");
        assert_eq!(redeem_now(&p, &mut s, 3), Some(4));
        assert_eq!(redeem_now(&p, &mut s, 1), None, "the successor was used");
    }

    #[test]
    fn parent_of_active_gets_the_active_child_forever_and_older_tokens_fork_inside_the_window() {
        let w = Window { ticks: Some(1), uses: None, generations: None };
        let p = compile(&policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::ParentOfActiveElseSibling, w));
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        s.now = 5;
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2), "parent of the active token: its child, however late");
        assert_eq!(redeem_now(&p, &mut s, 2), Some(3));
        assert_eq!(redeem_now(&p, &mut s, 2), Some(3), "2 is now the parent of the active token");
        assert_eq!(redeem_now(&p, &mut s, 1), None, "1's child 2 is superseded and 1 is outside the window");
        assert_eq!(s.as_ghost.detected, 1);
        let mut s = signed_in(&p, 1, 1);
        redeem_now(&p, &mut s, 1);
        redeem_now(&p, &mut s, 2);
        s.now = 1;
        assert_eq!(redeem_now(&p, &mut s, 1), Some(4), "inside the window: a fork, a sibling of 2");
        assert_eq!(s.as_ghost.deep_replays, 1);
    }

    #[test]
    fn read_then_write_forks_a_lineage_and_a_write_that_reads_the_store_again_does_not() {
        let mut pol = policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::None, Window::default());
        pol.steps = AsSteps::ReadThenWrite;
        let p = compile(&pol);
        let mut s = signed_in(&p, 1, 1);
        let (mut a, mut b) = (handler(&s, 1), handler(&s, 1));
        assert_eq!(run_step(&p, 1, &mut s, &mut a), StepOutcome::Continue, "a reads");
        assert_eq!(run_step(&p, 1, &mut s, &mut b), StepOutcome::Continue, "b reads");
        assert!(matches!(run_step(&p, 1, &mut s, &mut a), StepOutcome::Answer(Reply::Ok { token: Some(2), .. })));
        assert!(matches!(run_step(&p, 1, &mut s, &mut b), StepOutcome::Answer(Reply::Ok { token: Some(3), .. })));
        let active = s.rows.iter().filter(|r| r.status == TokStatus::Active).count();
        assert_eq!(active, 2, "two live siblings");

        // The same two steps with a write that reads the store again (a conditional update):
        // the second write finds the token superseded and is reuse.
        let mut spec = pol.expand();
        spec.refresh.steps[1].reads = Reads::Current;
        let p = Protocol::compile(&spec, "protocol").unwrap();
        let mut s = signed_in(&p, 1, 1);
        let (mut a, mut b) = (handler(&s, 1), handler(&s, 1));
        run_step(&p, 1, &mut s, &mut a);
        run_step(&p, 1, &mut s, &mut b);
        assert!(matches!(run_step(&p, 1, &mut s, &mut a), StepOutcome::Answer(Reply::Ok { token: Some(2), .. })));
        assert_eq!(run_step(&p, 1, &mut s, &mut b), StepOutcome::Answer(Reply::Err(HttpError::InvalidCredentials)));
        assert_eq!(s.as_ghost.detected, 1, "the conditional update saw the reuse");
    }

    #[test]
    fn keycloak_client_session_state_stale_tie_and_max_reuse() {
        // Two login chains (tokens 1 and 2) in one client session (Keycloak before PR 29966).
        let mut pol = policy(Rotation::Rotate, OnReuse::DetachClientSession, Grace::None, Window::default());
        pol.reuse_state = ReuseState::PerClientSession;
        let p = compile(&pol);
        // Declared session fields, in name order: count, current, timestamp.
        let mut s = signed_in(&p, 1, 2);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(3), "no current token yet: 1 becomes current");
        assert_eq!(s.sessions[0][..3], [1, 1, 0]);
        assert_eq!(redeem_now(&p, &mut s, 2), Some(4), "issued in the tick of the last refresh: not stale");
        assert_eq!(s.sessions[0][..3], [1, 2, 0]);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(5), "a tie again: token 1, rotated away, is current once more");
        s.now = 1;
        assert_eq!(redeem_now(&p, &mut s, 5), Some(6), "token 5 was never current and not issued before 0");
        assert_eq!(redeem_now(&p, &mut s, 4), None, "token 4: issued at 0 < timestamp 1 and not current: stale");
        assert!(s.rows.iter().all(|r| r.status == TokStatus::Revoked), "the client session is detached");
        assert_eq!(s.as_ghost.foreign_revocations, 4, "tokens 1, 3, 5 and 6 of the other chain, not yet revoked");

        // Max reuse 1: the current token may be used twice, the third use fails.
        pol.window.uses = Some(1);
        let p = compile(&pol);
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        assert_eq!(redeem_now(&p, &mut s, 1), Some(3), "count 1 is not above max reuse 1");
        assert_eq!(redeem_now(&p, &mut s, 1), None, "count 2 > 1: Maximum allowed refresh token reuse exceeded");
    }

    #[test]
    fn keycloak_reuse_id_keeps_chains_apart_but_ties_within_a_chain_fork() {
        let mut pol = policy(Rotation::Rotate, OnReuse::DetachClientSession, Grace::None, Window::default());
        pol.reuse_state = ReuseState::PerReuseId;
        let p = compile(&pol);
        let mut s = signed_in(&p, 1, 2);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(3));
        s.now = 1;
        assert_eq!(redeem_now(&p, &mut s, 3), Some(4), "chain 0 moves on at tick 1");
        assert_eq!(redeem_now(&p, &mut s, 2), Some(5), "chain 1 has its own state: token 2 is not stale");
        assert_eq!(s.families[0].fields[..3], [1, 3, 1]);
        assert_eq!(s.families[1].fields[..3], [1, 2, 1]);
        assert_eq!(redeem_now(&p, &mut s, 1), None, "token 1: issued at 0 < chain 0's last refresh 1: stale");
        assert!(s.rows.iter().all(|r| r.status == TokStatus::Revoked), "the client session is detached");

        // Within one chain and one tick, a rotated-away token is not stale: it is current
        // again and forks the chain.
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        assert_eq!(redeem_now(&p, &mut s, 2), Some(3));
        assert_eq!(redeem_now(&p, &mut s, 1), Some(4), "iat 0 is not before the last refresh 0");
        let active = s.rows.iter().filter(|r| r.status == TokStatus::Active).count();
        assert_eq!(active, 2, "tokens 3 and 4 both live");
    }

    #[test]
    fn two_nodes_number_tokens_across_the_cluster_and_replication_overwrites_the_entry() {
        let p = compile(&policy(Rotation::Rotate, OnReuse::RevokeFamily, Grace::None, Window::default()));
        let mut s = AsState::signed_in_cluster(1, 2, false);
        assert_eq!(s.on_node(0, |s| redeem_now(&p, s, 1)), Some(3));
        assert_eq!(s.on_node(1, |s| redeem_now(&p, s, 2)), Some(4), "numbered after node 1's token 3");
        assert_eq!(s.on_node(1, |s| redeem_now(&p, s, 3)), None, "node 2 has not received token 3");
        let c = s.cluster.as_ref().unwrap();
        assert_eq!(c.second.rows[2].status, TokStatus::Unknown);
        assert!(c.outbox[0].is_some() && c.outbox[1].is_some());
        assert!(s.replicate(1), "node 2's entry overwrites node 1's");
        assert_eq!(s.row(3), None, "node 1 lost its own write");
        assert_eq!(s.rows[0].status, TokStatus::Active, "token 1 is active again on node 1");
        assert!(!s.replicate(1), "nothing left to replicate from node 2");
        assert!(s.replicate(0), "node 1's last write is still to be sent");
        assert_eq!(s.cluster.as_ref().unwrap().second.rows.len(), 3, "and it overwrites node 2's");
    }

    #[test]
    fn lifetimes_refuse_and_no_rotation_keeps_the_token() {
        let mut pol = policy(Rotation::None, OnReuse::Reject, Grace::None, Window::default());
        pol.idle = Some(2);
        pol.absolute = Some(6);
        let p = compile(&pol);
        let mut s = signed_in(&p, 1, 1);
        s.now = 2;
        assert_eq!(redeem_now(&p, &mut s, 1), Some(1));
        s.now = 5;
        assert_eq!(redeem_now(&p, &mut s, 1), None, "idle: 5 > 2 + 2");
        s.families[0].last_activity = 5;
        s.now = 6;
        assert_eq!(redeem_now(&p, &mut s, 1), None, "absolute: 6 >= 0 + 6");
    }

    fn protocol(json: &str) -> Protocol {
        let spec: crate::protocol::ProtocolSpec = serde_json::from_str(json).unwrap();
        Protocol::compile(&spec, "protocol").unwrap()
    }

    const SIGN_OUT: &str = r#""sign_out": { "rules": [ { "name": "s", "reply": "signed_out" } ] }"#;

    /// `user.least_recently_used` orders the user's families by their last 2xx redemption
    /// (sign-in tick before any, then sign-in order), `user.oldest` by sign-in only; `revoke
    /// family of PATH` ends every token of the family named, from a refresh and a sign-out
    /// alike, and `revoke session of PATH` every family of its device.
    #[test]
    fn the_least_recently_used_family_is_revoked_whole_from_any_handler() {
        let p = protocol(
            r#"{ "refresh": { "rules": [
                   { "name": "evict the least recently used", "when": "presented == user.most_recently_used and user.active_families >= 3",
                     "do": ["revoke family of user.least_recently_used"], "reply": "ok presented" },
                   { "name": "keep the token, mint another", "when": "presented.status == active", "do": ["mint child"], "reply": "ok minted" } ] },
                 "sign_out": { "rules": [ { "name": "end the oldest device's session", "do": ["revoke session of user.oldest"], "reply": "signed_out" } ] } }"#,
        );
        assert!(p.reads_user);
        // Three devices, one family each (tokens 1, 2, 3), all signed in at tick 0.
        let mut s = signed_in(&p, 3, 1);
        let v = s.user_view();
        assert_eq!((v.oldest, v.least_recent, v.most_recent), (1, 1, 3), "ties: sign-in order");
        // Device 1 refreshes at tick 1 (token 4, token 1 kept): it is now the most recently used.
        s.now = 1;
        assert_eq!(redeem_now(&p, &mut s, 1), Some(4));
        let v = s.user_view();
        assert_eq!((v.oldest, v.least_recent, v.most_recent), (1, 2, 4));
        // Device 1's next refresh evicts device 2's family, not device 1's (the oldest sign-in).
        assert_eq!(redeem_now(&p, &mut s, 4), Some(4));
        assert_eq!(s.rows[1].status, TokStatus::Revoked);
        assert!([0, 2, 3].iter().all(|&i| s.rows[i].status == TokStatus::Active), "{:?}", s.rows);
        // A sign-out (device 3) ends the oldest sign-in's whole family: tokens 1 and 4.
        assert_eq!(sign_out(&p, &mut s, Some(3)), Reply::SignedOut);
        assert_eq!(s.rows[0].status, TokStatus::Revoked);
        assert_eq!(s.rows[3].status, TokStatus::Revoked, "the family's other active token too");
        assert_eq!(s.rows[2].status, TokStatus::Active, "the presenting device's own token is not named");
        assert_eq!(s.user_view().least_recent, 3);
    }

    #[test]
    fn a_transaction_rolled_back_in_a_later_step_undoes_the_claim_and_the_insert_but_not_memory() {
        let p = protocol(&format!(
            r#"{{ "fields": {{ "family": {{ "seen": "count", "claims": "count" }}, "in_memory": ["family.seen"] }},
                 "refresh": {{ "transaction": true, "steps": [
                   {{ "name": "claim", "rules": [ {{ "name": "c", "when": "presented.status == active",
                      "do": ["supersede presented", "mint child", "set family.seen = 1", "set family.claims = 1"], "reply": "continue" }} ] }},
                   {{ "name": "check", "rules": [ {{ "name": "fail", "when": "now >= 1", "rolled_back": true, "reply": "invalid_grant" }},
                                                 {{ "name": "ok", "reply": "ok minted" }} ] }} ] }}, {SIGN_OUT} }}"#
        ));
        let mut s = signed_in(&p, 1, 1);
        s.now = 1;
        let mut h = handler(&s, 1);
        assert_eq!(run_step(&p, 1, &mut s, &mut h), StepOutcome::Continue);
        assert_eq!(s.rows.len(), 2, "the claim and the insert, not committed");
        assert!(!s.undo.is_empty());
        assert_eq!(run_step(&p, 1, &mut s, &mut h), StepOutcome::Answer(Reply::Err(HttpError::InvalidCredentials)));
        assert_eq!(s.rows.len(), 1, "the inserted row is gone");
        assert_eq!(s.rows[0].status, TokStatus::Active, "the claim is undone");
        assert_eq!(s.rows[0].child, None);
        // Declared fields in name order: claims, seen.
        assert_eq!(s.families[0].fields[..2], [0, 1], "the store field is rolled back, the in-memory one survives");
        assert!(s.undo.is_empty());
        // Committed when the transaction answers 2xx.
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        assert!(s.undo.is_empty() && s.rows[0].status != TokStatus::Active);
    }

    /// A followed token (`family.current.used`) is read from the view its step reads: a
    /// `reads: snapshot` step sees the followed row as the earlier read captured it, not a
    /// write made in between; a `reads: current` step sees the write; a base that is `none`
    /// reads `none` in every column.
    #[test]
    fn a_followed_token_is_read_as_the_read_saw_it() {
        let spec = |reads: &str| {
            format!(
                r#"{{ "fields": {{ "family": {{ "current": "token" }} }},
                 "sign_in": {{ "rules": [ {{ "name": "row", "when": "family.current.status == none and not family.current.used",
                                          "do": ["set family.current = presented"], "reply": "signed_in" }} ] }},
                 "refresh": {{ "steps": [
                   {{ "name": "read", "rules": [ {{ "name": "r", "when": "presented == family.current", "reply": "continue" }},
                                                {{ "name": "x", "reply": "invalid_grant" }} ] }},
                   {{ "name": "write", "reads": "{reads}", "rules": [
                      {{ "name": "unused", "when": "presented == family.current and not family.current.used and family.current.status == active",
                         "do": ["supersede presented", "mint child", "set family.current = minted"], "reply": "ok minted" }},
                      {{ "name": "used", "reply": "invalid_grant" }} ] }} ] }}, {SIGN_OUT} }}"#
            )
        };
        let p = protocol(&spec("snapshot"));
        assert_eq!(p.follows, [crate::protocol::expr::Path::from(Var::FamilyField(0))]);
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(s.read_following(1, &p.follows, &Fields::default(), None).follow[0], None, "`none` follows no row");
        sign_ins(&p, &mut s);
        assert_eq!(s.families[0].fields[0], 1, "the sign-in rule read `family.current` as none");
        let (mut a, mut b) = (handler(&s, 1), handler(&s, 1));
        assert_eq!(run_step(&p, 1, &mut s, &mut a), StepOutcome::Continue);
        assert_eq!(a.view.follow[0].map(|r| (r.used, r.status)), Some((false, TokStatus::Active)));
        assert_eq!(run_step(&p, 1, &mut s, &mut b), StepOutcome::Continue);
        assert!(matches!(run_step(&p, 1, &mut s, &mut b), StepOutcome::Answer(Reply::Ok { token: Some(2), .. })));
        assert!(s.rows[0].used && s.families[0].fields[0] == 2, "b used token 1 and made 2 current");
        // a's write decides on its snapshot: token 1 current and unused.
        assert!(matches!(run_step(&p, 1, &mut s, &mut a), StepOutcome::Answer(Reply::Ok { token: Some(3), .. })));
        assert_eq!(s.families[0].fields[0], 3, "a lost update: 3 overwrites 2");

        // Reading the store again, a's write sees token 2 current: refused.
        let p = protocol(&spec("current"));
        let mut s = signed_in(&p, 1, 1);
        sign_ins(&p, &mut s);
        let (mut a, mut b) = (handler(&s, 1), handler(&s, 1));
        run_step(&p, 1, &mut s, &mut a);
        run_step(&p, 1, &mut s, &mut b);
        run_step(&p, 1, &mut s, &mut b);
        assert_eq!(run_step(&p, 1, &mut s, &mut a), StepOutcome::Answer(Reply::Err(HttpError::InvalidCredentials)));
        assert_eq!(a.view.follow[0].map(|r| (r.used, r.gen)), Some((false, 1)), "the row of token 2, as read");
    }

    /// A `request.F` path is followed in a `reads: current` step with the field's value at that
    /// step (set by an earlier step) and the row as the store has it then; `presented.child`
    /// is followed for the columns it has no name of its own for.
    #[test]
    fn a_request_field_is_followed_with_its_value_at_the_step() {
        let p = protocol(&format!(
            r#"{{ "fields": {{ "request": {{ "leader": "token" }} }},
                 "refresh": {{ "steps": [
                   {{ "name": "rotate", "rules": [ {{ "name": "a", "when": "presented.status == active and request.leader.status == none",
                      "do": ["supersede presented", "mint child", "set request.leader = minted"], "reply": "continue" }} ] }},
                   {{ "name": "answer", "rules": [
                      {{ "name": "live", "when": "request.leader.status == active and request.leader.parent == presented and presented.child.generation == 1",
                         "reply": "ok request.leader" }},
                      {{ "name": "gone", "reply": "server_error" }} ] }} ] }}, {SIGN_OUT} }}"#
        ));
        assert_eq!(p.follows, [Var::RequestField(0), Var::Child].map(crate::protocol::expr::Path::from));
        let mut s = signed_in(&p, 1, 1);
        let mut h = handler(&s, 1);
        assert_eq!(run_step(&p, 1, &mut s, &mut h), StepOutcome::Continue, "request.leader is none on arrival");
        assert_eq!(h.vars[0], 2);
        let mut revoked = s.clone();
        let mut h2 = h;
        assert!(matches!(run_step(&p, 1, &mut s, &mut h), StepOutcome::Answer(Reply::Ok { token: Some(2), .. })));
        assert_eq!(h.view.follow[0].map(|r| (r.parent, r.gen)), Some((Some(1), 1)));
        // Token 2 revoked between the steps: the second step reads it so.
        revoked.rows[1].status = TokStatus::Revoked;
        assert_eq!(run_step(&p, 1, &mut revoked, &mut h2), StepOutcome::Answer(Reply::Err(HttpError::Internal)));
        assert_eq!(h2.view.follow[0].map(|r| r.status), Some(TokStatus::Revoked));
    }

    /// Effects through a token-valued path and chains: `revoke presented.parent` revokes the
    /// token the read named as the parent (WSO2's first use of a new token closing its parent's
    /// grace window), `set presented.parent.F` writes that row, `supersede presented.child`
    /// supersedes the child by the status its read saw, `presented.parent.parent.status` reads
    /// the grandparent's row as the step read it, and `minted.F` reads the row of the token an
    /// earlier step minted as this step's read saw it (0 in the rule that mints it).
    #[test]
    fn effects_through_paths_write_the_token_the_read_named() {
        let p = protocol(&format!(
            r#"{{ "fields": {{ "token": {{ "mark": "count" }} }},
                 "refresh": {{ "steps": [
                   {{ "name": "rotate", "rules": [
                      {{ "name": "grandparent revoked", "when": "presented.parent.parent.status == revoked", "reply": "server_error" }},
                      {{ "name": "active", "when": "presented.status == active",
                         "do": ["revoke presented.parent", "set presented.parent.mark = 7", "supersede presented", "mint child",
                                "set minted.mark = minted.mark + 1"], "reply": "continue" }},
                      {{ "name": "replay", "when": "presented.status == superseded",
                         "do": ["supersede presented.child", "supersede presented"], "reply": "ok presented.child" }} ] }},
                   {{ "name": "answer", "rules": [ {{ "name": "a", "when": "minted.mark == 1 and minted.status == active", "reply": "ok minted" }},
                                                 {{ "name": "b", "reply": "server_error" }} ] }} ] }}, {SIGN_OUT} }}"#
        ));
        use crate::protocol::expr::{Column, Path};
        assert_eq!(
            p.follows,
            [
                Path { root: Var::Parent, links: [Some(Column::Parent), None] },
                Path::from(Var::Minted),
                Path::from(Var::Child)
            ]
        );
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2), "no parent: nothing revoked, minted.mark read 0 in its rule");
        assert_eq!(s.rows[1].fields[0], 1, "set minted.mark = 0 + 1");
        assert!(matches!(s.rows[0].status, TokStatus::Superseded { .. }));
        assert_eq!(redeem_now(&p, &mut s, 2), Some(3));
        assert_eq!(s.rows[0].status, TokStatus::Revoked, "revoke presented.parent");
        assert_eq!(s.rows[0].fields[0], 7, "set presented.parent.mark");
        // Token 3's grandparent (1) is revoked: the chain is read.
        assert_eq!(redeem_now(&p, &mut s, 3), None, "server_error");
        // supersede presented.child: 2 is superseded already (read so): one more grace use.
        let before = s.rows[2].status;
        s.now = 1;
        let mut h = handler(&s, 2);
        assert!(matches!(run_step(&p, 1, &mut s, &mut h), StepOutcome::Answer(Reply::Ok { token: Some(3), .. })));
        assert!(matches!(before, TokStatus::Active));
        assert_eq!(s.rows[2].status, TokStatus::Superseded { at: 1, uses: 0 }, "3 was read active: superseded now");
        assert!(
            matches!(s.rows[1].status, TokStatus::Superseded { uses: 1, .. }),
            "2 was read superseded: a grace use"
        );
    }

    /// Declared per-token fields: `set minted.F` writes the new row, `set presented.F` the
    /// presented one, `presented.child.F` reads the child's as the step read it, a rolled-back
    /// transaction restores the store's token fields but not the `in_memory` ones, and a
    /// sign-in rule's write to its own token is kept.
    #[test]
    fn token_fields_are_columns_of_the_row_rolled_back_unless_in_memory() {
        let p = protocol(&format!(
            r#"{{ "fields": {{ "token": {{ "claims": "count", "seen": "count", "via": "token" }}, "in_memory": ["token.seen"] }},
                 "sign_in": {{ "rules": [ {{ "name": "row", "do": ["set presented.claims = 1"], "reply": "signed_in" }} ] }},
                 "refresh": {{ "transaction": true, "steps": [
                   {{ "name": "claim", "rules": [ {{ "name": "c", "when": "presented.status == active",
                      "do": ["supersede presented", "mint child", "set minted.via = presented",
                             "set presented.seen = presented.seen + 1", "set presented.claims = presented.claims + 1"], "reply": "continue" }} ] }},
                   {{ "name": "check", "rules": [ {{ "name": "fail", "when": "now >= 1", "rolled_back": true, "reply": "invalid_grant" }},
                                                 {{ "name": "ok", "when": "presented.child.via == presented", "reply": "ok minted" }} ] }} ] }}, {SIGN_OUT} }}"#
        ));
        assert_eq!(p.memory_token, [1]);
        let mut s = signed_in(&p, 1, 1);
        sign_ins(&p, &mut s);
        // Fields in name order: claims, seen, via.
        assert_eq!(s.rows[0].fields[..3], [1, 0, 0], "the sign-in rule's write to its own token is kept");
        s.now = 1;
        let mut h = handler(&s, 1);
        assert_eq!(run_step(&p, 1, &mut s, &mut h), StepOutcome::Continue);
        assert_eq!((&s.rows[0].fields[..3], &s.rows[1].fields[..3]), (&[2, 1, 0][..], &[0, 0, 1][..]));
        assert_eq!(run_step(&p, 1, &mut s, &mut h), StepOutcome::Answer(Reply::Err(HttpError::InvalidCredentials)));
        assert_eq!(s.rows.len(), 1, "the inserted row is gone");
        assert_eq!(s.rows[0].fields[..3], [1, 1, 0], "the store's field is rolled back, the in-memory one survives");
        // Committed: the second step reads the child's field as the claim wrote it.
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        assert_eq!((&s.rows[0].fields[..3], &s.rows[1].fields[..3]), (&[1, 1, 0][..], &[0, 0, 1][..]));
    }

    /// `revoke family.F` revokes the token the field named when the step read it (a row that
    /// keeps the current and the previous token retires the previous one at each rotation),
    /// and nothing while the field is `none`.
    #[test]
    fn revoke_a_token_field_revokes_the_token_it_named_before_the_rule() {
        let p = protocol(&format!(
            r#"{{ "fields": {{ "family": {{ "current": "token", "previous": "token" }} }},
                 "sign_in": {{ "rules": [ {{ "name": "row", "do": ["set family.current = presented"], "reply": "signed_in" }} ] }},
                 "refresh": {{ "rules": [
                   {{ "name": "rotate", "when": "presented == family.current",
                      "do": ["revoke family.previous", "supersede presented", "mint child",
                             "set family.previous = presented", "set family.current = minted"], "reply": "ok minted" }},
                   {{ "name": "previous: the current one", "when": "presented == family.previous", "reply": "ok family.current" }} ] }},
                 {SIGN_OUT} }}"#
        ));
        let mut s = signed_in(&p, 1, 1);
        sign_ins(&p, &mut s);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2), "previous is none: nothing revoked");
        assert!(matches!(s.rows[0].status, TokStatus::Superseded { .. }));
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2), "the previous token is answered the current one");
        assert_eq!(redeem_now(&p, &mut s, 2), Some(3));
        assert_eq!(s.rows[0].status, TokStatus::Revoked, "token 1 was the previous one when 2 rotated");
        assert!(matches!(s.rows[1].status, TokStatus::Superseded { .. }), "token 2 is the previous one now");
        assert_eq!(s.families[0].fields[..2], [3, 2], "current, previous (declared in name order)");
    }

    #[test]
    fn request_fields_carry_a_value_from_one_step_to_the_next() {
        let p = protocol(&format!(
            r#"{{ "fields": {{ "session": {{ "up": "count" }}, "request": {{ "read": "count" }} }},
                 "refresh": {{ "steps": [
                   {{ "name": "read", "rules": [ {{ "name": "r", "do": ["set request.read = session.up"], "reply": "continue" }} ] }},
                   {{ "name": "call", "rules": [
                      {{ "name": "accepted", "when": "request.read == session.up", "do": ["set session.up = session.up + 1"], "reply": "ok presented" }},
                      {{ "name": "refused", "reply": "server_error" }} ] }} ] }}, {SIGN_OUT} }}"#
        ));
        let mut s = signed_in(&p, 1, 1);
        let (mut a, mut b) = (handler(&s, 1), handler(&s, 1));
        b.slot = 1;
        run_step(&p, 1, &mut s, &mut a);
        run_step(&p, 1, &mut s, &mut b);
        assert_eq!(a.vars[0], 0);
        assert!(matches!(run_step(&p, 1, &mut s, &mut a), StepOutcome::Answer(Reply::Ok { token: Some(1), .. })));
        assert_eq!(s.sessions[0][0], 1);
        assert_eq!(
            run_step(&p, 1, &mut s, &mut b),
            StepOutcome::Answer(Reply::Err(HttpError::Internal)),
            "read 0, now 1"
        );
    }

    /// A step whose `waits_until` does not hold changes nothing and leaves the request at that
    /// step; once another request's write makes it hold, the step runs and answers what that
    /// write left (the joiner of a coalesced rotation answered with the leader's token).
    #[test]
    fn a_waiting_step_is_blocked_until_its_condition_holds_then_runs() {
        let p = protocol(&format!(
            r#"{{ "fields": {{ "family": {{ "inflight": "token" }} }},
                 "refresh": {{ "steps": [
                   {{ "name": "lookup", "rules": [
                      {{ "name": "join", "when": "family.inflight == presented", "reply": "continue", "next": "wait" }},
                      {{ "name": "lead", "do": ["set family.inflight = presented"], "reply": "continue" }} ] }},
                   {{ "name": "rotate", "rules": [ {{ "name": "r", "when": "presented.status == active",
                      "do": ["supersede presented", "mint child", "set family.inflight = none"], "reply": "ok minted" }} ] }},
                   {{ "name": "wait", "waits_until": "family.inflight != presented", "rules": [
                      {{ "name": "shared", "when": "presented.child != none", "reply": "ok presented.child" }},
                      {{ "name": "failed", "reply": "invalid_grant" }} ] }} ] }}, {SIGN_OUT} }}"#
        ));
        let mut s = signed_in(&p, 1, 1);
        let (mut leader, mut joiner) = (handler(&s, 1), handler(&s, 1));
        joiner.slot = 1;
        assert_eq!(run_step(&p, 1, &mut s, &mut leader), StepOutcome::Continue);
        assert_eq!(run_step(&p, 1, &mut s, &mut joiner), StepOutcome::Continue, "joins");
        assert_eq!(joiner.step, 2);
        let (before, waiting) = (s.clone(), joiner);
        assert!(!wait_over(&p, &s, &joiner));
        assert_eq!(run_step(&p, 1, &mut s, &mut joiner), StepOutcome::Blocked);
        assert_eq!(s, before, "nothing written");
        assert_eq!(joiner, waiting, "the request still at its step");
        let rotated = run_step(&p, 1, &mut s, &mut leader);
        assert!(matches!(rotated, StepOutcome::Answer(Reply::Ok { token: Some(2), .. })), "{rotated:?}");
        assert!(wait_over(&p, &s, &joiner));
        let shared = run_step(&p, 1, &mut s, &mut joiner);
        assert!(
            matches!(shared, StepOutcome::Answer(Reply::Ok { token: Some(2), .. })),
            "the leader's token: {shared:?}"
        );
        assert_eq!(s.rows.len(), 2, "one rotation");
    }

    #[test]
    fn sign_ins_run_in_order_and_revoke_client_spares_the_new_family_and_other_clients() {
        let json = |clients: &str| {
            format!(
                r#"{{ "clients": "{clients}", "sign_in": {{ "rules": [ {{ "name": "replace", "do": ["revoke client"], "reply": "signed_in" }} ] }},
                     "refresh": {{ "rules": [ {{ "name": "r", "reply": "ok presented" }} ] }}, {SIGN_OUT} }}"#
            )
        };
        let p = protocol(&json("one"));
        let mut s = signed_in(&p, 3, 1);
        sign_ins(&p, &mut s);
        let rows: Vec<_> = s.rows.iter().map(|r| r.status).collect();
        assert_eq!(
            rows,
            [TokStatus::Revoked, TokStatus::Revoked, TokStatus::Active],
            "the last sign-in keeps the slot"
        );
        let p = protocol(&json("per-device"));
        let mut s = signed_in(&p, 3, 1);
        s.clients_per_device();
        sign_ins(&p, &mut s);
        assert!(s.rows.iter().all(|r| r.status == TokStatus::Active), "one slot per client");
        assert!(s.families.iter().all(|f| f.session == 0), "one user session");
        assert_eq!(s.families.iter().map(|f| f.client).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn a_rolled_back_detection_marks_the_ghost_and_revokes_nothing() {
        let p = compile(&policy(Rotation::Rotate, OnReuse::RevokeFamilyRolledBack, Grace::None, Window::default()));
        let mut s = signed_in(&p, 1, 1);
        assert_eq!(redeem_now(&p, &mut s, 1), Some(2));
        assert_eq!(redeem_now(&p, &mut s, 1), None);
        assert_eq!(s.as_ghost.detected, 1, "detection fired");
        assert_eq!(s.rows[1].status, TokStatus::Active, "the revocation was rolled back");
    }
}

/// What the authorization server decides in one action of a refresh (see [`decision_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// Step `step` of the refresh handler ran and rule `rule` (an index into that step's rules)
    /// held.
    Rule {
        /// Index into the handler's steps.
        step: usize,
        /// Index into the step's rules.
        rule: usize,
    },
    /// Step `step` ran and no rule held: answered 401 (`no_row`: the store has no row for the
    /// token).
    NoRule {
        /// Index into the handler's steps.
        step: usize,
        /// The store knows no such token.
        no_row: bool,
    },
    /// The refresh arrived while its family's refresh lock is held: it waits, nothing decided.
    LockWaits,
    /// The refresh arrived at a first step whose `waits_until` does not hold: it is received
    /// and waits at step `step`, nothing decided.
    Waits {
        /// Index into the handler's steps.
        step: usize,
    },
}

/// The sign-in handler's decision that `action`, taken in state `before`, makes for a sign-in
/// during the run (its arrival, or its next step): the step and the rule that holds (`None`
/// for the rule when none holds), with the handler's steps; `None` for any other action.
pub fn sign_in_decision<'m>(
    m: &'m super::RefreshModel,
    before: &super::State,
    action: &super::Action,
) -> Option<(&'m crate::protocol::Handler, usize, Option<usize>)> {
    use stateright::actor::ActorModelAction;
    let (Some(super::Node::AuthServer { protocol, .. }), Some(auth)) =
        (m.actors.get(m.cfg.server), super::auth_server_at(before, m.cfg.server))
    else {
        return None;
    };
    let h = match action {
        ActorModelAction::Deliver { src, msg: super::Msg::SignInRequest { tab }, .. } => {
            let client = super::ClientKey { browser: usize::from(*src) as u8, tab: *tab };
            let mut h = AsHandler::signing_in(auth, client, auth.next_reserved(client.browser)?);
            h.vars = sender_fields(protocol, auth, client);
            h
        }
        ActorModelAction::Timeout(_, super::Timer::ServerStep { client, slot }) => {
            *auth.handlers.iter().find(|h| (h.client, h.slot) == (*client, *slot) && h.sign_in)?
        }
        _ => return None,
    };
    let handler = sign_in_handler(protocol, auth, h.token)?;
    let step = handler.steps.get(h.step as usize)?;
    let view =
        if step.reads == Reads::Current { view_of(protocol, auth, h.token, &h.vars, h.minted, true) } else { h.view };
    let rule = decide_after(&step.rules, &view, (h.token, h.minted, &h.vars), auth.now)
        .and_then(|r| step.rules.iter().position(|x| std::ptr::eq(x, r)));
    Some((handler, h.step as usize, rule))
}

/// The protocol decision that `action`, taken in state `before`, makes on an authorization
/// server model: the first step of a refresh arriving (at a single node; with two nodes the
/// request waits to be routed), or the next step of a waiting refresh. `None` for any other
/// action, and for models without a protocol.
pub fn decision_of(m: &super::RefreshModel, before: &super::State, action: &super::Action) -> Option<Decision> {
    use stateright::actor::ActorModelAction;
    let (Some(super::Node::AuthServer { protocol, .. }), Some(auth)) =
        (m.actors.get(m.cfg.server), super::auth_server_at(before, m.cfg.server))
    else {
        return None;
    };
    let decide = |step: usize, view: &ReadView, t: Token, minted: Option<Token>, vars: &Fields| {
        let rules = &protocol.refresh.steps.get(step)?.rules;
        Some(match decide_after(rules, view, (t, minted, vars), auth.now) {
            Some(r) => Decision::Rule { step, rule: rules.iter().position(|x| std::ptr::eq(x, r)).unwrap_or(0) },
            None => Decision::NoRule { step, no_row: view.row.is_none() },
        })
    };
    match action {
        ActorModelAction::Deliver { src, msg: super::Msg::RefreshRequest { tab, cred, access, .. }, .. } => {
            let t = cred.presented()?;
            if auth.cluster.is_some() {
                return None;
            }
            if lock_instance(protocol, auth, t).is_none() {
                return Some(Decision::LockWaits);
            }
            let client = super::ClientKey { browser: usize::from(*src) as u8, tab: *tab };
            let vars = sender_fields(protocol, auth, client);
            let mut arriving =
                super::oauth::AsHandler::arriving(auth, client, 0, t, false).presenting_access(auth, *access);
            arriving.vars = vars;
            if !wait_over(protocol, auth, &arriving) {
                return Some(Decision::Waits { step: 0 });
            }
            let mut view = auth.read_following(t, &protocol.follows, &vars, None);
            if protocol.refresh_presents == Presents::Both {
                view.access = arriving.view.access;
            }
            decide(0, &view, t, None, &vars)
        }
        ActorModelAction::Timeout(_, super::Timer::ServerStep { client, slot }) => {
            let h = auth.handlers.iter().find(|h| (h.client, h.slot) == (*client, *slot))?;
            if h.sign_in {
                return None; // a sign-in's step: [`sign_in_decision`]
            }
            let step = protocol.refresh.steps.get(h.step as usize)?;
            if !wait_over(protocol, auth, h) {
                return Some(Decision::Waits { step: h.step as usize });
            }
            let view = if step.reads == Reads::Current {
                let mut view = auth.read_following(h.token, &protocol.follows, &h.vars, h.minted);
                if protocol.refresh_presents == Presents::Both {
                    view.access = h.access.and_then(|a| auth.access_row(a).map(|r| (a, r)));
                }
                view
            } else {
                h.view
            };
            decide(h.step as usize, &view, h.token, h.minted, &h.vars)
        }
        _ => None,
    }
}
