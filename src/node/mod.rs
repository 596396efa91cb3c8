//! The socket-free heart of one server: client commands and neighbour updates in, replies and
//! effects out. No socket, clock, task or log: the receive time comes in as an argument and
//! the caller performs the effects (append to the durable log, queue for neighbours, publish).
//!
//! Client commands are applied one function each, in the style of mini-redis's `cmd::*`:
//! [`iamat::apply`] and [`whatsat::apply`]. The table ([`LocationTable`]) is behind a lock held
//! for one merge or one copy, so many connections can share one node.

pub mod iamat;
mod tree;
pub mod whatsat;

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use crate::digest::{bits_for, hash64, Digest};
use crate::outbox::Seen;
use crate::protocol::{invalid_reply, parse_command, Command, Invalid, Timestamp};
use crate::state::{Applied, Hashed, LocationTable, Update};
use crate::sync::lock;
use crate::wire::{self, MAX_SEEN};

pub use tree::Tree;
pub use whatsat::Lookup;

/// Where an accepted update came from and how it travels; see [`Node::forward`] for who gets
/// a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flood {
    /// The neighbour it came from (`None`: a client of this server), which needs no copy.
    except: Option<usize>,
    /// A flood's or a detour's `via` as the UPDATE said (`~` or `!` and the names of servers
    /// that were sent it already; empty: a flood with no names). Empty on the tree.
    seen: Seen,
    /// On the tree: this server's children in the tree of the update's origin (bit `i`:
    /// neighbour `i`).
    tree: Option<u64>,
}

/// The empty seen list, shared: every update from a client starts with it.
static NO_ONE: LazyLock<Seen> = LazyLock::new(|| Seen::from(&b""[..]));

/// A detour that names no server yet, shared (so that [`Node::forward`] reuses its decisions).
static DETOUR: LazyLock<Seen> = LazyLock::new(|| Seen::from(&b"!"[..]));

/// How an UPDATE says its update travels (see [`crate::wire`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// A flood: forwarded by a server it is news to.
    Flood,
    /// On this herd's tree, and this server's children in its origin's tree.
    Tree(u64),
    /// A detour: forwarded also by a server that held it.
    Detour,
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
    /// Byte for byte what we hold, but on a detour: nothing changed, and the copies the effects
    /// name go on (without the durable log: it holds the update already).
    Relay(Effects),
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
    /// This server's share of the herd's spanning trees, where they apply.
    tree: Option<Tree>,
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
            tree: None,
        }
    }

    /// The node, sending updates on the herd's spanning trees (`None`: flooding only).
    pub fn with_tree(mut self, tree: Option<Tree>) -> Node {
        self.tree = tree;
        self
    }

    /// This server's share of the herd's spanning trees, where updates travel on them.
    pub fn tree(&self) -> Option<&Tree> {
        self.tree.as_ref()
    }

    /// How an update from a client of this server travels: on its tree where there is one
    /// (every neighbour is a child of the origin), else a flood.
    pub(crate) fn client_flood(&self) -> Flood {
        Flood {
            except: None,
            seen: NO_ONE.clone(),
            tree: self.tree.as_ref().map(|_| all_bits(self.neighbours.len())),
        }
    }

    /// How an update `at` that came with `via` travels on from here.
    fn via(&self, at: &[u8], via: &[u8]) -> Via {
        match via.first() {
            Some(b'!') => Via::Detour,
            Some(b'^') => {
                let origin = at.split(|&b| b == b' ').nth(1).unwrap_or_default();
                match &self.tree {
                    Some(t) if **t.token() == *via => {
                        t.children(origin).map_or(Via::Detour, Via::Tree)
                    }
                    // Another herd's shape (a config that differs): its tree is not ours, so
                    // this server cannot tell who else it must reach; a detour reaches all.
                    _ => Via::Detour,
                }
            }
            _ => Via::Flood,
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

    /// Merges an AT line from neighbour number `from`, which came with `via` (how it travels:
    /// see [`crate::wire`]).
    pub fn neighbour_update(&self, from: usize, at: &[u8], via: &[u8]) -> FromNeighbour {
        let how = self.via(at, via);
        let flood = || Flood {
            except: Some(from),
            seen: match (how, via) {
                (Via::Tree(_), _) => NO_ONE.clone(),
                (Via::Detour, [b'^', ..]) => DETOUR.clone(),
                _ => self.seen_lists.get(|out| out.extend_from_slice(via)),
            },
            tree: match how {
                Via::Tree(children) => Some(children),
                _ => None,
            },
        };
        // The other path of a cycle brings back what we hold, byte for byte: no parse needed.
        let known = at
            .split(|&b| b == b' ')
            .nth(3)
            .and_then(|client| self.lookup(client));
        if let Some(held) = known.as_ref().filter(|held| *held.at == *at) {
            // Passed on while its list has room: each server that passes it on adds a name, so
            // a detour ends even where a list could overflow (a herd of more than MAX_SEEN
            // servers never plans trees, but a server with another config may send a detour).
            if how == Via::Detour && via.split(|&b| b == b',').count() < MAX_SEEN {
                return FromNeighbour::Relay(Effects {
                    update: held.clone(),
                    flood: flood(),
                });
            }
            return FromNeighbour::Held(held.clone());
        }
        let Some(update) = Update::from_at_line_sharing(at, known.map(|held| held.client)) else {
            return FromNeighbour::Malformed;
        };
        match self.merge(&update) {
            Applied::Inserted | Applied::Replaced => FromNeighbour::Applied(Effects {
                update,
                flood: flood(),
            }),
            Applied::Stale => FromNeighbour::NotNewer(update),
            Applied::Full => FromNeighbour::Full(update),
        }
    }

    /// Newest wins: the one place that decides whether an update is news.
    fn merge(&self, update: &Update) -> Applied {
        lock(&self.table).apply(update)
    }

    /// Who gets a copy of an accepted (or relayed) update, and the `via` to send with it.
    ///
    /// On a tree (an update from a client of this server, or a tree copy): the copies go to
    /// this server's children in the tree of the update's origin, but its source, with this
    /// herd's [`Tree::token`]. When a child's link is down, the child's subtree may be
    /// reachable only some other way: the update takes a detour instead, as below.
    ///
    /// A flood or a detour: the copies go to every neighbour that is not the update's source,
    /// is not named in the `via` it came with, and is up now (`up`: nothing queues for a link
    /// that is down; it catches up when it comes back). The names sent on are this server and
    /// every neighbour it goes to, then the ones it came with, at most [`MAX_SEEN`] (the
    /// oldest are dropped): a receiver forwards to none of them. A shorter list only costs
    /// copies, never a miss. A server that holds an update already forwards a detour anyway
    /// (a tree copy may have brought it there, and went no further than the tree), so a
    /// detour reaches every server the links up can reach: every name on it was sent it, and
    /// forwards it in turn (a detour's names never overflow: trees are planned only for herds
    /// of at most [`MAX_SEEN`] servers). Should a copy be lost with its connection, the
    /// periodic resync of every link (and the one a server asks of its other links when it
    /// loses one) brings the update back.
    pub fn forward(&self, flood: &Flood, up: impl Fn(usize) -> bool) -> (Vec<usize>, Seen) {
        let n = self.neighbours.len();
        if n > 64 {
            return self.route(flood, up);
        }
        let up_now = (0..n).filter(|&i| up(i)).fold(0u64, |m, i| m | 1 << i);
        self.forward_up(flood, up_now)
    }

    /// [`Node::forward`] with the links up as a mask (at most 64 neighbours).
    fn forward_up(&self, flood: &Flood, up_now: u64) -> (Vec<usize>, Seen) {
        let n = self.neighbours.len();
        if let (Some(children), Some(tree)) = (flood.tree, &self.tree) {
            let except = flood.except.map_or(0, |i| 1u64 << i);
            let children = children & !except;
            if children & !up_now == 0 {
                let targets = (0..n).filter(|&i| children & 1 << i != 0).collect();
                return (targets, tree.token().clone());
            }
            let detour = Flood {
                except: flood.except,
                seen: DETOUR.clone(),
                tree: None,
            };
            return self.forward_up(&detour, up_now);
        }
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

    /// [`Node::forward`] worked out for a flood or a detour.
    fn route(&self, flood: &Flood, up: impl Fn(usize) -> bool) -> (Vec<usize>, Seen) {
        let (marker, given) = match flood.seen.split_first() {
            Some((&m @ (b'~' | b'!'), names)) => (m, names),
            _ => (b'~', &flood.seen[..]),
        };
        let named = |name: &str| given.split(|&b| b == b',').any(|n| n == name.as_bytes());
        let targets: Vec<usize> = (0..self.neighbours.len())
            .filter(|&i| Some(i) != flood.except && !named(&self.neighbours[i]) && up(i))
            .collect();
        if targets.is_empty() {
            return (targets, flood.seen.clone());
        }
        let seen = self.seen_lists.get(|out| {
            out.push(marker);
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
            for n in given.split(|&b| b == b',') {
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

/// The mask of `n` neighbours (at most 64).
fn all_bits(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}
