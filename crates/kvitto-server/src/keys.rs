//! Signing keys: generation, where their private halves live (files in
//! the data directory, 0600 in `DATA/keys`, for SQLite; sealed with the
//! key-encryption key in the database for PostgreSQL; never served, never
//! logged), their destruction, and the key document.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kvitto_core::KeyStatus;
use kvitto_core::sign::{IssuerKey, key_document};

use crate::Error;
use crate::clock::rfc3339_ms;
use crate::kek::KekRing;
use crate::model::KeyRecord;
use crate::store::{Read, Tx};

/// Where the private halves of signing keys live.
#[derive(Debug, Clone)]
pub enum KeyVault {
    /// Files in the data directory (the SQLite backend).
    Files(KeyFiles),
    /// Sealed with the key-encryption key, in the database itself (the
    /// PostgreSQL backend, whose instances share no directory).
    Sealed(Arc<KekRing>),
}

/// The kid of a workspace's `n`th key: `{workspace_id}.{date}.{n}`.
fn kid_for(workspace_id: &str, n: usize, now_ms: i64) -> String {
    format!("{workspace_id}.{}.{n}", &rfc3339_ms(now_ms)[..10])
}

impl KeyVault {
    /// A new key for `workspace_id`, active from `not_before_ms`, recorded
    /// in `tx` with its private half: a file written and fsync'd before the
    /// record, or the sealed key stored in the same transaction.
    pub fn create(
        &self,
        tx: &mut dyn Tx,
        workspace_id: &str,
        n: usize,
        not_before_ms: i64,
    ) -> Result<IssuerKey, Error> {
        match self {
            KeyVault::Files(files) => {
                let key = files.generate(workspace_id, n, not_before_ms)?;
                tx.insert_key(&record(&key, workspace_id, not_before_ms))?;
                Ok(key)
            }
            KeyVault::Sealed(ring) => {
                let kid = kid_for(workspace_id, n, not_before_ms);
                let seed: [u8; 32] = crate::ids::random()?;
                let key = IssuerKey::from_seed(&kid, &seed);
                tx.insert_key(&record(&key, workspace_id, not_before_ms))?;
                if !tx.put_sealed_private_key(&kid, &ring.seal(&kid, &seed)?)? {
                    return Err(Error::internal(format!("key {kid} vanished while created")));
                }
                Ok(key)
            }
        }
    }

    /// The private key of `kid` (read through `r` when it is sealed in the database).
    pub fn load(&self, r: &mut dyn Read, kid: &str) -> Result<IssuerKey, Error> {
        match self {
            KeyVault::Files(files) => files.load(kid),
            KeyVault::Sealed(ring) => {
                let sealed = r.sealed_private_key(kid)?.ok_or_else(|| {
                    Error::internal(format!("the private key of {kid} is destroyed"))
                })?;
                Ok(IssuerKey::from_seed(kid, &ring.open(kid, &sealed)?))
            }
        }
    }

    /// Check that every private key still in the database opens with the
    /// KEKs this instance holds (nothing to check for files): a missing or
    /// wrong KEK fails here, at start, not at the first signature.
    pub fn check(&self, r: &mut dyn Read) -> Result<usize, Error> {
        match self {
            KeyVault::Files(_) => Ok(0),
            KeyVault::Sealed(ring) => {
                let sealed = r.sealed_private_keys()?;
                for (kid, s) in &sealed {
                    ring.open(kid, s)?;
                }
                Ok(sealed.len())
            }
        }
    }
}

/// The directory of private key files.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    dir: PathBuf,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::internal(format!("{what} {}: {e}", path.display()))
}

impl KeyFiles {
    /// The key directory under the data directory, created 0700 if missing.
    pub fn open(data_dir: &Path) -> Result<KeyFiles, Error> {
        let dir = data_dir.join("keys");
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io("restricting", &dir, e))?;
        Ok(KeyFiles { dir })
    }

    fn path(&self, kid: &str) -> PathBuf {
        // kids are ids (A-Za-z0-9._:-) and never start with '.', so they are safe file names.
        self.dir.join(format!("{kid}.key"))
    }

    /// A new key for `workspace_id`, its private half written (0600,
    /// fsync'd) before the caller records it. The kid is
    /// `{workspace_id}.{date}.{n}`.
    pub fn generate(&self, workspace_id: &str, n: usize, now_ms: i64) -> Result<IssuerKey, Error> {
        let kid = kid_for(workspace_id, n, now_ms);
        let seed: [u8; 32] = crate::ids::random()?;
        let key = IssuerKey::from_seed(&kid, &seed);
        let path = self.path(&kid);
        let tmp = self.dir.join(format!(".{kid}.tmp"));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("creating", &tmp, e))?;
        f.write_all(format!("{}\n", crate::ids::hex(&seed)).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io("writing", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| io("renaming", &path, e))?;
        sync_dir(&self.dir)?;
        Ok(key)
    }

    /// The private key of `kid`.
    pub fn load(&self, kid: &str) -> Result<IssuerKey, Error> {
        let path = self.path(kid);
        let text = fs::read_to_string(&path).map_err(|e| io("reading", &path, e))?;
        let hex = text.trim();
        let mut seed = [0u8; 32];
        if hex.len() != 64 {
            return Err(Error::internal(format!(
                "{} is not a key file",
                path.display()
            )));
        }
        for (i, byte) in seed.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| Error::internal(format!("{} is not a key file", path.display())))?;
        }
        Ok(IssuerKey::from_seed(kid, &seed))
    }

    pub fn exists(&self, kid: &str) -> bool {
        self.path(kid).exists()
    }

    /// Destroy the private half of `kid`: overwrite, fsync, remove, fsync the
    /// directory. Missing already is fine.
    pub fn destroy(&self, kid: &str) -> Result<(), Error> {
        let path = self.path(kid);
        if !path.exists() {
            return Ok(());
        }
        if let Ok(mut f) = fs::OpenOptions::new().write(true).open(&path) {
            let _ = f.write_all(&[0u8; 65]).and_then(|()| f.sync_all());
        }
        fs::remove_file(&path).map_err(|e| io("removing", &path, e))?;
        sync_dir(&self.dir)
    }
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing", dir, e))
}

/// The key record of a freshly generated key, active from `not_before_ms`.
pub fn record(key: &IssuerKey, workspace_id: &str, not_before_ms: i64) -> KeyRecord {
    KeyRecord {
        kid: key.kid().to_owned(),
        workspace_id: workspace_id.to_owned(),
        x: key.x(),
        status: "active".into(),
        not_before_ms,
        not_after_ms: None,
        private_destroyed: false,
    }
}

/// The contract's key document for a workspace: its canonical JSON text.
pub fn document(workspace_id: &str, keys: &[KeyRecord]) -> Vec<u8> {
    use kvitto_core::Value;
    let jwks = keys
        .iter()
        .map(|k| {
            let not_after = k.not_after_ms.map(rfc3339_ms);
            kvitto_core::sign::object([
                ("kty", Value::from("OKP")),
                ("crv", Value::from("Ed25519")),
                ("alg", Value::from("Ed25519")),
                ("use", Value::from("sig")),
                ("kid", Value::from(k.kid.as_str())),
                ("x", Value::from(k.x.as_str())),
                ("status", Value::from(status(&k.status).as_str())),
                ("not_before", Value::from(rfc3339_ms(k.not_before_ms))),
                (
                    "not_after",
                    not_after.map(Value::from).unwrap_or(Value::Null),
                ),
            ])
        })
        .collect();
    kvitto_core::jcs::to_vec(&key_document(workspace_id, jwks))
}

fn status(s: &str) -> KeyStatus {
    match s {
        "active" => KeyStatus::Active,
        "retired" => KeyStatus::Retired,
        _ => KeyStatus::Revoked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_document_parses() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::open(dir.path()).unwrap();
        let key = files.generate("ws_1", 1, 1_795_310_100_000).unwrap();
        assert_eq!(key.kid(), "ws_1.2026-11-22.1");
        let mode = fs::metadata(files.path(key.kid()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(files.load(key.kid()).unwrap().x(), key.x());
        let mut rec = record(&key, "ws_1", 1_795_310_100_000);
        let doc = document("ws_1", std::slice::from_ref(&rec));
        let set = kvitto_core::KeySet::from_bytes(&doc, None).unwrap();
        assert_eq!(set.keys()[0].kid, key.kid());
        rec.status = "retired".into();
        rec.not_after_ms = Some(1_795_310_200_000);
        let doc = document("ws_1", &[rec]);
        assert!(!String::from_utf8(doc).unwrap().contains("\"d\""));
        files.destroy(key.kid()).unwrap();
        assert!(!files.exists(key.kid()));
        files.destroy(key.kid()).unwrap();
    }
}
