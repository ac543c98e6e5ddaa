//! [`Options`]: how a [`KeyLoader`](crate::KeyLoader) reaches key documents.

use std::path::PathBuf;
use std::time::Duration;

use kvitto_core::Hash;

/// How key documents are loaded. Every field applies to every source loaded
/// by one [`KeyLoader`](crate::KeyLoader).
#[derive(Debug, Clone)]
pub struct Options {
    /// The SHA-256 pin every document must match, checked on the exact bytes
    /// before parsing, on every use (a read from the cache included).
    pub pin: Option<Hash>,
    /// Allow plain `http://`, and only to a loopback host (127.0.0.0/8, `::1`,
    /// `localhost`). Off by default: HTTPS only.
    pub allow_insecure_localhost: bool,
    /// Extra trusted CA certificates (PEM files, each may hold several), added
    /// to the system's roots: for a key server behind a private CA.
    pub ca_certs: Vec<PathBuf>,
    /// Where fetched documents are cached. `None`: `$KVITTO_CACHE_DIR` if set
    /// and not empty, else the per-user cache directory + `kvitto`
    /// (`~/.cache/kvitto` on Linux). No disk cache if neither exists.
    pub cache_dir: Option<PathBuf>,
    /// How long a cached document is used without asking the network again.
    /// Default 5 minutes; zero fetches every time (still at most once per load).
    pub cache_ttl: Duration,
    /// Never touch the network: serve from the cache even when stale (the
    /// age is reported in [`Loaded::cache_age`](crate::Loaded::cache_age)),
    /// fail with `keys_fetch_failed` when there is no cached copy.
    pub offline: bool,
    /// Time allowed to open the TCP connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time allowed for the whole fetch, body included. Default 30 s.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            pin: None,
            allow_insecure_localhost: false,
            ca_certs: Vec::new(),
            cache_dir: None,
            cache_ttl: Duration::from_secs(5 * 60),
            offline: false,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }
}
