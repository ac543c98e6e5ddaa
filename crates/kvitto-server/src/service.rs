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
use crate::keys::KeyFiles;
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

/// How long an API key lookup is cached.
const AUTH_CACHE_TTL: Duration = Duration::from_secs(60);
/// Default confirmation approval.
pub const DEFAULT_TTL_SECONDS: i64 = 300;

/// The running service: the store, the key files, the signer and metrics.
pub struct App {
    pub store: Arc<dyn Store>,
    pub keys: KeyFiles,
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

/// The active key of a workspace.
fn active_key(tx: &mut dyn Tx, workspace_id: &str) -> Result<KeyRecord, Error> {
    tx.keys(workspace_id)?
        .into_iter()
        .find(|k| k.status == "active")
        .ok_or_else(|| Error::internal(format!("workspace {workspace_id} has no active key")))
}

/// A member error of `check_payload`, as a 400 naming the member.
fn payload_error(e: kvitto_core::Error) -> Error {
    match e {
        kvitto_core::Error::BadStructure { path, reason } => {
            let member = path.strip_prefix("payload.").unwrap_or(&path).to_owned();
            Error::member(member, reason)
        }
        kvitto_core::Error::TooLarge { size, limit } => Error::member(
            "body",
            format!("the receipt would be {size} bytes, over the contract's limit of {limit}"),
        ),
        other => Error::member(
            "body",
            format!("the receipt would be invalid: {}: {other}", other.code()),
        ),
    }
}

/// Append a receipt of `kind` to `auth`'s chain: seq and prev from the
/// head, issued_at = max(now, the previous receipt's, the key's not_before),
/// payload checked as a verifier will check it. Returns its id and instant.
fn append(
    tx: &mut dyn Tx,
    auth: &mut Authorization,
    key: &KeyRecord,
    kind: Kind,
    members: Vec<(&str, Value)>,
    now: i64,
) -> Result<(String, i64), Error> {
    let issued = now.max(auth.head_issued_at_ms).max(key.not_before_ms);
    if key.not_after_ms.is_some_and(|end| issued >= end) {
        return Err(Error::internal(format!("key {} no longer signs", key.kid)));
    }
    let receipt_id = ids::new_id("rcpt_", now)?;
    let issued_at = rfc3339_ms(issued);
    let prev = if auth.next_seq == 0 {
        None
    } else {
        Some(
            Hash::parse_strict(&auth.head_hash)
                .ok_or_else(|| Error::internal(format!("bad chain head of {}", auth.id)))?,
        )
    };
    let common = Common {
        receipt_id: &receipt_id,
        workspace_id: &auth.workspace_id,
        authorization_id: &auth.id,
        seq: auth.next_seq,
        prev,
        issued_at: &issued_at,
        kid: &key.kid,
    };
    let payload = sign::payload(kind, &common, members);
    sign::check_payload(&payload).map_err(payload_error)?;
    let canonical = kvitto_core::jcs::to_vec(&payload);
    let hash = Hash::of(&canonical).to_string();
    let text = String::from_utf8(canonical).map_err(|e| Error::internal(e.to_string()))?;
    tx.append_receipt(&NewReceipt {
        receipt_id: receipt_id.clone(),
        workspace_id: auth.workspace_id.clone(),
        authorization_id: auth.id.clone(),
        seq: auth.next_seq,
        kind: kind.as_str(),
        kid: key.kid.clone(),
        issued_at_ms: issued,
        payload: text,
        hash: hash.clone(),
    })?;
    auth.next_seq += 1;
    auth.head_hash = hash;
    auth.head_issued_at_ms = issued;
    Ok((receipt_id, issued))
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::from(s.as_str())).collect())
}

fn nullable(s: Option<&str>) -> Value {
    s.map(Value::from).unwrap_or(Value::Null)
}

fn int(n: i64) -> Value {
    Value::from(n)
}

/// The scope list of a grant, validated: 1 to 256 distinct names.
fn scope_grants(member: &str, specs: &[wire::ScopeSpec]) -> Result<Vec<ScopeGrant>, Error> {
    if specs.is_empty() || specs.len() > MAX_SCOPES {
        return Err(Error::member(
            member,
            format!("must hold 1 to {MAX_SCOPES} scopes"),
        ));
    }
    let mut out: Vec<ScopeGrant> = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        validate::scope(&format!("{member}[{i}]"), &s.name)?;
        if out.iter().any(|g| g.name == s.name) {
            return Err(Error::member(
                format!("{member}[{i}]"),
                format!("scope {:?} is listed twice", s.name),
            ));
        }
        if let Some(n) = s.max_per_day
            && n > validate::MAX_MICROS as u64
        {
            return Err(Error::member(
                format!("{member}[{i}].constraints.max_per_day"),
                "is too large",
            ));
        }
        out.push(ScopeGrant {
            name: s.name.clone(),
            max_per_day: s.max_per_day,
        });
    }
    Ok(out)
}

/// requires_confirm_for / requires_escalation_for / escalation_targets, checked against the scopes.
fn scope_rules(
    scopes: &[ScopeGrant],
    confirm: &[String],
    escalate: &[String],
    targets: &BTreeMap<String, String>,
) -> Result<(), Error> {
    for (member, list) in [
        ("requires_confirm_for", confirm),
        ("requires_escalation_for", escalate),
    ] {
        for (i, s) in list.iter().enumerate() {
            if !scopes.iter().any(|g| &g.name == s) {
                return Err(Error::member(
                    format!("{member}[{i}]"),
                    format!("{s:?} is not one of the granted scopes"),
                ));
            }
            if list[..i].contains(s) {
                return Err(Error::member(
                    format!("{member}[{i}]"),
                    format!("{s:?} is listed twice"),
                ));
            }
        }
    }
    for (scope, target) in targets {
        if !escalate.contains(scope) {
            return Err(Error::member(
                format!("escalation_targets.{scope}"),
                "names a scope that is not in requires_escalation_for",
            ));
        }
        validate::text(
            &format!("escalation_targets.{scope}"),
            target,
            MAX_TEXT_BYTES,
        )?;
    }
    Ok(())
}

/// The grant of a create request, with its bundle (if named) filled in.
fn build_grant(
    req: &wire::CreateAuthorization,
    bundle: Option<&Bundle>,
    now: i64,
) -> Result<Grant, Error> {
    validate::id("user_id", &req.user_id)?;
    let (agent_id, scopes) = match (bundle, &req.agent_id, &req.scopes) {
        (Some(b), None, None) => (b.agent_id.clone(), b.scopes.clone()),
        (Some(_), _, _) => {
            return Err(Error::member(
                "bundle_id",
                "give either bundle_id, or agent_id and scopes, not both",
            ));
        }
        (None, Some(agent), Some(scopes)) => (agent.clone(), scope_grants("scopes", scopes)?),
        (None, None, _) => {
            return Err(Error::member("agent_id", "is required (or give bundle_id)"));
        }
        (None, _, None) => return Err(Error::member("scopes", "is required (or give bundle_id)")),
    };
    validate::id("agent_id", &agent_id)?;
    let pick = |given: &Option<Vec<String>>, from: Option<&Vec<String>>| {
        given.clone().or_else(|| from.cloned()).unwrap_or_default()
    };
    let confirm = pick(
        &req.requires_confirm_for,
        bundle.map(|b| &b.requires_confirm_for),
    );
    let escalate = pick(
        &req.requires_escalation_for,
        bundle.map(|b| &b.requires_escalation_for),
    );
    let targets = req
        .escalation_targets
        .clone()
        .or_else(|| bundle.map(|b| b.escalation_targets.clone()))
        .unwrap_or_default();
    scope_rules(&scopes, &confirm, &escalate, &targets)?;
    let expires_at_ms = match &req.expires_at {
        None => None,
        Some(s) => {
            let ms = parse_ms(s).ok_or_else(|| {
                Error::member(
                    "expires_at",
                    "must be an RFC 3339 UTC instant like 2026-11-22T01:15:00Z",
                )
            })?;
            if ms <= now {
                return Err(Error::member("expires_at", "is not in the future"));
            }
            Some(ms)
        }
    };
    let budget = req
        .budget_limit_micros
        .or(bundle.and_then(|b| b.budget_limit_micros));
    if let Some(b) = budget {
        validate::micros("budget_limit_micros", b)?;
    }
    let metadata = req.metadata.clone().unwrap_or_default();
    validate::object("metadata", &metadata)?;
    Ok(Grant {
        user_id: req.user_id.clone(),
        agent_id,
        scopes,
        requires_confirm_for: confirm,
        requires_escalation_for: escalate,
        escalation_targets: targets,
        expires_at_ms,
        budget_limit_micros: budget,
        metadata,
        bundle_id: bundle.map(|b| b.bundle_id.clone()),
    })
}

/// The `authorization.created` members of a grant.
fn created_members(g: &Grant) -> Result<Vec<(&'static str, Value)>, Error> {
    let scopes = g
        .scopes
        .iter()
        .map(|s| {
            let constraints = match s.max_per_day {
                Some(n) => sign::object([("max_per_day", Value::from(n))]),
                None => Value::Object(Vec::new()),
            };
            sign::object([
                ("name", Value::from(s.name.as_str())),
                ("constraints", constraints),
            ])
        })
        .collect();
    let targets = Value::Object(
        g.escalation_targets
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    );
    let mut m = vec![
        ("user_id", Value::from(g.user_id.as_str())),
        ("agent_id", Value::from(g.agent_id.as_str())),
        ("scopes", Value::Array(scopes)),
        ("requires_confirm_for", strings(&g.requires_confirm_for)),
        (
            "requires_escalation_for",
            strings(&g.requires_escalation_for),
        ),
        ("escalation_targets", targets),
        (
            "expires_at",
            g.expires_at_ms
                .map(|ms| Value::from(rfc3339_ms(ms)))
                .unwrap_or(Value::Null),
        ),
        (
            "budget_limit_micros",
            g.budget_limit_micros.map(int).unwrap_or(Value::Null),
        ),
        ("metadata", validate::object("metadata", &g.metadata)?),
    ];
    if let Some(b) = &g.bundle_id {
        m.push(("bundle_id", Value::from(b.as_str())));
    }
    Ok(m)
}

/// An answer to a confirmation (`ttl_seconds`) or an escalation (`resolved_by`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub approved: bool,
    pub ttl_seconds: Option<i64>,
    pub resolved_by: Option<String>,
}

/// A validated check request.
#[derive(Debug, Clone)]
pub struct Check {
    pub authorization_id: String,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub session_id: Option<String>,
    pub context: Value,
    pub estimated_cost_micros: Option<i64>,
}

impl Check {
    /// Validate a check request: ids, scope names, sizes and ranges.
    pub fn new(req: wire::CheckRequest) -> Result<Check, Error> {
        validate::id("authorization_id", &req.authorization_id)?;
        if req.scopes.is_empty() || req.scopes.len() > MAX_CHECK_SCOPES {
            return Err(Error::member(
                "scopes",
                format!("must name 1 to {MAX_CHECK_SCOPES} scopes"),
            ));
        }
        for (i, s) in req.scopes.iter().enumerate() {
            validate::scope(&format!("scopes[{i}]"), s)?;
            if req.scopes[..i].contains(s) {
                return Err(Error::member(
                    format!("scopes[{i}]"),
                    format!("{s:?} is listed twice"),
                ));
            }
        }
        if let Some(r) = &req.resource {
            validate::text("resource", r, validate::MAX_RESOURCE_BYTES)?;
        }
        if let Some(s) = &req.session_id {
            validate::text("session_id", s, MAX_TEXT_BYTES)?;
        }
        if let Some(c) = req.estimated_cost_micros {
            validate::micros("estimated_cost_micros", c)?;
        }
        let context = validate::object("context", &req.context.unwrap_or_default())?;
        Ok(Check {
            authorization_id: req.authorization_id,
            scopes: req.scopes,
            resource: req.resource,
            session_id: req.session_id,
            context,
            estimated_cost_micros: req.estimated_cost_micros,
        })
    }
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        keys: KeyFiles,
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
        f: impl FnOnce(&mut dyn Tx) -> Result<Reply, Error> + Send + 'static,
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
                let mut auth = Authorization {
                    id: ids::new_id("auth_", now)?,
                    workspace_id: ws.clone(),
                    grant,
                    created_at_ms: now,
                    budget_spent_micros: 0,
                    revoked_at_ms: None,
                    revoked_by: None,
                    next_seq: 0,
                    head_hash: String::new(),
                    head_issued_at_ms: 0,
                };
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
                let body = json(&wire::Created {
                    authorization_id: auth.id.clone(),
                    receipt: app.receipt_ref(&rid, now),
                })?;
                Ok(Reply {
                    status: 201,
                    body,
                    replayed: false,
                    receipts: 1,
                    decisions: Vec::new(),
                })
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
                    check_unit(&app, tx, &ws, check, now)
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
                let body = json(&wire::ReceiptOnly {
                    receipt: app.receipt_ref(&rid, now),
                })?;
                Ok(Reply {
                    status: 200,
                    body,
                    replayed: false,
                    receipts: 1,
                    decisions: Vec::new(),
                })
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
                let pending = tx.pending(kind, &ws, &id)?.ok_or_else(|| not_found(&id))?;
                if pending.status != "pending" {
                    return Err(Error::conflict(
                        "already_resolved",
                        format!("this {what} was already resolved ({})", pending.status),
                    ));
                }
                let mut auth = tx
                    .lock_authorization(&ws, &pending.authorization_id)?
                    .ok_or_else(|| Error::internal("pending item without its authorization"))?;
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
                let body = json(&wire::ReceiptOnly {
                    receipt: app.receipt_ref(&rid, now),
                })?;
                Ok(Reply {
                    status: 200,
                    body,
                    replayed: false,
                    receipts: 1,
                    decisions: Vec::new(),
                })
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
                    scopes,
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

pub fn bundle_view(b: &Bundle) -> wire::BundleView {
    wire::BundleView {
        bundle_id: b.bundle_id.clone(),
        agent_id: b.agent_id.clone(),
        scopes: b.scopes.iter().map(spec).collect(),
        requires_confirm_for: b.requires_confirm_for.clone(),
        requires_escalation_for: b.requires_escalation_for.clone(),
        escalation_targets: b.escalation_targets.clone(),
        budget_limit_micros: b.budget_limit_micros,
        created_at: rfc3339_ms(b.created_at_ms),
    }
}

fn spec(s: &ScopeGrant) -> wire::ScopeSpec {
    wire::ScopeSpec {
        name: s.name.clone(),
        max_per_day: s.max_per_day,
    }
}

/// The view of an authorization at `now`.
pub fn authorization_view(
    a: &Authorization,
    states: &[ScopeState],
    now: i64,
) -> wire::AuthorizationView {
    let g = &a.grant;
    let status = if a.revoked_at_ms.is_some() {
        "revoked"
    } else if g.expires_at_ms.is_some_and(|e| now >= e) {
        "expired"
    } else {
        "active"
    };
    let today = utc_day(now);
    let counters = g
        .scopes
        .iter()
        .map(|s| {
            let allowed = states
                .iter()
                .find(|st| st.scope == s.name)
                .map_or(0, |st| st.allowed_on(today));
            (
                s.name.clone(),
                wire::ScopeCounter {
                    allowed_today: allowed,
                    max_per_day: s.max_per_day,
                },
            )
        })
        .collect();
    wire::AuthorizationView {
        authorization_id: a.id.clone(),
        workspace_id: a.workspace_id.clone(),
        status: status.into(),
        user_id: g.user_id.clone(),
        agent_id: g.agent_id.clone(),
        scopes: g.scopes.iter().map(spec).collect(),
        requires_confirm_for: g.requires_confirm_for.clone(),
        requires_escalation_for: g.requires_escalation_for.clone(),
        escalation_targets: g.escalation_targets.clone(),
        expires_at: g.expires_at_ms.map(rfc3339_ms),
        budget_limit_micros: g.budget_limit_micros,
        budget_spent_micros: a.budget_spent_micros,
        metadata: g.metadata.clone(),
        bundle_id: g.bundle_id.clone(),
        created_at: rfc3339_ms(a.created_at_ms),
        revoked_at: a.revoked_at_ms.map(rfc3339_ms),
        revoked_by: a.revoked_by.clone(),
        receipts: a.next_seq,
        head_hash: a.head_hash.clone(),
        counters,
    }
}

fn check_unit(
    app: &App,
    tx: &mut dyn Tx,
    ws: &str,
    check: Check,
    now: i64,
) -> Result<Reply, Error> {
    let auth = tx.lock_authorization(ws, &check.authorization_id)?;
    let states: BTreeMap<String, ScopeState> = match &auth {
        Some(a) if a.revoked_at_ms.is_none() => tx
            .scope_states(&a.id)?
            .into_iter()
            .map(|s| (s.scope.clone(), s))
            .collect(),
        _ => BTreeMap::new(),
    };
    let out = decide::check(
        auth.as_ref(),
        &states,
        &check.scopes,
        check.estimated_cost_micros,
        now,
    );
    let mut results = Vec::with_capacity(out.scopes.len());
    let mut receipts = 0;
    let mut auth = auth;
    let key = match &auth {
        Some(_) if out.scopes.iter().any(|o| o.receipt) => Some(active_key(tx, ws)?),
        _ => None,
    };
    for o in &out.scopes {
        let budget_value = o.budget.map(|b| {
            sign::object([
                ("limit_micros", int(b.limit_micros)),
                ("spent_before_micros", int(b.spent_before_micros)),
                ("spent_after_micros", int(b.spent_after_micros)),
            ])
        });
        let mut result = wire::ScopeResult {
            decision: o.decision.as_str().into(),
            reason: o.reason.as_str().into(),
            receipt: None,
            confirm_nonce: None,
            confirm_prompt_hint: None,
            escalation_id: None,
            escalation_to: o.escalation_to.clone(),
            budget: o.budget.map(|b| wire::BudgetView {
                limit_micros: b.limit_micros,
                spent_before_micros: b.spent_before_micros,
                spent_after_micros: b.spent_after_micros,
            }),
        };
        if let (true, Some(a), Some(key)) = (o.receipt, auth.as_mut(), key.as_ref()) {
            if o.needs_nonce {
                result.confirm_nonce = Some(ids::new_token("cn_", 16)?);
                result.confirm_prompt_hint = Some(match &check.resource {
                    Some(r) => format!("Allow {} to use {} on {r}?", a.grant.agent_id, o.scope),
                    None => format!("Allow {} to use {}?", a.grant.agent_id, o.scope),
                });
            }
            if o.decision == Decision::Escalate {
                result.escalation_id = Some(ids::new_id("esc_", now)?);
            }
            let members = vec![
                ("scope", Value::from(o.scope.as_str())),
                ("decision", Value::from(o.decision.as_str())),
                ("reason", Value::from(o.reason.as_str())),
                ("resource", nullable(check.resource.as_deref())),
                ("session_id", nullable(check.session_id.as_deref())),
                ("context", check.context.clone()),
                (
                    "estimated_cost_micros",
                    check.estimated_cost_micros.map(int).unwrap_or(Value::Null),
                ),
                ("budget", budget_value.unwrap_or(Value::Null)),
                ("confirm_nonce", nullable(result.confirm_nonce.as_deref())),
                ("escalation_id", nullable(result.escalation_id.as_deref())),
                ("escalation_to", nullable(result.escalation_to.as_deref())),
            ];
            let (rid, _) = append(tx, a, key, Kind::Check, members, now)?;
            receipts += 1;
            for (kind, id) in [
                (PendingKind::Confirmation, &result.confirm_nonce),
                (PendingKind::Escalation, &result.escalation_id),
            ] {
                if let Some(id) = id {
                    tx.insert_pending(
                        kind,
                        &Pending {
                            id: id.clone(),
                            workspace_id: ws.to_owned(),
                            authorization_id: a.id.clone(),
                            scope: o.scope.clone(),
                            target: result.escalation_to.clone(),
                            status: "pending".into(),
                            created_at_ms: now,
                        },
                    )?;
                }
            }
            result.receipt = Some(app.receipt_ref(&rid, now));
        }
        results.push((o.scope.clone(), result));
    }
    if let Some(a) = auth.as_mut()
        && receipts > 0
    {
        a.budget_spent_micros += out.charged_micros;
        for s in &out.changed {
            tx.put_scope_state(&a.id, s)?;
        }
        tx.update_authorization(a)?;
    }
    let body = json(&wire::CheckResponse {
        results: wire::OrderedResults(results),
    })?;
    Ok(Reply {
        status: 200,
        body,
        replayed: false,
        receipts,
        decisions: out.scopes.iter().map(|o| o.decision).collect(),
    })
}

/// Retire the active key at the rotation instant R and make a new key active
/// from R. R is now, or later than every receipt of the workspace, so all
/// the old key's receipts lie inside its window.
pub fn rotate_unit(
    tx: &mut dyn Tx,
    keys: &KeyFiles,
    ws: &str,
    now: i64,
) -> Result<wire::Rotated, Error> {
    let all = tx.keys(ws)?;
    let mut old = all
        .iter()
        .find(|k| k.status == "active")
        .cloned()
        .ok_or_else(|| Error::internal(format!("workspace {ws} has no active key")))?;
    // Every receipt the old key was given is among the workspace's, so R
    // after the latest of those puts them all inside the old key's window.
    let last = tx.max_issued_at(ws)?.unwrap_or(i64::MIN);
    let at = now.max(last.saturating_add(1)).max(old.not_before_ms + 1);
    let new = keys.generate(ws, all.len() + 1, at)?;
    old.status = "retired".into();
    old.not_after_ms = Some(at);
    tx.update_key(&old)?;
    tx.insert_key(&crate::keys::record(&new, ws, at))?;
    Ok(wire::Rotated {
        kid: new.kid().to_owned(),
        retired_kid: old.kid,
        at: rfc3339_ms(at),
    })
}

/// Mark a key revoked (compromised): nothing it signed verifies any more.
/// An active key is rotated first, so the workspace keeps signing.
pub fn revoke_key_unit(
    tx: &mut dyn Tx,
    keys: &KeyFiles,
    ws: &str,
    kid: &str,
    now: i64,
) -> Result<(), Error> {
    let mut key = tx
        .key(kid)?
        .filter(|k| k.workspace_id == ws)
        .ok_or_else(|| {
            Error::not_found("key_not_found", format!("no key {kid:?} in workspace {ws}"))
        })?;
    if key.status == "active" {
        rotate_unit(tx, keys, ws, now)?;
        key = tx
            .key(kid)?
            .ok_or_else(|| Error::internal("rotated key vanished"))?;
    }
    key.status = "revoked".into();
    tx.update_key(&key)
}

/// A new workspace with its first key and API key: (workspace_id, api_key, kid).
pub fn create_workspace_unit(
    tx: &mut dyn Tx,
    keys: &KeyFiles,
    now: i64,
) -> Result<(String, String, String), Error> {
    let ws = ids::new_id("ws_", now)?;
    tx.insert_workspace(&ws, now)?;
    let key = keys.generate(&ws, 1, now)?;
    tx.insert_key(&crate::keys::record(&key, &ws, now))?;
    let api_key = ids::new_api_key()?;
    tx.insert_api_key(&ids::api_key_hash(&api_key), &ws, now)?;
    Ok((ws, api_key, key.kid().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// issued_at never goes back along a chain (a clock stepping back) and
    /// never precedes the signing key's not_before.
    #[test]
    fn issued_at_is_monotonic_and_inside_the_key_window() {
        let dir = tempfile::tempdir().unwrap();
        let db: Arc<dyn Store> =
            crate::store::sqlite::SqliteStore::open(&dir.path().join("t.db")).unwrap();
        let keys = KeyFiles::open(dir.path()).unwrap();
        let times = store::transact_blocking(&*db, move |tx| {
            let (ws, _, _) = create_workspace_unit(tx, &keys, 2_000_000)?;
            let key = active_key(tx, &ws)?;
            let mut auth = Authorization {
                id: "auth_t".into(),
                workspace_id: ws.clone(),
                grant: serde_json::from_value(serde_json::json!({
                    "user_id": "u", "agent_id": "a", "scopes": [], "requires_confirm_for": [],
                    "requires_escalation_for": [], "escalation_targets": {}, "expires_at_ms": null,
                    "budget_limit_micros": null, "metadata": {}, "bundle_id": null
                }))
                .unwrap(),
                created_at_ms: 0,
                budget_spent_micros: 0,
                revoked_at_ms: None,
                revoked_by: None,
                next_seq: 0,
                head_hash: String::new(),
                head_issued_at_ms: 0,
            };
            tx.insert_authorization(&auth)?;
            let members = created_members(&auth.grant)?;
            // The clock says 1,000 ms, before the key's not_before (2,000,000).
            let (_, t0) = append(
                tx,
                &mut auth,
                &key,
                Kind::AuthorizationCreated,
                members,
                1_000,
            )?;
            let revoked = || vec![("revoked_by", Value::from("x"))];
            let (_, t1) = append(
                tx,
                &mut auth,
                &key,
                Kind::AuthorizationRevoked,
                revoked(),
                3_000_000,
            )?;
            // The clock steps back.
            let (_, t2) = append(
                tx,
                &mut auth,
                &key,
                Kind::AuthorizationRevoked,
                revoked(),
                2_500_000,
            )?;
            Ok((t0, t1, t2))
        })
        .unwrap();
        assert_eq!(times, (2_000_000, 3_000_000, 3_000_000));
        db.close();
    }

    #[test]
    fn payload_errors_name_the_member() {
        let e = payload_error(kvitto_core::Error::BadStructure {
            path: "payload.context".into(),
            reason: "missing".into(),
        });
        assert_eq!(e, Error::member("context", "missing"));
        let e = payload_error(kvitto_core::Error::TooLarge {
            size: 2_000_000,
            limit: 1 << 20,
        });
        assert_eq!(e.code(), "invalid_member");
        assert!(
            e.to_string()
                .starts_with("body: the receipt would be 2000000 bytes")
        );
    }

    #[test]
    fn grants_are_validated_against_their_scopes() {
        let base = || wire::CreateAuthorization {
            user_id: "u_1".into(),
            agent_id: Some("agent".into()),
            scopes: Some(vec![wire::ScopeSpec {
                name: "a".into(),
                max_per_day: Some(3),
            }]),
            bundle_id: None,
            requires_confirm_for: None,
            requires_escalation_for: None,
            escalation_targets: None,
            expires_at: None,
            budget_limit_micros: None,
            metadata: None,
        };
        assert!(build_grant(&base(), None, 0).is_ok());
        let mut r = base();
        r.requires_confirm_for = Some(vec!["b".into()]);
        assert_eq!(
            build_grant(&r, None, 0).unwrap_err().to_string(),
            "requires_confirm_for[0]: \"b\" is not one of the granted scopes"
        );
        let mut r = base();
        r.escalation_targets = Some([("a".to_string(), "ops".to_string())].into());
        assert!(
            build_grant(&r, None, 0)
                .unwrap_err()
                .to_string()
                .starts_with("escalation_targets.a")
        );
        let mut r = base();
        r.expires_at = Some("2020-01-01T00:00:00Z".into());
        assert!(build_grant(&r, None, now_ms()).is_err());
        let mut r = base();
        r.user_id = "alice@example.com".into();
        assert!(
            build_grant(&r, None, 0)
                .unwrap_err()
                .to_string()
                .contains("pii-id")
        );
        let mut r = base();
        r.agent_id = None;
        assert_eq!(
            build_grant(&r, None, 0).unwrap_err().to_string(),
            "agent_id: is required (or give bundle_id)"
        );
    }
}
