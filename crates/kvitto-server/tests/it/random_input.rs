//! Random contexts, resources and session ids: every check the server
//! accepts yields receipts that verify; everything else is a 4xx with a
//! code. The server never issues what a verifier rejects.

use serde_json::{Value, json};

use crate::common::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const STRINGS: &[&str] = &[
    "",
    "é",
    "😀",
    "\u{0}",
    "\u{1f}",
    "\u{7f}",
    "\u{2028}",
    "\u{feff}",
    "a\"b\\c",
    "\u{ffff}",
    "\u{10ffff}",
    "日本",
];

fn string(r: &mut Rng) -> String {
    (0..r.below(4))
        .map(|_| STRINGS[r.below(STRINGS.len() as u64) as usize])
        .collect()
}

fn number(r: &mut Rng) -> Value {
    match r.below(6) {
        0 => json!(r.below(1 << 53) as i64 - (1 << 52)),
        1 => json!(9_007_199_254_740_991_i64),
        2 => json!(-9_007_199_254_740_991_i64),
        3 => json!((r.next() as f64) / 3.0e6),
        4 => json!(1e-300 * (r.below(100) as f64)),
        _ => json!(0.1 + (r.below(10) as f64)),
    }
}

fn value(r: &mut Rng, depth: u32) -> Value {
    match r.below(if depth > 40 { 4 } else { 7 }) {
        0 => Value::Null,
        1 => json!(r.below(2) == 0),
        2 => number(r),
        3 => json!(string(r)),
        4 | 5 => Value::Array((0..r.below(4)).map(|_| value(r, depth + 1)).collect()),
        _ => Value::Object(
            (0..r.below(4))
                .map(|_| (string(r), value(r, depth + 1)))
                .collect(),
        ),
    }
}

fn whatever_is_accepted_verifies(b: Backend) {
    let s = Server::start(b);
    let a = s.authorize(json!({"user_id": "u", "agent_id": "a", "scopes": ["x"]}));
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..200 {
        let mut body = json!({"authorization_id": a, "scopes": ["x"]});
        let ctx = Value::Object(
            (0..r.below(5))
                .map(|_| (string(&mut r), value(&mut r, 2)))
                .collect(),
        );
        body["context"] = ctx;
        if r.below(2) == 0 {
            body["resource"] = json!(string(&mut r));
        }
        if r.below(3) == 0 {
            body["session_id"] = json!(string(&mut r));
        }
        let (st, v) = s.post("/v1/check", &body);
        match st {
            200 => accepted += 1,
            400 => {
                assert!(v["error"]["code"].is_string(), "{v}");
                rejected += 1;
            }
            other => panic!("status {other}: {v} for {body}"),
        }
    }
    assert!(
        accepted > 50 && rejected > 5,
        "accepted {accepted}, rejected {rejected}"
    );
    let export = s.export(&a);
    assert_valid(&s.verify(&export));
    assert_eq!(payloads(&export).len(), accepted + 1);
}

on_both_backends!(whatever_is_accepted_verifies,);
