//! Refetch for an unknown kid: once per URL, never when pinned or offline.

use std::sync::{Arc, Mutex};

use kvitto_keys::{Options, pin_of};

use crate::server::{Reply, Server};
use crate::{doc, loader, options};

#[test]
fn refetch_once_for_an_unpinned_url() {
    let cache = tempfile::tempdir().expect("temp dir");
    let (old, new) = (doc("ws_refetch", &[1]), doc("ws_refetch", &[1, 2]));
    let served = Arc::new(Mutex::new(old.clone()));
    let server = Server::https({
        let served = served.clone();
        move |_| Reply::Body(served.lock().expect("lock").clone())
    });
    let url = server.url("/k");
    let keys = loader(options(cache.path()));
    let first = keys.load(&url).expect("fetched");
    assert!(first.keys.key("ws_refetch.k2").is_none());

    // The issuer adds a key; the fresh cache still holds the old document.
    *served.lock().expect("lock") = new.clone();
    let refetched = keys.refetch(&url).expect("refetch").expect("allowed once");
    assert!(refetched.keys.key("ws_refetch.k2").is_some());
    assert_eq!(refetched.cache_age, None);
    assert_eq!(server.hits(), 2);

    // The refetched copy replaced the cache entry.
    assert_eq!(keys.load(&url).expect("cached").bytes, new);
    assert_eq!(
        loader(options(cache.path()))
            .load(&url)
            .expect("disk")
            .bytes,
        new
    );
    // Never twice per URL per loader.
    assert!(keys.refetch(&url).expect("refetch").is_none());
    assert_eq!(server.hits(), 2);
    // A new loader may refetch again.
    assert!(
        loader(options(cache.path()))
            .refetch(&url)
            .expect("refetch")
            .is_some()
    );
    assert_eq!(server.hits(), 3);
}

#[test]
fn never_refetch_when_pinned_offline_or_a_file() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_refetch", &[1]);
    let server = Server::serving("https", body.clone());
    let url = server.url("/k");
    let pinned = loader(Options {
        pin: Some(pin_of(&body)),
        ..options(cache.path())
    });
    pinned.load(&url).expect("fetched");
    assert!(pinned.refetch(&url).expect("refetch").is_none());
    let offline = loader(Options {
        offline: true,
        ..options(cache.path())
    });
    assert!(offline.refetch(&url).expect("refetch").is_none());
    assert_eq!(server.hits(), 1);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keys.json");
    std::fs::write(&path, &body).expect("write");
    let keys = loader(options(cache.path()));
    let source = path.to_str().expect("utf-8 path");
    assert!(keys.refetch(source).expect("refetch").is_none());
}

#[test]
fn a_failed_refetch_still_counts() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::https(|_| Reply::Status(500));
    let url = server.url("/k");
    let keys = loader(options(cache.path()));
    let e = keys.refetch(&url).expect_err("server error");
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(keys.refetch(&url).expect("refetch").is_none());
    assert_eq!(server.hits(), 1);
}
