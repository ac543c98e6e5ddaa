//! Text for people: receipt strings escaped so they cannot forge a report.

use std::borrow::Cow;
use std::fmt::Write as _;

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
/// receipt can never forge a line (or reorder one) of a report (contract
/// section 9).
pub fn escape(s: &str) -> Cow<'_, str> {
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
