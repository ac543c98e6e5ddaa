//! kvitto's issuing server: authorizations, checks and their durable, signed
//! receipts, served over HTTP (axum) from an embedded SQLite store, or from
//! PostgreSQL shared by several server instances.
//!
//! The layers, each in its own module (see docs/server.md):
//!
//! - [`decide`]: the pure decision rules: an authorization's state, a
//!   request and the instant in, decisions and state changes out.
//! - [`service`]: the units of work that compose `decide`, the receipt
//!   chain (payloads built and checked with `kvitto_core::sign`) and the store.
//! - [`store`]: the storage trait, whose unit is one transaction, and its
//!   SQLite and PostgreSQL backends.
//! - [`signer`]: the background task that signs pending receipts.
//! - [`keys`]: signing keys: generation, where private halves live (files,
//!   or sealed in the database with the [`kek`]), the key document.
//! - [`api`]: thin axum handlers, the error type's HTTP mapping and the
//!   OpenAPI document.
//! - [`web`]: the in-browser verification page at `/verify/`.

pub mod api;
pub mod clock;
pub mod decide;
mod error;
pub mod ids;
pub mod kek;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod pii;
pub mod server;
pub mod service;
pub mod signer;
pub mod store;
pub mod validate;
pub mod web;
pub mod wire;

pub use error::Error;
pub use pii::email_hmac;
