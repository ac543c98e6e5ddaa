//! `verify_export` and `verify_chain`. Inputs (paths, bytes, iterables of
//! lines) become byte streams fed to kvitto-core's `Framer` through
//! kvitto-report's `read_records`, on a reader thread; batches bounded by
//! count and bytes are judged with rayon while the GIL is released, then
//! counted, grouped and reported by kvitto-report's `Session` — the CLI's
//! pipeline, minus printing.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use kvitto_core::{KeySet, Outcome, Record};
use kvitto_report::{ChainLine, Input, Item, Judged, KeyEntry, Pipeline, Session, SharedKeys};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyIterator, PyString};

use crate::convert;
use crate::dask::Shuffle;
use crate::keys::{self, fspath};
use crate::report::{ChainReport, Report};
use crate::store::Store;

/// One input.
#[derive(Debug)]
pub(crate) enum Src {
    /// A file (`.gz` decompressed on the fly), through kvitto-report.
    Path(Input),
    /// A bytes object, read in chunks.
    Bytes(Py<PyBytes>),
    /// An iterable of lines, joined as JSON Lines.
    Lines(Py<PyIterator>),
}

/// The inputs of one run, with their names and, when known, their size.
#[derive(Debug)]
pub(crate) struct Inputs {
    pub(crate) items: Vec<(String, Src)>,
    pub(crate) total: Option<u64>,
}

/// Read `source` as `verify_export` does: a path (str or os.PathLike; a
/// directory is walked for export files, sorted, as the CLI does), a
/// bytes-like object, or an iterable of lines.
pub(crate) fn inputs(source: &Bound<'_, PyAny>, name: Option<&str>) -> PyResult<Inputs> {
    let py = source.py();
    if source.is_instance_of::<PyString>() || source.hasattr("__fspath__")? {
        return path_inputs(&fspath(source)?);
    }
    if let Some(bytes) = convert::text_bytes(source)? {
        let total = bytes.len() as u64;
        let obj = match source.cast::<PyBytes>() {
            Ok(b) => b.clone().unbind(),
            Err(_) => PyBytes::new(py, &bytes).unbind(),
        };
        return Ok(Inputs {
            items: vec![(name.unwrap_or("<bytes>").to_owned(), Src::Bytes(obj))],
            total: Some(total),
        });
    }
    let iter = source.try_iter().map_err(|_| {
        PyTypeError::new_err(
            "source must be a path (str or os.PathLike), bytes, or an iterable of lines",
        )
    })?;
    Ok(Inputs {
        items: vec![(
            name.unwrap_or("<lines>").to_owned(),
            Src::Lines(iter.unbind()),
        )],
        total: None,
    })
}

/// A file or directory, expanded by kvitto-report as the CLI expands it.
pub(crate) fn path_inputs(path: &str) -> PyResult<Inputs> {
    std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    let mut items = Vec::new();
    let mut total = Some(0u64);
    for input in kvitto_report::expand(&[path.to_owned()]) {
        if let Some(e) = &input.error {
            return Err(PyOSError::new_err(format!("{}: {e}", input.name)));
        }
        let size = input
            .path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len());
        total = match (total, size) {
            (Some(t), Some(s)) if !input.name.ends_with(".gz") => Some(t + s),
            _ => None,
        };
        items.push((input.name.clone(), Src::Path(input)));
    }
    Ok(Inputs { items, total })
}

fn io_error(name: &str, e: io::Error) -> PyErr {
    let err = PyErr::from(e);
    Python::attach(|py| {
        let _ = err.value(py).setattr("filename", name);
    });
    err
}

/// A bytes object, read a chunk at a time (each read holds the GIL only
/// to copy the chunk).
struct BytesReader {
    obj: Py<PyBytes>,
    pos: usize,
}

impl Read for BytesReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let data = self.obj.bind(py).as_bytes();
            let n = buf.len().min(data.len().saturating_sub(self.pos));
            buf[..n].copy_from_slice(&data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        })
    }
}

/// An iterable of lines as one JSON Lines stream: each item's bytes (bytes
/// as they are, str as UTF-8, any other object through json.dumps), then
/// an LF unless the item already ends with one.
struct LinesReader {
    iter: Py<PyIterator>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
    error: Arc<Mutex<Option<PyErr>>>,
}

impl LinesReader {
    fn refill(&mut self) -> PyResult<()> {
        self.buf.clear();
        self.pos = 0;
        Python::attach(|py| {
            let mut it = self.iter.bind(py).clone();
            while self.buf.len() < kvitto_report::CHUNK {
                let Some(item) = it.next() else {
                    self.done = true;
                    break;
                };
                let item = item?;
                match convert::text_bytes(&item)? {
                    Some(b) => self.buf.extend_from_slice(&b),
                    None => self.buf.extend_from_slice(&convert::json_dumps(&item)?),
                }
                if self.buf.last() != Some(&b'\n') {
                    self.buf.push(b'\n');
                }
            }
            Ok(())
        })
    }
}

impl Read for LinesReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.buf.len() {
            if self.done {
                return Ok(0);
            }
            if let Err(e) = self.refill() {
                *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                return Err(io::Error::other(
                    "the iterable of lines raised an exception",
                ));
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn open(src: Src, error: &Arc<Mutex<Option<PyErr>>>) -> io::Result<Box<dyn Read + Send>> {
    Ok(match src {
        Src::Path(input) => kvitto_report::open(&input)?,
        Src::Bytes(obj) => Box::new(BytesReader { obj, pos: 0 }),
        Src::Lines(iter) => Box::new(LinesReader {
            iter,
            buf: Vec::new(),
            pos: 0,
            done: false,
            error: Arc::clone(error),
        }),
    })
}

/// How many per-receipt results a report keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    All,
    Invalid,
    None,
}

impl Keep {
    pub(crate) fn parse(s: &str) -> PyResult<Keep> {
        match s {
            "all" => Ok(Keep::All),
            "invalid" => Ok(Keep::Invalid),
            "none" => Ok(Keep::None),
            other => Err(PyValueError::new_err(format!(
                "keep must be \"all\", \"invalid\" or \"none\", not {other:?}"
            ))),
        }
    }
}

/// Where judged records go: the session (counts, chains, lines), the
/// store of kept lines, and for a Dask partition the shuffle.
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) session: Session,
    store: Store,
    keep: Keep,
    /// Added to each record's input index in the store (a partition's
    /// inputs are numbered from here in the merged report).
    source_base: u32,
    /// Receipts whose lenient authorization_id could not be read.
    pub(crate) ungrouped: u64,
    added: u64,
    pub(crate) shuffle: Option<Shuffle>,
}

impl Sink {
    pub(crate) fn new(
        chains: bool,
        keep: Keep,
        source_base: u32,
        shuffle: Option<Shuffle>,
    ) -> Sink {
        Sink {
            session: Session::new(chains),
            store: Store::default(),
            keep,
            source_base,
            ungrouped: 0,
            added: 0,
            shuffle,
        }
    }

    fn add(&mut self, item: &Item, outcome: &Outcome) {
        let keep = match self.keep {
            Keep::All => true,
            Keep::Invalid => !outcome.is_valid(),
            Keep::None => false,
        };
        if keep {
            let line = self.session.receipt(item.source, &item.record, outcome);
            let source = self.source_base + u32::try_from(item.source).unwrap_or(u32::MAX);
            self.store.push(&line, source);
        } else {
            self.session.count(item.source, &item.record, outcome);
        }
        if outcome.authorization_id().is_none() {
            self.ungrouped += 1;
        }
        if let Some(shuffle) = &mut self.shuffle {
            shuffle.add(self.added, item, outcome);
        }
        self.added += 1;
    }

    /// The report: chains checked now (with chains), then the summary.
    pub(crate) fn into_report(mut self, keys: Vec<KeyEntry>) -> Report {
        let chains = self.session.finish_chains();
        let summary = self.session.summary(true, keys);
        self.store.shrink();
        Report {
            store: self.store,
            sources: self.session.sources().to_vec(),
            chains,
            summary,
        }
    }

    pub(crate) fn into_parts(mut self) -> (Store, Session, Option<Shuffle>) {
        self.store.shrink();
        (self.store, self.session, self.shuffle)
    }
}

/// Read, judge and sink every record of `inputs` through kvitto-report's
/// pipeline (the CLI's: a reader thread frames inputs into batches, a
/// verifier thread judges a batch on every core while this thread sinks the
/// one before it, in input order), with the GIL released except to call
/// `progress(done_bytes, total_bytes)` and to check for signals (Ctrl-C)
/// after each batch.
pub(crate) fn run(
    py: Python<'_>,
    inputs: Inputs,
    keysets: &[KeySet],
    progress: Option<Py<PyAny>>,
    sink: &mut Sink,
) -> PyResult<()> {
    let (names, srcs): (Vec<String>, Vec<Src>) = inputs.items.into_iter().unzip();
    let total = inputs.total;
    let error = Arc::new(Mutex::new(None::<PyErr>));
    let tick = |done: u64| -> PyResult<()> {
        Python::attach(|py| {
            py.check_signals()?;
            if let Some(cb) = &progress {
                cb.call1(py, (done, total))?;
            }
            Ok(())
        })
    };
    let slot = Arc::clone(&error);
    let keys = SharedKeys::new(keysets.to_vec());
    py.detach(|| {
        let pipeline = Pipeline::start(srcs, move |_, src| open(src, &slot), keys);
        let mut done = 0;
        let result = (|| -> PyResult<()> {
            while let Some(judged) = pipeline.next() {
                match judged {
                    Judged::Batch {
                        items,
                        outcomes,
                        bytes_read,
                        ..
                    } => {
                        for (item, outcome) in items.iter().zip(&outcomes) {
                            sink.add(item, outcome);
                        }
                        done = bytes_read;
                        tick(done)?;
                    }
                    Judged::Failed { source, error: e } => {
                        let raised = error.lock().unwrap_or_else(|p| p.into_inner()).take();
                        return Err(raised.unwrap_or_else(|| {
                            PyOSError::new_err(format!("{}: {e}", names[source]))
                        }));
                    }
                }
            }
            if total.is_some_and(|t| t != done) || progress.is_some() {
                tick(total.unwrap_or(done))?;
            }
            Ok(())
        })();
        // Stop the reader at its next chunk, and wait for it.
        pipeline.stop(true);
        result
    })
}

/// Verify an export: every receipt (contract section 7) and, with
/// `chains`, every authorization's chain (section 8).
#[pyfunction]
#[pyo3(signature = (source, keys, chains = true, *, progress = None, keep = "all", name = None))]
pub(crate) fn verify_export(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    keys: &Bound<'_, PyAny>,
    chains: bool,
    progress: Option<Py<PyAny>>,
    keep: &str,
    name: Option<&str>,
) -> PyResult<Report> {
    let sets = keys::keysets(keys)?;
    let core = keys::core_sets(&sets);
    let keep = Keep::parse(keep)?;
    if let Some(cb) = &progress
        && !cb.bind(py).is_callable()
    {
        return Err(PyTypeError::new_err(
            "progress must be a callable(done_bytes, total_bytes)",
        ));
    }
    let inputs = inputs(source, name)?;
    let mut sink = Sink::new(chains, keep, 0, None);
    for (n, _) in &inputs.items {
        sink.session.source(n.clone());
    }
    run(py, inputs, &core, progress, &mut sink)?;
    Ok(sink.into_report(sets.iter().map(keys::KeySet::entry).collect()))
}

/// Verify receipts as one explicit chain (chain_mixed applies): a list (or
/// any iterable) of receipts, each bytes, str or a dict; or a whole input
/// (a path, or bytes) framed as an export.
#[pyfunction]
pub(crate) fn verify_chain(
    py: Python<'_>,
    receipts: &Bound<'_, PyAny>,
    keys: &Bound<'_, PyAny>,
) -> PyResult<ChainReport> {
    let sets = keys::keysets(keys)?;
    let core = keys::core_sets(&sets);
    let whole = receipts.is_instance_of::<PyString>()
        || receipts.hasattr("__fspath__")?
        || convert::text_bytes(receipts)?.is_some();
    let report = if whole {
        let inputs = inputs(receipts, None)?;
        let names: Vec<String> = inputs.items.iter().map(|(n, _)| n.clone()).collect();
        let error = Arc::new(Mutex::new(None::<PyErr>));
        let records = py.detach(|| -> Result<Vec<Record>, (usize, io::Error)> {
            let mut records = Vec::new();
            for (i, (_, src)) in inputs.items.into_iter().enumerate() {
                let mut reader = open(src, &error).map_err(|e| (i, e))?;
                kvitto_report::read_records(
                    &mut *reader,
                    &|| false,
                    &mut |r| {
                        records.push(r);
                        true
                    },
                    &mut |_| {},
                )
                .map_err(|e| (i, e))?;
            }
            Ok(records)
        });
        let records = records.map_err(|(i, e)| {
            error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_else(|| PyOSError::new_err(format!("{}: {e}", names[i])))
        })?;
        py.detach(|| kvitto_core::verify_chain_records(&records, &core))
    } else {
        let mut texts = Vec::new();
        for item in receipts.try_iter()? {
            texts.push(convert::json_input(&item?)?.into_owned());
        }
        let slices: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        py.detach(|| kvitto_core::verify_chain(&slices, &core))
    };
    Ok(ChainReport {
        line: ChainLine::new(&report, &[]),
    })
}
