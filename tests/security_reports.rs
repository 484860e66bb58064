//! Real security reports written as model files with no code change: djangorestframework-simplejwt
//! before and after PR 866 (a logout of every device that blacklists the user's
//! `OutstandingToken` rows misses the rotated token, which has none) and django-oauth-toolkit
//! issue 1816 and PR 1818 (a refresh token revoked at sign-out is honoured inside the grace
//! window), and goiabada issue 106 (a password reset that revokes nothing; the sweep of the first
//! design, which a rotation validated before it outlives; the auth-state generation of the fix),
//! and Keycloak issue 52666 and PR 52735 (OID4VCI rotation state kept on a per-request client
//! session, then in a record keyed by the family).
//! Each test checks the file's verdicts, that the search was not empty, the shortest
//! counterexample's steps (the reported interleaving), and the queries that tell the fix from
//! what it fixed.

use refresh_check::query::Answer;
use refresh_check::scenario::Verdict;

use crate::util::{answered, checked, find_step, last_store, owned, query_trace, status, steps, trace_of};

/// simplejwt 5.4.0: the tab rotates token 1 into 2, and 2 gets no `OutstandingToken` row; the
/// user logs out of every device, which blacklists the rows there are (token 1's), and a copy
/// of token 2 is rotated afterwards: the session the user ended lives on (issues 363 and 799).
#[test]
fn simplejwt_54_logout_of_every_device_misses_the_rotated_token() {
    let (sc, m, r) = checked("models/simplejwt-5.4-logout-all-misses-rotated-token.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("tab A", "TabSignsOut"),
            ("server", "ServerReceivesLogout"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    assert!(t.steps[2].text.contains("no OutstandingToken row"), "{}", t.steps[2].text);
    assert_eq!(t.steps[3].text, "tab A gets 200, refresh token=2, access token=2; it stores it");
    assert!(t.steps[4].text.contains("POST /api/logout-all/ with the access token it holds (access token=2)"));
    // The logout blacklisted the sign-in token only: token 2 is still active after it.
    assert_eq!(t.steps[5].state.store[0], "token=1 family=0 gen=0 revoked");
    assert_eq!(t.steps[5].state.store[1], "token=2 family=0 gen=1 parent=1 active");
    assert!(t.steps[6].text.contains("refresh_token=2"), "{}", t.steps[6].text);
    assert!(t.steps[7].text.contains("rule `not blacklisted`"), "{}", t.steps[7].text);
    assert_eq!(last_store(&t)[2], "token=3 family=0 gen=2 parent=2 active");
    // The shortest breach of `logout_revokes_all` is another one, derived: a refresh checked
    // before the logout writes after it (the check and the blacklist are two statements).
    let l = trace_of(&m, &sc, &r, "logout_revokes_all");
    let check = find_step(&l, "server", "ServerReceivesRefresh", "rule `not blacklisted`");
    let logout = find_step(&l, "server", "ServerReceivesLogout", "access token=1");
    let write = find_step(&l, "server", "ServerWritesRefresh", "return the rotated one");
    assert!(check < logout && logout < write);
    assert_eq!(query_trace(&sc, "rotated-token-served-after-logout-all").steps.len(), 10);
    assert_eq!(query_trace(&sc, "unrotated-token-refused-after-logout-all").steps.len(), 4);
    assert_eq!(status(&r, "sp3_single_lineage"), Verdict::Violated, "two refreshes of token 1 both pass the check");
}

/// simplejwt PR 866 (v5.5.0): the rotated token gets its `OutstandingToken` row, so the logout
/// of every device blacklists it; a copy presented afterwards is refused. A refresh checked
/// before the logout and written after it is still served (the residual race).
#[test]
fn simplejwt_pr866_logout_of_every_device_reaches_the_rotated_token() {
    let (sc, m, r) = checked("models/simplejwt-pr866-logout-all-reaches-rotated-token.json");
    assert!(r.unique_states > 50, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds);
    let q = query_trace(&sc, "rotated-token-refused-after-logout-all");
    assert_eq!(q.steps.len(), 9);
    assert!(q.steps.last().unwrap().text.contains("rule `Token is blacklisted`"));
    assert_eq!(answered(&sc, "no-refresh-passes-the-check-after-logout-all").answer, Answer::Unreachable);
    let l = trace_of(&m, &sc, &r, "logout_revokes_all");
    let check = find_step(&l, "server", "ServerReceivesRefresh", "rule `not blacklisted`");
    let logout = find_step(&l, "server", "ServerReceivesLogout", "access token=1");
    let outstand = find_step(&l, "server", "ServerWritesRefresh", "outstand()");
    assert!(check < logout && logout < outstand);
    assert_eq!(last_store(&l)[..2], ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 active"]);
}

/// django-oauth-toolkit issue 1816: the user revokes refresh token 1 at sign-out (RFC 7009);
/// inside the grace window `validate_refresh_token` honours it as if a rotation had revoked it,
/// and `_save_bearer_token` finds no previous access token and mints a fresh live pair.
#[test]
fn dot_1816_a_revoked_token_is_exchanged_inside_the_grace_window() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-1816-revoked-token-honoured-in-grace.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSignsOut"),
            ("server", "ServerReceivesLogout"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    assert_eq!(t.steps[1].state.store[0], "token=1 family=0 gen=0 revoked; revoked_at=0");
    assert!(t.steps[3].text.contains("rule `revoked inside the grace window: honoured`"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.contains("rule `revoked, no previous access token: a fresh pair` → ok minted"));
    assert_eq!(last_store(&t)[1], "token=2 family=0 gen=1 parent=1 active; revoked_at=0");
    assert_eq!(query_trace(&sc, "revoked-token-exchanged-after-sign-out").steps.len(), 6);
    // The window does end: two ticks after the revocation the token is refused.
    let w = query_trace(&sc, "revoked-token-refused-after-the-window");
    assert!(w.steps.last().unwrap().text.contains("rule `revoked, grace expired: invalid_grant`"));
}

/// django-oauth-toolkit PR 1818: inside the window only a superseded token (one whose
/// rotation's access token still exists) is honoured; a token revoked at sign-out is refused at
/// once, and the rotation retry the window is for is still answered. A refresh validated
/// before the revocation and saved after it is still served (the two are separate steps).
#[test]
fn dot_pr1818_a_revoked_token_is_refused_at_once() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-pr1818-revoked-token-refused-in-grace.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds);
    let q = query_trace(&sc, "revoked-token-refused-at-once");
    assert_eq!(q.steps.len(), 4);
    assert!(q.steps[3].text.contains("rule `revoked, grace expired or never superseded: invalid_grant`"));
    let g = query_trace(&sc, "rotation-retry-still-answered-in-grace");
    assert!(g.steps.iter().any(|s| s.text.contains("rule `previous access token exists: the pair already issued`")));
    assert_eq!(answered(&sc, "no-refresh-validated-after-revocation-served").answer, Answer::Unreachable);
    let l = trace_of(&m, &sc, &r, "logout_revokes_all");
    let validate = find_step(&l, "server", "ServerReceivesRefresh", "rule `not revoked`");
    let logout = find_step(&l, "server", "ServerReceivesLogout", "refresh_token=1");
    let save = find_step(&l, "server", "ServerWritesRefresh", "a fresh pair");
    assert!(validate < logout && logout < save);
}

/// django-oauth-toolkit issue 1617 with `REFRESH_TOKEN_REUSE_PROTECTION` (before PR 1777): the
/// tab rotates 1 -> 2 -> 3, a copy of token 1 replayed inside the grace window is honoured,
/// finds no previous access token and gets a fresh pair, and the family is never revoked.
#[test]
fn dot_1617_a_stale_replay_inside_the_window_bypasses_reuse_protection() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-1617-grace-bypasses-reuse-protection.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "reuse_detected_after_theft"), Verdict::Violated);
    let q = query_trace(&sc, "stale-replay-served-inside-the-window");
    assert_eq!(q.steps.len(), 12);
    assert_eq!(q.steps[7].text, "tab A gets 200, refresh token=3; it stores it");
    assert!(q.steps[9].text.contains("rule `revoked inside the grace window: honoured`"), "{}", q.steps[9].text);
    assert!(q.steps[10].text.contains("rule `revoked, no previous access token: a fresh pair`"));
    assert_eq!(
        last_store(&q)[2..],
        [
            "token=3 family=0 gen=2 parent=2 active; revoked_at=0",
            "token=4 family=0 gen=1 parent=1 active; revoked_at=0"
        ]
    );
    // The catalogue's shortest theft left undetected is the same replay, validated while token
    // 1 was live and saved after the second rotation.
    let t = trace_of(&m, &sc, &r, "reuse_detected_after_theft");
    let validated = find_step(
        &t,
        "server",
        "ServerReceivesRefresh",
        "attacker's POST /o/token/ (refresh_token) (mode json, refresh_token=1)",
    );
    let second = find_step(&t, "tab A", "TabReceivesRefreshResponse", "refresh token=3");
    let saved = find_step(&t, "server", "ServerWritesRefresh", "of attacker's refresh");
    assert!(validated < second && second < saved);
}

/// django-oauth-toolkit PR 1777: a token whose rotation's access token is gone is a stale
/// replay: refused, and its family revoked. What stays is the replay validated while token 1
/// was live and saved after the chain moved on (validation is outside the save's transaction).
#[test]
fn dot_pr1777_a_stale_replay_revokes_the_family() {
    let (sc, m, r) = checked("models/django-oauth-toolkit-pr1777-stale-replay-revokes-family.json");
    assert!(r.unique_states > 500, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "stale-replay-revokes-the-family");
    assert_eq!(q.steps.len(), 10);
    assert!(q.steps[9].text.contains("rule `grace expired or stale replay: revoke the token family`"));
    assert!(last_store(&q).iter().take(3).all(|row| row.contains(" revoked;")), "{:?}", last_store(&q));
    assert_eq!(answered(&sc, "no-stale-replay-validated-after-two-rotations").answer, Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "sp1_immediate_predecessor");
    let validated = find_step(
        &t,
        "server",
        "ServerReceivesRefresh",
        "attacker's POST /o/token/ (refresh_token) (mode json, refresh_token=1)",
    );
    let second = find_step(&t, "server", "ServerWritesRefresh", "of tab A's refresh");
    let saved = find_step(&t, "server", "ServerWritesRefresh", "of attacker's refresh");
    assert!(t.steps[validated].text.contains("rule `not revoked`"), "{}", t.steps[validated].text);
    assert!(validated < saved && second < saved && t.steps[saved].text.contains("a fresh pair"));
}

/// The reported interleaving of a race with the user's password reset: the thief's refresh
/// validates token 1, the reset runs, and the refresh writes its child after it.
const VALIDATED_BEFORE_THE_RESET: [(&str, &str); 5] = [
    ("tab A", "TabSignsOut"),
    ("attacker", "AttackerRedeems"),
    ("server", "ServerReceivesRefresh"),
    ("server", "ServerReceivesLogout"),
    ("server", "ServerWritesRefresh"),
];

/// goiabada issue 106: the forgot-password reset writes the new hash and revokes nothing, so
/// the thief's copy of the offline refresh token rotates after the reset.
#[test]
fn goiabada_106_a_password_reset_revokes_nothing() {
    let (sc, m, r) = checked("models/goiabada-106-password-reset-revokes-nothing.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSignsOut"),
            ("server", "ServerReceivesLogout"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerWritesRefresh"),
        ])
    );
    assert!(t.steps[1].text.contains("POST /reset-password"), "{}", t.steps[1].text);
    assert_eq!(t.steps[1].state.store, ["token=1 family=0 gen=0 active"], "the reset revoked nothing");
    assert!(t.steps[3].text.contains("rule `not revoked`"), "{}", t.steps[3].text);
    assert_eq!(last_store(&t)[1], "token=2 family=0 gen=1 parent=1 active");
    assert_eq!(query_trace(&sc, "stolen-token-rotates-after-reset").steps.len(), 6);
}

/// goiabada issue 106, the design before its decision 11 (review finding 1): the sweep runs
/// in the reset's transaction, but rotation does not, so a refresh validated before the sweep
/// inserts a live child after it, which the thief rotates after the reset was answered.
#[test]
fn goiabada_106_the_sweep_is_not_a_boundary() {
    let (sc, m, r) = checked("models/goiabada-106-sweep-is-not-a-boundary.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    let mut expected = owned(&VALIDATED_BEFORE_THE_RESET);
    expected.extend(owned(&[
        ("attacker", "AttackerReceivesResponse"),
        ("attacker", "AttackerRedeems"),
        ("server", "ServerReceivesRefresh"),
        ("server", "ServerWritesRefresh"),
    ]));
    assert_eq!(steps(&t), expected);
    assert!(t.steps[2].text.contains("refresh_token=1") && t.steps[2].text.contains("rule `not revoked`"));
    assert_eq!(t.steps[3].state.store, ["token=1 family=0 gen=0 revoked"], "the sweep revoked token 1");
    assert_eq!(t.steps[4].state.store[1], "token=2 family=0 gen=1 parent=1 active", "the child outlives the sweep");
    assert!(t.steps[7].text.contains("refresh_token=2") && t.steps[7].text.contains("rule `not revoked`"));
    assert_eq!(last_store(&t)[2], "token=3 family=0 gen=2 parent=2 active");
    let l = trace_of(&m, &sc, &r, "logout_revokes_all");
    assert_eq!(steps(&l), owned(&VALIDATED_BEFORE_THE_RESET));
    assert_eq!(query_trace(&sc, "validated-before-the-sweep-survives").steps.len(), 9);
    let refused = query_trace(&sc, "copy-refused-after-the-sweep");
    assert!(refused.steps[3].text.contains("rule `revoked: This refresh token has been revoked`"));
}

/// goiabada after issue 106 (133ccc15): the reset increments the user's auth-state generation
/// and a child copies its parent's, so the child of the same race is stamped with the old
/// generation and refused at its first use; no refresh is served live after the reset. The
/// child's row is still created after the sweep, born refused (`mint child revoked`): it is no
/// session created after the sign-out (`logout_revokes_all` holds), and the 200 that hands it
/// out is the fail-closed residual (issue 131).
#[test]
fn goiabada_pr106_the_generation_refuses_the_child_of_the_race() {
    let (sc, _, r) = checked("models/goiabada-pr106-auth-state-generation.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds);
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Holds);
    let q = query_trace(&sc, "child-of-the-race-refused-at-first-use");
    assert_eq!(q.steps.len(), 8);
    assert_eq!(steps(&q)[..5], owned(&VALIDATED_BEFORE_THE_RESET));
    assert_eq!(
        q.steps[3].state.store,
        ["token=1 family=0 gen=0 revoked; auth_generation=0", "family 0: user_generation=1"]
    );
    assert!(q.steps[4].text.contains("rule `the user moved on since: the child is born refused`"));
    assert_eq!(q.steps[4].state.store[1], "token=2 family=0 gen=1 parent=1 revoked; auth_generation=0");
    assert!(q.steps[5].text.contains("attacker gets 200, refresh token=2"));
    assert!(
        q.steps[7].text.contains("refresh_token=2")
            && q.steps[7].text.contains("rule `generation mismatch: superseded`")
    );
    assert_eq!(answered(&sc, "served-after-the-reset").answer, Answer::Unreachable);
}

/// Keycloak issue 52666: an OID4VCI refresh builds a transient client session per request, so
/// the reuse check's notes (request fields here) are empty at every request: the wallet's
/// rotated token 1 is accepted again, and a token two rotations behind too.
#[test]
fn keycloak_52666_a_rotated_oid4vci_token_is_accepted_again() {
    let (sc, m, r) = checked("models/keycloak-52666-oid4vci-rotation-state-on-transient-session.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let q = query_trace(&sc, "rotated-token-replayed");
    assert_eq!(
        steps(&q),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("tab A", "TabReceivesRefreshResponse"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("attacker", "AttackerReceivesResponse"),
        ])
    );
    assert!(q.steps[4].text.contains("refresh_token=1): rule `a new id on this client session: rotate`"));
    assert_eq!(q.steps[4].state.store[0], "token=1 family=0 gen=0 iat=0 superseded at 0, 1 grace use(s)");
    assert_eq!(last_store(&q)[2], "token=3 family=0 gen=1 parent=1 iat=0 active");
    assert_eq!(answered(&sc, "reuse-count-never-exceeded").answer, Answer::Unreachable);
    assert_eq!(answered(&sc, "never-a-stale-token").answer, Answer::Unreachable);
    let deep = trace_of(&m, &sc, &r, "sp1_immediate_predecessor");
    let replay = find_step(&deep, "server", "ServerReceivesRefresh", "attacker's POST");
    assert!(deep.steps[replay].text.contains("refresh_token=1)"), "{}", deep.steps[replay].text);
    assert!(find_step(&deep, "server", "ServerReceivesRefresh", "refresh_token=2)") < replay);
}

/// Keycloak PR 52735: the rotation record lives in the single-use store, keyed by the family; a
/// copy of token 1 is refused while token 1 is the accepted one (its reuse count) and once a
/// newer one was accepted (a stale token). Nothing is revoked: a thief who redeems first keeps
/// the grant and the wallet is refused (`sp4_theft_contained`).
#[test]
fn keycloak_pr52735_the_rotation_record_refuses_the_replay() {
    let (sc, m, r) = checked("models/keycloak-pr52735-oid4vci-rotation-record.json");
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    assert_eq!(status(&r, "sp1_immediate_predecessor"), Verdict::Holds);
    assert_eq!(status(&r, "rotated_token_expires"), Verdict::Holds);
    let q = query_trace(&sc, "rotated-token-refused");
    assert!(q.steps[3].text.contains("refresh_token=1): rule `Maximum allowed refresh token reuse exceeded`"));
    let s = query_trace(&sc, "stale-after-a-newer-token");
    assert_eq!(s.steps.len(), 7);
    assert!(s.steps[6].text.contains("refresh_token=1): rule `Stale token`"));
    assert_eq!(last_store(&s)[3], "family 0: accepted=2, count=1, last_refresh=0, latest=3");
    assert_eq!(answered(&sc, "rotated-token-replayed").answer, Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "sp4_theft_contained");
    assert_eq!(
        steps(&t),
        owned(&[
            ("tab A", "TabSendsRefresh"),
            ("attacker", "AttackerRedeems"),
            ("server", "ServerReceivesRefresh"),
            ("server", "ServerReceivesRefresh"),
        ])
    );
    assert!(t.steps[3].text.contains("tab A's") && t.steps[3].text.contains("reuse exceeded"));
}

/// `mint child revoked` is what makes goiabada's fix judged as the server runs it: the same
/// model written with `mint child` and `revoke family` (the row created live, then revoked in
/// the same rule) counts the dead row as a session created after the sign-out
/// (`logout_revokes_all`), while the row born revoked is no session.
#[test]
fn goiabada_pr106_a_child_born_revoked_is_no_session_created_after_the_reset() {
    let src =
        std::fs::read_to_string(crate::util::root().join("models/goiabada-pr106-auth-state-generation.json")).unwrap();
    let live = src.replacen(
        "\"mint child revoked\",\n                \"set minted.auth_generation = presented.auth_generation\"",
        "\"mint child\",\n                \"set minted.auth_generation = presented.auth_generation\",\n                \"revoke family\"",
        1,
    );
    assert_ne!(live, src);
    let files = crate::common::TempFiles::new();
    let mut v: serde_json::Value = serde_json::from_str(&live).unwrap();
    v.as_object_mut().unwrap().remove("expect");
    files.write("live.json", &v.to_string());
    let sc = crate::util::scenario(files.path().join("live.json").to_str().unwrap(), None);
    let (_, r) = crate::util::run(&sc, &Default::default());
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Violated);
    let (_, _, r) = checked("models/goiabada-pr106-auth-state-generation.json");
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Holds);
}

/// `mint child revoked` is refused where `mint child` is (a sign-out mints nothing), and a
/// misspelt word after `mint child` is named.
#[test]
fn mint_child_revoked_is_refused_in_a_sign_out_and_misspelt() {
    let src =
        std::fs::read_to_string(crate::util::root().join("models/goiabada-pr106-auth-state-generation.json")).unwrap();
    let in_sign_out = src.replacen("\"revoke user\"\n", "\"revoke user\", \"mint child revoked\"\n", 1);
    let misspelt = src.replacen("\"mint child revoked\"", "\"mint child revokd\"", 1);
    crate::util::refused_at(
        &src,
        &[
            (
                in_sign_out,
                "\"revoke user\", \"mint child revoked\"",
                "sign_out.rules[0].do[2]",
                "a sign-out or a sign-in mints and rotates nothing",
            ),
            (misspelt, "\"mint child revokd\"", "do[1]", "mint child revokd"),
        ],
    );
}
