//! Canonicalization vectors (full-range RFC 8785 mode, `jcs::canonicalize`),
//! written from the RFC's text and cross-checked with serde_jcs.

use super::Corpus;

/// RFC 8785 §3.2.2: the sample object and its canonical form.
const RFC_SAMPLE_IN: &str = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}
"#;
const RFC_SAMPLE_OUT: &str = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";

/// RFC 8785 §3.2.3: the sorting example.
const RFC_SORT_IN: &str = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}
"#;
const RFC_SORT_OUT: &str = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";

/// RFC 8785 Appendix B: IEEE 754 bits and the expected JSON text (None: not representable in JSON).
const APPENDIX_B: [(u64, Option<&str>); 27] = [
    (0x0000000000000000, Some("0")),
    (0x8000000000000000, Some("0")),
    (0x0000000000000001, Some("5e-324")),
    (0x8000000000000001, Some("-5e-324")),
    (0x7fefffffffffffff, Some("1.7976931348623157e+308")),
    (0xffefffffffffffff, Some("-1.7976931348623157e+308")),
    (0x4340000000000000, Some("9007199254740992")),
    (0xc340000000000000, Some("-9007199254740992")),
    (0x4430000000000000, Some("295147905179352830000")),
    (0x7fffffffffffffff, None),
    (0x7ff0000000000000, None),
    (0x44b52d02c7e14af5, Some("9.999999999999997e+22")),
    (0x44b52d02c7e14af6, Some("1e+23")),
    (0x44b52d02c7e14af7, Some("1.0000000000000001e+23")),
    (0x444b1ae4d6e2ef4e, Some("999999999999999700000")),
    (0x444b1ae4d6e2ef4f, Some("999999999999999900000")),
    (0x444b1ae4d6e2ef50, Some("1e+21")),
    (0x3eb0c6f7a0b5ed8c, Some("9.999999999999997e-7")),
    (0x3eb0c6f7a0b5ed8d, Some("0.000001")),
    (0x41b3de4355555553, Some("333333333.3333332")),
    (0x41b3de4355555554, Some("333333333.33333325")),
    (0x41b3de4355555555, Some("333333333.3333333")),
    (0x41b3de4355555556, Some("333333333.3333334")),
    (0x41b3de4355555557, Some("333333333.33333343")),
    (0xbecbf647612f3696, Some("-0.0000033333333333333333")),
    (0x43143ff3c1cb0959, Some("1424953923781206.2")),
    (0x3ff0000000000000, Some("1")),
];

fn serde_jcs(input: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(input).ok()?;
    serde_jcs::to_vec(&value).ok()
}

pub(crate) fn all(c: &mut Corpus) {
    let checked = std::cell::Cell::new(0usize);
    let ok = |c: &mut Corpus, name: &str, desc: &str, input: &[u8], output: &str| {
        if let Some(theirs) = serde_jcs(input) {
            checked.set(checked.get() + 1);
            assert_eq!(
                String::from_utf8_lossy(&theirs),
                output,
                "serde_jcs disagrees with canon/{name}"
            );
        }
        c.canon(&format!("canon/{name}"), desc, input, Ok(output.as_bytes()));
    };
    ok(
        c,
        "rfc8785-sample",
        "The sample object of RFC 8785 section 3.2.2.",
        RFC_SAMPLE_IN.as_bytes(),
        RFC_SAMPLE_OUT,
    );
    ok(
        c,
        "rfc8785-sorting",
        "The member-sorting example of RFC 8785 section 3.2.3 (UTF-16 order).",
        RFC_SORT_IN.as_bytes(),
        RFC_SORT_OUT,
    );
    for (bits, out) in APPENDIX_B {
        let f = f64::from_bits(bits);
        let name = format!("rfc8785-number-{bits:016x}");
        match out {
            Some(out) => {
                let input = format!("{f:e}");
                ok(
                    c,
                    &name,
                    &format!(
                        "RFC 8785 Appendix B: IEEE 754 {bits:016x} written {input} canonicalizes to {out}."
                    ),
                    input.as_bytes(),
                    out,
                );
            }
            None => {
                let input = if f.is_nan() { "NaN" } else { "Infinity" };
                c.canon(
                    &format!("canon/{name}"),
                    &format!("RFC 8785 Appendix B: {bits:016x} ({input}) is not JSON."),
                    input.as_bytes(),
                    Err("malformed_json"),
                );
            }
        }
    }
    for (name, input, out) in [
        ("min-subnormal", "5e-324", "5e-324"),
        ("1e21", "1e21", "1e+21"),
        ("1e20", "1E20", "100000000000000000000"),
        ("1e-7", "1e-7", "1e-7"),
        ("1e-6", "0.000001", "0.000001"),
        ("minus-zero", "-0", "0"),
        ("minus-zero-fraction", "-0.0e5", "0"),
        ("max-safe-integer", "9007199254740991", "9007199254740991"),
        ("2pow53-plus-1", "9007199254740993", "9007199254740992"),
        (
            "1e30-array",
            "[1E30, 1e+30, 1000000000000000000000000000000]",
            "[1e+30,1e+30,1e+30]",
        ),
        ("trailing-zeros", "[4.50, 100.000, 1.0e2]", "[4.5,100,100]"),
        ("round-half-even", "1.0000000000000001", "1"),
        (
            "max-double",
            "1.7976931348623157e308",
            "1.7976931348623157e+308",
        ),
    ] {
        ok(
            c,
            name,
            &format!("The number {input} canonicalizes to {out}."),
            input.as_bytes(),
            out,
        );
    }
    let tok128 = format!("1.{}", "0".repeat(126));
    ok(
        c,
        "number-128-chars",
        "A number token of exactly 128 characters (1.000…0) is the integer 1.",
        tok128.as_bytes(),
        "1",
    );
    let tok129 = format!("-1.{}", "0".repeat(126));
    c.canon(
        "canon/number-129-chars",
        "A number token of 129 characters (-1.000…0).",
        tok129.as_bytes(),
        Err("number_out_of_range"),
    );
    for (name, input, out, desc) in [
        (
            "string-escapes",
            "\"\\u001f\\u0008\\t\\n\\f\\r\\\"\\\\\\/\\u007f\\u2028\"",
            "\"\\u001f\\b\\t\\n\\f\\r\\\"\\\\/\u{7f}\u{2028}\"",
            "Control characters use the short escapes or \\u00xx lowercase; /, DEL and U+2028 are literal.",
        ),
        (
            "string-astral-escaped",
            "\"\\ud83d\\ude00\"",
            "\"\u{1f600}\"",
            "An escaped surrogate pair becomes the literal character.",
        ),
        (
            "string-noncharacter",
            "\"\\uffff\"",
            "\"\u{ffff}\"",
            "The noncharacter U+FFFF is allowed and written literally.",
        ),
        (
            "string-no-normalization",
            "\"e\\u0301\"",
            "\"e\u{301}\"",
            "Strings are not Unicode-normalized.",
        ),
        (
            "nested-sorting",
            "{\"b\":[{\"z\":1,\"a\":2}],\"a\":{\"d\":null,\"c\":true}}",
            "{\"a\":{\"c\":true,\"d\":null},\"b\":[{\"a\":2,\"z\":1}]}",
            "Members are sorted at every depth; arrays keep their order.",
        ),
        (
            "whitespace",
            " \r\n\t{ \"a\" : [ 1 , 2 ] }\n",
            "{\"a\":[1,2]}",
            "Insignificant white space is removed.",
        ),
        (
            "empty-containers",
            "[{},[],\"\"]",
            "[{},[],\"\"]",
            "Empty containers and strings.",
        ),
        ("scalar-string", "\"abc\"", "\"abc\"", "A top-level string."),
        (
            "literals",
            "[true,false,null]",
            "[true,false,null]",
            "The three literals.",
        ),
    ] {
        ok(c, name, desc, input.as_bytes(), out);
    }
    let deep64 = format!("{}{}", "[".repeat(64), "]".repeat(64));
    ok(
        c,
        "depth-64",
        "64 nested arrays canonicalize.",
        deep64.as_bytes(),
        &deep64,
    );
    let deep65 = format!("{}{}", "[".repeat(65), "]".repeat(65));
    c.canon(
        "canon/depth-65",
        "65 nested arrays are too_deep.",
        deep65.as_bytes(),
        Err("too_deep"),
    );
    for (name, input, code, desc) in [
        (
            "1e400",
            "1e400",
            "number_out_of_range",
            "1e400 is beyond binary64.",
        ),
        (
            "minus-1e400",
            "[-1e400]",
            "number_out_of_range",
            "-1e400 is beyond binary64.",
        ),
        (
            "duplicate-member",
            "{\"a\":1,\"a\":1}",
            "duplicate_key",
            "An object repeats a member name.",
        ),
        (
            "duplicate-member-escaped",
            "{\"a\":1,\"\\u0061\":2}",
            "duplicate_key",
            "An object holds a and \\u0061.",
        ),
        (
            "duplicate-member-nested",
            "[{\"x\":{\"k\":1,\"k\":2}}]",
            "duplicate_key",
            "A nested object repeats a member name.",
        ),
        (
            "lone-high-surrogate",
            "\"\\ud800\"",
            "invalid_string",
            "A lone high surrogate escape.",
        ),
        (
            "lone-low-surrogate",
            "[\"\\udc00\"]",
            "invalid_string",
            "A lone low surrogate escape.",
        ),
        ("nan", "[NaN]", "malformed_json", "NaN is not JSON."),
        (
            "leading-zero",
            "[01]",
            "malformed_json",
            "A number with a leading zero.",
        ),
        (
            "bom",
            "\u{feff}{}",
            "malformed_json",
            "A byte order mark before the value.",
        ),
        ("trailing-data", "{} {}", "malformed_json", "Two values."),
        ("empty", "", "malformed_json", "An empty input."),
    ] {
        c.canon(&format!("canon/{name}"), desc, input.as_bytes(), Err(code));
    }
    c.canon(
        "canon/invalid-utf8",
        "A string holding the byte 0xFF.",
        b"[\"\xff\"]",
        Err("malformed_json"),
    );
    eprintln!(
        "serde_jcs agrees on all {} canon outputs it can parse",
        checked.get()
    );
}
