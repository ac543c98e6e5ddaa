//! Pseudonymous user ids: `email_hmac:v1:` + HMAC-SHA256(pepper, normalized email).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of a pseudonymous user id derived from an e-mail address.
pub const EMAIL_HMAC_PREFIX: &str = "email_hmac:v1:";

/// `email_hmac:v1:` + lowercase hex of HMAC-SHA256 keyed with `pepper` over
/// the e-mail address trimmed of surrounding white space and lower-cased
/// (Unicode lower case). The same address and pepper always give the same id,
/// so an app can put it in `user_id` without putting the address in receipts
/// that auditors keep for years; without the pepper the id reveals nothing.
pub fn email_hmac(pepper: &[u8], email: &str) -> String {
    let normalized = email.trim().to_lowercase();
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(pepper).expect("HMAC takes a key of any length");
    mac.update(normalized.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!("{EMAIL_HMAC_PREFIX}{}", crate::ids::hex(&tag))
}

/// Whether `s` is spelled like an `email_hmac:v1:` id (prefix + 64 lowercase hex).
pub fn is_email_hmac(s: &str) -> bool {
    s.strip_prefix(EMAIL_HMAC_PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared vector file (also read by the Python package's tests).
    #[test]
    fn matches_the_shared_vectors() {
        let text = include_str!("../tests/data/email_hmac.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert!(cases.len() >= 4);
        for case in cases {
            let email = case["email"].as_str().unwrap();
            let pepper = case["pepper"].as_str().unwrap();
            let id = case["id"].as_str().unwrap();
            assert_eq!(email_hmac(pepper.as_bytes(), email), id, "{email:?}");
            assert!(is_email_hmac(id));
        }
    }

    #[test]
    fn normalizes_and_depends_on_the_pepper() {
        let a = email_hmac(b"pepper", "Alice@Example.COM ");
        assert_eq!(a, email_hmac(b"pepper", "alice@example.com"));
        assert_ne!(a, email_hmac(b"other", "alice@example.com"));
        // RFC 4231 test case 2 ("Jefe", "what do ya want for nothing?"), as a
        // check that this is plain HMAC-SHA256 (the input is already normalized).
        assert_eq!(
            email_hmac(b"Jefe", "what do ya want for nothing?"),
            "email_hmac:v1:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(!is_email_hmac("email_hmac:v1:XYZ"));
    }
}
