//! `cargo xtask ci`: every check CI runs, installing what a fresh machine lacks.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// One step: a name and the command line run from the workspace root.
struct Step {
    name: &'static str,
    cmd: &'static [&'static str],
}

const STEPS: &[Step] = &[
    Step {
        name: "format",
        cmd: &["cargo", "fmt", "--all", "--", "--check"],
    },
    Step {
        name: "clippy (all targets, -D warnings)",
        cmd: &[
            "cargo",
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    },
    Step {
        name: "test vectors are what the generator makes",
        cmd: &["cargo", "xtask", "vectors", "--check"],
    },
    Step {
        name: "core builds for bare metal (no_std, thumbv7em-none-eabi)",
        cmd: &[
            "cargo",
            "build",
            "-p",
            "kvitto-core",
            "--features",
            "sign",
            "--target",
            "thumbv7em-none-eabi",
        ],
    },
    Step {
        name: "core builds for wasm32-unknown-unknown",
        cmd: &[
            "cargo",
            "build",
            "-p",
            "kvitto-core",
            "--target",
            "wasm32-unknown-unknown",
            "--release",
        ],
    },
    Step {
        name: "PostgreSQL server binaries (Debian's package where missing)",
        cmd: &["bash", "scripts/postgres-tests.sh", "--install"],
    },
    Step {
        name: "tests (every crate, vectors, external conformance data; kvitto-server on SQLite and PostgreSQL)",
        cmd: &["cargo", "test", "--workspace"],
    },
    Step {
        name: "two kvitto-server instances on one PostgreSQL database, kill -9, export verified",
        cmd: &["bash", "scripts/postgres-tests.sh", "--cli"],
    },
    Step {
        name: "Python package (pip install ./bindings/python, pytest)",
        cmd: &["bash", "scripts/python-tests.sh"],
    },
    Step {
        name: "wasm package and verification page (node --test, Playwright)",
        cmd: &["bash", "scripts/wasm-tests.sh"],
    },
    Step {
        name: "benchmarks build",
        cmd: &["cargo", "bench", "-p", "kvitto-core", "--no-run"],
    },
    Step {
        name: "bounded fuzz run",
        cmd: &["bash", "scripts/fuzz.sh"],
    },
    Step {
        name: "schemathesis against kvitto-server's /openapi.json (bounded)",
        cmd: &["bash", "scripts/schemathesis.sh"],
    },
    Step {
        name: "the README's demo (kvitto-server tour, export verified by the kvitto CLI)",
        cmd: &["cargo", "xtask", "demo"],
    },
];

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    if let Some(arg) = args.first() {
        bail!("cargo xtask ci takes no arguments (got {arg:?})");
    }
    let root = crate::root();
    std::env::set_current_dir(&root).context("entering the workspace root")?;
    install()?;
    let started = Instant::now();
    let mut passed = 0;
    for step in STEPS {
        let t = Instant::now();
        eprintln!("\n==> {}: {}", step.name, step.cmd.join(" "));
        let status = Command::new(step.cmd[0])
            .args(&step.cmd[1..])
            // kvitto-server's PostgreSQL tests skip where the server binaries
            // are missing; in CI that fails instead (a step installs them).
            .env("KVITTO_REQUIRE_POSTGRES", "1")
            .status()
            .with_context(|| format!("could not start {}", step.cmd[0]))?;
        if !status.success() {
            eprintln!("\nci: FAILED at step '{}' ({status})", step.name);
            eprintln!("ci: {passed} passed, 1 failed");
            bail!("step '{}' failed", step.name);
        }
        passed += 1;
        eprintln!("==> ok: {} ({:.0} s)", step.name, t.elapsed().as_secs_f64());
    }
    eprintln!(
        "\nall {} steps passed in {:.0} s",
        STEPS.len(),
        started.elapsed().as_secs_f64()
    );
    println!("ci: {passed} passed, 0 failed");
    Ok(())
}

/// What a fresh machine lacks: the two extra Rust targets and the tool components.
pub(crate) fn install() -> anyhow::Result<()> {
    crate::sh(&["rustup", "component", "add", "rustfmt", "clippy"])?;
    crate::sh(&[
        "rustup",
        "target",
        "add",
        "thumbv7em-none-eabi",
        "wasm32-unknown-unknown",
    ])?;
    Ok(())
}
