//! kvitto-server's integration tests: the real binary on 127.0.0.1, driven
//! over HTTP, its receipts verified with kvitto-core.

// Helpers outside #[test] functions unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod common;
mod concurrency;
mod crash;
mod idempotency;
mod random_input;
mod roundtrip;
mod workspaces;
