//! Traces in plain words: an aborted refresh and its answer are marked where they stand
//! (steps, messages in flight, the Explorer); the Explorer shows states in the model's words.

use serde_json::json;

use crate::common::TempFiles;
use crate::util::{actions, checked, status, trace_of};
use refresh_check::scenario::Verdict;

const ECM: &str = "models/ecm-865-aborted-refresh-strands-token.json";
const WOODPECKER: &str = "models/woodpecker-5839-forgejo-counter-race-poisons-token.json";

/// ECM before PR 865: the server rotates, then the tab aborts; the answer already on its way
/// (the new cookie) is marked as the answer to an aborted refresh in every later state, and
/// the abort step names it.
#[test]
fn the_answer_to_an_aborted_refresh_is_marked_in_flight_and_at_the_abort() {
    let (sc, m, r) = checked(ECM);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabAbortsRefresh",
            "TabSendsRefresh",
            "ClockTicks",
            "ClockTicks",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    let abort = &t.steps[2];
    assert!(
        abort
            .text
            .contains("the server has already answered it (200, refresh token=2), and that answer will be dropped"),
        "{}",
        abort.text
    );
    let marked = "200, refresh token=2 (answer to an aborted refresh, dropped)";
    // Before the abort the answer is an ordinary one; from the abort on it is marked.
    assert!(t.steps[1].state.in_flight.iter().any(|f| f.text == "200, refresh token=2"));
    for st in &t.steps[2..] {
        assert!(st.state.in_flight.iter().any(|f| f.text == marked), "step {}: {:?}", st.index, st.state.in_flight);
    }
    // The tab's later refresh of a new round is not marked.
    assert!(t.steps[3].state.in_flight.iter().any(|f| f.text == "POST /auth/refresh (mode cookie, refresh cookie=1)"));
}

/// The aborted request itself, served after the abort: the server's step and its arrow say
/// so, and its answer in flight is marked.
#[test]
fn a_request_served_after_its_abort_is_marked_in_the_servers_step() {
    let files = TempFiles::new();
    let f = files.copy_model(ECM, "m.json", |v| {
        v.insert(
            "queries".into(),
            json!([{
                "name": "served-after-abort",
                "events": ["tab A TabAbortsRefresh", "server ServerReceivesRefresh"],
                "expect": "reachable"
            }]),
        );
    });
    let sc = refresh_check::scenario::Scenario::load(&f).unwrap();
    let t = crate::util::query_trace(&sc, "served-after-abort");
    assert_eq!(actions(&t), ["TabSendsRefresh", "TabAbortsRefresh", "ServerReceivesRefresh"]);
    let text = &t.steps[2].text;
    assert!(text.contains("(an aborted refresh: its answer will be dropped)"), "{text}");
    assert!(t.steps[1].text.contains("the server may still serve the request"), "{}", t.steps[1].text);
    assert!(t.steps[2].state.in_flight.iter().any(|f| f.text.ends_with("(answer to an aborted refresh, dropped)")));
    let chart = refresh_check::trace::render_mermaid(&t);
    assert!(chart.contains("(an aborted refresh: its answer will be dropped)"), "{chart}");
}

/// The Explorer's state view shows the state as a trace does, in the model's client word, then
/// the raw state with the word; its steps are the trace's sentences.
#[test]
fn the_explorer_shows_states_and_steps_in_the_models_words() {
    let (_, m, _) = checked(WOODPECKER);
    let views = refresh_check::explorer::states(&m, "/0").unwrap();
    let first = views.iter().find_map(|v| v.action.as_deref()).unwrap();
    assert!(first.starts_with("request A "), "{first}");
    let state = views[0].state.as_deref().unwrap();
    assert!(state.contains("\"in_flight\"") && state.contains("raw state:"), "{state}");
    assert!(state.contains("requests: [") && !state.contains("tabs: ["), "{state}");
    // The default word leaves the raw state as Rust writes it.
    let (_, d, _) = checked(ECM);
    let raw = refresh_check::explorer::states(&d, "/0").unwrap()[0].state.clone().unwrap();
    assert!(raw.contains("tabs: ["), "{raw}");
    // An aborted refresh's answer in flight is marked in the Explorer too (the trace's path).
    let (sc, em, er) = checked(ECM);
    let t = trace_of(&em, &sc, &er, "no_spurious_logout");
    let path: Vec<&str> = t.path.split('/').collect();
    let views = refresh_check::explorer::states(&em, &format!("/{}", path[..4].join("/"))).unwrap();
    assert!(views
        .iter()
        .any(|v| v.state.as_deref().is_some_and(|s| s.contains("(answer to an aborted refresh, dropped)"))));
}
