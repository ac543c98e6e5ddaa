//! kvitto-server's integration tests: the real binary on 127.0.0.1, driven
//! over HTTP, its receipts verified with kvitto-core.

mod bad_input;
mod common;
mod concurrency;
mod crash;
mod idempotency;
mod roundtrip;
mod workspaces;
