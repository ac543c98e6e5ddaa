//! The report's lines (schema 1): what `--format json` prints, one object a line.

use kvitto_core::{ChainReport, Outcome, Record};
use serde::{Deserialize, Serialize};

/// The JSON output's schema version (docs/cli.md). Within schema 1 members
/// may be added, never removed, renamed or given another meaning.
pub const SCHEMA: u64 = 1;

/// One line of a report. Serialized with its `type` first, then the
/// members in the order documented in docs/cli.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Receipt(ReceiptLine),
    Chain(ChainLine),
    Error(ErrorLine),
    Summary(SummaryLine),
}

/// The verdict on one receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLine {
    /// The input as given or found (`-` for standard input).
    pub source: String,
    /// 1-based line on which the receipt starts.
    pub line: u64,
    /// Its position in an array input.
    pub index: Option<u64>,
    pub ok: bool,
    /// The contract's error code when not ok.
    pub code: Option<String>,
    /// The error for people when not ok (wording may change; compare `code`).
    pub message: Option<String>,
    /// `payload.receipt_id`; for an invalid receipt read leniently.
    pub receipt_id: Option<String>,
    /// `payload.authorization_id`, the same way.
    pub authorization_id: Option<String>,
    /// `sha256:…` of JCS(payload) when ok.
    pub receipt_hash: Option<String>,
}

impl ReceiptLine {
    /// The line for `record` of `source`, judged `outcome`.
    pub fn new(source: &str, record: &Record, outcome: &Outcome) -> ReceiptLine {
        let error = outcome.error();
        ReceiptLine {
            source: source.to_owned(),
            line: record.line,
            index: record.index,
            ok: error.is_none(),
            code: error.map(|e| e.code().to_owned()),
            message: error.map(ToString::to_string),
            receipt_id: outcome.receipt_id().map(str::to_owned),
            authorization_id: outcome.authorization_id().map(str::to_owned),
            receipt_hash: outcome.receipt_hash().map(|h| h.to_string()),
        }
    }

    /// Where the receipt stands, for people: `SOURCE:LINE`, with `[INDEX]`
    /// for an element of an array input.
    pub fn place(&self) -> String {
        place(&self.source, self.line, self.index)
    }
}

pub(crate) fn place(source: &str, line: u64, index: Option<u64>) -> String {
    match index {
        Some(i) => format!("{source}:{line}[{i}]"),
        None => format!("{source}:{line}"),
    }
}

/// The verdict on one authorization's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLine {
    pub authorization_id: String,
    /// Every chain rule holds.
    pub ok: bool,
    /// The first failing rule's code.
    pub code: Option<String>,
    /// `closed`, `open: truncation not checked`, or the failure.
    pub message: String,
    /// Ends in `authorization.revoked` and intact: provably complete.
    pub closed: bool,
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    /// Receipts of the chain, duplicates included.
    pub receipts: u64,
    /// Exact duplicates: reported, not an error.
    pub duplicates: u64,
}

impl ChainLine {
    /// The line for `report`; `sources` name the inputs by index, for the
    /// message that names an invalid receipt.
    pub fn new(report: &ChainReport, sources: &[String]) -> ChainLine {
        ChainLine {
            authorization_id: report.authorization_id.clone(),
            ok: report.is_ok(),
            code: report.result.as_ref().err().map(|e| e.code().to_owned()),
            message: crate::session::chain_message(report, sources),
            closed: report.closed,
            head_seq: report.head.map(|(seq, _)| seq),
            head_hash: report.head.map(|(_, hash)| hash.to_string()),
            receipts: report.receipts,
            duplicates: report.duplicates,
        }
    }
}

/// A key document or an input that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorLine {
    pub code: String,
    pub message: String,
    /// The input or key document the error is about, when there is one.
    #[serde(default)]
    pub source: Option<String>,
}

/// Counts of chains, in the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCounts {
    pub total: u64,
    /// `closed` + `open`.
    pub intact: u64,
    pub broken: u64,
    pub closed: u64,
    pub open: u64,
    /// Receipts whose authorization_id could not be read: no chain holds them.
    pub ungrouped: u64,
}

/// One key document used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub workspace_id: String,
    /// `sha256:…` of the document's bytes: its pin.
    pub sha256: String,
    pub source: String,
    pub pinned: bool,
    /// Age in seconds of a cached copy; null when fresh or a file.
    pub cache_age_s: Option<u64>,
}

/// Always the last line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryLine {
    pub schema: u64,
    pub receipts: u64,
    pub valid: u64,
    pub invalid: u64,
    pub chains: ChainCounts,
    /// False when reading stopped early or an input could not be read:
    /// then the counts do not cover everything asked for.
    pub complete: bool,
    pub keys: Vec<KeyEntry>,
}

impl SummaryLine {
    /// At least one receipt, all valid, every chain intact, and complete.
    pub fn is_ok(&self) -> bool {
        self.complete && self.receipts > 0 && self.invalid == 0 && self.chains.broken == 0
    }
}
