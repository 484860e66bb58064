//! Network faults the model file scopes (`lossy` as an object): only responses, only some
//! endpoints, at most `max_losses` losses; and a lossy network under a delay bound
//! (`time.max_in_flight_ticks`), where a lost message no longer holds the clock back. Each on
//! a shipped model of a real report, against its unrestricted `lossy: true` counterpart.

use refresh_check::query::{self, Answer, Outcome, Query, QuerySpec};
use refresh_check::scenario::{Lossy, Scenario, Verdict};
use refresh_check::search::SearchConfig;

use crate::util::{actions, checked, root, status, trace_of};

const MAS_ANY: &str = "models/mas-2795-lost-response-logout.json";
const MAS_ONE: &str = "models/mas-2795-one-lost-refresh-response.json";
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

/// MAS issue 2795 with only a refresh's response lost, at most once: the verdicts and the
/// shortest counterexample are those of the `lossy: true` file, step for step, on fewer
/// states; the reported interleaving (consume, the 200 lost, the retry refused, logged out)
/// is the file's query; and no request is ever lost.
#[test]
fn mas_2795_one_lost_refresh_response_keeps_the_counterexample_on_fewer_states() {
    let (any_sc, any_m, any) = checked(MAS_ANY);
    let (sc, m, one) = checked(MAS_ONE);
    assert_eq!(any_sc.lossy, Lossy::Any(true));
    assert!(matches!(&sc.lossy, Lossy::Faults(f) if f.max_losses == Some(1)));
    for p in &any.properties {
        assert_eq!(status(&one, &p.name), p.status, "{}", p.name);
    }
    assert!(one.unique_states > 40, "the search was not empty: {}", one.unique_states);
    assert!(one.unique_states < any.unique_states, "{} < {}", one.unique_states, any.unique_states);
    assert!(one.states < any.states, "{} < {}", one.states, any.states);
    for name in ["no_spurious_logout", "lp2_lost_response_recovery", "sp3_single_lineage"] {
        let (a, b) = (trace_of(&any_m, &any_sc, &any, name), trace_of(&m, &sc, &one, name));
        let text = |t: &refresh_check::trace::Trace| t.steps.iter().map(|s| s.text.clone()).collect::<Vec<_>>();
        assert_eq!(text(&a), text(&b), "{name}: the same shortest counterexample");
    }

    let o = file_query(&sc, "answer-lost-then-logged-out");
    let t = o.trace.as_ref().unwrap();
    assert_eq!(
        actions(t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "NetworkLosesMessage",
            "TabRetriesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
        ]
    );
    assert_eq!(t.steps[3].text, "the network loses server → tab A: 200, refresh token=2");
    assert!(t.steps[5].text.ends_with("rule `consumed: replay` → invalid_grant"), "{}", t.steps[5].text);
    assert!(t.steps[6].text.ends_with("is logged out") && t.steps[6].state.session_valid);

    // Only the refresh's response is lost: a lost request is reachable with `lossy: true` and
    // not here (an exhaustive search).
    let lost_request =
        serde_json::json!({"name": "a-request-lost", "events": ["network NetworkLosesMessage text `POST`"]});
    assert_eq!(ask(&any_sc, lost_request.clone()).answer, Answer::Reachable);
    let o = ask(&sc, lost_request);
    assert_eq!(o.answer, Answer::Unreachable);
    assert!(o.unique_states > 40, "{}", o.unique_states);
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
    assert_eq!(
        actions(t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "NetworkLosesMessage",
            "TabRetriesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
        ]
    );
    assert!(t.steps[5].text.ends_with("rule `replay inside the window` → ok presented.child"), "{}", t.steps[5].text);
    assert_eq!(t.steps[6].text, "tab A gets 200, refresh token=2; it stores it");

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
