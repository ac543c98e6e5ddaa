//! Every decision path, a key rotation mid-trail and a revocation: the
//! exported receipts verify with kvitto-core, chain closed.

use serde_json::{Value, json};

use crate::common::*;

fn decision(results: &Value, scope: &str) -> (String, String) {
    let r = &results[scope];
    (
        r["decision"].as_str().unwrap().to_owned(),
        r["reason"].as_str().unwrap().to_owned(),
    )
}

fn expect(results: &Value, scope: &str, d: &str, reason: &str) -> Value {
    assert_eq!(
        decision(results, scope),
        (d.to_owned(), reason.to_owned()),
        "{results}"
    );
    results[scope].clone()
}

fn every_path_round_trips(b: Backend) {
    let s = Server::start(b);
    let user = kvitto_server::email_hmac(b"test pepper", "alice@example.com");
    let a = s.authorize(json!({
        "user_id": user,
        "agent_id": "agent-7",
        "scopes": ["mail:read", {"name": "mail:send", "constraints": {"max_per_day": 2}},
                   "payments:transfer", "records:delete"],
        "requires_confirm_for": ["payments:transfer"],
        "requires_escalation_for": ["records:delete"],
        "escalation_targets": {"records:delete": "ops-oncall"},
        "budget_limit_micros": 1000,
        "expires_at": null,
        "metadata": {"ticket": "T-1", "nested": {"n": [1, 2.5, null]}}
    }));

    // allow, with the budget figures
    let r = s.check(&a, &["mail:read"], Some(100));
    let allow = expect(&r, "mail:read", "allow", "ok");
    assert_eq!(
        allow["budget"],
        json!({"limit_micros": 1000, "spent_before_micros": 0, "spent_after_micros": 100})
    );
    assert_eq!(allow["receipt"]["status"], "pending");
    // scope_not_authorized
    expect(
        &s.check(&a, &["wire:send"], None),
        "wire:send",
        "deny",
        "scope_not_authorized",
    );
    // rate_limit_exceeded after two allows today
    expect(
        &s.check(&a, &["mail:send"], None),
        "mail:send",
        "allow",
        "ok",
    );
    expect(
        &s.check(&a, &["mail:send"], None),
        "mail:send",
        "allow",
        "ok",
    );
    expect(
        &s.check(&a, &["mail:send"], None),
        "mail:send",
        "deny",
        "rate_limit_exceeded",
    );
    // budget_exceeded denies every scope of the check
    let r = s.check(&a, &["mail:read", "mail:send"], Some(901));
    expect(&r, "mail:read", "deny", "budget_exceeded");
    expect(&r, "mail:send", "deny", "budget_exceeded");
    // confirm -> approve -> allow
    let c = expect(
        &s.check(&a, &["payments:transfer"], None),
        "payments:transfer",
        "confirm",
        "confirmation_required",
    );
    let nonce = c["confirm_nonce"].as_str().unwrap().to_owned();
    assert!(
        c["confirm_prompt_hint"]
            .as_str()
            .unwrap()
            .contains("payments:transfer")
    );
    let (st, v) = s.post(
        &format!("/v1/confirmations/{nonce}"),
        &json!({"approved": true, "ttl_seconds": 600}),
    );
    assert_eq!(st, 200, "{v}");
    expect(
        &s.check(&a, &["payments:transfer"], Some(50)),
        "payments:transfer",
        "allow",
        "ok",
    );
    let (st, v) = s.post(
        &format!("/v1/confirmations/{nonce}"),
        &json!({"approved": true}),
    );
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("already_resolved"))
    );
    // escalate -> resolve -> allow once -> escalate again -> reject -> escalation_denied
    let e = expect(
        &s.check(&a, &["records:delete"], None),
        "records:delete",
        "escalate",
        "escalation_required",
    );
    assert_eq!(e["escalation_to"], "ops-oncall");
    let esc = e["escalation_id"].as_str().unwrap().to_owned();
    let (st, v) = s.post(
        &format!("/v1/escalations/{esc}/resolve"),
        &json!({"approved": true, "resolved_by": "bob"}),
    );
    assert_eq!(st, 200, "{v}");

    // A key rotation mid-trail.
    let ws = s.creds.workspace_id.clone();
    let (st, rot) = s.post(&format!("/v1/workspaces/{ws}/keys/rotate"), &json!({}));
    assert_eq!(st, 200, "{rot}");
    assert_eq!(rot["retired_kid"], s.creds.kid.as_str());
    let new_kid = rot["kid"].as_str().unwrap().to_owned();

    expect(
        &s.check(&a, &["records:delete"], None),
        "records:delete",
        "allow",
        "ok",
    );
    let e = expect(
        &s.check(&a, &["records:delete"], None),
        "records:delete",
        "escalate",
        "escalation_required",
    );
    let esc2 = e["escalation_id"].as_str().unwrap().to_owned();
    let (st, _) = s.post(
        &format!("/v1/escalations/{esc2}/resolve"),
        &json!({"approved": false, "resolved_by": "bob"}),
    );
    assert_eq!(st, 200);
    expect(
        &s.check(&a, &["records:delete"], None),
        "records:delete",
        "deny",
        "escalation_denied",
    );
    // the confirmation approval still holds (ttl 600 s)
    let c = expect(
        &s.check(&a, &["payments:transfer"], None),
        "payments:transfer",
        "allow",
        "ok",
    );
    assert!(c["confirm_nonce"].is_null());
    // revoke, then checks have no chain to write to
    let (st, v) = s.post(
        &format!("/v1/authorizations/{a}/revoke"),
        &json!({"revoked_by": "alice"}),
    );
    assert_eq!(st, 200, "{v}");
    let after = expect(
        &s.check(&a, &["mail:read"], None),
        "mail:read",
        "deny",
        "authorization_revoked",
    );
    assert!(after["receipt"].is_null());
    let (st, v) = s.post(
        &format!("/v1/authorizations/{a}/revoke"),
        &json!({"revoked_by": "alice"}),
    );
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("authorization_revoked"))
    );
    let unknown = expect(
        &s.check("auth_nope", &["mail:read"], None),
        "mail:read",
        "deny",
        "authorization_not_found",
    );
    assert!(unknown["receipt"].is_null());

    // The state view.
    let (st, view) = s.get(&format!("/v1/authorizations/{a}"));
    assert_eq!(st, 200);
    assert_eq!(view["status"], "revoked");
    assert_eq!(view["budget_spent_micros"], 150);
    assert_eq!(view["counters"]["mail:send"]["allowed_today"], 2);

    // Export, verify, chain closed.
    let export = s.export(&a);
    let report = s.verify(&export);
    assert_valid(&report);
    assert_eq!(report.chains.len(), 1);
    assert!(report.chains[0].closed, "a revoked chain is closed");
    let ps = payloads(&export);
    let kinds: Vec<&str> = ps.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"authorization.created"));
    assert_eq!(kinds.last(), Some(&"authorization.revoked"));
    for k in ["check", "confirmation.resolved", "escalation.resolved"] {
        assert!(kinds.contains(&k), "{k}");
    }
    assert_eq!(ps.len(), 19);
    // seq contiguous, both keys used, in order.
    for (i, p) in ps.iter().enumerate() {
        assert_eq!(p["seq"], i as u64);
    }
    let kids: Vec<&str> = ps.iter().map(|p| p["kid"].as_str().unwrap()).collect();
    let first_new = kids.iter().position(|k| *k == new_kid).unwrap();
    assert!(kids[..first_new].iter().all(|k| *k == s.creds.kid));
    assert!(kids[first_new..].iter().all(|k| *k == new_kid));
    assert_eq!(ps[0]["user_id"], user.as_str());
    assert_eq!(
        ps[0]["scopes"][1],
        json!({"name": "mail:send", "constraints": {"max_per_day": 2}})
    );
    assert_eq!(ps[0]["metadata"]["nested"]["n"], json!([1, 2.5, null]));

    // The chain also verifies as an explicit list.
    let lines: Vec<&[u8]> = export
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let keys = kvitto_core::KeySet::from_bytes(&s.key_document(&ws), None).unwrap();
    let chain = kvitto_core::verify_chain(&lines, std::slice::from_ref(&keys));
    assert!(chain.is_ok() && chain.closed, "{chain:?}");

    // GET one receipt: exactly the exported line.
    let rid = ps[5]["receipt_id"].as_str().unwrap();
    let (st, body) = s.raw(
        "GET",
        &format!("/v1/receipts/{rid}"),
        &[("authorization", &format!("Bearer {}", s.creds.api_key))],
        vec![],
    );
    assert_eq!(st, 200);
    assert_eq!(body.as_bytes(), lines[5]);

    // Paging through GET /v1/receipts gives the same receipts.
    let mut paged = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let q = match after {
            Some(n) => format!("/v1/receipts?authorization_id={a}&limit=5&after_seq={n}"),
            None => format!("/v1/receipts?authorization_id={a}&limit=5"),
        };
        let (st, page) = s.get(&q);
        assert_eq!(st, 200, "{page}");
        assert_eq!(page["pending"], 0);
        for r in page["receipts"].as_array().unwrap() {
            paged.push(r["payload"]["receipt_id"].as_str().unwrap().to_owned());
        }
        match page["next_after_seq"].as_u64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let ids: Vec<String> = ps
        .iter()
        .map(|p| p["receipt_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paged, ids);

    // The key document: the old key retired at the rotation instant, its private half destroyed.
    let doc: Value = serde_json::from_slice(&s.key_document(&ws)).unwrap();
    let old = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == s.creds.kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["status"], "retired");
    assert_eq!(old["not_after"], rot["at"]);
    assert!(old.get("d").is_none());
    eventually("the retired private key destroyed", || {
        (!s.private_key_present(&s.creds.kid)).then_some(())
    });
    assert!(s.private_key_present(&new_kid));
}

fn a_rejected_confirmation_denies_once(b: Backend) {
    let s = Server::start(b);
    let a = s.authorize(json!({
        "user_id": "u_1", "agent_id": "agent", "scopes": ["pay", "read"],
        "requires_confirm_for": ["pay"]
    }));
    let c = s.check(&a, &["pay", "read"], None);
    assert_eq!(decision(&c, "pay").0, "confirm");
    assert_eq!(decision(&c, "read").0, "allow");
    let nonce = c["pay"]["confirm_nonce"].as_str().unwrap().to_owned();
    let (st, _) = s.post(
        &format!("/v1/confirmations/{nonce}"),
        &json!({"approved": false}),
    );
    assert_eq!(st, 200);
    let pay = &s.check(&a, &["pay"], None);
    assert_eq!(
        decision(pay, "pay"),
        ("deny".into(), "confirmation_denied".into())
    );
    assert_eq!(
        decision(&s.check(&a, &["pay"], None), "pay").1,
        "confirmation_required"
    );
    let report = s.verify(&s.export(&a));
    assert_valid(&report);
    assert!(!report.chains[0].closed);
}

fn past_expires_at_every_check_denies_with_a_receipt(b: Backend) {
    let s = Server::start(b);
    // No assertion needs the authorization still valid, so a slow machine
    // only waits longer.
    let soon = kvitto_server::clock::rfc3339_ms(kvitto_server::clock::now_ms() + 1500);
    let a = s.authorize(
        json!({"user_id": "u_1", "agent_id": "agent", "scopes": ["read"], "expires_at": soon}),
    );
    let r = eventually("expiry", || {
        let r = s.check(&a, &["read"], None);
        (r["read"]["reason"] == "authorization_expired").then_some(r)
    });
    assert_eq!(r["read"]["decision"], "deny");
    assert!(r["read"]["receipt"].is_object());
    let (_, view) = s.get(&format!("/v1/authorizations/{a}"));
    assert_eq!(view["status"], "expired");
    let export = s.export(&a);
    let report = s.verify(&export);
    assert_valid(&report);
    assert_eq!(
        payloads(&export).last().unwrap()["reason"],
        "authorization_expired"
    );

    // A workspace export over a range covers the whole chain.
    let all = s.export_query(&s.creds.api_key, "since=1970-01-01T00:00:00Z");
    assert_eq!(payloads(&all).len(), payloads(&export).len());
    assert_valid(&s.verify(&all));
}

fn bundles_fill_in_agent_and_scopes(b: Backend) {
    let s = Server::start(b);
    let (st, b) = s.post(
        "/v1/bundles",
        &json!({
            "bundle_id": "mail-assistant", "agent_id": "agent-mail",
            "scopes": ["mail:read", {"name": "mail:send", "constraints": {"max_per_day": 5}}],
            "requires_confirm_for": ["mail:send"]
        }),
    );
    assert_eq!(st, 201, "{b}");
    let (st, again) = s.post(
        "/v1/bundles",
        &json!({"bundle_id": "mail-assistant", "agent_id": "x", "scopes": ["a"]}),
    );
    assert_eq!(
        (st, again["error"]["code"].as_str()),
        (409, Some("bundle_exists"))
    );
    let (st, list) = s.get("/v1/bundles");
    assert_eq!(st, 200);
    assert_eq!(list["bundles"][0]["bundle_id"], "mail-assistant");
    let a = s.authorize(json!({"user_id": "u_2", "bundle_id": "mail-assistant"}));
    assert_eq!(
        decision(&s.check(&a, &["mail:send"], None), "mail:send").0,
        "confirm"
    );
    let ps = payloads(&s.export(&a));
    assert_eq!(ps[0]["agent_id"], "agent-mail");
    assert_eq!(ps[0]["bundle_id"], "mail-assistant");
    assert_eq!(ps[0]["requires_confirm_for"], json!(["mail:send"]));
    let (st, v) = s.post(
        "/v1/authorizations",
        &json!({"user_id": "u", "bundle_id": "nope"}),
    );
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (404, Some("bundle_not_found"))
    );
    let (st, v) = s.post(
        "/v1/authorizations",
        &json!({"user_id": "u", "bundle_id": "mail-assistant", "agent_id": "x"}),
    );
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("invalid_member"))
    );
}

on_both_backends!(
    every_path_round_trips,
    a_rejected_confirmation_denies_once,
    past_expires_at_every_check_denies_with_a_receipt,
    bundles_fill_in_agent_and_scopes,
);
