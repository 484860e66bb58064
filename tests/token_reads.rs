//! A step between reading the refresh token and sending it (`browser.reads_token`): the
//! matrix-rust-sdk pair around PR 6860 with its verdicts and the interleavings its sources
//! describe, the default that changes nothing, and bad input.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;

use crate::util::{answered, checked, pair, query_trace, root, scenario, status, steps, trace_of};

const BEFORE: &str = "models/matrix-rust-sdk-6794-token-captured-before-metadata.json";
const AFTER: &str = "models/matrix-rust-sdk-pr6860-metadata-before-lock.json";
const ISSUE: &str = "models/matrix-rust-sdk-6794-nse-rotates-while-app-suspended.json";

/// Before PR 6860 the app captures refresh token 1 under the lock and awaits the server
/// metadata; the NSE steals the lapsed lock, rotates and stores token 2; the app then sends
/// the token it captured and is signed out: the PR's test, steps 1 to 5.
#[test]
fn matrix_6794_the_app_exchanges_the_token_it_captured_before_the_metadata_await() {
    let sc = scenario(BEFORE, None);
    let t = query_trace(&sc, "app-exchanges-the-token-it-captured");
    assert_eq!(steps(&t), CAPTURED_STEPS.iter().map(|(a, b)| pair(a, b)).collect::<Vec<_>>());
    let text = |i: usize| t.steps[i].text.clone();
    assert!(text(0).contains("takes the Web Lock and reads its refresh token (token=1); it will send"), "{}", text(0));
    assert!(text(2).contains("steals the Web Lock (steal: true) and reads its refresh token (token=1)"), "{}", text(2));
    assert!(text(6).contains("gets 200, refresh token=2; it stores it"), "{}", text(6));
    assert!(
        text(7).ends_with("with the refresh token it read (token=1) (the storage holds token=2 by now)"),
        "{}",
        text(7)
    );
    assert!(text(8).contains("rule `consumed: replay` → invalid_grant"), "{}", text(8));
    assert!(text(9).ends_with("gets 400 invalid_grant and is logged out"), "{}", text(9));
    assert_eq!(t.steps[0].state.tabs[0].status, "read refresh token=1, not sent yet, holds the lock");

    let (_, _, r) = checked(BEFORE);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert!(r.unique_states >= 40, "the search was not empty: {}", r.unique_states);
}

/// After PR 6860 the token is read right before the exchange: the captured-token
/// interleaving is gone, while the window the changelog keeps open (suspended during the
/// exchange, its request in flight) still signs the app out.
#[test]
fn matrix_pr6860_closes_the_captured_token_window_and_keeps_the_exchange_window() {
    let sc = scenario(AFTER, None);
    assert_eq!(answered(&sc, "app-exchanges-a-token-read-before-the-rotation").answer, Answer::Unreachable);
    let t = query_trace(&sc, "suspended-during-the-exchange");
    assert_eq!(steps(&t), EXCHANGE_STEPS.iter().map(|(a, b)| pair(a, b)).collect::<Vec<_>>());
    assert!(t.steps[0].text.contains("sends POST /oauth2/token with its stored refresh token (token=1)"));
    assert!(t.steps.iter().all(|s| s.action != "TabReadsToken"), "one step reads and sends");

    let (sc, m, r) = checked(AFTER);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let shortest = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(shortest.steps.len(), 7);
    // `at-send` written out is the issue's model without the field: the same search.
    let (_, _, issue) = checked(ISSUE);
    assert_eq!((r.unique_states, r.states), (issue.unique_states, issue.states));
    let (_, _, before) = checked(BEFORE);
    assert!(before.unique_states > r.unique_states, "the read step adds states");
}

/// Bad input names the file, the line, the field and what is allowed, with exit code 2.
#[test]
fn reads_token_bad_input_is_refused_with_the_field() {
    let src = std::fs::read_to_string(root().join(BEFORE)).unwrap();
    let field = "\"reads_token\"";
    let cases = [
        (src.replace("\"before-send\"", "\"later\""), field, "reads_token", "at-send"),
        (src.replace("\"mode\": \"json\"", "\"mode\": \"cookie\""), field, "browser.reads_token", "HttpOnly cookie"),
        (
            src.replace("\"lock_steal\": true,", "\"lock_steal\": true, \"read_before_lock\": true,"),
            field,
            "browser.reads_token",
            "`read_before_lock`",
        ),
        (
            src.replace("\"lock_steal\": true,", "\"lock_steal\": true, \"retries_per_tab\": 1,"),
            field,
            "browser.reads_token",
            "`retries_per_tab` above 0",
        ),
        (
            src.replace("\"coordination\": \"web-locks\",", "\"coordination\": \"broadcast-leader\",")
                .replace("\"lock_steal\": true,", "")
                .replace("\"lock_granted\": \"skip-if-token-changed\",", ""),
            field,
            "browser.reads_token",
            "`coordination` \"local-storage\" or \"broadcast-leader\"",
        ),
    ];
    crate::util::refused_at(&src, &cases);
}

/// `app-exchanges-the-token-it-captured` on the model before PR 6860.
const CAPTURED_STEPS: [(&str, &str); 10] = [
    ("tab A", "TabReadsToken"),
    ("tab B", "TabWaitsForLock"),
    ("tab B", "TabStealsLock"),
    ("tab B", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("server", "ServerWritesRefresh"),
    ("tab B", "TabReceivesRefreshResponse"),
    ("tab A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("tab A", "TabReceivesRefreshResponse"),
];

/// `suspended-during-the-exchange` on the model after PR 6860.
const EXCHANGE_STEPS: [(&str, &str); 8] = [
    ("tab A", "TabSendsRefresh"),
    ("tab B", "TabWaitsForLock"),
    ("tab B", "TabStealsLock"),
    ("server", "ServerReceivesRefresh"),
    ("server", "ServerWritesRefresh"),
    ("tab B", "TabReceivesRefreshResponse"),
    ("server", "ServerReceivesRefresh"),
    ("tab A", "TabReceivesRefreshResponse"),
];
