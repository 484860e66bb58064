//! A revocation endpoint that takes a token of either kind (`sign_out.revocation`, RFC 7009
//! §2.1): Spring Authorization Server issue 175 (a hint taken for the type), its fix, a
//! sign-out that revokes the refresh token, the RFC's option of revoking the grant for an
//! access token, and the refusals.

use refresh_check::query::Answer;
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::search;
use refresh_check::trace::Trace;

use crate::util::{actions, checked, status, trace_of};

const BEFORE: &str = "models/spring-as-175-hint-restricts-revocation.json";
const FIX: &str = "models/spring-as-175-fix-search-every-type.json";
const REFRESH: &str = "models/spring-as-revoke-refresh-token-at-sign-out.json";
const GRANT: &str = "models/rfc7009-access-token-revokes-the-grant.json";

/// The model file's own query `name`, answered by a full search: its answer and, when
/// reachable, its trace.
fn query(sc: &Scenario, name: &str) -> (Answer, Option<Trace>) {
    let built = refresh_check::model::build(sc);
    let q = sc.queries.iter().find(|q| q.name == name).unwrap_or_else(|| panic!("no query {name}"));
    let o =
        refresh_check::query::answer(&built, &sc.path, &sc.name, sc.browser.tabs, q, &search::SearchConfig::default());
    assert_eq!(o.expect, Some(o.answer), "{} {name}", sc.name);
    (o.answer, o.trace)
}

/// Issue 175 as reported: the access token sent with `token_type_hint=refresh_token` is not
/// found (200, nothing revoked), and its copy is then introspected active.
#[test]
fn spring_as_175_a_wrong_hint_revokes_nothing() {
    let (sc, m, r) = checked(BEFORE);
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    let (answer, t) = query(&sc, "copied-access-token-served-after-revocation");
    assert_eq!(answer, Answer::Reachable);
    let t = t.unwrap();
    assert_eq!(
        actions(&t),
        ["TabSignsOut", "ServerReceivesLogout", "AttackerCalls", "ServerReceivesCall", "AttackerReceivesCallResponse"]
    );
    assert_eq!(
        t.steps[0].text,
        "the user signs out in tab A: POST /oauth2/revoke with the access token it holds (access token=1, token_type_hint=refresh_token)"
    );
    assert_eq!(
        t.steps[1].text,
        "server receives tab A's POST /oauth2/revoke (access token=1; token_type_hint=refresh_token): not found under its token_type_hint (the server searches the hinted kind only): nothing revoked"
    );
    // Nothing was revoked: the store's rows after the revocation are the rows before it.
    assert_eq!(t.steps[1].state.store, t.steps[0].state.store);
    assert!(t.steps[3].text.contains("rule `introspection: active` → ok"), "{}", t.steps[3].text);
    // The refresh token is left alone too (a revocation by access token never revokes it).
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    assert_eq!(actions(&t), ["TabSignsOut", "ServerReceivesLogout", "AttackerRedeems", "ServerReceivesRefresh"]);
    assert!(t.steps[3].text.contains("rule `active: the same refresh token, a new access token` → ok presented"));
}

/// The fix searches every type: the access token is found and revoked whatever the hint, so its
/// copy is refused; the refresh token is still left alone, and its copy is served after the
/// sign-out (the verdict the fix does not change).
#[test]
fn spring_as_175_fix_finds_the_access_token_and_leaves_the_refresh_token() {
    let (sc, m, r) = checked(FIX);
    assert!(r.unique_states > 100, "searched: {}", r.unique_states);
    assert_eq!(query(&sc, "copied-access-token-served-after-revocation").0, Answer::Unreachable);
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    assert_eq!(actions(&t), ["TabSignsOut", "ServerReceivesLogout", "AttackerRedeems", "ServerReceivesRefresh"]);
    assert_eq!(
        t.steps[1].text,
        "server receives tab A's POST /oauth2/revoke (access token=1; token_type_hint=refresh_token): found as an access token: rule `an access token: invalidate it alone`"
    );
    assert!(t.steps[1].state.store.iter().any(|row| row == "access token=1 refresh token=1 iat=0 exp=4 revoked"));
    assert!(t.steps[1].state.store.iter().any(|row| row == "token=1 family=0 gen=0 active"));
    let (answer, q) = query(&sc, "copied-refresh-token-served-after-sign-out");
    assert_eq!(answer, Answer::Reachable);
    assert_eq!(q.unwrap().steps.len(), 6);
}

/// Revoking the refresh token (found as one) revokes it and its access token: nothing copied
/// is served after the sign-out; so does the RFC's option of revoking the grant for an access
/// token. Which token the app sends, and what the server does with an access token, decide
/// `logout_revokes_all`.
#[test]
fn a_complete_sign_out_by_the_refresh_token_or_by_the_servers_choice() {
    for file in [REFRESH, GRANT] {
        let (sc, _, r) = checked(file);
        assert!(r.unique_states > 100, "{file} searched: {}", r.unique_states);
        assert_eq!(status(&r, "logout_revokes_all"), Verdict::Holds, "{file}");
        assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds, "{file}");
        assert_eq!(query(&sc, "copied-refresh-token-served-after-sign-out").0, Answer::Unreachable, "{file}");
        assert_eq!(query(&sc, "copied-access-token-served-after-revocation").0, Answer::Unreachable, "{file}");
    }
    // The refresh token is found as one: the tab's step names the token and the hint, the
    // server's what it found and the rule.
    let (sc, m, r) = checked(REFRESH);
    let t = trace_of(&m, &sc, &r, "theft_detected");
    assert_eq!(actions(&t), ["TabSendsRefresh", "AttackerRedeems", "ServerReceivesRefresh", "ServerReceivesRefresh"]);
    let _ = sc;
}

/// `token_type` reads what the token was found as: with the hint left out, a sign-out that
/// presents the refresh token runs the refresh-token rule (the access-token rule comes first and
/// does not hold).
#[test]
fn token_type_reads_the_kind_found() {
    let src = std::fs::read_to_string(crate::util::root().join(REFRESH)).unwrap();
    let dir = std::env::temp_dir().join(format!("rc-revocation-kind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = src.replacen("\"revoke presented\",\n", "", 1);
    std::fs::write(dir.join("m.json"), &bad).unwrap();
    let sc = crate::util::scenario(dir.join("m.json").to_str().unwrap(), None);
    let (m, r) = crate::util::run(&sc, &refresh_check::check::CheckOptions::default());
    // Without revoking the refresh token, its copy is served after the sign-out: the
    // refresh-token rule (not the access-token one) decided, and it now revokes less.
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    assert!(
        t.steps[1]
            .text
            .ends_with("found as a refresh token: rule `a refresh token: invalidate it and the access token`"),
        "{}",
        t.steps[1].text
    );
}

/// `revocation` is refused where it cannot apply, each refusal naming the file, the line and the
/// field (exit 2).
#[test]
fn revocation_is_validated() {
    let src = std::fs::read_to_string(crate::util::root().join(BEFORE)).unwrap();
    let hinted = "\"search\": \"hinted\"";
    let cases = [
        (
            src.replacen("\"refresh\": {\n", "\"refresh\": {\n      \"revocation\": {},\n", 1),
            "\"revocation\": {}",
            "protocol.refresh.revocation",
            "only `sign_out` is a revocation endpoint",
        ),
        (
            src.replacen("\"presents\": \"access_token\"", "\"presents\": [\"access_token\", \"refresh_token\"]", 1),
            "\"revocation\": {",
            "protocol.sign_out.revocation",
            "a revocation request carries one token",
        ),
        (
            src.replacen("\"hint\": \"refresh_token\",", "", 1),
            "\"revocation\": {",
            "protocol.sign_out.revocation",
            "without a hint the server searches every kind",
        ),
        (src.replacen(hinted, "\"search\": \"first\"", 1), "\"search\"", "protocol.sign_out.revocation.search", "unknown variant `first`"),
        (
            src.replacen("\"revocation\": {", "\"revocation_x\": 1, \"revocation\": {", 1),
            "\"revocation_x\"",
            "protocol.sign_out",
            "unknown field `revocation_x`",
        ),
        (
            src.replacen("      \"revocation\": {\n        \"hint\": \"refresh_token\",\n        \"search\": \"hinted\"\n      },\n", "", 1),
            "\"token_type == access_token\"",
            "protocol.sign_out.rules[0].when",
            "read only in a `sign_out` with `revocation`",
        ),
        (
            src.replacen("\"token_type == access_token\"", "\"token_type == active\"", 1),
            "\"token_type == active\"",
            "protocol.sign_out.rules[0].when",
            "a token type",
        ),
    ];
    crate::util::refused_at(&src, &cases);
}
