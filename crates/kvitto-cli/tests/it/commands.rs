//! The other commands: keys, canon, inspect, completions, man.

use crate::support::{Scratch, Setup, s};

#[test]
fn keys_pin_and_show() {
    let t = Setup::new();
    let want = format!(
        "{}",
        kvitto_core::Hash::of(&std::fs::read(&t.keys).unwrap())
    );
    let r = t.scratch.run(&["keys", "pin", t.keys_arg()], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.trim(), want);

    let r = t.scratch.run(&["keys", "show", t.keys_arg()], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("workspace  ws_a"), "{}", r.stdout);
    assert!(r.stdout.contains(&want));
    let row = r
        .stdout
        .lines()
        .find(|l| l.starts_with("ws_a.k1"))
        .expect("a row for the key");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["ws_a.k1", "active", "2026-01-01T00:00:00Z", "-"]);

    let r = t.scratch.run(
        &[
            "keys",
            "show",
            t.keys_arg(),
            "--pin",
            &format!("sha256:{}", "1".repeat(64)),
        ],
        None,
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("pin_mismatch"));

    let r = t
        .scratch
        .run(&["keys", "fetch", t.keys_arg(), "--pin", &want], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.as_bytes(), std::fs::read(&t.keys).unwrap());

    let r = t
        .scratch
        .run(&["keys", "pin", s(&t.scratch.path("missing.json"))], None);
    assert_eq!(r.code, 3, "{r:?}");
}

#[test]
fn canon_prints_rfc8785_bytes() {
    let t = Scratch::new();
    let r = t.run(
        &["canon", "-"],
        Some(b"{ \"b\": [1E30, 1.0, \"\\u00e9\"], \"a\": null }"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "{\"a\":null,\"b\":[1e+30,1,\"é\"]}");
    let f = t.write("x.json", "{\"z\":1,\"a\":{\"y\":true,\"b\":false}}");
    let r = t.run(&["canon", s(&f)], None);
    assert_eq!(r.stdout, "{\"a\":{\"b\":false,\"y\":true},\"z\":1}");
    let r = t.run(&["canon", "-"], Some(b"{\"a\":1,\"a\":2}"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.starts_with("duplicate_key: "), "{r:?}");
    assert!(r.stdout.is_empty());
}

#[test]
fn inspect_shows_and_verifies() {
    let t = Setup::new();
    let receipt = t.scratch.write("r.json", &t.lines[2]);
    let r = t.scratch.run(&["inspect", s(&receipt)], None);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&t.lines[2]).unwrap();
    let canon = kvitto_core::canonicalize(serde_json::to_string(&v["payload"]).unwrap().as_bytes())
        .unwrap();
    let hash = format!("{}", kvitto_core::Hash::of(&canon));
    for want in [
        "kind             check",
        "decision         allow",
        "scope            tool:x",
        "seq              1",
        "parses strictly  yes",
        "structure        ok",
        "not checked",
        hash.as_str(),
    ] {
        assert!(r.stdout.contains(want), "{want:?} in {}", r.stdout);
    }
    let r = t
        .scratch
        .run(&["inspect", s(&receipt), "--keys", t.keys_arg()], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("verdict          valid (key ws_a.k1"),
        "{}",
        r.stdout
    );

    let tampered = t
        .scratch
        .write("t.json", t.lines[2].replace("tool:x", "tool:y"));
    let r = t
        .scratch
        .run(&["inspect", s(&tampered), "--keys", t.keys_arg()], None);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("invalid: signature_invalid"),
        "{}",
        r.stdout
    );

    let dup = t.scratch.write("d.json", "{\"payload\":{},\"payload\":{}}");
    let r = t.scratch.run(&["inspect", s(&dup)], None);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("parses strictly  no: duplicate_key"),
        "{}",
        r.stdout
    );
}

#[test]
fn completions_and_man_page() {
    let t = Scratch::new();
    let r = t.run(&["completions", "bash"], None);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("kvitto") && r.stdout.contains("--max-failures"));
    let r = t.run(&["completions", "zsh"], None);
    assert!(r.stdout.contains("#compdef kvitto"));
    let r = t.run(&["man"], None);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains(".TH kvitto") && r.stdout.contains("verify"));
    let r = t.run(&["frobnicate"], None);
    assert_eq!(r.code, 2);
}
