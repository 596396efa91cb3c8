//! `herd bench`: a closed-loop load generator, the echo ceiling measured in the same run,
//! propagation latency by hop count, idle-connection memory, start-up time and offline Places.
//!
//! Without `--target` it starts its own herd in this process (ephemeral loopback ports, the
//! offline Places table, logs at info level in a temporary folder, so logging is paid for) and
//! its own echo server, drives both with the same generator and reports the ratio. Every loop is
//! bounded in count and in time; connections go to loopback addresses only.

pub mod args;
pub mod echo;
pub mod load;
pub mod places;
pub mod procs;
pub mod propagation;
pub mod report;
pub mod system;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use args::{BenchArgs, Mode, Phase};
pub use report::Report;

use crate::config::{Config, Provider};
use crate::herd::LocalHerd;
use crate::{logging, rt};

/// Runs the benchmark and prints the report (text, or one JSON object with `--json`).
pub fn run(args: BenchArgs) -> Result<(), String> {
    let report = measure(&args)?;
    if args.json {
        let text = serde_json::to_string(&report).map_err(|e| format!("report: {e}"))?;
        crate::out::print(&format!("{text}\n"))
    } else {
        crate::out::print(&report.text())
    }
}

/// Runs the phases `args` asks for and returns what they found.
pub fn measure(args: &BenchArgs) -> Result<Report, String> {
    let target = args.validate()?;
    let phases = args.phases();
    let wants = |p: Phase| phases.contains(&p);
    let in_process = target.is_none() && (wants(Phase::Load) || wants(Phase::Propagation));
    let mut report = Report {
        machine: report::Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpu_model(),
            runtime: rt::RUNTIME,
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            log_level: if in_process {
                args.log_level.clone()
            } else {
                String::new()
            },
        },
        server: match target {
            Some(t) => t.to_string(),
            None if args.processes => format!(
                "the herd as processes (herd run each), load on {}; the echo as a process; {}",
                args.server,
                match args.threads {
                    Some(n) => format!("{n} worker threads each"),
                    None => "the runtime's default worker threads".to_string(),
                }
            ),
            None => match args.fsync {
                Some(f) => format!(
                    "in-process herd, load on {}, data kept with fsync {:?}",
                    args.server,
                    f.policy()
                ),
                None => format!("in-process herd, load on {}", args.server),
            },
        },
        whatsat_percent: args.whatsat_percent,
        load: Vec::new(),
        propagation: None,
        propagation_rounds: Vec::new(),
        idle: None,
        startup: None,
        places: None,
        targets: Vec::new(),
    };
    let run_id = crate::net::random_u64() % 1_000_000;
    if let (Some(t), true) = (target, wants(Phase::Load)) {
        // Say what will be written into a herd that may be someone's, before writing it.
        let (n, prefix) = args.synthetic_clients(run_id);
        eprintln!(
            "herd bench: the load writes {n} synthetic clients into {t} (client IDs starting \
             {prefix}); the target floods them to its neighbours and keeps them in its data. {}",
            if args.read_only {
                "--read-only reuses the same IDs at every run."
            } else {
                "--read-only writes at most one per connection and reuses them."
            }
        );
    }

    if args.processes && wants(Phase::Load) {
        report.load = load_processes(args, run_id)?;
    }
    let in_process_phases = if args.processes {
        wants(Phase::Propagation)
    } else {
        wants(Phase::Load) || wants(Phase::Propagation)
    };
    if in_process_phases {
        let mut herd_logs = None;
        let mut _herd_data = None;
        let herd = match target {
            Some(_) => None,
            None => {
                let mut config = herd_config(args)?;
                if let Some(f) = args.fsync {
                    let d = system::TempDir::new("data")?;
                    config.store.dir = Some(d.0.clone());
                    config.store.fsync = f.policy();
                    _herd_data = Some(d);
                }
                if config.addr(&args.server).is_none() {
                    let names: Vec<_> = config.servers.iter().map(|s| s.name.as_str()).collect();
                    return Err(format!(
                        "--server {}: no such server; the herd has {}",
                        args.server,
                        names.join(", ")
                    ));
                }
                herd_logs = Some(start_logging(args, &config)?);
                Some(start_herd(config)?)
            }
        };
        let result = rt::block_on(async {
            let mut load = Vec::new();
            if wants(Phase::Load) && !args.processes {
                let echo = echo::start(SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .map_err(|e| format!("echo server: {e}"))?;
                let server_addr = match (&herd, target) {
                    (_, Some(t)) => t,
                    (Some(h), None) => h
                        .addr(&args.server)
                        .ok_or_else(|| format!("no server {}", args.server))?,
                    (None, None) => return Err("no server to drive".to_string()),
                };
                let meter = match &herd {
                    Some(h) => Meter::InProcess(h),
                    None => Meter::Target,
                };
                for mode in args.modes() {
                    for round in 1..=args.rounds {
                        load.push(
                            load_pair(args, mode, round, echo.addr, server_addr, &meter, run_id)
                                .await,
                        );
                    }
                }
            }
            let mut prop = Vec::new();
            if let (true, Some(h)) = (wants(Phase::Propagation), &herd) {
                let duration = Duration::from_secs_f64(args.propagation_duration);
                for round in 1..=args.rounds {
                    let prefix = format!("prop{run_id}-{round}-");
                    let probe = propagation::run(h, args.rate, duration, &prefix);
                    prop.push(if args.under_load {
                        let load = under_load(args, h, duration, run_id)?;
                        let (p, l) = futures::future::join(probe, load).await;
                        report::Propagation {
                            under_load: Some(l),
                            ..p
                        }
                    } else {
                        probe.await
                    });
                }
            }
            if let Some(h) = herd {
                h.shutdown().await;
            }
            Ok::<_, String>((load, prop))
        });
        // Flush and remove the temporary logs only after the herd has stopped.
        drop(herd_logs);
        let (load, prop) = result?;
        if !args.processes {
            report.load = load;
        }
        report.propagation = report::Propagation::median(&prop).map(|(p, _)| p.clone());
        report.propagation_rounds = prop;
    }

    if wants(Phase::Idle) || wants(Phase::Startup) {
        let bin = match &args.herd_bin {
            Some(b) => b.clone(),
            None => {
                std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?
            }
        };
        if wants(Phase::Idle) && args.idle > 0 {
            report.idle = Some(system::idle(&bin, args.idle));
        }
        if wants(Phase::Startup) && args.startups > 0 {
            report.startup = Some(system::startup(&bin, args.startups));
        }
    }
    if wants(Phase::Places) {
        report.places = Some(places::run(
            Duration::from_secs_f64(args.duration.min(5.0)),
            args.count,
        )?);
    }
    report.check_targets(args.connections);
    Ok(report)
}

/// Where a load pair reads the CPU time and the link traffic it reports.
enum Meter<'a> {
    /// The herd runs in this process: process CPU (generator included), the herd's counters.
    InProcess(&'a LocalHerd),
    /// The herd and the echo run as processes: their own CPU, their metrics.
    Processes(&'a procs::ProcHerd),
    /// Another server (`--target`): process CPU only (the generator's and the echo's).
    Target,
}

impl Meter<'_> {
    /// CPU time so far of the echo's side and of the server's side.
    fn cpu(&self) -> (Duration, Duration) {
        match self {
            Meter::Processes(p) => (p.echo_cpu(), p.herd_cpu()),
            _ => {
                let own = procs::own_cpu();
                (own, own)
            }
        }
    }

    fn scope(&self) -> &'static str {
        match self {
            Meter::Processes(_) => "servers",
            _ => "process",
        }
    }

    fn floods(&self) -> Option<report::Floods> {
        match self {
            Meter::InProcess(h) => Some(flood_counts(h)),
            Meter::Processes(p) => Some(p.floods()),
            Meter::Target => None,
        }
    }
}

/// One round of one mode: the echo, then the server, with the same generator.
async fn load_pair(
    args: &BenchArgs,
    mode: Mode,
    round: u32,
    echo: SocketAddr,
    server: SocketAddr,
    meter: &Meter<'_>,
    run_id: u64,
) -> report::LoadPair {
    let spec = |addr, who: &str| load::LoadSpec {
        addr,
        mode,
        connections: args.connections,
        duration: Duration::from_secs_f64(args.duration),
        count: args.count,
        whatsat_percent: args.whatsat_percent,
        prefix: if args.read_only {
            args::READ_ONLY_PREFIX.to_string()
        } else {
            format!("bench{run_id}-{who}-{}-{round}-", mode.as_str())
        },
        op_timeout: Duration::from_secs(5),
        read_only: args.read_only,
    };
    let cpu0 = meter.cpu().0;
    let e = load::run(&spec(echo, "echo")).await;
    let echo_cpu = meter.cpu().0.saturating_sub(cpu0);
    rt::sleep(Duration::from_millis(100)).await;
    let before = meter.floods();
    let cpu0 = meter.cpu().1;
    let s = load::run(&spec(server, "herd")).await;
    let server_cpu = meter.cpu().1.saturating_sub(cpu0);
    // Floods still queued when the run ends are counted by the next run.
    let floods = meter
        .floods()
        .zip(before)
        .map(|(a, b)| a.since(&b, s.iamat));
    rt::sleep(Duration::from_millis(100)).await;
    let ratio = if e.throughput > 0.0 {
        s.throughput / e.throughput
    } else {
        0.0
    };
    let per = |cpu: Duration, n: u64| cpu.as_secs_f64() * 1e6 / n.max(1) as f64;
    let (echo_us, server_us) = (per(echo_cpu, e.requests), per(server_cpu, s.requests));
    let cpu = (echo_us > 0.0 && server_us > 0.0).then(|| report::Cpu {
        scope: meter.scope(),
        echo_us,
        server_us,
        ratio: server_us / echo_us,
    });
    report::LoadPair {
        mode,
        round,
        echo: e,
        server: s,
        ratio,
        floods,
        cpu,
    }
}

/// The closed-loop load (persistent) against `--server` for a little longer than `duration`,
/// beside the propagation phase.
fn under_load<'a>(
    args: &BenchArgs,
    herd: &'a LocalHerd,
    duration: Duration,
    run_id: u64,
) -> Result<impl std::future::Future<Output = report::LoadStats> + 'a, String> {
    let addr = herd
        .addr(&args.server)
        .ok_or_else(|| format!("no server {}", args.server))?;
    let spec = load::LoadSpec {
        addr,
        mode: Mode::Persistent,
        connections: args.connections,
        duration: duration + Duration::from_millis(500),
        count: u64::MAX,
        whatsat_percent: 0,
        prefix: format!("bench{run_id}-under-"),
        op_timeout: Duration::from_secs(5),
        read_only: false,
    };
    Ok(async move { load::run(&spec).await })
}

/// The load phase with the herd and the echo as processes.
fn load_processes(args: &BenchArgs, run_id: u64) -> Result<Vec<report::LoadPair>, String> {
    let bin = match &args.herd_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?,
    };
    let config = herd_config(args)?;
    let herd = procs::ProcHerd::start(&bin, &config, &args.log_level, args.threads)?;
    let server = herd
        .addr(&args.server)
        .ok_or_else(|| format!("--server {}: no such server", args.server))?;
    let meter = Meter::Processes(&herd);
    rt::block_on(async {
        let mut load = Vec::new();
        for mode in args.modes() {
            for round in 1..=args.rounds {
                load.push(
                    load_pair(args, mode, round, herd.echo_addr(), server, &meter, run_id).await,
                );
            }
        }
        Ok(load)
    })
}

/// The herd config: `--config` or the embedded 2023 herd, with the offline Places table.
fn herd_config(args: &BenchArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(p) => Config::load(p),
        None => Config::embedded(),
    }
    .map_err(|e| e.to_string())?;
    config.places.provider = Provider::Offline;
    config.places.data_file = None;
    config.log.level = args.log_level.clone();
    Ok(config)
}

/// Where the in-process herd logs, and the folder to remove afterwards.
struct Logs {
    /// Flushes on drop.
    _guard: Option<logging::LogGuard>,
    /// A temporary folder of ours (removed on drop, after the guard flushed).
    _temp: Option<system::TempDir>,
}

fn start_logging(args: &BenchArgs, config: &Config) -> Result<Logs, String> {
    let level: log::LevelFilter = args
        .log_level
        .parse()
        .map_err(|_| format!("--log-level {}: not a level", args.log_level))?;
    let (dir, temp): (PathBuf, _) = match &args.log_dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = system::TempDir::new("logs")?;
            (t.0.clone(), Some(t))
        }
    };
    let names: Vec<String> = config.servers.iter().map(|s| s.name.clone()).collect();
    // A process has one logger: when one is installed already (a test harness), keep it.
    let guard = logging::init(&logging::LogSetup {
        dir: &dir,
        servers: &names,
        level,
        stderr: false,
        rotation: logging::Rotation {
            max_bytes: config.log.max_bytes,
            keep: config.log.keep,
        },
    })
    .ok();
    if guard.is_none() {
        logging::set_level(level);
    }
    Ok(Logs {
        _guard: guard,
        _temp: temp,
    })
}

/// Starts the herd on ephemeral ports and waits (at most 5 s) until every link is up, then
/// until every server answers a WHATSAT ([`load::warm_up`]).
fn start_herd(config: Config) -> Result<LocalHerd, String> {
    let places = crate::places::build(&config.places)?;
    let herd = rt::block_on(LocalHerd::start(config, places, true))
        .map_err(|e| format!("in-process herd: {e}"))?;
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let up = herd.names().iter().all(|n| {
            herd.server(n).is_some_and(|s| {
                s.peers
                    .iter()
                    .all(|p| p.status().state == crate::events::LinkState::Up)
            })
        });
        if up {
            let warm = herd.names().iter().try_for_each(|n| match herd.addr(n) {
                Some(addr) => load::warm_up(addr, &format!("bench-warmup-{n}"), WARM_UP),
                None => Ok(()),
            });
            return match warm {
                Ok(()) => Ok(herd),
                Err(e) => {
                    rt::block_on(herd.shutdown());
                    Err(format!("the in-process herd: {e}"))
                }
            };
        }
        if Instant::now() > end {
            rt::block_on(herd.shutdown());
            return Err("the in-process herd's links did not come up within 5 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How long a warm-up step may take ([`load::warm_up`]).
pub const WARM_UP: Duration = Duration::from_secs(10);

/// Link counters summed over the herd's servers.
fn flood_counts(herd: &LocalHerd) -> report::Floods {
    use std::sync::atomic::Ordering::Relaxed;
    let mut f = report::Floods::default();
    for name in herd.names() {
        if let Some(s) = herd.server(&name) {
            f.sent += s.stats.floods_sent.load(Relaxed);
            f.received += s.stats.floods_received.load(Relaxed);
            f.ignored += s.stats.floods_ignored.load(Relaxed);
            f.writes += s.peers.iter().map(|p| p.writes.load(Relaxed)).sum::<u64>();
        }
    }
    f
}

/// The CPU model from /proc/cpuinfo, or "unknown".
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
