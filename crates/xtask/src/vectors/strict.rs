//! Strict-JSON vectors (section 2): duplicates, surrogates, grammar, number
//! ranges and token lengths, depth and size limits.

use kvitto_core::Value;

use super::receipts::{Gen, set_trailing_bits};
use super::text::{obj, replace_once, set};

pub(crate) fn all(g: &mut Gen<'_>) {
    let p = g.check();
    let s = g.sign(&p);
    let t = s.json.clone();
    let sig_member = format!("\"sig\":\"{}\"", s.sig);
    // duplicate_key
    g.bad(
        "duplicate_key",
        "top-level",
        "The receipt repeats sig.",
        replace_once(
            &t,
            &sig_member,
            &format!("\"sig\":\"{}\",{sig_member}", set_trailing_bits(&s.sig)),
        ),
    );
    g.bad(
        "duplicate_key",
        "top-level-payload",
        "The receipt repeats payload (an empty one first).",
        replace_once(&t, "{\"payload\":", "{\"payload\":{},\"payload\":"),
    );
    g.bad(
        "duplicate_key",
        "nested",
        "context repeats a member with the same value.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":3,\"recipients\":3"),
    );
    g.bad(
        "duplicate_key",
        "payload-member",
        "The payload repeats scope.",
        replace_once(
            &t,
            "\"scope\":\"email.send\"",
            "\"scope\":\"email.send\",\"scope\":\"email.send\"",
        ),
    );
    g.bad(
        "duplicate_key",
        "escaped-top-level",
        "The receipt holds sig and \\u0073ig.",
        replace_once(
            &t,
            &sig_member,
            &format!("\"\\u0073ig\":\"{}\",{sig_member}", s.sig),
        ),
    );
    g.bad(
        "duplicate_key",
        "escaped-nested",
        "context holds recipients and \\u0072ecipients.",
        replace_once(
            &t,
            "\"recipients\":3",
            "\"recipients\":3,\"\\u0072ecipients\":4",
        ),
    );
    g.bad(
        "duplicate_key",
        "escaped-both",
        "The payload holds \\u006bind twice.",
        replace_once(
            &t,
            "\"kind\":\"check\"",
            "\"\\u006bind\":\"check\",\"\\u006Bind\":\"check\"",
        ),
    );
    // invalid_string
    for (name, text, desc) in [
        (
            "lone-high",
            "\"\\ud800\"",
            "A string holds a lone high surrogate escape.",
        ),
        (
            "lone-low",
            "\"\\udc00\"",
            "A string holds a lone low surrogate escape.",
        ),
        (
            "high-then-letter",
            "\"\\ud83dx\"",
            "A high surrogate escape followed by a letter.",
        ),
        (
            "high-then-high",
            "\"\\ud83d\\ud83d\"",
            "Two high surrogate escapes.",
        ),
        (
            "low-then-high",
            "\"\\ude00\\ud83d\"",
            "A reversed surrogate pair.",
        ),
        (
            "high-at-end",
            "\"abc\\uDBFF\"",
            "A high surrogate escape at the end of a string.",
        ),
    ] {
        g.bad(
            "invalid_string",
            name,
            desc,
            replace_once(
                &t,
                "\"recipients\":3",
                &format!("\"recipients\":3,\"note\":{text}"),
            ),
        );
    }
    g.bad(
        "invalid_string",
        "in-member-name",
        "A member name holds a lone surrogate escape.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":3,\"\\udfff\":1"),
    );
    // malformed_json
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(t.as_bytes());
    g.bad(
        "malformed_json",
        "bom",
        "The receipt starts with a UTF-8 byte order mark.",
        bom,
    );
    g.bad(
        "malformed_json",
        "trailing-data",
        "A letter after the receipt.",
        format!("{t}x"),
    );
    g.bad(
        "malformed_json",
        "trailing-value",
        "A second value after the receipt.",
        format!("{t} {{}}"),
    );
    g.bad(
        "malformed_json",
        "trailing-comma",
        "A comma after the last member of the receipt.",
        replace_once(&t, &sig_member, &format!("{sig_member},")),
    );
    let mut invalid = t.clone().into_bytes();
    let at = t.find("email.send").expect("scope") + 5;
    invalid[at] = 0xff;
    g.bad(
        "malformed_json",
        "invalid-utf8",
        "A string holds the byte 0xFF.",
        invalid,
    );
    let overlong = replace_once(&t, "email.send", "email\u{1}send").into_bytes();
    let overlong: Vec<u8> = overlong
        .iter()
        .flat_map(|&b| if b == 1 { vec![0xC0, 0xAE] } else { vec![b] })
        .collect();
    g.bad(
        "malformed_json",
        "overlong-utf8",
        "A string holds an overlong UTF-8 encoding of '.'.",
        overlong,
    );
    let surrogate_bytes: Vec<u8> = replace_once(&t, "email.send", "email\u{1}send")
        .into_bytes()
        .iter()
        .flat_map(|&b| {
            if b == 1 {
                vec![0xED, 0xA0, 0x80]
            } else {
                vec![b]
            }
        })
        .collect();
    g.bad(
        "malformed_json",
        "utf8-surrogate",
        "A string holds the UTF-8 encoding of U+D800 (CESU bytes).",
        surrogate_bytes,
    );
    g.bad(
        "malformed_json",
        "nan",
        "A number written NaN.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":NaN"),
    );
    g.bad(
        "malformed_json",
        "infinity",
        "A number written Infinity.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":Infinity"),
    );
    g.bad(
        "malformed_json",
        "minus-infinity",
        "A number written -Infinity.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":-Infinity"),
    );
    g.bad(
        "malformed_json",
        "leading-zeros",
        "A number written 03.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":03"),
    );
    g.bad(
        "malformed_json",
        "leading-plus",
        "A number written +3.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":+3"),
    );
    g.bad(
        "malformed_json",
        "bare-point",
        "A number written 3. (no digit after the point).",
        replace_once(&t, "\"recipients\":3", "\"recipients\":3."),
    );
    g.bad(
        "malformed_json",
        "hex-number",
        "A number written 0x3.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":0x3"),
    );
    g.bad(
        "malformed_json",
        "control-char",
        "A string holds an unescaped U+0001.",
        replace_once(&t, "email.send", "email\u{1}send"),
    );
    g.bad(
        "malformed_json",
        "raw-tab-in-string",
        "A string holds an unescaped tab.",
        replace_once(&t, "email.send", "email\tsend"),
    );
    g.bad(
        "malformed_json",
        "raw-newline-in-string",
        "A string holds an unescaped LF.",
        replace_once(&t, "email.send", "email\nsend"),
    );
    g.bad(
        "malformed_json",
        "bad-escape",
        "A string holds the escape \\x41.",
        replace_once(&t, "email.send", "email\\x41send"),
    );
    g.bad(
        "malformed_json",
        "single-quotes",
        "A member name in single quotes.",
        replace_once(&t, "\"recipients\":3", "'recipients':3"),
    );
    g.bad(
        "malformed_json",
        "truncated",
        "The receipt cut off before its last brace.",
        &t[..t.len() - 1],
    );
    g.bad("malformed_json", "empty", "An empty file.", "");
    g.bad(
        "malformed_json",
        "whitespace-only",
        "A file of white space only.",
        " \n\t ",
    );
    g.bad(
        "malformed_json",
        "comment",
        "A comment inside the receipt.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":3 /* three */"),
    );
    g.bad(
        "malformed_json",
        "nbsp-whitespace",
        "A no-break space (not JSON white space) between tokens.",
        replace_once(&t, "\"recipients\":3", "\"recipients\":\u{A0}3"),
    );
    // number_out_of_range
    let mut big = g.check();
    set(&mut big, "x_number", Value::from(9_007_199_254_740_992u64));
    g.bad(
        "number_out_of_range",
        "2pow53",
        "An extra member 2^53 (one beyond 2^53 - 1), re-signed.",
        g.sign(&big).json,
    );
    set(&mut big, "x_number", Value::from(-9_007_199_254_740_992i64));
    g.bad(
        "number_out_of_range",
        "minus-2pow53",
        "An extra member -2^53, re-signed.",
        g.sign(&big).json,
    );
    set(&mut big, "x_number", Value::from(1e21));
    g.bad(
        "number_out_of_range",
        "1e21",
        "An extra member 1e21, re-signed.",
        g.sign(&big).json,
    );
    let mut small = g.check();
    set(&mut small, "x_number", Value::from(1u64));
    let ts = g.sign(&small);
    g.bad(
        "number_out_of_range",
        "1e400",
        "A number 1e400 (beyond binary64).",
        replace_once(&ts.json, "\"x_number\":1", "\"x_number\":1e400"),
    );
    g.bad(
        "number_out_of_range",
        "minus-1e400",
        "A number -1e400.",
        replace_once(&ts.json, "\"x_number\":1", "\"x_number\":-1e400"),
    );
    g.bad(
        "number_out_of_range",
        "2pow53-as-9007199254740993",
        "9007199254740993 rounds to 2^53, beyond the limit.",
        replace_once(&ts.json, "\"x_number\":1", "\"x_number\":9007199254740993"),
    );
    let tok129 = format!("1.{}", "0".repeat(127));
    assert_eq!(tok129.len(), 129);
    g.bad(
        "number_out_of_range",
        "token-129",
        "A number token of 129 characters (1.000…0, the value 1).",
        replace_once(
            &ts.json,
            "\"x_number\":1",
            &format!("\"x_number\":{tok129}"),
        ),
    );
    let tok128 = format!("1.{}", "0".repeat(126));
    g.ok(
        "number-token-128",
        "A number token of 128 characters (1.000…0) equals the signed integer 1.",
        replace_once(
            &ts.json,
            "\"x_number\":1",
            &format!("\"x_number\":{tok128}"),
        ),
        &ts,
        g.k.active.kid(),
    );
    let mut max = g.check();
    set(&mut max, "x_number", Value::from(9_007_199_254_740_991u64));
    set(
        &mut max,
        "x_negative",
        Value::from(-9_007_199_254_740_991i64),
    );
    let ms = g.sign(&max);
    g.ok(
        "max-safe-integer",
        "Extra members 2^53 - 1 and -(2^53 - 1), the largest magnitudes allowed.",
        ms.json.clone(),
        &ms,
        g.k.active.kid(),
    );
    let mut tiny = g.check();
    set(&mut tiny, "x_number", Value::from(5e-324));
    let tn = g.sign(&tiny);
    g.ok(
        "tiny-number",
        "An extra member 5e-324 (the smallest subnormal) is in range.",
        tn.json.clone(),
        &tn,
        g.k.active.kid(),
    );
    limits(g);
}

fn limits(g: &mut Gen<'_>) {
    let kid = g.k.active.kid().to_owned();
    // Depth: the receipt is 1, payload 2, so `pad` of n nested arrays reaches 2 + n.
    for (depth, valid) in [(64usize, true), (65, false)] {
        let mut pad = Value::Array(vec![]);
        for _ in 1..depth - 2 {
            pad = Value::Array(vec![pad]);
        }
        let mut p = g.check();
        set(&mut p, "x_pad", pad);
        let s = g.sign(&p);
        if valid {
            g.ok(
                "depth-64",
                "The receipt nests exactly 64 arrays and objects (re-signed).",
                s.json.clone(),
                &s,
                &kid,
            );
        } else {
            g.bad(
                "too_deep",
                "depth-65",
                "The receipt nests 65 arrays and objects (re-signed).",
                s.json,
            );
        }
    }
    let mut deep_obj = obj(vec![]);
    for _ in 1..63 {
        deep_obj = obj(vec![("a", deep_obj)]);
    }
    let mut p = g.check();
    set(&mut p, "x_pad", deep_obj);
    g.bad(
        "too_deep",
        "depth-65-objects",
        "The receipt nests 65 objects (re-signed).",
        g.sign(&p).json,
    );
    // Size: pad a string member so the whole receipt is exactly the size.
    let build = |g: &Gen<'_>, pad: usize| {
        let mut p = g.check();
        set(&mut p, "x_pad", Value::from("a".repeat(pad)));
        g.sign(&p)
    };
    let base_len = build(g, 0).json.len();
    let exact = build(g, (1 << 20) - base_len);
    assert_eq!(exact.json.len(), 1 << 20);
    g.ok(
        "exactly-1mib",
        "A receipt of exactly 1 MiB (1,048,576 bytes), re-signed.",
        exact.json.clone(),
        &exact,
        &kid,
    );
    let over = build(g, (1 << 20) + 1 - base_len);
    assert_eq!(over.json.len(), (1 << 20) + 1);
    g.bad(
        "too_large",
        "1mib-plus-1",
        "A receipt of 1,048,577 bytes, re-signed.",
        over.json,
    );
    // The same size reached by an array of zeros (",0" is 2 bytes; the
    // receipt id's length fixes the parity).
    let zeros = |n: usize, rid: &str| {
        let mut p = g.check();
        set(&mut p, "x_pad", Value::Array(vec![Value::from(0u64); n]));
        set(&mut p, "receipt_id", Value::from(rid));
        g.sign(&p)
    };
    let target = (1usize << 20) + 1;
    let base = zeros(1, "rcpt_vec_1").json.len();
    let rid = if (target - base).is_multiple_of(2) {
        "rcpt_vec_1"
    } else {
        "rcpt_vec_1x"
    };
    let arr = zeros(1 + (target - base) / 2, rid);
    assert_eq!(
        arr.json.len(),
        (1 << 20) + 1,
        "array padding reaches 1 MiB + 1"
    );
    g.bad(
        "too_large",
        "1mib-plus-1-array",
        "A receipt of 1,048,577 bytes padded by an array of zeros, re-signed.",
        arr.json,
    );
}
