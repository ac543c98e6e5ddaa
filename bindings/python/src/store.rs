//! Per-receipt results held compactly: each `ReceiptLine` (kvitto-report's
//! type, built by `Session::receipt`) is packed losslessly into a 64-byte
//! entry plus its strings in one arena, and unpacked when Python asks for
//! it. No Python object exists per receipt until one is iterated.

use kvitto_core::{Error, Hash};
use kvitto_report::ReceiptLine;

const OK: u8 = 1;
const HASH: u8 = 2; // receipt_hash parsed into `hash`
const HASH_TEXT: u8 = 4; // receipt_hash kept as text in the arena
const RID: u8 = 8;
const AUTH: u8 = 16;
const MSG: u8 = 32;
const CODE_TEXT: u8 = 64; // a code outside Error::CODES, as text
const NO_CODE: u16 = u16::MAX;
const NO_INDEX: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    line: u64,
    index: u64,
    /// Where this entry's strings start in the arena: each present one of
    /// receipt_id, authorization_id, message, receipt_hash text, code text,
    /// as a u32 length and its bytes.
    at: u64,
    hash: [u8; 32],
    source: u32,
    code: u16,
    flags: u8,
}

/// Receipt lines in input order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Store {
    entries: Vec<Entry>,
    arena: Vec<u8>,
}

impl Store {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held (entries and strings), for the docs' memory figures.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>() + self.arena.capacity()
    }

    fn put(&mut self, s: &str) {
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self.arena.extend_from_slice(&len.to_le_bytes());
        self.arena.extend_from_slice(&s.as_bytes()[..len as usize]);
    }

    /// Pack one line; `source` is its source's index in the report.
    pub(crate) fn push(&mut self, line: &ReceiptLine, source: u32) {
        let mut flags = 0;
        let at = self.arena.len() as u64;
        if line.ok {
            flags |= OK;
        }
        if let Some(s) = &line.receipt_id {
            flags |= RID;
            self.put(s);
        }
        if let Some(s) = &line.authorization_id {
            flags |= AUTH;
            self.put(s);
        }
        if let Some(s) = &line.message {
            flags |= MSG;
            self.put(s);
        }
        let mut hash = [0; 32];
        if let Some(s) = &line.receipt_hash {
            // parse_strict takes exactly what Hash's Display writes.
            match Hash::parse_strict(s) {
                Some(h) => {
                    flags |= HASH;
                    hash = h.0;
                }
                _ => {
                    flags |= HASH_TEXT;
                    self.put(s);
                }
            }
        }
        let code = match &line.code {
            None => NO_CODE,
            Some(c) => match Error::CODES.iter().position(|k| k == c) {
                Some(i) => i as u16,
                None => {
                    flags |= CODE_TEXT;
                    self.put(c);
                    NO_CODE
                }
            },
        };
        self.entries.push(Entry {
            line: line.line,
            index: line.index.unwrap_or(NO_INDEX),
            at,
            hash,
            source,
            code,
            flags,
        });
    }

    /// Line `i` again, exactly as pushed; `sources` name the sources.
    pub(crate) fn get(&self, i: usize, sources: &[String]) -> Option<ReceiptLine> {
        let e = self.entries.get(i)?;
        let mut at = usize::try_from(e.at).ok()?;
        let mut take = |flag: u8| -> Option<Option<String>> {
            if e.flags & flag == 0 {
                return Some(None);
            }
            let len = u32::from_le_bytes(self.arena.get(at..at + 4)?.try_into().ok()?) as usize;
            let s = std::str::from_utf8(self.arena.get(at + 4..at + 4 + len)?).ok()?;
            at += 4 + len;
            Some(Some(s.to_owned()))
        };
        let receipt_id = take(RID)?;
        let authorization_id = take(AUTH)?;
        let message = take(MSG)?;
        let hash_text = take(HASH_TEXT)?;
        let code_text = take(CODE_TEXT)?;
        let receipt_hash = if e.flags & HASH != 0 {
            Some(Hash(e.hash).to_string())
        } else {
            hash_text
        };
        let code = match e.code {
            NO_CODE => code_text,
            c => Error::CODES.get(usize::from(c)).map(|s| (*s).to_owned()),
        };
        Some(ReceiptLine {
            source: sources.get(e.source as usize).cloned().unwrap_or_default(),
            line: e.line,
            index: (e.index != NO_INDEX).then_some(e.index),
            ok: e.flags & OK != 0,
            code,
            message,
            receipt_id,
            authorization_id,
            receipt_hash,
        })
    }

    /// Give back the memory reserved for lines that never came.
    pub(crate) fn shrink(&mut self) {
        self.entries.shrink_to_fit();
        self.arena.shrink_to_fit();
    }

    /// Append `other`'s lines after these.
    pub(crate) fn append(&mut self, other: &Store) {
        let base = self.arena.len() as u64;
        self.arena.extend_from_slice(&other.arena);
        self.entries.extend(other.entries.iter().map(|e| Entry {
            at: e.at + base,
            ..*e
        }));
    }

    /// A byte form for pickling (Dask moves partial reports between processes).
    pub(crate) fn to_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.line.to_le_bytes());
            out.extend_from_slice(&e.index.to_le_bytes());
            out.extend_from_slice(&e.at.to_le_bytes());
            out.extend_from_slice(&e.hash);
            out.extend_from_slice(&e.source.to_le_bytes());
            out.extend_from_slice(&e.code.to_le_bytes());
            out.push(e.flags);
        }
        out.extend_from_slice(&(self.arena.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.arena);
    }

    /// Read what [`Store::to_bytes`] wrote; `None` when it is not that.
    pub(crate) fn from_bytes(r: &mut Reader<'_>) -> Option<Store> {
        let n = usize::try_from(r.u64()?).ok()?;
        let mut entries = Vec::with_capacity(n.min(r.remaining() / 63));
        for _ in 0..n {
            entries.push(Entry {
                line: r.u64()?,
                index: r.u64()?,
                at: r.u64()?,
                hash: r.take(32)?.try_into().ok()?,
                source: r.u32()?,
                code: u16::from_le_bytes(r.take(2)?.try_into().ok()?),
                flags: r.take(1)?[0],
            });
        }
        let len = usize::try_from(r.u64()?).ok()?;
        let arena = r.take(len)?.to_vec();
        Some(Store { entries, arena })
    }
}

/// Reading little-endian fields from a byte form.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }

    pub(crate) fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

/// Writing what [`Reader`] reads.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}
