//! Client-side coordination and the liveness properties that judge it
//! (`shared/research/industry-policies.md` §1.4 and §3 LP2, LP4): the BroadcastChannel leader
//! (authts/oidc-client-ts PR 434, AxaFrance/oidc-client issue 1039), the bounded form of LP4
//! ("no tab waits more than K of its own steps"), LP2 lost-response recovery (C19, FAPI 2.0),
//! and the trace snapshot of multi-device models. Each model file checks as it expects, each
//! violation has the interleaving described, each property that holds was checked over a
//! pinned number of states.

use refresh_check::check::{CheckOptions, Results};
use refresh_check::model::browser::TabStatus;
use refresh_check::model::policy::LockGranted;
use refresh_check::model::{auth_server_at, browser_at, RefreshModel, State};
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::search;
use refresh_check::trace::{self};

use crate::util::{actions, checked, run, scenario, status, trace_of, SECOND_PRESENTER_REFUSED};

/// The last state of the counterexample for `name`.
fn last_state(m: &RefreshModel, r: &Results, name: &str) -> State {
    let p = r.properties.iter().find(|p| p.name == name).unwrap();
    let (init, steps) = search::replay(m, p.path.as_ref().unwrap()).unwrap();
    steps.last().map_or(init, |(_, s)| s.clone())
}

/// PR 434's single leader, three tabs needing two renewals each, under strict rotation with
/// reuse detection: only the leader ever refreshes, the followers take its broadcasts, and
/// nothing is violated, over a pinned number of states.
#[test]
fn single_leader_holds_under_strict_rotation() {
    let (_, _, r) = checked("models/oidc-client-ts-pr434-single-leader.json");
    for p in [
        "no_spurious_logout",
        "sp3_single_lineage",
        "lp4_lock_not_orphaned",
        "lp4_bounded_wait",
        "lp2_lost_response_recovery",
    ] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    assert_eq!(status(&r, "refresh_succeeds"), Verdict::Reached);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Unreached, "two tabs never refresh one token at once");
    assert_eq!(status(&r, "reuse_detected"), Verdict::Unreached);
    assert!(r.exhaustive);
    assert_eq!(r.unique_states, 85);
}

/// AxaFrance/oidc-client issue 1039: two visible windows both lead, both refresh token 1
/// before either broadcast lands, and reuse detection logs the second out.
#[test]
fn two_visible_leaders_both_refresh_and_the_second_is_logged_out() {
    let (sc, m, r) = checked("models/axa-oidc-1039-two-visible-leaders.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), SECOND_PRESENTER_REFUSED, "{}", trace::render_text(&t));
    assert_eq!((t.steps[0].actor.as_str(), t.steps[2].actor.as_str()), ("tab A", "tab B"));
    assert!(t.steps[1].text.contains("tab A's POST /auth/refresh (mode json, refresh_token=1)"));
    assert!(t.steps[3].text.contains("tab B's POST /auth/refresh (mode json, refresh_token=1)"));
    assert!(t.steps[4].text.contains("tab B gets 400 invalid_grant"), "{}", t.steps[4].text);
    assert!(t.steps[4].state.store.iter().all(|row| row.ends_with("revoked")), "{:?}", t.steps[4].state.store);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Reached);
    assert_eq!(status(&r, "reuse_detected"), Verdict::Reached);
    assert_eq!(status(&r, "lp4_bounded_wait"), Verdict::Holds, "every tab leads: nobody waits");
    assert_eq!(r.unique_states, 29);
}

/// The leader is closed mid-refresh and the follower has no fallback: it waits for a
/// broadcast that never comes (LP4 in 3 steps), and takes K + 1 = 3 own steps still waiting
/// (LP4 bounded, 6 steps). No tab is logged out.
#[test]
fn a_closed_leader_leaves_the_follower_waiting_for_ever() {
    let (sc, m, r) = checked("models/broadcast-leader-closed-follower-waits.json");
    let t = trace_of(&m, &sc, &r, "lp4_lock_not_orphaned");
    assert_eq!(actions(&t), ["TabSendsRefresh", "TabAwaitsBroadcast", "LeaderTabCloses"]);
    assert!(t.steps[2].state.tabs[0].status.starts_with("closed"), "{:?}", t.steps[2].state.tabs);
    assert!(t.steps[2].state.tabs[1].status.starts_with("waiting for the leader's broadcast"));
    let t = trace_of(&m, &sc, &r, "lp4_bounded_wait");
    assert_eq!(
        actions(&t),
        ["TabSendsRefresh", "TabAwaitsBroadcast", "LeaderTabCloses", "TabStillWaits", "TabStillWaits", "TabStillWaits"]
    );
    assert!(t.steps[5].text.contains("tab B takes a step of its own and still waits (3 step(s))"));
    let s = last_state(&m, &r, "lp4_bounded_wait");
    let b = browser_at(&s, 0);
    assert_eq!((b.tabs[0].status, b.tabs[1].status), (TabStatus::Closed, TabStatus::AwaitingBroadcast));
    assert_eq!(b.tabs[1].waited, 3, "K = 2 (the default), so the counter saturates at 3");
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(r.unique_states, 24);
}

/// The follower gives up at its second own step and refreshes itself with token 1: its wait
/// is bounded, but the closed leader's refresh had already rotated token 1, and strict
/// detection logs it out (8 steps). Under P6 the same fallback gets a new pair: every
/// property but the (transient) orphaned wait holds.
#[test]
fn a_follower_timeout_bounds_the_wait_and_needs_a_tolerant_server() {
    let (sc, m, r) = checked("models/broadcast-leader-closed-follower-refreshes.json");
    assert_eq!(status(&r, "lp4_bounded_wait"), Verdict::Holds);
    assert_eq!(status(&r, "lp4_lock_not_orphaned"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabAwaitsBroadcast",
            "LeaderTabCloses",
            "TabStillWaits",
            "FollowerTimesOut",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ],
        "{}",
        trace::render_text(&t)
    );
    assert!(t.steps[5].text.contains("tab B gives up waiting") && t.steps[5].text.contains("token=1"));
    assert!(t.steps[7].text.contains("tab B gets 400 invalid_grant"));
    assert!(t.steps[7].state.store.iter().all(|row| row.ends_with("revoked")), "{:?}", t.steps[7].state.store);
    let t = trace_of(&m, &sc, &r, "lp4_lock_not_orphaned");
    assert_eq!(actions(&t), ["TabSendsRefresh", "TabAwaitsBroadcast", "LeaderTabCloses"]);
    assert_eq!(r.unique_states, 31);

    let (sc, m, r) = checked("models/broadcast-leader-closed-until-used.json");
    for p in ["no_spurious_logout", "lp4_bounded_wait", "sp3_single_lineage", "lp2_lost_response_recovery"] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    let t = trace_of(&m, &sc, &r, "lp4_lock_not_orphaned");
    assert_eq!(actions(&t), ["TabSendsRefresh", "TabAwaitsBroadcast", "LeaderTabCloses"]);
    assert_eq!(r.unique_states, 31);
}

/// LP4 bounded is `waited <= K`: a fallback at the tab's T-th own step satisfies it iff
/// T <= K + 1, and with no fallback it fails after K + 1 own steps, for each K.
#[test]
fn lp4_bounded_wait_follows_k_and_the_timeout() {
    let base = scenario("models/broadcast-leader-closed-follower-refreshes.json", None);
    for (k, timeout, want) in
        [(0, 1, Verdict::Holds), (0, 2, Verdict::Violated), (1, 2, Verdict::Holds), (1, 3, Verdict::Violated)]
    {
        let mut sc = base.clone();
        sc.browser.max_wait_steps = k;
        sc.browser.follower_timeout = timeout;
        let (_, r) = run(&sc, &CheckOptions::default());
        assert_eq!(status(&r, "lp4_bounded_wait"), want, "K = {k}, timeout = {timeout}");
    }
    let base = scenario("models/c18-orphaned-weblock.json", None);
    for k in 0..=3u8 {
        let mut sc = base.clone();
        sc.browser.max_wait_steps = k;
        let (m, r) = run(&sc, &CheckOptions::default());
        let t = trace_of(&m, &sc, &r, "lp4_bounded_wait");
        // Send, queue, hang, then K + 1 own steps still waiting for the hung holder.
        assert_eq!(t.steps.len(), 3 + usize::from(k) + 1, "K = {k}: {}", trace::render_text(&t));
        assert_eq!(actions(&t)[..3], ["TabSendsRefresh", "TabWaitsForLock", "TabHangsWithLock"]);
        assert!(actions(&t)[3..].iter().all(|a| a == "TabStillWaits"));
    }
}

/// A healthy Web Lock, localStorage mutex or leader never blocks for good: no own waiting
/// step is ever taken, so no model without a hung holder or a closed leader gains states.
#[test]
fn waiting_on_a_live_holder_takes_no_own_steps() {
    for f in [
        "models/directus-pr22457-weblocks.json",
        "models/directus-pr22457-localstorage.json",
        "models/c17-coherent-storage-weblocks.json",
        "models/c18-weblock-steal.json",
    ] {
        let (_, _, r) = checked(f);
        assert_eq!(status(&r, "lp4_bounded_wait"), Verdict::Holds, "{f}");
        assert_eq!(status(&r, "lp4_lock_not_orphaned"), Verdict::Holds, "{f}");
    }
    let (_, _, r) = checked("models/directus-pr22457-weblocks.json");
    assert_eq!(r.unique_states, 40, "unchanged by the waiting counter");
}

/// LP2 (C19, FAPI 2.0): under plain rotation the retry with the rotated-away token is refused
/// (4 steps: no lost message needed, the first answer is simply not back yet); P6 and a
/// same-child grace longer than the retry delay hold; a grace shorter than it does not.
#[test]
fn lp2_a_retry_after_a_lost_response_needs_p6_or_a_long_enough_grace() {
    let (sc, m, r) = checked("models/c19-lost-response-rotate.json");
    let t = trace_of(&m, &sc, &r, "lp2_lost_response_recovery");
    assert_eq!(actions(&t), ["TabSendsRefresh", "ServerReceivesRefresh", "TabRetriesRefresh", "ServerReceivesRefresh"]);
    assert!(t.steps[2].text.contains("sends its refresh again") && t.steps[2].text.contains("token=1"));
    assert!(t.steps[3].state.in_flight.iter().any(|x| x.text == "400 invalid_grant"), "{:?}", t.steps[3].state);
    let s = last_state(&m, &r, "lp2_lost_response_recovery");
    assert_eq!(auth_server_at(&s, m.cfg.server).unwrap().as_ghost.refused_retries, 1);

    let (_, _, r) = checked("models/c19-lost-response-until-used.json");
    assert_eq!(status(&r, "lp2_lost_response_recovery"), Verdict::Holds);
    let (_, _, r) = checked("models/c19-lost-response-same-child.json");
    assert_eq!(status(&r, "lp2_lost_response_recovery"), Verdict::Holds);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(r.unique_states, 155);

    let (sc, m, r) = checked("models/c19-lost-response-short-grace.json");
    let t = trace_of(&m, &sc, &r, "lp2_lost_response_recovery");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabRetriesRefresh",
            "ClockTicks",
            "ClockTicks",
            "ServerReceivesRefresh"
        ]
    );
    assert_eq!(t.steps[5].state.now, 2, "the retry arrives 2 ticks after the rotation, the window is 1");
    assert!(t.steps[5].state.store.iter().all(|row| row.ends_with("revoked")), "{:?}", t.steps[5].state.store);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabRetriesRefresh",
            "ClockTicks",
            "ClockTicks",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(
        t.steps[6].text.contains("tab A gets 400 invalid_grant"),
        "the retry's answer comes first and logs the tab out"
    );
    assert_eq!(r.unique_states, 163);
}

/// The leader's knobs need `broadcast-leader`, and their ranges are checked.
#[test]
fn leader_knobs_are_validated_with_the_field_named() {
    let base = std::fs::read_to_string(crate::util::root().join("models/broadcast-leader-closed-follower-waits.json"))
        .unwrap();
    let p = std::path::Path::new("m.json");
    let e = Scenario::parse(p, &base.replace("\"broadcast-leader\"", "\"web-locks\"")).unwrap_err().to_string();
    assert!(e.contains("field `browser.coordination`") && e.contains("\"broadcast-leader\" when"), "{e}");
    let e = Scenario::parse(p, &base.replace("\"leader_closes\": 1", "\"leader_closes\": 2")).unwrap_err().to_string();
    assert_eq!(e, "m.json:21:5: field `browser.leader_closes`: found 2, expected an integer from 0 to 1");
    let e = Scenario::parse(p, &base.replace("\"leader_closes\": 1", "\"leader_closes\": 1, \"max_wait_steps\": 9"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("field `browser.max_wait_steps`: found 9"), "{e}");
    let e = Scenario::parse(p, &base.replace("\"per-tab\"", "\"per-tab\", \"leader_election\": \"hidden\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("browser.leader_election") && e.contains("visibility"), "{e}");
}

/// With several devices the snapshot shows every device's tabs, named by device and letter,
/// and the steps' actors and message ends use the same names.
#[test]
fn multi_device_snapshots_show_every_devices_tabs() {
    let (sc, m, r) = checked("models/c22-logout-replay-revokes-all.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let names: Vec<_> = t.initial.tabs.iter().map(|x| x.tab.as_str()).collect();
    assert_eq!(names, ["1A", "1B", "2A", "2B"]);
    let last = t.steps.last().unwrap();
    assert_eq!(last.actor, "tab 2A");
    assert_eq!(last.message.as_ref().unwrap().to, "tab 2A");
    assert!(last.text.starts_with("device 2 tab A gets 400 invalid_grant"), "{}", last.text);
    let tab_2a = last.state.tabs.iter().find(|x| x.tab == "2A").unwrap();
    assert!(tab_2a.status.starts_with("logged out"), "{tab_2a:?}");
    let lifelines: Vec<_> = trace::lifelines(&t).into_iter().map(|l| l.name).collect();
    assert_eq!(lifelines[..4], ["tab 1A", "tab 1B", "tab 2A", "tab 2B"]);
    assert!(!lifelines.contains(&"tab A".to_string()), "{lifelines:?}");
    // The Mermaid chart draws the last arrow to device 2's tab A.
    assert!(
        trace::render_mermaid(&t).contains("Server-->>Tab2A: 7. 400 invalid_grant"),
        "{}",
        trace::render_mermaid(&t)
    );
}

const PR2237: &str = "models/angular-auth-oidc-client-pr2237-refresh-token-lock.json";

/// Every tab is idle with its one refresh used, and the authorization server has rotated once
/// (the sign-in's token and its one successor).
fn all_renewed_with_one_rotation(m: &RefreshModel, s: &State) -> bool {
    let b = browser_at(s, m.cfg.browsers[0]);
    let rows = auth_server_at(s, m.cfg.server).unwrap().rows.len();
    b.tabs.iter().all(|t| t.status == TabStatus::Idle && t.refreshes_left == 0) && rows == 2
}

/// `browser.lock_granted: "skip-if-token-changed"` (double-checked locking, angular-auth-oidc-client
/// PR 2237) with three tabs: B and C queue behind A with token 1; A's 2xx stores token 2 and,
/// in the same step, B and then C are granted the lock, find token 2, send no refresh and pass
/// the lock on. Three renewals, one rotation. With `lock_granted: "refresh"` (the waiter
/// refreshes with the stored token) every granted waiter rotates again, so that end is
/// unreachable over the whole (smaller) state space.
#[test]
fn granted_waiters_that_find_another_token_send_no_refresh_and_one_rotation_serves_three_tabs() {
    let skip = scenario(PR2237, Some(3));
    assert_eq!(skip.browser.lock_granted, LockGranted::SkipIfTokenChanged);
    let mut refresh = skip.clone();
    refresh.browser.lock_granted = LockGranted::Refresh;

    let (m, r) = run(&skip, &CheckOptions::default());
    assert!(r.exhaustive);
    assert_eq!((r.states, r.unique_states), (127, 92));
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert_eq!(status(&r, "concurrent_refreshes"), Verdict::Unreached);
    let (path, _, qm) = crate::util::shortest_to(&skip, all_renewed_with_one_rotation);
    let path = path.expect("one rotation serves the three tabs");
    let (_, steps) = search::replay(&qm, &path).unwrap();
    assert_eq!(steps.len(), 5, "A sends, the server rotates, B and C queue, A's 2xx");
    let before = browser_at(&steps[3].1, m.cfg.browsers[0]);
    assert_eq!([before.tabs[1].queued_with, before.tabs[2].queued_with], [Some(1), Some(1)]);
    assert_eq!(before.queue.len(), 2);
    let end = browser_at(&steps[4].1, m.cfg.browsers[0]);
    assert_eq!((end.lock, end.queue.len(), end.storage), (None, 0, Some(2)));
    assert!(end.tabs.iter().all(|t| t.queued_with.is_none()), "the remembered token goes with the wait");

    let (_, r) = run(&refresh, &CheckOptions::default());
    assert!(r.exhaustive);
    assert_eq!((r.states, r.unique_states), (109, 68), "no remembered token in the state");
    let (path, exhaustive, _) = crate::util::shortest_to(&refresh, all_renewed_with_one_rotation);
    assert!(path.is_none() && exhaustive, "each granted waiter rotates again");
}

/// `browser.lock_granted` is refused (exit 2, file, line, field, expected) without a Web
/// Lock, with a value outside its list, with per-tab json storage, with the freshness check and
/// with ordinary requests in json mode.
#[test]
fn lock_granted_is_refused_where_it_has_no_meaning() {
    let files = crate::common::TempFiles::new();
    let cases: [(&str, serde_json::Value, &str); 5] = [
        (
            "coordination",
            serde_json::json!("local-storage"),
            "field `browser.lock_granted`: found \"skip-if-token-changed\" with `coordination` \"local-storage\", expected \"refresh\" (the default) unless `coordination` is \"web-locks\"",
        ),
        ("lock_granted", serde_json::json!("skip"), "field `browser.lock_granted`: unknown variant `skip`, expected one of `refresh`, `skip-if-token-changed`, `skip-if-stored-session-fresh`"),
        ("json_storage", serde_json::json!("per-tab"), "with `json_storage` \"per-tab\" and no `on_stored_token_written: \"adopt\"`, expected `json_storage` \"shared\" or \"shared-lagging\", or per-tab storage with"),
        ("freshness_check", serde_json::json!(true), "with `freshness_check` true, expected `freshness_check` false"),
        ("requests_per_tab", serde_json::json!(1), "with `requests_per_tab` 1, expected `requests_per_tab` 0 in json and cookie mode"),
    ];
    for (i, (field, value, says)) in cases.into_iter().enumerate() {
        let name = format!("bad{i}.json");
        // The freshness check is Directus's (PR 22464): its Web Locks model, in session mode.
        let from = if field == "freshness_check" { "models/directus-pr22457-weblocks.json" } else { PR2237 };
        let file = files.copy_model(from, &name, |m| {
            let b = m["browser"].as_object_mut().unwrap();
            b.insert("lock_granted".into(), "skip-if-token-changed".into());
            b.insert(field.into(), value);
        });
        let out = crate::util::cli(files.path(), &["check", file.to_str().unwrap(), "--no-traces"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {err}");
        assert!(err.contains(&format!("{name}:")) && err.contains(says), "{field}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // Per-tab storage that a `storage` listener updates (fliks PR 457's `adopt`) can change
    // while a tab waits: accepted.
    let adopt = files.copy_model("models/fliks-pr457-weblocks-storage-listener.json", "adopt.json", |m| {
        m["browser"].as_object_mut().unwrap().insert("lock_granted".into(), "skip-if-token-changed".into());
    });
    let sc = Scenario::load(&adopt).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.browser.lock_granted, LockGranted::SkipIfTokenChanged);
}
