//! Workspaces and signing keys: creation, rotation, revocation.

use super::*;

/// Retire the active key at the rotation instant R and make a new key active
/// from R. R is now, or later than every receipt of the workspace, so all
/// the old key's receipts lie inside its window.
pub fn rotate_unit(
    tx: &mut dyn Tx,
    keys: &KeyFiles,
    ws: &str,
    now: i64,
) -> Result<wire::Rotated, Error> {
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
    let new = keys.generate(ws, all.len() + 1, at)?;
    old.status = "retired".into();
    old.not_after_ms = Some(at);
    tx.update_key(&old)?;
    tx.insert_key(&crate::keys::record(&new, ws, at))?;
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
    keys: &KeyFiles,
    ws: &str,
    kid: &str,
    now: i64,
) -> Result<(), Error> {
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
    keys: &KeyFiles,
    now: i64,
) -> Result<(String, String, String), Error> {
    let ws = ids::new_id("ws_", now)?;
    tx.insert_workspace(&ws, now)?;
    let key = keys.generate(&ws, 1, now)?;
    tx.insert_key(&crate::keys::record(&key, &ws, now))?;
    let api_key = ids::new_api_key()?;
    tx.insert_api_key(&ids::api_key_hash(&api_key), &ws, now)?;
    Ok((ws, api_key, key.kid().to_owned()))
}
