//! One verification run as every surface reports it: counts, chains, lines.

use kvitto_core::{ChainReport, ChainSet, Error, Outcome, Place, Record};

use crate::lines::{ChainCounts, ChainLine, KeyEntry, ReceiptLine, SCHEMA, SummaryLine, place};

/// One run over one or more inputs: give it each judged record in input
/// order, then take the chains and the summary. Holds no receipt text:
/// counts, and with chains the [`ChainSet`] (a few dozen bytes per
/// receipt).
#[derive(Debug)]
pub struct Session {
    sources: Vec<String>,
    chains: Option<ChainSet>,
    receipts: u64,
    valid: u64,
    invalid: u64,
    counts: ChainCounts,
}

impl Session {
    /// A run; with `chains`, receipts are grouped and every chain checked.
    pub fn new(chains: bool) -> Session {
        Session {
            sources: Vec::new(),
            chains: chains.then(ChainSet::new),
            receipts: 0,
            valid: 0,
            invalid: 0,
            counts: ChainCounts::default(),
        }
    }

    /// Name the next input; returns its index for [`Session::receipt`].
    pub fn source(&mut self, name: impl Into<String>) -> usize {
        self.sources.push(name.into());
        self.sources.len() - 1
    }

    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Receipts given so far, and how many of them were invalid.
    pub fn counts(&self) -> (u64, u64) {
        (self.receipts, self.invalid)
    }

    /// Count one judged record of input `source`, add it to its chain, and
    /// return its report line.
    pub fn receipt(&mut self, source: usize, record: &Record, outcome: &Outcome) -> ReceiptLine {
        self.count(source, record, outcome);
        ReceiptLine::new(
            self.sources.get(source).map_or("", String::as_str),
            record,
            outcome,
        )
    }

    /// As [`Session::receipt`], without building the line (for quiet runs).
    pub fn count(&mut self, source: usize, record: &Record, outcome: &Outcome) {
        self.receipts += 1;
        if outcome.is_valid() {
            self.valid += 1;
        } else {
            self.invalid += 1;
        }
        if let Some(chains) = &mut self.chains {
            let at = Place {
                source,
                line: record.line,
                index: record.index,
            };
            chains.add(at, outcome);
        }
    }

    /// Check every chain (in order of first appearance) and count them,
    /// one at a time as the lines are taken: a report never holds all the
    /// chains' lines. Empty without chains, or when called again.
    pub fn chains(&mut self) -> impl Iterator<Item = ChainLine> + '_ {
        let set = self.chains.take();
        if let Some(set) = &set {
            self.counts.ungrouped = set.ungrouped();
        }
        let sources = &self.sources;
        let counts = &mut self.counts;
        set.into_iter().flat_map(ChainSet::finish).map(move |r| {
            counts.total += 1;
            match (&r.result, r.closed) {
                (Ok(()), true) => {
                    counts.intact += 1;
                    counts.closed += 1;
                }
                (Ok(()), false) => {
                    counts.intact += 1;
                    counts.open += 1;
                }
                (Err(_), _) => counts.broken += 1,
            }
            ChainLine::new(&r, sources)
        })
    }

    /// [`Session::chains`], all at once.
    pub fn finish_chains(&mut self) -> Vec<ChainLine> {
        self.chains().collect()
    }

    /// The summary line. `complete`: every input was read to its end.
    pub fn summary(&self, complete: bool, keys: Vec<KeyEntry>) -> SummaryLine {
        SummaryLine {
            schema: SCHEMA,
            receipts: self.receipts,
            valid: self.valid,
            invalid: self.invalid,
            chains: self.counts,
            complete,
            keys,
        }
    }
}

/// A chain's message: `closed`, `open: truncation not checked`, or the
/// failure, naming the first invalid receipt as `SOURCE:LINE` (with
/// `[INDEX]` in an array input).
pub fn chain_message(report: &ChainReport, sources: &[String]) -> String {
    match &report.result {
        Ok(()) if report.closed => "closed".to_owned(),
        Ok(()) => "open: truncation not checked".to_owned(),
        Err(Error::ChainInvalidReceipt {
            position,
            receipt_id,
            cause,
        }) => {
            let at = match report.invalid_at {
                Some(p) if p.line > 0 => place(
                    sources.get(p.source).map_or("", String::as_str),
                    p.line,
                    p.index,
                ),
                _ => format!("#{position}"),
            };
            let id = receipt_id
                .as_ref()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default();
            format!("receipt {at}{id} is invalid: {}: {cause}", cause.code())
        }
        Err(e) => e.to_string(),
    }
}
