//! A throwaway PostgreSQL cluster for kvitto-server's tests and its load
//! generator: Debian's `initdb` and `pg_ctl` on a temporary directory and a
//! free port on 127.0.0.1, a database per test. No mock: the real server.
//!
//! The binaries are found through `KVITTO_PG_BIN` (a directory holding
//! `initdb`) or the newest `/usr/lib/postgresql/*/bin` (`apt-get install
//! postgresql`). Without them Postgres tests are skipped with a message,
//! unless `KVITTO_REQUIRE_POSTGRES=1` (CI), which makes that a failure.
//! PostgreSQL refuses to run as root, so as root the cluster runs as the
//! `postgres` user (`runuser -u postgres --`) on a directory it owns.
//!
//! A supervisor shell starts the cluster and stops it, and removes its
//! directory, when its standard input closes: when the process that
//! started it exits, however it exits (even `kill -9`), nothing is left.
//!
//! Included with `#[path]` by `src/store/tests.rs`, `tests/it` and
//! `examples/loadgen.rs`.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

/// Set to `1` to make missing PostgreSQL binaries a failure, not a skip.
pub const REQUIRE_ENV: &str = "KVITTO_REQUIRE_POSTGRES";
/// A directory holding `initdb`, `pg_ctl` and `psql`.
pub const BIN_ENV: &str = "KVITTO_PG_BIN";

/// Generous bound for starting and stopping: only a real hang reaches it.
const PATIENCE: Duration = Duration::from_secs(180);

/// Where the PostgreSQL binaries are, if anywhere.
pub fn bin_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var(BIN_ENV) {
        let p = PathBuf::from(d);
        return p.join("initdb").exists().then_some(p);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// Whether missing binaries fail the tests (`KVITTO_REQUIRE_POSTGRES=1`).
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// Whether PostgreSQL tests can run: true when the binaries are there;
/// otherwise false after saying so on stderr, or a panic when required.
pub fn available(test: &str) -> bool {
    if bin_dir().is_some() {
        return true;
    }
    if required() {
        panic!(
            "{test}: PostgreSQL is required ({REQUIRE_ENV}=1) but no initdb was found: \
             apt-get install -y postgresql, or set {BIN_ENV}"
        );
    }
    // Straight to the process's stderr, past the test harness's capture,
    // so the skip is seen; once per test binary.
    static SAID: OnceLock<()> = OnceLock::new();
    SAID.get_or_init(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPING the PostgreSQL tests (first: {test}): no PostgreSQL binaries \
             (apt-get install -y postgresql, or set {BIN_ENV}); {REQUIRE_ENV}=1 makes this a failure\n"
        );
    });
    false
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A running cluster. Dropping it stops it and removes its directory.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    options: String,
    supervisor: Mutex<Option<Child>>,
    next_db: AtomicUsize,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish()
    }
}

/// The cluster shared by the tests of this process (started on first use),
/// or None when PostgreSQL tests are skipped here.
pub fn shared(test: &str) -> Option<Arc<Cluster>> {
    static SHARED: OnceLock<Arc<Cluster>> = OnceLock::new();
    if !available(test) {
        return None;
    }
    Some(
        SHARED
            .get_or_init(|| Arc::new(Cluster::start(&[], |_| Vec::new())))
            .clone(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Cluster {
    /// initdb and start a cluster with extra `-c` settings. `prepare` may
    /// write files into the directory first (certificates) and returns more
    /// settings. Panics with the server's log when it cannot start.
    pub fn start(settings: &[&str], prepare: impl FnOnce(&Path) -> Vec<String>) -> Cluster {
        let bin = bin_dir().expect("PostgreSQL binaries (see available())");
        let as_postgres = is_root();
        let tmp = tempfile::Builder::new()
            .prefix("kvitto-pg-")
            .tempdir()
            .expect("a temporary directory");
        let dir = tmp.keep();
        let mut extra: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        extra.extend(prepare(&dir));
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of {} to postgres failed", dir.display());
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            as_postgres,
            options: String::new(),
            supervisor: Mutex::new(None),
            next_db: AtomicUsize::new(0),
        };
        let out = cluster
            .pg("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "-D",
            ])
            .arg(cluster.dir.join("data"))
            .output()
            .expect("running initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            let mut options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 \
                 -c shared_buffers=64MB -c log_min_messages=warning",
                cluster.port,
                cluster.dir.display()
            );
            for s in &extra {
                options.push_str(" -c ");
                options.push_str(s);
            }
            cluster.options = options;
            match cluster.supervise() {
                Ok(child) => {
                    *cluster.supervisor.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
                    return cluster;
                }
                Err(e) => last = e,
            }
        }
        panic!("PostgreSQL did not start: {last}");
    }

    /// A command of the cluster's binaries, as the user that owns it.
    fn pg(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Start the supervisor: it starts the server, says `started`, waits
    /// for its stdin to close, then stops the server and removes the
    /// directory.
    fn supervise(&self) -> Result<Child, String> {
        const SCRIPT: &str = r#"
"$1/pg_ctl" -D "$2/data" -l "$2/log" -w -t 170 -o "$3" start >/dev/null 2>&1 || exit 1
echo started
cat >/dev/null
"$1/pg_ctl" -D "$2/data" -m fast -w -t 60 stop >/dev/null 2>&1 || "$1/pg_ctl" -D "$2/data" -m immediate -w stop >/dev/null 2>&1
rm -rf "$2"
"#;
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", SCRIPT]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", SCRIPT]);
            c
        };
        let mut child = cmd
            .arg("kvitto-pg")
            .arg(&self.bin)
            .arg(&self.dir)
            .arg(&self.options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run the supervisor: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(PATIENCE) {
            Ok(line) if line.trim() == "started" => Ok(child),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(self.log())
            }
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (trust authentication as `postgres`).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database; returns its URL.
    pub fn new_database(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::SeqCst);
        let name = format!("kvitto_{n}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Run SQL in database `db` with psql; its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Stop the server (`fast`: sessions ended, a clean shutdown;
    /// `immediate`: like a crash, recovery on the next start).
    pub fn stop(&self, mode: &str) {
        let out = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", mode, "-w", "-t", "170", "stop"])
            .output()
            .expect("running pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start the server again on the same directory and port.
    pub fn start_again(&self) {
        let out = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "170", "-o", &self.options, "start"])
            .output()
            .expect("running pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self
            .supervisor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}
