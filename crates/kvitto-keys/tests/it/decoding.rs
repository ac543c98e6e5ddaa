//! Content decoding: gzip, br, zstd and deflate bodies are decoded, pinned
//! and cached as the decoded bytes; the 1 MiB cap is on the decoded body
//! (compression bombs are `too_large`, inflated no further than the cap);
//! a body that does not decode, or a coding that is not decoded, fails the
//! fetch.

use std::io::Write;
use std::time::Duration;

use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use kvitto_core::Error;
use kvitto_keys::{MAX_SIZE, Options, pin_of};

use crate::fetch::padded;
use crate::server::{Reply, Server};
use crate::{code, doc, err, loader, options};

const CODINGS: [&str; 4] = ["gzip", "br", "zstd", "deflate"];

fn gzip(data: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), level);
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// `data` in this content coding (`deflate` is zlib-wrapped, RFC 9110).
fn encode(coding: &str, data: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => gzip(data, Compression::default()),
        "deflate" => {
            let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(data).expect("deflate");
            encoder.finish().expect("deflate")
        }
        "br" => {
            let mut out = Vec::new();
            let params = brotli::enc::BrotliEncoderParams {
                quality: 5,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &data[..], &mut out, &params).expect("brotli");
            out
        }
        "zstd" => zstd::encode_all(data, 3).expect("zstd"),
        other => panic!("no encoder for {other}"),
    }
}

/// Files in the cache directory (the cache is created on the first store).
fn cached_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn every_coding_decodes_and_pins_to_the_decoded_bytes() {
    for coding in CODINGS {
        let cache = tempfile::tempdir().expect("temp dir");
        let body = doc(&format!("ws_{coding}"), &[1, 2]);
        let encoded = encode(coding, &body);
        assert_ne!(encoded, body, "{coding} changes the bytes");
        let server = Server::https({
            let encoded = encoded.clone();
            move |_| Reply::Encoded {
                coding,
                body: encoded.clone(),
            }
        });
        let url = server.url("/keys.json");
        let pinned = Options {
            pin: Some(pin_of(&body)),
            ..options(cache.path())
        };
        let loaded = loader(pinned.clone())
            .load(&url)
            .unwrap_or_else(|e| panic!("{coding}: {e}"));
        assert_eq!(loaded.bytes, body, "{coding}: the decoded bytes");
        assert_eq!(loaded.sha256, pin_of(&body), "{coding}");
        assert!(loaded.pinned);
        assert_eq!(loaded.keys.keys().len(), 2);

        // The client offered every coding it decodes.
        let offered = server.accept_encodings();
        let offered = offered[0].as_deref().expect("an Accept-Encoding header");
        for c in CODINGS {
            assert!(
                offered.split(',').any(|o| o.trim() == c),
                "{c} in Accept-Encoding {offered:?}"
            );
        }

        // The cache holds the decoded bytes: served offline, still pinned.
        let offline = Options {
            offline: true,
            ..pinned
        };
        let cached = loader(offline).load(&url).expect("cached copy");
        assert_eq!(cached.bytes, body, "{coding}: cached decoded bytes");
        assert!(cached.cache_age.is_some());
        assert_eq!(server.hits(), 1);

        // A pin over the encoded bytes is not the document's pin.
        let wrong = Options {
            pin: Some(pin_of(&encoded)),
            ..options(cache.path())
        };
        assert_eq!(code(loader(wrong).load(&url)), "pin_mismatch", "{coding}");
    }
}

#[test]
fn the_cap_is_on_the_decoded_length_not_the_encoded_length() {
    let cache = tempfile::tempdir().expect("temp dir");
    let keys = loader(options(cache.path()));

    // Exactly 1 MiB decoded, stored uncompressed: over 1 MiB on the wire
    // (Content-Length counts the encoded bytes), and accepted.
    let full = padded(MAX_SIZE);
    let stored = gzip(&full, Compression::none());
    assert!(stored.len() > MAX_SIZE, "{} bytes encoded", stored.len());
    let server = Server::https(move |_| Reply::Encoded {
        coding: "gzip",
        body: stored.clone(),
    });
    let loaded = keys.load(&server.url("/k")).expect("1 MiB decoded");
    assert_eq!(loaded.bytes, full);

    // 1 MiB + 1 decoded, a few KiB on the wire: too large.
    let over = padded(MAX_SIZE + 1);
    let small = gzip(&over, Compression::default());
    assert!(small.len() < MAX_SIZE / 64, "{} bytes encoded", small.len());
    let server = Server::https(move |_| Reply::Encoded {
        coding: "gzip",
        body: small.clone(),
    });
    let e = err(keys.load(&server.url("/k")));
    assert!(
        matches!(e, Error::TooLarge { size, limit: MAX_SIZE } if size == MAX_SIZE + 1),
        "{e:?}"
    );
}

#[test]
fn compression_bombs_are_too_large_after_inflating_only_the_cap() {
    // gzip and deflate: 50 MiB of spaces; br and zstd (slower encoders in a
    // debug build): 8 MiB. Each is tens of KiB or less on the wire.
    for (coding, inflated) in [
        ("gzip", 50 << 20),
        ("deflate", 50 << 20),
        ("br", 8 << 20),
        ("zstd", 8 << 20),
    ] {
        let cache = tempfile::tempdir().expect("temp dir");
        let mut bomb = doc("ws_bomb", &[1]);
        bomb.resize(inflated, b' ');
        let encoded = encode(coding, &bomb);
        drop(bomb);
        assert!(
            encoded.len() < 64 * 1024,
            "{coding}: {} bytes",
            encoded.len()
        );
        let server = Server::https(move |_| Reply::Encoded {
            coding,
            body: encoded.clone(),
        });
        let e = err(loader(options(cache.path())).load(&server.url("/k")));
        // Exactly the cap + 1 decoded bytes were taken, then reading stopped.
        assert!(
            matches!(e, Error::TooLarge { size, limit: MAX_SIZE } if size == MAX_SIZE + 1),
            "{coding}: {e:?}"
        );
        assert_eq!(cached_files(cache.path()), 0, "{coding}: nothing cached");
    }
}

/// A raw deflate block of `n` spaces that refers to nothing before it and
/// ends byte-aligned, not final (a sync flush): repeated, it is a valid
/// stream of any length.
fn spaces_block(n: usize) -> Vec<u8> {
    let mut compress = flate2::Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(n / 256 + 64);
    compress
        .compress_vec(&vec![b' '; n], &mut out, flate2::FlushCompress::Sync)
        .expect("deflate");
    assert_eq!(compress.total_in(), n as u64, "all input consumed");
    out
}

#[test]
fn an_endless_compressed_stream_is_cut_off_after_the_cap() {
    // 1 MiB of spaces per ~1 KiB block; 64 MiB on the wire would inflate to
    // about 64 GiB. The client must stop after the cap: it takes about one
    // block, and the server, blocked once the socket buffers are full, can
    // never send more than a small part of the stream.
    let block = spaces_block(1 << 20);
    assert!(block.len() < 4096, "{} bytes", block.len());
    let total = 64 << 20;
    let gzip_head = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let zlib_head = vec![0x78, 0xda];
    for (coding, head) in [("gzip", gzip_head), ("deflate", zlib_head)] {
        let cache = tempfile::tempdir().expect("temp dir");
        let chunk = block.clone();
        let server = Server::https(move |_| Reply::EncodedStream {
            coding,
            head: head.clone(),
            chunk: chunk.clone(),
            total,
        });
        let e = err(loader(options(cache.path())).load(&server.url("/k")));
        assert!(
            matches!(e, Error::TooLarge { size, limit: MAX_SIZE } if size == MAX_SIZE + 1),
            "{coding}: {e:?}"
        );
        // The load has returned, so the client has stopped reading: what
        // the server wrote by now is all it could.
        let written = server.written.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            written < total / 4,
            "{coding}: server wrote {written} bytes"
        );
    }
}

#[test]
fn a_body_that_does_not_decode_fails_to_fetch() {
    let body = doc("ws_corrupt", &[1]);
    let good = gzip(&body, Compression::default());
    let mut bad_crc = good.clone();
    let crc = bad_crc.len() - 8;
    bad_crc[crc] ^= 0xff;
    let truncated = good[..good.len() / 2].to_vec();
    let garbage = b"this is not compressed at all".to_vec();
    let cases: Vec<(&str, &'static str, Vec<u8>)> = vec![
        ("gzip: a bad CRC", "gzip", bad_crc),
        ("gzip: truncated", "gzip", truncated),
        ("gzip: not gzip", "gzip", garbage.clone()),
        ("deflate: not zlib", "deflate", garbage.clone()),
        ("br: not brotli", "br", garbage.clone()),
        ("zstd: not zstd", "zstd", garbage),
    ];
    for (what, coding, bytes) in cases {
        let cache = tempfile::tempdir().expect("temp dir");
        let server = Server::https(move |_| Reply::Encoded {
            coding,
            body: bytes.clone(),
        });
        let url = server.url("/k");
        let e = err(loader(options(cache.path())).load(&url));
        // No document arrived: nothing to pin or judge, so neither
        // pin_mismatch nor keys_invalid, and nothing cached.
        assert_eq!(e.code(), "keys_fetch_failed", "{what}: {e}");
        assert!(e.to_string().contains(&url), "{what}: {e}");
        assert!(
            e.to_string().contains("reading the body failed"),
            "{what}: {e}"
        );
        assert_eq!(cached_files(cache.path()), 0, "{what}: nothing cached");
    }
}

#[test]
fn a_coding_that_is_not_decoded_is_refused() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = doc("ws_coding", &[1]);
    let gz = gzip(&body, Compression::default());
    let server = Server::https({
        let body = body.clone();
        move |path| match path {
            "/identity" => Reply::Encoded {
                coding: "identity",
                body: body.clone(),
            },
            "/compress" => Reply::Encoded {
                coding: "compress",
                body: body.clone(),
            },
            // Stacked codings are not decoded.
            _ => Reply::Encoded {
                coding: "gzip, gzip",
                body: gzip(&gz, Compression::default()),
            },
        }
    });
    let keys = loader(Options {
        cache_ttl: Duration::ZERO,
        ..options(cache.path())
    });
    let loaded = keys.load(&server.url("/identity")).expect("identity");
    assert_eq!(loaded.bytes, body);
    for (path, coding) in [("/compress", "compress"), ("/stacked", "\"gzip, gzip\"")] {
        let e = err(keys.load(&server.url(path)));
        assert_eq!(e.code(), "keys_fetch_failed", "{path}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains("Content-Encoding") && msg.contains(coding),
            "{path}: {msg}"
        );
    }
}
