//! Conversions between Python values and what kvitto-core takes and gives:
//! input bytes (bytes and str as they are, other objects through
//! `json.dumps`), parsed JSON values, instants as aware datetimes.

use std::borrow::Cow;

use kvitto_core::{Instant, Value};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString};

/// The UTF-8 bytes of a Python str. A str holding a lone surrogate (which
/// UTF-8 cannot encode) is encoded with `surrogatepass`, so the core sees
/// invalid UTF-8 and rejects it (malformed_json) instead of the binding
/// repairing it.
pub(crate) fn str_bytes(s: &Bound<'_, PyString>) -> PyResult<Vec<u8>> {
    match s.encode_utf8() {
        Ok(b) => Ok(b.as_bytes().to_vec()),
        Err(_) => {
            let b = s.call_method1("encode", ("utf-8", "surrogatepass"))?;
            Ok(b.cast::<PyBytes>()?.as_bytes().to_vec())
        }
    }
}

fn json_dumps_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    DUMPS.import(py, "json", "dumps")
}

/// A JSON-serializable Python object (a dict, say) as JSON text:
/// `json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=True)`,
/// UTF-8 encoded. NaN and Infinity are written as the tokens `NaN` and
/// `Infinity`, which the core rejects as malformed_json; a string with a
/// lone surrogate is written with `ensure_ascii=True`, as a `\udXXX` escape,
/// which the core rejects as invalid_string. This cannot see duplicate
/// member names: a dict has none left to see.
pub(crate) fn json_dumps(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = obj.py();
    let dumps = json_dumps_fn(py)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("ensure_ascii", false)?;
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("allow_nan", true)?;
    let text = dumps.call((obj,), Some(&kwargs))?;
    let text = text.cast::<PyString>()?;
    if let Ok(b) = text.encode_utf8() {
        return Ok(b.as_bytes().to_vec());
    }
    kwargs.set_item("ensure_ascii", true)?;
    let text = dumps.call((obj,), Some(&kwargs))?;
    str_bytes(text.cast::<PyString>()?)
}

/// The bytes of one JSON text given as bytes, bytearray, memoryview or str;
/// `None` for any other object.
pub(crate) fn text_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Option<Cow<'a, [u8]>>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Some(Cow::Borrowed(b.as_bytes())));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Some(Cow::Owned(str_bytes(s)?)));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Some(Cow::Owned(b.to_vec())));
    }
    if obj.cast::<PyMemoryView>().is_ok() {
        let b = obj.call_method0("tobytes")?;
        return Ok(Some(Cow::Owned(b.cast::<PyBytes>()?.as_bytes().to_vec())));
    }
    Ok(None)
}

/// One receipt (or JSON value) as bytes: bytes-like and str as they are;
/// anything else through [`json_dumps`].
pub(crate) fn json_input<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    match text_bytes(obj)? {
        Some(b) => Ok(b),
        None => json_dumps(obj).map(Cow::Owned).map_err(|e| {
            if e.is_instance_of::<PyTypeError>(obj.py()) {
                PyTypeError::new_err(format!(
                    "expected bytes, str or a JSON-serializable object (a dict): {e}"
                ))
            } else {
                e
            }
        }),
    }
}

/// A parsed JSON value as Python objects: objects as dicts (members in
/// input order), integers (integral numbers within ±(2^53 − 1)) as int,
/// other numbers as float.
pub(crate) fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match v.as_integer() {
            Some(i) => i.into_pyobject(py)?.into_any(),
            None => n.into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(members) => {
            let dict = PyDict::new(py);
            for (k, item) in members {
                dict.set_item(k, value_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// An instant as an aware UTC `datetime`: 1970-01-01T00:00:00Z plus its
/// seconds and microseconds (Python's datetime holds no nanoseconds: the
/// fraction is cut to microseconds; the exact text stays in the payload).
pub(crate) fn instant_to_py<'py>(py: Python<'py>, t: Instant) -> PyResult<Bound<'py, PyAny>> {
    static EPOCH: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();
    let (epoch, timedelta) = EPOCH.get_or_try_init(py, || -> PyResult<_> {
        let dt = py.import("datetime")?;
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("tzinfo", utc)?;
        let epoch = dt.getattr("datetime")?.call((1970, 1, 1), Some(&kwargs))?;
        Ok((epoch.unbind(), dt.getattr("timedelta")?.unbind()))
    })?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("seconds", t.unix_seconds())?;
    kwargs.set_item("microseconds", t.subsec_nanos() / 1000)?;
    let delta = timedelta.bind(py).call((), Some(&kwargs))?;
    epoch.bind(py).call_method1("__add__", (delta,))
}
