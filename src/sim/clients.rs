//! Simulated clients: IAMATs at a rate (exponential gaps) to random running servers. Each
//! client's clock may step backwards or repeat a time exactly, so servers see older reports
//! and ties that only the AT line's bytes break.

use std::time::Duration;

use super::check::Violation;
use super::host::escaped;
use super::world::{Event, World};
use crate::node::Outcome;
use crate::protocol::Timestamp;

/// Virtual time 0 is this POSIX time (2023-11-14), so client times look real.
pub const EPOCH_NS: i128 = 1_700_000_000 * 1_000_000_000;

/// The clients and what they sent.
#[derive(Debug)]
pub struct Clients {
    /// Their own random source.
    rng: fastrand::Rng,
    /// Client IDs.
    ids: Vec<String>,
    /// Each client's last reported time, in nanoseconds, if any.
    last: Vec<Option<i128>>,
    /// Each client's clock offset from virtual time, in nanoseconds (skew).
    skew: Vec<i128>,
    /// IAMATs sent so far.
    pub sent: usize,
    /// IAMATs to send.
    pub total: usize,
    /// IAMATs per second, all clients together.
    rate: f64,
    /// Probability that a report steps back in time.
    backwards: f64,
    /// Probability that a report repeats the client's last time exactly.
    ties: f64,
}

impl Clients {
    /// `clients` clients that will send `total` IAMATs at `rate` per second.
    pub fn new(
        seed: u64,
        clients: usize,
        total: usize,
        rate: f64,
        backwards: f64,
        ties: f64,
    ) -> Clients {
        let mut rng = fastrand::Rng::with_seed(seed);
        let clients = clients.max(1);
        let skew = (0..clients)
            .map(|_| i128::from(rng.i64(-500_000_000..500_000_000)))
            .collect();
        Clients {
            rng,
            ids: (0..clients).map(|i| format!("client-{i}.sim")).collect(),
            last: vec![None; clients],
            skew,
            sent: 0,
            total,
            rate,
            backwards,
            ties,
        }
    }

    /// The gap before the next IAMAT.
    pub fn gap(&mut self) -> Duration {
        let u = 1.0 - self.rng.f64();
        Duration::from_secs_f64(-u.ln() / self.rate.max(1e-9))
    }

    /// A random index below `n`.
    pub fn pick(&mut self, n: usize) -> usize {
        self.rng.usize(..n.max(1))
    }

    /// The next IAMAT line, sent at virtual time `now`.
    pub fn line(&mut self, now: Duration) -> Vec<u8> {
        let c = self.rng.usize(..self.ids.len());
        let clock = EPOCH_NS + now.as_nanos() as i128 + self.skew[c];
        let t = match self.last[c] {
            Some(last) if self.rng.f64() < self.ties => last,
            Some(last) if self.rng.f64() < self.backwards => {
                (last - i128::from(self.rng.i64(1..2_000_000_000))).max(0)
            }
            _ => clock,
        };
        self.last[c] = Some(t);
        let lat = self.rng.f64() * 180.0 - 90.0;
        let lng = self.rng.f64() * 360.0 - 180.0;
        let (secs, nanos) = (t / 1_000_000_000, t % 1_000_000_000);
        format!("IAMAT {} {lat:+.6}{lng:+.6} {secs}.{nanos:09}", self.ids[c]).into_bytes()
    }
}

impl World {
    /// A client sends an IAMAT to a random running server: the real node answers it, and the
    /// update is persisted and flooded when accepted.
    pub(super) fn client(&mut self) {
        let now = self.now;
        self.clients.sent += 1;
        if self.clients.sent < self.clients.total {
            let gap = self.clients.gap();
            self.at(now + gap, Event::Client);
        }
        let n = self.slots.len();
        let mut s = self.clients.pick(n);
        for _ in 0..n {
            if self.slots[s].run.is_some() {
                break;
            }
            s = (s + 1) % n;
        }
        let line = self.clients.line(now);
        let Some(server) = self.slots[s].run.as_mut() else {
            return; // every server is down: the client finds nobody
        };
        self.ctx.stats.iamats += 1;
        let client = line
            .split(|&b| b == b' ')
            .nth(1)
            .unwrap_or_default()
            .to_vec();
        let before = server.node.lookup(&client);
        let mut reply = Vec::new();
        let received = Timestamp(EPOCH_NS + now.as_nanos() as i128);
        let outcome = server.node.client_line(&line, received, &mut reply);
        let after = server.node.lookup(&client);
        if !(reply.starts_with(b"AT ") && reply.ends_with(b"\n")) {
            self.ctx.violation.get_or_insert(Violation {
                at: now,
                what: format!(
                    "{} answered {} with {}",
                    server.settings.name,
                    escaped(&line),
                    escaped(&reply)
                ),
            });
        }
        if let (Some(b), Some(a)) = (&before, &after) {
            if b.is_newer_than(a) {
                self.ctx.violation.get_or_insert(Violation {
                    at: now,
                    what: format!(
                        "{}'s record went from {} to an older one, {}",
                        server.settings.name,
                        escaped(&b.at),
                        escaped(&a.at)
                    ),
                });
            }
        }
        if let Outcome::Accepted(effects) = outcome {
            self.ctx.stats.accepted += 1;
            self.expect.accepted(&effects.update);
            self.ctx.track.applied(&effects.update.at, s as u32, now);
            server.perform(&effects, now, &mut self.ctx.dirty);
        }
    }
}
