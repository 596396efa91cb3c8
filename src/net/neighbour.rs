//! One neighbour, as long as the server runs: what outlives any one connection to it (the
//! outbox of floods, counters, the operator's cut, the state the console shows) and which
//! connection is the live one. Everything that belongs to one connection is in its
//! [`crate::link::Session`] and dies with it.
//!
//! The owner rule: each link has one owner, the lexically smaller name. Both sides dial when
//! they start (so a restarted server is linked as soon as both listen); only the owner redials
//! after that. When two connections for a link are up at once, both ends keep the same one:
//! a connection the owner dialed beats one the other side dialed, and otherwise the newer wins.
//! A connection from a new incarnation of the neighbour (a restart) always wins, since the old
//! one is dead even if this side has not noticed yet.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::registry::{ConnInfo, Kill};
use crate::addr::PeerAddr;
use crate::events::LinkState;
use crate::outbox::{Outbox, Outgoing, Seen};
use crate::state::Update;
use crate::sync::lock;

/// A link's state as the console shows it.
#[derive(Clone, Debug)]
pub struct PeerStatus {
    /// Up, connecting, down or cut.
    pub state: LinkState,
    /// When it entered that state.
    pub since: Instant,
    /// The last reason it went down or failed.
    pub last_error: Option<String>,
    /// The neighbour's incarnation, once seen.
    pub incarnation: Option<u64>,
    /// Round-trip time of the last PING.
    pub rtt: Option<Duration>,
    /// When anything was last heard on the link.
    pub last_heard: Option<Instant>,
}

/// The live connection of a link.
#[derive(Debug)]
struct Current {
    /// Bumped at every attach, so a replaced connection cannot mark the link down.
    generation: u64,
    /// Its registry entry (killing it ends the connection).
    conn: Arc<ConnInfo>,
    /// The owner dialed it.
    by_owner: bool,
    /// The neighbour's incarnation on it.
    incarnation: u64,
}

/// One neighbour.
#[derive(Debug)]
pub struct PeerLink {
    /// Its name.
    pub name: Arc<str>,
    /// Its place among the server's neighbours (the node's flood targets are these indices).
    pub index: usize,
    /// Its peer address, which this side dials (a host name is resolved at every dial).
    pub addr: PeerAddr,
    /// True when this side owns the link (and so redials it).
    pub we_own: bool,
    /// Floods waiting to be sent; cleared when a connection comes or goes (catch-up covers it).
    outbox: Mutex<Outbox>,
    /// Rung when the outbox has work for the live connection.
    bell: (async_channel::Sender<()>, async_channel::Receiver<()>),
    /// Rung at every state change, for the task that keeps the link.
    changed: (async_channel::Sender<()>, async_channel::Receiver<()>),
    /// State for the console.
    status: Mutex<PeerStatus>,
    /// The live connection, if any.
    current: Mutex<Option<Current>>,
    /// Source of generations.
    generation: AtomicU64,
    /// The live connection's generation (0: none), readable without the lock.
    live: AtomicU64,
    /// Cut by the operator.
    cut: AtomicBool,
    /// Another link of this server was lost: send our summary on this one soon.
    resync: AtomicBool,
    /// Updates sent.
    pub sent: AtomicU64,
    /// Updates received.
    pub received: AtomicU64,
    /// Updates received that changed nothing.
    pub ignored: AtomicU64,
    /// Times the link came up (a connection replacing a live one, as when both ends dialed
    /// at once, is not counted: the link never went down).
    pub reconnects: AtomicU64,
    /// Frames dropped for being over the link's limit.
    pub skipped: AtomicU64,
    /// Catch-up entries queued for this neighbour (their buckets differed).
    pub caught_up: AtomicU64,
    /// Bytes written on this link's connections (handshake included).
    pub bytes_sent: AtomicU64,
    /// Writes on this link's connections (each carries a batch of messages).
    pub writes: AtomicU64,
    /// Bytes read on this link's connections.
    pub bytes_received: AtomicU64,
}

impl PeerLink {
    /// A link to `name` (neighbour number `index`) at `addr`, down.
    pub fn new(name: Arc<str>, index: usize, addr: PeerAddr, we_own: bool) -> Self {
        PeerLink {
            name,
            index,
            addr,
            we_own,
            outbox: Mutex::new(Outbox::new()),
            bell: async_channel::bounded(1),
            changed: async_channel::bounded(1),
            status: Mutex::new(PeerStatus {
                state: LinkState::Down,
                since: Instant::now(),
                last_error: None,
                incarnation: None,
                rtt: None,
                last_heard: None,
            }),
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
            live: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            resync: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            caught_up: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        }
    }

    /// A copy of the state.
    pub fn status(&self) -> PeerStatus {
        lock(&self.status).clone()
    }

    /// True while a connection is the live link.
    pub fn is_up(&self) -> bool {
        lock(&self.status).state == LinkState::Up
    }

    /// Updates waiting.
    pub fn queue_depth(&self) -> usize {
        lock(&self.outbox).len()
    }

    /// Queues an update, with the servers already sent it, if the link is up (a link that is
    /// down catches up when it comes up).
    pub fn enqueue(&self, update: Update, seen: Seen) {
        if !self.is_up() {
            return;
        }
        lock(&self.outbox).push(update, seen);
        let _ = self.bell.0.try_send(());
    }

    /// Asks the live connection to send our summary soon (see [`crate::link::Session::request_resync`]).
    pub fn request_resync(&self) {
        if self.is_up() {
            self.resync.store(true, Relaxed);
            let _ = self.bell.0.try_send(());
        }
    }

    /// Whether a resync was asked for since the last call.
    pub(super) fn take_resync_request(&self) -> bool {
        self.resync.load(Relaxed) && self.resync.swap(false, Relaxed)
    }

    /// Forgets a queued copy of `update` (the neighbour just sent it to us: it has it).
    pub fn cancel(&self, update: &Update) {
        lock(&self.outbox).cancel(update);
    }

    /// Takes up to `max` queued updates for connection `generation`: nothing unless it is the
    /// live one (a replaced connection that lingers until the other end closes it sends none).
    pub(super) fn take(&self, generation: u64, max: usize) -> Vec<Outgoing> {
        if !self.is_live(generation) {
            return Vec::new();
        }
        lock(&self.outbox).take(max)
    }

    /// Rings when there are updates to send.
    pub fn bell(&self) -> async_channel::Receiver<()> {
        self.bell.1.clone()
    }

    /// Rings at every state change.
    pub(super) fn changed(&self) -> async_channel::Receiver<()> {
        self.changed.1.clone()
    }

    fn ring_changed(&self) {
        let _ = self.changed.0.try_send(());
    }

    /// True while the operator has the link cut.
    pub fn is_cut(&self) -> bool {
        self.cut.load(Relaxed)
    }

    /// Operator: cut the link (drop it, stop dialing and refuse the neighbour) until restored.
    pub fn cut(&self) {
        let mut cur = lock(&self.current);
        self.cut.store(true, Relaxed);
        if let Some(c) = cur.take() {
            c.conn.kill(Kill::Cut);
        }
        self.live.store(0, Relaxed);
        lock(&self.outbox).clear();
        self.set_state(LinkState::Cut, Some("cut by operator".into()));
    }

    /// Operator: restore a cut link.
    pub fn restore(&self) {
        if self.cut.swap(false, Relaxed) {
            self.set_state(LinkState::Down, Some("restored by operator".into()));
        }
    }

    /// Sets the state shown (and rings the keeper).
    pub(super) fn set_state(&self, state: LinkState, error: Option<String>) {
        {
            let mut s = lock(&self.status);
            if s.state != state {
                s.state = state;
                s.since = Instant::now();
            }
            if error.is_some() {
                s.last_error = error;
            }
        }
        self.ring_changed();
    }

    /// Records a heartbeat's round trip.
    pub(super) fn set_rtt(&self, rtt: Duration) {
        lock(&self.status).rtt = Some(rtt);
    }

    /// Notes that the neighbour was heard from.
    pub(super) fn heard(&self) {
        lock(&self.status).last_heard = Some(Instant::now());
    }

    /// True while connection `generation` is the live one.
    pub(super) fn is_live(&self, generation: u64) -> bool {
        self.live.load(Relaxed) == generation
    }

    /// Makes `conn` the live connection if the owner rule lets it (ending the one it
    /// replaces): its generation and the neighbour's incarnation seen before (a different one
    /// means it restarted). `None` when the live connection stays and `conn` must close.
    /// `dialed`: this side dialed `conn`.
    ///
    /// When both ends dialed at once, the end that *accepted* the winning connection closes
    /// the losing one; the end that dialed the winner only stops using it and lets it be
    /// closed from the other side. So neither end sees its link go down in between: the
    /// acceptor switches when the winner's PROOF arrives, after the dialer already has.
    pub(super) fn attach(
        &self,
        conn: Arc<ConnInfo>,
        by_owner: bool,
        dialed: bool,
        incarnation: u64,
    ) -> Option<(u64, Option<u64>)> {
        // Lock order: `current`, then `status` (as in `cut`), so a cut cannot interleave.
        let mut cur = lock(&self.current);
        if self.is_cut() {
            return None;
        }
        let claim = |by_owner, incarnation| crate::owner::Claim {
            by_owner,
            incarnation,
        };
        let live = cur.as_ref().map(|c| claim(c.by_owner, c.incarnation));
        match crate::owner::attach(live, claim(by_owner, incarnation), dialed) {
            crate::owner::Attach::Refused => return None,
            crate::owner::Attach::Replaces { close_old } => {
                if let Some(old) = cur.as_ref().filter(|_| close_old) {
                    old.conn.kill(Kill::Superseded);
                }
            }
        }
        let came_up = cur.is_none();
        let generation = self.generation.fetch_add(1, Relaxed) + 1;
        *cur = Some(Current {
            generation,
            conn,
            by_owner,
            incarnation,
        });
        self.live.store(generation, Relaxed);
        lock(&self.outbox).clear();
        let before = {
            let mut s = lock(&self.status);
            s.state = LinkState::Up;
            s.since = Instant::now();
            s.last_heard = Some(Instant::now());
            s.incarnation.replace(incarnation)
        };
        drop(cur);
        if came_up {
            self.reconnects.fetch_add(1, Relaxed);
        }
        self.ring_changed();
        Some((generation, before))
    }

    /// Ends connection `generation`; true if it was still the live one.
    pub(super) fn detach(&self, generation: u64, reason: &str) -> bool {
        {
            let mut cur = lock(&self.current);
            if cur.as_ref().map(|c| c.generation) != Some(generation) {
                return false;
            }
            *cur = None;
            self.live.store(0, Relaxed);
        }
        lock(&self.outbox).clear();
        if !self.is_cut() {
            self.set_state(LinkState::Down, Some(reason.to_string()));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ConnKind;
    use crate::net::registry::Registry;

    fn conn(r: &Registry) -> (Arc<ConnInfo>, async_channel::Receiver<()>) {
        r.add("127.0.0.1:1".parse().unwrap(), ConnKind::Peer)
    }

    #[test]
    fn both_ends_keep_the_owners_connection_and_only_its_acceptor_closes_the_other() {
        let r = Registry::default();
        // Owner side ("A" < "B"): the neighbour's start dial came first, then ours.
        let owner = PeerLink::new(
            "B".into(),
            0,
            "127.0.0.1:2"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
            true,
        );
        let (theirs, theirs_killed) = conn(&r);
        let (g1, _) = owner.attach(theirs, false, false, 7).unwrap();
        let (ours, _) = conn(&r);
        let (g2, _) = owner.attach(ours, true, true, 7).unwrap();
        assert!(owner.is_live(g2) && !owner.is_live(g1));
        assert!(
            !theirs_killed.is_closed(),
            "we dialed the winner: the other end closes the loser"
        );
        assert_eq!(
            owner.reconnects.load(Relaxed),
            1,
            "the link never went down"
        );
        assert!(
            owner.take(g1, 10).is_empty(),
            "the replaced connection sends nothing"
        );
        assert!(
            !owner.detach(g1, "closed by the neighbour"),
            "its end does not take the link down"
        );
        assert!(owner.is_up());
        // Other side: it dialed first; the owner's connection arrives and it closes its own.
        let other = PeerLink::new(
            "A".into(),
            0,
            "127.0.0.1:3"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
            false,
        );
        let (mine, mine_killed) = conn(&r);
        other.attach(mine, false, true, 9).unwrap();
        let (owners, _) = conn(&r);
        other.attach(owners, true, false, 9).unwrap();
        assert!(
            mine_killed.is_closed(),
            "the acceptor of the winner closes the loser"
        );
        // A late connection from the non-owner, same incarnation, loses to the owner's.
        let (late, _) = conn(&r);
        assert!(other.attach(late, false, true, 9).is_none());
        // From a new incarnation (a restart), anything wins.
        let (fresh, _) = conn(&r);
        assert!(other.attach(fresh, false, true, 10).is_some());
    }
}
