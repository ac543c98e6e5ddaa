//! The one error type of the core, with the contract's stable codes.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

/// Everything that can make a receipt, a key document or a chain fail.
///
/// [`Error::code`] returns the stable code of the contract (section 10); the
/// `Display` text is for people and may change between releases.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input is larger than the limit (1 MiB for a receipt or key document).
    TooLarge { size: usize, limit: usize },
    /// Not JSON: bad grammar, invalid UTF-8, a BOM, trailing data, NaN or Infinity.
    MalformedJson { offset: usize, reason: &'static str },
    /// An object repeats a member name (compared after unescaping).
    DuplicateKey { path: String, name: String },
    /// A string holds a lone surrogate escape.
    InvalidString { offset: usize },
    /// A number token longer than 128 characters, or a value beyond the allowed magnitude.
    NumberOutOfRange { offset: usize },
    /// More than 64 nested arrays and objects.
    TooDeep { offset: usize, limit: usize },
    /// The receipt's shape breaks the contract; `path` names the member.
    BadStructure { path: String, reason: String },
    /// `payload.v` is an integer other than 1.
    UnsupportedVersion { version: i64 },
    /// The receipt's workspace has no key document here.
    WorkspaceMismatch { receipt: String, keys: String },
    /// The key document of the receipt's workspace has no Ed25519 key with this kid.
    UnknownKid { kid: String, workspace_id: String },
    /// `sig` is not canonical unpadded base64url of 64 bytes.
    BadSignatureEncoding { reason: &'static str },
    /// The Ed25519 signature does not verify under strict rules.
    SignatureInvalid { kid: String },
    /// The signing key is revoked.
    KeyRevoked { kid: String },
    /// `issued_at` lies outside the key's window.
    KeyNotValidAt {
        kid: String,
        issued_at: String,
        not_before: String,
        not_after: Option<String>,
    },
    /// The key document is invalid; `reason` says why.
    KeysInvalid { reason: String },
    /// The key document's SHA-256 differs from the pin.
    PinMismatch { expected: String, actual: String },
    /// The key document could not be fetched (never produced by the core itself).
    KeysFetchFailed { reason: String },
    /// A receipt of the chain failed on its own.
    ChainInvalidReceipt {
        position: usize,
        receipt_id: Option<String>,
        cause: Box<Error>,
    },
    /// An explicit chain mixes authorizations.
    ChainMixed { expected: String, found: String },
    /// Two different receipts share a seq.
    ChainFork { seq: u64 },
    /// No receipt with seq 0 (`first_seq` is the lowest seq present, if any).
    ChainBadStart { first_seq: Option<u64> },
    /// A seq is missing.
    ChainGap { missing_seq: u64 },
    /// A prev does not match the hash of the receipt before it.
    ChainBrokenLink { seq: u64 },
    /// issued_at decreases along seq.
    ChainTimeReversal { seq: u64 },
    /// A receipt follows `authorization.revoked`.
    ChainAfterRevocation { seq: u64 },
}

impl Error {
    /// The contract's stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::TooLarge { .. } => "too_large",
            Error::MalformedJson { .. } => "malformed_json",
            Error::DuplicateKey { .. } => "duplicate_key",
            Error::InvalidString { .. } => "invalid_string",
            Error::NumberOutOfRange { .. } => "number_out_of_range",
            Error::TooDeep { .. } => "too_deep",
            Error::BadStructure { .. } => "bad_structure",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::WorkspaceMismatch { .. } => "workspace_mismatch",
            Error::UnknownKid { .. } => "unknown_kid",
            Error::BadSignatureEncoding { .. } => "bad_signature_encoding",
            Error::SignatureInvalid { .. } => "signature_invalid",
            Error::KeyRevoked { .. } => "key_revoked",
            Error::KeyNotValidAt { .. } => "key_not_valid_at",
            Error::KeysInvalid { .. } => "keys_invalid",
            Error::PinMismatch { .. } => "pin_mismatch",
            Error::KeysFetchFailed { .. } => "keys_fetch_failed",
            Error::ChainInvalidReceipt { .. } => "chain_invalid_receipt",
            Error::ChainMixed { .. } => "chain_mixed",
            Error::ChainFork { .. } => "chain_fork",
            Error::ChainBadStart { .. } => "chain_bad_start",
            Error::ChainGap { .. } => "chain_gap",
            Error::ChainBrokenLink { .. } => "chain_broken_link",
            Error::ChainTimeReversal { .. } => "chain_time_reversal",
            Error::ChainAfterRevocation { .. } => "chain_after_revocation",
        }
    }

    /// Every code of the contract, in its order (section 10).
    pub const CODES: [&'static str; 25] = [
        "too_large",
        "malformed_json",
        "duplicate_key",
        "invalid_string",
        "number_out_of_range",
        "too_deep",
        "bad_structure",
        "unsupported_version",
        "workspace_mismatch",
        "unknown_kid",
        "bad_signature_encoding",
        "signature_invalid",
        "key_revoked",
        "key_not_valid_at",
        "keys_invalid",
        "pin_mismatch",
        "keys_fetch_failed",
        "chain_invalid_receipt",
        "chain_mixed",
        "chain_fork",
        "chain_bad_start",
        "chain_gap",
        "chain_broken_link",
        "chain_time_reversal",
        "chain_after_revocation",
    ];

    pub(crate) fn bad(path: &str, reason: impl Into<String>) -> Error {
        Error::BadStructure {
            path: String::from(path),
            reason: reason.into(),
        }
    }

    pub(crate) fn keys_invalid(reason: impl Into<String>) -> Error {
        Error::KeysInvalid {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge { size, limit } => {
                write!(f, "input is {size} bytes, over the limit of {limit}")
            }
            Error::MalformedJson { offset, reason } => {
                write!(f, "not valid JSON at byte {offset}: {reason}")
            }
            Error::DuplicateKey { path, name } if path.is_empty() => {
                write!(
                    f,
                    "duplicate member {:?} in the top-level object",
                    name.as_str()
                )
            }
            Error::DuplicateKey { path, name } => {
                write!(f, "duplicate member {:?} in {path}", name.as_str())
            }
            Error::InvalidString { offset } => {
                write!(f, "lone surrogate escape in a string at byte {offset}")
            }
            Error::NumberOutOfRange { offset } => write!(
                f,
                "number at byte {offset} is out of range (over 128 characters or beyond the allowed magnitude)"
            ),
            Error::TooDeep { offset, limit } => {
                write!(f, "nesting deeper than {limit} at byte {offset}")
            }
            Error::BadStructure { path, reason } => write!(f, "{path}: {reason}"),
            Error::UnsupportedVersion { version } => {
                write!(f, "payload.v is {version}; only version 1 is supported")
            }
            Error::WorkspaceMismatch { receipt, keys } => write!(
                f,
                "receipt is from workspace {receipt:?} but the key document is for {keys:?}"
            ),
            Error::UnknownKid { kid, workspace_id } => write!(
                f,
                "no Ed25519 key with kid {kid:?} in the key document of workspace {workspace_id:?}"
            ),
            Error::BadSignatureEncoding { reason } => write!(f, "sig: {reason}"),
            Error::SignatureInvalid { kid } => {
                write!(f, "signature does not verify under key {kid:?}")
            }
            Error::KeyRevoked { kid } => write!(f, "key {kid:?} is revoked"),
            Error::KeyNotValidAt {
                kid,
                issued_at,
                not_before,
                not_after,
            } => {
                write!(
                    f,
                    "issued_at {issued_at} is outside the window of key {kid:?} ({not_before} .. "
                )?;
                match not_after {
                    Some(end) => write!(f, "{end})"),
                    None => write!(f, "open)"),
                }
            }
            Error::KeysInvalid { reason } => write!(f, "invalid key document: {reason}"),
            Error::PinMismatch { expected, actual } => write!(
                f,
                "key document hash {actual} does not match the pin {expected}: the document changed or the pin is wrong"
            ),
            Error::KeysFetchFailed { reason } => {
                write!(f, "key document could not be fetched: {reason}")
            }
            Error::ChainInvalidReceipt {
                position,
                receipt_id,
                cause,
            } => {
                write!(f, "receipt #{position}")?;
                if let Some(id) = receipt_id {
                    write!(f, " ({id:?})")?;
                }
                write!(f, " is invalid: {}: {cause}", cause.code())
            }
            Error::ChainMixed { expected, found } => {
                write!(f, "chain mixes authorizations {expected:?} and {found:?}")
            }
            Error::ChainFork { seq } => write!(f, "two different receipts have seq {seq}"),
            Error::ChainBadStart {
                first_seq: Some(seq),
            } => {
                write!(f, "chain has no seq 0 (first seq is {seq})")
            }
            Error::ChainBadStart { first_seq: None } => {
                write!(f, "chain has no valid receipt")
            }
            Error::ChainGap { missing_seq } => write!(f, "seq {missing_seq} is missing"),
            Error::ChainBrokenLink { seq } => write!(
                f,
                "prev of seq {seq} is not the hash of seq {}",
                seq.saturating_sub(1)
            ),
            Error::ChainTimeReversal { seq } => write!(
                f,
                "issued_at of seq {seq} is earlier than that of seq {}",
                seq.saturating_sub(1)
            ),
            Error::ChainAfterRevocation { seq } => {
                write!(f, "seq {seq} follows authorization.revoked")
            }
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    #[test]
    fn codes_are_unique() {
        let set: BTreeSet<_> = Error::CODES.iter().collect();
        assert_eq!(set.len(), Error::CODES.len());
    }
}
