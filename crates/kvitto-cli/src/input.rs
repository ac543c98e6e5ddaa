//! Inputs: expanding paths, opening files (gzip on the fly) and framing a
//! stream into receipts as contract section 9 says, with bounded memory for
//! JSON Lines.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use kvitto_core::export::{self, Scan, Scanner};
use kvitto_core::json::MAX_SIZE;

/// How much is read at a time.
const CHUNK: usize = 256 * 1024;

/// One input to read: a file or standard input.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    /// As reported: the path as given or found, `-` for standard input.
    pub(crate) name: String,
    /// `None` for standard input.
    pub(crate) path: Option<PathBuf>,
}

/// The receipts' text of one record, or only its size when it is over the limit.
#[derive(Debug)]
pub(crate) enum Body {
    Bytes(Vec<u8>),
    TooLarge(usize),
}

/// Whether a directory entry is an export file we read.
fn is_export_name(name: &str) -> bool {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.ends_with(".json") || name.ends_with(".jsonl")
}

/// Expand the command line's inputs: files as given, directories
/// recursively (sorted), `-` for stdin. Errors name the path.
pub(crate) fn expand(args: &[String]) -> (Vec<Input>, Vec<(String, io::Error)>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.push(Input {
                name: "-".into(),
                path: None,
            });
            continue;
        }
        let path = PathBuf::from(arg);
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                walk(&path, &mut found, &mut errors);
                found.sort();
                inputs.extend(found.into_iter().map(|p| Input {
                    name: p.display().to_string(),
                    path: Some(p),
                }));
            }
            Ok(_) => inputs.push(Input {
                name: arg.clone(),
                path: Some(path),
            }),
            Err(e) => errors.push((arg.clone(), e)),
        }
    }
    (inputs, errors)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, errors: &mut Vec<(String, io::Error)>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push((dir.display().to_string(), e));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push((dir.display().to_string(), e));
                continue;
            }
        };
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&path, found, errors); // symlinked directories are not followed
        } else if is_export_name(&entry.file_name().to_string_lossy())
            && (kind.is_file() || fs::metadata(&path).is_ok_and(|m| m.is_file()))
        {
            found.push(path);
        }
    }
}

/// Open an input for reading; `.gz` files are decompressed on the fly.
pub(crate) fn open(input: &Input) -> io::Result<Box<dyn Read + Send>> {
    let Some(path) = &input.path else {
        return Ok(Box::new(io::stdin()));
    };
    let file = File::open(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(
            BufReader::with_capacity(CHUNK, file),
        )))
    } else {
        Ok(Box::new(file))
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// What [`frame`] hands over for each receipt: its 1-based line, its index in
/// an array input, and its text. Returns `false` to stop reading.
pub(crate) type Emit<'a> = dyn FnMut(usize, Option<usize>, Body) -> bool + 'a;

/// Frame one input stream into receipts (section 9) and hand each to `emit`,
/// in input order. Returns `Ok(false)` when stopped early (by `stop` or `emit`).
///
/// The start of the input goes through the core's grammar [`Scanner`]: when
/// the first value is complete and only white space follows to the end, the
/// input is that value (an object: one receipt; an array: its elements), held
/// in memory and framed by [`export::records`]. Otherwise it is JSON Lines,
/// decided as soon as the scanner fails or sees data after the first value,
/// so only what the scanner consumed is buffered; the rest streams line by
/// line, and a line over 1 MiB is counted, never held.
///
/// A first value that is not an array and grows past 1 MiB is too large
/// whichever way the input turns out to be framed, so from then on it is not
/// held either: its lines go through the line splitter (over-long ones only
/// counted) while the scanner finds where it ends.
pub(crate) fn frame(
    reader: &mut dyn Read,
    stop: &dyn Fn() -> bool,
    emit: &mut Emit<'_>,
) -> io::Result<bool> {
    let mut chunk = vec![0u8; CHUNK];
    let mut scanner = Scanner::new();
    // Everything read so far, while the first value may be held whole.
    let mut buf: Vec<u8> = Vec::new();
    // Once it may not: its lines so far, and the line the value starts on.
    let mut counting: Option<Counting> = None;
    let mut root: Option<usize> = None;
    let mut read = 0usize;
    let mut first: Option<(usize, usize)> = None;
    let lines = loop {
        if stop() {
            return Ok(false);
        }
        let n = read_some(reader, &mut chunk)?;
        if n == 0 {
            if first.is_none()
                && let Scan::Done { start, end } = scanner.finish()
            {
                first = Some((start, end));
            }
            break first.is_none();
        }
        let data = &chunk[..n];
        let at = read;
        read += n;
        match &mut counting {
            Some(c) => {
                c.splitter.feed(data, &mut |line, _, body| {
                    c.held.push((line, body));
                    true
                });
            }
            None => buf.extend_from_slice(data),
        }
        if first.is_some() {
            if data.iter().any(|&b| !is_ws(b)) {
                break true;
            }
            continue;
        }
        match scanner.feed(data) {
            Scan::NeedMore => {
                if root.is_none() {
                    root = data.iter().position(|&b| !is_ws(b)).map(|p| at + p);
                }
                if let (None, Some(r)) = (&counting, root)
                    && buf[r] != b'['
                    && buf.len() - r > MAX_SIZE + 1
                {
                    let mut c = Counting {
                        splitter: Splitter::new(),
                        held: Vec::new(),
                        line: 1 + memchr::memchr_iter(b'\n', &buf[..r]).count(),
                    };
                    c.splitter.feed(&buf, &mut |line, _, body| {
                        c.held.push((line, body));
                        true
                    });
                    buf = Vec::new();
                    counting = Some(c);
                }
            }
            Scan::Invalid { .. } => break true,
            Scan::Done { start, end } => {
                first = Some((start, end));
                if data[end.saturating_sub(at)..].iter().any(|&b| !is_ws(b)) {
                    break true;
                }
            }
        }
    };
    let mut splitter = match (lines, counting) {
        (false, None) => {
            for rec in export::records(&buf) {
                if !emit(rec.line, rec.index, Body::Bytes(rec.bytes.to_vec())) {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        (false, Some(c)) => {
            let size = first.map_or(0, |(start, end)| end - start);
            return Ok(emit(c.line, None, Body::TooLarge(size)));
        }
        (true, Some(c)) => {
            for (line, body) in c.held {
                if !emit(line, None, body) {
                    return Ok(false);
                }
            }
            c.splitter
        }
        (true, None) => {
            let mut splitter = Splitter::new();
            if !splitter.feed(&buf, emit) {
                return Ok(false);
            }
            drop(buf);
            splitter
        }
    };
    loop {
        if stop() {
            return Ok(false);
        }
        let n = read_some(reader, &mut chunk)?;
        if n == 0 {
            return Ok(splitter.end_line(false, emit));
        }
        if !splitter.feed(&chunk[..n], emit) {
            return Ok(false);
        }
    }
}

/// A first value too large to hold: its lines so far, and where it starts.
struct Counting {
    splitter: Splitter,
    held: Vec<(usize, Body)>,
    line: usize,
}

/// JSON Lines with bounded memory: a line is held up to 1 MiB + 1 bytes
/// (room for the CR that is dropped); past that it is only counted until its LF.
struct Splitter {
    cur: Vec<u8>,
    len: usize,
    over: bool,
    all_ws: bool,
    last: u8,
    line: usize,
}

impl Splitter {
    fn new() -> Splitter {
        Splitter {
            cur: Vec::with_capacity(4096),
            len: 0,
            over: false,
            all_ws: true,
            last: 0,
            line: 0,
        }
    }

    fn feed(&mut self, mut data: &[u8], emit: &mut Emit<'_>) -> bool {
        while let Some(lf) = memchr::memchr(b'\n', data) {
            self.take(&data[..lf]);
            if !self.end_line(true, emit) {
                return false;
            }
            data = &data[lf + 1..];
        }
        self.take(data);
        true
    }

    fn take(&mut self, seg: &[u8]) {
        let Some(&last) = seg.last() else {
            return;
        };
        self.len += seg.len();
        self.last = last;
        if !self.over {
            if self.len <= MAX_SIZE + 1 {
                self.cur.extend_from_slice(seg);
                return;
            }
            self.over = true;
            self.all_ws = self.cur.iter().all(|&b| is_ws(b));
            self.cur = Vec::with_capacity(4096);
        }
        if self.all_ws {
            self.all_ws = seg.iter().all(|&b| is_ws(b));
        }
    }

    /// The current line ends (at an LF, or at the end of the input).
    fn end_line(&mut self, had_lf: bool, emit: &mut Emit<'_>) -> bool {
        if !had_lf && self.len == 0 {
            return true;
        }
        self.line += 1;
        let go_on = if self.over {
            let size = self.len - usize::from(had_lf && self.last == b'\r');
            self.all_ws || emit(self.line, None, Body::TooLarge(size))
        } else {
            match export::line_record(&self.cur, had_lf) {
                Some(text) => emit(self.line, None, Body::Bytes(text.to_vec())),
                None => true,
            }
        };
        self.cur.clear();
        self.len = 0;
        self.over = false;
        self.all_ws = true;
        go_on
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line, index, text or the size of an over-long record)
    type Framed = Vec<(usize, Option<usize>, Result<Vec<u8>, usize>)>;

    fn run(input: &[u8], chunk: usize) -> Framed {
        struct Slow<'a>(&'a [u8], usize);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        let mut emit = |line, index, body| {
            out.push((
                line,
                index,
                match body {
                    Body::Bytes(b) if b.len() > MAX_SIZE => Err(b.len()),
                    Body::Bytes(b) => Ok(b),
                    Body::TooLarge(n) => Err(n),
                },
            ));
            true
        };
        let done = frame(&mut Slow(input, chunk), &|| false, &mut emit).expect("read");
        assert!(done);
        out
    }

    fn core(input: &[u8]) -> Framed {
        export::records(input)
            .into_iter()
            .map(|r| {
                let body = if r.bytes.len() > MAX_SIZE {
                    Err(r.bytes.len())
                } else {
                    Ok(r.bytes.to_vec())
                };
                (r.line, r.index, body)
            })
            .collect()
    }

    #[test]
    fn agrees_with_the_core() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_SIZE));
        let cases: Vec<Vec<u8>> = vec![
            b"{\"a\":1}".to_vec(),
            b"  {\"a\":1}\n\n  ".to_vec(),
            b"[{\"a\":1},\n {\"b\":2}]\n".to_vec(),
            b"{\"a\":1}\n{\"b\":2}\n".to_vec(),
            b"{\"a\":1}\r\n\r\n  \n{\"b\":2}".to_vec(),
            b"12".to_vec(),
            b"1 2".to_vec(),
            b"{\"a\":\n1}\nxx\n".to_vec(),
            b"[1,2".to_vec(),
            b"".to_vec(),
            b"\n\n".to_vec(),
            format!("{{\"a\":1}}\n{big}\r\n{{\"b\":2}}\n").into_bytes(),
            format!("{big}\n{{\"b\":2}}").into_bytes(),
            format!("{{\"a\":1}}\n{}\n{{\"c\":3}}", " ".repeat(MAX_SIZE + 5)).into_bytes(),
            big.clone().into_bytes(),
            format!("  \n\n {big} \n ").into_bytes(),
            format!(
                "\n{{\n\"a\": \"{}\",\n\"b\": 1\n}}\n\n",
                "y".repeat(MAX_SIZE)
            )
            .into_bytes(),
            format!(
                "\n{{\n\"a\": \"{}\",\n\"b\": 1\n}}\nzz\n",
                "y".repeat(MAX_SIZE)
            )
            .into_bytes(),
            format!("{{\"a\": \"{}\",\n\"b\": 1\n", "y".repeat(MAX_SIZE)).into_bytes(),
            format!("[{big},\n{{\"b\":2}}]").into_bytes(),
        ];
        for case in &cases {
            for chunk in [1, 3, 7, 64, 1 << 20] {
                if chunk < 64 && case.len() > 100_000 {
                    continue;
                }
                assert_eq!(
                    run(case, chunk),
                    core(case),
                    "chunk {chunk}, input {:?}",
                    String::from_utf8_lossy(&case[..case.len().min(40)])
                );
            }
        }
    }
}
