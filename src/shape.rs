//! What a field of a file asks for and what it holds, in the file's own words: the model
//! file's (or a query file's) JSON Schema, as `refresh-check models schema` prints it, read at
//! a field path, and a JSON value named by its kind.
//!
//! serde words a value of the wrong kind in Rust's terms (`invalid type: map, expected a
//! sequence`, `expected struct FollowUp`, `data did not match any variant of untagged enum
//! Lossy`): [`reworded`] replaces such a message by what the file has there and what the
//! schema asks for (`found an object, expected a list, each item `store-in-tab`, …`).

use serde_json::Value;

/// The most fields an expected object lists by name (more required ones are all listed).
const MAX_LISTED_FIELDS: usize = 6;

/// For a parse error's `message` at `field` (a path such as `browser.follow_up`,
/// `protocol.refresh.steps[1].rules[0].do`, `expect.lp1`) that words a value of the wrong
/// kind in serde's terms, the message in the file's terms: `found X, expected Y`, X what `doc`
/// holds there and Y what `schema` asks for. `None` when the message is not of that kind, or
/// the field is not found in the document or in the schema.
pub fn reworded(schema: &Value, doc: &Value, field: &str, message: &str) -> Option<String> {
    if !is_serde_shape_message(message) {
        return None;
    }
    let value = value_at(doc, field)?;
    let nodes = nodes_at(schema, field)?;
    let expected = expected(schema, &nodes)?;
    // `null` in a field that may be left out: say so (serde would read it as left out).
    let optional = value.is_null() && nodes.iter().any(|n| n.get("type").is_some_and(|t| t == "null"));
    let omit = if optional { " (or leave the field out)" } else { "" };
    Some(format!("found {}, expected {expected}{omit}", found(value)))
}

/// Whether `message` is serde's wording of a value of the wrong kind (which names Rust types
/// or serde's data model rather than the file's).
fn is_serde_shape_message(message: &str) -> bool {
    message.starts_with("invalid type: ")
        || message.starts_with("invalid length ")
        || message.starts_with("data did not match any variant")
        || ["expected struct ", "expected enum ", "expected a sequence", "expected a map", "expected map"]
            .iter()
            .any(|s| message.contains(s))
}

/// A JSON value by its kind, as an error names what a file holds: `an object`, `a list`,
/// `the string "x"`, `the number 3`, `true`, `null`.
pub fn found(value: &Value) -> String {
    match value {
        Value::Object(_) => "an object".into(),
        Value::Array(_) => "a list".into(),
        Value::String(s) if s.chars().count() > 40 => {
            format!("the string {:?}", format!("{}…", s.chars().take(40).collect::<String>()))
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("`{b}`"),
        Value::Null => "null".into(),
    }
}

/// The value of `doc` at a field path (`a.b[2].c`; `.` or empty: the document itself).
pub fn value_at<'a>(doc: &'a Value, field: &str) -> Option<&'a Value> {
    segments(field).iter().try_fold(doc, |v, seg| match seg {
        Segment::Name(n) => v.get(n.as_str()),
        Segment::Index(i) => v.get(*i),
    })
}

/// One step of a field path.
enum Segment {
    Name(String),
    Index(usize),
}

/// `a.b[2].c` as its steps; `.` and the empty path have none.
fn segments(field: &str) -> Vec<Segment> {
    let mut out = vec![];
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let mut it = part.split('[');
        let name = it.next().unwrap_or_default();
        if !name.is_empty() {
            out.push(Segment::Name(name.to_string()));
        }
        for index in it {
            match index.trim_end_matches(']').parse() {
                Ok(i) => out.push(Segment::Index(i)),
                Err(_) => out.push(Segment::Name(index.trim_end_matches(']').to_string())),
            }
        }
    }
    out
}

/// The schema nodes that may describe the value at `field`: one per form the field allows
/// (`$ref`s followed, `anyOf`, `oneOf` and `allOf` opened). `None` if the schema has no such
/// field.
pub fn nodes_at<'a>(root: &'a Value, field: &str) -> Option<Vec<&'a Value>> {
    let mut nodes = forms(root, root);
    for seg in segments(field) {
        let next: Vec<&Value> = nodes
            .iter()
            .filter_map(|n| match &seg {
                Segment::Name(name) => n
                    .get("properties")
                    .and_then(|p| p.get(name.as_str()))
                    .or_else(|| n.get("additionalProperties").filter(|a| a.is_object())),
                Segment::Index(i) => {
                    n.get("prefixItems").and_then(|p| p.get(*i)).or_else(|| n.get("items").filter(|a| a.is_object()))
                }
            })
            .flat_map(|n| forms(root, n))
            .collect();
        if next.is_empty() {
            return None;
        }
        nodes = next;
    }
    Some(nodes)
}

/// `node` (a JSON Schema node of `root`, as schemars writes it) with its `$ref`s followed and
/// its `anyOf`, `oneOf` and `allOf` forms opened; a node whose `oneOf` forms are all named
/// values (a unit enum) is kept whole. Also the walk of [`crate::jsonfile::array_for_object`].
pub fn forms<'a>(root: &'a Value, node: &'a Value) -> Vec<&'a Value> {
    let mut node = node;
    for _ in 0..64 {
        match node.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
            Some(name) => node = &root["$defs"][name],
            None => break,
        }
    }
    if !named_values(node).is_empty() && node.get("type").is_none_or(|t| t == "string") {
        return vec![node];
    }
    let mut out = vec![];
    let mut composed = false;
    for key in ["anyOf", "oneOf", "allOf"] {
        for form in node.get(key).and_then(Value::as_array).into_iter().flatten() {
            composed = true;
            out.extend(forms(root, form));
        }
    }
    if !composed || node.get("properties").is_some() || node.get("type").is_some() {
        out.push(node);
    }
    out
}

/// The named values a node lists (`enum`, `const`, or `oneOf` forms that are each one value),
/// each in backquotes.
fn named_values(node: &Value) -> Vec<String> {
    let mut out: Vec<String> = node.get("enum").and_then(Value::as_array).into_iter().flatten().map(quoted).collect();
    out.extend(node.get("const").map(quoted));
    let forms = node.get("oneOf").and_then(Value::as_array);
    if forms.is_some_and(|f| f.iter().all(|f| f.get("const").is_some() || f.get("enum").is_some())) {
        for f in forms.into_iter().flatten() {
            out.extend(f.get("const").map(quoted));
            out.extend(f.get("enum").and_then(Value::as_array).into_iter().flatten().map(quoted));
        }
    }
    out
}

fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// What the forms `nodes` accept, in words (`an object {after, handler, presents}`, `a list,
/// each item `store-in-tab` or `store-shared``, `an integer from 1 to 6`, `true` or `false`),
/// the forms joined by "or"; null (an optional field's absence) is not listed. `None` when a
/// form accepts anything.
pub fn expected(root: &Value, nodes: &[&Value]) -> Option<String> {
    let mut words: Vec<String> = vec![];
    for node in nodes {
        let w = describe(root, node)?;
        if !w.is_empty() && !words.contains(&w) {
            words.push(w);
        }
    }
    (!words.is_empty()).then(|| words.join(" or "))
}

/// One form in words; empty for null; `None` for a form that accepts anything.
fn describe(root: &Value, node: &Value) -> Option<String> {
    let values = named_values(node);
    if !values.is_empty() {
        return Some(match values.len() {
            1 => values[0].clone(),
            _ => format!("one of {}", values.join(", ")),
        });
    }
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if node.get("properties").is_some() || node.get("additionalProperties").is_some() => vec!["object"],
        _ if node.get("items").is_some() => vec!["array"],
        _ => return None,
    };
    let mut words = vec![];
    for t in types {
        words.push(match t {
            "null" => continue,
            "boolean" => "`true` or `false`".to_string(),
            "string" => "a string".to_string(),
            "integer" => integer(node),
            "number" => "a number".to_string(),
            "array" => match node.get("items").filter(|i| i.is_object()) {
                Some(items) => match expected(root, &forms(root, items)) {
                    Some(item) => format!("a list, each item {item}"),
                    None => "a list".to_string(),
                },
                None => "a list".to_string(),
            },
            "object" => object(root, node),
            other => other.to_string(),
        });
    }
    Some(words.join(" or "))
}

/// `an integer`, with the bounds the schema gives (`an integer from 1 to 6`); the bounds of a
/// Rust type (0 to 255) are a range too.
fn integer(node: &Value) -> String {
    match (node.get("minimum").and_then(Value::as_i64), node.get("maximum").and_then(Value::as_i64)) {
        (Some(lo), Some(hi)) => format!("an integer from {lo} to {hi}"),
        (Some(lo), None) => format!("an integer from {lo}"),
        (None, Some(hi)) => format!("an integer up to {hi}"),
        (None, None) => "an integer".to_string(),
    }
}

/// An object by its fields: all of them when few (`an object {after, handler, presents}`),
/// else the required ones and the first others, then `…`; a map by what its values are.
fn object(root: &Value, node: &Value) -> String {
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        let required: Vec<&str> =
            node.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        // The required fields first, then the others in the order the reference lists them.
        let mut names: Vec<&str> = props.keys().map(String::as_str).filter(|k| required.contains(k)).collect();
        names.extend(props.keys().map(String::as_str).filter(|k| !required.contains(k)));
        if names.len() > MAX_LISTED_FIELDS {
            names.truncate(MAX_LISTED_FIELDS.max(names.iter().filter(|k| required.contains(k)).count()));
            names.push("…");
        }
        return format!("an object {{{}}}", names.join(", "));
    }
    match node.get("additionalProperties").filter(|a| a.is_object()) {
        Some(values) => match expected(root, &forms(root, values)) {
            Some(v) => format!("an object of names, each with {v}"),
            None => "an object".to_string(),
        },
        None => "an object".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        serde_json::to_value(crate::scenario::schema()).unwrap()
    }

    #[test]
    fn an_object_field_is_worded_by_its_fields() {
        let s = schema();
        let nodes = nodes_at(&s, "browser.follow_up").unwrap();
        assert_eq!(expected(&s, &nodes).unwrap(), "an object {after, handler, presents}");
    }

    #[test]
    fn a_list_of_named_values_is_worded_with_the_values() {
        let s = schema();
        let nodes = nodes_at(&s, "browser.on_ok").unwrap();
        let e = expected(&s, &nodes).unwrap();
        assert!(e.starts_with("a list, each item one of `store-in-tab`, `store-shared`"), "{e}");
    }

    #[test]
    fn a_serde_message_becomes_found_and_expected() {
        let s = schema();
        let doc = json!({"browser": {"tabs": 2, "follow_up": []}});
        let m = reworded(&s, &doc, "browser.follow_up", "invalid type: sequence, expected struct FollowUp").unwrap();
        assert_eq!(m, "found a list, expected an object {after, handler, presents}");
        let m = reworded(&s, &doc, "browser.tabs", "invalid type: integer `2`, expected a string");
        assert_eq!(m.unwrap(), "found the number 2, expected an integer from 1 to 6");
        // A message that is already in the file's words is left alone.
        assert_eq!(reworded(&s, &doc, "browser.tabs", "unknown variant `x`, expected `a`"), None);
    }
}
