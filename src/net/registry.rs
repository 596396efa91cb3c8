//! The connections a server has open, as the console sees them, and the means to close one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::events::ConnKind;
use crate::sync::lock;

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

/// Why this side closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kill {
    /// Not closed by this side.
    None = 0,
    /// The operator dropped it.
    Operator = 1,
    /// The operator cut its link.
    Cut = 2,
    /// Another connection for the same link won.
    Superseded = 3,
}

impl Kill {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Kill::Operator,
            2 => Kill::Cut,
            3 => Kill::Superseded,
            _ => Kill::None,
        }
    }
}

/// One open connection.
#[derive(Debug)]
pub struct ConnInfo {
    /// Server-unique id.
    pub id: u64,
    /// Remote address.
    pub addr: SocketAddr,
    /// Client (client port) or neighbour (peer port).
    kind: ConnKind,
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
    /// A [`Kill`] as u8: why this side closed it.
    killed_for: AtomicU8,
    /// Closing this ends the connection at its task's next poll.
    kill: async_channel::Sender<()>,
}

impl ConnInfo {
    /// Notes traffic now.
    pub fn touch(&self) {
        let ms = self.opened.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
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

    /// Client or neighbour.
    pub fn kind(&self) -> ConnKind {
        self.kind
    }

    /// Time since the last traffic.
    pub fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }

    /// Ends the connection at its task's next poll; the first reason given stays.
    pub fn kill(&self, why: Kill) {
        let _ = self.killed_for.compare_exchange(
            Kill::None as u8,
            why as u8,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.kill.close();
    }

    /// Why this side closed it.
    pub fn killed_for(&self) -> Kill {
        Kill::from_u8(self.killed_for.load(Ordering::Relaxed))
    }
}

/// The open connections of one server.
#[derive(Debug, Default)]
pub struct Registry {
    /// Open connections by id.
    conns: Mutex<HashMap<u64, Arc<ConnInfo>>>,
    /// Last id handed out.
    next: AtomicU64,
    /// Open client connections, for the connection cap (an atomic, not a scan per accept).
    clients: AtomicUsize,
    /// Open peer-port connections, for their cap.
    peers: AtomicUsize,
}

impl Registry {
    /// Registers a new connection; the receiver closes when it is killed.
    pub fn add(
        &self,
        addr: SocketAddr,
        kind: ConnKind,
    ) -> (Arc<ConnInfo>, async_channel::Receiver<()>) {
        let (kill, killed) = async_channel::bounded(1);
        let info = Arc::new(ConnInfo {
            id: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            addr,
            kind,
            opened: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            lines_in: AtomicU64::new(0),
            lines_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            last_command: AtomicU8::new(0),
            killed_for: AtomicU8::new(0),
            kill,
        });
        self.counter(kind).fetch_add(1, Ordering::Relaxed);
        lock(&self.conns).insert(info.id, info.clone());
        (info, killed)
    }

    /// Forgets a connection.
    pub fn remove(&self, info: &ConnInfo) {
        if lock(&self.conns).remove(&info.id).is_some() {
            self.counter(info.kind).fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn counter(&self, kind: ConnKind) -> &AtomicUsize {
        match kind {
            ConnKind::Client => &self.clients,
            ConnKind::Peer => &self.peers,
        }
    }

    /// Open connections of `kind`.
    pub fn count(&self, kind: ConnKind) -> usize {
        self.counter(kind).load(Ordering::Relaxed)
    }

    /// Every open connection, by id.
    pub fn list(&self) -> Vec<Arc<ConnInfo>> {
        let mut v: Vec<_> = lock(&self.conns).values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// The connection `id`.
    pub fn get(&self, id: u64) -> Option<Arc<ConnInfo>> {
        lock(&self.conns).get(&id).cloned()
    }
}
