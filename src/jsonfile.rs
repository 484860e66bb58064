//! Reading one JSON document into a serde type, with the position and the field path of the
//! first error: the shared front half of the model-file and trace-file loaders.
//!
//! The whole text must be one JSON object: characters after it (a second object, a stray
//! brace, text pasted after the file) are an error, as in `serde_json::from_str`, and so is a
//! document that is an array or a scalar (serde would otherwise read a struct from an array,
//! by field position).

use serde::de::DeserializeOwned;
use serde::Deserialize as _;

/// Why a text is not a valid document of the expected type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// 1-based line of the error (0 if unknown).
    pub line: usize,
    /// 1-based column of the error (0 if unknown).
    pub column: usize,
    /// The field path, `browser.tabs`, `steps[3].state.now`; `.` for the document itself.
    pub field: String,
    /// What was found and what was expected, in serde_json's words, without the position.
    pub message: String,
}

/// An optional field's value, refusing `null`: serde reads `null` as the field left out,
/// which hides a typo such as `"evicts": null` for `"evicts": "others"`. Use with
/// `#[serde(default, deserialize_with = "crate::jsonfile::not_null")]`; the refusal is
/// serde's `invalid type: null`, which [`crate::shape::reworded`] words from the schema as
/// `found null, expected … (or leave the field out)`.
pub fn not_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    match Option::<T>::deserialize(d)? {
        Some(v) => Ok(Some(v)),
        None => Err(serde::de::Error::invalid_type(serde::de::Unexpected::Unit, &"a value")),
    }
}

/// Parses `text` as one JSON object read into `T`; an error names the line, column and field.
///
/// A key given twice in one object is an error in every object, also in maps such as
/// `expect` (serde would otherwise keep the last value silently).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    read::<T, false>(text)
}

/// As [`from_str`], and a `null` anywhere in the document is an error at its position and
/// field ("found null, expected a value (or leave the field out)"): in a file a person writes
/// (a model file, a query file) serde would read `null` as the field left out, which hides a
/// typo such as `"on_timeout": null`. Checked after the document reads as `T`, so a field
/// whose own refusal of `null` names its values ([`not_null`]) keeps that wording.
pub fn from_str_no_null<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    read::<T, true>(text)
}

fn read<T: DeserializeOwned, const NO_NULL: bool>(text: &str) -> Result<T, JsonError> {
    let doc: serde_json::Value = parse_one(text)?;
    parse_one::<UniqueKeys<false>>(text)?;
    if !doc.is_object() {
        let at = text.len() - text.trim_start().len();
        let line = 1 + text[..at].matches('\n').count();
        let column = 1 + at - text[..at].rfind('\n').map_or(0, |i| i + 1);
        let found = match doc {
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return Err(JsonError {
            line,
            column,
            field: ".".into(),
            message: format!("found {found}, expected a JSON object {{…}}"),
        });
    }
    let value = parse_one::<T>(text).map_err(|e| explain_missing::<T>(&doc, explain_choice::<T>(&doc, e)))?;
    if NO_NULL {
        parse_one::<UniqueKeys<true>>(text)?;
    }
    Ok(value)
}

/// serde reports a missing field at the object that lacks it (`field `.`: missing field
/// `time``). Name the missing field itself (`time`, `attacker.modes`) and, where it takes
/// named values, the values allowed (found by asking serde what it would accept there, as a
/// string or as a list of strings).
fn explain_missing<T: DeserializeOwned>(doc: &serde_json::Value, e: JsonError) -> JsonError {
    let Some(name) = e.message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) else { return e };
    let field = if e.field == "." { name.to_string() } else { format!("{}.{name}", e.field) };
    let pointer: String = field.split('.').map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect();
    let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
    // The probe's error must be about the probed field itself (or its list's first item), not
    // about another field the probe value happened to reach.
    let probe = |value: serde_json::Value, at: &str| -> Option<String> {
        let mut probe = doc.clone();
        probe.pointer_mut(parent)?.as_object_mut()?.insert(name.to_string(), value);
        let err = serde_path_to_error::deserialize::<_, T>(probe).err()?;
        (err.path().to_string() == at).then(|| err.into_inner().to_string())
    };
    let variants =
        |err: String| err.split_once("unknown variant `\u{1}`, expected ").map(|(_, rest)| strip_position(rest));
    let as_string = probe(serde_json::Value::String("\u{1}".into()), &field);
    // A list only if serde asked for a sequence there (a struct can be read from one too).
    let is_list = as_string.as_deref().is_some_and(|e| e.contains("expected a sequence"));
    let allowed = match as_string.and_then(variants) {
        Some(list) => format!(", expected {list}"),
        None if !is_list => String::new(),
        None => match probe(serde_json::json!(["\u{1}"]), &format!("{field}[0]")).and_then(variants) {
            Some(list) => format!(", expected a list, each item {list}"),
            None => String::new(),
        },
    };
    JsonError { field, message: format!("missing: this field is required{allowed}"), ..e }
}

/// serde_json says only "expected value" when a field that takes one of several named values
/// (a unit enum, such as `server.session_refresh`) holds a number, a boolean or null. Name what
/// was found and the values allowed, by asking serde what it would accept there.
fn explain_choice<T: DeserializeOwned>(doc: &serde_json::Value, e: JsonError) -> JsonError {
    if e.message != "expected value" {
        return e;
    }
    let pointer: String = e
        .field
        .split('.')
        .flat_map(|part| {
            let mut it = part.split('[');
            let name = it.next().unwrap_or_default().to_string();
            std::iter::once(name).chain(it.map(|i| i.trim_end_matches(']').to_string()))
        })
        .filter(|p| !p.is_empty())
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect();
    let Some(found) = doc.pointer(&pointer) else { return e };
    let mut probe = doc.clone();
    if let Some(v) = probe.pointer_mut(&pointer) {
        *v = serde_json::Value::String("\u{1}".into());
    }
    let allowed = match serde_json::from_value::<T>(probe) {
        Err(p) => p.to_string().split_once(", expected ").map(|(_, rest)| strip_position(rest)),
        Ok(_) => None,
    };
    let message = match allowed {
        Some(list) => format!("found {found}, expected {list}"),
        None => format!("found {found}, expected one of this field's named values (a string)"),
    };
    JsonError { message, ..e }
}

/// A JSON value read only to check that no object in it has a key twice (and, with
/// `NO_NULL`, that no value in it is `null`).
struct UniqueKeys<const NO_NULL: bool>;

impl<'de, const NO_NULL: bool> serde::Deserialize<'de> for UniqueKeys<NO_NULL> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor::<NO_NULL>)
    }
}

struct UniqueKeysVisitor<const NO_NULL: bool>;

impl<'de, const NO_NULL: bool> serde::de::Visitor<'de> for UniqueKeysVisitor<NO_NULL> {
    type Value = UniqueKeys<NO_NULL>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys<NO_NULL>, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(serde::de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            map.next_value::<UniqueKeys<NO_NULL>>()?;
            seen.insert(key);
        }
        Ok(UniqueKeys::<NO_NULL>)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys<NO_NULL>, A::Error> {
        while seq.next_element::<UniqueKeys<NO_NULL>>()?.is_some() {}
        Ok(UniqueKeys::<NO_NULL>)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys<NO_NULL>, E> {
        Ok(UniqueKeys::<NO_NULL>)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys<NO_NULL>, E> {
        Ok(UniqueKeys::<NO_NULL>)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys<NO_NULL>, E> {
        Ok(UniqueKeys::<NO_NULL>)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys<NO_NULL>, E> {
        Ok(UniqueKeys::<NO_NULL>)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys<NO_NULL>, E> {
        Ok(UniqueKeys::<NO_NULL>)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<UniqueKeys<NO_NULL>, E> {
        if NO_NULL {
            return Err(E::custom("found null, expected a value (or leave the field out)"));
        }
        Ok(UniqueKeys::<NO_NULL>)
    }
}

/// Parses exactly one JSON value of type `T` from `text`.
fn parse_one<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        // A syntax error before any key (a file that ends too soon) is in no field: it is the
        // document's; serde_path_to_error says `?` for the key it could not read.
        let path = e.path().to_string();
        let field = match path.as_str() {
            "?" => ".".to_string(),
            p => p.strip_suffix(".?").unwrap_or(p).to_string(),
        };
        error(field, e.into_inner())
    })?;
    de.end().map_err(|e| JsonError {
        message: "trailing characters after the JSON document".into(),
        ..error(".".into(), e)
    })?;
    Ok(value)
}

fn error(field: String, inner: serde_json::Error) -> JsonError {
    // serde_json counts columns from 1 but says 0 at the start of a line (the end of a file).
    JsonError { line: inner.line(), column: inner.column().max(1), field, message: strip_position(&inner.to_string()) }
}

/// serde_json appends " at line L column C" to its messages; errors print the position once,
/// in front.
pub fn strip_position(msg: &str) -> String {
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    // serde names Rust's integer types ("expected u8"): say the range instead.
    let mut out = msg.to_string();
    for (ty, range) in [
        ("u8", "an integer from 0 to 255"),
        ("u16", "an integer from 0 to 65535"),
        ("u32", "an integer from 0 to 4294967295"),
        ("u64", "a whole number from 0"),
        ("usize", "a whole number from 0"),
        ("i32", "an integer from -2147483648 to 2147483647"),
        ("i64", "an integer"),
        ("f64", "a number"),
    ] {
        if let Some(head) = out.strip_suffix(&format!("expected {ty}")) {
            out = format!("{head}expected {range}");
            break;
        }
    }
    out
}

/// The first place where `doc` holds an array and `schema` (the JSON Schema of the
/// document's type, as schemars writes it: `$ref` into `$defs`, `anyOf`, `oneOf`, `allOf`)
/// asks for an object there: serde reads a struct from an array too, taking its items as the
/// fields in declaration order (`"cache": []`, `"cache": [1]`), so a file that gives a
/// section as a list would be read silently. Returns the field path (`session_server.cache`,
/// `queries[0].ask`), or `None`. A place the schema allows several shapes is refused only if
/// none of them is an array and one is an object; the document itself (an array at the top)
/// is [`from_str`]'s to refuse.
pub fn array_for_object(schema: &serde_json::Value, doc: &serde_json::Value) -> Option<String> {
    if !doc.is_object() {
        return None;
    }
    walk_shapes(schema, &[schema], doc, "")
}

/// What JSON values a schema node accepts: its `type` (one or a list), or what its keywords
/// imply; `None` for a node that accepts any value (`true`, `{}`).
fn node_types(node: &serde_json::Value) -> Option<Vec<&str>> {
    use serde_json::Value;
    match node.get("type") {
        Some(Value::String(t)) => Some(vec![t.as_str()]),
        Some(Value::Array(ts)) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ if node.get("properties").is_some() || node.get("additionalProperties").is_some() => Some(vec!["object"]),
        _ if node.get("items").is_some() || node.get("prefixItems").is_some() => Some(vec!["array"]),
        _ if node.get("enum").is_some() || node.get("const").is_some() => Some(vec!["scalar"]),
        _ => None,
    }
}

fn walk_shapes(
    root: &serde_json::Value,
    nodes: &[&serde_json::Value],
    doc: &serde_json::Value,
    path: &str,
) -> Option<String> {
    use serde_json::Value;
    let mut alts = vec![];
    for n in nodes {
        alts.extend(crate::shape::forms(root, n));
    }
    let accepts = |t: &str| alts.iter().any(|a| node_types(a).is_none_or(|ts| ts.contains(&t)));
    match doc {
        Value::Array(items) => {
            let objects = alts.iter().any(|a| node_types(a).is_some_and(|ts| ts.contains(&"object")));
            if !accepts("array") && objects {
                return Some(path.to_string());
            }
            items.iter().enumerate().find_map(|(i, item)| {
                let subs: Vec<&Value> = alts
                    .iter()
                    .filter_map(|a| a.get("prefixItems").and_then(|p| p.get(i)).or_else(|| a.get("items")))
                    .filter(|s| s.is_object())
                    .collect();
                (!subs.is_empty()).then(|| walk_shapes(root, &subs, item, &format!("{path}[{i}]"))).flatten()
            })
        }
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let subs: Vec<&Value> = alts
                .iter()
                .filter_map(|a| a.get("properties").and_then(|p| p.get(k)).or_else(|| a.get("additionalProperties")))
                .filter(|s| s.is_object())
                .collect();
            let here = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            (!subs.is_empty()).then(|| walk_shapes(root, &subs, v, &here)).flatten()
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u8,
    }

    #[test]
    fn a_struct_given_as_an_array_is_found_where_it_is() {
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Inner {
            #[serde(default)]
            ttl: Option<u8>,
        }
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Outer {
            cache: Option<Inner>,
            list: Vec<Inner>,
            numbers: Vec<u8>,
        }
        let schema = serde_json::to_value(schemars::schema_for!(Outer)).unwrap();
        let at = |doc: serde_json::Value| array_for_object(&schema, &doc);
        // serde alone reads both arrays as the struct.
        assert!(serde_json::from_value::<Outer>(serde_json::json!({"cache": [], "list": [[1]], "numbers": []})).is_ok());
        assert_eq!(at(serde_json::json!({"cache": [], "list": [], "numbers": []})).as_deref(), Some("cache"));
        assert_eq!(at(serde_json::json!({"cache": [1], "list": [], "numbers": []})).as_deref(), Some("cache"));
        assert_eq!(
            at(serde_json::json!({"cache": null, "list": [{}, [1]], "numbers": [1]})).as_deref(),
            Some("list[1]")
        );
        assert_eq!(at(serde_json::json!({"cache": {"ttl": 1}, "list": [{}], "numbers": [1, 2]})), None);
    }

    #[test]
    fn trailing_characters_after_the_document_are_an_error() {
        let e = from_str::<T>("{\"a\": 1}\ngarbage").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.field.as_str(), e.message.as_str()),
            (2, 1, ".", "trailing characters after the JSON document")
        );
        assert!(from_str::<T>("{\"a\": 1}\n\n  ").is_ok(), "trailing whitespace is fine");
    }

    #[test]
    fn a_document_that_is_not_an_object_is_refused_where_it_starts() {
        let e = from_str::<T>("\n  [1]").unwrap_err();
        assert_eq!((e.line, e.column, e.message.as_str()), (2, 3, "found an array, expected a JSON object {…}"));
        // serde alone would read the struct from the array, by position.
        assert!(serde_json::from_str::<T>("[1]").is_ok());
    }

    #[test]
    fn a_key_twice_in_a_map_is_refused_where_it_is() {
        let e = from_str::<std::collections::BTreeMap<String, serde_json::Value>>("{\"x\": {\"a\": 1,\n\"a\": 2}}")
            .unwrap_err();
        assert_eq!((e.line, e.field.as_str(), e.message.as_str()), (2, "x", "duplicate field `a`"));
    }

    #[test]
    fn a_syntax_error_names_the_document_not_a_field() {
        let e = from_str::<T>("{\n").unwrap_err();
        assert_eq!((e.line, e.column, e.field.as_str()), (2, 1, "."));
        assert_eq!(e.message, "EOF while parsing an object");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Mode {
        Json,
        Cookie,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        one: Mode,
        many: Vec<Mode>,
        count: u8,
    }

    #[test]
    fn a_missing_field_is_named_itself_with_the_values_it_takes() {
        let e = from_str::<Outer>("{\"inner\": {\"one\": \"json\", \"many\": [], \"count\": 1}}").unwrap_err();
        assert_eq!((e.field.as_str(), e.message.as_str()), ("name", "missing: this field is required"));
        let e = from_str::<Outer>("{\"name\": \"n\", \"inner\": {\"many\": [], \"count\": 1}}").unwrap_err();
        assert_eq!(e.field, "inner.one");
        assert_eq!(e.message, "missing: this field is required, expected `json` or `cookie`");
        let e = from_str::<Outer>("{\"name\": \"n\", \"inner\": {\"one\": \"json\", \"count\": 1}}").unwrap_err();
        assert_eq!(e.field, "inner.many");
        assert_eq!(e.message, "missing: this field is required, expected a list, each item `json` or `cookie`");
        let e = from_str::<Outer>("{\"name\": \"n\", \"inner\": {\"one\": \"json\", \"many\": []}}").unwrap_err();
        assert_eq!((e.field.as_str(), e.message.as_str()), ("inner.count", "missing: this field is required"));
        // A struct (whose first field takes named values) can be read from a list: no list hint.
        let e = from_str::<Outer>("{\"name\": \"n\"}").unwrap_err();
        assert_eq!((e.field.as_str(), e.message.as_str()), ("inner", "missing: this field is required"));
    }

    #[test]
    fn a_wrong_type_names_the_field_and_position() {
        let e = from_str::<T>("{\n\"a\": 300}").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "a"));
        assert_eq!(e.message, "invalid value: integer `300`, expected an integer from 0 to 255");
    }
}
