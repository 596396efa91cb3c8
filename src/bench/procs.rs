//! `--processes`: the herd as five `herd run` processes and the echo ceiling as a process of its
//! own, so the CPU time each one spends is read from `/proc/<pid>/stat`, apart from the load
//! generator's (which stays in this process). Link traffic is read from each server's metrics
//! endpoint. Everything listens on free loopback ports and is killed on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use super::report::Floods;
use super::system::{herd_command, TempDir};
use crate::config::Config;

/// A child process, killed and reaped on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The herd and the echo as processes.
pub struct ProcHerd {
    /// Each server: name, process, client address, metrics address.
    servers: Vec<(String, Proc, SocketAddr, SocketAddr)>,
    /// The echo server's process and address.
    echo: (Proc, SocketAddr),
    /// Config and logs; removed on drop (after the processes, declared last).
    _dir: TempDir,
}

/// `n` free loopback ports (bound together, then released).
fn free_ports(n: usize) -> Result<Vec<SocketAddr>, String> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("no free port: {e}"))?;
    ls.iter()
        .map(|l| l.local_addr().map_err(|e| format!("no free port: {e}")))
        .collect()
}

/// Polls `addr` until it accepts (at most 10 s).
fn wait_accepting(addr: SocketAddr, who: &str, child: &mut Child) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("{who} exited early: {st}"));
        }
        if Instant::now() > end {
            return Err(format!("{who} not accepting on {addr} within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl ProcHerd {
    /// Starts every server of `config` (its links and timings; fresh loopback ports, offline
    /// places, logs at `log_level`, no data folder) and an echo server, and waits until every
    /// link is up and every server answers a WHATSAT (its Places table loaded).
    pub fn start(
        bin: &Path,
        config: &Config,
        log_level: &str,
        threads: Option<u16>,
    ) -> Result<ProcHerd, String> {
        let threads: Vec<String> = threads
            .map(|n| vec!["--threads".to_string(), n.to_string()])
            .unwrap_or_default();
        let threads: Vec<&str> = threads.iter().map(String::as_str).collect();
        let dir = TempDir::new("procs")?;
        let n = config.servers.len();
        let ports = free_ports(3 * n + 1)?;
        let servers: String = config
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "(name: {:?}, listen: \"{}\", peer_listen: Some(\"{}\"), metrics_listen: Some(\"{}\")),",
                    s.name,
                    ports[i],
                    ports[n + i],
                    ports[2 * n + i]
                )
            })
            .collect();
        let links: String = config
            .links
            .iter()
            .map(|(a, b)| format!("({a:?}, {b:?}),"))
            .collect();
        let cfg = dir.0.join("herd.ron");
        let text = format!(
            "(servers: [{servers}], links: [{links}], places: (provider: Offline), \
             log: (level: {log_level:?}))"
        );
        std::fs::write(&cfg, text).map_err(|e| format!("cannot write {}: {e}", cfg.display()))?;
        let spawn = |args: &[&str]| -> Result<Proc, String> {
            herd_command(bin)
                .args(args)
                .spawn()
                .map(Proc)
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))
        };
        let echo_addr = ports[3 * n];
        let echo_s = echo_addr.to_string();
        let mut echo = spawn(&[&["bench-echo", &echo_s][..], &threads].concat())?;
        wait_accepting(echo_addr, "the echo server", &mut echo.0)?;
        let logs = dir.0.join("logs");
        let (cfg_s, logs_s) = (cfg.display().to_string(), logs.display().to_string());
        let mut running = Vec::new();
        for (i, s) in config.servers.iter().enumerate() {
            let args = [
                "run",
                &s.name,
                "--config",
                &cfg_s,
                "--log-dir",
                &logs_s,
                "--no-data",
            ];
            let p = spawn(&[&args[..], &threads].concat())?;
            running.push((s.name.clone(), p, ports[i], ports[2 * n + i]));
        }
        for (name, p, addr, _) in &mut running {
            wait_accepting(*addr, name, &mut p.0)?;
        }
        let herd = ProcHerd {
            servers: running,
            echo: (echo, echo_addr),
            _dir: dir,
        };
        herd.wait_linked(config)?;
        for (name, _, addr, _) in &herd.servers {
            super::load::warm_up(*addr, &format!("bench-warmup-{name}"), super::WARM_UP)?;
        }
        Ok(herd)
    }

    /// Waits (at most 10 s) until every server's metrics show every link up.
    fn wait_linked(&self, config: &Config) -> Result<(), String> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let up: usize = self
                .servers
                .iter()
                .map(|(_, _, _, m)| {
                    scrape(*m)
                        .map(|t| {
                            series(&t, "herd_link_state", "state=\"up\"")
                                .filter(|v| *v == 1.0)
                                .count()
                        })
                        .unwrap_or(0)
                })
                .sum();
            if up == 2 * config.links.len() {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(format!(
                    "{up} of {} link ends up after 10 s",
                    2 * config.links.len()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The client address of server `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.servers
            .iter()
            .find(|(n, ..)| n == name)
            .map(|(_, _, a, _)| *a)
    }

    /// The echo server's address.
    pub fn echo_addr(&self) -> SocketAddr {
        self.echo.1
    }

    /// CPU time the herd's processes have used so far, together.
    pub fn herd_cpu(&self) -> Duration {
        self.servers
            .iter()
            .map(|(_, p, ..)| process_cpu(p.0.id()))
            .sum()
    }

    /// CPU time the echo process has used so far.
    pub fn echo_cpu(&self) -> Duration {
        process_cpu(self.echo.0 .0.id())
    }

    /// Link traffic so far, summed over the herd (from the metrics endpoints).
    pub fn floods(&self) -> Floods {
        let mut f = Floods::default();
        for (_, _, _, m) in &self.servers {
            let Some(t) = scrape(*m) else { continue };
            let sum = |name: &str, label: &str| -> u64 {
                series(&t, name, label).map(|v| v as u64).sum()
            };
            f.sent += sum("herd_updates_total", "direction=\"sent\"");
            f.received += sum("herd_updates_total", "direction=\"received\"");
            f.ignored += sum("herd_updates_total", "direction=\"ignored\"");
            f.writes += sum("herd_link_writes_total", "");
        }
        f
    }
}

/// User plus system CPU time of process `pid` (0 when it cannot be read).
pub fn process_cpu(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf(3) has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / hz)
}

/// CPU time this process has used so far (load generator included).
pub fn own_cpu() -> Duration {
    process_cpu(std::process::id())
}

/// `GET /metrics` from a loopback endpoint; `None` if it does not answer.
fn scrape(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The values of the samples of `name` whose labels contain `label`.
fn series<'a>(text: &'a str, name: &'a str, label: &'a str) -> impl Iterator<Item = f64> + 'a {
    text.lines()
        .filter(move |l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
                && l.contains(label)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_by_name_and_label() {
        let t = "# TYPE herd_updates_total counter\n\
                 herd_updates_total{server=\"A\",direction=\"sent\"} 3\n\
                 herd_updates_total{server=\"A\",direction=\"ignored\"} 1\n\
                 herd_updates_total_other{server=\"A\",direction=\"sent\"} 9\n\
                 herd_link_writes_total{server=\"A\",neighbour=\"B\"} 2.0\n";
        assert_eq!(
            series(t, "herd_updates_total", "direction=\"sent\"").collect::<Vec<_>>(),
            [3.0]
        );
        assert_eq!(series(t, "herd_link_writes_total", "").sum::<f64>(), 2.0);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        // Spin until the kernel has counted a tick (a loaded machine may give this thread less
        // than one in any fixed wall-clock window), at most 10 s.
        let spin = Instant::now();
        while own_cpu() == Duration::ZERO && spin.elapsed() < Duration::from_secs(10) {
            for _ in 0..100_000 {
                std::hint::black_box(0u64);
            }
        }
        assert!(own_cpu() > Duration::ZERO);
    }
}
