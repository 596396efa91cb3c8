//! Propagation latency: IAMATs at a fixed rate spread over every server of an in-process herd,
//! and the moment each update is applied at each other server, grouped by hop count.
//!
//! The arrival times come from the servers' event buses (an applied `Flood` in), which is exact:
//! no polling interval hides in the numbers. The start is when the client has the IAMAT's reply.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::{AsyncReadExt, AsyncWriteExt};

use super::load::{micros, new_histogram};
use super::report::{HopStats, Percentiles, Propagation};
use crate::events::{Dir, EventKind};
use crate::herd::LocalHerd;
use crate::rt;

/// Connections the updates are spread over (each sends at rate / SENDERS).
const SENDERS: usize = 10;

/// One answered IAMAT.
struct Sent {
    /// The AT line, without newline.
    at: Vec<u8>,
    /// The server that took it.
    origin: usize,
    /// When the client had the reply.
    replied: SystemTime,
    /// When the client sent the IAMAT (an upper bound on when the origin accepted it).
    sent: SystemTime,
}

/// Runs the phase: `rate` updates per second for `duration`.
pub async fn run(herd: &LocalHerd, rate: u32, duration: Duration, prefix: &str) -> Propagation {
    let names = herd.names();
    let hops = herd.config.hop_counts();
    // Subscribe before sending; every subscriber drains into memory until closed.
    let arrivals = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = async_channel::bounded(names.len());
    let mut closers = Vec::new();
    let mut dropped_before = 0;
    for (i, name) in names.iter().enumerate() {
        let Some(server) = herd.server(name) else {
            continue;
        };
        dropped_before += server.events.dropped();
        // Only this phase's own updates: under load the others would fill the channel.
        let mine = format!(" {prefix}").into_bytes();
        let filter: crate::events::Filter = Some(Arc::new(move |k: &EventKind| {
            matches!(k, EventKind::Flood { dir: Dir::In, applied: true, at, .. }
                if memchr::memmem::find(at, &mine).is_some())
        }));
        let rx = server.events.subscribe_filtered(1 << 14, filter);
        closers.push(rx.clone());
        let arrivals = arrivals.clone();
        let done = done_tx.clone();
        rt::spawn(async move {
            let mut got: Vec<(Arc<[u8]>, SystemTime)> = Vec::new();
            while let Ok(ev) = rx.recv().await {
                if let EventKind::Flood {
                    dir: Dir::In,
                    applied: true,
                    at,
                    ..
                } = ev.kind
                {
                    got.push((at, ev.at));
                    arrivals.fetch_add(1, Relaxed);
                }
            }
            let _ = done.send((i, got)).await;
        });
    }
    drop(done_tx);

    // Senders: SENDERS connections, origins round-robin, each on a fixed schedule.
    let (sent_tx, sent_rx) = async_channel::bounded(SENDERS);
    let errors = Arc::new(AtomicU64::new(0));
    let total = (f64::from(rate) * duration.as_secs_f64()).ceil() as u64;
    let per_sender = total.div_ceil(SENDERS as u64);
    let interval = Duration::from_secs_f64(SENDERS as f64 / f64::from(rate));
    let start = Instant::now() + Duration::from_millis(20);
    for k in 0..SENDERS {
        let origin = k % names.len();
        let Some(addr) = herd.addr(&names[origin]) else {
            continue;
        };
        let tx = sent_tx.clone();
        let errors = errors.clone();
        let prefix = format!("{prefix}{k}-");
        // Senders start staggered so the herd sees an even stream.
        let first = start + interval.mul_f64(k as f64 / SENDERS as f64);
        rt::spawn(async move {
            let sent =
                send_at_rate(addr, origin, &prefix, first, interval, per_sender, &errors).await;
            let _ = tx.send(sent).await;
        });
    }
    drop(sent_tx);
    let mut sent = Vec::new();
    let limit = duration * 3 + Duration::from_secs(10);
    while let Some(Ok(mut s)) =
        rt::timeout(limit.saturating_sub(start.elapsed()), sent_rx.recv()).await
    {
        sent.append(&mut s);
    }
    let elapsed = start.elapsed();
    let max_hops = hops.values().copied().max().unwrap_or(0);
    let mut expected_by_hops = vec![0u64; max_hops + 1];
    let mut pairs = vec![std::collections::HashSet::new(); max_hops + 1];
    for s in &sent {
        for (j, to) in names.iter().enumerate() {
            if j == s.origin {
                continue;
            }
            if let Some(&d) = hops.get(&(names[s.origin].clone(), to.clone())) {
                expected_by_hops[d] += 1;
                pairs[d].insert((s.origin, j));
            }
        }
    }
    let expected: u64 = expected_by_hops.iter().sum();
    // Let the last floods land (at most 2 s), then stop listening.
    let settle = Instant::now() + Duration::from_secs(2);
    while arrivals.load(Relaxed) < expected && Instant::now() < settle {
        rt::sleep(Duration::from_millis(5)).await;
    }
    for c in &closers {
        c.close();
    }
    let mut by_server: Vec<Vec<(Arc<[u8]>, SystemTime)>> = vec![Vec::new(); names.len()];
    while let Some(Ok((i, got))) = rt::timeout(Duration::from_secs(5), done_rx.recv()).await {
        by_server[i] = got;
    }
    let mut dropped_after = 0;
    for name in &names {
        if let Some(s) = herd.server(name) {
            dropped_after += s.events.dropped();
        }
    }

    // Join arrivals to replies.
    let index: HashMap<&[u8], &Sent> = sent.iter().map(|s| (&s.at[..], s)).collect();
    let mut hists: Vec<_> = (0..=max_hops).map(|_| new_histogram()).collect();
    let mut from_send: Vec<_> = (0..=max_hops).map(|_| new_histogram()).collect();
    let mut before_reply = 0;
    let mut matched = 0u64;
    for (j, got) in by_server.iter().enumerate() {
        for (at, when) in got {
            let Some(s) = index.get(&at[..]) else {
                continue;
            };
            let Some(&d) = hops.get(&(names[s.origin].clone(), names[j].clone())) else {
                continue;
            };
            let latency = match when.duration_since(s.replied) {
                Ok(l) => l,
                Err(_) => {
                    before_reply += 1;
                    Duration::ZERO
                }
            };
            hists[d].saturating_record(micros(latency));
            from_send[d].saturating_record(micros(when.duration_since(s.sent).unwrap_or_default()));
            matched += 1;
        }
    }
    let by_hops = (1..=max_hops)
        .map(|d| HopStats {
            hops: d,
            pairs: pairs[d].len(),
            expected: expected_by_hops[d],
            latency_us: Percentiles::of(&hists[d]),
            from_send_us: Percentiles::of(&from_send[d]),
        })
        .collect();
    Propagation {
        rate,
        updates: sent.len() as u64,
        achieved_rate: sent.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        by_hops,
        missing: expected.saturating_sub(matched),
        before_reply,
        events_dropped: dropped_after.saturating_sub(dropped_before),
        errors: errors.load(Relaxed),
        under_load: None,
    }
}

/// One sender: `count` IAMATs, the k-th at `first + k * interval` (or as soon as possible
/// when late), each for a new client so no update coalesces with another.
async fn send_at_rate(
    addr: std::net::SocketAddr,
    origin: usize,
    prefix: &str,
    first: Instant,
    interval: Duration,
    count: u64,
    errors: &AtomicU64,
) -> Vec<Sent> {
    let mut out = Vec::with_capacity(count as usize);
    let Some(Ok(mut stream)) = rt::timeout(Duration::from_secs(5), rt::connect(addr)).await else {
        errors.fetch_add(1, Relaxed);
        return out;
    };
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 4096];
    for k in 0..count {
        let due = first + interval.mul_f64(k as f64);
        let now = Instant::now();
        if due > now {
            rt::sleep(due - now).await;
        }
        let sent_at = SystemTime::now();
        let mut cmd = Vec::with_capacity(96);
        super::load::push_iamat(&mut cmd, format_args!("{prefix}{k}"), sent_at);
        let exchange = async {
            stream.write_all(&cmd).await?;
            loop {
                if let Some(i) = memchr::memchr(b'\n', &buf) {
                    return Ok::<usize, std::io::Error>(i);
                }
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        };
        match rt::timeout(Duration::from_secs(5), exchange).await {
            Some(Ok(i)) => {
                let replied = SystemTime::now();
                if buf.starts_with(b"AT ") {
                    out.push(Sent {
                        at: buf[..i].to_vec(),
                        origin,
                        replied,
                        sent: sent_at,
                    });
                } else {
                    errors.fetch_add(1, Relaxed);
                }
                buf.drain(..=i);
            }
            _ => {
                errors.fetch_add(1, Relaxed);
                return out;
            }
        }
    }
    out
}
