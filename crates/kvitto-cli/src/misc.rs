//! `kvitto canon` and `kvitto inspect`.

use std::fs;
use std::io::{self, Read, Write};

use kvitto_core::json::{self, Profile, Value};
use kvitto_core::{Body, Error, Hash, KeySet, Outcome, jcs, judge};

use crate::cli::KeyArgs;
use crate::keys;
use crate::report::{eprint_error, escape};
use crate::{EXIT_INVALID, EXIT_KEYS, EXIT_OK, EXIT_USAGE};

/// Read a file, or standard input for `-`.
fn read_input(name: &str) -> io::Result<Vec<u8>> {
    if name == "-" {
        let mut buf = Vec::new();
        io::stdin().lock().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        fs::read(name)
    }
}

/// `kvitto canon`: the RFC 8785 canonical bytes of any JSON value.
pub(crate) fn canon(input: &str) -> io::Result<u8> {
    let bytes = match read_input(input) {
        Ok(b) => b,
        Err(e) => {
            eprint_error("io_error", &format!("{input}: {e}"));
            return Ok(EXIT_USAGE);
        }
    };
    match kvitto_core::canonicalize(&bytes) {
        Ok(canonical) => {
            let mut out = io::stdout().lock();
            out.write_all(&canonical)?;
            out.flush()?;
            Ok(EXIT_OK)
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "{}: {}", e.code(), escape(&e.to_string()));
            Ok(EXIT_INVALID)
        }
    }
}

fn show_value(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".to_string(),
        Some(Value::String(s)) => escape(s).into_owned(),
        Some(Value::Null) => "null".to_string(),
        Some(other) => escape(&String::from_utf8_lossy(&jcs::to_vec(other))).into_owned(),
    }
}

/// The records of `file` as `verify` reads them (`.gz` decompressed,
/// framed by the core), stopping at the second: inspect shows one.
fn read_records(file: &str) -> io::Result<Vec<kvitto_core::Record>> {
    let path = (file != "-").then(|| std::path::PathBuf::from(file));
    if path.as_ref().is_some_and(|p| p.is_dir()) {
        return Err(io::Error::other(
            "is a directory; inspect shows one receipt",
        ));
    }
    let input = kvitto_report::Input {
        name: file.to_owned(),
        path,
        error: None,
    };
    let mut reader = kvitto_report::open(&input)?;
    let mut records = Vec::new();
    kvitto_report::read_records(
        &mut *reader,
        &|| false,
        &mut |r| {
            records.push(r);
            records.len() < 2
        },
        &mut |_| {},
    )?;
    Ok(records)
}

/// `kvitto inspect`: one receipt for people; with --keys, verified too.
pub(crate) fn inspect(file: &str, key_args: &KeyArgs) -> io::Result<u8> {
    let records = match read_records(file) {
        Ok(records) => records,
        Err(e) => {
            eprint_error("io_error", &format!("{file}: {e}"));
            return Ok(EXIT_USAGE);
        }
    };
    if key_args.pins.len() > key_args.keys.len() {
        let _ = writeln!(io::stderr(), "kvitto: error: more --pin than --keys");
        return Ok(EXIT_USAGE);
    }
    let mut keysets: Vec<KeySet> = Vec::new();
    let mut docs = Vec::new();
    for (i, source) in key_args.keys.iter().enumerate() {
        let pin = match key_args.pins.get(i).map(|p| keys::parse_pin(p)).transpose() {
            Ok(pin) => pin,
            Err(msg) => {
                let _ = writeln!(io::stderr(), "kvitto: error: {msg}");
                return Ok(EXIT_USAGE);
            }
        };
        match keys::load(source, &key_args.fetch, pin) {
            Ok(doc) => {
                let ws = doc.loaded.keys.workspace_id();
                if let Some(first) = docs
                    .iter()
                    .find(|d: &&keys::Doc| d.loaded.keys.workspace_id() == ws)
                {
                    let _ = writeln!(
                        io::stderr(),
                        "kvitto: error: --keys {} and --keys {} are both for workspace {}: give one key document per workspace",
                        escape(&first.source),
                        escape(source),
                        escape(ws)
                    );
                    return Ok(EXIT_USAGE);
                }
                keysets.push(doc.loaded.keys.clone());
                docs.push(doc);
            }
            Err(e) => {
                eprint_error(e.code(), &format!("{source}: {e}"));
                return Ok(EXIT_KEYS);
            }
        }
    }

    // Framed exactly as `verify` frames it (section 9), and judged by the
    // same function: one receipt.
    let record = match records.as_slice() {
        [one] => one,
        [] => {
            eprint_error("no_receipts", &format!("{file}: no receipt in the input"));
            return Ok(EXIT_USAGE);
        }
        _ => {
            eprint_error(
                "io_error",
                &format!(
                    "{file} holds more than one receipt; inspect shows one (use kvitto verify for exports)"
                ),
            );
            return Ok(EXIT_USAGE);
        }
    };
    let mut out = io::stdout().lock();
    let shown = |e: &Error| format!("{}: {}", e.code(), escape(&e.to_string()));
    let parsed = match &record.body {
        Body::Text(text) => json::parse(text, Profile::Receipt),
        other => Err(judge(other, &[])
            .error()
            .cloned()
            .unwrap_or(Error::TooLarge {
                size: 0,
                limit: json::MAX_SIZE,
            })),
    };
    let payload = parsed.as_ref().ok().and_then(|v| v.get("payload"));
    let field = |name: &str| show_value(payload.and_then(|p| p.get(name)));
    if let Some(p) = payload {
        for name in [
            "kind",
            "decision",
            "scope",
            "reason",
            "issued_at",
            "kid",
            "seq",
            "prev",
            "receipt_id",
            "authorization_id",
            "workspace_id",
        ] {
            if p.get(name).is_some()
                || matches!(name, "kind" | "issued_at" | "kid" | "seq" | "prev")
            {
                writeln!(out, "{name:<17}{}", field(name))?;
            }
        }
        writeln!(
            out,
            "{:<17}{} (SHA-256 of JCS(payload), computed)",
            "receipt hash",
            Hash::of(&jcs::to_vec(p))
        )?;
    }
    let strict = match &parsed {
        Ok(_) => "yes".to_string(),
        Err(e) => format!("no: {}", shown(e)),
    };
    writeln!(out, "{:<17}{strict}", "parses strictly")?;
    // With no key document, a receipt that passes steps 1-3 of the order of
    // checks fails on step 4 (workspace_mismatch): that is "well-formed".
    let shape = match judge(&record.body, &[]) {
        Outcome::Invalid {
            error: Error::WorkspaceMismatch { .. },
            ..
        }
        | Outcome::Valid(_) => Ok(()),
        Outcome::Invalid { error, .. } => Err(error),
    };
    match &shape {
        Ok(()) => writeln!(out, "{:<17}ok", "structure")?,
        Err(e) => writeln!(out, "{:<17}{}", "structure", shown(e))?,
    }
    let ok = if keysets.is_empty() {
        writeln!(
            out,
            "{:<17}not checked (no --keys): validity unknown",
            "signature"
        )?;
        shape.is_ok()
    } else {
        match judge(&record.body, &keysets) {
            Outcome::Valid(v) => {
                let doc = keysets
                    .iter()
                    .find(|k| k.workspace_id() == v.header.workspace_id)
                    .map(|k| k.sha256().to_string())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<17}valid (key {}, key document {doc})",
                    "verdict",
                    escape(&v.header.kid)
                )?;
                true
            }
            Outcome::Invalid { error, .. } => {
                writeln!(out, "{:<17}invalid: {}", "verdict", shown(&error))?;
                false
            }
        }
    };
    for doc in &docs {
        writeln!(
            out,
            "{:<17}{} {} ({}, {})",
            "keys",
            escape(doc.loaded.keys.workspace_id()),
            doc.loaded.sha256,
            escape(&doc.source),
            if doc.loaded.pinned {
                "pinned"
            } else {
                "not pinned"
            }
        )?;
    }
    out.flush()?;
    Ok(if ok { EXIT_OK } else { EXIT_INVALID })
}
