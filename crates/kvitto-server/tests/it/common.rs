//! Starting the server binary on a temporary data directory, and an HTTP client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use kvitto_core::{ExportReport, KeySet};
use serde_json::{Value, json};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_kvitto-server");

/// Generous bound for anything that only fails on a real hang.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

/// A workspace's credentials, from `init` / `workspace create --format json`.
#[derive(Debug, Clone)]
pub(crate) struct Creds {
    pub(crate) workspace_id: String,
    pub(crate) api_key: String,
    pub(crate) kid: String,
}

fn creds(out: &[u8]) -> Creds {
    let v: Value = serde_json::from_slice(out).expect("JSON from init");
    let obj = v.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["api_key", "keys_url", "kid", "workspace_id"]);
    let ws = v["workspace_id"].as_str().unwrap().to_owned();
    assert_eq!(v["keys_url"], format!("/v1/workspaces/{ws}/keys"));
    Creds {
        workspace_id: ws,
        api_key: v["api_key"].as_str().unwrap().to_owned(),
        kid: v["kid"].as_str().unwrap().to_owned(),
    }
}

/// A running server on its own data directory; killed when dropped.
pub(crate) struct Server {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) base: String,
    pub(crate) creds: Creds,
    pub(crate) child: Option<Child>,
    pub(crate) http: reqwest::blocking::Client,
}

impl Server {
    pub(crate) fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `init` a fresh data directory and serve it.
    pub(crate) fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = Command::new(BIN)
            .args(["init", "--format", "json", "--data"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let creds = creds(&out.stdout);
        let mut s = Server {
            dir,
            base: String::new(),
            creds,
            child: None,
            http: reqwest::blocking::Client::builder()
                .timeout(PATIENCE)
                .build()
                .unwrap(),
        };
        s.serve();
        s
    }

    /// Start (or restart) `serve` on the data directory.
    pub(crate) fn serve(&mut self) {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(self.data())
            .env("KVITTO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(PATIENCE)
            .expect("the server did not say where it listens");
        let addr = line
            .strip_prefix("listening on ")
            .expect("listening line")
            .to_owned();
        assert!(addr.starts_with("http://127.0.0.1:"), "{addr}");
        self.base = addr;
        self.child = Some(child);
    }

    /// SIGKILL, no cleanup.
    pub(crate) fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and the exit code.
    pub(crate) fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = c.kill();
                panic!("the server did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Another workspace in the same data directory (the server may run).
    pub(crate) fn new_workspace(&self) -> Creds {
        let out = Command::new(BIN)
            .args(["workspace", "create", "--format", "json", "--data"])
            .arg(self.data())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "workspace create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        creds(&out.stdout)
    }

    pub(crate) fn post_as(&self, key: &str, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_as(&self.creds.api_key, path, body)
    }

    pub(crate) fn get_as(&self, key: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(&self.creds.api_key, path)
    }

    /// A raw request: (status, body text).
    pub(crate) fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut r = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .body(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }

    /// A new authorization; returns its id.
    pub(crate) fn authorize(&self, body: Value) -> String {
        let (status, v) = self.post("/v1/authorizations", &body);
        assert_eq!(status, 201, "{v}");
        v["authorization_id"].as_str().unwrap().to_owned()
    }

    pub(crate) fn check(&self, auth: &str, scopes: &[&str], cost: Option<i64>) -> Value {
        let (status, v) = self.post(
            "/v1/check",
            &json!({"authorization_id": auth, "scopes": scopes, "estimated_cost_micros": cost}),
        );
        assert_eq!(status, 200, "{v}");
        v["results"].clone()
    }

    /// The key document's bytes.
    pub(crate) fn key_document(&self, ws: &str) -> Vec<u8> {
        let r = self
            .http
            .get(self.url(&format!("/v1/workspaces/{ws}/keys")))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.bytes().unwrap().to_vec()
    }

    /// The export of one authorization (waits for pending receipts, bounded).
    pub(crate) fn export(&self, auth: &str) -> Vec<u8> {
        self.export_query(&self.creds.api_key, &format!("authorization_id={auth}"))
    }

    pub(crate) fn export_query(&self, key: &str, query: &str) -> Vec<u8> {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let r = self
                .http
                .get(self.url(&format!("/v1/receipts/export?{query}")))
                .bearer_auth(key)
                .send()
                .unwrap();
            let status = r.status().as_u16();
            if status == 200 {
                assert_eq!(r.headers()["content-type"], "application/x-ndjson");
                return r.bytes().unwrap().to_vec();
            }
            assert_eq!(status, 503, "export: {}", r.text().unwrap_or_default());
            assert!(
                std::time::Instant::now() < deadline,
                "export never became ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Verify an export against this workspace's key document, with chains.
    pub(crate) fn verify(&self, export: &[u8]) -> ExportReport {
        let keys = KeySet::from_bytes(&self.key_document(&self.creds.workspace_id), None).unwrap();
        kvitto_core::verify_export(export, &[keys], true)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Every receipt valid, every chain intact; returns the report.
pub(crate) fn assert_valid(report: &ExportReport) {
    for r in &report.records {
        if let Some(e) = r.outcome.error() {
            panic!("receipt at line {} invalid: {}: {e}", r.line, e.code());
        }
    }
    for c in &report.chains {
        if let Err(e) = &c.result {
            panic!("chain {} broken: {}: {e}", c.authorization_id, e.code());
        }
    }
    assert!(report.is_valid());
}

/// The payloads of an export's lines.
pub(crate) fn payloads(export: &[u8]) -> Vec<Value> {
    export
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<Value>(l).unwrap()["payload"].clone())
        .collect()
}

/// Poll `f` until it returns Some, within [`PATIENCE`].
pub(crate) fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn exists(p: &Path) -> bool {
    p.exists()
}
