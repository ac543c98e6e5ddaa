//! Bad input answers a clear 4xx with a code, and stores nothing.

use serde_json::{Value, json};

use crate::common::*;

fn bad_requests_answer_4xx_with_a_code_and_store_nothing(b: Backend) {
    let s = Server::start(b);
    let a = s.authorize(json!({"user_id": "u", "agent_id": "a", "scopes": ["x"]}));
    let auth = format!("Bearer {}", s.creds.api_key);
    let json_h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let check = |extra: &str| format!(r#"{{"authorization_id":"{a}","scopes":["x"]{extra}}}"#);
    let deep = format!(r#"{{"d":{}1{}}}"#, "[".repeat(40), "]".repeat(40));
    let too_deep = format!(r#"{{"d":{}1{}}}"#, "[".repeat(70), "]".repeat(70));
    let huge = format!(r#"{{"s":"{}"}}"#, "x".repeat(70_000));
    let revoke_path = format!("/v1/authorizations/{a}/revoke");
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("not JSON", "/v1/check", "{".into(), 400, "malformed_json"),
        ("trailing data", "/v1/check", format!("{} x", check("")), 400, "malformed_json"),
        ("duplicate member", "/v1/check", check(r#","scopes":["x"]"#), 400, "duplicate_key"),
        ("lone surrogate", "/v1/check", check(r#","resource":"\ud800""#), 400, "invalid_string"),
        ("number out of range", "/v1/check", check(r#","estimated_cost_micros":9007199254740992"#), 400, "number_out_of_range"),
        ("1e400", "/v1/check", check(r#","context":{"n":1e400}"#), 400, "number_out_of_range"),
        ("nesting over 64", "/v1/check", check(&format!(r#","context":{too_deep}"#)), 400, "too_deep"),
        ("context nested over 32", "/v1/check", check(&format!(r#","context":{deep}"#)), 400, "invalid_member"),
        ("context over 64 KiB", "/v1/check", check(&format!(r#","context":{huge}"#)), 400, "invalid_member"),
        ("wrong type", "/v1/check", format!(r#"{{"authorization_id":"{a}","scopes":"x"}}"#), 400, "invalid_request"),
        ("unknown member", "/v1/check", check(r#","scope":"x""#), 400, "invalid_request"),
        ("missing member", "/v1/check", format!(r#"{{"authorization_id":"{a}"}}"#), 400, "invalid_request"),
        ("negative cost", "/v1/check", check(r#","estimated_cost_micros":-1"#), 400, "invalid_member"),
        ("fractional cost", "/v1/check", check(r#","estimated_cost_micros":1.5"#), 400, "invalid_request"),
        ("no scopes", "/v1/check", format!(r#"{{"authorization_id":"{a}","scopes":[]}}"#), 400, "invalid_member"),
        ("duplicate scope", "/v1/check", format!(r#"{{"authorization_id":"{a}","scopes":["x","x"]}}"#), 400, "invalid_member"),
        ("bad scope name", "/v1/check", format!(r#"{{"authorization_id":"{a}","scopes":["x y"]}}"#), 400, "invalid_member"),
        ("bad id", "/v1/check", r#"{"authorization_id":"a b","scopes":["x"]}"#.into(), 400, "invalid_member"),
        ("resource too long", "/v1/check", check(&format!(r#","resource":"{}""#, "r".repeat(3000))), 400, "invalid_member"),
        ("e-mail as user_id", "/v1/authorizations", r#"{"user_id":"alice@example.com","agent_id":"a","scopes":["x"]}"#.into(), 400, "invalid_member"),
        ("unknown constraint", "/v1/authorizations", r#"{"user_id":"u","agent_id":"a","scopes":[{"name":"x","constraints":{"max_per_week":1}}]}"#.into(), 400, "invalid_request"),
        ("confirm for an ungranted scope", "/v1/authorizations", r#"{"user_id":"u","agent_id":"a","scopes":["x"],"requires_confirm_for":["y"]}"#.into(), 400, "invalid_member"),
        ("expires in the past", "/v1/authorizations", r#"{"user_id":"u","agent_id":"a","scopes":["x"],"expires_at":"2001-01-01T00:00:00Z"}"#.into(), 400, "invalid_member"),
        ("bad instant", "/v1/authorizations", r#"{"user_id":"u","agent_id":"a","scopes":["x"],"expires_at":"2099-01-01 00:00:00"}"#.into(), 400, "invalid_member"),
        ("budget out of range", "/v1/authorizations", r#"{"user_id":"u","agent_id":"a","scopes":["x"],"budget_limit_micros":-5}"#.into(), 400, "invalid_member"),
        ("metadata not an object", "/v1/authorizations", r#"{"user_id":"u","agent_id":"a","scopes":["x"],"metadata":[1]}"#.into(), 400, "invalid_request"),
        ("ttl out of range", "/v1/confirmations/cn_x", r#"{"approved":true,"ttl_seconds":99999999}"#.into(), 400, "invalid_member"),
        ("unknown nonce", "/v1/confirmations/cn_x", r#"{"approved":true}"#.into(), 404, "confirmation_not_found"),
        ("unknown escalation", "/v1/escalations/esc_x/resolve", r#"{"approved":true,"resolved_by":"b"}"#.into(), 404, "escalation_not_found"),
        ("revoke unknown", "/v1/authorizations/auth_x/revoke", r#"{"revoked_by":"b"}"#.into(), 404, "authorization_not_found"),
        ("revoke without revoked_by", &revoke_path, "{}".into(), 400, "invalid_request"),
    ];
    for (name, path, body, status, code) in &cases {
        let (st, text) = s.raw("POST", path, &json_h, body.clone().into_bytes());
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: not JSON: {text}"));
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (*status, Some(*code)),
            "{name}: {text}"
        );
        assert!(
            !v["error"]["message"].as_str().unwrap().is_empty(),
            "{name}"
        );
    }
    // Member names in messages.
    let (_, text) = s.raw(
        "POST",
        "/v1/check",
        &json_h,
        check(&format!(r#","context":{deep}"#)).into_bytes(),
    );
    assert!(text.contains("context.d"), "{text}");

    // Transport-level: media type, size, auth, routes, methods.
    let (st, t) = s.raw(
        "POST",
        "/v1/check",
        &[("authorization", &auth), ("content-type", "text/plain")],
        check("").into_bytes(),
    );
    assert_eq!(st, 415, "{t}");
    let big = check(&format!(
        r#","context":{{"s":"{}"}}"#,
        "x".repeat(300 * 1024)
    ));
    let (st, t) = s.raw("POST", "/v1/check", &json_h, big.into_bytes());
    assert_eq!(st, 413, "{t}");
    assert!(t.contains("body_too_large"));
    for (headers, what) in [
        (vec![("content-type", "application/json")], "no key"),
        (
            vec![
                ("content-type", "application/json"),
                ("authorization", "Bearer kvitto_sk_wrong"),
            ],
            "unknown key",
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("authorization", "Basic abc"),
            ],
            "not bearer",
        ),
    ] {
        let (st, t) = s.raw("POST", "/v1/check", &headers, check("").into_bytes());
        assert_eq!(st, 401, "{what}: {t}");
        assert!(t.contains("\"unauthorized\""), "{what}");
    }
    let (st, t) = s.raw("GET", "/v1/nope", &[], vec![]);
    assert_eq!((st, t.contains("route_not_found")), (404, true));
    let (st, t) = s.raw("DELETE", "/v1/check", &json_h, vec![]);
    assert_eq!((st, t.contains("method_not_allowed")), (405, true), "{t}");
    let (st, t) = s.raw(
        "GET",
        "/v1/receipts?authorization_id=x&bogus=1",
        &json_h,
        vec![],
    );
    assert_eq!((st, t.contains("invalid_request")), (400, true), "{t}");
    let (st, _) = s.raw(
        "GET",
        "/v1/receipts?authorization_id=x&limit=0",
        &json_h,
        vec![],
    );
    assert_eq!(st, 400);
    let (st, t) = s.raw("GET", "/v1/receipts/export", &json_h, vec![]);
    assert_eq!((st, t.contains("invalid_request")), (400, true), "{t}");
    let (st, _) = s.raw(
        "GET",
        "/v1/receipts/export?since=yesterday",
        &json_h,
        vec![],
    );
    assert_eq!(st, 400);

    // Nothing was stored: the chain holds only its first receipt, the
    // workspace one authorization.
    let (_, view) = s.get(&format!("/v1/authorizations/{a}"));
    assert_eq!(view["receipts"], 1);
    let all = s.export_query(&s.creds.api_key, "since=2000-01-01T00:00:00Z");
    assert_eq!(payloads(&all).len(), 1);
}

on_both_backends!(bad_requests_answer_4xx_with_a_code_and_store_nothing,);
