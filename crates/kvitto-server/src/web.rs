//! The in-browser verification page (web/, with the kvitto-wasm package that
//! `scripts/build-wasm.sh` copies into web/kvitto) served at `/verify/`.
//!
//! Static files only, read from the directory given to `serve --web-dir` on
//! each request (a rebuilt page is served without a restart). Every answer
//! under `/verify` carries the page's Content-Security-Policy, so the page
//! runs exactly as strictly as the spec of issue 9 asks: scripts and wasm
//! from this origin only, no inline script, no blob: workers.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::Error;

/// The policy the page is written for (web/README.md).
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";

/// The routes of the page: `/verify` (a redirect), `/verify/` (index.html)
/// and `/verify/{file}`. With `dir` `None` they answer 404 saying how to
/// serve the page, so a user who opens `/verify/` learns what to do.
pub fn router(dir: Option<PathBuf>) -> Router {
    let dir = Arc::new(dir);
    Router::new()
        .route("/verify", get(|| async { Redirect::permanent("/verify/") }))
        .route("/verify/", get(index))
        .route("/verify/{*file}", get(file))
        .with_state(dir)
}

async fn index(State(dir): State<Arc<Option<PathBuf>>>) -> Response {
    serve(&dir, "index.html").await
}

async fn file(State(dir): State<Arc<Option<PathBuf>>>, UrlPath(file): UrlPath<String>) -> Response {
    serve(&dir, &file).await
}

async fn serve(dir: &Option<PathBuf>, file: &str) -> Response {
    let Some(dir) = dir else {
        return with_policy(
            Error::not_found(
                "page_not_served",
                "the verification page is not served here: build it with scripts/build-wasm.sh, then start `kvitto-server serve --web-dir web` (or set KVITTO_WEB_DIR)",
            )
            .into_response(),
        );
    };
    let (Some(path), Some(mime)) = (inside(dir, file), mime(file)) else {
        return not_found(file);
    };
    let bytes = match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return not_found(file),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::IsADirectory => return not_found(file),
        Ok(Err(e)) => {
            return with_policy(
                Error::Internal {
                    message: format!("reading the page's {file}: {e}"),
                }
                .into_response(),
            );
        }
        Err(e) => {
            return with_policy(
                Error::Internal {
                    message: format!("reading the page's {file}: {e}"),
                }
                .into_response(),
            );
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // The page and its package change together on a rebuild: always ask.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    with_policy((StatusCode::OK, headers, bytes).into_response())
}

fn not_found(file: &str) -> Response {
    let message = format!("the verification page has no file {file:?}");
    with_policy(Error::not_found("page_file_not_found", message).into_response())
}

fn with_policy(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// `file` under `dir`, if it names a file by plain components only (no
/// `..`, no root, no hidden files such as `.gitignore`).
fn inside(dir: &Path, file: &str) -> Option<PathBuf> {
    let rel = Path::new(file);
    let mut path = dir.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => path.push(part),
            _ => return None,
        }
    }
    (path != dir).then_some(path)
}

/// The media type of the page's files; others are not served.
fn mime(file: &str) -> Option<&'static str> {
    let ext = Path::new(file).extension()?.to_str()?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_directory() {
        let d = Path::new("/srv/web");
        assert_eq!(inside(d, "app.js"), Some(PathBuf::from("/srv/web/app.js")));
        assert_eq!(
            inside(d, "kvitto/kvitto_wasm_bg.wasm"),
            Some(PathBuf::from("/srv/web/kvitto/kvitto_wasm_bg.wasm"))
        );
        for bad in [
            "../etc/passwd",
            "kvitto/../../x.js",
            "/etc/passwd",
            ".git/config",
            "",
        ] {
            assert_eq!(inside(d, bad), None, "{bad}");
        }
        assert_eq!(mime("kvitto/x.wasm"), Some("application/wasm"));
        assert_eq!(mime("index.html"), Some("text/html; charset=utf-8"));
        assert_eq!(mime("secret.key"), None);
        assert_eq!(mime("Makefile"), None);
    }
}
