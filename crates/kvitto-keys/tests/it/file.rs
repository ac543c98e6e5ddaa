//! File sources: read as is, never cached; unreadable ones fail to fetch.

use std::fs;

use kvitto_keys::{MAX_SIZE, Options, pin_of};

use crate::{code, doc, loader, options};

#[test]
fn a_file_source() {
    let cache = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keys.json");
    let body = doc("ws_file", &[1, 2, 3]);
    fs::write(&path, &body).expect("write");
    let source = path.to_str().expect("utf-8 path");

    let loaded = loader(options(cache.path())).load(source).expect("file");
    assert_eq!(loaded.source, source);
    assert_eq!(loaded.bytes, body);
    assert_eq!(loaded.sha256, pin_of(&body));
    assert_eq!(loaded.keys.keys().len(), 3);
    assert_eq!(loaded.cache_age, None);
    assert!(!loaded.pinned);

    let pinned = Options {
        pin: Some(pin_of(&body)),
        ..options(cache.path())
    };
    assert!(loader(pinned).load(source).expect("pinned").pinned);
    let wrong = Options {
        pin: Some(pin_of(b"other")),
        ..options(cache.path())
    };
    assert_eq!(code(loader(wrong).load(source)), "pin_mismatch");
}

#[test]
fn a_directory_or_a_missing_file_fails_to_fetch() {
    let cache = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = loader(options(cache.path()));
    let as_dir = dir.path().to_str().expect("utf-8 path");
    let e = keys.load(as_dir).expect_err("a directory");
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("directory"), "{e}");
    let missing = dir.path().join("missing.json");
    let e = keys
        .load(missing.to_str().expect("utf-8 path"))
        .expect_err("missing");
    assert_eq!(e.code(), "keys_fetch_failed");
}

#[test]
fn file_size_limit_and_order_of_checks() {
    let cache = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = loader(Options {
        pin: Some(pin_of(b"something else")),
        ..options(cache.path())
    });
    let unpinned = loader(options(cache.path()));

    // Over 1 MiB: too_large before the pin is looked at.
    let big = dir.path().join("big.json");
    let mut body = doc("ws_file", &[1]);
    body.resize(MAX_SIZE + 1, b' ');
    fs::write(&big, &body).expect("write");
    let big = big.to_str().expect("utf-8 path");
    assert_eq!(code(keys.load(big)), "too_large");
    assert_eq!(code(unpinned.load(big)), "too_large");

    // Exactly 1 MiB is fine.
    body.truncate(MAX_SIZE);
    let max = dir.path().join("max.json");
    fs::write(&max, &body).expect("write");
    let max = max.to_str().expect("utf-8 path");
    assert_eq!(unpinned.load(max).expect("1 MiB").bytes.len(), MAX_SIZE);

    // Broken content: the pin first, then keys_invalid.
    let broken = dir.path().join("broken.json");
    fs::write(&broken, b"{\"workspace_id\": 1}").expect("write");
    let broken = broken.to_str().expect("utf-8 path");
    assert_eq!(code(keys.load(broken)), "pin_mismatch");
    assert_eq!(code(unpinned.load(broken)), "keys_invalid");
}
