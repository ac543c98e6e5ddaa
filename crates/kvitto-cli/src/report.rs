//! Output helpers: colour for people, and JSON lines of the report schema
//! (the types live in kvitto-report, shared with the other surfaces).

use std::io::{self, IsTerminal, Write};

use kvitto_report::Line;
pub(crate) use kvitto_report::escape;

/// Colour for people: only on a terminal, never with NO_COLOR set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paint {
    on: bool,
}

impl Paint {
    pub(crate) fn stdout() -> Paint {
        Paint {
            on: io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn wrap(self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub(crate) fn red(self, s: &str) -> String {
        self.wrap("31", s)
    }

    pub(crate) fn green(self, s: &str) -> String {
        self.wrap("32", s)
    }

    pub(crate) fn yellow(self, s: &str) -> String {
        self.wrap("33", s)
    }

    pub(crate) fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
}

/// Write one line of the report schema as a JSON line.
pub(crate) fn json_line(out: &mut impl Write, line: &Line) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(line).map_err(io::Error::from)?;
    bytes.push(b'\n');
    out.write_all(&bytes)
}

/// Report an error to stderr (text format), ignoring a closed stderr.
pub(crate) fn eprint_error(code: &str, message: &str) {
    let _ = writeln!(io::stderr(), "kvitto: error: {code}: {}", escape(message));
}
