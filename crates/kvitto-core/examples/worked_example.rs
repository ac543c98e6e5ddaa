//! The worked example of docs/format.md, end to end: a key from a fixed seed,
//! its key document, a signed `check` receipt, and every intermediate value a
//! second implementation needs to reproduce byte for byte.
//!
//!     cargo run -p kvitto-core --example worked_example --features sign
//!
//! Everything is deterministic (Ed25519 signatures are), so the output never
//! changes. It also writes `keys.json` and `receipt.json` into the directory
//! named by the first argument, if one is given, so that
//! `sha256sum keys.json` can be compared with the printed pin.

use std::fmt::Write as _;

use kvitto_core::sign::{Common, IssuerKey, key_document, object, payload, receipt_hash};
use kvitto_core::verify::signing_input;
use kvitto_core::{Hash, KeySet, KeyStatus, Kind, Value, jcs, verify_receipt};

const WORKSPACE: &str = "ws_demo";
const KID: &str = "ws_demo.2026-11-22";

/// Pretty-print a value with two-space indentation, members in the given order.
fn pretty(v: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                pretty(item, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&end);
            out.push(']');
        }
        Value::Object(members) if !members.is_empty() => {
            out.push_str("{\n");
            for (i, (name, value)) in members.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&String::from_utf8_lossy(&jcs::to_vec(&Value::from(
                    name.as_str(),
                ))));
                out.push_str(": ");
                pretty(value, indent + 1, out);
                out.push_str(if i + 1 < members.len() { ",\n" } else { "\n" });
            }
            out.push_str(&end);
            out.push('}');
        }
        other => out.push_str(&String::from_utf8_lossy(&jcs::to_vec(other))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The issuer's key: the RFC 8032 secret seed 00 01 02 … 1f.
    let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
    let key = IssuerKey::from_seed(KID, &seed);

    // 2. The key document, as the issuer serves it (here: canonical JSON
    //    plus a final LF, the way a file usually ends).
    let doc = key_document(
        WORKSPACE,
        vec![key.jwk(KeyStatus::Active, "2026-11-22T00:00:00Z", None)],
    );
    let mut doc_text = String::new();
    pretty(&doc, 0, &mut doc_text);
    doc_text.push('\n');
    let keys = KeySet::from_bytes(doc_text.as_bytes(), None)?;

    // 3. A check receipt: seq 1 of authorization auth_01JD…, after the
    //    authorization.created receipt whose hash it names in prev.
    let created = payload(
        Kind::AuthorizationCreated,
        &Common {
            receipt_id: "rcpt_01JDQ7Z0000000000000000000",
            workspace_id: WORKSPACE,
            authorization_id: "auth_01JDQ7YZZZZZZZZZZZZZZZZZZZ",
            seq: 0,
            prev: None,
            issued_at: "2026-11-22T01:14:59Z",
            kid: KID,
        },
        [
            ("user_id", Value::from("user_42")),
            ("agent_id", Value::from("agent_mail_triage")),
            (
                "scopes",
                Value::Array(vec![object([
                    ("name", Value::from("mail:send")),
                    (
                        "constraints",
                        object([("max_recipients", Value::from(5u64))]),
                    ),
                ])]),
            ),
            ("requires_confirm_for", Value::Array(vec![])),
            ("requires_escalation_for", Value::Array(vec![])),
            ("escalation_targets", object([])),
            ("expires_at", Value::from("2026-11-23T01:14:59Z")),
            ("budget_limit_micros", Value::from(2_000_000u64)),
            ("metadata", object([])),
        ],
    );
    let check = payload(
        Kind::Check,
        &Common {
            receipt_id: "rcpt_01JDQ7Z0000000000000000001",
            workspace_id: WORKSPACE,
            authorization_id: "auth_01JDQ7YZZZZZZZZZZZZZZZZZZZ",
            seq: 1,
            prev: Some(receipt_hash(&created)),
            issued_at: "2026-11-22T01:15:00.123Z",
            kid: KID,
        },
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
                    ("subject", Value::from("Café order – week 47")),
                ]),
            ),
            ("estimated_cost_micros", Value::from(1_200u64)),
            (
                "budget",
                object([
                    ("limit_micros", Value::from(2_000_000u64)),
                    ("spent_before_micros", Value::from(0u64)),
                    ("spent_after_micros", Value::from(1_200u64)),
                ]),
            ),
            ("confirm_nonce", Value::Null),
            ("escalation_id", Value::Null),
            ("escalation_to", Value::Null),
        ],
    );
    let signed = key.sign_payload(&check);
    let canonical = jcs::to_vec(&check);
    let input = signing_input(&canonical);

    // 4. Verify it as a verifier would, from the pretty-printed text.
    let mut receipt_text = String::new();
    pretty(&signed.receipt, 0, &mut receipt_text);
    let verified = verify_receipt(receipt_text.as_bytes(), &keys)?;
    assert_eq!(verified.receipt_hash, signed.receipt_hash);

    println!("== seed (hex)\n{}\n", hex(&seed));
    println!("== public key (hex)\n{}\n", hex(&key.public_key()));
    println!("== keys.json ({} bytes)\n{doc_text}", doc_text.len());
    println!(
        "== pin of keys.json (sha256sum keys.json)\n{}\n",
        keys.sha256()
    );
    println!("== receipt (pretty-printed)\n{receipt_text}\n");
    println!(
        "== JCS(payload) ({} bytes)\n{}\n",
        canonical.len(),
        String::from_utf8(canonical.clone())?
    );
    println!(
        "== signing input ({} bytes, hex)\n{}\n",
        input.len(),
        hex(&input)
    );
    println!("== sig (base64url)\n{}\n", signed.sig);
    println!(
        "== receipt hash = sha256(JCS(payload))\n{}\n",
        signed.receipt_hash
    );
    println!(
        "== prev of this receipt = hash of seq 0\n{}\n",
        receipt_hash(&created)
    );
    println!(
        "== verified: {} seq {} signed by {} (document {})",
        verified.header.receipt_id,
        verified.header.seq,
        verified.key.kid,
        keys.sha256()
    );
    assert_eq!(verified.receipt_hash, Hash::of(&canonical));

    if let Some(dir) = std::env::args().nth(1) {
        let dir = std::path::Path::new(&dir);
        std::fs::write(dir.join("keys.json"), &doc_text)?;
        std::fs::write(dir.join("receipt.json"), format!("{receipt_text}\n"))?;
    }
    Ok(())
}
