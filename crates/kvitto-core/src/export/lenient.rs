//! Lenient reading for grouping (section 9): `payload.authorization_id`
//! and `payload.receipt_id` of a receipt that may be invalid, read as the
//! bytes stream past, in bounded memory whatever the receipt's size.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use super::scan::{Scan, Scanner, is_ws};
use crate::keys::Hash;

/// Lenient ids up to this many bytes (UTF-8) are kept as they are; a
/// longer one is kept as its first 64 bytes, `…` and `[sha256:HEX, N bytes]`
/// of the whole. Every valid id is at most 128 characters, and two long
/// ids group together exactly when they are equal, so grouping is as the
/// contract says while memory stays bounded.
pub const LENIENT_ID_MAX: usize = 128;

/// What grouping reads of a receipt that may be invalid (section 9): the
/// receipt parses by the JSON grammar, and the last occurrence of a
/// duplicated member counts. Strings are unescaped; lone surrogates and
/// invalid UTF-8 become U+FFFD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LenientIds {
    pub authorization_id: Option<String>,
    pub receipt_id: Option<String>,
}

/// Read `payload.authorization_id` and `payload.receipt_id` leniently from
/// one receipt's whole text.
pub fn lenient_ids(bytes: &[u8]) -> LenientIds {
    let mut reader = LenientReader::new();
    reader.feed(bytes);
    reader.finish()
}

/// [`lenient_ids`] over a receipt that arrives in pieces: feed every piece
/// in order, then [`LenientReader::finish`]. Memory stays bounded (the
/// grammar's nesting costs one bit per level) however long the receipt is.
#[derive(Debug, Clone, Default)]
pub struct LenientReader {
    scanner: Scanner,
    fed: u64,
    /// Something other than white space followed the value.
    trailing: bool,
    tracker: Tracker,
}

impl LenientReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next piece of the receipt's text.
    pub fn feed(&mut self, chunk: &[u8]) {
        let start = self.fed;
        self.fed += chunk.len() as u64;
        if self.trailing {
            return;
        }
        if !self.scanner.is_done() && !self.scanner.is_bad() {
            self.scanner.feed(chunk);
            let upto = match self.scanner.end() {
                Some(end) => usize::try_from(end - start).unwrap_or(chunk.len()),
                None => chunk.len(),
            };
            self.tracker.feed(&chunk[..upto.min(chunk.len())]);
            if self.scanner.is_done() {
                self.trailing = chunk[upto.min(chunk.len())..].iter().any(|&b| !is_ws(b));
            }
        } else if self.scanner.is_done() {
            self.trailing = chunk.iter().any(|&b| !is_ws(b));
        }
    }

    /// The ids, when the whole text was one value by the grammar with only
    /// white space after it; no ids otherwise.
    pub fn finish(mut self) -> LenientIds {
        let whole = !self.trailing && matches!(self.scanner.finish(), Scan::Done { .. });
        if !whole {
            return LenientIds::default();
        }
        self.tracker.end();
        LenientIds {
            authorization_id: self.tracker.auth.take().and_then(Capture::finish),
            receipt_id: self.tracker.rcpt.take().and_then(Capture::finish),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Name {
    #[default]
    Other,
    Payload,
    AuthorizationId,
    ReceiptId,
}

/// Where the bytes of the string being read go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Sink {
    #[default]
    Skip,
    /// A member name at depth 1 or 2.
    Key,
    /// The value of authorization_id (`true`) or receipt_id (`false`).
    Id(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Esc {
    #[default]
    No,
    Backslash,
    Hex {
        left: u8,
        unit: u32,
    },
}

/// Follows the structure of text assumed to be grammatical JSON (the
/// scanner checks that separately): depth, keys at depths 1 and 2, and the
/// two ids of the last `payload`.
#[derive(Debug, Clone, Default)]
struct Tracker {
    depth: u64,
    in_string: bool,
    esc: Esc,
    sink: Sink,
    /// Inside a number or literal token.
    in_scalar: bool,
    /// Per depth 1 and 2: the container is an object, and the next string is a key.
    object: [bool; 3],
    expect_key: [bool; 3],
    /// The container at depth 2 is the current `payload` object.
    in_payload: bool,
    key: [Name; 3],
    name: NameBuf,
    /// The current slot of each id: `None` unset (or not a string), else the capture.
    auth: Option<Capture>,
    rcpt: Option<Capture>,
    /// An escape's first half of a surrogate pair, inside the current string.
    high: Option<u32>,
}

impl Tracker {
    fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string && self.esc == Esc::No {
                // Fast path: ordinary bytes of a string.
                let run = bytes[i..]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\')
                    .unwrap_or(bytes.len() - i);
                if run > 0 {
                    self.content(&bytes[i..i + run]);
                    i += run;
                    continue;
                }
            }
            self.byte(bytes[i]);
            i += 1;
        }
    }

    fn d(&self) -> Option<usize> {
        match self.depth {
            1 => Some(1),
            2 => Some(2),
            _ => None,
        }
    }

    fn byte(&mut self, b: u8) {
        if self.in_string {
            self.string_byte(b);
            return;
        }
        if is_ws(b) {
            self.in_scalar = false;
            return;
        }
        match b {
            b'"' => {
                self.in_scalar = false;
                let key = self
                    .d()
                    .is_some_and(|d| self.object[d] && self.expect_key[d]);
                self.sink = if key {
                    self.name = NameBuf::default();
                    Sink::Key
                } else {
                    self.value_begins(b)
                };
                self.in_string = true;
                self.esc = Esc::No;
                self.high = None;
            }
            b'{' | b'[' => {
                self.in_scalar = false;
                let payload = self.opens_payload();
                self.value_begins(b);
                self.depth = self.depth.saturating_add(1);
                if let Some(d) = self.d() {
                    self.object[d] = b == b'{';
                    self.expect_key[d] = true;
                    self.key[d] = Name::Other;
                    if d == 2 {
                        self.in_payload = payload && b == b'{';
                    }
                }
            }
            b'}' | b']' => {
                self.in_scalar = false;
                self.depth = self.depth.saturating_sub(1);
                if self.depth < 2 {
                    self.in_payload = false;
                }
            }
            b':' => {
                self.in_scalar = false;
                if let Some(d) = self.d() {
                    self.expect_key[d] = false;
                }
            }
            b',' => {
                self.in_scalar = false;
                if let Some(d) = self.d() {
                    self.expect_key[d] = self.object[d];
                }
            }
            _ => {
                if !self.in_scalar {
                    self.in_scalar = true;
                    self.value_begins(b);
                }
            }
        }
    }

    /// Whether a value beginning now is the root's `payload` member.
    fn opens_payload(&self) -> bool {
        self.depth == 1 && self.object[1] && self.key[1] == Name::Payload
    }

    /// A value begins with `b` at the current depth: reset or start the
    /// slots it decides. Returns where a string value's bytes go.
    fn value_begins(&mut self, b: u8) -> Sink {
        if self.opens_payload() {
            // The last `payload` counts, whatever it holds.
            self.auth = None;
            self.rcpt = None;
            return Sink::Skip;
        }
        if self.depth == 2 && self.in_payload {
            let auth = match self.key[2] {
                Name::AuthorizationId => true,
                Name::ReceiptId => false,
                _ => return Sink::Skip,
            };
            let slot = if auth { &mut self.auth } else { &mut self.rcpt };
            if b == b'"' {
                *slot = Some(Capture::default());
                return Sink::Id(auth);
            }
            *slot = None;
        }
        Sink::Skip
    }

    fn string_byte(&mut self, b: u8) {
        match self.esc {
            Esc::No => match b {
                b'"' => {
                    self.in_string = false;
                    self.flush_high();
                    if self.sink == Sink::Key
                        && let Some(d) = self.d()
                    {
                        self.key[d] = self.name.name();
                    }
                }
                b'\\' => self.esc = Esc::Backslash,
                _ => self.content(&[b]),
            },
            Esc::Backslash => {
                self.esc = Esc::No;
                let unit = match b {
                    b'u' => {
                        self.esc = Esc::Hex { left: 4, unit: 0 };
                        return;
                    }
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => 10,
                    b'r' => 13,
                    b't' => 9,
                    other => u32::from(other),
                };
                self.unit(unit);
            }
            Esc::Hex { left, unit } => {
                let unit = unit * 16 + char::from(b).to_digit(16).unwrap_or(0);
                if left == 1 {
                    self.esc = Esc::No;
                    self.unit(unit);
                } else {
                    self.esc = Esc::Hex {
                        left: left - 1,
                        unit,
                    };
                }
            }
        }
    }

    /// An escaped UTF-16 code unit.
    fn unit(&mut self, unit: u32) {
        let c = match (self.high.take(), unit) {
            (Some(hi), 0xDC00..=0xDFFF) => {
                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (unit - 0xDC00))
            }
            (high, _) => {
                if high.is_some() {
                    self.push_char('\u{FFFD}');
                }
                if (0xD800..=0xDBFF).contains(&unit) {
                    self.high = Some(unit);
                    return;
                }
                char::from_u32(unit)
            }
        };
        self.push_char(c.unwrap_or('\u{FFFD}'));
    }

    fn flush_high(&mut self) {
        if self.high.take().is_some() {
            self.push_char('\u{FFFD}');
        }
    }

    fn push_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        self.raw(bytes);
    }

    /// Unescaped bytes of the string.
    fn content(&mut self, bytes: &[u8]) {
        self.flush_high();
        self.raw(bytes);
    }

    fn raw(&mut self, bytes: &[u8]) {
        match self.sink {
            Sink::Skip => {}
            Sink::Key => self.name.push(bytes),
            Sink::Id(auth) => {
                let slot = if auth { &mut self.auth } else { &mut self.rcpt };
                if let Some(capture) = slot {
                    capture.push(bytes);
                }
            }
        }
    }

    fn end(&mut self) {
        if self.in_string {
            self.flush_high();
        }
    }
}

/// A member name, kept only as long as it could be one of the three we look for.
#[derive(Debug, Clone, Default)]
struct NameBuf {
    bytes: [u8; 16],
    len: usize,
    long: bool,
}

impl NameBuf {
    fn push(&mut self, bytes: &[u8]) {
        if self.long || self.len + bytes.len() > self.bytes.len() {
            self.long = true;
            return;
        }
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn name(&self) -> Name {
        if self.long {
            return Name::Other;
        }
        match &self.bytes[..self.len] {
            b"payload" => Name::Payload,
            b"authorization_id" => Name::AuthorizationId,
            b"receipt_id" => Name::ReceiptId,
            _ => Name::Other,
        }
    }
}

/// An id's unescaped bytes, decoded as UTF-8 with U+FFFD for what is not
/// (exactly as `String::from_utf8_lossy` would over the whole), keeping
/// the first bytes, the length and the SHA-256 of the whole.
#[derive(Debug, Clone, Default)]
struct Capture {
    /// Bytes of a UTF-8 sequence not yet complete (at most 4).
    pending: Vec<u8>,
    text: String,
    len: u64,
    sha: Sha256,
}

impl Capture {
    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(&b) = bytes.first() {
            let continuation = b & 0xC0 == 0x80;
            if !self.pending.is_empty() {
                if continuation && self.pending.len() < 4 {
                    self.pending.push(b);
                    bytes = &bytes[1..];
                    continue;
                }
                // What came before a byte that starts a sequence (or
                // before a fifth byte: no sequence is longer than four)
                // decodes as it would within the whole: nothing later can
                // change it.
                self.decode_pending();
                if continuation {
                    self.pending.push(b);
                    bytes = &bytes[1..];
                    continue;
                }
            }
            match core::str::from_utf8(bytes) {
                Ok(text) => {
                    self.emit(text);
                    return;
                }
                Err(e) => {
                    let (valid, rest) = bytes.split_at(e.valid_up_to());
                    if let Ok(text) = core::str::from_utf8(valid) {
                        self.emit(text);
                    }
                    // `rest` starts with an invalid or incomplete sequence.
                    if let Some((&first, more)) = rest.split_first() {
                        self.pending.push(first);
                        bytes = more;
                    } else {
                        bytes = rest;
                    }
                }
            }
        }
    }

    fn decode_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = core::mem::take(&mut self.pending);
        self.emit(&String::from_utf8_lossy(&pending));
    }

    fn emit(&mut self, text: &str) {
        self.len += text.len() as u64;
        self.sha.update(text.as_bytes());
        let room = (LENIENT_ID_MAX + 4).saturating_sub(self.text.len());
        let mut take = text.len().min(room);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        self.text.push_str(&text[..take]);
    }

    fn finish(mut self) -> Option<String> {
        self.decode_pending();
        if self.len <= LENIENT_ID_MAX as u64 {
            return Some(self.text);
        }
        let mut cut = 64.min(self.text.len());
        while !self.text.is_char_boundary(cut) {
            cut -= 1;
        }
        let hash = Hash(self.sha.finalize().into());
        Some(format!(
            "{}…[{hash}, {} bytes]",
            &self.text[..cut],
            self.len
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn last_payload_and_last_member_count() {
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
        assert_eq!(
            lenient_ids(b"{\"payload\":{\"authorization_id\":\"a\"}} x"),
            LenientIds::default()
        );
        for last in ["5", "[1]", "null", "\"x\"", "{}", "true"] {
            let input =
                format!("{{\"payload\":{{\"authorization_id\":\"a\"}},\"payload\":{last}}}");
            assert_eq!(
                lenient_ids(input.as_bytes()),
                LenientIds::default(),
                "{input}"
            );
        }
        let deep = format!(
            "{{\"x\":{}{}, \"payload\":{{\"authorization_id\":\"d\"}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            lenient_ids(deep.as_bytes()).authorization_id.as_deref(),
            Some("d")
        );
        // Escaped member names, and names that only start like ours.
        let ids = lenient_ids(
            br#"{"p\u0061yload":{"receipt_id":"r","authorization_idx":"no","authorization_\u0069d":"yes"}}"#,
        );
        assert_eq!(ids.authorization_id.as_deref(), Some("yes"));
        assert_eq!(ids.receipt_id.as_deref(), Some("r"));
        // Not the root's payload, and not an object at the root.
        let nested = lenient_ids(br#"{"x":{"payload":{"authorization_id":"no"}}}"#);
        assert_eq!(nested, LenientIds::default());
        assert_eq!(
            lenient_ids(br#"[{"payload":{"authorization_id":"no"}}]"#),
            LenientIds::default()
        );
        // A non-string id after a string one unsets it.
        let ids = lenient_ids(br#"{"payload":{"authorization_id":"a","authorization_id":1}}"#);
        assert_eq!(ids.authorization_id, None);
    }

    #[test]
    fn invalid_utf8_and_surrogates_as_from_utf8_lossy() {
        let cases: [&[u8]; 6] = [
            b"\xe2\x82",
            b"\xe2\x82\\u00e9",
            b"a\xf0\x90\x80\x80\x80\x80b",
            b"\xc3\xa9\xff\xfe",
            b"\\ud83d\\ude00\\ud83dx",
            b"\xe2\x82\xac\x80\x80\x80\x80\xe2",
        ];
        for raw in cases {
            let mut text = b"{\"payload\":{\"authorization_id\":\"".to_vec();
            text.extend_from_slice(raw);
            text.extend_from_slice(b"\"}}");
            let whole = lenient_ids(&text).authorization_id;
            // The reference: unescape, then decode the whole at once.
            let mut unescaped = raw.to_vec();
            if raw.contains(&b'\\') {
                let s = core::str::from_utf8(raw).map(ToString::to_string).ok();
                unescaped = match s.as_deref() {
                    Some("\\ud83d\\ude00\\ud83dx") => "😀\u{FFFD}x".as_bytes().to_vec(),
                    _ => {
                        let mut v = b"\xe2\x82".to_vec();
                        v.extend_from_slice("é".as_bytes());
                        v
                    }
                };
            }
            assert_eq!(
                whole.as_deref(),
                Some(String::from_utf8_lossy(&unescaped).as_ref()),
                "{raw:?}"
            );
            // Byte by byte gives the same.
            let mut r = LenientReader::new();
            for b in &text {
                r.feed(core::slice::from_ref(b));
            }
            assert_eq!(r.finish().authorization_id, whole, "{raw:?}");
        }
    }

    #[test]
    fn long_ids_are_bounded_and_exact() {
        let long = "é".repeat(200);
        let text =
            format!("{{\"payload\":{{\"authorization_id\":\"{long}\",\"receipt_id\":\"r\"}}}}");
        let id = lenient_ids(text.as_bytes()).authorization_id.unwrap();
        let hash = Hash::of(long.as_bytes());
        assert_eq!(id, format!("{}…[{hash}, 400 bytes]", "é".repeat(32)));
        let at_max = "x".repeat(LENIENT_ID_MAX);
        let text = format!("{{\"payload\":{{\"authorization_id\":\"{at_max}\"}}}}");
        assert_eq!(
            lenient_ids(text.as_bytes()).authorization_id.as_deref(),
            Some(at_max.as_str())
        );
        // A 3 MiB id streamed in pieces: same answer, bounded capture.
        let huge = "y".repeat(3 << 20);
        let text = format!("{{\"payload\":{{\"authorization_id\":\"{huge}\"}}}}");
        let mut r = LenientReader::new();
        for piece in text.as_bytes().chunks(4096) {
            r.feed(piece);
        }
        let id = r.finish().authorization_id.unwrap();
        assert!(id.len() < 200 && id.starts_with("yyyy"), "{id}");
        assert_eq!(Some(id), lenient_ids(text.as_bytes()).authorization_id);
    }
}
