//! Connections as TCP makes them: a dial (SYN, SYN-ACK: refused by a host whose server is not
//! running, timed out across a partition, to a host without power, or when a handshake packet
//! is lost), the two sessions, segments delivered in order, FIN and RST.

use std::time::Duration;

use super::host::EndMeta;
use super::net::Payload;
use super::world::{Conn, EndState, Event, World};
use crate::link::{End, Session};
use crate::wire::Nonce;

impl World {
    /// A fresh handshake challenge from the network's random source.
    fn nonce(&mut self) -> Nonce {
        let mut n = [0u8; 16];
        self.rng.fill(&mut n);
        n
    }

    /// Server `s` dials neighbour `p` (`net::dial::dial_once`), unless it restarted since or
    /// the link came up meanwhile.
    pub(super) fn dial(&mut self, s: u32, p: u32, epoch: u32) {
        let now = self.now;
        let slot = &mut self.slots[s as usize];
        let Some(server) = slot.run.as_mut().filter(|_| slot.epoch == epoch) else {
            return;
        };
        let peer = &mut server.peers[p as usize];
        peer.dialer.waiting = None;
        if peer.live.is_some() {
            self.redial(s, p);
            return;
        }
        peer.dialer.first = false;
        let (t, link) = (peer.server, peer.link);
        let id = self.conns.len() as u32;
        peer.dialer.dialing = Some(id);
        self.conns.push(Some(Conn {
            servers: [s, t],
            epoch,
            link,
            peer: p,
            ends: [None, None],
            pipes: Default::default(),
            opened: false,
        }));
        self.ctx.stats.dials += 1;
        let base = self.latency[link as usize];
        let (there, back) = (
            self.opts.net.one_way(base, &mut self.rng),
            self.opts.net.one_way(base, &mut self.rng),
        );
        let lost = self.opts.net.lost(&mut self.rng) || self.opts.net.lost(&mut self.rng);
        let target = &self.slots[t as usize];
        if self.cut(s, t) || target.host_down || lost {
            // Unanswered SYNs: connect gives up after its deadline.
            let timeout = Duration::from_millis(self.timings.connect_timeout_ms);
            self.at(now + timeout, Event::ConnectFailed(id));
        } else if target.run.is_none() {
            // Nothing listens: the host answers the SYN with a RST.
            self.at(now + there + back, Event::ConnectFailed(id));
        } else {
            self.at(now + there, Event::Accept(id));
            self.at(now + there + back, Event::Connected(id));
        }
    }

    /// The SYN reached the acceptor: its accept loop starts an accepting session.
    pub(super) fn accept(&mut self, conn: u32) {
        let nonce = self.nonce();
        let now = self.now;
        let Some(c) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
            return;
        };
        let Some(server) = self.slots[c.servers[1] as usize].run.as_ref() else {
            return;
        };
        let session = Session::accept(server.settings.clone(), nonce, now);
        c.ends[1] = Some(EndState {
            session,
            meta: EndMeta::default(),
        });
        self.arm(conn, 1);
    }

    /// The dialer's connect returned: its session starts and sends HELLO.
    pub(super) fn connected(&mut self, conn: u32) {
        let nonce = self.nonce();
        let now = self.now;
        let Some(c) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
            return;
        };
        let (s, t, p) = (c.servers[0], c.servers[1], c.peer);
        let slot = &self.slots[s as usize];
        let dialer_here = slot.epoch == c.epoch && slot.run.is_some();
        if !dialer_here {
            // The dialer crashed meanwhile: its host resets the connection.
            c.opened = true;
            if c.ends[1].is_some() {
                let base = self.latency[c.link as usize];
                let back = self.opts.net.one_way(base, &mut self.rng);
                self.at(now + back, Event::Reset(conn, 1));
            } else {
                self.conns[conn as usize] = None;
            }
            return;
        }
        if c.ends[1].is_none() {
            // The acceptor crashed between the SYN and now.
            return self.connect_failed(conn);
        }
        let Some(server) = slot.run.as_ref() else {
            return;
        };
        let name = self.topo.names[t as usize].clone();
        let session = Session::dial(server.settings.clone(), name, nonce, now);
        c.opened = true;
        c.ends[0] = Some(EndState {
            session,
            meta: EndMeta {
                peer: Some(p as usize),
                ..EndMeta::default()
            },
        });
        self.after_call(conn, 0);
    }

    /// The dial failed before any session: the dialer counts a failure.
    pub(super) fn connect_failed(&mut self, conn: u32) {
        let Some(c) = self.conns.get_mut(conn as usize).and_then(Option::take) else {
            return;
        };
        self.ctx.stats.connect_failures += 1;
        let (s, p) = (c.servers[0], c.peer);
        let slot = &mut self.slots[s as usize];
        if slot.epoch != c.epoch {
            return;
        }
        if let Some(server) = slot.run.as_mut() {
            let dialer = &mut server.peers[p as usize].dialer;
            if dialer.dialing == Some(conn) {
                dialer.ended(super::server::Dialed::Failed, &self.timings);
                self.redial(s, p);
            }
        }
    }

    /// The head of pipe `dir` of `conn` arrives (unless a partition or a host without power
    /// is in the way): its bytes go to the receiving session in order, or, when that end is
    /// gone while its host runs, the host answers with a RST.
    pub(super) fn deliver(&mut self, conn: u32, dir: u8) {
        let now = self.now;
        let recv = 1 - dir;
        let Some(c) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
            return;
        };
        let (from, to) = (c.servers[dir as usize], c.servers[recv as usize]);
        let blocked = self.group[from as usize] != self.group[to as usize]
            || self.slots[to as usize].host_down;
        let base = self.latency[c.link as usize];
        let mut arrived = std::mem::take(&mut self.scratch);
        let next =
            c.pipes[dir as usize].arrive(now, blocked, base, &mut self.ctx.stats.net, &mut arrived);
        let end_open = c.ends[recv as usize].is_some();
        if let Some(at) = next {
            self.at(at, Event::Deliver(conn, dir));
        }
        for payload in arrived.drain(..) {
            match payload {
                Payload::Bytes(bytes) if end_open => {
                    self.trace.bytes(bytes.len());
                    self.with_session(conn, recv, |s, host| s.receive(&bytes, now, host));
                    self.recycle(bytes);
                }
                Payload::Fin if end_open => {
                    self.with_session(conn, recv, |s, host| s.received(0, now, host));
                }
                Payload::Bytes(_) => {
                    // Data for a socket that is closed: the host resets the connection.
                    let back = self.opts.net.one_way(base, &mut self.rng);
                    self.at(now + back, Event::Reset(conn, dir));
                }
                Payload::Fin => {}
            }
        }
        self.scratch = arrived;
        if end_open {
            self.after_call(conn, recv);
        }
    }

    /// A RST reaches end `side`: its session ends at once, and what was in flight to it is
    /// dropped.
    pub(super) fn reset(&mut self, conn: u32, side: u8) {
        let closed = self.with_session(conn, side, |s, _| {
            s.close(End::Io("connection reset by peer".into()))
        });
        if closed.is_none() {
            return;
        }
        if let Some(c) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) {
            c.pipes[1 - side as usize].clear();
        }
        self.close_end(conn, side, false);
    }

    /// Closes end `side` of `conn` (its session has ended): the link goes down if it was the
    /// live one, the dialer learns how its dial went, and the other end reads end of stream
    /// (`fin`) after what was sent before.
    pub fn close_end(&mut self, conn: u32, side: u8, fin: bool) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
            return;
        };
        let Some(end) = c.ends[side as usize].take() else {
            return;
        };
        let (s, dial_peer) = (c.servers[side as usize], c.peer);
        let other_open = c.ends[1 - side as usize].is_some();
        let (both_gone, opened) = (!other_open, c.opened);
        let why = end
            .session
            .end()
            .cloned()
            .unwrap_or(End::Local("closed".into()));
        *self.ctx.stats.ends.entry(kind(&why).into()).or_default() += 1;
        let mut wake = Vec::new();
        let mut resync = Vec::new();
        if let Some(server) = self.slots[s as usize].run.as_mut() {
            if let (Some(p), Some(g)) = (end.meta.peer, end.meta.generation) {
                if server.detach(p, g) {
                    wake.push(p);
                    // `net::Server::link_ended`: a copy another neighbour skipped because this
                    // link was to carry it may be lost with it, so the other links resync soon.
                    resync.extend(server.peers.iter().filter_map(|q| q.live));
                }
            }
            // Only the dialer has a dial to account for.
            let dialing = (side == 0).then(|| &mut server.peers[dial_peer as usize].dialer);
            if let Some(dialer) = dialing.filter(|d| d.dialing == Some(conn)) {
                // As `net::dial::dial_once` sorts them: superseded first (another connection
                // is the link, nothing failed), then how long it was up.
                let how = match (&why, end.meta.up_at) {
                    (End::Superseded, _) => super::server::Dialed::NotNeeded,
                    (_, Some(up)) => super::server::Dialed::Ended(now - up),
                    (_, None) => super::server::Dialed::Failed,
                };
                dialer.ended(how, &self.timings);
                wake.push(dial_peer as usize);
            }
        }
        for p in wake {
            self.redial(s, p as u32);
        }
        let delay = Duration::from_millis(self.timings.heartbeat_ms);
        for live in resync {
            let asked =
                self.with_session(live.conn, live.side, |s, _| s.request_resync(now, delay));
            if asked.is_some() {
                self.arm(live.conn, live.side);
            }
        }
        if fin && other_open {
            self.send(conn, side, Payload::Fin);
        }
        if both_gone && opened {
            self.conns[conn as usize] = None;
        }
    }

    /// Lets server `s`'s dialer for neighbour `p` decide whether and when to dial.
    pub fn redial(&mut self, s: u32, p: u32) {
        let now = self.now;
        let slot = &mut self.slots[s as usize];
        let epoch = slot.epoch;
        let Some(server) = slot.run.as_mut() else {
            return;
        };
        let peer = &mut server.peers[p as usize];
        let next = peer.dialer.next(
            peer.live.is_some(),
            peer.we_own,
            now,
            &self.timings,
            &mut self.rng,
        );
        if let Some(at) = next {
            self.at(
                at,
                Event::Dial {
                    server: s,
                    peer: p,
                    epoch,
                },
            );
        }
    }
}

/// A short name for how a connection ended, for the counters.
fn kind(end: &End) -> &'static str {
    match end {
        End::Closed => "closed by the other end",
        End::Silent(_) => "silent (heartbeats lost)",
        End::HandshakeTimeout(_) => "handshake timeout",
        End::AuthFailed(_) => "authentication failed",
        End::WrongServer { .. } => "wrong server",
        End::Refused(_) => "refused",
        End::Unexpected(_) => "unexpected message",
        End::Malformed(_) => "malformed update",
        End::Superseded => "superseded (owner rule)",
        End::Departed => "the neighbour said BYE",
        End::Local(_) => "closed locally",
        End::Io(_) => "reset",
        End::WriteStalled(_) => "write stalled",
    }
}
