//! The decision rules, pure: an authorization's state, a request and the
//! instant in; decisions and state changes out. No IO and no clock: the
//! caller passes `now_ms`, and generates nonces and ids where a decision
//! asks for one. docs/server.md states these rules in this order; the tests
//! below follow it rule by rule.

use std::collections::BTreeMap;

use crate::clock::utc_day;
use crate::model::{Authorization, ScopeState};

/// A check's decision for one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    Confirm,
    Escalate,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Confirm => "confirm",
            Decision::Escalate => "escalate",
        }
    }
}

/// Why: `ok` for allow, a reason code otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Ok,
    AuthorizationNotFound,
    AuthorizationRevoked,
    AuthorizationExpired,
    ScopeNotAuthorized,
    BudgetExceeded,
    ConfirmationRequired,
    ConfirmationDenied,
    EscalationRequired,
    EscalationDenied,
    RateLimitExceeded,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::AuthorizationNotFound => "authorization_not_found",
            Reason::AuthorizationRevoked => "authorization_revoked",
            Reason::AuthorizationExpired => "authorization_expired",
            Reason::ScopeNotAuthorized => "scope_not_authorized",
            Reason::BudgetExceeded => "budget_exceeded",
            Reason::ConfirmationRequired => "confirmation_required",
            Reason::ConfirmationDenied => "confirmation_denied",
            Reason::EscalationRequired => "escalation_required",
            Reason::EscalationDenied => "escalation_denied",
            Reason::RateLimitExceeded => "rate_limit_exceeded",
        }
    }

    /// Every reason, for documentation and metrics.
    pub const ALL: [Reason; 11] = [
        Reason::Ok,
        Reason::AuthorizationNotFound,
        Reason::AuthorizationRevoked,
        Reason::AuthorizationExpired,
        Reason::ScopeNotAuthorized,
        Reason::BudgetExceeded,
        Reason::ConfirmationRequired,
        Reason::ConfirmationDenied,
        Reason::EscalationRequired,
        Reason::EscalationDenied,
        Reason::RateLimitExceeded,
    ];
}

/// The budget figures a check's receipts carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit_micros: i64,
    pub spent_before_micros: i64,
    pub spent_after_micros: i64,
}

/// The outcome for one scope of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeOutcome {
    pub scope: String,
    pub decision: Decision,
    pub reason: Reason,
    /// Whether this decision is written to the chain. False exactly when
    /// there is no chain to write to (unknown or revoked authorization).
    pub receipt: bool,
    /// `confirm`: the caller makes a fresh nonce.
    pub needs_nonce: bool,
    /// `escalate`: the caller makes an escalation id; this is its target
    /// (`escalation_targets[scope]`, if set).
    pub escalation_to: Option<String>,
    pub budget: Option<Budget>,
}

/// The outcome of a whole check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// One per requested scope, in the request's order.
    pub scopes: Vec<ScopeOutcome>,
    /// Micro-units charged to the budget (the cost, once, when any scope allows).
    pub charged_micros: i64,
    /// Scope states that changed (to be written back).
    pub changed: Vec<ScopeState>,
}

/// Decide a check of `scopes` (distinct names) against `auth` (None: not
/// found in the caller's workspace) with the scopes' current `states`, at
/// `now_ms`.
pub fn check(
    auth: Option<&Authorization>,
    states: &BTreeMap<String, ScopeState>,
    scopes: &[String],
    estimated_cost_micros: Option<i64>,
    now_ms: i64,
) -> CheckOutcome {
    let no_chain = |reason| CheckOutcome {
        scopes: scopes
            .iter()
            .map(|s| outcome(s, Decision::Deny, reason, false, None))
            .collect(),
        charged_micros: 0,
        changed: Vec::new(),
    };
    // Rule 1 and 2: nothing to write to.
    let Some(auth) = auth else {
        return no_chain(Reason::AuthorizationNotFound);
    };
    if auth.revoked_at_ms.is_some() {
        return no_chain(Reason::AuthorizationRevoked);
    }
    let grant = &auth.grant;
    let cost = estimated_cost_micros.unwrap_or(0);
    let spent = auth.budget_spent_micros;
    let over_budget = grant
        .budget_limit_micros
        .is_some_and(|limit| spent.saturating_add(cost) > limit);
    let expired = grant.expires_at_ms.is_some_and(|at| now_ms >= at);
    let today = utc_day(now_ms);

    let mut results = Vec::with_capacity(scopes.len());
    let mut changed: BTreeMap<String, ScopeState> = BTreeMap::new();
    for scope in scopes {
        let mut state = states
            .get(scope)
            .cloned()
            .unwrap_or_else(|| ScopeState::new(scope));
        let before = state.clone();
        let granted = grant.scope(scope);
        let (decision, reason) = if expired {
            // Rule 3.
            (Decision::Deny, Reason::AuthorizationExpired)
        } else if granted.is_none() {
            // Rule 4.
            (Decision::Deny, Reason::ScopeNotAuthorized)
        } else if over_budget {
            // Rule 5.
            (Decision::Deny, Reason::BudgetExceeded)
        } else if let Some(d) = confirmation(grant, scope, &mut state, now_ms) {
            // Rule 6.
            d
        } else if let Some(d) = escalation(grant, scope, &mut state) {
            // Rule 7.
            d
        } else if granted
            .and_then(|g| g.max_per_day)
            .is_some_and(|max| state.allowed_on(today) >= max)
        {
            // Rule 8.
            (Decision::Deny, Reason::RateLimitExceeded)
        } else {
            // Rule 9: allow; count it, use an escalation approval.
            state.allowed_today = state.allowed_on(today) + 1;
            state.day = today;
            if grant.requires_escalation_for.iter().any(|s| s == scope) {
                state.escalation_grants = state.escalation_grants.saturating_sub(1);
            }
            (Decision::Allow, Reason::Ok)
        };
        let escalation_to = (decision == Decision::Escalate)
            .then(|| grant.escalation_targets.get(scope).cloned())
            .flatten();
        let mut o = outcome(scope, decision, reason, true, escalation_to);
        o.needs_nonce = decision == Decision::Confirm;
        results.push(o);
        if state != before {
            changed.insert(scope.clone(), state);
        }
    }
    let charged = if results.iter().any(|o| o.decision == Decision::Allow) {
        cost
    } else {
        0
    };
    if let Some(limit) = grant.budget_limit_micros {
        let budget = Budget {
            limit_micros: limit,
            spent_before_micros: spent,
            spent_after_micros: spent + charged,
        };
        for o in &mut results {
            o.budget = Some(budget);
        }
    }
    CheckOutcome {
        scopes: results,
        charged_micros: charged,
        changed: changed.into_values().collect(),
    }
}

fn outcome(
    scope: &str,
    decision: Decision,
    reason: Reason,
    receipt: bool,
    escalation_to: Option<String>,
) -> ScopeOutcome {
    ScopeOutcome {
        scope: scope.to_owned(),
        decision,
        reason,
        receipt,
        needs_nonce: false,
        escalation_to,
        budget: None,
    }
}

/// Rule 6, for a scope in requires_confirm_for: a rejection denies once; no
/// approval valid now asks for one; an approval valid now passes (None).
fn confirmation(
    grant: &crate::model::Grant,
    scope: &str,
    state: &mut ScopeState,
    now_ms: i64,
) -> Option<(Decision, Reason)> {
    if !grant.requires_confirm_for.iter().any(|s| s == scope) {
        return None;
    }
    if state.confirm_denied {
        state.confirm_denied = false;
        return Some((Decision::Deny, Reason::ConfirmationDenied));
    }
    match state.confirmed_until_ms {
        Some(until) if now_ms < until => None,
        _ => Some((Decision::Confirm, Reason::ConfirmationRequired)),
    }
}

/// Rule 7, for a scope in requires_escalation_for: a rejection denies once;
/// no unused approval escalates; an unused approval passes (None; it is used
/// up when the check allows).
fn escalation(
    grant: &crate::model::Grant,
    scope: &str,
    state: &mut ScopeState,
) -> Option<(Decision, Reason)> {
    if !grant.requires_escalation_for.iter().any(|s| s == scope) {
        return None;
    }
    if state.escalation_denied {
        state.escalation_denied = false;
        return Some((Decision::Deny, Reason::EscalationDenied));
    }
    if state.escalation_grants == 0 {
        return Some((Decision::Escalate, Reason::EscalationRequired));
    }
    None
}

/// A confirmation's answer: approval lets checks of the scope allow for
/// `ttl_seconds` from `now_ms`; a rejection makes the next check deny.
pub fn resolve_confirmation(
    state: &ScopeState,
    approved: bool,
    ttl_seconds: i64,
    now_ms: i64,
) -> ScopeState {
    let mut s = state.clone();
    if approved {
        s.confirmed_until_ms = Some(now_ms.saturating_add(ttl_seconds.saturating_mul(1000)));
        s.confirm_denied = false;
    } else {
        s.confirmed_until_ms = None;
        s.confirm_denied = true;
    }
    s
}

/// An escalation's answer: approval lets one more check of the scope allow;
/// a rejection cancels unused approvals and makes the next check deny.
pub fn resolve_escalation(state: &ScopeState, approved: bool) -> ScopeState {
    let mut s = state.clone();
    if approved {
        s.escalation_grants = s.escalation_grants.saturating_add(1);
        s.escalation_denied = false;
    } else {
        s.escalation_grants = 0;
        s.escalation_denied = true;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Grant, ScopeGrant};

    const NOW: i64 = 1_795_310_100_000; // 2026-11-22T01:15:00Z
    const DAY: i64 = 86_400_000;

    fn auth() -> Authorization {
        Authorization {
            id: "auth_1".into(),
            workspace_id: "ws_1".into(),
            grant: Grant {
                user_id: "u".into(),
                agent_id: "a".into(),
                scopes: vec![
                    ScopeGrant {
                        name: "read".into(),
                        max_per_day: None,
                    },
                    ScopeGrant {
                        name: "send".into(),
                        max_per_day: Some(2),
                    },
                    ScopeGrant {
                        name: "pay".into(),
                        max_per_day: None,
                    },
                    ScopeGrant {
                        name: "delete".into(),
                        max_per_day: None,
                    },
                    ScopeGrant {
                        name: "both".into(),
                        max_per_day: None,
                    },
                ],
                requires_confirm_for: vec!["pay".into(), "both".into()],
                requires_escalation_for: vec!["delete".into(), "both".into()],
                escalation_targets: [("delete".to_string(), "ops@example".to_string())].into(),
                expires_at_ms: Some(NOW + DAY),
                budget_limit_micros: Some(1_000),
                metadata: Default::default(),
                bundle_id: None,
            },
            created_at_ms: NOW - 1,
            budget_spent_micros: 0,
            revoked_at_ms: None,
            revoked_by: None,
            next_seq: 1,
            head_hash: String::new(),
            head_issued_at_ms: NOW - 1,
        }
    }

    fn one(
        auth: Option<&Authorization>,
        states: &[ScopeState],
        scope: &str,
        cost: Option<i64>,
        now: i64,
    ) -> (Decision, Reason, CheckOutcome) {
        let map = states
            .iter()
            .map(|s| (s.scope.clone(), s.clone()))
            .collect();
        let out = check(auth, &map, &[scope.to_string()], cost, now);
        (out.scopes[0].decision, out.scopes[0].reason, out)
    }

    fn state(f: impl FnOnce(&mut ScopeState), scope: &str) -> ScopeState {
        let mut s = ScopeState::new(scope);
        f(&mut s);
        s
    }

    /// The rules of docs/server.md, one row each: (rule, authorization
    /// tweak, scope state, scope, cost, expected decision and reason).
    #[test]
    #[allow(clippy::type_complexity)]
    fn rules_table() {
        type Tweak = fn(&mut Authorization);
        let none: Tweak = |_| {};
        let rows: Vec<(
            &str,
            Option<Tweak>,
            Option<ScopeState>,
            &str,
            Option<i64>,
            Decision,
            Reason,
        )> = vec![
            (
                "1 unknown authorization",
                None,
                None,
                "read",
                None,
                Decision::Deny,
                Reason::AuthorizationNotFound,
            ),
            (
                "2 revoked",
                Some(|a| a.revoked_at_ms = Some(NOW - 5)),
                None,
                "read",
                None,
                Decision::Deny,
                Reason::AuthorizationRevoked,
            ),
            (
                "3 expired at expires_at",
                Some(|a| a.grant.expires_at_ms = Some(NOW)),
                None,
                "read",
                None,
                Decision::Deny,
                Reason::AuthorizationExpired,
            ),
            (
                "3 not yet expired",
                Some(|a| a.grant.expires_at_ms = Some(NOW + 1)),
                None,
                "read",
                None,
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "3 never expires",
                Some(|a| a.grant.expires_at_ms = None),
                None,
                "read",
                None,
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "4 scope not granted",
                Some(none),
                None,
                "wire",
                None,
                Decision::Deny,
                Reason::ScopeNotAuthorized,
            ),
            (
                "5 over budget",
                Some(|a| a.budget_spent_micros = 900),
                None,
                "read",
                Some(101),
                Decision::Deny,
                Reason::BudgetExceeded,
            ),
            (
                "5 exactly at budget",
                Some(|a| a.budget_spent_micros = 900),
                None,
                "read",
                Some(100),
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "5 no cost, spent all",
                Some(|a| a.budget_spent_micros = 1_000),
                None,
                "read",
                None,
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "5 no budget limit",
                Some(|a| a.grant.budget_limit_micros = None),
                None,
                "read",
                Some(1 << 50),
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "6 confirmation needed",
                Some(none),
                None,
                "pay",
                None,
                Decision::Confirm,
                Reason::ConfirmationRequired,
            ),
            (
                "6 approval valid",
                Some(none),
                Some(state(|s| s.confirmed_until_ms = Some(NOW + 1), "pay")),
                "pay",
                None,
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "6 approval lapsed",
                Some(none),
                Some(state(|s| s.confirmed_until_ms = Some(NOW), "pay")),
                "pay",
                None,
                Decision::Confirm,
                Reason::ConfirmationRequired,
            ),
            (
                "6 rejected",
                Some(none),
                Some(state(|s| s.confirm_denied = true, "pay")),
                "pay",
                None,
                Decision::Deny,
                Reason::ConfirmationDenied,
            ),
            (
                "7 escalation needed",
                Some(none),
                None,
                "delete",
                None,
                Decision::Escalate,
                Reason::EscalationRequired,
            ),
            (
                "7 approved once",
                Some(none),
                Some(state(|s| s.escalation_grants = 1, "delete")),
                "delete",
                None,
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "7 rejected",
                Some(none),
                Some(state(|s| s.escalation_denied = true, "delete")),
                "delete",
                None,
                Decision::Deny,
                Reason::EscalationDenied,
            ),
            (
                "6 before 7",
                Some(none),
                None,
                "both",
                None,
                Decision::Confirm,
                Reason::ConfirmationRequired,
            ),
            (
                "7 after 6",
                Some(none),
                Some(state(|s| s.confirmed_until_ms = Some(NOW + 1), "both")),
                "both",
                None,
                Decision::Escalate,
                Reason::EscalationRequired,
            ),
            (
                "8 under the daily limit",
                Some(none),
                Some(state(
                    |s| {
                        s.day = NOW / DAY;
                        s.allowed_today = 1;
                    },
                    "send",
                )),
                "send",
                None,
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "8 daily limit reached",
                Some(none),
                Some(state(
                    |s| {
                        s.day = NOW / DAY;
                        s.allowed_today = 2;
                    },
                    "send",
                )),
                "send",
                None,
                Decision::Deny,
                Reason::RateLimitExceeded,
            ),
            (
                "8 yesterday's count",
                Some(none),
                Some(state(
                    |s| {
                        s.day = NOW / DAY - 1;
                        s.allowed_today = 2;
                    },
                    "send",
                )),
                "send",
                None,
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "9 allow",
                Some(none),
                None,
                "read",
                Some(10),
                Decision::Allow,
                Reason::Ok,
            ),
            (
                "order: revoked before expired",
                Some(|a| {
                    a.revoked_at_ms = Some(1);
                    a.grant.expires_at_ms = Some(1);
                }),
                None,
                "read",
                None,
                Decision::Deny,
                Reason::AuthorizationRevoked,
            ),
            (
                "order: expired before scope",
                Some(|a| a.grant.expires_at_ms = Some(1)),
                None,
                "wire",
                None,
                Decision::Deny,
                Reason::AuthorizationExpired,
            ),
            (
                "order: scope before budget",
                Some(|a| a.budget_spent_micros = 1_000),
                None,
                "wire",
                Some(1),
                Decision::Deny,
                Reason::ScopeNotAuthorized,
            ),
            (
                "order: budget before confirmation",
                Some(|a| a.budget_spent_micros = 1_000),
                None,
                "pay",
                Some(1),
                Decision::Deny,
                Reason::BudgetExceeded,
            ),
            (
                "order: escalation before daily limit",
                Some(none),
                None,
                "delete",
                None,
                Decision::Escalate,
                Reason::EscalationRequired,
            ),
        ];
        for (name, tweak, st, scope, cost, decision, reason) in rows {
            let mut a = auth();
            let found = tweak.map(|t| {
                t(&mut a);
                &a
            });
            let states: Vec<ScopeState> = st.into_iter().collect();
            let (d, r, out) = one(found, &states, scope, cost, NOW);
            assert_eq!((d, r), (decision, reason), "{name}");
            let chainless = matches!(
                reason,
                Reason::AuthorizationNotFound | Reason::AuthorizationRevoked
            );
            assert_eq!(out.scopes[0].receipt, !chainless, "{name}: receipt");
            assert_eq!(out.scopes[0].needs_nonce, d == Decision::Confirm, "{name}");
        }
    }

    #[test]
    fn allow_counts_and_charges_once() {
        let a = auth();
        let scopes = vec!["read".to_string(), "send".to_string(), "pay".to_string()];
        let out = check(Some(&a), &BTreeMap::new(), &scopes, Some(300), NOW);
        let got: Vec<_> = out.scopes.iter().map(|o| o.decision).collect();
        assert_eq!(got, [Decision::Allow, Decision::Allow, Decision::Confirm]);
        assert_eq!(out.charged_micros, 300);
        let budget = out.scopes[2].budget.unwrap();
        assert_eq!(
            (budget.spent_before_micros, budget.spent_after_micros),
            (0, 300)
        );
        // read and send counted; pay unchanged (nothing to write back).
        let counted: Vec<_> = out
            .changed
            .iter()
            .map(|s| (s.scope.as_str(), s.allowed_today))
            .collect();
        assert_eq!(counted, [("read", 1), ("send", 1)]);
    }

    #[test]
    fn nothing_allowed_nothing_charged() {
        let a = auth();
        let out = check(
            Some(&a),
            &BTreeMap::new(),
            &["pay".to_string()],
            Some(300),
            NOW,
        );
        assert_eq!(out.charged_micros, 0);
        assert_eq!(out.scopes[0].budget.unwrap().spent_after_micros, 0);
    }

    #[test]
    fn over_budget_denies_every_scope_of_the_check() {
        let mut a = auth();
        a.budget_spent_micros = 950;
        let scopes = vec!["read".to_string(), "send".to_string()];
        let out = check(Some(&a), &BTreeMap::new(), &scopes, Some(51), NOW);
        assert!(
            out.scopes
                .iter()
                .all(|o| o.reason == Reason::BudgetExceeded)
        );
        assert_eq!(out.charged_micros, 0);
    }

    #[test]
    fn rejections_deny_once_then_ask_again() {
        let a = auth();
        let denied = state(|s| s.confirm_denied = true, "pay");
        let (_, r, out) = one(Some(&a), &[denied], "pay", None, NOW);
        assert_eq!(r, Reason::ConfirmationDenied);
        let (_, r, _) = one(Some(&a), &out.changed, "pay", None, NOW);
        assert_eq!(r, Reason::ConfirmationRequired);

        let denied = state(|s| s.escalation_denied = true, "delete");
        let (_, r, out) = one(Some(&a), &[denied], "delete", None, NOW);
        assert_eq!(r, Reason::EscalationDenied);
        let (d, _, _) = one(Some(&a), &out.changed, "delete", None, NOW);
        assert_eq!(d, Decision::Escalate);
    }

    #[test]
    fn escalation_approval_allows_once_and_routes_to_its_target() {
        let a = auth();
        let (d, _, out) = one(Some(&a), &[], "delete", None, NOW);
        assert_eq!(d, Decision::Escalate);
        assert_eq!(out.scopes[0].escalation_to.as_deref(), Some("ops@example"));
        let approved = resolve_escalation(&ScopeState::new("delete"), true);
        let (d, _, out) = one(Some(&a), &[approved], "delete", None, NOW);
        assert_eq!(d, Decision::Allow);
        let (d, _, _) = one(Some(&a), &out.changed, "delete", None, NOW);
        assert_eq!(d, Decision::Escalate);
        // A rejection cancels unused approvals.
        let two = resolve_escalation(&resolve_escalation(&ScopeState::new("delete"), true), true);
        let rejected = resolve_escalation(&two, false);
        assert_eq!(
            (rejected.escalation_grants, rejected.escalation_denied),
            (0, true)
        );
    }

    #[test]
    fn confirmation_approval_lasts_its_ttl() {
        let a = auth();
        let ok = resolve_confirmation(&ScopeState::new("pay"), true, 60, NOW);
        assert_eq!(
            one(
                Some(&a),
                std::slice::from_ref(&ok),
                "pay",
                None,
                NOW + 59_999
            )
            .0,
            Decision::Allow
        );
        assert_eq!(
            one(Some(&a), &[ok], "pay", None, NOW + 60_000).0,
            Decision::Confirm
        );
        let no = resolve_confirmation(&ScopeState::new("pay"), false, 60, NOW);
        assert_eq!(
            one(Some(&a), &[no], "pay", None, NOW).1,
            Reason::ConfirmationDenied
        );
    }

    #[test]
    fn daily_limit_counts_allows_only_per_utc_day() {
        let a = auth();
        let mut states: Vec<ScopeState> = Vec::new();
        let mut got = Vec::new();
        for now in [NOW, NOW + 1, NOW + 2] {
            let (_, r, out) = one(Some(&a), &states, "send", None, now);
            if let Some(s) = out.changed.into_iter().next() {
                states = vec![s];
            }
            got.push(r);
        }
        assert_eq!(got, [Reason::Ok, Reason::Ok, Reason::RateLimitExceeded]);
        // The next UTC day starts at zero.
        let next_day = (NOW / DAY + 1) * DAY;
        assert_eq!(one(Some(&a), &states, "send", None, next_day).1, Reason::Ok);
        assert_eq!(
            one(Some(&a), &states, "send", None, next_day - 1).1,
            Reason::RateLimitExceeded
        );
    }

    #[test]
    fn budget_figures_only_with_a_limit() {
        let mut a = auth();
        a.grant.budget_limit_micros = None;
        let (_, _, out) = one(Some(&a), &[], "read", Some(5), NOW);
        assert_eq!(out.scopes[0].budget, None);
        assert_eq!(out.charged_micros, 5);
        let (_, _, out) = one(None, &[], "read", Some(5), NOW);
        assert_eq!(out.scopes[0].budget, None);
        assert_eq!(out.charged_micros, 0);
    }
}
