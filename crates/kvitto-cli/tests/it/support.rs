//! Test helpers: running the binary, and signed test data from kvitto-core's `sign` feature.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use kvitto_core::sign::{Common, IssuerKey, key_document, object, payload};
use kvitto_core::{Hash, KeyStatus, Kind, Value, jcs};

/// The kvitto binary with a private cache directory and no colour variables.
pub(crate) fn kvitto(cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvitto"));
    cmd.env("KVITTO_CACHE_DIR", cache).env_remove("NO_COLOR");
    cmd
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The JSON lines of stdout.
    pub(crate) fn json(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect()
    }

    pub(crate) fn of_type(&self, ty: &str) -> Vec<serde_json::Value> {
        self.json()
            .into_iter()
            .filter(|v| v["type"] == ty)
            .collect()
    }

    pub(crate) fn summary(&self) -> serde_json::Value {
        let all = self.json();
        let last = all.last().cloned().unwrap_or_default();
        assert_eq!(
            last["type"], "summary",
            "last line is the summary: {}",
            self.stdout
        );
        last
    }
}

pub(crate) fn output(out: Output) -> Run {
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "panic: {}", run.stderr);
    run
}

/// A scratch directory with a cache directory inside.
pub(crate) struct Scratch {
    pub(crate) dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, bytes).expect("write");
        p
    }

    pub(crate) fn cmd(&self) -> Command {
        kvitto(&self.path("cache"))
    }

    /// Run kvitto with these arguments (and optional stdin).
    pub(crate) fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = self.cmd();
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kvitto");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input).expect("write stdin");
        }
        output(child.wait_with_output().expect("wait"))
    }
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

pub(crate) fn key(ws: &str, seed: u8) -> IssuerKey {
    IssuerKey::from_seed(&format!("{ws}.k{seed}"), &[seed; 32])
}

pub(crate) fn doc(ws: &str, keys: &[&IssuerKey]) -> Vec<u8> {
    let jwks = keys
        .iter()
        .map(|k| k.jwk(KeyStatus::Active, "2026-01-01T00:00:00Z", None))
        .collect();
    jcs::to_vec(&key_document(ws, jwks))
}

/// The receipts of one chain: created, checks, and revoked when `closed`.
/// `scope` is the checks' scope string.
pub(crate) fn chain(
    key: &IssuerKey,
    ws: &str,
    auth: &str,
    n: u64,
    closed: bool,
    scope: &str,
) -> Vec<String> {
    let mut prev: Option<Hash> = None;
    let mut out = Vec::new();
    for seq in 0..n {
        let rid = format!("rcpt_{auth}_{seq}");
        let at = format!("2026-11-22T01:{:02}:{:02}Z", seq / 60 % 60, seq % 60);
        let common = Common {
            receipt_id: &rid,
            workspace_id: ws,
            authorization_id: auth,
            seq,
            prev,
            issued_at: &at,
            kid: key.kid(),
        };
        let p = if seq == 0 {
            payload(
                Kind::AuthorizationCreated,
                &common,
                [
                    ("user_id", Value::from("user_1")),
                    ("agent_id", Value::from("agent_1")),
                    ("scopes", Value::Array(vec![])),
                    ("requires_confirm_for", Value::Array(vec![])),
                    ("requires_escalation_for", Value::Array(vec![])),
                    ("escalation_targets", object([])),
                    ("expires_at", Value::Null),
                    ("budget_limit_micros", Value::Null),
                    ("metadata", object([])),
                ],
            )
        } else if closed && seq + 1 == n {
            payload(
                Kind::AuthorizationRevoked,
                &common,
                [("revoked_by", Value::from("user_1"))],
            )
        } else {
            check(&common, scope)
        };
        let signed = key.sign_payload(&p);
        prev = Some(signed.receipt_hash);
        out.push(signed.json);
    }
    out
}

pub(crate) fn check(common: &Common<'_>, scope: &str) -> Value {
    payload(
        Kind::Check,
        common,
        [
            ("scope", Value::from(scope)),
            ("decision", Value::from("allow")),
            ("reason", Value::from("ok")),
            ("resource", Value::Null),
            ("session_id", Value::Null),
            ("context", object([])),
            ("estimated_cost_micros", Value::Null),
            ("budget", Value::Null),
            ("confirm_nonce", Value::Null),
            ("escalation_id", Value::Null),
            ("escalation_to", Value::Null),
        ],
    )
}

/// Lines joined with LF, with a final LF.
pub(crate) fn jsonl(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// A standard setup: workspace `ws_a`, its key document, and two chains
/// (auth_1: 5 receipts open; auth_2: 4 receipts closed), interleaved.
pub(crate) struct Setup {
    pub(crate) scratch: Scratch,
    pub(crate) key: IssuerKey,
    pub(crate) keys: PathBuf,
    pub(crate) lines: Vec<String>,
}

impl Setup {
    pub(crate) fn new() -> Setup {
        let scratch = Scratch::new();
        let key = key("ws_a", 1);
        let keys = scratch.write("keys.json", doc("ws_a", &[&key]));
        let a = chain(&key, "ws_a", "auth_1", 5, false, "tool:x");
        let b = chain(&key, "ws_a", "auth_2", 4, true, "tool:y");
        let mut lines = Vec::new();
        for (i, r) in a.iter().enumerate() {
            lines.push(r.clone());
            if let Some(r) = b.get(i) {
                lines.push(r.clone());
            }
        }
        Setup {
            scratch,
            key,
            keys,
            lines,
        }
    }

    pub(crate) fn keys_arg(&self) -> &str {
        s(&self.keys)
    }
}

/// A plain-http key server on 127.0.0.1 for one test: every request gets
/// the current document (503 when there is none). It serves one connection
/// at a time, for as long as it lives: it stops when dropped, after the
/// kvitto runs that use it have exited, never on a clock.
pub(crate) struct KeyServer {
    addr: SocketAddr,
    /// The documents to serve, in order; the last is served again and again.
    body: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KeyServer {
    pub(crate) fn new(body: Vec<u8>) -> KeyServer {
        KeyServer::sequence(vec![body])
    }

    /// Serve these documents, one per request, the last one from then on.
    pub(crate) fn sequence(bodies: Vec<Vec<u8>>) -> KeyServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let body = Arc::new(Mutex::new(bodies.into_iter().map(Some).collect::<Vec<_>>()));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (body, hits, stop) = (body.clone(), hits.clone(), stop.clone());
            move || {
                // Bounded in count; each test makes only a few requests.
                for conn in listener.incoming().take(64) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut conn) = conn else { continue };
                    if !read_head(&mut conn) {
                        continue;
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let next = {
                        let mut queue = body.lock().expect("lock");
                        if queue.len() > 1 {
                            queue.remove(0)
                        } else {
                            queue.first().cloned().flatten()
                        }
                    };
                    let reply = match next {
                        Some(doc) => {
                            let mut out = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\nconnection: close\r\n\r\n",
                                doc.len()
                            )
                            .into_bytes();
                            out.extend_from_slice(&doc);
                            out
                        }
                        None => b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
                                  connection: close\r\n\r\n"
                            .to_vec(),
                    };
                    let _ = conn.write_all(&reply);
                    let _ = conn.flush();
                }
            }
        });
        KeyServer {
            addr,
            body,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/keys.json", self.addr)
    }

    /// Serve this document from now on (`None`: answer 503).
    pub(crate) fn set(&self, body: Option<Vec<u8>>) {
        *self.body.lock().expect("lock") = vec![body];
    }

    /// Serve these, one per request, the last one from then on (`None`: 503).
    pub(crate) fn set_sequence(&self, bodies: Vec<Option<Vec<u8>>>) {
        *self.body.lock().expect("lock") = bodies;
    }

    /// Requests answered so far.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Read a request head (up to the blank line, at most 16 KiB); false when
/// the peer closed first (the wake-up connection).
fn read_head(conn: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 16 * 1024 && !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}
