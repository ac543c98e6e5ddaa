//! `kvitto verify`: stream inputs through the core's framer, verify
//! receipts in parallel batches, check chains, report in input order, and
//! choose the exit code.

use std::collections::BTreeSet;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kvitto_core::{Error, Hash, KeySet, Outcome, judge};
use kvitto_report::{
    ErrorLine, Input, Item, Judged, KeyEntry, Line, Next, Pipeline, ReceiptLine, Session,
    SharedKeys, SummaryLine, escape,
};
use rayon::prelude::*;

use crate::cli::{Format, VerifyArgs};
use crate::keys::{self, Doc};
use crate::report::{self, Paint};
use crate::{EXIT_INTERRUPTED, EXIT_INVALID, EXIT_KEYS, EXIT_OK, EXIT_USAGE};

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
    /// Documents (by index) already fetched again for an unknown kid.
    refetched: BTreeSet<usize>,
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
        let (json, quiet, p) = (self.json(), self.args.quiet, self.paint);
        // Each chain's line is written as it is checked, never all held.
        for chain in self.session.chains() {
            if quiet || (!json && chain.ok) {
                continue;
            }
            if json {
                report::json_line(&mut self.out, &Line::Chain(chain))?;
            } else {
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
        let (now, sets) = self.keysets.current();
        if generation < now {
            // Judged (ahead, in parallel) before a refetch: again with the new sets.
            rejudge(items, outcomes, &sets);
        }
        // The documents of the workspaces whose receipts name a kid they
        // lack, each fetched again at most once.
        let wanted: BTreeSet<&str> = outcomes
            .iter()
            .filter_map(|o| match o.error() {
                Some(Error::UnknownKid { workspace_id, .. }) => Some(workspace_id.as_str()),
                _ => None,
            })
            .collect();
        let todo: Vec<usize> = (0..self.docs.len())
            .filter(|i| {
                !self.refetched.contains(i)
                    && wanted.contains(self.docs[*i].loaded.keys.workspace_id())
            })
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let mut new_sets = sets.as_ref().clone();
        let mut changed = false;
        for i in todo {
            self.refetched.insert(i);
            let doc = &mut self.docs[i];
            match doc.loader.refetch(&doc.source) {
                Ok(Some(loaded)) => {
                    self.key_report.push(key_entry(&doc.source, &loaded));
                    new_sets[i] = loaded.keys.clone();
                    doc.loaded = loaded;
                    changed = true;
                }
                Ok(None) => {}
                Err(e) => {
                    let source = doc.source.clone();
                    let message = format!(
                        "refetching {source} for an unknown kid failed: {e}; the receipts of workspace {} signed by a kid its first copy lacks stay unknown_kid",
                        doc.loaded.keys.workspace_id()
                    );
                    self.error(e.code(), &message, Some(&source))?;
                    self.trouble.refetch_failed.push(source);
                }
            }
        }
        if changed {
            let new_sets = self.keysets.replace(new_sets);
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
        let failed = t.keys_unloaded
            || summary.invalid > 0
            || summary.chains.broken > 0
            || summary.receipts == 0;
        let verdict = if failed {
            p.red("FAILED")
        } else if !summary.complete {
            p.yellow("INCOMPLETE")
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
        keysets: SharedKeys::new(Vec::new()),
        refetched: BTreeSet::new(),
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
    // From the start, so that Ctrl-C always ends with a summary.
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        // If a handler cannot be set (another one exists), Ctrl-C just ends the process.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
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
    // One document per workspace: a second would be silently unused.
    for (i, doc) in run.docs.iter().enumerate() {
        let ws = doc.loaded.keys.workspace_id();
        if let Some(first) = run.docs[..i]
            .iter()
            .find(|d| d.loaded.keys.workspace_id() == ws)
        {
            return Ok(usage(&format!(
                "--keys {} and --keys {} are both for workspace {}: give one key document per workspace",
                escape(&first.source),
                escape(&doc.source),
                escape(ws)
            )));
        }
    }
    run.keysets = SharedKeys::new(sets);

    run.inputs = kvitto_report::expand(&args.inputs);
    for input in &run.inputs {
        run.session.source(input.name.clone());
    }

    // Three stages side by side (kvitto-report's pipeline): the reader
    // frames inputs into batches, the verifier judges a batch on all cores
    // while this thread reports the batch before it, in input order.
    let pipeline = Pipeline::start(
        run.inputs.clone(),
        |_, input: Input| kvitto_report::open(&input),
        run.keysets.clone(),
    );
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
            let judged = match pipeline.next_timeout(Duration::from_millis(100)) {
                Next::Judged(judged) => judged,
                Next::Waiting => continue,
                Next::End => break,
            };
            match judged {
                Judged::Failed { source, error } => {
                    run.trouble.unreadable += 1;
                    let name = run.inputs[source].name.clone();
                    run.error("io_error", &format!("{name}: {error}"), Some(&name))?;
                }
                Judged::Batch {
                    items,
                    mut outcomes,
                    generation,
                    ..
                } => {
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
    // The reader ends at its next chunk; one blocked on a quiet stdin is left
    // behind (the process ends after the summary).
    pipeline.stop(why == Stop::End && result.is_ok());
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
