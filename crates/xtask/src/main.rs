//! Developer tasks: `cargo xtask <task>`. Never a dependency of anything.

mod ci;
mod export_gen;
mod vectors;

use std::path::PathBuf;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  ci                   run every check CI runs (installs what it needs)
  vectors [--check]    regenerate test-vectors/ (--check: fail on any drift)
  gen-export ...       write a large synthetic export for benchmarks (see --help)
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
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
