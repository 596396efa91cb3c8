//! One running server's shared state, and the effects its tasks perform: persisting and
//! flooding what the node accepted, accounting and logging what crossed a link.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::neighbour::PeerLink;
use super::registry::{ConnInfo, Kill, Registry};
use super::Stop;
use crate::config::Config;
use crate::counters::Metrics;
use crate::events::{ConnKind, Dir, EventBus, EventKind, LinkState};
use crate::link::{End, Settings};
use crate::logging::Bytes;
use crate::node::{Effects, FromNeighbour, Node};
use crate::places::Guarded;
use crate::ratelog::RateLog;
use crate::state::Update;
use crate::store::{Durable, Store, StoreStats};
use crate::sync::lock;

/// Server-wide counters, read by the console and the demo.
#[derive(Debug, Default)]
pub struct Stats {
    /// Client lines received.
    pub lines_in: AtomicU64,
    /// Client replies sent.
    pub lines_out: AtomicU64,
    /// Client bytes received.
    pub bytes_in: AtomicU64,
    /// Client bytes sent.
    pub bytes_out: AtomicU64,
    /// Updates sent to neighbours.
    pub floods_sent: AtomicU64,
    /// Updates received from neighbours.
    pub floods_received: AtomicU64,
    /// Received updates that changed nothing.
    pub floods_ignored: AtomicU64,
}

/// One running server's shared state.
pub struct Server {
    /// Its name, as in AT replies.
    pub name: Arc<str>,
    /// Random at every start; neighbours see restarts through it.
    pub incarnation: u64,
    /// The address clients connect to.
    pub local_addr: SocketAddr,
    /// The address neighbours connect to.
    pub peer_addr: SocketAddr,
    /// The herd's config.
    pub config: Arc<Config>,
    /// The table and the rules: what a line or an update means and changes.
    pub node: Node,
    /// What every link session shares (name, incarnation, secret, timings).
    pub(super) settings: Arc<Settings>,
    /// The durable log of accepted updates, when a data folder is configured.
    pub(super) store: Option<Mutex<Store>>,
    /// One link per neighbour, in the node's neighbour order.
    pub peers: Vec<Arc<PeerLink>>,
    /// WHATSAT's provider.
    pub places: Arc<Guarded>,
    /// Typed events for the console and the demo.
    pub events: EventBus,
    /// Counters.
    pub stats: Stats,
    /// What the tasks count for the metrics endpoint (commands, latency, catch-up).
    pub metrics: Arc<Metrics>,
    /// Open connections.
    pub(super) registry: Registry,
    /// When it started; link sessions count time from here.
    pub started: Instant,
    /// The `log` target that routes this server's records to its own file.
    pub log_target: String,
    /// Fires when the server stops.
    pub(super) stop: Stop,
    /// Refused neighbour connections, logged at most once per interval.
    refusals: Mutex<RateLog>,
    /// Frames dropped for length, logged at most once per interval.
    skips: Mutex<RateLog>,
}

impl Server {
    /// Assembles a server's state (see `start`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        config: Arc<Config>,
        node: Node,
        settings: Arc<Settings>,
        addrs: (SocketAddr, SocketAddr),
        store: Option<Store>,
        peers: Vec<Arc<PeerLink>>,
        places: Arc<Guarded>,
        stop: Stop,
    ) -> Server {
        let name = settings.name.clone();
        Server {
            incarnation: settings.incarnation,
            local_addr: addrs.0,
            peer_addr: addrs.1,
            config,
            node,
            settings,
            store: store.map(Mutex::new),
            peers,
            places,
            events: EventBus::new(name.clone()),
            stats: Stats::default(),
            metrics: Arc::default(),
            registry: Registry::default(),
            started: Instant::now(),
            log_target: crate::logging::log_target(&name),
            stop,
            refusals: Mutex::new(RateLog::new(Duration::from_secs(10))),
            skips: Mutex::new(RateLog::new(Duration::from_secs(10))),
            name,
        }
    }

    /// How long after a link is lost the others send their summaries: long enough for the
    /// copies in flight on them to land first.
    pub(super) fn resync_delay(&self) -> Duration {
        Duration::from_millis(self.config.timings.heartbeat_ms)
    }

    /// Time since the server started: the clock of its link sessions.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Looks up a neighbour link.
    pub fn peer(&self, name: &str) -> Option<&Arc<PeerLink>> {
        self.peers.iter().find(|p| &*p.name == name)
    }

    /// Clients known.
    pub fn clients_known(&self) -> usize {
        self.node.len()
    }

    /// The newest update for `client`.
    pub fn lookup(&self, client: &[u8]) -> Option<Update> {
        self.node.lookup(client)
    }

    /// A copy of every update held (for the console and consistency checks).
    pub fn all_updates(&self) -> Vec<Update> {
        self.node.snapshot()
    }

    /// Open connections.
    pub fn connections(&self) -> Vec<Arc<ConnInfo>> {
        self.registry.list()
    }

    /// Closes connection `id`; false if there is none.
    pub fn drop_connection(&self, id: u64) -> bool {
        match self.registry.get(id) {
            Some(c) => {
                c.kill(Kill::Operator);
                log::warn!(target: &self.log_target, "operator dropped connection {id} ({})", c.addr);
                true
            }
            None => false,
        }
    }

    /// Performs what accepting an update calls for: append it to the durable log, then queue
    /// it for the neighbours the node named. The ticket completes when the update is durable
    /// under the fsync policy (at once unless `Always`); `Err` when it could not be appended.
    pub(super) fn perform(&self, effects: &Effects) -> Result<Durable, String> {
        let durable = self.persist(&effects.update);
        self.queue(effects);
        durable
    }

    /// Queues an update for the neighbours the node names.
    fn queue(&self, effects: &Effects) {
        let up = |i: usize| self.peers.get(i).is_some_and(|p| p.is_up());
        let (targets, via) = self.node.forward(&effects.flood, up);
        for i in targets {
            if let Some(p) = self.peers.get(i) {
                p.enqueue(effects.update.clone(), via.clone());
            }
        }
    }

    /// Merges an AT line from `link`, performs what it calls for, and accounts for it;
    /// `Err` when it is not an AT line (the link ends).
    pub(super) fn receive_update(
        &self,
        link: &PeerLink,
        at: &[u8],
        via: &[u8],
    ) -> Result<(), String> {
        link.received.fetch_add(1, Relaxed);
        self.stats.floods_received.fetch_add(1, Relaxed);
        let (update, outcome) = match self.node.neighbour_update(link.index, at, via) {
            FromNeighbour::Applied(effects) => {
                // Not acknowledged to anyone: nothing waits for its ticket (a failed append
                // was logged; the neighbours still have it).
                let _ = self.perform(&effects);
                (effects.update, "applied")
            }
            FromNeighbour::Held(held) => {
                // The neighbour holds it: a copy queued for it would only be ignored there.
                link.cancel(&held);
                (held, "ignored (not newer)")
            }
            FromNeighbour::Relay(effects) => {
                // Held already (and durable), but on a detour: it goes on.
                link.cancel(&effects.update);
                self.queue(&effects);
                (effects.update, "held, passed on (detour)")
            }
            FromNeighbour::NotNewer(u) => (u, "ignored (not newer)"),
            FromNeighbour::Full(u) => {
                log::warn!(target: &self.log_target, "location table full ({} clients): refused {}",
                    self.config.limits.max_clients, Bytes(&u.at));
                (u, "refused (table full)")
            }
            FromNeighbour::Malformed => return Err("not an AT line".into()),
        };
        let applied = outcome == "applied";
        if !applied {
            link.ignored.fetch_add(1, Relaxed);
            self.stats.floods_ignored.fetch_add(1, Relaxed);
        }
        log::debug!(target: &self.log_target, "flood from {} {outcome}: {}", link.name, Bytes(&update.at));
        self.events.publish(|| EventKind::Flood {
            peer: link.name.clone(),
            dir: Dir::In,
            at: update.at.clone(),
            applied,
        });
        Ok(())
    }

    /// Appends an accepted update to the log, and compacts the log when it has grown past its
    /// bound. Runs before the IAMAT reply is written; under `Fsync::Always` the reply also
    /// waits for the returned ticket (one fsync shared by every append waiting).
    fn persist(&self, update: &Update) -> Result<Durable, String> {
        let Some(store) = &self.store else {
            return Ok(Durable::done());
        };
        let mut store = lock(store);
        let ticket = store.submit(&update.at).map_err(|e| {
            let why = format!("cannot append to {}: {e}", store.log_path().display());
            log::error!(target: &self.log_target, "{why}; {} is not durable", Bytes(&update.at));
            why
        })?;
        let clients = self.node.len();
        if store.should_compact(clients) {
            // The table is copied while the store is locked: an update applied after the copy
            // waits for the lock and lands in the emptied log.
            let started = Instant::now();
            let records = store.log_records();
            let table = self.node.snapshot();
            match store.compact(table.iter()) {
                Ok(()) => log::info!(target: &self.log_target,
                    "compacted {records} log records into a snapshot of {} clients in {:?}",
                    table.len(), started.elapsed()),
                Err(e) => log::error!(target: &self.log_target, "compaction failed: {e}"),
            }
        }
        Ok(ticket)
    }

    /// The store's counters, when the server keeps a data folder (metrics).
    pub fn store_stats(&self) -> Option<Arc<StoreStats>> {
        self.store.as_ref().map(|s| lock(s).stats())
    }

    /// Forces appended updates to the disk.
    pub fn sync_store(&self) {
        if let Some(store) = &self.store {
            let mut store = lock(store);
            if let Err(e) = store.sync() {
                log::error!(target: &self.log_target, "fsync of {} failed: {e}", store.log_path().display());
            }
        }
    }

    /// Registers a connection.
    pub(super) fn register(
        &self,
        addr: SocketAddr,
        kind: ConnKind,
    ) -> (Arc<ConnInfo>, async_channel::Receiver<()>) {
        let (info, killed) = self.registry.add(addr, kind);
        let id = info.id;
        self.events.publish(|| EventKind::Opened { id, addr });
        (info, killed)
    }

    /// Forgets a connection.
    pub(super) fn unregister(&self, info: &ConnInfo, reason: &str) {
        self.registry.remove(info);
        self.events.publish(|| EventKind::Closed {
            id: info.id,
            reason: reason.to_string(),
        });
    }

    /// Logs and publishes the end of a connection that was a link (`was_live`: it still was
    /// the live one, so the link went down with it).
    pub(super) fn link_ended(&self, link: &PeerLink, end: &End, was_live: bool) {
        if !was_live {
            log::debug!(target: &self.log_target, "an older connection to {} closed: {end}", link.name);
            return;
        }
        let reason = end.to_string();
        // A copy another neighbour skipped, because this link was to carry it, may be lost
        // with it: the other links resync soon.
        for p in self.peers.iter().filter(|p| p.index != link.index) {
            p.request_resync();
        }
        match end {
            // Closed on purpose, here or by a neighbour that said goodbye: not a fault.
            End::Local(_) | End::Departed => {
                log::info!(target: &self.log_target, "link to {} closed: {reason}", link.name)
            }
            _ => log::warn!(target: &self.log_target, "link to {} down: {reason}", link.name),
        }
        self.events.publish(|| EventKind::Link {
            peer: link.name.clone(),
            state: if link.is_cut() {
                LinkState::Cut
            } else {
                LinkState::Down
            },
            reason: Some(reason.clone()),
        });
    }

    /// Logs a refused neighbour connection, at most once per interval for the same reason.
    pub(super) fn note_refused(&self, addr: SocketAddr, why: &str) {
        if let Some(held) = lock(&self.refusals).admit(why, Instant::now()) {
            let more = if held > 0 {
                format!(" ({held} more refused since the last report)")
            } else {
                String::new()
            };
            log::warn!(target: &self.log_target, "refused neighbour connection from {addr}: {why}{more}");
        }
    }

    /// Logs a frame dropped for length, at most once per interval.
    pub(super) fn note_skipped(&self, link: &PeerLink, bytes: usize) {
        let what = format!(
            "link to {}: dropped frames longer than {} bytes",
            link.name, self.settings.max_frame
        );
        if let Some(held) = lock(&self.skips).admit(&what, Instant::now()) {
            log::warn!(target: &self.log_target, "{what} (this one {bytes} bytes; {} in all on this link, {held} since the last report); the link stays up",
                link.skipped.load(Relaxed));
        }
    }
}
