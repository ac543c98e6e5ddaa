//! The store suite: what every backend must do, run against SQLite and
//! against a real PostgreSQL (see tests/support/pgcluster.rs; skipped with
//! a message where its binaries are missing, unless
//! KVITTO_REQUIRE_POSTGRES=1), plus what only one backend has.

use std::sync::Arc;

use super::postgres::{OpenMode, PgOptions, PgStore};
use super::sqlite::SqliteStore;
use super::*;
use crate::kek::{Kek, KekRing};
use crate::keys::{KeyFiles, KeyVault};
use crate::model::{Grant, KeyRecord, NewReceipt};

#[path = "../../tests/support/pgcluster.rs"]
mod pgcluster;

fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = SqliteStore::open(&dir.path().join("t.db")).unwrap();
    (dir, store)
}

/// A SQLite store in a temporary directory, with its key files.
pub(crate) fn sqlite_store() -> (tempfile::TempDir, Arc<dyn Store>, KeyVault) {
    let (dir, store) = sqlite();
    let keys = KeyVault::Files(KeyFiles::open(dir.path()).unwrap());
    (dir, store, keys)
}

/// A fresh database on the shared test cluster, or None (with a message)
/// where PostgreSQL tests are skipped.
fn postgres_options(test: &str) -> Option<(PgOptions, Arc<pgcluster::Cluster>)> {
    let cluster = pgcluster::shared(test)?;
    let mut o = PgOptions::new(cluster.new_database());
    o.pool_size = 4;
    Some((o, cluster))
}

fn postgres(test: &str) -> Option<Arc<dyn Store>> {
    let (o, _) = postgres_options(test)?;
    Some(PgStore::open(&o, OpenMode::Init).unwrap())
}

pub(crate) fn test_kek() -> KekRing {
    let key: [u8; 32] = crate::ids::random().unwrap();
    KekRing::new(Kek::parse(&crate::ids::hex(&key), "test").unwrap(), None)
}

/// A PostgreSQL store on a fresh database with sealed keys, or None.
pub(crate) fn postgres_store(test: &str) -> Option<(Arc<dyn Store>, KeyVault)> {
    Some((postgres(test)?, KeyVault::Sealed(Arc::new(test_kek()))))
}

/// Each suite function runs once per backend: `NAME::sqlite`, `NAME::postgres`.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                let (_d, s) = super::sqlite();
                super::$name(&*s);
                s.close();
            }
            #[test]
            fn postgres() {
                if let Some(s) = super::postgres(concat!("store::", stringify!($name), "::postgres")) {
                    super::$name(&*s);
                    s.close();
                }
            }
        }
    )*};
}

suite!(
    units_commit_or_roll_back_whole,
    receipts_append_page_and_sign,
    state_idempotency_bundles_pending,
    signing_claims_and_stores,
    a_failing_unit_runs_once,
);

fn auth(id: &str) -> Authorization {
    let grant = Grant {
        user_id: "u".into(),
        agent_id: "a".into(),
        scopes: vec![],
        requires_confirm_for: vec![],
        requires_escalation_for: vec![],
        escalation_targets: Default::default(),
        expires_at_ms: None,
        budget_limit_micros: Some(5),
        metadata: Default::default(),
        bundle_id: None,
    };
    Authorization::new(id.into(), "ws".into(), grant, 1)
}

fn receipt(auth: &str, seq: u64, id: &str, at: i64) -> NewReceipt {
    NewReceipt {
        receipt_id: id.into(),
        workspace_id: "ws".into(),
        authorization_id: auth.into(),
        seq,
        kind: "check",
        kid: "ws.k1".into(),
        issued_at_ms: at,
        payload: format!("{{\"seq\":{seq}}}"),
        hash: format!("sha256:{seq}"),
    }
}

/// A workspace `ws` with key `ws.k1` and authorization `a1`.
fn seed(store: &dyn Store) {
    transact_blocking(store, |tx| {
        tx.insert_workspace("ws", 1)?;
        tx.insert_api_key("sha256:k", "ws", 1)?;
        tx.insert_key(&KeyRecord {
            kid: "ws.k1".into(),
            workspace_id: "ws".into(),
            x: "x".into(),
            status: "active".into(),
            not_before_ms: 1,
            not_after_ms: None,
            private_destroyed: false,
        })?;
        tx.insert_authorization(&auth("a1"))
    })
    .unwrap();
}

/// Every backend: a unit's writes are visible once it returns, an erroring
/// unit leaves nothing behind, and other units of the same batch are kept.
pub(crate) fn units_commit_or_roll_back_whole(store: &dyn Store) {
    seed(store);
    let tickets: Vec<Ticket> = (0..20u64)
        .map(|i| {
            store.submit(Box::new(move |tx| {
                let id = format!("a{}", i + 10);
                tx.insert_authorization(&auth(&id))?;
                if i % 2 == 1 {
                    return Err(Error::member("x", "odd units fail after writing"));
                }
                Ok(Box::new(i) as Box<dyn Any + Send>)
            }))
        })
        .collect();
    for (i, t) in tickets.into_iter().enumerate() {
        let r = t.blocking_recv().unwrap();
        assert_eq!(r.is_ok(), i % 2 == 0);
    }
    read_blocking(store, |r| {
        for i in 0..20 {
            let found = r.authorization("ws", &format!("a{}", i + 10))?.is_some();
            assert_eq!(found, i % 2 == 0, "a{}", i + 10);
        }
        Ok(())
    })
    .unwrap();
}

/// Chains never fork: a second receipt at the same seq fails its unit.
pub(crate) fn receipts_append_page_and_sign(store: &dyn Store) {
    seed(store);
    transact_blocking(store, |tx| {
        for seq in 0..5 {
            tx.append_receipt(&receipt("a1", seq, &format!("r{seq}"), 100 + seq as i64))?;
        }
        Ok(())
    })
    .unwrap();
    let fork = transact_blocking(store, |tx| {
        tx.append_receipt(&receipt("a1", 3, "r-fork", 200))
    });
    assert!(fork.is_err());
    read_blocking(store, |r| {
        assert_eq!(
            r.receipts("a1", Some(1), 2)?
                .iter()
                .map(|x| x.seq)
                .collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(r.pending_count("a1", None)?, 5);
        assert_eq!(r.unsigned_count(Some("ws.k1"))?, 5);
        assert_eq!(r.max_issued_at("ws")?, Some(104));
        assert_eq!(r.authorizations_in_range("ws", 101, 102)?, ["a1"]);
        assert!(r.authorizations_in_range("ws", 105, 200)?.is_empty());
        assert!(r.receipt("other-ws", "r1")?.is_none());
        assert_eq!(r.pending_receipts(10)?.len(), 5);
        Ok(())
    })
    .unwrap();
    let n = transact_blocking(store, |tx| {
        tx.set_signatures(&[("r0".into(), "s0".into()), ("r1".into(), "s1".into())])
    })
    .unwrap();
    assert_eq!(n, 2);
    // Only empty signatures are filled.
    let n = transact_blocking(store, |tx| {
        tx.set_signatures(&[("r0".into(), "other".into())])
    })
    .unwrap();
    assert_eq!(n, 0);
    read_blocking(store, |r| {
        let r0 = r.receipt("ws", "r0")?.unwrap();
        assert_eq!(
            r0.signed_json().unwrap(),
            "{\"payload\":{\"seq\":0},\"sig\":\"s0\"}"
        );
        assert_eq!(r.pending_count("a1", Some(0))?, 3);
        assert_eq!(
            r.pending_receipts(10)?
                .first()
                .map(|u| u.receipt_id.clone()),
            Some("r2".into())
        );
        Ok(())
    })
    .unwrap();
}

pub(crate) fn state_idempotency_bundles_pending(store: &dyn Store) {
    seed(store);
    transact_blocking(store, |tx| {
        let mut s = ScopeState::new("send");
        s.allowed_today = 3;
        s.day = 7;
        tx.put_scope_state("a1", &s)?;
        s.allowed_today = 4;
        tx.put_scope_state("a1", &s)?;
        let mut a = tx.lock_authorization("ws", "a1")?.unwrap();
        a.budget_spent_micros = 5;
        a.next_seq = 9;
        tx.update_authorization(&a)?;
        tx.put_idempotent_response(
            "ws",
            "k",
            &IdempotentResponse {
                request_hash: "h".into(),
                status: 200,
                body: "{}".into(),
            },
            10,
        )?;
        tx.insert_pending(
            PendingKind::Escalation,
            &Pending {
                id: "esc_1".into(),
                workspace_id: "ws".into(),
                authorization_id: "a1".into(),
                scope: "send".into(),
                target: Some("ops".into()),
                status: "pending".into(),
                created_at_ms: 3,
            },
        )?;
        let b = Bundle {
            bundle_id: "b".into(),
            agent_id: "a".into(),
            scopes: vec![],
            requires_confirm_for: vec![],
            requires_escalation_for: vec![],
            escalation_targets: Default::default(),
            budget_limit_micros: None,
            created_at_ms: 1,
        };
        assert!(tx.insert_bundle("ws", &b)?);
        assert!(!tx.insert_bundle("ws", &b)?);
        Ok(())
    })
    .unwrap();
    read_blocking(store, |r| {
        let st = r.scope_states("a1")?;
        assert_eq!((st.len(), st[0].allowed_today), (1, 4));
        let a = r.authorization("ws", "a1")?.unwrap();
        assert_eq!(
            (
                a.budget_spent_micros,
                a.next_seq,
                a.grant.budget_limit_micros
            ),
            (5, 9, Some(5))
        );
        assert!(
            r.authorization("other", "a1")?.is_none(),
            "ids are scoped to their workspace"
        );
        assert_eq!(r.idempotent_response("ws", "k")?.unwrap().status, 200);
        assert!(r.idempotent_response("other", "k")?.is_none());
        assert_eq!(
            r.pending(PendingKind::Escalation, "ws", "esc_1")?
                .unwrap()
                .target
                .as_deref(),
            Some("ops")
        );
        assert!(
            r.pending(PendingKind::Confirmation, "ws", "esc_1")?
                .is_none()
        );
        assert_eq!(r.bundles("ws")?.len(), 1);
        assert_eq!(r.api_key_workspace("sha256:k")?.as_deref(), Some("ws"));
        Ok(())
    })
    .unwrap();
    let purged = transact_blocking(store, |tx| tx.purge_idempotency(11)).unwrap();
    assert_eq!(purged, 1);
}

/// Signing claims pending receipts, stores what the signer returns, and
/// leaves the keys it is told to skip.
pub(crate) fn signing_claims_and_stores(store: &dyn Store) {
    seed(store);
    transact_blocking(store, |tx| {
        for seq in 0..5 {
            tx.append_receipt(&receipt("a1", seq, &format!("r{seq}"), 100 + seq as i64))?;
        }
        Ok(())
    })
    .unwrap();
    let sign = |_: &mut dyn Read, p: &[Unsigned]| {
        p.iter()
            .filter(|u| u.receipt_id != "r4")
            .map(|u| (u.receipt_id.clone(), format!("sig-{}", u.receipt_id)))
            .collect::<Vec<_>>()
    };
    assert_eq!(store.sign_pending(2, &[], &sign).unwrap(), 2);
    assert_eq!(store.sign_pending(10, &["ws.k1".into()], &sign).unwrap(), 0);
    // r4 is left unsigned by the signer: 2 of the 3 claimed are stored.
    assert_eq!(store.sign_pending(10, &[], &sign).unwrap(), 2);
    read_blocking(store, |r| {
        assert_eq!(r.unsigned_count(None)?, 1);
        assert_eq!(
            r.receipt("ws", "r3")?.unwrap().sig.as_deref(),
            Some("sig-r3")
        );
        assert_eq!(r.pending_receipts(10)?[0].receipt_id, "r4");
        Ok(())
    })
    .unwrap();
}

/// A unit that fails with its own error runs once and leaves nothing.
pub(crate) fn a_failing_unit_runs_once(store: &dyn Store) {
    seed(store);
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    let out = transact_blocking(store, move |tx| {
        r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tx.insert_authorization(&auth("a2"))?;
        Err::<(), _>(Error::member("x", "no"))
    });
    assert_eq!(out, Err(Error::member("x", "no")));
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    let found = read_blocking(store, |r| Ok(r.authorization("ws", "a2")?.is_some())).unwrap();
    assert!(!found);
}

#[test]
fn sqlite_is_wal_with_full_sync_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = SqliteStore::open(&path).unwrap();
    s.close();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let v: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, 1);
    drop(conn);
    // Reopening applies nothing twice.
    let s = SqliteStore::open(&path).unwrap();
    s.close();
    // After close, units are refused, not lost silently.
    let r = transact_blocking(&*s, |_| Ok(()));
    assert_eq!(r, Err(Error::ShuttingDown));
}

/// PostgreSQL: migrations are versioned, applied once, a newer schema is
/// refused, and a database without the schema is not served.
#[test]
fn postgres_migrations_are_versioned_and_a_newer_schema_is_refused() {
    let Some((o, cluster)) = postgres_options("postgres_migrations") else {
        return;
    };
    let Err(Error::Internal { message }) = PgStore::open(&o, OpenMode::Existing) else {
        panic!("opened a database without the schema");
    };
    assert!(message.contains("run `kvitto-server init"), "{message}");
    PgStore::open(&o, OpenMode::Init).unwrap().close();
    let db = o.url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        cluster.psql(
            &db,
            "SELECT string_agg(version::text, ',') FROM schema_migrations"
        ),
        "1"
    );
    // Reopening applies nothing twice.
    PgStore::open(&o, OpenMode::Existing).unwrap().close();
    assert_eq!(
        cluster.psql(&db, "SELECT COUNT(*) FROM schema_migrations"),
        "1"
    );
    cluster.psql(&db, "INSERT INTO schema_migrations VALUES (99, 0)");
    let Err(Error::Internal { message }) = PgStore::open(&o, OpenMode::Existing) else {
        panic!("opened a newer schema");
    };
    assert!(
        message.contains("schema version 99, newer than this server's 1"),
        "{message}"
    );
}

/// PostgreSQL: two signers never claim the same receipt; one that holds a
/// claim keeps it until its transaction ends.
#[test]
fn postgres_claims_never_overlap() {
    let Some(store) = postgres("postgres_claims_never_overlap") else {
        return;
    };
    seed(&*store);
    transact_blocking(&*store, |tx| {
        for seq in 0..10 {
            tx.append_receipt(&receipt("a1", seq, &format!("r{seq}"), 100 + seq as i64))?;
        }
        Ok(())
    })
    .unwrap();
    let (claimed_tx, claimed_rx) = std::sync::mpsc::channel::<Vec<String>>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let holder = store.submit(Box::new(move |tx| {
        let ids: Vec<String> = tx
            .claim_pending(4, &[])?
            .into_iter()
            .map(|u| u.receipt_id)
            .collect();
        let _ = claimed_tx.send(ids);
        let _ = release_rx.lock().unwrap().recv();
        Ok(Box::new(()) as Box<dyn Any + Send>)
    }));
    let first = claimed_rx.recv().unwrap();
    assert_eq!(first.len(), 4);
    let second: Vec<String> = transact_blocking(&*store, |tx| {
        Ok(tx
            .claim_pending(100, &[])?
            .into_iter()
            .map(|u| u.receipt_id)
            .collect::<Vec<String>>())
    })
    .unwrap();
    assert_eq!(second.len(), 6, "the held claims are skipped");
    assert!(second.iter().all(|id| !first.contains(id)));
    release_tx.send(()).unwrap();
    holder.blocking_recv().unwrap().unwrap();
    store.close();
}

/// PostgreSQL: a connection that dies inside a unit (the server ended the
/// session) is replaced and the unit runs again, committing once.
#[test]
fn postgres_a_lost_connection_runs_the_unit_again() {
    let Some((o, cluster)) = postgres_options("postgres_a_lost_connection") else {
        return;
    };
    let store: Arc<dyn Store> = PgStore::open(&o, OpenMode::Init).unwrap();
    seed(&*store);
    let db = o.url.rsplit('/').next().unwrap().to_owned();
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    transact_blocking(&*store, move |tx| {
        let n = r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tx.insert_authorization(&auth("a-retried"))?;
        if n == 0 {
            // End this very session from outside, as a restart would.
            cluster.psql(
                &db,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'kvitto-server' AND state = 'idle in transaction' \
                 AND datname = current_database()",
            );
        }
        tx.lock_authorization("ws", "a1").map(drop)
    })
    .unwrap();
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    let n = read_blocking(&*store, |r| {
        Ok(r.authorization("ws", "a-retried")?.is_some())
    })
    .unwrap();
    assert!(n);
    store.close();
}

/// PostgreSQL: a rotation (the workspace's keys locked) waits for a unit
/// that appends with the active key, and a unit after it sees the new key.
#[test]
fn postgres_a_rotation_waits_for_units_appending_with_the_old_key() {
    let Some(store) = postgres("postgres_a_rotation_waits") else {
        return;
    };
    seed(&*store);
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let appender = store.submit(Box::new(move |tx| {
        let keys = tx.keys_for_append("ws")?;
        let _ = held_tx.send(());
        let _ = release_rx.lock().unwrap().recv();
        Ok(Box::new(keys.len()) as Box<dyn Any + Send>)
    }));
    held_rx.recv().unwrap();
    let mut rotation = store.submit(Box::new(|tx| {
        tx.lock_keys("ws")?;
        let mut k = tx.key("ws.k1")?.unwrap();
        k.status = "retired".into();
        tx.update_key(&k)?;
        tx.insert_key(&KeyRecord {
            kid: "ws.k2".into(),
            workspace_id: "ws".into(),
            x: "y".into(),
            status: "active".into(),
            not_before_ms: 2,
            not_after_ms: None,
            private_destroyed: false,
        })?;
        Ok(Box::new(()) as Box<dyn Any + Send>)
    }));
    // Not done while the appender holds the keys (a slow machine only
    // makes this wait longer, never fails it).
    std::thread::sleep(std::time::Duration::from_millis(300));
    if let Ok(r) = rotation.try_recv() {
        panic!("the rotation did not wait: {:?}", r.map(drop));
    }
    release_tx.send(()).unwrap();
    appender.blocking_recv().unwrap().unwrap();
    rotation.blocking_recv().unwrap().unwrap();
    let active: Vec<String> = transact_blocking(&*store, |tx| {
        Ok(tx
            .keys_for_append("ws")?
            .into_iter()
            .filter(|k| k.status == "active")
            .map(|k| k.kid)
            .collect::<Vec<String>>())
    })
    .unwrap();
    assert_eq!(active, ["ws.k2"]);
    store.close();
}

/// PostgreSQL: private halves are sealed in the database, open with the
/// KEK, and are destroyed only once the key is retired and nothing of it
/// is left unsigned; a destroyed key cannot come back.
#[test]
fn postgres_sealed_keys_round_trip_and_are_destroyed_last() {
    let Some((store, keys)) = postgres_store("postgres_sealed_keys") else {
        return;
    };
    let k = keys.clone();
    let (ws, _, kid) = transact_blocking(&*store, move |tx| {
        crate::service::create_workspace_unit(tx, &k, 1_000)
    })
    .unwrap();
    let k = keys.clone();
    let id = kid.clone();
    let (sealed, x) = read_blocking(&*store, move |r| {
        let sealed = r.sealed_private_key(&id)?.unwrap();
        let key = k.load(r, &id)?;
        Ok((sealed, key.x()))
    })
    .unwrap();
    assert!(sealed.starts_with("xc20p1.kek_"));
    let stored_x = read_blocking(&*store, {
        let id = kid.clone();
        move |r| Ok(r.key(&id)?.unwrap().x)
    })
    .unwrap();
    assert_eq!(x, stored_x, "the sealed seed is this key's");
    // Another KEK does not open it, and says which one would.
    let other = KeyVault::Sealed(Arc::new(test_kek()));
    let Err(Error::Internal { message }) = read_blocking(&*store, move |r| other.check(r)) else {
        panic!("a wrong KEK passed the check");
    };
    assert!(
        message.contains(&kid) && message.contains("KVITTO_KEK"),
        "{message}"
    );
    // Active: not destroyed. Retired with a pending receipt: not destroyed.
    let id = kid.clone();
    assert!(!transact_blocking(&*store, move |tx| tx.destroy_sealed_private_key(&id)).unwrap());
    let (w, id) = (ws.clone(), kid.clone());
    transact_blocking(&*store, move |tx| {
        let mut a = auth("a9");
        a.workspace_id = w.clone();
        tx.insert_authorization(&a)?;
        let mut r = receipt("a9", 0, "r9", 5_000);
        r.workspace_id = w.clone();
        r.kid = id.clone();
        tx.append_receipt(&r)?;
        let mut k = tx.key(&id)?.unwrap();
        k.status = "retired".into();
        k.not_after_ms = Some(6_000);
        tx.update_key(&k)
    })
    .unwrap();
    let id = kid.clone();
    assert!(!transact_blocking(&*store, move |tx| tx.destroy_sealed_private_key(&id)).unwrap());
    transact_blocking(&*store, |tx| {
        tx.set_signatures(&[("r9".into(), "s".into())])
    })
    .unwrap();
    let id = kid.clone();
    assert!(transact_blocking(&*store, move |tx| tx.destroy_sealed_private_key(&id)).unwrap());
    let id = kid.clone();
    let (gone, destroyed, back) = transact_blocking(&*store, move |tx| {
        Ok((
            tx.sealed_private_key(&id)?.is_none(),
            tx.key(&id)?.unwrap().private_destroyed,
            tx.put_sealed_private_key(&id, "xc20p1.kek_0.x")?,
        ))
    })
    .unwrap();
    assert!(gone && destroyed && !back);
    store.close();
}

/// PostgreSQL over TLS: `sslmode=require` connects with the server's
/// certificate verified against the CA file, and refuses a server whose
/// certificate no trusted CA signed (never falling back to plain).
#[test]
fn postgres_tls_verifies_the_server_certificate() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    if !pgcluster::available("postgres_tls") {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let ca_pem = pki.path().join("ca.pem");
    let other_pem = pki.path().join("other.pem");
    let ca_file = ca_pem.clone();
    let cluster = pgcluster::Cluster::start(&["ssl=on"], move |dir| {
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        std::fs::write(dir.join("server.crt"), leaf.pem()).unwrap();
        let key = dir.join("server.key");
        std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        vec![
            format!("ssl_cert_file={}", dir.join("server.crt").display()),
            format!("ssl_key_file={}", key.display()),
        ]
    });
    let mut other_params = CertificateParams::new(Vec::new()).unwrap();
    other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = other_params
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap();
    std::fs::write(&other_pem, other.pem()).unwrap();

    let url = format!("{}?sslmode=require", cluster.new_database());
    let mut o = PgOptions::new(url);
    o.retry_window = std::time::Duration::from_secs(2);
    o.ca_file = Some(ca_pem);
    let store: Arc<dyn Store> = PgStore::open(&o, OpenMode::Init).unwrap();
    seed(&*store);
    let on_tls = cluster.psql(
        "postgres",
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'kvitto-server'",
    );
    assert_eq!(on_tls, "t", "every kvitto-server session is on TLS");
    store.close();
    o.ca_file = Some(other_pem);
    let Err(Error::Internal { message }) = PgStore::open(&o, OpenMode::Existing) else {
        panic!("connected to a server no trusted CA vouches for");
    };
    assert!(message.contains("cannot connect"), "{message}");
}
