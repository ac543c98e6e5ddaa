//! The PostgreSQL backend: several server instances on one database.
//!
//! Each unit runs in its own `READ COMMITTED` transaction on a pooled
//! tokio-postgres connection (see [`pool`]: each connection is driven by
//! the thread that uses it, so the store works the same from the server
//! and from the CLI), on one of the store's unit threads; reads and
//! signing run on the caller's thread. What SQLite gets from its single
//! writer, this backend gets from locks in the database:
//!
//! - a chain's seq and prev: [`Tx::lock_authorization`] is `SELECT … FOR
//!   UPDATE` on the authorization row, held until the unit commits, so the
//!   checks of one authorization run one after the other whatever instance
//!   they arrive at, and daily counters and budgets stay exact;
//! - key rotation: units that append take a shared advisory lock on the
//!   workspace's keys ([`Tx::keys_for_append`]), a rotation an exclusive one
//!   ([`Tx::lock_keys`]), so no receipt is dated after the old key's end;
//! - signing: [`Store::sign_pending`] claims receipts `FOR UPDATE SKIP
//!   LOCKED`, signs and stores them in one transaction: two instances never
//!   sign the same receipt, and an instance that dies midway loses its
//!   claim with its connection.
//!
//! A unit is run again after a serialization failure, a deadlock, a
//! concurrent insert of the same idempotency key, or a connection lost
//! before its commit was sent, with backoff, for up to the retry window;
//! then it fails with `storage_unavailable` (nothing was applied). A
//! connection lost while the commit was on its way is never retried: the
//! request fails with `outcome_unknown`, and a client retry with the same
//! `Idempotency-Key` finds out which it was. A unit's answer goes out only
//! after `COMMIT` returned, with `synchronous_commit` on.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;

use super::{ReadUnit, SignBatch, Store, Ticket, Tx, Unit, UnitResult};
use crate::Error;

mod connect;
mod pool;
mod queries;

use pool::{Conn, Pool};
use queries::PgConn;

/// A unit waiting for a unit thread.
struct Job {
    unit: Unit,
    reply: tokio::sync::oneshot::Sender<UnitResult>,
}

/// Versioned migrations: (version, SQL), this backend's own history.
/// Applied in one transaction under an advisory lock, so instances starting
/// together migrate once.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("schema.sql"))];

/// The advisory lock class of kvitto-server (`pg_advisory_xact_lock(class, n)`).
const LOCK_CLASS: i32 = 0x6b76_746f;
/// n of the migration lock.
const MIGRATION_LOCK: i32 = 0;

/// How to reach the database.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/dbname?sslmode=…` or the
    /// key=value form. Never logged (it may hold a password).
    pub url: String,
    /// Pooled connections (at most).
    pub pool_size: usize,
    /// `statement_timeout` of every session.
    pub statement_timeout: Duration,
    /// How long a unit keeps retrying while the database is unreachable.
    pub retry_window: Duration,
    /// PEM file of the CA certificates that sign the server's certificate
    /// (TLS); the system's roots when None.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .field("retry_window", &self.retry_window)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl PgOptions {
    /// Defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            pool_size: 16,
            statement_timeout: Duration::from_secs(30),
            retry_window: Duration::from_secs(30),
            ca_file: None,
        }
    }
}

/// What opening expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `init`: create the schema; refuse a database that holds a workspace.
    Init,
    /// Every other command: the schema must be there (it is migrated to
    /// this binary's version if older).
    Existing,
}

/// How a failed statement or connection is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// Run the unit again on the same connection after a rollback
    /// (serialization failure, deadlock, a concurrent idempotency key).
    Retry,
    /// The connection is gone or unusable: drop it, run again on another.
    Reconnect,
    /// A statement timed out.
    Timeout,
    /// Anything else: fail the unit.
    Fatal,
}

impl Class {
    fn retryable(self) -> bool {
        matches!(self, Class::Retry | Class::Reconnect)
    }
}

/// Classify a client error.
pub(super) fn classify(e: &tokio_postgres::Error) -> Class {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            return Class::Retry;
        }
        if *code == SqlState::UNIQUE_VIOLATION && db.constraint() == Some("idempotency_pkey") {
            // Two instances ran the same Idempotency-Key at once; run again
            // and the stored answer is found.
            return Class::Retry;
        }
        if *code == SqlState::QUERY_CANCELED {
            return Class::Timeout;
        }
        if code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::READ_ONLY_SQL_TRANSACTION,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
            ]
            .contains(code)
        {
            return Class::Reconnect;
        }
        return Class::Fatal;
    }
    if e.is_closed() || io_source(e) {
        return Class::Reconnect;
    }
    Class::Fatal
}

fn io_source(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A client error as text: the server's message and SQLSTATE, or the client's.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "postgres: {}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => {
            let mut text = format!("postgres: {e}");
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

/// The error a unit sees for a failed statement of class `c`.
pub(super) fn error_for(c: Class, e: &tokio_postgres::Error) -> Error {
    match c {
        Class::Reconnect => Error::unavailable(describe(e)),
        Class::Timeout => Error::unavailable(format!("a statement timed out: {}", describe(e))),
        Class::Retry | Class::Fatal => Error::internal(describe(e)),
    }
}

struct Inner {
    pool: Pool,
    retry_window: Duration,
    closed: AtomicBool,
    in_flight: Mutex<usize>,
    idle: Condvar,
    /// host:port/dbname, for logs.
    target: String,
}

/// One attempt's outcome.
enum Attempt<T> {
    Done(Result<T, Error>),
    Again(Error),
}

/// The PostgreSQL store.
pub struct PgStore {
    inner: Arc<Inner>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

const BEGIN_UNIT: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

impl PgStore {
    /// Connect (waiting up to the retry window for the database), check its
    /// settings, apply migrations, and start the unit threads.
    pub fn open(opts: &PgOptions, mode: OpenMode) -> Result<Arc<PgStore>, Error> {
        let (config, tls) = connect::config(opts)?;
        let target = connect::target(&config);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot start a runtime: {e}")))?;
        let config = rt.block_on(connect::prepare(config, tls.clone(), opts, &target, mode))?;
        drop(rt);
        let size = opts.pool_size.max(1);
        let inner = Arc::new(Inner {
            pool: Pool::new(config, tls, size, opts.retry_window),
            retry_window: opts.retry_window,
            closed: AtomicBool::new(false),
            in_flight: Mutex::new(0),
            idle: Condvar::new(),
            target,
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(size);
        for i in 0..size {
            let (inner, rx) = (inner.clone(), rx.clone());
            let t = std::thread::Builder::new()
                .name(format!("kvitto-pg-{i}"))
                .spawn(move || unit_loop(&inner, &rx))
                .map_err(|e| Error::internal(format!("cannot start a unit thread: {e}")))?;
            threads.push(t);
        }
        Ok(Arc::new(PgStore {
            inner,
            jobs: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
        }))
    }

    /// host:port/dbname of the database (no credentials).
    pub fn target(&self) -> &str {
        &self.inner.target
    }
}

/// A unit thread: run queued units until the queue closes.
fn unit_loop(inner: &Inner, rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let Job { mut unit, reply } = job;
        let r = inner.run(&mut |tx| unit(tx));
        inner.leave();
        let _ = reply.send(r);
    }
}

impl Inner {
    /// Count a unit in, unless closed.
    fn enter(&self) -> bool {
        let mut n = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        *n += 1;
        true
    }

    fn leave(&self) {
        let mut n = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        *n -= 1;
        if *n == 0 {
            self.idle.notify_all();
        }
    }

    fn backoff(&self, attempt: u32, started: Instant, why: &Error) -> bool {
        if started.elapsed() >= self.retry_window {
            return false;
        }
        if attempt == 1 || attempt.is_multiple_of(20) {
            tracing::warn!(attempt, error = %detail(why), database = %self.target, "database not available; retrying");
        }
        let base = 10u64.saturating_mul(1 << attempt.min(7)).min(1000);
        let jitter = crate::ids::random::<1>().map_or(0, |b| u64::from(b[0])) * base / 512;
        std::thread::sleep(Duration::from_millis(base + jitter));
        true
    }

    /// Run `f` as one transaction, again after retryable failures.
    fn run<T>(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<T, Error>) -> Result<T, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(f) {
                Attempt::Done(r) => return r,
                Attempt::Again(why) => {
                    if !self.backoff(attempt, started, &why) {
                        return Err(match why {
                            Error::Unavailable { .. } => why,
                            other => Error::unavailable(format!(
                                "gave up after {attempt} attempts: {}",
                                detail(&other)
                            )),
                        });
                    }
                }
            }
        }
    }

    fn attempt<T>(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<T, Error>) -> Attempt<T> {
        let mut conn = match self.pool.get() {
            Ok(c) => c,
            Err((e, true)) => return Attempt::Again(e),
            Err((e, false)) => return Attempt::Done(Err(e)),
        };
        // BEGIN goes out with the unit's first statement (one round trip).
        let mut tx = PgConn::new(&mut conn, BEGIN_UNIT);
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut tx)))
            .unwrap_or_else(|_| Err(Error::internal("a unit panicked")));
        // A failed statement aborts the transaction, whatever the unit did
        // with its error: never COMMIT after one (Postgres would answer a
        // COMMIT of an aborted transaction with a silent ROLLBACK).
        let failure = tx.failure();
        let begun = tx.begun();
        drop(tx);
        match (r, failure) {
            (r, Some((class, error))) => {
                self.end(conn, class, begun);
                if class.retryable() {
                    Attempt::Again(error)
                } else {
                    Attempt::Done(Err(r.err().unwrap_or(error)))
                }
            }
            (Err(e), None) => {
                self.end(conn, Class::Fatal, begun);
                Attempt::Done(Err(e))
            }
            (Ok(v), None) if !begun => {
                self.pool.put(conn);
                Attempt::Done(Ok(v))
            }
            (Ok(v), None) => match conn.block_on(conn.client().batch_execute("COMMIT")) {
                Ok(()) => {
                    self.pool.put(conn);
                    Attempt::Done(Ok(v))
                }
                Err(e) if e.as_db_error().is_some() && classify(&e) != Class::Reconnect => {
                    // The server refused the commit: rolled back.
                    let c = classify(&e);
                    self.pool.put(conn);
                    if c.retryable() {
                        Attempt::Again(error_for(c, &e))
                    } else {
                        Attempt::Done(Err(error_for(c, &e)))
                    }
                }
                Err(e) => {
                    // The connection went away while the commit was on its
                    // way (or the server ended the session while answering
                    // it, as when it stops waiting for a synchronous
                    // standby after a local commit): committed or not,
                    // nobody here knows.
                    tracing::error!(error = %describe(&e), database = %self.target,
                        "the connection was lost during COMMIT: the outcome is unknown");
                    self.pool.discard(conn);
                    Attempt::Done(Err(Error::OutcomeUnknown))
                }
            },
        }
    }

    /// Roll back; a connection that cannot, or whose failure was the
    /// connection's, leaves the pool.
    fn end(&self, conn: Conn, class: Class, begun: bool) {
        if class == Class::Reconnect {
            return self.pool.discard(conn);
        }
        if !begun {
            return self.pool.put(conn);
        }
        match conn.block_on(conn.client().batch_execute("ROLLBACK")) {
            Ok(()) => self.pool.put(conn),
            Err(_) => self.pool.discard(conn),
        }
    }

    /// A read-only snapshot (REPEATABLE READ): waits for a connection, then
    /// `f` runs once.
    fn read<T>(&self, f: impl FnOnce(&mut PgConn<'_>) -> Result<T, Error>) -> Result<T, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        let mut conn = loop {
            attempt += 1;
            match self.pool.get() {
                Ok(c) => break c,
                Err((e, false)) => return Err(e),
                Err((e, true)) => {
                    if !self.backoff(attempt, started, &e) {
                        return Err(e);
                    }
                }
            }
        };
        let mut tx = PgConn::new(&mut conn, BEGIN_READ);
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut tx)))
            .unwrap_or_else(|_| Err(Error::internal("a read panicked")));
        let failure = tx.failure();
        let begun = tx.begun();
        drop(tx);
        self.end(conn, failure.map_or(Class::Fatal, |(c, _)| c), begun);
        r
    }
}

/// The detail of an error for the log (internal messages included).
fn detail(e: &Error) -> String {
    match e {
        Error::Internal { message } | Error::Unavailable { message } => message.clone(),
        other => other.to_string(),
    }
}

impl Store for PgStore {
    fn submit(&self, unit: Unit) -> Ticket {
        let (reply, ticket) = tokio::sync::oneshot::channel();
        if !self.inner.enter() {
            let _ = reply.send(Err(Error::ShuttingDown));
            return ticket;
        }
        let job = Job { unit, reply };
        let sent = match self.jobs.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(jobs) => jobs.send(job).map_err(|mpsc::SendError(job)| job),
            None => Err(job),
        };
        if let Err(job) = sent {
            self.inner.leave();
            let _ = job.reply.send(Err(Error::ShuttingDown));
        }
        ticket
    }

    fn read(&self, f: ReadUnit) -> UnitResult {
        if !self.inner.enter() {
            return Err(Error::ShuttingDown);
        }
        let r = self.inner.read(|tx| f(tx));
        self.inner.leave();
        r
    }

    fn sign_pending(
        &self,
        limit: usize,
        skip_kids: &[String],
        sign: SignBatch<'_>,
    ) -> Result<usize, Error> {
        if !self.inner.enter() {
            return Err(Error::ShuttingDown);
        }
        let r = self.inner.run(&mut |tx: &mut dyn Tx| {
            let pending = tx.claim_pending(limit, skip_kids)?;
            if pending.is_empty() {
                return Ok(0);
            }
            let sigs = sign(&mut *tx, &pending);
            let n = tx.set_signatures(&sigs)? as usize;
            if n != sigs.len() {
                // Claimed receipts are ours alone: this would be a bug.
                return Err(Error::internal(format!(
                    "stored {n} of {} signatures of claimed receipts",
                    sigs.len()
                )));
            }
            Ok(n)
        });
        self.inner.leave();
        r
    }

    fn close(&self) {
        {
            let mut n = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.inner.closed.store(true, Ordering::SeqCst);
            // Units under way finish (each is bounded by the retry window).
            let deadline = Instant::now() + self.inner.retry_window + Duration::from_secs(30);
            while *n > 0 && Instant::now() < deadline {
                n = self
                    .inner
                    .idle
                    .wait_timeout(n, Duration::from_millis(100))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        for t in std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner())) {
            let _ = t.join();
        }
        self.inner.pool.close();
    }
}
