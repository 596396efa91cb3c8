//! The location table and the "newest wins" merge. Pure: no sockets, no clocks.
//!
//! An update is the AT line exactly as the origin server produced it, plus the fields needed to
//! order and search it. [`LocationTable::apply`] is the one place that decides whether an update
//! is news; the caller forwards an update to its neighbours only when `apply` says it changed
//! the table, which is what makes floods terminate on cyclic topologies.

use std::sync::Arc;

use crate::protocol::{at::at_key, Timestamp};

/// One client's location report, as flooded through the herd.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// The client ID (any non-white-space bytes).
    pub client: Arc<[u8]>,
    /// The client's own send time: the primary ordering key.
    pub time: Timestamp,
    /// The AT line without newline, byte for byte as the origin server produced it.
    pub at: Arc<[u8]>,
}

impl Update {
    /// Rebuilds an update from an AT line received from another server; `None` if it is not a
    /// well-formed AT line.
    pub fn from_at_line(line: &[u8]) -> Option<Update> {
        Self::from_at_line_sharing(line, None)
    }

    /// [`Update::from_at_line`], taking `known` as the client ID when it is the line's client
    /// (a client already in the table keeps its one copy of the ID).
    pub fn from_at_line_sharing(line: &[u8], known: Option<Arc<[u8]>>) -> Option<Update> {
        let (client, time) = at_key(line)?;
        Some(Update {
            client: match known {
                Some(known) if *known == *client => known,
                _ => client.into(),
            },
            time,
            at: line.into(),
        })
    }

    /// True when `self` should replace `other`: a later client time, or on equal times the
    /// lexically greater AT line. The tie-break is a total order on what every server holds, so
    /// all servers pick the same winner whatever the arrival order.
    pub fn is_newer_than(&self, other: &Update) -> bool {
        (self.time, &self.at[..]) > (other.time, &other.at[..])
    }
}

/// What [`LocationTable::apply`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A client we had never heard of.
    Inserted,
    /// Newer than what we held: replaced it.
    Replaced,
    /// Not newer than what we hold (a replay, a loop, or an older report): nothing changed.
    Stale,
    /// A new client, but the table is at its configured size: refused.
    Full,
}

impl Applied {
    /// Whether the table changed, which alone decides forwarding.
    pub fn changed(self) -> bool {
        matches!(self, Applied::Inserted | Applied::Replaced)
    }
}

/// The latest known update per client.
#[derive(Debug)]
pub struct LocationTable {
    /// Client ID -> newest update. foldhash, seeded at random per process: several times
    /// faster than SipHash on short keys, and its seed keeps clients from choosing collisions.
    map: foldhash::HashMap<Arc<[u8]>, Entry>,
    /// Most clients kept; bounds memory.
    max_clients: usize,
}

/// A table entry: the update and, once a catch-up digest needed them, the hashes of its client
/// ID and AT line (0: not computed yet; a true hash of 0 is merely computed again).
#[derive(Debug)]
struct Entry {
    update: Update,
    client_hash: u64,
    at_hash: u64,
}

/// An update with the hashes of its client ID and its AT line (see [`crate::digest`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Hashed {
    /// The update.
    pub update: Update,
    /// The hash of `update.client`.
    pub client: u64,
    /// The hash of `update.at`.
    pub at: u64,
}

impl LocationTable {
    /// An empty table holding at most `max_clients` clients.
    pub fn new(max_clients: usize) -> Self {
        LocationTable {
            map: foldhash::HashMap::default(),
            max_clients,
        }
    }

    /// Merges `update`: newest wins.
    pub fn apply(&mut self, update: &Update) -> Applied {
        let full = self.map.len() >= self.max_clients;
        match self.map.get_mut(&update.client) {
            Some(held) if update.is_newer_than(&held.update) => {
                held.update = update.clone();
                // Same client, same client hash; a new AT line.
                held.at_hash = 0;
                Applied::Replaced
            }
            Some(_) => Applied::Stale,
            None if full => Applied::Full,
            None => {
                let entry = Entry {
                    update: update.clone(),
                    client_hash: 0,
                    at_hash: 0,
                };
                self.map.insert(update.client.clone(), entry);
                Applied::Inserted
            }
        }
    }

    /// The newest update for `client`.
    pub fn get(&self, client: &[u8]) -> Option<&Update> {
        self.map.get(client).map(|e| &e.update)
    }

    /// Number of clients known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no client is known.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every update held, in no particular order.
    pub fn updates(&self) -> impl Iterator<Item = &Update> {
        self.map.values().map(|e| &e.update)
    }

    /// Every entry's client and AT-line hashes by `hash`, each computed once per entry and
    /// kept: a table summarised every resync hashes only what changed since the last one.
    /// `hash` must be the same function at every call.
    pub fn hashes(&mut self, hash: fn(&[u8]) -> u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.map.values_mut().map(move |e| remember(e, hash))
    }

    /// Every update with its hashes (as [`LocationTable::hashes`]), copied out.
    pub fn hashed(&mut self, hash: fn(&[u8]) -> u64) -> Vec<Hashed> {
        self.map
            .values_mut()
            .map(|e| {
                let (client, at) = remember(e, hash);
                Hashed {
                    update: e.update.clone(),
                    client,
                    at,
                }
            })
            .collect()
    }
}

/// An entry's hashes, computed the first time.
fn remember(e: &mut Entry, hash: fn(&[u8]) -> u64) -> (u64, u64) {
    if e.client_hash == 0 {
        e.client_hash = hash(&e.update.client);
    }
    if e.at_hash == 0 {
        e.at_hash = hash(&e.update.at);
    }
    (e.client_hash, e.at_hash)
}

/// The neighbours an update goes to: every neighbour but the one it came from.
pub fn flood_targets<'a>(neighbours: &'a [Arc<str>], from: Option<&str>) -> Vec<&'a Arc<str>> {
    neighbours.iter().filter(|n| Some(&***n) != from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(line: &str) -> Update {
        Update::from_at_line(line.as_bytes()).unwrap()
    }

    const OLD: &str = "AT Clark +0.500000000 kiwi +34.068930-118.445127 1621464827.959498503";
    const NEW: &str = "AT Bona +0.100000000 kiwi +10-20 1621464828.000000000";
    const TIE: &str = "AT Jaquez +0.100000000 kiwi +10-20 1621464828";

    /// Applies `lines` in order and checks each outcome and the final AT line.
    fn check(lines: &[&str], outcomes: &[Applied], held: &str) {
        let mut table = LocationTable::new(10);
        let got: Vec<Applied> = lines.iter().map(|l| table.apply(&update(l))).collect();
        assert_eq!(got, outcomes, "{lines:?}");
        assert_eq!(&*table.get(b"kiwi").unwrap().at, held.as_bytes());
    }

    #[test]
    fn newest_wins_whatever_the_order() {
        use Applied::*;
        check(&[OLD, NEW], &[Inserted, Replaced], NEW);
        check(&[NEW, OLD], &[Inserted, Stale], NEW);
        check(&[OLD, OLD], &[Inserted, Stale], OLD);
        // Equal client times (1621464828 and 1621464828.000000000): the greater AT line wins.
        check(&[NEW, TIE], &[Inserted, Replaced], TIE);
        check(&[TIE, NEW], &[Inserted, Stale], TIE);
        check(&[TIE, NEW, OLD, TIE], &[Inserted, Stale, Stale, Stale], TIE);
    }

    #[test]
    fn every_permutation_converges() {
        let lines = [OLD, NEW, TIE];
        let perms = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        for p in perms {
            let mut table = LocationTable::new(10);
            for i in p {
                table.apply(&update(lines[i]));
            }
            assert_eq!(&*table.get(b"kiwi").unwrap().at, TIE.as_bytes(), "{p:?}");
        }
    }

    #[test]
    fn the_table_is_bounded() {
        let mut table = LocationTable::new(1);
        assert_eq!(table.apply(&update(OLD)), Applied::Inserted);
        let other = update("AT Clark +0.500000000 other +1+2 5");
        assert_eq!(table.apply(&other), Applied::Full);
        assert!(!Applied::Full.changed());
        // An existing client still updates when the table is full.
        assert_eq!(table.apply(&update(NEW)), Applied::Replaced);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn floods_skip_the_source() {
        let n: Vec<Arc<str>> = vec!["Bona".into(), "Jaquez".into()];
        let names = |from| -> Vec<String> {
            flood_targets(&n, from)
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        assert_eq!(names(None), ["Bona", "Jaquez"]);
        assert_eq!(names(Some("Bona")), ["Jaquez"]);
        assert_eq!(names(Some("Clark")), ["Bona", "Jaquez"]);
    }
}
