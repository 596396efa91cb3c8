//! `herd demo`: a whole herd in one process with simulated clients, shown in the console or,
//! headless, summarised as text: updates, propagation latency by hop count, and a final
//! consistency check across servers.

pub mod chaos;
pub mod sim;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::events::{Dir, Event, EventKind};
use crate::herd::LocalHerd;
use crate::net::{stop_channel, Server};
use crate::rt;
use crate::sync::lock;

/// Events buffered per server between two drains of the headless demo (every 20 ms): far more
/// than a server publishes in that time at the demo's rates. A bounded channel allocates its
/// whole capacity at once (about 85 bytes an event), so this is memory per in-process server:
/// at 100,000 it was 8.5 MB a server, 1.7 GB for a herd of 200. Events that do not fit are
/// dropped by the bus and counted in the report.
const TAP_CAPACITY: usize = 4096;

/// What the headless demo does.
#[derive(Clone, Debug)]
pub struct Options {
    /// Simulated clients.
    pub clients: usize,
    /// Commands per second from all clients together.
    pub rate: u32,
    /// How long the clients run (at least; with chaos, until the chaos script is done too).
    pub duration: Duration,
    /// Stop a server and cut a link mid-run, then bring both back (see [`chaos`]).
    pub chaos: bool,
}

/// The headless demo's findings.
#[derive(Debug)]
pub struct Report {
    /// The text summary.
    pub text: String,
    /// True when every running server ended with the same table.
    pub converged: bool,
}

/// How much longer than `--duration` a chaos run may take before it is reported as stalled.
const CHAOS_PATIENCE: Duration = Duration::from_secs(60);

/// How long the herd may take to agree once the clients stop.
const SETTLE_PATIENCE: Duration = Duration::from_secs(30);

/// Least time each chaos step is held in the console, so that a person sees it happen.
const CONSOLE_DWELL: Duration = Duration::from_secs(3);

/// The console demo's chaos: rounds of the script (a different server and link each round)
/// until `stop` fires; each step is logged to `herd.log` and shows in the console.
pub async fn console_chaos(
    herd: Arc<LocalHerd>,
    log: Arc<Mutex<sim::SimLog>>,
    stop: crate::net::Stop,
) {
    let mut round = 0;
    while !stop.is_set() {
        let mut c = chaos::Chaos::new(&herd, round, CONSOLE_DWELL);
        while !stop.is_set() && c.step() != chaos::Step::Done {
            let answered = lock(&log).iamats;
            c.advance(&herd, answered).await;
            rt::sleep(Duration::from_millis(100)).await;
        }
        round += 1;
    }
}

/// A subscription that follows a server across restarts.
struct Tap {
    /// The server instance subscribed to.
    server: Arc<Server>,
    /// Its events.
    rx: async_channel::Receiver<Event>,
}

/// Runs the herd's simulated clients for the configured time and reports.
pub async fn headless(herd: Arc<LocalHerd>, opts: &Options) -> Report {
    let names = herd.names();
    let mut taps: HashMap<String, Tap> = HashMap::new();
    let log = Arc::new(Mutex::new(sim::SimLog::default()));
    let (sim_stop, stop) = stop_channel();
    let interval = Duration::from_secs_f64(1.0 / f64::from(opts.rate.max(1)));
    rt::spawn(sim::run(
        herd.clone(),
        opts.clients,
        interval,
        log.clone(),
        stop,
    ));

    let mut arrivals: Vec<(Arc<[u8]>, String, SystemTime)> = Vec::new();
    let mut chaos = opts
        .chaos
        .then(|| chaos::Chaos::new(&herd, 0, Duration::ZERO));
    let start = Instant::now();
    // The chaos script waits for what has happened, so on a slow machine it takes longer: the
    // run lasts until it is done too, within a bound that names the step that stalled.
    let give_up = opts.duration + CHAOS_PATIENCE;
    let mut stalled = None;
    loop {
        follow(&herd, &names, &mut taps, &mut arrivals);
        let answered = lock(&log).iamats;
        let done = match chaos.as_mut() {
            Some(c) => c.advance(&herd, answered).await == chaos::Step::Done,
            None => true,
        };
        let t = start.elapsed();
        if t >= opts.duration && done {
            break;
        }
        if t >= give_up {
            stalled = chaos.as_ref().map(|c| c.step());
            break;
        }
        rt::sleep(Duration::from_millis(20)).await;
    }
    sim_stop.fire();
    // Let the last floods land, then check that every running server holds the same table.
    let settle = Instant::now();
    let mut converged = false;
    while stalled.is_none() && settle.elapsed() < SETTLE_PATIENCE {
        follow(&herd, &names, &mut taps, &mut arrivals);
        if consistent(&herd, &names) {
            converged = true;
            break;
        }
        rt::sleep(Duration::from_millis(20)).await;
    }
    follow(&herd, &names, &mut taps, &mut arrivals);
    let mut chaos_log = chaos.map(|c| c.log).unwrap_or_default();
    if let Some(step) = stalled {
        let _ = writeln!(
            chaos_log,
            "  STALLED at {step:?}: the herd did not get there within {:?}",
            give_up
        );
    }
    let text = summarise(
        &herd,
        opts,
        &lock(&log),
        &arrivals,
        &chaos_log,
        converged,
        settle.elapsed(),
    );
    Report { text, converged }
}

/// Drains every server's events, re-subscribing to servers that restarted.
fn follow(
    herd: &LocalHerd,
    names: &[String],
    taps: &mut HashMap<String, Tap>,
    arrivals: &mut Vec<(Arc<[u8]>, String, SystemTime)>,
) {
    for name in names {
        let Some(server) = herd.server(name) else {
            taps.remove(name);
            continue;
        };
        let fresh = taps
            .get(name)
            .is_none_or(|t| !Arc::ptr_eq(&t.server, &server));
        if fresh {
            let rx = server.events.subscribe(TAP_CAPACITY);
            taps.insert(name.clone(), Tap { server, rx });
        }
        if let Some(tap) = taps.get(name) {
            while let Ok(ev) = tap.rx.try_recv() {
                if let EventKind::Flood {
                    dir: Dir::In,
                    at,
                    applied: true,
                    ..
                } = ev.kind
                {
                    arrivals.push((at, name.clone(), ev.at));
                }
            }
        }
    }
}

/// True when every running server holds exactly the same AT line per client.
pub fn consistent(herd: &LocalHerd, names: &[String]) -> bool {
    let tables: Vec<BTreeMap<Vec<u8>, Vec<u8>>> = names
        .iter()
        .filter_map(|n| herd.server(n))
        .map(|s| {
            s.all_updates()
                .into_iter()
                .map(|u| (u.client.to_vec(), u.at.to_vec()))
                .collect()
        })
        .collect();
    tables.windows(2).all(|w| w[0] == w[1])
}

fn summarise(
    herd: &LocalHerd,
    opts: &Options,
    log: &sim::SimLog,
    arrivals: &[(Arc<[u8]>, String, SystemTime)],
    chaos: &str,
    converged: bool,
    settle: Duration,
) -> String {
    let mut by_hops: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let hops = herd.config.hop_counts();
    for (at, server, when) in arrivals {
        let Some((origin, sent)) = log.replies.get(&at[..]) else {
            continue;
        };
        let Some(&h) = hops.get(&(origin.clone(), server.clone())) else {
            continue;
        };
        // The flood starts before the reply is written, so an arrival can precede the reply.
        let us = when
            .duration_since(*sent)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        by_hops.entry(h).or_default().push(us);
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "herd demo: {} servers, {} links, {} simulated clients, {:.1}s at {} commands/s",
        herd.config.servers.len(),
        herd.config.links.len(),
        opts.clients,
        opts.duration.as_secs_f64(),
        opts.rate
    );
    let _ = writeln!(
        t,
        "commands: {} IAMAT answered, {} WHATSAT answered, {} failed (server down)",
        log.iamats, log.whatsats, log.failures
    );
    let _ = writeln!(t, "updates applied by neighbours: {}", arrivals.len());
    let dropped: u64 = herd
        .names()
        .iter()
        .filter_map(|n| herd.server(n))
        .map(|s| s.events.dropped())
        .sum();
    if dropped > 0 {
        let _ = writeln!(
            t,
            "events dropped (the report missed them; latencies are from the rest): {dropped}"
        );
    }
    if !chaos.is_empty() {
        let _ = write!(t, "chaos:\n{chaos}");
    }
    let _ = writeln!(
        t,
        "propagation latency by hop count (client's reply -> applied at the server):"
    );
    let _ = writeln!(t, "  hops  updates      p50      p90      p99      max");
    for (h, samples) in &mut by_hops {
        samples.sort_unstable();
        let ms = |q: f64| percentile(samples, q) as f64 / 1000.0;
        let _ = writeln!(
            t,
            "  {h:>4}  {:>7}  {:>6.2}ms {:>6.2}ms {:>6.2}ms {:>6.2}ms",
            samples.len(),
            ms(0.5),
            ms(0.9),
            ms(0.99),
            ms(1.0)
        );
    }
    let names = herd.names();
    let running: Vec<Arc<Server>> = names.iter().filter_map(|n| herd.server(n)).collect();
    let known: Vec<String> = running
        .iter()
        .map(|s| format!("{}={}", s.name, s.clients_known()))
        .collect();
    let _ = writeln!(t, "clients known per server: {}", known.join(" "));
    let _ = writeln!(
        t,
        "consistency: {}",
        if converged {
            format!(
                "every running server holds the same table (settled in {} ms)",
                settle.as_millis()
            )
        } else {
            "NOT converged: servers disagree".to_string()
        }
    );
    t
}

/// The `q` quantile (0..=1) of sorted `samples` by the nearest-rank rule; 0 when empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 0.9), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
