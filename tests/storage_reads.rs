//! An attacker who reads the browser's storage once (`attacker.steals: "once"`) and a refresh
//! the browser aborts (`browser.aborts_per_tab`, `browser.on_aborted`): each construct in a
//! shipped model with its verdicts and the interleaving its source describes, its fix or
//! counterpart, the default that changes nothing, and its bad input.

use refresh_check::scenario::Verdict;

use crate::util::{checked, pair, root, status, steps, trace_of};

/// RFC 9700 §4.14.2 against Auth0's rotation with Automatic Reuse Detection and no reuse
/// interval: a theft at one moment is detected whenever the user and the attacker both use the
/// family; with the Reuse Interval (leeway) the attacker's replay inside it forks the family
/// unnoticed, as Auth0's docs say ("during the leeway window the breach detection features
/// don't apply").
#[test]
fn a_one_time_theft_is_detected_without_a_reuse_interval_and_missed_inside_one() {
    let (_, _, r) = checked("models/auth0-rotation-theft-read-once.json");
    assert_eq!(status(&r, "reuse_detected_after_theft"), Verdict::Holds);
    assert_eq!(status(&r, "theft_detected"), Verdict::Holds);
    assert_eq!(status(&r, "sp4_theft_contained"), Verdict::Holds);
    assert_eq!(status(&r, "attacker_redeems"), Verdict::Reached);
    assert!(r.unique_states >= 50, "the search was not empty: {}", r.unique_states);

    let (sc, m, r) = checked("models/auth0-leeway-theft-read-once.json");
    assert_eq!(status(&r, "reuse_detected_after_theft"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "reuse_detected_after_theft");
    assert_eq!(steps(&t), LEEWAY_STEPS.iter().map(|(a, b)| pair(a, b)).collect::<Vec<_>>());
    let text = |i: usize| t.steps[i].text.clone();
    let read = t.steps.iter().position(|s| s.action == "AttackerReadsStorage").unwrap();
    assert!(text(read).ends_with("copies refresh token=2"), "{}", text(read));
    let redeem = t.steps.iter().position(|s| s.action == "AttackerRedeems").unwrap();
    assert!(text(redeem).contains("refresh_token=2"), "{}", text(redeem));
    let served = t.steps.iter().rposition(|s| s.action == "ServerReceivesRefresh").unwrap();
    assert!(text(served).contains("a new sibling"), "{}", text(served));
}

/// The storage the attacker reads is the storage at that moment: before the read it holds
/// nothing (no redemption can come first), while a read with the tab's refresh in flight
/// copies the token the tab still holds.
#[test]
fn the_attacker_copies_nothing_before_it_reads() {
    use refresh_check::model::{self, RefreshModel, State};
    fn holds_before_reading(m: &RefreshModel, s: &State) -> bool {
        m.cfg.browsers.iter().any(|&b| {
            let a = model::browser_at(s, b);
            a.attacker.is_some_and(|x| !x.has_read && (x.attempts_left == 0 || !a.held.tokens.is_empty()))
        })
    }
    fn read_while_refreshing(m: &RefreshModel, s: &State) -> bool {
        m.cfg.browsers.iter().any(|&b| {
            let a = model::browser_at(s, b);
            a.attacker.is_some_and(|x| x.has_read) && a.held.tokens == vec![2] && a.tabs[0].token == Some(2)
        })
    }
    let sc = crate::util::scenario("models/auth0-rotation-theft-read-once.json", None);
    let (path, exhaustive, _) = crate::util::shortest_to(&sc, holds_before_reading);
    assert!(path.is_none() && exhaustive, "an attacker who has not read holds nothing");
    let (path, _, _) = crate::util::shortest_to(&sc, read_while_refreshing);
    assert!(path.is_some(), "a read after the first answer copies token 2 only");
}

/// Enhanced Channel Manager PR 865: an aborted refresh that the server rotated strands the
/// client's cookie once the 10 s window has passed; deleting the wall-clock limit (valid until
/// the successor is used) recovers it.
#[test]
fn ecm_865_an_aborted_rotation_strands_the_cookie_and_the_fix_recovers_it() {
    let (sc, m, r) = checked("models/ecm-865-aborted-refresh-strands-token.json");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(steps(&t), ECM_STEPS.iter().map(|(a, b)| pair(a, b)).collect::<Vec<_>>());
    let text = |i: usize| t.steps[i].text.clone();
    let abort = t.steps.iter().position(|s| s.action == "TabAbortsRefresh").unwrap();
    assert!(text(abort).contains("sent with token=1"), "{}", text(abort));
    assert!(text(abort).ends_with("keeps going with the jar's refresh cookie (token=1)"), "{}", text(abort));
    let first = t.steps.iter().position(|s| s.action == "ServerReceivesRefresh").unwrap();
    assert!(text(first).contains("rule `rotate`"), "{}", text(first));
    assert!(text(6).contains("refresh cookie=1): rule `reuse` → invalid_grant"), "{}", text(6));
    assert!(text(7).ends_with("gets 400 invalid_grant and is logged out"), "{}", text(7));
    assert_eq!(t.steps[7].state.tabs[0].status, "logged out");

    let (_, _, fixed) = checked("models/ecm-pr865-predecessor-valid-until-successor-used.json");
    assert_eq!(status(&fixed, "no_spurious_logout"), Verdict::Holds);
    assert!(fixed.unique_states >= 50, "the search was not empty: {}", fixed.unique_states);
}

/// The defaults written out (`steals: "every-token"`, `aborts_per_tab: 0`) are the model
/// without the fields: the same states.
#[test]
fn the_defaults_written_out_change_nothing() {
    let dir = crate::common::TempFiles::new();
    let file = "models/auth0-rotation-theft.json";
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let (_, _, plain) = checked(file);
    let written = text.replacen("\"attempts\": 1,", "\"attempts\": 1, \"steals\": \"every-token\",", 1).replacen(
        "\"tabs\": 1,",
        "\"tabs\": 1, \"aborts_per_tab\": 0,",
        1,
    );
    assert_ne!(written, text);
    let copy = dir.path().join("auth0-rotation-theft.json");
    std::fs::write(&copy, written).unwrap();
    let (_, _, same) = checked(copy.to_str().unwrap());
    assert_eq!((same.unique_states, same.states), (plain.unique_states, plain.states));
    assert!(plain.unique_states > 10);
}

/// Bad input names the file, the line, the field and what is allowed, with exit code 2.
#[test]
fn steals_and_aborts_bad_input_is_refused_with_the_field() {
    let src = std::fs::read_to_string(root().join("models/ecm-865-aborted-refresh-strands-token.json")).unwrap();
    let theft = std::fs::read_to_string(root().join("models/auth0-rotation-theft-read-once.json")).unwrap();
    let cases = [
        (
            src.replace("\"aborts_per_tab\": 1", "\"aborts_per_tab\": 3"),
            "\"aborts_per_tab\"",
            "browser.aborts_per_tab",
            "0 to 2",
        ),
        (
            src.replace("\"aborts_per_tab\": 1,", "\"aborts_per_tab\": 0,"),
            "\"on_aborted\"",
            "browser.on_aborted",
            "no value unless `aborts_per_tab` is above 0",
        ),
        // (json mode: in cookie mode `clear-stored-token` with no answer is refused first)
        (
            src.replace("\"keep-going\"", "\"clear-stored-token\"")
                .replace("\"mode\": \"cookie\"", "\"mode\": \"json\""),
            "\"on_aborted\"",
            "browser.on_aborted",
            "ending with \"log-out\" or \"keep-going\"",
        ),
        // An aborted refresh has no answer whose `Set-Cookie` could expire the jar's cookies.
        (
            src.replace("\"keep-going\"", "\"clear-cookie\", \"keep-going\""),
            "\"clear-cookie\"",
            "browser.on_aborted[0]",
            "a reaction the tab can take with no answer",
        ),
        (
            src.replace("\"keep-going\"", "\"ignore-if-token-changed\", \"keep-going\""),
            "\"ignore-if-token-changed\"",
            "browser.on_aborted[0]",
            "HttpOnly cookie",
        ),
        (
            src.replace("\"mode\": \"cookie\",", "\"mode\": \"cookie\", \"coordination\": \"web-locks\","),
            "\"aborts_per_tab\"",
            "browser.aborts_per_tab",
            "with a `coordination`",
        ),
        (
            src.replace("\"mode\": \"cookie\",", "\"mode\": \"cookie\", \"reloads_per_tab\": 1,"),
            "\"aborts_per_tab\"",
            "browser.aborts_per_tab",
            "`reloads_per_tab`",
        ),
    ];
    let cases: Vec<(String, &str, &str, &str)> = cases.into_iter().collect();
    crate::util::refused_at(&src, &cases);
    // `retry` in `on_aborted` alone is a retry reaction `retry_limit` bounds: with the limit
    // the file is accepted, without it the limit is asked for.
    let retry = src.replace("\"keep-going\"", "\"retry\", \"keep-going\"");
    let files = crate::common::TempFiles::new();
    files.write("r.json", &retry);
    let out = crate::util::cli(files.path(), &["models", "validate", "r.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("browser.retry_limit") && err.contains("1 or 2 when a reaction is"), "{err}");
    files.write("r.json", &retry.replace("\"aborts_per_tab\": 1,", "\"aborts_per_tab\": 1, \"retry_limit\": 1,"));
    let out = crate::util::cli(files.path(), &["models", "validate", "r.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = vec![(theft.replace("\"once\"", "\"twice\""), "\"twice\"", "steals", "every-token")];
    crate::util::refused_at(&theft, &bad);
}

/// `reuse_detected_after_theft` on `auth0-leeway-theft-read-once`: the tab's second refresh
/// is rotated (2 to 3), the attacker reads token 2 from the tab's memory before the answer
/// arrives, redeems it inside the reuse interval and gets a sibling (4).
const LEEWAY_STEPS: [(&str, &str); 10] = [
    ("tab A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("tab A", "TabReceivesRefreshResponse"),
    ("tab A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("attacker", "AttackerReadsStorage"),
    ("tab A", "TabReceivesRefreshResponse"),
    ("attacker", "AttackerRedeems"),
    ("server", "ServerReceivesRefresh"),
    ("attacker", "AttackerReceivesResponse"),
];

/// `no_spurious_logout` on `ecm-865-aborted-refresh-strands-token`: PR 865's description.
const ECM_STEPS: [(&str, &str); 8] = [
    ("tab A", "TabSendsRefresh"),
    ("server", "ServerReceivesRefresh"),
    ("tab A", "TabAbortsRefresh"),
    ("tab A", "TabSendsRefresh"),
    ("clock", "ClockTicks"),
    ("clock", "ClockTicks"),
    ("server", "ServerReceivesRefresh"),
    ("tab A", "TabReceivesRefreshResponse"),
];

/// With two devices the read names the device whose storage it copies, and either device's
/// storage may be the one read.
#[test]
fn a_read_of_one_of_several_devices_names_the_device() {
    let dir = crate::common::TempFiles::new();
    let path = dir.copy_model("models/auth0-rotation-theft-read-once.json", "two.json", |v| {
        v.remove("expect");
        v["browser"]["devices"] = serde_json::json!(2);
        v.insert(
            "queries".into(),
            serde_json::json!([
                { "name": "reads-device-2", "events": ["attacker AttackerReadsStorage text `device 2's browser storage`"],
                  "expect": "reachable" },
                { "name": "reads-device-1", "events": ["attacker AttackerReadsStorage text `device 1's browser storage`"],
                  "expect": "reachable" } ]),
        );
    });
    let sc = refresh_check::scenario::Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for name in ["reads-device-1", "reads-device-2"] {
        let t = crate::util::query_trace(&sc, name);
        let read = &t.steps.last().unwrap().text;
        assert!(read.starts_with("the attacker reads device ") && read.contains("copies refresh token="), "{read}");
    }
}
