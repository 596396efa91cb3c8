//! The network edge: the listener, client handlers and neighbour links.
//!
//! One [`Server`] holds what its tasks share: the location table, the neighbour links, the
//! Places provider, counters and the event bus. Only this module and `rt` spawn tasks.

mod client;
mod lines;
mod peer;
mod stop;

pub use lines::{Framed, LineReader};
pub use peer::{PeerLink, PeerStatus};
pub use stop::{channel as stop_channel, Stop, StopHandle, TaskGuard, Tasks};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::{self, Either};

use crate::config::Config;
use crate::config::Fsync;
use crate::events::{ConnKind, EventBus, EventKind};
use crate::places::Guarded;
use crate::rt;
use crate::state::{flood_targets, Applied, LocationTable, Update};
use crate::store::{Replay, Store};

/// Locks a mutex, shrugging off poisoning (a panicked holder leaves consistent data here).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

/// The last command a connection sent, for the console (stored as a byte: no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LastCommand {
    /// Nothing yet.
    None = 0,
    /// IAMAT.
    IAmAt = 1,
    /// WHATSAT.
    WhatsAt = 2,
    /// An invalid line.
    Invalid = 3,
    /// Server-to-server traffic.
    Peer = 4,
}

impl LastCommand {
    /// Display name.
    pub fn as_str(self) -> &'static str {
        match self {
            LastCommand::None => "",
            LastCommand::IAmAt => "IAMAT",
            LastCommand::WhatsAt => "WHATSAT",
            LastCommand::Invalid => "?",
            LastCommand::Peer => "HERD",
        }
    }
    fn from_u8(v: u8) -> Self {
        match v {
            1 => LastCommand::IAmAt,
            2 => LastCommand::WhatsAt,
            3 => LastCommand::Invalid,
            4 => LastCommand::Peer,
            _ => LastCommand::None,
        }
    }
}

/// One open connection, as the console sees it.
#[derive(Debug)]
pub struct ConnInfo {
    /// Server-unique id.
    pub id: u64,
    /// Remote address.
    pub addr: SocketAddr,
    /// Set once a HELLO makes it a neighbour link.
    pub is_peer: AtomicBool,
    /// When it opened.
    pub opened: Instant,
    /// Milliseconds after `opened` of the last traffic.
    pub last_active_ms: AtomicU64,
    /// Lines received.
    pub lines_in: AtomicU64,
    /// Lines sent.
    pub lines_out: AtomicU64,
    /// Bytes received.
    pub bytes_in: AtomicU64,
    /// Bytes sent.
    pub bytes_out: AtomicU64,
    /// A [`LastCommand`] as u8.
    last_command: AtomicU8,
    /// Closing this ends the connection (operator "drop").
    kill: async_channel::Sender<()>,
}

impl ConnInfo {
    /// Notes traffic now.
    pub fn touch(&self) {
        let ms = self.opened.elapsed().as_millis().min(u64::MAX as u128) as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }
    /// Records the last command.
    pub fn set_last(&self, c: LastCommand) {
        self.last_command.store(c as u8, Ordering::Relaxed);
    }
    /// The last command.
    pub fn last(&self) -> LastCommand {
        LastCommand::from_u8(self.last_command.load(Ordering::Relaxed))
    }
    /// The kind.
    pub fn kind(&self) -> ConnKind {
        if self.is_peer.load(Ordering::Relaxed) {
            ConnKind::Peer
        } else {
            ConnKind::Client
        }
    }
    /// Time since the last traffic.
    pub fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }
}

/// What one server needs to start.
pub struct ServerSpec {
    /// Its name.
    pub name: String,
    /// The herd's config (timings, limits, secret, links).
    pub config: Arc<Config>,
    /// Where each neighbour really listens (differs from the config when tests bind port 0).
    pub neighbour_addrs: HashMap<String, SocketAddr>,
    /// The Places provider behind its deadline and cap.
    pub places: Arc<Guarded>,
}

/// One running server's shared state.
pub struct Server {
    /// Its name, as in AT replies.
    pub name: Arc<str>,
    /// Random at every start; neighbours see restarts through it.
    pub incarnation: u64,
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The herd's config.
    pub config: Arc<Config>,
    /// The herd secret (empty when none is configured).
    secret: Vec<u8>,
    /// The location table; held briefly, never across an await.
    table: Mutex<LocationTable>,
    /// The durable log of accepted updates, when a data folder is configured.
    store: Option<Mutex<Store>>,
    /// One link per neighbour.
    pub peers: Vec<Arc<PeerLink>>,
    /// Neighbour names, for the flood decision.
    neighbour_names: Vec<Arc<str>>,
    /// WHATSAT's provider.
    pub places: Arc<Guarded>,
    /// Typed events for the console and the demo.
    pub events: EventBus,
    /// Counters.
    pub stats: Stats,
    /// Open connections.
    conns: Mutex<HashMap<u64, Arc<ConnInfo>>>,
    /// Next connection id.
    next_conn: AtomicU64,
    /// Open client connections (not neighbour links), for the connection cap.
    clients: AtomicUsize,
    /// When it started.
    pub started: Instant,
    /// The `log` target that routes this server's records to its own file.
    pub log_target: String,
    /// Fires when the server stops.
    stop: Stop,
}

/// The `log` target of a server's records (`herd[Clark]`); the logger routes on it.
pub fn log_target(name: &str) -> String {
    format!("herd[{name}]")
}

impl Server {
    /// Looks up a neighbour link.
    pub fn peer(&self, name: &str) -> Option<&Arc<PeerLink>> {
        self.peers.iter().find(|p| &*p.name == name)
    }

    /// Clients known.
    pub fn clients_known(&self) -> usize {
        lock(&self.table).len()
    }

    /// The newest update for `client`.
    pub fn lookup(&self, client: &[u8]) -> Option<Update> {
        lock(&self.table).get(client).cloned()
    }

    /// A copy of every update held (for the console, catch-up and consistency checks).
    pub fn all_updates(&self) -> Vec<Update> {
        lock(&self.table).updates().cloned().collect()
    }

    /// The number of clients and the digest of the table at the granularity its size calls for.
    pub fn summary(&self) -> (usize, crate::digest::Digest) {
        let t = lock(&self.table);
        let bits = crate::digest::bits_for(t.len());
        (t.len(), crate::digest::Digest::of(t.updates(), bits))
    }

    /// Open connections.
    pub fn connections(&self) -> Vec<Arc<ConnInfo>> {
        let mut v: Vec<_> = lock(&self.conns).values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Closes connection `id`; false if there is none.
    pub fn drop_connection(&self, id: u64) -> bool {
        match lock(&self.conns).get(&id) {
            Some(c) => {
                c.kill.close();
                log::warn!(target: &self.log_target, "operator dropped connection {id} ({})", c.addr);
                true
            }
            None => false,
        }
    }

    /// The secret for link MACs.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Merges an update from a client (`from` = None) or a neighbour, and floods it on if it
    /// changed the table. Returns what the merge did.
    pub fn accept_update(&self, update: &Update, from: Option<&str>) -> Applied {
        let applied = lock(&self.table).apply(update);
        if applied.changed() {
            self.persist(update);
            for name in flood_targets(&self.neighbour_names, from) {
                if let Some(p) = self.peer(name) {
                    p.enqueue(update.clone());
                }
            }
        } else if applied == Applied::Full {
            log::warn!(target: &self.log_target,
                "location table full ({} clients): refused {}", self.config.limits.max_clients,
                update.at.escape_ascii());
        }
        applied
    }

    /// Appends an accepted update to the log (synced at once under `Fsync::Always`), and
    /// compacts the log when it has grown past its bound. Runs before the IAMAT reply is written.
    fn persist(&self, update: &Update) {
        let Some(store) = &self.store else { return };
        let mut store = lock(store);
        if let Err(e) = store.append(&update.at) {
            log::error!(target: &self.log_target, "cannot append to {}: {e}; {} is not durable",
                store.log_path().display(), update.at.escape_ascii());
            return;
        }
        let clients = self.clients_known();
        if store.should_compact(clients) {
            // The table is copied while the store is locked: an update applied after the copy
            // waits for the lock and lands in the emptied log.
            let started = Instant::now();
            let records = store.log_records();
            let table = self.all_updates();
            match store.compact(table.iter()) {
                Ok(()) => log::info!(target: &self.log_target,
                    "compacted {records} log records into a snapshot of {} clients in {:?}",
                    table.len(), started.elapsed()),
                Err(e) => log::error!(target: &self.log_target, "compaction failed: {e}"),
            }
        }
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

    /// Registers a connection; `peer` when we dialed a neighbour, else a client until
    /// [`Server::promote`] makes it a link.
    fn register(
        &self,
        addr: SocketAddr,
        peer: bool,
    ) -> (Arc<ConnInfo>, async_channel::Receiver<()>) {
        let (kill, killed) = async_channel::bounded(1);
        let info = Arc::new(ConnInfo {
            id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            addr,
            is_peer: AtomicBool::new(peer),
            opened: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            lines_in: AtomicU64::new(0),
            lines_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            last_command: AtomicU8::new(0),
            kill,
        });
        if !peer {
            self.clients.fetch_add(1, Ordering::Relaxed);
        }
        lock(&self.conns).insert(info.id, info.clone());
        self.events
            .publish(|| EventKind::Opened { id: info.id, addr });
        (info, killed)
    }

    /// A client connection that opened with a neighbour's HELLO becomes a link.
    fn promote(&self, info: &ConnInfo) {
        if !info.is_peer.swap(true, Ordering::Relaxed) {
            self.clients.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn unregister(&self, info: &ConnInfo, reason: &str) {
        if lock(&self.conns).remove(&info.id).is_some() && !info.is_peer.load(Ordering::Relaxed) {
            self.clients.fetch_sub(1, Ordering::Relaxed);
        }
        self.events.publish(|| EventKind::Closed {
            id: info.id,
            reason: reason.to_string(),
        });
    }

    fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}

/// A running server: its shared state and the means to stop it.
pub struct ServerHandle {
    /// The shared state, for the console, the demo and tests.
    pub server: Arc<Server>,
    /// Dropping or firing it stops every task.
    stop: StopHandle,
    /// Completes when every task has ended.
    tasks: Tasks,
}

impl ServerHandle {
    /// Stops accepting, lets replies under way finish (up to the grace period), closes links.
    pub async fn shutdown(self) {
        self.stop.fire();
        let grace = Duration::from_millis(self.server.config.timings.shutdown_grace_ms);
        if rt::timeout(grace, self.tasks.wait()).await.is_none() {
            log::warn!(target: &self.server.log_target, "shutdown grace period over; tasks still running were abandoned");
        }
        if self.server.config.store.fsync != Fsync::Never {
            self.server.sync_store();
        }
        log::info!(target: &self.server.log_target, "{} stopped", self.server.name);
    }
}

/// Reloads the server's data (when a data folder is configured), binds `addr` and starts the
/// server on it: nothing listens before the table is restored.
pub async fn start(spec: ServerSpec, addr: SocketAddr) -> std::io::Result<ServerHandle> {
    let restored = open_store(&spec)?;
    let listener = rt::bind(addr).await?;
    start_with(spec, listener, restored)
}

/// Starts a server on a bound listener: reloads its data, then starts the accept loop and a
/// dialer for each link it owns.
pub fn start_on(spec: ServerSpec, listener: rt::TcpListener) -> std::io::Result<ServerHandle> {
    let restored = open_store(&spec)?;
    start_with(spec, listener, restored)
}

/// Opens and replays the server's log when `store.dir` is set.
fn open_store(spec: &ServerSpec) -> std::io::Result<Option<(Store, Replay)>> {
    let s = &spec.config.store;
    match &s.dir {
        None => Ok(None),
        Some(dir) => Store::open(dir, &spec.name, s.fsync, s.compact_factor)
            .map(Some)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot load its data: {e}"))),
    }
}

fn start_with(
    spec: ServerSpec,
    listener: rt::TcpListener,
    restored: Option<(Store, Replay)>,
) -> std::io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let cfg = spec.config.clone();
    let name: Arc<str> = spec.name.as_str().into();
    let log_target = log_target(&spec.name);
    let mut peers = Vec::new();
    let mut neighbour_names = Vec::new();
    for n in cfg.neighbours(&spec.name) {
        let addr = spec
            .neighbour_addrs
            .get(&n)
            .copied()
            .or_else(|| cfg.addr(&n))
            .ok_or_else(|| std::io::Error::other(format!("no address for neighbour {n}")))?;
        // Exactly one side owns each link: the lexically smaller name dials.
        let we_dial = *spec.name < *n;
        let n: Arc<str> = n.as_str().into();
        neighbour_names.push(n.clone());
        peers.push(Arc::new(PeerLink::new(n, addr, we_dial)));
    }
    let secret = cfg.effective_secret().unwrap_or_default().into_bytes();
    let (stop_handle, stop) = stop::channel();
    let tasks = Tasks::new();
    let mut table = LocationTable::new(cfg.limits.max_clients);
    let (store, replay) = match restored {
        Some((store, replay)) => {
            for u in &replay.updates {
                table.apply(u);
            }
            (Some(Mutex::new(store)), Some(replay))
        }
        None => (None, None),
    };
    let server = Arc::new(Server {
        incarnation: random_u64(),
        local_addr,
        secret,
        table: Mutex::new(table),
        store,
        peers,
        neighbour_names,
        places: spec.places,
        events: EventBus::new(name.clone()),
        stats: Stats::default(),
        conns: Mutex::new(HashMap::new()),
        next_conn: AtomicU64::new(1),
        clients: AtomicUsize::new(0),
        started: Instant::now(),
        log_target,
        stop: stop.clone(),
        name,
        config: cfg,
    });
    log::info!(target: &server.log_target,
        "{} listening on {} (incarnation {:016x}, runtime {}, places {}, neighbours {})",
        server.name, local_addr, server.incarnation, rt::RUNTIME, server.places.name(),
        server.peers.iter().map(|p| format!("{}@{}{}", p.name, p.addr, if p.we_dial { " (we dial)" } else { "" }))
            .collect::<Vec<_>>().join(", "));
    if let (Some(r), Some(dir)) = (&replay, &server.config.store.dir) {
        for (path, offset, dropped, damage) in &r.cut {
            log::warn!(target: &server.log_target, "{}: {} at offset {offset}; cut it off ({dropped} bytes dropped)",
                path.display(), damage.as_str());
        }
        if r.skipped > 0 {
            log::warn!(target: &server.log_target, "{} records were not AT lines and were skipped", r.skipped);
        }
        log::info!(target: &server.log_target,
            "restored {} clients from {} ({} snapshot + {} log records) in {:?}; fsync {:?}",
            server.clients_known(), dir.display(), r.snapshot_records, r.log_records, r.took,
            server.config.store.fsync);
    }
    if server.secret.is_empty() && !server.peers.is_empty() {
        log::warn!(target: &server.log_target,
            "no herd secret configured (HERD_SECRET or `secret`): neighbour links are accepted from loopback addresses only");
    }
    for p in server.peers.iter().filter(|p| p.we_dial) {
        rt::spawn(peer::dial_loop(server.clone(), p.clone(), tasks.guard()));
    }
    if server.store.is_some() && server.config.store.fsync == Fsync::EverySecond {
        rt::spawn(sync_loop(server.clone(), tasks.guard()));
    }
    rt::spawn(accept_loop(server.clone(), listener, tasks.guard()));
    Ok(ServerHandle {
        server,
        stop: stop_handle,
        tasks,
    })
}

async fn accept_loop(server: Arc<Server>, listener: rt::TcpListener, tasks: TaskGuard) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = {
            let accept = std::pin::pin!(listener.accept());
            let stop = std::pin::pin!(server.stop.wait());
            match future::select(accept, stop).await {
                Either::Left((res, _)) => res,
                Either::Right(_) => break,
            }
        };
        match accepted {
            Ok((stream, addr)) => {
                backoff = Duration::from_millis(5);
                if server.client_count() >= server.config.limits.max_connections {
                    log::warn!(target: &server.log_target,
                        "refused connection from {addr}: {} connections is the limit", server.config.limits.max_connections);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                rt::spawn(client::serve(server.clone(), stream, addr, tasks.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                log::error!(target: &server.log_target, "accept failed: {e}; retrying in {backoff:?}");
                rt::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    log::info!(target: &server.log_target, "{} stopped accepting", server.name);
}

/// Forces the log to the disk once a second (`Fsync::EverySecond`), off the async threads.
async fn sync_loop(server: Arc<Server>, _task: TaskGuard) {
    loop {
        let tick = std::pin::pin!(rt::sleep(Duration::from_secs(1)));
        let stop = std::pin::pin!(server.stop.wait());
        if let Either::Right(_) = future::select(tick, stop).await {
            break;
        }
        let s = server.clone();
        rt::spawn_blocking(move || s.sync_store()).await;
    }
}

/// A random u64 (incarnations); falls back to the clock if the OS has no entropy to give.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    }
}
