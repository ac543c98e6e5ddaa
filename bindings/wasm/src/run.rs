//! One verification run over one or more inputs, as every kvitto surface
//! makes it: each input's bytes pushed into its own `kvitto_core::Framer`,
//! every record judged by `kvitto_core::judge` (here, or by verify workers
//! in batches), and counted, grouped and reported by one
//! `kvitto_report::Session`. The output is kvitto-report's serde lines.
//!
//! Two ways to drive it: inline (each record judged as it is framed: the
//! JavaScript API's `ExportVerifier`), or in batches (the page's
//! coordinating worker hands batches to verify workers and applies their
//! answers here, in input order).

use std::collections::VecDeque;

use kvitto_core::{Body, Framer, KeySet, Outcome, Record, judge};
use kvitto_report::{ChainLine, ErrorLine, KeyEntry, Line, ReceiptLine, Session, SummaryLine};
use serde::Serialize;

use crate::transfer::{self, Judged, Shown};

/// Records per batch handed to a verify worker...
pub(crate) const BATCH: usize = 256;
/// ...or fewer, when their texts hold this many bytes.
pub(crate) const BATCH_BYTES: usize = 1 << 20;

/// The key documents of a run: the core's key sets and the summary's entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    pub(crate) sets: Vec<KeySet>,
    pub(crate) entries: Vec<KeyEntry>,
}

/// The end of a run, as the JavaScript API returns it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Finished {
    pub(crate) chains: Vec<Line>,
    pub(crate) errors: Vec<Line>,
    pub(crate) summary: Line,
    /// `SummaryLine::is_ok`: at least one receipt, all valid, every chain
    /// intact, and every input read to its end.
    pub(crate) ok: bool,
}

/// A receipt's line as the page's table shows it: the report line, with
/// display members read from the verified header (none for an invalid
/// receipt) and where the record stands in its input.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    line: &'a ReceiptLine,
    source_index: usize,
    offset: u64,
    size: u64,
    kind: Option<&'static str>,
    seq: Option<u64>,
    prev: Option<String>,
    issued_at: Option<String>,
    kid: Option<&'a str>,
    workspace_id: Option<&'a str>,
    scope: Option<&'a str>,
    decision: Option<&'a str>,
}

#[derive(Debug)]
enum Item {
    Batch {
        id: u32,
        source: usize,
        records: Vec<Record>,
        results: Option<Vec<Judged>>,
    },
    /// An input that could not be read (wholly or from some point on),
    /// reported in its place.
    InputError {
        id: u32,
        source: usize,
        message: String,
    },
}

impl Item {
    fn id(&self) -> u32 {
        match self {
            Item::Batch { id, .. } | Item::InputError { id, .. } => *id,
        }
    }

    fn ready(&self) -> bool {
        match self {
            Item::Batch { results, .. } => results.is_some(),
            Item::InputError { .. } => true,
        }
    }
}

/// How a run's receipt lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// The CLI's `receipt` line objects (the JavaScript API).
    Lines,
    /// The page's rows, and the report as JSON Lines beside them.
    Rows,
}

#[derive(Debug)]
pub(crate) struct Run {
    keys: Keys,
    session: Session,
    style: Style,
    current: Option<(usize, Framer)>,
    /// Records framed, not yet sealed into a batch (batch mode).
    open: Vec<Record>,
    open_source: usize,
    open_bytes: usize,
    batches: bool,
    /// Sealed batches and input errors in input order, until applied.
    queue: VecDeque<Item>,
    /// Ids of sealed batches not yet handed out.
    unsent: VecDeque<u32>,
    next_id: u32,
    unreadable: u64,
    errors: Vec<Line>,
    /// Receipt lines (a JSON array's members), until taken.
    lines: String,
    /// The report as JSON Lines, until taken ([`Style::Rows`]).
    report: String,
}

impl Run {
    pub(crate) fn new(keys: Keys, chains: bool, style: Style, batches: bool) -> Run {
        Run {
            keys,
            session: Session::new(chains),
            style,
            current: None,
            open: Vec::new(),
            open_source: 0,
            open_bytes: 0,
            batches,
            queue: VecDeque::new(),
            unsent: VecDeque::new(),
            next_id: 0,
            unreadable: 0,
            errors: Vec::new(),
            lines: String::new(),
            report: String::new(),
        }
    }

    /// Start the next input (ending the one before); returns its index.
    pub(crate) fn begin(&mut self, name: &str) -> usize {
        self.end();
        let source = self.session.source(name);
        self.current = Some((source, Framer::new()));
        source
    }

    /// The next bytes of the current input (one named `input` is begun
    /// when none is).
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if self.current.is_none() {
            self.begin("input");
        }
        if let Some((_, framer)) = &mut self.current {
            framer.push(chunk);
        }
        self.frame();
    }

    /// The current input has ended.
    pub(crate) fn end(&mut self) {
        if let Some((_, framer)) = &mut self.current {
            framer.finish();
            self.frame();
            self.current = None;
            self.seal();
        }
    }

    /// The current input could not be read from this point on: what was
    /// framed so far is kept, the rest is an `io_error` line in its place.
    pub(crate) fn input_error(&mut self, message: &str) {
        let Some((source, _)) = self.current.take() else {
            return;
        };
        self.seal();
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push_back(Item::InputError {
            id,
            source,
            message: message.to_owned(),
        });
        self.drain();
    }

    fn frame(&mut self) {
        // The framer is taken out while its records are handed on.
        let Some((source, mut framer)) = self.current.take() else {
            return;
        };
        while let Some(record) = framer.next() {
            if !self.batches {
                let outcome = judge(&record.body, &self.keys.sets);
                self.emit(source, &record, &outcome, None);
                continue;
            }
            if source != self.open_source && !self.open.is_empty() {
                self.seal_open();
            }
            self.open_source = source;
            self.open_bytes += match &record.body {
                Body::Text(t) => t.len(),
                _ => 0,
            };
            self.open.push(record);
            if self.open.len() >= BATCH || self.open_bytes >= BATCH_BYTES {
                self.seal_open();
            }
        }
        self.current = Some((source, framer));
    }

    fn seal_open(&mut self) {
        let records = std::mem::take(&mut self.open);
        self.open_bytes = 0;
        if records.is_empty() {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push_back(Item::Batch {
            id,
            source: self.open_source,
            records,
            results: None,
        });
        self.unsent.push_back(id);
    }

    /// Seal the records framed so far into a batch, however few.
    pub(crate) fn seal(&mut self) {
        if self.batches {
            self.seal_open();
        }
    }

    /// The next batch for a verify worker (sealing what is open when no
    /// sealed batch waits), packed; `None` when nothing is left to send.
    pub(crate) fn take_batch(&mut self) -> Option<Vec<u8>> {
        if self.unsent.is_empty() {
            self.seal();
        }
        let id = self.unsent.pop_front()?;
        let item = self.item(id)?;
        let Item::Batch { records, .. } = item else {
            return None;
        };
        let texts = records.iter().map(|r| match &r.body {
            Body::Text(t) => Some(t.as_slice()),
            _ => None,
        });
        Some(transfer::pack_batch(id, texts))
    }

    fn item(&mut self, id: u32) -> Option<&mut Item> {
        let first = self.queue.front()?.id();
        let at = usize::try_from(id.checked_sub(first)?).ok()?;
        self.queue.get_mut(at).filter(|i| i.id() == id)
    }

    /// A verify worker's answer. One that does not decode is taken as
    /// "nothing valid", so that every record of its batch is judged here.
    /// Returns how many receipts were reported by it.
    pub(crate) fn apply(&mut self, results: &[u8]) -> u64 {
        let Some(id) = transfer::message_id(results) else {
            return 0;
        };
        let decoded = transfer::unpack_results(results).map(|(_, j)| j);
        if let Some(Item::Batch {
            records,
            results: slot,
            ..
        }) = self.item(id)
        {
            let judged = match decoded {
                Some(j) if j.len() == records.len() => j,
                _ => vec![Judged::NotValid; records.len()],
            };
            *slot = Some(judged);
        }
        self.drain()
    }

    /// Judge here every batch that was never sent (a run without verify
    /// workers, or one whose workers went away).
    pub(crate) fn judge_unsent(&mut self) -> u64 {
        self.seal();
        self.unsent.clear();
        self.judge_waiting()
    }

    /// Judge here every batch still without an answer.
    fn judge_waiting(&mut self) -> u64 {
        for item in &mut self.queue {
            if let Item::Batch {
                records,
                results: results @ None,
                ..
            } = item
            {
                *results = Some(vec![Judged::NotValid; records.len()]);
            }
        }
        self.drain()
    }

    /// Batches handed out and not answered, sealed and not handed out,
    /// and records not yet sealed.
    pub(crate) fn backlog(&self) -> (usize, usize, usize) {
        let waiting = self.queue.len() - self.unsent.len();
        (waiting, self.unsent.len(), self.open.len())
    }

    fn drain(&mut self) -> u64 {
        let mut n = 0;
        while self.queue.front().is_some_and(Item::ready) {
            let Some(item) = self.queue.pop_front() else {
                break;
            };
            match item {
                Item::Batch {
                    source,
                    records,
                    results,
                    ..
                } => {
                    let results = results.unwrap_or_default();
                    for (record, judged) in records.iter().zip(results) {
                        let (outcome, shown) = match judged {
                            Judged::Valid(v, shown) => (Outcome::Valid(v), Some(shown)),
                            // Judged again here, deterministically: the
                            // coordinator holds the real error.
                            Judged::NotValid | Judged::Skipped => {
                                (judge(&record.body, &self.keys.sets), None)
                            }
                        };
                        self.emit(source, record, &outcome, shown.as_ref());
                        n += 1;
                    }
                }
                Item::InputError {
                    source, message, ..
                } => {
                    self.unreadable += 1;
                    let name = self
                        .session
                        .sources()
                        .get(source)
                        .cloned()
                        .unwrap_or_default();
                    let line = Line::Error(ErrorLine {
                        code: "io_error".to_owned(),
                        message: format!("{name}: {message}"),
                        source: Some(name),
                    });
                    self.write_report(&line);
                    self.errors.push(line);
                }
            }
        }
        n
    }

    fn emit(&mut self, source: usize, record: &Record, outcome: &Outcome, shown: Option<&Shown>) {
        let line = self.session.receipt(source, record, outcome);
        if !self.lines.is_empty() {
            self.lines.push(',');
        }
        match self.style {
            Style::Lines => push_json(&mut self.lines, &Line::Receipt(line)),
            Style::Rows => {
                let verdict = match outcome {
                    Outcome::Valid(v) => Some(v),
                    Outcome::Invalid { .. } => None,
                };
                let header = verdict.map(|v| &v.header);
                let size = match &record.body {
                    Body::Text(t) => t.len() as u64,
                    Body::TooLarge { size, .. } | Body::Unframed { size, .. } => *size,
                };
                let row = Row {
                    line: &line,
                    source_index: source,
                    offset: record.offset,
                    size,
                    kind: header.map(|h| h.kind.as_str()),
                    seq: header.map(|h| h.seq),
                    prev: header.and_then(|h| h.prev).map(|p| p.to_string()),
                    issued_at: header.map(|h| h.issued_at.to_string()),
                    kid: header.map(|h| h.kid.as_str()),
                    workspace_id: header.map(|h| h.workspace_id.as_str()),
                    scope: shown.and_then(|s| s.scope.as_deref()),
                    decision: shown.and_then(|s| s.decision.as_deref()),
                };
                push_json(&mut self.lines, &row);
                self.write_report(&Line::Receipt(line));
            }
        }
    }

    fn write_report(&mut self, line: &Line) {
        if self.style == Style::Rows {
            push_json(&mut self.report, line);
            self.report.push('\n');
        }
    }

    /// The receipt lines written since the last call, as a JSON array.
    pub(crate) fn take_lines(&mut self) -> String {
        let body = std::mem::take(&mut self.lines);
        let mut out = String::with_capacity(body.len() + 2);
        out.push('[');
        out.push_str(&body);
        out.push(']');
        out
    }

    /// The report lines (JSON Lines) written since the last call.
    pub(crate) fn take_report(&mut self) -> String {
        std::mem::take(&mut self.report)
    }

    /// Receipts reported so far, and how many were invalid.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.session.counts()
    }

    /// Bytes pushed into the current input so far.
    pub(crate) fn bytes_in(&self) -> u64 {
        self.current.as_ref().map_or(0, |(_, f)| f.bytes_in())
    }

    /// Check the chains and make the summary: every input was read (any
    /// batch never answered is judged here first).
    pub(crate) fn finish(&mut self) -> Finished {
        self.end();
        self.unsent.clear();
        self.judge_waiting();
        let chains: Vec<Line> = self
            .session
            .finish_chains()
            .into_iter()
            .map(Line::Chain)
            .collect();
        for line in &chains {
            self.write_report(line);
        }
        let (receipts, _) = self.session.counts();
        if receipts == 0 && self.unreadable == 0 {
            let line = Line::Error(ErrorLine {
                code: "no_receipts".to_owned(),
                message: "no receipts found in the input".to_owned(),
                source: None,
            });
            self.write_report(&line);
            self.errors.push(line);
        }
        self.summarize(chains, self.unreadable == 0)
    }

    /// Stop early (the user cancelled): the summary says incomplete, and
    /// chains are not checked.
    pub(crate) fn stop(&mut self) -> Finished {
        self.current = None;
        self.open.clear();
        self.queue.clear();
        self.unsent.clear();
        self.summarize(Vec::new(), false)
    }

    fn summarize(&mut self, chains: Vec<Line>, complete: bool) -> Finished {
        let summary: SummaryLine = self.session.summary(complete, self.keys.entries.clone());
        let ok = summary.is_ok();
        let summary = Line::Summary(summary);
        self.write_report(&summary);
        Finished {
            chains,
            errors: self.errors.clone(),
            summary,
            ok,
        }
    }
}

/// Append `value` as JSON (the report's serde types never fail to serialize).
pub(crate) fn push_json<T: Serialize>(out: &mut String, value: &T) {
    if let Ok(s) = serde_json::to_string(value) {
        out.push_str(&s);
    }
}

/// The chain line of one explicit chain.
pub(crate) fn chain_line(report: &kvitto_core::ChainReport, source: &str) -> ChainLine {
    ChainLine::new(report, &[source.to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    fn keys() -> Keys {
        let sets = testkit::keys();
        let entries = sets
            .iter()
            .map(|k| KeyEntry {
                workspace_id: k.workspace_id().to_owned(),
                sha256: k.sha256().to_string(),
                source: "keys.json".to_owned(),
                pinned: false,
                cache_age_s: None,
            })
            .collect();
        Keys { sets, entries }
    }

    fn export() -> String {
        let mut lines = Vec::new();
        for (i, auth) in ["auth_a", "auth_b", "auth_c"].iter().enumerate() {
            lines.extend(testkit::chain(auth, 40 + i as u64 * 8, i == 1));
        }
        // Interleave, tamper one, add a broken line and a blank one.
        lines.swap(3, 60);
        lines[120] = lines[120].replace("email.send", "email.read");
        lines.insert(7, "{\"payload\":".to_owned());
        lines.insert(9, "   ".to_owned());
        lines.join("\n") + "\n"
    }

    /// The receipt lines of the inline run.
    fn inline(input: &[u8], chunk: usize) -> (Vec<serde_json::Value>, Finished) {
        let mut run = Run::new(keys(), true, Style::Lines, false);
        run.begin("export.jsonl");
        let mut lines: Vec<serde_json::Value> = Vec::new();
        for piece in input.chunks(chunk) {
            run.push(piece);
            lines.extend(parse_array(&run.take_lines()));
        }
        let fin = run.finish();
        lines.extend(parse_array(&run.take_lines()));
        (lines, fin)
    }

    fn parse_array(s: &str) -> Vec<serde_json::Value> {
        match serde_json::from_str(s) {
            Ok(serde_json::Value::Array(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn batches_report_exactly_what_inline_does() {
        let input = export();
        let (expected, fin) = inline(input.as_bytes(), 1 << 20);
        for chunk in [1, 977, 65536] {
            let (again, _) = inline(input.as_bytes(), chunk);
            assert!(again == expected, "inline, chunk {chunk}");
        }
        let sets = testkit::keys();
        // Batches answered out of order, some by a worker, some not at all.
        let mut run = Run::new(keys(), true, Style::Rows, true);
        run.begin("export.jsonl");
        let mut answers = Vec::new();
        for (i, piece) in input.as_bytes().chunks(4096).enumerate() {
            run.push(piece);
            while let Some(batch) = run.take_batch() {
                if i % 5 == 0 {
                    // Undecodable after its id: the batch is judged here.
                    let mut garbage = batch[..4].to_vec();
                    garbage.push(9);
                    answers.push(garbage);
                } else if i % 7 == 0 {
                    continue; // never answered: judged at the end
                } else {
                    answers.push(transfer::verify_packed(&batch, &sets));
                }
            }
            if answers.len() > 3 {
                answers.reverse();
                for a in answers.drain(..) {
                    run.apply(&a);
                }
            }
        }
        run.end();
        while let Some(batch) = run.take_batch() {
            answers.push(transfer::verify_packed(&batch, &sets));
        }
        for a in answers.drain(..).rev() {
            run.apply(&a);
        }
        let fin2 = run.finish();
        let report = run.take_report();
        let receipts: Vec<serde_json::Value> = report
            .lines()
            .filter(|l| l.starts_with("{\"type\":\"receipt\",\"source\":"))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(receipts.len(), expected.len());
        assert!(receipts == expected);
        let expected_lines = expected;
        // The page's rows are the same lines with display members beside.
        let rows = parse_array(&run.take_lines());
        assert_eq!(rows.len(), expected_lines.len());
        for (row, line) in rows.iter().zip(&expected_lines) {
            for key in ["line", "ok", "code", "receipt_id", "receipt_hash"] {
                assert_eq!(row[key], line[key], "{key}");
            }
            assert_eq!(row["kind"].is_null(), line["ok"] == false);
        }
        assert_eq!(
            serde_json::to_string(&fin.summary).unwrap(),
            serde_json::to_string(&fin2.summary).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&fin.chains).unwrap(),
            serde_json::to_string(&fin2.chains).unwrap()
        );
        assert!(!fin.ok);
        let summary = serde_json::to_value(&fin.summary).unwrap();
        assert_eq!(summary["invalid"], 2);
        assert_eq!(summary["chains"]["broken"], 1, "{summary}");
        assert_eq!(summary["chains"]["closed"], 1);
        assert!(report.ends_with("\n"));
        assert!(
            report
                .lines()
                .last()
                .unwrap()
                .starts_with("{\"type\":\"summary\",\"schema\":1,")
        );
    }

    #[test]
    fn empty_input_is_no_receipts_and_input_errors_stay_in_place() {
        let mut run = Run::new(keys(), false, Style::Rows, true);
        run.begin("empty.jsonl");
        run.push(b"  \n");
        let fin = run.finish();
        assert!(!fin.ok);
        let report = run.take_report();
        assert!(report.contains("\"code\":\"no_receipts\""), "{report}");

        let mut run = Run::new(keys(), false, Style::Rows, true);
        run.begin("broken.jsonl.gz");
        let line = testkit::chain("auth_a", 1, false).remove(0);
        run.push(format!("{line}\n{line}\n").as_bytes());
        run.input_error("incorrect header check");
        run.judge_unsent();
        let fin = run.finish();
        let report = run.take_report();
        let types: Vec<&str> = report.lines().map(|l| &l[..20]).collect();
        assert_eq!(
            types,
            [
                "{\"type\":\"receipt\",\"s",
                "{\"type\":\"receipt\",\"s",
                "{\"type\":\"error\",\"cod",
                "{\"type\":\"summary\",\"s"
            ]
        );
        let summary = serde_json::to_value(&fin.summary).unwrap();
        assert_eq!(summary["complete"], false);
        assert_eq!(summary["valid"], 2);
    }
}
