//! JSON text helpers for the generator: order-preserving writers and text edits.

use kvitto_core::{Value, jcs};

/// An object from (name, value) pairs, in the given order.
pub(crate) fn obj(members: Vec<(&str, Value)>) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn scalar(v: &Value, out: &mut String) {
    out.push_str(&String::from_utf8(jcs::to_vec(v)).expect("JCS writes UTF-8"));
}

/// Compact JSON keeping member order as given (JCS escaping and numbers).
pub(crate) fn compact(v: &Value) -> String {
    let mut out = String::new();
    write(v, None, 0, &mut out);
    out
}

/// Pretty JSON (two-space indent) keeping member order as given.
pub(crate) fn pretty(v: &Value) -> String {
    let mut out = String::new();
    write(v, Some("  "), 0, &mut out);
    out
}

fn newline(indent: Option<&str>, depth: usize, out: &mut String) {
    if let Some(unit) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    }
}

fn write(v: &Value, indent: Option<&str>, depth: usize, out: &mut String) {
    match v {
        Value::Array(items)
            if indent.is_some()
                && items
                    .iter()
                    .all(|i| !matches!(i, Value::Array(_) | Value::Object(_))) =>
        {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                scalar(item, out);
            }
            out.push(']');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, depth + 1, out);
                write(item, indent, depth + 1, out);
            }
            if !items.is_empty() {
                newline(indent, depth, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, depth + 1, out);
                scalar(&Value::String(k.clone()), out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write(item, indent, depth + 1, out);
            }
            if !members.is_empty() {
                newline(indent, depth, out);
            }
            out.push('}');
        }
        other => scalar(other, out),
    }
}

/// Compact JSON, member order as given, with every character of every
/// string and member name written as a `\uXXXX` escape (surrogate pairs
/// for characters beyond U+FFFF).
pub(crate) fn escaped(v: &Value) -> String {
    fn string(s: &str, out: &mut String) {
        out.push('"');
        let mut units = [0u16; 2];
        for ch in s.chars() {
            for unit in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
        out.push('"');
    }
    fn go(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go(item, out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (k, item)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(k, out);
                    out.push(':');
                    go(item, out);
                }
                out.push('}');
            }
            other => scalar(other, out),
        }
    }
    let mut out = String::new();
    go(v, &mut out);
    out
}

/// The value with every object's members in reverse order, at every depth.
pub(crate) fn reversed(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .rev()
                .map(|(k, v)| (k.clone(), reversed(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replace the only occurrence of `from` in `text` (panics unless exactly one).
pub(crate) fn replace_once(text: &str, from: &str, to: &str) -> String {
    let n = text.matches(from).count();
    assert_eq!(n, 1, "{from:?} occurs {n} times in {text:?}");
    text.replacen(from, to, 1)
}

/// Set (or add, at the end) member `name` of an object.
pub(crate) fn set(v: &mut Value, name: &str, value: Value) {
    let Value::Object(members) = v else {
        panic!("set on a non-object")
    };
    match members.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => members.push((name.to_owned(), value)),
    }
}

/// Remove member `name` of an object (it must be there).
pub(crate) fn remove(v: &mut Value, name: &str) {
    let Value::Object(members) = v else {
        panic!("remove on a non-object")
    };
    let before = members.len();
    members.retain(|(k, _)| k != name);
    assert_eq!(members.len() + 1, before, "no member {name}");
}

/// The member `name` of an object, mutably.
pub(crate) fn member<'a>(v: &'a mut Value, name: &str) -> &'a mut Value {
    let Value::Object(members) = v else {
        panic!("member of a non-object")
    };
    &mut members
        .iter_mut()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no member {name}"))
        .1
}
