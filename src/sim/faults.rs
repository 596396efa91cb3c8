//! Faults: partitions and heals, crashes (a process kill, or a power loss) and restarts with or
//! without the data folder, and connection resets. Drawn from the faults' own random source
//! when the run is built, so the schedule depends on the seed and the options alone.

use std::time::Duration;

use super::check::Violation;
use super::disk;
use super::net::Payload;
use super::server::sorted;
use super::world::{Down, Event, World};
use super::Options;
use crate::config::Fsync;

/// One scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Cut the herd into random groups.
    Partition,
    /// Heal the partition.
    Heal,
    /// Crash server `server`.
    Crash {
        /// Which.
        server: u32,
        /// It restarts without its data folder (wiped or lost with the machine).
        wipe: bool,
        /// A power loss rather than a process kill.
        power: bool,
    },
    /// Restart server `server` (if it is down).
    Restart {
        /// Which.
        server: u32,
    },
    /// Reset a random live connection.
    Reset,
}

/// The faults of a run of `servers` servers whose clients send for `span`, in time order.
pub fn schedule(
    opts: &Options,
    servers: usize,
    span: Duration,
    rng: &mut fastrand::Rng,
) -> Vec<(Duration, Fault)> {
    let mut out = Vec::new();
    for &(start, length) in &opts.partitions {
        out.push((start, Fault::Partition));
        out.push((start + length, Fault::Heal));
    }
    for _ in 0..opts.crashes {
        let at = span.mul_f64(0.1 + 0.7 * rng.f64());
        let server = rng.u32(..servers as u32);
        let wipe = rng.f64() < opts.wipe;
        let power = rng.f64() < opts.power;
        out.push((
            at,
            Fault::Crash {
                server,
                wipe,
                power,
            },
        ));
        out.push((at + opts.downtime, Fault::Restart { server }));
    }
    for _ in 0..opts.resets {
        out.push((span.mul_f64(rng.f64()), Fault::Reset));
    }
    out.sort_by_key(|(at, _)| *at);
    out
}

impl World {
    /// Fault number `n` of the schedule happens.
    pub(super) fn fault(&mut self, n: u32) {
        self.faults_pending = self.faults_pending.saturating_sub(1);
        let Some(&(_, fault)) = self.faults.get(n as usize) else {
            return;
        };
        match fault {
            Fault::Partition => self.partition(),
            Fault::Heal => {
                self.group.iter_mut().for_each(|g| *g = 0);
                self.ctx.new_window("heal".into(), self.now, None);
            }
            Fault::Crash {
                server,
                wipe,
                power,
            } => self.crash(server, wipe, power),
            Fault::Restart { server } => self.restart(server),
            Fault::Reset => self.reset_one(),
        }
    }

    /// Shuffles the servers and cuts them into `groups` groups of nearly equal size.
    fn partition(&mut self) {
        let n = self.slots.len();
        let mut order: Vec<usize> = (0..n).collect();
        self.rng_faults.shuffle(&mut order);
        let groups = self.opts.groups.clamp(2, 255);
        for (i, s) in order.into_iter().enumerate() {
            self.group[s] = (i * groups / n.max(1)) as u8 + 1;
        }
        self.ctx.stats.partitions += 1;
    }

    /// Server `s` crashes: its connections vanish (a killed process's kernel sends FIN; a host
    /// without power sends nothing), and its data folder keeps what the crash leaves.
    fn crash(&mut self, s: u32, wipe: bool, power: bool) {
        let now = self.now;
        let slot = &mut self.slots[s as usize];
        let Some(mut server) = slot.run.take() else {
            return;
        };
        slot.epoch += 1;
        slot.host_down = power;
        self.ctx.stats.crashes += 1;
        let table = sorted(server.node.snapshot());
        let keeps = server.disk.is_some() && !wipe;
        if !keeps || (power && self.opts.fsync != Fsync::Always) {
            // What this server alone held may be gone with it (or may survive in its data).
            for u in &table {
                let elsewhere = self.slots.iter().filter_map(|o| o.run.as_ref()).any(|o| {
                    o.node
                        .lookup(&u.client)
                        .is_some_and(|h| !u.is_newer_than(&h))
                });
                if !elsewhere {
                    self.expect.maybe_lost(u.at.clone());
                }
            }
        }
        let name = server.settings.name.clone();
        let image = match (&mut server.disk, keeps) {
            (Some(d), true) => Some(d.crash(now, power, &name, &mut self.rng_faults)),
            _ => None,
        };
        for id in 0..self.conns.len() {
            for side in 0..2u8 {
                let Some(c) = self.conns[id].as_mut() else {
                    continue;
                };
                if c.servers[side as usize] != s || c.ends[side as usize].take().is_none() {
                    continue;
                }
                let other_open = c.ends[1 - side as usize].is_some();
                if !power && other_open {
                    self.send(id as u32, side, Payload::Fin);
                } else if !other_open && c.opened {
                    // (Before the dialer's connect returns, `connected` settles it.)
                    self.conns[id] = None;
                }
            }
        }
        self.slots[s as usize].down = Some(Down {
            image,
            power,
            table: table.into_iter().map(|u| u.at).collect(),
        });
    }

    /// Server `s` starts again: it replays its data folder if it kept one (which must give
    /// back its table exactly, unless a power loss took unsynced records), then dials every
    /// neighbour and catches up.
    fn restart(&mut self, s: u32) {
        let now = self.now;
        if self.slots[s as usize].run.is_some() {
            return;
        }
        let down = self.slots[s as usize].down.take();
        let mut server = self.new_server(s);
        let name = server.settings.name.clone();
        match down.as_ref().and_then(|d| d.image.as_ref().map(|i| (d, i))) {
            Some((down, image)) => {
                let factor = self.compact_factor;
                let (disk, replayed) = disk::replay(image, self.opts.fsync, factor);
                server.node.restore(&replayed.updates);
                server.disk = Some(disk);
                self.ctx.stats.restarts_with_data += 1;
                self.ctx.stats.replayed_records += replayed.records as u64;
                self.ctx.stats.damaged_bytes += replayed.damaged_bytes as u64;
                let restored: Vec<_> = sorted(server.node.snapshot())
                    .into_iter()
                    .map(|u| u.at)
                    .collect();
                let durable = !down.power || self.opts.fsync == Fsync::Always;
                if durable && restored != down.table {
                    let lost = down
                        .table
                        .iter()
                        .filter(|at| !restored.contains(at))
                        .count();
                    self.ctx.violation.get_or_insert(Violation {
                        at: now,
                        what: format!(
                            "{name} restarted with its data folder holding {} of the {} updates it held at the crash ({lost} lost)",
                            restored.len(),
                            down.table.len()
                        ),
                    });
                }
            }
            None => self.ctx.stats.restarts_without_data += 1,
        }
        let slot = &mut self.slots[s as usize];
        slot.host_down = false;
        let peers = server.peers.len() as u32;
        slot.run = Some(server);
        let what = match down.as_ref().map(|d| d.image.is_some()) {
            Some(true) => "with its data",
            _ => "without data",
        };
        self.ctx
            .new_window(format!("restart of {name} {what}"), now, Some(s));
        for p in 0..peers {
            self.redial(s, p);
        }
    }

    /// A middlebox resets a random open connection: each end gets a RST.
    fn reset_one(&mut self) {
        let open: Vec<u32> = (0..self.conns.len())
            .filter(|&i| {
                self.conns[i]
                    .as_ref()
                    .is_some_and(|c| c.ends.iter().all(Option::is_some))
            })
            .map(|i| i as u32)
            .collect();
        if open.is_empty() {
            return;
        }
        let id = open[self.rng_faults.usize(..open.len())];
        let Some(link) = self.conns[id as usize].as_ref().map(|c| c.link) else {
            return;
        };
        self.ctx.stats.resets += 1;
        let base = self.latency[link as usize];
        for side in 0..2u8 {
            let d = self.opts.net.one_way(base, &mut self.rng_faults);
            self.at(self.now + d, Event::Reset(id, side));
        }
    }
}
