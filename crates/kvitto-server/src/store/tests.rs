//! The store suite: what every backend must do, run here against SQLite
//! (a Postgres backend runs the same functions).

use std::sync::Arc;

use super::sqlite::SqliteStore;
use super::*;
use crate::model::{Grant, KeyRecord, NewReceipt};

fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = SqliteStore::open(&dir.path().join("t.db")).unwrap();
    (dir, store)
}

fn auth(id: &str) -> Authorization {
    Authorization {
        id: id.into(),
        workspace_id: "ws".into(),
        grant: Grant {
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
        },
        created_at_ms: 1,
        budget_spent_micros: 0,
        revoked_at_ms: None,
        revoked_by: None,
        next_seq: 0,
        head_hash: String::new(),
        head_issued_at_ms: 0,
    }
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

#[test]
fn sqlite_units_commit_or_roll_back_whole() {
    let (_d, s) = sqlite();
    units_commit_or_roll_back_whole(&*s);
    s.close();
}

#[test]
fn sqlite_receipts_append_page_and_sign() {
    let (_d, s) = sqlite();
    receipts_append_page_and_sign(&*s);
    s.close();
}

#[test]
fn sqlite_state_idempotency_bundles_pending() {
    let (_d, s) = sqlite();
    state_idempotency_bundles_pending(&*s);
    s.close();
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
