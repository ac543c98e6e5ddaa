//! Error mapping: kvitto-core's [`Error`] becomes `kvitto.VerificationError`,
//! a `ValueError` whose `.code` is [`Error::code`] and whose message is the
//! core's `Display`.

use kvitto_core::Error;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

create_exception!(
    kvitto,
    VerificationError,
    PyValueError,
    "A receipt, key document or chain failed verification. `.code` is the contract's stable error code (docs/format.md, section 10); the message is for people."
);

/// The Python exception for a core error.
pub(crate) fn verification_error(py: Python<'_>, e: &Error) -> PyErr {
    let err = VerificationError::new_err(e.to_string());
    // Setting an attribute on a fresh exception instance cannot fail in practice;
    // if it ever did, the error without `.code` is still raised.
    let _ = err.value(py).setattr("code", e.code());
    err
}

/// `Result<T, Error>` to `PyResult<T>`.
pub(crate) fn check<T>(py: Python<'_>, r: Result<T, Error>) -> PyResult<T> {
    r.map_err(|e| verification_error(py, &e))
}
