//! The command line as clap sees it: every command, flag and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Verify kvitto receipts, exports and chains offline.
///
/// Exit codes: 0 all valid, 1 a receipt invalid or a chain broken, 2 usage or
/// input error or no receipts, 3 key document unavailable, invalid or pin
/// mismatch, 130 interrupted. See docs/cli.md.
#[derive(Debug, Parser)]
#[command(name = "kvitto", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Verify receipts, exports and (with --chains) authorization chains.
    Verify(VerifyArgs),
    /// Fetch, pin and show key documents.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the RFC 8785 canonical bytes of any JSON value.
    Canon {
        /// A JSON file, or `-` for standard input.
        #[arg(default_value = "-")]
        input: String,
    },
    /// Show one receipt for people (and verify it with --keys).
    Inspect {
        /// The receipt file, or `-` for standard input.
        file: String,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// Where key documents come from and how they are trusted.
#[derive(Debug, Clone, Args)]
pub(crate) struct KeyArgs {
    /// A key document: a file or an https:// URL. Repeat for exports that
    /// span workspaces (one document per workspace).
    #[arg(long = "keys", value_name = "FILE|URL")]
    pub(crate) keys: Vec<String>,
    /// The SHA-256 pin of a key document (`sha256:HEX` or bare hex). The
    /// first --pin pins the first --keys, the second the second, and so on.
    #[arg(long = "pin", value_name = "sha256:HEX")]
    pub(crate) pins: Vec<String>,
    #[command(flatten)]
    pub(crate) fetch: FetchArgs,
}

/// How key documents are fetched.
#[derive(Debug, Clone, Args)]
pub(crate) struct FetchArgs {
    /// Allow plain http:// to a loopback host (127.0.0.0/8, ::1, localhost).
    #[arg(long)]
    pub(crate) allow_insecure_localhost: bool,
    /// An extra trusted CA certificate (PEM) for fetching key documents; may repeat.
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub(crate) ca_certs: Vec<PathBuf>,
    /// How long a cached key document is used before it is fetched again.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub(crate) cache_ttl: u64,
    /// Never use the network: serve key documents from the cache, even stale.
    #[arg(long)]
    pub(crate) offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// For people: one line per failure, then a summary.
    Text,
    /// JSON Lines, a stable contract (schema 1, docs/cli.md).
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// Group receipts by authorization_id and check every chain.
    #[arg(long)]
    pub(crate) chains: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Print only the summary (json: only error and summary lines).
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Stop after N invalid receipts (the summary is still printed; exit 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_failures: Option<u64>,
    /// Files, directories (recursively: *.json, *.jsonl, and the same with
    /// .gz) or `-` for standard input.
    #[arg(value_name = "INPUT", required = true)]
    pub(crate) inputs: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Fetch a key document now (never from the cache, unless --offline),
    /// check it, store it in the cache and print its bytes.
    Fetch {
        /// An https:// URL (or a file).
        url: String,
        /// The SHA-256 pin the document must match.
        #[arg(long, value_name = "sha256:HEX")]
        pin: Option<String>,
        #[command(flatten)]
        fetch: FetchArgs,
    },
    /// Print the SHA-256 pin of a key document (`sha256:...`).
    Pin {
        /// A file or an https:// URL.
        source: String,
        #[command(flatten)]
        fetch: FetchArgs,
    },
    /// Show a key document's keys as a table.
    Show {
        /// A file or an https:// URL.
        source: String,
        /// The SHA-256 pin the document must match.
        #[arg(long, value_name = "sha256:HEX")]
        pin: Option<String>,
        #[command(flatten)]
        fetch: FetchArgs,
    },
}
