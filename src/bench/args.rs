//! The command line of `herd bench`, and the checks on it (loopback targets only).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// How the generator talks to a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Keep each connection open and send command after command (the `nc` way).
    Persistent,
    /// One command per connection: write, half-close, read to EOF (the grader way).
    PerCommand,
}

impl Mode {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Persistent => "persistent",
            Mode::PerCommand => "per-command",
        }
    }
}

/// `--fsync`: the store policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FsyncArg {
    /// fsync before each IAMAT reply (concurrent appends share one).
    Always,
    /// fsync once a second.
    EverySecond,
    /// Never fsync explicitly.
    Never,
}

impl FsyncArg {
    /// The config's policy.
    pub fn policy(self) -> crate::config::Fsync {
        match self {
            FsyncArg::Always => crate::config::Fsync::Always,
            FsyncArg::EverySecond => crate::config::Fsync::EverySecond,
            FsyncArg::Never => crate::config::Fsync::Never,
        }
    }
}

/// The client IDs `--read-only` writes: always these, so repeated runs reuse them.
pub const READ_ONLY_PREFIX: &str = "bench-ro-";

/// What one run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// Closed-loop throughput and latency, the herd (or --target) against the echo ceiling.
    Load,
    /// Propagation latency by hop count at a fixed update rate (in-process herd only).
    Propagation,
    /// Resident memory of a `herd run` process holding many idle client connections.
    Idle,
    /// Time from spawning `herd run` to its port accepting.
    Startup,
    /// Offline Places lookups per second and their latency.
    Places,
}

/// `herd bench`: a closed-loop load generator with an echo ceiling measured in the same run.
/// Connections go to loopback addresses only.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Drive this server instead of an in-process herd (it must speak the client protocol and
    /// listen on a loopback address). Propagation is then not measured.
    #[arg(long, value_name = "HOST:PORT")]
    pub target: Option<String>,
    /// Concurrent connections of the load generator.
    #[arg(long, short = 'c', default_value_t = 50)]
    pub connections: usize,
    /// How long each load run lasts at most: `2s`, `500ms`, `1m`, or a plain number of seconds.
    #[arg(long, short = 'd', default_value = "2s", value_parser = seconds)]
    pub duration: f64,
    /// Commands each load run sends at most.
    #[arg(long, short = 'n', default_value_t = 500_000)]
    pub count: u64,
    /// Percent of commands that are WHATSAT (the rest are IAMAT).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub whatsat_percent: u32,
    /// Only per command: open a connection per command, half-close and read to EOF (as graders
    /// do). Without this or --persistent, both styles are measured, each against the echo.
    #[arg(long, conflicts_with = "persistent")]
    pub per_command: bool,
    /// Only persistent connections (many commands on each).
    #[arg(long)]
    pub persistent: bool,
    /// Measure WHATSAT only, against clients that exist: one IAMAT per connection at set-up
    /// (untimed, always the same IDs `bench-ro-<n>`, so repeated runs add nothing), then only
    /// WHATSAT.
    #[arg(long, conflicts_with = "whatsat_percent")]
    pub read_only: bool,
    /// Run the herd as five `herd run` processes and the echo ceiling as a process of its own
    /// (instead of in this process), so the CPU time per command of the whole herd and of the
    /// echo can be read apart from the load generator's, and compared.
    #[arg(long, conflicts_with_all = ["target", "fsync"])]
    pub processes: bool,
    /// With --processes: worker threads of each server and of the echo (the same for all, so
    /// the comparison stays fair; default: the runtime's).
    #[arg(long, value_name = "N", requires = "processes", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Give the in-process herd a data folder (a temporary one) with this fsync policy, to
    /// measure durability's cost. Default: no data folder.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub fsync: Option<FsyncArg>,
    /// Echo-then-server pairs per connection style, and propagation runs; the targets use the
    /// median ratio and the median two-hop p99 (the machine's noise shows in the spread).
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// The phases to run (comma-separated). Default: all that apply (with --target: load).
    #[arg(long, value_delimiter = ',', value_enum)]
    pub phases: Vec<Phase>,
    /// Only the offline Places benchmark (radius 50 km, bound 20, the embedded table).
    #[arg(long)]
    pub places: bool,
    /// The in-process herd's server that takes the load.
    #[arg(long, default_value = "Clark")]
    pub server: String,
    /// The herd config for the in-process herd (default: the embedded 2023 herd).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Updates per second of the propagation phase.
    #[arg(long, default_value_t = 5000)]
    pub rate: u32,
    /// Measure propagation while the closed-loop load (persistent, --connections) runs against
    /// --server at full speed, instead of on an otherwise idle herd.
    #[arg(long)]
    pub under_load: bool,
    /// Seconds the propagation phase lasts.
    #[arg(long, default_value_t = 1.0)]
    pub propagation_duration: f64,
    /// Idle client connections held open in the idle phase.
    #[arg(long, default_value_t = 10_000)]
    pub idle: usize,
    /// Start-ups measured in the start-up phase.
    #[arg(long, default_value_t = 5)]
    pub startups: usize,
    /// The herd binary for the idle and start-up phases (default: this executable).
    #[arg(long, value_name = "FILE")]
    pub herd_bin: Option<PathBuf>,
    /// Folder for the in-process herd's logs (default: a temporary folder, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Log level of the in-process herd (info logs every line, as in production).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    /// The arguments `herd bench` gets with no flags (for tests and examples).
    pub fn defaults() -> BenchArgs {
        use clap::{Args, FromArgMatches};
        let cmd = BenchArgs::augment_args(clap::Command::new("bench"));
        let m = cmd.get_matches_from(["bench"]);
        match BenchArgs::from_arg_matches(&m) {
            Ok(a) => a,
            Err(e) => unreachable!("defaults parse: {e}"),
        }
    }

    /// The connection styles to measure.
    pub fn modes(&self) -> Vec<Mode> {
        if self.per_command {
            vec![Mode::PerCommand]
        } else if self.persistent {
            vec![Mode::Persistent]
        } else {
            vec![Mode::Persistent, Mode::PerCommand]
        }
    }

    /// The phases to run.
    pub fn phases(&self) -> Vec<Phase> {
        if self.places {
            return vec![Phase::Places];
        }
        if !self.phases.is_empty() {
            return self.phases.clone();
        }
        if self.target.is_some() {
            vec![Phase::Load]
        } else {
            vec![
                Phase::Load,
                Phase::Propagation,
                Phase::Idle,
                Phase::Startup,
                Phase::Places,
            ]
        }
    }

    /// Synthetic clients a load against `--target` writes into it, and their ID prefix (one
    /// client per connection and run; `--read-only`: one per connection, the same every time).
    pub fn synthetic_clients(&self, run_id: u64) -> (usize, String) {
        if self.read_only {
            return (self.connections, READ_ONLY_PREFIX.to_string());
        }
        let runs = self.modes().len() * self.rounds as usize;
        (self.connections * runs, format!("bench{run_id}-herd-"))
    }

    /// Checks the numbers and the target; returns the target's address if any.
    pub fn validate(&self) -> Result<Option<SocketAddr>, String> {
        if self.connections == 0 || self.connections > 5_000 {
            return Err("--connections must be within 1..=5000".into());
        }
        for (name, v, max) in [
            ("--duration", self.duration, 600.0),
            ("--propagation-duration", self.propagation_duration, 600.0),
        ] {
            if !(v > 0.0 && v <= max) {
                return Err(format!("{name} must be within (0, {max}] seconds"));
            }
        }
        if self.rounds == 0 || self.rounds > 20 {
            return Err("--rounds must be within 1..=20".into());
        }
        if self.rate == 0 || self.rate > 1_000_000 {
            return Err("--rate must be within 1..=1000000".into());
        }
        if self.idle > 60_000 {
            return Err("--idle must be at most 60000".into());
        }
        if self.startups > 100 {
            return Err("--startups must be at most 100".into());
        }
        let Some(t) = &self.target else {
            return Ok(None);
        };
        let phases = self.phases();
        if phases.contains(&Phase::Propagation) {
            return Err(
                "propagation needs the in-process herd; drop --target or --phases propagation"
                    .into(),
            );
        }
        loopback_target(t).map(Some)
    }
}

/// A duration as `herd demo --duration` takes it (`2s`, `500ms`), or a plain number of seconds.
fn seconds(text: &str) -> Result<f64, String> {
    if let Ok(s) = text.parse::<f64>() {
        return Ok(s);
    }
    humantime::parse_duration(text)
        .map(|d| d.as_secs_f64())
        .map_err(|e| format!("{e} (write 2s, 500ms, 1m, or a number of seconds)"))
}

/// Resolves `target` and refuses anything that is not a loopback address.
pub fn loopback_target(target: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| format!("--target {target}: {e}"))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(format!("--target {target}: no address"));
    };
    if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "--target {target} resolves to {}, which is not a loopback address; \
             herd bench only drives servers on this machine (127.0.0.0/8 or ::1)",
            bad.ip()
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_or_plain_seconds() {
        assert_eq!(seconds("2s"), Ok(2.0));
        assert_eq!(seconds("500ms"), Ok(0.5));
        assert_eq!(seconds("1m"), Ok(60.0));
        assert_eq!(seconds("1.5"), Ok(1.5));
        assert!(seconds("soon").unwrap_err().contains("500ms"));
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(loopback_target("127.0.0.1:10003").is_ok());
        assert!(loopback_target("[::1]:10003").is_ok());
        assert!(loopback_target("127.1.2.3:1").is_ok());
        let e = loopback_target("10.0.0.1:80").unwrap_err();
        assert!(e.contains("not a loopback address"), "{e}");
        assert!(loopback_target("8.8.8.8:53").is_err());
        assert!(loopback_target("nonsense").is_err());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let a = BenchArgs::defaults();
        assert_eq!(a.connections, 50);
        assert_eq!(a.modes(), [Mode::Persistent, Mode::PerCommand]);
        assert_eq!(a.phases().len(), 5);
        assert!(a.validate().is_ok());
        assert_eq!(a.synthetic_clients(7), (100, "bench7-herd-".to_string()));
        let ro = BenchArgs {
            read_only: true,
            rounds: 3,
            ..a
        };
        assert_eq!(ro.synthetic_clients(7), (50, "bench-ro-".to_string()));
    }
}
