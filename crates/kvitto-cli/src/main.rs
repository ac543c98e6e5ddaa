//! The `kvitto` command: verify receipts, exports and chains offline.
//!
//! Exit codes (docs/cli.md): the highest that applies wins, 3 key document,
//! 2 usage or input, 1 invalid, 0 valid; 130 on Ctrl-C. A closed stdout
//! (`| head`) ends the program quietly.

mod cli;
mod keys;
mod misc;
mod report;
mod verify;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command};

/// Every receipt valid (and every chain intact).
pub(crate) const EXIT_OK: u8 = 0;
/// A receipt invalid or a chain broken.
pub(crate) const EXIT_INVALID: u8 = 1;
/// Usage or input I/O error, or no receipts found.
pub(crate) const EXIT_USAGE: u8 = 2;
/// A key document unavailable, invalid, or not matching its pin.
pub(crate) const EXIT_KEYS: u8 = 3;
/// Interrupted by Ctrl-C.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;
/// Standard output was closed by the reader (128 + SIGPIPE, as a shell reports it).
pub(crate) const EXIT_PIPE: u8 = 141;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let _ = writeln!(io::stderr(), "kvitto: internal error: {msg}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_PIPE,
        Err(e) => {
            let _ = writeln!(io::stderr(), "kvitto: error: io_error: {e}");
            EXIT_USAGE
        }
    };
    ExitCode::from(code)
}

/// Run one command; `Err` only for a failed write to standard output.
fn run(cli: Cli) -> io::Result<u8> {
    match cli.command {
        Command::Verify(args) => verify::run(args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Canon { input } => misc::canon(&input),
        Command::Inspect { file, keys } => misc::inspect(&file, &keys),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kvitto", &mut script);
            let mut out = io::stdout().lock();
            out.write_all(&script)?;
            out.flush()?;
            Ok(EXIT_OK)
        }
        Command::Man => {
            let mut out = io::stdout().lock();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            out.flush()?;
            Ok(EXIT_OK)
        }
    }
}
