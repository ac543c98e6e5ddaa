//! The verification ceiling for scripts/bench-export.sh: how fast bare
//! `verify_strict` runs over the signatures of an export, on the same rayon
//! thread pool `kvitto verify` uses. Everything else (reading, parsing,
//! canonicalizing, base64, key lookup) happens before the clock starts.
//!
//! usage: cargo run --release -p kvitto-cli --example ceiling -- KEYS EXPORT

use std::time::Instant;

use ed25519_dalek::{Signature, VerifyingKey};
use kvitto_core::json::{self, Profile};
use kvitto_core::verify::signing_input;
use kvitto_core::{KeySet, b64, jcs};
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [keys, export] = args.as_slice() else {
        return Err("usage: ceiling KEYS EXPORT".into());
    };
    let keys = KeySet::from_bytes(&std::fs::read(keys)?, None)?;
    let input = std::fs::read(export)?;
    let records = kvitto_core::records(&input);
    let mut work: Vec<(VerifyingKey, Signature, Vec<u8>)> = Vec::with_capacity(records.len());
    for rec in &records {
        let value = json::parse(rec.bytes, Profile::Receipt)?;
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
    // For comparison: the core's whole verdict_in (parse, shape,
    // JCS, SHA-256, verify_strict) over the same receipts and threads.
    let start = Instant::now();
    let core_valid = records
        .par_iter()
        .filter(|r| kvitto_core::verdict_in(r.bytes, std::slice::from_ref(&keys)).is_ok())
        .count();
    let core_secs = start.elapsed().as_secs_f64();
    drop(records);
    drop(input);
    let start = Instant::now();
    let valid = work
        .par_iter()
        .filter(|(vk, sig, msg)| vk.verify_strict(msg, sig).is_ok())
        .count();
    let secs = start.elapsed().as_secs_f64();
    let n = work.len() as f64;
    println!(
        "{{\"receipts\":{},\"valid\":{valid},\"threads\":{},\"seconds\":{secs:.3},\"per_second\":{:.0},\"core_valid\":{core_valid},\"core_seconds\":{core_secs:.3},\"core_per_second\":{:.0}}}",
        work.len(),
        rayon::current_num_threads(),
        n / secs,
        n / core_secs
    );
    Ok(())
}
