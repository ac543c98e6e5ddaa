//! Several server instances on one PostgreSQL database: one authorization's
//! chain stays one contiguous chain whatever instance each check reaches,
//! daily limits and budgets stay exact, every receipt is signed exactly
//! once, idempotency keys and resolutions hold across instances, and a key
//! rotation on one instance is seen by all.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use serde_json::{Value, json};

use crate::common::*;

/// The first instance and `n - 1` more on its database.
fn instances(test: &str, n: usize) -> Option<Vec<Arc<Server>>> {
    if !postgres(test) {
        return None;
    }
    let first = Server::start(Backend::Postgres);
    let mut all = vec![];
    for _ in 1..n {
        all.push(Arc::new(first.instance()));
    }
    all.insert(0, Arc::new(first));
    Some(all)
}

/// 64 threads at once, each reaching the instance its number picks, check
/// one authorization twice: a daily limit binds one scope, the budget the
/// other.
fn sixty_four_concurrent_checks_on_one_authorization(n: usize) {
    let Some(servers) = instances("instances::sixty_four_concurrent_checks", n) else {
        return;
    };
    let s = &servers[0];
    let a = s.authorize(json!({"user_id": "u", "agent_id": "a",
        "scopes": [{"name": "send", "constraints": {"max_per_day": 20}}, "pay"],
        "budget_limit_micros": 300}));
    let start = Arc::new(Barrier::new(64));
    let (all, a2) = (servers.clone(), a.clone());
    let answered = parallel(64, move |i| {
        let s = &all[i % all.len()];
        start.wait();
        let mut decisions = Vec::new();
        for _ in 0..2 {
            let r = if i % 2 == 0 {
                s.check(&a2, &["send"], None)["send"]["decision"].clone()
            } else {
                s.check(&a2, &["pay"], Some(10))["pay"]["decision"].clone()
            };
            decisions.push(r.as_str().unwrap().to_owned());
        }
        decisions
    });
    let told_allows = answered.iter().flatten().filter(|d| *d == "allow").count();
    assert_eq!(
        told_allows,
        20 + 30,
        "20 sends (daily limit), 30 payments (budget)"
    );

    // Any instance exports the one chain; it verifies whole.
    let export = servers[n - 1].export(&a);
    let report = s.verify(&export);
    assert_valid(&report);
    assert_eq!(report.chains.len(), 1);
    let ps = payloads(&export);
    assert_eq!(
        ps.len(),
        1 + 128,
        "authorization.created and one receipt per check"
    );
    for (i, p) in ps.iter().enumerate() {
        assert_eq!(p["seq"], i as u64, "seq contiguous");
    }
    let allows = |scope: &str| {
        ps.iter()
            .filter(|p| p["scope"] == scope && p["decision"] == "allow")
            .count()
    };
    assert_eq!((allows("send"), allows("pay")), (20, 30));
    // The budget figures chain exactly across instances: each paid allow
    // spends 10 more, and nothing else does.
    let mut spent = 0;
    for p in ps.iter().skip(1) {
        assert_eq!(p["budget"]["spent_before_micros"], spent, "{p}");
        if p["decision"] == "allow" && p["scope"] == "pay" {
            spent += 10;
        } else if p["scope"] == "pay" {
            assert_eq!(p["reason"], "budget_exceeded");
        } else if p["decision"] != "allow" {
            assert_eq!(p["reason"], "rate_limit_exceeded");
        }
        assert_eq!(p["budget"]["spent_after_micros"], spent);
    }
    let (_, view) = servers[1].get(&format!("/v1/authorizations/{a}"));
    assert_eq!(view["budget_spent_micros"], 300);
    assert_eq!(view["counters"]["send"]["allowed_today"], 20);

    // Every receipt signed exactly once: the instances' signers together
    // stored one signature per receipt.
    let signed: f64 = servers
        .iter()
        .map(|s| s.metric("kvitto_receipts_signed_total"))
        .sum();
    assert_eq!(
        signed as usize,
        ps.len(),
        "signatures stored, all instances"
    );
    let db = s.cluster();
    let url = match &s.storage {
        Storage::Db { url, .. } => url.clone(),
        Storage::Dir(_) => unreachable!(),
    };
    let name = url.rsplit('/').next().unwrap();
    assert_eq!(
        db.psql(name, "SELECT COUNT(*), COUNT(sig) FROM receipts"),
        format!("{}|{}", ps.len(), ps.len())
    );
}

#[test]
fn sixty_four_concurrent_checks_across_two_instances() {
    sixty_four_concurrent_checks_on_one_authorization(2);
}

#[test]
fn sixty_four_concurrent_checks_across_three_instances() {
    sixty_four_concurrent_checks_on_one_authorization(3);
}

/// An Idempotency-Key used on one instance is honoured by the others, also
/// when the same request reaches two instances at once.
#[test]
fn idempotency_keys_are_shared_across_instances() {
    let Some(servers) = instances("instances::idempotency_keys", 2) else {
        return;
    };
    let a = servers[0].authorize(json!({"user_id": "u", "agent_id": "a",
        "scopes": [{"name": "send", "constraints": {"max_per_day": 100}}]}));
    let post = |s: &Server, key: &str, body: &Value| {
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
    let body = json!({"authorization_id": a, "scopes": ["send"]});
    let (st, replayed, first) = post(&servers[0], "k-1", &body);
    assert_eq!((st, replayed), (200, false));
    let (st, replayed, again) = post(&servers[1], "k-1", &body);
    assert_eq!((st, replayed, again.as_str()), (200, true, first.as_str()));
    let other = json!({"authorization_id": a, "scopes": ["send"], "resource": "x"});
    assert_eq!(post(&servers[1], "k-1", &other).0, 422);

    // 16 copies of one request at once, half on each instance: one runs,
    // the others get its answer.
    for round in 0..4 {
        let key = format!("k-race-{round}");
        let start = Arc::new(Barrier::new(16));
        let (all, b2) = (servers.clone(), body.clone());
        let answers = parallel(16, move |i| {
            let s = &all[i % 2];
            start.wait();
            let r = s
                .http
                .post(s.url("/v1/check"))
                .bearer_auth(&s.creds.api_key)
                .header("Idempotency-Key", &key)
                .json(&b2)
                .send()
                .unwrap();
            (r.status().as_u16(), r.text().unwrap())
        });
        assert!(answers.iter().all(|(st, _)| *st == 200), "{answers:?}");
        let bodies: HashSet<&String> = answers.iter().map(|(_, b)| b).collect();
        assert_eq!(bodies.len(), 1, "every copy got the one answer");
    }
    let (_, view) = servers[0].get(&format!("/v1/authorizations/{a}"));
    assert_eq!(view["receipts"], 1 + 1 + 4, "created, k-1, one per race");
    assert_eq!(view["counters"]["send"]["allowed_today"], 5);
    assert_valid(&servers[1].verify(&servers[1].export(&a)));
}

/// A confirmation resolved on two instances at once resolves once.
#[test]
fn a_resolution_racing_on_two_instances_happens_once() {
    let Some(servers) = instances("instances::a_resolution_racing", 2) else {
        return;
    };
    let a = servers[0].authorize(json!({"user_id": "u", "agent_id": "a",
        "scopes": ["pay"], "requires_confirm_for": ["pay"]}));
    for round in 0..6 {
        // A rejection makes the next check deny once, then ask again.
        let approved = false;
        let c = servers[round % 2].check(&a, &["pay"], None);
        if c["pay"]["reason"] == "confirmation_denied" {
            continue;
        }
        let nonce = c["pay"]["confirm_nonce"].as_str().unwrap().to_owned();
        let start = Arc::new(Barrier::new(8));
        let all = servers.clone();
        let statuses = parallel(8, move |i| {
            start.wait();
            all[i % 2]
                .post(
                    &format!("/v1/confirmations/{nonce}"),
                    &json!({"approved": approved}),
                )
                .0
        });
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert!(statuses.iter().all(|s| *s == 200 || *s == 409));
    }
    let export = servers[1].export(&a);
    assert_valid(&servers[1].verify(&export));
    let resolved = payloads(&export)
        .iter()
        .filter(|p| p["kind"] == "confirmation.resolved")
        .count();
    assert_eq!(resolved, 3, "rounds 0, 2, 4 asked; 1, 3, 5 denied once");
}

/// Three instances under load; one rotates the key. Every check that
/// started after the rotation answered, on any instance, carries the new
/// key; every receipt of the old key lies inside its window; the old
/// private half is destroyed once its receipts are signed.
#[test]
fn a_rotation_on_one_instance_is_seen_by_all() {
    let Some(servers) = instances("instances::a_rotation_on_one_instance", 3) else {
        return;
    };
    let auths: Vec<String> = (0..4)
        .map(|i| {
            servers[0]
                .authorize(json!({"user_id": format!("u{i}"), "agent_id": "a", "scopes": ["x"]}))
        })
        .collect();
    let rotated = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    // receipt id -> whether its check began after the rotation answered.
    let told: Arc<Mutex<HashMap<String, bool>>> = Arc::default();
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let (s, rotated, stop, done, told) = (
                servers[i % 3].clone(),
                rotated.clone(),
                stop.clone(),
                done.clone(),
                told.clone(),
            );
            let a = auths[i % auths.len()].clone();
            std::thread::spawn(move || {
                // Bounded: at most 400 checks per worker.
                for _ in 0..400 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let after = rotated.load(Ordering::SeqCst);
                    let r = s.check(&a, &["x"], None);
                    let id = r["x"]["receipt"]["receipt_id"].as_str().unwrap().to_owned();
                    told.lock().unwrap().insert(id, after);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    eventually("100 checks before the rotation", || {
        (done.load(Ordering::SeqCst) >= 100).then_some(())
    });
    let ws = servers[0].creds.workspace_id.clone();
    let (st, rot) = servers[1].post(&format!("/v1/workspaces/{ws}/keys/rotate"), &json!({}));
    assert_eq!(st, 200, "{rot}");
    rotated.store(true, Ordering::SeqCst);
    let at_rotation = done.load(Ordering::SeqCst);
    eventually("100 checks after the rotation", || {
        (done.load(Ordering::SeqCst) >= at_rotation + 100).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let old_kid = servers[0].creds.kid.clone();
    let new_kid = rot["kid"].as_str().unwrap().to_owned();
    let r_ms = kvitto_server::clock::parse_ms(rot["at"].as_str().unwrap()).unwrap();
    let told = told.lock().unwrap().clone();
    let mut seen = 0;
    for (i, a) in auths.iter().enumerate() {
        let s = &servers[i % 3];
        let export = s.export(a);
        assert_valid(&s.verify(&export));
        let ps = payloads(&export);
        let kids: Vec<&str> = ps.iter().map(|p| p["kid"].as_str().unwrap()).collect();
        let switch = kids
            .iter()
            .position(|k| *k == new_kid)
            .unwrap_or(kids.len());
        assert!(
            kids[..switch].iter().all(|k| *k == old_kid),
            "one switch per chain"
        );
        assert!(kids[switch..].iter().all(|k| *k == new_kid));
        for p in &ps {
            let at = kvitto_server::clock::parse_ms(p["issued_at"].as_str().unwrap()).unwrap();
            let id = p["receipt_id"].as_str().unwrap();
            if p["kid"] == old_kid.as_str() {
                assert!(at < r_ms, "an old-key receipt dated after the rotation");
                assert_ne!(
                    told.get(id),
                    Some(&true),
                    "a check after the rotation used the old key"
                );
            } else {
                assert!(at >= r_ms);
            }
            seen += told.contains_key(id) as usize;
        }
    }
    assert_eq!(
        seen,
        told.len(),
        "every receipt a client was told about is in a chain"
    );
    for s in servers.iter() {
        let doc: Value = serde_json::from_slice(&s.key_document(&ws)).unwrap();
        let statuses: Vec<&str> = doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["retired", "active"],
            "every instance serves the rotation"
        );
    }
    eventually("the old private key destroyed", || {
        (!servers[2].private_key_present(&old_kid)).then_some(())
    });
    assert!(servers[0].private_key_present(&new_kid));
}
