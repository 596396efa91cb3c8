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
        /// store.dir); reloaded at start before the server listens.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Show the operator console in this terminal (logs go only to the file).
        #[arg(long)]
        console: bool,
    },
    /// Validate a config and print the herd's topology.
    Check {
        /// The herd config (RON). Default as for `run`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            name,
            config,
            log_dir,
            data_dir,
            console,
        } => run(&name, config.as_deref(), log_dir, data_dir, console),
        Command::Check { config } => check(config.as_deref()),
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

fn check(path: Option<&Path>) -> Result<(), String> {
    let cfg = load_config(path)?;
    println!(
        "config ok: {} servers, {} links",
        cfg.servers.len(),
        cfg.links.len()
    );
    for s in &cfg.servers {
        let n = cfg.neighbours(&s.name);
        println!("  {:<12} {:<22} <-> {}", s.name, s.listen, n.join(", "));
    }
    Ok(())
}

fn run(
    name: &str,
    path: Option<&Path>,
    log_dir: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    console: bool,
) -> Result<(), String> {
    let mut cfg = load_config(path)?;
    if let Some(d) = data_dir {
        cfg.store.dir = Some(d);
    }
    let Some(addr) = cfg.addr(name) else {
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
    })?;
    let places = places::build(&cfg.places)?;
    let signals = herd::signals::listen()?;
    let spec = ServerSpec {
        name: name.to_string(),
        config: Arc::new(cfg),
        neighbour_addrs: Default::default(),
        places,
    };
    rt::block_on(async move {
        let handle = net::start(spec, addr)
            .await
            .map_err(|e| format!("{name} cannot listen on {addr}: {e}"))?;
        if console {
            return Err("console not built yet".into());
        } else {
            println!("{name} listening on {addr} (logs in {})", dir.display());
            signals.wait().await;
        }
        log::info!(target: &handle.server.log_target, "shutting down");
        handle.shutdown().await;
        Ok(())
    })
}
