//! Fixtures for the unit tests: one workspace, one key, signed chains.

use kvitto_core::json::Value;
use kvitto_core::sign::{self, Common, IssuerKey};
use kvitto_core::{Hash, KeySet, KeyStatus, Kind, jcs};

pub(crate) const WS: &str = "ws_test";

pub(crate) fn key() -> IssuerKey {
    IssuerKey::from_seed("ws_test.k1", &[42; 32])
}

pub(crate) fn document() -> Vec<u8> {
    let jwk = key().jwk(KeyStatus::Active, "2026-01-01T00:00:00Z", None);
    jcs::to_vec(&sign::key_document(WS, vec![jwk]))
}

pub(crate) fn keys() -> Vec<KeySet> {
    vec![KeySet::from_bytes(&document(), None).expect("valid test key document")]
}

fn check_members() -> Vec<(&'static str, Value)> {
    vec![
        ("scope", Value::from("email.send")),
        ("decision", Value::from("allow")),
        ("reason", Value::from("ok")),
        ("resource", Value::Null),
        ("session_id", Value::Null),
        ("context", sign::object([])),
        ("estimated_cost_micros", Value::Null),
        ("budget", Value::Null),
        ("confirm_nonce", Value::Null),
        ("escalation_id", Value::Null),
        ("escalation_to", Value::Null),
    ]
}

fn created_members() -> Vec<(&'static str, Value)> {
    vec![
        ("user_id", Value::from("user_1")),
        ("agent_id", Value::from("agent_1")),
        ("scopes", Value::Array(vec![])),
        ("requires_confirm_for", Value::Array(vec![])),
        ("requires_escalation_for", Value::Array(vec![])),
        ("escalation_targets", sign::object([])),
        ("expires_at", Value::Null),
        ("budget_limit_micros", Value::Null),
        ("metadata", sign::object([])),
    ]
}

/// A valid chain of `n` receipts (created, then checks), optionally closed.
pub(crate) fn chain(auth: &str, n: u64, revoke: bool) -> Vec<String> {
    let key = key();
    let mut out = Vec::new();
    let mut prev: Option<Hash> = None;
    for seq in 0..n {
        let (kind, members) = if seq == 0 {
            (Kind::AuthorizationCreated, created_members())
        } else if seq + 1 == n && revoke {
            (
                Kind::AuthorizationRevoked,
                vec![("revoked_by", Value::from("user_1"))],
            )
        } else {
            (Kind::Check, check_members())
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
