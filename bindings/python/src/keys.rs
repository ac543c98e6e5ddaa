//! Key documents: `KeySet` (a validated document with where it came from),
//! `Key`, and `fetch_keys` through kvitto-keys (HTTPS, pins, cache, offline).

use std::path::PathBuf;
use std::time::Duration;

use kvitto_core::Hash;
use kvitto_keys::{KeyLoader, Loaded, Options};
use kvitto_report::KeyEntry;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::convert;
use crate::errors::check;

/// A validated key document of one workspace, with its SHA-256 and source.
#[pyclass(frozen, module = "kvitto")]
#[derive(Debug, Clone)]
pub struct KeySet {
    pub(crate) inner: kvitto_core::KeySet,
    bytes: Vec<u8>,
    source: String,
    pinned: bool,
    cache_age_s: Option<u64>,
}

/// One Ed25519 key of a key document.
#[pyclass(frozen, module = "kvitto")]
#[derive(Debug, Clone)]
pub struct Key {
    inner: kvitto_core::Key,
}

fn parse_pin(pin: Option<&str>) -> PyResult<Option<Hash>> {
    pin.map(|p| {
        Hash::parse_pin(p).ok_or_else(|| {
            PyValueError::new_err(format!(
                "expected_sha256 {p:?} is not sha256: followed by 64 hex digits (or 64 bare hex digits)"
            ))
        })
    })
    .transpose()
}

impl Key {
    pub(crate) fn new(inner: kvitto_core::Key) -> Key {
        Key { inner }
    }
}

impl KeySet {
    fn from_loaded(l: Loaded) -> KeySet {
        KeySet {
            inner: l.keys,
            bytes: l.bytes,
            source: l.source,
            pinned: l.pinned,
            cache_age_s: l.cache_age.map(|a| a.as_secs()),
        }
    }

    /// What the report's summary says of this document (docs/cli.md).
    pub(crate) fn entry(&self) -> KeyEntry {
        KeyEntry {
            workspace_id: self.inner.workspace_id().to_owned(),
            sha256: self.inner.sha256().to_string(),
            source: self.source.clone(),
            pinned: self.pinned,
            cache_age_s: self.cache_age_s,
        }
    }
}

#[pymethods]
impl KeySet {
    /// Read a key document from its exact bytes (a str is UTF-8 encoded).
    /// `expected_sha256` pins it: `sha256:HEX` or bare hex, any case.
    /// `source` names it in reports.
    #[staticmethod]
    #[pyo3(signature = (data, expected_sha256 = None, *, source = "<json>"))]
    fn from_json(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        expected_sha256: Option<&str>,
        source: &str,
    ) -> PyResult<KeySet> {
        let pin = parse_pin(expected_sha256)?;
        let bytes = convert::text_bytes(data)?
            .ok_or_else(|| PyTypeError::new_err("data must be bytes or str"))?
            .into_owned();
        let inner = check(py, kvitto_core::KeySet::from_bytes(&bytes, pin.as_ref()))?;
        Ok(KeySet {
            inner,
            bytes,
            source: source.to_owned(),
            pinned: pin.is_some(),
            cache_age_s: None,
        })
    }

    /// Read a key document file (through kvitto-keys, as the CLI does);
    /// its source is the path as given.
    #[staticmethod]
    #[pyo3(signature = (path, expected_sha256 = None))]
    fn from_file(
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        expected_sha256: Option<&str>,
    ) -> PyResult<KeySet> {
        let path = fspath(path)?;
        let pin = parse_pin(expected_sha256)?;
        let loaded = py.detach(|| {
            KeyLoader::new(Options {
                pin,
                ..Options::default()
            })
            .and_then(|l| l.load(&path))
        });
        Ok(KeySet::from_loaded(check(py, loaded)?))
    }

    /// The document's workspace_id.
    #[getter]
    fn workspace_id(&self) -> &str {
        self.inner.workspace_id()
    }

    /// `sha256:` + hex of the document's exact bytes: its pin.
    #[getter]
    fn sha256(&self) -> String {
        self.inner.sha256().to_string()
    }

    /// The Ed25519 keys, in document order.
    #[getter]
    fn keys(&self) -> Vec<Key> {
        self.inner
            .keys()
            .iter()
            .map(|k| Key::new(k.clone()))
            .collect()
    }

    /// The path or URL it was read from (or the `source` given to from_json).
    #[getter]
    fn source(&self) -> &str {
        &self.source
    }

    /// Whether a pin was checked (and matched).
    #[getter]
    fn pinned(&self) -> bool {
        self.pinned
    }

    /// Age in seconds of the cached copy it was served from; None when read
    /// from a file or fetched now.
    #[getter]
    fn cache_age_s(&self) -> Option<u64> {
        self.cache_age_s
    }

    /// The document's exact bytes (what the pin covers).
    #[getter]
    fn document<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    fn __repr__(&self) -> String {
        format!(
            "KeySet(workspace_id={:?}, sha256={:?}, keys={}, source={:?}, pinned={})",
            self.inner.workspace_id(),
            self.inner.sha256().to_string(),
            self.inner.keys().len(),
            self.source,
            if self.pinned { "True" } else { "False" }
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<KeySet>()
            .is_ok_and(|o| o.get().bytes == self.bytes && o.get().source == self.source)
    }

    fn __hash__(&self) -> u64 {
        let h = self.inner.sha256().0;
        u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
    }

    /// Pickling (Dask ships key sets to workers): the exact bytes, read
    /// again on the other side, and where they came from.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.get();
        let restore = py.get_type::<KeySet>().getattr("_restore")?;
        let args = (
            PyBytes::new(py, &me.bytes),
            me.source.clone(),
            me.pinned,
            me.cache_age_s,
        );
        PyTuple::new(py, [restore, args.into_pyobject(py)?.into_any()])
    }

    #[staticmethod]
    fn _restore(
        py: Python<'_>,
        data: &[u8],
        source: String,
        pinned: bool,
        cache_age_s: Option<u64>,
    ) -> PyResult<KeySet> {
        let inner = check(py, kvitto_core::KeySet::from_bytes(data, None))?;
        Ok(KeySet {
            inner,
            bytes: data.to_vec(),
            source,
            pinned,
            cache_age_s,
        })
    }
}

#[pymethods]
impl Key {
    #[getter]
    fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// `active`, `retired` or `revoked`.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status.as_str()
    }

    /// Start of the key's window, an aware UTC datetime (microseconds).
    #[getter]
    fn not_before<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::instant_to_py(py, self.inner.not_before)
    }

    /// End of the key's window (exclusive), or None when open.
    #[getter]
    fn not_after<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .not_after
            .map(|t| convert::instant_to_py(py, t))
            .transpose()
    }

    /// The public key as written in the document (base64url, 43 characters).
    #[getter]
    fn x(&self) -> &str {
        &self.inner.x
    }

    fn __repr__(&self) -> String {
        format!(
            "Key(kid={:?}, status={:?}, not_before={:?}, not_after={})",
            self.inner.kid,
            self.inner.status.as_str(),
            self.inner.not_before.to_string(),
            self.inner
                .not_after
                .map_or("None".to_owned(), |t| format!("{:?}", t.to_string()))
        )
    }
}

/// `os.fspath(path)` as a String.
pub(crate) fn fspath(path: &Bound<'_, PyAny>) -> PyResult<String> {
    let os = path.py().import("os")?;
    let p = os.call_method1("fspath", (path,))?;
    match p.cast::<PyString>() {
        Ok(s) => Ok(s.to_cow()?.into_owned()),
        Err(_) => {
            let s = os.call_method1("fsdecode", (p,))?;
            Ok(s.cast::<PyString>()?.to_cow()?.into_owned())
        }
    }
}

/// Fetch (or read from the cache) the key document at `url` through
/// kvitto-keys. The GIL is released while fetching.
#[pyfunction]
#[pyo3(signature = (url, expected_sha256 = None, timeout = 10.0, cache_ttl = 300.0, allow_insecure_localhost = false, offline = false, *, ca_certs = None, cache_dir = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn fetch_keys(
    py: Python<'_>,
    url: &Bound<'_, PyAny>,
    expected_sha256: Option<&str>,
    timeout: f64,
    cache_ttl: f64,
    allow_insecure_localhost: bool,
    offline: bool,
    ca_certs: Option<&Bound<'_, PyAny>>,
    cache_dir: Option<&Bound<'_, PyAny>>,
) -> PyResult<KeySet> {
    let url = fspath(url)?;
    let pin = parse_pin(expected_sha256)?;
    let seconds = |name: &str, v: f64| -> PyResult<Duration> {
        Duration::try_from_secs_f64(v)
            .map_err(|_| PyValueError::new_err(format!("{name} must be a number of seconds >= 0")))
    };
    let timeout = seconds("timeout", timeout)?;
    if timeout.is_zero() {
        return Err(PyValueError::new_err("timeout must be more than 0 seconds"));
    }
    let cache_ttl = seconds("cache_ttl", cache_ttl)?;
    let mut cas = Vec::new();
    if let Some(list) = ca_certs {
        if list.is_instance_of::<PyString>() || list.hasattr("__fspath__")? {
            cas.push(PathBuf::from(fspath(list)?));
        } else {
            for item in list.try_iter()? {
                cas.push(PathBuf::from(fspath(&item?)?));
            }
        }
    }
    let cache_dir = cache_dir.map(fspath).transpose()?.map(PathBuf::from);
    let options = Options {
        pin,
        allow_insecure_localhost,
        ca_certs: cas,
        cache_dir,
        cache_ttl,
        offline,
        connect_timeout: timeout,
        timeout,
    };
    let loaded = py.detach(|| KeyLoader::new(options).and_then(|l| l.load(&url)));
    Ok(KeySet::from_loaded(check(py, loaded)?))
}

/// `keys`: a KeySet or a list (or tuple) of them, one per workspace.
pub(crate) fn keysets(keys: &Bound<'_, PyAny>) -> PyResult<Vec<KeySet>> {
    let mut out: Vec<KeySet> = Vec::new();
    if let Ok(k) = keys.cast::<KeySet>() {
        out.push(k.get().clone());
    } else if keys.is_instance_of::<PyList>() || keys.is_instance_of::<PyTuple>() {
        for item in keys.try_iter()? {
            let item = item?;
            let k = item
                .cast::<KeySet>()
                .map_err(|_| PyTypeError::new_err("keys must be a KeySet or a list of KeySet"))?;
            out.push(k.get().clone());
        }
    } else {
        return Err(PyTypeError::new_err(
            "keys must be a KeySet or a list of KeySet (one per workspace)",
        ));
    }
    if out.is_empty() {
        return Err(PyValueError::new_err("keys: give at least one KeySet"));
    }
    for (i, k) in out.iter().enumerate() {
        if let Some(first) = out[..i]
            .iter()
            .find(|f| f.inner.workspace_id() == k.inner.workspace_id())
        {
            return Err(PyValueError::new_err(format!(
                "keys {:?} and {:?} are both for workspace {:?}: give one key document per workspace",
                first.source,
                k.source,
                k.inner.workspace_id()
            )));
        }
    }
    Ok(out)
}

/// The core's key sets, in order.
pub(crate) fn core_sets(sets: &[KeySet]) -> Vec<kvitto_core::KeySet> {
    sets.iter().map(|k| k.inner.clone()).collect()
}
