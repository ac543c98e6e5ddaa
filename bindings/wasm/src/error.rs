//! Errors as JavaScript sees them: `Error` objects whose `code` is the
//! core's `Error::code()` (the contract's stable code) and whose message is
//! the core's text for people.

use wasm_bindgen::JsValue;

/// What a call was refused for, before the core saw anything.
pub(crate) const INVALID_ARGUMENT: &str = "invalid_argument";

fn with_code(err: js_sys::Error, code: &str) -> JsValue {
    err.set_name("KvittoError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    err.into()
}

/// The core's error as a thrown `Error` with `.code`.
pub(crate) fn js_error(e: &kvitto_core::Error) -> JsValue {
    with_code(js_sys::Error::new(&e.to_string()), e.code())
}

/// A `TypeError` with `.code = "invalid_argument"`: a misuse of the API (a
/// malformed pin, two key documents for one workspace).
pub(crate) fn invalid_argument(message: &str) -> JsValue {
    let err: js_sys::Error = js_sys::TypeError::new(message).into();
    with_code(err, INVALID_ARGUMENT)
}
