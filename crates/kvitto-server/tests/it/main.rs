//! kvitto-server's integration tests: the real binary on 127.0.0.1, driven
//! over HTTP, its receipts verified with kvitto-core. Every test runs on
//! both storage backends (`MODULE::sqlite::NAME`, `MODULE::postgres::NAME`,
//! the latter on a real PostgreSQL, see tests/support/pgcluster.rs); the
//! tests of several instances on one database, of faults and of the
//! key-encryption key run on PostgreSQL only (`instances`, `faults`, `kek`).

// Helpers outside #[test] functions unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

/// Each named test function (taking a `Backend`) runs once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::common::Backend::Sqlite)
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if crate::common::postgres(concat!(module_path!(), "::", stringify!($name))) {
                        super::$name(crate::common::Backend::Postgres)
                    }
                }
            )*
        }
    };
}

#[path = "../support/pgcluster.rs"]
mod pgcluster;

mod bad_input;
mod common;
mod concurrency;
mod crash;
mod faults;
mod idempotency;
mod instances;
mod kek;
mod random_input;
mod roundtrip;
mod web;
mod workspaces;
