//! Bad input, limits, interruption and output paths: each case of `docs/robustness.md` is run
//! here, on the binary, and must give the exit code and the message the table states.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{cli, root};

const ROTATE: &str = "models/directus-10.10-session.json";
const STABLE: &str = "models/directus-pr22433-stable-id.json";

fn shipped(rel: &str) -> String {
    root().join(rel).display().to_string()
}

/// The shipped model file with `edit` applied to its JSON, written to `dir/name`.
fn model_with(dir: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(&fs::read_to_string(root().join(ROTATE)).unwrap()).unwrap();
    edit(&mut v);
    let file = dir.join(name);
    fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    file.display().to_string()
}

/// Turns the shipped (Directus) model's JSON into an authorization-server model with the
/// `auth_server` section `section`, in json mode.
fn as_auth_server(v: &mut Value, section: Value) {
    let o = v.as_object_mut().unwrap();
    o.remove("server");
    o.insert("auth_server".into(), section);
    v["browser"]["mode"] = "json".into();
}

/// The shipped model file's text with `from` replaced by `to`, written to `dir/name`.
fn model_text(dir: &Path, name: &str, from: &str, to: &str) -> String {
    let text = fs::read_to_string(root().join(ROTATE)).unwrap();
    assert!(text.contains(from), "{from:?} is not in the model file");
    let file = dir.join(name);
    fs::write(&file, text.replacen(from, to, 1)).unwrap();
    file.display().to_string()
}

/// Any bytes as a file `dir/name`.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let f = dir.join(name);
    fs::write(&f, bytes).unwrap();
    f.display().to_string()
}

/// A FIFO (named pipe) `dir/name`, which no one writes: reading it would block for ever.
fn fifo(dir: &Path, name: &str) -> String {
    let f = dir.join(name);
    assert!(Command::new("mkfifo").arg(&f).status().unwrap().success());
    f.display().to_string()
}

/// A sparse file `dir/name` of `len` bytes that starts with `head`.
fn sparse(dir: &Path, name: &str, head: &[u8], len: u64) -> String {
    let f = dir.join(name);
    fs::write(&f, head).unwrap();
    fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len).unwrap();
    f.display().to_string()
}

/// A real trace of the shipped model (written by `check` into `dir/traces`), edited.
fn trace_with(dir: &Path, edit: impl FnOnce(&mut Value)) -> String {
    let out = cli(dir, &["check", &shipped(ROTATE)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let f = dir.join("traces/directus-10.10-session.no_spurious_logout.json");
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&f).unwrap()).unwrap();
    edit(&mut v);
    fs::write(&f, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    f.display().to_string()
}

/// One bad input: what the table in `docs/robustness.md` lists.
struct Case {
    /// The row's key in the table.
    id: &'static str,
    /// Writes the input into the folder and returns the command-line arguments.
    args: fn(&Path) -> Vec<String>,
    /// The exit code.
    code: i32,
    /// A part of the message (stderr, or stdout for `trace validate` verdicts).
    says: &'static str,
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn check(model: String) -> Vec<String> {
    vec!["check".into(), model, "--no-traces".into()]
}

/// Every case of the table, by category (the first letter of the id).
fn cases() -> Vec<Case> {
    vec![
        // M: model file, as a file and as JSON.
        Case {
            id: "M1",
            args: |_| check("missing.json".into()),
            code: 2,
            says: "missing.json: cannot read the model file: No such file",
        },
        Case { id: "M2", args: |d| check(d.display().to_string()), code: 2, says: "no *.json files in this folder" },
        Case {
            id: "M3",
            args: |d| check(file(d, "empty.json", b"")),
            code: 2,
            says: "empty.json:1:1: field `.`: EOF while parsing a value",
        },
        Case {
            id: "M4",
            args: |d| check(file(d, "bin.json", b"{\"name\": \"\xff\xfe\"}")),
            code: 2,
            says: "bin.json: cannot read the model file: stream did not contain valid UTF-8",
        },
        Case {
            id: "M5",
            args: |d| check(file(d, "text.json", b"model: directus")),
            code: 2,
            says: "text.json:1:1: field `.`: expected value",
        },
        Case {
            id: "M6",
            args: |d| {
                let t = fs::read_to_string(root().join(ROTATE)).unwrap();
                check(file(d, "cut.json", &t.as_bytes()[..t.len() / 2]))
            },
            code: 2,
            says: "cut.json:",
        },
        Case {
            id: "M7",
            args: |d| {
                let t = fs::read_to_string(root().join(ROTATE)).unwrap();
                check(file(d, "two.json", format!("{t}\n{t}").as_bytes()))
            },
            code: 2,
            says: "field `.`: trailing characters after the JSON document",
        },
        Case {
            id: "M8",
            args: |d| check(file(d, "list.json", b"[1, 2]")),
            code: 2,
            says: "list.json:1:1: field `.`: found an array, expected a JSON object",
        },
        Case {
            id: "M9",
            args: |d| check(file(d, "deep.json", format!("{}{}", "[".repeat(5000), "]".repeat(5000)).as_bytes())),
            code: 2,
            says: "recursion limit exceeded",
        },
        Case {
            id: "M10",
            args: |d| {
                let t = fs::read_to_string(root().join(ROTATE)).unwrap();
                check(file(d, "bom.json", format!("\u{feff}{t}").as_bytes()))
            },
            code: 2,
            says: "bom.json:1:1: field `.`: expected value",
        },
        Case {
            id: "M11",
            args: |d| {
                fs::create_dir(d.join("m")).unwrap();
                fs::copy(root().join(ROTATE), d.join("m/a.json")).unwrap();
                fifo(d, "m/b.json");
                check(d.join("m").display().to_string())
            },
            code: 2,
            says: "m/b.json: cannot read the model file: found a FIFO (named pipe), expected a regular file",
        },
        Case {
            id: "M12",
            args: |_| v(&["models", "validate", "/dev/zero"]),
            code: 2,
            says: "/dev/zero: cannot read the model file: found a character device, expected a regular file",
        },
        Case {
            id: "M13",
            args: |d| check(sparse(d, "huge.json", b"{\"name\": \"", 100 << 20)),
            code: 2,
            says: "huge.json: cannot read the model file: found a file of 104857600 bytes, expected at most 67108864 bytes (64 MiB)",
        },
        // F: model file, fields and types.
        Case {
            id: "F1",
            args: |d| check(model_text(d, "f.json", "\"refreshes_per_tab\"", "\"refreshes_per_tabs\"")),
            code: 2,
            says: "field `browser.refreshes_per_tabs`: unknown field `refreshes_per_tabs`, expected one of",
        },
        Case {
            id: "F2",
            args: |d| {
                check(model_with(d, "f.json", |v| {
                    v.as_object_mut().unwrap().remove("sources");
                }))
            },
            code: 2,
            says: "field `sources`: missing: this field is required",
        },
        Case {
            id: "F3",
            args: |d| check(model_with(d, "f.json", |v| v["browser"]["tabs"] = "two".into())),
            code: 2,
            says: "field `browser.tabs`: found the string \"two\", expected an integer from 1 to 6",
        },
        Case {
            id: "F4",
            args: |d| check(model_with(d, "f.json", |v| v["browser"]["tabs"] = (-1).into())),
            code: 2,
            says: "field `browser.tabs`: found -1, expected an integer from 1 to 6",
        },
        Case {
            id: "F5",
            args: |d| check(model_with(d, "f.json", |v| v["browser"]["tabs"] = 300.into())),
            code: 2,
            says: "field `browser.tabs`: found 300, expected an integer from 1 to 6",
        },
        Case {
            id: "F6",
            args: |d| check(model_with(d, "f.json", |v| v["browser"]["tabs"] = 2.5.into())),
            code: 2,
            says: "field `browser.tabs`: found the number 2.5, expected an integer from 1 to 6",
        },
        Case {
            id: "F7",
            args: |d| check(model_text(d, "f.json", "\"tabs\": 2,", "\"tabs\": 2, \"tabs\": 3,")),
            code: 2,
            says: "field `browser`: duplicate field `tabs`",
        },
        Case {
            id: "F8",
            args: |d| check(model_with(d, "f.json", |v| v["server"]["session_refresh"] = "rename".into())),
            code: 2,
            says: "field `server.session_refresh`: unknown variant `rename`, expected one of `rotate`, `stable-id`",
        },
        Case {
            id: "F9",
            args: |d| check(model_with(d, "f.json", |v| v["network"] = "tcp".into())),
            code: 2,
            says: "field `network`: unknown variant `tcp`",
        },
        Case {
            id: "F10",
            args: |d| check(model_with(d, "f.json", |v| v["time"] = Value::Null)),
            code: 2,
            says: "field `time`: found null, expected an object {max_ticks, refresh_token_ttl, session_cookie_ttl, access_token_ttl, session_refresh_grace_period, refresh_margin, …}",
        },
        Case {
            id: "F11",
            args: |d| check(model_with(d, "f.json", |v| v["expect"]["no_spurious_logout"] = "maybe".into())),
            code: 2,
            says: "field `expect.no_spurious_logout`: unknown variant `maybe`",
        },
        Case {
            id: "F12",
            args: |d| check(model_with(d, "f.json", |v| v["browser"]["x\n::error::INJ\u{1b}[2J"] = 1.into())),
            code: 2,
            says: "field `browser.x\\n::error::INJ\\u{1b}[2J`: unknown field `x\\n::error::INJ\\u{1b}[2J`",
        },
        Case {
            id: "F13",
            args: |d| {
                check(model_text(
                    d,
                    "f.json",
                    "    \"cookie_names_live_session\": \"violated\",",
                    "    \"cookie_names_live_session\": \"violated\",\n    \"no_spurious_logout\": \"holds\",",
                ))
            },
            code: 2,
            says: "f.json:31:24: field `expect`: duplicate field `no_spurious_logout`",
        },
        Case {
            id: "F14",
            args: |d| check(model_with(d, "f.json", |v| v["browser"]["sign_ins"] = (-1).into())),
            code: 2,
            says: "field `browser.sign_ins`: found -1, expected an integer from 0 to `browser.devices` - 1",
        },
        Case {
            id: "F15",
            args: |d| {
                check(model_with(d, "f.json", |v| {
                    v["browser"]["retries_per_tab"] = 1.into();
                    v["browser"]["retry_timeout"] = "10s".into();
                }))
            },
            code: 2,
            says: "field `browser.retry_timeout`: unknown variant `10s`, expected one of `any-moment`, `after-loss` or a \
                   number of ticks from 1 to 16 written as a JSON number",
        },
        Case {
            id: "F16",
            args: |d| {
                check(model_with(d, "f.json", |v| {
                    v.as_object_mut().unwrap().remove("server");
                    v["protocol"] = serde_json::json!({ "refresh": { "rules": [
                        { "name": "rotate", "do": ["mint child", "supersede presented"], "reply": "ok minted" }
                    ] } });
                    v["browser"]["mode"] = "json".into();
                }))
            },
            code: 2,
            says: "field `protocol.sign_out`: missing: this field is required (every server has a sign-out, run by \
                   `browser.sign_outs` and judged by `logout_revokes_all` and the `sign_out_*` properties; the least \
                   one to add: \"sign_out\": { \"rules\": [ { \"name\": \"revoke\", \"do\": [\"revoke family\"], \
                   \"reply\": \"signed_out\" } ] })",
        },
        // V: model file, values out of range or that make no sense.
        Case {
            id: "V1",
            args: |d| check(model_with(d, "v.json", |v| v["browser"]["tabs"] = 0.into())),
            code: 2,
            says: "field `browser.tabs`: found 0, expected an integer from 1 to 6",
        },
        Case {
            id: "V2",
            args: |d| check(model_with(d, "v.json", |v| v["browser"]["tabs"] = 7.into())),
            code: 2,
            says: "field `browser.tabs`: found 7, expected an integer from 1 to 6",
        },
        Case {
            id: "V3",
            args: |d| check(model_with(d, "v.json", |v| v["browser"]["refreshes_per_tab"] = 5.into())),
            code: 2,
            says: "field `browser.refreshes_per_tab`: found 5, expected an integer from 0 to 4",
        },
        Case {
            id: "V4",
            args: |d| check(model_with(d, "v.json", |v| v["time"]["max_ticks"] = 17.into())),
            code: 2,
            says: "field `time.max_ticks`: found 17, expected an integer from 0 to 16",
        },
        Case {
            id: "V5",
            args: |d| check(model_with(d, "v.json", |v| v["time"]["refresh_token_ttl"] = 0.into())),
            code: 2,
            says: "field `time.refresh_token_ttl`: found 0, expected an integer from 1 to 200",
        },
        Case {
            id: "V6",
            args: |d| check(model_with(d, "v.json", |v| v["name"] = "../../etc/x".into())),
            code: 2,
            says: "field `name`: found \"../../etc/x\", expected a non-empty name of letters, digits",
        },
        Case {
            id: "V7",
            args: |d| check(model_with(d, "v.json", |v| v["name"] = "x".repeat(300).into())),
            code: 2,
            says: "field `name`: found a name of 300 bytes, expected at most 100 bytes",
        },
        Case {
            id: "V8",
            args: |d| check(model_with(d, "v.json", |v| v["sources"] = Value::Array(vec![]))),
            code: 2,
            says: "field `sources`: found an empty list, expected at least one source",
        },
        Case {
            id: "V9",
            args: |d| check(model_with(d, "v.json", |v| v["sources"][1] = " ".into())),
            code: 2,
            says: "field `sources[1]`: found an empty text, expected a source",
        },
        Case {
            id: "V10",
            args: |d| check(model_with(d, "v.json", |v| v["description"] = "".into())),
            code: 2,
            says: "field `description`: found an empty text",
        },
        Case {
            id: "V11",
            args: |d| check(model_with(d, "v.json", |v| v["expect"]["no_such_property"] = "holds".into())),
            code: 2,
            says: "field `expect.no_such_property`: found \"no_such_property\", expected one of the properties",
        },
        Case {
            id: "V12",
            args: |d| check(model_with(d, "v.json", |v| v["expect"]["refresh_succeeds"] = "holds".into())),
            code: 2,
            says: "field `expect.refresh_succeeds`: found holds, expected \"reached\" or \"unreached\"",
        },
        Case {
            id: "V13",
            args: |d| check(model_with(d, "v.json", |v| v["expect"]["no_spurious_logout"] = "unknown".into())),
            code: 2,
            says: "field `expect.no_spurious_logout`: found unknown, expected \"holds\" or \"violated\"",
        },
        Case {
            id: "V14",
            args: |d| check(model_with(d, "v.json", |v| v["network"] = "unordered_duplicating".into())),
            code: 2,
            says:
                "field `network`: found \"unordered_duplicating\", expected \"unordered_nonduplicating\" or \"ordered\"",
        },
        Case {
            id: "V15",
            args: |d| check(model_with(d, "v.json", |v| v["browser"]["logins"] = "per-tab".into())),
            code: 2,
            says: "field `browser.logins`: found \"per-tab\", expected \"per-device\", or \"per-tab\" with an `auth_server`",
        },
        Case {
            id: "V16",
            args: |d| {
                check(model_with(d, "v.json", |v| {
                    as_auth_server(v, serde_json::json!({"rotation": "rotate", "reuse_state": "per-client-session"}))
                }))
            },
            code: 2,
            says: "field `auth_server.reuse_state`: found \"per-client-session\", expected \"per-chain\", or Keycloak's \"per-client-session\" or \"per-reuse-id\" with `rotation` \"rotate\", `grace` \"none\" and an `on_reuse` that detects (Keycloak's Revoke Refresh Token; its Refresh Token Max Reuse is `window.uses`, default 0, the one window bound it takes)",
        },
        Case {
            id: "V17",
            args: |d| {
                check(model_with(d, "v.json", |v| as_auth_server(v, serde_json::json!({"rotation": "rotate", "replicas": 3}))))
            },
            code: 2,
            says: "field `auth_server.replicas`: found 3, expected an integer from 1 to 2",
        },
        Case {
            id: "V18",
            args: |d| {
                check(model_with(d, "v.json", |v| {
                    as_auth_server(v, serde_json::json!({"rotation": "rotate", "replicas": 2, "steps": "read-then-write"}))
                }))
            },
            code: 2,
            says: "field `auth_server.steps`: found \"read-then-write\", expected \"atomic\" when `replicas` is 2",
        },
        Case {
            id: "V19",
            args: |d| {
                check(model_with(d, "v.json", |v| {
                    as_auth_server(v, serde_json::json!({"rotation": "rotate"}));
                    v["browser"]["logins"] = "per-tab".into();
                    v["browser"]["tabs"] = 3.into();
                    v["browser"]["devices"] = 3.into();
                }))
            },
            code: 2,
            says: "field `browser.logins`: found \"per-tab\" with 9 sign-ins (devices x tabs), expected at most 8 sign-ins in all",
        },
        Case {
            id: "V20",
            args: |d| check(model_with(d, "v.json", |v| v["browser"]["coordination"] = "broadcast-leader".into())),
            code: 2,
            says: "field `browser.coordination`: found \"broadcast-leader\", expected \"broadcast-leader\" only with an `auth_server` and `mode` \"json\"",
        },
        Case {
            id: "V21",
            args: |d| {
                check(model_with(d, "v.json", |v| {
                    v["browser"]["coordination"] = "web-locks".into();
                    v["lossy"] = true.into();
                }))
            },
            code: 2,
            says: "field `lossy`: found true, expected false with a `coordination`",
        },
        Case {
            id: "V22",
            args: |d| {
                check(model_with(d, "v.json", |v| as_auth_server(v, serde_json::json!({"rotation": "rotate", "routing": "sticky"}))))
            },
            code: 2,
            says: "field `auth_server.routing`: found \"sticky\" with one node, expected \"any\" unless `replicas` is 2",
        },
        Case {
            id: "V23",
            args: |d| {
                check(model_with(d, "v.json", |v| {
                    as_auth_server(v, serde_json::json!({"rotation": "rotate", "window": {"ticks": 2}}))
                }))
            },
            code: 2,
            says: "field `auth_server.window`: found a window with `grace` \"none\", expected no `window` unless a `grace` is set (the window bounds grace redemptions), or `window.uses` alone with Keycloak's \"per-client-session\" or \"per-reuse-id\" (its Refresh Token Max Reuse)",
        },
        // Issue 13, item 11: Keycloak's counters take `window.uses` alone (its max reuse), no
        // other window bound.
        Case {
            id: "V27",
            args: |d| {
                check(model_with(d, "v.json", |v| {
                    as_auth_server(
                        v,
                        serde_json::json!({"rotation": "rotate", "on_reuse": "detach-client-session", "reuse_state": "per-reuse-id", "window": {"uses": 1, "ticks": 2}}),
                    );
                    v["browser"]["json_storage"] = "per-tab".into();
                }))
            },
            code: 2,
            says: "field `auth_server.window`: found a window with `grace` \"none\", expected no `window` unless a `grace` is set (the window bounds grace redemptions), or `window.uses` alone with Keycloak's \"per-client-session\" or \"per-reuse-id\" (its Refresh Token Max Reuse)",
        },
        Case {
            id: "V24",
            args: |d| {
                check(model_with(d, "v.json", |v| {
                    as_auth_server(v, serde_json::json!({"rotation": "none", "on_reuse": "revoke-family"}))
                }))
            },
            code: 2,
            says: "field `auth_server.rotation`: found \"none\" with a `grace` or an `on_reuse`, expected \"rotate\" when `grace` or `on_reuse` is set",
        },
        Case {
            id: "V25",
            args: |d| {
                check(model_with(d, "v.json", |v| {
                    as_auth_server(v, serde_json::json!({"rotation": "rotate"}));
                    v["attacker"] = serde_json::json!({"attempts": 1, "modes": ["session"]});
                }))
            },
            code: 2,
            says: "field `attacker.modes`: found \"session\", expected \"json\" or \"cookie\" with an `auth_server`",
        },
        Case {
            id: "V26",
            args: |d| check(model_with(d, "v.json", |v| v["browser"]["retries_per_tab"] = 1.into())),
            code: 2,
            says: "field `browser.retries_per_tab`: found 1, expected 0 in a Directus model (Directus's app does not retry",
        },
        Case {
            id: "V28",
            args: |d| check(model_with(d, "v.json", |v| v["lossy"] = serde_json::json!({"max_losses": 0}))),
            code: 2,
            says: "field `lossy.max_losses`: found 0, expected an integer from 1 to 4",
        },
        Case {
            id: "V29",
            args: |d| check(model_with(d, "v.json", |v| v["lossy"] = serde_json::json!({"messages": "answers"}))),
            code: 2,
            says: "field `lossy.messages`: unknown variant `answers`, expected one of `all`, `requests`, `responses`",
        },
        Case {
            id: "V30",
            args: |d| check(model_with(d, "v.json", |v| v["lossy"] = serde_json::json!({"message": "responses"}))),
            code: 2,
            says: "field `lossy.message`: unknown field `message`, expected one of `messages`, `endpoints`, `max_losses` (did you mean `messages`?)",
        },
        Case {
            id: "V31",
            args: |d| {
                check(model_with(d, "v.json", |v| v["lossy"] = serde_json::json!({"endpoints": ["refresh", "refresh"]})))
            },
            code: 2,
            says: "field `lossy.endpoints[1]`: found \"refresh\", expected each endpoint once",
        },
        Case {
            id: "V32",
            args: |d| check(model_with(d, "v.json", |v| v["lossy"] = "yes".into())),
            code: 2,
            says: "field `lossy`: found the string \"yes\", expected `true` or `false` or an object {messages, endpoints, max_losses}",
        },
        // C: command line.
        Case {
            id: "C1",
            args: |_| v(&["check", &shipped(ROTATE), "--tabs", "7"]),
            code: 2,
            says: "invalid value '7' for '--tabs <TABS>': 7 is not in 1..=6",
        },
        Case {
            id: "C2",
            args: |_| v(&["check", &shipped(ROTATE), "--timeout", "0"]),
            code: 2,
            says: "invalid value '0' for '--timeout <SECS>': found 0, expected a number of seconds above 0 and at most 1000000000 (about 31 years)",
        },
        Case {
            id: "C3",
            args: |_| v(&["check", &shipped(ROTATE), "--timeout", "NaN"]),
            code: 2,
            says: "invalid value 'NaN' for '--timeout <SECS>': found NaN, expected a number of seconds above 0",
        },
        Case {
            id: "C4",
            args: |_| v(&["check", &shipped(ROTATE), "--max-memory", "0"]),
            code: 2,
            says: "invalid value '0' for '--max-memory <MiB>'",
        },
        Case {
            id: "C5",
            args: |_| v(&["check", &shipped(ROTATE), "--max-states", "many"]),
            code: 2,
            says: "invalid value 'many' for '--max-states <N>'",
        },
        Case {
            id: "C6",
            args: |_| v(&["check", &shipped(ROTATE), "--tab", "2"]),
            code: 2,
            says: "unexpected argument '--tab'",
        },
        Case { id: "C7", args: |_| v(&["check"]), code: 2, says: "the following required arguments were not provided" },
        Case {
            id: "C8",
            args: |_| v(&["models", "validate"]),
            code: 2,
            says: "the following required arguments were not provided",
        },
        // Issue 13, item 8: these panicked ("cannot convert float seconds to Duration").
        Case {
            id: "C10",
            args: |_| v(&["check", &shipped(ROTATE), "--timeout", "1e300"]),
            code: 2,
            says: "invalid value '1e300' for '--timeout <SECS>': found 1e300, expected a number of seconds above 0 and at most 1000000000 (about 31 years)",
        },
        Case {
            id: "C11",
            args: |_| v(&["matrix", &shipped(ROTATE), "--timeout", "1e300"]),
            code: 2,
            says: "invalid value '1e300' for '--timeout <SECS>': found 1e300, expected a number of seconds above 0",
        },
        Case {
            id: "C12",
            args: |_| {
                v(&[
                    "replay",
                    &shipped("traces/directus-10.10-session.no_spurious_logout.json"),
                    "--target",
                    "http://127.0.0.1:9",
                    "--email",
                    "a",
                    "--password",
                    "b",
                    "--tick-seconds",
                    "1e300",
                ])
            },
            code: 2,
            says: "invalid value '1e300' for '--tick-seconds <TICK_SECONDS>': found 1e300, expected a number of seconds from 0 and at most 1000000000",
        },
        Case {
            id: "C13",
            args: |_| {
                v(&[
                    "replay",
                    &shipped("traces/directus-10.10-session.no_spurious_logout.json"),
                    "--target",
                    "http://127.0.0.1:9",
                    "--email",
                    "a",
                    "--password",
                    "b",
                    "--request-timeout",
                    "1e300",
                ])
            },
            code: 2,
            says: "invalid value '1e300' for '--request-timeout <REQUEST_TIMEOUT>': found 1e300, expected a number of seconds above 0",
        },
        Case {
            id: "C9",
            args: |d| {
                v(&[
                    "models",
                    "validate",
                    &shipped(ROTATE),
                    &model_with(d, "v.json", |v| v["browser"]["tabs"] = 0.into()),
                ])
            },
            code: 2,
            says: "v.json:18:5: field `browser.tabs`: found 0",
        },
        Case {
            id: "C10",
            args: |_| v(&["check", &shipped(ROTATE), "--no-traces", "--traces", "elsewhere"]),
            code: 2,
            says: "the argument '--no-traces' cannot be used with '--traces <DIR>'",
        },
        Case {
            id: "C11",
            args: |d| {
                fs::create_dir(d.join("m")).unwrap();
                fs::copy(root().join(ROTATE), d.join("m/a.json")).unwrap();
                fs::copy(root().join(ROTATE), d.join("m/b.json")).unwrap();
                v(&["models", "validate", "m"])
            },
            code: 2,
            says: "m/b.json: field `name`: found \"directus-10.10-session\", expected a name no other model file uses (m/a.json uses it",
        },
        Case {
            id: "C12",
            args: |d| {
                fs::create_dir(d.join("m")).unwrap();
                fs::copy(root().join(ROTATE), d.join("m/a.json")).unwrap();
                std::os::unix::fs::symlink(".", d.join("m/again")).unwrap();
                v(&["models", "validate", "m"])
            },
            code: 2,
            says: "m/again: a symbolic link loop (it leads back to ",
        },
        Case {
            id: "C13",
            args: |_| v(&["check", "--tab\n::error::INJ\u{1b}[2J"]),
            code: 2,
            says: "unexpected argument '--tab\\n::error::INJ\\u{1b}[2J' found",
        },
        Case {
            id: "C14",
            args: |d| check(model_with(d, "m\n::error::INJ\u{1b}[2J.json", |_| {})),
            code: 0,
            says: "directus-10.10-session  (m\\n::error::INJ\\u{1b}[2J.json, 2 tabs)",
        },
        // O: output paths (checked before the search).
        Case {
            id: "O1",
            args: |d| v(&["check", &shipped(ROTATE), "--traces", &file(d, "traces", b"x")]),
            code: 2,
            says: "traces: exists and is not a folder; expected a folder for output files",
        },
        Case {
            id: "O2",
            args: |d| {
                file(d, "f", b"x");
                v(&["check", &shipped(ROTATE), "--traces", &d.join("f/traces").display().to_string()])
            },
            code: 2,
            says: "/f: exists and is not a folder",
        },
        Case {
            id: "O3",
            args: |_| v(&["check", &shipped(ROTATE), "--traces", "/dev/full"]),
            code: 2,
            says: "/dev/full: exists and is not a folder",
        },
        Case {
            id: "O4",
            args: |d| {
                fs::create_dir_all(d.join("t/directus-10.10-session.no_spurious_logout.md")).unwrap();
                v(&["check", &shipped(ROTATE), "--traces", &d.join("t").display().to_string()])
            },
            code: 2,
            says: "directus-10.10-session.no_spurious_logout.md: is a folder; expected a file name",
        },
        Case {
            id: "O5",
            args: |d| v(&["check", &shipped(ROTATE), "--no-traces", "--report", &fifo(d, "r.fifo")]),
            code: 2,
            says: "r.fifo: cannot write: a FIFO that no process is reading",
        },
        Case {
            id: "O6",
            args: |d| {
                let m = model_with(d, "m.json", |_| {});
                v(&["check", &m, "--no-traces", "--report", &m])
            },
            code: 2,
            says: "m.json: is the model file",
        },
        Case {
            id: "O7",
            args: |d| {
                let t = trace_with(d, |_| {});
                v(&["check", &shipped(ROTATE), "--report", &t])
            },
            code: 2,
            says: "directus-10.10-session.no_spurious_logout.json: is the trace file traces/directus-10.10-session.no_spurious_logout.json; refusing to overwrite an input",
        },
        Case {
            id: "O8",
            args: |d| {
                let t = trace_with(d, |_| {});
                v(&["trace", "html", &t, "-o", &t])
            },
            code: 2,
            says: "refusing to overwrite an input (choose another output file)",
        },
        Case {
            id: "O9",
            args: |d| {
                let r = d.join("r.json").display().to_string();
                let out = cli(d, &["check", &shipped(ROTATE), "--no-traces", "--format", "json", "--report", &r]);
                assert_eq!(out.status.code(), Some(0));
                v(&["matrix", "--merge", &r, "--report", &r])
            },
            code: 2,
            says: "r.json: is the report to merge",
        },
        Case {
            id: "O10",
            args: |d| {
                fs::create_dir(d.join("m")).unwrap();
                let m = model_with(d, "m/directus-10.10-session.no_spurious_logout.json", |_| {});
                v(&["check", &m, "--traces", "m", "--update-traces"])
            },
            code: 2,
            says: "m/directus-10.10-session.no_spurious_logout.json: is the model file",
        },
        // T: trace files.
        Case {
            id: "T1",
            args: |_| v(&["trace", "validate", "missing.json"]),
            code: 2,
            says: "missing.json: cannot read the trace file: No such file",
        },
        Case {
            id: "T2",
            args: |d| v(&["trace", "validate", &file(d, "t.json", b"{\"schema\": ")]),
            code: 2,
            says: "t.json:1:11: field `schema`: EOF while parsing a value",
        },
        Case {
            id: "T3",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["schema"] = "refresh-check/trace/v2".into())]),
            code: 2,
            says: "field `schema`: found \"refresh-check/trace/v2\", expected \"refresh-check/trace/v1\"",
        },
        Case {
            id: "T4",
            args: |d| {
                v(&[
                    "trace",
                    "validate",
                    &trace_with(d, |t| {
                        t.as_object_mut().unwrap().remove("schema");
                    }),
                ])
            },
            code: 2,
            says: "field `schema`: found no `schema` field",
        },
        Case {
            id: "T5",
            args: |d| v(&["trace", "validate", &file(d, "t.json", b"[]")]),
            code: 2,
            says: "t.json:1:1: field `.`: found an array, expected a JSON object",
        },
        Case {
            id: "T6",
            args: |d| {
                v(&[
                    "trace",
                    "validate",
                    &trace_with(d, |t| t["steps"][3]["state"]["store"][0] = "token=9 expires=7".into()),
                ])
            },
            code: 1,
            says: "FAILED: step 4 differs from the replay in `state` (`steps[3]`): at `steps[3].state.store[0]`: recorded \"token=9 expires=7\", replayed \"token=1 expires=7\"",
        },
        Case {
            id: "T7",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["steps"][0]["actor"] = "tab B".into())]),
            code: 1,
            says: "FAILED: step 1 differs from the replay in `actor`",
        },
        Case {
            id: "T8",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["path"] = "0/0/0/0/9/0".into())]),
            code: 1,
            says: "FAILED: the path does not replay: step 4 is not an enabled action of the model",
        },
        Case {
            id: "T9",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["path"] = "0/0/0".into())]),
            code: 1,
            says: "FAILED: the path replays but its last state does not violate `no_spurious_logout`",
        },
        Case {
            id: "T10",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["path"] = "0/a/1".into())]),
            code: 2,
            says: "field `/path`: \"0/a/1\" does not match \"^[0-9]+(/[0-9]+)*$\" (trace schema refresh-check/trace/v1; 1 violation(s) in all)",
        },
        Case {
            id: "T11",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["steps"].as_array_mut().unwrap().truncate(9))]),
            code: 1,
            says: "FAILED: the trace has 9 steps; its path replays to 10 (step 10 is the first one missing or extra)",
        },
        Case {
            id: "T12",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["property"] = "no_such_property".into())]),
            code: 1,
            says: "FAILED: unknown property `no_such_property`",
        },
        Case {
            id: "T13",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["kind"] = "sometimes".into())]),
            code: 1,
            says: "FAILED: fields `kind` and `claim`: found Sometimes",
        },
        Case {
            id: "T14",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["model"] = "directus-11".into())]),
            code: 1,
            says: "FAILED: field `model`: found \"directus-11\", but its model file names \"directus-10.10-session\"",
        },
        Case {
            id: "T15",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["parameters"]["tabs"] = 9.into())]),
            code: 2,
            says: "field `parameters.tabs`: found 9, expected an integer from 1 to 6",
        },
        Case {
            id: "T16",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["model_file"] = "/nonexistent/m.json".into())]),
            code: 2,
            says: "its model file: /nonexistent/m.json: cannot read the model file",
        },
        Case {
            id: "T17",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["steps"][2]["index"] = 7.into())]),
            code: 1,
            says: "FAILED: step 3 differs from the replay in `index`",
        },
        Case {
            id: "T18",
            args: |d| v(&["trace", "validate", &sparse(d, "huge.json", b"{\"schema\": \"", 600_000_000)]),
            code: 2,
            says: "huge.json: cannot read the trace file: found a file of 600000000 bytes, expected at most 67108864 bytes (64 MiB)",
        },
        Case {
            id: "T19",
            args: |d| {
                let m = fifo(d, "m.json");
                v(&["trace", "validate", &trace_with(d, |t| t["model_file"] = m.into())])
            },
            code: 2,
            says: "m.json: cannot read the model file: found a FIFO (named pipe), expected a regular file",
        },
        Case {
            id: "T20",
            args: |d| v(&["trace", "validate", &trace_with(d, |t| t["model_file"] = "/dev/zero".into())]),
            code: 2,
            says: "its model file: /dev/zero: cannot read the model file: found a character device, expected a regular file",
        },
        Case {
            id: "T21",
            args: |d| {
                trace_with(d, |_| {});
                fifo(d, "traces/z.json");
                v(&["trace", "validate", "traces"])
            },
            code: 2,
            says: "traces/z.json: cannot read the trace file: found a FIFO (named pipe), expected a regular file",
        },
        Case {
            id: "T22",
            args: |d| {
                // A trace written by `check` in a project's root names its model file relative
                // to that root; it validates from any working folder.
                fs::create_dir_all(d.join("proj/models")).unwrap();
                fs::copy(root().join(ROTATE), d.join("proj/models/m.json")).unwrap();
                let out = cli(&d.join("proj"), &["check", "models/m.json"]);
                assert_eq!(out.status.code(), Some(0));
                v(&["trace", "validate", "proj/traces/directus-10.10-session.no_spurious_logout.json"])
            },
            code: 0,
            says: "no_spurious_logout.json: ok (no_spurious_logout violated in 10 steps)",
        },
        // L: limits (the search stops early: never `holds`, exit 3).
        Case {
            id: "L1",
            args: |_| v(&["check", &shipped(STABLE), "--max-states", "100", "--no-traces"]),
            code: 3,
            says: "INCOMPLETE: --max-states reached",
        },
        Case {
            id: "L2",
            args: |_| v(&["check", &shipped(STABLE), "--max-depth", "4", "--no-traces"]),
            code: 3,
            says: "INCOMPLETE: --max-depth cut paths short",
        },
        Case {
            id: "L3",
            args: |_| v(&["check", &shipped(STABLE), "--tabs", "6", "--timeout", "0.5", "--no-traces"]),
            code: 3,
            says: "INCOMPLETE: --timeout passed",
        },
        Case {
            id: "L4",
            args: |_| v(&["check", &shipped(STABLE), "--tabs", "6", "--max-memory", "1", "--no-traces"]),
            code: 3,
            says: "INCOMPLETE: --max-memory reached",
        },
    ]
}

fn run_case(c: &Case) -> (Output, String) {
    let dir = crate::common::TempFiles::new();
    let args = (c.args)(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cli(dir.path(), &args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    (out, text)
}

#[test]
fn every_bad_input_gives_its_exit_code_and_message_and_never_a_panic() {
    let mut failures = Vec::new();
    for c in cases() {
        let (out, text) = run_case(&c);
        let forged = text.contains('\u{1b}') || text.lines().any(|l| l.starts_with("::error::"));
        if out.status.code() != Some(c.code) || !text.contains(c.says) || text.contains("panicked") || forged {
            failures.push(format!(
                "{}: exit {:?}, wanted {} and {:?}; got:\n{text}",
                c.id,
                out.status.code(),
                c.code,
                c.says
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

/// The rows of the table in `docs/robustness.md`: `(id, exit code)`.
fn documented() -> Vec<(String, i32)> {
    let doc = fs::read_to_string(root().join("docs/robustness.md")).unwrap();
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // | id | input | exit | message |
            let id = cells.get(1)?.trim_matches('`');
            let code = cells.get(3)?.parse().ok()?;
            (id.len() <= 3 && id.chars().next()?.is_ascii_uppercase()).then(|| (id.to_string(), code))
        })
        .collect()
}

#[test]
fn the_documented_table_lists_every_case_with_its_exit_code() {
    let doc = documented();
    let cases: Vec<(String, i32)> = cases().iter().map(|c| (c.id.to_string(), c.code)).collect();
    assert!(cases.len() >= 30, "at least 30 bad inputs");
    assert_eq!(doc, cases, "docs/robustness.md and tests/robustness.rs list different cases");
}

/// Prints the table of `docs/robustness.md` from real runs: `cargo test --test integration
/// robustness::print_table -- --ignored --nocapture`.
#[test]
#[ignore = "prints the documentation table"]
fn print_table() {
    for c in cases() {
        let (out, text) = run_case(&c);
        let line = text.lines().find(|l| l.contains(c.says)).unwrap_or("");
        println!("| {} | | {} | `{}` |", c.id, out.status.code().unwrap_or(-1), line.trim().replace('|', "\\|"));
    }
}

/// No verdict that only an exhaustive search may give: `holds` or `unreached`.
fn assert_no_final_absence(report: &Value) {
    assert_eq!(report["complete"], false, "{report}");
    for p in report["properties"].as_array().unwrap() {
        let s = p["status"].as_str().unwrap();
        assert!(s != "holds" && s != "unreached", "{} is {s} after an incomplete search", p["name"]);
    }
}

#[test]
fn a_time_limited_state_limited_or_memory_limited_run_never_reports_holds() {
    let dir = crate::common::TempFiles::new();
    for (limit, value, ending) in [
        ("--timeout", "0.5", "timeout"),
        ("--max-states", "5000", "state_bound"),
        ("--max-memory", "1", "memory_bound"),
    ] {
        let out = cli(dir.path(), &["check", &shipped(STABLE), "--tabs", "6", limit, value, "--format", "json"]);
        assert_eq!(out.status.code(), Some(3), "{limit}: {}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["ending"], ending);
        assert_no_final_absence(&report);
        assert!(report["unique_states"].as_u64().unwrap() >= 1);
    }
}

/// Spawns `check` on a large configuration, sends `signal` once the search has run for a
/// while, and returns the output.
fn interrupted(dir: &Path, args: &[&str], signal: &str) -> (Output, Duration) {
    let child = Command::new(env!("CARGO_BIN_EXE_refresh-check"))
        .current_dir(dir)
        .args(["check", "--format", "json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    let kill = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    (out, sent.elapsed())
}

#[test]
fn sigint_stops_the_search_prints_the_partial_report_and_exits_3() {
    let dir = crate::common::TempFiles::new();
    let (out, took) = interrupted(dir.path(), &[&shipped(STABLE), "--tabs", "6"], "INT");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(took < Duration::from_secs(5), "the search stopped {took:?} after the signal");
    let report: Value = serde_json::from_slice(&out.stdout).expect("a whole JSON report");
    assert_eq!(report["ending"], "interrupted");
    assert_no_final_absence(&report);
    assert!(report["unique_states"].as_u64().unwrap() > 1000, "the search had run: {}", report["unique_states"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted; stopping the search"));
}

/// A signal stops the queries' searches too: they run after the properties' search, and once
/// interrupted, a run answers them no further (they are left unknown) instead of searching on.
#[test]
fn sigterm_stops_the_queries_searches_too() {
    let dir = crate::common::TempFiles::new();
    fs::write(dir.path().join("q.json"), r#"{"queries":[{"name":"everywhere","always":"now >= 0"}]}"#).unwrap();
    let (out, took) = interrupted(dir.path(), &[&shipped(STABLE), "--tabs", "6", "--query", "q.json"], "TERM");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(took < Duration::from_secs(5), "the run stopped {took:?} after the signal");
    let report: Value = serde_json::from_slice(&out.stdout).expect("a whole JSON report");
    assert_eq!(report["ending"], "interrupted");
    assert_ne!(report["queries"][0]["answer"], "holds", "{}", report["queries"]);
}

#[test]
fn sigterm_leaves_only_whole_trace_files_and_no_temporary_file() {
    let dir = crate::common::TempFiles::new();
    // Directus 10.10 with each refresh one transaction: the spurious logout is still found
    // (early), the orphan cookie never is, so the search goes on until the signal.
    let m = model_with(dir.path(), "atomic.json", |v| {
        v["server"]["steps"] = "atomic".into();
        v["browser"]["requests_per_tab"] = 1.into();
        v["expect"] = serde_json::json!({"no_spurious_logout": "violated"});
    });
    let (out, _) = interrupted(dir.path(), &[&m, "--tabs", "5", "--traces", "traces"], "TERM");
    let code = out.status.code();
    let report: Value = serde_json::from_slice(&out.stdout).expect("a whole JSON report");
    // Violations found before the signal are final (and written); the rest is unknown.
    assert_eq!(code, Some(3), "{report}");
    assert_no_final_absence(&report);
    assert_eq!(report["ending"], "interrupted");
    let written: Vec<PathBuf> = fs::read_dir(dir.path().join("traces")).unwrap().map(|e| e.unwrap().path()).collect();
    for f in &written {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with("directus-10.10-session."), "a stray file: {name}");
        if name.ends_with(".json") {
            let t = cli(dir.path(), &["trace", "validate", f.to_str().unwrap()]);
            assert_eq!(t.status.code(), Some(0), "{}", String::from_utf8_lossy(&t.stdout));
        } else {
            assert!(fs::read_to_string(f).unwrap().trim_end().ends_with("```"), "{name} is whole");
        }
    }
    for p in report["properties"].as_array().unwrap() {
        let has_file = !p["trace"].is_null();
        assert_eq!(has_file, p["status"] == "violated", "{p}");
    }
}

#[test]
fn two_runs_writing_into_one_folder_never_show_half_a_file() {
    let dir = crate::common::TempFiles::new();
    let traces = dir.path().join("traces");
    let json = traces.join("directus-10.10-session.no_spurious_logout.json");
    let spawn = || {
        Command::new("sh")
            .current_dir(dir.path())
            .arg("-c")
            .arg(format!(
                "for i in 1 2 3 4 5 6 7 8; do {} check {} --traces traces >/dev/null || exit 9; done",
                env!("CARGO_BIN_EXE_refresh-check"),
                shipped(ROTATE)
            ))
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    // Read the file as often as possible while both loops run: every read is whole.
    let (mut reads, mut whole) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(text) = fs::read_to_string(&json) {
            reads += 1;
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("half a file: {e}\n{text}"));
            assert_eq!(v["steps"].as_array().unwrap().len(), 10);
            whole += 1;
        }
        if a.try_wait().unwrap().is_some() && b.try_wait().unwrap().is_some() {
            break;
        }
    }
    assert_eq!(a.wait().unwrap().code(), Some(0));
    assert_eq!(b.wait().unwrap().code(), Some(0));
    assert!(reads > 0 && reads == whole, "{reads} reads");
    let names: Vec<String> =
        fs::read_dir(&traces).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert_eq!(names.len(), 6, "no temporary file left: {names:?}");
}

/// An actor's name from a trace file cannot add statements to the Mermaid diagram.
#[test]
fn a_trace_actor_cannot_inject_mermaid_statements() {
    let dir = crate::common::TempFiles::new();
    let t = trace_with(dir.path(), |t| t["steps"][0]["actor"] = "tab A\nclick TabA call alert(1)\n%%".into());
    let out = cli(dir.path(), &["trace", "show", &t, "--format", "mermaid"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines().skip(1) {
        let first = line.split_whitespace().next().unwrap_or("");
        assert!(["participant", "Note"].contains(&first) || first.contains(">>") || first.contains("-x"), "{line}");
    }
    assert!(text.contains("participant TabAclickTabAcallalert1 as tab A click TabA call alert(1) %%"), "{text}");
}

/// A target that is not a regular file is written in place, never replaced: a symbolic link
/// to the process's stdout (as `/dev/stdout` is), a FIFO that is read, a full device.
#[test]
fn output_to_a_link_a_fifo_or_a_device_is_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let dir = crate::common::TempFiles::new();
    let d = dir.path();
    // A link like /dev/stdout: the report reaches stdout (a pipe), the link stays.
    std::os::unix::fs::symlink("/proc/self/fd/1", d.join("out")).unwrap();
    let out = cli(d, &["check", &shipped(ROTATE), "--no-traces", "--format", "json", "--report", "out", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report on stdout");
    assert_eq!(report["model"], "directus-10.10-session");
    assert!(fs::symlink_metadata(d.join("out")).unwrap().file_type().is_symlink(), "the link is kept");
    // A FIFO with a reader: the reader gets the report, the FIFO stays a FIFO.
    let f = fifo(d, "r.fifo");
    let reader = Command::new("cat").arg(&f).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = cli(d, &["check", &shipped(ROTATE), "--no-traces", "--format", "json", "--report", &f, "-q"]);
    let got = reader.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(serde_json::from_slice::<Value>(&got.stdout).is_ok(), "the reader got the whole report");
    assert!(fs::symlink_metadata(&f).unwrap().file_type().is_fifo(), "the FIFO is kept");
    // A full device (only once a FIFO was shown to be kept: an older build would replace it).
    let t = trace_with(d, |_| {});
    let out = cli(d, &["trace", "html", &t, "-o", "/dev/full"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/full: cannot write: No space left on device"), "{err}");
    assert!(fs::metadata("/dev/full").unwrap().file_type().is_char_device());
    let out = cli(d, &["check", &shipped(ROTATE), "--no-traces", "--report", "/dev/full"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/dev/full: cannot write: No space left on device"));
    assert!(fs::metadata("/dev/full").unwrap().file_type().is_char_device());
}

/// Runs `script` (sh) in a private mount namespace, as root; `None` where that is not allowed
/// (not root, or no mount namespaces), so that the test says it was skipped.
fn in_mount_namespace(dir: &Path, script: &str) -> Option<Output> {
    let probe = Command::new("unshare").args(["-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("skipped: cannot mount a file system here (needs root and mount namespaces)");
        return None;
    }
    Some(Command::new("unshare").current_dir(dir).args(["-m", "sh", "-c", script]).output().unwrap())
}

#[test]
fn a_read_only_output_folder_is_reported_before_the_search() {
    let dir = crate::common::TempFiles::new();
    fs::create_dir(dir.path().join("ro")).unwrap();
    let script = format!(
        "mount --bind ro ro && mount -o remount,bind,ro ro && {} check {} --traces ro/traces",
        env!("CARGO_BIN_EXE_refresh-check"),
        shipped(ROTATE)
    );
    let Some(out) = in_mount_namespace(dir.path(), &script) else { return };
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ro/traces: cannot create the output folder: Read-only file system"), "{err}");
    assert!(out.stdout.is_empty(), "no search, no report");
}

#[test]
fn a_full_disk_is_reported_before_the_search_and_a_later_full_disk_keeps_the_report() {
    let dir = crate::common::TempFiles::new();
    fs::create_dir(dir.path().join("full")).unwrap();
    // Full before the search: the probe file cannot be written.
    let bin = env!("CARGO_BIN_EXE_refresh-check");
    let m = shipped(ROTATE);
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs full && head -c 1M /dev/zero > full/fill; {bin} check {m} --traces full/t"
    );
    let Some(out) = in_mount_namespace(dir.path(), &script) else { return };
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("full/t: cannot write files in the output folder: No space left on device"), "{err}");
    assert!(out.stdout.is_empty(), "no search, no report");
    // Room for the probe and one trace, not for both: the report is printed all the same,
    // then exit 2 names the file; no half file is left.
    let script = format!(
        "mount -t tmpfs -o size=20k tmpfs full && {bin} check {m} --traces full/t; c=$?; ls full/t; for f in full/t/*.json; do {bin} trace validate $f >/dev/null || exit 8; done; exit $c"
    );
    let out = in_mount_namespace(dir.path(), &script).unwrap();
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{err}");
    assert!(stdout.contains("outcome: as expected"), "the report is printed: {stdout}");
    assert!(err.contains("cannot write: No space left on device"), "{err}");
    assert!(!stdout.contains(".tmp"), "no temporary file left: {stdout}");
}

#[test]
fn the_report_to_a_full_device_is_an_error_not_a_panic() {
    let dir = crate::common::TempFiles::new();
    let full = fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_refresh-check"))
        .current_dir(dir.path())
        .args(["check", &shipped(ROTATE), "--no-traces"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left on device") && !err.contains("panicked"), "{err}");
}

#[test]
fn a_user_without_write_permission_is_told_before_the_search() {
    let dir = crate::common::TempFiles::new();
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // As root, permissions do not stop writes: run as `nobody` where setpriv can.
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_refresh-check")]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_refresh-check"))
    };
    let target = locked.join("traces");
    let Ok(out) = cmd.args(["check", &shipped(ROTATE), "--traces", target.to_str().unwrap()]).output() else {
        eprintln!("skipped: setpriv is not available");
        return;
    };
    if String::from_utf8_lossy(&out.stderr).contains("setpriv:") {
        eprintln!("skipped: setpriv cannot change user here");
        return;
    }
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked/traces: cannot create the output folder: Permission denied"), "{err}");
}

/// Whether this process runs as root (`id -u`).
fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Model-level self-check: every shipped model reaches each of its `sometimes` properties (no
/// vacuous model), with the tab count it ships with, except one its file expects `unreached`
/// (the attacker's, in a model without an attacker).
#[test]
fn every_shipped_model_reaches_each_sanity_property() {
    use refresh_check::check::{self, CheckOptions};
    use refresh_check::properties::Kind;
    use refresh_check::scenario::{Scenario, Verdict};
    let mut seen = 0;
    for entry in fs::read_dir(root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let (_, r) = check::check(&sc, &CheckOptions::default());
        for p in r.properties.iter().filter(|p| p.kind == Kind::Sometimes && p.expected != Some(Verdict::Unreached)) {
            assert_eq!(p.status, Verdict::Reached, "{}: {} is never reached", path.display(), p.name);
            assert!(p.steps.is_some_and(|s| s >= 1), "{}: {}", path.display(), p.name);
        }
        assert!(r.vacuous.is_empty());
        seen += 1;
    }
    assert!(seen >= 2, "the shipped models were read");
}

#[test]
fn check_warns_when_a_model_bound_was_hit() {
    let dir = crate::common::TempFiles::new();
    let m = model_with(dir.path(), "ticks.json", |v| {
        v["name"] = "stable-ticks".into();
        v["server"]["session_refresh"] = "stable-id".into();
        v["time"]["max_ticks"] = 2.into();
        v["expect"] = serde_json::json!({});
    });
    let out = cli(dir.path(), &["check", &m, "--no-traces"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: the search reached model bounds, so a violation might lie just past them: time.max_ticks = 2 (the clock stopped at its last tick); browser.refreshes_per_tab = 1"),
        "{text}"
    );
    let out = cli(dir.path(), &["check", &m, "--no-traces", "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fields: Vec<&str> =
        report["bounds_hit"].as_array().unwrap().iter().map(|b| b["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["time.max_ticks", "browser.refreshes_per_tab"]);
}

#[test]
fn the_attackers_bound_is_reported_when_it_ran_out_of_attempts() {
    let dir = crate::common::TempFiles::new();
    let out = cli(
        dir.path(),
        &["check", &shipped("models/directus-10.10-session-attacker.json"), "--no-traces", "--format", "json"],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits: Vec<(&str, u64)> = report["bounds_hit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["field"].as_str().unwrap(), b["value"].as_u64().unwrap()))
        .collect();
    assert!(hits.contains(&("attacker.attempts", 1)), "{hits:?}");
}

#[test]
fn models_validate_reports_each_file_and_exits_0_when_all_are_valid() {
    let dir = crate::common::TempFiles::new();
    let out = cli(dir.path(), &["models", "validate", &shipped(ROTATE), &shipped(STABLE)]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("directus-10.10-session.json: ok (directus-10.10-session, 2 tabs"), "{text}");
    assert!(text.contains("directus-pr22433-stable-id.json: ok (directus-pr22433-stable-id, 2 tabs"), "{text}");
    assert!(!dir.path().join("traces").exists(), "validation writes nothing");
}
