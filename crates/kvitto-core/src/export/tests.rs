//! Framing, judging and grouping, as the contract's section 9 says.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::testutil::{chain, keyset};

/// (text or size, line, index) of every record, pushed in pieces of `chunk`.
fn framed(input: &[u8], chunk: usize, window: usize) -> Vec<(String, u64, Option<u64>)> {
    let mut framer = Framer::with_window(window);
    let mut out = Vec::new();
    let mut take = |framer: &mut Framer| {
        while let Some(r) = framer.next() {
            let shown = match r.body {
                Body::Text(t) => String::from_utf8_lossy(&t).into_owned(),
                Body::TooLarge { size, ids } => format!(
                    "<{size} bytes, {}>",
                    ids.authorization_id.as_deref().unwrap_or("-")
                ),
                Body::Unframed { size, reason } => {
                    let why = match reason {
                        ARRAY_BROKEN => "broken",
                        ARRAY_TRUNCATED => "truncated",
                        AFTER_VALUE => "after",
                        VALUE_BROKEN => "value broken",
                        VALUE_TRUNCATED => "value truncated",
                        _ => "?",
                    };
                    format!("<unframed {size} bytes: {why}>")
                }
            };
            out.push((shown, r.line, r.index));
        }
    };
    for piece in input.chunks(chunk.max(1)) {
        framer.push(piece);
        take(&mut framer);
    }
    framer.finish();
    take(&mut framer);
    assert!(framer.is_done());
    out
}

fn spans(input: &str) -> Vec<(String, u64, Option<u64>)> {
    let whole = framed(input.as_bytes(), usize::MAX, WINDOW);
    for chunk in [1, 2, 3, 7] {
        assert_eq!(
            framed(input.as_bytes(), chunk, WINDOW),
            whole,
            "chunk {chunk}: {input:?}"
        );
    }
    whole
}

fn s(text: &str, line: u64, index: Option<u64>) -> (String, u64, Option<u64>) {
    (text.to_string(), line, index)
}

#[test]
fn framing_rules() {
    assert_eq!(spans(" {\"a\":\n1} \n"), vec![s("{\"a\":\n1}", 1, None)]);
    assert_eq!(
        spans("[\n {\"a\":1},\n\n {\"b\":2}\n]"),
        vec![s("{\"a\":1}", 2, Some(0)), s("{\"b\":2}", 4, Some(1))]
    );
    assert_eq!(
        spans("{\"a\":1}\r\n\r\n  \n{\"b\":2}\r\nbroken\n"),
        vec![
            s("{\"a\":1}", 1, None),
            s("{\"b\":2}", 4, None),
            s("broken", 5, None)
        ]
    );
    // A CR not followed by LF stays (and is JSON white space).
    assert_eq!(
        spans("{}\n{}\r"),
        vec![s("{}", 1, None), s("{}\r", 2, None)]
    );
    assert_eq!(spans(""), vec![]);
    assert_eq!(spans(" \n\t\r\n"), vec![]);
    assert_eq!(spans("42"), vec![s("42", 1, None)]);
    assert_eq!(spans("\n\n 42 \n"), vec![s("42", 3, None)]);
    assert_eq!(spans("[]"), vec![]);
    assert_eq!(
        spans("[1, [2], \"x\"]"),
        vec![
            s("1", 1, Some(0)),
            s("[2]", 1, Some(1)),
            s("\"x\"", 1, Some(2))
        ]
    );
    // Grammar only: duplicates and lone surrogates do not change framing.
    assert_eq!(
        spans("{\"a\":1,\"a\":\"\\ud800\"}"),
        vec![s("{\"a\":1,\"a\":\"\\ud800\"}", 1, None)]
    );
    // A BOM makes the input JSON Lines.
    assert_eq!(spans("\u{feff}{}"), vec![s("\u{feff}{}", 1, None)]);
    // Not one value: every line is a record, the first value's line included.
    assert_eq!(
        spans("  {\"a\":\n1} x\n[1,\n2]"),
        vec![
            s("  {\"a\":", 1, None),
            s("1} x", 2, None),
            s("[1,", 3, None),
            s("2]", 4, None)
        ]
    );
    assert_eq!(spans("[1,2"), vec![s("[1,2", 1, None)]);
    assert_eq!(spans("1 2"), vec![s("1 2", 1, None)]);
    assert_eq!(spans("{}\n\n{}"), vec![s("{}", 1, None), s("{}", 3, None)]);
}

#[test]
fn oversized_records_are_streamed_and_keep_their_ids() {
    let big = format!(
        "{{\"payload\":{{\"authorization_id\":\"auth_big\",\"context\":\"{}\"}}}}",
        "x".repeat(json::MAX_SIZE)
    );
    let size = big.len();
    let want = format!("<{size} bytes, auth_big>");
    for eol in ["\n", "\r\n"] {
        let input = format!("{{\"a\":1}}{eol}{big}{eol}{{\"b\":2}}{eol}");
        for chunk in [4096, 1 << 20, usize::MAX] {
            assert_eq!(
                framed(input.as_bytes(), chunk, WINDOW),
                vec![
                    s("{\"a\":1}", 1, None),
                    s(&want, 2, None),
                    s("{\"b\":2}", 3, None)
                ],
                "{eol:?} chunk {chunk}"
            );
        }
    }
    // As an array element, and as the only value.
    let input = format!("[{big},\n{{\"b\":2}}]");
    assert_eq!(
        framed(input.as_bytes(), 65536, WINDOW),
        vec![s(&want, 1, Some(0)), s("{\"b\":2}", 2, Some(1))]
    );
    let input = format!("\n {big}\n");
    assert_eq!(
        framed(input.as_bytes(), 65536, WINDOW),
        vec![s(&want, 2, None)]
    );
    // A line of only white space is skipped whatever its length.
    let input = format!("{{}}\n{}\n{{}}", " ".repeat(3 << 20));
    assert_eq!(
        framed(input.as_bytes(), 65536, WINDOW),
        vec![s("{}", 1, None), s("{}", 3, None)]
    );
}

use crate::json;

/// Framed the same whatever the pieces.
fn framed_any(input: &[u8], window: usize) -> Vec<(String, u64, Option<u64>)> {
    let whole = framed(input, usize::MAX, window);
    for chunk in [4093, 65536, 100_000, 1 << 20] {
        assert_eq!(framed(input, chunk, window), whole, "chunk {chunk}");
    }
    whole
}

#[test]
fn past_the_window() {
    let window = json::MAX_SIZE + 2;
    let pad = "0,".repeat(window);
    // An array read as an array, then broken: its elements, then one
    // unframed record from where it breaks.
    let input = format!("[{pad}{{\"k\":1}},\nbroken\n{{\"x\":2}}\n");
    let got = framed_any(input.as_bytes(), window);
    assert_eq!(got.len(), window + 2);
    assert_eq!(got[window], s("{\"k\":1}", 1, Some(window as u64)));
    let last = &got[window + 1];
    assert_eq!(last, &s("<unframed 15 bytes: broken>", 2, None));
    // Truncated: the elements so far, then the unframed tail.
    let input = format!("[{pad}{{\"k\":");
    let got = framed_any(input.as_bytes(), window);
    assert_eq!(got.len(), window + 1);
    assert_eq!(got[window], s("<unframed 5 bytes: truncated>", 1, None));
    // Within the window, the same input is JSON Lines.
    let small = "[0,0,\nbroken\n";
    assert_eq!(
        framed(small.as_bytes(), 3, window),
        vec![s("[0,0,", 1, None), s("broken", 2, None)]
    );
    // A first value (not an array) past the window: one receipt, too large,
    // its ids read as it streamed past.
    let input = format!("\n{{\"a\":[{pad}0],\"payload\":{{\"authorization_id\":\"auth_big\"}}}}\n");
    let size = input.trim().len();
    assert_eq!(
        framed_any(input.as_bytes(), window),
        vec![s(&format!("<{size} bytes, auth_big>"), 2, None)]
    );
    // ... and when it breaks, or ends, before it closes: one record.
    let input = format!("{{\"a\":[{pad}\n{{\"b\":1}}\n");
    assert_eq!(
        framed_any(input.as_bytes(), window),
        vec![s(
            &format!("<unframed {} bytes: value truncated>", input.len()),
            1,
            None
        )]
    );
    let input = format!("\n{{\"a\":[{pad}\n{{\"b\":1}}}}}}\n{{\"c\":1}}\n");
    assert_eq!(
        framed_any(input.as_bytes(), window),
        vec![s(
            &format!("<unframed {} bytes: value broken>", input.len() - 1),
            2,
            None
        )]
    );
    // A value past the window, then data: the value, then the data.
    let input = format!("{{\"a\":[{pad}0]}} x\n");
    let got = framed_any(input.as_bytes(), window);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1], s("<unframed 2 bytes: after>", 1, None));
    // A value, then more than the window of white space holding a line
    // break, then data: JSON Lines, exactly as the contract frames it.
    let input = format!("{{\"a\":1}}\n{}\n x", "\n".repeat(window + 10));
    let got = framed_any(input.as_bytes(), window);
    assert_eq!(
        got,
        vec![s("{\"a\":1}", 1, None), s(" x", window as u64 + 13, None)]
    );
    // The same without the data: the same one record.
    let input = format!("{{\"a\":1}}{}\n", "\n".repeat(window + 10));
    assert_eq!(
        framed_any(input.as_bytes(), window),
        vec![s("{\"a\":1}", 1, None)]
    );
    // No line break in all that white space: one value, and data after it.
    let input = format!("{{\"a\":1}}{} x", " ".repeat(window + 10));
    let got = framed_any(input.as_bytes(), window);
    assert_eq!(
        got,
        vec![
            s("{\"a\":1}", 1, None),
            s("<unframed 1 bytes: after>", 1, None)
        ]
    );
    let input = format!("{{\"a\":1}}{}", " ".repeat(window + 10));
    assert_eq!(
        framed_any(input.as_bytes(), window),
        vec![s("{\"a\":1}", 1, None)]
    );
}

/// White space before the first value is never held past 1 MiB, and
/// changes nothing: the input is one value, or JSON Lines whose first line
/// is too long (its ids read as it streams).
#[test]
fn long_leading_white_space() {
    let pad = " ".repeat(json::MAX_SIZE + 100);
    let value = "{\"payload\":{\"authorization_id\":\"auth_w\"}}";
    let input = format!("\n\n{pad}{value}\n\n");
    assert_eq!(
        framed_any(input.as_bytes(), WINDOW),
        vec![s(value, 3, None)]
    );
    let input = format!("\n{pad}{value}\nx\n");
    let size = pad.len() + value.len();
    assert_eq!(
        framed_any(input.as_bytes(), WINDOW),
        vec![
            s(&format!("<{size} bytes, auth_w>"), 2, None),
            s("x", 3, None)
        ]
    );
    let input = format!("{pad}\r\n{value}\n{pad}");
    assert_eq!(
        framed_any(input.as_bytes(), WINDOW),
        vec![s(value, 2, None)]
    );
}

/// Nesting costs a bit a level: far deeper than any receipt, and exact up
/// to the window. A deep invalid receipt still lands in its chain.
#[test]
fn deep_nesting_is_followed() {
    let n = (1 << 20) + 1;
    let deep = format!(
        "{{\"payload\":{{\"authorization_id\":\"auth_d\",\"x\":{}{}}}}}",
        "[".repeat(n),
        "]".repeat(n)
    );
    assert_eq!(
        lenient_ids(deep.as_bytes()).authorization_id.as_deref(),
        Some("auth_d")
    );
    let input = format!("{{}}\n{deep}\n");
    let size = deep.len();
    assert_eq!(
        framed_any(input.as_bytes(), WINDOW),
        vec![
            s("{}", 1, None),
            s(&format!("<{size} bytes, auth_d>"), 2, None)
        ]
    );
    let input = format!("[{{}},\n{deep}]");
    assert_eq!(
        framed_any(input.as_bytes(), WINDOW),
        vec![
            s("{}", 1, Some(0)),
            s(&format!("<{size} bytes, auth_d>"), 2, Some(1))
        ]
    );
}

#[test]
fn export_with_chains() {
    let mut lines = chain("auth_a", 3, true);
    lines.extend(chain("auth_b", 3, false));
    lines[4] = lines[4].replace("email.send", "email.read");
    let input = lines.join("\n");
    let report = verify_export(input.as_bytes(), &[keyset()], true);
    assert_eq!(report.records.len(), 6);
    assert!(!report.is_valid());
    assert_eq!(report.chains.len(), 2);
    assert!(report.chains[0].is_ok() && report.chains[0].closed);
    assert_eq!(
        report.chains[1].result.as_ref().unwrap_err().code(),
        "chain_invalid_receipt"
    );
    assert_eq!(report.chains[1].invalid_at.map(|p| p.line), Some(5));
    assert_eq!(report.records[4].outcome.authorization_id(), Some("auth_b"));
    let empty = verify_export(b"\n", &[keyset()], true);
    assert!(empty.records.is_empty() && !empty.is_valid());
}

/// The hardening issue's first case: a receipt over 1 MiB after a chain
/// closed by revocation must still join that chain (and break it).
#[test]
fn an_oversized_receipt_keeps_its_chain() {
    let closed = chain("auth_a", 4, true);
    let big = format!(
        "{{\"payload\":{{\"v\":1,\"kind\":\"check\",\"authorization_id\":\"auth_a\",\"seq\":4,\"context\":{{\"pad\":\"{}\"}}}},\"sig\":\"x\"}}",
        "p".repeat(json::MAX_SIZE)
    );
    for eol in ["\n", "\r\n"] {
        for at in [4, 2] {
            let mut lines = closed.clone();
            lines.insert(at, big.clone());
            let input = lines.join(eol);
            let report = verify_export(input.as_bytes(), &[keyset()], true);
            assert_eq!(report.ungrouped, 0);
            assert_eq!(report.chains.len(), 1);
            let c = &report.chains[0];
            assert!(!c.closed);
            match &c.result {
                Err(Error::ChainInvalidReceipt { cause, .. }) => {
                    assert_eq!(cause.code(), "too_large")
                }
                other => panic!("{eol:?} at {at}: {other:?}"),
            }
            assert_eq!(c.receipts, 5);
        }
    }
}
