//! Storage behind one trait whose unit is a transaction.
//!
//! A [`Unit`] reads state, appends receipts with their seq and prev, applies
//! changes and returns a value; the store runs it as one transaction and
//! hands back its result only once the transaction is durable. A unit that
//! returns an error is rolled back whole (nothing it did is stored), and
//! the error goes back to the caller. A backend may run a unit more than
//! once (after a serialization failure or a connection lost before the
//! commit), so a unit must do nothing outside its transaction that a
//! second run would repeat visibly: it builds its answer, the caller sends it.
//!
//! The SQLite backend ([`sqlite`]) runs units on one writer thread and
//! commits many of them per fsync'd transaction (group commit), each in its
//! own savepoint. The PostgreSQL backend ([`postgres`]) runs each unit in
//! its own transaction on a pooled connection, with
//! [`Tx::lock_authorization`] as `SELECT … FOR UPDATE`, the workspace key
//! locks as advisory locks and [`Tx::claim_pending`] as a
//! `FOR UPDATE SKIP LOCKED` claim, so several server instances can share
//! one database. Nothing outside `store::sqlite` and `store::postgres`
//! knows which backend runs; the suite in `store::tests` runs against each.

use std::any::Any;

use crate::Error;
use crate::model::{
    Authorization, Bundle, IdempotentResponse, KeyRecord, NewReceipt, Pending, ScopeState,
    StoredReceipt,
};

pub mod postgres;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

/// What a unit returns: any value, or an error that rolls it back.
pub type UnitResult = Result<Box<dyn Any + Send>, Error>;
/// One transaction's work; a backend may run it again after a retryable
/// failure (see the module documentation).
pub type Unit = Box<dyn FnMut(&mut dyn Tx) -> UnitResult + Send>;
/// A read-only look at one consistent snapshot.
pub type ReadUnit = Box<dyn FnOnce(&mut dyn Read) -> UnitResult + Send>;
/// Where a submitted unit's result arrives, once durable.
pub type Ticket = tokio::sync::oneshot::Receiver<UnitResult>;

/// Pending confirmations and escalations share one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    Confirmation,
    Escalation,
}

impl PendingKind {
    /// Its table and id column, the same in both backends' schemas.
    pub(crate) fn table(self) -> (&'static str, &'static str) {
        match self {
            PendingKind::Confirmation => ("confirmations", "confirm_nonce"),
            PendingKind::Escalation => ("escalations", "escalation_id"),
        }
    }
}

/// A receipt waiting for its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsigned {
    pub receipt_id: String,
    pub kid: String,
    /// JCS(payload).
    pub payload: String,
    pub issued_at_ms: i64,
}

/// Signs a batch of pending receipts: returns `(receipt_id, sig)` for each
/// it could sign. The [`Read`] is the claiming transaction's (a backend that
/// keeps private keys in the database loads them through it).
pub type SignBatch<'a> = &'a (dyn Fn(&mut dyn Read, &[Unsigned]) -> Vec<(String, String)> + Sync);

/// The storage backend.
pub trait Store: Send + Sync + 'static {
    /// Queue `unit` to run as one transaction. The ticket resolves with its
    /// result after the transaction committed durably, or with its error
    /// after it was rolled back.
    fn submit(&self, unit: Unit) -> Ticket;
    /// Run `f` on a consistent read-only snapshot (blocking).
    fn read(&self, f: ReadUnit) -> UnitResult;
    /// Sign up to `limit` pending receipts, oldest first, skipping those of
    /// the keys in `skip_kids` (blocking): claim them, let `sign` sign them
    /// and store the signatures. Two signers (two server instances) never
    /// store a signature for the same receipt, and a signer that dies
    /// midway leaves its receipts to the next. Returns how many it stored.
    fn sign_pending(
        &self,
        limit: usize,
        skip_kids: &[String],
        sign: SignBatch<'_>,
    ) -> Result<usize, Error>;
    /// Stop accepting units, finish those queued, close.
    fn close(&self);
}

/// Reads, inside a unit or a read snapshot.
pub trait Read {
    fn workspace_exists(&mut self, workspace_id: &str) -> Result<bool, Error>;
    /// The workspace an API key (by its hash) belongs to.
    fn api_key_workspace(&mut self, key_hash: &str) -> Result<Option<String>, Error>;
    /// A workspace's signing keys, oldest first.
    fn keys(&mut self, workspace_id: &str) -> Result<Vec<KeyRecord>, Error>;
    fn key(&mut self, kid: &str) -> Result<Option<KeyRecord>, Error>;
    fn authorization(
        &mut self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<Authorization>, Error>;
    /// The stored scope states of an authorization.
    fn scope_states(&mut self, authorization_id: &str) -> Result<Vec<ScopeState>, Error>;
    fn receipt(
        &mut self,
        workspace_id: &str,
        receipt_id: &str,
    ) -> Result<Option<StoredReceipt>, Error>;
    /// Receipts of one authorization with seq > `after_seq`, in seq order, at most `limit`.
    fn receipts(
        &mut self,
        authorization_id: &str,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredReceipt>, Error>;
    /// Unsigned receipts of one authorization with seq > `after_seq`.
    fn pending_count(
        &mut self,
        authorization_id: &str,
        after_seq: Option<u64>,
    ) -> Result<u64, Error>;
    /// Authorizations of the workspace with a receipt issued in [since, until).
    fn authorizations_in_range(
        &mut self,
        workspace_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<String>, Error>;
    fn bundle(&mut self, workspace_id: &str, bundle_id: &str) -> Result<Option<Bundle>, Error>;
    fn bundles(&mut self, workspace_id: &str) -> Result<Vec<Bundle>, Error>;
    fn pending(
        &mut self,
        kind: PendingKind,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<Pending>, Error>;
    /// Up to `limit` unsigned receipts, oldest first (all workspaces), as
    /// the snapshot sees them; signers claim them with [`Tx::claim_pending`]
    /// instead.
    fn pending_receipts(&mut self, limit: usize) -> Result<Vec<Unsigned>, Error>;
    /// Unsigned receipts: all, or of one key.
    fn unsigned_count(&mut self, kid: Option<&str>) -> Result<u64, Error>;
    /// Retired or revoked keys whose private half has not been destroyed yet.
    fn keys_to_destroy(&mut self) -> Result<Vec<KeyRecord>, Error>;
    /// The sealed (encrypted) private half of `kid`, for a backend that
    /// keeps private keys in the database; None once destroyed. Backends
    /// that keep them elsewhere (SQLite: files) answer an error.
    fn sealed_private_key(&mut self, kid: &str) -> Result<Option<String>, Error> {
        let _ = kid;
        Err(no_sealed_keys())
    }
    /// Every sealed private half not destroyed yet: `(kid, sealed)`.
    fn sealed_private_keys(&mut self) -> Result<Vec<(String, String)>, Error> {
        Err(no_sealed_keys())
    }
    /// The latest issued_at (ms) among the workspace's receipts (every key's).
    fn max_issued_at(&mut self, workspace_id: &str) -> Result<Option<i64>, Error>;
    fn idempotent_response(
        &mut self,
        workspace_id: &str,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, Error>;
}

/// Reads and writes inside one transaction.
pub trait Tx: Read {
    fn insert_workspace(&mut self, workspace_id: &str, now_ms: i64) -> Result<(), Error>;
    fn insert_api_key(
        &mut self,
        key_hash: &str,
        workspace_id: &str,
        now_ms: i64,
    ) -> Result<(), Error>;
    fn insert_key(&mut self, key: &KeyRecord) -> Result<(), Error>;
    /// The workspace's keys, for appending a receipt with the active one:
    /// held (shared) until the unit ends, so a rotation ([`Tx::lock_keys`])
    /// waits for this unit to commit, and a unit that waited for a rotation
    /// sees its new key.
    fn keys_for_append(&mut self, workspace_id: &str) -> Result<Vec<KeyRecord>, Error>;
    /// Exclusive use of the workspace's keys until the unit ends: waits for
    /// every unit appending with them ([`Tx::keys_for_append`]) to end.
    fn lock_keys(&mut self, workspace_id: &str) -> Result<(), Error>;
    /// Set a key's status, window end and whether its private half is gone.
    fn update_key(&mut self, key: &KeyRecord) -> Result<(), Error>;
    /// The authorization, locked until the unit ends (`FOR UPDATE`).
    fn lock_authorization(
        &mut self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<Authorization>, Error>;
    fn insert_authorization(&mut self, auth: &Authorization) -> Result<(), Error>;
    /// Write the mutable members: budget spent, revocation, chain head.
    fn update_authorization(&mut self, auth: &Authorization) -> Result<(), Error>;
    fn put_scope_state(&mut self, authorization_id: &str, state: &ScopeState) -> Result<(), Error>;
    /// Append a receipt (unsigned). A second receipt with the same
    /// authorization and seq is an error: chains never fork.
    fn append_receipt(&mut self, receipt: &NewReceipt) -> Result<(), Error>;
    fn insert_pending(&mut self, kind: PendingKind, pending: &Pending) -> Result<(), Error>;
    fn set_pending_status(
        &mut self,
        kind: PendingKind,
        id: &str,
        status: &str,
        now_ms: i64,
    ) -> Result<(), Error>;
    fn put_idempotent_response(
        &mut self,
        workspace_id: &str,
        key: &str,
        response: &IdempotentResponse,
        now_ms: i64,
    ) -> Result<(), Error>;
    /// Forget idempotent responses stored before `before_ms`.
    fn purge_idempotency(&mut self, before_ms: i64) -> Result<u64, Error>;
    /// Insert a bundle; false if the workspace already has one with its id.
    fn insert_bundle(&mut self, workspace_id: &str, bundle: &Bundle) -> Result<bool, Error>;
    /// Fill in signatures of still-unsigned receipts; returns how many were filled.
    fn set_signatures(&mut self, signatures: &[(String, String)]) -> Result<u64, Error>;
    /// Up to `limit` unsigned receipts, oldest first, not of `skip_kids`,
    /// locked until the unit ends; receipts another unit holds are skipped
    /// (`FOR UPDATE SKIP LOCKED`), so concurrent claims never overlap.
    fn claim_pending(&mut self, limit: usize, skip_kids: &[String])
    -> Result<Vec<Unsigned>, Error>;
    /// Store the sealed private half of a key (a new key, or the same key
    /// sealed anew); false if the key is unknown or its private half was
    /// destroyed.
    fn put_sealed_private_key(&mut self, kid: &str, sealed: &str) -> Result<bool, Error> {
        let _ = (kid, sealed);
        Err(no_sealed_keys())
    }
    /// Destroy the sealed private half of a retired or revoked key, if no
    /// unsigned receipt of it is left, and mark it destroyed; returns
    /// whether it did.
    fn destroy_sealed_private_key(&mut self, kid: &str) -> Result<bool, Error> {
        let _ = kid;
        Err(no_sealed_keys())
    }
}

fn no_sealed_keys() -> Error {
    Error::internal("this storage backend keeps private keys outside the database")
}

/// Run `f` as one unit and wait (async) for its durable result. `f` may
/// run more than once (see the module documentation).
pub async fn transact<T, F>(store: &dyn Store, mut f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnMut(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
{
    let ticket = store.submit(Box::new(move |tx| {
        f(tx).map(|v| Box::new(v) as Box<dyn Any + Send>)
    }));
    unbox(ticket.await.map_err(|_| Error::ShuttingDown)?)
}

/// [`transact`] for threads outside the async runtime.
pub fn transact_blocking<T, F>(store: &dyn Store, mut f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnMut(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
{
    let ticket = store.submit(Box::new(move |tx| {
        f(tx).map(|v| Box::new(v) as Box<dyn Any + Send>)
    }));
    unbox(ticket.blocking_recv().map_err(|_| Error::ShuttingDown)?)
}

/// Run `f` on a read snapshot (blocking; call from a blocking thread).
pub fn read_blocking<T, F>(store: &dyn Store, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Read) -> Result<T, Error> + Send + 'static,
{
    unbox(store.read(Box::new(move |r| {
        f(r).map(|v| Box::new(v) as Box<dyn Any + Send>)
    })))
}

/// [`read_blocking`] from async code (on the blocking pool).
pub async fn read<T, F>(store: std::sync::Arc<dyn Store>, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Read) -> Result<T, Error> + Send + 'static,
{
    tokio::task::spawn_blocking(move || read_blocking(&*store, f))
        .await
        .map_err(|e| Error::internal(format!("read task failed: {e}")))?
}

fn unbox<T: 'static>(r: UnitResult) -> Result<T, Error> {
    r.and_then(|b| {
        b.downcast::<T>()
            .map(|v| *v)
            .map_err(|_| Error::internal("unit returned another type"))
    })
}
