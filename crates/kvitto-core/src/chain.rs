//! Chains: one authorization's receipts checked in the contract's rule order (section 8).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::instant::Instant;
use crate::keys::Hash;
use crate::receipt::Header;
use crate::receipt::Kind;
use crate::verify::{self, Verdict, Verified};
use crate::{Error, KeySet};

/// What a chain needs of one verified receipt: a few dozen bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev: Option<Hash>,
    pub hash: Hash,
    pub issued_at: Instant,
    pub kind: Kind,
}

impl Link {
    fn new(header: &Header, hash: Hash) -> Link {
        Link {
            seq: header.seq,
            prev: header.prev,
            hash,
            issued_at: header.issued_at,
            kind: header.kind,
        }
    }
}

impl From<&Verified> for Link {
    fn from(v: &Verified) -> Link {
        Link::new(&v.header, v.receipt_hash)
    }
}

impl From<&Verdict> for Link {
    fn from(v: &Verdict) -> Link {
        Link::new(&v.header, v.receipt_hash)
    }
}

/// One receipt of a chain as the chain rules see it.
#[derive(Debug, Clone)]
pub struct ChainEntry {
    /// Where the receipt stands in the caller's input (0-based), for messages.
    pub position: usize,
    pub receipt_id: Option<String>,
    /// The authorization_id as verified; `None` for an invalid receipt.
    pub authorization_id: Option<String>,
    /// The receipt's link, or why it failed on its own.
    pub outcome: Result<Link, Error>,
}

impl ChainEntry {
    /// The entry for the result of verifying the receipt at `position`.
    pub fn new(
        position: usize,
        receipt_id: Option<String>,
        result: &Result<Verified, Error>,
    ) -> Self {
        match result {
            Ok(v) => ChainEntry {
                position,
                receipt_id: Some(v.header.receipt_id.clone()),
                authorization_id: Some(v.header.authorization_id.clone()),
                outcome: Ok(Link::from(v)),
            },
            Err(e) => ChainEntry {
                position,
                receipt_id,
                authorization_id: None,
                outcome: Err(e.clone()),
            },
        }
    }
}

/// The verdict on one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub authorization_id: String,
    /// `Ok` when every rule holds; otherwise the first failing rule's error.
    pub result: Result<(), Error>,
    /// The chain is intact and ends in `authorization.revoked`, so it is
    /// provably complete. An open chain's tail could have been cut:
    /// truncation is not checked. A broken chain is never closed.
    pub closed: bool,
    /// The last seq and its receipt hash, among the receipts that verified.
    pub head: Option<(u64, Hash)>,
    /// Receipts given, duplicates included.
    pub receipts: usize,
    /// Exact duplicates (same receipt hash as one before): reported, not an error.
    pub duplicates: usize,
}

impl ChainReport {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// Check one authorization's chain. `explicit` says the caller handed this
/// list over as one chain, so mixed authorizations are an error
/// ([`Error::ChainMixed`]); grouped exports never mix.
pub fn check_chain(authorization_id: &str, entries: &[ChainEntry], explicit: bool) -> ChainReport {
    let mut links: Vec<&Link> = entries
        .iter()
        .filter_map(|e| e.outcome.as_ref().ok())
        .collect();
    links.sort_by_key(|l| (l.seq, l.hash));
    let before = links.len();
    links.dedup_by(|a, b| a.hash == b.hash);
    let duplicates = before - links.len();
    let head = links.last().map(|l| (l.seq, l.hash));
    let result = rules(entries, &links, explicit);
    // Closed means provably complete: only an intact chain can be.
    let closed = result.is_ok()
        && links
            .last()
            .is_some_and(|l| l.kind == Kind::AuthorizationRevoked);
    ChainReport {
        authorization_id: String::from(authorization_id),
        result,
        closed,
        head,
        receipts: entries.len(),
        duplicates,
    }
}

/// The rules in order; `links` are the verified links sorted by seq, deduplicated.
fn rules(entries: &[ChainEntry], links: &[&Link], explicit: bool) -> Result<(), Error> {
    if let Some(bad) = entries.iter().find(|e| e.outcome.is_err()) {
        let cause = match &bad.outcome {
            Err(e) => e.clone(),
            Ok(_) => unreachable!("found by is_err"),
        };
        return Err(Error::ChainInvalidReceipt {
            position: bad.position,
            receipt_id: bad.receipt_id.clone(),
            cause: Box::new(cause),
        });
    }
    if explicit {
        let mut ids = entries.iter().filter_map(|e| e.authorization_id.as_deref());
        if let Some(first) = ids.next()
            && let Some(other) = ids.find(|id| *id != first)
        {
            return Err(Error::ChainMixed {
                expected: String::from(first),
                found: String::from(other),
            });
        }
    }
    if let Some(w) = links.windows(2).find(|w| w[0].seq == w[1].seq) {
        return Err(Error::ChainFork { seq: w[0].seq });
    }
    match links.first() {
        Some(l) if l.seq == 0 => {}
        first => {
            return Err(Error::ChainBadStart {
                first_seq: first.map(|l| l.seq),
            });
        }
    }
    if let Some(w) = links.windows(2).find(|w| w[1].seq != w[0].seq + 1) {
        return Err(Error::ChainGap {
            missing_seq: w[0].seq + 1,
        });
    }
    if let Some(w) = links.windows(2).find(|w| w[1].prev != Some(w[0].hash)) {
        return Err(Error::ChainBrokenLink { seq: w[1].seq });
    }
    if let Some(w) = links.windows(2).find(|w| w[1].issued_at < w[0].issued_at) {
        return Err(Error::ChainTimeReversal { seq: w[1].seq });
    }
    if let Some(w) = links
        .windows(2)
        .find(|w| w[0].kind == Kind::AuthorizationRevoked)
    {
        return Err(Error::ChainAfterRevocation { seq: w[1].seq });
    }
    Ok(())
}

/// Verify an explicit list of receipts as one chain (rule 2, chain_mixed, applies).
pub fn verify_chain(receipts: &[&[u8]], keysets: &[KeySet]) -> ChainReport {
    // The first lenient authorization_id, named when no receipt verifies.
    let mut lenient_authorization = None;
    let entries: Vec<ChainEntry> = receipts
        .iter()
        .enumerate()
        .map(
            |(position, bytes)| match verify::verdict_in(bytes, keysets) {
                Ok(v) => ChainEntry {
                    position,
                    outcome: Ok(Link::from(&v)),
                    receipt_id: Some(v.header.receipt_id),
                    authorization_id: Some(v.header.authorization_id),
                },
                Err(e) => {
                    let ids = crate::export::lenient_ids(bytes);
                    if lenient_authorization.is_none() {
                        lenient_authorization = ids.authorization_id;
                    }
                    ChainEntry {
                        position,
                        receipt_id: ids.receipt_id,
                        authorization_id: None,
                        outcome: Err(e),
                    }
                }
            },
        )
        .collect();
    let authorization_id = entries
        .iter()
        .find_map(|e| e.authorization_id.clone())
        .or(lenient_authorization)
        .unwrap_or_default();
    check_chain(&authorization_id, &entries, true)
}

/// Groups receipts by authorization as they stream past, then checks every
/// chain. Memory grows by one [`ChainEntry`] per receipt (160 bytes on a
/// 64-bit target, no heap for a valid receipt) and one map entry per
/// authorization.
#[derive(Debug, Default)]
pub struct ChainSet {
    groups: BTreeMap<String, usize>,
    chains: Vec<(String, Vec<ChainEntry>)>,
    ungrouped: usize,
}

impl ChainSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the receipt at `position`. `authorization_id` is the lenient
    /// reading of section 9 (see [`crate::export::lenient_ids`]); a receipt
    /// without one joins no chain and is counted in [`ChainSet::ungrouped`].
    pub fn add(&mut self, authorization_id: Option<&str>, mut entry: ChainEntry) {
        let Some(id) = authorization_id else {
            self.ungrouped += 1;
            return;
        };
        // Keep only what the rules read: the group holds the authorization,
        // and a receipt's id is needed only to name it when it is invalid.
        entry.authorization_id = None;
        if entry.outcome.is_ok() {
            entry.receipt_id = None;
        }
        let slot = match self.groups.get(id) {
            Some(&slot) => slot,
            None => {
                self.groups.insert(String::from(id), self.chains.len());
                self.chains.push((String::from(id), Vec::new()));
                self.chains.len() - 1
            }
        };
        self.chains[slot].1.push(entry);
    }

    /// Receipts that could not be placed in any chain.
    pub fn ungrouped(&self) -> usize {
        self.ungrouped
    }

    /// Check every chain, in order of first appearance.
    pub fn finish(self) -> Vec<ChainReport> {
        self.chains
            .iter()
            .map(|(id, entries)| check_chain(id, entries, false))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{chain, keyset};
    use alloc::vec;

    fn check(receipts: &[String]) -> ChainReport {
        let bytes: Vec<&[u8]> = receipts.iter().map(|r| r.as_bytes()).collect();
        verify_chain(&bytes, &[keyset()])
    }

    fn code(receipts: &[String]) -> &'static str {
        match check(receipts).result {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn complete_closed_and_shuffled() {
        let c = chain("auth_a", 5, true);
        let report = check(&c);
        assert_eq!(report.result, Ok(()));
        assert!(report.closed);
        assert_eq!(report.head.map(|h| h.0), Some(4));
        let shuffled = vec![
            c[3].clone(),
            c[0].clone(),
            c[4].clone(),
            c[2].clone(),
            c[1].clone(),
        ];
        assert_eq!(check(&shuffled), ChainReport { ..report });
        let open = chain("auth_a", 4, false);
        let report = check(&open);
        assert!(report.is_ok() && !report.closed);
    }

    #[test]
    fn rules() {
        let c = chain("auth_a", 5, true);
        let other = chain("auth_b", 5, true);
        assert_eq!(
            code(&[c[0].clone(), c[1].clone(), c[3].clone()]),
            "chain_gap"
        );
        assert_eq!(code(&c[1..]), "chain_bad_start");
        assert_eq!(code(&[]), "chain_bad_start");
        let mut dup = c.clone();
        dup.push(c[2].clone());
        let report = check(&dup);
        assert_eq!((report.result.is_ok(), report.duplicates), (true, 1));
        let mut mixed = c.clone();
        mixed.push(other[0].clone());
        assert_eq!(code(&mixed), "chain_mixed");
        let mut bad = c.clone();
        bad[2] = bad[2].replace("email.send", "email.read");
        let report = check(&bad);
        match report.result {
            Err(Error::ChainInvalidReceipt {
                position, cause, ..
            }) => {
                assert_eq!((position, cause.code()), (2, "signature_invalid"));
            }
            other => panic!("{other:?}"),
        }
        // A longer chain forks at seq 4 against the closed one, and with the
        // revocation gone, seq 4 follows seq 3's revocation in none.
        let long = chain("auth_a", 6, false);
        let mut fork = c.clone();
        fork.push(long[4].clone());
        assert_eq!(code(&fork), "chain_fork");
        let mut after = c.clone();
        after.push(long[5].clone());
        // seq 5's prev is long[4]'s hash, not c[4]'s: the link breaks first.
        assert_eq!(code(&after), "chain_broken_link");
    }
}
