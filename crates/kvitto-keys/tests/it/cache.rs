//! The cache: hits without requests, staleness, tampering, offline mode,
//! and `fetch`, which asks the network past it and refills it.

use std::fs;
use std::time::Duration;

use kvitto_keys::{Options, pin_of};

use crate::server::{Reply, Server};
use crate::{code, doc, err, loader, options};

/// Replace the document bytes of a cache file, keeping its header.
fn tamper(path: &std::path::Path, new_body: &[u8]) {
    let file = fs::read(path).expect("cache file");
    let end = file
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("cache header")
        + 2;
    let mut out = file[..end].to_vec();
    out.extend_from_slice(new_body);
    fs::write(path, out).expect("tamper");
}

#[test]
fn a_second_load_makes_no_request() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_cache", &[1]);
    let server = Server::serving("https", body.clone());
    let url = server.url("/keys.json");
    let keys = loader(options(cache.path()));
    let first = keys.load(&url).expect("fetched");
    assert_eq!(first.cache_age, None);
    let second = keys.load(&url).expect("from memory");
    assert!(second.cache_age.is_some());
    assert_eq!(second.bytes, body);
    assert_eq!(server.hits(), 1);

    // Another loader (another run of the CLI) reads the disk cache.
    let third = loader(options(cache.path())).load(&url).expect("from disk");
    let age = third.cache_age.expect("served from the cache");
    assert!(age < Duration::from_secs(60));
    assert_eq!(third.sha256, pin_of(&body));
    assert_eq!(server.hits(), 1);

    // One file, named by the URL's hash, holding the exact bytes.
    let path = keys.cache_path(&url).expect("cache path");
    assert_eq!(path.parent(), Some(cache.path()));
    assert!(fs::read(&path).expect("cache file").ends_with(&body));
}

#[test]
fn a_stale_entry_is_fetched_again() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::serving("https", doc("ws_cache", &[1]));
    let url = server.url("/k");
    let opts = Options {
        cache_ttl: Duration::ZERO,
        ..options(cache.path())
    };
    let keys = loader(opts.clone());
    keys.load(&url).expect("fetched");
    let again = keys.load(&url).expect("fetched again");
    assert_eq!(again.cache_age, None);
    loader(opts).load(&url).expect("fetched by another loader");
    assert_eq!(server.hits(), 3);
}

#[test]
fn a_changed_document_is_seen_once_stale() {
    let cache = tempfile::tempdir().expect("temp dir");
    let (old, new) = (doc("ws_cache", &[1]), doc("ws_cache", &[1, 2]));
    let served = std::sync::Arc::new(std::sync::Mutex::new(old.clone()));
    let server = Server::https({
        let served = served.clone();
        move |_| Reply::Body(served.lock().expect("lock").clone())
    });
    let url = server.url("/k");
    let fresh = loader(options(cache.path()));
    assert_eq!(fresh.load(&url).expect("old").bytes, old);
    *served.lock().expect("lock") = new.clone();
    // Fresh cache: still the old copy, no request.
    assert_eq!(fresh.load(&url).expect("cached").bytes, old);
    assert_eq!(server.hits(), 1);
    // Zero TTL: the new one.
    let stale = loader(Options {
        cache_ttl: Duration::ZERO,
        ..options(cache.path())
    });
    assert_eq!(stale.load(&url).expect("new").bytes, new);
    assert_eq!(server.hits(), 2);
}

#[test]
fn a_tampered_cache_is_caught_by_the_pin() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_cache", &[1]);
    let server = Server::serving("https", body.clone());
    let url = server.url("/k");
    let opts = Options {
        pin: Some(pin_of(&body)),
        ..options(cache.path())
    };
    let keys = loader(opts.clone());
    keys.load(&url).expect("fetched");
    let path = keys.cache_path(&url).expect("cache path");

    // Another valid document, e.g. with an attacker's key.
    tamper(&path, &doc("ws_cache", &[1, 66]));
    assert_eq!(code(loader(opts.clone()).load(&url)), "pin_mismatch");
    // Offline too.
    let offline = Options {
        offline: true,
        ..opts.clone()
    };
    assert_eq!(code(loader(offline).load(&url)), "pin_mismatch");
    // Broken bytes: the pin still speaks first.
    tamper(&path, b"{\"keys\":");
    assert_eq!(code(loader(opts).load(&url)), "pin_mismatch");
    assert_eq!(
        server.hits(),
        1,
        "a tampered fresh entry is not silently replaced"
    );
}

#[test]
fn a_broken_cache_is_keys_invalid_without_a_pin() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::serving("https", doc("ws_cache", &[1]));
    let url = server.url("/k");
    let keys = loader(options(cache.path()));
    keys.load(&url).expect("fetched");
    let path = keys.cache_path(&url).expect("cache path");
    tamper(&path, b"{\"workspace_id\":\"ws_cache\",\"keys\":[1]}");
    let e = err(loader(options(cache.path())).load(&url));
    assert_eq!(e.code(), "keys_invalid");
    assert!(e.to_string().contains("cached copy"), "{e}");
}

#[test]
fn without_a_pin_a_valid_substitute_in_the_cache_is_used() {
    // Documented: only a pin protects the cache.
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::serving("https", doc("ws_cache", &[1]));
    let url = server.url("/k");
    let keys = loader(options(cache.path()));
    keys.load(&url).expect("fetched");
    let substitute = doc("ws_cache", &[1, 66]);
    tamper(&keys.cache_path(&url).expect("cache path"), &substitute);
    let loaded = loader(options(cache.path())).load(&url).expect("cached");
    assert_eq!(loaded.bytes, substitute);
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_new_pin_fetches_past_an_intact_entry() {
    let cache = tempfile::tempdir().expect("temp dir");
    let (old, new) = (doc("ws_cache", &[1]), doc("ws_cache", &[2]));
    let served = std::sync::Arc::new(std::sync::Mutex::new(old.clone()));
    let server = Server::https({
        let served = served.clone();
        move |_| Reply::Body(served.lock().expect("lock").clone())
    });
    let url = server.url("/k");
    loader(options(cache.path())).load(&url).expect("old");
    *served.lock().expect("lock") = new.clone();
    // The user pins the rotated document: the cached old copy is intact
    // but not it, so it is fetched again rather than failing.
    let pinned = Options {
        pin: Some(pin_of(&new)),
        ..options(cache.path())
    };
    let loaded = loader(pinned.clone()).load(&url).expect("new");
    assert_eq!(loaded.bytes, new);
    assert_eq!(loaded.cache_age, None);
    assert_eq!(server.hits(), 2);
    // And now the cache holds the new one.
    let cached = loader(pinned).load(&url).expect("cached");
    assert!(cached.cache_age.is_some());
    assert_eq!(server.hits(), 2);
}

#[test]
fn offline_uses_fresh_and_stale_copies_and_never_the_network() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_offline", &[1]);
    let server = Server::serving("https", body.clone());
    let url = server.url("/k");
    loader(options(cache.path())).load(&url).expect("fetched");
    assert_eq!(server.hits(), 1);

    let offline = Options {
        offline: true,
        ..options(cache.path())
    };
    let fresh = loader(offline.clone()).load(&url).expect("fresh copy");
    assert!(fresh.cache_age.is_some());
    assert_eq!(fresh.bytes, body);

    std::thread::sleep(Duration::from_millis(20));
    let stale = Options {
        cache_ttl: Duration::from_millis(1),
        ..offline
    };
    let loaded = loader(stale).load(&url).expect("stale copy, offline");
    let age = loaded.cache_age.expect("age reported");
    assert!(age >= Duration::from_millis(20), "{age:?}");
    assert_eq!(server.hits(), 1, "offline never fetches");
}

#[test]
fn offline_without_a_copy_says_what_to_do() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::serving("https", doc("ws_offline", &[1]));
    let offline = Options {
        offline: true,
        ..options(cache.path())
    };
    let e = err(loader(offline).load(&server.url("/k")));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("run without --offline once"), "{e}");
    assert_eq!(server.hits(), 0);
}

#[test]
fn a_failed_fetch_with_a_stale_copy_points_to_offline() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_offline", &[1]);
    let server = Server::https(move |path| match path {
        "/gone" => Reply::Status(503),
        _ => Reply::Body(body.clone()),
    });
    let url = server.url("/k");
    loader(options(cache.path())).load(&url).expect("fetched");
    // Move the entry to the URL that now fails, as if the server went down.
    let keys = loader(Options {
        cache_ttl: Duration::ZERO,
        ..options(cache.path())
    });
    let gone = server.url("/gone");
    let from = keys.cache_path(&url).expect("path");
    let file = fs::read(&from).expect("cache file");
    let file = String::from_utf8_lossy(&file).replace(&url, &gone);
    fs::write(keys.cache_path(&gone).expect("path"), file).expect("write");
    let e = err(keys.load(&gone));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("--offline uses it"), "{e}");
}

#[test]
fn files_are_never_cached() {
    let cache = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keys.json");
    fs::write(&path, doc("ws_file", &[1])).expect("write");
    let keys = loader(options(cache.path()));
    let source = path.to_str().expect("utf-8 path");
    for _ in 0..2 {
        assert_eq!(keys.load(source).expect("file").cache_age, None);
    }
    assert_eq!(keys.cache_path(source), None);
    assert_eq!(fs::read_dir(cache.path()).expect("list").count(), 0);
}

/// A server answering with what `served` holds (503 when `None`).
fn switchable(first: Vec<u8>) -> (Server, std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>) {
    let served = std::sync::Arc::new(std::sync::Mutex::new(Some(first)));
    let server = Server::https({
        let served = served.clone();
        move |_| match served.lock().expect("lock").clone() {
            Some(body) => Reply::Body(body),
            None => Reply::Status(503),
        }
    });
    (server, served)
}

#[test]
fn fetch_asks_the_network_past_a_fresh_copy_and_stores_what_it_got() {
    let cache = tempfile::tempdir().expect("temp dir");
    let (old, new) = (doc("ws_fetch", &[1]), doc("ws_fetch", &[1, 2]));
    let (server, served) = switchable(old.clone());
    let url = server.url("/k");
    let keys = loader(options(cache.path()));
    assert_eq!(keys.load(&url).expect("old").bytes, old);
    *served.lock().expect("lock") = Some(new.clone());
    // `load` serves the fresh cached copy; `fetch` asks the server.
    assert_eq!(keys.load(&url).expect("cached").bytes, old);
    assert_eq!(server.hits(), 1);
    let fetched = keys.fetch(&url).expect("fetched");
    assert_eq!(fetched.bytes, new);
    assert_eq!(fetched.cache_age, None);
    assert_eq!(server.hits(), 2);

    // Stored in memory and on disk, in place of the old copy.
    let cached = keys.load(&url).expect("from memory");
    assert_eq!(cached.bytes, new);
    assert!(cached.cache_age.is_some());
    let offline = Options {
        offline: true,
        ..options(cache.path())
    };
    assert_eq!(loader(offline).load(&url).expect("from disk").bytes, new);
    assert_eq!(server.hits(), 2);

    // Unlike refetch: also when pinned, and every time.
    let pinned = loader(Options {
        pin: Some(pin_of(&new)),
        ..options(cache.path())
    });
    for hits in [3, 4] {
        assert!(pinned.fetch(&url).expect("pinned fetch").pinned);
        assert_eq!(server.hits(), hits);
    }
}

#[test]
fn fetch_offline_serves_the_cached_copy_with_its_age() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_fetch", &[3]);
    let (server, _served) = switchable(body.clone());
    let url = server.url("/k");
    let offline = Options {
        offline: true,
        ..options(cache.path())
    };
    let e = err(loader(offline.clone()).fetch(&url));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("run without --offline once"), "{e}");
    assert_eq!(server.hits(), 0);

    loader(options(cache.path())).fetch(&url).expect("fetched");
    // A zero TTL does not matter offline: any age is served.
    let loaded = loader(Options {
        cache_ttl: Duration::ZERO,
        ..offline
    })
    .fetch(&url)
    .expect("cached copy");
    assert_eq!(loaded.bytes, body);
    assert!(
        loaded.cache_age.is_some(),
        "served from the cache, with its age"
    );
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_failed_fetch_leaves_the_cached_copy_and_points_to_it() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_fetch", &[4]);
    let (server, served) = switchable(body.clone());
    let url = server.url("/k");
    let pinned = Options {
        pin: Some(pin_of(&body)),
        ..options(cache.path())
    };
    loader(pinned.clone()).fetch(&url).expect("fetched");

    // The server fails: an error, never the cached copy, and it says so.
    *served.lock().expect("lock") = None;
    let e = err(loader(pinned.clone()).fetch(&url));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("--offline uses it"), "{e}");

    // The server sends another document: it fails the pin, not stored.
    *served.lock().expect("lock") = Some(doc("ws_fetch", &[4, 66]));
    assert_eq!(code(loader(pinned.clone()).fetch(&url)), "pin_mismatch");
    assert_eq!(server.hits(), 3);

    let offline = Options {
        offline: true,
        ..pinned
    };
    assert_eq!(loader(offline).load(&url).expect("kept").bytes, body);
}
