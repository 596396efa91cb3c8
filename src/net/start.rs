//! Starting and stopping a server: reload its data, bind its two ports, start its tasks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::listen::{accept_loop, Port};
use super::neighbour::PeerLink;
use super::{dial, random_u64, stop, Server, StopHandle, TaskGuard, Tasks};
use crate::addr::PeerAddr;
use crate::config::{Config, Fsync};
use crate::link::Settings;
use crate::node::{Node, Tree};
use crate::places::Guarded;
use crate::rt;
use crate::store::{Replay, Store};
use crate::tls::LinkTls;

/// What one server needs to start.
pub struct ServerSpec {
    /// Its name.
    pub name: String,
    /// The herd's config (timings, limits, secret, links).
    pub config: Arc<Config>,
    /// Where each neighbour's peer port really is, when it differs from the config's
    /// `peer_address` (in-process herds and tests bind port 0).
    pub neighbour_addrs: HashMap<String, SocketAddr>,
    /// The Places provider behind its deadline and cap.
    pub places: Arc<Guarded>,
}

/// A server's two listeners, bound.
pub struct Listeners {
    /// For clients.
    pub client: rt::TcpListener,
    /// For neighbours.
    pub peer: rt::TcpListener,
}

impl Listeners {
    /// Binds both addresses; the error names which one failed.
    pub async fn bind(client: SocketAddr, peer: SocketAddr) -> std::io::Result<Listeners> {
        let named = |what: &str, addr: SocketAddr| {
            let what = what.to_string();
            move |e: std::io::Error| {
                std::io::Error::new(e.kind(), format!("cannot listen for {what} on {addr}: {e}"))
            }
        };
        let client_l = rt::bind(client).await.map_err(named("clients", client))?;
        let peer_l = rt::bind(peer).await.map_err(named("neighbours", peer))?;
        Ok(Listeners {
            client: client_l,
            peer: peer_l,
        })
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

/// Reloads the server's data (when a data folder is configured), binds its client and peer
/// addresses and starts it: nothing listens before the table is restored.
pub async fn start(
    spec: ServerSpec,
    client: SocketAddr,
    peer: SocketAddr,
) -> std::io::Result<ServerHandle> {
    let restored = open_store(&spec)?;
    let listeners = Listeners::bind(client, peer).await?;
    start_with(spec, listeners, restored)
}

/// Starts a server on bound listeners: reloads its data, then starts the accept loops and a
/// task that keeps each link.
pub fn start_on(spec: ServerSpec, listeners: Listeners) -> std::io::Result<ServerHandle> {
    let restored = open_store(&spec)?;
    start_with(spec, listeners, restored)
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
    listeners: Listeners,
    restored: Option<(Store, Replay)>,
) -> std::io::Result<ServerHandle> {
    let cfg = spec.config.clone();
    let name: Arc<str> = spec.name.as_str().into();
    let secret = cfg
        .effective_secret()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let tls = match &cfg.tls {
        Some(t) => Some(Arc::new(
            LinkTls::load(t, &spec.name).map_err(|e| std::io::Error::other(e.to_string()))?,
        )),
        None => None,
    };
    let mut peers = Vec::new();
    for (index, n) in cfg.neighbours(&spec.name).into_iter().enumerate() {
        let addr = spec
            .neighbour_addrs
            .get(&n)
            .map(|a| PeerAddr::Ip(*a))
            .or_else(|| cfg.peer_address(&n))
            .ok_or_else(|| std::io::Error::other(format!("no peer address for neighbour {n}")))?;
        // Exactly one side owns each link: the lexically smaller name.
        let we_own = crate::owner::owns(&spec.name, &n);
        peers.push(Arc::new(PeerLink::new(
            n.as_str().into(),
            index,
            addr,
            we_own,
        )));
    }
    let t = &cfg.timings;
    let settings = Arc::new(Settings {
        name: name.clone(),
        incarnation: random_u64(),
        secret: secret.unwrap_or_default().into_bytes().into(),
        heartbeat: Duration::from_millis(t.heartbeat_ms),
        silence: Duration::from_millis(t.peer_timeout_ms),
        handshake: Duration::from_millis(t.handshake_timeout_ms),
        max_frame: cfg.link_max_frame(),
        resync: Duration::from_millis(t.resync_ms),
    });
    let neighbours: Vec<Arc<str>> = peers.iter().map(|p| p.name.clone()).collect();
    let servers: Vec<&str> = cfg.servers.iter().map(|s| s.name.as_str()).collect();
    let links: Vec<(&str, &str)> = cfg
        .links
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let tree = Tree::plan(&name, &neighbours, &servers, &links);
    let node = Node::new(name.clone(), neighbours, cfg.limits.max_clients).with_tree(tree);
    let (store, replay) = match restored {
        Some((store, replay)) => {
            node.restore(&replay.updates);
            (Some(store), Some(replay))
        }
        None => (None, None),
    };
    let (stop_handle, stop) = stop::channel();
    let tasks = Tasks::new();
    let addrs = (listeners.client.local_addr()?, listeners.peer.local_addr()?);
    let server = Arc::new(Server::new(
        cfg,
        node,
        settings,
        addrs,
        store,
        peers,
        spec.places,
        stop,
    ));
    log::info!(target: &server.log_target,
        "{} listening for clients on {} and for neighbours on {}{} (incarnation {:016x}, runtime {}, places {}, neighbours {})",
        server.name, addrs.0, addrs.1, if tls.is_some() { " over TLS" } else { "" },
        server.incarnation, rt::RUNTIME, server.places.name(),
        server.peers.iter().map(|p| format!("{}@{}{}", p.name, p.addr, if p.we_own { " (we own)" } else { "" }))
            .collect::<Vec<_>>().join(", "));
    if let (Some(r), Some(dir)) = (&replay, &server.config.store.dir) {
        // Repairs were logged by the store as it made them.
        log::info!(target: &server.log_target,
            "restored {} clients from {} ({} snapshot + {} log records) in {:?}; fsync {:?}",
            server.clients_known(), dir.display(), r.snapshot_records, r.log_records, r.took,
            server.config.store.fsync);
    }
    if server.settings.secret.is_empty() && !server.peers.is_empty() {
        log::warn!(target: &server.log_target,
            "no herd secret configured (HERD_SECRET or `secret`): neighbour links are accepted from loopback addresses only");
    }
    rt::spawn(accept_loop(
        server.clone(),
        listeners.client,
        Port::Client,
        None,
        tasks.guard(),
    ));
    rt::spawn(accept_loop(
        server.clone(),
        listeners.peer,
        Port::Peer,
        tls.clone(),
        tasks.guard(),
    ));
    for p in &server.peers {
        rt::spawn_together(
            server.incarnation,
            dial::keep(server.clone(), p.clone(), tls.clone(), tasks.guard()),
        );
    }
    if !server.peers.is_empty() {
        rt::spawn(flood_report(server.clone(), tasks.guard()));
    }
    if server.store.is_some() && server.config.store.fsync == Fsync::EverySecond {
        rt::spawn(sync_loop(server.clone(), tasks.guard()));
    }
    Ok(ServerHandle {
        server,
        stop: stop_handle,
        tasks,
    })
}

/// Forces the log to the disk once a second (`Fsync::EverySecond`), off the async threads.
async fn sync_loop(server: Arc<Server>, _task: TaskGuard) {
    loop {
        if server
            .stop
            .until(rt::sleep(Duration::from_secs(1)))
            .await
            .is_none()
        {
            break;
        }
        let s = server.clone();
        rt::spawn_blocking(move || s.sync_store()).await;
    }
}

/// How often the floods of each link are summed up in the log at info level (each flood is
/// logged on its own at debug level).
const FLOOD_REPORT: Duration = Duration::from_secs(10);

/// Logs, per link, what crossed it since the last report (and once more at shutdown): an
/// operator can afford info level under load, where a line per flood per link cannot be.
async fn flood_report(server: Arc<Server>, _task: TaskGuard) {
    use std::sync::atomic::Ordering::Relaxed;
    let counts = |p: &PeerLink| {
        let received = p.received.load(Relaxed);
        let ignored = p.ignored.load(Relaxed);
        (p.sent.load(Relaxed), received, ignored)
    };
    let mut last: Vec<(u64, u64, u64)> = server.peers.iter().map(|p| counts(p)).collect();
    let mut since = std::time::Instant::now();
    loop {
        let stopping = server.stop.until(rt::sleep(FLOOD_REPORT)).await.is_none();
        let secs = since.elapsed().as_secs_f64();
        since = std::time::Instant::now();
        for (p, before) in server.peers.iter().zip(last.iter_mut()) {
            let now = counts(p);
            let (sent, received, ignored) = (now.0 - before.0, now.1 - before.1, now.2 - before.2);
            *before = now;
            if sent + received > 0 {
                log::info!(target: &server.log_target,
                    "floods with {} in the last {secs:.1} s: {sent} sent; {received} received, {} applied, {ignored} not newer",
                    p.name, received - ignored);
            }
        }
        if stopping {
            break;
        }
    }
}
