//! The server's one error type: every failure a client can see, with a stable code.

use std::fmt;

/// Everything a request can fail with. [`Error::code`] is a stable string
/// (documented in docs/server.md); [`Error::status`] the HTTP status. The
/// `api` module turns it into `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The body breaks the strict JSON profile; `code` is the core's code
    /// (`malformed_json`, `duplicate_key`, `invalid_string`,
    /// `number_out_of_range`, `too_deep`).
    InvalidJson { code: &'static str, message: String },
    /// The JSON does not have the request's shape: a missing or unknown
    /// member, a wrong type (`invalid_request`).
    InvalidRequest { message: String },
    /// A member's value breaks a rule or a limit; the message names it
    /// (`invalid_member`).
    InvalidMember { member: String, message: String },
    /// No, or an unknown, API key (`unauthorized`).
    Unauthorized { message: String },
    /// Nothing with this id in the caller's workspace; `code` says what
    /// (`authorization_not_found`, `receipt_not_found`, …).
    NotFound { code: &'static str, message: String },
    /// The route exists but not with this method (`method_not_allowed`).
    MethodNotAllowed,
    /// The request conflicts with the current state (`authorization_revoked`,
    /// `already_resolved`, `bundle_exists`).
    Conflict { code: &'static str, message: String },
    /// The body is over the limit (`body_too_large`).
    BodyTooLarge { limit: usize },
    /// The body is not `application/json` (`unsupported_media_type`).
    UnsupportedMediaType,
    /// An `Idempotency-Key` reused with another request (`idempotency_key_reused`).
    IdempotencyKeyReused,
    /// Pending receipts did not get signed in time for an export
    /// (`export_not_ready`); retry after `retry_after` seconds.
    NotReady { message: String, retry_after: u32 },
    /// The server is stopping (`shutting_down`).
    ShuttingDown,
    /// The database cannot be reached or did not answer in time, and the
    /// request was not applied (`storage_unavailable`); retry.
    Unavailable { message: String },
    /// The connection to the database was lost while the request's
    /// transaction was committing: it may or may not have been applied
    /// (`outcome_unknown`). Retry with the same `Idempotency-Key` to learn
    /// which (the stored answer comes back if it was).
    OutcomeUnknown,
    /// A bug or a storage failure (`internal`); details are logged, never sent.
    Internal { message: String },
}

impl Error {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidJson { code, .. } => code,
            Error::InvalidRequest { .. } => "invalid_request",
            Error::InvalidMember { .. } => "invalid_member",
            Error::Unauthorized { .. } => "unauthorized",
            Error::NotFound { code, .. } => code,
            Error::MethodNotAllowed => "method_not_allowed",
            Error::Conflict { code, .. } => code,
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::IdempotencyKeyReused => "idempotency_key_reused",
            Error::NotReady { .. } => "export_not_ready",
            Error::ShuttingDown => "shutting_down",
            Error::Unavailable { .. } => "storage_unavailable",
            Error::OutcomeUnknown => "outcome_unknown",
            Error::Internal { .. } => "internal",
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidJson { .. }
            | Error::InvalidRequest { .. }
            | Error::InvalidMember { .. } => 400,
            Error::Unauthorized { .. } => 401,
            Error::NotFound { .. } => 404,
            Error::MethodNotAllowed => 405,
            Error::Conflict { .. } => 409,
            Error::BodyTooLarge { .. } => 413,
            Error::UnsupportedMediaType => 415,
            Error::IdempotencyKeyReused => 422,
            Error::Internal { .. } => 500,
            Error::NotReady { .. }
            | Error::ShuttingDown
            | Error::Unavailable { .. }
            | Error::OutcomeUnknown => 503,
        }
    }

    /// A 400 naming `member`.
    pub fn member(member: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidMember {
            member: member.into(),
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Error {
        Error::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::Unavailable {
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::Internal {
            message: message.into(),
        }
    }

    /// Whether this is the client's fault (a 4xx).
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status())
    }
}

/// The message a client sees (internal details are replaced).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidJson { message, .. }
            | Error::InvalidRequest { message }
            | Error::Unauthorized { message }
            | Error::NotFound { message, .. }
            | Error::Conflict { message, .. }
            | Error::NotReady { message, .. } => f.write_str(message),
            Error::Unavailable { .. } => f.write_str(
                "the database is unavailable; nothing was applied: retry (details in the server's log)",
            ),
            Error::OutcomeUnknown => f.write_str(
                "the database connection was lost while this request was committing: it may or may \
                 not have been applied; retry with the same Idempotency-Key to find out",
            ),
            Error::InvalidMember { member, message } => write!(f, "{member}: {message}"),
            Error::MethodNotAllowed => f.write_str("this route does not take this method"),
            Error::BodyTooLarge { limit } => write!(f, "the body is over the limit of {limit} bytes"),
            Error::UnsupportedMediaType => {
                f.write_str("the body must be JSON (Content-Type: application/json)")
            }
            Error::IdempotencyKeyReused => f.write_str(
                "this Idempotency-Key was used with another request; use a new key for a new request",
            ),
            Error::ShuttingDown => f.write_str("the server is shutting down; retry on another instance or later"),
            Error::Internal { .. } => f.write_str("internal error (logged on the server)"),
        }
    }
}

impl std::error::Error for Error {}
