//! The authorization server as an actor ([`super::Node::AuthServer`]): how its messages and
//! timers drive the step functions of [`super::oauth`], the routing and replication of two
//! nodes (C09), and the ghost bookkeeping of the theft and retry properties. The protocol's
//! decisions are its rules, interpreted by [`super::interpret`].

use std::borrow::Cow;

use stateright::actor::{model_timeout, Id, Out};

use crate::protocol::{Protocol, Routing};

use super::{interpret, oauth, ClientKey, HttpError, Msg, Node, NodeState, Reply, Tick, Timer, Token, ATTACKER};

/// The authorization server's message handler. A refresh runs its handler's first step when
/// it arrives; a step that continues sets [`Timer::ServerStep`], and the next step is a later
/// action. A sign-out is one action. An ordinary request checks the access token's `exp` only
/// (a self-contained JWT).
pub(super) fn on_msg(
    protocol: &Protocol,
    access_ttl: Tick,
    state: &mut Cow<NodeState>,
    src: Id,
    msg: Msg,
    o: &mut Out<Node>,
) {
    let NodeState::AuthServer(s) = state.as_ref() else { return };
    let mut s = s.clone();
    let routed = match msg {
        Msg::RefreshRequest { tab, cred, retry, .. } => Some((tab, cred, retry)),
        Msg::LogoutRequest { tab, cred, .. } => Some((tab, cred, false)),
        _ => None,
    };
    if let (Some(c), Some((tab, cred, retry))) = (s.cluster.as_mut(), routed) {
        // Two nodes: the request waits for the load balancer to route it (C09).
        let client = ClientKey { browser: usize::from(src) as u8, tab };
        let endpoint = match msg {
            Msg::RefreshRequest { .. } => oauth::AsEndpoint::Refresh,
            _ => oauth::AsEndpoint::Revoke,
        };
        // A retry while an earlier attempt of the tab still waits is a request of its own.
        let slot = (0..).find(|&n| !c.pending.iter().any(|p| (p.client, p.slot) == (client, n))).unwrap_or(0);
        let token = cred.presented();
        if endpoint == oauth::AsEndpoint::Refresh && token.is_none() {
            o.send(src, Msg::RefreshResponse { tab, reply: Reply::Err(HttpError::InvalidPayload) });
            return;
        }
        let at = c.pending.partition_point(|p| (p.client, p.slot) < (client, slot));
        c.pending.insert(at, oauth::AsPending { client, slot, endpoint, token, retry });
        arm_cluster_timers(protocol, &s, o);
        *state = Cow::Owned(NodeState::AuthServer(s));
        return;
    }
    let (client, answer) = match msg {
        Msg::RefreshRequest { tab, cred, retry, access } => {
            let client = ClientKey { browser: usize::from(src) as u8, tab };
            // A retry while an earlier attempt of the tab is still served is a request of its own.
            let slot = (0..).find(|&n| !s.handlers.iter().any(|h| (h.client, h.slot) == (client, n))).unwrap_or(0);
            let Some(token) = cred.presented() else {
                o.send(src, Msg::RefreshResponse { tab, reply: Reply::Err(HttpError::InvalidPayload) });
                return;
            };
            let mut h = oauth::AsHandler::arriving(&s, client, slot, token, retry).presenting_access(&s, access);
            h.vars = interpret::sender_fields(protocol, &s, client);
            let Some(instance) = interpret::lock_instance(protocol, &s, token) else {
                return; // the family's refresh lock is held: a no-op, delivered later
            };
            h.instance = instance;
            match serve_step(protocol, access_ttl, &mut s, h) {
                Some(reply) => (client, Msg::RefreshResponse { tab, reply }),
                None => {
                    o.set_timer(Timer::ServerStep { client, slot }, model_timeout());
                    *state = Cow::Owned(NodeState::AuthServer(s));
                    return;
                }
            }
        }
        Msg::SignInRequest { tab } => {
            // A sign-in during the run (a first one, `browser.sign_ins`, or one again,
            // `browser.re_sign_ins`): its family's first token was reserved at the start.
            let client = ClientKey { browser: usize::from(src) as u8, tab };
            let Some(token) = s.next_reserved(client.browser) else { return };
            if s.handlers.iter().any(|h| h.client == client && h.sign_in) {
                return; // a redelivery while it is served: a no-op
            }
            if interpret::sign_in_handler(protocol, &s, token).is_none() {
                // No sign-in handler: the sign-in inserts its token and leaves the others alone.
                let reply = interpret::answer_sign_in(protocol, &mut s, token, access_ttl);
                (client, Msg::SignInResponse { tab, reply })
            } else {
                let mut h = oauth::AsHandler::signing_in(&s, client, token);
                h.vars = interpret::sender_fields(protocol, &s, client);
                match serve_step(protocol, access_ttl, &mut s, h) {
                    Some(reply) => (client, Msg::SignInResponse { tab, reply }),
                    None => {
                        o.set_timer(Timer::ServerStep { client, slot: 0 }, model_timeout());
                        *state = Cow::Owned(NodeState::AuthServer(s));
                        return;
                    }
                }
            }
        }
        Msg::LogoutRequest { tab, cred, access } => {
            let (reply, kept) = interpret::sign_out_keeping(protocol, &mut s, cred.presented(), access);
            s.as_ghost.record_sign_out(usize::from(src), kept);
            (ClientKey { browser: usize::from(src) as u8, tab }, Msg::LogoutResponse { tab, reply })
        }
        Msg::FollowUpRequest { tab, token } => {
            let reply = interpret::follow_up_presenting(protocol, &mut s, token);
            (ClientKey { browser: usize::from(src) as u8, tab }, Msg::FollowUpResponse { tab, reply })
        }
        Msg::UsersMeRequest { tab, cred } => {
            let reply = match cred.access {
                Some(exp) if exp >= s.now => {
                    Reply::Ok { set_cookie: None, token: None, expires_at: None, access: None }
                }
                Some(_) => Reply::Err(HttpError::TokenExpired),
                None => Reply::Err(HttpError::InvalidCredentials),
            };
            o.send(src, Msg::UsersMeResponse { tab, reply });
            return;
        }
        Msg::CallRequest { tab, access } => {
            let reply = interpret::serve_call(protocol, &mut s, access);
            (ClientKey { browser: usize::from(src) as u8, tab }, Msg::CallResponse { tab, reply })
        }
        _ => return,
    };
    o.send(Id::from(client.browser as usize), answer);
    *state = Cow::Owned(NodeState::AuthServer(s));
}

/// Runs the next step of refresh `h`: its answer (with the theft and retry ghosts recorded),
/// or `None` when it goes on to another step or is blocked at a step whose `waits_until`
/// does not hold (then it waits in [`oauth::AsState::handlers`]
/// and the caller sets [`Timer::ServerStep`] to run that step as a later action).
fn serve_step(protocol: &Protocol, access_ttl: Tick, s: &mut oauth::AsState, mut h: oauth::AsHandler) -> Option<Reply> {
    match interpret::run_step(protocol, access_ttl, s, &mut h) {
        interpret::StepOutcome::Answer(reply) if h.sign_in => Some(reply),
        interpret::StepOutcome::Answer(reply) => {
            record_theft(s, &h, &reply);
            record_retry(s, &h, &reply);
            record_after_user_sign_out(s, &h, &reply);
            record_after_password_change(s, &h, &reply);
            record_cross_client(protocol, s, &h, &reply);
            Some(reply)
        }
        interpret::StepOutcome::Continue | interpret::StepOutcome::Blocked => {
            let at = s.handlers.partition_point(|x| (x.client, x.slot) < (h.client, h.slot));
            s.handlers.insert(at, h);
            None
        }
    }
}

/// A refresh of `token` for `client` (`retry`: a retry of an unanswered attempt, ghost) served
/// in one action on the state's table (two nodes: a handler of one step).
fn redeem_now(
    protocol: &Protocol,
    access_ttl: Tick,
    s: &mut oauth::AsState,
    client: ClientKey,
    token: Token,
    retry: bool,
) -> Reply {
    let mut h = oauth::AsHandler::arriving(s, client, 0, token, retry);
    h.vars = interpret::sender_fields(protocol, s, client);
    serve_step(protocol, access_ttl, s, h).unwrap_or(Reply::Err(HttpError::Internal))
}

/// [`Timer::ServerStep`]: the next step of the refresh `(client, slot)` waiting between two
/// steps; no action while that step's `waits_until` does not hold.
pub(super) fn on_server_step(
    protocol: &Protocol,
    access_ttl: Tick,
    state: &mut Cow<NodeState>,
    client: ClientKey,
    slot: u8,
    o: &mut Out<Node>,
) {
    let NodeState::AuthServer(s) = state.as_ref() else { return };
    let Some(i) = s.handlers.iter().position(|h| (h.client, h.slot) == (client, slot)) else { return };
    if !interpret::wait_over(protocol, s, &s.handlers[i]) {
        // Blocked at a step whose `waits_until` does not hold: the timer set again and nothing
        // else, which is no action (the step is enabled once another action makes the
        // condition hold).
        o.set_timer(Timer::ServerStep { client, slot }, model_timeout());
        return;
    }
    let mut s = s.clone();
    let h = s.handlers.remove(i);
    let sign_in = h.sign_in;
    match serve_step(protocol, access_ttl, &mut s, h) {
        Some(reply) if sign_in => {
            o.send(Id::from(client.browser as usize), Msg::SignInResponse { tab: client.tab, reply });
        }
        Some(reply) => {
            o.send(Id::from(client.browser as usize), Msg::RefreshResponse { tab: client.tab, reply });
        }
        None => o.set_timer(Timer::ServerStep { client, slot }, model_timeout()),
    }
    *state = Cow::Owned(NodeState::AuthServer(s));
}

/// [`Timer::ServerRestarts`]: the process restarts. The protocol's in-memory fields are reset
/// to 0, the token store and the other fields are kept, and every request in progress between
/// two steps is lost: its client gets a failed request (500, the connection dropped).
pub(super) fn on_restart(protocol: &Protocol, state: &mut Cow<NodeState>, o: &mut Out<Node>) {
    let NodeState::AuthServer(s) = state.as_ref() else { return };
    let mut s = s.clone();
    if s.restarts_left == 0 {
        return;
    }
    s.restarts_left -= 1;
    for f in s.families.iter_mut() {
        for &i in &protocol.memory_family {
            f.fields[i as usize] = 0;
        }
    }
    for e in s.sessions.iter_mut() {
        for &i in &protocol.memory_session {
            e[i as usize] = 0;
        }
    }
    for r in s.rows.iter_mut() {
        for &i in &protocol.memory_token {
            r.fields[i as usize] = 0;
        }
    }
    for h in std::mem::take(&mut s.handlers) {
        // The database rolls back the transaction the lost request left open.
        interpret::roll_back_if_open(protocol, &mut s, &h);
        o.cancel_timer(Timer::ServerStep { client: h.client, slot: h.slot });
        let reply = Reply::Err(HttpError::Internal);
        o.send(Id::from(h.client.browser as usize), Msg::RefreshResponse { tab: h.client.tab, reply });
    }
    if s.restarts_left > 0 {
        o.set_timer(Timer::ServerRestarts, model_timeout());
    }
    *state = Cow::Owned(NodeState::AuthServer(s));
}

/// Two nodes (C09): every pending request may be routed to either node (or, with sticky
/// routing, to its tab's node), and a node with an unreplicated write may replicate it.
fn arm_cluster_timers(protocol: &Protocol, s: &oauth::AsState, o: &mut Out<Node>) {
    let Some(c) = &s.cluster else { return };
    for p in &c.pending {
        for node in c.nodes_for(protocol.routing, p.client) {
            o.set_timer(Timer::NodeServes { client: p.client, slot: p.slot, node }, model_timeout());
        }
    }
    for from in 0..2u8 {
        if c.outbox[from as usize].is_some() {
            o.set_timer(Timer::NodeReplicates(from), model_timeout());
        } else {
            o.cancel_timer(Timer::NodeReplicates(from));
        }
    }
}

/// Ghost, authorization server: the attacker's first success sets the theft mark (the next
/// token number) and every success records the token it obtained and its family; a tab's later
/// success with a token of such a family issued before the mark is shared use
/// (`theft_detected`), and a tab's refusal for such a token while a token the attacker
/// obtained is still unrevoked locks the user out and leaves the attacker in
/// (`sp4_theft_contained`). Other families (other devices, other tabs' logins) are not judged.
fn record_theft(s: &mut oauth::AsState, h: &oauth::AsHandler, reply: &Reply) {
    let family = h.view.row.map(|r| r.family);
    let robbed = family.is_some_and(|f| s.as_ghost.stolen_families & (1 << f) != 0);
    let pre_theft = h.client.tab != ATTACKER && robbed && h.theft_mark.is_some_and(|mark| h.token < mark);
    match reply {
        Reply::Ok { token, .. } if h.client.tab == ATTACKER => {
            let next = s.next_token();
            s.ghost.theft_mark.get_or_insert(next);
            if let Some(f) = family {
                s.as_ghost.stolen_families |= 1 << f;
            }
            if let Some(t) = *token {
                if let Err(at) = s.as_ghost.stolen.binary_search(&t) {
                    s.as_ghost.stolen.insert(at, t);
                }
            }
        }
        Reply::Ok { .. } if pre_theft => s.ghost.theft_shared = s.ghost.theft_shared.saturating_add(1),
        Reply::Err(_) if pre_theft => {
            let live =
                s.as_ghost.stolen.iter().any(|&t| {
                    s.row(t).is_some_and(|r| Some(r.family) == family && r.status != oauth::TokStatus::Revoked)
                });
            if live {
                s.as_ghost.uncontained = s.as_ghost.uncontained.saturating_add(1);
            }
        }
        _ => {}
    }
}

/// Ghost, authorization server (LP2, FAPI 2.0's condition on rotation): a retry presenting
/// the token of an earlier attempt whose answer was lost must be answered 2xx with the current
/// lineage: a token of the same family that is active once the answer is written (not the
/// superseded token presented, as django-oauth-toolkit's grace path returned before PR 703);
/// any other answer to it is counted.
fn record_retry(s: &mut oauth::AsState, h: &oauth::AsHandler, reply: &Reply) {
    if !h.retry {
        return;
    }
    let family = h.view.row.map(|r| r.family);
    let same = match reply {
        Reply::Ok { token: Some(t), .. } => {
            s.row(*t).is_some_and(|r| Some(r.family) == family && r.status == oauth::TokStatus::Active)
        }
        _ => false,
    };
    if !same {
        s.as_ghost.refused_retries = s.as_ghost.refused_retries.saturating_add(1);
    }
}

/// Sign-out completeness for the user: a refresh that arrived after its user's sign-out was
/// answered and was answered 2xx either handed out a dead token (not active at the answer) or
/// revived a live session (an active token; `ok access-only` while the presented token is
/// active). Counted apart (`sign_out_no_dead_token_handed_out`, `sign_out_no_session_revived`).
fn record_after_user_sign_out(s: &mut oauth::AsState, h: &oauth::AsHandler, reply: &Reply) {
    let Reply::Ok { token, .. } = reply else { return };
    if !h.after_user_sign_out {
        return;
    }
    let live = s.row(token.unwrap_or(h.token)).is_some_and(|r| r.status == oauth::TokStatus::Active);
    let g = &mut s.as_ghost;
    if live {
        g.live_after_sign_out = g.live_after_sign_out.saturating_add(1);
    } else {
        g.dead_after_sign_out = g.dead_after_sign_out.saturating_add(1);
    }
}

/// A refresh that arrived after a password change was answered, presenting a token of a
/// family signed in before it, answered 2xx (`password_change_revokes_all`): the old session
/// is honoured after the change.
/// Ghost (`mode_binding`, RFC 6749 §6): a refresh answered 2xx to a client other than the one
/// its presented token's family signed in with, in a protocol whose requests carry their
/// client (a request field of type `client`); the client of family `f` is `f.client + 1` in
/// that numbering ([`interpret::client_number`]).
fn record_cross_client(protocol: &Protocol, s: &mut oauth::AsState, h: &oauth::AsHandler, reply: &Reply) {
    if !protocol.sends_client() || !matches!(reply, Reply::Ok { .. }) {
        return;
    }
    let family = h.view.row.and_then(|r| s.families.get(r.family as usize));
    if family.is_some_and(|f| f.client + 1 != interpret::client_number(protocol, s, h.client)) {
        s.as_ghost.cross_client = 1;
    }
}

fn record_after_password_change(s: &mut oauth::AsState, h: &oauth::AsHandler, reply: &Reply) {
    if h.after_password_change && matches!(reply, Reply::Ok { .. }) {
        s.as_ghost.ok_after_password_change = s.as_ghost.ok_after_password_change.saturating_add(1);
    }
}

/// Two nodes (C09): the load balancer routes a pending request to a node, which serves it on
/// its own copy of the session entry ([`Timer::NodeServes`]), or a node replicates its last
/// write to the other ([`Timer::NodeReplicates`]).
pub(super) fn on_cluster_timer(
    protocol: &Protocol,
    access_ttl: Tick,
    state: &mut Cow<NodeState>,
    timer: &Timer,
    o: &mut Out<Node>,
) {
    match timer {
        Timer::NodeServes { client, slot, node } => {
            let NodeState::AuthServer(s) = state.as_ref() else { return };
            let mut s = s.clone();
            let Some(c) = s.cluster.as_mut() else { return };
            let Some(i) = c.pending.iter().position(|p| (p.client, p.slot) == (*client, *slot)) else { return };
            if !c.nodes_for(protocol.routing, *client).contains(node) {
                return;
            }
            let p = c.pending.remove(i);
            if protocol.routing == Routing::Sticky {
                let key = oauth::sticky_key(*client);
                if let Err(at) = c.affinity.binary_search_by_key(&key, |&(c, _)| c) {
                    c.affinity.insert(at, (key, *node));
                }
            }
            o.cancel_timer(Timer::NodeServes { client: *client, slot: *slot, node: 1 - node });
            let tab = client.tab;
            let answer = match p.endpoint {
                oauth::AsEndpoint::Refresh => {
                    // A refresh without a token was answered on arrival and never waits.
                    let reply = match p.token {
                        Some(token) => {
                            s.on_node(*node, |s| redeem_now(protocol, access_ttl, s, *client, token, p.retry))
                        }
                        None => Reply::Err(HttpError::InvalidPayload),
                    };
                    Msg::RefreshResponse { tab, reply }
                }
                oauth::AsEndpoint::Revoke => {
                    // As on one node: a rule that keeps the acting session ("sign out other
                    // devices") does not sign the device's user out.
                    let (reply, kept) = s.on_node(*node, |s| interpret::sign_out_keeping(protocol, s, p.token, None));
                    s.as_ghost.record_sign_out(usize::from(client.browser), kept);
                    Msg::LogoutResponse { tab, reply }
                }
            };
            o.send(Id::from(client.browser as usize), answer);
            arm_cluster_timers(protocol, &s, o);
            *state = Cow::Owned(NodeState::AuthServer(s));
        }
        Timer::NodeReplicates(from) => {
            let NodeState::AuthServer(s) = state.as_ref() else { return };
            let mut s = s.clone();
            if !s.replicate(*from) {
                return;
            }
            arm_cluster_timers(protocol, &s, o);
            *state = Cow::Owned(NodeState::AuthServer(s));
        }
        _ => {}
    }
}
