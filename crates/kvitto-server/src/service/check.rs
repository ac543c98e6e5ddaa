//! A check: the validated request and its unit of work.

use super::*;

/// A validated check request.
#[derive(Debug, Clone)]
pub struct Check {
    pub authorization_id: String,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub session_id: Option<String>,
    pub context: Value,
    pub estimated_cost_micros: Option<i64>,
}

impl Check {
    /// Validate a check request: ids, scope names, sizes and ranges.
    pub fn new(req: wire::CheckRequest) -> Result<Check, Error> {
        validate::id("authorization_id", &req.authorization_id)?;
        if req.scopes.is_empty() || req.scopes.len() > MAX_CHECK_SCOPES {
            return Err(Error::member(
                "scopes",
                format!("must name 1 to {MAX_CHECK_SCOPES} scopes"),
            ));
        }
        for (i, s) in req.scopes.iter().enumerate() {
            validate::scope(&format!("scopes[{i}]"), s)?;
            if req.scopes[..i].contains(s) {
                return Err(Error::member(
                    format!("scopes[{i}]"),
                    format!("{s:?} is listed twice"),
                ));
            }
        }
        if let Some(r) = &req.resource {
            validate::text("resource", r, validate::MAX_RESOURCE_BYTES)?;
        }
        if let Some(s) = &req.session_id {
            validate::text("session_id", s, MAX_TEXT_BYTES)?;
        }
        if let Some(c) = req.estimated_cost_micros {
            validate::micros("estimated_cost_micros", c)?;
        }
        let context = validate::object("context", &req.context.unwrap_or_default())?;
        Ok(Check {
            authorization_id: req.authorization_id,
            scopes: req.scopes,
            resource: req.resource,
            session_id: req.session_id,
            context,
            estimated_cost_micros: req.estimated_cost_micros,
        })
    }
}

pub(super) fn check_unit(
    app: &App,
    tx: &mut dyn Tx,
    ws: &str,
    check: &Check,
    now: i64,
) -> Result<Reply, Error> {
    let auth = tx.lock_authorization(ws, &check.authorization_id)?;
    let states: BTreeMap<String, ScopeState> = match &auth {
        Some(a) if a.revoked_at_ms.is_none() => tx
            .scope_states(&a.id)?
            .into_iter()
            .map(|s| (s.scope.clone(), s))
            .collect(),
        _ => BTreeMap::new(),
    };
    let out = decide::check(
        auth.as_ref(),
        &states,
        &check.scopes,
        check.estimated_cost_micros,
        now,
    );
    let mut results = Vec::with_capacity(out.scopes.len());
    let mut receipts = 0;
    let mut auth = auth;
    let key = match &auth {
        Some(_) if out.scopes.iter().any(|o| o.receipt) => Some(active_key(tx, ws)?),
        _ => None,
    };
    for o in &out.scopes {
        let budget_value = o.budget.map(|b| {
            sign::object([
                ("limit_micros", int(b.limit_micros)),
                ("spent_before_micros", int(b.spent_before_micros)),
                ("spent_after_micros", int(b.spent_after_micros)),
            ])
        });
        let mut result = wire::ScopeResult {
            decision: o.decision.as_str().into(),
            reason: o.reason.as_str().into(),
            receipt: None,
            confirm_nonce: None,
            confirm_prompt_hint: None,
            escalation_id: None,
            escalation_to: o.escalation_to.clone(),
            budget: o.budget.map(|b| wire::BudgetView {
                limit_micros: b.limit_micros,
                spent_before_micros: b.spent_before_micros,
                spent_after_micros: b.spent_after_micros,
            }),
        };
        if let (true, Some(a), Some(key)) = (o.receipt, auth.as_mut(), key.as_ref()) {
            if o.needs_nonce {
                result.confirm_nonce = Some(ids::new_token("cn_", 16)?);
                result.confirm_prompt_hint = Some(match &check.resource {
                    Some(r) => format!("Allow {} to use {} on {r}?", a.grant.agent_id, o.scope),
                    None => format!("Allow {} to use {}?", a.grant.agent_id, o.scope),
                });
            }
            if o.decision == Decision::Escalate {
                result.escalation_id = Some(ids::new_id("esc_", now)?);
            }
            let members = vec![
                ("scope", Value::from(o.scope.as_str())),
                ("decision", Value::from(o.decision.as_str())),
                ("reason", Value::from(o.reason.as_str())),
                ("resource", nullable(check.resource.as_deref())),
                ("session_id", nullable(check.session_id.as_deref())),
                ("context", check.context.clone()),
                (
                    "estimated_cost_micros",
                    check.estimated_cost_micros.map(int).unwrap_or(Value::Null),
                ),
                ("budget", budget_value.unwrap_or(Value::Null)),
                ("confirm_nonce", nullable(result.confirm_nonce.as_deref())),
                ("escalation_id", nullable(result.escalation_id.as_deref())),
                ("escalation_to", nullable(result.escalation_to.as_deref())),
            ];
            let (rid, _) = append(tx, a, key, Kind::Check, members, now)?;
            receipts += 1;
            for (kind, id) in [
                (PendingKind::Confirmation, &result.confirm_nonce),
                (PendingKind::Escalation, &result.escalation_id),
            ] {
                if let Some(id) = id {
                    tx.insert_pending(
                        kind,
                        &Pending {
                            id: id.clone(),
                            workspace_id: ws.to_owned(),
                            authorization_id: a.id.clone(),
                            scope: o.scope.clone(),
                            target: result.escalation_to.clone(),
                            status: "pending".into(),
                            created_at_ms: now,
                        },
                    )?;
                }
            }
            result.receipt = Some(app.receipt_ref(&rid, now));
        }
        results.push((o.scope.clone(), result));
    }
    if let Some(a) = auth.as_mut()
        && receipts > 0
    {
        a.budget_spent_micros += out.charged_micros;
        for s in &out.changed {
            tx.put_scope_state(&a.id, s)?;
        }
        tx.update_authorization(a)?;
    }
    let body = json(&wire::CheckResponse {
        results: wire::OrderedResults(results),
    })?;
    Ok(Reply {
        status: 200,
        body,
        replayed: false,
        receipts,
        decisions: out.scopes.iter().map(|o| o.decision).collect(),
    })
}
