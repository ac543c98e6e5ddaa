//! What a source string names (a file or a URL), and which URLs may be fetched.

use std::net::IpAddr;
use std::path::PathBuf;

use kvitto_core::Error;
use reqwest::Url;

use crate::loader::fetch_failed;

/// A parsed source: a file path or an `http(s)` URL.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    File(PathBuf),
    Url(Url),
}

impl Source {
    /// `http://` and `https://` (any case) are URLs; another `scheme://` is
    /// refused; everything else is a file path.
    pub(crate) fn parse(source: &str) -> Result<Source, Error> {
        let lower = source.get(..8).unwrap_or(source).to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            let url = Url::parse(source)
                .map_err(|e| fetch_failed(format!("{source:?} is not a valid URL: {e}")))?;
            return Ok(Source::Url(url));
        }
        if let Some((scheme, _)) = source.split_once("://") {
            let is_scheme = scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if is_scheme {
                return Err(fetch_failed(format!(
                    "unsupported URL scheme {scheme:?} in {source:?}: use an https:// URL or a file path"
                )));
            }
        }
        Ok(Source::File(PathBuf::from(source)))
    }
}

/// Refuse a URL that may not be fetched, before any connection is made:
/// `https` always passes; `http` only to a loopback host and only when
/// `allow_insecure_localhost` is set.
pub(crate) fn check_url(url: &Url, allow_insecure_localhost: bool) -> Result<(), Error> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or("");
            if !is_loopback_host(host) {
                Err(fetch_failed(format!(
                    "plain http to {host:?} is never allowed: use an https:// URL \
                     (plain http is allowed only to a loopback host with --allow-insecure-localhost)"
                )))
            } else if !allow_insecure_localhost {
                Err(fetch_failed(format!(
                    "refusing {url}: plain http is allowed only to a loopback host with \
                     --allow-insecure-localhost"
                )))
            } else {
                Ok(())
            }
        }
        other => Err(fetch_failed(format!(
            "unsupported URL scheme {other:?}: use an https:// URL"
        ))),
    }
}

/// Whether `host` (as in a URL: an IPv6 address may be in brackets) is a
/// loopback host: an address in 127.0.0.0/8, `::1`, or the name `localhost`
/// (any case). Nothing else: not `0.0.0.0`, not `127.0.0.1.example.com`, not
/// an IPv4-mapped IPv6 address.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.octets()[0] == 127,
        Ok(IpAddr::V6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.254",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LocalHost",
        ] {
            assert!(is_loopback_host(host), "{host} should be loopback");
        }
    }

    #[test]
    fn not_loopback_hosts() {
        for host in [
            "0.0.0.0",
            "128.0.0.1",
            "126.255.255.255",
            "10.0.0.1",
            "127.0.0.1.example.com",
            "localhost.example.com",
            "localhost.",
            "mylocalhost",
            "::",
            "[::]",
            "::2",
            "::ffff:127.0.0.1",
            "[::ffff:127.0.0.1]",
            "example.com",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host} should not be loopback");
        }
    }

    #[test]
    fn url_normalization_meets_the_check() {
        // The URL parser normalizes IPv4 forms before the check sees them.
        let url = Url::parse("http://127.1:8080/keys.json").expect("valid URL");
        assert_eq!(url.host_str(), Some("127.0.0.1"));
        assert!(check_url(&url, true).is_ok());
        let url = Url::parse("http://0x7f000001/keys.json").expect("valid URL");
        assert!(check_url(&url, true).is_ok());
        let url = Url::parse("http://[::1]:8080/").expect("valid URL");
        assert!(check_url(&url, true).is_ok());
    }

    #[test]
    fn http_needs_the_opt_in_and_loopback() {
        let loopback = Url::parse("http://127.0.0.1:1/k.json").expect("valid URL");
        let err = check_url(&loopback, false).expect_err("refused without opt-in");
        assert_eq!(err.code(), "keys_fetch_failed");
        assert!(err.to_string().contains("--allow-insecure-localhost"));
        let remote = Url::parse("http://example.com/k.json").expect("valid URL");
        assert_eq!(
            check_url(&remote, true).map_err(|e| e.code()),
            Err("keys_fetch_failed")
        );
        let fake = Url::parse("http://127.0.0.1.example.com/k.json").expect("valid URL");
        assert!(check_url(&fake, true).is_err());
        let https = Url::parse("https://example.com/k.json").expect("valid URL");
        assert!(check_url(&https, false).is_ok());
    }

    #[test]
    fn sources() {
        assert!(matches!(Source::parse("keys.json"), Ok(Source::File(_))));
        assert!(matches!(Source::parse("/tmp/a://b"), Ok(Source::File(_))));
        assert!(matches!(
            Source::parse("C:\\keys.json"),
            Ok(Source::File(_))
        ));
        assert!(matches!(
            Source::parse("HTTPS://example.com/k"),
            Ok(Source::Url(_))
        ));
        assert!(matches!(
            Source::parse("http://127.0.0.1/k"),
            Ok(Source::Url(_))
        ));
        for bad in ["ftp://example.com/k", "file:///etc/k.json", "https://"] {
            let err = Source::parse(bad).expect_err(bad);
            assert_eq!(err.code(), "keys_fetch_failed");
        }
    }
}
