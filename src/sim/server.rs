//! A simulated server: the real [`Node`] and link [`Settings`], plus what `net::Server` and
//! `net::PeerLink` keep for each neighbour (outbox, live connection under the owner rule,
//! counters) and what `net::dial::keep` decides (when to dial), without sockets or tasks.

use std::sync::Arc;
use std::time::Duration;

use super::disk::Disk;
use crate::backoff::backoff;
use crate::config::Timings;
use crate::link::Settings;
use crate::node::{Effects, Node};
use crate::outbox::Outbox;
use crate::owner::{self, Attach, Claim};

/// The live connection of a link, as `PeerLink` keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    /// The connection.
    pub conn: u32,
    /// Which end of it is this server's (0: it dialed).
    pub side: u8,
    /// Bumped at every attach, so a replaced connection cannot mark the link down.
    pub generation: u64,
    /// What the owner rule compares.
    pub claim: Claim,
}

/// What [`Server::attach`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The new connection's generation.
    pub generation: u64,
    /// The connection it replaced as the live link, if any.
    pub replaced: Option<Live>,
    /// This end closes the replaced one (otherwise the neighbour does, or it lingers until
    /// the silence timeout closes it).
    pub close_replaced: bool,
}

/// When to dial a neighbour: the policy of `net::dial::keep`, step by step.
#[derive(Debug)]
pub struct Dialer {
    /// The connection of the dial under way.
    pub dialing: Option<u32>,
    /// A dial is scheduled for this time (after a back-off, or at once).
    pub waiting: Option<Duration>,
    /// Failures in a row (drives the back-off).
    pub failures: u32,
    /// No dial has been made yet (both sides dial once at start; then only the owner).
    pub first: bool,
}

/// How a dial ended, as `net::dial` classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialed {
    /// Another connection became the link first.
    NotNeeded,
    /// It was the link for this long.
    Ended(Duration),
    /// It never became the link.
    Failed,
}

impl Dialer {
    /// A neighbour not dialed yet.
    pub fn new() -> Dialer {
        Dialer {
            dialing: None,
            waiting: None,
            failures: 0,
            first: true,
        }
    }

    /// Accounts for a dial that ended (`keep`'s match on `dial_once`).
    pub fn ended(&mut self, how: Dialed, t: &Timings) {
        self.dialing = None;
        let stable = Duration::from_millis(t.peer_timeout_ms.max(t.backoff_max_ms));
        self.failures = match how {
            Dialed::NotNeeded => self.failures,
            Dialed::Ended(up_for) if up_for >= stable => 0,
            Dialed::Ended(_) | Dialed::Failed => self.failures.saturating_add(1),
        };
    }

    /// What `keep`'s loop does next when nothing is under way: `Some(time)` to dial then,
    /// `None` to wait for the link to change.
    pub fn next(
        &mut self,
        link_up: bool,
        we_own: bool,
        now: Duration,
        t: &Timings,
        rng: &mut fastrand::Rng,
    ) -> Option<Duration> {
        if self.dialing.is_some() || self.waiting.is_some() {
            return None;
        }
        if link_up {
            self.first = false;
            self.failures = 0;
            return None;
        }
        if !self.first && !we_own {
            return None;
        }
        let at = if self.failures > 0 {
            now + backoff(
                self.failures,
                t.backoff_initial_ms,
                t.backoff_max_ms,
                rng.f64(),
            )
        } else {
            now
        };
        self.waiting = Some(at);
        Some(at)
    }
}

impl Default for Dialer {
    fn default() -> Self {
        Dialer::new()
    }
}

/// One neighbour of a simulated server.
#[derive(Debug)]
pub struct Peer {
    /// The neighbour's server index.
    pub server: u32,
    /// The link's index in the topology (its latency).
    pub link: u32,
    /// This side owns the link (and so redials it).
    pub we_own: bool,
    /// Floods waiting for the live connection (cleared when a connection comes or goes).
    pub outbox: Outbox,
    /// The live connection, if any.
    pub live: Option<Live>,
    /// The neighbour's incarnation last seen.
    pub incarnation: Option<u64>,
    /// When to dial it.
    pub dialer: Dialer,
    /// Queued for a pump of the live connection at the end of the current step.
    pub dirty: bool,
}

/// A running simulated server.
#[derive(Debug)]
pub struct Server {
    /// Its index in the topology.
    pub index: u32,
    /// The real node: table, rules.
    pub node: Node,
    /// The real link settings (name, incarnation, secret, timings).
    pub settings: Arc<Settings>,
    /// Its neighbours, in the node's order.
    pub peers: Vec<Peer>,
    /// Its data folder, when it keeps one.
    pub disk: Option<Disk>,
    /// Source of connection generations.
    pub generation: u64,
}

impl Server {
    /// The neighbour named `name`, by index.
    pub fn peer_named(&self, name: &str, names: &[Arc<str>]) -> Option<usize> {
        self.peers
            .iter()
            .position(|p| &*names[p.server as usize] == name)
    }

    /// What accepting an update calls for (`net::Server::perform`): append it to the data
    /// folder (compacting when due), then queue it for every named neighbour whose link is up,
    /// noting in `dirty` which links need a pump.
    pub fn perform(&mut self, effects: &Effects, now: Duration, dirty: &mut Vec<(u32, u32)>) {
        if let Some(disk) = &mut self.disk {
            disk.append(&effects.update, now);
            if disk.should_compact(self.node.len()) {
                disk.compact();
            }
        }
        self.queue(effects, dirty);
    }

    /// Queues an update for every neighbour the node names whose link is up, noting in
    /// `dirty` which links need a pump (a relayed detour: the update is held already).
    pub fn queue(&mut self, effects: &Effects, dirty: &mut Vec<(u32, u32)>) {
        let peers = &self.peers;
        let up = |i: usize| peers.get(i).is_some_and(|p| p.live.is_some());
        let (targets, seen) = self.node.forward(&effects.flood, up);
        for i in targets {
            let Some(p) = self.peers.get_mut(i) else {
                continue;
            };
            p.outbox.push(effects.update.clone(), seen.clone());
            if !p.dirty {
                p.dirty = true;
                dirty.push((self.index, i as u32));
            }
        }
    }

    /// `PeerLink::attach`: makes connection `conn` (this server's end `side`) the live link to
    /// neighbour `peer` if the owner rule lets it; `None` when the live one stays.
    pub fn attach(
        &mut self,
        peer: usize,
        conn: u32,
        side: u8,
        incarnation: u64,
    ) -> Option<Attached> {
        let by_owner = (side == 0) == self.peers[peer].we_own;
        let claim = Claim {
            by_owner,
            incarnation,
        };
        let live = self.peers[peer].live.map(|l| l.claim);
        let Attach::Replaces { close_old } = owner::attach(live, claim, side == 0) else {
            return None;
        };
        self.generation += 1;
        let generation = self.generation;
        let p = &mut self.peers[peer];
        let replaced = p.live.replace(Live {
            conn,
            side,
            generation,
            claim,
        });
        p.outbox.clear();
        p.incarnation = Some(incarnation);
        Some(Attached {
            generation,
            replaced,
            close_replaced: close_old,
        })
    }

    /// `PeerLink::detach`: connection `generation` ended; true if it was the live link (which
    /// is now down).
    pub fn detach(&mut self, peer: usize, generation: u64) -> bool {
        let p = &mut self.peers[peer];
        if p.live.map(|l| l.generation) != Some(generation) {
            return false;
        }
        p.live = None;
        p.outbox.clear();
        true
    }
}

/// `updates` in client order, so that nothing depends on the table's hash order.
pub fn sorted(mut updates: Vec<crate::state::Update>) -> Vec<crate::state::Update> {
    updates.sort_unstable_by(|a, b| a.client.cmp(&b.client));
    updates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_redials_and_failures_back_off() {
        let t = Timings::default();
        let mut rng = fastrand::Rng::with_seed(1);
        let now = Duration::from_secs(10);
        for we_own in [true, false] {
            let mut d = Dialer::new();
            assert_eq!(
                d.next(false, we_own, now, &t, &mut rng),
                Some(now),
                "both dial at start"
            );
            assert_eq!(
                d.next(false, we_own, now, &t, &mut rng),
                None,
                "one at a time"
            );
            d.waiting = None;
            d.first = false;
            d.dialing = Some(1);
            d.ended(Dialed::Failed, &t);
            let again = d.next(false, we_own, now, &t, &mut rng);
            if we_own {
                let wait = again.unwrap() - now;
                assert!(wait >= Duration::from_millis(25) && wait <= Duration::from_millis(50));
            } else {
                assert_eq!(again, None, "the other side never redials");
            }
        }
        let mut d = Dialer::new();
        d.first = false;
        d.ended(Dialed::Ended(Duration::from_secs(60)), &t);
        assert_eq!(d.failures, 0, "a link that lasted: redial at once");
        assert_eq!(d.next(false, true, now, &t, &mut rng), Some(now));
        d.waiting = None;
        d.ended(Dialed::Ended(Duration::from_millis(10)), &t);
        assert_eq!(
            d.failures, 1,
            "a link that dropped at once counts as a failure"
        );
        assert_eq!(
            d.next(true, true, now, &t, &mut rng),
            None,
            "up: nothing to do"
        );
        assert_eq!(d.failures, 0);
    }
}
