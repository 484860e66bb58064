//! A sign-out that reaches the other tabs (`browser.sign_out_notice`, `on_sign_out_notice`,
//! `on_ok_after_sign_out_notice`): the models of the user's protocol (a sign-out broadcast
//! and a refresh in flight), the effect of each value, and the refusals.

use refresh_check::query::Answer;
use refresh_check::scenario::Scenario;

use crate::util::{actions, answered, owned, scenario, steps};

const STORED: &str = "models/signout-broadcast-late-refresh-stored.json";
const DROPPED: &str = "models/signout-broadcast-late-refresh-dropped.json";
const STORAGE_EVENT: &str = "models/signout-storage-event-late-refresh-dropped.json";
const INVARIANT: &str = "no-tab-keeps-a-working-session";

/// The reported interleaving, step by step: tab A's refresh is rotated, tab B signs out (the
/// family, token 2 included, is revoked), the broadcast reaches A before A's answer, and A
/// then stores the answer: A is signed in with access token 2, which the sign-out never
/// revoked, and the session is back in `localStorage`.
#[test]
fn a_late_refresh_answer_stored_after_the_broadcast_keeps_a_working_session() {
    let sc = scenario(STORED, None);
    let o = answered(&sc, INVARIANT);
    assert_eq!(o.answer, Answer::Violated);
    let t = o.trace.as_ref().unwrap();
    assert_eq!(
        steps(t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab B", "TabSignsOut"),
            ("server", "ServerReceivesLogout"),
            ("tab B", "TabReceivesLogoutResponse"),
            ("tab A", "TabHearsSignOut"),
            ("tab A", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[1].text.contains("rule `rotate` → ok minted"), "{}", t.steps[1].text);
    assert!(t.steps[5].text.contains("BroadcastChannel message reaches tab A; it drops its tokens and is logged out, with its refresh still in flight"), "{}", t.steps[5].text);
    assert_eq!(t.steps[5].state.tabs[0].status, "logged out");
    assert_eq!(t.steps[5].state.jar, None, "localStorage empty");
    assert!(
        t.steps[6].text.contains("after it was told of the sign-out: it stores the new tokens"),
        "{}",
        t.steps[6].text
    );
    let end = &t.steps[6].state;
    assert_eq!(end.tabs[0].status, "idle");
    assert_eq!(end.jar.as_deref(), Some("localStorage refresh_token=2"));
    // The server did its part: the rotated token is revoked, the access JWT is not.
    assert!(end.store.iter().any(|r| r == "token=2 family=0 gen=1 parent=1 revoked"), "{:?}", end.store);
    // The catalogue's sign-out properties judge the server and hold: it rotated before the
    // revocation and answered nothing 2xx after the sign-out.
    let (_, r) = crate::util::run(&sc, &Default::default());
    for p in ["logout_revokes_all", "sign_out_no_session_revived", "sign_out_no_dead_token_handed_out"] {
        assert_eq!(crate::util::status(&r, p), refresh_check::scenario::Verdict::Holds, "{p}");
    }
    assert_eq!(answered(&sc, "late-refresh-answer-signs-a-tab-in-again").answer, Answer::Reachable);
}

/// The fix: a tab the notice logged out drops its refresh's later 2xx. The invariant holds
/// over a non-empty search, and the race still happens (the answer arrives and is dropped).
#[test]
fn dropping_the_late_answer_ends_the_session_in_every_tab() {
    for file in [DROPPED, STORAGE_EVENT] {
        let sc = scenario(file, None);
        let o = answered(&sc, INVARIANT);
        assert_eq!(o.answer, Answer::Holds, "{file}");
        assert!(o.unique_states > 100, "{file}: {} states", o.unique_states);
        assert_eq!(answered(&sc, "late-refresh-answer-signs-a-tab-in-again").answer, Answer::Unreachable);
        let o = answered(&sc, "late-refresh-answer-dropped");
        let t = o.trace.as_ref().unwrap();
        assert_eq!(
            actions(t),
            [
                "TabSendsRefresh",
                "ServerReceivesRefresh",
                "TabSignsOut",
                "ServerReceivesLogout",
                "TabReceivesLogoutResponse",
                "TabHearsSignOut",
                "TabReceivesRefreshResponse"
            ]
        );
        let heard = &t.steps[5].text;
        let how = if file == STORAGE_EVENT { "the `storage` event" } else { "BroadcastChannel message" };
        assert!(heard.contains(how), "{heard}");
        let last = &t.steps[6];
        assert!(last.text.contains("it drops the answer and stays logged out"), "{}", last.text);
        assert_eq!(last.state.tabs[1].status, "logged out");
        assert_eq!(last.state.jar, None, "localStorage empty");
    }
}

/// Each value's effect, on copies of the stored model: no notice, or a notice ignored, leaves
/// the idle tab its live access token; a `storage` event with `store` has the race too.
#[test]
fn each_notice_value_has_its_effect() {
    let files = crate::common::TempFiles::new();
    let variant = |name: &str, edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let path = files.copy_model(STORED, name, |m| {
            edit(m["browser"].as_object_mut().unwrap());
            m["queries"].as_array_mut().unwrap().truncate(1);
            m["queries"][0]["expect"] = "violated".into(); // each variant below keeps a working session
        });
        let sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        answered(&sc, INVARIANT)
    };
    // No notice: the other tab, idle, keeps its access JWT after the sign-out.
    let none = variant("none.json", &|b| {
        b.remove("on_sign_out_notice");
        b.remove("on_ok_after_sign_out_notice");
        b.insert("sign_out_notice".into(), "none".into());
    });
    assert_eq!(none.answer, Answer::Violated);
    assert_eq!(
        actions(none.trace.as_ref().unwrap()),
        ["TabSignsOut", "ServerReceivesLogout", "TabReceivesLogoutResponse"]
    );
    // Ignored: the same, with the notice delivered.
    let ignored = variant("ignore.json", &|b| {
        b.remove("on_ok_after_sign_out_notice");
        b.insert("on_sign_out_notice".into(), "ignore".into());
    });
    assert_eq!(ignored.answer, Answer::Violated);
    assert!(actions(ignored.trace.as_ref().unwrap()).contains(&"TabHearsSignOut".to_string()));
    // The `storage` event of the removal, with `store`: the same race as the broadcast's.
    let storage = variant("storage.json", &|b| {
        b.insert("sign_out_notice".into(), "storage-event".into());
    });
    assert_eq!(storage.answer, Answer::Violated);
    let t = storage.trace.as_ref().unwrap();
    assert!(t.steps[5].text.contains("the `storage` event of the sign-out's removal"), "{}", t.steps[5].text);
    assert_eq!(t.steps.len(), 7);
}

/// Refusals (exit 2, the file and the field, never a panic).
#[test]
fn the_notice_fields_are_refused_where_they_mean_nothing() {
    let files = crate::common::TempFiles::new();
    type Edit = fn(&mut serde_json::Map<String, serde_json::Value>);
    let cases: [(&str, Edit, &str); 8] = [
        (
            "without a notice",
            |b| {
                b.remove("sign_out_notice");
            },
            "field `browser.on_sign_out_notice`",
        ),
        (
            "drop with ignore",
            |b| {
                b.insert("on_sign_out_notice".into(), "ignore".into());
            },
            "field `browser.on_ok_after_sign_out_notice`: found \"drop\" with `on_sign_out_notice: \"ignore\"`",
        ),
        (
            "no sign-outs",
            |b| {
                b.insert("sign_outs".into(), 0.into());
            },
            "field `browser.sign_out_notice`: found \"broadcast-channel\", expected \"none\" without `sign_outs`",
        ),
        (
            "storage event without a shared entry",
            |b| {
                b.insert("sign_out_notice".into(), "storage-event".into());
                b.insert("json_storage".into(), "per-tab".into());
            },
            "a `storage` event fires only when the sign-out removes a shared `localStorage` entry",
        ),
        (
            "web locks",
            |b| {
                b.insert("coordination".into(), "web-locks".into());
            },
            "expected \"none\" with `coordination` other than \"none\"",
        ),
        (
            "retries",
            |b| {
                b.insert("retries_per_tab".into(), 1.into());
            },
            "expected \"none\" with `retries_per_tab`",
        ),
        (
            "unknown value",
            |b| {
                b.insert("sign_out_notice".into(), "postmessage".into());
            },
            "unknown variant `postmessage`, expected one of `none`, `storage-event`, `broadcast-channel`",
        ),
        (
            "listener with per-tab storage",
            |b| {
                b.remove("sign_out_notice");
                b.remove("on_sign_out_notice");
                b.remove("on_ok_after_sign_out_notice");
                b.insert("json_storage".into(), "per-tab".into());
                b.insert("on_stored_token_cleared".into(), "log-out".into());
            },
            "field `browser.on_stored_token_cleared`: found \"log-out\", expected \"ignore\" unless a reaction clears what the tabs share",
        ),
    ];
    for (i, (what, edit, says)) in cases.into_iter().enumerate() {
        let name = format!("bad{i}.json");
        let file = files.copy_model(DROPPED, &name, |m| edit(m["browser"].as_object_mut().unwrap()));
        let out = crate::util::cli(files.path(), &["check", file.to_str().unwrap(), "--no-traces"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(&format!("{name}:")) && err.contains(says), "{what}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `on_stored_token_cleared: "log-out"` with sign-outs must say what the sign-out's `storage`
/// event does; with `sign_out_notice: "storage-event"` the same model is accepted.
#[test]
fn the_cleared_token_listener_with_sign_outs_needs_the_sign_out_event() {
    let files = crate::common::TempFiles::new();
    const GOTRUE: &str = "models/gotrue-js-v1-storage-listener-signs-out-every-tab.json";
    let refused = files.copy_model(GOTRUE, "refused.json", |m| {
        m["browser"].as_object_mut().unwrap().insert("sign_outs".into(), 1.into());
    });
    let out = crate::util::cli(files.path(), &["check", refused.to_str().unwrap(), "--no-traces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("field `browser.on_stored_token_cleared`") && err.contains("sign_out_notice: \"storage-event\""),
        "{err}"
    );
    let accepted = files.copy_model(GOTRUE, "accepted.json", |m| {
        let b = m["browser"].as_object_mut().unwrap();
        b.insert("sign_outs".into(), 1.into());
        b.insert("sign_out_notice".into(), "storage-event".into());
    });
    let sc = Scenario::load(&accepted).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.browser.sign_out_notice, refresh_check::model::policy::SignOutNotice::StorageEvent);
    // The shipped model itself (no sign-outs) is unchanged and still accepted.
    scenario(GOTRUE, None);
}
