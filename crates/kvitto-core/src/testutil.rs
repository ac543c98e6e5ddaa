//! Fixtures for the unit tests: one workspace, one key, chains of signed receipts.

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use crate::jcs;
use crate::json::Value;
use crate::keys::{Hash, KeySet, KeyStatus};
use crate::receipt::Kind;
use crate::sign::{self, Common, IssuerKey};

pub(crate) const WS: &str = "ws_test";

pub(crate) fn key() -> IssuerKey {
    IssuerKey::from_seed("ws_test.k1", &[42; 32])
}

pub(crate) fn keyset_with(jwks: Vec<Value>) -> KeySet {
    let doc = jcs::to_vec(&sign::key_document(WS, jwks));
    KeySet::from_bytes(&doc, None).expect("valid test key document")
}

pub(crate) fn keyset() -> KeySet {
    keyset_with(vec![key().jwk(
        KeyStatus::Active,
        "2026-01-01T00:00:00Z",
        None,
    )])
}

/// The members a check receipt needs, with `decision`.
pub(crate) fn check_members(decision: &str) -> Vec<(&'static str, Value)> {
    let reason = match decision {
        "allow" => "ok",
        "deny" => "scope_not_authorized",
        "confirm" => "confirmation_required",
        _ => "escalation_required",
    };
    vec![
        ("scope", Value::from("email.send")),
        ("decision", Value::from(decision)),
        ("reason", Value::from(reason)),
        ("resource", Value::Null),
        ("session_id", Value::from("sess_1")),
        (
            "context",
            sign::object([("to", Value::from("a@example.com"))]),
        ),
        ("estimated_cost_micros", Value::Null),
        ("budget", Value::Null),
        ("confirm_nonce", Value::Null),
        ("escalation_id", Value::Null),
        ("escalation_to", Value::Null),
    ]
}

pub(crate) fn created_members() -> Vec<(&'static str, Value)> {
    vec![
        ("user_id", Value::from("user_1")),
        ("agent_id", Value::from("agent_1")),
        (
            "scopes",
            Value::Array(vec![sign::object([
                ("name", Value::from("email.send")),
                ("constraints", sign::object([])),
            ])]),
        ),
        ("requires_confirm_for", Value::Array(vec![])),
        ("requires_escalation_for", Value::Array(vec![])),
        ("escalation_targets", sign::object([])),
        ("expires_at", Value::Null),
        ("budget_limit_micros", Value::from(1_000_000u64)),
        ("metadata", sign::object([])),
    ]
}

/// A valid chain of `n` receipts (created, then checks), optionally closed by revocation.
pub(crate) fn chain(auth: &str, n: u64, revoke: bool) -> Vec<String> {
    let key = key();
    let mut out = Vec::new();
    let mut prev: Option<Hash> = None;
    for seq in 0..n {
        let last = seq + 1 == n;
        let (kind, members) = if seq == 0 {
            (Kind::AuthorizationCreated, created_members())
        } else if last && revoke {
            (
                Kind::AuthorizationRevoked,
                vec![("revoked_by", Value::from("user_1"))],
            )
        } else {
            (Kind::Check, check_members("allow"))
        };
        let receipt_id = format!("rcpt_{auth}_{seq}");
        let issued_at = format!("2026-11-22T01:{:02}:00Z", seq % 60);
        let common = Common {
            receipt_id: &receipt_id,
            workspace_id: WS,
            authorization_id: auth,
            seq,
            prev,
            issued_at: &issued_at,
            kid: key.kid(),
        };
        let signed = key.sign_payload(&sign::payload(kind, &common, members));
        prev = Some(signed.receipt_hash);
        out.push(signed.json);
    }
    out
}

/// Sign `payload` (a Value) with the test key.
pub(crate) fn sign_value(payload: &Value) -> String {
    key().sign_payload(payload).json
}
