//! The end of a run: once the clients are done and every fault has healed, wait until the herd
//! is quiet (every link up on one connection both ends agree on, no outbox or catch-up queue
//! waiting, no update in flight), then check that every server holds the newest-wins table of
//! everything accepted. A herd that does not get quiet within the settle timeout fails.

use std::time::Duration;

use super::check::Violation;
use super::report::{Memory, PerUpdate, Report};
use super::world::{Event, World};

/// How often a herd that is not quiet yet is looked at again.
const EVERY: Duration = Duration::from_millis(100);

impl World {
    /// Looks at the herd: finished when quiet, else again in a moment (or a violation after
    /// the settle timeout).
    pub(super) fn settle(&mut self) {
        let busy = if self.clients.sent < self.clients.total || self.faults_pending > 0 {
            Some("clients or faults are still to come".to_string())
        } else {
            self.not_quiet()
        };
        let Some(why) = busy else {
            self.settled_at = Some(self.now);
            self.done = true;
            self.final_check();
            return;
        };
        let last_fault = self.faults.last().map_or(Duration::ZERO, |f| f.0);
        let span = Duration::from_secs_f64(self.opts.updates as f64 / self.opts.rate.max(1e-9));
        let deadline = span.max(last_fault) + self.opts.settle_timeout;
        if self.now >= deadline {
            self.ctx.violation.get_or_insert(Violation {
                at: self.now,
                what: format!(
                    "the herd was not quiet {:?} after the last client and fault: {why}",
                    self.opts.settle_timeout
                ),
            });
            return;
        }
        self.at(self.now + EVERY, Event::Settle);
    }

    /// Why the herd is not quiet yet, or `None` when it is.
    fn not_quiet(&self) -> Option<String> {
        let names = &self.topo.names;
        if let Some(s) = self.slots.iter().position(|s| s.run.is_none()) {
            return Some(format!("{} is down", names[s]));
        }
        if self.group.iter().any(|&g| g != 0) {
            return Some("the herd is partitioned".into());
        }
        for ends in &self.link_ends {
            let side = |&(s, p): &(u32, u32)| {
                let peer = &self.slots[s as usize].run.as_ref()?.peers[p as usize];
                Some((peer.live.map(|l| l.conn), peer.outbox.len(), &peer.dialer))
            };
            let (Some(a), Some(b)) = (side(&ends[0]), side(&ends[1])) else {
                continue;
            };
            if a.0.is_none() || a.0 != b.0 || a.1 + b.1 > 0 {
                let show = |&(s, _): &(u32, u32), (live, waiting, d): (Option<u32>, usize, &super::server::Dialer)| {
                    format!(
                        "{}: live connection {live:?}, {waiting} updates waiting, dialing {:?}, next dial at {:?}, {} failures",
                        names[s as usize], d.dialing, d.waiting, d.failures
                    )
                };
                return Some(format!("a link is not up on one connection both ends agree on, or has updates waiting ({}; {})", show(&ends[0], a), show(&ends[1], b)));
            }
        }
        for (id, c) in self.conns.iter().enumerate() {
            let Some(c) = c else { continue };
            let waiting = c
                .ends
                .iter()
                .flatten()
                .any(|e| e.session.catch_up_waiting() > 0);
            let flying = c.pipes.iter().any(|p| p.data_in_flight() > 0);
            if waiting || flying {
                return Some(format!(
                    "connection {id} has catch-up waiting or updates in flight"
                ));
            }
        }
        None
    }

    /// Healed and quiet: every server must hold the newest-wins table of what was accepted.
    fn final_check(&mut self) {
        let tables: Vec<_> = self
            .slots
            .iter()
            .filter_map(|s| s.run.as_ref())
            .map(|s| (s.settings.name.clone(), s.node.snapshot()))
            .collect();
        if let Some((_, t)) = tables.first() {
            // The check below makes every other table equal to this one.
            self.trace.table(t);
        }
        if let Err(what) = self.expect.check(&tables) {
            self.ctx
                .violation
                .get_or_insert(Violation { at: self.now, what });
        }
    }
}

impl World {
    /// The report of the run so far; `wall` is how long it took, `before` and `after` the
    /// process's resident memory around it.
    pub fn report(&self, wall: Duration, before: u64, after: u64) -> Report {
        let st = &self.ctx.stats;
        let n = self.topo.len();
        let accepted = st.accepted.max(1) as f64;
        let minimum = n.saturating_sub(1);
        let messages = st.flood_msgs as f64 / accepted;
        let clients_per_table = self
            .slots
            .iter()
            .filter_map(|s| s.run.as_ref())
            .map(|s| s.node.len())
            .max()
            .unwrap_or(0);
        Report {
            seed: self.opts.seed,
            topology: self.topo.kind.clone(),
            servers: n,
            links: self.topo.links.len(),
            diameter: self.topo.diameter(),
            faults: self.opts.faults_text(),
            converged: self.settled_at.is_some() && self.ctx.violation.is_none(),
            violation: self.ctx.violation.clone(),
            replay: self.opts.command(),
            virtual_ms: self.now.as_secs_f64() * 1000.0,
            settled_ms: self.settled_at.map(|t| t.as_secs_f64() * 1000.0),
            wall_ms: wall.as_secs_f64() * 1000.0,
            trace_hash: self.trace.hex(),
            spread: self.ctx.track.summary(),
            per_update: PerUpdate {
                messages,
                bytes: st.flood_bytes as f64 / accepted,
                minimum,
                ratio: messages / minimum.max(1) as f64,
                ignored: st.ignored as f64 / accepted,
                link_bytes: st.net.bytes as f64 / accepted,
            },
            catch_up: self.ctx.windows.clone(),
            maybe_lost: self.expect.lost(),
            stats: st.clone(),
            memory: Memory {
                before,
                after,
                per_server: after.saturating_sub(before) / n.max(1) as u64,
                clients_per_table,
            },
        }
    }
}
