//! Request extractors that fail with the server's [`Error`]: strict JSON
//! bodies, the API key, the Idempotency-Key header, paths and queries.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::service::App;

/// Largest request body accepted, by default.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024;

/// The body limit in force (an extension set by the router).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body: `Content-Type: application/json`, within the size limit,
/// valid under the strict JSON profile (no duplicate members, no lone
/// surrogates, numbers within ±(2^53 − 1), nesting ≤ 64), and of the
/// request's shape (unknown members rejected). Keeps the raw bytes for
/// idempotency.
#[derive(Debug)]
pub(crate) struct JsonBody<T> {
    pub(crate) value: T,
    pub(crate) raw: Bytes,
}

impl<T: DeserializeOwned> FromRequest<Arc<App>> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, _state: &Arc<App>) -> Result<Self, Error> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(Error::UnsupportedMediaType);
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(DEFAULT_MAX_BODY, |l| l.0);
        let raw = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| {
                // axum reports the limit as "length limit exceeded".
                let too_large = format!("{e:?} {e}").contains("length limit");
                if too_large {
                    Error::BodyTooLarge { limit }
                } else {
                    Error::InvalidRequest {
                        message: format!("could not read the body: {e}"),
                    }
                }
            })?;
        kvitto_core::json::parse(&raw, kvitto_core::Profile::Receipt).map_err(|e| {
            Error::InvalidJson {
                code: e.code(),
                message: format!("the body is not valid JSON: {e}"),
            }
        })?;
        let value = serde_json::from_slice(&raw).map_err(|e| Error::InvalidRequest {
            message: format!("the body does not have this request's shape: {e}"),
        })?;
        Ok(JsonBody { value, raw })
    }
}

/// The caller's workspace, from `Authorization: Bearer <api key>`.
#[derive(Debug, Clone)]
pub(crate) struct Workspace(pub String);

impl FromRequestParts<Arc<App>> for Workspace {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Error> {
        let value =
            parts
                .headers
                .get(header::AUTHORIZATION)
                .ok_or_else(|| Error::Unauthorized {
                    message: "missing Authorization: Bearer <api key>".into(),
                })?;
        let key = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Error::Unauthorized {
                message: "the Authorization header must be `Bearer <api key>`".into(),
            })?;
        let ws = app.authenticate(key).await?;
        tracing::Span::current().record("workspace_id", ws.as_str());
        Ok(Workspace(ws))
    }
}

/// The `Idempotency-Key` header, if any.
#[derive(Debug, Clone)]
pub(crate) struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        match parts.headers.get("idempotency-key") {
            None => Ok(IdempotencyKey(None)),
            Some(v) => v
                .to_str()
                .map(|s| IdempotencyKey(Some(s.to_owned())))
                .map_err(|_| Error::member("Idempotency-Key", "must be visible ASCII")),
        }
    }
}

/// Path parameters.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| Error::InvalidRequest {
                message: e.body_text(),
            })
    }
}

/// Query parameters (unknown ones rejected by the target type).
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| Error::InvalidRequest {
                message: e.body_text(),
            })
    }
}
