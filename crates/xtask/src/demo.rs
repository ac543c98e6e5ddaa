//! `cargo xtask demo`: kvitto's main job on the sample shipped in test-vectors/sample.

use std::process::Command;

use anyhow::{Context, bail};

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    if let Some(arg) = args.first() {
        bail!("cargo xtask demo takes no arguments (got {arg:?})");
    }
    let root = crate::root();
    crate::sh(&["cargo", "build", "--quiet", "-p", "kvitto-cli"])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let kvitto = target.join("debug/kvitto");
    let sample = root.join("test-vectors/sample");
    let keys = sample.join("keys.json");

    let steps = [
        (
            "the key document's pin (what an auditor records out of band)",
            vec!["keys", "pin"],
            None,
            0,
        ),
        (
            "the sample export, every receipt and every chain",
            vec!["verify", "--chains"],
            Some("export.jsonl"),
            0,
        ),
        (
            "a copy with one receipt's payload altered",
            vec!["verify", "--chains"],
            Some("export-tampered.jsonl"),
            1,
        ),
    ];
    for (title, words, input, want) in steps {
        let mut cmd = Command::new(&kvitto);
        cmd.args(&words);
        if words[0] == "verify" {
            cmd.arg("--keys").arg(&keys);
        } else {
            cmd.arg(&keys);
        }
        if let Some(file) = input {
            cmd.arg(sample.join(file));
        }
        println!("\n### {title}");
        println!(
            "$ kvitto {} {}{}",
            words.join(" "),
            if words[0] == "verify" {
                "--keys test-vectors/sample/keys.json "
            } else {
                "test-vectors/sample/keys.json"
            },
            input
                .map(|f| format!("test-vectors/sample/{f}"))
                .unwrap_or_default()
        );
        let status = cmd.status().context("running kvitto")?;
        let code = status.code().unwrap_or(-1);
        println!("(exit code {code})");
        if code != want {
            bail!("expected exit code {want}, got {code}");
        }
    }
    println!(
        "\ndemo: the sample verifies (exit 0) and the tampered copy fails (exit 1) with its code."
    );
    Ok(())
}
