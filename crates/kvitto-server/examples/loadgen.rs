//! Load generator for kvitto-server: checks/s and latency with durable
//! commits, and the signer's backlog and lag over time. Bounded in time.
//!
//! ```sh
//! cargo build --release -p kvitto-server --bins --examples
//! target/release/examples/loadgen --duration 20 --connections 64
//! target/release/examples/loadgen --postgres --instances 3 --duration 20 --connections 64
//! KVITTO_KEK=… target/release/examples/loadgen --database postgres://…/empty_db --instances 2
//! ```
//!
//! It initializes a temporary data directory (SQLite), or a database on a
//! throwaway PostgreSQL cluster it starts itself (`--postgres`, Debian's
//! binaries, see tests/support/pgcluster.rs), or an empty database of
//! yours (`--database URL`, with `KVITTO_KEK` or a generated KEK); starts
//! `--instances` `kvitto-server` processes (target/release) on 127.0.0.1
//! (several only on PostgreSQL), creates authorizations, then keeps
//! `--connections` keep-alive connections busy with checks for
//! `--duration` seconds, connection c talking to instance c mod N (what a
//! round-robin load balancer does), sampling /metrics every second. Prints
//! JSON lines (`sample` per second, then `summary`) on stdout.

#[path = "../tests/support/pgcluster.rs"]
mod pgcluster;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Args {
    duration: u64,
    connections: usize,
    authorizations: usize,
    server: Option<String>,
    postgres: bool,
    database: Option<String>,
    instances: usize,
    pool_size: usize,
}

fn args() -> Args {
    let mut a = Args {
        duration: 20,
        connections: 64,
        authorizations: 64,
        server: None,
        postgres: false,
        database: None,
        instances: 1,
        pool_size: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--duration" => a.duration = val().parse::<u64>().expect("seconds").min(300),
            "--connections" => a.connections = val().parse().expect("count"),
            "--authorizations" => a.authorizations = val().parse().expect("count"),
            "--server" => a.server = Some(val()),
            "--postgres" => a.postgres = true,
            "--database" => a.database = Some(val()),
            "--instances" => a.instances = val().parse::<usize>().expect("count").clamp(1, 8),
            "--pool-size" => a.pool_size = val().parse().expect("count"),
            other => panic!(
                "unknown flag {other} (--duration S --connections N --authorizations N --server BIN \
                 --postgres | --database URL, --instances N --pool-size N)"
            ),
        }
    }
    a
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The p-quantile of a Prometheus histogram's buckets (upper bound of the bucket).
fn hist_quantile(text: &str, name: &str, q: f64) -> f64 {
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket{{le=\"")))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let n: f64 = l.rsplit(' ').next()?.parse().ok()?;
            Some((
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                },
                n,
            ))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets
        .iter()
        .find(|b| b.1 >= q * total)
        .map_or(0.0, |b| b.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let a = args();
    let exe = std::env::current_exe().expect("own path");
    let server = a
        .server
        .clone()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            exe.parent()
                .and_then(|p| p.parent())
                .expect("target dir")
                .join("kvitto-server")
        });
    let dir = tempfile::tempdir().expect("temp dir");
    // The storage: a data directory, or a PostgreSQL database (ours or the caller's).
    let cluster = a
        .postgres
        .then(|| pgcluster::Cluster::start(&[], |_| Vec::new()));
    let url = match (&cluster, &a.database) {
        (Some(c), _) => Some(c.new_database()),
        (None, Some(u)) => Some(u.clone()),
        (None, None) => None,
    };
    assert!(
        url.is_some() || a.instances == 1,
        "several instances need PostgreSQL (--postgres or --database)"
    );
    let kek = std::env::var("KVITTO_KEK").unwrap_or_else(|_| {
        let out = Command::new(&server)
            .args(["kek", "generate"])
            .output()
            .expect("kek generate");
        String::from_utf8(out.stdout)
            .expect("hex")
            .trim()
            .to_owned()
    });
    let storage: Vec<String> = match &url {
        Some(u) => vec![
            "--database".into(),
            u.clone(),
            "--db-pool-size".into(),
            a.pool_size.to_string(),
        ],
        None => vec![
            "--data".into(),
            dir.path().join("data").display().to_string(),
        ],
    };
    let out = Command::new(&server)
        .args(["init", "--format", "json"])
        .args(&storage)
        .env("KVITTO_KEK", &kek)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds: Value = serde_json::from_slice(&out.stdout).expect("init JSON");
    let key = creds["api_key"].as_str().expect("api_key").to_owned();
    let mut children: Vec<Child> = Vec::new();
    let mut bases: Vec<String> = Vec::new();
    for _ in 0..a.instances {
        let mut child = Command::new(&server)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&storage)
            .env("KVITTO_KEK", &kek)
            .env("KVITTO_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("serve");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("listening line");
        bases.push(
            line.trim()
                .strip_prefix("listening on ")
                .expect("listening on …")
                .to_owned(),
        );
        children.push(child);
    }
    let base = bases[0].clone();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.connections)
        .build()
        .expect("client");
    let mut auths = Vec::new();
    for i in 0..a.authorizations {
        let r: Value = http
            .post(format!("{base}/v1/authorizations"))
            .bearer_auth(&key)
            .json(&json!({"user_id": format!("user-{i}"), "agent_id": "bench-agent",
                "scopes": ["mail:read", {"name": "mail:send", "constraints": {"max_per_day": 1_000_000}}],
                "budget_limit_micros": 9_000_000_000_000_i64}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("created");
        auths.push(r["authorization_id"].as_str().expect("id").to_owned());
    }
    let auths = Arc::new(auths);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.connections {
        let (http, base, key, auths, stop, done, errors) = (
            http.clone(),
            bases[c % bases.len()].clone(),
            key.clone(),
            auths.clone(),
            stop.clone(),
            done.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(200_000);
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let auth = &auths[i % auths.len()];
                i += 7;
                let body = json!({"authorization_id": auth, "scopes": ["mail:send"], "resource": "mailto:ops@example.com",
                    "session_id": "bench", "context": {"recipients": 1, "subject": "weekly report"}, "estimated_cost_micros": 12});
                let t = Instant::now();
                let r = http.post(format!("{base}/v1/check")).bearer_auth(&key).json(&body).send().await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_micros() as u64);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    // Sample once a second.
    let mut last = 0;
    let mut peak_backlog = 0.0_f64;
    for s in 1..=a.duration {
        tokio::time::sleep_until((start + Duration::from_secs(s)).into()).await;
        let n = done.load(Ordering::Relaxed);
        let m = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let backlog = metric(&m, "kvitto_signer_backlog");
        peak_backlog = peak_backlog.max(backlog);
        let mut signed = metric(&m, "kvitto_receipts_signed_total");
        for b in &bases[1..] {
            let m = http
                .get(format!("{b}/metrics"))
                .send()
                .await
                .expect("metrics");
            signed += metric(
                &m.text().await.expect("text"),
                "kvitto_receipts_signed_total",
            );
        }
        println!(
            "{}",
            json!({"sample": s, "checks_per_s": n - last, "signer_backlog": backlog,
            "signed_total": signed})
        );
        last = n;
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat: Vec<u64> = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("task"));
    }
    lat.sort_unstable();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    // Drain: time until the backlog reaches zero.
    let drain_start = Instant::now();
    let drained = loop {
        let m = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if metric(&m, "kvitto_signer_backlog") == 0.0 {
            break Some((drain_start.elapsed().as_secs_f64(), m));
        }
        if drain_start.elapsed() > Duration::from_secs(60) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (drain_s, m) = drained.expect("the signer backlog did not drain within 60 s");
    println!(
        "{}",
        json!({"summary": {
            "backend": if url.is_some() { "postgres" } else { "sqlite" },
            "instances": a.instances,
            "connections": a.connections, "authorizations": a.authorizations, "seconds": elapsed,
            "checks": lat.len(), "errors": errors.load(Ordering::Relaxed),
            "checks_per_s": (lat.len() as f64 / elapsed).round(),
            "latency_ms": {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": q(1.0)},
            "signer": {"peak_backlog": peak_backlog, "drain_after_load_s": drain_s,
                       "lag_p50_le_s": hist_quantile(&m, "kvitto_signing_lag_seconds", 0.50),
                       "lag_p99_le_s": hist_quantile(&m, "kvitto_signing_lag_seconds", 0.99)},
        }})
    );
    for mut child in children {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().expect("server exit");
        assert!(status.success(), "server exit: {status}");
    }
    drop(cluster);
}
