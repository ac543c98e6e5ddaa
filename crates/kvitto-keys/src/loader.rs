//! [`KeyLoader`]: load a key document from a file or a URL, through the cache.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use kvitto_core::{Error, Hash, KeySet};
use reqwest::blocking::Client;
use reqwest::{Certificate, Url};

use crate::cache::{Cache, Entry};
use crate::source::{Source, check_url};
use crate::{MAX_SIZE, Options, fetch};

/// A key document that passed the size check, the pin (when set) and
/// validation, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated document.
    pub keys: KeySet,
    /// The path or URL as given to [`KeyLoader::load`].
    pub source: String,
    /// SHA-256 of [`Loaded::bytes`]: the value to pin.
    pub sha256: Hash,
    /// Whether a pin was checked (and matched).
    pub pinned: bool,
    /// `Some(age)` when served from the cache (memory or disk): the time
    /// since it was fetched. `None` when read from a file or fetched now.
    pub cache_age: Option<Duration>,
    /// The document's exact bytes.
    pub bytes: Vec<u8>,
}

/// Loads key documents from files and `https://` URLs with one set of
/// [`Options`]. Cheap to share: `Send + Sync`, and the HTTP client is built
/// on the first fetch.
pub struct KeyLoader {
    options: Options,
    roots: Vec<Certificate>,
    cache: Cache,
    https: Mutex<Option<Client>>,
    loopback: Mutex<Option<Client>>,
    refetched: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for KeyLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLoader")
            .field("options", &self.options)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl KeyLoader {
    /// A loader with these options. Reads the `ca_certs` files now, so a
    /// missing or broken one fails here (`keys_fetch_failed`), not at the
    /// first fetch.
    pub fn new(options: Options) -> Result<KeyLoader, Error> {
        let mut roots = Vec::new();
        for path in &options.ca_certs {
            roots.extend(fetch::read_ca(path)?);
        }
        let dir = options.cache_dir.clone().or_else(default_cache_dir);
        Ok(KeyLoader {
            options,
            roots,
            cache: Cache::new(dir),
            https: Mutex::new(None),
            loopback: Mutex::new(None),
            refetched: Mutex::new(HashSet::new()),
        })
    }

    /// The options this loader was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The disk cache directory in use, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache.dir()
    }

    /// The disk cache file that holds (or would hold) the document of a URL
    /// source; `None` for a file source, an invalid URL, or no cache dir.
    pub fn cache_path(&self, source: &str) -> Option<PathBuf> {
        match Source::parse(source).ok()? {
            Source::Url(url) => self.cache.path(url.as_str()),
            Source::File(_) => None,
        }
    }

    /// Load the key document at `source`: a file path, or an `https://`
    /// URL (`http://` only to a loopback host with
    /// [`Options::allow_insecure_localhost`]).
    ///
    /// A URL is served from the cache while the cached copy is younger than
    /// [`Options::cache_ttl`] (no network at all), else fetched. With
    /// [`Options::offline`] only the cache is used, at any age. Every copy,
    /// fetched, read or cached, goes through [`KeySet::from_bytes`] with
    /// the pin: size (`too_large`), pin (`pin_mismatch`), then validity
    /// (`keys_invalid`). Anything that keeps the bytes from arriving is
    /// `keys_fetch_failed`.
    pub fn load(&self, source: &str) -> Result<Loaded, Error> {
        match Source::parse(source)? {
            Source::File(path) => self.load_file(source, &path),
            Source::Url(url) => self.load_url(source, &url, Mode::Cache),
        }
    }

    /// Fetch the key document at `source` from the network now, whatever
    /// the cache holds: what `kvitto keys fetch` does. A cached copy of any
    /// age is never served, and the fetched copy, once it passes the same
    /// checks as in [`KeyLoader::load`], replaces it in the memory and disk
    /// cache, where a later offline load finds it. A failed fetch, or a copy
    /// that does not pass, leaves the cache as it was (the error of a failed
    /// fetch says when a cached copy exists, for `--offline`).
    ///
    /// With [`Options::offline`] nothing is fetched: the cached copy is
    /// served at any age, exactly as [`KeyLoader::load`] serves it offline,
    /// and [`Loaded::cache_age`] says how old it is (so a caller can say
    /// that it used the cache). A file source is read, as by
    /// [`KeyLoader::load`]. Unlike [`KeyLoader::refetch`], this is neither
    /// limited to once per URL nor refused for a pinned loader.
    pub fn fetch(&self, source: &str) -> Result<Loaded, Error> {
        match Source::parse(source)? {
            Source::File(path) => self.load_file(source, &path),
            Source::Url(url) if self.options.offline => self.load_url(source, &url, Mode::Cache),
            Source::Url(url) => self.load_url(source, &url, Mode::Network),
        }
    }

    /// For a receipt whose kid the document lacks: fetch an unpinned URL
    /// once more, bypassing the cache (the issuer may have added a key
    /// since the cached copy). At most once per URL per loader.
    ///
    /// `Ok(None)` when that is not allowed: a file source, a pinned loader
    /// (a pinned document cannot change), offline, or already refetched.
    pub fn refetch(&self, source: &str) -> Result<Option<Loaded>, Error> {
        let url = match Source::parse(source)? {
            Source::File(_) => return Ok(None),
            Source::Url(url) => url,
        };
        if self.options.pin.is_some() || self.options.offline {
            return Ok(None);
        }
        check_url(&url, self.options.allow_insecure_localhost)?;
        let first = self
            .refetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(url.as_str().to_owned());
        if !first {
            return Ok(None);
        }
        self.load_url(source, &url, Mode::Refetch).map(Some)
    }

    fn load_file(&self, source: &str, path: &Path) -> Result<Loaded, Error> {
        let unreadable =
            |e: std::io::Error| fetch_failed(format!("cannot read key document {source}: {e}"));
        let meta = fs::metadata(path).map_err(unreadable)?;
        if meta.is_dir() {
            return Err(fetch_failed(format!(
                "{source} is a directory, not a key document file"
            )));
        }
        let mut bytes = Vec::new();
        fs::File::open(path)
            .and_then(|file| file.take(MAX_SIZE as u64 + 1).read_to_end(&mut bytes))
            .map_err(unreadable)?;
        if bytes.len() > MAX_SIZE {
            let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
            return Err(Error::TooLarge {
                size: size.max(bytes.len()),
                limit: MAX_SIZE,
            });
        }
        self.loaded(source, bytes, None)
    }

    fn load_url(&self, source: &str, url: &Url, mode: Mode) -> Result<Loaded, Error> {
        check_url(url, self.options.allow_insecure_localhost)?;
        let key = url.as_str();
        let now = SystemTime::now();
        let mut stale = None;
        if mode == Mode::Cache {
            if let Some(entry) = self.cache.memory(key)
                && let Some(result) = self.serve_cached(source, url, &entry, now, &mut stale)
            {
                return result;
            }
            if let Some(entry) = self.cache.disk(key)
                && let Some(result) = self.serve_cached(source, url, &entry, now, &mut stale)
            {
                if result.is_ok() {
                    self.cache.remember(key, entry);
                }
                return result;
            }
            if self.options.offline {
                return Err(fetch_failed(format!(
                    "no cached copy of {url}; run without --offline once"
                )));
            }
        }
        let client = self.client(url.scheme() == "http")?;
        let bytes = fetch::get(&client, url, self.options.timeout).map_err(|e| match e {
            Error::KeysFetchFailed { reason } => {
                // For a deliberate fetch the cache was not read; look now,
                // only to point to it.
                let cached = match mode {
                    Mode::Network => self.cache.memory(key).or_else(|| self.cache.disk(key)),
                    Mode::Cache | Mode::Refetch => stale.take(),
                };
                match cached {
                    Some(entry) => fetch_failed(format!(
                        "{reason} (a cached copy from {} ago exists: --offline uses it)",
                        human(entry.age(now))
                    )),
                    None => Error::KeysFetchFailed { reason },
                }
            }
            other => other,
        })?;
        let loaded = self.loaded(source, bytes, None)?;
        self.cache
            .store(key, Entry::new(loaded.bytes.clone(), SystemTime::now()));
        Ok(loaded)
    }

    /// Serve a cached copy: `None` when it should not be used (stale while
    /// online, or intact but no longer acceptable), else its verdict.
    fn serve_cached(
        &self,
        source: &str,
        url: &Url,
        entry: &Entry,
        now: SystemTime,
        stale: &mut Option<Entry>,
    ) -> Option<Result<Loaded, Error>> {
        if !self.options.offline && !entry.is_fresh(now, self.options.cache_ttl) {
            stale.get_or_insert_with(|| entry.clone());
            return None;
        }
        match self.loaded(source, entry.bytes.clone(), Some(entry.age(now))) {
            Ok(loaded) => Some(Ok(loaded)),
            // Intact, as fetched, but not acceptable now: fetched under
            // another pin, or by rules since tightened. Fetch it again.
            Err(_) if !self.options.offline && entry.is_intact() => None,
            // Changed since it was written, or offline: say so.
            Err(e) => Some(Err(cache_error(e, url, entry))),
        }
    }

    /// Size, pin and validity, in the contract's order.
    fn loaded(
        &self,
        source: &str,
        bytes: Vec<u8>,
        cache_age: Option<Duration>,
    ) -> Result<Loaded, Error> {
        let keys = KeySet::from_bytes(&bytes, self.options.pin.as_ref())?;
        Ok(Loaded {
            sha256: keys.sha256(),
            keys,
            source: source.to_owned(),
            pinned: self.options.pin.is_some(),
            cache_age,
            bytes,
        })
    }

    fn client(&self, loopback: bool) -> Result<Client, Error> {
        let slot = if loopback {
            &self.loopback
        } else {
            &self.https
        };
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = fetch::client(
            &self.roots,
            self.options.connect_timeout,
            self.options.timeout,
            loopback,
        )?;
        *slot = Some(client.clone());
        Ok(client)
    }
}

/// Where a URL load may take its document from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// [`KeyLoader::load`]: a usable cached copy, else the network.
    Cache,
    /// [`KeyLoader::fetch`]: the network, whatever the cache holds.
    Network,
    /// [`KeyLoader::refetch`]: the network, after the cached copy was used.
    Refetch,
}

/// The pin of a document: `sha256:` + hex of the SHA-256 of its exact bytes
/// (what `sha256sum` prints for the file).
pub fn pin_of(bytes: &[u8]) -> Hash {
    Hash::of(bytes)
}

pub(crate) fn fetch_failed(reason: impl Into<String>) -> Error {
    Error::KeysFetchFailed {
        reason: reason.into(),
    }
}

/// Say where a cached copy that failed came from, when the error has room.
fn cache_error(e: Error, url: &Url, entry: &Entry) -> Error {
    match e {
        Error::KeysInvalid { reason } => {
            let place = match &entry.path {
                Some(path) => format!(
                    "the cached copy of {url} ({}; delete it to fetch again)",
                    path.display()
                ),
                None => format!("the cached copy of {url}"),
            };
            Error::KeysInvalid {
                reason: format!("{place}: {reason}"),
            }
        }
        other => other,
    }
}

/// `$KVITTO_CACHE_DIR` if set and not empty, else the per-user cache
/// directory + `kvitto`.
fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("KVITTO_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::cache_dir().map(|dir| dir.join("kvitto")),
    }
}

/// A duration for people: "42 s", "7 min", "3 h", "2 days".
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s} s"),
        120..7_200 => format!("{} min", s / 60),
        7_200..172_800 => format!("{} h", s / 3_600),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(42)), "42 s");
        assert_eq!(human(Duration::from_secs(7 * 60)), "7 min");
        assert_eq!(human(Duration::from_secs(3 * 3_600)), "3 h");
        assert_eq!(human(Duration::from_secs(2 * 86_400 + 5)), "2 days");
    }

    #[test]
    fn loader_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<KeyLoader>();
        check::<Loaded>();
    }
}
