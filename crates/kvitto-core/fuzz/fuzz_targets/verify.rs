//! Receipts and exports from arbitrary bytes, against a fixed key document
//! (the worked example's key: `cargo run -p kvitto-core --example
//! worked_example --features sign`).
//!
//! Input starting with `S`: the rest, if it parses as an object, is merged
//! into a valid check payload (its members replace or extend the payload's),
//! signed with the fixed key and verified: a receipt signed this way may fail
//! its shape checks but never its signature. Any other input is verified as it is.

#![no_main]

use std::sync::LazyLock;

use kvitto_core::json::{self, Profile, Value};
use kvitto_core::sign::{Common, IssuerKey, key_document, object, payload};
use kvitto_core::{Body, Hash, KeySet, KeyStatus, Kind, jcs, records, verify_export, verify_receipt};
use libfuzzer_sys::fuzz_target;

const WS: &str = "ws_demo";
const KID: &str = "ws_demo.2026-11-22";

struct Fixture {
    key: IssuerKey,
    keys: KeySet,
    base: Vec<(String, Value)>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
    let key = IssuerKey::from_seed(KID, &seed);
    let doc = key_document(
        WS,
        vec![key.jwk(KeyStatus::Active, "2026-11-22T00:00:00Z", None)],
    );
    let keys = KeySet::from_bytes(&jcs::to_vec(&doc), None).expect("fixed key document");
    let prev = Hash::of(b"seq 0");
    let common = Common {
        receipt_id: "rcpt_0001",
        workspace_id: WS,
        authorization_id: "auth_0001",
        seq: 1,
        prev: Some(prev),
        issued_at: "2026-11-22T01:15:00.123Z",
        kid: KID,
    };
    let p = payload(
        Kind::Check,
        &common,
        [
            ("scope", Value::from("files:read")),
            ("decision", Value::from("allow")),
            ("reason", Value::from("ok")),
            ("resource", Value::Null),
            ("session_id", Value::Null),
            ("context", object([])),
            ("estimated_cost_micros", Value::Null),
            ("budget", Value::Null),
            ("confirm_nonce", Value::Null),
            ("escalation_id", Value::Null),
            ("escalation_to", Value::Null),
        ],
    );
    let Value::Object(base) = p else {
        unreachable!()
    };
    Fixture { key, keys, base }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    if let Some(rest) = data.strip_prefix(b"S") {
        let Ok(Value::Object(extra)) = json::parse(rest, Profile::Receipt) else {
            return;
        };
        let mut members = f.base.clone();
        for (name, value) in extra {
            match members.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = value,
                None => members.push((name, value)),
            }
        }
        let p = Value::Object(members);
        let signed = f.key.sign_payload(&p);
        match verify_receipt(signed.json.as_bytes(), &f.keys) {
            Ok(v) => {
                assert_eq!(v.receipt_hash, signed.receipt_hash);
                assert_eq!(jcs::to_vec(&v.payload), jcs::to_vec(&p));
            }
            Err(e) => assert!(
                !matches!(
                    e.code(),
                    "signature_invalid"
                        | "bad_signature_encoding"
                        | "malformed_json"
                        | "duplicate_key"
                        | "invalid_string"
                        | "number_out_of_range"
                ),
                "a correctly signed receipt failed with {}: {e}",
                e.code()
            ),
        }
        return;
    }
    let keysets = core::slice::from_ref(&f.keys);
    if let Ok(v) = verify_receipt(data, &f.keys) {
        assert_eq!(v.receipt_hash, Hash::of(&jcs::to_vec(&v.payload)));
        assert_eq!(v.key.kid, KID);
    }
    let recs = records(data);
    let report = verify_export(data, keysets, true);
    assert_eq!(report.records.len(), recs.len());
    for (r, rep) in recs.iter().zip(&report.records) {
        assert_eq!(r.offset, rep.offset);
        let Body::Text(text) = &r.body else {
            panic!("a fuzz input is under 1 MiB")
        };
        assert_eq!(
            verify_receipt(text, &f.keys)
                .map(|v| v.receipt_hash)
                .map_err(|e| e.code()),
            rep.outcome
                .receipt_hash()
                .ok_or_else(|| rep.outcome.error().map_or("", |e| e.code()))
        );
    }
    let grouped: u64 = report.chains.iter().map(|c| c.receipts).sum();
    assert_eq!(grouped + report.ungrouped, report.records.len() as u64);
});
