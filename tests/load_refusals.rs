//! Model files that load checks refuse (exit 2, the file, line, field and what was expected,
//! never a panic) and their accepted neighbours: an answer with `fresh` whose row is written
//! on one path only, `evicts` on a rule that revokes nothing, an expiry counted from a tick
//! the request does not carry or from two ticks, a section given as a JSON array, and a
//! reaction that reads an HttpOnly cookie.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::util::{cli, root};

/// The shipped model `rel` with `edit` applied to its JSON, written to `dir/name`.
fn edited(dir: &Path, rel: &str, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(&fs::read_to_string(root().join(rel)).unwrap()).unwrap();
    edit(&mut v);
    let file = dir.join(name);
    fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    file.display().to_string()
}

/// `check FILE --no-traces`: the exit code and stderr.
fn check(dir: &Path, file: &str) -> (Option<i32>, String) {
    let out = cli(dir, &["check", file, "--no-traces"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    assert!(!text.contains("panicked"), "{text}");
    (out.status.code(), text)
}

/// Refused with exit 2, the message naming `file:LINE:` and `needles`.
fn refused(dir: &Path, file: &str, needles: &[&str]) {
    let (code, text) = check(dir, file);
    assert_eq!(code, Some(2), "{text}");
    let name = Path::new(file).file_name().unwrap().to_str().unwrap();
    let at = text.find(&format!("{name}:")).unwrap_or_else(|| panic!("no file name in {text}"));
    let line: String = text[at + name.len() + 1..].chars().take_while(char::is_ascii_digit).collect();
    assert!(line.parse::<u32>().is_ok_and(|l| l > 0), "no line in {text}");
    for n in needles {
        assert!(text.contains(n), "{n:?} not in {text}");
    }
}

/// Loaded and checked: exit 0 (as expected) or 1 (a verdict differs from the file's
/// `expect`, written for the shipped model), never 2.
fn accepted(dir: &Path, file: &str) {
    let (code, text) = check(dir, file);
    assert!(matches!(code, Some(0 | 1)), "{text}");
    assert!(text.contains("states"), "no search: {text}");
}

const BLITZ: &str = "models/blitz-pr1209-extend-only.json";

/// Blitz's refresh with an `extended` step answering `ok fresh`: the renewal rule writes
/// (`write`), the other rule goes to the answer through a `next` with `then`.
fn fresh_on_two_paths(v: &mut Value, write: &str, then: Value) {
    let steps = &mut v["session_server"]["refresh"]["steps"];
    steps[1]["rules"][1]["run"] = write.into();
    steps[1]["rules"][2] = then;
    steps[2]["rules"][0]["reply"] = "ok fresh".into();
}

#[test]
fn an_answer_with_fresh_needs_its_row_written_on_every_path() {
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    let insert = "insert fresh expires now + session_cookie_ttl";
    let one_path = edited(d, BLITZ, "one-path.json", |v| {
        fresh_on_two_paths(v, insert, json!({ "name": "no renewal due", "next": "extended" }))
    });
    refused(
        d,
        &one_path,
        &[
            "field `session_server.refresh.steps[2].rules[0].reply`",
            "some path to this answer writes a row for it",
            "on every path",
            "\"ok fresh\"",
        ],
    );
    // Both paths write: accepted.
    let both = edited(d, BLITZ, "both-paths.json", |v| {
        let other = json!({ "name": "no renewal due", "run": "upsert fresh expires now + session_cookie_ttl", "next": "extended" });
        fresh_on_two_paths(v, insert, other);
    });
    accepted(d, &both);
    // The path that writes nothing marked `orphan`: accepted.
    let marked = edited(d, BLITZ, "orphan-path.json", |v| {
        fresh_on_two_paths(v, insert, json!({ "name": "no renewal due", "next": "extended", "orphan": true }));
    });
    accepted(d, &marked);
}

#[test]
fn evicts_needs_a_rule_that_revokes_refresh_tokens() {
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    let rel = "models/two-token-cap-sign-in-deletes-the-oldest-row-now.json";
    let none = edited(d, rel, "evicts-nothing.json", |v| {
        v["protocol"]["sign_in"]["steps"][1]["rules"][0]["do"] = json!([]);
    });
    refused(
        d,
        &none,
        &["field `protocol.sign_in.steps[1].rules[0].evicts`", "revokes none", "`revoke user.oldest`", "\"oldest\""],
    );
    let lru = edited(d, rel, "evicts-lru-nothing.json", |v| {
        let rule = &mut v["protocol"]["sign_in"]["steps"][1]["rules"][0];
        rule["do"] = json!([]);
        rule["evicts"] = "least-recently-used".into();
    });
    refused(d, &lru, &["\"least-recently-used\""]);
    // In a sign-in these name the new sign-in's own family, which it spares: they evict nobody.
    for own in ["revoke family", "revoke presented", "revoke descendants"] {
        let file = edited(d, rel, "evicts-own.json", |v| {
            v["protocol"]["sign_in"]["steps"][1]["rules"][0]["do"] = json!([own]);
        });
        refused(d, &file, &["field `protocol.sign_in.steps[1].rules[0].evicts`", "which it spares"]);
    }
    accepted(d, &root().join(rel).display().to_string());
}

#[test]
fn an_expiry_counts_from_one_tick_the_request_carries() {
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    let run = |text: &'static str| {
        move |v: &mut Value| v["session_server"]["refresh"]["steps"][1]["rules"][1]["run"] = text.into()
    };
    let field = "field `session_server.refresh.steps[1].rules[1].run`";
    let twice = edited(d, BLITZ, "now-plus-now.json", run("extend presented expires now + now"));
    refused(d, &twice, &[field, "`now + now` adds 2 ticks"]);
    let both = edited(d, BLITZ, "now-plus-row.json", run("extend presented expires row.expires + now + 1"));
    refused(d, &both, &[field, "adds 2 ticks"]);
    // In session mode the session cookie's `exp` is a tick the request carries.
    let cookie = edited(d, BLITZ, "cookie-exp.json", |v| {
        run("extend presented expires session_cookie.exp + 1")(v);
    });
    accepted(d, &cookie);
    // In json mode there is no session cookie.
    let json_mode = edited(d, BLITZ, "cookie-exp-json.json", |v| {
        run("extend presented expires session_cookie.exp + 1")(v);
        v["browser"]["mode"] = "json".into();
    });
    refused(d, &json_mode, &[field, "`session_cookie.exp`", "no request is in session mode"]);
}

#[test]
fn a_section_given_as_an_array_is_refused_where_it_stands() {
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    for (name, value) in [("cache-empty.json", json!([])), ("cache-one.json", json!([1]))] {
        let f = edited(d, BLITZ, name, |v| v["session_server"]["cache"] = value);
        refused(
            d,
            &f,
            &["field `session_server.cache`", "found a list", "expected an object {", "each field written by its name"],
        );
    }
    let store = edited(d, BLITZ, "store.json", |v| v["session_server"]["store"] = json!(["pool"]));
    refused(d, &store, &["field `session_server.store`", "found a list"]);
    let time = edited(d, BLITZ, "time.json", |v| v["time"] = json!([2, 7, 4]));
    refused(d, &time, &["field `time`", "found a list"]);
    let rule = edited(d, BLITZ, "rule.json", |v| {
        v["session_server"]["sign_out"]["steps"][1]["rules"][0] = json!(["signed out", null, null]);
    });
    refused(d, &rule, &["field `session_server.sign_out.steps[1].rules[0]`", "found a list"]);
    // Lists stay lists.
    let cache = edited(d, BLITZ, "cache-object.json", |v| {
        v["session_server"]["cache"] = json!({});
    });
    accepted(d, &cache);
}

#[test]
fn ignore_if_token_changed_needs_a_token_page_script_can_read() {
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    let rel = "models/umbraco-pr23811-ignores-a-refusal-of-the-old-session.json";
    let cookie = edited(d, rel, "cookie.json", |v| v["browser"]["mode"] = "cookie".into());
    refused(
        d,
        &cookie,
        &["field `browser.on_refused[0]`", "\"ignore-if-token-changed\"", "in cookie mode it is an HttpOnly cookie"],
    );
    // A session-table server in session mode (the session cookie).
    let session = edited(d, BLITZ, "session.json", |v| {
        v["browser"]["on_refused"] = json!(["ignore-if-token-changed", "log-out"]);
    });
    refused(d, &session, &["field `browser.on_refused[0]`", "in session mode it is an HttpOnly cookie"]);
    accepted(d, &root().join(rel).display().to_string());
}

/// `insert fresh` and then `delete fresh` on the only path to `ok fresh`: the answered token
/// names no row when the handler ends, so the answer is refused like one with no write; the
/// same handler deleting another row is accepted.
#[test]
fn an_answer_with_fresh_is_refused_when_a_later_delete_takes_its_row_away() {
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    let with_delete = |token: &'static str| {
        move |v: &mut Value| {
            let steps = &mut v["session_server"]["refresh"]["steps"];
            steps[1]["rules"][1]["run"] = "insert fresh expires now + session_cookie_ttl".into();
            steps[2]["rules"][0] = json!({ "name": "drop a row", "run": format!("delete {token}"), "next": "answer" });
            steps.as_array_mut().unwrap().push(json!({
                "name": "answer",
                "rules": [ { "name": "answered", "reply": "ok fresh" } ]
            }));
        }
    };
    let deleted = edited(d, BLITZ, "insert-then-delete.json", with_delete("fresh"));
    refused(
        d,
        &deleted,
        &[
            "field `session_server.refresh.steps[3].rules[0].reply`",
            "no path to this answer writes a row for it",
            "a `delete fresh` after the write takes the row away again",
        ],
    );
    let other = edited(d, BLITZ, "insert-then-delete-presented.json", with_delete("presented"));
    accepted(d, &other);
}

/// Every field of the shipped models given a value of each wrong kind (an object, a list, a
/// string, a number) where the schema (`models schema`) asks for another: the refusal names
/// the field and words what was found and what was expected in the model file's terms, never
/// serde's (`invalid type: map, expected a sequence`, `expected struct FollowUp`).
#[test]
fn a_value_of_the_wrong_kind_is_worded_in_the_model_files_terms() {
    use refresh_check::scenario::Scenario;
    let raw = [
        "invalid type",
        "invalid length",
        "expected struct",
        "expected enum",
        "untagged enum",
        "a sequence",
        "expected a map",
        "expected map",
    ];
    let models = [
        "models/laravel-passport-pr1790-client-revokes-superseded-token.json",
        "models/keycloak-pr53045-tombstone.json",
        BLITZ,
        "models/directus-10.10-session-attacker.json",
        "models/auth0-rotation-theft.json",
    ];
    let kinds = [json!({}), json!([]), json!("x"), json!(7)];
    let mut refusals = 0;
    for rel in models {
        let doc: Value = serde_json::from_str(&fs::read_to_string(root().join(rel)).unwrap()).unwrap();
        // Every field path of the document (object keys, at any depth, also inside lists).
        fn paths(v: &Value, at: &str, out: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    for (k, x) in o {
                        let key = k.replace('~', "~0").replace('/', "~1");
                        let p = if at.is_empty() { key } else { format!("{at}/{key}") };
                        out.push(p.clone());
                        paths(x, &p, out);
                    }
                }
                Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| paths(x, &format!("{at}/{i}"), out)),
                _ => {}
            }
        }
        let mut all = vec![];
        paths(&doc, "", &mut all);
        for p in &all {
            for kind in &kinds {
                let mut edited = doc.clone();
                let slot = edited.pointer_mut(&format!("/{p}")).unwrap();
                if std::mem::discriminant(slot) == std::mem::discriminant(kind) {
                    continue;
                }
                *slot = kind.clone();
                let text = serde_json::to_string_pretty(&edited).unwrap();
                let Err(e) = Scenario::parse(Path::new("m.json"), &text) else { continue };
                let msg = e.to_string();
                refusals += 1;
                assert!(msg.starts_with("m.json:"), "{rel} /{p} = {kind}: {msg}");
                for r in raw {
                    assert!(!msg.contains(r), "{rel} /{p} = {kind}: serde's words {r:?} in: {msg}");
                }
            }
        }
    }
    assert!(refusals > 500, "only {refusals} refusals: the walk found few fields");
}

/// The reviewer's case: `browser.follow_up` given as a list is refused at its line with the
/// fields the object has, and a list where a list of named values is expected given as an
/// object says so.
#[test]
fn a_section_of_the_wrong_kind_names_what_to_write() {
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    let rel = "models/laravel-passport-pr1790-client-revokes-superseded-token.json";
    let list = edited(d, rel, "follow-up-list.json", |v| v["browser"]["follow_up"] = json!(["refresh-ok"]));
    refused(
        d,
        &list,
        &["field `browser.follow_up`: found a list, expected an object {after, handler, presents}, each field written by its name"],
    );
    let map = edited(d, rel, "on-refused-map.json", |v| v["browser"]["on_refused"] = json!({ "do": "log-out" }));
    refused(d, &map, &["field `browser.on_refused`: found an object, expected a list, each item one of `log-out`"]);
    let number = edited(d, rel, "follow-up-number.json", |v| v["browser"]["follow_up"] = json!(1));
    refused(
        d,
        &number,
        &["field `browser.follow_up`: found the number 1, expected an object {after, handler, presents}"],
    );
}

/// Settings that cannot matter without another field are refused with what they need (exit
/// 2, line, field), as `on_requester_ok` without `requesters_per_tab` is; each with the field
/// it needs is accepted.
#[test]
fn a_setting_that_needs_another_field_is_refused_without_it() {
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    let base = "models/directus-10.10-session.json";
    let cases: [(&str, fn(&mut Value), &str, fn(&mut Value)); 5] = [
        (
            "field `browser.json_storage`: found \"shared\", expected no value unless `mode` is \"json\"",
            |v| v["browser"]["json_storage"] = "shared".into(),
            "json.json",
            |v| v["browser"]["mode"] = "json".into(),
        ),
        (
            "field `browser.retry_limit`: found 1, expected 0 (the default) unless a reaction list has \"retry\"",
            |v| v["browser"]["retry_limit"] = 1.into(),
            "retry.json",
            |v| v["browser"]["on_server_error"] = json!(["retry", "log-out"]),
        ),
        (
            "field `browser.max_wait_steps`: found 3, expected the default (2) unless `coordination` is",
            |v| v["browser"]["max_wait_steps"] = 3.into(),
            "locks.json",
            |v| v["browser"]["coordination"] = "web-locks".into(),
        ),
        (
            "field `time.max_in_flight_ticks`: found 1, expected no value unless `time.max_ticks` is above 0",
            |v| v["time"]["max_in_flight_ticks"] = 1.into(),
            "clock.json",
            |v| v["time"]["max_ticks"] = 2.into(),
        ),
        (
            "field `time.session_lifetime`: found 3, expected no value unless `time.max_ticks` is above 0",
            |v| v["time"]["session_lifetime"] = 3.into(),
            "clock2.json",
            |v| v["time"]["max_ticks"] = 2.into(),
        ),
    ];
    for (i, (needle, edit, fixed, fix)) in cases.into_iter().enumerate() {
        let bad = edited(d, base, &format!("bad{i}.json"), edit);
        refused(d, &bad, &[needle]);
        let good = edited(d, base, fixed, |v| {
            edit(v);
            fix(v);
        });
        let out = cli(d, &["models", "validate", &good]);
        assert_eq!(out.status.code(), Some(0), "{fixed}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// `null` in an optional field of the newer options is refused, not read as the field left
/// out (`"evicts": null` for `"evicts": "others"` would judge a sign-out everywhere as no
/// eviction): the file, line, field and the values expected, exit 2. The field left out is
/// accepted.
#[test]
fn null_in_an_optional_field_is_refused_not_read_as_absent() {
    const GEOLENS: &str = "models/geolens-pr1446-rotation-races-sign-out-everywhere.json";
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    let evicts = edited(d, GEOLENS, "evicts.json", |v| v["protocol"]["sign_out"]["rules"][0]["evicts"] = Value::Null);
    refused(
        d,
        &evicts,
        &[
            "field `protocol.sign_out.rules[0].evicts`",
            "found null, expected one of `oldest`, `others`, `least-recently-used` (or leave the field out)",
        ],
    );
    let from = edited(d, GEOLENS, "from.json", |v| v["browser"]["sign_out_from"] = Value::Null);
    refused(d, &from, &["field `browser.sign_out_from`", "found null, expected an integer from 1 to 3"]);
    let triggers = edited(d, GEOLENS, "triggers.json", |v| v["browser"]["refresh_triggers"] = Value::Null);
    refused(d, &triggers, &["field `browser.refresh_triggers`", "found null, expected a list"]);
    let change = edited(d, GEOLENS, "change.json", |v| v["protocol"]["password_change"] = Value::Null);
    refused(
        d,
        &change,
        &["field `protocol.password_change`", "found null, expected an object", "(or leave the field out)"],
    );
    // Any other optional field, and a whole section, refused the same way (no field's own
    // values to name): read as absent it would hide a typo.
    let timeout = edited(d, GEOLENS, "timeout.json", |v| v["browser"]["on_timeout"] = Value::Null);
    refused(d, &timeout, &["field `browser.on_timeout`", "found null, expected a value (or leave the field out)"]);
    let settings = edited(d, GEOLENS, "settings.json", |v| v["browser"]["tab_settings"] = Value::Null);
    refused(d, &settings, &["field `browser.tab_settings`", "found null, expected a value"]);
    let attacker = edited(d, GEOLENS, "attacker.json", |v| v["attacker"] = Value::Null);
    refused(d, &attacker, &["field `attacker`", "found null, expected a value"]);
    let source = edited(d, GEOLENS, "source.json", |v| v["protocol"]["sign_out"]["rules"][0]["source"] = Value::Null);
    refused(d, &source, &["field `protocol.sign_out.rules[0].source`", "found null, expected a value"]);
    // Left out: a sign-out that marks no eviction, loaded and checked.
    let absent = edited(d, GEOLENS, "absent.json", |v| {
        v["protocol"]["sign_out"]["rules"][0].as_object_mut().unwrap().remove("evicts");
    });
    accepted(d, &absent);
}
