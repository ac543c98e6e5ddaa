//! Output helpers: escaping receipt text for terminals, colour, JSON lines.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

/// The JSON output's schema version (docs/cli.md).
pub(crate) const SCHEMA: u64 = 1;

/// Whether a character must not reach a terminal raw: C0 and C1 controls,
/// DEL, and the bidi and line-separator characters that can make text
/// display as something else.
fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{2028}' | '\u{2029}')
}

/// `s` with every such character written as `\u{..}`, so text from a
/// receipt can never forge a line (or reorder one) of a report.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

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

/// A JSON value whose objects keep their members in the order written (the
/// documented order: `type` first).
#[derive(Debug, Clone)]
pub(crate) enum J {
    V(serde_json::Value),
    O(Vec<(&'static str, J)>),
    A(Vec<J>),
}

impl J {
    fn write(&self, out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            J::V(v) => serde_json::to_writer(&mut *out, v).map_err(io::Error::from)?,
            J::O(members) => {
                out.push(b'{');
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, name).map_err(io::Error::from)?;
                    out.push(b':');
                    value.write(out)?;
                }
                out.push(b'}');
            }
            J::A(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out)?;
                }
                out.push(b']');
            }
        }
        Ok(())
    }

    /// The member `name` of an object.
    pub(crate) fn get(&self, name: &str) -> Option<&serde_json::Value> {
        match self {
            J::O(members) => members
                .iter()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| match v {
                    J::V(v) => Some(v),
                    _ => None,
                }),
            _ => None,
        }
    }
}

/// Write one JSON object as a line.
pub(crate) fn json_line(out: &mut impl Write, members: Vec<(&'static str, J)>) -> io::Result<()> {
    let mut line = Vec::with_capacity(256);
    J::O(members).write(&mut line)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// `vec![("name", J::V(json!(value))), ...]`: an object's members, in order.
macro_rules! members {
    ($($name:literal : $value:expr),* $(,)?) => {
        vec![$(($name, $crate::report::J::V(serde_json::json!($value)))),*]
    };
}
pub(crate) use members;

/// Report an error to stderr (text format), ignoring a closed stderr.
pub(crate) fn eprint_error(code: &str, message: &str) {
    let _ = writeln!(io::stderr(), "kvitto: error: {code}: {}", escape(message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a\nb"), "a\\u{a}b");
        assert_eq!(escape("x\u{202e}y\u{2066}"), "x\\u{202e}y\\u{2066}");
        assert_eq!(escape("\u{7f}\u{85}\u{2028}"), "\\u{7f}\\u{85}\\u{2028}");
        assert_eq!(escape("é ✓"), "é ✓");
    }
}
