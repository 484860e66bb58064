//! What each step of the Directus model means in words: actor, action name, sentence, message,
//! and the snapshot of the global state. This is the only part of the trace layer that knows
//! the model's message and state types.

use stateright::actor::{ActorModelAction, Id, Network};

use super::{tab_letter, MessageView, Snapshot, TabView};
use crate::model::browser::{BrowserState, TabStatus};
use crate::model::server::Handler;
use crate::model::store::{Row, Sql, SqlResult};
use crate::model::{self, Action, Msg, RefreshModel, Reply, SessionJwt, State, Timer};
use crate::properties;

fn jwt(c: &Option<SessionJwt>) -> String {
    match c {
        Some(j) => format!("session={} exp={}", j.session, j.exp),
        None => "no cookie".into(),
    }
}

fn reply_text(r: &Reply) -> String {
    match r {
        Reply::Ok { set_cookie: Some(c) } => format!("200, Set-Cookie session={} exp={}", c.session, c.exp),
        Reply::Ok { set_cookie: None } => "200".into(),
        Reply::Err(e) => format!("{} {}", e.status(), error_code(e)),
    }
}

fn error_code(e: &crate::model::HttpError) -> &'static str {
    match e {
        crate::model::HttpError::InvalidPayload => "INVALID_PAYLOAD",
        crate::model::HttpError::TokenExpired => "TOKEN_EXPIRED",
        crate::model::HttpError::InvalidCredentials => "INVALID_CREDENTIALS",
    }
}

fn sql_text(sql: &Sql) -> String {
    match sql {
        Sql::SelectSession { token, now } => format!("SELECT … WHERE token={token} AND expires>={now}"),
        Sql::Rename { from, to, expires } => format!("UPDATE SET token={to}, expires={expires} WHERE token={from}"),
        Sql::Extend { token, expires } => format!("UPDATE SET expires={expires} WHERE token={token}"),
    }
}

fn sql_step_name(sql: &Sql, h: Option<&Handler>) -> &'static str {
    use crate::model::server::Stage;
    match (sql, h.map(|h| h.stage)) {
        (Sql::SelectSession { .. }, Some(Stage::SessionCheck)) => "StoreRunsSessionCheck",
        (Sql::SelectSession { .. }, _) => "StoreRunsR1",
        (Sql::Rename { .. }, _) => "StoreRunsW1Rename",
        (Sql::Extend { .. }, _) => "StoreRunsW1Extend",
    }
}

fn result_text(r: &SqlResult) -> String {
    match r {
        SqlResult::Row(Some(Row { token, expires })) => format!("row token={token} expires={expires}"),
        SqlResult::Row(None) => "no row".into(),
        SqlResult::Affected(n) => format!("{n} row(s) affected"),
    }
}

/// Names an actor, or a tab when the message concerns one.
struct Names<'a> {
    model: &'a RefreshModel,
}

impl Names<'_> {
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

    fn message(&self, src: Id, dst: Id, msg: &Msg) -> MessageView {
        let (from, to, text) = match msg {
            Msg::RefreshRequest { tab, cookie } => {
                (format!("tab {}", tab_letter(*tab)), self.actor(dst), format!("POST /auth/refresh ({})", jwt(cookie)))
            }
            Msg::UsersMeRequest { tab, cookie } => {
                (format!("tab {}", tab_letter(*tab)), self.actor(dst), format!("GET /users/me ({})", jwt(cookie)))
            }
            Msg::RefreshResponse { tab, reply } | Msg::UsersMeResponse { tab, reply } => {
                (self.actor(src), format!("tab {}", tab_letter(*tab)), reply_text(reply))
            }
            Msg::Query { client, sql } => {
                (self.actor(src), self.actor(dst), format!("{} [tab {}]", sql_text(sql), tab_letter(client.tab)))
            }
            Msg::QueryResult { client, result } => {
                (self.actor(src), self.actor(dst), format!("{} [tab {}]", result_text(result), tab_letter(client.tab)))
            }
            Msg::Transaction { handler, .. } => (
                self.actor(src),
                self.actor(dst),
                format!("run {:?} for tab {} atomically", handler.endpoint, tab_letter(handler.client.tab)),
            ),
            Msg::TransactionDone { client, reply, .. } => {
                (self.actor(src), self.actor(dst), format!("{} [tab {}]", reply_text(reply), tab_letter(client.tab)))
            }
        };
        MessageView { from, to, text }
    }
}

/// Every message in flight, each as often as it is in the network: `(sender, receiver, msg)`.
///
/// Not stateright 0.31's `Network::iter_all`: on an ordered network its iterator never ends (it
/// repeats the first message of the first flow), and on an unordered non-duplicating one it
/// yields a message sent `n > 1` times `n + 1` times. Both found by fuzzing the model-file
/// loader (`docs/robustness.md`).
pub(crate) fn in_flight(network: &Network<Msg>) -> Vec<(Id, Id, &Msg)> {
    match network {
        Network::UnorderedDuplicating(set, _) => set.iter().map(|e| (e.src, e.dst, &e.msg)).collect(),
        Network::UnorderedNonDuplicating(multiset) => {
            multiset.iter().flat_map(|(e, &n)| std::iter::repeat((e.src, e.dst, &e.msg)).take(n)).collect()
        }
        Network::Ordered(flows) => {
            flows.iter().flat_map(|(&(src, dst), queue)| queue.iter().map(move |m| (src, dst, m))).collect()
        }
    }
}

/// The snapshot of a global state.
pub fn snapshot(m: &RefreshModel, s: &State) -> Snapshot {
    let names = Names { model: m };
    let b: &BrowserState = model::browser_at(s, m.cfg.browsers[0]);
    let server = model::server_at(s, m.cfg.server);
    let store = model::store_at(s, m.cfg.store);
    let tabs = b
        .tabs
        .iter()
        .enumerate()
        .map(|(i, t)| TabView {
            tab: tab_letter(i as u8).to_string(),
            status: match t.status {
                TabStatus::Idle => "idle".into(),
                TabStatus::Refreshing { sent: Some(tok) } => format!("refreshing (sent session={tok})"),
                TabStatus::Refreshing { sent: None } => "refreshing (sent no cookie)".into(),
                TabStatus::Requesting => "requesting".into(),
                TabStatus::LoggedOut => "logged out".into(),
            },
            refreshes_left: t.refreshes_left,
            requests_left: t.requests_left,
        })
        .collect();
    let mut in_flight: Vec<MessageView> =
        in_flight(&s.network).into_iter().map(|(src, dst, msg)| names.message(src, dst, msg)).collect();
    in_flight.sort_by(|a, b| (&a.from, &a.to, &a.text).cmp(&(&b.from, &b.to, &b.text)));
    Snapshot {
        now: server.now,
        tabs,
        jar: b.jar.map(|j| format!("session={} exp={}", j.session, j.exp)),
        store: store.rows.iter().map(|r| format!("token={} expires={}", r.token, r.expires)).collect(),
        handlers: server
            .handlers
            .iter()
            .map(|h| format!("tab {} {:?}: {:?}", tab_letter(h.client.tab), h.endpoint, h.stage))
            .collect(),
        orphan_cookies: server.orphan_cookies,
        session_valid: properties::session_valid(m, s, m.cfg.browsers[0]),
        in_flight,
    }
}

/// Describes one action taken from `before`, leading to `after`.
pub(crate) fn describe(
    m: &RefreshModel,
    before: &State,
    action: &Action,
    after: &State,
) -> (String, String, String, Option<MessageView>) {
    let names = Names { model: m };
    match action {
        ActorModelAction::Timeout(_, Timer::TabRefreshes(t)) => {
            let jar = model::browser_at(before, m.cfg.browsers[0]).jar;
            (
                format!("tab {}", tab_letter(*t)),
                "TabSendsRefresh".into(),
                format!(
                    "tab {} loads or returns from idle and sends POST /auth/refresh with the jar's cookie ({})",
                    tab_letter(*t),
                    jwt(&jar)
                ),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::TabRequests(t)) => {
            let jar = model::browser_at(before, m.cfg.browsers[0]).jar;
            (
                format!("tab {}", tab_letter(*t)),
                "TabSendsRequest".into(),
                format!("tab {} sends GET /users/me with the jar's cookie ({})", tab_letter(*t), jwt(&jar)),
                None,
            )
        }
        ActorModelAction::Timeout(_, Timer::Tick) => {
            let now = model::server_at(after, m.cfg.server).now;
            ("clock".into(), "ClockTicks".into(), format!("time passes: now = {now}"), None)
        }
        ActorModelAction::Deliver { src, dst, msg } => {
            let view = names.message(*src, *dst, msg);
            let (actor, action, text) = match msg {
                Msg::RefreshRequest { tab, .. } => (
                    "server".to_string(),
                    "ServerReceivesRefresh",
                    format!("server receives tab {}'s {}", tab_letter(*tab), view.text),
                ),
                Msg::UsersMeRequest { tab, .. } => (
                    "server".to_string(),
                    "ServerReceivesRequest",
                    format!("server receives tab {}'s {}", tab_letter(*tab), view.text),
                ),
                Msg::Query { client, sql } => {
                    let h =
                        model::server_at(before, m.cfg.server).handlers.iter().find(|h| h.client == *client).copied();
                    (
                        "store".to_string(),
                        sql_step_name(sql, h.as_ref()),
                        format!("store runs {} for tab {}", sql_text(sql), tab_letter(client.tab)),
                    )
                }
                Msg::QueryResult { client, result } => (
                    "server".to_string(),
                    "ServerReceivesResult",
                    format!("server gets {} for tab {}", result_text(result), tab_letter(client.tab)),
                ),
                Msg::Transaction { handler, .. } => (
                    "store".to_string(),
                    "StoreRunsTransaction",
                    format!(
                        "store runs tab {}'s whole {:?} handler as one transaction",
                        tab_letter(handler.client.tab),
                        handler.endpoint
                    ),
                ),
                Msg::TransactionDone { client, .. } => (
                    "server".to_string(),
                    "ServerReceivesTransactionResult",
                    format!("server gets the transaction's outcome for tab {}", tab_letter(client.tab)),
                ),
                Msg::RefreshResponse { tab, reply } => {
                    let who = format!("tab {}", tab_letter(*tab));
                    let text = match reply {
                        Reply::Ok { .. } => format!("{who} gets {}; the jar now holds it", view.text),
                        Reply::Err(_) => format!("{who} gets {} and is logged out", view.text),
                    };
                    (who, "TabReceivesRefreshResponse", text)
                }
                Msg::UsersMeResponse { tab, .. } => {
                    let who = format!("tab {}", tab_letter(*tab));
                    let text = format!("{who} gets {} for GET /users/me", view.text);
                    (who, "TabReceivesResponse", text)
                }
            };
            (actor, action.into(), text, Some(view))
        }
        ActorModelAction::Drop(env) => {
            let view = names.message(env.src, env.dst, &env.msg);
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

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::actor::Envelope;
    use stateright::util::HashableHashMap;
    use std::collections::{BTreeMap, VecDeque};

    fn msgs() -> (Msg, Msg) {
        (Msg::RefreshRequest { tab: 0, cookie: None }, Msg::RefreshRequest { tab: 1, cookie: None })
    }

    #[test]
    fn every_message_in_flight_once_per_copy_where_stateright_iter_all_is_wrong() {
        let (a, b) = msgs();
        let (x, y) = (Id::from(0), Id::from(1));
        let ordered: Network<Msg> = Network::Ordered(BTreeMap::from([((x, y), VecDeque::from([a, b]))]));
        assert_eq!(in_flight(&ordered), vec![(x, y, &a), (x, y, &b)]);
        // stateright 0.31: never ends, repeating the first message.
        assert!(ordered.iter_all().take(50).all(|e| *e.msg == a));
        assert_eq!(ordered.iter_all().take(50).count(), 50);

        let mut multiset = HashableHashMap::default();
        multiset.insert(Envelope { src: x, dst: y, msg: a }, 2usize);
        let unordered: Network<Msg> = Network::UnorderedNonDuplicating(multiset);
        assert_eq!(in_flight(&unordered), vec![(x, y, &a), (x, y, &a)]);
        // stateright 0.31: a message sent twice is listed three times.
        assert_eq!(unordered.iter_all().take(50).count(), 3);
    }
}
