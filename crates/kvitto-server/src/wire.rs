//! The JSON shapes of the HTTP API: requests (unknown members rejected) and
//! responses. The OpenAPI document is generated from these types.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

type JsonObject = serde_json::Map<String, serde_json::Value>;

/// A scope to grant: its name, or `{name, constraints}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSpec {
    pub name: String,
    pub max_per_day: Option<u64>,
}

/// A scope: a name (`"mail:send"`) or an object with constraints.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum ScopeSpecSchema {
    Name(String),
    Constrained(ConstrainedScope),
}

/// A scope with constraints.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstrainedScope {
    /// The scope name.
    pub name: String,
    #[serde(default)]
    pub constraints: Constraints,
}

/// Limits on a scope. Unknown constraints are rejected, never ignored.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// Allowed checks of this scope per UTC day.
    #[schema(minimum = 0, maximum = 9007199254740991_u64)]
    pub max_per_day: Option<u64>,
}

impl<'de> Deserialize<'de> for ScopeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(name) => Ok(ScopeSpec {
                name,
                max_per_day: None,
            }),
            serde_json::Value::Object(_) => {
                let c: ConstrainedScope = serde_json::from_value(v).map_err(D::Error::custom)?;
                Ok(ScopeSpec {
                    name: c.name,
                    max_per_day: c.constraints.max_per_day,
                })
            }
            other => Err(D::Error::custom(format!(
                "a scope is a string or {{\"name\", \"constraints\"}}, not {}",
                json_type(&other)
            ))),
        }
    }
}

impl Serialize for ScopeSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ConstrainedScope {
            name: self.name.clone(),
            constraints: Constraints {
                max_per_day: self.max_per_day,
            },
        }
        .serialize(s)
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `POST /v1/authorizations`: what a user grants an agent. Give either
/// `agent_id` and `scopes`, or `bundle_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuthorization {
    /// An opaque id of the user (1 to 128 of `A-Za-z0-9._:-`), e.g. from
    /// `kvitto-server pii-id`: `email_hmac:v1:…`. Never an e-mail address.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub user_id: String,
    /// The agent's id.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub agent_id: Option<String>,
    #[schema(value_type = Option<Vec<ScopeSpecSchema>>)]
    pub scopes: Option<Vec<ScopeSpec>>,
    /// A scope bundle of this workspace, in place of `agent_id` and `scopes`.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub bundle_id: Option<String>,
    #[serde(default)]
    pub requires_confirm_for: Option<Vec<String>>,
    #[serde(default)]
    pub requires_escalation_for: Option<Vec<String>>,
    /// Who resolves escalations of each scope.
    #[serde(default)]
    pub escalation_targets: Option<BTreeMap<String, String>>,
    /// When the authorization stops allowing (RFC 3339 UTC), or null.
    pub expires_at: Option<String>,
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub budget_limit_micros: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<JsonObject>,
}

/// `POST /v1/bundles`: a named template for authorizations.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBundle {
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub bundle_id: String,
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub agent_id: String,
    #[schema(value_type = Vec<ScopeSpecSchema>)]
    pub scopes: Vec<ScopeSpec>,
    #[serde(default)]
    pub requires_confirm_for: Vec<String>,
    #[serde(default)]
    pub requires_escalation_for: Vec<String>,
    #[serde(default)]
    pub escalation_targets: BTreeMap<String, String>,
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub budget_limit_micros: Option<i64>,
}

/// A scope bundle.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleView {
    pub bundle_id: String,
    pub agent_id: String,
    #[schema(value_type = Vec<ConstrainedScope>)]
    pub scopes: Vec<ScopeSpec>,
    pub requires_confirm_for: Vec<String>,
    pub requires_escalation_for: Vec<String>,
    pub escalation_targets: BTreeMap<String, String>,
    pub budget_limit_micros: Option<i64>,
    pub created_at: String,
}

/// `GET /v1/bundles`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleList {
    pub bundles: Vec<BundleView>,
}

/// Where a receipt is: pending until the background signer has signed it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptRef {
    /// `pending` when answered (the signed receipt follows shortly).
    pub status: String,
    pub receipt_id: String,
    /// `GET` this for the signed receipt.
    pub url: String,
    /// When the signed receipt is expected to be ready.
    pub ready_at_estimate: String,
}

/// `201` of `POST /v1/authorizations`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub authorization_id: String,
    /// The `authorization.created` receipt (seq 0).
    pub receipt: ReceiptRef,
}

/// An authorization's grant and state.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationView {
    pub authorization_id: String,
    pub workspace_id: String,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    pub user_id: String,
    pub agent_id: String,
    #[schema(value_type = Vec<ConstrainedScope>)]
    pub scopes: Vec<ScopeSpec>,
    pub requires_confirm_for: Vec<String>,
    pub requires_escalation_for: Vec<String>,
    pub escalation_targets: BTreeMap<String, String>,
    pub expires_at: Option<String>,
    pub budget_limit_micros: Option<i64>,
    pub budget_spent_micros: i64,
    #[schema(value_type = Object)]
    pub metadata: JsonObject,
    pub bundle_id: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
    /// Receipts in the chain so far.
    pub receipts: u64,
    /// The chain's last receipt hash.
    pub head_hash: String,
    /// Per scope: allows today (UTC) and the daily limit.
    pub counters: BTreeMap<String, ScopeCounter>,
}

/// A scope's counter for today.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeCounter {
    pub allowed_today: u64,
    pub max_per_day: Option<u64>,
}

/// `POST /v1/authorizations/{id}/revoke`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// Who revoked it (1 to 256 bytes).
    pub revoked_by: String,
}

/// A receipt written by a revocation or a resolution.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptOnly {
    pub receipt: ReceiptRef,
}

/// `POST /v1/check`: may the agent act under these scopes now?
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub authorization_id: String,
    /// 1 to 64 distinct scope names; one decision and one receipt each, in this order.
    pub scopes: Vec<String>,
    /// What the action touches (up to 2048 bytes), or null.
    pub resource: Option<String>,
    pub session_id: Option<String>,
    /// Anything the app wants in the receipt (a JSON object up to 64 KiB, nesting ≤ 32).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: Option<JsonObject>,
    /// The action's cost, charged to the budget once if any scope allows.
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub estimated_cost_micros: Option<i64>,
}

/// Budget figures of a check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetView {
    pub limit_micros: i64,
    pub spent_before_micros: i64,
    pub spent_after_micros: i64,
}

/// One scope's decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScopeResult {
    /// `allow`, `deny`, `confirm` or `escalate`.
    pub decision: String,
    /// `ok` for allow, otherwise the reason code.
    pub reason: String,
    /// Null only when there is no chain to write to (unknown or revoked authorization).
    pub receipt: Option<ReceiptRef>,
    /// For `confirm`: resolve with `POST /v1/confirmations/{nonce}`.
    pub confirm_nonce: Option<String>,
    pub confirm_prompt_hint: Option<String>,
    /// For `escalate`: resolve with `POST /v1/escalations/{id}/resolve`.
    pub escalation_id: Option<String>,
    pub escalation_to: Option<String>,
    pub budget: Option<BudgetView>,
}

/// Scope results in the order the scopes were asked.
#[derive(Debug, Clone)]
pub struct OrderedResults(pub Vec<(String, ScopeResult)>);

impl Serialize for OrderedResults {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// `200` of `POST /v1/check`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    /// One member per scope asked, in the request's order.
    #[schema(value_type = BTreeMap<String, ScopeResult>)]
    pub results: OrderedResults,
}

/// `POST /v1/confirmations/{nonce}`: the user's answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveConfirmation {
    pub approved: bool,
    /// How long an approval lets checks of the scope allow (0 to 2592000; default 300).
    #[schema(minimum = 0, maximum = 2592000)]
    pub ttl_seconds: Option<i64>,
}

/// `POST /v1/escalations/{id}/resolve`: the approver's answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveEscalation {
    pub approved: bool,
    /// Who decided (1 to 256 bytes).
    pub resolved_by: String,
}

/// A signed receipt, exactly the contract's `{"payload", "sig"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedReceipt {
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// base64url Ed25519 signature (86 characters).
    pub sig: String,
}

/// `202` of `GET /v1/receipts/{id}` before it is signed.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingReceipt {
    /// Always `pending`.
    pub status: String,
    pub receipt_id: String,
    pub ready_at_estimate: String,
}

/// `GET /v1/receipts`: a page of one chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptPage {
    /// Signed receipts in seq order, contiguous (the page stops before the first unsigned one).
    pub receipts: Vec<SignedReceipt>,
    /// Pass as `after_seq` for the next page; null when no more signed receipts follow.
    pub next_after_seq: Option<u64>,
    /// Receipts after this page not signed yet.
    pub pending: u64,
}

/// `POST /v1/workspaces/{id}/keys/rotate`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rotated {
    /// The new active key.
    pub kid: String,
    /// The key it replaced (now retired).
    pub retired_kid: String,
    /// The rotation instant: the old key's not_after, the new key's not_before.
    pub at: String,
}

/// An error: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code (see docs/server.md).
    pub code: String,
    pub message: String,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// A contract key document (JWKS with kvitto's members).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyDocument {
    pub workspace_id: String,
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}
