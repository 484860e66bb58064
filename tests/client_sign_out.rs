//! Client-side sign-out constructs: the refusal reaction `sign-out-request` (Drips, PR 1884:
//! the refused tab's `logOut()` POSTs the sign-out endpoint with the jar's cookie, the winner's
//! token) and the local-only sign-out `browser.sign_out_request: "none"` (clerk/cli before PR
//! 418). Each counterexample is pinned step by step; each construct's variant shows it changes
//! the verdict; bad input is refused with the field.

use refresh_check::scenario::Verdict;

use crate::common::pinned;
use crate::util::{last_store, query_trace, root, status};

const DRIPS: &str = "models/drips-pr1884-loser-signs-the-winner-out.json";
const CLERK_BEFORE: &str = "models/clerk-cli-pr418-local-logout-leaves-the-grant.json";
const CLERK_AFTER: &str = "models/clerk-cli-pr418-logout-revokes-the-grant.json";

/// Drips: A's refresh is rotated and stored, B's is refused, B's sign-out request carries the
/// jar's token 2 (the winner's) and the server revokes A's session: A is left holding a dead
/// cookie at rest. The user's ground truth is untouched (no sign-out completes).
#[test]
fn drips_loser_signs_the_winner_out() {
    let (sc, _, r, t) = pinned(
        DRIPS,
        10,
        "no_dead_credential_at_rest",
        &[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("tab B", "TabReceivesRefreshResponse"),
            ("server", "ServerReceivesFollowUp"),
            ("tab B", "TabReceivesFollowUpResponse"),
        ],
    );
    assert!(t.steps[3].text.contains("rule `revoked token: refused` → invalid_grant"), "{}", t.steps[3].text);
    assert_eq!(t.steps[4].text, "tab A gets 200, refresh token=2; it stores it");
    assert_eq!(
        t.steps[5].text,
        "tab B gets 401 invalid_grant, sends the sign-out request with the refresh token it holds now (refresh_token=2) and is logged out"
    );
    assert!(
        t.steps[6].text.contains("POST /api/auth/logout (refresh_token=2) (a reaction to its failed refresh, not the user's sign-out): rule `logout ends the session`"),
        "{}",
        t.steps[6].text
    );
    let store = last_store(&t).join("\n");
    assert!(store.contains("token=2") && !store.contains("active"), "every token revoked:\n{store}");
    assert_eq!(t.steps[7].state.tabs[0].status, "idle");
    assert_eq!(status(&r, "sign_out_completes"), Verdict::Unreached);
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Holds);
    let q = query_trace(&sc, "loser-signs-the-winner-out");
    assert_eq!(q.steps.len(), 7);
}

/// The reaction's effect: the same file whose refusal only logs the tab out keeps the winner's
/// session live (the loser's spurious logout stays).
#[test]
fn drips_without_the_sign_out_request_keeps_the_winner() {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(DRIPS, "local.json", |doc| {
        doc["browser"]["on_refused"] = serde_json::json!(["log-out"]);
        for k in ["queries", "expect"] {
            doc.remove(k);
        }
    });
    let sc = crate::util::scenario(path.to_str().unwrap(), None);
    let (_, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "no_dead_credential_at_rest"), Verdict::Holds);
    assert_eq!(status(&r, "converges_to_live_token"), Verdict::Holds);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
}

/// clerk/cli before PR 418: the user's sign-out clears the store and sends nothing; the token
/// stays active on the server at rest.
#[test]
fn clerk_local_logout_leaves_the_grant() {
    let (sc, _, r) = crate::util::checked(CLERK_BEFORE);
    assert!(r.unique_states >= 6, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sign_out_completes"), Verdict::Unreached);
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Holds);
    let o = crate::util::answered(&sc, "sign-out-ends-the-server-session");
    let t = o.trace.expect("a counterexample");
    assert_eq!(t.steps.len(), 1);
    assert_eq!((t.steps[0].actor.as_str(), t.steps[0].action.as_str()), ("process A", "TabSignsOut"));
    assert_eq!(
        t.steps[0].text,
        "the user signs out in process A: the client clears its stored session and sends nothing (a local-only sign-out): it is logged out, and the server is not told"
    );
    assert_eq!(t.steps[0].state.tabs[0].status, "logged out");
    assert!(last_store(&t).iter().any(|r| r.starts_with("token=1") && r.ends_with("active")), "{:?}", last_store(&t));
}

/// After PR 418 (the default `sent`): the revocation ends the grant; and the after-file with
/// `sign_out_request: "none"` is violated again: the field is what changes the verdict.
#[test]
fn clerk_logout_that_revokes_ends_the_grant() {
    let (sc, _, r) = crate::util::checked(CLERK_AFTER);
    assert!(r.unique_states >= 10, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sign_out_completes"), Verdict::Reached);
    assert_eq!(
        crate::util::answered(&sc, "sign-out-ends-the-server-session").answer,
        refresh_check::query::Answer::Holds
    );
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(CLERK_AFTER, "local.json", |doc| {
        doc["browser"]["sign_out_request"] = serde_json::json!("none");
        doc.remove("expect");
        doc["queries"][0].as_object_mut().unwrap().remove("expect");
    });
    let sc = crate::util::scenario(path.to_str().unwrap(), None);
    let m = refresh_check::model::build(&sc);
    let cfg = refresh_check::search::SearchConfig::default();
    let o = refresh_check::query::answer(&m, &sc.path, &sc.name, sc.browser.tabs, &sc.queries[0], &cfg);
    assert_eq!(o.answer, refresh_check::query::Answer::Violated);
}

/// Bad input names the file, the line, the field and what is expected, with exit code 2.
#[test]
fn client_sign_out_bad_input_is_refused_with_the_field() {
    let drips = std::fs::read_to_string(root().join(DRIPS)).unwrap();
    let clerk = std::fs::read_to_string(root().join(CLERK_BEFORE)).unwrap();
    let cases = vec![
        (
            drips.replace(
                "\"on_refused\": [\n      \"sign-out-request\",\n      \"log-out\"\n    ]",
                "\"on_refused\": [\"sign-out-request\", \"sign-out-request\", \"log-out\"]",
            ),
            "\"on_refused\"",
            "browser.on_refused[1]",
            "at most once in a list",
        ),
        (
            drips.replace("\"mode\": \"cookie\",", "\"mode\": \"cookie\", \"requesters_per_tab\": 2,"),
            "\"sign-out-request\"",
            "browser.on_refused[0]",
            "`requesters_per_tab` 1",
        ),
        (
            drips.replace(
                "\"mode\": \"cookie\",",
                "\"mode\": \"cookie\", \"retries_per_tab\": 1, \"on_timeout\": [\"sign-out-request\", \"log-out\"],",
            ),
            "\"mode\"",
            "browser.on_timeout[0]",
            "a reaction of a refresh's error lists only",
        ),
    ];
    crate::util::refused_at(&drips, &cases.iter().map(|(a, b, c, d)| (a.clone(), *b, *c, *d)).collect::<Vec<_>>());
    let cases = vec![
        (
            clerk.replace("\"sign_outs\": 1,", "\"sign_outs\": 0,"),
            "\"sign_out_request\"",
            "browser.sign_out_request",
            "`sign_outs` above 0",
        ),
        (
            clerk.replace("\"sign_outs\": 1,", "\"sign_outs\": 1, \"sign_out_notice\": \"storage-event\","),
            "\"sign_out_request\"",
            "browser.sign_out_request",
            "no `sign_out_notice`",
        ),
    ];
    crate::util::refused_at(&clerk, &cases.iter().map(|(a, b, c, d)| (a.clone(), *b, *c, *d)).collect::<Vec<_>>());
}
