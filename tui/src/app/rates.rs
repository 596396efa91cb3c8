//! Message rates per server, computed from successive snapshots.
//!
//! Snapshots arrive every frame; a rate is sampled once at least
//! [`RATE_INTERVAL`] has passed since the previous sample, so the numbers are
//! per second and do not jitter with the frame rate.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::model::ServerSnapshot;

/// Minimum time between two rate samples.
pub const RATE_INTERVAL: Duration = Duration::from_secs(1);

/// Samples kept per server for sparklines.
pub const RATE_HISTORY: usize = 120;

/// Counters seen at the last sample.
#[derive(Clone, Debug)]
struct Baseline {
    /// When the counters were read.
    at: Instant,
    /// `lines_in` then.
    lines_in: u64,
    /// `lines_out` then.
    lines_out: u64,
}

/// Rate history of one server, oldest first, in lines per second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateHistory {
    /// Lines received per second.
    pub lines_in: VecDeque<u64>,
    /// Lines sent per second.
    pub lines_out: VecDeque<u64>,
}

impl RateHistory {
    /// The latest inbound rate, if any sample was taken.
    pub fn current_in(&self) -> Option<u64> {
        self.lines_in.back().copied()
    }

    /// The latest outbound rate, if any sample was taken.
    pub fn current_out(&self) -> Option<u64> {
        self.lines_out.back().copied()
    }

    fn push(&mut self, lines_in: u64, lines_out: u64) {
        self.lines_in.push_back(lines_in);
        self.lines_out.push_back(lines_out);
        while self.lines_in.len() > RATE_HISTORY {
            self.lines_in.pop_front();
        }
        while self.lines_out.len() > RATE_HISTORY {
            self.lines_out.pop_front();
        }
    }
}

/// Rate histories of every server seen, by name.
#[derive(Clone, Debug, Default)]
pub struct RateTracker {
    /// Counters at the last sample, by server.
    baselines: BTreeMap<String, Baseline>,
    /// Sampled rates, by server.
    history: BTreeMap<String, RateHistory>,
}

impl RateTracker {
    /// Feed the servers of a new snapshot taken at `now`.
    pub fn observe(&mut self, servers: &[ServerSnapshot], now: Instant) {
        self.baselines
            .retain(|name, _| servers.iter().any(|s| &s.name == name));
        self.history
            .retain(|name, _| servers.iter().any(|s| &s.name == name));
        for server in servers {
            let fresh = Baseline {
                at: now,
                lines_in: server.lines_in,
                lines_out: server.lines_out,
            };
            let Some(base) = self.baselines.get(&server.name) else {
                self.baselines.insert(server.name.clone(), fresh);
                continue;
            };
            let elapsed = now.saturating_duration_since(base.at);
            if elapsed < RATE_INTERVAL {
                continue;
            }
            // A counter that went down means the server restarted: count from zero.
            let d_in = server.lines_in.saturating_sub(base.lines_in);
            let d_out = server.lines_out.saturating_sub(base.lines_out);
            let secs = elapsed.as_secs_f64();
            let per_sec = |d: u64| (d as f64 / secs).round() as u64;
            self.history
                .entry(server.name.clone())
                .or_default()
                .push(per_sec(d_in), per_sec(d_out));
            self.baselines.insert(server.name.clone(), fresh);
        }
    }

    /// The rate history of a server, if it has one.
    pub fn get(&self, server: &str) -> Option<&RateHistory> {
        self.history.get(server)
    }
}
