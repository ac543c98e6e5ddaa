//! Workspaces are isolated (another's ids are 404, never 403); the key
//! document is public with ETag and Cache-Control; pii-id; OpenAPI.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;

fn another_workspace_sees_nothing(b: Backend) {
    let s = Server::start(b);
    let a = s.authorize(json!({"user_id": "u", "agent_id": "a", "scopes": ["x"]}));
    let r = s.check(&a, &["x"], None);
    let rid = r["x"]["receipt"]["receipt_id"].as_str().unwrap().to_owned();
    let other = s.new_workspace();
    let k = other.api_key.as_str();
    let (st, v) = s.post_as(
        k,
        "/v1/check",
        &json!({"authorization_id": a, "scopes": ["x"]}),
    );
    assert_eq!(st, 200);
    assert_eq!(v["results"]["x"]["reason"], "authorization_not_found");
    assert!(v["results"]["x"]["receipt"].is_null());
    for path in [
        format!("/v1/authorizations/{a}"),
        format!("/v1/receipts/{rid}"),
        format!("/v1/receipts?authorization_id={a}"),
        format!("/v1/receipts/export?authorization_id={a}"),
    ] {
        let (st, v) = s.get_as(k, &path);
        assert_eq!(st, 404, "{path}: {v}");
        assert!(v["error"]["code"].as_str().unwrap().ends_with("_not_found"));
    }
    let (st, v) = s.post_as(
        k,
        &format!("/v1/authorizations/{a}/revoke"),
        &json!({"revoked_by": "x"}),
    );
    assert_eq!(st, 404, "{v}");
    let (st, v) = s.post_as(
        k,
        &format!("/v1/workspaces/{}/keys/rotate", s.creds.workspace_id),
        &json!({}),
    );
    assert_eq!(st, 404, "{v}");
    // The other workspace's range export is empty; its own authorization works.
    assert!(s.export_query(k, "since=2000-01-01T00:00:00Z").is_empty());
    let (st, v) = s.post_as(
        k,
        "/v1/authorizations",
        &json!({"user_id": "u", "agent_id": "a", "scopes": ["x"]}),
    );
    assert_eq!(st, 201, "{v}");
    // Nothing changed in the first workspace.
    let (_, view) = s.get(&format!("/v1/authorizations/{a}"));
    assert_eq!(view["receipts"], 2);
}

fn key_document_is_public_and_cacheable(b: Backend) {
    let s = Server::start(b);
    let ws = &s.creds.workspace_id;
    let r = s
        .http
        .get(s.url(&format!("/v1/workspaces/{ws}/keys")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    let body = r.bytes().unwrap();
    assert_eq!(etag, format!("\"{}\"", kvitto_core::Hash::of(&body)));
    let keys = kvitto_core::KeySet::from_bytes(&body, None).unwrap();
    assert_eq!(keys.keys()[0].kid, s.creds.kid);
    let r = s
        .http
        .get(s.url(&format!("/v1/workspaces/{ws}/keys")))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);
    let (st, _) = s.get("/v1/workspaces/ws_nope/keys");
    assert_eq!(st, 404);
    let (st, h) = s.get("/healthz");
    assert_eq!((st, h["status"].as_str()), (200, Some("ok")));
}

fn openapi_describes_every_route(b: Backend) {
    let s = Server::start(b);
    let (st, doc) = s.get("/openapi.json");
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/v1/authorizations",
        "/v1/authorizations/{id}",
        "/v1/authorizations/{id}/revoke",
        "/v1/check",
        "/v1/confirmations/{nonce}",
        "/v1/escalations/{id}/resolve",
        "/v1/bundles",
        "/v1/receipts",
        "/v1/receipts/{id}",
        "/v1/receipts/export",
        "/v1/workspaces/{id}/keys",
        "/v1/workspaces/{id}/keys/rotate",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    let check: &Value = &doc["components"]["schemas"]["CheckRequest"];
    assert_eq!(
        check["additionalProperties"], false,
        "unknown members are rejected"
    );
}

#[test]
fn pii_id_matches_the_shared_vectors() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/email_hmac.json"
    ))
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    for case in doc["cases"].as_array().unwrap() {
        let out = Command::new(BIN)
            .args([
                "pii-id",
                "--pepper-env",
                "KVITTO_TEST_PEPPER",
                case["email"].as_str().unwrap(),
            ])
            .env("KVITTO_TEST_PEPPER", case["pepper"].as_str().unwrap())
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            case["id"].as_str().unwrap()
        );
    }
    let out = Command::new(BIN)
        .args(["pii-id", "--pepper-env", "KVITTO_UNSET_PEPPER", "a@b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("a@b"),
        "never echoes the address"
    );
}

fn cli_rotation_beside_a_running_server_then_revocation(b: Backend) {
    let s = Server::start(b);
    let a = s.authorize(json!({"user_id": "u", "agent_id": "a", "scopes": ["x"]}));
    for _ in 0..10 {
        s.check(&a, &["x"], None);
    }
    let out = s
        .cmd()
        .args([
            "keys",
            "rotate",
            "--format",
            "json",
            "--workspace",
            &s.creds.workspace_id,
        ])
        .args(s.storage_args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rot: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_kid = rot["kid"].as_str().unwrap().to_owned();
    // The running server signs with the new key from now on.
    for _ in 0..10 {
        s.check(&a, &["x"], None);
    }
    let export = s.export(&a);
    assert_valid(&s.verify(&export));
    let ps = payloads(&export);
    assert_eq!(ps.last().unwrap()["kid"], new_kid.as_str());
    assert_eq!(ps[1]["kid"], s.creds.kid.as_str());
    // Destroyed by the CLI, or by the server if it still held pending
    // receipts of the old key when the CLI looked.
    eventually("the old private key destroyed", || {
        (!s.private_key_present(&s.creds.kid)).then_some(())
    });
    assert!(s.private_key_present(&new_kid));

    // Revoking the old key voids what it signed: those receipts fail key_revoked.
    let out = s
        .cmd()
        .args([
            "keys",
            "revoke",
            "--workspace",
            &s.creds.workspace_id,
            "--kid",
            &s.creds.kid,
        ])
        .args(s.storage_args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = s.verify(&export);
    let codes: Vec<&str> = report
        .records
        .iter()
        .filter_map(|r| r.outcome.error().map(|e| e.code()))
        .collect();
    assert_eq!(
        codes.len(),
        11,
        "seq 0 and the ten checks before the rotation"
    );
    assert!(codes.iter().all(|c| *c == "key_revoked"));
    let doc: Value = serde_json::from_slice(&s.key_document(&s.creds.workspace_id)).unwrap();
    let statuses: Vec<&str> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["revoked", "active"]);
}

on_both_backends!(
    another_workspace_sees_nothing,
    key_document_is_public_and_cacheable,
    openapi_describes_every_route,
    cli_rotation_beside_a_running_server_then_revocation,
);
