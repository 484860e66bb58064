//! The state fields of a [`Snapshot`] as named, flat fields, and the fields one step changed.
//!
//! This is data-driven: it walks the snapshot's JSON form, so a field added to [`Snapshot`]
//! (an attacker's state, a second store table) is listed and compared without changes here.
//! Names follow the JSON: `now`, `jar`, `tabs[A].status`, `store`. A list of objects whose
//! first field names the item (the list's name in the singular, or `id` or `name`: `tabs`
//! by `tab`) is opened item by item; any other list is one field whose value is its items,
//! one per line.

use serde_json::Value;

use super::Snapshot;

/// One flat state field: its name and its value as lines (one line for a scalar, one line
/// per item for a list, none for an empty list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// `"tabs[A].status"`, `"jar"`, `"store"`, …
    pub name: String,
    /// Whether the value is a list (shown as items) or a scalar (one line).
    pub list: bool,
    /// The value's lines.
    pub lines: Vec<String>,
}

/// A field one step changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The field's name, as in [`Field::name`].
    pub name: String,
    /// Whether the field is a list.
    pub list: bool,
    /// Its lines before the step.
    pub before: Vec<String>,
    /// Its lines after the step.
    pub after: Vec<String>,
}

impl Change {
    /// For a list: the items that left it (in `before` order), then those that joined it (in
    /// `after` order), counting repeated items.
    pub fn removed_added(&self) -> (Vec<&str>, Vec<&str>) {
        let mut left: Vec<&str> = self.after.iter().map(String::as_str).collect();
        let mut removed = Vec::new();
        for b in &self.before {
            match left.iter().position(|a| a == b) {
                Some(i) => {
                    left.remove(i);
                }
                None => removed.push(b.as_str()),
            }
        }
        (removed, left)
    }

    /// One line for people: `tabs[A].status: idle → refreshing`, or for a list
    /// `in_flight: + tab A → server: POST /auth/refresh; − …`.
    pub fn summary(&self) -> String {
        if self.list {
            let (removed, added) = self.removed_added();
            let parts: Vec<String> =
                removed.iter().map(|r| format!("− {r}")).chain(added.iter().map(|a| format!("+ {a}"))).collect();
            format!("{}: {}", self.name, parts.join("; "))
        } else {
            format!("{}: {} → {}", self.name, self.before.join(" "), self.after.join(" "))
        }
    }
}

/// The flat fields of a snapshot, in the order of the snapshot's declaration.
pub fn fields(s: &Snapshot) -> Vec<Field> {
    let value = serde_json::to_value(s).expect("a snapshot serializes to JSON");
    let mut out = Vec::new();
    walk("", &value, &mut out);
    out
}

/// The fields whose value differs between `before` and `after`, in field order. A field
/// present on one side only counts as changed (its other side is empty).
pub fn changes(before: &Snapshot, after: &Snapshot) -> Vec<Change> {
    let (b, a) = (fields(before), fields(after));
    let mut out = Vec::new();
    for f in &a {
        let old = b.iter().find(|x| x.name == f.name);
        if old.map(|o| &o.lines) != Some(&f.lines) {
            out.push(Change {
                name: f.name.clone(),
                list: f.list,
                before: old.map(|o| o.lines.clone()).unwrap_or_default(),
                after: f.lines.clone(),
            });
        }
    }
    for f in b.iter().filter(|f| !a.iter().any(|x| x.name == f.name)) {
        out.push(Change { name: f.name.clone(), list: f.list, before: f.lines.clone(), after: Vec::new() });
    }
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(prefix: &str, v: &Value, out: &mut Vec<Field>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                walk(&join(prefix, k), x, out);
            }
        }
        Value::Array(items) => match keyed(prefix, items) {
            Some(keys) => {
                for (key, item) in keys.iter().zip(items) {
                    let Value::Object(map) = item else { unreachable!("keyed() checked every item") };
                    for (k, x) in map.iter().skip(1) {
                        walk(&join(&format!("{prefix}[{key}]"), k), x, out);
                    }
                }
            }
            None => out.push(Field { name: prefix.into(), list: true, lines: items.iter().map(line).collect() }),
        },
        scalar => out.push(Field { name: prefix.into(), list: false, lines: vec![line(scalar)] }),
    }
}

/// The identifying first field of each item of list `name`, if every item is an object whose
/// first field names the item (see the module doc) and is a string, the strings are
/// distinct, and every other field is a scalar.
fn keyed(name: &str, items: &[Value]) -> Option<Vec<String>> {
    let last = name.rsplit(['.', ']']).next().unwrap_or(name);
    let singular = last.strip_suffix('s').unwrap_or(last);
    let mut keys: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(map) = item else { return None };
        let (field, Value::String(key)) = map.iter().next()? else { return None };
        if field != singular && field != "id" && field != "name" {
            return None;
        }
        if keys.contains(key) || map.values().any(|x| x.is_object() || x.is_array()) {
            return None;
        }
        keys.push(key.clone());
    }
    (!keys.is_empty()).then_some(keys)
}

/// A value on one line: strings as they are, `null` as `none`, a message (`from`, `to`,
/// `text`) as `from → to: text`, any other object as `key=value` pairs.
fn line(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        Value::Object(m) => match (m.get("from"), m.get("to"), m.get("text"), m.len()) {
            (Some(Value::String(f)), Some(Value::String(t)), Some(Value::String(x)), 3) => format!("{f} → {t}: {x}"),
            _ => m.iter().map(|(k, x)| format!("{k}={}", line(x))).collect::<Vec<_>>().join(" "),
        },
        Value::Array(a) => a.iter().map(line).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{MessageView, TabView};

    fn snap() -> Snapshot {
        Snapshot {
            now: 0,
            tabs: vec![
                TabView { tab: "A".into(), status: "idle".into(), refreshes_left: 1, requests_left: 0 },
                TabView { tab: "B".into(), status: "idle".into(), refreshes_left: 1, requests_left: 0 },
            ],
            jar: Some("session=1 exp=4".into()),
            store: vec!["token=1 expires=7".into()],
            handlers: vec![],
            orphan_cookies: 0,
            session_valid: true,
            in_flight: vec![],
        }
    }

    #[test]
    fn fields_are_flat_named_and_in_declaration_order() {
        let names: Vec<String> = fields(&snap()).into_iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "now",
                "tabs[A].status",
                "tabs[A].refreshes_left",
                "tabs[A].requests_left",
                "tabs[B].status",
                "tabs[B].refreshes_left",
                "tabs[B].requests_left",
                "jar",
                "store",
                "handlers",
                "orphan_cookies",
                "session_valid",
                "in_flight"
            ]
        );
    }

    #[test]
    fn only_changed_fields_are_reported_with_list_items_added_and_removed() {
        let before = snap();
        let mut after = snap();
        after.tabs[1].status = "logged out".into();
        after.jar = None;
        after.in_flight.push(MessageView {
            from: "tab A".into(),
            to: "server".into(),
            text: "POST /auth/refresh".into(),
        });
        after.in_flight.push(MessageView {
            from: "tab B".into(),
            to: "server".into(),
            text: "POST /auth/refresh".into(),
        });
        let c = changes(&before, &after);
        let lines: Vec<String> = c.iter().map(Change::summary).collect();
        assert_eq!(
            lines,
            [
                "tabs[B].status: idle → logged out",
                "jar: session=1 exp=4 → none",
                "in_flight: + tab A → server: POST /auth/refresh; + tab B → server: POST /auth/refresh"
            ]
        );
        assert!(changes(&before, &before).is_empty());
    }

    #[test]
    fn repeated_list_items_count() {
        let c = Change {
            name: "in_flight".into(),
            list: true,
            before: vec!["x".into(), "x".into(), "y".into()],
            after: vec!["x".into(), "z".into()],
        };
        assert_eq!(c.removed_added(), (vec!["x", "y"], vec!["z"]));
    }
}
