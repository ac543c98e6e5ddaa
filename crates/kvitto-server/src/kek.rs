//! The key-encryption key (KEK): what seals the signing keys' private
//! halves when they live in a database that several server instances share
//! (the PostgreSQL backend). XChaCha20-Poly1305 with a random 192-bit nonce
//! per seal and the kid as associated data, so a sealed key opens only as
//! the key it was sealed for. The KEK itself never enters the database: every
//! instance is given it (`KVITTO_KEK` or `--kek-file`), and the database
//! records only its id, a hash that names it.

use std::fmt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::Error;

/// The prefix of a sealed private key: the format's version.
const FORMAT: &str = "xc20p1";
const NONCE_LEN: usize = 24;
/// Nonce, the 32-byte seed encrypted, the 16-byte tag.
const SEALED_LEN: usize = NONCE_LEN + 32 + 16;

/// A key-encryption key: 32 secret bytes and the id that names them.
#[derive(Clone)]
pub struct Kek {
    key: [u8; 32],
    id: String,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl Kek {
    /// A KEK from its text: 64 hexadecimal digits (`openssl rand -hex 32`),
    /// or 43 characters of unpadded base64url; surrounding whitespace is
    /// ignored. `source` names where it came from, for the error.
    pub fn parse(text: &str, source: &str) -> Result<Kek, Error> {
        let t = text.trim();
        let mut key = [0u8; 32];
        if t.len() == 64 && t.bytes().all(|b| hex_value(b).is_some()) {
            for (i, byte) in key.iter_mut().enumerate() {
                let hi = hex_value(t.as_bytes()[2 * i]).unwrap_or(0);
                let lo = hex_value(t.as_bytes()[2 * i + 1]).unwrap_or(0);
                *byte = hi << 4 | lo;
            }
        } else if let Ok(k) = kvitto_core::b64::decode::<32>(t) {
            key = k;
        } else {
            return Err(Error::internal(format!(
                "the key-encryption key in {source} is not 32 bytes as 64 hex digits \
                 (generate one with `openssl rand -hex 32`)"
            )));
        }
        if key.iter().all(|b| *b == key[0]) {
            return Err(Error::internal(format!(
                "the key-encryption key in {source} is not random (one byte repeated)"
            )));
        }
        let mut h = Sha256::new();
        h.update(b"kvitto-server kek id v1\n");
        h.update(key);
        let id = format!("kek_{}", &crate::ids::hex(&h.finalize())[..16]);
        Ok(Kek { key, id })
    }

    /// Read a KEK from a file (its whole content is the key's text).
    pub fn from_file(path: &Path) -> Result<Kek, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::internal(format!(
                "cannot read the key-encryption key file {}: {e}",
                path.display()
            ))
        })?;
        Kek::parse(&text, &path.display().to_string())
    }

    /// The KEK's id, `kek_` + 16 hex digits of a hash of it: it names the
    /// key (in the database and in errors) and reveals nothing of it.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.key.into())
    }

    /// Seal `seed`, the private half of `kid`: `xc20p1.<kek id>.<base64url(nonce ‖ ciphertext ‖ tag)>`.
    pub fn seal(&self, kid: &str, seed: &[u8; 32]) -> Result<String, Error> {
        let nonce: [u8; NONCE_LEN] = crate::ids::random()?;
        let ct = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: seed,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("sealing a private key failed"))?;
        let mut all = Vec::with_capacity(SEALED_LEN);
        all.extend_from_slice(&nonce);
        all.extend_from_slice(&ct);
        Ok(format!(
            "{FORMAT}.{}.{}",
            self.id,
            kvitto_core::b64::encode(&all)
        ))
    }

    fn open_parts(&self, kid: &str, body: &[u8; SEALED_LEN]) -> Result<[u8; 32], Error> {
        let (nonce, ct) = body.split_at(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        let plain = self
            .cipher()
            .decrypt(
                &XNonce::from(n),
                Payload {
                    msg: ct,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| {
                Error::internal(format!(
                    "the private key of {kid} does not open with key-encryption key {}: \
                     the sealed key was altered, or sealed for another key",
                    self.id
                ))
            })?;
        plain
            .try_into()
            .map_err(|_| Error::internal(format!("the private key of {kid} is not 32 bytes")))
    }
}

/// The KEKs an instance holds: the current one, which seals, and during a
/// KEK rotation the previous one, which only opens.
#[derive(Debug, Clone)]
pub struct KekRing {
    pub current: Kek,
    pub previous: Option<Kek>,
}

/// The KEK id a sealed key names, if it is in the known format.
pub fn sealed_with(sealed: &str) -> Option<&str> {
    let mut parts = sealed.splitn(3, '.');
    (parts.next()? == FORMAT)
        .then(|| parts.next())
        .flatten()
        .filter(|id| id.starts_with("kek_"))
}

impl KekRing {
    pub fn new(current: Kek, previous: Option<Kek>) -> KekRing {
        KekRing { current, previous }
    }

    /// Seal with the current KEK.
    pub fn seal(&self, kid: &str, seed: &[u8; 32]) -> Result<String, Error> {
        self.current.seal(kid, seed)
    }

    /// Open a sealed private key of `kid` with whichever KEK it names.
    pub fn open(&self, kid: &str, sealed: &str) -> Result<[u8; 32], Error> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::internal(format!(
                "the sealed private key of {kid} is not in a format this server knows"
            )));
        };
        let kek = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == id)
            .ok_or_else(|| {
                Error::internal(format!(
                    "the private key of {kid} is sealed with key-encryption key {id}, which this \
                     instance does not have (it has {}): give every instance the same KVITTO_KEK \
                     (or, during a KEK rotation, the old one as KVITTO_PREVIOUS_KEK)",
                    self.ids()
                ))
            })?;
        let body = kvitto_core::b64::decode::<SEALED_LEN>(body).map_err(|_| {
            Error::internal(format!("the sealed private key of {kid} is malformed"))
        })?;
        kek.open_parts(kid, &body)
    }

    /// Whether `sealed` is sealed with another KEK than the current one.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        sealed_with(sealed) != Some(self.current.id())
    }

    /// The ids held, for messages: `kek_… (current)[, kek_… (previous)]`.
    pub fn ids(&self) -> String {
        match &self.previous {
            Some(p) => format!("{} (current), {} (previous)", self.current.id, p.id),
            None => format!("{} (current)", self.current.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn seals_and_opens_bound_to_the_kid() {
        let k = Kek::parse(K1, "test").unwrap();
        assert!(k.id().starts_with("kek_") && k.id().len() == 20);
        let seed = [7u8; 32];
        let sealed = k.seal("ws_1.2026-12-01.1", &seed).unwrap();
        assert_eq!(sealed_with(&sealed), Some(k.id()));
        assert!(!sealed.contains(&crate::ids::hex(&seed)));
        let ring = KekRing::new(k.clone(), None);
        assert_eq!(ring.open("ws_1.2026-12-01.1", &sealed).unwrap(), seed);
        // Another kid (a sealed key copied onto another row) does not open.
        let Err(Error::Internal { message }) = ring.open("ws_1.2026-12-01.2", &sealed) else {
            panic!("opened as another kid");
        };
        assert!(message.contains("does not open"), "{message}");
        // Two seals of the same key differ (random nonces).
        assert_ne!(sealed, k.seal("ws_1.2026-12-01.1", &seed).unwrap());
        // Tampering is caught.
        let mut t = sealed.clone().into_bytes();
        let last = t.len() - 3;
        t[last] = if t[last] == b'A' { b'B' } else { b'A' };
        assert!(
            ring.open("ws_1.2026-12-01.1", std::str::from_utf8(&t).unwrap())
                .is_err()
        );
    }

    #[test]
    fn a_wrong_or_missing_kek_is_named() {
        let k1 = Kek::parse(K1, "test").unwrap();
        let k2 = Kek::parse(&"0123456789abcdef".repeat(4), "test").unwrap();
        let sealed = k1.seal("kid", &[1; 32]).unwrap();
        let Err(Error::Internal { message }) = KekRing::new(k2.clone(), None).open("kid", &sealed)
        else {
            panic!("opened with the wrong KEK")
        };
        assert!(
            message.contains(k1.id()) && message.contains(k2.id()),
            "{message}"
        );
        // During a rotation the previous KEK opens, the current one seals.
        let ring = KekRing::new(k2.clone(), Some(k1.clone()));
        assert_eq!(ring.open("kid", &sealed).unwrap(), [1; 32]);
        assert!(ring.needs_reseal(&sealed));
        assert!(!ring.needs_reseal(&ring.seal("kid", &[1; 32]).unwrap()));
    }

    #[test]
    fn parses_hex_and_base64url_and_refuses_the_rest() {
        let hex = Kek::parse(&format!("  {K1}\n"), "t").unwrap();
        let b64 = Kek::parse(&kvitto_core::b64::encode(&hex_bytes(K1)), "t").unwrap();
        assert_eq!(hex.id(), b64.id());
        for bad in [
            "",
            "abc",
            &"0".repeat(64),
            &K1[..62],
            "not a key at all, no",
        ] {
            assert!(Kek::parse(bad, "t").is_err(), "{bad:?}");
        }
        let Err(Error::Internal { message }) = Kek::parse("short", "KVITTO_KEK") else {
            panic!()
        };
        assert!(message.contains("KVITTO_KEK") && message.contains("64 hex digits"));
    }

    fn hex_bytes(h: &str) -> Vec<u8> {
        (0..h.len() / 2)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }
}
