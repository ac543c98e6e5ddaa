//! The background signer: turns pending receipts into signed ones off the
//! request path, recovers on start (whatever was pending when the process
//! died gets signed), drains on shutdown, and destroys a retired key's
//! private half once every receipt it was given is signed. With several
//! server instances on one database each runs one: they claim disjoint
//! batches (see [`Store::sign_pending`]), and any of them signs what an
//! instance that died left pending.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvitto_core::sign::IssuerKey;
use kvitto_core::verify::signing_input;
use tokio::sync::Notify;

use crate::Error;
use crate::clock::now_ms;
use crate::keys::KeyVault;
use crate::metrics::Metrics;
use crate::store::{self, Read, Store, Unsigned};

/// Receipts signed per pass (one store transaction).
const BATCH: usize = 1024;
/// How often cached private keys are checked against the database: a key
/// retired or destroyed (by this instance or another) leaves the cache.
const CACHE_SWEEP: Duration = Duration::from_secs(2);
/// How long a key that could not be loaded is left out of claims.
const SKIP_FOR: Duration = Duration::from_secs(30);

/// The signer's shared handle.
pub struct Signer {
    store: Arc<dyn Store>,
    keys: KeyVault,
    metrics: Arc<Metrics>,
    wake: Notify,
    stopping: AtomicBool,
    /// Smoothed signing lag, ms (for `ready_at_estimate`).
    lag_ms: AtomicI64,
    cache: Mutex<HashMap<String, IssuerKey>>,
    swept: Mutex<Instant>,
    /// Keys whose private half could not be loaded, and since when.
    unusable: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(store: Arc<dyn Store>, keys: KeyVault, metrics: Arc<Metrics>) -> Arc<Signer> {
        Arc::new(Signer {
            store,
            keys,
            metrics,
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            lag_ms: AtomicI64::new(10),
            cache: Mutex::new(HashMap::new()),
            swept: Mutex::new(Instant::now()),
            unusable: Mutex::new(HashMap::new()),
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

    fn key(&self, r: &mut dyn Read, kid: &str) -> Result<IssuerKey, Error> {
        if let Some(k) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
        {
            return Ok(k.clone());
        }
        let k = self.keys.load(r, kid)?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kid.to_owned(), k.clone());
        Ok(k)
    }

    /// Sign what can be signed of `pending`; a key that cannot be loaded is
    /// logged and left out of claims for a while (another instance, or this
    /// one once its key is there again, signs its receipts).
    fn sign_batch(&self, r: &mut dyn Read, pending: &[Unsigned]) -> Vec<(String, String)> {
        let mut sigs = Vec::with_capacity(pending.len());
        let mut failed: HashSet<&str> = HashSet::new();
        for p in pending {
            if failed.contains(p.kid.as_str()) {
                continue;
            }
            match self.key(r, &p.kid) {
                Ok(key) => {
                    let sig = key.sign_bytes(&signing_input(p.payload.as_bytes()));
                    sigs.push((p.receipt_id.clone(), kvitto_core::b64::encode(&sig)));
                }
                Err(e) => {
                    tracing::error!(kid = %p.kid, error = %e, "cannot sign: the key's private half cannot be loaded");
                    failed.insert(&p.kid);
                    self.unusable
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(p.kid.clone(), Instant::now());
                }
            }
        }
        sigs
    }

    fn skip_kids(&self) -> Vec<String> {
        let mut unusable = self.unusable.lock().unwrap_or_else(|p| p.into_inner());
        unusable.retain(|_, since| since.elapsed() < SKIP_FOR);
        unusable.keys().cloned().collect()
    }

    /// One pass (blocking): sign up to a batch of pending receipts and store
    /// the signatures. Returns how many were signed.
    pub fn pass(&self) -> Result<usize, Error> {
        let started = now_ms();
        let issued: Mutex<Vec<i64>> = Mutex::new(Vec::new());
        let sign = |r: &mut dyn Read, pending: &[Unsigned]| {
            let mut at = issued.lock().unwrap_or_else(|p| p.into_inner());
            at.clear();
            at.extend(pending.iter().map(|p| p.issued_at_ms));
            self.sign_batch(r, pending)
        };
        let n = self.store.sign_pending(BATCH, &self.skip_kids(), &sign)?;
        if n == 0 {
            let backlog = store::read_blocking(&*self.store, |r| r.unsigned_count(None))?;
            self.metrics.backlog.store(backlog, Ordering::Relaxed);
            return Ok(0);
        }
        let now = now_ms().max(started);
        let mut worst = 0;
        for at in issued.into_inner().unwrap_or_else(|p| p.into_inner()) {
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
    /// unsigned receipt left (blocking), and drop from the cache every key
    /// that is no longer active (at most every [`CACHE_SWEEP`]).
    pub fn destroy_retired(&self) -> Result<usize, Error> {
        let candidates = store::read_blocking(&*self.store, |r| r.keys_to_destroy())?;
        let mut destroyed = 0;
        for mut key in candidates {
            let kid = key.kid.clone();
            let done = match &self.keys {
                KeyVault::Files(files) => {
                    let k = kid.clone();
                    let left =
                        store::read_blocking(&*self.store, move |r| r.unsigned_count(Some(&k)))?;
                    if left > 0 {
                        continue;
                    }
                    self.forget(&kid);
                    files.destroy(&kid)?;
                    key.private_destroyed = true;
                    let k = key.clone();
                    store::transact_blocking(&*self.store, move |tx| tx.update_key(&k))?;
                    true
                }
                KeyVault::Sealed(_) => {
                    // One statement decides: nothing unsigned of the key is
                    // left (and a retired key is given no new receipt).
                    let k = kid.clone();
                    let done = store::transact_blocking(&*self.store, move |tx| {
                        tx.destroy_sealed_private_key(&k)
                    })?;
                    if done {
                        self.forget(&kid);
                    }
                    done
                }
            };
            if done {
                tracing::info!(kid = %kid, "destroyed the private key of a retired key");
                destroyed += 1;
            }
        }
        self.sweep_cache()?;
        Ok(destroyed)
    }

    fn forget(&self, kid: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(kid);
    }

    /// Drop cached keys that are no longer active: retired ones are loaded
    /// again if receipts of theirs are still pending, destroyed ones cannot be.
    fn sweep_cache(&self) -> Result<(), Error> {
        {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            if swept.elapsed() < CACHE_SWEEP {
                return Ok(());
            }
            *swept = Instant::now();
        }
        let kids: Vec<String> = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        if kids.is_empty() {
            return Ok(());
        }
        let gone = store::read_blocking(&*self.store, move |r| {
            let mut gone = Vec::new();
            for kid in kids {
                if r.key(&kid)?.is_none_or(|k| k.status != "active") {
                    gone.push(kid);
                }
            }
            Ok(gone)
        })?;
        for kid in gone {
            self.forget(&kid);
        }
        Ok(())
    }

    /// Sign until nothing is pending (blocking): recovery and draining. On
    /// a database that other instances keep writing to, it signs as many
    /// receipts as were pending when it began, then stops.
    pub fn drain(&self) -> Result<usize, Error> {
        let mut budget = store::read_blocking(&*self.store, |r| r.unsigned_count(None))?;
        let mut total = 0;
        while budget > 0 {
            let n = self.pass()?;
            if n == 0 {
                break;
            }
            total += n;
            budget = budget.saturating_sub(n as u64);
        }
        if let Some(long_ago) = Instant::now().checked_sub(CACHE_SWEEP) {
            *self.swept.lock().unwrap_or_else(|p| p.into_inner()) = long_ago;
        }
        self.destroy_retired()?;
        let left = store::read_blocking(&*self.store, |r| r.unsigned_count(None))?;
        if left > 0 && budget > 0 {
            // Receipts of a key whose private half is missing, or (with
            // several instances) held by another instance's signer.
            tracing::warn!(
                left,
                "unsigned receipts remain that this signer could not sign"
            );
        }
        Ok(total)
    }

    /// Ask the task to drain and stop.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// The background task: sign whenever woken (or every 200 ms), destroy
    /// retired keys when idle; after [`Signer::stop`], drain and return.
    pub async fn run(self: Arc<Self>) {
        let mut maintained = Instant::now();
        loop {
            let me = self.clone();
            let n = tokio::task::spawn_blocking(move || me.pass())
                .await
                .unwrap_or_else(|e| Err(Error::internal(e.to_string())));
            match n {
                // Under load (from other instances too) there may always be
                // more: a stop request is looked at between passes, and
                // retired keys are destroyed (and the cache swept) every
                // CACHE_SWEEP even if the signer never idles.
                Ok(n) if n > 0 && !self.stopping.load(Ordering::SeqCst) => {
                    if maintained.elapsed() >= CACHE_SWEEP {
                        maintained = Instant::now();
                        let me = self.clone();
                        if let Ok(Err(e)) =
                            tokio::task::spawn_blocking(move || me.destroy_retired()).await
                        {
                            tracing::error!(error = %e, "destroying retired keys failed");
                        }
                    }
                    continue;
                }
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
            maintained = Instant::now();
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
