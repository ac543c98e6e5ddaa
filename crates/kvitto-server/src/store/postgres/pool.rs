//! The connection pool: tokio-postgres connections, each with a
//! single-threaded runtime of its own that drives it whenever the thread
//! using the connection waits for an answer. A statement costs a write and
//! a read on the socket and no hop between threads (a pool of connections
//! driven by a shared multi-threaded runtime, such as deadpool's, wakes
//! another thread twice per statement, which measured at several times the
//! CPU per check on a small machine).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio_postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::describe;
use crate::Error;

/// One connection and the runtime that drives it.
pub(super) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// Dropped last, and never blocking (see Drop).
    rt: Option<Runtime>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // May run on an async thread (a store dropped in async code):
        // shutting down in the background never blocks.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Conn {
    /// Connect; on failure the error and whether trying again may help
    /// (not for bad credentials or a database that does not exist).
    fn connect(config: &tokio_postgres::Config, tls: &MakeRustlsConnect) -> Result<Conn, GetError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                (
                    Error::internal(format!("cannot start a connection's runtime: {e}")),
                    false,
                )
            })?;
        let (client, connection) = rt.block_on(config.connect(tls.clone())).map_err(|e| {
            let permanent = e.as_db_error().is_some_and(|db| {
                let c = db.code().code();
                c.starts_with("28") || c == "3D000"
            });
            (Error::unavailable(describe(&e)), !permanent)
        })?;
        rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %describe(&e), "database connection ended");
            }
        });
        Ok(Conn {
            client,
            statements: HashMap::new(),
            rt: Some(rt),
        })
    }

    /// Drive `f` (and the connection) to completion on this thread.
    pub(super) fn block_on<F: Future>(&self, f: F) -> F::Output {
        match &self.rt {
            Some(rt) => rt.block_on(f),
            None => unreachable!("a connection's runtime is only taken when it is dropped"),
        }
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// The prepared statement of `sql`, prepared on first use.
    pub(super) fn statement(&mut self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.block_on(self.client.prepare(sql))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Whether the connection still works as far as can be seen without a
    /// round trip: the connection task runs once, so a socket the server
    /// closed meanwhile (a restart) is noticed.
    fn alive(&self) -> bool {
        self.block_on(tokio::task::yield_now());
        !self.client.is_closed()
    }
}

struct State {
    idle: Vec<Conn>,
    /// Connections open, idle or in use.
    open: usize,
    closed: bool,
}

/// Up to `max` connections, opened on demand.
pub(super) struct Pool {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    max: usize,
    wait: Duration,
    state: Mutex<State>,
    freed: Condvar,
}

/// Why no connection: the error, and whether waiting may help.
pub(super) type GetError = (Error, bool);

impl Pool {
    pub(super) fn new(
        config: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        max: usize,
        wait: Duration,
    ) -> Pool {
        Pool {
            config,
            tls,
            max: max.max(1),
            wait,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                closed: false,
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A working connection: an idle one, a new one, or the next one freed.
    pub(super) fn get(&self) -> Result<Conn, GetError> {
        let deadline = Instant::now() + self.wait;
        let mut st = self.lock();
        loop {
            if st.closed {
                return Err((Error::ShuttingDown, false));
            }
            if let Some(c) = st.idle.pop() {
                drop(st);
                if c.alive() {
                    return Ok(c);
                }
                drop(c);
                st = self.lock();
                st.open -= 1;
                continue;
            }
            if st.open < self.max {
                st.open += 1;
                drop(st);
                return Conn::connect(&self.config, &self.tls).inspect_err(|_| self.forget());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err((
                    Error::unavailable(format!(
                        "all {} database connections stayed busy for {:?}",
                        self.max, self.wait
                    )),
                    true,
                ));
            }
            st = self
                .freed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Give a connection back for the next user.
    pub(super) fn put(&self, c: Conn) {
        let mut st = self.lock();
        if st.closed {
            st.open -= 1;
            drop(st);
            drop(c);
        } else {
            st.idle.push(c);
            drop(st);
        }
        self.freed.notify_one();
    }

    /// Drop a connection for good (broken, or in an unknown state).
    pub(super) fn discard(&self, c: Conn) {
        drop(c);
        self.forget();
    }

    fn forget(&self) {
        self.lock().open -= 1;
        self.freed.notify_one();
    }

    /// Close the idle connections and refuse new users.
    pub(super) fn close(&self) {
        let idle = {
            let mut st = self.lock();
            st.closed = true;
            st.open -= st.idle.len();
            std::mem::take(&mut st.idle)
        };
        drop(idle);
        self.freed.notify_all();
    }
}
