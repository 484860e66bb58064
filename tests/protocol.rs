//! The protocol language: presets expand into it without changing any search, its errors name
//! file, line, field and what was expected, and the model-file schema accepts every shipped
//! model.

use refresh_check::check::CheckOptions;
use refresh_check::scenario::{self, Scenario};

use crate::util::{cli, root, run};

/// Every shipped `auth_server` model, expanded into a `protocol` section by `models expand`,
/// searches the same state space (states, unique states) to the same verdicts with
/// counterexamples of the same length: the preset is the language, not a second engine.
#[test]
fn every_preset_model_expands_to_a_protocol_that_searches_identically() {
    let dir = crate::common::TempFiles::new();
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        let sc = Scenario::load(&path).unwrap();
        if sc.auth_server.is_none() {
            continue;
        }
        let text = scenario::expanded_text(&sc).unwrap();
        assert!(text.contains("\"protocol\"") && !text.contains("\"auth_server\""), "{}", path.display());
        let out = dir.path().join(path.file_name().unwrap());
        std::fs::write(&out, &text).unwrap();
        let expanded = Scenario::load(&out).unwrap_or_else(|e| panic!("{e}"));
        assert!(expanded.auth_server.is_none() && expanded.protocol.is_some());
        let (_, a) = run(&sc, &CheckOptions::default());
        let (_, b) = run(&expanded, &CheckOptions::default());
        assert_eq!((a.states, a.unique_states), (b.states, b.unique_states), "{}", path.display());
        assert!(a.unique_states > 10, "{}: the search was not empty", path.display());
        for (p, q) in a.properties.iter().zip(&b.properties) {
            assert_eq!((p.name, p.status, p.steps), (q.name, q.status, q.steps), "{}", path.display());
        }
        n += 1;
    }
    assert!(n >= 50, "only {n} preset models found");
}

fn with_protocol(rules: &str) -> String {
    format!(
        r#"{{"name":"p","description":"d","sources":["s"],
"protocol": {{
  "refresh": {{ "rules": [
{rules}
  ] }},
  "sign_out": {{ "rules": [ {{ "name": "revoke", "do": ["revoke family"], "reply": "signed_out" }} ] }}
}},
"browser":{{"tabs":2,"refreshes_per_tab":1,"mode":"json"}},
"time":{{"refresh_token_ttl":7,"session_cookie_ttl":4}}}}"#
    )
}

/// A misspelt column, a wrong type, an unknown effect and a reply that does not fit are each
/// refused with the file, the line of the text, the field path, what was wrong and a
/// suggestion; the CLI exits 2.
#[test]
fn protocol_errors_name_file_line_field_and_suggest_a_spelling() {
    let cases = [
        (
            r#"{ "name": "rotate", "when": "presented.stauts == active", "do": ["mint child"], "reply": "ok minted" }"#,
            "protocol.refresh.rules[0].when",
            "did you mean `presented.status`?",
        ),
        (
            r#"{ "name": "rotate", "when": "presented.generation == active", "reply": "invalid_grant" }"#,
            "protocol.refresh.rules[0].when",
            "cannot compare a number (ticks or a count) with a status",
        ),
        (
            r#"{ "name": "rotate", "do": ["revoke famly"], "reply": "invalid_grant" }"#,
            "protocol.refresh.rules[0].do[0]",
            "did you mean `family`?",
        ),
        (
            r#"{ "name": "rotate", "do": ["supersede presented"], "reply": "ok minted" }"#,
            "protocol.refresh.rules[0].reply",
            "`ok minted` only in a rule whose `do` has `mint child`, or after a step that mints",
        ),
        (r#"{ "name": "rotate", "reply": "signed_out" }"#, "protocol.refresh.rules[0].reply", "a refresh's answer"),
    ];
    let dir = crate::common::TempFiles::new();
    for (rule, field, hint) in cases {
        let text = with_protocol(rule);
        let file = dir.path().join("p.json");
        std::fs::write(&file, &text).unwrap();
        let e = Scenario::load(&file).unwrap_err().to_string();
        // The rule stands on line 4 of the file; the column is where the offending string starts.
        let at = e.strip_prefix(&format!("{}:4:", file.display())).unwrap_or_else(|| panic!("{e}"));
        let (column, rest) = at.split_once(':').unwrap();
        assert!(column.parse::<usize>().is_ok_and(|c| c > 1) && rest.starts_with(&format!(" field `{field}`")), "{e}");
        assert!(e.contains(hint), "{e}");
        let out = cli(dir.path(), &["models", "validate", "p.json"]);
        assert_eq!(out.status.code(), Some(2), "{e}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(hint));
    }
}

/// `models expand` prints a protocol model as it is (a Directus model: `tests/sessions.rs`).
#[test]
fn expand_keeps_a_protocol_model() {
    let out = cli(&root(), &["models", "expand", "models/keycloak-strict.json"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r#""when": "presented.status == superseded""#), "{text}");
    let dir = crate::common::TempFiles::new();
    std::fs::write(dir.path().join("k.json"), &text).unwrap();
    let again = cli(dir.path(), &["models", "expand", "k.json"]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text, "expanding an expansion changes nothing");
}

/// The model-file schema is a valid JSON Schema that accepts every shipped model file and an
/// expanded one, and refuses a rule without a reply.
#[test]
fn the_model_file_schema_accepts_every_shipped_model() {
    let out = cli(&root(), &["models", "schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        n += 1;
    }
    assert!(n >= 73);
    let bad: serde_json::Value = serde_json::from_str(&with_protocol(r#"{ "name": "r" }"#)).unwrap();
    assert!(!v.is_valid(&bad), "a rule without a reply");
    let good: serde_json::Value =
        serde_json::from_str(&with_protocol(r#"{ "name": "r", "reply": "invalid_grant" }"#)).unwrap();
    assert!(v.is_valid(&good));
}

/// The schema's bounds on the browser's and time's counts are the validator's: the largest
/// value the schema admits is accepted, one more is refused naming the field (so an editor
/// that checks the schema and `check` agree).
#[test]
fn the_schema_bounds_are_the_validators() {
    let out = cli(&root(), &["models", "schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let defs = &schema["$defs"];
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("models/keycloak-strict.json")).unwrap()).unwrap();
    let dir = crate::common::TempFiles::new();
    let fields = [
        ("BrowserSection", "browser", "tabs"),
        ("BrowserSection", "browser", "refreshes_per_tab"),
        ("BrowserSection", "browser", "requests_per_tab"),
        ("BrowserSection", "browser", "sign_outs"),
        ("BrowserSection", "browser", "retries_per_tab"),
        ("TimeSection", "time", "max_ticks"),
        ("TimeSection", "time", "access_token_ttl"),
        ("TimeSection", "time", "refresh_margin"),
    ];
    // `time.refresh_margin` is read only by a model with Directus's freshness check (elsewhere it
    // is refused whatever its value), so its bound is tried on one.
    let fresh: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/directus-10.11.1-session-3tabs.json")).unwrap(),
    )
    .unwrap();
    for (def, section, field) in fields {
        let max = defs[def]["properties"][field]["maximum"].as_u64().unwrap_or_else(|| panic!("{field}: no maximum"));
        for (value, ok) in [(max, true), (max + 1, false)] {
            let mut m = if field == "refresh_margin" { fresh.clone() } else { base.clone() };
            m[section][field] = serde_json::Value::from(value);
            let path = dir.path().join(format!("{field}-{value}.json"));
            std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
            let err = refresh_check::scenario::Scenario::load(&path).err().map(|e| e.to_string()).unwrap_or_default();
            let names_field = err.contains(&format!("{section}.{field}"));
            assert_eq!(!names_field, ok, "{section}.{field} = {value} (schema maximum {max}): {err}");
        }
    }
}

/// Ory Hydra issue 3004, written with two steps: the shortest logout is the sequential reuse
/// (B's check runs after A's rotation committed and revokes the chain), and the reported race
/// exists too: both checks pass, A's transaction rotates, B's conditional update finds the row
/// inactive and B is answered 400 `invalid_request`, without reuse detection.
#[test]
fn hydra_3004_the_race_loser_gets_400_and_a_later_check_revokes_the_chain() {
    use refresh_check::model::{self, oauth::TokStatus, HttpError, Msg, Reply};
    use refresh_check::search;

    let (sc, m, r) = crate::util::checked("models/hydra-3004-check-outside-transaction.json");
    let t = crate::util::trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        crate::util::actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerWritesRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(t.steps[3].text.contains("step `rotate (transaction)` of tab A's refresh"), "{}", t.steps[3].text);
    assert!(t.steps[4].text.ends_with("rule `inactive: reuse` → invalid_grant"), "{}", t.steps[4].text);
    assert!(t.steps[5].text.starts_with("tab B gets 400 invalid_grant"), "{}", t.steps[5].text);
    let last = &t.steps[5].state.store;
    assert!(last.iter().all(|row| row.ends_with("revoked")), "the chain is revoked: {last:?}");

    // The race of the report: a 400 for the tab whose check passed before the other's commit.
    fn race_lost(_: &model::RefreshModel, s: &model::State) -> bool {
        s.network
            .deliverable()
            .any(|e| matches!(e.msg, Msg::RefreshResponse { tab: 1, reply: Reply::Err(HttpError::InvalidPayload) }))
    }
    let (path, _, with_race) = crate::util::shortest_to(&sc, race_lost);
    let path = path.expect("the race is reachable");
    assert_eq!(path.actions.len(), 6, "A and B send and pass the check, A rotates, B's update finds it inactive");
    let (_, steps) = search::replay(&with_race, &path).unwrap();
    let end = &steps.last().unwrap().1;
    let auth = model::auth_server_at(end, with_race.cfg.server).unwrap();
    assert_eq!(auth.rows[0].status, TokStatus::Superseded { at: 0, uses: 0 });
    assert_eq!(auth.rows[1].status, TokStatus::Active, "A's child lives: no reuse detection in the race");
    assert_eq!(auth.as_ghost.detected, 0);
}

/// Spiderly issue 384 with the client reaction `on_refused: [clear-stored-token, log-out]`:
/// the shortest logout is the loser's own 401; the reported mechanism, the loser's 401 clearing
/// the jar so that the winner (whose fresh cookie was just set) is logged out at its next
/// refresh, is reachable, and unreachable with the default reaction; the fix (a one-tick
/// pointer to the successor) holds.
#[test]
fn spiderly_384_the_losers_401_clears_the_winners_cookie_and_the_successor_grace_fixes_it() {
    use refresh_check::model::{self, browser::TabStatus};
    use refresh_check::search;

    let (sc, m, r) = crate::util::checked("models/spiderly-384-401-clears-cookies.json");
    let t = crate::util::trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.steps.len(), 5);
    assert!(t.steps[4].text.starts_with("tab B gets 401"), "{}", t.steps[4].text);
    assert!(t.steps[4].text.ends_with("clears the stored token and is logged out"), "{}", t.steps[4].text);

    // After a 2xx, tab A sends its next refresh with nothing in the jar: it will be refused
    // with 400 and logged out, although no token of the session was revoked.
    fn winner_logged_out(m: &model::RefreshModel, s: &model::State) -> bool {
        let b = model::browser_at(s, m.cfg.browsers[0]);
        b.refreshed_ok && b.tabs[0].status == TabStatus::Refreshing { sent: None }
    }
    let reach = |sc: &refresh_check::scenario::Scenario| {
        let (path, exhaustive, _) = crate::util::shortest_to(sc, winner_logged_out);
        (path, exhaustive)
    };
    let (path, _) = reach(&sc);
    let path = path.expect("the winner is logged out by the emptied jar");
    let with_clear = model::build(&sc);
    let (_, steps) = search::replay(&with_clear, &path).unwrap();
    let jar_emptied = steps.iter().any(|(_, s)| model::browser_at(s, 0).jar.refresh.is_none());
    assert!(jar_emptied, "the jar was emptied on the way");

    let path = crate::util::root().join("models/spiderly-384-401-clears-cookies.json");
    let text = std::fs::read_to_string(&path).unwrap().replace(r#""clear-stored-token","#, "");
    let plain = refresh_check::scenario::Scenario::parse(&path, &text).unwrap();
    assert_eq!(plain.browser.on_refused, refresh_check::model::policy::default_reactions());
    let (none, exhaustive) = reach(&plain);
    assert!(none.is_none() && exhaustive, "without the clearing the winner is never logged out");

    let (_, _, fixed) = crate::util::checked("models/spiderly-384-successor-grace.json");
    assert_eq!(crate::util::status(&fixed, "no_spurious_logout"), refresh_check::scenario::Verdict::Holds);
    assert!(fixed.unique_states > 100);
}

/// The line of an error is the line of the offending field, also when the same text stands
/// earlier in the file (a `continue` in the last step after a valid one in the first), and for
/// a value that is not a string (the key's line).
#[test]
fn an_error_names_the_line_of_the_offending_field_not_of_the_same_text_earlier() {
    let text = r#"{"name":"p","description":"d","sources":["s"],
"protocol": {
  "refresh": { "steps": [
    { "name": "a", "rules": [ { "name": "x", "reply": "continue" } ] },
    { "name": "b", "rules": [ { "name": "y", "reply": "continue" } ] } ] },
  "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] }
},
"browser":{"tabs":2,"refreshes_per_tab":1,"mode":"json"},
"time":{"refresh_token_ttl":7,"session_cookie_ttl":4}}"#;
    let e = Scenario::parse("p.json".as_ref(), text).unwrap_err().to_string();
    assert!(e.starts_with("p.json:5:55: field `protocol.refresh.steps[1].rules[0].reply`"), "{e}");
    let two_mints = text.replace(
        r#"{ "name": "a", "rules": [ { "name": "x", "reply": "continue" } ] },
    { "name": "b", "rules": [ { "name": "y", "reply": "continue" } ] } ] },"#,
        r#"{ "name": "a", "rules": [ { "name": "x",
      "do": ["mint child", "mint child"], "reply": "ok minted" } ] } ] },"#,
    );
    let e = Scenario::parse("p.json".as_ref(), &two_mints).unwrap_err().to_string();
    assert!(e.starts_with("p.json:5:7: field `protocol.refresh.steps[0].rules[0].do`"), "{e}");
}

/// SP1 (iii) judges the token as the store holds it when the answer is decided: tab B's blind
/// write, deciding on a read of token 1 made before tab A rotated twice, redeems a token two
/// generations behind the family's newest (the read saw it active).
#[test]
fn a_blind_write_redeeming_a_token_two_generations_old_violates_sp1() {
    let (sc, m, r) = crate::util::checked("models/p2-read-then-write-detection.json");
    let t = crate::util::trace_of(&m, &sc, &r, "sp1_immediate_predecessor");
    assert_eq!(t.steps.len(), 10);
    let last = &t.steps[9];
    assert!(
        last.text.starts_with("server runs step `write` of tab B's refresh, deciding on what its read saw"),
        "{}",
        last.text
    );
    assert!(t.steps[8].text.contains("step `write` of tab A's refresh"), "{}", t.steps[8].text);
    assert!(last.state.store.iter().any(|r| r.starts_with("token=3 family=0 gen=2")), "{:?}", last.state.store);
    assert!(
        last.state.store.iter().any(|r| r.starts_with("token=4 family=0 gen=1 parent=1")),
        "{:?}",
        last.state.store
    );
}

/// convex-auth: declared token fields written with `minted`, `ok family.active`, `revoke
/// descendants` and `ok access-only`. Before PR 555 a token two rotations behind (not the
/// parent of the active token) forks the session inside the window; after it, the same
/// request gets an access token only and the session keeps one lineage.
#[test]
fn convex_auth_pr555_answers_a_spent_token_with_an_access_token_only_and_ends_the_fork() {
    use refresh_check::model::{self, Msg, Reply};
    use refresh_check::scenario::Verdict;

    let (sc, m, r) = crate::util::checked("models/convex-auth-pr76-sibling-window.json");
    let t = crate::util::trace_of(&m, &sc, &r, "sp3_single_lineage");
    assert_eq!(t.steps.len(), 7);
    assert!(t.steps[1].text.ends_with("rule `first use: rotate` → ok minted"), "{}", t.steps[1].text);
    let sibling = "rule `inside the 10 s window: a new sibling` → ok minted";
    assert!(t.steps[6].text.ends_with(sibling), "{}", t.steps[6].text);

    let (fixed, _, r) = crate::util::checked("models/convex-auth-pr555-access-token-only.json");
    assert_eq!(crate::util::status(&r, "sp3_single_lineage"), Verdict::Holds);
    assert!(r.unique_states > 1000);
    fn access_only(_: &model::RefreshModel, s: &model::State) -> bool {
        s.network
            .deliverable()
            .any(|e| matches!(e.msg, Msg::RefreshResponse { reply: Reply::Ok { token: None, .. }, .. }))
    }
    let (path, _, _) = crate::util::shortest_to(&fixed, access_only);
    let path = path.expect("an answer with an access token only");
    assert_eq!(path.actions.len(), 7, "the same race as the fork, answered without a refresh token");
}

fn protocol_model(refresh: &str, extra: &str) -> String {
    format!(
        r#"{{"name":"p","description":"d","sources":["s"],
"protocol": {{ "refresh": {refresh},
  "sign_out": {{ "rules": [ {{ "name": "revoke", "do": ["revoke family"], "reply": "signed_out" }} ] }} }},
"browser":{{"tabs":2,"refreshes_per_tab":2,"mode":"json","json_storage":"per-tab"}},
"time":{{"max_ticks":2,"refresh_token_ttl":7,"session_cookie_ttl":4}}{extra}}}"#
    )
}

/// A rotation that answers in a later step is judged where it minted: the token was active
/// then, so neither `rotated_token_expires` (the clock may tick before the answer) nor SP1 (a
/// grace redemption by another tab may rotate further before the answer) is violated.
#[test]
fn a_rotation_answered_in_a_later_step_is_judged_where_it_minted() {
    let refresh = r#"{ "steps": [
      { "name": "rotate", "rules": [
        { "name": "rotate", "when": "presented.status == active", "do": ["mint child", "supersede presented"], "reply": "continue" },
        { "name": "grace", "when": "presented.status == superseded and now <= presented.rotated_at + 2 and family.newest_generation - presented.generation <= 1",
          "do": ["supersede presented"], "reply": "ok presented.child" },
        { "name": "no", "reply": "invalid_grant" } ] },
      { "name": "answer", "rules": [ { "name": "answer", "reply": "ok minted" } ] } ] }"#;
    // A grace of 2 ticks, claimed, on a clock of 3: only an answer judged at its own tick (3)
    // rather than at the rotation (0) could break the claim.
    let text = protocol_model(refresh, "")
        .replace(r#""protocol": {"#, r#""protocol": { "reuse_interval": 2,"#)
        .replace(r#""max_ticks":2"#, r#""max_ticks":3"#);
    let sc = Scenario::parse("p.json".as_ref(), &text).unwrap();
    let (_, r) = run(&sc, &CheckOptions::default());
    assert!(r.exhaustive && r.unique_states > 100);
    for p in ["rotated_token_expires", "sp1_immediate_predecessor"] {
        assert_eq!(crate::util::status(&r, p), refresh_check::scenario::Verdict::Holds, "{p}");
    }
}

/// Bounds under which more tokens could be minted than token numbers exist are refused; the
/// hand-off between two steps is never lost on a lossy network (no request waits for ever
/// between steps); sign-out rules refuse the refresh-only marks; names cannot break a trace
/// line.
#[test]
fn token_bound_lossy_steps_sign_out_marks_and_names() {
    let many = (0..8)
        .map(|i| {
            format!(
                r#"{{ "name": "s{i}", "rules": [ {{ "name": "m", "do": ["mint child"], "reply": "continue" }} ] }}"#
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let last = many.rfind(r#""continue""#).unwrap();
    let many = format!("{}\"ok minted\"{}", &many[..last], &many[last + 10..]);
    let text = protocol_model(&format!(r#"{{ "steps": [ {many} ] }}"#), "")
        .replace(r#""tabs":2,"refreshes_per_tab":2"#, r#""tabs":6,"refreshes_per_tab":4,"devices":3"#);
    let e = Scenario::parse("p.json".as_ref(), &text).unwrap_err().to_string();
    assert!(e.contains("up to 579 tokens can be minted") && e.contains("at most 255 tokens"), "{e}");

    let two_steps = r#"{ "steps": [
      { "name": "read", "rules": [ { "name": "active", "when": "presented.status == active", "reply": "continue" },
                                   { "name": "no", "reply": "invalid_grant" } ] },
      { "name": "write", "rules": [ { "name": "rotate", "when": "presented.status == active",
                                      "do": ["mint child", "supersede presented"], "reply": "ok minted" },
                                    { "name": "lost", "reply": "invalid_request" } ] } ] }"#;
    let text = protocol_model(two_steps, r#","lossy":true"#).replace(r#""tabs":2"#, r#""tabs":1"#);
    let sc = Scenario::parse("p.json".as_ref(), &text).unwrap();
    let m = refresh_check::model::build(&sc);
    use stateright::Model;
    let mut seen = 0;
    for init in m.init_states() {
        let mut stack = vec![init];
        let mut visited = std::collections::HashSet::new();
        while let Some(s) = stack.pop() {
            if !visited.insert(refresh_check::search::fingerprint(&s)) {
                continue;
            }
            seen += 1;
            let waiting = refresh_check::model::auth_server_at(&s, m.cfg.server).unwrap().handlers.len();
            let timers = s.timers.of(m.cfg.server).count();
            assert!(waiting <= timers, "a request waits between steps with nothing to run its next step");
            let mut actions = vec![];
            m.actions(&s, &mut actions);
            stack.extend(actions.into_iter().filter_map(|a| m.next_state(&s, a)));
        }
    }
    assert!(seen > 20, "{seen}");

    let marked = protocol_model(two_steps, "").replace(
        r#""do": ["revoke family"], "reply": "signed_out""#,
        r#""do": ["revoke user"], "reply": "signed_out", "reuse_detected": true"#,
    );
    let e = Scenario::parse("p.json".as_ref(), &marked).unwrap_err().to_string();
    assert!(e.contains("a sign-out rule without `reuse_detected` or `rolled_back`"), "{e}");

    let named = protocol_model(two_steps, "").replace(r#""name": "lost""#, r#""name": "lost`\n--> x""#);
    let e = Scenario::parse("p.json".as_ref(), &named).unwrap_err().to_string();
    assert!(e.contains("no backtick or control character"), "{e}");
}

/// `attacker.keeps_tokens`: a thief who shadows the user redeems the tokens it is answered
/// with; without it, it redeems only what it copied from the browser.
#[test]
fn an_attacker_that_keeps_its_tokens_chains_its_redemptions() {
    use refresh_check::model;

    let rotate = r#"{ "rules": [
        { "name": "rotate", "when": "presented.status == active", "do": ["mint child", "supersede presented"], "reply": "ok minted" },
        { "name": "no", "reply": "invalid_grant" } ] }"#;
    fn two_stolen(m: &model::RefreshModel, s: &model::State) -> bool {
        model::auth_server_at(s, m.cfg.server).unwrap().as_ghost.stolen.len() >= 2
    }
    let chained = |keeps: bool| {
        let text =
            protocol_model(rotate, &format!(r#","attacker":{{"attempts":2,"modes":["json"],"keeps_tokens":{keeps}}}"#))
                .replace(r#""tabs":2,"refreshes_per_tab":2"#, r#""tabs":1,"refreshes_per_tab":0"#);
        let sc = Scenario::parse("p.json".as_ref(), &text).unwrap();
        let (path, exhaustive, _) = crate::util::shortest_to(&sc, two_stolen);
        (path.map(|p| p.actions.len()), exhaustive)
    };
    assert_eq!(chained(true).0, Some(5), "send 1, served (2), answered, send 2, served (3)");
    assert_eq!(chained(false), (None, true), "only token 1 was ever copied");
}

/// Restarts and in-memory fields: Keycloak before PR 5001 removed a logged-out offline session
/// from its cache only, so after a restart the signed-out token works again (the reported
/// interleaving is the shortest counterexample); PR 5001 also deletes it from the database.
#[test]
fn keycloak_6615_a_restart_revives_an_offline_token_logged_out_from_the_cache_only() {
    let (sc, m, r) = crate::util::checked("models/keycloak-6615-offline-logout-cache-only.json");
    let t = crate::util::trace_of(&m, &sc, &r, "logout_revokes_all");
    assert_eq!(
        crate::util::actions(&t),
        ["TabSendsRefresh", "TabSignsOut", "ServerReceivesLogout", "ServerRestarts", "ServerReceivesRefresh"]
    );
    assert_eq!(t.steps[3].text, "the server restarts: its in-memory fields (family.cache_removed) are lost");
    assert!(t.steps[4].text.ends_with("rule `offline session in the cache` → ok presented"), "{}", t.steps[4].text);
    let (_, _, fixed) = crate::util::checked("models/keycloak-pr5001-offline-logout-persisted.json");
    assert_eq!(crate::util::status(&fixed, "logout_revokes_all"), refresh_check::scenario::Verdict::Holds);
    assert!(fixed.unique_states > 100);
    // Without the restart the cache-only logout holds too: the restart is the mechanism.
    let path = crate::util::root().join("models/keycloak-6615-offline-logout-cache-only.json");
    let text = std::fs::read_to_string(&path).unwrap().replace(r#""restarts": 1"#, r#""restarts": 0"#);
    let (_, no_restart) = run(&Scenario::parse(&path, &text).unwrap(), &CheckOptions::default());
    assert_eq!(crate::util::status(&no_restart, "logout_revokes_all"), refresh_check::scenario::Verdict::Holds);
}

/// `converges_to_live_token`: at rest, a signed-in tab of a valid session holds an active
/// token. It finds the dead cookie a server-side render path leaves (C05/C06), and the dead
/// cookie spiderly's fix still leaves when the grace answer for an older token is processed
/// after a newer rotation (the last `Set-Cookie` wins).
#[test]
fn convergence_finds_the_dead_cookie_left_at_rest() {
    let (sc, m, r) = crate::util::checked("models/c06-nextauth-same-child-grace.json");
    let t = crate::util::trace_of(&m, &sc, &r, "converges_to_live_token");
    assert_eq!(t.steps.len(), 3);
    assert!(t.steps[2].text.contains("cannot write the cookie"), "{}", t.steps[2].text);

    let (sc, m, r) = crate::util::checked("models/spiderly-384-successor-grace.json");
    assert_eq!(crate::util::status(&r, "no_spurious_logout"), refresh_check::scenario::Verdict::Holds);
    let t = crate::util::trace_of(&m, &sc, &r, "converges_to_live_token");
    assert_eq!(t.steps.len(), 9);
    assert!(t.steps[7].text.starts_with("tab A gets 200, refresh token=3"), "{}", t.steps[7].text);
    assert!(t.steps[8].text.starts_with("tab B gets 200, refresh token=2"), "{}", t.steps[8].text);
    let last = &t.steps[8].state.store;
    assert!(last.iter().any(|r| r.starts_with("token=2 ") && r.contains("superseded")), "{last:?}");
}

/// `browser.on_stored_token_cleared: log-out`: when the loser's 401 clears the shared jar, the
/// winner's listener logs it out at once, before it ever refreshes again; without the
/// listener that takes the winner's next refresh.
#[test]
fn a_listener_logs_the_other_tabs_out_when_the_stored_token_is_cleared() {
    use refresh_check::model::{self, browser::TabStatus};
    fn winner_out_early(m: &model::RefreshModel, s: &model::State) -> bool {
        let b = model::browser_at(s, m.cfg.browsers[0]);
        // Tab A's first refresh was answered 2xx (it recorded the access token's expiry), and it
        // is logged out without having refreshed again.
        let a = &b.tabs[0];
        a.expiry.is_some() && a.status == TabStatus::LoggedOut && a.refreshes_left == 1
    }
    let path = crate::util::root().join("models/spiderly-384-401-clears-cookies.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let listening = text.replace(r#""mode": "cookie","#, r#""mode": "cookie", "on_stored_token_cleared": "log-out","#);
    assert_ne!(listening, text);
    let (with, _, _) = crate::util::shortest_to(&Scenario::parse(&path, &listening).unwrap(), winner_out_early);
    let with = with.expect("the winner is logged out by its listener");
    assert_eq!(with.actions.len(), 6, "A sends, served, B sends, served (401), A gets 200, B gets 401");
    let (without, exhaustive, _) = crate::util::shortest_to(&Scenario::parse(&path, &text).unwrap(), winner_out_early);
    assert!(without.is_none() && exhaustive);
}

/// A misspelt property name in `expect` is refused with the nearest name.
#[test]
fn a_misspelt_expectation_suggests_the_property() {
    let text = protocol_model(
        r#"{ "rules": [ { "name": "no", "reply": "invalid_grant" } ] }"#,
        r#","expect":{"no_spurios_logout":"violated"}"#,
    );
    let e = Scenario::parse("p.json".as_ref(), &text).unwrap_err().to_string();
    assert!(e.contains("field `expect.no_spurios_logout`") && e.contains("did you mean `no_spurious_logout`?"), "{e}");
}

/// The constructs of sign-in, clients, request fields and transactions refuse what they cannot
/// mean, naming the field and what was expected.
#[test]
fn sign_in_clients_request_fields_and_transactions_refuse_what_they_cannot_mean() {
    let one = r#"{ "rules": [ { "name": "r", "reply": "ok presented" } ] }"#;
    let err = |text: String| Scenario::parse("p.json".as_ref(), &text).unwrap_err().to_string();
    let e = err(protocol_model(one, "").replace(r#""refresh": {"#, r#""refresh": { "transaction": true,"#));
    assert!(e.contains("field `protocol.refresh.transaction`") && e.contains("false for a handler of one step"), "{e}");
    let sign_in = |rule: &str| {
        protocol_model(one, "")
            .replace(r#""protocol": {"#, &format!(r#""protocol": {{ "sign_in": {{ "rules": [ {rule} ] }},"#))
    };
    let e = err(sign_in(r#"{ "name": "s", "do": ["revoke clinet"], "reply": "signed_in" }"#));
    assert!(e.contains("protocol.sign_in.rules[0].do[0]") && e.contains("did you mean `client`?"), "{e}");
    let e = err(sign_in(r#"{ "name": "s", "reply": "signed_out" }"#));
    assert!(e.contains("protocol.sign_in.rules[0].reply") && e.contains("expected `signed_in`"), "{e}");
    let e = err(sign_in(r#"{ "name": "s", "do": ["mint child"], "reply": "signed_in" }"#));
    assert!(e.contains("a sign-out or a sign-in mints and rotates nothing"), "{e}");
    let e = err(sign_in(r#"{ "name": "s", "reuse_detected": true, "reply": "signed_in" }"#));
    assert!(e.contains("a sign-in rule without `reuse_detected`"), "{e}");
    let e =
        err(protocol_model(one, "")
            .replace(r#""protocol": {"#, r#""protocol": { "clients": "per-device", "replicas": 2,"#));
    assert!(e.contains("field `protocol.replicas`") && e.contains("`clients: per-device`"), "{e}");
    let e = err(protocol_model(
        r#"{ "rules": [ { "name": "r", "when": "request.seen == 0", "reply": "ok presented" } ] }"#,
        "",
    ));
    assert!(e.contains("unknown name `request.seen`") && e.contains("`request.` field"), "{e}");
    let ok = protocol_model(
        r#"{ "rules": [ { "name": "r", "when": "request.seen == 0 and family.client == 0", "do": ["set request.seen = 1"], "reply": "ok presented" } ] }"#,
        "",
    )
    .replace(r#""protocol": {"#, r#""protocol": { "fields": { "request": { "seen": "count" } },"#);
    Scenario::parse("p.json".as_ref(), &ok).unwrap();
}

/// An expression written with a JSON escape (`"\u00e9"` for `é`) is found by what it means:
/// the error names its real line and column, not line 0 (issue 14 review), in a model file
/// and in a query file.
#[test]
fn an_escaped_non_ascii_expression_is_reported_at_its_line_and_column() {
    let text = r#"{"name":"p","description":"d","sources":["s"],
"protocol": {
  "refresh": { "rules": [
    { "name": "rotate", "when": "presented.status == caf\u00e9", "do": ["mint child"], "reply": "ok minted" } ] },
  "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] }
},
"browser":{"tabs":2,"refreshes_per_tab":1,"mode":"json"},
"time":{"refresh_token_ttl":7,"session_cookie_ttl":4}}"#;
    let e = Scenario::parse("p.json".as_ref(), text).unwrap_err().to_string();
    assert!(e.starts_with("p.json:4:33: field `protocol.refresh.rules[0].when`"), "{e}");
    assert!(e.contains("café"), "the message quotes the decoded text: {e}");
    // Non-ASCII characters before it on the line count as one column each.
    let wide = text.replace(r#"{ "name": "rotate","#, r#"{ "name": "rötåte","#);
    let e = Scenario::parse("p.json".as_ref(), &wide).unwrap_err().to_string();
    assert!(e.starts_with("p.json:4:33: field `protocol.refresh.rules[0].when`"), "{e}");
    let (_files, q) = crate::common::temp_file(
        "q.json",
        "{\"queries\": [\n  {\"name\": \"x\",\n   \"always\": \"tab[A].status == \\u00e9t\\u00e9\"}]}",
    );
    let err = refresh_check::query::load_file(&q).unwrap_err();
    assert!(err.contains("q.json:3:14: field `queries[0].always`"), "{err}");
}

/// `time.refresh_token_ttl` and `time.session_cookie_ttl` are required only where the model
/// reads them (issue 14 review): a `protocol` model leaves both out and searches the same
/// space with the same verdicts; a Directus model in session mode without
/// `session_cookie_ttl` is refused at the `time` section's line (exit 2); the JSON Schema
/// no longer requires either.
#[test]
fn unread_ttls_are_optional_and_read_ones_are_required() {
    const ZITADEL: &str = "models/zitadel-9331-refresh-revokes-in-flight-access-token.json";
    let files = crate::common::TempFiles::new();
    let without = files.copy_model(ZITADEL, "z.json", |m| {
        let time = m["time"].as_object_mut().unwrap();
        time.shift_remove("refresh_token_ttl");
        time.shift_remove("session_cookie_ttl");
    });
    let with = crate::util::scenario(ZITADEL, None);
    let sc = Scenario::load(&without).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((sc.time.refresh_token_ttl, sc.time.session_cookie_ttl), (None, None));
    let opts = refresh_check::check::CheckOptions::default();
    let (_, a) = refresh_check::check::check(&with, &opts);
    let (_, b) = refresh_check::check::check(&sc, &opts);
    assert_eq!(b.outcome(), refresh_check::check::Outcome::AsExpected);
    assert!(b.unique_states > 5);
    assert_eq!(a.unique_states, b.unique_states);
    let expanded = cli(files.path(), &["models", "expand", "z.json"]);
    assert_eq!(expanded.status.code(), Some(0));
    assert!(!String::from_utf8(expanded.stdout).unwrap().contains("_ttl\": 7"), "nothing invented");

    let directus = files.copy_model("models/directus-10.10-session.json", "d.json", |m| {
        m["time"].as_object_mut().unwrap().shift_remove("session_cookie_ttl");
    });
    let text = std::fs::read_to_string(&directus).unwrap();
    let time_line = 1 + text.lines().position(|l| l.contains("\"time\"")).unwrap();
    let e = Scenario::load(&directus).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:{time_line}:", directus.display()))
            && e.contains(
                "field `time.session_cookie_ttl`: missing; expected an integer from 1 to 200 (ticks): in session mode"
            ),
        "{e}"
    );
    let out = cli(files.path(), &["models", "validate", "d.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("time.session_cookie_ttl"));
    let no_refresh_ttl = files.copy_model("models/directus-10.10-session.json", "r.json", |m| {
        m["time"].as_object_mut().unwrap().shift_remove("refresh_token_ttl");
    });
    let e = Scenario::load(&no_refresh_ttl).unwrap_err().to_string();
    assert!(e.contains("field `time.refresh_token_ttl`: missing") && e.contains("sign-in's session row"), "{e}");

    let schema: serde_json::Value = serde_json::from_slice(&cli(files.path(), &["models", "schema"]).stdout).unwrap();
    let time = &schema["$defs"]["TimeSection"];
    assert!(time["properties"]["refresh_token_ttl"].is_object(), "{time}");
    let required = time["required"].as_array().cloned().unwrap_or_default();
    assert!(!required.iter().any(|r| r == "refresh_token_ttl" || r == "session_cookie_ttl"), "{required:?}");
}

/// A rule's `next` names a later step of its handler: an unknown name is refused with a
/// spelling suggestion, a backward or self jump (which could loop) and a `next` on a rule that
/// answers are refused, each at the `next` field's line; the CLI exits 2. A forward jump skips
/// the steps between (the skipped step's rule would have answered 500).
#[test]
fn next_names_a_later_step_or_is_refused_at_its_line() {
    let text = |first_rule_next: &str, reply: &str| {
        format!(
            r#"{{"name":"p","description":"d","sources":["s"],
"protocol": {{
  "refresh": {{ "steps": [
    {{ "name": "read", "rules": [ {{ "name": "active", "when": "presented.status == active",
        "reply": "{reply}", "next": "{first_rule_next}" }},
      {{ "name": "other", "reply": "continue" }} ] }},
    {{ "name": "skipped", "rules": [ {{ "name": "fail", "reply": "server_error" }} ] }},
    {{ "name": "rotate", "rules": [ {{ "name": "rotate", "when": "presented.status == active",
        "do": ["mint child", "supersede presented"], "reply": "ok minted" }},
      {{ "name": "lost", "reply": "invalid_grant" }} ] }} ] }},
  "sign_out": {{ "rules": [ {{ "name": "revoke", "do": ["revoke family"], "reply": "signed_out" }} ] }}
}},
"browser":{{"tabs":1,"refreshes_per_tab":1,"mode":"json"}},
"time":{{"refresh_token_ttl":7,"session_cookie_ttl":4}}}}"#
        )
    };
    let dir = crate::common::TempFiles::new();
    let cases = [
        ("rotat", "continue", "the name of a later step of this handler (`skipped`, `rotate`); did you mean `rotate`?"),
        ("read", "continue", "a later step than `read` (step 1): `read` is step 1; a handler runs forward only"),
        ("rotate", "invalid_grant", "no `next` with `reply: invalid_grant`"),
    ];
    for (next, reply, hint) in cases {
        std::fs::write(dir.path().join("p.json"), text(next, reply)).unwrap();
        let out = cli(dir.path(), &["models", "validate", "p.json"]);
        assert_eq!(out.status.code(), Some(2), "{next}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("p.json:5:") && e.contains("field `protocol.refresh.steps[0].rules[0].next`"), "{e}");
        assert!(e.contains(hint), "{e}");
    }
    // A backward jump from a later step.
    let back = text("rotate", "continue").replace(
        r#"{ "name": "fail", "reply": "server_error" }"#,
        r#"{ "name": "fail", "reply": "continue", "next": "read" }"#,
    );
    let e = Scenario::parse("p.json".as_ref(), &back).unwrap_err().to_string();
    assert!(e.starts_with("p.json:7:") && e.contains("field `protocol.refresh.steps[1].rules[0].next`"), "{e}");
    assert!(e.contains("`read` is step 1; a handler runs forward only"), "{e}");
    // A later step named like an earlier one is refused as a duplicate name, at its own line,
    // not as a `next` that jumps backward.
    let dup = text("read", "continue").replace(r#"{ "name": "rotate", "rules""#, r#"{ "name": "read", "rules""#);
    let e = Scenario::parse("p.json".as_ref(), &dup).unwrap_err().to_string();
    assert!(e.starts_with("p.json:8:") && e.contains("field `protocol.refresh.steps[2].name`"), "{e}");
    assert!(e.contains("a short name no other step of this handler has"), "{e}");

    // The jump skips step `skipped`: the active token is rotated (200), never answered 500.
    std::fs::write(dir.path().join("p.json"), text("rotate", "continue")).unwrap();
    let sc = Scenario::load(&dir.path().join("p.json")).unwrap();
    let (m, r) = run(&sc, &CheckOptions::default());
    assert_eq!(crate::util::status(&r, "refresh_succeeds"), scenario::Verdict::Reached);
    let t = crate::util::trace_of(&m, &sc, &r, "refresh_succeeds");
    let text = refresh_check::trace::render_text(&t);
    assert!(text.contains("rule `active` → continue") && text.contains("step `rotate`"), "{text}");
    assert!(!text.contains("step `skipped`"), "{text}");
    assert!(r.unique_states > 0);
}

/// An unknown name in the `request` handler lists the presented access token's `access.`
/// columns among what is expected there (and suggests the nearest), at the guard's line; a
/// refresh rule, where they are not readable, does not list them.
#[test]
fn an_unknown_name_in_the_request_handler_lists_the_access_columns() {
    let text = std::fs::read_to_string(root().join("models/zitadel-9331-refresh-revokes-in-flight-access-token.json"))
        .unwrap();
    let typo = text.replacen("access.exp >= now and not access.revoked", "acess.exp >= now", 1);
    assert_ne!(typo, text);
    let e = Scenario::parse("z.json".as_ref(), &typo).unwrap_err().to_string();
    assert!(e.contains("field `protocol.request.rules[0].when`: unknown name `acess.exp`"), "{e}");
    assert!(
        e.contains("an `access.` column of the presented access token") && e.contains("did you mean `access.exp`?"),
        "{e}"
    );
    let in_refresh =
        text.replacen("\"when\": \"presented.status == active", "\"when\": \"presnted.status == active", 1);
    assert_ne!(in_refresh, text);
    let e = Scenario::parse("z.json".as_ref(), &in_refresh).unwrap_err().to_string();
    assert!(e.contains("unknown name `presnted.status`") && !e.contains("`access.` column"), "{e}");
}

fn with_token_fields(fields: &str, rule: &str) -> String {
    format!(
        r#"{{"name":"p","description":"d","sources":["s"],
"protocol": {{
  "fields": {fields},
  "refresh": {{ "rules": [
{rule}
  ] }},
  "sign_out": {{ "rules": [ {{ "name": "revoke", "do": ["revoke family"], "reply": "signed_out" }} ] }}
}},
"browser":{{"tabs":2,"refreshes_per_tab":1,"mode":"json"}},
"time":{{"refresh_token_ttl":7,"session_cookie_ttl":4}}}}"#
    )
}

/// Declared fields per refresh token (`fields.token`): an undeclared `presented.F`, a value of
/// the wrong type (also written through a path: `set presented.parent.F`), a write to `minted.F`
/// where the request minted nothing (a token with no row), a count revoked through a path, more
/// than four token fields, a name of a token column and an
/// undeclared `in_memory` entry are each refused with the file, the line, the field path and
/// what was expected; the CLI exits 2. The declared fields themselves load.
#[test]
fn token_field_errors_name_file_line_field_and_what_was_expected() {
    let fields = r#"{ "token": { "call": "count", "call_pair": "token" } }"#;
    let ok = r#"{ "name": "rotate", "when": "presented.call == 0 and presented.child.call == 0", "do": ["mint child", "set minted.call_pair = presented", "set presented.call = presented.call + 1", "set presented.child.call = 1"], "reply": "ok minted" }"#;
    let rule = |when: &str, effect: &str, reply: &str| {
        format!(r#"{{ "name": "r", "when": "{when}", "do": ["{effect}"], "reply": "{reply}" }}"#)
    };
    let cases = [
        (
            fields.to_string(),
            rule("presented.cal == 1", "mint child", "ok minted"),
            (5, "protocol.refresh.rules[0].when"),
            "unknown name `presented.cal`",
            "did you mean `presented.call`?",
        ),
        (
            fields.to_string(),
            rule("true", "set presented.call_pair = now", "invalid_grant"),
            (5, "protocol.refresh.rules[0].do[0]"),
            "`presented.call_pair` holds a token, found a number",
            "",
        ),
        (
            fields.to_string(),
            rule("true", "set minted.call = 1", "invalid_grant"),
            (5, "protocol.refresh.rules[0].do[0]"),
            "`minted` is none here, a token with no row",
            "after `mint child`",
        ),
        (
            fields.to_string(),
            rule("true", "set presented.parent.call_pair = now", "invalid_grant"),
            (5, "protocol.refresh.rules[0].do[0]"),
            "`presented.parent.call_pair` holds a token, found a number",
            "",
        ),
        (
            fields.to_string(),
            rule("true", "revoke presented.parent.call", "invalid_grant"),
            (5, "protocol.refresh.rules[0].do[0]"),
            "cannot revoke `presented.parent.call`",
            "holds a number",
        ),
        (
            r#"{ "token": { "a": "count", "b": "count", "c": "count", "d": "count", "e": "tick" } }"#.to_string(),
            ok.replace("call_pair", "a").replace("call", "b"),
            (3, "protocol.fields.token"),
            "at most 4 fields per token",
            "",
        ),
        (
            r#"{ "token": { "status": "count" } }"#.to_string(),
            rule("true", "mint child", "ok minted"),
            (3, "protocol.fields.token"),
            "not a built-in column",
            "",
        ),
        (
            r#"{ "token": { "call": "count" }, "in_memory": ["token.cal"] }"#.to_string(),
            rule("true", "mint child", "ok minted"),
            (3, "protocol.fields.in_memory[0]"),
            "`token.NAME`",
            "did you mean `token.call`?",
        ),
    ];
    let dir = crate::common::TempFiles::new();
    let file = dir.path().join("p.json");
    std::fs::write(&file, with_token_fields(fields, ok)).unwrap();
    let sc = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = sc.protocol.as_ref().unwrap().token_fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["call", "call_pair"]);
    for (fields, rule, (line, field), what, hint) in cases {
        std::fs::write(&file, with_token_fields(&fields, &rule)).unwrap();
        let e = Scenario::load(&file).unwrap_err().to_string();
        let at = e.strip_prefix(&format!("{}:{line}:", file.display())).unwrap_or_else(|| panic!("{e}"));
        let (_, rest) = at.split_once(':').unwrap();
        assert!(rest.starts_with(&format!(" field `{field}`")), "{e}");
        assert!(e.contains(what) && e.contains(hint), "{e}");
        let out = cli(dir.path(), &["models", "validate", "p.json"]);
        assert_eq!(out.status.code(), Some(2), "{e}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(what));
    }
}

/// Following a token-valued path (`family.current.used`): a path that holds no token, an
/// unknown column, `none`, a third followed path, and `request.F.COLUMN` in a `reads:
/// snapshot` step are each refused with the file, the line, the field path and what was
/// expected; the CLI exits 2. The followed paths themselves load, in slot order.
#[test]
fn followed_token_errors_name_file_line_field_and_what_was_expected() {
    let fields = r#"{ "family": { "count": "count", "current": "token" }, "token": { "pair": "token" } }"#;
    let ok = r#"{ "name": "rotate", "when": "presented == family.current and not family.current.used and presented.pair.status != revoked", "do": ["mint child", "set family.current = minted"], "reply": "ok minted" }"#;
    let rule =
        |when: &str| format!(r#"{{ "name": "r", "when": "{when}", "do": ["mint child"], "reply": "ok minted" }}"#);
    let cases = [
        (
            rule("family.count.status == active"),
            "`family.count` holds a number (ticks or a count), not a token",
            "a token-valued path",
        ),
        (
            rule("family.current.stauts == active"),
            "unknown column `stauts` of the token `family.current` names",
            "did you mean `family.current.status`?",
        ),
        (rule("none.used"), "follows `none`, which names no token", ""),
        (
            rule("family.current.used and presented.pair.used and presented.parent.used and presented.parent.parent.used and family.current.child.used"),
            "would follow a token-valued path beyond the 4 this protocol follows already (`family.current.child`)",
            "at most 4",
        ),
        (
            rule("family.current.child.child.child.used"),
            "follows more than 3 tokens (`family.current.child.child.child`)",
            "at most 2 links",
        ),
        (rule("presented.pair.generation.status == active"), "`presented.pair.generation` holds a number", "not a token"),
    ];
    let dir = crate::common::TempFiles::new();
    let file = dir.path().join("p.json");
    std::fs::write(&file, with_token_fields(fields, ok)).unwrap();
    let sc = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    use refresh_check::protocol::expr::Var;
    assert_eq!(
        sc.protocol.as_ref().unwrap().follows,
        [Var::FamilyField(1), Var::TokenField(0)].map(refresh_check::protocol::expr::Path::from)
    );
    let check = |text: &str, line: usize, field: &str, what: &str, hint: &str| {
        std::fs::write(&file, text).unwrap();
        let e = Scenario::load(&file).unwrap_err().to_string();
        let at = e.strip_prefix(&format!("{}:{line}:", file.display())).unwrap_or_else(|| panic!("{e}"));
        let (_, rest) = at.split_once(':').unwrap();
        assert!(rest.starts_with(&format!(" field `{field}`")), "{e}");
        assert!(e.contains(what) && e.contains(hint), "{e}");
        let out = cli(dir.path(), &["models", "validate", "p.json"]);
        assert_eq!(out.status.code(), Some(2), "{e}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(what));
    };
    for (rule, what, hint) in cases {
        check(&with_token_fields(fields, &rule), 5, "protocol.refresh.rules[0].when", what, hint);
    }
    // A snapshot step cannot follow a request field: it may name another token by now.
    let steps = |reads: &str| {
        format!(
            r#"{{"name":"p","description":"d","sources":["s"],
"protocol": {{
  "fields": {{ "request": {{ "leader": "token" }} }},
  "refresh": {{ "steps": [
    {{ "name": "read", "rules": [ {{ "name": "r", "do": ["set request.leader = presented.child"], "reply": "continue" }} ] }},
    {{ "name": "write", "reads": "{reads}", "rules": [
      {{ "name": "w", "when": "request.leader.status == active", "reply": "ok request.leader" }},
      {{ "name": "x", "reply": "invalid_grant" }} ] }} ] }},
  "sign_out": {{ "rules": [ {{ "name": "revoke", "do": ["revoke family"], "reply": "signed_out" }} ] }}
}},
"browser":{{"tabs":2,"refreshes_per_tab":1,"mode":"json"}},
"time":{{"refresh_token_ttl":7,"session_cookie_ttl":4}}}}"#
        )
    };
    std::fs::write(&file, steps("current")).unwrap();
    let sc = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sc.protocol.as_ref().unwrap().follows,
        [refresh_check::protocol::expr::Path::from(Var::RequestField(0))]
    );
    check(
        &steps("snapshot"),
        7,
        "protocol.refresh.steps[1].rules[0].when",
        "no `request.leader.COLUMN` in a `reads: snapshot` step",
        "follow it in a `reads: current` step",
    );
}

/// WSO2 Identity Server's graceful rotation (identity-inbound-auth-oauth PR 3241): the shortest
/// logout is the design's "most recent replay wins" — tab A rotates token 1 into 2, tab B's
/// replay of 1 inside the window mints 3 and revokes 2, A stores 2 and its next refresh is
/// refused. The first use of a new token revokes the gracefully rotated one through the path
/// `revoke presented.parent`: without that effect token 1 stays replayable after token 2 was
/// used, and its replay forks the lineage (`sp3_single_lineage` violated in 7 steps).
#[test]
fn wso2_graceful_rotation_the_latest_replay_revokes_the_sibling_a_tab_stored() {
    let file = "models/wso2-is-pr3241-graceful-rotation-latest-replay-wins.json";
    let (sc, m, r) = crate::util::checked(file);
    assert!(r.exhaustive && r.unique_states > 1000, "{}", r.unique_states);
    let t = crate::util::trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(
        crate::util::actions(&t),
        [
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse",
            "TabSendsRefresh",
            "ServerReceivesRefresh",
            "TabReceivesRefreshResponse"
        ]
    );
    assert!(
        t.steps[1].text.contains("tab A's")
            && t.steps[1].text.ends_with("rule `ACTIVE: rotate, close the parent's grace window` → ok minted"),
        "{}",
        t.steps[1].text
    );
    assert!(
        t.steps[3].text.contains("tab B's")
            && t.steps[3].text.ends_with(
                "rule `GRACEFULLY_ROTATED within the window: a new pair, the newer sibling revoked` → ok minted"
            ),
        "{}",
        t.steps[3].text
    );
    assert!(t.steps[4].text.starts_with("tab A gets 200, refresh token=2"), "{}", t.steps[4].text);
    assert!(
        t.steps[6].text.contains("refresh_token=2") && t.steps[6].text.ends_with("rule `revoked` → invalid_grant"),
        "{}",
        t.steps[6].text
    );
    assert!(t.steps[7].text.starts_with("tab A gets 400 invalid_grant and is logged out"), "{}", t.steps[7].text);
    // Without `revoke presented.parent`, the first use of token 2 leaves token 1 replayable.
    let text = std::fs::read_to_string(file).unwrap().replacen("\"revoke presented.parent\",", "", 1);
    let dir = crate::common::TempFiles::new();
    let without = dir.path().join("without.json");
    std::fs::write(&without, text).unwrap();
    let sc2 = Scenario::load(&without).unwrap_or_else(|e| panic!("{e}"));
    let (_, r2) = crate::util::run(&sc2, &refresh_check::check::CheckOptions::default());
    assert_ne!(r2.unique_states, r.unique_states, "the effect changes the reachable stores");
    let out = cli(dir.path(), &["check", "without.json", "--no-traces"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("first-use-of-the-new-token-closes-the-window: unreachable — expected reachable"),
        "{stdout}"
    );
    // Token 1, replayed after token 2 was used, forks the lineage.
    let sp3 = r2.properties.iter().find(|p| p.name == "sp3_single_lineage").unwrap();
    assert_eq!(sp3.path.as_ref().map(|p| p.actions.len()), Some(7), "{:?}", sp3.status);
}

/// Effects through a path: `supersede presented.child` is a refresh's (a sign-out supersedes
/// nothing) and `supersede family` names no token; each refused at its line and field, exit 2.
/// A chain and `minted.F` load and check: a protocol that follows `family.current.child` and
/// reads `minted.mark` in a later step searches a non-empty space with its verdicts.
#[test]
fn effects_through_paths_are_refused_where_they_cannot_mean_anything_and_chains_load() {
    let dir = crate::common::TempFiles::new();
    let file = dir.path().join("p.json");
    let sign_out = r#"{ "rules": [ { "name": "r", "when": "presented.status == active", "do": ["mint child", "supersede presented"], "reply": "ok minted" } ] },
  "sign_out": { "rules": [ { "name": "revoke",
     "do": ["supersede presented.child"], "reply": "signed_out" } ] } }"#;
    let text = protocol_model(sign_out, "").replacen(
        r#",
  "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] } }"#,
        "",
        1,
    );
    std::fs::write(&file, &text).unwrap();
    let e = Scenario::load(&file).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:4:", file.display())), "{e}");
    assert!(e.contains("field `protocol.sign_out.rules[0].do[0]`") && e.contains("a `revoke` or a `set`"), "{e}");
    let bad = protocol_model(
        r#"{ "rules": [ { "name": "r",
  "do": ["supersede family", "mint child"], "reply": "ok minted" } ] }"#,
        "",
    );
    std::fs::write(&file, bad).unwrap();
    let e = Scenario::load(&file).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:3:", file.display())), "{e}");
    assert!(e.contains("field `protocol.refresh.rules[0].do[0]`") && e.contains("cannot supersede `family`"), "{e}");
    let out = cli(dir.path(), &["models", "validate", "p.json"]);
    assert_eq!(out.status.code(), Some(2));
    // Acceptance and effect: a chain and a read of `minted.F` in a later step.
    let ok = r#"{"name":"p","description":"d","sources":["s"],
"protocol": {
  "fields": { "family": { "current": "token" }, "token": { "mark": "count" } },
  "sign_in": { "rules": [ { "name": "row", "do": ["set family.current = presented"], "reply": "signed_in" } ] },
  "refresh": { "steps": [
    { "name": "rotate", "rules": [
      { "name": "current", "when": "presented == family.current and family.current.child.status == none",
        "do": ["supersede presented", "mint child", "set minted.mark = 1", "set family.current = minted"], "reply": "continue" },
      { "name": "stale", "reply": "invalid_grant" } ] },
    { "name": "answer", "rules": [
      { "name": "stamped", "when": "minted.mark == 1 and minted.status == active", "reply": "ok minted" },
      { "name": "not stamped", "reply": "server_error" } ] } ] },
  "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] } },
"browser":{"tabs":1,"refreshes_per_tab":2,"mode":"json"},
"time":{"refresh_token_ttl":7,"session_cookie_ttl":4},
"queries": [ { "name": "two-rotations-answered-with-the-stamped-token",
  "end": "token[3].status == active and token[2].status == superseded and refreshed_ok", "expect": "reachable" },
  { "name": "never-not-stamped", "events": ["server ServerWritesRefresh rule `not stamped`"], "expect": "unreachable" } ] }"#;
    std::fs::write(&file, ok).unwrap();
    let sc = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    use refresh_check::protocol::expr::{Column, Path, Var};
    assert_eq!(
        sc.protocol.as_ref().unwrap().follows,
        [Path { root: Var::FamilyField(0), links: [Some(Column::Child), None] }, Path::from(Var::Minted)]
    );
    let (_, r) = run(&sc, &CheckOptions::default());
    assert!(r.exhaustive && r.unique_states > 5, "{}", r.unique_states);
    let out = cli(dir.path(), &["check", "p.json", "--no-traces"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("two-rotations-answered-with-the-stamped-token: reachable"), "{stdout}");
    assert!(stdout.contains("never-not-stamped: unreachable as expected"), "{stdout}");
}
