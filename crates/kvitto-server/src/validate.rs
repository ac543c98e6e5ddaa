//! The user-facing limits on what goes into a receipt, checked before
//! anything is stored; every violation names its member. The contract's own
//! checks (`kvitto_core::sign::check_payload`) run on every payload after
//! these, as the last word.

use kvitto_core::Value;
use kvitto_core::json::MAX_SAFE_INTEGER;

use crate::Error;

/// Largest `context` or `metadata`, in bytes of canonical JSON.
pub const MAX_OBJECT_BYTES: usize = 64 * 1024;
/// Deepest nesting inside `context` or `metadata` (the object itself is 1).
pub const MAX_OBJECT_DEPTH: usize = 32;
/// Longest `resource`, in bytes.
pub const MAX_RESOURCE_BYTES: usize = 2048;
/// Longest free-text member (`session_id`, `revoked_by`, `resolved_by`, escalation targets).
pub const MAX_TEXT_BYTES: usize = 256;
/// Most scopes an authorization or bundle grants.
pub const MAX_SCOPES: usize = 256;
/// Most scopes one check names.
pub const MAX_CHECK_SCOPES: usize = 64;
/// Longest scope name.
pub const MAX_SCOPE_LEN: usize = 128;
/// Longest confirmation approval.
pub const MAX_TTL_SECONDS: i64 = 30 * 86_400;
/// Largest amount in micro-units (2^53 − 1, what JSON numbers hold exactly).
pub const MAX_MICROS: i64 = MAX_SAFE_INTEGER as i64;

/// An id of the contract: 1 to 128 characters of `A-Za-z0-9._:-`.
pub fn id(member: &str, s: &str) -> Result<(), Error> {
    if kvitto_core::receipt::is_id(s) {
        Ok(())
    } else if s.contains('@') && member == "user_id" {
        Err(Error::member(
            member,
            "must be an opaque id (1 to 128 of A-Za-z0-9._:-), not an e-mail address: \
             derive one with `kvitto-server pii-id` (email_hmac:v1:…)",
        ))
    } else {
        Err(Error::member(
            member,
            format!(
                "must be 1 to 128 characters of A-Za-z0-9._:- (got {})",
                describe(s)
            ),
        ))
    }
}

/// A scope name: 1 to 128 characters of `A-Za-z0-9._:/-`.
pub fn scope(member: &str, s: &str) -> Result<(), Error> {
    let ok = !s.is_empty()
        && s.len() <= MAX_SCOPE_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::member(
            member,
            format!(
                "a scope name is 1 to 128 characters of A-Za-z0-9._:/- (got {})",
                describe(s)
            ),
        ))
    }
}

/// Free text of 1 to `max` bytes.
pub fn text(member: &str, s: &str, max: usize) -> Result<(), Error> {
    if s.is_empty() || s.len() > max {
        return Err(Error::member(
            member,
            format!("must be 1 to {max} bytes (got {})", s.len()),
        ));
    }
    Ok(())
}

/// An amount in micro-units: 0 to 2^53 − 1.
pub fn micros(member: &str, n: i64) -> Result<(), Error> {
    if (0..=MAX_MICROS).contains(&n) {
        Ok(())
    } else {
        Err(Error::member(
            member,
            format!("must be an integer from 0 to {MAX_MICROS}"),
        ))
    }
}

/// A JSON object for `context` or `metadata`: at most [`MAX_OBJECT_BYTES`]
/// of canonical JSON, nested at most [`MAX_OBJECT_DEPTH`], numbers within
/// ±(2^53 − 1). Returns it as the core's value.
pub fn object(
    member: &str,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<Value, Error> {
    let value = convert(member, &serde_json::Value::Object(map.clone()), 1)?;
    let size = kvitto_core::jcs::to_vec(&value).len();
    if size > MAX_OBJECT_BYTES {
        return Err(Error::member(
            member,
            format!("is {size} bytes of canonical JSON, over the limit of {MAX_OBJECT_BYTES}"),
        ));
    }
    Ok(value)
}

fn convert(path: &str, v: &serde_json::Value, depth: usize) -> Result<Value, Error> {
    use serde_json::Value as J;
    let deep = || Error::member(path, format!("nests deeper than {MAX_OBJECT_DEPTH} levels"));
    Ok(match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::INFINITY);
            let exact = n
                .as_i64()
                .is_none_or(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER as u64)
                && n.as_u64().is_none_or(|u| u <= MAX_SAFE_INTEGER as u64);
            if !f.is_finite() || f.abs() > MAX_SAFE_INTEGER || !exact {
                return Err(Error::member(path, "holds a number beyond ±(2^53 − 1)"));
            }
            Value::Number(f)
        }
        J::String(s) => Value::String(s.clone()),
        J::Array(items) => {
            if depth > MAX_OBJECT_DEPTH {
                return Err(deep());
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(convert(&format!("{path}[{i}]"), item, depth + 1)?);
            }
            Value::Array(out)
        }
        J::Object(map) => {
            if depth > MAX_OBJECT_DEPTH {
                return Err(deep());
            }
            let mut out = Vec::with_capacity(map.len());
            for (k, item) in map {
                out.push((k.clone(), convert(&format!("{path}.{k}"), item, depth + 1)?));
            }
            Value::Object(out)
        }
    })
}

/// A short, safe description of a rejected string for a message.
fn describe(s: &str) -> String {
    if s.is_empty() {
        return "an empty string".into();
    }
    let shown: String = s.chars().take(40).collect();
    format!("{shown:?}{}", if shown.len() < s.len() { "…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn ids_and_scopes() {
        assert!(id("agent_id", "agent-1.x:y_z").is_ok());
        assert!(id("agent_id", "").is_err());
        assert!(id("agent_id", &"a".repeat(129)).is_err());
        assert!(id("agent_id", "a b").is_err());
        let e = id("user_id", "alice@example.com").unwrap_err();
        assert!(e.to_string().contains("pii-id"), "{e}");
        assert!(scope("scopes[0]", "mail:send/v2").is_ok());
        assert!(scope("scopes[0]", "mail send").is_err());
        assert_eq!(scope("scopes[3]", "").unwrap_err().code(), "invalid_member");
    }

    #[test]
    fn objects() {
        assert!(object("context", &obj(r#"{"a":[1,2.5,{"b":null}],"c":"é"}"#)).is_ok());
        let e = object("context", &obj(r#"{"n":9007199254740992}"#)).unwrap_err();
        assert_eq!(
            e,
            Error::member("context.n", "holds a number beyond ±(2^53 − 1)")
        );
        assert!(object("context", &obj(r#"{"n":-9007199254740991}"#)).is_ok());
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(31), "]".repeat(31));
        assert!(object("context", &obj(&deep)).is_ok());
        let deeper = format!("{{\"a\":{}1{}}}", "[".repeat(32), "]".repeat(32));
        assert!(
            object("context", &obj(&deeper))
                .unwrap_err()
                .to_string()
                .contains("deeper")
        );
        let big = format!(r#"{{"s":"{}"}}"#, "x".repeat(MAX_OBJECT_BYTES));
        assert!(
            object("metadata", &obj(&big))
                .unwrap_err()
                .to_string()
                .starts_with("metadata: is")
        );
        assert!(micros("estimated_cost_micros", MAX_MICROS).is_ok());
        assert!(micros("estimated_cost_micros", -1).is_err());
    }
}
