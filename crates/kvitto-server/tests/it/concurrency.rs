//! Parallel checks: one authorization's chain stays contiguous and its
//! daily limit and budget exact; many authorizations in parallel.

use std::sync::Arc;

use serde_json::json;

use crate::common::*;

fn sixty_four_parallel_checks_on_one_authorization(b: Backend) {
    let s = Arc::new(Server::start(b));
    // The daily limit binds on one scope, the budget on the other.
    let limited = s.authorize(json!({"user_id": "u", "agent_id": "a",
        "scopes": [{"name": "send", "constraints": {"max_per_day": 20}}]}));
    let budgeted = s.authorize(json!({"user_id": "u", "agent_id": "a", "scopes": ["pay"],
        "budget_limit_micros": 300}));
    let (s1, l1, b1) = (s.clone(), limited.clone(), budgeted.clone());
    let results = parallel(64, move |i| {
        if i % 2 == 0 {
            for _ in 0..2 {
                let _ = s1.check(&l1, &["send"], None);
            }
            (s1.check(&l1, &["send"], None)["send"]["decision"] == "allow") as usize
        } else {
            let mut allows = 0;
            for _ in 0..2 {
                allows +=
                    (s1.check(&b1, &["pay"], Some(10))["pay"]["decision"] == "allow") as usize;
            }
            allows
        }
    });
    assert!(results.iter().sum::<usize>() <= 50);
    for (auth, scope, allows, checks) in [(&limited, "send", 20, 96), (&budgeted, "pay", 30, 64)] {
        let export = s.export(auth);
        let report = s.verify(&export);
        assert_valid(&report);
        let ps = payloads(&export);
        assert_eq!(
            ps.len(),
            checks + 1,
            "one receipt per check, plus authorization.created"
        );
        let n = ps.iter().filter(|p| p["decision"] == "allow").count();
        assert_eq!(n, allows, "{scope}: exactly {allows} allows");
        let (_, view) = s.get(&format!("/v1/authorizations/{auth}"));
        if scope == "send" {
            assert_eq!(view["counters"]["send"]["allowed_today"], 20);
            assert!(
                ps.iter()
                    .skip(21)
                    .all(|p| p["reason"] == "rate_limit_exceeded")
            );
        } else {
            assert_eq!(view["budget_spent_micros"], 300);
            // The budget figures chain exactly: each allow spends 10 more.
            let mut spent = 0;
            for p in ps.iter().skip(1) {
                assert_eq!(p["budget"]["spent_before_micros"], spent);
                if p["decision"] == "allow" {
                    spent += 10;
                } else {
                    assert_eq!(p["reason"], "budget_exceeded");
                }
                assert_eq!(p["budget"]["spent_after_micros"], spent);
            }
        }
    }
}

fn parallel_checks_across_authorizations(b: Backend) {
    let s = Arc::new(Server::start(b));
    let auths: Vec<String> = (0..8)
        .map(|i| {
            s.authorize(json!({"user_id": format!("u{i}"), "agent_id": "a", "scopes": ["x", "y"]}))
        })
        .collect();
    let (s1, a1) = (s.clone(), auths.clone());
    parallel(32, move |i| {
        let a = &a1[i % a1.len()];
        for _ in 0..5 {
            let r = s1.check(a, &["x", "y"], None);
            assert_eq!(r["x"]["decision"], "allow");
        }
    });
    let all = s.export_query(&s.creds.api_key, "since=2000-01-01T00:00:00Z");
    let report = s.verify(&all);
    assert_valid(&report);
    assert_eq!(report.chains.len(), 8);
    for c in &report.chains {
        // 4 threads x 5 checks x 2 scopes + created
        assert_eq!(c.receipts, 41, "{}", c.authorization_id);
    }
}

on_both_backends!(
    sixty_four_parallel_checks_on_one_authorization,
    parallel_checks_across_authorizations,
);
