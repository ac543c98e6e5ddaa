//! kill -9 during a load: after a restart every receipt gets signed, every
//! chain verifies, and every decision a client was told about is in a chain.
//! And SIGTERM: in-flight requests finish, pending receipts get signed, exit 0.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::common::*;

fn kill_nine_during_load_loses_nothing_told(b: Backend) {
    let mut s = Server::start(b);
    let auths: Vec<String> = (0..4)
        .map(|i| s.authorize(json!({"user_id": format!("u{i}"), "agent_id": "a", "scopes": ["x"]})))
        .collect();
    let told: Arc<Mutex<Vec<String>>> = Arc::default();
    let ok = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let base = s.base.clone();
    let key = s.creds.api_key.clone();
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let (told, ok, stop, base, key) = (told.clone(), ok.clone(), stop.clone(), base.clone(), key.clone());
            let auth = auths[i % auths.len()].clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder().timeout(PATIENCE).build().unwrap();
                // Bounded: at most 2,000 requests per worker.
                for _ in 0..2000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let r = http
                        .post(format!("{base}/v1/check"))
                        .bearer_auth(&key)
                        .json(&json!({"authorization_id": auth, "scopes": ["x"], "context": {"i": i}}))
                        .send();
                    let Ok(r) = r else { break };
                    if r.status() != 200 {
                        break;
                    }
                    let Ok(v) = r.json::<serde_json::Value>() else { break };
                    let id = v["results"]["x"]["receipt"]["receipt_id"].as_str().unwrap().to_owned();
                    told.lock().unwrap().push(id);
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    eventually("300 answered checks", || {
        (ok.load(Ordering::SeqCst) >= 300).then_some(())
    });
    s.kill9();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let told: Vec<String> = told.lock().unwrap().clone();
    assert!(told.len() >= 300);

    s.serve();
    let mut seen = HashSet::new();
    for a in &auths {
        let export = s.export(a);
        let report = s.verify(&export);
        assert_valid(&report);
        for p in payloads(&export) {
            seen.insert(p["receipt_id"].as_str().unwrap().to_owned());
        }
    }
    let missing: Vec<_> = told.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} receipts told to clients are missing: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Nothing is left unsigned after recovery.
    eventually("no pending receipts", || {
        let (_, m) = s.raw("GET", "/metrics", &[], vec![]);
        m.contains("kvitto_signer_backlog 0\n").then_some(())
    });
    // The chains go on after the restart.
    let r = s.check(&auths[0], &["x"], None);
    assert_eq!(r["x"]["decision"], "allow");
    assert_valid(&s.verify(&s.export(&auths[0])));
}

fn sigterm_drains_and_exits_zero(b: Backend) {
    let mut s = Server::start(b);
    let a = s.authorize(json!({"user_id": "u", "agent_id": "a", "scopes": ["x"]}));
    for _ in 0..50 {
        s.check(&a, &["x"], None);
    }
    assert_eq!(s.terminate(), Some(0));
    // Opened directly: nothing pending.
    let st = s.open_storage();
    let pending =
        kvitto_server::store::read_blocking(&*st.store, |r| r.unsigned_count(None)).unwrap();
    assert_eq!(pending, 0);
    st.store.close();
    s.serve();
    assert_valid(&s.verify(&s.export(&a)));
}

on_both_backends!(
    kill_nine_during_load_loses_nothing_told,
    sigterm_drains_and_exits_zero,
);
