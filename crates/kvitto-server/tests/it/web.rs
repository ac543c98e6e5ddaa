//! The verification page at /verify/ (`serve --web-dir`): its files with the
//! page's CSP and their media types, nothing outside the directory, and a
//! 404 that says how to serve it when no directory is given. The page itself
//! runs in Chromium against this server in web/test/roundtrip.test.mjs.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::{Backend, Server};

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";

fn no_redirects() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GET `path` exactly as written, over a fresh connection.
fn raw_get(s: &Server, path: &str) -> String {
    let addr = s
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut conn = TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_page_is_served_at_verify_with_its_policy() {
    let mut s = Server::start(Backend::Sqlite);
    let http = no_redirects();

    // Without --web-dir: a 404 naming the flag, under the policy too.
    let r = http.get(s.url("/verify/")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.headers()["content-security-policy"], CSP);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], "page_not_served");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--web-dir"),
        "{body}"
    );

    let root = tempfile::tempdir().unwrap();
    let web = root.path().join("web");
    fs::create_dir_all(web.join("kvitto")).unwrap();
    fs::write(
        web.join("index.html"),
        "<!doctype html><title>kvitto</title>",
    )
    .unwrap();
    fs::write(web.join("app.js"), "export const x = 1;\n").unwrap();
    fs::write(web.join("style.css"), "body{}").unwrap();
    fs::write(web.join("kvitto/kvitto_wasm_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    fs::write(web.join(".secret.js"), "SECRET-CONTENT").unwrap();
    fs::write(web.join("notes.key"), "SECRET-CONTENT").unwrap();
    fs::write(web.join("init.json"), "SECRET-CONTENT").unwrap();
    fs::create_dir_all(web.join("dir.js")).unwrap();
    fs::write(root.path().join("outside.js"), "SECRET-CONTENT").unwrap();
    std::os::unix::fs::symlink(root.path().join("outside.js"), web.join("link.js")).unwrap();
    s.terminate();
    s.serve_with(&[OsString::from("--web-dir"), web.clone().into()]);

    let r = http.get(s.url("/verify")).send().unwrap();
    assert_eq!(r.status().as_u16(), 308);
    assert_eq!(r.headers()["location"], "verify/");
    assert_eq!(r.headers()["content-security-policy"], CSP);

    for (path, mime, body) in [
        (
            "/verify/",
            "text/html; charset=utf-8",
            &b"<!doctype html><title>kvitto</title>"[..],
        ),
        (
            "/verify/app.js",
            "text/javascript; charset=utf-8",
            b"export const x = 1;\n",
        ),
        ("/verify/style.css", "text/css; charset=utf-8", b"body{}"),
        (
            "/verify/kvitto/kvitto_wasm_bg.wasm",
            "application/wasm",
            b"\0asm\x01\0\0\0",
        ),
    ] {
        let r = http.get(s.url(path)).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let h = r.headers();
        assert_eq!(h["content-type"], mime, "{path}");
        assert_eq!(h["content-security-policy"], CSP, "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        assert_eq!(&r.bytes().unwrap()[..], body, "{path}");
    }

    // A rebuilt page is served without a restart.
    fs::write(web.join("app.js"), "export const x = 2;\n").unwrap();
    let r = http.get(s.url("/verify/app.js")).send().unwrap();
    assert_eq!(r.text().unwrap(), "export const x = 2;\n");

    // Nothing outside the directory, no hidden files, no unknown types.
    // Sent as raw bytes: an HTTP client would resolve the dot segments.
    for path in [
        "/verify/%2e%2e/outside.js",
        "/verify/kvitto/%2e%2e/%2e%2e/outside.js",
        "/verify/..%2foutside.js",
        "/verify/.secret.js",
        "/verify/notes.key",
        "/verify/missing.js",
        "/verify/kvitto",
        "/verify/init.json",
        "/verify/dir.js",
        "/verify/link.js",
        "/verify/app.js/x.js",
        "/verify/a%00.js",
        "/verify/a%0Afake.js",
        "/verify/%2Fetc%2Fpasswd.js",
        "/verify/%ff.js",
    ] {
        let answer = raw_get(&s, path);
        let head = answer.lines().next().unwrap_or("");
        assert_eq!(head, "HTTP/1.1 404 Not Found", "{path}: {answer}");
        assert!(
            answer.contains(&format!("content-security-policy: {CSP}")),
            "{path}: {answer}"
        );
        assert!(
            answer.contains("x-content-type-options: nosniff"),
            "{path}: {answer}"
        );
        assert!(!answer.contains("SECRET-CONTENT"), "{path}: {answer}");
    }

    // Another method: 405 in the API's error format, under the policy too.
    let r = http.post(s.url("/verify/app.js")).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["content-security-policy"], CSP);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    // HEAD answers like GET, without the body.
    let r = http.head(s.url("/verify/app.js")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );

    // The API is unchanged beside it.
    let (status, _) = s.get("/healthz");
    assert_eq!(status, 200);
}
