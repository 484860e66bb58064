//! "Sign out everywhere" (`evicts: "others"` on a `sign_out` rule) racing another device's
//! refresh (geolens PR 1446): the ground truth excuses the other device's logout, and the
//! sign-out properties judge every session the sign-out ended; `browser.sign_out_from` names the
//! device that signs out.

use refresh_check::scenario::Verdict;

use crate::util::{checked, cli, status, steps, trace_of};

const RACE: &str = "models/geolens-pr1446-rotation-races-sign-out-everywhere.json";
const FIX: &str = "models/geolens-c31a9af-rotation-serialized-with-sign-out.json";

/// The review's interleaving: device 1's refresh selects its row, device 2 signs out
/// everywhere (ending device 1's session), then device 1's rotation inserts token 3 and the
/// device stores it: `eviction_completes` names it at rest (7 steps), `logout_revokes_all` at
/// the insert (5 steps).
#[test]
fn a_rotation_after_sign_out_everywhere_keeps_the_other_device_signed_in() {
    let (sc, m, r) = checked(RACE);
    assert_eq!(status(&r, "eviction_completes"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "eviction_completes");
    let expected = [
        ("tab 1A", "TabSendsRefresh"),
        ("server", "ServerReceivesRefresh"),
        ("tab 2A", "TabSignsOut"),
        ("server", "ServerReceivesLogout"),
        ("tab 2A", "TabReceivesLogoutResponse"),
        ("server", "ServerWritesRefresh"),
        ("tab 1A", "TabReceivesRefreshResponse"),
    ];
    let got = steps(&t);
    assert_eq!(got, crate::util::owned(&expected), "{got:#?}");
    let text: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    assert!(text[1].contains("refresh_token=1") && text[1].contains("rule `active` → continue"), "{}", text[1]);
    assert!(
        text[3].contains("refresh_token=2") && text[3].contains("its rules end device 1's session too"),
        "{}",
        text[3]
    );
    assert!(text[5].contains("device 1 tab A's refresh") && text[5].contains("→ ok minted"), "{}", text[5]);
    assert!(text[6].contains("device 1 tab A gets 200, refresh token=3; it stores it"), "{}", text[6]);
    // At rest device 1 holds token 3, active, of the session the sign-out ended.
    let last = &t.steps.last().unwrap().state;
    assert!(last.store.iter().any(|row| row.starts_with("token=3 ") && row.contains("active")), "{:?}", last.store);

    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    assert_eq!(steps(&t), crate::util::owned(&expected[..4].iter().copied().chain([expected[5]]).collect::<Vec<_>>()));
    // Device 1's logout would be the sign-out's intent: not a spurious one.
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
}

/// The fix re-reads the row under the lock: device 1's refresh is refused once the sign-out
/// has revoked its token, and that logout is the user's intent.
#[test]
fn a_rotation_serialized_with_the_sign_out_holds() {
    let (_, _, r) = checked(FIX);
    for p in [
        "eviction_completes",
        "logout_revokes_all",
        "sign_out_no_session_revived",
        "no_spurious_logout",
        "converges_to_live_token",
        "no_dead_credential_at_rest",
    ] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    assert!(r.unique_states > 50, "{}", r.unique_states);
}

/// Without `evicts`, the same sign-out's ending of device 1's session is not the user's
/// intent (Keycloak issue 26532's shape): device 1's refused refresh is a spurious logout, and
/// the eviction properties do not apply.
#[test]
fn without_evicts_the_other_device_is_not_excused() {
    let dir = crate::common::TempFiles::new();
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(crate::util::root().join(FIX)).unwrap()).unwrap();
    m["protocol"]["sign_out"]["rules"][0].as_object_mut().unwrap().remove("evicts");
    m.as_object_mut().unwrap().remove("expect");
    m.as_object_mut().unwrap().remove("queries");
    std::fs::write(dir.path().join("m.json"), serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let out = cli(dir.path(), &["check", "m.json", "--no-traces", "--format", "json", "--threads", "1"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = |name: &str| {
        report["properties"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["status"].clone()
    };
    assert_eq!(verdict("no_spurious_logout"), "violated");
    assert_eq!(verdict("eviction_completes"), "holds");
}

/// `browser.sign_out_from`: only that device signs out (the shortest counterexample of the
/// race model has device 2 signing out; with device 1 the roles swap). Refused outside 1 to
/// `devices`, without `sign_outs`; `evicts` other than `others` on a sign-out, and on a
/// sign-out that revokes only its own family, is refused too (exit 2, naming the field).
#[test]
fn sign_out_from_and_sign_out_evicts_are_validated_and_take_effect() {
    let dir = crate::common::TempFiles::new();
    let write = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(crate::util::root().join(RACE)).unwrap()).unwrap();
        m.as_object_mut().unwrap().remove("expect");
        m.as_object_mut().unwrap().remove("queries");
        edit(&mut m);
        std::fs::write(dir.path().join("m.json"), serde_json::to_string_pretty(&m).unwrap()).unwrap();
    };
    let refused = |field: &str, hint: &str| {
        let out = cli(dir.path(), &["models", "validate", "m.json"]);
        assert_eq!(out.status.code(), Some(2), "{field}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("m.json:") && e.contains(field) && e.contains(hint), "{field}: {e}");
    };
    write(&|m| m["browser"]["sign_out_from"] = 3.into());
    refused("browser.sign_out_from", "a device from 1 to 2");
    write(&|m| m["browser"]["sign_outs"] = 0.into());
    refused("browser.sign_out_from", "`sign_outs` above 0");
    write(&|m| m["protocol"]["sign_out"]["rules"][0]["evicts"] = "oldest".into());
    refused("evicts", "\"others\" in a `sign_out` rule");
    write(&|m| m["protocol"]["sign_out"]["rules"][0]["do"] = serde_json::json!(["revoke family"]));
    refused("evicts", "revokes only the presented token's family");

    // Accepted, and the summary says who signs out.
    write(&|m| m["browser"]["sign_out_from"] = 1.into());
    let out = cli(dir.path(), &["models", "validate", "m.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 refresh and 0 requests per tab, 0 ticks; 1 sign-out, from device 1)"), "{text}");
    // Device 1 signs out; device 2's refresh is the one that races it.
    let out = cli(dir.path(), &["check", "m.json", "--no-traces"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("the user signs out in device 1 tab A") && !text.contains("signs out in device 2"), "{text}");
    assert!(text.contains("its rules end device 2's session too"), "{text}");
}

/// `models validate` counts in the right number and names the server-side render paths.
#[test]
fn validate_summary_names_ssr_paths() {
    let dir = crate::common::TempFiles::new();
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(crate::util::root().join(FIX)).unwrap()).unwrap();
    m["browser"] = serde_json::json!({"tabs": 2, "ssr_paths": 1, "refreshes_per_tab": 2, "mode": "cookie"});
    m["protocol"]["sign_out"]["rules"][0].as_object_mut().unwrap().remove("evicts");
    m.as_object_mut().unwrap().remove("expect");
    m.as_object_mut().unwrap().remove("queries");
    std::fs::write(dir.path().join("m.json"), serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let out = cli(dir.path(), &["models", "validate", "m.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 tabs, 2 refreshes and 0 requests per tab, 0 ticks; the first tab a server-side render path)"),
        "{text}"
    );
}

/// "Sign out other devices" on the sign-out endpoint (`revoke user except family`, with
/// `evicts: "others"`; better-auth's `revokeOtherSessions`): the rule keeps the acting
/// session, so the ground truth keeps its family alive. Device 2's other tab refreshes with
/// that family's token after the sign-out and is served: no revival, no token minted into a
/// signed-out family. Device 1's session, which the rule ended, is still judged (its refresh
/// is refused, the sign-out's intent). Before, the spared family was marked signed out and
/// both properties were violated by device 2B's own refresh.
#[test]
fn a_sign_out_of_the_other_devices_keeps_the_acting_session_alive() {
    let files = crate::common::TempFiles::new();
    let f = files.copy_model(RACE, "others.json", |v| {
        v["protocol"]["sign_out"]["rules"][0]["do"] = serde_json::json!(["revoke user except family"]);
        v["protocol"]["refresh"]["steps"] = serde_json::json!([{ "name": "rotate", "rules": [
            { "name": "active", "when": "presented.status == active",
              "do": ["supersede presented", "mint child"], "reply": "ok minted" },
            { "name": "not active", "reply": "invalid_grant" } ] }]);
        v["browser"]["tabs"] = 2.into();
        v.remove("expect");
        v.insert(
            "queries".into(),
            serde_json::json!([{ "name": "kept-tab-served-after-sign-out",
                "events": ["tab 2A TabReceivesLogoutResponse", "tab 2B TabSendsRefresh",
                           "tab 2B TabReceivesRefreshResponse status 200"], "expect": "reachable" }]),
        );
    });
    let sc = refresh_check::scenario::Scenario::load(&f).unwrap();
    let (_, r) = crate::util::run(&sc, &Default::default());
    assert!(r.states > 100, "{}", r.states);
    for p in ["sign_out_no_session_revived", "logout_revokes_all", "sign_out_no_dead_token_handed_out"] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    // The query's example: device 2 signs out the other devices, then its other tab's refresh
    // of the kept family is answered 200 with a new token.
    let t = crate::util::query_trace(&sc, "kept-tab-served-after-sign-out");
    let text: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    let at = text.iter().position(|s| s.contains("device 2 tab B gets 200")).unwrap();
    assert!(text[..at].iter().any(|s| s.contains("device 2 tab A gets 200 signed_out")), "{text:#?}");
}

/// "Sign out other devices" keeps the acting session valid in the ground truth once the server
/// has run the rule: the state view's `session_valid[2]` is true after device 2's sign-out is
/// answered (before, the click set it false for good, though the spared token was active). A
/// sign-out that ends the device's own session (`revoke user`, the race model's rule) leaves
/// it false.
#[test]
fn a_sign_out_that_keeps_the_acting_session_leaves_it_valid() {
    let files = crate::common::TempFiles::new();
    let query = |expect: &str| {
        serde_json::json!([{ "name": "valid-after-sign-out",
            "events": ["tab 2A TabReceivesLogoutResponse"], "end": "session_valid[2] and signed_out[2]",
            "expect": expect }])
    };
    let kept = files.copy_model(RACE, "kept.json", |v| {
        v["protocol"]["sign_out"]["rules"][0]["do"] = serde_json::json!(["revoke user except session"]);
        v.remove("expect");
        v.insert("queries".into(), query("reachable"));
    });
    let sc = refresh_check::scenario::Scenario::load(&kept).unwrap();
    let t = crate::util::query_trace(&sc, "valid-after-sign-out");
    let text: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    assert!(text.last().unwrap().contains("device 2 tab A gets 200 signed_out"), "{text:#?}");
    let ended = files.copy_model(RACE, "ended.json", |v| {
        v.remove("expect");
        v.insert("queries".into(), query("unreachable"));
    });
    let sc = refresh_check::scenario::Scenario::load(&ended).unwrap();
    let o = crate::util::answered(&sc, "valid-after-sign-out");
    assert!(o.unique_states > 50, "{}", o.unique_states);
}

/// A sign-in again sent before the sign-out and served after it (device 2 signs in again, then
/// signs out; the server serves the sign-out, then the sign-in): the new session is one the
/// user asked for, not the signed-out one revived, and its refresh answered 2xx is no revival.
/// The signed-out family stays judged: `logout_revokes_all` still reports the race the model
/// is about.
#[test]
fn a_sign_in_served_after_the_sign_out_is_no_revival() {
    let files = crate::common::TempFiles::new();
    let f = files.copy_model(RACE, "re-sign-in.json", |v| {
        v["browser"]["re_sign_ins"] = 1.into();
        v.remove("expect");
        v.insert(
            "queries".into(),
            serde_json::json!([{ "name": "sign-in-served-after-sign-out",
                "events": ["tab 2A DeviceSignsIn", "tab 2A TabSignsOut", "server ServerReceivesLogout",
                           "server ServerReceivesSignIn", "tab 2A TabReceivesLogoutResponse",
                           "tab 2A TabReceivesSignInResponse", "tab 2A TabSendsRefresh",
                           "tab 2A TabReceivesRefreshResponse status 200"], "expect": "reachable" }]),
        );
    });
    let sc = refresh_check::scenario::Scenario::load(&f).unwrap();
    let (_, r) = crate::util::run(&sc, &Default::default());
    assert!(r.states > 1000, "{}", r.states);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds);
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Violated);
    let t = crate::util::query_trace(&sc, "sign-in-served-after-sign-out");
    let last = &t.steps.last().unwrap().text;
    assert!(last.contains("device 2 tab A gets 200"), "{last}");
}

/// "Sign out other devices" (`revoke user except session`) served by one of two nodes
/// (`replicas: 2`, the sign-out routed to a node by the load balancer), one device of two
/// tabs: a node whose copy holds the presented token runs the rule, which keeps the acting
/// session, so the device's user is not marked signed out and tab B's later refresh of the kept
/// family is no revival. Before, the two-node path marked the user signed out whatever the rule
/// kept, and `sign_out_no_session_revived` was violated in 6 steps (the sign-out served by the
/// node that had rotated, then tab B's refresh). What remains (10 steps) is a real finding: a
/// sign-out routed to the node whose copy does not hold the presented token yet runs no rule
/// and revokes nothing, yet answers that the user is signed out; the user clicked sign out and
/// was told it was done, so the session the other copy still serves to tab B is reported, and
/// the trace says that the node ran no rule.
#[test]
fn a_sign_out_of_the_other_devices_on_two_nodes_keeps_the_acting_session_alive() {
    let files = crate::common::TempFiles::new();
    let f = files.copy_model(RACE, "others-two-nodes.json", |v| {
        v["name"] = "others-two-nodes".into();
        v["protocol"]["replicas"] = 2.into();
        v["protocol"]["sign_out"]["rules"][0]["do"] = serde_json::json!(["revoke user except session"]);
        v["protocol"]["sign_out"]["rules"][0].as_object_mut().unwrap().remove("evicts");
        v["protocol"]["refresh"] = serde_json::json!({ "rules": [
            { "name": "active", "when": "presented.status == active",
              "do": ["supersede presented", "mint child"], "reply": "ok minted" },
            { "name": "not active", "reply": "invalid_grant" } ] });
        v["browser"]["devices"] = 1.into();
        v["browser"]["tabs"] = 2.into();
        v["browser"]["refreshes_per_tab"] = 1.into();
        v["browser"].as_object_mut().unwrap().remove("sign_out_from");
        v.remove("expect");
        v.remove("queries");
    });
    let sc = refresh_check::scenario::Scenario::load(&f).unwrap();
    let (m, r) = crate::util::run(&sc, &Default::default());
    assert!(r.states > 100, "{}", r.states);
    for p in ["logout_revokes_all", "sign_out_no_dead_token_handed_out"] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Violated);
    let t = crate::util::trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    assert_eq!(t.steps.len(), 10, "the 6-step report of a rule that kept the session is gone");
    let text: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    let sign_out = text.iter().position(|s| s.contains("routes tab A's sign-out")).unwrap();
    assert!(
        text[sign_out].contains("has no token=")
            && text[sign_out]
                .contains(": it runs no sign-out rule and revokes nothing, yet answers that the user is signed out"),
        "{text:#?}"
    );
    assert!(text[sign_out + 1..].iter().any(|s| s.contains("routes tab B's refresh (token=1)")), "{text:#?}");

    // The same rule that also revokes the acting family (`revoke family` beside the `except`)
    // keeps nothing: the sign-out ends the session, and tab B's refresh served after it on the
    // other node is reported in 6 steps, as with `revoke family` alone.
    let f = files.copy_model(RACE, "others-and-family.json", |v| {
        let base: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sc.path.clone()).unwrap()).unwrap();
        *v = base.as_object().unwrap().clone();
        v["protocol"]["sign_out"]["rules"][0]["do"] =
            serde_json::json!(["revoke user except session", "revoke family"]);
    });
    let sc = refresh_check::scenario::Scenario::load(&f).unwrap();
    let (_, r) = crate::util::run(&sc, &Default::default());
    for p in ["logout_revokes_all", "sign_out_no_session_revived"] {
        assert_eq!(status(&r, p), Verdict::Violated, "{p}");
        assert_eq!(r.properties.iter().find(|x| x.name == p).unwrap().steps, Some(6), "{p}");
    }
}
