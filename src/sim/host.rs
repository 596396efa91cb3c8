//! The link session's [`Host`] for a simulated server: what `net::drive::LinkHost` and
//! `net::Server::receive_update` do, with the owner rule from [`crate::owner`], and the
//! per-step invariants checked where the table changes.

use std::sync::Arc;
use std::time::Duration;

use super::check::Violation;
use super::server::Server;
use super::track::Ctx;
use crate::digest::Digest;
use crate::link::{End, Host};
use crate::node::{FromNeighbour, Node};
use crate::outbox::Outgoing;
use crate::state::{Hashed, Update};

/// What the simulator remembers of one end of a connection, besides its session.
#[derive(Debug, Default)]
pub struct EndMeta {
    /// The neighbour (index among the server's peers), once known.
    pub peer: Option<usize>,
    /// Its generation while attached as the live link.
    pub generation: Option<u64>,
    /// When it became the live link.
    pub up_at: Option<Duration>,
    /// The catch-up window its link-up catch-up counts in.
    pub window: Option<usize>,
    /// Its link-up summary went out (every later one is a resync).
    pub summary_sent: bool,
    /// The neighbour's first summary has been compared in full (later ones are resyncs).
    pub compared_once: bool,
    /// Catch-up entries queued by the first comparison and not sent yet (sent before any
    /// queued by a resync: the queue is in order).
    pub first_entries: usize,
    /// The time of the timer event scheduled for it, if any.
    pub armed: Option<Duration>,
}

/// A session's view of its simulated server, for one call.
pub struct SimHost<'a> {
    /// The server.
    pub server: &'a mut Server,
    /// This end's state.
    pub meta: &'a mut EndMeta,
    /// Server names by index.
    pub names: &'a [Arc<str>],
    /// Counters, the spread tracker and the work this call leaves for the step.
    pub ctx: &'a mut Ctx,
    /// The connection.
    pub conn: u32,
    /// This end (0: dialed).
    pub side: u8,
    /// The server at the other end.
    pub other: u32,
    /// The time of the call.
    pub now: Duration,
    /// Catch-up entries still to be counted among the next updates sent.
    pub catch_up_left: usize,
    /// The session is filling its output (the catch-up bytes it reports now are entries,
    /// counted in `sent`; outside a fill they are a summary).
    pub filling: bool,
}

impl SimHost<'_> {
    fn violation(&mut self, what: String) {
        let at = self.now;
        self.ctx.violation.get_or_insert(Violation { at, what });
    }

    /// The neighbour this end talks to, checked against the connection's other end: nothing
    /// is ever sent to, or taken from, a server that is not a neighbour.
    fn check_neighbour(&mut self, name: &str) -> Option<usize> {
        let me = self.server.index as usize;
        match self.server.peer_named(name, self.names) {
            Some(p) if self.server.peers[p].server == self.other => Some(p),
            _ => {
                let other = self.names[self.other as usize].clone();
                self.violation(format!(
                    "{} took {name:?} as its neighbour on a connection from {other}",
                    self.names[me]
                ));
                None
            }
        }
    }
}

impl Host for SimHost<'_> {
    fn admit(&mut self, from: &str, _incarnation: u64) -> Result<(), String> {
        let Some(p) = self.server.peer_named(from, self.names) else {
            return Err(format!("{from:?} is not a neighbour"));
        };
        self.check_neighbour(from);
        self.meta.peer = Some(p);
        Ok(())
    }

    fn up(&mut self, neighbour: &str, incarnation: u64) -> Result<Digest, End> {
        let p = self.check_neighbour(neighbour).ok_or(End::Superseded)?;
        let attached = self
            .server
            .attach(p, self.conn, self.side, incarnation)
            .ok_or(End::Superseded)?;
        match attached.replaced {
            Some(old) if attached.close_replaced => self.ctx.kills.push((old.conn, old.side)),
            // Left for the neighbour to close; it closes itself after a while if not.
            Some(old) => self.ctx.lingers.push((old.conn, old.side)),
            None => self.ctx.stats.link_ups += 1,
        }
        self.meta.peer = Some(p);
        self.meta.generation = Some(attached.generation);
        self.meta.up_at = Some(self.now);
        self.meta.window = self.ctx.window_for(self.server.index, self.other);
        Ok(self.server.node.summary().1)
    }

    fn update(&mut self, at: &[u8], seen: &[u8]) -> Result<(), String> {
        let Some(p) = self.meta.peer else {
            return Err("an update before the handshake".into());
        };
        let client = at.split(|&b| b == b' ').nth(3).unwrap_or_default();
        let before = self.server.node.lookup(client);
        let outcome = self.server.node.neighbour_update(p, at, seen);
        self.ctx.stats.received += 1;
        match outcome {
            FromNeighbour::Applied(effects) => {
                self.ctx.stats.applied += 1;
                self.ctx
                    .track
                    .applied(&effects.update.at, self.server.index, self.now);
                self.server.perform(&effects, self.now, &mut self.ctx.dirty);
            }
            FromNeighbour::Held(held) => {
                self.ctx.stats.ignored += 1;
                self.server.peers[p].outbox.cancel(&held);
            }
            FromNeighbour::Relay(effects) => {
                self.ctx.stats.ignored += 1;
                self.server.peers[p].outbox.cancel(&effects.update);
                self.server.queue(&effects, &mut self.ctx.dirty);
            }
            FromNeighbour::NotNewer(u) => {
                self.ctx.stats.ignored += 1;
                if self.ctx.planted == Some(self.server.index) {
                    plant_stale_apply(&mut self.server.node, u);
                }
            }
            FromNeighbour::Full(_) => self.ctx.stats.ignored += 1,
            FromNeighbour::Malformed => return Err("not an AT line".into()),
        }
        let after = self.server.node.lookup(client);
        if let Some(before) = before {
            // Unchanged (the same allocation) is the common case: no need to compare bytes.
            let older = after
                .as_ref()
                .is_none_or(|a| !Arc::ptr_eq(&a.at, &before.at) && before.is_newer_than(a));
            if older {
                let after = after.map_or("nothing".into(), |a| escaped(&a.at));
                let me = self.names[self.server.index as usize].clone();
                self.violation(format!(
                    "{me}'s record for {} went from {} to an older one, {after}",
                    escaped(&before.client),
                    escaped(&before.at)
                ));
            }
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Vec<Hashed> {
        // The table's order is its hash map's; the trace must not depend on it.
        let mut table = self.server.node.snapshot_hashed();
        table.sort_unstable_by(|a, b| a.update.client.cmp(&b.update.client));
        table
    }

    fn summary(&mut self) -> Digest {
        self.server.node.summary().1
    }

    fn take_updates(&mut self, max: usize) -> Vec<Outgoing> {
        // Only the live connection takes floods (`PeerLink::take`): a replaced one that lingers
        // sends nothing more.
        match self.meta.peer.map(|p| &mut self.server.peers[p]) {
            Some(peer) if peer.live.map(|l| l.generation) == self.meta.generation => {
                peer.outbox.take(max)
            }
            _ => Vec::new(),
        }
    }

    fn sent(&mut self, batch: &[Outgoing]) {
        // Catch-up entries come first in a batch (and carry no seen list); of those, the ones
        // the first comparison queued are link-up catch-up, the rest answer a resync.
        let catch_up = batch.len().min(self.catch_up_left);
        self.catch_up_left -= catch_up;
        let first = catch_up.min(self.meta.first_entries);
        self.meta.first_entries -= first;
        let bytes = |os: &[Outgoing]| os.iter().map(|o| o.update.at.len() as u64 + 8).sum();
        self.ctx
            .catch_up_sent(self.meta.window, first as u64, bytes(&batch[..first]));
        let resync = &batch[first..catch_up];
        self.ctx.stats.resync_entries += resync.len() as u64;
        self.ctx.stats.resync_entry_bytes += bytes(resync);
        let floods = &batch[catch_up..];
        self.ctx.stats.flood_msgs += floods.len() as u64;
        // `UPDATE `, the via and its space when there is one, the AT line, a newline.
        let bytes = |o: &Outgoing| {
            let seen = if o.seen.is_empty() {
                0
            } else {
                o.seen.len() + 1
            };
            (7 + seen + o.update.at.len() + 1) as u64
        };
        self.ctx.stats.flood_bytes += floods.iter().map(bytes).sum::<u64>();
    }

    fn compared(&mut self, queued: usize, done: bool) {
        if !self.meta.compared_once {
            self.meta.first_entries += queued;
            self.meta.compared_once = done;
        }
    }

    fn catch_up_bytes(&mut self, sent: bool, bytes: usize) {
        // Summaries only: the entries are counted as they are sent (`sent`). A summary goes out
        // at link-up, then at every resync.
        if !sent || self.filling {
            return;
        }
        if self.meta.summary_sent {
            self.ctx.stats.resyncs += 1;
            self.ctx.stats.resync_summary_bytes += bytes as u64;
        } else {
            self.meta.summary_sent = true;
            self.ctx.catch_up_summary(self.meta.window, bytes as u64);
        }
    }

    fn rtt(&mut self, _rtt: Duration) {}

    fn skipped(&mut self, _bytes: usize) {
        self.ctx.stats.skipped += 1;
    }
}

/// The planted bug (for the checker's own test): apply `stale` although the node found it not
/// newer, as a server without the newest-wins comparison would.
fn plant_stale_apply(node: &mut Node, stale: Update) {
    let mut table = node.snapshot();
    table.retain(|u| u.client != stale.client);
    table.push(stale);
    let fresh = Node::new(node.name().clone(), node.neighbours().to_vec(), usize::MAX)
        .with_tree(node.tree().cloned());
    fresh.restore(&table);
    *node = fresh;
}

/// A line for a message: escaped, cut after a few dozen bytes.
pub fn escaped(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(100)];
    let mut s = shown.escape_ascii().to_string();
    if bytes.len() > shown.len() {
        s.push_str("...");
    }
    s
}
