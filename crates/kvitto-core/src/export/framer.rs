//! Framing an export as it streams in (section 9): push bytes, take
//! records, in bounded memory whatever the input holds.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::lenient::{LenientIds, LenientReader, lenient_ids};
use super::scan::{Scan, Scanner, is_ws};
use crate::json::MAX_SIZE;

/// How much input the framing decision may hold: 16 MiB. Within it every
/// input is framed exactly as section 9 says. See [`Framer`] for what
/// happens to the rare input that is still undecided past it.
pub const WINDOW: usize = 16 << 20;

/// Why part of an input could not be framed (see [`Framer`]).
pub const ARRAY_BROKEN: &str = "the input stops being the JSON array it began as (an input that begins with an array is read as that array once 16 MiB of it have passed); the rest of the input is not read as receipts";
/// The array input ends before its closing bracket.
pub const ARRAY_TRUNCATED: &str = "the input ends inside the JSON array it began as (an input that begins with an array is read as that array once 16 MiB of it have passed)";
/// A first value that is not an array stops being JSON.
pub const VALUE_BROKEN: &str = "the input stops being the JSON value it began as (an input is read as one value once 16 MiB of its first value have passed); it is not read as receipts";
/// The input ends inside its first value.
pub const VALUE_TRUNCATED: &str = "the input ends inside the JSON value it began as (an input is read as one value once 16 MiB of its first value have passed)";
/// Something other than white space follows the input's first value.
pub const AFTER_VALUE: &str = "data after the input's JSON value (an input is read as that value once 16 MiB of it, or of white space after it, have passed); the rest of the input is not read as receipts";

/// One receipt's text inside an export, or what stands in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based line on which the receipt starts.
    pub line: u64,
    /// Position in an array input; `None` otherwise.
    pub index: Option<u64>,
    /// Byte offset of the receipt in the input.
    pub offset: u64,
    pub body: Body,
}

/// What a record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The receipt's own text: a line without its line break, an array
    /// element's span, or a single value without surrounding white space.
    /// At most 1 MiB + 1 byte; anything over 1 MiB is judged too_large.
    Text(Vec<u8>),
    /// A receipt over 1 MiB, never held: its size, and the ids that
    /// grouping reads leniently, read while it streamed past.
    TooLarge { size: u64, ids: LenientIds },
    /// Input that could not be framed (one of [`ARRAY_BROKEN`],
    /// [`ARRAY_TRUNCATED`], [`VALUE_BROKEN`], [`VALUE_TRUNCATED`],
    /// [`AFTER_VALUE`]): judged malformed_json.
    Unframed { size: u64, reason: &'static str },
}

/// Frames an export that arrives in pieces, as contract section 9 says:
/// push each piece with [`Framer::push`], then take records with
/// [`Framer::next`] until it returns `None`; after the last piece call
/// [`Framer::finish`] and take the rest.
///
/// ```
/// use kvitto_core::export::{Body, Framer};
/// let mut framer = Framer::new();
/// let mut lines = Vec::new();
/// for piece in [&b"{\"a\":1}\n{\"b\""[..], b":2}\n"] {
///     framer.push(piece);
///     while let Some(record) = framer.next() {
///         lines.push(record.line);
///     }
/// }
/// framer.finish();
/// while let Some(record) = framer.next() {
///     lines.push(record.line);
/// }
/// assert_eq!(lines, [1, 2]);
/// ```
///
/// Memory stays bounded: JSON Lines and array elements are held one at a
/// time (1 MiB at most: longer ones are streamed past, counted and read
/// leniently for grouping, never held), and deciding how the input is
/// framed holds at most [`WINDOW`] bytes. The decision needs to see where
/// the input's first value ends: an input is one value (one receipt, or an
/// array of receipts) only if nothing but white space follows that value
/// to the end. While the first value is open, or only white space has
/// followed it, the input is held. Inputs that stay undecided past the
/// window are committed to the framing they look like, which is where this
/// reader can differ from one that sees the whole input at once:
///
/// - an input that begins with an array is read as that array. If it
///   later breaks the grammar or has data after it, the elements before
///   that point are receipts, and the rest is one `Unframed` record
///   (malformed_json) instead of the whole input being read as JSON Lines;
/// - an input whose first value is not an array is read as that one value
///   (one too_large receipt, its ids read leniently as it streams past). If
///   the value later breaks the grammar, or data follows it, the input (or
///   the data after the value) is one `Unframed` record instead of the
///   whole input being read as JSON Lines;
/// - a first value followed by more than the window of white space is
///   read as that value, and data after the white space is one
///   `Unframed` record.
///
/// Every such input is invalid either way.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Absolute offset before which nothing is needed any more.
    pos: u64,
    /// Line number at `pos` (for the modes that consume in order).
    line: u64,
    finished: bool,
    window: usize,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    Pending(Pending),
    Lines(Option<Box<LongLine>>),
    Array(Box<ArrayState>),
    /// A first value (not an array) past the window, read as one receipt.
    BigValue(Box<BigValue>),
    /// After a value read as the whole input: only white space may follow.
    After,
    Unframed {
        offset: u64,
        line: u64,
        reason: &'static str,
    },
    Done,
}

#[derive(Debug, Default)]
struct Pending {
    /// Where the line the first value starts on (or the current line of
    /// white space before it) begins, and how many of its white-space
    /// bytes were not held: past 1 MiB + 1 they only count (such a line,
    /// if the input is JSON Lines, is too long to hold anyway).
    line_start: u64,
    lead_dropped: u64,
    scanner: Option<Scanner>,
    /// Absolute offset of the first value's first byte.
    origin: u64,
    root_line: u64,
    /// Absolute offset up to which the input has been looked at.
    scanned: u64,
}

/// A JSON Lines line over 1 MiB, streaming past.
#[derive(Debug)]
struct LongLine {
    offset: u64,
    line: u64,
    size: u64,
    all_ws: bool,
    last: u8,
    lenient: LenientReader,
}

#[derive(Debug)]
struct BigValue {
    scanner: Scanner,
    lenient: LenientReader,
    origin: u64,
    line: u64,
    /// Absolute offset of the next byte to scan, and its line.
    scan: u64,
    scan_line: u64,
}

#[derive(Debug)]
struct ArrayState {
    scanner: Scanner,
    origin: u64,
    /// Absolute offset of the next byte to scan, and its line.
    scan: u64,
    scan_line: u64,
    elem: Elem,
    index: u64,
    /// Where Unframed reports a break: a reason once the scan has failed.
    broken: Option<&'static str>,
}

#[derive(Debug)]
enum Elem {
    None,
    Held {
        start: u64,
        line: u64,
    },
    Streaming {
        start: u64,
        line: u64,
        fed: u64,
        lenient: Box<LenientReader>,
    },
}

enum Step {
    Record(Record),
    Again,
    NeedMore,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    pub fn new() -> Self {
        Self::with_window(WINDOW)
    }

    /// A framer whose decision holds at most `window` bytes (at least
    /// 1 MiB + 2, so that every receipt-sized value is framed exactly).
    /// For tests and for callers with little memory; [`WINDOW`] otherwise.
    pub fn with_window(window: usize) -> Self {
        Framer {
            buf: Vec::new(),
            base: 0,
            pos: 0,
            line: 1,
            finished: false,
            window: window.max(MAX_SIZE + 2),
            mode: Mode::Pending(Pending::default()),
        }
    }

    /// The next piece of input. Take the records it completes with
    /// [`Framer::next`] before pushing more, so that memory stays bounded.
    pub fn push(&mut self, chunk: &[u8]) {
        let done = usize::try_from(self.pos - self.base).unwrap_or(self.buf.len());
        if done > 0 {
            self.buf.drain(..done.min(self.buf.len()));
            self.base = self.pos;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The input has ended.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether every record has been taken (after [`Framer::finish`]).
    pub fn is_done(&self) -> bool {
        matches!(self.mode, Mode::Done)
    }

    /// Bytes pushed so far.
    pub fn bytes_in(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// The next record, or `None` when more input is needed (or, after
    /// [`Framer::finish`], when there are no more).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Record> {
        loop {
            let step = match &self.mode {
                Mode::Pending(_) => self.pending(),
                Mode::Lines(_) => self.lines(),
                Mode::Array(_) => self.array(),
                Mode::BigValue(_) => self.big_value(),
                Mode::After => self.after(),
                Mode::Unframed { .. } => self.unframed(),
                Mode::Done => return None,
            };
            match step {
                Step::Record(r) => return Some(r),
                Step::Again => continue,
                Step::NeedMore => return None,
            }
        }
    }

    fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    fn at(&self, abs: u64) -> usize {
        usize::try_from(abs - self.base).unwrap_or(usize::MAX)
    }

    fn slice(&self, from: u64, to: u64) -> &[u8] {
        &self.buf[self.at(from)..self.at(to)]
    }

    // ---- the decision ----

    fn pending(&mut self) -> Step {
        let end = self.end();
        let finished = self.finished;
        let window = self.window as u64;
        let Mode::Pending(p) = &mut self.mode else {
            return Step::Again;
        };
        if p.scanner.is_none() {
            // Before the first value: complete lines of white space are
            // skipped by every framing.
            let from = usize::try_from(p.scanned - self.base).unwrap_or(0);
            let rest = &self.buf[from..];
            let first = rest.iter().position(|&b| !is_ws(b));
            let upto = first.unwrap_or(rest.len());
            if let Some(last_lf) = memchr::memrchr(b'\n', &rest[..upto]) {
                self.line += memchr::memchr_iter(b'\n', &rest[..upto]).count() as u64;
                self.pos = p.scanned + last_lf as u64 + 1;
                p.line_start = self.pos;
                p.lead_dropped = 0;
            }
            let root = p.scanned + upto as u64;
            // A long run of white space on the first value's line: count it
            // instead of holding it.
            let lead = p.lead_dropped + (root - self.pos);
            if lead > MAX_SIZE as u64 + 1 {
                p.lead_dropped = lead;
                self.pos = root;
            }
            match first {
                Some(_) => {
                    p.origin = root;
                    p.root_line = self.line;
                    p.scanned = root;
                    p.scanner = Some(Scanner::new());
                }
                None => {
                    p.scanned = end;
                    if finished {
                        self.mode = Mode::Done;
                        return Step::Again;
                    }
                    return Step::NeedMore;
                }
            }
        }
        // Look at most `window` bytes past `pos`, so that the decision does
        // not depend on how the input was cut into pieces.
        let limit = self.pos + window;
        let stop = end.min(limit);
        let Some(scanner) = p.scanner.as_mut() else {
            return Step::Again;
        };
        let from = usize::try_from(p.scanned - self.base).unwrap_or(0);
        let to = usize::try_from(stop - self.base).unwrap_or(0);
        if !scanner.is_done() {
            match scanner.feed(&self.buf[from..to]) {
                Scan::Invalid { .. } => return self.decide_lines(),
                Scan::Done { end: e, .. } => p.scanned = p.origin + e as u64,
                Scan::NeedMore => p.scanned = stop,
            }
        }
        if scanner.is_done() {
            let from = usize::try_from(p.scanned - self.base).unwrap_or(0);
            if self.buf[from..to].iter().any(|&b| !is_ws(b)) {
                return self.decide_lines();
            }
            p.scanned = stop;
        }
        if end > limit {
            return self.commit();
        }
        if !finished {
            return Step::NeedMore;
        }
        if scanner.is_done() || matches!(scanner.finish(), Scan::Done { .. }) {
            self.decide_value()
        } else {
            self.decide_lines()
        }
    }

    fn take_pending(&mut self) -> Pending {
        match core::mem::replace(&mut self.mode, Mode::Done) {
            Mode::Pending(p) => p,
            _ => Pending::default(),
        }
    }

    /// The input is JSON Lines, from the line the first value starts on.
    fn decide_lines(&mut self) -> Step {
        let p = self.take_pending();
        // A first line whose leading white space was only counted goes on
        // as a line too long to hold.
        let long = (p.lead_dropped > 0).then(|| {
            Box::new(LongLine {
                offset: p.line_start,
                line: self.line,
                size: p.lead_dropped,
                all_ws: true,
                last: b' ',
                lenient: LenientReader::new(),
            })
        });
        self.mode = Mode::Lines(long);
        Step::Again
    }

    /// The first value, complete, with only white space after it so far.
    fn decide_value(&mut self) -> Step {
        let p = self.take_pending();
        let Some(scanner) = &p.scanner else {
            return Step::Again;
        };
        match scanner.root() {
            Some((_, true)) => self.read_array(p),
            _ => {
                let end = (p.origin + scanner.end().unwrap_or(0)).min(self.end());
                let record = self.value_record(&p, end);
                self.line = p.root_line
                    + memchr::memchr_iter(b'\n', self.slice(p.origin, end)).count() as u64;
                self.pos = end;
                self.mode = if self.finished {
                    Mode::Done
                } else {
                    Mode::After
                };
                Step::Record(record)
            }
        }
    }

    /// Past the window, undecided: commit to the framing the input looks like.
    fn commit(&mut self) -> Step {
        let Mode::Pending(p) = &self.mode else {
            return Step::Again;
        };
        match p.scanner.as_ref().map(|s| (s.is_done(), s.root())) {
            Some((_, Some((_, true)))) => {
                let p = self.take_pending();
                self.read_array(p)
            }
            // A complete value and a window of white space after it: one
            // value, unless a line has ended since (then JSON Lines, which
            // frames a one-line first value the same way).
            Some((true, _)) => {
                let end = p.origin + p.scanner.as_ref().and_then(Scanner::end).unwrap_or(0);
                let (from, to) = (self.at(end.min(p.scanned)), self.at(p.scanned));
                if memchr::memchr(b'\n', &self.buf[from..to]).is_some() {
                    self.decide_lines()
                } else {
                    self.decide_value()
                }
            }
            Some((false, Some(_))) => {
                let p = self.take_pending();
                self.read_big_value(p)
            }
            _ => self.decide_lines(),
        }
    }

    fn value_record(&self, p: &Pending, end: u64) -> Record {
        let text = self.slice(p.origin, end);
        let body = if text.len() <= MAX_SIZE {
            Body::Text(text.to_vec())
        } else {
            Body::TooLarge {
                size: text.len() as u64,
                ids: lenient_ids(text),
            }
        };
        Record {
            line: p.root_line,
            index: None,
            offset: p.origin,
            body,
        }
    }

    /// Go on with the first value as one receipt, streaming: the scanner
    /// keeps its place, the lenient reader catches up on what was held.
    fn read_big_value(&mut self, p: Pending) -> Step {
        let Some(scanner) = p.scanner else {
            return Step::Again;
        };
        let mut lenient = LenientReader::new();
        let held = self.slice(p.origin, p.scanned);
        lenient.feed(held);
        let scan_line = p.root_line + memchr::memchr_iter(b'\n', held).count() as u64;
        self.pos = p.scanned;
        self.mode = Mode::BigValue(Box::new(BigValue {
            scanner,
            lenient,
            origin: p.origin,
            line: p.root_line,
            scan: p.scanned,
            scan_line,
        }));
        Step::Again
    }

    fn big_value(&mut self) -> Step {
        let end = self.end();
        let finished = self.finished;
        let Mode::BigValue(v) = &mut self.mode else {
            return Step::Again;
        };
        let from = usize::try_from(v.scan - self.base).unwrap_or(0);
        let rest = &self.buf[from..];
        let scan = v.scanner.feed(rest);
        let scan = match scan {
            Scan::NeedMore if finished => v.scanner.finish(),
            other => other,
        };
        let (broken, line, origin) = match scan {
            Scan::Done { end: e, .. } => {
                let stop = v.origin + e as u64;
                let upto = usize::try_from(stop - v.scan).unwrap_or(rest.len());
                let last = &rest[..upto.min(rest.len())];
                v.lenient.feed(last);
                v.scan_line += memchr::memchr_iter(b'\n', last).count() as u64;
                let Mode::BigValue(v) = core::mem::replace(&mut self.mode, Mode::After) else {
                    return Step::Again;
                };
                self.line = v.scan_line;
                self.pos = stop;
                return Step::Record(Record {
                    line: v.line,
                    index: None,
                    offset: v.origin,
                    body: Body::TooLarge {
                        size: stop - v.origin,
                        ids: v.lenient.finish(),
                    },
                });
            }
            Scan::NeedMore => {
                v.lenient.feed(rest);
                v.scan_line += memchr::memchr_iter(b'\n', rest).count() as u64;
                v.scan = end;
                self.pos = end;
                return Step::NeedMore;
            }
            Scan::Invalid { .. } if finished && v.scanner.pos_is(end - v.origin) => {
                (VALUE_TRUNCATED, v.line, v.origin)
            }
            Scan::Invalid { .. } => (VALUE_BROKEN, v.line, v.origin),
        };
        self.pos = origin;
        self.mode = Mode::Unframed {
            offset: origin,
            line,
            reason: broken,
        };
        Step::Again
    }

    fn read_array(&mut self, p: Pending) -> Step {
        self.pos = p.origin;
        self.line = p.root_line;
        self.mode = Mode::Array(Box::new(ArrayState {
            scanner: Scanner::new(),
            origin: p.origin,
            scan: p.origin,
            scan_line: p.root_line,
            elem: Elem::None,
            index: 0,
            broken: None,
        }));
        Step::Again
    }

    // ---- JSON Lines ----

    fn lines(&mut self) -> Step {
        let end = self.end();
        let Mode::Lines(long) = &mut self.mode else {
            return Step::Again;
        };
        let from = usize::try_from(self.pos - self.base).unwrap_or(0);
        let rest = &self.buf[from..];
        if let Some(l) = long {
            let lf = memchr::memchr(b'\n', rest);
            let part = &rest[..lf.unwrap_or(rest.len())];
            l.lenient.feed(part);
            l.size += part.len() as u64;
            if l.all_ws {
                l.all_ws = part.iter().all(|&b| is_ws(b));
            }
            if let Some(&last) = part.last() {
                l.last = last;
            }
            match lf {
                Some(i) => {
                    self.pos += i as u64 + 1;
                    self.line += 1;
                }
                None => {
                    self.pos = end;
                    if !self.finished {
                        return Step::NeedMore;
                    }
                }
            }
            let Some(l) = long.take() else {
                return Step::Again;
            };
            let had_lf = lf.is_some();
            if l.all_ws {
                return Step::Again;
            }
            let size = l.size - u64::from(had_lf && l.last == b'\r');
            return Step::Record(Record {
                line: l.line,
                index: None,
                offset: l.offset,
                body: Body::TooLarge {
                    size,
                    ids: l.lenient.finish(),
                },
            });
        }
        if rest.is_empty() {
            if self.finished {
                self.mode = Mode::Done;
                return Step::Again;
            }
            return Step::NeedMore;
        }
        let lf = memchr::memchr(b'\n', rest);
        let len = lf.unwrap_or(rest.len());
        if len > MAX_SIZE + 1 {
            // Too long to hold: stream it past.
            *long = Some(Box::new(LongLine {
                offset: self.pos,
                line: self.line,
                size: 0,
                all_ws: true,
                last: 0,
                lenient: LenientReader::new(),
            }));
            return Step::Again;
        }
        if lf.is_none() && !self.finished {
            return Step::NeedMore;
        }
        let record = super::line_record(&rest[..len], lf.is_some()).map(|text| Record {
            line: self.line,
            index: None,
            offset: self.pos,
            body: Body::Text(text.to_vec()),
        });
        self.pos += len as u64 + u64::from(lf.is_some());
        self.line += 1;
        match record {
            Some(r) => Step::Record(r),
            None => Step::Again,
        }
    }

    // ---- an array, element by element ----

    fn array(&mut self) -> Step {
        let finished = self.finished;
        let Mode::Array(a) = &mut self.mode else {
            return Step::Again;
        };
        loop {
            if let Some(reason) = a.broken {
                let (offset, line) = match a.elem {
                    Elem::Held { start, line } | Elem::Streaming { start, line, .. } => {
                        (start, line)
                    }
                    Elem::None => (a.scan, a.scan_line),
                };
                self.pos = offset;
                self.mode = Mode::Unframed {
                    offset,
                    line,
                    reason,
                };
                return Step::Again;
            }
            if a.scanner.is_done() {
                self.pos = a.scan;
                self.line = a.scan_line;
                self.mode = Mode::After;
                return Step::Again;
            }
            let from = usize::try_from(a.scan - self.base).unwrap_or(0);
            let rest = &self.buf[from..];
            if rest.is_empty() {
                if finished {
                    a.broken = Some(ARRAY_TRUNCATED);
                    continue;
                }
                // Hold a small element; stream a large one past.
                match &mut a.elem {
                    Elem::Held { start, line } if a.scan - *start > MAX_SIZE as u64 => {
                        let (start, line) = (*start, *line);
                        let mut lenient = Box::new(LenientReader::new());
                        lenient.feed(&self.buf[usize::try_from(start - self.base).unwrap_or(0)..]);
                        a.elem = Elem::Streaming {
                            start,
                            line,
                            fed: a.scan,
                            lenient,
                        };
                    }
                    Elem::Streaming { fed, lenient, .. } => {
                        let from = usize::try_from(*fed - self.base).unwrap_or(0);
                        lenient.feed(&self.buf[from..]);
                        *fed = a.scan;
                    }
                    _ => {}
                }
                self.pos = match a.elem {
                    Elem::Held { start, .. } => start,
                    _ => a.scan,
                };
                return Step::NeedMore;
            }
            let n = a.scanner.run(rest);
            a.scan_line += memchr::memchr_iter(b'\n', &rest[..n]).count() as u64;
            a.scan += n as u64;
            if a.scanner.is_bad() {
                a.broken = Some(ARRAY_BROKEN);
                continue;
            }
            let marks = a.scanner.take_marks();
            if let Some(stop) = marks.end {
                let stop = a.origin + stop;
                let elem = core::mem::replace(&mut a.elem, Elem::None);
                let (start, line, body) = match elem {
                    Elem::Held { start, line } => {
                        let text = &self.buf[usize::try_from(start - self.base).unwrap_or(0)
                            ..usize::try_from(stop - self.base).unwrap_or(0)];
                        let body = if text.len() <= MAX_SIZE {
                            Body::Text(text.to_vec())
                        } else {
                            Body::TooLarge {
                                size: text.len() as u64,
                                ids: lenient_ids(text),
                            }
                        };
                        (start, line, body)
                    }
                    Elem::Streaming {
                        start,
                        line,
                        fed,
                        mut lenient,
                    } => {
                        lenient.feed(
                            &self.buf[usize::try_from(fed - self.base).unwrap_or(0)
                                ..usize::try_from(stop - self.base).unwrap_or(0)],
                        );
                        let body = Body::TooLarge {
                            size: stop - start,
                            ids: lenient.finish(),
                        };
                        (start, line, body)
                    }
                    Elem::None => continue,
                };
                let index = a.index;
                a.index += 1;
                self.pos = a.scan;
                return Step::Record(Record {
                    line,
                    index: Some(index),
                    offset: start,
                    body,
                });
            }
            if let Some(begin) = marks.begin {
                a.elem = Elem::Held {
                    start: a.origin + begin,
                    line: a.scan_line,
                };
            }
        }
    }

    // ---- after a value read as the whole input ----

    fn after(&mut self) -> Step {
        let from = usize::try_from(self.pos - self.base).unwrap_or(0);
        let rest = &self.buf[from..];
        match rest.iter().position(|&b| !is_ws(b)) {
            Some(k) => {
                self.line += memchr::memchr_iter(b'\n', &rest[..k]).count() as u64;
                self.pos += k as u64;
                self.mode = Mode::Unframed {
                    offset: self.pos,
                    line: self.line,
                    reason: AFTER_VALUE,
                };
                Step::Again
            }
            None => {
                self.line += memchr::memchr_iter(b'\n', rest).count() as u64;
                self.pos = self.end();
                if self.finished {
                    self.mode = Mode::Done;
                    return Step::Again;
                }
                Step::NeedMore
            }
        }
    }

    fn unframed(&mut self) -> Step {
        self.pos = self.end();
        if !self.finished {
            return Step::NeedMore;
        }
        let Mode::Unframed {
            offset,
            line,
            reason,
        } = core::mem::replace(&mut self.mode, Mode::Done)
        else {
            return Step::Again;
        };
        Step::Record(Record {
            line,
            index: None,
            offset,
            body: Body::Unframed {
                size: self.pos - offset,
                reason,
            },
        })
    }
}
