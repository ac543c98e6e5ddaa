//! Load kvitto key documents (contract section 6) from a file or over
//! HTTPS, check them against a SHA-256 pin, and cache them for offline use.
//!
//! ```
//! use kvitto_keys::{pin_of, KeyLoader, Options};
//! # use kvitto_core::{jcs, sign::{key_document, IssuerKey}, KeyStatus};
//! # let dir = tempfile::tempdir()?;
//! # let key = IssuerKey::from_seed("ws_demo.k1", &[7; 32]);
//! # let doc = jcs::to_vec(&key_document("ws_demo", vec![key.jwk(KeyStatus::Active, "2026-01-01T00:00:00Z", None)]));
//! # let path = dir.path().join("keys.json");
//! # std::fs::write(&path, &doc)?;
//! # let path = path.to_str().ok_or("path")?;
//! let pin = pin_of(&std::fs::read(path)?); // what `sha256sum keys.json` prints
//! let loader = KeyLoader::new(Options { pin: Some(pin), ..Options::default() })?;
//! let loaded = loader.load(path)?; // or "https://keys.example.com/ws_demo.json"
//! assert!(loaded.pinned);
//! println!("{} keys of {}", loaded.keys.keys().len(), loaded.keys.workspace_id());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Fetching
//!
//! - HTTPS only, verified against the system's roots plus
//!   [`Options::ca_certs`]. Plain `http://` only to a loopback host
//!   (127.0.0.0/8, `::1`, `localhost`), only with
//!   [`Options::allow_insecure_localhost`]; the URL is checked before any
//!   connection is made, and such a request bypasses proxies.
//! - Redirects: at most 5, each to an `https://` URL; a redirect to any other
//!   URL fails the fetch.
//! - [`Options::connect_timeout`] for the connection, [`Options::timeout`]
//!   for the whole fetch including the body.
//! - Content decoding: `gzip`, `br`, `zstd` and `deflate` (zlib-wrapped, as
//!   RFC 9110 defines it) are offered in `Accept-Encoding` and decoded. The
//!   document — what is pinned, parsed, cached and returned in
//!   [`Loaded::bytes`] — is the body after content decoding, as the
//!   contract says, so the pin is `sha256sum` of the file the server holds
//!   whether or not it compresses it on the way. A body that does not
//!   decode (corrupt, truncated, a bad checksum) is `keys_fetch_failed`: no
//!   document arrived, so there is nothing to pin or judge. So is a body in
//!   any other coding (a `Content-Encoding` other than these and
//!   `identity`, or several stacked): it is refused, never hashed as is.
//! - The cap is on the decoded body: it is read up to 1 MiB + 1 decoded
//!   byte and no further, so a larger document is `too_large`, and a
//!   compression bomb is inflated no further than that. An unencoded body
//!   whose `Content-Length` is over 1 MiB is `too_large` up front; the
//!   `Content-Length` of an encoded body counts compressed bytes and decides
//!   nothing (a document of at most 1 MiB is accepted however large its
//!   encoding is).
//! - HTTP errors, timeouts, refused URLs and redirects, unreadable files and
//!   a missing cached copy offline are `keys_fetch_failed`, with a message
//!   that says what to do.
//!
//! # What the cache protects, and what it does not
//!
//! Fetched documents (never files) are cached per [`KeyLoader`] in memory
//! and on disk, one file per URL, named by the hex SHA-256 of the URL, in
//! [`Options::cache_dir`] (default `$KVITTO_CACHE_DIR`, else the per-user
//! cache directory + `kvitto`, e.g. `~/.cache/kvitto`). A copy younger than
//! [`Options::cache_ttl`] (5 minutes) is used without touching the network;
//! an older one is fetched again, or used anyway with
//! [`Options::offline`], its age reported in [`Loaded::cache_age`].
//! [`KeyLoader::fetch`] skips the cache and fetches (unless offline), then
//! stores the fresh copy: `kvitto keys fetch` uses it to fill the cache. Files
//! are written atomically (temporary file, fsync, rename), so a crash or a
//! concurrent run never leaves a half-written entry.
//!
//! Every use of a cached copy goes through the same checks as a fresh
//! fetch — size, pin, validation — so:
//!
//! - **With a pin**, the cache cannot change what you trust: a cached copy
//!   edited on disk fails with `pin_mismatch` (and a broken one with
//!   `keys_invalid`) instead of being used.
//! - **Without a pin**, the cache is only as trustworthy as the directory
//!   it lives in. Anyone who can write there can substitute a different,
//!   valid key document, and it will be used until it goes stale (or
//!   forever with `--offline`). Only a pin protects the cache.
//! - The cache also delays news: a key the issuer revoked, or a key it
//!   added, is seen up to `cache_ttl` late (or never, offline). For an
//!   unknown kid, [`KeyLoader::refetch`] fetches an unpinned URL once more,
//!   bypassing the cache. Keep the TTL short where revocations matter, and
//!   pin where the document must not change.
//! - A copy still exactly as fetched that no longer passes (the pin was
//!   changed to a newer document's, say) is fetched again when online.

#![forbid(unsafe_code)]

mod cache;
mod fetch;
mod loader;
mod options;
mod source;

pub use loader::{KeyLoader, Loaded};
pub use options::Options;
pub use source::is_loopback_host;

pub use loader::pin_of;

/// The largest key document accepted: 1 MiB (1,048,576 bytes).
pub const MAX_SIZE: usize = kvitto_core::json::MAX_SIZE;
