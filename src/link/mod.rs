//! A neighbour link's session, sans IO: one per connection, created when the connection opens
//! and dropped with it, so nothing of one connection (an owed PONG, a half-compared summary, a
//! catch-up queue) can leak into the next.
//!
//! Input: bytes received ([`Session::recv_buf`] then [`Session::received`]), timer expiries
//! ([`Session::on_timer`]), and updates to send (pulled from the [`Host`] by
//! [`Session::fill`]). Output: bytes to write ([`Session::output`]), the next timer
//! ([`Session::next_timer`]), calls into the [`Host`] (an update arrived, the link is up, a
//! frame was skipped), and how the link ended ([`End`]). Time is a [`Duration`] since any fixed
//! origin the driver picks; the session never reads a clock, a socket or a random source (the
//! nonce comes in as an argument).
//!
//! The protocol (see [`crate::wire`]): the dialer sends HELLO, the acceptor answers WELCOME, the
//! dialer sends PROOF; then both send a SUMMARY of their table, push the entries of the buckets
//! where the other's summary differs (catch-up), and from then on UPDATEs as the host floods
//! them, with PING/PONG heartbeats.

mod end;
mod flow;
mod handshake;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::digest::{Digest, Reconcile};
use crate::frame::{Framed, LineBuf, Overlong};
use crate::outbox::Outgoing;
use crate::wire::{self, Nonce, PeerMsg};

use end::escaped;
pub use end::End;
use handshake::Handshake;

/// Updates encoded per batch.
const BATCH: usize = 512;

/// Output bytes waiting past which the session takes no more updates.
const HIGH_WATER: usize = 64 * 1024;

/// What every session of one server shares.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This server's name.
    pub name: Arc<str>,
    /// This server's incarnation (random at every start).
    pub incarnation: u64,
    /// The herd secret that keys the handshake MACs (empty when none is configured).
    pub secret: Arc<[u8]>,
    /// A PING goes out this often.
    pub heartbeat: Duration,
    /// A link that hears nothing for this long ends.
    pub silence: Duration,
    /// The handshake must complete within this long.
    pub handshake: Duration,
    /// The longest frame the link carries (see [`crate::wire::max_frame`]); longer ones are
    /// skipped, not fatal.
    pub max_frame: usize,
    /// A link sends its summary again this often, so that anything a lost connection or a
    /// skipped copy kept from the neighbour reaches it anyway.
    pub resync: Duration,
}

/// What the session needs from the server it belongs to.
pub trait Host {
    /// Acceptor: a HELLO from `from`; `Ok` to answer it, `Err(reason)` to refuse.
    fn admit(&mut self, from: &str, incarnation: u64) -> Result<(), String>;
    /// The handshake is complete: make this connection the live link to `neighbour` and return
    /// the summary of the table, computed after that (so every update is either in the summary
    /// or flooded on the link); `Err` when this connection must not become the link.
    fn up(&mut self, neighbour: &str, incarnation: u64) -> Result<Digest, End>;
    /// An UPDATE arrived: its AT line, and how it travels (`via`, see [`crate::wire`]; empty
    /// when it says nothing); `Err(reason)` if it is malformed (the link ends).
    fn update(&mut self, at: &[u8], via: &[u8]) -> Result<(), String>;
    /// Every update held now with its digest hashes, to compare with the neighbour's summary.
    fn snapshot(&mut self) -> Vec<crate::state::Hashed>;
    /// The summary of the table now, for a periodic or requested resync.
    fn summary(&mut self) -> Digest;
    /// At most `max` flooded updates waiting for this neighbour.
    fn take_updates(&mut self, max: usize) -> Vec<Outgoing>;
    /// A batch of updates (flooded or catch-up) was encoded for sending.
    fn sent(&mut self, batch: &[Outgoing]);
    /// Catch-up: a run of the neighbour's summary was compared; `queued` entries differ.
    fn compared(&mut self, queued: usize, done: bool);
    /// Catch-up bytes: our summary and the entries we push (`sent`), or the neighbour's
    /// summary (received; the entries it pushes look like any update).
    fn catch_up_bytes(&mut self, sent: bool, bytes: usize);
    /// A heartbeat's round trip.
    fn rtt(&mut self, rtt: Duration);
    /// A frame over the limit was dropped.
    fn skipped(&mut self, bytes: usize);
}

/// One connection of a neighbour link.
#[derive(Debug)]
pub struct Session {
    /// Shared settings.
    settings: Arc<Settings>,
    /// Handshake progress, then the neighbour once up.
    state: Handshake,
    /// Incoming bytes, framed.
    frames: LineBuf,
    /// The current line, copied out of `frames` while it is handled.
    scratch: Vec<u8>,
    /// Bytes to write are `out[out_pos..]`.
    out: Vec<u8>,
    /// Bytes of `out` already written.
    out_pos: usize,
    /// When the session began (the handshake deadline counts from here).
    started: Duration,
    /// When anything was last received.
    last_heard: Duration,
    /// When the next PING is due (once up).
    next_ping: Duration,
    /// The last PING sent and when.
    ping: Option<(u64, Duration)>,
    /// PINGs sent.
    seq: u64,
    /// Our table regrouped at the neighbour's summary granularity, while its summary arrives.
    reconcile: Option<Reconcile>,
    /// Entries whose buckets differ, waiting to be sent (ahead of floods).
    catch_up: VecDeque<crate::state::Update>,
    /// When our summary goes out again (once up).
    next_resync: Duration,
    /// How it ended, once it has.
    end: Option<End>,
}

impl Session {
    /// The dialing side of a connection to `neighbour`; HELLO is queued at once.
    pub fn dial(
        settings: Arc<Settings>,
        neighbour: Arc<str>,
        nonce: Nonce,
        now: Duration,
    ) -> Session {
        let mut s = Session::new(
            settings,
            Handshake::AwaitWelcome {
                neighbour: neighbour.clone(),
                nonce,
            },
            now,
        );
        let hello = PeerMsg::Hello {
            from: &s.settings.name,
            to: &neighbour,
            incarnation: s.settings.incarnation,
            nonce,
        };
        wire::encode(&hello, &mut s.out);
        s
    }

    /// The accepting side; it waits for a HELLO.
    pub fn accept(settings: Arc<Settings>, nonce: Nonce, now: Duration) -> Session {
        Session::new(settings, Handshake::AwaitHello { nonce }, now)
    }

    fn new(settings: Arc<Settings>, state: Handshake, now: Duration) -> Session {
        let frames = LineBuf::new(settings.max_frame, Overlong::Skip);
        Session {
            settings,
            state,
            frames,
            scratch: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            started: now,
            last_heard: now,
            next_ping: now,
            ping: None,
            seq: 0,
            reconcile: None,
            catch_up: VecDeque::new(),
            next_resync: now,
            end: None,
        }
    }

    /// The neighbour, once the handshake is complete.
    pub fn neighbour(&self) -> Option<&Arc<str>> {
        match &self.state {
            Handshake::Up { neighbour, .. } => Some(neighbour),
            _ => None,
        }
    }

    /// How the session ended, once it has; nothing more is read or sent after that.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// Ends the session for a reason found outside it (a socket error, a stop); the first
    /// reason stays.
    pub fn close(&mut self, end: End) {
        self.end.get_or_insert(end);
    }

    /// This server is shutting down: a last `BYE` (after whatever is waiting) tells the
    /// neighbour the link going down is expected. Nothing is read or sent after it.
    pub fn say_bye(&mut self) {
        if self.end.is_none() && self.is_up() {
            wire::encode(&PeerMsg::Bye, &mut self.out);
        }
        self.close(End::Local("server stopping".into()));
    }

    /// Room to read into; then call [`received`](Self::received).
    pub fn recv_buf(&mut self) -> &mut [u8] {
        self.frames.spare()
    }

    /// `n` bytes arrived in [`recv_buf`](Self::recv_buf) (0: the neighbour closed).
    pub fn received(&mut self, n: usize, now: Duration, host: &mut dyn Host) {
        if self.end.is_some() {
            return;
        }
        if n == 0 {
            self.close(End::Closed);
            return;
        }
        self.frames.commit(n);
        self.last_heard = now;
        self.handle_lines(now, host);
    }

    /// Copies `bytes` in as if read (tests and the simulator).
    pub fn receive(&mut self, mut bytes: &[u8], now: Duration, host: &mut dyn Host) {
        while !bytes.is_empty() && self.end.is_none() {
            let spare = self.recv_buf();
            let n = spare.len().min(bytes.len());
            spare[..n].copy_from_slice(&bytes[..n]);
            self.received(n, now, host);
            bytes = &bytes[n..];
        }
    }

    fn handle_lines(&mut self, now: Duration, host: &mut dyn Host) {
        while self.end.is_none() {
            match self.frames.next_line() {
                None => return,
                Some(Framed::Line(r)) => {
                    let mut line = std::mem::take(&mut self.scratch);
                    line.clear();
                    line.extend_from_slice(self.frames.line(r));
                    self.handle_line(&line, now, host);
                    self.scratch = line;
                }
                Some(Framed::Skipped(_) | Framed::TooLong) if !self.is_up() => {
                    self.close(End::Unexpected(format!(
                        "a line longer than {} bytes during the handshake",
                        self.settings.max_frame
                    )));
                }
                Some(Framed::Skipped(bytes)) => host.skipped(bytes),
                // Never with `Overlong::Skip`.
                Some(Framed::TooLong) => {}
            }
        }
    }

    fn is_up(&self) -> bool {
        matches!(self.state, Handshake::Up { .. })
    }

    fn handle_line(&mut self, line: &[u8], now: Duration, host: &mut dyn Host) {
        if !self.is_up() {
            match handshake::step(&mut self.state, &self.settings, line, host) {
                Ok(handshake::Reply::Send(msg)) => self.out.extend_from_slice(&msg),
                Ok(handshake::Reply::SendThenUp(msg, incarnation)) => {
                    self.out.extend_from_slice(&msg);
                    self.established(incarnation, now, host);
                }
                Ok(handshake::Reply::Up(incarnation)) => self.established(incarnation, now, host),
                Err(end) => self.close(end),
            }
            return;
        }
        match wire::decode(line) {
            Some(PeerMsg::Update { via, at }) => {
                if let Err(why) = host.update(at, via) {
                    self.close(End::Malformed(format!("{why}: {}", escaped(at))));
                }
            }
            Some(PeerMsg::Summary {
                bits,
                first,
                hashes,
            }) => {
                host.catch_up_bytes(false, line.len() + 1);
                self.compare(bits, first, &hashes, host);
            }
            Some(PeerMsg::Ping(n)) => wire::encode(&PeerMsg::Pong(n), &mut self.out),
            Some(PeerMsg::Bye) => self.close(End::Departed),
            Some(PeerMsg::Pong(n)) => {
                if let Some((seq, at)) = self.ping {
                    if seq == n {
                        host.rtt(now.saturating_sub(at));
                        self.ping = None;
                    }
                }
            }
            _ => self.close(End::Unexpected(escaped(line))),
        }
    }

    /// The handshake completed: register with the host, send our summary and a first PING.
    fn established(&mut self, incarnation: u64, now: Duration, host: &mut dyn Host) {
        let Handshake::Up { neighbour, .. } = &self.state else {
            return;
        };
        let neighbour = neighbour.clone();
        let summary = match host.up(&neighbour, incarnation) {
            Ok(s) => s,
            Err(end) => return self.close(end),
        };
        self.send_summary(&summary, host);
        self.last_heard = now;
        self.next_resync = now + self.settings.resync;
        self.ping(now);
    }

    fn ping(&mut self, now: Duration) {
        self.seq += 1;
        self.ping = Some((self.seq, now));
        wire::encode(&PeerMsg::Ping(self.seq), &mut self.out);
        self.next_ping = now + self.settings.heartbeat;
    }

    /// When [`on_timer`](Self::on_timer) must run next.
    pub fn next_timer(&self) -> Option<Duration> {
        if self.end.is_some() {
            return None;
        }
        if self.is_up() {
            let next = self.next_ping.min(self.next_resync);
            Some(next.min(self.last_heard + self.settings.silence))
        } else {
            Some(self.started + self.settings.handshake)
        }
    }

    /// Time has come to `now`: end a handshake or a link that went quiet, send a due PING or
    /// a due summary.
    pub fn on_timer(&mut self, now: Duration, host: &mut dyn Host) {
        if self.end.is_some() {
            return;
        }
        if !self.is_up() {
            if now >= self.started + self.settings.handshake {
                self.close(End::HandshakeTimeout(self.settings.handshake));
            }
            return;
        }
        if now >= self.last_heard + self.settings.silence {
            self.close(End::Silent(self.settings.silence));
            return;
        }
        if now >= self.next_ping {
            self.ping(now);
        }
        if now >= self.next_resync {
            let summary = host.summary();
            self.send_summary(&summary, host);
            self.next_resync = now + self.settings.resync;
        }
    }

    /// Bytes waiting to be written.
    pub fn output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// `n` bytes of [`output`](Self::output) were written.
    pub fn consumed(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
    }
}
