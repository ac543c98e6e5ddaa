//! Single-receipt vectors: valid receipts in many byte layouts, and each
//! error code of sections 2 to 7 from several inputs with one defect each.

use kvitto_core::sign::{Common, IssuerKey, Signed, payload};
use kvitto_core::{Hash, Kind, Value};

use super::keys::{self, DEMO, Issuers, OTHER};
use super::text::{compact, escaped, obj, pretty, replace_once, reversed, set};
use super::{Corpus, Expect};

/// The issued_at of most single-receipt vectors.
pub(crate) const AT: &str = "2026-11-22T01:15:00.123Z";

pub(crate) const KINDS: [Kind; 5] = [
    Kind::AuthorizationCreated,
    Kind::Check,
    Kind::ConfirmationResolved,
    Kind::EscalationResolved,
    Kind::AuthorizationRevoked,
];

pub(crate) fn slug(kind: Kind) -> &'static str {
    match kind {
        Kind::AuthorizationCreated => "created",
        Kind::Check => "check",
        Kind::ConfirmationResolved => "confirmation",
        Kind::EscalationResolved => "escalation",
        Kind::AuthorizationRevoked => "revoked",
    }
}

/// The required members of each kind beyond the common ones, with typical values.
pub(crate) fn members(kind: Kind) -> Vec<(&'static str, Value)> {
    match kind {
        Kind::AuthorizationCreated => vec![
            ("user_id", Value::from("user_alice")),
            ("agent_id", Value::from("agent_mailer")),
            (
                "scopes",
                Value::Array(vec![
                    obj(vec![
                        ("name", Value::from("email.send")),
                        (
                            "constraints",
                            obj(vec![("max_recipients", Value::from(5u64))]),
                        ),
                    ]),
                    obj(vec![
                        ("name", Value::from("payments.transfer")),
                        ("constraints", obj(vec![])),
                    ]),
                ]),
            ),
            (
                "requires_confirm_for",
                Value::Array(vec![Value::from("email.send")]),
            ),
            (
                "requires_escalation_for",
                Value::Array(vec![Value::from("payments.transfer")]),
            ),
            (
                "escalation_targets",
                obj(vec![("payments.transfer", Value::from("user_bob"))]),
            ),
            ("expires_at", Value::from("2026-12-31T23:59:59Z")),
            ("budget_limit_micros", Value::from(5_000_000u64)),
            ("metadata", obj(vec![("ticket", Value::from("OPS-1"))])),
        ],
        Kind::Check => vec![
            ("scope", Value::from("email.send")),
            ("decision", Value::from("allow")),
            ("reason", Value::from("ok")),
            ("resource", Value::from("mailto:team@example.com")),
            ("session_id", Value::from("sess_1")),
            ("context", obj(vec![("recipients", Value::from(3u64))])),
            ("estimated_cost_micros", Value::from(1200u64)),
            (
                "budget",
                obj(vec![
                    ("limit_micros", Value::from(5_000_000u64)),
                    ("spent_before_micros", Value::from(0u64)),
                    ("spent_after_micros", Value::from(1200u64)),
                ]),
            ),
            ("confirm_nonce", Value::Null),
            ("escalation_id", Value::Null),
            ("escalation_to", Value::Null),
        ],
        Kind::ConfirmationResolved => vec![
            ("scope", Value::from("email.send")),
            ("confirm_nonce", Value::from("cn_1")),
            ("approved", Value::Bool(true)),
            ("ttl_seconds", Value::from(300u64)),
        ],
        Kind::EscalationResolved => vec![
            ("scope", Value::from("payments.transfer")),
            ("escalation_id", Value::from("esc_1")),
            ("approved", Value::Bool(false)),
            ("resolved_by", Value::from("user_bob")),
        ],
        Kind::AuthorizationRevoked => vec![("revoked_by", Value::from("user_alice"))],
    }
}

pub(crate) fn some_prev() -> Hash {
    Hash::of(b"kvitto vectors: the receipt before")
}

/// A typical payload of `kind` in ws_demo, signed-at `at` under `kid`.
pub(crate) fn base(kind: Kind, kid: &str, at: &str) -> Value {
    let seq = if kind == Kind::AuthorizationCreated {
        0
    } else {
        7
    };
    let common = Common {
        receipt_id: "rcpt_vec_1",
        workspace_id: "ws_demo",
        authorization_id: "auth_vectors",
        seq,
        prev: (seq > 0).then(some_prev),
        issued_at: at,
        kid,
    };
    payload(kind, &common, members(kind))
}

/// Set `bits` in the unused low bits of a canonical base64url text's last character.
pub(crate) fn set_trailing_bits(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *s.as_bytes().last().expect("non-empty");
    let v = ALPHABET.iter().position(|&c| c == last).expect("base64url") as u8;
    assert_eq!(v & 1, 0, "the unused bits of a canonical encoding are zero");
    let mut out = s[..s.len() - 1].to_owned();
    out.push(char::from(ALPHABET[usize::from(v | 1)]));
    out
}

pub(crate) struct Gen<'a> {
    pub(crate) c: &'a mut Corpus,
    pub(crate) k: &'a Issuers,
}

impl Gen<'_> {
    pub(crate) fn ok(
        &mut self,
        name: &str,
        desc: &str,
        bytes: impl Into<Vec<u8>>,
        s: &Signed,
        kid: &str,
    ) {
        let expect = Expect::Ok {
            hash: s.receipt_hash,
            kid: kid.to_owned(),
        };
        self.c.receipt(
            &format!("receipt/valid/{name}"),
            desc,
            bytes.into(),
            &[DEMO],
            expect,
        );
    }

    pub(crate) fn bad(
        &mut self,
        code: &'static str,
        name: &str,
        desc: &str,
        bytes: impl Into<Vec<u8>>,
    ) {
        self.c.receipt(
            &format!("receipt/{code}/{name}"),
            desc,
            bytes.into(),
            &[DEMO],
            Expect::Err(code),
        );
    }

    pub(crate) fn active(&self) -> &IssuerKey {
        &self.k.active
    }

    pub(crate) fn sign(&self, p: &Value) -> Signed {
        self.active().sign_payload(p)
    }

    pub(crate) fn check(&self) -> Value {
        base(Kind::Check, self.active().kid(), AT)
    }
}

pub(crate) fn all(c: &mut Corpus, k: &Issuers) {
    let mut g = Gen { c, k };
    valid_layouts(&mut g);
    windows(&mut g);
    super::signatures::all(&mut g);
    super::structure::all(&mut g);
    super::strict::all(&mut g);
}

fn valid_layouts(g: &mut Gen<'_>) {
    let kid = g.active().kid().to_owned();
    for kind in KINDS {
        let p = base(kind, &kid, AT);
        let s = g.sign(&p);
        let n = slug(kind);
        let k = kind.as_str();
        g.ok(
            n,
            &format!("A valid {k} receipt in canonical form."),
            s.json.clone(),
            &s,
            &kid,
        );
        g.ok(
            &format!("{n}-pretty"),
            &format!("A valid {k} receipt, pretty-printed."),
            pretty(&s.receipt),
            &s,
            &kid,
        );
        g.ok(
            &format!("{n}-reordered"),
            &format!("A valid {k} receipt with every object's members in reverse order."),
            compact(&reversed(&s.receipt)),
            &s,
            &kid,
        );
        g.ok(
            &format!("{n}-escaped"),
            &format!("A valid {k} receipt with every character of every string and member name written as a \\u escape."),
            escaped(&s.receipt),
            &s,
            &kid,
        );
        let seq_token = if kind == Kind::AuthorizationCreated {
            "0"
        } else {
            "7"
        };
        let numbers = replace_once(
            &replace_once(&s.json, "\"v\":1", "\"v\":1.0E0"),
            &format!("\"seq\":{seq_token}"),
            &format!("\"seq\":{seq_token}.000"),
        );
        g.ok(
            &format!("{n}-numbers"),
            &format!("A valid {k} receipt with v written 1.0E0 and seq {seq_token}.000."),
            numbers,
            &s,
            &kid,
        );
    }
    // A check whose payload holds strings and names that JCS must normalize.
    let mut p = g.check();
    set(
        &mut p,
        "context",
        obj(vec![
            ("note", Value::from("café/ok")),
            (
                "names",
                obj(vec![
                    ("\u{E000}", Value::from(1u64)),
                    ("\u{1F600}", Value::from(2u64)),
                ]),
            ),
            ("nonchar", Value::from("a\u{FFFF}b")),
            ("ratio", Value::from(100u64)),
        ]),
    );
    let s = g.sign(&p);
    let t = s.json.clone();
    assert!(
        t.contains("{\"\u{1F600}\":2,\"\u{E000}\":1}"),
        "JCS orders names by UTF-16 code units"
    );
    g.ok("check-rich", "A check whose context holds é, /, astral and private-use member names, U+FFFF and a number.", t.clone(), &s, &kid);
    g.ok(
        "check-rich-pretty",
        "The rich check, pretty-printed.",
        pretty(&s.receipt),
        &s,
        &kid,
    );
    g.ok(
        "check-rich-reordered",
        "The rich check with members in reverse order.",
        compact(&reversed(&s.receipt)),
        &s,
        &kid,
    );
    g.ok(
        "check-escaped-e-acute",
        "é written as \\u00e9.",
        replace_once(&t, "café", "caf\\u00e9"),
        &s,
        &kid,
    );
    g.ok(
        "check-escaped-e-acute-upper",
        "é written as \\u00E9.",
        replace_once(&t, "café", "caf\\u00E9"),
        &s,
        &kid,
    );
    g.ok(
        "check-escaped-slash",
        "/ written as \\/.",
        replace_once(&t, "café/ok", "café\\/ok"),
        &s,
        &kid,
    );
    g.ok(
        "check-escaped-ascii",
        "Plain ASCII letters of a string and a member name written as \\u escapes.",
        replace_once(
            &replace_once(&t, "\"nonchar\"", "\"\\u006eonchar\""),
            "\"sess_1\"",
            "\"\\u0073ess_1\"",
        ),
        &s,
        &kid,
    );
    for (name, token) in [
        ("1e2", "1e2"),
        ("1E2", "1E2"),
        ("100.0", "100.0"),
        ("1.0e2", "1.0e2"),
        ("10000e-2", "10000e-2"),
        ("1E+2", "1E+2"),
    ] {
        g.ok(
            &format!("check-number-{name}"),
            &format!("The number 100 written as {token}."),
            replace_once(&t, "\"ratio\":100", &format!("\"ratio\":{token}")),
            &s,
            &kid,
        );
    }
    g.ok(
        "check-v-1.0",
        "v written as 1.0 is the integer 1.",
        replace_once(&t, "\"v\":1", "\"v\":1.0"),
        &s,
        &kid,
    );
    g.ok(
        "check-v-1e0",
        "v written as 1e0 is the integer 1.",
        replace_once(&t, "\"v\":1", "\"v\":1e0"),
        &s,
        &kid,
    );
    g.ok(
        "check-v-1.0000000000000001",
        "v written as 1.0000000000000001 rounds to the integer 1.",
        replace_once(&t, "\"v\":1", "\"v\":1.0000000000000001"),
        &s,
        &kid,
    );
    g.ok(
        "check-seq-7.0",
        "seq written as 7.0 is the integer 7.",
        replace_once(&t, "\"seq\":7", "\"seq\":7.0"),
        &s,
        &kid,
    );
    g.ok("check-names-utf8-order", "Member names in UTF-8 order (U+E000 before U+1F600), which differs from JCS's UTF-16 order.", replace_once(&t, "{\"\u{1F600}\":2,\"\u{E000}\":1}", "{\"\u{E000}\":1,\"\u{1F600}\":2}"), &s, &kid);
    g.ok(
        "check-names-escaped-pair",
        "U+1F600 written as the escaped surrogate pair \\uD83D\\uDE00, U+E000 as \\uE000.",
        replace_once(
            &replace_once(&t, "\"\u{1F600}\"", "\"\\uD83D\\uDE00\""),
            "\"\u{E000}\"",
            "\"\\uE000\"",
        ),
        &s,
        &kid,
    );
    g.ok(
        "check-noncharacter-escaped",
        "The noncharacter U+FFFF written as \\uffff.",
        replace_once(&t, "a\u{FFFF}b", "a\\uffffb"),
        &s,
        &kid,
    );
    g.ok(
        "check-whitespace-around",
        "White space before and after the receipt, and a final LF.",
        format!(" \t\r\n{t}\r\n "),
        &s,
        &kid,
    );
    g.ok(
        "check-tabs-inside",
        "Tabs, CRs and LFs between tokens.",
        t.replacen(",\"", ",\t\r\n\"", 5).replacen(":", " : ", 5),
        &s,
        &kid,
    );

    // Every decision, and the retired key inside its window.
    for (decision, reason) in [
        ("deny", "scope_not_authorized"),
        ("confirm", "confirmation_required"),
        ("escalate", "escalation_required"),
    ] {
        let mut p = g.check();
        set(&mut p, "decision", Value::from(decision));
        set(&mut p, "reason", Value::from(reason));
        let s = g.sign(&p);
        g.ok(
            &format!("check-{decision}"),
            &format!("A check with decision {decision} and reason {reason}."),
            s.json.clone(),
            &s,
            &kid,
        );
    }
    let mut p = g.check();
    for name in ["resource", "session_id", "estimated_cost_micros", "budget"] {
        set(&mut p, name, Value::Null);
    }
    set(&mut p, "decision", Value::from("confirm"));
    set(&mut p, "reason", Value::from("confirmation_required"));
    set(&mut p, "confirm_nonce", Value::from("cn_9"));
    let s = g.sign(&p);
    g.ok(
        "check-nulls",
        "A check whose nullable members are null (and a confirm nonce).",
        s.json.clone(),
        &s,
        &kid,
    );
    let mut p = base(Kind::AuthorizationCreated, &kid, AT);
    set(&mut p, "expires_at", Value::Null);
    set(&mut p, "budget_limit_micros", Value::Null);
    set(&mut p, "scopes", Value::Array(vec![]));
    let s = g.sign(&p);
    g.ok(
        "created-nulls",
        "An authorization.created with no expiry, no budget and no scopes.",
        s.json.clone(),
        &s,
        &kid,
    );
    let mut p = g.check();
    set(
        &mut p,
        "x_extension",
        obj(vec![(
            "nested",
            Value::Array(vec![Value::Null, Value::Bool(true), Value::from(-2.5)]),
        )]),
    );
    let s = g.sign(&p);
    g.ok(
        "check-extra-member",
        "A payload member not in the contract is allowed and signed.",
        s.json.clone(),
        &s,
        &kid,
    );
    let retired = g.k.retired.kid().to_owned();
    let p = base(Kind::Check, &retired, "2026-06-15T12:00:00Z");
    let s = g.k.retired.sign_payload(&p);
    g.ok(
        "retired-key-in-window",
        "A receipt signed by the retired key inside its window (rotation).",
        s.json.clone(),
        &s,
        &retired,
    );
    // A receipt of another workspace, verified with both documents.
    let mut p = base(Kind::Check, g.k.other.kid(), AT);
    set(&mut p, "workspace_id", Value::from("ws_other"));
    let s = g.k.other.sign_payload(&p);
    g.c.receipt(
        "receipt/valid/other-workspace",
        "A ws_other receipt given both key documents: the document is picked by workspace_id.",
        s.json.clone().into_bytes(),
        &[DEMO, OTHER],
        Expect::Ok {
            hash: s.receipt_hash,
            kid: g.k.other.kid().to_owned(),
        },
    );
    g.c.receipt(
        "receipt/workspace_mismatch/other-workspace",
        "A ws_other receipt given only the ws_demo document.",
        s.json.clone().into_bytes(),
        &[DEMO],
        Expect::Err("workspace_mismatch"),
    );
    let mut p = g.check();
    set(&mut p, "workspace_id", Value::from("ws_nope"));
    let s = g.sign(&p);
    g.bad(
        "workspace_mismatch",
        "unknown-workspace",
        "A receipt of workspace ws_nope, signed by a ws_demo key.",
        s.json,
    );
    let mut p = base(Kind::Check, g.k.unlisted.kid(), AT);
    set(&mut p, "context", obj(vec![]));
    let s = g.k.unlisted.sign_payload(&p);
    g.bad(
        "unknown_kid",
        "unlisted",
        "Signed by a key whose kid is not in the document.",
        s.json,
    );
    let p = base(Kind::Check, g.k.other.kid(), AT);
    let s = g.k.other.sign_payload(&p);
    g.bad(
        "unknown_kid",
        "kid-of-other-workspace",
        "A ws_demo receipt naming the kid of a ws_other key.",
        s.json,
    );
    let p = base(Kind::Check, &kid.to_uppercase(), AT);
    let s = g.sign(&p);
    g.bad(
        "unknown_kid",
        "kid-case",
        "The kid differs from the document's only in case.",
        s.json,
    );
}

fn windows(g: &mut Gen<'_>) {
    use keys::{ACTIVE_FROM, RETIRED_FROM};
    let retired = g.k.retired.clone();
    let active = g.k.active.clone();
    let cases: [(&IssuerKey, &str, &str, bool); 11] = [
        (&retired, "retired-at-not-before", RETIRED_FROM, true),
        (
            &retired,
            "retired-not-before-plus-1ns",
            "2026-01-01T00:00:00.000000001Z",
            true,
        ),
        (
            &retired,
            "retired-not-before-minus-1ns",
            "2025-12-31T23:59:59.999999999Z",
            false,
        ),
        (
            &retired,
            "retired-not-after-minus-1ns",
            "2026-10-31T23:59:59.999999999Z",
            true,
        ),
        (&retired, "retired-at-not-after", ACTIVE_FROM, false),
        (
            &retired,
            "retired-at-not-after-nanos",
            "2026-11-01T00:00:00.000000000Z",
            false,
        ),
        (
            &retired,
            "retired-not-after-plus-1ns",
            "2026-11-01T00:00:00.000000001Z",
            false,
        ),
        (&active, "active-at-not-before", ACTIVE_FROM, true),
        (
            &active,
            "active-at-not-before-nanos",
            "2026-11-01T00:00:00.000Z",
            true,
        ),
        (
            &active,
            "active-not-before-plus-1ns",
            "2026-11-01T00:00:00.000000001Z",
            true,
        ),
        (
            &active,
            "active-not-before-minus-1ns",
            "2026-10-31T23:59:59.999999999Z",
            false,
        ),
    ];
    for (key, name, at, valid) in cases {
        let p = base(Kind::AuthorizationCreated, key.kid(), at);
        let s = key.sign_payload(&p);
        if valid {
            g.ok(
                &format!("window-{name}"),
                &format!("issued_at {at} lies inside the window of {}.", key.kid()),
                s.json.clone(),
                &s,
                key.kid(),
            );
        } else {
            g.bad(
                "key_not_valid_at",
                name,
                &format!("issued_at {at} lies outside the window of {}.", key.kid()),
                s.json,
            );
        }
    }
    let active = g.k.active.clone();
    let p = base(Kind::Check, active.kid(), "2026-03-01T00:00:00Z");
    g.bad(
        "key_not_valid_at",
        "active-long-before",
        "A receipt of the active key dated months before its window.",
        active.sign_payload(&p).json,
    );
    let revoked = g.k.revoked.clone();
    for (name, at, desc) in [
        (
            "inside-window",
            "2025-09-01T00:00:00Z",
            "Signed by the revoked key, dated inside its window.",
        ),
        (
            "outside-window",
            "2026-11-20T00:00:00Z",
            "Signed by the revoked key, dated after its window (status is checked first).",
        ),
    ] {
        let p = base(Kind::Check, revoked.kid(), at);
        g.bad("key_revoked", name, desc, revoked.sign_payload(&p).json);
    }
    let p = base(Kind::Check, revoked.kid(), "2025-09-01T00:00:00Z");
    let s = revoked.sign_payload(&p);
    g.bad(
        "signature_invalid",
        "revoked-key-tampered",
        "A tampered receipt of the revoked key: the signature is checked before the status.",
        replace_once(
            &s.json,
            "\"scope\":\"email.send\"",
            "\"scope\":\"email.read\"",
        ),
    );
}
