//! A wait for the Web Lock with a time limit, then a fallback (`browser.lock_wait_ticks`,
//! `browser.on_lock_timeout`): nextcloud/user_oidc PR 1277's 50 x 100 ms retries of
//! `acquireLock`, after which the request returns its expired token and is logged out; the
//! bound's effect on a session copy that catches up; and bad input.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;

use crate::util::{answered, owned, query_trace, root, status, steps, trace_of};

const PR1277: &str = "models/nextcloud-user-oidc-pr1277-lock-rechecks-request-snapshot.json";

/// PR 1277 as merged: the shortest spurious logout is the bound running out. Request A holds
/// the lock with its refresh unanswered, a tick (the 5 s of retries) passes on the server's and
/// the browser's clock, request B gives
/// up, sends nothing and is logged out; Authentik never sees B.
#[test]
fn pr1277_waiter_gives_up_after_the_bound_and_is_logged_out() {
    let (sc, _, r, t) = crate::common::pinned(
        PR1277,
        20,
        "no_spurious_logout",
        &[
            ("request A", "TabSendsRefresh"),
            ("request B", "TabWaitsForLock"),
            ("clock", "ClockTicks"),
            ("clock", "BrowserClockTicks"),
            ("request B", "TabGivesUpLock"),
        ],
    );
    assert_eq!(
        t.steps[4].text,
        "request B's wait for the refresh lock runs out (browser clock 0 to 1, at most 1 tick(s)): it gives up the wait, no refresh request is sent; `on_lock_timeout`: it clears the stored token and is logged out"
    );
    assert_eq!(t.steps[4].state.tabs[1].status, "logged out");
    assert!(!t.steps.iter().any(|s| s.actor == "request B" && s.action == "TabSendsRefresh"));
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Holds);
    let q = query_trace(&sc, "waiter-gives-up-after-five-seconds");
    assert_eq!(q.steps.last().map(|s| s.action.as_str()), Some("TabGivesUpLock"));
    // PR 1450's stale double-check is still there, step by step.
    let stale = query_trace(&sc, "waiter-rechecks-its-stale-copy");
    assert_eq!(
        steps(&stale),
        owned(&[
            ("request A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("request B", "TabWaitsForLock"),
            ("server", "ServerWritesRefresh"),
            ("request A", "TabReceivesRefreshResponse"),
            ("server", "ServerReceivesRefresh"),
            ("request B", "TabReceivesRefreshResponse"),
        ])
    );
    assert_eq!(answered(&sc, "waiter-skips-the-refresh").answer, Answer::Unreachable);
}

/// The file with `edit` applied to its document, without its queries and expectations,
/// checked: the results and the trace of `no_spurious_logout` if violated.
fn variant(
    edit: impl Fn(&mut serde_json::Value),
) -> (refresh_check::check::Results, Option<refresh_check::trace::Trace>) {
    let src = std::fs::read_to_string(root().join(PR1277)).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&src).unwrap();
    edit(&mut doc);
    for k in ["queries", "expect"] {
        doc.as_object_mut().unwrap().remove(k);
    }
    let files = crate::common::TempFiles::new();
    files.write("v.json", &serde_json::to_string_pretty(&doc).unwrap());
    let sc = crate::util::scenario(files.path().join("v.json").to_str().unwrap(), None);
    let (m, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    let t =
        (status(&r, "no_spurious_logout") == Verdict::Violated).then(|| trace_of(&m, &sc, &r, "no_spurious_logout"));
    (r, t)
}

/// The bound changes the verdict: with the request's copy of the session caught up (a session
/// backend that serialises requests: `json_storage: "shared"`) the double-check works and no
/// request is logged out without the bound; with the bound, the waiter of a slow holder is.
#[test]
fn the_bound_alone_logs_out_a_waiter_whose_recheck_would_work() {
    let (r, t) = variant(|d| {
        d["browser"]["json_storage"] = "shared".into();
        let b = d["browser"].as_object_mut().unwrap();
        b.remove("lock_wait_ticks");
        b.remove("on_lock_timeout");
    });
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert!(t.is_none());
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    let (r, t) = variant(|d| d["browser"]["json_storage"] = "shared".into());
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = t.unwrap();
    assert_eq!(t.steps.last().map(|s| (s.actor.as_str(), s.action.as_str())), Some(("request B", "TabGivesUpLock")));
    // `keep-going` instead: the waiter keeps its expired token, nobody is logged out.
    let (r, _) = variant(|d| {
        d["browser"]["json_storage"] = "shared".into();
        d["browser"]["on_lock_timeout"] = serde_json::json!(["keep-going"]);
    });
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
}

/// Bad input names the file, the line, the field and what is expected, with exit code 2.
#[test]
fn lock_wait_bad_input_is_refused_with_the_field() {
    let src = std::fs::read_to_string(root().join(PR1277)).unwrap();
    let no_queries = {
        let mut doc: serde_json::Value = serde_json::from_str(&src).unwrap();
        doc.as_object_mut().unwrap().remove("queries");
        serde_json::to_string_pretty(&doc).unwrap()
    };
    let timeout = "\"on_lock_timeout\": [\n      \"clear-stored-token\",\n      \"log-out\"\n    ]";
    assert!(no_queries.contains(timeout), "{no_queries}");
    let cases = vec![
        (
            no_queries.replace(&format!("{timeout},\n"), ""),
            "\"lock_wait_ticks\"",
            "browser.lock_wait_ticks",
            "with `browser.on_lock_timeout` set",
        ),
        (
            no_queries.replace("\"lock_wait_ticks\": 1,\n", ""),
            "\"on_lock_timeout\"",
            "browser.on_lock_timeout",
            "no value unless `browser.lock_wait_ticks` is set",
        ),
        (
            no_queries.replace("\"lock_wait_ticks\": 1", "\"lock_wait_ticks\": 2"),
            "\"lock_wait_ticks\"",
            "browser.lock_wait_ticks",
            "at most `time.max_ticks` (1)",
        ),
        (
            no_queries.replace("\"lock_wait_ticks\": 1", "\"lock_wait_ticks\": 0"),
            "\"lock_wait_ticks\"",
            "browser.lock_wait_ticks",
            "an integer from 1 to 16",
        ),
        (
            no_queries.replace("\"coordination\": \"web-locks\"", "\"coordination\": \"none\""),
            "\"lock_wait_ticks\"",
            "browser.lock_wait_ticks",
            "no value unless `coordination` is \"web-locks\"",
        ),
        (
            no_queries.replace(timeout, "\"on_lock_timeout\": [\"retry-with-stored-token\", \"log-out\"]"),
            "\"on_lock_timeout\"",
            "browser.on_lock_timeout[0]",
            "sent nothing",
        ),
        (
            no_queries.replace(timeout, "\"on_lock_timeout\": [\"log-out\", \"clear-stored-token\"]"),
            "\"on_lock_timeout\"",
            "browser.on_lock_timeout[1]",
            "nothing after \"log-out\"",
        ),
        (
            no_queries.replace(timeout, "\"on_lock_timeout\": [\"clear-stored-token\"]"),
            "\"on_lock_timeout\"",
            "browser.on_lock_timeout",
            "a list ending with \"log-out\" or \"keep-going\"",
        ),
        (
            no_queries.replace("\"lock_wait_ticks\": 1,", "\"lock_wait_ticks\": 1, \"lock_steal\": true,"),
            "\"lock_wait_ticks\"",
            "browser.lock_wait_ticks",
            "no value with `lock_steal`",
        ),
    ];
    crate::util::refused_at(&no_queries, &cases.iter().map(|(a, b, c, d)| (a.clone(), *b, *c, *d)).collect::<Vec<_>>());
}
