//! Reading exports (contract section 9): framing, lenient grouping, and export verification.

use alloc::string::String;
use alloc::vec::Vec;

use crate::chain::{ChainEntry, ChainReport, ChainSet};
use crate::verify::{self, Verified};
use crate::{Error, KeySet};

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// One receipt's text inside an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The receipt's own text: a line without its line break, an array
    /// element's span, or a single value without surrounding white space.
    pub bytes: &'a [u8],
    /// Byte offset of `bytes` in the input.
    pub offset: usize,
    /// 1-based line on which the receipt starts.
    pub line: usize,
    /// Position in an array input; `None` otherwise.
    pub index: Option<usize>,
}

/// How an input is framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// One JSON value by the grammar alone, from `start` to `end`.
    Value { start: usize, end: usize },
    /// An array; the spans of its elements.
    Array { elements: Vec<(usize, usize)> },
    /// JSON Lines.
    Lines,
}

/// Decide how `input` is framed (section 9).
pub fn framing(input: &[u8]) -> Framing {
    let mut scanner = Scanner::new();
    match scanner.feed(input) {
        Scan::Done { start, end } if input[end..].iter().all(|&b| is_ws(b)) => {
            if input[start] == b'[' {
                Framing::Array {
                    elements: scanner.take_elements(),
                }
            } else {
                Framing::Value { start, end }
            }
        }
        Scan::NeedMore => match scanner.finish() {
            Scan::Done { start, end } => Framing::Value { start, end },
            _ => Framing::Lines,
        },
        _ => Framing::Lines,
    }
}

/// Split an export into receipts exactly as section 9 says.
pub fn records(input: &[u8]) -> Vec<Record<'_>> {
    match framing(input) {
        Framing::Value { start, end } => vec_one(Record {
            bytes: &input[start..end],
            offset: start,
            line: line_at(input, 0, 1, start),
            index: None,
        }),
        Framing::Array { elements } => {
            let mut line = 1;
            let mut at = 0;
            elements
                .into_iter()
                .enumerate()
                .map(|(i, (start, end))| {
                    line = line_at(input, at, line, start);
                    at = start;
                    Record {
                        bytes: &input[start..end],
                        offset: start,
                        line,
                        index: Some(i),
                    }
                })
                .collect()
        }
        Framing::Lines => Lines::new(input).collect(),
    }
}

fn vec_one(r: Record<'_>) -> Vec<Record<'_>> {
    alloc::vec![r]
}

/// The line number at `to`, counting from `line` at `from`.
fn line_at(input: &[u8], from: usize, line: usize, to: usize) -> usize {
    line + input[from..to].iter().filter(|&&b| b == b'\n').count()
}

/// JSON Lines framing: split on LF only, drop one CR before each LF, skip
/// lines of only JSON white space.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Lines {
            input,
            pos: 0,
            line: 0,
        }
    }
}

/// The receipt text of one line of JSON Lines (the line given without its
/// LF): one CR before the LF dropped; `None` for a line of only white space.
pub fn line_record(line: &[u8], had_lf: bool) -> Option<&[u8]> {
    let text = match line {
        [head @ .., b'\r'] if had_lf => head,
        _ => line,
    };
    (!text.iter().all(|&b| is_ws(b))).then_some(text)
}

impl<'a> Iterator for Lines<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        while self.pos < self.input.len() {
            let start = self.pos;
            let rest = &self.input[start..];
            self.line += 1;
            let (line, had_lf) = match rest.iter().position(|&b| b == b'\n') {
                Some(lf) => (&rest[..lf], true),
                None => (rest, false),
            };
            self.pos = start + line.len() + usize::from(had_lf);
            if let Some(bytes) = line_record(line, had_lf) {
                return Some(Record {
                    bytes,
                    offset: start,
                    line: self.line,
                    index: None,
                });
            }
        }
        None
    }
}

/// What an incremental grammar scan has found so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The value is not complete yet.
    NeedMore,
    /// The first value spans `start..end` (absolute offsets).
    Done { start: usize, end: usize },
    /// Not JSON by the grammar; the byte at `at` is the first that cannot fit.
    Invalid { at: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Value,
    ValueOrClose,
    KeyOrClose,
    Key,
    Colon,
    After,
    Str { key: bool },
    Esc { key: bool },
    Hex { key: bool, left: u8 },
    Lit { word: &'static [u8], at: u8 },
    Num(Num),
    Done,
    Bad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

/// An incremental scanner of one JSON value by the grammar alone (no
/// duplicate, surrogate, number-range or depth rules; bytes of strings are
/// not checked as UTF-8). Iterative: no recursion whatever the nesting.
/// When the value is an array it records the spans of its elements.
#[derive(Debug, Clone)]
pub struct Scanner {
    state: St,
    stack: Vec<u8>,
    pos: usize,
    start: Option<usize>,
    end: Option<usize>,
    elem_start: Option<usize>,
    elements: Vec<(usize, usize)>,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    pub fn new() -> Self {
        Scanner {
            state: St::Value,
            stack: Vec::new(),
            pos: 0,
            start: None,
            end: None,
            elem_start: None,
            elements: Vec::new(),
        }
    }

    /// The spans of the root array's elements found so far.
    pub fn take_elements(&mut self) -> Vec<(usize, usize)> {
        core::mem::take(&mut self.elements)
    }

    /// Feed the next chunk. Stops at the end of the first value.
    pub fn feed(&mut self, chunk: &[u8]) -> Scan {
        for &b in chunk {
            match self.state {
                St::Done => return self.result(),
                St::Bad => return Scan::Invalid { at: self.pos },
                _ => {}
            }
            self.step(b);
            if self.state == St::Bad {
                return Scan::Invalid { at: self.pos };
            }
            self.pos += 1;
        }
        self.result()
    }

    /// End of input: a number at the very end completes the value.
    pub fn finish(&mut self) -> Scan {
        if let St::Num(Num::Zero | Num::Int | Num::Frac | Num::Exp) = self.state {
            self.value_end(self.pos);
        }
        match self.result() {
            Scan::NeedMore => Scan::Invalid { at: self.pos },
            other => other,
        }
    }

    fn result(&self) -> Scan {
        match (self.state, self.start, self.end) {
            (St::Done, Some(start), Some(end)) => Scan::Done { start, end },
            (St::Bad, _, _) => Scan::Invalid { at: self.pos },
            _ => Scan::NeedMore,
        }
    }

    fn begin_value(&mut self) {
        if self.start.is_none() {
            self.start = Some(self.pos);
        }
        if self.stack.len() == 1 && self.stack[0] == b'[' {
            self.elem_start = Some(self.pos);
        }
    }

    /// A value ended just before `end`.
    fn value_end(&mut self, end: usize) {
        if self.stack.len() == 1
            && self.stack[0] == b'['
            && let Some(s) = self.elem_start.take()
        {
            self.elements.push((s, end));
        }
        if self.stack.is_empty() {
            self.state = St::Done;
            self.end = Some(end);
        } else {
            self.state = St::After;
        }
    }

    fn step(&mut self, b: u8) {
        self.state = match self.state {
            St::Value | St::ValueOrClose => {
                if is_ws(b) {
                    return;
                }
                if b == b']' && self.state == St::ValueOrClose {
                    self.close(b);
                    return;
                }
                self.begin_value();
                match b {
                    b'{' => {
                        self.stack.push(b'{');
                        St::KeyOrClose
                    }
                    b'[' => {
                        self.stack.push(b'[');
                        St::ValueOrClose
                    }
                    b'"' => St::Str { key: false },
                    b't' => St::Lit {
                        word: b"true",
                        at: 1,
                    },
                    b'f' => St::Lit {
                        word: b"false",
                        at: 1,
                    },
                    b'n' => St::Lit {
                        word: b"null",
                        at: 1,
                    },
                    b'-' => St::Num(Num::Minus),
                    b'0' => St::Num(Num::Zero),
                    b'1'..=b'9' => St::Num(Num::Int),
                    _ => St::Bad,
                }
            }
            St::KeyOrClose | St::Key => match b {
                _ if is_ws(b) => return,
                b'"' => St::Str { key: true },
                b'}' if self.state == St::KeyOrClose => {
                    self.close(b);
                    return;
                }
                _ => St::Bad,
            },
            St::Colon => match b {
                _ if is_ws(b) => return,
                b':' => St::Value,
                _ => St::Bad,
            },
            St::After => match (b, self.stack.last()) {
                _ if is_ws(b) => return,
                (b',', Some(b'[')) => St::Value,
                (b',', Some(b'{')) => St::Key,
                (b']', Some(b'[')) | (b'}', Some(b'{')) => {
                    self.close(b);
                    return;
                }
                _ => St::Bad,
            },
            St::Str { key } => match b {
                b'"' => {
                    if key {
                        St::Colon
                    } else {
                        self.value_end(self.pos + 1);
                        return;
                    }
                }
                b'\\' => St::Esc { key },
                0x00..=0x1F => St::Bad,
                _ => return,
            },
            St::Esc { key } => match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => St::Str { key },
                b'u' => St::Hex { key, left: 4 },
                _ => St::Bad,
            },
            St::Hex { key, left } => match b {
                _ if !b.is_ascii_hexdigit() => St::Bad,
                _ if left == 1 => St::Str { key },
                _ => St::Hex {
                    key,
                    left: left - 1,
                },
            },
            St::Lit { word, at } => {
                if word.get(usize::from(at)) != Some(&b) {
                    St::Bad
                } else if usize::from(at) + 1 == word.len() {
                    self.value_end(self.pos + 1);
                    return;
                } else {
                    St::Lit { word, at: at + 1 }
                }
            }
            St::Num(n) => match self.number(n, b) {
                Some(next) => St::Num(next),
                None if matches!(n, Num::Zero | Num::Int | Num::Frac | Num::Exp) => {
                    // The number ended before this byte: re-read it.
                    self.value_end(self.pos);
                    if self.state == St::Done {
                        return;
                    }
                    self.step(b);
                    return;
                }
                None => St::Bad,
            },
            St::Done | St::Bad => self.state,
        };
    }

    fn number(&self, n: Num, b: u8) -> Option<Num> {
        let digit = b.is_ascii_digit();
        Some(match (n, b) {
            (Num::Minus, b'0') => Num::Zero,
            (Num::Minus, _) if digit => Num::Int,
            (Num::Int, _) if digit => Num::Int,
            (Num::Zero | Num::Int, b'.') => Num::Dot,
            (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Num::E,
            (Num::Dot | Num::Frac, _) if digit => Num::Frac,
            (Num::E, b'+' | b'-') => Num::ESign,
            (Num::E | Num::ESign | Num::Exp, _) if digit => Num::Exp,
            _ => return None,
        })
    }

    fn close(&mut self, b: u8) {
        let open = if b == b']' { b'[' } else { b'{' };
        if self.stack.pop() != Some(open) {
            self.state = St::Bad;
            return;
        }
        self.value_end(self.pos + 1);
    }
}

/// What grouping reads of a receipt that may be invalid (section 9): the
/// receipt parses by the JSON grammar, and the last occurrence of a
/// duplicated member counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LenientIds {
    pub authorization_id: Option<String>,
    pub receipt_id: Option<String>,
}

/// Read `payload.authorization_id` and `payload.receipt_id` leniently.
pub fn lenient_ids(bytes: &[u8]) -> LenientIds {
    let mut scanner = Scanner::new();
    let ok = match scanner.feed(bytes) {
        Scan::Done { end, .. } => bytes[end..].iter().all(|&b| is_ws(b)),
        Scan::NeedMore => matches!(scanner.finish(), Scan::Done { .. }),
        Scan::Invalid { .. } => false,
    };
    let mut ids = LenientIds::default();
    if !ok {
        return ids;
    }
    let mut w = Walker { b: bytes, pos: 0 };
    w.ws();
    if w.peek() != Some(b'{') {
        return ids;
    }
    w.members(|w, name| {
        if name != "payload" {
            w.skip_value();
            return;
        }
        // The last `payload` counts, whatever it holds.
        ids = LenientIds::default();
        if w.peek() != Some(b'{') {
            w.skip_value();
            return;
        }
        w.members(|w, inner| {
            let slot = match inner.as_str() {
                "authorization_id" => &mut ids.authorization_id,
                "receipt_id" => &mut ids.receipt_id,
                _ => {
                    w.skip_value();
                    return;
                }
            };
            *slot = if w.peek() == Some(b'"') {
                Some(w.string())
            } else {
                w.skip_value();
                None
            };
        });
    });
    ids
}

/// Walks text already known to be one grammatical JSON value.
struct Walker<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Walker<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// At `{`: call `f` with each member name, positioned at its value;
    /// `f` must consume the value.
    fn members(&mut self, mut f: impl FnMut(&mut Self, String)) {
        self.pos += 1;
        loop {
            self.ws();
            match self.peek() {
                Some(b'"') => {
                    let name = self.string();
                    self.ws();
                    self.pos += 1; // ':'
                    self.ws();
                    f(self, name);
                    self.ws();
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                    }
                }
                _ => {
                    self.pos += 1; // '}'
                    return;
                }
            }
        }
    }

    /// At `"`: the unescaped string; lone surrogates and invalid UTF-8 become U+FFFD.
    fn string(&mut self) -> String {
        self.pos += 1;
        let mut raw: Vec<u8> = Vec::new();
        let mut pending_high: Option<u32> = None;
        let push = |raw: &mut Vec<u8>, c: char| {
            let mut buf = [0u8; 4];
            raw.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        };
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c != b'\\' {
                if pending_high.take().is_some() {
                    push(&mut raw, '\u{FFFD}');
                }
                if c == b'"' {
                    break;
                }
                raw.push(c);
                continue;
            }
            let e = self.peek().unwrap_or(b'"');
            self.pos += 1;
            let unit = match e {
                b'u' => {
                    let hex = &self.b[self.pos..self.pos + 4];
                    self.pos += 4;
                    hex.iter().fold(0u32, |acc, &h| {
                        acc * 16 + char::from(h).to_digit(16).unwrap_or(0)
                    })
                }
                b'b' => 8,
                b'f' => 12,
                b'n' => 10,
                b'r' => 13,
                b't' => 9,
                other => u32::from(other),
            };
            match (pending_high.take(), unit) {
                (Some(hi), 0xDC00..=0xDFFF) => {
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (unit - 0xDC00);
                    push(&mut raw, char::from_u32(code).unwrap_or('\u{FFFD}'));
                }
                (high, _) => {
                    if high.is_some() {
                        push(&mut raw, '\u{FFFD}');
                    }
                    if (0xD800..=0xDBFF).contains(&unit) {
                        pending_high = Some(unit);
                    } else {
                        push(&mut raw, char::from_u32(unit).unwrap_or('\u{FFFD}'));
                    }
                }
            }
        }
        String::from_utf8_lossy(&raw).into_owned()
    }

    /// Skip one value (iteratively: nesting depth does not matter).
    fn skip_value(&mut self) {
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'"' => {
                            self.skip_string();
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                    self.pos += 1;
                    if depth == 0 {
                        return;
                    }
                }
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|b| !is_ws(b) && !matches!(b, b',' | b'}' | b']'))
                {
                    self.pos += 1;
                }
            }
        }
    }

    fn skip_string(&mut self) {
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                b'\\' => self.pos += 1,
                b'"' => return,
                _ => {}
            }
        }
    }
}

/// The verdict on one receipt of an export.
#[derive(Debug, Clone)]
pub struct RecordReport {
    pub offset: usize,
    pub line: usize,
    pub index: Option<usize>,
    pub result: Result<Verified, Error>,
    /// Lenient readings, present also for invalid receipts where they parse.
    pub ids: LenientIds,
}

/// The verdicts on an export: every receipt in input order, and with
/// chains requested, every authorization's chain in order of first appearance.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub records: Vec<RecordReport>,
    pub chains: Vec<ChainReport>,
    /// Receipts whose authorization_id could not be read (no chain holds them).
    pub ungrouped: usize,
}

impl ExportReport {
    /// At least one receipt, every receipt valid, and every chain intact.
    /// An empty export is never valid.
    pub fn is_valid(&self) -> bool {
        !self.records.is_empty()
            && self.records.iter().all(|r| r.result.is_ok())
            && self.chains.iter().all(ChainReport::is_ok)
    }
}

/// Verify a whole export held in memory: frame it (section 9), verify each
/// receipt on its own (section 7), and with `chains`, group by authorization
/// and check each chain (section 8).
pub fn verify_export(input: &[u8], keysets: &[KeySet], chains: bool) -> ExportReport {
    let mut set = ChainSet::new();
    let records: Vec<RecordReport> = records(input)
        .into_iter()
        .enumerate()
        .map(|(position, rec)| {
            let result = verify::verify_receipt_in(rec.bytes, keysets);
            let ids = match &result {
                Ok(v) => LenientIds {
                    authorization_id: Some(v.header.authorization_id.clone()),
                    receipt_id: Some(v.header.receipt_id.clone()),
                },
                Err(_) => lenient_ids(rec.bytes),
            };
            if chains {
                set.add(
                    ids.authorization_id.as_deref(),
                    ChainEntry::new(position, ids.receipt_id.clone(), &result),
                );
            }
            RecordReport {
                offset: rec.offset,
                line: rec.line,
                index: rec.index,
                result,
                ids,
            }
        })
        .collect();
    let ungrouped = set.ungrouped();
    ExportReport {
        records,
        chains: if chains { set.finish() } else { Vec::new() },
        ungrouped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{chain, keyset};
    use alloc::vec;

    fn spans(input: &str) -> Vec<(&str, usize, Option<usize>)> {
        records(input.as_bytes())
            .into_iter()
            .map(|r| (core::str::from_utf8(r.bytes).unwrap(), r.line, r.index))
            .collect()
    }

    #[test]
    fn framing_rules() {
        assert_eq!(spans(" {\"a\":\n1} \n"), vec![("{\"a\":\n1}", 1, None)]);
        assert_eq!(
            spans("[\n {\"a\":1},\n\n {\"b\":2}\n]"),
            vec![("{\"a\":1}", 2, Some(0)), ("{\"b\":2}", 4, Some(1))]
        );
        assert_eq!(
            spans("{\"a\":1}\r\n\r\n  \n{\"b\":2}\r\nbroken\n"),
            vec![
                ("{\"a\":1}", 1, None),
                ("{\"b\":2}", 4, None),
                ("broken", 5, None)
            ]
        );
        // A CR not followed by LF stays (and is JSON white space).
        assert_eq!(spans("{}\n{}\r"), vec![("{}", 1, None), ("{}\r", 2, None)]);
        assert_eq!(spans(""), vec![]);
        assert_eq!(spans(" \n\t\r\n"), vec![]);
        assert_eq!(spans("42"), vec![("42", 1, None)]);
        assert_eq!(spans("[]"), vec![]);
        // Grammar only: duplicates and lone surrogates do not change framing.
        assert_eq!(
            spans("{\"a\":1,\"a\":\"\\ud800\"}"),
            vec![("{\"a\":1,\"a\":\"\\ud800\"}", 1, None)]
        );
        // A BOM makes the input JSON Lines.
        assert_eq!(spans("\u{feff}{}"), vec![("\u{feff}{}", 1, None)]);
    }

    #[test]
    fn scanner_chunking_and_depth() {
        let input = b"[1, -0.5e+3, \"a\\u00e9\\\"\", {\"k\": [true, false, null]}] ";
        let whole = Scanner::new().feed(input);
        for split in 0..input.len() {
            let mut s = Scanner::new();
            let first = s.feed(&input[..split]);
            let result = if first == Scan::NeedMore {
                s.feed(&input[split..])
            } else {
                first
            };
            assert_eq!(result, whole, "split at {split}");
        }
        assert_eq!(
            whole,
            Scan::Done {
                start: 0,
                end: input.len() - 1
            }
        );
        let deep = "[".repeat(200_000) + &"]".repeat(200_000);
        assert_eq!(
            Scanner::new().feed(deep.as_bytes()),
            Scan::Done {
                start: 0,
                end: deep.len()
            }
        );
        let mut s = Scanner::new();
        assert_eq!(s.feed(b" 12"), Scan::NeedMore);
        assert_eq!(s.finish(), Scan::Done { start: 1, end: 3 });
        for bad in [
            "[1,]",
            "{\"a\" 1}",
            "01",
            "tru",
            "[}",
            "\"\u{1}\"",
            "-",
            "1.e3",
            "{} {}",
        ] {
            assert_eq!(framing(bad.as_bytes()), Framing::Lines, "{bad}");
        }
        let mut s = Scanner::new();
        assert_eq!(s.feed(b"[1,]"), Scan::Invalid { at: 3 });
    }

    #[test]
    fn lenient_grouping() {
        let ids = lenient_ids(
            br#"{"payload":{"authorization_id":"x","a":{"b":[1,{"authorization_id":"no"}]},"authorization_id":"a\u0062","receipt_id":7},"payload":{"authorization_id":"last","x":1,"x":2}}"#,
        );
        assert_eq!(ids.authorization_id.as_deref(), Some("last"));
        assert_eq!(ids.receipt_id, None);
        let ids = lenient_ids(br#"{"payload":{"authorization_id":"a\u0062\ud800"}}"#);
        assert_eq!(ids.authorization_id.as_deref(), Some("ab\u{FFFD}"));
        assert_eq!(
            lenient_ids(b"{\"payload\":{\"authorization_id\":\"a\"}"),
            LenientIds::default()
        );
        for last in ["5", "[1]", "null", "\"x\"", "{}"] {
            let input =
                alloc::format!("{{\"payload\":{{\"authorization_id\":\"a\"}},\"payload\":{last}}}");
            assert_eq!(
                lenient_ids(input.as_bytes()),
                LenientIds::default(),
                "{input}"
            );
        }
        let deep = alloc::format!(
            "{{\"x\":{}{}, \"payload\":{{\"authorization_id\":\"d\"}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            lenient_ids(deep.as_bytes()).authorization_id.as_deref(),
            Some("d")
        );
    }

    #[test]
    fn export_with_chains() {
        let mut lines = chain("auth_a", 3, true);
        lines.extend(chain("auth_b", 3, false));
        lines[4] = lines[4].replace("email.send", "email.read");
        let input = lines.join("\n");
        let report = verify_export(input.as_bytes(), &[keyset()], true);
        assert_eq!(report.records.len(), 6);
        assert!(!report.is_valid());
        assert_eq!(report.chains.len(), 2);
        assert!(report.chains[0].is_ok() && report.chains[0].closed);
        assert_eq!(
            report.chains[1].result.as_ref().unwrap_err().code(),
            "chain_invalid_receipt"
        );
        assert_eq!(
            report.records[4].ids.authorization_id.as_deref(),
            Some("auth_b")
        );
        let empty = verify_export(b"\n", &[keyset()], true);
        assert!(empty.records.is_empty() && !empty.is_valid());
    }
}
