//! The strict parser under both profiles, and the canonical form's invariants:
//! JCS output parses back to the same value and is a fixed point.

#![no_main]

use kvitto_core::jcs;
use kvitto_core::json::{self, Profile, Value};
use libfuzzer_sys::fuzz_target;

/// Structural equality, numbers by their bits except that −0 equals 0.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.to_bits() == y.to_bits() || (*x == 0.0 && *y == 0.0)
        }
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys)
                    .all(|((k, x), (l, y))| k == l && same(x, y))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let canon = json::parse(data, Profile::Canon);
    let strict = json::parse(data, Profile::Receipt);
    if let Ok(v) = &strict {
        // The receipt profile is the canonicalization profile plus limits.
        let c = canon
            .as_ref()
            .expect("accepted under Receipt but not under Canon");
        assert!(same(v, c));
    }
    if let Ok(v) = &canon {
        let bytes = jcs::to_vec(v);
        assert_eq!(jcs::canonicalize(data).as_deref(), Ok(&bytes[..]));
        let again = json::parse(&bytes, Profile::Canon).expect("canonical output parses");
        // Member order is sorted in the canonical form, so compare canonical bytes
        // for the structure and `same` after sorting both.
        assert_eq!(jcs::to_vec(&again), bytes, "JCS is not idempotent");
        assert!(
            same(&sorted(&again), &sorted(v)),
            "canonical form changed the value"
        );
        if strict.is_ok() {
            let s = json::parse(&bytes, Profile::Receipt)
                .expect("canonical output of a receipt-profile value parses under it");
            assert!(same(&sorted(&s), &sorted(v)));
        }
    }
});

fn sorted(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        Value::Object(members) => {
            let mut m: Vec<(String, Value)> = members
                .iter()
                .map(|(k, v)| (k.clone(), sorted(v)))
                .collect();
            m.sort_by(|a, b| jcs::utf16_cmp(&a.0, &b.0));
            Value::Object(m)
        }
        other => other.clone(),
    }
}
