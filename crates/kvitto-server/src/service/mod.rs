//! The units of work behind each API call: validate, decide, extend the
//! chain (every payload built with `kvitto_core::sign::payload` and checked
//! with `check_payload` before anything is stored), apply the state
//! changes, and answer — all in one store transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvitto_core::sign::{self, Common};
use kvitto_core::{Hash, Kind, Value};
use sha2::{Digest, Sha256};

use crate::clock::{now_ms, parse_ms, rfc3339_ms, utc_day};
use crate::decide::{self, Decision};
use crate::keys::KeyVault;
use crate::metrics::Metrics;
use crate::model::{
    Authorization, Bundle, Grant, IdempotentResponse, KeyRecord, NewReceipt, Pending, ScopeGrant,
    ScopeState,
};
use crate::signer::Signer;
use crate::store::{self, PendingKind, Store, Tx};
use crate::validate::{self, MAX_CHECK_SCOPES, MAX_SCOPES, MAX_TEXT_BYTES, MAX_TTL_SECONDS};
use crate::wire;
use crate::{Error, ids};

mod admin;
mod chain;
mod check;
mod grant;
mod views;

pub use admin::{create_workspace_unit, reseal_unit, revoke_key_unit, rotate_unit};
use chain::{active_key, append, int, nullable, strings};
pub use check::Check;
use check::check_unit;
use grant::{build_grant, created_members, scope_grants, scope_rules};
pub use views::{authorization_view, bundle_view};

/// How long an API key lookup is cached.
const AUTH_CACHE_TTL: Duration = Duration::from_secs(60);
/// Default confirmation approval.
pub const DEFAULT_TTL_SECONDS: i64 = 300;

/// The running service: the store, the key files, the signer and metrics.
pub struct App {
    pub store: Arc<dyn Store>,
    pub keys: KeyVault,
    pub metrics: Arc<Metrics>,
    pub signer: Arc<Signer>,
    /// How long an export waits for pending receipts before answering 503.
    pub export_wait: Duration,
    auth_cache: Mutex<HashMap<String, (String, std::time::Instant)>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// An `Idempotency-Key` and the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct Idem {
    pub key: String,
    pub request_hash: String,
}

impl Idem {
    /// The key with the hash of method, path and body.
    pub fn new(key: &str, method: &str, path: &str, body: &[u8]) -> Result<Idem, Error> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::member(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        let mut h = Sha256::new();
        h.update(method.as_bytes());
        h.update(b" ");
        h.update(path.as_bytes());
        h.update(b"\n");
        h.update(body);
        Ok(Idem {
            key: key.to_owned(),
            request_hash: ids::hex(&h.finalize()),
        })
    }
}

/// A JSON answer: status and body, and whether it is a stored first response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
    /// Receipts this unit appended (0 for a replay).
    pub receipts: usize,
    /// For checks: the decisions, for metrics.
    pub decisions: Vec<Decision>,
}

impl Reply {
    /// A first response of a unit that appended one receipt.
    fn appended(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            replayed: false,
            receipts: 1,
            decisions: Vec::new(),
        }
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::internal(format!("serializing: {e}")))
}

/// Run `f` unless `idem` names a stored response: the same request gets the
/// stored response and nothing is written; another request is a 422. A
/// successful first response is stored with the unit's other writes.
fn idempotent(
    tx: &mut dyn Tx,
    workspace_id: &str,
    idem: Option<&Idem>,
    now: i64,
    f: impl FnOnce(&mut dyn Tx) -> Result<Reply, Error>,
) -> Result<Reply, Error> {
    if let Some(i) = idem
        && let Some(stored) = tx.idempotent_response(workspace_id, &i.key)?
    {
        if stored.request_hash != i.request_hash {
            return Err(Error::IdempotencyKeyReused);
        }
        return Ok(Reply {
            status: stored.status,
            body: stored.body,
            replayed: true,
            receipts: 0,
            decisions: Vec::new(),
        });
    }
    let reply = f(tx)?;
    if let Some(i) = idem {
        let stored = IdempotentResponse {
            request_hash: i.request_hash.clone(),
            status: reply.status,
            body: reply.body.clone(),
        };
        tx.put_idempotent_response(workspace_id, &i.key, &stored, now)?;
    }
    Ok(reply)
}

/// An answer to a confirmation (`ttl_seconds`) or an escalation (`resolved_by`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub approved: bool,
    pub ttl_seconds: Option<i64>,
    pub resolved_by: Option<String>,
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        keys: KeyVault,
        metrics: Arc<Metrics>,
        signer: Arc<Signer>,
        export_wait: Duration,
    ) -> App {
        App {
            store,
            keys,
            metrics,
            signer,
            export_wait,
            auth_cache: Mutex::new(HashMap::new()),
        }
    }

    fn receipt_ref(&self, receipt_id: &str, now: i64) -> wire::ReceiptRef {
        wire::ReceiptRef {
            status: "pending".into(),
            receipt_id: receipt_id.to_owned(),
            url: format!("/v1/receipts/{receipt_id}"),
            ready_at_estimate: rfc3339_ms(now + self.signer.lag_estimate_ms()),
        }
    }

    /// The workspace of an API key (`Authorization: Bearer …`).
    pub async fn authenticate(&self, api_key: &str) -> Result<String, Error> {
        let hash = ids::api_key_hash(api_key);
        if let Some((ws, at)) = self
            .auth_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            && at.elapsed() < AUTH_CACHE_TTL
        {
            return Ok(ws.clone());
        }
        let h = hash.clone();
        let ws = store::read(self.store.clone(), move |r| r.api_key_workspace(&h)).await?;
        match ws {
            Some(ws) => {
                let mut cache = self.auth_cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(hash, (ws.clone(), std::time::Instant::now()));
                Ok(ws)
            }
            None => Err(Error::Unauthorized {
                message: "unknown API key".into(),
            }),
        }
    }

    /// Run a unit that builds a reply; wake the signer when it appended receipts.
    async fn run(
        &self,
        f: impl FnMut(&mut dyn Tx) -> Result<Reply, Error> + Send + 'static,
    ) -> Result<Reply, Error> {
        let reply = store::transact(&*self.store, f).await?;
        if reply.receipts > 0 {
            self.signer.added(reply.receipts);
        }
        Ok(reply)
    }

    /// `POST /v1/authorizations`.
    pub async fn create_authorization(
        self: &Arc<Self>,
        ws: String,
        req: wire::CreateAuthorization,
        idem: Option<Idem>,
    ) -> Result<Reply, Error> {
        // Validate what needs no database first, so bad input never queues.
        if req.bundle_id.is_none() {
            build_grant(&req, None, now_ms())?;
        } else if let Some(b) = &req.bundle_id {
            validate::id("bundle_id", b)?;
        }
        let app = self.clone();
        self.run(move |tx| {
            let now = now_ms();
            idempotent(tx, &ws, idem.as_ref(), now, |tx| {
                let bundle = match &req.bundle_id {
                    Some(b) => Some(tx.bundle(&ws, b)?.ok_or_else(|| {
                        Error::not_found(
                            "bundle_not_found",
                            format!("no bundle {b:?} in this workspace"),
                        )
                    })?),
                    None => None,
                };
                let grant = build_grant(&req, bundle.as_ref(), now)?;
                let members = created_members(&grant)?;
                let key = active_key(tx, &ws)?;
                let mut auth =
                    Authorization::new(ids::new_id("auth_", now)?, ws.clone(), grant, now);
                tx.insert_authorization(&auth)?;
                let (rid, _) = append(
                    tx,
                    &mut auth,
                    &key,
                    Kind::AuthorizationCreated,
                    members,
                    now,
                )?;
                tx.update_authorization(&auth)?;
                Ok(Reply::appended(
                    201,
                    json(&wire::Created {
                        authorization_id: auth.id.clone(),
                        receipt: app.receipt_ref(&rid, now),
                    })?,
                ))
            })
        })
        .await
    }

    /// `POST /v1/check`.
    pub async fn check(
        self: &Arc<Self>,
        ws: String,
        check: Check,
        idem: Option<Idem>,
    ) -> Result<Reply, Error> {
        let app = self.clone();
        let reply = self
            .run(move |tx| {
                let now = now_ms();
                idempotent(tx, &ws, idem.as_ref(), now, |tx| {
                    check_unit(&app, tx, &ws, &check, now)
                })
            })
            .await?;
        for d in &reply.decisions {
            self.metrics.check(*d);
        }
        Ok(reply)
    }

    /// `POST /v1/authorizations/{id}/revoke`.
    pub async fn revoke(
        self: &Arc<Self>,
        ws: String,
        id: String,
        revoked_by: String,
        idem: Option<Idem>,
    ) -> Result<Reply, Error> {
        validate::id("authorization_id", &id).map_err(|_| not_found_auth(&id))?;
        validate::text("revoked_by", &revoked_by, MAX_TEXT_BYTES)?;
        let app = self.clone();
        self.run(move |tx| {
            let now = now_ms();
            idempotent(tx, &ws, idem.as_ref(), now, |tx| {
                let mut auth = tx
                    .lock_authorization(&ws, &id)?
                    .ok_or_else(|| not_found_auth(&id))?;
                if auth.revoked_at_ms.is_some() {
                    return Err(Error::conflict(
                        "authorization_revoked",
                        "the authorization is already revoked",
                    ));
                }
                let key = active_key(tx, &ws)?;
                let members = vec![("revoked_by", Value::from(revoked_by.as_str()))];
                let (rid, at) = append(
                    tx,
                    &mut auth,
                    &key,
                    Kind::AuthorizationRevoked,
                    members,
                    now,
                )?;
                auth.revoked_at_ms = Some(at);
                auth.revoked_by = Some(revoked_by.clone());
                tx.update_authorization(&auth)?;
                Ok(Reply::appended(
                    200,
                    json(&wire::ReceiptOnly {
                        receipt: app.receipt_ref(&rid, now),
                    })?,
                ))
            })
        })
        .await
    }

    /// `POST /v1/confirmations/{nonce}` and `POST /v1/escalations/{id}/resolve`.
    pub async fn resolve(
        self: &Arc<Self>,
        ws: String,
        kind: PendingKind,
        id: String,
        answer: Answer,
        idem: Option<Idem>,
    ) -> Result<Reply, Error> {
        let Answer {
            approved,
            ttl_seconds,
            resolved_by,
        } = answer;
        let (code, what) = match kind {
            PendingKind::Confirmation => ("confirmation_not_found", "confirmation"),
            PendingKind::Escalation => ("escalation_not_found", "escalation"),
        };
        let not_found = move |id: &str| {
            Error::not_found(code, format!("no pending {what} {id:?} in this workspace"))
        };
        if !kvitto_core::receipt::is_id(&id) {
            return Err(not_found(&id));
        }
        let ttl = ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
        if !(0..=MAX_TTL_SECONDS).contains(&ttl) {
            return Err(Error::member(
                "ttl_seconds",
                format!("must be 0 to {MAX_TTL_SECONDS}"),
            ));
        }
        if let Some(by) = &resolved_by {
            validate::text("resolved_by", by, MAX_TEXT_BYTES)?;
        }
        let app = self.clone();
        self.run(move |tx| {
            let now = now_ms();
            idempotent(tx, &ws, idem.as_ref(), now, |tx| {
                let found = tx.pending(kind, &ws, &id)?.ok_or_else(|| not_found(&id))?;
                let mut auth = tx
                    .lock_authorization(&ws, &found.authorization_id)?
                    .ok_or_else(|| Error::internal("pending item without its authorization"))?;
                // Read again under the authorization's lock: a resolution of
                // the same item that committed meanwhile (on another
                // instance) is seen, so an item resolves only once.
                let pending = tx.pending(kind, &ws, &id)?.ok_or_else(|| not_found(&id))?;
                if pending.status != "pending" {
                    return Err(Error::conflict(
                        "already_resolved",
                        format!("this {what} was already resolved ({})", pending.status),
                    ));
                }
                if auth.revoked_at_ms.is_some() {
                    return Err(Error::conflict(
                        "authorization_revoked",
                        "the authorization is revoked; nothing can follow",
                    ));
                }
                let state = tx
                    .scope_states(&auth.id)?
                    .into_iter()
                    .find(|s| s.scope == pending.scope)
                    .unwrap_or_else(|| ScopeState::new(&pending.scope));
                let (new_state, receipt_kind, members) = match kind {
                    PendingKind::Confirmation => (
                        decide::resolve_confirmation(&state, approved, ttl, now),
                        Kind::ConfirmationResolved,
                        vec![
                            ("scope", Value::from(pending.scope.as_str())),
                            ("confirm_nonce", Value::from(id.as_str())),
                            ("approved", Value::from(approved)),
                            ("ttl_seconds", int(ttl)),
                        ],
                    ),
                    PendingKind::Escalation => (
                        decide::resolve_escalation(&state, approved),
                        Kind::EscalationResolved,
                        vec![
                            ("scope", Value::from(pending.scope.as_str())),
                            ("escalation_id", Value::from(id.as_str())),
                            ("approved", Value::from(approved)),
                            (
                                "resolved_by",
                                Value::from(resolved_by.as_deref().unwrap_or("")),
                            ),
                        ],
                    ),
                };
                let key = active_key(tx, &ws)?;
                let (rid, _) = append(tx, &mut auth, &key, receipt_kind, members, now)?;
                tx.put_scope_state(&auth.id, &new_state)?;
                tx.set_pending_status(
                    kind,
                    &id,
                    if approved { "approved" } else { "rejected" },
                    now,
                )?;
                tx.update_authorization(&auth)?;
                Ok(Reply::appended(
                    200,
                    json(&wire::ReceiptOnly {
                        receipt: app.receipt_ref(&rid, now),
                    })?,
                ))
            })
        })
        .await
    }

    /// `POST /v1/bundles`.
    pub async fn create_bundle(
        self: &Arc<Self>,
        ws: String,
        req: wire::CreateBundle,
        idem: Option<Idem>,
    ) -> Result<Reply, Error> {
        validate::id("bundle_id", &req.bundle_id)?;
        validate::id("agent_id", &req.agent_id)?;
        let scopes = scope_grants("scopes", &req.scopes)?;
        scope_rules(
            &scopes,
            &req.requires_confirm_for,
            &req.requires_escalation_for,
            &req.escalation_targets,
        )?;
        if let Some(b) = req.budget_limit_micros {
            validate::micros("budget_limit_micros", b)?;
        }
        self.run(move |tx| {
            let now = now_ms();
            idempotent(tx, &ws, idem.as_ref(), now, |tx| {
                let bundle = Bundle {
                    bundle_id: req.bundle_id.clone(),
                    agent_id: req.agent_id.clone(),
                    scopes: scopes.clone(),
                    requires_confirm_for: req.requires_confirm_for.clone(),
                    requires_escalation_for: req.requires_escalation_for.clone(),
                    escalation_targets: req.escalation_targets.clone(),
                    budget_limit_micros: req.budget_limit_micros,
                    created_at_ms: now,
                };
                if !tx.insert_bundle(&ws, &bundle)? {
                    return Err(Error::conflict(
                        "bundle_exists",
                        format!("bundle {:?} exists already", bundle.bundle_id),
                    ));
                }
                let body = json(&bundle_view(&bundle))?;
                Ok(Reply {
                    status: 201,
                    body,
                    replayed: false,
                    receipts: 0,
                    decisions: Vec::new(),
                })
            })
        })
        .await
    }

    /// `POST /v1/workspaces/{id}/keys/rotate` and `kvitto-server keys rotate`.
    pub async fn rotate(self: &Arc<Self>, ws: String, idem: Option<Idem>) -> Result<Reply, Error> {
        let keys = self.keys.clone();
        let reply = self
            .run(move |tx| {
                let now = now_ms();
                idempotent(tx, &ws, idem.as_ref(), now, |tx| {
                    let r = rotate_unit(tx, &keys, &ws, now)?;
                    Ok(Reply {
                        status: 200,
                        body: json(&r)?,
                        replayed: false,
                        receipts: 0,
                        decisions: Vec::new(),
                    })
                })
            })
            .await?;
        self.signer.wake();
        Ok(reply)
    }
}

fn not_found_auth(id: &str) -> Error {
    Error::not_found(
        "authorization_not_found",
        format!("no authorization {id:?} in this workspace"),
    )
}
