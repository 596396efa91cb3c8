//! The simulated herd and its event loop: one thread, virtual time, one seeded random source
//! per concern, events ordered by (time, sequence). Every step runs the real node and link
//! session code through [`SimHost`], then does what the step left: close superseded
//! connections, pump the links whose outboxes got updates, arm the sessions' timers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use super::check::Expect;
use super::clients::Clients;
use super::disk::Image;
use super::host::{EndMeta, SimHost};
use super::net::{Payload, Pipe};
use super::server::Server;
use super::topology::Topology;
use super::trace::Trace;
use super::track::Ctx;
use super::Options;
use crate::config::Timings;
use crate::link::{End, Session};

/// What happens at a point in virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// The next client IAMAT.
    Client,
    /// Server `server` dials its neighbour number `peer` (if it still runs as `epoch`).
    Dial {
        /// The dialing server.
        server: u32,
        /// Its neighbour, by index.
        peer: u32,
        /// The run of the server that scheduled it.
        epoch: u32,
    },
    /// The SYN reaches the acceptor: it accepts.
    Accept(u32),
    /// The dialer's connect returns: its session starts.
    Connected(u32),
    /// The dial did not connect (refused or timed out).
    ConnectFailed(u32),
    /// The head of a pipe (connection, direction = sending side) arrives.
    Deliver(u32, u8),
    /// A session timer (connection, side).
    Timer(u32, u8),
    /// A reset reaches one end (connection, side).
    Reset(u32, u8),
    /// A replaced connection's end closes itself unless the neighbour closed it (connection,
    /// side).
    Linger(u32, u8),
    /// Fault number `n` of the schedule.
    Fault(u32),
    /// Is the herd healed and quiet yet?
    Settle,
}

/// An event in the queue, ordered by time, then by when it was scheduled.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scheduled {
    /// When.
    pub at: Duration,
    /// Scheduling order, which breaks ties.
    pub seq: u64,
    /// What.
    pub event: Event,
}

/// One end of a connection.
#[derive(Debug)]
pub struct EndState {
    /// The real link session.
    pub session: Session,
    /// What the simulator keeps beside it.
    pub meta: EndMeta,
}

/// A connection between two servers: end 0 dialed, end 1 accepted.
#[derive(Debug)]
pub struct Conn {
    /// The dialer and the acceptor.
    pub servers: [u32; 2],
    /// The dialer's run when it dialed (a restarted dialer has no part of it).
    pub epoch: u32,
    /// The topology link it runs over.
    pub link: u32,
    /// The dialer's neighbour index for the acceptor.
    pub peer: u32,
    /// The ends, while they are open.
    pub ends: [Option<EndState>; 2],
    /// `pipes[d]` carries bytes from end `d` to the other.
    pub pipes: [Pipe; 2],
    /// The dialer's connect returned (before that, the dialer waits on the connection even
    /// while it has no end: it may go only through `connected` or `connect_failed`).
    pub opened: bool,
}

/// A server crashed, until it restarts.
#[derive(Debug)]
pub struct Down {
    /// What its data folder held after the crash, if it keeps one and it was not wiped.
    pub image: Option<Image>,
    /// A power loss (unsynced writes lost, nothing answers) rather than a process kill.
    pub power: bool,
    /// Its table at the crash (AT lines in client order), to check what the replay restores.
    pub table: Vec<Arc<[u8]>>,
}

/// A server of the herd, running or not.
#[derive(Debug)]
pub struct Slot {
    /// The running server.
    pub run: Option<Server>,
    /// Why it is not running.
    pub down: Option<Down>,
    /// Bumped at every crash, so events of a previous run are ignored.
    pub epoch: u32,
    /// Nothing at its address answers (power loss): packets to it are lost, not refused.
    pub host_down: bool,
}

/// The whole simulation.
pub struct World {
    /// What was asked for.
    pub opts: Options,
    /// The herd's graph.
    pub topo: Topology,
    /// Its timings (heartbeat, silence, back-off, deadlines).
    pub timings: Timings,
    /// Most clients a table holds.
    pub max_clients: usize,
    /// The link frame limit.
    pub max_frame: usize,
    /// Data folders compact when the log holds this many times the table.
    pub compact_factor: usize,
    /// The herd secret that keys the handshake MACs.
    pub secret: std::sync::Arc<[u8]>,
    /// Each link's base one-way latency.
    pub latency: Vec<Duration>,
    /// Each link's ends: (server, its neighbour index for the other).
    pub link_ends: Vec<[(u32, u32); 2]>,
    /// Servers by index.
    pub slots: Vec<Slot>,
    /// Connections by id (ids are never reused).
    pub conns: Vec<Option<Conn>>,
    /// Pending events.
    pub queue: BinaryHeap<Reverse<Scheduled>>,
    /// Events scheduled so far.
    pub seq: u64,
    /// Virtual time.
    pub now: Duration,
    /// Random source of the network (delays, loss, nonces, back-off jitter).
    pub rng: fastrand::Rng,
    /// Random source of the faults (when, where).
    pub rng_faults: fastrand::Rng,
    /// The clients and their random source.
    pub clients: Clients,
    /// Counters, spread, and a step's leftovers.
    pub ctx: Ctx,
    /// Everything accepted, for the final check.
    pub expect: Expect,
    /// Hash of every event processed.
    pub trace: Trace,
    /// Partition group of each server (all 0 when healed).
    pub group: Vec<u8>,
    /// Faults still to happen.
    pub faults_pending: u32,
    /// The faults, by schedule index.
    pub faults: Vec<(Duration, super::faults::Fault)>,
    /// The run is over (settled, or a violation).
    pub done: bool,
    /// When the herd was found healed and quiet.
    pub settled_at: Option<Duration>,
    /// Reused by deliveries.
    pub scratch: Vec<Payload>,
    /// Segment buffers to reuse (delivered segments come back here).
    pub pool: Vec<Vec<u8>>,
}

impl World {
    /// Schedules `event` at `at`.
    pub fn at(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            event,
        }));
    }

    /// True when `a` and `b` are on different sides of a partition.
    pub fn cut(&self, a: u32, b: u32) -> bool {
        self.group[a as usize] != self.group[b as usize]
    }

    /// Runs until the herd settles, a violation, or the queue runs dry.
    pub fn run(&mut self) {
        while let Some(Reverse(s)) = self.queue.pop() {
            self.now = s.at;
            self.ctx.stats.events += 1;
            self.trace.event(&s);
            self.handle(s.event);
            self.leftovers();
            if self.ctx.violation.is_some() || self.done {
                return;
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Client => self.client(),
            Event::Dial {
                server,
                peer,
                epoch,
            } => self.dial(server, peer, epoch),
            Event::Accept(c) => self.accept(c),
            Event::Connected(c) => self.connected(c),
            Event::ConnectFailed(c) => self.connect_failed(c),
            Event::Deliver(c, d) => self.deliver(c, d),
            Event::Timer(c, side) => self.timer(c, side),
            Event::Reset(c, side) => self.reset(c, side),
            Event::Linger(c, side) => self.linger(c, side),
            Event::Fault(n) => self.fault(n),
            Event::Settle => self.settle(),
        }
    }

    /// Runs `f` on the session of end `side` of `conn` with its host.
    pub fn with_session<R>(
        &mut self,
        conn: u32,
        side: u8,
        f: impl FnOnce(&mut Session, &mut SimHost<'_>) -> R,
    ) -> Option<R> {
        let World {
            slots,
            conns,
            ctx,
            topo,
            now,
            ..
        } = self;
        let c = conns.get_mut(conn as usize)?.as_mut()?;
        let other = c.servers[1 - side as usize];
        let end = c.ends[side as usize].as_mut()?;
        let server = slots[c.servers[side as usize] as usize].run.as_mut()?;
        let mut host = SimHost {
            server,
            meta: &mut end.meta,
            names: &topo.names,
            ctx,
            conn,
            side,
            other,
            now: *now,
            catch_up_left: 0,
            filling: false,
        };
        Some(f(&mut end.session, &mut host))
    }

    /// After a session was called: close it if it ended, else send what it wants to send.
    pub fn after_call(&mut self, conn: u32, side: u8) {
        if !self.pump(conn, side) {
            self.close_end(conn, side, true);
        }
    }

    /// Fills the session with waiting updates, puts its output on the wire, arms its timer;
    /// false (and nothing sent) when the session has ended.
    pub fn pump(&mut self, conn: u32, side: u8) -> bool {
        let mut bytes = self.pool.pop().unwrap_or_default();
        let open = self.with_session(conn, side, |session, host| {
            if session.end().is_some() {
                return false;
            }
            host.catch_up_left = session.catch_up_waiting();
            host.filling = true;
            session.fill(host);
            bytes.extend_from_slice(session.output());
            session.consumed(bytes.len());
            true
        });
        if open != Some(true) {
            self.pool.push(bytes);
            return open.is_none();
        }
        if bytes.is_empty() {
            self.pool.push(bytes);
        } else {
            self.send(conn, side, Payload::Bytes(bytes));
        }
        self.arm(conn, side);
        true
    }

    /// Keeps a delivered segment's buffer for a later one (up to a bound, and not the
    /// largest ones, so that the pool never holds much).
    pub fn recycle(&mut self, mut bytes: Vec<u8>) {
        if self.pool.len() < 1024 && bytes.capacity() <= 16 * 1024 {
            bytes.clear();
            self.pool.push(bytes);
        }
    }

    /// Sends `payload` from end `side` of `conn`.
    pub fn send(&mut self, conn: u32, side: u8, payload: Payload) {
        let World {
            conns,
            latency,
            opts,
            rng,
            ctx,
            now,
            ..
        } = self;
        let Some(c) = conns.get_mut(conn as usize).and_then(Option::as_mut) else {
            return;
        };
        let base = latency[c.link as usize];
        let due =
            c.pipes[side as usize].send(payload, *now, base, &opts.net, rng, &mut ctx.stats.net);
        if let Some(at) = due {
            self.at(at, Event::Deliver(conn, side));
        }
    }

    /// Schedules the session's next timer if it is earlier than the one armed.
    pub fn arm(&mut self, conn: u32, side: u8) {
        let Some(c) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
            return;
        };
        let Some(end) = c.ends[side as usize].as_mut() else {
            return;
        };
        let Some(next) = end.session.next_timer() else {
            return;
        };
        if end.meta.armed.is_none_or(|a| next < a) {
            end.meta.armed = Some(next);
            self.at(next, Event::Timer(conn, side));
        }
    }

    fn timer(&mut self, conn: u32, side: u8) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
            return;
        };
        let Some(end) = c.ends[side as usize].as_mut() else {
            return;
        };
        if end.meta.armed != Some(now) {
            return;
        }
        end.meta.armed = None;
        self.with_session(conn, side, |s, host| s.on_timer(now, host));
        self.after_call(conn, side);
    }

    /// A connection replaced as the live link and left for the neighbour to close: if it is
    /// still open and still not the live one, it closes itself (as `net::drive` does after the
    /// silence timeout).
    fn linger(&mut self, conn: u32, side: u8) {
        let replaced = self.with_session(conn, side, |s, host| {
            let live = host.meta.peer.and_then(|p| host.server.peers[p].live);
            let still = live.map(|l| l.generation) != host.meta.generation;
            if still {
                s.close(End::Superseded);
            }
            still
        });
        if replaced == Some(true) {
            self.close_end(conn, side, true);
        }
    }

    /// What a step left: close the connections it superseded, pump the links it queued
    /// updates for.
    fn leftovers(&mut self) {
        while let Some((conn, side)) = self.ctx.kills.pop() {
            let closed = self.with_session(conn, side, |s, _| s.close(End::Superseded));
            if closed.is_some() {
                self.close_end(conn, side, true);
            }
        }
        let linger = Duration::from_millis(self.timings.peer_timeout_ms);
        while let Some((conn, side)) = self.ctx.lingers.pop() {
            self.at(self.now + linger, Event::Linger(conn, side));
        }
        while !self.ctx.dirty.is_empty() {
            let mut dirty = std::mem::take(&mut self.ctx.dirty);
            for &(s, p) in &dirty {
                let live = self.slots[s as usize].run.as_mut().and_then(|server| {
                    let peer = &mut server.peers[p as usize];
                    peer.dirty = false;
                    peer.live
                });
                if let Some(live) = live {
                    self.after_call(live.conn, live.side);
                }
            }
            dirty.clear();
            if self.ctx.dirty.is_empty() {
                // Keep the allocation for the next step.
                self.ctx.dirty = dirty;
            }
        }
    }
}
