//! Key documents (contract section 6): parsing, validation, pins and key windows.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::instant::Instant;
use crate::json::{self, Profile, Value};
use crate::{Error, b64};

/// A SHA-256 digest, written `sha256:` + 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    /// Parse `sha256:` + 64 hex digits (any case), or 64 bare hex digits.
    pub fn parse_pin(s: &str) -> Option<Hash> {
        let hex = match s.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &s[7..],
            _ => s,
        };
        parse_hex32(hex)
    }

    /// Parse exactly `sha256:` + 64 lowercase hex digits, the form `prev` uses.
    pub fn parse_strict(s: &str) -> Option<Hash> {
        let hex = s.strip_prefix("sha256:")?;
        if hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        parse_hex32(hex)
    }
}

fn parse_hex32(hex: &str) -> Option<Hash> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(Hash(out))
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A key's status in the key document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Signing now.
    Active,
    /// No longer signs; receipts issued inside its window still verify.
    Retired,
    /// Compromised: nothing it signed verifies, whatever its date.
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// One Ed25519 key of a key document.
#[derive(Debug, Clone)]
pub struct Key {
    pub kid: String,
    pub status: KeyStatus,
    pub not_before: Instant,
    /// `None` when the window is open-ended.
    pub not_after: Option<Instant>,
    /// The key as written in the document (`x`).
    pub x: String,
    pub(crate) verifying_key: VerifyingKey,
}

impl Key {
    /// The raw 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.verifying_key.to_bytes()
    }

    /// Whether `at` lies in the window `not_before <= at < not_after`.
    pub fn valid_at(&self, at: Instant) -> bool {
        self.not_before <= at && self.not_after.is_none_or(|end| at < end)
    }
}

/// A validated key document: one workspace's Ed25519 keys.
#[derive(Debug, Clone)]
pub struct KeySet {
    workspace_id: String,
    keys: Vec<Key>,
    sha256: Hash,
}

/// Members of RFC 7518 JWKs that hold private key material.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl KeySet {
    /// Read a key document from its bytes exactly as read or fetched.
    ///
    /// Order: size [`Error::TooLarge`], then the pin [`Error::PinMismatch`],
    /// then everything else [`Error::KeysInvalid`] (a strict-JSON defect
    /// included, with the underlying reason in the message).
    pub fn from_bytes(bytes: &[u8], pin: Option<&Hash>) -> Result<KeySet, Error> {
        if bytes.len() > json::MAX_SIZE {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: json::MAX_SIZE,
            });
        }
        let sha256 = Hash::of(bytes);
        if let Some(pin) = pin
            && *pin != sha256
        {
            return Err(Error::PinMismatch {
                expected: format!("{pin}"),
                actual: format!("{sha256}"),
            });
        }
        let value = json::parse(bytes, Profile::Receipt)
            .map_err(|e| Error::keys_invalid(format!("{}: {e}", e.code())))?;
        let mut set = KeySet::from_value(&value)?;
        set.sha256 = sha256;
        Ok(set)
    }

    fn from_value(doc: &Value) -> Result<KeySet, Error> {
        if doc.as_object().is_none() {
            return Err(Error::keys_invalid("the document is not a JSON object"));
        }
        let workspace_id = doc
            .get("workspace_id")
            .and_then(Value::as_str)
            .filter(|s| crate::receipt::is_id(s))
            .ok_or_else(|| Error::keys_invalid("workspace_id is missing or not an id"))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::keys_invalid("keys is missing or not an array"))?;
        let mut keys: Vec<Key> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if entry.as_object().is_none() {
                return Err(Error::keys_invalid(format!("keys[{i}] is not an object")));
            }
            let is_ed25519 = entry.get("kty").and_then(Value::as_str) == Some("OKP")
                && entry.get("crv").and_then(Value::as_str) == Some("Ed25519");
            if !is_ed25519 {
                continue; // RFC 7517 §5: ignore keys of types we do not know.
            }
            let key = parse_key(entry)
                .map_err(|reason| Error::keys_invalid(format!("keys[{i}]: {reason}")))?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(Error::keys_invalid(format!(
                    "keys[{i}]: duplicate kid {:?}",
                    key.kid
                )));
            }
            if keys.iter().any(|k| k.public_key() == key.public_key()) {
                return Err(Error::keys_invalid(format!(
                    "keys[{i}]: the same x as another key"
                )));
            }
            keys.push(key);
        }
        Ok(KeySet {
            workspace_id: String::from(workspace_id),
            keys,
            sha256: Hash([0; 32]),
        })
    }

    pub fn workspace_id(&self) -> &str {
        &self.workspace_id
    }

    /// The Ed25519 keys, in document order.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The Ed25519 key with this kid.
    pub fn key(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// SHA-256 of the document's bytes: what a pin compares and reports name.
    pub fn sha256(&self) -> Hash {
        self.sha256
    }
}

fn parse_key(entry: &Value) -> Result<Key, String> {
    if let Some(name) = PRIVATE_MEMBERS.iter().find(|m| entry.get(m).is_some()) {
        return Err(format!("holds the private member {name:?}"));
    }
    let kid = entry
        .get("kid")
        .and_then(Value::as_str)
        .filter(|s| crate::receipt::is_id(s))
        .ok_or("kid is missing or not an id")?;
    let x = entry
        .get("x")
        .and_then(Value::as_str)
        .ok_or("x is missing or not a string")?;
    let bytes = b64::decode::<32>(x).map_err(|e| format!("x: {}", e.reason()))?;
    let verifying_key = checked_point(&bytes).map_err(|r| format!("x: {r}"))?;
    let status = match entry.get("status").and_then(Value::as_str) {
        Some("active") => KeyStatus::Active,
        Some("retired") => KeyStatus::Retired,
        Some("revoked") => KeyStatus::Revoked,
        Some(other) => return Err(format!("unknown status {other:?}")),
        None => return Err(String::from("status is missing or not a string")),
    };
    let instant = |name: &str| -> Result<Option<Instant>, String> {
        match entry.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Instant::parse(s)
                .map(Some)
                .ok_or_else(|| format!("{name} is not an RFC 3339 UTC instant")),
            Some(_) => Err(format!("{name} is not a string")),
        }
    };
    let not_before = instant("not_before")?.ok_or("not_before is missing")?;
    let not_after = instant("not_after")?;
    if not_after.is_some_and(|end| end <= not_before) {
        return Err(String::from("not_after is not after not_before"));
    }
    Ok(Key {
        kid: String::from(kid),
        status,
        not_before,
        not_after,
        x: String::from(x),
        verifying_key,
    })
}

/// A canonically encoded curve point of prime order: not small order and
/// without a small-order component.
fn checked_point(bytes: &[u8; 32]) -> Result<VerifyingKey, &'static str> {
    let compressed = CompressedEdwardsY(*bytes);
    let point = compressed
        .decompress()
        .ok_or("not the encoding of a curve point")?;
    if point.compress().0 != *bytes {
        return Err("not a canonical point encoding");
    }
    if point.is_small_order() {
        return Err("a point of small order");
    }
    if !point.is_torsion_free() {
        return Err("a point with a small-order component");
    }
    VerifyingKey::from_bytes(bytes).map_err(|_| "rejected by Ed25519")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins() {
        let h = Hash::of(b"abc");
        let s = format!("{h}");
        assert_eq!(
            s,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Hash::parse_pin(&s), Some(h));
        assert_eq!(Hash::parse_pin(&s[7..].to_uppercase()), Some(h));
        assert_eq!(Hash::parse_strict(&s), Some(h));
        assert_eq!(Hash::parse_strict(&s.to_uppercase()), None);
        assert_eq!(Hash::parse_pin("sha256:00"), None);
        assert_eq!(Hash::parse_pin(&s.replace("sha256", "Sha256")), Some(h));
        assert_eq!(Hash::parse_pin("é"), None);
    }
}
