//! Chains: one authorization's receipts checked in the contract's rule order (section 8).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::export::{Outcome, Record, judge, judge_text};
use crate::instant::Instant;
use crate::keys::Hash;
use crate::receipt::Header;
use crate::receipt::Kind;
use crate::verify::{Verdict, Verified};
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

/// Where a receipt stands in the caller's input: which source (file) of
/// the run, its line, and its index in an array input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    pub source: usize,
    pub line: u64,
    pub index: Option<u64>,
}

/// The first receipt of a chain that failed on its own, as rule 1 names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Invalid {
    position: u64,
    place: Place,
    receipt_id: Option<String>,
    error: Error,
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
    pub receipts: u64,
    /// Exact duplicates (same receipt hash as one before): reported, not an error.
    pub duplicates: u64,
    /// With [`Error::ChainInvalidReceipt`]: where that receipt stands.
    pub invalid_at: Option<Place>,
}

impl ChainReport {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// One authorization's receipts as the rules need them: the links of the
/// valid ones (exact duplicates folded as they come), the first invalid one.
#[derive(Debug, Clone, Default)]
struct Group {
    links: Vec<Link>,
    /// `links.len()` after the last fold; the next fold waits until it doubles.
    folded: usize,
    duplicates: u64,
    receipts: u64,
    first_invalid: Option<Box<Invalid>>,
}

impl Group {
    fn add(&mut self, position: u64, place: Place, outcome: &Outcome) {
        self.receipts += 1;
        match outcome {
            Outcome::Valid(v) => {
                if self.links.capacity() == 0 {
                    // Most authorizations hold a few receipts: don't let
                    // the first push reserve room for four.
                    self.links.reserve_exact(1);
                }
                self.links.push(Link::from(v));
                if self.links.len() >= 1024 && self.links.len() >= 2 * self.folded {
                    self.fold();
                }
            }
            Outcome::Invalid { error, ids } => {
                if self.first_invalid.is_none() {
                    self.first_invalid = Some(Box::new(Invalid {
                        position,
                        place,
                        receipt_id: ids.receipt_id.clone(),
                        error: error.clone(),
                    }));
                }
            }
        }
    }

    /// Sort by seq and drop exact duplicates (counted), so that a trail
    /// repeated many times costs the memory of one.
    fn fold(&mut self) {
        self.links.sort_unstable_by_key(|l| (l.seq, l.hash));
        let before = self.links.len();
        self.links.dedup_by(|a, b| a.hash == b.hash);
        self.duplicates += (before - self.links.len()) as u64;
        self.folded = self.links.len();
    }

    fn report(mut self, authorization_id: String, mixed: Option<Error>) -> ChainReport {
        self.fold();
        let head = self.links.last().map(|l| (l.seq, l.hash));
        let (result, invalid_at) = match self.first_invalid.map(|b| *b) {
            Some(bad) => (
                Err(Error::ChainInvalidReceipt {
                    position: usize::try_from(bad.position).unwrap_or(usize::MAX),
                    receipt_id: bad.receipt_id,
                    cause: Box::new(bad.error),
                }),
                Some(bad.place),
            ),
            None => (mixed.map_or_else(|| rules(&self.links), Err), None),
        };
        // Closed means provably complete: only an intact chain can be.
        let closed = result.is_ok()
            && self
                .links
                .last()
                .is_some_and(|l| l.kind == Kind::AuthorizationRevoked);
        ChainReport {
            authorization_id,
            result,
            closed,
            head,
            receipts: self.receipts,
            duplicates: self.duplicates,
            invalid_at,
        }
    }
}

/// Rules 3 to 8 in order, over the verified links sorted by seq and
/// deduplicated (rule 1 and rule 2 are decided before).
fn rules(links: &[Link]) -> Result<(), Error> {
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

/// Verify an explicit list of receipts as one chain (rule 2, chain_mixed,
/// applies). Each receipt is judged exactly as in an export.
pub fn verify_chain(receipts: &[&[u8]], keysets: &[KeySet]) -> ChainReport {
    chain_of(receipts.iter().map(|bytes| judge_text(bytes, keysets)))
}

/// [`verify_chain`] over framed records (the records of one input, say).
pub fn verify_chain_records(records: &[Record], keysets: &[KeySet]) -> ChainReport {
    chain_of(records.iter().map(|r| judge(&r.body, keysets)))
}

fn chain_of(outcomes: impl Iterator<Item = Outcome>) -> ChainReport {
    let mut group = Group::default();
    let mut verified: Option<String> = None;
    let mut lenient: Option<String> = None;
    let mut mixed = None;
    for (position, outcome) in outcomes.enumerate() {
        match &outcome {
            Outcome::Valid(v) => match &verified {
                None => verified = Some(v.header.authorization_id.clone()),
                Some(first) if mixed.is_none() && *first != v.header.authorization_id => {
                    mixed = Some(Error::ChainMixed {
                        expected: first.clone(),
                        found: v.header.authorization_id.clone(),
                    });
                }
                Some(_) => {}
            },
            Outcome::Invalid { ids, .. } => {
                if lenient.is_none() {
                    lenient.clone_from(&ids.authorization_id);
                }
            }
        }
        let place = Place {
            source: 0,
            line: 0,
            index: Some(position as u64),
        };
        group.add(position as u64, place, &outcome);
    }
    // Named by the first verified authorization_id, else the first lenient one.
    let authorization_id = verified.or(lenient).unwrap_or_default();
    group.report(authorization_id, mixed)
}

/// Groups receipts by authorization as they stream past, then checks every
/// chain. Memory grows by one [`Link`] (a hundred bytes) per valid receipt
/// (exact duplicates folded away), nothing per invalid one but the first of
/// its chain, and one entry per authorization (its id, kept once, and a
/// few dozen bytes).
#[derive(Debug, Default)]
pub struct ChainSet {
    /// Each authorization's index in `groups` (order of first appearance).
    index: BTreeMap<Box<str>, usize>,
    groups: Vec<Group>,
    ungrouped: u64,
    added: u64,
}

impl ChainSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the next receipt's outcome. It joins the chain of its
    /// authorization_id (the lenient reading of section 9 for an invalid
    /// receipt); one without an id joins no chain and is counted in
    /// [`ChainSet::ungrouped`].
    pub fn add(&mut self, place: Place, outcome: &Outcome) {
        let position = self.added;
        self.added += 1;
        let Some(id) = outcome.authorization_id() else {
            self.ungrouped += 1;
            return;
        };
        let slot = match self.index.get(id) {
            Some(&slot) => slot,
            None => {
                self.index.insert(Box::from(id), self.groups.len());
                self.groups.push(Group::default());
                self.groups.len() - 1
            }
        };
        self.groups[slot].add(position, place, outcome);
    }

    /// Receipts that could not be placed in any chain.
    pub fn ungrouped(&self) -> u64 {
        self.ungrouped
    }

    /// Chains so far.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Check every chain, in order of first appearance, one at a time as
    /// the iterator is taken (a report need not hold them all).
    pub fn finish(self) -> impl Iterator<Item = ChainReport> {
        let mut ids: Vec<Option<Box<str>>> = Vec::new();
        ids.resize_with(self.groups.len(), || None);
        for (id, slot) in self.index {
            ids[slot] = Some(id);
        }
        self.groups
            .into_iter()
            .zip(ids)
            .map(|(group, id)| group.report(String::from(id.as_deref().unwrap_or("")), None))
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
