//! The SQLite backend: one database file in WAL mode with `synchronous=FULL`,
//! one writer thread that group-commits units (many per fsync'd transaction,
//! one savepoint each), and a small pool of read connections on snapshots.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    PendingKind, Read, ReadUnit, SignBatch, Store, Ticket, Tx, Unit, UnitResult, Unsigned,
};
use crate::Error;
use crate::model::{
    Authorization, Bundle, IdempotentResponse, KeyRecord, NewReceipt, Pending, ScopeState,
    StoredReceipt,
};

mod queries;

use queries::Conn;

/// Versioned migrations: (version, SQL). Applied in order, each in its own
/// transaction, recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../schema.sql"))];

/// Most units committed in one transaction.
const MAX_BATCH: usize = 512;
/// Read connections kept open.
const READERS: usize = 4;

struct Job {
    unit: Unit,
    reply: tokio::sync::oneshot::Sender<UnitResult>,
}

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn db(e: rusqlite::Error) -> Error {
    Error::internal(format!("sqlite: {e}"))
}

fn open_connection(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open(path).map_err(db)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(db)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(db)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::internal(format!(
            "sqlite: journal_mode is {mode}, not wal"
        )));
    }
    // 64 MiB of page cache: the hot pages of chains and indexes stay in memory.
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;",
    )
    .map_err(db)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`, apply migrations,
    /// and start the writer thread.
    pub fn open(path: &Path) -> Result<Arc<SqliteStore>, Error> {
        let mut conn = open_connection(path)?;
        migrate(&mut conn)?;
        // Checkpoints run on their own thread, so a commit never waits for one.
        conn.execute_batch("PRAGMA wal_autocheckpoint=0;")
            .map_err(db)?;
        let checkpoint_conn = open_connection(path)?;
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("kvitto-store-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, stop_rx))
            .map_err(|e| Error::internal(format!("cannot start the checkpoint thread: {e}")))?;
        let mut readers = Vec::new();
        for _ in 0..READERS {
            let r = open_connection(path)?;
            r.execute_batch("PRAGMA query_only=ON;").map_err(db)?;
            readers.push(r);
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("kvitto-store-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| Error::internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Arc::new(SqliteStore {
            path: path.to_owned(),
            writer: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some((stop_tx, checkpointer))),
            readers: Mutex::new(readers),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on a pooled read connection (query_only).
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = open_connection(&self.path)?;
                c.execute_batch("PRAGMA query_only=ON;").map_err(db)?;
                c
            }
        };
        let r = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READERS {
            pool.push(conn);
        }
        r
    }
}

fn migrate(conn: &mut Connection) -> Result<(), Error> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)",
    )
    .map_err(db)?;
    for (version, sql) in MIGRATIONS {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = $1",
                [version],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        if done.is_none() {
            tx.execute_batch(sql).map_err(db)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
                params![version, crate::clock::now_ms()],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
    }
    let newest: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .map_err(db)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if newest > known {
        return Err(Error::internal(format!(
            "the database has schema version {newest}, newer than this server's {known}: upgrade the server"
        )));
    }
    Ok(())
}

/// Copy the WAL into the database every 100 ms, and once more on close,
/// without ever blocking a writer (PASSIVE; another process, such as the
/// CLI beside a running server, may be writing). SQLite empties the WAL
/// when the last connection closes.
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>) {
    let checkpoint = |mode: &str| {
        if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpoint failed");
        }
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_millis(100)) {
        checkpoint("PASSIVE");
    }
    checkpoint("PASSIVE");
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, batch);
    }
}

/// One transaction for the whole batch, one savepoint per unit; answers go
/// out only after COMMIT returned (with synchronous=FULL: after the fsync).
fn run_batch(conn: &Connection, batch: Vec<Job>) {
    let mut results: Vec<(tokio::sync::oneshot::Sender<UnitResult>, UnitResult)> =
        Vec::with_capacity(batch.len());
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = db(e);
        for job in batch {
            let _ = job.reply.send(Err(err.clone()));
        }
        return;
    }
    for job in batch {
        let result = match run_cached(conn, "SAVEPOINT unit") {
            Err(e) => Err(db(e)),
            Ok(()) => {
                let mut tx = Conn(conn);
                let mut unit = job.unit;
                let r =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || unit(&mut tx)))
                        .unwrap_or_else(|_| Err(Error::internal("a unit panicked")));
                let end = if r.is_ok() {
                    run_cached(conn, "RELEASE unit")
                } else {
                    run_cached(conn, "ROLLBACK TO unit")
                        .and_then(|_| run_cached(conn, "RELEASE unit"))
                };
                match end {
                    Ok(()) => r,
                    Err(e) => Err(db(e)),
                }
            }
        };
        results.push((job.reply, result));
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let err = db(e);
        tracing::error!(error = %err, "commit failed; the batch is rolled back");
        let _ = conn.execute_batch("ROLLBACK");
        for (reply, r) in results {
            let _ = reply.send(match r {
                Ok(_) => Err(err.clone()),
                Err(e) => Err(e),
            });
        }
        return;
    }
    for (reply, r) in results {
        let _ = reply.send(r);
    }
}

/// A statement without parameters or rows, prepared once.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

impl Store for SqliteStore {
    fn submit(&self, unit: Unit) -> Ticket {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Job { unit, reply: tx };
        if let Some(w) = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && let Err(mpsc::SendError(job)) = w.send(job)
        {
            let _ = job.reply.send(Err(Error::ShuttingDown));
        }
        // With the writer closed, the job (and its sender) is dropped: the
        // ticket resolves with a receive error, reported as ShuttingDown.
        rx
    }

    fn read(&self, f: ReadUnit) -> UnitResult {
        self.with_reader(|conn| {
            conn.execute_batch("BEGIN").map_err(db)?;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut Conn(conn))))
                .unwrap_or_else(|_| Err(Error::internal("a read panicked")));
            let _ = conn.execute_batch("COMMIT");
            r
        })
    }

    /// One writer, so no claims are needed: the pending receipts are read
    /// on a snapshot, signed off the writer thread (which keeps committing
    /// checks meanwhile), and the signatures stored by one unit.
    fn sign_pending(
        &self,
        limit: usize,
        skip_kids: &[String],
        sign: SignBatch<'_>,
    ) -> Result<usize, Error> {
        let sigs = self.with_reader(|conn| {
            conn.execute_batch("BEGIN").map_err(db)?;
            let pending = Conn(conn).unsigned(limit, skip_kids);
            let _ = conn.execute_batch("COMMIT");
            let pending = pending?;
            if pending.is_empty() {
                return Ok(Vec::new());
            }
            Ok(sign(&mut Conn(conn), &pending))
        })?;
        if sigs.is_empty() {
            return Ok(0);
        }
        super::transact_blocking(self, move |tx| tx.set_signatures(&sigs)).map(|n| n as usize)
    }

    fn close(&self) {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
        if let Some((stop, t)) = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = stop.send(());
            let _ = t.join();
        }
    }
}
