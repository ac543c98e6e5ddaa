//! The issuer side (feature `sign`): build payloads, chain them, sign receipts.

use alloc::string::String;
use alloc::vec::Vec;

use ed25519_dalek::{Signer, SigningKey};

use crate::json::{self, Profile, Value};
use crate::keys::{Hash, KeyStatus};
use crate::receipt::{self, Header, Kind};
use crate::verify::signing_input;
use crate::{Error, b64, jcs};

/// An issuer's Ed25519 signing key with its kid.
#[derive(Debug, Clone)]
pub struct IssuerKey {
    kid: String,
    key: SigningKey,
}

/// A signed receipt.
#[derive(Debug, Clone)]
pub struct Signed {
    /// `{"payload": …, "sig": …}`.
    pub receipt: Value,
    /// The receipt as canonical JSON text (one line, no line break).
    pub json: String,
    /// The receipt hash: what the next receipt's `prev` names.
    pub receipt_hash: Hash,
    /// The base64url signature.
    pub sig: String,
}

impl IssuerKey {
    /// The key whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(kid: &str, seed: &[u8; 32]) -> IssuerKey {
        IssuerKey {
            kid: String::from(kid),
            key: SigningKey::from_bytes(seed),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key as base64url: the `x` of its JWK.
    pub fn x(&self) -> String {
        b64::encode(&self.public_key())
    }

    /// The key's entry in a key document.
    pub fn jwk(&self, status: KeyStatus, not_before: &str, not_after: Option<&str>) -> Value {
        object([
            ("kty", Value::from("OKP")),
            ("crv", Value::from("Ed25519")),
            ("alg", Value::from("Ed25519")),
            ("use", Value::from("sig")),
            ("kid", Value::from(self.kid.as_str())),
            ("x", Value::from(self.x())),
            ("status", Value::from(status.as_str())),
            ("not_before", Value::from(not_before)),
            (
                "not_after",
                not_after.map(Value::from).unwrap_or(Value::Null),
            ),
        ])
    }

    /// Ed25519 over arbitrary bytes (for test vectors that need a signature
    /// over something other than a well-formed payload).
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Sign a payload: Ed25519 over `kvitto/receipt/v1` LF `JCS(payload)`.
    pub fn sign_payload(&self, payload: &Value) -> Signed {
        let canonical = jcs::to_vec(payload);
        let sig = b64::encode(&self.sign_bytes(&signing_input(&canonical)));
        let receipt = object([
            ("payload", payload.clone()),
            ("sig", Value::from(sig.as_str())),
        ]);
        let json = String::from_utf8(jcs::to_vec(&receipt)).unwrap_or_default();
        Signed {
            receipt,
            json,
            receipt_hash: Hash::of(&canonical),
            sig,
        }
    }
}

/// The receipt hash of a payload: SHA-256 of its canonical bytes.
pub fn receipt_hash(payload: &Value) -> Hash {
    Hash::of(&jcs::to_vec(payload))
}

/// An object from (name, value) pairs, in the given order.
pub fn object<'a>(members: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (String::from(k), v))
            .collect(),
    )
}

/// A key document for `workspace_id` holding these JWKs.
pub fn key_document(workspace_id: &str, jwks: Vec<Value>) -> Value {
    object([
        ("workspace_id", Value::from(workspace_id)),
        ("keys", Value::Array(jwks)),
    ])
}

/// The common members of every payload.
#[derive(Debug, Clone)]
pub struct Common<'a> {
    pub receipt_id: &'a str,
    pub workspace_id: &'a str,
    pub authorization_id: &'a str,
    pub seq: u64,
    /// The receipt hash of seq − 1; `None` exactly for seq 0.
    pub prev: Option<Hash>,
    pub issued_at: &'a str,
    pub kid: &'a str,
}

/// A payload of `kind`: `v`, `kind`, the common members, then `members`.
pub fn payload<'a>(
    kind: Kind,
    common: &Common<'_>,
    members: impl IntoIterator<Item = (&'a str, Value)>,
) -> Value {
    let prev = match common.prev {
        Some(h) => Value::from(alloc::format!("{h}")),
        None => Value::Null,
    };
    let mut all = Vec::from([
        (String::from("v"), Value::from(1u64)),
        (String::from("kind"), Value::from(kind.as_str())),
        (String::from("receipt_id"), Value::from(common.receipt_id)),
        (
            String::from("workspace_id"),
            Value::from(common.workspace_id),
        ),
        (
            String::from("authorization_id"),
            Value::from(common.authorization_id),
        ),
        (String::from("seq"), Value::from(common.seq)),
        (String::from("prev"), prev),
        (String::from("issued_at"), Value::from(common.issued_at)),
        (String::from("kid"), Value::from(common.kid)),
    ]);
    all.extend(members.into_iter().map(|(k, v)| (String::from(k), v)));
    Value::Object(all)
}

/// Check an unsigned payload the way a verifier will check it once signed:
/// steps 1 to 3 of the order of checks (size of the whole signed receipt,
/// the strict JSON profile, the envelope, the kind's members and their
/// types, ids, instants, prev and ranges). An issuer calls this before it
/// stores or signs anything, so it never issues a receipt that a verifier
/// rejects for its shape. Returns the checked header.
///
/// The size counts the receipt as it will be written (JCS, with an
/// 86-character signature), so a payload that passes here fits in 1 MiB
/// once signed.
pub fn check_payload(payload: &Value) -> Result<Header, Error> {
    let placeholder = "A".repeat(86);
    let receipt = object([
        ("payload", payload.clone()),
        ("sig", Value::from(placeholder.as_str())),
    ]);
    let text = jcs::to_vec(&receipt);
    let parsed = json::parse(&text, Profile::Receipt)?;
    let inner = receipt::check_envelope(&parsed)?;
    let (header, _) = receipt::check_shape(&parsed, inner)?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;

    #[test]
    fn check_payload_is_the_verifier_shape_check() {
        let common = Common {
            receipt_id: "r",
            workspace_id: testutil::WS,
            authorization_id: "a",
            seq: 1,
            prev: Some(Hash([1; 32])),
            issued_at: "2026-11-22T00:00:00Z",
            kid: "ws_test.k1",
        };
        let ok = payload(Kind::Check, &common, testutil::check_members("deny"));
        assert_eq!(check_payload(&ok).map(|h| h.seq), Ok(1));
        let mut members = testutil::check_members("deny");
        members.retain(|(k, _)| *k != "context");
        let missing = payload(Kind::Check, &common, members);
        assert_eq!(
            check_payload(&missing).map(drop),
            Err(Error::BadStructure {
                path: "payload.context".into(),
                reason: "missing".into()
            })
        );
        let big = payload(
            Kind::AuthorizationRevoked,
            &common,
            [("revoked_by", Value::from("x".repeat(json::MAX_SIZE)))],
        );
        assert_eq!(
            check_payload(&big).map(drop).map_err(|e| e.code()),
            Err("too_large")
        );
        let huge_number = payload(
            Kind::AuthorizationRevoked,
            &common,
            [("revoked_by", Value::from("u")), ("n", Value::from(1e300))],
        );
        assert_eq!(
            check_payload(&huge_number).map(drop).map_err(|e| e.code()),
            Err("number_out_of_range")
        );
    }
}
