//! Neighbour links: dialing with back-off, the authenticated handshake, catch-up on link-up,
//! and the reader and writer of a live link.
//!
//! Each link has exactly one owner: the lexically smaller name dials, the other accepts. A
//! newer connection for a link replaces an older one. When a link comes up both sides send a
//! summary of their table (bucket digests, see [`crate::digest`]) and each pushes the entries of
//! the buckets where the other's summary differs from its own (newest wins on arrival), so a
//! server that was down or cut off learns what it missed and only the difference travels;
//! while a link is down nothing queues for it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{self, Either};
use futures::AsyncWriteExt;

use super::lines::{Framed, LineReader};
use super::{lock, rt, ConnInfo, Server, TaskGuard};
use crate::backoff::backoff;
use crate::digest::Reconcile;
use crate::events::{Dir, EventKind, LinkState};
use crate::outbox::Outbox;
use crate::state::{Applied, Update};
use crate::wire::{self, Nonce, PeerMsg, Role, Transcript};

/// Updates written per batch.
const BATCH: usize = 512;

/// A link's state as the console shows it.
#[derive(Clone, Debug)]
pub struct PeerStatus {
    /// Up, connecting, down or cut.
    pub state: LinkState,
    /// When it entered that state.
    pub since: Instant,
    /// The last reason it went down or failed.
    pub last_error: Option<String>,
    /// The neighbour's incarnation, once seen.
    pub incarnation: Option<u64>,
    /// Round-trip time of the last PING.
    pub rtt: Option<Duration>,
    /// When anything was last heard on the link.
    pub last_heard: Option<Instant>,
}

/// The live connection of a link.
struct Current {
    /// Bumped at every attach, so a replaced connection cannot mark the link down.
    generation: u64,
    /// Its registry entry (closing its kill channel ends it).
    conn: Arc<ConnInfo>,
}

/// One neighbour.
pub struct PeerLink {
    /// Its name.
    pub name: Arc<str>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// True when this side owns (dials) the link.
    pub we_dial: bool,
    /// Updates waiting to be sent.
    outbox: Mutex<Outbox>,
    /// Encoded SUMMARY lines waiting to be sent (catch-up), ahead of the outbox.
    control: Mutex<Vec<u8>>,
    /// Our table regrouped at the neighbour's summary granularity, while its summary arrives.
    reconcile: Mutex<Option<Reconcile>>,
    /// Rung when the writer has work.
    bell: (async_channel::Sender<()>, async_channel::Receiver<()>),
    /// State for the console.
    status: Mutex<PeerStatus>,
    /// The live connection, if any.
    current: Mutex<Option<Current>>,
    /// Source of generations.
    generation: AtomicU64,
    /// Cut by the operator.
    cut: AtomicBool,
    /// Rung when the operator restores the link.
    restored: (async_channel::Sender<()>, async_channel::Receiver<()>),
    /// A PONG owed to the neighbour.
    pong_due: Mutex<Option<u64>>,
    /// The last PING sent and when.
    ping_sent: Mutex<Option<(u64, Instant)>>,
    /// Updates sent.
    pub sent: AtomicU64,
    /// Updates received.
    pub received: AtomicU64,
    /// Updates received that changed nothing.
    pub ignored: AtomicU64,
    /// Times the link came up.
    pub reconnects: AtomicU64,
}

impl PeerLink {
    /// A link to `name` at `addr`, down.
    pub fn new(name: Arc<str>, addr: SocketAddr, we_dial: bool) -> Self {
        PeerLink {
            name,
            addr,
            we_dial,
            outbox: Mutex::new(Outbox::new()),
            control: Mutex::new(Vec::new()),
            reconcile: Mutex::new(None),
            bell: async_channel::bounded(1),
            status: Mutex::new(PeerStatus {
                state: LinkState::Down,
                since: Instant::now(),
                last_error: None,
                incarnation: None,
                rtt: None,
                last_heard: None,
            }),
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            restored: async_channel::bounded(1),
            pong_due: Mutex::new(None),
            ping_sent: Mutex::new(None),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        }
    }

    /// A copy of the state.
    pub fn status(&self) -> PeerStatus {
        lock(&self.status).clone()
    }

    /// Updates waiting.
    pub fn queue_depth(&self) -> usize {
        lock(&self.outbox).len()
    }

    /// Queues an update for this neighbour if the link is up (a down link catches up on link-up).
    pub fn enqueue(&self, update: Update) {
        if lock(&self.status).state != LinkState::Up {
            return;
        }
        lock(&self.outbox).push(update);
        self.ring();
    }

    fn ring(&self) {
        let _ = self.bell.0.try_send(());
    }

    /// True while the operator has the link cut.
    pub fn is_cut(&self) -> bool {
        self.cut.load(Relaxed)
    }

    /// Operator: cut the link (drop it, stop dialing and refuse the neighbour) until restored.
    pub fn cut(&self) {
        self.cut.store(true, Relaxed);
        if let Some(c) = lock(&self.current).take() {
            c.conn.kill_now();
        }
        lock(&self.outbox).clear();
        self.set_state(LinkState::Cut, Some("cut by operator".into()));
    }

    /// Operator: restore a cut link.
    pub fn restore(&self) {
        if self.cut.swap(false, Relaxed) {
            self.set_state(LinkState::Down, Some("restored by operator".into()));
            let _ = self.restored.0.try_send(());
        }
    }

    fn set_state(&self, state: LinkState, error: Option<String>) {
        let mut s = lock(&self.status);
        if s.state != state {
            s.state = state;
            s.since = Instant::now();
        }
        if error.is_some() {
            s.last_error = error;
        }
    }

    /// Makes `conn` the live connection, ending any older one; returns its generation and the
    /// neighbour's incarnation seen before (a different one means it restarted).
    fn attach(&self, conn: Arc<ConnInfo>, incarnation: u64) -> (u64, Option<u64>) {
        let generation = self.generation.fetch_add(1, Relaxed) + 1;
        let old = lock(&self.current).replace(Current { generation, conn });
        if let Some(old) = old {
            old.conn.kill_now();
        }
        let before = {
            let mut s = lock(&self.status);
            s.state = LinkState::Up;
            s.since = Instant::now();
            s.last_heard = Some(Instant::now());
            s.incarnation.replace(incarnation)
        };
        self.reconnects.fetch_add(1, Relaxed);
        (generation, before)
    }

    /// Ends connection `generation`; true if it was still the live one.
    fn detach(&self, generation: u64, reason: &str) -> bool {
        let mut cur = lock(&self.current);
        if cur.as_ref().map(|c| c.generation) != Some(generation) {
            return false;
        }
        *cur = None;
        drop(cur);
        lock(&self.outbox).clear();
        lock(&self.control).clear();
        *lock(&self.reconcile) = None;
        if !self.is_cut() {
            self.set_state(LinkState::Down, Some(reason.to_string()));
        }
        true
    }
}

impl ConnInfo {
    /// Ends the connection at its next await point.
    pub(crate) fn kill_now(&self) {
        self.kill.close();
    }
}

fn nonce() -> Nonce {
    let mut n = [0u8; 16];
    if getrandom::fill(&mut n).is_err() {
        n[..8].copy_from_slice(&super::random_u64().to_le_bytes());
    }
    n
}

/// Reads one handshake line within the handshake deadline; the bytes count on `info`.
async fn read_line(
    server: &Server,
    info: &ConnInfo,
    reader: &mut LineReader<rt::TcpStream>,
) -> Result<Vec<u8>, String> {
    let deadline = Duration::from_millis(server.config.timings.handshake_timeout_ms);
    let end = Instant::now() + deadline;
    loop {
        match reader.next_line() {
            Some(Framed::Line(r)) => return Ok(reader.line(r).to_vec()),
            Some(Framed::TooLong) => return Err("handshake line too long".into()),
            None => {}
        }
        let left = end.saturating_duration_since(Instant::now());
        match rt::timeout(left, reader.fill()).await {
            None => {
                return Err(format!(
                    "no handshake answer within {} ms",
                    deadline.as_millis()
                ))
            }
            Some(Ok(0)) => return Err("closed during handshake".into()),
            Some(Err(e)) => return Err(format!("read error during handshake: {e}")),
            Some(Ok(n)) => {
                info.bytes_in.fetch_add(n as u64, Relaxed);
            }
        }
    }
}

/// Sends one handshake line; the bytes count on `info`.
async fn send(
    server: &Server,
    info: &ConnInfo,
    writer: &mut rt::TcpStream,
    msg: &PeerMsg<'_>,
) -> Result<(), String> {
    let mut buf = Vec::with_capacity(160);
    wire::encode(msg, &mut buf);
    write(server, writer, &buf).await?;
    info.bytes_out.fetch_add(buf.len() as u64, Relaxed);
    Ok(())
}

async fn write(server: &Server, writer: &mut rt::TcpStream, buf: &[u8]) -> Result<(), String> {
    let deadline = Duration::from_millis(server.config.timings.write_timeout_ms);
    match rt::timeout(deadline, writer.write_all(buf)).await {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(format!("write error: {e}")),
        None => Err(format!(
            "write stalled for {} ms (neighbour not reading)",
            deadline.as_millis()
        )),
    }
}

/// Dials `link` forever (until the server stops): at once after a drop, then with exponential
/// back-off and jitter up to the cap.
pub(super) async fn dial_loop(server: Arc<Server>, link: Arc<PeerLink>, _task: TaskGuard) {
    let t = server.config.timings.clone();
    let mut failures = 0u32;
    let mut last_error = String::new();
    while !server.stop.is_set() {
        if link.is_cut() {
            let restored = std::pin::pin!(link.restored.1.recv());
            let stop = std::pin::pin!(server.stop.wait());
            future::select(restored, stop).await;
            failures = 0;
            continue;
        }
        if failures > 0 {
            let d = backoff(
                failures,
                t.backoff_initial_ms,
                t.backoff_max_ms,
                fastrand::f64(),
            );
            let sleep = std::pin::pin!(rt::sleep(d));
            let stop = std::pin::pin!(server.stop.wait());
            if let Either::Right(_) = future::select(sleep, stop).await {
                break;
            }
            if link.is_cut() {
                continue;
            }
        }
        // Retries after a failure stay Down, so "down since" counts from the first failure.
        if failures == 0 {
            link.set_state(LinkState::Connecting, None);
        }
        match dial_once(&server, &link).await {
            Ok(reason) => {
                log::warn!(target: &server.log_target, "link to {} dropped: {reason}", link.name);
                failures = 0;
                last_error.clear();
            }
            Err(e) => {
                // Each new reason is logged once; repeats only at debug level, so a neighbour
                // that stays down costs one line, not one a second.
                if e != last_error {
                    log::warn!(target: &server.log_target, "link to {} at {} failed: {e}", link.name, link.addr);
                } else {
                    log::debug!(target: &server.log_target, "link to {} at {} failed again: {e}", link.name, link.addr);
                }
                last_error.clone_from(&e);
                failures = failures.saturating_add(1);
                if !link.is_cut() {
                    link.set_state(LinkState::Down, Some(e.clone()));
                }
                server.events.publish(|| EventKind::Link {
                    peer: link.name.clone(),
                    state: LinkState::Down,
                    reason: Some(e),
                });
            }
        }
    }
}

/// One dial: connect, handshake, run. `Ok(reason)` once a link that came up has dropped.
async fn dial_once(server: &Arc<Server>, link: &Arc<PeerLink>) -> Result<String, String> {
    let t = &server.config.timings;
    let stream = match rt::timeout(
        Duration::from_millis(t.connect_timeout_ms),
        rt::connect(link.addr),
    )
    .await
    {
        None => {
            return Err(format!(
                "connect timed out after {} ms",
                t.connect_timeout_ms
            ))
        }
        Some(Err(e)) => return Err(format!("connect: {e}")),
        Some(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    let (info, killed) = server.register(link.addr, true);
    info.set_last(super::LastCommand::Peer);
    let res = dial_handshake(server, link, stream, info.clone(), killed).await;
    server.unregister(&info, res.as_ref().unwrap_or_else(|e| e));
    res
}

async fn dial_handshake(
    server: &Arc<Server>,
    link: &Arc<PeerLink>,
    stream: rt::TcpStream,
    info: Arc<ConnInfo>,
    killed: async_channel::Receiver<()>,
) -> Result<String, String> {
    let mut reader = LineReader::new(stream.clone(), server.config.link_max_frame());
    let mut writer = stream;
    let my_nonce = nonce();
    send(
        server,
        &info,
        &mut writer,
        &PeerMsg::Hello {
            from: &server.name,
            to: &link.name,
            incarnation: server.incarnation,
            nonce: my_nonce,
        },
    )
    .await?;
    let line = read_line(server, &info, &mut reader).await?;
    let Some(PeerMsg::Welcome {
        from,
        incarnation,
        nonce: their_nonce,
        mac,
    }) = wire::decode(&line)
    else {
        return Err(format!(
            "expected WELCOME, got {:?}",
            String::from_utf8_lossy(&line)
        ));
    };
    if from != &*link.name {
        return Err(format!("expected {} but {from} answered", link.name));
    }
    let transcript = Transcript {
        dialer: server.name.to_string(),
        acceptor: link.name.to_string(),
        dialer_incarnation: server.incarnation,
        acceptor_incarnation: incarnation,
        dialer_nonce: my_nonce,
        acceptor_nonce: their_nonce,
    };
    if !transcript.verify(server.secret(), Role::Acceptor, &mac) {
        return Err(format!(
            "{} failed authentication (different herd secret?)",
            link.name
        ));
    }
    let proof = transcript.mac(server.secret(), Role::Dialer);
    send(server, &info, &mut writer, &PeerMsg::Proof { mac: proof }).await?;
    Ok(run_link(server, link, reader, writer, info, killed, incarnation).await)
}

/// Serves a connection whose first line was a HELLO; returns why it ended.
pub(super) async fn accept(
    server: Arc<Server>,
    info: Arc<ConnInfo>,
    mut reader: LineReader<rt::TcpStream>,
    mut writer: rt::TcpStream,
    hello: &[u8],
    killed: async_channel::Receiver<()>,
) -> String {
    // The connection was read as a client's so far; from here on it carries link frames.
    reader.set_max_line(server.config.link_max_frame());
    let addr = info.addr;
    let refuse = |why: String| {
        log::warn!(target: &server.log_target, "refused neighbour handshake from {addr}: {why}");
        format!("refused handshake: {why}")
    };
    let Some(PeerMsg::Hello {
        from,
        to,
        incarnation,
        nonce: their_nonce,
    }) = wire::decode(hello)
    else {
        return refuse(format!(
            "malformed HELLO {:?}",
            String::from_utf8_lossy(hello)
        ));
    };
    if to != &*server.name {
        return refuse(format!("HELLO is for {to:?}, this is {}", server.name));
    }
    let Some(link) = server.peer(from).cloned() else {
        return refuse(format!("{from:?} is not a neighbour of {}", server.name));
    };
    if link.we_dial {
        return refuse(format!("{from} dialed, but {} owns that link", server.name));
    }
    if server.secret().is_empty() && !addr.ip().is_loopback() {
        return refuse(
            "no herd secret is configured, so only loopback neighbours are accepted".into(),
        );
    }
    if link.is_cut() {
        return refuse(format!("link to {from} is cut by the operator"));
    }
    let my_nonce = nonce();
    let transcript = Transcript {
        dialer: from.to_string(),
        acceptor: server.name.to_string(),
        dialer_incarnation: incarnation,
        acceptor_incarnation: server.incarnation,
        dialer_nonce: their_nonce,
        acceptor_nonce: my_nonce,
    };
    let welcome = PeerMsg::Welcome {
        from: &server.name,
        incarnation: server.incarnation,
        nonce: my_nonce,
        mac: transcript.mac(server.secret(), Role::Acceptor),
    };
    if let Err(e) = send(&server, &info, &mut writer, &welcome).await {
        return refuse(e);
    }
    let proof = match read_line(&server, &info, &mut reader).await {
        Ok(line) => line,
        Err(e) => return refuse(e),
    };
    match wire::decode(&proof) {
        Some(PeerMsg::Proof { mac }) if transcript.verify(server.secret(), Role::Dialer, &mac) => {}
        Some(PeerMsg::Proof { .. }) => {
            return refuse(format!(
                "{from} failed authentication (different herd secret?)"
            ))
        }
        _ => return refuse(format!("expected PROOF from {from}")),
    }
    run_link(&server, &link, reader, writer, info, killed, incarnation).await
}

/// Runs an authenticated link until it drops; returns why.
async fn run_link(
    server: &Arc<Server>,
    link: &Arc<PeerLink>,
    reader: LineReader<rt::TcpStream>,
    writer: rt::TcpStream,
    info: Arc<ConnInfo>,
    killed: async_channel::Receiver<()>,
    incarnation: u64,
) -> String {
    let (generation, before) = link.attach(info.clone(), incarnation);
    log::info!(target: &server.log_target, "link to {} up ({}, their incarnation {incarnation:016x})",
        link.name, if link.we_dial { "we dialed" } else { "they dialed" });
    if let Some(before) = before.filter(|b| *b != incarnation) {
        log::warn!(target: &server.log_target, "{} restarted (incarnation {before:016x} -> {incarnation:016x}); catching it up",
            link.name);
    }
    server.events.publish(|| EventKind::Link {
        peer: link.name.clone(),
        state: LinkState::Up,
        reason: None,
    });
    // Catch-up: send our summary; the neighbour answers with the buckets that differ, and we
    // do the same with its summary in the read loop.
    let (n, summary) = server.summary();
    {
        let per_line = (server.config.link_max_frame().saturating_sub(32) / 17).clamp(1, 512);
        let mut ctl = lock(&link.control);
        ctl.clear();
        for (first, run) in summary.runs(per_line) {
            wire::encode(
                &PeerMsg::Summary {
                    bits: summary.bits,
                    first,
                    hashes: run.to_vec(),
                },
                &mut ctl,
            );
        }
        *lock(&link.reconcile) = None;
    }
    link.ring();
    log::info!(target: &server.log_target, "catch-up with {}: sent the summary of {n} clients in {} buckets",
        link.name, summary.buckets.len());

    let reason = {
        let r = std::pin::pin!(read_loop(server, link, reader, &info));
        let w = std::pin::pin!(write_loop(server, link, writer, &info));
        let k = std::pin::pin!(async {
            let kill = std::pin::pin!(killed.recv());
            let stop = std::pin::pin!(server.stop.wait());
            match future::select(kill, stop).await {
                Either::Left(_) => {
                    "closed (operator, cut, or replaced by a newer connection)".to_string()
                }
                Either::Right(_) => "server stopping".to_string(),
            }
        });
        match future::select(future::select(r, w), k).await {
            Either::Left((Either::Left((why, _)), _)) => why,
            Either::Left((Either::Right((why, _)), _)) => why,
            Either::Right((why, _)) => why,
        }
    };
    if link.detach(generation, &reason) {
        log::warn!(target: &server.log_target, "link to {} down: {reason}", link.name);
        server.events.publish(|| EventKind::Link {
            peer: link.name.clone(),
            state: LinkState::Down,
            reason: Some(reason.clone()),
        });
    }
    reason
}

async fn read_loop(
    server: &Server,
    link: &PeerLink,
    mut reader: LineReader<rt::TcpStream>,
    info: &ConnInfo,
) -> String {
    let silence = Duration::from_millis(server.config.timings.peer_timeout_ms);
    // One timer for the link, re-armed only when it fires, rather than one per read.
    let mut silence_timer = std::pin::pin!(rt::sleep(silence));
    let mut heard = Instant::now();
    loop {
        while let Some(framed) = reader.next_line() {
            let Framed::Line(range) = framed else {
                return format!(
                    "line longer than {} bytes from {}",
                    server.config.link_max_frame(),
                    link.name
                );
            };
            let line = reader.line(range);
            info.lines_in.fetch_add(1, Relaxed);
            match wire::decode(line) {
                Some(PeerMsg::Update(at)) => {
                    // The other path of a cycle brings back what we hold, byte for byte: no
                    // parse and no table change, and this neighbour needs no copy from us.
                    let held = at
                        .split(|&b| b == b' ')
                        .nth(3)
                        .and_then(|client| server.lookup(client))
                        .filter(|held| *held.at == *at);
                    if let Some(held) = held {
                        lock(&link.outbox).cancel(&held);
                        note_received(server, link, &held, Applied::Stale);
                        continue;
                    }
                    let Some(update) = Update::from_at_line(at) else {
                        return format!(
                            "malformed update from {}: {}",
                            link.name,
                            line.escape_ascii()
                        );
                    };
                    receive(server, link, &update);
                }
                Some(PeerMsg::Summary {
                    bits,
                    first,
                    hashes,
                }) => reconcile(server, link, bits, first, &hashes),
                Some(PeerMsg::Ping(n)) => {
                    *lock(&link.pong_due) = Some(n);
                    link.ring();
                }
                Some(PeerMsg::Pong(n)) => {
                    let sent = *lock(&link.ping_sent);
                    if let Some((seq, at)) = sent {
                        if seq == n {
                            lock(&link.status).rtt = Some(at.elapsed());
                        }
                    }
                }
                _ => {
                    return format!(
                        "unexpected message from {}: {}",
                        link.name,
                        line.escape_ascii()
                    )
                }
            }
        }
        let read = loop {
            let fill = std::pin::pin!(reader.fill());
            match future::select(fill, silence_timer.as_mut()).await {
                Either::Left((r, _)) => break r,
                Either::Right(_) => {
                    // The timer runs from the last read, not from this one.
                    let quiet = heard.elapsed();
                    if quiet >= silence {
                        return format!(
                            "nothing heard from {} for {} ms",
                            link.name,
                            silence.as_millis()
                        );
                    }
                    silence_timer.set(rt::sleep(silence - quiet));
                }
            }
        };
        match read {
            Ok(0) => return format!("{} closed the link", link.name),
            Err(e) => return format!("read error: {e}"),
            Ok(n) => {
                heard = Instant::now();
                info.bytes_in.fetch_add(n as u64, Relaxed);
                info.touch();
                lock(&link.status).last_heard = Some(heard);
            }
        }
    }
}

/// Compares a run of the neighbour's summary with our table and queues the entries of every
/// bucket that differs.
fn reconcile(server: &Server, link: &PeerLink, bits: u8, first: u32, hashes: &[u64]) {
    let mut guard = lock(&link.reconcile);
    let r = match &mut *guard {
        Some(r) if r.bits == bits => r,
        slot => slot.insert(Reconcile::new(server.all_updates().into_iter(), bits)),
    };
    let mut queued = 0usize;
    {
        let mut ob = lock(&link.outbox);
        r.compare(first, hashes, |u| {
            ob.push(u);
            queued += 1;
        });
    }
    let done = r.done();
    if done {
        *guard = None;
    }
    drop(guard);
    if queued > 0 {
        link.ring();
    }
    log::debug!(target: &server.log_target, "catch-up with {}: buckets {first}..{} of {} compared, {queued} updates queued",
        link.name, first as usize + hashes.len(), 1usize << bits);
    if done {
        log::info!(target: &server.log_target, "catch-up with {}: their summary compared", link.name);
    }
}

/// Applies an update from a neighbour and accounts for it.
fn receive(server: &Server, link: &PeerLink, update: &Update) {
    let applied = server.accept_update(update, Some(&link.name));
    note_received(server, link, update, applied);
}

/// Counts, logs and publishes an update received from `link`.
fn note_received(server: &Server, link: &PeerLink, update: &Update, applied: Applied) {
    link.received.fetch_add(1, Relaxed);
    server.stats.floods_received.fetch_add(1, Relaxed);
    let changed = applied.changed();
    if !changed {
        link.ignored.fetch_add(1, Relaxed);
        server.stats.floods_ignored.fetch_add(1, Relaxed);
    }
    log::info!(target: &server.log_target, "flood from {} {}: {}", link.name,
        match applied { Applied::Inserted | Applied::Replaced => "applied", Applied::Stale => "ignored (not newer)", Applied::Full => "refused (table full)" },
        crate::logging::Bytes(&update.at));
    server.events.publish(|| EventKind::Flood {
        peer: link.name.clone(),
        dir: Dir::In,
        at: update.at.clone(),
        applied: changed,
    });
}

async fn write_loop(
    server: &Server,
    link: &PeerLink,
    mut writer: rt::TcpStream,
    info: &ConnInfo,
) -> String {
    let heartbeat = Duration::from_millis(server.config.timings.heartbeat_ms);
    let mut next_ping = Instant::now();
    let mut seq = 0u64;
    let mut buf = Vec::with_capacity(64 * 1024);
    // Wakes the idle writer for the next PING; re-armed per PING, not per wait.
    let mut beat = std::pin::pin!(rt::sleep(Duration::ZERO));
    loop {
        buf.clear();
        let now = Instant::now();
        if now >= next_ping {
            seq += 1;
            *lock(&link.ping_sent) = Some((seq, now));
            wire::encode(&PeerMsg::Ping(seq), &mut buf);
            next_ping = now + heartbeat;
            beat.set(rt::sleep(heartbeat));
        }
        if let Some(n) = lock(&link.pong_due).take() {
            wire::encode(&PeerMsg::Pong(n), &mut buf);
        }
        buf.append(&mut lock(&link.control));
        let batch = lock(&link.outbox).take(BATCH);
        for u in &batch {
            wire::encode(&PeerMsg::Update(&u.at), &mut buf);
        }
        if buf.is_empty() {
            let bell = std::pin::pin!(link.bell.1.recv());
            match future::select(bell, beat.as_mut()).await {
                // Let the tasks that are ready (clients, other links) queue their updates
                // too, so one write carries them all; this delays a flood by one turn of the
                // run queue, and never a client's reply.
                Either::Left(_) => rt::yield_now().await,
                Either::Right(_) => beat.set(rt::sleep(
                    next_ping.saturating_duration_since(Instant::now()),
                )),
            }
            continue;
        }
        if let Err(e) = write(server, &mut writer, &buf).await {
            return e;
        }
        info.bytes_out.fetch_add(buf.len() as u64, Relaxed);
        info.lines_out.fetch_add(batch.len() as u64, Relaxed);
        info.touch();
        link.sent.fetch_add(batch.len() as u64, Relaxed);
        server
            .stats
            .floods_sent
            .fetch_add(batch.len() as u64, Relaxed);
        for u in &batch {
            log::info!(target: &server.log_target, "flood to {}: {}", link.name, crate::logging::Bytes(&u.at));
            server.events.publish(|| EventKind::Flood {
                peer: link.name.clone(),
                dir: Dir::Out,
                at: u.at.clone(),
                applied: true,
            });
        }
    }
}
