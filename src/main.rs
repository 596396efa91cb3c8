//! The `herd` command: run one server, check a config, run the demo, benchmark.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use herd::config::Config;
use herd::net::{self, ServerSpec};
use herd::{logging, places, rt};

/// An application-server herd: servers that answer IAMAT and WHATSAT and flood location
/// updates to their neighbours so that any server can answer for any client.
#[derive(Parser, Debug)]
#[command(name = "herd", version, about, long_about = None, after_help = "\
Talk to a running server with nc:
  printf 'IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\\n' | nc -q1 127.0.0.1 10003

Environment:
  GOOGLE_PLACES_API_KEY  use Google Places for WHATSAT (otherwise the embedded GeoNames table)
  HERD_PLACES_URL        base URL of the Places service (for a proxy or a test server)
  HERD_SECRET            the herd secret that authenticates neighbour links (never logged)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one server of the herd until SIGTERM or Ctrl-C.
    Run {
        /// The server's name in the config (e.g. Clark).
        name: String,
        /// The herd config (RON). Default: config/herd.ron, or the embedded 2023 herd when that
        /// file does not exist.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Folder of the log files (overrides the config's log.dir).
        #[arg(long, value_name = "DIR")]
        log_dir: Option<PathBuf>,
        /// Data folder for the durable log of accepted updates (overrides the config's
        /// store.dir; default herd-data); reloaded at start before the server listens.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Keep no data: a restarted server relies on its neighbours alone.
        #[arg(long, conflicts_with = "data_dir")]
        no_data: bool,
        /// Serve Prometheus metrics on ADDR (GET /metrics); overrides the config's
        /// servers[].metrics_listen.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
        /// Show the operator console in this terminal (logs go only to the file).
        #[arg(long)]
        console: bool,
    },
    /// Run a whole herd in this process with simulated clients: the console shows it live
    /// (kill and restart servers, cut and heal links); --headless prints a summary instead.
    Demo {
        /// The herd config (RON). Default as for `run`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// No console: run for --duration, print updates, propagation latency by hop count and
        /// a consistency check; exit 0 when the herd converged, 1 when not.
        #[arg(long)]
        headless: bool,
        /// How long the headless demo runs (e.g. 10s, 1m).
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Simulated clients.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Commands per second from all simulated clients together.
        #[arg(long, default_value_t = 50)]
        rate: u32,
        /// Headless: stop a server and cut a link mid-run, then bring both back.
        #[arg(long)]
        chaos: bool,
        /// Bind fresh loopback ports instead of the config's (when those are taken).
        #[arg(long)]
        ephemeral: bool,
        /// Folder of the log files (overrides the config's log.dir).
        #[arg(long, value_name = "DIR")]
        log_dir: Option<PathBuf>,
    },
    /// Validate a config and print the herd's topology.
    Check {
        /// The herd config (RON). Default as for `run`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print a fresh random herd secret (for HERD_SECRET or the config's `secret`).
    Secret,
    /// Measure: closed-loop load against the herd (or --target) and an echo ceiling in the same
    /// run, propagation by hop count, idle-connection memory, start-up, offline Places.
    Bench(herd::bench::BenchArgs),
    /// Simulate a herd (up to thousands of servers) with faults, deterministically, in virtual
    /// time, driving the real node and link code; checks invariants at every step.
    Sim(herd::sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            name,
            config,
            log_dir,
            data_dir,
            no_data,
            metrics,
            console,
        } => {
            let data = match (no_data, data_dir) {
                (true, _) => Data::None,
                (false, Some(d)) => Data::Dir(d),
                (false, None) => Data::Default,
            };
            run(&name, config.as_deref(), log_dir, data, metrics, console)
        }
        Command::Check { config } => check(config.as_deref()),
        Command::Secret => secret(),
        Command::Demo {
            config,
            headless,
            duration,
            clients,
            rate,
            chaos,
            ephemeral,
            log_dir,
        } => {
            let opts = herd::demo::Options {
                clients,
                rate,
                duration,
                chaos,
            };
            demo(config.as_deref(), headless, ephemeral, log_dir, &opts)
        }
        Command::Bench(args) => herd::bench::run(args),
        Command::Sim(args) => herd::sim::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herd: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Loads `--config`, else `config/herd.ron`, else the embedded default.
fn load_config(path: Option<&Path>) -> Result<Config, String> {
    let cfg = match path {
        Some(p) => Config::load(p),
        None if Path::new("config/herd.ron").exists() => Config::load(Path::new("config/herd.ron")),
        None => Config::embedded(),
    };
    cfg.map_err(|e| e.to_string())
}

/// 32 random bytes as 64 hex digits: far past what offline guessing can reach.
fn secret() -> Result<(), String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness from the OS: {e}"))?;
    println!("{}", hex::encode(b));
    Ok(())
}

fn check(path: Option<&Path>) -> Result<(), String> {
    let cfg = load_config(path)?;
    println!(
        "config ok: {} servers, {} links",
        cfg.servers.len(),
        cfg.links.len()
    );
    println!(
        "  {:<12} {:<22} {:<22} NEIGHBOURS",
        "NAME", "CLIENTS", "NEIGHBOUR LINKS"
    );
    for s in &cfg.servers {
        let n = cfg.neighbours(&s.name);
        let peer = cfg
            .peer_addr(&s.name)
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!(
            "  {:<12} {:<22} {:<22} {}",
            s.name,
            s.listen,
            peer,
            n.join(", ")
        );
    }
    Ok(())
}

/// Where `herd run` keeps its data.
enum Data {
    /// `--no-data`.
    None,
    /// `--data-dir DIR`.
    Dir(PathBuf),
    /// The config's `store.dir`, else the default folder.
    Default,
}

/// The log rotation the config asks for.
fn rotation(cfg: &Config) -> logging::Rotation {
    logging::Rotation {
        max_bytes: cfg.log.max_bytes,
        keep: cfg.log.keep,
    }
}

fn run(
    name: &str,
    path: Option<&Path>,
    log_dir: Option<PathBuf>,
    data: Data,
    metrics: Option<std::net::SocketAddr>,
    console: bool,
) -> Result<(), String> {
    let mut cfg = load_config(path)?;
    cfg.store.dir = match data {
        Data::None => None,
        Data::Dir(d) => Some(d),
        Data::Default => Some(
            cfg.store
                .dir
                .take()
                .unwrap_or_else(|| PathBuf::from(herd::config::DEFAULT_DATA_DIR)),
        ),
    };
    let metrics = match metrics {
        Some(a) => Some(a),
        None => match cfg.server(name).and_then(|s| s.metrics_listen.as_deref()) {
            // Validated at load.
            Some(m) => Some(m.parse().map_err(|_| format!("metrics_listen {m:?}"))?),
            None => None,
        },
    };
    let (Some(addr), Some(peer)) = (cfg.addr(name), cfg.peer_addr(name)) else {
        let names: Vec<_> = cfg.servers.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "no server named {name:?} in the config; its servers are {}",
            names.join(", ")
        ));
    };
    let dir = log_dir.unwrap_or_else(|| cfg.log.dir.clone());
    let _logs = logging::init(&logging::LogSetup {
        dir: &dir,
        servers: &[name.to_string()],
        level: cfg.log_level(),
        stderr: !console,
        rotation: rotation(&cfg),
    })?;
    let places = places::build(&cfg.places)?;
    let signals = herd::signals::listen()?;
    let data_text = match &cfg.store.dir {
        Some(d) => format!("data in {}", d.display()),
        None => "no data folder".to_string(),
    };
    let spec = ServerSpec {
        name: name.to_string(),
        config: Arc::new(cfg),
        neighbour_addrs: Default::default(),
        places,
    };
    rt::block_on(async move {
        let handle = net::start(spec, addr, peer)
            .await
            .map_err(|e| format!("{name} cannot start: {e}"))?;
        let mut metrics_text = String::new();
        if let Some(m) = metrics {
            let registry = herd::metrics::registry(herd::metrics::Sources {
                server: handle.server.clone(),
                // None until src/net counts commands and catch-up into a `Metrics` it owns;
                // the store's counters likewise need `Server` to hand out `Store::stats`.
                hot: None,
                store: None,
            });
            let target = handle.server.log_target.clone();
            match herd::metrics::http::serve(m, registry, signals.clone(), target).await {
                Ok(bound) => metrics_text = format!(", metrics on http://{bound}/metrics"),
                Err(e) => {
                    handle.shutdown().await;
                    return Err(format!("{name}: metrics cannot listen on {m}: {e}"));
                }
            }
        }
        if console {
            herd::console::run_single(handle.server.clone(), signals.clone()).await?;
        } else {
            println!(
                "{name} listening for clients on {addr} and for neighbours on {peer} (log files in {}, {data_text}{metrics_text})",
                dir.display()
            );
            signals.wait().await;
        }
        log::info!(target: &handle.server.log_target, "shutting down");
        handle.shutdown().await;
        Ok(())
    })
}

fn demo(
    path: Option<&Path>,
    headless: bool,
    ephemeral: bool,
    log_dir: Option<PathBuf>,
    opts: &herd::demo::Options,
) -> Result<(), String> {
    let cfg = load_config(path)?;
    let dir = log_dir.unwrap_or_else(|| cfg.log.dir.clone());
    let names: Vec<String> = cfg.servers.iter().map(|s| s.name.clone()).collect();
    let _logs = logging::init(&logging::LogSetup {
        dir: &dir,
        servers: &names,
        level: cfg.log_level(),
        // The console owns the terminal; headless, the summary is the output.
        stderr: false,
        rotation: rotation(&cfg),
    })?;
    let places = places::build(&cfg.places)?;
    let signals = herd::signals::listen()?;
    let converged = rt::block_on(async move {
        let herd = herd::herd::LocalHerd::start(cfg, places, ephemeral)
            .await
            .map_err(|e| format!("{e} (try --ephemeral)"))?;
        let herd = Arc::new(herd);
        let converged = if headless {
            println!(
                "running the herd for {:?} (logs in {})...",
                opts.duration,
                dir.display()
            );
            let report = herd::demo::headless(herd.clone(), opts).await;
            print!("{}", report.text);
            report.converged
        } else {
            let sim_log = Arc::new(std::sync::Mutex::new(herd::demo::sim::SimLog::default()));
            let (sim_stop, stop) = herd::net::stop_channel();
            let interval = std::time::Duration::from_secs_f64(1.0 / f64::from(opts.rate.max(1)));
            rt::spawn(herd::demo::sim::run(
                herd.clone(),
                opts.clients,
                interval,
                sim_log,
                stop,
            ));
            let res = herd::console::run_herd(herd.clone(), signals).await;
            sim_stop.fire();
            res?;
            true
        };
        herd.shutdown().await;
        Ok::<bool, String>(converged)
    })?;
    if converged {
        Ok(())
    } else {
        Err("the herd did not converge".into())
    }
}
