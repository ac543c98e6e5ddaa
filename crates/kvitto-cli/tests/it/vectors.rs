//! Every vector of test-vectors/manifest.json whose surfaces include "cli",
//! run through the binary and sorted into pass / known divergence /
//! unexpected failure / unexpected success (the last two fail the test).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Run, Scratch, s};

/// Vectors the CLI is known to disagree with, and why. Empty: none known.
const KNOWN_DIVERGENCES: &[(&str, &str)] = &[];

const KEY_CODES: [&str; 4] = [
    "keys_invalid",
    "pin_mismatch",
    "keys_fetch_failed",
    "too_large",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors")
}

fn str_of<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    v[name]
        .as_str()
        .ok_or_else(|| format!("vector has no string {name:?}"))
}

fn key_args(v: &Value, dir: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for k in v["keys"].as_array().into_iter().flatten() {
        if let Some(p) = k.as_str() {
            args.push("--keys".into());
            args.push(dir.join(p).display().to_string());
        }
    }
    if let Some(pin) = v["pin"].as_str() {
        args.push("--pin".into());
        args.push(pin.into());
    }
    args
}

fn run(t: &Scratch, args: &[String]) -> Run {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    t.run(&refs, None)
}

fn expect_code(r: &Run, want: i32) -> Result<(), String> {
    if r.code == want {
        Ok(())
    } else {
        Err(format!(
            "exit {} (want {want}); stdout {:?} stderr {:?}",
            r.code, r.stdout, r.stderr
        ))
    }
}

fn check_receipt(t: &Scratch, v: &Value, dir: &Path) -> Result<(), String> {
    let input = dir.join(str_of(v, "input")?);
    let mut args: Vec<String> = vec!["verify".into(), "--format".into(), "json".into()];
    args.extend(key_args(v, dir));
    args.push(input.display().to_string());
    let r = run(t, &args);
    let expect = &v["expect"];
    if expect["ok"] == true {
        expect_code(&r, 0)?;
        let rec = r
            .of_type("receipt")
            .into_iter()
            .next()
            .ok_or("no receipt line")?;
        if !expect["receipt_hash"].is_null() && rec["receipt_hash"] != expect["receipt_hash"] {
            return Err(format!(
                "receipt_hash {} (want {})",
                rec["receipt_hash"], expect["receipt_hash"]
            ));
        }
        return Ok(());
    }
    let code = str_of(expect, "code")?;
    let json = r.json();
    let got = json
        .iter()
        .find(|l| l["type"] == "error" || (l["type"] == "receipt" && l["ok"] == false))
        .map(|l| l["code"].clone());
    if got.as_ref().and_then(Value::as_str) != Some(code) {
        return Err(format!("code {got:?} (want {code}); stdout {:?}", r.stdout));
    }
    let is_keys_error = json.iter().any(|l| l["type"] == "error") && KEY_CODES.contains(&code);
    expect_code(&r, if is_keys_error { 3 } else { 1 })
}

fn check_keys(t: &Scratch, v: &Value, dir: &Path) -> Result<(), String> {
    let input = dir.join(str_of(v, "input")?).display().to_string();
    let mut args: Vec<String> = vec!["keys".into(), "show".into(), input];
    if let Some(pin) = v["pin"].as_str() {
        args.extend(["--pin".into(), pin.into()]);
    }
    let r = run(t, &args);
    let expect = &v["expect"];
    if expect["ok"] == true {
        expect_code(&r, 0)?;
        let ws = format!("workspace  {}", str_of(expect, "workspace_id")?);
        if !r.stdout.contains(&ws) {
            return Err(format!("no {ws:?} in {:?}", r.stdout));
        }
        if let Some(sha) = expect["sha256"].as_str()
            && !r.stdout.contains(sha)
        {
            return Err(format!("no {sha} in {:?}", r.stdout));
        }
        for kid in expect["kids"].as_array().into_iter().flatten() {
            let kid = kid.as_str().unwrap_or_default();
            if !r
                .stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(kid))
            {
                return Err(format!("no row for kid {kid:?} in {:?}", r.stdout));
            }
        }
        return Ok(());
    }
    let code = str_of(expect, "code")?;
    expect_code(&r, 3)?;
    if !r.stderr.contains(&format!("error: {code}: ")) {
        return Err(format!("no {code} in {:?}", r.stderr));
    }
    Ok(())
}

fn check_export(t: &Scratch, v: &Value, dir: &Path) -> Result<(), String> {
    let input = dir.join(str_of(v, "input")?);
    let chains = v["chains"] == true || v["type"] == "chain";
    let mut args: Vec<String> = vec!["verify".into(), "--format".into(), "json".into()];
    if chains {
        args.push("--chains".into());
    }
    args.extend(key_args(v, dir));
    args.push(input.display().to_string());
    let r = run(t, &args);
    let expect = &v["expect"];
    let mut want_exit = 0;
    if let Some(records) = expect["records"].as_array() {
        let got = r.of_type("receipt");
        if got.len() != records.len() {
            return Err(format!(
                "{} receipts (want {}): {:?}",
                got.len(),
                records.len(),
                r.stdout
            ));
        }
        for (g, w) in got.iter().zip(records) {
            for field in ["line", "index", "code"] {
                if w.get(field).is_some() && g[field] != w[field] {
                    return Err(format!(
                        "receipt {field} {} (want {}) in {g}",
                        g[field], w[field]
                    ));
                }
            }
            if !w["code"].is_null() {
                want_exit = 1;
            }
        }
    }
    if let Some(want) = expect["chains"].as_array() {
        let got = r.of_type("chain");
        if got.len() != want.len() {
            return Err(format!(
                "{} chains (want {}): {:?}",
                got.len(),
                want.len(),
                r.stdout
            ));
        }
        for (g, w) in got.iter().zip(want) {
            for field in [
                "authorization_id",
                "code",
                "closed",
                "head_seq",
                "head_hash",
                "receipts",
                "duplicates",
            ] {
                if w.get(field).is_some() && g[field] != w[field] {
                    return Err(format!(
                        "chain {field} {} (want {}) in {g}",
                        g[field], w[field]
                    ));
                }
            }
            if !w["code"].is_null() {
                want_exit = 1;
            }
        }
    } else if let Some(code) = expect.get("code") {
        // A single chain's verdict.
        let got = r
            .of_type("chain")
            .into_iter()
            .next()
            .ok_or("no chain line")?;
        if got["code"] != *code {
            return Err(format!("chain code {} (want {code})", got["code"]));
        }
        if !code.is_null() {
            want_exit = 1;
        }
    }
    if r.summary()["receipts"] == 0 {
        want_exit = 2;
    }
    expect_code(&r, want_exit)
}

fn check_canon(t: &Scratch, v: &Value, dir: &Path) -> Result<(), String> {
    let input = dir.join(str_of(v, "input")?).display().to_string();
    let out = t
        .cmd()
        .args(["canon", &input])
        .output()
        .map_err(|e| e.to_string())?;
    let expect = &v["expect"];
    let output = v["output"].as_str().or_else(|| expect["output"].as_str());
    if let Some(path) = output {
        let want = std::fs::read(dir.join(path)).map_err(|e| format!("{path}: {e}"))?;
        if out.status.code() != Some(0) || out.stdout != want {
            return Err(format!(
                "exit {:?}, {:?} (want {:?}); stderr {:?}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        return Ok(());
    }
    let code = str_of(expect, "code")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(1) || !stderr.starts_with(&format!("{code}: ")) {
        return Err(format!(
            "exit {:?}, stderr {stderr:?} (want {code})",
            out.status.code()
        ));
    }
    Ok(())
}

#[test]
fn manifest_vectors() {
    let dir = root();
    let manifest = match std::fs::read(dir.join("manifest.json")) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("skipping: test-vectors/manifest.json not readable ({e})");
            return;
        }
    };
    let manifest: Value = serde_json::from_slice(&manifest).expect("manifest is JSON");
    assert_eq!(manifest["schema"], 1, "manifest schema");
    let t = Scratch::new();
    let (mut pass, mut known, mut failures, mut surprises) = (0, 0, Vec::new(), Vec::new());
    for v in manifest["vectors"].as_array().expect("vectors") {
        let on_cli = v["surfaces"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "cli"));
        if !on_cli {
            continue;
        }
        let id = v["id"].as_str().unwrap_or("?");
        let result = match v["type"].as_str() {
            Some("receipt") => check_receipt(&t, v, &dir),
            Some("keys") => check_keys(&t, v, &dir),
            Some("export" | "chain") => check_export(&t, v, &dir),
            Some("canon") => check_canon(&t, v, &dir),
            other => Err(format!("unknown vector type {other:?}")),
        };
        let divergence = KNOWN_DIVERGENCES.iter().find(|(k, _)| *k == id);
        match (result, divergence) {
            (Ok(()), None) => pass += 1,
            (Ok(()), Some(_)) => surprises.push(id.to_string()),
            (Err(_), Some((_, reason))) => {
                known += 1;
                eprintln!("known divergence {id}: {reason}");
            }
            (Err(e), None) => failures.push(format!("{id}: {e}")),
        }
    }
    eprintln!(
        "cli vectors: {pass} pass, {known} known divergence, {} unexpected failure, {} unexpected success",
        failures.len(),
        surprises.len()
    );
    assert!(
        failures.is_empty(),
        "unexpected failures:\n{}",
        failures.join("\n")
    );
    assert!(
        surprises.is_empty(),
        "unexpected successes (remove from KNOWN_DIVERGENCES): {surprises:?}"
    );
    assert!(pass + known > 0, "the manifest lists no cli vector");
}

#[test]
fn sample_files_verify() {
    let dir = root().join("sample");
    let (keys, export, tampered) = (
        dir.join("keys.json"),
        dir.join("export.jsonl"),
        dir.join("export-tampered.jsonl"),
    );
    if !keys.exists() || !export.exists() {
        eprintln!("skipping: test-vectors/sample/ not there yet");
        return;
    }
    let t = Scratch::new();
    let r = t.run(
        &["verify", "--keys", s(&keys), "--chains", s(&export)],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    if tampered.exists() {
        let r = t.run(
            &["verify", "--keys", s(&keys), "--chains", s(&tampered)],
            None,
        );
        assert_eq!(r.code, 1, "{r:?}");
    }
}
