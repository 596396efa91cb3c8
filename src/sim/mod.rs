//! `herd sim`: a deterministic simulation of a herd, up to a thousand servers and more, driving
//! the real node ([`crate::node`]) and link session ([`crate::link`]) code with no socket, no
//! runtime and no clock: one thread, virtual time, seeded random sources, an event queue
//! ordered by (time, sequence), a simulated network and simulated disks, and invariants checked
//! at every step. The same seed and options replay a run exactly (the report carries a hash of
//! the whole event trace).
//!
//! - `topology`: who links to whom (classic herds, config files, generated graphs).
//! - `net`: the network as TCP shows it to the herd (delay, loss as retransmission delay,
//!   reordering and duplication hidden by reassembly, partitions that stall connections).
//! - `disk`: a data folder, what a crash leaves of it, and the replay (the store's record code).
//! - `server`, `host`: a simulated server (the real `Node`, `Outbox`, link `Settings`, the owner
//!   rule of [`crate::owner`], the dial policy of `net::dial`) and the session's `Host`.
//! - `world`, `conn`, `clients`, `faults`, `settle`: the event loop and what happens in it.
//! - `check`, `track`, `trace`, `report`: invariants, measurements, the trace hash, the report.

pub mod args;
mod build;
pub mod check;
mod clients;
mod conn;
pub mod disk;
mod faults;
mod host;
pub mod net;
pub mod report;
pub mod server;
mod settle;
pub mod topology;
mod trace;
pub mod track;
mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use args::SimArgs;
pub use report::Report;

use crate::config::Fsync;
use net::NetParams;
use world::World;

/// The herd's graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// A ring plus random chords (`None`: half as many chords as servers).
    Ring {
        /// How many chords.
        chords: Option<usize>,
    },
    /// A random connected regular graph.
    Regular {
        /// Every server's number of neighbours.
        degree: usize,
    },
    /// A grid, as square as it gets.
    Grid,
    /// A classic herd by year (2018, 2020, 2021, 2022, 2023).
    Classic(String),
    /// The servers and links (and timings, limits, store settings) of a config file.
    Config(PathBuf),
}

/// Everything a run depends on: the same options replay the same run.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Seeds every random source.
    pub seed: u64,
    /// The graph.
    pub shape: Shape,
    /// Servers of a generated graph.
    pub servers: usize,
    /// IAMATs the clients send.
    pub updates: usize,
    /// Distinct clients.
    pub clients: usize,
    /// IAMATs per second (virtual), all clients together.
    pub rate: f64,
    /// Probability that a client's report steps back in time.
    pub backwards: f64,
    /// Probability that a client repeats its last time exactly.
    pub ties: f64,
    /// The network.
    pub net: NetParams,
    /// Partitions: when each starts and how long it lasts.
    pub partitions: Vec<(Duration, Duration)>,
    /// Groups a partition cuts the herd into.
    pub groups: usize,
    /// Crashes, at random times and servers.
    pub crashes: usize,
    /// How long a crashed server stays down.
    pub downtime: Duration,
    /// Probability that a crashed server restarts without its data folder.
    pub wipe: f64,
    /// Probability that a crash is a power loss (unsynced writes lost) rather than a kill.
    pub power: f64,
    /// Connection resets, at random times.
    pub resets: usize,
    /// Servers keep a data folder (as `herd run` does by default).
    pub data: bool,
    /// When appends reach the disk.
    pub fsync: Fsync,
    /// How long the herd may take to get quiet after the last client and fault.
    pub settle_timeout: Duration,
    /// For the checker's own test only (the CLI never sets it): this server applies updates
    /// without the newest-wins comparison, a planted bug the invariants must catch.
    #[doc(hidden)]
    pub planted_bug: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            shape: Shape::Ring { chords: None },
            servers: 100,
            updates: 1000,
            clients: 1000,
            rate: 500.0,
            backwards: 0.05,
            ties: 0.02,
            net: NetParams {
                latency: (Duration::from_millis(5), Duration::from_millis(50)),
                jitter: Duration::from_millis(2),
                loss: 0.0,
                duplicate: 0.0,
                reorder: 0.0,
                bandwidth: 125e6,
            },
            partitions: Vec::new(),
            groups: 2,
            crashes: 0,
            downtime: Duration::from_secs(5),
            wipe: 0.5,
            power: 0.5,
            resets: 0,
            data: true,
            fsync: Fsync::EverySecond,
            settle_timeout: Duration::from_secs(120),
            planted_bug: None,
        }
    }
}

/// Runs a simulation to its end (settled, or the first violation).
pub fn simulate(opts: &Options) -> Result<Report, String> {
    run(opts).map(|(report, _)| report)
}

/// Runs a simulation and hands back the herd as it ended, with the report.
fn run(opts: &Options) -> Result<(Report, World), String> {
    let before = report::rss();
    let started = Instant::now();
    let mut world = World::new(opts.clone())?;
    world.run();
    let wall = started.elapsed();
    let after = report::rss();
    Ok((world.report(wall, before, after), world))
}

/// `herd sim`: runs, prints the report (text or JSON); a violation is an error.
pub fn main(args: SimArgs) -> Result<(), String> {
    let json = args.json;
    let opts = args.options()?;
    let (report, world) = run(&opts)?;
    // The process ends next and the OS takes the memory back at once; dropping a thousand
    // servers' tables entry by entry would take seconds.
    std::mem::forget(world);
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", report.text());
    }
    match &report.violation {
        Some(v) => Err(format!(
            "invariant violated at {:.3} s (virtual), seed {}: {}\nreplay with: {}",
            v.at.as_secs_f64(),
            report.seed,
            v.what,
            report.replay
        )),
        None if report.settled_ms.is_none() => {
            Err("the simulation ended before the herd settled".into())
        }
        None => Ok(()),
    }
}
