//! The JSON grammar alone, one byte at a time: the scanner behind framing
//! (section 9) and lenient reading. Iterative, so nesting depth costs one
//! bit per level, never stack.

use alloc::vec::Vec;

/// JSON white space.
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Deepest nesting the scanner follows: 2^24 levels, a bit each (2 MiB).
/// A value nested deeper is over 16 MiB (the framing window), and the
/// scanner reports it as not JSON; everything the framer decides within
/// its window is therefore exact.
pub const MAX_NESTING: u64 = 1 << 24;

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

/// Where the elements of a root array begin and end, as the scan passes
/// them (absolute offsets; `end` is exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Marks {
    pub(crate) begin: Option<u64>,
    pub(crate) end: Option<u64>,
}

/// An incremental scanner of one JSON value by the grammar alone: no
/// duplicate, surrogate, number-range or depth rules, and the bytes inside
/// strings are not checked as UTF-8. Nesting deeper than [`MAX_NESTING`]
/// is reported as not JSON.
#[derive(Debug, Clone)]
pub struct Scanner {
    state: St,
    /// Open arrays and objects.
    depth: u64,
    /// Bit `d` says whether the container at depth `d + 1` is an object.
    kinds: Vec<u64>,
    pos: u64,
    start: Option<u64>,
    end: Option<u64>,
    /// Whether the root value is an array (known once it starts).
    root_array: bool,
    marks: Marks,
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
            depth: 0,
            kinds: Vec::new(),
            pos: 0,
            start: None,
            end: None,
            root_array: false,
            marks: Marks::default(),
        }
    }

    /// Feed the next chunk. Stops at the end of the first value.
    pub fn feed(&mut self, chunk: &[u8]) -> Scan {
        let mut at = 0;
        while at < chunk.len() {
            match self.state {
                St::Done | St::Bad => break,
                _ => {}
            }
            at += self.run(&chunk[at..]);
            self.marks = Marks::default();
        }
        self.result()
    }

    /// End of input: a number at the very end completes the value.
    pub fn finish(&mut self) -> Scan {
        if let St::Num(Num::Zero | Num::Int | Num::Frac | Num::Exp) = self.state {
            self.value_end(self.pos);
        }
        match self.result() {
            Scan::NeedMore => Scan::Invalid {
                at: clamp(self.pos),
            },
            other => other,
        }
    }

    fn result(&self) -> Scan {
        match (self.state, self.start, self.end) {
            (St::Done, Some(start), Some(end)) => Scan::Done {
                start: clamp(start),
                end: clamp(end),
            },
            (St::Bad, _, _) => Scan::Invalid {
                at: clamp(self.pos),
            },
            _ => Scan::NeedMore,
        }
    }

    /// Whether exactly `n` bytes have been scanned (nothing left unread).
    pub(crate) fn pos_is(&self, n: u64) -> bool {
        self.pos == n
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == St::Done
    }

    pub(crate) fn is_bad(&self) -> bool {
        self.state == St::Bad
    }

    /// The byte at which the root value began, and whether it is an array.
    pub(crate) fn root(&self) -> Option<(u64, bool)> {
        self.start.map(|s| (s, self.root_array))
    }

    /// The exclusive end of the root value, once it is complete.
    pub(crate) fn end(&self) -> Option<u64> {
        self.end
    }

    /// Take the element marks the last [`Scanner::run`] left.
    pub(crate) fn take_marks(&mut self) -> Marks {
        core::mem::take(&mut self.marks)
    }

    /// Scan from the start of `bytes` until the end of the chunk, the end
    /// of the value, a grammar error, or a mark (an element of a root
    /// array beginning or ending). Returns how many bytes were consumed.
    pub(crate) fn run(&mut self, bytes: &[u8]) -> usize {
        let mut i = 0;
        while i < bytes.len() {
            if let St::Str { .. } = self.state {
                // Fast path: the ordinary bytes of a string.
                let run = bytes[i..]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                    .unwrap_or(bytes.len() - i);
                i += run;
                self.pos += run as u64;
                if i == bytes.len() {
                    break;
                }
            }
            let b = bytes[i];
            self.step(b);
            if self.state == St::Bad {
                return i;
            }
            self.pos += 1;
            i += 1;
            if self.state == St::Done || self.marks.begin.is_some() || self.marks.end.is_some() {
                break;
            }
        }
        i
    }

    fn is_object_at(&self, depth: u64) -> bool {
        let d = depth - 1;
        self.kinds[(d / 64) as usize] >> (d % 64) & 1 == 1
    }

    fn push(&mut self, object: bool) {
        if self.depth >= MAX_NESTING {
            self.state = St::Bad;
            return;
        }
        let d = self.depth;
        if d.is_multiple_of(64) && (d / 64) as usize == self.kinds.len() {
            self.kinds.push(0);
        }
        let word = &mut self.kinds[(d / 64) as usize];
        if object {
            *word |= 1 << (d % 64);
        } else {
            *word &= !(1 << (d % 64));
        }
        self.depth += 1;
    }

    /// In the root array, directly.
    fn in_root_array(&self) -> bool {
        self.depth == 1 && self.root_array
    }

    fn begin_value(&mut self) {
        if self.start.is_none() {
            self.start = Some(self.pos);
        } else if self.in_root_array() {
            self.marks.begin = Some(self.pos);
        }
    }

    /// A value ended just before `end`.
    fn value_end(&mut self, end: u64) {
        if self.in_root_array() {
            self.marks.end = Some(end);
        }
        if self.depth == 0 {
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
                        self.open(true);
                        return;
                    }
                    b'[' => {
                        self.open(false);
                        return;
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
            St::After => match b {
                _ if is_ws(b) => return,
                b',' => {
                    if self.is_object_at(self.depth) {
                        St::Key
                    } else {
                        St::Value
                    }
                }
                b']' | b'}' => {
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
                0x00..=0x1f => St::Bad,
                _ => St::Str { key },
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
            St::Num(n) => match number(n, b) {
                Some(next) => St::Num(next),
                None if matches!(n, Num::Zero | Num::Int | Num::Frac | Num::Exp) => {
                    // The number ended before this byte: read the byte again.
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

    fn open(&mut self, object: bool) {
        if self.depth == 0 {
            self.root_array = !object;
        }
        self.push(object);
        if self.state != St::Bad {
            self.state = if object {
                St::KeyOrClose
            } else {
                St::ValueOrClose
            };
        }
    }

    fn close(&mut self, b: u8) {
        let object = b == b'}';
        if self.depth == 0 || self.is_object_at(self.depth) != object {
            self.state = St::Bad;
            return;
        }
        self.depth -= 1;
        self.value_end(self.pos + 1);
    }
}

fn number(n: Num, b: u8) -> Option<Num> {
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

/// An absolute offset as `usize` (saturating on 32-bit targets).
fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(input: &[u8]) -> Scan {
        let mut s = Scanner::new();
        match s.feed(input) {
            Scan::NeedMore => s.finish(),
            other => other,
        }
    }

    #[test]
    fn chunking_and_depth() {
        let input = b"[1, -0.5e+3, \"a\\u00e9\\\"\", {\"k\": [true, false, null]}] ";
        let all = Scanner::new().feed(input);
        for split in 0..input.len() {
            let mut s = Scanner::new();
            let first = s.feed(&input[..split]);
            let result = if first == Scan::NeedMore {
                s.feed(&input[split..])
            } else {
                first
            };
            assert_eq!(result, all, "split at {split}");
        }
        assert_eq!(
            all,
            Scan::Done {
                start: 0,
                end: input.len() - 1
            }
        );
        let deep = "[".repeat(200_000) + &"]".repeat(200_000);
        assert_eq!(
            whole(deep.as_bytes()),
            Scan::Done {
                start: 0,
                end: deep.len()
            }
        );
        let mixed = "[{\"a\":".repeat(1000) + "1" + &"}]".repeat(1000);
        assert!(matches!(whole(mixed.as_bytes()), Scan::Done { .. }));
        let wrong = "[{\"a\":".repeat(1000) + "1" + &"]}".repeat(1000);
        assert!(matches!(whole(wrong.as_bytes()), Scan::Invalid { .. }));
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
            "{]",
            "]",
            "{} {}",
        ] {
            let one = match whole(bad.as_bytes()) {
                Scan::Done { end, .. } => bad.as_bytes()[end..].iter().all(|&b| is_ws(b)),
                _ => false,
            };
            assert!(!one, "{bad}");
        }
        assert_eq!(Scanner::new().feed(b"[1,]"), Scan::Invalid { at: 3 });
        assert_eq!(
            Scanner::new().feed(b"{} {}"),
            Scan::Done { start: 0, end: 2 }
        );
    }

    #[test]
    fn nesting_beyond_the_cap_is_not_framed() {
        let n = usize::try_from(MAX_NESTING).unwrap();
        let at_cap = "[".repeat(n) + &"]".repeat(n);
        assert!(matches!(whole(at_cap.as_bytes()), Scan::Done { .. }));
        let over = "[".repeat(n + 1) + &"]".repeat(n + 1);
        assert_eq!(whole(over.as_bytes()), Scan::Invalid { at: n });
    }

    #[test]
    fn marks_of_root_array_elements() {
        let input = b"[ 1 ,\"a\",{\"x\":[2]},[3],true]";
        let mut s = Scanner::new();
        let mut marks = Vec::new();
        let mut at = 0;
        while at < input.len() && !s.is_done() {
            at += s.run(&input[at..]);
            let m = s.take_marks();
            if let Some(e) = m.end {
                marks.push(('e', e));
            }
            if let Some(b) = m.begin {
                marks.push(('b', b));
            }
        }
        assert!(s.is_done());
        let spans: Vec<&str> = marks
            .chunks(2)
            .map(|p| core::str::from_utf8(&input[p[0].1 as usize..p[1].1 as usize]).unwrap())
            .collect();
        assert_eq!(spans, ["1", "\"a\"", "{\"x\":[2]}", "[3]", "true"]);
    }
}
