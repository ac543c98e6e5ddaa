//! The server's domain records: what an authorization grants and the state
//! that checks and resolutions change. Plain data, shared by `decide`,
//! `service` and `store`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One granted scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeGrant {
    pub name: String,
    /// Allowed checks per UTC day, if limited.
    pub max_per_day: Option<u64>,
}

/// What a user granted an agent: the `authorization.created` receipt's members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub user_id: String,
    pub agent_id: String,
    pub scopes: Vec<ScopeGrant>,
    pub requires_confirm_for: Vec<String>,
    pub requires_escalation_for: Vec<String>,
    pub escalation_targets: BTreeMap<String, String>,
    pub expires_at_ms: Option<i64>,
    pub budget_limit_micros: Option<i64>,
    /// A JSON object, as given.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The scope bundle it was made from, if any.
    pub bundle_id: Option<String>,
}

impl Grant {
    pub fn scope(&self, name: &str) -> Option<&ScopeGrant> {
        self.scopes.iter().find(|s| s.name == name)
    }
}

/// An authorization with its chain head and counters, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    pub id: String,
    pub workspace_id: String,
    pub grant: Grant,
    pub created_at_ms: i64,
    pub budget_spent_micros: i64,
    pub revoked_at_ms: Option<i64>,
    pub revoked_by: Option<String>,
    /// The seq the next receipt gets (= receipts so far).
    pub next_seq: u64,
    /// The receipt hash of seq next_seq − 1 (`sha256:…`).
    pub head_hash: String,
    /// issued_at of seq next_seq − 1, in ms.
    pub head_issued_at_ms: i64,
}

impl Authorization {
    /// A new authorization: nothing spent, not revoked, no receipt yet.
    pub fn new(id: String, workspace_id: String, grant: Grant, created_at_ms: i64) -> Self {
        Authorization {
            id,
            workspace_id,
            grant,
            created_at_ms,
            budget_spent_micros: 0,
            revoked_at_ms: None,
            revoked_by: None,
            next_seq: 0,
            head_hash: String::new(),
            head_issued_at_ms: 0,
        }
    }
}

/// Per authorization and scope: approvals, rejections and today's count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeState {
    pub scope: String,
    /// An approved confirmation lets checks allow until this instant (ms).
    pub confirmed_until_ms: Option<i64>,
    /// A rejected confirmation: the next check denies `confirmation_denied`.
    pub confirm_denied: bool,
    /// Approved escalations not yet used: each lets one check allow.
    pub escalation_grants: u32,
    /// A rejected escalation: the next check denies `escalation_denied`.
    pub escalation_denied: bool,
    /// The UTC day `allowed_today` counts.
    pub day: i64,
    /// Allows on `day`.
    pub allowed_today: u64,
}

impl ScopeState {
    pub fn new(scope: &str) -> ScopeState {
        ScopeState {
            scope: scope.to_owned(),
            ..ScopeState::default()
        }
    }

    /// Allows counted on UTC day `day`.
    pub fn allowed_on(&self, day: i64) -> u64 {
        if self.day == day {
            self.allowed_today
        } else {
            0
        }
    }
}

/// A signing key's record (the private half lives in a file, see `keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kid: String,
    pub workspace_id: String,
    /// base64url public key.
    pub x: String,
    /// `active`, `retired` or `revoked`.
    pub status: String,
    pub not_before_ms: i64,
    pub not_after_ms: Option<i64>,
    /// The private key file is gone (after rotation, once its receipts are signed).
    pub private_destroyed: bool,
}

/// A receipt to append: the payload's canonical text and its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    pub receipt_id: String,
    pub workspace_id: String,
    pub authorization_id: String,
    pub seq: u64,
    pub kind: &'static str,
    pub kid: String,
    pub issued_at_ms: i64,
    /// JCS(payload).
    pub payload: String,
    /// `sha256:` + hex of SHA-256(JCS(payload)).
    pub hash: String,
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    pub receipt_id: String,
    pub authorization_id: String,
    pub seq: u64,
    pub kid: String,
    pub issued_at_ms: i64,
    pub payload: String,
    /// None while pending.
    pub sig: Option<String>,
}

impl StoredReceipt {
    /// The signed receipt as the contract's canonical text,
    /// `{"payload":…,"sig":"…"}` (JCS: "payload" sorts before "sig"), or
    /// None while pending.
    pub fn signed_json(&self) -> Option<String> {
        self.sig.as_ref().map(|sig| signed_json(&self.payload, sig))
    }
}

/// `{"payload":` + JCS(payload) + `,"sig":"` + sig + `"}`: exactly JCS of the signed receipt.
pub fn signed_json(payload: &str, sig: &str) -> String {
    let mut s = String::with_capacity(payload.len() + sig.len() + 20);
    s.push_str("{\"payload\":");
    s.push_str(payload);
    s.push_str(",\"sig\":\"");
    s.push_str(sig);
    s.push_str("\"}");
    s
}

/// A pending confirmation or escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The nonce or escalation id.
    pub id: String,
    pub workspace_id: String,
    pub authorization_id: String,
    pub scope: String,
    /// Escalations: the target.
    pub target: Option<String>,
    /// `pending`, `approved`, `rejected`.
    pub status: String,
    pub created_at_ms: i64,
}

/// A stored idempotent response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// SHA-256 of the method, route and body of the first request.
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// A scope bundle: a named template of an authorization's grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub bundle_id: String,
    pub agent_id: String,
    pub scopes: Vec<ScopeGrant>,
    pub requires_confirm_for: Vec<String>,
    pub requires_escalation_for: Vec<String>,
    pub escalation_targets: BTreeMap<String, String>,
    pub budget_limit_micros: Option<i64>,
    pub created_at_ms: i64,
}
