//! A session table written by hand for express-session with a Redis store (`rolling: true`):
//! the `upsert` statement (Redis `SET … EX`), a `request` answer that sets the session cookie,
//! `sign_out_no_session_revived` on a session table, and `logout_revokes_all` firing before
//! the sign-out is answered. Each test pins verdicts, the steps of the trace and the search's
//! state count.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;
use refresh_check::trace;

use crate::util::{answered, checked, find_step, status, trace_of};

const RESAVE: &str = "models/express-session-rolling-resave.json";
const TOUCH: &str = "models/express-session-rolling-touch.json";

/// `resave: true`: tab A's slow request reads the session, tab B's sign-out deletes it, and
/// A's save (`SET … EX`, one upsert) creates the key again. `logout_revokes_all` fires at that
/// write, before the sign-out is answered; once it is answered, A's rolling `Set-Cookie` puts
/// the cookie back in the jar and a later page load is served 200 on the re-created row
/// (`sign_out_no_session_revived`).
#[test]
fn resave_puts_a_destroyed_session_back_and_serves_it() {
    let (sc, m, r) = checked(RESAVE);
    assert!(r.exhaustive);
    assert!(r.unique_states > 20, "{}", r.unique_states);
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    let text = trace::render_text(&t);
    let a_read = find_step(&t, "store", "StoreRunsR1", "for tab A");
    let b_del = find_step(&t, "store", "StoreRunsLogoutDelete", "DELETE WHERE token=1 for tab B");
    let a_set = find_step(
        &t,
        "store",
        "StoreRunsUpsert",
        "UPSERT token=1, expires=8 (one write: inserts the row, or replaces it) for tab A",
    );
    assert!(a_read < b_del && b_del < a_set, "{text}");
    assert_eq!(a_set + 1, t.steps.len(), "it fires at the write: {text}");
    assert!(!t.steps.iter().any(|s| s.action == "TabReceivesLogoutResponse"), "the sign-out is unanswered: {text}");

    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    let text = trace::render_text(&t);
    let b_del = find_step(&t, "store", "StoreRunsLogoutDelete", "for tab B");
    let a_set = find_step(&t, "store", "StoreRunsUpsert", "for tab A");
    // The server answers the sign-out (the DELETE's result for tab B), then A's next request
    // arrives, finds the re-created key, saves it and is answered 200.
    let b_answered = b_del
        + t.steps[b_del..]
            .iter()
            .position(|s| s.action == "ServerReceivesResult" && s.text.contains("for tab B"))
            .unwrap();
    let later = t.steps.iter().rposition(|s| s.action == "ServerReceivesRequest").unwrap();
    assert!(b_del < a_set && a_set < b_answered && b_answered < later, "{text}");
    let refound = later + t.steps[later..].iter().position(|s| s.text.contains("gets row token=1")).unwrap();
    assert!(refound > later, "{text}");
    let last = t.steps.last().unwrap();
    assert!(last.action == "ServerReceivesResult" && last.text.contains("for tab A"), "{text}");
    assert_eq!(t.steps.len(), 19, "{text}");

    let o = answered(&sc, "signed-out-then-served-again");
    assert_eq!(o.answer, Answer::Reachable);
    let t = o.trace.as_ref().unwrap();
    let text = trace::render_text(t);
    let set_cookie = find_step(t, "tab A", "TabReceivesResponse", "Set-Cookie session=1");
    let cleared = t.steps.iter().position(|s| s.action == "TabReceivesLogoutResponse").unwrap();
    assert!(cleared < set_cookie, "{text}");
    // The state agrees with the line: the jar holds the cookie the request's answer set.
    assert!(t.steps[set_cookie].state.jar.as_deref().is_some_and(|j| j.contains("session=1")), "{text}");
}

/// `resave: false`, the session unmodified: the save is a touch (`EXPIRE`), which creates no
/// key. The destroyed session stays gone (`logout_revokes_all` and
/// `sign_out_no_session_revived` hold), but the rolling `Set-Cookie` of the slow answer puts
/// the dead sid back in the jar (`cookie_names_live_session`, and the query).
#[test]
fn touch_only_leaves_the_session_gone_and_sets_a_dead_cookie() {
    let (sc, m, r) = checked(TOUCH);
    assert!(r.exhaustive);
    assert!(r.unique_states > 20, "{}", r.unique_states);
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Holds);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds);
    assert_eq!(status(&r, "cookie_names_live_session"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "cookie_names_live_session");
    let text = trace::render_text(&t);
    let b_del = find_step(&t, "store", "StoreRunsLogoutDelete", "for tab B");
    let a_touch = find_step(&t, "store", "StoreRunsW1Extend", "for tab A");
    assert!(b_del < a_touch, "{text}");
    assert_eq!(answered(&sc, "signed-out-then-served-again").answer, Answer::Unreachable);
    assert_eq!(answered(&sc, "dead-cookie-set-again").answer, Answer::Reachable);
}
