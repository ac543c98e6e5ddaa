//! kvitto's verification report, defined once: the lines of
//! `kvitto verify --format json` (schema 1, docs/cli.md) as serde types,
//! built from kvitto-core's verdicts, and reused by every surface — the
//! CLI prints them, the Python package's `Report.to_dict()` and the
//! WebAssembly package's reports are them. Also what every native surface
//! needs to feed files into kvitto-core's framer: opening inputs (`.gz`
//! decompressed on the fly) and expanding directories.
//!
//! ```
//! use kvitto_core::{Framer, judge};
//! use kvitto_report::{Line, Session};
//! # use kvitto_core::{jcs, sign::*, KeySet, KeyStatus};
//! # let key = IssuerKey::from_seed("ws_demo.k1", &[7; 32]);
//! # let doc = jcs::to_vec(&key_document("ws_demo", vec![key.jwk(KeyStatus::Active, "2026-01-01T00:00:00Z", None)]));
//! # let keys = [KeySet::from_bytes(&doc, None)?];
//! let mut session = Session::new(true);
//! let source = session.source("export.jsonl");
//! let mut framer = Framer::new();
//! framer.push(b"{\"payload\":{\"authorization_id\":\"auth_1\"}}\n");
//! framer.finish();
//! while let Some(record) = framer.next() {
//!     let outcome = judge(&record.body, &keys);
//!     let line = session.receipt(source, &record, &outcome);
//!     assert_eq!(line.code.as_deref(), Some("bad_structure"));
//! }
//! let chains = session.finish_chains();
//! assert_eq!(chains[0].code.as_deref(), Some("chain_invalid_receipt"));
//! let summary = session.summary(true, Vec::new());
//! let json = serde_json::to_string(&Line::Summary(summary))?;
//! assert!(json.starts_with(r#"{"type":"summary","schema":1,"receipts":1,"valid":0,"invalid":1,"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod input;
mod lines;
mod pipeline;
mod session;
mod text;

pub use input::{CHUNK, Input, expand, is_export_name, open, open_path, read_records};
pub use lines::{
    ChainCounts, ChainLine, ErrorLine, KeyEntry, Line, ReceiptLine, SCHEMA, SummaryLine,
};
pub use pipeline::{BATCH, BATCH_BYTES, Item, Judged, Next, Pipeline, SharedKeys, judge_batch};
pub use session::{Session, chain_message};
pub use text::escape;
