//! Table digests for catch-up: what two servers exchange when a link comes up, so that only
//! the entries that differ travel. Pure: no sockets, no clocks.
//!
//! Clients are spread over `2^bits` buckets by a hash of the client ID; a bucket's digest is the
//! XOR of a 64-bit hash of each AT line in it. Two tables agree on a bucket exactly when (up to
//! a 2^-64 collision) they hold the same AT line for every client in it. XOR makes the digest
//! independent of the order entries were added, and lets one side compute its own digest at any
//! granularity: each side sends its summary at a bucket count sized to its own table (about
//! [`PER_BUCKET`] clients a bucket), and the receiver regroups its table at the sender's
//! granularity and pushes every entry of every bucket that differs. Both sides do so, which
//! makes it a push-pull: after the exchange each side holds the newest of both for every
//! client (newest wins on arrival).
//!
//! The hash is the first 64 bits of SHA-256 (the `sha2` crate the handshake already uses): a
//! fixed function, so servers built by different compilers still agree.

use sha2::{Digest as _, Sha256};

use crate::state::{Hashed, Update};

/// Clients per bucket the sender aims for. Smaller buckets cost more summary bytes when the
/// tables agree; larger ones cost more entries sent for each client that differs.
pub const PER_BUCKET: usize = 32;

/// The most bucket bits a summary may use (65,536 buckets).
pub const MAX_BITS: u8 = 16;

/// The first 8 bytes of SHA-256, little-endian: a fixed function every build agrees on.
pub fn hash64(bytes: &[u8]) -> u64 {
    let d = Sha256::digest(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_le_bytes(first)
}

/// The bucket bits a table of `clients` entries summarises with.
pub fn bits_for(clients: usize) -> u8 {
    let buckets = clients.div_ceil(PER_BUCKET).max(1);
    let bits = usize::BITS - (buckets - 1).leading_zeros();
    (bits as u8).min(MAX_BITS)
}

/// The bucket of `client` among `2^bits`.
pub fn bucket_of(client: &[u8], bits: u8) -> usize {
    bucket_of_hash(hash64(client), bits)
}

/// The bucket among `2^bits` of a client whose [`hash64`] is `h`.
fn bucket_of_hash(h: u64, bits: u8) -> usize {
    if bits == 0 {
        return 0;
    }
    (h >> (64 - u32::from(bits.min(MAX_BITS)))) as usize
}

/// `update` with its hashes computed (a table keeps them instead: [`crate::state::LocationTable::hashed`]).
pub fn hashed(update: Update) -> Hashed {
    Hashed {
        client: hash64(&update.client),
        at: hash64(&update.at),
        update,
    }
}

/// One table's digest at one granularity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// `2^bits` buckets.
    pub bits: u8,
    /// XOR of the AT-line hashes of each bucket.
    pub buckets: Vec<u64>,
}

impl Digest {
    /// The digest of `updates` with `2^bits` buckets, hashing every one (the tests' reference;
    /// a server uses the hashes its table keeps: [`Digest::of_hashes`]).
    #[cfg(test)]
    pub fn of<'a>(updates: impl Iterator<Item = &'a Update>, bits: u8) -> Digest {
        Digest::of_hashes(updates.map(|u| (hash64(&u.client), hash64(&u.at))), bits)
    }

    /// The digest with `2^bits` buckets of entries given as (client hash, AT-line hash).
    pub fn of_hashes(hashes: impl Iterator<Item = (u64, u64)>, bits: u8) -> Digest {
        let bits = bits.min(MAX_BITS);
        let mut buckets = vec![0u64; 1 << bits];
        for (client, at) in hashes {
            buckets[bucket_of_hash(client, bits)] ^= at;
        }
        Digest { bits, buckets }
    }

    /// The summary split into runs of at most `per_line` buckets: `(first bucket, hashes)`.
    pub fn runs(&self, per_line: usize) -> impl Iterator<Item = (u32, &[u64])> {
        self.buckets
            .chunks(per_line.max(1))
            .enumerate()
            .map(move |(i, c)| ((i * per_line.max(1)) as u32, c))
    }
}

/// A table regrouped at a neighbour's granularity, so the buckets its summary says differ can
/// be sent. Built when the neighbour's first summary line arrives; dropped once every bucket has
/// been compared.
#[derive(Debug)]
pub struct Reconcile {
    /// The neighbour's granularity.
    pub bits: u8,
    /// Our entries per bucket.
    groups: Vec<Vec<Update>>,
    /// Our digest per bucket.
    hashes: Vec<u64>,
    /// Buckets not compared yet.
    left: usize,
}

impl Reconcile {
    /// Groups `updates` into `2^bits` buckets, hashing every one (the tests' reference; a
    /// server uses the hashes its table keeps: [`Reconcile::of_hashed`]).
    #[cfg(test)]
    pub fn new(updates: impl Iterator<Item = Update>, bits: u8) -> Reconcile {
        Reconcile::of_hashed(updates.map(hashed), bits)
    }

    /// Groups `entries`, whose hashes are known, into `2^bits` buckets.
    pub fn of_hashed(entries: impl Iterator<Item = Hashed>, bits: u8) -> Reconcile {
        let bits = bits.min(MAX_BITS);
        let n = 1usize << bits;
        let mut groups: Vec<Vec<Update>> = vec![Vec::new(); n];
        let mut hashes = vec![0u64; n];
        for e in entries {
            let b = bucket_of_hash(e.client, bits);
            hashes[b] ^= e.at;
            groups[b].push(e.update);
        }
        Reconcile {
            bits,
            groups,
            hashes,
            left: n,
        }
    }

    /// Compares the neighbour's hashes for buckets `first..` with ours and hands every entry
    /// of every differing bucket to `send`. Buckets out of range are ignored.
    pub fn compare(&mut self, first: u32, theirs: &[u64], mut send: impl FnMut(Update)) {
        for (i, h) in theirs.iter().enumerate() {
            let b = first as usize + i;
            let Some(group) = self.groups.get_mut(b) else {
                return;
            };
            self.left = self.left.saturating_sub(1);
            if self.hashes[b] != *h {
                for u in std::mem::take(group) {
                    send(u);
                }
            } else {
                group.clear();
            }
        }
    }

    /// True once every bucket has been compared.
    pub fn done(&self) -> bool {
        self.left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::LocationTable;

    fn u(client: &str, t: u32, origin: &str) -> Update {
        let line = format!("AT {origin} +0.000000000 {client} +1+1 {t}");
        Update::from_at_line(line.as_bytes()).unwrap()
    }

    fn table(entries: &[Update]) -> LocationTable {
        let mut t = LocationTable::new(1 << 20);
        for e in entries {
            t.apply(e);
        }
        t
    }

    /// Runs the exchange between two tables and returns the entries each side sends.
    fn exchange(a: &LocationTable, b: &LocationTable) -> (Vec<Update>, Vec<Update>) {
        let da = Digest::of(a.updates(), bits_for(a.len()));
        let db = Digest::of(b.updates(), bits_for(b.len()));
        let send = |mine: &LocationTable, theirs: &Digest| {
            let mut r = Reconcile::new(mine.updates().cloned(), theirs.bits);
            let mut out = Vec::new();
            for (first, run) in theirs.runs(7) {
                r.compare(first, run, |u| out.push(u));
            }
            assert!(r.done());
            out
        };
        (send(a, &db), send(b, &da))
    }

    #[test]
    fn bucket_counts_follow_the_table_size() {
        assert_eq!(bits_for(0), 0);
        assert_eq!(bits_for(32), 0);
        assert_eq!(bits_for(33), 1);
        assert_eq!(bits_for(100_000), 12);
        assert_eq!(bits_for(usize::MAX / 2), MAX_BITS);
        for bits in 0..=MAX_BITS {
            assert!(bucket_of(b"kiwi", bits) < 1 << bits);
        }
    }

    #[test]
    fn identical_tables_send_nothing() {
        let entries: Vec<Update> = (0..1000).map(|i| u(&format!("c{i}"), i, "A")).collect();
        let (a, b) = (table(&entries), table(&entries));
        let (x, y) = exchange(&a, &b);
        assert!(x.is_empty() && y.is_empty());
    }

    #[test]
    fn an_empty_side_gets_everything_and_sends_nothing() {
        let entries: Vec<Update> = (0..1000).map(|i| u(&format!("c{i}"), i, "A")).collect();
        let (a, b) = (table(&entries), table(&[]));
        let (x, y) = exchange(&a, &b);
        assert_eq!(x.len(), 1000);
        assert!(y.is_empty());
    }

    #[test]
    fn after_the_exchange_both_sides_hold_the_newest_of_both() {
        let mut ea: Vec<Update> = (0..500).map(|i| u(&format!("c{i}"), 10, "A")).collect();
        let mut eb = ea.clone();
        ea.push(u("only-a", 1, "A"));
        eb.push(u("only-b", 1, "B"));
        ea[7] = u("c7", 11, "A"); // A is newer for c7
        eb[9] = u("c9", 12, "B"); // B is newer for c9
        eb[11] = u("c11", 10, "B"); // a tie on time: the greater line ("AT B") wins
        let (mut a, mut b) = (table(&ea), table(&eb));
        let (to_b, to_a) = exchange(&a, &b);
        // Only the differing buckets travel: a small share of the table.
        assert!(
            to_b.len() < 250 && to_a.len() < 250,
            "{} {}",
            to_b.len(),
            to_a.len()
        );
        for x in &to_a {
            a.apply(x);
        }
        for x in &to_b {
            b.apply(x);
        }
        let sorted = |t: &LocationTable| {
            let mut v: Vec<Vec<u8>> = t.updates().map(|u| u.at.to_vec()).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&a), sorted(&b));
        assert_eq!(a.len(), 502);
        assert_eq!(&*a.get(b"c7").unwrap().at, b"AT A +0.000000000 c7 +1+1 11");
        assert_eq!(&*a.get(b"c9").unwrap().at, b"AT B +0.000000000 c9 +1+1 12");
        assert_eq!(
            &*a.get(b"c11").unwrap().at,
            b"AT B +0.000000000 c11 +1+1 10"
        );
    }

    #[test]
    fn a_tables_kept_hashes_follow_its_entries() {
        let old: Vec<Update> = (0..300).map(|i| u(&format!("c{i}"), 10, "A")).collect();
        let mut t = table(&old);
        let bits = bits_for(t.len());
        let plain = |t: &LocationTable| Digest::of(t.updates(), bits);
        // The first summary computes and keeps every entry's hashes.
        assert_eq!(Digest::of_hashes(t.hashes(hash64), bits), plain(&t));
        let before = plain(&t);
        // Newer reports for a third of the clients replace entries that kept theirs; a report
        // for a new client adds one that has none yet.
        for i in 0..100 {
            assert!(t.apply(&u(&format!("c{i}"), 11, "B")).changed());
        }
        assert!(t.apply(&u("late", 1, "B")).changed());
        let after = Digest::of_hashes(t.hashes(hash64), bits);
        assert_eq!(after, plain(&t));
        assert_ne!(after, before);
        // The copy with hashes regroups to the same digest: nothing differs, nothing is sent.
        let mut r = Reconcile::of_hashed(t.hashed(hash64).into_iter(), bits);
        let mut sent = 0;
        r.compare(0, &after.buckets, |_| sent += 1);
        assert_eq!(sent, 0);
        assert!(r.done());
        // Against the old digest, the changed buckets differ and send their entries.
        let mut r = Reconcile::of_hashed(t.hashed(hash64).into_iter(), bits);
        r.compare(0, &before.buckets, |_| sent += 1);
        assert!(sent >= 100, "{sent}");
    }

    #[test]
    fn out_of_range_buckets_are_ignored() {
        let entries: Vec<Update> = (0..10).map(|i| u(&format!("c{i}"), i, "A")).collect();
        let mut r = Reconcile::new(entries.into_iter(), 1);
        let mut sent = 0;
        r.compare(5, &[1, 2], |_| sent += 1);
        assert_eq!(sent, 0);
        assert!(!r.done());
    }
}
