//! The SQL of every `Read` and `Tx` method on one pooled connection, inside
//! a transaction (a unit's) or a read-only snapshot.

use sha2::{Digest, Sha256};
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{Row, Statement};

use super::pool::Conn;
use super::{Class, LOCK_CLASS, classify, error_for};
use crate::Error;
use crate::model::{
    Authorization, Bundle, Grant, IdempotentResponse, KeyRecord, NewReceipt, Pending, ScopeState,
    StoredReceipt,
};
use crate::store::{PendingKind, Read, Tx, Unsigned};

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A connection inside a transaction (a unit's, or a read-only snapshot):
/// sends BEGIN with its first read, remembers the first failed statement,
/// and keeps the scope states read with the authorization's lock.
pub(in crate::store::postgres) struct PgConn<'c> {
    conn: &'c mut Conn,
    /// BEGIN, until it is sent.
    begin: Option<&'static str>,
    failure: Option<(Class, Error)>,
    /// The scope states of the authorization locked last, read right after
    /// its lock (so current), until this unit writes one.
    states: Option<(String, Vec<ScopeState>)>,
}

impl<'c> PgConn<'c> {
    pub(super) fn new(conn: &'c mut Conn, begin: &'static str) -> PgConn<'c> {
        PgConn {
            conn,
            begin: Some(begin),
            failure: None,
            states: None,
        }
    }

    /// The first statement that failed, if one did (the transaction is
    /// then aborted), and how to handle it.
    pub(super) fn failure(&mut self) -> Option<(Class, Error)> {
        self.failure.take()
    }

    /// Whether BEGIN was sent (else there is nothing to commit).
    pub(super) fn begun(&self) -> bool {
        self.begin.is_none()
    }

    fn fail(&mut self, e: &tokio_postgres::Error) -> Error {
        let class = classify(e);
        let err = error_for(class, e);
        if self.failure.is_none() {
            self.failure = Some((class, err.clone()));
        }
        err
    }

    fn check(&self) -> Result<(), Error> {
        match &self.failure {
            Some((_, e)) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn prepared(&mut self, sql: &str) -> Result<Statement, Error> {
        self.check()?;
        self.conn.statement(sql).map_err(|e| self.fail(&e))
    }

    /// Reads: BEGIN (while not sent yet) and the query in one round trip.
    /// Only reads are sent so: one that ran although BEGIN failed changed
    /// nothing, and its answer is dropped with the failure.
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Error> {
        let st = self.prepared(sql)?;
        let begin = self.begin.take();
        let conn = &*self.conn;
        let client = conn.client();
        let r = conn.block_on(async {
            match begin {
                Some(b) => {
                    let (x, y) = tokio::join!(client.batch_execute(b), client.query(&st, params));
                    x.and(y)
                }
                None => client.query(&st, params).await,
            }
        });
        r.map_err(|e| self.fail(&e))
    }

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, Error> {
        let mut rows = self.query(sql, params)?;
        if rows.len() > 1 {
            return Err(Error::internal(format!(
                "postgres: {} rows where at most one was expected",
                rows.len()
            )));
        }
        Ok(rows.pop())
    }

    /// Two reads in one round trip (with BEGIN while not sent yet), run
    /// one after the other: the second sees what the first waited for.
    fn query_pair(
        &mut self,
        (sql1, p1): (&str, Params<'_>),
        (sql2, p2): (&str, Params<'_>),
    ) -> Result<(Vec<Row>, Vec<Row>), Error> {
        let (st1, st2) = (self.prepared(sql1)?, self.prepared(sql2)?);
        let begin = self.begin.take();
        let conn = &*self.conn;
        let client = conn.client();
        let r = conn.block_on(async {
            match begin {
                Some(b) => {
                    let (x, y, z) = tokio::join!(
                        client.batch_execute(b),
                        client.query(&st1, p1),
                        client.query(&st2, p2)
                    );
                    x.and(y).and_then(|y| z.map(|z| (y, z)))
                }
                None => {
                    let (y, z) = tokio::join!(client.query(&st1, p1), client.query(&st2, p2));
                    y.and_then(|y| z.map(|z| (y, z)))
                }
            }
        });
        r.map_err(|e| self.fail(&e))
    }

    /// A write: after BEGIN (on its own round trip if not sent yet: a
    /// write must never run outside the transaction).
    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, Error> {
        let st = self.prepared(sql)?;
        if let Some(b) = self.begin.take() {
            let conn = &*self.conn;
            let r = conn.block_on(conn.client().batch_execute(b));
            r.map_err(|e| self.fail(&e))?;
        }
        let conn = &*self.conn;
        let client = conn.client();
        let r = conn.block_on(client.execute(&st, params));
        r.map_err(|e| self.fail(&e))
    }

    fn count(&mut self, sql: &str, params: Params<'_>) -> Result<u64, Error> {
        let row = self.query_opt(sql, params)?;
        let n: i64 = match row {
            Some(r) => get(&r, 0)?,
            None => 0,
        };
        Ok(n.max(0) as u64)
    }
}

fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, Error> {
    row.try_get(i)
        .map_err(|e| Error::internal(format!("postgres: reading column {i}: {e}")))
}

fn all<T>(rows: Vec<Row>, f: impl Fn(&Row) -> Result<T, Error>) -> Result<Vec<T>, Error> {
    rows.iter().map(f).collect()
}

const KEY_COLUMNS: &str =
    "kid, workspace_id, x, status, not_before_ms, not_after_ms, private_destroyed";

fn key_row(r: &Row) -> Result<KeyRecord, Error> {
    Ok(KeyRecord {
        kid: get(r, 0)?,
        workspace_id: get(r, 1)?,
        x: get(r, 2)?,
        status: get(r, 3)?,
        not_before_ms: get(r, 4)?,
        not_after_ms: get(r, 5)?,
        private_destroyed: get(r, 6)?,
    })
}

const AUTH_COLUMNS: &str = "authorization_id, workspace_id, grant_json, created_at_ms, \
     budget_spent_micros, revoked_at_ms, revoked_by, next_seq, head_hash, head_issued_at_ms";

fn auth_row(r: &Row) -> Result<Authorization, Error> {
    let id: String = get(r, 0)?;
    let grant_json: String = get(r, 2)?;
    let grant: Grant = serde_json::from_str(&grant_json)
        .map_err(|e| Error::internal(format!("stored grant of {id} unreadable: {e}")))?;
    Ok(Authorization {
        id,
        workspace_id: get(r, 1)?,
        grant,
        created_at_ms: get(r, 3)?,
        budget_spent_micros: get(r, 4)?,
        revoked_at_ms: get(r, 5)?,
        revoked_by: get(r, 6)?,
        next_seq: get::<i64>(r, 7)? as u64,
        head_hash: get(r, 8)?,
        head_issued_at_ms: get(r, 9)?,
    })
}

const RECEIPT_COLUMNS: &str = "receipt_id, authorization_id, seq, kid, issued_at_ms, payload, sig";

fn receipt_row(r: &Row) -> Result<StoredReceipt, Error> {
    Ok(StoredReceipt {
        receipt_id: get(r, 0)?,
        authorization_id: get(r, 1)?,
        seq: get::<i64>(r, 2)? as u64,
        kid: get(r, 3)?,
        issued_at_ms: get(r, 4)?,
        payload: get(r, 5)?,
        sig: get(r, 6)?,
    })
}

const SCOPE_STATES: &str = "SELECT scope, confirmed_until_ms, confirm_denied, escalation_grants, \
     escalation_denied, day, allowed_today FROM scope_states \
     WHERE authorization_id = $1 ORDER BY scope";

fn scope_row(r: &Row) -> Result<ScopeState, Error> {
    Ok(ScopeState {
        scope: get(r, 0)?,
        confirmed_until_ms: get(r, 1)?,
        confirm_denied: get(r, 2)?,
        escalation_grants: get::<i64>(r, 3)?.clamp(0, i64::from(u32::MAX)) as u32,
        escalation_denied: get(r, 4)?,
        day: get(r, 5)?,
        allowed_today: get::<i64>(r, 6)?.max(0) as u64,
    })
}

fn unsigned_row(r: &Row) -> Result<Unsigned, Error> {
    Ok(Unsigned {
        receipt_id: get(r, 0)?,
        kid: get(r, 1)?,
        payload: get(r, 2)?,
        issued_at_ms: get(r, 3)?,
    })
}

/// The advisory lock of a workspace's keys: (class, hash of the id). Two
/// workspaces sharing a hash only share rotations' waits.
fn keys_lock(workspace_id: &str) -> (i32, i32) {
    let h = Sha256::digest(workspace_id.as_bytes());
    (LOCK_CLASS, i32::from_be_bytes([h[0], h[1], h[2], h[3]]))
}

fn json_text<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::internal(e.to_string()))
}

impl Read for PgConn<'_> {
    fn workspace_exists(&mut self, workspace_id: &str) -> Result<bool, Error> {
        Ok(self
            .query_opt(
                "SELECT 1::BIGINT FROM workspaces WHERE workspace_id = $1",
                &[&workspace_id],
            )?
            .is_some())
    }

    fn api_key_workspace(&mut self, key_hash: &str) -> Result<Option<String>, Error> {
        self.query_opt(
            "SELECT workspace_id FROM api_keys WHERE key_hash = $1",
            &[&key_hash],
        )?
        .map(|r| get(&r, 0))
        .transpose()
    }

    fn keys(&mut self, workspace_id: &str) -> Result<Vec<KeyRecord>, Error> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE workspace_id = $1 ORDER BY not_before_ms, kid"
        );
        all(self.query(&sql, &[&workspace_id])?, key_row)
    }

    fn key(&mut self, kid: &str) -> Result<Option<KeyRecord>, Error> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE kid = $1");
        self.query_opt(&sql, &[&kid])?
            .map(|r| key_row(&r))
            .transpose()
    }

    fn authorization(
        &mut self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<Authorization>, Error> {
        let sql = format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE authorization_id = $1 AND workspace_id = $2"
        );
        self.query_opt(&sql, &[&id, &workspace_id])?
            .map(|r| auth_row(&r))
            .transpose()
    }

    fn scope_states(&mut self, authorization_id: &str) -> Result<Vec<ScopeState>, Error> {
        if let Some((id, states)) = &self.states
            && id == authorization_id
        {
            return Ok(states.clone());
        }
        let rows = self.query(SCOPE_STATES, &[&authorization_id])?;
        all(rows, scope_row)
    }

    fn receipt(
        &mut self,
        workspace_id: &str,
        receipt_id: &str,
    ) -> Result<Option<StoredReceipt>, Error> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE receipt_id = $1 AND workspace_id = $2"
        );
        self.query_opt(&sql, &[&receipt_id, &workspace_id])?
            .map(|r| receipt_row(&r))
            .transpose()
    }

    fn receipts(
        &mut self,
        authorization_id: &str,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredReceipt>, Error> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE authorization_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        );
        let after = after_seq.map_or(-1, |s| s as i64);
        let limit = limit as i64;
        all(
            self.query(&sql, &[&authorization_id, &after, &limit])?,
            receipt_row,
        )
    }

    fn pending_count(
        &mut self,
        authorization_id: &str,
        after_seq: Option<u64>,
    ) -> Result<u64, Error> {
        let after = after_seq.map_or(-1, |s| s as i64);
        self.count(
            "SELECT COUNT(*) FROM receipts WHERE authorization_id = $1 AND seq > $2 AND sig IS NULL",
            &[&authorization_id, &after],
        )
    }

    fn authorizations_in_range(
        &mut self,
        workspace_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<String>, Error> {
        let rows = self.query(
            "SELECT DISTINCT authorization_id FROM receipts WHERE workspace_id = $1 \
             AND issued_at_ms >= $2 AND issued_at_ms < $3 ORDER BY authorization_id",
            &[&workspace_id, &since_ms, &until_ms],
        )?;
        all(rows, |r| get(r, 0))
    }

    fn bundle(&mut self, workspace_id: &str, bundle_id: &str) -> Result<Option<Bundle>, Error> {
        let row = self.query_opt(
            "SELECT bundle_json FROM bundles WHERE workspace_id = $1 AND bundle_id = $2",
            &[&workspace_id, &bundle_id],
        )?;
        row.map(|r| {
            let j: String = get(&r, 0)?;
            serde_json::from_str(&j)
                .map_err(|e| Error::internal(format!("stored bundle unreadable: {e}")))
        })
        .transpose()
    }

    fn bundles(&mut self, workspace_id: &str) -> Result<Vec<Bundle>, Error> {
        let rows = self.query(
            "SELECT bundle_json FROM bundles WHERE workspace_id = $1 ORDER BY bundle_id",
            &[&workspace_id],
        )?;
        all(rows, |r| {
            let j: String = get(r, 0)?;
            serde_json::from_str(&j)
                .map_err(|e| Error::internal(format!("stored bundle unreadable: {e}")))
        })
    }

    fn pending(
        &mut self,
        kind: PendingKind,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<Pending>, Error> {
        let (table, column) = kind.table();
        let sql = format!(
            "SELECT {column}, workspace_id, authorization_id, scope, target, status, created_at_ms \
             FROM {table} WHERE {column} = $1 AND workspace_id = $2"
        );
        self.query_opt(&sql, &[&id, &workspace_id])?
            .map(|r| {
                Ok(Pending {
                    id: get(&r, 0)?,
                    workspace_id: get(&r, 1)?,
                    authorization_id: get(&r, 2)?,
                    scope: get(&r, 3)?,
                    target: get(&r, 4)?,
                    status: get(&r, 5)?,
                    created_at_ms: get(&r, 6)?,
                })
            })
            .transpose()
    }

    fn pending_receipts(&mut self, limit: usize) -> Result<Vec<Unsigned>, Error> {
        let limit = limit as i64;
        let rows = self.query(
            "SELECT receipt_id, kid, payload, issued_at_ms FROM receipts WHERE sig IS NULL \
             ORDER BY kid, receipt_id LIMIT $1",
            &[&limit],
        )?;
        all(rows, unsigned_row)
    }

    fn unsigned_count(&mut self, kid: Option<&str>) -> Result<u64, Error> {
        match kid {
            Some(kid) => self.count(
                "SELECT COUNT(*) FROM receipts WHERE sig IS NULL AND kid = $1",
                &[&kid],
            ),
            None => self.count("SELECT COUNT(*) FROM receipts WHERE sig IS NULL", &[]),
        }
    }

    fn keys_to_destroy(&mut self) -> Result<Vec<KeyRecord>, Error> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE status <> 'active' AND NOT private_destroyed"
        );
        all(self.query(&sql, &[])?, key_row)
    }

    fn max_issued_at(&mut self, workspace_id: &str) -> Result<Option<i64>, Error> {
        let row = self.query_opt(
            "SELECT MAX(issued_at_ms) FROM receipts WHERE workspace_id = $1",
            &[&workspace_id],
        )?;
        Ok(match row {
            Some(r) => get(&r, 0)?,
            None => None,
        })
    }

    fn idempotent_response(
        &mut self,
        workspace_id: &str,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, Error> {
        self.query_opt(
            "SELECT request_hash, status, body FROM idempotency \
             WHERE workspace_id = $1 AND idempotency_key = $2",
            &[&workspace_id, &key],
        )?
        .map(|r| {
            Ok(IdempotentResponse {
                request_hash: get(&r, 0)?,
                status: u16::try_from(get::<i64>(&r, 1)?)
                    .map_err(|_| Error::internal("stored status out of range"))?,
                body: get(&r, 2)?,
            })
        })
        .transpose()
    }

    fn sealed_private_key(&mut self, kid: &str) -> Result<Option<String>, Error> {
        let row = self.query_opt(
            "SELECT sealed_private FROM signing_keys WHERE kid = $1",
            &[&kid],
        )?;
        Ok(match row {
            Some(r) => get(&r, 0)?,
            None => None,
        })
    }

    fn sealed_private_keys(&mut self) -> Result<Vec<(String, String)>, Error> {
        let rows = self.query(
            "SELECT kid, sealed_private FROM signing_keys WHERE sealed_private IS NOT NULL ORDER BY kid",
            &[],
        )?;
        all(rows, |r| Ok((get(r, 0)?, get(r, 1)?)))
    }
}

impl Tx for PgConn<'_> {
    fn insert_workspace(&mut self, workspace_id: &str, now_ms: i64) -> Result<(), Error> {
        self.execute(
            "INSERT INTO workspaces (workspace_id, created_at_ms) VALUES ($1, $2)",
            &[&workspace_id, &now_ms],
        )
        .map(drop)
    }

    fn insert_api_key(
        &mut self,
        key_hash: &str,
        workspace_id: &str,
        now_ms: i64,
    ) -> Result<(), Error> {
        self.execute(
            "INSERT INTO api_keys (key_hash, workspace_id, created_at_ms) VALUES ($1, $2, $3)",
            &[&key_hash, &workspace_id, &now_ms],
        )
        .map(drop)
    }

    fn insert_key(&mut self, k: &KeyRecord) -> Result<(), Error> {
        self.execute(
            "INSERT INTO signing_keys (kid, workspace_id, x, status, not_before_ms, not_after_ms, \
             private_destroyed) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &k.kid,
                &k.workspace_id,
                &k.x,
                &k.status,
                &k.not_before_ms,
                &k.not_after_ms,
                &k.private_destroyed,
            ],
        )
        .map(drop)
    }

    fn keys_for_append(&mut self, workspace_id: &str) -> Result<Vec<KeyRecord>, Error> {
        // The lock, then the read in a statement of its own (in the same
        // round trip): under READ COMMITTED that statement sees a rotation
        // that committed while this unit waited for the lock.
        let (class, n) = keys_lock(workspace_id);
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE workspace_id = $1 ORDER BY not_before_ms, kid"
        );
        let (_, keys) = self.query_pair(
            ("SELECT pg_advisory_xact_lock_shared($1, $2)", &[&class, &n]),
            (&sql, &[&workspace_id]),
        )?;
        all(keys, key_row)
    }

    fn lock_keys(&mut self, workspace_id: &str) -> Result<(), Error> {
        let (class, n) = keys_lock(workspace_id);
        self.query("SELECT pg_advisory_xact_lock($1, $2)", &[&class, &n])
            .map(drop)
    }

    fn update_key(&mut self, k: &KeyRecord) -> Result<(), Error> {
        self.execute(
            "UPDATE signing_keys SET status = $1, not_after_ms = $2, private_destroyed = $3 WHERE kid = $4",
            &[&k.status, &k.not_after_ms, &k.private_destroyed, &k.kid],
        )
        .map(drop)
    }

    fn lock_authorization(
        &mut self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<Authorization>, Error> {
        // The lock, and in the same round trip the scope states, read once
        // it is held: nobody else changes them until this unit ends.
        let sql = format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE authorization_id = $1 \
             AND workspace_id = $2 FOR UPDATE"
        );
        let (auth, states) =
            self.query_pair((&sql, &[&id, &workspace_id]), (SCOPE_STATES, &[&id]))?;
        let auth = match auth.first() {
            Some(r) => auth_row(r)?,
            None => return Ok(None),
        };
        self.states = Some((auth.id.clone(), all(states, scope_row)?));
        Ok(Some(auth))
    }

    fn insert_authorization(&mut self, a: &Authorization) -> Result<(), Error> {
        let grant = json_text(&a.grant)?;
        let next_seq = a.next_seq as i64;
        self.execute(
            "INSERT INTO authorizations (authorization_id, workspace_id, grant_json, created_at_ms, \
             budget_spent_micros, revoked_at_ms, revoked_by, next_seq, head_hash, head_issued_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &a.id,
                &a.workspace_id,
                &grant,
                &a.created_at_ms,
                &a.budget_spent_micros,
                &a.revoked_at_ms,
                &a.revoked_by,
                &next_seq,
                &a.head_hash,
                &a.head_issued_at_ms,
            ],
        )
        .map(drop)
    }

    fn update_authorization(&mut self, a: &Authorization) -> Result<(), Error> {
        let next_seq = a.next_seq as i64;
        self.execute(
            "UPDATE authorizations SET budget_spent_micros = $1, revoked_at_ms = $2, revoked_by = $3, \
             next_seq = $4, head_hash = $5, head_issued_at_ms = $6 WHERE authorization_id = $7",
            &[
                &a.budget_spent_micros,
                &a.revoked_at_ms,
                &a.revoked_by,
                &next_seq,
                &a.head_hash,
                &a.head_issued_at_ms,
                &a.id,
            ],
        )
        .map(drop)
    }

    fn put_scope_state(&mut self, authorization_id: &str, s: &ScopeState) -> Result<(), Error> {
        self.states = None;
        let grants = i64::from(s.escalation_grants);
        let allowed = s.allowed_today as i64;
        self.execute(
            "INSERT INTO scope_states (authorization_id, scope, confirmed_until_ms, confirm_denied, \
             escalation_grants, escalation_denied, day, allowed_today) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (authorization_id, scope) DO UPDATE SET \
             confirmed_until_ms = excluded.confirmed_until_ms, confirm_denied = excluded.confirm_denied, \
             escalation_grants = excluded.escalation_grants, escalation_denied = excluded.escalation_denied, \
             day = excluded.day, allowed_today = excluded.allowed_today",
            &[
                &authorization_id,
                &s.scope,
                &s.confirmed_until_ms,
                &s.confirm_denied,
                &grants,
                &s.escalation_denied,
                &s.day,
                &allowed,
            ],
        )
        .map(drop)
    }

    fn append_receipt(&mut self, r: &NewReceipt) -> Result<(), Error> {
        let seq = r.seq as i64;
        self.execute(
            "INSERT INTO receipts (receipt_id, workspace_id, authorization_id, seq, kind, kid, \
             issued_at_ms, payload, hash, sig) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
            &[
                &r.receipt_id,
                &r.workspace_id,
                &r.authorization_id,
                &seq,
                &r.kind,
                &r.kid,
                &r.issued_at_ms,
                &r.payload,
                &r.hash,
            ],
        )
        .map(drop)
    }

    fn insert_pending(&mut self, kind: PendingKind, p: &Pending) -> Result<(), Error> {
        let (table, column) = kind.table();
        let sql = format!(
            "INSERT INTO {table} ({column}, workspace_id, authorization_id, scope, target, status, \
             created_at_ms, resolved_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)"
        );
        self.execute(
            &sql,
            &[
                &p.id,
                &p.workspace_id,
                &p.authorization_id,
                &p.scope,
                &p.target,
                &p.status,
                &p.created_at_ms,
            ],
        )
        .map(drop)
    }

    fn set_pending_status(
        &mut self,
        kind: PendingKind,
        id: &str,
        status: &str,
        now_ms: i64,
    ) -> Result<(), Error> {
        let (table, column) = kind.table();
        let sql =
            format!("UPDATE {table} SET status = $1, resolved_at_ms = $2 WHERE {column} = $3");
        self.execute(&sql, &[&status, &now_ms, &id]).map(drop)
    }

    fn put_idempotent_response(
        &mut self,
        workspace_id: &str,
        key: &str,
        r: &IdempotentResponse,
        now_ms: i64,
    ) -> Result<(), Error> {
        let status = i64::from(r.status);
        self.execute(
            "INSERT INTO idempotency (workspace_id, idempotency_key, request_hash, status, body, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &workspace_id,
                &key,
                &r.request_hash,
                &status,
                &r.body,
                &now_ms,
            ],
        )
        .map(drop)
    }

    fn purge_idempotency(&mut self, before_ms: i64) -> Result<u64, Error> {
        self.execute(
            "DELETE FROM idempotency WHERE created_at_ms < $1",
            &[&before_ms],
        )
    }

    fn insert_bundle(&mut self, workspace_id: &str, b: &Bundle) -> Result<bool, Error> {
        let json = json_text(b)?;
        let n = self.execute(
            "INSERT INTO bundles (workspace_id, bundle_id, bundle_json, created_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, bundle_id) DO NOTHING",
            &[&workspace_id, &b.bundle_id, &json, &b.created_at_ms],
        )?;
        Ok(n == 1)
    }

    fn set_signatures(&mut self, signatures: &[(String, String)]) -> Result<u64, Error> {
        if signatures.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = signatures.iter().map(|(id, _)| id.as_str()).collect();
        let sigs: Vec<&str> = signatures.iter().map(|(_, s)| s.as_str()).collect();
        // One statement for the batch.
        self.execute(
            "UPDATE receipts AS r SET sig = v.sig \
             FROM unnest($1::TEXT[], $2::TEXT[]) AS v (id, sig) \
             WHERE r.receipt_id = v.id AND r.sig IS NULL",
            &[&ids, &sigs],
        )
    }

    fn claim_pending(
        &mut self,
        limit: usize,
        skip_kids: &[String],
    ) -> Result<Vec<Unsigned>, Error> {
        let limit = limit as i64;
        let rows = self.query(
            "SELECT receipt_id, kid, payload, issued_at_ms FROM receipts \
             WHERE sig IS NULL AND NOT (kid = ANY($2::TEXT[])) \
             ORDER BY kid, receipt_id LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[&limit, &skip_kids],
        )?;
        all(rows, unsigned_row)
    }

    fn put_sealed_private_key(&mut self, kid: &str, sealed: &str) -> Result<bool, Error> {
        // Never brings back a key destroyed meanwhile.
        let n = self.execute(
            "UPDATE signing_keys SET sealed_private = $2 WHERE kid = $1 AND NOT private_destroyed",
            &[&kid, &sealed],
        )?;
        Ok(n == 1)
    }

    fn destroy_sealed_private_key(&mut self, kid: &str) -> Result<bool, Error> {
        let n = self.execute(
            "UPDATE signing_keys SET sealed_private = NULL, private_destroyed = TRUE \
             WHERE kid = $1 AND status <> 'active' AND NOT private_destroyed \
             AND NOT EXISTS (SELECT 1 FROM receipts WHERE kid = $1 AND sig IS NULL)",
            &[&kid],
        )?;
        Ok(n == 1)
    }
}
