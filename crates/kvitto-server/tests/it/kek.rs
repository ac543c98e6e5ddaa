//! The key-encryption key of the PostgreSQL backend: required, checked at
//! start (a wrong one is named, not used), and rotated without a moment in
//! which an instance cannot sign.

use serde_json::{Value, json};

use crate::common::*;

fn kek() -> String {
    let out = std::process::Command::new(BIN)
        .args(["kek", "generate"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let k = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(k.len(), 64);
    k
}

#[test]
fn a_missing_or_wrong_kek_is_refused_and_a_kek_rotates() {
    if !postgres("kek::a_missing_or_wrong_kek") {
        return;
    }
    let mut s = Server::start(Backend::Postgres);
    let a = s.authorize(json!({"user_id": "u", "agent_id": "a", "scopes": ["x"]}));
    s.check(&a, &["x"], None);
    assert_eq!(s.terminate(), Some(0));
    let Storage::Db { kek: old, .. } = s.storage.clone() else {
        unreachable!()
    };
    let serve = |envs: &[(&str, &str)]| {
        let mut c = s.cmd();
        c.env_remove("KVITTO_KEK");
        for (k, v) in envs {
            c.env(k, v);
        }
        let out = c
            .args(["serve", "--listen", "127.0.0.1:0", "--db-retry-secs", "5"])
            .args(s.storage_args())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = serve(&[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("none was given: set KVITTO_KEK"), "{err}");
    let (code, err) = serve(&[("KVITTO_KEK", "0123")]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not 32 bytes as 64 hex digits"), "{err}");
    let new = kek();
    let (code, err) = serve(&[("KVITTO_KEK", &new)]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("which this instance does not have") && err.contains(&s.creds.kid),
        "{err}"
    );

    // The rotation: both KEKs, then the new one alone.
    let out = s
        .cmd()
        .env("KVITTO_KEK", &new)
        .env("KVITTO_PREVIOUS_KEK", &old)
        .args(["kek", "rotate", "--format", "json"])
        .args(s.storage_args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["resealed"], 1);
    // The old KEK alone no longer opens anything.
    let (code, err) = serve(&[("KVITTO_KEK", &old)]);
    assert_eq!(code, Some(1), "{err}");
    if let Storage::Db { kek, .. } = &mut s.storage {
        *kek = new.clone();
    }
    s.serve();
    s.check(&a, &["x"], None);
    let export = s.export(&a);
    assert_valid(&s.verify(&export));
    assert_eq!(payloads(&export).len(), 3);
    // And a new key (a rotation) is sealed with the new KEK.
    let ws = s.creds.workspace_id.clone();
    let (st, _) = s.post(&format!("/v1/workspaces/{ws}/keys/rotate"), &json!({}));
    assert_eq!(st, 200);
    s.check(&a, &["x"], None);
    assert_valid(&s.verify(&s.export(&a)));
}
