//! A request field the client sets (`client`): DarkAuth issue 80 (a refresh token redeemed by
//! a client other than the one it was issued to) and PR 83 (the session records the issuing
//! client and the refresh compares it), judged by `mode_binding`.

use refresh_check::scenario::Verdict;

use crate::util::{checked, refused_at, status, steps, trace_of};

const BEFORE: &str = "models/darkauth-80-refresh-token-not-bound-to-client.json";
const AFTER: &str = "models/darkauth-pr83-refresh-token-bound-to-client.json";

/// Issue 80's replay: the attacker, authenticated as its own client (client 2), presents the
/// user's token 1; the server finds the row, inserts token 2, deletes token 1 and answers 200.
#[test]
fn an_unbound_refresh_token_is_redeemed_by_another_client() {
    let (sc, m, r) = checked(BEFORE);
    assert_eq!(status(&r, "mode_binding"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "mode_binding");
    let expected = [
        ("attacker", "AttackerRedeems"),
        ("server", "ServerReceivesRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerWritesRefresh"),
        ("server", "ServerWritesRefresh"),
    ];
    let got = steps(&t);
    assert_eq!(got, crate::util::owned(&expected), "{got:#?}");
    let text: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    assert!(text[0].contains("refresh_token=1"), "{}", text[0]);
    // The client it authenticates as: its own registered client, after the user's (client 1).
    assert!(text[0].ends_with(", authenticating as its own registered client (client_id=2)"), "{}", text[0]);
    assert!(text[1].contains("rule `a session row: its user` → continue"), "{}", text[1]);
    assert!(text[3].contains("rule `insert a row with a new refresh token`"), "{}", text[3]);
    assert!(text[4].contains("rule `delete the old row, answer the new token` → ok minted"), "{}", text[4]);
    // The answer to the attacker is on its way: 200 with token 2, and token 1 is gone.
    let last = &t.steps.last().unwrap().state;
    assert!(last.store.iter().any(|row| row.starts_with("token=1 ") && row.contains("revoked")), "{:?}", last.store);
    assert!(last.store.iter().any(|row| row.starts_with("token=2 ") && row.contains("active")), "{:?}", last.store);
}

/// PR 83: the session records the client at the code exchange, and a refresh by another
/// client is refused before any write; the user's own refresh is served.
#[test]
fn a_bound_refresh_token_is_refused_to_another_client() {
    let (_, _, r) = checked(AFTER);
    assert_eq!(status(&r, "mode_binding"), Verdict::Holds);
    assert_eq!(status(&r, "refresh_succeeds"), Verdict::Reached);
    assert!(r.unique_states > 10, "{}", r.unique_states);
}

/// Without a field of type `client` the property does not judge the client (an older model's
/// verdicts stay), and the same fix with the field declared as a `count` (0 on arrival)
/// refuses the user's own refresh too: the value is the sender's, not a constant.
#[test]
fn the_field_is_what_the_sender_authenticates_as() {
    let src = std::fs::read_to_string(crate::util::root().join(AFTER)).unwrap();
    let files = crate::common::TempFiles::new();
    let count = src.replacen("\"client_id\": \"client\"", "\"client_id\": \"count\"", 1);
    assert_ne!(count, src);
    let mut v: serde_json::Value = serde_json::from_str(&count).unwrap();
    v.as_object_mut().unwrap().remove("expect");
    v.as_object_mut().unwrap().remove("queries");
    files.write("count.json", &v.to_string());
    let sc = crate::util::scenario(files.path().join("count.json").to_str().unwrap(), None);
    let (_, r) = crate::util::run(&sc, &Default::default());
    assert_eq!(status(&r, "refresh_succeeds"), Verdict::Unreached, "every session holds client 0");
    let binding = r.properties.iter().find(|p| p.name == "mode_binding").unwrap();
    assert!(!binding.applies, "not judged without a `client` field");
}

/// A rule cannot write the client's field.
#[test]
fn writing_a_client_request_field_is_refused() {
    let src = std::fs::read_to_string(crate::util::root().join(AFTER)).unwrap();
    let bad = src.replacen("\"set family.client_id = request.client_id\"", "\"set request.client_id = 2\"", 1);
    refused_at(&src, &[(bad, "\"set request.client_id = 2\"", "do[0]", "the client that sends the request sets it")]);
}
