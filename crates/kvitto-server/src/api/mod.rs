//! The HTTP API: thin axum handlers (parse, call the service, map), the
//! error type's HTTP mapping, and the OpenAPI document generated from the
//! handlers' types, served at `GET /openapi.json`.

mod extract;
mod handlers;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use extract::{BodyLimit, DEFAULT_MAX_BODY};

use crate::Error;
use crate::service::{App, Reply};
use crate::wire::{ErrorBody, ErrorDetail};

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::Internal { message } => tracing::error!(error = %message, "internal error"),
            Error::Unavailable { message } => {
                tracing::warn!(error = %message, "storage unavailable")
            }
            Error::OutcomeUnknown => {
                tracing::warn!("connection lost during a commit; outcome unknown")
            }
            _ => {}
        }
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        };
        let mut resp = (status, Json(body)).into_response();
        let retry_after = match &self {
            Error::NotReady { retry_after, .. } => Some(*retry_after),
            Error::Unavailable { .. } | Error::OutcomeUnknown | Error::ShuttingDown => Some(1),
            _ => None,
        };
        if let Some(v) = retry_after.and_then(|r| HeaderValue::from_str(&r.to_string()).ok()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response();
        if self.replayed {
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        resp
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kvitto-server",
        description = "Authorization decisions for AI agents, each recorded as a signed, hash-chained receipt (docs/server.md).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "authorizations", description = "What users grant agents"),
        (name = "checks", description = "May the agent do this now?"),
        (name = "receipts", description = "Signed receipts and exports"),
        (name = "keys", description = "Key documents and rotation"),
        (name = "service", description = "Health, metrics, this document")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes and the OpenAPI document describing exactly them; beside
/// them the verification page from `web_dir` at `/verify/` (see
/// [`crate::web`]; not part of the API document).
pub fn router_and_doc(
    app: Arc<App>,
    max_body: usize,
    web_dir: Option<std::path::PathBuf>,
) -> (Router, utoipa::openapi::OpenApi) {
    use handlers::*;
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_authorization))
        .routes(routes!(get_authorization))
        .routes(routes!(revoke_authorization))
        .routes(routes!(check))
        .routes(routes!(resolve_confirmation))
        .routes(routes!(resolve_escalation))
        .routes(routes!(create_bundle, list_bundles))
        .routes(routes!(list_receipts))
        .routes(routes!(export_receipts))
        .routes(routes!(get_receipt))
        .routes(routes!(key_document))
        .routes(routes!(rotate_keys))
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .split_for_parts();
    let doc_json: Arc<str> = doc.to_pretty_json().unwrap_or_default().into();
    let router = router
        .layer(axum::Extension(OpenApiText(doc_json)))
        .merge(crate::web::router(web_dir))
        .fallback(|| async {
            Error::not_found("route_not_found", "no such route (see GET /openapi.json)")
        })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(app.clone(), observe))
        .layer(axum::Extension(BodyLimit(max_body)))
        .with_state(app);
    (router, doc)
}

/// The OpenAPI document's text, served by `GET /openapi.json`.
#[derive(Debug, Clone)]
pub struct OpenApiText(pub Arc<str>);

/// The request span (method, route, and the workspace and authorization ids
/// once known; never credentials) and the latency histogram.
async fn observe(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        route = %route,
        workspace_id = tracing::field::Empty,
        authorization_id = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let resp = next.run(req).instrument(span.clone()).await;
    let elapsed = start.elapsed();
    app.metrics.latency.observe(elapsed.as_secs_f64());
    span.record("status", resp.status().as_u16());
    tracing::debug!(parent: &span, micros = elapsed.as_micros() as u64, "answered");
    resp
}
