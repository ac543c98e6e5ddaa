//! Random ids, nonces, signing-key seeds and API keys, and API key hashing.

use sha2::{Digest, Sha256};

use crate::Error;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `n` bytes from the operating system's CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(buf)
}

/// A ULID-like id: `prefix` + 26 Crockford base32 characters, 48 bits of
/// milliseconds then 80 random bits, so ids sort roughly by creation time.
/// Always within the contract's id alphabet.
pub fn new_id(prefix: &str, now_ms: i64) -> Result<String, Error> {
    let rand: [u8; 10] = random()?;
    let mut value: u128 = u128::from(now_ms.max(0) as u64 & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in rand.iter().enumerate() {
        value |= u128::from(*b) << (8 * (9 - i));
    }
    let mut out = String::with_capacity(prefix.len() + 26);
    out.push_str(prefix);
    for i in (0..26).rev() {
        out.push(char::from(CROCKFORD[((value >> (5 * i)) & 31) as usize]));
    }
    Ok(out)
}

/// A secret token: `prefix` + 128 random bits in lowercase hex (for confirm
/// nonces, which must not be guessable).
pub fn new_token(prefix: &str, bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(format!("{prefix}{}", hex(&buf)))
}

/// A new API key: `kvitto_sk_` + 256 random bits in hex. Shown once.
pub fn new_api_key() -> Result<String, Error> {
    new_token("kvitto_sk_", 32)
}

/// What the store keeps of an API key: `sha256:` + hex. A key holds 256
/// random bits, so a fast hash is enough: there is nothing to brute-force.
pub fn api_key_hash(api_key: &str) -> String {
    format!("sha256:{}", hex(&Sha256::digest(api_key.as_bytes())))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ids_and_sort_by_time() {
        let a = new_id("rcpt_", 1_000).unwrap();
        let b = new_id("rcpt_", 2_000).unwrap();
        assert_eq!(a.len(), 31);
        assert!(a < b);
        assert!(kvitto_core::receipt::is_id(&a));
        let t = new_token("cn_", 16).unwrap();
        assert_eq!(t.len(), 35);
        assert!(kvitto_core::receipt::is_id(&t));
        let k = new_api_key().unwrap();
        assert!(k.starts_with("kvitto_sk_") && k.len() == 74);
        assert_eq!(api_key_hash("x"), api_key_hash("x"));
        assert_ne!(api_key_hash("x"), api_key_hash("y"));
    }
}
