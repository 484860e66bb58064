//! A sign-out under the Web Lock (`browser.sign_out_takes_lock`): supabase/auth-js v2.61.0
//! (`lockNoOp`) and v2.62.0 (`navigatorLock`), the field's effect, and its bad input.

use refresh_check::scenario::Verdict;

use serde_json::json;

use crate::common::TempFiles;
use crate::util::{answered, checked, query_trace, refused_at, root, scenario};

const BEFORE: &str = "models/supabase-auth-js-2.61-sign-out-beside-refresh.json";
const AFTER: &str = "models/supabase-auth-js-2.62-sign-out-under-web-lock.json";
const INVARIANT: &str = "sign-out-leaves-no-session-in-storage";

/// The (actor, action) pairs of a trace.
fn pairs(t: &refresh_check::trace::Trace) -> Vec<(String, String)> {
    t.steps.iter().map(|s| (s.actor.clone(), s.action.clone())).collect()
}

/// v2.61.0: nothing orders tab B's sign-out after tab A's refresh; the server rotates A's
/// token 1, B signs out with the stored token 1 and removes the session, and A's 200 writes
/// the rotated session back: storage holds a session after the sign-out.
#[test]
fn v2_61_a_late_refresh_answer_writes_the_session_back_after_the_sign_out() {
    let (sc, _, r) = checked(BEFORE);
    let inv = answered(&sc, INVARIANT);
    assert_eq!(inv.answer, refresh_check::query::Answer::Violated);
    let t = inv.trace.expect("a counterexample");
    assert_eq!(
        pairs(&t),
        [
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSignsOut"),
            ("server", "ServerReceivesLogout"),
            ("tab B", "TabReceivesLogoutResponse"),
            ("tab A", "TabReceivesRefreshResponse"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(t.steps[1].text.contains("rule `rotate`"), "{}", t.steps[1].text);
    assert!(t.steps[2].text.contains("token=1"), "B signs out with the stored token 1: {}", t.steps[2].text);
    assert!(t.steps[5].text.contains("200"), "{}", t.steps[5].text);
    let q = query_trace(&sc, "late-refresh-answer-restores-the-session");
    assert_eq!(q.steps.len(), t.steps.len());
    assert!(r.unique_states >= 20, "the search was not empty: {}", r.unique_states);
}

/// v2.62.0: tab B's sign-out waits for the Web Lock held by tab A's refresh; granted it once
/// A's answer is stored, it signs out with token 2 and removes the session: storage is empty
/// after every sign-out. Without `sign_out_takes_lock` the same file (Web Locks around the
/// refreshes only) violates the invariant again.
#[test]
fn v2_62_the_sign_out_waits_for_the_refresh_and_leaves_no_session() {
    let (sc, _, r) = checked(AFTER);
    assert_eq!(answered(&sc, INVARIANT).answer, refresh_check::query::Answer::Holds);
    assert!(r.unique_states >= 20, "the search was not empty: {}", r.unique_states);
    let q = query_trace(&sc, "sign-out-waits-for-the-refresh");
    let waits = q.steps.iter().find(|s| s.action == "TabSignsOut").unwrap();
    assert!(waits.text.contains("waits for the Web Lock held by tab A"), "{}", waits.text);
    let granted = q.steps.iter().find(|s| s.text.contains("is granted the lock and sends")).unwrap();
    assert!(granted.text.contains("tab B is granted the lock and sends POST"), "{}", granted.text);
    assert!(granted.text.ends_with("(token=2)"), "B presents the token A stored: {}", granted.text);
    assert_eq!(r.properties.iter().find(|p| p.name == "lp4_lock_not_orphaned").map(|p| p.status), Some(Verdict::Holds));

    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(AFTER)).unwrap();
    let without = text.replacen(",\n    \"sign_out_takes_lock\": true", "", 1).replacen(
        "\"expect\": \"holds\"",
        "\"expect\": \"violated\"",
        1,
    );
    assert_ne!(without, text);
    dir.write("without.json", &without);
    let plain = crate::util::scenario(dir.path().join("without.json").to_str().unwrap(), None);
    assert_eq!(answered(&plain, INVARIANT).answer, refresh_check::query::Answer::Violated);
}

/// Bad input names the file, the line, the field and what is allowed, with exit code 2.
#[test]
fn sign_out_takes_lock_bad_input_is_refused_with_the_field_and_the_line() {
    let src = std::fs::read_to_string(root().join(AFTER)).unwrap();
    let at = "\"sign_out_takes_lock\"";
    let cases = vec![
        (
            src.replacen("\"coordination\": \"web-locks\"", "\"coordination\": \"none\"", 1),
            at,
            "browser.sign_out_takes_lock",
            "\"web-locks\"",
        ),
        (
            src.replacen("\"sign_outs\": 1", "\"sign_outs\": 0", 1),
            at,
            "browser.sign_out_takes_lock",
            "`sign_outs` above 0",
        ),
        (
            src.replacen("\"sign_out_takes_lock\": true", "\"sign_out_takes_lock\": true, \"lock_steal\": true", 1),
            at,
            "browser.sign_out_takes_lock",
            "`lock_steal`",
        ),
        (
            src.replacen("\"sign_out_takes_lock\": true", "\"sign_out_takes_lock\": \"yes\"", 1),
            at,
            "sign_out_takes_lock",
            "`true` or `false`",
        ),
    ];
    refused_at(&src, &cases);
}

/// A tab that waits while another tab's sign-out holds the Web Lock says so (not "held by
/// another tab", which reads as a refresh in flight).
#[test]
fn a_wait_behind_a_sign_out_names_the_signing_out_tab() {
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(AFTER)).unwrap();
    let with = text.replacen(
        "\"queries\": [",
        r#""queries": [
    { "name": "waits-behind-the-sign-out",
      "events": ["tab A TabSignsOut", "tab B TabWaitsForLock", "tab A TabReceivesLogoutResponse"],
      "expect": "reachable" },"#,
        1,
    );
    assert_ne!(with, text);
    dir.write("m.json", &with);
    let sc = crate::util::scenario(dir.path().join("m.json").to_str().unwrap(), None);
    let q = query_trace(&sc, "waits-behind-the-sign-out");
    let wait = q.steps.iter().find(|s| s.action == "TabWaitsForLock").unwrap();
    assert_eq!(wait.text, "tab B returns from idle and waits for the refresh lock held by tab A, which is signing out");
}

/// A tab granted the Web Lock once the sign-out before it emptied the storage sends nothing
/// (auth-js reads the session first and returns): tab B's queued refresh is no request with
/// no token, refused 400, but a log-out in the step that releases the lock. The server
/// receives one request in the whole run, the sign-out.
#[test]
fn a_tab_granted_the_lock_after_the_sign_out_sends_nothing() {
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(AFTER)).unwrap();
    let with = text.replacen(
        "\"queries\": [",
        r#""queries": [
    { "name": "granted-after-the-sign-out",
      "events": ["tab A TabSignsOut", "tab B TabWaitsForLock", "tab A TabReceivesLogoutResponse"],
      "end": "at_rest and tab[B].status == logged_out", "expect": "reachable" },
    { "name": "no-refresh-without-a-token",
      "events": ["tab A TabSignsOut", "tab B TabWaitsForLock", "server ServerReceivesRefresh"],
      "expect": "unreachable" },"#,
        1,
    );
    assert_ne!(with, text);
    dir.write("m.json", &with);
    let sc = crate::util::scenario(dir.path().join("m.json").to_str().unwrap(), None);
    let q = query_trace(&sc, "granted-after-the-sign-out");
    assert_eq!(
        pairs(&q),
        crate::util::owned(&[
            ("tab A", "TabSignsOut"),
            ("server", "ServerReceivesLogout"),
            ("tab B", "TabWaitsForLock"),
            ("tab A", "TabReceivesLogoutResponse"),
        ])
    );
    let last = &q.steps[3].text;
    assert!(
        last.ends_with(
            "its Web Lock is released; tab B is granted the lock, finds no session in storage and sends nothing: it is logged out"
        ),
        "{last}"
    );
    assert!(!last.contains("token=none"), "{last}");
    let o = answered(&sc, "no-refresh-without-a-token");
    assert!(o.unique_states > 10, "{}", o.unique_states);
}

/// With the lock free and the storage emptied by an earlier sign-out, a tab that signs out or
/// refreshes takes the lock, reads no session and sends nothing (auth-js `_useSession`,
/// `__loadSession`): no request leaves a tab without a token, and the step says why.
#[test]
fn with_the_lock_free_a_tab_that_finds_no_session_sends_nothing() {
    let files = TempFiles::new();
    let path = files.copy_model(AFTER, "m.json", |v| {
        v["browser"]["sign_outs"] = json!(2);
        v["queries"] = json!([
            {"name": "no-token-sign-out", "description": "d", "events": ["TabSignsOut text `with no token`"], "expect": "unreachable"},
            {"name": "no-token-request", "description": "d", "events": ["* text `with no token`"], "expect": "unreachable"},
            {"name": "second-sign-out-finds-none", "description": "d",
             "events": ["TabReceivesLogoutResponse", "TabSignsOut text `finds no session`"], "expect": "reachable"},
            {"name": "refresh-finds-none", "description": "d",
             "events": ["TabReceivesLogoutResponse", "TabFindsNoSession"], "expect": "reachable"}
        ]);
    });
    let sc = scenario(path.to_str().unwrap(), None);
    for name in ["no-token-sign-out", "no-token-request"] {
        let o = answered(&sc, name);
        assert!(o.unique_states > 20, "{name}: searched {}", o.unique_states);
    }
    let t = query_trace(&sc, "second-sign-out-finds-none");
    assert_eq!(
        t.steps.last().unwrap().text,
        "the user signs out in tab B: it takes the free Web Lock, finds no session in storage and sends nothing: it is logged out"
    );
    assert!(t.steps.last().unwrap().state.tabs[1].status.starts_with("logged out"));
    let t = query_trace(&sc, "refresh-finds-none");
    let last = t.steps.last().unwrap();
    assert!(
        last.text.ends_with("takes the free Web Lock, finds no session in storage and sends nothing: it is logged out"),
        "{}",
        last.text
    );
}
