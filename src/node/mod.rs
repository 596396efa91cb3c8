//! The socket-free heart of one server: client commands and neighbour updates in, replies and
//! effects out. No socket, clock, task or log: the receive time comes in as an argument and
//! the caller performs the effects (append to the durable log, queue for neighbours, publish).
//!
//! Client commands are applied one function each, in the style of mini-redis's `cmd::*`:
//! [`iamat::apply`] and [`whatsat::apply`]. The table ([`LocationTable`]) is behind a lock held
//! for one merge or one copy, so many connections can share one node.

pub mod iamat;
pub mod whatsat;

use std::sync::{Arc, Mutex};

use crate::digest::{bits_for, Digest};
use crate::protocol::{invalid_reply, parse_command, Command, Invalid, Timestamp};
use crate::state::{Applied, LocationTable, Update};
use crate::sync::lock;
use crate::wire;

pub use whatsat::Lookup;

/// The neighbours an accepted update goes to: all of them but the one it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flood {
    /// How many neighbours the server has.
    neighbours: usize,
    /// The neighbour it came from, which needs no copy.
    except: Option<usize>,
}

impl Flood {
    /// The neighbour indices (in config order) to queue the update for.
    pub fn targets(self) -> impl Iterator<Item = usize> {
        (0..self.neighbours).filter(move |i| Some(*i) != self.except)
    }
}

/// What accepting an update calls for, in this order: append it to the durable log (before
/// the IAMAT reply is written), then queue it for every neighbour of `flood`.
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
}

impl Node {
    /// A node with an empty table of at most `max_clients` clients.
    pub fn new(name: Arc<str>, neighbours: Vec<Arc<str>>, max_clients: usize) -> Node {
        Node {
            name,
            neighbours,
            table: Mutex::new(LocationTable::new(max_clients)),
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

    /// Merges an AT line from neighbour number `from`.
    pub fn neighbour_update(&self, from: usize, at: &[u8]) -> FromNeighbour {
        // The other path of a cycle brings back what we hold, byte for byte: no parse needed.
        let held = at
            .split(|&b| b == b' ')
            .nth(3)
            .and_then(|client| self.lookup(client))
            .filter(|held| *held.at == *at);
        if let Some(held) = held {
            return FromNeighbour::Held(held);
        }
        let Some(update) = Update::from_at_line(at) else {
            return FromNeighbour::Malformed;
        };
        match self.merge(&update) {
            Applied::Inserted | Applied::Replaced => FromNeighbour::Applied(Effects {
                update,
                flood: self.flood(Some(from)),
            }),
            Applied::Stale => FromNeighbour::NotNewer(update),
            Applied::Full => FromNeighbour::Full(update),
        }
    }

    /// Newest wins: the one place that decides whether an update is news.
    fn merge(&self, update: &Update) -> Applied {
        lock(&self.table).apply(update)
    }

    fn flood(&self, except: Option<usize>) -> Flood {
        Flood {
            neighbours: self.neighbours.len(),
            except,
        }
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
        let t = lock(&self.table);
        (t.len(), Digest::of(t.updates(), bits_for(t.len())))
    }
}

#[cfg(test)]
mod tests;
