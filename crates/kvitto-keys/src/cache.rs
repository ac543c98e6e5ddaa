//! The cache of fetched documents: in memory per loader, and on disk, one
//! file per URL, written atomically.
//!
//! A disk entry is one file named by the lowercase hex SHA-256 of the URL,
//! holding a short text header and then the document's exact bytes:
//!
//! ```text
//! kvitto-keys-cache 1
//! fetched_at_ms 1795832100000
//! sha256 sha256:<hex of the bytes when fetched>
//! url https://keys.example.com/ws_demo.json
//!
//! <the document's bytes>
//! ```

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kvitto_core::Hash;

const MAGIC: &str = "kvitto-keys-cache 1";

/// A cached copy of a document.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) bytes: Vec<u8>,
    pub(crate) fetched_at: SystemTime,
    /// SHA-256 of the bytes as fetched (recorded in the header). A copy
    /// whose bytes no longer hash to it was changed after it was written.
    pub(crate) recorded: Hash,
    /// The file it was read from (`None`: from memory).
    pub(crate) path: Option<PathBuf>,
}

impl Entry {
    pub(crate) fn new(bytes: Vec<u8>, fetched_at: SystemTime) -> Entry {
        let recorded = Hash::of(&bytes);
        Entry {
            bytes,
            fetched_at,
            recorded,
            path: None,
        }
    }

    /// Time since the fetch; zero when the fetch time lies in the future.
    pub(crate) fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.fetched_at).unwrap_or_default()
    }

    /// Younger than `ttl`, and not stamped in the future.
    pub(crate) fn is_fresh(&self, now: SystemTime, ttl: Duration) -> bool {
        now.duration_since(self.fetched_at)
            .is_ok_and(|age| age < ttl)
    }

    /// The bytes still hash to what was recorded when they were fetched.
    pub(crate) fn is_intact(&self) -> bool {
        Hash::of(&self.bytes) == self.recorded
    }
}

/// Memory and disk cache, keyed by the URL's text.
#[derive(Debug)]
pub(crate) struct Cache {
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<String, Entry>>,
}

impl Cache {
    pub(crate) fn new(dir: Option<PathBuf>) -> Cache {
        Cache {
            dir,
            memory: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The disk file of `url`: `<dir>/<hex sha256 of the URL>`.
    pub(crate) fn path(&self, url: &str) -> Option<PathBuf> {
        let hash = Hash::of(url.as_bytes()).to_string();
        let hex = hash.strip_prefix("sha256:").unwrap_or(&hash);
        self.dir.as_ref().map(|dir| dir.join(hex))
    }

    pub(crate) fn memory(&self, url: &str) -> Option<Entry> {
        self.lock().get(url).cloned()
    }

    /// The disk entry of `url`, if there is a readable one for this URL.
    pub(crate) fn disk(&self, url: &str) -> Option<Entry> {
        let path = self.path(url)?;
        let file = fs::read(&path).ok()?;
        let mut entry = parse(&file, url)?;
        entry.path = Some(path);
        Some(entry)
    }

    pub(crate) fn remember(&self, url: &str, entry: Entry) {
        self.lock().insert(url.to_owned(), entry);
    }

    /// Store in memory and (best effort) on disk.
    pub(crate) fn store(&self, url: &str, entry: Entry) {
        if let Some(path) = self.path(url) {
            // A cache that cannot be written only costs a fetch next time.
            let _ = write_atomic(&path, &serialize(url, &entry));
        }
        self.remember(url, entry);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere cannot leave the map half-updated.
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serialize(url: &str, entry: &Entry) -> Vec<u8> {
    let ms = entry
        .fetched_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut out = format!(
        "{MAGIC}\nfetched_at_ms {ms}\nsha256 {}\nurl {url}\n\n",
        entry.recorded
    )
    .into_bytes();
    out.extend_from_slice(&entry.bytes);
    out
}

fn parse(file: &[u8], url: &str) -> Option<Entry> {
    let end = file.windows(2).position(|w| w == b"\n\n")?;
    let header = std::str::from_utf8(&file[..end]).ok()?;
    let mut lines = header.split('\n');
    if lines.next()? != MAGIC {
        return None;
    }
    let ms: u64 = lines.next()?.strip_prefix("fetched_at_ms ")?.parse().ok()?;
    let recorded = Hash::parse_strict(lines.next()?.strip_prefix("sha256 ")?)?;
    if lines.next()?.strip_prefix("url ")? != url || lines.next().is_some() {
        return None;
    }
    Some(Entry {
        bytes: file[end + 2..].to_vec(),
        fetched_at: UNIX_EPOCH.checked_add(Duration::from_millis(ms))?,
        recorded,
        path: None,
    })
}

/// Write `data` to `path` so readers see the old file or the new one, never
/// a part: a temporary file in the same directory, fsync, rename.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else if let Ok(d) = fs::File::open(dir) {
        // Make the rename itself durable where the platform allows it.
        let _ = d.sync_all();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::new(Some(dir.path().to_path_buf()));
        let url = "https://keys.example.com/k.json";
        let at = UNIX_EPOCH + Duration::from_millis(1_795_832_100_123);
        cache.store(url, Entry::new(b"{\"a\":\n\n1}".to_vec(), at));
        let entry = cache.disk(url).expect("stored entry");
        assert_eq!(entry.bytes, b"{\"a\":\n\n1}");
        assert_eq!(entry.fetched_at, at);
        assert!(entry.is_intact());
        assert!(cache.disk("https://keys.example.com/other.json").is_none());
        let path = cache.path(url).expect("a path");
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(name.len(), 64);
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // Only the entry: no temporary file left behind.
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn a_file_for_another_url_is_not_used() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::new(Some(dir.path().to_path_buf()));
        let (a, b) = ("https://a.example/k", "https://b.example/k");
        cache.store(a, Entry::new(b"{}".to_vec(), SystemTime::now()));
        let from = cache.path(a).expect("path");
        fs::rename(&from, cache.path(b).expect("path")).expect("rename");
        assert!(cache.disk(b).is_none());
    }

    #[test]
    fn broken_headers_are_misses() {
        for file in [
            &b""[..],
            b"garbage",
            b"kvitto-keys-cache 1\nfetched_at_ms x\nsha256 sha256:00\nurl u\n\n{}",
            b"kvitto-keys-cache 2\nfetched_at_ms 1\nsha256 sha256:00\nurl u\n\n{}",
        ] {
            assert!(parse(file, "u").is_none());
        }
    }

    #[test]
    fn freshness() {
        let now = SystemTime::now();
        let ttl = Duration::from_secs(300);
        let entry = Entry::new(Vec::new(), now - Duration::from_secs(10));
        assert!(entry.is_fresh(now, ttl));
        assert!(!entry.is_fresh(now, Duration::from_secs(5)));
        assert!(entry.age(now) >= Duration::from_secs(10));
        let future = Entry::new(Vec::new(), now + Duration::from_secs(3600));
        assert!(!future.is_fresh(now, ttl));
        assert_eq!(future.age(now), Duration::ZERO);
    }
}
