//! RFC 8785 (JCS) canonical serialization of a parsed [`Value`].

use alloc::vec::Vec;
use core::cmp::Ordering;
use core::ops::Deref;

use crate::Error;
use crate::json::{self, Profile, Tree};

/// Canonicalize arbitrary JSON text: the strict profile over the whole
/// binary64 range (no 1 MiB and no ±(2^53 − 1) limit), then RFC 8785.
pub fn canonicalize(input: &[u8]) -> Result<Vec<u8>, Error> {
    let value = json::parse(input, Profile::Canon)?;
    Ok(to_vec(&value))
}

/// The canonical bytes of `value`.
pub fn to_vec<S: Deref<Target = str>>(value: &Tree<S>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(value, &mut out);
    out
}

/// Append the canonical bytes of `value` to `out`.
pub fn write<S: Deref<Target = str>>(value: &Tree<S>, out: &mut Vec<u8>) {
    match value {
        Tree::Null => out.extend_from_slice(b"null"),
        Tree::Bool(true) => out.extend_from_slice(b"true"),
        Tree::Bool(false) => out.extend_from_slice(b"false"),
        Tree::Number(n) => write_number(*n, out),
        Tree::String(s) => write_string(s, out),
        Tree::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Tree::Object(members) => {
            // Receipts written by an issuer are usually canonical already:
            // then the members need no sorting (and no allocation).
            out.push(b'{');
            if in_order(members) {
                write_members(members.iter(), out);
            } else {
                let mut sorted: Vec<&(S, Tree<S>)> = members.iter().collect();
                sorted.sort_unstable_by(|a, b| utf16_cmp(&a.0, &b.0));
                write_members(sorted.into_iter(), out);
            }
            out.push(b'}');
        }
    }
}

fn write_members<'a, S: Deref<Target = str> + 'a>(
    members: impl Iterator<Item = &'a (S, Tree<S>)>,
    out: &mut Vec<u8>,
) {
    for (i, (name, value)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write(value, out);
    }
}

/// Whether object members are in the order RFC 8785 writes them: names
/// strictly increasing by UTF-16 code units (so none repeats).
pub(crate) fn in_order<S: Deref<Target = str>, V>(members: &[(S, V)]) -> bool {
    members
        .windows(2)
        .all(|w| utf16_cmp(&w[0].0, &w[1].0) == Ordering::Less)
}

/// Order two strings by their UTF-16 code units, as RFC 8785 sorts members.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// ECMAScript Number::toString of a finite value (−0 is written `0`).
fn write_number(n: f64, out: &mut Vec<u8>) {
    if n == 0.0 {
        out.push(b'0');
        return;
    }
    // Integers below 2^53 print as their digits (what ECMAScript does below
    // 1e21); this skips the general shortest-digits algorithm.
    if n.abs() <= json::MAX_SAFE_INTEGER && (n as i64) as f64 == n {
        let mut v = n as i64;
        if v < 0 {
            out.push(b'-');
            v = -v;
        }
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        while v > 0 {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&digits[i..]);
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.extend_from_slice(buf.format_finite(n).as_bytes());
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !json::SPECIAL[usize::from(b)] {
            continue;
        }
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0C => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1F => {
                out.extend_from_slice(&bytes[run..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xF)]);
                run = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(esc);
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn canon(s: &str) -> String {
        String::from_utf8(canonicalize(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(canon("-0"), "0");
        assert_eq!(canon("1.0"), "1");
        assert_eq!(canon("1e2"), "100");
        assert_eq!(canon("1e21"), "1e+21");
        assert_eq!(canon("1e20"), "100000000000000000000");
        assert_eq!(canon("1e-7"), "1e-7");
        assert_eq!(canon("0.000001"), "0.000001");
        assert_eq!(canon("5e-324"), "5e-324");
        assert_eq!(canon("9007199254740991"), "9007199254740991");
        assert_eq!(canon("1E30"), "1e+30");
        assert_eq!(canon("333333333.33333329"), "333333333.3333333");
    }

    #[test]
    fn strings_and_order() {
        assert_eq!(canon(r#""\u00e9\/\u001f\u007f""#), "\"é/\\u001f\u{7f}\"");
        assert_eq!(canon(r#"{"b":1,"a":2}"#), r#"{"a":2,"b":1}"#);
        // U+E000 sorts after U+1F600 in UTF-8 but before it in UTF-16.
        assert_eq!(
            canon("{\"\u{E000}\":1,\"\u{1F600}\":2}"),
            "{\"\u{1F600}\":2,\"\u{E000}\":1}"
        );
    }
}
