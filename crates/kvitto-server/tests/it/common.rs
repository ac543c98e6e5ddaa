//! Starting the server binary on a fresh storage of either backend (a
//! temporary data directory, or a new database on the test PostgreSQL
//! cluster), more instances on the same database, and an HTTP client.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use kvitto_core::{ExportReport, KeySet};
use serde_json::{Value, json};

use crate::pgcluster::{self, Cluster};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_kvitto-server");

/// Generous bound for anything that only fails on a real hang.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

/// Which storage backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Whether PostgreSQL tests run here (else a message says why not, or a
/// panic when KVITTO_REQUIRE_POSTGRES=1).
pub(crate) fn postgres(test: &str) -> bool {
    pgcluster::available(test)
}

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

/// Where a server's state lives.
#[derive(Clone)]
pub(crate) enum Storage {
    /// A SQLite data directory.
    Dir(PathBuf),
    /// A PostgreSQL database, the KEK every instance gets, and its cluster.
    Db {
        url: String,
        kek: String,
        cluster: Arc<Cluster>,
    },
}

/// A running server instance on its storage; killed when dropped.
pub(crate) struct Server {
    pub(crate) backend: Backend,
    pub(crate) storage: Storage,
    /// Holds the data directory (SQLite) until the server is dropped.
    _dir: tempfile::TempDir,
    pub(crate) base: String,
    pub(crate) creds: Creds,
    pub(crate) child: Option<Child>,
    pub(crate) http: reqwest::blocking::Client,
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

fn random_kek() -> String {
    let key: [u8; 32] = kvitto_server::ids::random().unwrap();
    kvitto_server::ids::hex(&key)
}

impl Server {
    /// `init` a fresh storage of `backend` and serve it.
    pub(crate) fn start(backend: Backend) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let storage = match backend {
            Backend::Sqlite => Storage::Dir(dir.path().join("data")),
            Backend::Postgres => {
                let cluster = pgcluster::shared("the PostgreSQL backend")
                    .expect("PostgreSQL (check common::postgres first)");
                Storage::Db {
                    url: cluster.new_database(),
                    kek: random_kek(),
                    cluster,
                }
            }
        };
        Server::init_and_serve(backend, storage, dir)
    }

    /// `init` a new database on `cluster` and serve it.
    pub(crate) fn start_on(cluster: Arc<Cluster>) -> Server {
        let storage = Storage::Db {
            url: cluster.new_database(),
            kek: random_kek(),
            cluster,
        };
        Server::init_and_serve(Backend::Postgres, storage, tempfile::tempdir().unwrap())
    }

    fn init_and_serve(backend: Backend, storage: Storage, dir: tempfile::TempDir) -> Server {
        let mut s = Server {
            backend,
            storage,
            _dir: dir,
            base: String::new(),
            creds: Creds {
                workspace_id: String::new(),
                api_key: String::new(),
                kid: String::new(),
            },
            child: None,
            http: client(),
        };
        let out = s
            .cmd()
            .args(["init", "--format", "json"])
            .args(s.storage_args())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        s.creds = creds(&out.stdout);
        s.serve();
        s
    }

    /// Another instance serving the same database (PostgreSQL).
    pub(crate) fn instance(&self) -> Server {
        assert_eq!(
            self.backend,
            Backend::Postgres,
            "one server per data directory"
        );
        let mut s = Server {
            backend: self.backend,
            storage: self.storage.clone(),
            _dir: tempfile::tempdir().unwrap(),
            base: String::new(),
            creds: self.creds.clone(),
            child: None,
            http: client(),
        };
        s.serve();
        s
    }

    /// The arguments naming the storage.
    pub(crate) fn storage_args(&self) -> Vec<OsString> {
        match &self.storage {
            Storage::Dir(d) => vec!["--data".into(), d.into()],
            Storage::Db { url, .. } => vec![
                "--database".into(),
                url.into(),
                "--db-pool-size".into(),
                "8".into(),
            ],
        }
    }

    /// The server binary with the storage's environment (the KEK), and
    /// nothing of the caller's.
    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        for v in [
            "KVITTO_DATA",
            "KVITTO_DATABASE_URL",
            "KVITTO_KEK",
            "KVITTO_KEK_FILE",
            "KVITTO_PREVIOUS_KEK",
            "KVITTO_PREVIOUS_KEK_FILE",
            "KVITTO_WEB_DIR",
        ] {
            c.env_remove(v);
        }
        if let Storage::Db { kek, .. } = &self.storage {
            c.env("KVITTO_KEK", kek);
        }
        c
    }

    /// Open the storage directly, as the CLI would (beside running servers).
    pub(crate) fn open_storage(&self) -> kvitto_server::server::Storage {
        use kvitto_server::kek::{Kek, KekRing};
        use kvitto_server::server::Backend as B;
        let backend = match &self.storage {
            Storage::Dir(d) => B::Sqlite(d.clone()),
            Storage::Db { url, kek, .. } => B::Postgres {
                options: kvitto_server::store::postgres::PgOptions::new(url.clone()),
                keks: KekRing::new(Kek::parse(kek, "test").unwrap(), None),
            },
        };
        kvitto_server::server::Storage::open(&backend).unwrap()
    }

    /// Whether the private half of `kid` still exists (a file, or sealed in the database).
    pub(crate) fn private_key_present(&self, kid: &str) -> bool {
        match &self.storage {
            Storage::Dir(d) => d.join("keys").join(format!("{kid}.key")).exists(),
            Storage::Db { .. } => {
                let st = self.open_storage();
                let k = kid.to_owned();
                let present = kvitto_server::store::read_blocking(&*st.store, move |r| {
                    r.sealed_private_key(&k).map(|s| s.is_some())
                })
                .unwrap();
                st.store.close();
                present
            }
        }
    }

    /// The cluster of a PostgreSQL server.
    pub(crate) fn cluster(&self) -> Arc<Cluster> {
        match &self.storage {
            Storage::Db { cluster, .. } => cluster.clone(),
            Storage::Dir(_) => panic!("not PostgreSQL"),
        }
    }

    /// Start (or restart) `serve` on the storage.
    pub(crate) fn serve(&mut self) {
        self.serve_with(&[]);
    }

    /// Start (or restart) `serve` on the storage with more arguments.
    pub(crate) fn serve_with(&mut self, extra: &[OsString]) {
        let mut child = self
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(self.storage_args())
            .args(extra)
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

    /// A counter or gauge of this instance's /metrics.
    pub(crate) fn metric(&self, name: &str) -> f64 {
        let (_, m) = self.raw("GET", "/metrics", &[], vec![]);
        m.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Another workspace in the same storage (the server may run).
    pub(crate) fn new_workspace(&self) -> Creds {
        let out = self
            .cmd()
            .args(["workspace", "create", "--format", "json"])
            .args(self.storage_args())
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

/// Run `f(i)` on `n` threads at once; their results in order.
pub(crate) fn parallel<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            std::thread::spawn(move || f(i))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}
