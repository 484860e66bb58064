//! Which messages the network may lose, and how many ([`Losses`], the model file's `lossy`).
//!
//! `lossy: true` is stateright's lossy network: any message in flight may be lost, any number
//! of times (`stateright` 0.31, `src/actor/model.rs`, `LossyNetwork::Yes`: a `Drop` action per
//! deliverable envelope). The object form narrows it: only requests or only responses, only
//! some endpoints' messages, at most `max_losses` losses in a run. A loss is then listed only
//! for a message the policy names, and only while the run has losses left; the count of losses
//! so far is kept in the history ([`InFlight::losses`]), and only when `max_losses` is set, so
//! that a model without it keeps its states (and its count of them).
//!
//! With `time.max_in_flight_ticks` a lost message also leaves the history of messages in
//! flight: it is no longer in flight, so it no longer holds the clock back (stateright's `Drop`
//! leaves the history as it was, which is why the two were refused together before).

use stateright::actor::Envelope;

use super::{Cfg, InFlight, Msg};
use crate::scenario::{LossEndpoint, LostMessages};

/// A loss policy: which messages may be lost, and at most how many in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Losses {
    /// Requests, responses or both (and the server's messages to its store).
    messages: LostMessages,
    /// The endpoints whose messages may be lost, one bit per [`LossEndpoint`] (refresh 1,
    /// call 2, sign-out 4); 0: every message, the store's included.
    endpoints: u8,
    /// At most this many losses in a run; `None`: any number.
    max: Option<u8>,
}

/// What a message is, for a loss policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A request to the server, of an endpoint (bit as in [`Losses::endpoints`]).
    Request(u8),
    /// The server's answer to one, of an endpoint.
    Response(u8),
    /// Between the server and its store (a SQL statement, a transaction, their results).
    Store,
    /// The clock's own message (`time.max_in_flight_ticks`): never lost.
    Clock,
}

fn bit(e: LossEndpoint) -> u8 {
    match e {
        LossEndpoint::Refresh => 1,
        LossEndpoint::Call => 2,
        LossEndpoint::SignOut => 4,
    }
}

fn kind(m: &Msg) -> Kind {
    const REFRESH: u8 = 1;
    const CALL: u8 = 2;
    const SIGN_OUT: u8 = 4;
    match m {
        Msg::RefreshRequest { .. } => Kind::Request(REFRESH),
        Msg::UsersMeRequest { .. } | Msg::CallRequest { .. } => Kind::Request(CALL),
        Msg::LogoutRequest { .. } | Msg::FollowUpRequest { .. } => Kind::Request(SIGN_OUT),
        Msg::RefreshResponse { .. } => Kind::Response(REFRESH),
        Msg::UsersMeResponse { .. } | Msg::CallResponse { .. } => Kind::Response(CALL),
        Msg::LogoutResponse { .. } | Msg::FollowUpResponse { .. } => Kind::Response(SIGN_OUT),
        Msg::Query { .. } | Msg::QueryResult { .. } | Msg::Transaction { .. } | Msg::TransactionDone { .. } => {
            Kind::Store
        }
        // A sign-in during the run is refused with `lossy` (the model file's check): never lost.
        Msg::ClockTicked { .. } | Msg::SignInRequest { .. } | Msg::SignInResponse { .. } => Kind::Clock,
    }
}

impl Losses {
    /// `lossy: true`: every message, any number of times.
    pub const ANY: Losses = Losses { messages: LostMessages::All, endpoints: 0, max: None };

    /// The policy of a `lossy` object: `messages`, `endpoints` (empty: every endpoint, and the
    /// store's messages) and `max_losses`.
    pub fn new(messages: LostMessages, endpoints: &[LossEndpoint], max: Option<u8>) -> Losses {
        Losses { messages, endpoints: endpoints.iter().fold(0, |m, &e| m | bit(e)), max }
    }

    /// Whether the policy counts losses (`max_losses` is set): then the count is in the state.
    pub fn counted(&self) -> bool {
        self.max.is_some()
    }

    /// Whether `m` may be lost under this policy (whatever the losses so far).
    pub fn may_lose(&self, m: &Msg) -> bool {
        let (request, endpoint) = match kind(m) {
            Kind::Clock => return false,
            Kind::Store => return self.messages == LostMessages::All && self.endpoints == 0,
            Kind::Request(e) => (true, e),
            Kind::Response(e) => (false, e),
        };
        let direction = match self.messages {
            LostMessages::All => true,
            LostMessages::Requests => request,
            LostMessages::Responses => !request,
        };
        direction && (self.endpoints == 0 || self.endpoints & endpoint != 0)
    }

    /// Whether the run whose history is `h` may lose another message.
    pub fn left(&self, h: &InFlight) -> bool {
        self.max.is_none_or(|max| h.losses < max)
    }

    /// Records in `h` that `e` was lost: one more loss if they are counted, and with
    /// `time.max_in_flight_ticks` one copy of `e` (the one sent first, as for a delivery) no
    /// longer in flight.
    pub fn record(&self, cfg: &Cfg, h: &mut InFlight, e: Envelope<&Msg>) {
        if self.max.is_some() {
            h.losses += 1;
        }
        if cfg.max_in_flight_ticks.is_some() {
            let key = (usize::from(e.src), usize::from(e.dst), *e.msg);
            if let Some(i) = h.sent.iter().position(|x| (x.0, x.1, x.2) == key) {
                h.sent.remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Reply, TabIx};

    #[test]
    fn a_policy_names_its_messages() {
        let ok = Reply::SignedOut;
        let refresh_answer = Msg::RefreshResponse { tab: TabIx::default(), reply: ok };
        let call = Msg::CallRequest { tab: TabIx::default(), access: None };
        let clock = Msg::ClockTicked { now: 1 };
        assert!(Losses::ANY.may_lose(&refresh_answer) && Losses::ANY.may_lose(&call));
        assert!(!Losses::ANY.may_lose(&clock), "the clock's message is never lost");
        let answers = Losses::new(LostMessages::Responses, &[], Some(1));
        assert!(answers.may_lose(&refresh_answer) && !answers.may_lose(&call));
        let refresh_requests = Losses::new(LostMessages::Requests, &[LossEndpoint::Refresh], None);
        assert!(!refresh_requests.may_lose(&refresh_answer) && !refresh_requests.may_lose(&call));
        let calls = Losses::new(LostMessages::All, &[LossEndpoint::Call], None);
        assert!(calls.may_lose(&call) && !calls.may_lose(&refresh_answer));
        let mut h = InFlight::default();
        assert!(answers.left(&h));
        h.losses = 1;
        assert!(!answers.left(&h) && Losses::ANY.left(&h));
    }
}
