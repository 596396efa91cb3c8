//! Runs one link connection in one task: a [`Session`] over a socket. The task reads, writes,
//! and keeps the session's timers by polling all of them itself, so reading never waits for a
//! write (two neighbours pushing catch-up at each other cannot deadlock) and the session needs
//! no lock. It is the only code that touches a link's socket.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{AcqRel, Relaxed, Release};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::{ArcWake, AtomicWaker};
use futures::{AsyncRead, AsyncWrite, Stream};

use super::neighbour::PeerLink;
use super::registry::{ConnInfo, Kill};
use super::Server;
use crate::digest::Digest;
use crate::events::{Dir, EventKind, LinkState};
use crate::link::{End, Host, Session};
use crate::outbox::Outgoing;
use crate::rt;
use crate::state::Hashed;

/// Rounds of work one poll may do before it lets other tasks run.
const ROUNDS: usize = 32;

/// How a link connection ended.
pub(super) struct Ran {
    /// Why.
    pub end: End,
    /// When it became the live link, if it did.
    pub up_at: Option<Instant>,
    /// It was still the live link when it ended (so the link went down with it).
    pub was_live: bool,
    /// The neighbour, when it got that far.
    pub link: Option<Arc<PeerLink>>,
}

/// The session's view of the server, for one connection.
struct LinkHost<'a> {
    /// The server.
    server: &'a Arc<Server>,
    /// The connection.
    info: &'a Arc<ConnInfo>,
    /// This side dialed the connection.
    dialed: bool,
    /// The neighbour: known when dialing, once admitted when accepting.
    link: Option<Arc<PeerLink>>,
    /// The connection's generation and when it came up, once it is the live link.
    up: Option<(u64, Instant)>,
}

impl Host for LinkHost<'_> {
    fn admit(&mut self, from: &str, _incarnation: u64) -> Result<(), String> {
        let s = self.server;
        let link = s
            .peer(from)
            .ok_or_else(|| format!("{from:?} is not a neighbour of {}", s.name))?;
        if s.settings.secret.is_empty() && !self.info.addr.ip().is_loopback() {
            return Err(
                "no herd secret is configured, so only loopback neighbours are accepted".into(),
            );
        }
        if link.is_cut() {
            return Err(format!("the link to {from} is cut by the operator"));
        }
        self.link = Some(link.clone());
        Ok(())
    }

    fn up(&mut self, neighbour: &str, incarnation: u64) -> Result<Digest, End> {
        let s = self.server;
        let link = self
            .link
            .clone()
            .or_else(|| s.peer(neighbour).cloned())
            .ok_or(End::Superseded)?;
        let by_owner = self.dialed == link.we_own;
        let (generation, before) = link
            .attach(self.info.clone(), by_owner, self.dialed, incarnation)
            .ok_or(if link.is_cut() {
                End::Local("the link is cut by the operator".into())
            } else {
                End::Superseded
            })?;
        self.up = Some((generation, Instant::now()));
        self.link = Some(link.clone());
        log::info!(target: &s.log_target, "link to {} up ({}, their incarnation {incarnation:016x})",
            link.name, if self.dialed { "we dialed" } else { "they dialed" });
        if let Some(before) = before.filter(|b| *b != incarnation) {
            log::warn!(target: &s.log_target, "{} restarted (incarnation {before:016x} -> {incarnation:016x}); catching it up",
                link.name);
        }
        s.events.publish(|| EventKind::Link {
            peer: link.name.clone(),
            state: LinkState::Up,
            reason: None,
        });
        // After attach: an update accepted from here on is flooded on this link, and one
        // accepted before is in the summary (and in the snapshot compared with theirs).
        s.metrics.catch_up_started();
        let (n, summary) = s.node.summary();
        log::info!(target: &s.log_target, "catch-up with {}: sent the summary of {n} clients in {} buckets",
            link.name, summary.buckets.len());
        Ok(summary)
    }

    fn update(&mut self, at: &[u8], via: &[u8]) -> Result<(), String> {
        self.info.lines_in.fetch_add(1, Relaxed);
        match &self.link {
            Some(link) => self.server.receive_update(link, at, via),
            None => Err("an update before the handshake".into()),
        }
    }

    fn snapshot(&mut self) -> Vec<Hashed> {
        self.server.node.snapshot_hashed()
    }

    fn summary(&mut self) -> Digest {
        self.server.metrics.catch_up_started();
        self.server.node.summary().1
    }

    fn take_updates(&mut self, max: usize) -> Vec<Outgoing> {
        match (&self.link, self.up) {
            (Some(l), Some((generation, _))) => l.take(generation, max),
            _ => Vec::new(),
        }
    }

    fn sent(&mut self, batch: &[Outgoing]) {
        let (Some(link), s) = (&self.link, self.server) else {
            return;
        };
        let n = batch.len() as u64;
        self.info.lines_out.fetch_add(n, Relaxed);
        link.sent.fetch_add(n, Relaxed);
        s.stats.floods_sent.fetch_add(n, Relaxed);
        for o in batch {
            log::debug!(target: &s.log_target, "flood to {}: {}", link.name, crate::logging::Bytes(&o.update.at));
            s.events.publish(|| EventKind::Flood {
                peer: link.name.clone(),
                dir: Dir::Out,
                at: o.update.at.clone(),
                applied: true,
            });
        }
    }

    fn compared(&mut self, queued: usize, done: bool) {
        let (Some(link), s) = (&self.link, self.server) else {
            return;
        };
        link.caught_up.fetch_add(queued as u64, Relaxed);
        if queued > 0 {
            log::info!(target: &s.log_target, "catch-up with {}: {queued} updates of buckets that differ queued", link.name);
        }
        if done {
            log::debug!(target: &s.log_target, "catch-up with {}: their summary compared", link.name);
        }
    }

    fn catch_up_bytes(&mut self, sent: bool, bytes: usize) {
        self.server.metrics.catch_up_bytes(sent, bytes as u64);
    }

    fn rtt(&mut self, rtt: Duration) {
        if let Some(link) = &self.link {
            link.set_rtt(rtt);
        }
    }

    fn skipped(&mut self, bytes: usize) {
        let (Some(link), s) = (&self.link, self.server) else {
            return;
        };
        link.skipped.fetch_add(1, Relaxed);
        s.note_skipped(link, bytes);
    }
}

/// The waker the socket's reads register: it notes that the socket announced something before
/// it wakes the task. A poll that the outbox bell or a timer caused then skips the read, which
/// would be a system call that finds nothing (several per flood written, before this).
struct ReadGate {
    /// The socket woke the task since the last read that found nothing.
    woken: AtomicBool,
    /// The task to wake.
    task: AtomicWaker,
}

impl ArcWake for ReadGate {
    fn wake_by_ref(gate: &Arc<Self>) {
        gate.woken.store(true, Release);
        gate.task.wake();
    }
}

/// A sleep in flight.
type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A timer that is re-armed only when the next deadline moves earlier, so the deadlines that
/// move on every read (silence) cost nothing per read.
struct Timer {
    /// When it fires, and the sleep that fires then.
    armed: Option<(Duration, Sleep)>,
}

impl Timer {
    /// Polls for `due` (server time), `now` being the server time now: ready once `now` has
    /// reached `due`.
    fn poll(&mut self, cx: &mut std::task::Context<'_>, due: Duration, now: Duration) -> Poll<()> {
        if now >= due {
            self.armed = None;
            return Poll::Ready(());
        }
        if self.armed.as_ref().is_none_or(|(at, _)| due < *at) {
            self.armed = Some((due, Box::pin(rt::sleep(due - now))));
        }
        if let Some((_, sleep)) = &mut self.armed {
            if sleep.as_mut().poll(cx).is_ready() {
                // It fired for an earlier deadline than `due` is now: wait again.
                self.armed = Some((due, Box::pin(rt::sleep(due - now))));
                if let Some((_, sleep)) = &mut self.armed {
                    let _ = sleep.as_mut().poll(cx);
                }
            }
        }
        Poll::Pending
    }
}

/// Runs `session` over `stream` until it ends. `link` is the neighbour when this side dialed.
pub(super) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    server: &Arc<Server>,
    mut stream: S,
    info: &Arc<ConnInfo>,
    killed: async_channel::Receiver<()>,
    mut session: Session,
    link: Option<Arc<PeerLink>>,
) -> Ran {
    let dialed = link.is_some();
    let mut host = LinkHost {
        server,
        info,
        dialed,
        link,
        up: None,
    };
    let mut killed = Box::pin(killed.recv());
    let mut stop = Box::pin(server.stop.wait());
    let write_timeout = Duration::from_millis(server.config.timings.write_timeout_ms);
    let mut bell: Option<Pin<Box<async_channel::Receiver<()>>>> = None;
    let mut timer = Timer { armed: None };
    let mut stalled_since: Option<Duration> = None;
    // A connection replaced by a newer one and left for the other end to close: if that end
    // does not, it closes itself after the silence timeout.
    let mut replaced_since: Option<Duration> = None;
    let linger = Duration::from_millis(server.config.timings.peer_timeout_ms);
    let mut yielded = false;
    let gate = Arc::new(ReadGate {
        woken: AtomicBool::new(false),
        task: AtomicWaker::new(),
    });
    let read_waker = futures::task::waker(gate.clone());
    // The last read found nothing, so the socket will wake the gate when there is more. The
    // reactor wakes a waker that another one replaces (async-io does), so nothing else
    // registering for reads can leave the gate waiting for good.
    let mut read_armed = false;
    let end = futures::future::poll_fn(|cx| {
        gate.task.register(cx.waker());
        for _ in 0..ROUNDS {
            if let Some(end) = session.end() {
                return Poll::Ready(end.clone());
            }
            let now = server.now();
            let mut busy = false;
            if killed.as_mut().poll(cx).is_ready() {
                session.close(match info.killed_for() {
                    Kill::Superseded => End::Superseded,
                    Kill::Cut => End::Local("cut by the operator".into()),
                    _ => End::Local("dropped by the operator".into()),
                });
                continue;
            }
            if stop.as_mut().poll(cx).is_ready() {
                // Best effort, without waiting: the BYE goes if the socket takes it now.
                session.say_bye();
                if !session.output().is_empty() {
                    if let Poll::Ready(Ok(n)) =
                        Pin::new(&mut stream).poll_write(cx, session.output())
                    {
                        session.consumed(n);
                    }
                }
                continue;
            }
            let read = if !read_armed || gate.woken.swap(false, AcqRel) {
                let mut rcx = Context::from_waker(&read_waker);
                Pin::new(&mut stream).poll_read(&mut rcx, session.recv_buf())
            } else {
                Poll::Pending
            };
            read_armed = read.is_pending();
            match read {
                Poll::Ready(Ok(n)) => {
                    info.bytes_in.fetch_add(n as u64, Relaxed);
                    info.touch();
                    if let Some(l) = &host.link {
                        l.bytes_received.fetch_add(n as u64, Relaxed);
                        if host.up.is_some() {
                            l.heard();
                        }
                    }
                    session.received(n, now, &mut host);
                    busy = true;
                }
                Poll::Ready(Err(e)) => session.close(End::Io(format!("read error: {e}"))),
                Poll::Pending => {}
            }
            if bell.is_none() && host.up.is_some() {
                bell = host.link.as_ref().map(|l| Box::pin(l.bell()));
            }
            if let (Some(l), Some(_)) = (&host.link, host.up) {
                if l.take_resync_request() {
                    session.request_resync(now, server.resync_delay());
                }
            }
            let mut rung = false;
            if let Some(b) = &mut bell {
                while let Poll::Ready(Some(())) = b.as_mut().poll_next(cx) {
                    rung = true;
                }
            }
            if rung && session.output().is_empty() && !yielded {
                // Let the tasks that are ready (clients, other links) queue their updates
                // too, so one write carries them all; this delays a flood by one turn of the
                // run queue, and never a client's reply.
                yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            yielded = false;
            // Floods leave the outbox only when the last write is done: while they wait there,
            // a copy arriving from another path can still cancel them, and the next write
            // carries more of them at once.
            if session.output().is_empty() {
                session.fill(&mut host);
            }
            while !session.output().is_empty() && session.end().is_none() {
                match Pin::new(&mut stream).poll_write(cx, session.output()) {
                    Poll::Ready(Ok(0)) => {
                        session.close(End::Io("the connection closed while writing".into()))
                    }
                    Poll::Ready(Ok(n)) => {
                        info.bytes_out.fetch_add(n as u64, Relaxed);
                        info.touch();
                        if let Some(l) = &host.link {
                            l.bytes_sent.fetch_add(n as u64, Relaxed);
                            l.writes.fetch_add(1, Relaxed);
                        }
                        session.consumed(n);
                        stalled_since = None;
                        busy = true;
                        if session.output().is_empty() {
                            session.fill(&mut host);
                        }
                    }
                    Poll::Ready(Err(e)) => session.close(End::Io(format!("write error: {e}"))),
                    Poll::Pending => {
                        stalled_since.get_or_insert(now);
                        break;
                    }
                }
            }
            if session.output().is_empty() {
                stalled_since = None;
            }
            if session.end().is_some() {
                continue;
            }
            if let (Some(l), Some((generation, _)), None) = (&host.link, host.up, replaced_since) {
                if !l.is_live(generation) {
                    replaced_since = Some(now);
                }
            }
            let stall_due = stalled_since.map(|t| t + write_timeout);
            let linger_due = replaced_since.map(|t| t + linger);
            let due = [session.next_timer(), stall_due, linger_due]
                .into_iter()
                .flatten()
                .min();
            if let Some(due) = due {
                if timer.poll(cx, due, now).is_ready() {
                    if stall_due.is_some_and(|d| now >= d) {
                        session.close(End::WriteStalled(write_timeout));
                    } else if linger_due.is_some_and(|d| now >= d) {
                        session.close(End::Superseded);
                    } else {
                        session.on_timer(now, &mut host);
                    }
                    busy = true;
                }
            }
            if !busy {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
    let was_live = match (&host.link, host.up) {
        (Some(link), Some((generation, _))) => link.detach(generation, &end.to_string()),
        _ => false,
    };
    Ran {
        end,
        up_at: host.up.map(|(_, at)| at),
        was_live,
        link: host.link,
    }
}
