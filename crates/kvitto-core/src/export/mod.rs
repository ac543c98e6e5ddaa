//! Reading exports (contract section 9): framing a stream of bytes into
//! receipts, lenient grouping, the verdict on each receipt, and export
//! verification.
//!
//! Every surface (the CLI, the Python and WebAssembly packages) reads
//! exports through the same [`Framer`]: push the input's bytes in as they
//! arrive (a file, a `.gz` stream, standard input, a browser stream), take
//! [`Record`]s out, [`judge`] each one, and add the [`Outcome`]s to a
//! [`crate::ChainSet`]. So every surface frames, judges and groups the same
//! bytes the same way, in bounded memory.

mod framer;
mod lenient;
mod scan;

use alloc::vec::Vec;

pub use framer::{
    AFTER_VALUE, ARRAY_BROKEN, ARRAY_TRUNCATED, Body, Framer, Record, VALUE_BROKEN,
    VALUE_TRUNCATED, WINDOW,
};
pub use lenient::{LENIENT_ID_MAX, LenientIds, LenientReader, lenient_ids};
pub use scan::{MAX_NESTING, Scan, Scanner};

use crate::chain::{ChainReport, ChainSet, Place};
use crate::json::MAX_SIZE;
use crate::keys::Hash;
use crate::verify::{self, Verdict};
use crate::{Error, KeySet};

/// The receipt text of one line of JSON Lines (the line given without its
/// LF): one CR before the LF dropped; `None` for a line of only white space.
pub fn line_record(line: &[u8], had_lf: bool) -> Option<&[u8]> {
    let text = match line {
        [head @ .., b'\r'] if had_lf => head,
        _ => line,
    };
    (!text.iter().all(|&b| scan::is_ws(b))).then_some(text)
}

/// Frame a whole input held in memory (the same [`Framer`] every surface uses).
pub fn records(input: &[u8]) -> Vec<Record> {
    let mut framer = Framer::new();
    framer.push(input);
    framer.finish();
    core::iter::from_fn(|| framer.next()).collect()
}

/// The verdict on one record of an export, with what grouping reads of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receipt verified (section 7).
    Valid(Verdict),
    /// It did not; `ids` are its lenient readings (section 9), where they
    /// parse, so that it still lands in its chain.
    Invalid { error: Error, ids: LenientIds },
}

impl Outcome {
    pub fn is_valid(&self) -> bool {
        matches!(self, Outcome::Valid(_))
    }

    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Valid(_) => None,
            Outcome::Invalid { error, .. } => Some(error),
        }
    }

    /// The verified authorization_id, or the lenient one of an invalid receipt.
    pub fn authorization_id(&self) -> Option<&str> {
        match self {
            Outcome::Valid(v) => Some(&v.header.authorization_id),
            Outcome::Invalid { ids, .. } => ids.authorization_id.as_deref(),
        }
    }

    /// The verified receipt_id, or the lenient one of an invalid receipt.
    pub fn receipt_id(&self) -> Option<&str> {
        match self {
            Outcome::Valid(v) => Some(&v.header.receipt_id),
            Outcome::Invalid { ids, .. } => ids.receipt_id.as_deref(),
        }
    }

    /// The receipt hash of a valid receipt.
    pub fn receipt_hash(&self) -> Option<Hash> {
        match self {
            Outcome::Valid(v) => Some(v.receipt_hash),
            Outcome::Invalid { .. } => None,
        }
    }
}

/// Judge one record: verify its text (section 7); an invalid receipt keeps
/// its lenient ids. A receipt over 1 MiB is too_large, and input that could
/// not be framed is malformed_json.
pub fn judge(body: &Body, keysets: &[KeySet]) -> Outcome {
    match body {
        Body::Text(bytes) => judge_text(bytes, keysets),
        Body::TooLarge { size, ids } => Outcome::Invalid {
            error: Error::TooLarge {
                size: usize::try_from(*size).unwrap_or(usize::MAX),
                limit: MAX_SIZE,
            },
            ids: ids.clone(),
        },
        Body::Unframed { reason, .. } => Outcome::Invalid {
            error: Error::MalformedJson { offset: 0, reason },
            ids: LenientIds::default(),
        },
    }
}

/// Judge one receipt's text (as [`judge`] does a [`Body::Text`]).
pub fn judge_text(bytes: &[u8], keysets: &[KeySet]) -> Outcome {
    match verify::verdict_in(bytes, keysets) {
        Ok(v) => Outcome::Valid(v),
        Err(error) => Outcome::Invalid {
            error,
            ids: lenient_ids(bytes),
        },
    }
}

/// The verdict on one receipt of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordReport {
    pub offset: u64,
    pub line: u64,
    pub index: Option<u64>,
    pub outcome: Outcome,
}

/// The verdicts on an export: every receipt in input order, and with
/// chains requested, every authorization's chain in order of first appearance.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub records: Vec<RecordReport>,
    pub chains: Vec<ChainReport>,
    /// Receipts whose authorization_id could not be read (no chain holds them).
    pub ungrouped: u64,
}

impl ExportReport {
    /// At least one receipt, every receipt valid, and every chain intact.
    /// An empty export is never valid.
    pub fn is_valid(&self) -> bool {
        !self.records.is_empty()
            && self.records.iter().all(|r| r.outcome.is_valid())
            && self.chains.iter().all(ChainReport::is_ok)
    }
}

/// Verify a whole export held in memory: frame it (section 9), judge each
/// receipt on its own (section 7), and with `chains`, group by authorization
/// and check each chain (section 8). The streaming surfaces do the same
/// with a [`Framer`], [`judge`] and a [`ChainSet`].
pub fn verify_export(input: &[u8], keysets: &[KeySet], chains: bool) -> ExportReport {
    let mut set = ChainSet::new();
    let mut framer = Framer::new();
    framer.push(input);
    framer.finish();
    let mut records = Vec::new();
    while let Some(rec) = framer.next() {
        let outcome = judge(&rec.body, keysets);
        if chains {
            let place = Place {
                source: 0,
                line: rec.line,
                index: rec.index,
            };
            set.add(place, &outcome);
        }
        records.push(RecordReport {
            offset: rec.offset,
            line: rec.line,
            index: rec.index,
            outcome,
        });
    }
    let ungrouped = set.ungrouped();
    ExportReport {
        records,
        chains: if chains {
            set.finish().collect()
        } else {
            Vec::new()
        },
        ungrouped,
    }
}

#[cfg(test)]
mod tests;
