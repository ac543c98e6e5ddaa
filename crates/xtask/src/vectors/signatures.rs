//! Signature vectors: tampered payloads, altered signatures (bit flips, S + ℓ,
//! wrong key or prefix), and the encoding of `sig` (section 4).

use kvitto_core::sign::Signed;
use kvitto_core::{Value, b64};

use super::receipts::{AT, Gen, set_trailing_bits};
use super::text::{pretty, replace_once, set};

/// ℓ, the order of the base point, little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn sig_bytes(sig: &str) -> [u8; 64] {
    b64::decode::<64>(sig).expect("a signature we made decodes")
}

/// The same signature with S replaced by S + ℓ (still 32 bytes: S < ℓ < 2^253).
fn s_plus_ell(sig: &str) -> String {
    let mut b = sig_bytes(sig);
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(b[32 + i]) + u16::from(ELL[i]) + carry;
        b[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    b64::encode(&b)
}

fn flip(sig: &str, byte: usize) -> String {
    let mut b = sig_bytes(sig);
    b[byte] ^= 0x01;
    b64::encode(&b)
}

pub(crate) fn with_sig(s: &Signed, sig: &str) -> String {
    replace_once(
        &s.json,
        &format!("\"sig\":\"{}\"", s.sig),
        &format!("\"sig\":\"{sig}\""),
    )
}

pub(crate) fn all(g: &mut Gen<'_>) {
    let p = g.check();
    let s = g.sign(&p);
    let t = s.json.clone();
    let tampers: [(&str, &str, &str, &str); 9] = [
        (
            "tampered-scope",
            "\"scope\":\"email.send\"",
            "\"scope\":\"email.read\"",
            "The scope was changed after signing.",
        ),
        (
            "tampered-resource",
            "\"resource\":\"mailto:team@example.com\"",
            "\"resource\":\"mailto:all@example.com\"",
            "The resource was changed after signing.",
        ),
        (
            "tampered-cost",
            "\"estimated_cost_micros\":1200",
            "\"estimated_cost_micros\":12",
            "The estimated cost was changed after signing.",
        ),
        (
            "tampered-issued-at",
            AT,
            "2026-11-22T01:15:00.124Z",
            "issued_at was moved by one millisecond after signing.",
        ),
        (
            "tampered-context",
            "\"recipients\":3",
            "\"recipients\":30",
            "A nested context value was changed after signing.",
        ),
        (
            "tampered-seq",
            "\"seq\":7",
            "\"seq\":8",
            "seq was changed after signing.",
        ),
        (
            "tampered-receipt-id",
            "\"receipt_id\":\"rcpt_vec_1\"",
            "\"receipt_id\":\"rcpt_vec_2\"",
            "receipt_id was changed after signing.",
        ),
        (
            "tampered-added-member",
            "\"v\":1",
            "\"v\":1,\"x_added\":true",
            "A member was added to the payload after signing.",
        ),
        (
            "tampered-decision",
            "\"decision\":\"allow\",\"escalation_id\":null,\"escalation_to\":null,\"estimated_cost_micros\":1200,\"issued_at\":\"2026-11-22T01:15:00.123Z\",\"kid\":\"ws_demo.2026-11-01\",\"kind\":\"check\",\"prev\"",
            "\"decision\":\"deny\",\"escalation_id\":null,\"escalation_to\":null,\"estimated_cost_micros\":1200,\"issued_at\":\"2026-11-22T01:15:00.123Z\",\"kid\":\"ws_demo.2026-11-01\",\"kind\":\"check\",\"prev\"",
            "Decision allow became deny and reason ok became scope_not_authorized after signing.",
        ),
    ];
    for (name, from, to, desc) in tampers {
        let mut out = replace_once(&t, from, to);
        if name == "tampered-decision" {
            out = replace_once(
                &out,
                "\"reason\":\"ok\"",
                "\"reason\":\"scope_not_authorized\"",
            );
        }
        g.bad("signature_invalid", name, desc, out);
    }
    g.bad(
        "signature_invalid",
        "bitflip-r",
        "One bit of R flipped.",
        with_sig(&s, &flip(&s.sig, 0)),
    );
    g.bad(
        "signature_invalid",
        "bitflip-s",
        "One bit of S flipped.",
        with_sig(&s, &flip(&s.sig, 40)),
    );
    g.bad(
        "signature_invalid",
        "s-plus-ell",
        "S replaced by S + ℓ (the same scalar mod ℓ, still 32 bytes): S < ℓ is required.",
        with_sig(&s, &s_plus_ell(&s.sig)),
    );
    g.bad(
        "signature_invalid",
        "all-zero",
        "A signature of 64 zero bytes (R is a small-order point).",
        with_sig(&s, &b64::encode(&[0u8; 64])),
    );
    let mut other = g.check();
    set(&mut other, "receipt_id", Value::from("rcpt_vec_2"));
    let other = g.sign(&other);
    g.bad(
        "signature_invalid",
        "sig-of-other-receipt",
        "The signature of another receipt by the same key.",
        with_sig(&s, &other.sig),
    );
    let forged = g.k.unlisted.sign_payload(&p);
    g.bad(
        "signature_invalid",
        "wrong-key",
        "Signed by another key but naming the active key's kid.",
        with_sig(&s, &forged.sig),
    );
    let canonical = kvitto_core::jcs::to_vec(&p);
    let no_prefix = b64::encode(&g.active().sign_bytes(&canonical));
    g.bad(
        "signature_invalid",
        "no-domain-prefix",
        "Ed25519 over JCS(payload) without the kvitto/receipt/v1 LF prefix.",
        with_sig(&s, &no_prefix),
    );
    let mut head = b"kvitto/head/v1\n".to_vec();
    head.extend_from_slice(&canonical);
    g.bad(
        "signature_invalid",
        "head-prefix",
        "Signed with the reserved kvitto/head/v1 prefix instead of kvitto/receipt/v1.",
        with_sig(&s, &b64::encode(&g.active().sign_bytes(&head))),
    );
    let mut pretty_input = b"kvitto/receipt/v1\n".to_vec();
    pretty_input.extend_from_slice(pretty(&p).as_bytes());
    g.bad(
        "signature_invalid",
        "signed-non-canonical",
        "Signed over the pretty-printed payload instead of its JCS bytes.",
        with_sig(&s, &b64::encode(&g.active().sign_bytes(&pretty_input))),
    );

    // Encoding of sig.
    g.bad(
        "bad_signature_encoding",
        "padded",
        "sig with == padding (88 characters).",
        with_sig(&s, &format!("{}==", s.sig)),
    );
    // Find a signature holding - or _ (deterministic: vary the receipt id).
    let (sv, std_sig) = (0..64)
        .map(|i| {
            let mut q = g.check();
            set(&mut q, "receipt_id", Value::from(format!("rcpt_std_{i}")));
            g.sign(&q)
        })
        .find_map(|sv| {
            sv.sig
                .contains(['-', '_'])
                .then(|| (sv.clone(), sv.sig.replace('-', "+").replace('_', "/")))
        })
        .expect("some signature holds - or _");
    g.bad(
        "bad_signature_encoding",
        "standard-alphabet",
        "sig in the standard base64 alphabet (+ and / for - and _).",
        with_sig(&sv, &std_sig),
    );
    g.bad("bad_signature_encoding", "trailing-bits", "sig's last character has non-zero unused bits (decodes to the same bytes in a lenient decoder).", with_sig(&s, &set_trailing_bits(&s.sig)));
    g.bad(
        "bad_signature_encoding",
        "short",
        "sig is 85 characters.",
        with_sig(&s, &s.sig[..85]),
    );
    g.bad(
        "bad_signature_encoding",
        "long",
        "sig is 87 characters.",
        with_sig(&s, &format!("{}A", s.sig)),
    );
    g.bad(
        "bad_signature_encoding",
        "bad-character",
        "sig holds a character outside base64url.",
        with_sig(&s, &format!("{}.{}", &s.sig[..40], &s.sig[41..])),
    );
    g.bad(
        "bad_signature_encoding",
        "empty",
        "sig is the empty string.",
        with_sig(&s, ""),
    );
    g.bad(
        "bad_signature_encoding",
        "hex",
        "sig is the signature in hex (128 characters).",
        with_sig(
            &s,
            &sig_bytes(&s.sig)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        ),
    );
    let sig_member = format!("\"sig\":\"{}\"", s.sig);
    g.bad(
        "bad_structure",
        "sig-number",
        "sig is a number.",
        replace_once(&t, &sig_member, "\"sig\":12"),
    );
    g.bad(
        "bad_structure",
        "sig-null",
        "sig is null.",
        replace_once(&t, &sig_member, "\"sig\":null"),
    );
    g.bad(
        "bad_structure",
        "sig-array",
        "sig is an array of the two halves.",
        replace_once(
            &t,
            &sig_member,
            &format!("\"sig\":[\"{}\",\"{}\"]", &s.sig[..43], &s.sig[43..]),
        ),
    );
    g.bad(
        "bad_structure",
        "sig-missing",
        "The receipt has no sig.",
        replace_once(&t, &format!(",{sig_member}"), ""),
    );
}
