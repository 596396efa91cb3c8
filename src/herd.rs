//! Several servers of one config in one process: the demo, the console's herd view, and tests.
//!
//! With `ephemeral` every server binds `127.0.0.1:0` and the neighbours learn the real ports,
//! so tests never collide with each other or with a herd already running on the machine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::net::{self, Listeners, Server, ServerHandle, ServerSpec};
use crate::places::Guarded;
use crate::rt;
use crate::sync::lock;

/// A herd running in this process.
pub struct LocalHerd {
    /// The herd's config.
    pub config: Arc<Config>,
    /// Where each server listens for clients (the real ports when ephemeral).
    addrs: HashMap<String, SocketAddr>,
    /// Where each server listens for neighbours (the real ports when ephemeral).
    peer_addrs: HashMap<String, SocketAddr>,
    /// The Places provider every server shares.
    places: Arc<Guarded>,
    /// The servers running now.
    running: Mutex<HashMap<String, ServerHandle>>,
}

impl LocalHerd {
    /// Starts every server of `config`; with `ephemeral`, on fresh loopback ports.
    pub async fn start(
        config: Config,
        places: Arc<Guarded>,
        ephemeral: bool,
    ) -> std::io::Result<LocalHerd> {
        let config = Arc::new(config);
        let mut listeners = Vec::new();
        let mut addrs = HashMap::new();
        let mut peer_addrs = HashMap::new();
        for s in &config.servers {
            let (client, peer) = if ephemeral {
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                (any, any)
            } else {
                let bad = || std::io::Error::other(format!("bad address for {}", s.name));
                (
                    config.addr(&s.name).ok_or_else(bad)?,
                    config.peer_addr(&s.name).ok_or_else(bad)?,
                )
            };
            let l = Listeners::bind(client, peer)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", s.name)))?;
            addrs.insert(s.name.clone(), l.client.local_addr()?);
            peer_addrs.insert(s.name.clone(), dialable(l.peer.local_addr()?));
            listeners.push((s.name.clone(), l));
        }
        let herd = LocalHerd {
            config,
            addrs,
            peer_addrs,
            places,
            running: Mutex::new(HashMap::new()),
        };
        for (name, l) in listeners {
            let h = net::start_on(herd.spec(&name), l)?;
            lock(&herd.running).insert(name, h);
        }
        Ok(herd)
    }

    fn spec(&self, name: &str) -> ServerSpec {
        ServerSpec {
            name: name.to_string(),
            config: self.config.clone(),
            neighbour_addrs: self.peer_addrs.clone(),
            places: self.places.clone(),
        }
    }

    /// The server names, in config order.
    pub fn names(&self) -> Vec<String> {
        self.config.servers.iter().map(|s| s.name.clone()).collect()
    }

    /// Where `name` listens for clients.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.get(name).copied()
    }

    /// Where `name` listens for neighbours.
    pub fn peer_addr(&self, name: &str) -> Option<SocketAddr> {
        self.peer_addrs.get(name).copied()
    }

    /// The running server `name`, if it runs.
    pub fn server(&self, name: &str) -> Option<Arc<Server>> {
        lock(&self.running).get(name).map(|h| h.server.clone())
    }

    /// Stops server `name` as a crash would look to its neighbours (its links drop); false if
    /// it was not running.
    pub async fn stop_server(&self, name: &str) -> bool {
        let handle = lock(&self.running).remove(name);
        match handle {
            Some(h) => {
                h.shutdown().await;
                true
            }
            None => false,
        }
    }

    /// Starts server `name` again on its address: it reloads its data folder when the config
    /// has one (else it starts empty), then catches up from its neighbours as its links come up.
    pub async fn start_server(&self, name: &str) -> std::io::Result<()> {
        if lock(&self.running).contains_key(name) {
            return Ok(());
        }
        let (Some(addr), Some(peer)) = (self.addr(name), self.peer_addr(name)) else {
            return Err(std::io::Error::other(format!("no server {name}")));
        };
        // The stopped instance's listener may take a moment to close under load: retry a
        // taken address for a bounded time.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let h = loop {
            match net::start(self.spec(name), addr, peer).await {
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse
                        && std::time::Instant::now() < give_up =>
                {
                    rt::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => break other?,
            }
        };
        lock(&self.running).insert(name.to_string(), h);
        Ok(())
    }

    /// Cuts the link between `a` and `b` on both sides; false if there is no such link.
    pub fn cut_link(&self, a: &str, b: &str) -> bool {
        self.each_side(a, b, |s, other| {
            if let Some(p) = s.peer(other) {
                p.cut()
            }
        })
    }

    /// Restores a cut link on both sides.
    pub fn restore_link(&self, a: &str, b: &str) -> bool {
        self.each_side(a, b, |s, other| {
            if let Some(p) = s.peer(other) {
                p.restore()
            }
        })
    }

    fn each_side(&self, a: &str, b: &str, f: impl Fn(&Server, &str)) -> bool {
        if !self.config.neighbours(a).iter().any(|n| n == b) {
            return false;
        }
        for (x, y) in [(a, b), (b, a)] {
            if let Some(s) = self.server(x) {
                f(&s, y);
            }
        }
        true
    }

    /// Stops every server.
    pub async fn shutdown(&self) {
        let all: Vec<ServerHandle> = lock(&self.running).drain().map(|(_, h)| h).collect();
        for h in all {
            h.shutdown().await;
        }
    }
}

/// The address to dial for a listener bound to `addr`: loopback when it binds every interface
/// (every server of an in-process herd is on this machine).
fn dialable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}
