//! Real `herd run` processes for the fault tests: a herd of five on free loopback ports, each
//! with its own data folder and log, started, killed (-9) and restarted one by one.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_herd");
pub const NAMES: [&str; 5] = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];
pub const LINKS: [(&str, &str); 6] = [
    ("Clark", "Jaquez"),
    ("Clark", "Bona"),
    ("Campbell", "Bailey"),
    ("Campbell", "Bona"),
    ("Campbell", "Jaquez"),
    ("Bona", "Bailey"),
];

/// `n` distinct loopback ports that stay this test's while its servers are down and restarted.
///
/// A port from `bind(0)` is only free at the moment it is read: a test that kills a server and
/// starts it again leaves its ports free in between, and the kernel may hand them to another
/// test's `bind(0)` (a fake neighbour that never answers took a killed server's port once, and
/// the restarted server could not listen). So the ports come from below the kernel's ephemeral
/// range, which `bind(0)` and outgoing connections never use, through a counter every test in
/// this process shares, each one checked free as it is handed out; the start is spread by the
/// process id so that two test runs at once rarely try the same ports.
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const BASE: u32 = 10_000;
    let low = ephemeral_low();
    if low < BASE + 1_000 {
        // No room below the ephemeral range: fall back to ports the kernel picks.
        let ls: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        return ls
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
    }
    let span = low - BASE;
    let start = std::process::id().wrapping_mul(7_919) % span;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = NEXT.fetch_add(1, SeqCst);
        assert!(k < span, "no free loopback port left below {low}");
        let port = (BASE + (start + k) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            out.push(port);
        }
    }
    out
}

/// The first port of the kernel's ephemeral range (32768 where it cannot be read).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The 2023 herd's RON with clients on `hosts[i]:ports[i]` and links on
/// `hosts[i]:peer_ports[i]`, fast timings, offline places, and `extra` fields.
pub fn herd_ron(hosts: &[String], ports: &[u16], peer_ports: &[u16], extra: &str) -> String {
    let servers: String = NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (h, p, q) = (&hosts[i], ports[i], peer_ports[i]);
            format!("(name: \"{n}\", listen: \"{h}:{p}\", peer_listen: Some(\"{h}:{q}\")),")
        })
        .collect();
    let links: String = LINKS
        .iter()
        .map(|(a, b)| format!("(\"{a}\", \"{b}\"),"))
        .collect();
    format!(
        "(servers: [{servers}], links: [{links}], places: (provider: Offline), \
         timings: (heartbeat_ms: 50, peer_timeout_ms: 500, backoff_initial_ms: 10, backoff_max_ms: 100, \
         connect_timeout_ms: 500, handshake_timeout_ms: 1000, write_timeout_ms: 1000, \
         line_timeout_ms: 500, shutdown_grace_ms: 1000), {extra})"
    )
}

/// Five servers as processes.
pub struct ProcHerd {
    /// Logs, data and config live here.
    pub dir: tempfile::TempDir,
    pub cfg: PathBuf,
    /// Client ports.
    pub ports: Vec<u16>,
    /// Peer (link) ports.
    pub peer_ports: Vec<u16>,
    procs: Vec<Option<Child>>,
}

impl ProcHerd {
    /// Writes the config; starts nothing.
    pub fn new(extra: &str) -> ProcHerd {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ports = free_ports(10);
        let peer_ports = ports.split_off(5);
        let hosts = vec!["127.0.0.1".to_string(); 5];
        let cfg = dir.path().join("herd.ron");
        std::fs::write(&cfg, herd_ron(&hosts, &ports, &peer_ports, extra)).expect("config");
        ProcHerd {
            dir,
            cfg,
            ports,
            peer_ports,
            procs: (0..5).map(|_| None).collect(),
        }
    }

    pub fn index(name: &str) -> usize {
        NAMES
            .iter()
            .position(|n| *n == name)
            .expect("a server name")
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i]))
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.logs().join(format!("{}.log", NAMES[i]))).unwrap_or_default()
    }

    /// Spawns server `i` (no wait).
    pub fn spawn(&mut self, i: usize) {
        assert!(self.procs[i].is_none(), "{} already runs", NAMES[i]);
        self.procs[i] = Some(spawn_herd(
            &[
                "run",
                NAMES[i],
                "--config",
                path_str(&self.cfg),
                "--log-dir",
                path_str(&self.logs()),
                "--data-dir",
                path_str(&self.dir.path().join("data")),
            ],
            None,
            &[],
        ));
    }

    /// Spawns server `i` and waits until it listens.
    pub fn start(&mut self, i: usize) {
        self.spawn(i);
        wait_listening(self.addr(i));
    }

    pub fn start_all(&mut self) {
        for i in 0..5 {
            self.spawn(i);
        }
        for i in 0..5 {
            wait_listening(self.addr(i));
        }
    }

    pub fn pid(&self, i: usize) -> u32 {
        self.procs[i].as_ref().expect("running").id()
    }

    /// The pids of the servers running now.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().flatten().map(Child::id).collect()
    }

    /// SIGTERM and wait for the exit (which flushes the log); true on a clean exit.
    pub fn term(&mut self, i: usize) -> bool {
        let Some(mut c) = self.procs[i].take() else {
            return false;
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let end = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            if std::time::Instant::now() > end {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the log of server `i` (flushed every 200 ms) contains `text`.
    pub fn wait_log(&self, i: usize, text: &str) {
        wait_until(&format!("{} logs {text:?}", NAMES[i]), || {
            self.log(i).contains(text)
        });
    }

    /// kill -9 and reap.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ProcHerd {
    fn drop(&mut self) {
        for i in 0..5 {
            self.kill9(i);
        }
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Spawns the herd binary with `args`, optionally prefixed (e.g. `ip netns exec NS`), with
/// `env` added to a clean environment.
pub fn spawn_herd(args: &[&str], prefix: Option<&[&str]>, env: &[(&str, &str)]) -> Child {
    let mut c = match prefix {
        Some(p) => {
            let mut c = Command::new(p[0]);
            c.args(&p[1..]).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    c.args(args)
        .env_remove("GOOGLE_PLACES_API_KEY")
        .env_remove("HERD_SECRET")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn herd")
}

pub fn wait_listening(addr: SocketAddr) {
    wait_until(&format!("{addr} listening"), || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    });
}

/// One IAMAT on a fresh connection; `None` when the server is down or the reply is not an AT.
pub fn try_iamat(addr: SocketAddr, client: &str, time: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("IAMAT {client} +1+1 {time}\n").as_bytes())
        .ok()?;
    s.shutdown(Shutdown::Write).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.strip_suffix('\n')
        .filter(|l| l.starts_with("AT "))
        .map(str::to_string)
}

/// What `addr` holds for each client (its AT line, or None), asked in one pipelined
/// connection; `None` when the server cannot be asked.
pub fn held(addr: SocketAddr, clients: &[String]) -> Option<Vec<Option<String>>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = String::new();
    for c in clients {
        req.push_str(&format!("WHATSAT {c} 1 1\n"));
    }
    s.write_all(req.as_bytes()).ok()?;
    s.shutdown(Shutdown::Write).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let got: Vec<Option<String>> = out
        .lines()
        .filter_map(|l| {
            if l.starts_with("AT ") {
                Some(Some(l.to_string()))
            } else if l.starts_with("? ") {
                Some(None)
            } else {
                None
            }
        })
        .collect();
    (got.len() == clients.len()).then_some(got)
}

/// The client time field of an AT line, in nanoseconds.
pub fn at_time(at: &str) -> u128 {
    let t = at.split(' ').nth(5).expect("six fields");
    let (s, f) = t.split_once('.').unwrap_or((t, ""));
    let f = format!("{f:0<9}");
    s.parse::<u128>().expect("secs") * 1_000_000_000 + f.parse::<u128>().expect("nanos")
}

/// Open file descriptors of a process.
/// One TCP socket of this machine, from `/proc/net/tcp` and `/proc/net/tcp6`.
#[derive(Debug, Clone, Copy)]
pub struct Sock {
    pub local_port: u16,
    pub remote_port: u16,
    /// The kernel's state code: 1 established, 10 listening.
    pub state: u8,
    pub inode: u64,
}

/// Every TCP socket of this network namespace.
pub fn tcp_sockets() -> Vec<Sock> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |a: &str| {
                a.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            if let (Some(l), Some(r), Ok(st), Some(Ok(inode))) = (
                f.get(1).and_then(|a| port(a)),
                f.get(2).and_then(|a| port(a)),
                f.get(3)
                    .map_or(Err(()), |s| u8::from_str_radix(s, 16).map_err(|_| ())),
                f.get(9).map(|i| i.parse::<u64>()),
            ) {
                out.push(Sock {
                    local_port: l,
                    remote_port: r,
                    state: st,
                    inode,
                });
            }
        }
    }
    out
}

/// Established connections accepted on one of `ports` (one entry per connection).
pub fn established_on(ports: &[u16]) -> Vec<Sock> {
    tcp_sockets()
        .into_iter()
        .filter(|s| s.state == 1 && ports.contains(&s.local_port))
        .collect()
}

/// Which of `pids` hold a socket with `port` at either end: what `lsof -ti:PORT` would list
/// among them.
pub fn pids_on_port(pids: &[u32], port: u16) -> Vec<u32> {
    let inodes: std::collections::HashSet<u64> = tcp_sockets()
        .iter()
        .filter(|s| s.local_port == port || s.remote_port == port)
        .map(|s| s.inode)
        .collect();
    pids.iter()
        .copied()
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|fds| {
                    fds.flatten().any(|fd| {
                        std::fs::read_link(fd.path()).is_ok_and(|l| {
                            let l = l.to_string_lossy();
                            l.strip_prefix("socket:[")
                                .and_then(|r| r.strip_suffix(']'))
                                .and_then(|n| n.parse::<u64>().ok())
                                .is_some_and(|n| inodes.contains(&n))
                        })
                    })
                })
                .unwrap_or(false)
        })
        .collect()
}

pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Groups of servers still connected to each other when only `up` run.
pub fn components(up: &[usize]) -> Vec<Vec<usize>> {
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &start in up {
        if seen.contains_key(&start) {
            continue;
        }
        let id = out.len();
        let mut group = vec![start];
        seen.insert(start, id);
        let mut k = 0;
        while k < group.len() {
            let here = NAMES[group[k]];
            for (a, b) in LINKS {
                let other = if a == here {
                    b
                } else if b == here {
                    a
                } else {
                    continue;
                };
                let j = ProcHerd::index(other);
                if up.contains(&j) && !seen.contains_key(&j) {
                    seen.insert(j, id);
                    group.push(j);
                }
            }
            k += 1;
        }
        out.push(group);
    }
    out
}
