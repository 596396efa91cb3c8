//! The command line of `herd sim`, and the way back: the one command that replays a run.

use std::path::PathBuf;
use std::time::Duration;

use super::{Options, Shape};
use crate::bench::args::FsyncArg;
use crate::config::Fsync;

/// `herd sim`: a deterministic simulation of a herd with faults, driving the real node and link
/// code in virtual time. The same options and seed replay a run exactly.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Seeds every random source (topology, network, clients, faults).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The graph: ring (with random chords), regular (random, --degree), grid, or a classic
    /// herd by year (2018, 2020, 2021, 2022, 2023).
    #[arg(long, default_value = "ring")]
    pub topology: String,
    /// Servers of a generated graph.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub servers: usize,
    /// Chords of the ring (default: half as many as servers).
    #[arg(long)]
    pub chords: Option<usize>,
    /// Neighbours of every server in a regular graph.
    #[arg(long, default_value_t = 4)]
    pub degree: usize,
    /// Take servers, links, timings and limits from this config instead of --topology.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// IAMATs the clients send.
    #[arg(long, short = 'u', default_value_t = 1000)]
    pub updates: usize,
    /// Distinct clients.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// IAMATs per second of virtual time, all clients together.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Probability that a client's time steps backwards.
    #[arg(long, default_value_t = 0.05)]
    pub backwards: f64,
    /// Probability that a client repeats its last time exactly (a tie).
    #[arg(long, default_value_t = 0.02)]
    pub ties: f64,
    /// Base one-way latency of each link, drawn uniformly from MIN..MAX (e.g. 5ms..50ms).
    #[arg(long, default_value = "5ms..50ms")]
    pub latency: String,
    /// Mean of the exponential jitter added to every segment.
    #[arg(long, default_value = "2ms", value_parser = humantime::parse_duration)]
    pub jitter: Duration,
    /// Packet loss rate (TCP retransmits: the bytes arrive late).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Segment duplication rate (TCP drops the copies; counted).
    #[arg(long, default_value_t = 0.0)]
    pub duplicate: f64,
    /// Rate of segments delayed past the ones behind them (reassembly holds those; counted).
    #[arg(long, default_value_t = 0.0)]
    pub reorder: f64,
    /// Each link's bandwidth each way, in Mbit/s.
    #[arg(long, default_value_t = 1000.0)]
    pub bandwidth: f64,
    /// A partition: START+LENGTH (e.g. 5s+10s); may be repeated, without overlaps.
    #[arg(long, value_name = "START+LENGTH")]
    pub partition: Vec<String>,
    /// Groups a partition cuts the herd into.
    #[arg(long, default_value_t = 2)]
    pub groups: usize,
    /// Crashes at random times and servers while the clients run.
    #[arg(long, default_value_t = 0)]
    pub crashes: usize,
    /// How long a crashed server stays down.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub downtime: Duration,
    /// Probability that a crashed server restarts without its data folder.
    #[arg(long, default_value_t = 0.5)]
    pub wipe: f64,
    /// Probability that a crash is a power loss (unsynced writes lost) rather than a kill.
    #[arg(long, default_value_t = 0.5)]
    pub power: f64,
    /// Connection resets at random times.
    #[arg(long, default_value_t = 0)]
    pub resets: usize,
    /// Servers keep no data folder (a restarted server relies on its neighbours).
    #[arg(long)]
    pub no_data: bool,
    /// When appends reach the disk.
    #[arg(long, value_enum, default_value = "every-second")]
    pub fsync: FsyncArg,
    /// How long the herd may take to get quiet after the last client and fault.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub settle_timeout: Duration,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A probability, checked.
fn probability(name: &str, p: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("--{name} {p}: a probability is between 0 and 1"))
    }
}

/// `MIN..MAX` durations.
fn range(text: &str) -> Result<(Duration, Duration), String> {
    let bad = || format!("--latency {text:?}: expected MIN..MAX, e.g. 5ms..50ms");
    let (lo, hi) = text.split_once("..").ok_or_else(bad)?;
    let lo = humantime::parse_duration(lo).map_err(|_| bad())?;
    let hi = humantime::parse_duration(hi).map_err(|_| bad())?;
    if lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// `START+LENGTH` durations.
fn window(text: &str) -> Result<(Duration, Duration), String> {
    let bad = || format!("--partition {text:?}: expected START+LENGTH, e.g. 5s+10s");
    let (a, b) = text.split_once('+').ok_or_else(bad)?;
    let start = humantime::parse_duration(a).map_err(|_| bad())?;
    let length = humantime::parse_duration(b).map_err(|_| bad())?;
    Ok((start, length))
}

impl SimArgs {
    /// The options these arguments ask for, checked.
    pub fn options(&self) -> Result<Options, String> {
        let shape = match (&self.config, self.topology.as_str()) {
            (Some(p), _) => Shape::Config(p.clone()),
            (None, "ring") => Shape::Ring {
                chords: self.chords,
            },
            (None, "regular") => Shape::Regular {
                degree: self.degree,
            },
            (None, "grid") => Shape::Grid,
            (None, y @ ("2018" | "2020" | "2021" | "2022" | "2023")) => Shape::Classic(y.into()),
            (None, other) => {
                return Err(format!(
                    "--topology {other:?}: one of ring, regular, grid, 2018, 2020, 2021, 2022, 2023"
                ))
            }
        };
        let mut partitions = self
            .partition
            .iter()
            .map(|p| window(p))
            .collect::<Result<Vec<_>, _>>()?;
        partitions.sort();
        if partitions.windows(2).any(|w| w[0].0 + w[0].1 > w[1].0) {
            return Err("--partition: partitions overlap".into());
        }
        if self.rate <= 0.0 || self.bandwidth <= 0.0 {
            return Err("--rate and --bandwidth must be positive".into());
        }
        let mut opts = Options {
            seed: self.seed,
            shape,
            servers: self.servers,
            updates: self.updates,
            clients: self.clients,
            rate: self.rate,
            backwards: probability("backwards", self.backwards)?,
            ties: probability("ties", self.ties)?,
            partitions,
            groups: self.groups,
            crashes: self.crashes,
            downtime: self.downtime,
            wipe: probability("wipe", self.wipe)?,
            power: probability("power", self.power)?,
            resets: self.resets,
            data: !self.no_data,
            fsync: self.fsync.policy(),
            settle_timeout: self.settle_timeout,
            ..Options::default()
        };
        opts.net.latency = range(&self.latency)?;
        opts.net.jitter = self.jitter;
        opts.net.loss = probability("loss", self.loss)?;
        opts.net.duplicate = probability("duplicate", self.duplicate)?;
        opts.net.reorder = probability("reorder", self.reorder)?;
        opts.net.bandwidth = self.bandwidth * 1e6 / 8.0;
        Ok(opts)
    }
}

impl Options {
    /// The command that replays this run: `herd sim` with every option that differs from its
    /// default (so the defaults of this build are assumed).
    pub fn command(&self) -> String {
        let d = Options::default();
        let mut c = format!("herd sim --seed {}", self.seed);
        let mut flag = |on: bool, text: String| {
            if on {
                c.push(' ');
                c.push_str(&text);
            }
        };
        match &self.shape {
            Shape::Ring { chords } => flag(
                chords.is_some(),
                format!("--chords {}", chords.unwrap_or(0)),
            ),
            Shape::Regular { degree } => {
                flag(true, format!("--topology regular --degree {degree}"))
            }
            Shape::Grid => flag(true, "--topology grid".into()),
            Shape::Classic(y) => flag(true, format!("--topology {y}")),
            Shape::Config(p) => flag(true, format!("--config {}", p.display())),
        }
        let hd = |d: Duration| humantime::format_duration(d).to_string().replace(' ', "");
        flag(
            self.servers != d.servers,
            format!("--servers {}", self.servers),
        );
        flag(
            self.updates != d.updates,
            format!("--updates {}", self.updates),
        );
        flag(
            self.clients != d.clients,
            format!("--clients {}", self.clients),
        );
        flag(self.rate != d.rate, format!("--rate {}", self.rate));
        flag(
            self.backwards != d.backwards,
            format!("--backwards {}", self.backwards),
        );
        flag(self.ties != d.ties, format!("--ties {}", self.ties));
        let (n, dn) = (&self.net, &d.net);
        flag(
            n.latency != dn.latency,
            format!("--latency {}..{}", hd(n.latency.0), hd(n.latency.1)),
        );
        flag(n.jitter != dn.jitter, format!("--jitter {}", hd(n.jitter)));
        flag(n.loss != dn.loss, format!("--loss {}", n.loss));
        flag(
            n.duplicate != dn.duplicate,
            format!("--duplicate {}", n.duplicate),
        );
        flag(n.reorder != dn.reorder, format!("--reorder {}", n.reorder));
        flag(
            n.bandwidth != dn.bandwidth,
            format!("--bandwidth {}", n.bandwidth * 8.0 / 1e6),
        );
        for (start, length) in &self.partitions {
            flag(true, format!("--partition {}+{}", hd(*start), hd(*length)));
        }
        flag(self.groups != d.groups, format!("--groups {}", self.groups));
        flag(
            self.crashes != d.crashes,
            format!("--crashes {}", self.crashes),
        );
        flag(
            self.downtime != d.downtime,
            format!("--downtime {}", hd(self.downtime)),
        );
        flag(self.wipe != d.wipe, format!("--wipe {}", self.wipe));
        flag(self.power != d.power, format!("--power {}", self.power));
        flag(self.resets != d.resets, format!("--resets {}", self.resets));
        flag(!self.data, "--no-data".into());
        let fsync = match self.fsync {
            Fsync::Always => "always",
            Fsync::EverySecond => "every-second",
            Fsync::Never => "never",
        };
        flag(self.fsync != d.fsync, format!("--fsync {fsync}"));
        flag(
            self.settle_timeout != d.settle_timeout,
            format!("--settle-timeout {}", hd(self.settle_timeout)),
        );
        if let Some(s) = &self.planted_bug {
            c.push_str(&format!(
                " (and the planted bug in {s}, which only the checker's own test can set)"
            ));
        }
        c
    }
}

impl Options {
    /// The faults asked for, in words.
    pub fn faults_text(&self) -> String {
        let n = &self.net;
        let ms = |d: Duration| format!("{} ms", d.as_millis());
        let mut parts = vec![format!(
            "latency {}..{} + jitter {}, loss {}%, duplication {}%, reordering {}%, {} Mbit/s",
            n.latency.0.as_millis(),
            n.latency.1.as_millis(),
            ms(n.jitter),
            n.loss * 100.0,
            n.duplicate * 100.0,
            n.reorder * 100.0,
            n.bandwidth * 8.0 / 1e6
        )];
        for (start, length) in &self.partitions {
            parts.push(format!(
                "partition into {} groups at {:.1} s for {:.1} s",
                self.groups,
                start.as_secs_f64(),
                length.as_secs_f64()
            ));
        }
        if self.crashes > 0 {
            parts.push(format!(
                "{} {} ({}% power losses, {}% restarts without data) down {:.1} s",
                self.crashes,
                if self.crashes == 1 {
                    "crash"
                } else {
                    "crashes"
                },
                self.power * 100.0,
                self.wipe * 100.0,
                self.downtime.as_secs_f64()
            ));
        }
        if self.resets > 0 {
            let noun = if self.resets == 1 { "reset" } else { "resets" };
            parts.push(format!("{} connection {noun}", self.resets));
        }
        let data = if self.data {
            "data folders"
        } else {
            "no data folders"
        };
        parts.push(format!("{data}, fsync {:?}", self.fsync));
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `herd sim`'s arguments as their own command line.
    #[derive(Parser)]
    struct Cli {
        /// The arguments under test.
        #[command(flatten)]
        sim: SimArgs,
    }

    fn parse(command: &str) -> Options {
        let words = command.split(' ').skip(1); // "herd sim ..." -> "sim ..." as the program
        Cli::try_parse_from(words).unwrap().sim.options().unwrap()
    }

    #[test]
    fn the_replay_command_gives_back_the_same_options() {
        let mut o = Options {
            seed: 42,
            shape: Shape::Regular { degree: 6 },
            servers: 300,
            updates: 10,
            rate: 1234.5,
            partitions: vec![
                (Duration::from_millis(1500), Duration::from_secs(3)),
                (Duration::from_secs(10), Duration::from_millis(250)),
            ],
            crashes: 3,
            wipe: 0.25,
            data: false,
            fsync: Fsync::Always,
            ..Options::default()
        };
        o.net.latency = (Duration::from_micros(500), Duration::from_millis(80));
        o.net.loss = 0.01;
        o.net.bandwidth = 12.5e6;
        assert_eq!(parse(&o.command()), o, "{}", o.command());
        let d = Options::default();
        assert_eq!(d.command(), "herd sim --seed 1");
        assert_eq!(parse(&d.command()), d);
        let ring = Options {
            shape: Shape::Ring { chords: Some(7) },
            ..d.clone()
        };
        assert_eq!(parse(&ring.command()), ring);
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        let err = |args: &str| {
            let words = format!("sim {args}");
            Cli::try_parse_from(words.split(' '))
                .unwrap()
                .sim
                .options()
                .unwrap_err()
        };
        assert!(err("--loss 2").contains("between 0 and 1"));
        assert!(err("--latency 5ms").contains("MIN..MAX"));
        assert!(err("--partition 1s+5s --partition 3s+1s").contains("overlap"));
        assert!(err("--topology torus").contains("one of ring"));
    }
}
