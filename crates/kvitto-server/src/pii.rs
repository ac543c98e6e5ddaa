//! Pseudonymous user ids: `email_hmac:v1:` + HMAC-SHA256(pepper, normalized
//! e-mail address), the core's one implementation, checked here against the
//! shared vectors in tests/data/email_hmac.json.

pub use kvitto_core::pii::{EMAIL_HMAC_PREFIX, email_hmac, is_email_hmac};

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
