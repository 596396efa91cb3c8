//! What `herd bench` found: plain structs that print as text or as one JSON object, and the
//! issue's targets checked against them.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::args::Mode;

/// Latency percentiles, microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub samples: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Reads a histogram.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            samples: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// One load run against one server.
#[derive(Clone, Debug, Serialize)]
pub struct LoadStats {
    /// The address driven.
    pub target: String,
    /// Connection style.
    pub mode: Mode,
    /// Concurrent connections.
    pub connections: usize,
    /// Replies received (good and unexpected).
    pub requests: u64,
    /// IAMAT replies of the right shape.
    pub iamat: u64,
    /// WHATSAT replies of the right shape.
    pub whatsat: u64,
    /// Replies of an unexpected shape.
    pub unexpected: u64,
    /// Failed commands (connect, read, write, timeout).
    pub errors: u64,
    /// The first failure or unexpected reply.
    pub first_error: Option<String>,
    /// Wall time of the run.
    pub elapsed_ms: f64,
    /// Good replies per second.
    pub throughput: f64,
    /// Latency of good replies, command sent to reply complete (per command: from connect).
    pub latency_us: Percentiles,
}

/// The server under test and the echo ceiling, same generator, same mode.
#[derive(Clone, Debug, Serialize)]
pub struct LoadPair {
    /// Connection style.
    pub mode: Mode,
    /// Which round of this mode (1-based; see `--rounds`).
    pub round: u32,
    /// The echo ceiling.
    pub echo: LoadStats,
    /// The herd server (or --target).
    pub server: LoadStats,
    /// server throughput / echo throughput.
    pub ratio: f64,
    /// Link traffic across the herd during the server's run (None with --target).
    pub floods: Option<Floods>,
    /// CPU time per command, when it could be measured.
    pub cpu: Option<Cpu>,
}

/// CPU time per command of the echo run and of the server's run.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Cpu {
    /// Whose CPU: `"servers"` (the herd's processes, and the echo process: `--processes`) or
    /// `"process"` (this whole process, load generator included: in-process and `--target`).
    pub scope: &'static str,
    /// Echo CPU per request, µs.
    pub echo_us: f64,
    /// Server (whole herd) CPU per command, µs.
    pub server_us: f64,
    /// `server_us / echo_us`.
    pub ratio: f64,
}

/// Updates that crossed links, summed over every server of the in-process herd.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Floods {
    /// Updates written to neighbours.
    pub sent: u64,
    /// Updates read from neighbours.
    pub received: u64,
    /// Received updates that changed nothing (the other path of a cycle).
    pub ignored: u64,
    /// Writes on link sockets (each carries a batch of messages).
    pub writes: u64,
    /// `sent` per IAMAT answered.
    pub sent_per_iamat: f64,
    /// `writes` per IAMAT answered.
    pub writes_per_iamat: f64,
    /// `ignored` per IAMAT answered.
    pub ignored_per_iamat: f64,
}

impl Floods {
    /// What crossed links between `before` and `self`, per IAMAT of a run of `iamat`.
    pub fn since(&self, before: &Floods, iamat: u64) -> Floods {
        let per = |n: u64| n as f64 / iamat.max(1) as f64;
        let (sent, ignored, writes) = (
            self.sent - before.sent,
            self.ignored - before.ignored,
            self.writes - before.writes,
        );
        Floods {
            sent,
            received: self.received - before.received,
            ignored,
            writes,
            sent_per_iamat: per(sent),
            writes_per_iamat: per(writes),
            ignored_per_iamat: per(ignored),
        }
    }
}

/// Propagation to servers at one hop count.
#[derive(Clone, Debug, Serialize)]
pub struct HopStats {
    /// Hops from the server that took the IAMAT.
    pub hops: usize,
    /// (origin, server) pairs at this distance that were measured.
    pub pairs: usize,
    /// Updates expected to arrive at this distance.
    pub expected: u64,
    /// Latency from the IAMAT's reply (as the client saw it) to the update applied there, µs.
    pub latency_us: Percentiles,
    /// Latency from the IAMAT sent to the update applied there, µs: an upper bound that also
    /// counts the time the origin took to answer (which matters under load, where replies
    /// wait and floods leave before them).
    pub from_send_us: Percentiles,
}

/// The propagation phase.
#[derive(Clone, Debug, Serialize)]
pub struct Propagation {
    /// Updates per second asked for.
    pub rate: u32,
    /// IAMATs answered.
    pub updates: u64,
    /// Updates per second achieved.
    pub achieved_rate: f64,
    /// Per hop count.
    pub by_hops: Vec<HopStats>,
    /// Expected arrivals never seen (within the settle time).
    pub missing: u64,
    /// Arrivals seen before the client had the reply (counted as 0 µs).
    pub before_reply: u64,
    /// Events the bus dropped (a full subscriber); non-zero makes `missing` unreliable.
    pub events_dropped: u64,
    /// Send errors.
    pub errors: u64,
    /// The closed-loop load that ran beside it (`--under-load`).
    pub under_load: Option<LoadStats>,
}

impl Propagation {
    /// The two-hop p99 in µs that the target reads: from the IAMAT sent when the load ran
    /// beside it, else from the reply; `None` without two-hop arrivals.
    pub fn two_hop_p99(&self) -> Option<u64> {
        let h = self.by_hops.iter().find(|h| h.hops == 2)?;
        Some(match self.under_load {
            Some(_) => h.from_send_us.p99,
            None => h.latency_us.p99,
        })
    }

    /// Of `rounds`, the one with the median [`Propagation::two_hop_p99`] (the lower middle one
    /// of an even count; a round without two-hop arrivals counts as the slowest), and the range
    /// of that p99 over the rounds that have one (0-0 if none has).
    pub fn median(rounds: &[Propagation]) -> Option<(&Propagation, (u64, u64))> {
        let mut by: Vec<(Option<u64>, &Propagation)> =
            rounds.iter().map(|p| (p.two_hop_p99(), p)).collect();
        by.sort_by_key(|(v, _)| v.unwrap_or(u64::MAX));
        let values = || by.iter().filter_map(|(v, _)| *v);
        let range = (values().min().unwrap_or(0), values().max().unwrap_or(0));
        by.get(by.len().checked_sub(1)? / 2)
            .map(|(_, p)| (*p, range))
    }
}

/// The idle-connections phase.
#[derive(Clone, Debug, Serialize)]
pub struct Idle {
    /// Connections asked for.
    pub wanted: usize,
    /// Connections opened.
    pub opened: usize,
    /// Sampled connections that still answered an IAMAT afterwards, of `sampled`.
    pub answered: usize,
    /// Connections sampled.
    pub sampled: usize,
    /// Server RSS before the connections, KiB.
    pub rss_before_kib: u64,
    /// Server RSS with the connections open, KiB.
    pub rss_kib: u64,
    /// (rss - before) / opened, bytes.
    pub bytes_per_connection: f64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// The start-up phase.
#[derive(Clone, Debug, Serialize)]
pub struct Startup {
    /// Each spawn-to-accepting time, ms.
    pub runs_ms: Vec<f64>,
    /// Median.
    pub median_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// The offline Places phase.
#[derive(Clone, Debug, Serialize)]
pub struct PlacesBench {
    /// Places in the table.
    pub table: usize,
    /// Time to load the embedded table, ms.
    pub load_ms: f64,
    /// Radius, metres.
    pub radius_m: f64,
    /// Bound.
    pub bound: usize,
    /// Lookups done.
    pub lookups: u64,
    /// Lookups per second (one thread).
    pub per_second: f64,
    /// Mean results per lookup.
    pub mean_results: f64,
    /// Latency per lookup, µs.
    pub latency_us: Percentiles,
}

/// One of the targets.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// What it is.
    pub name: String,
    /// The goal, in words.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Met, not met, or not measured in this run (None).
    pub met: Option<bool>,
}

/// The machine and build.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPUs available to the process.
    pub cpus: usize,
    /// The CPU model, from /proc/cpuinfo.
    pub cpu_model: String,
    /// The async runtime.
    pub runtime: &'static str,
    /// release or debug.
    pub build: &'static str,
    /// The in-process herd's log level ("" with --target).
    pub log_level: String,
}

/// Everything one run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// What took the load: `in-process herd: Clark` or the --target address.
    pub server: String,
    /// Percent of WHATSAT in the load.
    pub whatsat_percent: u32,
    /// Load runs, one pair per mode.
    pub load: Vec<LoadPair>,
    /// Propagation, when measured: the round with the median two-hop p99 (the one the target
    /// reads: from the IAMAT sent under load, else from the reply).
    pub propagation: Option<Propagation>,
    /// Every propagation round, in the order run (`--rounds`).
    pub propagation_rounds: Vec<Propagation>,
    /// Idle connections, when measured.
    pub idle: Option<Idle>,
    /// Start-up, when measured.
    pub startup: Option<Startup>,
    /// Offline Places, when measured.
    pub places: Option<PlacesBench>,
    /// The targets.
    pub targets: Vec<Target>,
}

impl Report {
    /// `; median of N rounds, a-b ms` for the propagation target, when there were several.
    fn rounds_text(&self) -> String {
        match Propagation::median(&self.propagation_rounds) {
            Some((_, (lo, hi))) if self.propagation_rounds.len() > 1 => format!(
                "; median of {} rounds, {:.2}-{:.2} ms",
                self.propagation_rounds.len(),
                lo as f64 / 1e3,
                hi as f64 / 1e3
            ),
            _ => String::new(),
        }
    }

    /// Fills `targets` from what was measured.
    pub fn check_targets(&mut self, connections: usize) {
        let mut t = Vec::new();
        for mode in [Mode::Persistent, Mode::PerCommand] {
            // The round with the median ratio stands for the mode.
            let mut pairs: Vec<&LoadPair> = self.load.iter().filter(|p| p.mode == mode).collect();
            pairs.sort_by(|a, b| a.ratio.total_cmp(&b.ratio));
            let pair = pairs.get(pairs.len() / 2).copied();
            // Persistent: 0.6x at 50 and at 400 connections; per command: 0.9x at 50.
            let (goal, conns_ok) = match mode {
                Mode::Persistent => (0.6, connections == 50 || connections == 400),
                Mode::PerCommand => (0.9, connections == 50),
            };
            let applies = self.whatsat_percent == 0 && conns_ok;
            let spread = match (pairs.first(), pairs.last()) {
                (Some(lo), Some(hi)) if pairs.len() > 1 => format!(
                    "; median of {} rounds, {:.2}-{:.2}",
                    pairs.len(),
                    lo.ratio,
                    hi.ratio
                ),
                _ => String::new(),
            };
            t.push(Target {
                name: format!(
                    "IAMAT throughput, {}, {connections} connections",
                    mode.as_str()
                ),
                goal: format!(
                    ">= {goal}x the echo ceiling, IAMAT only ({})",
                    match mode {
                        Mode::Persistent => "50 and 400 connections",
                        Mode::PerCommand => "50 connections",
                    }
                ),
                measured: match pair {
                    Some(p) => format!(
                        "{:.2}x ({:.0}/s vs echo {:.0}/s{spread})",
                        p.ratio, p.server.throughput, p.echo.throughput
                    ),
                    None => "not measured".into(),
                },
                met: pair.filter(|_| applies).map(|p| {
                    p.ratio >= goal
                        && pairs
                            .iter()
                            .all(|q| q.server.errors == 0 && q.server.unexpected == 0)
                }),
            });
        }
        // CPU per IAMAT across the herd: only where the herd's own CPU is known (processes).
        let mut cpus: Vec<(f64, Cpu)> = self
            .load
            .iter()
            .filter(|p| p.mode == Mode::Persistent)
            .filter_map(|p| p.cpu.filter(|c| c.scope == "servers").map(|c| (c.ratio, c)))
            .collect();
        cpus.sort_by(|a, b| a.0.total_cmp(&b.0));
        let cpu = cpus.get(cpus.len() / 2).map(|c| c.1);
        t.push(Target {
            name: "CPU per IAMAT, whole herd".into(),
            goal: "<= 2.3x the echo's CPU per request (--processes, persistent)".into(),
            measured: match (cpu, cpus.first(), cpus.last()) {
                (Some(c), Some(lo), Some(hi)) => format!(
                    "{:.2}x ({:.1} µs vs {:.1} µs; median of {} rounds, {:.2}-{:.2})",
                    c.ratio,
                    c.server_us,
                    c.echo_us,
                    cpus.len(),
                    lo.0,
                    hi.0
                ),
                _ => "not measured (needs --processes)".into(),
            },
            met: cpu
                .filter(|_| self.whatsat_percent == 0)
                .map(|c| c.ratio <= 2.3),
        });
        let two = self
            .propagation
            .as_ref()
            .and_then(|p| p.two_hop_p99().map(|v| (p, v)));
        let loaded = two.and_then(|(p, _)| p.under_load.as_ref());
        // A copy missing in any round fails the target, whichever round is the median.
        let missing: u64 = self.propagation_rounds.iter().map(|p| p.missing).sum();
        t.push(Target {
            name: match loaded {
                Some(_) => "propagation to two hops, under full load".into(),
                None => "propagation to two hops".into(),
            },
            goal: match loaded {
                Some(_) => {
                    "p99 <= 5 ms from the IAMAT sent, while the closed-loop load runs (--under-load)"
                        .into()
                }
                None => "p99 <= 5 ms at 5,000 updates/s".into(),
            },
            measured: match two {
                Some((p, p99)) => format!(
                    "p99 {:.2} ms at {:.0} updates/s ({missing} missing){}{}",
                    p99 as f64 / 1e3,
                    p.achieved_rate,
                    match loaded {
                        Some(l) => format!(
                            ", beside {:.0} IAMAT/s on {} connections",
                            l.throughput, l.connections
                        ),
                        None => String::new(),
                    },
                    self.rounds_text()
                ),
                None => "not measured".into(),
            },
            // Under load the probes queue behind the load: only the latency counts, and it is
            // counted from the IAMAT sent (replies wait; floods leave before them).
            met: two.map(|(p, p99)| {
                p99 <= 5_000
                    && missing == 0
                    && (loaded.is_some()
                        || (p.rate >= 5_000 && p.achieved_rate >= 0.95 * f64::from(p.rate)))
            }),
        });
        t.push(Target {
            name: "idle connections".into(),
            goal: "10,000 idle clients on one server within 150 MiB RSS".into(),
            measured: match &self.idle {
                Some(i) => format!(
                    "{} open, RSS {:.1} MiB ({}/{} sampled answered)",
                    i.opened,
                    i.rss_kib as f64 / 1024.0,
                    i.answered,
                    i.sampled
                ),
                None => "not measured".into(),
            },
            met: self
                .idle
                .as_ref()
                .map(|i| i.opened >= 10_000 && i.rss_kib <= 150 * 1024 && i.answered == i.sampled),
        });
        t.push(Target {
            name: "start-up".into(),
            goal: "spawn to listening < 100 ms".into(),
            measured: match &self.startup {
                Some(s) => format!("median {:.1} ms, max {:.1} ms", s.median_ms, s.max_ms),
                None => "not measured".into(),
            },
            met: self
                .startup
                .as_ref()
                .map(|s| s.error.is_none() && !s.runs_ms.is_empty() && s.max_ms < 100.0),
        });
        self.targets = t;
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(
            o,
            "herd bench: {} CPUs ({}), runtime {}, {} build",
            m.cpus, m.cpu_model, m.runtime, m.build
        );
        let _ = writeln!(
            o,
            "server: {} (log level {}), {}% WHATSAT",
            self.server,
            if m.log_level.is_empty() {
                "n/a"
            } else {
                &m.log_level
            },
            self.whatsat_percent
        );
        if !self.load.is_empty() {
            let _ = writeln!(o, "\nload (closed loop; latency in µs):");
            let _ = writeln!(
                o,
                "  {:<14} {:<7} {:>5} {:>9} {:>11} {:>7} {:>7} {:>7} {:>7} {:>6}",
                "mode",
                "server",
                "conns",
                "replies",
                "per second",
                "p50",
                "p99",
                "p99.9",
                "max",
                "errors"
            );
            for p in &self.load {
                let label = if p.round > 1 {
                    format!("{} #{}", p.mode.as_str(), p.round)
                } else {
                    p.mode.as_str().to_string()
                };
                let who = if p.floods.is_some() { "herd" } else { "target" };
                for (who, s) in [("echo", &p.echo), (who, &p.server)] {
                    let l = &s.latency_us;
                    let _ = writeln!(
                        o,
                        "  {:<14} {:<7} {:>5} {:>9} {:>11.0} {:>7} {:>7} {:>7} {:>7} {:>6}",
                        label,
                        who,
                        s.connections,
                        s.requests,
                        s.throughput,
                        l.p50,
                        l.p99,
                        l.p999,
                        l.max,
                        s.errors + s.unexpected
                    );
                    if let Some(e) = &s.first_error {
                        let _ = writeln!(o, "    first problem: {e}");
                    }
                }
                let _ = writeln!(
                    o,
                    "  {:<14} throughput ratio to the echo: {:.2}",
                    label, p.ratio
                );
                if let Some(f) = &p.floods {
                    let _ = writeln!(
                        o,
                        "  {:<14} link messages: {} sent ({:.2} per IAMAT) in {} writes ({:.3} per IAMAT), {} received, {} of them ignored ({:.2} per IAMAT)",
                        label,
                        f.sent,
                        f.sent_per_iamat,
                        f.writes,
                        f.writes_per_iamat,
                        f.received,
                        f.ignored,
                        f.ignored_per_iamat
                    );
                }
                if let Some(c) = &p.cpu {
                    let whose = if c.scope == "servers" {
                        "the herd's processes vs the echo process"
                    } else {
                        "this whole process, load generator included"
                    };
                    let _ = writeln!(
                        o,
                        "  {:<14} CPU per command: {:.1} µs vs the echo's {:.1} µs: {:.2}x ({whose})",
                        label, c.server_us, c.echo_us, c.ratio
                    );
                }
            }
        }
        if let Some(p) = &self.propagation {
            let _ = writeln!(
                o,
                "\npropagation: {} updates at {:.0}/s (asked {}/s); reply at origin -> applied at each other server, µs:",
                p.updates, p.achieved_rate, p.rate
            );
            if let Some(l) = &p.under_load {
                let _ = writeln!(
                    o,
                    "  beside the closed-loop load on {} connections: {:.0} IAMAT/s, p99 {} µs, {} errors",
                    l.connections, l.throughput, l.latency_us.p99, l.errors + l.unexpected
                );
            }
            for h in &p.by_hops {
                let (l, f) = (&h.latency_us, &h.from_send_us);
                let _ = writeln!(
                    o,
                    "  {} hop{}: {:>7} arrivals  p50 {:>6}  p99 {:>6}  p99.9 {:>6}  max {:>6}   (from the IAMAT sent: p50 {:>6}  p99 {:>6})",
                    h.hops,
                    if h.hops == 1 { " " } else { "s" },
                    l.samples,
                    l.p50,
                    l.p99,
                    l.p999,
                    l.max,
                    f.p50,
                    f.p99
                );
            }
            let _ = writeln!(
                o,
                "  missing {}, before the reply {}, events dropped {}, errors {}",
                p.missing, p.before_reply, p.events_dropped, p.errors
            );
            if self.propagation_rounds.len() > 1 {
                let each: Vec<String> = self
                    .propagation_rounds
                    .iter()
                    .map(|r| match r.two_hop_p99() {
                        Some(v) => format!("{:.2}", v as f64 / 1e3),
                        None => "-".into(),
                    })
                    .collect();
                let _ = writeln!(
                    o,
                    "  two hops p99{} by round, ms: {} (the round above: the median)",
                    if p.under_load.is_some() {
                        " from the IAMAT sent"
                    } else {
                        ""
                    },
                    each.join(" ")
                );
            }
        }
        if let Some(i) = &self.idle {
            let _ = writeln!(
                o,
                "\nidle: {} of {} connections open; server RSS {:.1} MiB (before {:.1} MiB, {:.0} bytes per connection); {}/{} sampled still answer",
                i.opened,
                i.wanted,
                i.rss_kib as f64 / 1024.0,
                i.rss_before_kib as f64 / 1024.0,
                i.bytes_per_connection,
                i.answered,
                i.sampled
            );
            if let Some(e) = &i.error {
                let _ = writeln!(o, "  problem: {e}");
            }
        }
        if let Some(s) = &self.startup {
            let runs: Vec<String> = s.runs_ms.iter().map(|r| format!("{r:.1}")).collect();
            let _ = writeln!(
                o,
                "\nstart-up (spawn to accepting): median {:.1} ms, max {:.1} ms (runs: {})",
                s.median_ms,
                s.max_ms,
                runs.join(", ")
            );
            if let Some(e) = &s.error {
                let _ = writeln!(o, "  problem: {e}");
            }
        }
        if let Some(p) = &self.places {
            let l = &p.latency_us;
            let _ = writeln!(
                o,
                "\noffline places ({} places, loaded in {:.1} ms): radius {} m, bound {}: {} lookups, {:.0}/s on one thread, {:.1} results each; µs p50 {} p99 {} p99.9 {} max {}",
                p.table, p.load_ms, p.radius_m, p.bound, p.lookups, p.per_second, p.mean_results, l.p50, l.p99, l.p999, l.max
            );
        }
        if !self.targets.is_empty() {
            let _ = writeln!(o, "\ntargets:");
            for t in &self.targets {
                let verdict = match t.met {
                    Some(true) => "MET",
                    Some(false) => "NOT MET",
                    None => "n/a",
                };
                let _ = writeln!(
                    o,
                    "  {:<8} {}: {} (goal {})",
                    verdict, t.name, t.measured, t.goal
                );
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round whose two-hop p99 is `p99` µs (from the reply; from the IAMAT sent, twice that).
    fn round(p99: Option<u64>, loaded: bool) -> Propagation {
        let hop = |hops, p99| HopStats {
            hops,
            pairs: 1,
            expected: 1,
            latency_us: Percentiles {
                p99,
                ..Percentiles::default()
            },
            from_send_us: Percentiles {
                p99: 2 * p99,
                ..Percentiles::default()
            },
        };
        let mut by_hops = vec![hop(1, 1)];
        by_hops.extend(p99.map(|v| hop(2, v)));
        Propagation {
            rate: 1,
            updates: p99.unwrap_or(0),
            achieved_rate: 1.0,
            by_hops,
            missing: 0,
            before_reply: 0,
            events_dropped: 0,
            errors: 0,
            under_load: loaded.then(|| LoadStats {
                target: "127.0.0.1:1".into(),
                mode: Mode::Persistent,
                connections: 1,
                requests: 0,
                iamat: 0,
                whatsat: 0,
                unexpected: 0,
                errors: 0,
                first_error: None,
                elapsed_ms: 0.0,
                throughput: 0.0,
                latency_us: Percentiles::default(),
            }),
        }
    }

    /// The propagation target of a report made of `rounds` (loaded, so the rate is not checked).
    fn propagation_target(rounds: Vec<Propagation>) -> Target {
        let mut r = Report {
            machine: Machine {
                cpus: 2,
                cpu_model: "test".into(),
                runtime: "test",
                build: "test",
                log_level: "info".into(),
            },
            server: "test".into(),
            whatsat_percent: 0,
            load: Vec::new(),
            propagation: Propagation::median(&rounds).map(|(p, _)| p.clone()),
            propagation_rounds: rounds,
            idle: None,
            startup: None,
            places: None,
            targets: Vec::new(),
        };
        r.check_targets(50);
        let found = r.targets.iter().find(|t| t.name.starts_with("propagation"));
        found
            .cloned()
            .unwrap_or_else(|| panic!("no propagation target in {:?}", r.targets))
    }

    #[test]
    fn a_copy_missing_in_any_round_fails_the_propagation_target() {
        let rounds = || {
            vec![
                round(Some(100), true),
                round(Some(300), true),
                round(Some(200), true),
            ]
        };
        let t = propagation_target(rounds());
        assert_eq!(t.met, Some(true), "{t:?}");
        assert!(
            t.measured.starts_with("p99 0.40 ms"),
            "the median round: {t:?}"
        );
        assert!(
            t.measured.contains("median of 3 rounds, 0.20-0.60 ms"),
            "{t:?}"
        );
        let mut some_lost = rounds();
        some_lost[0].missing = 2;
        let t = propagation_target(some_lost);
        assert_eq!(t.met, Some(false), "{t:?}");
        assert!(t.measured.contains("(2 missing)"), "{t:?}");
        let t = propagation_target(vec![round(Some(3_000), true)]);
        assert_eq!(t.met, Some(false), "6 ms from the IAMAT sent: {t:?}");
        assert!(!t.measured.contains("rounds"), "one round, no range: {t:?}");
    }

    #[test]
    fn the_median_round_stands_for_propagation() {
        let check = |p99s: &[Option<u64>], loaded: bool, want: Option<(u64, (u64, u64))>| {
            let rounds: Vec<_> = p99s.iter().map(|&v| round(v, loaded)).collect();
            let got = Propagation::median(&rounds).map(|(p, range)| (p.updates, range));
            assert_eq!(got, want, "{p99s:?} loaded {loaded}");
        };
        check(&[], false, None);
        check(&[Some(7)], false, Some((7, (7, 7))));
        check(&[Some(5), Some(1), Some(3)], false, Some((3, (1, 5))));
        // Under load the target reads the p99 from the IAMAT sent (twice the above here).
        check(&[Some(5), Some(1), Some(3)], true, Some((3, (2, 10))));
        // An even count: the lower of the two middle rounds.
        check(
            &[Some(4), Some(1), Some(3), Some(2)],
            false,
            Some((2, (1, 4))),
        );
        // A round without two-hop arrivals sorts last, never the median of several.
        check(&[None, Some(2), Some(6)], false, Some((6, (2, 6))));
        check(&[None], false, Some((0, (0, 0))));
    }
}
