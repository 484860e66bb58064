//! A refusal reaction that waits a bounded time for the stored token to change
//! (`wait-for-token-change`, `browser.token_change_wait`): clerk/cli PR 213's poll against a
//! winner slower than it and one that finishes within it, the reaction's effect against the
//! single read of `ignore-if-token-changed`, and bad input.

use refresh_check::scenario::Verdict;

use crate::util::{checked, pair, root, status, steps, trace_of};

const SLOW: &str = "models/clerk-cli-pr213-slow-winner-outlasts-the-poll.json";
const FAST: &str = "models/clerk-cli-pr213-poll-outlasts-a-fast-winner.json";

/// PR 213 as shipped: the loser waits two ticks; a winner whose answer comes later loses the
/// race, and the loser exits while the winner's session is valid.
#[test]
fn a_winner_slower_than_the_poll_still_loses_its_session() {
    let (sc, m, r) = checked(SLOW);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(steps(&t), SLOW_STEPS.iter().map(|(a, b)| pair(a, b)).collect::<Vec<_>>());
    let text = |i: usize| t.steps[i].text.clone();
    assert!(text(1).contains("rule `rotate`"), "{}", text(1));
    assert!(text(3).contains("rule `rotated: invalid_grant`"), "{}", text(3));
    assert!(
        text(4).contains("the stored token is still the one it sent (token=1): it waits up to 2 tick(s)"),
        "{}",
        text(4)
    );
    assert!(text(9).contains("wait for the stored token runs out (browser clock 0 to 2)"), "{}", text(9));
    assert!(text(9).ends_with("the process clears the stored token and is logged out"), "{}", text(9));
    assert_eq!(
        t.steps[4].state.tabs[1].status,
        "refused; waiting for the stored token to change from token=1 (since browser clock 0)"
    );
    assert_eq!(t.steps[9].state.tabs[1].status, "logged out");
}

/// The same client facing a winner that finishes within a tick: the wait always sees the
/// winner's write, and the run where it runs out first is unreachable.
#[test]
fn a_winner_within_the_poll_is_always_adopted() {
    let (sc, _, r) = checked(FAST);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert!(r.unique_states >= 100, "the search was not empty: {}", r.unique_states);
    let o = crate::util::answered(&sc, "loser-gives-up-before-the-winner-stores");
    assert_eq!(o.answer, refresh_check::query::Answer::Unreachable);
    let t = crate::util::query_trace(&sc, "loser-adopts-a-write-during-the-wait");
    let last = t.steps.last().unwrap();
    assert_eq!((last.actor.as_str(), last.action.as_str()), ("process B", "TabRereadsToken"));
    assert!(last.text.contains("token=2, not the one it sent (token=1): it takes it and drops the refusal"));
    assert_eq!(last.state.tabs[1].status, "idle");
}

/// The effect of the wait: the same fast-winner model with the single read at the refusal
/// (`ignore-if-token-changed`) is violated, as PR 213's model that reads once is.
#[test]
fn a_single_read_at_the_refusal_misses_even_a_fast_winner() {
    let src = std::fs::read_to_string(root().join(FAST)).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&src).unwrap();
    doc["browser"]["on_refused"] = serde_json::json!(["ignore-if-token-changed", "clear-stored-token", "log-out"]);
    doc["browser"].as_object_mut().unwrap().remove("token_change_wait");
    for k in ["queries", "expect"] {
        doc.as_object_mut().unwrap().remove(k);
    }
    let files = crate::common::TempFiles::new();
    files.write("once.json", &serde_json::to_string_pretty(&doc).unwrap());
    let sc = crate::util::scenario(files.path().join("once.json").to_str().unwrap(), None);
    let (m, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(!t.steps.iter().any(|s| s.action == "TabRereadsToken"));
}

/// Bad input names the file, the line, the field and what is expected, with exit code 2.
#[test]
fn wait_for_token_change_bad_input_is_refused_with_the_field() {
    let src = std::fs::read_to_string(root().join(SLOW)).unwrap();
    let no_queries = {
        let mut doc: serde_json::Value = serde_json::from_str(&src).unwrap();
        doc.as_object_mut().unwrap().remove("queries");
        serde_json::to_string_pretty(&doc).unwrap()
    };
    let cases = vec![
        (
            no_queries.replace(",\n    \"token_change_wait\": 2", ""),
            "\"wait-for-token-change\"",
            "browser.on_refused[0]",
            "with `browser.token_change_wait` set",
        ),
        (
            no_queries.replace("\"wait-for-token-change\",\n      ", ""),
            "\"token_change_wait\"",
            "browser.token_change_wait",
            "no value unless `on_refused` or `on_server_error` has",
        ),
        (
            no_queries.replace("\"token_change_wait\": 2", "\"token_change_wait\": 4"),
            "\"token_change_wait\"",
            "browser.token_change_wait",
            "at most `time.max_ticks` (3)",
        ),
        (
            no_queries.replace("\"json_storage\": \"shared\",", "\"coordination\": \"web-locks\", \"json_storage\": \"shared\","),
            "\"token_change_wait\"",
            "browser.token_change_wait",
            "no value with a `coordination`",
        ),
        (
            no_queries.replace("\"mode\": \"json\",\n    \"json_storage\": \"shared\",", "\"mode\": \"cookie\","),
            "\"wait-for-token-change\"",
            "browser.on_refused[0]",
            "HttpOnly cookie",
        ),
        (
            no_queries.replace(
                "\"token_change_wait\": 2",
                "\"token_change_wait\": 2, \"retries_per_tab\": 1,\n    \"on_timeout\": [\"wait-for-token-change\", \"log-out\"]",
            ),
            "\"on_timeout\"",
            "browser.on_timeout[0]",
            "a reaction of a refresh's error lists only",
        ),
    ];
    crate::util::refused_at(&no_queries, &cases.iter().map(|(a, b, c, d)| (a.clone(), *b, *c, *d)).collect::<Vec<_>>());
}

/// `no_spurious_logout` on the slow winner: both send token 1, the server rotates for A and
/// refuses B, B waits two ticks, gives up, deletes the store and exits.
const SLOW_STEPS: [(&str, &str); 10] = [
    ("process A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("process B", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("process B", "TabReceivesRefreshResponse"),
    ("clock", "ClockTicks"),
    ("clock", "BrowserClockTicks"),
    ("clock", "ClockTicks"),
    ("clock", "BrowserClockTicks"),
    ("process B", "TabRereadsToken"),
];

/// The wait at most once in a list (a second would start only after the first ran out, past
/// where the clock may stop, and `no_spurious_logout` would hold for want of time), and only
/// with a store another client writes (with `per-tab` storage the wait could only run out).
#[test]
fn a_second_wait_and_a_wait_on_per_tab_storage_are_refused() {
    let src = std::fs::read_to_string(root().join(SLOW)).unwrap();
    let twice = src.replace(
        "\"wait-for-token-change\",\n      \"clear-stored-token\"",
        "\"wait-for-token-change\",\n      \"wait-for-token-change\",\n      \"clear-stored-token\"",
    );
    let per_tab = src.replace("\"json_storage\": \"shared\"", "\"json_storage\": \"per-tab\"");
    assert_ne!(twice, src);
    assert_ne!(per_tab, src);
    crate::util::refused_at(
        &src,
        &[
            (
                twice,
                "\"wait-for-token-change\",\n      \"clear",
                "browser.on_refused[1]",
                "the reaction at most once in a list",
            ),
            (
                per_tab,
                "\"wait-for-token-change\",\n      \"clear",
                "browser.on_refused[0]",
                "with `per-tab` storage no other",
            ),
        ],
    );
}

/// A wait that starts late (the loser's refusal at the last tick but one, or the last) cannot
/// run out before the clock stops: the rest of its reaction list never runs. The bounds warning
/// names `browser.token_change_wait` for it, beside the clock's own bound.
#[test]
fn a_wait_cut_short_by_the_clock_is_named_in_the_bounds_warning() {
    let out = crate::util::cli(&root(), &["check", SLOW, "--no-traces", "--format", "json", "--threads", "1"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits: Vec<(&str, u64, &str)> = report["bounds_hit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["field"].as_str().unwrap(), b["value"].as_u64().unwrap(), b["stopped"].as_str().unwrap()))
        .collect();
    assert!(hits.iter().any(|h| h.0 == "time.max_ticks"), "{hits:?}");
    let wait = hits.iter().find(|h| h.0 == "browser.token_change_wait").unwrap_or_else(|| panic!("{hits:?}"));
    assert_eq!(wait.1, 2);
    assert!(
        wait.2.contains("`wait-for-token-change` started too late to run out before the clock stopped"),
        "{wait:?}"
    );
}

/// The end of a wait words the rest of the list with the trail of the reactions that ran, as a
/// refused refresh's step does: `clear-shared-storage` is "removes the shared localStorage
/// entry" (it read "clears the stored token", the words of another reaction).
#[test]
fn the_end_of_a_wait_words_each_reaction_that_ran() {
    let files = crate::common::TempFiles::new();
    let f = files.copy_model(SLOW, "m.json", |v| {
        v["browser"]["on_refused"] = serde_json::json!(["wait-for-token-change", "clear-shared-storage", "log-out"]);
        v.remove("expect");
        v.remove("queries");
    });
    let sc = refresh_check::scenario::Scenario::load(&f).unwrap();
    let (m, r) = crate::util::run(&sc, &Default::default());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let step = t.steps.iter().find(|s| s.action == "TabRereadsToken").unwrap_or_else(|| panic!("{t:?}"));
    assert!(
        step.text.ends_with("the reactions go on: the process removes the shared localStorage entry and is logged out"),
        "{}",
        step.text
    );
}
