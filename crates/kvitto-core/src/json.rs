//! The strict JSON profile of the contract (section 2): kvitto's own value type and parser.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::{Deref, Range};

use crate::Error;

/// Largest receipt or key document, in bytes of text.
pub const MAX_SIZE: usize = 1 << 20;
/// Deepest nesting of arrays and objects; the outermost value counts as 1.
pub const MAX_DEPTH: usize = 64;
/// Longest number token, in characters.
pub const MAX_NUMBER_LEN: usize = 128;
/// Largest integer magnitude a receipt or key document may hold: 2^53 − 1.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A parsed JSON value whose strings are held as `S`. Objects keep their
/// members in input order; the parser has already rejected duplicate names.
///
/// [`Value`] owns its strings; [`Borrowed`] borrows those without escapes
/// from the text it was parsed from, which is what the verifier reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Tree<S> {
    Null,
    Bool(bool),
    /// The nearest binary64 value of the number token, correctly rounded.
    Number(f64),
    String(S),
    Array(Vec<Tree<S>>),
    Object(Vec<(S, Tree<S>)>),
}

/// A parsed JSON value that owns its strings.
pub type Value = Tree<String>;

/// A parsed JSON value borrowing its unescaped strings from the input.
pub type Borrowed<'a> = Tree<Cow<'a, str>>;

impl<'a> Borrowed<'a> {
    /// The same value owning its strings.
    pub fn into_owned(self) -> Value {
        match self {
            Tree::Null => Tree::Null,
            Tree::Bool(b) => Tree::Bool(b),
            Tree::Number(n) => Tree::Number(n),
            Tree::String(s) => Tree::String(s.into_owned()),
            Tree::Array(items) => {
                Tree::Array(items.into_iter().map(Borrowed::into_owned).collect())
            }
            Tree::Object(members) => Tree::Object(
                members
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ),
        }
    }
}

impl<S: Deref<Target = str>> Tree<S> {
    /// The member `name` of an object, or `None` (also for non-objects).
    pub fn get(&self, name: &str) -> Option<&Tree<S>> {
        match self {
            Tree::Object(members) => members.iter().find(|(k, _)| &**k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Tree::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Tree::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(S, Tree<S>)]> {
        match self {
            Tree::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Tree<S>]> {
        match self {
            Tree::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The value as an integer when it is an integral number within ±(2^53 − 1)
    /// (`1`, `1.0` and `1e0` are all 1).
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Tree::Number(n) if n.abs() <= MAX_SAFE_INTEGER && (*n as i64) as f64 == *n => {
                Some(*n as i64)
            }
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Tree::Null)
    }

    /// A short name of the value's JSON type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Tree::Null => "null",
            Tree::Bool(_) => "a boolean",
            Tree::Number(_) => "a number",
            Tree::String(_) => "a string",
            Tree::Array(_) => "an array",
            Tree::Object(_) => "an object",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(String::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Number(n as f64)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Number(n as f64)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

/// Which limits of section 2 apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Receipts and key documents: every rule, including the 1 MiB size limit
    /// and the ±(2^53 − 1) magnitude limit.
    Receipt,
    /// Arbitrary JSON for canonicalization: every rule but those two.
    Canon,
}

/// Parse one JSON value under the strict profile.
pub fn parse(input: &[u8], profile: Profile) -> Result<Value, Error> {
    parse_tree(input, profile).map(|(value, _)| value)
}

/// Parse one receipt under the strict profile ([`Profile::Receipt`]) like
/// [`parse`], borrowing the strings without escapes from `input`. Also
/// returns where the outer object's `payload` member lies in `input` when
/// its text is exactly its own RFC 8785 form (no white space, no escapes,
/// numbers as ECMAScript writes them, members in order): then those bytes
/// are `JCS(payload)` and need not be written again.
pub fn parse_receipt(input: &[u8]) -> Result<(Borrowed<'_>, Option<Range<usize>>), Error> {
    parse_tree(input, Profile::Receipt)
}

fn parse_tree<'a, S: Text<'a>>(
    input: &'a [u8],
    profile: Profile,
) -> Result<(Tree<S>, Option<Range<usize>>), Error> {
    if profile == Profile::Receipt && input.len() > MAX_SIZE {
        return Err(Error::TooLarge {
            size: input.len(),
            limit: MAX_SIZE,
        });
    }
    if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(malformed(0, "byte order mark"));
    }
    let text =
        core::str::from_utf8(input).map_err(|e| malformed(e.valid_up_to(), "invalid UTF-8"))?;
    let mut p = Parser {
        text,
        bytes: input,
        pos: 0,
        depth: 0,
        safe_integers: profile == Profile::Receipt,
        members: Vec::new(),
        items: Vec::new(),
        departures: 0,
        canonical_payload: None,
    };
    p.skip_ws();
    let value = p.value()?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(malformed(p.pos, "data after the JSON value"));
    }
    Ok((value, p.canonical_payload))
}

/// How the parser holds a string: borrowed from the input when it has no
/// escapes (if the type can borrow), else owned.
trait Text<'a>: Deref<Target = str> + Sized {
    fn borrowed(text: &'a str) -> Self;
    fn owned(text: String) -> Self;
}

impl<'a> Text<'a> for String {
    fn borrowed(text: &'a str) -> Self {
        String::from(text)
    }
    fn owned(text: String) -> Self {
        text
    }
}

impl<'a> Text<'a> for Cow<'a, str> {
    fn borrowed(text: &'a str) -> Self {
        Cow::Borrowed(text)
    }
    fn owned(text: String) -> Self {
        Cow::Owned(text)
    }
}

fn malformed(offset: usize, reason: &'static str) -> Error {
    Error::MalformedJson { offset, reason }
}

/// Text from a receipt as an error message shows it: at most 64
/// characters, then `…`, so that an error (which a report may keep until
/// the end of a long export) stays small whatever the receipt holds.
pub(crate) fn shown(text: &str) -> alloc::borrow::Cow<'_, str> {
    match text.char_indices().nth(64) {
        None => alloc::borrow::Cow::Borrowed(text),
        Some((cut, _)) => alloc::borrow::Cow::Owned(alloc::format!("{}…", &text[..cut])),
    }
}

/// A member name as the first segment of a path: bare when it is a plain
/// name, otherwise quoted and escaped (so no receipt can forge report
/// lines); a long name is cut short (see [`shown`]).
pub(crate) fn path_segment(name: &str) -> String {
    let name = &*shown(name);
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        String::from(name)
    } else {
        alloc::format!("[{name:?}]")
    }
}

/// A member name as a later segment of a path: `.name` or `["name"]`.
pub(crate) fn member_path(name: &str) -> String {
    let segment = path_segment(name);
    if segment.starts_with('[') {
        segment
    } else {
        alloc::format!(".{segment}")
    }
}

/// Prefix a member name or array index to the path of a nested duplicate.
fn nest(err: Error, segment: impl FnOnce() -> String) -> Error {
    match err {
        Error::DuplicateKey { path, name } => {
            let mut full = segment();
            if !path.is_empty() && !path.starts_with('[') {
                full.push('.');
            }
            full.push_str(&path);
            Error::DuplicateKey { path: full, name }
        }
        other => other,
    }
}

/// Bytes that end a run of plain string text: `"`, `\\` and control
/// characters. They are also exactly the bytes RFC 8785 writes escaped.
pub(crate) const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

struct Parser<'a, S> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    safe_integers: bool,
    /// Members and items of the open objects and arrays, so that each
    /// finished one is allocated once at its exact size.
    members: Vec<(S, Tree<S>)>,
    items: Vec<Tree<S>>,
    /// How many places so far the text departs from RFC 8785's form (white
    /// space, an escape, a number ECMAScript would write otherwise, members
    /// out of order): a value parsed without a new departure is canonical.
    departures: usize,
    /// Where the outer object's `payload` lies, when it is canonical text.
    canonical_payload: Option<Range<usize>>,
}

impl<'a, S: Text<'a>> Parser<'a, S> {
    fn skip_ws(&mut self) {
        let start = self.pos;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        if self.pos != start {
            self.departures += 1;
        }
    }

    fn value(&mut self) -> Result<Tree<S>, Error> {
        match self.bytes.get(self.pos) {
            None => Err(malformed(self.pos, "unexpected end of input")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Tree::String),
            Some(b't') => self.literal("true", Tree::Bool(true)),
            Some(b'f') => self.literal("false", Tree::Bool(false)),
            Some(b'n') => self.literal("null", Tree::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(malformed(self.pos, "expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &'static str, value: Tree<S>) -> Result<Tree<S>, Error> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(malformed(self.pos, "expected a JSON value"))
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                offset: self.pos,
                limit: MAX_DEPTH,
            });
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn array(&mut self) -> Result<Tree<S>, Error> {
        self.enter()?;
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Tree::Array(Vec::new()));
        }
        let base = self.items.len();
        loop {
            let index = self.items.len() - base;
            let item = self
                .value()
                .map_err(|e| nest(e, || alloc::format!("[{index}]")))?;
            self.items.push(item);
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Tree::Array(self.items.drain(base..).collect()));
                }
                _ => return Err(malformed(self.pos, "expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self) -> Result<Tree<S>, Error> {
        self.enter()?;
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Tree::Object(Vec::new()));
        }
        let base = self.members.len();
        loop {
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(malformed(self.pos, "expected a member name"));
            }
            let name = self.string()?;
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(malformed(self.pos, "expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let (start, departures) = (self.pos, self.departures);
            let value = self.value().map_err(|e| nest(e, || path_segment(&name)))?;
            if self.depth == 1 && self.departures == departures && &*name == "payload" {
                self.canonical_payload = Some(start..self.pos);
            }
            self.members.push((name, value));
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    // Members in canonical order cannot repeat; any
                    // others are a departure and may.
                    let members = &self.members[base..];
                    if !crate::jcs::in_order(members) {
                        self.departures += 1;
                        check_duplicates(members)?;
                    }
                    return Ok(Tree::Object(self.members.drain(base..).collect()));
                }
                _ => return Err(malformed(self.pos, "expected ',' or '}'")),
            }
        }
    }

    /// A string token starting at the opening quote; returns its unescaped text.
    fn string(&mut self) -> Result<S, Error> {
        self.pos += 1;
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            // Skip the plain bytes in one tight loop.
            let rest = &self.bytes[self.pos..];
            self.pos += rest
                .iter()
                .position(|&b| SPECIAL[usize::from(b)])
                .unwrap_or(rest.len());
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(malformed(self.pos, "unterminated string"));
            };
            match b {
                b'"' if out.is_empty() => {
                    let s = S::borrowed(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    return Ok(s);
                }
                b'"' => {
                    out.push_str(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    return Ok(S::owned(out));
                }
                b'\\' => {
                    self.departures += 1;
                    out.push_str(&self.text[run_start..self.pos]);
                    self.escape(&mut out)?;
                    run_start = self.pos;
                }
                0x00..=0x1F => {
                    return Err(malformed(self.pos, "control character in a string"));
                }
                _ => self.pos += 1,
            }
        }
    }

    /// One escape sequence starting at the backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), Error> {
        let start = self.pos;
        let c = match self.bytes.get(self.pos + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = self.hex4(self.pos + 2)?;
                self.pos += 6;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        let lo = if self.bytes[self.pos..].starts_with(b"\\u") {
                            self.hex4(self.pos + 2)?
                        } else {
                            return Err(Error::InvalidString { offset: start });
                        };
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(Error::InvalidString { offset: start });
                        }
                        self.pos += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(Error::InvalidString { offset: start }),
                    _ => hi,
                };
                // Every code point outside the surrogate range is a char.
                let ch = char::from_u32(code).ok_or(Error::InvalidString { offset: start })?;
                out.push(ch);
                return Ok(());
            }
            Some(_) => return Err(malformed(start, "invalid escape")),
            None => return Err(malformed(start, "unterminated string")),
        };
        out.push(c);
        self.pos += 2;
        Ok(())
    }

    fn hex4(&self, at: usize) -> Result<u32, Error> {
        let digits = self
            .bytes
            .get(at..at + 4)
            .ok_or(malformed(at, "truncated \\u escape"))?;
        let mut v = 0u32;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(malformed(at, "invalid \\u escape")),
            };
            v = (v << 4) | u32::from(n);
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<Tree<S>, Error> {
        let start = self.pos;
        let end = scan_number(self.bytes, start).ok_or(malformed(start, "invalid number"))?;
        self.pos = end;
        if end - start > MAX_NUMBER_LEN {
            return Err(Error::NumberOutOfRange { offset: start });
        }
        let n: f64 = self.text[start..end]
            .parse()
            .map_err(|_| malformed(start, "invalid number"))?;
        if !n.is_finite() || (self.safe_integers && n.abs() > MAX_SAFE_INTEGER) {
            return Err(Error::NumberOutOfRange { offset: start });
        }
        if !is_canonical_integer(&self.bytes[start..end]) {
            self.departures += 1;
        }
        Ok(Tree::Number(n))
    }
}

/// The end of the number token at `start` by the JSON grammar, or `None`.
pub(crate) fn scan_number(b: &[u8], start: usize) -> Option<usize> {
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let mut i = start;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while digit(i) {
                i += 1;
            }
        }
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digit(i) {
            return None;
        }
        while digit(i) {
            i += 1;
        }
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        if !digit(i) {
            return None;
        }
        while digit(i) {
            i += 1;
        }
    }
    Some(i)
}

/// Whether a number token is written exactly as RFC 8785 writes its value,
/// judged conservatively: an integer of at most 15 digits without a leading
/// zero (`0` itself, not `-0`). Every such token is below 2^53, so
/// ECMAScript writes its digits unchanged.
fn is_canonical_integer(token: &[u8]) -> bool {
    let digits = token.strip_prefix(b"-").unwrap_or(token);
    match digits {
        [b'0'] => digits.len() == token.len(),
        [b'1'..=b'9', rest @ ..] => rest.len() < 15 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// Reject an object whose member names repeat. Small objects compare
/// pairwise; large ones sort, so a hostile object costs O(n log n).
fn check_duplicates<S: Deref<Target = str>, V>(members: &[(S, V)]) -> Result<(), Error> {
    let dup = |name: &str| Error::DuplicateKey {
        path: String::new(),
        name: shown(name).into_owned(),
    };
    if members.len() <= 16 {
        for (i, (a, _)) in members.iter().enumerate() {
            if members[i + 1..].iter().any(|(b, _)| **a == **b) {
                return Err(dup(a));
            }
        }
        return Ok(());
    }
    let mut names: Vec<&str> = members.iter().map(|(k, _)| &**k).collect();
    names.sort_unstable();
    match names.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(dup(w[0])),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn code(input: &str) -> &'static str {
        match parse(input.as_bytes(), Profile::Receipt) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn strict_profile() {
        assert_eq!(code(r#"{"a":1}"#), "ok");
        assert_eq!(code(r#"{"a":1,"a":2}"#), "duplicate_key");
        assert_eq!(code(r#"{"a":1,"\u0061":2}"#), "duplicate_key");
        assert_eq!(code(r#"{"x":{"a":1,"a":2}}"#), "duplicate_key");
        assert_eq!(code(r#""\ud800""#), "invalid_string");
        assert_eq!(code(r#""\udc00\ud800""#), "invalid_string");
        assert_eq!(code(r#""\ud83d\ude00""#), "ok");
        assert_eq!(code(r#""\uffff""#), "ok");
        assert_eq!(code("9007199254740991"), "ok");
        assert_eq!(code("-9007199254740991"), "ok");
        assert_eq!(code("9007199254740992"), "number_out_of_range");
        assert_eq!(code("1e400"), "number_out_of_range");
        assert_eq!(code("NaN"), "malformed_json");
        assert_eq!(code("Infinity"), "malformed_json");
        assert_eq!(code("01"), "malformed_json");
        assert_eq!(code("1."), "malformed_json");
        assert_eq!(code("\u{feff}{}"), "malformed_json");
        assert_eq!(code("{} x"), "malformed_json");
        assert_eq!(code("{} \n\t\r"), "ok");
        assert_eq!(code("\"a\u{1}\""), "malformed_json");
        assert_eq!(code(""), "malformed_json");
    }

    #[test]
    fn canonical_payload_span() {
        fn span(input: &str) -> Option<&str> {
            parse_receipt(input.as_bytes())
                .unwrap()
                .1
                .map(|r| &input[r])
        }
        let payload = r#"{"a":[1,-2,0,true,null],"b":{"c":"é"},"n":123456789012345}"#;
        let receipt = format!(r#"{{ "sig" : "x", "payload":{payload} }}"#);
        // White space outside the payload does not matter.
        assert_eq!(span(&receipt), Some(payload));
        for departure in [
            r#"{"a": 1}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":"\/"}"#,
            r#"{"a":1.0}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e2}"#,
            r#"{"a":-0}"#,
            r#"{"a":1234567890123456}"#,
            r#"{"b":1,"a":2}"#,
            "{\"\u{E000}\":1,\"\u{1F600}\":2}",
            "[1,\n2]",
        ] {
            let receipt = format!(r#"{{"payload":{departure},"sig":"x"}}"#);
            assert_eq!(span(&receipt), None, "{departure}");
        }
        // Only the outer object's payload counts.
        assert_eq!(span(r#"{"x":{"payload":{}}}"#), None);
        assert_eq!(span(r#"[{"payload":{}}]"#), None);
    }

    #[test]
    fn depth_limit() {
        let ok = "[".repeat(64) + &"]".repeat(64);
        let deep = "[".repeat(65) + &"]".repeat(65);
        assert_eq!(code(&ok), "ok");
        assert_eq!(code(&deep), "too_deep");
    }

    #[test]
    fn number_token_length() {
        let ok = alloc::format!("0.{}", "1".repeat(126));
        let long = alloc::format!("0.{}", "1".repeat(127));
        assert_eq!(ok.len(), 128);
        assert_eq!(code(&ok), "ok");
        assert_eq!(code(&long), "number_out_of_range");
    }

    #[test]
    fn integers() {
        let v = parse(b"[1, 1.0, 1e0, 1.0000000000000001, 1.5]", Profile::Receipt).unwrap();
        let items = v.as_array().unwrap();
        for item in &items[..4] {
            assert_eq!(item.as_integer(), Some(1));
        }
        assert_eq!(items[4].as_integer(), None);
    }

    #[test]
    fn canon_profile_allows_large_numbers() {
        assert!(parse(b"1e300", Profile::Canon).is_ok());
        assert_eq!(
            parse(b"1e400", Profile::Canon).unwrap_err().code(),
            "number_out_of_range"
        );
    }

    #[test]
    fn duplicate_path() {
        let err = parse(br#"{"p":{"s":[{"c":{"a":1,"a":2}}]}}"#, Profile::Receipt).unwrap_err();
        assert_eq!(
            err,
            Error::DuplicateKey {
                path: "p.s[0].c".into(),
                name: "a".into()
            }
        );
    }

    #[test]
    fn large_object_duplicates() {
        let mut s = String::from("{");
        for i in 0..100 {
            s.push_str(&alloc::format!("\"k{i}\":0,"));
        }
        s.push_str("\"k50\":1}");
        assert_eq!(code(&s), "duplicate_key");
    }
}
