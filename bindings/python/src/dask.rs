//! The native half of `kvitto.dask`: verify one partition (one input) on a
//! worker, bucketing what its chains need by the lenient authorization_id
//! kvitto-core reads; check one bucket's chains whole on a worker with
//! kvitto-report's `Session` (kvitto-core's `ChainSet`); merge partial
//! reports into one. Dask does the scheduling and the shuffle.
//!
//! What crosses the shuffle for each receipt with an authorization_id: its
//! position, its place (line, index) and enough to rebuild its `Outcome`
//! exactly — a valid receipt's `Verdict` (header and hash), an invalid
//! receipt's own text (judged again by kvitto-core on the chain's worker,
//! which gives the same verdict: the bytes and key sets are the same), or
//! for a receipt over 1 MiB the `Body::TooLarge` it was framed as.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash as _, Hasher};

use kvitto_core::export::LenientIds;
use kvitto_core::receipt::Header;
use kvitto_core::{Body, Hash, Instant, KeySet, Kind, Outcome, Record, Verdict, judge};
use kvitto_report::{ChainCounts, ChainLine, SCHEMA, Session, SummaryLine};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use serde::{Deserialize, Serialize};

use crate::export::{self, Keep, Sink};
use crate::keys;
use crate::report::Report;
use crate::store::{Reader, Store, put_bytes};
use kvitto_report::Item;

const NO_INDEX: u64 = u64::MAX;

/// Rows for the shuffle, one byte buffer per bucket.
#[derive(Debug)]
pub(crate) struct Shuffle {
    buckets: Vec<Vec<u8>>,
}

fn bucket_of(authorization_id: &str, n: usize) -> usize {
    // SipHash with fixed keys: the same bucket in every worker process.
    let mut h = DefaultHasher::new();
    authorization_id.hash(&mut h);
    (h.finish() % n as u64) as usize
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

impl Shuffle {
    pub(crate) fn new(part: u32, buckets: usize) -> Shuffle {
        Shuffle {
            buckets: (0..buckets.max(1))
                .map(|_| part.to_le_bytes().to_vec())
                .collect(),
        }
    }

    /// Record `item` (the partition's `k`th record) for its chain's bucket.
    pub(crate) fn add(&mut self, k: u64, item: &Item, outcome: &Outcome) {
        let Some(auth) = outcome.authorization_id() else {
            return; // ungrouped: counted by the partition
        };
        let n = self.buckets.len();
        let out = &mut self.buckets[bucket_of(auth, n)];
        let head = |out: &mut Vec<u8>, tag: u8| {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&item.record.line.to_le_bytes());
            out.extend_from_slice(&item.record.index.unwrap_or(NO_INDEX).to_le_bytes());
            out.push(tag);
        };
        match (outcome, &item.record.body) {
            (Outcome::Valid(v), _) => {
                head(out, 0);
                let h = &v.header;
                put_str(out, h.kind.as_str());
                put_str(out, &h.receipt_id);
                put_str(out, &h.workspace_id);
                put_str(out, &h.authorization_id);
                put_str(out, &h.kid);
                out.extend_from_slice(&h.seq.to_le_bytes());
                match h.prev {
                    Some(p) => {
                        out.push(1);
                        out.extend_from_slice(&p.0);
                    }
                    None => out.push(0),
                }
                out.extend_from_slice(&h.issued_at.unix_seconds().to_le_bytes());
                out.extend_from_slice(&h.issued_at.subsec_nanos().to_le_bytes());
                out.extend_from_slice(&v.receipt_hash.0);
            }
            (Outcome::Invalid { .. }, Body::Text(text)) => {
                head(out, 1);
                put_bytes(out, text);
            }
            (Outcome::Invalid { .. }, Body::TooLarge { size, ids }) => {
                head(out, 2);
                out.extend_from_slice(&size.to_le_bytes());
                put_opt(out, ids.authorization_id.as_deref());
                put_opt(out, ids.receipt_id.as_deref());
            }
            // Unframed input has no authorization_id, so it never gets here.
            (Outcome::Invalid { .. }, Body::Unframed { .. }) => {}
        }
    }

    fn into_buckets(self) -> Vec<Vec<u8>> {
        self.buckets
    }
}

/// One row read back: (partition, k), place, and the outcome rebuilt.
struct Row {
    part: u32,
    k: u64,
    line: u64,
    index: Option<u64>,
    outcome: Outcome,
}

fn read_opt(r: &mut Reader<'_>) -> Option<Option<String>> {
    match r.take(1)?[0] {
        0 => Some(None),
        _ => Some(Some(r.str()?.to_owned())),
    }
}

fn read_rows(blob: &[u8], keysets: &[KeySet], rows: &mut Vec<Row>) -> Option<()> {
    let mut r = Reader::new(blob);
    let part = r.u32()?;
    while r.remaining() > 0 {
        let k = r.u64()?;
        let line = r.u64()?;
        let index = r.u64()?;
        let index = (index != NO_INDEX).then_some(index);
        let outcome = match r.take(1)?[0] {
            0 => {
                let kind = Kind::parse(r.str()?)?;
                let receipt_id = r.str()?.to_owned();
                let workspace_id = r.str()?.to_owned();
                let authorization_id = r.str()?.to_owned();
                let kid = r.str()?.to_owned();
                let seq = r.u64()?;
                let prev = match r.take(1)?[0] {
                    0 => None,
                    _ => Some(Hash(r.take(32)?.try_into().ok()?)),
                };
                let secs = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
                let nanos = r.u32()?;
                let issued_at = Instant::from_unix(secs, nanos)?;
                let receipt_hash = Hash(r.take(32)?.try_into().ok()?);
                Outcome::Valid(Verdict {
                    header: Header {
                        kind,
                        receipt_id,
                        workspace_id,
                        authorization_id,
                        seq,
                        prev,
                        issued_at,
                        kid,
                    },
                    receipt_hash,
                })
            }
            1 => judge(&Body::Text(r.bytes()?.to_vec()), keysets),
            2 => {
                let size = r.u64()?;
                let authorization_id = read_opt(&mut r)?;
                let receipt_id = read_opt(&mut r)?;
                judge(
                    &Body::TooLarge {
                        size,
                        ids: LenientIds {
                            authorization_id,
                            receipt_id,
                        },
                    },
                    keysets,
                )
            }
            _ => return None,
        };
        rows.push(Row {
            part,
            k,
            line,
            index,
            outcome,
        });
    }
    Some(())
}

/// What one bucket's chains come to.
#[derive(Debug, Serialize, Deserialize)]
struct ChainPart {
    /// Each chain with the position (partition, k) of its first receipt.
    chains: Vec<(u32, u64, ChainLine)>,
    counts: ChainCounts,
}

/// Every input a list of paths names, expanded as the CLI expands them
/// (directories walked for export files, sorted): one partition each.
#[pyfunction]
pub(crate) fn expand_paths(paths: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let mut args = Vec::new();
    if paths.is_instance_of::<PyString>() || paths.hasattr("__fspath__")? {
        args.push(keys::fspath(paths)?);
    } else {
        for p in paths.try_iter()? {
            args.push(keys::fspath(&p?)?);
        }
    }
    let mut out = Vec::new();
    for arg in &args {
        export::path_inputs(arg)?;
        for input in kvitto_report::expand(std::slice::from_ref(arg)) {
            if let Some(e) = input.error {
                return Err(PyOSError::new_err(format!("{}: {e}", input.name)));
            }
            out.push(input.name);
        }
    }
    Ok(out)
}

/// Verify partition `part` (one input: a file path, or an iterable of
/// lines named `name`) on a worker. Returns its partial report and, with
/// `chains`, one byte buffer per bucket for the shuffle.
#[pyfunction]
#[pyo3(signature = (source, keys, part, buckets, chains = true, keep = "all", name = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_partition<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    keys: &Bound<'py, PyAny>,
    part: u32,
    buckets: usize,
    chains: bool,
    keep: &str,
    name: Option<&str>,
) -> PyResult<(Report, Vec<Bound<'py, PyBytes>>)> {
    let sets = keys::keysets(keys)?;
    let core = keys::core_sets(&sets);
    let keep = Keep::parse(keep)?;
    let inputs = export::inputs(source, name)?;
    if inputs.items.len() != 1 {
        return Err(PyValueError::new_err(
            "a partition is one input: expand directories with expand_paths first",
        ));
    }
    let shuffle = chains.then(|| Shuffle::new(part, buckets));
    let mut sink = Sink::new(false, keep, part, shuffle);
    sink.session.source(inputs.items[0].0.clone());
    export::run(py, inputs, &core, None, &mut sink)?;
    let ungrouped = sink.ungrouped;
    let (store, session, shuffle) = sink.into_parts();
    let mut summary = session.summary(true, Vec::new());
    if chains {
        summary.chains.ungrouped = ungrouped;
    }
    let mut sources = vec![String::new(); part as usize];
    sources.extend(session.sources().iter().cloned());
    let report = Report {
        store,
        sources,
        chains: Vec::new(),
        summary,
    };
    let blobs = shuffle
        .map(Shuffle::into_buckets)
        .unwrap_or_default()
        .iter()
        .map(|b| PyBytes::new(py, b))
        .collect();
    Ok((report, blobs))
}

/// Check the chains of one bucket whole: its rows from every partition in
/// input order into one `Session`. `sources` names every partition's input
/// (for messages that name a receipt as SOURCE:LINE). Returns a byte form
/// for `merge_reports`.
#[pyfunction]
pub(crate) fn judge_chains<'py>(
    py: Python<'py>,
    blobs: Vec<Vec<u8>>,
    keys: &Bound<'py, PyAny>,
    sources: Vec<String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let sets = keys::keysets(keys)?;
    let core = keys::core_sets(&sets);
    let json = py.detach(|| -> Result<Vec<u8>, String> {
        let mut rows = Vec::new();
        for blob in &blobs {
            read_rows(blob, &core, &mut rows).ok_or("a shuffle buffer is damaged")?;
        }
        rows.sort_by_key(|r| (r.part, r.k));
        let mut session = Session::new(true);
        for s in &sources {
            session.source(s.clone());
        }
        let mut first: HashMap<String, (u32, u64)> = HashMap::new();
        for row in &rows {
            if let Some(id) = row.outcome.authorization_id() {
                first.entry(id.to_owned()).or_insert((row.part, row.k));
            }
            let record = Record {
                line: row.line,
                index: row.index,
                offset: 0,
                body: Body::Text(Vec::new()),
            };
            session.count(row.part as usize, &record, &row.outcome);
        }
        let lines = session.finish_chains();
        let counts = session.summary(true, Vec::new()).chains;
        let chains = lines
            .into_iter()
            .map(|l| {
                let (p, k) = first
                    .get(&l.authorization_id)
                    .copied()
                    .unwrap_or((u32::MAX, 0));
                (p, k, l)
            })
            .collect();
        serde_json::to_vec(&ChainPart { chains, counts }).map_err(|e| e.to_string())
    });
    let json = json.map_err(PyValueError::new_err)?;
    Ok(PyBytes::new(py, &json))
}

/// One report from the partitions' reports (in partition order) and the
/// buckets' chains: receipts in input order, chains in order of first
/// appearance, counts summed.
#[pyfunction]
pub(crate) fn merge_reports(
    reports: Vec<Bound<'_, Report>>,
    chain_parts: Vec<Vec<u8>>,
    keys: &Bound<'_, PyAny>,
    chains: bool,
) -> PyResult<Report> {
    let sets = keys::keysets(keys)?;
    let mut store = Store::default();
    let mut sources = Vec::new();
    let mut summary = SummaryLine {
        schema: SCHEMA,
        receipts: 0,
        valid: 0,
        invalid: 0,
        chains: ChainCounts::default(),
        complete: true,
        keys: sets.iter().map(keys::KeySet::entry).collect(),
    };
    for (i, r) in reports.iter().enumerate() {
        let r = r.get();
        if r.sources.len() != i + 1 {
            return Err(PyValueError::new_err(
                "merge_reports: give the partitions' reports in partition order",
            ));
        }
        sources.push(r.sources[i].clone());
        store.append(&r.store);
        summary.receipts += r.summary.receipts;
        summary.valid += r.summary.valid;
        summary.invalid += r.summary.invalid;
        summary.complete &= r.summary.complete;
        summary.chains.ungrouped += r.summary.chains.ungrouped;
    }
    let mut lines = Vec::new();
    if chains {
        for part in &chain_parts {
            let part: ChainPart = serde_json::from_slice(part)
                .map_err(|e| PyValueError::new_err(format!("a chain result is damaged: {e}")))?;
            let c = &mut summary.chains;
            c.total += part.counts.total;
            c.intact += part.counts.intact;
            c.broken += part.counts.broken;
            c.closed += part.counts.closed;
            c.open += part.counts.open;
            lines.extend(part.chains);
        }
        lines.sort_by_key(|(p, k, _)| (*p, *k));
    } else {
        summary.chains = ChainCounts::default();
    }
    store.shrink();
    Ok(Report {
        store,
        sources,
        chains: lines.into_iter().map(|(_, _, l)| l).collect(),
        summary,
    })
}
