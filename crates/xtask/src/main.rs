//! Developer tasks: `cargo xtask <task>`. Never a dependency of anything.

mod ci;
mod demo;
mod export_gen;
mod vectors;

use std::path::PathBuf;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  ci                   run every check CI runs (installs what it needs)
  demo                 a tour of kvitto-server: every decision, a key rotation, a revocation;
                       export, verify offline with the kvitto CLI, then a tampered copy
  vectors [--check]    regenerate test-vectors/ (--check: fail on any drift)
  gen-export ...       write a large synthetic export for benchmarks (see --help)
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("vectors") => vectors::run(&args[1..]),
        Some("gen-export") => export_gen::run(&args[1..]),
        _ => {
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

/// The workspace root (xtask lives in crates/xtask).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// Run a command from the workspace root; fail with its name if it fails.
pub(crate) fn sh(cmd: &[&str]) -> anyhow::Result<()> {
    eprintln!("+ {}", cmd.join(" "));
    let status = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .current_dir(root())
        .status()
        .map_err(|e| anyhow::anyhow!("could not start {}: {e}", cmd[0]))?;
    if !status.success() {
        anyhow::bail!("`{}` failed ({status})", cmd.join(" "));
    }
    Ok(())
}
