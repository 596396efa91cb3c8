//! What a run measures as it goes: counters, how far each update has spread, catch-up traffic
//! by the fault that caused it, and the work a step leaves for the event loop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::check::Violation;
use super::net::NetStats;

/// Counters of a run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// What the network carried.
    pub net: NetStats,
    /// UPDATE messages sent as floods.
    pub flood_msgs: u64,
    /// Their bytes (the UPDATE lines).
    pub flood_bytes: u64,
    /// UPDATE messages sent by catch-up when links came up.
    pub catch_up_msgs: u64,
    /// Their bytes.
    pub catch_up_bytes: u64,
    /// Bytes of SUMMARY lines sent when links came up.
    pub summary_bytes: u64,
    /// Summaries sent again on a live link (every `resync_ms`, and a heartbeat after another
    /// link of the server was lost).
    pub resyncs: u64,
    /// Their bytes.
    pub resync_summary_bytes: u64,
    /// UPDATE messages those resyncs caused (entries of buckets that differed).
    pub resync_entries: u64,
    /// Their bytes.
    pub resync_entry_bytes: u64,
    /// UPDATE messages received.
    pub received: u64,
    /// Received updates that changed the table.
    pub applied: u64,
    /// Received updates that changed nothing (held already, older, or the table full).
    pub ignored: u64,
    /// Frames dropped for length.
    pub skipped: u64,
    /// IAMATs sent by clients.
    pub iamats: u64,
    /// IAMATs accepted (newer than what the server held).
    pub accepted: u64,
    /// Dials made.
    pub dials: u64,
    /// Dials that never connected (refused, timed out).
    pub connect_failures: u64,
    /// Times a link came up (a connection replacing a live one does not count).
    pub link_ups: u64,
    /// How connection ends ended, by kind.
    pub ends: BTreeMap<String, u64>,
    /// Crashes (process kills and power losses).
    pub crashes: u64,
    /// Restarts that replayed a data folder.
    pub restarts_with_data: u64,
    /// Restarts with an empty or no data folder.
    pub restarts_without_data: u64,
    /// Records replayed at restarts.
    pub replayed_records: u64,
    /// Bytes of torn or damaged records cut at restarts (kept aside by the store).
    pub damaged_bytes: u64,
    /// Connection resets injected.
    pub resets: u64,
    /// Partitions made.
    pub partitions: u64,
}

/// Catch-up traffic of the links that came up after one heal or restart (a restart's: the
/// links of the restarted server).
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// What happened, and when.
    pub after: String,
    /// When (virtual time).
    #[serde(serialize_with = "super::report::ser_ms", rename = "at_ms")]
    pub at: Duration,
    /// The server that restarted (none for a heal or the start).
    #[serde(skip)]
    pub server: Option<u32>,
    /// Bytes of SUMMARY lines.
    pub summary_bytes: u64,
    /// Catch-up UPDATE messages.
    pub entries: u64,
    /// Their bytes.
    pub entry_bytes: u64,
}

/// How far one accepted update has spread.
#[derive(Debug)]
struct Spread {
    /// When its server accepted it.
    accepted: Duration,
    /// Which servers have applied it (a bit per server).
    seen: Vec<u64>,
    /// How many of them.
    holders: u32,
    /// When it reached 50%, 99% and 100% of the servers.
    reached: [Option<Duration>; 3],
}

/// Spread of every accepted update, by AT line.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Servers in the herd.
    servers: u32,
    /// Updates by AT line (foldhash, as the node's table: it is looked up at every apply).
    ids: foldhash::HashMap<Arc<[u8]>, u32>,
    /// Their spread, by id.
    spread: Vec<Spread>,
}

/// The spread of the updates, summarised.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SpreadSummary {
    /// Updates accepted.
    pub updates: usize,
    /// How many reached every server.
    pub complete: usize,
    /// For 50%, 99% and 100% of the servers: median and 99th percentile of the time it took,
    /// over the updates that got that far.
    pub to_fraction: Vec<Percentiles>,
}

/// Median and 99th percentile of times.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Which fraction of servers.
    pub fraction: f64,
    /// Updates that got that far.
    pub count: usize,
    /// Median.
    #[serde(serialize_with = "super::report::ser_ms", rename = "p50_ms")]
    pub p50: Duration,
    /// 99th percentile.
    #[serde(serialize_with = "super::report::ser_ms", rename = "p99_ms")]
    pub p99: Duration,
    /// Longest.
    #[serde(serialize_with = "super::report::ser_ms", rename = "max_ms")]
    pub max: Duration,
}

impl Tracker {
    /// A tracker for a herd of `servers`.
    pub fn new(servers: usize) -> Tracker {
        Tracker {
            servers: servers as u32,
            ..Tracker::default()
        }
    }

    /// Server `server` applied the update `at` at `now` (the first time for a new update).
    pub fn applied(&mut self, at: &Arc<[u8]>, server: u32, now: Duration) {
        let n = self.servers;
        let id = *self.ids.entry(at.clone()).or_insert_with(|| {
            self.spread.push(Spread {
                accepted: now,
                seen: vec![0; (n as usize).div_ceil(64)],
                holders: 0,
                reached: [None; 3],
            });
            (self.spread.len() - 1) as u32
        });
        let s = &mut self.spread[id as usize];
        let (word, bit) = (server as usize / 64, 1u64 << (server % 64));
        if s.seen[word] & bit != 0 {
            return;
        }
        s.seen[word] |= bit;
        s.holders += 1;
        for (i, f) in [0.5, 0.99, 1.0].into_iter().enumerate() {
            let need = (f * f64::from(n)).ceil() as u32;
            if s.holders >= need && s.reached[i].is_none() {
                s.reached[i] = Some(now - s.accepted);
            }
        }
    }

    /// The summary over every update.
    pub fn summary(&self) -> SpreadSummary {
        let mut out = SpreadSummary {
            updates: self.spread.len(),
            complete: self
                .spread
                .iter()
                .filter(|s| s.reached[2].is_some())
                .count(),
            to_fraction: Vec::new(),
        };
        for (i, fraction) in [0.5, 0.99, 1.0].into_iter().enumerate() {
            let mut times: Vec<Duration> =
                self.spread.iter().filter_map(|s| s.reached[i]).collect();
            times.sort_unstable();
            let at = |q: f64| {
                let k = ((times.len() as f64 - 1.0) * q).round() as usize;
                times.get(k).copied().unwrap_or_default()
            };
            out.to_fraction.push(Percentiles {
                fraction,
                count: times.len(),
                p50: at(0.5),
                p99: at(0.99),
                max: times.last().copied().unwrap_or_default(),
            });
        }
        out
    }
}

/// Shared by every step: counters, spread, catch-up windows, and the work a session call
/// leaves behind (connections to close, links to pump, a violation).
#[derive(Debug, Default)]
pub struct Ctx {
    /// Counters.
    pub stats: Stats,
    /// Spread of each update.
    pub track: Tracker,
    /// Catch-up traffic by the heal or restart that caused it (the first: the start).
    pub windows: Vec<Window>,
    /// Links (server, peer) whose outbox got updates in this step.
    pub dirty: Vec<(u32, u32)>,
    /// Connection ends (connection, side) to close as superseded.
    pub kills: Vec<(u32, u8)>,
    /// Connection ends replaced as the live link but left for the neighbour to close.
    pub lingers: Vec<(u32, u8)>,
    /// The first violation found.
    pub violation: Option<Violation>,
    /// For the checker's own test: this server applies updates without newest wins.
    pub planted: Option<u32>,
}

impl Ctx {
    /// The window a link between servers `a` and `b` that comes up now belongs to: the last
    /// restart of either, or else the last heal (or the start).
    pub fn window_for(&self, a: u32, b: u32) -> Option<usize> {
        self.windows
            .iter()
            .rposition(|w| w.server.is_none_or(|s| s == a || s == b))
    }

    /// The link-up summary of a link, for window `w`.
    pub fn catch_up_summary(&mut self, w: Option<usize>, bytes: u64) {
        self.stats.summary_bytes += bytes;
        if let Some(w) = w.and_then(|w| self.windows.get_mut(w)) {
            w.summary_bytes += bytes;
        }
    }

    /// Link-up catch-up UPDATEs sent, for window `w`.
    pub fn catch_up_sent(&mut self, w: Option<usize>, msgs: u64, bytes: u64) {
        self.stats.catch_up_msgs += msgs;
        self.stats.catch_up_bytes += bytes;
        if let Some(w) = w.and_then(|w| self.windows.get_mut(w)) {
            w.entries += msgs;
            w.entry_bytes += bytes;
        }
    }

    /// A heal (`server` None) or the restart of `server` at `at`: the catch-up of the links
    /// that come up after it (and concern it) is its.
    pub fn new_window(&mut self, after: String, at: Duration, server: Option<u32>) {
        self.windows.push(Window {
            after,
            at,
            server,
            summary_bytes: 0,
            entries: 0,
            entry_bytes: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_counts_each_server_once_and_times_the_fractions() {
        let mut t = Tracker::new(4);
        let at: Arc<[u8]> = b"AT S +0 c +1+1 1".as_slice().into();
        let ms = Duration::from_millis;
        t.applied(&at, 0, ms(100));
        t.applied(&at, 0, ms(150));
        t.applied(&at, 1, ms(200));
        t.applied(&at, 2, ms(300));
        let s = t.summary();
        assert_eq!((s.updates, s.complete), (1, 0));
        assert_eq!((s.to_fraction[0].count, s.to_fraction[0].p50), (1, ms(100)));
        assert_eq!(s.to_fraction[1].count, 0, "3 of 4 is not 99%");
        t.applied(&at, 3, ms(400));
        assert_eq!(t.summary().to_fraction[2].max, ms(300));
    }
}
