//! Network faults the model file scopes (`lossy` as an object): only responses, only some
//! endpoints, at most `max_losses` losses; and a lossy network under a delay bound
//! (`time.max_in_flight_ticks`), where a lost message no longer holds the clock back. Each on
//! a shipped model of a real report, against its unrestricted `lossy: true` counterpart.

use refresh_check::query::{self, Answer, Outcome, Query, QuerySpec};
use refresh_check::scenario::{Lossy, Scenario, Verdict};
use refresh_check::search::SearchConfig;

use refresh_check::check::CheckOptions;

use crate::util::{actions, checked, root, run, status, trace_of};

const MAS_ANY: &str = "models/mas-2795-lost-response-logout.json";
const MAS_ONE: &str = "models/mas-2795-one-lost-refresh-response.json";
/// MAS issue 2795's reported run: the refresh's answer lost, the retry refused.
const REPORTED: [&str; 7] = [
    "TabSendsRefresh",
    "ServerReceivesRefresh",
    "ServerWritesRefresh",
    "NetworkLosesMessage",
    "TabRetriesRefresh",
    "ServerReceivesRefresh",
    "TabReceivesRefreshResponse",
];
const KCAP: &str = "models/kcap-cli-pr947-lost-reply-within-a-tick.json";

/// Answers `spec` (a query as JSON) on `sc`'s model.
fn ask(sc: &Scenario, spec: serde_json::Value) -> Outcome {
    let spec: QuerySpec = serde_json::from_value(spec).unwrap();
    let q = Query::compile(&spec, "queries", 0).unwrap_or_else(|e| panic!("{e:?}"));
    let m = refresh_check::model::build(sc);
    query::answer(&m, &sc.path, &sc.name, sc.browser.tabs, &q, &SearchConfig::default())
}

/// The file's query `name`, answered as the file expects.
fn file_query(sc: &Scenario, name: &str) -> Outcome {
    let q = sc.queries.iter().find(|q| q.name == name).unwrap_or_else(|| panic!("no query {name}"));
    let m = refresh_check::model::build(sc);
    let o = query::answer(&m, &sc.path, &sc.name, sc.browser.tabs, q, &SearchConfig::default());
    assert_eq!(o.expect, Some(o.answer), "{name}");
    o
}

/// `sc` with `lossy` replaced by `lossy` (JSON).
fn with_lossy(file: &str, lossy: serde_json::Value) -> Scenario {
    let path = root().join(file);
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["lossy"] = lossy;
    Scenario::parse(&path, &v.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// MAS issue 2795 with only a refresh's response lost, at most once, and a client that
/// retries only once its answer was lost (`browser.retry_timeout: after-loss`): the shortest
/// logout is the reported interleaving (consume, the 200 lost, the retry refused, logged out),
/// on fewer states than the `lossy: true` file, whose client may retry at any moment and whose
/// shortest logout is a retry sent while the first answer is still on its way, with no loss at
/// all; the fork such an early retry makes (`sp3_single_lineage`) is gone; no request is ever
/// lost, and at most one answer.
#[test]
fn mas_2795_one_lost_refresh_response_is_the_reported_run() {
    let (any_sc, any_m, any) = checked(MAS_ANY);
    let (sc, m, one) = checked(MAS_ONE);
    assert_eq!(any_sc.lossy, Lossy::Any(true));
    assert!(matches!(&sc.lossy, Lossy::Faults(f) if f.max_losses == Some(1)));
    assert!(one.unique_states > 5, "the search was not empty: {}", one.unique_states);
    assert!(one.unique_states < any.unique_states, "{} < {}", one.unique_states, any.unique_states);
    for name in ["no_spurious_logout", "lp2_lost_response_recovery"] {
        assert_eq!((status(&any, name), status(&one, name)), (Verdict::Violated, Verdict::Violated), "{name}");
    }
    assert_eq!(status(&any, "sp3_single_lineage"), Verdict::Violated);
    assert_eq!(status(&one, "sp3_single_lineage"), Verdict::Holds, "no retry overtakes its first attempt");

    let t = trace_of(&m, &sc, &one, "no_spurious_logout");
    assert_eq!(actions(&t), REPORTED);
    assert_eq!(t.steps[3].text, "the network loses server → tab A: 200, refresh token=2");
    assert!(t.steps[4].text.starts_with("tab A times out (its request or the answer was lost"), "{}", t.steps[4].text);
    assert!(t.steps[5].text.ends_with("rule `consumed: replay` → invalid_grant"), "{}", t.steps[5].text);
    assert!(t.steps[6].text.ends_with("is logged out") && t.steps[6].state.session_valid);
    // The file's query pins the same run.
    let o = file_query(&sc, "answer-lost-then-logged-out");
    assert_eq!(actions(o.trace.as_ref().unwrap()), REPORTED);
    // With a client that may retry at any moment, the shortest logout loses nothing.
    let early = trace_of(&any_m, &any_sc, &any, "no_spurious_logout");
    assert!(!actions(&early).iter().any(|a| a == "NetworkLosesMessage"), "{:?}", actions(&early));

    // A retry before any loss: reachable at any moment, not after a loss only (exhaustive).
    let early_retry = serde_json::json!({"name": "retry-before-a-loss",
        "events": ["tab A TabRetriesRefresh"], "never": ["network NetworkLosesMessage"]});
    assert_eq!(ask(&any_sc, early_retry.clone()).answer, Answer::Reachable);
    let o = ask(&sc, early_retry);
    assert_eq!(o.answer, Answer::Unreachable);
    // Without losses the run is the refresh answered: sent, received, written, answered.
    assert!(o.unique_states >= 5, "{}", o.unique_states);

    // Only the refresh's response is lost: a lost request is reachable with `lossy: true` and
    // not here.
    let lost_request =
        serde_json::json!({"name": "a-request-lost", "events": ["network NetworkLosesMessage text `POST`"]});
    assert_eq!(ask(&any_sc, lost_request.clone()).answer, Answer::Reachable);
    assert_eq!(ask(&sc, lost_request).answer, Answer::Unreachable);
    // At most one loss: two are reachable with `lossy: true` (the answer, then the retry's).
    let two = serde_json::json!({"name": "two-lost", "events": [
        "network NetworkLosesMessage", "network NetworkLosesMessage"]});
    assert_eq!(ask(&any_sc, two.clone()).answer, Answer::Reachable);
    assert_eq!(
        ask(&with_lossy(MAS_ANY, serde_json::json!({"messages": "responses"})), two.clone()).answer,
        Answer::Reachable
    );
    assert_eq!(ask(&sc, two).answer, Answer::Unreachable);
}

/// `browser.retry_timeout: after-loss` needs retries and a network that may lose a refresh's
/// request or answer: each missing one is refused naming the field (exit 2 from the command
/// line).
#[test]
fn retry_after_loss_needs_retries_and_losses() {
    let base = root().join(MAS_ONE);
    let text = std::fs::read_to_string(&base).unwrap();
    for (edit, needle) in [
        (serde_json::json!({"retries_per_tab": 0}), "unless `retries_per_tab` is above 0"),
        (serde_json::json!({"lossy": false}), "unless the network may lose a refresh's request or answer"),
        // Losses of other endpoints only: a refresh is never lost, so it would never retry.
        (
            serde_json::json!({"lossy": {"endpoints": ["call"]}}),
            "unless the network may lose a refresh's request or answer",
        ),
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        if let Some(n) = edit.get("retries_per_tab") {
            v["browser"]["retries_per_tab"] = n.clone();
        } else {
            v["lossy"] = edit["lossy"].clone();
        }
        let e = Scenario::parse(&base, &v.to_string()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("browser.retry_timeout") && e.contains(needle), "{e}");
    }
}

/// kcap-cli PR 947 with a lost reply on a network bounded to one tick
/// (`max_in_flight_ticks` 0, refused together with `lossy` before): the replay sent at once
/// gets the same rotated pair inside WorkOS's window; the lost reply does not hold the clock
/// back (time passes after it, which the bound would forbid if the lost message stayed in
/// flight), and a replay that waits past the window is refused as reuse.
#[test]
fn kcap_947_a_lost_reply_under_a_delay_bound_does_not_stop_the_clock() {
    let (sc, _, r) = checked(KCAP);
    assert_eq!(sc.time.max_in_flight_ticks, Some(0));
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Reached);

    let o = file_query(&sc, "lost-reply-replayed-inside-the-window");
    let t = o.trace.as_ref().unwrap();
    assert_eq!(actions(t), REPORTED);
    assert!(t.steps[5].text.ends_with("rule `replay inside the window` → ok presented.child"), "{}", t.steps[5].text);
    assert_eq!(t.steps[6].text, "process A gets 200, refresh token=2; it stores it");

    let o = file_query(&sc, "lost-reply-then-the-clock-advances");
    let t = o.trace.as_ref().unwrap();
    let lost = t.steps.iter().position(|s| s.action == "NetworkLosesMessage").unwrap();
    let tick = t.steps.iter().rposition(|s| s.action == "ClockTicks").unwrap();
    assert!(lost < tick, "time passes after the loss:\n{}", refresh_check::trace::render_text(t));
    assert!(t.steps[lost + 1..tick].iter().all(|s| s.action != "TabReceivesRefreshResponse"));
    assert!(t.steps.last().unwrap().text.ends_with("is logged out"));

    // `lossy: true` with the bound is accepted too, and searches more states.
    let any = with_lossy(KCAP, serde_json::json!(true));
    let (_, all) = crate::util::run(&any, &Default::default());
    assert!(
        r.unique_states > 1000 && r.unique_states < all.unique_states,
        "{} < {}",
        r.unique_states,
        all.unique_states
    );
}

/// A mobile client that retries a refresh at any moment (a client timeout) against a server
/// that keeps the previous token valid until its successor is first used. The retry of
/// refresh 1 is still in flight when the tab takes refresh 1's first answer and starts
/// refresh 2; the server then refuses the stale retry (the successor was used). That refusal
/// answers a request of an earlier round: each `fetch` has its own response, so the tab drops
/// it and is not logged out. (It was once taken as refresh 2's answer: a logout in 8 steps.)
#[test]
fn an_answer_to_an_earlier_round_is_not_a_later_refresh_answer() {
    let text = serde_json::json!({
        "name": "mobile-retry-until-successor-used",
        "description": "A retried refresh whose stale retry is refused after the next refresh started.",
        "sources": ["a refresh retried on a client timeout; the previous token valid until its successor is first used"],
        "protocol": {
            "refresh": { "rules": [
                { "name": "rotate", "when": "presented.status == active",
                  "do": ["mint child", "supersede presented"], "reply": "ok minted" },
                { "name": "previous, successor unused",
                  "when": "presented.status == superseded and presented.child.status == active and not presented.child.used",
                  "do": ["supersede presented"], "reply": "ok presented.child" },
                { "name": "previous, successor used", "when": "presented.status == superseded", "reply": "invalid_grant" },
                { "name": "revoked", "reply": "invalid_grant" }
            ]},
            "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] }
        },
        "browser": { "tabs": 1, "refreshes_per_tab": 2, "mode": "json", "json_storage": "per-tab",
                     "retries_per_tab": 2, "retry_timeout": "any-moment" },
        "lossy": { "endpoints": ["refresh"], "max_losses": 2 },
        "time": { "max_ticks": 2 }
    })
    .to_string();
    let path = root().join("models/mobile-retry-until-successor-used.json");
    let sc = Scenario::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let (_, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    assert!(r.unique_states > 1000, "the search was not empty: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    // One tab with one requester: no two refreshes can be in flight at once (a retry beside
    // its first attempt does not count), so the sanity property does not apply and is no sign
    // of a vacuous model.
    let c = r.properties.iter().find(|p| p.name == "concurrent_refreshes").unwrap();
    assert!(!c.applies && c.status == Verdict::Unreached);
    assert!(!r.vacuous.contains(&"concurrent_refreshes"), "{:?}", r.vacuous);
    // The interleaving happens: the stale retry is refused after refresh 2 was sent ...
    let stale = serde_json::json!({"name": "stale-retry-refused-after-refresh-2",
        "events": ["tab A TabRetriesRefresh", "tab A TabReceivesRefreshResponse",
                   "tab A TabSendsRefresh text `token=2`",
                   "server ServerReceivesRefresh text `refresh_token=1` rule `previous, successor used`"]});
    let o = ask(&sc, stale);
    assert_eq!(o.answer, Answer::Reachable);
    // ... and refresh 2's own answer, not the refusal, is what the tab takes.
    let t = o.trace.as_ref().unwrap();
    assert!(t.steps.iter().all(|s| !s.text.contains("logged out")), "{:?}", actions(t));
}

/// Sticky routing keeps a retrying tab to its node across refresh rounds: the round in a
/// request's address tells its answers apart, not its client. Tab A (which retries only after
/// a loss, so no attempt of its first refresh is routed after it was answered) has its first
/// refresh served by node 1; its next refresh (token 2, the next round) is served by node 1
/// again, never by node 2, which has not heard of token 2. (The round once made each refresh a
/// client of its own, free to go to either node: node 2 refused token 2.)
#[test]
fn sticky_routing_keeps_a_retrying_tab_to_its_node_across_rounds() {
    let text = serde_json::json!({
        "name": "sticky-retrying-tab",
        "description": "One tab that may retry, two nodes with sticky routing.",
        "sources": ["keycloak/keycloak issue 23687 (two nodes); a refresh retried on a client timeout"],
        "auth_server": { "rotation": "rotate", "on_reuse": "detach-client-session", "replicas": 2, "routing": "sticky" },
        "browser": { "tabs": 1, "refreshes_per_tab": 2, "mode": "json", "json_storage": "per-tab", "retries_per_tab": 1,
                     "retry_timeout": "after-loss" },
        "lossy": { "endpoints": ["refresh"], "max_losses": 1 },
        "time": { "max_ticks": 0, "refresh_token_ttl": 7, "session_cookie_ttl": 4 }
    })
    .to_string();
    let sc = Scenario::parse(&root().join("models/sticky-retrying-tab.json"), &text).unwrap_or_else(|e| panic!("{e}"));
    let next_round_on = |node: u8| {
        ask(
            &sc,
            serde_json::json!({"name": format!("next-round-on-node-{node}"),
                "events": ["node 1 NodeServesRequest text `(token=1)`",
                           "tab A TabReceivesRefreshResponse status 200",
                           "tab A TabSendsRefresh text `token=2`",
                           format!("node {node} NodeServesRequest text `(token=2)`")]}),
        )
    };
    let same = next_round_on(1);
    assert_eq!(same.answer, Answer::Reachable);
    let t = same.trace.as_ref().unwrap();
    assert!(t.steps.last().unwrap().text.contains("(token=2) to node 1"), "{:?}", actions(t));
    let other = next_round_on(2);
    assert_eq!(other.answer, Answer::Unreachable, "{:?}", other.trace.as_ref().map(actions));
    assert!(other.unique_states > 50, "the search was not empty: {}", other.unique_states);
}

const IDS_3368: &str = "models/identityserver4-3368-read-timeout-before-answer.json";
/// IdentityServer4 issue 3368's run: the server rotates and answers, the clock passes the
/// client's read timeout before the answer arrives, the retry presents the removed handle.
const TIMED_OUT: [&str; 7] = [
    "TabSendsRefresh",
    "ServerReceivesRefresh",
    "ClockTicks",
    "BrowserClockTicks",
    "TabRetriesRefresh",
    "ServerReceivesRefresh",
    "TabReceivesRefreshResponse",
];

/// `sc` read from `file` with `edit` applied to its JSON.
fn edited(file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Result<Scenario, String> {
    let path = root().join(file);
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    Scenario::parse(&path, &v.to_string()).map_err(|e| e.to_string())
}

/// A retry timeout of one tick against one-time refresh tokens (IdentityServer4 issue 3368):
/// the shortest logout is the reported run, the retry sent only once the browser's clock has
/// passed with the first answer still on its way, and refused as the removed handle. The same
/// file retrying at any moment is logged out with no clock step at all; and with every answer
/// delivered within the tick it was sent in (`max_in_flight_ticks` 0) a timeout of two ticks
/// never fires before the answer and no tab is logged out.
#[test]
fn identityserver4_3368_retry_after_a_timeout_is_the_reported_run() {
    let (sc, m, r) = checked(IDS_3368);
    assert_eq!(sc.browser.retry_timeout, refresh_check::model::policy::RetryTimeout::Ticks(1));
    assert!(r.unique_states > 10, "the search was not empty: {}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), TIMED_OUT);
    assert!(t.steps[1].text.ends_with("rule `rotate` → ok minted"), "{}", t.steps[1].text);
    assert_eq!(
        t.steps[4].text,
        "tab A times out (no answer 1 tick after it sent its refresh: sent at browser clock 0, now 1) and sends its refresh again with its stored refresh token (token=1)"
    );
    assert!(t.steps[5].text.ends_with("rule `reuse` → invalid_grant"), "{}", t.steps[5].text);
    assert!(t.steps[6].text.ends_with("is logged out") && t.steps[6].state.session_valid);
    let o = file_query(&sc, "retry-after-the-timeout-refused");
    assert_eq!(actions(o.trace.as_ref().unwrap()), TIMED_OUT);

    // At any moment: the retry overtakes the answer with no time passing.
    let any = edited(IDS_3368, |v| v["browser"]["retry_timeout"] = "any-moment".into()).unwrap();
    let (am, ar) = run(&any, &CheckOptions::default());
    let at = trace_of(&am, &any, &ar, "no_spurious_logout");
    assert!(!actions(&at).iter().any(|a| a.contains("Clock")), "{:?}", actions(&at));
    assert_eq!(at.steps.len(), 5);

    // Every answer delivered within the tick it was sent in: a timeout of one browser tick
    // may still fire first (the browser's clock lags the server's by up to a tick, so its
    // tick may pass just after the server's, the answer still on its way), two never do.
    let fast = |n: i64| {
        let sc = edited(IDS_3368, |v| {
            v["time"]["max_in_flight_ticks"] = 0.into();
            v["time"]["max_ticks"] = 2.into();
            v["browser"]["retry_timeout"] = n.into();
        })
        .unwrap();
        run(&sc, &CheckOptions::default()).1
    };
    let (one, two) = (fast(1), fast(2));
    assert!(two.unique_states > 20, "{}", two.unique_states);
    assert_eq!(status(&one, "no_spurious_logout"), Verdict::Violated);
    assert_eq!(status(&two, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&two, "lp2_lost_response_recovery"), Verdict::Holds);
    assert_eq!(status(&two, "refresh_succeeds"), Verdict::Reached);
}

/// A retry timeout in ticks: 1 to 16, at most `time.max_ticks`, with `retries_per_tab`; 0, a
/// negative number, a number past the clock and an unknown word are refused naming the field,
/// the file and the line.
#[test]
fn retry_timeout_ticks_are_bounded_and_refused_clearly() {
    for (value, ticks, needle) in [
        (serde_json::json!(0), 1, "a number of ticks from 1 to 16 (a timeout of 0 ticks is no timeout"),
        (serde_json::json!(-2), 1, "a number of ticks from 1 to 16"),
        (serde_json::json!(17), 16, "a number of ticks from 1 to 16"),
        (serde_json::json!(2), 1, "at most `time.max_ticks` (1)"),
        (serde_json::json!("soon"), 1, "any-moment"),
    ] {
        let e = edited(IDS_3368, |v| {
            v["browser"]["retry_timeout"] = value.clone();
            v["time"]["max_ticks"] = ticks.into();
        })
        .err()
        .unwrap_or_else(|| panic!("{value} accepted"));
        assert!(e.contains("browser.retry_timeout") && e.contains(needle), "{value}: {e}");
        assert!(e.contains("identityserver4-3368-read-timeout-before-answer.json:"), "{e}");
    }
    let e = edited(IDS_3368, |v| v["browser"]["retries_per_tab"] = 0.into()).err().unwrap();
    assert!(e.contains("browser.retry_timeout") && e.contains("unless `retries_per_tab` is above 0"), "{e}");
    // Accepted: the bound itself.
    edited(IDS_3368, |v| {
        v["browser"]["retry_timeout"] = 3.into();
        v["time"]["max_ticks"] = 3.into();
    })
    .unwrap();
}
