//! What verifying a receipt costs, next to the Ed25519 check it cannot avoid.
//!
//!     cargo bench -p kvitto-core
//!
//! Benchmarks, all on one typical `check` receipt (~600 bytes) unless named:
//! - `receipt/verify_receipt`: the whole of section 7 (parse, shape, JCS,
//!   signature, key window, receipt hash);
//! - `receipt/parse+jcs`: the strict parse of the receipt and JCS of its payload;
//! - `receipt/sha256(jcs)`: the receipt hash alone;
//! - `receipt/verify_strict`: bare `ed25519_dalek::VerifyingKey::verify_strict`
//!   over the same signing input and signature (the floor);
//! - `many/verify_many`: 1,024 distinct receipts, reported per receipt.
//!
//! The per-receipt overhead of kvitto over the floor is
//! `verify_receipt / verify_strict − 1`; docs/performance.md records it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use kvitto_core::json::{self, Profile, Value};
use kvitto_core::sign::{Common, IssuerKey, Signed, key_document, object, payload};
use kvitto_core::verify::signing_input;
use kvitto_core::{Hash, KeySet, KeyStatus, Kind, jcs, verify_many, verify_receipt};

const WS: &str = "ws_bench";
const KID: &str = "ws_bench.2026-11-22";

/// A realistic check receipt: seq `n` of an authorization, every member of
/// the kind present, a small context and a budget.
fn check_receipt(key: &IssuerKey, n: u64) -> Signed {
    let receipt_id = format!("rcpt_01JDQ7Z{n:016}");
    let issued_at = format!(
        "2026-11-22T01:{:02}:{:02}.{:03}Z",
        n / 60 % 60,
        n % 60,
        n % 1000
    );
    let common = Common {
        receipt_id: &receipt_id,
        workspace_id: WS,
        authorization_id: "auth_01JDQ7YZZZZZZZZZZZZZ",
        seq: n + 1,
        prev: Some(Hash::of(&n.to_be_bytes())),
        issued_at: &issued_at,
        kid: KID,
    };
    let p = payload(
        Kind::Check,
        &common,
        [
            ("scope", Value::from("mail:send")),
            ("decision", Value::from("allow")),
            ("reason", Value::from("ok")),
            ("resource", Value::from("mailto:ops@example.com")),
            ("session_id", Value::from("sess_7")),
            (
                "context",
                object([
                    ("recipients", Value::from(1u64)),
                    ("tool", Value::from("send_mail")),
                    ("ip", Value::from("192.0.2.7")),
                ]),
            ),
            ("estimated_cost_micros", Value::from(1_200u64)),
            (
                "budget",
                object([
                    ("limit_micros", Value::from(2_000_000u64)),
                    ("spent_before_micros", Value::from(1_200 * n)),
                    ("spent_after_micros", Value::from(1_200 * (n + 1))),
                ]),
            ),
            ("confirm_nonce", Value::Null),
            ("escalation_id", Value::Null),
            ("escalation_to", Value::Null),
        ],
    );
    key.sign_payload(&p)
}

fn bench(c: &mut Criterion) {
    let seed: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(7));
    let key = IssuerKey::from_seed(KID, &seed);
    let doc = key_document(
        WS,
        vec![key.jwk(KeyStatus::Active, "2026-11-01T00:00:00Z", None)],
    );
    let keys = KeySet::from_bytes(&jcs::to_vec(&doc), None).expect("bench key document");
    let keysets = std::slice::from_ref(&keys);

    let signed = check_receipt(&key, 1);
    let receipt = signed.json.as_bytes();
    let canonical = {
        let parsed = json::parse(receipt, Profile::Receipt).expect("bench receipt parses");
        jcs::to_vec(parsed.get("payload").expect("payload"))
    };
    let input = signing_input(&canonical);
    let vk = VerifyingKey::from_bytes(&key.public_key()).expect("public key");
    let sig_bytes: [u8; 64] = key.sign_bytes(&input);
    let sig = Signature::from_bytes(&sig_bytes);
    assert!(verify_receipt(receipt, &keys).is_ok());
    assert!(vk.verify_strict(&input, &sig).is_ok());
    eprintln!(
        "bench receipt: {} bytes of text, JCS(payload) {} bytes",
        receipt.len(),
        canonical.len()
    );

    let mut g = c.benchmark_group("receipt");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_receipt", |b| {
        b.iter(|| verify_receipt(black_box(receipt), black_box(&keys)))
    });
    g.bench_function("parse+jcs", |b| {
        b.iter(|| {
            let v = json::parse(black_box(receipt), Profile::Receipt).expect("parses");
            jcs::to_vec(v.get("payload").unwrap_or(&Value::Null))
        })
    });
    g.bench_function("sha256(jcs)", |b| {
        b.iter(|| Hash::of(black_box(&canonical)))
    });
    g.bench_function("verify_strict", |b| {
        b.iter(|| black_box(&vk).verify_strict(black_box(&input), black_box(&sig)))
    });
    g.finish();

    let many: Vec<String> = (0..1024).map(|n| check_receipt(&key, n).json).collect();
    assert!(
        verify_many(many.iter().map(|s| s.as_bytes()), keysets)
            .iter()
            .all(Result::is_ok)
    );
    let mut g = c.benchmark_group("many");
    g.throughput(Throughput::Elements(many.len() as u64));
    g.sample_size(20);
    g.bench_function("verify_many_1024", |b| {
        b.iter(|| verify_many(many.iter().map(|s| s.as_bytes()), black_box(keysets)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
