//! Pseudonymous user ids: `email_hmac:v1:` + HMAC-SHA256(pepper, normalized
//! e-mail address). The issuer and every binding compute them with this one
//! function, so the same address and pepper give the same id everywhere.

use alloc::string::String;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of a pseudonymous user id derived from an e-mail address.
pub const EMAIL_HMAC_PREFIX: &str = "email_hmac:v1:";

/// `email_hmac:v1:` + lowercase hex of HMAC-SHA256 keyed with `pepper` over
/// the e-mail address trimmed of surrounding white space and lower-cased
/// (Unicode lower case), as UTF-8. The same address and pepper always give
/// the same id, so an app can put it in `user_id` without putting the
/// address in receipts that auditors keep for years; without the pepper
/// the id reveals nothing.
pub fn email_hmac(pepper: &[u8], email: &str) -> String {
    let normalized = email.trim().to_lowercase();
    // HMAC takes a key of any length: this never fails.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(pepper) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(normalized.as_bytes());
    let tag = mac.finalize().into_bytes();
    let mut id = String::with_capacity(EMAIL_HMAC_PREFIX.len() + 64);
    id.push_str(EMAIL_HMAC_PREFIX);
    for b in tag {
        id.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        id.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    id
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

    #[test]
    fn plain_hmac_sha256_over_the_normalized_address() {
        let a = email_hmac(b"pepper", "Alice@Example.COM ");
        assert_eq!(a, email_hmac(b"pepper", "alice@example.com"));
        assert_ne!(a, email_hmac(b"other", "alice@example.com"));
        // RFC 4231 test case 2 (key "Jefe"; the message is already normalized).
        assert_eq!(
            email_hmac(b"Jefe", "what do ya want for nothing?"),
            "email_hmac:v1:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(is_email_hmac(&a));
        assert!(!is_email_hmac("email_hmac:v1:XYZ"));
    }
}
