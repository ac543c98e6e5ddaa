//! The verification ceiling for scripts/bench-export.sh: how fast bare
//! `verify_strict` runs over the signatures of an export on plain threads
//! (one per core, each over a contiguous share), with every signing input
//! precomputed: reading, framing, parsing, canonicalizing, base64 and the
//! key lookup all happen before the clock starts. No thread pool, no
//! queue: nothing a real verifier could do is cheaper.
//!
//! With `--breakdown`, it also prints where a receipt's time goes on one
//! thread: framing, parsing, the shape checks, JCS (which the verifier
//! skips for a payload whose text is already canonical), SHA-256, base64,
//! the signature, and the core's whole verdict.
//!
//! usage: cargo run --release -p kvitto-cli --example ceiling -- KEYS EXPORT [--breakdown]

use std::time::Instant;

use ed25519_dalek::{Signature, VerifyingKey};
use kvitto_core::json::{self, Profile};
use kvitto_core::verify::signing_input;
use kvitto_core::{Body, KeySet, b64, jcs};

/// Run `f` over `items` on `threads` plain threads, one contiguous share
/// each; returns how many it accepted and the seconds it took.
fn timed<T: Sync>(items: &[T], threads: usize, f: impl Fn(&T) -> bool + Sync) -> (usize, f64) {
    let share = items.len().div_ceil(threads.max(1)).max(1);
    let start = Instant::now();
    let ok = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(share)
            .map(|chunk| s.spawn(|| chunk.iter().filter(|x| f(x)).count()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .sum::<usize>()
    });
    (ok, start.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (keys, export, breakdown) = match args.as_slice() {
        [keys, export] => (keys, export, false),
        [keys, export, flag] if flag == "--breakdown" => (keys, export, true),
        _ => return Err("usage: ceiling KEYS EXPORT [--breakdown]".into()),
    };
    let keys = KeySet::from_bytes(&std::fs::read(keys)?, None)?;
    let input = std::fs::read(export)?;
    let framing = Instant::now();
    let records = kvitto_core::records(&input);
    let framing = framing.elapsed().as_secs_f64();
    let texts: Vec<Vec<u8>> = records
        .into_iter()
        .filter_map(|r| match r.body {
            Body::Text(t) => Some(t),
            _ => None,
        })
        .collect();
    drop(input);
    let mut work: Vec<(VerifyingKey, Signature, Vec<u8>)> = Vec::with_capacity(texts.len());
    for text in &texts {
        let value = json::parse(text, Profile::Receipt)?;
        let payload = value.get("payload").ok_or("no payload")?;
        let sig = value.get("sig").and_then(|s| s.as_str()).ok_or("no sig")?;
        let kid = payload
            .get("kid")
            .and_then(|k| k.as_str())
            .ok_or("no kid")?;
        let key = keys.key(kid).ok_or("unknown kid")?;
        let vk = VerifyingKey::from_bytes(&key.public_key())?;
        let sig = Signature::from_bytes(&b64::decode::<64>(sig).map_err(|e| e.reason())?);
        work.push((vk, sig, signing_input(&jcs::to_vec(payload))));
    }
    if breakdown {
        print_breakdown(&texts, &work, &keys, framing);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // For comparison: the core's whole verdict (parse, shape, JCS,
    // SHA-256, verify_strict) over the same receipts and threads.
    let keysets = std::slice::from_ref(&keys);
    // ROUNDS=N alternates the two N times (each line on stderr) and keeps
    // the best of each: a busy moment of a shared machine hits both alike.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let (mut core_valid, mut core_secs, mut valid, mut secs) = (0, f64::MAX, 0, f64::MAX);
    for round in 1..=rounds {
        let (v, s) = timed(&texts, threads, |t| {
            kvitto_core::verdict_in(t, keysets).is_ok()
        });
        (core_valid, core_secs) = (v, core_secs.min(s));
        let (v, c) = timed(&work, threads, |(vk, sig, msg)| {
            vk.verify_strict(msg, sig).is_ok()
        });
        (valid, secs) = (v, secs.min(c));
        if rounds > 1 {
            let n = work.len() as f64;
            eprintln!(
                "round {round}: core {:.0}/s, ceiling {:.0}/s, core / ceiling {:.1}%",
                n / s,
                n / c,
                100.0 * c / s
            );
        }
    }
    drop(texts);
    let n = work.len() as f64;
    println!(
        "{{\"receipts\":{},\"valid\":{valid},\"threads\":{threads},\"seconds\":{secs:.3},\"per_second\":{:.0},\"core_valid\":{core_valid},\"core_seconds\":{core_secs:.3},\"core_per_second\":{:.0}}}",
        work.len(),
        n / secs,
        n / core_secs
    );
    Ok(())
}

/// Microseconds per receipt of each stage, on this thread alone.
fn print_breakdown(
    texts: &[Vec<u8>],
    work: &[(VerifyingKey, Signature, Vec<u8>)],
    keys: &KeySet,
    framing: f64,
) {
    let n = texts.len() as f64;
    let per = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1e6 / n
    };
    let mut sink = 0usize;
    // What the verifier parses with: strings borrowed, canonical payloads found.
    let mut canonical = 0usize;
    let parse = per(&mut || {
        for t in texts {
            canonical += json::parse_receipt(t).is_ok_and(|(_, span)| span.is_some()) as usize;
        }
    });
    // With no key document a well-formed receipt stops at step 4: this
    // is parsing and the shape checks (steps 1 to 3).
    let shape = per(&mut || {
        for t in texts {
            sink += kvitto_core::verify_receipt_in(t, &[]).is_ok() as usize;
        }
    });
    let payloads: Vec<kvitto_core::Value> = texts
        .iter()
        .filter_map(|t| json::parse(t, Profile::Receipt).ok())
        .filter_map(|v| v.get("payload").cloned())
        .collect();
    let mut canon: Vec<Vec<u8>> = Vec::with_capacity(payloads.len());
    let jcs_us = per(&mut || {
        canon = payloads.iter().map(jcs::to_vec).collect();
    });
    let sha = per(&mut || {
        for c in &canon {
            sink += kvitto_core::Hash::of(c).0[0] as usize;
        }
    });
    let sigs: Vec<String> = texts
        .iter()
        .filter_map(|t| json::parse(t, Profile::Receipt).ok())
        .filter_map(|v| v.get("sig").and_then(|s| s.as_str()).map(str::to_owned))
        .collect();
    let base64 = per(&mut || {
        for s in &sigs {
            sink += b64::decode::<64>(s).is_ok() as usize;
        }
    });
    let strict = per(&mut || {
        for (vk, sig, msg) in work {
            sink += vk.verify_strict(msg, sig).is_ok() as usize;
        }
    });
    let sets = std::slice::from_ref(keys);
    let whole = per(&mut || {
        for t in texts {
            sink += kvitto_core::verdict_in(t, sets).is_ok() as usize;
        }
    });
    // The same signature checks with the parsing interleaved: what the
    // rest of the work costs the curve arithmetic in cache misses.
    let interleaved = per(&mut || {
        for (t, (vk, sig, msg)) in texts.iter().zip(work) {
            sink += json::parse_receipt(t).is_ok() as usize;
            sink += vk.verify_strict(msg, sig).is_ok() as usize;
        }
    });
    let drop_tree = per(&mut || {
        for t in texts {
            drop(json::parse_receipt(t));
        }
    }) - parse;
    eprintln!(
        "breakdown (us per receipt, one thread): framing {:.2}, parse {parse:.2}, parse+shape {shape:.2}, \
         JCS {jcs_us:.2}, SHA-256 {sha:.2}, base64 {base64:.2}, verify_strict {strict:.2}; \
         whole verdict {whole:.2} = verify_strict + {:.2} ({:.1}% over); parse and verify_strict interleaved {interleaved:.2} \
         (parse + verify_strict alone {:.2}); {canonical} of {} payloads canonical as written (JCS skipped); \
         (noise {drop_tree:+.2}, sink {sink})",
        framing * 1e6 / n,
        whole - strict,
        100.0 * (whole - strict) / strict,
        parse + strict,
        texts.len(),
    );
}
