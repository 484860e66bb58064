//! A step that waits (`waits_until`): parse errors, no states while blocked, the step running
//! once its condition holds, a restart failing a blocked request, and gombit PR 166's
//! in-process coalescing (a joiner answered with the in-flight rotation's pair).

use refresh_check::check::CheckOptions;
use refresh_check::scenario::{Scenario, Verdict};

use crate::util::{cli, run, status, trace_of};

/// A one-tab model whose refresh handler is a `continue` step then a step that waits until
/// `cond` and answers the presented token; `extra_protocol` goes into the `protocol` section,
/// `max_ticks` bounds the clock.
/// The answer to query `q` of `sc`'s model, searched without limits.
fn answer_of(sc: &Scenario, q: &refresh_check::query::Query) -> refresh_check::query::Outcome {
    let built = refresh_check::model::build(sc);
    refresh_check::query::answer(
        &built,
        &sc.path,
        &sc.name,
        sc.browser.tabs,
        q,
        &refresh_check::search::SearchConfig::default(),
    )
}

fn waiting_model(cond: &str, extra_protocol: &str, max_ticks: u8) -> String {
    format!(
        r#"{{"name":"w","description":"d","sources":["s"],
"protocol": {{ {extra_protocol}
  "refresh": {{ "steps": [
    {{ "name": "arrive", "rules": [ {{ "name": "on", "reply": "continue" }} ] }},
    {{ "name": "wait", "waits_until": "{cond}", "rules": [ {{ "name": "answer", "reply": "ok presented" }} ] }} ] }},
  "sign_out": {{ "rules": [ {{ "name": "revoke", "do": ["revoke family"], "reply": "signed_out" }} ] }} }},
"browser":{{"tabs":1,"refreshes_per_tab":1,"mode":"json"}},
"time":{{"max_ticks":{max_ticks},"refresh_token_ttl":7,"session_cookie_ttl":4}}}}"#
    )
}

/// Errors in `waits_until` name the file, the line and the field and say what was expected
/// (with a spelling suggestion for an unknown name); the CLI exits 2.
#[test]
fn waits_until_errors_name_file_line_field_and_what_was_expected() {
    let dir = crate::common::TempFiles::new();
    let cases = [
        ("presented.child", "a `waits_until` condition takes a condition (true or false), found a token"),
        ("presented.stauts == active", "did you mean `presented.status`?"),
        ("presented.status ==", "expected"),
    ];
    for (cond, hint) in cases {
        std::fs::write(dir.path().join("p.json"), waiting_model(cond, "", 0)).unwrap();
        let out = cli(dir.path(), &["models", "validate", "p.json"]);
        assert_eq!(out.status.code(), Some(2), "{cond}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("p.json:5:") && e.contains("field `protocol.refresh.steps[1].waits_until`"), "{e}");
        assert!(e.contains(hint), "{cond}: {e}");
    }
    // Only a refresh handler's steps wait: a sign-out is one action.
    let text = waiting_model("true", "", 0).replace(
        r#""sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] }"#,
        r#""sign_out": { "steps": [ { "name": "s", "waits_until": "true",
      "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] } ] }"#,
    );
    let e = Scenario::parse("p.json".as_ref(), &text).unwrap_err().to_string();
    assert!(e.starts_with("p.json:6:") && e.contains("field `protocol.sign_out.steps[0].waits_until`"), "{e}");
    assert!(e.contains("only a refresh handler's steps can wait"), "{e}");
    // A misspelt field name is refused and the right one suggested.
    let typo = waiting_model("true", "", 0).replace("waits_until", "wait_until");
    let e = Scenario::parse("p.json".as_ref(), &typo).unwrap_err().to_string();
    assert!(e.contains("p.json:5:") && e.contains("waits_until"), "{e}");
}

/// A request blocked at a wait that never holds adds no state and no transition: one tab, one
/// refresh, a clock that never ticks. With a condition that always holds the run is init,
/// sent, received (between the steps), answered by the waiting step, received by the tab:
/// 5 states. With one that never holds it stops at the third: the blocked step's timer is
/// not an action (a polling step would add at least one transition, a self-loop).
#[test]
fn a_blocked_request_adds_no_states_and_runs_once_its_condition_holds() {
    let count = |cond: &str| {
        let sc = Scenario::parse("w.json".as_ref(), &waiting_model(cond, "", 0)).unwrap();
        let (_, r) = run(&sc, &CheckOptions::default());
        assert!(r.exhaustive);
        (r.states, r.unique_states, status(&r, "refresh_succeeds"))
    };
    let (states, unique, ok) = count("true");
    assert_eq!((unique, ok), (5, Verdict::Reached));
    assert_eq!(states, 5, "one transition into each state");
    let (states, unique, ok) = count("false");
    assert_eq!((unique, ok), (3, Verdict::Unreached), "init, sent, received and blocked");
    assert_eq!(states, 3, "the blocked step adds no transition either");
    // A wait on `presented.status == revoked` is as blocked as `false` while nothing revokes.
    assert_eq!(count("presented.status == revoked").1, 3);

    // A query finds the request that waits for ever: blocked, with nothing in flight.
    let stuck = |cond: &str| {
        let text = waiting_model(cond, "", 0).replace(
            r#""time":"#,
            r#""queries":[{"name":"stuck","end":"requests_blocked > 0 and in_flight == 0","expect":"reachable"}],"time":"#,
        );
        let sc = Scenario::parse("w.json".as_ref(), &text).unwrap();
        let o = answer_of(&sc, &sc.queries[0]);
        o.answer
    };
    assert_eq!(stuck("false"), refresh_check::query::Answer::Reachable);
    assert_eq!(stuck("true"), refresh_check::query::Answer::Unreachable, "a request between steps is not blocked");

    // A wait on the clock: the step runs only after the clock has ticked, and then it is
    // answered; the answer comes no sooner.
    let sc = Scenario::parse("w.json".as_ref(), &waiting_model("now >= 1", "", 1)).unwrap();
    let (m, r) = run(&sc, &CheckOptions::default());
    assert_eq!(status(&r, "refresh_succeeds"), Verdict::Reached);
    let t = trace_of(&m, &sc, &r, "refresh_succeeds");
    let text = refresh_check::trace::render_text(&t);
    let tick = text.find("time passes: now = 1").unwrap_or_else(|| panic!("{text}"));
    let step = text.find("step `wait`").unwrap_or_else(|| panic!("{text}"));
    assert!(tick < step, "{text}");
    assert!(text.contains("its `waits_until` condition holding"), "{text}");
    assert_eq!(t.steps.len(), 5, "send, receive, tick, the waiting step, the answer: {text}");
}

/// A request received at a first step that waits is blocked on arrival (the trace says what
/// it waits for); a restart fails every blocked request with 500, and the tab is logged out.
#[test]
fn a_first_step_wait_blocks_on_arrival_and_a_restart_fails_the_blocked_request() {
    let text = waiting_model("false", r#""restarts": 1,"#, 0).replace(
        r#"{ "name": "arrive", "rules": [ { "name": "on", "reply": "continue" } ] }"#,
        r#"{ "name": "arrive", "waits_until": "presented.status  ==  revoked", "rules": [ { "name": "on", "reply": "continue" } ] }"#,
    );
    let sc = Scenario::parse("w.json".as_ref(), &text).unwrap();
    let (m, r) = run(&sc, &CheckOptions::default());
    assert_eq!(status(&r, "refresh_succeeds"), Verdict::Unreached);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let text = refresh_check::trace::render_text(&t);
    assert!(text.contains("step `arrive`: it waits until presented.status == revoked"), "{text}");
    assert!(text.contains("1 request(s) in progress fail with 500"), "{text}");
    assert_eq!(t.steps.len(), 4, "send, received and blocked, restart, the tab gets 500: {text}");
}

const GOMBIT_166: &str = "models/gombit-pr166-in-process-coalescing.json";

/// gombit PR 166 in one process: a request arriving while another's rotation of the same
/// token is in flight joins it, is blocked until the call ends, and is answered the call's pair
/// (token 2, the leader's `replaced_by`); a joiner is never refused. The residual race: a
/// request that reaches RotateRefresh after the call ended takes the reuse path and revokes
/// every token of the user, the winner's too (the shortest logout of the refreshes; the file's
/// shortest `no_spurious_logout` is a call with the rotated access token).
#[test]
fn gombit_pr166_a_joiner_is_answered_the_in_flight_rotations_pair() {
    let (sc, m, r) = crate::util::checked(GOMBIT_166);
    assert!(r.exhaustive && r.unique_states > 1000);
    let answer = |name: &str| answer_of(&sc, sc.queries.iter().find(|q| q.name == name).unwrap());
    let joined = answer("joiner-answered-the-pair");
    assert_eq!(joined.answer, refresh_check::query::Answer::Reachable);
    let t = joined.trace.unwrap();
    let at = |needle: &str| {
        t.steps.iter().position(|s| s.text.contains(needle)).unwrap_or_else(|| panic!("{needle}: {t:?}"))
    };
    let join = at("rule `a call for this hash is in flight: join it`");
    let rotate = at("rule `1 row affected: rotate, share the pair`");
    let woken = at("rule `the call rotated: its pair`");
    let answered = at("tab B gets 200, refresh token=2");
    assert!(join < rotate && rotate < woken && woken < answered, "{t:?}");
    assert!(t.steps[join].text.starts_with("server receives tab B's"), "{}", t.steps[join].text);
    assert!(t.steps[woken].text.contains("its `waits_until` condition holding"), "{}", t.steps[woken].text);
    assert!(t.steps[rotate].text.contains("tab A's refresh"), "the leader rotates, the joiner does not");
    assert_eq!(t.steps.iter().filter(|s| s.text.contains("rule `1 row affected")).count(), 1, "one rotation");

    let late = answer("late-arrival-still-revokes-the-winner");
    assert_eq!(late.answer, refresh_check::query::Answer::Reachable);
    let t = late.trace.unwrap();
    let last = t.steps.last().unwrap();
    assert!(last.text.starts_with("tab A gets 500 load session user"), "{}", last.text);
    assert!(t.steps.iter().any(|s| s.text.contains("tab B's refresh") && s.text.contains("rule `revoked: reuse")));

    assert_eq!(answer("a-joiner-is-never-refused").answer, refresh_check::query::Answer::Unreachable);
    // The in-process coalescing keeps the shortest spurious logout what the access token's
    // revocation makes it, as across processes.
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 7);
    assert!(t.steps[5].text.contains("rule `ParseAccess: invalid access token`"), "{}", t.steps[5].text);
}

/// With `lock: family` a blocked request holds its family's lock: the other tab's refresh of
/// the same family stays undelivered, so two requests are never in progress at once, and the
/// run ends with one request blocked and the other in flight.
#[test]
fn a_blocked_request_holds_the_family_lock() {
    let text = waiting_model("false", "", 0)
        .replace(r#""refresh": { "steps""#, r#""refresh": { "lock": "family", "steps""#)
        .replace(r#""tabs":1"#, r#""tabs":2"#)
        .replace(
            r#""time":"#,
            r#""queries":[
  {"name":"both","end":"requests_in_progress == 2","expect":"unreachable"},
  {"name":"one-blocked-one-held","end":"requests_blocked == 1 and in_flight == 1 and tab[A].status == refreshing and tab[B].status == refreshing","expect":"reachable"}],"time":"#,
        );
    let sc = Scenario::parse("w.json".as_ref(), &text).unwrap();
    let answers: Vec<_> = sc.queries.iter().map(|q| answer_of(&sc, q).answer).collect();
    use refresh_check::query::Answer;
    assert_eq!(answers, [Answer::Unreachable, Answer::Reachable]);
    // Without the lock the second request is delivered and blocks too.
    let free = text.replace(r#""lock": "family", "#, "");
    let sc = Scenario::parse("w.json".as_ref(), &free).unwrap();
    let o = answer_of(&sc, &sc.queries[0]);
    assert_eq!(o.answer, Answer::Reachable);
}

const GOMBIT_166_PER_TOKEN: &str = "models/gombit-pr166-coalescing-per-token-hash.json";

/// gombit PR 166 with `rotateCalls` keyed by the token hash, as declared per-token fields: the
/// joiner is answered the pair its call stored on token 1's row (`call_pair=2`), a joiner is
/// never refused, the residual race still revokes the winner, and the search is the one of the
/// per-family writing (same unique states and verdicts with these bounds: one hash in flight).
#[test]
fn gombit_pr166_per_token_hash_a_joiner_gets_the_pair_its_call_stored_on_the_token() {
    let (sc, m, r) = crate::util::checked(GOMBIT_166_PER_TOKEN);
    let (_, _, family) = crate::util::checked(GOMBIT_166);
    assert!(r.exhaustive && r.unique_states > 1000);
    assert_eq!(r.unique_states, family.unique_states);
    for (p, q) in r.properties.iter().zip(&family.properties) {
        assert_eq!((p.name, p.status, p.steps), (q.name, q.status, q.steps));
    }
    let answer = |name: &str| answer_of(&sc, sc.queries.iter().find(|q| q.name == name).unwrap());
    let joined = answer("joiner-answered-the-pair");
    assert_eq!(joined.answer, refresh_check::query::Answer::Reachable);
    let t = joined.trace.unwrap();
    let at = |needle: &str| {
        t.steps.iter().position(|s| s.text.contains(needle)).unwrap_or_else(|| panic!("{needle}: {t:?}"))
    };
    let register = at("rule `register the call`");
    let join = at("rule `a call for this hash is in flight: join it`");
    let rotate = at("rule `1 row affected: rotate, share the pair`");
    let woken = at("rule `the call rotated: its pair`");
    let answered = at("tab B gets 200, refresh token=2");
    assert!(register < join && join < rotate && rotate < woken && woken < answered, "{t:?}");
    // The joiner checks and is answered the pair its call stored (`call.pair`), followed from
    // token 1's row: `presented.call_pair.status`.
    let parsed = at("rule `its row is live: Set-Cookie`");
    assert!(woken < parsed && parsed < answered, "{t:?}");
    assert!(
        t.steps[parsed].text.contains("tab B's refresh") && t.steps[parsed].text.ends_with("→ ok presented.call_pair"),
        "{}",
        t.steps[parsed].text
    );
    assert!(t.steps[register].text.starts_with("server receives tab A's"), "{}", t.steps[register].text);
    assert!(t.steps[join].text.starts_with("server receives tab B's"), "{}", t.steps[join].text);
    assert!(t.steps[woken].text.contains("its `waits_until` condition holding"), "{}", t.steps[woken].text);
    // The map's entry is on token 1's row: registered, then the call's pair stored and the
    // entry deleted; token 2 has an entry of its own, empty.
    assert_eq!(t.steps[join].state.store[0], "token=1 family=0 gen=0 active; call=1, call_pair=none, calls=1");
    assert_eq!(
        t.steps[rotate].state.store,
        [
            "token=1 family=0 gen=0 superseded at 0, 0 grace use(s); call=0, call_pair=2, calls=1",
            "token=2 family=0 gen=1 parent=1 active; call=0, call_pair=none, calls=0",
            "access token=1 refresh token=1 iat=0 exp=1"
        ]
    );
    assert_eq!(t.steps.iter().filter(|s| s.text.contains("rule `1 row affected")).count(), 1, "one rotation");
    let late = answer("late-arrival-still-revokes-the-winner");
    assert_eq!(late.answer, refresh_check::query::Answer::Reachable);
    let t = late.trace.unwrap();
    assert!(t.steps.last().unwrap().text.starts_with("tab A gets 500 load session user"));
    assert_eq!(answer("a-joiner-is-never-refused").answer, refresh_check::query::Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 7);
    assert!(t.steps[5].text.contains("rule `ParseAccess: invalid access token`"), "{}", t.steps[5].text);
}

/// A token field in `fields.in_memory` is a map the process keeps: a restart resets it on every
/// token, so a token refused once it was seen is accepted again after a restart, and never
/// without one.
#[test]
fn a_restart_resets_an_in_memory_token_field() {
    let text = |restarts: u8| {
        format!(
            r#"{{"name":"r","description":"d","sources":["s"],
"protocol": {{
  "fields": {{ "token": {{ "seen": "count" }}, "in_memory": ["token.seen"] }},
  "restarts": {restarts},
  "refresh": {{ "rules": [
    {{ "name": "first presentation", "when": "presented.status == active and presented.seen == 0", "do": ["set presented.seen = 1"], "reply": "ok presented" }},
    {{ "name": "seen before", "reply": "invalid_grant" }} ] }},
  "sign_out": {{ "rules": [ {{ "name": "revoke", "do": ["revoke family"], "reply": "signed_out" }} ] }} }},
"browser":{{"tabs":1,"refreshes_per_tab":2,"mode":"json"}},
"queries":[{{"name":"twice","events":["server ServerReceivesRefresh rule `first presentation`","server ServerReceivesRefresh rule `first presentation`"],"expect":"reachable"}},
           {{"name":"refused","events":["server ServerReceivesRefresh rule `seen before`"],"expect":"reachable"}}],
"time":{{"refresh_token_ttl":7,"session_cookie_ttl":4}}}}"#
        )
    };
    use refresh_check::query::Answer;
    let sc = Scenario::parse("r.json".as_ref(), &text(1)).unwrap();
    let twice = answer_of(&sc, &sc.queries[0]);
    assert_eq!(twice.answer, Answer::Reachable);
    let t = twice.trace.unwrap();
    let steps: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(t.steps.len(), 6, "{steps:?}");
    assert!(steps[4].starts_with("the server restarts"), "{steps:?}");
    assert!(steps[5].contains("rule `first presentation` → ok presented"), "{steps:?}");
    assert!(t.steps[1].state.store.contains(&"token=1 family=0 gen=0 active; seen=1".to_string()));
    assert!(t.steps[4].state.store.contains(&"token=1 family=0 gen=0 active; seen=0".to_string()));
    assert_eq!(answer_of(&sc, &sc.queries[1]).answer, Answer::Reachable);
    let durable = Scenario::parse("r.json".as_ref(), &text(0)).unwrap();
    assert_eq!(answer_of(&durable, &durable.queries[0]).answer, Answer::Unreachable);
    assert_eq!(answer_of(&durable, &durable.queries[1]).answer, Answer::Reachable);
}
