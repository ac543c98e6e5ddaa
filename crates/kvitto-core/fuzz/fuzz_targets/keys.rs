//! Key documents from arbitrary bytes: never a panic; an accepted document
//! reports the SHA-256 of exactly its bytes, and pins behave.

#![no_main]

use kvitto_core::{Hash, KeySet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = KeySet::from_bytes(data, None);
    let digest = Hash::of(data);
    let pinned = KeySet::from_bytes(data, Some(&digest));
    assert_eq!(
        plain.as_ref().map(|k| k.sha256()).map_err(|e| e.code()),
        pinned.as_ref().map(|k| k.sha256()).map_err(|e| e.code())
    );
    let mut wrong = digest;
    wrong.0[0] ^= 1;
    let code = KeySet::from_bytes(data, Some(&wrong))
        .map(drop)
        .map_err(|e| e.code());
    assert!(
        code == Err("pin_mismatch") || code == Err("too_large"),
        "{code:?}"
    );
    if let Ok(keys) = plain {
        assert_eq!(keys.sha256(), digest);
        for key in keys.keys() {
            assert!(key.valid_at(key.not_before));
            assert_eq!(
                keys.key(&key.kid).map(|k| k.public_key()),
                Some(key.public_key())
            );
        }
    }
});
