//! Workspaces and signing keys: creation, rotation, revocation.

use super::*;

/// Retire the active key at the rotation instant R and make a new key active
/// from R. R is now, or later than every receipt of the workspace, so all
/// the old key's receipts lie inside its window. The workspace's keys are
/// locked first: every unit appending with the old key has committed (so
/// its receipts count for R), and none appends with it after this one.
pub fn rotate_unit(
    tx: &mut dyn Tx,
    keys: &KeyVault,
    ws: &str,
    now: i64,
) -> Result<wire::Rotated, Error> {
    tx.lock_keys(ws)?;
    let all = tx.keys(ws)?;
    let mut old = all
        .iter()
        .find(|k| k.status == "active")
        .cloned()
        .ok_or_else(|| Error::internal(format!("workspace {ws} has no active key")))?;
    // Every receipt the old key was given is among the workspace's, so R
    // after the latest of those puts them all inside the old key's window.
    let last = tx.max_issued_at(ws)?.unwrap_or(i64::MIN);
    let at = now.max(last.saturating_add(1)).max(old.not_before_ms + 1);
    old.status = "retired".into();
    old.not_after_ms = Some(at);
    tx.update_key(&old)?;
    let new = keys.create(tx, ws, all.len() + 1, at)?;
    Ok(wire::Rotated {
        kid: new.kid().to_owned(),
        retired_kid: old.kid,
        at: rfc3339_ms(at),
    })
}

/// Mark a key revoked (compromised): nothing it signed verifies any more.
/// An active key is rotated first, so the workspace keeps signing.
pub fn revoke_key_unit(
    tx: &mut dyn Tx,
    keys: &KeyVault,
    ws: &str,
    kid: &str,
    now: i64,
) -> Result<(), Error> {
    tx.lock_keys(ws)?;
    let mut key = tx
        .key(kid)?
        .filter(|k| k.workspace_id == ws)
        .ok_or_else(|| {
            Error::not_found("key_not_found", format!("no key {kid:?} in workspace {ws}"))
        })?;
    if key.status == "active" {
        rotate_unit(tx, keys, ws, now)?;
        key = tx
            .key(kid)?
            .ok_or_else(|| Error::internal("rotated key vanished"))?;
    }
    key.status = "revoked".into();
    tx.update_key(&key)
}

/// A new workspace with its first key and API key: (workspace_id, api_key, kid).
pub fn create_workspace_unit(
    tx: &mut dyn Tx,
    keys: &KeyVault,
    now: i64,
) -> Result<(String, String, String), Error> {
    let ws = ids::new_id("ws_", now)?;
    tx.insert_workspace(&ws, now)?;
    let key = keys.create(tx, &ws, 1, now)?;
    let api_key = ids::new_api_key()?;
    tx.insert_api_key(&ids::api_key_hash(&api_key), &ws, now)?;
    Ok((ws, api_key, key.kid().to_owned()))
}

/// Seal anew with the current KEK every private key still in the database
/// that another KEK (the previous one) sealed: the last step of a KEK
/// rotation. Returns how many keys were sealed anew.
pub fn reseal_unit(tx: &mut dyn Tx, keks: &crate::kek::KekRing) -> Result<usize, Error> {
    let mut n = 0;
    for (kid, sealed) in tx.sealed_private_keys()? {
        if !keks.needs_reseal(&sealed) {
            continue;
        }
        let seed = keks.open(&kid, &sealed)?;
        if tx.put_sealed_private_key(&kid, &keks.seal(&kid, &seed)?)? {
            n += 1;
        }
    }
    Ok(n)
}
