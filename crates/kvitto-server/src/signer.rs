//! The background signer: turns pending receipts into signed ones off the
//! request path, recovers on start (whatever was pending when the process
//! died gets signed), drains on shutdown, and destroys a retired key's
//! private half once every receipt it was given is signed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvitto_core::sign::IssuerKey;
use kvitto_core::verify::signing_input;
use tokio::sync::Notify;

use crate::Error;
use crate::clock::now_ms;
use crate::keys::KeyFiles;
use crate::metrics::Metrics;
use crate::store::{self, Store};

/// Receipts signed per pass (one store transaction).
const BATCH: usize = 1024;

/// The signer's shared handle.
pub struct Signer {
    store: Arc<dyn Store>,
    keys: KeyFiles,
    metrics: Arc<Metrics>,
    wake: Notify,
    stopping: AtomicBool,
    /// Smoothed signing lag, ms (for `ready_at_estimate`).
    lag_ms: AtomicI64,
    cache: Mutex<HashMap<String, IssuerKey>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(store: Arc<dyn Store>, keys: KeyFiles, metrics: Arc<Metrics>) -> Arc<Signer> {
        Arc::new(Signer {
            store,
            keys,
            metrics,
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            lag_ms: AtomicI64::new(10),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// `n` receipts were just stored pending.
    pub fn added(&self, n: usize) {
        self.metrics.backlog.fetch_add(n as u64, Ordering::Relaxed);
        self.wake.notify_one();
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The expected wait for a signature, in ms (at least 5).
    pub fn lag_estimate_ms(&self) -> i64 {
        self.lag_ms.load(Ordering::Relaxed).max(5)
    }

    fn key(&self, kid: &str) -> Result<IssuerKey, Error> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cache.get(kid) {
            return Ok(k.clone());
        }
        let k = self.keys.load(kid)?;
        cache.insert(kid.to_owned(), k.clone());
        Ok(k)
    }

    /// One pass (blocking): sign up to a batch of pending receipts and store
    /// the signatures. Returns how many were signed.
    pub fn pass(&self) -> Result<usize, Error> {
        let pending = store::read_blocking(&*self.store, |r| r.pending_receipts(BATCH))?;
        if pending.is_empty() {
            self.metrics.backlog.store(0, Ordering::Relaxed);
            return Ok(0);
        }
        let mut sigs = Vec::with_capacity(pending.len());
        let mut issued = Vec::with_capacity(pending.len());
        for p in &pending {
            match self.key(&p.kid) {
                Ok(key) => {
                    let sig = key.sign_bytes(&signing_input(p.payload.as_bytes()));
                    sigs.push((p.receipt_id.clone(), kvitto_core::b64::encode(&sig)));
                    issued.push(p.issued_at_ms);
                }
                Err(e) => {
                    tracing::error!(kid = %p.kid, error = %e, "cannot sign: the key's private half is missing")
                }
            }
        }
        if sigs.is_empty() {
            return Ok(0);
        }
        let n = sigs.len();
        store::transact_blocking(&*self.store, move |tx| tx.set_signatures(&sigs))?;
        let now = now_ms();
        let mut worst = 0;
        for at in issued {
            let lag = (now - at).max(0);
            worst = worst.max(lag);
            self.metrics.signing_lag.observe(lag as f64 / 1000.0);
        }
        let old = self.lag_ms.load(Ordering::Relaxed);
        self.lag_ms.store((old * 7 + worst) / 8, Ordering::Relaxed);
        self.metrics.signed.fetch_add(n as u64, Ordering::Relaxed);
        let backlog = store::read_blocking(&*self.store, |r| r.unsigned_count(None))?;
        self.metrics.backlog.store(backlog, Ordering::Relaxed);
        Ok(n)
    }

    /// Destroy the private half of every retired or revoked key that has no
    /// unsigned receipt left (blocking).
    pub fn destroy_retired(&self) -> Result<usize, Error> {
        let candidates = store::read_blocking(&*self.store, |r| r.keys_to_destroy())?;
        let mut destroyed = 0;
        for mut key in candidates {
            let kid = key.kid.clone();
            let left = store::read_blocking(&*self.store, move |r| r.unsigned_count(Some(&kid)))?;
            if left > 0 {
                continue;
            }
            self.cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key.kid);
            self.keys.destroy(&key.kid)?;
            key.private_destroyed = true;
            let k = key.clone();
            store::transact_blocking(&*self.store, move |tx| tx.update_key(&k))?;
            tracing::info!(kid = %key.kid, "destroyed the private key of a retired key");
            destroyed += 1;
        }
        Ok(destroyed)
    }

    /// Sign until nothing is pending (blocking): recovery and draining.
    pub fn drain(&self) -> Result<usize, Error> {
        let mut total = 0;
        loop {
            let n = self.pass()?;
            total += n;
            if n == 0 {
                let left = store::read_blocking(&*self.store, |r| r.unsigned_count(None))?;
                if left == 0 {
                    self.destroy_retired()?;
                    return Ok(total);
                }
                // Receipts of a key whose private half is missing: nothing to do.
                tracing::error!(left, "unsigned receipts remain that cannot be signed");
                return Ok(total);
            }
        }
    }

    /// Ask the task to drain and stop.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// The background task: sign whenever woken (or every 200 ms), destroy
    /// retired keys when idle; after [`Signer::stop`], drain and return.
    pub async fn run(self: Arc<Self>) {
        loop {
            let me = self.clone();
            let n = tokio::task::spawn_blocking(move || me.pass())
                .await
                .unwrap_or_else(|e| Err(Error::internal(e.to_string())));
            match n {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "signer pass failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            if self.stopping.load(Ordering::SeqCst) {
                let me = self.clone();
                match tokio::task::spawn_blocking(move || me.drain()).await {
                    Ok(Ok(n)) => tracing::info!(signed = n, "signer drained"),
                    Ok(Err(e)) => tracing::error!(error = %e, "signer drain failed"),
                    Err(e) => tracing::error!(error = %e, "signer drain panicked"),
                }
                return;
            }
            let me = self.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || me.destroy_retired()).await {
                tracing::error!(error = %e, "destroying retired keys failed");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }
}
