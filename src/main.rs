//! The `herd` command: run one server, check a config, run the demo, benchmark.

use std::io::Write as _;
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
Talk to a running server:
  herd client 127.0.0.1:10003 'IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 now'
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
        /// Worker threads of the runtime (default: one per CPU with async-std, one with smol).
        /// A machine that runs several servers does better giving each fewer.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
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
        /// Stop a server and cut a link, then bring both back, each step once the herd has
        /// answered updates since the last: once headless (the run lasts until it is done); in
        /// the console round after round, each step held 3 s so you can watch it.
        #[arg(long)]
        chaos: bool,
        /// Bind fresh loopback ports instead of the config's (when those are taken).
        #[arg(long)]
        ephemeral: bool,
        /// Folder of the log files (overrides the config's log.dir).
        #[arg(long, value_name = "DIR")]
        log_dir: Option<PathBuf>,
    },
    /// Validate a config and print the herd's topology; lists every problem found.
    Check {
        /// The herd config (RON). Default as for `run`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print a fresh random herd secret (for HERD_SECRET or the config's `secret`).
    Secret,
    /// Talk to a server: send each LINE and print its reply as it came; with no LINE, type
    /// lines at a prompt (history, line editing). `now` as an IAMAT's time is the current time.
    Client {
        /// The server, as HOST:PORT (e.g. 127.0.0.1:10003).
        addr: String,
        /// Lines to send, in order, on one connection.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        lines: Vec<String>,
        /// How long a connection or a reply may take.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Measure: closed-loop load against the herd (or --target) and an echo ceiling in the same
    /// run, propagation by hop count, idle-connection memory, start-up, offline Places.
    Bench(herd::bench::BenchArgs),
    /// The echo ceiling as a process of its own (for `herd bench --processes`).
    #[command(hide = true)]
    BenchEcho {
        /// Where it listens (loopback).
        addr: std::net::SocketAddr,
        /// Worker threads of the runtime.
        #[arg(long)]
        threads: Option<u16>,
    },
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
            threads,
        } => {
            if let Some(n) = threads {
                rt::set_threads(usize::from(n));
            }
            let data = match (no_data, data_dir) {
                (true, _) => Data::None,
                (false, Some(d)) => Data::Dir(d),
                (false, None) => Data::Default,
            };
            run(&name, config.as_deref(), log_dir, data, metrics, console)
        }
        Command::Check { config } => check(config.as_deref()),
        Command::Secret => secret(),
        Command::Client {
            addr,
            lines,
            timeout,
        } => herd::cli_client::run(&addr, &lines, timeout),
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
        Command::BenchEcho { addr, .. } if !addr.ip().is_loopback() => {
            Err(format!("echo on {addr}: loopback addresses only"))
        }
        Command::BenchEcho { addr, threads } => {
            if let Some(n) = threads {
                rt::set_threads(usize::from(n));
            }
            rt::block_on(herd::bench::echo::serve_forever(addr))
                .map_err(|e| format!("echo on {addr}: {e}"))
        }
        Command::Sim(args) => herd::sim::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for line in e.lines() {
                eprintln!("herd: error: {line}");
            }
            ExitCode::from(2)
        }
    }
}

/// Loads `--config`, else `config/herd.ron`, else the embedded default; also says which.
fn load_config(path: Option<&Path>) -> Result<(Config, String), String> {
    let default = Path::new("config/herd.ron");
    let (cfg, source) = match path {
        Some(p) => (Config::load(p), p.display().to_string()),
        None if default.exists() => (Config::load(default), default.display().to_string()),
        None => (
            Config::embedded(),
            "the built-in 2023 herd (no config/herd.ron in this folder)".to_string(),
        ),
    };
    match cfg {
        Ok(cfg) => Ok((cfg, source)),
        Err(e) if e.problems.len() > 1 => {
            Err(format!("{} problems in {}:\n{e}", e.problems.len(), e.file))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// 32 random bytes as 64 hex digits: far past what offline guessing can reach.
fn secret() -> Result<(), String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness from the OS: {e}"))?;
    herd::out::print(&format!("{}\n", hex::encode(b)))
}

fn check(path: Option<&Path>) -> Result<(), String> {
    let (cfg, source) = load_config(path)?;
    let mut text = format!(
        "{source}: ok, {} servers, {} links\n",
        cfg.servers.len(),
        cfg.links.len()
    );
    text.push_str(&format!(
        "  {:<12} {:<22} {:<22} {:<28} NEIGHBOURS\n",
        "NAME", "CLIENTS", "NEIGHBOUR LINKS", "DIALED AT"
    ));
    let mut bad = Vec::new();
    for s in &cfg.servers {
        let n = cfg.neighbours(&s.name);
        let peer = cfg
            .peer_addr(&s.name)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let dialed = cfg
            .peer_address(&s.name)
            .map_or_else(|| "-".to_string(), |a| a.to_string());
        text.push_str(&format!(
            "  {:<12} {:<22} {:<22} {:<28} {}\n",
            s.name,
            s.listen,
            peer,
            dialed,
            n.join(", ")
        ));
        if let Some(tls) = &cfg.tls {
            // Only the files on this machine can be checked: say which are missing.
            if let Err(e) = herd::tls::LinkTls::load(tls, &s.name) {
                bad.push(format!("{}: {e}", s.name));
            }
        }
    }
    if cfg.tls.is_some() {
        if bad.is_empty() {
            text.push_str("tls ok: every server's certificate, key and CA load and check\n");
        } else {
            text.push_str(
                "tls: some servers' files cannot be used here (each server needs only its own):\n",
            );
            for b in &bad {
                text.push_str(&format!("  {b}\n"));
            }
        }
    }
    herd::out::print(&text)
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
    let (mut cfg, _) = load_config(path)?;
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
    // From here on, a reason to stop goes to the log file too: a daemon's operator may read
    // only that.
    serve(name, cfg, &dir, addr, peer, metrics, console).inspect_err(|e| logging::exit_error(e))
}

/// `herd run` once its logs are open.
fn serve(
    name: &str,
    cfg: Config,
    dir: &Path,
    addr: std::net::SocketAddr,
    peer: std::net::SocketAddr,
    metrics: Option<std::net::SocketAddr>,
    console: bool,
) -> Result<(), String> {
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
                hot: handle.server.metrics.clone(),
                store: handle.server.store_stats(),
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
        // Data replayed, both ports bound: systemd may start what depends on us.
        herd::notify::ready(&format!(
            "listening for clients on {addr} and for neighbours on {peer}"
        ));
        if let Some(every) = herd::notify::watchdog_interval() {
            rt::spawn(herd::notify::watchdog(every, signals.clone()));
        }
        if console {
            herd::console::run_single(handle.server.clone(), signals.clone()).await?;
        } else {
            // A closed stdout must not stop a server: this line is a courtesy.
            let _ = writeln!(
                std::io::stdout(),
                "{name} listening for clients on {addr} and for neighbours on {peer}; log file {}, {data_text}{metrics_text}",
                dir.join(format!("{name}.log")).display()
            );
            signals.wait().await;
        }
        herd::notify::stopping();
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
    let (cfg, _) = load_config(path)?;
    let dir = log_dir.unwrap_or_else(|| cfg.log.dir.clone());
    let names: Vec<String> = cfg.servers.iter().map(|s| s.name.clone()).collect();
    let logs = logging::init(&logging::LogSetup {
        dir: &dir,
        servers: &names,
        level: cfg.log_level(),
        // The console owns the terminal; headless, the summary is the output.
        stderr: false,
        rotation: rotation(&cfg),
    })?;
    let report = demo_herd(cfg, headless, ephemeral, &dir, opts);
    if let Err(e) = &report {
        logging::exit_error(e);
    }
    // The logs are flushed before the report is printed: a reader that stops reading early
    // (`| head`) ends the process at the print.
    drop(logs);
    match report? {
        Some(r) => {
            herd::out::print(&r.text)?;
            if r.converged {
                Ok(())
            } else {
                Err("the herd did not converge".into())
            }
        }
        None => Ok(()),
    }
}

/// `herd demo` once its logs are open: the report when headless.
fn demo_herd(
    cfg: Config,
    headless: bool,
    ephemeral: bool,
    dir: &Path,
    opts: &herd::demo::Options,
) -> Result<Option<herd::demo::Report>, String> {
    let places = places::build(&cfg.places)?;
    let signals = herd::signals::listen()?;
    let report = rt::block_on(async move {
        let herd = herd::herd::LocalHerd::start(cfg, places, ephemeral)
            .await
            .map_err(|e| format!("{e} (try --ephemeral)"))?;
        let herd = Arc::new(herd);
        let report = if headless {
            herd::out::print(&format!(
                "running the herd for {:?}{} (log files in {})...\n",
                opts.duration,
                if opts.chaos { " with chaos" } else { "" },
                dir.display()
            ))?;
            Some(herd::demo::headless(herd.clone(), opts).await)
        } else {
            let sim_log = Arc::new(std::sync::Mutex::new(herd::demo::sim::SimLog::default()));
            let (sim_stop, stop) = herd::net::stop_channel();
            let interval = std::time::Duration::from_secs_f64(1.0 / f64::from(opts.rate.max(1)));
            rt::spawn(herd::demo::sim::run(
                herd.clone(),
                opts.clients,
                interval,
                sim_log.clone(),
                stop.clone(),
            ));
            if opts.chaos {
                rt::spawn(herd::demo::console_chaos(herd.clone(), sim_log, stop));
            }
            let title = if opts.chaos { "herd chaos" } else { "herd" };
            let res = herd::console::run_herd(herd.clone(), title, signals).await;
            sim_stop.fire();
            res?;
            None
        };
        herd.shutdown().await;
        Ok::<_, String>(report)
    })?;
    Ok(report)
}
