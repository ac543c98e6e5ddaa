//! kvitto's verification core: everything a verifier needs to judge a
//! receipt, a key document or a chain, byte for byte as the contract
//! (`docs/format.md`) says, and nothing else: no clock, no files, no network.
//! The key set comes in as an argument.
//!
//! ```
//! use kvitto_core::{verify_receipt, KeySet};
//! # use kvitto_core::{jcs, sign::*, Kind, KeyStatus, Value};
//! # let key = IssuerKey::from_seed("ws_demo.k1", &[7; 32]);
//! # let doc = jcs::to_vec(&key_document("ws_demo", vec![key.jwk(KeyStatus::Active, "2026-01-01T00:00:00Z", None)]));
//! # let common = Common { receipt_id: "rcpt_1", workspace_id: "ws_demo", authorization_id: "auth_1", seq: 1,
//! #     prev: Some(kvitto_core::Hash([0; 32])), issued_at: "2026-11-22T01:15:00Z", kid: "ws_demo.k1" };
//! # let payload = payload(Kind::AuthorizationRevoked, &common, [("revoked_by", Value::from("user_1"))]);
//! # let receipt = key.sign_payload(&payload).json;
//! let keys = KeySet::from_bytes(&doc, None)?; // the key document's bytes
//! let verified = verify_receipt(receipt.as_bytes(), &keys)?;
//! println!("{} signed by {}", verified.receipt_hash, verified.key.kid);
//! # Ok::<(), kvitto_core::Error>(())
//! ```
//!
//! Every failure is an [`Error`] whose [`Error::code`] is the contract's
//! stable code; every surface (CLI, Python, WebAssembly) reports that code.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod b64;
pub mod chain;
mod error;
pub mod export;
pub mod instant;
pub mod jcs;
pub mod json;
pub mod keys;
pub mod pii;
pub mod receipt;
#[cfg(feature = "sign")]
pub mod sign;
#[cfg(test)]
mod testutil;
pub mod verify;

pub use chain::{ChainReport, ChainSet, Link, Place, verify_chain, verify_chain_records};
pub use error::Error;
pub use export::{
    Body, ExportReport, Framer, Outcome, Record, RecordReport, judge, records, verify_export,
};
pub use instant::Instant;
pub use jcs::canonicalize;
pub use json::{Profile, Value, parse};
pub use keys::{Hash, Key, KeySet, KeyStatus};
pub use receipt::{Header, Kind};
pub use verify::{Verdict, Verified, verdict_in, verify_many, verify_receipt, verify_receipt_in};
