//! Validating what an authorization or bundle grants, and the
//! `authorization.created` members of a grant.

use super::*;

/// The scope list of a grant, validated: 1 to 256 distinct names.
pub(super) fn scope_grants(
    member: &str,
    specs: &[wire::ScopeSpec],
) -> Result<Vec<ScopeGrant>, Error> {
    if specs.is_empty() || specs.len() > MAX_SCOPES {
        return Err(Error::member(
            member,
            format!("must hold 1 to {MAX_SCOPES} scopes"),
        ));
    }
    let mut out: Vec<ScopeGrant> = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        validate::scope(&format!("{member}[{i}]"), &s.name)?;
        if out.iter().any(|g| g.name == s.name) {
            return Err(Error::member(
                format!("{member}[{i}]"),
                format!("scope {:?} is listed twice", s.name),
            ));
        }
        if let Some(n) = s.max_per_day
            && n > validate::MAX_MICROS as u64
        {
            return Err(Error::member(
                format!("{member}[{i}].constraints.max_per_day"),
                "is too large",
            ));
        }
        out.push(ScopeGrant {
            name: s.name.clone(),
            max_per_day: s.max_per_day,
        });
    }
    Ok(out)
}

/// requires_confirm_for / requires_escalation_for / escalation_targets, checked against the scopes.
pub(super) fn scope_rules(
    scopes: &[ScopeGrant],
    confirm: &[String],
    escalate: &[String],
    targets: &BTreeMap<String, String>,
) -> Result<(), Error> {
    for (member, list) in [
        ("requires_confirm_for", confirm),
        ("requires_escalation_for", escalate),
    ] {
        for (i, s) in list.iter().enumerate() {
            if !scopes.iter().any(|g| &g.name == s) {
                return Err(Error::member(
                    format!("{member}[{i}]"),
                    format!("{s:?} is not one of the granted scopes"),
                ));
            }
            if list[..i].contains(s) {
                return Err(Error::member(
                    format!("{member}[{i}]"),
                    format!("{s:?} is listed twice"),
                ));
            }
        }
    }
    for (scope, target) in targets {
        if !escalate.contains(scope) {
            return Err(Error::member(
                format!("escalation_targets.{scope}"),
                "names a scope that is not in requires_escalation_for",
            ));
        }
        validate::text(
            &format!("escalation_targets.{scope}"),
            target,
            MAX_TEXT_BYTES,
        )?;
    }
    Ok(())
}

/// The grant of a create request, with its bundle (if named) filled in.
pub(super) fn build_grant(
    req: &wire::CreateAuthorization,
    bundle: Option<&Bundle>,
    now: i64,
) -> Result<Grant, Error> {
    validate::id("user_id", &req.user_id)?;
    let (agent_id, scopes) = match (bundle, &req.agent_id, &req.scopes) {
        (Some(b), None, None) => (b.agent_id.clone(), b.scopes.clone()),
        (Some(_), _, _) => {
            return Err(Error::member(
                "bundle_id",
                "give either bundle_id, or agent_id and scopes, not both",
            ));
        }
        (None, Some(agent), Some(scopes)) => (agent.clone(), scope_grants("scopes", scopes)?),
        (None, None, _) => {
            return Err(Error::member("agent_id", "is required (or give bundle_id)"));
        }
        (None, _, None) => return Err(Error::member("scopes", "is required (or give bundle_id)")),
    };
    validate::id("agent_id", &agent_id)?;
    let pick = |given: &Option<Vec<String>>, from: Option<&Vec<String>>| {
        given.clone().or_else(|| from.cloned()).unwrap_or_default()
    };
    let confirm = pick(
        &req.requires_confirm_for,
        bundle.map(|b| &b.requires_confirm_for),
    );
    let escalate = pick(
        &req.requires_escalation_for,
        bundle.map(|b| &b.requires_escalation_for),
    );
    let targets = req
        .escalation_targets
        .clone()
        .or_else(|| bundle.map(|b| b.escalation_targets.clone()))
        .unwrap_or_default();
    scope_rules(&scopes, &confirm, &escalate, &targets)?;
    let expires_at_ms = match &req.expires_at {
        None => None,
        Some(s) => {
            let ms = parse_ms(s).ok_or_else(|| {
                Error::member(
                    "expires_at",
                    "must be an RFC 3339 UTC instant like 2026-11-22T01:15:00Z",
                )
            })?;
            if ms <= now {
                return Err(Error::member("expires_at", "is not in the future"));
            }
            Some(ms)
        }
    };
    let budget = req
        .budget_limit_micros
        .or(bundle.and_then(|b| b.budget_limit_micros));
    if let Some(b) = budget {
        validate::micros("budget_limit_micros", b)?;
    }
    let metadata = req.metadata.clone().unwrap_or_default();
    validate::object("metadata", &metadata)?;
    Ok(Grant {
        user_id: req.user_id.clone(),
        agent_id,
        scopes,
        requires_confirm_for: confirm,
        requires_escalation_for: escalate,
        escalation_targets: targets,
        expires_at_ms,
        budget_limit_micros: budget,
        metadata,
        bundle_id: bundle.map(|b| b.bundle_id.clone()),
    })
}

/// The `authorization.created` members of a grant.
pub(super) fn created_members(g: &Grant) -> Result<Vec<(&'static str, Value)>, Error> {
    let scopes = g
        .scopes
        .iter()
        .map(|s| {
            let constraints = match s.max_per_day {
                Some(n) => sign::object([("max_per_day", Value::from(n))]),
                None => Value::Object(Vec::new()),
            };
            sign::object([
                ("name", Value::from(s.name.as_str())),
                ("constraints", constraints),
            ])
        })
        .collect();
    let targets = Value::Object(
        g.escalation_targets
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    );
    let mut m = vec![
        ("user_id", Value::from(g.user_id.as_str())),
        ("agent_id", Value::from(g.agent_id.as_str())),
        ("scopes", Value::Array(scopes)),
        ("requires_confirm_for", strings(&g.requires_confirm_for)),
        (
            "requires_escalation_for",
            strings(&g.requires_escalation_for),
        ),
        ("escalation_targets", targets),
        (
            "expires_at",
            g.expires_at_ms
                .map(|ms| Value::from(rfc3339_ms(ms)))
                .unwrap_or(Value::Null),
        ),
        (
            "budget_limit_micros",
            g.budget_limit_micros.map(int).unwrap_or(Value::Null),
        ),
        ("metadata", validate::object("metadata", &g.metadata)?),
    ];
    if let Some(b) = &g.bundle_id {
        m.push(("bundle_id", Value::from(b.as_str())));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_validated_against_their_scopes() {
        let base = || wire::CreateAuthorization {
            user_id: "u_1".into(),
            agent_id: Some("agent".into()),
            scopes: Some(vec![wire::ScopeSpec {
                name: "a".into(),
                max_per_day: Some(3),
            }]),
            bundle_id: None,
            requires_confirm_for: None,
            requires_escalation_for: None,
            escalation_targets: None,
            expires_at: None,
            budget_limit_micros: None,
            metadata: None,
        };
        assert!(build_grant(&base(), None, 0).is_ok());
        let mut r = base();
        r.requires_confirm_for = Some(vec!["b".into()]);
        assert_eq!(
            build_grant(&r, None, 0).unwrap_err().to_string(),
            "requires_confirm_for[0]: \"b\" is not one of the granted scopes"
        );
        let mut r = base();
        r.escalation_targets = Some([("a".to_string(), "ops".to_string())].into());
        assert!(
            build_grant(&r, None, 0)
                .unwrap_err()
                .to_string()
                .starts_with("escalation_targets.a")
        );
        let mut r = base();
        r.expires_at = Some("2020-01-01T00:00:00Z".into());
        assert!(build_grant(&r, None, now_ms()).is_err());
        let mut r = base();
        r.user_id = "alice@example.com".into();
        assert!(
            build_grant(&r, None, 0)
                .unwrap_err()
                .to_string()
                .contains("pii-id")
        );
        let mut r = base();
        r.agent_id = None;
        assert_eq!(
            build_grant(&r, None, 0).unwrap_err().to_string(),
            "agent_id: is required (or give bundle_id)"
        );
    }
}
