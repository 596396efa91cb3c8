//! The hash of a run's whole event trace: every event processed (its time, its order and what
//! it was), the size of every delivery, and the final tables. Two runs with the same hash did
//! the same thing; SHA-256 (the `sha2` crate the handshake already uses) is a fixed function,
//! so the hash is comparable across builds.

use sha2::{Digest, Sha256};

use super::world::{Event, Scheduled};
use crate::state::Update;

/// Bytes buffered before they are hashed.
const CHUNK: usize = 64 * 1024;

/// The running hash.
pub struct Trace {
    /// What was hashed so far.
    hasher: Sha256,
    /// Bytes not hashed yet (hashing in large chunks is much faster than per event).
    buf: Vec<u8>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Trace {
        Trace {
            hasher: Sha256::new(),
            buf: Vec::with_capacity(CHUNK + 64),
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    /// An event is processed.
    pub fn event(&mut self, s: &Scheduled) {
        let (kind, a, b): (u8, u32, u32) = match s.event {
            Event::Client => (0, 0, 0),
            Event::Dial { server, peer, .. } => (1, server, peer),
            Event::Accept(c) => (2, c, 0),
            Event::Connected(c) => (3, c, 0),
            Event::ConnectFailed(c) => (4, c, 0),
            Event::Deliver(c, d) => (5, c, d.into()),
            Event::Timer(c, side) => (6, c, side.into()),
            Event::Reset(c, side) => (7, c, side.into()),
            Event::Linger(c, side) => (10, c, side.into()),
            Event::Fault(n) => (8, n, 0),
            Event::Settle => (9, 0, 0),
        };
        let mut rec = [0u8; 25];
        rec[..8].copy_from_slice(&(s.at.as_nanos() as u64).to_le_bytes());
        rec[8..16].copy_from_slice(&s.seq.to_le_bytes());
        rec[16] = kind;
        rec[17..21].copy_from_slice(&a.to_le_bytes());
        rec[21..25].copy_from_slice(&b.to_le_bytes());
        self.put(&rec);
    }

    /// A delivery of `n` bytes.
    pub fn bytes(&mut self, n: usize) {
        self.put(&(n as u64).to_le_bytes());
    }

    /// A server's final table.
    pub fn table(&mut self, table: &[Update]) {
        let mut lines: Vec<&[u8]> = table.iter().map(|u| &*u.at).collect();
        lines.sort_unstable();
        for l in lines {
            self.put(l);
            self.put(b"\n");
        }
    }

    /// The hash so far, as 64 hex digits.
    pub fn hex(&self) -> String {
        let mut h = self.hasher.clone();
        h.update(&self.buf);
        hex::encode(h.finalize())
    }
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}
