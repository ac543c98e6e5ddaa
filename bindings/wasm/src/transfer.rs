//! The compact binary messages between the page's coordinating worker and
//! its verify workers: a batch of receipt texts one way, the core's verdicts
//! the other. Conversion only: every verdict is `kvitto_core`'s, and the
//! coordinator judges every receipt a verify worker did not find valid again
//! itself (judging is deterministic), so it holds the real `Error`.
//!
//! A batch: `u32 id`, `u32 count`, then per record `u32 len` and `len` bytes
//! of receipt text, or `u32::MAX` for a record the coordinator judges itself
//! (an oversized or unframed one). Results: `u32 id`, `u32 count`, then per
//! record a tag — 0 not valid, 2 skipped, 1 valid followed by the verdict:
//! kind (u8), seq (u64), prev (u8 flag + 32 bytes), receipt hash (32 bytes),
//! issued_at (i64 seconds, u32 nanoseconds), receipt_id, workspace_id,
//! authorization_id, kid (u8 length + bytes each: ids are at most 128 ASCII
//! characters), then the payload's `scope` and `decision` for display (u16
//! length + bytes, `u16::MAX` when absent; cut to [`SHOWN_MAX`] bytes).
//! All integers little-endian.

use kvitto_core::{Hash, Header, Instant, KeySet, Kind, Verdict, Verified, verify_receipt_in};

/// The longest `scope` or `decision` carried for display (bytes, cut at a
/// character boundary; the receipt itself is never changed).
pub(crate) const SHOWN_MAX: usize = 256;

const SKIP: u32 = u32::MAX;
const ABSENT: u16 = u16::MAX;

const KINDS: [Kind; 5] = [
    Kind::AuthorizationCreated,
    Kind::Check,
    Kind::ConfirmationResolved,
    Kind::EscalationResolved,
    Kind::AuthorizationRevoked,
];

/// Display-only members of a valid receipt's payload (not part of any verdict).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shown {
    pub(crate) scope: Option<String>,
    pub(crate) decision: Option<String>,
}

impl Shown {
    pub(crate) fn of(verified: &Verified) -> Shown {
        let get = |name: &str| {
            verified
                .payload
                .get(name)
                .and_then(|v| v.as_str())
                .map(|s| cut(s, SHOWN_MAX).to_owned())
        };
        Shown {
            scope: get("scope"),
            decision: get("decision"),
        }
    }
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What a verify worker found for one record.
// Nearly every record is `Valid`: boxing it would only add an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Judged {
    Valid(Verdict, Shown),
    /// Not valid: the coordinator judges it again for the error.
    NotValid,
    /// Not sent (the coordinator judges it itself).
    Skipped,
}

/// Pack a batch of record texts (`None`: judged by the coordinator).
pub(crate) fn pack_batch<'a>(
    id: u32,
    texts: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + texts.len() * 704);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(texts.len() as u32).to_le_bytes());
    for text in texts {
        match text {
            Some(t) => {
                out.extend_from_slice(&(t.len() as u32).to_le_bytes());
                out.extend_from_slice(t);
            }
            None => out.extend_from_slice(&SKIP.to_le_bytes()),
        }
    }
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let bytes = self.buf.get(self.at..end)?;
        self.at = end;
        Some(bytes)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    fn str8(&mut self) -> Option<String> {
        let n = usize::from(self.u8()?);
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn str16(&mut self) -> Option<Option<String>> {
        match self.u16()? {
            ABSENT => Some(None),
            n => Some(Some(
                String::from_utf8(self.take(usize::from(n))?.to_vec()).ok()?,
            )),
        }
    }

    fn done(&self) -> bool {
        self.at == self.buf.len()
    }
}

/// The texts of a packed batch, and its id.
pub(crate) fn unpack_batch(buf: &[u8]) -> Option<(u32, Vec<Option<&[u8]>>)> {
    let mut r = Reader { buf, at: 0 };
    let id = r.u32()?;
    let count = r.u32()?;
    let mut texts = Vec::with_capacity(count.min(1 << 16) as usize);
    for _ in 0..count {
        match r.u32()? {
            SKIP => texts.push(None),
            n => texts.push(Some(r.take(n as usize)?)),
        }
    }
    r.done().then_some((id, texts))
}

/// A verify worker's whole job: judge every text of a packed batch with
/// `kvitto_core::verify_receipt_in` and pack the verdicts. A batch that
/// does not unpack gives an empty answer (the coordinator then judges the
/// whole batch itself).
pub(crate) fn verify_packed(buf: &[u8], keysets: &[KeySet]) -> Vec<u8> {
    let Some((id, texts)) = unpack_batch(buf) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(8 + texts.len() * 200);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(texts.len() as u32).to_le_bytes());
    for text in texts {
        match text.map(|t| verify_receipt_in(t, keysets)) {
            None => out.push(2),
            Some(Err(_)) => out.push(0),
            Some(Ok(verified)) => {
                let shown = Shown::of(&verified);
                write_valid(&mut out, &Verdict::from(verified), &shown);
            }
        }
    }
    out
}

fn write_valid(out: &mut Vec<u8>, v: &Verdict, shown: &Shown) {
    let h = &v.header;
    out.push(1);
    out.push(KINDS.iter().position(|k| *k == h.kind).unwrap_or(0) as u8);
    out.extend_from_slice(&h.seq.to_le_bytes());
    match h.prev {
        Some(prev) => {
            out.push(1);
            out.extend_from_slice(&prev.0);
        }
        None => {
            out.push(0);
            out.extend_from_slice(&[0; 32]);
        }
    }
    out.extend_from_slice(&v.receipt_hash.0);
    out.extend_from_slice(&h.issued_at.unix_seconds().to_le_bytes());
    out.extend_from_slice(&h.issued_at.subsec_nanos().to_le_bytes());
    for id in [&h.receipt_id, &h.workspace_id, &h.authorization_id, &h.kid] {
        // Ids are at most 128 ASCII characters (the core checked them).
        let id = cut(id, 255);
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
    }
    for s in [&shown.scope, &shown.decision] {
        match s {
            Some(s) => {
                let s = cut(s, SHOWN_MAX);
                out.extend_from_slice(&(s.len() as u16).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            None => out.extend_from_slice(&ABSENT.to_le_bytes()),
        }
    }
}

fn read_valid(r: &mut Reader<'_>) -> Option<Judged> {
    let kind = *KINDS.get(usize::from(r.u8()?))?;
    let seq = r.u64()?;
    let has_prev = r.u8()?;
    let prev = Hash(r.array()?);
    let receipt_hash = Hash(r.array()?);
    let secs = i64::from_le_bytes(r.array()?);
    let nanos = r.u32()?;
    let issued_at = Instant::from_unix(secs, nanos)?;
    let receipt_id = r.str8()?;
    let workspace_id = r.str8()?;
    let authorization_id = r.str8()?;
    let kid = r.str8()?;
    let scope = r.str16()?;
    let decision = r.str16()?;
    let header = Header {
        kind,
        receipt_id,
        workspace_id,
        authorization_id,
        seq,
        prev: (has_prev == 1).then_some(prev),
        issued_at,
        kid,
    };
    Some(Judged::Valid(
        Verdict {
            header,
            receipt_hash,
        },
        Shown { scope, decision },
    ))
}

/// The verdicts of a results message, and its batch id; `None` when it
/// does not decode.
pub(crate) fn unpack_results(buf: &[u8]) -> Option<(u32, Vec<Judged>)> {
    let mut r = Reader { buf, at: 0 };
    let id = r.u32()?;
    let count = r.u32()?;
    let mut out = Vec::with_capacity(count.min(1 << 16) as usize);
    for _ in 0..count {
        out.push(match r.u8()? {
            0 => Judged::NotValid,
            2 => Judged::Skipped,
            1 => read_valid(&mut r)?,
            _ => return None,
        });
    }
    r.done().then_some((id, out))
}

/// The id of a packed batch or results message.
pub(crate) fn message_id(buf: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(buf.get(..4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;
    use kvitto_core::verdict_in;

    #[test]
    fn verdicts_cross_unchanged() {
        let keys = testkit::keys();
        let mut texts = testkit::chain("auth_a", 4, true);
        texts[2] = texts[2].replace("email.send", "email.read");
        let mut all: Vec<Option<&[u8]>> = texts.iter().map(|t| Some(t.as_bytes())).collect();
        all.insert(1, None);
        let packed = pack_batch(7, all.clone().into_iter());
        assert_eq!(message_id(&packed), Some(7));
        let (id, back) = unpack_batch(&packed).unwrap();
        assert_eq!((id, &back), (7, &all));
        let results = verify_packed(&packed, &keys);
        let (id, judged) = unpack_results(&results).unwrap();
        assert_eq!(id, 7);
        assert_eq!(judged.len(), all.len());
        for (text, j) in all.iter().zip(&judged) {
            match (text.map(|t| verdict_in(t, &keys)), j) {
                (None, Judged::Skipped) => {}
                (Some(Err(_)), Judged::NotValid) => {}
                (Some(Ok(v)), Judged::Valid(w, shown)) => {
                    assert_eq!(&v, w);
                    if v.header.kind == Kind::Check {
                        assert_eq!(shown.scope.as_deref(), Some("email.send"));
                        assert_eq!(shown.decision.as_deref(), Some("allow"));
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        // Truncated or corrupt messages never decode into a verdict.
        assert!(unpack_results(&results[..results.len() - 1]).is_none());
        assert!(unpack_batch(&packed[..packed.len() - 1]).is_none());
        assert!(verify_packed(b"\x01", &keys).is_empty());
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("ééé", 3), "é");
        assert_eq!(cut("abc", 5), "abc");
    }
}
