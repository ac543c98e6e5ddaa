//! What an adversarial user tried: oversized receipts and their chains,
//! inputs of every shape and compression, inspect against verify, and
//! summaries that never say more than was checked.

use std::io::Write;

use kvitto_core::sign::{Common, object, payload};
use kvitto_core::{Hash, Kind, Value};

use crate::support::{KeyServer, Run, Setup, chain, doc, jsonl, key, s};

/// A correctly signed check receipt of `auth` at `seq` whose context holds
/// `pad` bytes: over 1 MiB, so too_large whatever else it is.
fn big_receipt(t: &Setup, auth: &str, seq: u64, prev: Hash, pad: usize) -> String {
    let rid = format!("rcpt_{auth}_{seq}");
    let common = Common {
        receipt_id: &rid,
        workspace_id: "ws_a",
        authorization_id: auth,
        seq,
        prev: Some(prev),
        issued_at: "2026-11-22T02:00:00Z",
        kid: t.key.kid(),
    };
    let p = payload(
        Kind::Check,
        &common,
        [
            ("scope", Value::from("tool:y")),
            ("decision", Value::from("allow")),
            ("reason", Value::from("ok")),
            ("resource", Value::Null),
            ("session_id", Value::Null),
            ("context", object([("pad", Value::from("p".repeat(pad)))])),
            ("estimated_cost_micros", Value::Null),
            ("budget", Value::Null),
            ("confirm_nonce", Value::Null),
            ("escalation_id", Value::Null),
            ("escalation_to", Value::Null),
        ],
    );
    t.key.sign_payload(&p).json
}

fn verify_json(t: &Setup, extra: &[&str], input: &str) -> Run {
    let mut args = vec!["verify", "--keys", t.keys_arg(), "--format", "json"];
    args.extend_from_slice(extra);
    args.push(input);
    t.scratch.run(&args, None)
}

fn chain_of(r: &Run, auth: &str) -> serde_json::Value {
    r.of_type("chain")
        .into_iter()
        .find(|c| c["authorization_id"] == auth)
        .unwrap_or_else(|| panic!("no chain {auth}: {}", r.stdout))
}

/// The hardening issue's first case, as a user would run it: a chain
/// closed by revocation, then a receipt of it over 1 MiB. The big receipt
/// must land in its chain (and break it) at the end or in the middle, with
/// LF or CRLF line ends, and as an array element.
#[test]
fn an_oversized_receipt_keeps_its_chain() {
    let t = Setup::new();
    let closed = chain(&t.key, "ws_a", "auth_c", 4, true, "tool:y");
    let head = kvitto_core::verify_receipt(
        closed[3].as_bytes(),
        &kvitto_core::KeySet::from_bytes(&std::fs::read(&t.keys).unwrap(), None).unwrap(),
    )
    .unwrap()
    .receipt_hash;
    let big = big_receipt(&t, "auth_c", 4, head, 1 << 20);
    for (name, eol, at) in [
        ("end-lf", "\n", 4),
        ("end-crlf", "\r\n", 4),
        ("middle-lf", "\n", 2),
        ("middle-crlf", "\r\n", 2),
    ] {
        let mut lines = closed.clone();
        lines.insert(at, big.clone());
        let mut text = lines.join(eol);
        text.push_str(eol);
        let file = t.scratch.write(&format!("{name}.jsonl"), text);
        let r = verify_json(&t, &["--chains"], s(&file));
        assert_eq!(r.code, 1, "{name}: {r:?}");
        let c = chain_of(&r, "auth_c");
        assert_eq!(c["code"], "chain_invalid_receipt", "{name}: {c}");
        assert_eq!(c["closed"], false, "{name}");
        assert_eq!(c["receipts"], 5, "{name}");
        let msg = c["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!(":{}", at + 1)) && msg.contains("too_large"),
            "{name}: {msg}"
        );
        let bad: Vec<_> = r
            .of_type("receipt")
            .into_iter()
            .filter(|l| l["ok"] == false)
            .collect();
        assert_eq!(bad.len(), 1, "{name}");
        assert_eq!(bad[0]["code"], "too_large");
        assert_eq!(bad[0]["authorization_id"], "auth_c");
        assert_eq!(bad[0]["receipt_id"], "rcpt_auth_c_4");
        assert_eq!(r.summary()["chains"]["ungrouped"], 0, "{name}");
    }
    // The same receipts as a JSON array: the same chain verdict.
    let mut items = closed.clone();
    items.push(big);
    let file = t
        .scratch
        .write("array.json", format!("[\n{}\n]", items.join(",\n")));
    let r = verify_json(&t, &["--chains"], s(&file));
    assert_eq!(chain_of(&r, "auth_c")["code"], "chain_invalid_receipt");
    let bad = &r.of_type("receipt")[4];
    assert_eq!(
        (bad["index"].as_u64(), bad["code"].as_str()),
        (Some(4), Some("too_large"))
    );
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// Inputs of every shape, plain and compressed: the verdicts are the
/// framing rules' (format spec, section 9), whatever the size. (Memory is
/// measured by scripts/bench-memory.sh, not here.)
#[test]
fn inputs_of_every_shape_plain_and_gzipped() {
    let t = Setup::new();
    // One JSON value over 1 MiB spread over many lines: one too_large receipt.
    let spread = format!(
        "{{\"payload\": {{\n{}\"authorization_id\": \"auth_x\"}}}}\n",
        "\"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\n".repeat(60_000)
    );
    // An array of 300,000 numbers: 300,000 receipts, each bad_structure.
    let numbers = format!("[{}0]", "0,\n".repeat(299_999));
    // A value followed by 20 MB of white space (past the framing window).
    let padded = format!("{{}}{}", " ".repeat(20 << 20));
    // An array of 20 strings of 1 MiB each (past the window): 20 too_large.
    let strings = format!(
        "[{}\"end\"]",
        format!("\"{}\",\n", "s".repeat(1 << 20)).repeat(20)
    );
    for (name, text, receipts, code) in [
        ("spread", &spread, 1, "too_large"),
        ("numbers", &numbers, 300_000, "bad_structure"),
        ("padded", &padded, 1, "bad_structure"),
        ("strings", &strings, 21, "too_large"),
    ] {
        let plain = t.scratch.write(&format!("{name}.json"), text);
        let packed = t
            .scratch
            .write(&format!("{name}.json.gz"), gz(text.as_bytes()));
        let mut summaries = Vec::new();
        for file in [&plain, &packed] {
            let r = verify_json(&t, &["--quiet", "--chains"], s(file));
            assert_eq!(r.code, 1, "{name}: {r:?}");
            let sum = r.summary();
            assert_eq!(sum["receipts"], receipts, "{name}: {sum}");
            assert_eq!(sum["invalid"], receipts, "{name}: {sum}");
            assert_eq!(sum["complete"], true, "{name}");
            summaries.push(sum);
        }
        assert_eq!(summaries[0]["chains"], summaries[1]["chains"], "{name}");
        let r = verify_json(&t, &["--max-failures", "1"], s(&packed));
        let first = &r.of_type("receipt")[0];
        assert_eq!(first["code"], code, "{name}: {first}");
    }
    // The spread value keeps its lenient id: its chain is broken by it.
    let r = verify_json(&t, &["--chains"], s(&t.scratch.path("spread.json.gz")));
    assert_eq!(chain_of(&r, "auth_x")["code"], "chain_invalid_receipt");
}

/// `inspect` frames and judges exactly as `verify` does: for every receipt
/// vector the CLI runs, the same verdict and code.
#[test]
fn inspect_agrees_with_verify_on_every_vector() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let t = Setup::new();
    let mut compared = 0;
    for v in manifest["vectors"].as_array().unwrap() {
        let cli = v["surfaces"].as_array().unwrap().iter().any(|s| s == "cli");
        if v["type"] != "receipt" || !cli {
            continue;
        }
        let input = root.join(v["input"].as_str().unwrap());
        let input = input.to_str().unwrap();
        let mut keys = Vec::new();
        for k in v["keys"].as_array().unwrap() {
            keys.push("--keys".to_string());
            keys.push(root.join(k.as_str().unwrap()).display().to_string());
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut args = vec!["verify", "--format", "json"];
        args.extend(&keys);
        args.push(input);
        let verified = t.scratch.run(&args, None);
        let line = &verified.of_type("receipt")[0];
        let mut args = vec!["inspect", input];
        args.extend(&keys);
        let inspected = t.scratch.run(&args, None);
        let verdict = inspected
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("verdict"))
            .map(str::trim)
            .unwrap_or_else(|| panic!("{}: no verdict: {inspected:?}", v["id"]));
        let ok = line["ok"] == true;
        assert_eq!(inspected.code == 0, ok, "{}: {inspected:?}", v["id"]);
        if ok {
            assert!(verdict.starts_with("valid"), "{}: {verdict}", v["id"]);
        } else {
            let code = line["code"].as_str().unwrap();
            assert!(
                verdict.starts_with(&format!("invalid: {code}: ")),
                "{}: verify says {code}, inspect says {verdict}",
                v["id"]
            );
        }
        compared += 1;
    }
    assert!(compared > 300, "only {compared} vectors compared");
}

/// A receipt wrapped in form feeds is not JSON (form feed is not JSON
/// white space): inspect says so, as verify does.
#[test]
fn inspect_does_not_trim_what_json_does_not() {
    let t = Setup::new();
    let file = t
        .scratch
        .write("ff.json", format!("\x0c{}\x0c", t.lines[0]));
    let r = t
        .scratch
        .run(&["inspect", s(&file), "--keys", t.keys_arg()], None);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("verdict          invalid: malformed_json"),
        "{r:?}"
    );
}

/// Inputs that cannot be read make the summary incomplete, in text and
/// JSON, and their error lines stand where the input stands.
#[test]
fn unreadable_inputs_make_an_incomplete_summary_in_order() {
    let t = Setup::new();
    let a = t.scratch.write("a.jsonl", jsonl(&t.lines[..3]));
    let b = t.scratch.write("b.jsonl", jsonl(&t.lines[3..]));
    let missing = t.scratch.path("missing.jsonl");
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&a),
            s(&missing),
            s(&b),
        ],
        None,
    );
    assert_eq!(r.code, 2, "{r:?}");
    let types: Vec<String> = r
        .json()
        .iter()
        .map(|l| l["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "receipt", "receipt", "receipt", "error", "receipt", "receipt", "receipt", "receipt",
            "receipt", "receipt", "summary"
        ]
    );
    let err = &r.of_type("error")[0];
    assert_eq!(err["code"], "io_error");
    assert_eq!(err["source"], s(&missing));
    assert_eq!(r.summary()["complete"], false);
    assert_eq!(r.summary()["valid"], 9);
    // The same in text: INCOMPLETE, never OK.
    let r = t.scratch.run(
        &["verify", "--keys", t.keys_arg(), s(&a), s(&missing)],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stdout.starts_with("INCOMPLETE: 3 receipts, 3 valid"),
        "{r:?}"
    );
    assert!(r.stdout.contains("1 input could not be read"), "{r:?}");
    // A truncated .gz: what was read is verified, the input is unreadable.
    let packed = gz(jsonl(&t.lines).as_bytes());
    let cut = t
        .scratch
        .write("cut.jsonl.gz", &packed[..packed.len() * 2 / 3]);
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&cut),
        ],
        None,
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.of_type("error")[0]["code"], "io_error");
    assert_eq!(r.summary()["complete"], false);
    let r = t
        .scratch
        .run(&["verify", "--keys", t.keys_arg(), s(&cut)], None);
    assert!(r.stdout.starts_with("INCOMPLETE: "), "{r:?}");
}

/// A failed refetch says what was verified and names the URL; the receipts
/// of the unknown kid are the only ones not verified.
#[test]
fn a_failed_refetch_says_what_was_verified() {
    let t = Setup::new();
    let k2 = key("ws_a", 7);
    let old = doc("ws_a", &[&t.key]);
    let mut lines = t.lines.clone();
    lines.push(chain(&k2, "ws_a", "auth_new", 2, false, "tool:n")[1].clone());
    let export = t.scratch.write("rot.jsonl", jsonl(&lines));
    // The document once; after that the server answers 503.
    let server = KeyServer::new(old.clone());
    server.set_sequence(vec![Some(old.clone()), None]);
    let url = server.url();
    let args = |format: &'static str| {
        vec![
            "verify".to_string(),
            "--keys".into(),
            url.clone(),
            "--allow-insecure-localhost".into(),
            "--cache-ttl".into(),
            "0".into(),
            "--format".into(),
            format.into(),
            s(&export).into(),
        ]
    };
    let json_args = args("json");
    let json_args: Vec<&str> = json_args.iter().map(String::as_str).collect();
    let run = t.scratch.run(&json_args, None);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(server.hits(), 2);
    let err = &run.of_type("error")[0];
    assert_eq!(err["code"], "keys_fetch_failed");
    assert_eq!(err["source"], url.as_str());
    assert!(err["message"].as_str().unwrap().contains(&url), "{err}");
    let sum = run.summary();
    assert_eq!(
        (sum["valid"].as_u64(), sum["invalid"].as_u64()),
        (Some(9), Some(1))
    );
    let bad = run
        .of_type("receipt")
        .into_iter()
        .find(|l| l["ok"] == false)
        .unwrap();
    assert_eq!(bad["code"], "unknown_kid");
    // In text: counts as they are, and the failed URL, never "nothing verified".
    server.set_sequence(vec![Some(old), None]);
    let text_args = args("text");
    let text_args: Vec<&str> = text_args.iter().map(String::as_str).collect();
    let r = t.scratch.run(&text_args, None);
    assert_eq!(r.code, 3, "{r:?}");
    let summary = r.stdout.lines().find(|l| l.starts_with("FAILED")).unwrap();
    assert!(
        summary.starts_with("FAILED: 10 receipts, 9 valid, 1 invalid"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("refetching {url} failed")),
        "{summary}"
    );
    assert!(!summary.contains("nothing verified"), "{summary}");
}

/// Two key documents for one workspace are a usage error naming both.
#[test]
fn two_documents_for_one_workspace_are_a_usage_error() {
    let t = Setup::new();
    let other = t
        .scratch
        .write("other.json", doc("ws_a", &[&key("ws_a", 9)]));
    let good = t.scratch.write("good.jsonl", jsonl(&t.lines));
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--keys",
            s(&other),
            s(&good),
        ],
        None,
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(t.keys_arg())
            && r.stderr.contains(s(&other))
            && r.stderr.contains("ws_a"),
        "{r:?}"
    );
    assert!(r.stdout.is_empty(), "nothing verified: {r:?}");
}

/// Text output names an array element by its index, and the summary says
/// how many receipts no chain holds.
#[test]
fn text_names_array_elements_and_ungrouped_receipts() {
    let t = Setup::new();
    let items = [
        t.lines[0].as_str(),
        "42",
        t.lines[1].as_str(),
        "{\"payload\":{}}",
    ];
    let file = t.scratch.write(
        "arr.json",
        format!(
            "[\n{},\n{}, {},\n{}\n]",
            items[0], items[1], items[2], items[3]
        ),
    );
    let r = t.scratch.run(
        &["verify", "--keys", t.keys_arg(), "--chains", s(&file)],
        None,
    );
    assert_eq!(r.code, 1, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{}:3[1]: bad_structure: ", s(&file))),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with(&format!("{}:4[3]: bad_structure: ", s(&file))),
        "{lines:?}"
    );
    let summary = lines.iter().find(|l| l.starts_with("FAILED")).unwrap();
    assert!(
        summary.contains("2 receipts in no chain (authorization_id unreadable)"),
        "{summary}"
    );
}

/// Only the document of a workspace whose receipt names a kid it lacks is
/// fetched again; another document's failing server changes nothing.
#[test]
fn only_the_document_lacking_a_kid_is_refetched() {
    let t = Setup::new();
    let k2 = key("ws_a", 7);
    let kb = key("ws_b", 3);
    let a = KeyServer::sequence(vec![doc("ws_a", &[&t.key]), doc("ws_a", &[&t.key, &k2])]);
    let b = KeyServer::new(doc("ws_b", &[&kb]));
    b.set_sequence(vec![Some(doc("ws_b", &[&kb])), None]);
    let mut lines = t.lines.clone();
    lines.extend(chain(&kb, "ws_b", "auth_b", 2, false, "tool:b"));
    lines.push(chain(&k2, "ws_a", "auth_new", 2, false, "tool:n")[1].clone());
    let export = t.scratch.write("two.jsonl", jsonl(&lines));
    let (url_a, url_b) = (a.url(), b.url());
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            &url_a,
            "--keys",
            &url_b,
            "--allow-insecure-localhost",
            "--cache-ttl",
            "0",
            "--format",
            "json",
            "--quiet",
            s(&export),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!((a.hits(), b.hits()), (2, 1));
    assert!(r.of_type("error").is_empty(), "{r:?}");
    assert_eq!(r.summary()["valid"], lines.len());
}

/// A key document that fails, and two for one workspace: the failure wins
/// (exit 3), with its summary line.
#[test]
fn a_key_error_wins_over_a_usage_error() {
    let t = Setup::new();
    let bad = t.scratch.write("bad.json", "{");
    let good = t.scratch.write("good.jsonl", jsonl(&t.lines));
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            s(&bad),
            "--keys",
            t.keys_arg(),
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&good),
        ],
        None,
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.of_type("error")[0]["code"], "keys_invalid");
    assert_eq!(r.summary()["receipts"], 0);
}

/// inspect reads what verify reads (`.gz` too), one document per workspace.
#[test]
fn inspect_reads_gz_and_refuses_two_documents_for_one_workspace() {
    let t = Setup::new();
    let one = t
        .scratch
        .write("one.json.gz", gz(format!("{}\n", t.lines[0]).as_bytes()));
    let r = t
        .scratch
        .run(&["inspect", s(&one), "--keys", t.keys_arg()], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("verdict          valid"), "{r:?}");
    let other = t
        .scratch
        .write("other.json", doc("ws_a", &[&key("ws_a", 9)]));
    let r = t.scratch.run(
        &[
            "inspect",
            s(&one),
            "--keys",
            s(&other),
            "--keys",
            t.keys_arg(),
        ],
        None,
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("both for workspace ws_a"), "{r:?}");
    let two = t.scratch.write("two.jsonl", jsonl(&t.lines[..2]));
    let r = t.scratch.run(&["inspect", s(&two)], None);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("more than one receipt"), "{r:?}");
}

/// No receipt at all is FAILED, even when an input could not be read.
#[test]
fn nothing_read_is_failed_not_incomplete() {
    let t = Setup::new();
    let empty = t.scratch.write("empty.jsonl", "\n");
    let missing = t.scratch.path("missing.jsonl");
    let r = t.scratch.run(
        &["verify", "--keys", t.keys_arg(), s(&empty), s(&missing)],
        None,
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.starts_with("FAILED: 0 receipts"), "{r:?}");
    assert!(r.stdout.contains("1 input could not be read"), "{r:?}");
}
