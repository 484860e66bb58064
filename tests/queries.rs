//! Scenario queries (`queries` in model files, `check --query FILE`): for each shipped case
//! whose reported interleaving is not the shortest counterexample, the model file's query finds
//! the reported sequence, and its trace is pinned here.

use refresh_check::query::{self, Answer, Outcome};
use refresh_check::search::SearchConfig;
use refresh_check::trace::Trace;

use crate::util::{actions, checked, cli, root};
use serde_json::Value;

/// Answers the model file's query `name` (its shipped model, its tab count); the file's other
/// verdicts are as expected.
fn answer(file: &str, name: &str) -> Outcome {
    let (sc, _, _) = checked(file);
    let q = sc.queries.iter().find(|q| q.name == name).unwrap_or_else(|| panic!("{file} has no query {name}"));
    let m = refresh_check::model::build(&sc);
    let o = query::answer(&m, &sc.path, &sc.name, sc.browser.tabs, q, &SearchConfig::default());
    assert_eq!(o.expect, Some(o.answer), "{file} {name}: the file's expectation");
    o
}

fn trace(o: &Outcome) -> &Trace {
    let t = o.trace.as_ref().expect("a reachable query has a trace");
    assert!(t.property.starts_with("query:") && t.kind == refresh_check::properties::Kind::Sometimes);
    t
}

/// D-S2 to its end (PR 22433 scenario 2): both lookups before either rename, B's rename
/// matches no row and B is answered 200 with the orphan cookie, which the jar keeps; B's next
/// refresh presents it and is refused while the session is valid. The shortest
/// `no_spurious_logout` counterexample of the same file is scenario 1 (10 steps).
#[test]
fn d_s2_the_orphan_cookie_later_logs_a_tab_out() {
    let file = "models/directus-10.10-session-d-s2.json";
    let (sc, m, r) = checked(file);
    let shortest = crate::util::trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(shortest.steps.len(), 10, "scenario 1 is the shortest");
    assert!(!shortest.steps.iter().any(|s| s.text.contains("0 row(s) affected")));

    let o = answer(file, "orphan-cookie-logs-a-tab-out");
    let t = trace(&o);
    assert_eq!(t.steps.len(), 17);
    let text: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    let r1 = |tab: &str| text.iter().position(|s| s.starts_with("store runs SELECT") && s.ends_with(tab)).unwrap();
    let w1 = |tab: &str| text.iter().position(|s| s.starts_with("store runs UPDATE") && s.ends_with(tab)).unwrap();
    assert!(r1("for tab A").max(r1("for tab B")) < w1("for tab A").min(w1("for tab B")), "both lookups first");
    assert_eq!(text[10], "server gets 0 row(s) affected for tab B");
    assert_eq!(text[11], "tab B gets 200, Set-Cookie session=3 exp=4; the jar now holds it");
    assert!(text[12].ends_with("with the jar's cookie (session=3 exp=4)"), "{}", text[12]);
    assert_eq!(text[16], "tab B gets 401 INVALID_CREDENTIALS and is logged out");
    let last = &t.steps[16].state;
    assert!(last.session_valid, "the logout is spurious");
    assert_eq!(last.store, ["token=2 expires=7"]);
    assert_eq!(last.orphan_cookies, 1);
    // The golden query trace in traces/ is this one.
    let golden = refresh_check::trace::load(
        &root().join("traces/directus-10.10-session-d-s2.query-orphan-cookie-logs-a-tab-out.json"),
    )
    .unwrap();
    assert_eq!(golden.steps, t.steps);
}

/// Hydra issue 3004 as reported: the race loser is answered 400 by the transaction's rule
/// `no longer active`, with no reuse detection on the way (the shortest logout is a
/// sequential reuse, 6 steps).
#[test]
fn hydra_3004_the_race_loser_answered_400() {
    let o = answer("models/hydra-3004-check-outside-transaction.json", "race-loser-answered-400");
    let t = trace(&o);
    assert_eq!(
        actions(t),
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
    assert!(t.steps[5].text.ends_with("rule `no longer active` → invalid_request"), "{}", t.steps[5].text);
    assert!(t.steps[6].text.starts_with("tab B gets 400"), "{}", t.steps[6].text);
    assert!(t.steps.iter().all(|s| !s.text.contains("inactive: reuse")));
    assert_eq!(t.steps[6].state.store.iter().filter(|r| r.ends_with("active")).count(), 1, "A's child lives");
}

/// spiderly issue 384 as reported: the winner's next refresh goes out with the jar the loser's
/// 401 emptied, and is refused (the shortest logout is the loser's own 401, 5 steps).
#[test]
fn spiderly_384_the_winner_sends_with_an_emptied_jar() {
    let o = answer("models/spiderly-384-401-clears-cookies.json", "winner-sent-with-an-emptied-jar");
    let t = trace(&o);
    assert_eq!(t.steps.len(), 9);
    assert_eq!(t.steps[4].text, "tab A gets 200, refresh token=2; it stores it");
    assert_eq!(t.steps[5].text, "tab B gets 401 SecurityTokenException, clears the stored token and is logged out");
    assert_eq!(t.steps[6].text, "tab A loads or returns from idle and sends POST /auth/refresh with no token");
    assert_eq!(
        t.steps[8].text,
        "tab A gets 400 invalid_request, clears the stored token (there was none) and is logged out"
    );
    assert!(t.steps[8].state.session_valid);
    assert!(t.steps[8].state.store.iter().any(|r| r.starts_with("token=2 ") && r.ends_with("active")));
}

/// HQBase issue 41: the later reader deletes the winner's fresh token with the rest (6 steps);
/// the compare-and-set loser is refused with nothing revoked (7 steps).
#[test]
fn hqbase_41_the_winners_token_deleted_and_the_cas_loser_refused() {
    let file = "models/better-auth-oauth-provider-hqbase-41.json";
    let o = answer(file, "winner-token-deleted");
    let t = trace(&o);
    assert_eq!(t.steps.len(), 6);
    assert!(t.steps[4].text.contains("rule `create` → ok minted"), "{}", t.steps[4].text);
    assert!(t.steps[5].text.ends_with("rule `replay: delete every token of (client, user)` → invalid_grant"));
    assert!(t.steps[5].state.store.iter().all(|r| r.ends_with("revoked")), "{:?}", t.steps[5].state.store);
    let o = answer(file, "compare-and-set-loser-refused");
    let t = trace(&o);
    assert_eq!(t.steps.len(), 7);
    assert!(t.steps[5].text.ends_with("rule `CAS lost` → invalid_grant"), "{}", t.steps[5].text);
    assert!(t.steps[6].state.store.iter().all(|r| !r.ends_with("revoked")));
}

/// MAS PR 3650: a retry after a lost answer, while the successor is unused, revokes the unused
/// successor and is answered with a new pair (7 steps).
#[test]
fn mas_3650_the_retry_served_while_the_successor_is_unused() {
    let o = answer("models/mas-pr3650-replay-while-successor-unused.json", "retry-served-while-successor-unused");
    let t = trace(&o);
    assert_eq!(t.steps.len(), 7);
    assert_eq!(t.steps[2].action, "TabRetriesRefresh");
    assert!(t.steps[6].text.ends_with("rule `revoke the unused successor, issue a new pair` → ok minted"));
}

/// A query that cannot match is `unreachable` after an exhaustive search; `never` prunes; an
/// invariant over the state view is checked with a shortest counterexample; a query file
/// given with `--query` is answered on each model, written as a trace, with exit codes as
/// `check`'s; a bad query is refused naming file, line and field (exit 2).
#[test]
fn unreachable_never_invariants_and_the_command_line() {
    let dir = crate::common::TempFiles::new();
    let qf = dir.path().join("q.json");
    std::fs::write(
        &qf,
        r#"{"queries": [
  {"name": "b-logged-out-first", "events": ["tab B TabReceivesRefreshResponse status 401"],
   "never": ["tab A TabReceivesRefreshResponse"], "expect": "reachable"},
  {"name": "three-rows", "end": "tokens.active >= 3", "expect": "unreachable"},
  {"name": "at-most-one-row", "always": "tokens.active <= 1", "expect": "holds"},
  {"name": "a-never-logged-out", "always": "tab[A].status != logged_out", "expect": "violated"}
]}"#,
    )
    .unwrap();
    let traces = dir.path().join("traces");
    let out = cli(
        &root(),
        &[
            "check",
            "models/directus-10.10-session.json",
            "--query",
            qf.to_str().unwrap(),
            "--traces",
            traces.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("b-logged-out-first: reachable in 10 steps as expected"), "{stdout}");
    assert!(stdout.contains("three-rows: unreachable as expected"), "{stdout}");
    assert!(stdout.contains("at-most-one-row: holds as expected"), "{stdout}");
    assert!(stdout.contains("a-never-logged-out: violated in "), "{stdout}");
    let t = refresh_check::trace::load(&traces.join("directus-10.10-session.query-b-logged-out-first.json")).unwrap();
    assert!(t.steps.iter().all(|s| !(s.actor == "tab A" && s.action == "TabReceivesRefreshResponse")));
    assert!(traces.join("directus-10.10-session.invariant-a-never-logged-out.json").exists());
    // The query traces validate like any trace.
    let v = cli(&root(), &["trace", "validate", traces.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stderr));

    // An expectation that differs is exit 1.
    std::fs::write(&qf, r#"{"queries": [{"name": "x", "end": "tokens.active >= 3", "expect": "reachable"}]}"#).unwrap();
    let out =
        cli(&root(), &["check", "models/directus-10.10-session.json", "--query", qf.to_str().unwrap(), "--no-traces"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("x: unreachable — expected reachable"));

    // Bad input: file, line, field, what was expected; nothing searched.
    std::fs::write(&qf, "{\"queries\": [\n {\"name\": \"x\",\n  \"end\": \"tab[A].status == actve\"}]}").unwrap();
    let out =
        cli(&root(), &["check", "models/directus-10.10-session.json", "--query", qf.to_str().unwrap(), "--no-traces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("q.json:3:10: field `queries[0].end`: unknown name `actve` (did you mean `active`?)"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    std::fs::write(&qf, r#"{"queries": [{"name": "x", "events": ["tab B sends"]}]}"#).unwrap();
    let out = cli(&root(), &["check", "models/directus-10.10-session.json", "--query", qf.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("field `queries[0].events[0]`: an action name"), "{err}");
    assert_eq!(out.status.code(), Some(2));
}

/// A model file's query with a mistake is refused when the file is loaded.
#[test]
fn a_bad_query_in_a_model_file_names_its_line() {
    let path = root().join("models/directus-10.10-session-d-s2.json");
    let text = std::fs::read_to_string(&path).unwrap().replace("tabs.logged_out >= 1", "tabs.logged_out >= true");
    let e = refresh_check::scenario::Scenario::parse(&path, &text).unwrap_err().to_string();
    assert!(e.contains("field `queries[0].end`: cannot compare a number"), "{e}");
    let line = text.lines().position(|l| l.contains("tabs.logged_out >= true")).unwrap() + 1;
    assert!(e.contains(&format!("directus-10.10-session-d-s2.json:{line}:")), "{e}");
    let _ = Answer::Unknown;
}

/// `compare A B`: the verdicts side by side, and each counterexample of A replayed on B:
/// Directus PR 22433's stable id never runs 10.10's steps (removed); spiderly's successor
/// grace runs the loser's steps but nobody is logged out at their end (defused), while its
/// dead cookie at rest is left; Markdown for a pull request; exit codes as `check`'s.
#[test]
fn compare_replays_each_counterexample_of_a_on_b() {
    let out =
        cli(&root(), &["compare", "models/directus-10.10-session.json", "models/directus-pr22433-stable-id.json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let row = text.lines().find(|l| l.starts_with("  no_spurious_logout ")).unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["no_spurious_logout", "violated", "(10", "steps)", "holds", "≠"],
        "{text}"
    );
    assert!(text.contains("no_spurious_logout #1 (10 steps): B never runs these steps: removed"), "{text}");
    assert!(text.contains("cookie_names_live_session #1 (11 steps): B never runs these steps: removed"), "{text}");
    // B violates neither, so no note says B still violates them; the one note names the
    // assumption the two files differ in (B's tabs also make an ordinary request).
    assert!(!text.contains("but B still"), "B violates neither: {text}");
    assert!(text.contains("note: A and B also differ in what they assume of the tabs, the attacker, the clock or the network: browser.requests_per_tab (A: 0, B: 1);"), "{text}");
    // Directus 10.11.1 never runs 10.10's steps to a cookie naming a dead session, but reaches
    // one by a longer run of its own: "removed" alone would read as a fix, so a note says so.
    let out = cli(&root(), &["compare", "models/directus-10.10-session.json", "models/directus-10.11.1-session.json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cookie_names_live_session #1 (11 steps): B never runs these steps: removed"), "{text}");
    assert!(
        text.contains(
            "note: every counterexample of A to `cookie_names_live_session` is removed or defused in B, but B still \
             violates it by another run (17 steps)"
        ),
        "{text}"
    );

    let out = cli(
        &root(),
        &[
            "compare",
            "models/spiderly-384-401-clears-cookies.json",
            "models/spiderly-384-successor-grace.json",
            "--format",
            "markdown",
        ],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{md}");
    assert!(md.contains("| no_spurious_logout | **violated (5 steps)** | **holds** |"), "{md}");
    assert!(md.contains("- `no_spurious_logout` #1 (5 steps): `spiderly-384-successor-grace` runs these steps but `no_spurious_logout` holds at their end: defused"), "{md}");
    assert!(md.contains("- `converges_to_live_token` #1 (6 steps): `spiderly-384-successor-grace` runs these steps and still violates `converges_to_live_token` at their end (9 steps): left (by other rules: `spiderly-384-401-clears-cookies` `rotate` → `rotated or revoked`; `spiderly-384-successor-grace` `rotate` → `successor within 60 s` → `rotate`)"), "{md}");

    let out = cli(&root(), &["compare", "models/directus-10.10-session.json", "models/nope.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.json"));
}

/// Review 8: `compare` of models B cannot run A's steps in (another server, another tab
/// count) says "not comparable" with the reason, in the label and in a warning, never
/// "removed"; a long property name keeps its own column (review 12).
#[test]
fn compare_says_not_comparable_when_b_cannot_express_a() {
    let out = cli(&root(), &["compare", "models/directus-10.10-session.json", "models/hydra-grace.json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("warning: A and B are not comparable: B's server is an OAuth authorization server (`auth_server`/`protocol`), A's is a session server (`server`/`session_server`)"), "{text}");
    assert!(
        text.contains("no_spurious_logout #1 (10 steps): not comparable: B's server is an OAuth authorization server"),
        "{text}"
    );
    assert!(!text.contains("removed"), "{text}");
    // Every verdict of A starts in the same column, after the longest name and two spaces.
    let header = text.lines().find(|l| l.starts_with("  property ")).unwrap();
    let col = header.find(" A ").unwrap() + 1;
    let long = text.lines().find(|l| l.starts_with("  sign_out_no_dead_token_handed_out")).unwrap();
    assert_eq!(&long[col - 2..col], "  ", "{text}");
    assert!(long[col..].starts_with("holds") || long[col..].starts_with("unreached"), "{text}");

    let dir = crate::common::TempFiles::new();
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/hydra-3004-check-outside-transaction.json")).unwrap(),
    )
    .unwrap();
    v["name"] = "hydra-3004-one-tab".into();
    v["browser"]["tabs"] = 1.into();
    let one = dir.path().join("one-tab.json");
    std::fs::write(&one, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let out = cli(
        &root(),
        &["compare", "models/hydra-3004-check-outside-transaction.json", one.to_str().unwrap(), "--format", "markdown"],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    // 1: the one-tab copy keeps the two-tab model's `expect` block, which its verdicts differ from.
    assert_eq!(out.status.code(), Some(1), "{md}");
    assert!(md.contains("> **Not comparable:** `hydra-3004-one-tab` has 1 tab(s), `hydra-3004-check-outside-transaction` has 2 (give both --tabs N)"), "{md}");
    assert!(md.contains("): not comparable: `hydra-3004-one-tab` has 1 tab(s)"), "{md}");
    assert!(!md.contains("removed"), "{md}");
}

/// `compare` of two files that differ in an assumption (here the network's delay bound) as
/// well as, or instead of, the protocol names each such field with both values, in a note
/// (text) or a quoted line (Markdown): a removal may be the assumption's doing. Files that
/// assume the same get no note.
#[test]
fn compare_names_the_assumptions_that_differ() {
    let (a, b) =
        ("models/convex-auth-pr555-access-token-only.json", "models/convex-auth-pr555-delivered-within-a-tick.json");
    let out = cli(&root(), &["compare", a, b]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("note: A and B also differ in what they assume of the tabs, the attacker, the clock or the network: time.max_in_flight_ticks (A: -, B: 0);"),
        "{text}"
    );
    let out = cli(&root(), &["compare", a, b, "--format", "markdown"]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("> **Assumptions differ:** `time.max_in_flight_ticks (A: -, B: 0)`;"), "{md}");
    let out = cli(&root(), &["compare", a, a]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("also differ in what they assume"), "{text}");
}

/// `explore --save-path URL -o FILE` saves the path on screen as a trace that validates; a path
/// that does not replay, or is not a path, is refused (exit 2) with nothing written.
#[test]
fn explore_saves_the_path_on_screen_as_a_trace() {
    let dir = crate::common::TempFiles::new();
    let out = dir.path().join("saved.json");
    let url = "http://127.0.0.1:3000/#/steps/0/0/0/0/0/0/1/0/0/1/0";
    let o = cli(
        &root(),
        &["explore", "models/directus-10.10-session.json", "--save-path", url, "-o", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let t = refresh_check::trace::load(&out).unwrap();
    assert_eq!((t.property.as_str(), t.path.as_str()), ("explored:path", "0/0/0/0/0/0/1/0/0/1/0"));
    assert_eq!(t.steps.len(), 10);
    assert_eq!(t.steps[9].text, "tab B gets 401 INVALID_CREDENTIALS and is logged out");
    assert!(dir.path().join("saved.md").exists());
    let v = cli(&root(), &["trace", "validate", out.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stderr));
    for bad in ["0/99", "steps"] {
        let out = dir.path().join("bad.json");
        let o = cli(
            &root(),
            &["explore", "models/directus-10.10-session.json", "--save-path", bad, "-o", out.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--save-path"));
        assert!(!out.exists());
    }
}

/// Runs `check MODEL --query Q --no-traces -q` with the query file `text`: exit code, stdout,
/// stderr.
fn check_query(model: &str, text: &str) -> (Option<i32>, String, String) {
    let (_dir, qf) = crate::common::temp_file("q.json", text);
    let out = cli(&root(), &["check", model, "--query", qf.to_str().unwrap(), "--no-traces", "-q"]);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A misspelt action, rule or step name in an event is bad input (exit 2, before any search,
/// with the file, line, field and nearest name), not a query answered `unreachable`.
#[test]
fn misspelt_names_in_query_events_are_refused_with_the_nearest_name() {
    let hydra = "models/hydra-3004-check-outside-transaction.json";
    let cases = [
        (
            "models/directus-10.10-session.json",
            r#"["tab A TabSendRefresh"]"#,
            "unknown action `TabSendRefresh` (expected a step's action name, as traces show it, or `*`; did you mean `TabSendsRefresh`?)",
        ),
        ("models/directus-10.10-session.json", r#"["NoSuchAction"]"#, "unknown action `NoSuchAction`"),
        (hydra, r#"["server * rule `no longer activ`"]"#, "unknown rule `no longer activ` (expected one of the model's rules: active, inactive: reuse, revoked, still active, no longer active, revoke the chain, no rule holds, no such token; did you mean `no longer active`?)"),
        (hydra, r#"["* step `nosuchstep`"]"#, "unknown step `nosuchstep` (expected one of the model's steps: check (outside the transaction), rotate (transaction), "),
    ];
    for (model, events, needle) in cases {
        let q =
            format!("{{\"queries\": [\n {{\"name\": \"x\",\n  \"events\": {events}, \"expect\": \"unreachable\"}}]}}");
        let (code, stdout, err) = check_query(model, &q);
        assert_eq!(code, Some(2), "{events}: {stdout}{err}");
        assert!(err.contains("q.json:3:14: field `queries[0].events[0]`: "), "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(stdout.is_empty(), "nothing searched: {stdout}");
    }
    // A sign-in rule is a name of the model that no step shows.
    let (code, _, err) = check_query(
        "models/dex-973-sign-in-replaces-client-token.json",
        r#"{"queries": [{"name": "x", "events": ["* rule `replace the client's refresh token`"]}]}"#,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`replace the client's refresh token` is a sign-in rule (a sign-in before the run happens before the first step; one during the run is matched by its actions, ServerReceivesSignIn and ServerRunsSignIn), which no step of a run shows"),
        "{err}"
    );
    // The right names are answered.
    let (code, stdout, err) = check_query(
        hydra,
        r#"{"queries": [{"name": "x", "events": ["* step `rotate (transaction)`", "server * rule `no longer active`"]}]}"#,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("x: reachable in 6 steps"), "{stdout}");
}

/// `rule` and `step` filters match the decisions of a `session_server` (Directus) handler and
/// of a `protocol` server's sign-out, as they do a `protocol` refresh's; a sign-in rule, which
/// no step shows, is refused (exit 2) rather than answered `unreachable`.
#[test]
fn rule_and_step_filters_match_session_server_and_sign_out_decisions() {
    let directus = "models/directus-10.11.1-session.json";
    let dir = crate::common::TempFiles::new();
    let qf = dir.path().join("q.json");
    std::fs::write(
        &qf,
        r#"{"queries": [
  {"name": "g1", "events": ["* rule `G1 claim`"]},
  {"name": "r1", "events": ["server ServerReceivesResult step `R1 result`"]},
  {"name": "g1-in-r1", "events": ["* step `R1 result` rule `G1 claim`"]},
  {"name": "g1-in-token", "events": ["* step `token` rule `G1 claim`"], "expect": "unreachable"},
  {"name": "g3", "events": ["* rule `G3 insert the successor`"]}
]}"#,
    )
    .unwrap();
    let traces = dir.path().join("traces");
    let out =
        cli(&root(), &["check", directus, "--query", qf.to_str().unwrap(), "--traces", traces.to_str().unwrap(), "-q"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let t = |name: &str| {
        refresh_check::trace::load(&traces.join(format!("directus-10.11.1-session.query-{name}.json"))).unwrap()
    };
    // The claim is decided when R1's row reaches the server (session mode, no successor yet),
    // after the middleware's session check.
    let g1 = t("g1");
    assert_eq!(crate::util::steps(&g1).last().unwrap(), &("server".to_string(), "ServerReceivesResult".to_string()));
    assert_eq!(g1.steps.len(), 6, "{:?}", crate::util::steps(&g1));
    assert_eq!(g1.steps[2].action, "StoreRunsSessionCheck");
    assert_eq!(g1.steps[4].action, "StoreRunsR1");
    assert_eq!(t("r1").steps.len(), 6);
    assert_eq!(crate::util::steps(&t("g1-in-r1")), crate::util::steps(&g1));
    assert!(stdout.contains("g1-in-token: unreachable as expected"), "{stdout}");
    // The successor's insert is decided on the claim's result: two round trips.
    let g3 = t("g3");
    assert_eq!(g3.steps.len(), 8, "{:?}", crate::util::steps(&g3));
    assert_eq!(g3.steps[6].action, "StoreRunsG1Claim");
    // A sign-out's `delete` is decided once the middleware's session check has its row.
    let (code, stdout, err) = check_query(
        "models/directus-10.11.1-session-signout.json",
        r#"{"queries": [{"name": "x", "events": ["TabSignsOut", "server ServerReceivesResult step `token` rule `delete`"]},
            {"name": "y", "events": ["server ServerReceivesLogout rule `delete`"], "expect": "unreachable"}]}"#,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("x: reachable in 4 steps"), "{stdout}");
    assert!(stdout.contains("y: unreachable as expected"), "{stdout}");

    // A protocol server's sign-out rule.
    let (code, stdout, err) = check_query(
        "models/keycloak-pr35696-revoke-one-client-session.json",
        r#"{"queries": [{"name": "x", "events": ["server ServerReceivesLogout rule `revoke the token's client session`"]}, {"name": "y", "events": ["ServerReceivesRefresh rule `revoke the token's client session`"], "expect": "unreachable"}]}"#,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("x: reachable in 2 steps"), "{stdout}");
    assert!(stdout.contains("y: unreachable as expected"), "{stdout}");
}

/// `check DIR --traces DIR`: the model files are loaded once, so the traces written into the
/// folder are not read back as model files before the queries are answered: exit 0, and the
/// query's trace is written.
#[test]
fn check_a_folder_into_itself_answers_its_queries() {
    let dir = crate::common::TempFiles::new();
    let tf = dir.path().join("tf");
    std::fs::create_dir(&tf).unwrap();
    let name = "hydra-3004-check-outside-transaction";
    std::fs::copy(root().join(format!("models/{name}.json")), tf.join(format!("{name}.json"))).unwrap();
    let out = cli(dir.path(), &["check", "tf", "--traces", "tf", "-q"]);
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{err}");
    assert!(err.is_empty(), "{err}");
    assert!(stdout.contains("race-loser-answered-400: reachable in "), "{stdout}");
    let t = refresh_check::trace::load(&tf.join(format!("{name}.query-race-loser-answered-400.json"))).unwrap();
    assert_eq!(t.property, "query:race-loser-answered-400");
    assert!(tf.join(format!("{name}.no_spurious_logout.json")).exists());
}

/// `--timeout` bounds the whole command, the queries answered after the properties included:
/// a 2-second run whose query cannot finish in time ends near 2 s, answered unknown (exit 3).
/// Four tabs and one property that holds: however fast the machine, the search cannot end or
/// find a violation in 2 s (with three tabs a fast machine found a 23-step spurious logout).
#[test]
fn the_timeout_bounds_the_queries_too() {
    let start = std::time::Instant::now();
    let dir = crate::common::TempFiles::new();
    let qf = dir.path().join("q.json");
    std::fs::write(
        &qf,
        r#"{"queries":[{"name":"dead-cookie","end":"jar != none and jar.status == none and session_valid and at_rest","expect":"unreachable"}]}"#,
    )
    .unwrap();
    let out = cli(
        &root(),
        &[
            "check",
            "models/directus-10.11.1-session.json",
            "--tabs",
            "4",
            "--property",
            "mode_binding",
            "--timeout",
            "2",
            "--query",
            qf.to_str().unwrap(),
            "--no-traces",
            "-q",
        ],
    );
    let took = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("dead-cookie: unknown (search incomplete)"), "{stdout}");
    assert!(took < 3.5, "the whole command took {took:.1} s with --timeout 2");
}

/// Review 7: `explore --save-path … -o X.md` would have the chart overwrite the trace; it is
/// refused (exit 2) with nothing written.
#[test]
fn explore_refuses_a_trace_file_not_ending_in_json() {
    let dir = crate::common::TempFiles::new();
    let out = dir.path().join("saved.md");
    let url = "http://127.0.0.1:3000/#/steps/0/0/0/0/0/0/1/0/0/1/0";
    let o = cli(
        &root(),
        &["explore", "models/directus-10.10-session.json", "--save-path", url, "-o", out.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "-o {}: expected a trace file name ending in `.json` (its Markdown chart is written beside it as `.md`)",
            out.display()
        )),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}

/// Review 6: the save command the Explorer prints carries the tab count it explores, so the
/// saved path is the one on screen.
#[test]
fn explore_prints_a_save_command_with_its_tab_count() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_refresh-check"))
        .current_dir(root())
        .args(["explore", "models/directus-10.10-session.json", "--tabs", "3", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first[0].starts_with("Explorer for directus-10.10-session (3 tabs): http://127.0.0.1:"), "{first:?}");
    assert!(
        first[2].contains(
            "refresh-check explore models/directus-10.10-session.json --tabs 3 --save-path '<the URL>' -o FILE.json"
        ),
        "{first:?}"
    );
}

/// A `status` filter on a step that delivers no answer (the server receiving a request) could
/// never match, so the query was answered "unreachable" after a whole search; it is refused
/// (exit 2) naming the actions it can filter.
#[test]
fn a_status_filter_on_a_step_that_delivers_no_answer_is_refused() {
    let dir = crate::common::TempFiles::new();
    let qf = dir.path().join("q.json");
    std::fs::write(
        &qf,
        r#"{"queries":[{"name":"server-200","events":["server ServerReceivesRefresh status 200"],"expect":"reachable"}]}"#,
    )
    .unwrap();
    let out =
        cli(&root(), &["check", "models/spring-as-rotate.json", "--query", qf.to_str().unwrap(), "--no-traces", "-q"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a `status` filter on `ServerReceivesRefresh`, which delivers no answer"), "{err}");
    assert!(err.contains("TabReceivesRefreshResponse"), "{err}");
    // On an answer the same filter is taken and matched.
    std::fs::write(
        &qf,
        r#"{"queries":[{"name":"tab-200","events":["TabReceivesRefreshResponse status 200"],"expect":"reachable"}]}"#,
    )
    .unwrap();
    let out =
        cli(&root(), &["check", "models/spring-as-rotate.json", "--query", qf.to_str().unwrap(), "--no-traces", "-q"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tab-200: reachable"), "{stdout}");
}

/// `token[N]` alone names a token, so a condition can say which token the shared storage
/// holds: on `auth0-spa-js-no-single-flight` (rotation, two tabs, shared `localStorage`) the
/// storage comes to hold token 2 after one rotation, never token 9, and a bare number is refused.
#[test]
fn a_condition_names_a_token_by_its_number() {
    let dir = crate::common::TempFiles::new();
    let qf = dir.path().join("q.json");
    std::fs::write(
        &qf,
        r#"{"queries": [
  {"name": "storage-holds-2", "end": "storage == token[2]", "expect": "reachable"},
  {"name": "storage-holds-9", "end": "storage == token[9]", "expect": "unreachable"}
]}"#,
    )
    .unwrap();
    let out = cli(
        &root(),
        &["check", "models/auth0-spa-js-no-single-flight.json", "--query", qf.to_str().unwrap(), "--no-traces"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("storage-holds-2: reachable in "), "{stdout}");
    assert!(stdout.contains("storage-holds-9: unreachable as expected"), "{stdout}");
    let bad = dir.write("bad.json", r#"{"queries": [{"name": "n", "end": "storage == 2", "expect": "reachable"}]}"#);
    let out = cli(
        &root(),
        &["check", "models/auth0-spa-js-no-single-flight.json", "--query", bad.to_str().unwrap(), "--no-traces"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot compare a token with a number"));
}

/// An event names one of a tab's requesters (`tab A requester 2`) or a reloaded page
/// (`tab A page 1`), the actors the traces print as `tab A's requester 2` and `tab A (reloaded
/// page 1)`; `tab A` alone is the tab itself on its first page.
#[test]
fn events_name_a_tabs_requesters_and_reloaded_pages() {
    let dir = crate::common::TempFiles::new();
    let qf = dir.path().join("q.json");
    let traces = dir.path().join("traces");
    let ask = |model: &str, queries: &str| {
        std::fs::write(&qf, queries).unwrap();
        let out =
            cli(&root(), &["check", model, "--query", qf.to_str().unwrap(), "--traces", traces.to_str().unwrap()]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    let (code, text) = ask(
        "models/inite-641-page-fetches-race.json",
        r#"{"queries": [
  {"name": "second-fetch", "events": ["tab A requester 2 RequesterSendsRefresh"], "expect": "reachable"},
  {"name": "the-tab-itself", "events": ["tab A TabSendsRefresh"], "expect": "reachable"}
]}"#,
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("second-fetch: reachable in ") && text.contains("the-tab-itself: reachable in 1 step"),
        "{text}"
    );
    let t = refresh_check::trace::load(&traces.join("inite-641-page-fetches-race.query-second-fetch.json")).unwrap();
    let last = t.steps.last().unwrap();
    assert_eq!((last.actor.as_str(), last.action.as_str()), ("tab A's requester 2", "RequesterSendsRefresh"));

    let (code, text) = ask(
        "models/nhost-hbp-220-reload-cancels-refresh.json",
        r#"{"queries": [
  {"name": "reloaded-page-refused", "events": ["tab A page 1 TabReceivesRefreshResponse status 400"], "expect": "reachable"}
]}"#,
    );
    assert_eq!(code, Some(0), "{text}");
    let t = refresh_check::trace::load(
        &traces.join("nhost-hbp-220-reload-cancels-refresh.query-reloaded-page-refused.json"),
    )
    .unwrap();
    let last = t.steps.last().unwrap();
    assert_eq!((last.actor.as_str(), last.action.as_str()), ("tab A (reloaded page 1)", "TabReceivesRefreshResponse"));

    // An actor the model does not have, or one that never takes the action, is refused before
    // any search (exit 2), not answered `unreachable`.
    for (model, event, why) in [
        (
            "models/nhost-hbp-220-reload-cancels-refresh.json",
            "tab A page 2 TabReceivesRefreshResponse",
            "reload at most 1 time(s)",
        ),
        (
            "models/nhost-hbp-220-reload-cancels-refresh.json",
            "tab A requester 2 RequesterSendsRefresh",
            "have 1 requester (",
        ),
        ("models/inite-641-page-fetches-race.json", "tab A requester 3 RequesterSendsRefresh", "have 2 requesters ("),
        (
            "models/inite-641-page-fetches-race.json",
            "server TabSendsRefresh",
            "`server` never takes `TabSendsRefresh`: it is a step of a tab's",
        ),
        ("models/inite-641-page-fetches-race.json", "node 1 NodeServesRequest", "has no nodes"),
        ("models/inite-641-page-fetches-race.json", "tab A RequesterSendsRefresh", "it is a step of another requester"),
        (
            "models/inite-641-page-fetches-race.json",
            "tab A requester 2 TabSendsRefresh",
            "a requester sends with `RequesterSendsRefresh`",
        ),
        ("models/keycloak-strict.json", "StoreRunsR1", "the model has no session store"),
        ("models/keycloak-strict.json", "attacker AttackerRedeems", "the model has no attacker"),
    ] {
        std::fs::write(&qf, format!(r#"{{"queries": [{{"name": "x", "events": ["{event}"]}}]}}"#)).unwrap();
        let out = cli(&root(), &["check", model, "--query", qf.to_str().unwrap(), "--no-traces"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{event}: {err}");
        assert!(err.contains("field `queries[0].events[0]`") && err.contains(why), "{event}: {err}");
        assert!(out.stdout.is_empty(), "{event}");
    }
}

/// `tab A` is the first device's tab A on a model with several devices too, where traces print
/// `tab 1A` (and `tab 1A` names it on a model of one device); a query file answered on a folder
/// of models may name a tab only some of them have: answered `unreachable` where it is absent,
/// not refused.
#[test]
fn tab_a_is_the_first_devices_and_a_shared_query_file_is_answered_per_model() {
    let dir = crate::common::TempFiles::new();
    let qf = dir.path().join("q.json");
    std::fs::write(
        &qf,
        r#"{"queries": [
  {"name": "a-sends", "events": ["tab A TabSendsRefresh"], "expect": "reachable"},
  {"name": "1a-sends", "events": ["tab 1A TabSendsRefresh"], "never": ["tab A TabSendsRefresh"], "expect": "unreachable"}
]}"#,
    )
    .unwrap();
    for model in ["models/dex-973-two-clients-keep-their-tokens.json", "models/c19-lost-response-rotate.json"] {
        let out = cli(&root(), &["check", model, "--query", qf.to_str().unwrap(), "--no-traces"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{model}: {text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            text.contains("a-sends: reachable in 1 steps as expected")
                || text.contains("a-sends: reachable in 1 step as expected"),
            "{model}: {text}"
        );
        assert!(text.contains("1a-sends: unreachable as expected"), "{model}: {text}");
    }
    // `tab B` exists in a two-tab model, not in a one-tab one: on a folder of both the query is
    // answered on each; on the one-tab model alone it is refused.
    let folder = dir.path().join("models");
    std::fs::create_dir_all(&folder).unwrap();
    for m in ["c19-lost-response-rotate.json", "spring-as-rotate.json"] {
        std::fs::copy(root().join("models").join(m), folder.join(m)).unwrap();
    }
    std::fs::write(&qf, r#"{"queries": [{"name": "b-sends", "events": ["tab B TabSendsRefresh"]}]}"#).unwrap();
    let tabs = |m: &str| refresh_check::scenario::Scenario::load(&folder.join(m)).unwrap().browser.tabs;
    assert_eq!((tabs("c19-lost-response-rotate.json"), tabs("spring-as-rotate.json")), (1, 2));
    let out = cli(&root(), &["check", folder.to_str().unwrap(), "--query", qf.to_str().unwrap(), "--no-traces"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("c19-lost-response-rotate b-sends: unreachable"), "{text}");
    assert!(text.contains("spring-as-rotate b-sends: reachable in 1 step"), "{text}");
    let out = cli(
        &root(),
        &[
            "check",
            folder.join("c19-lost-response-rotate.json").to_str().unwrap(),
            "--query",
            qf.to_str().unwrap(),
            "--no-traces",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`tab B`: the model has 1 tab per device"));
}

/// A condition naming a tab or a device the model lacks is refused (exit 2, the file, line,
/// field and what the model has) rather than read as `idle`, false or none: on the two-tab
/// Directus model `tab[C].status == idle` was answered "violated in 0 steps" as an invariant.
#[test]
fn a_condition_naming_a_tab_or_device_the_model_lacks_is_refused() {
    let model = "models/directus-10.10-session.json";
    let cases = [
        (r#"{"name": "x", "always": "tab[C].status == idle"}"#, "always", "tab `C`, but device 1 has 2 tabs (A to B)"),
        (
            r#"{"name": "x", "end": "tab[2A].status == logged_out"}"#,
            "end",
            "device 2, but the model has 1 device (device 1)",
        ),
        (r#"{"name": "x", "end": "session_valid[3]"}"#, "end", "device 3, but the model has 1 device (device 1)"),
        (r#"{"name": "x", "end": "not tab[D].token.status == active"}"#, "end", "tab `D`, but device 1 has 2 tabs"),
    ];
    for (query, key, needle) in cases {
        let (code, stdout, err) = check_query(model, &format!("{{\"queries\": [\n {query}]}}"));
        assert_eq!(code, Some(2), "{query}: {stdout}{err}");
        assert!(
            err.contains(&format!("q.json:2:")) && err.contains(&format!("field `queries[0].{key}`: {needle}")),
            "{err}"
        );
        assert!(stdout.is_empty(), "nothing searched: {stdout}");
    }
    // Also with a query file answered on several model files: an invariant about a tab C that
    // neither model has held "as expected" on both.
    let (_dir, qf) =
        crate::common::temp_file("q.json", r#"{"queries": [{"name": "x", "always": "tab[C].status != logged_out"}]}"#);
    let out = cli(
        &root(),
        &["check", model, "models/spring-as-rotate.json", "--query", qf.to_str().unwrap(), "--no-traces", "-q"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("field `queries[0].always`: tab `C`, but device 1 has 2 tabs (A to B)"), "{err}");
    // The tabs it has are answered.
    let (code, stdout, err) =
        check_query(model, r#"{"queries": [{"name": "x", "end": "tab[B].status == logged_out and session_valid"}]}"#);
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("x: reachable in"), "{stdout}");
}

/// A condition reading what only an attacker has (`stolen`, `stolen_tokens`,
/// `stolen_access`, `attacker_redeemed`) on a model without one, or `stolen_access` on a model
/// whose attacker makes no calls with access tokens, is refused (exit 2, line, field, what it
/// needs) rather than read as 0 in every state; the same reads on a model with the attacker
/// they need are answered.
#[test]
fn a_condition_reading_an_attacker_the_model_lacks_is_refused() {
    let plain = "models/directus-10.10-session.json";
    let cases = [
        (plain, r#"{"name": "x", "always": "stolen == 0"}"#, "always", "`stolen`, but the model has no attacker"),
        (plain, r#"{"name": "x", "end": "stolen_tokens.live >= 1"}"#, "end", "`stolen_tokens.live`, but the model has no attacker"),
        (plain, r#"{"name": "x", "end": "attacker_redeemed"}"#, "end", "`attacker_redeemed`, but the model has no attacker"),
        (
            "models/directus-10.10-session-attacker.json",
            r#"{"name": "x", "always": "stolen_access == 0"}"#,
            "always",
            "`stolen_access`, but the model's attacker makes no calls with access tokens (expected `attacker.uses_access_tokens`: true)",
        ),
    ];
    for (model, query, key, needle) in cases {
        let (code, stdout, err) = check_query(model, &format!("{{\"queries\": [\n {query}]}}"));
        assert_eq!(code, Some(2), "{query}: {stdout}{err}");
        assert!(err.contains("q.json:2:") && err.contains(&format!("field `queries[0].{key}`: {needle}")), "{err}");
    }
    let (code, stdout, err) = check_query(
        "models/directus-10.10-session-attacker.json",
        r#"{"queries": [{"name": "x", "end": "stolen_tokens >= 1"}]}"#,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("x: reachable in"), "{stdout}");
}

/// A shard answers no query: it says so rather than reporting "as expected" in silence.
#[test]
fn a_shard_says_it_answers_no_query() {
    let dir = crate::common::TempFiles::new();
    let m = root().join("models/spiderly-384-401-clears-cookies.json");
    let out = cli(dir.path(), &["check", m.to_str().unwrap(), "--shard", "1/1", "--no-traces"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 model file(s) carry queries, which a shard does not answer"), "{err}");
    // Without the shard, the same run answers them.
    let out = cli(dir.path(), &["check", m.to_str().unwrap(), "--no-traces"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("shard does not answer"));
}

/// `stolen_tokens` and `stolen_tokens.live` read the refresh tokens the attacker holds (it
/// copies every token the browser held; with `keeps_tokens`, also those answered to it) and
/// how many of them are active. Auth0's rotation with reuse detection, one tab refreshing
/// twice: the attacker holds the tab's token from the start; once the tab rotates it (its
/// answer not yet stored) the attacker holds no active token; after redeeming a copy it keeps
/// the new one; and it can still copy and redeem the victim's newest token after the victim's
/// last refresh: "can the attacker keep access after the victim refreshes?" is reachable.
#[test]
fn the_state_view_reads_the_refresh_tokens_the_attacker_holds() {
    let files = crate::common::TempFiles::new();
    let file = files.copy_model("models/auth0-rotation-theft.json", "t.json", |m| {
        m.shift_remove("expect");
        m["attacker"]["keeps_tokens"] = true.into();
        m.insert(
            "queries".into(),
            serde_json::json!([
                { "name": "holds-a-copy", "always": "stolen_tokens >= 1", "expect": "holds" },
                { "name": "none-live", "end": "stolen_tokens.live == 0", "expect": "reachable" },
                { "name": "keeps-its-answer", "end": "attacker_redeemed and stolen_tokens.live == 1 and at_rest", "expect": "reachable" },
                { "name": "keeps-access-after-the-victim",
                  "end": "attacker_redeemed and stolen_tokens.live >= 1 and tab[A].refreshes_left == 0 and at_rest",
                  "expect": "reachable" }
            ]),
        );
    });
    let sc = refresh_check::scenario::Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let o = crate::util::answered(&sc, "holds-a-copy");
    assert!(o.unique_states > 40, "{} states", o.unique_states);
    let o = crate::util::answered(&sc, "none-live");
    assert_eq!(actions(trace(&o)), ["TabSendsRefresh", "ServerReceivesRefresh"]);
    let o = crate::util::answered(&sc, "keeps-its-answer");
    assert_eq!(actions(trace(&o)), ["AttackerRedeems", "ServerReceivesRefresh", "AttackerReceivesResponse"]);
    let o = crate::util::answered(&sc, "keeps-access-after-the-victim");
    let t = trace(&o);
    let refresh = ["TabSendsRefresh", "ServerReceivesRefresh", "TabReceivesRefreshResponse"];
    let expected: Vec<&str> = refresh
        .iter()
        .chain(refresh.iter())
        .chain(["AttackerRedeems", "ServerReceivesRefresh", "AttackerReceivesResponse"].iter())
        .copied()
        .collect();
    assert_eq!(actions(t), expected);
    assert!(t.steps[6].text.contains("refresh_token=3"), "the victim's newest token: {}", t.steps[6].text);
}

/// `models validate` checks a model file's own queries as `check` does: an action no step
/// shows is refused with the file, the field and the nearest name (exit 2), not reported ok.
#[test]
fn models_validate_checks_the_files_own_queries() {
    let files = crate::common::TempFiles::new();
    files.copy_model("models/auth0-rotation-theft.json", "q.json", |m| {
        m.insert("queries".into(), serde_json::json!([{ "name": "x", "events": ["TabSendCall"] }]));
    });
    let out = cli(files.path(), &["models", "validate", "q.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("q.json") && err.contains("queries[0].events[0]") && err.contains("TabSendsCall"), "{err}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// An event naming an action of a feature the model lacks (a follow-up, a sign-out notice,
/// coordination between tabs, a clock, a lossy network) could only be answered `unreachable`,
/// whatever the protocol does: it is refused with the file, the field and what the model
/// lacks (exit 2), as an action of an absent attacker is; with the feature it is accepted.
#[test]
fn an_action_of_a_feature_the_model_lacks_is_refused() {
    let files = crate::common::TempFiles::new();
    let cases = [
        ("server ServerReceivesFollowUp", "`browser.follow_up`"),
        ("TabReceivesFollowUpResponse", "`browser.follow_up`"),
        ("tab A TabHearsSignOut", "`browser.sign_out_notice`"),
        ("tab A TabWaitsForLock", "`browser.coordination`"),
        ("FollowerTimesOut", "`browser.coordination`"),
        ("clock ClockTicks", "`time.max_ticks` is 0"),
        ("network NetworkLosesMessage", "no `lossy` section"),
    ];
    for (event, lacks) in cases {
        files.copy_model("models/auth0-rotation-theft.json", "q.json", |m| {
            m.insert("queries".into(), serde_json::json!([{ "name": "x", "events": [event] }]));
        });
        for args in [&["models", "validate", "q.json"][..], &["check", "q.json", "--no-traces"][..]] {
            let out = cli(files.path(), args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{event}: {err}");
            assert!(
                err.contains("q.json:") && err.contains("queries[0].events[0]") && err.contains(lacks),
                "{event}: {err}"
            );
        }
    }
    // With the feature, the same kind of event is accepted and answered.
    files.copy_model("models/auth0-rotation-theft.json", "q.json", |m| {
        m["time"]["max_ticks"] = 1.into();
        m.shift_remove("expect");
        m.insert(
            "queries".into(),
            serde_json::json!([{ "name": "x", "events": ["clock ClockTicks"], "expect": "reachable" }]),
        );
    });
    let out = cli(files.path(), &["check", "q.json", "--no-traces"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("x: reachable"), "{text}");
}

/// A follow-up to a revocation endpoint that searches the hinted kind only, sent with a token
/// of the other kind, is worded as the sign-out's own request is ("not found under its
/// token_type_hint"), the decision a query's `rule` filter matches, not "no such token".
#[test]
fn a_follow_up_not_found_under_its_hint_is_worded_so() {
    let files = crate::common::TempFiles::new();
    let file = files.copy_model("models/spring-as-revoke-refresh-token-at-sign-out.json", "f.json", |m| {
        m.shift_remove("expect");
        m.shift_remove("attacker");
        m["protocol"]["sign_out"]["revocation"] = serde_json::json!({ "hint": "access_token", "search": "hinted" });
        m["browser"]["follow_up"] =
            serde_json::json!({ "after": "refresh-ok", "handler": "sign_out", "presents": "superseded" });
        m.insert(
            "queries".into(),
            serde_json::json!([{ "name": "follow-up", "events": ["server ServerReceivesFollowUp"], "expect": "reachable" }]),
        );
    });
    let sc = refresh_check::scenario::Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let o = crate::util::answered(&sc, "follow-up");
    let step = trace(&o).steps.last().unwrap();
    assert_eq!(step.action, "ServerReceivesFollowUp");
    assert!(
        step.text.ends_with(
            "not found under its token_type_hint (the server searches the hinted kind only): nothing revoked"
        ),
        "{}",
        step.text
    );
}

/// A query of a `--query` file with the name of one of the model file's own queries is
/// refused (exit 2, the query file, the field): both traces would be written to one file.
#[test]
fn a_query_file_may_not_reuse_a_model_files_query_name() {
    let files = crate::common::TempFiles::new();
    files.copy_model("models/auth0-rotation-theft.json", "m.json", |m| {
        m.insert("queries".into(), serde_json::json!([{ "name": "same", "events": ["TabSendsRefresh"] }]));
    });
    files.write("q.json", r#"{ "queries": [ { "name": "same", "events": ["ServerReceivesRefresh"] } ] }"#);
    let out = cli(files.path(), &["check", "m.json", "--query", "q.json", "--no-traces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("q.json:1:") && err.contains("queries[0].name") && err.contains("a query of this name already"),
        "{err}"
    );
}

/// An unreachable answer to a query naming an error status comes with a hint that the status is
/// the one traces print (an authorization server refuses a refresh with 400, not 401); a 2xx,
/// which every model answering a refresh prints, does not, nor does a status the model prints
/// that a text filter kept from matching.
#[test]
fn an_unreachable_error_status_comes_with_a_hint_and_a_2xx_does_not() {
    let dir = crate::common::TempFiles::new();
    dir.copy_model("models/auth0-rotation-theft.json", "m.json", |v| {
        v.insert(
            "queries".into(),
            serde_json::json!([
                { "name": "refused-401", "events": ["tab A TabReceivesRefreshResponse status 401"], "expect": "unreachable" },
                { "name": "ok-then-nothing", "events": ["tab A TabReceivesRefreshResponse status 200"],
                  "end": "now > 99", "expect": "unreachable" },
                { "name": "refused-400-other-text",
                  "events": ["tab A TabReceivesRefreshResponse status 400 text `no such words`"], "expect": "unreachable" } ]),
        );
    });
    let out = cli(dir.path(), &["check", "m.json", "--no-traces"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let after = |name: &str| {
        let at = text.find(&format!(" {name}: unreachable")).unwrap_or_else(|| panic!("{text}"));
        text[at..].lines().nth(1).unwrap_or("").to_string()
    };
    assert!(after("refused-401").trim_start().starts_with("hint: status 401 is compared with the status"), "{text}");
    assert!(!after("ok-then-nothing").contains("hint:"), "{text}");
    // 400 is what the model prints for a refused refresh: a text filter that matched nothing is
    // the cause, and no hint blames the status.
    assert!(!after("refused-400-other-text").contains("hint:"), "{text}");
}

/// matrix-rust-sdk before PR 6860 reads its token in a step of its own (`reads_token`
/// "before-send"), the fix reads it as it sends: compare replays A's steps on B without A's
/// token reads, and says so (it refused every replay as "not comparable": B has no action
/// `TabReadsToken`). A's own query is named as not compared.
#[test]
fn compare_replays_across_reads_token_and_names_the_queries_it_does_not_compare() {
    let out = cli(
        &root(),
        &[
            "compare",
            "models/matrix-rust-sdk-6794-token-captured-before-metadata.json",
            "models/matrix-rust-sdk-pr6860-metadata-before-lock.json",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("note: A's tabs read their token in a step of their own (`browser.reads_token` \"before-send\"), B's as they send (\"at-send\")"), "{text}");
    let replay = text.lines().find(|l| l.starts_with("  no_spurious_logout #1 (9 steps): ")).unwrap();
    assert!(!replay.contains("not comparable"), "{text}");
    assert!(replay.contains("B runs these steps") || replay.contains("B never runs these steps"), "{text}");
    let events = text.lines().skip_while(|l| !l.starts_with("  no_spurious_logout #1")).nth(1).unwrap();
    assert!(events.contains("tab A TabSendsRefresh") && !events.contains("TabReadsToken"), "{events}");
    assert!(text.contains("note: A's own queries (`app-exchanges-the-token-it-captured`) are not compared"), "{text}");
}

/// A query file that writes the model's plural client word for one client in its condition
/// (`processes[A]`) beside events in the singular (`process A …`): the condition is refused at
/// its own field, naming the singular form, and the events are not blamed; the singular
/// condition is answered.
#[test]
fn a_plural_client_word_for_one_client_is_refused_at_the_condition() {
    let files = crate::common::TempFiles::new();
    let model = root().join("models/gcx-522-two-invocations-share-config.json");
    let query = |end: &str| {
        serde_json::json!({"queries": [{"name": "x", "description": "d", "events": ["process A TabSendsRefresh"],
            "end": end, "expect": "reachable"}]})
        .to_string()
    };
    let plural = files.write("plural.json", query("processes[A].status == logged_out"));
    let out =
        cli(files.path(), &["check", model.to_str().unwrap(), "--query", plural.to_str().unwrap(), "--no-traces"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("field `queries[0].end`"), "{stderr}");
    assert!(stderr.contains("one process is `process[A]`"), "{stderr}");
    assert!(!stderr.contains("events[0]"), "{stderr}");
    let singular = files.write("singular.json", query("process[A].status == logged_out"));
    let out =
        cli(files.path(), &["check", model.to_str().unwrap(), "--query", singular.to_str().unwrap(), "--no-traces"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("reachable"), "{stdout}");
}
