//! Issuer keys from fixed labels, the key documents receipts are checked
//! against, and the key-document vectors (section 6).

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use kvitto_core::sign::{IssuerKey, key_document};
use kvitto_core::{Hash, KeyStatus, Value, b64};

use super::Corpus;
use super::text::{self, obj, pretty, set};

/// Every seed is SHA-256 of this prefix followed by the key's label.
pub(crate) const SEED_PREFIX: &str = "kvitto/test-vectors/v1/";

/// (kid, label) of every signing key of the corpus.
pub(crate) const LABELS: [(&str, &str); 7] = [
    ("ws_demo.2026-11-01", "ws_demo/active"),
    ("ws_demo.2026-01-01", "ws_demo/retired"),
    ("ws_demo.2025-06-01", "ws_demo/revoked"),
    ("ws_other.2026-09-01", "ws_other/active"),
    ("ws_demo.unlisted", "ws_demo/unlisted"),
    ("ws_acme.2026-10-01", "sample/active"),
    ("ws_acme.2026-03-01", "sample/retired"),
];

pub(crate) const DEMO: &str = "keys/ws_demo.json";
pub(crate) const OTHER: &str = "keys/ws_other.json";
pub(crate) const SAMPLE: &str = "sample/keys.json";

/// Windows of the ws_demo keys.
pub(crate) const REVOKED_FROM: &str = "2025-06-01T00:00:00Z";
pub(crate) const RETIRED_FROM: &str = "2026-01-01T00:00:00Z";
pub(crate) const ACTIVE_FROM: &str = "2026-11-01T00:00:00Z";

fn issuer(index: usize) -> IssuerKey {
    let (kid, label) = LABELS[index];
    let seed = Hash::of(format!("{SEED_PREFIX}{label}").as_bytes()).0;
    IssuerKey::from_seed(kid, &seed)
}

/// The signing keys of the corpus.
#[derive(Debug)]
pub(crate) struct Issuers {
    pub(crate) active: IssuerKey,
    pub(crate) retired: IssuerKey,
    pub(crate) revoked: IssuerKey,
    pub(crate) other: IssuerKey,
    pub(crate) unlisted: IssuerKey,
    pub(crate) sample_active: IssuerKey,
    pub(crate) sample_retired: IssuerKey,
}

impl Issuers {
    pub(crate) fn new() -> Issuers {
        Issuers {
            active: issuer(0),
            retired: issuer(1),
            revoked: issuer(2),
            other: issuer(3),
            unlisted: issuer(4),
            sample_active: issuer(5),
            sample_retired: issuer(6),
        }
    }

    fn demo_jwks(&self) -> Vec<Value> {
        vec![
            self.active.jwk(KeyStatus::Active, ACTIVE_FROM, None),
            self.retired
                .jwk(KeyStatus::Retired, RETIRED_FROM, Some(ACTIVE_FROM)),
            self.revoked
                .jwk(KeyStatus::Revoked, REVOKED_FROM, Some(RETIRED_FROM)),
        ]
    }
}

fn doc_bytes(ws: &str, jwks: Vec<Value>) -> Vec<u8> {
    let mut s = pretty(&key_document(ws, jwks));
    s.push('\n');
    s.into_bytes()
}

/// The key documents receipts, exports and chains are verified against.
pub(crate) fn documents(c: &mut Corpus, k: &Issuers) {
    c.key_document(DEMO, doc_bytes("ws_demo", k.demo_jwks()));
    c.key_document(
        OTHER,
        doc_bytes(
            "ws_other",
            vec![k.other.jwk(KeyStatus::Active, "2026-09-01T00:00:00Z", None)],
        ),
    );
    c.key_document(
        SAMPLE,
        doc_bytes(
            "ws_acme",
            vec![
                k.sample_active
                    .jwk(KeyStatus::Active, "2026-10-01T00:00:00Z", None),
                k.sample_retired.jwk(
                    KeyStatus::Retired,
                    "2026-03-01T00:00:00Z",
                    Some("2026-10-01T00:00:00Z"),
                ),
            ],
        ),
    );
}

/// 32 little-endian bytes of p + k, p = 2^255 - 19 (a non-canonical encoding of y = k).
fn p_plus(k: u8) -> [u8; 32] {
    let mut b = [0xffu8; 32];
    b[0] = 0xed + k;
    b[31] = 0x7f;
    b
}

fn small_y(k: u8) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = k;
    b
}

fn jwk_with_x(base: &IssuerKey, status: KeyStatus, x: &str) -> Value {
    let mut jwk = base.jwk(status, ACTIVE_FROM, None);
    set(&mut jwk, "x", Value::from(x));
    jwk
}

/// The key-document vectors.
pub(crate) fn vectors(c: &mut Corpus, k: &Issuers) {
    let demo_bytes = doc_bytes("ws_demo", k.demo_jwks());
    let demo_kids = vec![
        "ws_demo.2026-11-01",
        "ws_demo.2026-01-01",
        "ws_demo.2025-06-01",
    ];
    c.keys(
        "keys/ok/ws_demo",
        "The rotated ws_demo document: an active, a retired and a revoked key.",
        DEMO,
        demo_bytes.clone(),
        None,
        Ok(("ws_demo", demo_kids.clone())),
    );
    let pin = Hash::of(&demo_bytes).to_string();
    c.keys(
        "keys/ok/pinned",
        "The ws_demo document with its correct pin.",
        DEMO,
        demo_bytes.clone(),
        Some(&pin),
        Ok(("ws_demo", demo_kids.clone())),
    );
    let upper = format!("sha256:{}", pin["sha256:".len()..].to_uppercase());
    c.keys(
        "keys/ok/pinned-uppercase",
        "The correct pin written in uppercase hex is compared without regard to case.",
        DEMO,
        demo_bytes.clone(),
        Some(&upper),
        Ok(("ws_demo", demo_kids.clone())),
    );
    let other_pin = Hash::of(b"some other document").to_string();
    c.keys(
        "keys/pin_mismatch/wrong-pin",
        "The ws_demo document with a pin of other bytes.",
        DEMO,
        demo_bytes.clone(),
        Some(&other_pin),
        Err("pin_mismatch"),
    );
    c.keys(
        "keys/ok/ws_other",
        "A document with one active key.",
        OTHER,
        doc_bytes(
            "ws_other",
            vec![k.other.jwk(KeyStatus::Active, "2026-09-01T00:00:00Z", None)],
        ),
        None,
        Ok(("ws_other", vec!["ws_other.2026-09-01"])),
    );

    let compact_pin =
        Hash::of(text::compact(&key_document("ws_demo", k.demo_jwks())).as_bytes()).to_string();
    c.keys(
        "keys/pin_mismatch/pin-of-other-layout",
        "The pin of the same document written compactly: a pin covers the bytes, not the content.",
        DEMO,
        demo_bytes.clone(),
        Some(&compact_pin),
        Err("pin_mismatch"),
    );
    let bare = &other_pin["sha256:".len()..];
    c.keys(
        "keys/pin_mismatch/wrong-bare-hex",
        "A wrong pin given as bare hex.",
        DEMO,
        demo_bytes.clone(),
        Some(bare),
        Err("pin_mismatch"),
    );
    c.keys(
        "keys/ok/pinned-bare-hex",
        "The correct pin given as bare hex.",
        DEMO,
        demo_bytes.clone(),
        Some(&pin["sha256:".len()..]),
        Ok(("ws_demo", demo_kids.clone())),
    );
    c.keys(
        "keys/pin_mismatch/before-keys-invalid",
        "A wrong pin on a document that is not JSON: the pin is checked before the content.",
        "keys/keys_invalid/not-json.json",
        b"workspace_id: ws_demo\nkeys: []\n".to_vec(),
        Some(&other_pin),
        Err("pin_mismatch"),
    );
    let mut add = |name: &str,
                   desc: &str,
                   bytes: Vec<u8>,
                   expect: Result<(&str, Vec<&str>), &'static str>| {
        let code = match &expect {
            Ok(_) => "ok",
            Err(code) => code,
        };
        c.keys(
            &format!("keys/{code}/{name}"),
            desc,
            &format!("keys/{code}/{name}.json"),
            bytes,
            None,
            expect,
        );
    };
    add(
        "empty",
        "An empty keys array is a valid document.",
        doc_bytes("ws_demo", vec![]),
        Ok(("ws_demo", vec![])),
    );
    let rsa = obj(vec![
        ("kty", Value::from("RSA")),
        ("kid", Value::from("rsa-1")),
        ("n", Value::from("sXch")),
        ("e", Value::from("AQAB")),
    ]);
    let x25519 = obj(vec![
        ("kty", Value::from("OKP")),
        ("crv", Value::from("X25519")),
        ("kid", Value::from("x-1")),
        ("x", Value::from(k.other.x())),
    ]);
    add(
        "non-ed25519-ignored",
        "An RSA key and an X25519 key are ignored; the Ed25519 key remains.",
        doc_bytes(
            "ws_demo",
            vec![
                rsa,
                x25519,
                k.active.jwk(KeyStatus::Active, ACTIVE_FROM, None),
            ],
        ),
        Ok(("ws_demo", vec!["ws_demo.2026-11-01"])),
    );
    let mut extra_top = key_document(
        "ws_demo",
        vec![k.active.jwk(KeyStatus::Active, ACTIVE_FROM, None)],
    );
    set(
        &mut extra_top,
        "issuer",
        Value::from("https://kvitto.example/ws_demo"),
    );
    add(
        "extra-top-level-member",
        "Other top-level members are ignored.",
        pretty(&extra_top).into_bytes(),
        Ok(("ws_demo", vec!["ws_demo.2026-11-01"])),
    );
    let mut no_after = k.active.jwk(KeyStatus::Active, ACTIVE_FROM, None);
    text::remove(&mut no_after, "not_after");
    add(
        "not-after-absent",
        "An absent not_after is an open window.",
        doc_bytes("ws_demo", vec![no_after]),
        Ok(("ws_demo", vec!["ws_demo.2026-11-01"])),
    );

    // keys_invalid: one defect each.
    let active = || k.active.jwk(KeyStatus::Active, ACTIVE_FROM, None);
    let retired = || {
        k.retired
            .jwk(KeyStatus::Retired, RETIRED_FROM, Some(ACTIVE_FROM))
    };
    let point = CompressedEdwardsY(k.active.public_key())
        .decompress()
        .expect("a public key is a point");
    let torsioned = (point + EIGHT_TORSION[1]).compress().to_bytes();
    add(
        "torsioned",
        "x is a valid point plus a point of order 8.",
        doc_bytes(
            "ws_demo",
            vec![jwk_with_x(
                &k.active,
                KeyStatus::Active,
                &b64::encode(&torsioned),
            )],
        ),
        Err("keys_invalid"),
    );
    let small = EIGHT_TORSION[1].compress().to_bytes();
    add(
        "small-order",
        "x is a point of order 8.",
        doc_bytes(
            "ws_demo",
            vec![jwk_with_x(
                &k.active,
                KeyStatus::Active,
                &b64::encode(&small),
            )],
        ),
        Err("keys_invalid"),
    );
    add(
        "identity",
        "x is the identity point (order 1).",
        doc_bytes(
            "ws_demo",
            vec![jwk_with_x(
                &k.active,
                KeyStatus::Active,
                &b64::encode(&small_y(1)),
            )],
        ),
        Err("keys_invalid"),
    );
    let noncanon = (2u8..=18)
        .find(|&y| CompressedEdwardsY(small_y(y)).decompress().is_some())
        .expect("some small y is on the curve");
    add(
        "non-canonical-y",
        "x encodes y + p (y >= p), a non-canonical encoding of a curve point.",
        doc_bytes(
            "ws_demo",
            vec![jwk_with_x(
                &k.active,
                KeyStatus::Active,
                &b64::encode(&p_plus(noncanon)),
            )],
        ),
        Err("keys_invalid"),
    );
    let off_curve = (2u8..=18)
        .find(|&y| CompressedEdwardsY(small_y(y)).decompress().is_none())
        .expect("some small y is off the curve");
    add(
        "not-on-curve",
        "x is the encoding of a y with no curve point.",
        doc_bytes(
            "ws_demo",
            vec![jwk_with_x(
                &k.active,
                KeyStatus::Active,
                &b64::encode(&small_y(off_curve)),
            )],
        ),
        Err("keys_invalid"),
    );
    let x = k.active.x();
    add(
        "x-padded",
        "x is base64url with = padding.",
        doc_bytes(
            "ws_demo",
            vec![jwk_with_x(&k.active, KeyStatus::Active, &format!("{x}="))],
        ),
        Err("keys_invalid"),
    );
    let std_key = [
        &k.active,
        &k.retired,
        &k.revoked,
        &k.other,
        &k.unlisted,
        &k.sample_active,
        &k.sample_retired,
    ]
    .into_iter()
    .find(|key| key.x().contains(['-', '_']))
    .expect("some key's x has a - or _");
    add(
        "x-standard-alphabet",
        "x uses the standard base64 alphabet (+ or /).",
        doc_bytes(
            "ws_demo",
            vec![jwk_with_x(
                std_key,
                KeyStatus::Active,
                &std_key.x().replace('-', "+").replace('_', "/"),
            )],
        ),
        Err("keys_invalid"),
    );
    add(
        "x-trailing-bits",
        "x's last character has non-zero unused bits.",
        doc_bytes(
            "ws_demo",
            vec![jwk_with_x(
                &k.active,
                KeyStatus::Active,
                &super::receipts::set_trailing_bits(&x),
            )],
        ),
        Err("keys_invalid"),
    );
    add(
        "x-short",
        "x is 31 bytes.",
        doc_bytes(
            "ws_demo",
            vec![jwk_with_x(
                &k.active,
                KeyStatus::Active,
                &b64::encode(&k.active.public_key()[..31]),
            )],
        ),
        Err("keys_invalid"),
    );
    let mut dup_kid = retired();
    set(&mut dup_kid, "kid", Value::from(k.active.kid()));
    add(
        "duplicate-kid",
        "Two keys share a kid.",
        doc_bytes("ws_demo", vec![active(), dup_kid]),
        Err("keys_invalid"),
    );
    let mut dup_x = retired();
    set(&mut dup_x, "x", Value::from(k.active.x()));
    add(
        "duplicate-x",
        "Two kids share one x.",
        doc_bytes("ws_demo", vec![active(), dup_x]),
        Err("keys_invalid"),
    );
    let mut private = active();
    set(&mut private, "d", Value::from(b64::encode(&[7u8; 32])));
    add(
        "private-d",
        "A key holds the private member d.",
        doc_bytes("ws_demo", vec![private]),
        Err("keys_invalid"),
    );
    let mut unknown_status = active();
    set(&mut unknown_status, "status", Value::from("suspended"));
    add(
        "unknown-status",
        "A key's status is not active, retired or revoked.",
        doc_bytes("ws_demo", vec![unknown_status]),
        Err("keys_invalid"),
    );
    add(
        "not-after-equal",
        "not_after equals not_before.",
        doc_bytes(
            "ws_demo",
            vec![
                k.active
                    .jwk(KeyStatus::Active, ACTIVE_FROM, Some(ACTIVE_FROM)),
            ],
        ),
        Err("keys_invalid"),
    );
    add(
        "not-after-before",
        "not_after is before not_before.",
        doc_bytes(
            "ws_demo",
            vec![
                k.active
                    .jwk(KeyStatus::Active, ACTIVE_FROM, Some(RETIRED_FROM)),
            ],
        ),
        Err("keys_invalid"),
    );
    let mut bad_nb = active();
    set(
        &mut bad_nb,
        "not_before",
        Value::from("2026-11-01T00:00:00+00:00"),
    );
    add(
        "not-before-offset",
        "not_before is not an RFC 3339 UTC instant with Z.",
        doc_bytes("ws_demo", vec![bad_nb]),
        Err("keys_invalid"),
    );
    let mut no_x = active();
    text::remove(&mut no_x, "x");
    add(
        "x-missing",
        "An Ed25519 key has no x.",
        doc_bytes("ws_demo", vec![no_x]),
        Err("keys_invalid"),
    );
    let mut no_kid = active();
    text::remove(&mut no_kid, "kid");
    add(
        "kid-missing",
        "An Ed25519 key has no kid.",
        doc_bytes("ws_demo", vec![no_kid]),
        Err("keys_invalid"),
    );
    let no_ws = obj(vec![("keys", Value::Array(vec![active()]))]);
    add(
        "workspace-missing",
        "The document has no workspace_id.",
        pretty(&no_ws).into_bytes(),
        Err("keys_invalid"),
    );
    let keys_obj = obj(vec![
        ("workspace_id", Value::from("ws_demo")),
        ("keys", obj(vec![])),
    ]);
    add(
        "keys-not-array",
        "keys is an object, not an array.",
        pretty(&keys_obj).into_bytes(),
        Err("keys_invalid"),
    );
    add(
        "not-json",
        "The document is not JSON.",
        b"workspace_id: ws_demo\nkeys: []\n".to_vec(),
        Err("keys_invalid"),
    );
    let text = String::from_utf8(doc_bytes("ws_demo", vec![active()])).expect("utf-8");
    let dup = text::replace_once(
        &text,
        "\"workspace_id\": \"ws_demo\",",
        "\"workspace_id\": \"ws_demo\",\n  \"workspace_id\": \"ws_demo\",",
    );
    add(
        "duplicate-member",
        "The document repeats the member workspace_id (a strict-JSON defect is keys_invalid).",
        dup.into_bytes(),
        Err("keys_invalid"),
    );
    let nested_dup = text::replace_once(
        &text,
        "\"status\": \"active\",",
        "\"status\": \"active\",\n      \"status\": \"active\",",
    );
    add(
        "duplicate-member-nested",
        "A key repeats the member status.",
        nested_dup.into_bytes(),
        Err("keys_invalid"),
    );

    // Size: 1 MiB + 1 is too_large (1 MiB exactly is covered for receipts).
    let size = (1usize << 20) + 1;
    c.keys(
        "keys/too_large/1mib-plus-1",
        &format!("A document of {size} bytes (padded by an ignored member)."),
        "keys/too_large/1mib-plus-1.json",
        padded_document(k, size),
        None,
        Err("too_large"),
    );
    c.keys(
        "keys/too_large/before-pin",
        "The same oversized document with a wrong pin: size is checked before the pin.",
        "keys/too_large/1mib-plus-1.json",
        padded_document(k, size),
        Some(&other_pin),
        Err("too_large"),
    );
}

/// A valid one-key document padded by an ignored top-level member to exactly `size` bytes.
fn padded_document(k: &Issuers, size: usize) -> Vec<u8> {
    let build = |pad: usize| {
        let mut doc = key_document(
            "ws_demo",
            vec![k.active.jwk(KeyStatus::Active, ACTIVE_FROM, None)],
        );
        set(&mut doc, "padding", Value::from("a".repeat(pad)));
        text::compact(&doc).into_bytes()
    };
    let base = build(0).len();
    let bytes = build(size - base);
    assert_eq!(bytes.len(), size);
    bytes
}
