//! Stored sessions and the expiry re-check inside the Web Lock
//! (`browser.shared_storage_holds: "session"`, `lock_granted: "skip-if-stored-session-fresh"`,
//! `lock_recheck_margin`), and ordinary calls made by tabs that share a Web Lock. Each model
//! checks as it expects over a pinned number of states; the effect of the re-check is shown
//! on the path it takes (the waiter sends no refresh and calls with the stored access token)
//! and by its absence where the construct is left out; every refusal names the file and field
//! and exits 2.

use refresh_check::check::CheckOptions;
use refresh_check::model::policy::{LockGranted, StorageHolds};

use refresh_check::scenario::{Scenario, Verdict};

use crate::util::{run, scenario, status};

const RECHECK: &str = "models/auth0-spa-js-2.15-web-locks-cache-recheck.json";
const WITHOUT: &str = "models/auth0-spa-js-2.15-web-locks-without-recheck.json";

/// `check FILE` run in a scratch traces folder: its standard output.
fn check_text(files: &crate::common::TempFiles, file: &std::path::Path) -> String {
    let out = crate::util::cli(files.path(), &["check", file.to_str().unwrap(), "--traces", "t"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// auth0-spa-js 2.15: tab A refreshes for its call inside the Web Lock; tab B's call finds the
/// cached access token about to expire and queues; A's 2xx stores the whole session and, in
/// the same step, B is granted the lock, reads the cache again, finds access token 2 fresh
/// (exp 2 at browser clock 1, margin 1), sends no refresh and sends its call with access token
/// 2. `no_spurious_logout` holds and no refresh is refused, over a pinned state space.
#[test]
fn a_waiter_that_finds_the_stored_session_fresh_sends_no_refresh_and_calls_with_its_access_token() {
    let sc = scenario(RECHECK, None);
    assert_eq!(sc.browser.lock_granted, LockGranted::SkipIfStoredSessionFresh);
    assert_eq!(sc.browser.shared_storage_holds, StorageHolds::Session);
    let (_, r) = run(&sc, &CheckOptions::default());
    assert!(r.exhaustive);
    assert_eq!((r.states, r.unique_states), (5061, 2159));
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Unreached);
    assert_eq!(status(&r, "lp4_lock_not_orphaned"), Verdict::Holds);

    // The model's query pins the interleaving: A refreshes for its call, B queues, and A's
    // 2xx grants B the lock, which finds the session fresh and sends its call with token 2,
    // which the API serves (B's own answer: the query's last event names tab B).
    let files = crate::common::TempFiles::new();
    let text = check_text(&files, &crate::util::root().join(RECHECK));
    assert!(text.contains("outcome: as expected"), "{text}");
    for line in [
        "✓ auth0-spa-js-2.15-web-locks-cache-recheck waiter-takes-over-the-stored-session: reachable in 8 steps",
        "3. tab A    tab A starts an API call; its access token=1 expires within the margin, so it first sends POST /auth/refresh with its stored refresh token (token=1)",
        "5. tab B    tab B starts an API call; its access token=1 expires within the margin, so it first refreshes: it waits for the refresh lock held by another tab",
        "6. tab A    tab A gets 200, refresh token=2, access token=2; it stores it; tab B is granted the lock; the stored session is fresh (access token=2, exp 2; browser clock 1, margin 1): it takes it over and sends no refresh; tab A sends its waiting API call with access token=2; tab B sends its waiting API call with access token=2",
        "8. tab B    tab B gets 200 for its API call with access token=2",
        "✓ auth0-spa-js-2.15-web-locks-cache-recheck no-refresh-refused: unreachable",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}

/// Without the second cache read (`lock_granted: "refresh"`) the waiter refreshes again once
/// granted: no state has B calling with access token 2 after a single refresh, over the whole
/// state space; still no refresh is refused (it presents the rotated-to token).
#[test]
fn without_the_recheck_every_waiter_refreshes_again() {
    let sc = scenario(WITHOUT, None);
    assert_eq!(sc.browser.lock_granted, LockGranted::Refresh);
    let (_, r) = run(&sc, &CheckOptions::default());
    assert!(r.exhaustive);
    assert_eq!((r.states, r.unique_states), (10093, 4307));
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Unreached);
    let files = crate::common::TempFiles::new();
    let text = check_text(&files, &crate::util::root().join(WITHOUT));
    assert!(text.contains("outcome: as expected"), "{text}");
    assert!(text.contains("tab B is granted the lock and sends POST /auth/refresh with token=2"), "{text}");
    assert!(!text.contains("the stored session is fresh"), "{text}");
}

/// Against a server that does not rotate, the refresh token stored never changes: with
/// `skip-if-token-changed` every waiter refreshes again (the same state space as `refresh`),
/// while the expiry re-check still skips once the first tab stored a fresh access token.
#[test]
fn against_a_non_rotating_server_only_the_expiry_recheck_skips() {
    let files = crate::common::TempFiles::new();
    let edit = |lock: &'static str| {
        move |m: &mut serde_json::Map<String, serde_json::Value>| {
            m.insert("auth_server".into(), serde_json::json!({ "rotation": "none" }));
            m.remove("expect");
            m.insert("name".into(), lock.into());
            m.insert(
                "queries".into(),
                serde_json::json!([
                    { "name": "skips", "description": "a granted waiter sends no refresh",
                      "events": ["TabReceivesRefreshResponse status 200 text `is granted the lock; the stored`"],
                      "expect": "reachable" },
                    { "name": "refreshes-again", "description": "a granted waiter refreshes with the same token",
                      "events": ["TabReceivesRefreshResponse status 200 text `is granted the lock and sends POST /auth/refresh with token=1`"],
                      "expect": "reachable" }
                ]),
            );
            let b = m["browser"].as_object_mut().unwrap();
            b.insert("lock_granted".into(), lock.into());
            if lock != "skip-if-stored-session-fresh" {
                b.remove("lock_recheck_margin");
            }
        }
    };
    let fresh = files.copy_model(RECHECK, "fresh.json", edit("skip-if-stored-session-fresh"));
    let token = files.copy_model(RECHECK, "token.json", edit("skip-if-token-changed"));
    let refresh = files.copy_model(RECHECK, "refresh.json", edit("refresh"));
    let text = check_text(&files, &fresh);
    assert!(text.contains("✓ skip-if-stored-session-fresh skips: reachable"), "{text}");
    assert!(text.contains("✗ skip-if-stored-session-fresh refreshes-again"), "{text}");
    assert!(text.contains("no_spurious_logout                always    holds"), "{text}");
    let text = check_text(&files, &token);
    assert!(text.contains("✗ skip-if-token-changed skips"), "the stored refresh token never changes: {text}");
    assert!(text.contains("✓ skip-if-token-changed refreshes-again: reachable"), "{text}");
    let (token, refresh) = (Scenario::load(&token).unwrap(), Scenario::load(&refresh).unwrap());
    let ((_, rt), (_, rr)) = (run(&token, &CheckOptions::default()), run(&refresh, &CheckOptions::default()));
    assert_eq!((rt.states, rt.unique_states), (rr.states, rr.unique_states));
}

/// Calls combine with Web Locks: with ZITADEL's refresh that revokes the previous access
/// token, a tab holding the lock can have its in-flight call refused and be logged out; the
/// page's lock passes to the waiting tab, which refreshes, and no tab waits for an orphaned
/// lock.
#[test]
fn a_calls_log_out_passes_the_lock_on() {
    let files = crate::common::TempFiles::new();
    let file = files.copy_model("models/zitadel-9331-refresh-revokes-in-flight-access-token.json", "z.json", |m| {
        m.remove("expect");
        let b = m["browser"].as_object_mut().unwrap();
        b.insert("tabs".into(), 2.into());
        b.insert("coordination".into(), "web-locks".into());
        m.insert("name".into(), "z".into());
        m.insert(
            "queries".into(),
            serde_json::json!([{ "name": "hand-over", "description": "the call's log-out passes the lock to B",
                "events": ["TabReceivesCallResponse text `the page's Web Lock is released; tab B is granted the lock`"],
                "expect": "reachable" }]),
        );
    });
    let sc = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let (_, r) = run(&sc, &CheckOptions::default());
    assert!(r.exhaustive && r.unique_states > 0);
    assert_eq!(status(&r, "lp4_lock_not_orphaned"), Verdict::Holds);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated, "the reported 401 still logs a tab out");
    // The trace names the hand-over: A's refused call logs A out, releases the page's lock,
    // and B, granted it, sends its refresh, in one step.
    let out = crate::util::cli(files.path(), &["check", file.to_str().unwrap(), "--traces", "t"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("✓ z hand-over: reachable"), "{text}");
    assert!(
        text.contains("tab A gets 401 invalid_token for its API call with access token=1: the tab is logged out; the page's Web Lock is released; tab B is granted the lock and sends POST /oauth/v2/token with token=1"),
        "{text}"
    );
}

/// Refusals, each exit 2 with the file and the field named: the re-check without Web Locks or
/// without a stored session, its margin without it, out of range or `null` (one message for
/// every value outside 0 to 16), a stored session outside
/// json `shared` storage or in a Directus model or with requesters, token comparison with
/// calls over a refresh-token storage, and calls with the localStorage lock.
#[test]
fn stored_sessions_and_the_recheck_are_refused_where_they_have_no_meaning() {
    let files = crate::common::TempFiles::new();
    type Edit = fn(&mut serde_json::Map<String, serde_json::Value>);
    let cases: [(&str, Edit, &str); 11] = [
        (
            "browser.lock_granted",
            |b| {
                b.insert("coordination".into(), "none".into());
            },
            "found \"skip-if-stored-session-fresh\" with `coordination` \"none\", expected \"refresh\" (the default) unless `coordination` is \"web-locks\"",
        ),
        (
            "browser.lock_granted",
            |b| {
                b.insert("shared_storage_holds".into(), "refresh-token".into());
            },
            "expected `shared_storage_holds: \"session\"`",
        ),
        (
            "browser.lock_recheck_margin",
            |b| {
                b.insert("lock_granted".into(), "refresh".into());
            },
            "expected no value unless `lock_granted` is \"skip-if-stored-session-fresh\"",
        ),
        (
            "browser.lock_recheck_margin",
            |b| {
                b.insert("lock_recheck_margin".into(), 17.into());
            },
            "found 17, expected an integer from 0 to 16",
        ),
        (
            "browser.lock_recheck_margin",
            |b| {
                b.insert("lock_recheck_margin".into(), (-1).into());
            },
            "found -1, expected an integer from 0 to 16",
        ),
        (
            "browser.lock_recheck_margin",
            |b| {
                b.insert("lock_recheck_margin".into(), serde_json::Value::Null);
            },
            "found null, expected an integer from 0 to 16 (leave the field out for no margin)",
        ),
        (
            "browser.shared_storage_holds",
            |b| {
                b.insert("json_storage".into(), "per-tab".into());
            },
            "expected \"refresh-token\" unless `mode` is \"json\" and `json_storage` \"shared\"",
        ),
        (
            "browser.shared_storage_holds",
            |b| {
                b.insert("on_ok".into(), serde_json::json!(["store-in-tab"]));
            },
            "an `on_ok` list with \"store-shared\"",
        ),
        (
            "browser.lock_granted",
            |b| {
                b.insert("lock_granted".into(), "skip-if-token-changed".into());
                b.remove("lock_recheck_margin");
                b.insert("shared_storage_holds".into(), "refresh-token".into());
            },
            "found \"skip-if-token-changed\" with `calls_per_tab` 2",
        ),
        (
            "browser.coordination",
            |b| {
                b.insert("coordination".into(), "local-storage".into());
                b.insert("lock_granted".into(), "refresh".into());
                b.remove("lock_recheck_margin");
            },
            "expected \"none\" or \"web-locks\" when `calls_per_tab` is above 0",
        ),
        (
            "browser.lock_granted",
            |b| {
                b.insert("lock_steal".into(), true.into());
            },
            "with `lock_steal` true and `calls_per_tab` above 0",
        ),
    ];
    for (i, (field, edit, says)) in cases.into_iter().enumerate() {
        let name = format!("bad{i}.json");
        let file = files.copy_model(RECHECK, &name, |m| edit(m["browser"].as_object_mut().unwrap()));
        let out = crate::util::cli(files.path(), &["check", file.to_str().unwrap(), "--no-traces"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{i}: {err}");
        assert!(err.contains(&format!("{name}:")) && err.contains(&format!("field `{field}`")), "{i}: {err}");
        assert!(err.contains(says) && !err.contains("panicked"), "{i}: {err}");
    }
    // A Directus model keeps no access tokens: no stored session.
    let file = files.copy_model("models/directus-pr22457-weblocks.json", "directus.json", |m| {
        let b = m["browser"].as_object_mut().unwrap();
        b.insert("mode".into(), "json".into());
        b.insert("json_storage".into(), "shared".into());
        b.insert("shared_storage_holds".into(), "session".into());
    });
    let err = Scenario::load(&file).unwrap_err().to_string();
    assert!(
        err.contains("field `browser.shared_storage_holds`") && err.contains("`protocol` or `auth_server`"),
        "{err}"
    );
}

/// supabase auth-js 2.62: the visibility-change recovery under the Web Lock. Window B, queued
/// behind window A's refresh, is granted the lock and finds A's stored session fresh; a window
/// that becomes visible while the session is fresh keeps it; nothing is violated, over a
/// pinned state space.
#[test]
fn supabase_windows_check_the_session_under_the_lock_and_only_one_refreshes() {
    const SUPABASE: &str = "models/supabase-auth-js-2.62-visibility-recover-under-lock.json";
    let sc = scenario(SUPABASE, None);
    let (_, r) = run(&sc, &CheckOptions::default());
    assert!(r.exhaustive && r.unique_states > 0);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "refresh_succeeds"), Verdict::Reached);
    let files = crate::common::TempFiles::new();
    let text = check_text(&files, &crate::util::root().join(SUPABASE));
    assert!(text.contains("outcome: as expected"), "{text}");
    assert!(
        text.contains("6. tab A    tab A gets 200, refresh token=2; it stores it; tab B is granted the lock; the stored session is fresh (no access token, exp 2; browser clock 1, margin 1): it takes it over and sends no refresh"),
        "{text}"
    );
    assert!(
        text.contains("1. tab A    tab A returns from idle and takes the Web Lock; the stored session is fresh"),
        "{text}"
    );
}

/// With `shared_storage_holds: "session"` an emptied entry holds no credentials: after the
/// sign-out removed it, no requester starts a refresh, whatever its trigger (Auth0.Android's
/// `getCredentials` fails before any request), while the search still reaches the sign-out's
/// answer.
#[test]
fn an_emptied_stored_session_starts_no_refresh() {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model("models/auth0-android-540-renewal-on-stored-expiry.json", "m.json", |v| {
        v["browser"]["sign_outs"] = serde_json::json!(1);
        v["queries"] = serde_json::json!([
            {"name": "refresh-after-sign-out", "description": "d",
             "events": ["TabReceivesLogoutResponse", "TabSendsRefresh"], "expect": "unreachable"},
            {"name": "no-token-refresh", "description": "d", "events": ["TabSendsRefresh text `no token`"], "expect": "unreachable"},
            {"name": "sign-out-answered", "description": "d", "events": ["TabReceivesLogoutResponse"], "expect": "reachable"}
        ]);
    });
    let sc = scenario(path.to_str().unwrap(), None);
    for name in ["refresh-after-sign-out", "no-token-refresh"] {
        let o = crate::util::answered(&sc, name);
        assert!(o.unique_states > 20, "{name}: searched {}", o.unique_states);
    }
    crate::util::query_trace(&sc, "sign-out-answered");
}
