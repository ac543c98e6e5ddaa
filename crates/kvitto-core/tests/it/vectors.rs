//! The shared corpus (test-vectors/manifest.json) run against the core: every
//! vector whose surfaces include "core", sorted into pass / known divergence /
//! unexpected failure / unexpected success.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kvitto_core::{
    ChainReport, Error, Hash, KeySet, canonicalize, records, verify_chain_records, verify_export,
    verify_receipt_in,
};
use serde_json::{Value as J, json};

/// Vectors the core is known to get wrong, each with the reason. Empty: none.
const KNOWN_DIVERGENCES: &[(&str, &str)] = &[];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors")
}

fn read(dir: &Path, rel: &str) -> Result<Vec<u8>, String> {
    std::fs::read(dir.join(rel)).map_err(|e| format!("reading {rel}: {e}"))
}

fn str_field<'a>(v: &'a J, name: &str) -> Result<&'a str, String> {
    v.get(name)
        .and_then(J::as_str)
        .ok_or_else(|| format!("vector has no string {name}"))
}

fn keysets(dir: &Path, v: &J) -> Result<Vec<KeySet>, String> {
    let paths = v
        .get("keys")
        .and_then(J::as_array)
        .ok_or("vector has no keys")?;
    paths
        .iter()
        .map(|p| {
            let p = p.as_str().ok_or("keys holds a non-string")?;
            KeySet::from_bytes(&read(dir, p)?, None).map_err(|e| format!("key document {p}: {e}"))
        })
        .collect()
}

fn code(e: &Error) -> J {
    J::from(e.code())
}

fn chain_json(c: &ChainReport) -> J {
    json!({
        "authorization_id": c.authorization_id,
        "code": c.result.as_ref().err().map(Error::code),
        "closed": c.closed,
        "head_seq": c.head.map(|(s, _)| s),
        "head_hash": c.head.map(|(_, h)| h.to_string()),
        "receipts": c.receipts,
        "duplicates": c.duplicates,
    })
}

/// What the core says about one vector, in the shape of its `expect`.
fn actual(dir: &Path, v: &J) -> Result<J, String> {
    let input = read(dir, str_field(v, "input")?)?;
    Ok(match str_field(v, "type")? {
        "receipt" => match verify_receipt_in(&input, &keysets(dir, v)?) {
            Ok(r) => {
                json!({"ok": true, "receipt_hash": r.receipt_hash.to_string(), "kid": r.key.kid})
            }
            Err(e) => json!({"ok": false, "code": code(&e)}),
        },
        "keys" => {
            let pin = match v.get("pin").and_then(J::as_str) {
                Some(p) => Some(Hash::parse_pin(p).ok_or_else(|| format!("bad pin {p}"))?),
                None => None,
            };
            match KeySet::from_bytes(&input, pin.as_ref()) {
                Ok(set) => json!({
                    "ok": true,
                    "workspace_id": set.workspace_id(),
                    "kids": set.keys().iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
                    "sha256": set.sha256().to_string(),
                }),
                Err(e) => json!({"ok": false, "code": code(&e)}),
            }
        }
        "export" => {
            let chains = v
                .get("chains")
                .and_then(J::as_bool)
                .ok_or("export vector without chains flag")?;
            let report = verify_export(&input, &keysets(dir, v)?, chains);
            json!({
                "records": report.records.iter().map(|r| json!({
                    "line": r.line,
                    "index": r.index,
                    "code": r.outcome.error().map(Error::code),
                })).collect::<Vec<_>>(),
                "chains": report.chains.iter().map(chain_json).collect::<Vec<_>>(),
            })
        }
        "chain" => chain_json(&verify_chain_records(&records(&input), &keysets(dir, v)?)),
        "canon" => match canonicalize(&input) {
            Ok(bytes) => match v.get("output").and_then(J::as_str) {
                // Canonical bytes are UTF-8; compared exactly as text.
                Some(_) => {
                    json!({"output": String::from_utf8(bytes).map_err(|_| "canonical output is not UTF-8")?})
                }
                None => json!({"ok": true}),
            },
            Err(e) => json!({"ok": false, "code": code(&e)}),
        },
        other => return Err(format!("unknown vector type {other}")),
    })
}

fn expected(dir: &Path, v: &J) -> Result<J, String> {
    match v.get("output").and_then(J::as_str) {
        Some(out) if str_field(v, "type")? == "canon" => {
            let bytes = read(dir, out)?;
            let text = String::from_utf8(bytes).map_err(|_| format!("{out} is not UTF-8"))?;
            Ok(json!({ "output": text }))
        }
        _ => v
            .get("expect")
            .cloned()
            .ok_or_else(|| "vector has no expect".to_owned()),
    }
}

/// Ok when the core's result equals the vector's expectation.
fn check(dir: &Path, v: &J) -> Result<(), String> {
    let want = expected(dir, v)?;
    let got = actual(dir, v)?;
    if got == want {
        Ok(())
    } else {
        Err(format!("expected {want}, got {got}"))
    }
}

/// Every expected error code named anywhere in an expectation.
fn codes_in(expect: &J, out: &mut BTreeSet<String>) {
    match expect {
        J::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("code", J::String(c)) => {
                        out.insert(c.clone());
                    }
                    _ => codes_in(v, out),
                }
            }
        }
        J::Array(items) => items.iter().for_each(|i| codes_in(i, out)),
        _ => {}
    }
}

#[test]
fn corpus_runs_on_the_core() {
    let dir = corpus();
    let manifest: J = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json")).expect("test-vectors/manifest.json"),
    )
    .expect("manifest.json is JSON");
    assert_eq!(manifest["schema"], 1, "manifest schema");
    let vectors = manifest["vectors"].as_array().expect("vectors array");
    let mut ids = BTreeSet::new();
    let (mut pass, mut known, mut failures, mut successes, mut skipped) =
        (0, 0, Vec::new(), Vec::new(), 0);
    let mut codes = BTreeSet::new();
    for v in vectors {
        let id = v["id"].as_str().expect("every vector has an id");
        assert!(ids.insert(id.to_owned()), "duplicate vector id {id}");
        if let Some(e) = v.get("expect") {
            codes_in(e, &mut codes);
        }
        let surfaces = v["surfaces"].as_array().expect("surfaces");
        if !surfaces.iter().any(|s| s == "core") {
            skipped += 1;
            continue;
        }
        let divergence = KNOWN_DIVERGENCES.iter().find(|(k, _)| *k == id);
        match (check(&dir, v), divergence) {
            (Ok(()), None) => pass += 1,
            (Err(_), Some(_)) => known += 1,
            (Err(why), None) => failures.push(format!("{id}: {why}")),
            (Ok(()), Some((_, reason))) => {
                successes.push(format!("{id} (listed as known divergence: {reason})"))
            }
        }
    }
    println!(
        "vectors on core: {pass} pass, {known} known divergence, {} unexpected failure, {} unexpected success ({skipped} not for core)",
        failures.len(),
        successes.len()
    );
    for f in &failures {
        println!("UNEXPECTED FAILURE {f}");
    }
    for s in &successes {
        println!("UNEXPECTED SUCCESS {s}");
    }
    assert!(
        failures.is_empty() && successes.is_empty(),
        "{} unexpected failures, {} unexpected successes",
        failures.len(),
        successes.len()
    );
    assert!(pass > 0, "no vector ran");
    let missing: Vec<&str> = Error::CODES
        .iter()
        .copied()
        .filter(|c| *c != "keys_fetch_failed" && !codes.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "no vector expects these codes: {missing:?}"
    );
}
