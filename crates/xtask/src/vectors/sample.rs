//! The README's demo (test-vectors/sample/): a realistic trail of four
//! authorizations in ws_acme, and the same trail with one receipt tampered.

use kvitto_core::sign::Signed;
use kvitto_core::{Kind, Value};

use super::Corpus;
use super::chains::{Step, build, check, lines, step, with};
use super::keys::{Issuers, SAMPLE};
use super::text::{obj, replace_once};

/// Make an authorization's members agree with its checks: the created
/// receipt lists the scopes checked, a resolution names the scope of the
/// check before it, and context says which channel asked.
fn realistic(mut steps: Vec<Step>) -> Vec<Step> {
    let scope_of = |st: &Step| {
        st.edits
            .iter()
            .find(|(name, _)| *name == "scope")
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    };
    let mut scopes: Vec<String> = Vec::new();
    let mut confirm: Vec<String> = Vec::new();
    let mut escalate: Vec<String> = Vec::new();
    let mut last_scope = String::new();
    for st in steps.iter_mut() {
        if let Some(scope) = scope_of(st) {
            last_scope = scope;
        }
        match st.kind {
            Kind::Check => {
                if !scopes.contains(&last_scope) {
                    scopes.push(last_scope.clone());
                }
                let decision = st
                    .edits
                    .iter()
                    .find(|(n, _)| *n == "decision")
                    .and_then(|(_, v)| v.as_str());
                match decision {
                    Some("confirm") if !confirm.contains(&last_scope) => {
                        confirm.push(last_scope.clone())
                    }
                    Some("escalate") if !escalate.contains(&last_scope) => {
                        escalate.push(last_scope.clone())
                    }
                    _ => {}
                }
                st.edits
                    .push(("context", obj(vec![("channel", Value::from("agent-api"))])));
            }
            Kind::ConfirmationResolved | Kind::EscalationResolved => {
                st.edits.push(("scope", Value::from(last_scope.as_str())));
            }
            _ => {}
        }
    }
    let list =
        |names: &[String]| Value::Array(names.iter().map(|s| Value::from(s.as_str())).collect());
    let scope_objects = Value::Array(
        scopes
            .iter()
            .map(|s| {
                obj(vec![
                    ("name", Value::from(s.as_str())),
                    ("constraints", obj(vec![])),
                ])
            })
            .collect(),
    );
    let targets = obj(escalate
        .iter()
        .map(|s| (s.as_str(), Value::from("user_bob")))
        .collect());
    let created = &mut steps[0];
    created.edits.push(("scopes", scope_objects));
    created.edits.push(("requires_confirm_for", list(&confirm)));
    created
        .edits
        .push(("requires_escalation_for", list(&escalate)));
    created.edits.push(("escalation_targets", targets));
    steps
}

/// The README's demo: a realistic trail of several authorizations.
pub(crate) fn all(c: &mut Corpus, k: &Issuers) {
    let a = &k.sample_active;
    let day = |d: u32, h: u32, m: u32, s: u32| {
        format!(
            "2026-11-{d:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
            (h * 7 + m * 13 + s) % 1000
        )
    };
    let scoped = |st: Step, scope: &str, resource: &str| {
        with(with(st, "scope", scope), "resource", resource)
    };
    let mailer = vec![
        with(
            step(Kind::AuthorizationCreated, &day(20, 8, 0, 5)),
            "agent_id",
            "agent_mailer",
        ),
        scoped(
            check(&day(20, 8, 4, 12), "allow", "ok"),
            "email.send",
            "mailto:team@acme.example",
        ),
        scoped(
            check(&day(20, 9, 30, 40), "allow", "ok"),
            "email.read",
            "imap:inbox",
        ),
        with(
            scoped(
                check(&day(20, 10, 2, 1), "confirm", "confirmation_required"),
                "email.send",
                "mailto:all@acme.example",
            ),
            "confirm_nonce",
            "cn_4Tz8",
        ),
        with(
            step(Kind::ConfirmationResolved, &day(20, 10, 3, 30)),
            "confirm_nonce",
            "cn_4Tz8",
        ),
        scoped(
            check(&day(20, 10, 3, 31), "allow", "ok"),
            "email.send",
            "mailto:all@acme.example",
        ),
        scoped(
            check(&day(20, 15, 45, 0), "deny", "rate_limit_exceeded"),
            "email.send",
            "mailto:press@acme.example",
        ),
        scoped(
            check(&day(21, 9, 0, 0), "deny", "budget_exceeded"),
            "email.send",
            "mailto:list@acme.example",
        ),
        with(
            step(Kind::AuthorizationRevoked, &day(21, 9, 5, 0)),
            "revoked_by",
            "user_alice",
        ),
    ];
    let payments = vec![
        with(
            step(Kind::AuthorizationCreated, &day(20, 11, 0, 0)),
            "agent_id",
            "agent_ledger",
        ),
        with(
            scoped(
                check(&day(20, 11, 10, 0), "escalate", "escalation_required"),
                "payments.transfer",
                "iban:SE35-5000",
            ),
            "escalation_id",
            "esc_81Pq",
        ),
        with(
            step(Kind::EscalationResolved, &day(20, 11, 25, 9)),
            "escalation_id",
            "esc_81Pq",
        ),
        scoped(
            check(&day(20, 11, 25, 10), "allow", "ok"),
            "payments.transfer",
            "iban:SE35-5000",
        ),
        scoped(
            check(&day(20, 14, 0, 0), "deny", "scope_not_authorized"),
            "payments.refund",
            "order:5521",
        ),
        with(
            scoped(
                check(&day(21, 10, 0, 0), "escalate", "escalation_required"),
                "payments.transfer",
                "iban:DE89-3704",
            ),
            "escalation_id",
            "esc_93Wd",
        ),
        with(
            with(
                step(Kind::EscalationResolved, &day(21, 10, 40, 0)),
                "escalation_id",
                "esc_93Wd",
            ),
            "approved",
            false,
        ),
        scoped(
            check(&day(21, 10, 40, 1), "deny", "escalation_required"),
            "payments.transfer",
            "iban:DE89-3704",
        ),
        scoped(
            check(&day(22, 8, 0, 0), "allow", "ok"),
            "payments.read",
            "ledger:2026-11",
        ),
    ];
    let calendar = vec![
        with(
            step(Kind::AuthorizationCreated, &day(21, 7, 0, 0)),
            "agent_id",
            "agent_calendar",
        ),
        scoped(
            check(&day(21, 7, 1, 0), "allow", "ok"),
            "calendar.write",
            "cal:alice",
        ),
        with(
            scoped(
                check(&day(21, 12, 0, 0), "confirm", "confirmation_required"),
                "calendar.share",
                "cal:alice",
            ),
            "confirm_nonce",
            "cn_77Lb",
        ),
        with(
            with(
                step(Kind::ConfirmationResolved, &day(21, 12, 9, 0)),
                "confirm_nonce",
                "cn_77Lb",
            ),
            "approved",
            false,
        ),
        scoped(
            check(&day(22, 7, 0, 0), "deny", "authorization_expired"),
            "calendar.write",
            "cal:alice",
        ),
    ];
    let r = &k.sample_retired;
    let sept = |d: u32, h: u32| format!("2026-09-{d:02}T{h:02}:00:00Z");
    let old = vec![
        with(
            step(Kind::AuthorizationCreated, &sept(14, 9)),
            "agent_id",
            "agent_reports",
        ),
        scoped(
            check(&sept(14, 10), "allow", "ok"),
            "reports.read",
            "report:q3",
        ),
        scoped(
            check(&sept(15, 10), "allow", "ok"),
            "reports.read",
            "report:q2",
        ),
        with(
            step(Kind::AuthorizationRevoked, &sept(30, 17)),
            "revoked_by",
            "user_bob",
        ),
    ];
    let chains = [
        build(a, "ws_acme", "auth_7Hq2mailer", &realistic(mailer)),
        build(a, "ws_acme", "auth_9Kd4ledger", &realistic(payments)),
        build(a, "ws_acme", "auth_3Fx1calendar", &realistic(calendar)),
        build(r, "ws_acme", "auth_1Rp0reports", &realistic(old)),
    ];
    let mut all: Vec<&Signed> = chains.iter().flatten().collect();
    let issued = |s: &Signed| {
        s.receipt
            .get("payload")
            .and_then(|p| p.get("issued_at"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    all.sort_by_key(|s| issued(s));
    let n = all.len();
    let bytes = lines(&all);
    let ids = [
        ("auth_1Rp0reports", None),
        ("auth_7Hq2mailer", None),
        ("auth_9Kd4ledger", None),
        ("auth_3Fx1calendar", None),
    ];
    c.export("export/sample", "The README's sample trail: four authorizations, every kind and decision, two closed and two open chains.", "sample/export.jsonl", bytes.clone(), &[SAMPLE], true, &vec![None; n], &ids);
    // Tamper: the ledger's allowed transfer now names another account.
    let target = &chains[1][3];
    let pos = all
        .iter()
        .position(|s| std::ptr::eq(*s, target))
        .expect("in the trail");
    let text = String::from_utf8(bytes).expect("utf-8");
    let tampered = replace_once(
        &text,
        &target.json,
        &replace_once(
            &target.json,
            "\"resource\":\"iban:SE35-5000\"",
            "\"resource\":\"iban:SE99-6666\"",
        ),
    );
    let mut codes = vec![None; n];
    codes[pos] = Some("signature_invalid");
    let tampered_ids = [
        ("auth_1Rp0reports", None),
        ("auth_7Hq2mailer", None),
        ("auth_9Kd4ledger", Some("chain_invalid_receipt")),
        ("auth_3Fx1calendar", None),
    ];
    c.export("export/sample-tampered", "The sample trail with one receipt's resource changed: signature_invalid, and its chain chain_invalid_receipt.", "sample/export-tampered.jsonl", tampered.into_bytes(), &[SAMPLE], true, &codes, &tampered_ids);
}
