//! The in-browser verification page (web/, with the kvitto-wasm package that
//! `scripts/build-wasm.sh` copies into web/kvitto) served at `/verify/`.
//!
//! Static files only, read from the directory given to `serve --web-dir` on
//! each request (a rebuilt page is served without a restart). Every answer
//! under `/verify` — files, redirects, 404s, 405s — carries the page's
//! Content-Security-Policy, so the page runs exactly as strictly as it is
//! written to: scripts and wasm from this origin only, no inline script, no
//! blob: workers.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::Error;

/// The policy the page is written for (web/README.md).
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";

/// The files a page needs; what `scripts/build-wasm.sh` puts in web/.
/// Nothing else is served (no `.json`, `.md`, test files or screenshots).
const TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("svg", "image/svg+xml"),
];

/// The routes of the page: `/verify` (a redirect), `/verify/` (index.html)
/// and `/verify/{file}`. With `dir` `None` they answer 404 saying how to
/// serve the page, so a user who opens `/verify/` learns what to do. The
/// directory is resolved once here (symbolic links in it are not followed
/// out of it) and checked for the page's two essential files.
pub fn router<S: Clone + Send + Sync + 'static>(dir: Option<PathBuf>) -> Router<S> {
    let root = Arc::new(dir.map(resolve));
    let index = {
        let root = root.clone();
        move || serve(root.clone(), "index.html".to_owned())
    };
    let file = move |file: Result<UrlPath<String>, PathRejection>| {
        let root = root.clone();
        async move {
            match file {
                Ok(UrlPath(file)) => serve(root, file).await,
                Err(_) => not_found("(not UTF-8)"),
            }
        }
    };
    // Other methods: the API's 405, under the policy like every answer here.
    let other = || async { Error::MethodNotAllowed };
    Router::new()
        // Relative, so that it holds behind a proxy that mounts the server
        // under a prefix.
        .route(
            "/verify",
            get(|| async { Redirect::permanent("verify/") }).fallback(other),
        )
        .route("/verify/", get(index).fallback(other))
        .route("/verify/{*file}", get(file).fallback(other))
        .layer(axum::middleware::map_response(with_policy))
}

/// The directory as served: canonical, so that every file's canonical path
/// can be checked to lie inside it. Warns about a directory the page
/// cannot run from (a missing directory, or web/ before the wasm build).
fn resolve(dir: PathBuf) -> PathBuf {
    let root = match dir.canonicalize() {
        Ok(root) => root,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "--web-dir: cannot open the page's directory; /verify/ answers 404");
            return dir;
        }
    };
    for needed in ["index.html", "kvitto/kvitto_wasm_bg.wasm"] {
        if !root.join(needed).is_file() {
            tracing::warn!(
                dir = %root.display(),
                "--web-dir: no {needed} in the page's directory (run scripts/build-wasm.sh); the page will not work"
            );
        }
    }
    tracing::info!(dir = %root.display(), "serving the verification page at /verify/");
    root
}

async fn serve(root: Arc<Option<PathBuf>>, file: String) -> Response {
    let Some(root) = root.as_ref().clone() else {
        return Error::not_found(
            "page_not_served",
            "the verification page is not served here: build it with scripts/build-wasm.sh, then start `kvitto-server serve STORAGE --web-dir web` (or set KVITTO_WEB_DIR)",
        )
        .into_response();
    };
    let (Some(path), Some(mime)) = (inside(&root, &file), mime(&file)) else {
        return not_found(&file);
    };
    let read = tokio::task::spawn_blocking(move || read_inside(&root, &path)).await;
    let failed = |e: &dyn std::fmt::Display| {
        Error::Internal {
            message: format!("reading the page's {file:?}: {e}"),
        }
        .into_response()
    };
    match read {
        Ok(Ok(bytes)) => {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            // The page and its package change together on a rebuild: always ask.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            (StatusCode::OK, headers, bytes).into_response()
        }
        Ok(Err(e)) if e.kind() != ErrorKind::PermissionDenied => not_found(&file),
        Ok(Err(e)) => failed(&e),
        Err(e) => failed(&e),
    }
}

/// The bytes of `path` if it is a regular file whose real location (links
/// resolved) lies inside `root`; `NotFound` otherwise.
fn read_inside(root: &Path, path: &Path) -> std::io::Result<Vec<u8>> {
    let real = path.canonicalize()?;
    let meta = std::fs::metadata(&real)?;
    if !real.starts_with(root) || !meta.is_file() {
        return Err(ErrorKind::NotFound.into());
    }
    std::fs::read(real)
}

fn not_found(file: &str) -> Response {
    let message = format!("the verification page has no file {file:?}");
    Error::not_found("page_file_not_found", message).into_response()
}

async fn with_policy(mut resp: Response) -> Response {
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

/// `file` under `root`, if it names a file by plain components only (no
/// `..`, no root, no hidden files such as `.gitignore`, no control
/// characters or backslashes).
fn inside(root: &Path, file: &str) -> Option<PathBuf> {
    if file.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let mut path = root.to_path_buf();
    for c in Path::new(file).components() {
        match c {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => path.push(part),
            _ => return None,
        }
    }
    (path != root).then_some(path)
}

/// The media type of one of the page's files; others are not served.
fn mime(file: &str) -> Option<&'static str> {
    let ext = Path::new(file).extension()?.to_str()?;
    TYPES.iter().find(|(e, _)| *e == ext).map(|(_, m)| *m)
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
            "a\0.js",
            "a\n.js",
            "..\\x.js",
        ] {
            assert_eq!(inside(d, bad), None, "{bad:?}");
        }
        assert_eq!(mime("kvitto/x.wasm"), Some("application/wasm"));
        assert_eq!(mime("index.html"), Some("text/html; charset=utf-8"));
        for other in [
            "secret.key",
            "Makefile",
            "init.json",
            "README.md",
            "shot.png",
        ] {
            assert_eq!(mime(other), None, "{other}");
        }
    }
}
