//! `cargo xtask demo`: a tour of kvitto's issuing server. It starts
//! `kvitto-server` on SQLite in a temporary directory, drives every kind of
//! decision through its HTTP API, rotates the signing key mid-trail, revokes
//! the authorization, exports the receipts and verifies them offline with
//! the `kvitto` CLI — then tampers with one receipt and shows the failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A minimal HTTP/1.0 client for loopback (the server closes after each answer).
struct Http {
    addr: String,
    api_key: String,
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Http {
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        auth: bool,
    ) -> anyhow::Result<Answer> {
        let mut s = TcpStream::connect(&self.addr)
            .with_context(|| format!("connecting to {}", self.addr))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {}\r\n", self.addr);
        if auth {
            req.push_str(&format!("Authorization: Bearer {}\r\n", self.api_key));
        }
        if method == "POST" {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no end of headers in the answer")?;
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("no status in the answer")?;
        Ok(Answer {
            status,
            body: raw[split + 4..].to_vec(),
        })
    }

    fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let a = self.request("POST", path, Some(&body), true)?;
        if !(200..300).contains(&a.status) {
            bail!(
                "POST {path} answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            );
        }
        a.json()
    }

    fn get(&self, path: &str, auth: bool) -> anyhow::Result<Answer> {
        self.request("GET", path, None, auth)
    }
}

/// The server process; stopped (SIGTERM) at the end, killed if the demo fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn step(n: &mut usize, title: &str) {
    *n += 1;
    println!("\n### {n}. {title}");
}

fn show_check(http: &Http, auth: &str, scopes: &[&str], extra: Value) -> anyhow::Result<Value> {
    let mut body = json!({"authorization_id": auth, "scopes": scopes});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    println!("POST /v1/check {body}");
    let r = http.post("/v1/check", body)?;
    for s in scopes {
        let x = &r["results"][s];
        let receipt = x["receipt"]["receipt_id"]
            .as_str()
            .map_or("receipt: null (no chain to write to)".to_owned(), |id| {
                format!("receipt {id}")
            });
        let mut line = format!(
            "  -> {s}: {} ({}), {receipt}",
            x["decision"].as_str().unwrap_or("?"),
            x["reason"].as_str().unwrap_or("?")
        );
        if let Some(b) = x["budget"].as_object() {
            line.push_str(&format!(
                ", budget {}/{} spent",
                b["spent_after_micros"], b["limit_micros"]
            ));
        }
        if let Some(n) = x["confirm_nonce"].as_str() {
            line.push_str(&format!(", confirm_nonce {n}"));
        }
        if let Some(e) = x["escalation_id"].as_str() {
            line.push_str(&format!(", escalation {e} to {}", x["escalation_to"]));
        }
        println!("{line}");
    }
    Ok(r["results"].clone())
}

fn expect(results: &Value, scope: &str, decision: &str, reason: &str) -> anyhow::Result<()> {
    let got = (
        results[scope]["decision"].as_str(),
        results[scope]["reason"].as_str(),
    );
    if got != (Some(decision), Some(reason)) {
        bail!("{scope}: expected {decision} ({reason}), got {got:?}");
    }
    Ok(())
}

fn kvitto(bin: &Path, args: &[&str], shown: &str, want: i32) -> anyhow::Result<()> {
    println!("$ kvitto {shown}");
    let status = Command::new(bin)
        .args(args)
        .status()
        .context("running kvitto")?;
    let code = status.code().unwrap_or(-1);
    println!("(exit code {code})");
    if code != want {
        bail!("expected exit code {want}, got {code}");
    }
    Ok(())
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    if let Some(arg) = args.first() {
        bail!("cargo xtask demo takes no arguments (got {arg:?})");
    }
    let root = crate::root();
    crate::sh(&[
        "cargo",
        "build",
        "--quiet",
        "-p",
        "kvitto-server",
        "-p",
        "kvitto-cli",
    ])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let server_bin = target.join("debug/kvitto-server");
    let kvitto_bin = target.join("debug/kvitto");
    let started = Instant::now();
    let tmp = std::env::temp_dir().join(format!("kvitto-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let result = tour(&server_bin, &kvitto_bin, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    println!(
        "\ndemo: done in {:.1} s after the build.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn tour(server_bin: &Path, kvitto_bin: &Path, tmp: &Path) -> anyhow::Result<()> {
    let mut n = 0;
    let data = tmp.join("data");
    step(
        &mut n,
        "initialize a data directory: database, workspace, signing key, API key",
    );
    println!(
        "$ kvitto-server init --data {} --format json",
        data.display()
    );
    let out = Command::new(server_bin)
        .args(["init", "--format", "json", "--data"])
        .arg(&data)
        .output()?;
    if !out.status.success() {
        bail!("init failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let init: Value = serde_json::from_slice(&out.stdout)?;
    let ws = init["workspace_id"]
        .as_str()
        .context("workspace_id")?
        .to_owned();
    let api_key = init["api_key"].as_str().context("api_key")?.to_owned();
    println!(
        "  workspace_id {ws}\n  kid          {}\n  keys_url     {}\n  api_key      {}… (printed once; only its hash is stored)",
        init["kid"].as_str().unwrap_or("?"),
        init["keys_url"].as_str().unwrap_or("?"),
        &api_key[..16]
    );

    step(&mut n, "serve it on a free port of 127.0.0.1");
    println!(
        "$ kvitto-server serve --data {} --listen 127.0.0.1:0",
        data.display()
    );
    let mut child = Command::new(server_bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("KVITTO_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .context("starting kvitto-server")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .context("the server's listening line")?
        .to_owned();
    println!("  {}", line.trim());
    let http = Http { addr, api_key };

    step(
        &mut n,
        "a pseudonymous user id (no e-mail address goes into receipts)",
    );
    println!("$ DEMO_PEPPER=… kvitto-server pii-id --pepper-env DEMO_PEPPER alice@example.com");
    let out = Command::new(server_bin)
        .args(["pii-id", "--pepper-env", "DEMO_PEPPER", "alice@example.com"])
        .env("DEMO_PEPPER", "demo pepper, keep yours secret")
        .output()?;
    let user_id = String::from_utf8(out.stdout)?.trim().to_owned();
    println!("  {user_id}");

    step(
        &mut n,
        "create an authorization: what alice lets her agent do",
    );
    let grant = json!({
        "user_id": user_id, "agent_id": "mail-agent-7",
        "scopes": ["mail:read", {"name": "mail:send", "constraints": {"max_per_day": 2}},
                   "payments:transfer", "records:delete"],
        "requires_confirm_for": ["payments:transfer"],
        "requires_escalation_for": ["records:delete"],
        "escalation_targets": {"records:delete": "ops-oncall"},
        "budget_limit_micros": 5_000_000, "expires_at": null,
        "metadata": {"purpose": "kvitto demo"}
    });
    println!("POST /v1/authorizations {grant}");
    let created = http.post("/v1/authorizations", grant)?;
    let auth = created["authorization_id"]
        .as_str()
        .context("authorization_id")?
        .to_owned();
    println!(
        "  -> 201 {auth}, receipt {} (seq 0, authorization.created)",
        created["receipt"]["receipt_id"].as_str().unwrap_or("?")
    );

    step(&mut n, "allow");
    let r = show_check(
        &http,
        &auth,
        &["mail:read"],
        json!({"resource": "imap://inbox", "estimated_cost_micros": 1200}),
    )?;
    expect(&r, "mail:read", "allow", "ok")?;

    step(&mut n, "deny: scope_not_authorized");
    expect(
        &show_check(&http, &auth, &["payments:wire"], json!({}))?,
        "payments:wire",
        "deny",
        "scope_not_authorized",
    )?;

    step(
        &mut n,
        "a daily limit: mail:send allows 2 per UTC day, then rate_limit_exceeded",
    );
    let send =
        json!({"resource": "mailto:ops@example.com", "context": {"subject": "weekly report"}});
    expect(
        &show_check(&http, &auth, &["mail:send"], send.clone())?,
        "mail:send",
        "allow",
        "ok",
    )?;
    expect(
        &show_check(&http, &auth, &["mail:send"], send.clone())?,
        "mail:send",
        "allow",
        "ok",
    )?;
    expect(
        &show_check(&http, &auth, &["mail:send"], send)?,
        "mail:send",
        "deny",
        "rate_limit_exceeded",
    )?;

    step(
        &mut n,
        "a budget denial: spent + estimated cost over budget_limit_micros denies every scope of the check",
    );
    let r = show_check(
        &http,
        &auth,
        &["mail:read", "payments:transfer"],
        json!({"estimated_cost_micros": 9_000_000}),
    )?;
    expect(&r, "mail:read", "deny", "budget_exceeded")?;
    expect(&r, "payments:transfer", "deny", "budget_exceeded")?;

    step(&mut n, "confirm -> the user approves -> allow");
    let r = show_check(
        &http,
        &auth,
        &["payments:transfer"],
        json!({"resource": "iban:SE00 1234", "estimated_cost_micros": 250_000}),
    )?;
    expect(&r, "payments:transfer", "confirm", "confirmation_required")?;
    let nonce = r["payments:transfer"]["confirm_nonce"]
        .as_str()
        .context("nonce")?
        .to_owned();
    println!(
        "  prompt hint: {}",
        r["payments:transfer"]["confirm_prompt_hint"]
    );
    println!("POST /v1/confirmations/{nonce} {{\"approved\":true,\"ttl_seconds\":600}}");
    let c = http.post(
        &format!("/v1/confirmations/{nonce}"),
        json!({"approved": true, "ttl_seconds": 600}),
    )?;
    println!(
        "  -> confirmation.resolved receipt {}",
        c["receipt"]["receipt_id"].as_str().unwrap_or("?")
    );
    let r = show_check(
        &http,
        &auth,
        &["payments:transfer"],
        json!({"resource": "iban:SE00 1234", "estimated_cost_micros": 250_000}),
    )?;
    expect(&r, "payments:transfer", "allow", "ok")?;

    step(&mut n, "escalate -> the approver approves -> allow once");
    let r = show_check(
        &http,
        &auth,
        &["records:delete"],
        json!({"resource": "crm://contacts/991"}),
    )?;
    expect(&r, "records:delete", "escalate", "escalation_required")?;
    let esc = r["records:delete"]["escalation_id"]
        .as_str()
        .context("escalation_id")?
        .to_owned();
    println!(
        "POST /v1/escalations/{esc}/resolve {{\"approved\":true,\"resolved_by\":\"bob@ops\"}}"
    );
    http.post(
        &format!("/v1/escalations/{esc}/resolve"),
        json!({"approved": true, "resolved_by": "bob@ops"}),
    )?;
    expect(
        &show_check(
            &http,
            &auth,
            &["records:delete"],
            json!({"resource": "crm://contacts/991"}),
        )?,
        "records:delete",
        "allow",
        "ok",
    )?;

    step(
        &mut n,
        "rotate the signing key mid-trail (the old key retires now; its receipts keep verifying)",
    );
    println!("POST /v1/workspaces/{ws}/keys/rotate");
    let rot = http.post(&format!("/v1/workspaces/{ws}/keys/rotate"), json!({}))?;
    println!(
        "  -> {} active from {}; {} retired",
        rot["kid"].as_str().unwrap_or("?"),
        rot["at"].as_str().unwrap_or("?"),
        rot["retired_kid"].as_str().unwrap_or("?")
    );

    step(
        &mut n,
        "deny: escalation_denied and confirmation_denied (after rejections)",
    );
    let r = show_check(
        &http,
        &auth,
        &["records:delete"],
        json!({"resource": "crm://contacts/992"}),
    )?;
    let esc = r["records:delete"]["escalation_id"]
        .as_str()
        .context("escalation_id")?
        .to_owned();
    println!(
        "POST /v1/escalations/{esc}/resolve {{\"approved\":false,\"resolved_by\":\"bob@ops\"}}"
    );
    http.post(
        &format!("/v1/escalations/{esc}/resolve"),
        json!({"approved": false, "resolved_by": "bob@ops"}),
    )?;
    expect(
        &show_check(&http, &auth, &["records:delete"], json!({}))?,
        "records:delete",
        "deny",
        "escalation_denied",
    )?;
    let other = http.post("/v1/authorizations", json!({"user_id": user_id, "agent_id": "mail-agent-7", "scopes": ["payments:transfer"], "requires_confirm_for": ["payments:transfer"]}))?;
    let other = other["authorization_id"]
        .as_str()
        .context("authorization_id")?
        .to_owned();
    println!("  (a second authorization, {other})");
    let r = show_check(&http, &other, &["payments:transfer"], json!({}))?;
    let nonce = r["payments:transfer"]["confirm_nonce"]
        .as_str()
        .context("nonce")?
        .to_owned();
    println!("POST /v1/confirmations/{nonce} {{\"approved\":false}}");
    http.post(
        &format!("/v1/confirmations/{nonce}"),
        json!({"approved": false}),
    )?;
    expect(
        &show_check(&http, &other, &["payments:transfer"], json!({}))?,
        "payments:transfer",
        "deny",
        "confirmation_denied",
    )?;

    step(
        &mut n,
        "deny: authorization_expired (an authorization that expires in two seconds)",
    );
    let soon = instant_in(2_000);
    let short = http.post("/v1/authorizations", json!({"user_id": user_id, "agent_id": "mail-agent-7", "scopes": ["mail:read"], "expires_at": soon}))?;
    let short = short["authorization_id"]
        .as_str()
        .context("authorization_id")?
        .to_owned();
    println!("  ({short}, expires_at {soon}; waiting for it)");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = http.post(
            "/v1/check",
            json!({"authorization_id": short, "scopes": ["mail:read"]}),
        )?;
        if r["results"]["mail:read"]["reason"] == "authorization_expired" {
            break;
        }
        if Instant::now() > deadline {
            bail!("the authorization did not expire");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    expect(
        &show_check(&http, &short, &["mail:read"], json!({}))?,
        "mail:read",
        "deny",
        "authorization_expired",
    )?;

    step(
        &mut n,
        "deny: authorization_not_found (nothing to write to: receipt null)",
    );
    expect(
        &show_check(&http, "auth_does_not_exist", &["mail:read"], json!({}))?,
        "mail:read",
        "deny",
        "authorization_not_found",
    )?;

    step(
        &mut n,
        "revoke: the authorization.revoked receipt closes the chain",
    );
    println!("POST /v1/authorizations/{auth}/revoke {{\"revoked_by\":\"alice\"}}");
    let rv = http.post(
        &format!("/v1/authorizations/{auth}/revoke"),
        json!({"revoked_by": "alice"}),
    )?;
    println!(
        "  -> receipt {}",
        rv["receipt"]["receipt_id"].as_str().unwrap_or("?")
    );
    expect(
        &show_check(&http, &auth, &["mail:read"], json!({}))?,
        "mail:read",
        "deny",
        "authorization_revoked",
    )?;

    step(
        &mut n,
        "export the workspace's receipts (JSON Lines, whole chains) and fetch the key document",
    );
    let export_path = tmp.join("export.jsonl");
    let keys_path = tmp.join("keys.json");
    let since = "2000-01-01T00:00:00Z";
    println!("GET /v1/receipts/export?since={since} > export.jsonl");
    let ex = http.get(&format!("/v1/receipts/export?since={since}"), true)?;
    if ex.status != 200 {
        bail!(
            "export answered {}: {}",
            ex.status,
            String::from_utf8_lossy(&ex.body)
        );
    }
    std::fs::write(&export_path, &ex.body)?;
    println!("GET /v1/workspaces/{ws}/keys > keys.json   (public, no API key)");
    let kd = http.get(&format!("/v1/workspaces/{ws}/keys"), false)?;
    std::fs::write(&keys_path, &kd.body)?;
    let lines = ex
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    println!(
        "  {lines} receipts; key document {} bytes with {} keys",
        kd.body.len(),
        kd.json()?["keys"].as_array().map_or(0, Vec::len)
    );

    step(
        &mut n,
        "stop the server (SIGTERM: finish requests, sign what is pending, exit 0)",
    );
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status()?;
    let status = server.0.wait()?;
    println!("  exit code {}", status.code().unwrap_or(-1));
    if !status.success() {
        bail!("kvitto-server did not exit cleanly: {status}");
    }

    step(
        &mut n,
        "verify the export offline with the kvitto CLI: every receipt, every chain",
    );
    let keys = keys_path.to_string_lossy().to_string();
    let export = export_path.to_string_lossy().to_string();
    kvitto(kvitto_bin, &["keys", "pin", &keys], "keys pin keys.json", 0)?;
    kvitto(
        kvitto_bin,
        &["verify", "--keys", &keys, "--chains", &export],
        "verify --keys keys.json --chains export.jsonl",
        0,
    )?;

    step(
        &mut n,
        "tamper with one receipt (the payment's resource) and verify again",
    );
    let text = String::from_utf8(ex.body)?;
    if !text.contains("iban:SE00 1234") {
        bail!("the payment receipt is not in the export");
    }
    let tampered = text.replacen("iban:SE00 1234", "iban:XX99 6666", 1);
    let tampered_path = tmp.join("export-tampered.jsonl");
    std::fs::write(&tampered_path, tampered)?;
    println!("  changed \"iban:SE00 1234\" to \"iban:XX99 6666\" in one receipt");
    let t = tampered_path.to_string_lossy().to_string();
    kvitto(
        kvitto_bin,
        &["verify", "--keys", &keys, "--chains", &t],
        "verify --keys keys.json --chains export-tampered.jsonl",
        1,
    )?;
    println!(
        "\ndemo: the server's export verifies offline (exit 0, the revoked chain closed); the tampered copy fails with signature_invalid (exit 1)."
    );
    Ok(())
}

/// RFC 3339 UTC `ms` milliseconds from now.
fn instant_in(ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_millis(ms);
    let secs = now.as_secs() as i64;
    let i = kvitto_core::Instant::from_unix(secs, 0)
        .map(|i| i.to_string())
        .unwrap_or_default();
    format!("{}.{:03}Z", i.trim_end_matches('Z'), now.subsec_millis())
}
