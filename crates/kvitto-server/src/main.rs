//! `kvitto-server`: initialize a data directory, manage workspaces and keys,
//! derive pseudonymous user ids, and serve the API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use kvitto_server::clock::now_ms;
use kvitto_server::server::{DataDir, ServeOptions};
use kvitto_server::service;
use kvitto_server::signer::Signer;
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory: database, first workspace, its signing key and API key.
    Init {
        #[arg(long, env = "KVITTO_DATA")]
        data: PathBuf,
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
    /// Serve the API.
    Serve {
        #[arg(long, env = "KVITTO_DATA")]
        data: PathBuf,
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
        #[arg(long, env = "KVITTO_DATA")]
        data: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Retire the active key now and make a new one active; sign the old
    /// key's pending receipts, then destroy its private half.
    Rotate {
        #[arg(long, env = "KVITTO_DATA")]
        data: PathBuf,
        #[arg(long)]
        workspace: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Mark a key revoked (compromised): everything it signed stops
    /// verifying. An active key is rotated first.
    Revoke {
        #[arg(long, env = "KVITTO_DATA")]
        data: PathBuf,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        kid: String,
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
        kvitto_server::Error::Internal { message } => anyhow::anyhow!(message),
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

fn create_workspace(dir: &DataDir, format: Format) -> anyhow::Result<()> {
    let keys = dir.keys.clone();
    let (ws, api_key, kid) = store::transact_blocking(&*dir.store, move |tx| {
        service::create_workspace_unit(tx, &keys, now_ms())
    })
    .map_err(err)?;
    dir.store.close();
    print_workspace(format, &ws, &api_key, &kid);
    Ok(())
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KVITTO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
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
    match cli.command {
        Command::Init { data, format } => create_workspace(&DataDir::create(&data)?, format),
        Command::Workspace {
            command: WorkspaceCommand::Create { data, format },
        } => create_workspace(&DataDir::open(&data)?, format),
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    data,
                    workspace,
                    format,
                },
        } => {
            init_logs(LogFormat::Text);
            let dir = DataDir::open(&data)?;
            let keys = dir.keys.clone();
            let ws = workspace.clone();
            let rotated = store::transact_blocking(&*dir.store, move |tx| {
                if !tx.workspace_exists(&ws)? {
                    return Err(kvitto_server::Error::not_found(
                        "workspace_not_found",
                        format!("no workspace {ws:?}"),
                    ));
                }
                service::rotate_unit(tx, &keys, &ws, now_ms())
            })
            .map_err(err)?;
            finish_keys(&dir)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&rotated)?),
                Format::Text => println!(
                    "rotated at {}: {} is active; {} retired (its pending receipts signed, its private key destroyed)",
                    rotated.at, rotated.kid, rotated.retired_kid
                ),
            }
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Revoke {
                    data,
                    workspace,
                    kid,
                },
        } => {
            init_logs(LogFormat::Text);
            let dir = DataDir::open(&data)?;
            let keys = dir.keys.clone();
            let k = kid.clone();
            store::transact_blocking(&*dir.store, move |tx| {
                service::revoke_key_unit(tx, &keys, &workspace, &k, now_ms())
            })
            .map_err(err)?;
            finish_keys(&dir)?;
            println!("{kid} is revoked: nothing it signed verifies any more");
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
            data,
            listen,
            log_format,
            max_body_bytes,
            export_wait_secs,
        } => {
            init_logs(log_format);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            rt.block_on(kvitto_server::server::serve(ServeOptions {
                data,
                listen,
                max_body_bytes,
                export_wait: Duration::from_secs(export_wait_secs),
            }))
        }
    }
}

/// After a key change outside the server: sign what is pending, destroy
/// retired private keys, close.
fn finish_keys(dir: &DataDir) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = dir.store.clone();
    let signer = Signer::new(store, dir.keys.clone(), Default::default());
    signer.drain().map_err(err)?;
    dir.store.close();
    Ok(())
}
