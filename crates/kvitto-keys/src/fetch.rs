//! One HTTP GET of a key document: TLS roots, redirect policy, timeouts,
//! content decoding, and the size cap enforced on the decoded body while it
//! streams in.

use std::error::Error as StdError;
use std::fmt;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use kvitto_core::Error;
use reqwest::blocking::Client;
use reqwest::header::{CONTENT_ENCODING, HeaderMap};
use reqwest::redirect::{Attempt, Policy};
use reqwest::{Certificate, Url};

use crate::MAX_SIZE;
use crate::loader::fetch_failed;

/// Redirects followed at most, each to an `https` URL.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// Read the PEM certificates of one file (a bundle may hold several).
pub(crate) fn read_ca(path: &Path) -> Result<Vec<Certificate>, Error> {
    let pem = std::fs::read(path).map_err(|e| {
        fetch_failed(format!(
            "cannot read CA certificate file {}: {e}",
            path.display()
        ))
    })?;
    let certs = Certificate::from_pem_bundle(&pem).map_err(|e| {
        fetch_failed(format!(
            "{} is not a PEM certificate file: {}",
            path.display(),
            chain(&e)
        ))
    })?;
    if certs.is_empty() {
        return Err(fetch_failed(format!(
            "{} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// Why a redirect was not followed (becomes the reqwest error's source).
#[derive(Debug)]
struct RedirectRefused(String);

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for RedirectRefused {}

fn redirect(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    // `previous` holds every URL requested so far, the first one included.
    if attempt.previous().len() > MAX_REDIRECTS {
        let msg = format!("more than {MAX_REDIRECTS} redirects");
        attempt.error(RedirectRefused(msg))
    } else if attempt.url().scheme() != "https" {
        let msg = format!(
            "refusing a redirect to the non-HTTPS URL {}: key documents are fetched over HTTPS only",
            attempt.url()
        );
        attempt.error(RedirectRefused(msg))
    } else {
        attempt.follow()
    }
}

/// Build a client. `loopback`: the client for plain-http loopback URLs,
/// which bypasses proxies and resolves `localhost` to loopback addresses
/// only, so the request cannot leave the machine.
pub(crate) fn client(
    roots: &[Certificate],
    connect_timeout: Duration,
    timeout: Duration,
    loopback: bool,
) -> Result<Client, Error> {
    let mut builder = Client::builder()
        .user_agent(concat!("kvitto-keys/", env!("CARGO_PKG_VERSION")))
        .redirect(Policy::custom(redirect))
        // Content decoding (on by default with these features; stated so
        // it cannot silently go away). The pin is over the decoded bytes.
        .gzip(true)
        .brotli(true)
        .zstd(true)
        .deflate(true)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .tls_certs_merge(roots.iter().cloned());
    if loopback {
        builder = builder.no_proxy().resolve_to_addrs(
            "localhost",
            &[
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0),
            ],
        );
    }
    builder
        .build()
        .map_err(|e| fetch_failed(format!("cannot set up the HTTP client: {}", chain(&e))))
}

/// The content codings the client decodes (named in its `Accept-Encoding`).
const DECODED: &str = "gzip, br, zstd, deflate";

/// GET `url` and return the body after content decoding: at most
/// [`MAX_SIZE`] decoded bytes, read so that at most one decoded byte more is
/// ever produced before giving up (a compression bomb inflates no further).
pub(crate) fn get(client: &Client, url: &Url, timeout: Duration) -> Result<Vec<u8>, Error> {
    let response = client
        .get(url.clone())
        // Total time, until the body has been read.
        .timeout(timeout)
        .send()
        .map_err(|e| request_error(url, &e, timeout))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fetch_failed(format!(
            "{url} answered HTTP {status}{}",
            if response.url() != url {
                format!(" (after redirects, from {})", response.url())
            } else {
                String::new()
            }
        )));
    }
    // reqwest decodes gzip, br, zstd and deflate itself, and then removes
    // Content-Encoding (and Content-Length, which counted the encoded
    // bytes). A coding still named is one it did not decode: the body would
    // be encoded bytes, which no pin is over (the contract pins the bytes
    // after content decoding), so refuse it rather than hash or parse it.
    if let Some(coding) = undecoded_coding(response.headers()) {
        return Err(fetch_failed(format!(
            "{url} answered with Content-Encoding {coding:?}, which is not decoded here \
             (decoded: {DECODED}, one at a time)"
        )));
    }
    // The length of the body as it will be read: the Content-Length of an
    // unencoded body. For a decoded body reqwest reports none (the length
    // is known only once it is inflated), so the compressed length never
    // decides here; the cap on the decoded bytes below does.
    if let Some(len) = response.content_length()
        && len > MAX_SIZE as u64
    {
        return Err(Error::TooLarge {
            size: usize::try_from(len).unwrap_or(usize::MAX),
            limit: MAX_SIZE,
        });
    }
    let mut body = Vec::new();
    response
        .take(MAX_SIZE as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| read_error(url, &e, timeout))?;
    if body.len() > MAX_SIZE {
        // At least this large: the rest is never read.
        return Err(Error::TooLarge {
            size: body.len(),
            limit: MAX_SIZE,
        });
    }
    Ok(body)
}

/// The response's `Content-Encoding` (all its values, joined) when it names
/// any coding other than `identity` (codings are case-insensitive, RFC 9110
/// section 8.4.1).
fn undecoded_coding(headers: &HeaderMap) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    let encoded = values.iter().flat_map(|v| v.split(',')).any(|coding| {
        let coding = coding.trim();
        !coding.is_empty() && !coding.eq_ignore_ascii_case("identity")
    });
    encoded.then(|| values.join(", "))
}

fn request_error(url: &Url, e: &reqwest::Error, timeout: Duration) -> Error {
    if let Some(refused) = find::<RedirectRefused>(e) {
        return fetch_failed(format!("{url}: {refused}"));
    }
    if e.is_timeout() {
        return fetch_failed(format!(
            "{url}: timed out (limit {} s)",
            timeout.as_secs_f32()
        ));
    }
    if e.is_connect() {
        let cause = cause(e);
        let hint = if cause.contains("certificate") {
            " (if the server uses a private CA, trust its certificate with --ca-cert FILE)"
        } else {
            ""
        };
        return fetch_failed(format!("cannot connect to {url}{cause}{hint}"));
    }
    fetch_failed(format!("{url}: {}", chain(e)))
}

fn read_error(url: &Url, e: &std::io::Error, timeout: Duration) -> Error {
    let timed_out = e.kind() == std::io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout);
    if timed_out {
        fetch_failed(format!(
            "{url}: timed out reading the body (limit {} s)",
            timeout.as_secs_f32()
        ))
    } else {
        fetch_failed(format!("{url}: reading the body failed: {}", chain(e)))
    }
}

/// The innermost error of type `T` in `e`'s source chain.
fn find<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// `": root cause"` of an error chain, or nothing.
fn cause(e: &(dyn StdError + 'static)) -> String {
    let mut last = None;
    let mut current = e.source();
    while let Some(err) = current {
        last = Some(err);
        current = err.source();
    }
    last.map(|err| format!(": {err}")).unwrap_or_default()
}

/// Every message of an error chain, joined by `": "`, repeats dropped.
pub(crate) fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut current = e.source();
    while let Some(err) = current {
        let msg = err.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        current = err.source();
    }
    out
}
