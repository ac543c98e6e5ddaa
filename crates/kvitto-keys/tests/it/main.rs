//! Integration tests of kvitto-keys: files, HTTPS fetches against a local
//! server with a test CA, content decoding, pins, the cache, offline mode
//! and refetch.

mod cache;
mod decoding;
mod fetch;
mod file;
mod insecure;
mod refetch;
mod server;

use std::path::Path;
use std::time::Duration;

use kvitto_core::sign::{IssuerKey, key_document};
use kvitto_core::{Error, KeyStatus, jcs};
use kvitto_keys::{KeyLoader, Loaded, Options};

/// A canonical key document for `ws` with one key per seed.
pub(crate) fn doc(ws: &str, seeds: &[u8]) -> Vec<u8> {
    let jwks = seeds
        .iter()
        .map(|&seed| {
            IssuerKey::from_seed(&format!("{ws}.k{seed}"), &[seed; 32]).jwk(
                KeyStatus::Active,
                "2026-01-01T00:00:00Z",
                None,
            )
        })
        .collect();
    jcs::to_vec(&key_document(ws, jwks))
}

/// Options for tests: the test CA trusted, this cache dir, short timeouts.
pub(crate) fn options(cache: &Path) -> Options {
    Options {
        ca_certs: vec![server::pki().ca_pem_path.clone()],
        cache_dir: Some(cache.to_path_buf()),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(4),
        ..Options::default()
    }
}

pub(crate) fn loader(options: Options) -> KeyLoader {
    KeyLoader::new(options).expect("loader")
}

/// The error code of a failed load.
pub(crate) fn code(result: Result<Loaded, Error>) -> &'static str {
    match result {
        Ok(loaded) => panic!("expected an error, loaded {}", loaded.source),
        Err(e) => e.code(),
    }
}

/// The error of a failed load.
pub(crate) fn err(result: Result<Loaded, Error>) -> Error {
    match result {
        Ok(loaded) => panic!("expected an error, loaded {}", loaded.source),
        Err(e) => e,
    }
}
