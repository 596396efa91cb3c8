//! The network edge: the two listeners, client connections, neighbour links, the tasks that
//! keep them. Only this module and `rt` spawn tasks or touch sockets; what a line or an update
//! means is the node's ([`crate::node`]), and what a link says is its session's
//! ([`crate::link`]).
//!
//! - `start`: bind, reload, spawn. `listen`: the accept loops of both ports.
//! - `client`: one task per client connection (framing, deadlines, writes).
//! - `neighbour`: [`PeerLink`], one per neighbour for the server's life (outbox, counters,
//!   the operator's cut, which connection is live).
//! - `dial`: one task per neighbour that dials it. `drive`: one task per link connection that
//!   runs its session over the socket.
//! - `server`: [`Server`], the shared state, and the effects tasks perform.
//! - `tls`: the socket under a link, plain TCP or TLS (the HELLO checked against the
//!   dialer's certificate).
//! - `registry`, `lines`, `stop`: connections, client framing, shutdown.

mod client;
mod dial;
mod drive;
mod lines;
mod listen;
mod neighbour;
mod registry;
mod server;
mod start;
mod stop;
mod tls;

pub use lines::LineReader;
pub use neighbour::{PeerLink, PeerStatus};
pub use registry::{ConnInfo, Kill, LastCommand};
pub use server::{Server, Stats};
pub use start::{start, start_on, Listeners, ServerHandle, ServerSpec};
pub use stop::{channel as stop_channel, Stop, StopHandle, TaskGuard, Tasks};

use crate::rt;
use crate::wire::Nonce;

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

/// A fresh handshake challenge.
fn nonce() -> Nonce {
    let mut n = [0u8; 16];
    if getrandom::fill(&mut n).is_err() {
        n[..8].copy_from_slice(&random_u64().to_le_bytes());
        n[8..].copy_from_slice(&random_u64().rotate_left(17).to_le_bytes());
    }
    n
}
