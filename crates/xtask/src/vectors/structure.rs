//! Shape vectors (sections 5 and 7 step 3): every member of every kind
//! missing and mistyped, ids, instants, ranges, the outer object, versions.

use kvitto_core::{Kind, Value};

use super::receipts::{AT, Gen, KINDS, base, slug, some_prev};
use super::text::{self, compact, obj, replace_once, set};

/// An edit of a payload before it is signed.
type Edit = Box<dyn Fn(&mut Value)>;

/// A value of the wrong type for a member that holds `v`.
fn wrong_type(name: &str, v: &Value) -> Value {
    match (name, v) {
        ("v", _) => Value::from("1"),
        ("prev", _) => Value::Bool(true),
        ("estimated_cost_micros" | "budget_limit_micros", _) => Value::from("1200"),
        ("budget", _) => Value::from("none"),
        (_, Value::String(_)) | (_, Value::Null) => Value::from(7u64),
        (_, Value::Number(_)) => Value::from("7"),
        (_, Value::Bool(_)) => Value::from("true"),
        (_, Value::Object(_)) => Value::Array(vec![]),
        (_, Value::Array(_)) => obj(vec![]),
    }
}

pub(crate) fn all(g: &mut Gen<'_>) {
    let kid = g.active().kid().to_owned();
    for kind in KINDS {
        let p = base(kind, &kid, AT);
        let names: Vec<(String, Value)> = p.as_object().expect("an object").to_vec();
        for (name, value) in names {
            let n = slug(kind);
            let mut missing = p.clone();
            text::remove(&mut missing, &name);
            g.bad(
                "bad_structure",
                &format!("{n}-{name}-missing"),
                &format!("A {} receipt without {name} (re-signed).", kind.as_str()),
                g.sign(&missing).json,
            );
            let mut mistyped = p.clone();
            let wrong = wrong_type(&name, &value);
            let shown = compact(&wrong);
            set(&mut mistyped, &name, wrong);
            g.bad(
                "bad_structure",
                &format!("{n}-{name}-mistyped"),
                &format!(
                    "A {} receipt whose {name} is {shown} (re-signed).",
                    kind.as_str()
                ),
                g.sign(&mistyped).json,
            );
        }
    }
    let bad =
        |g: &mut Gen<'_>, code: &'static str, name: &str, desc: &str, edit: &dyn Fn(&mut Value)| {
            let mut p = g.check();
            edit(&mut p);
            let s = g.sign(&p);
            g.bad(code, name, desc, s.json);
        };
    let created = |g: &Gen<'_>| base(Kind::AuthorizationCreated, g.active().kid(), AT);
    // Nested members of authorization.created.
    for (name, desc, edit) in [
        (
            "created-scope-name-missing",
            "scopes[0] has no name.",
            Box::new(|p: &mut Value| {
                let scopes = text::member(p, "scopes");
                let Value::Array(items) = scopes else {
                    unreachable!()
                };
                text::remove(&mut items[0], "name");
            }) as Edit,
        ),
        (
            "created-scope-constraints-missing",
            "scopes[1] has no constraints.",
            Box::new(|p: &mut Value| {
                let Value::Array(items) = text::member(p, "scopes") else {
                    unreachable!()
                };
                text::remove(&mut items[1], "constraints");
            }),
        ),
        (
            "created-scope-constraints-array",
            "scopes[0].constraints is an array.",
            Box::new(|p: &mut Value| {
                let Value::Array(items) = text::member(p, "scopes") else {
                    unreachable!()
                };
                set(&mut items[0], "constraints", Value::Array(vec![]));
            }),
        ),
        (
            "created-scope-not-object",
            "scopes[0] is a string.",
            Box::new(|p: &mut Value| {
                let Value::Array(items) = text::member(p, "scopes") else {
                    unreachable!()
                };
                items[0] = Value::from("email.send");
            }),
        ),
        (
            "created-requires-confirm-number",
            "requires_confirm_for holds a number.",
            Box::new(|p: &mut Value| {
                set(
                    p,
                    "requires_confirm_for",
                    Value::Array(vec![Value::from("email.send"), Value::from(1u64)]),
                );
            }),
        ),
        (
            "created-escalation-target-number",
            "An escalation_targets value is a number.",
            Box::new(|p: &mut Value| {
                set(
                    p,
                    "escalation_targets",
                    obj(vec![("payments.transfer", Value::from(42u64))]),
                );
            }),
        ),
        (
            "created-seq-1",
            "An authorization.created with seq 1 (and a prev).",
            Box::new(|p: &mut Value| {
                set(p, "seq", Value::from(1u64));
                set(p, "prev", Value::from(some_prev().to_string()));
            }),
        ),
        (
            "created-prev-not-null",
            "An authorization.created with seq 0 and a prev.",
            Box::new(|p: &mut Value| {
                set(p, "prev", Value::from(some_prev().to_string()));
            }),
        ),
        (
            "created-negative-budget",
            "budget_limit_micros is -1.",
            Box::new(|p: &mut Value| {
                set(p, "budget_limit_micros", Value::from(-1i64));
            }),
        ),
        (
            "created-expires-at-offset",
            "expires_at has an offset instead of Z.",
            Box::new(|p: &mut Value| {
                set(p, "expires_at", Value::from("2026-12-31T23:59:59+01:00"));
            }),
        ),
    ] {
        let mut p = created(g);
        edit(&mut p);
        let s = g.sign(&p);
        g.bad("bad_structure", name, desc, s.json);
    }
    let prev = some_prev().to_string();
    let cases: Vec<(&str, &str, Edit)> = vec![
        (
            "check-seq-0",
            "A check with seq 0 and prev null.",
            Box::new(|p: &mut Value| {
                set(p, "seq", Value::from(0u64));
                set(p, "prev", Value::Null);
            }),
        ),
        (
            "check-prev-null",
            "A check with seq 7 and prev null.",
            Box::new(|p: &mut Value| set(p, "prev", Value::Null)),
        ),
        (
            "prev-uppercase",
            "prev in uppercase hex.",
            Box::new({
                let prev = prev.clone();
                move |p: &mut Value| {
                    set(
                        p,
                        "prev",
                        Value::from(format!("sha256:{}", prev["sha256:".len()..].to_uppercase())),
                    )
                }
            }),
        ),
        (
            "prev-no-prefix",
            "prev as bare hex without sha256:.",
            Box::new({
                let prev = prev.clone();
                move |p: &mut Value| set(p, "prev", Value::from(&prev["sha256:".len()..]))
            }),
        ),
        (
            "prev-short",
            "prev with 63 hex digits.",
            Box::new({
                let prev = prev.clone();
                move |p: &mut Value| set(p, "prev", Value::from(&prev[..prev.len() - 1]))
            }),
        ),
        (
            "reason-ok-with-deny",
            "Decision deny with reason ok.",
            Box::new(|p: &mut Value| set(p, "decision", Value::from("deny"))),
        ),
        (
            "allow-with-other-reason",
            "Decision allow with reason budget_exceeded.",
            Box::new(|p: &mut Value| set(p, "reason", Value::from("budget_exceeded"))),
        ),
        (
            "unknown-decision",
            "Decision maybe.",
            Box::new(|p: &mut Value| set(p, "decision", Value::from("maybe"))),
        ),
        (
            "unknown-kind",
            "kind authorization.updated.",
            Box::new(|p: &mut Value| set(p, "kind", Value::from("authorization.updated"))),
        ),
        (
            "negative-cost",
            "estimated_cost_micros is -1.",
            Box::new(|p: &mut Value| set(p, "estimated_cost_micros", Value::from(-1i64))),
        ),
        (
            "negative-budget-figure",
            "budget.spent_after_micros is -1.",
            Box::new(|p: &mut Value| {
                set(
                    text::member(p, "budget"),
                    "spent_after_micros",
                    Value::from(-1i64),
                )
            }),
        ),
        (
            "budget-figure-missing",
            "budget has no limit_micros.",
            Box::new(|p: &mut Value| text::remove(text::member(p, "budget"), "limit_micros")),
        ),
        (
            "budget-figure-string",
            "budget.spent_before_micros is a string.",
            Box::new(|p: &mut Value| {
                set(
                    text::member(p, "budget"),
                    "spent_before_micros",
                    Value::from("0"),
                )
            }),
        ),
        (
            "budget-array",
            "budget is an array.",
            Box::new(|p: &mut Value| set(p, "budget", Value::Array(vec![]))),
        ),
        (
            "negative-seq",
            "seq is -1.",
            Box::new(|p: &mut Value| set(p, "seq", Value::from(-1i64))),
        ),
        (
            "fraction-seq",
            "seq is 1.5.",
            Box::new(|p: &mut Value| set(p, "seq", Value::from(1.5))),
        ),
        (
            "fraction-cost",
            "estimated_cost_micros is 0.5.",
            Box::new(|p: &mut Value| set(p, "estimated_cost_micros", Value::from(0.5))),
        ),
        (
            "receipt-id-empty",
            "receipt_id is the empty string.",
            Box::new(|p: &mut Value| set(p, "receipt_id", Value::from(""))),
        ),
        (
            "receipt-id-129",
            "receipt_id is 129 characters.",
            Box::new(|p: &mut Value| set(p, "receipt_id", Value::from("r".repeat(129)))),
        ),
        (
            "receipt-id-space",
            "receipt_id holds a space.",
            Box::new(|p: &mut Value| set(p, "receipt_id", Value::from("rcpt 1"))),
        ),
        (
            "authorization-id-non-ascii",
            "authorization_id holds a non-ASCII letter.",
            Box::new(|p: &mut Value| set(p, "authorization_id", Value::from("auth_é"))),
        ),
        (
            "v-fraction",
            "v is 1.5 (not an integer, so bad_structure, not unsupported_version).",
            Box::new(|p: &mut Value| set(p, "v", Value::from(1.5))),
        ),
        (
            "v-null",
            "v is null.",
            Box::new(|p: &mut Value| set(p, "v", Value::Null)),
        ),
    ];
    for (name, desc, edit) in cases {
        bad(g, "bad_structure", name, desc, &*edit);
    }
    for (name, at, desc) in [
        (
            "instant-lowercase-z",
            "2026-11-22T01:15:00z",
            "issued_at ends in a lowercase z.",
        ),
        (
            "instant-lowercase-t",
            "2026-11-22t01:15:00Z",
            "issued_at has a lowercase t.",
        ),
        (
            "instant-offset",
            "2026-11-22T01:15:00+00:00",
            "issued_at has an offset instead of Z.",
        ),
        (
            "instant-no-zone",
            "2026-11-22T01:15:00",
            "issued_at has no zone.",
        ),
        (
            "instant-leap-second",
            "2026-12-31T23:59:60Z",
            "issued_at is a leap second.",
        ),
        (
            "instant-feb-30",
            "2026-02-30T01:15:00Z",
            "issued_at is on February 30.",
        ),
        (
            "instant-feb-29-non-leap",
            "2026-02-29T01:15:00Z",
            "issued_at is on February 29 of a non-leap year.",
        ),
        (
            "instant-1969",
            "1969-12-31T23:59:59Z",
            "issued_at is in 1969.",
        ),
        (
            "instant-10-fraction-digits",
            "2026-11-22T01:15:00.1234567890Z",
            "issued_at has 10 fraction digits.",
        ),
        (
            "instant-empty-fraction",
            "2026-11-22T01:15:00.Z",
            "issued_at has a point but no fraction digits.",
        ),
        (
            "instant-no-seconds",
            "2026-11-22T01:15Z",
            "issued_at has no seconds.",
        ),
        (
            "instant-hour-24",
            "2026-11-22T24:00:00Z",
            "issued_at has hour 24.",
        ),
        (
            "instant-space",
            "2026-11-22 01:15:00Z",
            "issued_at uses a space instead of T.",
        ),
        (
            "instant-year-5-digits",
            "12026-11-22T01:15:00Z",
            "issued_at has a five-digit year.",
        ),
        (
            "instant-non-ascii-digit",
            "2026-11-22T01:15:0\u{0661}Z",
            "issued_at holds an Arabic-Indic digit.",
        ),
        (
            "instant-unix",
            "1795309500",
            "issued_at is a Unix time in a string.",
        ),
    ] {
        bad(g, "bad_structure", name, desc, &|p: &mut Value| {
            set(p, "issued_at", Value::from(at))
        });
    }
    // The outer object.
    let p = g.check();
    let s = g.sign(&p);
    let t = s.json.clone();
    g.bad(
        "bad_structure",
        "extra-top-level-member",
        "The receipt has a member beside payload and sig.",
        replace_once(&t, "{\"payload\":", "{\"meta\":1,\"payload\":"),
    );
    g.bad(
        "bad_structure",
        "payload-missing",
        "The receipt has sig but no payload.",
        format!("{{\"sig\":\"{}\"}}", s.sig),
    );
    g.bad(
        "bad_structure",
        "payload-array",
        "payload is an array.",
        format!("{{\"payload\":[],\"sig\":\"{}\"}}", s.sig),
    );
    g.bad(
        "bad_structure",
        "payload-string",
        "payload is the payload's JSON text in a string.",
        compact(&obj(vec![
            (
                "payload",
                Value::from(String::from_utf8(kvitto_core::jcs::to_vec(&p)).expect("utf-8")),
            ),
            ("sig", Value::from(s.sig.as_str())),
        ])),
    );
    g.bad(
        "bad_structure",
        "receipt-array",
        "The receipt is an array holding the receipt.",
        format!("[{t}]"),
    );
    g.bad(
        "bad_structure",
        "receipt-string",
        "The receipt is a JSON string.",
        "\"receipt\"",
    );
    g.bad(
        "bad_structure",
        "receipt-null",
        "The receipt is null.",
        "null",
    );

    // Versions.
    let two = obj(vec![("v", Value::from(2u64))]);
    let s2 = g.sign(&two);
    g.bad(
        "unsupported_version",
        "v2-other-shape",
        "A later version with another shape: payload {\"v\":2} only.",
        s2.json,
    );
    for (name, v, desc) in [
        (
            "v2",
            Value::from(2u64),
            "A full v1-shaped payload with v 2.",
        ),
        ("v0", Value::from(0u64), "v is 0."),
        ("v-negative", Value::from(-1i64), "v is -1."),
    ] {
        let mut p = g.check();
        set(&mut p, "v", v);
        g.bad("unsupported_version", name, desc, g.sign(&p).json);
    }
    let mut p = g.check();
    set(&mut p, "v", Value::from(2u64));
    text::remove(&mut p, "kind");
    set(&mut p, "sig", Value::from(3u64));
    g.bad(
        "unsupported_version",
        "v2-missing-kind",
        "v 2 without kind and with an odd member: the version is checked before the shape.",
        g.sign(&p).json,
    );
    let t2 = g.sign(&obj(vec![("v", Value::from(2u64))])).json;
    g.bad(
        "unsupported_version",
        "v2-written-2.0",
        "v written 2.0 is the integer 2.",
        replace_once(&t2, "\"v\":2", "\"v\":2.0"),
    );
}
