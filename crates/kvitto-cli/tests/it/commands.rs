//! The other commands: keys, canon, inspect, completions, man.

use crate::support::{KeyServer, Scratch, Setup, chain, doc, key, s};

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

#[test]
fn keys_fetch_fetches_past_a_fresh_cached_copy_and_refills_the_cache() {
    let t = Setup::new();
    let k2 = key("ws_a", 7);
    let (v1, v2) = (doc("ws_a", &[&t.key]), doc("ws_a", &[&t.key, &k2]));
    let server = KeyServer::new(v1.clone());
    let url = server.url();
    let fetch = |extra: &[&str]| {
        let mut args = vec!["keys", "fetch", url.as_str(), "--allow-insecure-localhost"];
        args.extend_from_slice(extra);
        t.scratch.run(&args, None)
    };

    let r = fetch(&[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.as_bytes(), v1);
    assert_eq!(r.stderr, "", "no note when fetched");
    assert_eq!(server.hits(), 1);

    // The issuer adds a key. The cached v1 is fresh (default TTL 300 s),
    // yet `keys fetch` asks the server: pinned to v1, the new document
    // fails its pin instead of the cached copy passing.
    server.set(Some(v2.clone()));
    let v1_pin = kvitto_core::Hash::of(&v1).to_string();
    let r = fetch(&["--pin", &v1_pin]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("pin_mismatch"), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_eq!(server.hits(), 2);

    let r = fetch(&[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout.as_bytes(),
        v2,
        "the new document, not the cached one"
    );
    assert_eq!(server.hits(), 3);

    // The fetched copy replaced the cached one: `verify --offline` knows
    // the key only v2 has, without a request.
    let receipt = t.scratch.write(
        "k2.json",
        &chain(&k2, "ws_a", "auth_k2", 1, false, "tool:z")[0],
    );
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            &url,
            "--allow-insecure-localhost",
            "--offline",
            s(&receipt),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(server.hits(), 3, "offline: no request");
}

#[test]
fn keys_fetch_offline_serves_the_cache_and_says_how_old_it_is() {
    let t = Scratch::new();
    let body = doc("ws_b", &[&key("ws_b", 3)]);
    let server = KeyServer::new(body.clone());
    let url = server.url();
    let fetch = |offline: bool| {
        let mut args = vec!["keys", "fetch", url.as_str(), "--allow-insecure-localhost"];
        if offline {
            args.push("--offline");
        }
        t.run(&args, None)
    };

    // No cached copy yet: offline has nothing to serve, and fetches nothing.
    let r = fetch(true);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("keys_fetch_failed"), "{r:?}");
    assert!(r.stderr.contains("run without --offline once"), "{r:?}");
    assert_eq!(server.hits(), 0);

    let r = fetch(false);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(server.hits(), 1);

    // Make the cached copy three days old (its header records when it was
    // fetched), and take the server down.
    let loader = kvitto_keys::KeyLoader::new(kvitto_keys::Options {
        cache_dir: Some(t.path("cache")),
        ..kvitto_keys::Options::default()
    })
    .expect("loader");
    let entry = loader.cache_path(&url).expect("a cache file for the URL");
    let file = String::from_utf8(std::fs::read(&entry).expect("cache file")).expect("text");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let three_days = 3 * 86_400;
    let stamp = file
        .lines()
        .find(|l| l.starts_with("fetched_at_ms "))
        .expect("fetched_at_ms in the header");
    let aged = file.replacen(
        stamp,
        &format!("fetched_at_ms {}", now_ms - three_days * 1000),
        1,
    );
    std::fs::write(&entry, aged).expect("age the cached copy");
    server.set(None);

    // Offline: the cached copy, with a note on stderr saying so and its age.
    let r = fetch(true);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.as_bytes(), body);
    let note = r.stderr.trim();
    assert!(
        note.starts_with("kvitto: note: --offline:") && note.contains("cached copy"),
        "{r:?}"
    );
    assert!(note.contains(&url), "{r:?}");
    let age: u128 = note
        .rsplit(", ")
        .next()
        .and_then(|tail| tail.strip_suffix(" s old"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an age in seconds: {note:?}"));
    assert!(age >= three_days, "{age} s");
    assert_eq!(server.hits(), 1, "offline: no request");

    // Online, a failed fetch is an error (never a silent cached copy), and
    // it points to the copy --offline would use.
    let r = fetch(false);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.contains("keys_fetch_failed"), "{r:?}");
    assert!(r.stderr.contains("503"), "{r:?}");
    assert!(r.stderr.contains("--offline uses it"), "{r:?}");
    assert_eq!(server.hits(), 2);
}
