//! `check --accept`: the verdicts found become the model file's `expect` block.
//!
//! The new `expect` holds, in catalogue order ([`crate::properties::ALL`]), the verdict found
//! for every property checked, and the entry the file had for every property not checked
//! (`--property` selects some). The rest of the file is kept: its fields, in their order, with
//! their values; an `expect` block that was not there is added as the last field. The file is
//! written back as JSON with two-space indentation and a final newline (the layout of the
//! shipped model files, which are thus changed only in their `expect` block), atomically
//! ([`crate::output::write_atomic`]): a reader sees the old file or the new one, never a mix. A
//! file whose `expect` does not change is not written at all.
//!
//! The command refuses (and writes nothing) when a verdict is not final, when `--tabs` differs
//! from a file's `browser.tabs` (its verdicts belong to another tab count), and with `--shard`;
//! see `commands/check.rs`.

use std::fmt;

use serde_json::{Map, Value};

use crate::properties;
use crate::scenario::Verdict;

/// One entry of `expect` that the acceptance changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The property.
    pub property: &'static str,
    /// The verdict the file expected, if it had an entry.
    pub before: Option<Verdict>,
    /// The verdict found, now expected.
    pub after: Verdict,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = |v: Verdict| serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned));
        let after = word(self.after).unwrap_or_default();
        match self.before.and_then(word) {
            Some(before) => write!(f, "expect.{}: {before} -> {after}", self.property),
            None => write!(f, "expect.{}: (no entry) -> {after}", self.property),
        }
    }
}

/// A model file's text with its `expect` block replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The new text of the file.
    pub text: String,
    /// What changed in `expect`, in catalogue order; empty when nothing did.
    pub changes: Vec<Change>,
}

/// `text` (a model file) with the verdicts `found` (property name and final verdict) written
/// into its `expect` block (see the module documentation). Errors: the text is not a JSON
/// object, its `expect` is not an object, or a verdict is `unknown` (never written).
pub fn accept(text: &str, found: &[(&'static str, Verdict)]) -> Result<Accepted, String> {
    if let Some((name, _)) = found.iter().find(|(_, v)| *v == Verdict::Unknown) {
        return Err(format!("the verdict of `{name}` is unknown (the search was incomplete); nothing is written"));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON any more: {e}"))?;
    let Value::Object(mut file) = value else { return Err("not a JSON object any more".into()) };
    let old: Map<String, Value> = match file.get("expect") {
        None => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(other) => return Err(format!("field `expect`: found {other}, expected an object")),
    };
    let parse = |v: &Value| serde_json::from_value::<Verdict>(v.clone()).ok();
    let mut expect = Map::new();
    let mut changes = Vec::new();
    for p in properties::ALL {
        let before = old.get(p.name);
        match found.iter().find(|(n, _)| *n == p.name) {
            Some(&(_, after)) => {
                let before_verdict = before.and_then(parse);
                if before_verdict != Some(after) {
                    changes.push(Change { property: p.name, before: before_verdict, after });
                }
                expect.insert(p.name.into(), serde_json::to_value(after).map_err(|e| e.to_string())?);
            }
            None => {
                if let Some(v) = before {
                    expect.insert(p.name.into(), v.clone());
                }
            }
        }
    }
    // Entries the catalogue does not name (rejected when the file was loaded) are kept last.
    for (k, v) in &old {
        if !expect.contains_key(k) {
            expect.insert(k.clone(), v.clone());
        }
    }
    // With `preserve_order`, inserting a key that is there keeps its place.
    file.insert("expect".into(), Value::Object(expect));
    let mut text = serde_json::to_string_pretty(&Value::Object(file)).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(Accepted { text, changes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_follow_the_catalogue_and_unchecked_ones_are_kept() {
        let text = "{\n  \"name\": \"m\",\n  \"expect\": {\n    \"sign_out_completes\": \"reached\",\n    \"no_spurious_logout\": \"holds\"\n  },\n  \"browser\": {}\n}\n";
        let a = accept(text, &[("no_spurious_logout", Verdict::Violated)]).unwrap();
        assert_eq!(
            a.text,
            "{\n  \"name\": \"m\",\n  \"expect\": {\n    \"no_spurious_logout\": \"violated\",\n    \"sign_out_completes\": \"reached\"\n  },\n  \"browser\": {}\n}\n"
        );
        assert_eq!(
            a.changes,
            vec![Change { property: "no_spurious_logout", before: Some(Verdict::Holds), after: Verdict::Violated }]
        );
        assert_eq!(a.changes[0].to_string(), "expect.no_spurious_logout: holds -> violated");
    }

    #[test]
    fn a_missing_block_is_added_last_and_unknown_is_refused() {
        let a =
            accept("{\"name\":\"m\",\"time\":{\"max_ticks\":0}}", &[("refresh_succeeds", Verdict::Reached)]).unwrap();
        assert_eq!(
            a.text,
            "{\n  \"name\": \"m\",\n  \"time\": {\n    \"max_ticks\": 0\n  },\n  \"expect\": {\n    \"refresh_succeeds\": \"reached\"\n  }\n}\n"
        );
        assert_eq!(a.changes[0].to_string(), "expect.refresh_succeeds: (no entry) -> reached");
        let e = accept("{}", &[("refresh_succeeds", Verdict::Unknown)]).unwrap_err();
        assert!(e.contains("unknown"), "{e}");
        assert!(accept("[]", &[]).is_err());
    }
}
