//! The chain: appending a receipt (seq, prev, issued_at, the payload
//! built and checked with the core before it is stored).

use super::*;

/// The active key of a workspace, held for appending until the unit ends
/// (a concurrent rotation waits; see [`Tx::keys_for_append`]).
pub(super) fn active_key(tx: &mut dyn Tx, workspace_id: &str) -> Result<KeyRecord, Error> {
    tx.keys_for_append(workspace_id)?
        .into_iter()
        .find(|k| k.status == "active")
        .ok_or_else(|| Error::internal(format!("workspace {workspace_id} has no active key")))
}

/// A member error of `check_payload`, as a 400 naming the member.
pub(super) fn payload_error(e: kvitto_core::Error) -> Error {
    match e {
        kvitto_core::Error::BadStructure { path, reason } => {
            let member = path.strip_prefix("payload.").unwrap_or(&path).to_owned();
            Error::member(member, reason)
        }
        kvitto_core::Error::TooLarge { size, limit } => Error::member(
            "body",
            format!("the receipt would be {size} bytes, over the contract's limit of {limit}"),
        ),
        other => Error::member(
            "body",
            format!("the receipt would be invalid: {}: {other}", other.code()),
        ),
    }
}

/// Append a receipt of `kind` to `auth`'s chain: seq and prev from the
/// head, issued_at = max(now, the previous receipt's, the key's not_before),
/// payload checked as a verifier will check it. Returns its id and instant.
pub(super) fn append(
    tx: &mut dyn Tx,
    auth: &mut Authorization,
    key: &KeyRecord,
    kind: Kind,
    members: Vec<(&str, Value)>,
    now: i64,
) -> Result<(String, i64), Error> {
    let issued = now.max(auth.head_issued_at_ms).max(key.not_before_ms);
    if key.not_after_ms.is_some_and(|end| issued >= end) {
        return Err(Error::internal(format!("key {} no longer signs", key.kid)));
    }
    let receipt_id = ids::new_id("rcpt_", now)?;
    let issued_at = rfc3339_ms(issued);
    let prev = if auth.next_seq == 0 {
        None
    } else {
        Some(
            Hash::parse_strict(&auth.head_hash)
                .ok_or_else(|| Error::internal(format!("bad chain head of {}", auth.id)))?,
        )
    };
    let common = Common {
        receipt_id: &receipt_id,
        workspace_id: &auth.workspace_id,
        authorization_id: &auth.id,
        seq: auth.next_seq,
        prev,
        issued_at: &issued_at,
        kid: &key.kid,
    };
    let payload = sign::payload(kind, &common, members);
    sign::check_payload(&payload).map_err(payload_error)?;
    let canonical = kvitto_core::jcs::to_vec(&payload);
    let hash = Hash::of(&canonical).to_string();
    let text = String::from_utf8(canonical).map_err(|e| Error::internal(e.to_string()))?;
    tx.append_receipt(&NewReceipt {
        receipt_id: receipt_id.clone(),
        workspace_id: auth.workspace_id.clone(),
        authorization_id: auth.id.clone(),
        seq: auth.next_seq,
        kind: kind.as_str(),
        kid: key.kid.clone(),
        issued_at_ms: issued,
        payload: text,
        hash: hash.clone(),
    })?;
    auth.next_seq += 1;
    auth.head_hash = hash;
    auth.head_issued_at_ms = issued;
    Ok((receipt_id, issued))
}

pub(super) fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::from(s.as_str())).collect())
}

pub(super) fn nullable(s: Option<&str>) -> Value {
    s.map(Value::from).unwrap_or(Value::Null)
}

pub(super) fn int(n: i64) -> Value {
    Value::from(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_at_is_monotonic_and_inside_the_key_window_sqlite() {
        let (_dir, db, keys) = crate::store::tests::sqlite_store();
        issued_at_is_monotonic_and_inside_the_key_window(db, keys);
    }

    #[test]
    fn issued_at_is_monotonic_and_inside_the_key_window_postgres() {
        if let Some((db, keys)) = crate::store::tests::postgres_store("issued_at_postgres") {
            issued_at_is_monotonic_and_inside_the_key_window(db, keys);
        }
    }

    /// issued_at never goes back along a chain (a clock stepping back) and
    /// never precedes the signing key's not_before.
    fn issued_at_is_monotonic_and_inside_the_key_window(db: Arc<dyn Store>, keys: KeyVault) {
        let times = store::transact_blocking(&*db, move |tx| {
            let (ws, _, _) = create_workspace_unit(tx, &keys, 2_000_000)?;
            let key = active_key(tx, &ws)?;
            let grant = serde_json::from_value(serde_json::json!({
                "user_id": "u", "agent_id": "a", "scopes": [], "requires_confirm_for": [],
                "requires_escalation_for": [], "escalation_targets": {}, "expires_at_ms": null,
                "budget_limit_micros": null, "metadata": {}, "bundle_id": null
            }))
            .unwrap();
            let mut auth = Authorization::new("auth_t".into(), ws.clone(), grant, 0);
            tx.insert_authorization(&auth)?;
            let members = created_members(&auth.grant)?;
            // The clock says 1,000 ms, before the key's not_before (2,000,000).
            let (_, t0) = append(
                tx,
                &mut auth,
                &key,
                Kind::AuthorizationCreated,
                members,
                1_000,
            )?;
            let revoked = || vec![("revoked_by", Value::from("x"))];
            let (_, t1) = append(
                tx,
                &mut auth,
                &key,
                Kind::AuthorizationRevoked,
                revoked(),
                3_000_000,
            )?;
            // The clock steps back.
            let (_, t2) = append(
                tx,
                &mut auth,
                &key,
                Kind::AuthorizationRevoked,
                revoked(),
                2_500_000,
            )?;
            Ok((t0, t1, t2))
        })
        .unwrap();
        assert_eq!(times, (2_000_000, 3_000_000, 3_000_000));
        db.close();
    }

    #[test]
    fn payload_errors_name_the_member() {
        let e = payload_error(kvitto_core::Error::BadStructure {
            path: "payload.context".into(),
            reason: "missing".into(),
        });
        assert_eq!(e, Error::member("context", "missing"));
        let e = payload_error(kvitto_core::Error::TooLarge {
            size: 2_000_000,
            limit: 1 << 20,
        });
        assert_eq!(e.code(), "invalid_member");
        assert!(
            e.to_string()
                .starts_with("body: the receipt would be 2000000 bytes")
        );
    }
}
