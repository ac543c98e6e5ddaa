//! The SQL of every `Read` and `Tx` method, on one connection.

use super::*;

/// A connection inside a transaction (the writer's) or a snapshot (a reader's).
pub(super) struct Conn<'c>(pub(super) &'c Connection);

impl Conn<'_> {
    /// Up to `limit` unsigned receipts, oldest first per key, none of `skip_kids`.
    pub(super) fn unsigned(
        &self,
        limit: usize,
        skip_kids: &[String],
    ) -> Result<Vec<Unsigned>, Error> {
        let mut s = self
            .0
            .prepare_cached(
                "SELECT receipt_id, kid, payload, issued_at_ms FROM receipts WHERE sig IS NULL \
                 ORDER BY kid, receipt_id",
            )
            .map_err(db)?;
        let rows = s
            .query_map([], |r| {
                Ok(Unsigned {
                    receipt_id: r.get(0)?,
                    kid: r.get(1)?,
                    payload: r.get(2)?,
                    issued_at_ms: r.get(3)?,
                })
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let u = row.map_err(db)?;
            if skip_kids.contains(&u.kid) {
                continue;
            }
            out.push(u);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

fn key_row(r: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        kid: r.get(0)?,
        workspace_id: r.get(1)?,
        x: r.get(2)?,
        status: r.get(3)?,
        not_before_ms: r.get(4)?,
        not_after_ms: r.get(5)?,
        private_destroyed: r.get(6)?,
    })
}

const KEY_COLUMNS: &str =
    "kid, workspace_id, x, status, not_before_ms, not_after_ms, private_destroyed";

const AUTH_COLUMNS: &str = "authorization_id, workspace_id, grant_json, created_at_ms, \
     budget_spent_micros, revoked_at_ms, revoked_by, next_seq, head_hash, head_issued_at_ms";

fn auth_row(r: &Row<'_>) -> rusqlite::Result<(Authorization, String)> {
    let grant_json: String = r.get(2)?;
    Ok((
        Authorization {
            id: r.get(0)?,
            workspace_id: r.get(1)?,
            grant: crate::model::Grant {
                user_id: String::new(),
                agent_id: String::new(),
                scopes: Vec::new(),
                requires_confirm_for: Vec::new(),
                requires_escalation_for: Vec::new(),
                escalation_targets: Default::default(),
                expires_at_ms: None,
                budget_limit_micros: None,
                metadata: Default::default(),
                bundle_id: None,
            },
            created_at_ms: r.get(3)?,
            budget_spent_micros: r.get(4)?,
            revoked_at_ms: r.get(5)?,
            revoked_by: r.get(6)?,
            next_seq: r.get::<_, i64>(7)? as u64,
            head_hash: r.get(8)?,
            head_issued_at_ms: r.get(9)?,
        },
        grant_json,
    ))
}

fn with_grant((mut a, json): (Authorization, String)) -> Result<Authorization, Error> {
    a.grant = serde_json::from_str(&json)
        .map_err(|e| Error::internal(format!("stored grant of {} unreadable: {e}", a.id)))?;
    Ok(a)
}

fn receipt_row(r: &Row<'_>) -> rusqlite::Result<StoredReceipt> {
    Ok(StoredReceipt {
        receipt_id: r.get(0)?,
        authorization_id: r.get(1)?,
        seq: r.get::<_, i64>(2)? as u64,
        kid: r.get(3)?,
        issued_at_ms: r.get(4)?,
        payload: r.get(5)?,
        sig: r.get(6)?,
    })
}

const RECEIPT_COLUMNS: &str = "receipt_id, authorization_id, seq, kid, issued_at_ms, payload, sig";

impl Read for Conn<'_> {
    fn workspace_exists(&mut self, workspace_id: &str) -> Result<bool, Error> {
        self.0
            .prepare_cached("SELECT 1 FROM workspaces WHERE workspace_id = $1")
            .and_then(|mut s| s.exists([workspace_id]))
            .map_err(db)
    }

    fn api_key_workspace(&mut self, key_hash: &str) -> Result<Option<String>, Error> {
        self.0
            .prepare_cached("SELECT workspace_id FROM api_keys WHERE key_hash = $1")
            .and_then(|mut s| s.query_row([key_hash], |r| r.get(0)).optional())
            .map_err(db)
    }

    fn keys(&mut self, workspace_id: &str) -> Result<Vec<KeyRecord>, Error> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE workspace_id = $1 ORDER BY not_before_ms, kid"
        );
        let mut s = self.0.prepare_cached(&sql).map_err(db)?;
        let rows = s.query_map([workspace_id], key_row).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn key(&mut self, kid: &str) -> Result<Option<KeyRecord>, Error> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE kid = $1");
        self.0
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([kid], key_row).optional())
            .map_err(db)
    }

    fn authorization(
        &mut self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<Authorization>, Error> {
        let sql = format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE authorization_id = $1 AND workspace_id = $2"
        );
        let row = self
            .0
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([id, workspace_id], auth_row).optional())
            .map_err(db)?;
        row.map(with_grant).transpose()
    }

    fn scope_states(&mut self, authorization_id: &str) -> Result<Vec<ScopeState>, Error> {
        let mut s = self
            .0
            .prepare_cached(
                "SELECT scope, confirmed_until_ms, confirm_denied, escalation_grants, \
                 escalation_denied, day, allowed_today FROM scope_states \
                 WHERE authorization_id = $1 ORDER BY scope",
            )
            .map_err(db)?;
        let rows = s
            .query_map([authorization_id], |r| {
                Ok(ScopeState {
                    scope: r.get(0)?,
                    confirmed_until_ms: r.get(1)?,
                    confirm_denied: r.get(2)?,
                    escalation_grants: r.get::<_, i64>(3)? as u32,
                    escalation_denied: r.get(4)?,
                    day: r.get(5)?,
                    allowed_today: r.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn receipt(
        &mut self,
        workspace_id: &str,
        receipt_id: &str,
    ) -> Result<Option<StoredReceipt>, Error> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE receipt_id = $1 AND workspace_id = $2"
        );
        self.0
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row([receipt_id, workspace_id], receipt_row)
                    .optional()
            })
            .map_err(db)
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
        let mut s = self.0.prepare_cached(&sql).map_err(db)?;
        let rows = s
            .query_map(params![authorization_id, after, limit as i64], receipt_row)
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn pending_count(
        &mut self,
        authorization_id: &str,
        after_seq: Option<u64>,
    ) -> Result<u64, Error> {
        let after = after_seq.map_or(-1, |s| s as i64);
        self.0
            .prepare_cached(
                "SELECT COUNT(*) FROM receipts WHERE authorization_id = $1 AND seq > $2 AND sig IS NULL",
            )
            .and_then(|mut s| s.query_row(params![authorization_id, after], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(db)
    }

    fn authorizations_in_range(
        &mut self,
        workspace_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<String>, Error> {
        let mut s = self
            .0
            .prepare_cached(
                "SELECT DISTINCT authorization_id FROM receipts WHERE workspace_id = $1 \
                 AND issued_at_ms >= $2 AND issued_at_ms < $3 ORDER BY authorization_id",
            )
            .map_err(db)?;
        let rows = s
            .query_map(params![workspace_id, since_ms, until_ms], |r| r.get(0))
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn bundle(&mut self, workspace_id: &str, bundle_id: &str) -> Result<Option<Bundle>, Error> {
        let json: Option<String> = self
            .0
            .prepare_cached(
                "SELECT bundle_json FROM bundles WHERE workspace_id = $1 AND bundle_id = $2",
            )
            .and_then(|mut s| {
                s.query_row([workspace_id, bundle_id], |r| r.get(0))
                    .optional()
            })
            .map_err(db)?;
        json.map(|j| {
            serde_json::from_str(&j)
                .map_err(|e| Error::internal(format!("stored bundle unreadable: {e}")))
        })
        .transpose()
    }

    fn bundles(&mut self, workspace_id: &str) -> Result<Vec<Bundle>, Error> {
        let mut s = self
            .0
            .prepare_cached(
                "SELECT bundle_json FROM bundles WHERE workspace_id = $1 ORDER BY bundle_id",
            )
            .map_err(db)?;
        let rows: Vec<String> = s
            .query_map([workspace_id], |r| r.get(0))
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?;
        rows.iter()
            .map(|j| {
                serde_json::from_str(j)
                    .map_err(|e| Error::internal(format!("stored bundle unreadable: {e}")))
            })
            .collect()
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
        self.0
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row([id, workspace_id], |r| {
                    Ok(Pending {
                        id: r.get(0)?,
                        workspace_id: r.get(1)?,
                        authorization_id: r.get(2)?,
                        scope: r.get(3)?,
                        target: r.get(4)?,
                        status: r.get(5)?,
                        created_at_ms: r.get(6)?,
                    })
                })
                .optional()
            })
            .map_err(db)
    }

    fn pending_receipts(&mut self, limit: usize) -> Result<Vec<Unsigned>, Error> {
        self.unsigned(limit, &[])
    }

    fn unsigned_count(&mut self, kid: Option<&str>) -> Result<u64, Error> {
        let n: i64 = match kid {
            Some(kid) => self
                .0
                .prepare_cached("SELECT COUNT(*) FROM receipts WHERE sig IS NULL AND kid = $1")
                .and_then(|mut s| s.query_row([kid], |r| r.get(0))),
            None => self
                .0
                .prepare_cached("SELECT COUNT(*) FROM receipts WHERE sig IS NULL")
                .and_then(|mut s| s.query_row([], |r| r.get(0))),
        }
        .map_err(db)?;
        Ok(n as u64)
    }

    fn keys_to_destroy(&mut self) -> Result<Vec<KeyRecord>, Error> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE status <> 'active' AND NOT private_destroyed"
        );
        let mut s = self.0.prepare_cached(&sql).map_err(db)?;
        let rows = s.query_map([], key_row).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn max_issued_at(&mut self, workspace_id: &str) -> Result<Option<i64>, Error> {
        self.0
            .prepare_cached("SELECT MAX(issued_at_ms) FROM receipts WHERE workspace_id = $1")
            .and_then(|mut s| s.query_row([workspace_id], |r| r.get(0)))
            .map_err(db)
    }

    fn idempotent_response(
        &mut self,
        workspace_id: &str,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, Error> {
        self.0
            .prepare_cached(
                "SELECT request_hash, status, body FROM idempotency \
                 WHERE workspace_id = $1 AND idempotency_key = $2",
            )
            .and_then(|mut s| {
                s.query_row([workspace_id, key], |r| {
                    Ok(IdempotentResponse {
                        request_hash: r.get(0)?,
                        status: r.get::<_, i64>(1)? as u16,
                        body: r.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(db)
    }
}

fn exec(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<usize, Error> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(p))
        .map_err(db)
}

impl Tx for Conn<'_> {
    fn insert_workspace(&mut self, workspace_id: &str, now_ms: i64) -> Result<(), Error> {
        exec(
            self.0,
            "INSERT INTO workspaces (workspace_id, created_at_ms) VALUES ($1, $2)",
            params![workspace_id, now_ms],
        )
        .map(drop)
    }

    fn insert_api_key(
        &mut self,
        key_hash: &str,
        workspace_id: &str,
        now_ms: i64,
    ) -> Result<(), Error> {
        exec(
            self.0,
            "INSERT INTO api_keys (key_hash, workspace_id, created_at_ms) VALUES ($1, $2, $3)",
            params![key_hash, workspace_id, now_ms],
        )
        .map(drop)
    }

    fn insert_key(&mut self, k: &KeyRecord) -> Result<(), Error> {
        exec(
            self.0,
            "INSERT INTO signing_keys (kid, workspace_id, x, status, not_before_ms, not_after_ms, \
             private_destroyed) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            params![
                k.kid,
                k.workspace_id,
                k.x,
                k.status,
                k.not_before_ms,
                k.not_after_ms,
                k.private_destroyed
            ],
        )
        .map(drop)
    }

    fn keys_for_append(&mut self, workspace_id: &str) -> Result<Vec<KeyRecord>, Error> {
        // The writer thread holds the database's write lock for the whole
        // transaction: no rotation can run beside this unit.
        self.keys(workspace_id)
    }

    fn lock_keys(&mut self, _workspace_id: &str) -> Result<(), Error> {
        Ok(())
    }

    fn update_key(&mut self, k: &KeyRecord) -> Result<(), Error> {
        exec(
            self.0,
            "UPDATE signing_keys SET status = $1, not_after_ms = $2, private_destroyed = $3 WHERE kid = $4",
            params![k.status, k.not_after_ms, k.private_destroyed, k.kid],
        )
        .map(drop)
    }

    fn lock_authorization(
        &mut self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<Authorization>, Error> {
        // The writer thread holds the database's write lock for the whole
        // transaction, so every read in a unit is already serialized.
        self.authorization(workspace_id, id)
    }

    fn insert_authorization(&mut self, a: &Authorization) -> Result<(), Error> {
        let grant = serde_json::to_string(&a.grant).map_err(|e| Error::internal(e.to_string()))?;
        exec(
            self.0,
            "INSERT INTO authorizations (authorization_id, workspace_id, grant_json, created_at_ms, \
             budget_spent_micros, revoked_at_ms, revoked_by, next_seq, head_hash, head_issued_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            params![
                a.id,
                a.workspace_id,
                grant,
                a.created_at_ms,
                a.budget_spent_micros,
                a.revoked_at_ms,
                a.revoked_by,
                a.next_seq as i64,
                a.head_hash,
                a.head_issued_at_ms
            ],
        )
        .map(drop)
    }

    fn update_authorization(&mut self, a: &Authorization) -> Result<(), Error> {
        exec(
            self.0,
            "UPDATE authorizations SET budget_spent_micros = $1, revoked_at_ms = $2, revoked_by = $3, \
             next_seq = $4, head_hash = $5, head_issued_at_ms = $6 WHERE authorization_id = $7",
            params![
                a.budget_spent_micros,
                a.revoked_at_ms,
                a.revoked_by,
                a.next_seq as i64,
                a.head_hash,
                a.head_issued_at_ms,
                a.id
            ],
        )
        .map(drop)
    }

    fn put_scope_state(&mut self, authorization_id: &str, s: &ScopeState) -> Result<(), Error> {
        exec(
            self.0,
            "INSERT INTO scope_states (authorization_id, scope, confirmed_until_ms, confirm_denied, \
             escalation_grants, escalation_denied, day, allowed_today) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (authorization_id, scope) DO UPDATE SET \
             confirmed_until_ms = excluded.confirmed_until_ms, confirm_denied = excluded.confirm_denied, \
             escalation_grants = excluded.escalation_grants, escalation_denied = excluded.escalation_denied, \
             day = excluded.day, allowed_today = excluded.allowed_today",
            params![
                authorization_id,
                s.scope,
                s.confirmed_until_ms,
                s.confirm_denied,
                i64::from(s.escalation_grants),
                s.escalation_denied,
                s.day,
                s.allowed_today as i64
            ],
        )
        .map(drop)
    }

    fn append_receipt(&mut self, r: &NewReceipt) -> Result<(), Error> {
        exec(
            self.0,
            "INSERT INTO receipts (receipt_id, workspace_id, authorization_id, seq, kind, kid, \
             issued_at_ms, payload, hash, sig) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
            params![
                r.receipt_id,
                r.workspace_id,
                r.authorization_id,
                r.seq as i64,
                r.kind,
                r.kid,
                r.issued_at_ms,
                r.payload,
                r.hash
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
        exec(
            self.0,
            &sql,
            params![
                p.id,
                p.workspace_id,
                p.authorization_id,
                p.scope,
                p.target,
                p.status,
                p.created_at_ms
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
        exec(self.0, &sql, params![status, now_ms, id]).map(drop)
    }

    fn put_idempotent_response(
        &mut self,
        workspace_id: &str,
        key: &str,
        r: &IdempotentResponse,
        now_ms: i64,
    ) -> Result<(), Error> {
        exec(
            self.0,
            "INSERT INTO idempotency (workspace_id, idempotency_key, request_hash, status, body, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            params![
                workspace_id,
                key,
                r.request_hash,
                i64::from(r.status),
                r.body,
                now_ms
            ],
        )
        .map(drop)
    }

    fn purge_idempotency(&mut self, before_ms: i64) -> Result<u64, Error> {
        exec(
            self.0,
            "DELETE FROM idempotency WHERE created_at_ms < $1",
            [before_ms],
        )
        .map(|n| n as u64)
    }

    fn insert_bundle(&mut self, workspace_id: &str, b: &Bundle) -> Result<bool, Error> {
        let json = serde_json::to_string(b).map_err(|e| Error::internal(e.to_string()))?;
        let n = exec(
            self.0,
            "INSERT INTO bundles (workspace_id, bundle_id, bundle_json, created_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, bundle_id) DO NOTHING",
            params![workspace_id, b.bundle_id, json, b.created_at_ms],
        )?;
        Ok(n == 1)
    }

    fn claim_pending(
        &mut self,
        limit: usize,
        skip_kids: &[String],
    ) -> Result<Vec<Unsigned>, Error> {
        // One writer: nothing else can hold these receipts.
        self.unsigned(limit, skip_kids)
    }

    fn set_signatures(&mut self, signatures: &[(String, String)]) -> Result<u64, Error> {
        let mut n = 0;
        for (id, sig) in signatures {
            n += exec(
                self.0,
                "UPDATE receipts SET sig = $1 WHERE receipt_id = $2 AND sig IS NULL",
                [sig, id],
            )? as u64;
        }
        Ok(n)
    }
}
