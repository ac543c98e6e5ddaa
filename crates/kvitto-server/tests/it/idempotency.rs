//! Idempotency-Key: a retry gets the first response and writes nothing;
//! the key with another body is 422.

use serde_json::{Value, json};

use crate::common::*;

fn retries_return_the_first_response_and_write_nothing(b: Backend) {
    let s = Server::start(b);
    let a = s.authorize(json!({"user_id": "u", "agent_id": "a",
        "scopes": [{"name": "send", "constraints": {"max_per_day": 3}}], "budget_limit_micros": 100}));
    let post = |key: &str, body: &Value| {
        let r = s
            .http
            .post(s.url("/v1/check"))
            .bearer_auth(&s.creds.api_key)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .unwrap();
        let replayed = r.headers().get("idempotent-replayed").is_some();
        (r.status().as_u16(), replayed, r.text().unwrap())
    };
    let body = json!({"authorization_id": a, "scopes": ["send"], "estimated_cost_micros": 40});
    let (st, replayed, first) = post("retry-1", &body);
    assert_eq!((st, replayed), (200, false));
    for _ in 0..3 {
        let (st, replayed, again) = post("retry-1", &body);
        assert_eq!((st, replayed), (200, true));
        assert_eq!(again, first, "the first response, byte for byte");
    }
    let (_, view) = s.get(&format!("/v1/authorizations/{a}"));
    assert_eq!(view["receipts"], 2, "one check receipt, not four");
    assert_eq!(view["counters"]["send"]["allowed_today"], 1);
    assert_eq!(view["budget_spent_micros"], 40);

    let other = json!({"authorization_id": a, "scopes": ["send"], "estimated_cost_micros": 41});
    let (st, _, text) = post("retry-1", &other);
    assert_eq!(st, 422, "{text}");
    assert!(text.contains("idempotency_key_reused"));
    // A 4xx stores nothing, so the key stays free.
    let (st, _, _) = post("retry-2", &json!({"authorization_id": a, "scopes": []}));
    assert_eq!(st, 400);
    let (st, replayed, _) = post("retry-2", &body);
    assert_eq!((st, replayed), (200, false));
    let (_, view) = s.get(&format!("/v1/authorizations/{a}"));
    assert_eq!(view["receipts"], 3);

    // Authorization creation is idempotent too.
    let create = |key: &str| {
        s.http
            .post(s.url("/v1/authorizations"))
            .bearer_auth(&s.creds.api_key)
            .header("Idempotency-Key", key)
            .json(&json!({"user_id": "u", "agent_id": "a", "scopes": ["x"]}))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()
    };
    assert_eq!(
        create("c-1")["authorization_id"],
        create("c-1")["authorization_id"]
    );
    let all = s.export_query(&s.creds.api_key, "since=2000-01-01T00:00:00Z");
    assert_eq!(kvitto_core::verify_export(&all, &[], true).chains.len(), 2);
}

on_both_backends!(retries_return_the_first_response_and_write_nothing,);
