//! kvitto's WebAssembly package: kvitto-core's verification and
//! kvitto-report's report schema for browsers and Node, through
//! wasm-bindgen. Conversion and error mapping only: every verdict, error
//! code, framing decision, lenient id and chain result is kvitto-core's,
//! and every report line is one of kvitto-report's serde types.
//!
//! The JavaScript API (`bindings/wasm/js/index.js`, documented in
//! `bindings/wasm/README.md`) wraps these exports; the verification page
//! (`web/`) drives [`ExportRun`] in a coordinating worker and
//! [`verify_batch`] in its verify workers.

mod api;
mod error;
mod run;
#[cfg(test)]
mod testkit;
mod transfer;

pub use api::{
    ExportRun, KeyList, KeySet, canonicalize, error_codes, escape_text, fetch_error,
    inspect_receipt, verify_batch, verify_chain, verify_receipt,
};
