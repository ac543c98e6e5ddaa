//! Export and chain vectors (sections 8 and 9), and the README's sample trail.

use kvitto_core::sign::{Common, IssuerKey, Signed, payload};
use kvitto_core::{Hash, Kind, Value};

use super::Corpus;
use super::keys::{DEMO, Issuers, OTHER};
use super::receipts::members;
use super::text::{pretty, replace_once, set};

/// One receipt of a chain to build.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) kind: Kind,
    pub(crate) at: String,
    pub(crate) edits: Vec<(&'static str, Value)>,
}

pub(crate) fn step(kind: Kind, at: &str) -> Step {
    Step {
        kind,
        at: at.to_owned(),
        edits: Vec::new(),
    }
}

pub(crate) fn with(mut s: Step, name: &'static str, v: impl Into<Value>) -> Step {
    s.edits.push((name, v.into()));
    s
}

pub(crate) fn check(at: &str, decision: &str, reason: &str) -> Step {
    let s = with(step(Kind::Check, at), "decision", decision);
    with(s, "reason", reason)
}

/// Sign a chain; `prev_of(seq, hash_before)` may override each prev.
fn build_with(
    key: &IssuerKey,
    ws: &str,
    auth: &str,
    steps: &[Step],
    prev_of: &dyn Fn(u64, Option<Hash>) -> Option<Hash>,
) -> Vec<Signed> {
    let mut out: Vec<Signed> = Vec::new();
    let mut last: Option<Hash> = None;
    for (i, st) in steps.iter().enumerate() {
        let seq = i as u64;
        let rid = format!("rcpt_{}_{seq}", auth.trim_start_matches("auth_"));
        let common = Common {
            receipt_id: &rid,
            workspace_id: ws,
            authorization_id: auth,
            seq,
            prev: prev_of(seq, last),
            issued_at: &st.at,
            kid: key.kid(),
        };
        let mut p = payload(st.kind, &common, members(st.kind));
        for (name, v) in &st.edits {
            set(&mut p, name, v.clone());
        }
        let s = key.sign_payload(&p);
        last = Some(s.receipt_hash);
        out.push(s);
    }
    out
}

pub(crate) fn build(key: &IssuerKey, ws: &str, auth: &str, steps: &[Step]) -> Vec<Signed> {
    build_with(key, ws, auth, steps, &|_, h| h)
}

fn at(minute: u32) -> String {
    format!("2026-11-22T09:{minute:02}:00Z")
}

/// A chain of `n` receipts (n ≥ 1) of every kind; with `revoke`, its last is authorization.revoked.
fn steps(n: usize, revoke: bool, start: u32) -> Vec<Step> {
    let all = [
        step(Kind::AuthorizationCreated, &at(start)),
        check(&at(start + 1), "allow", "ok"),
        with(
            check(&at(start + 2), "confirm", "confirmation_required"),
            "confirm_nonce",
            "cn_1",
        ),
        step(Kind::ConfirmationResolved, &at(start + 3)),
        with(
            check(&at(start + 4), "escalate", "escalation_required"),
            "escalation_id",
            "esc_1",
        ),
        step(Kind::EscalationResolved, &at(start + 5)),
        check(&at(start + 6), "deny", "budget_exceeded"),
        check(&at(start + 7), "allow", "ok"),
    ];
    let mut out: Vec<Step> = all.iter().take(n).cloned().collect();
    if revoke {
        let last = out.len() - 1;
        out[last] = with(
            step(Kind::AuthorizationRevoked, &at(start + last as u32)),
            "revoked_by",
            "user_alice",
        );
    }
    out
}

pub(crate) fn lines(receipts: &[&Signed]) -> Vec<u8> {
    let mut out = String::new();
    for r in receipts {
        out.push_str(&r.json);
        out.push('\n');
    }
    out.into_bytes()
}

fn refs(v: &[Signed]) -> Vec<&Signed> {
    v.iter().collect()
}

fn pick<'a>(v: &'a [Signed], order: &[usize]) -> Vec<&'a Signed> {
    order.iter().map(|&i| &v[i]).collect()
}

pub(crate) fn all(c: &mut Corpus, k: &Issuers) {
    let key = &k.active;
    let closed = build(key, "ws_demo", "auth_closed", &steps(7, true, 0));
    let open = build(key, "ws_demo", "auth_open", &steps(5, false, 10));
    let ok = |n: usize| vec![None; n];
    let mut export = |id: &str,
                      desc: &str,
                      bytes: Vec<u8>,
                      records: &[Option<&str>],
                      chains: &[(&str, Option<&str>)]| {
        let name = id.strip_prefix("export/").expect("export ids");
        c.export(
            id,
            desc,
            &format!("exports/{name}.jsonl"),
            bytes,
            &[DEMO],
            true,
            records,
            chains,
        );
    };
    export(
        "export/complete-closed",
        "A complete chain of every kind, closed by revocation, in order.",
        lines(&refs(&closed)),
        &ok(7),
        &[("auth_closed", None)],
    );
    export(
        "export/complete-shuffled",
        "The closed chain with its lines shuffled: chains are checked by seq, not by line order.",
        lines(&pick(&closed, &[3, 0, 6, 1, 5, 2, 4])),
        &ok(7),
        &[("auth_closed", None)],
    );
    export(
        "export/open",
        "A complete open chain (no revocation): valid, truncation not checked.",
        lines(&refs(&open)),
        &ok(5),
        &[("auth_open", None)],
    );
    export(
        "export/single-created",
        "A chain of one authorization.created.",
        lines(&refs(&open[..1])),
        &ok(1),
        &[("auth_open", None)],
    );
    export(
        "export/gap",
        "The open chain without seq 2.",
        lines(&pick(&open, &[0, 1, 3, 4])),
        &ok(4),
        &[("auth_open", Some("chain_gap"))],
    );
    export(
        "export/bad-start",
        "The open chain without seq 0.",
        lines(&pick(&open, &[1, 2, 3, 4])),
        &ok(4),
        &[("auth_open", Some("chain_bad_start"))],
    );
    let mut fork_steps = steps(5, false, 10);
    fork_steps[2] = with(
        fork_steps[2].clone(),
        "resource",
        "mailto:other@example.com",
    );
    let forked = build(key, "ws_demo", "auth_open", &fork_steps[..3]);
    let mut fork = refs(&open);
    fork.push(&forked[2]);
    export(
        "export/fork",
        "Two different receipts with seq 2 (same prev).",
        lines(&fork),
        &ok(6),
        &[("auth_open", Some("chain_fork"))],
    );
    let broken = build_with(
        key,
        "ws_demo",
        "auth_open",
        &steps(5, false, 10),
        &|seq, h| {
            if seq == 3 {
                Some(Hash::of(b"not the receipt before"))
            } else {
                h
            }
        },
    );
    export(
        "export/broken-link",
        "seq 3's prev is not the hash of seq 2 (each receipt validly signed).",
        lines(&refs(&broken)),
        &ok(5),
        &[("auth_open", Some("chain_broken_link"))],
    );
    let mut rev_steps2 = steps(5, false, 10);
    rev_steps2[3].at = "2026-11-22T09:11:59.999999999Z".to_owned();
    rev_steps2[2].at = "2026-11-22T09:12:00Z".to_owned();
    let reversed = build(key, "ws_demo", "auth_open", &rev_steps2);
    export(
        "export/time-reversal",
        "seq 3 (09:11:59.999999999) is issued one nanosecond before seq 2 (09:12:00).",
        lines(&refs(&reversed)),
        &ok(5),
        &[("auth_open", Some("chain_time_reversal"))],
    );
    let mut equal_steps = steps(5, false, 10);
    equal_steps[3].at = equal_steps[2].at.clone();
    let equal = build(key, "ws_demo", "auth_open", &equal_steps);
    export(
        "export/equal-times",
        "seq 2 and seq 3 share one issued_at: time never decreases, so valid.",
        lines(&refs(&equal)),
        &ok(5),
        &[("auth_open", None)],
    );
    let tampered = replace_once(
        &open[2].json,
        "\"resource\":\"mailto:team@example.com\"",
        "\"resource\":\"mailto:all@example.com\"",
    );
    let mut with_bad = lines(&pick(&open, &[0, 1]));
    with_bad.extend_from_slice(tampered.as_bytes());
    with_bad.push(b'\n');
    with_bad.extend(lines(&pick(&open, &[3, 4])));
    export(
        "export/invalid-receipt",
        "seq 2 was tampered with: it fails on its own and its chain is chain_invalid_receipt.",
        with_bad,
        &[None, None, Some("signature_invalid"), None, None],
        &[("auth_open", Some("chain_invalid_receipt"))],
    );
    let mut after_steps = steps(4, true, 20);
    after_steps.push(check(&at(24), "allow", "ok"));
    let after = build(key, "ws_demo", "auth_after", &after_steps);
    export(
        "export/after-revocation",
        "A check follows authorization.revoked.",
        lines(&refs(&after)),
        &ok(5),
        &[("auth_after", Some("chain_after_revocation"))],
    );
    export(
        "export/exact-duplicates",
        "seq 1 and seq 3 appear twice, byte for byte: reported as duplicates, not an error.",
        lines(&pick(&open, &[0, 1, 1, 2, 3, 3, 3, 4])),
        &ok(8),
        &[("auth_open", None)],
    );
    // Two defects: the rule order decides.
    let mut early_steps = steps(5, false, 10);
    early_steps[3].at = "2026-11-22T09:10:30Z".to_owned();
    let early = build(key, "ws_demo", "auth_open", &early_steps);
    let two = pick(&early, &[0, 1, 3, 4]);
    export(
        "export/gap-and-time-reversal",
        "seq 2 is missing and seq 3 is issued before seq 1: the gap rule (5) comes before time (7).",
        lines(&two),
        &ok(4),
        &[("auth_open", Some("chain_gap"))],
    );
    let mut fork_broken = refs(&broken);
    fork_broken.push(&forked[2]);
    export(
        "export/fork-and-broken-link",
        "A fork at seq 2 and a broken link at seq 3: fork (rule 3) wins.",
        lines(&fork_broken),
        &ok(6),
        &[("auth_open", Some("chain_fork"))],
    );
    let mut bad_and_gap = lines(&pick(&open, &[0, 1]));
    bad_and_gap.extend_from_slice(tampered.as_bytes());
    bad_and_gap.push(b'\n');
    bad_and_gap.extend(lines(&pick(&open, &[4])));
    export(
        "export/invalid-and-gap",
        "An invalid receipt and a missing seq 3: chain_invalid_receipt (rule 1) wins.",
        bad_and_gap,
        &[None, None, Some("signature_invalid"), None],
        &[("auth_open", Some("chain_invalid_receipt"))],
    );
    let mut start_and_after = after.clone();
    start_and_after.remove(0);
    export(
        "export/bad-start-and-after-revocation",
        "No seq 0 and a receipt after revocation: chain_bad_start (rule 4) wins.",
        lines(&refs(&start_and_after)),
        &ok(4),
        &[("auth_after", Some("chain_bad_start"))],
    );
    // Framing.
    let crlf = format!(
        "\r\n{}\r\n\r\n  \r\n{}\r\n\t\r\n{}\r\n{}\r\n{}",
        open[0].json, open[1].json, open[2].json, open[3].json, open[4].json
    );
    export(
        "export/crlf-blank-lines",
        "The open chain with CRLF line endings, blank and white-space lines, and no final line break.",
        crlf.into_bytes(),
        &ok(5),
        &[("auth_open", None)],
    );
    let mut fork_chain = refs(&open);
    fork_chain.insert(3, &forked[2]);
    let extra_chains = [
        (
            "chain/fork",
            "Two different receipts with seq 2.",
            lines(&fork_chain),
            Some("chain_fork"),
        ),
        (
            "chain/broken-link",
            "seq 3's prev is not the hash of seq 2.",
            lines(&refs(&broken)),
            Some("chain_broken_link"),
        ),
        (
            "chain/time-reversal",
            "seq 3 is issued one nanosecond before seq 2.",
            lines(&refs(&reversed)),
            Some("chain_time_reversal"),
        ),
        (
            "chain/after-revocation",
            "A check follows authorization.revoked.",
            lines(&refs(&after)),
            Some("chain_after_revocation"),
        ),
    ];
    export_more(c, k, &closed, &open);
    for (id, desc, bytes, code) in extra_chains {
        let name = id.strip_prefix("chain/").expect("chain ids");
        c.chain(
            id,
            desc,
            &format!("chains/{name}.jsonl"),
            bytes,
            &[DEMO],
            code,
        );
    }
}

fn export_more(c: &mut Corpus, k: &Issuers, closed: &[Signed], open: &[Signed]) {
    let ok = |n: usize| vec![None; n];
    let mut export = |id: &str,
                      desc: &str,
                      ext: &str,
                      bytes: Vec<u8>,
                      keys: &[&str],
                      records: &[Option<&str>],
                      chains: &[(&str, Option<&str>)]| {
        let name = id.strip_prefix("export/").expect("export ids");
        c.export(
            id,
            desc,
            &format!("exports/{name}.{ext}"),
            bytes,
            keys,
            true,
            records,
            chains,
        );
    };
    let array = format!(
        "[\n  {},\n  {}\n,{} , {},{}]\n",
        open[0].json, open[1].json, open[2].json, open[3].json, open[4].json
    );
    export(
        "export/json-array",
        "The open chain given as a JSON array (elements on several lines, some sharing one).",
        "json",
        array.into_bytes(),
        &[DEMO],
        &ok(5),
        &[("auth_open", None)],
    );
    let pretty_array = pretty(&Value::Array(
        open.iter().map(|s| s.receipt.clone()).collect(),
    ));
    export(
        "export/json-array-pretty",
        "The open chain as a pretty-printed JSON array.",
        "json",
        pretty_array.into_bytes(),
        &[DEMO],
        &ok(5),
        &[("auth_open", None)],
    );
    export(
        "export/single-pretty",
        "One pretty-printed receipt spanning many lines is one record.",
        "json",
        pretty(&closed[0].receipt).into_bytes(),
        &[DEMO],
        &ok(1),
        &[("auth_closed", None)],
    );
    let mut inter: Vec<&Signed> = Vec::new();
    for i in 0..7 {
        inter.push(&closed[i]);
        if i < 5 {
            inter.push(&open[i]);
        }
    }
    export(
        "export/two-authorizations",
        "Two authorizations interleaved line by line: one closed, one open.",
        "jsonl",
        lines(&inter),
        &[DEMO],
        &ok(12),
        &[("auth_closed", None), ("auth_open", None)],
    );
    let other = build(&k.other, "ws_other", "auth_other", &steps(4, true, 30));
    let mut two_ws = refs(open);
    two_ws.extend(refs(&other));
    export(
        "export/two-workspaces",
        "Chains of two workspaces, verified with both key documents.",
        "jsonl",
        lines(&two_ws),
        &[DEMO, OTHER],
        &ok(9),
        &[("auth_open", None), ("auth_other", None)],
    );
    let mut one_ws = [None; 9].to_vec();
    for slot in one_ws.iter_mut().skip(5) {
        *slot = Some("workspace_mismatch");
    }
    export(
        "export/two-workspaces-one-document",
        "The same export with only the ws_demo document: the ws_other receipts are workspace_mismatch.",
        "jsonl",
        lines(&two_ws),
        &[DEMO],
        &one_ws,
        &[
            ("auth_open", None),
            ("auth_other", Some("chain_invalid_receipt")),
        ],
    );
    let mut broken_line = lines(&pick(open, &[0, 1]));
    broken_line.extend_from_slice(&open[2].json.as_bytes()[..open[2].json.len() / 2]);
    broken_line.push(b'\n');
    broken_line.extend(lines(&pick(open, &[3, 4])));
    export(
        "export/broken-line",
        "seq 2's line is cut in half: that line is malformed_json and joins no chain, so the chain has a gap.",
        "jsonl",
        broken_line,
        &[DEMO],
        &[None, None, Some("malformed_json"), None, None],
        &[("auth_open", Some("chain_gap"))],
    );
    let mut garbage = lines(&refs(closed));
    garbage.extend_from_slice(b"this is not a receipt\n");
    garbage.extend(lines(&refs(open)));
    let mut garbage_codes = ok(13);
    garbage_codes[7] = Some("malformed_json");
    export(
        "export/garbage-line",
        "A line of text between two valid chains: one malformed record, both chains intact.",
        "jsonl",
        garbage,
        &[DEMO],
        &garbage_codes,
        &[("auth_closed", None), ("auth_open", None)],
    );
    // A receipt with a bad shape still lands in its chain (lenient authorization_id).
    let mut shaped = lines(&pick(open, &[0, 1]));
    let bad_shape = replace_once(
        &open[2].json,
        "\"decision\":\"confirm\"",
        "\"decision\":\"maybe\"",
    );
    shaped.extend_from_slice(bad_shape.as_bytes());
    shaped.push(b'\n');
    export(
        "export/bad-structure-in-chain",
        "seq 2 has an unknown decision: bad_structure, and its chain is chain_invalid_receipt.",
        "jsonl",
        shaped,
        &[DEMO],
        &[None, None, Some("bad_structure")],
        &[("auth_open", Some("chain_invalid_receipt"))],
    );
    // Duplicate authorization_id: the last occurrence groups it.
    let dup = replace_once(
        &closed[1].json,
        "\"authorization_id\":\"auth_closed\"",
        "\"authorization_id\":\"auth_closed\",\"authorization_id\":\"auth_open\"",
    );
    let mut dup_export = lines(&refs(closed));
    dup_export.extend_from_slice(dup.as_bytes());
    dup_export.push(b'\n');
    let mut dup_codes = ok(8);
    dup_codes[7] = Some("duplicate_key");
    export(
        "export/duplicate-authorization-id",
        "A receipt repeating authorization_id (auth_closed, then auth_open) is duplicate_key and is grouped by the last occurrence.",
        "jsonl",
        dup_export,
        &[DEMO],
        &dup_codes,
        &[
            ("auth_closed", None),
            ("auth_open", Some("chain_invalid_receipt")),
        ],
    );
    export(
        "export/empty",
        "An empty file: zero records, zero chains.",
        "jsonl",
        Vec::new(),
        &[DEMO],
        &[],
        &[],
    );
    export(
        "export/whitespace-only",
        "A file of blank lines and white space: zero records.",
        "jsonl",
        b"\n \r\n\t\n\n".to_vec(),
        &[DEMO],
        &[],
        &[],
    );
    // Receipts over 1 MiB still land in their chain (read leniently while
    // they stream past), whatever their line ends or framing.
    let big_check = |at: &str| {
        with(
            check(at, "allow", "ok"),
            "context",
            kvitto_core::sign::object([("pad", Value::from("p".repeat(1 << 20)))]),
        )
    };
    let mut after = steps(7, true, 0);
    after.push(big_check(&at(7)));
    let after = build(&k.active, "ws_demo", "auth_closed", &after);
    let mut tail = refs(closed);
    tail.push(&after[7]);
    let mut too_large = ok(7);
    too_large.push(Some("too_large"));
    c.export(
        "export/oversized-after-revocation",
        "A closed chain, then a seq-7 receipt of it over 1 MiB: the big receipt is too_large and still breaks its chain (chain_invalid_receipt), so the chain is not reported closed.",
        "exports/oversized-after-revocation.jsonl",
        lines(&tail),
        &[DEMO],
        true,
        &too_large,
        &[("auth_closed", Some("chain_invalid_receipt"))],
    );
    let mut middle = steps(5, false, 10);
    middle[2] = with(big_check(&at(12)), "decision", "confirm");
    middle[2] = with(middle[2].clone(), "reason", "confirmation_required");
    middle[2] = with(middle[2].clone(), "confirm_nonce", "cn_1");
    let middle = build(&k.active, "ws_demo", "auth_open", &middle);
    let crlf: Vec<u8> = middle
        .iter()
        .flat_map(|r| [r.json.as_bytes(), b"\r\n"].concat())
        .collect();
    c.export(
        "export/oversized-in-middle-crlf",
        "The open chain with CRLF line ends and its seq 2 over 1 MiB: chain_invalid_receipt (not chain_gap), however the lines end.",
        "exports/oversized-in-middle-crlf.jsonl",
        crlf,
        &[DEMO],
        true,
        &[None, None, Some("too_large"), None, None],
        &[("auth_open", Some("chain_invalid_receipt"))],
    );
    let array = format!(
        "[{}]",
        middle
            .iter()
            .map(|r| r.json.as_str())
            .collect::<Vec<_>>()
            .join(",\n")
    );
    c.export(
        "export/oversized-element",
        "The same chain as a JSON array: the element over 1 MiB is too_large and breaks its chain.",
        "exports/oversized-element.json",
        array.into_bytes(),
        &[DEMO],
        true,
        &[None, None, Some("too_large"), None, None],
        &[("auth_open", Some("chain_invalid_receipt"))],
    );

    // Without chain checks.
    c.export(
        "export/gap-no-chains",
        "The gap export with chain checks off: every record valid, no chains reported.",
        "exports/gap.jsonl",
        lines(&pick(open, &[0, 1, 3, 4])),
        &[DEMO],
        false,
        &ok(4),
        &[],
    );

    // Explicit chains (verify_chain over the framed records).
    let mut chain = |id: &str, desc: &str, bytes: Vec<u8>, code: Option<&str>| {
        let name = id.strip_prefix("chain/").expect("chain ids");
        c.chain(
            id,
            desc,
            &format!("chains/{name}.jsonl"),
            bytes,
            &[DEMO],
            code,
        );
    };
    let mut mixed = refs(open);
    mixed.push(&closed[0]);
    chain(
        "chain/mixed",
        "An explicit chain holding receipts of two authorizations.",
        lines(&mixed),
        Some("chain_mixed"),
    );
    let mut mixed_gap = pick(open, &[0, 1, 3]);
    mixed_gap.push(&closed[5]);
    chain(
        "chain/mixed-and-gap",
        "Two authorizations and a gap: chain_mixed (rule 2) wins.",
        lines(&mixed_gap),
        Some("chain_mixed"),
    );
    chain(
        "chain/closed",
        "A complete closed chain.",
        lines(&refs(closed)),
        None,
    );
    chain(
        "chain/open",
        "A complete open chain.",
        lines(&refs(open)),
        None,
    );
    chain(
        "chain/shuffled",
        "The closed chain out of order.",
        lines(&pick(closed, &[6, 5, 4, 3, 2, 1, 0])),
        None,
    );
    chain(
        "chain/gap",
        "The open chain without seq 3.",
        lines(&pick(open, &[0, 1, 2, 4])),
        Some("chain_gap"),
    );
    chain(
        "chain/bad-start",
        "The closed chain without seq 0.",
        lines(&pick(closed, &[1, 2, 3, 4, 5, 6])),
        Some("chain_bad_start"),
    );
    chain(
        "chain/duplicate",
        "seq 0 given twice.",
        lines(&pick(open, &[0, 0, 1, 2, 3, 4])),
        None,
    );
    let mut inv = lines(&pick(open, &[0, 1]));
    inv.extend_from_slice(
        replace_once(
            &open[2].json,
            "\"scope\":\"email.send\"",
            "\"scope\":\"email.sent\"",
        )
        .as_bytes(),
    );
    chain(
        "chain/invalid-receipt",
        "seq 2 was tampered with (and the file has no final line break).",
        inv,
        Some("chain_invalid_receipt"),
    );
    chain(
        "chain/empty",
        "An empty list is never a valid chain: no seq 0.",
        Vec::new(),
        Some("chain_bad_start"),
    );

    super::sample::all(c, k);
}
