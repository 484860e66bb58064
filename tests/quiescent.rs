//! Properties over whole runs (issue 15 item 4): `no_dead_credential_at_rest`, judged at every
//! quiescent state, and `reuse_detected_after_theft`, judged at the end of a run. Each is
//! pinned on a shipped model where it is violated (its trace is the reported interleaving)
//! and on one where it holds after a search that was not empty.

use refresh_check::properties;
use refresh_check::scenario::{Scenario, Verdict};

use crate::util::{checked, root, run, status, trace_of};

/// Directus 10.10 (rename in place, PR 22433 scenario 2): tab B's rename matches no row (tab A
/// renamed it first) yet is answered 200, and its `Set-Cookie` is the jar's last word: at rest
/// both tabs are signed in with a cookie naming no session, the orphan that logs a tab out at
/// its next refresh (D-S2). The fix (10.11.1, `next_token`) leaves no such state.
#[test]
fn the_orphan_cookie_is_a_dead_credential_at_rest_and_the_fix_leaves_none() {
    let (sc, m, r) = checked("models/directus-10.10-session.json");
    let t = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert_eq!(t.steps.len(), 14);
    assert!(
        t.steps[7].text.contains("UPDATE SET token=2") && t.steps[7].text.contains("for tab A"),
        "{}",
        t.steps[7].text
    );
    assert!(
        t.steps[11].text.contains("UPDATE SET token=3") && t.steps[11].text.contains("for tab B"),
        "{}",
        t.steps[11].text
    );
    assert_eq!(t.steps[12].text, "server gets 0 row(s) affected for tab B");
    assert!(t.steps[13].text.starts_with("tab B gets 200, Set-Cookie session=3"), "{}", t.steps[13].text);
    let rows = &t.steps[13].state.store;
    assert!(
        rows.iter().any(|r| r.starts_with("token=2 ")) && !rows.iter().any(|r| r.starts_with("token=3 ")),
        "{rows:?}"
    );
    // No tab was logged out yet: the property speaks before `no_spurious_logout` can.
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert!(t.steps.iter().all(|s| !s.text.contains("logged out")));

    let (_, _, fixed) = checked("models/directus-10.11.1-session.json");
    assert_eq!(status(&fixed, "no_dead_credential_at_rest"), Verdict::Holds);
    assert!(fixed.unique_states > 10_000, "{}", fixed.unique_states);
    assert!(fixed.complete);
}

/// On the authorization server a revoked token is dead, a superseded one is not: strict
/// Keycloak revokes on reuse, so tab A is left at rest with a revoked token after tab B's
/// replay; the NextAuth same-child grace leaves a superseded one (not converged, but the
/// server would still answer it), so only `converges_to_live_token` is violated there.
#[test]
fn a_revoked_token_is_dead_and_a_superseded_one_is_not() {
    let (sc, m, r) = checked("models/keycloak-strict.json");
    let t = trace_of(&m, &sc, &r, "no_dead_credential_at_rest");
    assert_eq!(t.steps.len(), 6);
    assert!(t.steps[4].text.contains("rule `reuse` → invalid_grant"), "{}", t.steps[4].text);
    assert!(t.steps[5].text.starts_with("tab B gets 400 invalid_grant"), "{}", t.steps[5].text);

    let (_, _, r) = checked("models/c06-nextauth-same-child-grace.json");
    assert_eq!(status(&r, "converges_to_live_token"), Verdict::Violated);
    assert_eq!(status(&r, "no_dead_credential_at_rest"), Verdict::Holds);
    assert!(r.unique_states > 10, "{}", r.unique_states);
}

/// Supabase 2022's reuse interval (PR 466) with a thief: the tab rotates 1 → 2 → 3, the
/// attacker replays the copied 2 inside the interval and is answered the same child 3. The run
/// ends (no refresh or attempt left) with the user and the attacker both on token 3 and no
/// detection: RFC 9700 §4.14.2's "used by both" went unnoticed.
#[test]
fn the_reuse_interval_lets_a_theft_end_undetected() {
    let (sc, m, r) = checked("models/supabase-2022-interval-theft.json");
    let t = trace_of(&m, &sc, &r, "reuse_detected_after_theft");
    let texts: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts.len(), 9, "{texts:#?}");
    assert!(texts[2].starts_with("tab A gets 200, refresh token=2"), "{}", texts[2]);
    assert!(texts[5].starts_with("tab A gets 200, refresh token=3"), "{}", texts[5]);
    assert!(texts[6].contains("refresh_token=2"), "{}", texts[6]);
    assert!(texts[7].contains("inside the reuse interval: the same child"), "{}", texts[7]);
    assert!(texts[8].starts_with("attacker gets 200, refresh token=3"), "{}", texts[8]);

    // The same model without the interval (strict: every reuse revokes the family): the run
    // never ends with both on the family undetected.
    let path = root().join("models/supabase-2022-interval-theft.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let auth = v["auth_server"].as_object_mut().unwrap();
    auth.remove("grace");
    auth.remove("window");
    v.as_object_mut().unwrap().remove("expect");
    let strict = Scenario::parse(&path, &v.to_string()).unwrap();
    let (_, r) = run(&strict, &Default::default());
    assert_eq!(status(&r, "reuse_detected_after_theft"), Verdict::Holds);
    assert_eq!(status(&r, "attacker_redeems"), Verdict::Reached, "the theft still happens");
    assert!(r.complete && r.unique_states > 20, "{}", r.unique_states);
}

/// Auth0-style strict rotation with reuse detection: whichever of the user and the thief
/// presents a token second fires detection, so the property holds after an exhaustive search.
#[test]
fn strict_rotation_detects_every_theft_by_the_end_of_the_run() {
    let (sc, _, r) = checked("models/auth0-rotation-theft.json");
    let spec = properties::by_name("reuse_detected_after_theft").unwrap();
    assert!(spec.applies(&sc));
    assert_eq!(status(&r, "reuse_detected_after_theft"), Verdict::Holds);
    assert_eq!(status(&r, "attacker_redeems"), Verdict::Reached);
    assert!(r.complete && r.unique_states > 40, "{}", r.unique_states);
}

/// Scopes: the theft property does not apply without an attacker or without a rule that
/// fires detection, and holds there by construction.
#[test]
fn the_theft_property_is_n_a_without_an_attacker_or_detection() {
    let spec = properties::by_name("reuse_detected_after_theft").unwrap();
    for (file, applies) in [
        ("models/spring-as-no-rotation-theft.json", false), // an attacker, no detection
        ("models/keycloak-strict.json", false),             // no attacker
        ("models/directus-10.10-session-attacker.json", false),
        ("models/supabase-2022-interval-theft.json", true),
    ] {
        let (sc, _, r) = checked(file);
        assert_eq!(spec.applies(&sc), applies, "{file}");
        if !applies {
            assert_eq!(status(&r, spec.name), Verdict::Holds, "{file}");
        }
    }
}

/// Compare on a policy/fix pair whose shortest counterexamples are the same trace: strict
/// Supabase (C02) and the 2022 reuse interval both violate `converges_to_live_token` by tab A's
/// rotation alone (3 steps; tab B rests on the superseded token). The second counterexample of
/// the strict policy is the reported mechanism (B's replay revokes the family), which the fix
/// runs and defuses; the fix also leaves no dead credential.
#[test]
fn compare_shows_the_fix_behind_an_identical_shortest_trace() {
    let (sa, ma, ra) = checked("models/supabase-2021-strict.json");
    let (sb, mb, rb) = checked("models/supabase-2022-interval.json");
    let texts = |t: refresh_check::trace::Trace| t.steps.into_iter().map(|s| s.text).collect::<Vec<_>>();
    let a = texts(trace_of(&ma, &sa, &ra, "converges_to_live_token"));
    assert_eq!(a.len(), 3);
    assert_eq!(a, texts(trace_of(&mb, &sb, &rb, "converges_to_live_token")));
    assert_eq!(status(&rb, "no_dead_credential_at_rest"), Verdict::Holds);

    let out = crate::util::cli(
        &root(),
        &[
            "compare",
            "models/supabase-2021-strict.json",
            "models/supabase-2022-interval.json",
            "--counterexamples",
            "2",
            "--format",
            "markdown",
        ],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{md}{}", String::from_utf8_lossy(&out.stderr));
    assert!(md.contains("| converges_to_live_token | violated (3 steps) | violated (3 steps) |"), "{md}");
    assert!(md.contains("- `converges_to_live_token` #1 (3 steps): `supabase-2022-interval` runs these steps and still violates `converges_to_live_token` at their end (3 steps): left (by the same rules: `rotate`)"), "{md}");
    assert!(md.contains("- `converges_to_live_token` #2 (6 steps): `supabase-2022-interval` runs these steps but `converges_to_live_token` holds at their end: defused"), "{md}");
    assert!(md.contains("| no_dead_credential_at_rest | **violated (6 steps)** | **holds** |"), "{md}");
}
