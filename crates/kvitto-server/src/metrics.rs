//! Prometheus text metrics: checks by decision, request latency, signer
//! backlog and signing lag. Plain atomics; no registry crate.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::decide::Decision;

/// Upper bounds (seconds) of the latency buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Upper bounds (seconds) of the signing-lag buckets.
const LAG_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0,
];

/// A fixed-bucket histogram.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, seconds: f64) {
        let seconds = seconds.max(0.0);
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    checks: [AtomicU64; 4],
    pub latency: Histogram,
    pub signing_lag: Histogram,
    pub backlog: AtomicU64,
    pub signed: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            checks: Default::default(),
            latency: Histogram::new(&LATENCY_BUCKETS),
            signing_lag: Histogram::new(&LAG_BUCKETS),
            backlog: AtomicU64::new(0),
            signed: AtomicU64::new(0),
        }
    }
}

const DECISIONS: [Decision; 4] = [
    Decision::Allow,
    Decision::Deny,
    Decision::Confirm,
    Decision::Escalate,
];

impl Metrics {
    /// Count one scope decision of a check.
    pub fn check(&self, d: Decision) {
        let i = DECISIONS.iter().position(|x| *x == d).unwrap_or(0);
        self.checks[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP kvitto_checks_total Scope decisions of checks, by decision.\n");
        out.push_str("# TYPE kvitto_checks_total counter\n");
        for (d, c) in DECISIONS.iter().zip(&self.checks) {
            let _ = writeln!(
                out,
                "kvitto_checks_total{{decision=\"{}\"}} {}",
                d.as_str(),
                c.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP kvitto_request_duration_seconds HTTP request latency, from the first byte read to the answer.\n");
        out.push_str("# TYPE kvitto_request_duration_seconds histogram\n");
        self.latency
            .render(&mut out, "kvitto_request_duration_seconds", "");
        out.push_str("# HELP kvitto_signer_backlog Receipts stored but not signed yet.\n");
        out.push_str("# TYPE kvitto_signer_backlog gauge\n");
        let _ = writeln!(
            out,
            "kvitto_signer_backlog {}",
            self.backlog.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP kvitto_receipts_signed_total Receipts signed by the background signer.\n",
        );
        out.push_str("# TYPE kvitto_receipts_signed_total counter\n");
        let _ = writeln!(
            out,
            "kvitto_receipts_signed_total {}",
            self.signed.load(Ordering::Relaxed)
        );
        out.push_str("# HELP kvitto_signing_lag_seconds From a receipt's issued_at to its signature being stored.\n");
        out.push_str("# TYPE kvitto_signing_lag_seconds histogram\n");
        self.signing_lag
            .render(&mut out, "kvitto_signing_lag_seconds", "");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.check(Decision::Allow);
        m.check(Decision::Allow);
        m.check(Decision::Escalate);
        m.latency.observe(0.003);
        m.latency.observe(7.0);
        let text = m.render();
        assert!(text.contains("kvitto_checks_total{decision=\"allow\"} 2\n"));
        assert!(text.contains("kvitto_checks_total{decision=\"escalate\"} 1\n"));
        assert!(text.contains("kvitto_request_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("kvitto_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("kvitto_request_duration_seconds_count 2\n"));
        assert!(text.contains("kvitto_signer_backlog 0\n"));
    }
}
