//! Opening a data directory and serving it: the store, the signer, the
//! HTTP listener, graceful shutdown (stop accepting, finish in-flight
//! requests, sign what is pending, exit).

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::keys::KeyFiles;
use crate::metrics::Metrics;
use crate::service::App;
use crate::signer::Signer;
use crate::store::sqlite::SqliteStore;
use crate::store::{self, Store};

/// The database file inside the data directory.
pub const DB_FILE: &str = "kvitto.db";
/// Held (flock) by a serving process, so two servers never share a directory.
pub const LOCK_FILE: &str = "server.lock";

/// An open data directory.
#[derive(Debug)]
pub struct DataDir {
    pub path: PathBuf,
    pub store: Arc<SqliteStore>,
    pub keys: KeyFiles,
}

impl DataDir {
    /// Create a data directory (0700) with an empty database; refuses one
    /// that already holds a workspace.
    pub fn create(path: &Path) -> anyhow::Result<DataDir> {
        fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", path.display()))?;
        if path.join(DB_FILE).exists() {
            bail!(
                "{} is already initialized (it has {DB_FILE}); use `kvitto-server workspace create` for another workspace",
                path.display()
            );
        }
        DataDir::open_inner(path)
    }

    /// Open an initialized data directory.
    pub fn open(path: &Path) -> anyhow::Result<DataDir> {
        if !path.join(DB_FILE).exists() {
            bail!(
                "{} is not a kvitto-server data directory (no {DB_FILE}); run `kvitto-server init --data {}` first",
                path.display(),
                path.display()
            );
        }
        DataDir::open_inner(path)
    }

    fn open_inner(path: &Path) -> anyhow::Result<DataDir> {
        let store = SqliteStore::open(&path.join(DB_FILE))
            .map_err(|e| anyhow::anyhow!("opening the database: {e:?}"))?;
        let keys = KeyFiles::open(path).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(DataDir {
            path: path.to_owned(),
            store,
            keys,
        })
    }
}

/// What `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub export_wait: Duration,
}

/// Serve until SIGTERM or Ctrl-C, then shut down gracefully.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    if !opts.data.join(DB_FILE).exists() {
        bail!(
            "{} is not a kvitto-server data directory (no {DB_FILE}); run `kvitto-server init --data {}` first",
            opts.data.display(),
            opts.data.display()
        );
    }
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(opts.data.join(LOCK_FILE))
        .with_context(|| format!("opening the lock file in {}", opts.data.display()))?;
    if lock.try_lock().is_err() {
        bail!("another kvitto-server is serving {}", opts.data.display());
    }
    let dir = DataDir::open(&opts.data)?;
    let store: Arc<dyn Store> = dir.store.clone();
    let metrics = Arc::new(Metrics::default());
    let signer = Signer::new(store.clone(), dir.keys.clone(), metrics.clone());
    let backlog = {
        let s = store.clone();
        tokio::task::spawn_blocking(move || store::read_blocking(&*s, |r| r.unsigned_count(None)))
            .await?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
    };
    metrics
        .backlog
        .store(backlog, std::sync::atomic::Ordering::Relaxed);
    if backlog > 0 {
        tracing::info!(
            pending = backlog,
            "recovering: signing receipts left pending"
        );
    }
    let signer_task = tokio::spawn(signer.clone().run());
    let app = Arc::new(App::new(
        store.clone(),
        dir.keys.clone(),
        metrics,
        signer.clone(),
        opts.export_wait,
    ));
    let (router, _) = crate::api::router_and_doc(app, opts.max_body_bytes);
    let maintenance = tokio::spawn(maintenance(store.clone()));

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("listening on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data = %opts.data.display(), "serving");
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped accepting; signing what is pending");
    maintenance.abort();
    signer.stop();
    let _ = signer_task.await;
    tokio::task::spawn_blocking(move || store.close()).await?;
    tracing::info!("shut down cleanly");
    drop(lock);
    Ok(())
}

/// Forget idempotency records older than 48 hours (kept at least 24), hourly.
async fn maintenance(store: Arc<dyn Store>) {
    loop {
        let cutoff = crate::clock::now_ms() - 48 * 3_600_000;
        match store::transact(&*store, move |tx| tx.purge_idempotency(cutoff)).await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "forgot old idempotency keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "idempotency purge failed"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}
