//! `kvitto verify`: stream inputs, verify receipts in parallel batches,
//! check chains, report in input order, and choose the exit code.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kvitto_core::chain::Link;
use kvitto_core::export::{LenientIds, lenient_ids};
use kvitto_core::json::MAX_SIZE;
use kvitto_core::{ChainEntry, ChainReport, ChainSet, Error, Hash, KeySet, verdict_in};
use rayon::prelude::*;

use crate::cli::{Format, VerifyArgs};
use crate::input::{self, Body, Input};
use crate::keys::{self, Doc};
use crate::report::{self, J, Paint, escape};
use crate::{EXIT_INTERRUPTED, EXIT_INVALID, EXIT_KEYS, EXIT_OK, EXIT_USAGE};

/// Receipts verified together (in parallel) between two reports.
const BATCH: usize = 4096;

/// One receipt as read.
#[derive(Debug)]
struct Item {
    source: usize,
    line: usize,
    index: Option<usize>,
    body: Body,
}

/// What the reader thread sends, in input order.
#[derive(Debug)]
enum Msg {
    Batch(Vec<Item>),
    Error(String, io::Error),
}

/// What the verifier thread sends on: a batch with its verdicts, and the
/// generation of the key sets it was verified with.
#[derive(Debug)]
enum Checked {
    Batch(Vec<Item>, Vec<Outcome>, u64),
    Error(String, io::Error),
}

/// The key sets in use; `generation` grows when a refetch replaces one.
#[derive(Debug)]
struct KeyState {
    generation: u64,
    sets: Arc<Vec<KeySet>>,
}

type SharedKeys = Arc<RwLock<KeyState>>;

fn current(keys: &SharedKeys) -> (u64, Arc<Vec<KeySet>>) {
    let state = keys.read().unwrap_or_else(|e| e.into_inner());
    (state.generation, Arc::clone(&state.sets))
}

/// A valid receipt, reduced to what reports and chains need.
#[derive(Debug)]
struct Good {
    receipt_id: String,
    authorization_id: String,
    link: Link,
}

#[derive(Debug)]
struct Outcome {
    result: Result<Good, Error>,
    /// Lenient ids of an invalid receipt (section 9).
    ids: LenientIds,
}

fn judge(body: &Body, keysets: &[KeySet]) -> Outcome {
    let bytes = match body {
        Body::Bytes(b) => b,
        Body::TooLarge(size) => {
            return Outcome {
                result: Err(Error::TooLarge {
                    size: *size,
                    limit: MAX_SIZE,
                }),
                ids: LenientIds::default(),
            };
        }
    };
    match verdict_in(bytes, keysets) {
        Ok(v) => Outcome {
            result: Ok(Good {
                link: Link::from(&v),
                receipt_id: v.header.receipt_id,
                authorization_id: v.header.authorization_id,
            }),
            ids: LenientIds::default(),
        },
        Err(e) => Outcome {
            result: Err(e),
            ids: lenient_ids(bytes),
        },
    }
}

/// Verify again, with `sets`, the receipts whose kid was unknown.
fn rejudge(items: &[Item], outcomes: &mut [Outcome], sets: &[KeySet]) {
    items
        .par_iter()
        .zip(outcomes.par_iter_mut())
        .filter(|(_, o)| matches!(o.result, Err(Error::UnknownKid { .. })))
        .for_each(|(item, o)| *o = judge(&item.body, sets));
}

/// Counts for the summary.
#[derive(Debug, Default)]
struct Tally {
    receipts: u64,
    valid: u64,
    invalid: u64,
    chains: u64,
    intact: u64,
    broken: u64,
    closed: u64,
    open: u64,
    ungrouped: usize,
    key_error: bool,
    input_error: bool,
}

/// Everything one run of `verify` keeps while it streams.
struct Run<'a, W: Write> {
    args: &'a VerifyArgs,
    out: W,
    paint: Paint,
    inputs: Vec<Input>,
    docs: Vec<Doc>,
    /// Entries for the summary's key list (refetched documents appended).
    key_report: Vec<J>,
    keysets: SharedKeys,
    refetched: bool,
    chains: ChainSet,
    /// Where each invalid receipt stood, for chain messages: position -> (source, line).
    where_invalid: BTreeMap<usize, (usize, usize)>,
    tally: Tally,
}

fn key_entry(doc_source: &str, l: &kvitto_keys::Loaded) -> J {
    J::O(report::members![
        "workspace_id": l.keys.workspace_id(),
        "sha256": l.sha256.to_string(),
        "source": doc_source,
        "pinned": l.pinned,
        "cache_age_s": l.cache_age.map(|a| a.as_secs()),
    ])
}

impl<W: Write> Run<'_, W> {
    fn json(&self) -> bool {
        self.args.format == Format::Json
    }

    fn error(&mut self, code: &str, message: &str) -> io::Result<()> {
        if self.json() {
            report::json_line(
                &mut self.out,
                report::members!["type": "error", "code": code, "message": message],
            )
        } else {
            self.out.flush()?;
            report::eprint_error(code, message);
            Ok(())
        }
    }

    /// Report one receipt; returns whether it was invalid.
    fn receipt(&mut self, item: &Item, outcome: Outcome) -> io::Result<()> {
        let position = usize::try_from(self.tally.receipts).unwrap_or(usize::MAX);
        self.tally.receipts += 1;
        let source = &self.inputs[item.source].name;
        match &outcome.result {
            Ok(good) => {
                self.tally.valid += 1;
                if self.json() && !self.args.quiet {
                    report::json_line(
                        &mut self.out,
                        report::members![
                            "type": "receipt", "source": source, "line": item.line,
                            "index": item.index, "ok": true, "code": (), "message": (),
                            "receipt_id": good.receipt_id,
                            "authorization_id": good.authorization_id,
                            "receipt_hash": good.link.hash.to_string(),
                        ],
                    )?;
                }
            }
            Err(e) => {
                self.tally.invalid += 1;
                let message = e.to_string();
                if self.json() {
                    if !self.args.quiet {
                        report::json_line(
                            &mut self.out,
                            report::members![
                                "type": "receipt", "source": source, "line": item.line,
                                "index": item.index, "ok": false, "code": e.code(),
                                "message": message,
                                "receipt_id": outcome.ids.receipt_id,
                                "authorization_id": outcome.ids.authorization_id,
                                "receipt_hash": (),
                            ],
                        )?;
                    }
                } else if !self.args.quiet {
                    let p = self.paint;
                    writeln!(
                        self.out,
                        "{}:{}: {}: {}",
                        escape(source),
                        item.line,
                        p.red(e.code()),
                        escape(&message)
                    )?;
                }
                if self.args.chains {
                    self.where_invalid
                        .insert(position, (item.source, item.line));
                }
            }
        }
        if self.args.chains {
            match outcome.result {
                Ok(good) => self.chains.add(
                    Some(&good.authorization_id),
                    ChainEntry {
                        position,
                        receipt_id: None,
                        authorization_id: None,
                        outcome: Ok(good.link),
                    },
                ),
                Err(e) => self.chains.add(
                    outcome.ids.authorization_id.as_deref(),
                    ChainEntry {
                        position,
                        receipt_id: outcome.ids.receipt_id,
                        authorization_id: None,
                        outcome: Err(e),
                    },
                ),
            }
        }
        Ok(())
    }

    fn chain_message(&self, report: &ChainReport) -> String {
        match &report.result {
            Ok(()) if report.closed => "closed".to_string(),
            Ok(()) => "open: truncation not checked".to_string(),
            Err(Error::ChainInvalidReceipt {
                position,
                receipt_id,
                cause,
            }) => {
                let at = match self.where_invalid.get(position) {
                    Some((src, line)) => format!("{}:{line}", self.inputs[*src].name),
                    None => format!("#{position}"),
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

    fn chain(&mut self, report: &ChainReport) -> io::Result<()> {
        self.tally.chains += 1;
        match &report.result {
            Ok(()) => {
                self.tally.intact += 1;
                if report.closed {
                    self.tally.closed += 1;
                } else {
                    self.tally.open += 1;
                }
            }
            Err(_) => self.tally.broken += 1,
        }
        if self.args.quiet || (!self.json() && report.result.is_ok()) {
            return Ok(());
        }
        let message = self.chain_message(report);
        let code = report.result.as_ref().err().map(Error::code);
        if self.json() {
            let (head_seq, head_hash) = match report.head {
                Some((seq, hash)) => (Some(seq), Some(hash.to_string())),
                None => (None, None),
            };
            report::json_line(
                &mut self.out,
                report::members![
                    "type": "chain", "authorization_id": report.authorization_id,
                    "ok": report.result.is_ok(), "code": code, "message": message,
                    "closed": report.closed, "head_seq": head_seq, "head_hash": head_hash,
                    "receipts": report.receipts, "duplicates": report.duplicates,
                ],
            )
        } else {
            let p = self.paint;
            writeln!(
                self.out,
                "chain {}: {}: {}",
                escape(&report.authorization_id),
                p.red(code.unwrap_or("")),
                escape(&message)
            )
        }
    }

    /// Verify again the receipts whose kid was unknown, after fetching each
    /// unpinned URL document once more (at most once per run).
    /// `generation` is that of the key sets the batch was verified with.
    fn refetch(
        &mut self,
        items: &[Item],
        outcomes: &mut [Outcome],
        generation: u64,
    ) -> io::Result<()> {
        let unknown = |o: &Outcome| matches!(o.result, Err(Error::UnknownKid { .. }));
        if !outcomes.iter().any(unknown) {
            return Ok(());
        }
        let (now, sets) = current(&self.keysets);
        if generation < now {
            // Verified (ahead, in parallel) before the refetch: again with the new sets.
            rejudge(items, outcomes, &sets);
            return Ok(());
        }
        if self.refetched {
            return Ok(());
        }
        self.refetched = true;
        let mut new_sets = sets.as_ref().clone();
        let mut changed = false;
        let fetched: Vec<_> = self
            .docs
            .iter()
            .map(|doc| doc.loader.refetch(&doc.source))
            .collect();
        let mut errors = Vec::new();
        for ((doc, set), result) in self.docs.iter_mut().zip(&mut new_sets).zip(fetched) {
            match result {
                Ok(Some(loaded)) => {
                    self.key_report.push(key_entry(&doc.source, &loaded));
                    *set = loaded.keys.clone();
                    doc.loaded = loaded;
                    changed = true;
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        for e in errors {
            self.tally.key_error = true;
            self.error(e.code(), &e.to_string())?;
        }
        if changed {
            let new_sets = Arc::new(new_sets);
            {
                let mut state = self.keysets.write().unwrap_or_else(|e| e.into_inner());
                state.generation += 1;
                state.sets = Arc::clone(&new_sets);
            }
            rejudge(items, outcomes, &new_sets);
        }
        Ok(())
    }

    fn summary(&mut self, complete: bool, interrupted: bool) -> io::Result<()> {
        let t = &self.tally;
        if self.json() {
            let chains = J::O(report::members![
                "total": t.chains, "intact": t.intact, "broken": t.broken,
                "closed": t.closed, "open": t.open, "ungrouped": t.ungrouped,
            ]);
            let mut value = report::members![
                "type": "summary", "schema": report::SCHEMA,
                "receipts": t.receipts, "valid": t.valid, "invalid": t.invalid,
            ];
            value.push(("chains", chains));
            value.extend(report::members!["complete": complete]);
            value.push(("keys", J::A(self.key_report.clone())));
            return report::json_line(&mut self.out, value);
        }
        let p = self.paint;
        let verdict = if t.receipts > 0 && t.invalid == 0 && t.broken == 0 && complete {
            p.green("OK")
        } else {
            p.red("FAILED")
        };
        let mut line = format!(
            "{}: {} receipt{}, {} valid, {} invalid",
            p.bold(&verdict),
            t.receipts,
            if t.receipts == 1 { "" } else { "s" },
            t.valid,
            t.invalid
        );
        if self.args.chains && complete {
            line += &format!(
                "; {} chains, {} intact ({} closed, {} open: truncation not checked), {} broken",
                t.chains, t.intact, t.closed, t.open, t.broken
            );
        }
        if t.key_error {
            line += "; nothing verified: a key document is unavailable or invalid (see above)";
        } else if interrupted {
            line += "; interrupted, partial results";
        } else if !complete {
            line += "; stopped early (--max-failures)";
        }
        writeln!(self.out, "{line}")?;
        for entry in &self.key_report {
            let pinned = entry.get("pinned").and_then(|v| v.as_bool()) == Some(true);
            let mut s = format!(
                "keys: {} {} {} ({})",
                escape(
                    entry
                        .get("workspace_id")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                ),
                entry.get("sha256").and_then(|v| v.as_str()).unwrap_or(""),
                if pinned {
                    p.green("pinned")
                } else {
                    p.yellow("not pinned")
                },
                escape(entry.get("source").and_then(|v| v.as_str()).unwrap_or("")),
            );
            if let Some(age) = entry.get("cache_age_s").and_then(|v| v.as_u64()) {
                s += &format!(", from the cache, {age} s old");
            }
            writeln!(self.out, "{s}")?;
        }
        Ok(())
    }

    fn exit_code(&self, complete: bool) -> u8 {
        let t = &self.tally;
        if t.key_error {
            EXIT_KEYS
        } else if t.input_error || (complete && t.receipts == 0) {
            EXIT_USAGE
        } else if t.invalid > 0 || t.broken > 0 || !complete {
            EXIT_INVALID
        } else {
            EXIT_OK
        }
    }
}

/// `kvitto verify`.
pub(crate) fn run(args: VerifyArgs) -> io::Result<u8> {
    let stdout = io::stdout();
    let out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut run = Run {
        args: &args,
        out,
        paint: Paint::stdout(),
        inputs: Vec::new(),
        docs: Vec::new(),
        key_report: Vec::new(),
        keysets: Arc::new(RwLock::new(KeyState {
            generation: 0,
            sets: Arc::new(Vec::new()),
        })),
        refetched: false,
        chains: ChainSet::new(),
        where_invalid: BTreeMap::new(),
        tally: Tally::default(),
    };
    let code = drive(&mut run)?;
    run.out.flush()?;
    Ok(code)
}

fn drive<W: Write>(run: &mut Run<'_, W>) -> io::Result<u8> {
    let args = run.args;
    if args.keys.keys.is_empty() {
        let _ = writeln!(
            io::stderr(),
            "kvitto: error: --keys is required (a key document file or URL)"
        );
        return Ok(EXIT_USAGE);
    }
    if args.keys.pins.len() > args.keys.keys.len() {
        let _ = writeln!(io::stderr(), "kvitto: error: more --pin than --keys");
        return Ok(EXIT_USAGE);
    }
    let mut pins = Vec::new();
    for p in &args.keys.pins {
        match keys::parse_pin(p) {
            Ok(h) => pins.push(h),
            Err(msg) => {
                let _ = writeln!(io::stderr(), "kvitto: error: {msg}");
                return Ok(EXIT_USAGE);
            }
        }
    }
    let mut sets = Vec::new();
    for (i, source) in args.keys.keys.iter().enumerate() {
        let pin: Option<Hash> = pins.get(i).copied();
        match keys::load(source, &args.keys.fetch, pin) {
            Ok(doc) => {
                run.key_report.push(key_entry(&doc.source, &doc.loaded));
                sets.push(doc.loaded.keys.clone());
                run.docs.push(doc);
            }
            Err(e) => {
                run.tally.key_error = true;
                run.error(e.code(), &format!("{source}: {e}"))?;
            }
        }
    }
    if run.tally.key_error {
        run.summary(false, false)?;
        return Ok(EXIT_KEYS);
    }
    run.keysets = Arc::new(RwLock::new(KeyState {
        generation: 0,
        sets: Arc::new(sets),
    }));

    let (inputs, errors) = input::expand(&args.inputs);
    for (name, e) in errors {
        run.tally.input_error = true;
        run.error("io_error", &format!("{name}: {e}"))?;
    }
    run.inputs = inputs;

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        // If a handler cannot be set (another one exists), Ctrl-C just ends the process.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Three stages, so that none waits for another: the reader frames
    // inputs into batches; the verifier verifies a batch on all cores (rayon)
    // while this thread reports the batch before it, in input order.
    let (tx, rx) = mpsc::sync_channel::<Msg>(2);
    let (checked_tx, checked_rx) = mpsc::sync_channel::<Checked>(1);
    let reader = {
        let inputs = run.inputs.clone();
        let stop = Arc::clone(&stop);
        let interrupted = Arc::clone(&interrupted);
        thread::spawn(move || {
            read_all(&inputs, &tx, &|| {
                stop.load(Ordering::Relaxed) || interrupted.load(Ordering::Relaxed)
            })
        })
    };
    {
        let keys = Arc::clone(&run.keysets);
        thread::spawn(move || {
            for msg in rx {
                let checked = match msg {
                    Msg::Batch(items) => {
                        let (generation, sets) = current(&keys);
                        let outcomes = items
                            .par_iter()
                            .map(|item| judge(&item.body, &sets))
                            .collect();
                        Checked::Batch(items, outcomes, generation)
                    }
                    Msg::Error(name, e) => Checked::Error(name, e),
                };
                if checked_tx.send(checked).is_err() {
                    return;
                }
            }
        });
    }

    let progress = if io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {human_pos} receipts ({per_sec}) {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(bar)
    } else {
        None
    };

    let max_failures = args.max_failures.unwrap_or(u64::MAX);
    let mut complete = true;
    let result = (|| -> io::Result<()> {
        loop {
            if interrupted.load(Ordering::Relaxed) {
                complete = false;
                break;
            }
            let msg = match checked_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(msg) => msg,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match msg {
                Checked::Error(name, e) => {
                    run.tally.input_error = true;
                    run.error("io_error", &format!("{name}: {e}"))?;
                }
                Checked::Batch(items, mut outcomes, generation) => {
                    run.refetch(&items, &mut outcomes, generation)?;
                    for (item, outcome) in items.iter().zip(outcomes) {
                        run.receipt(item, outcome)?;
                        if run.tally.invalid >= max_failures {
                            complete = false;
                            break;
                        }
                    }
                    if let Some(bar) = &progress {
                        bar.set_position(run.tally.receipts);
                    }
                    if !complete {
                        break;
                    }
                }
            }
        }
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    drop(checked_rx);
    // The reader ends at its next chunk; one blocked on a quiet stdin is left
    // behind (the process ends after the summary).
    if complete && result.is_ok() {
        let _ = reader.join();
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    result?;
    let was_interrupted = interrupted.load(Ordering::Relaxed);
    if was_interrupted {
        complete = false;
    }
    if args.chains && complete {
        let chains = std::mem::take(&mut run.chains);
        run.tally.ungrouped = chains.ungrouped();
        for report in chains.finish() {
            run.chain(&report)?;
        }
    }
    if complete && run.tally.receipts == 0 && !run.tally.input_error {
        run.error("no_receipts", "no receipts found in the input")?;
    }
    run.summary(complete, was_interrupted)?;
    if was_interrupted {
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(run.exit_code(complete))
}

/// The reader thread: frame every input into batches, in order.
fn read_all(inputs: &[Input], tx: &mpsc::SyncSender<Msg>, stop: &dyn Fn() -> bool) {
    let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
    for (source, input) in inputs.iter().enumerate() {
        if stop() {
            return;
        }
        let result = input::open(input).and_then(|mut reader| {
            let mut emit = |line, index, body| {
                batch.push(Item {
                    source,
                    line,
                    index,
                    body,
                });
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    return tx.send(Msg::Batch(full)).is_ok();
                }
                true
            };
            input::frame(&mut *reader, stop, &mut emit)
        });
        match result {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let full = std::mem::take(&mut batch);
                if !full.is_empty() && tx.send(Msg::Batch(full)).is_err() {
                    return;
                }
                if tx.send(Msg::Error(input.name.clone(), e)).is_err() {
                    return;
                }
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Msg::Batch(batch));
    }
}
