//! The trace format's JSON Schema and the one way to read a trace file.
//!
//! The schema is generated from the serde types of [`super::Trace`] (with `schemars`) and
//! committed as `docs/trace.schema.json`; a test asserts the committed file equals the
//! generated one, so the file and the types cannot drift. Reading a trace checks the file
//! against the committed schema first, so an error names the field by its JSON pointer and
//! says what was expected, before serde sees it.

use std::path::{Path, PathBuf};
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

/// Why a trace file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: cannot read the trace file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: not JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Where and why parsing stopped (line and column).
        source: serde_json::Error,
    },
    /// The file is JSON but not a trace: it breaks the schema (the first violation is named;
    /// `count` says how many there are).
    #[error("{}: field `{}`: {} (trace schema {}; {count} violation(s) in all)", path.display(), first.field, first.message, super::SCHEMA)]
    Schema {
        /// The file.
        path: PathBuf,
        /// The first violation.
        first: SchemaViolation,
        /// How many violations in all.
        count: usize,
    },
}

/// Reads a trace file: JSON, then the schema, then the serde types.
pub fn load(path: &Path) -> Result<Trace, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.into(), source })?;
    let value: Value = serde_json::from_str(&text).map_err(|source| LoadError::Json { path: path.into(), source })?;
    let violations = check(&value);
    if let Some(first) = violations.first() {
        return Err(LoadError::Schema { path: path.into(), first: first.clone(), count: violations.len() });
    }
    // The schema is generated from these types, so a value it accepts deserializes; if it
    // ever does not, that is reported as a schema violation of the whole file.
    serde_json::from_value(value).map_err(|e| LoadError::Schema {
        path: path.into(),
        first: SchemaViolation { field: String::new(), message: e.to_string() },
        count: 1,
    })
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
