//! What a run found, as text and as JSON: the herd, the faults, whether it converged (or the
//! violation and the command that replays it), how fast updates spread, what they cost on the
//! links against the spanning-tree minimum, catch-up after each heal or restart, the network's
//! and disks' counters, and memory per simulated server.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::check::Violation;
use super::track::{SpreadSummary, Stats, Window};

/// Serialises a duration as milliseconds (a float).
pub fn ser_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Link traffic per accepted update.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PerUpdate {
    /// UPDATE messages sent as floods, per accepted update.
    pub messages: f64,
    /// Their bytes, per accepted update.
    pub bytes: f64,
    /// The fewest messages that reach every server: a spanning tree, servers - 1.
    pub minimum: usize,
    /// `messages / minimum`.
    pub ratio: f64,
    /// Received updates that changed nothing, per accepted update.
    pub ignored: f64,
    /// Every byte on the links (handshakes, summaries, catch-up, heartbeats), per update.
    pub link_bytes: f64,
}

/// Resident memory of the process.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    /// Before the herd was built, bytes.
    pub before: u64,
    /// After the run, bytes.
    pub after: u64,
    /// `(after - before) / servers`.
    pub per_server: u64,
    /// Clients in a server's table at the end (what most of that memory holds).
    pub clients_per_table: usize,
}

/// The findings of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The herd's graph.
    pub topology: String,
    /// Servers.
    pub servers: usize,
    /// Links.
    pub links: usize,
    /// Longest shortest path, in hops.
    pub diameter: Option<u32>,
    /// The faults asked for, in words.
    pub faults: String,
    /// True when the herd settled with every invariant holding.
    pub converged: bool,
    /// The first invariant that failed.
    pub violation: Option<Violation>,
    /// The command that replays this run exactly.
    pub replay: String,
    /// Virtual time at the end, ms.
    pub virtual_ms: f64,
    /// Virtual time when the herd was found healed and quiet, ms.
    pub settled_ms: Option<f64>,
    /// Wall-clock time of the run, ms.
    pub wall_ms: f64,
    /// Hash of the whole event trace.
    pub trace_hash: String,
    /// How fast updates spread.
    pub spread: SpreadSummary,
    /// What updates cost on the links.
    pub per_update: PerUpdate,
    /// Catch-up traffic after the start and after each heal or restart.
    pub catch_up: Vec<Window>,
    /// Updates that a crash may legitimately have lost (a server without its data held them
    /// alone).
    pub maybe_lost: usize,
    /// Every counter.
    pub stats: Stats,
    /// Resident memory.
    pub memory: Memory,
}

/// Resident memory of this process now, from `/proc/self/status` (0 where there is none).
pub fn rss() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn ms(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn mb(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        _ => format!("{:.2} MB", bytes as f64 / 1e6),
    }
}

impl Report {
    /// The report as text.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let diameter = self
            .diameter
            .map_or("disconnected".into(), |d| d.to_string());
        let _ = writeln!(
            t,
            "herd sim, seed {}: {} ({} links, diameter {diameter})",
            self.seed, self.topology, self.links
        );
        let _ = writeln!(t, "faults: {}", self.faults);
        let st = &self.stats;
        match (&self.violation, self.settled_ms) {
            (Some(v), _) => {
                let _ = writeln!(
                    t,
                    "VIOLATION at {:.3} s (virtual): {}",
                    v.at.as_secs_f64(),
                    v.what
                );
                let _ = writeln!(t, "replay with: {}", self.replay);
            }
            (None, Some(s)) => {
                let _ = writeln!(t, "converged: healed and quiet at {:.1} s (virtual); every server holds the newest-wins table of the {} accepted updates", s / 1000.0, st.accepted);
            }
            (None, None) => {
                let _ = writeln!(
                    t,
                    "stopped at {:.1} s (virtual) without settling",
                    self.virtual_ms / 1000.0
                );
            }
        }
        let rate = st.events as f64 / (self.wall_ms / 1000.0).max(1e-9);
        let _ = writeln!(
            t,
            "run: {} events in {:.2} s wall ({:.2} M events/s); trace {}",
            st.events,
            self.wall_ms / 1000.0,
            rate / 1e6,
            self.trace_hash
        );
        let sp = &self.spread;
        let _ = writeln!(
            t,
            "clients: {} IAMATs, {} accepted; {} of {} updates reached every server (the others were overtaken on the way by a newer one for the same client)",
            st.iamats, st.accepted, sp.complete, sp.updates
        );
        for p in &sp.to_fraction {
            let _ = writeln!(
                t,
                "  to {:>3}% of servers: median {}, p99 {}, max {} ({} updates)",
                (p.fraction * 100.0) as u32,
                ms(p.p50),
                ms(p.p99),
                ms(p.max),
                p.count
            );
        }
        let u = &self.per_update;
        let _ = writeln!(t, "per update: {:.0} UPDATE messages ({:.2}x the spanning-tree minimum of {}), {:.1} KB; {:.0} ignored; {:.1} KB of all link traffic", u.messages, u.ratio, u.minimum, u.bytes / 1e3, u.ignored, u.link_bytes / 1e3);
        for w in &self.catch_up {
            let _ = writeln!(
                t,
                "catch-up after {} at {:.1} s: summaries {}, {} entries ({})",
                w.after,
                w.at.as_secs_f64(),
                mb(w.summary_bytes),
                w.entries,
                mb(w.entry_bytes)
            );
        }
        let _ = writeln!(t, "resyncs (every resync interval, and a heartbeat after a server lost another link): {} summaries ({}), {} entries ({})", st.resyncs, mb(st.resync_summary_bytes), st.resync_entries, mb(st.resync_entry_bytes));
        let n = &st.net;
        let _ = writeln!(t, "network: {} segments, {}; retransmitted {} (loss) + {} (partition); reordered {}, duplicated {}; resets {}", n.segments, mb(n.bytes), n.retransmits, n.partition_retransmits, n.reordered, n.duplicated, st.resets);
        let ends: Vec<String> = st.ends.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            t,
            "links: {} dials ({} failed to connect), came up {} times (counted at each end); connections ended: {}",
            st.dials,
            st.connect_failures,
            st.link_ups,
            ends.join(", ")
        );
        let _ = writeln!(t, "crashes: {}; restarts with data {} ({} records replayed, {} torn or damaged bytes cut), without {}; {} updates may have been lost with a server", st.crashes, st.restarts_with_data, st.replayed_records, st.damaged_bytes, st.restarts_without_data, self.maybe_lost);
        let m = &self.memory;
        let _ = writeln!(
            t,
            "memory: {} resident before, {} after: {} per simulated server ({} clients per table)",
            mb(m.before),
            mb(m.after),
            mb(m.per_server),
            m.clients_per_table
        );
        t
    }
}
