//! One receipt: `verify_receipt` and `VerifiedReceipt`; `canonicalize`;
//! `email_hmac` (kvitto-core's `pii::email_hmac`).

use kvitto_core::Verified;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::convert;
use crate::errors::check;
use crate::keys::{self, Key};

/// A receipt that passed every check (contract section 7).
#[pyclass(frozen, module = "kvitto")]
#[derive(Debug)]
pub struct VerifiedReceipt {
    payload: Py<PyAny>,
    issued_at: Py<PyAny>,
    verified: Verified,
    keys_sha256: String,
}

/// Verify one receipt (bytes or str: the full strict profile; a dict:
/// serialized with json.dumps first, so duplicate members cannot be seen)
/// against the key set of its workspace. The GIL is released while verifying.
#[pyfunction]
pub(crate) fn verify_receipt(
    py: Python<'_>,
    receipt: &Bound<'_, PyAny>,
    keys: &Bound<'_, PyAny>,
) -> PyResult<VerifiedReceipt> {
    let sets = keys::keysets(keys)?;
    let core = keys::core_sets(&sets);
    let bytes = convert::json_input(receipt)?;
    let bytes: &[u8] = &bytes;
    let verified = check(
        py,
        py.detach(|| kvitto_core::verify_receipt_in(bytes, &core)),
    )?;
    let keys_sha256 = sets
        .iter()
        .find(|k| k.inner.workspace_id() == verified.header.workspace_id)
        .map(|k| k.inner.sha256().to_string())
        .unwrap_or_default();
    Ok(VerifiedReceipt {
        payload: convert::value_to_py(py, &verified.payload)?.unbind(),
        issued_at: convert::instant_to_py(py, verified.header.issued_at)?.unbind(),
        verified,
        keys_sha256,
    })
}

#[pymethods]
impl VerifiedReceipt {
    /// The whole payload as parsed (a dict, members in input order).
    #[getter]
    fn payload(&self, py: Python<'_>) -> Py<PyAny> {
        self.payload.clone_ref(py)
    }

    /// `sha256:` + hex of SHA-256(JCS(payload)): what the next receipt's prev names.
    #[getter]
    fn receipt_hash(&self) -> String {
        self.verified.receipt_hash.to_string()
    }

    /// The kid of the key that signed it.
    #[getter]
    fn kid(&self) -> &str {
        &self.verified.header.kid
    }

    /// The key that signed it.
    #[getter]
    fn key(&self) -> Key {
        Key::new(self.verified.key.clone())
    }

    /// `sha256:` of the key document that vouched for it.
    #[getter]
    fn keys_sha256(&self) -> &str {
        &self.keys_sha256
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.verified.header.kind.as_str()
    }

    #[getter]
    fn seq(&self) -> u64 {
        self.verified.header.seq
    }

    /// The receipt hash of seq − 1, or None for seq 0.
    #[getter]
    fn prev(&self) -> Option<String> {
        self.verified.header.prev.map(|h| h.to_string())
    }

    #[getter]
    fn receipt_id(&self) -> &str {
        &self.verified.header.receipt_id
    }

    #[getter]
    fn authorization_id(&self) -> &str {
        &self.verified.header.authorization_id
    }

    #[getter]
    fn workspace_id(&self) -> &str {
        &self.verified.header.workspace_id
    }

    /// An aware UTC datetime (to the microsecond; the exact text is payload["issued_at"]).
    #[getter]
    fn issued_at(&self, py: Python<'_>) -> Py<PyAny> {
        self.issued_at.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        let h = &self.verified.header;
        format!(
            "VerifiedReceipt(kind={:?}, receipt_id={:?}, authorization_id={:?}, seq={}, kid={:?}, receipt_hash={:?})",
            h.kind.as_str(),
            h.receipt_id,
            h.authorization_id,
            h.seq,
            h.kid,
            self.verified.receipt_hash.to_string()
        )
    }
}

/// The RFC 8785 canonical bytes of any JSON value (the whole binary64
/// range; every other strict rule applies). bytes and str are parsed as
/// JSON text; any other object is serialized with json.dumps first.
#[pyfunction]
pub(crate) fn canonicalize<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = convert::json_input(value)?;
    let bytes: &[u8] = &bytes;
    let out = check(py, py.detach(|| kvitto_core::canonicalize(bytes)))?;
    Ok(PyBytes::new(py, &out))
}

/// `email_hmac:v1:` + hex HMAC-SHA256(pepper, trimmed lower-cased email),
/// computed by kvitto-core's `pii::email_hmac` (what kvitto-server uses).
/// A str pepper is UTF-8 encoded.
#[pyfunction]
pub(crate) fn email_hmac(email: &str, pepper: &Bound<'_, PyAny>) -> PyResult<String> {
    let pepper = if let Ok(b) = pepper.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if let Ok(s) = pepper.cast::<PyString>() {
        convert::str_bytes(s)?
    } else {
        return Err(PyTypeError::new_err("pepper must be bytes or str"));
    };
    Ok(kvitto_core::pii::email_hmac(&pepper, email))
}
