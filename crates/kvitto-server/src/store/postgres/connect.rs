//! Reaching the database: the connection settings (timeouts, keepalives,
//! TLS over rustls), the checks made once at start (encoding, durability
//! settings) and the migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{LOCK_CLASS, MIGRATION_LOCK, MIGRATIONS, OpenMode, PgOptions, describe};
use crate::Error;

/// How long an idle transaction may hold its locks before the server ends
/// its session (an instance that hangs releases what it claimed).
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(300);

/// The client configuration and the TLS connector from the options.
///
/// TLS is used when the URL asks for it (`sslmode=require`, or `prefer`
/// and the server offers it); `verify-ca` and `verify-full` are read as
/// `require`: the server's certificate is always verified, with its name,
/// against `ca_file` or else the system's roots. Without `sslmode` the
/// connection is plain, as on a private network or a Unix socket.
pub(super) fn config(
    opts: &PgOptions,
) -> Result<(tokio_postgres::Config, MakeRustlsConnect), Error> {
    let mut url = opts.url.clone();
    for strict in ["sslmode=verify-full", "sslmode=verify-ca"] {
        url = url.replace(strict, "sslmode=require");
    }
    let mut config = tokio_postgres::Config::from_str(&url).map_err(|e| {
        Error::internal(format!(
            "the database URL is not valid ({e}); expected postgres://USER:PASSWORD@HOST:PORT/DBNAME"
        ))
    })?;
    if !url.contains("sslmode") {
        config.ssl_mode(SslMode::Disable);
    }
    if config.get_application_name().is_none() {
        config.application_name("kvitto-server");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(60));
    let mut options = config.get_options().unwrap_or("").to_owned();
    options.push_str(&format!(
        " -c statement_timeout={} -c idle_in_transaction_session_timeout={}",
        opts.statement_timeout.as_millis().max(1),
        IDLE_IN_TRANSACTION.as_millis()
    ));
    config.options(options.trim());
    let tls = tls(opts, config.get_ssl_mode())?;
    Ok((config, tls))
}

fn tls(opts: &PgOptions, mode: SslMode) -> Result<MakeRustlsConnect, Error> {
    let mut roots = rustls::RootCertStore::empty();
    if mode != SslMode::Disable {
        match &opts.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        Error::internal(format!(
                            "cannot read the database CA file {}: {e}",
                            path.display()
                        ))
                    })?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(Error::internal(format!(
                        "the database CA file {} holds no certificate",
                        path.display()
                    )));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(Error::internal(
                        "TLS to the database needs CA certificates: none found in the system's \
                         store; give --db-ca-file",
                    ));
                }
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// host:port/dbname, for logs and messages (never the password).
pub(super) fn target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres")
    )
}

async fn connect_once(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn show(client: &tokio_postgres::Client, setting: &str) -> Result<String, Error> {
    let row = client
        .query_one(&format!("SHOW {setting}"), &[])
        .await
        .map_err(|e| Error::internal(describe(&e)))?;
    row.try_get::<_, String>(0)
        .map_err(|e| Error::internal(format!("SHOW {setting}: {e}")))
}

/// Wait (up to the retry window) for the database, check it, migrate it;
/// returns the configuration the pool uses.
pub(super) async fn prepare(
    mut config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    opts: &PgOptions,
    target: &str,
    mode: OpenMode,
) -> Result<tokio_postgres::Config, Error> {
    let started = Instant::now();
    let client = loop {
        match connect_once(&config, tls.clone()).await {
            Ok(c) => break c,
            Err(e) => {
                let permanent = e.as_db_error().is_some_and(|db| {
                    let c = db.code().code();
                    c.starts_with("28") || c == "3D000"
                });
                if permanent || started.elapsed() >= opts.retry_window {
                    return Err(Error::internal(format!(
                        "cannot connect to the database {target}: {}",
                        describe(&e)
                    )));
                }
                tracing::warn!(database = %target, error = %describe(&e), "waiting for the database");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let encoding = show(&client, "server_encoding").await?;
    if !encoding.eq_ignore_ascii_case("UTF8") {
        return Err(Error::internal(format!(
            "the database {target} has encoding {encoding}; kvitto-server needs UTF8 \
             (CREATE DATABASE … ENCODING 'UTF8')"
        )));
    }
    if show(&client, "fsync").await? == "off" {
        tracing::warn!(database = %target, "the database runs with fsync=off: a crash of its machine can lose answered requests");
    }
    if show(&client, "synchronous_commit").await? == "off" {
        // Every answer waits for its commit to be durable: never off.
        let options = format!(
            "{} -c synchronous_commit=on",
            config.get_options().unwrap_or("")
        );
        config.options(options.trim());
        tracing::info!(database = %target, "synchronous_commit is off on the server; kvitto-server's sessions set it on");
    }
    migrate(&client, mode, target).await?;
    Ok(config)
}

async fn migrate(
    client: &tokio_postgres::Client,
    mode: OpenMode,
    target: &str,
) -> Result<(), Error> {
    let db = |e: tokio_postgres::Error| Error::internal(describe(&e));
    client.batch_execute("BEGIN").await.map_err(db)?;
    let r = async {
        client
            .execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&LOCK_CLASS, &MIGRATION_LOCK],
            )
            .await
            .map_err(db)?;
        let exists: bool = client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;
        if !exists && mode == OpenMode::Existing {
            return Err(Error::internal(format!(
                "the database {target} has no kvitto-server schema; run \
                 `kvitto-server init --database …` first"
            )));
        }
        if !exists {
            client
                .batch_execute(
                    "CREATE TABLE schema_migrations (
                        version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)",
                )
                .await
                .map_err(db)?;
        }
        let newest: i64 = client
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if newest > known {
            return Err(Error::internal(format!(
                "the database {target} has schema version {newest}, newer than this server's \
                 {known}: upgrade the server"
            )));
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > newest) {
            client.batch_execute(sql).await.map_err(db)?;
            client
                .execute(
                    "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
                    &[version, &crate::clock::now_ms()],
                )
                .await
                .map_err(db)?;
            tracing::info!(version, database = %target, "applied a schema migration");
        }
        if mode == OpenMode::Init {
            let initialized: bool = client
                .query_one("SELECT EXISTS (SELECT 1 FROM workspaces)", &[])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db)?;
            if initialized {
                return Err(Error::internal(format!(
                    "the database {target} is already initialized (it holds a workspace); use \
                     `kvitto-server workspace create` for another workspace"
                )));
            }
        }
        Ok(())
    }
    .await;
    match r {
        Ok(()) => client.batch_execute("COMMIT").await.map_err(db),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}
