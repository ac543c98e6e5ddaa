//! Verifying one receipt, and many, in the contract's order of checks (section 7).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ed25519_dalek::Signature;
use sha2::{Digest, Sha256};

use crate::json::{self, Borrowed, Value};
use crate::keys::{Hash, Key, KeySet, KeyStatus};
use crate::receipt::{self, Header};
use crate::{Error, b64, jcs};

/// The domain-separation prefix of a receipt's signing input, without its LF.
pub const RECEIPT_CONTEXT: &[u8] = b"kvitto/receipt/v1";

/// A receipt that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The checked common members of the payload.
    pub header: Header,
    /// The whole payload as parsed.
    pub payload: Value,
    /// `sha256:` of the payload's canonical bytes: what the next receipt's `prev` names.
    pub receipt_hash: Hash,
    /// The key that signed it.
    pub key: Key,
}

/// The signing input of a payload with these canonical bytes:
/// `kvitto/receipt/v1`, LF, then the bytes.
pub fn signing_input(canonical_payload: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(RECEIPT_CONTEXT.len() + 1 + canonical_payload.len());
    input.extend_from_slice(RECEIPT_CONTEXT);
    input.push(b'\n');
    input.extend_from_slice(canonical_payload);
    input
}

/// Verify one receipt against one workspace's key document.
///
/// # Security
///
/// The receipt is judged only by what it parses to, never by its byte layout:
/// the payload is canonicalized (RFC 8785) and the signature is checked over
/// `kvitto/receipt/v1` LF `JCS(payload)`. Checks run in the contract's order
/// and the first failure decides the error:
///
/// 1. size over 1 MiB, then the strict JSON profile: invalid UTF-8, a BOM,
///    trailing data, duplicate member names at any depth (after unescaping),
///    lone surrogates, number tokens over 128 characters or values beyond
///    ±(2^53 − 1), nesting over 64. Ambiguous JSON is rejected, never
///    repaired, so two parsers can never see two different payloads;
/// 2. the outer object and its payload object; a `v` other than 1;
/// 3. every member of the payload's kind with its type, and no member
///    beside `payload` and `sig` outside it;
/// 4. the workspace of the key document; 5. the kid;
/// 6. `sig` must be canonical unpadded base64url (one string per signature,
///    so signatures are not malleable through their encoding), then
///    Ed25519 with [`ed25519_dalek::VerifyingKey::verify_strict`]: S < ℓ,
///    R compared byte for byte with the recomputed point, and neither R nor
///    the key of small order. This rejects every signature that some
///    verifiers accept and others reject (the cofactored equation of
///    ZIP-215, non-canonical R). Batch verification is never used: it
///    accepts some signatures with a torsioned R depending on the batch;
/// 7. the key's status (a revoked key verifies nothing) and its window
///    `not_before <= issued_at < not_after`, compared to the nanosecond.
///
/// Keys in the document were already checked when it was read: canonical,
/// prime-order points only (see [`KeySet::from_bytes`]).
pub fn verify_receipt(bytes: &[u8], keys: &KeySet) -> Result<Verified, Error> {
    verify_receipt_in(bytes, core::slice::from_ref(keys))
}

/// Verify one receipt against the key document of its own workspace, chosen
/// from `keysets` by `payload.workspace_id` (exports may span workspaces).
pub fn verify_receipt_in(bytes: &[u8], keysets: &[KeySet]) -> Result<Verified, Error> {
    let (receipt, header, receipt_hash, key) = check(bytes, keysets)?;
    let key = key.clone();
    let payload = match receipt {
        Borrowed::Object(members) => members
            .into_iter()
            .find(|(k, _)| k == "payload")
            .map_or(Value::Null, |(_, v)| v.into_owned()),
        _ => Value::Null,
    };
    Ok(Verified {
        header,
        payload,
        receipt_hash,
        key,
    })
}

/// Every check of section 7; returns the parsed receipt, its header, its
/// hash and the key that signed it.
fn check<'b, 'k>(
    bytes: &'b [u8],
    keysets: &'k [KeySet],
) -> Result<(Borrowed<'b>, Header, Hash, &'k Key), Error> {
    let (receipt, as_written) = json::parse_receipt(bytes)?;
    let payload = receipt::check_envelope(&receipt)?;
    let (header, sig) = receipt::check_shape(&receipt, payload)?;
    let keys = keysets
        .iter()
        .find(|k| k.workspace_id() == header.workspace_id)
        .ok_or_else(|| Error::WorkspaceMismatch {
            receipt: header.workspace_id.clone(),
            keys: workspace_list(keysets),
        })?;
    let key = keys.key(&header.kid).ok_or_else(|| Error::UnknownKid {
        kid: header.kid.clone(),
        workspace_id: header.workspace_id.clone(),
    })?;
    let sig_bytes =
        b64::decode::<64>(sig).map_err(|e| Error::BadSignatureEncoding { reason: e.reason() })?;
    // The signing input in one buffer: the context, LF, then JCS(payload),
    // which is the payload's own text when the parser found it canonical.
    let mut input = Vec::with_capacity(RECEIPT_CONTEXT.len() + 1 + bytes.len());
    input.extend_from_slice(RECEIPT_CONTEXT);
    input.push(b'\n');
    match as_written {
        Some(span) => {
            input.extend_from_slice(&bytes[span]);
            debug_assert_eq!(input[RECEIPT_CONTEXT.len() + 1..], jcs::to_vec(payload));
        }
        None => jcs::write(payload, &mut input),
    }
    let canonical = &input[RECEIPT_CONTEXT.len() + 1..];
    let signature = Signature::from_bytes(&sig_bytes);
    key.verifying_key
        .verify_strict(&input, &signature)
        .map_err(|_| Error::SignatureInvalid {
            kid: header.kid.clone(),
        })?;
    if key.status == KeyStatus::Revoked {
        return Err(Error::KeyRevoked {
            kid: header.kid.clone(),
        });
    }
    if !key.valid_at(header.issued_at) {
        return Err(Error::KeyNotValidAt {
            kid: header.kid.clone(),
            issued_at: format!("{}", header.issued_at),
            not_before: format!("{}", key.not_before),
            not_after: key.not_after.map(|t| format!("{t}")),
        });
    }
    let receipt_hash = Hash(Sha256::digest(canonical).into());
    Ok((receipt, header, receipt_hash, key))
}

fn workspace_list(keysets: &[KeySet]) -> String {
    let names: Vec<&str> = keysets.iter().map(KeySet::workspace_id).collect();
    names.join(", ")
}

/// The verdict on a valid receipt without its payload tree: what chains
/// and export reports need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The checked common members (the signing key is `header.kid`).
    pub header: Header,
    /// `sha256:` of the payload's canonical bytes.
    pub receipt_hash: Hash,
}

impl From<Verified> for Verdict {
    fn from(v: Verified) -> Verdict {
        Verdict {
            header: v.header,
            receipt_hash: v.receipt_hash,
        }
    }
}

/// Verify one receipt like [`verify_receipt_in`], keeping only the
/// [`Verdict`]: the payload tree is dropped as soon as the receipt is judged.
pub fn verdict_in(bytes: &[u8], keysets: &[KeySet]) -> Result<Verdict, Error> {
    let (_, header, receipt_hash, _) = check(bytes, keysets)?;
    Ok(Verdict {
        header,
        receipt_hash,
    })
}

/// Verify many receipts. The verdicts are exactly those of calling
/// [`verify_receipt_in`] on each, in order: every signature is checked on its
/// own with `verify_strict` (no batch equation ever decides a verdict). Only
/// the [`Verdict`] of each is kept, not its payload tree, so memory stays
/// small for large batches; use [`verify_receipt_in`] for the payload.
///
/// Each call is independent and `KeySet` is `Sync`, so callers with threads
/// may split the input into chunks and run this on each chunk in parallel;
/// the concatenated results are the same.
pub fn verify_many<'a, I>(receipts: I, keysets: &[KeySet]) -> Vec<Result<Verdict, Error>>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    receipts
        .into_iter()
        .map(|bytes| verdict_in(bytes, keysets))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign;
    use crate::testutil::{self, chain, keyset, keyset_with};
    use alloc::string::ToString;
    use alloc::vec;

    fn code(receipt: &str, keys: &KeySet) -> &'static str {
        match verify_receipt(receipt.as_bytes(), keys) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn valid_and_layout_independent() {
        let keys = keyset();
        let r = &chain("auth_a", 2, false)[1];
        let v = verify_receipt(r.as_bytes(), &keys).unwrap();
        assert_eq!(v.header.seq, 1);
        assert_eq!(v.key.kid, "ws_test.k1");
        // The same receipt pretty-printed, with an escaped character and a
        // number written differently, verifies to the same hash.
        let pretty = r
            .replace(",\"", ",\n  \"")
            .replace("\"v\":1", "\"v\":1.0")
            .replace("email.send", "email\\u002esend");
        assert_ne!(&pretty, r);
        let w = verify_receipt(pretty.as_bytes(), &keys).unwrap();
        assert_eq!(v.receipt_hash, w.receipt_hash);
    }

    #[test]
    fn order_of_checks() {
        let keys = keyset();
        let r = &chain("auth_a", 2, false)[1];
        assert_eq!(
            code(&r.replace("email.send", "email.read"), &keys),
            "signature_invalid"
        );
        assert_eq!(
            code(&r.replace("ws_test", "ws_other"), &keys),
            "workspace_mismatch"
        );
        assert_eq!(
            code(&r.replace("ws_test.k1", "ws_test.k9"), &keys),
            "unknown_kid"
        );
        assert_eq!(
            code(&r.replace("\"v\":1", "\"v\":2"), &keys),
            "unsupported_version"
        );
        assert_eq!(code(&r.replace("\"v\":1,", ""), &keys), "bad_structure");
        assert_eq!(
            code(&r.replace("\"v\":1", "\"v\":\"1\""), &keys),
            "bad_structure"
        );
        // A later version with another shape is unsupported, not malformed.
        assert_eq!(code(r#"{"payload":{"v":2}}"#, &keys), "unsupported_version");
        assert_eq!(code(r#"[]"#, &keys), "bad_structure");
        let sig_at = r.find("\"sig\":\"").unwrap() + 7;
        let mut padded = r.clone();
        padded.insert_str(sig_at + 86, "==");
        assert_eq!(code(&padded, &keys), "bad_signature_encoding");
        let extra = r.replacen('{', "{\"extra\":1,", 1);
        assert_eq!(code(&extra, &keys), "bad_structure");
    }

    #[test]
    fn key_status_and_window() {
        let key = testutil::key();
        let r = &chain("auth_a", 2, false)[1]; // issued 2026-11-22T01:01:00Z
        let with = |status, nb: &str, na: Option<&str>| keyset_with(vec![key.jwk(status, nb, na)]);
        let revoked = with(KeyStatus::Revoked, "2026-01-01T00:00:00Z", None);
        assert_eq!(code(r, &revoked), "key_revoked");
        let retired = with(
            KeyStatus::Retired,
            "2026-01-01T00:00:00Z",
            Some("2026-11-22T01:01:00.000000001Z"),
        );
        assert_eq!(code(r, &retired), "ok");
        let ended = with(
            KeyStatus::Retired,
            "2026-01-01T00:00:00Z",
            Some("2026-11-22T01:01:00Z"),
        );
        assert_eq!(code(r, &ended), "key_not_valid_at");
        let starts = with(KeyStatus::Active, "2026-11-22T01:01:00Z", None);
        assert_eq!(code(r, &starts), "ok");
        let later = with(KeyStatus::Active, "2026-11-22T01:01:00.000000001Z", None);
        let err = verify_receipt(r.as_bytes(), &later).unwrap_err();
        assert_eq!(err.code(), "key_not_valid_at");
        assert!(err.to_string().contains("2026-11-22T01:01:00.000000001Z"));
    }

    #[test]
    fn shape_errors_name_the_path() {
        let keys = keyset();
        let mut members = testutil::check_members("deny");
        members.retain(|(k, _)| *k != "context");
        let common = sign::Common {
            receipt_id: "r",
            workspace_id: testutil::WS,
            authorization_id: "a",
            seq: 1,
            prev: Some(Hash([1; 32])),
            issued_at: "2026-11-22T00:00:00Z",
            kid: "ws_test.k1",
        };
        let p = sign::payload(crate::Kind::Check, &common, members);
        let err = verify_receipt(testutil::sign_value(&p).as_bytes(), &keys).unwrap_err();
        assert_eq!(
            err,
            Error::BadStructure {
                path: "payload.context".into(),
                reason: "missing".into()
            }
        );
    }

    #[test]
    fn many_equals_one_by_one() {
        let keys = vec![keyset()];
        let mut receipts = chain("auth_a", 5, true);
        receipts[2] = receipts[2].replace("email.send", "email.read");
        receipts.push("not json".to_string());
        let many = verify_many(receipts.iter().map(|r| r.as_bytes()), &keys);
        for (r, m) in receipts.iter().zip(&many) {
            let one = verify_receipt_in(r.as_bytes(), &keys).map(Verdict::from);
            assert_eq!(&one, m);
        }
    }
}
