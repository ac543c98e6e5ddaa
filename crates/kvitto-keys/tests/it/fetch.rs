//! HTTPS fetches: trust, pins, redirects, size cap, timeouts, statuses.

use std::time::Duration;

use kvitto_core::Hash;
use kvitto_keys::{MAX_SIZE, Options, pin_of};

use crate::server::{Reply, Server};
use crate::{code, doc, err, loader, options};

#[test]
fn fetch_ok_with_the_ca_trusted() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_fetch", &[1, 2]);
    let server = Server::serving("https", body.clone());
    let url = server.url("/keys.json");
    let loaded = loader(options(cache.path())).load(&url).expect("fetched");
    assert_eq!(loaded.bytes, body);
    assert_eq!(loaded.sha256, pin_of(&body));
    assert_eq!(loaded.keys.workspace_id(), "ws_fetch");
    assert_eq!(loaded.keys.keys().len(), 2);
    assert_eq!(loaded.source, url);
    assert!(!loaded.pinned);
    assert_eq!(loaded.cache_age, None);
    assert_eq!(server.paths(), ["/keys.json"]);
}

#[test]
fn untrusted_without_the_ca() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::serving("https", doc("ws_fetch", &[1]));
    let opts = Options {
        ca_certs: Vec::new(),
        ..options(cache.path())
    };
    let e = err(loader(opts).load(&server.url("/keys.json")));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("private CA"), "{e}");
    // The TLS handshake failed: no request reached the server, nothing cached.
    assert_eq!(server.hits(), 0);
    assert_eq!(
        std::fs::read_dir(cache.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[test]
fn pin_ok() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_pin", &[3]);
    let server = Server::serving("https", body.clone());
    let opts = Options {
        pin: Some(pin_of(&body)),
        ..options(cache.path())
    };
    let loaded = loader(opts).load(&server.url("/k")).expect("pinned load");
    assert!(loaded.pinned);
    assert_eq!(loaded.sha256, pin_of(&body));
}

#[test]
fn pin_mismatch_is_not_cached() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::serving("https", doc("ws_pin", &[3]));
    let wrong = pin_of(&doc("ws_pin", &[4]));
    let opts = Options {
        pin: Some(wrong),
        ..options(cache.path())
    };
    let keys = loader(opts);
    let e = err(keys.load(&server.url("/k")));
    assert_eq!(e.code(), "pin_mismatch");
    // Nothing stored: the next load asks the server again.
    assert_eq!(code(keys.load(&server.url("/k"))), "pin_mismatch");
    assert_eq!(server.hits(), 2);
}

#[test]
fn bare_hex_pins_parse_to_the_same_hash() {
    let body = doc("ws_pin", &[5]);
    let pin = pin_of(&body).to_string();
    let bare = pin
        .strip_prefix("sha256:")
        .expect("prefix")
        .to_ascii_uppercase();
    assert_eq!(Hash::parse_pin(&bare), Some(pin_of(&body)));
}

#[test]
fn redirect_to_http_is_refused() {
    let cache = tempfile::tempdir().expect("temp dir");
    let plain = Server::serving("http", doc("ws_redirect", &[1]));
    let target = plain.url("/keys.json");
    let server = Server::https(move |_| Reply::Redirect(target.clone()));
    // Even with the loopback opt-in: no redirect to a non-HTTPS URL.
    let opts = Options {
        allow_insecure_localhost: true,
        ..options(cache.path())
    };
    let e = err(loader(opts).load(&server.url("/keys.json")));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("non-HTTPS"), "{e}");
    assert_eq!(server.hits(), 1);
    assert_eq!(plain.hits(), 0, "the http URL was never requested");
}

#[test]
fn redirect_to_https_is_followed() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_redirect", &[2]);
    let server = Server::https(move |path| match path {
        "/old" => Reply::Redirect("/hop".to_owned()),
        "/hop" => Reply::Redirect("/new".to_owned()),
        _ => Reply::Body(body.clone()),
    });
    let loaded = loader(options(cache.path()))
        .load(&server.url("/old"))
        .expect("followed");
    assert_eq!(loaded.keys.workspace_id(), "ws_redirect");
    assert_eq!(server.paths(), ["/old", "/hop", "/new"]);
}

#[test]
fn more_than_five_redirects_fail() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_redirect", &[2]);
    let server = Server::https(move |path| {
        let n: u32 = path.trim_start_matches("/r").parse().unwrap_or(99);
        if n < 6 {
            Reply::Redirect(format!("/r{}", n + 1))
        } else {
            Reply::Body(body.clone())
        }
    });
    // /r1 -> ... -> /r6: five redirects, allowed.
    let keys = loader(options(cache.path()));
    assert!(keys.load(&server.url("/r1")).is_ok());
    // /r0 -> ... -> /r6: six redirects, refused after the fifth.
    let e = err(keys.load(&server.url("/r0")));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("redirects"), "{e}");
}

/// A valid document padded with trailing spaces to exactly `len` bytes.
pub(crate) fn padded(len: usize) -> Vec<u8> {
    let mut body = doc("ws_big", &[1]);
    body.resize(len, b' ');
    body
}

#[test]
fn exactly_one_mib_is_accepted() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::serving("https", padded(MAX_SIZE));
    let loaded = loader(options(cache.path()))
        .load(&server.url("/k"))
        .expect("1 MiB is the limit, inclusive");
    assert_eq!(loaded.bytes.len(), MAX_SIZE);
}

#[test]
fn oversize_body_is_too_large() {
    let cache = tempfile::tempdir().expect("temp dir");
    let big = padded(MAX_SIZE + 1);
    let sized = Server::serving("https", big.clone());
    let unsized_ = Server::https(move |_| Reply::Unsized(big.clone()));
    let keys = loader(options(cache.path()));
    for server in [&sized, &unsized_] {
        let e = err(keys.load(&server.url("/k")));
        assert_eq!(e.code(), "too_large", "{e}");
        assert!(matches!(
            e,
            kvitto_core::Error::TooLarge { size, limit: MAX_SIZE } if size > MAX_SIZE
        ));
    }
}

#[test]
fn an_endless_body_is_cut_off_after_the_cap() {
    let cache = tempfile::tempdir().expect("temp dir");
    let total = 256 * MAX_SIZE;
    let server = Server::https(move |_| Reply::Endless { total });
    let e = err(loader(options(cache.path())).load(&server.url("/k")));
    assert_eq!(e.code(), "too_large");
    // The client stopped reading and closed: the server could not send it all.
    std::thread::sleep(Duration::from_millis(300));
    let written = server.written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(written < total / 4, "server wrote {written} bytes");
}

#[test]
fn a_stalled_server_times_out() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::https(|_| Reply::Stall(Duration::from_secs(3)));
    let opts = Options {
        timeout: Duration::from_millis(500),
        ..options(cache.path())
    };
    let started = std::time::Instant::now();
    let e = err(loader(opts).load(&server.url("/k")));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn http_errors_and_invalid_documents() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::https(|path| match path {
        "/missing" => Reply::Status(404),
        "/broken" => Reply::Status(500),
        "/dup" => {
            Reply::Body(br#"{"workspace_id":"ws_a","workspace_id":"ws_b","keys":[]}"#.to_vec())
        }
        _ => Reply::Body(b"not json".to_vec()),
    });
    let keys = loader(options(cache.path()));
    let e = err(keys.load(&server.url("/missing")));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(e.to_string().contains("404"), "{e}");
    assert_eq!(code(keys.load(&server.url("/broken"))), "keys_fetch_failed");
    assert_eq!(code(keys.load(&server.url("/dup"))), "keys_invalid");
    assert_eq!(code(keys.load(&server.url("/text"))), "keys_invalid");
}

#[test]
fn nothing_listening_fails_to_fetch() {
    let cache = tempfile::tempdir().expect("temp dir");
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let e = err(loader(options(cache.path())).load(&format!("https://{addr}/k")));
    assert_eq!(e.code(), "keys_fetch_failed");
}

#[test]
fn bad_ca_files_fail_at_construction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    for path in [dir.path().join("missing.pem"), not_pem] {
        let opts = Options {
            ca_certs: vec![path],
            ..Options::default()
        };
        let e = kvitto_keys::KeyLoader::new(opts).expect_err("bad CA file");
        assert_eq!(e.code(), "keys_fetch_failed");
    }
}
