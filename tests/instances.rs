//! Several instances of one server (`protocol.instances`) and where a refresh lock holds
//! (`lock_scope`): Neon's MCP server before and after PR 233, the refusals of the two fields,
//! and the same file with one instance, where an instance's lock is the only lock.

use refresh_check::check::{self, CheckOptions};
use refresh_check::scenario::{Scenario, Verdict};

use crate::util::{actions, checked, last_store, status, trace_of};

const BEFORE: &str = "models/neon-mcp-233-per-instance-singleflight.json";
const AFTER: &str = "models/neon-mcp-pr233-redis-lock.json";

/// Before PR 233: two requests with one refresh token pass the KV lookup on two instances (each
/// holding its own singleflight), Hydra rotates for the first and sees the token again from the
/// second: the chain is revoked and the second requester is answered 400.
#[test]
fn neon_233_two_instances_both_forward_the_token_and_hydra_revokes_the_chain() {
    let (sc, m, r) = checked(BEFORE);
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "ServerWritesRefresh",
            "ServerWritesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    let text = |i: usize| t.steps[i].text.as_str();
    assert!(text(1).contains("on instance 1, step `failure cache, getRefreshToken in the proxy's KV`"), "{}", text(1));
    assert!(text(1).contains("rule `in the proxy's KV: go upstream`"), "{}", text(1));
    assert!(text(3).contains("on instance 2, step `failure cache, getRefreshToken in the proxy's KV`"), "{}", text(3));
    assert!(text(3).contains("rule `in the proxy's KV: go upstream`"), "{}", text(3));
    assert!(text(4).contains("rule `Hydra rotates`"), "{}", text(4));
    assert!(text(5).contains("rule `Hydra: reuse revokes the chain; 400`"), "{}", text(5));
    assert!(text(6).contains("gets 400 invalid_grant"), "{}", text(6));
    assert_eq!(
        last_store(&t)[..2],
        ["token=1 family=0 gen=0 revoked", "token=2 family=0 gen=1 parent=1 revoked"],
        "Hydra revoked the whole chain, the first requester's new token with it"
    );
}

/// After PR 233 the lock is Redis's, shared by every instance: the second request waits for
/// the first and is answered the pair it saved; nothing reaches Hydra twice.
#[test]
fn neon_pr233_a_shared_lock_holds_on_every_instance() {
    let (_, _, r) = checked(AFTER);
    assert!(r.unique_states > 10, "searched: {}", r.unique_states);
    for p in ["no_spurious_logout", "no_dead_credential_at_rest", "converges_to_live_token"] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    assert_eq!(status(&r, "reuse_detected"), Verdict::Unreached);
}

/// The lock of each instance is the whole lock when there is one instance: the file before the
/// fix, with `instances: 1`, holds ("works with one replica"); with three instances it fails as
/// with two.
#[test]
fn an_instance_lock_holds_with_one_instance_only() {
    let files = crate::common::TempFiles::new();
    let verdict = |n: u8| {
        let file = files.copy_model(BEFORE, &format!("n{n}.json"), |m| {
            m["protocol"]["instances"] = serde_json::json!(n);
        });
        let sc = Scenario::load(&file).unwrap();
        let (_, r) = check::check(&sc, &CheckOptions::default());
        assert!(r.unique_states > 10, "searched: {}", r.unique_states);
        status(&r, "no_spurious_logout")
    };
    assert_eq!(verdict(1), Verdict::Holds);
    assert_eq!(verdict(3), Verdict::Violated);
}

/// `instances` and `lock_scope` are refused where they cannot mean what they say, with the
/// file, the line, the field and what is expected (exit 2).
#[test]
fn instances_and_lock_scope_refusals() {
    let src = std::fs::read_to_string(crate::util::root().join(BEFORE)).unwrap();
    let cases = vec![
        (
            src.replacen("\"instances\": 2", "\"instances\": 5", 1),
            "\"instances\"",
            "protocol.instances",
            "found 5, expected an integer from 1 to 4",
        ),
        (
            src.replacen("\"lock_scope\": \"instance\",\n", "", 1),
            "\"lock\": \"family\"",
            "protocol.refresh.lock",
            "a `lock_scope` beside the lock with 2 instances",
        ),
        (
            src.replacen("\"lock\": \"family\",\n", "", 1),
            "\"lock_scope\"",
            "protocol.refresh.lock_scope",
            "no `lock_scope` without `lock: \"family\"`",
        ),
        (
            src.replacen("\"instances\": 2,", "\"instances\": 2, \"restarts\": 1,", 1),
            "\"instances\"",
            "protocol.instances",
            "1 with `restarts`",
        ),
        (
            src.replacen("\"instances\": 2,", "\"instances\": 2, \"replicas\": 2,", 1),
            "\"instances\"",
            "protocol.instances",
            "1 with `replicas` 2",
        ),
        (
            src.replacen("\"fields\": {", "\"fields\": { \"in_memory\": [\"family.cache_at\"],", 1),
            "\"instances\"",
            "protocol.instances",
            "1 with `fields.in_memory`",
        ),
        (
            src.replacen("\"lock_scope\": \"instance\"", "\"lock_scope\": \"process\"", 1),
            "\"lock_scope\"",
            "protocol.refresh.lock_scope",
            "expected `global` or `instance`",
        ),
    ];
    crate::util::refused_at(&src, &cases);
}
