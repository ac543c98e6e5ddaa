//! What `verify_export` and `verify_chain` return: `Report` (receipt lines
//! held compactly, chain lines, the summary), `ReceiptResult` and
//! `ChainReport`. Every field is one of kvitto-report's serde types
//! (`ReceiptLine`, `ChainLine`, `SummaryLine`): `to_dict()` serializes them
//! with pythonize, so it is exactly the CLI's `--format json` lines.

use kvitto_report::{ChainLine, Line, ReceiptLine, SummaryLine};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use crate::store::{Reader, Store, put_bytes};

fn to_py<'py, T: Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, value).map_err(PyErr::from)
}

/// The verdicts of one run: per-receipt results in input order, chains in
/// order of first appearance, and the summary.
#[pyclass(frozen, module = "kvitto")]
#[derive(Debug)]
pub struct Report {
    pub(crate) store: Store,
    pub(crate) sources: Vec<String>,
    pub(crate) chains: Vec<ChainLine>,
    pub(crate) summary: SummaryLine,
}

/// The receipt lines of a report, serialized one by one from the store.
struct Receipts<'a>(&'a Report);

impl Serialize for Receipts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut seq = s.serialize_seq(Some(r.store.len()))?;
        for i in 0..r.store.len() {
            if let Some(line) = r.store.get(i, &r.sources) {
                seq.serialize_element(&Line::Receipt(line))?;
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct Whole<'a> {
    receipts: Receipts<'a>,
    chains: Vec<Line>,
    summary: Line,
}

impl Report {
    fn line(&self, i: usize) -> Option<ReceiptLine> {
        self.store.get(i, &self.sources)
    }

    fn chain_reports(&self) -> Vec<ChainReport> {
        self.chains
            .iter()
            .map(|c| ChainReport { line: c.clone() })
            .collect()
    }

    pub(crate) fn to_bytes(&self) -> PyResult<Vec<u8>> {
        let mut out = b"kvitto-report 1\n".to_vec();
        self.store.to_bytes(&mut out);
        put_bytes(&mut out, &json(&self.sources)?);
        put_bytes(&mut out, &json(&self.chains)?);
        put_bytes(&mut out, &json(&self.summary)?);
        Ok(out)
    }

    pub(crate) fn from_bytes(data: &[u8]) -> PyResult<Report> {
        let bad = || PyValueError::new_err("not a pickled kvitto Report");
        let mut r = Reader::new(data);
        if r.take(16) != Some(b"kvitto-report 1\n".as_slice()) {
            return Err(bad());
        }
        let store = Store::from_bytes(&mut r).ok_or_else(bad)?;
        let sources = serde_json::from_slice(r.bytes().ok_or_else(bad)?).map_err(|_| bad())?;
        let chains = serde_json::from_slice(r.bytes().ok_or_else(bad)?).map_err(|_| bad())?;
        let summary = serde_json::from_slice(r.bytes().ok_or_else(bad)?).map_err(|_| bad())?;
        Ok(Report {
            store,
            sources,
            chains,
            summary,
        })
    }
}

fn json<T: Serialize>(v: &T) -> PyResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| PyValueError::new_err(e.to_string()))
}

#[pymethods]
impl Report {
    /// At least one receipt, every receipt valid, every chain intact (with
    /// chains), and everything read.
    #[getter]
    fn ok(&self) -> bool {
        self.summary.is_ok()
    }

    /// Receipts that verified.
    #[getter]
    fn valid(&self) -> u64 {
        self.summary.valid
    }

    /// Receipts that did not.
    #[getter]
    fn invalid(&self) -> u64 {
        self.summary.invalid
    }

    /// Everything was read (always true for a Report that was returned).
    #[getter]
    fn complete(&self) -> bool {
        self.summary.complete
    }

    /// Every chain, in order of first appearance (empty without chains).
    #[getter]
    fn chains(&self) -> Vec<ChainReport> {
        self.chain_reports()
    }

    /// The inputs read, in order, as named in each result's `source`.
    #[getter]
    fn sources(&self) -> Vec<String> {
        self.sources.clone()
    }

    /// The summary line, as the CLI's `--format json` writes it (with `type`).
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &Line::Summary(self.summary.clone()))
    }

    /// The invalid receipts' results, in input order.
    fn failures(&self) -> Vec<ReceiptResult> {
        (0..self.store.len())
            .filter_map(|i| self.line(i))
            .filter(|l| !l.ok)
            .map(|line| ReceiptResult { line })
            .collect()
    }

    /// `{"receipts": [...], "chains": [...], "summary": {...}}`: each element
    /// exactly a line of `kvitto verify --chains --format json` (its `type`
    /// member included), built from kvitto-report's serde types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let whole = Whole {
            receipts: Receipts(self),
            chains: self.chains.iter().cloned().map(Line::Chain).collect(),
            summary: Line::Summary(self.summary.clone()),
        };
        to_py(py, &whole)
    }

    /// Bytes the per-receipt results occupy natively.
    #[getter]
    fn _native_bytes(&self) -> usize {
        self.store.heap_bytes()
    }

    fn __len__(&self) -> usize {
        self.store.len()
    }

    fn __getitem__(&self, i: isize) -> PyResult<ReceiptResult> {
        let n = self.store.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if !(0..n).contains(&j) {
            return Err(PyIndexError::new_err("report index out of range"));
        }
        self.line(j as usize)
            .map(|line| ReceiptResult { line })
            .ok_or_else(|| PyIndexError::new_err("report index out of range"))
    }

    fn __iter__(slf: Bound<'_, Self>) -> ReportIter {
        ReportIter {
            report: slf.unbind(),
            next: 0,
        }
    }

    fn __repr__(&self) -> String {
        let s = &self.summary;
        format!(
            "<kvitto.Report ok={} receipts={} valid={} invalid={} chains={} broken={}>",
            if s.is_ok() { "True" } else { "False" },
            s.receipts,
            s.valid,
            s.invalid,
            s.chains.total,
            s.chains.broken
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let restore = py.get_type::<Report>().getattr("_from_bytes")?;
        let data = PyBytes::new(py, &slf.get().to_bytes()?);
        PyTuple::new(py, [restore, PyTuple::new(py, [data])?.into_any()])
    }

    #[staticmethod]
    #[pyo3(name = "_from_bytes")]
    fn py_from_bytes(data: &[u8]) -> PyResult<Report> {
        Report::from_bytes(data)
    }
}

/// Iterates a report's per-receipt results.
#[pyclass(module = "kvitto")]
#[derive(Debug)]
pub struct ReportIter {
    report: Py<Report>,
    next: usize,
}

#[pymethods]
impl ReportIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> Option<ReceiptResult> {
        let line = self.report.bind(py).get().line(self.next)?;
        self.next += 1;
        Some(ReceiptResult { line })
    }
}

/// The verdict on one receipt of an export (a `receipt` line of the CLI).
#[pyclass(frozen, module = "kvitto")]
#[derive(Debug, Clone)]
pub struct ReceiptResult {
    line: ReceiptLine,
}

#[pymethods]
impl ReceiptResult {
    #[getter]
    fn ok(&self) -> bool {
        self.line.ok
    }
    /// The contract's error code when not ok.
    #[getter]
    fn code(&self) -> Option<&str> {
        self.line.code.as_deref()
    }
    /// The error for people when not ok (compare `code`, not this).
    #[getter]
    fn message(&self) -> Option<&str> {
        self.line.message.as_deref()
    }
    /// payload.receipt_id (read leniently for an invalid receipt).
    #[getter]
    fn receipt_id(&self) -> Option<&str> {
        self.line.receipt_id.as_deref()
    }
    /// payload.authorization_id (read leniently for an invalid receipt).
    #[getter]
    fn authorization_id(&self) -> Option<&str> {
        self.line.authorization_id.as_deref()
    }
    /// `sha256:…` of JCS(payload) when ok.
    #[getter]
    fn receipt_hash(&self) -> Option<&str> {
        self.line.receipt_hash.as_deref()
    }
    /// The input: a path as given or found, `<bytes>` or `<lines>` (or the name given).
    #[getter]
    fn source(&self) -> &str {
        &self.line.source
    }
    /// 1-based line on which the receipt starts.
    #[getter]
    fn line(&self) -> u64 {
        self.line.line
    }
    /// Its position in an array input, else None.
    #[getter]
    fn index(&self) -> Option<u64> {
        self.line.index
    }
    /// Exactly the CLI's `receipt` line (with `type`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &Line::Receipt(self.line.clone()))
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<ReceiptResult>()
            .is_ok_and(|o| o.get().line == self.line)
    }
    fn __repr__(&self) -> String {
        let l = &self.line;
        format!(
            "ReceiptResult(source={:?}, line={}, index={}, ok={}, code={}, receipt_id={})",
            l.source,
            l.line,
            l.index.map_or("None".into(), |i| i.to_string()),
            if l.ok { "True" } else { "False" },
            l.code.as_ref().map_or("None".into(), |c| format!("{c:?}")),
            l.receipt_id
                .as_ref()
                .map_or("None".into(), |c| format!("{c:?}")),
        )
    }
}

/// The verdict on one authorization's chain (a `chain` line of the CLI).
#[pyclass(frozen, module = "kvitto")]
#[derive(Debug, Clone)]
pub struct ChainReport {
    pub(crate) line: ChainLine,
}

#[pymethods]
impl ChainReport {
    #[getter]
    fn authorization_id(&self) -> &str {
        &self.line.authorization_id
    }
    /// Every chain rule holds.
    #[getter]
    fn ok(&self) -> bool {
        self.line.ok
    }
    /// The first failing rule's code.
    #[getter]
    fn code(&self) -> Option<&str> {
        self.line.code.as_deref()
    }
    /// `closed`, `open: truncation not checked`, or the failure.
    #[getter]
    fn message(&self) -> &str {
        &self.line.message
    }
    /// Intact and ended by authorization.revoked: provably complete.
    #[getter]
    fn closed(&self) -> bool {
        self.line.closed
    }
    /// The last seq among the receipts that verified.
    #[getter]
    fn head_seq(&self) -> Option<u64> {
        self.line.head_seq
    }
    /// Its receipt hash.
    #[getter]
    fn head_hash(&self) -> Option<&str> {
        self.line.head_hash.as_deref()
    }
    /// Receipts of the chain, duplicates included.
    #[getter]
    fn receipts(&self) -> u64 {
        self.line.receipts
    }
    /// Exact duplicates (reported, not an error).
    #[getter]
    fn duplicates(&self) -> u64 {
        self.line.duplicates
    }
    /// Exactly the CLI's `chain` line (with `type`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &Line::Chain(self.line.clone()))
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<ChainReport>()
            .is_ok_and(|o| o.get().line == self.line)
    }
    fn __repr__(&self) -> String {
        let l = &self.line;
        format!(
            "ChainReport(authorization_id={:?}, ok={}, code={}, closed={}, head_seq={}, receipts={})",
            l.authorization_id,
            if l.ok { "True" } else { "False" },
            l.code.as_ref().map_or("None".into(), |c| format!("{c:?}")),
            if l.closed { "True" } else { "False" },
            l.head_seq.map_or("None".into(), |s| s.to_string()),
            l.receipts
        )
    }
}
