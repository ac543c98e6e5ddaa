//! `kvitto verify`: stream inputs through the core's framer, verify
//! receipts in parallel batches, check chains, report in input order, and
//! choose the exit code.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kvitto_core::{Body, Error, Hash, KeySet, Outcome, Record, judge};
use kvitto_report::{ErrorLine, Input, KeyEntry, Line, ReceiptLine, Session, SummaryLine, escape};
use rayon::prelude::*;

use crate::cli::{Format, VerifyArgs};
use crate::keys::{self, Doc};
use crate::report::{self, Paint};
use crate::{EXIT_INTERRUPTED, EXIT_INVALID, EXIT_KEYS, EXIT_OK, EXIT_USAGE};

/// Receipts verified together (in parallel) between two reports...
const BATCH: usize = 4096;
/// ...or fewer, when they hold this many bytes: memory stays bounded
/// whatever the receipts' size.
const BATCH_BYTES: usize = 4 << 20;

/// One receipt as read.
#[derive(Debug)]
struct Item {
    source: usize,
    record: Record,
}

fn weight(record: &Record) -> usize {
    match &record.body {
        Body::Text(t) => t.len() + 64,
        _ => 64,
    }
}

/// What the reader thread sends, in input order.
#[derive(Debug)]
enum Msg {
    Batch(Vec<Item>),
    /// An input that could not be read (wholly or from some point on).
    Error(usize, String),
}

/// What the verifier thread sends on: a batch with its verdicts, and the
/// generation of the key sets it was verified with.
#[derive(Debug)]
enum Checked {
    Batch(Vec<Item>, Vec<Outcome>, u64),
    Error(usize, String),
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

fn unknown_kid(o: &Outcome) -> bool {
    matches!(o.error(), Some(Error::UnknownKid { .. }))
}

/// Verify again, with `sets`, the receipts whose kid was unknown.
fn rejudge(items: &[Item], outcomes: &mut [Outcome], sets: &[KeySet]) {
    items
        .par_iter()
        .zip(outcomes.par_iter_mut())
        .filter(|(_, o)| unknown_kid(o))
        .for_each(|(item, o)| *o = judge(&item.record.body, sets));
}

/// What went wrong beside invalid receipts.
#[derive(Debug, Default)]
struct Trouble {
    /// A key document failed to load before anything was verified.
    keys_unloaded: bool,
    /// Refetching these documents (for an unknown kid) failed.
    refetch_failed: Vec<String>,
    /// Inputs that could not be read, wholly or in part.
    unreadable: u64,
}

/// Everything one run of `verify` keeps while it streams.
struct Run<'a, W: Write> {
    args: &'a VerifyArgs,
    out: W,
    paint: Paint,
    inputs: Vec<Input>,
    docs: Vec<Doc>,
    /// Entries for the summary's key list (refetched documents appended).
    key_report: Vec<KeyEntry>,
    keysets: SharedKeys,
    refetched: bool,
    session: Session,
    trouble: Trouble,
}

fn key_entry(doc_source: &str, l: &kvitto_keys::Loaded) -> KeyEntry {
    KeyEntry {
        workspace_id: l.keys.workspace_id().to_owned(),
        sha256: l.sha256.to_string(),
        source: doc_source.to_owned(),
        pinned: l.pinned,
        cache_age_s: l.cache_age.map(|a| a.as_secs()),
    }
}

impl<W: Write> Run<'_, W> {
    fn json(&self) -> bool {
        self.args.format == Format::Json
    }

    fn line(&mut self, line: Line) -> io::Result<()> {
        report::json_line(&mut self.out, &line)
    }

    fn error(&mut self, code: &str, message: &str, source: Option<&str>) -> io::Result<()> {
        if self.json() {
            self.line(Line::Error(ErrorLine {
                code: code.to_owned(),
                message: message.to_owned(),
                source: source.map(str::to_owned),
            }))
        } else {
            self.out.flush()?;
            report::eprint_error(code, message);
            Ok(())
        }
    }

    /// Report one receipt.
    fn receipt(&mut self, item: &Item, outcome: &Outcome) -> io::Result<()> {
        let quiet = self.args.quiet;
        if outcome.is_valid() && (quiet || !self.json()) {
            self.session.count(item.source, &item.record, outcome);
            return Ok(());
        }
        let line = self.session.receipt(item.source, &item.record, outcome);
        if self.json() {
            if !quiet {
                self.line(Line::Receipt(line))?;
            }
        } else if !quiet {
            self.text_failure(&line)?;
        }
        Ok(())
    }

    fn text_failure(&mut self, line: &ReceiptLine) -> io::Result<()> {
        let p = self.paint;
        writeln!(
            self.out,
            "{}: {}: {}",
            escape(&line.place()),
            p.red(line.code.as_deref().unwrap_or("")),
            escape(line.message.as_deref().unwrap_or(""))
        )
    }

    fn chains(&mut self) -> io::Result<()> {
        for chain in self.session.finish_chains() {
            if self.args.quiet || (!self.json() && chain.ok) {
                continue;
            }
            if self.json() {
                self.line(Line::Chain(chain))?;
            } else {
                let p = self.paint;
                writeln!(
                    self.out,
                    "chain {}: {}: {}",
                    escape(&chain.authorization_id),
                    p.red(chain.code.as_deref().unwrap_or("")),
                    escape(&chain.message)
                )?;
            }
        }
        Ok(())
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
        if !outcomes.iter().any(unknown_kid) {
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
        let mut failed = Vec::new();
        for ((doc, set), result) in self.docs.iter_mut().zip(&mut new_sets).zip(fetched) {
            match result {
                Ok(Some(loaded)) => {
                    self.key_report.push(key_entry(&doc.source, &loaded));
                    *set = loaded.keys.clone();
                    doc.loaded = loaded;
                    changed = true;
                }
                Ok(None) => {}
                Err(e) => failed.push((doc.source.clone(), e)),
            }
        }
        for (source, e) in failed {
            let message = format!(
                "refetching {source} for an unknown kid failed: {e}; receipts signed by a kid the first copy lacks stay unknown_kid"
            );
            self.error(e.code(), &message, Some(&source))?;
            self.trouble.refetch_failed.push(source);
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

    fn summary(&mut self, summary: &SummaryLine, why: Stop) -> io::Result<()> {
        if self.json() {
            return self.line(Line::Summary(summary.clone()));
        }
        let p = self.paint;
        let t = &self.trouble;
        let verdict = if t.keys_unloaded || summary.invalid > 0 || summary.chains.broken > 0 {
            p.red("FAILED")
        } else if !summary.complete {
            p.yellow("INCOMPLETE")
        } else if summary.receipts == 0 {
            p.red("FAILED")
        } else {
            p.green("OK")
        };
        let mut line = format!(
            "{}: {} receipt{}, {} valid, {} invalid",
            p.bold(&verdict),
            summary.receipts,
            if summary.receipts == 1 { "" } else { "s" },
            summary.valid,
            summary.invalid
        );
        let c = &summary.chains;
        if self.args.chains && why == Stop::End && !t.keys_unloaded {
            line += &format!(
                "; {} chains, {} intact ({} closed, {} open: truncation not checked), {} broken",
                c.total, c.intact, c.closed, c.open, c.broken
            );
            if c.ungrouped > 0 {
                line += &format!(
                    "; {} receipt{} in no chain (authorization_id unreadable)",
                    c.ungrouped,
                    if c.ungrouped == 1 { "" } else { "s" }
                );
            }
        }
        if t.keys_unloaded {
            line += "; nothing verified: a key document is unavailable or invalid (see above)";
        }
        for source in &t.refetch_failed {
            line += &format!(
                "; refetching {} failed, so receipts by a kid it lacked were not verified against a newer copy",
                escape(source)
            );
        }
        if t.unreadable > 0 {
            line += &format!(
                "; {} input{} could not be read (see above)",
                t.unreadable,
                if t.unreadable == 1 { "" } else { "s" }
            );
        }
        match why {
            Stop::Interrupted => line += "; interrupted, partial results",
            Stop::MaxFailures => line += "; stopped early (--max-failures)",
            Stop::End => {}
        }
        writeln!(self.out, "{line}")?;
        for entry in &summary.keys {
            let mut s = format!(
                "keys: {} {} {} ({})",
                escape(&entry.workspace_id),
                entry.sha256,
                if entry.pinned {
                    p.green("pinned")
                } else {
                    p.yellow("not pinned")
                },
                escape(&entry.source),
            );
            if let Some(age) = entry.cache_age_s {
                s += &format!(", from the cache, {age} s old");
            }
            writeln!(self.out, "{s}")?;
        }
        Ok(())
    }

    fn exit_code(&self, summary: &SummaryLine, why: Stop) -> u8 {
        let t = &self.trouble;
        if t.keys_unloaded || !t.refetch_failed.is_empty() {
            EXIT_KEYS
        } else if t.unreadable > 0 || (why == Stop::End && summary.receipts == 0) {
            EXIT_USAGE
        } else if summary.invalid > 0 || summary.chains.broken > 0 || why != Stop::End {
            EXIT_INVALID
        } else {
            EXIT_OK
        }
    }
}

/// Why reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    End,
    MaxFailures,
    Interrupted,
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
        session: Session::new(args.chains),
        trouble: Trouble::default(),
    };
    let code = drive(&mut run)?;
    run.out.flush()?;
    Ok(code)
}

fn usage(message: &str) -> u8 {
    let _ = writeln!(io::stderr(), "kvitto: error: {message}");
    EXIT_USAGE
}

fn drive<W: Write>(run: &mut Run<'_, W>) -> io::Result<u8> {
    let args = run.args;
    if args.keys.keys.is_empty() {
        return Ok(usage("--keys is required (a key document file or URL)"));
    }
    if args.keys.pins.len() > args.keys.keys.len() {
        return Ok(usage("more --pin than --keys"));
    }
    let mut pins = Vec::new();
    for p in &args.keys.pins {
        match keys::parse_pin(p) {
            Ok(h) => pins.push(h),
            Err(msg) => return Ok(usage(&msg)),
        }
    }
    let mut sets: Vec<KeySet> = Vec::new();
    for (i, source) in args.keys.keys.iter().enumerate() {
        let pin: Option<Hash> = pins.get(i).copied();
        match keys::load(source, &args.keys.fetch, pin) {
            Ok(doc) => {
                let ws = doc.loaded.keys.workspace_id();
                if let Some(first) = run.docs.iter().find(|d| d.loaded.keys.workspace_id() == ws) {
                    return Ok(usage(&format!(
                        "--keys {} and --keys {} are both for workspace {}: give one key document per workspace",
                        escape(&first.source),
                        escape(source),
                        escape(ws)
                    )));
                }
                run.key_report.push(key_entry(&doc.source, &doc.loaded));
                sets.push(doc.loaded.keys.clone());
                run.docs.push(doc);
            }
            Err(e) => {
                run.trouble.keys_unloaded = true;
                run.error(e.code(), &format!("{source}: {e}"), Some(source))?;
            }
        }
    }
    if run.trouble.keys_unloaded {
        let summary = run.session.summary(false, run.key_report.clone());
        run.summary(&summary, Stop::End)?;
        return Ok(EXIT_KEYS);
    }
    run.keysets = Arc::new(RwLock::new(KeyState {
        generation: 0,
        sets: Arc::new(sets),
    }));

    run.inputs = kvitto_report::expand(&args.inputs);
    for input in &run.inputs {
        run.session.source(input.name.clone());
    }

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
                            .map(|item| judge(&item.record.body, &sets))
                            .collect();
                        Checked::Batch(items, outcomes, generation)
                    }
                    Msg::Error(source, e) => Checked::Error(source, e),
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
    let mut why = Stop::End;
    let result = (|| -> io::Result<()> {
        loop {
            if interrupted.load(Ordering::Relaxed) {
                why = Stop::Interrupted;
                break;
            }
            let msg = match checked_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(msg) => msg,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match msg {
                Checked::Error(source, e) => {
                    run.trouble.unreadable += 1;
                    let name = run.inputs[source].name.clone();
                    run.error("io_error", &format!("{name}: {e}"), Some(&name))?;
                }
                Checked::Batch(items, mut outcomes, generation) => {
                    run.refetch(&items, &mut outcomes, generation)?;
                    for (item, outcome) in items.iter().zip(&outcomes) {
                        run.receipt(item, outcome)?;
                        if run.session.counts().1 >= max_failures {
                            why = Stop::MaxFailures;
                            break;
                        }
                    }
                    if let Some(bar) = &progress {
                        bar.set_position(run.session.counts().0);
                    }
                    if why != Stop::End {
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
    if why == Stop::End && result.is_ok() {
        let _ = reader.join();
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    result?;
    if interrupted.load(Ordering::Relaxed) {
        why = Stop::Interrupted;
    }
    if why == Stop::End {
        run.chains()?;
    }
    let (receipts, _) = run.session.counts();
    if why == Stop::End && receipts == 0 && run.trouble.unreadable == 0 {
        run.error("no_receipts", "no receipts found in the input", None)?;
    }
    let complete = why == Stop::End && run.trouble.unreadable == 0;
    let summary = run.session.summary(complete, run.key_report.clone());
    run.summary(&summary, why)?;
    if why == Stop::Interrupted {
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(run.exit_code(&summary, why))
}

/// The reader thread: frame every input into batches, in order; an input
/// that cannot be read is reported in its place.
fn read_all(inputs: &[Input], tx: &mpsc::SyncSender<Msg>, stop: &dyn Fn() -> bool) {
    let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
    let mut bytes = 0usize;
    for (source, input) in inputs.iter().enumerate() {
        if stop() {
            return;
        }
        let result = kvitto_report::open(input).and_then(|mut reader| {
            let mut each = |record: Record| {
                bytes += weight(&record);
                batch.push(Item { source, record });
                if batch.len() >= BATCH || bytes >= BATCH_BYTES {
                    bytes = 0;
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    return tx.send(Msg::Batch(full)).is_ok();
                }
                true
            };
            kvitto_report::read_records(&mut *reader, stop, &mut each, &mut |_| {})
        });
        match result {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                bytes = 0;
                let full = std::mem::take(&mut batch);
                if !full.is_empty() && tx.send(Msg::Batch(full)).is_err() {
                    return;
                }
                if tx.send(Msg::Error(source, e.to_string())).is_err() {
                    return;
                }
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Msg::Batch(batch));
    }
}
