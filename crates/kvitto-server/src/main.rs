//! `kvitto-server`: initialize storage (a SQLite data directory or a
//! PostgreSQL database), manage workspaces, keys and the key-encryption key,
//! derive pseudonymous user ids, and serve the API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use kvitto_server::clock::now_ms;
use kvitto_server::kek::{Kek, KekRing};
use kvitto_server::keys::KeyVault;
use kvitto_server::server::{Backend, ServeOptions, Storage};
use kvitto_server::service;
use kvitto_server::signer::Signer;
use kvitto_server::store::postgres::PgOptions;
use kvitto_server::store::{self, Store};

#[derive(Debug, Parser)]
#[command(
    name = "kvitto-server",
    version,
    about = "kvitto's issuing server: authorizations, checks and signed receipts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

/// Where the state lives: `--data DIR` (SQLite, the default kind) or
/// `--database URL` (PostgreSQL, shared by several instances).
#[derive(Debug, Args)]
struct StorageArgs {
    /// The data directory: an embedded SQLite database and the private key
    /// files; one server per directory.
    #[arg(
        long,
        env = "KVITTO_DATA",
        required_unless_present = "database",
        conflicts_with = "database"
    )]
    data: Option<PathBuf>,
    /// A PostgreSQL database that several server instances share:
    /// postgres://USER:PASSWORD@HOST:PORT/DBNAME[?sslmode=require]. Needs the
    /// key-encryption key (KVITTO_KEK or --kek-file).
    #[arg(long, env = "KVITTO_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// PostgreSQL: a file holding the key-encryption key (64 hex digits),
    /// the same on every instance. Or set KVITTO_KEK to the key itself.
    #[arg(long, env = "KVITTO_KEK_FILE")]
    kek_file: Option<PathBuf>,
    /// PostgreSQL, during a KEK rotation: a file holding the previous KEK,
    /// which still opens keys it sealed (or set KVITTO_PREVIOUS_KEK).
    #[arg(long, env = "KVITTO_PREVIOUS_KEK_FILE")]
    previous_kek_file: Option<PathBuf>,
    /// PostgreSQL: most pooled connections of this instance.
    #[arg(long, env = "KVITTO_DB_POOL_SIZE", default_value_t = 16)]
    db_pool_size: usize,
    /// PostgreSQL: statement_timeout of every session, in milliseconds.
    #[arg(long, env = "KVITTO_DB_STATEMENT_TIMEOUT_MS", default_value_t = 30_000)]
    db_statement_timeout_ms: u64,
    /// PostgreSQL: how long a request keeps retrying while the database is
    /// unreachable (or serializing) before it answers 503, in seconds.
    #[arg(long, env = "KVITTO_DB_RETRY_SECS", default_value_t = 30)]
    db_retry_secs: u64,
    /// PostgreSQL with TLS (sslmode=require): a PEM file of the CA
    /// certificates for the server's certificate (default: the system's).
    #[arg(long, env = "KVITTO_DB_CA_FILE")]
    db_ca_file: Option<PathBuf>,
}

/// A KEK from an environment variable or a file (exactly one of them, or neither).
fn kek_from(env: &str, file: Option<&PathBuf>, flag: &str) -> anyhow::Result<Option<Kek>> {
    let value = std::env::var(env).ok().filter(|v| !v.trim().is_empty());
    match (value, file) {
        (Some(_), Some(_)) => bail!("give the key-encryption key once: {env} or {flag}, not both"),
        (Some(v), None) => Ok(Some(Kek::parse(&v, env).map_err(err)?)),
        (None, Some(path)) => Ok(Some(Kek::from_file(path).map_err(err)?)),
        (None, None) => Ok(None),
    }
}

impl StorageArgs {
    fn backend(&self) -> anyhow::Result<Backend> {
        let Some(url) = &self.database else {
            let data = self
                .data
                .clone()
                .context("give --data DIR (SQLite) or --database URL (PostgreSQL)")?;
            return Ok(Backend::Sqlite(data));
        };
        let current = kek_from("KVITTO_KEK", self.kek_file.as_ref(), "--kek-file")?
            .context(
                "the PostgreSQL backend seals private keys with a key-encryption key, and none was \
                 given: set KVITTO_KEK to 64 hex digits (`kvitto-server kek generate` makes one) or \
                 give --kek-file, the same on every instance",
            )?;
        let previous = kek_from(
            "KVITTO_PREVIOUS_KEK",
            self.previous_kek_file.as_ref(),
            "--previous-kek-file",
        )?;
        if previous.as_ref().is_some_and(|p| p.id() == current.id()) {
            bail!("the previous key-encryption key is the current one");
        }
        let mut options = PgOptions::new(url.clone());
        options.pool_size = self.db_pool_size.max(1);
        options.statement_timeout = Duration::from_millis(self.db_statement_timeout_ms.max(1));
        options.retry_window = Duration::from_secs(self.db_retry_secs);
        options.ca_file = self.db_ca_file.clone();
        Ok(Backend::Postgres {
            options,
            keks: KekRing::new(current, previous),
        })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the storage (a data directory, or the schema in an empty
    /// PostgreSQL database), a first workspace, its signing key and API key.
    Init {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The key-encryption key of the PostgreSQL backend.
    Kek {
        #[command(subcommand)]
        command: KekCommand,
    },
    /// Serve the API.
    Serve {
        #[command(flatten)]
        storage: StorageArgs,
        /// Address to listen on.
        #[arg(long, env = "KVITTO_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Log lines as text or JSON (to stderr). The level comes from KVITTO_LOG (default info).
        #[arg(long, env = "KVITTO_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Largest request body, in bytes.
        #[arg(long, env = "KVITTO_MAX_BODY_BYTES", default_value_t = kvitto_server::api::DEFAULT_MAX_BODY)]
        max_body_bytes: usize,
        /// How long an export waits for pending receipts before answering 503, in seconds.
        #[arg(long, env = "KVITTO_EXPORT_WAIT_SECS", default_value_t = 10)]
        export_wait_secs: u64,
        /// Serve the in-browser verification page from this directory at
        /// /verify/ (web/ after scripts/build-wasm.sh).
        #[arg(long, env = "KVITTO_WEB_DIR")]
        web_dir: Option<PathBuf>,
    },
    /// Print the pseudonymous user id of an e-mail address:
    /// email_hmac:v1: + hex HMAC-SHA256(pepper, trimmed lower-cased address).
    PiiId {
        /// The environment variable holding the pepper (never on the command line).
        #[arg(long)]
        pepper_env: String,
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum WorkspaceCommand {
    /// Another workspace with its own signing key and API key.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Retire the active key now and make a new one active; sign the old
    /// key's pending receipts, then destroy its private half.
    Rotate {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        workspace: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Mark a key revoked (compromised): everything it signed stops
    /// verifying. An active key is rotated first.
    Revoke {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        kid: String,
    },
}

#[derive(Debug, Subcommand)]
enum KekCommand {
    /// Print a new random key-encryption key (64 hex digits) for KVITTO_KEK.
    Generate,
    /// Seal every private key in the database anew with the current KEK
    /// (KVITTO_KEK), opening those sealed with the previous one
    /// (KVITTO_PREVIOUS_KEK): the last step of a KEK rotation.
    Rotate {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("kvitto-server: error: {e:#}");
        std::process::exit(1);
    }
}

fn err(e: kvitto_server::Error) -> anyhow::Error {
    match e {
        kvitto_server::Error::Internal { message }
        | kvitto_server::Error::Unavailable { message } => anyhow::anyhow!(message),
        other => anyhow::anyhow!("{}: {other}", other.code()),
    }
}

fn print_workspace(format: Format, ws: &str, api_key: &str, kid: &str) {
    let keys_url = format!("/v1/workspaces/{ws}/keys");
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({"workspace_id": ws, "api_key": api_key, "kid": kid, "keys_url": keys_url})
        ),
        Format::Text => {
            println!("workspace_id: {ws}");
            println!("api_key:      {api_key}");
            println!("kid:          {kid}");
            println!("keys_url:     {keys_url}");
            eprintln!("(the API key is shown only this once: store it now)");
        }
    }
}

fn create_workspace(storage: &Storage, format: Format) -> anyhow::Result<()> {
    let keys = storage.keys.clone();
    let r = store::transact_blocking(&*storage.store, move |tx| {
        service::create_workspace_unit(tx, &keys, now_ms())
    });
    storage.store.close();
    let (ws, api_key, kid) = r.map_err(err)?;
    print_workspace(format, &ws, &api_key, &kid);
    Ok(())
}

/// Logs on stderr; the level from KVITTO_LOG, else `default`.
fn init_logs(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KVITTO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if !matches!(cli.command, Command::Serve { .. }) {
        init_logs(LogFormat::Text, "warn");
    }
    match cli.command {
        Command::Init { storage, format } => {
            create_workspace(&Storage::init(&storage.backend()?)?, format)
        }
        Command::Workspace {
            command: WorkspaceCommand::Create { storage, format },
        } => create_workspace(&Storage::open(&storage.backend()?)?, format),
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    storage,
                    workspace,
                    format,
                },
        } => {
            let storage = Storage::open(&storage.backend()?)?;
            let keys = storage.keys.clone();
            let ws = workspace.clone();
            let rotated = store::transact_blocking(&*storage.store, move |tx| {
                if !tx.workspace_exists(&ws)? {
                    return Err(kvitto_server::Error::not_found(
                        "workspace_not_found",
                        format!("no workspace {ws:?}"),
                    ));
                }
                service::rotate_unit(tx, &keys, &ws, now_ms())
            });
            let rotated = match rotated {
                Ok(r) => r,
                Err(e) => {
                    storage.store.close();
                    return Err(err(e));
                }
            };
            let destroyed = finish_keys(&storage, &rotated.retired_kid)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&rotated)?),
                Format::Text if destroyed => println!(
                    "rotated at {}: {} is active; {} retired (its pending receipts signed, its private key destroyed)",
                    rotated.at, rotated.kid, rotated.retired_kid
                ),
                Format::Text => println!(
                    "rotated at {}: {} is active; {} retired (a serving instance destroys its private key once its pending receipts are signed)",
                    rotated.at, rotated.kid, rotated.retired_kid
                ),
            }
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Revoke {
                    storage,
                    workspace,
                    kid,
                },
        } => {
            let storage = Storage::open(&storage.backend()?)?;
            let keys = storage.keys.clone();
            let k = kid.clone();
            let r = store::transact_blocking(&*storage.store, move |tx| {
                service::revoke_key_unit(tx, &keys, &workspace, &k, now_ms())
            });
            if let Err(e) = r {
                storage.store.close();
                return Err(err(e));
            }
            finish_keys(&storage, &kid)?;
            println!("{kid} is revoked: nothing it signed verifies any more");
            Ok(())
        }
        Command::Kek {
            command: KekCommand::Generate,
        } => {
            let key: [u8; 32] = kvitto_server::ids::random().map_err(err)?;
            println!("{}", kvitto_server::ids::hex(&key));
            Ok(())
        }
        Command::Kek {
            command: KekCommand::Rotate { storage, format },
        } => {
            let backend = storage.backend()?;
            let Backend::Postgres { keks, .. } = &backend else {
                bail!(
                    "the key-encryption key belongs to the PostgreSQL backend (--database); a data directory keeps its keys in files"
                );
            };
            let keks = keks.clone();
            let storage = Storage::open(&backend)?;
            let ring = keks.clone();
            let r = store::transact_blocking(&*storage.store, move |tx| {
                service::reseal_unit(tx, &ring)
            });
            storage.store.close();
            let n = r.map_err(err)?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({"kek_id": keks.current.id(), "resealed": n})
                ),
                Format::Text => println!(
                    "{n} private keys sealed anew with {}; every key in the database now opens with it alone",
                    keks.current.id()
                ),
            }
            Ok(())
        }
        Command::PiiId { pepper_env, email } => {
            let pepper = std::env::var(&pepper_env).with_context(|| {
                format!("the environment variable {pepper_env} (the pepper) is not set")
            })?;
            if pepper.is_empty() {
                bail!("the pepper in {pepper_env} is empty");
            }
            println!("{}", kvitto_server::email_hmac(pepper.as_bytes(), &email));
            Ok(())
        }
        Command::Serve {
            storage,
            listen,
            log_format,
            max_body_bytes,
            export_wait_secs,
            web_dir,
        } => {
            init_logs(log_format, "info,tokio_postgres=warn");
            let backend = storage.backend()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            rt.block_on(kvitto_server::server::serve(ServeOptions {
                backend,
                listen,
                max_body_bytes,
                export_wait: Duration::from_secs(export_wait_secs),
                web_dir,
            }))
        }
    }
}

/// After a key change outside the server: sign what is pending, destroy
/// retired private keys, close. Returns whether `kid`'s private half is
/// destroyed (on a shared database, receipts of it may still be pending in
/// other instances' hands; one of them destroys it later).
fn finish_keys(storage: &Storage, kid: &str) -> anyhow::Result<bool> {
    let store: Arc<dyn Store> = storage.store.clone();
    let signer = Signer::new(store, storage.keys.clone(), Default::default());
    let drained = signer.drain().map_err(err);
    let k = kid.to_owned();
    let destroyed = store::read_blocking(&*storage.store, move |r| {
        Ok(r.key(&k)?.is_some_and(|k| k.private_destroyed))
    })
    .map_err(err);
    storage.store.close();
    drained?;
    if let KeyVault::Files(_) = storage.keys {
        // A data directory has one writer at a time: nothing is left.
        return Ok(true);
    }
    destroyed
}
