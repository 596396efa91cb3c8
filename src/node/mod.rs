//! The socket-free heart of one server: client commands and neighbour updates in, replies and
//! effects out. No socket, clock, task or log: the receive time comes in as an argument and
//! the caller performs the effects (append to the durable log, queue for neighbours, publish).
//!
//! Client commands are applied one function each, in the style of mini-redis's `cmd::*`:
//! [`iamat::apply`] and [`whatsat::apply`]. The table ([`LocationTable`]) is behind a lock held
//! for one merge or one copy, so many connections can share one node.

pub mod iamat;
pub mod whatsat;

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use crate::digest::{bits_for, hash64, Digest};
use crate::outbox::Seen;
use crate::protocol::{invalid_reply, parse_command, Command, Invalid, Timestamp};
use crate::state::{Applied, Hashed, LocationTable, Update};
use crate::sync::lock;
use crate::wire::{self, MAX_SEEN};

pub use whatsat::Lookup;

/// Where an accepted update came from, and who is known to have been sent it already; see
/// [`Node::forward`] for who gets a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flood {
    /// The neighbour it came from (`None`: a client of this server), which needs no copy.
    except: Option<usize>,
    /// The servers that were sent it already, as the UPDATE said (comma-separated names).
    seen: Seen,
}

/// The empty seen list, shared: every update from a client starts with it.
static NO_ONE: LazyLock<Seen> = LazyLock::new(|| Seen::from(&b""[..]));

impl Flood {
    /// An update from a client of this server: nobody has it yet.
    pub fn from_client() -> Flood {
        Flood {
            except: None,
            seen: NO_ONE.clone(),
        }
    }
}

/// Seen lists kept for reuse (see [`SeenLists`]).
const SEEN_KEPT: usize = 16;

/// The seen lists this node received or made lately, so that one list is one allocation
/// however many updates carry it: the updates of a flood arriving on one link mostly carry the
/// same names, and go on with the same names. At most [`SEEN_KEPT`] are kept, the most recently
/// used first.
#[derive(Debug, Default)]
struct SeenLists {
    /// The lists, and the bytes of the one being made.
    inner: Mutex<(VecDeque<Seen>, Vec<u8>)>,
}

impl SeenLists {
    /// The kept list equal to the names `make` writes into its buffer, or a new one.
    fn get(&self, make: impl FnOnce(&mut Vec<u8>)) -> Seen {
        let mut guard = lock(&self.inner);
        let (kept, scratch) = &mut *guard;
        scratch.clear();
        make(scratch);
        if let Some(i) = kept.iter().position(|s| **s == **scratch) {
            if let Some(s) = kept.remove(i) {
                kept.push_front(s.clone());
                return s;
            }
        }
        let s = Seen::from(&scratch[..]);
        kept.truncate(SEEN_KEPT - 1);
        kept.push_front(s.clone());
        s
    }
}

/// What accepting an update calls for, in this order: append it to the durable log (before
/// the IAMAT reply is written), then queue it for the neighbours [`Node::forward`] names.
#[derive(Clone, Debug, PartialEq)]
pub struct Effects {
    /// The update, as stored.
    pub update: Update,
    /// Who gets a copy.
    pub flood: Flood,
}

/// What one client line did. The reply (or its first part, for a lookup) is already in the
/// output buffer unless the variant says otherwise.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// An IAMAT newer than what was held: AT reply written; perform the effects.
    Accepted(Effects),
    /// An IAMAT not newer than what is held: AT reply written, nothing changed.
    NotNewer,
    /// An IAMAT for a new client while the table is full: `? line` written.
    Full,
    /// A WHATSAT for a known client: nothing written yet; look the places up, then
    /// [`Lookup::reply`].
    Lookup(Lookup),
    /// A WHATSAT for a client never heard of: `? line` written.
    UnknownClient,
    /// Not a valid command: `? line` written. `server_message` when the line is a neighbour's
    /// message (worth a warning: a client speaking the link protocol changes nothing).
    Invalid {
        /// Why.
        reason: Invalid,
        /// The line decodes as a server-to-server message.
        server_message: bool,
    },
}

/// What an update from a neighbour did.
#[derive(Debug, PartialEq)]
pub enum FromNeighbour {
    /// Newer than what was held: perform the effects.
    Applied(Effects),
    /// Byte for byte what we hold (the other path of a cycle): nothing changed, and the sender
    /// needs no copy of it from us.
    Held(Update),
    /// Older than what we hold: nothing changed.
    NotNewer(Update),
    /// A new client while the table is full: refused.
    Full(Update),
    /// Not a valid AT line.
    Malformed,
}

/// One server's state and rules.
#[derive(Debug)]
pub struct Node {
    /// The server's name, as in AT replies.
    name: Arc<str>,
    /// Its neighbours, in config order (flood targets are indices into this).
    neighbours: Vec<Arc<str>>,
    /// The newest update per client; locked for one merge or one copy, never across an await.
    table: Mutex<LocationTable>,
    /// Seen lists lately received or sent.
    seen_lists: SeenLists,
    /// What [`Node::forward`] lately decided, newest first (at most [`ROUTES_KEPT`]).
    routes: Mutex<VecDeque<Route>>,
}

/// Decisions of [`Node::forward`] kept (see [`Route`]).
const ROUTES_KEPT: usize = 16;

/// One decision of [`Node::forward`]: an update that came with the seen list `given` (the same
/// allocation, which the entry keeps alive) from `except`, while the links in `up` were up,
/// goes to `targets` with `seen`. The updates of a flood arriving on one link mostly share
/// their seen list, so working it out once spares each of them the list's parsing and making.
#[derive(Debug)]
struct Route {
    given: Seen,
    except: Option<usize>,
    up: u64,
    targets: Vec<usize>,
    seen: Seen,
}

impl Node {
    /// A node with an empty table of at most `max_clients` clients.
    pub fn new(name: Arc<str>, neighbours: Vec<Arc<str>>, max_clients: usize) -> Node {
        Node {
            name,
            neighbours,
            table: Mutex::new(LocationTable::new(max_clients)),
            seen_lists: SeenLists::default(),
            routes: Mutex::default(),
        }
    }

    /// The server's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The neighbours, in config order.
    pub fn neighbours(&self) -> &[Arc<str>] {
        &self.neighbours
    }

    /// Loads updates read back from the durable log (newest wins, no effects).
    pub fn restore<'a>(&self, updates: impl IntoIterator<Item = &'a Update>) {
        let mut t = lock(&self.table);
        for u in updates {
            t.apply(u);
        }
    }

    /// Answers one client line (terminator removed) received at `now`, appending the reply
    /// to `out`.
    pub fn client_line(&self, line: &[u8], now: Timestamp, out: &mut Vec<u8>) -> Outcome {
        match parse_command(line) {
            Ok(Command::IAmAt(cmd)) => iamat::apply(self, line, &cmd, now, out),
            Ok(Command::WhatsAt(cmd)) => whatsat::apply(self, line, &cmd, out),
            Err(reason) => {
                invalid_reply(line, out);
                Outcome::Invalid {
                    reason,
                    server_message: wire::is_hello(line) || wire::decode(line).is_some(),
                }
            }
        }
    }

    /// Merges an AT line from neighbour number `from`, which says the servers in `seen`
    /// (comma-separated names) have been sent it already.
    pub fn neighbour_update(&self, from: usize, at: &[u8], seen: &[u8]) -> FromNeighbour {
        // The other path of a cycle brings back what we hold, byte for byte: no parse needed.
        let known = at
            .split(|&b| b == b' ')
            .nth(3)
            .and_then(|client| self.lookup(client));
        if let Some(held) = known.as_ref().filter(|held| *held.at == *at) {
            return FromNeighbour::Held(held.clone());
        }
        let Some(update) = Update::from_at_line_sharing(at, known.map(|held| held.client)) else {
            return FromNeighbour::Malformed;
        };
        match self.merge(&update) {
            Applied::Inserted | Applied::Replaced => FromNeighbour::Applied(Effects {
                update,
                flood: Flood {
                    except: Some(from),
                    seen: self.seen_lists.get(|out| out.extend_from_slice(seen)),
                },
            }),
            Applied::Stale => FromNeighbour::NotNewer(update),
            Applied::Full => FromNeighbour::Full(update),
        }
    }

    /// Newest wins: the one place that decides whether an update is news.
    fn merge(&self, update: &Update) -> Applied {
        lock(&self.table).apply(update)
    }

    /// Who gets a copy of an accepted update, and the seen list to send with it.
    ///
    /// The copies go to every neighbour that is not the update's source, is not named in the
    /// seen list it came with, and is up now (`up`: nothing queues for a link that is down; it
    /// catches up when it comes back). The seen list sent on is this server and every neighbour
    /// it goes to, then the one it came with, at most [`MAX_SEEN`] names (the oldest are
    /// dropped): a receiver forwards to none of them. A shorter list only costs copies, never a miss. Should a copy be lost
    /// with its connection, the periodic resync of every link (and the one a server asks of
    /// its other links when it loses one) brings the update back.
    pub fn forward(&self, flood: &Flood, up: impl Fn(usize) -> bool) -> (Vec<usize>, Seen) {
        let n = self.neighbours.len();
        if n > 64 {
            return self.route(flood, up);
        }
        let up_now = (0..n).filter(|&i| up(i)).fold(0u64, |m, i| m | 1 << i);
        let same = |r: &Route| {
            Arc::ptr_eq(&r.given, &flood.seen) && r.except == flood.except && r.up == up_now
        };
        if let Some(r) = lock(&self.routes).iter().find(|r| same(r)) {
            return (r.targets.clone(), r.seen.clone());
        }
        let (targets, seen) = self.route(flood, |i| up_now & (1 << i) != 0);
        let mut routes = lock(&self.routes);
        routes.truncate(ROUTES_KEPT - 1);
        routes.push_front(Route {
            given: flood.seen.clone(),
            except: flood.except,
            up: up_now,
            targets: targets.clone(),
            seen: seen.clone(),
        });
        (targets, seen)
    }

    /// [`Node::forward`] worked out.
    fn route(&self, flood: &Flood, up: impl Fn(usize) -> bool) -> (Vec<usize>, Seen) {
        let named = |name: &str| {
            flood
                .seen
                .split(|&b| b == b',')
                .any(|n| n == name.as_bytes())
        };
        let targets: Vec<usize> = (0..self.neighbours.len())
            .filter(|&i| Some(i) != flood.except && !named(&self.neighbours[i]) && up(i))
            .collect();
        if targets.is_empty() {
            return (targets, flood.seen.clone());
        }
        let seen = self.seen_lists.get(|out| {
            let mut count = 0;
            let mut add = |name: &[u8], out: &mut Vec<u8>| {
                if count < MAX_SEEN && !name.is_empty() {
                    if count > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(name);
                    count += 1;
                }
            };
            // Newest first: this server and its targets are the names most likely to be the
            // receiver's neighbours; when the list is full, the names dropped are the oldest.
            if !named(&self.name) {
                add(self.name.as_bytes(), out);
            }
            for &i in &targets {
                add(self.neighbours[i].as_bytes(), out);
            }
            for n in flood.seen.split(|&b| b == b',') {
                add(n, out);
            }
        });
        (targets, seen)
    }

    /// The newest update for `client`.
    pub fn lookup(&self, client: &[u8]) -> Option<Update> {
        lock(&self.table).get(client).cloned()
    }

    /// Clients known.
    pub fn len(&self) -> usize {
        lock(&self.table).len()
    }

    /// True when no client is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of every update held.
    pub fn snapshot(&self) -> Vec<Update> {
        lock(&self.table).updates().cloned().collect()
    }

    /// The table's digest at the granularity its size calls for (catch-up), and its size.
    pub fn summary(&self) -> (usize, Digest) {
        let mut t = lock(&self.table);
        let bits = bits_for(t.len());
        (t.len(), Digest::of_hashes(t.hashes(hash64), bits))
    }

    /// A copy of the table with each entry's digest hashes (catch-up regroups it).
    pub fn snapshot_hashed(&self) -> Vec<Hashed> {
        lock(&self.table).hashed(hash64)
    }
}

#[cfg(test)]
mod tests;
