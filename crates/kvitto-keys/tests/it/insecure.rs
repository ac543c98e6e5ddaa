//! Plain http: only to loopback, only with the opt-in, checked before connecting.

use std::time::{Duration, Instant};

use kvitto_keys::Options;

use crate::server::Server;
use crate::{code, doc, err, loader, options};

#[test]
fn plain_http_to_loopback_needs_the_opt_in() {
    let cache = tempfile::tempdir().expect("temp dir");
    let server = Server::serving("http", doc("ws_http", &[1]));
    let url = server.url("/k");
    let e = err(loader(options(cache.path())).load(&url));
    assert_eq!(e.code(), "keys_fetch_failed");
    assert!(
        e.to_string().contains(
            "plain http is allowed only to a loopback host with --allow-insecure-localhost"
        ),
        "{e}"
    );
    assert_eq!(server.hits(), 0);

    let opted_in = Options {
        allow_insecure_localhost: true,
        ..options(cache.path())
    };
    let loaded = loader(opted_in.clone()).load(&url).expect("allowed");
    assert_eq!(loaded.keys.workspace_id(), "ws_http");
    assert_eq!(server.hits(), 1);

    // `localhost` is loopback too (resolved to loopback addresses only).
    let by_name = format!("http://localhost:{}/k", server.addr.port());
    assert_eq!(
        code(loader(options(cache.path())).load(&by_name)),
        "keys_fetch_failed"
    );
    loader(opted_in).load(&by_name).expect("localhost allowed");
    assert_eq!(server.hits(), 2);
}

#[test]
fn plain_http_elsewhere_is_refused_before_connecting() {
    let cache = tempfile::tempdir().expect("temp dir");
    let opted_in = Options {
        allow_insecure_localhost: true,
        // Long enough that an attempted connection would show.
        connect_timeout: Duration::from_secs(30),
        timeout: Duration::from_secs(30),
        ..options(cache.path())
    };
    let keys = loader(opted_in);
    for url in [
        // TEST-NET-1: never routed, a connection attempt would hang.
        "http://192.0.2.1/keys.json",
        "http://0.0.0.0:9/keys.json",
        "http://127.0.0.1.example.com/keys.json",
        "http://[::ffff:127.0.0.1]/keys.json",
    ] {
        let started = Instant::now();
        let e = err(keys.load(url));
        assert_eq!(e.code(), "keys_fetch_failed", "{url}");
        assert!(e.to_string().contains("never allowed"), "{url}: {e}");
        assert!(started.elapsed() < Duration::from_secs(2), "{url}");
        // Not even offline mode's cache lookup gets a say.
        assert!(keys.refetch(url).is_err(), "{url}");
    }
}

#[test]
fn other_schemes_are_refused() {
    let cache = tempfile::tempdir().expect("temp dir");
    let keys = loader(options(cache.path()));
    for source in ["ftp://example.com/k.json", "file:///etc/keys.json"] {
        let e = err(keys.load(source));
        assert_eq!(e.code(), "keys_fetch_failed");
        assert!(e.to_string().contains("scheme"), "{e}");
    }
}
