//! Every construct of the protocol language is used by at least one shipped model file.
//!
//! The constructs with a closed set of values are read from the JSON Schema that
//! `refresh-check models schema` prints (each `oneOf` of constants in a language definition),
//! so a value added to the language is covered by this test without editing it; the effects,
//! replies and statements, which are texts, are listed here from `docs/protocol-language.md`.
//! Each shipped model is read as `models expand` prints it (presets expanded), and a construct
//! counts as used where a field that the schema types with its definition holds it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::util::{cli, root};

/// The schema definitions that belong to the language (the old format's knobs, which are
/// presets, are not listed: they expand into these).
const LANGUAGE_DEFS: &[&str] = &[
    "Reads",
    "Lock",
    "Clients",
    "FieldType",
    "Transactions",
    "StoreConcurrency",
    "AuthMode",
    "JsonStorage",
    "Coordination",
    "LeaderElection",
    "Logins",
    "Reaction",
    "OkReaction",
    "CallOkReaction",
    "ClearedListener",
    "WrittenListener",
    "NetworkKind",
];

/// Values the schema lists that every model refuses (exit 2, `docs/robustness.md` V14), with
/// why: they are not constructs a model can use, and the test checks that they are refused.
/// A duplicating network would redeliver answers as well as requests (a browser reads each
/// answer once) and serve every redelivered refresh as a new request without bound; a
/// request sent again is written as `browser.retries_per_tab` with a `lossy` network instead.
const REFUSED: &[(&str, &str, &str)] = &[("NetworkKind", "unordered_duplicating", "network")];

/// Effects and replies of `protocol` rules, as the text starts.
const PROTOCOL_TEXTS: &[(&str, &str)] = &[
    ("do", "mint child"),
    ("do", "supersede presented"),
    ("do", "revoke presented"),
    ("do", "revoke presented.child"),
    ("do", "revoke descendants"),
    ("do", "revoke family"),
    ("do", "revoke session"),
    ("do", "revoke client"),
    ("do", "revoke user"),
    ("do", "set family."),
    ("do", "set session."),
    ("do", "set request."),
    ("do", "set presented."),
    ("reply", "ok minted"),
    ("reply", "ok access-only"),
    ("reply", "ok presented"),
    ("reply", "ok family."),
    ("reply", "invalid_grant"),
    ("reply", "invalid_request"),
    ("reply", "server_error"),
    ("reply", "signed_out"),
    ("reply", "signed_in"),
    ("reply", "continue"),
];

/// Fields of `protocol` rules that are constructs of their own (a string value each).
const PROTOCOL_RULE_FIELDS: &[&str] = &["next"];

/// Statements and replies of `session_server` rules, as the text starts.
const SESSION_TEXTS: &[(&str, &str)] = &[
    ("run", "select next of"),
    ("run", "select "),
    ("run", "rename "),
    ("run", "extend "),
    ("run", "claim next of"),
    ("run", "insert "),
    ("run", "purge expired"),
    ("run", "delete "),
    ("reply", "ok"),
    ("reply", "invalid_payload"),
    ("reply", "token_expired"),
    ("reply", "invalid_credentials"),
    ("reply", "server_error"),
    ("reply", "signed_out"),
    ("reply", "pass"),
];

/// The constant values of a schema definition that is a `oneOf` of constants, each with
/// whether its description calls it the default (a model file that leaves the field out uses
/// it, and `models expand` leaves defaults out).
fn constants(def: &Value) -> Vec<(String, bool)> {
    let mut out = vec![];
    for alt in def["oneOf"].as_array().into_iter().flatten() {
        if let Some(c) = alt["const"].as_str() {
            let default = alt["description"].as_str().is_some_and(|d| d.contains("The default"));
            out.push((c.to_string(), default));
        }
    }
    out
}

/// Every property name whose schema refers to `#/$defs/NAME` (directly, as array items, or in
/// an `anyOf`/`oneOf` with null), for each NAME.
fn fields_typed_by(schema: &Value, out: &mut BTreeMap<String, BTreeSet<String>>) {
    fn refs(v: &Value, found: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    found.push(r.trim_start_matches("#/$defs/").to_string());
                }
                for key in ["items", "anyOf", "oneOf", "allOf", "additionalProperties"] {
                    if let Some(x) = o.get(key) {
                        refs(x, found);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, found)),
            _ => {}
        }
    }
    match schema {
        Value::Object(o) => {
            if let Some(Value::Object(props)) = o.get("properties") {
                for (name, p) in props {
                    let mut found = vec![];
                    refs(p, &mut found);
                    for d in found {
                        out.entry(d).or_default().insert(name.clone());
                    }
                }
            }
            o.values().for_each(|v| fields_typed_by(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| fields_typed_by(v, out)),
        _ => {}
    }
}

/// Every (field name, string value) in a model file, array items under their array's name;
/// `section` is the top-level section each pair was found in.
fn pairs(v: &Value, key: &str, section: &str, out: &mut BTreeSet<(String, String, String)>) {
    match v {
        Value::String(s) => {
            out.insert((section.to_string(), key.to_string(), s.clone()));
        }
        Value::Array(a) => a.iter().for_each(|x| pairs(x, key, section, out)),
        Value::Object(o) => {
            for (k, x) in o {
                let section = if section.is_empty() { k.as_str() } else { section };
                pairs(x, k, section, out);
                // A map's values (declared fields: name -> type) also count under the map's name.
                if let Value::String(s) = x {
                    out.insert((section.to_string(), key.to_string(), s.clone()));
                }
            }
        }
        _ => {}
    }
}

#[test]
fn every_language_construct_is_used_by_a_shipped_model() {
    let out = cli(&root(), &["models", "schema"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut typed = BTreeMap::new();
    fields_typed_by(&schema, &mut typed);

    let mut seen = BTreeSet::new();
    let mut models = 0;
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let out = cli(&root(), &["models", "expand", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        let expanded: Value = serde_json::from_slice(&out.stdout).unwrap();
        pairs(&expanded, "", "", &mut seen);
        models += 1;
    }
    assert!(models >= 100, "only {models} model files");

    let mut unused = vec![];
    for def in LANGUAGE_DEFS {
        let values = constants(&schema["$defs"][def]);
        assert!(!values.is_empty(), "the schema's `{def}` has no constants");
        let fields = typed.get(*def).unwrap_or_else(|| panic!("no field of the schema is typed `{def}`"));
        for (v, default) in values {
            if REFUSED.iter().any(|(d, x, _)| d == def && *x == v) {
                continue;
            }
            if !default && !seen.iter().any(|(_, k, x)| fields.contains(k) && *x == v) {
                unused.push(format!("{def} `{v}` (fields {fields:?})"));
            }
        }
    }
    for (section, texts) in [("protocol", PROTOCOL_TEXTS), ("session_server", SESSION_TEXTS)] {
        for (key, start) in texts {
            let used = seen.iter().any(|(s, k, x)| s == section && k == key && (x == start || x.starts_with(start)));
            if !used {
                unused.push(format!("{section} {key} `{start}…`"));
            }
        }
    }
    // Rule fields that are constructs of their own: a jump to a named step (`next`).
    for key in PROTOCOL_RULE_FIELDS {
        if !seen.iter().any(|(s, k, _)| s == "protocol" && k == key) {
            unused.push(format!("protocol rule field `{key}`"));
        }
    }
    assert!(unused.is_empty(), "constructs no shipped model uses:\n  {}", unused.join("\n  "));
}

#[test]
fn the_values_no_model_may_use_are_refused() {
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join("models/directus-10.10-session.json")).unwrap();
    for (_, value, field) in REFUSED {
        let mut v: Value = serde_json::from_str(&text).unwrap();
        v[*field] = (*value).into();
        let path = dir.path().join("m.json");
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        let out = cli(dir.path(), &["check", "m.json", "--no-traces"]);
        assert_eq!(out.status.code(), Some(2), "{field} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("field `{field}`")) && err.contains(value), "{err}");
    }
}
