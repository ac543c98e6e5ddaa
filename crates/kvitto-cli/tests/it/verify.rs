//! `kvitto verify`: inputs, framing, the JSON contract, text output and exit codes.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use crate::support::{KeyServer, Setup, chain, doc, jsonl, key, s};

#[test]
fn valid_export_json_contract() {
    let t = Setup::new();
    let export = t.scratch.write("export.jsonl", jsonl(&t.lines));
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            "--chains",
            s(&export),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let receipts = r.of_type("receipt");
    assert_eq!(receipts.len(), 9);
    for (i, rec) in receipts.iter().enumerate() {
        assert_eq!(rec["ok"], true);
        assert_eq!(rec["line"], i + 1);
        assert_eq!(rec["index"], serde_json::Value::Null);
        assert_eq!(rec["code"], serde_json::Value::Null);
        assert_eq!(rec["source"], s(&export));
        assert!(
            rec["receipt_hash"]
                .as_str()
                .is_some_and(|h| h.starts_with("sha256:"))
        );
    }
    assert_eq!(receipts[0]["authorization_id"], "auth_1");
    assert_eq!(receipts[1]["receipt_id"], "rcpt_auth_2_0");
    let chains = r.of_type("chain");
    assert_eq!(chains.len(), 2);
    assert_eq!(chains[0]["authorization_id"], "auth_1");
    assert_eq!(chains[0]["closed"], false);
    assert_eq!(chains[0]["message"], "open: truncation not checked");
    assert_eq!(chains[0]["head_seq"], 4);
    assert_eq!(chains[0]["head_hash"], receipts[8]["receipt_hash"]);
    assert_eq!(chains[0]["receipts"], 5);
    assert_eq!(chains[1]["closed"], true);
    assert_eq!(chains[1]["ok"], true);
    let sum = r.summary();
    assert_eq!(sum["schema"], 1);
    assert_eq!(
        (
            sum["receipts"].clone(),
            sum["valid"].clone(),
            sum["invalid"].clone()
        ),
        (9.into(), 9.into(), 0.into())
    );
    assert_eq!(sum["chains"]["total"], 2);
    assert_eq!(sum["chains"]["intact"], 2);
    assert_eq!(sum["chains"]["closed"], 1);
    assert_eq!(sum["chains"]["open"], 1);
    let keys = &sum["keys"][0];
    assert_eq!(keys["workspace_id"], "ws_a");
    assert_eq!(keys["pinned"], false);
    let want = format!(
        "{}",
        kvitto_core::Hash::of(&std::fs::read(&t.keys).unwrap())
    );
    assert_eq!(keys["sha256"], want.as_str());
}

#[test]
fn text_output_failures_and_summary() {
    let t = Setup::new();
    let mut lines = t.lines.clone();
    lines[2] = lines[2].replace("tool:x", "tool:z"); // breaks the signature
    let export = t.scratch.write("export.jsonl", jsonl(&lines));
    let r = t.scratch.run(
        &["verify", "--keys", t.keys_arg(), "--chains", s(&export)],
        None,
    );
    assert_eq!(r.code, 1, "{r:?}");
    let out: Vec<&str> = r.stdout.lines().collect();
    assert!(
        out[0].starts_with(&format!("{}:3: signature_invalid: ", s(&export))),
        "{out:?}"
    );
    assert!(
        out[1].starts_with("chain auth_1: chain_invalid_receipt: receipt "),
        "{out:?}"
    );
    assert!(
        out[1].contains(":3 (rcpt_auth_1_1) is invalid: signature_invalid"),
        "{out:?}"
    );
    assert!(
        out[2].starts_with("FAILED: 9 receipts, 8 valid, 1 invalid"),
        "{out:?}"
    );
    assert!(
        out[3].contains("sha256:") && out[3].contains("not pinned"),
        "{out:?}"
    );
    assert!(!r.stdout.contains('\x1b'), "no colour off a terminal");

    let q = t.scratch.run(
        &["verify", "--keys", t.keys_arg(), "--quiet", s(&export)],
        None,
    );
    assert_eq!(q.code, 1);
    assert!(q.stdout.starts_with("FAILED: 9 receipts"), "{q:?}");

    let qj = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--quiet",
            "--format",
            "json",
            s(&export),
        ],
        None,
    );
    assert_eq!(qj.json().len(), 1, "json --quiet: only the summary: {qj:?}");
    assert_eq!(qj.summary()["invalid"], 1);
}

#[test]
fn no_color_even_when_asked_by_env() {
    let t = Setup::new();
    let mut lines = t.lines.clone();
    lines[0] = "{broken".into();
    let export = t.scratch.write("e.jsonl", jsonl(&lines));
    let out = t
        .scratch
        .cmd()
        .args(["verify", "--keys", t.keys_arg(), s(&export)])
        .env("NO_COLOR", "1")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .expect("run");
    let r = crate::support::output(out);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("malformed_json"));
    assert!(!r.stdout.contains('\x1b') && !r.stderr.contains('\x1b'));
}

#[test]
fn array_and_single_value_inputs() {
    let t = Setup::new();
    let array = format!("[\n{},\n  {}\n]\n", t.lines[0], t.lines[1]);
    let arr = t.scratch.write("a.json", array);
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&arr),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let recs = r.of_type("receipt");
    assert_eq!(
        (recs[0]["index"].clone(), recs[0]["line"].clone()),
        (0.into(), 2.into())
    );
    assert_eq!(
        (recs[1]["index"].clone(), recs[1]["line"].clone()),
        (1.into(), 3.into())
    );

    let one = t
        .scratch
        .write("one.json", format!("\n  {}  \n", t.lines[0]));
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&one),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.of_type("receipt")[0]["line"], 2);
}

#[test]
fn gz_directory_and_stdin_inputs() {
    let t = Setup::new();
    let dir = t.scratch.path("exports");
    t.scratch
        .write("exports/b/second.jsonl", jsonl(&t.lines[4..6]));
    t.scratch.write("exports/a.json", &t.lines[3]);
    t.scratch.write("exports/ignored.txt", "not an export");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(jsonl(&t.lines[0..3]).as_bytes()).unwrap();
    t.scratch.write("exports/c.jsonl.gz", gz.finish().unwrap());
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&dir),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let sources: Vec<String> = r
        .of_type("receipt")
        .iter()
        .map(|v| {
            v["source"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        sources,
        [
            "a.json",
            "second.jsonl",
            "second.jsonl",
            "c.jsonl.gz",
            "c.jsonl.gz",
            "c.jsonl.gz"
        ]
    );

    let r = t.scratch.run(
        &["verify", "--keys", t.keys_arg(), "--format", "json", "-"],
        Some(jsonl(&t.lines).as_bytes()),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.summary()["valid"], 9);
    assert_eq!(r.of_type("receipt")[0]["source"], "-");
}

#[test]
fn closed_pipe_ends_quietly() {
    let t = Setup::new();
    let k = key("ws_a", 1);
    let mut lines = Vec::new();
    for a in 0..40 {
        lines.extend(chain(&k, "ws_a", &format!("auth_{a}"), 50, false, "tool:x"));
    }
    let export = t.scratch.write("big.jsonl", jsonl(&lines));
    let mut child = t
        .scratch
        .cmd()
        .args([
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&export),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"type\":\"receipt\""));
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "quiet on a closed pipe, got {stderr:?}");
    assert_eq!(out.status.code(), Some(141));
}

#[test]
fn over_long_line_among_good_lines() {
    let t = Setup::new();
    let mut text = jsonl(&t.lines[..2]);
    text.push_str(&format!("{{\"payload\":\"{}\"}}\r\n", "x".repeat(1 << 20)));
    text.push_str(&jsonl(&t.lines[2..4]));
    let export = t.scratch.write("long.jsonl", text);
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&export),
        ],
        None,
    );
    assert_eq!(r.code, 1, "{r:?}");
    let recs = r.of_type("receipt");
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[2]["code"], "too_large");
    assert_eq!(recs[2]["line"], 3);
    assert!(
        recs[2]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{}", (1 << 20) + 14))
    );
    assert_eq!(recs[3]["line"], 4);
    assert_eq!(recs[3]["ok"], true);
    assert_eq!(r.summary()["invalid"], 1);
}

#[test]
fn two_workspaces_need_two_key_documents() {
    let t = Setup::new();
    let kb = key("ws_b", 2);
    let keys_b = t.scratch.write("keys_b.json", doc("ws_b", &[&kb]));
    let mut lines = t.lines.clone();
    lines.extend(chain(&kb, "ws_b", "auth_b", 3, true, "tool:q"));
    let export = t.scratch.write("two.jsonl", jsonl(&lines));
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--keys",
            s(&keys_b),
            "--chains",
            "--format",
            "json",
            s(&export),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let sum = r.summary();
    assert_eq!(sum["valid"], 12);
    assert_eq!(sum["chains"]["total"], 3);
    assert_eq!(sum["keys"].as_array().unwrap().len(), 2);
    assert_eq!(sum["keys"][1]["workspace_id"], "ws_b");

    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&export),
        ],
        None,
    );
    assert_eq!(r.code, 1);
    let bad: Vec<_> = r
        .of_type("receipt")
        .into_iter()
        .filter(|v| v["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 3);
    assert!(
        bad.iter()
            .all(|v| v["code"] == "workspace_mismatch" && v["authorization_id"] == "auth_b")
    );
}

#[test]
fn broken_chain_is_exit_1() {
    let t = Setup::new();
    let lines: Vec<String> = t
        .lines
        .iter()
        .filter(|l| !l.contains("rcpt_auth_1_2"))
        .cloned()
        .collect();
    let export = t.scratch.write("gap.jsonl", jsonl(&lines));
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            "--chains",
            s(&export),
        ],
        None,
    );
    assert_eq!(r.code, 1, "{r:?}");
    let chains = r.of_type("chain");
    assert_eq!(chains[0]["code"], "chain_gap");
    assert_eq!(chains[0]["message"], "seq 2 is missing");
    assert_eq!(chains[1]["ok"], true);
    assert_eq!(r.summary()["chains"]["broken"], 1);
    // Without --chains every receipt is valid on its own.
    let r = t
        .scratch
        .run(&["verify", "--keys", t.keys_arg(), s(&export)], None);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn usage_and_input_errors_are_exit_2() {
    let t = Setup::new();
    let r = t.scratch.run(&["verify", "--keys", t.keys_arg()], None);
    assert_eq!(r.code, 2, "no INPUT: {r:?}");
    let empty = t.scratch.write("empty.jsonl", "\n  \n");
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&empty),
        ],
        None,
    );
    assert_eq!(r.code, 2, "empty input: {r:?}");
    assert_eq!(r.of_type("error")[0]["code"], "no_receipts");
    assert_eq!(r.summary()["receipts"], 0);
    let r = t
        .scratch
        .run(&["verify", "--keys", t.keys_arg(), "-"], Some(b""));
    assert_eq!(r.code, 2, "empty stdin: {r:?}");
    let good = t.scratch.write("good.jsonl", jsonl(&t.lines));
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--format",
            "json",
            s(&good),
            s(&t.scratch.path("missing.jsonl")),
        ],
        None,
    );
    assert_eq!(r.code, 2, "missing input: {r:?}");
    assert_eq!(r.of_type("error")[0]["code"], "io_error");
    assert_eq!(r.summary()["valid"], 9);
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--pin",
            "sha256:zz",
            s(&good),
        ],
        None,
    );
    assert_eq!(r.code, 2, "bad pin syntax: {r:?}");
}

#[test]
fn key_document_errors_are_exit_3() {
    let t = Setup::new();
    let good = t.scratch.write("good.jsonl", jsonl(&t.lines));
    let missing = t.scratch.path("nokeys.json");
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            s(&missing),
            "--format",
            "json",
            s(&good),
        ],
        None,
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.of_type("error")[0]["code"], "keys_fetch_failed");

    let wrong = format!("sha256:{}", "0".repeat(64));
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--pin",
            &wrong,
            "--format",
            "json",
            s(&good),
        ],
        None,
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.of_type("error")[0]["code"], "pin_mismatch");

    // Exit 3 wins over exit 2 (a missing input too).
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--pin",
            &wrong,
            s(&good),
            "nope.jsonl",
        ],
        None,
    );
    assert_eq!(r.code, 3, "{r:?}");

    let bad = t.scratch.write(
        "bad.json",
        "{\"workspace_id\":\"ws\",\"keys\":[],\"keys\":[]}",
    );
    let r = t
        .scratch
        .run(&["verify", "--keys", s(&bad), s(&good)], None);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("keys_invalid"), "{r:?}");

    let pin = format!(
        "{}",
        kvitto_core::Hash::of(&std::fs::read(&t.keys).unwrap())
    );
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--pin",
            &pin,
            "--format",
            "json",
            s(&good),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.summary()["keys"][0]["pinned"], true);
}

#[test]
fn max_failures_stops_early() {
    let t = Setup::new();
    let mut lines = t.lines.clone();
    for l in lines.iter_mut().skip(1) {
        *l = l.replace("\"sig\":\"", "\"sig\":\"A");
    }
    let export = t.scratch.write("bad.jsonl", jsonl(&lines));
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            t.keys_arg(),
            "--max-failures",
            "2",
            "--format",
            "json",
            s(&export),
        ],
        None,
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.of_type("receipt").len(), 3);
    let sum = r.summary();
    assert_eq!(sum["invalid"], 2);
    assert_eq!(sum["complete"], false);
}

#[test]
fn receipt_text_cannot_forge_report_lines() {
    let t = Setup::new();
    let common = kvitto_core::sign::Common {
        receipt_id: "rcpt_evil",
        workspace_id: "ws_a",
        authorization_id: "auth_evil",
        seq: 0,
        prev: None,
        issued_at: "2026-11-22T01:00:00Z",
        kid: t.key.kid(),
    };
    use kvitto_core::Value;
    use kvitto_core::sign::object;
    let evil = "x\nexport.jsonl:1: ok\u{202e}\u{2028}";
    let p = kvitto_core::sign::payload(
        kvitto_core::Kind::AuthorizationCreated,
        &common,
        [
            ("user_id", Value::from("u")),
            ("agent_id", Value::from("a")),
            ("scopes", Value::Array(vec![])),
            ("requires_confirm_for", Value::Array(vec![])),
            ("requires_escalation_for", Value::Array(vec![])),
            ("escalation_targets", object([(evil, Value::from(1u64))])),
            ("expires_at", Value::Null),
            ("budget_limit_micros", Value::Null),
            ("metadata", object([])),
        ],
    );
    let receipt = t.key.sign_payload(&p).json;
    // The file's name is hostile too: it is shown on every failure line.
    let export = t.scratch.write(
        "evil\nexport.jsonl:1: ok\u{202e}.jsonl",
        format!("{receipt}\n{{\"payload\":1}}\n"),
    );
    let r = t
        .scratch
        .run(&["verify", "--keys", t.keys_arg(), s(&export)], None);
    assert_eq!(r.code, 1, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "two failures, summary, keys: {lines:?}");
    assert!(lines[0].contains(": bad_structure: "), "{lines:?}");
    assert!(lines[1].contains(":2: bad_structure: "), "{lines:?}");
    for line in &lines[..2] {
        assert!(
            line.contains("evil\\u{a}export.jsonl:1: ok\\u{202e}.jsonl:"),
            "{lines:?}"
        );
    }
    assert!(
        lines[0].contains("x") && lines[0].contains("export.jsonl:1: ok"),
        "the member name is shown, escaped: {lines:?}"
    );
    for bad in ['\u{202e}', '\u{2028}', '\r'] {
        assert!(!r.stdout.contains(bad), "{bad:?} in {lines:?}");
    }
}

#[test]
fn unknown_kid_refetches_an_unpinned_url_once() {
    let t = Setup::new();
    let k2 = key("ws_a", 7);
    let old = doc("ws_a", &[&t.key]);
    let new = doc("ws_a", &[&t.key, &k2]);
    // A receipt by the new key first, then enough receipts by both keys to
    // fill several batches (verified ahead, in parallel, before the refetch).
    let new_chain = chain(&k2, "ws_a", "auth_new", 3, false, "tool:n");
    let mut lines = vec![new_chain[1].clone()];
    lines.extend(t.lines.iter().cloned());
    lines.extend(std::iter::repeat_n(t.lines[1].clone(), 4096 - lines.len()));
    lines.extend(new_chain.iter().cloned());
    let total = lines.len();
    let export = t.scratch.write("rot.jsonl", jsonl(&lines));
    // Serves the old document, then the new one, for as long as it lives:
    // until after the kvitto run has exited, whatever the machine's speed.
    let server = KeyServer::sequence(vec![old, new]);
    let url = server.url();
    let r = t.scratch.run(
        &[
            "verify",
            "--keys",
            &url,
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
    assert_eq!(server.hits(), 2);
    let keys = r.summary()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "both documents named: {keys:?}");
    assert_ne!(keys[0]["sha256"], keys[1]["sha256"]);
    assert_eq!(
        r.summary()["valid"],
        total,
        "{}",
        r.stdout.lines().last().unwrap_or("")
    );
}

#[test]
fn ctrl_c_prints_a_partial_summary_and_exits_130() {
    let t = Setup::new();
    let mut child = t
        .scratch
        .cmd()
        .args(["verify", "--keys", t.keys_arg(), "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // A full batch of receipts, and standard input left open: kvitto is
    // still reading. Its first receipt line shows it is verifying (the
    // Ctrl-C handler is set before that), whatever the machine's speed.
    let mut stdin = child.stdin.take().unwrap();
    let batch: Vec<String> = t.lines.iter().cycle().take(5000).cloned().collect();
    stdin.write_all(jsonl(&batch).as_bytes()).unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"type\":\"receipt\""), "{first}");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    drop(stdin);
    assert_eq!(code, 130, "{rest}");
    let summary: serde_json::Value =
        serde_json::from_str(rest.lines().last().unwrap_or("")).expect("a summary line");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["complete"], false);
}
