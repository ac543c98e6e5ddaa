//! kvitto's Python extension, the private native module `kvitto._kvitto`
//! (re-exported by `kvitto/__init__.py`). It holds no verification logic:
//! it converts Python values to bytes and back, maps kvitto-core's errors
//! to `kvitto.VerificationError`, and drives kvitto-core's framer, verdicts
//! and chains through kvitto-report exactly as the CLI does. Every report
//! field comes from kvitto-report's serde types.

mod convert;
mod dask;
mod errors;
mod export;
mod keys;
mod receipt;
mod report;
mod store;

use pyo3::prelude::*;

#[pymodule]
fn _kvitto(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "VerificationError",
        py.get_type::<errors::VerificationError>(),
    )?;
    m.add("CODES", kvitto_core::Error::CODES.to_vec())?;
    m.add("SCHEMA", kvitto_report::SCHEMA)?;
    m.add_class::<keys::KeySet>()?;
    m.add_class::<keys::Key>()?;
    m.add_class::<receipt::VerifiedReceipt>()?;
    m.add_class::<report::Report>()?;
    m.add_class::<report::ReceiptResult>()?;
    m.add_class::<report::ChainReport>()?;
    m.add_class::<report::ReportIter>()?;
    m.add_function(wrap_pyfunction!(keys::fetch_keys, m)?)?;
    m.add_function(wrap_pyfunction!(receipt::verify_receipt, m)?)?;
    m.add_function(wrap_pyfunction!(receipt::canonicalize, m)?)?;
    m.add_function(wrap_pyfunction!(receipt::email_hmac, m)?)?;
    m.add_function(wrap_pyfunction!(export::verify_export, m)?)?;
    m.add_function(wrap_pyfunction!(export::verify_chain, m)?)?;
    m.add_function(wrap_pyfunction!(dask::expand_paths, m)?)?;
    m.add_function(wrap_pyfunction!(dask::verify_partition, m)?)?;
    m.add_function(wrap_pyfunction!(dask::judge_chains, m)?)?;
    m.add_function(wrap_pyfunction!(dask::merge_reports, m)?)?;
    Ok(())
}
