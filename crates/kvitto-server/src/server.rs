//! Opening the storage (a SQLite data directory, or a PostgreSQL database
//! shared by several instances) and serving it: the store, the signer, the
//! HTTP listener, graceful shutdown (stop accepting, finish in-flight
//! requests, sign what is pending, exit).

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::kek::KekRing;
use crate::keys::{KeyFiles, KeyVault};
use crate::metrics::Metrics;
use crate::service::App;
use crate::signer::Signer;
use crate::store::postgres::{OpenMode, PgOptions, PgStore};
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

/// Where the server keeps its state.
#[derive(Debug, Clone)]
pub enum Backend {
    /// An embedded SQLite database in a data directory (one server).
    Sqlite(PathBuf),
    /// A PostgreSQL database that several server instances share; private
    /// keys sealed in it with the key-encryption keys.
    Postgres { options: PgOptions, keks: KekRing },
}

/// An open store and where its private keys live.
pub struct Storage {
    pub store: Arc<dyn Store>,
    pub keys: KeyVault,
    /// What it is, for the log: the data directory, or host:port/dbname.
    pub what: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// `init`: a new data directory, or the schema in an empty database.
    pub fn init(backend: &Backend) -> anyhow::Result<Storage> {
        match backend {
            Backend::Sqlite(dir) => Ok(Storage::from_dir(DataDir::create(dir)?)),
            Backend::Postgres { options, keks } => Storage::postgres(options, keks, OpenMode::Init),
        }
    }

    /// Every other command: an initialized data directory or database.
    pub fn open(backend: &Backend) -> anyhow::Result<Storage> {
        match backend {
            Backend::Sqlite(dir) => Ok(Storage::from_dir(DataDir::open(dir)?)),
            Backend::Postgres { options, keks } => {
                Storage::postgres(options, keks, OpenMode::Existing)
            }
        }
    }

    fn from_dir(dir: DataDir) -> Storage {
        Storage {
            what: dir.path.display().to_string(),
            store: dir.store,
            keys: KeyVault::Files(dir.keys),
        }
    }

    fn postgres(options: &PgOptions, keks: &KekRing, mode: OpenMode) -> anyhow::Result<Storage> {
        let pg = PgStore::open(options, mode).map_err(|e| anyhow::anyhow!("{}", detail(&e)))?;
        let what = pg.target().to_owned();
        let store: Arc<dyn Store> = pg;
        let keys = KeyVault::Sealed(Arc::new(keks.clone()));
        // A missing or wrong KEK fails now, not at the first signature.
        let k = keys.clone();
        if let Err(e) = store::read_blocking(&*store, move |r| k.check(r)) {
            store.close();
            bail!("{}", detail(&e));
        }
        Ok(Storage { store, keys, what })
    }
}

fn detail(e: &crate::Error) -> String {
    match e {
        crate::Error::Internal { message } | crate::Error::Unavailable { message } => {
            message.clone()
        }
        other => format!("{}: {other}", other.code()),
    }
}

/// What `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub backend: Backend,
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub export_wait: Duration,
    /// The verification page's directory (web/ after scripts/build-wasm.sh),
    /// served at `/verify/`.
    pub web_dir: Option<PathBuf>,
}

/// Serve until SIGTERM or Ctrl-C, then shut down gracefully.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    // One server per data directory; any number on one database.
    let lock = match &opts.backend {
        Backend::Sqlite(data) => Some(lock_data_dir(data)?),
        Backend::Postgres { .. } => None,
    };
    let backend = opts.backend.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&backend)).await??;
    let store: Arc<dyn Store> = storage.store.clone();
    let metrics = Arc::new(Metrics::default());
    let signer = Signer::new(store.clone(), storage.keys.clone(), metrics.clone());
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
        storage.keys.clone(),
        metrics,
        signer.clone(),
        opts.export_wait,
    ));
    let (router, _) = crate::api::router_and_doc(app, opts.max_body_bytes, opts.web_dir.clone());
    let maintenance = tokio::spawn(maintenance(store.clone()));

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("listening on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, storage = %storage.what, "serving");
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

fn lock_data_dir(data: &Path) -> anyhow::Result<fs::File> {
    if !data.join(DB_FILE).exists() {
        bail!(
            "{} is not a kvitto-server data directory (no {DB_FILE}); run `kvitto-server init --data {}` first",
            data.display(),
            data.display()
        );
    }
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data.join(LOCK_FILE))
        .with_context(|| format!("opening the lock file in {}", data.display()))?;
    if lock.try_lock().is_err() {
        bail!("another kvitto-server is serving {}", data.display());
    }
    Ok(lock)
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
