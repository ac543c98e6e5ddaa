//! The verification ceiling for scripts/bench-export.sh: how fast bare
//! `verify_strict` runs over the signatures of an export on plain threads
//! (one per core, each over a contiguous share), with every signing input
//! precomputed: reading, framing, parsing, canonicalizing, base64 and the
//! key lookup all happen before the clock starts. No thread pool, no
//! queue: nothing a real verifier could do is cheaper.
//!
//! usage: cargo run --release -p kvitto-cli --example ceiling -- KEYS EXPORT

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
    let [keys, export] = args.as_slice() else {
        return Err("usage: ceiling KEYS EXPORT".into());
    };
    let keys = KeySet::from_bytes(&std::fs::read(keys)?, None)?;
    let input = std::fs::read(export)?;
    let texts: Vec<Vec<u8>> = kvitto_core::records(&input)
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
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // For comparison: the core's whole verdict (parse, shape, JCS,
    // SHA-256, verify_strict) over the same receipts and threads.
    let keysets = std::slice::from_ref(&keys);
    let (core_valid, core_secs) = timed(&texts, threads, |t| {
        kvitto_core::verdict_in(t, keysets).is_ok()
    });
    drop(texts);
    let (valid, secs) = timed(&work, threads, |(vk, sig, msg)| {
        vk.verify_strict(msg, sig).is_ok()
    });
    let n = work.len() as f64;
    println!(
        "{{\"receipts\":{},\"valid\":{valid},\"threads\":{threads},\"seconds\":{secs:.3},\"per_second\":{:.0},\"core_valid\":{core_valid},\"core_seconds\":{core_secs:.3},\"core_per_second\":{:.0}}}",
        work.len(),
        n / secs,
        n / core_secs
    );
    Ok(())
}
