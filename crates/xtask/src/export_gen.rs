//! `cargo xtask gen-export`: a large synthetic export for benchmarks —
//! valid, realistic receipts (chains of ~50, mostly `check`), signed from a
//! fixed seed, written as JSON Lines without holding them in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use kvitto_core::sign::{Common, IssuerKey, Signed, key_document, object, payload, receipt_hash};
use kvitto_core::{Hash, KeyStatus, Kind, Value, jcs};
use rayon::prelude::*;

const USAGE: &str =
    "usage: cargo xtask gen-export --lines N --out FILE [--authorizations M] [--keys-out FILE]

Writes N receipts as JSON Lines to FILE: M authorizations (default N/50, so
chains of ~50), interleaved 64 at a time, every fourth chain closed by
authorization.revoked. The key document goes to --keys-out (default
FILE.keys.json). Output is the same for the same arguments.";

const WORKSPACE: &str = "ws_bench";
const KID: &str = "ws_bench.2026-01-01";
const SEED: [u8; 32] = [0x6b; 32];
/// Chains written side by side (round robin), as a busy issuer would.
const WINDOW: usize = 64;
/// 2026-11-01T00:00:00Z.
const START_SECS: i64 = 1_793_491_200;

struct Args {
    lines: u64,
    out: PathBuf,
    authorizations: Option<u64>,
    keys_out: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> anyhow::Result<Args> {
    let mut lines = None;
    let mut out = None;
    let mut authorizations = None;
    let mut keys_out = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))?;
        match flag.as_str() {
            "--lines" => lines = Some(value.parse::<u64>().context("--lines")?),
            "--out" => out = Some(PathBuf::from(value)),
            "--authorizations" => {
                authorizations = Some(value.parse::<u64>().context("--authorizations")?)
            }
            "--keys-out" => keys_out = Some(PathBuf::from(value)),
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    let (Some(lines), Some(out)) = (lines, out) else {
        bail!("--lines and --out are required\n\n{USAGE}");
    };
    Ok(Args {
        lines,
        out,
        authorizations,
        keys_out,
    })
}

/// The RFC 3339 instant `millis` milliseconds after the epoch (the core's
/// canonical form: trailing zeros of the fraction dropped).
fn instant(millis: i64) -> String {
    let nanos = (millis.rem_euclid(1000) * 1_000_000) as u32;
    kvitto_core::Instant::from_unix(millis.div_euclid(1000), nanos)
        .map(|t| t.to_string())
        .unwrap_or_else(|| String::from("1970-01-01T00:00:00Z"))
}

/// One chain being written.
struct Chain {
    number: u64,
    len: u64,
    next_seq: u64,
    prev: Option<Hash>,
    closed: bool,
}

const TOOLS: [&str; 6] = [
    "github.create_issue",
    "github.merge_pull_request",
    "slack.post_message",
    "gmail.send",
    "stripe.refund",
    "calendar.create_event",
];

fn build_payload(chain: &Chain, seq: u64, line: u64) -> Value {
    let receipt_id = format!("rcpt_{line:012}");
    let authorization_id = format!("auth_{:08}", chain.number);
    let issued_at = instant(START_SECS * 1000 + i64::try_from(line).unwrap_or(i64::MAX) * 7);
    let common = Common {
        receipt_id: &receipt_id,
        workspace_id: WORKSPACE,
        authorization_id: &authorization_id,
        seq,
        prev: chain.prev,
        issued_at: &issued_at,
        kid: KID,
    };
    let tool = TOOLS[usize::try_from((chain.number + seq) % 6).unwrap_or(0)];
    if seq == 0 {
        let scopes: Vec<Value> = TOOLS[..3]
            .iter()
            .map(|t| {
                object([
                    ("name", Value::from(format!("tool:{t}"))),
                    (
                        "constraints",
                        object([("max_per_hour", Value::from(120u64))]),
                    ),
                ])
            })
            .collect();
        return payload(
            Kind::AuthorizationCreated,
            &common,
            [
                (
                    "user_id",
                    Value::from(format!("user_{:05}", chain.number % 977)),
                ),
                ("agent_id", Value::from("agent_support_bot")),
                ("scopes", Value::Array(scopes)),
                (
                    "requires_confirm_for",
                    Value::from(vec!["tool:stripe.refund"]),
                ),
                ("requires_escalation_for", Value::Array(Vec::new())),
                ("escalation_targets", object([])),
                ("expires_at", Value::Null),
                ("budget_limit_micros", Value::from(50_000_000u64)),
                (
                    "metadata",
                    object([("ticket", Value::from(format!("SUP-{}", chain.number)))]),
                ),
            ],
        );
    }
    if chain.closed && seq + 1 == chain.len {
        return payload(
            Kind::AuthorizationRevoked,
            &common,
            [(
                "revoked_by",
                Value::from(format!("user_{:05}", chain.number % 977)),
            )],
        );
    }
    let allow = !line.is_multiple_of(10);
    let spent = (seq - 1) * 1500;
    payload(
        Kind::Check,
        &common,
        [
            ("scope", Value::from(format!("tool:{tool}"))),
            (
                "decision",
                Value::from(if allow { "allow" } else { "deny" }),
            ),
            (
                "reason",
                Value::from(if allow { "ok" } else { "scope_not_authorized" }),
            ),
            (
                "resource",
                Value::from(format!("repo:acme/widgets#{}", line % 5000)),
            ),
            (
                "session_id",
                Value::from(format!("sess_{:010}", chain.number * 7 + seq / 10)),
            ),
            ("context", object([("ip", Value::from("203.0.113.42"))])),
            ("estimated_cost_micros", Value::from(1500u64)),
            (
                "budget",
                if line.is_multiple_of(4) {
                    object([
                        ("limit_micros", Value::from(50_000_000u64)),
                        ("spent_before_micros", Value::from(spent)),
                        (
                            "spent_after_micros",
                            Value::from(spent + if allow { 1500 } else { 0 }),
                        ),
                    ])
                } else {
                    Value::Null
                },
            ),
            ("confirm_nonce", Value::Null),
            ("escalation_id", Value::Null),
            ("escalation_to", Value::Null),
        ],
    )
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let args = parse_args(args)?;
    let key = IssuerKey::from_seed(KID, &SEED);
    let doc = key_document(
        WORKSPACE,
        vec![key.jwk(KeyStatus::Active, "2026-01-01T00:00:00Z", None)],
    );
    let keys_out = args.keys_out.clone().unwrap_or_else(|| {
        let mut p = args.out.clone().into_os_string();
        p.push(".keys.json");
        PathBuf::from(p)
    });
    std::fs::write(&keys_out, jcs::to_vec(&doc))
        .with_context(|| format!("{}", keys_out.display()))?;

    let auths = args
        .authorizations
        .unwrap_or_else(|| args.lines.div_ceil(50))
        .clamp(1, args.lines.max(1));
    let file = File::create(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let (base, extra) = (args.lines / auths, args.lines % auths);
    let mut line: u64 = 0;
    let mut first = 0u64;
    while first < auths {
        // One window of chains, interleaved round robin.
        let mut window: Vec<Chain> = (first..(first + WINDOW as u64).min(auths))
            .map(|number| Chain {
                number,
                len: base + u64::from(number < extra),
                next_seq: 0,
                prev: None,
                closed: number % 4 == 3, // every fourth chain is closed
            })
            .filter(|c| c.len > 0)
            .collect();
        first += WINDOW as u64;
        let mut payloads: Vec<Value> = Vec::new();
        while !window.is_empty() {
            for chain in &mut window {
                let value = build_payload(chain, chain.next_seq, line);
                chain.prev = Some(receipt_hash(&value));
                chain.next_seq += 1;
                line += 1;
                payloads.push(value);
            }
            window.retain(|c| c.next_seq < c.len);
            if payloads.len() >= 8192 {
                write_signed(&mut out, &key, &std::mem::take(&mut payloads))?;
            }
        }
        write_signed(&mut out, &key, &payloads)?;
    }
    out.flush()?;
    eprintln!(
        "wrote {line} receipts of {auths} authorizations to {} (keys: {})",
        args.out.display(),
        keys_out.display()
    );
    Ok(())
}

fn write_signed(out: &mut impl Write, key: &IssuerKey, payloads: &[Value]) -> anyhow::Result<()> {
    let signed: Vec<Signed> = payloads.par_iter().map(|p| key.sign_payload(p)).collect();
    for s in signed {
        out.write_all(s.json.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
