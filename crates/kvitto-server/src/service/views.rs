//! What GET answers show of authorizations and bundles.

use super::*;

pub fn bundle_view(b: &Bundle) -> wire::BundleView {
    wire::BundleView {
        bundle_id: b.bundle_id.clone(),
        agent_id: b.agent_id.clone(),
        scopes: b.scopes.iter().map(spec).collect(),
        requires_confirm_for: b.requires_confirm_for.clone(),
        requires_escalation_for: b.requires_escalation_for.clone(),
        escalation_targets: b.escalation_targets.clone(),
        budget_limit_micros: b.budget_limit_micros,
        created_at: rfc3339_ms(b.created_at_ms),
    }
}

fn spec(s: &ScopeGrant) -> wire::ScopeSpec {
    wire::ScopeSpec {
        name: s.name.clone(),
        max_per_day: s.max_per_day,
    }
}

/// The view of an authorization at `now`.
pub fn authorization_view(
    a: &Authorization,
    states: &[ScopeState],
    now: i64,
) -> wire::AuthorizationView {
    let g = &a.grant;
    let status = if a.revoked_at_ms.is_some() {
        "revoked"
    } else if g.expires_at_ms.is_some_and(|e| now >= e) {
        "expired"
    } else {
        "active"
    };
    let today = utc_day(now);
    let counters = g
        .scopes
        .iter()
        .map(|s| {
            let allowed = states
                .iter()
                .find(|st| st.scope == s.name)
                .map_or(0, |st| st.allowed_on(today));
            (
                s.name.clone(),
                wire::ScopeCounter {
                    allowed_today: allowed,
                    max_per_day: s.max_per_day,
                },
            )
        })
        .collect();
    wire::AuthorizationView {
        authorization_id: a.id.clone(),
        workspace_id: a.workspace_id.clone(),
        status: status.into(),
        user_id: g.user_id.clone(),
        agent_id: g.agent_id.clone(),
        scopes: g.scopes.iter().map(spec).collect(),
        requires_confirm_for: g.requires_confirm_for.clone(),
        requires_escalation_for: g.requires_escalation_for.clone(),
        escalation_targets: g.escalation_targets.clone(),
        expires_at: g.expires_at_ms.map(rfc3339_ms),
        budget_limit_micros: g.budget_limit_micros,
        budget_spent_micros: a.budget_spent_micros,
        metadata: g.metadata.clone(),
        bundle_id: g.bundle_id.clone(),
        created_at: rfc3339_ms(a.created_at_ms),
        revoked_at: a.revoked_at_ms.map(rfc3339_ms),
        revoked_by: a.revoked_by.clone(),
        receipts: a.next_seq,
        head_hash: a.head_hash.clone(),
        counters,
    }
}
