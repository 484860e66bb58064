//! The trace format's JSON Schema and the one way to read a trace file.
//!
//! The schema is generated from the serde types of [`super::Trace`] (with `schemars`) and
//! committed as `docs/trace.schema.json`; a test asserts the committed file equals the
//! generated one, so the file and the types cannot drift. Reading a trace checks the file
//! against the committed schema first, so an error names the field by its JSON pointer and
//! says what was expected, before serde sees it.

use std::sync::OnceLock;

use serde_json::Value;

use super::Trace;

/// The committed schema, `docs/trace.schema.json`, built into the binary.
pub const COMMITTED: &str = include_str!("../../docs/trace.schema.json");

/// The schema generated from the types, as pretty JSON with a final newline: what
/// `docs/trace.schema.json` must hold (`refresh-check trace schema` prints it).
pub fn generated() -> String {
    let mut schema = schemars::schema_for!(Trace);
    schema.insert("title".into(), format!("refresh-check trace ({})", super::SCHEMA).into());
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    s.push('\n');
    s
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value = serde_json::from_str(COMMITTED).expect("the committed schema is JSON");
        jsonschema::validator_for(&schema).expect("the committed schema is a valid JSON Schema")
    })
}

/// One place where a JSON value breaks the schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaViolation {
    /// JSON pointer of the offending field, e.g. `/steps/3/actor` (`""` is the whole file).
    pub field: String,
    /// What is wrong, in the validator's words, e.g. `"tab A" is not of type "integer"`.
    pub message: String,
}

/// Every place where `value` breaks the trace schema, in document order.
pub fn check(value: &Value) -> Vec<SchemaViolation> {
    validator()
        .iter_errors(value)
        .map(|e| SchemaViolation { field: e.instance_path().to_string(), message: e.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_schema_equals_the_one_generated_from_the_types() {
        assert!(
            COMMITTED == generated(),
            "docs/trace.schema.json is stale: run `cargo run -- trace schema > docs/trace.schema.json`"
        );
    }

    #[test]
    fn the_schema_pins_the_version_and_both_kinds() {
        let s: Value = serde_json::from_str(COMMITTED).unwrap();
        assert_eq!(s["properties"]["schema"]["const"], super::super::SCHEMA);
        let kinds = serde_json::to_string(&s["$defs"]["Kind"]).unwrap();
        for k in [crate::properties::Kind::Always, crate::properties::Kind::Sometimes] {
            let name = serde_json::to_value(k).unwrap();
            assert!(kinds.contains(&name.to_string()), "{name} missing from {kinds}");
        }
    }
}
