//! Faults with several instances on PostgreSQL: `kill -9` of one instance
//! under load, and a restart (and a crash) of PostgreSQL itself under load.
//! In both, every decision a client was told about is in a verified chain,
//! nothing is signed twice, and the servers recover without a restart.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::pgcluster::{self, Cluster};

/// Every receipt a client was told about is in a chain that verifies, no
/// receipt id or seq appears twice, and nothing is left unsigned.
fn all_told_in_verified_chains(s: &Server, auths: &[String], told: &[String]) -> usize {
    let mut seen = HashSet::new();
    let mut total = 0;
    for a in auths {
        let export = s.export(a);
        let report = s.verify(&export);
        assert_valid(&report);
        for p in payloads(&export) {
            total += 1;
            assert!(
                seen.insert(p["receipt_id"].as_str().unwrap().to_owned()),
                "a receipt twice"
            );
        }
    }
    let missing: Vec<_> = told.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} receipts told to clients are missing: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    eventually("no pending receipts", || {
        (s.metric("kvitto_signer_backlog") == 0.0).then_some(())
    });
    total
}

#[test]
fn kill_nine_of_one_instance_under_load_loses_nothing_told() {
    if !postgres("faults::kill_nine_of_one_instance") {
        return;
    }
    let mut victim = Server::start(Backend::Postgres);
    let survivor = Arc::new(victim.instance());
    let auths: Vec<String> = (0..4)
        .map(|i| {
            survivor
                .authorize(json!({"user_id": format!("u{i}"), "agent_id": "a", "scopes": ["x"]}))
        })
        .collect();
    let told: Arc<Mutex<Vec<String>>> = Arc::default();
    let ok = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let bases = [victim.base.clone(), survivor.base.clone()];
    let key = survivor.creds.api_key.clone();
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let (told, ok, stop, key) = (told.clone(), ok.clone(), stop.clone(), key.clone());
            let bases = bases.clone();
            let auth = auths[i % auths.len()].clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(PATIENCE)
                    .build()
                    .unwrap();
                // Half the workers start on the victim; one that loses it
                // goes on with the survivor. Bounded: 1,500 requests each.
                let mut at = i % 2;
                for _ in 0..1500 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let r = http
                        .post(format!("{}/v1/check", bases[at]))
                        .bearer_auth(&key)
                        .json(&json!({"authorization_id": auth, "scopes": ["x"], "context": {"i": i}}))
                        .send();
                    let Ok(r) = r else {
                        at = 1;
                        continue;
                    };
                    if r.status() != 200 {
                        at = 1;
                        continue;
                    }
                    let Ok(v) = r.json::<Value>() else {
                        at = 1;
                        continue;
                    };
                    let id = v["results"]["x"]["receipt"]["receipt_id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    told.lock().unwrap().push(id);
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    eventually("300 answered checks", || {
        (ok.load(Ordering::SeqCst) >= 300).then_some(())
    });
    victim.kill9();
    let at_kill = ok.load(Ordering::SeqCst);
    eventually("200 more answered by the survivor", || {
        (ok.load(Ordering::SeqCst) >= at_kill + 200).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let told = told.lock().unwrap().clone();
    // The survivor signs what the victim left pending, claims included.
    let total = all_told_in_verified_chains(&survivor, &auths, &told);
    assert!(total >= told.len() + auths.len());
    // The victim comes back on the same database and goes on.
    victim.serve();
    let r = victim.check(&auths[0], &["x"], None);
    assert_eq!(r["x"]["decision"], "allow");
    assert_valid(&victim.verify(&victim.export(&auths[0])));
}

/// A check with an Idempotency-Key, retried with the same key (on either
/// instance) until it is answered: what a careful client does when the
/// database goes away. Returns the receipt id, or None at the deadline.
fn check_until_answered(
    http: &reqwest::blocking::Client,
    bases: &[String],
    key: &str,
    auth: &str,
    idem: &str,
    outcomes: &Mutex<Vec<u16>>,
) -> Option<String> {
    let deadline = Instant::now() + PATIENCE;
    let body = json!({"authorization_id": auth, "scopes": ["x"], "context": {"request": idem}});
    for attempt in 0.. {
        if Instant::now() > deadline {
            return None;
        }
        let base = &bases[attempt % bases.len()];
        let r = http
            .post(format!("{base}/v1/check"))
            .bearer_auth(key)
            .header("Idempotency-Key", idem)
            .json(&body)
            .send();
        match r {
            Ok(r) if r.status() == 200 => {
                let v: Value = r.json().ok()?;
                return v["results"]["x"]["receipt"]["receipt_id"]
                    .as_str()
                    .map(str::to_owned);
            }
            Ok(r) => {
                outcomes.lock().unwrap().push(r.status().as_u16());
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    None
}

#[test]
fn postgres_restart_and_crash_under_load_lose_and_duplicate_nothing() {
    if !pgcluster::available("faults::postgres_restart_and_crash") {
        return;
    }
    // A cluster of its own: it is stopped and started under load.
    let cluster = Arc::new(Cluster::start(&[], |_| Vec::new()));
    let mut first = Server::start_on(cluster.clone());
    let mut second = first.instance();
    let auths: Vec<String> = (0..4)
        .map(|i| {
            first.authorize(json!({"user_id": format!("u{i}"), "agent_id": "a", "scopes": ["x"]}))
        })
        .collect();
    let bases = vec![first.base.clone(), second.base.clone()];
    let key = first.creds.api_key.clone();
    let told: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let outcomes: Arc<Mutex<Vec<u16>>> = Arc::default();
    let answered = Arc::new(AtomicUsize::new(0));
    const PER_WORKER: usize = 150;
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (told, outcomes, answered) = (told.clone(), outcomes.clone(), answered.clone());
            let (bases, key) = (bases.clone(), key.clone());
            let auth = auths[w % auths.len()].clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(PATIENCE)
                    .build()
                    .unwrap();
                for n in 0..PER_WORKER {
                    let idem = format!("w{w}-n{n}");
                    let id = check_until_answered(&http, &bases, &key, &auth, &idem, &outcomes)
                        .unwrap_or_else(|| panic!("{idem} was never answered"));
                    told.lock().unwrap().push((idem, id));
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // A clean restart (sessions ended, a checkpoint), then a crash
    // (immediate: recovery from the WAL on start), each under load.
    for (mode, after) in [("fast", 150), ("immediate", 600)] {
        eventually("answers before the outage", || {
            (answered.load(Ordering::SeqCst) >= after).then_some(())
        });
        cluster.stop(mode);
        std::thread::sleep(Duration::from_millis(500));
        cluster.start_again();
    }
    for w in workers {
        w.join().unwrap();
    }
    // The same processes served throughout: they recovered by themselves.
    for s in [&mut first, &mut second] {
        assert!(
            s.child.as_mut().unwrap().try_wait().unwrap().is_none(),
            "an instance died"
        );
    }
    let told = told.lock().unwrap().clone();
    assert_eq!(told.len(), 8 * PER_WORKER);
    let ids: Vec<String> = told.iter().map(|(_, id)| id.clone()).collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "two requests were told one receipt"
    );
    let total = all_told_in_verified_chains(&second, &auths, &ids);
    // Exactly one check receipt per request: a retry after an unknown
    // outcome found its first answer, nothing ran twice.
    assert_eq!(
        total,
        ids.len() + auths.len(),
        "a request was recorded twice"
    );
    let outcomes = outcomes.lock().unwrap().clone();
    assert!(
        outcomes.iter().all(|s| *s == 503),
        "only 503s while the database was away: {outcomes:?}"
    );
    // Both go on.
    for s in [&first, &second] {
        assert_eq!(s.check(&auths[1], &["x"], None)["x"]["decision"], "allow");
    }
}
