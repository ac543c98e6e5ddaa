//! Property tests: canonicalization, the strict parser, receipt verification
//! under mutation, and export framing never panic and agree with references.

use std::sync::LazyLock;

use kvitto_core::export::{self, Body, Framer, Scan, Scanner};
use kvitto_core::json::{self, Profile, Value};
use kvitto_core::sign::{Common, IssuerKey, key_document, object, payload};
use kvitto_core::{Hash, KeySet, KeyStatus, Kind, jcs, verify_export, verify_receipt};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------
// Generated JSON values and random (but value-preserving) renderings of them
// ---------------------------------------------------------------------------

fn arb_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<i32>().prop_map(f64::from),
        (-9_007_199_254_740_991i64..=9_007_199_254_740_991).prop_map(|n| n as f64),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (-100_000i32..100_000, -30i32..30).prop_map(|(m, e)| f64::from(m) * 10f64.powi(e)),
        prop::sample::select(vec![
            0.0,
            -0.0,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            1e21,
            1e20,
            1e-7,
            1e-6,
            0.1,
            333_333_333.333_333_3,
            9_007_199_254_740_992.0,
        ]),
    ]
}

fn arb_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range('a', 'z'),
        2 => any::<char>(),
        2 => prop::sample::select(vec![
            '\0', '\u{1}', '\u{8}', '\t', '\n', '\u{c}', '\r', '\u{1f}', '"', '\\', '/',
            '\u{7f}', '\u{80}', 'é', '\u{2028}', '\u{e000}', '\u{ffff}', '\u{1f600}', '\u{10ffff}',
        ]),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(arb_char(), 0..8).prop_map(|cs| cs.into_iter().collect())
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number().prop_map(Value::Number),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            // Unique names (compared unescaped): the strict profile rejects duplicates.
            prop::collection::btree_map(arb_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Whether `v` holds what the parser does not try to prove canonical: a
/// string (or member name) that JCS writes with an escape, or a number
/// other than an integer of at most 15 digits.
fn judged_conservatively(v: &Value) -> bool {
    let escaped = |s: &str| s.chars().any(|c| c < ' ' || c == '"' || c == '\\');
    match v {
        Value::String(s) => escaped(s),
        Value::Number(n) => n.fract() != 0.0 || n.abs() >= 1e15,
        Value::Array(items) => items.iter().any(judged_conservatively),
        Value::Object(members) => members
            .iter()
            .any(|(k, v)| escaped(k) || judged_conservatively(v)),
        Value::Null | Value::Bool(_) => false,
    }
}

/// A tiny deterministic RNG so one proptest seed drives every rendering choice.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// Render `v` as JSON text that parses back to the same value, with random
/// white space, member order, string escapes and number spellings.
fn render(v: &Value, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut out = String::new();
    ws(&mut rng, &mut out);
    render_into(v, &mut rng, &mut out);
    ws(&mut rng, &mut out);
    out.into_bytes()
}

fn ws(rng: &mut Rng, out: &mut String) {
    const WS: [&str; 6] = ["", "", " ", "\n  ", "\t", "\r\n"];
    out.push_str(WS[rng.below(WS.len() as u64) as usize]);
}

fn render_into(v: &Value, rng: &mut Rng, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&render_number(*n, rng)),
        Value::String(s) => render_string(s, rng, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, out);
                render_into(item, rng, out);
                ws(rng, out);
            }
            ws(rng, out);
            out.push(']');
        }
        Value::Object(members) => {
            let mut order: Vec<&(String, Value)> = members.iter().collect();
            // Fisher-Yates shuffle of the member order.
            for i in (1..order.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                order.swap(i, j);
            }
            out.push('{');
            for (i, (name, value)) in order.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, out);
                render_string(name, rng, out);
                ws(rng, out);
                out.push(':');
                ws(rng, out);
                render_into(value, rng, out);
                ws(rng, out);
            }
            ws(rng, out);
            out.push('}');
        }
    }
}

/// A spelling of `n` that reads back as exactly `n` (and stays within 128 characters).
fn render_number(n: f64, rng: &mut Rng) -> String {
    let exp = format!("{n:e}"); // shortest round-trip digits, e.g. 1.5e-7, -0e0
    let plain = format!("{n}"); // e.g. 0.0000001, 100, -0
    let mut choices = vec![exp.clone(), exp.replace('e', "E")];
    if !exp.contains("e-") {
        choices.push(exp.replace('e', "e+"));
    }
    if plain.len() <= 100 {
        choices.push(plain.clone());
        if !plain.contains('.') {
            choices.push(format!("{plain}.000"));
        } else {
            choices.push(format!("{plain}0"));
        }
    }
    choices.swap_remove(rng.below(choices.len() as u64) as usize)
}

fn render_string(s: &str, rng: &mut Rng, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        let must_escape = matches!(c, '"' | '\\' | '\0'..='\u{1f}');
        match rng.below(if must_escape { 2 } else { 4 }) {
            // Short escape where one exists, else \u.
            0 => match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                _ => unicode_escape(c, rng, out),
            },
            1 => unicode_escape(c, rng, out),
            _ => out.push(c),
        }
    }
    out.push('"');
}

fn unicode_escape(c: char, rng: &mut Rng, out: &mut String) {
    let upper = rng.chance(2);
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        if upper {
            out.push_str(&format!("\\u{unit:04X}"));
        } else {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    }
}

/// Structural equality with numbers compared by their bits, except that
/// −0 and 0 are equal (JCS writes both as `0`).
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
                    .all(|(k, x)| ys.iter().any(|(l, y)| k == l && same(x, y)))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------
// A fixed issuer, key document and chain of receipts
// ---------------------------------------------------------------------------

struct Fixture {
    keys: KeySet,
    /// One authorization's chain, seq 0..=3, each a canonical one-line receipt.
    chain: Vec<String>,
    /// The check receipt (seq 1) and its payload's canonical bytes and hash.
    receipt: Vec<u8>,
    canonical_payload: Vec<u8>,
    hash: Hash,
}

const WS: &str = "ws_props";
const KID: &str = "ws_props.k1";

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = IssuerKey::from_seed(KID, &[42; 32]);
    let doc = key_document(
        WS,
        vec![key.jwk(KeyStatus::Active, "2026-01-01T00:00:00Z", None)],
    );
    let keys = KeySet::from_bytes(&jcs::to_vec(&doc), None).expect("fixture key document");
    let mut chain = Vec::new();
    let mut prev = None;
    let mut check = None;
    for seq in 0..4u64 {
        let rid = format!("rcpt_{seq}");
        let at = format!("2026-11-22T01:15:0{seq}.5Z");
        let common = Common {
            receipt_id: &rid,
            workspace_id: WS,
            authorization_id: "auth_props",
            seq,
            prev,
            issued_at: &at,
            kid: KID,
        };
        let p = match seq {
            0 => payload(
                Kind::AuthorizationCreated,
                &common,
                [
                    ("user_id", Value::from("user_1")),
                    ("agent_id", Value::from("agent_1")),
                    (
                        "scopes",
                        Value::Array(vec![object([
                            ("name", Value::from("files:read")),
                            ("constraints", object([])),
                        ])]),
                    ),
                    ("requires_confirm_for", Value::Array(vec![])),
                    ("requires_escalation_for", Value::Array(vec![])),
                    ("escalation_targets", object([])),
                    ("expires_at", Value::Null),
                    ("budget_limit_micros", Value::from(5_000_000u64)),
                    ("metadata", object([])),
                ],
            ),
            3 => payload(
                Kind::AuthorizationRevoked,
                &common,
                [("revoked_by", Value::from("user_1"))],
            ),
            _ => payload(Kind::Check, &common, check_members(seq)),
        };
        let signed = key.sign_payload(&p);
        if seq == 1 {
            check = Some((
                signed.json.clone().into_bytes(),
                jcs::to_vec(&p),
                signed.receipt_hash,
            ));
        }
        prev = Some(signed.receipt_hash);
        chain.push(signed.json);
    }
    let (receipt, canonical_payload, hash) = check.expect("seq 1 is a check");
    Fixture {
        keys,
        chain,
        receipt,
        canonical_payload,
        hash,
    }
});

fn check_members(seq: u64) -> Vec<(&'static str, Value)> {
    vec![
        ("scope", Value::from("files:read")),
        ("decision", Value::from("allow")),
        ("reason", Value::from("ok")),
        ("resource", Value::from("/srv/reports/q3 – “draft”.pdf")),
        ("session_id", Value::from("sess_01")),
        (
            "context",
            object([
                ("ip", Value::from("192.0.2.7")),
                ("tool", Value::from("read_file")),
                ("ratio", Value::from(0.25)),
            ]),
        ),
        ("estimated_cost_micros", Value::from(1_500u64 * seq)),
        (
            "budget",
            object([
                ("limit_micros", Value::from(5_000_000u64)),
                ("spent_before_micros", Value::from(1_000u64)),
                ("spent_after_micros", Value::from(2_500u64)),
            ]),
        ),
        ("confirm_nonce", Value::Null),
        ("escalation_id", Value::Null),
        ("escalation_to", Value::Null),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    InsertWs(Index, u8),
    Delete(Index, usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        2 => (any::<Index>(), prop::sample::select(b"\"\\{}[],:0123456789-.eEtfnul \x00\xff".to_vec()))
            .prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..4)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), prop::sample::select(b" \t\n\r".to_vec())).prop_map(|(i, b)| Mutation::InsertWs(i, b)),
        1 => (any::<Index>(), 1..8usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::Flip(i, mask) if len > 0 => bytes[i.index(len)] ^= mask,
            Mutation::Set(i, b) if len > 0 => bytes[i.index(len)] = *b,
            Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
            Mutation::Insert(i, ins) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, ins.iter().copied());
            }
            Mutation::InsertWs(i, b) => bytes.insert(i.index(len + 1), *b),
            Mutation::Delete(i, n) if len > 0 => {
                let at = i.index(len);
                bytes.drain(at..(at + n).min(len));
            }
            _ => {}
        }
    }
    bytes
}

/// Short inputs over a JSON-ish alphabet: ASCII and one two-byte character,
/// no `d`/`D` (so no `\uD800`-style surrogate escape can be spelled) and no
/// invalid UTF-8 — the two things serde_json rejects beyond the grammar
/// apart from number range (handled where it is used) and depth (too short).
fn arb_jsonish() -> impl Strategy<Value = Vec<u8>> {
    let pieces: Vec<&'static str> = vec![
        "{", "}", "[", "]", ",", ":", "\"", "\"", "\\", "\\u", "a", "0", "1", "9", "-", "+", ".",
        "e", "E", "true", "false", "null", "tru", " ", "\n", "\r", "\t", "\u{1}", "é", "x", "/",
        "00a1", "b", "f", "n", "1e999", "\"k\":", "{\"a\":", "[1,", "0.5",
    ];
    prop::collection::vec(prop::sample::select(pieces), 0..12)
        .prop_map(|ps| ps.concat().into_bytes())
}

/// Mostly-grammatical inputs: short token soup, or a rendered value with a
/// few byte-level edits (so accepts and rejects both occur often).
fn arb_grammar_input() -> impl Strategy<Value = Vec<u8>> {
    let edit = prop_oneof![
        (
            any::<Index>(),
            prop::sample::select(b"\"\\{}[],:0-.eE+ \n".to_vec())
        )
            .prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), prop::sample::select(b" \t\n\r".to_vec()))
            .prop_map(|(i, b)| Mutation::InsertWs(i, b)),
        (any::<Index>(), 1..3usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ];
    prop_oneof![
        arb_jsonish(),
        (arb_value(), any::<u64>(), prop::collection::vec(edit, 0..3))
            .prop_map(|(v, seed, edits)| apply(render(&v, seed), &edits)),
    ]
}

/// Whether `bytes` holds a `\uD8xx`..`\uDFxx` escape (possibly a lone surrogate).
fn has_surrogate_escape(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| {
        w[0] == b'\\'
            && w[1] == b'u'
            && matches!(w[2], b'd' | b'D')
            && matches!(w[3], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
    })
}

/// The Scanner's answer to "is the whole input one JSON value by the grammar".
fn one_value(input: &[u8]) -> bool {
    match scan_whole(input) {
        Scan::Done { end, .. } => input[end..].iter().all(|b| b" \t\r\n".contains(b)),
        _ => false,
    }
}

/// Contract section 9 written plainly over a whole input, with its own
/// recursive-descent grammar: an independent model for the streaming
/// [`Framer`] to agree with.
mod model {
    fn is_ws(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\n' | b'\r')
    }

    struct P<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }
        fn ws(&mut self) {
            while self.peek().is_some_and(is_ws) {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> bool {
            let ok = self.peek() == Some(c);
            self.i += usize::from(ok);
            ok
        }
        fn digits(&mut self) -> usize {
            let s = self.i;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.i += 1;
            }
            self.i - s
        }
        fn value(&mut self) -> bool {
            self.ws();
            match self.peek() {
                Some(b'{') => {
                    self.i += 1;
                    self.ws();
                    if self.eat(b'}') {
                        return true;
                    }
                    loop {
                        self.ws();
                        if !self.string() {
                            return false;
                        }
                        self.ws();
                        if !self.eat(b':') || !self.value() {
                            return false;
                        }
                        self.ws();
                        if self.eat(b'}') {
                            return true;
                        }
                        if !self.eat(b',') {
                            return false;
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    self.ws();
                    if self.eat(b']') {
                        return true;
                    }
                    loop {
                        if !self.value() {
                            return false;
                        }
                        self.ws();
                        if self.eat(b']') {
                            return true;
                        }
                        if !self.eat(b',') {
                            return false;
                        }
                    }
                }
                Some(b'"') => self.string(),
                Some(b't') => self.word(b"true"),
                Some(b'f') => self.word(b"false"),
                Some(b'n') => self.word(b"null"),
                Some(b'-' | b'0'..=b'9') => self.number(),
                _ => false,
            }
        }
        fn word(&mut self, w: &[u8]) -> bool {
            let ok = self.b[self.i..].starts_with(w);
            self.i += if ok { w.len() } else { 0 };
            ok
        }
        fn number(&mut self) -> bool {
            self.eat(b'-');
            if !self.eat(b'0') && self.digits() == 0 {
                return false;
            }
            if self.eat(b'.') && self.digits() == 0 {
                return false;
            }
            if self.eat(b'e') || self.eat(b'E') {
                let _ = self.eat(b'+') || self.eat(b'-');
                if self.digits() == 0 {
                    return false;
                }
            }
            true
        }
        fn string(&mut self) -> bool {
            if !self.eat(b'"') {
                return false;
            }
            loop {
                match self.peek() {
                    None => return false,
                    Some(b'"') => {
                        self.i += 1;
                        return true;
                    }
                    Some(b'\\') => {
                        self.i += 1;
                        match self.peek() {
                            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                                self.i += 1
                            }
                            Some(b'u') => {
                                self.i += 1;
                                for _ in 0..4 {
                                    if !self.peek().is_some_and(|b| b.is_ascii_hexdigit()) {
                                        return false;
                                    }
                                    self.i += 1;
                                }
                            }
                            _ => return false,
                        }
                    }
                    Some(c) if c < 0x20 => return false,
                    Some(_) => self.i += 1,
                }
            }
        }
    }

    fn line_at(input: &[u8], at: usize) -> u64 {
        1 + input[..at].iter().filter(|&&b| b == b'\n').count() as u64
    }

    /// (text, line, index) of every record of `input`.
    pub(crate) fn frame(input: &[u8]) -> Vec<(Vec<u8>, u64, Option<u64>)> {
        let mut p = P { b: input, i: 0 };
        p.ws();
        let start = p.i;
        if start < input.len() && p.value() {
            let end = p.i;
            p.ws();
            if p.i == input.len() {
                if input[start] != b'[' {
                    return vec![(input[start..end].to_vec(), line_at(input, start), None)];
                }
                let mut q = P {
                    b: input,
                    i: start + 1,
                };
                let mut out = Vec::new();
                q.ws();
                if q.eat(b']') {
                    return out;
                }
                loop {
                    q.ws();
                    let s = q.i;
                    assert!(q.value());
                    out.push((
                        input[s..q.i].to_vec(),
                        line_at(input, s),
                        Some(out.len() as u64),
                    ));
                    q.ws();
                    if q.eat(b']') {
                        return out;
                    }
                    assert!(q.eat(b','));
                }
            }
        }
        let mut out = Vec::new();
        let mut at = 0;
        for (line, piece) in (1u64..).zip(input.split(|&b| b == b'\n')) {
            let had_lf = at + piece.len() < input.len();
            let text = match piece {
                [head @ .., b'\r'] if had_lf => head,
                _ => piece,
            };
            if !text.iter().all(|&b| is_ws(b)) {
                out.push((text.to_vec(), line, None));
            }
            at += piece.len() + 1;
        }
        out
    }
}

/// The Framer's records of `input` pushed in the pieces `cuts` make.
fn framer_records(input: &[u8], cuts: &[Index]) -> Vec<(Vec<u8>, u64, Option<u64>)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    let mut framer = Framer::new();
    let mut out = Vec::new();
    let mut take = |f: &mut Framer| {
        while let Some(r) = f.next() {
            match r.body {
                Body::Text(t) => out.push((t, r.line, r.index)),
                other => panic!("small inputs frame as text: {other:?}"),
            }
        }
    };
    for w in points.windows(2) {
        framer.push(&input[w[0]..w[1]]);
        take(&mut framer);
    }
    framer.finish();
    take(&mut framer);
    out
}

/// Exports as they come, and as they break: receipts and fragments on
/// lines (LF or CRLF, blank lines, white space), arrays of them, and
/// rendered values spread over lines.
fn arb_export_input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => arb_grammar_input(),
        2 => Just(FIXTURE.chain[0].clone().into_bytes()),
        1 => prop::sample::select(vec![" ", "\t", "\r", "", "  \r"]).prop_map(|s| s.as_bytes().to_vec()),
    ];
    let eol = prop::sample::select(vec!["\n", "\r\n", "\n\n", " \n"]);
    let lines = prop::collection::vec((piece, eol), 0..6).prop_map(|ps| {
        ps.into_iter()
            .flat_map(|(p, e)| [p, e.as_bytes().to_vec()].concat())
            .collect::<Vec<u8>>()
    });
    let array = prop::collection::vec(arb_grammar_input(), 0..5).prop_map(|items| {
        let mut v = b"[".to_vec();
        v.extend(items.join(&b",\n "[..]));
        v.push(b']');
        v
    });
    prop_oneof![3 => lines, 2 => array, 1 => (arb_value(), any::<u64>()).prop_map(|(v, seed)| render(&v, seed))]
}

fn scan_whole(input: &[u8]) -> Scan {
    let mut s = Scanner::new();
    match s.feed(input) {
        Scan::NeedMore => s.finish(),
        other => other,
    }
}

fn scan_chunks(input: &[u8], cuts: &[Index]) -> Scan {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    let mut s = Scanner::new();
    for w in points.windows(2) {
        match s.feed(&input[w[0]..w[1]]) {
            Scan::NeedMore => {}
            other => return other,
        }
    }
    s.finish()
}

/// Receipt-like objects for the lenient reader: `payload` (sometimes
/// repeated, sometimes not an object), ids of various types, repeated ids.
fn arb_lenient_doc() -> impl Strategy<Value = Value> {
    let id = prop_oneof![
        3 => "[a-z_]{1,6}".prop_map(Value::from),
        1 => "[a-zé_]{100,200}".prop_map(Value::from),
        1 => arb_string().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<i32>().prop_map(|n| Value::from(i64::from(n))),
        1 => Just(object([("x", Value::from("y"))])),
    ];
    let member = prop_oneof![
        (Just("authorization_id"), id.clone()),
        (Just("receipt_id"), id),
        (Just("v"), Just(Value::from(1u64))),
        (Just("kind"), Just(Value::from("check"))),
    ];
    let payload = prop_oneof![
        4 => prop::collection::vec(member, 0..5).prop_map(|ms| {
            Value::Object(ms.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        }),
        1 => arb_value(),
    ];
    let top = prop_oneof![
        4 => payload.prop_map(|p| ("payload".to_string(), p)),
        1 => Just(("sig".to_string(), Value::from("AAAA"))),
        1 => (arb_string(), arb_value()),
    ];
    prop::collection::vec(top, 0..4).prop_map(Value::Object)
}

/// Like [`render`], but the top-level members keep their order (which
/// repeated member comes last matters to the lenient reader).
fn render_top_in_order(v: &Value, seed: u64) -> Vec<u8> {
    let Value::Object(members) = v else {
        return render(v, seed);
    };
    let mut rng = Rng(seed | 1);
    let mut out = String::from("{");
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        ws(&mut rng, &mut out);
        render_string(name, &mut rng, &mut out);
        out.push(':');
        render_into(value, &mut rng, &mut out);
    }
    out.push('}');
    out.into_bytes()
}

/// What section 9 says grouping reads, computed with serde_json (whose
/// objects keep the last of repeated members).
fn reference_ids(bytes: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let p = v.get("payload").filter(|p| p.is_object());
    // Ids over LENIENT_ID_MAX bytes are kept as a prefix and the hash of the whole.
    let shown = |id: &str| {
        if id.len() <= export::LENIENT_ID_MAX {
            return id.to_string();
        }
        let mut cut = 64;
        while !id.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{}…[{}, {} bytes]",
            &id[..cut],
            Hash::of(id.as_bytes()),
            id.len()
        )
    };
    let read = |name: &str| {
        p.and_then(|p| p.get(name))
            .and_then(serde_json::Value::as_str)
            .map(shown)
    };
    Some((read("authorization_id"), read("receipt_id")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The verifier signs over a payload's own text when the parser calls it
    /// canonical: that text must then be exactly what JCS writes. And a
    /// payload in its canonical form is called canonical unless it holds what
    /// the parser judges conservatively (an escape, a number other than a
    /// short integer).
    #[test]
    fn a_payload_called_canonical_is_its_own_jcs(v in arb_value(), seed in any::<u64>(), canonical in any::<bool>()) {
        let rendered = render(&v, seed);
        let body = if canonical {
            jcs::canonicalize(&rendered).expect("rendered JSON canonicalizes")
        } else {
            rendered
        };
        let mut text = b"{\"payload\":".to_vec();
        text.extend_from_slice(&body);
        text.extend_from_slice(b",\"sig\":\"\"}");
        // Numbers past 2^53 are outside the receipt profile.
        if let Ok((tree, span)) = json::parse_receipt(&text) {
            let want = jcs::to_vec(tree.get("payload").expect("the payload member"));
            match span {
                Some(span) => prop_assert_eq!(
                    String::from_utf8_lossy(&text[span]),
                    String::from_utf8_lossy(&want)
                ),
                None => prop_assert!(
                    !canonical || judged_conservatively(&v),
                    "canonical payload not recognised: {}",
                    String::from_utf8_lossy(&body)
                ),
            }
        }
    }

    #[test]
    fn canonicalization_is_idempotent(v in arb_value(), seed in any::<u64>()) {
        let text = render(&v, seed);
        let c1 = jcs::canonicalize(&text).expect("rendered JSON canonicalizes");
        let c2 = jcs::canonicalize(&c1).expect("canonical JSON canonicalizes");
        prop_assert_eq!(c1, c2);
    }

    #[test]
    fn parse_canonicalize_parse_round_trips(v in arb_value(), seed in any::<u64>()) {
        let text = render(&v, seed);
        let parsed = json::parse(&text, Profile::Canon).expect("rendered JSON parses");
        prop_assert!(same(&parsed, &v), "rendering changed the value: {}", String::from_utf8_lossy(&text));
        let canon = jcs::to_vec(&parsed);
        let again = json::parse(&canon, Profile::Canon).expect("canonical JSON parses");
        prop_assert!(same(&again, &parsed), "canonical form changed the value: {}", String::from_utf8_lossy(&canon));
    }

    #[test]
    fn canonical_bytes_match_serde_jcs(v in arb_value(), seed in any::<u64>()) {
        let text = render(&v, seed);
        let ours = jcs::canonicalize(&text).expect("rendered JSON canonicalizes");
        let reference: serde_json::Value = serde_json::from_slice(&text).expect("serde_json parses");
        let theirs = serde_jcs::to_vec(&reference).expect("serde_jcs serializes");
        prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
    }

    #[test]
    fn layout_order_and_escapes_do_not_matter(v in arb_value(), s1 in any::<u64>(), s2 in any::<u64>()) {
        let a = render(&v, s1);
        let b = render(&v, s2);
        prop_assert_eq!(
            jcs::canonicalize(&a).expect("a canonicalizes"),
            jcs::canonicalize(&b).expect("b canonicalizes")
        );
    }

    #[test]
    fn verify_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let f = &*FIXTURE;
        prop_assert!(verify_receipt(&bytes, &f.keys).is_err());
    }

    #[test]
    fn verify_never_panics_on_jsonish_bytes(bytes in arb_jsonish()) {
        let f = &*FIXTURE;
        prop_assert!(verify_receipt(&bytes, &f.keys).is_err());
    }

    #[test]
    fn mutated_receipt_verifies_only_with_its_canonical_payload(
        mutations in prop::collection::vec(arb_mutation(), 1..4)
    ) {
        let f = &*FIXTURE;
        let mutated = apply(f.receipt.clone(), &mutations);
        let result = verify_receipt(&mutated, &f.keys);
        if let Ok(v) = &result {
            prop_assert_eq!(v.receipt_hash, f.hash);
            prop_assert_eq!(&jcs::to_vec(&v.payload), &f.canonical_payload);
        }
        // Conversely, a mutation that left the parsed receipt the same (white
        // space between tokens, say) must still verify.
        let same_value = json::parse(&mutated, Profile::Receipt)
            .is_ok_and(|m| jcs::to_vec(&m) == f.receipt);
        if same_value {
            prop_assert!(result.is_ok(), "unchanged receipt rejected: {:?}", result.err());
        }
    }

    #[test]
    fn rerendered_receipt_still_verifies(seed in any::<u64>()) {
        let f = &*FIXTURE;
        let value = json::parse(&f.receipt, Profile::Receipt).expect("fixture parses");
        let text = render(&value, seed);
        let v = verify_receipt(&text, &f.keys);
        prop_assert!(v.is_ok(), "{:?} for {}", v.as_ref().err(), String::from_utf8_lossy(&text));
        prop_assert_eq!(v.map(|v| v.receipt_hash).ok(), Some(f.hash));
    }

    #[test]
    fn export_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let f = &*FIXTURE;
        let records = kvitto_core::records(&bytes);
        for r in &records {
            let Body::Text(text) = &r.body else { panic!("small input") };
            prop_assert!(r.offset as usize + text.len() <= bytes.len());
        }
        let report = verify_export(&bytes, std::slice::from_ref(&f.keys), true);
        prop_assert_eq!(report.records.len(), records.len());
        prop_assert!(!report.is_valid());
        let _ = export::lenient_ids(&bytes);
    }

    #[test]
    fn framer_agrees_with_the_model_whatever_the_pieces(
        input in prop_oneof![arb_export_input(), prop::collection::vec(any::<u8>(), 0..200)],
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        prop_assert_eq!(framer_records(&input, &cuts), model::frame(&input), "{:?}", String::from_utf8_lossy(&input));
    }

    #[test]
    fn lenient_reader_pieces_do_not_matter(
        doc in arb_lenient_doc(), seed in any::<u64>(), cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let text = render_top_in_order(&doc, seed);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(text.len() + 1)).collect();
        points.push(0);
        points.push(text.len());
        points.sort_unstable();
        let mut r = export::LenientReader::new();
        for w in points.windows(2) {
            r.feed(&text[w[0]..w[1]]);
        }
        prop_assert_eq!(r.finish(), export::lenient_ids(&text));
    }

    #[test]
    fn export_of_mutated_chain(
        order in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle(),
        mutations in prop::collection::vec(arb_mutation(), 0..3),
        victim in 0..4usize,
        as_array in any::<bool>(),
    ) {
        let f = &*FIXTURE;
        let lines: Vec<Vec<u8>> = order
            .iter()
            .map(|&i| {
                let r = f.chain[i].clone().into_bytes();
                if i == victim { apply(r, &mutations) } else { r }
            })
            .collect();
        let input = if as_array {
            let mut v = b"[".to_vec();
            v.extend(lines.join(&b",\n"[..]));
            v.push(b']');
            v
        } else {
            lines.join(&b"\n"[..])
        };
        let report = verify_export(&input, std::slice::from_ref(&f.keys), true);
        if mutations.is_empty() {
            // Order in the export does not matter: the chain is sorted by seq.
            prop_assert!(report.is_valid(), "{:?}", report);
            prop_assert_eq!(report.chains.len(), 1);
            prop_assert!(report.chains[0].closed);
        }
        // A mutated export is valid only when every mutation left the
        // victim's canonical payload as it was: then it verifies to the
        // very hashes of the original chain, and the chain is closed.
        if report.is_valid() {
            let original: std::collections::BTreeSet<_> = f
                .chain
                .iter()
                .map(|r| verify_receipt(r.as_bytes(), &f.keys).map(|v| v.receipt_hash).ok())
                .collect();
            for r in &report.records {
                prop_assert!(original.contains(&r.outcome.receipt_hash()), "{:?}", r);
            }
            prop_assert!(report.chains[0].closed);
        }
    }

    #[test]
    fn lenient_ids_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let ids = export::lenient_ids(&bytes);
        // Anything not one JSON value by the grammar yields no ids.
        if !one_value(&bytes) {
            prop_assert_eq!(ids, export::LenientIds::default());
        }
    }

    #[test]
    fn lenient_ids_read_like_serde_json(doc in arb_lenient_doc(), seed in any::<u64>()) {
        let text = render_top_in_order(&doc, seed);
        if let Some((authorization_id, receipt_id)) = reference_ids(&text) {
            let ids = export::lenient_ids(&text);
            prop_assert_eq!(ids.authorization_id, authorization_id, "{}", String::from_utf8_lossy(&text));
            prop_assert_eq!(ids.receipt_id, receipt_id);
        }
    }

    #[test]
    fn lenient_ids_on_jsonish_and_mutated(bytes in arb_jsonish(), mutations in prop::collection::vec(arb_mutation(), 0..3)) {
        let f = &*FIXTURE;
        let _ = export::lenient_ids(&bytes);
        let mutated = apply(f.receipt.clone(), &mutations);
        let ids = export::lenient_ids(&mutated);
        if mutations.is_empty() {
            prop_assert_eq!(ids.authorization_id.as_deref(), Some("auth_props"));
            prop_assert_eq!(ids.receipt_id.as_deref(), Some("rcpt_1"));
        }
    }

    #[test]
    fn scanner_agrees_with_serde_json_on_the_grammar(bytes in arb_grammar_input()) {
        // Only where serde_json can judge the grammar alone: valid UTF-8 (the
        // Scanner does not check the bytes inside strings) and no surrogate
        // escape (serde_json rejects lone ones, the grammar does not).
        prop_assume!(std::str::from_utf8(&bytes).is_ok() && !has_surrogate_escape(&bytes));
        let ours = one_value(&bytes);
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(_) => prop_assert!(ours, "serde_json accepts, Scanner rejects: {:?}", String::from_utf8_lossy(&bytes)),
            // A number beyond binary64 is grammatical; serde_json rejects it for its range.
            Err(e) if e.to_string().contains("number out of range") => {}
            Err(e) => prop_assert!(!ours, "serde_json rejects ({}), Scanner accepts: {:?}", e, String::from_utf8_lossy(&bytes)),
        }
    }

    #[test]
    fn scanner_accepts_rendered_values(v in arb_value(), seed in any::<u64>()) {
        prop_assert!(one_value(&render(&v, seed)));
    }

    #[test]
    fn scanner_chunking_does_not_matter(
        bytes in prop_oneof![arb_jsonish(), prop::collection::vec(any::<u8>(), 0..64)],
        cuts in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        prop_assert_eq!(scan_chunks(&bytes, &cuts), scan_whole(&bytes));
    }

    #[test]
    fn keys_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), mutations in prop::collection::vec(arb_mutation(), 0..3)) {
        prop_assert!(KeySet::from_bytes(&bytes, None).is_err() || json::parse(&bytes, Profile::Receipt).is_ok());
        let doc = jcs::to_vec(&key_document(WS, vec![IssuerKey::from_seed(KID, &[42; 32]).jwk(KeyStatus::Active, "2026-01-01T00:00:00Z", None)]));
        let mutated = apply(doc, &mutations);
        if let Ok(keys) = KeySet::from_bytes(&mutated, None) {
            prop_assert_eq!(keys.sha256(), Hash::of(&mutated));
        }
    }
}
