//! The handlers: parse, call the service, map. Each carries its OpenAPI
//! description (utoipa), so /openapi.json is generated from these types.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, IntoResponses};

use super::OpenApiText;
use super::extract::{ApiPath, ApiQuery, IdempotencyKey, JsonBody, Workspace};
use crate::Error;
use crate::clock::{now_ms, parse_ms, rfc3339_ms};
use crate::model::StoredReceipt;
use crate::service::{Answer, App, Check, Idem, Reply, authorization_view, bundle_view};
use crate::store::{self, PendingKind};
use crate::wire::{self, ErrorBody};

/// Errors a POST can answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum PostErrors {
    /// Bad input: malformed JSON, wrong types, unknown members, a limit; nothing stored.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or unknown API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// No such thing in this workspace.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Conflicts with the current state.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The body is over the limit.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not application/json.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// The Idempotency-Key was used with another request.
    #[response(status = 422)]
    IdempotencyKeyReused(ErrorBody),
    /// The server is shutting down.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// Errors a GET can answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum GetErrors {
    /// Bad query or path parameters.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or unknown API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// No such thing in this workspace.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Not ready, or shutting down; see Retry-After.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

fn idem(key: IdempotencyKey, path: &str, raw: &[u8]) -> Result<Option<Idem>, Error> {
    key.0.map(|k| Idem::new(&k, "POST", path, raw)).transpose()
}

fn record_authorization(id: &str) {
    tracing::Span::current().record("authorization_id", id);
}

/// Create an authorization: its `authorization.created` receipt is seq 0.
#[utoipa::path(post, path = "/v1/authorizations", tag = "authorizations",
    request_body = wire::CreateAuthorization,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the first response")),
    responses((status = 201, description = "Created", body = wire::Created), PostErrors),
    security(("bearer" = [])))]
pub(super) async fn create_authorization(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    key: IdempotencyKey,
    body: JsonBody<wire::CreateAuthorization>,
) -> Result<Reply, Error> {
    let idem = idem(key, "/v1/authorizations", &body.raw)?;
    app.create_authorization(ws, body.value, idem).await
}

/// An authorization's grant, state, counters and budget spent.
#[utoipa::path(get, path = "/v1/authorizations/{id}", tag = "authorizations",
    params(("id" = String, Path, description = "authorization_id")),
    responses((status = 200, description = "The authorization", body = wire::AuthorizationView), GetErrors),
    security(("bearer" = [])))]
pub(super) async fn get_authorization(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<wire::AuthorizationView>, Error> {
    record_authorization(&id);
    let found = store::read(app.store.clone(), move |r| {
        let Some(a) = r.authorization(&ws, &id)? else {
            return Err(Error::not_found(
                "authorization_not_found",
                format!("no authorization {id:?} in this workspace"),
            ));
        };
        let states = r.scope_states(&a.id)?;
        Ok(authorization_view(&a, &states, now_ms()))
    })
    .await?;
    Ok(Json(found))
}

/// Revoke an authorization: the `authorization.revoked` receipt closes its chain.
#[utoipa::path(post, path = "/v1/authorizations/{id}/revoke", tag = "authorizations",
    request_body = wire::Revoke,
    params(("id" = String, Path, description = "authorization_id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the first response")),
    responses((status = 200, description = "Revoked", body = wire::ReceiptOnly), PostErrors),
    security(("bearer" = [])))]
pub(super) async fn revoke_authorization(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    ApiPath(id): ApiPath<String>,
    key: IdempotencyKey,
    body: JsonBody<wire::Revoke>,
) -> Result<Reply, Error> {
    record_authorization(&id);
    let idem = idem(key, &format!("/v1/authorizations/{id}/revoke"), &body.raw)?;
    app.revoke(ws, id, body.value.revoked_by, idem).await
}

/// Decide a check: one decision and one `check` receipt per scope, in order.
#[utoipa::path(post, path = "/v1/check", tag = "checks",
    request_body = wire::CheckRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retried check with the same key and body is not counted twice")),
    responses((status = 200, description = "Decisions", body = wire::CheckResponse), PostErrors),
    security(("bearer" = [])))]
pub(super) async fn check(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    key: IdempotencyKey,
    body: JsonBody<wire::CheckRequest>,
) -> Result<Reply, Error> {
    record_authorization(&body.value.authorization_id);
    let idem = idem(key, "/v1/check", &body.raw)?;
    let check = Check::new(body.value)?;
    app.check(ws, check, idem).await
}

/// The user's answer to a `confirm` decision.
#[utoipa::path(post, path = "/v1/confirmations/{nonce}", tag = "checks",
    request_body = wire::ResolveConfirmation,
    params(("nonce" = String, Path, description = "confirm_nonce of the check"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the first response")),
    responses((status = 200, description = "Resolved", body = wire::ReceiptOnly), PostErrors),
    security(("bearer" = [])))]
pub(super) async fn resolve_confirmation(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    ApiPath(nonce): ApiPath<String>,
    key: IdempotencyKey,
    body: JsonBody<wire::ResolveConfirmation>,
) -> Result<Reply, Error> {
    let idem = idem(key, &format!("/v1/confirmations/{nonce}"), &body.raw)?;
    let b = body.value;
    app.resolve(
        ws,
        PendingKind::Confirmation,
        nonce,
        Answer {
            approved: b.approved,
            ttl_seconds: b.ttl_seconds,
            resolved_by: None,
        },
        idem,
    )
    .await
}

/// The approver's answer to an `escalate` decision.
#[utoipa::path(post, path = "/v1/escalations/{id}/resolve", tag = "checks",
    request_body = wire::ResolveEscalation,
    params(("id" = String, Path, description = "escalation_id of the check"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the first response")),
    responses((status = 200, description = "Resolved", body = wire::ReceiptOnly), PostErrors),
    security(("bearer" = [])))]
pub(super) async fn resolve_escalation(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    ApiPath(id): ApiPath<String>,
    key: IdempotencyKey,
    body: JsonBody<wire::ResolveEscalation>,
) -> Result<Reply, Error> {
    let idem = idem(key, &format!("/v1/escalations/{id}/resolve"), &body.raw)?;
    let b = body.value;
    app.resolve(
        ws,
        PendingKind::Escalation,
        id,
        Answer {
            approved: b.approved,
            ttl_seconds: None,
            resolved_by: Some(b.resolved_by),
        },
        idem,
    )
    .await
}

/// Create a scope bundle (a template: agent, scopes, rules).
#[utoipa::path(post, path = "/v1/bundles", tag = "authorizations",
    request_body = wire::CreateBundle,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the first response")),
    responses((status = 201, description = "Created", body = wire::BundleView), PostErrors),
    security(("bearer" = [])))]
pub(super) async fn create_bundle(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    key: IdempotencyKey,
    body: JsonBody<wire::CreateBundle>,
) -> Result<Reply, Error> {
    let idem = idem(key, "/v1/bundles", &body.raw)?;
    app.create_bundle(ws, body.value, idem).await
}

/// The workspace's scope bundles.
#[utoipa::path(get, path = "/v1/bundles", tag = "authorizations",
    responses((status = 200, description = "Bundles", body = wire::BundleList), GetErrors),
    security(("bearer" = [])))]
pub(super) async fn list_bundles(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
) -> Result<Json<wire::BundleList>, Error> {
    let bundles = store::read(app.store.clone(), move |r| r.bundles(&ws)).await?;
    Ok(Json(wire::BundleList {
        bundles: bundles.iter().map(bundle_view).collect(),
    }))
}

/// Query of `GET /v1/receipts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// The authorization whose chain to page through.
    authorization_id: String,
    /// Only receipts with a higher seq.
    #[param(minimum = 0, maximum = 9007199254740991_u64)]
    after_seq: Option<u64>,
    /// At most this many (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

fn signed_bodies(rs: &[StoredReceipt]) -> impl Iterator<Item = String> + '_ {
    rs.iter().map_while(StoredReceipt::signed_json)
}

/// A page of one authorization's signed receipts, in seq order.
#[utoipa::path(get, path = "/v1/receipts", tag = "receipts",
    params(ListQuery),
    responses((status = 200, description = "A page", body = wire::ReceiptPage), GetErrors),
    security(("bearer" = [])))]
pub(super) async fn list_receipts(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, Error> {
    record_authorization(&q.authorization_id);
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::member("limit", "must be 1 to 1000"));
    }
    let body = store::read(app.store.clone(), move |r| {
        if r.authorization(&ws, &q.authorization_id)?.is_none() {
            return Err(Error::not_found(
                "authorization_not_found",
                format!(
                    "no authorization {:?} in this workspace",
                    q.authorization_id
                ),
            ));
        }
        let rs = r.receipts(&q.authorization_id, q.after_seq, limit as usize + 1)?;
        let page: Vec<String> = signed_bodies(&rs).take(limit as usize).collect();
        let last = (!page.is_empty()).then(|| rs[page.len() - 1].seq);
        let more_signed = rs.get(page.len()).is_some_and(|n| n.sig.is_some());
        let pending = r.pending_count(&q.authorization_id, last.or(q.after_seq))?;
        let next = if more_signed { last } else { None };
        let mut body = String::from("{\"receipts\":[");
        body.push_str(&page.join(","));
        body.push_str("],\"next_after_seq\":");
        body.push_str(&next.map_or("null".to_owned(), |n| n.to_string()));
        body.push_str(&format!(",\"pending\":{pending}}}"));
        Ok(body)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Query of `GET /v1/receipts/export`: one authorization, or a time range of the workspace.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ExportQuery {
    /// Export this authorization's whole chain.
    authorization_id: Option<String>,
    /// Export every chain with a receipt issued at or after this instant (RFC 3339 UTC)…
    since: Option<String>,
    /// …and before this one (default: now).
    until: Option<String>,
}

/// Export receipts as JSON Lines, whole chains in seq order: feed it to `kvitto verify --chains`.
#[utoipa::path(get, path = "/v1/receipts/export", tag = "receipts",
    params(ExportQuery),
    responses((status = 200, description = "One signed receipt per line", content_type = "application/x-ndjson", body = String), GetErrors),
    security(("bearer" = [])))]
pub(super) async fn export_receipts(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, Error> {
    enum Sel {
        One(String),
        Range(i64, i64),
    }
    let sel = match (&q.authorization_id, &q.since, &q.until) {
        (Some(id), None, None) => {
            record_authorization(id);
            Sel::One(id.clone())
        }
        (None, Some(since), until) => {
            let s = parse_ms(since)
                .ok_or_else(|| Error::member("since", "must be an RFC 3339 UTC instant"))?;
            let u = match until {
                Some(u) => parse_ms(u)
                    .ok_or_else(|| Error::member("until", "must be an RFC 3339 UTC instant"))?,
                None => now_ms() + 1,
            };
            if u <= s {
                return Err(Error::member("until", "must be later than since"));
            }
            Sel::Range(s, u)
        }
        _ => {
            return Err(Error::InvalidRequest {
                message: "give authorization_id, or since (and optionally until), not both".into(),
            });
        }
    };
    // Wait (bounded) until nothing in the selected chains is pending.
    let deadline = tokio::time::Instant::now() + app.export_wait;
    let ids = loop {
        let ws2 = ws.clone();
        let sel2 = match &sel {
            Sel::One(id) => Sel::One(id.clone()),
            Sel::Range(a, b) => Sel::Range(*a, *b),
        };
        let (ids, pending) = store::read(app.store.clone(), move |r| {
            let ids = match sel2 {
                Sel::One(id) => {
                    if r.authorization(&ws2, &id)?.is_none() {
                        return Err(Error::not_found(
                            "authorization_not_found",
                            format!("no authorization {id:?} in this workspace"),
                        ));
                    }
                    vec![id]
                }
                Sel::Range(a, b) => r.authorizations_in_range(&ws2, a, b)?,
            };
            let mut pending = 0;
            for id in &ids {
                pending += r.pending_count(id, None)?;
            }
            Ok((ids, pending))
        })
        .await?;
        if pending == 0 {
            break ids;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::NotReady {
                message: format!("{pending} receipts of this export are not signed yet"),
                retry_after: 1,
            });
        }
        app.signer.wake();
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Stream from one snapshot; a chain stops before a receipt appended
    // (and so still unsigned) since the wait: never a hole.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let st = app.store.clone();
    tokio::task::spawn_blocking(move || {
        let sender = tx.clone();
        let r = store::read_blocking(&*st, move |r| {
            let mut buf = String::with_capacity(64 * 1024);
            for id in ids {
                let mut after = None;
                'chain: loop {
                    let rs = r.receipts(&id, after, 1000)?;
                    if rs.is_empty() {
                        break;
                    }
                    for rec in &rs {
                        let Some(line) = rec.signed_json() else {
                            break 'chain;
                        };
                        buf.push_str(&line);
                        buf.push('\n');
                        after = Some(rec.seq);
                        if buf.len() >= 60 * 1024 {
                            let chunk = Bytes::from(std::mem::take(&mut buf));
                            if sender.blocking_send(Ok(chunk)).is_err() {
                                return Ok(());
                            }
                        }
                    }
                }
            }
            if !buf.is_empty() {
                let _ = sender.blocking_send(Ok(Bytes::from(buf)));
            }
            Ok(())
        });
        if let Err(e) = r {
            tracing::error!(error = %e, "export failed midway");
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// One receipt: 200 with exactly the signed `{"payload","sig"}` once signed, 202 before.
#[utoipa::path(get, path = "/v1/receipts/{id}", tag = "receipts",
    params(("id" = String, Path, description = "receipt_id")),
    responses((status = 200, description = "The signed receipt", body = wire::SignedReceipt),
              (status = 202, description = "Not signed yet", body = wire::PendingReceipt), GetErrors),
    security(("bearer" = [])))]
pub(super) async fn get_receipt(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, Error> {
    let rid = id.clone();
    let found = store::read(app.store.clone(), move |r| r.receipt(&ws, &rid)).await?;
    let Some(rec) = found else {
        return Err(Error::not_found(
            "receipt_not_found",
            format!("no receipt {id:?} in this workspace"),
        ));
    };
    record_authorization(&rec.authorization_id);
    Ok(match rec.signed_json() {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None => (
            StatusCode::ACCEPTED,
            Json(wire::PendingReceipt {
                status: "pending".into(),
                receipt_id: rec.receipt_id,
                ready_at_estimate: rfc3339_ms(now_ms() + app.signer.lag_estimate_ms()),
            }),
        )
            .into_response(),
    })
}

/// The workspace's key document (public): what `kvitto verify --keys` takes.
#[utoipa::path(get, path = "/v1/workspaces/{id}/keys", tag = "keys",
    params(("id" = String, Path, description = "workspace_id")),
    responses((status = 200, description = "The key document", body = wire::KeyDocument,
               headers(("ETag" = String, description = "\"sha256:…\" of the body"), ("Cache-Control" = String))),
              (status = 304, description = "Not modified (If-None-Match)"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn key_document(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let ws = id.clone();
    let keys = store::read(app.store.clone(), move |r| {
        if !r.workspace_exists(&ws)? {
            return Ok(None);
        }
        r.keys(&ws).map(Some)
    })
    .await?
    .ok_or_else(|| Error::not_found("workspace_not_found", format!("no workspace {id:?}")))?;
    let doc = crate::keys::document(&id, &keys);
    let etag = format!("\"{}\"", kvitto_core::Hash::of(&doc));
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| Error::internal(e.to_string()))?;
    let cache = HeaderValue::from_static("public, max-age=300");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag_value), (header::CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag_value),
            (header::CACHE_CONTROL, cache),
        ],
        doc,
    )
        .into_response())
}

/// Rotate the workspace's signing key: the active key retires at this instant.
#[utoipa::path(post, path = "/v1/workspaces/{id}/keys/rotate", tag = "keys",
    params(("id" = String, Path, description = "workspace_id (the caller's own)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response")),
    responses((status = 200, description = "Rotated", body = wire::Rotated), PostErrors),
    security(("bearer" = [])))]
pub(super) async fn rotate_keys(
    State(app): State<Arc<App>>,
    Workspace(ws): Workspace,
    ApiPath(id): ApiPath<String>,
    key: IdempotencyKey,
) -> Result<Reply, Error> {
    if id != ws {
        return Err(Error::not_found(
            "workspace_not_found",
            format!("no workspace {id:?} for this API key"),
        ));
    }
    let idem = idem(key, &format!("/v1/workspaces/{id}/keys/rotate"), b"")?;
    app.rotate(ws, idem).await
}

/// 200 once the store is open.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "Serving", body = wire::Health)))]
pub(super) async fn healthz() -> Json<wire::Health> {
    Json(wire::Health {
        status: "ok".into(),
    })
}

/// Prometheus metrics: checks by decision, request latency, signer backlog, signing lag.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
pub(super) async fn openapi_json(Extension(doc): Extension<OpenApiText>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.to_string(),
    )
        .into_response()
}
