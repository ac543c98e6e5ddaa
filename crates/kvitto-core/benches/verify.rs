//! What verifying a receipt costs, next to the Ed25519 check it cannot avoid.
//!
//!     cargo bench -p kvitto-core
//!
//! Benchmarks, all on one typical `check` receipt (~600 bytes) unless named:
//! - `receipt/verify_receipt`: the whole of section 7 (parse, shape, JCS,
//!   signature, key window, receipt hash);
//! - `receipt/parse`: the strict parse of the receipt alone (value dropped);
//! - `receipt/parse+jcs`: the strict parse of the receipt and JCS of its payload;
//! - `receipt/sha256(jcs)`: the receipt hash alone;
//! - `receipt/verify_strict`: bare `ed25519_dalek::VerifyingKey::verify_strict`
//!   over the same signing input and signature (the floor);
//! - `many/verify_many_1024`: the batch API over 1,024 distinct receipts;
//! - `many/verify_strict_1024`: bare `verify_strict` over the same 1,024
//!   signing inputs and signatures (the floor for the batch).
//!
//! The per-receipt overhead of kvitto over the floor is
//! `verify_receipt / verify_strict − 1`. Criterion measures the two apart;
//! after it, a paired measurement (batches of each, alternating) prints the
//! overhead directly, which is steadier on a shared machine.
//! docs/performance.md records the figures.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
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
    g.bench_function("parse", |b| {
        b.iter(|| json::parse(black_box(receipt), Profile::Receipt).expect("parses"))
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
    // The floor for the same 1,024 receipts: bare verify_strict over their
    // signing inputs and signatures, prepared outside the timed loop.
    let prepared: Vec<(Vec<u8>, Signature)> = many
        .iter()
        .map(|r| {
            let parsed = json::parse(r.as_bytes(), Profile::Receipt).expect("parses");
            let payload = parsed.get("payload").expect("payload");
            let input = signing_input(&jcs::to_vec(payload));
            let sig = Signature::from_bytes(&key.sign_bytes(&input));
            (input, sig)
        })
        .collect();
    g.bench_function("verify_strict_1024", |b| {
        b.iter(|| {
            prepared
                .iter()
                .all(|(input, sig)| black_box(&vk).verify_strict(input, sig).is_ok())
        })
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

/// The overhead of `verify_receipt` over bare `verify_strict`, measured
/// paired: batches of each alternate, so that load from other processes on
/// a shared machine hits both alike. Prints the minimum per-operation time
/// of each and the median of the per-round ratios.
fn paired_overhead() {
    const ROUNDS: usize = 100;
    const BATCH: u32 = 200;
    let seed: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(7));
    let key = IssuerKey::from_seed(KID, &seed);
    let doc = key_document(
        WS,
        vec![key.jwk(KeyStatus::Active, "2026-11-01T00:00:00Z", None)],
    );
    let keys = KeySet::from_bytes(&jcs::to_vec(&doc), None).expect("bench key document");
    let signed = check_receipt(&key, 1);
    let receipt = signed.json.as_bytes();
    let parsed = json::parse(receipt, Profile::Receipt).expect("bench receipt parses");
    let input = signing_input(&jcs::to_vec(parsed.get("payload").expect("payload")));
    let vk = VerifyingKey::from_bytes(&key.public_key()).expect("public key");
    let sig = Signature::from_bytes(&key.sign_bytes(&input));

    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..BATCH {
            f();
        }
        start.elapsed().as_secs_f64() / f64::from(BATCH)
    };
    let (mut full, mut bare, mut ratios) = (f64::MAX, f64::MAX, Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        let a = time(&|| {
            let _ = black_box(verify_receipt(black_box(receipt), black_box(&keys)));
        });
        let b = time(&|| {
            let _ = black_box(black_box(&vk).verify_strict(black_box(&input), black_box(&sig)));
        });
        full = full.min(a);
        bare = bare.min(b);
        ratios.push(a / b);
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ROUNDS / 2];
    println!(
        "paired ({ROUNDS} rounds of {BATCH}): verify_receipt min {:.2} µs, verify_strict min {:.2} µs, \
         overhead of the minima {:+.1}%, median per-round overhead {:+.1}%",
        full * 1e6,
        bare * 1e6,
        (full / bare - 1.0) * 100.0,
        (median - 1.0) * 100.0
    );
}

fn main() {
    benches();
    // Only when benchmarking (`cargo bench`): not under `cargo test --benches`,
    // `--list`, or criterion's `--profile-time` (used to profile one benchmark).
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--bench") && !has("--profile-time") && !has("--list") {
        paired_overhead();
    }
    Criterion::default().configure_from_args().final_summary();
}
